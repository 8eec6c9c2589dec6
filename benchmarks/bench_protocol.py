"""
Per-message cost of the asyncio layer without the network: receive (parse, build the message,
``async for``/``recv()``) and send (``send()``: frame, mask, queue), on a transport that does
nothing.

pytest-benchmark: ``python -m pytest benchmarks/bench_protocol.py --benchmark-only --no-cov``.
Script mode (TSV, min of 5 runs, CPU µs per message): ``python benchmarks/bench_protocol.py``
(``--only send`` or ``--only receive``). Before/after: run it alternately with
``PYTHONPATH=<tree>`` pointing at each tree (``git archive REV fastws | tar -x -C <tree>``).

The receive cases copy 64 KiB reads of server frames into the protocol's buffer, as the
transport would, then consume every queued message; ``consume=none`` only drops the queue
(parser and message construction alone), ``recv`` awaits ``recv()`` per message, ``iter`` uses
``async for``. The end-to-end figures with a real server are in ``benchmarks/e2e.py``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import pytest

from fastws.asyncio.protocol import WebSocketClientProtocol
from fastws.connection import OPEN

MESSAGES = 200_000


class NullTransport(asyncio.Transport):
    """Accepts everything, sends nothing."""

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def write(self, data: Any) -> None:
        pass

    def writelines(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def open_protocol(**kwargs: Any) -> WebSocketClientProtocol:
    """A protocol in the OPEN state on a NullTransport (call inside a running loop)."""
    protocol = WebSocketClientProtocol(ping_interval=None, **kwargs)
    protocol.connection_made(NullTransport())
    protocol.connection._state = OPEN
    protocol.connection._rstate = 0  # past the handshake
    return protocol


def server_frame(size: int, text: bool = True) -> bytes:
    first = 0x81 if text else 0x82
    if size < 126:
        return bytes((first, size)) + b"x" * size
    return bytes((first, 126)) + size.to_bytes(2, "big") + b"x" * size


async def receive(size: int, consume: str, messages: int = MESSAGES) -> float:
    """CPU seconds per message received."""
    protocol = open_protocol(max_queue=None)
    frame = server_frame(size)
    per_read = max(1, 65536 // len(frame))
    chunk = memoryview(frame * per_read)
    reads = max(1, messages // per_read)
    count = 0
    start = time.process_time()
    for _ in range(reads):
        pos = 0
        while pos < len(chunk):
            buf = protocol.get_buffer(-1)
            n = min(len(buf), len(chunk) - pos)
            buf[:n] = chunk[pos : pos + n]
            pos += n
            protocol.buffer_updated(n)
        queued = len(protocol.messages)
        if consume == "none":
            protocol.messages.clear()
        elif consume == "recv":
            for _ in range(queued):
                await protocol.recv()
        else:
            left = queued
            async for _ in protocol:
                left -= 1
                if not left:
                    break
        count += queued
    return (time.process_time() - start) / count


async def send(size: int, text: bool = True, messages: int = MESSAGES) -> float:
    """CPU seconds per message sent."""
    protocol = open_protocol()
    message: str | bytes = "x" * size if text else b"x" * size
    start = time.process_time()
    for _ in range(messages):
        await protocol.send(message)
    await asyncio.sleep(0)  # the coalesced write
    return (time.process_time() - start) / messages


RECEIVE = [(100, "none"), (100, "recv"), (100, "iter"), (1024, "iter")]
SEND = [100, 1024]


@pytest.mark.parametrize(("size", "consume"), RECEIVE)
def test_receive(benchmark, size: int, consume: str) -> None:  # type: ignore[no-untyped-def]
    """Receive 20,000 messages of ``size`` bytes."""
    benchmark(lambda: asyncio.run(receive(size, consume, 20_000)))


@pytest.mark.parametrize("size", SEND)
def test_send(benchmark, size: int) -> None:  # type: ignore[no-untyped-def]
    """Send 20,000 text messages of ``size`` bytes."""
    benchmark(lambda: asyncio.run(send(size, messages=20_000)))


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument(
        "--only", choices=("receive", "send"), help="run only these cases (for A/B runs)"
    )
    args = parser.parse_args()
    loops = ["asyncio"]
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        uvloop = None
    else:
        loops.append("uvloop")
    print("loop\tcase\tsize\tus_per_message")
    for loop in loops:
        run = asyncio.run if loop == "asyncio" else uvloop.run  # type: ignore[union-attr]
        for size, consume in RECEIVE if args.only != "send" else []:
            best = min(run(receive(size, consume)) for _ in range(5))
            print(f"{loop}\treceive/{consume}\t{size}\t{best * 1e6:.3f}")
        for size in SEND if args.only != "receive" else []:
            best = min(run(send(size)) for _ in range(5))
            print(f"{loop}\tsend\t{size}\t{best * 1e6:.3f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
