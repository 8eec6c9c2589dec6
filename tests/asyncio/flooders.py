"""
Servers that send many messages fast, for the flow-control tests (``test_flow.py``).

A :class:`Feed` describes the messages (count, sizes, text or binary) and records how far the
server got; every payload starts with its sequence number and is cheap to rebuild, so the client
checks each message byte for byte without the test keeping them all::

    feed = Feed(40, 65_536)
    async with websockets_server(feeder(feed), compression=None) as server: ...
    async with raw_server(chunked_flood(feed, [7])) as server: ...   # 7-byte writes
    async with raw_server(burst_flood(feed, 5)) as server: ...       # 5 frames per write

Every server sends the whole feed, then closes with 1000 and waits for the client's close
frame, answering pings meanwhile. If the client goes away first (a test failed and aborted
it), the servers stop quietly: the test reports its own failure, not a reset.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
from collections.abc import Iterator, Sequence
from typing import Any

from .peers import Handler
from .rawserver import BINARY, CLOSE, PING, PONG, TEXT, RawPeer, Script, frame

__all__ = [
    "HEAD",
    "Feed",
    "aiohttp_feeder",
    "burst_flood",
    "chunked_flood",
    "feeder",
    "frame_length",
    "payload",
]

Data = str | bytes

#: Bytes of the sequence number that starts every payload: ``b"000000042:"``.
HEAD = 10

# Binary filler: random, read at an offset that depends on the sequence number, so that two
# messages of the same size differ beyond their heads too. The offsets spread over 1 MiB:
# nothing repeats within deflate's 32 KiB window, a flood can't compress to a few bytes per
# message (with context takeover, it would if all messages came from the same few KiB).
_OFFSETS = 2**20
_RANDOM = random.Random(7).randbytes(_OFFSETS + 2**20 + 2**12)
# Text filler: groups of 8 random ASCII characters (base64 of the binary filler: compression
# can't make a flood small) each followed by "é€😀", 2-, 3- and 4-byte UTF-8 sequences that
# every chunking and ring seam cuts somewhere.
_ASCII = base64.b64encode(_RANDOM).decode()
_GROUP = 8
_MULTI = "é€😀"
_UNIT_BYTES = _GROUP + len(_MULTI.encode())  # 17


def payload(seq: int, size: int, text: bool = False) -> Data:
    """
    Message number ``seq``: ``size`` bytes (UTF-8 bytes for text), starting with the sequence
    number.
    """
    if size < HEAD:
        raise ValueError(f"a payload has at least {HEAD} bytes")
    head = b"%09d:" % seq
    rest = size - HEAD
    if not text:
        if rest > len(_RANDOM) - _OFFSETS:
            raise ValueError(f"payload too large: {size} bytes")
        offset = seq * 104_729 % _OFFSETS
        return head + _RANDOM[offset : offset + rest]
    units, pad = divmod(rest, _UNIT_BYTES)
    offset = seq * 104_729 % _OFFSETS
    ascii_ = _ASCII[offset : offset + units * _GROUP]
    groups = [ascii_[i : i + _GROUP] for i in range(0, len(ascii_), _GROUP)]
    return "".join((head.decode(), _MULTI.join(groups), _MULTI if units else "", "-" * pad))


class Feed:
    """
    ``count`` messages of ``size`` bytes (a sequence of sizes is cycled), text or binary.

    The server records its progress: ``sent`` (messages written, or handed to the transport),
    ``done`` (all of them), ``blocked`` (a write had to wait: the client isn't reading; see
    :meth:`is_blocked`), ``pings`` (pings answered, raw flooders only), ``transport`` (its
    side of the connection).
    """

    def __init__(self, count: int, size: int | Sequence[int], text: bool = False) -> None:
        self.count = count
        self.sizes = (size,) if isinstance(size, int) else tuple(size)
        self.text = text
        self.sent = 0
        self.pings = 0
        self.done = asyncio.Event()
        self.blocked = asyncio.Event()
        self.transport: Any = None

    def is_blocked(self) -> bool:
        """
        Whether the server's writes wait: bytes left in its transport mean the kernel's buffers
        are full (checked live too: websockets' send() of a large message waits inside).
        """
        if self.blocked.is_set():
            return True
        try:
            return bool(self.transport is not None and self.transport.get_write_buffer_size())
        except RuntimeError:  # uvloop, closed transport
            return False

    def size(self, seq: int) -> int:
        return self.sizes[seq % len(self.sizes)]

    def message(self, seq: int) -> Data:
        return payload(seq, self.size(seq), self.text)

    def frame(self, seq: int) -> bytes:
        return frame(TEXT if self.text else BINARY, self.message(seq))

    def wire(self) -> bytes:
        """Every message as unmasked server frames, back to back."""
        return b"".join(self.frame(seq) for seq in range(self.count))

    def total(self) -> int:
        """Payload bytes of the whole feed."""
        return sum(self.size(seq) for seq in range(self.count))

    def __repr__(self) -> str:
        kind = "text" if self.text else "binary"
        sizes = "/".join(map(str, self.sizes))
        return f"Feed({self.count} x {sizes} B {kind}, sent {self.sent}, {self.pings} pings)"


# websockets ---------------------------------------------------------------------------


def feeder(feed: Feed) -> Handler:
    """A websockets handler: send the feed as fast as the client takes it, then close 1000."""

    async def handler(ws: Any) -> None:
        feed.transport = ws.transport
        for seq in range(feed.count):
            await ws.send(feed.message(seq))
            feed.sent = seq + 1
            # Bytes left in the transport: the kernel's buffers are full, the client isn't
            # reading (websockets' send() waits above its write limit).
            if ws.transport.get_write_buffer_size():
                feed.blocked.set()
        feed.done.set()
        await ws.close()

    return handler


def aiohttp_feeder(feed: Feed) -> Handler:
    """The same for an aiohttp server (its sends wait above 64 KiB buffered)."""

    async def handler(ws: Any) -> None:
        for seq in range(feed.count):
            message = feed.message(seq)
            if isinstance(message, str):
                await ws.send_str(message)
            else:
                await ws.send_bytes(message)
            feed.sent = seq + 1
        feed.done.set()
        await ws.close()

    return handler


# raw ----------------------------------------------------------------------------------


async def _yield(turns: int = 2) -> None:
    """
    Let the client read what was just written before writing more: on the first turn, the
    writer's next step would run before the client's read callback (both ready), so the client
    would get two writes in one read.
    """
    for _ in range(turns):
        await asyncio.sleep(0)


def _pieces(data: bytes, sizes: Sequence[int]) -> Iterator[bytes]:
    """``data`` cut into pieces of ``sizes`` bytes, cycled."""
    view = memoryview(data)
    pos = i = 0
    while pos < len(data):
        n = sizes[i % len(sizes)]
        yield bytes(view[pos : pos + n])
        pos += n
        i += 1


async def _write(peer: RawPeer, feed: Feed, pieces: Iterator[bytes], pace: bool) -> None:
    """Write the pieces, waiting while the client doesn't take them; count whole messages."""
    ends = []  # stream offset where each message ends
    offset = 0
    for seq in range(feed.count):
        offset += frame_length(feed.size(seq))
        ends.append(offset)
    written = 0
    for piece in pieces:
        peer.write(piece)
        written += len(piece)
        while feed.sent < feed.count and ends[feed.sent] <= written:
            feed.sent += 1
        if peer.transport.get_write_buffer_size() > 0:
            feed.blocked.set()
            await peer.drain()
        if pace:
            await _yield()
    feed.done.set()
    peer.send_close(1000)
    await peer.drain()


def frame_length(size: int) -> int:
    """Bytes of an unmasked frame (a server's) with a ``size``-byte payload."""
    return size + (2 if size < 126 else 4 if size < 1 << 16 else 10)


async def _reply_until_close(peer: RawPeer, feed: Feed) -> None:
    """Answer pings until the client's close frame (the reply to ours)."""
    while True:
        received = await peer.read_frame()
        if received.opcode == PING:
            feed.pings += 1
            peer.send(PONG, received.payload)
        elif received.opcode == CLOSE:
            return


async def _serve(peer: RawPeer, feed: Feed, pieces: Iterator[bytes], pace: bool) -> None:
    await peer.handshake()
    feed.transport = peer.transport
    writing = asyncio.ensure_future(_write(peer, feed, pieces, pace))
    try:
        # Read while writing: keepalive pings are answered while the flood is blocked (the
        # pong then waits behind the data, as with any server). If the client's close frame
        # comes first (it failed the connection), stop writing and close TCP.
        with contextlib.suppress(EOFError, ConnectionError):
            await _reply_until_close(peer, feed)
    finally:
        if not writing.done():
            writing.cancel()
        with contextlib.suppress(asyncio.CancelledError, EOFError, ConnectionError):
            await writing


def chunked_flood(feed: Feed, sizes: Sequence[int], *, pace: bool = True) -> Script:
    """
    Write the feed's frames cut into pieces of ``sizes`` bytes (cycled, regardless of frame
    boundaries), then a close frame 1000; answer pings until the client's close frame.

    With ``pace``, the client gets a chance to read after each piece (one read per piece while
    it keeps up); without, the pieces pile up in the kernel.
    """

    async def script(peer: RawPeer) -> None:
        await _serve(peer, feed, _pieces(feed.wire(), sizes), pace)

    return script


def burst_flood(feed: Feed, per_write: int) -> Script:
    """Like ``chunked_flood``, writing ``per_write`` whole frames in each write."""

    def pieces() -> Iterator[bytes]:
        for first in range(0, feed.count, per_write):
            last = min(first + per_write, feed.count)
            yield b"".join(feed.frame(seq) for seq in range(first, last))

    async def script(peer: RawPeer) -> None:
        await _serve(peer, feed, pieces(), True)

    return script
