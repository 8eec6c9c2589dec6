"""Tests for fastws.uri."""

from __future__ import annotations

import pytest

from fastws.exceptions import InvalidURI
from fastws.uri import WebSocketURI, parse_uri

VALID_URIS = [
    ("ws://localhost/", WebSocketURI(False, "localhost", 80, "/", "", None, None)),
    ("wss://localhost/", WebSocketURI(True, "localhost", 443, "/", "", None, None)),
    ("ws://localhost", WebSocketURI(False, "localhost", 80, "", "", None, None)),
    ("ws://h/path?query", WebSocketURI(False, "h", 80, "/path", "query", None, None)),
    ("ws://h/path;params", WebSocketURI(False, "h", 80, "/path;params", "", None, None)),
    ("WS://HOST/PATH?QUERY", WebSocketURI(False, "host", 80, "/PATH", "QUERY", None, None)),
    ("ws://localhost:8080/", WebSocketURI(False, "localhost", 8080, "/", "", None, None)),
    ("wss://localhost:80/", WebSocketURI(True, "localhost", 80, "/", "", None, None)),
    ("ws://localhost:0/", WebSocketURI(False, "localhost", 80, "/", "", None, None)),
    ("ws://[::1]:8080/", WebSocketURI(False, "::1", 8080, "/", "", None, None)),
    ("ws://user:pass@localhost/", WebSocketURI(False, "localhost", 80, "/", "", "user", "pass")),
    ("ws://user:@localhost/", WebSocketURI(False, "localhost", 80, "/", "", "user", "")),
    ("ws://:pass@localhost/", WebSocketURI(False, "localhost", 80, "/", "", "", "pass")),
    (
        "ws://höst/päth?qüery",
        WebSocketURI(False, "xn--hst-sna", 80, "/p%C3%A4th", "q%C3%BCery", None, None),
    ),
    (
        "ws://üser:päss@localhost/a:b@c",
        WebSocketURI(False, "localhost", 80, "/a:b@c", "", "%C3%BCser", "p%C3%A4ss"),
    ),
    ("ws://localhost/%C3%A4", WebSocketURI(False, "localhost", 80, "/%C3%A4", "", None, None)),
]

INVALID_URIS = [
    ("http://localhost/", "scheme isn't ws or wss"),
    ("localhost/", "scheme isn't ws or wss"),
    ("ws:///path", "hostname isn't provided"),
    ("ws://", "hostname isn't provided"),
    ("ws://localhost/#fragment", "fragment identifier is meaningless"),
    ("ws://user@localhost/", "username provided without password"),
]

RESOURCE_NAMES = [
    ("ws://localhost", "/"),
    ("ws://localhost/", "/"),
    ("ws://localhost?q", "/?q"),
    ("ws://localhost/?", "/"),
    ("ws://localhost/p/a?q=1&r=2", "/p/a?q=1&r=2"),
]


@pytest.mark.parametrize(("uri", "expected"), VALID_URIS)
def test_parse_valid(uri: str, expected: WebSocketURI) -> None:
    """Valid URIs and IRIs parse into their components."""
    assert parse_uri(uri) == expected


@pytest.mark.parametrize(("uri", "msg"), INVALID_URIS)
def test_parse_invalid(uri: str, msg: str) -> None:
    """Invalid URIs raise InvalidURI with the 10.x message."""
    with pytest.raises(InvalidURI) as exc_info:
        parse_uri(uri)
    assert exc_info.value.uri == uri
    assert str(exc_info.value) == f"{uri} isn't a valid URI: {msg}"


@pytest.mark.parametrize("uri", ["ws://localhost:port/", "ws://localhost:99999/", "ws://[::1/"])
def test_parse_rejected_by_urllib(uri: str) -> None:
    """Like 10.x, urllib's own ValueError for a bad port or IPv6 literal goes through."""
    with pytest.raises(ValueError):
        parse_uri(uri)


@pytest.mark.parametrize(("uri", "resource_name"), RESOURCE_NAMES)
def test_resource_name(uri: str, resource_name: str) -> None:
    """resource_name is the path, or /, plus ?query if the query isn't empty."""
    assert parse_uri(uri).resource_name == resource_name


def test_user_info() -> None:
    """user_info is the (username, password) pair."""
    assert parse_uri("wss://u:p@h/").user_info == ("u", "p")


def test_user_info_absent() -> None:
    """user_info is None without user information."""
    assert parse_uri("wss://h/").user_info is None
