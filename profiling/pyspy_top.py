"""
Top functions from a py-spy raw (collapsed stacks) profile, as text for the README.

    py-spy record --format raw -o recv100.txt --rate 1000 -- \\
        python profiling/recv_allocs.py --count 2000000
    python profiling/pyspy_top.py recv100.txt --within receive

``--within NAME`` keeps the samples whose stack contains a function named NAME (the receive loop
of recv_allocs.py: start-up and the server's wait drop out). "self" counts the samples where the
function is the innermost frame (what ``py-spy top`` calls OwnTime), "total" the samples where it
is anywhere on the stack (TotalTime); lines of one function are merged.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def parse(frame: str) -> str:
    match = FRAME.match(frame)
    if match is None:
        return frame
    return f"{match['func']} ({match['file']})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", help="py-spy record --format raw output")
    parser.add_argument("--within", help="keep stacks containing this function name")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    lines: collections.Counter[str] = collections.Counter()
    samples = 0
    with open(args.profile) as f:
        for row in f:
            stack, _, count = row.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            frames = stack.split(";")
            names = [parse(fr) for fr in frames]
            if args.within and not any(n.split(" (")[0].endswith(args.within) for n in names):
                continue
            n = int(count)
            samples += n
            own[names[-1]] += n
            lines[frames[-1]] += n
            for name in set(names):
                total[name] += n
    if not samples:
        print("no samples")
        return 1
    print(f"{samples} samples")
    print(f"{'self':>6} {'total':>6}  function")
    for name, n in own.most_common(args.top):
        print(f"{100 * n / samples:5.1f}% {100 * total[name] / samples:5.1f}%  {name}")
    print(f"\nhottest lines (self):\n{'self':>6}  line")
    for frame, n in lines.most_common(args.top):
        print(f"{100 * n / samples:5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
