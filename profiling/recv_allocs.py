"""
Allocations per received message: fastws receiving N messages with ``async for``.

The feed server (a subprocess, not traced) sends ``warmup + count`` messages of ``--size`` bytes;
the client receives ``warmup`` of them untraced (handshake, ring growth, free lists settle), then
``count`` more inside the measured window, with::

    async for message in ws:        # nothing else per message: the countdown allocates nothing
        if next(countdown, DONE) is DONE:
            break

Window tracers (one at a time):

``--memray FILE``
    ``memray.Tracker(FILE, native_traces=False, trace_python_allocators=True)`` around the window:
    every allocation, pymalloc ones included, with its Python stack. Read it with
    ``python profiling/memray_allocs.py FILE`` (per message, by source line).
``--alloccount``
    ``profiling/_alloccount.c`` wraps CPython's allocators (no tracer, no stacks) and counts the
    calls by size: the ground truth for memray, whose profile hook makes CPython 3.11 allocate a
    frame object per Python call (and a bound method per C method call) that don't exist
    untraced.
``--tracemalloc``
    tracemalloc cannot count allocations that are freed again (it keeps live blocks only), so it
    checks the other half: what a *queued* message retains. The client is connected with
    ``max_queue=None``, lets ``--count`` messages pile up unread, and compares snapshots by line
    (blocks and bytes per queued message); then it reads them all and checks memory comes back.

Without a tracer it prints the CPU time per message (the baseline that the tracers slow down).
The whole script also runs under ``python -m memray run --trace-python-allocators``: see
profiling/README.md (the difference of two runs with different counts gives the same figures).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import linecache
import sys
import time
import tracemalloc

from common import feed_server, provenance, run

import fastws

DONE = object()


async def receive(port: int, args: argparse.Namespace) -> dict[str, object]:
    text = 0 if args.binary else 1
    total = args.warmup + args.count
    url = f"ws://127.0.0.1:{port}/feed?size={args.size}&count={total}&text={text}&close=0"
    result: dict[str, object] = {}
    max_queue = None if args.tracemalloc or args.max_queue == 0 else args.max_queue
    async with fastws.connect(url, compression=None, max_queue=max_queue) as ws:
        warm = itertools.repeat(None, args.warmup - 1)
        async for _message in ws:
            if next(warm, DONE) is DONE:
                break
        if args.tracemalloc:
            return await retained(ws, args)
        countdown = itertools.repeat(None, args.count - 1)
        tracker = counter = None
        if args.alloccount:
            import alloccount

            counter = alloccount.load()
            counter.start()
        elif args.memray:
            import memray

            tracker = memray.Tracker(
                destination=memray.FileDestination(args.memray, overwrite=True),
                native_traces=False,
                trace_python_allocators=True,
                file_format=memray.FileFormat.ALL_ALLOCATIONS,
            )
            tracker.__enter__()
        t0 = time.process_time()
        w0 = time.perf_counter()
        async for message in ws:  # noqa: B007 (checked after the loop)
            if next(countdown, DONE) is DONE:
                break
        cpu = time.process_time() - t0
        wall = time.perf_counter() - w0
        if tracker is not None:
            tracker.__exit__(None, None, None)
            import memray_allocs

            # At once, while the source lines still match the capture.
            memray_allocs.report(memray_allocs.aggregate(args.memray), args.count)
        if counter is not None:
            counter.stop()
            counts, nbytes = counter.result()
            objs = sum(n for (domain, _size), n in counts.items() if domain < 2)
            result["allocs_per_msg"] = round(objs / args.count, 3)
            result["bytes_per_msg"] = round((nbytes[0] + nbytes[1]) / args.count, 1)
            result["by_size"] = "\n" + "\n".join(alloccount.per_unit(counts, args.count))
        result["last_type"] = type(message).__name__
        result["last_len"] = len(message)
        result["cpu_us_per_msg"] = round(cpu / args.count * 1e6, 3)
        result["msgs_per_s"] = round(args.count / wall)
    return result


async def retained(ws: fastws.WebSocketClientProtocol, args: argparse.Namespace) -> dict:
    """tracemalloc: what ``count`` queued, unread messages hold, by line; then read them."""
    import gc

    gc.collect()
    tracemalloc.start(8)
    before = tracemalloc.take_snapshot()
    queued_before = len(ws.messages)
    deadline = time.monotonic() + 60
    while len(ws.messages) < args.count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    queued = len(ws.messages)
    gc.collect()
    full = tracemalloc.take_snapshot()
    added = queued - queued_before
    countdown = itertools.repeat(None, queued - 1)
    async for _message in ws:
        if next(countdown, DONE) is DONE:
            break
    del _message
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
    grown = full.filter_traces(filters).compare_to(before.filter_traces(filters), "lineno")
    left = after.filter_traces(filters).compare_to(before.filter_traces(filters), "lineno")
    lines = []
    for stat in grown[: args.top]:
        if abs(stat.size_diff) / added < 0.5:
            continue
        frame = stat.traceback[0]
        lines.append(
            f"  {stat.count_diff / added:8.3f} blocks {stat.size_diff / added:9.1f} B"
            f"  {short(frame.filename)}:{frame.lineno}"
        )
    return {
        "queued": f"{queued_before} -> {queued}",
        "retained_bytes_per_msg": round(sum(s.size_diff for s in grown) / added, 1),
        "retained_blocks_per_msg": round(sum(s.count_diff for s in grown) / added, 3),
        "by_line": "\n" + "\n".join(lines),
        "left_after_reading_bytes": sum(s.size_diff for s in left),
    }


def short(filename: str) -> str:
    for marker in ("/fastws/", "/asyncio/", "/uvloop/", "/profiling/"):
        if marker in filename:
            return marker.strip("/") + "/" + filename.rsplit(marker, 1)[1]
    return filename.rsplit("/", 1)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100, help="payload bytes (100)")
    parser.add_argument("--count", type=int, default=200_000, help="messages measured")
    parser.add_argument("--warmup", type=int, default=20_000, help="messages before the window")
    parser.add_argument("--binary", action="store_true", help="binary messages (default: text)")
    parser.add_argument("--max-queue", type=int, default=32, help="0: None (default 32)")
    parser.add_argument("--uvloop", action="store_true", help="client on uvloop")
    parser.add_argument("--memray", metavar="FILE", help="memray capture of the window")
    parser.add_argument("--alloccount", action="store_true", help="exact counts by size")
    parser.add_argument("--tracemalloc", action="store_true", help="retained bytes per message")
    parser.add_argument("--top", type=int, default=10, help="lines shown (tracemalloc)")
    args = parser.parse_args()
    # The source lines of the report are those of the code running now, even if the files
    # change during the run (linecache keeps what it read).
    assert fastws.connect is not None  # imports the asyncio layer now
    for module in list(sys.modules.values()):
        if getattr(module, "__file__", None):
            linecache.getlines(module.__file__)
    with feed_server() as (port, _pid):
        result = run(receive(port, args), args.uvloop)
    kind = "binary" if args.binary else "text"
    loop = "uvloop" if args.uvloop else "asyncio"
    print(f"{args.count} x {args.size} B {kind} on {loop}; {provenance()}")
    for key, value in result.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
