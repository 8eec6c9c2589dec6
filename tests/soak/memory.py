"""
Memory over time of a soak run: ``python -m tests.soak.memory DIR [--every SECONDS]``.

Prints one row per interval from ``samples.jsonl`` (the sample closest to each mark): RSS;
glibc's heap (``arena``: bytes the allocator got from the kernel by brk/arenas; ``mmap``:
bytes in mmap'ed blocks; ``used``: bytes in live allocations; ``free``: bytes it holds free);
message bytes queued unread; Python's allocated blocks; tracemalloc's traced bytes (when on);
fds; tasks. Then the ``trim`` record: RSS before and after ``malloc_trim(0)`` at the end.

Reading it: a leak shows as ``used``/``blocks``/``traced`` rising with time while ``queued``
doesn't; allocator behaviour shows as RSS following ``arena``'s high-water mark (set by the
largest amount of data in flight so far) while ``used`` comes and goes, with ``free`` making up
the difference and ``malloc_trim`` giving most of it back.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import read_jsonl

MiB = 2**20


def table(out: Path, every: float) -> list[str]:
    samples = list(read_jsonl(out / "samples.jsonl"))
    if not samples:
        return [f"{out}: no samples"]
    stop = next((r["t"] for r in read_jsonl(out / "consumer.jsonl") if r["kind"] == "stop"),
                samples[-1]["t"])
    samples = [s for s in samples if s["t"] <= stop] or samples
    rows = ["elapsed    rss  arena   mmap   used   free queued   blocks traced  fds tasks"]

    def mib(sample: dict[str, float], key: str) -> str:
        return f"{sample[key] / MiB:6.1f}" if key in sample else "     -"

    mark = 0.0
    last = samples[-1]["elapsed"]
    while mark <= last + 1e-9:
        s = min(samples, key=lambda s: abs(s["elapsed"] - mark))
        rows.append(
            f"{s['elapsed']:7.0f} {mib(s, 'rss')} {mib(s, 'malloc_arena')} {mib(s, 'malloc_mmap')}"
            f" {mib(s, 'malloc_used')} {mib(s, 'malloc_free')} {mib(s, 'queued_bytes')}"
            f" {s.get('blocks', 0):8d} {mib(s, 'traced')} {s['fds']:4d} {s['tasks']:5d}"
        )
        mark += every
    if samples[-1]["elapsed"] > mark - every + 1:
        s = samples[-1]
        rows.append(
            f"{s['elapsed']:7.0f} {mib(s, 'rss')} {mib(s, 'malloc_arena')} {mib(s, 'malloc_mmap')}"
            f" {mib(s, 'malloc_used')} {mib(s, 'malloc_free')} {mib(s, 'queued_bytes')}"
            f" {s.get('blocks', 0):8d} {mib(s, 'traced')} {s['fds']:4d} {s['tasks']:5d}"
        )
    peak = max(samples, key=lambda s: s.get("queued_bytes", 0))
    rows.append(f"most bytes queued unread: {peak.get('queued_bytes', 0) / MiB:.1f} MiB "
                f"at {peak['elapsed']:.0f} s")
    for r in read_jsonl(out / "consumer.jsonl"):
        if r["kind"] == "trim":
            rows.append(f"malloc_trim(0) at the end: RSS {r['rss_before'] / MiB:.1f} -> "
                        f"{r['rss_after'] / MiB:.1f} MiB")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, nargs="+", help="run directories")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between rows")
    args = parser.parse_args(argv)
    for out in args.out:
        print(f"== {out}")
        print("\n".join(table(out, args.every)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
