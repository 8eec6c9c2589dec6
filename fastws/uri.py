"""
Parsing of ``ws://`` and ``wss://`` URIs (RFC 6455 section 3).
"""

from __future__ import annotations

import dataclasses
import urllib.parse

from .exceptions import InvalidURI

__all__ = ["WebSocketURI", "parse_uri"]


@dataclasses.dataclass
class WebSocketURI:
    """
    The parts of a WebSocket URI that a client needs.

    Attributes:
        secure: True for ``wss``, False for ``ws``.
        host: host name, lower-cased; IDNA-encoded if the input was an IRI.
        port: port, set to the scheme's default (80 or 443) when the URI has none.
        path: path component, possibly empty.
        query: query component without the ``?``, possibly empty.
        username: user name from the URI's user information, or None.
        password: password from the URI's user information, or None.
    """

    secure: bool
    host: str
    port: int
    path: str
    query: str
    username: str | None
    password: str | None

    @property
    def resource_name(self) -> str:
        """
        The request target of the opening handshake.

        RFC 6455 section 3: "/" when the path is empty, then "?" and the query when there is one.

        Returns:
            The path (or ``/``) followed by ``?query`` if the query isn't empty.
        """
        resource = self.path or "/"
        if self.query:
            resource = f"{resource}?{self.query}"
        return resource

    @property
    def user_info(self) -> tuple[str, str] | None:
        """
        The credentials for HTTP Basic authentication.

        Returns:
            ``(username, password)``, or None if the URI has no user information.
        """
        if self.username is None:
            return None
        assert self.password is not None  # parse_uri() rejects a user without a password
        return self.username, self.password


# Characters with a syntactic role in a URI (gen-delims and sub-delims, RFC 3987 section 2.2):
# they must survive the conversion of an IRI to a URI unchanged.
DELIMS = ":/?#[]@!$&'()*+,;="


def parse_uri(uri: str) -> WebSocketURI:
    """
    Parse and check a WebSocket URI.

    An IRI (a URI with non-ASCII characters) is converted to a URI: the host name is
    IDNA-encoded and the other components are percent-encoded (RFC 3987 section 3.1).

    Args:
        uri: the URI, ``ws://`` or ``wss://``.

    Returns:
        The parsed URI.

    Raises:
        InvalidURI: If the scheme isn't ws or wss, the host is missing, the URI has a
            fragment, or it names a user without a password.
        ValueError: If :func:`urllib.parse.urlparse` rejects the port or an IPv6 literal.
        UnicodeError: If a non-ASCII host name can't be IDNA-encoded.
    """
    parsed = urllib.parse.urlparse(uri)
    # RFC 6455 section 3: ws-URI = "ws:" "//" host [ ":" port ] path [ "?" query ]
    if parsed.scheme not in ("ws", "wss"):
        raise InvalidURI(uri, "scheme isn't ws or wss")
    host = parsed.hostname
    if host is None:
        raise InvalidURI(uri, "hostname isn't provided")
    # RFC 6455 section 3: "Fragment identifiers are meaningless in the context of WebSocket URIs
    # and MUST NOT be used on these URIs."
    if parsed.fragment != "":
        raise InvalidURI(uri, "fragment identifier is meaningless")

    secure = parsed.scheme == "wss"
    port = parsed.port or (443 if secure else 80)
    path, query = parsed.path, parsed.query
    username, password = parsed.username, parsed.password
    # urlparse() accepts "user@host"; Basic authentication needs both halves.
    if username is not None and password is None:
        raise InvalidURI(uri, "username provided without password")

    if not uri.isascii():
        host = host.encode("idna").decode()
        path = urllib.parse.quote(path, safe=DELIMS)
        query = urllib.parse.quote(query, safe=DELIMS)
        if username is not None and password is not None:
            username = urllib.parse.quote(username, safe=DELIMS)
            password = urllib.parse.quote(password, safe=DELIMS)

    return WebSocketURI(secure, host, port, path, query, username, password)
