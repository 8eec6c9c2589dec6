"""
The CI slice of the soak (tests/soak/README.md): 50 connections for 25 s on each event loop,
against the chaos server with the ``ci`` profile (stalls of 0.3-1.5 s, ping_interval 2 s,
ping_timeout 3 s, close_timeout 1 s, sessions of about 6 s, a burst every 5 s per session),
seeded, and the referee must find no violation.

It catches the receive-path deadlock of issue 11 (reading paused with the parser waiting for
bytes) within seconds: false 1011 keepalive timeouts, and messages lost before a clean close.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from .common import PROFILES, Params
from .run import run

SECONDS = 25
CONNECTIONS = 50


@pytest.mark.timeout(180)
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_soak_slice(loop: str, tmp_path: Path) -> None:
    if loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        pytest.skip("uvloop unavailable")
    params = Params(**PROFILES["ci"], minutes=SECONDS / 60, connections=CONNECTIONS, loop=loop,
                    seed=11)
    out = tmp_path / f"soak-{loop}"
    status = run(params, out, quiet=True)
    result = json.loads((out / "referee.json").read_text())
    summary = result["summary"]
    print(json.dumps(summary, indent=1))
    assert status == 0, "soak referee found violations:\n" + "\n".join(result["violations"])
    # The slice did meet the chaos it is meant to survive.
    seen = summary["misbehaviours"]
    for kind in ("fate abort", "fate reset", "fate close", "fate close_keep_open",
                 "fate blackhole", "stall", "burst", "pong late", "503 (window)"):
        assert seen.get(kind, 0) > 0, f"the slice never produced {kind!r}: {seen}"
    assert summary["messages"] > 1000
    assert summary["reconnects"] > CONNECTIONS
