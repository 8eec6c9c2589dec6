"""
``websockets.legacy.http``, client side: read the handshake response from an
:class:`asyncio.StreamReader`, as websockets 10.x's asyncio layer did.

The checks and error messages are those of :mod:`fastws.http11` (the body isn't read), and so
are the limits: :data:`MAX_HEADERS` headers, lines of at most :data:`MAX_LINE` bytes (websockets
10.x's asyncio layer allowed 256 lines of 4110 bytes: see ``docs/api.md``). The server's
``read_request`` is left out (fastws is a client).
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any, TypeVar, cast

from ..datastructures import Headers
from ..http11 import MAX_HEADERS as MAX_HEADERS
from ..http11 import MAX_LINE as MAX_LINE
from ..http11 import parse_headers, parse_line, parse_status_and_headers

__all__ = ["read_response"]

T = TypeVar("T")


def _ask_line(limit: int) -> Generator[int, bytes, bytes]:
    """Ask the driver for one line of at most ``limit`` bytes."""
    return (yield limit)


async def _drive(parser: Generator[None, None, T], stream: asyncio.StreamReader) -> T:
    """Run a :mod:`fastws.http11` parser, feeding it the lines it asks for from ``stream``."""
    generator = cast(Generator[int, Any, T], parser)
    try:
        limit = next(generator)
        while True:
            line = await stream.readline()
            if len(line) > limit:
                # What fastws.streams.StreamReader.read_line raises past its limit.
                limit = generator.throw(
                    RuntimeError(f"read {len(line)} bytes, expected no more than {limit} bytes")
                )
            else:
                limit = generator.send(line)
    except StopIteration as done:
        result: T = done.value
        return result


async def read_response(stream: asyncio.StreamReader) -> tuple[int, str, Headers]:
    """
    Read an HTTP/1.1 response's status line and headers from ``stream``.

    Returns:
        ``(status_code, reason, headers)``; non-ASCII bytes of header values are surrogate
        escapes.

    Raises:
        EOFError: If the stream ends before the end of the headers.
        SecurityError: If the response exceeds a limit.
        ValueError: If the response is malformed or isn't HTTP/1.1.
    """
    return await _drive(parse_status_and_headers(cast(Any, _ask_line)), stream)


async def read_headers(stream: asyncio.StreamReader) -> Headers:
    """
    Read header lines from ``stream`` up to the empty line that ends them.

    Raises:
        EOFError: If the stream ends first.
        SecurityError: If there are too many headers or a line is too long.
        ValueError: If a header line is malformed.
    """
    return await _drive(parse_headers(cast(Any, _ask_line)), stream)


async def read_line(stream: asyncio.StreamReader) -> bytes:
    """
    Read one CRLF-terminated line from ``stream``; return it without the CRLF.

    Raises:
        EOFError: If the stream ends first, or the line ends with a bare LF.
        SecurityError: If the line is longer than :data:`MAX_LINE`.
    """
    return await _drive(parse_line(cast(Any, _ask_line)), stream)
