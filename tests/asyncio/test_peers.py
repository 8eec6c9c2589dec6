"""Tests of the test harness itself: runner, peers, raw server (with websockets 17 and raw sockets as clients)."""

from __future__ import annotations

import asyncio
import base64
import gc
import os
import ssl
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect, unix_connect
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus

from .conftest import LoopRunner, new_event_loop
from .peers import (
    aiohttp_server,
    close_with,
    current_server,
    free_unix_path,
    send_then_close,
    send_then_wait,
    slow_echo,
    websockets_server,
)
from .rawserver import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    RSV1,
    TEXT,
    RawPeer,
    accept_key,
    close_payload,
    echo,
    flood,
    frame,
    http_redirect,
    http_response,
    never_reads,
    no_close,
    no_pong,
    raw_server,
    reset_mid_frame,
    response_bytes,
    send_frames,
    silent,
)

# A raw client ------------------------------------------------------------------------

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3
MASK = b"\x37\xfa\x21\x3d"  # RFC 6455 section 5.7


class RawClient:
    """Just enough of a client to poke the servers byte by byte."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def handshake(self, path: str = "/") -> bytes:
        self.writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        return await self.reader.readuntil(b"\r\n\r\n")

    def send(self, opcode: int, payload: bytes = b"") -> None:
        self.writer.write(frame(opcode, payload, mask=MASK))

    async def read_frame(self) -> tuple[bool, int, bytes]:
        b0, b1 = await self.reader.readexactly(2)
        assert not b1 & 0x80, "server frame is masked"
        length = b1 & 0x7F
        if length == 126:
            length = int.from_bytes(await self.reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await self.reader.readexactly(8), "big")
        return bool(b0 & 0x80), b0 & 0xF, await self.reader.readexactly(length)


@asynccontextmanager
async def raw_client(host: str, port: int | None) -> AsyncIterator[RawClient]:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        yield RawClient(reader, writer)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass


async def echo_roundtrip(ws: ClientConnection) -> None:
    await ws.send("hello")
    assert await ws.recv() == "hello"
    await ws.send(b"\x00\xff" * 1000)
    assert await ws.recv() == b"\x00\xff" * 1000


# websockets server -------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_websockets_echo_tcp(compression: str | None) -> None:
    """The echo server answers over TCP, with or without permessage-deflate."""
    async with websockets_server(compression=compression, path="/chat?x=1") as server:
        assert server.uri == f"ws://127.0.0.1:{server.port}/chat?x=1"
        async with connect(server.uri, compression=compression) as ws:
            await echo_roundtrip(ws)
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
            assert (extensions is not None) == (compression == "deflate")
    assert server.received == ["hello", b"\x00\xff" * 1000]
    (request,) = server.requests
    assert request.path == "/chat?x=1"
    assert request.headers["Upgrade"] == "websocket"


async def test_websockets_echo_tls(tls_context) -> None:
    """With ssl_context the server speaks TLS, and the client context trusts it."""
    async with websockets_server(ssl_context=tls_context.server) as server:
        assert server.uri.startswith("wss://127.0.0.1:")
        async with connect(server.uri, ssl=tls_context.client) as ws:
            await echo_roundtrip(ws)
        with pytest.raises(ssl.SSLCertVerificationError):
            async with connect(server.uri, ssl=ssl.create_default_context()):
                pass  # pragma: no cover


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_websockets_echo_unix(unix_path: str, compression: str | None) -> None:
    """With unix_path the server listens on a Unix socket."""
    async with websockets_server(unix_path=unix_path, compression=compression) as server:
        assert (server.uri, server.port) == ("ws://localhost/", None)
        async with unix_connect(unix_path, server.uri, compression=compression) as ws:
            await echo_roundtrip(ws)


async def test_websockets_handlers() -> None:
    """The handler factories do what they say."""
    async with websockets_server(send_then_close("a", b"b", code=4000, reason="bye")) as server:
        async with connect(server.uri) as ws:
            assert [await ws.recv(), await ws.recv()] == ["a", b"b"]
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "bye")
    async with websockets_server(close_with(1001)) as server, connect(server.uri) as ws:
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()
    async with websockets_server(send_then_wait("hi")) as server:
        async with connect(server.uri) as ws:
            assert await ws.recv() == "hi"
            await ws.send("one")
            await ws.send("two")
        await server.connections[0].wait_closed()
        assert server.received == ["one", "two"]
    async with websockets_server(slow_echo(0.01)) as server, connect(server.uri) as ws:
        await ws.send("late")
        assert await ws.recv() == "late"
    async with websockets_server("record") as server:
        async with connect(server.uri, additional_headers={"X-Test": "yes"}) as ws:
            await ws.send("kept")
        await server.connections[0].wait_closed()
        assert server.received == ["kept"]
        assert server.requests[0].headers["X-Test"] == "yes"


async def test_websockets_custom_handler_and_process_request() -> None:
    """Any async handler works; process_request is chained after the recording."""

    async def handler(ws):
        current_server().received.append(await ws.recv())
        await ws.send("custom")

    def reject(connection, request):
        if request.path == "/forbidden":
            return connection.respond(403, "no\n")
        return None

    async with websockets_server(handler, process_request=reject) as server:
        async with connect(server.uri) as ws:
            await ws.send("x")
            assert await ws.recv() == "custom"
        with pytest.raises(InvalidStatus):
            async with connect(server.uri + "forbidden"):
                pass  # pragma: no cover
    assert server.received == ["x"]
    assert [request.path for request in server.requests] == ["/", "/forbidden"]


async def test_server_error_fails_test_fast() -> None:
    """An exception in a handler cancels the test at once and is re-raised on exit."""

    async def handler(ws):
        raise ValueError("handler bug")

    never = asyncio.Event()
    with pytest.raises(ValueError, match="handler bug"):
        async with websockets_server(handler) as server, connect(server.uri):
            await never.wait()  # cancelled by the server's failure, not by the test timeout
    with pytest.raises(ValueError, match="handler bug"):  # fail_fast=False: raised on exit only
        async with websockets_server(handler, fail_fast=False) as server, connect(server.uri) as ws:
            with pytest.raises(ConnectionClosedError):
                await ws.recv()


async def test_half_open_connection_does_not_stall_shutdown() -> None:
    """A client that connects but never sends its request doesn't hold the server open."""
    async with websockets_server() as server, raw_client(server.host, server.port) as client:
        await asyncio.sleep(0)
    assert await client.reader.read() == b""


# aiohttp server ----------------------------------------------------------------------


@pytest.mark.parametrize("compress", [True, False])
async def test_aiohttp_echo(compress: bool) -> None:
    """The aiohttp echo server answers, with or without permessage-deflate."""
    async with aiohttp_server(compress=compress, path="/a/b") as server:
        async with connect(server.uri) as ws:
            await echo_roundtrip(ws)
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
            assert (extensions is not None) == compress
    assert server.received == ["hello", b"\x00\xff" * 1000]
    assert server.requests[0].path == "/a/b"
    assert server.requests[0].headers["Sec-WebSocket-Version"] == "13"


async def test_aiohttp_tls_and_unix(tls_context, unix_path: str) -> None:
    """aiohttp over TLS, and over a Unix socket."""
    async with aiohttp_server(ssl_context=tls_context.server) as server:
        async with connect(server.uri, ssl=tls_context.client) as ws:
            await echo_roundtrip(ws)
    async with aiohttp_server(unix_path=unix_path) as server:
        async with unix_connect(unix_path, server.uri) as ws:
            await echo_roundtrip(ws)


async def test_aiohttp_close_and_open_connections() -> None:
    """The "close" handler closes with 1000; open connections are closed with 1001 on exit."""
    async with aiohttp_server("close") as server, connect(server.uri) as ws:
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()
    async with aiohttp_server("record") as server:
        ws = await connect(server.uri)
        await ws.send("x")
        await (await ws.ping())  # aiohttp answers pings in the handler's loop, after "x"
    with pytest.raises(ConnectionClosedOK) as info:
        await ws.recv()
    assert info.value.rcvd.code == 1001
    assert server.received == ["x"]


# raw server: bytes ---------------------------------------------------------------------


def test_frame_builder() -> None:
    """frame() makes RFC 6455 frames, and wrong ones on request."""
    assert frame(TEXT, "Hello") == b"\x81\x05Hello"  # 5.7
    assert (
        frame(TEXT, b"Hello", mask=MASK) == b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    )  # 5.7
    assert frame(TEXT, b"Hel", fin=False) == b"\x01\x03Hel"
    assert frame(PING, b"Hello") == b"\x89\x05Hello"
    assert frame(BINARY, bytes(256))[:4] == b"\x82\x7e\x01\x00"
    assert frame(BINARY, bytes(65536))[:10] == b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"
    assert frame(TEXT, b"x", rsv=RSV1) == b"\xc1\x01x"
    assert frame(0x3, b"") == b"\x83\x00"
    assert frame(BINARY, b"abc", length_bytes=8) == b"\x82\x7f" + (3).to_bytes(8, "big") + b"abc"
    assert frame(BINARY, b"", length=2**63) == b"\x82\x7f\x80" + bytes(7)
    assert frame(CLOSE, close_payload(1000, b"\xff")) == b"\x88\x03\x03\xe8\xff"
    assert close_payload(None) == b""
    with pytest.raises(ValueError):
        frame(0x10)
    with pytest.raises(ValueError):
        frame(BINARY, b"", length=200, length_bytes=0)
    assert accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # 1.3
    assert (
        http_redirect("ws://x/")
        == b"HTTP/1.1 302 Redirect\r\nLocation: ws://x/\r\nContent-Length: 0\r\n\r\n"
    )
    assert response_bytes(200) == b"HTTP/1.1 200\r\n\r\n"


# raw server: conversations -----------------------------------------------------------


async def test_raw_handshake_and_frames_with_raw_client() -> None:
    """A script reads the request and client frames, and writes a 101 and server frames."""
    seen: list[object] = []

    async def script(peer: RawPeer) -> None:
        path, headers = await peer.read_request()
        seen.append((path, headers["Sec-WebSocket-Key"]))
        peer.accept({"X-Extra": "1"})
        seen.append(await peer.read_frame())
        peer.send(TEXT, "back")
        peer.send_close(1000, "done")
        assert await peer.read_close() == (1000, "")

    async with raw_server(script, path="/p") as server:
        async with raw_client(server.host, server.port) as client:
            response = await client.handshake("/p")
            assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
            assert f"Sec-WebSocket-Accept: {accept_key(KEY)}\r\n".encode() in response
            assert b"X-Extra: 1\r\n" in response
            client.send(TEXT, b"hi")
            assert await client.read_frame() == (True, TEXT, b"back")
            assert await client.read_frame() == (True, CLOSE, b"\x03\xe8done")
            client.send(CLOSE, b"\x03\xe8")
            assert await client.reader.read() == b""  # the script returned: FIN
        peer = await server.peer(0)
        await peer.finished.wait()
    assert seen == [("/p", KEY), (True, TEXT, b"hi")]
    assert peer.frames[0].mask == MASK and peer.frames[0].rsv == 0


async def test_raw_echo_with_websockets_client(unix_path: str) -> None:
    """The canned echo script is a correct server for a real client, over TCP and Unix."""
    async with raw_server(echo()) as server, connect(server.uri, compression=None) as ws:
        await echo_roundtrip(ws)
        await ws.ping(b"p")
    assert [f.opcode for f in server.peers[0].frames] == [TEXT, BINARY, PING, CLOSE]
    async with raw_server(echo(), unix_path=unix_path) as server:
        async with unix_connect(unix_path, server.uri, compression=None) as ws:
            await echo_roundtrip(ws)


async def test_raw_tls(tls_context) -> None:
    """The raw server can speak TLS."""
    async with raw_server(echo(), ssl_context=tls_context.server) as server:
        assert server.uri.startswith("wss://")
        async with connect(server.uri, ssl=tls_context.client, compression=None) as ws:
            await echo_roundtrip(ws)


async def test_raw_script_assertion_fails_test() -> None:
    """An unmasked client frame trips read_frame(); the test fails with that AssertionError."""

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.read_frame()

    never = asyncio.Event()
    with pytest.raises(AssertionError, match="isn't masked"):
        async with raw_server(script) as server, raw_client(server.host, server.port) as client:
            await client.handshake()
            client.writer.write(frame(TEXT, b"unmasked"))
            await never.wait()


async def test_raw_strict_frame_checks() -> None:
    """read_frame() rejects non-minimal lengths and unnegotiated RSV bits, unless told not to."""
    results: list[object] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        for strict in (True, True, False):
            try:
                results.append(await peer.read_frame(strict=strict))
            except AssertionError as exc:
                results.append(str(exc).splitlines()[0])

    async with raw_server(script) as server, raw_client(server.host, server.port) as client:
        await client.handshake()
        client.writer.write(frame(TEXT, b"abc", mask=MASK, length_bytes=2))
        client.writer.write(frame(TEXT, b"abc", mask=MASK, rsv=RSV1))
        client.writer.write(frame(TEXT, b"abc", mask=MASK, length_bytes=8))
        await (await server.peer()).finished.wait()
    assert results[:2] == ["16-bit length 3 isn't minimal", "unexpected RSV bits 100"]
    assert results[2] == (True, TEXT, b"abc")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (response_bytes(404, "Not Found", {"Content-Length": "0"}), "HTTP 404"),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", "Connection"),
        (b"garbage\r\n\r\n", "did not receive a valid HTTP response"),
    ],
)
async def test_raw_bad_handshakes(raw: bytes, expected: str) -> None:
    """http_response() sends any bytes as the handshake response."""
    async with raw_server(http_response(raw)) as server:
        with pytest.raises(Exception, match=expected):
            async with connect(server.uri):
                pass  # pragma: no cover


async def test_raw_accept_variants() -> None:
    """accept() can send a wrong key, omit headers, or use another status."""
    responses: list[bytes] = []

    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        responses.append(
            peer.accept(key_override="x" * 24, omit=["connection"], status=200, reason="OK")
        )

    async with raw_server(script) as server, raw_client(server.host, server.port) as client:
        await client.handshake()
        await (await server.peer()).finished.wait()
    assert responses == [
        b"HTTP/1.1 200 OK\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: "
        + accept_key("x" * 24).encode()
        + b"\r\n\r\n"
    ]
    assert base64.b64decode(accept_key("x" * 24))  # well-formed, just wrong


async def test_raw_redirect() -> None:
    """A redirect from the raw server leads a real client to the echo server."""
    async with websockets_server() as target:
        async with raw_server(http_response(http_redirect(target.uri))) as server:
            async with connect(server.uri) as ws:
                await echo_roundtrip(ws)


async def test_raw_silent() -> None:
    """silent() accepts TCP and never answers: the client's opening handshake times out."""
    async with raw_server(silent()) as server:
        with pytest.raises(asyncio.TimeoutError):  # builtin TimeoutError from 3.11
            async with connect(server.uri, open_timeout=0.1):
                pass  # pragma: no cover
        peer = await server.peer()
        await peer.finished.wait()
    assert peer.request.startswith(b"GET / HTTP/1.1\r\n")


async def test_raw_flood_and_send_frames() -> None:
    """flood() writes the same frame many times; send_frames() writes given frames."""
    async with (
        raw_server(flood(frame(TEXT, "x" * 100), 500)) as server,
        connect(server.uri, compression=None, max_queue=None) as ws,
    ):
        for _ in range(500):
            assert await ws.recv() == "x" * 100
    async with raw_server(
        send_frames(frame(TEXT, "a", fin=False), frame(0, "b"), frame(CLOSE, close_payload(4001)))
    ) as server:
        async with connect(server.uri, compression=None) as ws:
            assert await ws.recv() == "ab"
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.rcvd.code == 4001
        assert [f.opcode for f in server.peers[0].frames] == [CLOSE]  # the client's answer


async def test_raw_never_reads() -> None:
    """never_reads() stops reading: with a small receive buffer the client's drain() blocks."""
    async with (
        raw_server(never_reads(), rcvbuf=4096) as server,
        raw_client(server.host, server.port) as client,
    ):
        await client.handshake()
        peer = await server.peer()
        await peer.handshake_done.wait()
        client.writer.write(b"\x00" * (32 << 20))
        drain = asyncio.ensure_future(client.writer.drain())
        done, _ = await asyncio.wait([drain], timeout=0.05)
        assert not done
        drain.cancel()
        with pytest.raises(asyncio.CancelledError):
            await drain
        client.writer.transport.abort()


async def test_raw_no_pong_and_no_close() -> None:
    """no_pong() ignores pings but answers close; no_close() answers pings, ignores close."""
    async with raw_server(no_pong()) as server, raw_client(server.host, server.port) as client:
        await client.handshake()
        client.send(PING, b"1")
        client.send(CLOSE, b"\x03\xe8")
        assert await client.read_frame() == (True, CLOSE, b"\x03\xe8")  # no pong before it
        assert await client.reader.read() == b""
    async with raw_server(no_close()) as server, raw_client(server.host, server.port) as client:
        await client.handshake()
        client.send(CLOSE, b"\x03\xe8")
        client.send(PING, b"2")
        assert await client.read_frame() == (True, PONG, b"2")  # still talking after close
    assert [f.opcode for f in server.peers[0].frames] == [CLOSE, PING]


async def test_raw_reset_and_close() -> None:
    """reset_mid_frame() and abort() send RST; close() sends FIN."""
    async with raw_server(reset_mid_frame()) as server, connect(server.uri, compression=None) as ws:
        with pytest.raises(ConnectionClosedError) as info:
            await ws.recv()
        assert info.value.rcvd is None

    async def abort(peer: RawPeer) -> None:
        await peer.handshake()
        peer.abort()

    async with raw_server(abort) as server, raw_client(server.host, server.port) as client:
        await client.handshake()
        with pytest.raises(ConnectionResetError):
            await client.reader.read()
    async with (
        raw_server(send_frames(then="close")) as server,
        raw_client(server.host, server.port) as client,
    ):
        await client.handshake()
        assert await client.reader.read() == b""


async def test_raw_exits_with_hanging_script() -> None:
    """Scripts still running when the block exits are cancelled and their connections closed."""
    async with raw_server(send_frames(frame(TEXT, "x"), then="hang")) as server:
        ws = await connect(server.uri, compression=None)
        assert await ws.recv() == "x"
    assert server.peers[0].finished.is_set()
    with pytest.raises(ConnectionClosedError):
        await ws.recv()


# runner ------------------------------------------------------------------------------


async def test_runner_gives_fresh_loop_with_debug(loop: str) -> None:
    """The test runs in a debug-mode loop of the requested kind."""
    running = asyncio.get_running_loop()
    assert running.get_debug()
    assert ("uvloop" in type(running).__module__) == (loop == "uvloop")


@pytest.mark.no_loop_debug
async def test_runner_no_debug_marker() -> None:
    """@pytest.mark.no_loop_debug turns debug mode off."""
    assert not asyncio.get_running_loop().get_debug()


@pytest.mark.loops("uvloop")
async def test_runner_loops_marker(loop: str) -> None:
    """@pytest.mark.loops restricts the loops."""
    assert loop == "uvloop"


def run_in(kind: str, coro_fn, timeout: float = 5) -> LoopRunner:
    runner = LoopRunner(kind)
    with runner:
        runner.run(coro_fn(), timeout)
    return runner


def test_detector_clean(loop: str) -> None:
    """A tidy coroutine passes and its result comes back."""

    async def main():
        async with websockets_server() as server, connect(server.uri) as ws:
            await ws.send("x")
            return await ws.recv()

    with LoopRunner(loop) as runner:
        assert runner.run(main()) == "x"
    assert runner.problems == []


def test_detector_leaked_task(loop: str) -> None:
    """A task left pending fails the test, with its repr."""

    async def main():
        async def forgotten():
            await asyncio.Event().wait()

        asyncio.get_running_loop().create_task(forgotten(), name="forgotten-task")

    with pytest.raises(pytest.fail.Exception, match=r"task still pending.*forgotten-task"):
        run_in(loop, main)


def test_detector_exception_never_retrieved(loop: str) -> None:
    """A task whose exception nobody retrieves fails the test."""

    async def main():
        async def boom():
            raise ValueError("lost")

        task = asyncio.ensure_future(boom())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert task.done()

    with pytest.raises(
        pytest.fail.Exception, match=r"(?s)Task exception was never retrieved.*ValueError: lost"
    ):
        run_in(loop, main)


def test_detector_task_destroyed_pending(loop: str) -> None:
    """A pending task that gets garbage collected fails the test."""

    async def main():
        async def waiter(future):
            await future

        asyncio.ensure_future(waiter(asyncio.get_running_loop().create_future()))
        await asyncio.sleep(0)  # now the task and its future only reference each other
        gc.collect()

    with pytest.raises(pytest.fail.Exception, match="Task was destroyed but it is pending"):
        run_in(loop, main)


def test_detector_unclosed_transport(loop: str) -> None:
    """A connection never closed fails the test with a ResourceWarning."""

    async def main():
        async with raw_server(silent()) as server:
            reader, writer = await asyncio.open_connection(server.host, server.port)
            await server.peer()
            del reader, writer

    with pytest.raises(pytest.fail.Exception, match="ResourceWarning: unclosed"):
        run_in(loop, main)


def test_detector_never_awaited(loop: str) -> None:
    """A coroutine that is never awaited fails the test."""

    async def main():
        asyncio.sleep(0)  # noqa: B018 - deliberately not awaited

    with pytest.raises(pytest.fail.Exception, match="was never awaited"):
        run_in(loop, main)


def test_detector_timeout(loop: str) -> None:
    """A hang fails with the timeout and the line it was waiting on."""

    async def stuck_here():
        await asyncio.Event().wait()

    with pytest.raises(pytest.fail.Exception, match=r"(?s)timed out after 0.05 s.*in stuck_here"):
        run_in(loop, stuck_here, timeout=0.05)


def test_detector_keeps_test_failure_first(loop: str) -> None:
    """When the test fails and also leaks, its own exception is raised, with the leak noted."""

    async def main():
        asyncio.get_running_loop().create_task(asyncio.Event().wait())
        await asyncio.sleep(0)
        raise KeyError("own failure")

    with pytest.raises(KeyError, match="own failure") as info:
        run_in(loop, main)
    if sys.version_info >= (3, 11):
        assert "task still pending" in "".join(info.value.__notes__)


def test_detector_allowed_errors(loop: str) -> None:
    """allow_loop_errors patterns tolerate matching reports."""

    async def main():
        asyncio.get_running_loop().call_exception_handler({"message": "expected noise"})

    with LoopRunner(loop, allowed_errors=["expected noise"]) as runner:
        runner.run(main())
    assert runner.problems == [] and len(runner.tolerated) == 1


def test_new_event_loop_rejects_unknown() -> None:
    with pytest.raises(ValueError):
        new_event_loop("trio")


def test_free_unix_path(tmp_path: Path) -> None:
    """Short paths stay in the directory, taken names are skipped, long ones move to /tmp."""
    first = free_unix_path(tmp_path)
    assert first == str(tmp_path / "ws.sock")
    Path(first).touch()
    assert free_unix_path(tmp_path) == str(tmp_path / "1-ws.sock")
    deep = tmp_path / ("d" * 120)
    fallback = free_unix_path(deep)
    assert len(os.fsencode(fallback)) <= 100 and not fallback.startswith(str(deep))
    os.rmdir(Path(fallback).parent)


# the pytest hooks, end to end ---------------------------------------------------------

SAMPLE_TESTS = """
import asyncio
import pytest

async def test_passes(loop):
    assert loop in ("asyncio", "uvloop")

async def test_leaks():
    asyncio.get_running_loop().create_task(asyncio.Event().wait())

@pytest.mark.timeout_s(0.1)
async def test_hangs():
    await asyncio.Event().wait()

@pytest.mark.allow_loop_errors("expected")
async def test_tolerated():
    asyncio.get_running_loop().call_exception_handler({"message": "expected"})

def test_sync_untouched():
    pass
"""


def test_hooks_end_to_end(tmp_path: Path) -> None:
    """In a separate pytest run: ids, loop parametrization, failures for leaks and hangs."""
    package = tmp_path / "harness"
    package.mkdir()
    here = Path(__file__).parent
    for name in ("__init__.py", "conftest.py", "peers.py", "rawserver.py"):
        (package / name).write_bytes((here / name).read_bytes())
    (package / "test_sample.py").write_text(textwrap.dedent(SAMPLE_TESTS))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:cov",
            "-rA",
            "-q",
            str(package),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **{k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"},
            "PYTHONDONTWRITEBYTECODE": "1",
        },
    )
    out = result.stdout
    for kind in ("asyncio", "uvloop"):
        assert f"PASSED harness/test_sample.py::test_passes[{kind}]" in out
        assert f"PASSED harness/test_sample.py::test_tolerated[{kind}]" in out
        assert f"FAILED harness/test_sample.py::test_leaks[{kind}]" in out
        assert f"FAILED harness/test_sample.py::test_hangs[{kind}]" in out
    assert "PASSED harness/test_sample.py::test_sync_untouched\n" in out
    assert "task still pending after the test" in out
    assert "timed out after 0.1 s" in out
    assert "6 passed" not in out and "4 failed, 5 passed" in out, out


@settings(max_examples=5, deadline=None)
@given(payload=st.binary(max_size=200))
async def test_hypothesis_examples_run_in_the_loop(payload: bytes) -> None:
    """@given on an async test: each example runs in the test's event loop."""
    async with raw_server(echo()) as server, connect(server.uri, compression=None) as ws:
        await ws.send(payload)
        assert await ws.recv() == payload
