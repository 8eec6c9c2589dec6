"""
The echo scenario of examples/locustfile.py with ``WebSocketClient.run``: each Locust task runs
100 round trips in one coroutine on the loop thread, reporting each with ``client.report``.

    locust -f benchmarks/locust_fastws_run.py --host ws://127.0.0.1:8765

One hand-off between Locust's thread and the loop thread per 100 round trips instead of one per
round trip (the events still reach Locust one by one). Used by benchmarks/locust_compare.py.
"""

from __future__ import annotations

import os
import time

from locust import constant, task

from fastws.locust import WebSocketUser

MESSAGE = "x" * int(os.environ.get("ECHO_SIZE", "256"))
BATCH = 100


class BatchEchoUser(WebSocketUser):
    """One connection; tasks of BATCH echo round trips run on the loop thread."""

    wait_time = constant(0)
    connect_kwargs = {"compression": None}

    @task
    def echo(self) -> None:
        """BATCH "echo" requests, measured and reported from the loop thread."""
        self.client.run(self.echo_batch())

    async def echo_batch(self) -> None:
        """Loop thread: send MESSAGE and await its echo, BATCH times."""
        websocket = self.client.websocket
        assert websocket is not None
        for _ in range(BATCH):
            start = time.perf_counter()
            try:
                await websocket.send(MESSAGE)
                reply = await websocket.recv()
                if reply != MESSAGE:
                    raise ValueError("unexpected reply")
            except Exception as exc:
                self.client.report("echo", start, exception=exc)
                raise
            self.client.report("echo", start, response_length=len(reply))
