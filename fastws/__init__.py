"""
fastws: a fast asyncio WebSocket client with the websockets 10.x client API.

``import fastws as websockets`` gives code written for websockets 10.x what it expects.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

from .version import version as __version__

# As in websockets 10.x, ``import fastws`` imports nothing else: each name below is imported on
# first use (PEP 562), so that Sans-I/O users don't pay for asyncio. The names are the objects
# of their defining modules (aliases, never copies); docs/api.md, "Module paths", lists them.
if TYPE_CHECKING:  # pragma: no cover
    from . import legacy as legacy
    from .asyncio import run
    from .asyncio.client import connect, unix_connect
    from .asyncio.protocol import WebSocketClientProtocol, WebSocketCommonProtocol
    from .client import ClientConnection
    from .datastructures import Headers, MultipleValuesError
    from .exceptions import (
        AbortHandshake,
        ConnectionClosed,
        ConnectionClosedError,
        ConnectionClosedOK,
        DuplicateParameter,
        InvalidHandshake,
        InvalidHeader,
        InvalidHeaderFormat,
        InvalidHeaderValue,
        InvalidMessage,
        InvalidOrigin,
        InvalidParameterName,
        InvalidParameterValue,
        InvalidState,
        InvalidStatus,
        InvalidStatusCode,
        InvalidUpgrade,
        InvalidURI,
        NegotiationError,
        PayloadTooBig,
        ProtocolError,
        RedirectHandshake,
        SecurityError,
        WebSocketException,
        WebSocketProtocolError,
    )
    from .legacy import protocol as protocol
    from .legacy.protocol import broadcast
    from .typing import (
        Data,
        ExtensionHeader,
        ExtensionName,
        ExtensionParameter,
        LoggerLike,
        Origin,
        Subprotocol,
    )
    from .uri import WebSocketURI, parse_uri

_EXCEPTIONS = (
    "AbortHandshake ConnectionClosed ConnectionClosedError ConnectionClosedOK DuplicateParameter "
    "InvalidHandshake InvalidHeader InvalidHeaderFormat InvalidHeaderValue InvalidMessage "
    "InvalidOrigin InvalidParameterName InvalidParameterValue InvalidState InvalidStatus "
    "InvalidStatusCode InvalidUpgrade InvalidURI NegotiationError PayloadTooBig ProtocolError "
    "RedirectHandshake SecurityError WebSocketException WebSocketProtocolError"
).split()

# Name -> module it is imported from (a submodule when the name is one, as "protocol").
_ALIASES: dict[str, str] = {
    "run": ".asyncio",
    "connect": ".asyncio.client",
    "unix_connect": ".asyncio.client",
    "WebSocketClientProtocol": ".asyncio.protocol",
    "WebSocketCommonProtocol": ".asyncio.protocol",
    "broadcast": ".legacy.protocol",
    "protocol": ".legacy",
    "ClientConnection": ".client",
    "Headers": ".datastructures",
    "MultipleValuesError": ".datastructures",
    **{name: ".exceptions" for name in _EXCEPTIONS},
    "Data": ".typing",
    "ExtensionHeader": ".typing",
    "ExtensionName": ".typing",
    "ExtensionParameter": ".typing",
    "LoggerLike": ".typing",
    "Origin": ".typing",
    "Subprotocol": ".typing",
}

# Deprecated in websockets 10.x: importing them warns with 10.x's text.
_DEPRECATED_ALIASES: dict[str, str] = {
    "framing": ".legacy",
    "handshake": ".legacy",
    "parse_uri": ".uri",
    "WebSocketURI": ".uri",
}

# Submodules are attributes once imported; fastws also imports these on attribute access
# (``fastws.exceptions.ConnectionClosed`` after a bare ``import fastws``).
_SUBMODULES = frozenset(
    "client connection datastructures exceptions extensions frames headers http http11 legacy "
    "streams typing uri utils".split()
)


def _import(name: str, source: str) -> Any:
    module = __import__(source[1:], globals(), None, [name], 1)
    return getattr(module, name)


def __getattr__(name: str) -> Any:
    """Import the names of ``fastws`` on first use (PEP 562), as websockets 10.x does."""
    source = _ALIASES.get(name)
    if source is not None:
        value = _import(name, source)
        globals()[name] = value  # later lookups don't come here
        return value
    source = _DEPRECATED_ALIASES.get(name)
    if source is not None:
        warnings.warn(f"websockets.{name} is deprecated", DeprecationWarning, stacklevel=2)
        return _import(name, source)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The names of ``fastws``, including those not imported yet."""
    return sorted(set(globals()) | set(_ALIASES) | set(_DEPRECATED_ALIASES) | _SUBMODULES)


__all__ = [
    "AbortHandshake",
    "ClientConnection",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "Data",
    "DuplicateParameter",
    "ExtensionHeader",
    "ExtensionName",
    "ExtensionParameter",
    "Headers",
    "InvalidHandshake",
    "InvalidHeader",
    "InvalidHeaderFormat",
    "InvalidHeaderValue",
    "InvalidMessage",
    "InvalidOrigin",
    "InvalidParameterName",
    "InvalidParameterValue",
    "InvalidState",
    "InvalidStatus",
    "InvalidStatusCode",
    "InvalidUpgrade",
    "InvalidURI",
    "LoggerLike",
    "MultipleValuesError",
    "NegotiationError",
    "Origin",
    "PayloadTooBig",
    "ProtocolError",
    "RedirectHandshake",
    "SecurityError",
    "Subprotocol",
    "WebSocketClientProtocol",
    "WebSocketCommonProtocol",
    "WebSocketException",
    "WebSocketProtocolError",
    "WebSocketURI",
    "__version__",
    "broadcast",
    "connect",
    "parse_uri",
    "run",
    "unix_connect",
]
