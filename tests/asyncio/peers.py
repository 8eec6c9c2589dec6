"""
Real WebSocket servers for the client tests: websockets (new asyncio server) and aiohttp.

Every server is an async context manager bound to 127.0.0.1 (port chosen by the kernel) or
to a Unix socket, and yields itself::

    async with websockets_server() as server:                  # echo, permessage-deflate
        async with fastws.connect(server.uri) as ws: ...
    async with websockets_server(send_then_close("a", b"b", code=1001)) as server: ...
    async with websockets_server(ssl_context=tls.server) as server:   # server.uri is wss://
    async with aiohttp_server(compress=False, unix_path=path) as server:
        async with fastws.unix_connect(path, server.uri) as ws: ...

What a server offers: ``host``, ``port`` (None on a Unix socket), ``uri``, ``unix_path``,
``requests`` (path and headers of each opening handshake), ``received`` (messages recorded by
the built-in handlers; a custom handler records with ``current_server().received.append``),
``connections`` (the server-side connection objects), ``connected`` (an Event set at the first
connection), ``errors``.

A handler is any ``async def handler(ws)``; ``ws`` is a websockets ``ServerConnection`` or an
aiohttp ``WebSocketResponse``. Built-in handlers by name: "echo" (default), "record" (record
until the client closes), "wait" (don't read, wait until closed), "close" (close at once with
1000). An exception escaping a handler (other than the connection being closed) fails the
test: by default the test task is cancelled at once (``fail_fast``) and the exception is
re-raised when the ``async with`` block exits.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import ssl
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import trustme
from aiohttp import WSMsgType, web
from websockets.asyncio.server import ServerConnection, serve, unix_serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request
from websockets.protocol import CONNECTING

__all__ = [
    "MS",
    "AiohttpServer",
    "RecordedRequest",
    "TLSContexts",
    "WebSocketsServer",
    "aiohttp_server",
    "close_with",
    "current_server",
    "free_unix_path",
    "send_then_close",
    "send_then_wait",
    "slow_echo",
    "tls_context",
    "websockets_server",
]

HOST = "127.0.0.1"

# FASTWS_TESTS_TIMEOUT_FACTOR=3 stretches every timeout on slow machines: the runner's and,
# if tests write their delays in MS (``close_timeout=50 * MS``), theirs.
TIMEOUT_FACTOR = float(os.environ.get("FASTWS_TESTS_TIMEOUT_FACTOR", "1"))
MS = 0.001 * TIMEOUT_FACTOR

Data = str | bytes
Handler = Callable[[Any], Awaitable[None]]


class RecordedRequest(NamedTuple):
    """The opening handshake request as the server saw it."""

    path: str
    headers: Headers


_current: contextvars.ContextVar[PeerBase] = contextvars.ContextVar("current_server")


def current_server() -> PeerBase:
    """The server whose handler is running (use it to record from a custom handler)."""
    return _current.get()


class PeerBase:
    """Shared by every test server: address, URI, error reporting, async context manager."""

    host: str = HOST
    port: int | None = None

    def __init__(
        self,
        *,
        path: str = "/",
        ssl_context: ssl.SSLContext | None = None,
        unix_path: str | os.PathLike[str] | None = None,
        fail_fast: bool = True,
    ) -> None:
        if not path.startswith("/"):
            raise ValueError(f"path must start with /: {path!r}")
        self.path = path
        self.ssl_context = ssl_context
        self.unix_path = None if unix_path is None else os.fspath(unix_path)
        if self.unix_path is not None:
            self.host = "localhost"
        self.fail_fast = fail_fast
        self.errors: list[BaseException] = []
        self.connected = asyncio.Event()
        self._owner: asyncio.Task[Any] | None = None
        self._owner_cancelled = False
        self._closing = False

    @property
    def secure(self) -> bool:
        return self.ssl_context is not None

    @property
    def uri(self) -> str:
        """``ws://127.0.0.1:PORT/path`` (``wss`` with TLS, ``ws://localhost/path`` on a Unix socket)."""
        scheme = "wss" if self.secure else "ws"
        if self.unix_path is not None:
            return f"{scheme}://localhost{self.path}"
        return f"{scheme}://{self.host}:{self.port}{self.path}"

    def fail(self, exc: BaseException) -> None:
        """Record a server-side failure; with fail_fast, cancel the test so it doesn't hang."""
        self.errors.append(exc)
        owner = self._owner
        if (
            self.fail_fast
            and not self._closing
            and not self._owner_cancelled
            and owner is not None
            and not owner.done()
        ):
            self._owner_cancelled = True
            owner.cancel(f"{type(self).__name__} failed: {exc!r}")

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Any:
        self._owner = asyncio.current_task()
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing = True
        try:
            await self.stop()
        finally:
            if self._owner_cancelled and self._owner is not None and sys.version_info >= (3, 11):
                self._owner.uncancel()
        if not self.errors:
            return
        first = self.errors[0]
        for other in self.errors[1:]:
            if hasattr(first, "add_note"):
                first.add_note(f"the server also failed with {other!r}")
        if self._owner_cancelled and isinstance(exc, asyncio.CancelledError):
            raise first from None  # the cancellation was ours, not the test's
        raise first


# websockets (new asyncio implementation) ----------------------------------------------


async def echo(ws: ServerConnection) -> None:
    """Send every message back."""
    async for message in ws:
        current_server().received.append(message)  # type: ignore[attr-defined]
        await ws.send(message)


async def record(ws: ServerConnection) -> None:
    """Record every message until the client closes."""
    async for message in ws:
        current_server().received.append(message)  # type: ignore[attr-defined]


async def wait(ws: ServerConnection) -> None:
    """Read nothing; wait until the connection is closed."""
    await ws.wait_closed()


def slow_echo(delay: float) -> Handler:
    """Echo each message after ``delay`` seconds."""

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            current_server().received.append(message)  # type: ignore[attr-defined]
            await asyncio.sleep(delay)
            await ws.send(message)

    return handler


def send_then_close(*messages: Data, code: int = 1000, reason: str = "") -> Handler:
    """Send these messages, then close with ``code`` and ``reason``."""

    async def handler(ws: ServerConnection) -> None:
        for message in messages:
            await ws.send(message)
        await ws.close(code, reason)

    return handler


def close_with(code: int = 1000, reason: str = "") -> Handler:
    """Close at once with ``code`` and ``reason``."""
    return send_then_close(code=code, reason=reason)


def send_then_wait(*messages: Data) -> Handler:
    """Send these messages, then record what arrives until the client closes."""

    async def handler(ws: ServerConnection) -> None:
        for message in messages:
            await ws.send(message)
        await record(ws)

    return handler


WEBSOCKETS_HANDLERS: dict[str, Handler] = {
    "echo": echo,
    "record": record,
    "wait": wait,
    "close": close_with(),
}


class WebSocketsServer(PeerBase):
    """A websockets ``serve()``/``unix_serve()`` server; see ``websockets_server``."""

    def __init__(
        self,
        handler: Handler | str = "echo",
        *,
        compression: str | None = "deflate",
        ssl_context: ssl.SSLContext | None = None,
        unix_path: str | os.PathLike[str] | None = None,
        max_size: int | None = None,
        path: str = "/",
        ping_interval: float | None = None,
        close_timeout: float | None = 2.0,
        fail_fast: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            path=path, ssl_context=ssl_context, unix_path=unix_path, fail_fast=fail_fast
        )
        self.handler = WEBSOCKETS_HANDLERS[handler] if isinstance(handler, str) else handler
        self.requests: list[RecordedRequest] = []
        self.received: list[Data] = []
        self.connections: list[ServerConnection] = []
        self._user_process_request = kwargs.pop("process_request", None)
        self._connection_class = kwargs.pop("create_connection", None) or ServerConnection
        self._created: list[ServerConnection] = []
        self._options: dict[str, Any] = dict(
            compression=compression,
            max_size=max_size,
            ping_interval=ping_interval,
            close_timeout=close_timeout,
            ssl=ssl_context,
            process_request=self._process_request,
            create_connection=self._create_connection,
            **kwargs,
        )

    async def start(self) -> None:
        if self.unix_path is not None:
            self.server = await unix_serve(self._handle, self.unix_path, **self._options)
        else:
            self.server = await serve(self._handle, HOST, 0, **self._options)
            self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.server.close()
        # A connection that never sent its request would hold wait_closed() for open_timeout.
        for connection in self._created:
            if connection.protocol.state is CONNECTING and hasattr(connection, "transport"):
                connection.transport.abort()
        await self.server.wait_closed()

    def _create_connection(self, *args: Any, **kwargs: Any) -> ServerConnection:
        connection: ServerConnection = self._connection_class(*args, **kwargs)
        self._created.append(connection)
        return connection

    async def _process_request(self, connection: ServerConnection, request: Request) -> Any:
        self.requests.append(RecordedRequest(request.path, request.headers))
        if self._user_process_request is None:
            return None
        response = self._user_process_request(connection, request)
        if isinstance(response, Awaitable):
            response = await response
        return response

    async def _handle(self, ws: ServerConnection) -> None:
        _current.set(self)  # this connection's task only
        self.connections.append(ws)
        self.connected.set()
        try:
            await self.handler(ws)
        except ConnectionClosed:
            pass
        except Exception as exc:
            self.fail(exc)
            raise  # websockets logs it and closes with 1011


def websockets_server(handler: Handler | str = "echo", **kwargs: Any) -> WebSocketsServer:
    """
    A websockets 17 server (``websockets.asyncio.server``) running ``handler``.

    Args:
        handler: ``async def handler(ws)`` or "echo", "record", "wait", "close".
        compression: "deflate" (default) or None.
        ssl_context: server-side context (``tls_context().server``); makes ``uri`` wss://.
        unix_path: listen on this Unix socket instead of 127.0.0.1.
        max_size: limit on incoming messages; None (default) means unlimited.
        path: path part of ``uri`` (the server accepts any path).
        ping_interval: server keepalive; None (default) disables it.
        close_timeout: default 2 s, so a stuck close doesn't stall the test.
        fail_fast: cancel the test as soon as a handler fails (default True).
        **kwargs: passed to ``serve()`` (``process_request`` is chained after recording).
    """
    return WebSocketsServer(handler, **kwargs)


# aiohttp ------------------------------------------------------------------------------


async def aiohttp_echo(ws: web.WebSocketResponse) -> None:
    """Send every text or binary message back."""
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            current_server().received.append(msg.data)  # type: ignore[attr-defined]
            await ws.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            current_server().received.append(msg.data)  # type: ignore[attr-defined]
            await ws.send_bytes(msg.data)


async def aiohttp_record(ws: web.WebSocketResponse) -> None:
    """Record every text or binary message until the client closes."""
    async for msg in ws:
        if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            current_server().received.append(msg.data)  # type: ignore[attr-defined]


async def aiohttp_close(ws: web.WebSocketResponse) -> None:
    """Close at once with 1000."""
    await ws.close()


AIOHTTP_HANDLERS: dict[str, Handler] = {
    "echo": aiohttp_echo,
    "record": aiohttp_record,
    "wait": aiohttp_record,  # aiohttp only notices the close by reading
    "close": aiohttp_close,
}


class AiohttpServer(PeerBase):
    """An aiohttp.web server with one catch-all WebSocket route; see ``aiohttp_server``."""

    def __init__(
        self,
        handler: Handler | str = "echo",
        *,
        compress: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        unix_path: str | os.PathLike[str] | None = None,
        path: str = "/",
        max_msg_size: int = 0,
        close_timeout: float = 2.0,
        fail_fast: bool = True,
        **ws_kwargs: Any,
    ) -> None:
        super().__init__(
            path=path, ssl_context=ssl_context, unix_path=unix_path, fail_fast=fail_fast
        )
        self.handler = AIOHTTP_HANDLERS[handler] if isinstance(handler, str) else handler
        self.close_timeout = close_timeout
        self.requests: list[RecordedRequest] = []
        self.received: list[Data] = []
        self.connections: list[web.WebSocketResponse] = []
        self._ws_options: dict[str, Any] = dict(
            compress=compress, max_msg_size=max_msg_size, timeout=close_timeout, **ws_kwargs
        )

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=self.close_timeout)
        await self.runner.setup()
        site: web.BaseSite
        if self.unix_path is not None:
            site = web.UnixSite(self.runner, self.unix_path, ssl_context=self.ssl_context)
        else:
            site = web.TCPSite(self.runner, HOST, 0, ssl_context=self.ssl_context)
        await site.start()
        if self.unix_path is None:
            self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        for ws in self.connections:
            if not ws.closed:
                await ws.close(code=1001)
        await self.runner.cleanup()

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        _current.set(self)
        headers = Headers(
            [
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in request.raw_headers
            ]
        )
        self.requests.append(RecordedRequest(request.path_qs, headers))
        ws = web.WebSocketResponse(**self._ws_options)
        await ws.prepare(request)
        self.connections.append(ws)
        self.connected.set()
        try:
            await self.handler(ws)
        except Exception as exc:
            self.fail(exc)
            await ws.close(code=1011)
        return ws


def aiohttp_server(handler: Handler | str = "echo", **kwargs: Any) -> AiohttpServer:
    """
    An aiohttp server whose every GET path is a WebSocket endpoint running ``handler``.

    Args:
        handler: ``async def handler(ws: web.WebSocketResponse)`` or "echo", "record",
            "wait", "close".
        compress: offer permessage-deflate (default True).
        ssl_context, unix_path, path, fail_fast: as for ``websockets_server``.
        max_msg_size: 0 (default) means unlimited.
        close_timeout: seconds to wait for the client's close frame (default 2).
        **ws_kwargs: passed to ``web.WebSocketResponse`` (heartbeat, protocols, ...).
    """
    return AiohttpServer(handler, **kwargs)


# TLS and Unix sockets -----------------------------------------------------------------


class TLSContexts(NamedTuple):
    """SSL contexts for a test server and a client that trusts it."""

    server: ssl.SSLContext
    client: ssl.SSLContext


@functools.cache
def _certificate() -> tuple[trustme.CA, trustme.LeafCert]:
    ca = trustme.CA()
    return ca, ca.issue_cert("localhost", "127.0.0.1", "::1")


def tls_context() -> TLSContexts:
    """
    New (server, client) contexts: a certificate for localhost, 127.0.0.1 and ::1 issued by a
    test CA (made once per process, in memory) that only the client context trusts.
    """
    ca, cert = _certificate()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(client)
    return TLSContexts(server, client)


# sun_path holds 108 bytes on Linux, 104 on macOS, including the final NUL.
MAX_UNIX_PATH = 100


def free_unix_path(directory: str | os.PathLike[str], name: str = "ws.sock") -> str:
    """
    A path for a new Unix socket in ``directory`` (e.g. pytest's ``tmp_path``).

    If that path is too long for ``sun_path``, it's in a new short directory from
    ``tempfile.mkdtemp()`` instead: the ``unix_path`` fixture removes it afterwards.
    """
    path = Path(directory) / name
    n = 0
    while path.exists():
        n += 1
        path = Path(directory) / f"{n}-{name}"
    if len(os.fsencode(path)) <= MAX_UNIX_PATH:
        return str(path)
    return str(Path(tempfile.mkdtemp(prefix="fws-")) / name)
