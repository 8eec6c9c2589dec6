"""
Helpers shared by the profiling scripts: the peer server, file limits, RSS.

The peer is ``python -m fastws.tools.feedserver`` in a subprocess (never traced: memray and
tracemalloc only see this process). It is stopped by closing its stdin, then SIGTERM to its PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import subprocess
import sys
from collections.abc import Iterator

PAGE = os.sysconf("SC_PAGE_SIZE")


def raise_nofile() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss() -> int:
    """Resident set size of this process in bytes (from /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def rss_of(pid: int) -> int:
    """Resident set size of another process in bytes."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def peak_rss() -> int:
    """Peak resident set size of this process in bytes (VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")  # pragma: no cover


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


@contextlib.contextmanager
def feed_server(uvloop: bool = False, timeout: float = 20.0) -> Iterator[tuple[int, int]]:
    """Run the feed server in a subprocess; yield (port, pid). Stopped by PID on exit."""
    cmd = [sys.executable, "-m", "fastws.tools.feedserver"]
    if uvloop:
        cmd.append("--uvloop")
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"feed server did not start: {line!r}")
        yield int(line.split()[1]), proc.pid
    finally:
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def run(coro, use_uvloop: bool = False):  # type: ignore[no-untyped-def]
    """Run ``coro`` on asyncio, or on uvloop when asked."""
    if use_uvloop:
        import uvloop

        return uvloop.run(coro)
    return asyncio.run(coro)


def provenance() -> str:
    """Python version and the fastws commit measured (``+dirty``: uncommitted changes in fastws/
    outside the command-line tool and the feed server)."""
    import platform

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(
            ["git", "-C", root, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "-C",
                root,
                "status",
                "--porcelain",
                "--",
                "fastws",
                ":(exclude)fastws/cli",
                ":(exclude)fastws/tools",
            ],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head, dirty = "?", ""
    return f"CPython {platform.python_version()}, fastws {head}{'+dirty' if dirty else ''}"
