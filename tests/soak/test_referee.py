"""The referee on made-up runs: a clean one passes, and each rule fires on its own violation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .common import Params, backoff_delays
from .referee import Referee

T0 = 1000.0


def session(sid: int, slot: int, t_open: float, t_end: float, **kw: Any) -> dict[str, Any]:
    record = dict(kind="session", slot=slot, sid=sid, t_open=t_open, t_end=t_end, how="closed",
                  count=10, bytes=1000, first=0, next=10, bad=0, anomalies=[], max_gap=1.0,
                  max_gap_at=t_open, last=t_end - 0.5, exc="ConnectionClosedError", rcvd=None,
                  sent=None, t=t_end)
    record.update(kw)
    return record


def write_run(out: Path, server: list[dict[str, Any]], consumer: list[dict[str, Any]],
              rss_end: int = 50 * 2**20) -> Path:
    out.mkdir()
    params = Params(minutes=1, connections=1)
    (out / "params.json").write_text(json.dumps(params.to_json()))
    (out / "server.jsonl").write_text("".join(json.dumps(e) + "\n" for e in server))
    start = {"kind": "start", "t": T0}
    stop = {"kind": "stop", "t": T0 + 60}
    end = [{"kind": "stopped", "stuck": 0, "took": 0.1, "t": T0 + 61},
           {"kind": "summary", "counts": {"messages": 20, "bytes": 2000, "loop_errors": 0},
            "cpu": 1.0, "t": T0 + 61},
           {"kind": "exit", "t": T0 + 61}]
    (out / "consumer.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in [start, *consumer, stop, *end]))
    samples = [
        {"t": T0 + i * 2, "elapsed": i * 2, "fds": 10, "tasks": 3,
         "rss": 50 * 2**20 + (rss_end - 50 * 2**20) * i // 29}
        for i in range(30)
    ]
    (out / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    return out


def clean_run() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One slot: a session closed cleanly by the server, a 503, then a session to the end."""
    server = [
        {"ev": "h101", "t": T0 + 0.1, "slot": 0, "sid": 0},
        {"ev": "fate", "t": T0 + 10, "slot": 0, "sid": 0, "fate": "close", "sent": 10},
        {"ev": "pong", "t": T0 + 5, "slot": 0, "sid": 0, "t_ping": T0 + 5, "t_pong": T0 + 5,
         "planned": 0.0},
        {"ev": "h503", "t": T0 + 10.6, "slot": 0, "why": "window"},
        {"ev": "h101", "t": T0 + 13.0, "slot": 0, "sid": 1},
    ]
    consumer = [
        session(0, 0, T0 + 0.1, T0 + 10.5, how="iteration_ended", close_code=1000, exc=None),
        session(1, 0, T0 + 13.0, T0 + 61, how="cancelled", last=T0 + 59.5),
    ]
    return server, consumer


def test_clean_run_passes(tmp_path: Path) -> None:
    server, consumer = clean_run()
    assert Referee(write_run(tmp_path / "run", server, consumer)).run() == 0


@pytest.mark.parametrize(
    "rule, change",
    [
        # a gap in the sequence numbers
        ("data", lambda s, c: c[0]["anomalies"].append([T0 + 3, "gap", 4, 6])),
        # a message lost before a clean server close
        ("data", lambda s, c: c[0].update(next=9)),
        # reconnecting after the 503 sooner than the random first delay allows is fine, but
        # later than 5 s + margin isn't
        ("backoff", lambda s, c: s[4].update(t=T0 + 19.0)),
        # after a session, the next attempt must come at once
        ("backoff", lambda s, c: (s[3].update(t=T0 + 14.0), s[4].update(t=T0 + 16.0))),
        # a session silent for longer than the bound
        ("hang", lambda s, c: c[0].update(max_gap=60.0)),
        # ...or still open at the end, silent since long before it
        ("hang", lambda s, c: c[1].update(last=T0 + 5.0)),
        # 1011 keepalive timeout while the server answered every ping at once
        ("keepalive", lambda s, c: c[0].update(sent=[1011, "keepalive ping timeout"],
                                               how="closed", next=10)),
        ("loop_error", lambda s, c: c.append(
            {"kind": "loop_error", "t": T0 + 5, "phase": "run", "message": "boom",
             "exception": "BufferError()", "traceback": ""})),
        ("crash", lambda s, c: c.append(
            {"kind": "crash", "t": T0 + 5, "slot": 0, "exc": "RuntimeError: x",
             "traceback": ""})),
    ],
)
def test_each_rule_fires(tmp_path: Path, rule: str, change: Any) -> None:
    server, consumer = clean_run()
    change(server, consumer)
    referee = Referee(write_run(tmp_path / "run", server, consumer))
    assert referee.run() == 1
    assert rule in referee.counts, referee.violations


def test_rss_trend(tmp_path: Path) -> None:
    server, consumer = clean_run()
    referee = Referee(write_run(tmp_path / "run", server, consumer, rss_end=120 * 2**20))
    assert referee.run() == 1
    assert referee.counts["trend"] == 1


def test_backoff_schedule() -> None:
    """The schedule fastws.asyncio.client documents: random <= 5 s, then 3, 5, 8, ... 60."""
    from fastws.asyncio.client import Connect

    delays = backoff_delays(Connect.BACKOFF_INITIAL, Connect.BACKOFF_MIN,
                            Connect.BACKOFF_FACTOR, Connect.BACKOFF_MAX)
    got = [next(delays) for _ in range(11)]
    assert got[0] == (0.0, 5.0)
    assert [low for low, _ in got[1:]] == [3, 5, 8, 13, 21, 34, 55, 60, 60, 60]


def test_crossing_close_frames(tmp_path: Path) -> None:
    """A keepalive timeout at the moment the server closes: the messages after it may be lost."""
    server, consumer = clean_run()
    # the ping of 0.5 s was never answered: the 1011 at 10 s is deserved
    server[2].update(t_ping=T0 + 0.5, t_pong=None, kind="too_late")
    server.append({"ev": "client_close", "t": T0 + 10, "slot": 0, "sid": 0, "code": 1011,
                   "reason": "keepalive ping timeout", "close_sent": True})
    consumer[0].update(how="closed", next=9, close_code=1006, exc="ConnectionClosedError",
                       sent=[1011, "keepalive ping timeout"], rcvd=None)
    referee = Referee(write_run(tmp_path / "run", server, consumer))
    assert referee.run() == 0, referee.violations
