"""
Locust echo benchmark: fastws.locust (examples/locustfile.py) vs a blocking client.

    python3 -m pip install -e ".[locust]" websocket-client
    python3 benchmarks/locust_compare.py                     # 20 users, 20 s, 1 worker
    python3 benchmarks/locust_compare.py --users 50 --duration 30 --workers 2 --rounds 2

Starts one echo server (websockets, no compression, uvloop when installed) on 127.0.0.1 in a
subprocess, then for each variant a Locust master and ``--workers`` workers on the same
scenario: ``--users`` users, each on one connection, sending a ``--size``-character text message
and waiting for its echo, back to back. The variants:

- ``fastws``: examples/locustfile.py, uvloop loop thread (``FASTWS_LOCUST_LOOP=uvloop``);
- ``fastws-asyncio``: the same, stdlib asyncio loop thread;
- ``fastws-run-x100``: benchmarks/locust_fastws_run.py, 100 round trips per Locust task in one
  coroutine on the loop thread (``client.run``, ``client.report``), uvloop;
- ``websocket-client``: benchmarks/locust_blocking.py, ``websocket.create_connection`` at its
  defaults (pure-Python UTF-8 validation of received text);
- ``websocket-client+skip-utf8``: the same with ``skip_utf8_validation=True``.

benchmarks/locust_probe.py, loaded into each worker, counts the round trips and the worker
process's user+system CPU (all its threads) from test start to test stop: CPU per round trip is
their ratio, over all workers; round trips/s is the sum over workers of round trips / window.
Latencies are the master's (Locust's CSV: average exact, percentiles in Locust's buckets: whole
milliseconds below 100 ms). Server CPU per round trip is the echo server's CPU over the whole
run (psutil), divided by the round trips. Every process is killed by PID at the end; each run is
bounded by ``--duration`` + 120 s. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]

VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "fastws": ("examples/locustfile.py", {"FASTWS_LOCUST_LOOP": "uvloop"}),
    "fastws-asyncio": ("examples/locustfile.py", {"FASTWS_LOCUST_LOOP": "asyncio"}),
    "fastws-run-x100": ("benchmarks/locust_fastws_run.py", {"FASTWS_LOCUST_LOOP": "uvloop"}),
    "websocket-client": ("benchmarks/locust_blocking.py", {}),
    "websocket-client+skip-utf8": ("benchmarks/locust_blocking.py", {"WSCLIENT_SKIP_UTF8": "1"}),
}

SERVER = """
import asyncio
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

async def echo(websocket):
    try:
        async for message in websocket:
            await websocket.send(message)
    except ConnectionClosed:  # the client closed with an echo in flight (users stopping)
        pass

async def main():
    async with serve(echo, "127.0.0.1", 0, compression=None, max_queue=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

try:
    import uvloop
except ImportError:
    asyncio.run(main())
else:
    uvloop.run(main())
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop(proc: subprocess.Popen[Any]) -> None:
    """Kill ``proc`` (by its PID) if it still runs, and reap it."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def run_variant(
    name: str, url: str, server: psutil.Process, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    """One Locust run (master + workers) of variant ``name``; returns its measurements."""
    locustfile, extra_env = VARIANTS[name]
    probe_dir = workdir / f"{name}-probe"
    probe_dir.mkdir()
    prefix = workdir / name
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COV_CORE_", "COVERAGE_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra_env, LOCUST_PROBE_DIR=str(probe_dir), ECHO_SIZE=str(args.size))
    files = f"{locustfile},benchmarks/locust_probe.py"
    port = free_port()
    master = [
        "-f", files, "--headless", "--master",
        "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
        "--expect-workers", str(args.workers), "--expect-workers-max-wait", "60",
        "-u", str(args.users), "-r", str(args.users), "-t", f"{args.duration}s",
        "--csv", str(prefix), "--host", url, "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    worker = [
        "-f", files, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port),
        "--loglevel", "WARNING",
    ]  # fmt: skip
    server_cpu = server.cpu_times()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for command in [master] + [worker] * args.workers:
            with open(workdir / f"{name}-{len(procs)}.log", "wb") as log:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "locust", *command],
                        cwd=ROOT,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=log,
                    )
                )
        deadline = time.monotonic() + args.duration + 120
        for proc in procs:
            proc.wait(max(1.0, deadline - time.monotonic()))
    finally:
        for proc in procs:
            stop(proc)
    server_cpu_after = server.cpu_times()
    server_cpu_s = (server_cpu_after.user - server_cpu.user) + (
        server_cpu_after.system - server_cpu.system
    )
    probes = [json.loads(path.read_text()) for path in sorted(probe_dir.glob("*.json"))]
    if len(probes) != args.workers:
        logs = "\n".join(p.read_text() for p in sorted(workdir.glob(f"{name}-*.log")))
        raise RuntimeError(f"{name}: {len(probes)} probe results of {args.workers}\n{logs}")
    with open(f"{prefix}_stats.csv", newline="") as file:
        echo = next(row for row in csv.DictReader(file) if row["Name"] == "echo")
    requests = sum(p["requests"] for p in probes)
    return {
        "variant": name,
        "round_trips": requests,
        "rate": sum(p["requests"] / p["wall_s"] for p in probes),
        "cpu_us": 1e6 * sum(p["cpu_s"] for p in probes) / max(requests, 1),
        "cpu_util": sum(p["cpu_s"] / p["wall_s"] for p in probes),
        "server_us": 1e6 * server_cpu_s / max(requests, 1),
        "avg_ms": float(echo["Average Response Time"]),
        "p50_ms": echo["50%"],
        "p99_ms": echo["99%"],
        "failures": int(echo["Failure Count"]) + sum(p["failures"] for p in probes),
    }


def main() -> None:
    """Parse the options, run every variant, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=int, default=20, help="seconds per run")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--size", type=int, default=256, help="message size, characters")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each variant, in turns")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    args = parser.parse_args()
    names = args.variants.split(",")
    for name in names:
        if name not in VARIANTS:
            parser.error(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")

    server_proc = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
    )
    rows = []
    try:
        assert server_proc.stdout is not None
        url = f"ws://127.0.0.1:{int(server_proc.stdout.readline())}"
        server = psutil.Process(server_proc.pid)
        with tempfile.TemporaryDirectory(prefix="locust-compare-") as tmp:
            for round_ in range(args.rounds):
                for name in names:
                    workdir = Path(tmp) / f"round{round_}"
                    workdir.mkdir(exist_ok=True)
                    rows.append(run_variant(name, url, server, args, workdir))
                    print(f"# {rows[-1]}", file=sys.stderr, flush=True)
    finally:
        stop(server_proc)

    print(
        f"Locust {version('locust')}, websocket-client {version('websocket-client')}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs; "
        f"{args.users} users, {args.duration} s, {args.workers} worker(s), "
        f"{args.size}-character text echo, websockets echo server on 127.0.0.1.\n"
    )
    print(
        "| client | round trips/s | worker CPU µs / round trip | worker CPU (cores) "
        "| server CPU µs / round trip | avg ms | p50 ms | p99 ms | failures |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['variant']} | {row['rate']:,.0f} | {row['cpu_us']:.1f} "
            f"| {row['cpu_util']:.2f} | {row['server_us']:.1f} | {row['avg_ms']:.2f} "
            f"| {row['p50_ms']} | {row['p99_ms']} | {row['failures']} |"
        )


if __name__ == "__main__":
    main()
