"""
Tests for the ``fastws`` command line (``fastws bench``, ``fastws connect``).

Most tests call ``main([...])`` in this process (fast, and measured by coverage); a few run
``python -m fastws`` in a subprocess to see exactly what a user sees. The embedded server is the
real ``fastws.tools.feedserver``, started by the command itself in a subprocess; tests that need a
URL of their own start a websockets server in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

import fastws
from fastws.__main__ import main
from fastws.cli import bench as bench_module
from fastws.cli import common, server, worker
from fastws.cli.bench import BenchConfig, Progress, embedded_path, run_worker
from fastws.cli.stats import Histogram, Result, format_table, summary


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``fastws argv...`` in this process; return (status, stdout, stderr)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def run_process(
    *argv: str, stdin: str = "", timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m fastws argv...`` in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "fastws", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(status: int, out: str, err: str, expected: str) -> None:
    assert status != 0
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "error:" in lines[0]
    assert expected in lines[0], lines[0]


def row(table: str, label: str) -> str:
    """The value column of a table row."""
    for line in table.splitlines():
        if line.startswith(label + " "):
            return line[len(label) :].strip()
    raise AssertionError(f"no row {label!r} in:\n{table}")


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# A websockets 17 server in a thread, for URLs the embedded server doesn't serve.


async def _handler(ws: ServerConnection) -> None:
    assert ws.request is not None
    path = ws.request.path
    if path.startswith("/feed"):
        for _ in range(500):
            await ws.send("y" * 50)
        await ws.close(1000, "done")
    elif path == "/bye":
        await ws.close(4000, "custom")
    elif path == "/slow":  # echo each message twice, 50 ms later, 50 ms apart
        async for message in ws:
            for _ in range(2):
                await asyncio.sleep(0.05)
                await ws.send(message)
    elif path == "/once":  # echo one message, then close
        await ws.send(await ws.recv())
        await ws.close(1000, "once")
    elif path == "/binary":
        await ws.send(b"\x00\xff")
        async for message in ws:
            await ws.send(message)
    else:
        async for message in ws:
            await ws.send(message)


@contextlib.contextmanager
def threaded_server(handler: Any, **kwargs: Any) -> Iterator[str]:
    """
    Run ``websockets.serve(handler, "127.0.0.1", 0, **kwargs)`` on its own loop in a thread;
    yield its base URL (``ws://127.0.0.1:port``).
    """
    started = threading.Event()
    state: dict[str, Any] = {}

    async def serve_forever() -> None:
        async with serve(handler, "127.0.0.1", 0, **kwargs) as srv:
            state["port"] = srv.sockets[0].getsockname()[1]
            state["loop"] = asyncio.get_running_loop()
            state["stop"] = stop = asyncio.Event()
            started.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve_forever(),), daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield f"ws://127.0.0.1:{state['port']}"
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)


@contextlib.contextmanager
def websockets_server() -> Iterator[str]:
    """Run a websockets server in a thread; yield its base URL (``ws://127.0.0.1:port``)."""
    accepted = 0

    def process_request(conn: ServerConnection, request: Request) -> Response | None:
        nonlocal accepted
        if request.path == "/forbidden":
            return conn.respond(403, "no\n")
        if request.path == "/flaky":  # every other connection is refused
            accepted += 1
            if accepted % 2 == 0:
                return conn.respond(503, "busy\n")
        return None

    # max_queue=None: the server always reads (and sees the close frame).
    with threaded_server(_handler, process_request=process_request, max_queue=None) as base:
        yield base


# fastws bench with the embedded server


@pytest.mark.timeout(20)
def test_bench_embedded_recv(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "bench", "--count", "5000", "--quiet")
    assert status == 0, err
    assert err == ""
    assert row(out, "messages") == "5,000 (500,000 bytes)"
    assert "(embedded server)" in row(out, "url")
    assert "/feed?size=100&count=5000&text=1" in row(out, "url")
    assert row(out, "connections").startswith("1 opened, 0 failed")
    assert row(out, "closes") == "1000 × 1"
    assert row(out, "errors") == "0"
    assert "msg/s" in row(out, "throughput") and "MB/s" in row(out, "throughput")
    assert "MiB" in row(out, "client RSS")
    assert "µs per message" in row(out, "client CPU")
    assert row(out, "wall time").endswith(" s")


@pytest.mark.timeout(20)
def test_bench_processes_merge_counts(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "bench", "--processes", "2", "-c", "3", "-n", "2000", "-q")
    assert status == 0, err
    assert row(out, "messages") == "6,000 (600,000 bytes)"
    assert "3 connections, 2 processes" in row(out, "run")
    assert row(out, "closes") == "1000 × 3"
    assert row(out, "connections").startswith("3 opened, 0 failed")


@pytest.mark.timeout(20)
def test_bench_processes_default_one_connection_each(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(
        capsys, "bench", "--processes", "2", "--mode", "echo", "-n", "50", "--json"
    )
    assert status == 0, err
    data = json.loads(out)
    assert data["processes"] == 2 and data["connections"] == 2
    assert data["messages"] == 100
    assert data["latency_us"]["samples"] == 100


@pytest.mark.timeout(20)
def test_bench_echo_latency(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(
        capsys, "bench", "--mode", "echo", "-c", "2", "-n", "300", "-s", "256", "-q"
    )
    assert status == 0, err
    assert row(out, "messages") == "600 (153,600 bytes)"
    latency = row(out, "latency")
    for key in ("p50", "p99", "p99.9", "max"):
        assert key in latency
    assert "(600 round trips)" in latency
    assert row(out, "closes") == "1000 × 2"


@pytest.mark.timeout(20)
def test_bench_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(
        capsys, "bench", "--mode", "echo", "-n", "200", "--binary", "--json", "-q"
    )
    assert status == 0, err
    data = json.loads(out)
    assert data["messages"] == 200 and data["bytes"] == 20_000
    assert data["mode"] == "echo" and data["text"] is False and data["embedded"] is True
    latency = data["latency_us"]
    assert 0 < latency["p50"] <= latency["p99"] <= latency["p99.9"] <= latency["max"]
    assert data["closes"] == {"1000": 1}
    assert data["connections_opened"] == 1 and data["connections_failed"] == 0
    assert data["msg_per_s"] > 0 and data["cpu_seconds"] > 0 and data["rss_mib"] > 0


@pytest.mark.timeout(20)
def test_bench_send_binary(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(
        capsys, "bench", "--mode", "send", "--binary", "-n", "3000", "-s", "10", "-q"
    )
    assert status == 0, err
    assert "/sink" in row(out, "url")
    assert row(out, "messages") == "3,000 (30,000 bytes)"
    assert "binary" in row(out, "run")


@pytest.mark.timeout(20)
def test_bench_duration_with_progress(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "bench", "--duration", "1.3", "-c", "2")
    assert status == 0, err
    assert "count=0" in row(out, "url")  # the feed sends until the client closes
    assert row(out, "closes") == "1000 × 2"
    assert int(row(out, "messages").split()[0].replace(",", "")) > 0
    progress = [line for line in err.splitlines() if "opening" not in line]
    assert progress and all("msg/s" in line and "MB/s" in line for line in progress)
    assert "open 2/2" in progress[0] and "errors 0" in progress[0]
    assert 1.28 <= float(row(out, "measured").split()[0]) < 1.8  # the window is the duration


@pytest.mark.timeout(20)
def test_bench_echo_rate_duration(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(
        capsys, "bench", "--mode", "echo", "--rate", "400", "-d", "1", "-c", "2", "--json", "-q"
    )
    assert status == 0, err
    data = json.loads(out)
    assert 300 <= data["messages"] <= 420  # 400/s for 1 s, on schedule
    assert data["latency_us"]["samples"] == data["messages"]


@pytest.mark.timeout(20)
def test_bench_echo_rate_count(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(
        capsys, "bench", "--mode", "echo", "--rate", "5000", "-n", "100", "--json"
    )
    assert status == 0, err
    assert json.loads(out)["messages"] == 100


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "argv",
    [
        ["--mode", "echo", "-n", "3000"],
        ["--mode", "echo", "-n", "1000", "--rate", "5000"],
        ["--mode", "send", "-n", "20000", "-s", "1000"],
        ["--mode", "recv", "-n", "50000"],
    ],
)
def test_bench_progress_every_tick(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    """Connections publish their counts at each tick: progress lines show them as they go."""
    monkeypatch.setattr(bench_module, "TICK", 0.01)
    status, out, err = run(capsys, "bench", "-c", "2", *argv)
    assert status == 0, err
    rates = [
        int(re.findall(r"([\d,]+) msg/s", line)[0].replace(",", "")) for line in err.splitlines()
    ]
    assert len(rates) >= 2 and any(rates)


@pytest.mark.timeout(20)
def test_bench_processes_progress(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "bench", "-p", "2", "-d", "1.5", "--mode", "send", "-s", "1000")
    assert status == 0, err
    assert "msg/s" in err and "open 2" in err
    assert row(out, "closes") == "1000 × 2"


@pytest.mark.timeout(20)
def test_bench_compression_binary(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(
        capsys, "bench", "--compression", "--binary", "-n", "300", "-q", "--json"
    )
    assert status == 0, err
    data = json.loads(out)
    assert "deflate=1" in data["url"]
    assert data["compressed"] == 1 and data["messages"] == 300


@pytest.mark.timeout(20)
def test_bench_loop_asyncio(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "bench", "--loop", "asyncio", "-n", "1000", "-q")
    assert status == 0, err
    assert "asyncio" in row(out, "run")


@pytest.mark.timeout(20)
def test_no_arguments_runs_bench(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fastws`` alone runs ``fastws bench`` with its defaults (a smaller default total here)."""
    assert bench_module.DEFAULT_TOTAL["recv"] >= 1_000_000
    monkeypatch.setitem(bench_module.DEFAULT_TOTAL, "recv", 20_000)
    monkeypatch.setattr(bench_module, "TICK", 0.02)
    status, out, err = run(capsys)
    assert status == 0, err
    assert row(out, "messages") == "20,000 (2,000,000 bytes)"
    assert "recv, 1 connection, 1 process" in row(out, "run")


@pytest.mark.timeout(20)
def test_bench_real_process() -> None:
    proc = run_process("bench", "-n", "1000", "--mode", "echo")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert row(proc.stdout, "messages") == "1,000 (100,000 bytes)"


# fastws bench against a server of the test's own


@pytest.mark.timeout(20)
def test_bench_url_websockets_server(capsys: pytest.CaptureFixture[str]) -> None:
    with websockets_server() as base:
        status, out, err = run(capsys, "bench", f"{base}/feed", "-c", "2", "-q")
        assert status == 0, err
        assert row(out, "messages") == "1,000 (50,000 bytes)"
        assert row(out, "closes") == "1000 × 2"
        assert "(embedded server)" not in row(out, "url")

        status, out, err = run(capsys, "bench", f"{base}/feed", "-n", "100", "-q")
        assert status == 0, err
        assert row(out, "messages") == "100 (5,000 bytes)"  # the client stops at --count

        status, out, err = run(capsys, "bench", f"{base}/", "--mode", "echo", "-n", "100", "--json")
        assert status == 0, err
        assert json.loads(out)["latency_us"]["samples"] == 100


@pytest.mark.timeout(20)
def test_bench_abnormal_close_and_partial_failure(capsys: pytest.CaptureFixture[str]) -> None:
    with websockets_server() as base:
        status, out, err = run(capsys, "bench", f"{base}/bye", "-q")
        assert status == 1
        assert row(out, "closes") == "4000 × 1"
        assert row(out, "errors").startswith("1 (connection closed: received 4000")
        assert err.count("\n") == 1 and "1 ended with an error" in err

        status, out, err = run(
            capsys, "bench", f"{base}/flaky", "-c", "4", "--mode", "echo", "-n", "5", "-q"
        )
        assert status == 1
        assert row(out, "connections").startswith("2 opened, 2 failed")
        assert "HTTP 503" in row(out, "errors")
        assert "2 connection(s) failed" in err


@pytest.mark.timeout(20)
def test_bench_server_closes_early(capsys: pytest.CaptureFixture[str]) -> None:
    with websockets_server() as base:
        # The server closes normally (1000) after one round trip: fewer than asked, reported,
        # exit status 1 unless --allow-early-end.
        status, out, err = run(capsys, "bench", f"{base}/once", "--mode", "echo", "-n", "5", "-q")
        assert status == 1
        assert row(out, "ended early") == "1 closed by the server first"
        assert err == (
            "fastws: error: 1 connection(s) closed by the server before 5 messages "
            "(--allow-early-end accepts it)\n"
        )
        status, out, err = run(
            capsys, "bench", f"{base}/once", "--mode", "echo", "-n", "5", "-q", "--allow-early-end"
        )
        assert status == 0, err
        assert "warning: 1 connection(s) closed by the server before 5 messages" in err
        assert row(out, "messages") == "1 (100 bytes)"
        assert row(out, "closes") == "1000 × 1"
        # The same on schedule: the receiver sees the close while the sender waits for its turn.
        status, out, err = run(
            capsys,
            "bench",
            f"{base}/once",
            "--mode",
            "echo",
            "--rate",
            "20",
            "-n",
            "5",
            "-q",
            "--allow-early-end",
        )
        assert status == 0, err
        assert row(out, "messages") == "1 (100 bytes)"
        assert row(out, "closes") == "1000 × 1"
        # Closed with 4000 while echoing on schedule: the connection's error is reported.
        status, out, err = run(
            capsys, "bench", f"{base}/bye", "--mode", "echo", "--rate", "100", "-q"
        )
        assert status == 1
        assert row(out, "errors").startswith("1 (connection closed: received 4000")


@pytest.mark.timeout(20)
def test_run_worker_in_a_thread() -> None:
    """Off the main thread there is no Ctrl-C handler to install; the run works the same."""
    with websockets_server() as base:
        config = BenchConfig(url=f"{base}/feed", count=20, loop="uvloop")
        results: list[Result] = []
        thread = threading.Thread(target=lambda: results.append(run_worker(config)))
        thread.start()
        thread.join(15)
    assert results and results[0].messages == 20


# fastws connect


@pytest.mark.timeout(20)
def test_connect_piped_stdin_subprocess() -> None:
    with websockets_server() as base:
        proc = run_process("connect", f"{base}/echo", stdin="hello\nwörld\n\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "< hello\n< wörld\n< \n"
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == "connection closed: code 1000 (OK)"


@pytest.mark.timeout(20)
def test_connect_in_process(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with websockets_server() as base:
        monkeypatch.setattr(sys, "stdin", io.StringIO("one\ntwo\n"))
        status, out, err = run(capsys, "connect", f"{base}/binary", "--no-compression")
        assert status == 0, err
        assert out == "< (binary, 2 bytes) 00ff\n< one\n< two\n"
        assert err.startswith(f"connected to {base}/binary")
        assert err.endswith("connection closed: code 1000 (OK)\n")


@pytest.mark.timeout(20)
def test_connect_server_closes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server closes first, with a code that isn't OK: exit 1, one error line."""
    reading, writing = os.pipe()  # stdin that stays open: only the server can end the session
    stdin = open(reading)  # noqa: SIM115
    try:
        with websockets_server() as base:
            monkeypatch.setattr(sys, "stdin", stdin)
            status, out, err = run(capsys, "connect", f"{base}/bye", "--loop", "asyncio")
    finally:
        os.close(writing)  # EOF first: the reader thread returns and releases the file
        for thread in threading.enumerate():
            if thread.name == "fastws-stdin":
                thread.join(5)
        stdin.close()
    assert status == 1
    assert out == ""
    assert (
        err.splitlines()[-1]
        == "fastws: error: connection closed: code 4000 (private use), reason: custom"
    )


@pytest.mark.timeout(20)
def test_connect_server_closes_after_end_of_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with websockets_server() as base:
        monkeypatch.setattr(sys, "stdin", io.StringIO("hi\n"))
        status, out, err = run(capsys, "connect", f"{base}/once")
    assert status == 0, err
    assert out == "< hi\n"
    assert err.endswith("connection closed: code 1000 (OK), reason: once\n")


@pytest.mark.timeout(20)
def test_connect_waits_for_late_replies(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the end of input, replies keep printing until the connection has been quiet."""
    with websockets_server() as base:
        monkeypatch.setattr(sys, "stdin", io.StringIO("late\n"))
        status, out, err = run(capsys, "connect", f"{base}/slow")
    assert status == 0, err
    assert out == "< late\n< late\n"


def test_close_code_explanations() -> None:
    from fastws.cli.connect import _explain

    assert [_explain(code) for code in (1000, 1011, 3001, 4999, 999)] == [
        "OK",
        "unexpected error",
        "registered",
        "private use",
        "unknown",
    ]


@pytest.mark.timeout(20)
def test_connect_server_closes_while_sending(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with websockets_server() as base:
        monkeypatch.setattr(sys, "stdin", io.StringIO("x\n" * 1000))
        status, out, err = run(capsys, "connect", f"{base}/feed")
    assert status == 0, err  # the feed closes with 1000 after 500 messages
    assert out.count("< " + "y" * 50) == 500


# Bad input: one line on stderr, non-zero exit, no traceback


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["bench", "--processes", "0"], "argument -p/--processes: must be at least 1, got '0'"),
        (["bench", "--size", "x"], "argument -s/--size: invalid integer: 'x'"),
        (["bench", "--size", "-1"], "must be at least 0"),
        (["bench", "-c", "0"], "argument -c/--connections: must be at least 1"),
        (["bench", "--count", "1", "--duration", "1"], "not allowed with argument"),
        (["bench", "--duration", "0"], "must be greater than 0"),
        (["bench", "--duration", "nan"], "must be greater than 0"),
        (["bench", "--duration", "inf"], "must be greater than 0"),
        (["bench", "--mode", "flood"], "invalid choice: 'flood'"),
        (["bench", "--loop", "trio"], "invalid choice: 'trio'"),
        (["bench", "--bogus"], "unrecognized arguments: --bogus"),
        (["bench", "--rate", "10"], "--rate applies to --mode echo only"),
        (["bench", "-p", "3", "-c", "2"], "--processes (3) exceeds --connections (2)"),
        (["bench", "ws:/nohost"], "invalid URL: ws:/nohost isn't a valid URI"),
        (["bench", "http://example.com/"], "invalid URL"),
        (["connect"], "the following arguments are required: URL"),
        (["connect", "not a url"], "invalid URL"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_usage(capsys: pytest.CaptureFixture[str], argv: list[str], expected: str) -> None:
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert_one_line_error(status, out, err, expected)


@pytest.mark.timeout(20)
def test_unreachable_url(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"ws://127.0.0.1:{unused_port()}/"
    status, out, err = run(capsys, "bench", url, "-c", "3")
    assert status == 1
    assert_one_line_error(status, out, err, "cannot connect to 127.0.0.1:")
    status, out, err = run(capsys, "connect", url)
    assert status == 1
    assert_one_line_error(status, out, err, "cannot connect to 127.0.0.1:")


@pytest.mark.timeout(20)
def test_unresolvable_host(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "bench", "ws://nonexistent.invalid/", "-q")
    assert_one_line_error(status, out, err, "nonexistent.invalid")


@pytest.mark.timeout(20)
def test_refused_handshake(capsys: pytest.CaptureFixture[str]) -> None:
    with websockets_server() as base:
        status, out, err = run(capsys, "bench", f"{base}/forbidden", "-q")
        assert_one_line_error(status, out, err, "server rejected WebSocket connection: HTTP 403")
        status, out, err = run(capsys, "connect", f"{base}/forbidden")
        assert_one_line_error(status, out, err, "server rejected WebSocket connection: HTTP 403")
        status, out, err = run(capsys, "bench", f"{base}/forbidden", "-p", "2", "-q")
        assert_one_line_error(status, out, err, "server rejected WebSocket connection: HTTP 403")


@pytest.mark.timeout(30)
def test_bad_input_real_process() -> None:
    """What a user sees from the installed command: no traceback, one line, non-zero status."""
    for argv, expected in [
        (["bench", f"ws://127.0.0.1:{unused_port()}/"], "cannot connect"),
        (["bench", "--processes", "0"], "--processes"),
        (["connect", "ws://"], "invalid URL"),
    ]:
        proc = run_process(*argv)
        assert_one_line_error(proc.returncode, proc.stdout, proc.stderr, expected)


@pytest.mark.timeout(20)
def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--version")
    assert status == 0 and out == f"fastws {fastws.__version__}\n"
    status, out, _ = run(capsys, "bench", "--help")
    assert status == 0 and "--processes" in out and "embedded feed server" in out
    proc = run_process("--version")
    assert proc.returncode == 0 and proc.stdout == f"fastws {fastws.__version__}\n"


def test_internal_error_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(**kwargs: Any) -> int:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(bench_module, "run_bench", boom)
    monkeypatch.delenv("FASTWS_DEBUG", raising=False)
    status, out, err = run(capsys, "bench")
    assert_one_line_error(status, out, err, "internal error: RuntimeError: boom second line")
    monkeypatch.setenv("FASTWS_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(["bench"])


def test_interrupted(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(**kwargs: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(bench_module, "run_bench", interrupt)
    status, out, err = run(capsys, "bench")
    assert status == 130 and err == "fastws: interrupted\n"


@pytest.mark.timeout(20)
def test_embedded_server_fails_to_start(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "SERVER_MODULE", "fastws.no_such_module")
    status, out, err = run(capsys, "bench", "-q")
    assert_one_line_error(
        status, out, err, "embedded server (fastws.no_such_module) failed to start"
    )
    assert "No module named fastws.no_such_module" in err


@pytest.mark.timeout(20)
def test_embedded_server_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that never prints its port is stopped after the start timeout."""
    srv = server.EmbeddedServer()
    monkeypatch.setattr(
        srv, "command", lambda: [sys.executable, "-c", "import time; time.sleep(30)"]
    )
    monkeypatch.setattr(server, "START_TIMEOUT", 0.5)
    with pytest.raises(server.ServerError, match="failed to start: .*no PORT line within 0.5 s"):
        srv.start()
    assert srv.pid is None
    srv.stop()  # idempotent
    monkeypatch.setattr(srv, "command", lambda: [sys.executable, "-c", "print('hello')"])
    with pytest.raises(server.ServerError, match="failed to start"):
        srv.start()


@pytest.mark.timeout(20)
def test_embedded_server_start_stop() -> None:
    srv = server.EmbeddedServer(uvloop=True)
    srv.start()
    try:
        assert srv.pid is not None and srv.port > 0
        assert srv.url("/echo") == f"ws://127.0.0.1:{srv.port}/echo"
    finally:
        srv.stop()
    assert srv.pid is None


# Worker process protocol


@pytest.mark.timeout(20)
def test_worker_main(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_module, "TICK", 0.001)
    with websockets_server() as base:
        config = BenchConfig(url=f"{base}/feed", count=10, progress=True, loop="asyncio")
        assert worker.main([config.to_json()]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("R ")
    assert all(line.startswith("P ") for line in lines[:-1])
    result = Result.from_json(json.loads(lines[-1][2:]))
    assert result.messages == 10 and result.closes == {"1000": 1}
    assert worker.main(["{not json"]) == 1
    assert capsys.readouterr().out.startswith("E JSONDecodeError")


def test_worker_failure_is_reported(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that exits without a result fails the run with one line naming it."""
    real_popen = subprocess.Popen

    def popen(args: list[str], **kwargs: Any) -> subprocess.Popen[str]:
        return real_popen(
            [sys.executable, "-c", "print('junk'); print('E worker broke')"], **kwargs
        )

    monkeypatch.setattr(bench_module.subprocess, "Popen", popen)
    config = BenchConfig(url="ws://127.0.0.1:1/", connections=2)
    with pytest.raises(common.CliError, match="worker process 1 of 2 failed: worker broke"):
        bench_module._run_processes(config, 2, None)

    def popen_silent(args: list[str], **kwargs: Any) -> subprocess.Popen[str]:
        return real_popen([sys.executable, "-c", "pass"], **kwargs)

    monkeypatch.setattr(bench_module.subprocess, "Popen", popen_silent)
    with pytest.raises(common.CliError, match="failed: exit status 0"):
        bench_module._run_processes(config, 2, None)


# Figures


def test_histogram_percentiles() -> None:
    hist = Histogram()
    assert hist.percentile(50) == 0.0
    for ns in range(1, 100_001):  # 1 ns .. 100 µs, uniform
        hist.record(ns)
    hist.record(-5)  # clock oddities count as 0
    assert hist.count == 100_001 and hist.max == 100_000
    for pct, expected in [(50, 50_000), (99, 99_000), (99.9, 99_900), (100, 100_000)]:
        assert abs(hist.percentile(pct) - expected) <= expected / 64
    assert hist.percentile(0.0001) == 0.0
    small = Histogram()
    for ns in (3, 3, 7):
        small.record(ns)
    assert small.percentile(50) == 3.0 and small.percentile(100) == 7.0


def test_histogram_merge_and_json() -> None:
    a, b = Histogram(), Histogram()
    for ns in range(1000, 2000):
        a.record(ns)
    for ns in range(5000, 5500):
        b.record(ns * 1000)
    merged = Histogram.from_json(json.loads(json.dumps(a.to_json())))
    merged.merge(Histogram.from_json(json.loads(json.dumps(b.to_json()))))
    assert merged.count == 1500 and merged.max == 5_499_000
    assert merged.total == a.total + b.total
    assert abs(merged.percentile(50) - 1750) < 1750 / 64
    assert abs(merged.percentile(90) - 5_349_000) < 5_349_000 / 64  # rank 1350: b's 350th


def test_result_merge() -> None:
    one = Result(
        messages=10,
        bytes=100,
        opened=2,
        failed=1,
        errors=1,
        start=5.0,
        end=7.0,
        connect_seconds=0.5,
        cpu_seconds=1.0,
        rss_bytes=2**20,
        compressed=1,
    )
    one.add_close(1000)
    one.add_close(None)
    one.add_error("first")
    one.add_error("first")
    one.latency.record(1000)
    two = Result(
        messages=5,
        bytes=50,
        opened=1,
        start=4.0,
        end=6.0,
        connect_seconds=0.7,
        cpu_seconds=2.0,
        rss_bytes=2**20,
    )
    two.add_close(1000)
    for i in range(5):
        two.add_error(f"error {i}")
    two.latency.record(3000)
    merged = Result.merge(
        [Result.from_json(json.loads(json.dumps(r.to_json()))) for r in (one, two)]
    )
    assert (merged.messages, merged.bytes, merged.opened, merged.failed, merged.errors) == (
        15,
        150,
        3,
        1,
        1,
    )
    assert merged.closes == {"1000": 2, "1006": 1}
    assert merged.error_samples == ["first", "error 0", "error 1"]
    assert (merged.start, merged.end, merged.seconds) == (4.0, 7.0, 3.0)
    assert merged.connect_seconds == 0.7 and merged.cpu_seconds == 3.0
    assert merged.rss_bytes == 2**21 and merged.processes == 2 and merged.compressed == 1
    assert merged.latency.count == 2
    assert one.closes == {"1000": 1, "1006": 1}  # inputs untouched
    with pytest.raises(ValueError):
        Result.merge([])


def test_table_formats() -> None:
    result = Result(messages=0, start=1.0, end=1.0)
    info = {
        "url": "ws://h/",
        "embedded": False,
        "mode": "recv",
        "connections": 1,
        "text": True,
        "compression": True,
        "loop": "asyncio",
    }
    data = summary(result, info)
    assert data["cpu_us_per_msg"] is None and "latency_us" not in data
    table = format_table(data)
    assert row(table, "closes") == "none"
    assert row(table, "client CPU") == "0.00 s"
    assert "compression on (negotiated by 0)" in row(table, "run")
    result.latency.record(500)
    result.latency.record(2_000_000)
    result.latency.record(3_000_000_000)
    latency = row(format_table(summary(result, info)), "latency")
    assert "p50 2.0" in latency and " ms" in latency and "max 3.00 s" in latency
    result.latency = Histogram()
    result.latency.record(500)
    assert "p50 500 ns" in row(format_table(summary(result, info)), "latency")


def test_progress_line() -> None:
    stream = io.StringIO()
    progress = Progress(stream, 4)
    record = {"t": 2.0, "seconds": 0.5, "messages": 1000, "bytes": 10**6, "open": 3, "errors": 1}
    progress.update(record)
    line = stream.getvalue()
    assert line.startswith("fastws bench:") and "2,000 msg/s" in line and "2.00 MB/s" in line
    assert line.rstrip().endswith("open 3/4  errors 1")
    stream = io.StringIO()
    Progress(stream).update({"phase": "ramp", "t": 1.0, "open": 7, "errors": 2, "opened": 9})
    assert stream.getvalue() == "fastws bench: opening    1.0 s  open 7  failed 2\n"


def test_embedded_paths() -> None:
    assert embedded_path("recv", 10, 5, False, False) == "/feed?size=5&count=10&text=0&wait=1"
    assert (
        embedded_path("recv", 0, 5, True, True) == "/feed?size=5&count=0&text=1&wait=1&deflate=1"
    )
    assert embedded_path("echo", 1, 1, True, False) == "/echo"
    assert embedded_path("echo", 1, 1, True, True) == "/echo?deflate=1"
    assert embedded_path("send", 1, 1, True, False) == "/sink"


def test_describe_error() -> None:
    assert (
        common.describe_error(asyncio.TimeoutError(), "ws://h:1/") == "timed out connecting to h:1"
    )
    assert common.describe_error(OSError("Multiple exceptions: a, b"), "ws://h/") == (
        "cannot connect to h:80: Multiple exceptions: a, b"
    )
    assert common.describe_error(OSError()) == "cannot connect: OSError"
    assert common.describe_error(fastws.InvalidUpgrade("Upgrade", "h2c")) == (
        "opening handshake failed: invalid Upgrade header: h2c"
    )
    assert common.describe_error(ValueError("bad")) == "ValueError: bad"
    assert common.describe_error(ValueError()) == "ValueError"


@pytest.mark.timeout(20)
def test_run_worker_stopped_while_opening() -> None:
    """Stopped during the ramp: connections not yet open are "not opened", not failures."""
    with websockets_server() as base:
        control = bench_module.Control()
        config = BenchConfig(
            url=f"{base}/",
            mode="echo",
            connections=50,
            connect_concurrency=1,
            loop="asyncio",
            spawn_rate=20,
        )
        timer = threading.Timer(0.3, control.request, args=("stop",))
        timer.start()
        try:
            result = run_worker(config, None, control)
        finally:
            timer.cancel()
    assert 0 < result.opened < 50
    assert result.failed == 0 and result.errors == 0 and result.error_samples == []
    assert result.not_opened == 50 - result.opened
    assert result.messages == 0 and not result.series  # the window never started


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="Linux /proc only")
def test_peak_rss_is_not_inherited_from_a_large_parent() -> None:
    """
    A worker started by a parent that once held 300 MiB reports its own peak, not the parent's
    (getrusage's ru_maxrss survives exec; VmHWM doesn't).
    """
    from fastws.cli.stats import peak_rss_bytes

    parent = (
        "import subprocess, sys\n"
        "block = bytearray(300 * 2**20); block[::4096] = b'x' * len(block[::4096]); del block\n"
        "child = 'from fastws.cli.stats import peak_rss_bytes; print(peak_rss_bytes())'\n"
        "print(subprocess.run([sys.executable, '-c', child], capture_output=True, text=True,"
        " timeout=30).stdout.strip())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", parent], capture_output=True, text=True, timeout=40
    )
    assert done.returncode == 0, done.stderr
    assert 0 < int(done.stdout) < 100 * 2**20
    assert peak_rss_bytes() >= 10 * 2**20  # this process: a real figure
