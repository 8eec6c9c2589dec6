"""Tests for fastws.headers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastws.exceptions import InvalidHeaderFormat, InvalidHeaderValue
from fastws.headers import (
    build_authorization_basic,
    build_extension,
    build_extension_list,
    build_host,
    build_quoted_string,
    build_subprotocol,
    build_subprotocol_list,
    build_www_authenticate_basic,
    parse_authorization_basic,
    parse_connection,
    parse_extension,
    parse_extension_list,
    parse_OWS,
    parse_quoted_string,
    parse_subprotocol,
    parse_subprotocol_list,
    parse_upgrade,
    peek_ahead,
    validate_subprotocols,
)
from fastws.typing import ExtensionHeader, ExtensionName, Subprotocol


class TestBuildHost:
    @pytest.mark.parametrize(
        ("host", "port", "secure", "expected"),
        [
            ("example.com", 80, False, "example.com"),
            ("example.com", 443, True, "example.com"),
            ("example.com", 443, False, "example.com:443"),
            ("example.com", 80, True, "example.com:80"),
            ("127.0.0.1", 8080, False, "127.0.0.1:8080"),
            ("127.0.0.1", 80, False, "127.0.0.1"),
            ("::1", 443, True, "[::1]"),
            ("::1", 8443, True, "[::1]:8443"),
        ],
    )
    def test_build_host(self, host: str, port: int, secure: bool, expected: str) -> None:
        """IPv6 addresses are bracketed; the port appears only if it isn't the default."""
        assert build_host(host, port, secure) == expected


class TestHelpers:
    def test_peek_ahead(self) -> None:
        """peek_ahead() returns the character, or None at the end."""
        assert peek_ahead("ab", 1) == "b"
        assert peek_ahead("ab", 2) is None

    def test_parse_ows(self) -> None:
        """parse_OWS() skips spaces and tabs only."""
        assert parse_OWS("a \t b", 1) == 4
        assert parse_OWS("ab", 1) == 1

    @pytest.mark.parametrize(
        ("header", "value", "pos"),
        [
            ('"abc"', "abc", 5),
            ('"a\\"b\\\\c"x', 'a"b\\c', 9),
            ('""', "", 2),
            ('"a b\tc"', "a b\tc", 7),
        ],
    )
    def test_parse_quoted_string(self, header: str, value: str, pos: int) -> None:
        """Quoted strings are unquoted and the end position is returned."""
        assert parse_quoted_string(header, 0, "X") == (value, pos)

    @pytest.mark.parametrize("header", ['"abc', "abc", '"\x00"', '"é"'])
    def test_parse_quoted_string_invalid(self, header: str) -> None:
        """Malformed quoted strings are rejected."""
        with pytest.raises(InvalidHeaderFormat) as exc_info:
            parse_quoted_string(header, 0, "X")
        assert str(exc_info.value) == f"invalid X header: expected quoted string at 0 in {header}"

    def test_parse_quoted_string_escaped_obs_text(self) -> None:
        """obs-text is accepted after a backslash, as in 10.x."""
        assert parse_quoted_string('"\\é"', 0, "X") == ("é", 4)

    @pytest.mark.parametrize(
        ("value", "quoted"),
        [("abc", '"abc"'), ('a"b\\c', '"a\\"b\\\\c"'), ("", '""'), ("a b", '"a b"')],
    )
    def test_build_quoted_string(self, value: str, quoted: str) -> None:
        """Quoting escapes double quotes and backslashes and round-trips."""
        assert build_quoted_string(value) == quoted
        assert parse_quoted_string(quoted, 0, "X") == (value, len(quoted))

    def test_build_quoted_string_invalid(self) -> None:
        """Control characters can't be quoted."""
        with pytest.raises(ValueError, match="invalid characters for quoted-string encoding"):
            build_quoted_string("\x00")


# (header, expected list) for the list-valued headers.
CONNECTION_CASES = [
    ("Upgrade", ["Upgrade"]),
    ("keep-alive, Upgrade", ["keep-alive", "Upgrade"]),
    ("Upgrade,keep-alive", ["Upgrade", "keep-alive"]),
    (",Upgrade", ["Upgrade"]),
    (", , Upgrade", ["Upgrade"]),
    ("Upgrade,", ["Upgrade"]),
    ("Upgrade , ,", ["Upgrade"]),
    ("a,\t,b", ["a", "b"]),
    ("a ,, b", ["a", "b"]),
]

UPGRADE_CASES = [
    ("websocket", ["websocket"]),
    ("HTTP/2.0, websocket", ["HTTP/2.0", "websocket"]),
    ("SHTTP/1.3, IRC/6.9, RTA/x11", ["SHTTP/1.3", "IRC/6.9", "RTA/x11"]),
]

SUBPROTOCOL_CASES = [
    ("chat", ["chat"]),
    ("chat, superchat", ["chat", "superchat"]),
    ("chat,superchat,", ["chat", "superchat"]),
]

EXTENSION_CASES = [
    ("foo", [("foo", [])]),
    ("foo, bar", [("foo", []), ("bar", [])]),
    (
        'foo; name; token=token; quoted="quoted"',
        [
            ("foo", [("name", None), ("token", "token"), ("quoted", "quoted")]),
        ],
    ),
    ("a; b = 1 ; c, d;e", [("a", [("b", "1"), ("c", None)]), ("d", [("e", None)])]),
    ('foo; x="\\1\\2"', [("foo", [("x", "12")])]),
    (
        "permessage-deflate; client_max_window_bits, permessage-deflate",
        [("permessage-deflate", [("client_max_window_bits", None)]), ("permessage-deflate", [])],
    ),
]

ParseList = Callable[[str], list[Any]]


@pytest.mark.parametrize(
    ("parse", "header", "expected"),
    [(parse_connection, h, e) for h, e in CONNECTION_CASES]
    + [(parse_upgrade, h, e) for h, e in UPGRADE_CASES]
    + [(parse_subprotocol, h, e) for h, e in SUBPROTOCOL_CASES]
    + [(parse_extension, h, e) for h, e in EXTENSION_CASES],
)
def test_parse_list_headers(parse: ParseList, header: str, expected: list[Any]) -> None:
    """List headers parse into their items, ignoring empty elements."""
    assert parse(header) == expected


@pytest.mark.parametrize(
    ("parse", "header", "message"),
    [
        (parse_connection, "", "Connection header: expected token at 0 in "),
        (parse_connection, ",", "Connection header: expected token at 1 in ,"),
        (parse_connection, "a b", "Connection header: expected comma at 2 in a b"),
        (parse_connection, "é", "Connection header: expected token at 0 in é"),
        (parse_upgrade, "a/", "Upgrade header: expected comma at 1 in a/"),
        (parse_upgrade, "/a", "Upgrade header: expected protocol at 0 in /a"),
        (parse_subprotocol, "a,,@", "Sec-WebSocket-Protocol header: expected token at 3 in a,,@"),
        (parse_extension, "a;", "Sec-WebSocket-Extensions header: expected token at 2 in a;"),
        (parse_extension, "a;b=", "Sec-WebSocket-Extensions header: expected token at 4 in a;b="),
        (
            parse_extension,
            'a;b="',
            'Sec-WebSocket-Extensions header: expected quoted string at 4 in a;b="',
        ),
        (
            parse_extension,
            'a; b="c d"',
            'Sec-WebSocket-Extensions header: invalid quoted header content at 5 in a; b="c d"',
        ),
        (
            parse_extension,
            "a; b c",
            "Sec-WebSocket-Extensions header: expected comma at 5 in a; b c",
        ),
    ],
)
def test_parse_list_headers_invalid(parse: ParseList, header: str, message: str) -> None:
    """Malformed list headers raise InvalidHeaderFormat with the 10.x message."""
    with pytest.raises(InvalidHeaderFormat) as exc_info:
        parse(header)
    assert str(exc_info.value) == f"invalid {message}"


def test_aliases() -> None:
    """The 10.x *_list aliases still exist."""
    assert parse_extension_list is parse_extension
    assert build_extension_list is build_extension
    assert parse_subprotocol_list is parse_subprotocol
    assert build_subprotocol_list is build_subprotocol


class TestBuild:
    def test_build_extension(self) -> None:
        """Extensions are joined with ', ', parameters with '; ', values never quoted."""
        extensions: list[ExtensionHeader] = [
            (ExtensionName("permessage-deflate"), [("client_max_window_bits", None)]),
            (ExtensionName("x-foo"), [("a", "1"), ("b", None)]),
            (ExtensionName("bar"), []),
        ]
        assert build_extension(extensions) == (
            "permessage-deflate; client_max_window_bits, x-foo; a=1; b, bar"
        )

    def test_build_extension_empty(self) -> None:
        """No extension gives an empty value."""
        assert build_extension([]) == ""

    def test_build_subprotocol(self) -> None:
        """Subprotocols are joined with ', '."""
        assert build_subprotocol([Subprotocol("chat"), Subprotocol("v2")]) == "chat, v2"


class TestValidateSubprotocols:
    @pytest.mark.parametrize("value", [[], ["chat"], ("chat", "v2.json")])
    def test_valid(self, value: Any) -> None:
        """Sequences of tokens are accepted."""
        validate_subprotocols(value)

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ({"chat"}, "subprotocols must be a list"),
            (None, "subprotocols must be a list"),
            ("chat", "subprotocols must be a list, not a str"),
        ],
    )
    def test_wrong_type(self, value: Any, message: str) -> None:
        """Non-sequences and str raise TypeError."""
        with pytest.raises(TypeError) as exc_info:
            validate_subprotocols(value)
        assert str(exc_info.value) == message

    @pytest.mark.parametrize("value", ["", "a b", "é", "a,b"])
    def test_not_a_token(self, value: str) -> None:
        """Elements that aren't tokens raise ValueError."""
        with pytest.raises(ValueError) as exc_info:
            validate_subprotocols([Subprotocol(value)])
        assert str(exc_info.value) == f"invalid subprotocol: {value}"


class TestBasicAuth:
    def test_build_www_authenticate_basic(self) -> None:
        """The challenge quotes the realm and names UTF-8."""
        assert build_www_authenticate_basic('my "realm"') == (
            'Basic realm="my \\"realm\\"", charset="UTF-8"'
        )

    def test_build_authorization_basic(self) -> None:
        """Credentials are base64-encoded (RFC 7617 section 2 example)."""
        assert build_authorization_basic("Aladdin", "open sesame") == (
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        )

    def test_build_authorization_basic_colon(self) -> None:
        """A colon in the user name is a programming error."""
        with pytest.raises(AssertionError):
            build_authorization_basic("a:b", "c")

    @pytest.mark.parametrize(
        ("header", "credentials"),
        [
            ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", ("Aladdin", "open sesame")),
            ("basic dTpwOnE=", ("u", "p:q")),
            ("BASIC dTo=", ("u", "")),
        ],
    )
    def test_parse_authorization_basic(self, header: str, credentials: tuple[str, str]) -> None:
        """Basic credentials are decoded; the scheme is case-insensitive."""
        assert parse_authorization_basic(header) == credentials

    @pytest.mark.parametrize(
        ("header", "message"),
        [
            ("", "expected token at 0 in "),
            ("Basic", "expected space after scheme at 5 in Basic"),
            ("Basic\tdTpw", "expected space after scheme at 5 in Basic\tdTpw"),
            ("Basic  dTpw", "expected token68 at 6 in Basic  dTpw"),
            ("Basic dTpw x", "trailing data at 10 in Basic dTpw x"),
        ],
    )
    def test_parse_authorization_basic_format(self, header: str, message: str) -> None:
        """Malformed values raise InvalidHeaderFormat."""
        with pytest.raises(InvalidHeaderFormat) as exc_info:
            parse_authorization_basic(header)
        assert str(exc_info.value) == f"invalid Authorization header: {message}"

    @pytest.mark.parametrize(
        ("header", "message"),
        [
            ("Digest abc", "unsupported scheme: Digest"),
            ("Basic a", "expected base64-encoded credentials"),
            ("Basic dXNlcg==", "expected username:password credentials"),
        ],
    )
    def test_parse_authorization_basic_value(self, header: str, message: str) -> None:
        """Unsupported schemes and undecodable credentials raise InvalidHeaderValue."""
        with pytest.raises(InvalidHeaderValue) as exc_info:
            parse_authorization_basic(header)
        assert str(exc_info.value) == f"invalid Authorization header: {message}"

    def test_round_trip(self) -> None:
        """parse_authorization_basic() reverses build_authorization_basic()."""
        header = build_authorization_basic("üser", "pa:ss wörd")
        assert parse_authorization_basic(header) == ("üser", "pa:ss wörd")


_TOKEN = st.text(alphabet="!#$%&'*+-.^_`|~09azAZ", min_size=1, max_size=10)
_PARAM = st.tuples(_TOKEN, st.none() | _TOKEN)
_EXTENSION = st.tuples(_TOKEN.map(ExtensionName), st.lists(_PARAM, max_size=4))


@given(st.lists(_EXTENSION, min_size=1, max_size=4))
def test_extension_round_trip(extensions: list[ExtensionHeader]) -> None:
    """parse_extension() reverses build_extension()."""
    assert parse_extension(build_extension(extensions)) == extensions


@given(st.lists(_TOKEN.map(Subprotocol), min_size=1, max_size=4))
def test_subprotocol_round_trip(subprotocols: list[Subprotocol]) -> None:
    """parse_subprotocol() reverses build_subprotocol()."""
    validate_subprotocols(subprotocols)
    assert parse_subprotocol(build_subprotocol(subprotocols)) == subprotocols


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_quoted_string_round_trip(value: str) -> None:
    """parse_quoted_string() reverses build_quoted_string()."""
    quoted = build_quoted_string(value)
    assert parse_quoted_string(quoted, 0, "X") == (value, len(quoted))
