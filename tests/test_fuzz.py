"""
CI slice of the fuzzing targets in fuzzing/ (see docs/fuzzing.md): what the peer controls.

Deterministic (corpus replay, then hypothesis with ``derandomize=True`` and no example
database), about 60 s in all under ``pytest --cov``. ``FASTWS_FUZZ_SCALE`` multiplies the
number of hypothesis examples (e.g. 0.1 for a quick look, 10 for a longer run); the long run is
``python -m fuzzing.run`` (fuzzing/README.md).

A failure is a :class:`fuzzing.targets.Finding`: its message names the check ("[memory]",
"[wrong-close]", ...) and hypothesis prints the input; replay it with
``python -m fuzzing.targets frames FILE`` after writing the bytes to FILE.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzzing.generate import gen_frames_input, gen_handshake_input
from fuzzing.targets import (
    FEEDERS,
    MAX_SIZES,
    STATUS_LINE,
    UPGRADE_LINES,
    frames_target,
    handshake_target,
)

CORPUS = Path(__file__).resolve().parent.parent / "fuzzing" / "corpus"
SCALE = float(os.environ.get("FASTWS_FUZZ_SCALE", "1"))


def examples(n: int) -> int:
    return max(1, int(n * SCALE))


def fuzz_settings(n: int) -> settings:
    """Deterministic: the same examples on every run, whatever ran before."""
    return settings(
        max_examples=examples(n),
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


def corpus(target: str) -> list[Path]:
    return sorted((CORPUS / target).glob("*.bin"))


# Corpus replay: each seed as written (memory measured), then under other configurations.


@pytest.mark.parametrize("path", corpus("frames"), ids=lambda p: p.stem)
def test_corpus_frames(path: Path) -> None:
    """Each frames seed, then with every max_size, feeder and permessage-deflate setting."""
    data = path.read_bytes()
    frames_target(data, memory=True)
    if len(data) > 20_000:
        return  # the large seeds are about lengths: their own configuration is enough
    flags = data[1] & 0xFC
    for i in range(len(MAX_SIZES)):
        for j in range(len(FEEDERS)):
            for pmd in (0, 1, 2):
                frames_target(bytes((i | j << 4, flags | pmd, (i * 7 + j) % 256)) + data[3:])


@pytest.mark.parametrize("path", corpus("handshake"), ids=lambda p: p.stem)
def test_corpus_handshake(path: Path) -> None:
    """Each handshake seed, then with every feeder, with and without EOF, in pieces."""
    data = path.read_bytes()
    handshake_target(data, memory=True)
    for feeder in range(3):
        for eof in (0, 4):
            for seed in (0, 1, 2, 200):
                handshake_target(bytes(((data[0] & 0xE3) | eof | feeder << 3, seed)) + data[2:])


# Hypothesis: structured inputs (recorded choices of fuzzing.generate, so they shrink).


@pytest.mark.timeout(120)
@fuzz_settings(1000)
@given(st.randoms(use_true_random=False))
def test_frames_generated(rng: object) -> None:
    """Valid, compressed, fragmented, oversized and malformed frame streams, any chunking."""
    frames_target(gen_frames_input(rng), memory=True)  # type: ignore[arg-type]


@pytest.mark.timeout(120)
@fuzz_settings(4000)
@given(st.binary(min_size=3, max_size=2048))
def test_frames_bytes(data: bytes) -> None:
    """Arbitrary bytes: three configuration bytes, then the server's frames."""
    frames_target(data, memory=len(data) % 8 == 0)


@pytest.mark.timeout(120)
@fuzz_settings(1000)
@given(st.randoms(use_true_random=False))
def test_handshake_generated(rng: object) -> None:
    """Handshake responses with every header the client reads, valid or not, then frames."""
    handshake_target(gen_handshake_input(rng), memory=True)  # type: ignore[arg-type]


@pytest.mark.timeout(120)
@fuzz_settings(2400)
@given(
    st.sampled_from([b"", STATUS_LINE, STATUS_LINE + UPGRADE_LINES]),
    st.binary(max_size=1024),
    st.integers(0, 255),
    st.integers(0, 255),
)
def test_handshake_bytes(prefix: bytes, rest: bytes, config: int, seed: int) -> None:
    """Arbitrary bytes after no prefix, a 101 status line, or valid upgrade headers."""
    handshake_target(bytes((config & 0xFC, seed)) + prefix + rest, memory=seed % 8 == 0)
