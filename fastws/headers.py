"""
Parsers and builders for the HTTP header values of the WebSocket opening handshake.

The grammars come from RFC 6455 section 9.1 and RFC 7230 appendix B; they are small enough to
implement by hand. Each ``parse_*`` helper takes ``(header, pos, header_name)`` and returns the
parsed value with the position right after it; errors raise
:class:`~fastws.exceptions.InvalidHeaderFormat` naming the header and the position.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from .exceptions import InvalidHeaderFormat, InvalidHeaderValue
from .typing import (
    ConnectionOption,
    ExtensionHeader,
    ExtensionName,
    ExtensionParameter,
    Subprotocol,
    UpgradeProtocol,
)

__all__ = [
    "build_host",
    "parse_connection",
    "parse_upgrade",
    "parse_extension",
    "build_extension",
    "parse_subprotocol",
    "build_subprotocol",
    "validate_subprotocols",
    "build_www_authenticate_basic",
    "parse_authorization_basic",
    "build_authorization_basic",
]

T = TypeVar("T")


def build_host(host: str, port: int, secure: bool) -> str:
    """
    Build the value of a ``Host`` header.

    Args:
        host: host name or IP address.
        port: port number.
        secure: whether the scheme is ``wss`` (default port 443) rather than ``ws`` (80).

    Returns:
        The host, bracketed if it is an IPv6 address, then ``:port`` unless the port is the
        scheme's default.
    """
    # RFC 3986 section 3.2.2: "A host identified by an IPv6 literal address is represented
    # inside square brackets".
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass  # a registered name, not an address
    else:
        if address.version == 6:
            host = f"[{host}]"
    if port != (443 if secure else 80):
        host = f"{host}:{port}"
    return host


def peek_ahead(header: str, pos: int) -> str | None:
    """
    Look at one character without consuming it.

    Args:
        header: header value.
        pos: position to look at.

    Returns:
        The character at ``pos``, or None at the end of ``header``.
    """
    return None if pos == len(header) else header[pos]


# RFC 7230 section 3.2.3: OWS = *( SP / HTAB )
_OWS_RE = re.compile(r"[\t ]*")


def parse_OWS(header: str, pos: int) -> int:
    """
    Skip optional whitespace.

    Args:
        header: header value.
        pos: position where whitespace may start.

    Returns:
        The position after the whitespace (``pos`` itself if there is none).
    """
    match = _OWS_RE.match(header, pos)
    assert match is not None  # the pattern matches the empty string
    return match.end()


# RFC 7230 section 3.2.6: token = 1*tchar
_TOKEN_RE = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")


def parse_token(header: str, pos: int, header_name: str) -> tuple[str, int]:
    """
    Parse a token.

    Args:
        header: header value.
        pos: position where the token starts.
        header_name: header name, for error messages.

    Returns:
        The token and the position after it.

    Raises:
        InvalidHeaderFormat: If no token starts at ``pos``.
    """
    match = _TOKEN_RE.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(header_name, "expected token", header, pos)
    return match.group(), match.end()


# RFC 7230 section 3.2.6: quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
# qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
# quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
# Like websockets 10.x, obs-text is only accepted inside a quoted-pair.
_QUOTED_STRING_RE = re.compile(r'"(?:[\t \x21\x23-\x5b\x5d-\x7e]|\\[\t \x21-\x7e\x80-\xff])*"')
_QUOTED_PAIR_RE = re.compile(r"\\([\t \x21-\x7e\x80-\xff])")


def parse_quoted_string(header: str, pos: int, header_name: str) -> tuple[str, int]:
    """
    Parse a quoted string and remove its quoting.

    Args:
        header: header value.
        pos: position of the opening double quote.
        header_name: header name, for error messages.

    Returns:
        The unquoted content and the position after the closing double quote.

    Raises:
        InvalidHeaderFormat: If no valid quoted string starts at ``pos``.
    """
    match = _QUOTED_STRING_RE.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(header_name, "expected quoted string", header, pos)
    return _QUOTED_PAIR_RE.sub(r"\1", match.group()[1:-1]), match.end()


# Characters a quoted-string can carry, once " and \ are escaped.
_QUOTABLE_RE = re.compile(r"[\t \x21-\x7e\x80-\xff]*")
_NEEDS_ESCAPE_RE = re.compile(r'(["\\])')


def build_quoted_string(value: str) -> str:
    """
    Quote a value as a quoted string; the reverse of :func:`parse_quoted_string`.

    Args:
        value: text to quote.

    Returns:
        ``value`` between double quotes, with ``"`` and ``\\`` escaped.

    Raises:
        ValueError: If ``value`` holds a character a quoted string can't carry.
    """
    if _QUOTABLE_RE.fullmatch(value) is None:
        raise ValueError("invalid characters for quoted-string encoding")
    return '"' + _NEEDS_ESCAPE_RE.sub(r"\\\1", value) + '"'


def parse_list(
    parse_item: Callable[[str, int, str], tuple[T, int]],
    header: str,
    pos: int,
    header_name: str,
) -> list[T]:
    """
    Parse a comma-separated list with at least one element (``1#item`` in RFC 7230).

    ``header`` must not start or end with whitespace; the HTTP parser strips it from values.

    Args:
        parse_item: parser of one element, same signature as :func:`parse_token`.
        header: header value.
        pos: position where the list starts.
        header_name: header name, for error messages.

    Returns:
        The parsed elements.

    Raises:
        InvalidHeaderFormat: If the list is empty or malformed.
    """
    # RFC 7230 section 7: "a recipient MUST parse and ignore a reasonable number of empty
    # list elements", hence the loops that skip extra commas.
    end = len(header)
    while pos < end and header[pos] == ",":
        pos = parse_OWS(header, pos + 1)

    items: list[T] = []
    while True:
        item, pos = parse_item(header, pos, header_name)
        items.append(item)
        pos = parse_OWS(header, pos)
        if pos == end:
            break
        if header[pos] != ",":
            raise InvalidHeaderFormat(header_name, "expected comma", header, pos)
        pos = parse_OWS(header, pos + 1)
        while pos < end and header[pos] == ",":
            pos = parse_OWS(header, pos + 1)
        if pos == end:
            break
    return items


def parse_connection_option(
    header: str, pos: int, header_name: str
) -> tuple[ConnectionOption, int]:
    """
    Parse one option of a ``Connection`` header (RFC 7230 section 6.1).

    Args:
        header: header value.
        pos: position where the option starts.
        header_name: header name, for error messages.

    Returns:
        The option and the position after it.

    Raises:
        InvalidHeaderFormat: If no token starts at ``pos``.
    """
    item, pos = parse_token(header, pos, header_name)
    return ConnectionOption(item), pos


def parse_connection(header: str) -> list[ConnectionOption]:
    """
    Parse a ``Connection`` header.

    Args:
        header: header value.

    Returns:
        The connection options, case preserved.

    Raises:
        InvalidHeaderFormat: If the value is malformed.
    """
    # RFC 7230 section 6.1: Connection = 1#connection-option
    return parse_list(parse_connection_option, header, 0, "Connection")


# RFC 7230 section 6.7: protocol = protocol-name ["/" protocol-version]
_PROTOCOL_RE = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+(?:/[-!#$%&'*+.^_`|~0-9a-zA-Z]+)?")


def parse_upgrade_protocol(header: str, pos: int, header_name: str) -> tuple[UpgradeProtocol, int]:
    """
    Parse one protocol of an ``Upgrade`` header.

    Args:
        header: header value.
        pos: position where the protocol starts.
        header_name: header name, for error messages.

    Returns:
        The protocol (``name`` or ``name/version``) and the position after it.

    Raises:
        InvalidHeaderFormat: If no protocol starts at ``pos``.
    """
    match = _PROTOCOL_RE.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(header_name, "expected protocol", header, pos)
    return UpgradeProtocol(match.group()), match.end()


def parse_upgrade(header: str) -> list[UpgradeProtocol]:
    """
    Parse an ``Upgrade`` header.

    Args:
        header: header value.

    Returns:
        The protocols, case preserved.

    Raises:
        InvalidHeaderFormat: If the value is malformed.
    """
    # RFC 7230 section 6.7: Upgrade = 1#protocol
    return parse_list(parse_upgrade_protocol, header, 0, "Upgrade")


def parse_extension_item_param(
    header: str, pos: int, header_name: str
) -> tuple[ExtensionParameter, int]:
    """
    Parse one extension parameter, ``name`` or ``name=value``.

    Args:
        header: header value.
        pos: position where the parameter starts.
        header_name: header name, for error messages.

    Returns:
        ``(name, value)``, value None when absent, and the position after the parameter.

    Raises:
        InvalidHeaderFormat: If the parameter is malformed.
    """
    # RFC 6455 section 9.1: extension-param = token [ "=" (token | quoted-string) ]
    name, pos = parse_token(header, pos, header_name)
    pos = parse_OWS(header, pos)
    value: str | None = None
    if peek_ahead(header, pos) == "=":
        pos = parse_OWS(header, pos + 1)
        if peek_ahead(header, pos) == '"':
            start = pos
            value, pos = parse_quoted_string(header, pos, header_name)
            # RFC 6455 section 9.1: "When using the quoted-string syntax variant, the value
            # after quoted-string unescaping MUST conform to the 'token' ABNF."
            if _TOKEN_RE.fullmatch(value) is None:
                raise InvalidHeaderFormat(
                    header_name, "invalid quoted header content", header, start
                )
        else:
            value, pos = parse_token(header, pos, header_name)
        pos = parse_OWS(header, pos)
    return (name, value), pos


def parse_extension_item(header: str, pos: int, header_name: str) -> tuple[ExtensionHeader, int]:
    """
    Parse one extension with its parameters.

    Args:
        header: header value.
        pos: position where the extension starts.
        header_name: header name, for error messages.

    Returns:
        ``(name, [(param, value), ...])`` and the position after the extension.

    Raises:
        InvalidHeaderFormat: If the extension is malformed.
    """
    # RFC 6455 section 9.1: extension = extension-token *( ";" extension-param )
    name, pos = parse_token(header, pos, header_name)
    pos = parse_OWS(header, pos)
    parameters: list[ExtensionParameter] = []
    while peek_ahead(header, pos) == ";":
        pos = parse_OWS(header, pos + 1)
        parameter, pos = parse_extension_item_param(header, pos, header_name)
        parameters.append(parameter)
    return (ExtensionName(name), parameters), pos


def parse_extension(header: str) -> list[ExtensionHeader]:
    """
    Parse a ``Sec-WebSocket-Extensions`` header.

    Args:
        header: header value.

    Returns:
        ``[(name, [(param, value), ...]), ...]``; a value is None when the parameter has none.

    Raises:
        InvalidHeaderFormat: If the value is malformed.
    """
    # RFC 6455 section 9.1: Sec-WebSocket-Extensions = extension-list
    # extension-list = 1#extension
    return parse_list(parse_extension_item, header, 0, "Sec-WebSocket-Extensions")


parse_extension_list = parse_extension  # 10.x alias


def build_extension_item(name: ExtensionName, parameters: list[ExtensionParameter]) -> str:
    """
    Format one extension with its parameters; the reverse of :func:`parse_extension_item`.

    Args:
        name: extension name.
        parameters: ``(param, value)`` pairs; a None value writes the bare name.

    Returns:
        ``name; param; param=value``. Values are written as tokens, never quoted.
    """
    parts = [str(name)]
    for param, value in parameters:
        parts.append(param if value is None else f"{param}={value}")
    return "; ".join(parts)


def build_extension(extensions: Sequence[ExtensionHeader]) -> str:
    """
    Build a ``Sec-WebSocket-Extensions`` header; the reverse of :func:`parse_extension`.

    Args:
        extensions: ``(name, [(param, value), ...])`` pairs.

    Returns:
        The header value, extensions separated by ``", "``.
    """
    return ", ".join([build_extension_item(name, params) for name, params in extensions])


build_extension_list = build_extension  # 10.x alias


def parse_subprotocol_item(header: str, pos: int, header_name: str) -> tuple[Subprotocol, int]:
    """
    Parse one subprotocol.

    Args:
        header: header value.
        pos: position where the subprotocol starts.
        header_name: header name, for error messages.

    Returns:
        The subprotocol and the position after it.

    Raises:
        InvalidHeaderFormat: If no token starts at ``pos``.
    """
    item, pos = parse_token(header, pos, header_name)
    return Subprotocol(item), pos


def parse_subprotocol(header: str) -> list[Subprotocol]:
    """
    Parse a ``Sec-WebSocket-Protocol`` header.

    Args:
        header: header value.

    Returns:
        The subprotocols, in order.

    Raises:
        InvalidHeaderFormat: If the value is malformed.
    """
    # RFC 6455 section 4.3: Sec-WebSocket-Protocol-Client = 1#token
    return parse_list(parse_subprotocol_item, header, 0, "Sec-WebSocket-Protocol")


parse_subprotocol_list = parse_subprotocol  # 10.x alias


def build_subprotocol(subprotocols: Sequence[Subprotocol]) -> str:
    """
    Build a ``Sec-WebSocket-Protocol`` header; the reverse of :func:`parse_subprotocol`.

    Args:
        subprotocols: subprotocols, in order of preference.

    Returns:
        The header value, subprotocols separated by ``", "``.
    """
    return ", ".join(subprotocols)


build_subprotocol_list = build_subprotocol  # 10.x alias


def validate_subprotocols(subprotocols: Sequence[Subprotocol]) -> None:
    """
    Check that :func:`build_subprotocol` can format ``subprotocols``.

    Args:
        subprotocols: value to check.

    Raises:
        TypeError: If ``subprotocols`` isn't a sequence, or is a ``str``.
        ValueError: If an element isn't a token (RFC 7230 section 3.2.6).
    """
    if not isinstance(subprotocols, Sequence):
        raise TypeError("subprotocols must be a list")
    if isinstance(subprotocols, str):
        raise TypeError("subprotocols must be a list, not a str")
    for subprotocol in subprotocols:
        if not _TOKEN_RE.fullmatch(subprotocol):
            raise ValueError(f"invalid subprotocol: {subprotocol}")


def build_www_authenticate_basic(realm: str) -> str:
    """
    Build a ``WWW-Authenticate`` header challenging for HTTP Basic authentication.

    Args:
        realm: protection space, shown to the user.

    Returns:
        ``Basic realm="...", charset="UTF-8"`` (RFC 7617 section 2).

    Raises:
        ValueError: If ``realm`` can't be written as a quoted string.
    """
    return f'Basic realm={build_quoted_string(realm)}, charset="UTF-8"'


# RFC 7235 section 2.1: token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_TOKEN68_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def parse_token68(header: str, pos: int, header_name: str) -> tuple[str, int]:
    """
    Parse a token68.

    Args:
        header: header value.
        pos: position where the token68 starts.
        header_name: header name, for error messages.

    Returns:
        The token68 and the position after it.

    Raises:
        InvalidHeaderFormat: If no token68 starts at ``pos``.
    """
    match = _TOKEN68_RE.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(header_name, "expected token68", header, pos)
    return match.group(), match.end()


def parse_end(header: str, pos: int, header_name: str) -> None:
    """
    Check that nothing follows ``pos``.

    Args:
        header: header value.
        pos: position where the value should end.
        header_name: header name, for error messages.

    Raises:
        InvalidHeaderFormat: If characters remain after ``pos``.
    """
    if pos < len(header):
        raise InvalidHeaderFormat(header_name, "trailing data", header, pos)


def parse_authorization_basic(header: str) -> tuple[str, str]:
    """
    Parse an ``Authorization`` header carrying HTTP Basic credentials.

    Args:
        header: header value.

    Returns:
        ``(username, password)``.

    Raises:
        InvalidHeaderFormat: If the value is malformed.
        InvalidHeaderValue: If the scheme isn't Basic or the credentials can't be decoded.
    """
    # RFC 7235 section 2.1: credentials = auth-scheme [ 1*SP ( token68 / ... ) ]
    # RFC 7617 section 2: the token68 is the base64 of user-id ":" password
    scheme, pos = parse_token(header, 0, "Authorization")
    if scheme.lower() != "basic":
        raise InvalidHeaderValue("Authorization", f"unsupported scheme: {scheme}")
    if peek_ahead(header, pos) != " ":
        raise InvalidHeaderFormat("Authorization", "expected space after scheme", header, pos)
    credentials, pos = parse_token68(header, pos + 1, "Authorization")
    parse_end(header, pos, "Authorization")
    try:
        user_pass = base64.b64decode(credentials.encode()).decode()
    except binascii.Error:
        raise InvalidHeaderValue("Authorization", "expected base64-encoded credentials") from None
    username, sep, password = user_pass.partition(":")
    if not sep:
        raise InvalidHeaderValue("Authorization", "expected username:password credentials")
    return username, password


def build_authorization_basic(username: str, password: str) -> str:
    """
    Build an ``Authorization`` header for HTTP Basic authentication.

    The reverse of :func:`parse_authorization_basic`.

    Args:
        username: user-id; RFC 7617 section 2: it "cannot contain a colon".
        password: password.

    Returns:
        ``Basic <base64 of username:password>``.
    """
    assert ":" not in username
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    return f"Basic {credentials}"
