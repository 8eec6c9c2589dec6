"""
Bytes per idle connection at 10,000 connections: RSS delta and its attribution.

    python profiling/idle_conns.py --all                      # the matrix below, one process each
    python profiling/idle_conns.py --client fastws --mode idle [--uvloop] [--trace tracemalloc]

One run = one client process (fresh RSS baseline) and one feed server process (not measured).
Steps: raise RLIMIT_NOFILE (both processes), open and close 20 warm-up connections (lazy imports,
caches), ``gc.collect()``, baseline RSS; open ``--conns`` connections with 256 concurrent
openers; ``--mode feed100``: each reads the 100 messages of 100 B that
``/feed?size=100&count=100&close=0`` sends, then all stay open and silent; ``--mode idle``:
``/idle`` (handshake, then silence). After 1 s and ``gc.collect()``: RSS delta / connections.
Then everything is closed and the RSS and traced memory left are reported (leak check).

``--trace tracemalloc`` (1 frame) and ``--trace memray`` (``trace_python_allocators``, no native
frames) attribute the bytes still allocated with the connections open, by source line and by
component (fastws, asyncio, the event loop's C code, ...); their RSS figures include the
tracer's own overhead, so RSS per connection comes from the untraced run. ``--objects`` also
prints the objects one connection holds alone (reachable from it and not from another
connection), by type: the readable breakdown of the traced bytes.

Clients: fastws (``compression=None``, defaults otherwise: keepalive timer every 20 s), aiohttp
(one ``ClientSession``, ``TCPConnector(limit=0)``, ``compress=0``), websockets (the
``websockets.asyncio.client`` of websockets >= 13, ``compression=None``), picows (a
``WSListener``), raw (an ``asyncio.Protocol`` that sends the upgrade request and counts bytes:
the floor for an asyncio connection).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ctypes
import gc
import json
import subprocess
import sys
import time
import tracemalloc
import types
from typing import Any

from common import feed_server, provenance, raise_nofile, rss, rss_of, run

OPENERS = 256
CLIENTS = ("fastws", "aiohttp", "websockets", "picows", "raw")
MODES = ("idle", "feed100")
FEED_MESSAGES = 100


# Clients: open(url, mode) -> handle; close(handle); root(handle) -> objects of one connection.


class FastwsClient:
    kwargs: dict[str, Any] = {}

    async def start(self) -> None:
        import fastws

        self.fastws = fastws

    async def open(self, url: str, mode: str) -> Any:
        ws = await self.fastws.connect(url, compression=None, **self.kwargs)
        if mode == "feed100":
            for _ in range(FEED_MESSAGES):
                await ws.recv()
        return ws

    async def close(self, ws: Any) -> None:
        await ws.close()

    async def stop(self) -> None:
        pass


class AiohttpClient:
    async def start(self) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def open(self, url: str, mode: str) -> Any:
        ws = await self.session.ws_connect(url, compress=0)
        if mode == "feed100":
            for _ in range(FEED_MESSAGES):
                await ws.receive()
        return ws

    async def close(self, ws: Any) -> None:
        await ws.close()

    async def stop(self) -> None:
        await self.session.close()


class WebsocketsClient:
    async def start(self) -> None:
        from websockets.asyncio.client import connect

        self.connect = connect

    async def open(self, url: str, mode: str) -> Any:
        ws = await self.connect(url, compression=None)
        if mode == "feed100":
            for _ in range(FEED_MESSAGES):
                await ws.recv()
        return ws

    async def close(self, ws: Any) -> None:
        await ws.close()

    async def stop(self) -> None:
        pass


class PicowsClient:
    async def start(self) -> None:
        import picows

        self.picows = picows

        class Listener(picows.WSListener):
            def __init__(self) -> None:
                self.count = 0
                self.done: asyncio.Future[None] | None = None

            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                if frame.msg_type == picows.WSMsgType.CLOSE:
                    transport.disconnect()
                    return
                self.count += 1
                if self.count == FEED_MESSAGES and self.done is not None:
                    self.done.set_result(None)

        self.listener = Listener

    async def open(self, url: str, mode: str) -> Any:
        listener_factory = self.listener
        transport, listener = await self.picows.ws_connect(listener_factory, url)
        if mode == "feed100" and listener.count < FEED_MESSAGES:
            listener.done = asyncio.get_running_loop().create_future()
            await listener.done
            listener.done = None
        return transport, listener

    async def close(self, handle: Any) -> None:
        transport, _listener = handle
        transport.send_close()
        transport.disconnect()
        await transport.wait_disconnected()

    async def stop(self) -> None:
        pass


class RawProtocol(asyncio.Protocol):
    """The floor: a TCP connection that sends the upgrade request and counts bytes."""

    def __init__(self, request: bytes, expect: int) -> None:
        self.request = request
        self.expect = expect  # bytes of frames after the 101 response
        self.head: bytearray | None = bytearray()
        self.received = 0
        self.done = asyncio.get_running_loop().create_future()
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.head is not None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            self.received = len(self.head) - end - 4
            self.head = None
        else:
            self.received += len(data)
        if self.received >= self.expect and self.done is not None and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class RawClient:
    async def start(self) -> None:
        pass

    async def open(self, url: str, mode: str) -> Any:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        expect = FEED_MESSAGES * 102 if mode == "feed100" else 0
        loop = asyncio.get_running_loop()
        _transport, protocol = await loop.create_connection(
            lambda: RawProtocol(request, expect), parts.hostname, parts.port
        )
        await protocol.done
        protocol.done = None
        return protocol

    async def close(self, protocol: Any) -> None:
        protocol.transport.close()
        await protocol.lost

    async def stop(self) -> None:
        pass


FACTORIES = {
    "fastws": FastwsClient,
    "aiohttp": AiohttpClient,
    "websockets": WebsocketsClient,
    "picows": PicowsClient,
    "raw": RawClient,
}


# Attribution.


def component(filename: str) -> str:
    """Which part of the program a traced line belongs to."""
    for name in ("fastws", "aiohttp", "websockets", "picows", "uvloop", "yarl", "multidict"):
        if f"/{name}/" in filename:
            return name
    if "/asyncio/" in filename or filename.endswith("selectors.py"):
        return "asyncio"
    if filename.endswith("idle_conns.py"):
        return "harness"
    return "other"


def short(filename: str) -> str:
    for marker in ("/site-packages/", "/python3.11/", "/work/main/"):
        if marker in filename:
            return filename.rsplit(marker, 1)[1]
    return filename


def breakdown(rows: list[tuple[str, int, int, int]], conns: int, top: int) -> dict[str, Any]:
    """(filename, lineno, bytes, blocks) rows -> per-connection totals by component, top lines."""
    by_component: collections.Counter[str] = collections.Counter()
    for filename, _lineno, size, _blocks in rows:
        by_component[component(filename)] += size
    rows = sorted(rows, key=lambda r: -r[2])
    lines = [
        f"{size / conns:8.1f} B {blocks / conns:6.2f} blk  {short(f)}:{n}"
        for f, n, size, blocks in rows[:top]
    ]
    return {
        "traced_per_conn": round(sum(by_component.values()) / conns, 1),
        "by_component": {k: round(v / conns, 1) for k, v in by_component.most_common()},
        "top_lines": lines,
    }


def tracemalloc_rows(
    start: tracemalloc.Snapshot, end: tracemalloc.Snapshot
) -> list[tuple[str, int, int, int]]:
    filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
    stats = end.filter_traces(filters).compare_to(start.filter_traces(filters), "lineno")
    return [
        (s.traceback[0].filename, s.traceback[0].lineno, s.size_diff, s.count_diff) for s in stats
    ]


def memray_rows(path: str) -> list[tuple[str, int, int, int]]:
    import memray

    agg: dict[tuple[str, int], list[int]] = collections.defaultdict(lambda: [0, 0])
    reader = memray.FileReader(path)
    for record in reader.get_leaked_allocation_records(merge_threads=True):
        trace = record.stack_trace(1)
        key = (trace[0][1], trace[0][2]) if trace else ("<C, no Python frame>", 0)
        agg[key][0] += record.size
        agg[key][1] += record.n_allocations
    return [(f, n, size, blocks) for (f, n), (size, blocks) in agg.items()]


_SKIP_TYPES = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.CodeType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
)


def reachable(roots: list[Any], stop: set[int]) -> dict[int, Any]:
    """Objects reachable from ``roots`` (via gc referents), not crossing ``stop`` or code/types."""
    seen: dict[int, Any] = {}
    todo = list(roots)
    while todo:
        obj = todo.pop()
        key = id(obj)
        if key in seen or key in stop or isinstance(obj, _SKIP_TYPES):
            continue
        seen[key] = obj
        todo.extend(gc.get_referents(obj))
    return seen


def own_objects(a: list[Any], b: list[Any], stop: set[int]) -> list[tuple[str, int, int]]:
    """Objects reachable from connection ``a`` and not from connection ``b``, by type."""
    mine = reachable(a, stop)
    other = reachable(b, stop)
    by_type: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for key, obj in mine.items():
        if key in other:
            continue
        name = type(obj).__module__ + "." + type(obj).__qualname__
        by_type[name][0] += 1
        by_type[name][1] += sys.getsizeof(obj)
    return sorted(((t, n, s) for t, (n, s) in by_type.items()), key=lambda r: -r[2])


def roots_of(client: str, handle: Any, loop: asyncio.AbstractEventLoop) -> list[Any]:
    """The objects a connection is made of, including the selector's entry on asyncio."""
    if client == "picows":
        roots = list(handle)
        transport = handle[0].underlying_transport
    elif client == "raw":
        roots = [handle]
        transport = handle.transport
    elif client == "aiohttp":
        roots = [handle]
        transport = handle._conn.transport if handle._conn is not None else None
    elif client == "websockets":
        roots = [handle]
        transport = handle.transport
    else:
        roots = [handle]
        transport = handle.transport
    selector = getattr(loop, "_selector", None)
    if selector is not None and transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                roots.append(selector.get_key(sock.fileno()))
            except KeyError:
                pass
    return roots


# One run.


async def measure(args: argparse.Namespace, port: int, server_pid: int) -> dict[str, Any]:
    client = FACTORIES[args.client]()
    await client.start()
    loop = asyncio.get_running_loop()
    if args.mode == "idle":
        url = f"ws://127.0.0.1:{port}/idle"
    else:
        url = f"ws://127.0.0.1:{port}/feed?size=100&count={FEED_MESSAGES}&close=0"

    async def open_many(n: int) -> tuple[list[Any], int]:
        handles: list[Any] = []
        errors = 0
        todo = iter(range(n))

        async def opener() -> None:
            nonlocal errors
            for _ in todo:
                try:
                    handles.append(await asyncio.wait_for(client.open(url, args.mode), 60))
                except (OSError, asyncio.TimeoutError, Exception):
                    errors += 1

        await asyncio.gather(*(opener() for _ in range(min(OPENERS, n))))
        return handles, errors

    async def close_many(handles: list[Any]) -> None:
        todo = iter(handles)

        async def closer() -> None:
            for handle in todo:
                try:
                    await asyncio.wait_for(client.close(handle), 30)
                except (OSError, asyncio.TimeoutError, Exception):
                    pass

        await asyncio.gather(*(closer() for _ in range(min(OPENERS, max(len(handles), 1)))))

    warm, _ = await open_many(20)
    await close_many(warm)
    del warm
    await asyncio.sleep(0.2)
    gc.collect()
    result: dict[str, Any] = {}
    tracker = None
    if args.trace == "tracemalloc":
        tracemalloc.start(1)
        snap0 = tracemalloc.take_snapshot()
    elif args.trace == "memray":
        import memray

        tracker = memray.Tracker(
            destination=memray.FileDestination(args.memray_file, overwrite=True),
            native_traces=False,
            trace_python_allocators=True,
            file_format=memray.FileFormat.ALL_ALLOCATIONS,
        )
        tracker.__enter__()
    rss0 = rss()
    server0 = rss_of(server_pid)
    t0 = time.perf_counter()
    handles, errors = await open_many(args.conns)
    elapsed = time.perf_counter() - t0
    await asyncio.sleep(1.0)
    gc.collect()
    rss1 = rss()
    n = len(handles)
    result.update(
        open=n,
        errors=errors,
        connects_per_s=round(n / elapsed),
        rss_per_conn=round((rss1 - rss0) / max(n, 1)),
        rss_delta_mib=round((rss1 - rss0) / 2**20, 1),
        server_rss_per_conn=round((rss_of(server_pid) - server0) / max(n, 1)),
    )
    if args.client == "fastws":
        # Receive rings still holding an array (0: released, see docs/design.md).
        rings = collections.Counter(ws.connection.reader.capacity for ws in handles)
        result["ring_capacity_histogram"] = dict(sorted(rings.items()))
    if args.trace == "tracemalloc":
        snap1 = tracemalloc.take_snapshot()
        result["tracemalloc"] = breakdown(tracemalloc_rows(snap0, snap1), n, args.top)
        del snap1
    elif tracker is not None:
        tracker.__exit__(None, None, None)
        result["memray"] = breakdown(memray_rows(args.memray_file), n, args.top)
    if args.objects and n >= 2:
        stop = {id(loop), id(client), id(handles)}
        if args.client == "aiohttp":
            stop |= {id(client.session), id(client.session.connector)}
        mine = roots_of(args.client, handles[n // 2], loop)
        other = roots_of(args.client, handles[n // 2 + 1], loop)
        rows = own_objects(mine, other, stop)
        total = sum(size for _t, _n, size in rows)
        result["objects_total"] = total
        result["objects"] = [f"{size:6d} B {count:3d} x {name}" for name, count, size in rows]
    await close_many(handles)
    del handles
    await client.stop()
    await asyncio.sleep(0.5)
    gc.collect()
    result["rss_left_after_close_per_conn"] = round((rss() - rss0) / max(n, 1))
    # What stays is the allocators' retention (pymalloc arenas with a live block, glibc's heap
    # not trimmed), not live objects: see traced_left_after_close with --trace tracemalloc.
    ctypes.CDLL(None).malloc_trim(0)
    result["rss_left_after_trim_per_conn"] = round((rss() - rss0) / max(n, 1))
    if args.trace == "tracemalloc":
        snap2 = tracemalloc.take_snapshot()
        left = tracemalloc_rows(snap0, snap2)
        result["traced_left_after_close_per_conn"] = round(sum(r[2] for r in left) / max(n, 1), 1)
        result["traced_left_top"] = [
            f"{size:9d} B {blocks:6d} blk  {short(f)}:{line}"
            for f, line, size, blocks in sorted(left, key=lambda r: -r[2])[:5]
        ]
        tracemalloc.stop()
    return result


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    raise_nofile()
    with feed_server(uvloop=args.server_uvloop) as (port, pid):
        result = run(measure(args, port, pid), args.uvloop)
    head = {
        "client": args.client,
        "mode": args.mode,
        "loop": "uvloop" if args.uvloop else "asyncio",
        "conns": args.conns,
        "trace": args.trace,
        "options": "e2e" if args.e2e_options else "defaults",
    }
    return {**head, **result}


def run_all(args: argparse.Namespace) -> int:
    """Every client x mode x loop, untraced, one subprocess each; prints a markdown table."""
    rows = []
    for uvloop in (True, False):
        for mode in MODES:
            for name in args.clients.split(","):
                cmd = [sys.executable, __file__, "--client", name, "--mode", mode, "--json"]
                cmd += ["--conns", str(args.conns)]
                if uvloop:
                    cmd.append("--uvloop")
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
                if proc.returncode:
                    print(f"{name} {mode}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                    continue
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
    print(f"{args.conns} connections; {provenance()}")
    print(
        "| loop | mode | client | open | RSS / conn | connects/s | RSS left after close / conn"
        " | after malloc_trim |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['loop']} | {r['mode']} | {r['client']} | {r['open']} | "
            f"{r['rss_per_conn'] / 1024:.2f} KiB | {r['connects_per_s']} | "
            f"{r['rss_left_after_close_per_conn'] / 1024:.2f} KiB | "
            f"{r['rss_left_after_trim_per_conn'] / 1024:.2f} KiB |"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conns", type=int, default=10_000)
    parser.add_argument("--client", choices=CLIENTS, default="fastws")
    parser.add_argument("--mode", choices=MODES, default="idle")
    parser.add_argument("--uvloop", action="store_true", help="client on uvloop")
    parser.add_argument("--server-uvloop", action="store_true", help="server on uvloop")
    parser.add_argument("--trace", choices=("none", "tracemalloc", "memray"), default="none")
    parser.add_argument("--memray-file", default="/tmp/fastws-idle.bin")
    parser.add_argument("--objects", action="store_true", help="one connection's objects by type")
    parser.add_argument("--top", type=int, default=15, help="lines shown")
    parser.add_argument(
        "--e2e-options",
        action="store_true",
        help="fastws with benchmarks/e2e.py's options: max_queue=None, max_size=None, "
        "ping_interval=None (default: fastws' defaults)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON line")
    parser.add_argument("--all", action="store_true", help="the whole matrix, untraced")
    parser.add_argument("--clients", default=",".join(CLIENTS), help="for --all")
    args = parser.parse_args()
    if args.all:
        return run_all(args)
    if args.e2e_options:
        FastwsClient.kwargs = dict(max_queue=None, max_size=None, ping_interval=None)
    result = run_one(args)
    if args.json:
        print(json.dumps(result))
        return 0
    print(provenance())
    for key, value in result.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                if isinstance(v, list):
                    print(f"  {k}:")
                    for line in v:
                        print(f"    {line}")
                else:
                    print(f"  {k}: {v}")
        elif isinstance(value, list):
            print(f"{key}:")
            for line in value:
                print(f"  {line}")
        else:
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
