"""
The Sans-I/O WebSocket connection (RFC 6455): bytes in, events and bytes out; no I/O, no clock.

Receiving: the network's bytes land in a :class:`~fastws.buffers.RingBuffer` (copied by
:meth:`Connection.receive_data`, or written there directly by the transport through
:meth:`Connection.get_buffer` / :meth:`Connection.receive_buffered`). A cursor parser then reads
whole frames in place: two header bytes are read from the ring, the payload is handed over as a
view of the ring, and nothing else is allocated per frame. A large payload is received into
buffers of its own (the *sink*), which the transport fills directly; they grow with what
arrives, never with what a header announces.

Data frames go to :attr:`Connection.on_data` (by default: append a :class:`~fastws.frames.Frame`
to the events); control frames are handled here (pong, closing handshake) and appended to the
events. Protocol errors become close frames with the right code in one place, :meth:`_parse`.

Sending: ``send_*()`` check the state and the fragmentation rules, build the masked frame in one
buffer, and queue it for :meth:`Connection.data_to_send`.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Union

from .buffers import RingBuffer
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    PayloadTooBig,
    ProtocolError,
)
from .frames import (
    OK_CLOSE_CODES,
    OP_CLOSE,
    OP_PING,
    OPCODES,
    Close,
    Frame,
    encode_header,
)
from .mask import _FRAME_INT_MAX, _KEY_REPEATS, apply_mask, masked_frame, random_mask_key
from .typing import BytesLike, LoggerLike, Origin, Subprotocol

if TYPE_CHECKING:  # pragma: no cover
    from .extensions.base import Extension
    from .http11 import Request, Response

__all__ = [
    "Connection",
    "Side",
    "State",
    "SEND_EOF",
    "SERVER",
    "CLIENT",
    "CONNECTING",
    "OPEN",
    "CLOSING",
    "CLOSED",
    "Event",
]

Event = Union["Request", "Response", Frame]
"""What :meth:`Connection.events_received` returns."""


class Side(enum.IntEnum):
    """Which end of the connection this is."""

    SERVER, CLIENT = range(2)


SERVER = Side.SERVER
CLIENT = Side.CLIENT


class State(enum.IntEnum):
    """Connection state (RFC 6455 sections 4.1, 4.2, 7.1.3 and 7.1.4)."""

    CONNECTING, OPEN, CLOSING, CLOSED = range(4)


CONNECTING = State.CONNECTING
OPEN = State.OPEN
CLOSING = State.CLOSING
CLOSED = State.CLOSED

SEND_EOF = b""
"""Written by :meth:`Connection.data_to_send` when the TCP connection must be half-closed."""

# Receive states of the cursor parser (plain ints: compared on every frame).
_HEADER = 0  # waiting for (the rest of) a frame in the ring
_SINK = 1  # streaming a large payload into its own buffer
_DISCARD = 2  # closing handshake done or connection failed: drop everything until EOF
_HANDSHAKE = 3  # client waiting for the HTTP response (see fastws.client)

#: Payloads at least this large that are not yet complete are received into buffers of their
#: own (the sink), which the transport fills directly, instead of growing the ring. The sink's
#: first buffer holds at most this much; each next one as much as arrived so far (doubling).
#: Speed: 128 KiB rather than 16 KiB (benchmarks/e2e.py recv_64k; benchmarks/README.md).
SINK_MIN = 2**17

#: Initial and maximum size of the receive ring, in bytes (see fastws.buffers).
RING_INITIAL = 1024
RING_MAX = 2**18
#: An empty ring larger than this is released after a small read.
RING_SHRINK = 4 * RING_INITIAL

# Opcodes allowed by RFC 6455 section 5.2, indexed by the low nibble of the first byte.
_VALID_OPCODE = (True, True, True, False, False, False, False, False) + (True,) * 3 + (False,) * 5

_from_bytes = int.from_bytes

# No large payload in progress: every connection shares these (never written to).
_NO_SINK = bytearray()
_NO_SINK_VIEW = memoryview(_NO_SINK)

# 5.2: "the most significant bit MUST be 0" in a 64-bit payload length.
_MAX_LENGTH = 2**63 - 1

# Close reasons longer than this don't fit in a control frame (125 - 2 bytes of code).
_MAX_REASON = 123


class Connection:
    """
    Sans-I/O WebSocket connection, for either side.

    Args:
        side: :data:`CLIENT` or :data:`SERVER`.
        state: initial state; subclasses that perform the opening handshake start CONNECTING.
        max_size: largest incoming message in bytes; None disables the limit.
        logger: logger for this connection; defaults to ``logging.getLogger("websockets.client")``
            or ``"websockets.server"`` (the websockets names, so existing logging setups apply).

    Attributes:
        id: unique identifier of the connection, for logs.
        logger: the logger.
        on_data: called as ``on_data(first_byte, payload)`` for each data frame of a connection
            without extensions; ``payload`` is a view valid only during the call. The default
            appends a :class:`Frame` to the events. The asyncio layer replaces it.
        on_frame: called with each data :class:`Frame` decoded by extensions; the default
            appends it to the events.
        mask_key: returns the 4-byte masking key of each sent frame (injectable for tests).
        paused: while True, the parser stops before the next data frame and keeps the bytes
            buffered; set it from ``on_data`` and call :meth:`resume_parsing` later.
        on_error: if set, called with a protocol error found in a frame's header before the
            connection fails; returning True postpones the failure: the frame stays buffered,
            parsing pauses, and :meth:`resume_parsing` meets the error again. The asyncio layer
            uses it so that messages received before a bad frame can be read (and answered)
            before the connection fails.
        on_partial: if set, called as ``on_partial(first_byte, offset, data)`` when a data
            frame is incomplete and more of its payload arrived: ``data`` (a view, valid during
            the call) is the payload from ``offset``; successive calls for one frame cover it
            without gaps, possibly overlapping. The asyncio layer validates UTF-8 as text
            arrives, to fail fast (Autobahn 6.4.3).
        failure_reasons: when False, close frames sent on a parser failure carry an empty reason
            (as the websockets 10.x asyncio client sends) instead of the error's text.
        failure_log: the message logged at ERROR level when the parser fails unexpectedly.
    """

    # Slots: a connection's attributes cost 8 bytes each instead of a dict (profiling/: memory
    # per idle connection); __dict__ keeps arbitrary attributes possible.
    __slots__ = (
        "_id",
        "logger",
        "debug",
        "side",
        "_state",
        "max_size",
        "cur_size",
        "expect_continuation_frame",
        "origin",
        "extensions",
        "subprotocol",
        "close_rcvd",
        "close_sent",
        "close_rcvd_then_sent",
        "handshake_exc",
        "eof_sent",
        "parser_exc",
        "events",
        "writes",
        "reader",
        "on_data",
        "on_frame",
        "mask_key",
        "paused",
        "on_error",
        "on_partial",
        "_unconsumed",
        "failure_reasons",
        "failure_log",
        "_rstate",
        "_eof_rcvd",
        "_sink",
        "_sink_chunks",
        "_sink_view",
        "_sink_pos",
        "_sink_have",
        "_sink_length",
        "_sink_b0",
        "__dict__",
    )

    def __init__(
        self,
        side: Side,
        state: State = OPEN,
        max_size: int | None = 2**20,
        logger: LoggerLike | None = None,
    ) -> None:
        self._id: uuid.UUID | None = None
        if logger is None:
            logger = logging.getLogger(f"websockets.{side.name.lower()}")
        self.logger: LoggerLike = logger
        self.debug = logger.isEnabledFor(logging.DEBUG)
        self.side = side
        self._state = state
        if self.debug:  # websockets 10.x logs the initial state too
            self.logger.debug("= connection is %s", state.name)
        self.max_size = max_size
        # Size of the fragmented message being received; None between messages.
        self.cur_size: int | None = None
        # True while a fragmented message is being sent.
        self.expect_continuation_frame = False
        self.origin: Origin | None = None
        self.extensions: list[Extension] = []
        self.subprotocol: Subprotocol | None = None
        self.close_rcvd: Close | None = None
        self.close_sent: Close | None = None
        self.close_rcvd_then_sent: bool | None = None
        self.handshake_exc: Exception | None = None
        self.eof_sent = False
        self.parser_exc: Exception | None = None
        self.events: list[Event] = []
        self.writes: list[bytes | bytearray] = []
        self.reader = RingBuffer(RING_INITIAL, RING_MAX)
        self.on_data: Callable[[int, BytesLike], None] = self._data_frame_event
        self.on_frame: Callable[[Frame], None] = self._frame_event
        self.mask_key: Callable[[], bytes] = random_mask_key
        self.paused = False
        self.on_error: Callable[[Exception], bool] | None = None
        self.on_partial: Callable[[int, int, BytesLike], None] | None = None
        self._unconsumed = False
        self.failure_reasons = True
        self.failure_log = "parser failed"
        self._rstate = _HEADER
        self._eof_rcvd = False
        # The sink: the buffer being filled (and a view of it), the bytes written into it, the
        # full buffers before it, the payload bytes received in all, and the payload's length.
        self._sink = _NO_SINK
        self._sink_view = _NO_SINK_VIEW
        self._sink_pos = 0
        self._sink_chunks: list[bytearray] = []
        self._sink_have = 0
        self._sink_length = 0
        self._sink_b0 = 0

    # State.

    @property
    def id(self) -> uuid.UUID:
        """Unique identifier of the connection, for logs (made on first use: it costs memory)."""
        if self._id is None:
            self._id = uuid.uuid4()
        return self._id

    @property
    def state(self) -> State:
        """Connection state (RFC 6455 sections 4.1, 4.2, 7.1.3 and 7.1.4)."""
        return self._state

    @state.setter
    def state(self, state: State) -> None:
        if self.debug:
            self.logger.debug("= connection is %s", state.name)
        self._state = state

    @property
    def close_code(self) -> int | None:
        """Close code (RFC 6455 section 7.1.5): None until CLOSED, 1006 if none was received."""
        if self._state is not CLOSED:
            return None
        return 1006 if self.close_rcvd is None else self.close_rcvd.code

    @property
    def close_reason(self) -> str | None:
        """Close reason (RFC 6455 section 7.1.6): None until CLOSED, "" if none was received."""
        if self._state is not CLOSED:
            return None
        return "" if self.close_rcvd is None else self.close_rcvd.reason

    @property
    def close_exc(self) -> ConnectionClosed:
        """
        The exception to raise when the application uses the closed connection.

        Its ``__cause__`` is the parser's exception, if any.

        Raises:
            AssertionError: If the connection isn't CLOSED yet.
        """
        assert self._state is CLOSED, "connection isn't closed yet"
        rcvd, sent = self.close_rcvd, self.close_sent
        ok = (
            rcvd is not None
            and sent is not None
            and rcvd.code in OK_CLOSE_CODES
            and sent.code in OK_CLOSE_CODES
        )
        exc_type = ConnectionClosedOK if ok else ConnectionClosedError
        exc = exc_type(rcvd, sent, self.close_rcvd_then_sent)
        exc.__cause__ = self.parser_exc
        return exc

    @property
    def buffered(self) -> int:
        """
        Bytes received and held by the parser: the ring's, plus a large payload's so far.

        While :attr:`paused` is False, this is at most one incomplete frame.
        """
        if self._rstate == _SINK:
            return self.reader.size + self._sink_have
        return self.reader.size

    @property
    def receiving(self) -> bool:
        """True while the peer's frames may still be delivered (no close frame, failure, EOF)."""
        # After EOF, frames held while parsing is paused are still delivered (resume_parsing).
        return self._rstate != _DISCARD and not (self._eof_rcvd and not self.paused)

    # Receiving.

    def receive_data(self, data: BytesLike) -> None:
        """
        Feed bytes received from the network, in chunks of any size.

        Then call :meth:`data_to_send` (and write what it returns), and :meth:`events_received`.
        What the connection keeps is what the frames in progress need (and, while
        :attr:`paused`, the bytes not parsed yet): the chunk is fed through the same buffers
        as :meth:`get_buffer`, a region at a time.

        Raises:
            EOFError: If :meth:`receive_eof` was called earlier.
        """
        if self._eof_rcvd:
            raise EOFError("stream ended")
        with memoryview(data) as src:
            if src.format != "B" or src.ndim != 1:
                src = src.cast("B")
            n = len(src)
            if not n:
                self._parse()
            pos = 0
            while pos < n:
                if self._rstate == _DISCARD:
                    self.reader.clear()
                    return
                region = self.get_buffer()
                k = min(len(region), n - pos)
                region[:k] = src[pos : pos + k]
                region.release()
                pos += k
                self.receive_buffered(k)

    def get_buffer(self) -> memoryview:
        """
        Return a writable view for the transport to read into (``BufferedProtocol.get_buffer``).

        It is never empty. Call :meth:`receive_buffered` with the number of bytes written.

        Raises:
            EOFError: If :meth:`receive_eof` was called earlier.
        """
        if self._eof_rcvd:
            raise EOFError("stream ended")
        if self._rstate == _SINK:
            return self._sink_view[self._sink_pos :]
        return self.reader.writable()

    def receive_buffered(self, nbytes: int) -> None:
        """
        Process ``nbytes`` written into the view from :meth:`get_buffer` (the zero-copy
        twin of :meth:`receive_data`).
        """
        if self._rstate == _SINK:
            pos = self._sink_pos
            self._sink_pos = pos + nbytes
            have = self._sink_have
            self._sink_have = have + nbytes
            if self._sink_have == self._sink_length:
                self._finish_sink()
                self._parse()
                return
            try:
                if self.on_partial is not None and not self.extensions:
                    self.on_partial(self._sink_b0, have, self._sink_view[pos : pos + nbytes])
                if self._sink_pos == len(self._sink):
                    self._next_sink_buffer()
            except Exception as exc:
                self._fail_on(exc)
            return
        ring = self.reader
        ring.commit(nbytes)
        if self._rstate == _DISCARD:
            ring.clear()
            return
        self._parse()
        # A read that found the socket drained (less than half what the ring could take) ends
        # a burst: the empty, grown ring is released, so that idle connections hold no buffer
        # (benchmarks/e2e.py conn_10k: RSS per connection after 100 messages).
        if not ring.size and nbytes * 2 < ring.capacity > RING_SHRINK:
            ring.release()

    def receive_eof(self) -> None:
        """
        Record the end of the data stream; then call :meth:`data_to_send`.

        While :attr:`paused` with bytes held, nothing is lost: the frames held are delivered
        when :meth:`resume_parsing` is called, and the end of the stream is handled after them.

        Raises:
            EOFError: If :meth:`receive_eof` was called earlier.
        """
        if self._eof_rcvd:
            raise EOFError("stream ended")
        self._eof_rcvd = True
        if self.debug:
            self.logger.debug("< EOF")
        if self._rstate == _DISCARD:
            self._closed_by_peer()
        elif self._rstate == _HANDSHAKE:
            self._parse()
        elif not (self.paused and self.reader.size):
            self._fail_on(EOFError(self._eof_message()))
        # else: frames held while parsing is paused come first; resume_parsing() handles the
        # end of the stream once they are parsed.

    def resume_parsing(self) -> None:
        """
        Clear :attr:`paused` and parse the frames that were left buffered.

        If :meth:`receive_eof` was called while they were held, the end of the stream is
        handled once they are all parsed (a close frame among them, or a bad frame, takes
        precedence over EOF), then call :meth:`data_to_send`.
        """
        self.paused = False
        if self._rstate == _HEADER:
            self._parse()
            if self._eof_rcvd and not self.paused and self._rstate != _DISCARD:
                self._fail_on(EOFError(self._eof_message()))
            # Parked bytes all parsed: a grown ring is released as after a burst (with
            # max_queue reached, receive_buffered() found it non-empty).
            ring = self.reader
            if not ring.size and ring.capacity > RING_SHRINK:
                ring.release()

    # Sending.

    def send_continuation(self, data: BytesLike, fin: bool) -> None:
        """
        Send a Continuation frame (RFC 6455 section 5.4).

        Args:
            data: payload of the same kind as the frame that started the message.
            fin: True on the last frame of the message.

        Raises:
            ProtocolError: If no fragmented message is in progress.
            InvalidState: If the connection isn't OPEN.
        """
        if not self.expect_continuation_frame:
            raise ProtocolError("unexpected continuation frame")
        self.expect_continuation_frame = not fin
        self._send_frame(0x80 if fin else 0x00, data)

    def send_text(self, data: BytesLike, fin: bool = True) -> None:
        """
        Send a Text frame (RFC 6455 section 5.6).

        Args:
            data: UTF-8 encoded text.
            fin: False on the first frame of a fragmented message.

        Raises:
            ProtocolError: If a fragmented message is in progress.
            InvalidState: If the connection isn't OPEN.
        """
        if self.expect_continuation_frame:
            raise ProtocolError("expected a continuation frame")
        self.expect_continuation_frame = not fin
        self._send_frame(0x81 if fin else 0x01, data)

    def send_binary(self, data: BytesLike, fin: bool = True) -> None:
        """
        Send a Binary frame (RFC 6455 section 5.6).

        Args:
            data: payload.
            fin: False on the first frame of a fragmented message.

        Raises:
            ProtocolError: If a fragmented message is in progress.
            InvalidState: If the connection isn't OPEN.
        """
        if self.expect_continuation_frame:
            raise ProtocolError("expected a continuation frame")
        self.expect_continuation_frame = not fin
        self._send_frame(0x82 if fin else 0x02, data)

    def send_close(self, code: int | None = None, reason: str = "") -> None:
        """
        Send a Close frame and start the closing handshake (RFC 6455 section 7.1.2).

        Args:
            code: close code; None sends a close frame without payload.
            reason: close reason; requires a code.

        Raises:
            ProtocolError: If a fragmented message is being sent, the code is invalid, or a
                reason comes without a code.
            InvalidState: If the connection isn't OPEN.
        """
        if self.expect_continuation_frame:
            raise ProtocolError("expected a continuation frame")
        if code is None:
            if reason != "":
                raise ProtocolError("cannot send a reason without a code")
            close = Close(1005, "")
            data = b""
        else:
            close = Close(code, reason)
            data = close.serialize()
        self._send_frame(0x88, data)
        self.close_sent = close
        self.state = CLOSING

    def send_ping(self, data: BytesLike) -> None:
        """
        Send a Ping frame (RFC 6455 section 5.5.2).

        Raises:
            ProtocolError: If ``data`` is longer than 125 bytes.
            InvalidState: If the connection isn't OPEN.
        """
        self._send_frame(0x89, data)

    def send_pong(self, data: BytesLike) -> None:
        """
        Send a Pong frame (RFC 6455 section 5.5.3).

        Raises:
            ProtocolError: If ``data`` is longer than 125 bytes.
            InvalidState: If the connection isn't OPEN.
        """
        self._send_frame(0x8A, data)

    def fail(self, code: int, reason: str = "") -> None:
        """
        Fail the WebSocket connection (RFC 6455 section 7.1.7).

        Sends a close frame if the connection is OPEN and ``code`` isn't 1006, then discards
        everything received until EOF.

        Args:
            code: close code.
            reason: close reason.

        Raises:
            ProtocolError: If the code isn't valid.
        """
        if self._state is OPEN and code != 1006:
            close = Close(code, reason)
            data = close.serialize()
            self._send_frame(0x88, data)
            self.close_sent = close
            self.state = CLOSING
        # A server closes the TCP connection at once; a client waits for the server to.
        if self.side is SERVER and not self.eof_sent:
            self._send_eof()
        # 7.1.7: "An endpoint MUST NOT continue to attempt to process data (including a
        # responding Close frame) from the remote endpoint after being instructed to _Fail the
        # WebSocket Connection_."
        self._discard()

    def events_received(self) -> list[Event]:
        """
        Return the events (Response, then Frames) generated since the last call.

        Call it after each ``receive_*()`` call.
        """
        events, self.events = self.events, []
        return events

    def data_to_send(self) -> list[bytes | bytearray]:
        """
        Return the bytes to write to the network since the last call.

        :data:`SEND_EOF` (``b""``) in the list means: half-close the TCP connection.
        Call it after each ``receive_*()``, ``send_*()`` and :meth:`fail` call.
        """
        writes, self.writes = self.writes, []
        return writes

    def close_expected(self) -> bool:
        """
        Tell whether the TCP connection should close soon.

        If True, the I/O layer closes it after a timeout unless the peer does first.
        """
        # We expect the TCP connection to close once we sent a close frame (state CLOSING), or
        # when the opening handshake failed.
        return self._state is CLOSING or self.handshake_exc is not None

    # Parsing.

    def _parse(self) -> None:
        """Run the parser; map its errors to close codes (the only place that does)."""
        self._unconsumed = False
        try:
            if self._rstate == _HEADER:
                self._parse_frames()
            elif self._rstate == _HANDSHAKE:
                self._parse_handshake()
            elif self._rstate == _DISCARD:  # pragma: no branch
                self.reader.clear()
        except Exception as exc:
            if self._unconsumed and self.on_error is not None and self.on_error(exc):
                # Postponed: the bad frame stays in the ring; resume_parsing() meets it again.
                self._unconsumed = False
                self.paused = True
                return
            self._fail_on(exc)

    def _fail_on(self, exc: Exception) -> None:
        """Fail the connection with the close code that matches ``exc``."""
        if isinstance(exc, ProtocolError):
            code, reason = 1002, str(exc)
        elif isinstance(exc, EOFError):
            code, reason = 1006, str(exc)
        elif isinstance(exc, UnicodeDecodeError):
            code, reason = 1007, f"{exc.reason} at position {exc.start}"
        elif isinstance(exc, PayloadTooBig):
            code, reason = 1009, str(exc)
        else:
            self.logger.error(self.failure_log, exc_info=exc)
            # Don't send exception details to the peer: they may be sensitive.
            code, reason = 1011, ""
        if not self.failure_reasons:
            reason = ""
        elif len(reason) > _MAX_REASON:
            reason = reason.encode()[: _MAX_REASON - 3].decode(errors="ignore") + "..."
        self.parser_exc = exc
        self.fail(code, reason)

    def _parse_handshake(self) -> None:
        """Parse the opening handshake; overridden by :class:`fastws.client.ClientConnection`."""
        raise NotImplementedError  # pragma: no cover

    def _parse_frames(self) -> None:
        """Parse every complete frame in the ring (the hot loop)."""
        ring = self.reader
        mask_expected = self.side is SERVER
        max_size = self.max_size
        # The fast path below holds for the whole call or not at all.
        fast = not (mask_expected or self.debug) and (max_size is None or max_size >= 125)
        # With permessage-deflate alone, single-frame compressed messages (FIN, RSV1) take it
        # too, inflated in place (benchmarks/e2e.py recv_100_deflate); other extensions don't.
        inflate = None
        extensions = self.extensions
        if extensions:
            inflate = getattr(extensions[0], "inflate_message", None)
            if inflate is None or len(extensions) > 1:
                fast = False
        on_data = self.on_data
        while not self.paused:
            size = ring.size
            if size < 2:
                return
            buf = ring.buf
            cap = ring.capacity
            start = ring.start
            if fast and self.cur_size is None:
                # Speed: unfragmented text/binary frames with a 7- or 16-bit length that don't
                # cross the seam skip the general checks (benchmarks/bench_parse.py).
                # (Offsets above 256 are new int objects: the loop makes as few as it can,
                # profiling/README.md "Allocations per received message".)
                view = ring.view
                last = cap - 3  # a 4-byte header starting before it doesn't cross the seam
                while start < last:
                    b0 = buf[start]
                    if (
                        b0 != 0x81
                        and b0 != 0x82
                        and (inflate is None or (b0 != 0xC1 and b0 != 0xC2))
                    ):
                        break
                    length = buf[start + 1]
                    if length < 126:
                        pstart = start + 2
                    elif length == 126:  # 16-bit length; 127 (64-bit) and masked go below
                        length = buf[start + 2] << 8 | buf[start + 3]
                        if max_size is not None and length > max_size:
                            break
                        pstart = start + 4
                    else:
                        break
                    end = pstart + length
                    total = end - start
                    if end > cap or total > size:
                        break
                    size -= total
                    ring.size = size
                    ring.start = end if end < cap else 0
                    if b0 < 0xC0:
                        on_data(b0, view[pstart:end])
                    else:
                        on_data(b0 ^ 0x40, inflate(view[pstart:end], max_size))  # type: ignore[misc]
                    if self.paused or size < 2:
                        return
                    start = ring.start
                buf = ring.buf
            # Errors raised until the frame is consumed leave it in the ring (see on_error).
            self._unconsumed = True
            b0 = buf[start]
            b1 = buf[start + 1] if start + 1 < cap else buf[0]
            # 5.2: reserved opcodes must fail the connection.
            if not _VALID_OPCODE[b0 & 0x0F]:
                raise ProtocolError("invalid opcode")
            # 5.1: "A client MUST close a connection if it detects a masked frame."
            if (b1 >= 0x80) is not mask_expected:
                raise ProtocolError("incorrect masking")
            length = b1 & 0x7F
            if length < 126:
                hlen = 2
            else:
                hlen = 4 if length == 126 else 10
                if size < hlen:
                    return
                length = int.from_bytes(ring.peek(hlen - 2, 2), "big")
                if length > _MAX_LENGTH:
                    raise ProtocolError("payload length with the most significant bit set")
            if max_size is not None:
                limit = max_size if self.cur_size is None else max_size - self.cur_size
                if length > limit:
                    raise PayloadTooBig(f"over size limit ({length} > {limit} bytes)")
            # 5.2: RSV bits must be 0 unless an extension defines them (only on data frames).
            if b0 & 0x70 and (b0 & 0x08 or not self.extensions):
                raise ProtocolError("reserved bits must be 0")
            if b0 & 0x08:
                # 5.5: "All control frames MUST have a payload length of 125 bytes or less and
                # MUST NOT be fragmented."
                if length > 125:
                    raise ProtocolError("control frame too long")
                if b0 < 0x80:
                    raise ProtocolError("fragmented control frame")
            # 5.4: a message is one frame, or a first frame and continuation frames.
            elif b0 & 0x0F:
                if self.cur_size is not None:
                    raise ProtocolError("expected a continuation frame")
            elif self.cur_size is None:
                raise ProtocolError("unexpected continuation frame")
            key = b""
            if mask_expected:
                if size < hlen + 4:
                    return
                key = ring.peek(4, hlen)
                hlen += 4
            total = hlen + length
            if size < total:
                self._unconsumed = False
                if length >= SINK_MIN and not mask_expected:
                    self._start_sink(b0, hlen, length)
                else:
                    ring.reserve(total)
                    # (With extensions the payload is encoded, e.g. compressed: nothing to see.)
                    if (
                        self.on_partial is not None
                        and size > hlen
                        and not b0 & 0x08
                        and not self.extensions
                    ):
                        # The part of the payload before the seam (the rest comes next time).
                        pstart = ring.start + hlen
                        pstart -= ring.capacity if pstart >= ring.capacity else 0
                        pend = min(pstart + size - hlen, ring.capacity)
                        self.on_partial(b0, 0, ring.view[pstart:pend])
                return
            # The whole frame is in the ring: take the payload in place.
            pstart = start + hlen
            if pstart >= cap:
                pstart -= cap
            pend = pstart + length
            payload: BytesLike
            if pend <= cap:
                payload = ring.view[pstart:pend]
            else:  # the payload straddles the seam
                payload = b"".join((ring.view[pstart:], ring.view[: pend - cap]))
            ring.size = size - total
            self._unconsumed = False
            start += total
            ring.start = start - cap if start >= cap else start
            if key:
                payload = apply_mask(payload, key)
            if b0 & 0x08:
                self._control_frame(b0, bytes(payload))
                if self._rstate != _HEADER:
                    return
            else:
                self._data_frame(b0, payload)

    def _data_frame(self, b0: int, payload: BytesLike) -> None:
        """Enforce the fragmentation rules (RFC 6455 section 5.4), then deliver the frame."""
        if self.extensions:
            frame = Frame(
                OPCODES[b0 & 0x0F],
                bytes(payload),
                b0 >= 0x80,
                bool(b0 & 0x40),
                bool(b0 & 0x20),
                bool(b0 & 0x10),
            )
            for extension in reversed(self.extensions):
                frame = extension.decode(frame, max_size=self._max_frame_size())
            frame.check()
            self._fragmentation(b0, len(frame.data))
            if self.debug:
                self.logger.debug("< %s", frame)
            self.on_frame(frame)
            return
        self._fragmentation(b0, len(payload))
        if self.debug:
            self.logger.debug(
                "< %s", Frame(OPCODES[b0 & 0x0F], bytes(payload), b0 >= 0x80)
            )
        self.on_data(b0, payload)

    def _fragmentation(self, b0: int, length: int) -> None:
        """Track the size of a fragmented message (the rules were checked on the header)."""
        if b0 >= 0x80:
            self.cur_size = None
        elif b0 & 0x0F:
            self.cur_size = length
        else:
            self.cur_size = (self.cur_size or 0) + length

    def _max_frame_size(self) -> int | None:
        if self.max_size is None or self.cur_size is None:
            return self.max_size
        return self.max_size - self.cur_size

    def _data_frame_event(self, b0: int, payload: BytesLike) -> None:
        """Default :attr:`on_data`: record the frame as an event."""
        self.events.append(Frame(OPCODES[b0 & 0x0F], bytes(payload), b0 >= 0x80))

    def _frame_event(self, frame: Frame) -> None:
        """Default :attr:`on_frame`: record the frame as an event."""
        self.events.append(frame)

    def _control_frame(self, b0: int, data: bytes) -> None:
        """Handle a Ping, Pong or Close frame, then record it as an event."""
        opcode = b0 & 0x0F
        frame = Frame(OPCODES[opcode], data)
        if self.debug:
            self.logger.debug("< %s", frame)
        if opcode == OP_PING:
            # 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in
            # response". Once our close frame is out, we answer no more (as websockets 10.x
            # does for its asyncio client) instead of failing the connection.
            if self._state is OPEN:
                self._send_frame(0x8A, data)
        elif opcode == OP_CLOSE:
            # 7.1.5, 7.1.6: the close code and reason.
            self.close_rcvd = Close.parse(data)
            if self._state is CLOSING:
                self.close_rcvd_then_sent = False
            # 5.5.1: "If an endpoint receives a Close frame and did not previously send a Close
            # frame, the endpoint MUST send a Close frame in response." We echo its payload.
            if self._state is OPEN:
                self._send_frame(0x88, data)
                self.close_sent = self.close_rcvd
                self.close_rcvd_then_sent = True
                self.state = CLOSING
            if self.side is SERVER:
                self._send_eof()
            # 1.4: "after receiving a control frame indicating the connection should be closed,
            # a peer discards any further data received."
            self._discard()
            if self.cur_size is not None:
                # A close frame in the middle of a fragmented message: the message is lost, which
                # is an error, but the closing handshake above completed normally (as websockets
                # 10.x's asyncio client does; its Sans-I/O layer answered 1002 instead).
                self.events.append(frame)
                raise ProtocolError("incomplete fragmented message")
        self.events.append(frame)

    def _start_sink(self, b0: int, hlen: int, length: int) -> None:
        """Move the start of a large payload out of the ring into the sink."""
        ring = self.reader
        ring.consume(hlen)
        have = ring.size
        # Memory follows the bytes received: a header alone announcing 4 GiB costs SINK_MIN.
        sink = bytearray(min(length, max(SINK_MIN, 2 * have)))
        sink[:have] = ring.peek(have)
        ring.clear()
        # The ring is empty until the payload is complete: it needn't hold its array meanwhile
        # (the peak when the payload becomes a message: docs/design.md, "Memory").
        ring.release()
        self._sink = sink
        self._sink_view = memoryview(sink)
        self._sink_pos = have
        self._sink_have = have
        self._sink_length = length
        self._sink_b0 = b0
        self._rstate = _SINK
        if self.on_partial is not None and have and not self.extensions:
            self.on_partial(b0, 0, self._sink_view[:have])

    def _next_sink_buffer(self) -> None:
        """The sink's buffer is full: start the next, as large as what arrived so far."""
        self._sink_chunks.append(self._sink)
        self._sink_view.release()
        have = self._sink_have
        sink = bytearray(min(self._sink_length - have, have))
        self._sink = sink
        self._sink_view = memoryview(sink)
        self._sink_pos = 0

    def _finish_sink(self) -> None:
        sink = self._sink
        chunks = self._sink_chunks
        self._drop_sink()
        self._rstate = _HEADER
        payload: BytesLike = sink
        if chunks:
            chunks.append(sink)
            payload = b"".join(chunks)
            chunks.clear()
            del sink
        try:
            self._data_frame(self._sink_b0, payload)
        except Exception as exc:
            self._fail_on(exc)

    def _drop_sink(self) -> None:
        self._sink_view.release()
        self._sink = _NO_SINK
        self._sink_view = _NO_SINK_VIEW
        self._sink_chunks = []
        self._sink_have = self._sink_pos = self._sink_length = 0

    def _discard(self) -> None:
        """Drop everything received from now on; after EOF the connection is CLOSED."""
        self._rstate = _DISCARD
        self.reader.clear()
        if self._sink_length:
            self._drop_sink()
        if self._eof_rcvd:
            self._closed_by_peer()

    def _closed_by_peer(self) -> None:
        """EOF after the closing handshake or a failure: the connection is CLOSED."""
        # A client waits for the server to close the TCP connection, then closes its side.
        if self.side is CLIENT and not self.eof_sent:
            self._send_eof()
        self.state = CLOSED

    def _eof_message(self) -> str:
        """Describe what the parser was waiting for when the stream ended."""
        if self._rstate == _SINK:
            have, want = self._sink_have, self._sink_length
        else:
            ring = self.reader
            size = ring.size
            if size == 0:
                return "unexpected end of stream"
            if size < 2:
                have, want = size, 2
            else:
                b1 = ring.peek(2)[1]
                length = b1 & 0x7F
                hlen = 2 if length < 126 else 4 if length == 126 else 10
                if size < hlen:
                    have, want = size - 2, hlen - 2
                else:
                    if hlen > 2:
                        length = int.from_bytes(ring.peek(hlen - 2, 2), "big")
                    masked = 4 if b1 & 0x80 else 0
                    if size < hlen + masked:
                        have, want = size - hlen, masked
                    else:
                        have, want = size - hlen - masked, length
        return f"stream ends after {have} bytes, expected {want} bytes"

    # Sending, private.

    def _send_frame(self, b0: int, data: BytesLike) -> None:
        """Build one frame (masked on the client side) in one buffer and queue it."""
        if self._state is not OPEN:
            raise InvalidState(f"cannot write to a WebSocket in the {self._state.name} state")
        if self.extensions or self.debug:
            frame = Frame(OPCODES[b0 & 0x0F], bytes(data), b0 >= 0x80)
            if self.debug:
                self.logger.debug("> %s", frame)
            self.writes.append(
                frame.serialize(
                    mask=self.side is CLIENT, extensions=self.extensions, mask_key=self.mask_key
                )
            )
            return
        n = len(data)
        if b0 & 0x08 and n > 125:
            raise ProtocolError("control frame too long")
        if self.side is CLIENT:
            key = self.mask_key()
            if n <= _FRAME_INT_MAX and type(data) is not memoryview:
                # Speed: frames up to 2 KiB inline the header (encode_header's 7- and 16-bit
                # forms) and fastws.mask's big-int mask, saving two calls and their checks
                # (benchmarks/bench_protocol.py send: 0.4 µs per 100 B message; 0.4-0.6 µs
                # per 1 KiB, benchmarks/results/send-ab-2026-12-07.txt).
                repunit, nbytes = _KEY_REPEATS[n]
                mask = _from_bytes(key, "little") * repunit
                masked = (_from_bytes(data, "little") ^ mask).to_bytes(nbytes, "little")
                header = bytes((b0, 0x80 | n)) if n < 126 else bytes((b0, 0xFE, n >> 8, n & 0xFF))
                self.writes.append(b"".join((header, key, masked[:n])))
            else:
                self.writes.append(masked_frame(encode_header(b0, n, True), key, data))
        else:
            self.writes.append(b"".join((encode_header(b0, n, False), data)))

    def _send_eof(self) -> None:
        assert not self.eof_sent
        self.eof_sent = True
        if self.debug:
            self.logger.debug("> EOF")
        self.writes.append(SEND_EOF)

