"""
pytest configuration for benchmarks: collect ``bench_*.py`` and refuse to time under coverage.

Run: ``python -m pytest benchmarks/ --benchmark-only --no-cov`` (see benchmarks/README.md).
"""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

import pytest


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect ``bench_*.py``, which the default ``python_files`` pattern skips."""
    if file_path.suffix != ".py" or not file_path.name.startswith("bench_"):
        return None
    if parent.session.isinitpath(file_path):
        return None  # named on the command line: pytest's python plugin collects it already
    if any(fnmatch(file_path.name, pattern) for pattern in parent.config.getini("python_files")):
        return None  # python_files was set to match bench_*.py: collected already
    module: pytest.Module = pytest.Module.from_parent(parent, path=file_path)
    return module


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop a timed run under a coverage tracer: it would time the tracer, not the code."""
    try:
        from coverage import Coverage
    except ImportError:
        return
    timing = not session.config.getoption("benchmark_disable", default=False)
    if timing and Coverage.current() is not None:
        raise pytest.UsageError(
            "coverage is measuring this run, which distorts benchmarks; add --no-cov "
            "(or --benchmark-disable to run benchmarks as plain tests)"
        )
