"""
Tests for ``fastws.locust``: ``examples/locustfile.py`` run by Locust against a local echo server.

Importing Locust monkey-patches the standard library with gevent, so this file imports neither
Locust nor ``fastws.locust``: every Locust process is a subprocess (so coverage doesn't see
``fastws/locust.py``, which the README's coverage command omits). The echo server is a websockets
server in a thread of the test process, on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = ROOT / "examples" / "locustfile.py"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("locust") is None, reason="needs locust (the test extra has it)"
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def echo_url() -> Iterator[str]:
    """A websockets echo server (no compression) in a thread; yields its ws:// URL."""
    loop = asyncio.new_event_loop()
    started: list[int] = []
    ready = threading.Event()
    stop = asyncio.Event()

    async def echo(websocket: ServerConnection) -> None:
        try:
            async for message in websocket:
                await websocket.send(message)
        except ConnectionClosed:  # the client closed with an echo in flight (users stopping)
            pass

    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0, compression=None) as server:
            started.append(server.sockets[0].getsockname()[1])
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        assert ready.wait(10), "echo server didn't start"
        yield f"ws://127.0.0.1:{started[0]}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def locust_env(**extra: str) -> dict[str, str]:
    """The environment of the Locust processes: this checkout importable, no coverage hooks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COV_CORE_", "COVERAGE_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_locust(commands: list[list[str]], env: dict[str, str], timeout: float) -> list[str]:
    """
    Start every command (the first one decides when the run is over), wait for all of them,
    and return their outputs; processes still running at the end are killed by PID.
    """
    procs: list[subprocess.Popen[str]] = []
    try:
        for command in commands:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "locust", *command],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        outputs = []
        for proc in procs:
            out, _ = proc.communicate(timeout=timeout)
            outputs.append(f"$ locust {' '.join(proc.args[3:])}\n{out}")
        for proc in procs:
            assert proc.returncode == 0, "\n\n".join(outputs)
        return outputs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            if proc.stdout is not None:
                proc.stdout.close()


def read_stats(prefix: Path) -> dict[str, dict[str, str]]:
    """Rows of Locust's ``PREFIX_stats.csv``, by name."""
    with open(f"{prefix}_stats.csv", newline="") as file:
        return {row["Name"]: row for row in csv.DictReader(file)}


def check_stats(prefix: Path, users: int, outputs: list[str]) -> None:
    """Every user connected once, echo round trips were recorded, and nothing failed."""
    context = "\n\n".join(outputs)
    stats = read_stats(prefix)
    assert stats["connect"]["Type"] == "WS", context
    assert int(stats["connect"]["Request Count"]) == users, context
    assert int(stats["echo"]["Request Count"]) > 100, context
    assert int(stats["Aggregated"]["Failure Count"]) == 0, context
    # Response times keep their sub-millisecond part (perf_counter in the loop thread).
    average = float(stats["echo"]["Average Response Time"])
    assert 0 < average < 1000 and average != int(average), context
    with open(f"{prefix}_exceptions.csv", newline="") as file:
        assert len(list(csv.reader(file))) <= 1, context  # only the header


@pytest.mark.timeout(150)
def test_distributed_run(echo_url: str, tmp_path: Path) -> None:
    """A master and two workers run examples/locustfile.py; the master's CSV has the results."""
    port = free_port()
    prefix = tmp_path / "run"
    master = [
        "-f", str(LOCUSTFILE), "--headless", "--master",
        "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
        "--expect-workers", "2", "--expect-workers-max-wait", "60",
        "-u", "20", "-r", "20", "-t", "4s",
        "--csv", str(prefix), "--host", echo_url, "--only-summary",
    ]  # fmt: skip
    worker = [
        "-f", str(LOCUSTFILE), "--worker",
        "--master-host", "127.0.0.1", "--master-port", str(port),
    ]  # fmt: skip
    outputs = run_locust([master, worker, worker], locust_env(), timeout=120)
    check_stats(prefix, 20, outputs)
    # Each worker said which loop it ran (uvloop is a test dependency).
    for output in outputs[1:]:
        assert "uvloop event loop running in its own thread" in output, output


@pytest.mark.timeout(120)
def test_asyncio_loop(echo_url: str, tmp_path: Path) -> None:
    """The stdlib asyncio loop (FASTWS_LOCUST_LOOP=asyncio) works under gevent's patching too."""
    prefix = tmp_path / "run"
    command = [
        "-f", str(LOCUSTFILE), "--headless", "-u", "5", "-r", "5", "-t", "3s",
        "--csv", str(prefix), "--host", echo_url, "--only-summary",
    ]  # fmt: skip
    outputs = run_locust([command], locust_env(FASTWS_LOCUST_LOOP="asyncio"), timeout=90)
    check_stats(prefix, 5, outputs)
    assert "asyncio event loop running in its own thread" in outputs[0], outputs[0]


def test_import_fastws_imports_no_locust() -> None:
    """``import fastws`` (and its asyncio client) never imports Locust or gevent."""
    code = (
        "import sys, fastws; fastws.connect; import fastws.asyncio.client; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=locust_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


SEND_RECV_LOCUSTFILE = '''
from locust import constant, task
from fastws.locust import WebSocketUser

class SendRecvUser(WebSocketUser):
    wait_time = constant(0)
    connect_kwargs = {"compression": None}

    @task
    def send_then_recv(self):
        self.client.send("x" * 300, name="send")
        assert self.client.recv(name="recv", timeout=10) == "x" * 300
'''


@pytest.mark.timeout(120)
def test_send_and_recv_report_separately(echo_url: str, tmp_path: Path) -> None:
    """send() and recv() each report a request: the message sent's length, the reply's."""
    locustfile = tmp_path / "sendrecv.py"
    locustfile.write_text(SEND_RECV_LOCUSTFILE)
    prefix = tmp_path / "run"
    command = [
        "-f", str(locustfile), "--headless", "-u", "2", "-r", "2", "-t", "2s",
        "--csv", str(prefix), "--host", echo_url, "--only-summary",
    ]  # fmt: skip
    outputs = run_locust([command], locust_env(), timeout=90)
    stats = read_stats(prefix)
    context = "\n\n".join(outputs)
    assert int(stats["send"]["Request Count"]) > 10, context
    assert int(stats["recv"]["Request Count"]) > 10, context
    assert float(stats["send"]["Average Content Size"]) == 300, context
    assert float(stats["recv"]["Average Content Size"]) == 300, context
    assert int(stats["Aggregated"]["Failure Count"]) == 0, context
