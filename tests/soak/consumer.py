"""
The soak's client: N connections in one process, written the way market-data consumers write
them, plus the recording the referee needs.

The part a user would write is :func:`consume` (one per connection)::

    async for ws in fastws.connect(url, ping_interval=..., ping_timeout=..., close_timeout=...):
        try:
            await ws.send(subscribe)
            async for msg in ws:
                handle(msg)                                   # busy now and then
        except fastws.ConnectionClosed:
            continue

"Busy now and then": with probability ``slow_prob`` per message an ``await asyncio.sleep()`` of
``slow_min``-``slow_max`` s (that connection's queue fills and flow control engages), and now
and then a CPU-busy ``time.sleep()`` of up to ``block_max`` s (the whole event loop stops: every
connection's timers and reads are late), about every ``block_every`` s in the whole process
whatever the number of connections.

Recorded (``--out`` directory):

* ``consumer.jsonl``: one ``session`` record per session (server session id from the
  ``X-Session`` response header, open/end times, messages and bytes received, the sequence
  check's anomalies, checksum failures, the longest time without a message, how it ended: close
  codes and reasons sent and received, exception type), ``log`` records (fastws' log lines of
  INFO and above, e.g. "! connect failed; reconnecting in 2.3 seconds" with the exception),
  ``loop_error`` records (every call of the loop's exception handler), ``crash`` records (an
  exception other than ConnectionClosed escaping a connection's loop), and a final ``summary``.
* ``samples.jsonl``: every ``sample_every`` s: open fds (``/proc/self/fd``), asyncio tasks, RSS,
  open sessions, glibc malloc statistics (``mallinfo2``: bytes in use, free bytes held), Python's
  allocated blocks, and tracemalloc's traced bytes when it is on.
* With ``tracemalloc`` > 0: snapshots ``snap<k>.tracemalloc`` spread over the run and
  ``tracemalloc.txt``, the top differences between them.

At the end, before closing anything, RSS is measured before and after glibc's
``malloc_trim(0)`` (``trim`` record): what it gives back was free memory the allocator held.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import json
import logging
import os
import random
import sys
import time
import traceback
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

import fastws

from .common import Params, now, parse

_PAGE = os.sysconf("SC_PAGE_SIZE")


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]


def _libc() -> Any:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallinfo2.restype = _MallInfo2
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc()


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def malloc_stats() -> dict[str, int]:
    if _LIBC is None:
        return {}
    info = _LIBC.mallinfo2()
    # arena: heap bytes from brk/arenas; hblkhd: bytes in mmap'ed blocks; uordblks: in use;
    # fordblks: free bytes the allocator keeps.
    return {"arena": info.arena, "mmap": info.hblkhd, "used": info.uordblks,
            "free": info.fordblks}


class Recorder:
    """Everything the consumer writes; the referee reads it."""

    def __init__(self, out: Path, params: Params) -> None:
        self.params = params
        self.file: TextIO = (out / "consumer.jsonl").open("w")
        self.samples: TextIO = (out / "samples.jsonl").open("w")
        self.out = out
        self.open: dict[int, Session] = {}  # by slot
        self.phase = "run"
        self.lag_max = 0.0
        self.counts: dict[str, int] = {
            "sessions": 0, "messages": 0, "bytes": 0, "loop_errors": 0, "crashes": 0,
            "connect_failures": 0, "bad": 0,
        }

    def write(self, kind: str, **fields: Any) -> None:
        fields["kind"] = kind
        fields.setdefault("t", now())
        self.file.write(json.dumps(fields, separators=(",", ":"), default=repr) + "\n")

    def flush(self) -> None:
        self.file.flush()
        self.samples.flush()

    # the loop's exception handler: nothing may get there

    def loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.counts["loop_errors"] += 1
        exc = context.get("exception")
        self.write(
            "loop_error",
            phase=self.phase,
            message=str(context.get("message")),
            exception=repr(exc),
            traceback="".join(traceback.format_exception(exc)) if exc is not None else None,
            context={k: repr(v)[:300] for k, v in context.items()
                     if k not in ("message", "exception")},
        )
        self.file.flush()


class LogRecorder(logging.Handler):
    """fastws' log lines (INFO and above) of every connection, with their exception."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(logging.INFO)
        self.recorder = recorder

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        msg = record.getMessage()
        if "connect failed" in msg:
            self.recorder.counts["connect_failures"] += 1
        self.recorder.write(
            "log",
            slot=int(record.name.rsplit(".", 1)[1]),
            level=record.levelname,
            msg=msg,
            exc=None if exc is None else f"{type(exc).__name__}: {exc}",
        )


class Session:
    """What one session delivered to the application."""

    __slots__ = ("rec", "ws", "slot", "sid", "t_open", "last", "count", "bytes", "expected",
                 "anomalies", "bad", "max_gap", "max_gap_at", "first")

    def __init__(self, rec: Recorder, ws: Any, slot: int, sid: int) -> None:
        self.rec = rec
        self.ws = ws
        self.slot = slot
        self.sid = sid
        self.t_open = self.last = now()
        self.count = self.bytes = self.expected = self.bad = 0
        self.anomalies: list[Any] = []
        self.max_gap = 0.0
        self.max_gap_at = 0.0
        self.first: int | None = None
        rec.open[slot] = self

    def received(self, message: str | bytes) -> None:
        t = now()
        gap = t - self.last
        if gap > self.max_gap:
            self.max_gap, self.max_gap_at = gap, self.last
        self.last = t
        self.count += 1
        self.bytes += len(message)
        try:
            sid, seq, intact = parse(message)
        except ValueError as exc:
            self.bad += 1
            self._anomaly("unreadable", str(exc)[:100])
            return
        if sid != self.sid:
            self._anomaly("other_session", sid, seq)
        if not intact:
            self.bad += 1
            self._anomaly("checksum", seq, len(message))
        if self.first is None:
            self.first = seq
        if seq != self.expected:
            self._anomaly("gap" if seq > self.expected else "reorder", self.expected, seq)
        self.expected = seq + 1

    def _anomaly(self, *what: Any) -> None:
        if len(self.anomalies) < 20:
            self.anomalies.append([now(), *what])

    def end(self, how: str, ws: Any = None, exc: BaseException | None = None) -> None:
        rec = self.rec
        if rec.open.get(self.slot) is self:
            del rec.open[self.slot]
        t = now()
        gap = t - self.last
        if how != "cancelled" and gap > self.max_gap:
            # (A session cancelled at the end: the referee counts its silence up to "stop".)
            self.max_gap, self.max_gap_at = gap, self.last
        fields: dict[str, Any] = {}
        if isinstance(exc, fastws.ConnectionClosed):
            fields["rcvd"] = None if exc.rcvd is None else [exc.rcvd.code, exc.rcvd.reason]
            fields["sent"] = None if exc.sent is None else [exc.sent.code, exc.sent.reason]
            fields["exc"] = type(exc).__name__
        elif exc is not None:
            fields["exc"] = f"{type(exc).__name__}: {exc}"
        if ws is not None and ws.closed:
            fields["close_code"] = ws.close_code
            fields["close_reason"] = ws.close_reason
        rec.counts["sessions"] += 1
        rec.counts["messages"] += self.count
        rec.counts["bytes"] += self.bytes
        rec.counts["bad"] += self.bad
        rec.write(
            "session", slot=self.slot, sid=self.sid, t_open=self.t_open, t_end=t, how=how,
            count=self.count, bytes=self.bytes, first=self.first, next=self.expected,
            bad=self.bad, anomalies=self.anomalies, max_gap=round(self.max_gap, 3),
            max_gap_at=self.max_gap_at, last=self.last, **fields,
        )


async def consume(slot: int, url: str, p: Params, rec: Recorder) -> None:
    """One connection, as a user writes it (plus the recording)."""
    rng = random.Random(f"{p.seed}/slot{slot}")
    keepalive: dict[str, Any] = (
        dict(ping_interval=p.ping_interval, ping_timeout=p.ping_timeout)
        if p.keepalive
        else dict(ping_interval=None)
    )
    block_every = p.block_every * p.connections  # per connection: the process-wide rate
    next_block = now() + rng.expovariate(1 / block_every)
    subscribe = json.dumps({"op": "subscribe", "channel": "trades", "slot": slot})
    async for ws in fastws.connect(
        url,
        close_timeout=p.close_timeout,
        logger=logging.getLogger(f"soak.slot.{slot}"),
        **keepalive,
    ):
        session = Session(rec, ws, slot, int(ws.response_headers.get("X-Session", "-1")))
        try:
            try:
                await ws.send(subscribe)
                async for msg in ws:
                    session.received(msg)
                    if rng.random() < p.slow_prob:
                        await asyncio.sleep(rng.uniform(p.slow_min, p.slow_max))
                    if now() >= next_block:
                        time.sleep(rng.uniform(0.0, p.block_max))  # CPU-busy: the loop stops
                        next_block = now() + rng.expovariate(1 / block_every)
            except fastws.ConnectionClosed as exc:
                session.end("closed", ws, exc)
                continue
            session.end("iteration_ended", ws)
        except BaseException as exc:  # recording only: cancelled at the end, or a crash
            if rec.open.get(slot) is session:
                session.end("cancelled" if isinstance(exc, asyncio.CancelledError) else "crash",
                            ws, exc)
            raise


async def run_slot(slot: int, url: str, p: Params, rec: Recorder, delay: float) -> None:
    await asyncio.sleep(delay)
    try:
        await consume(slot, url, p, rec)
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        rec.counts["crashes"] += 1
        rec.write("crash", slot=slot, phase=rec.phase, exc=f"{type(exc).__name__}: {exc}",
                  traceback="".join(traceback.format_exception(exc)))
        rec.flush()


async def lag_monitor(rec: Recorder) -> None:
    """The loop's own lateness: a stalled loop makes every timer and read late."""
    while True:
        before = now()
        await asyncio.sleep(0.1)
        lag = now() - before - 0.1
        rec.lag_max = max(rec.lag_max, lag)
        if lag > 1.0:
            rec.write("loop_stall", seconds=round(lag, 3), phase=rec.phase)


async def collector(every: float) -> None:
    """Experiment (``gc_every``): a full collection now and then, as an application might."""
    while True:
        await asyncio.sleep(every)
        gc.collect()


async def sampler(rec: Recorder, p: Params) -> None:
    t0 = now()
    snapshots_at = (
        [p.duration * k / p.snapshots for k in range(1, p.snapshots + 1)]
        if p.tracemalloc
        else []
    )
    while True:
        t = now()
        sample: dict[str, Any] = {
            "t": t,
            "elapsed": round(t - t0, 3),
            "rss": rss(),
            "fds": len(os.listdir("/proc/self/fd")),
            "tasks": len(asyncio.all_tasks()),
            "open_sessions": len(rec.open),
            "blocks": sys.getallocatedblocks(),
            "lag_max": round(rec.lag_max, 4),
            "messages": rec.counts["messages"] + sum(s.count for s in rec.open.values()),
            # Messages received but not taken by the application yet (ws.messages, the
            # queue that max_queue bounds): memory legitimately in flight.
            "queued": sum(len(s.ws.messages) for s in rec.open.values()),
            "queued_bytes": sum(len(m) for s in rec.open.values() for m in s.ws.messages),
            **{f"malloc_{k}": v for k, v in malloc_stats().items()},
        }
        stats = gc.get_stats()
        sample["gc_collections"] = [g["collections"] for g in stats]
        sample["gc_collected"] = sum(g["collected"] for g in stats)
        if tracemalloc.is_tracing():
            sample["traced"], sample["traced_peak"] = tracemalloc.get_traced_memory()
        rec.lag_max = 0.0
        rec.samples.write(json.dumps(sample) + "\n")
        rec.flush()
        if snapshots_at and t - t0 >= snapshots_at[0] - p.sample_every:
            k = p.snapshots - len(snapshots_at) + 1
            snapshots_at.pop(0)
            started = now()
            gc.collect()
            snapshot = tracemalloc.take_snapshot().filter_traces(
                (tracemalloc.Filter(False, tracemalloc.__file__),)
            )
            snapshot.dump(str(rec.out / f"snap{k}.tracemalloc"))
            rec.write("snapshot", k=k, elapsed=t - t0, took=now() - started,
                      traced=tracemalloc.get_traced_memory()[0])
            del snapshot
        await asyncio.sleep(p.sample_every)


def compare_snapshots(out: Path, count: int) -> None:
    """tracemalloc.txt: what grew between the snapshots, by line and by traceback."""
    paths = [out / f"snap{k}.tracemalloc" for k in range(1, count + 1)]
    paths = [path for path in paths if path.exists()]
    if len(paths) < 2:
        return
    snaps = [tracemalloc.Snapshot.load(str(path)) for path in paths]
    lines = []
    for snap, path in zip(snaps, paths, strict=True):
        total = sum(stat.size for stat in snap.statistics("filename"))
        lines.append(f"{path.name}: {total / 2**20:.2f} MiB traced")
    for label, older in (("first", snaps[0]), ("second", snaps[1])):
        lines.append(f"\n== growth from the {label} snapshot to the last, by line (top 25)")
        for stat in snaps[-1].compare_to(older, "lineno")[:25]:
            lines.append(str(stat))
    lines.append("\n== growth from the second snapshot to the last, by traceback (top 5)")
    for stat in snaps[-1].compare_to(snaps[1], "traceback")[:5]:
        lines.append(str(stat))
        lines.extend("    " + line for line in stat.traceback.format())
    (out / "tracemalloc.txt").write_text("\n".join(lines) + "\n")


async def main_async(url: str, p: Params, rec: Recorder) -> None:
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(rec.loop_error)
    logging.getLogger("soak.slot").addHandler(LogRecorder(rec))
    logging.getLogger("soak.slot").setLevel(logging.INFO)
    logging.getLogger("soak.slot").propagate = False
    t0 = now()
    rec.write("start", loop=type(loop).__module__, connections=p.connections, url=url)
    spread = min(2.0, p.duration / 10)
    tasks = [
        loop.create_task(
            run_slot(i, url.format(slot=i), p, rec, spread * i / max(1, p.connections))
        )
        for i in range(p.connections)
    ]
    sample_task = loop.create_task(sampler(rec, p))
    lag_task = loop.create_task(lag_monitor(rec))
    if p.gc_every:
        gc_task = loop.create_task(collector(p.gc_every))
    await asyncio.sleep(max(0.0, t0 + p.duration - now()))
    # The end: note what is open (and for how long it has been silent), measure the allocator.
    t_stop = now()
    rec.write("stop", open_sessions=len(rec.open),
              open_silent=sorted((round(t_stop - s.last, 3), s.sid) for s in rec.open.values())[-5:])
    # What only the cycle collector would free, right now, by type (then freed).
    gc.set_debug(gc.DEBUG_SAVEALL)
    collected = gc.collect()
    garbage = Counter(type(o).__qualname__ for o in gc.garbage)
    # Bytes the garbage keeps alive: the objects themselves, receive rings' arrays, large
    # payload buffers (the sink) and unread messages (bytearray/bytes aren't GC-tracked, so
    # they are counted through their owners).
    held = {"objects": sum(sys.getsizeof(o) for o in gc.garbage), "rings": 0, "sinks": 0,
            "queued": 0}
    for o in gc.garbage:
        name = type(o).__name__
        if name == "RingBuffer":
            held["rings"] += len(o.buf)
        elif name == "ClientConnection":
            held["sinks"] += len(getattr(o, "_sink", b""))
        elif name == "Inflow":
            held["queued"] += sum(len(m) for m in o.messages)
    gc.garbage.clear()
    gc.set_debug(0)
    gc.collect()
    # What is still alive after a full collection: one protocol per open connection expected.
    alive = Counter(type(o).__name__ for o in gc.get_objects())
    rec.write("garbage", collected=collected, held=held, types=garbage.most_common(25),
              alive={name: alive[name] for name in (
                  "WebSocketClientProtocol", "ClientConnection", "RingBuffer", "Inflow",
                  "Future", "Task", "TimerHandle", "Handle")},
              open_sessions=len(rec.open))
    before = rss()
    trimmed = _LIBC is not None and bool(_LIBC.malloc_trim(0))
    rec.write("trim", rss_before=before, rss_after=rss(), released=trimmed,
              malloc=malloc_stats())
    rec.phase = "shutdown"
    sample_task.cancel()
    lag_task.cancel()
    if p.gc_every:
        gc_task.cancel()
    for task in tasks:
        task.cancel()
    done, stuck = await asyncio.wait(tasks, timeout=max(30.0, 6 * p.close_timeout))
    rec.write("stopped", stuck=len(stuck), took=now() - t_stop)
    rec.write("summary", counts=rec.counts, elapsed=now() - t0, cpu=time.process_time())
    rec.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--url", required=True, help="ws://127.0.0.1:PORT/feed")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    p = Params.from_json(json.loads(args.params.read_text()))
    args.out.mkdir(parents=True, exist_ok=True)
    if p.tracemalloc:
        tracemalloc.start(p.tracemalloc)
    rec = Recorder(args.out, p)
    factory = None
    if p.loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    sep = "&" if "?" in args.url else "?"
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(main_async(args.url + sep + "slot={slot}", p, rec))
    finally:
        rec.write("exit", phase=rec.phase, loop_errors=rec.counts["loop_errors"])
        rec.flush()
    if p.tracemalloc:
        tracemalloc.stop()
        with contextlib.suppress(Exception):
            compare_snapshots(args.out, p.snapshots)
    return 0


if __name__ == "__main__":
    sys.exit(main())
