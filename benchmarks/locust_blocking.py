"""
The echo scenario of examples/locustfile.py on a blocking client: websocket-client
(``websocket.create_connection``) in Locust's greenlets, over gevent's patched sockets.

    locust -f benchmarks/locust_blocking.py --host ws://127.0.0.1:8765

Same message, same request names and timing as the fastws example: the round trip is measured
with time.perf_counter around send() and recv(). WSCLIENT_SKIP_UTF8=1 passes
skip_utf8_validation=True (websocket-client validates received text with a pure-Python state
machine unless wsaccel is installed). Used by benchmarks/locust_compare.py.
"""

from __future__ import annotations

import os
import time
from typing import Any

import websocket
from locust import User, constant, task

MESSAGE = "x" * int(os.environ.get("ECHO_SIZE", "256"))
SKIP_UTF8 = os.environ.get("WSCLIENT_SKIP_UTF8") == "1"


class BlockingEchoUser(User):
    """One websocket-client connection, echo round trips back to back."""

    wait_time = constant(0)

    def on_start(self) -> None:
        """Connect (reported as "connect")."""
        start = time.perf_counter()
        exception = None
        try:
            self.ws = websocket.create_connection(self.host, skip_utf8_validation=SKIP_UTF8)
        except Exception as exc:
            exception = exc
        self.report("connect", start, 0, exception)
        if exception is not None:
            raise exception

    def on_stop(self) -> None:
        """Close the connection."""
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()

    def report(self, name: str, start: float, length: int, exception: Any) -> None:
        """Fire one Locust request event."""
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=(time.perf_counter() - start) * 1000.0,
            response_length=length,
            exception=exception,
            context={},
        )

    @task
    def echo(self) -> None:
        """Send MESSAGE, wait for its echo: one "echo" request, a failure if it differs."""
        start = time.perf_counter()
        exception: Exception | None = None
        reply: Any = ""
        try:
            self.ws.send(MESSAGE)
            reply = self.ws.recv()
            if reply != MESSAGE:
                raise ValueError("unexpected reply")
        except Exception as exc:
            exception = exc
        self.report("echo", start, len(reply), exception)
