"""
Echo round trips over fastws, reported to Locust.

    locust -f examples/locustfile.py --host ws://127.0.0.1:8765

Each user opens one connection (the "connect" row), then loops: send a text message, wait for
the server to echo it, report the round trip (the "echo" row). ECHO_SIZE sets the message size
in characters (default 256). docs/locust.md shows the distributed run and the options.
"""

from __future__ import annotations

import os

from locust import constant, task

from fastws.locust import WebSocketUser

MESSAGE = "x" * int(os.environ.get("ECHO_SIZE", "256"))


class EchoUser(WebSocketUser):
    """One connection, echo round trips back to back."""

    wait_time = constant(0)
    # No permessage-deflate: the round trip then measures the client, not zlib.
    connect_kwargs = {"compression": None}

    @task
    def echo(self) -> None:
        """Send MESSAGE, wait for its echo: one "echo" request, a failure if it differs."""
        self.client.request(MESSAGE, name="echo", timeout=10, expect=MESSAGE)
