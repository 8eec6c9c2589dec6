"""Tests for fastws.cli.server.EmbeddedServer: the choice of event loop and SO_REUSEPORT processes."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import socket
import sys
from collections.abc import Iterator

import pytest

import fastws
from fastws.cli import server
from fastws.cli.server import EmbeddedServer, ServerError

LINUX = sys.platform.startswith("linux")


def loaded_uvloop(pid: int) -> bool:
    """Whether the process has uvloop's compiled loop mapped (Linux)."""
    with open(f"/proc/{pid}/maps") as maps:
        return any("uvloop" in line and "loop." in line for line in maps)


def sockets(pid: int) -> int:
    """Number of sockets the process holds (Linux)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
    return count


@contextlib.contextmanager
def started(srv: EmbeddedServer) -> Iterator[EmbeddedServer]:
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_default_is_uvloop_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert importlib.util.find_spec("uvloop") is not None  # a test dependency
    srv = EmbeddedServer()
    assert srv.uvloop is True and srv.processes == 1
    command = srv.command()
    assert command[-2:] == ["--loop", "uvloop"] and "--reuse-port" not in command
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert EmbeddedServer().uvloop is False
    assert EmbeddedServer(uvloop=True).uvloop is True


def test_forced_asyncio_command() -> None:
    srv = EmbeddedServer(uvloop=False, processes=3)
    assert srv.command() == [
        sys.executable, "-m", server.SERVER_MODULE, "--host", "127.0.0.1", "--port", "0",
        "--loop", "asyncio", "--reuse-port",
    ]  # fmt: skip
    assert srv.command(4321)[6] == "4321"


def test_processes_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        EmbeddedServer(processes=0)


@pytest.mark.timeout(30)
@pytest.mark.skipif(not LINUX, reason="reads /proc")
@pytest.mark.parametrize("uvloop", [True, False])
def test_server_runs_on_the_chosen_loop(uvloop: bool) -> None:
    with started(EmbeddedServer(uvloop=uvloop)) as srv:
        assert srv.pid is not None
        assert loaded_uvloop(srv.pid) is uvloop


async def echo_connections(url: str, n: int) -> list[fastws.WebSocketClientProtocol]:
    """Open n echo connections, each checked with one round trip."""
    connections = []
    for i in range(n):
        ws = await fastws.connect(url)
        await ws.send(f"hello {i}")
        assert await ws.recv() == f"hello {i}"
        connections.append(ws)
    return connections


@pytest.mark.timeout(40)
@pytest.mark.skipif(not LINUX or not hasattr(socket, "SO_REUSEPORT"), reason="Linux only")
def test_reuse_port_processes_share_the_connections() -> None:
    """Two processes listen on one port; 20 connections reach both (odds of not: 2**-19)."""
    with started(EmbeddedServer(processes=2)) as srv:
        pids = srv.pids
        assert len(set(pids)) == 2 and srv.pid == pids[0]
        before = {pid: sockets(pid) for pid in pids}

        async def main() -> None:
            connections = await echo_connections(srv.url("/echo"), 20)
            try:
                # Every handshake is answered, so every server socket exists now.
                after = {pid: sockets(pid) for pid in pids}
                assert sum(after[pid] - before[pid] for pid in pids) == 20
                assert all(after[pid] > before[pid] for pid in pids)
            finally:
                await asyncio.gather(*(ws.close() for ws in connections))

        asyncio.run(asyncio.wait_for(main(), 20))
    assert srv.pids == [] and srv.pid is None
    for pid in pids:  # reaped: gone from the process table
        assert not os.path.exists(f"/proc/{pid}")


@pytest.mark.timeout(30)
def test_failing_second_process_stops_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    srv = EmbeddedServer(processes=2)
    real = srv.command
    started_pids: list[int] = []

    def command(port: int = 0) -> list[str]:
        if port == 0:
            return real(port)
        started_pids.extend(srv.pids)  # the first one, running
        return [sys.executable, "-c", "import sys; sys.exit('no second server today')"]

    monkeypatch.setattr(srv, "command", command)
    with pytest.raises(ServerError, match="failed to start: no second server today"):
        srv.start()
    assert srv.pids == [] and len(started_pids) == 1
    assert not os.path.exists(f"/proc/{started_pids[0]}")
    srv.stop()  # idempotent
