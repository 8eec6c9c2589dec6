#!/usr/bin/env python3
"""Autobahn|Testsuite client driver for fastws (``wstest -m fuzzingserver``).

The driver is written against the websockets 10.x client API, through
``import fastws as websockets``, exactly as an application would use it:

1. ``URL/getCaseCount``: read one text message, the number of cases N;
2. ``URL/runCase?case=n&agent=AGENT`` for n = 1..N: echo every message back
   unchanged (a ``str`` is sent back as text, ``bytes`` as binary) until the
   server closes the connection;
3. ``URL/updateReports?agent=AGENT``: the server writes its reports and closes.

Every step has a time limit, and an exception raised inside a case (the
expected outcome of the many protocol-violation cases) is recorded and the
loop moves on to the next case.

``--impl websockets`` runs the same loop with the installed websockets'
legacy client (``websockets.legacy.client.connect``, the websockets 10.x
implementation that websockets 17 still ships), to validate the pipeline and
to compare against.

Usage::

    fastws_client.py [options] URL [AGENT]

It plugs into ../shared/conformance/autobahn/run_client_suite.sh, which runs
``CLIENT URL AGENT`` and passes the optional settings through the environment:
AUTOBAHN_CASE_TIMEOUT, AUTOBAHN_TOTAL_TIMEOUT, AUTOBAHN_COMPRESSION (1/0),
AUTOBAHN_CLIENT_LOG (one JSON line per case) and AUTOBAHN_CLIENT_STATS (JSON:
timings and this process's CPU time). compliance/run.sh wraps all of this.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
import urllib.parse
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

# The largest Autobahn messages are 16 MiB (9.1.6, 9.2.6): leave room.
MAX_SIZE = 2**25
# Messages buffered before reading pauses (websockets 10.x default: 32).
MAX_QUEUE = 32
# getCaseCount is instant; updateReports answers the handshake only after all
# reports are written (a few seconds for ~500 cases; be generous).
CONTROL_TIMEOUT = 30.0
REPORT_TIMEOUT = 600.0


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value in ("1", "on", "yes", "true")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Autobahn|Testsuite fuzzingserver client driver for fastws."
    )
    parser.add_argument("url", nargs="?", default=os.environ.get("AUTOBAHN_URL"),
                        help="fuzzing server, e.g. ws://127.0.0.1:9001")
    parser.add_argument("agent", nargs="?", default=os.environ.get("AUTOBAHN_AGENT"),
                        help="agent name in the reports (default: <impl>-<version>)")
    parser.add_argument("--impl", choices=("fastws", "websockets"), default="fastws",
                        help="fastws (default) or the installed websockets' legacy client")
    parser.add_argument("--compression", choices=("on", "off"),
                        default="on" if _env_flag("AUTOBAHN_COMPRESSION", True) else "off",
                        help="offer permessage-deflate (compression='deflate') or not")
    parser.add_argument("--max-size", type=int, default=MAX_SIZE)
    parser.add_argument("--max-queue", type=int, default=MAX_QUEUE)
    parser.add_argument("--case-timeout", type=float,
                        default=float(_env("AUTOBAHN_CASE_TIMEOUT", "60")))
    parser.add_argument("--total-timeout", type=float,
                        default=float(_env("AUTOBAHN_TOTAL_TIMEOUT", "3600")))
    parser.add_argument("--log", default=os.environ.get("AUTOBAHN_CLIENT_LOG"),
                        help="write one JSON line per case here")
    parser.add_argument("--stats", default=os.environ.get("AUTOBAHN_CLIENT_STATS"),
                        help="write timings and CPU time (JSON) here")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print every case's client-side outcome")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("the fuzzing server URL is required (argument or AUTOBAHN_URL)")
    return args


def load_connect(impl: str) -> tuple[Callable[..., Any], str]:
    """Return (connect, default agent name) for the implementation under test."""
    if impl == "websockets":
        # websockets >= 17 refuses messages of more than WEBSOCKETS_MAX_FRAGMENTS
        # frames (default 4096), which fails 9.3.x / 9.4.x. The variable is read
        # at import time. websockets 10.x has no such cap.
        os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", str(2**20))
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        import websockets
        from websockets.legacy.client import connect

        return connect, f"websockets-legacy-{websockets.__version__}"

    import fastws as websockets

    return websockets.connect, f"fastws-{websockets.__version__}"


class Driver:
    def __init__(self, connect: Callable[..., Any], args: argparse.Namespace) -> None:
        self.connect = connect
        self.args = args
        self.base = args.url.rstrip("/")
        self.agent_q = urllib.parse.quote(args.agent, safe="")
        # Keepalive pings are not part of any case: leave them out.
        self.control_kw: dict[str, Any] = {"compression": None, "ping_interval": None}
        self.echo_kw: dict[str, Any] = {
            "compression": "deflate" if args.compression == "on" else None,
            "max_size": args.max_size,
            "max_queue": args.max_queue,
            "ping_interval": None,
        }

    async def get_case_count(self) -> int:
        async with self.connect(f"{self.base}/getCaseCount", **self.control_kw) as ws:
            return int(json.loads(await ws.recv()))

    async def echo(self, case: int) -> None:
        url = f"{self.base}/runCase?case={case}&agent={self.agent_q}"
        async with self.connect(url, **self.echo_kw) as ws:
            async for message in ws:
                await ws.send(message)

    async def update_reports(self) -> None:
        url = f"{self.base}/updateReports?agent={self.agent_q}"
        async with self.connect(url, open_timeout=REPORT_TIMEOUT, **self.control_kw) as ws:
            await ws.wait_closed()

    async def run(self) -> int:
        args = self.args
        loop = asyncio.get_running_loop()
        deadline = loop.time() + args.total_timeout
        count = await asyncio.wait_for(self.get_case_count(), CONTROL_TIMEOUT)
        print(f"[fastws_client] impl={args.impl} agent={args.agent} cases={count} "
              f"compression={args.compression} max_size={args.max_size} "
              f"max_queue={args.max_queue}", flush=True)

        outcomes: Counter[str] = Counter()
        durations: list[tuple[float, int]] = []
        complete = True
        log = open(args.log, "w", encoding="utf-8") if args.log else None
        t_start = time.perf_counter()
        try:
            for case in range(1, count + 1):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    print(f"[fastws_client] total timeout: stopped before case {case}",
                          file=sys.stderr, flush=True)
                    complete = False
                    break
                t0 = time.perf_counter()
                detail = ""
                try:
                    await asyncio.wait_for(self.echo(case), min(args.case_timeout, remaining))
                    outcome = "ok"
                except asyncio.TimeoutError:
                    outcome = "TIMEOUT"
                except Exception as exc:  # a protocol error is what many cases expect
                    outcome = type(exc).__name__
                    detail = str(exc)[:200]
                seconds = time.perf_counter() - t0
                outcomes[outcome] += 1
                durations.append((seconds, case))
                if log is not None:
                    log.write(json.dumps({"case": case, "outcome": outcome, "detail": detail,
                                          "seconds": round(seconds, 4)}) + "\n")
                if args.verbose or outcome == "TIMEOUT":
                    print(f"[fastws_client] case {case}/{count} {seconds:.3f}s {outcome} {detail}",
                          flush=True)
                elif case % 100 == 0:
                    print(f"[fastws_client] {case}/{count} cases in "
                          f"{time.perf_counter() - t_start:.1f}s", flush=True)
        finally:
            if log is not None:
                log.close()
        cases_seconds = time.perf_counter() - t_start
        durations.sort(reverse=True)
        print(f"[fastws_client] {sum(outcomes.values())} cases in {cases_seconds:.1f}s; "
              f"client-side outcomes {dict(outcomes)}; slowest (case:s) "
              + ", ".join(f"{c}:{s:.2f}" for s, c in durations[:6]), flush=True)

        t0 = time.perf_counter()
        await asyncio.wait_for(self.update_reports(), REPORT_TIMEOUT + 30)
        report_seconds = time.perf_counter() - t0
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(f"[fastws_client] updateReports in {report_seconds:.1f}s; CPU "
              f"user {usage.ru_utime:.1f}s sys {usage.ru_stime:.1f}s", flush=True)
        if args.stats:
            with open(args.stats, "w", encoding="utf-8") as f:
                json.dump({"impl": args.impl, "cases": sum(outcomes.values()),
                           "cases_seconds": round(cases_seconds, 3),
                           "update_reports_seconds": round(report_seconds, 3),
                           "cpu_user_seconds": round(usage.ru_utime, 3),
                           "cpu_sys_seconds": round(usage.ru_stime, 3),
                           "outcomes": dict(outcomes)}, f, indent=1)
        return 0 if complete else 3


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    connect, default_agent = load_connect(args.impl)
    args.agent = args.agent or default_agent
    return asyncio.run(Driver(connect, args).run())


if __name__ == "__main__":
    sys.exit(main())
