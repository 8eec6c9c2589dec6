"""
Ceiling of ``fastws bench``'s embedded server, next to a compiled server on the same machine.

Runs ``python -m fastws bench URL ...`` (the command line, as a user would) against each server,
started here as a subprocess on 127.0.0.1, a fresh one per run, and reads the server's CPU time
(user + system, all its processes) from ``/proc/<pid>/stat`` around the run. Repeats every
(server, case) pair, interleaved, and prints the medians as a Markdown table::

    python3 benchmarks/server_ceiling.py                       # everything, 3 repeats, ~15 min
    python3 benchmarks/server_ceiling.py --cases echo-1,echo-1000 --servers feed,picows -r 1
    python3 benchmarks/server_ceiling.py --micro --against /tmp/feedserver-before.py

Servers (``--servers``):

``feed``
    ``fastws.tools.feedserver`` as ``EmbeddedServer()`` starts it: uvloop when installed, the C
    unmasking of the websockets package when installed.
``feed-x2``
    The same, two processes on one port (``EmbeddedServer(processes=2)``, ``SO_REUSEPORT``).
``feed-asyncio``
    The same on asyncio (``EmbeddedServer(uvloop=False)``).
``feed-pure``
    asyncio and fastws' pure-Python unmasking: what ``pip install fastws`` alone gets (no uvloop,
    no websockets; the import of ``websockets.speedups`` is blocked).
``picows``
    A picows server (Cython, on uvloop) written below: ``/echo`` sends each frame back, ``/feed``
    writes the same pre-built frames as the feed server, ``/sink`` discards.
``embedded``
    ``fastws bench`` with no URL: its own embedded server (no server CPU figure: the client
    starts and stops it).

Linux only (``/proc``). Internal: ``--serve KIND`` runs one server and prints ``PORT <n>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

CASES: dict[str, list[str]] = {
    "echo-1": ["-m", "echo", "-c", "1"],
    "echo-1000": ["-m", "echo", "-c", "1000"],
    "echo-1000-p2": ["-m", "echo", "-p", "2", "-c", "1000"],
    "recv-1": ["-m", "recv", "-c", "1"],
    "recv-1000": ["-m", "recv", "-c", "1000"],
    "recv-1000-p2": ["-m", "recv", "-p", "2", "-c", "1000"],
}
SERVERS = ("feed", "feed-x2", "feed-asyncio", "feed-pure", "picows", "embedded")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# The picows server.


def serve_picows() -> None:
    """Run the picows server on uvloop; print ``PORT <n>``; serve until stdin closes."""
    import picows
    import uvloop

    from fastws.tools.feedserver import CHUNK_BYTES, _feed_frame, _frames

    data_types = (picows.WSMsgType.TEXT, picows.WSMsgType.BINARY, picows.WSMsgType.CONTINUATION)

    class Listener(picows.WSListener):  # type: ignore[misc]
        def __init__(self, path: str | bytes) -> None:
            url = urlsplit(path.decode() if isinstance(path, bytes) else path)
            query = dict(parse_qsl(url.query))
            self.mode = url.path
            frame = _feed_frame(int(query.get("size", "100")), query.get("text", "1") == "1", 0)
            self.per_chunk = max(1, CHUNK_BYTES // len(frame))
            self.chunk = _frames(frame, self.per_chunk)
            self.frame = frame
            self.remaining = int(query.get("count", "0")) or -1
            self.close_after = query.get("close", "1") == "1"
            self.paused = False
            self.transport: Any = None

        def on_ws_connected(self, transport: Any) -> None:
            self.transport = transport
            if self.mode == "/feed":
                self.pump()

        def pause_writing(self) -> None:
            self.paused = True

        def resume_writing(self) -> None:
            self.paused = False
            if self.mode == "/feed" and self.remaining:
                self.pump()

        def pump(self) -> None:
            # The feed server's /feed: batches of pre-built frames, 16 writes per loop turn.
            transport = self.transport
            if transport is None or transport.is_disconnected:
                return
            write = transport.underlying_transport.write
            for _ in range(16):
                if self.paused or not self.remaining:
                    return
                if 0 < self.remaining <= self.per_chunk:
                    write(_frames(self.frame, self.remaining))
                    self.remaining = 0
                    if self.close_after:
                        transport.send_close(picows.WSCloseCode.OK)
                    return
                write(self.chunk)
                if self.remaining > 0:
                    self.remaining -= self.per_chunk
            asyncio.get_running_loop().call_soon(self.pump)

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type in data_types:
                if self.mode == "/echo":
                    payload = frame.get_payload_as_memoryview()
                    transport.send(frame.msg_type, payload, frame.fin, frame.rsv1)
            elif frame.msg_type == picows.WSMsgType.PING:
                transport.send_pong(frame.get_payload_as_bytes())
            elif frame.msg_type == picows.WSMsgType.CLOSE:
                self.remaining = 0
                if not transport.is_close_frame_sent:
                    transport.send_close(frame.get_close_code())
                transport.disconnect()

    async def main() -> None:
        server = await picows.ws_create_server(
            lambda request: Listener(request.path), "127.0.0.1", 0, enable_auto_pong=False
        )
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)
        server.close()

    uvloop.run(main())


def serve_feed_pure() -> None:
    """Run the feed server on asyncio with fastws' pure-Python unmasking."""
    sys.modules["websockets.speedups"] = None  # type: ignore[assignment]  # import -> ImportError
    from fastws.tools import feedserver

    assert feedserver._apply_mask.__module__ == "fastws.mask"
    sys.exit(feedserver.main(["--loop", "asyncio"]))


# The Python work per message, in process.


def micro(against: str | None, repeats: int = 7, number: int = 100_000) -> str:
    """
    Time ``FeedProtocol.data_received`` per frame (a stub transport, one frame per call).

    Each case runs with the C unmasking of websockets (when installed) and with fastws' pure
    Python one; ``against`` names another copy of ``feedserver.py`` (say the previous commit's,
    from ``git show``) timed in turns with this one. Returns a Markdown table of the minimums.
    """
    import importlib.util

    from fastws.mask import apply_mask as py_mask
    from fastws.tools import feedserver

    modules = {"this tree": feedserver}
    if against:
        spec = importlib.util.spec_from_file_location("fastws.tools._feedserver_against", against)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules = {against: module, "this tree": feedserver}
    c_mask = feedserver._apply_mask

    class Transport:
        def write(self, data: bytes) -> None:
            pass

        def close(self) -> None:
            pass

    def masked(b0: int, payload: bytes) -> bytes:
        key = b"\x11\x22\x33\x44"
        n = len(payload)
        head = bytes((b0, 0x80 | n)) if n < 126 else bytes((b0, 0xFE)) + n.to_bytes(2, "big")
        return head + key + py_mask(payload, key)

    def request(path: str) -> bytes:
        return (
            f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()

    cases = [("/echo", 100), ("/echo", 1024), ("/sink", 100)]
    best: dict[tuple[str, int, str, str], float] = {}
    for _ in range(repeats):
        for path, size in cases:
            frame = masked(0x81, b"x" * size)
            for unmask in ("C", "pure Python"):
                if unmask == "C" and c_mask is py_mask:
                    continue
                for name, module in modules.items():
                    saved = module._apply_mask
                    module._apply_mask = c_mask if unmask == "C" else py_mask
                    try:
                        protocol = module.FeedProtocol()
                        protocol.connection_made(Transport())
                        protocol.data_received(request(path))
                        data_received = protocol.data_received
                        start = time.perf_counter()
                        for _ in range(number):
                            data_received(frame)
                        elapsed = (time.perf_counter() - start) / number * 1e9
                    finally:
                        module._apply_mask = saved
                    key = (path, size, unmask, name)
                    best[key] = min(best.get(key, elapsed), elapsed)
    lines = [
        "| path | payload | unmasking | feedserver | ns per frame |",
        "|---|---:|---|---|---:|",
    ]
    for (path, size, unmask, name), ns in best.items():
        lines.append(f"| {path} | {size} B | {unmask} | {name} | {ns:,.0f} |")
    return "\n".join(lines)


# Running.


@dataclass
class Run:
    """One ``fastws bench`` run: its JSON figures and the server's CPU seconds."""

    server: str
    case: str
    figures: dict[str, Any] = field(default_factory=dict)
    server_cpu: float | None = None
    error: str = ""

    @property
    def messages(self) -> int:
        return int(self.figures.get("messages", 0))

    @property
    def server_us_per_msg(self) -> float | None:
        if self.server_cpu is None or not self.messages:
            return None
        return self.server_cpu / self.messages * 1e6


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of the processes so far."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / CLK_TCK


class Server:
    """One server of the comparison, started as subprocesses; stop() kills them by PID."""

    def __init__(self, kind: str) -> None:
        from fastws.cli.server import EmbeddedServer

        self.kind = kind
        self.embedded: EmbeddedServer | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        if kind in ("feed", "feed-x2", "feed-asyncio"):
            self.embedded = EmbeddedServer(
                uvloop=False if kind == "feed-asyncio" else None,
                processes=2 if kind == "feed-x2" else 1,
            )
            self.embedded.start()
            self.port = self.embedded.port
        else:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, "--serve", kind],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline().split()
            if len(line) != 2 or line[0] != b"PORT":
                self.stop()
                raise RuntimeError(f"server {kind} did not start")
            self.port = int(line[1])

    @property
    def pids(self) -> list[int]:
        if self.embedded is not None:
            return self.embedded.pids
        return [] if self.proc is None else [self.proc.pid]

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()
        if self.proc is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def bench_command(url: str | None, case: str, duration: float) -> list[str]:
    """The ``fastws bench`` command line of a case, against ``url`` (None: embedded)."""
    command = [sys.executable, "-m", "fastws", "bench"]
    if url is not None:
        command.append(url)
    return command + CASES[case] + ["-d", f"{duration:g}", "-q", "--json"]


def path_of(case: str) -> str:
    """The URL path ``fastws bench`` uses with its embedded server for a case."""
    from fastws.cli.bench import embedded_path

    mode = CASES[case][1]
    return embedded_path(mode, 0, 100, True, False)


def run_one(kind: str, case: str, duration: float) -> Run:
    """Start a server, run the case against it, stop it."""
    run = Run(kind, case)
    server = None if kind == "embedded" else Server(kind)
    try:
        url = None if server is None else f"ws://127.0.0.1:{server.port}{path_of(case)}"
        command = bench_command(url, case, duration)
        before = None if server is None else cpu_seconds(server.pids)
        done = subprocess.run(command, capture_output=True, timeout=duration + 120)
        if server is not None and before is not None:
            run.server_cpu = cpu_seconds(server.pids) - before
        try:
            run.figures = json.loads(done.stdout)
        except ValueError:
            run.error = (done.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
        if done.returncode and not run.error:
            run.error = f"exit status {done.returncode}: {run.figures.get('error', '')}"
    except subprocess.TimeoutExpired:
        run.error = "timed out"
    finally:
        if server is not None:
            server.stop()
    return run


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def table(runs: list[Run], servers: list[str], cases: list[str]) -> str:
    """Markdown table of the medians, one row per (case, server)."""
    lines = [
        "| case | server | msg/s | p99 µs | server CPU µs/msg | client CPU µs/msg | runs |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for case in cases:
        for kind in servers:
            mine = [r for r in runs if r.server == kind and r.case == case]
            ok = [r for r in mine if not r.error]
            rate = median([r.figures.get("msg_per_s") for r in ok])
            p99 = median([(r.figures.get("latency_us") or {}).get("p99") for r in ok])
            server_us = median([r.server_us_per_msg for r in ok])
            client_us = median([r.figures.get("cpu_us_per_msg") for r in ok])
            rates = ", ".join(f"{r.figures['msg_per_s'] / 1000:.1f}k" for r in ok)
            errors = [r.error for r in mine if r.error]
            note = rates + (f"; {len(errors)} failed: {errors[0]}" if errors else "")

            def fmt(value: float | None, spec: str) -> str:
                return "—" if value is None else format(value, spec)

            lines.append(
                f"| {case} | {kind} | {fmt(rate, ',.0f')} | {fmt(p99, ',.0f')} | "
                f"{fmt(server_us, '.2f')} | {fmt(client_us, '.2f')} | {note} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default=",".join(SERVERS), help=",".join(SERVERS))
    parser.add_argument("--cases", default=",".join(CASES), help=",".join(CASES))
    parser.add_argument("-r", "--repeats", type=int, default=3)
    parser.add_argument("-d", "--duration", type=float, default=5.0)
    parser.add_argument("--json", metavar="FILE", help="write every run here")
    parser.add_argument(
        "--micro",
        action="store_true",
        help="instead: time the server's Python work per frame, in process",
    )
    parser.add_argument("--against", metavar="FILE", help="--micro: also time this feedserver.py")
    parser.add_argument("--serve", choices=("picows", "feed-pure"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.micro:
        print(micro(args.against))
        return 0
    if args.serve == "picows":
        serve_picows()
        return 0
    if args.serve == "feed-pure":
        serve_feed_pure()
        return 0
    servers = args.servers.split(",")
    cases = args.cases.split(",")
    runs: list[Run] = []
    started = time.monotonic()
    for repeat in range(args.repeats):
        for case in cases:
            for kind in servers:
                run = run_one(kind, case, args.duration)
                runs.append(run)
                rate = run.figures.get("msg_per_s")
                print(
                    f"[{time.monotonic() - started:6.0f} s] #{repeat + 1} {case:13} {kind:12} "
                    f"{rate if rate is not None else run.error}",
                    file=sys.stderr,
                    flush=True,
                )
    if args.json:
        with open(args.json, "w") as file:
            json.dump([run.__dict__ for run in runs], file, indent=1)
    print(table(runs, servers, cases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
