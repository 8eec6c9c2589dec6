"""
A byte buffer read by generator-based coroutines, for the opening handshake.

The Sans-I/O handshake parser is a generator: when a ``read_*`` method lacks data it yields,
and the caller resumes it after :meth:`StreamReader.feed_data` or
:meth:`StreamReader.feed_eof`. WebSocket frames don't go through this class.
"""

from __future__ import annotations

from collections.abc import Generator

from .typing import BytesLike

__all__ = ["StreamReader"]


class StreamReader:
    """
    Buffer fed with bytes and read by generator-based coroutines.

    Only one read may be in progress at a time.

    Attributes:
        buffer: bytes received and not read yet.
        eof: True once :meth:`feed_eof` was called.
    """

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.eof = False

    def read_line(self, m: int) -> Generator[None, None, bytes]:
        """
        Read up to and including the next LF.

        Args:
            m: largest accepted line length in bytes, LF included (a security limit).

        Returns:
            The line, with its LF.

        Raises:
            EOFError: If the stream ends before a LF.
            RuntimeError: If the line is longer than ``m`` bytes.
        """
        scanned = 0  # bytes known to hold no LF
        while True:
            n = self.buffer.find(b"\n", scanned) + 1
            if n:
                break
            scanned = len(self.buffer)
            if scanned > m:
                raise RuntimeError(f"read {scanned} bytes, expected no more than {m} bytes")
            if self.eof:
                raise EOFError(f"stream ends after {scanned} bytes, before end of line")
            yield
        if n > m:
            raise RuntimeError(f"read {n} bytes, expected no more than {m} bytes")
        line = bytes(self.buffer[:n])
        del self.buffer[:n]
        return line

    def read_exact(self, n: int) -> Generator[None, None, bytes]:
        """
        Read exactly ``n`` bytes.

        Args:
            n: number of bytes, at least 0.

        Returns:
            The bytes.

        Raises:
            EOFError: If the stream ends before ``n`` bytes arrive.
        """
        assert n >= 0
        while len(self.buffer) < n:
            if self.eof:
                raise EOFError(f"stream ends after {len(self.buffer)} bytes, expected {n} bytes")
            yield
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def read_to_eof(self, m: int) -> Generator[None, None, bytes]:
        """
        Read everything until the stream ends.

        Args:
            m: largest accepted size in bytes (a security limit).

        Returns:
            All remaining bytes.

        Raises:
            RuntimeError: If more than ``m`` bytes arrive before the end.
        """
        while not self.eof:
            if len(self.buffer) > m:
                raise RuntimeError(
                    f"read {len(self.buffer)} bytes, expected no more than {m} bytes"
                )
            yield
        data = bytes(self.buffer)
        del self.buffer[:]
        return data

    def at_eof(self) -> Generator[None, None, bool]:
        """
        Tell whether the stream ended and every byte was read.

        Waits while the buffer is empty and the stream hasn't ended, since the answer
        depends on what comes next.

        Returns:
            True if the stream ended with nothing left to read, False if data is buffered.
        """
        while True:
            if self.buffer:
                return False
            if self.eof:
                return True
            yield

    def feed_data(self, data: BytesLike) -> None:
        """
        Append received bytes.

        Args:
            data: bytes received.

        Raises:
            EOFError: If :meth:`feed_eof` was called.
        """
        if self.eof:
            raise EOFError("stream ended")
        self.buffer += data

    def feed_eof(self) -> None:
        """
        Mark the end of the stream.

        Raises:
            EOFError: If :meth:`feed_eof` was already called.
        """
        if self.eof:
            raise EOFError("stream ended")
        self.eof = True

    def discard(self) -> None:
        """Drop the buffered bytes; the stream stays open."""
        del self.buffer[:]
