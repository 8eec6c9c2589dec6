"""
One client process of the end-to-end benchmark (``benchmarks/e2e.py`` starts it).

    python benchmarks/e2e/client.py '{"client": "fastws", "loop": "uvloop", "port": 8765,
                                      "scenarios": [{"name": "recv_100", "kind": "recv", ...}]}'

Runs the scenarios in order on one event loop and prints one JSON line per scenario:
``{"scenario": ..., "ok": true, "count": ..., "wall": s, "cpu": s, ...}`` or
``{"scenario": ..., "ok": false, "error": "..."}``. CPU is this process's user + system time
(``getrusage(RUSAGE_SELF)``) over the measured part only (not imports, not the handshake of the
throughput scenarios); RSS is read from ``/proc/self/statm``.

Clients: fastws, websockets (new asyncio client), aiohttp, picows (callback listener: the way
picows is meant to be used) and raw (handshake, then a BufferedProtocol that counts bytes: the
ceiling). Every client hands the application each message as a ``str`` / ``bytes`` object
(picows: ``get_payload_as_utf8_text()`` / ``get_payload_as_bytes()``), except raw.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import resource
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

HOST = "127.0.0.1"
PAGE = os.sysconf("SC_PAGE_SIZE")

# Every client runs with its default settings ("fastws", "aiohttp"...). The "+tuned" variants
# ("fastws+tuned"...) are extra, labelled rows: the knobs tarasko/websocket-benchmark uses for
# websockets (no queue bound, no size limit, no keepalive), and aiohttp's equivalents.
WS_TUNED: dict[str, Any] = dict(max_queue=None, max_size=None, ping_interval=None)


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class Meter:
    """Wall and CPU time of the measured part."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.c0 = cpu_s()
        self.wall = self.cpu = 0.0

    def stop(self) -> None:
        self.wall = time.perf_counter() - self.t0
        self.cpu = cpu_s() - self.c0


def feed_payload(size: int, text: bool) -> bytes:
    from fastws.tools.feedserver import feed_payload as payload

    return payload(size, text)


def expected_message(size: int, text: bool) -> str | bytes:
    payload = feed_payload(size, text)
    return payload.decode() if text else payload


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


def feed_url(port: int, sc: dict[str, Any], *, close: bool = True) -> str:
    url = f"ws://{HOST}:{port}/feed?size={sc['size']}&count={sc['count']}&text={int(sc['text'])}"
    if sc.get("deflate"):
        url += "&deflate=1"
    if not close:
        url += "&close=0"
    return url


def echo_payload(size: int) -> bytes:
    return feed_payload(size, False)


# ----------------------------------------------------------------------------------------------
# fastws and websockets (same API shape)


class AsyncAPI:
    """fastws and websockets: connect(), recv(), send(), async for, close()."""

    name = ""

    def connect(self, url: str, deflate: bool = False) -> Any:
        raise NotImplementedError

    def extensions(self, ws: Any) -> list[Any]:
        raise NotImplementedError

    async def recv(self, port: int, sc: dict[str, Any]) -> dict[str, Any]:
        deflate = bool(sc.get("deflate"))
        async with self.connect(feed_url(port, sc), deflate) as ws:
            check(
                bool(self.extensions(ws)) == deflate, "permessage-deflate not negotiated as asked"
            )
            n = 0
            msg = None
            meter = Meter()
            async for msg in ws:  # noqa: B007 - the last one is checked
                n += 1
            meter.stop()
        check(n == sc["count"], f"received {n} messages, expected {sc['count']}")
        check(msg == expected_message(sc["size"], sc["text"]), "wrong payload")
        return dict(count=n, wall=meter.wall, cpu=meter.cpu)

    async def echo(self, port: int, sc: dict[str, Any]) -> dict[str, Any]:
        payload = echo_payload(sc["size"])
        async with self.connect(f"ws://{HOST}:{port}/echo") as ws:
            send, recv = ws.send, ws.recv
            for _ in range(sc["warmup"]):
                await send(payload)
                check(await recv() == payload, "wrong echo")
            meter = Meter()
            for _ in range(sc["count"]):
                await send(payload)
                reply = await recv()
            meter.stop()
            check(reply == payload, "wrong echo")
        return dict(count=sc["count"], wall=meter.wall, cpu=meter.cpu)

    async def send(self, port: int, sc: dict[str, Any]) -> dict[str, Any]:
        payload = echo_payload(sc["size"])
        ws = await self.connect(f"ws://{HOST}:{port}/sink")
        send = ws.send
        meter = Meter()
        for _ in range(sc["count"]):
            await send(payload)
        await ws.close()  # returns once the server's close frame came: all data arrived
        meter.stop()
        return dict(count=sc["count"], wall=meter.wall, cpu=meter.cpu)

    async def open_idle(self, url: str, msgs: int, expect: Any) -> Any:
        ws = await self.connect(url)
        for _ in range(msgs):
            msg = await ws.recv()
        check(msg == expect, "wrong payload")
        return ws

    async def close_idle(self, ws: Any) -> None:
        await ws.close()


class Fastws(AsyncAPI):
    name = "fastws"

    def __init__(self, tuned: bool = False) -> None:
        import fastws

        self.fastws = fastws
        self.kwargs = WS_TUNED if tuned else {}
        self.where = os.path.dirname(fastws.__file__)  # which tree (fastws@REV columns)

    def connect(self, url: str, deflate: bool = False) -> Any:
        # Defaults offer permessage-deflate; the feed server accepts it only with deflate=1.
        return self.fastws.connect(url, **self.kwargs)

    def extensions(self, ws: Any) -> list[Any]:
        return list(ws.extensions)


class Websockets(AsyncAPI):
    name = "websockets"

    def __init__(self, tuned: bool = False) -> None:
        from websockets.asyncio.client import connect

        self._connect = connect
        self.kwargs = WS_TUNED if tuned else {}

    def connect(self, url: str, deflate: bool = False) -> Any:
        return self._connect(url, **self.kwargs)

    def extensions(self, ws: Any) -> list[Any]:
        return list(ws.protocol.extensions)


# ----------------------------------------------------------------------------------------------
# aiohttp


class Aiohttp:
    name = "aiohttp"

    def __init__(self, tuned: bool = False) -> None:
        import aiohttp

        self.aiohttp = aiohttp
        self.session: Any = None
        # Tuned: max_msg_size=0 is no limit (like max_size=None). heartbeat is None by default.
        self.kwargs: dict[str, Any] = dict(max_msg_size=0) if tuned else {}

    async def start(self) -> None:
        self.session = self.aiohttp.ClientSession(connector=self.aiohttp.TCPConnector(limit=0))

    async def stop(self) -> None:
        await self.session.close()

    def connect(self, url: str, deflate: bool = False) -> Any:
        # aiohttp offers no permessage-deflate by default (compress=0): asked for where the
        # scenario is about compression.
        if deflate:
            return self.session.ws_connect(url, compress=15, **self.kwargs)
        return self.session.ws_connect(url, **self.kwargs)

    async def recv(self, port: int, sc: dict[str, Any]) -> dict[str, Any]:
        deflate = bool(sc.get("deflate"))
        async with self.connect(feed_url(port, sc), deflate) as ws:
            check(bool(ws.compress) == deflate, "permessage-deflate not negotiated as asked")
            n = 0
            msg = None
            meter = Meter()
            async for msg in ws:  # noqa: B007 - the last one is checked
                n += 1
            meter.stop()
        check(n == sc["count"], f"received {n} messages, expected {sc['count']}")
        check(
            msg is not None and msg.data == expected_message(sc["size"], sc["text"]),
            "wrong payload",
        )
        return dict(count=n, wall=meter.wall, cpu=meter.cpu)

    async def echo(self, port: int, sc: dict[str, Any]) -> dict[str, Any]:
        payload = echo_payload(sc["size"])
        async with self.connect(f"ws://{HOST}:{port}/echo") as ws:
            send, receive = ws.send_bytes, ws.receive
            for _ in range(sc["warmup"]):
                await send(payload)
                check((await receive()).data == payload, "wrong echo")
            meter = Meter()
            for _ in range(sc["count"]):
                await send(payload)
                reply = (await receive()).data
            meter.stop()
            check(reply == payload, "wrong echo")
        return dict(count=sc["count"], wall=meter.wall, cpu=meter.cpu)

    async def send(self, port: int, sc: dict[str, Any]) -> dict[str, Any]:
        payload = echo_payload(sc["size"])
        ws = await self.connect(f"ws://{HOST}:{port}/sink")
        send = ws.send_bytes
        meter = Meter()
        for _ in range(sc["count"]):
            await send(payload)
        await ws.close()  # waits for the server's close frame
        meter.stop()
        check(ws.close_code == 1000, f"close code {ws.close_code}")
        return dict(count=sc["count"], wall=meter.wall, cpu=meter.cpu)

    async def open_idle(self, url: str, msgs: int, expect: Any) -> Any:
        ws = await self.connect(url)
        for _ in range(msgs):
            msg = await ws.receive()
        check(msg.data == expect, "wrong payload")
        return ws

    async def close_idle(self, ws: Any) -> None:
        await ws.close()


# ----------------------------------------------------------------------------------------------
# picows


class Picows:
    name = "picows"

    def __init__(self) -> None:
        import picows

        self.picows = picows
        WSListener = picows.WSListener
        TEXT, BINARY, CLOSE = picows.WSMsgType.TEXT, picows.WSMsgType.BINARY, picows.WSMsgType.CLOSE
        BIN = picows.WSMsgType.BINARY

        class Listener(WSListener):  # type: ignore[misc, valid-type]
            """Counts messages (making each payload a str / bytes), echoes, or counts to a target."""

            def __init__(self) -> None:
                self.n = 0
                self.target = -1
                self.last: Any = None
                self.echo: bytes | None = None
                self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self.writable: asyncio.Event | None = None
                self.transport: Any = None

            def on_ws_connected(self, transport: Any) -> None:
                self.transport = transport

            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                t = frame.msg_type
                if t == TEXT:
                    self.last = frame.get_payload_as_utf8_text()
                elif t == BINARY:
                    self.last = frame.get_payload_as_bytes()
                elif t == CLOSE:
                    if not transport.is_close_frame_sent:
                        transport.send_close(frame.get_close_code())
                    transport.disconnect()
                    if not self.done.done():
                        self.done.set_result(None)
                    return
                else:
                    return
                self.n += 1
                if self.n == self.target:
                    if not self.done.done():
                        self.done.set_result(None)
                elif self.echo is not None:
                    transport.send(BIN, self.echo)

            def on_ws_disconnected(self, transport: Any) -> None:
                if not self.done.done():
                    self.done.set_result(None)

            def pause_writing(self) -> None:
                if self.writable is not None:
                    self.writable.clear()

            def resume_writing(self) -> None:
                if self.writable is not None:
                    self.writable.set()

        self.Listener = Listener

    async def connect(self, url: str) -> Any:
        _, listener = await self.picows.ws_connect(self.Listener, url)
        return listener

    async def recv(self, port: int, sc: dict[str, Any]) -> dict[str, Any]:
        listener = await self.connect(feed_url(port, sc))
        meter = Meter()
        await listener.done  # the server's close frame
        meter.stop()
        await listener.transport.wait_disconnected()
        check(listener.n == sc["count"], f"received {listener.n} messages, expected {sc['count']}")
        check(listener.last == expected_message(sc["size"], sc["text"]), "wrong payload")
        return dict(count=listener.n, wall=meter.wall, cpu=meter.cpu)

    async def echo(self, port: int, sc: dict[str, Any]) -> dict[str, Any]:
        payload = echo_payload(sc["size"])
        listener = await self.connect(f"ws://{HOST}:{port}/echo")
        loop = asyncio.get_running_loop()
        BIN = self.picows.WSMsgType.BINARY
        # Warm-up, then the measured round trips: each echo sends the next message from the
        # callback (picows' way), until the target count.
        listener.echo = payload
        listener.target = sc["warmup"]
        listener.transport.send(BIN, payload)
        await listener.done
        check(listener.last == payload, "wrong echo")
        listener.n = 0
        listener.target = sc["count"]
        listener.done = loop.create_future()
        meter = Meter()
        listener.transport.send(BIN, payload)
        await listener.done
        meter.stop()
        check(listener.n == sc["count"] and listener.last == payload, "wrong echo")
        listener.transport.send_close(self.picows.WSCloseCode.OK)
        listener.transport.disconnect()
        await listener.transport.wait_disconnected()
        return dict(count=sc["count"], wall=meter.wall, cpu=meter.cpu)

    async def send(self, port: int, sc: dict[str, Any]) -> dict[str, Any]:
        payload = echo_payload(sc["size"])
        listener = await self.connect(f"ws://{HOST}:{port}/sink")
        writable = listener.writable = asyncio.Event()
        writable.set()
        send = listener.transport.send
        BIN = self.picows.WSMsgType.BINARY
        meter = Meter()
        for _ in range(sc["count"]):
            send(BIN, payload)
            if not writable.is_set():
                await writable.wait()
        listener.transport.send_close(self.picows.WSCloseCode.OK)
        await listener.done  # the server's close frame (or the disconnection)
        meter.stop()
        await listener.transport.wait_disconnected()
        return dict(count=sc["count"], wall=meter.wall, cpu=meter.cpu)

    async def open_idle(self, url: str, msgs: int, expect: Any) -> Any:
        listener = await self.connect(url)
        listener.target = msgs
        if listener.n < msgs:
            await listener.done
        check(listener.n == msgs and listener.last == expect, "wrong payload")
        return listener

    async def close_idle(self, listener: Any) -> None:
        listener.transport.send_close(self.picows.WSCloseCode.OK)
        listener.transport.disconnect()
        await listener.transport.wait_disconnected()


# ----------------------------------------------------------------------------------------------
# raw: the ceiling


_RAW_BUF = memoryview(bytearray(256 * 1024))  # shared by every raw connection: bytes are dropped


def _ws_header(b0: int, n: int, mask: bool) -> bytes:
    m = 0x80 if mask else 0
    if n < 126:
        return bytes((b0, m | n))
    if n < 65536:
        return bytes((b0, m | 126)) + n.to_bytes(2, "big")
    return bytes((b0, m | 127)) + n.to_bytes(8, "big")


def _masked(b0: int, payload: bytes) -> bytes:
    # Key 0: the payload is the masked payload; the ceiling doesn't mask.
    return _ws_header(b0, len(payload), True) + b"\x00\x00\x00\x00" + payload


RAW_CLOSE = _masked(0x88, b"\x03\xe8")


class RawProtocol(asyncio.BufferedProtocol):
    """Handshake, then count bytes into a shared buffer; optionally echo a pre-built frame."""

    __slots__ = (
        "transport",
        "hs",
        "opened",
        "received",
        "target",
        "waiter",
        "reply_len",
        "frame",
        "rounds",
        "writable",
        "lost",
    )

    def __init__(self, path: str) -> None:
        self.hs: bytearray | None = bytearray()
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.received = 0
        self.target = -1
        self.waiter: asyncio.Future[None] | None = None
        self.reply_len = 0  # echo: bytes of one echoed frame
        self.frame = b""
        self.rounds = 0
        self.writable: asyncio.Event | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: Any = path  # the path until connection_made

    def connection_made(self, transport: Any) -> None:
        path, self.transport = self.transport, transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def get_buffer(self, sizehint: int) -> memoryview:
        return _RAW_BUF

    def buffer_updated(self, nbytes: int) -> None:
        hs = self.hs
        if hs is not None:
            hs += _RAW_BUF[:nbytes]
            end = hs.find(b"\r\n\r\n")
            if end < 0:
                return
            if not hs.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(bytes(hs[:end]).decode(errors="replace")))
                return
            nbytes = len(hs) - end - 4
            self.hs = None
            self.opened.set_result(None)
        self.received += nbytes
        if self.reply_len:
            # Echo: one round trip done per reply_len bytes; send the next.
            while self.received >= self.reply_len:
                self.received -= self.reply_len
                self.rounds += 1
                if self.rounds == self.target:
                    self.reply_len = 0
                    self.received = 0
                    if self.waiter is not None and not self.waiter.done():
                        self.waiter.set_result(None)
                    return
                self.transport.write(self.next_frame(nbytes))
        elif (
            self.received >= self.target >= 0 and self.waiter is not None and not self.waiter.done()
        ):
            self.waiter.set_result(None)

    def start_echo(self, payload: bytes) -> None:
        """Echo: prepare the request frame for ``payload``."""
        self.frame = _masked(0x82, payload)

    def next_frame(self, nbytes: int) -> bytes | bytearray:
        """Echo: the frame to send once a reply arrived (``nbytes``: the last read's size)."""
        return self.frame

    def check_echo(self, payload: bytes) -> None:
        """Echo: after the last round trip (the raw client doesn't look at replies)."""

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("connection lost"))

    def pause_writing(self) -> None:
        if self.writable is not None:
            self.writable.clear()

    def resume_writing(self) -> None:
        if self.writable is not None:
            self.writable.set()

    def wait_for(self, target: int) -> asyncio.Future[None]:
        self.target = target
        self.waiter = asyncio.get_running_loop().create_future()
        if self.received >= target:
            self.waiter.set_result(None)
        return self.waiter


class Raw:
    name = "raw"
    protocol = RawProtocol

    async def connect(self, port: int, path: str) -> RawProtocol:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(lambda: self.protocol(path), HOST, port)
        await proto.opened
        return proto

    async def recv(self, port: int, sc: dict[str, Any]) -> dict[str, Any]:
        frame_len = len(_ws_header(0, sc["size"], False)) + sc["size"]
        proto = await self.connect(port, feed_url(port, sc).split(str(port), 1)[1])
        total = sc["count"] * frame_len + 4  # + the close frame
        meter = Meter()
        await proto.wait_for(total)
        meter.stop()
        check(proto.received == total, f"received {proto.received} bytes, expected {total}")
        proto.transport.write(RAW_CLOSE)
        await proto.lost
        return dict(count=sc["count"], wall=meter.wall, cpu=meter.cpu)

    async def echo(self, port: int, sc: dict[str, Any]) -> dict[str, Any]:
        payload = echo_payload(sc["size"])
        proto = await self.connect(port, "/echo")
        proto.start_echo(payload)
        reply_len = len(_ws_header(0x82, len(payload), False)) + len(payload)
        for target in (sc["warmup"], sc["count"]):
            proto.rounds = 0
            proto.reply_len = reply_len
            waiter = proto.wait_for(target)
            meter = Meter()
            proto.transport.write(proto.frame)
            await waiter
            meter.stop()
        check(proto.rounds == sc["count"], "wrong echo count")
        proto.check_echo(payload)
        proto.transport.write(RAW_CLOSE)
        await proto.lost
        return dict(count=sc["count"], wall=meter.wall, cpu=meter.cpu)

    async def send(self, port: int, sc: dict[str, Any]) -> dict[str, Any]:
        frame = _masked(0x82, echo_payload(sc["size"]))
        per = max(1, 256 * 1024 // len(frame))
        chunk = frame * per
        proto = await self.connect(port, "/sink")
        writable = proto.writable = asyncio.Event()
        writable.set()
        write = proto.transport.write
        left = sc["count"]
        meter = Meter()
        while left:
            k = min(per, left)
            write(chunk if k == per else frame * k)
            left -= k
            if not writable.is_set():
                await writable.wait()
        write(RAW_CLOSE)
        await proto.wait_for(4)  # the server's close frame
        meter.stop()
        await proto.lost
        return dict(count=sc["count"], wall=meter.wall, cpu=meter.cpu)

    async def open_idle(self, port: int, url: str, msgs: int, size: int) -> RawProtocol:
        proto = await self.connect(port, url.split(str(port), 1)[1])
        await proto.wait_for(msgs * (len(_ws_header(0, size, False)) + size))
        return proto

    async def close_idle(self, proto: RawProtocol) -> None:
        proto.transport.write(RAW_CLOSE)
        await proto.lost


class FloorProtocol(RawProtocol):
    """Echo with the least framing work: each reply's payload as bytes, a fresh masked frame."""

    __slots__ = ("payload", "header", "last", "masked_frame", "random_mask_key")

    def start_echo(self, payload: bytes) -> None:
        from fastws.mask import masked_frame, random_mask_key

        super().start_echo(payload)  # the first request
        self.masked_frame, self.random_mask_key = masked_frame, random_mask_key
        self.payload = payload
        self.header = _ws_header(0x82, len(payload), True)

    def check_echo(self, payload: bytes) -> None:
        check(self.last == payload, "wrong echo")

    def next_frame(self, nbytes: int) -> bytes | bytearray:
        # The reply (one in flight, small: one read) is at the start of the read buffer.
        start = 2 if _RAW_BUF[1] & 0x7F < 126 else 4
        self.last = bytes(_RAW_BUF[start:nbytes])
        return self.masked_frame(self.header, self.random_mask_key(), self.payload)


class Floor(Raw):
    """
    The least Python work per message of any pure-Python client, without an API around it.

    Send: a fresh masking key, ``fastws.mask.masked_frame`` (the fastest pure-Python masking
    measured, benchmarks/bench_mask.py), and one ``transport.write`` per 64 KiB of frames
    (fastws' default ``write_limit``). Echo: in the read callback, the reply's payload cut out
    as ``bytes`` and the next request masked afresh, then written (no futures, no tasks).
    A client's CPU per message can't go below this.
    """

    name = "floor"
    protocol = FloorProtocol

    async def send(self, port: int, sc: dict[str, Any]) -> dict[str, Any]:
        from fastws.mask import masked_frame, random_mask_key

        payload = echo_payload(sc["size"])
        header = _ws_header(0x82, len(payload), True)
        per_frame = len(header) + 4 + len(payload)
        proto = await self.connect(port, "/sink")
        writable = proto.writable = asyncio.Event()
        writable.set()
        write = proto.transport.write
        frames: list[bytes | bytearray] = []
        append = frames.append
        queued = 0
        meter = Meter()
        for _ in range(sc["count"]):
            append(masked_frame(header, random_mask_key(), payload))
            queued += per_frame
            if queued > 65536:
                write(b"".join(frames))
                frames.clear()
                queued = 0
                if not writable.is_set():
                    await writable.wait()
        write(b"".join(frames))
        write(RAW_CLOSE)
        await proto.wait_for(4)  # the server's close frame
        meter.stop()
        await proto.lost
        return dict(count=sc["count"], wall=meter.wall, cpu=meter.cpu)


# ----------------------------------------------------------------------------------------------
# Many connections


async def conns(client: Any, port: int, sc: dict[str, Any]) -> dict[str, Any]:
    """Open sc["conns"] connections (sc["workers"] at a time), each receiving sc["msgs"] messages."""
    n, msgs, size = sc["conns"], sc["msgs"], sc["size"]
    url = feed_url(port, dict(size=size, count=msgs, text=True), close=False)
    expect = expected_message(size, True)

    async def open_one() -> Any:
        if isinstance(client, Raw):
            return await client.open_idle(port, url, msgs, size)
        return await client.open_idle(url, msgs, expect)

    # Warm-up: first-use costs (lazy imports, caches) don't count per connection.
    warm = [await open_one() for _ in range(20)]
    await asyncio.gather(*(client.close_idle(h) for h in warm))
    del warm
    await asyncio.sleep(0.2)
    gc.collect()
    rss0 = rss_bytes()
    handles: list[Any] = []
    errors: list[str] = []
    todo = iter(range(n))

    async def worker() -> None:
        for _ in todo:
            if errors:
                return
            try:
                handles.append(await open_one())
            except Exception as exc:  # report the first failure: how far we got, and why
                errors.append(f"{type(exc).__name__}: {exc}")
                return

    meter = Meter()
    try:
        await asyncio.wait_for(
            asyncio.gather(*(worker() for _ in range(sc["workers"]))), sc["phase_timeout"]
        )
    except asyncio.TimeoutError:
        errors.append(f"timeout after {sc['phase_timeout']} s")
    meter.stop()
    gc.collect()
    rss1 = rss_bytes()
    reached = len(handles)
    result = dict(
        count=reached * msgs,
        conns=reached,
        wall=meter.wall,
        cpu=meter.cpu,
        rss_per_conn=(rss1 - rss0) / reached if reached else None,
        rss_before=rss0,
        rss_after=rss1,
        nofile=resource.getrlimit(resource.RLIMIT_NOFILE),
    )
    if errors:
        result["error_note"] = errors[0]
    if reached < n:
        result["ok"] = False
        result["error"] = f"reached {reached} of {n} connections: {errors[0] if errors else '?'}"
    return result


# ----------------------------------------------------------------------------------------------


CLIENTS: dict[str, Callable[[], Any]] = {
    "fastws": Fastws,
    "websockets": Websockets,
    "aiohttp": Aiohttp,
    "picows": Picows,
    "raw": Raw,
    "fastws+tuned": lambda: Fastws(tuned=True),
    "websockets+tuned": lambda: Websockets(tuned=True),
    "aiohttp+tuned": lambda: Aiohttp(tuned=True),
    "floor": Floor,
}


async def run_all(spec: dict[str, Any]) -> None:
    # "fastws@REV": fastws as imported from the tree e2e.py put first on PYTHONPATH.
    client = CLIENTS[spec["client"].split("@")[0]]()
    port = spec["port"]
    if hasattr(client, "start"):
        await client.start()
    try:
        for sc in spec["scenarios"]:
            out: dict[str, Any] = dict(
                scenario=sc["name"], client=spec["client"], loop=spec["loop"]
            )
            if hasattr(client, "where"):
                out["module"] = client.where
            try:
                kind = sc["kind"]
                if kind == "conns":
                    res = await conns(client, port, sc)
                else:
                    method: Callable[..., Awaitable[dict[str, Any]]] = getattr(client, kind)
                    res = await asyncio.wait_for(method(port, sc), sc["timeout"])
                out.update(ok=True)
                out.update(res)
            except BaseException as exc:  # noqa: BLE001 - reported to the harness
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                out.update(
                    ok=False,
                    error=f"{type(exc).__name__}: {exc}".strip(),
                    traceback=traceback.format_exc(limit=6),
                )
            out["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            print(json.dumps(out), flush=True)
    finally:
        if hasattr(client, "stop"):
            await client.stop()


def main() -> None:
    spec = json.loads(sys.argv[1])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if spec["loop"] == "uvloop":
        import uvloop

        uvloop.run(run_all(spec))
    else:
        asyncio.run(run_all(spec))
    sys.stdout.flush()
    # Skip closing thousands of idle connections and the interpreter's teardown.
    os._exit(0)


if __name__ == "__main__":
    main()
