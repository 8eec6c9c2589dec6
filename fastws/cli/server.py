"""The embedded server of ``fastws bench``: ``python -m fastws.tools.feedserver``, a subprocess."""

from __future__ import annotations

import importlib.util
import os
import queue
import subprocess
import sys
import tempfile
import threading
from typing import IO

__all__ = ["EmbeddedServer", "ServerError"]

SERVER_MODULE = "fastws.tools.feedserver"
"""The module run with ``python -m``: prints ``PORT <n>`` first, serves until stdin closes."""

START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


class ServerError(Exception):
    """The embedded server could not be started."""


class EmbeddedServer:
    """
    Run the feed server on 127.0.0.1 in a subprocess (so it doesn't take the client's CPU).

    With ``processes=N`` (N > 1) it runs N server processes on one port with ``SO_REUSEPORT``:
    the kernel spreads the connections over them, for machines where one server process on one
    core would fall behind the client processes (docs/server.md: on 2 cores it doesn't help).

    :meth:`stop` terminates them by PID (SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT` seconds)
    and reaps them.

    Args:
        uvloop: run the server on uvloop (``True``) or asyncio (``False``); ``None``, the default,
            means uvloop when it is installed (the server is faster on it).
        processes: server processes sharing the port (Linux, BSD, macOS for N > 1).

    Attributes:
        uvloop: whether the server runs on uvloop (resolved when ``None`` was given).
        processes: the number of server processes.
        port: the TCP port the server listens on, once started.

    Raises:
        ValueError: If ``processes`` is less than 1.
    """

    def __init__(self, *, uvloop: bool | None = None, processes: int = 1) -> None:
        if processes < 1:
            raise ValueError(f"processes must be at least 1, not {processes}")
        if uvloop is None:
            uvloop = importlib.util.find_spec("uvloop") is not None
        self.uvloop = uvloop
        self.processes = processes
        self.port = 0
        self._procs: list[subprocess.Popen[bytes]] = []
        self._stderr: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The (first) server process's PID, None if not running."""
        return self._procs[0].pid if self._procs else None

    @property
    def pids(self) -> list[int]:
        """The PIDs of all the server processes, empty if not running."""
        return [process.pid for process in self._procs]

    def url(self, path: str) -> str:
        """
        Return the ws:// URL of ``path`` on the server.

        Args:
            path: path and query string, starting with ``/``.
        """
        return f"ws://127.0.0.1:{self.port}{path}"

    def command(self, port: int = 0) -> list[str]:
        """
        The command line that runs one server process.

        Args:
            port: the port to bind, 0 for any free port (the first process).
        """
        command = [sys.executable, "-m", SERVER_MODULE, "--host", "127.0.0.1", "--port", str(port)]
        command += ["--loop", "uvloop" if self.uvloop else "asyncio"]
        return command + ["--reuse-port"] if self.processes > 1 else command

    def start(self) -> None:
        """
        Start the server processes and wait for the ``PORT <n>`` line of each.

        The first one binds a free port; the others bind the same one.

        Raises:
            ServerError: If one doesn't start or doesn't report its port in time (then none runs).
        """
        # stderr goes to a file: a pipe nobody reads could fill up and block the server.
        self._stderr = tempfile.TemporaryFile()
        self.port = self._spawn(self.command())
        for _ in range(1, self.processes):
            if self._spawn(self.command(self.port)) != self.port:  # pragma: no cover - defensive
                self.stop()
                raise ServerError("embedded server: a process bound another port")

    def _spawn(self, command: list[str]) -> int:
        """Start one server process, add it to ``_procs``; return the port it reports."""
        stderr = self._stderr
        assert stderr is not None
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                # Ctrl-C goes to the client, which then stops the server itself.
                start_new_session=os.name == "posix",
            )
        except OSError as exc:  # pragma: no cover - sys.executable always runs
            self.stop()
            raise ServerError(f"cannot start the embedded server: {exc}") from None
        self._procs.append(process)
        assert process.stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()
        stdout = process.stdout

        def read_stdout() -> None:
            # Pass on the first line, then keep the pipe drained until the server exits.
            # A thread, not select(): pipes can't be selected on Windows.
            with stdout:
                lines.put(stdout.readline())
                while stdout.read(65536):  # pragma: no cover - the server says nothing more
                    pass

        threading.Thread(target=read_stdout, daemon=True).start()
        try:
            line = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            line = b""
        words = line.split()
        if len(words) == 2 and words[0] == b"PORT" and words[1].isdigit():
            return int(words[1])
        self._terminate(process)
        stderr.seek(0)
        detail = stderr.read().decode(errors="replace").strip().splitlines()
        self.stop()
        reason = detail[-1] if detail else f"no PORT line within {START_TIMEOUT:g} s"
        raise ServerError(f"embedded server ({SERVER_MODULE}) failed to start: {reason}")

    def stop(self) -> None:
        """Terminate the server processes by PID and reap them (idempotent)."""
        processes, stderr = self._procs, self._stderr
        self._procs, self._stderr = [], None
        for process in processes:  # all at once, then wait: they stop in parallel
            self._signal(process)
        for process in processes:
            self._reap(process)
        if stderr is not None:
            stderr.close()

    @classmethod
    def _terminate(cls, process: subprocess.Popen[bytes]) -> None:
        """Stop the process (stdin closed, then SIGTERM, SIGKILL after a while) and reap it."""
        cls._signal(process)
        cls._reap(process)

    @staticmethod
    def _signal(process: subprocess.Popen[bytes]) -> None:
        """Close the process's stdin (the server's own "stop" signal) and send SIGTERM."""
        assert process.stdin is not None
        try:
            process.stdin.close()
        except OSError:  # pragma: no cover - broken pipe: already gone
            pass
        process.terminate()  # no-op once it has been reaped

    @staticmethod
    def _reap(process: subprocess.Popen[bytes]) -> None:
        """Wait for the process to exit, SIGKILL it after :data:`STOP_TIMEOUT` seconds."""
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:  # pragma: no cover - server ignores SIGTERM
            process.kill()
            process.wait()
