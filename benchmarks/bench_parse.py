"""
Frame parsing cost: fastws' in-place cursor parser against the generator style of websockets.

pytest-benchmark: ``python -m pytest benchmarks/bench_parse.py --benchmark-only --no-cov``.
Script mode (TSV, min of repeats, µs per frame): ``python benchmarks/bench_parse.py``.

Each case parses a stream of server frames (unmasked) of one size, fed in 64 KiB reads, through:

- ``fastws/buffered``: ``Connection.get_buffer()`` / ``receive_buffered()``, the path the asyncio
  layer uses (the read is a memcpy into the ring, as the kernel would do);
- ``fastws/receive_data``: ``Connection.receive_data(bytes)``, the websockets 10.x entry point;
- ``generator``: ``fastws.frames.Frame.parse`` driven by ``fastws.streams.StreamReader``, i.e. the
  ``yield from read_exact()`` style of websockets 10.x, for comparison.

The data frames go to a callback that only counts them (``on_data``), so the figures are the
parser's own cost. The fastws cases also include the copy of each read into the ring.
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable

import pytest

from fastws.connection import CLIENT, Connection
from fastws.frames import OP_BINARY, Frame
from fastws.streams import StreamReader

SIZES = [16, 100, 1024, 16 * 1024, 64 * 1024]
READ = 65536


def stream(size: int, total: int = 1 << 20) -> tuple[bytes, int]:
    """Frames of ``size`` payload bytes, about ``total`` bytes in all; and their count."""
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    one = Frame(OP_BINARY, payload).serialize(mask=False)
    count = max(1, total // len(one))
    return one * count, count


def parse_buffered(data: bytes) -> Callable[[], int]:
    def run() -> int:
        conn = Connection(CLIENT, max_size=None)
        seen = 0

        def on_data(b0: int, payload: object) -> None:
            nonlocal seen
            seen += 1

        conn.on_data = on_data
        view = memoryview(data)
        pos, end = 0, len(data)
        while pos < end:
            buf = conn.get_buffer()
            n = min(len(buf), end - pos, READ)
            buf[:n] = view[pos : pos + n]
            conn.receive_buffered(n)
            pos += n
        return seen

    return run


def parse_receive_data(data: bytes) -> Callable[[], int]:
    chunks = [data[i : i + READ] for i in range(0, len(data), READ)]

    def run() -> int:
        conn = Connection(CLIENT, max_size=None)
        seen = 0

        def on_data(b0: int, payload: object) -> None:
            nonlocal seen
            seen += 1

        conn.on_data = on_data
        for chunk in chunks:
            conn.receive_data(chunk)
        return seen

    return run


def parse_generator(data: bytes) -> Callable[[], int]:
    chunks = [data[i : i + READ] for i in range(0, len(data), READ)]

    def run() -> int:
        reader = StreamReader()
        seen = 0
        parser = Frame.parse(reader.read_exact, mask=False)
        for chunk in chunks:
            reader.feed_data(chunk)
            while True:
                try:
                    next(parser)  # yields when it needs more data
                    break
                except StopIteration:
                    seen += 1
                    parser = Frame.parse(reader.read_exact, mask=False)
        return seen

    return run


CASES = {
    "fastws/buffered": parse_buffered,
    "fastws/receive_data": parse_receive_data,
    "generator": parse_generator,
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("case", list(CASES))
def test_parse(benchmark, case: str, size: int) -> None:  # type: ignore[no-untyped-def]
    """Parse about 1 MiB of frames of one size."""
    data, count = stream(size)
    run = CASES[case](data)
    assert benchmark(run) == count
    benchmark.extra_info["frames"] = count


def main() -> None:
    print("case\tsize\tframes\tus_per_frame\tns_per_byte")
    for size in SIZES:
        data, count = stream(size)
        for case, make in CASES.items():
            run = make(data)
            assert run() == count, case
            best = min(timeit.repeat(run, number=1, repeat=7 if size > 1000 else 15))
            print(f"{case}\t{size}\t{count}\t{best / count * 1e6:.3f}\t{best / len(data) * 1e9:.2f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
