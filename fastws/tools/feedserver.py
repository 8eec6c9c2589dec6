"""
A small, fast WebSocket server: the peer of the end-to-end benchmarks and of ``fastws bench``.

It is built to cost the client's machine as little CPU as possible: frames sent are built once
and written in big batches, frames received are parsed by a tight loop that skips the payloads
it doesn't need. What a connection does is chosen by the request path and query:

``/feed?size=100&count=1000000&text=1``
    Sends ``count`` messages of ``size`` payload bytes (text when ``text=1``, the default, else
    binary) as fast as the client reads them, then a close frame with code 1000; waits for the
    client's close frame and closes TCP. ``count=0`` (the default) sends until the client
    closes; ``close=0`` stays open and silent after the ``count`` messages instead of closing
    (many-connection benchmarks); ``wait=1`` starts sending only when the client sends its
    first data message (``fastws bench`` holds thousands of connections open before it starts
    measuring: a feed already flowing on the first ones would slow the handshakes of the rest).
    Every message carries the same payload, :func:`feed_payload` ``(size, text)``.
``/echo``
    Sends every frame it receives back (unmasked, same opcode, FIN and RSV bits).
``/sink``
    Reads and discards every message.
``/idle``
    Stays silent.

Every mode answers pings and the closing handshake. ``deflate=1`` accepts the client's
permessage-deflate offer (RFC 7692) with default parameters; ``/feed`` then sends compressed
frames, each message compressed on its own (allowed with or without context takeover: a sender
never has to refer to earlier messages), built once. ``/echo`` sends compressed frames back as
they came: the client's decompressor then sees its own compressor's stream, which works when the
client compresses with a window no larger than the server's (the usual offers).

A request that isn't a valid WebSocket handshake gets ``400 Bad Request`` (``404 Not Found``
for an unknown path) and the connection is closed.

Command line: ``python -m fastws.tools.feedserver [--host H] [--port P] [--loop
{asyncio,uvloop,auto}] [--uvloop] [--reuse-port]`` prints ``PORT <n>`` on its first line of
output, then serves until its standard input closes or it receives SIGTERM (or SIGINT). The loop
is asyncio unless asked (``--uvloop`` is ``--loop uvloop``; ``auto`` is uvloop when installed).
``--reuse-port`` sets ``SO_REUSEPORT``, so several such processes can serve one port:
:class:`fastws.cli.server.EmbeddedServer` starts them that way with ``processes=N``.

Unmasking client frames uses the C ``apply_mask`` of the websockets package when it is installed
(an optional speed-up: 40x cheaper than pure Python at 1 MiB), else :func:`fastws.mask.apply_mask`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import functools
import hashlib
import importlib
import importlib.util
import os
import random
import resource
import signal
import sys
import threading
import zlib
from collections.abc import Callable
from typing import cast
from urllib.parse import parse_qsl, urlsplit

from ..mask import apply_mask as _py_apply_mask
from ..typing import BytesLike

__all__ = ["FeedProtocol", "feed_payload", "main", "raise_nofile_limit", "resolve_loop", "serve"]

_Mask = Callable[[BytesLike, bytes], bytes]


def _load_apply_mask() -> _Mask:
    """Return websockets' C ``apply_mask`` if it is installed, else fastws' own."""
    try:
        module = importlib.import_module("websockets.speedups")
    except ImportError:  # pragma: no cover - websockets is a test dependency
        return _py_apply_mask
    return cast(_Mask, module.apply_mask)


_apply_mask = _load_apply_mask()

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: Bytes of pre-built frames written per ``transport.write()`` call in ``/feed``.
CHUNK_BYTES = 256 * 1024
#: Writes per turn of the event loop for one connection, before yielding to the others.
_WRITES_PER_TURN = 16
#: Largest HTTP request accepted.
_MAX_REQUEST = 16384
#: Largest frame ``/echo`` buffers (``/feed``, ``/sink`` and ``/idle`` skip payloads unread).
MAX_ECHO_FRAME = 2**26
#: Seconds to wait for the client's close frame after sending ours, then abort.
CLOSE_TIMEOUT = 10.0

_CLOSE_1000 = b"\x88\x02\x03\xe8"

# Modes.
_FEED, _ECHO, _SINK, _IDLE = range(4)
_PATHS = {"/feed": _FEED, "/echo": _ECHO, "/sink": _SINK, "/idle": _IDLE}
# States.
_HANDSHAKE, _OPEN, _CLOSING, _DONE = range(4)

_JSON_FIELDS = (
    b'{"e":"trade","s":"BTCUSDT","t":1700000000123,"p":"64123.45","q":"0.01230",'
    b'"b":88123456,"a":88123457,"T":1700000000122,"m":true,"M":true}'
)


@functools.lru_cache(maxsize=64)
def feed_payload(size: int, text: bool = True) -> bytes:
    """
    Return the payload of every message ``/feed?size=<size>&text=<text>`` sends.

    Text payloads are ASCII, shaped like a market-data record (JSON); binary ones are
    pseudo-random bytes seeded with ``size``.
    """
    if text:
        return (_JSON_FIELDS * (size // len(_JSON_FIELDS) + 1))[:size]
    return random.Random(size).randbytes(size)


def _header(b0: int, length: int) -> bytes:
    """Return an unmasked frame header."""
    if length < 126:
        return bytes((b0, length))
    if length < 65536:
        return bytes((b0, 126, length >> 8, length & 0xFF))
    return bytes((b0, 127)) + length.to_bytes(8, "big")


@functools.lru_cache(maxsize=64)
def _feed_frame(size: int, text: bool, wbits: int) -> bytes:
    """Return one feed frame; compressed with a ``wbits`` window unless ``wbits`` is 0."""
    payload = feed_payload(size, text)
    b0 = 0x81 if text else 0x82
    if wbits:
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -wbits)
        payload = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if payload.endswith(b"\x00\x00\xff\xff"):  # pragma: no branch
            payload = payload[:-4]
        b0 |= 0x40
    return _header(b0, len(payload)) + payload


@functools.lru_cache(maxsize=128)
def _frames(frame: bytes, count: int) -> bytes:
    """Return ``count`` copies of ``frame`` in one buffer (shared by all connections)."""
    return frame * count


def _accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def _negotiate_deflate(header: str) -> tuple[str, int] | None:
    """
    Accept the first permessage-deflate offer we can honour.

    Returns the response header value and the window bits to compress with, or None.
    """
    for offer in header.split(","):
        name, *params = (part.strip() for part in offer.split(";"))
        if name.lower() != "permessage-deflate":
            continue
        response = ["permessage-deflate"]
        wbits = 15
        seen: set[str] = set()
        for param in params:
            key, _, value = param.partition("=")
            key = key.strip().lower()
            value = value.strip().strip('"')
            if key in seen:
                break
            seen.add(key)
            if key == "server_no_context_takeover" and not value:
                # We never refer to earlier messages anyway.
                response.append(key)
            elif key == "client_no_context_takeover" and not value:
                pass  # we may omit it: the client may still reset its compressor
            elif key == "client_max_window_bits":
                if value and not (value.isdigit() and 8 <= int(value) <= 15):
                    break
                # Omitted in the response: the client compresses with its own choice of window.
            elif key == "server_max_window_bits":
                # zlib can't produce an 8-bit raw deflate stream.
                if not (value.isdigit() and 9 <= int(value) <= 15):
                    break
                wbits = int(value)
                response.append(f"server_max_window_bits={wbits}")
            else:
                break
        else:
            return "; ".join(response), wbits
    return None


def _http_error(status: str, reason: str) -> bytes:
    body = reason.encode() + b"\n"
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


class _BadRequest(Exception):
    def __init__(self, reason: str, status: str = "400 Bad Request") -> None:
        super().__init__(reason)
        self.status = status


class FeedProtocol(asyncio.Protocol):
    """One server connection (see the module's documentation for what it does)."""

    __slots__ = (
        "_transport",
        "_state",
        "_mode",
        "_buf",
        "_skip",
        "_paused",
        "_remaining",
        "_waiting",
        "_frame",
        "_chunk",
        "_per_chunk",
        "_timer",
        "_pump_handle",
        "_close_after",
        "_echo_write",
    )

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._state = _HANDSHAKE
        self._mode = _IDLE
        # Bytes received and not parsed yet (a partial request or frame); None when empty.
        self._buf: bytearray | None = None
        # Payload bytes still to skip (a discarded frame that continues in the next read).
        self._skip = 0
        self._paused = False
        # /feed: messages left to send (-1: until the client closes), the frame, the batch.
        self._remaining = 0
        self._waiting = False  # /feed?wait=1: until the client's first data message
        self._frame = b""
        self._chunk = b""
        self._per_chunk = 1
        self._timer: asyncio.TimerHandle | None = None
        self._pump_handle: asyncio.Handle | None = None
        self._close_after = True
        # /echo: the transport's write() while nothing is buffered and the connection is open
        # (the fast path of data_received is on), else None.
        self._echo_write: Callable[[bytes], object] | None = None

    # asyncio callbacks.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start waiting for the HTTP request."""
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the transport and cancel timers."""
        self._transport = None
        self._state = _DONE
        self._buf = None
        self._echo_write = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pump_handle is not None:
            self._pump_handle.cancel()
            self._pump_handle = None

    def pause_writing(self) -> None:
        """Stop writing (``/feed``) or reading (``/echo``) until the client catches up."""
        self._paused = True
        if self._mode == _ECHO and self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        """Go on writing (``/feed``) or reading (``/echo``)."""
        self._paused = False
        if self._mode == _ECHO:
            if self._transport is not None and self._state != _DONE:
                self._transport.resume_reading()
        elif self._remaining:
            self._pump()

    def data_received(self, data: bytes) -> None:
        """Parse the request, then the client's frames."""
        write = self._echo_write
        if write is not None:
            # Speed: the common echo read is one whole masked data frame (opcode 0, 1 or 2), and
            # skips the general parser (100 B: 0.7 µs instead of 1.5 µs with the C unmasking;
            # benchmarks/server_ceiling.py --micro, docs/server.md).
            n = len(data)
            if 5 < n < 132:
                # n == b1 - 122 means b1 == 0x80 | (n - 6): the MASK bit set and a 7-bit length
                # that covers the read exactly (n < 132 rules out the lengths 126 and 127).
                if n == data[1] - 122 and data[0] & 0x0F < 3:
                    write(bytes((data[0], n - 6)) + _apply_mask(data[6:], data[2:6]))
                    return
            elif n > 133 and data[1] == 0xFE and n == (data[2] << 8 | data[3]) + 8:
                # A 16-bit length (MASK bit and 126, n > 133: at least 126) that covers the
                # read exactly.
                if data[0] & 0x0F < 3:
                    header = bytes((data[0], 126, data[2], data[3]))
                    write(header + _apply_mask(data[8:], data[4:8]))
                    return
        if self._state == _HANDSHAKE:
            self._handshake(data)
            return
        if self._state == _DONE:
            return
        skip = self._skip
        if skip:
            if len(data) <= skip:
                self._skip = skip - len(data)
                return
            data = data[skip:]
            self._skip = 0
        buf = self._buf
        if buf is not None:
            buf += data
            self._parse(buf)
        else:
            self._parse(data)

    def eof_received(self) -> bool | None:
        """The client half-closed: close (``False`` lets asyncio close the transport)."""
        return False

    # Handshake.

    def _handshake(self, data: bytes) -> None:
        buf = self._buf
        if buf is None:
            buf = self._buf = bytearray(data)
        else:
            buf += data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > _MAX_REQUEST:
                self._refuse(_BadRequest("request too large"))
            return
        request = bytes(buf[:end]).decode("latin-1")
        rest = bytes(buf[end + 4 :])
        self._buf = None
        try:
            response = self._accept_request(request)
        except _BadRequest as exc:
            self._refuse(exc)
            return
        transport = self._transport
        assert transport is not None
        transport.write(response)
        self._state = _OPEN
        if self._mode == _FEED:
            self._pump()
        elif self._mode == _ECHO:
            self._echo_write = transport.write
        if rest and self._state == _OPEN:
            self.data_received(rest)

    def _accept_request(self, request: str) -> bytes:
        """Check the request; set up the mode; return the 101 response."""
        request_line, *lines = request.split("\r\n")
        try:
            method, target, version = request_line.split(" ")
        except ValueError:
            raise _BadRequest("malformed request line") from None
        if method != "GET" or not version.startswith("HTTP/1."):
            raise _BadRequest("expected GET with HTTP/1.1")
        headers: dict[str, str] = {}
        for line in lines:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise _BadRequest("malformed header line")
            name = name.lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        upgrade = headers.get("upgrade", "").lower()
        if "websocket" not in (token.strip() for token in upgrade.split(",")):
            raise _BadRequest("not a WebSocket handshake: missing Upgrade: websocket")
        connection = headers.get("connection", "").lower()
        if "upgrade" not in (token.strip() for token in connection.split(",")):
            raise _BadRequest("missing Connection: Upgrade")
        if headers.get("sec-websocket-version") != "13":
            raise _BadRequest("unsupported Sec-WebSocket-Version (expected 13)")
        key = headers.get("sec-websocket-key", "")
        try:
            if len(base64.b64decode(key, validate=True)) != 16:
                raise ValueError
        except (ValueError, binascii.Error):
            raise _BadRequest("invalid Sec-WebSocket-Key") from None
        url = urlsplit(target)
        mode = _PATHS.get(url.path)
        if mode is None:
            raise _BadRequest(
                f"unknown path {url.path} (try /feed, /echo, /sink, /idle)", "404 Not Found"
            )
        query = dict(parse_qsl(url.query))
        try:
            size = int(query.get("size", "100"))
            count = int(query.get("count", "0"))
            text = int(query.get("text", "1"))
            deflate = int(query.get("deflate", "0"))
            close = int(query.get("close", "1"))
            wait = int(query.get("wait", "0"))
        except ValueError:
            raise _BadRequest(
                "size, count, text, deflate, close and wait must be integers"
            ) from None
        if size < 0 or count < 0 or not {text, deflate, close, wait} <= {0, 1}:
            raise _BadRequest(
                "size and count must be >= 0; text, deflate, close and wait 0 or 1"
            )
        extra = ""
        wbits = 0
        if deflate:
            negotiated = _negotiate_deflate(headers.get("sec-websocket-extensions", ""))
            if negotiated is not None:
                extension, wbits = negotiated
                extra = f"Sec-WebSocket-Extensions: {extension}\r\n"
        self._mode = mode
        if mode == _FEED:
            frame = _feed_frame(size, bool(text), wbits)
            per_chunk = max(1, CHUNK_BYTES // len(frame))
            self._frame = frame
            self._per_chunk = per_chunk
            self._chunk = _frames(frame, per_chunk)
            self._remaining = count if count else -1
            self._close_after = bool(close)
            self._waiting = bool(wait)
        return (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {_accept(key)}\r\n{extra}\r\n"
        ).encode()

    def _refuse(self, exc: _BadRequest) -> None:
        self._state = _DONE
        self._buf = None
        self._echo_write = None
        transport = self._transport
        if transport is not None:
            transport.write(_http_error(exc.status, str(exc)))
            transport.close()

    # /feed.

    def _pump(self) -> None:
        """Write batches of pre-built frames until the transport pauses us."""
        if self._pump_handle is not None:
            self._pump_handle.cancel()
            self._pump_handle = None
        transport = self._transport
        if transport is None or self._state != _OPEN or self._waiting:
            return
        write = transport.write
        for _ in range(_WRITES_PER_TURN):
            if self._paused:
                return
            remaining = self._remaining
            if remaining < 0:
                write(self._chunk)
            elif remaining > self._per_chunk:
                write(self._chunk)
                self._remaining = remaining - self._per_chunk
            else:
                last = self._chunk if remaining == self._per_chunk else None
                write(last or _frames(self._frame, remaining))
                self._remaining = 0
                if self._close_after:
                    self._send_close(_CLOSE_1000)
                return
        # Still not paused: let other connections run, then go on.
        self._pump_handle = asyncio.get_running_loop().call_soon(self._pump)

    # Frames from the client.

    def _parse(self, data: bytes | bytearray) -> None:
        """Handle every complete frame in ``data``; keep what's left for later."""
        echo = self._mode == _ECHO
        out: list[bytes] = []
        n = len(data)
        pos = 0
        while n - pos >= 2:
            b0 = data[pos]
            b1 = data[pos + 1]
            if b1 < 0x80:
                self._fail(1002)  # 5.1: a server MUST close on an unmasked frame
                return
            length = b1 & 0x7F
            if length < 126:
                hlen = 6
            elif length == 126:
                hlen = 8
                if n - pos < hlen:
                    break
                length = data[pos + 2] << 8 | data[pos + 3]
            else:
                hlen = 14
                if n - pos < hlen:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
            opcode = b0 & 0x0F
            if 2 < opcode < 8 or opcode > 10 or opcode >= 8 and length > 125:
                # 5.2: reserved opcode; 5.5: control frames carry at most 125 bytes.
                self._fail(1002)
                return
            end = pos + hlen + length
            if opcode < 8 and not echo:
                if self._waiting:  # /feed?wait=1: the client's go
                    self._waiting = False
                    self._pump_handle = asyncio.get_running_loop().call_soon(self._pump)
                # A data frame we don't read: skip its payload, even across reads.
                if end > n:
                    self._skip = end - n
                    pos = n
                    break
                pos = end
                continue
            if end > n:
                if hlen + length > MAX_ECHO_FRAME:
                    self._fail(1009)
                    return
                break
            key = bytes(data[pos + hlen - 4 : pos + hlen])
            if length < 4096:
                payload = _apply_mask(data[pos + hlen : end], key)
            else:  # unmask in place of a copy; the view is gone before the buffer shrinks
                with memoryview(data) as view:
                    payload = _apply_mask(view[pos + hlen : end], key)
            pos = end
            if opcode < 8:
                out.append(_header(b0, length) + payload)
            elif opcode == 0x9:
                out.append(_header(0x8A, length) + payload)
            elif opcode == 0x8:
                if out:
                    self._write(out)
                self._close_received(payload)
                return
        if out:
            self._write(out)
        if pos < n:
            if isinstance(data, bytearray):
                del data[:pos]
                self._buf = data
            else:
                self._buf = bytearray(data[pos:])
            self._echo_write = None
        else:
            self._buf = None
            if echo and self._transport is not None:
                self._echo_write = self._transport.write

    def _write(self, out: list[bytes]) -> None:
        transport = self._transport
        if transport is not None and self._state == _OPEN:
            transport.write(out[0] if len(out) == 1 else b"".join(out))

    def _close_received(self, payload: bytes) -> None:
        if self._state == _OPEN:
            # Echo the close code, as most servers do; 1005 (no code) gets an empty close.
            if len(payload) == 1:
                self._fail(1002)
                return
            self._send_close(_header(0x88, min(len(payload), 2)) + payload[:2])
        self._finish()

    def _send_close(self, frame: bytes) -> None:
        transport = self._transport
        if transport is None:  # pragma: no cover - callers check
            return
        transport.write(frame)
        self._state = _CLOSING
        self._timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self._abort)

    def _finish(self) -> None:
        """Closing handshake done: the server closes the TCP connection (RFC 6455 7.1.1)."""
        self._state = _DONE
        self._buf = None
        self._echo_write = None
        self._remaining = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None:
            self._transport.close()

    def _fail(self, code: int) -> None:
        if self._state == _OPEN and self._transport is not None:
            self._transport.write(_header(0x88, 2) + code.to_bytes(2, "big"))
        self._finish()

    def _abort(self) -> None:
        self._timer = None
        if self._transport is not None:
            self._transport.abort()


async def serve(
    host: str = "127.0.0.1", port: int = 0, *, reuse_port: bool = False
) -> asyncio.Server:
    """
    Start the feed server on ``host``:``port`` (0: any free port) and return it.

    The port is ``server.sockets[0].getsockname()[1]``; stop with ``server.close()``.

    Args:
        host: the address to bind.
        port: the port to bind, 0 for any free port.
        reuse_port: set ``SO_REUSEPORT``, so that several processes can listen on the same
            port and the kernel spreads the connections over them (Linux, BSD, macOS).
    """
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        FeedProtocol, host, port, backlog=4096, reuse_port=reuse_port or None
    )


def raise_nofile_limit() -> int:
    """Raise the soft limit of open files to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def _main(host: str, port: int, reuse_port: bool = False) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    def watch_stdin() -> None:
        with contextlib.suppress(Exception):
            while os.read(sys.stdin.fileno(), 4096):
                pass
        with contextlib.suppress(RuntimeError):  # the loop is closed already
            loop.call_soon_threadsafe(stop.set)

    server = await serve(host, port, reuse_port=reuse_port)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    if sys.stdin is not None:
        threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()
    try:
        await stop.wait()
    finally:
        server.close()


def resolve_loop(name: str) -> str:
    """
    Return the event loop to run on: ``name``, or for ``auto`` uvloop when it is installed.

    Args:
        name: ``auto``, ``asyncio`` or ``uvloop``.
    """
    if name != "auto":
        return name
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def main(argv: list[str] | None = None) -> int:
    """Run the feed server from the command line (see the module's documentation)."""
    parser = argparse.ArgumentParser(
        prog="python -m fastws.tools.feedserver",
        description="WebSocket feed/echo/sink/idle server for benchmarks "
        "(paths: /feed?size=&count=&text=&deflate=, /echo, /sink, /idle)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: any free port)")
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop", "auto"),
        default="asyncio",
        help="event loop (default: asyncio; auto: uvloop when installed)",
    )
    parser.add_argument(
        "--uvloop", dest="loop", action="store_const", const="uvloop", help="same as --loop uvloop"
    )
    parser.add_argument(
        "--reuse-port",
        action="store_true",
        help="set SO_REUSEPORT: more servers may listen on the same port, each gets a share "
        "of the connections",
    )
    args = parser.parse_args(argv)
    raise_nofile_limit()
    coro = _main(args.host, args.port, args.reuse_port)
    if resolve_loop(args.loop) == "uvloop":
        try:
            import uvloop
        except ImportError:
            coro.close()
            parser.error("--loop uvloop: uvloop is not installed")
        uvloop.run(coro)
    else:
        asyncio.run(coro)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
