"""Tests for fastws.exceptions: the 10.x names, attributes and messages."""

from __future__ import annotations

import http

import pytest

from fastws import exceptions as exc_mod
from fastws.datastructures import Headers
from fastws.exceptions import (
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
from fastws.frames import Close
from fastws.http11 import Response

CASES = [
    (ConnectionClosed(None, None), "no close frame received or sent"),
    (ConnectionClosed(None, Close(1000, "")), "sent 1000 (OK); no close frame received"),
    (ConnectionClosed(Close(1001, "x"), None), "received 1001 (going away) x; no close frame sent"),
    (
        ConnectionClosedOK(Close(1000, "a"), Close(1000, "b"), True),
        "received 1000 (OK) a; then sent 1000 (OK) b",
    ),
    (
        ConnectionClosedError(Close(1002, ""), Close(1011, ""), False),
        "sent 1011 (unexpected error); then received 1002 (protocol error)",
    ),
    (InvalidHandshake("bad"), "bad"),
    (SecurityError("too many"), "too many"),
    (InvalidMessage("did not receive a valid HTTP response"), "did not receive a valid HTTP response"),
    (InvalidHeader("Name"), "missing Name header"),
    (InvalidHeader("Name", ""), "empty Name header"),
    (InvalidHeader("Name", "x"), "invalid Name header: x"),
    (InvalidHeaderFormat("Name", "expected token", "a b", 2), "invalid Name header: expected token at 2 in a b"),
    (InvalidHeaderValue("Sec-WebSocket-Accept", "x"), "invalid Sec-WebSocket-Accept header: x"),
    (InvalidOrigin(None), "missing Origin header"),
    (InvalidUpgrade("Upgrade", "h2c"), "invalid Upgrade header: h2c"),
    (InvalidStatus(Response(403, "Forbidden", Headers())), "server rejected WebSocket connection: HTTP 403"),
    (InvalidStatusCode(500, Headers()), "server rejected WebSocket connection: HTTP 500"),
    (NegotiationError("no"), "no"),
    (DuplicateParameter("a"), "duplicate parameter: a"),
    (InvalidParameterName("a"), "invalid parameter name: a"),
    (InvalidParameterValue("a", None), "missing value for parameter a"),
    (InvalidParameterValue("a", ""), "empty value for parameter a"),
    (InvalidParameterValue("a", "1"), "invalid value for parameter a: 1"),
    (AbortHandshake(http.HTTPStatus.FORBIDDEN, {"A": "b"}, b"no"), "HTTP 403, 1 headers, 2 bytes"),
    (RedirectHandshake("ws://x/"), "redirect to ws://x/"),
    (InvalidState("nope"), "nope"),
    (InvalidURI("http://x", "scheme isn't ws or wss"), "http://x isn't a valid URI: scheme isn't ws or wss"),
    (PayloadTooBig("over size limit (2 > 1 bytes)"), "over size limit (2 > 1 bytes)"),
    (ProtocolError("invalid opcode"), "invalid opcode"),
]


@pytest.mark.parametrize(("exc", "text"), CASES)
def test_str(exc: Exception, text: str) -> None:
    """str() matches websockets 10.x."""
    assert str(exc) == text


def test_tree() -> None:
    """Every exception derives from WebSocketException; InvalidState is an AssertionError."""
    for name in exc_mod.__all__:
        assert issubclass(getattr(exc_mod, name), WebSocketException)
    assert issubclass(InvalidState, AssertionError)
    assert issubclass(InvalidStatusCode, InvalidHandshake)
    assert issubclass(DuplicateParameter, NegotiationError)
    assert WebSocketProtocolError is ProtocolError


def test_connection_closed_legacy_attributes() -> None:
    """code and reason come from the received close frame, 1006 and '' without one."""
    assert ConnectionClosed(None, None).code == 1006
    assert ConnectionClosed(None, None).reason == ""
    closed = ConnectionClosed(Close(1001, "bye"), None)
    assert (closed.code, closed.reason) == (1001, "bye")
