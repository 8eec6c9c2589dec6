"""
A seeded WebSocket feed server that misbehaves at random, for the soak test (``README.md``).

Raw asyncio (the server side of RFC 6455 written here, a few dozen lines) so that it can break
the rules exactly where a broken feed does. Per connection:

* Handshake: ``GET /feed?slot=N``. During a *503 window* (a few seconds, now and then) and at
  random (``random_503``) it answers ``503 Service Unavailable`` and closes. Otherwise ``101``
  with an ``X-Session`` header: the session id.
* After the client's subscribe message: a steady trickle of small JSON-ish text messages, and
  now and then a *burst* of 20-150 binary messages of 50-100 KB, every one numbered and
  checksummed (``common.header``). Now and then a frame is written in two parts with a *stall*
  of ``stall_min``-``stall_max`` seconds between them (the middle of a frame: no pong can pass).
* Pings are answered with a pong, at once or *late* (``late_pong_prob``: by
  0.2-0.7 x ping_timeout; ``too_late_pong_prob``: by 1.1-1.6 x ping_timeout). Each pong's
  ping-received and pong-written times are logged: the referee tells false keepalive timeouts
  from deserved ones with them. The server writes only while its transport is below 64 KiB, so a
  pong isn't stuck behind megabytes of its own buffer.
* After ``session_mean`` seconds (exponential), the session's *fate*: ``abort`` (TCP closed
  without a close frame, ``transport.abort()``), ``reset`` (``SO_LINGER`` 0, then close: RST),
  ``close`` (close frame 1000, wait for the echo, close TCP), ``close_keep_open`` (close frame
  1001, TCP kept open for up to ``hold_max`` s), ``blackhole`` (silence: no data, no pong, TCP
  kept open; only with keepalive).

Every event is a JSON line in the log (``--log``), with ``t`` (CLOCK_MONOTONIC, shared with the
consumer), ``sid`` (session) and ``slot`` (the client's connection number). The randomness of
a session comes from ``Random(f"{seed}/{sid}")``: the same seed gives the same sessions.

Command line: ``python -m tests.soak.chaos_server --params params.json --log server.jsonl``
prints ``PORT <n>`` on stdout, then serves on 127.0.0.1 until SIGTERM/SIGINT, its stdin closes,
or ``--max-seconds`` pass.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import random
import signal
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any, TextIO, cast
from urllib.parse import parse_qsl, urlsplit

from .common import Params, header, now

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_HIGH_WATER = 65536
_FATES = ("abort", "reset", "close", "close_keep_open", "blackhole")


def _frame_header(b0: int, length: int) -> bytes:
    if length < 126:
        return bytes((b0, length))
    if length < 65536:
        return struct.pack("!BBH", b0, 126, length)
    return struct.pack("!BBQ", b0, 127, length)


def _frame(opcode: int, payload: bytes) -> bytes:
    return _frame_header(0x80 | opcode, len(payload)) + payload


def _unmask(data: bytes, key: bytes) -> bytes:
    n = len(data)
    if not n:
        return b""
    mask = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ mask).to_bytes(n, "big")


class Log:
    """JSON lines, buffered, flushed every second and at exit."""

    def __init__(self, path: Path) -> None:
        self.file: TextIO = path.open("w")

    def __call__(self, ev: str, **fields: Any) -> None:
        fields["ev"] = ev
        fields.setdefault("t", now())
        self.file.write(json.dumps(fields, separators=(",", ":")) + "\n")

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class ChaosServer:
    def __init__(self, params: Params, log: Log) -> None:
        self.p = params
        self.log = log
        self.rng = random.Random(f"{params.seed}/server")
        self.next_sid = 0
        self.in_window = False
        self.conns: set[Conn] = set()
        # Random bodies of the bursts: slices of one incompressible blob.
        self.blob = random.Random(params.seed).randbytes(params.big_max + 65536)
        self.counts: dict[str, int] = {}

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    async def windows(self) -> None:
        """503 windows: every handshake gets a 503 while one is open."""
        p = self.p
        while True:
            await asyncio.sleep(self.rng.expovariate(1 / p.window_every))
            length = self.rng.uniform(p.window_min, p.window_max)
            self.in_window = True
            self.log("window", length=length)
            self.count("503_window")
            await asyncio.sleep(length)
            self.in_window = False
            self.log("window_end")

    async def lag_monitor(self) -> None:
        """The server's own event-loop lag: a slow server would make pongs late by itself."""
        worst, since = 0.0, now()
        while True:
            before = now()
            await asyncio.sleep(0.25)
            worst = max(worst, now() - before - 0.25)
            if now() - since >= 10:
                self.log("lag", max=round(worst, 4), conns=len(self.conns))
                self.log.flush()
                worst, since = 0.0, now()

    def shutdown(self) -> None:
        for conn in list(self.conns):
            conn.finish("shutdown")
            if conn.transport is not None and not conn.transport.is_closing():
                conn.transport.abort()
        self.log("shutdown", counts=self.counts, cpu=time.process_time())
        self.log.flush()


class Conn(asyncio.Protocol):
    def __init__(self, server: ChaosServer) -> None:
        self.server = server
        self.p = server.p
        self.log = server.log
        self.transport: asyncio.Transport | None = None
        self.rbuf = bytearray()
        self.state = "http"  # http, open, closed
        self.slot = -1
        self.sid = -1
        self.rng = random.Random()
        self.seq = 0  # data messages completely written
        self.bytes = 0
        self.task: asyncio.Task[None] | None = None
        self.writable: asyncio.Future[None] | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.mid_frame = False
        self.silent = False  # blackhole: no pong, no data
        self.close_sent = False
        self.client_close: asyncio.Future[tuple[int, str]] = (
            asyncio.get_running_loop().create_future()
        )
        self.pending_pongs: list[tuple[bytes, dict[str, Any]]] = []
        self.pings: list[dict[str, Any]] = []  # not answered yet
        self.fate = ""
        self.ended = False

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=_HIGH_WATER)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Keep the kernel's buffer modest too: what sits ahead of a pong is bounded.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 262144)
        self.server.conns.add(self)

    def data_received(self, data: bytes) -> None:
        self.rbuf += data
        if self.state == "http":
            end = self.rbuf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.rbuf) > 65536:
                    self._abort()
                return
            request = bytes(self.rbuf[: end + 4])
            del self.rbuf[: end + 4]
            self.handshake(request)
        if self.state == "open":
            self.parse()

    def eof_received(self) -> bool:
        self.log("client_eof", sid=self.sid, slot=self.slot)
        # close_keep_open and blackhole ignore the client's FIN (the TCP stays open).
        return self.fate in ("close_keep_open", "blackhole")

    def connection_lost(self, exc: Exception | None) -> None:
        self.finish("lost" if exc is None else f"lost:{type(exc).__name__}")
        self.server.conns.discard(self)
        if not self.lost.done():
            self.lost.set_result(None)
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def pause_writing(self) -> None:
        self.writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)
        self.writable = None

    # handshake

    def handshake(self, request: bytes) -> None:
        assert self.transport is not None
        lines = request.decode("latin-1").split("\r\n")
        try:
            _, target, _ = lines[0].split(" ", 2)
            query = dict(parse_qsl(urlsplit(target).query))
            self.slot = int(query.get("slot", "-1"))
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            key = headers["sec-websocket-key"]
        except (ValueError, KeyError):
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            self.transport.close()
            self.state = "closed"
            return
        server = self.server
        why = "window" if server.in_window else None
        if why is None and server.rng.random() < self.p.random_503:
            why = "random"
        if why is not None:
            server.count(f"503_{why}_handshakes")
            self.log("h503", slot=self.slot, why=why)
            self.transport.write(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n"
            )
            self.transport.close()
            self.state = "closed"
            return
        self.sid = sid = server.next_sid
        server.next_sid += 1
        self.rng = random.Random(f"{self.p.seed}/{sid}")
        accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest())
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n"
            b"X-Session: %d\r\n\r\n" % sid
        )
        self.state = "open"
        server.count("sessions")
        self.log("h101", slot=self.slot, sid=sid)

    # client frames

    def parse(self) -> None:
        buf = self.rbuf
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            length, pos = b1 & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                (length,) = struct.unpack_from("!H", buf, 2)
                pos = 4
            elif length == 127:
                if len(buf) < 10:
                    return
                (length,) = struct.unpack_from("!Q", buf, 2)
                pos = 10
            key = b""
            if b1 & 0x80:
                key = bytes(buf[pos : pos + 4])
                pos += 4
            if len(buf) < pos + length:
                return
            payload = bytes(buf[pos : pos + length])
            del buf[: pos + length]
            if key:
                payload = _unmask(payload, key)
            self.on_frame(b0 & 0x0F, payload)
            if self.state != "open":
                return

    def on_frame(self, opcode: int, payload: bytes) -> None:
        if opcode == 0x1 and self.task is None:
            self.log("subscribe", sid=self.sid, slot=self.slot, msg=payload[:120].decode())
            self.task = asyncio.get_running_loop().create_task(self.session())
        elif opcode == 0x9:
            self.on_ping(payload)
        elif opcode == 0x8:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            reason = payload[2:].decode("utf-8", "replace")
            self.log("client_close", sid=self.sid, slot=self.slot, code=code, reason=reason,
                     close_sent=self.close_sent)
            if not self.client_close.done():
                self.client_close.set_result((code, reason))
            if not self.close_sent and not self.silent and self.task is None:
                self.reply_close(code, reason)

    # pings

    def on_ping(self, payload: bytes) -> None:
        p = self.p
        rec: dict[str, Any] = {"t_ping": now(), "planned": 0.0}
        self.pings.append(rec)
        if self.silent or self.close_sent:
            return
        draw = self.rng.random()
        if draw < p.too_late_pong_prob:
            rec["planned"] = self.rng.uniform(1.1, 1.6) * p.ping_timeout
            rec["kind"] = "too_late"
        elif draw < p.too_late_pong_prob + p.late_pong_prob:
            rec["planned"] = self.rng.uniform(0.2, 0.7) * p.ping_timeout
            rec["kind"] = "late"
        if rec["planned"]:
            asyncio.get_running_loop().call_later(rec["planned"], self.send_pong, payload, rec)
        else:
            self.send_pong(payload, rec)

    def send_pong(self, payload: bytes, rec: dict[str, Any]) -> None:
        if self.state != "open" or self.silent or self.close_sent or self.ended:
            return
        if self.mid_frame:  # no control frame inside a data frame: after it
            self.pending_pongs.append((payload, rec))
            return
        self.write(_frame(0xA, payload))
        rec["t_pong"] = now()
        with contextlib.suppress(ValueError):
            self.pings.remove(rec)
        self.log("pong", sid=self.sid, slot=self.slot, **rec)

    def flush_pongs(self) -> None:
        pending, self.pending_pongs = self.pending_pongs, []
        for payload, rec in pending:
            self.send_pong(payload, rec)

    # the session

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def wait_writable(self, deadline: float) -> bool:
        while self.writable is not None and not self.lost.done():
            left = deadline - now()
            if left <= 0:
                return False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.writable), left)
        return not self.lost.done()

    async def send_data(self, message: bytes, text: bool, stall_due: bool) -> bool:
        """Write one data message; split by a stall if one is due. False if the TCP is gone."""
        frame = _frame_header(0x81 if text else 0x82, len(message)) + message
        if stall_due:
            p = self.p
            length = self.rng.uniform(p.stall_min, p.stall_max)
            cut = self.rng.randrange(1, len(frame))
            self.server.count("stalls")
            self.log("stall", sid=self.sid, slot=self.slot, seq=self.seq, length=length,
                     offset=cut, size=len(frame))
            self.mid_frame = True
            self.write(frame[:cut])
            await asyncio.sleep(length)
            self.write(frame[cut:])
            self.mid_frame = False
            self.log("stall_end", sid=self.sid, slot=self.slot, seq=self.seq)
        else:
            self.write(frame)
        if self.lost.done():
            return False
        self.seq += 1
        self.bytes += len(message)
        if self.pending_pongs:
            self.flush_pongs()
        return True

    async def feed(self, deadline: float) -> None:
        p, rng = self.p, self.rng
        sid = self.sid
        t = now()
        next_burst = t + rng.expovariate(1 / p.burst_every)
        next_stall = t + rng.expovariate(1 / p.stall_every)
        blob = self.server.blob
        while not self.client_close.done():
            t = now()
            if t >= deadline or not await self.wait_writable(deadline):
                return
            if t >= next_burst:
                count = rng.randint(p.burst_min, p.burst_max)
                self.server.count("bursts")
                self.log("burst", sid=sid, slot=self.slot, first=self.seq, count=count)
                for _ in range(count):
                    size = rng.randint(p.big_min, p.big_max)
                    offset = rng.randrange(0, len(blob) - size)
                    body = blob[offset : offset + size]
                    stall = now() >= next_stall
                    if stall:
                        next_stall = now() + rng.expovariate(1 / p.stall_every)
                    if not await self.send_data(header(sid, self.seq, body) + body, False, stall):
                        return
                    if self.client_close.done() or not await self.wait_writable(deadline):
                        return
                next_burst = now() + rng.expovariate(1 / p.burst_every)
                continue
            pad = "x" * rng.randint(8, 200)
            body = (
                f'{{"type":"trade","px":{rng.uniform(10, 1000):.2f},"qty":{rng.randint(1, 500)},'
                f'"ts":{t:.3f},"pad":"{pad}"}}'
            ).encode()
            stall = t >= next_stall
            if stall:
                next_stall = now() + rng.expovariate(1 / p.stall_every)
            if not await self.send_data(header(sid, self.seq, body) + body, True, stall):
                return
            await asyncio.sleep(min(rng.uniform(p.trickle_min, p.trickle_max),
                                    max(0.0, deadline - now())))

    def pick_fate(self) -> str:
        p = self.p
        weights = [p.fate_abort, p.fate_reset, p.fate_close, p.fate_close_keep_open,
                   p.fate_blackhole if p.keepalive else 0.0]
        return self.rng.choices(_FATES, weights)[0]

    async def session(self) -> None:
        p = self.p
        lifetime = min(self.rng.expovariate(1 / p.session_mean), 4 * p.session_mean)
        fate = self.pick_fate()
        try:
            await self.feed(now() + lifetime)
        except asyncio.CancelledError:
            return
        if self.lost.done():
            return
        if self.client_close.done():
            # The client closed first (keepalive timeout, or its shutdown): echo and close.
            code, reason = self.client_close.result()
            self.reply_close(code, reason)
            return
        self.fate = fate
        self.server.count(f"fate_{fate}")
        assert self.transport is not None
        self.log("fate", sid=self.sid, slot=self.slot, fate=fate, sent=self.seq)
        if fate == "abort":
            self.transport.abort()
        elif fate == "reset":
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()
        elif fate == "close":
            self.send_close(1000, "bye")
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self.client_close), 10)
            if not self.lost.done():
                self.transport.close()
        elif fate == "close_keep_open":
            self.send_close(1001, "going away")
            await self.hold()
        else:
            self.silent = True
            await self.hold()

    async def hold(self) -> None:
        """Keep the TCP open (and ignore the client's FIN) until the client closes, or later."""
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self.lost), self.p.hold_max)
        if not self.lost.done():
            self.log("hold_expired", sid=self.sid, slot=self.slot)
            self._abort()

    def send_close(self, code: int, reason: str) -> None:
        self.close_sent = True
        self.write(_frame(0x8, struct.pack("!H", code) + reason.encode()))
        self.log("close_sent", sid=self.sid, slot=self.slot, code=code, sent=self.seq)

    def reply_close(self, code: int, reason: str) -> None:
        if self.close_sent or self.lost.done():
            return
        self.close_sent = True
        echo = b"" if code == 1005 else struct.pack("!H", code) + reason.encode()[:123]
        self.write(_frame(0x8, echo))
        self.log("close_echo", sid=self.sid, slot=self.slot, code=code, sent=self.seq)
        assert self.transport is not None
        self.transport.close()

    def finish(self, how: str) -> None:
        """Log the end of the connection (once): its unanswered pings, what it sent."""
        if self.ended:
            return
        self.ended = True
        if self.sid < 0:
            return
        for rec in self.pings:
            self.log("pong", sid=self.sid, slot=self.slot, t_pong=None, **rec)
        self.pings = []
        self.log("end", sid=self.sid, slot=self.slot, how=how, fate=self.fate, sent=self.seq,
                 bytes=self.bytes)

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def serve(params: Params, log: Log, max_seconds: float) -> None:
    loop = asyncio.get_running_loop()
    server = ChaosServer(params, log)
    listener = await loop.create_server(lambda: Conn(server), "127.0.0.1", 0, backlog=4096)
    port = listener.sockets[0].getsockname()[1]
    log("listening", port=port, params=params.to_json())
    print(f"PORT {port}", flush=True)
    stop = loop.create_future()

    def request_stop(*_: Any) -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop)

    def stdin_closed() -> None:
        if not sys.stdin.buffer.read1(4096):
            loop.remove_reader(sys.stdin.fileno())
            request_stop()

    with contextlib.suppress(OSError, ValueError):
        loop.add_reader(sys.stdin.fileno(), stdin_closed)
    tasks = [loop.create_task(server.windows()), loop.create_task(server.lag_monitor())]
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop, max_seconds)
    listener.close()
    server.shutdown()
    for task in tasks:
        task.cancel()
    await asyncio.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, required=True, help="params.json of the run")
    parser.add_argument("--log", type=Path, required=True, help="JSON-lines event log")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="stop by itself after this long (default: the run + 10 min)")
    parser.add_argument("--uvloop", action="store_true", help="serve on uvloop")
    args = parser.parse_args(argv)
    params = Params.from_json(json.loads(args.params.read_text()))
    max_seconds = args.max_seconds or params.duration + 600
    log = Log(args.log)
    try:
        if args.uvloop:
            import uvloop

            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(serve(params, log, max_seconds))
        else:
            asyncio.run(serve(params, log, max_seconds))
    finally:
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
