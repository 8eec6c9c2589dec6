"""
``websockets.legacy.protocol``, which websockets 10.x also exposes as ``websockets.protocol``:
:class:`WebSocketCommonProtocol`, the connection :class:`State` and :func:`broadcast`.

``websockets.protocol.State.OPEN`` is what libraries compare ``ws.state`` with.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..asyncio.protocol import WebSocketCommonProtocol
from ..connection import State as State
from ..frames import OP_TEXT, prepare_data
from ..typing import Data

__all__ = ["WebSocketCommonProtocol", "broadcast"]


def broadcast(websockets: Iterable[WebSocketCommonProtocol], message: Data) -> None:
    """
    Send ``message`` to every open connection of ``websockets``, without waiting.

    A str goes as a text frame, a bytes-like object as a binary frame. As in websockets 10.x,
    there is no backpressure (a slow connection's write buffer grows) and connections that
    aren't OPEN are skipped silently.

    Args:
        websockets: the connections.
        message: the message; not an iterable (no fragmentation).

    Raises:
        RuntimeError: If a connection is sending a fragmented message; the connections before
            it in ``websockets`` already got the message.
        TypeError: If ``message`` is neither str nor bytes-like.
    """
    if not isinstance(message, (str, bytes, bytearray, memoryview)):
        raise TypeError("data must be str or bytes-like")
    opcode, data = prepare_data(message)
    for websocket in websockets:
        if websocket.state is not State.OPEN:
            continue
        if websocket._fragmented_waiter is not None:
            raise RuntimeError("busy sending a fragmented message")
        connection = websocket.connection
        if opcode == OP_TEXT:
            connection.send_text(data)
        else:
            connection.send_binary(data)
        websocket._schedule_write(len(data))
