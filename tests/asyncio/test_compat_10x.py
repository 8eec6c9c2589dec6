"""
websockets 10.3 behaviour that code relies on, asyncio side: deprecation texts, the debug records
of a connection's life, construction outside a running loop, and ``broadcast``. The expected
texts and records were checked against websockets 10.3 (docs/api.md, "Module paths").
"""

from __future__ import annotations

import asyncio
import logging
import re
import warnings
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.server import ServerConnection

import fastws
from fastws.asyncio.protocol import WebSocketClientProtocol, WebSocketCommonProtocol
from fastws.connection import State
from fastws.legacy.protocol import broadcast

from .conftest import new_event_loop
from .peers import MS, close_with, websockets_server

# Handshake lines ("> GET ...", "< HTTP/1.1 ...", "> Name: value"): not what these tests check.
HANDSHAKE_LINE = re.compile(r"^[<>] (GET |HTTP/1\.1 |[\w-]+: )")

DEPRECATED_ATTRIBUTES = [
    ("host", "use remote_address[0] instead of host"),
    ("port", "use remote_address[1] instead of port"),
    ("secure", "don't use secure"),
]


def transcript(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    """The messages logged under ``name``, handshake lines left out."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == name and not HANDSHAKE_LINE.match(record.getMessage())
    ]


def debug_logger(caplog: pytest.LogCaptureFixture, name: str) -> logging.Logger:
    caplog.set_level(logging.DEBUG, logger=name)
    return logging.getLogger(name)


# Deprecation warnings ----------------------------------------------------------------------


async def test_deprecated_attributes_texts() -> None:
    """ws.host, ws.port, ws.secure warn with 10.3's exact texts, so filters by message work."""
    async with websockets_server() as server:
        async with fastws.connect(server.uri) as ws:
            for name, text in DEPRECATED_ATTRIBUTES:
                with warnings.catch_warnings(record=True) as record:
                    warnings.simplefilter("always")
                    getattr(ws, name)
                assert [(w.category, str(w.message)) for w in record] == [
                    (DeprecationWarning, text)
                ]
                assert record[0].filename == __file__  # points at the caller
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    warnings.filterwarnings("ignore", message=re.escape(text))
                    getattr(ws, name)  # filtered by its message: no error
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                assert (ws.host, ws.port, ws.secure) == ("127.0.0.1", server.port, False)


async def test_legacy_recv_warns() -> None:
    """legacy_recv=True warns "legacy_recv is deprecated", as 10.3's protocol does."""
    with pytest.warns(DeprecationWarning) as record:
        WebSocketCommonProtocol(legacy_recv=True)
    assert [str(w.message) for w in record] == ["legacy_recv is deprecated"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        WebSocketClientProtocol(legacy_recv=False)


# Construction outside a running loop -------------------------------------------------------


def test_constructor_outside_running_loop(loop: str) -> None:
    """Outside a running loop, the protocol takes the current loop (10.3: get_event_loop())."""
    event_loop = new_event_loop(loop)
    asyncio.set_event_loop(event_loop)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            common = WebSocketCommonProtocol()
            client = WebSocketClientProtocol()
        assert common.loop is event_loop and client.loop is event_loop
        assert client.state is State.CONNECTING
        assert not client.open and not client.closed
    finally:
        asyncio.set_event_loop(None)
        event_loop.close()
    # No current loop: what asyncio.get_event_loop() raises, as in 10.3.
    with pytest.raises(RuntimeError, match="There is no current event loop"):
        WebSocketClientProtocol()


# Debug records -----------------------------------------------------------------------------


async def test_records_client_closes(caplog: pytest.LogCaptureFixture) -> None:
    """The records of 10.3's asyncio client, in its order: CLOSING before our close frame."""
    logger = debug_logger(caplog, "test.fastws.compat.client_closes")
    async with websockets_server() as server:
        async with fastws.connect(server.uri, compression=None, logger=logger) as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
    assert transcript(caplog, logger.name) == [
        "= connection is CONNECTING",
        "= connection is OPEN",
        "> TEXT 'hi' [2 bytes]",
        "< TEXT 'hi' [2 bytes]",
        "= connection is CLOSING",
        "> CLOSE 1000 (OK) [2 bytes]",
        "< CLOSE 1000 (OK) [2 bytes]",
        "= connection is CLOSED",
    ]


async def test_records_server_closes(caplog: pytest.LogCaptureFixture) -> None:
    """Server-initiated close: CLOSING between the close frame received and the echo."""
    logger = debug_logger(caplog, "test.fastws.compat.server_closes")
    async with websockets_server(close_with(1001, "bye")) as server:
        ws = await fastws.connect(server.uri, compression=None, logger=logger)
        await ws.wait_closed()
    assert transcript(caplog, logger.name) == [
        "= connection is CONNECTING",
        "= connection is OPEN",
        "< CLOSE 1001 (going away) bye [5 bytes]",
        "= connection is CLOSING",
        "> CLOSE 1001 (going away) bye [5 bytes]",
        "= connection is CLOSED",
    ]


async def test_records_failing(caplog: pytest.LogCaptureFixture) -> None:
    """fail_connection(1011): the failure, then CLOSING, the close frame, CLOSED."""
    logger = debug_logger(caplog, "test.fastws.compat.failing")
    async with websockets_server() as server:
        ws = await fastws.connect(server.uri, compression=None, logger=logger, close_timeout=50 * MS)
        ws.fail_connection(1011, "x")
        await ws.wait_closed()
    log = transcript(caplog, logger.name)
    assert log[:5] == [
        "= connection is CONNECTING",
        "= connection is OPEN",
        "! failing connection with code 1011",
        "= connection is CLOSING",
        "> CLOSE 1011 (unexpected error) x [3 bytes]",
    ]
    assert log[-1] == "= connection is CLOSED"
    assert [message for message in log if message.startswith("=")] == [
        "= connection is CONNECTING",
        "= connection is OPEN",
        "= connection is CLOSING",
        "= connection is CLOSED",
    ]


async def test_records_refused_handshake(caplog: pytest.LogCaptureFixture) -> None:
    """A refused handshake: CONNECTING, the failure, CLOSED; no record 10.3 doesn't make."""
    logger = debug_logger(caplog, "test.fastws.compat.refused")

    def forbid(connection: ServerConnection, request: object) -> object:
        return connection.respond(403, "no\n")

    async with websockets_server(process_request=forbid) as server:
        with pytest.raises(fastws.InvalidStatusCode):
            await fastws.connect(server.uri, logger=logger)
    log = transcript(caplog, logger.name)
    assert [message for message in log if message.startswith("=")] == [
        "= connection is CONNECTING",
        "= connection is CLOSED",
    ]
    assert "! failing connection with code 1006" in log
    # The Sans-I/O core's own records don't show: EOF, the unread body.
    assert not [message for message in log if "EOF" in message or "[body]" in message]


async def test_records_need_debug(caplog: pytest.LogCaptureFixture) -> None:
    """Without DEBUG enabled, a connection logs nothing at all."""
    caplog.set_level(logging.INFO, logger="test.fastws.compat.info")
    logger = logging.getLogger("test.fastws.compat.info")
    async with websockets_server() as server:
        async with fastws.connect(server.uri, logger=logger) as ws:
            await ws.send("hi")
            await ws.recv()
    assert transcript(caplog, logger.name) == []


# broadcast ---------------------------------------------------------------------------------


async def test_broadcast() -> None:
    """broadcast() sends to every open connection, text or binary, and skips closed ones."""
    assert fastws.broadcast is broadcast
    async with websockets_server() as server:
        a = await fastws.connect(server.uri)
        b = await fastws.connect(server.uri)
        c = await fastws.connect(server.uri)
        await c.close()
        broadcast([a, b, c], "hi")
        broadcast([a, b, c], b"\x00\x01")
        broadcast([a, b], memoryview(b"view"))
        for ws in (a, b):
            assert [await ws.recv() for _ in range(3)] == ["hi", b"\x00\x01", b"view"]
        with pytest.raises(TypeError, match="data must be str or bytes-like"):
            broadcast([a], ["not", "fragments"])  # type: ignore[arg-type]
        await a.close()
        await b.close()
    assert server.received.count("hi") == 2


async def test_broadcast_busy() -> None:
    """A connection sending a fragmented message can't take a broadcast: RuntimeError."""
    release = asyncio.Event()

    async def fragments() -> AsyncIterator[str]:
        yield "frag"
        await release.wait()
        yield "ment"

    async with websockets_server() as server:
        async with fastws.connect(server.uri) as ws:
            sending = asyncio.ensure_future(ws.send(fragments()))
            while ws._fragmented_waiter is None:
                await asyncio.sleep(0)
            with pytest.raises(RuntimeError, match="busy sending a fragmented message"):
                broadcast([ws], "hi")
            release.set()
            await sending
            broadcast([ws], "after")
            assert await ws.recv() == "fragment"
            assert await ws.recv() == "after"


def test_core_logger(caplog: pytest.LogCaptureFixture) -> None:
    """CoreLogger: the core's records, as 10.3's asyncio client logs them; others unchanged."""
    from fastws.asyncio.logs import CoreLogger
    from fastws.frames import OP_CLOSE, OP_TEXT, Frame

    logger = debug_logger(caplog, "test.fastws.compat.core")
    core = CoreLogger(logger, {"websocket": None})
    core.debug("= connection is %s", "CONNECTING")
    core.debug("= connection is %s", "OPEN")
    core.debug("> %s", Frame(OP_TEXT, b"hi"))
    core.debug("< EOF")
    core.debug("> %s", Frame(OP_CLOSE, b"\x03\xe8"))
    core.debug("= connection is %s", "CLOSING")
    core.debug("< [body] (%d bytes)", 0)
    core.debug("> EOF")
    core.debug("= connection is %s", "CLOSED")
    core.error("data transfer failed")
    assert transcript(caplog, logger.name) == [
        "= connection is CONNECTING",
        "= connection is OPEN",
        "> TEXT 'hi' [2 bytes]",
        "= connection is CLOSING",
        "> CLOSE 1000 (OK) [2 bytes]",
        "data transfer failed",
    ]
    assert [r.levelno for r in caplog.records if r.name == logger.name][-1] == logging.ERROR
    assert all(getattr(r, "websocket", 0) is None for r in caplog.records if r.name == logger.name)
