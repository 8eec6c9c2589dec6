"""
fastws: a fast asyncio WebSocket client with the websockets 10.x client API.

``import fastws as websockets`` gives code written for websockets 10.x what it expects.
"""

from __future__ import annotations

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
from .typing import Data, ExtensionName, ExtensionParameter, LoggerLike, Origin, Subprotocol
from .uri import WebSocketURI, parse_uri
from .version import version as __version__

__all__ = [
    "AbortHandshake",
    "ClientConnection",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "Data",
    "DuplicateParameter",
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
    "connect",
    "parse_uri",
    "run",
    "unix_connect",
]
