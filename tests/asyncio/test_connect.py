"""connect() and unix_connect(): forms, arguments, handshake, redirects, timeouts, TLS, backoff."""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import ssl
import subprocess
import sys
import types
from collections.abc import Awaitable, Callable, Generator
from pathlib import Path
from typing import Any

import pytest

import fastws
import fastws.asyncio.client as client_module
import fastws.client
from fastws.datastructures import Headers
from fastws.exceptions import (
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidStatusCode,
    InvalidUpgrade,
    InvalidURI,
    NegotiationError,
    SecurityError,
)

from .peers import MS, TLSContexts, aiohttp_server, send_then_close, websockets_server
from .rawserver import RawPeer, http_redirect, raw_server, response_bytes, silent

USER_AGENT = f"Python/{sys.version_info.major}.{sys.version_info.minor} fastws/{fastws.__version__}"
DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"
Script = Callable[[RawPeer], Awaitable[None]]



# Helpers -------------------------------------------------------------------------------


def respond(write: Callable[[RawPeer], object]) -> Script:
    """Read the request, let ``write(peer)`` answer, then read until the client closes TCP."""

    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        write(peer)
        await peer.drain()
        await peer.read_until_eof()

    return script


def accept_then_reply(peer: RawPeer) -> Awaitable[None]:
    """Accept the handshake (no extension) and answer until the client closes."""
    peer.accept()
    return peer.reply_until_close()


def by_connection(*steps: Callable[[RawPeer], object]) -> Script:
    """Connection number i runs ``steps[i]`` (the last one repeats) after reading the request."""

    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        index = min(peer.server.peers.index(peer), len(steps) - 1)
        result = steps[index](peer)
        if isinstance(result, Awaitable):
            await result
        else:
            await peer.drain()
            await peer.read_until_eof()

    return script


def refuse(peer: RawPeer) -> None:
    """Answer 500."""
    peer.write(response_bytes(500, "Internal Server Error", {"Content-Length": "0"}))


def redirect(location: str, status: int = 302) -> Callable[[RawPeer], None]:
    """Answer a redirect to ``location``."""
    return lambda peer: peer.write(http_redirect(location, status))


async def client_closed(peer: RawPeer) -> None:
    """Wait until the server side saw the client close the connection."""
    await asyncio.wait_for(peer.finished.wait(), 2)


async def abandoned_iterations_closed() -> None:
    """
    Wait for the ``aclose()`` of reconnecting iterators left by ``break`` or an exception: the
    loop's async generator finalizer schedules it; it closes the connection of that iteration.
    """
    await asyncio.sleep(0)  # the finalizer hook schedules aclose() with call_soon
    closing = [
        task
        for task in asyncio.all_tasks()
        if type(task.get_coro()).__name__ == "async_generator_athrow"
    ]
    await asyncio.gather(*closing)


class RecordingAsyncio:
    """Stands for the asyncio module in fastws.asyncio.client: records sleeps, skips them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> RecordingAsyncio:
    """Backoff sleeps of connect(), recorded instead of waited for."""
    recorder = RecordingAsyncio()
    monkeypatch.setattr(client_module, "asyncio", recorder)
    return recorder


def ca_file(tls: TLSContexts, directory: Path) -> str:
    """A PEM file with the test CA, as the client context trusts it."""
    path = directory / "ca.pem"
    ders = tls.client.get_ca_certs(binary_form=True)
    path.write_text("".join(ssl.DER_cert_to_PEM_cert(der) for der in ders))
    return str(path)


# The three forms -----------------------------------------------------------------------


def test_connect_names() -> None:
    """fastws.client re-exports the asyncio client as websockets.client does; connect is a class."""
    assert fastws.client.connect is fastws.connect
    assert fastws.client.unix_connect is fastws.unix_connect
    assert fastws.client.WebSocketClientProtocol is fastws.WebSocketClientProtocol
    assert isinstance(fastws.connect, type)
    assert isinstance(fastws.unix_connect("/nonexistent"), fastws.connect)


async def test_await_connect() -> None:
    """await connect() returns an open WebSocketClientProtocol."""
    async with websockets_server() as server:
        ws = await fastws.connect(server.uri)
        try:
            assert isinstance(ws, fastws.WebSocketClientProtocol)
            assert ws.open
            assert ws.close_timeout == 10  # close_timeout=None means 10 s, as in 10.x
            await ws.send("hello")
            assert await ws.recv() == "hello"
        finally:
            await ws.close()
        assert ws.closed and ws.close_code == 1000


async def test_async_with_connect() -> None:
    """async with connect() as ws closes the connection on exit, also when the body raises."""
    async with websockets_server() as server:
        async with fastws.connect(server.uri) as ws:
            assert ws.open
            await ws.send(b"hello")
            assert await ws.recv() == b"hello"
        assert ws.closed and ws.close_code == 1000
        with pytest.raises(ZeroDivisionError):
            async with fastws.connect(server.uri) as ws:
                1 / 0  # noqa: B018
        assert ws.closed and ws.close_code == 1000


async def test_yield_from_connect() -> None:
    """Generator-based coroutines can ``yield from connect()``, as in 10.x."""

    @types.coroutine
    def old_style(uri: str) -> Generator[Any, None, fastws.WebSocketClientProtocol]:
        ws = yield from fastws.connect(uri)
        return ws

    async with websockets_server() as server:
        ws = await old_style(server.uri)
        assert ws.open
        await ws.close()


async def test_async_for_reconnects() -> None:
    """async for ws in connect() reconnects after each iteration and closes each connection."""
    connections = []
    async with websockets_server(send_then_close("hello", code=1001)) as server:
        async for ws in fastws.connect(server.uri):
            connections.append(ws)
            assert await ws.recv() == "hello"
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()
            if len(connections) == 3:
                break
        await abandoned_iterations_closed()
        assert len(server.connections) == 3
    assert all(ws.closed for ws in connections)


# Call-time errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri, message",
    [
        ("http://localhost/", "scheme isn't ws or wss"),
        ("ws://user@localhost/", "username provided without password"),
        ("ws://localhost/#fragment", "fragment identifier is meaningless"),
        ("ws:///path", "hostname isn't provided"),
    ],
)
def test_invalid_uri(uri: str, message: str) -> None:
    """An invalid URI raises InvalidURI when connect() is called, before any await."""
    with pytest.raises(InvalidURI) as raised:
        fastws.connect(uri)
    assert str(raised.value) == f"{uri} isn't a valid URI: {message}"
    with pytest.raises(InvalidURI):
        fastws.unix_connect("/nonexistent", uri)


@pytest.mark.parametrize("ssl_arg", [True, False, ssl.create_default_context()])
def test_ssl_with_ws_uri(ssl_arg: object) -> None:
    """ssl= with a ws:// URI raises ValueError at call time, as in 10.x."""
    with pytest.raises(ValueError) as raised:
        fastws.connect("ws://localhost/", ssl=ssl_arg)
    assert str(raised.value) == (
        "connect() received a ssl argument for a ws:// URI, use a wss:// URI to enable TLS"
    )


def test_unsupported_compression() -> None:
    """compression other than "deflate" or None raises ValueError at call time."""
    with pytest.raises(ValueError, match="^unsupported compression: xz$"):
        fastws.connect("ws://localhost/", compression="xz")


@pytest.mark.parametrize(
    "subprotocols, error, message",
    [
        ("chat", TypeError, "subprotocols must be a list, not a str"),
        ([1], TypeError, None),
        (["a b"], ValueError, "invalid subprotocol: a b"),
    ],
)
def test_invalid_subprotocols(subprotocols: Any, error: type, message: str | None) -> None:
    """subprotocols must be a list of tokens: TypeError or ValueError at call time."""
    with pytest.raises(error) as raised:
        fastws.connect("ws://localhost/", subprotocols=subprotocols)
    if message is not None:
        assert str(raised.value) == message


async def test_deprecated_timeout() -> None:
    """timeout= warns and sets close_timeout."""
    async with websockets_server() as server:
        with pytest.warns(DeprecationWarning, match="rename timeout to close_timeout"):
            connection = fastws.connect(server.uri, timeout=3)
        async with connection as ws:
            assert ws.close_timeout == 3


async def test_deprecated_klass() -> None:
    """klass= warns and is used as create_protocol."""

    class Protocol(fastws.WebSocketClientProtocol):
        pass

    async with websockets_server() as server:
        with pytest.warns(DeprecationWarning, match="rename klass to create_protocol"):
            connection = fastws.connect(server.uri, klass=Protocol)
        async with connection as ws:
            assert type(ws) is Protocol


async def test_deprecated_loop() -> None:
    """loop= warns and is ignored."""
    async with websockets_server() as server:
        with pytest.warns(DeprecationWarning, match="remove loop argument"):
            connection = fastws.connect(server.uri, loop=asyncio.get_running_loop())
        async with connection as ws:
            assert ws.open


# Handshake failures --------------------------------------------------------------------


HANDSHAKE_FAILURES = [
    pytest.param(
        refuse, {}, InvalidStatusCode, "server rejected WebSocket connection: HTTP 500", id="500"
    ),
    pytest.param(
        lambda peer: peer.accept({"Upgrade": "h2c"}, omit=["Upgrade"]),
        {},
        InvalidUpgrade,
        "invalid Upgrade header: h2c",
        id="bad-upgrade",
    ),
    pytest.param(
        lambda peer: peer.accept({"Upgrade": "websocket, h2c"}, omit=["Upgrade"]),
        {},
        InvalidUpgrade,
        "invalid Upgrade header: websocket, h2c",
        id="two-upgrades",
    ),
    pytest.param(
        lambda peer: peer.accept(omit=["Upgrade"]), {}, InvalidUpgrade, None, id="no-upgrade"
    ),
    pytest.param(
        lambda peer: peer.accept({"Connection": "close"}, omit=["Connection"]),
        {},
        InvalidUpgrade,
        "invalid Connection header: close",
        id="bad-connection",
    ),
    pytest.param(
        lambda peer: peer.accept(omit=["Connection"]),
        {},
        InvalidUpgrade,
        None,
        id="no-connection",
    ),
    pytest.param(
        lambda peer: peer.accept(key_override="dGhlIHNhbXBsZSBub25jZQ=="),
        {},
        InvalidHeaderValue,
        "invalid Sec-WebSocket-Accept header: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        id="wrong-accept",
    ),
    pytest.param(
        lambda peer: peer.accept(omit=["Sec-WebSocket-Accept"]),
        {},
        InvalidHeader,
        "missing Sec-WebSocket-Accept header",
        id="no-accept",
    ),
    pytest.param(
        lambda peer: peer.write(b"garbage\r\n\r\n"),
        {},
        InvalidMessage,
        "did not receive a valid HTTP response",
        id="garbage",
    ),
    pytest.param(
        lambda peer: peer.shutdown_write(),
        {},
        InvalidMessage,
        "did not receive a valid HTTP response",
        id="eof",
    ),
    pytest.param(
        lambda peer: peer.accept({"Sec-WebSocket-Extensions": "permessage-deflate"}),
        {"compression": None},
        InvalidHandshake,
        "no extensions supported",
        id="unexpected-extension",
    ),
    pytest.param(
        lambda peer: peer.accept({"Sec-WebSocket-Extensions": "x-foo; a=1"}),
        {},
        NegotiationError,
        "Unsupported extension: name = x-foo, params = [('a', '1')]",
        id="unsupported-extension",
    ),
    pytest.param(
        lambda peer: peer.accept({"Sec-WebSocket-Protocol": "other"}),
        {"subprotocols": ["chat"]},
        NegotiationError,
        "unsupported subprotocol: other",
        id="unsupported-subprotocol",
    ),
    pytest.param(
        lambda peer: peer.accept({"Sec-WebSocket-Protocol": "chat"}),
        {},
        InvalidHandshake,
        "no subprotocols supported",
        id="unexpected-subprotocol",
    ),
    pytest.param(
        lambda peer: peer.accept({"Sec-WebSocket-Protocol": "chat, superchat"}),
        {"subprotocols": ["chat", "superchat"]},
        InvalidHandshake,
        "multiple subprotocols: chat, superchat",
        id="multiple-subprotocols",
    ),
]


@pytest.mark.parametrize("answer, kwargs, error, message", HANDSHAKE_FAILURES)
async def test_handshake_failure(
    answer: Callable[[RawPeer], object],
    kwargs: dict[str, Any],
    error: type[Exception],
    message: str | None,
) -> None:
    """A bad handshake response raises the 10.x exception and the connection is closed."""
    async with raw_server(respond(answer)) as server:
        with pytest.raises(error) as raised:
            await fastws.connect(server.uri, **kwargs)
        assert type(raised.value) is error
        if message is not None:
            assert str(raised.value) == message
        if error is InvalidMessage:
            assert raised.value.__cause__ is not None
        await client_closed(await server.peer())


@pytest.mark.parametrize("name", ["Upgrade", "Connection"])
async def test_missing_upgrade_header_message(name: str) -> None:
    """A missing Upgrade or Connection header reads "empty ... header", as in 10.x."""
    async with raw_server(respond(lambda peer: peer.accept(omit=[name]))) as server:
        with pytest.raises(InvalidUpgrade) as raised:
            await fastws.connect(server.uri)
    assert str(raised.value) == f"empty {name} header"


async def test_invalid_message_causes() -> None:
    """InvalidMessage keeps the parse error or the EOF as its __cause__."""
    async with raw_server(respond(lambda peer: peer.write(b"garbage\r\n\r\n"))) as server:
        with pytest.raises(InvalidMessage) as raised:
            await fastws.connect(server.uri)
        assert isinstance(raised.value.__cause__, ValueError)
    async with raw_server(respond(lambda peer: peer.shutdown_write())) as server:
        with pytest.raises(InvalidMessage) as raised:
            await fastws.connect(server.uri)
        assert isinstance(raised.value.__cause__, EOFError)


async def test_invalid_status_code_attributes() -> None:
    """InvalidStatusCode carries the status code and the response headers."""
    answer = response_bytes(403, "Forbidden", {"X-Reason": "nope", "Content-Length": "0"})
    async with raw_server(respond(lambda peer: peer.write(answer))) as server:
        with pytest.raises(InvalidStatusCode) as raised:
            await fastws.connect(server.uri)
        await client_closed(await server.peer())
    assert raised.value.status_code == 403
    assert raised.value.headers["X-Reason"] == "nope"
    assert str(raised.value) == "server rejected WebSocket connection: HTTP 403"


async def test_connection_refused() -> None:
    """A closed port raises ConnectionRefusedError (an OSError) from create_connection."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(ConnectionRefusedError):
            await fastws.connect(f"ws://127.0.0.1:{port}/")


# Redirects -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect(status: int) -> None:
    """Redirects are followed; the server sees each redirected connection closed."""
    script = by_connection(redirect("/next?x=1", status), accept_then_reply)
    async with raw_server(script, path="/first") as server:
        async with fastws.connect(server.uri) as ws:
            assert ws.path == "/next?x=1"
            assert [peer.path for peer in server.peers] == ["/first", "/next?x=1"]
            await client_closed(server.peers[0])


@pytest.mark.parametrize(
    "location, path",
    [("other", "/a/other"), ("../up", "/up"), ("?q=2", "/a/b?q=2"), ("//127.0.0.1:{port}/x", "/x")],
)
async def test_redirect_relative_location(location: str, path: str) -> None:
    """A relative Location is resolved against the URI of the request."""

    def to_location(peer: RawPeer) -> None:
        peer.write(http_redirect(location.format(port=peer.server.port)))

    async with raw_server(by_connection(to_location, accept_then_reply), path="/a/b") as server:
        async with fastws.connect(server.uri) as ws:
            assert ws.path == path
            assert server.peers[1].path == path


async def test_nine_redirects_followed() -> None:
    """Up to 9 redirects are followed (10 handshakes)."""
    steps = [redirect(f"/{i + 1}") for i in range(9)]
    async with raw_server(by_connection(*steps, accept_then_reply)) as server:
        async with fastws.connect(server.uri) as ws:
            assert ws.path == "/9"
        assert len(server.peers) == 10


async def test_too_many_redirects() -> None:
    """The tenth redirect raises SecurityError("too many redirects"); every connection is closed."""
    async with raw_server(by_connection(redirect("/again"))) as server:
        with pytest.raises(SecurityError) as raised:
            await fastws.connect(server.uri)
        assert str(raised.value) == "too many redirects"
        assert len(server.peers) == 10
        for peer in server.peers:
            await client_closed(peer)


async def test_redirect_without_location() -> None:
    """A redirect without Location raises InvalidHeader("Location")."""
    answer = response_bytes(302, "Found", {"Content-Length": "0"})
    async with raw_server(respond(lambda peer: peer.write(answer))) as server:
        with pytest.raises(InvalidHeader) as raised:
            await fastws.connect(server.uri)
        assert type(raised.value) is InvalidHeader
        assert str(raised.value) == "missing Location header"
        await client_closed(await server.peer())


async def test_redirect_to_invalid_uri() -> None:
    """A redirect to a non-WebSocket URI raises InvalidURI."""
    async with raw_server(respond(redirect("http://localhost/"))) as server:
        with pytest.raises(InvalidURI):
            await fastws.connect(server.uri)
        await client_closed(await server.peer())


async def test_redirect_wss_to_ws_refused(tls_context: TLSContexts) -> None:
    """A redirect from wss:// to ws:// raises SecurityError."""
    async with websockets_server() as plain:
        script = respond(redirect(plain.uri))
        async with raw_server(script, ssl_context=tls_context.server) as server:
            with pytest.raises(SecurityError) as raised:
                await fastws.connect(server.uri, ssl=tls_context.client)
            assert str(raised.value) == "redirect from WSS to WS"
            await client_closed(await server.peer())
        assert plain.requests == []


async def test_redirect_ws_to_wss_enables_tls(
    tls_context: TLSContexts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A redirect from ws:// to wss:// connects with TLS (10.x stayed in plain text)."""
    # Decision: ssl= still raises ValueError with a ws:// URI (10.x behaviour, and it catches
    # a real mistake: asking for TLS with a plain-text URI). After a ws -> wss redirect the TLS
    # context is the default one, as for a wss:// URI given without ssl=: so the test CA is
    # made trusted through SSL_CERT_FILE, which create_default_context() honours.
    async with websockets_server(ssl_context=tls_context.server) as secure:
        target = f"wss://127.0.0.1:{secure.port}/secure"
        async with raw_server(by_connection(redirect(target))) as server:
            # Without trusting the test CA, TLS is attempted and verification fails.
            with pytest.raises(ssl.SSLCertVerificationError):
                await fastws.connect(server.uri)
            monkeypatch.setenv("SSL_CERT_FILE", ca_file(tls_context, tmp_path))
            async with fastws.connect(server.uri) as ws:
                assert ws.transport.get_extra_info("ssl_object") is not None
                assert ws.path == "/secure"
                await ws.send("over TLS")
                assert await ws.recv() == "over TLS"
            assert secure.requests[-1].headers["Host"] == f"127.0.0.1:{secure.port}"


async def test_cross_origin_redirect_changes_destination() -> None:
    """A cross-origin redirect connects to the new host and port, overriding host=/port=."""
    async with raw_server(by_connection(accept_then_reply), path="/there") as target:
        async with raw_server(respond(redirect(target.uri))) as server:
            uri = "ws://origin.invalid:1234/here"
            async with fastws.connect(uri, host="127.0.0.1", port=server.port) as ws:
                assert ws.path == "/there"
            assert server.peers[0].headers["Host"] == "origin.invalid:1234"
            assert target.peers[0].headers["Host"] == f"127.0.0.1:{target.port}"


async def test_same_origin_redirect_keeps_overrides() -> None:
    """A same-origin redirect keeps the host=/port= overrides of the TCP destination."""
    steps = (redirect("ws://origin.invalid:1234/b"), accept_then_reply)
    async with raw_server(by_connection(*steps)) as server:
        uri = "ws://origin.invalid:1234/a"
        async with fastws.connect(uri, host="127.0.0.1", port=server.port) as ws:
            assert ws.path == "/b"
        assert [peer.path for peer in server.peers] == ["/a", "/b"]
        assert server.peers[1].headers["Host"] == "origin.invalid:1234"


# open_timeout --------------------------------------------------------------------------


async def test_open_timeout() -> None:
    """A server that never answers raises asyncio.TimeoutError after open_timeout."""
    async with raw_server(silent()) as server:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(asyncio.TimeoutError):
            await fastws.connect(server.uri, open_timeout=200 * MS)
        assert 200 * MS <= loop.time() - start < 200 * MS + 1
        await client_closed(await server.peer())


async def test_open_timeout_covers_redirects() -> None:
    """open_timeout covers the whole opening, redirects included."""
    async with raw_server(silent()) as silent_server:
        async with raw_server(respond(redirect(silent_server.uri))) as server:
            with pytest.raises(asyncio.TimeoutError):
                await fastws.connect(server.uri, open_timeout=100 * MS)
            await client_closed(await silent_server.peer())


async def test_open_timeout_during_tls_handshake(tls_context: TLSContexts) -> None:
    """A server that never completes TLS times out too, leaking nothing."""
    async with raw_server(silent()) as server:
        uri = f"wss://localhost:{server.port}/"
        with pytest.raises(asyncio.TimeoutError):
            await fastws.connect(
                uri, host="127.0.0.1", ssl=tls_context.client, open_timeout=100 * MS
            )
        await client_closed(await server.peer())


async def test_open_timeout_none() -> None:
    """open_timeout=None waits for a late server as long as it takes."""

    async def late(peer: RawPeer) -> None:
        await peer.read_request()
        await asyncio.sleep(300 * MS)
        peer.accept()
        await peer.reply_until_close()

    async with raw_server(late) as server:
        with pytest.raises(asyncio.TimeoutError):
            await fastws.connect(server.uri, open_timeout=100 * MS)
        async with fastws.connect(server.uri, open_timeout=None) as ws:
            assert ws.open


# TLS -----------------------------------------------------------------------------------


async def test_wss_websockets(tls_context: TLSContexts) -> None:
    """wss:// to a websockets server with ssl=client context."""
    async with websockets_server(ssl_context=tls_context.server) as server:
        async with fastws.connect(server.uri, ssl=tls_context.client) as ws:
            assert ws.transport.get_extra_info("ssl_object") is not None
            await ws.send("secret")
            assert await ws.recv() == "secret"


async def test_wss_aiohttp(tls_context: TLSContexts) -> None:
    """wss:// to an aiohttp server with ssl=client context."""
    async with aiohttp_server(ssl_context=tls_context.server) as server:
        async with fastws.connect(server.uri, ssl=tls_context.client) as ws:
            await ws.send(b"secret")
            assert await ws.recv() == b"secret"


async def test_wss_default_context_verifies(tls_context: TLSContexts) -> None:
    """Without ssl=, wss:// uses the default context, which doesn't trust the test CA."""
    async with websockets_server(ssl_context=tls_context.server) as server:
        with pytest.raises(ssl.SSLCertVerificationError):
            await fastws.connect(server.uri)


async def test_wss_host_override_checks_uri_host(tls_context: TLSContexts) -> None:
    """With host=, TLS still checks the URI's host name (as the 10.x docs say)."""
    async with websockets_server(ssl_context=tls_context.server) as server:
        uri = f"wss://localhost:{server.port}/"
        async with fastws.connect(uri, host="127.0.0.1", ssl=tls_context.client) as ws:
            assert ws.transport.get_extra_info("ssl_object").server_hostname == "localhost"
            assert ws.remote_address[0] == "127.0.0.1"
        assert server.requests[-1].headers["Host"] == f"localhost:{server.port}"
        # The right server at host=, but the certificate isn't for the URI's host name.
        wrong = f"wss://wrong.invalid:{server.port}/"
        with pytest.raises(ssl.SSLCertVerificationError):
            await fastws.connect(wrong, host="127.0.0.1", ssl=tls_context.client)
        # server_hostname= wins over the URI's host.
        async with fastws.connect(
            wrong, host="127.0.0.1", ssl=tls_context.client, server_hostname="localhost"
        ) as ws:
            assert ws.open
        assert server.requests[-1].headers["Host"] == f"wrong.invalid:{server.port}"


async def test_wss_port_override(tls_context: TLSContexts) -> None:
    """With port=, TLS checks the URI's host and the Host header keeps the URI's port."""
    async with websockets_server(ssl_context=tls_context.server) as server:
        async with fastws.connect(
            "wss://127.0.0.1/", port=server.port, ssl=tls_context.client
        ) as ws:
            assert ws.open
        assert server.requests[-1].headers["Host"] == "127.0.0.1"


async def test_wss_sock(tls_context: TLSContexts) -> None:
    """sock= with a wss:// URI works without server_hostname (the URI's host is used)."""
    async with websockets_server(ssl_context=tls_context.server) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        uri = f"wss://localhost:{server.port}/"
        async with fastws.connect(uri, sock=sock, ssl=tls_context.client) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
        assert server.requests[-1].headers["Host"] == f"localhost:{server.port}"


async def test_ws_sock() -> None:
    """sock= with a ws:// URI uses that socket."""
    async with websockets_server() as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        async with fastws.connect("ws://example.invalid/", sock=sock) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
        assert server.requests[-1].headers["Host"] == "example.invalid"


async def test_unix_connect_tls(tls_context: TLSContexts, unix_path: str) -> None:
    """unix_connect(path, "wss://localhost/") works over a TLS Unix socket."""
    async with websockets_server(ssl_context=tls_context.server, unix_path=unix_path) as server:
        assert server.uri == "wss://localhost/"
        async with fastws.unix_connect(unix_path, server.uri, ssl=tls_context.client) as ws:
            assert ws.transport.get_extra_info("ssl_object") is not None
            await ws.send("hello")
            assert await ws.recv() == "hello"


@pytest.mark.loops("asyncio")
async def test_tls_server_close_notify(tls_context: TLSContexts) -> None:
    """A TLS connection the server closes (close_notify, then FIN) ends without a loop error."""
    async with websockets_server("close", ssl_context=tls_context.server) as server:
        async with fastws.connect(server.uri, ssl=tls_context.client) as ws:
            await ws.wait_closed()
        assert ws.close_code == 1000


# Unix sockets --------------------------------------------------------------------------


async def test_unix_connect_websockets(unix_path: str) -> None:
    """unix_connect(path) to a websockets server; Host is the URI's host."""
    async with websockets_server(unix_path=unix_path) as server:
        async with fastws.unix_connect(unix_path) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
        async with fastws.unix_connect(unix_path, "ws://example.com/chat") as ws:
            assert ws.path == "/chat"
    assert [request.headers["Host"] for request in server.requests] == [
        "localhost",
        "example.com",
    ]


async def test_unix_connect_aiohttp(unix_path: str) -> None:
    """unix_connect(path) to an aiohttp server."""
    async with aiohttp_server(unix_path=unix_path) as server:
        async with fastws.unix_connect(unix_path, server.uri) as ws:
            await ws.send(b"hello")
            assert await ws.recv() == b"hello"
    assert server.requests[0].headers["Host"] == "localhost"


# Request headers -----------------------------------------------------------------------


async def request_of(uri: str, **kwargs: Any) -> tuple[str, Headers]:
    """Connect with ``kwargs`` to a raw server; the path and headers of the request it got."""
    async with raw_server(by_connection(accept_then_reply)) as server:
        if "{port}" in uri:
            uri = uri.format(port=server.port)
        else:
            kwargs.setdefault("port", server.port)
        async with fastws.connect(uri, host="127.0.0.1", **kwargs):
            pass
        peer = server.peers[0]
        assert peer.path is not None
        return peer.path, peer.headers


def names(headers: Headers) -> list[str]:
    """Header names in the order of the request, as sent."""
    return [name for name, _ in headers.raw_items()]


async def test_request_headers_default() -> None:
    """The request has the 10.x headers, in the 10.x order."""
    path, headers = await request_of("ws://127.0.0.1:{port}/path?query=1")
    assert path == "/path?query=1"
    assert names(headers) == [
        "Host",
        "Upgrade",
        "Connection",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Extensions",
        "User-Agent",
    ]
    assert headers["Host"].startswith("127.0.0.1:")
    assert headers["Upgrade"] == "websocket"
    assert headers["Connection"] == "Upgrade"
    assert len(base64.b64decode(headers["Sec-WebSocket-Key"], validate=True)) == 16
    assert headers["Sec-WebSocket-Version"] == "13"
    assert headers["Sec-WebSocket-Extensions"] == DEFLATE_OFFER
    assert headers["User-Agent"] == USER_AGENT


@pytest.mark.parametrize(
    "uri, host",
    [
        ("ws://example.com/", "example.com"),
        ("ws://example.com:80/", "example.com"),
        ("ws://example.com:8080/", "example.com:8080"),
        ("ws://[::1]:8080/", "[::1]:8080"),
    ],
)
async def test_host_header(uri: str, host: str) -> None:
    """Host is the URI's host, with the port only when it isn't the default one."""
    _, headers = await request_of(uri)
    assert headers["Host"] == host


async def test_host_header_wss_default_port(tls_context: TLSContexts) -> None:
    """Host omits 443 for wss://."""
    async with websockets_server(ssl_context=tls_context.server) as server:
        uri = "wss://localhost:443/"
        async with fastws.connect(uri, host="127.0.0.1", port=server.port, ssl=tls_context.client):
            pass
        assert server.requests[0].headers["Host"] == "localhost"


async def test_origin_header() -> None:
    """origin= sets the Origin header, after Host."""
    _, headers = await request_of("ws://example.com/", origin="https://example.com")
    assert headers.get_all("Origin") == ["https://example.com"]
    assert names(headers)[:2] == ["Host", "Origin"]


@pytest.mark.parametrize(
    "extra_headers",
    [
        {"X-One": "1", "Origin": "https://extra"},
        [("X-One", "1"), ("Origin", "https://extra")],
        Headers([("X-One", "1"), ("Origin", "https://extra")]),
    ],
    ids=["dict", "pairs", "Headers"],
)
async def test_extra_headers(extra_headers: Any) -> None:
    """extra_headers are appended; an Origin there makes a second Origin line, as in 10.x."""
    _, headers = await request_of(
        "ws://example.com/", origin="https://origin", extra_headers=extra_headers
    )
    assert names(headers)[-3:] == ["X-One", "Origin", "User-Agent"]
    assert headers["X-One"] == "1"
    assert headers.get_all("Origin") == ["https://origin", "https://extra"]


async def test_extra_headers_repeated() -> None:
    """A header may be repeated in extra_headers."""
    _, headers = await request_of("ws://example.com/", extra_headers=[("X-A", "1"), ("X-A", "2")])
    assert headers.get_all("X-A") == ["1", "2"]


async def test_user_agent_override() -> None:
    """A User-Agent in extra_headers replaces the default one."""
    _, headers = await request_of("ws://example.com/", extra_headers={"User-Agent": "me/1.0"})
    assert headers.get_all("User-Agent") == ["me/1.0"]


async def test_basic_auth() -> None:
    """ws://user:pass@host/ sends Basic credentials, right after Host."""
    _, headers = await request_of("ws://user:pass@example.com/")
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"user:pass").decode()
    assert names(headers)[:2] == ["Host", "Authorization"]
    assert headers["Host"] == "example.com"
    # As in 10.x, the user info isn't percent-decoded.
    _, headers = await request_of("ws://user:p%40ss@example.com/")
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"user:p%40ss").decode()


async def test_compression_none() -> None:
    """compression=None sends no Sec-WebSocket-Extensions header."""
    _, headers = await request_of("ws://example.com/", compression=None)
    assert "Sec-WebSocket-Extensions" not in headers


async def test_subprotocols_header() -> None:
    """subprotocols are offered in order of preference."""
    _, headers = await request_of("ws://example.com/", subprotocols=["chat", "superchat"])
    assert headers["Sec-WebSocket-Protocol"] == "chat, superchat"
    assert names(headers)[-2:] == ["Sec-WebSocket-Protocol", "User-Agent"]


async def test_subprotocol_negotiated() -> None:
    """The subprotocol the server picks is ws.subprotocol; deflate is negotiated by default."""
    async with websockets_server(subprotocols=["superchat", "chat"]) as server:
        offer = [fastws.Subprotocol("chat"), fastws.Subprotocol("superchat")]
        async with fastws.connect(server.uri, subprotocols=offer) as ws:
            assert ws.subprotocol == "superchat"
            assert [ext.name for ext in ws.extensions] == ["permessage-deflate"]
    async with websockets_server() as server:
        async with fastws.connect(server.uri, compression=None) as ws:
            assert ws.subprotocol is None
            assert ws.extensions == []


# Reconnection with backoff -------------------------------------------------------------


def reconnect_logs(caplog: pytest.LogCaptureFixture, name: str = "websockets.client") -> list[str]:
    """The reconnection messages logged under ``name``, after checking they carry exc_info."""
    records = [r for r in caplog.records if r.name == name and r.msg.startswith("! connect")]
    for record in records:
        assert record.levelno == logging.INFO
        assert record.exc_info is not None and record.exc_info[0] is InvalidStatusCode
    return [record.getMessage() for record in records]


async def test_backoff(sleeps: RecordingAsyncio, caplog: pytest.LogCaptureFixture) -> None:
    """Failed attempts wait U(0, 5) s, then 3, 5, 8, 13, 21, 34, 55, 60, 60 s, logged at INFO."""
    caplog.set_level(logging.INFO, logger="websockets.client")
    async with raw_server(by_connection(*[refuse] * 10, accept_then_reply)) as server:
        async for ws in fastws.connect(server.uri):
            assert ws.open
            break
        await abandoned_iterations_closed()
        assert ws.closed
        assert len(server.peers) == 11
    first, *others = sleeps.delays
    assert 0 <= first < 5
    assert others == [3, 5, 8, 13, 21, 34, 55, 60, 60]
    assert all(type(delay) is int for delay in others)
    assert reconnect_logs(caplog) == [f"! connect failed; reconnecting in {first:.1f} seconds"] + [
        f"! connect failed again; retrying in {delay} seconds" for delay in others
    ]


async def test_backoff_reset_after_success(
    sleeps: RecordingAsyncio, caplog: pytest.LogCaptureFixture
) -> None:
    """A successful connection resets the backoff; the loop body's end reconnects at once."""
    caplog.set_level(logging.INFO, logger="websockets.client")
    steps = [refuse, refuse, accept_then_reply, accept_then_reply, refuse, accept_then_reply]
    connections = []
    async with raw_server(by_connection(*steps)) as server:
        async for ws in fastws.connect(server.uri):
            connections.append(ws)
            if len(connections) == 3:
                break
        await abandoned_iterations_closed()
        assert len(server.peers) == 6
    assert all(ws.closed for ws in connections)
    first, second, third = sleeps.delays
    assert 0 <= first < 5 and second == 3 and 0 <= third < 5
    assert [message.split(" in ")[0] for message in reconnect_logs(caplog)] == [
        "! connect failed; reconnecting",
        "! connect failed again; retrying",
        "! connect failed; reconnecting",
    ]


async def test_backoff_instance_attributes(sleeps: RecordingAsyncio) -> None:
    """The BACKOFF_* constants can be overridden on the connect() object."""
    async with raw_server(by_connection(*[refuse] * 4, accept_then_reply)) as server:
        connection = fastws.connect(server.uri)
        connection.BACKOFF_INITIAL = 1
        connection.BACKOFF_MIN = 2
        connection.BACKOFF_FACTOR = 2
        connection.BACKOFF_MAX = 5
        async for _ in connection:
            break
        await abandoned_iterations_closed()
    first, *others = sleeps.delays
    assert 0 <= first < 1
    assert others == [4, 5, 5]


async def test_backoff_real_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a patched sleep, backoff delays are really waited for."""
    monkeypatch.setattr(client_module, "random", types.SimpleNamespace(random=lambda: 1.0))
    async with raw_server(by_connection(refuse, accept_then_reply)) as server:
        connection = fastws.connect(server.uri)
        connection.BACKOFF_INITIAL = 100 * MS  # type: ignore[assignment]
        loop = asyncio.get_running_loop()
        start = loop.time()
        async for _ in connection:
            break
        await abandoned_iterations_closed()
        assert 100 * MS <= loop.time() - start < 100 * MS + 1
    assert len(server.peers) == 2


async def test_exception_in_loop_body_propagates(sleeps: RecordingAsyncio) -> None:
    """An exception escaping the loop body ends the iteration; the connection gets closed."""
    async with websockets_server() as server:
        with pytest.raises(ZeroDivisionError):
            async for ws in fastws.connect(server.uri):
                assert ws.open
                1 / 0  # noqa: B018
        await abandoned_iterations_closed()
        assert ws.closed
        assert len(server.requests) == 1
    assert sleeps.delays == []


async def test_cancel_during_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cancelling the task that iterates stops reconnecting, also during a backoff delay."""
    monkeypatch.setattr(client_module, "random", types.SimpleNamespace(random=lambda: 1.0))

    async def iterate(uri: str) -> None:
        async for _ in fastws.connect(uri):
            pass  # pragma: no cover - the server always refuses

    async with raw_server(by_connection(refuse)) as server:
        task = asyncio.create_task(iterate(server.uri))
        await client_closed(await server.peer())  # the client then waits 5 s before retrying
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(server.peers) == 1


# create_protocol, logger ---------------------------------------------------------------


async def test_create_protocol() -> None:
    """create_protocol= builds the connection with the connect() arguments."""

    class Protocol(fastws.WebSocketClientProtocol):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.created_with = kwargs

    async with websockets_server() as server:
        connection = fastws.connect(
            server.uri, create_protocol=Protocol, max_queue=7, close_timeout=2
        )
        async with connection as ws:
            assert type(ws) is Protocol
            assert ws.created_with["max_queue"] == 7
            assert ws.max_queue == 7
            assert ws.close_timeout == 2
            await ws.send("hello")
            assert await ws.recv() == "hello"


async def test_custom_logger(sleeps: RecordingAsyncio, caplog: pytest.LogCaptureFixture) -> None:
    """logger= is used by the connection and for the reconnection messages."""
    logger = logging.getLogger("test.fastws.connect")
    caplog.set_level(logging.INFO, logger="websockets.client")
    caplog.set_level(logging.DEBUG, logger=logger.name)  # last: it sets the handler's level
    async with raw_server(by_connection(refuse, accept_then_reply)) as server:
        async for ws in fastws.connect(server.uri, logger=logger):
            assert isinstance(ws.logger, logging.LoggerAdapter)
            assert ws.logger.logger is logger
            break
        await abandoned_iterations_closed()
    assert len(reconnect_logs(caplog, logger.name)) == 1
    assert reconnect_logs(caplog) == []
    assert any(r.name == logger.name and r.levelno == logging.DEBUG for r in caplog.records)


# The examples of the API page, unchanged ---------------------------------------------


async def test_spec_examples() -> None:
    """The asyncio examples of the websockets 10.x API page run with fastws as websockets."""
    import fastws as websockets

    async def process(message: fastws.Data) -> None:
        processed.append(message)

    processed: list[fastws.Data] = []
    async with websockets_server(send_then_close("a", "b", code=1001)) as server:
        async with websockets.connect(server.uri) as websocket:
            async for message in websocket:
                await process(message)

        count = 0
        async for websocket in websockets.connect(server.uri):
            try:
                count += 1
                await process(await websocket.recv())
                await websocket.recv()
                await websocket.recv()
            except websockets.ConnectionClosed:
                if count < 3:
                    continue
                break
        await abandoned_iterations_closed()
    assert processed == ["a", "b", "a", "a", "a"]


# fastws.run and the event loop policy --------------------------------------------------


def test_run_uses_uvloop() -> None:
    """fastws.run() runs the coroutine on uvloop."""
    import uvloop

    async def main() -> type:
        return type(asyncio.get_running_loop())

    policy = type(asyncio.get_event_loop_policy())
    assert fastws.run(main()) is uvloop.Loop
    assert type(asyncio.get_event_loop_policy()) is policy


def test_import_installs_no_policy() -> None:
    """Importing fastws leaves asyncio's event loop policy alone."""
    code = (
        "import asyncio, fastws; "
        "assert type(asyncio.get_event_loop_policy()).__module__.startswith('asyncio')"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
