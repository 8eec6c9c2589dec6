"""
Peak memory under a flooding server, with fastws' default limits, while the application doesn't
read; then everything is read and memory should come back down.

    python profiling/flood.py --size 1048576            # 1 MiB binary messages
    python profiling/flood.py --size 100 --text         # 100 B text messages
    python profiling/flood.py --size 1048576 --trace memray   # heap peak and where it is

The client connects with ``fastws.connect(url)`` and nothing else: ``max_queue=32``,
``max_size=2**20``, ``read_limit=2**16``, ``compression="deflate"`` offered (the feed server
declines it). The server (a subprocess) sends ``--count`` messages as fast as TCP lets it. The
application sleeps ``--pause`` seconds without reading while a thread samples this process's RSS
every 5 ms (and ``VmHWM``, reset before connecting); then it reads every message with
``async for`` until the server's close. Two bounds, per connection, above the baseline RSS taken
before connecting: the 10.x documentation's ``read_limit + max_queue * max_size``, and fastws'
exact one (docs/design.md, "Memory"): ``max_queue * max_size + max(read_limit, 256 KiB,
max_size)``
(the message that fills the queue is held twice for an instant: its buffers and the message).

``--trace tracemalloc``: the traced peak, and the traced memory by line at the end of the pause.
``--trace memray``: ``memray.Tracker`` (aggregated format, ``trace_python_allocators``) over the
whole connection: its peak heap and the allocations live at that peak, by line. Traced runs slow
the client down; the bound check uses RSS from untraced runs.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ctypes
import gc
import sys
import threading
import time
import tracemalloc
from typing import Any

from common import feed_server, peak_rss, provenance, reset_peak_rss, rss, run

import fastws

MiB = 2**20


class Sampler(threading.Thread):
    """Samples RSS every ``interval`` seconds until stopped; keeps the maximum."""

    def __init__(self, interval: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.peak = max(self.peak, rss())

    def stop(self) -> int:
        self.stopped.set()
        self.join(5)
        self.peak = max(self.peak, rss())
        return self.peak


def state(ws: Any) -> dict[str, Any]:
    ring = ws.connection.reader
    return {
        **ws.flow.state(),
        "queued_bytes": sum(len(m) for m in ws.messages),
        "ring_capacity": ring.capacity,
    }


def short(filename: str) -> str:
    for marker in ("/fastws/", "/asyncio/", "/profiling/"):
        if marker in filename:
            return marker.strip("/") + "/" + filename.rsplit(marker, 1)[1]
    return filename.rsplit("/", 1)[-1]


async def flood(args: argparse.Namespace, port: int) -> dict[str, Any]:
    text = 1 if args.text else 0
    url = f"ws://127.0.0.1:{port}/feed?size={args.size}&count={args.count}&text={text}"
    # Warm-up: imports, the handshake path, a few messages.
    async with fastws.connect(f"ws://127.0.0.1:{port}/feed?size=100&count=10") as ws:
        async for _ in ws:
            pass
    await asyncio.sleep(0.2)
    gc.collect()
    result: dict[str, Any] = {}
    tracker = None
    if args.trace == "tracemalloc":
        tracemalloc.start(1)
    elif args.trace == "memray":
        import memray

        tracker = memray.Tracker(
            destination=memray.FileDestination(args.memray_file, overwrite=True),
            native_traces=False,
            trace_python_allocators=True,
            file_format=memray.FileFormat.AGGREGATED_ALLOCATIONS,
        )
        tracker.__enter__()
    base = rss()
    reset_peak_rss()
    sampler = Sampler()
    sampler.start()
    conns = [await fastws.connect(url) for _ in range(args.conns)]
    ws = conns[0]
    limit = ws.read_limit + ws.max_queue * ws.max_size
    exact = ws.max_queue * ws.max_size + max(ws.read_limit, 2**18, ws.max_size)
    # Not reading: let the server fill everything it can.
    await asyncio.sleep(args.pause)
    paused_rss = rss()
    result["state_after_pause"] = state(ws)
    if args.trace == "tracemalloc":
        snap = tracemalloc.take_snapshot()
        stats = snap.statistics("lineno")[: args.top]
        result["traced_by_line_while_full"] = [
            f"{s.size / MiB:8.3f} MiB {s.count:6d} blk  "
            f"{short(s.traceback[0].filename)}:{s.traceback[0].lineno}"
            for s in stats
        ]
        result["traced_while_full_mib"] = round(tracemalloc.get_traced_memory()[0] / MiB, 2)
        del snap, stats
    # Now read everything, as fast as possible.
    t0 = time.perf_counter()
    received = nbytes = 0
    for c in conns:
        async for message in c:
            received += 1
            nbytes += len(message)
    message = None
    elapsed = time.perf_counter() - t0
    peak = sampler.stop()
    hwm = peak_rss()
    result.update(
        conns=args.conns,
        bound_per_conn_mib=round(limit / MiB, 3),
        exact_bound_per_conn_mib=round(exact / MiB, 3),
        baseline_rss_mib=round(base / MiB, 1),
        rss_after_pause_minus_baseline_mib=round((paused_rss - base) / MiB, 2),
        peak_rss_minus_baseline_mib=round((peak - base) / MiB, 2),
        vmhwm_minus_baseline_mib=round((hwm - base) / MiB, 2),
        peak_per_conn_vs_bound=round((max(peak, hwm) - base) / args.conns / limit, 3),
        peak_per_conn_vs_exact_bound=round((max(peak, hwm) - base) / args.conns / exact, 3),
        received=received,
        received_mib=round(nbytes / MiB, 1),
        read_mib_per_s=round(nbytes / MiB / elapsed, 1),
        close_code=ws.close_code,
    )
    if args.trace == "tracemalloc":
        current, traced_peak = tracemalloc.get_traced_memory()
        result["traced_peak_mib"] = round(traced_peak / MiB, 2)
        result["traced_after_read_mib"] = round(current / MiB, 3)
        tracemalloc.stop()
    del conns, ws
    await asyncio.sleep(0.2)
    gc.collect()
    result["rss_after_read_minus_baseline_mib"] = round((rss() - base) / MiB, 2)
    ctypes.CDLL(None).malloc_trim(0)
    result["rss_after_trim_minus_baseline_mib"] = round((rss() - base) / MiB, 2)
    if tracker is not None:
        tracker.__exit__(None, None, None)
        result.update(memray_peak(args.memray_file, args.top))
    return result


def memray_peak(path: str, top: int) -> dict[str, Any]:
    import memray

    reader = memray.FileReader(path)
    by_line: collections.Counter[str] = collections.Counter()
    blocks: collections.Counter[str] = collections.Counter()
    for record in reader.get_high_watermark_allocation_records(merge_threads=True):
        trace = record.stack_trace(1)
        where = f"{short(trace[0][1])}:{trace[0][2]} {trace[0][0]}" if trace else "<no frame>"
        by_line[where] += record.size
        blocks[where] += record.n_allocations
    return {
        "memray_peak_mib": round(reader.metadata.peak_memory / MiB, 2),
        "memray_at_peak_by_line": [
            f"{size / MiB:8.3f} MiB {blocks[where]:6d} blk  {where}"
            for where, size in by_line.most_common(top)
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=MiB, help="message size (1 MiB)")
    parser.add_argument("--text", action="store_true", help="text messages (default binary)")
    parser.add_argument("--count", type=int, default=0, help="messages (0: 200 MiB worth)")
    parser.add_argument("--pause", type=float, default=5.0, help="seconds without reading")
    parser.add_argument("--conns", type=int, default=1, help="flooding connections")
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--trace", choices=("none", "tracemalloc", "memray"), default="none")
    parser.add_argument("--memray-file", default="/tmp/fastws-flood.bin")
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    if not args.count:
        args.count = max(200, min(200 * MiB // max(args.size, 1), 1_000_000))
    with feed_server() as (port, _pid):
        result = run(flood(args, port), args.uvloop)
    kind = "text" if args.text else "binary"
    loop = "uvloop" if args.uvloop else "asyncio"
    print(f"flood: {args.count} x {args.size} B {kind}, {args.conns} conn(s), {loop}, ")
    print(f"pause {args.pause} s, trace {args.trace}; {provenance()}")
    for key, value in result.items():
        if isinstance(value, list):
            print(f"{key}:")
            for line in value:
                print(f"  {line}")
        else:
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
