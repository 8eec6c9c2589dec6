"""
``fastws bench`` at scale and at the edges of a run: ramp-up options, the measured window, ending
on time whatever each connection is doing, signals with ``--processes``, honest endings, the
per-second series.

The 10,000-connection runs are heavy (a minute each on 2 cores) and skipped unless
``FASTWS_HEAVY=1``: ``FASTWS_HEAVY=1 python3 -m pytest tests/test_cli_scale.py -k heavy --no-cov``.
CI runs the 2,000-connection slice.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from fastws.cli import bench as bench_module
from fastws.cli.bench import BenchConfig, run_worker
from fastws.cli.stats import Histogram, Result, merge_series, record_to_json, summary
from tests.test_cli import row, run, threaded_server, unused_port, websockets_server

HEAVY = os.environ.get("FASTWS_HEAVY") == "1"
heavy = pytest.mark.skipif(not HEAVY, reason="10,000 connections: set FASTWS_HEAVY=1")

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@contextlib.contextmanager
def raw_server(behaviour: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """
    A misbehaving WebSocket server on 127.0.0.1, one thread per connection; yields its URL and a
    dict of what it saw. ``mute``: completes the handshake, then reads and ignores everything
    (never answers a message or a close frame, never closes). ``hang``: answers the first
    handshake like ``mute``, never answers the others.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    seen: dict[str, Any] = {"accepted": 0, "handshakes": 0, "connected": threading.Event()}
    sockets: list[socket.socket] = []

    def handle(conn: socket.socket, index: int) -> None:
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            if behaviour == "hang" and index > 0:
                while conn.recv(65536):
                    pass
                return
            key = next(
                line.split(b":", 1)[1].strip()
                for line in data.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key")
            )
            accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            seen["handshakes"] += 1
            seen["connected"].set()
            while conn.recv(65536):
                pass
        except OSError:
            pass

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            sockets.append(conn)
            index = seen["accepted"]
            seen["accepted"] += 1
            threading.Thread(target=handle, args=(conn, index), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}/", seen
    finally:
        listener.close()
        for conn in sockets:
            conn.close()


def bench_process(*argv: str) -> subprocess.Popen[str]:
    """Start ``python -m fastws bench argv...`` (stdout, stderr piped)."""
    return subprocess.Popen(
        [sys.executable, "-m", "fastws", "bench", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(stream: Any, text: str, timeout: float) -> list[str]:
    """Read lines of ``stream`` until one contains ``text``; return those read."""
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        for line in stream:
            lines.append(line)
            if text in line:
                found.set()
                return

    threading.Thread(target=read, daemon=True).start()
    assert found.wait(timeout), "".join(lines)
    return lines


def finish(proc: subprocess.Popen[str], timeout: float) -> tuple[int, str, str, float]:
    """Wait for ``proc`` (killed by PID if it overstays); return status, out, err, seconds."""
    start = time.monotonic()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"still running after {timeout} s: {err[-2000:]}") from None
    return proc.returncode, out, err, time.monotonic() - start


# Ends on time


@pytest.mark.timeout(30)
def test_echo_waiting_for_a_reply_ends_at_the_deadline(capsys: pytest.CaptureFixture[str]) -> None:
    """A mute server: echo waits for replies that never come; the deadline ends it, the close
    times out after --close-timeout and the transports are aborted: not an error, exit 0."""
    with raw_server("mute") as (url, seen):
        start = time.monotonic()
        status, out, err = run(
            capsys,
            "bench",
            url,
            "-m",
            "echo",
            "-c",
            "3",
            "-d",
            "0.5",
            "--close-timeout",
            "0.2",
            "--json",
            "-q",
        )
        elapsed = time.monotonic() - start
    assert status == 0, err
    data = json.loads(out)
    assert data["messages"] == 0 and data["errors"] == 0
    assert data["closes_aborted"] == 3 and data["closes"] == {"1006": 3}
    assert 0.45 <= data["seconds"] < 1.0
    assert elapsed < 3.0  # 0.5 s window + 0.2 s close timeout + abort
    assert seen["handshakes"] == 3


@pytest.mark.timeout(30)
def test_idle_feed_ends_at_the_deadline(capsys: pytest.CaptureFixture[str]) -> None:
    """recv on a connection that receives nothing: the recv loop stops at the deadline."""
    with raw_server("mute") as (url, _):
        status, out, err = run(
            capsys, "bench", url, "-c", "2", "-d", "0.3", "--json", "-q", "--close-timeout", "0.1"
        )
    assert status == 0, err
    data = json.loads(out)
    assert data["connections_opened"] == 2 and data["closes_aborted"] == 2
    assert data["wall_seconds"] < 2.0


@pytest.mark.timeout(30)
def test_sigint_while_a_handshake_hangs() -> None:
    """SIGINT during the ramp: the connection open is closed, the handshake in flight is
    "not opened" (not a failure); one JSON object, exit status 130, at once."""
    with raw_server("hang") as (url, seen):
        proc = bench_process(url, "-c", "3", "-d", "5", "--json", "--close-timeout", "0.2")
        assert proc.stderr is not None
        wait_for_line(proc.stderr, "opening", 15)  # a ramp progress line: the run is stuck
        assert seen["handshakes"] == 1
        proc.send_signal(signal.SIGINT)
        status, out, err, seconds = finish(proc, 10)
    assert status == 130, err
    assert seconds < 3.0
    data = json.loads(out)
    assert data["interrupted"] is True
    assert data["connections_opened"] == 1 and data["connections_failed"] == 0
    assert data["connections_not_opened"] == 2
    assert "fastws: interrupted" in err


@pytest.mark.timeout(40)
def test_processes_sigterm_to_parent_stops_workers() -> None:
    """kill -TERM <parent> with -p 2: the parent stops its workers and prints the merge."""
    proc = bench_process("-p", "2", "-c", "4", "-d", "60", "--json")
    assert proc.stderr is not None
    wait_for_line(proc.stderr, "msg/s", 30)  # in the measured window
    proc.send_signal(signal.SIGTERM)
    status, out, err, seconds = finish(proc, 20)
    assert status == 130, err
    assert seconds < 8.0
    data = json.loads(out)
    assert data["interrupted"] is True and data["processes"] == 2
    assert data["messages"] > 0 and data["connections_opened"] == 4
    assert data["series"] and data["series"][0]["open"] == 4


@pytest.mark.timeout(30)
def test_worker_that_overstays_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that ignores "stop" is killed after --close-timeout + the grace, and reported."""
    real_popen = subprocess.Popen
    fake = (
        "import sys, time\n"
        "print('READY', flush=True); sys.stdin.readline()\n"
        "print('RAMPED', flush=True); sys.stdin.readline()\n"
        "time.sleep(60)\n"
    )

    def popen(args: list[str], **kwargs: Any) -> subprocess.Popen[str]:
        if args[-1].startswith("{") and '"connections": 1,' in args[-1] and not started:
            started.append(True)
            return real_popen([sys.executable, "-c", fake], **kwargs)
        return real_popen(args, **kwargs)

    started: list[bool] = []
    monkeypatch.setattr(bench_module.subprocess, "Popen", popen)
    monkeypatch.setattr(bench_module, "WORKER_STOP_GRACE", 0.5)
    with websockets_server() as base:
        config = BenchConfig(
            url=f"{base}/",
            mode="echo",
            connections=2,
            duration=0.5,
            close_timeout=0.2,
            loop="asyncio",
        )
        start = time.monotonic()
        result = bench_module._run_processes(config, 2, None)
        elapsed = time.monotonic() - start
    assert elapsed < 10
    assert result.lost_workers == 1
    assert result.error_samples[0] == (
        "worker process 1 of 2 failed: did not stop within 0.7 s: killed"
    )
    assert result.messages > 0  # the other worker's figures are kept


# Ramp-up and hold


@pytest.mark.timeout(30)
def test_spawn_rate_and_ramp_up(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, minimum in ((["--spawn-rate", "10"], 0.35), (["--ramp-up", "0.5"], 0.35)):
        status, out, err = run(
            capsys, "bench", "-m", "echo", "-c", "5", "-n", "3", "--json", "-q", *argv
        )
        assert status == 0, err
        data = json.loads(out)
        # 5 connections, 0.1 s apart: the last starts 0.4 s after the first.
        assert minimum <= data["connect_seconds"] < 3.0, data["connect_seconds"]
        assert data["connections_opened"] == 5 and data["messages"] == 15
        assert data["spawn_rate"] == 10.0


@pytest.mark.timeout(30)
def test_connect_concurrency_caps_handshakes_in_flight(
    capsys: pytest.CaptureFixture[str],
) -> None:
    in_flight = {"now": 0, "max": 0}

    async def process_request(conn: ServerConnection, request: Request) -> Response | None:
        in_flight["now"] += 1
        in_flight["max"] = max(in_flight["max"], in_flight["now"])
        await asyncio.sleep(0.05)
        in_flight["now"] -= 1
        return None

    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    with threaded_server(echo, process_request=process_request) as base:
        status, out, err = run(
            capsys,
            "bench",
            f"{base}/",
            "-m",
            "echo",
            "-c",
            "12",
            "-n",
            "2",
            "--connect-concurrency",
            "3",
            "-q",
        )
    assert status == 0, err
    assert row(out, "connections").startswith("12 opened, 0 failed, 12 held at most")
    assert in_flight["max"] == 3


@pytest.mark.timeout(60)
def test_2000_connections_recv_one_process(capsys: pytest.CaptureFixture[str]) -> None:
    """The CI slice of "hold 10,000": 2,000 connections, recv, -d, exit 0 on time."""
    start = time.monotonic()
    status, out, err = run(capsys, "bench", "-c", "2000", "-d", "2", "--json", "-q")
    elapsed = time.monotonic() - start
    assert status == 0, err
    data = json.loads(out)
    assert data["connections_opened"] == 2000 and data["peak_open"] == 2000
    assert data["connections_failed"] == 0, data["error_samples"]
    assert data["connections_not_opened"] == 0
    assert 1.9 <= data["seconds"] < 3.5 and data["messages"] > 0
    # Exits within a few seconds of the window's end (the ramp comes first).
    assert elapsed < data["connect_seconds"] + data["seconds"] + 6.0


@pytest.mark.timeout(60)
def test_2000_connections_echo_two_processes(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(
        capsys, "bench", "-m", "echo", "-c", "2000", "-p", "2", "-d", "2", "--json", "-q"
    )
    assert status == 0, err
    data = json.loads(out)
    assert data["connections_opened"] == 2000 and data["errors"] == 0
    assert data["peak_open"] == 2000
    assert data["latency_us"]["samples"] == data["messages"] > 0
    assert 1.9 <= data["seconds"] < 4.0


# Honest endings


@pytest.mark.timeout(30)
def test_feed_ending_before_the_duration(capsys: pytest.CaptureFixture[str]) -> None:
    with websockets_server() as base:  # /feed sends 500 messages, then closes with 1000
        status, out, err = run(capsys, "bench", f"{base}/feed", "-d", "5", "-q")
        assert status == 1
        assert row(out, "ended early") == "1 closed by the server first"
        assert "closed by the server before 5 s (--allow-early-end accepts it)" in err
        assert float(row(out, "measured").split()[0]) < 4  # not 5 s of waiting
        status, out, err = run(
            capsys, "bench", f"{base}/feed", "-d", "5", "--json", "--allow-early-end"
        )
        assert status == 0, err
        data = json.loads(out)
        assert data["ended_early"] == 1 and data["messages"] == 500 and "error" not in data
        assert "warning: 1 connection(s) closed by the server before 5 s" in err


@pytest.mark.timeout(30)
def test_json_always_prints_an_object(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "bench", f"ws://127.0.0.1:{unused_port()}/", "-c", "2", "--json")
    assert status == 1
    data = json.loads(out)
    assert "cannot connect to 127.0.0.1" in data["error"]
    assert data["connections_failed"] == 2 and data["connections_opened"] == 0
    assert err.startswith("fastws: error: cannot connect")
    with websockets_server() as base:
        status, out, err = run(capsys, "bench", f"{base}/forbidden", "--json", "-p", "2")
    assert status == 1
    assert "HTTP 403" in json.loads(out)["error"]
    status, out, err = run(capsys, "bench", "-p", "3", "-c", "2", "--json")
    assert status == 2
    assert json.loads(out) == {"error": "--processes (3) exceeds --connections (2)", "status": 2}


@pytest.mark.timeout(30)
def test_embedded_server_failure_with_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastws.cli import server

    monkeypatch.setattr(server, "SERVER_MODULE", "fastws.no_such_module")
    status, out, err = run(capsys, "bench", "--json", "-q")
    assert status == 1
    assert "failed to start" in json.loads(out)["error"]


# The per-second series (the hook for --output)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("rate", [None, 40.0])
def test_series_counts_each_round_trip_in_its_second(
    monkeypatch: pytest.MonkeyPatch, rate: float | None
) -> None:
    """
    Slow connections (a few round trips per tick, as at 10,000 connections): each interval's
    message count is the number of round trips timed in it, closed loop and open loop.
    """
    monkeypatch.setattr(bench_module, "TICK", 0.2)

    async def slow_echo(ws: ServerConnection) -> None:
        async for message in ws:
            await asyncio.sleep(0.03)
            await ws.send(message)

    async def main() -> Result:
        async with serve(slow_echo, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            config = BenchConfig(
                url=f"ws://127.0.0.1:{port}/", mode="echo", connections=3, duration=1.2,
                loop="asyncio", rate=rate,
            )
            return await bench_module._run(config, None, None)

    result = asyncio.run(main())
    series = result.series
    assert len(series) >= 5 and result.messages > 0
    assert [r["messages"] for r in series] == [r["latency"].count for r in series]


@pytest.mark.timeout(30)
def test_series_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_module, "TICK", 0.2)
    records: list[dict[str, Any]] = []
    with websockets_server() as base:
        config = BenchConfig(
            url=f"{base}/", mode="echo", connections=2, duration=1.0, loop="asyncio"
        )
        result = run_worker(config, records.append)
    series = result.series
    assert records == series
    assert [r["tick"] for r in series] == list(range(1, len(series) + 1))
    assert 4 <= len(series) <= 6
    assert sum(r["messages"] for r in series) == result.messages
    assert sum(r["latency"].count for r in series) == result.latency.count
    # Each interval counts the round trips whose latency it holds (not the previous second's).
    assert all(r["messages"] == r["latency"].count for r in series)
    assert all(isinstance(r["latency"], Histogram) and r["open"] == 2 for r in series)
    assert abs(series[-1]["t"] - result.seconds) < 0.01
    again = Result.from_json(json.loads(json.dumps(result.to_json())))
    assert again.series[0]["latency"].count == series[0]["latency"].count
    data = summary(result, {"duration": 1.0})
    assert data["series"][0]["latency_us"]["p99"] > 0 and data["series"][0]["msg_per_s"] > 0


def test_merge_series_by_tick() -> None:
    def record(tick: int, messages: int, errors: int, latency: int | None) -> dict[str, Any]:
        hist = None
        if latency is not None:
            hist = Histogram()
            hist.record(latency)
        return {
            "tick": tick,
            "t": tick + 0.01,
            "seconds": 1.0,
            "messages": messages,
            "bytes": messages * 10,
            "open": 2,
            "errors": errors,
            "latency": hist,
        }

    one = [record(1, 10, 0, 1000), record(2, 20, 1, 2000)]
    two = [record(1, 5, 2, None), record(2, 5, 2, 3000), record(3, 7, 3, None)]
    merged = merge_series([one, two])
    assert [r["messages"] for r in merged] == [15, 25, 7]
    assert [r["open"] for r in merged] == [4, 4, 2]
    assert [r["errors"] for r in merged] == [2, 3, 4]  # one's 1 carries over to tick 3
    assert merged[0]["latency"].count == 1 and merged[1]["latency"].count == 2
    assert merged[2]["latency"] is None
    results = [Result(series=one, start=1.0, end=3.0), Result(series=two, start=1.0, end=4.0)]
    as_json = [record_to_json(r) for r in merged]
    assert [record_to_json(r) for r in Result.merge(results).series] == as_json


@pytest.mark.timeout(30)
def test_series_merged_across_processes(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "bench", "-m", "echo", "-p", "2", "-d", "2.2", "--json")
    assert status == 0, err
    data = json.loads(out)
    assert len(data["series"]) in (2, 3)
    assert sum(r["messages"] for r in data["series"]) == data["messages"]
    assert all(r["open"] == 2 and r["latency_us"]["samples"] > 0 for r in data["series"])
    assert 2.1 <= data["seconds"] < 3.0
    progress = [line for line in err.splitlines() if "msg/s" in line]
    assert progress and "open 2/2" in progress[0]


# 10,000 connections (FASTWS_HEAVY=1)


@heavy
@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", ["recv", "echo"])
@pytest.mark.parametrize("processes", ["1", "2"])
@pytest.mark.parametrize("limit", [["-d", "5"], ["-n", "20"]])
def test_heavy_10000_connections(
    capsys: pytest.CaptureFixture[str], mode: str, processes: str, limit: list[str]
) -> None:
    start = time.monotonic()
    status, out, err = run(
        capsys, "bench", "-m", mode, "-c", "10000", "-p", processes, *limit, "--json", "-q"
    )
    elapsed = time.monotonic() - start
    assert status == 0, err
    data = json.loads(out)
    print(
        f"\n{mode} -p {processes} {' '.join(limit)}: {elapsed:.1f} s, opened in "
        f"{data['connect_seconds']:.1f} s, window {data['seconds']:.1f} s, "
        f"{data['msg_per_s']:,.0f} msg/s, RSS {data['rss_mib']} MiB, "
        f"aborted {data['closes_aborted']}",
        file=sys.stderr,
    )
    assert data["connections_opened"] == 10000 and data["peak_open"] == 10000
    assert data["errors"] == 0 and data["connections_failed"] == 0
    if limit[0] == "-n":
        assert data["messages"] == 10000 * 20
    else:
        assert 4.9 <= data["seconds"] < 8.0
        assert elapsed < data["connect_seconds"] + data["seconds"] + 15.0
