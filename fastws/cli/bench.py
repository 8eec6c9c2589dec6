"""
``fastws bench``: open connections, receive, echo or send messages, report the figures.

One process runs its share of the connections on one event loop (:func:`run_worker`); with
``--processes N`` the parent starts N workers (``python -m fastws.cli.worker``), starts them
together, reads their progress and results as JSON lines, and merges them (:func:`run_bench`).

A run has three phases (docs/bench.md):

1. **Opening.** A spawner opens the connections at ``--spawn-rate`` per second (or spread over
   ``--ramp-up`` seconds; default: as fast as ``--connect-concurrency`` handshakes in flight
   allow). Open connections are held, idle, until the window starts.
2. **Measuring.** The *measured window* starts when every connection has opened or failed
   (with ``--processes``, when every worker's have: the parent starts them together) and ends
   at the deadline (``--duration``), when the last connection has done its ``--count``, or on
   SIGINT/SIGTERM. At its end every connection stops counting whatever it is doing (a
   handshake still in flight, after a signal, never opens: "not opened"); counts, throughput,
   CPU and the per-second series cover the window only.
3. **Closing.** Every open connection is closed, each within ``--close-timeout`` seconds, then
   its transport is aborted (counted apart, not as an error).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from ..asyncio.client import connect
from ..asyncio.protocol import WebSocketClientProtocol
from ..exceptions import ConnectionClosedError, ConnectionClosedOK
from .common import CliError, describe_error, run_on
from .output import write_output
from .server import EmbeddedServer, ServerError
from .stats import (
    Histogram,
    Result,
    dumps,
    format_table,
    merge_series,
    peak_rss_bytes,
    record_from_json,
    summary,
)

__all__ = [
    "BenchConfig",
    "Progress",
    "Control",
    "run_bench",
    "run_worker",
    "embedded_path",
    "DEFAULT_TOTAL",
]

MODES = ("recv", "echo", "send")

DEFAULT_TOTAL = {"recv": 3_000_000, "echo": 30_000, "send": 1_000_000}
"""Messages over all connections when neither ``--count`` nor ``--duration`` is given: a few
seconds each on a 2-core machine with the embedded server."""

CONNECT_CONCURRENCY = 256
"""Default of ``--connect-concurrency``: opening handshakes in flight at once over all
processes (a burst of SYNs overflows listen backlogs)."""

CLOSE_TIMEOUT = 1.0
"""Default of ``--close-timeout``: seconds a connection may take to close once the run is over
before its transport is aborted."""

OPEN_TIMEOUT = 10.0
"""Seconds one opening handshake may take (TCP, TLS, HTTP) before it counts as failed."""

DRAIN_TIMEOUT = 10.0
"""Echo mode with ``--rate`` and ``--count``: how long to wait for the last replies once sending
stops."""

TICK = 1.0
"""Seconds between progress reports (and records of the per-second series)."""
TICK_GRACE = 0.05
"""Part of a tick between asking connections to publish their counts and reading the totals."""

WORKER_START_TIMEOUT = 30.0
"""Seconds a worker process may take to start (import fastws) before the run fails."""
WORKER_STOP_GRACE = 3.0
"""Seconds a worker may take, beyond ``--close-timeout``, to report once asked to stop; then it
is killed."""

Report = Callable[[dict[str, Any]], None]


@dataclasses.dataclass
class BenchConfig:
    """
    What one process runs (the parent gives each worker its share of the connections).

    Attributes:
        url: the ws:// or wss:// URL every connection opens.
        mode: ``recv`` (count received messages), ``echo`` (send, wait for the reply, time it)
            or ``send`` (send as fast as the connection takes them).
        connections: connections this process opens.
        count: messages per connection; 0 with ``duration``: no limit.
        duration: seconds the measured window lasts, None to stop after ``count`` messages.
        size: payload size in bytes of the messages sent (echo, send).
        text: send text messages (else binary).
        compression: offer permessage-deflate.
        rate: echo mode: messages per second per connection, sent on schedule whatever the
            replies do (latency counts from the scheduled time); None: one round trip at a time.
        loop: ``asyncio`` or ``uvloop``.
        progress: report progress about once per second.
        spawn_rate: connections this process opens per second; None: as fast as
            ``connect_concurrency`` allows.
        connect_concurrency: opening handshakes in flight at once in this process.
        close_timeout: seconds each connection may take to close at the end before its
            transport is aborted.
        start_message: recv mode: send one message when the window opens (the embedded
            server's feed waits for it: ``/feed?wait=1``).
    """

    url: str
    mode: str = "recv"
    connections: int = 1
    count: int = 0
    duration: float | None = None
    size: int = 100
    text: bool = True
    compression: bool = False
    rate: float | None = None
    loop: str = "asyncio"
    progress: bool = False
    spawn_rate: float | None = None
    connect_concurrency: int = CONNECT_CONCURRENCY
    close_timeout: float = CLOSE_TIMEOUT
    start_message: bool = False

    def to_json(self) -> str:
        """Serialize (the worker command line carries it)."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> BenchConfig:
        """
        Parse :meth:`to_json`'s output.

        Args:
            text: the JSON text.
        """
        return cls(**json.loads(text))


def embedded_path(mode: str, count: int, size: int, text: bool, compression: bool) -> str:
    """
    The feed server path for a mode.

    Args:
        mode: ``recv``, ``echo`` or ``send``.
        count: messages per connection the feed sends (0: until the client closes).
        size: message size for the feed.
        text: text (else binary) messages for the feed.
        compression: ask the server to accept permessage-deflate.
    """
    deflate = "deflate=1" if compression else ""
    if mode == "recv":
        # wait=1: the feed starts at the client's first message, sent when the window opens.
        path = f"/feed?size={size}&count={count}&text={int(text)}&wait=1"
        return path + f"&{deflate}" * compression
    return ("/echo" if mode == "echo" else "/sink") + f"?{deflate}" * compression


class Control:
    """
    Starts the measured window and stops a run from another thread (a worker's stdin reader).

    Without a control a run starts measuring as soon as its ramp is over; with one it calls
    ``ramped`` then waits for :meth:`start` (the parent starts every worker together). A request
    made before the run's loop is attached is kept and applied then.

    Args:
        ramped: called (on the loop) when every connection has opened or failed.
    """

    def __init__(self, ramped: Callable[[], None] | None = None) -> None:
        self.ramped = ramped
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._actions: dict[str, Callable[[], None]] = {}
        self._requested: list[str] = []

    def attach(
        self, loop: asyncio.AbstractEventLoop, start: Callable[[], None], stop: Callable[[], None]
    ) -> None:
        """
        Called by the run on its loop: where requests go.

        Args:
            loop: the run's event loop.
            start: starts the measured window (called on the loop).
            stop: ends the run, as its deadline would (called on the loop).
        """
        with self._lock:
            self._loop = loop
            self._actions = {"start": start, "stop": stop}
            requested = list(self._requested)
        for name in requested:
            loop.call_soon(self._actions[name])

    def detach(self) -> None:
        """Called by the run when it is over: later requests do nothing."""
        with self._lock:
            self._loop = None

    def request(self, name: str) -> None:
        """
        Ask the run to ``start`` measuring or to ``stop`` (thread-safe).

        Args:
            name: ``start`` or ``stop``.
        """
        with self._lock:
            self._requested.append(name)
            loop = self._loop
            action = self._actions.get(name)
        if loop is not None and action is not None:
            try:
                loop.call_soon_threadsafe(action)
            except RuntimeError:  # pragma: no cover - the loop closed meanwhile
                pass


class _Live:
    """What the connections of one process share: counters, the stop flag, the window."""

    __slots__ = (
        "messages",
        "bytes",
        "open",
        "peak_open",
        "errors",
        "failed",
        "early",
        "tick",
        "stop",
        "stopped_at",
        "sockets",
        "measuring",
        "pending",
        "spawning",
        "idle",
        "go",
        "interval",
        "batch",
        "window_start",
        "cpu_start",
        "reported",
    )

    def __init__(self, connections: int = 1) -> None:
        self.messages = 0
        self.bytes = 0
        self.open = 0
        # Messages a connection takes before yielding to the loop: about 100 ms of work per
        # loop iteration over all connections, at about 1 µs per message.
        self.batch = max(8, min(256, 100_000 // max(1, connections)))
        self.peak_open = 0
        self.errors = 0
        self.failed = 0
        self.early = 0  # connections the server closed normally before their count or deadline
        self.tick = 0  # bumped by the ticker: connections then add their counts here
        self.stop = False
        self.stopped_at = 0.0  # time.monotonic() when the measured window ended
        self.sockets: set[WebSocketClientProtocol] = set()
        self.measuring: set[asyncio.Task[None]] = set()  # connecting or counting
        self.pending = 0  # connection tasks started by the spawner, not done measuring
        self.spawning = True
        self.idle = asyncio.Event()  # nothing measuring any more
        self.go = asyncio.Event()  # the measured window started
        self.interval = Histogram()  # latencies of the current tick (echo)
        self.window_start: float | None = None
        self.cpu_start = 0.0
        self.reported = (0.0, 0, 0)  # time, messages, bytes at the last record

    def done_measuring(self, task: asyncio.Task[None] | None) -> None:
        """A connection stopped connecting or counting (None: the spawner finished)."""
        if task is not None:
            self.measuring.discard(task)
            self.pending -= 1
        if not self.pending and not self.spawning:
            self.idle.set()

    def record(self, tick: int, now: float, latency: bool) -> dict[str, Any]:
        """
        The per-interval figures since the previous record (one entry of ``Result.series``).

        Args:
            tick: the interval's number (1: the first second of the window).
            now: ``time.monotonic()`` at the end of the interval.
            latency: echo mode: include (and restart) the interval's latency histogram.
        """
        then, messages, nbytes = self.reported
        self.reported = (now, self.messages, self.bytes)
        start = self.window_start if self.window_start is not None else now
        hist = None
        if latency:
            hist, self.interval = self.interval, Histogram()
        return {
            "tick": tick,
            "t": round(now - start, 6),
            "seconds": round(now - then, 6),
            "messages": self.messages - messages,
            "bytes": self.bytes - nbytes,
            "open": self.open,
            "errors": self.errors + self.failed,
            "latency": hist,
        }


def _uncancel() -> None:
    """Forget a cancellation this task caught on purpose (Python 3.11+ counts them)."""
    task = asyncio.current_task()
    if task is not None and hasattr(task, "uncancel"):
        task.uncancel()


async def _recv(ws: WebSocketClientProtocol, limit: int, live: _Live) -> bool:
    """Count messages until ``limit`` (-1: none); False if the server closed first."""
    n = nbytes = done_n = done_bytes = 0
    tick = live.tick
    # Messages already received are taken without suspending: yield to the loop every `batch`
    # of them, so that the other connections, the timers and the deadline get their turn.
    batch, sleep = live.batch, asyncio.sleep
    try:
        async for msg in ws:
            n += 1
            nbytes += len(msg)
            if n == limit:
                return True
            if live.tick != tick:  # once per second: publish the counts
                tick = live.tick
                live.messages += n - done_n
                live.bytes += nbytes - done_bytes
                done_n, done_bytes = n, nbytes
            if not n % batch:
                await sleep(0)
        return False
    finally:
        live.messages += n - done_n
        live.bytes += nbytes - done_bytes


async def _send(ws: WebSocketClientProtocol, limit: int, payload: str | bytes, live: _Live) -> bool:
    """Send ``payload`` until ``limit`` messages (-1: none)."""
    n = done_n = 0
    tick = live.tick
    size = len(payload.encode() if isinstance(payload, str) else payload)
    # send() suspends only while the transport is above write_limit: yield to the loop now and
    # then (about every 64 KiB) so timers, progress and the other connections get to run.
    every = max(1, min(256, 2**16 // max(1, size)))
    send, sleep = ws.send, asyncio.sleep
    try:
        while n != limit:
            await send(payload)
            n += 1
            if not n % every:
                await sleep(0)
            if live.tick != tick:
                tick = live.tick
                live.messages += n - done_n
                live.bytes += (n - done_n) * size
                done_n = n
        return True
    finally:
        live.messages += n - done_n
        live.bytes += (n - done_n) * size


async def _echo(ws: WebSocketClientProtocol, limit: int, payload: str | bytes, live: _Live) -> bool:
    """
    One round trip at a time: send, wait for the reply, record the round-trip time.

    Each round trip is counted at once in the shared counters, in the same second as its
    latency (a connection may make only a round trip or two per second: publishing once per tick,
    as recv and send do, would put its count in the next second).
    """
    n = 0
    size = len(payload.encode() if isinstance(payload, str) else payload)
    send, recv, clock = ws.send, ws.recv, time.perf_counter_ns
    while n != limit:
        start = clock()
        await send(payload)
        await recv()
        live.interval.record(clock() - start)  # the histogram changes every tick
        live.messages += 1
        live.bytes += size
        n += 1
    return True


async def _echo_rate(
    ws: WebSocketClientProtocol, limit: int, payload: str | bytes, live: _Live, rate: float
) -> bool:
    """
    Open loop: send on schedule at ``rate`` messages/s, time each reply from its scheduled send
    time (a server that falls behind shows up in the latency, not as a lower send rate).
    """
    size = len(payload.encode() if isinstance(payload, str) else payload)
    interval = 1e9 / rate
    scheduled: collections.deque[int] = collections.deque()
    clock = time.perf_counter_ns
    state = {"received": 0, "sent": -1}  # "sent" is set once sending is over
    drained = asyncio.Event()

    async def receive() -> None:
        n = 0
        recv = ws.recv
        while True:
            await recv()
            if live.stop:  # the window is over: this reply doesn't count
                break
            live.interval.record(clock() - scheduled.popleft())
            live.messages += 1  # counted at once, as in _echo
            live.bytes += size
            n += 1
            state["received"] = n
            if n == state["sent"]:  # pragma: no branch - timing: last reply after last send
                drained.set()

    receiver = asyncio.ensure_future(receive())
    try:
        sent = 0
        start = clock()
        while sent != limit and not receiver.done():
            due = start + int(sent * interval)
            now = clock()
            if due > now:
                await asyncio.sleep((due - now) / 1e9)
                continue
            scheduled.append(due)
            await ws.send(payload)
            sent += 1
        state["sent"] = sent
        if state["received"] == sent:  # pragma: no branch - timing: replies still on their way?
            drained.set()
        waiter = asyncio.ensure_future(drained.wait())
        try:
            await asyncio.wait(
                {receiver, waiter}, timeout=DRAIN_TIMEOUT, return_when="FIRST_COMPLETED"
            )
        finally:
            waiter.cancel()
        if receiver.done():  # pragma: no branch - timing: did the connection close meanwhile?
            receiver.result()  # raises what ended the receiver (ConnectionClosed)
            return False
        return True
    finally:
        if not receiver.done():  # pragma: no branch - timing, as above
            receiver.cancel()
            try:
                await receiver
            except asyncio.CancelledError:
                pass


async def _close(
    ws: WebSocketClientProtocol, timeout: float, batch: int, unread: bool
) -> int | None:
    """
    Close ``ws`` within ``timeout`` seconds, then abort its transport.

    With ``unread`` (a feed stopped by the end of the window), send the close frame and discard
    what the server still had in flight unparsed (RFC 6455 7.1.7, failing with 1000): parsing a
    flooding server's backlog costs seconds and gigabytes at a few thousand connections (see
    docs/bench.md). Otherwise perform the closing handshake, reading (not counting) what arrives
    meanwhile.

    Returns:
        The close code to report (1000 for an ``unread`` close the server completed by closing
        TCP), None if the transport had to be aborted.
    """
    if ws.closed:
        return ws.close_code
    if unread:
        ws.fail_connection(1000)  # reading resumes (Inflow.finished): the server's EOF is seen
        closed = asyncio.ensure_future(ws.wait_closed())
        done, _ = await asyncio.wait({closed}, timeout=timeout)
        if not done:
            ws.transport.abort()
            await asyncio.wait({closed}, timeout=1.0)
            return None
        return 1000 if ws.connection.close_sent is not None else ws.close_code

    async def discard() -> None:
        # A full message queue would stop the client from reading the server's close frame.
        n = 0
        try:
            async for _ in ws:
                n += 1
                if not n % batch:
                    await asyncio.sleep(0)
        except Exception:
            pass

    closing = asyncio.ensure_future(ws.close())
    reader = asyncio.ensure_future(discard())
    try:
        done, _ = await asyncio.wait({closing}, timeout=timeout)
        if not done:
            ws.transport.abort()
            await asyncio.wait({closing}, timeout=1.0)
            return None
        return ws.close_code
    finally:
        for future in (closing, reader):
            if not future.done():
                future.cancel()
            elif not future.cancelled():
                future.exception()  # retrieved: close() may have failed, the count says so


async def _connection(
    config: BenchConfig,
    live: _Live,
    result: Result,
    gate: asyncio.Semaphore,
    payload: str | bytes,
    opened: Callable[[bool], None],
) -> None:
    """Open one connection, run the mode on it until the window ends, close it, count."""
    task = asyncio.current_task()
    if live.stop:  # the window ended before this task's first step
        gate.release()
        live.done_measuring(task)
        return
    assert task is not None
    live.measuring.add(task)  # stop() cancels the tasks in this set
    try:
        try:
            ws = await connect(
                config.url,
                compression="deflate" if config.compression else None,
                open_timeout=OPEN_TIMEOUT,
                close_timeout=config.close_timeout,
                ping_interval=None,
                max_size=None,
            )
        finally:
            gate.release()
    except asyncio.CancelledError:
        live.done_measuring(task)
        if not live.stop:
            raise
        _uncancel()  # the window ended during the handshake: not opened, not a failure
        return
    except Exception as exc:
        live.done_measuring(task)
        live.failed += 1
        result.failed += 1
        result.add_error(describe_error(exc, config.url))
        opened(False)
        return
    live.open += 1
    if live.open > live.peak_open:
        live.peak_open = live.open
    live.sockets.add(ws)
    result.opened += 1
    if ws.extensions:
        result.compressed += 1
    opened(True)
    limit = config.count or -1  # -1: no limit (counts start at 0 and only grow)
    recv = config.mode == "recv"
    stopped = False  # the end of the window stopped this connection
    code: int | None = None
    try:
        try:
            if not live.go.is_set():  # held until every connection is open
                await live.go.wait()
            if config.start_message:
                await ws.send("start")
            if config.mode == "recv":
                complete = await _recv(ws, limit, live)
            elif config.mode == "send":
                complete = await _send(ws, limit, payload, live)
            elif config.rate:
                complete = await _echo_rate(ws, limit, payload, live, config.rate)
            else:
                complete = await _echo(ws, limit, payload, live)
            if not complete and not live.stop:
                live.early += 1
                result.ended_early += 1
        except asyncio.CancelledError:
            if not live.stop:
                raise
            _uncancel()  # the window ended: stop counting, go on to close
            stopped = True
        except ConnectionClosedOK:  # the server closed normally before we were done
            if not live.stop:
                live.early += 1
                result.ended_early += 1
        except Exception as exc:
            live.errors += 1
            result.errors += 1
            closed = isinstance(exc, ConnectionClosedError)
            result.add_error(f"connection closed: {exc}" if closed else describe_error(exc))
        finally:
            live.done_measuring(task)
        code = await _close(ws, config.close_timeout, live.batch, stopped and recv)
        if code is None:
            result.aborted += 1
            code = ws.close_code
    finally:
        live.sockets.discard(ws)
        live.open -= 1
        result.add_close(code)


async def _spawn(
    config: BenchConfig,
    live: _Live,
    result: Result,
    payload: str | bytes,
    opened: Callable[[bool], None],
    tasks: list[asyncio.Task[None]],
) -> None:
    """Start the connections: at ``spawn_rate`` per second, ``connect_concurrency`` at a time."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(config.connect_concurrency)
    start = loop.time()
    try:
        for index in range(config.connections):
            if config.spawn_rate:
                delay = start + index / config.spawn_rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            await gate.acquire()
            if live.stop:
                gate.release()
                break
            live.pending += 1
            tasks.append(loop.create_task(_connection(config, live, result, gate, payload, opened)))
    except asyncio.CancelledError:
        if not live.stop:  # pragma: no cover - only the run's stop() cancels the spawner
            raise
    finally:
        live.spawning = False
        live.done_measuring(None)


async def _ticker(live: _Live, result: Result, report: Report | None, latency: bool) -> None:
    """Every second of the window: ask connections to publish their counts, then record them."""
    assert live.window_start is not None
    tick = 0
    while True:
        tick += 1
        due = live.window_start + tick * TICK
        await asyncio.sleep(max(0.0, due - TICK * TICK_GRACE - time.monotonic()))
        live.tick += 1  # each connection publishes at its next message
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        _append(live, result, report, tick, time.monotonic(), latency)


def _append(
    live: _Live, result: Result, report: Report | None, tick: int, now: float, latency: bool
) -> None:
    """Add one record to the series (and to the total latency), pass it to ``report``."""
    record = live.record(tick, now, latency)
    if record["latency"] is not None:
        result.latency.merge(record["latency"])
    result.series.append(record)
    if report is not None:
        report(record)


def _finish_series(
    live: _Live, result: Result, report: Report | None, end: float, latency: bool
) -> None:
    """
    The last record: what was counted since the last tick. Its tick is the window's length
    rounded to whole ticks; if the ticker has recorded that tick already (the window ended
    shortly after it), the record extends it instead of adding a sliver of an interval whose
    rate would mean little. Workers with the same window decide the same way.
    """
    assert live.window_start is not None
    tick = max(1, round((end - live.window_start) / TICK))
    last = result.series[-1] if result.series else None
    if last is None or last["tick"] < tick:
        _append(live, result, report, tick, end, latency)
        return
    record = live.record(last["tick"], end, latency)
    for key in ("messages", "bytes"):
        last[key] += record[key]
    last["seconds"] = round(last["seconds"] + record["seconds"], 6)
    last["t"], last["open"], last["errors"] = record["t"], record["open"], record["errors"]
    if record["latency"] is not None:
        result.latency.merge(record["latency"])
        last["latency"].merge(record["latency"])


async def _run(config: BenchConfig, report: Report | None, control: Control | None) -> Result:
    """Run ``config`` on the running loop."""
    loop = asyncio.get_running_loop()
    live = _Live(config.connections)
    result = Result()
    unit = "x" * config.size
    payload: str | bytes = unit if config.text else unit.encode()
    latency = config.mode == "echo"
    tasks: list[asyncio.Task[None]] = []
    tickers: list[asyncio.Task[None]] = []
    timers: list[asyncio.TimerHandle] = []
    spawner: asyncio.Task[None] | None = None
    ramped = False

    def stop() -> None:
        if live.stop:
            return
        live.stop = True
        live.stopped_at = time.monotonic()
        live.tick += 1
        for task in tickers:
            task.cancel()
        if spawner is not None:
            spawner.cancel()
        for task in list(live.measuring):
            task.cancel()

    def start() -> None:
        """The measured window starts: connections held so far start their traffic."""
        if live.window_start is not None or live.stop:
            return
        live.window_start = time.monotonic()
        live.reported = (live.window_start, 0, 0)
        live.cpu_start = time.process_time()
        for task in tickers:
            task.cancel()
        tickers.append(loop.create_task(_ticker(live, result, report, latency)))
        if config.duration is not None:
            timers.append(loop.call_later(config.duration, stop))
        live.go.set()

    def opened(success: bool) -> None:
        nonlocal ramped
        if ramped or result.opened + result.failed < config.connections:
            return
        ramped = True
        result.connect_seconds = time.monotonic() - result.start
        if control is None:
            if result.opened:  # else there is nothing to measure: the run ends
                start()
        elif control.ramped is not None:
            control.ramped()

    signals: list[signal.Signals] = []
    interrupted = False

    def on_signal() -> None:
        nonlocal interrupted
        if interrupted:  # a second Ctrl-C: don't wait for the closing handshakes
            for ws in list(live.sockets):
                ws.transport.abort()
        interrupted = True
        stop()

    if threading.current_thread() is threading.main_thread() and os.name == "posix":
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, on_signal)
                signals.append(signum)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - unusual loops
                pass
    if control is not None:
        control.attach(loop, start, stop)
    result.start = time.monotonic()
    try:
        if report is not None:
            tickers.append(loop.create_task(_ramp_ticker(live, result, report, config)))
        spawner = loop.create_task(_spawn(config, live, result, payload, opened, tasks))
        await live.idle.wait()
        end = live.stopped_at if live.stop else time.monotonic()
        live.stop = True  # connections finishing their count from now on aren't early
        cpu_end = time.process_time()
        for task in tickers:
            task.cancel()
        await asyncio.gather(*tickers, return_exceptions=True)
        if live.window_start is not None:
            _finish_series(live, result, report, max(end, live.reported[0]), latency)
        # Closing: each connection closes within close_timeout, then aborts.
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=config.close_timeout + 2.0)
            for task in pending:  # pragma: no cover - close() outlived its abort
                task.cancel()
    finally:
        for timer in timers:
            timer.cancel()
        if control is not None:
            control.detach()
        for signum in signals:
            loop.remove_signal_handler(signum)
    result.wall_seconds = time.monotonic() - result.start
    if not ramped:
        result.connect_seconds = end - result.start  # opening stopped with the run
    if live.window_start is not None:
        result.start, result.end = live.window_start, end
        result.cpu_seconds = cpu_end - live.cpu_start
    else:  # stopped during the ramp: an empty window
        result.start = result.end = end
        result.cpu_seconds = 0.0
    result.messages = live.messages
    result.bytes = live.bytes
    result.peak_open = live.peak_open
    result.not_opened = config.connections - result.opened - result.failed
    result.interrupted = interrupted
    result.rss_bytes = peak_rss_bytes()
    return result


async def _ramp_ticker(live: _Live, result: Result, report: Report, config: BenchConfig) -> None:
    """Every second until the window starts: report the connections opened so far."""
    start = time.monotonic()
    tick = 0
    while live.window_start is None:
        tick += 1
        await asyncio.sleep(max(0.0, start + tick * TICK - time.monotonic()))
        if live.window_start is None:
            report(
                {
                    "phase": "ramp",
                    "tick": tick,
                    "t": round(time.monotonic() - start, 6),
                    "open": live.open,
                    "errors": live.failed,
                    "opened": result.opened + result.failed,
                }
            )


def run_worker(
    config: BenchConfig, report: Report | None = None, control: Control | None = None
) -> Result:
    """
    Run one process's share of a benchmark on a new event loop.

    Args:
        config: what to run.
        report: called with each per-interval record (``Result.series`` entry), about once per
            second (None: no progress).
        control: lets another thread start the measured window and stop the run (None: the
            window starts when every connection has opened or failed).

    Returns:
        The process's figures.
    """
    return run_on(config.loop, _run(config, report, control))


class Progress:
    """
    Prints a progress line per interval record: seconds into the measured window, messages/s,
    MB/s, connections held (of those asked for), errors so far.

    Args:
        stream: where to print (stderr).
        connections: connections asked for, shown next to those held.
    """

    def __init__(self, stream: IO[str], connections: int = 0) -> None:
        self.stream = stream
        self.connections = connections

    def update(self, record: dict[str, Any]) -> None:
        """
        Print one line.

        Args:
            record: an entry of ``Result.series``: ``t``, ``seconds``, ``messages``, ``bytes``
                (in the interval), ``open``, ``errors`` (so far).
        """
        held = f"{record['open']:,}"
        if self.connections:
            held += f"/{self.connections:,}"
        if record.get("phase") == "ramp":
            print(
                f"fastws bench: opening {record['t']:6.1f} s  open {held}  "
                f"failed {record['errors']:,}",
                file=self.stream,
                flush=True,
            )
            return
        elapsed = max(record["seconds"], 1e-9)
        rate = record["messages"] / elapsed
        mbps = record["bytes"] / elapsed / 1e6
        print(
            f"fastws bench: {record['t']:6.1f} s  {rate:>12,.0f} msg/s  {mbps:>9,.2f} MB/s  "
            f"open {held}  errors {record['errors']:,}",
            file=self.stream,
            flush=True,
        )


def _split(total: int, parts: int) -> list[int]:
    """Split ``total`` into ``parts`` near-equal positive shares."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


class _Workers:
    """The worker processes of a ``--processes`` run and the lines they print."""

    def __init__(self, config: BenchConfig, processes: int) -> None:
        self.count = processes
        self.lines: queue.Queue[tuple[int, str | None]] = queue.Queue()
        self.processes: list[subprocess.Popen[str]] = []
        shares = _split(config.connections, processes)
        rates = (
            [None] * processes
            if not config.spawn_rate
            else [config.spawn_rate * share / config.connections for share in shares]
        )
        gates = _split(max(config.connect_concurrency, processes), processes)
        for index, share in enumerate(shares):
            worker_config = dataclasses.replace(
                config, connections=share, spawn_rate=rates[index], connect_concurrency=gates[index]
            )
            process = subprocess.Popen(
                [sys.executable, "-m", "fastws.cli.worker", worker_config.to_json()],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            self.processes.append(process)
            assert process.stdout is not None
            threading.Thread(target=self._read, args=(index, process.stdout), daemon=True).start()

    def _read(self, index: int, stream: IO[str]) -> None:
        with stream:
            for line in stream:
                self.lines.put((index, line))
        self.lines.put((index, None))

    def tell(self, command: str) -> None:
        """Write a command line (``go``, ``stop``) to every worker still running."""
        for process in self.processes:
            if process.poll() is None and process.stdin is not None:
                try:
                    process.stdin.write(command + "\n")
                    process.stdin.flush()
                except (OSError, ValueError):  # pragma: no cover - it just exited
                    pass

    def get(self, timeout: float) -> tuple[int, str | None] | None:
        """The next line of any worker (None: its output ended), None if none came in time."""
        try:
            return self.lines.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None

    def reap(self, timeout: float) -> list[int]:
        """Wait for every worker to exit until ``timeout``, kill the others; return those."""
        deadline = time.monotonic() + timeout
        killed = []
        for index, process in enumerate(self.processes):
            if process.stdin is not None:
                try:
                    process.stdin.close()
                except OSError:  # pragma: no cover - broken pipe
                    pass
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                killed.append(index)
        return killed


class _Merger:
    """Merges the workers' progress records by phase and tick, for the progress line."""

    def __init__(self, processes: int, progress: Progress | None) -> None:
        self.progress = progress
        self.pending: dict[tuple[int, int], dict[int, dict[str, Any]]] = {}
        self.errors = [0] * processes
        self.printed = (0, 0)

    def add(self, index: int, record: dict[str, Any], running: set[int]) -> None:
        """A worker's record; print the merged ones every running worker has reported."""
        self.errors[index] = record["errors"]
        phase = 0 if record.get("phase") == "ramp" else 1
        self.pending.setdefault((phase, record["tick"]), {})[index] = record
        self.flush(running)

    def flush(self, running: set[int]) -> None:
        """Print the records every worker still running has reported."""
        for key in sorted(self.pending):
            records = self.pending[key]
            if not running <= set(records):
                break
            del self.pending[key]
            if key <= self.printed or self.progress is None:
                continue
            self.printed = key
            merged = _merge_records(list(records.values()))
            merged["errors"] = sum(self.errors)
            self.progress.update(merged)


def _merge_records(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the records of one tick from several workers (latency histograms merged)."""
    if records[0].get("phase") == "ramp":
        merged = dict(records[0])
        for key in ("open", "errors", "opened"):
            merged[key] = sum(r[key] for r in records)
        merged["t"] = max(r["t"] for r in records)
        return merged
    return merge_series([[r] for r in records])[0]


@contextlib.contextmanager
def _parent_signals(handler: Callable[[], None]) -> Iterator[None]:
    """Route SIGINT and SIGTERM to ``handler`` while the block runs (main thread, POSIX)."""
    saved: list[tuple[signal.Signals, Any]] = []
    if threading.current_thread() is threading.main_thread() and os.name == "posix":
        for signum in (signal.SIGINT, signal.SIGTERM):
            saved.append((signum, signal.signal(signum, lambda *_: handler())))
    try:
        yield
    finally:
        for signum, previous in saved:
            signal.signal(signum, previous)


def _run_processes(config: BenchConfig, processes: int, progress: Progress | None) -> Result:
    """
    Run ``config`` spread over worker processes; merge their results.

    Every wait has a deadline: the workers must start within :data:`WORKER_START_TIMEOUT`, open
    their connections within a budget computed from the pacing options and
    :data:`OPEN_TIMEOUT`, and report within ``close_timeout`` + :data:`WORKER_STOP_GRACE` once
    asked to stop (at the deadline, on SIGINT/SIGTERM, or when a worker is lost); a worker that
    overstays is killed and reported. A second signal kills them at once.
    """
    workers = _Workers(config, processes)
    results: list[Result | None] = [None] * processes
    failures: list[str | None] = [None] * processes
    merger = _Merger(processes, progress)
    running = set(range(processes))
    ready: set[int] = set()
    ramped: set[int] = set()
    signals = 0
    stop_grace = config.close_timeout + WORKER_STOP_GRACE
    share = -(-config.connections // processes)
    gate = max(1, config.connect_concurrency // processes)
    ramp_budget = WORKER_START_TIMEOUT + OPEN_TIMEOUT * (2 + share // gate)
    if config.spawn_rate:
        ramp_budget += config.connections / config.spawn_rate

    def on_signal() -> None:
        nonlocal signals
        signals += 1

    def handle(index: int, line: str | None) -> None:
        if line is None:
            running.discard(index)
            merger.flush(running)
        elif line.startswith("P "):
            merger.add(index, record_from_json(json.loads(line[2:])), running)
        elif line.startswith("R "):
            results[index] = Result.from_json(json.loads(line[2:]))
        elif line.startswith("E "):
            failures[index] = line[2:].strip()
        elif line.strip() == "READY":
            ready.add(index)
        elif line.strip() == "RAMPED":
            ramped.add(index)

    now = time.monotonic()
    phase = "starting"  # then "opening", "measuring", "stopping"
    phase_deadline: float | None = now + WORKER_START_TIMEOUT
    seen_signals = 0
    killed = False
    with _parent_signals(on_signal):
        try:
            while running:
                now = time.monotonic()
                if signals != seen_signals:
                    if seen_signals:  # a second Ctrl-C: don't wait
                        killed = True
                        break
                    seen_signals = signals
                    phase, phase_deadline = "stopping", now + stop_grace
                    workers.tell("stop")
                lost = any(results[i] is None and i not in running for i in range(processes))
                if phase == "starting" and ready >= running:
                    workers.tell("go")
                    phase, phase_deadline = "opening", now + ramp_budget
                elif phase == "opening" and ramped >= running:
                    workers.tell("start")  # the windows start together
                    phase = "measuring"
                    phase_deadline = None
                    if config.duration is not None:
                        phase_deadline = now + config.duration + stop_grace
                elif phase != "stopping" and (
                    lost or (phase_deadline is not None and now >= phase_deadline)
                ):
                    # A worker died or a phase overran: stop the others rather than hide it.
                    overran = phase_deadline is not None and now >= phase_deadline
                    for index in running - (ready if phase == "starting" else ramped):
                        if overran and phase != "measuring":
                            failures[index] = failures[index] or f"did not finish {phase} in time"
                    phase, phase_deadline = "stopping", now + stop_grace
                    workers.tell("stop")
                elif phase == "stopping" and phase_deadline is not None and now >= phase_deadline:
                    killed = True
                    break
                item = workers.get(0.1)
                if item is not None:
                    handle(*item)
        finally:
            gone = workers.reap(0.0 if killed else 5.0)
    while True:  # lines read before the workers exited
        item = workers.get(0.0)
        if item is None:
            break
        handle(*item)
    done = [r for r in results if r is not None]
    reasons = []
    for index, process in enumerate(workers.processes):
        if results[index] is None:
            if index in gone:
                reason = f"did not stop within {stop_grace:g} s: killed"
            else:
                reason = failures[index] or f"exit status {process.returncode}"
            reasons.append(f"worker process {index + 1} of {processes} failed: {reason}")
    if not done:
        raise CliError(reasons[0] if reasons else "no worker reported")
    merged = Result.merge(done)
    merged.lost_workers = len(reasons)
    for reason in reversed(reasons):
        merged.add_error(reason, first=True)
    if signals:
        merged.interrupted = True
    return merged


def run_bench(
    *,
    url: str | None,
    mode: str,
    connections: int,
    processes: int,
    count: int | None,
    duration: float | None,
    size: int,
    text: bool,
    compression: bool,
    rate: float | None,
    loop: str,
    quiet: bool,
    as_json: bool,
    stdout: IO[str],
    stderr: IO[str],
    spawn_rate: float | None = None,
    ramp_up: float | None = None,
    connect_concurrency: int = CONNECT_CONCURRENCY,
    close_timeout: float = CLOSE_TIMEOUT,
    allow_early_end: bool = False,
    output: str | None = None,
) -> int:
    """
    Run a benchmark and print its figures; the body of ``fastws bench``.

    Args:
        url: the server, or None to start the embedded feed server.
        mode: ``recv``, ``echo`` or ``send``.
        connections: total connections.
        processes: worker processes (1: run in this process).
        count: messages per connection (None: the default total split over the connections).
        duration: seconds the measured window lasts, instead of a count.
        size: payload size of the messages sent (and of the embedded feed's messages).
        text: text (else binary) messages.
        compression: offer permessage-deflate.
        rate: echo mode: total messages per second over all connections.
        loop: ``asyncio`` or ``uvloop``.
        quiet: no progress lines.
        as_json: print the figures as JSON instead of a table.
        stdout: where the table goes.
        stderr: where progress goes.
        spawn_rate: connections opened per second over all processes (None: no pacing).
        ramp_up: open the connections evenly over this many seconds (sets ``spawn_rate``).
        connect_concurrency: opening handshakes in flight at once, over all processes.
        close_timeout: seconds each connection may take to close at the end, then aborted.
        allow_early_end: a server that ends a connection before its ``count`` or ``duration``
            (given explicitly) is reported but doesn't make the exit status 1.
        output: a ``.csv`` or ``.json`` file for the per-second series and the latency
            histogram (:mod:`fastws.cli.output`), written whenever a connection opened.

    Returns:
        0; 1 when some connections failed, ended with an error, ended early (``count`` or
        ``duration`` given, without ``allow_early_end``), or a worker was lost; 130 when the run
        was interrupted (SIGINT, SIGTERM). The table (or JSON) is printed in every case.

    Raises:
        CliError: When no connection could be opened (without ``as_json``), every worker failed,
            or the embedded server did not start.
    """
    if duration is not None:
        per_connection = 0
    elif count is not None:
        per_connection = count
    else:
        per_connection = max(1, DEFAULT_TOTAL[mode] // connections)
    if ramp_up is not None:
        spawn_rate = connections / ramp_up
    server: EmbeddedServer | None = None
    try:
        if url is None:
            # The server runs on uvloop whenever it is installed: it must not be the bottleneck.
            server = EmbeddedServer()
            try:
                server.start()
            except ServerError as exc:
                raise CliError(str(exc)) from None
            url = server.url(embedded_path(mode, per_connection, size, text, compression))
        config = BenchConfig(
            url=url,
            mode=mode,
            connections=connections,
            count=per_connection,
            duration=duration,
            size=size,
            text=text,
            compression=compression,
            rate=None if rate is None else rate / connections,
            loop=loop,
            progress=not quiet,
            spawn_rate=spawn_rate,
            connect_concurrency=connect_concurrency,
            close_timeout=close_timeout,
            start_message=server is not None and mode == "recv",
        )
        progress = None if quiet else Progress(stderr, connections)
        if processes == 1:
            result = run_worker(config, None if progress is None else progress.update)
        else:
            result = _run_processes(config, processes, progress)
    finally:
        if server is not None:
            server.stop()
    info = {
        "url": url,
        "embedded": server is not None,
        "mode": mode,
        "connections": connections,
        "count": per_connection,
        "duration": duration,
        "size": size,
        "text": text,
        "compression": compression,
        "rate": rate,
        "loop": loop,
        "spawn_rate": spawn_rate,
        "connect_concurrency": connect_concurrency,
        "close_timeout": close_timeout,
    }
    data = summary(result, info)
    problems = []
    if not result.opened:
        problems.append(result.error_samples[0] if result.error_samples else "no connection opened")
    else:
        if result.failed or result.errors or result.lost_workers:
            problems.append(
                f"{result.failed} connection(s) failed, {result.errors} ended with an error: "
                + "; ".join(result.error_samples)
            )
        if result.ended_early and (count is not None or duration is not None):
            asked = f"{duration:g} s" if duration is not None else f"{count:,} messages"
            note = f"{result.ended_early} connection(s) closed by the server before {asked}"
            if allow_early_end:
                print(f"fastws: warning: {note} (--allow-early-end)", file=stderr)
            else:
                problems.append(note + " (--allow-early-end accepts it)")
    if problems:
        data["error"] = "; ".join(problems)
    if not result.opened and not as_json:
        raise CliError(problems[0])
    print(dumps(data) if as_json else format_table(data), file=stdout, flush=True)
    if output is not None and result.opened:
        written = write_output(output, result, data)
        print(f"fastws: per-second series in {', '.join(written)}", file=stderr)
    for problem in problems:
        print(f"fastws: error: {problem}", file=stderr)
    if result.interrupted:
        print(f"fastws: interrupted: measured {result.seconds:.3f} s", file=stderr)
        return 130
    return 1 if problems else 0
