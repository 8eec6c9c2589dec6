"""
Run the soak: the chaos server (a subprocess), the consumer (a subprocess, on the chosen loop),
then the referee. Every step is bounded: the whole run ends by itself within
``minutes`` + about 2 minutes.

::

    python -m tests.soak.run --minutes 5 --connections 200 --loop asyncio --seed 1
    python -m tests.soak.run --minutes 0.5 --connections 50 --loop uvloop --profile ci
    python -m tests.soak.run ... --set stall_max=4 --set ping_interval=20 --no-keepalive
    python -m tests.soak.run ... --tracemalloc 1     # snapshots + tracemalloc.txt

Output directory (``--out``, default ``/tmp/fastws-soak/<loop>-<N>c-<minutes>m-s<seed>-<time>``):
``params.json``, ``server.jsonl``, ``consumer.jsonl``, ``samples.jsonl``, ``referee.json``,
``server.err``, ``consumer.err``. Exit status: the referee's (0 = no violation).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .common import PROFILES, Params
from .referee import Referee

ROOT = Path(__file__).resolve().parents[2]


def _value(field: dataclasses.Field[Any], text: str) -> Any:
    kind = type(getattr(Params(), field.name))
    if kind is bool:
        return text.lower() in ("1", "true", "yes", "on")
    return kind(text)


def make_params(args: argparse.Namespace) -> Params:
    values: dict[str, Any] = dict(PROFILES[args.profile])
    values.update(minutes=args.minutes, connections=args.connections, loop=args.loop,
                  seed=args.seed, keepalive=not args.no_keepalive,
                  tracemalloc=args.tracemalloc)
    fields = {f.name: f for f in dataclasses.fields(Params)}
    for item in args.set:
        name, _, text = item.partition("=")
        if name not in fields:
            raise SystemExit(f"unknown parameter {name!r}; see tests/soak/common.py")
        values[name] = _value(fields[name], text)
    return Params(**values)


def _stop(proc: subprocess.Popen[bytes], grace: float) -> str:
    """SIGTERM, then SIGKILL after ``grace`` seconds: how it ended."""
    if proc.poll() is not None:
        return f"exited {proc.returncode}"
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
        return f"terminated {proc.returncode}"
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "killed"


def run(params: Params, out: Path, server_uvloop: bool = False, quiet: bool = False) -> int:
    """One soak run into ``out``; returns the referee's exit status."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "params.json").write_text(json.dumps(params.to_json(), indent=2) + "\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    started = time.monotonic()
    server_cmd = [sys.executable, "-m", "tests.soak.chaos_server", "--params",
                  str(out / "params.json"), "--log", str(out / "server.jsonl"),
                  "--max-seconds", str(params.duration + 120)]
    if server_uvloop:
        server_cmd.append("--uvloop")
    with (out / "server.err").open("wb") as server_err, \
            (out / "consumer.err").open("wb") as consumer_err:
        server = subprocess.Popen(server_cmd, cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=server_err)
        try:
            assert server.stdout is not None
            ready, _, _ = select.select([server.stdout], [], [], 30)
            line = server.stdout.readline().decode() if ready else ""
            if not line.startswith("PORT "):
                raise RuntimeError(f"chaos server did not start: {line!r} (see server.err)")
            url = f"ws://127.0.0.1:{int(line.split()[1])}/feed"
            if not quiet:
                print(f"soak: server {url} (pid {server.pid}), {params.connections} "
                      f"connections on {params.loop} for {params.minutes:g} min -> {out}",
                      flush=True)
            consumer = subprocess.Popen(
                [sys.executable, "-m", "tests.soak.consumer", "--params",
                 str(out / "params.json"), "--url", url, "--out", str(out)],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=consumer_err,
                stderr=consumer_err,
            )
            if not quiet:
                print(f"soak: consumer pid {consumer.pid}", flush=True)
            # The consumer stops by itself after the run; allow its shutdown and snapshots.
            limit = params.duration + 90 + 6 * params.close_timeout
            try:
                consumer.wait(limit)
                consumer_end = f"exited {consumer.returncode}"
            except subprocess.TimeoutExpired:
                consumer_end = "killed after " + _stop(consumer, 10)
        finally:
            if server.stdin is not None:
                server.stdin.close()
            server_end = _stop(server, 15)
    (out / "run.json").write_text(json.dumps(
        {"consumer": consumer_end, "server": server_end,
         "wall_seconds": round(time.monotonic() - started, 1)}, indent=2) + "\n")
    if not quiet:
        print(f"soak: consumer {consumer_end}, server {server_end}, "
              f"{time.monotonic() - started:.0f} s", flush=True)
    return Referee(out).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--no-keepalive", action="store_true",
                        help="ping_interval=None (and no blackhole fate)")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                        help="trace allocations with this many frames (0: off)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a parameter of tests/soak/common.py:Params")
    parser.add_argument("--server-uvloop", action="store_true", help="run the server on uvloop")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    params = make_params(args)
    out = args.out or Path("/tmp/fastws-soak") / (
        f"{params.loop}-{params.connections}c-{params.minutes:g}m-s{params.seed}-"
        f"{time.strftime('%Y%m%d-%H%M%S')}"
    )
    return run(params, out, server_uvloop=args.server_uvloop)


if __name__ == "__main__":
    sys.exit(main())
