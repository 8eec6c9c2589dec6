"""The embedded server of ``fastws bench``: ``python -m fastws.tools.feedserver``, a subprocess."""

from __future__ import annotations

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

    :meth:`stop` terminates it by PID (SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT` seconds) and
    reaps it.

    Args:
        uvloop: pass ``--uvloop`` to the server (when uvloop is installed, the server is faster).

    Attributes:
        port: the TCP port the server listens on, once started.
    """

    def __init__(self, *, uvloop: bool = False) -> None:
        self.uvloop = uvloop
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The server process's PID, None if not running."""
        return None if self._process is None else self._process.pid

    def url(self, path: str) -> str:
        """
        Return the ws:// URL of ``path`` on the server.

        Args:
            path: path and query string, starting with ``/``.
        """
        return f"ws://127.0.0.1:{self.port}{path}"

    def command(self) -> list[str]:
        """The command line that runs the server."""
        command = [sys.executable, "-m", SERVER_MODULE, "--host", "127.0.0.1", "--port", "0"]
        return command + ["--uvloop"] if self.uvloop else command

    def start(self) -> None:
        """
        Start the server and wait for its ``PORT <n>`` line.

        Raises:
            ServerError: If it doesn't start or doesn't report its port in time.
        """
        command = self.command()
        # stderr goes to a file: a pipe nobody reads could fill up and block the server.
        self._stderr = stderr = tempfile.TemporaryFile()
        try:
            self._process = process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                # Ctrl-C goes to the client, which then stops the server itself.
                start_new_session=os.name == "posix",
            )
        except OSError as exc:  # pragma: no cover - sys.executable always runs
            raise ServerError(f"cannot start the embedded server: {exc}") from None
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
            self.port = int(words[1])
            return
        self._terminate(process)
        stderr.seek(0)
        detail = stderr.read().decode(errors="replace").strip().splitlines()
        self.stop()
        reason = detail[-1] if detail else f"no PORT line within {START_TIMEOUT:g} s"
        raise ServerError(f"embedded server ({SERVER_MODULE}) failed to start: {reason}")

    def stop(self) -> None:
        """Terminate the server by PID and reap it (idempotent)."""
        process, stderr = self._process, self._stderr
        self._process = self._stderr = None
        if process is not None:
            self._terminate(process)
        if stderr is not None:
            stderr.close()

    @staticmethod
    def _terminate(process: subprocess.Popen[bytes]) -> None:
        """Stop the process (stdin closed, then SIGTERM, SIGKILL after a while) and reap it."""
        assert process.stdin is not None
        try:
            process.stdin.close()  # the server's own "stop" signal
        except OSError:  # pragma: no cover - broken pipe: already gone
            pass
        process.terminate()  # no-op once it has exited
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:  # pragma: no cover - server ignores SIGTERM
            process.kill()
            process.wait()
