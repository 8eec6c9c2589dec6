"""
``fastws bench``: open connections, receive, echo or send messages, report the figures.

One process runs its share of the connections on one event loop (:func:`run_worker`); with
``--processes N`` the parent starts N workers (``python -m fastws.cli.worker``), reads their
progress and results as JSON lines, and merges them (:func:`run_bench`).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from ..asyncio.client import connect
from ..asyncio.protocol import WebSocketClientProtocol
from ..exceptions import ConnectionClosedError, ConnectionClosedOK
from .common import CliError, describe_error, resolve_loop, run_on
from .server import EmbeddedServer, ServerError
from .stats import Histogram, Result, dumps, format_table, peak_rss_bytes, summary

__all__ = ["BenchConfig", "Progress", "run_bench", "run_worker", "embedded_path", "DEFAULT_TOTAL"]

MODES = ("recv", "echo", "send")

DEFAULT_TOTAL = {"recv": 3_000_000, "echo": 30_000, "send": 1_000_000}
"""Messages over all connections when neither ``--count`` nor ``--duration`` is given: a few
seconds each on a 2-core machine with the embedded server."""

CONNECT_CONCURRENCY = 256
"""Opening handshakes in flight at once per process (a burst of SYNs overflows listen backlogs)."""

OPEN_TIMEOUT = 10.0
DRAIN_TIMEOUT = 10.0
"""Echo mode with ``--rate``: how long to wait for the last replies once sending stops."""

TICK = 1.0
"""Seconds between progress reports."""
TICK_GRACE = 0.05
"""Part of a tick between asking connections to publish their counts and reading the totals."""

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
        duration: seconds to run, None to stop after ``count`` messages.
        size: payload size in bytes of the messages sent (echo, send).
        text: send text messages (else binary).
        compression: offer permessage-deflate.
        rate: echo mode: messages per second per connection, sent on schedule whatever the
            replies do (latency counts from the scheduled time); None: one round trip at a time.
        loop: ``asyncio`` or ``uvloop``.
        progress: report progress about once per second.
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
        return f"/feed?size={size}&count={count}&text={int(text)}" + f"&{deflate}" * compression
    return ("/echo" if mode == "echo" else "/sink") + f"?{deflate}" * compression


class _Live:
    """Counters shared by the connections of one process, for progress and the final totals."""

    __slots__ = ("messages", "bytes", "open", "errors", "failed", "tick", "stop", "sockets")

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.open = 0
        self.errors = 0
        self.failed = 0
        self.tick = 0  # bumped by the ticker: connections then add their counts here
        self.stop = False
        self.sockets: set[WebSocketClientProtocol] = set()

    def snapshot(self) -> dict[str, Any]:
        return {
            "t": time.monotonic(),
            "messages": self.messages,
            "bytes": self.bytes,
            "open": self.open,
            "errors": self.errors + self.failed,
        }


async def _recv(ws: WebSocketClientProtocol, limit: int, live: _Live) -> None:
    """Count messages until ``limit`` (-1: none) or the connection closes."""
    n = nbytes = done_n = done_bytes = 0
    tick = live.tick
    try:
        async for msg in ws:
            n += 1
            nbytes += len(msg)
            if n == limit:
                break
            if live.tick != tick:  # once per second: publish the counts
                tick = live.tick
                live.messages += n - done_n
                live.bytes += nbytes - done_bytes
                done_n, done_bytes = n, nbytes
    finally:
        live.messages += n - done_n
        live.bytes += nbytes - done_bytes
    if n == limit:
        # Close, and read (not count) what the server sent meanwhile: a full message queue
        # would stop the client from reading the server's close frame.
        closing = asyncio.ensure_future(ws.close())
        try:
            async for _ in ws:
                pass
        finally:
            await closing


async def _send(ws: WebSocketClientProtocol, limit: int, payload: str | bytes, live: _Live) -> None:
    """Send ``payload`` until ``limit`` messages (-1: none) or the stop flag."""
    n = done_n = 0
    tick = live.tick
    size = len(payload.encode() if isinstance(payload, str) else payload)
    # send() doesn't suspend while the transport takes the data: yield to the loop now and
    # then (about every 64 KiB) so timers, progress and the other connections get to run.
    every = max(1, min(256, 2**16 // max(1, size)))
    send, sleep = ws.send, asyncio.sleep
    try:
        while n != limit and not live.stop:
            await send(payload)
            n += 1
            if not n % every:
                await sleep(0)
            if live.tick != tick:
                tick = live.tick
                live.messages += n - done_n
                live.bytes += (n - done_n) * size
                done_n = n
    finally:
        live.messages += n - done_n
        live.bytes += (n - done_n) * size


async def _echo(
    ws: WebSocketClientProtocol, limit: int, payload: str | bytes, live: _Live, hist: Histogram
) -> None:
    """One round trip at a time: send, wait for the reply, record the round-trip time."""
    n = done_n = 0
    tick = live.tick
    size = len(payload.encode() if isinstance(payload, str) else payload)
    send, recv, record, clock = ws.send, ws.recv, hist.record, time.perf_counter_ns
    try:
        while n != limit and not live.stop:
            start = clock()
            await send(payload)
            await recv()
            record(clock() - start)
            n += 1
            if live.tick != tick:
                tick = live.tick
                live.messages += n - done_n
                live.bytes += (n - done_n) * size
                done_n = n
    finally:
        live.messages += n - done_n
        live.bytes += (n - done_n) * size


async def _echo_rate(
    ws: WebSocketClientProtocol,
    limit: int,
    payload: str | bytes,
    live: _Live,
    hist: Histogram,
    rate: float,
) -> None:
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
        n = done_n = 0
        tick = live.tick
        recv, record = ws.recv, hist.record
        try:
            while True:
                await recv()
                record(clock() - scheduled.popleft())
                n += 1
                state["received"] = n
                if n == state["sent"]:  # pragma: no branch - timing: last reply after last send
                    drained.set()
                if live.tick != tick:
                    tick = live.tick
                    live.messages += n - done_n
                    live.bytes += (n - done_n) * size
                    done_n = n
        finally:
            live.messages += n - done_n
            live.bytes += (n - done_n) * size

    receiver = asyncio.ensure_future(receive())
    try:
        sent = 0
        start = clock()
        while sent != limit and not live.stop and not receiver.done():
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
    finally:
        if not receiver.done():  # pragma: no branch - timing, as above
            receiver.cancel()
            try:
                await receiver
            except asyncio.CancelledError:
                pass


async def _connection(
    config: BenchConfig,
    live: _Live,
    result: Result,
    gate: asyncio.Semaphore,
    payload: str | bytes,
    attempted: Callable[[], None],
) -> None:
    """Open one connection, run the mode on it, close it, and count what happened."""
    async with gate:
        if live.stop:  # the run ended (--duration, Ctrl-C) before this connection's turn
            attempted()
            live.failed += 1
            result.failed += 1
            result.add_error("not opened: the run ended first")
            return
        try:
            ws = await connect(
                config.url,
                compression="deflate" if config.compression else None,
                open_timeout=OPEN_TIMEOUT,
                ping_interval=None,
                max_size=None,
            )
        except Exception as exc:
            live.failed += 1
            result.failed += 1
            result.add_error(describe_error(exc, config.url))
            return
        finally:
            attempted()
    live.open += 1
    live.sockets.add(ws)
    result.opened += 1
    if ws.extensions:
        result.compressed += 1
    limit = config.count or -1  # -1: no limit (counts start at 0 and only grow)
    try:
        try:
            if config.mode == "recv":
                await _recv(ws, limit, live)
            elif config.mode == "send":
                await _send(ws, limit, payload, live)
            elif config.rate:
                await _echo_rate(ws, limit, payload, live, result.latency, config.rate)
            else:
                await _echo(ws, limit, payload, live, result.latency)
            await ws.close()
        except ConnectionClosedOK:  # the server closed normally before we were done
            pass
        except Exception as exc:
            live.errors += 1
            result.errors += 1
            closed = isinstance(exc, ConnectionClosedError)
            result.add_error(f"connection closed: {exc}" if closed else describe_error(exc))
        finally:
            await ws.close()  # no-op when already closed; waits for the closing handshake
    finally:
        live.sockets.discard(ws)
        live.open -= 1
        result.add_close(ws.close_code)


async def _ticker(live: _Live, report: Report) -> None:
    """Every second: ask connections to publish their counts, then report the totals."""
    while True:
        await asyncio.sleep(TICK * (1 - TICK_GRACE))
        live.tick += 1  # each connection publishes at its next message
        await asyncio.sleep(TICK * TICK_GRACE)
        report(live.snapshot())


async def _run(config: BenchConfig, report: Report | None) -> Result:
    """Run ``config`` on the running loop."""
    loop = asyncio.get_running_loop()
    live = _Live()
    result = Result()
    unit = "x" * config.size
    payload: str | bytes = unit if config.text else unit.encode()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    pending = config.connections

    def attempted() -> None:
        nonlocal pending
        pending -= 1
        if not pending:
            result.connect_seconds = time.monotonic() - result.start

    def stop() -> None:
        live.stop = True
        if config.mode == "recv":  # receivers wait on the server: end their loop by closing
            for ws in list(live.sockets):
                loop.create_task(ws.close())

    sigint = False
    if threading.current_thread() is threading.main_thread() and os.name == "posix":
        try:
            loop.add_signal_handler(signal.SIGINT, stop)  # Ctrl-C: stop, report what was done
            sigint = True
        except (NotImplementedError, RuntimeError):  # pragma: no cover - unusual loops
            pass
    ticker = None if report is None else loop.create_task(_ticker(live, report))
    cpu = time.process_time()
    result.start = time.monotonic()
    timer = None if config.duration is None else loop.call_later(config.duration, stop)
    try:
        tasks = [
            loop.create_task(_connection(config, live, result, gate, payload, attempted))
            for _ in range(config.connections)
        ]
        await asyncio.gather(*tasks)
    finally:
        result.end = time.monotonic()
        result.cpu_seconds = time.process_time() - cpu
        if timer is not None:
            timer.cancel()
        if ticker is not None:
            ticker.cancel()
            try:
                await ticker
            except asyncio.CancelledError:
                pass
        if sigint:
            loop.remove_signal_handler(signal.SIGINT)
    result.messages = live.messages
    result.bytes = live.bytes
    result.rss_bytes = peak_rss_bytes()
    return result


def run_worker(config: BenchConfig, report: Report | None = None) -> Result:
    """
    Run one process's share of a benchmark on a new event loop.

    Args:
        config: what to run.
        report: called with cumulative counts about once per second (None: no progress).

    Returns:
        The process's figures.
    """
    return run_on(config.loop, _run(config, report))


class Progress:
    """
    Prints a progress line on a stream from cumulative counts: messages/s, MB/s, open connections,
    errors.

    Args:
        stream: where to print (stderr).
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.start = time.monotonic()
        self._last: tuple[float, int, int] = (self.start, 0, 0)

    def update(self, counts: dict[str, Any]) -> None:
        """
        Print one line for the counts since the previous call.

        Args:
            counts: ``messages``, ``bytes``, ``open``, ``errors`` (cumulative).
        """
        now = time.monotonic()
        then, messages, nbytes = self._last
        elapsed = max(now - then, 1e-9)
        rate = (counts["messages"] - messages) / elapsed
        mbps = (counts["bytes"] - nbytes) / elapsed / 1e6
        self._last = (now, counts["messages"], counts["bytes"])
        print(
            f"fastws bench: {now - self.start:6.1f} s  {rate:>12,.0f} msg/s  {mbps:>9,.2f} MB/s  "
            f"open {counts['open']:,}  errors {counts['errors']:,}",
            file=self.stream,
            flush=True,
        )


def _split(total: int, parts: int) -> list[int]:
    """Split ``total`` into ``parts`` near-equal positive shares."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _run_processes(config: BenchConfig, processes: int, progress: Progress | None) -> Result:
    """Run ``config`` spread over worker processes; merge their results."""
    lines: queue.Queue[tuple[int, str | None]] = queue.Queue()
    workers: list[subprocess.Popen[str]] = []

    def read(index: int, stream: IO[str]) -> None:
        with stream:
            for line in stream:
                lines.put((index, line))
        lines.put((index, None))

    for index, share in enumerate(_split(config.connections, processes)):
        worker_config = dataclasses.replace(
            config, connections=share, progress=progress is not None
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "fastws.cli.worker", worker_config.to_json()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        workers.append(process)
        assert process.stdout is not None
        threading.Thread(target=read, args=(index, process.stdout), daemon=True).start()

    latest: list[dict[str, Any] | None] = [None] * processes
    results: list[Result | None] = [None] * processes
    failures: list[str | None] = [None] * processes
    fresh: set[int] = set()  # workers that reported since the last progress line
    running = processes
    interrupted = False
    try:
        while running:
            try:
                index, line = lines.get(timeout=1.0)
            except queue.Empty:
                continue
            except KeyboardInterrupt:  # pragma: no cover - the workers got it too: they report
                if interrupted:
                    raise
                interrupted = True
                continue
            if line is None:
                running -= 1
            elif line.startswith("P "):
                latest[index] = json.loads(line[2:])
                fresh.add(index)
            elif line.startswith("R "):
                result = results[index] = Result.from_json(json.loads(line[2:]))
                latest[index] = {
                    "messages": result.messages,
                    "bytes": result.bytes,
                    "open": 0,
                    "errors": result.errors + result.failed,
                }
            elif line.startswith("E "):
                failures[index] = line[2:].strip()
            busy = {i for i in range(processes) if results[i] is None and failures[i] is None}
            if progress is not None and fresh and busy <= fresh:
                # One line per round of reports (workers tick once per second each).
                fresh.clear()
                progress.update(
                    {
                        key: sum(counts[key] for counts in latest if counts is not None)
                        for key in ("messages", "bytes", "open", "errors")
                    }
                )
    finally:
        for process in workers:
            if process.poll() is None:
                try:
                    process.wait(5.0 if not interrupted else 1.0)
                except subprocess.TimeoutExpired:  # pragma: no cover - a stuck worker
                    process.kill()
                    process.wait()
    for index, process in enumerate(workers):
        if results[index] is None:
            reason = failures[index] or f"exit status {process.returncode}"
            raise CliError(f"worker process {index + 1} of {processes} failed: {reason}")
    return Result.merge(r for r in results if r is not None)


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
) -> int:
    """
    Run a benchmark and print its figures; the body of ``fastws bench``.

    Args:
        url: the server, or None to start the embedded feed server.
        mode: ``recv``, ``echo`` or ``send``.
        connections: total connections.
        processes: worker processes (1: run in this process).
        count: messages per connection (None: the default total split over the connections).
        duration: seconds to run instead of a count.
        size: payload size of the messages sent (and of the embedded feed's messages).
        text: text (else binary) messages.
        compression: offer permessage-deflate.
        rate: echo mode: total messages per second over all connections.
        loop: ``asyncio`` or ``uvloop``.
        quiet: no progress lines.
        as_json: print the figures as JSON instead of a table.
        stdout: where the table goes.
        stderr: where progress goes.

    Returns:
        0, or 1 when some connections failed or ended with an error (the table is printed).

    Raises:
        CliError: When no connection could be opened, a worker failed, or the embedded server
            did not start.
    """
    if duration is not None:
        per_connection = 0
    elif count is not None:
        per_connection = count
    else:
        per_connection = max(1, DEFAULT_TOTAL[mode] // connections)
    server: EmbeddedServer | None = None
    try:
        if url is None:
            # The server runs on uvloop whenever it is installed: it must not be the bottleneck.
            server = EmbeddedServer(uvloop=resolve_loop("auto") == "uvloop")
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
        )
        progress = None if quiet else Progress(stderr)
        if processes == 1:
            result = run_worker(config, None if progress is None else progress.update)
        else:
            result = _run_processes(config, processes, progress)
    finally:
        if server is not None:
            server.stop()
    if not result.opened:
        raise CliError(result.error_samples[0] if result.error_samples else "no connection opened")
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
    }
    data = summary(result, info)
    print(dumps(data) if as_json else format_table(data), file=stdout, flush=True)
    if result.failed or result.errors:
        print(
            f"fastws: error: {result.failed} connection(s) failed, {result.errors} ended with an "
            f"error: {'; '.join(result.error_samples)}",
            file=stderr,
        )
        return 1
    return 0
