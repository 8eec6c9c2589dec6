"""
What the chaos server, the consumer and the referee share: the message format, the parameters
of a run (two profiles: ``full`` for the long soaks, ``ci`` for the pytest slice), JSON-lines
helpers and the expected reconnect schedule.

Message format (every data message): one header line, then the body::

    S <session id> <sequence number> <crc32 of the body, 8 hex digits> <body length>\\n<body>

Text messages (the steady trickle) are small JSON-ish strings; binary ones (the bursts) are
50-100 KB of random bytes. The header lets the consumer detect loss (a gap in the sequence),
reordering and corruption without keeping the messages.
"""

from __future__ import annotations

import dataclasses
import json
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "PROFILES",
    "Params",
    "backoff_delays",
    "header",
    "now",
    "parse",
    "read_jsonl",
]

#: The one clock of a run. CLOCK_MONOTONIC is system-wide on Linux, so the server's and the
#: consumer's timestamps (two processes) compare directly.
now = time.monotonic


@dataclasses.dataclass
class Params:
    """Every knob of a run; ``run.py`` writes them to ``params.json`` for the referee."""

    minutes: float = 5.0
    connections: int = 200
    loop: str = "asyncio"
    seed: int = 1
    # Client (fastws.connect arguments).
    keepalive: bool = True
    ping_interval: float = 5.0
    ping_timeout: float = 10.0
    close_timeout: float = 3.0
    # Consumer behaviour: "busy now and then".
    slow_prob: float = 0.01  # per message: await asyncio.sleep(U(slow_min, slow_max))
    slow_min: float = 0.2
    slow_max: float = 2.0
    # Mean seconds between CPU-busy time.sleep() calls in the whole process (they stop every
    # connection's loop): each connection draws its own at ``connections`` times that.
    block_every: float = 2.0
    block_max: float = 0.5
    sample_every: float = 2.0
    # Server behaviour.
    session_mean: float = 25.0  # mean seconds from subscribe to the session's fate
    trickle_min: float = 0.05  # seconds between small messages
    trickle_max: float = 0.9
    burst_every: float = 20.0  # per session, mean seconds between bursts
    burst_min: int = 20
    burst_max: int = 150
    big_min: int = 50_000
    big_max: int = 100_000
    stall_every: float = 30.0  # per session, mean seconds between mid-frame stalls
    stall_min: float = 1.0
    stall_max: float = 8.0
    late_pong_prob: float = 0.15  # pong delayed by U(0.2, 0.7) x ping_timeout
    too_late_pong_prob: float = 0.02  # pong delayed by U(1.1, 1.6) x ping_timeout
    window_every: float = 45.0  # mean seconds between 503 windows
    window_min: float = 2.0
    window_max: float = 8.0
    random_503: float = 0.03  # probability that a handshake outside a window gets a 503
    # Fates: how a session ends, weights.
    fate_abort: float = 0.2  # transport.abort(): TCP closed without a close frame
    fate_reset: float = 0.15  # SO_LINGER 0, close: RST
    fate_close: float = 0.3  # close frame 1000, wait for the echo, close TCP
    fate_close_keep_open: float = 0.2  # close frame 1001, TCP kept open
    fate_blackhole: float = 0.15  # silence: no data, no pong, TCP kept open (keepalive only)
    hold_max: float = 120.0  # longest the server keeps a TCP connection it won't close
    # Referee tolerances.
    margin: float = 5.0  # seconds, for event-loop lag under load (hang bound)
    backoff_margin: float = 2.5  # seconds late a reconnect may come (loop lag, busy consumer)
    pong_slack: float = 1.0  # a pong sent this close to ping_timeout counts as late
    trend_rss_rel: float = 0.10  # last third vs middle third: RSS may rise this much...
    trend_rss_abs: float = 8 * 2**20  # ...plus this many bytes
    trend_count_rel: float = 0.10  # fds and tasks: this much...
    trend_count_abs: float = 10.0  # ...plus this many
    # Instrumentation.
    gc_every: float = 0.0  # experiment: gc.collect() every so many seconds; 0 = never
    tracemalloc: int = 0  # frames per traceback; 0 = off
    snapshots: int = 4  # tracemalloc snapshots over the run

    @property
    def duration(self) -> float:
        return self.minutes * 60.0

    @property
    def max_hang(self) -> float:
        """
        Longest a session may go without delivering a message, or ending, when nothing is
        wrong: the server's longest stall, then a keepalive ping (``ping_interval``) whose
        timeout may be restarted once while our own queue is full (``2 x ping_timeout``), the
        closing stages (``3 x close_timeout``), the consumer's own longest nap, and ``margin``.
        Without keepalive there is no blackhole fate, so no ping term.
        """
        ping = self.ping_interval + 2 * self.ping_timeout if self.keepalive else 0.0
        return (
            self.stall_max
            + ping
            + 3 * self.close_timeout
            + self.slow_max
            + self.block_max
            + self.margin
        )

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Params:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


#: ``ci``: the pytest slice, short stalls and timers so that a deadlock shows in seconds.
PROFILES: dict[str, dict[str, Any]] = {
    "full": {},
    "ci": dict(
        ping_interval=2.0,
        ping_timeout=3.0,
        close_timeout=1.0,
        slow_prob=0.02,
        slow_max=1.0,
        block_every=2.4,
        block_max=0.3,
        sample_every=1.0,
        session_mean=6.0,
        burst_every=5.0,
        stall_every=6.0,
        stall_min=0.3,
        stall_max=1.5,
        window_every=10.0,
        window_min=1.0,
        window_max=3.0,
        hold_max=30.0,
        margin=3.0,
        # 25 s: the heap is still warming up, and each connection may hold up to
        # max_queue x 100 KB of messages in flight at any time.
        trend_rss_rel=0.25,
        trend_rss_abs=16 * 2**20,
        late_pong_prob=0.15,
        too_late_pong_prob=0.03,
        pong_slack=0.5,  # late pongs come at most 0.7 x 3 = 2.1 s late: below 3 - 0.5
    ),
}


def header(sid: int, seq: int, body: bytes) -> bytes:
    """The header line of a data message."""
    return b"S %d %d %08x %d\n" % (sid, seq, zlib.crc32(body), len(body))


def parse(message: str | bytes) -> tuple[int, int, bool]:
    """
    ``(session id, sequence number, body intact)`` of a data message.

    Raises:
        ValueError: If the header is unreadable (counted as corruption by the consumer).
    """
    if isinstance(message, str):
        message = message.encode()
    end = message.find(b"\n", 0, 80)
    if end < 0:
        raise ValueError("no header line")
    fields = message[:end].split()
    if len(fields) != 5 or fields[0] != b"S":
        raise ValueError(f"bad header {message[:end]!r}")
    sid, seq, crc, length = int(fields[1]), int(fields[2]), int(fields[3], 16), int(fields[4])
    with memoryview(message) as view:
        body = view[end + 1 :]
        intact = len(body) == length and zlib.crc32(body) == crc
    return sid, seq, intact


def backoff_delays(initial: float, minimum: float, factor: float, maximum: float) -> Iterator[
    tuple[float, float]
]:
    """
    ``(low, high)`` of the wait after the 1st, 2nd... consecutive failed connection attempt,
    as ``fastws.asyncio.client.Connect.__aiter__`` computes it (a random first delay of up to
    ``initial`` seconds, then ``int()`` of an exponential capped at ``maximum``).
    """
    delay = minimum
    while True:
        if delay == minimum:
            yield 0.0, float(initial)
        else:
            yield float(int(delay)), float(int(delay))
        delay = min(delay * factor, maximum)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a JSON-lines file (a last line cut short by a kill is skipped)."""
    if not path.exists():
        return
    with path.open() as f:
        for line in f:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
