"""
End-to-end benchmark: fastws and its peers on the same work, on asyncio and uvloop (issue #4).

    python benchmarks/e2e.py                 # every scenario, client and loop; 3 runs; medians
    python benchmarks/e2e.py --quick         # smoke test: small counts, 1 run (< 60 s)
    python benchmarks/e2e.py --scenarios recv_100,echo_256 --clients fastws,aiohttp --loops uvloop

The server is ``fastws.tools.feedserver`` on uvloop, in a separate process started here and
stopped by PID at the end: pre-built frames written in big batches, client frames skipped or
unmasked in C (websockets' speedups), so that it costs the shared 2 cores as little as possible.
Each cell (scenario x client x loop x run) runs in a client process of its own
(``benchmarks/e2e/client.py``) so that its CPU time and RSS are its own; runs are interleaved
(run 1 of every cell, then run 2, ...) so that a noisy neighbour hits every client alike.
``--quick`` runs all the scenarios of one client and loop in one process instead.

Results: a markdown table per scenario in ``benchmarks/results/e2e-<date>.md`` and every run's
figures in ``e2e-<date>.json`` beside it (``-quick`` appended for --quick runs).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import resource
import select
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLIENT_SCRIPT = Path(__file__).resolve().parent / "e2e" / "client.py"
RESULTS = Path(__file__).resolve().parent / "results"

ALL_CLIENTS = ("fastws", "websockets", "aiohttp", "picows", "raw")
# Extra, labelled rows: the same clients with tuned settings (benchmarks/e2e/client.py WS_TUNED).
TUNED_CLIENTS = ("fastws+tuned", "websockets+tuned", "aiohttp+tuned")
# Extra, labelled row, send and echo scenarios only: the least Python work per message a
# pure-Python client can do (benchmarks/e2e/client.py Floor), to show where pure Python's floor is.
FLOOR_CLIENTS = ("floor",)
EXTRA_CLIENTS = TUNED_CLIENTS + FLOOR_CLIENTS
LOOPS = ("uvloop", "asyncio")

KiB, MiB = 1024, 1024 * 1024

# name -> spec; "clients" limits the clients; counts are sized for a few seconds per run.
SCENARIOS: dict[str, dict[str, Any]] = {
    "recv_100": dict(
        kind="recv", size=100, count=1_000_000, text=True, title="receive 100 B text messages"
    ),
    "recv_1k": dict(
        kind="recv", size=KiB, count=200_000, text=True, title="receive 1 KiB text messages"
    ),
    "recv_64k": dict(
        kind="recv", size=64 * KiB, count=20_000, text=False, title="receive 64 KiB binary messages"
    ),
    "recv_100_deflate": dict(
        kind="recv",
        size=100,
        count=200_000,
        text=True,
        deflate=True,
        clients=("fastws", "websockets", "aiohttp"),
        title="receive 100 B text messages, permessage-deflate",
    ),
    "echo_256": dict(
        kind="echo",
        size=256,
        count=20_000,
        warmup=100,
        title="echo round trips, 256 B binary, one in flight",
    ),
    "echo_8k": dict(
        kind="echo",
        size=8 * KiB,
        count=20_000,
        warmup=100,
        title="echo round trips, 8 KiB binary, one in flight",
    ),
    "echo_1m": dict(
        kind="echo",
        size=MiB,
        count=500,
        warmup=10,
        title="echo round trips, 1 MiB binary, one in flight",
    ),
    "send_1k": dict(
        kind="send",
        size=KiB,
        count=200_000,
        title="send 1 KiB binary messages (to /sink, then the close handshake)",
    ),
    "send_1m": dict(
        kind="send",
        size=MiB,
        count=2_000,
        title="send 1 MiB binary messages (to /sink, then the close handshake)",
    ),
    "conn_10k": dict(
        kind="conns",
        conns=10_000,
        msgs=100,
        size=100,
        workers=100,
        phase_timeout=150,
        title="concurrent connections, each receiving 100 small messages, then idle",
    ),
}

QUICK_COUNTS: dict[str, dict[str, int]] = {
    "recv_100": dict(count=50_000),
    "recv_1k": dict(count=20_000),
    "recv_64k": dict(count=1_000),
    "recv_100_deflate": dict(count=10_000),
    "echo_256": dict(count=2_000, warmup=20),
    "echo_8k": dict(count=1_000, warmup=20),
    "echo_1m": dict(count=20, warmup=2),
    "send_1k": dict(count=20_000),
    "send_1m": dict(count=50),
    "conn_10k": dict(conns=300, phase_timeout=20),
}

# glibc malloc: a fixed mmap threshold (32 MiB, glibc's largest dynamic value) and a large trim
# threshold: big buffers come from the heap and are reused, instead of flipping between mmap'ed
# (page faults, zeroing) and heap chunks as the dynamic threshold moves: that flip is what makes
# big-message timings bimodal. "default" leaves glibc's dynamic behaviour.
MALLOC = {
    "heap": {"MALLOC_MMAP_THRESHOLD_": str(32 * MiB), "MALLOC_TRIM_THRESHOLD_": str(256 * MiB)},
    "default": {},
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def raise_nofile() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def child_env(malloc: str) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
        env.pop(var, None)
    env.update(MALLOC[malloc])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.pop("PYTHONASYNCIODEBUG", None)
    return env


def pinned(cpu: int | None) -> Any:
    """A preexec_fn that pins the child (all its threads) to one CPU, or None."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


class Server:
    """The feed server in its own process; stopped by PID."""

    def __init__(self, env: dict[str, str], cpu: int | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fastws.tools.feedserver", "--uvloop"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=ROOT,
            preexec_fn=pinned(cpu),
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"feed server didn't start (got {line!r})")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        proc = self.proc
        if proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.close()  # the server stops when its stdin closes ...
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.terminate()  # ... or on SIGTERM (by PID) ...
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()  # ... or SIGKILL
                    proc.wait()


def base_client(name: str) -> str:
    """The client a column runs: "fastws" for "fastws+tuned" and "fastws@REV"."""
    return name.split("+")[0].split("@")[0]


def baseline_tree(rev: str) -> tuple[str, Path]:
    """Extract fastws/ as of git revision ``rev`` into a temporary directory."""
    import tempfile

    short = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    tree = Path(tempfile.mkdtemp(prefix=f"fastws-{short}-"))
    archive = subprocess.run(
        ["git", "archive", short, "fastws"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return f"fastws@{short}", tree


def run_process(
    client: str,
    loop: str,
    scenarios: list[dict[str, Any]],
    port: int,
    env: dict[str, str],
    cpu: int | None = None,
) -> list[dict[str, Any]]:
    """Run scenarios in one client process; return one result per scenario (failed if absent)."""
    spec = dict(client=client, loop=loop, port=port, scenarios=scenarios)
    timeout = sum(sc["timeout"] for sc in scenarios) + 30
    proc = subprocess.Popen(
        [sys.executable, str(CLIENT_SCRIPT), json.dumps(spec)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
        preexec_fn=pinned(cpu),
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        reason = f"exit status {proc.returncode}"
    except subprocess.TimeoutExpired:
        proc.kill()  # by PID
        out, err = proc.communicate()
        reason = f"killed after {timeout} s"
    results: dict[str, dict[str, Any]] = {}
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("{"):
            res = json.loads(line)
            results[res["scenario"]] = res
    stderr_tail = err.decode(errors="replace").strip().splitlines()[-3:]
    final = []
    for sc in scenarios:
        res = results.get(sc["name"])
        if res is None:
            res = dict(
                scenario=sc["name"],
                client=client,
                loop=loop,
                ok=False,
                error=f"no result ({reason}): {' | '.join(stderr_tail)}"[:300],
            )
        final.append(res)
    return final


def scenario_specs(names: list[str], quick: bool, timeout: float) -> list[dict[str, Any]]:
    specs = []
    for name in names:
        sc = dict(SCENARIOS[name], name=name, timeout=timeout)
        if quick:
            sc.update(QUICK_COUNTS[name])
            sc["timeout"] = min(timeout, 30)
        if sc["kind"] == "conns":
            sc["timeout"] = sc["phase_timeout"] + 60
        specs.append(sc)
    return specs


def describe(sc: dict[str, Any]) -> str:
    if sc["kind"] == "conns":
        return f"{sc['conns']:,} connections × {sc['msgs']} × {sc['size']} B text"
    return f"{sc['count']:,} × {sc['size']:,} B"


# ----------------------------------------------------------------------------------------------
# Aggregation and output


def summarize(sc: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if r.get("ok")]
    summary: dict[str, Any] = dict(runs=len(runs), ok_runs=len(ok))
    if not ok:
        summary["error"] = runs[0].get("error", "failed") if runs else "not run"
        return summary
    if len(ok) < len(runs):
        summary["note"] = f"{len(runs) - len(ok)} of {len(runs)} runs failed: " + next(
            r.get("error", "") for r in runs if not r.get("ok")
        )
    med = statistics.median
    rates = [r["count"] / r["wall"] for r in ok]
    cpus = [r["cpu"] / r["count"] * 1e6 for r in ok]
    summary.update(
        msgs_per_s=med(rates),
        cpu_us=med(cpus),
        cpu_us_min=min(cpus),
        cpu_us_max=max(cpus),
        wall_s=med(r["wall"] for r in ok),
    )
    if sc["kind"] == "conns":
        summary.update(
            conns=med(r["conns"] for r in ok),
            conn_per_s=med(r["conns"] / r["wall"] for r in ok),
            cpu_us_per_conn=med(r["cpu"] / r["conns"] * 1e6 for r in ok),
            rss_kib_per_conn=med(r["rss_per_conn"] / 1024 for r in ok),
        )
    else:
        summary["mb_per_s"] = summary["msgs_per_s"] * sc["size"] / 1e6
    return summary


def fmt(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "—"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "—"
    return f"{a / b:.2f}"


def markdown(
    meta: dict[str, Any],
    specs: list[dict[str, Any]],
    table: dict[tuple[str, str, str], dict[str, Any]],
    clients: list[str],
    loops: list[str],
) -> str:
    lines = [f"# End-to-end benchmark — {meta['date']}", ""]
    lines += [
        f"Command: `{meta['command']}`  ",
        f"Mode: {meta['mode']}; medians of {meta['runs']} run(s) per cell.  ",
        f"Machine: {meta['machine']}  ",
        f"Versions: {meta['versions']}  ",
        f"Server: `fastws.tools.feedserver` on uvloop, separate process on the same cores "
        f"(client unmasking in C via websockets.speedups: {meta['server_c_mask']}).  ",
        f"malloc: {meta['malloc']}  ",
        f"RLIMIT_NOFILE (soft, hard): {meta['nofile']}  ",
        f"CPU pinning: {meta.get('pinning', 'none')}  ",
        f"Load: {meta.get('load', 'not recorded')}",
        "",
        "CPU µs/msg is the client process's user + system CPU time over the measured part "
        "(getrusage), per message (per round trip for echo). *fastws ÷ peer* is fastws' CPU per "
        "message divided by that client's, on the same loop: below 1.00, fastws spends less. "
        "MB/s counts payload bytes (10^6) in one direction. Every client runs with its "
        "default settings (fastws and websockets: `connect(url)`, which offers "
        "permessage-deflate: the server accepts it only in the deflate scenario; aiohttp: "
        "`ws_connect(url)`, plus `compress=15` in the deflate scenario); a `+tuned` column is "
        "an extra row with `max_queue=None, max_size=None, ping_interval=None` (aiohttp: "
        "`max_msg_size=0`). picows with a callback listener (default options: "
        "aiofastnet when installed), making each payload a str/bytes; raw = handshake, then a "
        "BufferedProtocol that only counts bytes (echo: sends the next pre-built frame; "
        "send: big batched writes of pre-built frames); floor (send and echo, an extra row) = "
        "the least a pure-Python client can do per message: a fresh key and "
        "`fastws.mask.masked_frame` per message sent, one write per 64 KiB of frames (send), "
        "each reply's payload cut out as bytes in the read callback (echo), no API around it.",
        "",
    ]
    # Headline ratios.
    lines += [
        "## Headline: fastws' client CPU per message ÷ the peer's (below 1.00: fastws cheaper)",
        "",
    ]
    peers = [c for c in ("aiohttp", "picows", "websockets", "raw", "floor") if c in clients]
    header = ["scenario"] + [f"÷ {p} ({loop})" for p in peers for loop in loops]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for sc in specs:
        row = [sc["name"]]
        for p in peers:
            for loop in loops:
                f = table.get((sc["name"], "fastws", loop), {})
                o = table.get((sc["name"], p, loop), {})
                key = "rss_kib_per_conn" if sc["kind"] == "conns" else "cpu_us"
                cell = ratio(f.get(key), o.get(key))
                if sc["kind"] == "conns" and cell != "—":
                    cell += " (RSS)"
                if "error" in f:
                    cell = "fastws failed"
                elif "error" in o:
                    cell = "peer failed" if (sc["name"], p, loop) in table else "—"
                row.append(cell)
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    # Compact: every client's CPU per message side by side.
    lines += [
        "## Client CPU µs per message (median; conn_10k: RSS KiB per connection)",
        "",
    ]
    header = ["scenario", "loop"] + clients + ["fastws msgs/s"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for sc in specs:
        key = "rss_kib_per_conn" if sc["kind"] == "conns" else "cpu_us"
        for loop in loops:
            row = [sc["name"], loop]
            for client in clients:
                s = table.get((sc["name"], client, loop))
                row.append("—" if s is None else "failed" if "error" in s else fmt(s[key]))
            f = table.get((sc["name"], "fastws", loop), {})
            row.append(fmt(f.get("msgs_per_s")))
            lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for sc in specs:
        lines += [f"## {sc['title']} (`{sc['name']}`: {describe(sc)})", ""]
        if sc["kind"] == "conns":
            cols = [
                "client",
                "loop",
                "connections",
                "conn/s",
                "RSS KiB/conn",
                "CPU µs/conn",
                "msgs/s",
                "fastws ÷ peer RSS",
                "fastws ÷ peer CPU",
                "runs",
            ]
        else:
            cols = [
                "client",
                "loop",
                "msgs/s",
                "MB/s",
                "CPU µs/msg (min–max)",
                "fastws ÷ peer CPU/msg",
                "wall s",
                "runs",
            ]
        lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for loop in loops:
            f = table.get((sc["name"], "fastws", loop), {})
            for client in clients:
                s = table.get((sc["name"], client, loop))
                if s is None:
                    continue
                runs = f"{s['ok_runs']}/{s['runs']}"
                if "error" in s:
                    lines.append(
                        f"| {client} | {loop} | **failed**: {s['error'][:160]} |"
                        + " |" * (len(cols) - 4)
                        + f" {runs} |"
                    )
                    continue
                spread = f"{fmt(s['cpu_us'])} ({fmt(s['cpu_us_min'])}–{fmt(s['cpu_us_max'])})"
                if sc["kind"] == "conns":
                    cells = [
                        client,
                        loop,
                        f"{s['conns']:,.0f}",
                        fmt(s["conn_per_s"]),
                        fmt(s["rss_kib_per_conn"]),
                        fmt(s["cpu_us_per_conn"]),
                        fmt(s["msgs_per_s"]),
                        ratio(f.get("rss_kib_per_conn"), s["rss_kib_per_conn"]),
                        ratio(f.get("cpu_us_per_conn"), s["cpu_us_per_conn"]),
                        runs,
                    ]
                else:
                    cells = [
                        client,
                        loop,
                        fmt(s["msgs_per_s"]),
                        fmt(s["mb_per_s"]),
                        spread,
                        ratio(f.get("cpu_us"), s["cpu_us"]),
                        f"{s['wall_s']:.2f}",
                        runs,
                    ]
                if "note" in s:
                    cells[-1] += f" ({s['note'][:120]})"
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def versions() -> str:
    out = [f"CPython {platform.python_version()}"]
    for dist in ("websockets", "aiohttp", "picows", "aiofastnet", "uvloop"):
        try:
            out.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{dist} (not installed)")
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "fastws"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        out.insert(0, f"fastws {rev}{' + uncommitted changes' if dirty else ''}")
    except (OSError, subprocess.SubprocessError):
        pass
    return ", ".join(out)


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per cell (median reported)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small counts, 1 run, one process per client and loop (smoke test)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of: {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--clients",
        default=",".join(ALL_CLIENTS),
        help=f"comma-separated subset of: {', '.join(ALL_CLIENTS + EXTRA_CLIENTS)} "
        "(the +tuned ones and floor are extra rows, not run by default; floor runs only the "
        "send scenarios and the echo ones up to 16 KiB)",
    )
    parser.add_argument("--loops", default=",".join(LOOPS), help="uvloop,asyncio")
    parser.add_argument(
        "--malloc",
        choices=sorted(MALLOC),
        default="heap",
        help="glibc malloc tuning in client and server processes (default: heap)",
    )
    parser.add_argument(
        "--pin",
        choices=("off", "split", "same"),
        default="off",
        help="CPU affinity: off (the scheduler's choice, default), split (server on the last "
        "CPU, clients on the first), same (both on the first CPU)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120,
        help="seconds per scenario run before the client process is killed",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="output path without extension (default: benchmarks/results/e2e-<date>)",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        metavar="REV",
        help="also run fastws as of git revision REV (a labelled `fastws@REV` column, from "
        "`git archive REV`): before/after in one run",
    )
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="JSON",
        help="only re-render the markdown of a saved results JSON (written beside it)",
    )
    args = parser.parse_args(argv)
    if args.render is not None:
        return render(args.render)

    names = [s for s in args.scenarios.split(",") if s]
    clients = [c for c in args.clients.split(",") if c]
    loops = [lp for lp in args.loops.split(",") if lp]
    for value, allowed, what in (
        (names, SCENARIOS, "scenario"),
        (clients, ALL_CLIENTS + EXTRA_CLIENTS, "client"),
        (loops, LOOPS, "loop"),
    ):
        bad = [v for v in value if v not in allowed]
        if bad:
            parser.error(f"unknown {what}: {', '.join(bad)}")
    runs = 1 if args.quick else args.runs
    specs = scenario_specs(names, args.quick, args.timeout)
    nofile = raise_nofile()
    env = child_env(args.malloc)
    envs = {c: env for c in clients}
    if args.baseline is not None:
        name, tree = baseline_tree(args.baseline)
        clients.insert(clients.index("fastws") + 1 if "fastws" in clients else 0, name)
        envs[name] = dict(env, PYTHONPATH=os.pathsep.join([str(tree), env["PYTHONPATH"]]))
    date = datetime.date.today().isoformat()
    output = args.output or RESULTS / f"e2e-{date}{'-quick' if args.quick else ''}"

    def clients_for(sc: dict[str, Any]) -> list[str]:
        # The floor's echo takes each reply from one read: small messages only.
        small_echo = sc["kind"] == "echo" and sc["size"] <= 16 * KiB
        floor = FLOOR_CLIENTS if sc["kind"] == "send" or small_echo else ()
        allowed = sc.get("clients", ALL_CLIENTS + floor)
        return [c for c in clients if base_client(c) in allowed]

    started = time.perf_counter()
    load_start = os.getloadavg()
    raw_runs: list[dict[str, Any]] = []
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, client_cpu = {
        "off": (None, None),
        "split": (cpus[-1], cpus[0]),
        "same": (cpus[0], cpus[0]),
    }[args.pin]
    server = Server(env, server_cpu)
    log(f"feed server PID {server.proc.pid} on port {server.port}; malloc={args.malloc}")
    try:
        for run in range(runs):
            if args.quick:
                for loop in loops:
                    for client in clients:
                        mine = [sc for sc in specs if client in clients_for(sc)]
                        for res in run_process(
                            client, loop, mine, server.port, envs[client], client_cpu
                        ):
                            res["run"] = run
                            raw_runs.append(res)
                            log(progress(res))
                continue
            for sc in specs:
                for loop in loops:
                    for client in clients_for(sc):
                        (res,) = run_process(
                            client, loop, [sc], server.port, envs[client], client_cpu
                        )
                        res["run"] = run
                        raw_runs.append(res)
                        log(progress(res, run, runs))
                        if sc["kind"] == "conns":
                            time.sleep(1.0)  # let the server drop the closed connections
            if server.proc.poll() is not None:
                raise RuntimeError("the feed server died")
    finally:
        server.stop()

    table: dict[tuple[str, str, str], dict[str, Any]] = {}
    for sc in specs:
        for loop in loops:
            for client in clients_for(sc):
                mine = [
                    r
                    for r in raw_runs
                    if (r["scenario"], r["client"], r["loop"]) == (sc["name"], client, loop)
                ]
                table[(sc["name"], client, loop)] = summarize(sc, mine)
    elapsed = time.perf_counter() - started
    malloc_desc = (
        ", ".join(f"{k}={v}" for k, v in MALLOC[args.malloc].items())
        or "glibc defaults (dynamic mmap threshold)"
    )
    from fastws.tools import feedserver

    meta = dict(
        date=date,
        command="python benchmarks/e2e.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        mode=(
            "quick (smoke test: small counts, one process per client and loop)"
            if args.quick
            else "full (one client process per cell)"
        )
        + f", {elapsed:.0f} s in all",
        runs=runs,
        machine=machine(),
        versions=versions(),
        malloc=f"{malloc_desc} (`--malloc {args.malloc}`, set in the client and server processes)",
        nofile=nofile,
        pinning=(
            f"server on CPU {server_cpu}, clients on CPU {client_cpu} (`--pin {args.pin}`)"
            if server_cpu is not None
            else "none, the scheduler places both processes (`--pin off`)"
        ),
        load=f"{load_start[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end (1-minute load average; "
        "other jobs on the machine count too)",
        server_c_mask=feedserver._apply_mask.__module__ != "fastws.mask",
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    md = markdown(meta, specs, table, clients, loops)
    Path(f"{output}.md").write_text(md)
    Path(f"{output}.json").write_text(
        json.dumps(
            dict(
                meta=meta,
                scenarios=specs,
                summary=[
                    dict(scenario=k[0], client=k[1], loop=k[2], **v) for k, v in table.items()
                ],
                runs=[
                    {k: v for k, v in r.items() if k != "traceback"}
                    | ({"traceback": r["traceback"]} if "traceback" in r else {})
                    for r in raw_runs
                ],
            ),
            indent=1,
        )
    )
    print(md)
    log(f"wrote {output}.md and {output}.json in {elapsed:.0f} s")
    return 0


def render(path: Path) -> int:
    """Re-render the markdown of a saved results JSON."""
    data = json.loads(path.read_text())
    table = {(e["scenario"], e["client"], e["loop"]): e for e in data["summary"]}
    clients = [c for c in ALL_CLIENTS + EXTRA_CLIENTS if any(k[1] == c for k in table)]
    clients += sorted({k[1] for k in table} - set(clients))  # fastws@REV
    loops = [lp for lp in LOOPS if any(k[2] == lp for k in table)]
    md = markdown(data["meta"], data["scenarios"], table, clients, loops)
    path.with_suffix(".md").write_text(md)
    print(md)
    return 0


def progress(res: dict[str, Any], run: int = 0, runs: int = 1) -> str:
    head = f"[{run + 1}/{runs}] {res['scenario']:<17} {res['loop']:<7} {res['client']:<10}"
    if not res.get("ok"):
        return f"{head} FAILED: {res.get('error', '')[:200]}"
    extra = ""
    if "conns" in res:
        extra = (
            f", {res['conns']} conns, {res['conns'] / res['wall']:,.0f} conn/s, "
            f"{(res['rss_per_conn'] or 0) / 1024:.1f} KiB/conn"
        )
    return (
        f"{head} {res['count'] / res['wall']:>12,.0f} msg/s  "
        f"{res['cpu'] / res['count'] * 1e6:8.3f} µs/msg  wall {res['wall']:.2f} s{extra}"
    )


if __name__ == "__main__":
    sys.exit(main())
