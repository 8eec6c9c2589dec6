"""
HTTP/1.1 messages of the opening handshake (RFC 6455 section 4, RFC 7230).

Parsers are generator-based coroutines driven by :class:`~fastws.streams.StreamReader`: they
take its ``read_*`` methods and ``yield from`` them until enough bytes have arrived.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Callable, Generator

from .datastructures import Headers
from .exceptions import SecurityError

__all__ = [
    "MAX_BODY",
    "MAX_HEADERS",
    "MAX_LINE",
    "Request",
    "Response",
    "parse_headers",
    "parse_line",
]

MAX_HEADERS = 128
"""Most header lines accepted in one message."""

MAX_LINE = 8192
"""Longest accepted start line or header line, in bytes, CRLF included."""

MAX_BODY = 2**20
"""Largest accepted response body, in bytes (1 MiB); bodies only carry error pages."""

ReadLine = Callable[[int], Generator[None, None, bytes]]
ReadExact = Callable[[int], Generator[None, None, bytes]]
ReadToEOF = Callable[[int], Generator[None, None, bytes]]

# RFC 7230 section 3.2: field-name = token; tchar per section 3.2.6.
_TOKEN_RE = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")

# RFC 7230 section 3.2: field-value holds HTAB, SP, VCHAR and obs-text. Surrounding whitespace
# is stripped before matching; obs-fold (line folding) isn't supported.
_VALUE_RE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")


def _show(value: bytes) -> str:
    """
    Turn bytes from the wire into text for an error message.

    Args:
        value: raw bytes.

    Returns:
        The bytes decoded as UTF-8, undecodable bytes shown as ``\\xNN``.
    """
    return value.decode(errors="backslashreplace")


@dataclasses.dataclass
class Request:
    """
    Opening handshake request.

    Attributes:
        path: request target: path and optional query.
        headers: request headers.
    """

    path: str
    headers: Headers
    # Handshake requests have no body.

    _exception: Exception | None = None

    @property
    def exception(self) -> Exception | None:
        """
        Deprecated: the exception stored in ``_exception``.

        Returns:
            The stored exception, or None.
        """
        warnings.warn(
            "Request.exception is deprecated; use ServerConnection.handshake_exc instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._exception

    @classmethod
    def parse(cls, read_line: ReadLine) -> Generator[None, None, Request]:
        """
        Parse a handshake request (generator-based coroutine).

        The path is neither decoded nor checked. Non-ASCII bytes of the path and of header
        values become surrogate escapes. A body, if any, is left in the stream.

        Args:
            read_line: reads a line ending with LF, at most the given length.

        Returns:
            The request.

        Raises:
            EOFError: If the stream ends before the request is complete.
            SecurityError: If the request exceeds a size limit.
            ValueError: If the request is malformed, isn't ``GET`` or isn't HTTP/1.1.
            NotImplementedError: If the request has a ``Transfer-Encoding``.
        """
        try:
            request_line = yield from parse_line(read_line)
        except EOFError as exc:
            raise EOFError("connection closed while reading HTTP request line") from exc

        # RFC 7230 section 3.1.1: request-line = method SP request-target SP HTTP-version CRLF
        parts = request_line.split(b" ", 2)
        if len(parts) != 3:
            raise ValueError(f"invalid HTTP request line: {_show(request_line)}")
        method, raw_path, version = parts
        # RFC 6455 section 4.1: "The method of the request MUST be GET, and the HTTP version
        # MUST be at least 1.1."
        if method != b"GET":
            raise ValueError(f"unsupported HTTP method: {_show(method)}")
        if version != b"HTTP/1.1":
            raise ValueError(f"unsupported HTTP version: {_show(version)}")
        path = raw_path.decode("ascii", "surrogateescape")

        headers = yield from parse_headers(read_line)

        # RFC 7230 section 3.3.3: a body is announced by Transfer-Encoding or Content-Length.
        if "Transfer-Encoding" in headers:
            raise NotImplementedError("transfer codings aren't supported")
        if "Content-Length" in headers:
            raise ValueError("unsupported request body")

        return cls(path, headers)

    def serialize(self) -> bytes:
        """
        Encode the request for the wire.

        Returns:
            ``GET <path> HTTP/1.1`` CRLF, then the header block.

        Raises:
            UnicodeEncodeError: If the path or a header holds a surrogate escape.
        """
        return f"GET {self.path} HTTP/1.1\r\n".encode() + self.headers.serialize()


def parse_status_and_headers(
    read_line: ReadLine,
) -> Generator[None, None, tuple[int, str, Headers]]:
    """
    Parse a response's status line and headers (generator-based coroutine): the part of
    :meth:`Response.parse` that the 10.x ``legacy.http.read_response`` shares.

    Raises:
        EOFError: If the stream ends first.
        SecurityError: If a line or the headers exceed a limit.
        ValueError: If the status line or a header is malformed.
    """
    try:
        status_line = yield from parse_line(read_line)
    except EOFError as exc:
        raise EOFError("connection closed while reading HTTP status line") from exc

    # RFC 7230 section 3.1.2: status-line = HTTP-version SP status-code SP reason-phrase CRLF
    parts = status_line.split(b" ", 2)
    if len(parts) != 3:
        raise ValueError(f"invalid HTTP status line: {_show(status_line)}")
    version, raw_status_code, raw_reason = parts
    if version != b"HTTP/1.1":
        raise ValueError(f"unsupported HTTP version: {_show(version)}")
    # RFC 7230 section 3.1.2: status-code = 3DIGIT
    if not raw_status_code.isdigit():
        raise ValueError(f"invalid HTTP status code: {_show(raw_status_code)}")
    status_code = int(raw_status_code)
    if not 100 <= status_code < 1000:
        raise ValueError(f"unsupported HTTP status code: {_show(raw_status_code)}")
    # RFC 7230 section 3.1.2: reason-phrase = *( HTAB / SP / VCHAR / obs-text )
    if not _VALUE_RE.fullmatch(raw_reason):
        raise ValueError(f"invalid HTTP reason phrase: {_show(raw_reason)}")

    headers = yield from parse_headers(read_line)
    return status_code, raw_reason.decode(), headers


@dataclasses.dataclass
class Response:
    """
    Opening handshake response.

    Attributes:
        status_code: HTTP status code.
        reason_phrase: HTTP reason phrase.
        headers: response headers.
        body: response body, None when the response has none.
    """

    status_code: int
    reason_phrase: str
    headers: Headers
    body: bytes | None = None

    _exception: Exception | None = None

    @property
    def exception(self) -> Exception | None:
        """
        Deprecated: the exception stored in ``_exception``.

        Returns:
            The stored exception, or None.
        """
        warnings.warn(
            "Response.exception is deprecated; use ClientConnection.handshake_exc instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._exception

    @classmethod
    def parse(
        cls,
        read_line: ReadLine,
        read_exact: ReadExact,
        read_to_eof: ReadToEOF,
    ) -> Generator[None, None, Response]:
        """
        Parse a handshake response (generator-based coroutine).

        Non-ASCII bytes of header values become surrogate escapes. The body is read when the
        status allows one: ``Content-Length`` bytes, else everything until the end of stream.

        Args:
            read_line: reads a line ending with LF, at most the given length.
            read_exact: reads exactly the given number of bytes.
            read_to_eof: reads until the end of stream, at most the given number of bytes.

        Returns:
            The response.

        Raises:
            EOFError: If the stream ends before the response is complete.
            SecurityError: If the response exceeds a size limit.
            ValueError: If the response is malformed or isn't HTTP/1.1.
            LookupError: If ``Content-Length`` is repeated.
            NotImplementedError: If the response has a ``Transfer-Encoding``.
        """
        status_code, reason, headers = yield from parse_status_and_headers(read_line)

        # RFC 7230 section 3.3.3 decides how the body is delimited.
        if "Transfer-Encoding" in headers:
            raise NotImplementedError("transfer codings aren't supported")

        body: bytes | None
        # RFC 7230 section 3.3.3: "Any response to a HEAD request and any response with a 1xx
        # (Informational), 204 (No Content), or 304 (Not Modified) status code is always
        # terminated by the first empty line after the header fields". fastws only sends GET.
        if status_code < 200 or status_code == 204 or status_code == 304:
            body = None
        elif "Content-Length" not in headers:
            # RFC 7230 section 3.3.3: "the message body length is determined by the number of
            # octets received prior to the server closing the connection."
            try:
                body = yield from read_to_eof(MAX_BODY)
            except RuntimeError as exc:
                raise SecurityError(f"body too large: over {MAX_BODY} bytes") from exc
        else:
            # A repeated Content-Length raises MultipleValuesError, a LookupError.
            raw_content_length = headers["Content-Length"]
            content_length = int(raw_content_length)
            if content_length < 0:
                raise ValueError(f"invalid Content-Length: {raw_content_length}")
            if content_length > MAX_BODY:
                raise SecurityError(f"body too large: {content_length} bytes")
            body = yield from read_exact(content_length)

        return cls(status_code, reason, headers, body)

    def serialize(self) -> bytes:
        """
        Encode the response for the wire.

        Returns:
            The status line, the header block, then the body if there is one.

        Raises:
            UnicodeEncodeError: If the reason phrase or a header holds a surrogate escape.
        """
        response = f"HTTP/1.1 {self.status_code} {self.reason_phrase}\r\n".encode()
        response += self.headers.serialize()
        if self.body is not None:
            response += self.body
        return response


def parse_headers(read_line: ReadLine) -> Generator[None, None, Headers]:
    """
    Parse header lines up to and including the empty line that ends them.

    Args:
        read_line: reads a line ending with LF, at most the given length.

    Returns:
        The headers; non-ASCII bytes of values become surrogate escapes.

    Raises:
        EOFError: If the stream ends before the empty line.
        SecurityError: If there are more than :data:`MAX_HEADERS` headers or a line is too long.
        ValueError: If a header line is malformed.
    """
    # RFC 7230 section 3.2: header-field = field-name ":" OWS field-value OWS
    headers = Headers()
    for _ in range(MAX_HEADERS + 1):
        try:
            line = yield from parse_line(read_line)
        except EOFError as exc:
            raise EOFError("connection closed while reading HTTP headers") from exc
        if not line:
            return headers

        raw_name, colon, raw_value = line.partition(b":")
        if not colon:
            raise ValueError(f"invalid HTTP header line: {_show(line)}")
        # RFC 7230 section 3.2.4: "No whitespace is allowed between the header field-name and
        # colon."; the token check rejects it.
        if not _TOKEN_RE.fullmatch(raw_name):
            raise ValueError(f"invalid HTTP header name: {_show(raw_name)}")
        raw_value = raw_value.strip(b" \t")
        if not _VALUE_RE.fullmatch(raw_value):
            raise ValueError(f"invalid HTTP header value: {_show(raw_value)}")

        headers[raw_name.decode("ascii")] = raw_value.decode("ascii", "surrogateescape")

    raise SecurityError("too many HTTP headers")


def parse_line(read_line: ReadLine) -> Generator[None, None, bytes]:
    """
    Read one line and strip its CRLF.

    Args:
        read_line: reads a line ending with LF, at most the given length.

    Returns:
        The line without CRLF.

    Raises:
        EOFError: If the stream ends first, or the line ends with a bare LF.
        SecurityError: If the line is longer than :data:`MAX_LINE`.
    """
    try:
        line = yield from read_line(MAX_LINE)
    except RuntimeError as exc:
        raise SecurityError("line too long") from exc
    # RFC 7230 section 3.5 lets a recipient accept a bare LF; like websockets, refuse it.
    if not line.endswith(b"\r\n"):
        raise EOFError("line without CRLF")
    return line[:-2]
