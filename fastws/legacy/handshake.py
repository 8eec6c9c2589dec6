"""
``websockets.legacy.handshake``, client side: the handshake headers of websockets 10.x's
asyncio layer, for code that performs the opening handshake itself.

``build_request`` and ``check_response`` are here; the server's ``check_request`` and
``build_response`` are left out (fastws is a client).
"""

from __future__ import annotations

from ..client import _check_accept
from ..datastructures import Headers
from ..exceptions import InvalidUpgrade
from ..headers import parse_connection, parse_upgrade
from ..utils import generate_key

__all__ = ["build_request", "check_response"]


def build_request(headers: Headers) -> str:
    """
    Add the opening handshake headers to ``headers`` (RFC 6455 section 4.1).

    Returns:
        The ``Sec-WebSocket-Key`` value, to pass to :func:`check_response`.
    """
    key = generate_key()
    headers["Upgrade"] = "websocket"
    headers["Connection"] = "Upgrade"
    headers["Sec-WebSocket-Key"] = key
    headers["Sec-WebSocket-Version"] = "13"
    return key


def check_response(headers: Headers, key: str) -> None:
    """
    Check the headers of the server's handshake response. The status code (101) is the
    caller's to check.

    Args:
        headers: the response headers.
        key: what :func:`build_request` returned.

    Raises:
        InvalidHandshake: If the headers don't accept the upgrade (InvalidUpgrade,
            InvalidHeader or InvalidHeaderValue, with websockets 10.x's values).
    """
    connection = [option for value in headers.get_all("Connection") for option in
                  parse_connection(value)]
    if not any(option.lower() == "upgrade" for option in connection):
        # 10.x joins the Connection options with a space here (and Upgrade with ", ").
        raise InvalidUpgrade("Connection", " ".join(connection))
    upgrade = [protocol for value in headers.get_all("Upgrade") for protocol in
               parse_upgrade(value)]
    # RFC 6455 says "websocket"; like websockets, ignore case.
    if not (len(upgrade) == 1 and upgrade[0].lower() == "websocket"):
        raise InvalidUpgrade("Upgrade", ", ".join(upgrade))
    _check_accept(headers, key)
