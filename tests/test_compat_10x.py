"""
websockets 10.3 behaviour that code relies on, Sans-I/O side: debug records of the connection
state, and the helpers of ``websockets.legacy`` (framing, handshake, http). The expected
values were checked against websockets 10.3/10.4 themselves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from fastws.client import ClientConnection
from fastws.connection import CLIENT, SERVER, Connection
from fastws.datastructures import Headers
from fastws.exceptions import (
    InvalidHeader,
    InvalidHeaderValue,
    InvalidUpgrade,
    PayloadTooBig,
    ProtocolError,
    SecurityError,
)
from fastws.extensions.base import Extension
from fastws.frames import OP_BINARY, OP_PING, OP_TEXT
from fastws.frames import Frame as NewFrame
from fastws.legacy import framing, handshake
from fastws.legacy import http as legacy_http
from fastws.uri import parse_uri
from fastws.utils import accept_key

T = TypeVar("T")


def records(caplog: pytest.LogCaptureFixture, name: str) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == name]


def feed(data: bytes, read: Callable[[asyncio.StreamReader], Awaitable[T]]) -> tuple[T, bytes]:
    """Run ``read`` on a StreamReader holding ``data`` then EOF; also return what's left."""

    async def main() -> tuple[T, bytes]:
        stream = asyncio.StreamReader()
        stream.feed_data(data)
        stream.feed_eof()
        return await read(stream), await stream.read()

    return asyncio.run(main())


# Debug records of the Sans-I/O connection ------------------------------------------------


def test_client_connection_logs_connecting(caplog: pytest.LogCaptureFixture) -> None:
    """ClientConnection(logger=...) logs its initial state first, as 10.3 (the state setter)."""
    logger = logging.getLogger("test.fastws.compat.sansio")
    caplog.set_level(logging.DEBUG, logger=logger.name)
    client = ClientConnection(parse_uri("ws://example.com/chat"), logger=logger)
    assert records(caplog, logger.name) == [(logging.DEBUG, "= connection is CONNECTING")]
    caplog.clear()
    client.send_request(client.connect())
    key = client.key
    client.receive_data(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n"
    )
    log = [message for _, message in records(caplog, logger.name)]
    assert log[0] == "> GET /chat HTTP/1.1"
    assert log[-2:] == [f"< Sec-WebSocket-Accept: {accept_key(key)}", "= connection is OPEN"]


def test_connection_logs_initial_state(caplog: pytest.LogCaptureFixture) -> None:
    """Connection(side) starts OPEN and says so; the default logger is websockets.<side>."""
    caplog.set_level(logging.DEBUG, logger="websockets")
    Connection(CLIENT)
    Connection(SERVER)
    assert records(caplog, "websockets.client") == [(logging.DEBUG, "= connection is OPEN")]
    assert records(caplog, "websockets.server") == [(logging.DEBUG, "= connection is OPEN")]


def test_no_record_without_debug(caplog: pytest.LogCaptureFixture) -> None:
    """With DEBUG disabled, nothing is logged (and nothing is formatted)."""
    logger = logging.getLogger("test.fastws.compat.quiet")
    caplog.set_level(logging.INFO, logger=logger.name)
    ClientConnection(parse_uri("ws://example.com/"), logger=logger)
    assert records(caplog, logger.name) == []


# legacy.handshake ------------------------------------------------------------------------


def test_build_request() -> None:
    """build_request adds the four headers and returns the key."""
    headers = Headers()
    key = handshake.build_request(headers)
    assert list(headers.raw_items()) == [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    assert len(key) == 24


def response_headers(key: str, **changes: Any) -> Headers:
    values: dict[str, Any] = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Accept": accept_key(key),
    }
    values.update(changes)
    headers = Headers()
    for name, value in values.items():
        for item in value if isinstance(value, list) else [] if value is None else [value]:
            headers[name] = item
    return headers


def test_check_response_accepts() -> None:
    """A correct response passes, with any case of "websocket" and extra Connection options."""
    key = handshake.build_request(Headers())
    handshake.check_response(response_headers(key), key)
    handshake.check_response(response_headers(key, Upgrade="WebSocket", Connection="keep-alive, Upgrade"), key)


@pytest.mark.parametrize(
    ("changes", "exc_type", "message"),
    [
        ({"Connection": None}, InvalidUpgrade, "empty Connection header"),
        # 10.x joins the Connection options with a space here.
        ({"Connection": "keep-alive, close"}, InvalidUpgrade, "invalid Connection header: keep-alive close"),
        ({"Upgrade": None}, InvalidUpgrade, "empty Upgrade header"),
        ({"Upgrade": "h2, websocket"}, InvalidUpgrade, "invalid Upgrade header: h2, websocket"),
        ({"Sec-WebSocket-Accept": None}, InvalidHeader, "missing Sec-WebSocket-Accept header"),
        (
            {"Sec-WebSocket-Accept": ["a", "b"]},
            InvalidHeader,
            "invalid Sec-WebSocket-Accept header: more than one Sec-WebSocket-Accept header found",
        ),
        ({"Sec-WebSocket-Accept": "x"}, InvalidHeaderValue, "invalid Sec-WebSocket-Accept header: x"),
    ],
)
def test_check_response_refuses(changes: dict[str, Any], exc_type: type[Exception], message: str) -> None:
    """Each bad response raises 10.x's exception with 10.x's message."""
    key = handshake.build_request(Headers())
    with pytest.raises(exc_type) as info:
        handshake.check_response(response_headers(key, **changes), key)
    assert type(info.value) is exc_type
    assert str(info.value) == message


# legacy.framing --------------------------------------------------------------------------


def test_close_helpers() -> None:
    """parse_close and serialize_close, 10.x's close payload helpers."""
    assert framing.parse_close(b"\x03\xe8ok") == (1000, "ok")
    assert framing.parse_close(b"") == (1005, "")
    assert framing.serialize_close(1001, "bye") == b"\x03\xe9bye"
    with pytest.raises(ProtocolError, match="invalid status code"):
        framing.serialize_close(1005, "")
    with pytest.raises(ProtocolError, match="close frame too short"):
        framing.parse_close(b"\x03")


def test_legacy_frame() -> None:
    """The legacy Frame is a named tuple (fin, opcode, data, rsv1-3) around the new Frame."""
    frame = framing.Frame(True, OP_TEXT, b"hi")
    assert tuple(frame) == (True, OP_TEXT, b"hi", False, False, False)
    assert frame.new_frame == NewFrame(OP_TEXT, b"hi")
    assert str(frame) == "TEXT 'hi' [2 bytes]"
    frame.check()
    with pytest.raises(ProtocolError, match="reserved bits must be 0"):
        framing.Frame(True, OP_TEXT, b"hi", rsv2=True).check()
    written: list[bytes] = []
    frame.write(written.append, mask=False)
    assert written == [b"\x81\x02hi"]
    framing.Frame(False, OP_BINARY, b"\x00").write(written.append, mask=True)
    assert written[1][:2] == b"\x02\x81" and len(written[1]) == 7


def read_frame(data: bytes, **kwargs: Any) -> framing.Frame:
    frame, rest = feed(data, lambda stream: framing.Frame.read(stream.readexactly, **kwargs))
    assert rest == b""
    return frame


def test_legacy_frame_read() -> None:
    """Frame.read awaits the reader for each part: 7-bit, 16-bit and 64-bit lengths, masks."""
    assert read_frame(b"\x81\x02hi", mask=False) == (True, OP_TEXT, b"hi", False, False, False)
    masked = b"\x89\x82abcd" + bytes(x ^ y for x, y in zip(b"hi", b"ab", strict=True))
    assert read_frame(masked, mask=True) == (True, OP_PING, b"hi", False, False, False)
    assert read_frame(b"\x02\x7e\x01\x00" + b"x" * 256, mask=False).data == b"x" * 256
    big = read_frame(b"\x82\x7f" + (70000).to_bytes(8, "big") + b"y" * 70000, mask=False)
    assert big.opcode is OP_BINARY and len(big.data) == 70000
    assert isinstance(big, framing.Frame)


def test_legacy_frame_read_extensions() -> None:
    """Extensions decode the frame in reverse order, with max_size."""
    calls: list[tuple[str, int | None]] = []

    class Tag(Extension):
        def __init__(self, name: str) -> None:
            self.name = name

        def decode(self, frame: NewFrame, *, max_size: int | None = None) -> NewFrame:
            calls.append((self.name, max_size))
            return NewFrame(frame.opcode, frame.data + self.name.encode(), frame.fin)

    frame = read_frame(b"\x81\x02hi", mask=False, max_size=10, extensions=[Tag("a"), Tag("b")])
    assert frame.data == b"hiba"
    assert calls == [("b", 10), ("a", 10)]


@pytest.mark.parametrize(
    ("data", "kwargs", "exc_type", "message"),
    [
        (b"\x83\x02hi", {"mask": False}, ProtocolError, "invalid opcode"),
        (b"\x81\x02hi", {"mask": True}, ProtocolError, "incorrect masking"),
        (b"\xc1\x02hi", {"mask": False}, ProtocolError, "reserved bits must be 0"),
        (b"\x82\x7e\x01\x00" + b"x" * 256, {"mask": False, "max_size": 100}, PayloadTooBig, r"over size limit \(256 > 100 bytes\)"),
        (b"\x81\x05hi", {"mask": False}, asyncio.IncompleteReadError, "2 bytes read on a total of 5 expected bytes"),
    ],
)
def test_legacy_frame_read_errors(
    data: bytes, kwargs: dict[str, Any], exc_type: type[Exception], message: str
) -> None:
    """Bad frames raise what 10.x raised; the reader's own errors pass through."""
    with pytest.raises(exc_type, match=message):
        read_frame(data, **kwargs)


# legacy.http -----------------------------------------------------------------------------


def test_read_response() -> None:
    """Status line and headers; the body (if any) is left in the stream, as in 10.x."""
    (status, reason, headers), rest = feed(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX: \xe9\r\n\r\nrest",
        legacy_http.read_response,
    )
    assert (status, reason) == (101, "Switching Protocols")
    assert list(headers.raw_items()) == [("Upgrade", "websocket"), ("X", "\udce9")]
    assert rest == b"rest"
    # Unlike fastws.http11.Response.parse, nothing about the body is checked.
    (status, _, headers), rest = feed(
        b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        legacy_http.read_response,
    )
    assert status == 400 and rest == b"0\r\n\r\n"


@pytest.mark.parametrize(
    ("data", "exc_type", "message", "cause"),
    [
        (b"", EOFError, "connection closed while reading HTTP status line", "line without CRLF"),
        (b"HTTP/1.1 101 X\n\r\n", EOFError, "connection closed while reading HTTP status line", "line without CRLF"),
        (b"HTTP/1.1 101\r\n\r\n", ValueError, "invalid HTTP status line: HTTP/1.1 101", None),
        (b"HTTP/1.0 101 X\r\n\r\n", ValueError, "unsupported HTTP version: HTTP/1.0", None),
        (b"HTTP/1.1 1x1 X\r\n\r\n", ValueError, "invalid HTTP status code: 1x1", None),
        (b"HTTP/1.1 099 X\r\n\r\n", ValueError, "unsupported HTTP status code: 099", None),
        (b"HTTP/1.1 101 X\x7f\r\n\r\n", ValueError, "invalid HTTP reason phrase: X\x7f", None),
        (b"HTTP/1.1 101 X\r\nA: b\r\n", EOFError, "connection closed while reading HTTP headers", "line without CRLF"),
        (b"HTTP/1.1 101 X\r\n" + b"A: b\r\n" * 300 + b"\r\n", SecurityError, "too many HTTP headers", None),
        (b"HTTP/1.1 101 X\r\nA: " + b"b" * 9000 + b"\r\n\r\n", SecurityError, "line too long", "read 9005 bytes"),
        (b"HTTP/1.1 101 X\r\nA b\r\n\r\n", ValueError, "invalid HTTP header line: A b", None),
        (b"HTTP/1.1 101 X\r\nA b: c\r\n\r\n", ValueError, "invalid HTTP header name: A b", None),
        (b"HTTP/1.1 101 X\r\nA: b\x00\r\n\r\n", ValueError, "invalid HTTP header value: b\x00", None),
    ],
)
def test_read_response_errors(
    data: bytes, exc_type: type[Exception], message: str, cause: str | None
) -> None:
    """10.x's exceptions and messages (limits: fastws', docs/api.md)."""
    with pytest.raises(exc_type) as info:
        feed(data, legacy_http.read_response)
    assert type(info.value) is exc_type
    assert str(info.value) == message
    if cause is None:
        assert info.value.__cause__ is None
    else:
        assert str(info.value.__cause__).startswith(cause)


def test_read_headers_and_line() -> None:
    """read_headers and read_line, the two steps of read_response."""
    headers, rest = feed(b"A: b\r\nC: d\r\n\r\nrest", legacy_http.read_headers)
    assert list(headers.raw_items()) == [("A", "b"), ("C", "d")]
    assert rest == b"rest"
    assert feed(b"line\r\nrest", legacy_http.read_line) == (b"line", b"rest")
    with pytest.raises(EOFError, match="line without CRLF"):
        feed(b"line", legacy_http.read_line)
    assert legacy_http.MAX_HEADERS == 128 and legacy_http.MAX_LINE == 8192
