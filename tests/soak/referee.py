"""
The soak's referee: reads a run's directory (``params.json``, ``server.jsonl``,
``consumer.jsonl``, ``samples.jsonl``), checks every rule below, prints a summary, writes
``referee.json`` and exits 1 on any violation.

Rules (README.md gives the reasoning):

1. **Data**: in every session, the sequence numbers received are contiguous from 0 (no gap, no
   reorder, no message of another session) and every checksum matches. After a clean server
   close (the server's close frame came before any close frame of the client, and the two did
   not cross), the client received everything the server wrote before it, and the close code
   it reports is the server's.
2. **Backoff**: per connection, from the server's log of handshakes (``h101``/``h503``) and the
   consumer's session ends: after a session, the next attempt comes at once (within
   ``backoff_margin``); after the k-th consecutive failed attempt it comes after the delay that
   ``fastws.asyncio.client.Connect`` computes (random 0-5 s, then 3, 5, 8, 13, 21, 34, 55, 60 s...;
   a session resets it), no sooner and at most ``backoff_margin`` later. A connection that stops
   trying counts too.
3. **No hang**: no session goes longer than ``Params.max_hang`` without delivering a message or
   ending (including the sessions still open at the end, up to the ``stop`` record).
4. **Keepalive**: a session the client closed with 1011 "keepalive ping timeout" must have a
   ping that the server answered ``ping_timeout - pong_slack`` or more after receiving it (or
   never answered): else the timeout was false.
5. **Nothing reaches the loop's exception handler**, no connection's loop crashes, every
   connection finishes within the shutdown grace once cancelled, and after a full garbage
   collection at the end at most two protocol objects per connection are alive (+5).
6. **No rising trend** of open fds, asyncio tasks and RSS: the mean of the last third of the
   samples is at most the mean of the middle third x (1 + rel) + abs (``trend_*``).

Command line: ``python -m tests.soak.referee DIR``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastws.asyncio.client import Connect

from .common import Params, backoff_delays, read_jsonl

KEEPALIVE = [1011, "keepalive ping timeout"]


class Referee:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.p = Params.from_json(json.loads((out / "params.json").read_text()))
        self.server = list(read_jsonl(out / "server.jsonl"))
        self.consumer = list(read_jsonl(out / "consumer.jsonl"))
        self.samples = list(read_jsonl(out / "samples.jsonl"))
        self.violations: list[str] = []
        self.notes: list[str] = []
        self.counts: Counter[str] = Counter()
        self.summary: dict[str, Any] = {}
        self.sessions = {r["sid"]: r for r in self.consumer if r["kind"] == "session"}
        self.by_sid: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for ev in self.server:
            if "sid" in ev:
                self.by_sid[ev["sid"]].append(ev)
        stops = [r for r in self.consumer if r["kind"] == "stop"]
        starts = [r for r in self.consumer if r["kind"] == "start"]
        self.t_start = starts[0]["t"] if starts else 0.0
        self.t_stop = stops[0]["t"] if stops else float("inf")
        self.loop_stalls = [(r["t"] - r["seconds"], r["t"]) for r in self.consumer
                            if r["kind"] == "loop_stall"]

    def stalled(self, t_from: float, t_to: float) -> str:
        """A note if the consumer's loop stalled over a second in [t_from, t_to]."""
        worst = max((end - start for start, end in self.loop_stalls
                     if end >= t_from and start <= t_to), default=0.0)
        return f" (the consumer's loop stalled {worst:.1f} s meanwhile)" if worst else ""

    def violation(self, rule: str, text: str) -> None:
        self.counts[rule] += 1
        if self.counts[rule] <= 15:
            self.violations.append(f"[{rule}] {text}")

    def run(self) -> int:
        if not self.consumer or not self.server:
            self.violation("setup", "no consumer or server log")
            return self.report()
        if self.t_stop == float("inf"):
            self.violation("setup", "the consumer never reached its stop: killed or hung?")
        self.check_data()
        self.check_backoff()
        self.check_hangs()
        self.check_keepalive()
        self.check_errors()
        self.check_trends()
        self.figures()
        return self.report()

    # 1. data

    def server_events(self, sid: int, ev: str) -> Iterator[dict[str, Any]]:
        return (e for e in self.by_sid.get(sid, ()) if e["ev"] == ev)

    def check_data(self) -> None:
        clean = 0
        for sid, s in self.sessions.items():
            for anomaly in s["anomalies"]:
                self.violation("data", f"session {sid} (slot {s['slot']}): {anomaly[1:]} "
                                       f"after {s['count']} messages")
            fate = next(self.server_events(sid, "fate"), None)
            if fate is None or fate["fate"] not in ("close", "close_keep_open"):
                continue
            # The client closed first: the server saw its close frame before sending its own,
            # or the close frames crossed (the client sent one and never got the server's,
            # e.g. a keepalive timeout at the moment the server closed). Then the messages
            # after the client's close are rightly dropped: rule 4 judges a 1011.
            client_first = any(
                not e["close_sent"] for e in self.server_events(sid, "client_close")
            ) or (s.get("sent") is not None and s.get("rcvd") is None)
            if client_first or s["how"] == "cancelled":
                continue
            clean += 1
            if s["next"] != fate["sent"]:
                self.violation("data", f"session {sid}: server wrote {fate['sent']} messages "
                                       f"before its close frame, client got {s['next']}")
            want = 1000 if fate["fate"] == "close" else 1001
            got = s.get("close_code")
            if got is None and s.get("rcvd"):
                got = s["rcvd"][0]
            if got != want:
                self.violation("data", f"session {sid}: server closed with {want}, client "
                                       f"reports {got} ({s.get('exc')}, rcvd {s.get('rcvd')})")
        self.summary["clean_server_closes_checked"] = clean
        orphans = [
            e for e in self.server
            if e["ev"] == "h101" and e["sid"] not in self.sessions and e["t"] < self.t_stop - 5
        ]
        for e in orphans[:5]:
            self.violation("data", f"server session {e['sid']} (slot {e['slot']}) accepted "
                                   "but the client never started it")

    # 2. backoff

    def check_backoff(self) -> None:
        attempts: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for e in self.server:
            if e["ev"] in ("h101", "h503"):
                attempts[e["slot"]].append(e)
        schedule = (Connect.BACKOFF_INITIAL, Connect.BACKOFF_MIN, Connect.BACKOFF_FACTOR,
                    Connect.BACKOFF_MAX)
        margin = self.p.backoff_margin
        longest_streak = 0
        late = 0.0
        waits: Counter[str] = Counter()
        for slot in range(self.p.connections):
            tries = sorted(attempts.get(slot, []), key=lambda e: e["t"])
            if not tries:
                self.violation("backoff", f"slot {slot} never reached the server")
                continue
            delays = backoff_delays(*schedule)
            streak = 0
            for i, attempt in enumerate(tries):
                session = self.sessions.get(attempt.get("sid", -1))
                if session is not None:
                    streak = 0
                    delays = backoff_delays(*schedule)
                    if session["how"] in ("cancelled", "crash"):
                        break
                    ref, low, high, what = session["t_end"], 0.0, 0.0, "after a session"
                else:
                    streak += 1
                    longest_streak = max(longest_streak, streak)
                    low, high = next(delays)
                    ref, what = attempt["t"], f"after failure #{streak}"
                    waits[f"{low:g}-{high:g}" if low != high else f"{low:g}"] += 1
                nxt = tries[i + 1]["t"] if i + 1 < len(tries) else None
                if nxt is None:
                    if ref + high + margin < self.t_stop:
                        self.violation("backoff", f"slot {slot}: no attempt since "
                                                  f"{ref - self.t_start:.1f} s ({what}, "
                                                  f"expected within {high + margin:g} s)")
                    break
                wait = nxt - ref
                late = max(late, wait - high)
                if wait < low - 0.05 or wait > high + margin:
                    self.violation("backoff", f"slot {slot}: reconnected {wait:.2f} s {what} "
                                              f"at {ref - self.t_start:.0f} s (expected "
                                              f"{low:g}-{high:g} s + {margin:g})"
                                              + self.stalled(ref, nxt))
        self.summary["longest_failure_streak"] = longest_streak
        self.summary["backoff_waits_checked"] = dict(waits)
        self.summary["backoff_latest"] = {"seconds": round(late, 2), "margin": margin}

    # 3. hangs

    def check_hangs(self) -> None:
        bound = self.p.max_hang
        worst = (0.0, None)
        for sid, s in self.sessions.items():
            gap = s["max_gap"]
            if s["how"] == "cancelled":
                gap = max(gap, self.t_stop - s["last"])
            if gap > worst[0]:
                worst = (gap, sid)
            if gap > bound:
                self.violation("hang", f"session {sid} (slot {s['slot']}): {gap:.1f} s without "
                                       f"a message or an end (bound {bound:.1f} s), ended "
                                       f"{s['how']} {s.get('exc')} rcvd {s.get('rcvd')} sent "
                                       f"{s.get('sent')}; server: {self.story(sid)}")
        self.summary["max_hang"] = {"seconds": round(worst[0], 2), "session": worst[1],
                                    "bound": round(bound, 2)}

    def story(self, sid: int) -> str:
        """The server's side of a session, briefly."""
        evs = [e for e in self.by_sid.get(sid, ()) if e["ev"] != "pong"]
        t0 = evs[0]["t"] if evs else 0.0
        parts = []
        for e in evs[:12]:
            extra = {k: v for k, v in e.items() if k not in ("ev", "t", "sid", "slot", "msg")}
            parts.append(f"{e['t'] - t0:.1f}s {e['ev']} {extra}" if extra else
                         f"{e['t'] - t0:.1f}s {e['ev']}")
        return "; ".join(parts)

    # 4. keepalive

    def check_keepalive(self) -> None:
        timeouts = legit = 0
        limit = self.p.ping_timeout - self.p.pong_slack
        for sid, s in self.sessions.items():
            if s.get("sent") != KEEPALIVE:
                continue
            timeouts += 1
            closed_at = [e["t"] for e in self.server_events(sid, "client_close")]
            closed_at += [e["t"] for e in self.server_events(sid, "end")]
            end = min(closed_at) if closed_at else s["t_end"]
            delays = [
                (e["t_pong"] if e["t_pong"] is not None else end) - e["t_ping"]
                for e in self.server_events(sid, "pong")
                if e["t_ping"] < end
            ]
            if delays and max(delays) >= limit:
                legit += 1
                continue
            self.violation("keepalive", f"session {sid} (slot {s['slot']}): 1011 keepalive "
                                        f"ping timeout, but the server answered every ping "
                                        f"within {max(delays, default=0):.2f} s "
                                        f"(ping_timeout {self.p.ping_timeout:g}) at "
                                        f"{end - self.t_start:.0f} s"
                                        f"{self.stalled(end - self.p.ping_timeout, end)}; "
                                        f"server: {self.story(sid)}")
        self.summary["keepalive_timeouts"] = {"total": timeouts, "deserved": legit}
        # Of the pongs answered in time, the latest (how close a deserved 1011 came).
        self.summary["pong_delay_max_in_time"] = round(max(
            ((e["t_pong"] - e["t_ping"]) for e in self.server
             if e["ev"] == "pong" and e["t_pong"] is not None
             and e["t_pong"] - e["t_ping"] < limit), default=0.0), 2)

    # 5. errors

    def check_errors(self) -> None:
        for r in self.consumer:
            if r["kind"] == "loop_error":
                self.violation("loop_error", f"({r['phase']}) {r['message']}: {r['exception']}"
                                             f"\n{r.get('traceback') or ''}")
            elif r["kind"] == "crash":
                self.violation("crash", f"slot {r['slot']}: {r['exc']}\n{r['traceback']}")
            elif r["kind"] == "stopped" and r["stuck"]:
                self.violation("shutdown", f"{r['stuck']} connections still running "
                                           f"{r['took']:.1f} s after being cancelled")
            elif r["kind"] == "garbage" and "alive" in r:
                # After a full collection at the end: at most two protocols per connection
                # (one open or connecting; and while a connection backs off or reconnects,
                # the previous one, still referenced by `ws` in the user's loop, by
                # Connect.protocol, or by the failed attempt's exception during the backoff
                # sleep). A leak grows with the sessions: thousands here.
                alive = r["alive"].get("WebSocketClientProtocol", 0)
                limit = self.p.connections * 2 + 5
                self.summary["alive_after_full_gc"] = r["alive"]
                self.summary["cyclic_garbage_at_end"] = {
                    "objects": r["collected"], "bytes_held": sum(r["held"].values()),
                    "protocols": dict(r["types"]).get("WebSocketClientProtocol", 0)}
                if alive > limit:
                    self.violation("leak", f"{alive} protocol objects alive after a full "
                                           f"collection, for {self.p.connections} connections")
        if not any(r["kind"] == "exit" for r in self.consumer):
            self.violation("setup", "the consumer did not exit cleanly")

    # 6. trends

    def check_trends(self) -> None:
        samples = [s for s in self.samples if s["t"] <= self.t_stop]
        if len(samples) < 9:
            self.violation("setup", f"only {len(samples)} samples")
            return
        third = len(samples) // 3
        middle, last = samples[third : 2 * third], samples[2 * third :]
        p = self.p
        trends = {}
        for key, rel, abs_ in (
            ("fds", p.trend_count_rel, p.trend_count_abs),
            ("tasks", p.trend_count_rel, p.trend_count_abs),
            ("rss", p.trend_rss_rel, p.trend_rss_abs),
        ):
            m = statistics.fmean(s[key] for s in middle)
            la = statistics.fmean(s[key] for s in last)
            limit = m * (1 + rel) + abs_
            trends[key] = {"start": samples[0][key], "end": samples[-1][key],
                           "max": max(s[key] for s in samples), "middle_mean": round(m, 1),
                           "last_mean": round(la, 1), "limit": round(limit, 1)}
            if la > limit:
                self.violation("trend", f"{key} rising: last third {la:.0f} > middle third "
                                        f"{m:.0f} x {1 + rel:g} + {abs_:g}")
        # Informational (not judged): live Python blocks, bytes malloc has in use and holds
        # free, and message bytes queued unread: tell a leak from the allocator's behaviour.
        for key in ("blocks", "malloc_used", "malloc_free", "queued_bytes", "traced"):
            if all(key in s for s in samples):
                trends[key] = {
                    "start": samples[0][key], "end": samples[-1][key],
                    "max": max(s[key] for s in samples),
                    "middle_mean": round(statistics.fmean(s[key] for s in middle), 1),
                    "last_mean": round(statistics.fmean(s[key] for s in last), 1),
                }
        self.summary["trends"] = trends

    # figures

    def figures(self) -> None:
        counts: Counter[str] = Counter()
        for e in self.server:
            ev = e["ev"]
            if ev == "fate":
                counts[f"fate {e['fate']}"] += 1
            elif ev == "h503":
                counts[f"503 ({e['why']})"] += 1
            elif ev in ("stall", "burst", "window", "h101", "hold_expired"):
                counts[ev] += 1
            elif ev == "pong":
                counts["pings received"] += 1
                if e.get("kind"):
                    counts[f"pong {e['kind']}"] += 1
                if e["t_pong"] is None:
                    counts["pings unanswered"] += 1
        stalls = [e["length"] for e in self.server if e["ev"] == "stall"]
        late = [e["t_pong"] - e["t_ping"] for e in self.server
                if e["ev"] == "pong" and e.get("kind") and e["t_pong"] is not None]
        lags = [e["max"] for e in self.server if e["ev"] == "lag"]
        ends: Counter[str] = Counter()
        for s in self.sessions.values():
            code = s.get("close_code")
            if s["how"] == "closed":
                rcvd = s.get("rcvd") and s["rcvd"][0]
                sent = s.get("sent") and s["sent"][0]
                ends[f"{s['exc']} rcvd={rcvd} sent={sent}"] += 1
            else:
                ends[f"{s['how']} code={code}"] += 1
        connect_errors: Counter[str] = Counter(
            (r.get("exc") or "?").split(":")[0] for r in self.consumer
            if r["kind"] == "log" and "connect failed" in r["msg"]
        )
        loop_stalls = [r["seconds"] for r in self.consumer
                       if r["kind"] == "loop_stall" and r["phase"] == "run"]
        self.summary["consumer_loop_stalls_over_1s"] = {
            "count": len(loop_stalls), "max": max(loop_stalls, default=0.0)}
        if max(loop_stalls, default=0.0) > self.p.ping_timeout - self.p.pong_slack:
            self.notes.append(
                f"the consumer's event loop stalled for up to {max(loop_stalls):.1f} s, "
                "longer than ping_timeout: keepalive timeouts, late reconnects and what follows "
                "are expected (tracemalloc snapshots? an overloaded machine?)")
        summary = next((r for r in self.consumer if r["kind"] == "summary"), {})
        trim = next((r for r in self.consumer if r["kind"] == "trim"), None)
        shutdown = next((e for e in self.server if e["ev"] == "shutdown"), {})
        self.summary.update(
            duration=round(self.t_stop - self.t_start, 1),
            connections=self.p.connections,
            loop=self.p.loop,
            sessions_client=len(self.sessions),
            sessions_server=counts["h101"],
            reconnects=sum(1 for e in self.server if e["ev"] in ("h101", "h503"))
            - self.p.connections,
            messages=summary.get("counts", {}).get("messages"),
            bytes=summary.get("counts", {}).get("bytes"),
            misbehaviours={k: v for k, v in sorted(counts.items()) if k != "h101"},
            stall_seconds=[round(min(stalls), 2), round(max(stalls), 2)] if stalls else None,
            late_pong_seconds=[round(min(late), 2), round(max(late), 2)] if late else None,
            server_max_loop_lag=max(lags, default=None),
            session_ends=dict(ends.most_common()),
            connect_failures=dict(connect_errors.most_common()),
            loop_errors=summary.get("counts", {}).get("loop_errors"),
            cpu_seconds={"consumer": round(summary.get("cpu", 0.0), 1),
                         "server": round(shutdown.get("cpu", 0.0), 1)},
            malloc_trim=None if trim is None else {
                "rss_before": trim["rss_before"], "rss_after": trim["rss_after"]},
        )

    def report(self) -> int:
        result = {"ok": not self.violations, "violations": self.violations, "notes": self.notes,
                  "violation_counts": dict(self.counts), "summary": self.summary}
        (self.out / "referee.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"soak referee: {self.out}")
        for key, value in self.summary.items():
            print(f"  {key}: {value}")
        for note in self.notes:
            print(f"NOTE: {note}")
        if self.violations:
            print(f"VIOLATIONS ({sum(self.counts.values())}: {dict(self.counts)}):")
            for text in self.violations:
                print("  - " + text.replace("\n", "\n    "))
            return 1
        print("OK: no violation")
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the run's directory")
    args = parser.parse_args(argv)
    return Referee(args.out).run()


if __name__ == "__main__":
    sys.exit(main())
