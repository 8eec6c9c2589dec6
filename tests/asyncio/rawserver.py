"""
A deliberately dumb WebSocket server for misbehaviour tests: it does exactly what a script says.

A script is ``async def script(peer: RawPeer)``; it runs once per TCP (or Unix) connection::

    async def script(peer):
        path, headers = await peer.read_request()
        peer.accept(extra_headers={"X-Test": "1"})      # a correct 101 response
        peer.write(frame(TEXT, b"\\xff"))               # invalid UTF-8
        assert await peer.read_close() == (1007, "")

    async with raw_server(script) as server:
        async with fastws.connect(server.uri) as ws: ...

Canned scripts: ``echo()``, ``http_response(raw)``, ``silent()``, ``send_frames(*frames)``,
``flood(frame, count)``, ``never_reads()``, ``no_pong()``, ``no_close()``,
``reset_mid_frame()``. ``send_frames``, ``flood`` and ``http_response`` then do ``then``:
"reply" (answer pings and the close frame; default of the first two), "wait" (read frames,
answer nothing), "close" (FIN; default of http_response), "abort" (RST) or "hang". When a script returns, its connection is closed (FIN); scripts still
running when the ``async with`` block exits are cancelled. An exception in a script (an
``assert`` on what the client sent, a client frame that isn't masked, ...) fails the test: the
test task is cancelled at once (``fail_fast``) and the exception re-raised on exit.

``frame()`` builds server frames, correct by default and wrong on request (masked, bad length,
rsv bits, any opcode); ``RawPeer.read_frame()`` reads a client frame, checks it's masked and
minimally encoded, and unmasks it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Literal

from websockets.datastructures import Headers

from .peers import HOST, PeerBase

__all__ = [
    "BINARY",
    "CLOSE",
    "CONT",
    "PING",
    "PONG",
    "RSV1",
    "RSV2",
    "RSV3",
    "TEXT",
    "RawPeer",
    "RawServer",
    "ReceivedFrame",
    "accept_key",
    "apply_mask",
    "close_payload",
    "echo",
    "flood",
    "frame",
    "http_redirect",
    "http_response",
    "never_reads",
    "no_close",
    "no_pong",
    "raw_server",
    "reset_mid_frame",
    "response_bytes",
    "send_frames",
    "silent",
]

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
DATA_OPCODES = frozenset({CONT, TEXT, BINARY})
CONTROL_OPCODES = frozenset({CLOSE, PING, PONG})
RSV1, RSV2, RSV3 = 0b100, 0b010, 0b001  # values of frame(rsv=...)

MAX_REQUEST = 64 * 1024

Script = Callable[["RawPeer"], Awaitable[None]]
Then = Literal["reply", "wait", "close", "abort", "hang"]


# bytes on the wire ---------------------------------------------------------------------


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 section 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def apply_mask(data: bytes, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated (RFC 6455 section 5.3)."""
    n = len(data)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


def frame(
    opcode: int,
    payload: bytes | str = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
    length: int | None = None,
    length_bytes: Literal[0, 2, 8] | None = None,
) -> bytes:
    """
    A frame as a server would send it: unmasked, minimal length encoding.

    Args:
        opcode: any 4-bit value, including reserved ones (3-7, 0xB-0xF).
        payload: bytes, or str encoded to UTF-8.
        fin: the FIN bit; False with a control opcode makes a fragmented control frame.
        rsv: the three RSV bits as a number: RSV1 (4), RSV2 (2), RSV3 (1).
        mask: a 4-byte key to mask the payload with, which a server MUST NOT do.
        length: the declared payload length when it should differ from the real one
            (a lie, or a huge value such as 2**63 with a short payload).
        length_bytes: force the length encoding (0: 7 bits, 2: 16 bits, 8: 64 bits),
            e.g. non-minimal ``length_bytes=8`` for a 5-byte payload.
    """
    if isinstance(payload, str):
        payload = payload.encode()
    if not 0 <= opcode <= 0xF or not 0 <= rsv <= 7:
        raise ValueError("opcode is 4 bits, rsv is 3 bits")
    n = len(payload) if length is None else length
    if length_bytes is None:
        length_bytes = 0 if n < 126 else 2 if n < 1 << 16 else 8
    header = bytearray([(0x80 if fin else 0) | rsv << 4 | opcode])
    mask_bit = 0x80 if mask is not None else 0
    if length_bytes == 0:
        if n > 125:
            raise ValueError("length > 125 needs length_bytes=2 or 8")
        header.append(mask_bit | n)
    elif length_bytes == 2:
        header.append(mask_bit | 126)
        header += n.to_bytes(2, "big")
    else:
        header.append(mask_bit | 127)
        header += n.to_bytes(8, "big")
    if mask is not None:
        if len(mask) != 4:
            raise ValueError("mask is 4 bytes")
        header += mask
        payload = apply_mask(payload, mask)
    return bytes(header) + payload


def close_payload(code: int | None = 1000, reason: str | bytes = "") -> bytes:
    """Payload of a close frame; ``reason`` may be raw (invalid UTF-8) bytes; None: empty."""
    if code is None:
        return b""
    return struct.pack("!H", code) + (reason.encode() if isinstance(reason, str) else reason)


def response_bytes(
    status: int,
    reason: str = "",
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> bytes:
    """An HTTP/1.1 response, exactly as given (add Content-Length yourself if you want one)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    lines = [f"HTTP/1.1 {status} {reason}".rstrip(" ")]
    lines += [f"{name}: {value}" for name, value in items]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def http_redirect(location: str, status: int = 302) -> bytes:
    """A redirect response to ``location``."""
    return response_bytes(status, "Redirect", {"Location": location, "Content-Length": "0"})


class ReceivedFrame(tuple[bool, int, bytes]):
    """``(fin, opcode, payload)`` of a client frame, unmasked, plus ``.rsv`` and ``.mask``."""

    rsv: int
    mask: bytes

    def __new__(
        cls, fin: bool, opcode: int, payload: bytes, *, rsv: int = 0, mask: bytes = b""
    ) -> ReceivedFrame:
        self = super().__new__(cls, (fin, opcode, payload))
        self.rsv = rsv
        self.mask = mask
        return self

    @property
    def fin(self) -> bool:
        return self[0]

    @property
    def opcode(self) -> int:
        return self[1]

    @property
    def payload(self) -> bytes:
        return self[2]

    def __repr__(self) -> str:
        return f"ReceivedFrame(fin={self.fin}, opcode={self.opcode:#x}, payload={self.payload[:40]!r}, rsv={self.rsv})"


# one connection ------------------------------------------------------------------------


class RawPeer:
    """The server side of one connection, driven by a script."""

    def __init__(
        self, server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.transport: asyncio.Transport = writer.transport  # type: ignore[assignment]
        self.request = b""  # raw bytes of the request, or what silent() read
        self.path: str | None = None
        self.headers = Headers()
        self.frames: list[ReceivedFrame] = []  # every frame read_frame() returned
        self.allowed_rsv = 0  # accept() sets RSV1 when it agrees to permessage-deflate
        self.handshake_done = asyncio.Event()
        self.finished = asyncio.Event()  # the script returned or failed

    # the opening handshake

    async def read_request(self) -> tuple[str, Headers]:
        """Read the client's upgrade request: ``(path, headers)``."""
        self.request = await self.reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = self.request.decode("latin-1").split("\r\n")
        method, path, version = request_line.split(" ", 2)
        assert (method, version) == ("GET", "HTTP/1.1"), f"bad request line: {request_line!r}"
        for line in header_lines:
            if line:
                name, sep, value = line.partition(":")
                assert sep and name == name.strip(), f"bad header line: {line!r}"
                self.headers[name] = value.strip(" \t")
        self.path = path
        return path, self.headers

    def accept(
        self,
        extra_headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        *,
        key_override: str | None = None,
        status: int = 101,
        reason: str | None = None,
        omit: Iterable[str] = (),
    ) -> bytes:
        """
        Write a handshake response; correct by default. Returns the bytes written.

        Args:
            extra_headers: appended after Upgrade, Connection and Sec-WebSocket-Accept.
            key_override: compute Sec-WebSocket-Accept from this key instead of the
                client's (a wrong accept value).
            status, reason: the status line.
            omit: names of default headers to leave out, e.g. ``omit=["Upgrade"]``.
        """
        key = key_override if key_override is not None else self.headers.get("Sec-WebSocket-Key")
        assert key is not None, "accept() needs read_request() first, or key_override"
        skip = {name.lower() for name in omit}
        headers = [
            (name, value)
            for name, value in [
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", accept_key(key)),
            ]
            if name.lower() not in skip
        ]
        headers += list(
            extra_headers.items() if isinstance(extra_headers, Mapping) else extra_headers
        )
        for name, value in headers:
            if name.lower() == "sec-websocket-extensions" and "permessage-deflate" in value:
                self.allowed_rsv = RSV1
        data = response_bytes(
            status, reason if reason is not None else "Switching Protocols", headers
        )
        self.write(data)
        if status == 101:
            self.handshake_done.set()
        return data

    async def handshake(
        self, extra_headers: Mapping[str, str] | Iterable[tuple[str, str]] = (), **kwargs: Any
    ) -> tuple[str, Headers]:
        """``read_request()`` then ``accept()``."""
        request = await self.read_request()
        self.accept(extra_headers, **kwargs)
        return request

    # writing

    def write(self, data: bytes) -> None:
        """Write raw bytes."""
        self.writer.write(data)

    async def drain(self) -> None:
        await self.writer.drain()

    def send(self, opcode: int, payload: bytes | str = b"", **frame_kwargs: Any) -> None:
        """Write ``frame(opcode, payload, **frame_kwargs)``."""
        self.write(frame(opcode, payload, **frame_kwargs))

    def send_close(self, code: int | None = 1000, reason: str | bytes = "") -> None:
        self.send(CLOSE, close_payload(code, reason))

    # reading

    async def read_frame(self, *, strict: bool = True) -> ReceivedFrame:
        """
        Read one client frame and unmask it.

        Raises ``asyncio.IncompleteReadError`` (an EOFError) at end of stream. Asserts that the
        frame is masked (RFC 6455 5.1) and, if ``strict``, that its length is minimally
        encoded, its RSV bits were negotiated, its opcode is known and, for a control frame,
        that it is final and at most 125 bytes.
        """
        b0, b1 = await self.reader.readexactly(2)
        fin, rsv, opcode, masked = bool(b0 & 0x80), b0 >> 4 & 7, b0 & 0xF, bool(b1 & 0x80)
        length = declared = b1 & 0x7F
        if declared == 126:
            length = int.from_bytes(await self.reader.readexactly(2), "big")
        elif declared == 127:
            length = int.from_bytes(await self.reader.readexactly(8), "big")
            assert length < 1 << 63, "64-bit length with the most significant bit set"
        mask = await self.reader.readexactly(4) if masked else b""
        payload = await self.reader.readexactly(length)  # the whole frame is read before any check
        assert masked, "client frame isn't masked"
        payload = apply_mask(payload, mask)
        if strict:
            assert declared != 126 or length >= 126, f"16-bit length {length} isn't minimal"
            assert declared != 127 or length >= 1 << 16, f"64-bit length {length} isn't minimal"
            assert opcode in DATA_OPCODES | CONTROL_OPCODES, f"reserved opcode {opcode:#x}"
            assert rsv & ~self.allowed_rsv == 0, f"unexpected RSV bits {rsv:03b}"
            if opcode in CONTROL_OPCODES:
                assert fin, "fragmented control frame"
                assert length <= 125, f"control frame of {length} bytes"
        received = ReceivedFrame(fin, opcode, payload, rsv=rsv, mask=mask)
        self.frames.append(received)
        return received

    async def read_close(self) -> tuple[int | None, str]:
        """Read frames until a close frame: its ``(code, reason)``; code None if empty."""
        while True:
            received = await self.read_frame()
            if received.opcode == CLOSE:
                payload = received.payload
                if not payload:
                    return None, ""
                return struct.unpack("!H", payload[:2])[0], payload[2:].decode()

    async def read_frames_until_eof(self) -> list[ReceivedFrame]:
        """Read (and record) client frames without answering until the client closes TCP."""
        start = len(self.frames)
        with contextlib.suppress(EOFError, ConnectionError):
            while True:
                await self.read_frame()
        return self.frames[start:]

    async def reply_until_close(self) -> None:
        """Answer pings, ignore data; answer the client's close frame and return (EOF too)."""
        with contextlib.suppress(EOFError, ConnectionError):
            while True:
                received = await self.read_frame()
                if received.opcode == PING:
                    self.send(PONG, received.payload)
                elif received.opcode == CLOSE:
                    self.send(CLOSE, received.payload[:2])
                    return

    async def read_until_eof(self) -> bytes:
        """Read raw bytes until the client closes TCP (a reset counts as the end too)."""
        data = bytearray()
        with contextlib.suppress(ConnectionError):
            while chunk := await self.reader.read(65536):
                data += chunk
        return bytes(data)

    def pause_reading(self) -> None:
        """Stop reading from the socket: the client's writes fill the kernel buffers, then block."""
        self.transport.pause_reading()

    # ending

    def shutdown_write(self) -> None:
        """Half-close: send FIN, keep reading."""
        self.writer.write_eof()

    async def close(self, timeout: float = 1.0) -> None:
        """Close gracefully (FIN) and wait; abort if unsent data doesn't flush within ``timeout``."""
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), timeout)
        except asyncio.TimeoutError:
            self.abort()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        except Exception:  # the connection already failed (reset, TLS error): it's closed
            pass

    def abort(self) -> None:
        """Reset the connection: RST instead of FIN (SO_LINGER 0), unsent data dropped."""
        sock = self.transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    async def hang(self) -> None:
        """Wait until the server stops (the script is cancelled then)."""
        await asyncio.get_running_loop().create_future()


async def _then(peer: RawPeer, then: Then) -> None:
    """What a canned script does once it has said its part."""
    if then == "reply":
        await peer.reply_until_close()
    elif then == "wait":
        await peer.read_frames_until_eof()
    elif then == "close":
        await peer.close()
    elif then == "abort":
        peer.abort()
    elif then == "hang":
        await peer.hang()
    else:
        raise ValueError(f"unknown then: {then!r}")


# the server ----------------------------------------------------------------------------


class RawServer(PeerBase):
    """A TCP (or Unix) server running ``script`` per connection; see ``raw_server``."""

    def __init__(
        self,
        script: Script,
        *,
        ssl_context: ssl.SSLContext | None = None,
        unix_path: str | os.PathLike[str] | None = None,
        path: str = "/",
        rcvbuf: int | None = None,
        fail_fast: bool = True,
    ) -> None:
        super().__init__(
            path=path, ssl_context=ssl_context, unix_path=unix_path, fail_fast=fail_fast
        )
        self.script = script
        self.rcvbuf = rcvbuf
        self.peers: list[RawPeer] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._arrival = asyncio.Event()

    async def start(self) -> None:
        family = socket.AF_UNIX if self.unix_path is not None else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if self.rcvbuf is not None:  # before listen(), so accepted sockets inherit it
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            sock.bind(self.unix_path if self.unix_path is not None else (HOST, 0))
            if self.unix_path is None:
                self.port = sock.getsockname()[1]
            if family == socket.AF_UNIX:
                self.server = await asyncio.start_unix_server(
                    self._on_connect, sock=sock, ssl=self.ssl_context
                )
            else:
                self.server = await asyncio.start_server(
                    self._on_connect, sock=sock, ssl=self.ssl_context
                )
        except BaseException:
            sock.close()
            raise

    async def stop(self) -> None:
        self.server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.server.wait_closed()

    async def peer(self, index: int = 0) -> RawPeer:
        """The ``index``-th connection, once it has arrived."""
        while len(self.peers) <= index:
            self._arrival.clear()
            await self._arrival.wait()
        return self.peers[index]

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = RawPeer(self, reader, writer)
        self.peers.append(peer)
        self._arrival.set()
        self.connected.set()
        task = asyncio.get_running_loop().create_task(self._run(peer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, peer: RawPeer) -> None:
        try:
            await self.script(peer)
        except Exception as exc:
            self.fail(exc)
        finally:
            peer.finished.set()
            await peer.close()


def raw_server(script: Script, **kwargs: Any) -> RawServer:
    """
    A server that runs ``script(peer)`` for each connection.

    Args:
        script: ``async def script(peer: RawPeer)``, or a canned one from this module.
        ssl_context: server-side context; makes ``uri`` wss://.
        unix_path: listen on this Unix socket instead of 127.0.0.1.
        path: path part of ``uri``.
        rcvbuf: SO_RCVBUF of the accepted sockets (small = client writes block sooner).
        fail_fast: cancel the test as soon as a script fails (default True).
    """
    return RawServer(script, **kwargs)


# canned scripts ------------------------------------------------------------------------


def echo() -> Script:
    """A minimal correct server: echo data frames, answer pings, echo the close and close TCP."""

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        while True:
            try:
                received = await peer.read_frame()
            except EOFError:
                return
            if received.opcode in DATA_OPCODES:
                peer.send(received.opcode, received.payload, fin=received.fin)
            elif received.opcode == PING:
                peer.send(PONG, received.payload)
            elif received.opcode == CLOSE:
                peer.send(CLOSE, received.payload[:2])
                return

    return script


def http_response(raw: bytes, *, then: Then = "close") -> Script:
    """Read the request, answer with ``raw`` bytes (a bad handshake), then ``then``."""

    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        peer.write(raw)
        await peer.drain()
        await _then(peer, then)

    return script


def silent() -> Script:
    """Accept the TCP connection, never answer; keep what arrives in ``peer.request``."""

    async def script(peer: RawPeer) -> None:
        peer.request = await peer.read_until_eof()

    return script


def send_frames(*frames: bytes, then: Then = "reply") -> Script:
    """Complete the handshake, write these frames (see ``frame()``), then ``then``."""

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        for data in frames:
            peer.write(data)
        await peer.drain()
        await _then(peer, then)

    return script


def flood(frame_bytes: bytes, count: int, *, then: Then = "reply") -> Script:
    """Complete the handshake, write ``frame_bytes`` ``count`` times as fast as possible."""

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        for i in range(count):
            peer.write(frame_bytes)
            if i % 64 == 63:
                await peer.drain()
        await peer.drain()
        await _then(peer, then)

    return script


def never_reads() -> Script:
    """Complete the handshake, then never read again: the client's writes end up blocking."""

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        peer.pause_reading()
        await peer.hang()

    return script


def no_pong() -> Script:
    """Complete the handshake, ignore pings (and data); answer a close frame and close."""

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        with contextlib.suppress(EOFError):
            while (await peer.read_frame()).opcode != CLOSE:
                pass
            peer.send(CLOSE, peer.frames[-1].payload[:2])

    return script


def no_close() -> Script:
    """Complete the handshake, answer pings, ignore close frames; wait for the client's FIN."""

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        with contextlib.suppress(EOFError, ConnectionError):
            while True:
                received = await peer.read_frame()
                if received.opcode == PING:
                    peer.send(PONG, received.payload)

    return script


def reset_mid_frame(size: int = 1000) -> Script:
    """Complete the handshake, write half of a ``size``-byte binary frame, then reset (RST)."""

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        data = frame(BINARY, b"x" * size)
        peer.write(data[: len(data) // 2])
        await peer.drain()
        peer.abort()

    return script
