"""Tests for fastws.http11."""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastws import http11
from fastws.datastructures import Headers, MultipleValuesError
from fastws.exceptions import SecurityError
from fastws.http11 import MAX_BODY, MAX_HEADERS, MAX_LINE, Request, Response
from fastws.streams import StreamReader

PENDING = object()

REQUEST = (
    b"GET /chat?room=1 HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)

RESPONSE_101 = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"\r\n"
)

RESPONSE_404_LENGTH = b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nNot Found"

RESPONSE_500_NO_LENGTH = b"HTTP/1.1 500 Internal Server Error\r\n\r\nOops"

# A frame the server sends right after the handshake; it must stay in the buffer.
UNMASKED_TEXT_SPAM = b"\x81\x04Spam"


def whole(data: bytes) -> list[bytes]:
    """Feed data in one chunk."""
    return [data]


def bytewise(data: bytes) -> list[bytes]:
    """Feed data one byte at a time."""
    return [data[i : i + 1] for i in range(len(data))]


FEEDS = [whole, bytewise]


def drive(
    reader: StreamReader, gen: Generator[None, None, Any], chunks: Iterable[bytes], eof: bool
) -> Any:
    """
    Feed chunks (then EOF if asked) to a parser; return its result, or PENDING.

    Chunks left when the parser returns are still fed, so they end up in the reader.
    """
    pending = list(chunks)
    try:
        next(gen)
        while pending:
            reader.feed_data(pending.pop(0))
            next(gen)
        if eof:
            reader.feed_eof()
            next(gen)
    except StopIteration as exc:
        for chunk in pending:
            reader.feed_data(chunk)
        return exc.value
    return PENDING


def parse_response(data: bytes, eof: bool = False, feed: Any = whole) -> tuple[Any, bytes]:
    """Parse a response; return it (or PENDING) and the bytes left in the reader."""
    reader = StreamReader()
    gen = Response.parse(reader.read_line, reader.read_exact, reader.read_to_eof)
    result = drive(reader, gen, feed(data), eof)
    return result, bytes(reader.buffer)


def parse_request(data: bytes, eof: bool = False, feed: Any = whole) -> tuple[Any, bytes]:
    """Parse a request; return it (or PENDING) and the bytes left in the reader."""
    reader = StreamReader()
    result = drive(reader, Request.parse(reader.read_line), feed(data), eof)
    return result, bytes(reader.buffer)


def test_limits() -> None:
    """The limits are the contract's values."""
    assert (MAX_HEADERS, MAX_LINE, MAX_BODY) == (128, 8192, 2**20)


class TestRequest:
    @pytest.mark.parametrize("feed", FEEDS)
    def test_parse(self, feed: Any) -> None:
        """A handshake request parses into path and headers."""
        request, rest = parse_request(REQUEST, feed=feed)
        assert request.path == "/chat?room=1"
        assert request.headers["Sec-WebSocket-Key"] == "dGhlIHNhbXBsZSBub25jZQ=="
        assert len(request.headers) == 5
        assert rest == b""

    def test_parse_pending(self) -> None:
        """An incomplete request keeps the parser waiting."""
        assert parse_request(REQUEST[:-2])[0] is PENDING

    def test_parse_non_ascii_path(self) -> None:
        """Non-ASCII bytes of the path become surrogate escapes."""
        request, _ = parse_request(b"GET /\xe9 HTTP/1.1\r\n\r\n")
        assert request.path == "/\udce9"

    def test_parse_eof(self) -> None:
        """EOF before the request line raises EOFError chained to the reader's."""
        with pytest.raises(EOFError) as exc_info:
            parse_request(b"GET / HTTP/1.1", eof=True)
        assert str(exc_info.value) == "connection closed while reading HTTP request line"
        assert isinstance(exc_info.value.__cause__, EOFError)

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (b"GET /\r\n\r\n", "invalid HTTP request line: GET /"),
            (b"POST / HTTP/1.1\r\n\r\n", "unsupported HTTP method: POST"),
            (b"GET / HTTP/1.0\r\n\r\n", "unsupported HTTP version: HTTP/1.0"),
            (b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "unsupported request body"),
        ],
    )
    def test_parse_invalid(self, data: bytes, message: str) -> None:
        """Malformed or unsupported requests raise ValueError."""
        with pytest.raises(ValueError) as exc_info:
            parse_request(data)
        assert str(exc_info.value) == message

    def test_parse_transfer_encoding(self) -> None:
        """Transfer codings aren't supported."""
        with pytest.raises(NotImplementedError, match="transfer codings aren't supported"):
            parse_request(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")

    def test_serialize(self) -> None:
        """serialize() gives the exact request bytes."""
        headers = Headers(
            [
                ("Host", "server.example.com"),
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("Sec-WebSocket-Version", "13"),
            ]
        )
        assert Request("/chat?room=1", headers).serialize() == REQUEST

    def test_round_trip(self) -> None:
        """Request.parse() reverses serialize()."""
        request, _ = parse_request(REQUEST)
        assert request.serialize() == REQUEST
        assert parse_request(request.serialize())[0] == request

    def test_exception_deprecated(self) -> None:
        """The exception property warns and returns _exception."""
        exc = ValueError("boom")
        request = Request("/", Headers(), exc)
        with pytest.warns(DeprecationWarning, match="Request.exception is deprecated"):
            assert request.exception is exc


class TestResponse:
    @pytest.mark.parametrize("feed", FEEDS)
    def test_parse_101(self, feed: Any) -> None:
        """A 101 response has no body; the bytes after it stay in the reader."""
        response, rest = parse_response(RESPONSE_101 + UNMASKED_TEXT_SPAM, feed=feed)
        assert response.status_code == 101
        assert response.reason_phrase == "Switching Protocols"
        assert response.headers["upgrade"] == "websocket"
        assert response.body is None
        assert rest == UNMASKED_TEXT_SPAM

    def test_parse_101_pending(self) -> None:
        """Without the empty line the parser keeps waiting."""
        assert parse_response(RESPONSE_101[:-2])[0] is PENDING

    @pytest.mark.parametrize("status", [b"100", b"204", b"304"])
    def test_parse_no_body_status(self, status: bytes) -> None:
        """1xx, 204 and 304 responses have no body, whatever follows."""
        response, rest = parse_response(b"HTTP/1.1 " + status + b" X\r\n\r\nabc")
        assert response.body is None
        assert rest == b"abc"

    @pytest.mark.parametrize("feed", FEEDS)
    def test_parse_content_length(self, feed: Any) -> None:
        """Content-Length bytes are read as the body; the rest stays."""
        response, rest = parse_response(RESPONSE_404_LENGTH + b"tail", feed=feed)
        assert (response.status_code, response.reason_phrase) == (404, "Not Found")
        assert response.body == b"Not Found"
        assert type(response.body) is bytes
        assert rest == b"tail"

    def test_parse_content_length_zero(self) -> None:
        """Content-Length: 0 gives an empty body."""
        response, _ = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        assert response.body == b""

    def test_parse_content_length_max(self) -> None:
        """A body of exactly MAX_BODY bytes is accepted."""
        data = b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n" + b"x" * MAX_BODY
        assert parse_response(data)[0].body == b"x" * MAX_BODY

    @pytest.mark.parametrize("feed", FEEDS)
    def test_parse_until_eof(self, feed: Any) -> None:
        """Without Content-Length the body runs until the end of stream."""
        response, _ = parse_response(RESPONSE_500_NO_LENGTH, feed=feed)
        assert response is PENDING
        response, _ = parse_response(RESPONSE_500_NO_LENGTH, eof=True, feed=feed)
        assert response.body == b"Oops"

    def test_parse_empty_reason(self) -> None:
        """The reason phrase may be empty."""
        response, _ = parse_response(b"HTTP/1.1 101 \r\n\r\n")
        assert response.reason_phrase == ""

    def test_parse_header_whitespace_and_obs_text(self) -> None:
        """Values lose surrounding whitespace; non-ASCII bytes become surrogate escapes."""
        response, _ = parse_response(b"HTTP/1.1 101 X\r\nA:  \t\xe9 b \t\r\nB:\r\n\r\n")
        assert response.headers["A"] == "\udce9 b"
        assert response.headers["B"] == ""

    def test_parse_max_headers(self) -> None:
        """MAX_HEADERS header lines are accepted."""
        data = b"HTTP/1.1 101 X\r\n" + b"A: b\r\n" * MAX_HEADERS + b"\r\n"
        assert len(parse_response(data)[0].headers.get_all("a")) == MAX_HEADERS

    def test_parse_too_many_headers(self) -> None:
        """One more header line is refused."""
        data = b"HTTP/1.1 101 X\r\n" + b"A: b\r\n" * (MAX_HEADERS + 1) + b"\r\n"
        with pytest.raises(SecurityError, match="too many HTTP headers"):
            parse_response(data)

    def test_parse_max_line(self) -> None:
        """A header line of MAX_LINE bytes, CRLF included, is accepted."""
        data = b"HTTP/1.1 101 X\r\nA: " + b"b" * (MAX_LINE - 5) + b"\r\n\r\n"
        assert len(parse_response(data)[0].headers["A"]) == MAX_LINE - 5

    def test_parse_line_too_long(self) -> None:
        """A longer line is refused, chained to the reader's RuntimeError."""
        data = b"HTTP/1.1 101 X\r\nA: " + b"b" * (MAX_LINE - 4) + b"\r\n\r\n"
        with pytest.raises(SecurityError, match="line too long") as exc_info:
            parse_response(data)
        assert isinstance(exc_info.value.__cause__, RuntimeError)

    def test_parse_body_too_large_content_length(self) -> None:
        """A Content-Length over MAX_BODY is refused before reading."""
        data = b"HTTP/1.1 200 OK\r\nContent-Length: 1048577\r\n\r\n"
        with pytest.raises(SecurityError) as exc_info:
            parse_response(data)
        assert str(exc_info.value) == "body too large: 1048577 bytes"

    def test_parse_body_too_large_until_eof(self) -> None:
        """A body over MAX_BODY without Content-Length is refused."""
        data = b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * (MAX_BODY + 1)
        with pytest.raises(SecurityError) as exc_info:
            parse_response(data)
        assert str(exc_info.value) == "body too large: over 1048576 bytes"
        assert isinstance(exc_info.value.__cause__, RuntimeError)

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (b"", "connection closed while reading HTTP status line"),
            (b"HTTP/1.1 101 X", "connection closed while reading HTTP status line"),
            (b"HTTP/1.1 101 X\r\nA: b\r\n", "connection closed while reading HTTP headers"),
        ],
    )
    def test_parse_eof(self, data: bytes, message: str) -> None:
        """EOF before the end of the head raises EOFError chained to the reader's."""
        with pytest.raises(EOFError) as exc_info:
            parse_response(data, eof=True)
        assert str(exc_info.value) == message
        assert isinstance(exc_info.value.__cause__, EOFError)

    def test_parse_eof_in_body(self) -> None:
        """EOF before Content-Length bytes raises the reader's EOFError."""
        with pytest.raises(EOFError, match="stream ends after 4 bytes, expected 9 bytes"):
            parse_response(RESPONSE_404_LENGTH[:-5], eof=True)

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (b"HTTP/1.1 101 X\n\r\n", "connection closed while reading HTTP status line"),
            (b"HTTP/1.1 101 X\r\nA: b\n\r\n", "connection closed while reading HTTP headers"),
        ],
    )
    def test_parse_bare_lf(self, data: bytes, message: str) -> None:
        """A line ending with a bare LF is refused as an EOFError, as in 10.x."""
        with pytest.raises(EOFError) as exc_info:
            parse_response(data)
        assert str(exc_info.value) == message
        assert str(exc_info.value.__cause__) == "line without CRLF"

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (b"HTTP/1.1 101\r\n\r\n", "invalid HTTP status line: HTTP/1.1 101"),
            (b"HTTP/1.0 101 X\r\n\r\n", "unsupported HTTP version: HTTP/1.0"),
            (b"HTTP/1.1 abc X\r\n\r\n", "invalid HTTP status code: abc"),
            (b"HTTP/1.1 +99 X\r\n\r\n", "invalid HTTP status code: +99"),
            (b"HTTP/1.1 1_1 X\r\n\r\n", "invalid HTTP status code: 1_1"),
            (b"HTTP/1.1 \xff X\r\n\r\n", "invalid HTTP status code: \\xff"),
            (b"HTTP/1.1 99 X\r\n\r\n", "unsupported HTTP status code: 99"),
            (b"HTTP/1.1 1000 X\r\n\r\n", "unsupported HTTP status code: 1000"),
            (b"HTTP/1.1 101 \x00\r\n\r\n", "invalid HTTP reason phrase: \x00"),
            (b"HTTP/1.1 101 X\r\nA\r\n\r\n", "invalid HTTP header line: A"),
            (b"HTTP/1.1 101 X\r\nA : b\r\n\r\n", "invalid HTTP header name: A "),
            (b"HTTP/1.1 101 X\r\n: b\r\n\r\n", "invalid HTTP header name: "),
            (b"HTTP/1.1 101 X\r\nA: \x7f\r\n\r\n", "invalid HTTP header value: \x7f"),
            (b"HTTP/1.1 200 X\r\nContent-Length: x\r\n\r\n", None),
            (b"HTTP/1.1 200 X\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length: -1"),
        ],
    )
    def test_parse_invalid(self, data: bytes, message: str | None) -> None:
        """Malformed responses raise ValueError."""
        with pytest.raises(ValueError) as exc_info:
            parse_response(data)
        if message is not None:
            assert str(exc_info.value) == message

    def test_parse_non_utf8_reason(self) -> None:
        """A reason phrase that isn't UTF-8 raises ValueError (UnicodeDecodeError)."""
        with pytest.raises(UnicodeDecodeError):
            parse_response(b"HTTP/1.1 101 \xe9\r\n\r\n")

    def test_parse_transfer_encoding(self) -> None:
        """Transfer codings aren't supported."""
        with pytest.raises(NotImplementedError, match="transfer codings aren't supported"):
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")

    def test_parse_repeated_content_length(self) -> None:
        """A repeated Content-Length raises a LookupError."""
        data = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"
        with pytest.raises(MultipleValuesError):
            parse_response(data)

    def test_serialize(self) -> None:
        """serialize() gives the exact response bytes."""
        headers = Headers(
            [
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            ]
        )
        assert Response(101, "Switching Protocols", headers).serialize() == RESPONSE_101

    def test_serialize_body(self) -> None:
        """The body follows the header block."""
        response = Response(404, "Not Found", Headers({"Content-Length": "9"}), b"Not Found")
        assert response.serialize() == RESPONSE_404_LENGTH

    def test_exception_deprecated(self) -> None:
        """The exception property warns and returns _exception."""
        response = Response(200, "OK", Headers())
        assert response._exception is None
        with pytest.warns(DeprecationWarning, match="Response.exception is deprecated"):
            assert response.exception is None


def test_parse_line_and_headers_directly() -> None:
    """parse_line() and parse_headers() work on any read_line."""
    reader = StreamReader()
    reader.feed_data(b"first\r\nA: 1\r\n\r\n")
    assert drive(reader, http11.parse_line(reader.read_line), [], False) == b"first"
    assert drive(reader, http11.parse_headers(reader.read_line), [], False) == Headers(A="1")


_TOKEN = st.text(alphabet="!#$%&'*+-.^_`|~09azAZ", min_size=1, max_size=10).filter(
    lambda name: name.lower() not in ("content-length", "transfer-encoding")
)
_VALUE = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=10
) | st.just("a b\tc")
_REASON = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)
_STATUS = st.integers(200, 999).filter(lambda code: code not in (204, 304))


@given(
    status=_STATUS,
    reason=_REASON,
    pairs=st.lists(st.tuples(_TOKEN, _VALUE), max_size=6),
    body=st.binary(max_size=64),
    after=st.binary(max_size=8),
)
def test_response_round_trip(
    status: int, reason: str, pairs: list[tuple[str, str]], body: bytes, after: bytes
) -> None:
    """Response.parse() reverses serialize(), for every way of feeding the bytes."""
    headers = Headers(pairs)
    headers["Content-Length"] = str(len(body))
    response = Response(status, reason, headers, body)
    data = response.serialize()
    for feed in FEEDS:
        parsed, rest = parse_response(data + after, feed=feed)
        assert parsed == response
        assert list(parsed.headers.raw_items()) == list(headers.raw_items())
        assert rest == after


@given(status=st.sampled_from([101, 204, 304]), reason=_REASON)
def test_response_round_trip_no_body(status: int, reason: str) -> None:
    """Responses without a body round-trip too."""
    response = Response(status, reason, Headers(Upgrade="websocket"))
    assert parse_response(response.serialize())[0] == response
