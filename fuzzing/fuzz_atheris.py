"""
atheris (libFuzzer, coverage-guided) entry point for the targets in ``fuzzing/targets.py``.

Usage, from the repository root (the first directory receives new inputs: not the seed corpus)::

    mkdir -p /tmp/fastws-frames && python fuzzing/fuzz_atheris.py frames \\
        /tmp/fastws-frames fuzzing/corpus/frames -max_total_time=3600 \\
        -artifact_prefix=fuzzing/findings/ -rss_limit_mb=4096
    python fuzzing/fuzz_atheris.py handshake /tmp/fastws-handshake fuzzing/corpus/handshake

The first argument picks the target (``frames`` or ``handshake``); the rest goes to libFuzzer.
``FASTWS_FUZZ_MEMORY_EVERY=N`` measures memory (tracemalloc) on one input in N (default 0:
never; it slows everything down, and libFuzzer's ``-rss_limit_mb`` and ``-timeout`` still
apply). A finding is an uncaught :class:`fuzzing.targets.Finding`: libFuzzer prints it and
saves the input as ``crash-*``; ``python -m fuzzing.targets TARGET FILE`` replays it.
libFuzzer stops at the first one: to fuzz past known findings, list their kinds (the word in
brackets) in ``FASTWS_FUZZ_IGNORE``, e.g. ``FASTWS_FUZZ_IGNORE=debug-log,wrong-close``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET = "frames"
if len(sys.argv) > 1 and sys.argv[1] in ("frames", "handshake"):
    TARGET = sys.argv.pop(1)

with atheris.instrument_imports(include=["fastws"]):
    import fastws.client  # noqa: F401
    import fastws.extensions.permessage_deflate  # noqa: F401

from fuzzing.targets import TARGETS, Finding  # noqa: E402

MEMORY_EVERY = int(os.environ.get("FASTWS_FUZZ_MEMORY_EVERY", "0"))
IGNORE = {kind for kind in os.environ.get("FASTWS_FUZZ_IGNORE", "").split(",") if kind}
_count = [0]
_ignored: set[str] = set()


def test_one_input(data: bytes) -> None:
    _count[0] += 1
    memory = MEMORY_EVERY > 0 and _count[0] % MEMORY_EVERY == 0
    try:
        TARGETS[TARGET](data, memory=memory)
    except Finding as exc:
        if exc.kind not in IGNORE:
            raise
        if exc.kind not in _ignored:  # say it once
            _ignored.add(exc.kind)
            print(f"ignored (FASTWS_FUZZ_IGNORE): {exc} on {data[:64].hex()}", file=sys.stderr)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
