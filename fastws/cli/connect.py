"""
``fastws connect URL``: an interactive client.

Every line read on stdin is sent as a text message; received messages print on stdout as they
arrive, prefixed with ``< `` (binary ones as hex). End of input (Ctrl-D, or the end of piped input)
closes the connection with code 1000, once replies have stopped arriving (0.2 s of quiet,
at most 5 s). Status lines (connected, closed with code and reason) go to
stderr, so stdout carries only what the server sent.
"""

from __future__ import annotations

import asyncio
import threading
from typing import IO, Any

from ..asyncio.client import connect
from ..asyncio.protocol import WebSocketClientProtocol
from ..exceptions import ConnectionClosed
from ..frames import CLOSE_CODES, OK_CLOSE_CODES
from .common import CliError, describe_error, run_on

__all__ = ["run_connect"]

QUIET = 0.2
"""Seconds without a message after which, once input has ended, the connection closes."""
LINGER_MAX = 5.0
"""Longest wait for replies after the end of input."""


def _start_reader(stdin: IO[str], loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    """
    Read stdin line by line in a daemon thread (portable, works for TTYs, pipes and files).

    Returns:
        A queue of lines without their line ending; None marks the end of input.
    """
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        try:
            while True:
                line = stdin.readline()
                if not line:
                    break
                loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\r\n"))
            loop.call_soon_threadsafe(lines.put_nowait, None)
        except (RuntimeError, OSError, ValueError):  # loop closed, stdin closed
            pass

    threading.Thread(target=read, name="fastws-stdin", daemon=True).start()
    return lines


async def _print_messages(
    ws: WebSocketClientProtocol, stdout: IO[str], activity: asyncio.Event
) -> None:
    """Print every received message until the connection closes."""
    async for message in ws:
        if isinstance(message, str):
            stdout.write(f"< {message}\n")
        else:
            stdout.write(f"< (binary, {len(message)} bytes) {message.hex()}\n")
        stdout.flush()
        activity.set()


async def _linger(printer: asyncio.Future[None], activity: asyncio.Event) -> None:
    """
    After the end of input, wait until no message arrived for :data:`QUIET` seconds (at most
    :data:`LINGER_MAX`): replies to the last lines, still on their way, get printed.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LINGER_MAX
    while True:
        activity.clear()
        waiter: asyncio.Future[Any] = asyncio.ensure_future(activity.wait())
        timeout = max(0.0, min(QUIET, deadline - loop.time()))
        await asyncio.wait({printer, waiter}, timeout=timeout, return_when="FIRST_COMPLETED")
        waiter.cancel()
        if printer.done() or not activity.is_set():  # closed, or quiet
            return


def _explain(code: int | None) -> str:
    """A close code's meaning, e.g. ``OK`` for 1000."""
    if code is None:  # pragma: no cover - a closed connection always has a code
        return "none"
    if code in CLOSE_CODES:
        return CLOSE_CODES[code]
    if 3000 <= code < 4000:
        return "registered"
    return "private use" if 4000 <= code < 5000 else "unknown"


async def _session(
    url: str, compression: bool, stdin: IO[str], stdout: IO[str], stderr: IO[str]
) -> int:
    loop = asyncio.get_running_loop()
    try:
        ws = await connect(url, compression="deflate" if compression else None)
    except Exception as exc:
        raise CliError(describe_error(exc, url)) from None
    print(f"connected to {url} (Ctrl-D to close)", file=stderr, flush=True)
    lines = _start_reader(stdin, loop)
    activity = asyncio.Event()
    printer = asyncio.ensure_future(_print_messages(ws, stdout, activity))
    try:
        while True:
            get = asyncio.ensure_future(lines.get())
            await asyncio.wait({get, printer}, return_when=asyncio.FIRST_COMPLETED)
            if not get.done():  # the server closed the connection
                get.cancel()
                break
            line = get.result()
            if line is None:  # end of input
                await _linger(printer, activity)
                break
            try:
                await ws.send(line)
            except ConnectionClosed:
                break
    finally:
        await ws.close()  # waits for the closing handshake
        try:
            await printer  # prints what arrived before the close frame
        except ConnectionClosed:  # not OK: reported from the close code below
            pass
    code = ws.close_code
    text = f"connection closed: code {code} ({_explain(code)})"
    if ws.close_reason:
        text += f", reason: {ws.close_reason}"
    if code not in OK_CLOSE_CODES:
        raise CliError(text)
    print(text, file=stderr, flush=True)
    return 0


def run_connect(
    url: str, *, compression: bool, loop: str, stdin: IO[str], stdout: IO[str], stderr: IO[str]
) -> int:
    """
    Run the interactive client; the body of ``fastws connect``.

    Args:
        url: the ws:// or wss:// URL.
        compression: offer permessage-deflate.
        loop: ``asyncio`` or ``uvloop``.
        stdin: lines to send.
        stdout: where received messages print.
        stderr: where status lines print.

    Returns:
        0 once the connection closed normally (1000 or 1001).

    Raises:
        CliError: If the connection can't be opened or closes abnormally.
    """
    return run_on(loop, _session(url, compression, stdin, stdout, stderr))
