"""
Typical websockets 10.x client programs (``tests/asyncio/programs/``), run unchanged with fastws
installed as ``websockets`` in ``sys.modules`` (restored afterwards), against local aiohttp
servers (aiohttp doesn't import websockets, so swapping the module can't affect the server).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import json
import sys
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from aiohttp import web

import fastws

from .peers import aiohttp_server

# The modules of websockets 10.4 that fastws has, under their websockets names.
WEBSOCKETS_10_MODULES = [
    "client",
    "connection",
    "datastructures",
    "exceptions",
    "extensions",
    "extensions.base",
    "extensions.permessage_deflate",
    "frames",
    "headers",
    "http",
    "http11",
    "legacy",
    "legacy.client",
    "legacy.framing",
    "legacy.handshake",
    "legacy.http",
    "legacy.protocol",
    "streams",
    "typing",
    "uri",
    "utils",
    "version",
]


@contextlib.contextmanager
def fastws_as_websockets() -> Iterator[None]:
    """
    ``websockets`` and its 10.x submodules are fastws' while the block runs; then the real
    ones are back. Submodules must be mapped too: else ``import websockets.exceptions`` would
    load fastws/exceptions.py a second time, with classes of its own.
    """
    saved = {
        name: module
        for name, module in sys.modules.items()
        if name == "websockets" or name.startswith("websockets.")
    }
    for name in saved:
        del sys.modules[name]
    sys.modules["websockets"] = fastws
    for path in WEBSOCKETS_10_MODULES:
        sys.modules[f"websockets.{path}"] = importlib.import_module(f"fastws.{path}")
    try:
        yield
    finally:
        for name in [n for n in sys.modules if n == "websockets" or n.startswith("websockets.")]:
            del sys.modules[name]
        sys.modules.update(saved)


@contextlib.contextmanager
def program(name: str) -> Iterator[ModuleType]:
    """Import ``programs/<name>.py`` with fastws as websockets; forget it afterwards."""
    qualified = f"{__package__}.programs.{name}"
    with fastws_as_websockets():
        try:
            module = importlib.import_module(qualified)
            assert module.websockets is fastws
            yield module
        finally:
            sys.modules.pop(qualified, None)


async def abandoned_iterations_closed() -> None:
    """Let the loop finalize ``async for ... in connect()`` loops left by ``return``."""
    gc.collect()
    await asyncio.sleep(0)
    closing = [
        task
        for task in asyncio.all_tasks()
        if type(task.get_coro()).__name__ == "async_generator_athrow"
    ]
    await asyncio.gather(*closing)


def test_swap_is_restored() -> None:
    """Outside the block, ``websockets`` is the real one again."""
    real = sys.modules["websockets"]
    with fastws_as_websockets():
        import websockets.exceptions  # noqa: F401 - the import system, with fastws in place

        assert sys.modules["websockets"] is fastws
        assert sys.modules["websockets.exceptions"] is fastws.exceptions
    assert sys.modules["websockets"] is real
    assert sys.modules["websockets.exceptions"] is not fastws.exceptions


# A reconnect loop ------------------------------------------------------------------------


async def test_reconnect_loop() -> None:
    """``async for websocket in connect()``: a 1011 close, then a 1000 close, then updates."""
    connections = 0

    async def feed(ws: web.WebSocketResponse) -> None:
        nonlocal connections
        connections += 1
        number = connections
        request = await ws.receive_json()
        assert request == {"op": "subscribe", "channel": "ticker"}
        if number == 1:
            for seq in (0, 1):
                await ws.send_json({"channel": "ticker", "seq": seq})
            await ws.close(code=1011, message=b"overloaded")
        elif number == 2:
            await ws.send_json({"channel": "news", "seq": -1})
            for seq in (2, 3):
                await ws.send_json({"channel": "ticker", "seq": seq})
            await ws.close(code=1000)
        else:
            for seq in range(4, 10):
                await ws.send_json({"channel": "ticker", "seq": seq})
            async for _ in ws:
                pass

    async with aiohttp_server(feed) as server:
        with program("reconnect") as reconnect:
            updates, used = await reconnect.collect(server.uri, "ticker", 6)
            await abandoned_iterations_closed()
    assert updates == [0, 1, 2, 3, 4, 5]
    assert used == 3 == connections


# A subscription with a watchdog on ws.state ------------------------------------------------


async def test_subscription_state_checks() -> None:
    """``ws.open``, ``ws.state == websockets.protocol.State.OPEN``, then CLOSED is noticed."""
    requests: list[Any] = []

    async def stream(ws: web.WebSocketResponse) -> None:
        request = await ws.receive_json()
        requests.append(request)

        async def publish() -> None:
            for seq in range(1000):
                await ws.send_json({"topic": request["args"][0], "seq": seq})
                await asyncio.sleep(0.001)

        publisher = asyncio.ensure_future(publish())
        try:
            async for message in ws:
                requests.append(json.loads(message.data))
                publisher.cancel()  # unsubscribed
        finally:
            publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await publisher

    async with aiohttp_server(stream) as server:
        with program("subscription") as subscription:
            client = subscription.Subscription(server.uri, "trades.BTC")
            updates = await client.run(5)
            assert [update["seq"] for update in updates] == [0, 1, 2, 3, 4]
            assert client.open_while_running == [True] * 5
            # The watchdog noticed the close: CLOSING or CLOSED, depending on its timing.
            State = subscription.websockets.protocol.State
            assert client.lost_state in (State.CLOSING, State.CLOSED)
            assert client.ws.state is fastws.protocol.State.CLOSED
            assert not client.is_connected()
            assert not client.ws.open and client.ws.closed
    assert requests[0] == {"op": "subscribe", "args": ["trades.BTC"]}
    assert {"op": "unsubscribe", "args": ["trades.BTC"]} in requests


# Filtering deprecation warnings by message -------------------------------------------------


async def test_filter_deprecations_by_message() -> None:
    """The filters written for 10.x's texts silence fastws' warnings; without them, they show."""
    async with aiohttp_server("echo") as server:
        with program("legacy_options") as legacy_options:
            with warnings.catch_warnings(record=True) as shown:
                warnings.simplefilter("always")
                legacy_options.silence_deprecations()
                peer, reply = await legacy_options.ping_pong(server.uri)
            assert (peer, reply) == (f"127.0.0.1:{server.port}", "hello")
            assert [str(w.message) for w in shown] == []

            with warnings.catch_warnings(record=True) as shown:
                warnings.simplefilter("always")
                await legacy_options.ping_pong(server.uri)
    assert sorted(str(w.message) for w in shown if w.category is DeprecationWarning) == [
        "don't use secure",
        "don't use secure",
        "rename timeout to close_timeout",
        "use remote_address[0] instead of host",
        "use remote_address[1] instead of port",
        "websockets.parse_uri is deprecated",
    ]
