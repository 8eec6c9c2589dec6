"""
Masking of client frames (RFC 6455 section 5.3), in pure Python.

This module is the only place that knows how masking is done. Two tricks, chosen by size
(costs on CPython 3.11, see benchmarks/README.md):

* small payloads: one big-int XOR: the payload becomes an ``int``, so does the key repeated
  (the 32-bit key times a cached "repunit" 1 + 2**32 + 2**64 + ...), and the XOR goes back to
  ``bytes``. About 0.4-0.9 µs + 1.7-3.1 µs/KiB on this project's host: base conversion
  dominates.
* large payloads: four stride-4 ``bytes.translate`` calls through 256-entry XOR tables, one per
  key byte, all 256 built at import. About 1.4-1.7 µs + 1.2-2.4 µs/KiB.

The crossover differs: ``apply_mask`` switches at ``_TRANSLATE_MIN`` bytes, ``masked_frame``
(which masks the translate way in the frame's own buffer, saving a copy, but must join the
int way) only above ``_FRAME_INT_MAX`` bytes.

Keys come from a pool filled by ``os.urandom`` (see ``random_mask_key``).
"""

from __future__ import annotations

import os
import sys

from .typing import BytesLike

__all__ = ["apply_mask", "masked_frame", "random_mask_key"]

_TRANSLATE_MIN = 768  # Speed: see benchmarks/bench_mask.py (crossover of the two tricks)
# Speed: benchmarks/bench_mask.py --crossover, third table (whole frames): the int XOR and a
# join beat the in-place translation up to about 2.5 KiB (0.5 µs less at 1 KiB).
_FRAME_INT_MAX = 2048

# Speed: a module global beats the int.from_bytes attribute lookup (~0.1 µs per call on 3.11).
_from_bytes = int.from_bytes

# _REPUNITS[q] has q little-endian 32-bit words equal to 1, so key * _REPUNITS[q] is the key
# repeated q times: cheaper than int.from_bytes(key * q), which converts 4q bytes. It covers
# q = ceil(n / 4) for every n < _TRANSLATE_MIN, then every 16th q up to _FRAME_INT_MAX / 4
# (masked_frame rounds longer payloads up to 64 bytes of key): ~100 KB in all; a dict, so
# benchmarks can extend it.
_REPUNITS: dict[int, int] = {
    q: _from_bytes(b"\x01\x00\x00\x00" * q, "little")
    for q in (*range(((_TRANSLATE_MIN + 2) >> 2) + 1), *range(208, (_FRAME_INT_MAX >> 2) + 1, 16))
}

# _KEY_REPEATS[n] = (repunit, nbytes) masks n <= _FRAME_INT_MAX bytes with the big-int XOR:
# (data ^ key * repunit).to_bytes(nbytes)[:n]. The key repeats ceil(n / 4) times below
# _TRANSLATE_MIN, then is rounded up to 64 bytes (16 words), which _REPUNITS holds; key bytes
# past the payload XOR zeros and are cut off. Speed: one list index instead of arithmetic and
# a dict lookup per frame (~30 KB: the list, and one tuple per cached repunit, shared).
_KEY_PAIRS = {q: (repunit, q << 2) for q, repunit in _REPUNITS.items()}
_KEY_REPEATS: list[tuple[int, int]] = [
    _KEY_PAIRS[(n + 3) >> 2 if n < _TRANSLATE_MIN else ((n + 63) >> 6) << 4]
    for n in range(_FRAME_INT_MAX + 1)
]
del _KEY_PAIRS


def _xor_tables() -> tuple[bytes, ...]:
    """Return the 256 ``bytes.translate`` tables ``t`` with ``t[k][b] == b ^ k``."""
    tables = [bytes(range(256))]
    for bit in (1, 2, 4, 8, 16, 32, 64, 128):
        flip = bytes(b ^ bit for b in range(256))
        tables += [table.translate(flip) for table in tables]  # appends tables[k | bit], k < bit
    return tuple(tables)


# 256 * 256 bytes, built once (~0.15 ms): keys are random, so per-key tables would never be reused.
_XOR_TABLES = _xor_tables()


def apply_mask(data: BytesLike, mask: bytes) -> bytes:
    """
    XOR ``data`` with the 4-byte ``mask`` repeated; masking and unmasking are the same.

    See RFC 6455 section 5.3. ``data`` must be C-contiguous; a memoryview of any format is
    masked byte by byte.

    Args:
        data: the payload to mask or unmask.
        mask: the 4-byte masking key.

    Returns:
        The masked payload, as a new ``bytes`` object of the same length.

    Raises:
        ValueError: If ``mask`` is not 4 bytes long.
        TypeError: If ``data`` is a non-contiguous memoryview.
    """
    if len(mask) != 4:
        raise ValueError("mask must contain 4 bytes")
    if type(data) is memoryview:
        data = data.cast("B")  # len() counts items, not bytes
    n = len(data)
    if n < _TRANSLATE_MIN:
        # Same as _mask_int, inlined: this is the path of most frames.
        repunit, nbytes = _KEY_REPEATS[n]
        key = _from_bytes(mask, "little") * repunit
        return (_from_bytes(data, "little") ^ key).to_bytes(nbytes, "little")[:n]
    return _mask_translate(data, mask)


def _mask_int(data: BytesLike, mask: bytes) -> bytes:
    """Mask ``data`` with one big-int XOR (fastest below ``_TRANSLATE_MIN`` bytes)."""
    n = len(data)
    q = (n + 3) >> 2
    repunit = _REPUNITS.get(q)
    if repunit is None:
        repunit = _from_bytes(b"\x01\x00\x00\x00" * q, "little")
    key = _from_bytes(mask, "little") * repunit
    # The key spans 4q >= n bytes; its excess high bytes are cut by the slice.
    return (_from_bytes(data, "little") ^ key).to_bytes(q << 2, "little")[:n]


def _mask_translate(data: BytesLike, mask: bytes) -> bytes:
    """Mask ``data`` with four stride-4 ``bytes.translate`` calls (fastest for big payloads)."""
    tables = _XOR_TABLES
    buf = bytearray(data)
    buf[0::4] = buf[0::4].translate(tables[mask[0]])
    buf[1::4] = buf[1::4].translate(tables[mask[1]])
    buf[2::4] = buf[2::4].translate(tables[mask[2]])
    buf[3::4] = buf[3::4].translate(tables[mask[3]])
    return bytes(buf)


def masked_frame(header: bytes, mask: bytes, data: BytesLike) -> bytes | bytearray:
    """
    Return a whole client frame: ``header``, the 4-byte ``mask``, then ``data`` masked with it.

    Large payloads are masked in place inside the frame's own buffer, which saves the copies
    that ``header + mask + apply_mask(data, mask)`` makes (a bytearray is returned then).

    Raises:
        ValueError: If ``mask`` is not 4 bytes long.
    """
    if len(mask) != 4:
        raise ValueError("mask must contain 4 bytes")
    if type(data) is memoryview:
        data = data.cast("B")
    n = len(data)
    if n <= _FRAME_INT_MAX:
        repunit, nbytes = _KEY_REPEATS[n]
        key = _from_bytes(mask, "little") * repunit
        return b"".join(
            (header, mask, (_from_bytes(data, "little") ^ key).to_bytes(nbytes, "little")[:n])
        )
    return _masked_frame_translate(header, mask, data)


def _masked_frame_translate(header: bytes, mask: bytes, data: BytesLike) -> bytearray:
    """masked_frame() for payloads above ``_FRAME_INT_MAX``: translated in the frame's buffer."""
    # Speed: one copy of the payload into the frame, then the stride-4 translations in place;
    # 4 passes over the payload instead of 6 (benchmarks/bench_mask.py, "frame" cases).
    tables = _XOR_TABLES
    start = len(header) + 4
    frame = bytearray(header)
    frame += mask
    frame += data
    for i in range(4):
        frame[start + i :: 4] = frame[start + i :: 4].translate(tables[mask[i]])
    return frame


# Masking keys. 5.3: "The masking key is a 32-bit value chosen at random by the client [...]
# derived from a strong source of entropy". os.urandom is that source (secrets.token_bytes
# calls it), but one syscall per frame costs ~0.4 µs, so keys are cut from a pool instead.
_POOL_BYTES = 1024  # 256 keys per os.urandom call. Speed: see benchmarks/bench_mask.py
_POOL_OFFSETS = range(0, _POOL_BYTES, 4)
_keys: list[bytes] = []


def random_mask_key() -> bytes:
    """
    Return a fresh 4-byte masking key from the operating system's CSPRNG (RFC 6455 section 5.3).

    Keys are drawn ``_POOL_BYTES`` at a time from ``os.urandom`` and handed out once each.

    Returns:
        4 random bytes.
    """
    global _keys
    # Thread safety: list.pop() is atomic (under the GIL and in free-threaded builds), so two
    # threads never get the same key. Racing refills each install a fresh list; harmless.
    try:
        return _keys.pop()
    except IndexError:
        pool = os.urandom(_POOL_BYTES)
        _keys = keys = [pool[i : i + 4] for i in _POOL_OFFSETS]
        return keys.pop()


def _drop_pool() -> None:
    """Forget pooled keys, so that a forked child never reuses its parent's keys."""
    global _keys
    _keys = []


if sys.platform != "win32":  # pragma: no branch (Windows has no fork)
    os.register_at_fork(after_in_child=_drop_pool)
