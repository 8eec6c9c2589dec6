"""
The Sans-I/O client connection: the opening handshake (RFC 6455 section 4.1) on top of
:class:`fastws.connection.Connection`.

As in websockets 10.x, this module is also where the asyncio client lives for importers:
``fastws.client.connect``, ``unix_connect`` and ``WebSocketClientProtocol``.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

from .connection import _HANDSHAKE, _HEADER, CLIENT, CONNECTING, OPEN, Connection, State
from .datastructures import Headers, MultipleValuesError
from .exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidStatus,
    InvalidUpgrade,
    NegotiationError,
)
from .headers import (
    build_authorization_basic,
    build_extension,
    build_host,
    build_subprotocol,
    parse_connection,
    parse_extension,
    parse_subprotocol,
    parse_upgrade,
)
from .http import USER_AGENT
from .http11 import Request, Response
from .streams import StreamReader
from .typing import LoggerLike, Origin, Subprotocol
from .uri import WebSocketURI
from .utils import accept_key, generate_key

if TYPE_CHECKING:  # pragma: no cover
    from .extensions.base import ClientExtensionFactory, Extension

__all__ = ["ClientConnection"]


def _check_accept(headers: Headers, key: str) -> None:
    """
    RFC 6455 section 4.2.2: the response's Sec-WebSocket-Accept must answer our ``key``.

    Raises:
        InvalidHeader: If the header is missing or repeated.
        InvalidHeaderValue: If it doesn't match.
    """
    try:
        accept = headers["Sec-WebSocket-Accept"]
    except KeyError as exc:
        raise InvalidHeader("Sec-WebSocket-Accept") from exc
    except MultipleValuesError as exc:
        raise InvalidHeader(
            "Sec-WebSocket-Accept", "more than one Sec-WebSocket-Accept header found"
        ) from exc
    if accept != accept_key(key):
        raise InvalidHeaderValue("Sec-WebSocket-Accept", accept)


class ClientConnection(Connection):
    """
    Sans-I/O WebSocket client connection.

    Args:
        wsuri: URI of the server, from :func:`fastws.uri.parse_uri`.
        origin: value of the Origin header, for servers that check it.
        extensions: extension factories to offer, in order of preference.
        subprotocols: subprotocols to offer, in order of preference.
        state: initial state; CONNECTING performs the opening handshake.
        max_size: largest incoming message in bytes; None disables the limit.
        logger: logger; defaults to ``logging.getLogger("websockets.client")``.
    """

    __slots__ = (
        "wsuri",
        "available_extensions",
        "available_subprotocols",
        "key",
        "read_response_body",
        "_handshake_reader",
        "_handshake",
    )

    def __init__(
        self,
        wsuri: WebSocketURI,
        origin: Origin | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[Subprotocol] | None = None,
        state: State = CONNECTING,
        max_size: int | None = 2**20,
        logger: LoggerLike | None = None,
    ) -> None:
        super().__init__(side=CLIENT, state=state, max_size=max_size, logger=logger)
        self.wsuri = wsuri
        self.origin = origin
        self.available_extensions = extensions
        self.available_subprotocols = subprotocols
        self.key = generate_key()
        # The asyncio client doesn't read the body of a refused handshake (websockets 10.x
        # neither): it sets this to False so a non-101 response is reported after its headers.
        self.read_response_body = True
        if state is CONNECTING:
            self._rstate = _HANDSHAKE
            self._handshake_reader = StreamReader()
            self._handshake = self._read_response()
            next(self._handshake)

    def connect(self) -> Request:
        """
        Build the opening handshake request; send it with :meth:`send_request`.

        It may be modified first, e.g. to add headers.
        """
        headers = Headers()
        wsuri = self.wsuri
        headers["Host"] = build_host(wsuri.host, wsuri.port, wsuri.secure)
        if wsuri.user_info:
            headers["Authorization"] = build_authorization_basic(*wsuri.user_info)
        if self.origin is not None:
            headers["Origin"] = self.origin
        headers["Upgrade"] = "websocket"
        headers["Connection"] = "Upgrade"
        headers["Sec-WebSocket-Key"] = self.key
        headers["Sec-WebSocket-Version"] = "13"
        if self.available_extensions is not None:
            headers["Sec-WebSocket-Extensions"] = build_extension(
                [(factory.name, factory.get_request_params()) for factory in
                 self.available_extensions]
            )
        if self.available_subprotocols is not None:
            headers["Sec-WebSocket-Protocol"] = build_subprotocol(self.available_subprotocols)
        headers["User-Agent"] = USER_AGENT
        return Request(wsuri.resource_name, headers)

    def send_request(self, request: Request) -> None:
        """Queue the opening handshake request for :meth:`data_to_send`."""
        if self.debug:
            self.logger.debug("> GET %s HTTP/1.1", request.path)
            for name, value in request.headers.raw_items():
                self.logger.debug("> %s: %s", name, value)
        self.writes.append(request.serialize())

    def process_response(self, response: Response) -> None:
        """
        Check the handshake response and negotiate extensions and subprotocol.

        Raises:
            InvalidHandshake: If the response doesn't accept the upgrade properly.
        """
        if response.status_code != 101:
            raise InvalidStatus(response)
        headers = response.headers
        connection = [
            option for value in headers.get_all("Connection") for option in parse_connection(value)
        ]
        if not any(option.lower() == "upgrade" for option in connection):
            raise InvalidUpgrade("Connection", ", ".join(connection) if connection else None)
        upgrade = [
            protocol for value in headers.get_all("Upgrade") for protocol in parse_upgrade(value)
        ]
        # RFC 6455 says "websocket"; like most clients we ignore case.
        if not (len(upgrade) == 1 and upgrade[0].lower() == "websocket"):
            raise InvalidUpgrade("Upgrade", ", ".join(upgrade) if upgrade else None)
        _check_accept(headers, self.key)
        self.extensions = self.process_extensions(headers)
        self.subprotocol = self.process_subprotocol(headers)

    def process_extensions(self, headers: Headers) -> list[Extension]:
        """
        Match each extension the server accepted with an offered factory.

        Returns:
            The accepted extensions, in the server's order.

        Raises:
            InvalidHandshake: If the server accepted an extension that wasn't offered or
                with parameters no factory takes.
        """
        accepted: list[Extension] = []
        values = headers.get_all("Sec-WebSocket-Extensions")
        if not values:
            return accepted
        if self.available_extensions is None:
            raise InvalidHandshake("no extensions supported")
        for name, params in [item for value in values for item in parse_extension(value)]:
            for factory in self.available_extensions:
                if factory.name != name:
                    continue
                try:
                    extension = factory.process_response_params(params, accepted)
                except NegotiationError:
                    continue
                accepted.append(extension)
                break
            else:
                raise NegotiationError(f"Unsupported extension: name = {name}, params = {params}")
        return accepted

    def process_subprotocol(self, headers: Headers) -> Subprotocol | None:
        """
        Check the subprotocol the server selected, if any.

        Raises:
            InvalidHandshake: If it wasn't offered, or several were selected.
        """
        values = headers.get_all("Sec-WebSocket-Protocol")
        if not values:
            return None
        if self.available_subprotocols is None:
            raise InvalidHandshake("no subprotocols supported")
        selected = [item for value in values for item in parse_subprotocol(value)]
        if len(selected) > 1:
            raise InvalidHandshake(f"multiple subprotocols: {', '.join(selected)}")
        subprotocol = selected[0]
        if subprotocol not in self.available_subprotocols:
            raise NegotiationError(f"unsupported subprotocol: {subprotocol}")
        return subprotocol

    # Parsing the handshake response.

    def _read_response(self) -> Generator[None, None, None]:
        """Generator that parses the HTTP response; the handshake runs once, so plain code."""
        reader = self._handshake_reader
        try:
            response = yield from Response.parse(
                reader.read_line, self._read_body_exact, self._read_body_to_eof
            )
        except Exception as exc:
            # websockets 10.x lets these escape from receive_data(); we report them as the
            # asyncio client does, as the handshake's failure.
            self.handshake_exc = InvalidMessage("did not receive a valid HTTP response")
            self.handshake_exc.__cause__ = exc
            self._discard()
            return
        if self.debug:
            self.logger.debug("< HTTP/1.1 %d %s", response.status_code, response.reason_phrase)
            for name, value in response.headers.raw_items():
                self.logger.debug("< %s: %s", name, value)
            if response.body is not None:
                self.logger.debug("< [body] (%d bytes)", len(response.body))
        try:
            self.process_response(response)
        except InvalidHandshake as exc:
            response._exception = exc
            self.handshake_exc = exc
            self.events.append(response)
            self._discard()
            return
        self.state = OPEN
        self.events.append(response)
        # Bytes after the response are the first frames.
        leftover = bytes(reader.buffer)
        reader.discard()
        self._rstate = _HEADER
        del self._handshake_reader  # the parser generator ends here too
        if leftover:
            self.reader.write(leftover)
        self._parse_frames()

    def _read_body_exact(self, size: int) -> Generator[None, None, bytes]:
        if not self.read_response_body:
            return b""
        return (yield from self._handshake_reader.read_exact(size))

    def _read_body_to_eof(self, limit: int) -> Generator[None, None, bytes]:
        if not self.read_response_body:
            return b""
        return (yield from self._handshake_reader.read_to_eof(limit))

    def _parse_handshake(self) -> None:
        ring = self.reader
        reader = self._handshake_reader
        if ring.size:
            reader.feed_data(ring.read(ring.size))
        if self._eof_rcvd:
            reader.feed_eof()
        try:
            next(self._handshake)
        except StopIteration:
            del self._handshake  # done: don't keep the finished generator per connection
        if self._eof_rcvd and self._rstate == _HANDSHAKE:  # pragma: no cover
            raise AssertionError("handshake parser did not finish at EOF")




# websockets 10.x keeps the asyncio client importable from here (websockets.client.connect).
# Imported lazily: fastws.asyncio imports this module.
if TYPE_CHECKING:  # pragma: no cover
    from .asyncio.client import Connect as Connect
    from .asyncio.client import connect as connect
    from .asyncio.client import unix_connect as unix_connect
    from .asyncio.protocol import WebSocketClientProtocol as WebSocketClientProtocol

_ASYNCIO_NAMES = {
    "Connect": "client",
    "connect": "client",
    "unix_connect": "client",
    "WebSocketClientProtocol": "protocol",
}

__all__ += list(_ASYNCIO_NAMES)


def __getattr__(name: str) -> Any:
    """Resolve the asyncio client's names on first use (PEP 562)."""
    try:
        module = _ASYNCIO_NAMES[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib

    return getattr(importlib.import_module(f"fastws.asyncio.{module}"), name)
