"""
Benchmarks for fastws.mask: the two masking tricks, frame building and key sources.

pytest-benchmark: ``python -m pytest benchmarks/bench_mask.py --benchmark-only --no-cov``.
Script mode, one TSV row per case (min of repeated timeit runs): ``python benchmarks/bench_mask.py``;
add ``--crossover`` to sweep payload sizes and print where ``bytes.translate`` starts winning
(for ``apply_mask``, then for whole frames: ``masked_frame``).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import secrets
import timeit
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING

import pytest

from fastws import mask as fastws_mask
from fastws.mask import (
    _FRAME_INT_MAX,
    _REPUNITS,
    _TRANSLATE_MIN,
    _XOR_TABLES,
    _mask_int,
    _mask_translate,
    _masked_frame_translate,
    apply_mask,
    masked_frame,
    random_mask_key,
)
from fastws.typing import BytesLike

if TYPE_CHECKING:
    from pytest_benchmark.fixture import BenchmarkFixture

KiB = 1024
SIZES = [16, 100, KiB, 4 * KiB, 64 * KiB, KiB * KiB]
FRAME_SIZES = [100, KiB, 64 * KiB, KiB * KiB]
KEY = b"\x37\xfa\x21\x3d"

CROSSOVER_SIZES = range(128, 1024 + 1, 32)
FRAME_CROSSOVER_SIZES = [16, 64, 100, 125, 126, 256, 512, 767, 1024, 2048, 4096]
FRAME_INT_SIZES = [512, 768, 1024, 1536, 2048, 2560, 3072, 4096, 8192]
POOL_SIZES = [256, 1024, 4096, 16384]  # bytes per os.urandom call in random_mask_key


def mask_int_original(data: BytesLike, mask: bytes) -> bytes:
    """The int.from_bytes XOR trick as first written: the repeated key converted from bytes."""
    n = len(data)
    key = int.from_bytes(mask * (n >> 2) + mask[: n & 3], "little")
    return (int.from_bytes(data, "little") ^ key).to_bytes(n, "little")


MaskFunc = Callable[[BytesLike, bytes], bytes]
VARIANTS: dict[str, MaskFunc] = {
    "int_original": mask_int_original,  # int.from_bytes XOR trick, key int from bytes
    "int": _mask_int,  # same, key int = key * cached repunit (see repunits_for)
    "translate": _mask_translate,  # four stride-4 bytes.translate calls
    "apply_mask": apply_mask,  # the dispatcher
}
KEY_SOURCES: dict[str, Callable[[], bytes]] = {
    "os.urandom(4)": partial(os.urandom, 4),
    "secrets.token_bytes(4)": partial(secrets.token_bytes, 4),
    "random_mask_key": random_mask_key,
}


@contextmanager
def repunits_for(sizes: Iterable[int]) -> Iterator[None]:
    """
    Extend fastws.mask's repunit cache to ``sizes`` while timing.

    It holds only what apply_mask and masked_frame need (exact below _TRANSLATE_MIN, every 64
    bytes up to _FRAME_INT_MAX); elsewhere, _mask_int falls back to converting 4q bytes. To time the int trick itself at every size, as the crossover
    sweep must, the cache is extended here, then restored.
    """
    cache = fastws_mask._REPUNITS
    added = [q for q in {(size + 3) >> 2 for size in sizes} if q not in cache]
    for q in added:
        cache[q] = int.from_bytes(b"\x01\x00\x00\x00" * q, "little")
    try:
        yield
    finally:
        for q in added:
            del cache[q]


@contextmanager
def key_pool(nbytes: int) -> Iterator[None]:
    """Make random_mask_key draw ``nbytes`` per os.urandom call while timing, then restore."""
    saved = fastws_mask._POOL_BYTES, fastws_mask._POOL_OFFSETS
    fastws_mask._POOL_BYTES, fastws_mask._POOL_OFFSETS = nbytes, range(0, nbytes, 4)
    fastws_mask._drop_pool()
    try:
        yield
    finally:
        fastws_mask._POOL_BYTES, fastws_mask._POOL_OFFSETS = saved
        fastws_mask._drop_pool()


def refill_and_draw() -> bytes:
    """Draw a key from an empty pool: the worst case, once per pool."""
    fastws_mask._drop_pool()
    return random_mask_key()


def payload(size: int) -> bytes:
    """Return ``size`` pseudo-random bytes, the same on every run."""
    return random.Random(size).randbytes(size)


def header(size: int) -> bytes:
    """Return a masked binary frame header for a ``size``-byte payload, without the key."""
    if size < 126:
        return bytes((0x82, 0x80 | size))
    if size < 65536:
        return bytes((0x82, 0x80 | 126)) + size.to_bytes(2, "big")
    return bytes((0x82, 0x80 | 127)) + size.to_bytes(8, "big")


def frame_join(head: bytes, key: bytes, data: BytesLike) -> bytes:
    """Build a masked frame the obvious way (what fastws.frames does)."""
    return b"".join((head, key, apply_mask(data, key)))


def frame_in_buffer(head: bytes, key: bytes, data: BytesLike) -> bytes:
    """Candidate masked_frame(): mask big payloads in the frame's own buffer (not kept: README)."""
    if len(data) < _TRANSLATE_MIN:
        return b"".join((head, key, apply_mask(data, key)))
    start = len(head) + 4
    buf = bytearray().join((head, key, data))
    tables = _XOR_TABLES
    buf[start::4] = buf[start::4].translate(tables[key[0]])
    buf[start + 1 :: 4] = buf[start + 1 :: 4].translate(tables[key[1]])
    buf[start + 2 :: 4] = buf[start + 2 :: 4].translate(tables[key[2]])
    buf[start + 3 :: 4] = buf[start + 3 :: 4].translate(tables[key[3]])
    return bytes(buf)


def frame_one_int(head: bytes, key: bytes, data: BytesLike) -> bytes:
    """
    Candidate (issue 9, not kept: docs/performance.md): the whole frame as one integer, header
    and key in its low bytes, one to_bytes(). Short headers only (payloads below 64 KiB).
    """
    n = len(data)
    q = (n + 3) >> 2
    k = int.from_bytes(key, "little")
    repunit = _REPUNITS.get(q) or int.from_bytes(b"\x01\x00\x00\x00" * q, "little")
    masked = int.from_bytes(data, "little") ^ k * repunit
    if n < 126:
        low = k << 16 | (0x80 | n) << 8 | head[0]
        return (masked << 48 | low).to_bytes((q << 2) + 6, "little")[: n + 6]
    low = k << 32 | (n & 0xFF) << 24 | (n >> 8) << 16 | 0xFE00 | head[0]
    return (masked << 64 | low).to_bytes((q << 2) + 8, "little")[: n + 8]


def frame_int(head: bytes, key: bytes, data: BytesLike) -> bytes:
    """masked_frame()'s int path at any size: header, key, then the big-int XOR, joined."""
    return b"".join((head, key, _mask_int(data, key)))


FRAME_BUILDERS: dict[str, Callable[[bytes, bytes, BytesLike], bytes]] = {
    "join(header, key, apply_mask)": frame_join,
    "masked_frame candidate": frame_in_buffer,
}


# pytest-benchmark


@pytest.fixture(scope="module", autouse=True)
def _repunits() -> Iterator[None]:
    with repunits_for(SIZES):
        yield


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_mask(benchmark: BenchmarkFixture, variant: str, size: int) -> None:
    """Mask a ``size``-byte payload with one variant."""
    func, data = VARIANTS[variant], payload(size)
    benchmark.group = f"mask {size} B"
    assert benchmark(func, data, KEY) == _mask_int(data, KEY)


@pytest.mark.parametrize("size", FRAME_SIZES)
@pytest.mark.parametrize("builder", list(FRAME_BUILDERS))
def test_frame(benchmark: BenchmarkFixture, builder: str, size: int) -> None:
    """Build header + key + masked payload as one bytes object."""
    func, head, data = FRAME_BUILDERS[builder], header(size), payload(size)
    benchmark.group = f"frame {size} B"
    assert benchmark(func, head, KEY, data) == frame_join(head, KEY, data)


@pytest.mark.parametrize("source", list(KEY_SOURCES))
def test_key(benchmark: BenchmarkFixture, source: str) -> None:
    """Draw one 4-byte masking key."""
    benchmark.group = "mask key"
    assert len(benchmark(KEY_SOURCES[source])) == 4


# Script mode


def best_us(
    funcs: list[Callable[[], object]], budget: float = 0.005, repeat: int = 21
) -> list[float]:
    """
    Return the best time of one call of each of ``funcs``, in µs.

    The functions are timed in turns, ``repeat`` runs of ~``budget`` seconds each, so that a
    busy neighbour on the machine slows them alike; the minimum is the least disturbed run.
    """
    numbers = [
        max(1, int(budget / max(min(timeit.repeat(func, number=1, repeat=3)), 1e-7)))
        for func in funcs
    ]
    best = [float("inf")] * len(funcs)
    for _ in range(repeat):
        for i, (func, number) in enumerate(zip(funcs, numbers, strict=True)):
            best[i] = min(best[i], timeit.timeit(func, number=number) / number * 1e6)
    return best


def row(*cells: object) -> None:
    """Print one TSV row."""
    print("\t".join(str(cell) for cell in cells), flush=True)


def run_cases() -> None:
    """Print one TSV row per (group, case, size): µs per operation and µs per KiB."""
    row("group", "case", "size_B", "us_per_op", "us_per_KiB")
    for size in SIZES:
        data = payload(size)
        times = best_us([partial(func, data, KEY) for func in VARIANTS.values()])
        for name, us in zip(VARIANTS, times, strict=True):
            row("mask", name, size, f"{us:.3f}", f"{us * KiB / size:.3f}")
    for size in FRAME_SIZES:
        head, data = header(size), payload(size)
        times = best_us([partial(build, head, KEY, data) for build in FRAME_BUILDERS.values()])
        for name, us in zip(FRAME_BUILDERS, times, strict=True):
            row("frame", name, size, f"{us:.3f}", f"{us * KiB / size:.3f}")
    # Many calls per run, so random_mask_key's pool refills are included, amortized.
    times = best_us(list(KEY_SOURCES.values()), budget=0.01)
    for name, us in zip(KEY_SOURCES, times, strict=True):
        row("key", name, 4, f"{us:.3f}", "")
    for nbytes in POOL_SIZES:
        with key_pool(nbytes):
            (per_key,) = best_us([random_mask_key], budget=0.01)
            (refill,) = best_us([refill_and_draw], budget=0.01)
        row("key", f"random_mask_key pool={nbytes}", 4, f"{per_key:.3f}", "")
        row("key", f"refill pool={nbytes}", nbytes, f"{refill:.3f}", f"{refill * KiB / nbytes:.3f}")


def fit_line(xs: list[int], ys: list[float]) -> tuple[float, float]:
    """Return (intercept, slope) of the least-squares line through the points."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    return my - slope * mx, slope


def run_crossover() -> None:
    """
    Time both variants on CROSSOVER_SIZES and print where their fitted lines cross.

    Near the crossover the two differ by less than the noise of a shared machine, so the
    intersection of least-squares lines is steadier than the first size where translate wins.
    """
    row("size_B", "int_us", "translate_us", "winner")
    sizes, t_ints, t_trs = list(CROSSOVER_SIZES), [], []
    for size in sizes:
        data = payload(size)
        t_int, t_tr = best_us([partial(_mask_int, data, KEY), partial(_mask_translate, data, KEY)])
        t_ints.append(t_int)
        t_trs.append(t_tr)
        row(size, f"{t_int:.3f}", f"{t_tr:.3f}", "translate" if t_tr < t_int else "int")
    (a_int, b_int), (a_tr, b_tr) = fit_line(sizes, t_ints), fit_line(sizes, t_trs)
    print(f"# int:       {a_int:.3f} us + {b_int * KiB:.3f} us/KiB")
    print(f"# translate: {a_tr:.3f} us + {b_tr * KiB:.3f} us/KiB")
    print(
        f"# lines cross at {(a_tr - a_int) / (b_int - b_tr):.0f} B; _TRANSLATE_MIN = {_TRANSLATE_MIN}"
    )


FrameBuilder = Callable[[bytes, bytes, BytesLike], "bytes | bytearray"]


def compare_frame_builders(
    sizes: Iterable[int], first: tuple[str, str, FrameBuilder], second: tuple[str, str, FrameBuilder]
) -> None:
    """
    Time two whole-frame builders, each given as (column, winner label, function), on
    ``sizes``, after checking that they build the same frame; one TSV row per size.
    """
    (col_a, win_a, build_a), (col_b, win_b, build_b) = first, second
    row("size_B", f"{col_a}_us", f"{col_b}_us", "winner")
    for size in sizes:
        head, data = header(size), payload(size)
        assert bytes(build_a(head, KEY, data)) == bytes(build_b(head, KEY, data))
        t_a, t_b = best_us([partial(build_a, head, KEY, data), partial(build_b, head, KEY, data)])
        row(size, f"{t_a:.3f}", f"{t_b:.3f}", win_a if t_a < t_b else win_b)


def run_frame_crossover() -> None:
    """
    Whole client frames: the one-integer candidate against masked_frame() (join up to
    _FRAME_INT_MAX, in-place translation above) on FRAME_CROSSOVER_SIZES.
    """
    compare_frame_builders(
        FRAME_CROSSOVER_SIZES,
        ("one_int", "one int", frame_one_int),
        ("masked_frame", "masked_frame", masked_frame),
    )


def run_frame_int_crossover() -> None:
    """
    Whole client frames, masked_frame()'s two paths: the int XOR joined with the header against
    the in-place translation, on FRAME_INT_SIZES (where ``_FRAME_INT_MAX`` comes from).
    """
    compare_frame_builders(
        FRAME_INT_SIZES,
        ("int_join", "int", frame_int),
        ("translate_in_place", "translate", _masked_frame_translate),
    )
    print(f"# _FRAME_INT_MAX = {_FRAME_INT_MAX}: masked_frame() uses the int path up to there")


def main() -> None:
    """Run script mode."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--crossover", action="store_true", help="sweep sizes for the crossover")
    args = parser.parse_args()
    print(f"# Python {platform.python_version()} on {platform.machine()}, nproc={os.cpu_count()}")
    with repunits_for([*SIZES, *CROSSOVER_SIZES, *FRAME_INT_SIZES]):
        if args.crossover:
            run_crossover()
            run_frame_crossover()
            run_frame_int_crossover()
        else:
            run_cases()


if __name__ == "__main__":
    main()
