"""
Long-run fuzzing driver: N inputs, seeded, mutation of the seed corpus plus the structured
generators (``--engine mutate``, the default), or hypothesis with the CI slice's strategies
(``--engine hypothesis``).

Usage (from the repository root)::

    python -m fuzzing.run --inputs 1000000 --seed 1
    python -m fuzzing.run --target handshake --inputs 100000 --seed 2 --memory-every 1
    python -m fuzzing.run --engine hypothesis --inputs 20000 --seed 3

Every ``--report`` seconds it prints the inputs run, the rate and the findings so far; each new
kind of finding is printed with its input (hex) when first seen and saved to ``--save``
(default ``fuzzing/findings/``), where ``python -m fuzzing.targets TARGET FILE`` replays it.
The exit status is 1 if anything was found.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from .generate import gen_frames_input, gen_handshake_input, mutate
from .targets import TARGETS, Finding

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"

GENERATORS: dict[str, Callable[[random.Random], bytes]] = {
    "frames": gen_frames_input,
    "handshake": gen_handshake_input,
}
HEADER = {"frames": 3, "handshake": 2}


def load_corpus(target: str) -> list[bytes]:
    folder = CORPUS / target
    return [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()]


def signature(exc: BaseException) -> str:
    """What makes two findings the same: the check, and the message without numbers."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if not isinstance(exc, Finding):
        text = f"[harness-error] {type(exc).__name__}: {text}"
    text = re.sub(r"b'[^']*'|b\"[^\"]*\"", "b'…'", text)
    text = re.sub(r"0x[0-9a-fA-F]+", "0xH", text)
    text = re.sub(r"can't decode .*", "can't decode …", text)
    return re.sub(r"\d+", "N", text)[:160]


class Stats:
    def __init__(self, save: Path | None, quiet: bool) -> None:
        self.inputs = 0
        self.start = time.monotonic()
        self.findings: dict[str, int] = {}
        self.save = save
        self.quiet = quiet

    def record(self, target: str, data: bytes, exc: BaseException) -> None:
        sig = signature(exc)
        first = sig not in self.findings
        self.findings[sig] = self.findings.get(sig, 0) + 1
        if not first:
            return
        path = None
        if self.save is not None:
            self.save.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha1(data).hexdigest()[:12]
            kind = getattr(exc, "kind", "harness-error")
            path = self.save / f"{target}-{kind}-{digest}.bin"
            path.write_bytes(data)
        print(f"\nNEW FINDING after {self.inputs} inputs ({target}): {exc}", flush=True)
        if not isinstance(exc, Finding):
            traceback.print_exception(exc)
        shown = data.hex()
        print(f"  input ({len(data)} bytes): {shown[:400]}{'…' if len(shown) > 400 else ''}")
        if path is not None:
            print(f"  saved: {path}  (replay: python -m fuzzing.targets {target} {path})")

    def report(self, final: bool = False) -> None:
        elapsed = time.monotonic() - self.start
        rate = self.inputs / elapsed if elapsed else 0.0
        total = sum(self.findings.values())
        print(
            f"{'done' if final else 'progress'}: {self.inputs} inputs in {elapsed:.0f} s "
            f"({rate:.0f}/s), {total} findings of {len(self.findings)} kinds",
            flush=True,
        )
        if final or not self.quiet:
            for sig, count in sorted(self.findings.items(), key=lambda kv: -kv[1]):
                print(f"  {count:8d}  {sig}")


def run_mutate(args: argparse.Namespace, stats: Stats) -> None:
    rng = random.Random(args.seed)
    targets = ["frames", "handshake"] if args.target == "all" else [args.target]
    corpora = {t: load_corpus(t) for t in targets}
    last = time.monotonic()
    for i in range(args.inputs):
        target = targets[i % len(targets)]
        corpus = corpora[target]
        if corpus and rng.random() < args.corpus_share:
            data = mutate(rng, rng.choice(corpus), corpus, keep=HEADER[target])
        else:
            data = GENERATORS[target](rng)
        if len(data) > args.max_len:
            data = data[: args.max_len]
        memory = args.memory_every > 0 and i % args.memory_every == 0
        try:
            TARGETS[target](data, memory=memory)
        except Exception as exc:
            stats.record(target, data, exc)
        stats.inputs += 1
        now = time.monotonic()
        if now - last >= args.report:
            stats.report()
            last = now


def run_hypothesis(args: argparse.Namespace, stats: Stats) -> None:
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis import strategies as st

    targets = ["frames", "handshake"] if args.target == "all" else [args.target]

    def make_test(target: str) -> Callable[[], None]:
        generator = GENERATORS[target]

        @seed(args.seed)
        @settings(
            max_examples=args.inputs // len(targets),
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(st.one_of(st.randoms(use_true_random=False).map(generator), st.binary()))
        def test(data: bytes) -> None:
            memory = args.memory_every > 0 and stats.inputs % args.memory_every == 0
            try:
                TARGETS[target](data, memory=memory)
            except Exception as exc:
                stats.record(target, data, exc)
            stats.inputs += 1
            if stats.inputs % 5000 == 0:
                stats.report()

        return test  # type: ignore[no-any-return]

    for target in targets:
        make_test(target)()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=["frames", "handshake", "all"], default="all")
    parser.add_argument("--engine", choices=["mutate", "hypothesis"], default="mutate")
    parser.add_argument("--inputs", type=int, default=100_000, help="number of inputs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-every", type=int, default=10,
                        help="measure memory on one input in N (0: never; 1: all)")
    parser.add_argument("--corpus-share", type=float, default=0.5,
                        help="share of inputs mutated from the corpus (mutate engine)")
    parser.add_argument("--max-len", type=int, default=2**20, help="longest input, in bytes")
    parser.add_argument("--report", type=float, default=30.0, help="seconds between reports")
    parser.add_argument("--save", default=str(HERE / "findings"),
                        help="folder for the first input of each finding ('' not to save)")
    parser.add_argument("--quiet", action="store_true", help="progress lines only")
    args = parser.parse_args(argv)
    save = Path(args.save) if args.save else None
    stats = Stats(save, args.quiet)
    print(
        f"fastws fuzz: target={args.target} engine={args.engine} inputs={args.inputs} "
        f"seed={args.seed} memory-every={args.memory_every} python={sys.version.split()[0]} "
        f"pid={os.getpid()}",
        flush=True,
    )
    try:
        if args.engine == "mutate":
            run_mutate(args, stats)
        else:
            run_hypothesis(args, stats)
    except KeyboardInterrupt:
        print("\ninterrupted")
    stats.report(final=True)
    return 1 if stats.findings else 0


if __name__ == "__main__":
    sys.exit(main())
