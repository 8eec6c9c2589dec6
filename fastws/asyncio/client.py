"""
``connect()`` and ``unix_connect()``: open a WebSocket client connection (websockets 10.x API).

``connect(...)`` is awaitable, an async context manager, and an infinite async iterator that
reconnects with the documented backoff.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import sys
import urllib.parse
import warnings
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from types import TracebackType
from typing import Any, cast

from ..datastructures import HeadersLike
from ..exceptions import RedirectHandshake, SecurityError
from ..extensions.base import ClientExtensionFactory
from ..extensions.permessage_deflate import enable_client_permessage_deflate
from ..headers import validate_subprotocols
from ..typing import LoggerLike, Origin, Subprotocol
from ..uri import parse_uri
from .protocol import WebSocketClientProtocol

__all__ = ["connect", "unix_connect", "Connect", "WebSocketClientProtocol"]


class Connect:
    """
    Connect to the WebSocket server at ``uri``.

    ``await connect(...)`` returns a :class:`WebSocketClientProtocol`; ``async with connect(...)``
    closes it on exit; ``async for websocket in connect(...)`` reconnects after errors, with
    exponential backoff (a random first delay of up to 5 s, then 3, 5, 8, 13, 21, 34, 55, 60,
    60... s). Arguments not listed here go to ``loop.create_connection()`` (``ssl``, ``host``,
    ``port``, ``sock``, ``local_addr``, ``server_hostname``...).

    Args:
        uri: ws:// or wss:// URI.
        create_protocol: protocol factory, a subclass of WebSocketClientProtocol by default.
        logger: logger; defaults to ``logging.getLogger("websockets.client")``.
        compression: "deflate" offers permessage-deflate; None disables compression.
        origin: value of the Origin header.
        extensions: extension factories to offer, in order of preference.
        subprotocols: subprotocols to offer, in order of preference.
        extra_headers: HTTP headers added to the handshake request.
        open_timeout: seconds for TCP, TLS, the handshake and redirects; None for no limit.
        ping_interval, ping_timeout, close_timeout, max_size, max_queue, read_limit,
            write_limit: see :class:`~fastws.asyncio.protocol.WebSocketCommonProtocol`.

    For wss://, the URI's host name is used for SNI and certificate checks, also with ``host`` /
    ``port`` / ``sock`` overrides and for ``unix_connect``, unless ``server_hostname`` is given.
    A redirect from ws:// to wss:// enables TLS with the default context.

    Raises:
        InvalidURI: At call time, if ``uri`` isn't valid.
        ValueError: At call time, for ``ssl`` with a ws:// URI or an unknown compression.
        TypeError: At call time, if ``subprotocols`` isn't a list of str.
    """

    MAX_REDIRECTS_ALLOWED = 10
    BACKOFF_MIN = 1.92
    BACKOFF_MAX = 60.0
    BACKOFF_FACTOR = 1.618
    BACKOFF_INITIAL = 5

    def __init__(
        self,
        uri: str,
        *,
        create_protocol: Callable[..., WebSocketClientProtocol] | None = None,
        logger: LoggerLike | None = None,
        compression: str | None = "deflate",
        origin: Origin | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[Subprotocol] | None = None,
        extra_headers: HeadersLike | None = None,
        open_timeout: float | None = 10,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = None,
        max_size: int | None = 2**20,
        max_queue: int | None = 2**5,
        read_limit: int = 2**16,
        write_limit: int = 2**16,
        **kwargs: Any,
    ) -> None:
        timeout = kwargs.pop("timeout", None)
        if timeout is None:
            timeout = 10
        else:
            warnings.warn("rename timeout to close_timeout", DeprecationWarning, stacklevel=2)
        if close_timeout is None:
            close_timeout = timeout
        klass = kwargs.pop("klass", None)
        if klass is None:
            klass = WebSocketClientProtocol
        else:
            warnings.warn("rename klass to create_protocol", DeprecationWarning, stacklevel=2)
        if create_protocol is None:
            create_protocol = klass
        legacy_recv: bool = kwargs.pop("legacy_recv", False)
        if kwargs.pop("loop", None) is not None:
            warnings.warn("remove loop argument", DeprecationWarning, stacklevel=2)

        wsuri = parse_uri(uri)
        if wsuri.secure:
            kwargs.setdefault("ssl", True)
        elif kwargs.get("ssl") is not None:
            raise ValueError(
                "connect() received a ssl argument for a ws:// URI, use a wss:// URI to enable TLS"
            )
        if compression == "deflate":
            extensions = enable_client_permessage_deflate(extensions)
        elif compression is not None:
            raise ValueError(f"unsupported compression: {compression}")
        if subprotocols is not None:
            validate_subprotocols(subprotocols)

        self._protocol_kwargs: dict[str, Any] = dict(
            logger=logger,
            origin=origin,
            extensions=extensions,
            subprotocols=subprotocols,
            extra_headers=extra_headers,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_size=max_size,
            max_queue=max_queue,
            read_limit=read_limit,
            write_limit=write_limit,
            host=wsuri.host,
            port=wsuri.port,
            secure=wsuri.secure,
            legacy_recv=legacy_recv,
        )
        self._create_protocol = create_protocol
        self._unix: bool = kwargs.pop("unix", False)
        self._path: str | None = kwargs.pop("path", None)
        host: str | None
        port: int | None
        if kwargs.get("sock") is None:
            host, port = wsuri.host, wsuri.port
        else:
            host, port = None, None
        self._host: str | None = kwargs.pop("host", host)
        self._port: int | None = kwargs.pop("port", port)
        self._server_hostname_given = "server_hostname" in kwargs
        self._kwargs = kwargs
        self.open_timeout = open_timeout
        if logger is None:
            logger = logging.getLogger("websockets.client")
        self.logger = logger
        self._uri = uri
        self._wsuri = wsuri
        self.protocol: WebSocketClientProtocol

    async def _create_connection(self) -> WebSocketClientProtocol:
        loop = asyncio.get_running_loop()
        factory = functools.partial(self._create_protocol, **self._protocol_kwargs)
        kwargs = dict(self._kwargs)
        if kwargs.get("ssl") and not self._server_hostname_given:
            # Verify the certificate for the URI's host, whatever the TCP destination.
            kwargs["server_hostname"] = self._wsuri.host
        if self._unix:
            _, protocol = await loop.create_unix_connection(factory, self._path, **kwargs)
        else:
            _, protocol = await loop.create_connection(
                factory, cast(str, self._host), cast(int, self._port), **kwargs
            )
        return cast(WebSocketClientProtocol, protocol)

    def handle_redirect(self, uri: str) -> None:
        """
        Follow a redirect to ``uri`` (resolved against the current URI).

        Raises:
            InvalidURI: If the target isn't a valid WebSocket URI.
            SecurityError: On a redirect from wss:// to ws://.
        """
        old_wsuri = self._wsuri
        new_uri = urllib.parse.urljoin(self._uri, uri)
        new_wsuri = parse_uri(new_uri)
        if old_wsuri.secure and not new_wsuri.secure:
            raise SecurityError("redirect from WSS to WS")
        same_origin = old_wsuri.host == new_wsuri.host and old_wsuri.port == new_wsuri.port
        if not same_origin:
            self._host, self._port = new_wsuri.host, new_wsuri.port
            self._protocol_kwargs.update(host=new_wsuri.host, port=new_wsuri.port)
        if new_wsuri.secure and not old_wsuri.secure:
            # ws -> wss: enable TLS (websockets 10.x didn't), with the default context as for a
            # wss:// URI given without ssl=. A ws:// URI can't come with ssl= (ValueError at
            # call time, as in 10.x: asking for TLS with a plain-text URI is a mistake), so
            # there is no caller's context to keep here.
            self._kwargs["ssl"] = True
        self._protocol_kwargs["secure"] = new_wsuri.secure
        self._uri = new_uri
        self._wsuri = new_wsuri

    async def __await_impl__(self) -> WebSocketClientProtocol:
        for _ in range(self.MAX_REDIRECTS_ALLOWED):
            protocol = await self._create_connection()
            try:
                await protocol.handshake(
                    self._wsuri,
                    origin=protocol.origin,
                    available_extensions=protocol.available_extensions,
                    available_subprotocols=protocol.available_subprotocols,
                    extra_headers=protocol.extra_headers,
                )
            except RedirectHandshake as exc:
                protocol.fail_connection()
                await protocol.wait_closed()
                self.handle_redirect(exc.uri)
            except (Exception, asyncio.CancelledError):
                protocol.fail_connection()
                await protocol.wait_closed()
                raise
            else:
                self.protocol = protocol
                return protocol
        raise SecurityError("too many redirects")

    async def __await_impl_timeout__(self) -> WebSocketClientProtocol:
        if self.open_timeout is None:
            return await self.__await_impl__()
        if sys.version_info >= (3, 11):
            async with asyncio.timeout(self.open_timeout):
                return await self.__await_impl__()
        return await asyncio.wait_for(self.__await_impl__(), self.open_timeout)  # pragma: no cover

    def __await__(self) -> Generator[Any, None, WebSocketClientProtocol]:
        return self.__await_impl_timeout__().__await__()

    __iter__ = __await__

    async def __aenter__(self) -> WebSocketClientProtocol:
        return await self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.protocol.close()

    async def __aiter__(self) -> AsyncIterator[WebSocketClientProtocol]:
        backoff_delay = self.BACKOFF_MIN
        while True:
            try:
                async with self as protocol:
                    yield protocol
            except Exception:  # not CancelledError, a BaseException: cancelling stops the loop
                # RFC 6455 section 7.2.3: a random first delay, then exponential backoff.
                if backoff_delay == self.BACKOFF_MIN:
                    initial_delay = random.random() * self.BACKOFF_INITIAL
                    self.logger.info(
                        "! connect failed; reconnecting in %.1f seconds",
                        initial_delay,
                        exc_info=True,
                    )
                    await asyncio.sleep(initial_delay)
                else:
                    self.logger.info(
                        "! connect failed again; retrying in %d seconds",
                        int(backoff_delay),
                        exc_info=True,
                    )
                    await asyncio.sleep(int(backoff_delay))
                backoff_delay = min(backoff_delay * self.BACKOFF_FACTOR, self.BACKOFF_MAX)
                continue
            else:
                backoff_delay = self.BACKOFF_MIN


connect = Connect


def unix_connect(path: str | None = None, uri: str = "ws://localhost/", **kwargs: Any) -> Connect:
    """
    Like :func:`connect`, over the Unix socket at ``path``.

    Args:
        path: file system path of the socket.
        uri: URI of the server; its host goes into the Host header and, for wss://, into TLS.
    """
    return connect(uri=uri, path=path, unix=True, **kwargs)
