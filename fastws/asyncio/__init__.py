"""The asyncio client: connect(), unix_connect(), WebSocketClientProtocol, and run()."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run"]

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T], *, debug: bool | None = None) -> T:
    """
    Run the coroutine ``main`` on uvloop when it is installed, on asyncio's loop otherwise.

    fastws never installs an event-loop policy on import; this helper is the opt-in.
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a test dependency
        return asyncio.run(main, debug=debug)
    if not hasattr(uvloop, "run"):  # pragma: no cover - uvloop < 0.18
        return asyncio.run(main, debug=debug)
    result: T = uvloop.run(main, debug=debug)
    return result
