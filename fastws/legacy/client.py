"""
``websockets.legacy.client``: the asyncio client, as defined in :mod:`fastws.asyncio.client`.

``connect``, ``unix_connect``, ``WebSocketClientProtocol`` (and the class ``Connect`` behind
``connect``) are the same objects as ``fastws.connect``, ``fastws.client.connect``...
"""

from __future__ import annotations

from ..asyncio.client import Connect as Connect
from ..asyncio.client import connect, unix_connect
from ..asyncio.protocol import WebSocketClientProtocol

__all__ = ["connect", "unix_connect", "WebSocketClientProtocol"]
