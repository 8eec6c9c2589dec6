"""
Every exception fastws raises, with the websockets 10.x names, attributes and messages.

The tree::

    WebSocketException
    ├── ConnectionClosed
    │   ├── ConnectionClosedError
    │   └── ConnectionClosedOK
    ├── InvalidHandshake
    │   ├── SecurityError
    │   ├── InvalidMessage
    │   ├── InvalidHeader
    │   │   ├── InvalidHeaderFormat
    │   │   ├── InvalidHeaderValue
    │   │   ├── InvalidOrigin
    │   │   └── InvalidUpgrade
    │   ├── InvalidStatus          (raised by the Sans-I/O ClientConnection)
    │   ├── InvalidStatusCode      (raised by the asyncio client)
    │   ├── NegotiationError
    │   │   ├── DuplicateParameter
    │   │   ├── InvalidParameterName
    │   │   └── InvalidParameterValue
    │   ├── AbortHandshake         (server side; kept for import compatibility)
    │   └── RedirectHandshake      (internal: the asyncio client follows redirects)
    ├── InvalidState               (also an AssertionError)
    ├── InvalidURI
    ├── PayloadTooBig
    └── ProtocolError              (alias: WebSocketProtocolError)
"""

from __future__ import annotations

import http
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .datastructures import Headers, HeadersLike
    from .frames import Close
    from .http11 import Response

__all__ = [
    "WebSocketException",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "InvalidHandshake",
    "SecurityError",
    "InvalidMessage",
    "InvalidHeader",
    "InvalidHeaderFormat",
    "InvalidHeaderValue",
    "InvalidOrigin",
    "InvalidUpgrade",
    "InvalidStatus",
    "InvalidStatusCode",
    "NegotiationError",
    "DuplicateParameter",
    "InvalidParameterName",
    "InvalidParameterValue",
    "AbortHandshake",
    "RedirectHandshake",
    "InvalidState",
    "InvalidURI",
    "PayloadTooBig",
    "ProtocolError",
    "WebSocketProtocolError",
]


class WebSocketException(Exception):
    """Root of every exception that fastws defines."""


class ConnectionClosed(WebSocketException):
    """
    Raised when the connection is closed and an operation needs it open.

    Attributes:
        rcvd: the close frame received (code and reason), or None.
        sent: the close frame sent, or None.
        rcvd_then_sent: when both exist, True if the received one came first.
    """

    def __init__(
        self,
        rcvd: Close | None,
        sent: Close | None,
        rcvd_then_sent: bool | None = None,
    ) -> None:
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent

    def __str__(self) -> str:
        rcvd, sent = self.rcvd, self.sent
        if rcvd is None and sent is None:
            return "no close frame received or sent"
        if rcvd is None:
            return f"sent {sent}; no close frame received"
        if sent is None:
            return f"received {rcvd}; no close frame sent"
        if self.rcvd_then_sent:
            return f"received {rcvd}; then sent {sent}"
        return f"sent {sent}; then received {rcvd}"

    @property
    def code(self) -> int:
        """Received close code, 1006 when no close frame arrived (legacy attribute)."""
        return 1006 if self.rcvd is None else self.rcvd.code

    @property
    def reason(self) -> str:
        """Received close reason, empty when no close frame arrived (legacy attribute)."""
        return "" if self.rcvd is None else self.rcvd.reason


class ConnectionClosedError(ConnectionClosed):
    """The connection ended abnormally: a code other than 1000/1001, or no closing handshake."""


class ConnectionClosedOK(ConnectionClosed):
    """The connection ended cleanly: 1000 or 1001 was both received and sent."""


class InvalidHandshake(WebSocketException):
    """The opening handshake failed."""


class SecurityError(InvalidHandshake):
    """The handshake response broke a hard-coded security limit."""


class InvalidMessage(InvalidHandshake):
    """The handshake response was not valid HTTP."""


class InvalidHeader(InvalidHandshake):
    """An HTTP header of the handshake is missing, empty or wrong."""

    def __init__(self, name: str, value: str | None = None) -> None:
        self.name = name
        self.value = value

    def __str__(self) -> str:
        if self.value is None:
            return f"missing {self.name} header"
        if self.value == "":
            return f"empty {self.name} header"
        return f"invalid {self.name} header: {self.value}"


class InvalidHeaderFormat(InvalidHeader):
    """An HTTP header does not follow its grammar."""

    def __init__(self, name: str, error: str, header: str, pos: int) -> None:
        super().__init__(name, f"{error} at {pos} in {header}")


class InvalidHeaderValue(InvalidHeader):
    """An HTTP header parses but its value is not acceptable."""


class InvalidOrigin(InvalidHeader):
    """The Origin header is not allowed (server side)."""

    def __init__(self, origin: str | None) -> None:
        super().__init__("Origin", origin)


class InvalidUpgrade(InvalidHeader):
    """The Upgrade or Connection header of the response is wrong."""


class InvalidStatus(InvalidHandshake):
    """The server answered the upgrade with a status other than 101 (Sans-I/O)."""

    def __init__(self, response: Response) -> None:
        self.response = response

    def __str__(self) -> str:
        return f"server rejected WebSocket connection: HTTP {self.response.status_code:d}"


class InvalidStatusCode(InvalidHandshake):
    """The server answered the upgrade with a status other than 101 (asyncio client)."""

    def __init__(self, status_code: int, headers: Headers) -> None:
        self.status_code = status_code
        self.headers = headers

    def __str__(self) -> str:
        return f"server rejected WebSocket connection: HTTP {self.status_code}"


class NegotiationError(InvalidHandshake):
    """Negotiating an extension or a subprotocol failed."""


class DuplicateParameter(NegotiationError):
    """An extension parameter appears twice."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return f"duplicate parameter: {self.name}"


class InvalidParameterName(NegotiationError):
    """An extension parameter has an unknown name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return f"invalid parameter name: {self.name}"


class InvalidParameterValue(NegotiationError):
    """An extension parameter has a missing, empty or wrong value."""

    def __init__(self, name: str, value: str | None) -> None:
        self.name = name
        self.value = value

    def __str__(self) -> str:
        if self.value is None:
            return f"missing value for parameter {self.name}"
        if self.value == "":
            return f"empty value for parameter {self.name}"
        return f"invalid value for parameter {self.name}: {self.value}"


class AbortHandshake(InvalidHandshake):
    """A server aborts the handshake with an HTTP response (kept for import compatibility)."""

    def __init__(self, status: http.HTTPStatus, headers: HeadersLike, body: bytes = b"") -> None:
        from .datastructures import Headers

        self.status = status
        self.headers = Headers(headers)
        self.body = body

    def __str__(self) -> str:
        return f"HTTP {self.status:d}, {len(self.headers)} headers, {len(self.body)} bytes"


class RedirectHandshake(InvalidHandshake):
    """The handshake was redirected to another URI (handled inside connect())."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def __str__(self) -> str:
        return f"redirect to {self.uri}"


class InvalidState(WebSocketException, AssertionError):
    """The operation is not allowed in the connection's current state."""


class InvalidURI(WebSocketException):
    """The URI is not a valid ws:// or wss:// URI."""

    def __init__(self, uri: str, msg: str) -> None:
        self.uri = uri
        self.msg = msg

    def __str__(self) -> str:
        return f"{self.uri} isn't a valid URI: {self.msg}"


class PayloadTooBig(WebSocketException):
    """An incoming frame or message is larger than max_size."""


class ProtocolError(WebSocketException):
    """A frame broke RFC 6455, or a send_*() call would."""


WebSocketProtocolError = ProtocolError
