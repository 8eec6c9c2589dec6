"""
A ``fastws bench --processes N`` worker: ``python -m fastws.cli.worker CONFIG_JSON``.

Runs its share of the connections (:func:`fastws.cli.bench.run_worker`) and talks to the parent
in lines. On stdout: ``READY`` once started; ``P {...}`` a progress record, about once per
second (while opening: ``phase`` ``ramp``, open connections; then an entry of ``Result.series``);
``RAMPED`` once every connection has opened or failed; then ``R {...}`` the result
(:meth:`fastws.cli.stats.Result.to_json`), or ``E message`` if it failed. On stdin: ``go`` starts
opening connections, ``start`` starts the measured window (the parent sends both to every worker
at once, so that their windows line up), ``stop`` ends the run as its deadline would; the end of
stdin (the parent is gone) stops it too.
"""

from __future__ import annotations

import sys
import threading
from typing import IO, Any

from .bench import BenchConfig, Control, run_worker
from .common import describe_error
from .stats import dumps, record_to_json

__all__ = ["main"]


def _watch(stdin: IO[str], control: Control) -> None:
    """Pass ``start`` and ``stop`` lines on to the run; the end of stdin stops it."""
    for line in stdin:
        command = line.strip()
        if command == "start":
            control.request("start")
        elif command == "stop":
            break
    control.request("stop")


def main(argv: list[str] | None = None, stdin: IO[str] | None = None) -> int:
    """
    Run a worker; return its exit status.

    Args:
        argv: ``[CONFIG_JSON]`` (default: ``sys.argv[1:]``).
        stdin: where the parent's commands come from (default: ``sys.stdin``); None with
            ``argv`` given: start at once, no commands.
    """
    args = sys.argv[1:] if argv is None else argv
    commands = sys.stdin if argv is None else stdin
    out = sys.stdout
    lock = threading.Lock()

    def write(line: str) -> None:
        with lock:
            out.write(line + "\n")
            out.flush()

    def report(record: dict[str, Any]) -> None:
        write(f"P {dumps(record_to_json(record))}")

    try:
        config = BenchConfig.from_json(args[0])
        control = None
        if commands is not None:
            control = Control(ramped=lambda: write("RAMPED"))
            write("READY")
            if commands.readline().strip() != "go":
                write("E stopped before the start")
                return 1
            threading.Thread(target=_watch, args=(commands, control), daemon=True).start()
        result = run_worker(config, report if config.progress else None, control)
    except KeyboardInterrupt:  # pragma: no cover - Ctrl-C before the loop's handler is set
        write("E interrupted")
        return 130
    except Exception as exc:
        write(f"E {describe_error(exc)}")
        return 1
    write(f"R {dumps(result.to_json())}")
    return 0


if __name__ == "__main__":  # pragma: no cover - run by fastws bench --processes
    sys.exit(main())
