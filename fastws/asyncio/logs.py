"""
The logger the asyncio client gives its Sans-I/O core, so that a connection logs what websockets
10.x's asyncio client logs (``docs/api.md``, "Logging").

The core logs its own view of the connection: the state it enters (CLOSED once the TCP stream
has ended, before the asyncio layer has seen the transport close), EOF in both directions and the
size of a response body the asyncio client doesn't read. 10.x's asyncio client logs none of
these; it logs "= connection is CLOSING" before the close frame it sends, and "= connection is
CLOSED" once the TCP connection is closed (``WebSocketCommonProtocol.connection_lost``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..frames import OP_CLOSE, Frame

__all__ = ["CoreLogger"]

# Debug messages of the core that the asyncio client doesn't log.
_DROPPED = frozenset({"< EOF", "> EOF", "< [body] (%d bytes)"})

if TYPE_CHECKING:  # pragma: no cover
    _Adapter = logging.LoggerAdapter[logging.Logger]
else:
    _Adapter = logging.LoggerAdapter


class CoreLogger(_Adapter):
    """
    A :class:`logging.LoggerAdapter` for the core of an asyncio connection: it passes every
    record on, except the core's state changes and EOF records, and logs "= connection is
    CLOSING" before the first close frame sent. The core logs only when DEBUG is enabled,
    so this costs nothing otherwise.
    """

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log as :meth:`logging.LoggerAdapter.log`, with the changes above at DEBUG level."""
        if level == logging.DEBUG:
            if msg in _DROPPED:
                return
            if msg == "= connection is %s":
                if args[0] != "CONNECTING" and args[0] != "OPEN":
                    return  # CLOSING is logged below, CLOSED by connection_lost
            elif msg == "> %s" and isinstance(args[0], Frame) and args[0].opcode is OP_CLOSE:
                # The core sends a close frame only when it leaves OPEN for CLOSING.
                super().log(level, "= connection is CLOSING", **kwargs)
        super().log(level, msg, *args, **kwargs)
