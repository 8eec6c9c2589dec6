"""
``fastws plot FILE``: draw the per-second series that ``fastws bench --output FILE`` wrote.

Needs matplotlib (``pip install 'fastws[plot]'``); nothing else in fastws imports it. The picture
has three panels over the seconds of the measured window: throughput (messages/s, and MB/s on
the right axis), connections held and errors so far, and in echo mode the round-trip latency
percentiles per second (p50, p99, p99.9, max; log scale). With a latency histogram, a fourth
panel shows the whole run's percentile distribution.
"""

from __future__ import annotations

import os
from typing import Any

from .common import CliError
from .output import read_output

__all__ = ["plot", "default_image_path"]

MATPLOTLIB_MISSING = "fastws plot needs matplotlib: python3 -m pip install 'fastws[plot]'"


def default_image_path(path: str) -> str:
    """The picture's path when none is given: the data file's, ending in ``.png``."""
    return os.path.splitext(path)[0] + ".png"


def _title(summary: dict[str, Any], path: str) -> str:
    if not summary:
        return os.path.basename(path)
    parts = [f"fastws bench -m {summary.get('mode', '?')}"]
    for key, label in (("connections", "connections"), ("size", "B")):
        if key in summary:
            parts.append(f"{summary[key]:,} {label}")
    if "seconds" in summary:
        parts.append(f"{summary['seconds']:.1f} s")
    return ", ".join(parts)


def plot(path: str, image: str | None = None) -> str:
    """
    Draw ``path``'s series (and histogram) into a PNG image.

    Args:
        path: a ``.csv`` or ``.json`` file written by ``fastws bench --output``.
        image: where to write the picture (default: :func:`default_image_path`).

    Returns:
        The picture's path.

    Raises:
        CliError: If matplotlib isn't installed, or the file can't be read or has no data.
    """
    rows, hist, summary = read_output(path)
    if not rows:
        raise CliError(f"{path}: no per-second data to plot (the run measured nothing)")
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    except ImportError:
        raise CliError(MATPLOTLIB_MISSING) from None
    image = image or default_image_path(path)
    t = [row["t"] for row in rows]
    timed = [row for row in rows if row["p50_ms"] is not None]
    panels = 2 + bool(timed) + bool(hist)
    fig, axes = plt.subplots(panels, 1, figsize=(9, 2.6 * panels), squeeze=False)
    ax = axes[0][0]
    ax.plot(t, [row["msgs_per_s"] for row in rows], color="tab:blue", marker=".")
    ax.set_ylabel("messages/s", color="tab:blue")
    ax.set_ylim(bottom=0)
    mb = ax.twinx()
    mb.plot(t, [row["mb_per_s"] for row in rows], color="tab:orange", linestyle="--")
    mb.set_ylabel("MB/s", color="tab:orange")
    mb.set_ylim(bottom=0)
    ax.set_title(_title(summary, path))
    ax = axes[1][0]
    ax.plot(t, [row["open"] for row in rows], color="tab:green", marker=".", label="open")
    ax.set_ylabel("connections open", color="tab:green")
    ax.set_ylim(bottom=0)
    errors = ax.twinx()
    counts = [row["errors"] for row in rows]
    errors.plot(t, counts, color="tab:red", linestyle="--")
    errors.set_ylabel("errors (so far)", color="tab:red")
    errors.set_ylim(0, max(1, max(counts)) * 1.1)  # no error: a flat line at the bottom
    last = axes[1][0]
    if timed:
        ax = axes[2][0]
        tt = [row["t"] for row in timed]
        for column, label in (
            ("p50_ms", "p50"),
            ("p99_ms", "p99"),
            ("p999_ms", "p99.9"),
            ("max_ms", "max"),
        ):
            ax.plot(tt, [row[column] for row in timed], marker=".", label=label)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel("round trip, ms")
        ax.legend(loc="upper left", fontsize="small", ncol=4)
        last = ax
    for row_axes in axes[: 2 + bool(timed)]:
        row_axes[0].set_xlim(left=0)
        row_axes[0].grid(True, alpha=0.3)
    last.set_xlabel("seconds since the measured window started")
    if hist:
        ax = axes[-1][0]
        # HdrHistogram's usual view: latency against 1 / (1 - percentile), log x; the 100th
        # percentile sits where one sample in the whole run would be.
        total = sum(row["count"] for row in hist)
        xs = [1 / max(1 - row["percentile"] / 100, 1 / total) for row in hist]
        ax.plot(xs, [row["value_ms"] for row in hist], drawstyle="steps-post")
        ax.set_xscale("log")
        ticks = [1, 2, 10, 100, 1000, 10_000, 100_000, 1_000_000]
        ax.set_xticks(ticks, ["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"])
        ax.set_xlim(1, max(10, xs[-1]))
        ax.set_ylabel("round trip, ms")
        ax.set_xlabel("percentile of the whole run's round trips")
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(image, dpi=100)
    plt.close(fig)
    return image
