"""
Allocations per message from a memray capture, by source line (the innermost Python frame).

    python profiling/memray_allocs.py CAPTURE.bin --messages N [--minus BASE.bin]

Reads every allocation record of an ``ALL_ALLOCATIONS`` capture made with
``trace_python_allocators`` (``memray run --trace-python-allocators`` or the window of
``recv_allocs.py --memray``), groups them by (file, line, size) of the innermost Python frame,
and prints the count per message. ``--minus`` subtracts a second capture (the same program run
with fewer messages) so that start-up and handshake cancel out: per message = (A - B) / N, with
N the difference of the two message counts.

On CPython 3.11, memray's profile hook materializes a frame object for every Python call (a GC
object sized by the code's locals and stack, attributed to the *caller's* line) and a bound
method object for every C method call traced (72 B, attributed to the line of the call). They
don't exist untraced: compare with ``recv_allocs.py --alloccount`` (profiling/README.md).
"""

from __future__ import annotations

import argparse
import collections
import linecache
import sys

import memray

FREES = {memray.AllocatorType.PYMALLOC_FREE, memray.AllocatorType.FREE, memray.AllocatorType.MUNMAP}


def aggregate(path: str) -> collections.Counter[tuple[str, int, str, int, str]]:
    """(file, line, function, size, allocator) -> number of allocations."""
    counts: collections.Counter[tuple[str, int, str, int, str]] = collections.Counter()
    reader = memray.FileReader(path)
    stacks: dict[int, tuple[str, int, str]] = {}
    for record in reader.get_allocation_records():
        allocator = memray.AllocatorType(record.allocator)
        if allocator in FREES:
            continue
        where = stacks.get(record.stack_id)
        if where is None:
            trace = record.stack_trace(1)
            where = (trace[0][1], trace[0][2], trace[0][0]) if trace else ("?", 0, "?")
            stacks[record.stack_id] = where
        counts[(*where, record.size, allocator.name)] += record.n_allocations
    return counts


def short(filename: str) -> str:
    for marker in ("/fastws/", "/asyncio/", "/uvloop/", "/profiling/"):
        if marker in filename:
            return marker.strip("/") + "/" + filename.rsplit(marker, 1)[1]
    return filename.rsplit("/", 1)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("capture")
    parser.add_argument("--minus", metavar="BASE", help="capture to subtract")
    parser.add_argument("--messages", type=int, required=True, help="messages (difference)")
    parser.add_argument("--floor", type=float, default=0.02, help="hide rows below (per msg)")
    args = parser.parse_args()
    counts = aggregate(args.capture)
    if args.minus:
        counts.subtract(aggregate(args.minus))
    report(counts, args.messages, args.floor)
    return 0


def report(
    counts: collections.Counter[tuple[str, int, str, int, str]], n: int, floor: float = 0.02
) -> None:
    """Print allocations per message by (line, size), largest first."""
    total = sum(counts.values())
    total_bytes = sum(size * c for (_f, _l, _fn, size, _a), c in counts.items())
    print(f"allocations per message: {total / n:.3f} ({total_bytes / n:.1f} B)")
    print(f"{'per msg':>8} {'size':>6}  {'allocator':<15} {'where':<38} source")
    shown = 0.0
    for (filename, line, func, size, allocator), c in counts.most_common():
        if c / n < floor:
            continue
        shown += c
        source = linecache.getline(filename, line).strip()[:60]
        where = f"{short(filename)}:{line} {func}"
        print(f"{c / n:8.3f} {size:6d}  {allocator:<15} {where:<38} {source}")
    print(f"{(total - shown) / n:8.3f} {'':6}  (rows below {floor} per message)")


if __name__ == "__main__":
    sys.exit(main())
