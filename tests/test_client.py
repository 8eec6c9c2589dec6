"""Tests for fastws.client.ClientConnection: the opening handshake (RFC 6455 section 4.1)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest

from fastws.client import ClientConnection
from fastws.connection import CLOSED, CONNECTING, OPEN, SEND_EOF
from fastws.exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidStatus,
    InvalidUpgrade,
    NegotiationError,
)
from fastws.frames import OP_CONT, OP_TEXT, Frame
from fastws.http import USER_AGENT
from fastws.http11 import Response
from fastws.typing import Subprotocol
from fastws.uri import parse_uri

from .feed import feed_buffered

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 section 1.3


def make(uri: str = "ws://example.com/chat", **kwargs: Any) -> ClientConnection:
    """A client with the RFC's sample key."""
    conn = ClientConnection(parse_uri(uri), **kwargs)
    conn.key = KEY
    return conn


def response(*headers: str, status: str = "101 Switching Protocols", body: bytes = b"") -> bytes:
    """An HTTP response with the given header lines."""
    lines = [f"HTTP/1.1 {status}", *headers, "", ""]
    return "\r\n".join(lines).encode() + body


UPGRADE = ("Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Accept: {ACCEPT}")


class FakeExtension:
    """An extension object returned by FakeFactory."""

    name = "x-fake"

    def __init__(self, params: Sequence[tuple[str, str | None]]) -> None:
        self.params = list(params)

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        return frame

    def encode(self, frame: Frame) -> Frame:
        return frame


class FakeFactory:
    """A client extension factory that accepts responses without a 'reject' parameter."""

    name = "x-fake"

    def get_request_params(self) -> list[tuple[str, str | None]]:
        return [("a", "1"), ("b", None)]

    def process_response_params(self, params: Any, accepted: Any) -> FakeExtension:
        if ("reject", None) in params:
            raise NegotiationError("rejected")
        return FakeExtension(params)


class TestRequest:
    """4.1: the opening handshake request."""

    def test_minimal(self) -> None:
        """Headers in the 10.x order, serialized with CRLFs."""
        conn = make()
        conn.send_request(conn.connect())
        assert conn.data_to_send() == [
            b"GET /chat HTTP/1.1\r\n"
            b"Host: example.com\r\n"
            b"Upgrade: websocket\r\n"
            b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n"
            b"User-Agent: " + USER_AGENT.encode() + b"\r\n"
            b"\r\n"
        ]

    def test_everything(self) -> None:
        """User info, origin, extensions and subprotocols, and a non-default port."""
        conn = make(
            "wss://user:pass@example.com:8443/a?b=c",
            origin="https://example.com",
            extensions=[FakeFactory()],
            subprotocols=[Subprotocol("chat"), Subprotocol("superchat")],
        )
        request = conn.connect()
        assert request.path == "/a?b=c"
        assert list(request.headers.raw_items()) == [
            ("Host", "example.com:8443"),
            ("Authorization", "Basic dXNlcjpwYXNz"),
            ("Origin", "https://example.com"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", KEY),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Extensions", "x-fake; a=1; b"),
            ("Sec-WebSocket-Protocol", "chat, superchat"),
            ("User-Agent", USER_AGENT),
        ]

    def test_random_key(self) -> None:
        """Each connection gets its own 16-byte base64 key."""
        first = ClientConnection(parse_uri("ws://x/"))
        second = ClientConnection(parse_uri("ws://x/"))
        assert first.key != second.key
        assert len(first.key) == 24

    def test_debug_log(self, caplog: pytest.LogCaptureFixture) -> None:
        """With DEBUG on, the request and response are logged."""
        logger = logging.getLogger("test.fastws.client")
        logger.setLevel(logging.DEBUG)
        conn = make(logger=logger)
        with caplog.at_level(logging.DEBUG, logger="test.fastws.client"):
            conn.send_request(conn.connect())
            conn.receive_data(response(*UPGRADE))
            other = make(logger=logger)
            other.receive_data(response("Content-Length: 2", status="403 Forbidden", body=b"no"))
        messages = [r.getMessage() for r in caplog.records]
        assert "> GET /chat HTTP/1.1" in messages
        assert "> Host: example.com" in messages
        assert "< HTTP/1.1 101 Switching Protocols" in messages
        assert "< Upgrade: websocket" in messages
        assert "< [body] (2 bytes)" in messages
        assert "= connection is OPEN" in messages


class TestResponse:
    """4.1: checking the server's response."""

    def test_accepted(self) -> None:
        """A valid 101 opens the connection; frames in the same read are parsed."""
        conn = make()
        assert conn.state is CONNECTING
        conn.receive_data(response(*UPGRADE) + b"\x81\x04Spam\x81")
        events = conn.events_received()
        assert isinstance(events[0], Response)
        assert events[0].status_code == 101
        assert events[1:] == [Frame(OP_TEXT, b"Spam")]
        assert conn.state is OPEN
        assert conn.handshake_exc is None
        assert conn.reader.size == 1
        assert not conn.close_expected()

    @pytest.mark.parametrize("feeder", ["bytewise", "buffered"])
    def test_accepted_in_pieces(self, feeder: str) -> None:
        """The response may arrive byte by byte, or through get_buffer()."""
        conn = make()
        raw = response(*UPGRADE) + b"\x81\x04Spam"
        if feeder == "bytewise":
            for i in range(len(raw)):
                conn.receive_data(raw[i : i + 1])
        else:
            feed_buffered(conn, [raw])
        assert conn.state is OPEN
        assert conn.events_received()[1:] == [Frame(OP_TEXT, b"Spam")]

    def test_accepted_with_protocol_error(self) -> None:
        """A bad frame right after the response fails the connection with 1002."""
        conn = make()
        conn.receive_data(response(*UPGRADE) + b"\x83\x00")
        assert conn.state.name == "CLOSING"
        assert conn.close_sent is not None and conn.close_sent.code == 1002

    def test_rejected(self) -> None:
        """A non-101 status: InvalidStatus, the body is read to EOF, then CLOSED."""
        conn = make()
        conn.receive_data(response(status="403 Forbidden", body=b"go away"))
        assert conn.events_received() == []
        conn.receive_eof()
        [event] = conn.events_received()
        assert isinstance(event, Response)
        assert event.body == b"go away"
        assert isinstance(conn.handshake_exc, InvalidStatus)
        assert event._exception is conn.handshake_exc
        assert str(conn.handshake_exc) == "server rejected WebSocket connection: HTTP 403"
        assert conn.close_expected()
        assert conn.data_to_send() == [SEND_EOF]
        assert conn.state is CLOSED

    def test_rejected_with_length(self) -> None:
        """With Content-Length, the failure is known before EOF; later data is discarded."""
        conn = make()
        conn.receive_data(response("Content-Length: 2", status="500 Oops", body=b"no") + b"junk")
        assert isinstance(conn.handshake_exc, InvalidStatus)
        assert conn.close_expected()
        assert conn.state is CONNECTING
        conn.receive_data(b"more junk")
        conn.receive_eof()
        assert conn.state is CLOSED

    @pytest.mark.parametrize(
        ("headers", "exc_type", "message"),
        [
            (
                ("Upgrade: websocket", f"Sec-WebSocket-Accept: {ACCEPT}"),
                InvalidUpgrade,
                "missing Connection header",
            ),
            (
                ("Connection: keep-alive", "Upgrade: websocket"),
                InvalidUpgrade,
                "invalid Connection header: keep-alive",
            ),
            (
                ("Connection: Upgrade", f"Sec-WebSocket-Accept: {ACCEPT}"),
                InvalidUpgrade,
                "missing Upgrade header",
            ),
            (
                ("Connection: Upgrade", "Upgrade: h2c"),
                InvalidUpgrade,
                "invalid Upgrade header: h2c",
            ),
            (
                ("Connection: Upgrade", "Upgrade: websocket", "Upgrade: h2c"),
                InvalidUpgrade,
                "invalid Upgrade header: websocket, h2c",
            ),
            (
                ("Connection: keep-alive, upgrade", "Upgrade: WebSocket"),
                InvalidHeader,
                "missing Sec-WebSocket-Accept header",
            ),
            (
                (*UPGRADE, f"Sec-WebSocket-Accept: {ACCEPT}"),
                InvalidHeader,
                "invalid Sec-WebSocket-Accept header: "
                "more than one Sec-WebSocket-Accept header found",
            ),
            (
                ("Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: wrong"),
                InvalidHeaderValue,
                "invalid Sec-WebSocket-Accept header: wrong",
            ),
            (
                (*UPGRADE, "Sec-WebSocket-Extensions: x-fake"),
                InvalidHandshake,
                "no extensions supported",
            ),
            (
                (*UPGRADE, "Sec-WebSocket-Protocol: chat"),
                InvalidHandshake,
                "no subprotocols supported",
            ),
        ],
    )
    def test_invalid(self, headers: tuple[str, ...], exc_type: type, message: str) -> None:
        """Each rule of 4.1 has its exception and message."""
        conn = make()
        conn.receive_data(response(*headers))
        assert type(conn.handshake_exc) is exc_type
        assert str(conn.handshake_exc) == message
        assert conn.close_expected()
        [event] = conn.events_received()
        assert isinstance(event, Response)

    @pytest.mark.parametrize(
        "raw",
        [
            b"HTTP/1.0 101 Switching Protocols\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 101 OK\r\nbad header line\r\n\r\n",
            b"HTTP/1.1 101 OK\r\n" + b"X: y\r\n" * 200 + b"\r\n",
        ],
    )
    def test_malformed(self, raw: bytes) -> None:
        """A response that isn't valid HTTP is reported as InvalidMessage with its cause."""
        conn = make()
        conn.receive_data(raw)
        assert isinstance(conn.handshake_exc, InvalidMessage)
        assert str(conn.handshake_exc) == "did not receive a valid HTTP response"
        assert conn.handshake_exc.__cause__ is not None
        assert conn.events_received() == []
        conn.receive_eof()
        assert conn.data_to_send() == [SEND_EOF]
        assert conn.state is CLOSED

    def test_eof_during_handshake(self) -> None:
        """EOF before the response is complete: InvalidMessage caused by EOFError."""
        conn = make()
        conn.receive_data(b"HTTP/1.1 101 Swi")
        conn.receive_eof()
        assert isinstance(conn.handshake_exc, InvalidMessage)
        assert isinstance(conn.handshake_exc.__cause__, EOFError)
        assert conn.data_to_send() == [SEND_EOF]
        assert conn.state is CLOSED

    def test_open_without_handshake(self) -> None:
        """state=OPEN skips the handshake."""
        conn = ClientConnection(parse_uri("ws://x/"), state=OPEN)
        conn.receive_data(b"\x81\x00")
        assert conn.events_received() == [Frame(OP_TEXT, b"")]


class TestExtensions:
    """9.1: negotiating extensions."""

    def test_accepted(self) -> None:
        """An offered extension accepted by the server is active."""
        conn = make(extensions=[FakeFactory()])
        conn.receive_data(response(*UPGRADE, "Sec-WebSocket-Extensions: x-fake; a=1"))
        assert conn.handshake_exc is None
        [extension] = conn.extensions
        assert isinstance(extension, FakeExtension)
        assert extension.params == [("a", "1")]

    def test_second_factory_matches(self) -> None:
        """A factory that refuses the parameters is skipped for the next one."""

        class Other(FakeFactory):
            name = "x-other"

        conn = make(extensions=[Other(), FakeFactory(), FakeFactory()])
        conn.receive_data(response(*UPGRADE, "Sec-WebSocket-Extensions: x-fake"))
        assert len(conn.extensions) == 1

    def test_unsupported(self) -> None:
        """An extension no factory accepts fails the handshake."""
        conn = make(extensions=[FakeFactory()])
        conn.receive_data(response(*UPGRADE, "Sec-WebSocket-Extensions: x-fake; reject"))
        assert isinstance(conn.handshake_exc, NegotiationError)
        assert str(conn.handshake_exc) == (
            "Unsupported extension: name = x-fake, params = [('reject', None)]"
        )

    def test_frames_go_through_extensions(self) -> None:
        """With extensions, data frames are decoded and delivered as Frame objects."""
        conn = make(extensions=[FakeFactory()])
        conn.receive_data(
            response(*UPGRADE, "Sec-WebSocket-Extensions: x-fake") + b"\x01\x01a\x80\x01b"
        )
        assert conn.events_received()[1:] == [
            Frame(OP_TEXT, b"a", fin=False),
            Frame(OP_CONT, b"b"),
        ]

    def test_rsv_bits_checked_after_decoding(self) -> None:
        """RSV bits left set by the extensions are a protocol error."""
        conn = make(extensions=[FakeFactory()])
        conn.receive_data(response(*UPGRADE, "Sec-WebSocket-Extensions: x-fake") + b"\xc1\x00")
        assert conn.close_sent is not None
        assert conn.close_sent.reason == "reserved bits must be 0"

    def test_rsv_bits_on_control_frames(self) -> None:
        """Extensions never allow RSV bits on control frames."""
        conn = make(extensions=[FakeFactory()])
        conn.receive_data(response(*UPGRADE, "Sec-WebSocket-Extensions: x-fake") + b"\xc9\x00")
        assert conn.close_sent is not None
        assert conn.close_sent.reason == "reserved bits must be 0"

    def test_max_size_with_extensions(self) -> None:
        """Extensions get the remaining budget of a fragmented message."""
        budgets: list[int | None] = []

        class Recording(FakeExtension):
            def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
                budgets.append(max_size)
                return frame

        class Factory(FakeFactory):
            def process_response_params(self, params: Any, accepted: Any) -> FakeExtension:
                return Recording(params)

        conn = make(extensions=[Factory()], max_size=10)
        conn.receive_data(
            response(*UPGRADE, "Sec-WebSocket-Extensions: x-fake") + b"\x01\x03abc\x80\x01d"
        )
        assert budgets == [10, 7]
        no_limit = make(extensions=[Factory()], max_size=None)
        no_limit.receive_data(response(*UPGRADE, "Sec-WebSocket-Extensions: x-fake") + b"\x81\x00")
        assert budgets[-1] is None

    def test_sending_through_extensions(self) -> None:
        """With extensions, sent frames go through Frame.serialize."""
        conn = make(extensions=[FakeFactory()])
        conn.receive_data(response(*UPGRADE, "Sec-WebSocket-Extensions: x-fake"))
        conn.mask_key = lambda: b"\x00\x00\x00\x00"
        conn.send_text(b"hi")
        assert conn.data_to_send() == [b"\x81\x82\x00\x00\x00\x00hi"]


class TestSubprotocols:
    """4.1: the subprotocol the server selects."""

    def test_selected(self) -> None:
        """An offered subprotocol is selected."""
        conn = make(subprotocols=[Subprotocol("chat"), Subprotocol("v2")])
        conn.receive_data(response(*UPGRADE, "Sec-WebSocket-Protocol: v2"))
        assert conn.subprotocol == "v2"

    def test_none_selected(self) -> None:
        """No header: no subprotocol, and no error."""
        conn = make(subprotocols=[Subprotocol("chat")])
        conn.receive_data(response(*UPGRADE))
        assert conn.subprotocol is None
        assert conn.state is OPEN

    def test_multiple(self) -> None:
        """Several values are refused."""
        conn = make(subprotocols=[Subprotocol("a"), Subprotocol("b")])
        conn.receive_data(response(*UPGRADE, "Sec-WebSocket-Protocol: a, b"))
        assert str(conn.handshake_exc) == "multiple subprotocols: a, b"

    def test_unsupported(self) -> None:
        """A subprotocol that wasn't offered is refused."""
        conn = make(subprotocols=[Subprotocol("a")])
        conn.receive_data(response(*UPGRADE, "Sec-WebSocket-Protocol: z"))
        assert isinstance(conn.handshake_exc, NegotiationError)
        assert str(conn.handshake_exc) == "unsupported subprotocol: z"


def test_debug_log_with_extensions(caplog: pytest.LogCaptureFixture) -> None:
    """Frames decoded by extensions are logged at DEBUG level too."""
    logger = logging.getLogger("test.fastws.client.ext")
    logger.setLevel(logging.DEBUG)
    conn = make(extensions=[FakeFactory()], logger=logger)
    with caplog.at_level(logging.DEBUG, logger="test.fastws.client.ext"):
        conn.receive_data(response(*UPGRADE, "Sec-WebSocket-Extensions: x-fake") + b"\x81\x01a")
    assert "< TEXT 'a' [1 byte]" in [r.getMessage() for r in caplog.records]


def test_response_body_not_read() -> None:
    """With read_response_body False, a refusal is reported after the headers, body unread."""
    conn = make()
    conn.read_response_body = False
    conn.receive_data(response(status="403 Forbidden", body=b"partial bo"))
    [event] = conn.events_received()
    assert isinstance(event, Response)
    assert event.body == b""
    assert isinstance(conn.handshake_exc, InvalidStatus)


def test_asyncio_names_are_lazy() -> None:
    """fastws.client exposes the asyncio client as websockets.client does; unknown names fail."""
    import fastws.client as module
    from fastws.asyncio.client import connect

    assert module.connect is connect
    assert "WebSocketClientProtocol" in module.__all__
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        module.nope  # noqa: B018


def test_response_body_not_read_with_length() -> None:
    """The same with a Content-Length."""
    conn = make()
    conn.read_response_body = False
    conn.receive_data(response("Content-Length: 20", status="403 Forbidden", body=b"partial"))
    [event] = conn.events_received()
    assert isinstance(event, Response) and event.body == b""
