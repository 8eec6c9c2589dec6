"""
``python -m fastws`` / ``fastws``: the command-line entry point.

Until the load tool lands (``fastws bench``), this runs a short self-check of the Sans-I/O
receive path: it parses a stream of 100-byte text frames and prints the throughput.
"""

from __future__ import annotations

import argparse
import sys
import time

from .connection import CLIENT, Connection


def parse_throughput(count: int, size: int = 100) -> float:
    """Parse ``count`` text frames of ``size`` bytes through the zero-copy path; return msgs/s."""
    frame = bytes((0x81, size)) + b"x" * size
    chunk = frame * 600  # about 60 KiB per read, like a busy socket
    conn = Connection(CLIENT, max_size=None)
    received = 0

    def on_data(b0: int, payload: object) -> None:
        nonlocal received
        received += 1

    conn.on_data = on_data
    reads = count // 600
    start = time.perf_counter()
    for _ in range(reads):
        pos = 0
        while pos < len(chunk):
            view = conn.get_buffer()
            n = min(len(view), len(chunk) - pos)
            view[:n] = chunk[pos : pos + n]
            conn.receive_buffered(n)
            pos += n
    elapsed = time.perf_counter() - start
    assert received == reads * 600
    return received / elapsed


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="fastws", description=__doc__)
    parser.add_argument("--count", type=int, default=600_000, help="frames to parse")
    args = parser.parse_args(argv)
    if args.count < 600:
        parser.error("--count must be at least 600")
    rate = parse_throughput(args.count)
    print(f"parsed {args.count // 600 * 600} frames of 100 B: {rate:,.0f} frames/s "
          f"({1e6 / rate:.3f} µs per frame)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
