"""
A ``fastws bench --processes N`` worker: ``python -m fastws.cli.worker CONFIG_JSON``.

Runs its share of the connections (:func:`fastws.cli.bench.run_worker`) and writes JSON lines on
stdout for the parent: ``P {...}`` progress (cumulative counts, about once per second),
``R {...}`` the result (:meth:`fastws.cli.stats.Result.to_json`), or ``E message`` if it failed.
"""

from __future__ import annotations

import sys
from typing import Any

from .bench import BenchConfig, run_worker
from .common import describe_error
from .stats import dumps

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """
    Run a worker; return its exit status.

    Args:
        argv: ``[CONFIG_JSON]`` (default: ``sys.argv[1:]``).
    """
    args = sys.argv[1:] if argv is None else argv
    out = sys.stdout

    def report(counts: dict[str, Any]) -> None:
        out.write(f"P {dumps(counts)}\n")
        out.flush()

    try:
        config = BenchConfig.from_json(args[0])
        result = run_worker(config, report if config.progress else None)
    except KeyboardInterrupt:  # pragma: no cover - Ctrl-C before the loop's handler is set
        out.write("E interrupted\n")
        return 130
    except Exception as exc:
        out.write(f"E {describe_error(exc)}\n")
        return 1
    out.write(f"R {dumps(result.to_json())}\n")
    out.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover - run by fastws bench --processes
    sys.exit(main())
