"""
Flow control end to end (issue 7): a server sends while the application is busy, then the
application reads everything.

While the application doesn't read, the client stops parsing at ``max_queue`` messages and stops
reading the socket once about ``read_limit`` bytes wait unparsed. When the application reads
again, every message must arrive, in order and byte for byte, and the server's 1000 close must
follow. The bug: reading never resumed when the bytes left in the receive ring after parsing
were more than ``read_limit // 2`` (a partial frame), and frames or reads over the ring's
256 KiB made ``get_buffer()`` fail with BufferError.

Synchronisation is on conditions (the client's transport paused, the server done or blocked),
polled with a deadline; a watchdog fails a test when no message arrives for ``STALL`` seconds,
aborting the connection so that a stuck one doesn't hold the test until its timeout.

``FASTWS_FLOW_FULL=1`` runs the whole matrix (sizes x max_queue x read_limit x text/binary
and every variation); by default, a slice that covers each size, bound and variation once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn

import pytest

import fastws
from fastws import connection
from fastws.exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK

from .flooders import (
    HEAD,
    Feed,
    aiohttp_feeder,
    burst_flood,
    chunked_flood,
    feeder,
    frame_length,
)
from .peers import TIMEOUT_FACTOR, TLSContexts, aiohttp_server, websockets_server
from .rawserver import raw_server

pytestmark = pytest.mark.timeout_s(30)

FULL = os.environ.get("FASTWS_FLOW_FULL", "") not in ("", "0")

# Bounds of the client, in bytes (fastws.connection, fastws.asyncio.protocol).
MAX_SIZE = 2**20  # default max_size
READ_LIMIT = 2**16  # default read_limit
SINK_MIN = 2**17  # payloads from here on are received outside the ring
RING_MAX = connection.RING_MAX  # the ring's largest read

# No message for this long means stuck: a healthy transfer here takes milliseconds.
STALL = 2.0 * TIMEOUT_FACTOR
# The servers wait this long for the client's reply to their close frame (it comes only once
# the application has read everything).
SERVER_CLOSE_TIMEOUT = 20.0 * TIMEOUT_FACTOR
# What the client may hold unparsed while the queue is full (docs/api.md, "Limits"): a read that
# starts then stops at read_limit (neither asyncio nor uvloop reads more than the buffer that
# get_buffer() hands out), but the read under way when the queue fills may leave up to one read,
# at most the ring's largest (RING_MAX): read_limit is a high-water mark, as in websockets 10.x.
HELD_BOUND = RING_MAX

Data = str | bytes


# The client ----------------------------------------------------------------------------


def buffered(ws: fastws.WebSocketClientProtocol) -> int:
    """Bytes received and held by the parser: ring plus partial large payload."""
    return ws.connection.buffered


class Probe(fastws.WebSocketClientProtocol):
    """The client, recording after every read from the socket what it holds."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.peak_queue = 0  # most messages queued
        self.peak_held = 0  # most unparsed bytes while the queue was full
        self.peak_paused_read = 0  # largest read made while the queue was already full
        self._full_before = False

    def queue_full(self) -> bool:
        return self.max_queue is not None and len(self.messages) >= self.max_queue

    def get_buffer(self, sizehint: int) -> memoryview:
        self._full_before = self.queue_full()
        return super().get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        super().buffer_updated(nbytes)
        self.peak_queue = max(self.peak_queue, len(self.messages))
        if self.queue_full():
            self.peak_held = max(self.peak_held, buffered(self))
        if self._full_before:
            self.peak_paused_read = max(self.peak_paused_read, nbytes)


@contextlib.asynccontextmanager
async def client(uri: str, **kwargs: Any) -> AsyncIterator[Probe]:
    """
    ``fastws.connect()`` without compression or keepalive unless asked. If the test fails, the
    connection is aborted: a stuck client would wait out every closing timeout.
    """
    options: dict[str, Any] = dict(
        compression=None, ping_interval=None, close_timeout=2, create_protocol=Probe
    )
    options.update(kwargs)
    ws = await fastws.connect(uri, **options)
    try:
        yield ws
    except BaseException:
        ws.transport.abort()
        raise
    finally:
        await ws.close()


def reading(ws: Probe) -> bool:
    """Whether the client's transport reads (False once closed)."""
    try:
        return bool(ws.transport.is_reading())
    except RuntimeError:  # uvloop, closed transport
        return False


def describe(message: object) -> str:
    if isinstance(message, str | bytes):
        return f"{type(message).__name__} of {len(message)} starting {message[:HEAD]!r}"
    return repr(message)


def state(ws: Probe, feed: Feed) -> str:
    """Both sides, for failure messages."""
    return (
        f"server: {feed!r}, done {feed.done.is_set()}, blocked {feed.is_blocked()}; "
        f"client: {ws.state.name}, {len(ws.messages)} queued (max_queue {ws.max_queue}), "
        f"{buffered(ws)} B unparsed (read_limit {ws.read_limit}), transport reading "
        f"{reading(ws)}"
    )


def stuck(ws: Probe, feed: Feed, what: str) -> NoReturn:
    pytest.fail(f"{what}\n{state(ws, feed)}")


async def until(condition: Callable[[], object], what: str, ws: Probe, feed: Feed) -> None:
    """Poll ``condition`` (every millisecond, up to STALL seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STALL
    while not condition():
        if loop.time() > deadline:
            stuck(ws, feed, f"waited {STALL:g} s for {what}")
        await asyncio.sleep(0.001)


async def busy(ws: Probe, feed: Feed, until_: str = "paused", everything: int = 0) -> None:
    """
    The application is busy: it doesn't read until the client stopped reading the socket
    (``paused``), or the server's writes wait (``blocked``; or the server sent everything
    and the client stopped reading). Or until every message (``everything``: the feed's
    count by default) is queued, when they all fit (max_queue None or large).

    Not until the server sent everything: the kernel's buffers take megabytes on loopback, so
    the server is often done before the client paused.
    """
    everything = everything or feed.count
    if until_ == "paused":
        await until(
            lambda: not reading(ws) or len(ws.messages) >= everything,
            "the client to stop reading (or to queue every message)",
            ws,
            feed,
        )
    elif until_ == "blocked":
        await until(
            lambda: (
                feed.is_blocked()
                or (feed.done.is_set() and not reading(ws))
                or len(ws.messages) >= everything
            ),
            "the server's writes to block (or the client to queue every message)",
            ws,
            feed,
        )
    else:  # pragma: no cover
        raise ValueError(until_)
    assert len(ws.messages) <= (ws.max_queue or feed.count)


class Reader:
    """The application's reading side: checks each message (order, content) and counts."""

    def __init__(self, ws: Probe, feed: Feed) -> None:
        self.ws = ws
        self.feed = feed
        self.seq = 0
        self.cancelled = 0

    def take(self, message: Data) -> None:
        seq = self.seq
        if seq >= self.feed.count:
            pytest.fail(f"message after the last one: {describe(message)}")
        expected = self.feed.message(seq)
        if message != expected:  # not assert: pytest would diff megabytes
            pytest.fail(f"message {seq}: got {describe(message)}, expected {describe(expected)}")
        self.seq = seq + 1

    @property
    def left(self) -> int:
        return self.feed.count - self.seq

    async def watch(self, reading: Awaitable[None]) -> None:
        """Run ``reading``; fail if no message arrives for STALL seconds."""
        task = asyncio.ensure_future(reading)
        try:
            while True:
                before = self.seq
                done, _ = await asyncio.wait([task], timeout=STALL)
                if done:
                    task.result()
                    return
                if self.seq == before:
                    stuck(
                        self.ws,
                        self.feed,
                        f"no message for {STALL:g} s; {self.seq} of {self.feed.count} read",
                    )
        finally:
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # Reading styles.

    async def recv(self, count: int | None = None, tight: bool = False) -> None:
        """
        ``recv()``, ``count`` times (every message left by default), yielding to the loop after
        each message as an application awaiting something per message does; ``tight``: not
        (``recv()`` returns queued messages without suspending, so the queue empties at once).
        """
        for _ in range(self.left if count is None else count):
            try:
                message = await self.ws.recv()
            except ConnectionClosed as exc:
                stuck(self.ws, self.feed, f"closed before message {self.seq}: {exc!r}")
            self.take(message)
            if not tight:
                await asyncio.sleep(0)

    async def iterate(self) -> None:
        """``async for``: ends on the server's 1000 close."""
        async for message in self.ws:
            self.take(message)
        if self.left:
            stuck(self.ws, self.feed, f"iteration ended at message {self.seq}")

    async def bursts(self, size: int | None = None) -> None:
        """Read a burst, then be busy again until the queue is full or reading paused, repeat."""
        ws = self.ws
        burst = size or ws.max_queue or 8
        while self.left:
            await self.recv(min(burst, self.left))
            refill = min(ws.max_queue or burst, self.left)

            def refilled(refill: int = refill) -> bool:
                return self.feed.done.is_set() or not reading(ws) or len(ws.messages) >= refill

            await until(refilled, "the queue to fill up again", ws, self.feed)

    async def with_timeouts(self) -> None:
        """``recv()`` in ``wait_for()`` with timeouts that sometimes cancel it: nothing is lost."""
        # 0 cancels before recv() starts, 0.5 ms usually while it waits; None doesn't cancel.
        timeouts = itertools.cycle([0, 0.0005, None, 0.002, 0, None, None])
        while self.left:
            try:
                message = await asyncio.wait_for(self.ws.recv(), next(timeouts))
            except asyncio.TimeoutError:
                self.cancelled += 1
                continue
            self.take(message)

    async def closes_cleanly(self) -> None:
        """After the last message, the server's close: ConnectionClosedOK and 1000."""
        try:
            extra = await asyncio.wait_for(self.ws.recv(), STALL)
        except ConnectionClosedOK:
            pass
        except ConnectionClosed as exc:
            stuck(self.ws, self.feed, f"closed with an error after the last message: {exc!r}")
        except asyncio.TimeoutError:
            stuck(self.ws, self.feed, "no close after the last message")
        else:
            self.take(extra)  # fails: one too many
        assert self.ws.close_code == 1000


async def read_everything(ws: Probe, feed: Feed, style: str = "recv") -> Reader:
    """Read the whole feed in ``style``, then check the clean close and the queue bound."""
    reader = Reader(ws, feed)
    if style == "recv":
        await reader.watch(reader.recv())
    elif style == "tight":
        await reader.watch(reader.recv(tight=True))
    elif style == "iter":
        await reader.watch(reader.iterate())
    elif style == "bursts":
        await reader.watch(reader.bursts())
    elif style == "timeouts":
        await reader.watch(reader.with_timeouts())
        assert reader.cancelled > 0
    else:  # pragma: no cover
        raise ValueError(style)
    if style != "iter":
        await reader.closes_cleanly()
    assert ws.close_code == 1000
    if ws.max_queue is not None:
        assert ws.peak_queue <= ws.max_queue
    return reader


def count_for(size: int, max_queue: int | None, read_limit: int) -> int:
    """
    Enough messages for the client to stop reading while the server still has data to send
    (the queue, read_limit parked and 256 KiB more in flight), then to resume and stop again
    about eight times (the parser resumes on an empty queue): each time, a different partial
    frame is left behind. At most 16 MiB, at least max_queue + 3 messages.
    """
    queue = max_queue or 4
    cycles = queue + 8 * queue
    backlog = -(-(2 * read_limit + 2**18) // size)
    return max(queue + 3, min(cycles + backlog, 2**24 // size))


# The matrix ----------------------------------------------------------------------------

# Sizes relative to every bound: read_limit, the sink threshold (128 KiB), the ring (256 KiB)
# and max_size. "rl" is read_limit.
SIZES = {
    "100": lambda rl: 100,
    "rl/2-1": lambda rl: rl // 2 - 1,
    "rl/2": lambda rl: rl // 2,
    "rl/2+1": lambda rl: rl // 2 + 1,
    "rl-1": lambda rl: rl - 1,
    "rl": lambda rl: rl,
    "rl+1": lambda rl: rl + 1,
    "50000": lambda rl: 50_000,
    "65536": lambda rl: 65_536,
    "100000": lambda rl: 100_000,
    "131071": lambda rl: SINK_MIN - 1,
    "131072": lambda rl: SINK_MIN,
    "131073": lambda rl: SINK_MIN + 1,
    "262143": lambda rl: RING_MAX - 1,
    "262144": lambda rl: RING_MAX,
    "262145": lambda rl: RING_MAX + 1,
    "300KiB": lambda rl: 300 * 1024,
    "max_size": lambda rl: MAX_SIZE,
}
MAX_QUEUES = (None, 1, 2, 4, 32)
READ_LIMITS = (2**16, 2**12, 2**20)

# (size, max_queue, read_limit, text): each size, max_queue, read_limit and type at least once,
# and the cases of the report (50_000, 65_536 and 100_000 B; max_queue 1, 4, 32; custom
# read_limit).
DEFAULT_CASES = [
    ("100", 32, 2**16, True),
    ("rl/2-1", 4, 2**16, False),
    ("rl/2", 1, 2**16, True),
    ("rl/2+1", 32, 2**16, False),
    ("rl-1", 2, 2**16, False),
    ("rl", 32, 2**16, False),
    ("rl+1", 4, 2**16, True),
    ("50000", 32, 2**16, False),
    ("50000", 2, 2**16, True),
    ("65536", 1, 2**16, False),
    ("65536", None, 2**16, False),
    ("100000", 32, 2**16, False),
    ("100000", 1, 2**16, True),
    ("131071", 2, 2**16, False),
    ("131072", 4, 2**16, True),
    ("131073", 1, 2**16, False),
    ("262143", 2, 2**16, False),
    ("262144", 1, 2**16, False),
    ("262145", 4, 2**16, False),
    ("300KiB", 2, 2**16, True),
    ("max_size", 1, 2**16, False),
    ("100", None, 2**16, False),
    ("100", 1, 2**12, False),
    ("rl/2+1", 32, 2**12, False),
    ("rl-1", 2, 2**12, True),
    ("rl+1", 4, 2**12, False),
    ("50000", 32, 2**12, False),
    ("131073", 1, 2**12, False),
    ("rl/2+1", 1, 2**20, False),
    ("100000", 4, 2**20, False),
    ("65536", 32, 2**20, True),
]


def matrix() -> list[Any]:
    cases = (
        [
            (size, max_queue, read_limit, text)
            for read_limit in READ_LIMITS
            for size in SIZES
            for max_queue in MAX_QUEUES
            for text in (False, True)
            # max_size + 1 has its own test
            if SIZES[size](read_limit) <= MAX_SIZE
        ]
        if FULL
        else DEFAULT_CASES
    )
    return [
        pytest.param(
            SIZES[size](read_limit),
            max_queue,
            read_limit,
            text,
            id=f"{size}-q{max_queue}-rl{read_limit.bit_length() - 1}-{'text' if text else 'bin'}",
        )
        for size, max_queue, read_limit, text in cases
    ]


@pytest.mark.parametrize(("size", "max_queue", "read_limit", "text"), matrix())
async def test_busy_then_read_everything(
    size: int, max_queue: int | None, read_limit: int, text: bool
) -> None:
    """While the application is busy the client stops reading; then every message arrives."""
    feed = Feed(count_for(size, max_queue, read_limit), size, text)
    async with websockets_server(
        feeder(feed), compression=None, close_timeout=SERVER_CLOSE_TIMEOUT
    ) as server:
        async with client(server.uri, max_queue=max_queue, read_limit=read_limit) as ws:
            await busy(ws, feed)
            await read_everything(ws, feed)


# Reading styles ------------------------------------------------------------------------

STYLES = ["recv", "tight", "iter", "bursts", "timeouts", "blocked", "aiohttp", "deflate", "tls"]
STYLE_CASES = [(65_536, 4, False), (50_000, 32, True)]
if FULL:
    STYLE_CASES += [(100, 32, False), (100_000, 1, False), (300 * 1024, 2, True)]


@pytest.mark.parametrize(
    ("size", "max_queue", "text"),
    [
        pytest.param(*case, id=f"{case[0]}-q{case[1]}-{'text' if case[2] else 'bin'}")
        for case in STYLE_CASES
    ],
)
@pytest.mark.parametrize("style", STYLES)
async def test_read_styles(
    style: str, size: int, max_queue: int, text: bool, tls_context: TLSContexts
) -> None:
    """
    Every way of reading after a busy spell gets every message: recv() yielding to the loop
    after each message or not, async for, bursts, recv() under timeouts that cancel it; after
    the server blocked; from aiohttp; compressed; over TLS (whose layer reads 256 KiB at once).
    """
    feed = Feed(count_for(size, max_queue, READ_LIMIT), size, text)
    options: dict[str, Any] = dict(max_queue=max_queue)
    if style == "aiohttp":
        server: Any = aiohttp_server(
            aiohttp_feeder(feed), compress=False, close_timeout=SERVER_CLOSE_TIMEOUT
        )
    else:
        compression = "deflate" if style == "deflate" else None
        options["compression"] = compression
        ssl_context = None
        if style == "tls":
            ssl_context = tls_context.server
            options["ssl"] = tls_context.client
        server = websockets_server(
            feeder(feed),
            compression=compression,
            ssl_context=ssl_context,
            close_timeout=SERVER_CLOSE_TIMEOUT,
        )
    async with server:
        async with client(server.uri, **options) as ws:
            await busy(ws, feed, "blocked" if style == "blocked" else "paused")
            read = style if style in ("recv", "tight", "iter", "bursts", "timeouts") else "recv"
            await read_everything(ws, feed, read)


# Raw floods: awkward chunkings, several frames per write ---------------------------------


def straddling(bases: tuple[int, ...], count: int) -> tuple[int, ...]:
    """
    Payload sizes near ``bases`` (cycled), each of 1000 bytes or more adjusted so that the next
    frame's header starts 2 bytes before a 64 KiB multiple of the stream: written in 64 KiB
    pieces, the header is cut in two.
    """
    sizes = []
    offset = 0
    for seq in range(count):
        size = bases[seq % len(bases)]
        if size >= 1000:
            # the 64 KiB multiple nearest to where the frame would end
            end = (offset + size + 2**15) // 2**16 * 2**16 - 2
            while True:
                length = end - offset
                # the payload size for a frame of this length, if there is one
                size = next(
                    (n for n in (length - 10, length - 4, length - 2) if frame_length(n) == length),
                    0,
                )
                if size >= 1000:
                    break
                end += 2**16
        sizes.append(size)
        offset += frame_length(size)
    return tuple(sizes)


STRADDLE_SIZES = straddling((65_536, 100, 131_072, 70_000, 40_000, 300_000, 10), 28)

# id: (write sizes, message sizes, count, max_queue, read_limit, text)
CHUNKINGS: dict[str, tuple[list[int], Any, int, int | None, int, bool]] = {
    # 1-byte reads stop at exactly read_limit with a frame larger than that in progress.
    "1B": ([1], 2**12 + 1, 3, 1, 2**12, True),
    "7B": ([7], 3000, 12, 2, 2**12, True),
    "read_limit": ([2**16], 50_000, 40, 4, 2**16, False),
    "1MiB": ([2**20], 100_000, 40, 32, 2**16, False),
    "straddle64K": ([2**16], STRADDLE_SIZES, len(STRADDLE_SIZES), 4, 2**16, False),
    "mixed": (
        [1, 7, 4093, 65_537, 3, 131_075, 2**20],
        (100, 3000, 70_000, 300_000),
        24,
        2,
        2**16,
        True,
    ),
}
if FULL:
    CHUNKINGS.update(
        {
            "1B-q32": ([1], 300, 60, 32, 2**12, False),
            "7B-large": ([7], 70_000, 4, 1, 2**16, False),
            "read_limit-2^12": ([2**12], 5000, 60, 4, 2**12, True),
            "1MiB-300KiB": ([2**20], 300 * 1024, 40, 32, 2**16, False),
            "1MiB-max_size": ([2**20], MAX_SIZE, 8, 1, 2**16, False),
            "straddle64K-q1": ([2**16], STRADDLE_SIZES, len(STRADDLE_SIZES), 1, 2**12, True),
        }
    )


@pytest.mark.parametrize(
    ("writes", "sizes", "count", "max_queue", "read_limit", "text"),
    [
        # Tiny writes are one loop iteration each: six times slower in debug mode.
        pytest.param(*case, id=name, marks=[pytest.mark.no_loop_debug] * (min(case[0]) < 1000))
        for name, case in CHUNKINGS.items()
    ],
)
async def test_chunked_flood(
    writes: list[int],
    sizes: Any,
    count: int,
    max_queue: int | None,
    read_limit: int,
    text: bool,
) -> None:
    """Frames cut into awkward writes (1 B, 7 B, read_limit, 1 MiB, across 64 KiB) all arrive."""
    feed = Feed(count, sizes, text)
    async with raw_server(chunked_flood(feed, writes)) as server:
        async with client(server.uri, max_queue=max_queue, read_limit=read_limit) as ws:
            await busy(ws, feed)
            await read_everything(ws, feed)


def test_straddle_sizes() -> None:
    """STRADDLE_SIZES does put frame headers across 64 KiB boundaries of the stream."""
    feed = Feed(len(STRADDLE_SIZES), STRADDLE_SIZES)
    offset = straddles = 0
    for seq in range(feed.count):
        data = feed.frame(seq)
        assert len(data) == frame_length(feed.size(seq))
        header = len(data) - feed.size(seq)
        if offset // 2**16 != (offset + header - 1) // 2**16:
            straddles += 1
        offset += len(data)
    assert straddles >= 10


# id: (message size, frames per write, count)
BURSTS = {
    "5x60KiB": (60 * 1024, 5, 40),
    "3000x100B": (100, 3000, 6000),
    "1x262145": (RING_MAX + 1, 1, 6),
    "1x300KiB": (300 * 1024, 1, 6),
}


@pytest.mark.parametrize("busy_first", [True, False], ids=["busy", "reading"])
@pytest.mark.parametrize("max_queue", [4, None] if not FULL else [None, 1, 4, 32])
@pytest.mark.parametrize(
    ("size", "per_write", "count"), [pytest.param(*case, id=name) for name, case in BURSTS.items()]
)
async def test_writes_over_256k(
    size: int, per_write: int, count: int, max_queue: int | None, busy_first: bool
) -> None:
    """Several frames per write, over 256 KiB at a time, don't overflow the receive buffer."""
    feed = Feed(max(count, count_for(size, max_queue, READ_LIMIT)), size)
    async with raw_server(burst_flood(feed, per_write)) as server:
        async with client(server.uri, max_queue=max_queue) as ws:
            if busy_first:
                await busy(ws, feed)
            await read_everything(ws, feed)


# Memory bound --------------------------------------------------------------------------

# (size, max_queue, read_limit)
MEMORY_CASES = [
    (100, 32, 2**16),
    (100, 1, 2**12),
    (3000, 2, 2**12),
    (2**12 + 1, 1, 2**12),
    (50_000, 4, 2**16),
    (70_000, 4, 2**16),
    (100_000, 1, 2**12),
    (65_536, 32, 2**20),
]
if FULL:
    MEMORY_CASES += [
        case
        for case in itertools.product(
            (100, 2**12 + 1, 40_000, 70_000, SINK_MIN + 1, 300 * 1024), (1, 4, 32), READ_LIMITS
        )
        if case not in MEMORY_CASES
    ]


@pytest.mark.parametrize(
    ("size", "max_queue", "read_limit"),
    [
        pytest.param(*case, id=f"{case[0]}-q{case[1]}-rl{case[2].bit_length() - 1}")
        for case in MEMORY_CASES
    ],
)
async def test_memory_bound_while_paused(size: int, max_queue: int, read_limit: int) -> None:
    """With the queue full and the application busy, reads stop at read_limit; what waits
    unparsed stays within max(read_limit, one read)."""
    feed = Feed(count_for(size, max_queue, read_limit), size)
    async with websockets_server(
        feeder(feed), compression=None, close_timeout=SERVER_CLOSE_TIMEOUT
    ) as server:
        async with client(server.uri, max_queue=max_queue, read_limit=read_limit) as ws:
            await busy(ws, feed, "paused")
            # Every chance to read more than it should: until the server can't write more.
            await busy(ws, feed, "blocked")
            assert not reading(ws)
            assert len(ws.messages) == max_queue
            assert ws.peak_queue <= max_queue
            assert ws.peak_paused_read <= read_limit, (
                f"a read made while the queue was full took {ws.peak_paused_read} bytes"
            )
            limit = max(read_limit, HELD_BOUND)
            assert buffered(ws) <= limit
            assert ws.peak_held <= limit, (
                f"{ws.peak_held} bytes unparsed while the queue was full; read_limit {read_limit}"
            )
            await read_everything(ws, feed)


# Over max_size ---------------------------------------------------------------------------


@pytest.mark.parametrize("max_queue", [None, 1, 4])
async def test_over_max_size_after_messages(max_queue: int | None) -> None:
    """Messages of max_size arrive; one of max_size + 1 then fails the connection with 1009."""
    feed = Feed(4, [MAX_SIZE, MAX_SIZE, MAX_SIZE, MAX_SIZE + 1])
    async with websockets_server(
        feeder(feed), compression=None, close_timeout=SERVER_CLOSE_TIMEOUT
    ) as server:
        async with client(server.uri, max_queue=max_queue) as ws:
            await busy(ws, feed, everything=3)  # the fourth is too big
            reader = Reader(ws, feed)
            await reader.watch(reader.recv(3))
            with pytest.raises(ConnectionClosedError) as info:
                await asyncio.wait_for(ws.recv(), STALL)
            assert info.value.sent is not None and info.value.sent.code == 1009
            assert not ws.messages


# Keepalive -----------------------------------------------------------------------------

PING_INTERVAL = 0.2 * TIMEOUT_FACTOR
PING_TIMEOUT = 0.5 * TIMEOUT_FACTOR


@pytest.mark.parametrize("server_kind", ["raw", "websockets"])
async def test_keepalive_while_busy(server_kind: str) -> None:
    """
    A keepalive pong parked behind unread messages isn't a dead peer: after a busy spell
    longer than ping_timeout, reading resumes without a false 1011 and ends with 1000.
    """
    size, max_queue = 65_536, 4
    feed = Feed(count_for(size, max_queue, READ_LIMIT), size)
    server: Any
    if server_kind == "raw":
        server = raw_server(chunked_flood(feed, [2**16]))
    else:
        server = websockets_server(
            feeder(feed), compression=None, close_timeout=SERVER_CLOSE_TIMEOUT
        )
    async with server:
        async with client(
            server.uri,
            max_queue=max_queue,
            ping_interval=PING_INTERVAL,
            ping_timeout=PING_TIMEOUT,
        ) as ws:
            await busy(ws, feed)
            # A keepalive ping goes out while we're busy; its pong waits behind the data.
            await until(lambda: ws.pings, "a keepalive ping", ws, feed)
            if server_kind == "raw":
                await until(lambda: feed.pings, "the server to answer a ping", ws, feed)
            # What this test is about: not reading for longer than ping_timeout.
            await asyncio.sleep(2 * PING_TIMEOUT)
            assert ws.open, state(ws, feed)
            await read_everything(ws, feed, "bursts")


async def test_ring_released_when_closed() -> None:
    """A closed connection holds no receive ring, even before the cycle collector frees it."""
    feed = Feed(20, 100_000)
    async with websockets_server(
        feeder(feed), compression=None, close_timeout=SERVER_CLOSE_TIMEOUT
    ) as server:
        async with client(server.uri, max_queue=4) as ws:
            await busy(ws, feed, "paused")
            assert ws.connection.reader.capacity > 0
            await read_everything(ws, feed)
        assert ws.connection.reader.capacity == 0


# The end of the stream while parsing is paused ------------------------------------------


@pytest.mark.parametrize("max_queue", [1, 4, 32])
@pytest.mark.parametrize("ending", ["fin", "close frame", "bad frame"])
async def test_end_of_stream_while_paused(ending: str, max_queue: int) -> None:
    """
    The server sends more messages than max_queue, then ends its stream, while the application
    isn't reading: every message is still delivered, then what ended the stream (the soak test
    found complete frames held while paused dropped at EOF).
    """
    from .rawserver import close_payload, frame

    count = 3 * max_queue + 5
    payloads = [f"{i:04d}".encode() * 25 for i in range(count)]
    tail = {
        "fin": b"",
        "close frame": frame(0x8, close_payload(1000, "bye")),
        "bad frame": frame(0x3, b""),
    }[ending]
    done = asyncio.Event()

    async def script(peer: Any) -> None:
        await peer.handshake()
        peer.write(b"".join(frame(0x2, p) for p in payloads) + tail)
        await peer.drain()
        done.set()
        # FIN: the script returning closes the connection.

    async with raw_server(script) as server:
        async with client(server.uri, max_queue=max_queue) as ws:
            await asyncio.wait_for(done.wait(), STALL)
            # The client reads everything (a few KB, under read_limit), then the FIN.
            await asyncio.wait_for(ws.wait_closed(), STALL)
            received = []
            with pytest.raises(ConnectionClosed) as info:
                for _ in range(count + 1):
                    received.append(await asyncio.wait_for(ws.recv(), STALL))
            assert received == payloads
            exc = info.value
            if ending == "fin":
                assert isinstance(exc, ConnectionClosedError)
                assert exc.rcvd is None and exc.sent is None  # 1006
            elif ending == "close frame":
                assert isinstance(exc, ConnectionClosedOK)
                assert exc.rcvd is not None and exc.rcvd.code == 1000
                assert exc.rcvd.reason == "bye"
            else:
                assert isinstance(exc, ConnectionClosedError)
                assert exc.sent is not None and exc.sent.code == 1002


class ThreadedPongServer:
    """
    A server in a thread (so it runs while the client's loop is blocked): after the handshake
    it waits for a ping and for ``go``, then writes ``data`` and the pong right behind it, then
    answers the close frame.
    """

    def __init__(self, data: bytes, pong: bool = True) -> None:
        import socket
        import threading

        self.data = data
        self.pong = pong
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(10 * TIMEOUT_FACTOR)
        self.uri = f"ws://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.go = threading.Event()
        self.pong_sent = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        from .rawserver import accept_key, apply_mask, frame

        try:
            conn, _ = self.sock.accept()
            with conn:
                conn.settimeout(10 * TIMEOUT_FACTOR)
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(4096)
                key = next(
                    line.split(b":", 1)[1].strip().decode()
                    for line in request.split(b"\r\n")
                    if line.lower().startswith(b"sec-websocket-key:")
                )
                conn.sendall(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                    + accept_key(key).encode()
                    + b"\r\n\r\n"
                )

                def read_frame() -> tuple[int, bytes]:
                    head = b""
                    while len(head) < 6:
                        head += conn.recv(6 - len(head))
                    length = head[1] & 0x7F
                    assert length < 126
                    payload = b""
                    while len(payload) < length:
                        payload += conn.recv(length - len(payload))
                    return head[0] & 0x0F, apply_mask(payload, head[2:6])

                opcode, payload = read_frame()
                assert opcode == 0x9, opcode
                assert self.go.wait(10 * TIMEOUT_FACTOR)
                conn.sendall(self.data + (frame(0xA, payload) if self.pong else b""))
                self.pong_sent.set()
                opcode, payload = read_frame()
                assert opcode == 0x8, opcode
                conn.sendall(frame(0x8, payload))
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.sock.close()


@pytest.mark.parametrize("pong", [True, False], ids=["pong", "no pong"])
async def test_keepalive_pong_behind_unread_bytes(pong: bool) -> None:
    """
    The loop was blocked past ping_timeout while the server answered the ping at once, behind
    messages: the pong is in the socket, behind unread bytes, when the timer runs. Those bytes
    are read first: no false 1011 (the soak test's one false keepalive timeout). Without a
    pong among them, 1011 all the same once they are read.
    """
    import time

    messages = [bytes([i]) * 4000 for i in range(12)]  # 48 KB: within the socket's buffers
    server = ThreadedPongServer(b"".join(frame_bytes(m) for m in messages), pong)
    async with client(
        server.uri, ping_interval=0.05, ping_timeout=0.2 * TIMEOUT_FACTOR, max_queue=None
    ) as ws:
        while not ws.pings:
            await asyncio.sleep(0.005)
        # Blocked past ping_timeout (as by the application's CPU work), while the server answers.
        server.go.set()
        deadline = time.monotonic() + 10 * TIMEOUT_FACTOR
        while not server.pong_sent.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.4 * TIMEOUT_FACTOR)
        received = [await asyncio.wait_for(ws.recv(), STALL) for _ in messages]
        assert received == messages
        if pong:
            await asyncio.sleep(0)
            assert ws.open, (ws.close_code, ws.close_reason)
            await ws.close()
            assert ws.close_code == 1000
        else:
            with pytest.raises(ConnectionClosedError) as info:
                await asyncio.wait_for(ws.recv(), STALL)
            assert info.value.sent is not None and info.value.sent.code == 1011
    server.thread.join(5)
    assert server.error is None, server.error


def frame_bytes(payload: bytes) -> bytes:
    """A binary frame from the server."""
    from .rawserver import frame

    return frame(0x2, payload)


@pytest.mark.parametrize("ending", ["close", "server reset", "keepalive timeout"])
async def test_closed_connection_freed_by_reference_counting(ending: str) -> None:
    """
    Once closed, a connection is in no reference cycle: it is freed as soon as the application
    drops it, not at the next full collection (docs/soak.md, finding 3).
    """
    import gc
    import weakref

    from .rawserver import echo, no_pong, reset_mid_frame

    script = {"close": echo(), "server reset": reset_mid_frame(), "keepalive timeout": no_pong()}
    async with raw_server(script[ending]) as server:
        gc.disable()
        try:
            ws = await fastws.connect(
                server.uri, ping_interval=0.05, ping_timeout=0.1, close_timeout=0.5
            )
            if ending == "close":
                await ws.send("hi")
                assert await ws.recv() == "hi"
                await ws.close()
            else:
                # (Not pytest.raises nor wait_for: the exception's traceback, kept by them or
                # by the task wait_for makes, would hold the frames that hold ws. The test's
                # own timeout bounds this loop.)
                try:
                    while True:
                        await ws.recv()
                except ConnectionClosedError:
                    pass
                await ws.wait_closed()
            ref = weakref.ref(ws)
            del ws
            await asyncio.sleep(0)
            assert ref() is None, [
                (r.f_code.co_name, r.f_lineno) if hasattr(r, "f_code") else type(r)
                for r in gc.get_referrers(ref())
            ]
        finally:
            gc.enable()
