"""
Figures of a ``fastws bench`` run: a mergeable latency histogram, per-process results, their merge,
and the final table.

Every figure a worker process measures travels to the parent as JSON (:meth:`Result.to_json`) and
is merged there (:meth:`Result.merge`): counts add up, latency histograms add bucket by bucket, the
measurement window spans the earliest start to the latest end.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterable
from typing import Any

__all__ = [
    "Histogram",
    "Result",
    "dumps",
    "format_table",
    "merge_series",
    "peak_rss_bytes",
    "record_from_json",
    "record_to_json",
    "summary",
]

# Histogram layout: values below 2**_BITS nanoseconds have a bucket each; above, a value keeps
# its _BITS - 1 leading bits, so a bucket is at most 1/64 of its value wide (error < 0.8 %).
_BITS = 7
_EXACT = 1 << _BITS
_HALF = _EXACT >> 1


class Histogram:
    """
    A log-linear histogram of nanosecond durations, exact to 1/128 of each value, mergeable.

    Attributes:
        buckets: sample count per bucket index.
        count: number of samples.
        total: sum of the samples (nanoseconds), for the mean.
        max: largest sample (nanoseconds).
    """

    __slots__ = ("buckets", "count", "total", "max")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.total = 0
        self.max = 0

    def record(self, ns: int) -> None:
        """
        Add one sample.

        Args:
            ns: duration in nanoseconds (negative values count as 0).
        """
        if ns < _EXACT:
            if ns < 0:
                ns = 0
            index = ns
        else:
            shift = ns.bit_length() - _BITS
            index = _EXACT + (shift - 1) * _HALF + (ns >> shift) - _HALF
        buckets = self.buckets
        buckets[index] = buckets.get(index, 0) + 1
        self.count += 1
        self.total += ns
        if ns > self.max:
            self.max = ns

    @staticmethod
    def _value(index: int) -> float:
        """The middle of a bucket, in nanoseconds."""
        if index < _EXACT:
            return float(index)
        shift = (index - _EXACT) // _HALF + 1
        mantissa = (index - _EXACT) % _HALF + _HALF
        return float((mantissa << shift) + (1 << (shift - 1)))

    def percentile(self, pct: float) -> float:
        """
        The value below which ``pct`` percent of the samples lie, in nanoseconds.

        Args:
            pct: percentile, 0 to 100.

        Returns:
            The middle of the bucket holding that rank (never above :attr:`max`); 0.0 when empty.
        """
        if not self.count:
            return 0.0
        rank = max(1, -(-self.count * pct // 100))  # ceiling: the p100 is the last sample
        seen = 0
        for value, n in self.distribution():
            seen += n
            if seen >= rank:
                return value
        return float(self.max)  # pragma: no cover - rank <= count always hits a bucket

    def merge(self, other: Histogram) -> None:
        """
        Add another histogram's samples to this one.

        Args:
            other: the histogram to add.
        """
        buckets = self.buckets
        for index, n in other.buckets.items():
            buckets[index] = buckets.get(index, 0) + n
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serializable form (see :meth:`from_json`)."""
        return {
            "buckets": [[i, n] for i, n in sorted(self.buckets.items())],
            "count": self.count,
            "total": self.total,
            "max": self.max,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Histogram:
        """
        Rebuild a histogram from :meth:`to_json`'s output.

        Args:
            data: what :meth:`to_json` returned.
        """
        hist = cls()
        hist.buckets = {int(i): int(n) for i, n in data["buckets"]}
        hist.count = int(data["count"])
        hist.total = int(data["total"])
        hist.max = int(data["max"])
        return hist

    def distribution(self) -> list[tuple[float, int]]:
        """
        The non-empty buckets, smallest values first: (value in nanoseconds, count), the value
        being the bucket's middle, never above :attr:`max`.
        """
        top = float(self.max)
        return [(min(self._value(i), top), self.buckets[i]) for i in sorted(self.buckets)]


@dataclasses.dataclass
class Result:
    """
    The figures of one process's connections, or of several merged.

    Attributes:
        messages: messages received (recv, echo) or sent (send).
        bytes: payload bytes of those messages (received text counts its characters: the same
            for ASCII).
        opened: connections whose opening handshake succeeded.
        failed: connections that could not be opened.
        errors: opened connections that ended with an error (not a normal close).
        closes: close code (``"1000"``, ``"1006"``, ...) to number of connections.
        error_samples: the first distinct error messages, for the report.
        latency: round-trip times (echo mode).
        start: ``time.monotonic()`` when the process started connecting.
        end: ``time.monotonic()`` when its last connection finished.
        connect_seconds: time until every connection of the process was open (or had failed).
        cpu_seconds: CPU time (user + system) the process spent between ``start`` and ``end``.
        rss_bytes: the process's peak resident set size.
        processes: number of processes merged into this result.
        compressed: connections that negotiated permessage-deflate.
        not_opened: connections that never opened because the measured window ended first
            (not failures).
        ended_early: connections the server closed normally before their count or deadline.
        aborted: connections that didn't finish closing within the close timeout at the end
            and were aborted (their close counts as 1006; not errors).
        peak_open: most connections held open at once.
        wall_seconds: the whole run: opening, measured window and closing.
        interrupted: the run was stopped by SIGINT or SIGTERM.
        lost_workers: worker processes that reported no result (killed or crashed).
        series: one record per second of the measured window (the last one may be shorter):
            ``tick`` (1, 2, ...), ``t`` (seconds since the window started, at the interval's
            end), ``seconds`` (its length), ``messages`` and ``bytes`` in the interval,
            ``open`` (connections held at its end), ``errors`` (failed or errored connections
            so far), ``latency`` (a :class:`Histogram` of the interval's round trips in echo
            mode, else None). :meth:`to_json` turns the histograms into
            :meth:`Histogram.to_json` dicts.

    ``start`` and ``end`` delimit the measured window: from the moment every connection has
    opened (or failed) to the deadline, to the last connection done with its count, or to the
    interruption. ``messages``,
    ``bytes``, ``latency`` and ``cpu_seconds`` cover that window only.
    """

    messages: int = 0
    bytes: int = 0
    opened: int = 0
    failed: int = 0
    errors: int = 0
    closes: dict[str, int] = dataclasses.field(default_factory=dict)
    error_samples: list[str] = dataclasses.field(default_factory=list)
    latency: Histogram = dataclasses.field(default_factory=Histogram)
    start: float = 0.0
    end: float = 0.0
    connect_seconds: float = 0.0
    cpu_seconds: float = 0.0
    rss_bytes: int = 0
    processes: int = 1
    compressed: int = 0
    not_opened: int = 0
    ended_early: int = 0
    aborted: int = 0
    peak_open: int = 0
    wall_seconds: float = 0.0
    interrupted: bool = False
    lost_workers: int = 0
    series: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    MAX_ERROR_SAMPLES = 3

    def add_error(self, message: str, first: bool = False) -> None:
        """
        Remember an error message, if it is new and there is room.

        Args:
            message: a one-line description.
            first: put it first, making room if needed (errors of the run itself).
        """
        if message in self.error_samples:
            return
        if first:
            self.error_samples.insert(0, message)
            del self.error_samples[self.MAX_ERROR_SAMPLES :]
        elif len(self.error_samples) < self.MAX_ERROR_SAMPLES:
            self.error_samples.append(message)

    def add_close(self, code: int | None) -> None:
        """
        Count a connection's close code.

        Args:
            code: the close code, None if the connection never closed properly (counted as 1006).
        """
        key = str(1006 if code is None else code)
        self.closes[key] = self.closes.get(key, 0) + 1

    @property
    def seconds(self) -> float:
        """The measurement window, in seconds (never 0, so rates stay finite)."""
        return max(self.end - self.start, 1e-9)

    @classmethod
    def merge(cls, results: Iterable[Result]) -> Result:
        """
        Merge the results of several processes.

        Args:
            results: one result per process.

        Returns:
            Counts summed (``peak_open`` too: every process holds all its connections when the
            windows start), histograms merged, the window from the earliest start to the latest
            end, the slowest connect phase, CPU time and peak RSS summed, the series merged by
            tick (:func:`merge_series`).
        """
        merged: Result | None = None
        inputs = list(results)
        for result in inputs:
            if merged is None:
                merged = dataclasses.replace(
                    result,
                    closes=dict(result.closes),
                    error_samples=list(result.error_samples),
                    latency=Histogram(),
                    series=[],
                )
                merged.latency.merge(result.latency)
                continue
            merged.messages += result.messages
            merged.bytes += result.bytes
            merged.opened += result.opened
            merged.failed += result.failed
            merged.errors += result.errors
            for code, n in result.closes.items():
                merged.closes[code] = merged.closes.get(code, 0) + n
            for message in result.error_samples:
                merged.add_error(message)
            merged.latency.merge(result.latency)
            merged.start = min(merged.start, result.start)
            merged.end = max(merged.end, result.end)
            merged.connect_seconds = max(merged.connect_seconds, result.connect_seconds)
            merged.cpu_seconds += result.cpu_seconds
            merged.rss_bytes += result.rss_bytes
            merged.processes += result.processes
            merged.compressed += result.compressed
            merged.not_opened += result.not_opened
            merged.ended_early += result.ended_early
            merged.aborted += result.aborted
            merged.wall_seconds = max(merged.wall_seconds, result.wall_seconds)
            merged.interrupted = merged.interrupted or result.interrupted
            merged.lost_workers += result.lost_workers
        if merged is None:
            raise ValueError("no results to merge")
        merged.series = merge_series([r.series for r in inputs])
        # Processes reach their peak together: each holds all its connections when the
        # windows start (the parent starts them at once).
        merged.peak_open = sum(r.peak_open for r in inputs)
        return merged

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serializable form of every field (see :meth:`from_json`)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["closes"] = dict(self.closes)
        data["error_samples"] = list(self.error_samples)
        data["latency"] = self.latency.to_json()
        data["series"] = [record_to_json(record) for record in self.series]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        """
        Rebuild a result from :meth:`to_json`'s output.

        Args:
            data: what :meth:`to_json` returned.
        """
        fields = dict(data)
        fields["latency"] = Histogram.from_json(data["latency"])
        fields["series"] = [record_from_json(record) for record in data.get("series", [])]
        return cls(**fields)


def record_to_json(record: dict[str, Any]) -> dict[str, Any]:
    """
    A JSON-serializable copy of a ``Result.series`` record (its histogram as a dict).

    Args:
        record: the record.
    """
    data = dict(record)
    if data.get("latency") is not None:
        data["latency"] = data["latency"].to_json()
    return data


def record_from_json(data: dict[str, Any]) -> dict[str, Any]:
    """
    Rebuild a ``Result.series`` record from :func:`record_to_json`'s output.

    Args:
        data: the JSON form.
    """
    record = dict(data)
    if record.get("latency") is not None:
        record["latency"] = Histogram.from_json(record["latency"])
    return record


def merge_series(series: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """
    Merge the per-second series of several processes, tick by tick.

    Args:
        series: one series per process (each record has a ``tick``).

    Returns:
        One record per tick any process recorded: messages, bytes and open connections summed,
        latency histograms merged, ``t`` and ``seconds`` the largest, ``errors`` the sum of each
        process's latest count at or before that tick (a process that stopped early keeps its
        errors).
    """
    by_tick: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for index, records in enumerate(series):
        for record in records:
            by_tick.setdefault(record["tick"], []).append((index, record))
    errors = [0] * len(series)
    merged = []
    for tick in sorted(by_tick):
        entries = by_tick[tick]
        for index, record in entries:
            errors[index] = record["errors"]
        hists = [r["latency"] for _, r in entries if r.get("latency") is not None]
        latency = None
        if hists:
            latency = Histogram()
            for hist in hists:
                latency.merge(hist)
        merged.append(
            {
                "tick": tick,
                "t": max(r["t"] for _, r in entries),
                "seconds": max(r["seconds"] for _, r in entries),
                "messages": sum(r["messages"] for _, r in entries),
                "bytes": sum(r["bytes"] for _, r in entries),
                "open": sum(r["open"] for _, r in entries),
                "errors": sum(errors),
                "latency": latency,
            }
        )
    return merged


def peak_rss_bytes() -> int:
    """
    Return this process's peak resident set size in bytes (0 where it can't be read).

    On Linux it is ``VmHWM`` from ``/proc/self/status``: ``getrusage``'s ``ru_maxrss`` survives
    ``exec``, so a worker started by a large parent would report the parent's peak.
    """
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def _duration(ns: float) -> str:
    """Format a duration given in nanoseconds with a readable unit."""
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1e3:.1f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e9:.2f} s"


def summary(result: Result, info: dict[str, Any]) -> dict[str, Any]:
    """
    The final figures as one flat JSON-serializable dict (what ``--json`` prints).

    Args:
        result: the merged result.
        info: what was run (url, mode, connections, ...), copied in first.

    Returns:
        ``info`` plus messages, bytes, seconds (the measured window), window (what it spans),
        wall_seconds, msg_per_s, mb_per_s, latency_us (echo mode), connections_opened,
        connections_failed, connections_not_opened, peak_open, ended_early, errors,
        error_samples, closes, closes_aborted, cpu_seconds, cpu_us_per_msg, rss_mib, processes,
        connect_seconds, compressed, interrupted, lost_workers, and series: per second of the
        window, t, seconds, messages, bytes, msg_per_s, mb_per_s, open, errors and latency_us
        (echo mode, else None).
    """
    seconds = result.seconds
    data: dict[str, Any] = dict(info)
    if info.get("duration") is not None:
        window = "from all connections open to the deadline"
    else:
        window = "from all connections open to the last one done"
    if result.interrupted:
        window = window.split(" to ")[0] + " to the interruption"
    data.update(
        messages=result.messages,
        bytes=result.bytes,
        seconds=round(seconds, 6),
        window=window,
        wall_seconds=round(result.wall_seconds, 6),
        msg_per_s=round(result.messages / seconds, 1),
        mb_per_s=round(result.bytes / seconds / 1e6, 3),
        connections_opened=result.opened,
        connections_failed=result.failed,
        connections_not_opened=result.not_opened,
        peak_open=result.peak_open,
        ended_early=result.ended_early,
        errors=result.errors,
        error_samples=result.error_samples,
        closes=dict(sorted(result.closes.items())),
        closes_aborted=result.aborted,
        connect_seconds=round(result.connect_seconds, 6),
        cpu_seconds=round(result.cpu_seconds, 6),
        cpu_us_per_msg=round(result.cpu_seconds / result.messages * 1e6, 3)
        if result.messages
        else None,
        rss_mib=round(result.rss_bytes / 2**20, 1),
        processes=result.processes,
        compressed=result.compressed,
        interrupted=result.interrupted,
        lost_workers=result.lost_workers,
    )
    if result.latency.count:
        data["latency_us"] = _latency_us(result.latency)
    data["series"] = [
        {
            "t": record["t"],
            "seconds": record["seconds"],
            "messages": record["messages"],
            "bytes": record["bytes"],
            "msg_per_s": round(record["messages"] / max(record["seconds"], 1e-9), 1),
            "mb_per_s": round(record["bytes"] / max(record["seconds"], 1e-9) / 1e6, 3),
            "open": record["open"],
            "errors": record["errors"],
            "latency_us": _latency_us(record["latency"])
            if record.get("latency") is not None and record["latency"].count
            else None,
        }
        for record in result.series
    ]
    return data


def _latency_us(hist: Histogram) -> dict[str, Any]:
    """A histogram's samples, mean and percentiles in microseconds."""
    return {
        "samples": hist.count,
        "mean": round(hist.total / hist.count / 1e3, 2),
        "p50": round(hist.percentile(50) / 1e3, 2),
        "p99": round(hist.percentile(99) / 1e3, 2),
        "p99.9": round(hist.percentile(99.9) / 1e3, 2),
        "max": round(hist.max / 1e3, 2),
    }


def format_table(data: dict[str, Any]) -> str:
    """
    Render :func:`summary`'s dict as the human-readable table ``fastws bench`` prints.

    Args:
        data: what :func:`summary` returned.
    """
    rows: list[tuple[str, str]] = []
    server = " (embedded server)" if data.get("embedded") else ""
    rows.append(("url", f"{data['url']}{server}"))
    conns = data["connections"]
    procs = data["processes"]
    kind = "text" if data["text"] else "binary"
    compression = "on" if data["compression"] else "off"
    if data["compression"]:
        compression += f" (negotiated by {data['compressed']})"
    rows.append(
        (
            "run",
            f"{data['mode']}, {conns} connection{'s' * (conns != 1)}, "
            f"{procs} process{'es' * (procs != 1)}, {data['loop']}, {kind}, "
            f"compression {compression}",
        )
    )
    rows.append(("messages", f"{data['messages']:,} ({data['bytes']:,} bytes)"))
    rows.append(("throughput", f"{data['msg_per_s']:,.0f} msg/s, {data['mb_per_s']:,.2f} MB/s"))
    latency = data.get("latency_us")
    if latency:
        rows.append(
            (
                "latency",
                " · ".join(
                    f"{key} {_duration(latency[key] * 1e3)}"
                    for key in ("p50", "p99", "p99.9", "max")
                )
                + f" ({latency['samples']:,} round trips)",
            )
        )
    connections = f"{data['connections_opened']:,} opened, {data['connections_failed']:,} failed, "
    not_opened = data.get("connections_not_opened", 0)
    if not_opened:
        connections += f"{not_opened:,} not opened (the run ended first), "
    connections += f"{data.get('peak_open', 0):,} held at most, "
    if not_opened:
        connections += f"opening stopped after {data['connect_seconds']:.3f} s"
    else:
        connections += f"all open in {data['connect_seconds']:.3f} s"
    rows.append(("connections", connections))
    closes = ", ".join(f"{code} × {n:,}" for code, n in data["closes"].items()) or "none"
    if data.get("closes_aborted"):
        closes += (
            f" ({data['closes_aborted']:,} aborted after the "
            f"{data.get('close_timeout', 0):g} s close timeout)"
        )
    rows.append(("closes", closes))
    if data.get("ended_early"):
        rows.append(("ended early", f"{data['ended_early']:,} closed by the server first"))
    errors = f"{data['errors']:,}"
    if data["error_samples"]:
        errors += " (" + "; ".join(data["error_samples"]) + ")"
    rows.append(("errors", errors))
    cpu = f"{data['cpu_seconds']:.2f} s"
    if data["cpu_us_per_msg"] is not None:
        cpu += f" ({data['cpu_us_per_msg']:.3f} µs per message)"
    rows.append(("client CPU", cpu))
    rows.append(("client RSS", f"{data['rss_mib']:.1f} MiB (peak, summed over processes)"))
    rows.append(("measured", f"{data['seconds']:.3f} s, {data.get('window', '')}"))
    rows.append(("wall time", f"{data.get('wall_seconds', data['seconds']):.3f} s"))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def dumps(data: dict[str, Any]) -> str:
    """
    Serialize ``data`` as one line of JSON.

    Args:
        data: a JSON-serializable dict.
    """
    return json.dumps(data, separators=(",", ":"))
