"""
The asyncio I/O layer: :class:`WebSocketClientProtocol`, an :class:`asyncio.BufferedProtocol` that
drives the Sans-I/O :class:`~fastws.client.ClientConnection`.

Shape (see docs/design.md):

- Receiving runs inside ``buffer_updated``: the transport has read into the connection's ring,
  the core parses in place and calls :meth:`WebSocketCommonProtocol._on_data` per data frame, which
  appends the finished message to a deque and wakes a waiting ``recv()``. No task per message,
  and no Future when a message is already queued.
- Sending builds frames in the core and writes them at the end of the loop iteration, so many small
  messages sent in one iteration leave in one ``transport.write``; ``write_limit`` still bounds
  what is buffered (see :meth:`WebSocketCommonProtocol._queued`).
- Keepalive and the closing timeouts are loop timers: no background task at all.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import random
import struct
import sys
import time
import uuid
import warnings
import weakref
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from typing import Any, cast

from ..client import ClientConnection
from ..connection import CLOSED, CLOSING, CONNECTING, OPEN, SEND_EOF, State
from ..datastructures import Headers, HeadersLike
from ..exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidHeader,
    InvalidState,
    InvalidStatus,
    InvalidStatusCode,
    InvalidUpgrade,
    RedirectHandshake,
)
from ..extensions.base import ClientExtensionFactory, Extension
from ..frames import OP_CLOSE, OP_PONG, Close, Frame, prepare_ctrl, prepare_data
from ..http import USER_AGENT
from ..http11 import Response
from ..typing import Data, LoggerLike, Origin, Subprotocol
from ..uri import WebSocketURI
from .flow import Inflow
from .logs import CoreLogger

try:
    import fcntl
    import termios
except ImportError:  # pragma: no cover - Windows: no grace for a pong behind unread bytes
    fcntl = None  # type: ignore[assignment]

__all__ = ["WebSocketCommonProtocol", "WebSocketClientProtocol"]

# Until handshake() gives the real URI.
_PLACEHOLDER_URI = WebSocketURI(False, "localhost", 80, "/", "", None, None)

# Stages of closing the TCP connection after the WebSocket closing handshake (or a failure), each
# bounded by close_timeout, as websockets 10.x does: waiting for the server's close frame, waiting
# for the server to close TCP, after half-closing, after closing, then abort.
_WAIT_CLOSE_FRAME, _WAIT_TCP_CLOSE, _WAIT_AFTER_EOF, _WAIT_AFTER_CLOSE = range(4)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _ignore_data(b0: int, payload: Any) -> None:
    """The core's on_data hook once the connection is lost."""


def _ignore_frame(frame: Frame) -> None:
    """The core's on_frame hook once the connection is lost."""


def _nothing() -> None:
    """Inflow's after_parse once the connection is lost."""


def unread_bytes(transport: asyncio.BaseTransport) -> int:
    """
    Bytes received by the kernel that ``transport`` hasn't read yet (0 if unknown: TLS,
    where the socket's bytes aren't the stream's, or no ``FIONREAD``).
    """
    if fcntl is None or transport.get_extra_info("sslcontext") is not None:
        return 0
    sock = transport.get_extra_info("socket")
    try:
        out = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except (AttributeError, OSError, ValueError):
        return 0
    return max(0, int.from_bytes(out, sys.byteorder, signed=True))


class WebSocketCommonProtocol(asyncio.BufferedProtocol):
    """
    A WebSocket connection over an asyncio transport (the I/O half of the client).

    Args:
        logger: logger for this connection; defaults to ``logging.getLogger("websockets.client")``.
        ping_interval: seconds between keepalive pings; None disables keepalive.
        ping_timeout: seconds to wait for a keepalive pong before failing with 1011; None waits
            forever.
        close_timeout: seconds each step of the closing sequence may take (None means 10).
        max_size: largest incoming message in bytes; None disables the limit.
        max_queue: most received messages queued; once reached, parsing stops (and resumes
            when the application has taken the queue down to half); None for no bound.
        read_limit: most bytes held unparsed while parsing is stopped by ``max_queue``: the
            transport stops reading when they reach it, and resumes once parsing resumes (see
            :mod:`fastws.asyncio.flow` for the invariant).
        write_limit: high-water mark of the write buffer: ``send()`` waits while it's exceeded
            until the buffer drains below a quarter of it.
    """

    is_client = True
    side = "client"

    # Slots: 8 bytes per attribute instead of an instance dict (memory per idle connection,
    # profiling/); __dict__ keeps arbitrary attributes and subclasses working.
    __slots__ = (
        "logger",
        "debug",
        "ping_interval",
        "ping_timeout",
        "close_timeout",
        "max_size",
        "max_queue",
        "read_limit",
        "write_limit",
        "loop",
        "_host",
        "_port",
        "_secure",
        "legacy_recv",
        "extensions",
        "subprotocol",
        "path",
        "request_headers",
        "response_headers",
        "connection",
        "transport",
        "flow",
        "messages",
        "_recv_waiter",
        "_transfer_done",
        "_handshake_waiter",
        "_handshake_response",
        "_lost_waiter",
        "_eof",
        "__weakref__",  # the loggers' weak proxy once closed
        "_flush_handle",
        "_queued_bytes",
        "_burst",
        "_writing_paused",
        "_drain_waiter",
        "_fragmented_waiter",
        "pings",
        "_ping_sent",
        "latency",
        "_keepalive_handle",
        "_keepalive_data",
        "_keepalive_deferred",
        "_keepalive_grace",
        "_keepalive_graced",
        "_close_handle",
        "_close_stage",
        "_chunks",
        "_decoder",
        "_partial_decoder",
        "_partial_checked",
        "__dict__",
    )

    def __init__(
        self,
        *,
        logger: LoggerLike | None = None,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = None,
        max_size: int | None = 2**20,
        max_queue: int | None = 2**5,
        read_limit: int = 2**16,
        write_limit: int = 2**16,
        host: str | None = None,
        port: int | None = None,
        secure: bool | None = None,
        legacy_recv: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
        timeout: float | None = None,
    ) -> None:
        if legacy_recv:
            warnings.warn("legacy_recv is deprecated", DeprecationWarning, stacklevel=2)
        if timeout is None:
            timeout = 10
        else:
            warnings.warn("rename timeout to close_timeout", DeprecationWarning, stacklevel=2)
        if close_timeout is None:
            close_timeout = timeout
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                # Outside a running loop, the current loop, as websockets 10.x.
                loop = asyncio.get_event_loop()
        else:
            warnings.warn("remove loop argument", DeprecationWarning, stacklevel=2)
        if logger is None:
            logger = logging.getLogger("websockets.client")
        self.logger: LoggerLike = logging.LoggerAdapter(cast(Any, logger), {"websocket": self})
        """Logger for this connection."""
        self.debug = logger.isEnabledFor(logging.DEBUG)
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.max_size = max_size
        self.max_queue = max_queue
        self.read_limit = read_limit
        self.write_limit = write_limit
        self.loop = loop
        self._host = host
        self._port = port
        self._secure = secure
        self.legacy_recv = legacy_recv

        self.extensions: list[Extension] = []
        self.subprotocol: Subprotocol | None = None
        """Subprotocol negotiated in the opening handshake, if any."""
        self.path: str
        self.request_headers: Headers
        self.response_headers: Headers

        # With DEBUG, the core logs through a CoreLogger: the records websockets 10.x's asyncio
        # client logs. Without, the core logs only errors (no adapter per connection: memory).
        core_logger = self.logger
        if self.debug:
            core_logger = CoreLogger(cast(Any, logger), {"websocket": self})
        conn = ClientConnection(_PLACEHOLDER_URI, max_size=max_size, logger=core_logger)
        conn.on_data = self._on_data
        conn.on_frame = self._on_frame
        conn.failure_reasons = False
        conn.failure_log = "data transfer failed"
        conn.read_response_body = False
        # A bad frame after messages the application hasn't read yet fails the connection only
        # once they are read: they can still be answered (Autobahn cases 3.x, 4.x, 5.15).
        conn.on_error = self._postpone_error
        conn.on_partial = self._on_partial
        self.connection = conn

        self.transport: asyncio.Transport
        # Everything that decides whether received bytes flow (queue, parser, transport).
        self.flow = Inflow(conn, max_queue, read_limit, self._after_resume, loop)
        self.messages: deque[Data] = self.flow.messages
        self._recv_waiter: asyncio.Future[None] | None = None
        self._transfer_done = False
        self._handshake_waiter: asyncio.Future[None] | None = None
        self._handshake_response: Response | None = None
        self._lost_waiter: asyncio.Future[None] = loop.create_future()
        self._eof = False
        # Writing.
        self._flush_handle: asyncio.Handle | None = None
        self._queued_bytes = 0
        self._burst = False
        self._writing_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._fragmented_waiter: asyncio.Future[None] | None = None
        # Pings.
        self.pings: dict[bytes, asyncio.Future[float]] = {}
        self._ping_sent: dict[bytes, float] = {}
        self.latency: float = 0.0
        """Round-trip time of the last ping answered, in seconds (0 before the first pong)."""
        self._keepalive_handle: asyncio.TimerHandle | None = None
        self._keepalive_data: bytes | None = None
        self._keepalive_deferred = False
        # Bytes the socket held, unread, when the pong was due (read them before judging).
        self._keepalive_grace = 0
        self._keepalive_graced = False
        # Closing.
        self._close_handle: asyncio.TimerHandle | None = None
        self._close_stage = -1
        # Fragmented messages being received.
        self._chunks: list[Any] = []
        self._decoder: codecs.IncrementalDecoder | None = None
        # UTF-8 check of the text frame being received, as its bytes arrive.
        self._partial_decoder: codecs.IncrementalDecoder | None = None
        self._partial_checked = 0

    # Properties of the 10.x API.

    @property
    def id(self) -> uuid.UUID:
        """Unique identifier of the connection, for logs (the Sans-I/O connection's)."""
        return self.connection.id

    @property
    def state(self) -> State:
        """The connection state (CONNECTING, OPEN, CLOSING, CLOSED)."""
        if self._lost_waiter.done():
            return CLOSED
        state = self.connection.state
        return CLOSING if state is CLOSED else state

    @property
    def host(self) -> str | None:
        """Deprecated: host of the URI."""
        warnings.warn("use remote_address[0] instead of host", DeprecationWarning, stacklevel=2)
        return self._host

    @property
    def port(self) -> int | None:
        """Deprecated: port of the URI."""
        warnings.warn("use remote_address[1] instead of port", DeprecationWarning, stacklevel=2)
        return self._port

    @property
    def secure(self) -> bool | None:
        """Deprecated: whether the URI is wss://."""
        warnings.warn("don't use secure", DeprecationWarning, stacklevel=2)
        return self._secure

    @property
    def local_address(self) -> Any:
        """Local address of the socket (e.g. a (host, port) tuple); None before connecting."""
        try:
            transport = self.transport
        except AttributeError:
            return None
        return transport.get_extra_info("sockname")

    @property
    def remote_address(self) -> Any:
        """Remote address of the socket (e.g. a (host, port) tuple); None before connecting."""
        try:
            transport = self.transport
        except AttributeError:
            return None
        return transport.get_extra_info("peername")

    @property
    def open(self) -> bool:
        """True while the connection is open (both False while opening and closing)."""
        return self.connection.state is OPEN and not self._transfer_done

    @property
    def closed(self) -> bool:
        """True once the connection is closed."""
        return self._lost_waiter.done()

    @property
    def close_code(self) -> int | None:
        """Close code (RFC 6455 section 7.1.5); None until the connection is closed."""
        if not self._lost_waiter.done():
            return None
        return self.connection.close_code

    @property
    def close_reason(self) -> str | None:
        """Close reason (RFC 6455 section 7.1.6); None until the connection is closed."""
        if not self._lost_waiter.done():
            return None
        return self.connection.close_reason

    # Receiving.

    def __aiter__(self) -> AsyncIterator[Data]:
        """Iterate over messages; ends on a 1000/1001 close, raises ConnectionClosedError else."""
        # Speed: the protocol is its own async iterator, so each step of ``async for`` is one
        # coroutine (__anext__), not an async generator around recv()
        # (benchmarks/bench_protocol.py).
        return self

    async def recv(self) -> Data:
        """
        Receive the next message: str for a text message, bytes for a binary one.

        Messages received before the connection closed are returned first. Cancelling recv()
        loses nothing: the next call returns the message.

        Raises:
            ConnectionClosed: When the connection is closed and no message is left.
            RuntimeError: If another coroutine is already waiting in recv().
        """
        if self._recv_waiter is not None:
            raise RuntimeError(
                "cannot call recv while another coroutine is already waiting for the next message"
            )
        messages = self.messages
        if messages:
            # Speed: the common case returns without suspending (benchmarks/bench_protocol.py).
            message = messages.popleft()
            if not messages:
                self.flow.taken()
            return message
        if self._flush_handle is not None:
            # About to wait for the peer: frames sent just before (a request) leave now, not
            # one loop iteration later (e2e echo round trips).
            self._flush()
        self._burst = False
        while not messages:
            if self._transfer_done:
                if self.legacy_recv:
                    return None  # type: ignore[return-value]
                await self.ensure_open()
            waiter = self.loop.create_future()
            self._recv_waiter = waiter
            try:
                await waiter
            finally:
                self._recv_waiter = None
        message = messages.popleft()
        if not messages:
            self.flow.taken()
        return message

    async def __anext__(self) -> Data:
        """One step of ``async for``: recv(), with ConnectionClosedOK ending the iteration."""
        messages = self.messages
        if messages and self._recv_waiter is None:
            message = messages.popleft()
            if not messages:
                self.flow.taken()
            return message
        try:
            return await self.recv()
        except ConnectionClosedOK:
            raise StopAsyncIteration from None

    def _on_data(self, b0: int, payload: Any) -> None:
        """Turn a data frame (a view of the receive ring) into a message; the one copy."""
        if self._partial_decoder is not None:
            self._partial_decoder = None
        if b0 == 0x81:
            message: Data = str(payload, "utf-8")
        elif b0 == 0x82:
            message = bytes(payload)
        else:
            assembled = self._fragment(b0, payload)
            if assembled is None:
                return
            message = assembled
        messages = self.messages
        messages.append(message)
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if len(messages) == self.flow.high:
            self.flow.queue_full()

    def _on_partial(self, b0: int, offset: int, payload: Any) -> None:
        """
        Part of a data frame arrived (``payload`` from ``offset``): if it's text, validate the
        new bytes now, so invalid UTF-8 fails the connection (1007) without waiting for the
        rest of the frame.
        """
        decoder = self._partial_decoder
        if decoder is None:
            if b0 & 0x0F == 1:
                decoder = codecs.getincrementaldecoder("utf-8")()
            elif b0 & 0x0F == 0 and self._decoder is not None:
                decoder = codecs.getincrementaldecoder("utf-8")()
                decoder.setstate(self._decoder.getstate())
            else:
                return
            self._partial_decoder = decoder
            self._partial_checked = 0
        checked = self._partial_checked
        end = offset + len(payload)
        if end > checked:
            decoder.decode(payload[checked - offset :])
            self._partial_checked = end

    def _postpone_error(self, exc: Exception) -> bool:
        """Core hook: postpone failing while received messages wait to be read."""
        return self.flow.postpone_error()

    def _on_frame(self, frame: Frame) -> None:
        """Data frames decoded by extensions (permessage-deflate) take the same path."""
        self._on_data((0x80 if frame.fin else 0) | frame.opcode, frame.data)

    def _fragment(self, b0: int, payload: Any) -> Data | None:
        """Assemble a fragmented message; text is validated frame by frame."""
        fin = b0 >= 0x80
        if b0 & 0x0F:
            self._decoder = (
                codecs.getincrementaldecoder("utf-8")() if b0 & 0x0F == 1 else None
            )
            self._chunks = []
        decoder = self._decoder
        if decoder is not None:
            self._chunks.append(decoder.decode(payload, fin))
        else:
            self._chunks.append(bytes(payload))
        if not fin:
            return None
        chunks, self._chunks = self._chunks, []
        if decoder is not None:
            return "".join(chunks)
        return b"".join(chunks)

    def _after_resume(self) -> None:
        """Flow control resumed parsing: handle what the parser produced."""
        self._after_receive()
        if self._keepalive_deferred and not self.connection.paused:
            self._keepalive_deferred = False
            self._arm_keepalive_timeout()

    # asyncio.BufferedProtocol callbacks.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Configure the write buffer limits (low = high / 4)."""
        transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(self.write_limit)
        self.transport = transport
        self.flow.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        """Hand the transport the ring's free region (the hint is ignored: see design.md)."""
        if self._eof:
            # asyncio's TLS layer may ask again after EOF (close_notify): give it a scratch
            # buffer whose content buffer_updated() ignores.
            return memoryview(bytearray(1024))
        conn = self.connection
        if conn.paused:
            return self.flow.region(conn.get_buffer())
        return conn.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        """Parse what the transport read; messages go to the queue as they complete."""
        if self._eof:
            return
        conn = self.connection
        conn.receive_buffered(nbytes)
        if conn.writes or conn.events or conn.state is not OPEN:
            self._after_receive()
        if conn.paused:
            self.flow.received()
        if self._keepalive_grace:
            self._keepalive_grace_read(nbytes)

    def eof_received(self) -> None:
        """The server closed its side: finish the connection (the transport then closes)."""
        self._end_of_stream()
        self._after_receive()

    def _end_of_stream(self) -> bool:
        """
        No more bytes will be read (EOF, or the connection lost first): the frames the parser
        held while paused are parsed, then the core gets EOF. The one place that feeds it.
        Returns whether the peer's frames were still being received just before.
        """
        if self._eof:
            return False
        self._eof = True
        conn = self.connection
        self.flow.ended()
        receiving = conn.receiving
        if conn.state is not CLOSED:
            conn.receive_eof()
        return receiving

    def connection_lost(self, exc: Exception | None) -> None:
        """7.1.4: the WebSocket connection is closed."""
        conn = self.connection
        receiving = self._end_of_stream()
        if exc is not None and receiving and conn.handshake_exc is None:
            conn.parser_exc = exc
        conn.data_to_send()
        # Nothing more will be read: the (empty) receive ring's array goes now, not when the
        # cycle collector frees the protocol (up to 256 KiB per closed connection: docs/soak.md).
        conn.reader.close()
        self._after_receive()
        self._cancel_timers()
        self.logger.debug("= connection is CLOSED")
        self._lost_waiter.set_result(None)
        # Pending pings will never be answered.
        closed = self.connection_closed_exc() if conn.state is CLOSED else None
        for ping in self.pings.values():
            if not ping.done():
                if closed is None:
                    ping.cancel()
                else:
                    ping.set_exception(closed)
                    ping.exception()  # retrieved: no "never retrieved" log
        self.pings.clear()
        self._ping_sent.clear()
        for waiter in (self._drain_waiter, self._handshake_waiter, self._recv_waiter):
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        self._drain_waiter = None
        # Nothing more will be parsed (what was held was parsed at the end of the stream): the
        # core's hooks let go of the protocol, so a closed connection is freed by reference
        # counting, not by the cycle collector (docs/soak.md, finding 3).
        conn.on_data = _ignore_data
        conn.on_frame = _ignore_frame
        conn.on_error = None
        conn.on_partial = None
        self.flow.after_parse = _nothing
        # Likewise the loggers' extra: records carry the protocol itself until here, as in
        # websockets 10.x; from now on a weak proxy of it.
        extra = {"websocket": weakref.proxy(self)}
        for adapter in (self.logger, conn.logger):
            if isinstance(adapter, logging.LoggerAdapter):
                adapter.extra = extra

    def pause_writing(self) -> None:
        """The transport's buffer is above write_limit: send() waits."""
        self._writing_paused = True

    def resume_writing(self) -> None:
        """The transport's buffer is below write_limit / 4: waiting send() calls continue."""
        self._writing_paused = False
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # Events from the core.

    def _after_receive(self) -> None:
        """Write what the core produced and handle control events and state changes."""
        conn = self.connection
        if conn.writes:
            self._flush()
        if conn.events:
            for event in conn.events_received():
                if isinstance(event, Frame):
                    if event.opcode is OP_PONG:
                        self._on_pong(event.data)
                    elif event.opcode is OP_CLOSE and self._close_stage == _WAIT_CLOSE_FRAME:
                        self._cancel_close_timer()
                else:
                    self._handshake_response = cast(Response, event)
        if not self._transfer_done and not conn.receiving:
            self._transfer_done = True
            self.flow.finished()
            waiter = self._recv_waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            if self._keepalive_handle is not None:
                self._keepalive_handle.cancel()
                self._keepalive_handle = None
            if conn.state is not CONNECTING:
                self._close_step(_WAIT_TCP_CLOSE)
        waiter = self._handshake_waiter
        if waiter is not None and not waiter.done() and (
            conn.state is not CONNECTING or conn.handshake_exc is not None
        ):
            waiter.set_result(None)

    def _on_pong(self, data: bytes) -> None:
        """A pong answers its ping and every earlier one (RFC 6455 allows skipping pongs)."""
        if data not in self.pings:
            return
        now = time.perf_counter()
        for ping_id in list(self.pings):
            ping = self.pings.pop(ping_id)
            rtt = now - self._ping_sent.pop(ping_id)
            if not ping.done():
                ping.set_result(rtt)
            if ping_id == data:
                self.latency = rtt
                break

    # Sending.

    async def send(
        self, message: Data | bytearray | memoryview | Iterable[Data] | AsyncIterable[Data]
    ) -> None:
        """
        Send a message: str as a text frame, bytes-like as a binary frame, an (async) iterable
        as a fragmented message, one frame per item.

        Raises:
            ConnectionClosed: When the connection is closed.
            TypeError: If ``message`` has an unsupported type (the connection then fails with
                1011 if a fragmented message was started).
        """
        conn = self.connection
        if conn.state is not OPEN or self._transfer_done:
            await self.ensure_open()
        while self._fragmented_waiter is not None:
            await asyncio.shield(self._fragmented_waiter)
            await self.ensure_open()
        if isinstance(message, str):
            data = message.encode()
            conn.send_text(data)
            size = len(data)
        elif isinstance(message, (bytes, bytearray, memoryview)):
            conn.send_binary(message)
            size = len(message)
        elif isinstance(message, Mapping):
            raise TypeError("data is a dict-like object")
        elif isinstance(message, Iterable):
            return await self._send_fragments(iter(message))
        elif isinstance(message, AsyncIterable):
            return await self._send_fragments(aiter(message))
        else:
            raise TypeError("data must be str, bytes-like, or iterable")
        # Speed: a plain call, not `await self._queued(size)`: one coroutine less per message
        # (benchmarks/bench_protocol.py).
        self._schedule_write(size)
        if self._writing_paused:
            await self._drain()

    async def _send_fragments(self, chunks: Any) -> None:
        """Send each item of ``chunks`` (an iterator or async iterator) as one frame."""
        is_async = not hasattr(chunks, "__next__")
        try:
            first = await anext(chunks) if is_async else next(chunks)
        except (StopIteration, StopAsyncIteration):
            return
        opcode, data = prepare_data(first)
        conn = self.connection
        self._fragmented_waiter = self.loop.create_future()
        try:
            if opcode == 1:
                conn.send_text(data, fin=False)
            else:
                conn.send_binary(data, fin=False)
            await self._queued(len(data))
            while True:
                try:
                    chunk = await anext(chunks) if is_async else next(chunks)
                except (StopIteration, StopAsyncIteration):
                    break
                chunk_opcode, data = prepare_data(chunk)
                if chunk_opcode != opcode:
                    raise TypeError("data contains inconsistent types")
                conn.send_continuation(data, fin=False)
                await self._queued(len(data))
            conn.send_continuation(b"", fin=True)
            await self._queued(0)
        except (Exception, asyncio.CancelledError):
            self.fail_connection(1011)
            raise
        finally:
            self._fragmented_waiter.set_result(None)
            self._fragmented_waiter = None

    def _schedule_write(self, size: int) -> None:
        """
        A frame of ``size`` payload bytes was queued by the core: write it now if it is the first
        since we last waited for the peer, else coalesce it with the others of this iteration.
        """
        if not self._burst and self._flush_handle is None:
            # The first frame since we last waited for the peer leaves at once: a request
            # doesn't wait for the end of the loop iteration (benchmarks/e2e.py echo).
            self._burst = True
            self._flush()
            return
        # Speed: coalescing writes turns N sends into one syscall (benchmarks: send 1 KiB).
        self._queued_bytes += size + 14
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self._flush)
        if self._queued_bytes > self.write_limit:
            self._flush()

    async def _queued(self, size: int) -> None:
        """Schedule the write of a queued frame, then wait while the transport is paused."""
        self._schedule_write(size)
        if self._writing_paused:
            await self._drain()

    def _flush(self) -> None:
        """Write every frame the core produced, in order, in as few writes as possible."""
        handle = self._flush_handle
        if handle is not None:
            handle.cancel()
            self._flush_handle = None
        queued, self._queued_bytes = self._queued_bytes, 0
        writes = self.connection.data_to_send()
        transport = self.transport
        if transport.is_closing():
            return
        if SEND_EOF in writes:
            index = writes.index(SEND_EOF)
            if index:
                transport.write(b"".join(writes[:index]))
            # A client half-closes only after the server's EOF; TLS can't half-close.
            if transport.can_write_eof():
                transport.write_eof()
        elif len(writes) == 1:
            transport.write(writes[0])
        elif queued > 65536:
            # Big frames: no join, which would copy them once more.
            transport.writelines(writes)
        elif writes:
            transport.write(b"".join(writes))

    async def _drain(self) -> None:
        """Wait until the transport's buffer is below the low-water mark."""
        while self._writing_paused:
            if self._lost_waiter.done():
                await self.ensure_open()
            waiter = self._drain_waiter
            if waiter is None:
                waiter = self._drain_waiter = self.loop.create_future()
            await asyncio.shield(waiter)

    async def ping(self, data: Data | bytearray | memoryview | None = None) -> Awaitable[float]:
        """
        Send a ping; return a future that completes with the round-trip time (seconds) when the
        matching pong arrives. A pong also answers every earlier ping.

        Args:
            data: payload (a str is UTF-8 encoded); None picks 4 random bytes.

        Raises:
            ConnectionClosed: When the connection is closed.
            RuntimeError: If a ping with the same payload is still waiting for its pong.
        """
        await self.ensure_open()
        payload = None if data is None else prepare_ctrl(data)
        if payload in self.pings:
            raise RuntimeError("already waiting for a pong with the same data")
        while payload is None or payload in self.pings:
            payload = struct.pack("!I", random.getrandbits(32))
        waiter = self._send_ping(payload)
        if self._writing_paused:
            await self._drain()
        return self._shielded(waiter)

    def _shielded(self, inner: asyncio.Future[float]) -> asyncio.Future[float]:
        """
        A future that follows ``inner`` but whose cancellation doesn't affect it; if ``inner``
        fails (connection closed), so does it, without a "never retrieved" log if nobody waits.
        """
        outer: asyncio.Future[float] = self.loop.create_future()

        def relay(inner: asyncio.Future[float]) -> None:
            if outer.done():
                return
            if inner.cancelled():
                outer.cancel()
            elif (exc := inner.exception()) is not None:
                outer.set_exception(exc)
                outer.exception()
            else:
                outer.set_result(inner.result())

        inner.add_done_callback(relay)
        return outer

    def _send_ping(self, payload: bytes) -> asyncio.Future[float]:
        waiter: asyncio.Future[float] = self.loop.create_future()
        self.pings[payload] = waiter
        self._ping_sent[payload] = time.perf_counter()
        self.connection.send_ping(payload)
        self._flush()
        return waiter

    async def pong(self, data: Data | bytearray | memoryview = b"") -> None:
        """
        Send an unsolicited pong (a one-way heartbeat); a str is UTF-8 encoded.

        Raises:
            ConnectionClosed: When the connection is closed.
        """
        await self.ensure_open()
        self.connection.send_pong(prepare_ctrl(data))
        await self._queued(len(data))

    # Keepalive: timers, no task.

    def _start_keepalive(self) -> None:
        if self.ping_interval is not None:
            self._keepalive_handle = self.loop.call_later(self.ping_interval, self._keepalive)

    def _keepalive(self) -> None:
        self._keepalive_handle = None
        if not self.open:
            return
        if self.debug:
            self.logger.debug("% sending keepalive ping")
        payload = None
        while payload is None or payload in self.pings:
            payload = struct.pack("!I", random.getrandbits(32))
        waiter = self._send_ping(payload)
        if self.ping_timeout is None:
            self._start_keepalive()
            return
        self._keepalive_data = payload
        waiter.add_done_callback(self._keepalive_answered)
        self._arm_keepalive_timeout()

    def _arm_keepalive_timeout(self) -> None:
        assert self.ping_timeout is not None
        self._keepalive_grace = 0
        self._keepalive_graced = False
        self._keepalive_handle = self.loop.call_later(self.ping_timeout, self._keepalive_expired)

    def _keepalive_answered(self, waiter: asyncio.Future[float]) -> None:
        if waiter.cancelled() or waiter.exception() is not None:
            return
        if self.debug:
            self.logger.debug("% received keepalive pong")
        if self._keepalive_handle is not None:
            self._keepalive_handle.cancel()
        self._keepalive_deferred = False
        self._keepalive_grace = 0
        self._keepalive_data = None
        self._start_keepalive()

    def _keepalive_expired(self) -> None:
        self._keepalive_handle = None
        if self._keepalive_data not in self.pings:  # pragma: no cover - answered meanwhile
            return
        if self.connection.paused:
            # The pong may be waiting, unread, behind messages the application hasn't taken
            # yet (max_queue reached): that's our backpressure, not a dead peer. Restart the
            # timeout once parsing resumes. (websockets 10.x fails with 1011 here.)
            self._keepalive_deferred = True
            return
        if not self._keepalive_graced:
            self._keepalive_graced = True
            unread = unread_bytes(self.transport)
            if unread:
                # The loop was busy: the pong may be in the socket already, behind bytes not
                # read yet (the timer runs after one read per iteration). Read those first;
                # if they don't hold it, fail then (or after ping_timeout more, whichever
                # comes first). docs/api.md, difference 2.
                if self.debug:
                    self.logger.debug("%% reading %d bytes before judging the pong", unread)
                self._keepalive_grace = unread
                self._keepalive_handle = self.loop.call_later(
                    cast(float, self.ping_timeout), self._keepalive_expired
                )
                return
        if self.debug:
            self.logger.debug("! timed out waiting for keepalive pong")
        self.fail_connection(1011, "keepalive ping timeout")

    def _keepalive_grace_read(self, nbytes: int) -> None:
        """Bytes read while the pong is overdue: once those unread at the time are, judge."""
        self._keepalive_grace -= nbytes
        if self._keepalive_grace <= 0:
            self._keepalive_grace = 0
            handle = self._keepalive_handle
            if handle is not None:
                handle.cancel()
                self._keepalive_expired()

    # Closing.

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """
        Perform the closing handshake and wait for the TCP connection to close.

        Idempotent. Completes in at most about 5 x close_timeout.

        Raises:
            ProtocolError: If ``code`` isn't a valid close code.
        """
        conn = self.connection
        if conn.state is OPEN:
            Close(code, reason).check()
            # Closing abandons a fragmented message being sent, as websockets 10.x does.
            conn.expect_continuation_frame = False
            conn.send_close(code, reason)
            self._flush()
            if conn.receiving:
                self._close_step(_WAIT_CLOSE_FRAME)
                # The server's close frame may wait behind messages nobody will read now:
                # parse on, keeping at most max_queue of them. (websockets 10.x waited the
                # timeouts out and closed with 1006.)
                self.flow.closing()
            if self._writing_paused:
                try:
                    await asyncio.wait_for(self._drain(), self.close_timeout)
                except (asyncio.TimeoutError, ConnectionClosed):
                    self.fail_connection()
        elif conn.state is CONNECTING:
            self.fail_connection()
        await self.wait_closed()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed."""
        await asyncio.shield(self._lost_waiter)

    def fail_connection(self, code: int = 1006, reason: str = "") -> None:
        """
        Fail the connection (RFC 6455 section 7.1.7): send a close frame with ``code`` if the
        connection is open (not for 1006), stop processing input, then close TCP.
        """
        if self.debug:
            self.logger.debug("! failing connection with code %d", code)
        conn = self.connection
        if conn.state is CONNECTING or not hasattr(self, "transport"):
            conn.fail(1006)
            self._after_receive()
            if hasattr(self, "transport") and not self._lost_waiter.done():
                self._close_step(_WAIT_AFTER_CLOSE)
            return
        if conn.state is OPEN and code != 1006 and conn.close_rcvd is None:
            conn.fail(code, reason)
        else:
            conn.fail(1006)
        self._after_receive()
        if self._close_stage < _WAIT_TCP_CLOSE and not self._lost_waiter.done():
            self._close_step(_WAIT_TCP_CLOSE)

    def _close_step(self, stage: int) -> None:
        """Enter a closing stage; each one ends when TCP closes or after close_timeout."""
        if self._lost_waiter.done() or stage <= self._close_stage:
            return
        self._cancel_close_timer()
        self._close_stage = stage
        transport = self.transport
        if stage == _WAIT_AFTER_EOF:
            if self.debug:
                self.logger.debug("x half-closing TCP connection")
            try:
                transport.write_eof()
            except (OSError, RuntimeError):  # pragma: no cover
                pass
        elif stage == _WAIT_AFTER_CLOSE:
            if self.debug:
                self.logger.debug("x closing TCP connection")
            transport.close()
        self._close_handle = self.loop.call_later(self.close_timeout, self._close_timeout)

    def _close_timeout(self) -> None:
        self._close_handle = None
        stage = self._close_stage
        if stage == _WAIT_CLOSE_FRAME:
            # The server didn't answer our close frame: stop waiting for it.
            self.connection.fail(1006)
            self._after_receive()
            return
        if self.debug:
            self.logger.debug("! timed out waiting for TCP close")
        if stage == _WAIT_TCP_CLOSE and self.transport.can_write_eof():
            self._close_step(_WAIT_AFTER_EOF)
        elif stage < _WAIT_AFTER_CLOSE:
            self._close_step(_WAIT_AFTER_CLOSE)
        else:
            if self.debug:
                self.logger.debug("x aborting TCP connection")
            self.transport.abort()

    def _cancel_close_timer(self) -> None:
        if self._close_handle is not None:
            self._close_handle.cancel()
            self._close_handle = None

    def _cancel_timers(self) -> None:
        self._cancel_close_timer()
        for handle in (self._keepalive_handle, self._flush_handle):
            if handle is not None:
                handle.cancel()
        self._keepalive_handle = self._flush_handle = None

    async def ensure_open(self) -> None:
        """
        Return if the connection is open; otherwise wait until it is closed and raise.

        Raises:
            ConnectionClosed: When the connection is closing or closed.
            InvalidState: Before the opening handshake completes.
        """
        state = self.connection.state
        if state is OPEN and not self._transfer_done:
            return
        if state is CONNECTING and self.connection.handshake_exc is None:
            raise InvalidState("WebSocket connection isn't established yet")
        await self.wait_closed()
        raise self.connection_closed_exc()

    def connection_closed_exc(self) -> ConnectionClosed:
        """The ConnectionClosedOK or ConnectionClosedError describing how the connection ended."""
        return self.connection.close_exc


class WebSocketClientProtocol(WebSocketCommonProtocol):
    """
    WebSocket client connection: ``recv()``, ``send()``, ``close()``, ``ping()``, ``pong()``
    and async iteration over messages, as in websockets 10.x.

    Subclasses passed as ``create_protocol`` must not rely on ``data_received``: this is an
    :class:`asyncio.BufferedProtocol`, and the transport calls ``get_buffer``/``buffer_updated``.

    Args:
        logger: see :func:`fastws.connect`.
        origin: value of the Origin header.
        extensions: extension factories to offer.
        subprotocols: subprotocols to offer.
        extra_headers: extra HTTP headers of the handshake request.
        kwargs: see :class:`WebSocketCommonProtocol`.
    """

    __slots__ = (
        "origin",
        "available_extensions",
        "available_subprotocols",
        "extra_headers",
    )

    def __init__(
        self,
        *,
        logger: LoggerLike | None = None,
        origin: Origin | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[Subprotocol] | None = None,
        extra_headers: HeadersLike | None = None,
        **kwargs: Any,
    ) -> None:
        if logger is None:
            logger = logging.getLogger("websockets.client")
        super().__init__(logger=logger, **kwargs)
        self.origin = origin
        self.available_extensions = extensions
        self.available_subprotocols = subprotocols
        self.extra_headers = extra_headers

    async def handshake(
        self,
        wsuri: WebSocketURI,
        origin: Origin | None = None,
        available_extensions: Sequence[ClientExtensionFactory] | None = None,
        available_subprotocols: Sequence[Subprotocol] | None = None,
        extra_headers: HeadersLike | None = None,
    ) -> None:
        """
        Perform the opening handshake (RFC 6455 section 4.1).

        Raises:
            InvalidHandshake: If the server refuses or answers wrongly (InvalidStatusCode for a
                non-101 status, InvalidMessage for a response that isn't valid HTTP...).
            RedirectHandshake: If the server redirects (connect() follows it).
        """
        conn = self.connection
        conn.wsuri = wsuri
        conn.origin = origin
        conn.available_extensions = available_extensions
        conn.available_subprotocols = available_subprotocols
        request = conn.connect()
        headers = request.headers
        del headers["User-Agent"]
        if extra_headers is not None:
            headers.update(extra_headers)
        headers.setdefault("User-Agent", USER_AGENT)
        self.path = request.path
        self.request_headers = headers
        waiter = self._handshake_waiter = self.loop.create_future()
        conn.send_request(request)
        self._flush()
        try:
            await waiter
        finally:
            self._handshake_waiter = None
        response = self._handshake_response
        self._handshake_response = None
        exc = conn.handshake_exc
        if isinstance(exc, InvalidStatus):
            status = exc.response.status_code
            response_headers = exc.response.headers
            self.response_headers = response_headers
            if status in _REDIRECTS:
                if "Location" not in response_headers:
                    raise InvalidHeader("Location")
                raise RedirectHandshake(response_headers["Location"])
            raise InvalidStatusCode(status, response_headers)
        if exc is not None:
            if response is not None:
                self.response_headers = response.headers
            if isinstance(exc, InvalidUpgrade) and exc.value is None:
                # The 10.x asyncio client words a missing Upgrade/Connection header "empty".
                raise InvalidUpgrade(exc.name, "") from exc
            raise exc
        if response is None:  # connection lost before the response
            raise self.connection_closed_exc()
        self.response_headers = response.headers
        self.extensions = conn.extensions
        self.subprotocol = conn.subprotocol
        self._start_keepalive()
