"""Autobahn|Testsuite conformance check (CI subset) for the fastws client.

Runs ``compliance/run.sh --ci``: cases 1-10 plus 24 permessage-deflate cases (every 13.*
parameter set, 16 KiB text whole and fragmented), ~30 s, against wstest's fuzzing server on
127.0.0.1.
wstest is installed first if missing, by ../shared/conformance/autobahn/setup.sh
--skip-venv (~30 s, idempotent). The test fails on any FAILED case (also WRONG CODE /
UNCLEAN, an incomplete run, or UNIMPLEMENTED: the client offers permessage-deflate),
and prints the per-behaviour counts and every case that is not OK with its reason.

Skipped only when the shared Autobahn recipe is absent. Deselect locally with
``pytest -m "not autobahn"``. The whole suite: ``compliance/run.sh --full``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(
    os.environ.get("FASTWS_AUTOBAHN_DIR") or REPO.parent / "shared" / "conformance" / "autobahn"
)
RUN_SH = REPO / "compliance" / "run.sh"
# "websockets" runs the same pipeline with the installed websockets' legacy client
# (to check this test itself); CI uses the default, fastws.
IMPL = os.environ.get("FASTWS_AUTOBAHN_IMPL", "fastws")
OUT = REPO / "compliance" / "reports"
# setup (~30 s, bounded by the network) + cases (run.sh --ci stops the client after
# 240 s, +90 s for the reports) + slack; the subprocess is killed before pytest-timeout.
RUN_TIMEOUT = 780

pytestmark = [pytest.mark.autobahn, pytest.mark.timeout(RUN_TIMEOUT + 60)]


def _run(cmd: list[str], timeout: float) -> tuple[int, str]:
    """Run cmd in its own process group; kill that group (by PID) if it outlives timeout."""
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        return -1, out + f"\n[test_autobahn] killed after {timeout} s\n"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_autobahn_ci_subset() -> None:
    if not (SHARED / "run_client_suite.sh").is_file() or not (SHARED / "setup.sh").is_file():
        pytest.skip(
            f"Autobahn|Testsuite recipe not found at {SHARED} "
            "(../shared/conformance/autobahn beside the repo, as in CI); "
            "set FASTWS_AUTOBAHN_DIR to run this test"
        )

    probe = subprocess.run(  # fail with a clear message rather than a driver traceback
        [sys.executable, "-c", "import fastws; fastws.connect"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert IMPL != "fastws" or probe.returncode == 0, (
        "the fastws asyncio client is not importable (fastws.connect):\n" + probe.stderr[-2000:]
    )

    name = f"pytest-ci-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    cmd = ["bash", str(RUN_SH), "--ci", "-q", "--impl", IMPL, "--python", sys.executable,
           "--out", str(OUT), "--name", name]
    t0 = time.monotonic()
    rc, output = _run(cmd, RUN_TIMEOUT)
    elapsed = time.monotonic() - t0
    print(output)
    print(f"[test_autobahn] compliance/run.sh --ci: status {rc} in {elapsed:.1f} s")

    run_dir = OUT / name
    counts_file = run_dir / "counts.json"
    if not counts_file.is_file():
        client_log = run_dir / "client.log"
        tail = client_log.read_text(errors="replace")[-3000:] if client_log.is_file() else ""
        pytest.fail(
            f"Autobahn run produced no report (status {rc}); output:\n{output[-4000:]}\n"
            f"client.log tail:\n{tail}"
        )
    summary = json.loads(counts_file.read_text())
    counts: dict[str, int] = summary["counts"]
    table = (run_dir / "summary.md").read_text()
    print(table)
    line = "  ".join(f"{k}={v}" for k, v in counts.items())

    problems = []
    if summary["server_cases"] and summary["total"] != int(summary["server_cases"]):
        problems.append(f"incomplete run: {summary['total']} of {summary['server_cases']} cases")
    for behaviour in ("FAILED", "WRONG CODE", "UNCLEAN", "UNIMPLEMENTED"):
        if counts.get(behaviour):
            problems.append(f"{counts[behaviour]} case(s) {behaviour}")
    if rc not in (0, 1):  # 1 = FAILED cases, reported above
        problems.append(f"compliance/run.sh exited with status {rc}")
    assert not problems, (
        f"Autobahn|Testsuite: {'; '.join(problems)}\n{line}\n\n{table}\n(reports: {run_dir})"
    )
