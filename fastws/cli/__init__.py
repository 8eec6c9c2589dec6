"""
The ``fastws`` command line: ``fastws bench`` (load tool) and ``fastws connect`` (interactive).

Every failure the user can cause (unreachable server, refused handshake, invalid URL or option)
ends with one line on stderr, ``fastws: error: ...`` (argparse: ``fastws bench: error: ...``), and
exit status 1 (run failed) or 2 (bad usage); never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ..version import version
from .common import LOOPS, CliError, check_url, resolve_loop

__all__ = ["main", "build_parser"]

DESCRIPTION = "fastws: a fast asyncio WebSocket client. Load tool and interactive client."

BENCH_EPILOG = """\
Without URL, an embedded feed server starts on 127.0.0.1 (in a subprocess) and the
URL follows the mode: /feed?size=..&count=..&text=.. (recv), /echo (echo), /sink (send).
Defaults: 3,000,000 messages in total (recv), 1,000,000 (send) or 30,000 round trips
(echo), split over the connections. Connections open first (paced by --spawn-rate or
--ramp-up) and are held; the measured window starts when all have opened or failed
(--duration counts from there) and ends at the deadline, when every connection has done
its --count, or on Ctrl-C/SIGTERM, which prints what was measured (exit status 130).
Exit status: 0; 1 if connections failed, ended with an error or (with --count/--duration)
were closed early by the server; 2 on bad usage. See docs/bench.md.

examples:
  fastws bench
  fastws bench --mode echo --size 256
  fastws bench -c 100 --processes 2 --duration 5
  fastws bench ws://example.com:8080/stream --duration 10 --json
  fastws bench -m echo -c 10000 -p 2 --spawn-rate 2000 -d 30
"""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: ``prog: error: message``."""

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one line on stderr and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def _number(
    kind: Callable[[str], Any], name: str, minimum: float, strict: bool
) -> Callable[[str], Any]:
    """An argparse type: a number of ``kind`` above (``strict``) or at least ``minimum``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {name}: {text!r}") from None
        if not math.isfinite(value) or (value <= minimum if strict else value < minimum):
            bound = f"greater than {minimum:g}" if strict else f"at least {minimum:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text!r}")
        return value

    parse.__name__ = name
    return parse


_positive_int = _number(int, "integer", 1, strict=False)
_size = _number(int, "integer", 0, strict=False)
_positive_float = _number(float, "number", 0, strict=True)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``fastws`` command line."""
    parser = _Parser(prog="fastws", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"fastws {version}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    bench = commands.add_parser(
        "bench",
        help="open connections, receive/echo/send messages, print throughput and latency "
        "(the default command)",
        description="Open connections, receive, echo or send messages, and print throughput,\n"
        "echo latency, closes by code, client CPU and RSS.",
        epilog=BENCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument(
        "url", nargs="?", metavar="URL", help="ws:// or wss:// URL (default: embedded server)"
    )
    bench.add_argument(
        "-c",
        "--connections",
        type=_positive_int,
        metavar="N",
        help="connections (default: 1, or one per process)",
    )
    bench.add_argument(
        "-p",
        "--processes",
        type=_positive_int,
        default=1,
        metavar="N",
        help="spread the connections over N worker processes, one event loop each "
        "(default: 1, in this process)",
    )
    bench.add_argument(
        "-m",
        "--mode",
        choices=("recv", "echo", "send"),
        default="recv",
        help="recv: count what the server sends; echo: send, time the reply; "
        "send: send as fast as possible (default: recv)",
    )
    limit = bench.add_mutually_exclusive_group()
    limit.add_argument(
        "-n",
        "--count",
        type=_positive_int,
        metavar="N",
        help="messages per connection (default: 3,000,000 in total for recv, "
        "1,000,000 for send, 30,000 for echo)",
    )
    limit.add_argument(
        "-d",
        "--duration",
        type=_positive_float,
        metavar="SECONDS",
        help="run for this long instead of a count",
    )
    bench.add_argument(
        "-s", "--size", type=_size, default=100, metavar="BYTES", help="message size (default: 100)"
    )
    kind = bench.add_mutually_exclusive_group()
    kind.add_argument(
        "--text", dest="text", action="store_true", default=True, help="text messages (default)"
    )
    kind.add_argument("--binary", dest="text", action="store_false", help="binary messages")
    bench.add_argument(
        "--compression",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="offer permessage-deflate (default: off)",
    )
    bench.add_argument(
        "--rate",
        type=_positive_float,
        metavar="MSG/S",
        help="echo mode: send this many messages per second in total, on schedule "
        "(default: one round trip at a time per connection)",
    )
    ramp = bench.add_mutually_exclusive_group()
    ramp.add_argument(
        "--spawn-rate",
        type=_positive_float,
        metavar="N",
        help="open N new connections per second, over all processes "
        "(default: as fast as --connect-concurrency allows)",
    )
    ramp.add_argument(
        "--ramp-up",
        type=_positive_float,
        metavar="SECONDS",
        help="open the connections evenly over this many seconds (a spawn rate of "
        "connections / SECONDS)",
    )
    bench.add_argument(
        "--connect-concurrency",
        type=_positive_int,
        default=256,
        metavar="N",
        help="opening handshakes in flight at once, over all processes (default: 256)",
    )
    bench.add_argument(
        "--close-timeout",
        type=_positive_float,
        default=1.0,
        metavar="SECONDS",
        help="at the end, how long each connection may take to close before its TCP "
        "connection is aborted (default: 1)",
    )
    bench.add_argument(
        "--allow-early-end",
        action="store_true",
        help="a server closing connections before --duration or --count is reported but "
        "doesn't make the exit status 1",
    )
    bench.add_argument(
        "--loop",
        choices=LOOPS,
        default="auto",
        help="event loop (default: auto, uvloop when installed)",
    )
    bench.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the per-second series (msg/s, MB/s, open, errors, latency percentiles) and "
        "the latency histogram to FILE.csv or FILE.json; draw them with 'fastws plot FILE'",
    )
    bench.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    bench.add_argument(
        "--json",
        action="store_true",
        help='print the figures as one JSON object on stdout (with an "error" key when the '
        "run failed)",
    )
    bench.set_defaults(func=_bench)

    connect = commands.add_parser(
        "connect",
        help="interactive client: send lines typed on stdin, print received messages",
        description="Interactive client: each line read on stdin is sent as a text message; "
        "received messages print as '< message'. End of input (Ctrl-D) closes with code 1000.",
    )
    connect.add_argument("url", metavar="URL", help="ws:// or wss:// URL")
    connect.add_argument(
        "--compression",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="offer permessage-deflate (default: on)",
    )
    connect.add_argument(
        "--loop",
        choices=LOOPS,
        default="auto",
        help="event loop (default: auto, uvloop when installed)",
    )
    connect.set_defaults(func=_connect)

    plot = commands.add_parser(
        "plot",
        help="draw the per-second series of 'fastws bench --output FILE' (needs fastws[plot])",
        description="Draw what 'fastws bench --output FILE' wrote: messages/s and MB/s, "
        "connections open and errors, and in echo mode the latency percentiles per second and "
        "the whole run's latency distribution, into a PNG image. Needs matplotlib: "
        "python3 -m pip install 'fastws[plot]'.",
    )
    plot.add_argument(
        "file", metavar="FILE", help="a .csv or .json file from fastws bench --output"
    )
    plot.add_argument(
        "-o",
        "--output",
        metavar="IMAGE",
        help="the PNG image to write (default: FILE with the suffix .png)",
    )
    plot.set_defaults(func=_plot)
    return parser


def _bench(args: argparse.Namespace) -> int:
    try:
        return _run_bench(args)
    except Exception as exc:
        if args.json:  # --json: stdout always carries one JSON object, even for an error
            status = exc.status if isinstance(exc, CliError) else 1
            error = str(exc) if isinstance(exc, CliError) else describe(exc)
            print(json.dumps({"error": error, "status": status}), flush=True)
        raise


def _run_bench(args: argparse.Namespace) -> int:
    from .bench import run_bench

    if args.url is not None:
        check_url(args.url)
    connections = args.processes if args.connections is None else args.connections
    if args.processes > connections:
        raise CliError(
            f"--processes ({args.processes}) exceeds --connections ({connections})", status=2
        )
    if args.rate is not None and args.mode != "echo":
        raise CliError("--rate applies to --mode echo only", status=2)
    if args.output is not None:
        from .output import check_output_path

        check_output_path(args.output)
    return run_bench(
        url=args.url,
        mode=args.mode,
        connections=connections,
        processes=args.processes,
        count=args.count,
        duration=args.duration,
        size=args.size,
        text=args.text,
        compression=args.compression,
        rate=args.rate,
        loop=resolve_loop(args.loop),
        quiet=args.quiet,
        as_json=args.json,
        stdout=sys.stdout,
        stderr=sys.stderr,
        spawn_rate=args.spawn_rate,
        ramp_up=args.ramp_up,
        connect_concurrency=args.connect_concurrency,
        close_timeout=args.close_timeout,
        allow_early_end=args.allow_early_end,
        output=args.output,
    )


def _plot(args: argparse.Namespace) -> int:
    from .plot import plot

    print(plot(args.file, args.output))
    return 0


def _connect(args: argparse.Namespace) -> int:
    from .connect import run_connect

    check_url(args.url)
    return run_connect(
        args.url,
        compression=args.compression,
        loop=resolve_loop(args.loop),
        stdin=sys.stdin,
        stdout=sys.stdout,
        stderr=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the ``fastws`` command line.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``); none at all runs ``fastws bench``.

    Returns:
        The exit status: 0 on success, 1 when the run failed, 2 on bad usage, 130 on Ctrl-C.
    """
    arguments = list(sys.argv[1:] if argv is None else argv) or ["bench"]
    try:
        args = build_parser().parse_args(arguments)
    except SystemExit as exc:  # --help, --version, usage errors (already printed)
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except CliError as exc:
        print(f"fastws: error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("fastws: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("FASTWS_DEBUG"):
            raise
        print(
            f"fastws: internal error: {describe(exc)} (FASTWS_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1


def describe(exc: BaseException) -> str:
    """
    One line for an unexpected exception.

    Args:
        exc: the exception.
    """
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
