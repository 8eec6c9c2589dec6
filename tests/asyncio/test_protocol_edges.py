"""WebSocketClientProtocol: closing timeouts, keepalive details, deprecated options, corner cases."""

from __future__ import annotations

import asyncio
import logging
import warnings

import pytest

import fastws
from fastws.asyncio.protocol import WebSocketClientProtocol
from fastws.connection import SEND_EOF
from fastws.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
)

from .peers import websockets_server
from .rawserver import CLOSE, CONT, PING, PONG, TEXT, frame, never_reads, no_close, raw_server


def debug_logger(name: str) -> logging.Logger:
    """A logger with DEBUG enabled."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.DEBUG)
    return logger


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]


# Construction and attributes -------------------------------------------------------------


async def test_deprecated_arguments_and_attributes() -> None:
    """timeout=, loop= and the host/port/secure attributes warn as in 10.x."""
    loop = asyncio.get_running_loop()
    with pytest.warns(DeprecationWarning, match="rename timeout to close_timeout"):
        protocol = WebSocketClientProtocol(timeout=3, host="example.com", port=80, secure=False)
    assert protocol.close_timeout == 3
    with pytest.warns(DeprecationWarning, match="remove loop argument"):
        WebSocketClientProtocol(loop=loop)
    for name, value, text in [
        ("host", "example.com", r"use remote_address\[0\] instead of host"),
        ("port", 80, r"use remote_address\[1\] instead of port"),
        ("secure", False, "don't use secure"),
    ]:
        with pytest.warns(DeprecationWarning, match=text):
            assert getattr(protocol, name) == value


async def test_before_connection() -> None:
    """Before connection_made: no addresses; before the handshake: InvalidState."""
    protocol = WebSocketClientProtocol()
    assert protocol.local_address is None
    assert protocol.remote_address is None
    assert protocol.state.name == "CONNECTING"
    assert not protocol.open and not protocol.closed
    with pytest.raises(InvalidState, match="WebSocket connection isn't established yet"):
        await protocol.ensure_open()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        protocol.fail_connection()  # no transport yet: nothing to close
    assert protocol.state.name == "CONNECTING"


async def test_state_property() -> None:
    """state goes OPEN, CLOSING (while closing), CLOSED."""
    async with websockets_server() as server:
        ws = await fastws.connect(server.uri)
        assert ws.state.name == "OPEN"
        closing = asyncio.ensure_future(ws.close())
        await asyncio.sleep(0)
        assert ws.state.name == "CLOSING"
        await closing
        assert ws.state.name == "CLOSED"


# Keepalive -------------------------------------------------------------------------------


async def test_keepalive_without_timeout_keeps_pinging() -> None:
    """ping_timeout=None: pings are sent every ping_interval and never awaited."""
    pinged = asyncio.Event()

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.handshake()
        for _ in range(3):
            assert (await peer.read_frame()).opcode == PING
        pinged.set()
        await peer.reply_until_close()

    async with raw_server(script) as server:
        async with fastws.connect(server.uri, ping_interval=0.01, ping_timeout=None) as ws:
            await pinged.wait()
            assert ws.open
            assert len(ws.pings) >= 3


async def test_keepalive_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Keepalive logs its pings, pongs and timeouts at DEBUG level."""
    logger = debug_logger("test.fastws.keepalive")
    with caplog.at_level(logging.DEBUG, logger="test.fastws.keepalive"):
        async with websockets_server() as server:
            async with fastws.connect(server.uri, logger=logger, ping_interval=0.01) as ws:
                while "% received keepalive pong" not in messages(caplog):
                    await asyncio.sleep(0.01)
        async with raw_server(no_close()) as server:

            async def ignore_pings(peer):  # type: ignore[no-untyped-def]
                await peer.handshake()
                await peer.read_close()

            async with raw_server(ignore_pings) as silent:
                ws = await fastws.connect(
                    silent.uri, logger=logger, ping_interval=0.01, ping_timeout=0.01, close_timeout=0.2
                )
                with pytest.raises(ConnectionClosedError):
                    await ws.recv()
    log = messages(caplog)
    assert "% sending keepalive ping" in log
    assert "! timed out waiting for keepalive pong" in log
    assert "! failing connection with code 1011" in log


# Closing ---------------------------------------------------------------------------------


async def test_close_stages_when_server_keeps_tcp_open(caplog: pytest.LogCaptureFixture) -> None:
    """Server answers the close frame but keeps TCP open: half-close, then close, in bounded time."""
    logger = debug_logger("test.fastws.close")

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.handshake()
        code, _ = await peer.read_close()
        peer.send_close(code)
        await peer.read_until_eof()  # sees the client's half-close, keeps its side open
        await peer.hang()

    with caplog.at_level(logging.DEBUG, logger="test.fastws.close"):
        async with raw_server(script) as server:
            ws = await fastws.connect(server.uri, logger=logger, close_timeout=0.05)
            await ws.close()
    log = messages(caplog)
    assert "! timed out waiting for TCP close" in log
    assert "x half-closing TCP connection" in log
    assert "x closing TCP connection" in log
    assert ws.close_code == 1000


async def test_close_aborts_when_nothing_drains(caplog: pytest.LogCaptureFixture) -> None:
    """A server that never reads: close() can't even send its frame; it aborts in the end."""
    logger = debug_logger("test.fastws.abort")
    with caplog.at_level(logging.DEBUG, logger="test.fastws.abort"):
        async with raw_server(never_reads(), rcvbuf=4096) as server:
            ws = await fastws.connect(
                server.uri, logger=logger, close_timeout=0.05, write_limit=1024, compression=None
            )
            with pytest.raises(asyncio.TimeoutError):
                while True:
                    await asyncio.wait_for(ws.send(bytes(65536)), 0.2)
            await ws.close()
            assert ws.closed
            with pytest.raises(ConnectionClosed):
                await ws.send("x")
    assert "x aborting TCP connection" in messages(caplog)


async def test_send_blocked_when_connection_lost() -> None:
    """A send() waiting for the write buffer to drain raises when the connection is lost."""
    async with raw_server(never_reads(), rcvbuf=4096) as server:
        ws = await fastws.connect(server.uri, write_limit=1024, compression=None)
        blocked = None
        for _ in range(1000):
            blocked = asyncio.ensure_future(ws.send(bytes(65536)))
            await asyncio.sleep(0)
            if not blocked.done():
                break
            blocked.result()
        assert blocked is not None and not blocked.done()
        ws.transport.abort()
        with pytest.raises(ConnectionClosedError):
            await blocked


async def test_close_before_handshake_completes() -> None:
    """close() on a protocol still CONNECTING closes the transport."""

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.read_until_eof()

    async with raw_server(script) as server:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(WebSocketClientProtocol, "127.0.0.1", server.port)
        await protocol.close()
        assert protocol.closed


async def test_flush_with_eof_after_frames() -> None:
    """Frames queued before an EOF marker are written before the half-close."""
    async with websockets_server() as server:
        async with fastws.connect(server.uri, compression=None) as ws:
            conn = ws.connection
            conn.writes.extend([b"\x89\x80\x00\x00\x00\x00", SEND_EOF])
            ws._flush()
            with pytest.raises(ConnectionClosed):
                while True:
                    await ws.recv()


# Fragments -------------------------------------------------------------------------------


async def test_concurrent_fragmented_sends_are_serialized() -> None:
    """A send() waits for a fragmented send in progress to finish."""
    release = asyncio.Event()

    async def slow_chunks():  # type: ignore[no-untyped-def]
        yield "a"
        await release.wait()
        yield "b"

    async with websockets_server(compression=None) as server:
        async with fastws.connect(server.uri, compression=None) as ws:
            first = asyncio.ensure_future(ws.send(slow_chunks()))
            await asyncio.sleep(0)
            second = asyncio.ensure_future(ws.send("c"))
            await asyncio.sleep(0)
            assert not second.done()
            release.set()
            await asyncio.gather(first, second)
            assert await ws.recv() == "ab"
            assert await ws.recv() == "c"


async def test_invalid_utf8_in_partial_continuation() -> None:
    """Invalid UTF-8 split across a continuation frame still being received fails fast."""

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.handshake()
        peer.write(frame(TEXT, "caf\xe9".encode()[:4], fin=False))
        rest = frame(CONT, b"\xa9 \xff and more" + bytes(50))
        peer.write(rest[:8])
        assert await peer.read_close() == (1007, "")
        peer.send_close(1007)

    async with raw_server(script) as server:
        async with fastws.connect(server.uri, compression=None) as ws:
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert isinstance(info.value.__cause__, UnicodeDecodeError)


async def test_partial_binary_is_not_validated() -> None:
    """Binary frames arriving in pieces aren't checked as UTF-8."""

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.handshake()
        data = frame(2, b"\xff" * 40)
        peer.write(data[:10])
        await peer.drain()
        await asyncio.sleep(0.01)
        peer.write(data[10:])
        await peer.reply_until_close()

    async with raw_server(script) as server:
        async with fastws.connect(server.uri, compression=None) as ws:
            assert await ws.recv() == b"\xff" * 40


async def test_pong_to_unknown_ping_ignored() -> None:
    """Unsolicited pongs are ignored."""

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.handshake()
        peer.send(PONG, b"nobody asked")
        peer.send(TEXT, b"after")
        await peer.reply_until_close()

    async with raw_server(script) as server:
        async with fastws.connect(server.uri) as ws:
            assert await ws.recv() == "after"


async def test_close_frame_from_server_while_closing() -> None:
    """Both sides close at once: the client's close() completes."""

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.handshake()
        peer.send(CLOSE, b"\x03\xe8")
        await peer.read_close()

    async with raw_server(script) as server:
        ws = await fastws.connect(server.uri)
        await ws.close()
        assert ws.close_code == 1000


@pytest.mark.parametrize(
    ("sent", "max_queue", "size"),
    [
        (50, 2, 6),  # far above the bound
        (33, 32, 6),  # just above
        (32, 32, 6),  # at
        (31, 32, 6),  # below
        (40, 32, 70_000),  # large messages (past the 64 KiB sink threshold) above the bound
        (50, None, 6),  # unbounded: everything kept
    ],
)
async def test_close_while_queue_is_full(sent: int, max_queue: int | None, size: int) -> None:
    """
    close() while the server keeps sending still completes the closing handshake, with the
    server's code: parsing goes on, at most max_queue messages stay queued for recv(), in order,
    and the ones past the bound are dropped (docs/api.md, difference 11).
    """

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.handshake()
        peer.write(b"".join(frame(TEXT, f"{i:06d}".ljust(size, "x")) for i in range(sent)))
        code, _ = await peer.read_close()
        peer.send_close(code)

    async with raw_server(script) as server:
        ws = await fastws.connect(
            server.uri, max_queue=max_queue, close_timeout=5, max_size=None
        )
        if max_queue is not None and sent >= max_queue:
            while not ws.connection.paused:
                await asyncio.sleep(0.01)
        else:
            while len(ws.messages) < sent:
                await asyncio.sleep(0.01)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await ws.close()
        assert loop.time() - start < 2
        assert ws.close_code == 1000
        kept = sent if max_queue is None else min(sent, max_queue)
        assert len(ws.messages) == kept
        assert ws.flow.dropped == sent - kept
        received = [await ws.recv() for _ in range(kept)]
        assert [m[:6] for m in received] == [f"{i:06d}" for i in range(kept)]
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()


@pytest.mark.parametrize("max_queue", [1, 32])
async def test_fail_connection_with_reading_paused_sees_the_end_of_the_stream(
    max_queue: int,
) -> None:
    """
    fail_connection() while the queue is full and reading is paused: reading resumes (the core
    discards), so the server can flush its backlog and close TCP; no close timeout is waited.
    """

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.handshake()
        peer.write(frame(TEXT, "x" * 1000) * 8000)  # 8 MB: more than the socket buffers hold
        await peer.read_close()
        await peer.close(timeout=8)  # the backlog is flushed first: the client must read it

    async with raw_server(script) as server:
        ws = await fastws.connect(server.uri, max_queue=max_queue, close_timeout=10)
        while not ws.flow.reading_paused:
            await asyncio.sleep(0.01)
        loop = asyncio.get_running_loop()
        start = loop.time()
        ws.fail_connection(1000)
        await ws.wait_closed()
        assert loop.time() - start < 5
        assert ws.close_code == 1006  # the server closed TCP without a close frame
        assert not ws.flow.reading_paused and not ws.connection.paused
        assert len(ws.messages) == max_queue  # what was queued stays readable
