"""
``fastws bench --output FILE.csv|FILE.json``: a run's per-second series and its latency histogram,
in files that spreadsheets, pandas and ``fastws plot`` read.

One row per second of the measured window (the last one may be shorter): ``t`` (seconds since
the window started, at the end of the interval), ``seconds`` (the interval's length),
``msgs_per_s``, ``mb_per_s`` (payload, 10^6 bytes), ``open`` (connections held at the end of the
interval), ``errors`` (connections failed or errored so far), and in echo mode the interval's
round-trip ``p50_ms``, ``p99_ms``, ``p999_ms`` and ``max_ms`` (empty otherwise).

The final latency histogram (echo mode) has one row per non-empty bucket: ``value_ms`` (the
bucket's middle, at most the largest sample), ``count``, and ``percentile``: the share of
samples at or below it, in percent, as in HdrHistogram's percentile distribution.

* ``.json``: one object, ``{"format", "summary", "series", "latency_histogram"}``; ``summary`` is
  what ``--json`` prints.
* ``.csv``: the series; the histogram goes next to it, in ``NAME.latency.csv``.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from typing import Any

from .common import CliError
from .stats import Histogram, Result

__all__ = [
    "FORMAT",
    "HISTOGRAM_COLUMNS",
    "SERIES_COLUMNS",
    "check_output_path",
    "histogram_path",
    "histogram_rows",
    "read_output",
    "series_rows",
    "write_output",
]

FORMAT = "fastws-bench/1"
"""The ``format`` field of the JSON output (bumped if a field changes meaning)."""

SERIES_COLUMNS = (
    "t",
    "seconds",
    "msgs_per_s",
    "mb_per_s",
    "open",
    "errors",
    "p50_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
)
"""Columns of the per-second series, in order."""

HISTOGRAM_COLUMNS = ("value_ms", "count", "percentile")
"""Columns of the latency histogram, in order."""

SUFFIXES = (".csv", ".json")


def check_output_path(path: str) -> str:
    """
    Validate an ``--output`` path before the run starts: a known suffix, a directory that exists.

    Args:
        path: the path given on the command line.

    Returns:
        The path, unchanged.

    Raises:
        CliError: (status 2) naming what is wrong.
    """
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in SUFFIXES:
        raise CliError(f"--output {path}: the file name must end in .csv or .json", status=2)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CliError(f"--output {path}: no such directory: {directory}", status=2)
    return path


def histogram_path(path: str) -> str:
    """The file the latency histogram goes to with a ``.csv`` output: ``NAME.latency.csv``."""
    return os.path.splitext(path)[0] + ".latency.csv"


def _ms(ns: float) -> float:
    return round(ns / 1e6, 6)


def series_rows(series: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """
    Turn ``Result.series`` records into rows of :data:`SERIES_COLUMNS`.

    Args:
        series: records with ``t``, ``seconds``, ``messages``, ``bytes``, ``open``, ``errors``
            and ``latency`` (a :class:`Histogram` or None).

    Returns:
        One dict per record; the latency columns are None when the interval has no round trip.
    """
    rows = []
    for record in series:
        seconds = max(float(record["seconds"]), 1e-9)
        latency: Histogram | None = record.get("latency")
        p50 = p99 = p999 = top = None
        if latency is not None and latency.count:
            p50, p99 = _ms(latency.percentile(50)), _ms(latency.percentile(99))
            p999, top = _ms(latency.percentile(99.9)), _ms(latency.max)
        rows.append(
            {
                "t": round(float(record["t"]), 3),
                "seconds": round(seconds, 3),
                "msgs_per_s": round(record["messages"] / seconds, 1),
                "mb_per_s": round(record["bytes"] / seconds / 1e6, 3),
                "open": int(record["open"]),
                "errors": int(record["errors"]),
                "p50_ms": p50,
                "p99_ms": p99,
                "p999_ms": p999,
                "max_ms": top,
            }
        )
    return rows


def histogram_rows(hist: Histogram) -> list[dict[str, Any]]:
    """
    Rows of :data:`HISTOGRAM_COLUMNS` for a latency histogram, smallest values first.

    Args:
        hist: the histogram.
    """
    rows = []
    seen = 0
    for value, count in hist.distribution():
        seen += count
        rows.append(
            {
                "value_ms": _ms(value),
                "count": count,
                "percentile": round(100.0 * seen / hist.count, 6),
            }
        )
    return rows


def _write_csv(path: str, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})


def write_output(path: str, result: Result, summary: dict[str, Any]) -> list[str]:
    """
    Write a run's series and latency histogram to ``path`` (format chosen by its suffix).

    Args:
        path: a ``.csv`` or ``.json`` path (see :func:`check_output_path`).
        result: the run's merged result (its ``series`` and ``latency``).
        summary: the figures ``--json`` prints, stored in the JSON output.

    Returns:
        The files written.
    """
    rows = series_rows(result.series)
    hist_rows = histogram_rows(result.latency)
    if path.lower().endswith(".json"):
        data = {
            "format": FORMAT,
            "summary": summary,
            "series": rows,
            "latency_histogram": hist_rows,
        }
        with open(path, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=1)
            file.write("\n")
        return [path]
    _write_csv(path, SERIES_COLUMNS, rows)
    if not hist_rows:
        return [path]
    other = histogram_path(path)
    _write_csv(other, HISTOGRAM_COLUMNS, hist_rows)
    return [path, other]


def _number(text: str) -> float | None:
    return None if text == "" else float(text)


def read_output(path: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """
    Read back what :func:`write_output` wrote.

    Args:
        path: the ``.csv`` or ``.json`` file.

    Returns:
        The series rows, the histogram rows (empty if none) and the summary (empty for CSV).

    Raises:
        CliError: If the file is missing, or isn't a fastws bench output.
    """
    try:
        if path.lower().endswith(".json"):
            with open(path, encoding="utf-8") as file:
                data = json.load(file)
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise CliError(f"{path}: not a fastws bench --output file (format {FORMAT})")
            return list(data["series"]), list(data["latency_histogram"]), dict(data["summary"])
        with open(path, newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            if tuple(reader.fieldnames or ()) != SERIES_COLUMNS:
                raise CliError(f"{path}: not a fastws bench --output CSV file")
            rows = [{k: _number(v) for k, v in row.items()} for row in reader]
        hist: list[dict[str, Any]] = []
        other = histogram_path(path)
        if os.path.exists(other):
            with open(other, newline="", encoding="utf-8") as file:
                hist = [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(file)]
        return rows, hist, {}
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise CliError(f"{path}: not a fastws bench --output file ({exc})") from None
