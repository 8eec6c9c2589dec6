"""Helpers that feed bytes to a Sans-I/O connection in every way the parser must survive."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastws.buffers import RingBuffer
from fastws.connection import CLIENT, Connection, Event

ZERO_KEY = b"\x00\x00\x00\x00"

#: Ring size used to place frames across the seam.
SEAM_RING = 256

#: First bytes of a next frame, which must stay buffered.
NEXT_PARTIAL = b"\x81\x05He"


def client(**kwargs: object) -> Connection:
    """A client connection in the OPEN state whose masks are all zeros."""
    conn = Connection(CLIENT, **kwargs)  # type: ignore[arg-type]
    conn.mask_key = lambda: ZERO_KEY
    return conn


def masked(b0: int, payload: bytes) -> bytes:
    """What a client writes for a frame when its mask key is all zeros."""
    n = len(payload)
    if n < 126:
        head = bytes((b0, 0x80 | n))
    elif n < 65536:
        head = bytes((b0, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((b0, 0xFF)) + n.to_bytes(8, "big")
    return head + ZERO_KEY + payload


def feed_data(conn: Connection, chunks: list[bytes]) -> None:
    """Feed with receive_data(), one call per chunk."""
    for chunk in chunks:
        conn.receive_data(chunk)


def feed_buffered(conn: Connection, chunks: list[bytes]) -> None:
    """Feed through get_buffer()/receive_buffered(), as a BufferedProtocol transport does."""
    for chunk in chunks:
        pos = 0
        while pos < len(chunk):
            view = conn.get_buffer()
            assert len(view) > 0
            n = min(len(view), len(chunk) - pos)
            view[:n] = chunk[pos : pos + n]
            pos += n
            conn.receive_buffered(n)


def filler(k: int) -> bytes:
    """Pong frames that add up to exactly ``k`` bytes (k >= 2)."""
    out = b""
    while k:
        n = min(k, 127)
        if k - n == 1:  # never leave a single byte
            n -= 1
        out += bytes((0x8A, n - 2)) + b"F" * (n - 2)
        k -= n
    return out


def ways(raw: bytes) -> Iterator[tuple[str, list[bytes], int]]:
    """Yield (name, chunks, number of leading filler events) for each way of feeding ``raw``."""
    yield "whole", [raw], 0
    yield "bytewise", [raw[i : i + 1] for i in range(len(raw))], 0
    yield "partial-next", [raw + NEXT_PARTIAL], 0
    if len(raw) < SEAM_RING - 2:
        for k in range(2, SEAM_RING):
            if k + len(raw) <= SEAM_RING:
                continue  # the frame would not reach the seam
            pad = filler(k)
            yield f"seam@{k}", [pad + raw[:1], raw[1:]], _count_frames(pad)


def _count_frames(pad: bytes) -> int:
    count, pos = 0, 0
    while pos < len(pad):
        pos += 2 + pad[pos + 1]
        count += 1
    return count


def run(
    raw: bytes,
    make: Callable[[], Connection] = client,
) -> Iterator[tuple[str, Connection, list[Event], list[bytes]]]:
    """Feed ``raw`` every way, with both feeders; yield the connection, its events and writes."""
    for name, chunks, skip in ways(raw):
        for feeder in (feed_data, feed_buffered):
            conn = make()
            if name.startswith("seam"):
                conn.reader = RingBuffer(SEAM_RING, None)
            feeder(conn, chunks)
            events = conn.events_received()[skip:]
            writes = conn.data_to_send()
            yield f"{name}/{feeder.__name__}", conn, events, writes

