"""What the ``fastws`` subcommands share: the error type, error messages, URL and loop checks."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

from ..asyncio import run as fastws_run
from ..exceptions import InvalidHandshake, InvalidStatus, InvalidStatusCode, InvalidURI
from ..uri import WebSocketURI, parse_uri

__all__ = ["CliError", "describe_error", "check_url", "resolve_loop", "run_on"]

T = TypeVar("T")

LOOPS = ("auto", "asyncio", "uvloop")


class CliError(Exception):
    """
    A failure reported as one line on stderr, with a non-zero exit status.

    Args:
        message: the line (without the ``fastws: error:`` prefix).
        status: the exit status (1: the run failed, 2: bad usage).
    """

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def check_url(url: str) -> WebSocketURI:
    """
    Parse a ws:// or wss:// URL.

    Args:
        url: what the user gave.

    Raises:
        CliError: With status 2, if the URL isn't a valid WebSocket URI.
    """
    try:
        return parse_uri(url)
    except InvalidURI as exc:
        raise CliError(f"invalid URL: {exc}", status=2) from None


def describe_error(exc: BaseException, url: str | None = None) -> str:
    """
    A one-line description of why connecting or talking to a server failed.

    Args:
        exc: the exception.
        url: the URL that was being opened, to name the host in network errors.

    Returns:
        For example ``server rejected WebSocket connection: HTTP 403`` or
        ``cannot connect to 127.0.0.1:1: Connect call failed ('127.0.0.1', 1)``.
    """
    where = ""
    if url is not None:
        try:
            wsuri = parse_uri(url)
        except InvalidURI:  # pragma: no cover - URLs are checked before connecting
            pass
        else:
            where = f" to {wsuri.host}:{wsuri.port}"
    if isinstance(exc, (InvalidStatusCode, InvalidStatus)):
        return str(exc)
    if isinstance(exc, InvalidHandshake):
        return f"opening handshake failed: {exc}"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return f"timed out connecting{where}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host{where.replace(' to', '')}: {exc.strerror or exc}"
    if isinstance(exc, OSError):
        # asyncio: "[Errno 111] Connect call failed ('127.0.0.1', 1)"; keep the readable part.
        text = str(exc)
        if exc.errno is not None and text.startswith(f"[Errno {exc.errno}] "):
            text = text[len(f"[Errno {exc.errno}] ") :]
        return f"cannot connect{where}: {text or type(exc).__name__}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def resolve_loop(name: str) -> str:
    """
    Turn a ``--loop`` choice into the event loop that will run.

    Args:
        name: ``auto`` (uvloop when installed), ``asyncio`` or ``uvloop``.

    Returns:
        ``asyncio`` or ``uvloop``.

    Raises:
        CliError: With status 2, if uvloop is asked for but not installed.
    """
    has_uvloop = importlib.util.find_spec("uvloop") is not None
    if name == "uvloop" and not has_uvloop:  # pragma: no cover - uvloop is a test dependency
        raise CliError("--loop uvloop: uvloop is not installed (pip install uvloop)", status=2)
    if name == "auto":
        return "uvloop" if has_uvloop else "asyncio"
    return name


def run_on(loop: str, main: Coroutine[Any, Any, T]) -> T:
    """
    Run ``main`` to completion on a new event loop.

    Args:
        loop: ``asyncio`` or ``uvloop`` (as returned by :func:`resolve_loop`).
        main: the coroutine.
    """
    if loop == "asyncio":
        return asyncio.run(main)
    return fastws_run(main)
