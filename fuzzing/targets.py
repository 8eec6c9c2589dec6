"""
Fuzz targets for what the peer controls: the frame parser and the handshake response parser of
the Sans-I/O :class:`fastws.client.ClientConnection`.

Each target takes ``bytes`` and raises a :class:`Finding` (an ``AssertionError``) when fastws
does something its documentation does not allow; any other outcome is accepted. The same
functions serve the atheris entry point (``fuzz_atheris.py``), the long-run driver (``run.py``)
and the CI slice (``tests/test_fuzz.py``).

Input format of :func:`frames_target` (three configuration bytes, then the server's bytes)::

    data[0]  low nibble % 5: max_size (2**20, 125, 1024, 2**16, None);
             high nibble % 3: feeder (receive_data, get_buffer/receive_buffered, alternating)
    data[1]  bits 0-1: permessage-deflate (0, 3: off; 1: default; 2: server_no_context_takeover
             and server_max_window_bits=9); bit 2: receive_eof() at the end; bit 3: the 101
             response is part of the fed bytes (frames then follow it in the same chunk);
             bit 4: DEBUG logging (the logged messages are formatted)
    data[2]  chunking seed (see :func:`chunks`)
    data[3:] the bytes the server sends after its handshake response

Input format of :func:`handshake_target`::

    data[0]  bits 0-1: prefix (0: none; 1: "HTTP/1.1 101 Switching Protocols" status line;
             2: that and valid Upgrade, Connection, Sec-WebSocket-Accept lines; 3: that and a
             Sec-WebSocket-Extensions: permessage-deflate line); bit 2: receive_eof() at the
             end; bits 3-4 % 3: feeder; bit 5: read_response_body False (as the asyncio
             client); bits 6-7: max_size (2**20, 125, None, 2**16)
    data[1]  chunking seed
    data[2:] the bytes the server sends (after the prefix)

Checks (see docs/fuzzing.md, "Accepted outcomes"):

* nothing escapes ``receive_data``, ``get_buffer``, ``receive_buffered`` or ``receive_eof``,
  except ``EOFError`` when called after ``receive_eof()``; ``get_buffer()`` is never empty;
* events are :class:`Response` (once, first) and :class:`Frame` objects that pass
  ``Frame.check()``, with ``bytes`` payloads;
* a failed connection sends a close frame with 1002, 1007 or 1009 (1006: nothing sent, after
  EOF); 1011, an exception of another type in ``parser_exc``, or an ERROR record (the
  "parser failed" log) is a finding;
* frames: events, answers (pong, close) and close code match a reference model of RFC 6455
  and RFC 7692 run on the whole stream at once (so chunking must not change anything);
* handshake: the failure is an ``InvalidHandshake``; an ``InvalidMessage``'s cause is one of
  the exceptions ``Response.parse`` documents;
* after ``receive_eof()`` the connection is CLOSED and its last write is ``SEND_EOF``;
* no input takes more than :data:`TIME_LIMIT` inside fastws (best of three runs; scaled for
  large inputs and many calls);
* DEBUG log messages can be formatted (bit 4 of data[1]);
* with ``memory=True``: the memory fastws holds after each chunk (tracemalloc, events and writes
  taken) is at most M + :data:`MEMORY_SLACK`, where M is ``max_size`` (None: the bytes fed so
  far, times :data:`DEFLATE_RATIO` with permessage-deflate), and its peak during a call at most
  :data:`PEAK_FACTOR` M + :data:`PEAK_PER_BYTE` times the chunk + :data:`MEMORY_SLACK`; an
  accepted handshake's
  own cost (:func:`handshake_cost`) is added when it is measured.

Each input runs under :func:`memory_guard` (address space capped at the current size plus
:data:`ADDRESS_SPACE_HEADROOM`), so that a giant allocation fails fast.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import random
import sys
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastws.client import ClientConnection
from fastws.connection import CLOSED, CONNECTING, OPEN, SEND_EOF
from fastws.exceptions import (
    InvalidHandshake,
    InvalidMessage,
    PayloadTooBig,
    ProtocolError,
    SecurityError,
)
from fastws.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from fastws.frames import OP_CLOSE, OPCODES, Frame
from fastws.http11 import Response
from fastws.typing import Subprotocol
from fastws.uri import parse_uri

__all__ = [
    "Finding",
    "frames_target",
    "handshake_target",
    "encode_frames_input",
    "encode_handshake_input",
    "frame",
    "memory_guard",
    "MAX_SIZES",
    "TIME_LIMIT",
    "MEMORY_SLACK",
    "PEAK_PER_BYTE",
]

# --------------------------------------------------------------------------------------------
# Limits.

#: Longest time one input may spend inside fastws (the sum over its calls), in seconds; for
#: inputs over 16 KiB, :data:`TIME_PER_BYTE` per byte instead (100 000 two-byte frames in one
#: 200 KB chunk legitimately take about 0.3 s: about 1.7 us per byte); plus
#: :data:`TIME_PER_CALL` per call (bytewise feeding makes thousands); times
#: :data:`TRACED_FACTOR` under a tracer (coverage). Inputs with DEBUG logging aren't timed (the
#: cost is the log handler's).
TIME_LIMIT = 0.100
TIME_PER_BYTE = 6e-6
TIME_PER_CALL = 20e-6
TRACED_FACTOR = 3.0

#: Constant part of the memory bound, in bytes: the receive ring may grow to 256 KiB
#: (fastws.connection.RING_MAX) whatever max_size is, a failed connection's parser_exc
#: traceback may keep a chunk copy of up to that alive, and zlib keeps a 32 KiB window. Largest
#: excess measured on 25 000 generated inputs: 607 370 bytes (docs/fuzzing.md).
MEMORY_SLACK = 768 * 1024

#: The peak may reach this many times M (see the module docstring): zlib's decompress() peaks
#: at 2.34 times its output (it grows a list of blocks, then joins them), measured on a 4 MiB
#: bomb; a message's payload, and a copy of it, must fit.
PEAK_FACTOR = 3

#: Peak memory allowed per byte of the chunk being fed, on top of the held bound: a chunk
#: becomes a copy in the ring, then events (Frame objects, payload copies) and answers (pong
#: frames) until the caller takes them; 2-byte pings cost the most (measured: docs/fuzzing.md).
PEAK_PER_BYTE = 128

#: Most a DEFLATE stream expands (RFC 1951 stores a 258-byte match in about 2 bits, hence
#: 1032:1): the memory bound with max_size=None and permessage-deflate is the bytes fed times
#: this, since None disables the limit on decompressed messages too.
DEFLATE_RATIO = 1032

#: max_size values the configuration byte selects from.
MAX_SIZES: tuple[int | None, ...] = (2**20, 125, 1024, 2**16, None)

#: Extra address space allowed while a target runs (see :func:`memory_guard`): a larger
#: allocation fails with MemoryError (reported as a 1011 finding) instead of swapping.
ADDRESS_SPACE_HEADROOM = 512 * 2**20

FEEDERS = ("data", "buffered", "mixed")

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 section 1.3
STATUS_LINE = b"HTTP/1.1 101 Switching Protocols\r\n"
UPGRADE_LINES = b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n" % (
    ACCEPT.encode()
)
PMD_LINE = b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
#: (Sec-WebSocket-Extensions value, remote no_context_takeover, remote window bits) per variant.
DEFLATE_VARIANTS: tuple[tuple[str, bool, int] | None, ...] = (
    None,
    ("permessage-deflate", False, 15),
    ("permessage-deflate; server_no_context_takeover; server_max_window_bits=9", True, 9),
    None,
)
#: Mask key of the client's frames, so that its writes are easy to check.
MASK_KEY = b"\x01\x02\x03\x04"
TAIL = b"\x00\x00\xff\xff"

#: Failure codes a client may send (or, 1006, record) when the peer misbehaves.
FAILURE_CODES = frozenset({1002, 1006, 1007, 1009})

#: Causes of InvalidMessage that Response.parse documents.
HANDSHAKE_CAUSES = (EOFError, SecurityError, ValueError, LookupError, NotImplementedError)


class Finding(AssertionError):
    """Something fastws may not do. ``kind`` names the check, for deduplication."""

    kind = "finding"

    def __init__(self, message: str) -> None:
        super().__init__(f"[{self.kind}] {message}")


class Escaped(Finding):
    kind = "escaped-exception"


class ParserFailed(Finding):
    kind = "parser-failed-1011"


class WrongClose(Finding):
    kind = "wrong-close"


class ModelMismatch(Finding):
    kind = "model-mismatch"


class BadEvent(Finding):
    kind = "bad-event"


class BadWrites(Finding):
    kind = "bad-writes"


class BadState(Finding):
    kind = "bad-state"


class BadHandshake(Finding):
    kind = "bad-handshake"


class DebugLog(Finding):
    kind = "debug-log"


class TooMuchMemory(Finding):
    kind = "memory"


class TooMuchMemoryAfterFailure(TooMuchMemory):
    kind = "memory-after-failure"


class TooSlow(Finding):
    kind = "slow"


# --------------------------------------------------------------------------------------------
# Building inputs (seed corpus, hypothesis strategies).


def frame(b0: int, payload: bytes = b"", *, length: int | None = None, ext: int = 0,
          mask: bool = False) -> bytes:
    """
    A server frame: first byte ``b0``, then the length (``ext`` 0: shortest form; 16 or 64:
    that form even if shorter would do), then the payload; ``length`` overrides the declared
    length (to declare more or less than follows).
    """
    n = len(payload) if length is None else length
    m = 0x80 if mask else 0
    if ext == 64 or n > 65535:
        head = bytes((b0, m | 127)) + n.to_bytes(8, "big")
    elif ext == 16 or n > 125:
        head = bytes((b0, m | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((b0, m | n))
    if mask:
        head += b"\x00\x00\x00\x00"
    return head + payload


def deflate(data: bytes, wbits: int = 15) -> bytes:
    """RFC 7692 compression of one message (sync flush, tail removed)."""
    comp = zlib.compressobj(wbits=-wbits)
    out = comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def encode_frames_input(
    stream: bytes,
    *,
    max_size: int | None = 2**20,
    feeder: str = "data",
    deflate: int = 0,
    eof: bool = False,
    inline: bool = False,
    debug: bool = False,
    seed: int = 0,
) -> bytes:
    """The :func:`frames_target` input for this configuration."""
    b0 = MAX_SIZES.index(max_size) | FEEDERS.index(feeder) << 4
    b1 = deflate | eof << 2 | inline << 3 | debug << 4
    return bytes((b0, b1, seed)) + stream


def encode_handshake_input(
    rest: bytes,
    *,
    prefix: int = 0,
    eof: bool = False,
    feeder: str = "data",
    skip_body: bool = False,
    max_size: int | None = 2**20,
    seed: int = 0,
) -> bytes:
    """The :func:`handshake_target` input for this configuration."""
    sizes: list[int | None] = [2**20, 125, None, 2**16]
    b0 = prefix | eof << 2 | FEEDERS.index(feeder) << 3 | skip_body << 5
    b0 |= sizes.index(max_size) << 6
    return bytes((b0, seed)) + rest


def chunks(stream: bytes, seed: int) -> list[bytes]:
    """
    Split ``stream`` as the seed byte says: 0 whole; 1 byte by byte; 2 pieces of 7 bytes
    (1 and 2: the first 4 KiB, then the rest at once, to bound the number of calls); otherwise
    up to 32 cuts at places drawn by ``random.Random(seed)``.
    """
    n = len(stream)
    if seed == 0 or n < 2:
        return [stream] if stream else []
    if seed in (1, 2):
        step = 1 if seed == 1 else 7
        head = [stream[i : min(i + step, 4096)] for i in range(0, min(n, 4096), step)]
        return head + ([stream[4096:]] if n > 4096 else [])
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, n), min(n - 1, rng.randint(1, 32))))
    bounds = [0, *cuts, n]
    return [stream[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


# --------------------------------------------------------------------------------------------
# Running a connection.


class _Records(logging.Handler):
    """Collects ERROR records; formats every record (as a real handler would)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.errors: list[logging.LogRecord] = []
        self.format_errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors.append(record)
        try:
            record.getMessage()
        except Exception as exc:
            self.format_errors.append(f"{record.msg!r}: {type(exc).__name__}: {exc}")

    def handleError(self, record: logging.LogRecord) -> None:  # pragma: no cover
        pass


def _logger(debug: bool) -> tuple[logging.Logger, _Records]:
    logger = logging.getLogger(f"fastws.fuzz.{'debug' if debug else 'quiet'}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    records = _Records()
    logger.addHandler(records)
    return logger, records


class Clock:
    """Adds up the time spent inside fastws, and counts the calls."""

    __slots__ = ("spent", "calls", "nbytes")

    def __init__(self) -> None:
        self.spent = 0.0
        self.calls = 0
        self.nbytes = 0

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        self.calls += 1
        start = time.perf_counter()
        try:
            return func(*args)
        finally:
            self.spent += time.perf_counter() - start

    def limit(self) -> float:
        """The time this run may take: see :data:`TIME_LIMIT`."""
        limit = max(TIME_LIMIT, self.nbytes * TIME_PER_BYTE) + self.calls * TIME_PER_CALL
        if sys.gettrace() is not None:  # coverage (pytest --cov) or a debugger
            limit *= TRACED_FACTOR
        return limit


def _call(clock: Clock, what: str, func: Callable[..., Any], *args: Any) -> Any:
    try:
        return clock.call(func, *args)
    except Finding:
        raise
    except Exception as exc:
        raise Escaped(f"{what} raised {type(exc).__name__}: {exc}") from exc


def feed(conn: ClientConnection, chunk: bytes, how: str, clock: Clock) -> None:
    """Feed one chunk with receive_data(), or through get_buffer()/receive_buffered()."""
    if how == "data":
        _call(clock, f"receive_data({len(chunk)} bytes)", conn.receive_data, chunk)
        return
    pos = 0
    while pos < len(chunk):
        view = _call(clock, "get_buffer()", conn.get_buffer)
        if not isinstance(view, memoryview) or len(view) == 0 or view.readonly:
            raise BadEvent(f"get_buffer() returned {view!r} (must be a non-empty writable view)")
        n = min(len(view), len(chunk) - pos)
        view[:n] = chunk[pos : pos + n]
        del view
        pos += n
        _call(clock, f"receive_buffered({n})", conn.receive_buffered, n)


def _feeder(how: str, index: int) -> str:
    if how == "mixed":
        return "data" if index % 2 == 0 else "buffered"
    return how


def _after_eof(conn: ClientConnection, clock: Clock) -> None:
    """After receive_eof(): CLOSED, and the documented EOFError on more input."""
    if conn.state is not CLOSED:
        raise BadState(f"state is {conn.state.name} after receive_eof(), expected CLOSED")
    for name, call in (
        ("receive_data", lambda: conn.receive_data(b"\x81\x00")),
        ("get_buffer", conn.get_buffer),
        ("receive_eof", conn.receive_eof),
    ):
        try:
            clock.call(call)
        except EOFError:
            continue
        except Exception as exc:
            raise Escaped(f"{name}() after EOF raised {type(exc).__name__}: {exc}") from exc
        raise BadState(f"{name}() after receive_eof() did not raise EOFError")


def _check_failure(conn: ClientConnection, records: _Records) -> None:
    """The failure, if any, is one of the documented ones."""
    if records.errors:
        record = records.errors[0]
        exc = record.exc_info[1] if record.exc_info else None
        raise ParserFailed(
            f"ERROR logged: {record.getMessage()!r} ({type(exc).__name__}: {exc}); "
            f"close sent: {conn.close_sent}"
        )
    if records.format_errors:
        raise DebugLog(f"a DEBUG message cannot be formatted: {records.format_errors[0]}")
    exc = conn.parser_exc
    if exc is not None and not isinstance(
        exc, (ProtocolError, EOFError, UnicodeDecodeError, PayloadTooBig)
    ):
        raise ParserFailed(f"parser_exc is {type(exc).__name__}: {exc}")
    sent = conn.close_sent
    if sent is not None and conn.close_rcvd is None and sent.code not in FAILURE_CODES:
        raise WrongClose(f"sent close code {sent.code} ({sent.reason!r}) on a failure")


def _parse_writes(writes: list[bytes | bytearray]) -> tuple[list[tuple[int, bytes]], bool]:
    """The client's frames (first byte, unmasked payload) and whether SEND_EOF came last."""
    out: list[tuple[int, bytes]] = []
    eof = False
    for raw in writes:
        raw = bytes(raw)
        if eof:
            raise BadWrites(f"write after SEND_EOF: {raw[:20]!r}")
        if raw == SEND_EOF:
            eof = True
            continue
        if len(raw) < 6 or not raw[1] & 0x80:
            raise BadWrites(f"not a masked client frame: {raw[:20]!r}")
        n = raw[1] & 0x7F
        hlen = 2
        if n == 126:
            n, hlen = int.from_bytes(raw[2:4], "big"), 4
        elif n == 127:
            n, hlen = int.from_bytes(raw[2:10], "big"), 10
        key = raw[hlen : hlen + 4]
        payload = raw[hlen + 4 :]
        if len(payload) != n:
            raise BadWrites(f"write of {len(raw)} bytes is not one frame of {n} bytes")
        out.append((raw[0], bytes(b ^ key[i % 4] for i, b in enumerate(payload))))
    return out, eof


def _check_events(events: list[Any], handshake: bool) -> list[Frame]:
    frames: list[Frame] = []
    for i, event in enumerate(events):
        if isinstance(event, Response):
            if not handshake or i != 0:
                raise BadEvent(f"unexpected Response event at position {i}")
            continue
        if not isinstance(event, Frame):
            raise BadEvent(f"event {event!r} is neither a Response nor a Frame")
        if type(event.data) is not bytes:
            raise BadEvent(f"frame payload is {type(event.data).__name__}, not bytes")
        try:
            event.check()
        except ProtocolError as exc:
            raise BadEvent(f"delivered frame {event!r} fails Frame.check(): {exc}") from exc
        frames.append(event)
    return frames


# --------------------------------------------------------------------------------------------
# Reference model of the frame stream (RFC 6455 section 5, RFC 7692 section 7.2).


@dataclass
class Expected:
    """
    What the client must do with a whole stream.

    ``end``: "open" (all parsed, or waiting for more bytes), "closed" (a valid close frame:
    echoed, the rest discarded), "failed" (close code in ``codes``), or "unsure" (the model
    can't tell whether the next step fails; only the frames so far, and if it fails, a code in
    ``codes``, are checked).
    """

    frames: list[Frame] = field(default_factory=list)
    pongs: list[bytes] = field(default_factory=list)
    end: str = "open"
    codes: frozenset[int] = frozenset()
    close_payload: bytes = b""
    fragment_error: bool = False
    why: str = ""


_VALID_OPCODES = frozenset({0, 1, 2, 8, 9, 10})


def _close_codes(payload: bytes) -> set[int]:
    """Failure codes a received close frame's payload deserves (empty if it's valid)."""
    if len(payload) == 0:
        return set()
    if len(payload) == 1:
        return {1002}
    codes = set()
    code = int.from_bytes(payload[:2], "big")
    if not (code in {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
            or 3000 <= code < 5000):
        codes.add(1002)
    try:
        payload[2:].decode()
    except UnicodeDecodeError:
        codes.add(1007)
    return codes


def model(stream: bytes, max_size: int | None, pmd: tuple[str, bool, int] | None) -> Expected:
    """Run RFC 6455 (client side) and RFC 7692 on the whole ``stream``; see :class:`Expected`."""
    exp = Expected()
    pos, n = 0, len(stream)
    cur: int | None = None  # size of the fragmented message in progress
    decode_cont = False
    decoder = zlib.decompressobj(wbits=-pmd[2]) if pmd else None

    def stop(end: str, codes: set[int] | frozenset[int] = frozenset(), why: str = "") -> Expected:
        exp.end, exp.codes, exp.why = end, frozenset(codes), why
        return exp

    while True:
        if n - pos < 2:
            return stop("open")
        b0, b1 = stream[pos], stream[pos + 1]
        fin, op, len7 = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
        rsv1, rsv23 = b0 & 0x40, b0 & 0x30
        control = op & 0x08
        early = []  # errors known from the first two bytes
        if op not in _VALID_OPCODES:
            early.append("invalid opcode")
        if b1 & 0x80:
            early.append("masked frame")
        if (rsv1 or rsv23) and (control or not pmd):
            early.append("reserved bits")
        if control:
            # (A 16- or 64-bit length of at most 125 is accepted: the RFC asks the sender, not
            # the receiver, to use the shortest form, and websockets doesn't check it.)
            if not fin:
                early.append("fragmented control frame")
        elif op and cur is not None:
            early.append("expected a continuation frame")
        elif not op and cur is None:
            early.append("unexpected continuation frame")
        hlen = 2 if len7 < 126 else 4 if len7 == 126 else 10
        if n - pos < hlen:
            if early:
                return stop("unsure", {1002}, f"at {pos}: {early}, length incomplete")
            return stop("open")
        length = len7 if hlen == 2 else int.from_bytes(stream[pos + 2 : pos + hlen], "big")
        if hlen == 10 and length >> 63:
            # 5.2: "the most significant bit MUST be 0".
            return stop("failed", {1002}, f"at {pos}: 64-bit length {length:#x} has its MSB set")
        if control and length > 125:
            early.append("control frame too long")
        codes = {1002} if early else set()
        budget = None if max_size is None else max_size - (cur or 0)
        if budget is not None and length > budget:
            codes.add(1009)
            early.append(f"length {length} over the {budget} bytes left of max_size")
        if codes:
            return stop("failed", codes, f"at {pos}: {early}")
        if n - pos < hlen + length:
            return stop("open")
        payload = stream[pos + hlen : pos + hlen + length]
        pos += hlen + length
        if control:
            if op == 0x08:
                codes = _close_codes(payload)
                if codes:
                    return stop("failed", codes, f"invalid close frame {payload[:20]!r}")
                exp.frames.append(Frame(OP_CLOSE, payload))
                exp.close_payload = payload
                exp.fragment_error = cur is not None
                return stop("closed")
            if op == 0x09:
                exp.pongs.append(payload)
            exp.frames.append(Frame(OPCODES[op], payload))
            continue
        data = payload
        bad_rsv = bool(rsv23)
        compressed = False
        if pmd:
            if op:
                if rsv1:
                    compressed = True
                    decode_cont = not fin
                    if pmd[1]:
                        decoder = zlib.decompressobj(wbits=-pmd[2])
            else:
                compressed = decode_cont
                if fin:
                    decode_cont = False
                bad_rsv = bad_rsv or bool(rsv1)  # RSV1 only on the first frame (7.2.3.1? 6.1)
        codes = {1002} if bad_rsv else set()
        stopped = False
        why = f"data frame at {pos - hlen - length}: " + ("reserved bits" if bad_rsv else "")
        if compressed:
            assert decoder is not None
            data_in = payload + TAIL if fin else payload
            limit = 0 if budget is None else budget + 1
            if budget:
                # zlib may stop at exactly max_size bytes before the end of its input; whether
                # the rest would give more is then unknown: fastws may call that too big.
                probe = decoder.copy()
                with contextlib.suppress(zlib.error):
                    probe.decompress(data_in, budget)
                    stopped = bool(probe.unconsumed_tail)
            try:
                data = decoder.decompress(data_in, limit)
            except zlib.error:
                codes.add(1002)
                why += " invalid DEFLATE data"
            else:
                if budget is not None and len(data) > budget:
                    codes.add(1009)
                    why += f" decompresses to more than the {budget} bytes left of max_size"
                elif stopped and not codes:
                    exp.frames.append(Frame(OPCODES[op], data, bool(fin)))
                    return stop("unsure", {1009}, "decompressed to exactly the size left")
            if codes and stopped:
                codes.add(1009)  # zlib stops at max_size bytes, before it meets the error
        if codes:
            return stop("failed", codes, why)
        exp.frames.append(Frame(OPCODES[op], data, bool(fin)))
        if fin:
            cur = None
        elif op:
            cur = len(data)
        else:
            cur = (cur or 0) + len(data)


def _compare(exp: Expected, conn: ClientConnection, frames: list[Frame],
             writes: list[tuple[int, bytes]], eof: bool) -> None:
    """Check the connection's events, writes and close against the model."""

    def mismatch(message: str) -> ModelMismatch:
        return ModelMismatch(f"{message} (model: {exp.end}, {sorted(exp.codes)} {exp.why})")

    n = len(exp.frames)
    if exp.end == "unsure" and eof:
        exp.codes |= {1006}  # it may have been waiting for more bytes
    if exp.end == "unsure":
        if frames[:n] != exp.frames[: len(frames)]:
            raise mismatch(f"frames differ: got {_show(frames)}, expected {_show(exp.frames)}")
    elif frames != exp.frames:
        for i, (a, b) in enumerate(zip(frames, exp.frames, strict=False)):
            if a != b:
                raise mismatch(f"frame {i} differs: got {_show([a])}, expected {_show([b])}")
        raise mismatch(
            f"got {len(frames)} frames, expected {n}: "
            f"{_show(frames[n:]) or _show(exp.frames[len(frames):])} differ"
        )
    pongs = [p for b0, p in writes if b0 == 0x8A]
    closes = [p for b0, p in writes if b0 == 0x88]
    others = [b0 for b0, _ in writes if b0 not in (0x8A, 0x88)]
    if others:
        raise BadWrites(f"client wrote frames with first bytes {others}")
    if exp.end != "unsure" and pongs != exp.pongs:
        raise mismatch(f"pongs {pongs} differ from pings {exp.pongs}")
    if len(closes) > 1 or (closes and writes[-1][0] != 0x88):
        raise BadWrites("more than one close frame, or frames after it")
    exc, sent = conn.parser_exc, conn.close_sent
    if exp.end == "open":
        if eof:
            if not isinstance(exc, EOFError) or sent is not None:
                raise mismatch(f"EOF: expected a 1006 failure, got {exc!r}, sent {sent}")
        elif exc is not None or sent is not None:
            raise mismatch(f"unexpected failure {exc!r}, sent {sent}")
    elif exp.end == "closed":
        if sent is None or closes != [exp.close_payload]:
            raise mismatch(f"close frame not echoed: sent {sent}, wrote {closes}")
        if exp.fragment_error != isinstance(exc, ProtocolError):
            raise mismatch(f"parser_exc {exc!r} after a close frame")
    elif exp.end == "failed" or exc is not None:
        if exc is None:
            raise mismatch(f"no failure; sent {sent}")
        code = 1006 if sent is None else sent.code
        if code not in exp.codes:
            raise WrongClose(
                f"close code {code} ({type(exc).__name__}: {exc}), expected one of "
                f"{sorted(exp.codes)}: {exp.why}"
            )
        if sent is not None and closes != [sent.serialize()]:
            raise BadWrites(f"close frame written {closes} doesn't match close_sent {sent}")


def _show(frames: list[Frame]) -> str:
    return ", ".join(
        f"{f.opcode.name}{'' if f.fin else '+'}{'*' if f.rsv1 else ''}({len(f.data)}:"
        f"{f.data[:12]!r})"
        for f in frames
    )


# --------------------------------------------------------------------------------------------
# Memory.


def _vmsize() -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return None  # pragma: no cover


_vm_seen = [0]


@contextlib.contextmanager
def memory_guard(headroom: int = ADDRESS_SPACE_HEADROOM) -> Iterator[None]:
    """
    Cap the address space at what the process uses now plus ``headroom`` (Linux), so that a
    giant allocation fails fast with MemoryError (a 1011 finding) instead of taking the
    machine's memory. Each target runs under it.

    Connections are reference cycles: after an input made fastws allocate a lot, a garbage
    collection returns that memory before the next cap is computed.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not Unix
        yield
        return
    vm = _vmsize()
    if vm is None:  # pragma: no cover
        yield
        return
    if not _vm_seen[0]:
        _vm_seen[0] = vm
    elif vm > _vm_seen[0] + 64 * 2**20:
        gc.collect()
        vm = _vmsize() or vm
        _vm_seen[0] = vm
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = vm + headroom
    for cap in (soft, hard):
        if cap != resource.RLIM_INFINITY:
            limit = min(limit, cap)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


class Meter:
    """tracemalloc, relative to a baseline; records the worst excess over the bounds."""

    def __init__(self) -> None:
        self.started = not tracemalloc.is_tracing()
        if self.started:
            tracemalloc.start()
        self.base = 0
        #: Added to the bounds when the handshake is part of what is measured.
        self.extra = 0
        self.held_max = 0
        self.peak_max = 0

    def baseline(self) -> None:
        tracemalloc.reset_peak()
        self.base = tracemalloc.get_traced_memory()[0]

    def check(self, bound: int, chunk: int, where: str, failed: bool = False) -> None:
        """Check what is held now, and the peak since the last check."""
        held, peak = tracemalloc.get_traced_memory()
        held -= self.base
        peak -= self.base
        tracemalloc.reset_peak()
        self.held_max = max(self.held_max, held)
        self.peak_max = max(self.peak_max, peak)
        held -= self.extra
        peak -= self.extra
        extra = f" (+ {self.extra} for the handshake)" if self.extra else ""
        if held > bound + MEMORY_SLACK:
            # After a failure, parser_exc's traceback keeps the frames that were being parsed.
            kind = TooMuchMemoryAfterFailure if failed else TooMuchMemory
            raise kind(
                f"{where}: fastws holds {held} bytes, over {bound} + {MEMORY_SLACK}{extra}"
            )
        if peak > PEAK_FACTOR * bound + PEAK_PER_BYTE * chunk + MEMORY_SLACK:
            raise TooMuchMemory(
                f"{where}: peak {peak} bytes, over {PEAK_FACTOR} * {bound} + {PEAK_PER_BYTE} * "
                f"{chunk} + "
                f"{MEMORY_SLACK}{extra}"
            )

    def stop(self) -> None:
        if self.started:
            tracemalloc.stop()


_handshake_cost: list[int] = []


def handshake_cost() -> int:
    """
    Memory an accepted handshake with permessage-deflate costs by itself (the compressor, about
    260 KiB, and the decompressor), measured once; added to the bounds when it is measured.
    """
    if not _handshake_cost:
        worst = 0
        for pmd in DEFLATE_VARIANTS[1:3]:
            conn, _ = _new_client(2**20, False, extensions=[ClientPerMessageDeflateFactory()])
            meter = Meter()
            try:
                meter.baseline()
                conn.receive_data(_response(pmd))
                conn.events_received()
                worst = max(worst, tracemalloc.get_traced_memory()[0] - meter.base)
            finally:
                meter.stop()
            del conn
        _handshake_cost.append(worst)
    return _handshake_cost[0]


# --------------------------------------------------------------------------------------------
# The targets.


@dataclass
class FramesConfig:
    max_size: int | None
    feeder: str
    pmd: tuple[str, bool, int] | None
    eof: bool
    inline: bool
    debug: bool
    seed: int


def decode_frames_input(data: bytes) -> tuple[FramesConfig, bytes]:
    """Split a :func:`frames_target` input into its configuration and stream."""
    data = bytes(data) + b"\x00" * max(0, 3 - len(data))
    b0, b1, seed = data[0], data[1], data[2]
    config = FramesConfig(
        max_size=MAX_SIZES[(b0 & 0x0F) % 5],
        feeder=FEEDERS[(b0 >> 4) % 3],
        pmd=DEFLATE_VARIANTS[b1 & 3],
        eof=bool(b1 & 4),
        inline=bool(b1 & 8),
        debug=bool(b1 & 16),
        seed=seed,
    )
    return config, data[3:]


def _response(pmd: tuple[str, bool, int] | None) -> bytes:
    ext = b"" if pmd is None else f"Sec-WebSocket-Extensions: {pmd[0]}\r\n".encode()
    return STATUS_LINE + UPGRADE_LINES + ext + b"\r\n"


def _new_client(max_size: int | None, debug: bool, **kwargs: Any) -> tuple[
    ClientConnection, _Records
]:
    logger, records = _logger(debug)
    conn = ClientConnection(
        parse_uri("ws://fuzz.invalid/"), max_size=max_size, logger=logger, **kwargs
    )
    conn.key = KEY
    conn.mask_key = lambda: MASK_KEY
    conn.send_request(conn.connect())
    conn.data_to_send()
    return conn, records


def _run_frames(cfg: FramesConfig, stream: bytes, pieces: list[bytes],
                meter: Meter | None) -> Clock:
    """One run of the frames target; returns its clock."""
    clock = Clock()
    clock.nbytes = sum(map(len, pieces))
    extensions = [ClientPerMessageDeflateFactory()] if cfg.pmd else None
    conn, records = _new_client(cfg.max_size, cfg.debug, extensions=extensions)
    response = _response(cfg.pmd)
    if not cfg.inline:
        _call(clock, "receive_data(response)", conn.receive_data, response)
        events = conn.events_received()
        if conn.state is not OPEN or len(events) != 1 or not isinstance(events[0], Response):
            raise BadHandshake(f"valid response refused: {conn.handshake_exc!r}, {events}")
    if meter is not None:
        meter.extra = handshake_cost() if cfg.inline else 0
        meter.baseline()
    events: list[Any] = []
    writes: list[bytes | bytearray] = []
    fed = 0
    for i, piece in enumerate(pieces):
        feed(conn, piece, _feeder(cfg.feeder, i), clock)
        fed += len(piece)
        if meter is not None:
            # A caller takes events and writes after each call: they aren't fastws' memory.
            conn.events_received()
            conn.data_to_send()
            # max_size=None: what was fed, or with permessage-deflate what it may inflate to.
            bound = cfg.max_size
            if bound is None:
                bound = fed * DEFLATE_RATIO if cfg.pmd else fed
            meter.check(
                bound,
                len(piece),
                f"max_size={cfg.max_size}, after {fed} of {len(stream)} bytes",
                conn.parser_exc is not None,
            )
        else:
            events += clock.call(conn.events_received)
            writes += clock.call(conn.data_to_send)
            _check_failure(conn, records)
    if cfg.eof:
        _call(clock, "receive_eof()", conn.receive_eof)
        if meter is None:
            events += conn.events_received()
            writes += conn.data_to_send()
            _after_eof(conn, clock)
    if meter is not None:
        return clock
    _check_failure(conn, records)
    frames = _check_events(events, handshake=cfg.inline)
    if cfg.inline and not (events and isinstance(events[0], Response)):
        raise BadHandshake(f"valid response not reported: {conn.handshake_exc!r}")
    parsed, wrote_eof = _parse_writes(writes)
    if wrote_eof != cfg.eof:
        raise BadWrites(f"SEND_EOF written: {wrote_eof}, EOF received: {cfg.eof}")
    _compare(model(stream, cfg.max_size, cfg.pmd), conn, frames, parsed, cfg.eof)
    return clock


def _run_target(run: Callable[[Meter | None], Clock], memory: bool, timed: bool) -> None:
    """
    Run once with the functional checks, then (``memory``) once under tracemalloc; if the
    first run took too long inside fastws, twice more, and report the best of three.
    """
    with memory_guard():
        clock = run(None)
        if memory:
            meter = Meter()
            try:
                run(meter)
            finally:
                meter.stop()
        limit = clock.limit()
        if timed and clock.spent > limit:
            spent = min(clock.spent, run(None).spent, run(None).spent)
            if spent > limit:
                raise TooSlow(
                    f"{spent * 1000:.0f} ms inside fastws for {clock.nbytes} bytes in "
                    f"{clock.calls} calls (limit {limit * 1000:.0f} ms)"
                )


def frames_target(data: bytes, *, memory: bool = False) -> None:
    """Fuzz target: the frame parser (see the module docstring for the input format)."""
    cfg, stream = decode_frames_input(data)
    feed_stream = _response(cfg.pmd) + stream if cfg.inline else stream
    pieces = chunks(feed_stream, cfg.seed)
    _run_target(lambda meter: _run_frames(cfg, stream, pieces, meter), memory, not cfg.debug)


def _prefix(kind: int) -> bytes:
    if kind == 0:
        return b""
    if kind == 1:
        return STATUS_LINE
    if kind == 2:
        return STATUS_LINE + UPGRADE_LINES
    return STATUS_LINE + UPGRADE_LINES + PMD_LINE


def _run_handshake(data: bytes, meter: Meter | None) -> Clock:
    data = bytes(data) + b"\x00" * max(0, 2 - len(data))
    b0, seed, rest = data[0], data[1], data[2:]
    max_size = (2**20, 125, None, 2**16)[b0 >> 6]
    stream = _prefix(b0 & 3) + rest
    eof = bool(b0 & 4)
    how = FEEDERS[(b0 >> 3 & 3) % 3]
    clock = Clock()
    clock.nbytes = len(stream)
    conn, records = _new_client(
        max_size,
        False,
        extensions=[ClientPerMessageDeflateFactory()],
        subprotocols=[Subprotocol("chat"), Subprotocol("superchat")],
    )
    if b0 & 32:
        conn.read_response_body = False
    pieces = chunks(stream, seed)
    if meter is not None:
        meter.extra = handshake_cost()
        meter.baseline()
    events: list[Any] = []
    writes: list[bytes | bytearray] = []
    fed = 0
    for i, piece in enumerate(pieces):
        feed(conn, piece, _feeder(how, i), clock)
        fed += len(piece)
        if meter is not None:
            conn.events_received()
            conn.data_to_send()
            meter.check(
                fed,
                len(piece),
                f"after {fed} of {len(stream)} bytes",
                conn.parser_exc is not None or conn.handshake_exc is not None,
            )
            continue
        events += conn.events_received()
        writes += conn.data_to_send()
        _check_failure(conn, records)
        exc = conn.handshake_exc
        if exc is not None:
            if conn.state is not CONNECTING or not conn.close_expected():
                raise BadState(f"handshake failed ({exc!r}) but state is {conn.state.name}")
        elif conn.state is CONNECTING and events:
            raise BadEvent(f"events {events} before the handshake ended")
    if eof:
        _call(clock, "receive_eof()", conn.receive_eof)
        if meter is None:
            events += conn.events_received()
            writes += conn.data_to_send()
            _after_eof(conn, clock)
    if meter is not None:
        return clock
    _check_failure(conn, records)
    _check_events(events, handshake=True)
    exc = conn.handshake_exc
    response = events[0] if events and isinstance(events[0], Response) else None
    if exc is not None:
        if not isinstance(exc, InvalidHandshake):
            raise BadHandshake(f"handshake_exc is {type(exc).__name__}: {exc}")
        if isinstance(exc, InvalidMessage):
            cause = exc.__cause__
            if response is not None or not isinstance(cause, HANDSHAKE_CAUSES):
                raise BadHandshake(
                    f"InvalidMessage caused by {type(cause).__name__}: {cause} "
                    f"(Response.parse documents {[t.__name__ for t in HANDSHAKE_CAUSES]})"
                )
        elif response is None or response._exception is not exc:
            raise BadHandshake(f"{exc!r} without its Response event")
        if len(events) > 1:
            raise BadEvent(f"frames after a failed handshake: {events[1:]}")
        if [w for w in writes if w != SEND_EOF]:
            raise BadWrites(f"writes after a failed handshake: {writes}")
    elif response is not None:
        if response.status_code != 101 or conn.state is CONNECTING:
            raise BadHandshake(f"{response} accepted, state {conn.state.name}")
    elif conn.state is not (CLOSED if eof else CONNECTING) or len(events) > 0:
        raise BadState(f"no response, no failure, state {conn.state.name}, events {events}")
    _parse_writes(writes)
    return clock


def handshake_target(data: bytes, *, memory: bool = False) -> None:
    """Fuzz target: the handshake response parser (see the module docstring)."""
    _run_target(lambda meter: _run_handshake(data, meter), memory, True)


TARGETS: dict[str, Callable[..., None]] = {
    "frames": frames_target,
    "handshake": handshake_target,
}


def main(argv: list[str] | None = None) -> int:
    """Replay files: ``python -m fuzzing.targets frames FILE...`` (prints each finding)."""
    argv = sys.argv[1:] if argv is None else argv
    target = TARGETS[argv[0]]
    status = 0
    for path in argv[1:]:
        with open(path, "rb") as f:
            data = f.read()
        try:
            target(data, memory=True)
        except Finding as exc:
            print(f"{path}: {exc}")
            status = 1
        else:
            print(f"{path}: ok")
    return status


if __name__ == "__main__":
    sys.exit(main())
