"""Type aliases used in fastws signatures (the websockets 10.x names)."""

from __future__ import annotations

import logging
from typing import NewType, Union

__all__ = [
    "BytesLike",
    "Data",
    "LoggerLike",
    "Origin",
    "Subprotocol",
    "ExtensionName",
    "ExtensionParameter",
    "ExtensionHeader",
    "ConnectionOption",
    "UpgradeProtocol",
]

BytesLike = bytes | bytearray | memoryview
"""Binary payloads accepted by send methods."""

Data = str | bytes
"""A WebSocket message: str for a Text frame, bytes for a Binary frame."""

# Union, not |: LoggerAdapter is subscriptable at run time only from Python 3.11.
LoggerLike = Union[logging.Logger, "logging.LoggerAdapter[logging.Logger]"]  # noqa: UP007
"""Anything usable where a logging.Logger is expected."""

Origin = NewType("Origin", str)
"""Value of an Origin header."""

Subprotocol = NewType("Subprotocol", str)
"""A subprotocol named in a Sec-WebSocket-Protocol header."""

ExtensionName = NewType("ExtensionName", str)
"""Name of a WebSocket extension."""

ExtensionParameter = tuple[str, str | None]
"""One parameter of an extension: name and optional value."""

ExtensionHeader = tuple[ExtensionName, list[ExtensionParameter]]
"""One extension in a Sec-WebSocket-Extensions header."""

ConnectionOption = NewType("ConnectionOption", str)
"""A token of a Connection header."""

UpgradeProtocol = NewType("UpgradeProtocol", str)
"""A token of an Upgrade header."""
