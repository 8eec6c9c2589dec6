"""Tests for ``fastws bench --output`` files (fastws.cli.output) and ``fastws plot``."""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from fastws.cli.common import CliError
from fastws.cli.output import (
    FORMAT,
    HISTOGRAM_COLUMNS,
    SERIES_COLUMNS,
    check_output_path,
    histogram_path,
    histogram_rows,
    read_output,
    series_rows,
    write_output,
)
from fastws.cli.plot import default_image_path, plot
from fastws.cli.stats import Histogram, Result

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def histogram(samples: list[int]) -> Histogram:
    hist = Histogram()
    for ns in samples:
        hist.record(ns)
    return hist


def echo_result(seconds: int = 5) -> Result:
    """A result as an echo run records it: one record per second, the last one shorter."""
    result = Result()
    rng = random.Random(7)
    for tick in range(1, seconds + 1):
        length = 1.0 if tick < seconds else 0.4
        samples = [int(rng.lognormvariate(11 + tick / 10, 0.5)) for _ in range(200)]
        latency = histogram(samples)
        result.latency.merge(latency)
        result.series.append(
            {
                "tick": tick,
                "t": tick - 1 + length,
                "seconds": length,
                "messages": 200,
                "bytes": 200 * 256,
                "open": 10 * tick,
                "errors": tick // 2,
                "latency": latency,
            }
        )
    return result


def recv_result() -> Result:
    result = Result()
    result.series = [
        {
            "tick": 1,
            "t": 1.0,
            "seconds": 1.0,
            "messages": 1000,
            "bytes": 100_000,
            "open": 4,
            "errors": 0,
            "latency": None,
        },
        {
            "tick": 2,
            "t": 1.5,
            "seconds": 0.5,
            "messages": 400,
            "bytes": 40_000,
            "open": 4,
            "errors": 1,
            "latency": None,
        },
    ]
    return result


class TestSeriesRows:
    def test_rates_come_from_the_interval_length(self) -> None:
        rows = series_rows(recv_result().series)
        assert [tuple(row) for row in rows] == [SERIES_COLUMNS] * 2
        assert rows[0]["msgs_per_s"] == 1000.0 and rows[0]["mb_per_s"] == 0.1
        # The last, shorter interval: 400 messages in 0.5 s.
        assert rows[1]["msgs_per_s"] == 800.0 and rows[1]["mb_per_s"] == 0.08
        assert rows[1]["t"] == 1.5 and rows[1]["open"] == 4 and rows[1]["errors"] == 1

    def test_latency_columns_empty_without_round_trips(self) -> None:
        rows = series_rows(recv_result().series)
        assert all(row[c] is None for row in rows for c in SERIES_COLUMNS[6:])
        empty = dict(recv_result().series[0], latency=Histogram())
        assert series_rows([empty])[0]["p50_ms"] is None

    def test_latency_percentiles_per_second(self) -> None:
        result = echo_result()
        rows = series_rows(result.series)
        for row, record in zip(rows, result.series, strict=True):
            hist = record["latency"]
            assert row["p50_ms"] == round(hist.percentile(50) / 1e6, 6)
            assert row["p999_ms"] == round(hist.percentile(99.9) / 1e6, 6)
            assert row["p50_ms"] <= row["p99_ms"] <= row["p999_ms"] <= row["max_ms"]
            assert row["max_ms"] == round(hist.max / 1e6, 6)


class TestHistogramRows:
    def test_cumulative_percentiles(self) -> None:
        hist = histogram([5, 5, 200, 1000, 1000, 1000])
        rows = histogram_rows(hist)
        assert [tuple(row) for row in rows] == [HISTOGRAM_COLUMNS] * len(rows)
        assert sum(row["count"] for row in rows) == 6
        assert rows[0] == {"value_ms": 5e-06, "count": 2, "percentile": round(200 / 6, 6)}
        assert rows[-1]["percentile"] == 100.0
        values = [row["value_ms"] for row in rows]
        assert values == sorted(values) and values[-1] <= hist.max / 1e6

    def test_empty(self) -> None:
        assert histogram_rows(Histogram()) == []

    def test_agrees_with_hdrhistogram(self) -> None:
        """
        fastws keeps its own histogram (no runtime dependency; docs/bench.md says why): its
        percentiles match HdrHistogram's at 2 significant digits, within 1%.
        """
        from hdrh.histogram import HdrHistogram

        rng = random.Random(3)
        samples = [int(rng.lognormvariate(12, 1.2)) for _ in range(50_000)]
        ours = histogram(samples)
        hdr = HdrHistogram(1, 3_600_000_000_000, 2)
        for ns in samples:
            hdr.record_value(ns)
        for pct in (50, 90, 99, 99.9, 99.99):
            theirs = hdr.get_value_at_percentile(pct)
            assert ours.percentile(pct) == pytest.approx(theirs, rel=0.01), pct
        assert ours.max == hdr.get_max_value() or ours.max == pytest.approx(
            hdr.get_max_value(), rel=0.01
        )


class TestFiles:
    def test_json(self, tmp_path: Path) -> None:
        path = str(tmp_path / "run.json")
        result = echo_result()
        summary = {"mode": "echo", "connections": 50, "seconds": 4.4}
        assert write_output(path, result, summary) == [path]
        data = json.loads(Path(path).read_text())
        assert data["format"] == FORMAT and data["summary"] == summary
        assert data["series"] == series_rows(result.series)
        assert data["latency_histogram"] == histogram_rows(result.latency)
        assert read_output(path) == (data["series"], data["latency_histogram"], summary)

    def test_csv_with_latency_writes_the_histogram_beside(self, tmp_path: Path) -> None:
        path = str(tmp_path / "run.csv")
        result = echo_result()
        other = histogram_path(path)
        assert other == str(tmp_path / "run.latency.csv")
        assert write_output(path, result, {}) == [path, other]
        with open(path, newline="") as file:
            reader = csv.reader(file)
            assert next(reader) == list(SERIES_COLUMNS)
            assert len(list(reader)) == len(result.series)
        rows, hist, summary = read_output(path)
        assert rows == series_rows(result.series) and summary == {}
        assert hist == [
            {k: float(v) for k, v in row.items()} for row in histogram_rows(result.latency)
        ]

    def test_csv_without_latency(self, tmp_path: Path) -> None:
        path = str(tmp_path / "recv.csv")
        assert write_output(path, recv_result(), {}) == [path]
        assert not Path(histogram_path(path)).exists()
        rows, hist, _ = read_output(path)
        assert rows[1]["msgs_per_s"] == 800.0 and rows[1]["p50_ms"] is None and hist == []

    @pytest.mark.parametrize("name", ["run.txt", "run", "run.csv.gz"])
    def test_check_output_path_suffix(self, tmp_path: Path, name: str) -> None:
        with pytest.raises(CliError, match="must end in .csv or .json") as info:
            check_output_path(str(tmp_path / name))
        assert info.value.status == 2

    def test_check_output_path_directory(self, tmp_path: Path) -> None:
        good = str(tmp_path / "RUN.JSON")
        assert check_output_path(good) == good
        with pytest.raises(CliError, match="no such directory"):
            check_output_path(str(tmp_path / "missing" / "run.csv"))

    @pytest.mark.parametrize(
        ("name", "content", "match"),
        [
            ("other.json", '{"format": "x"}', "not a fastws bench --output file"),
            ("list.json", "[1, 2]", "not a fastws bench --output file"),
            ("broken.json", "{", "not a fastws bench --output file"),
            ("other.csv", "a,b\n1,2\n", "not a fastws bench --output CSV file"),
            ("text.csv", "t,seconds,msgs_per_s,mb_per_s,open,errors,p50_ms,p99_ms,p999_ms,max_ms\nx,1,1,1,1,1,,,,\n", "not a fastws"),
        ],
    )
    def test_read_output_refuses_other_files(
        self, tmp_path: Path, name: str, content: str, match: str
    ) -> None:
        path = tmp_path / name
        path.write_text(content)
        with pytest.raises(CliError, match=match):
            read_output(str(path))

    def test_read_output_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(CliError, match="cannot read"):
            read_output(str(tmp_path / "nothing.csv"))


def png_size(path: str) -> tuple[int, int]:
    data = Path(path).read_bytes()
    assert data[:8] == PNG_MAGIC
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


class TestPlot:
    def test_echo_json_four_panels(self, tmp_path: Path) -> None:
        path = str(tmp_path / "echo.json")
        write_output(path, echo_result(), {"mode": "echo", "connections": 50, "size": 256})
        image = plot(path)
        assert image == default_image_path(path) == str(tmp_path / "echo.png")
        width, height = png_size(image)
        assert width == 900 and height == 4 * 260

    def test_recv_csv_two_panels(self, tmp_path: Path) -> None:
        path = str(tmp_path / "recv.csv")
        write_output(path, recv_result(), {})
        image = plot(path, str(tmp_path / "picture.png"))
        assert image == str(tmp_path / "picture.png")
        assert png_size(image) == (900, 2 * 260)

    def test_nothing_measured(self, tmp_path: Path) -> None:
        path = str(tmp_path / "empty.json")
        write_output(path, Result(), {"mode": "recv"})
        with pytest.raises(CliError, match="no per-second data"):
            plot(path)

    def test_without_matplotlib(self, tmp_path: Path, monkeypatch: Any) -> None:
        path = str(tmp_path / "recv.json")
        write_output(path, recv_result(), {})
        monkeypatch.setitem(sys.modules, "matplotlib", None)
        with pytest.raises(CliError, match=r"pip install 'fastws\[plot\]'"):
            plot(path)


class TestCommandLine:
    """``fastws bench --output`` and ``fastws plot`` as a user runs them."""

    def run(self, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
        from fastws.__main__ import main

        status = main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    def test_echo_json_then_plot(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        path = str(tmp_path / "echo.json")
        status, out, err = self.run(
            capsys, "bench", "-m", "echo", "-c", "2", "-d", "2.5", "-q", "--json", "-o", path
        )
        assert status == 0, err
        assert f"per-second series in {path}" in err
        printed = json.loads(out)
        rows, hist, summary = read_output(path)
        assert summary == printed
        # One row per second; the rows cover the measured window.
        assert rows[0]["seconds"] == pytest.approx(1.0, abs=0.1)
        assert sum(row["seconds"] for row in rows) == pytest.approx(printed["seconds"], abs=0.1)
        assert sum(row["msgs_per_s"] * row["seconds"] for row in rows) == pytest.approx(
            printed["messages"], rel=0.01
        )
        assert all(row["open"] == 2 and row["errors"] == 0 for row in rows)
        assert all(row["p50_ms"] is not None and row["p50_ms"] <= row["max_ms"] for row in rows)
        assert sum(row["count"] for row in hist) == printed["messages"]
        status, out, err = self.run(capsys, "plot", path)
        assert status == 0, err
        image = out.strip()
        assert image == str(tmp_path / "echo.png")
        assert png_size(image) == (900, 4 * 260)
        other = str(tmp_path / "other.png")
        status, out, err = self.run(capsys, "plot", path, "-o", other)
        assert status == 0, err
        assert out.strip() == other and png_size(other) == (900, 4 * 260)

    def test_recv_csv_processes(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        path = str(tmp_path / "recv.csv")
        status, _, err = self.run(capsys, "bench", "-c", "4", "-p", "2", "-d", "2", "-q", "-o", path)
        assert status == 0, err
        rows, hist, _ = read_output(path)
        assert len(rows) >= 2 and hist == []
        assert all(row["open"] == 4 and row["msgs_per_s"] > 0 for row in rows)
        assert not Path(histogram_path(path)).exists()

    def test_bad_output_path_fails_before_connecting(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        status, out, err = self.run(capsys, "bench", "-q", "-o", str(tmp_path / "run.txt"))
        assert status == 2 and out == ""
        assert err.strip() == f"fastws: error: --output {tmp_path / 'run.txt'}: the file name must end in .csv or .json"
        status, out, err = self.run(capsys, "bench", "--json", "-o", "/nonexistent/dir/run.csv")
        assert status == 2
        assert json.loads(out) == {
            "error": "--output /nonexistent/dir/run.csv: no such directory: /nonexistent/dir",
            "status": 2,
        }

    def test_plot_errors(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        status, out, err = self.run(capsys, "plot", str(tmp_path / "missing.json"))
        assert status == 1 and out == ""
        assert err.startswith("fastws: error: cannot read ") and "Traceback" not in err
