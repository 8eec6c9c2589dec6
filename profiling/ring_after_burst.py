"""
Does an idle connection release its receive ring after a burst? (docs/design.md: "idle
connections release the ring".)

    python profiling/ring_after_burst.py

For bursts of 100 to 5,000 messages of 100 B (``/feed?count=N&close=0``: the server then stays
silent), with ``max_queue`` 32 (the default) and None, on asyncio and uvloop: read the N messages,
wait 0.3 s idle, print the ring's capacity (0 = released) and the reads that filled it (sizes
recorded by wrapping ``RingBuffer.commit``; instrumentation only).
"""

from __future__ import annotations

import asyncio
import sys

from common import feed_server, provenance, run

import fastws
from fastws.buffers import RingBuffer

READS: list[tuple[int, int]] = []
_commit = RingBuffer.commit


def commit(self: RingBuffer, nbytes: int) -> None:
    READS.append((nbytes, self.capacity))
    _commit(self, nbytes)


RingBuffer.commit = commit  # type: ignore[method-assign]


async def burst(port: int, count: int, max_queue: int | None) -> tuple[int, int, list]:
    url = f"ws://127.0.0.1:{port}/feed?size=100&count={count}&close=0"
    READS.clear()
    ws = await fastws.connect(url, compression=None, max_queue=max_queue)
    for _ in range(count):
        await ws.recv()
    await asyncio.sleep(0.3)
    ring = ws.connection.reader
    capacity, size, reads = ring.capacity, ring.size, list(READS)
    await ws.close()
    return capacity, size, reads


def main() -> int:
    print(provenance())
    print("| loop | burst | max_queue | ring after burst + 0.3 s idle | last reads (bytes/ring) |")
    print("|---|---:|---:|---:|---|")
    with feed_server() as (port, _pid):
        for uvloop in (False, True):
            for count in (100, 200, 1000, 5000):
                for max_queue in (32, None):
                    cap, size, reads = run(burst(port, count, max_queue), uvloop)
                    last = ", ".join(f"{n}/{c}" for n, c in reads[-2:])
                    loop = "uvloop" if uvloop else "asyncio"
                    kept = f"**{cap} B kept**" if cap > 1024 else f"{cap} B"
                    print(f"| {loop} | {count} | {max_queue} | {kept} (size {size}) | {last} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
