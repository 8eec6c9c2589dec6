"""Tests for fastws.streams."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from fastws.streams import StreamReader
from fastws.typing import BytesLike

PENDING = object()


def step(gen: Generator[None, None, Any]) -> Any:
    """Resume a generator-based coroutine; return its result, or PENDING if it yields."""
    try:
        next(gen)
    except StopIteration as exc:
        return exc.value
    return PENDING


def reader_with(data: BytesLike = b"", eof: bool = False) -> StreamReader:
    """Build a StreamReader holding data, ended if eof."""
    reader = StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


class TestReadLine:
    def test_available(self) -> None:
        """A buffered line is returned at once, LF included, and removed."""
        reader = reader_with(b"spam\neggs\n")
        assert step(reader.read_line(32)) == b"spam\n"
        assert step(reader.read_line(32)) == b"eggs\n"
        assert reader.buffer == b""

    def test_waits_for_lf(self) -> None:
        """The reader waits until a LF arrives, across several chunks."""
        reader = reader_with()
        gen = reader.read_line(32)
        assert step(gen) is PENDING
        reader.feed_data(b"sp")
        assert step(gen) is PENDING
        reader.feed_data(bytearray(b"am\nrest"))
        assert step(gen) == b"spam\n"
        assert reader.buffer == b"rest"

    def test_returns_bytes(self) -> None:
        """The line is bytes, not a view of the buffer."""
        assert type(step(reader_with(b"a\n").read_line(8))) is bytes

    def test_exactly_at_limit(self) -> None:
        """A line of m bytes, LF included, is accepted."""
        assert step(reader_with(b"abc\n").read_line(4)) == b"abc\n"

    def test_too_long_with_lf(self) -> None:
        """A complete line longer than m is refused."""
        with pytest.raises(RuntimeError) as exc_info:
            step(reader_with(b"abcd\n").read_line(4))
        assert str(exc_info.value) == "read 5 bytes, expected no more than 4 bytes"

    def test_too_long_without_lf(self) -> None:
        """More than m bytes without a LF is refused without waiting for the LF."""
        reader = reader_with()
        gen = reader.read_line(4)
        reader.feed_data(b"abc")
        assert step(gen) is PENDING
        reader.feed_data(b"de")
        with pytest.raises(RuntimeError) as exc_info:
            step(gen)
        assert str(exc_info.value) == "read 5 bytes, expected no more than 4 bytes"

    def test_eof_before_lf(self) -> None:
        """The stream ending before a LF raises EOFError."""
        with pytest.raises(EOFError) as exc_info:
            step(reader_with(b"abc", eof=True).read_line(32))
        assert str(exc_info.value) == "stream ends after 3 bytes, before end of line"

    def test_eof_after_wait(self) -> None:
        """EOF arriving while waiting raises EOFError."""
        reader = reader_with()
        gen = reader.read_line(32)
        assert step(gen) is PENDING
        reader.feed_eof()
        with pytest.raises(EOFError, match="stream ends after 0 bytes, before end of line"):
            step(gen)


class TestReadExact:
    def test_available(self) -> None:
        """Buffered bytes are returned at once."""
        reader = reader_with(b"spameggs")
        assert step(reader.read_exact(4)) == b"spam"
        assert reader.buffer == b"eggs"

    def test_zero(self) -> None:
        """Reading 0 bytes returns b'' at once."""
        assert step(reader_with().read_exact(0)) == b""

    def test_waits(self) -> None:
        """The reader waits until enough bytes arrive."""
        reader = reader_with(b"sp")
        gen = reader.read_exact(4)
        assert step(gen) is PENDING
        reader.feed_data(b"am!")
        assert step(gen) == b"spam"
        assert reader.buffer == b"!"

    def test_eof(self) -> None:
        """The stream ending too early raises EOFError."""
        with pytest.raises(EOFError) as exc_info:
            step(reader_with(b"sp", eof=True).read_exact(4))
        assert str(exc_info.value) == "stream ends after 2 bytes, expected 4 bytes"

    def test_negative(self) -> None:
        """A negative size is a programming error."""
        with pytest.raises(AssertionError):
            step(reader_with().read_exact(-1))


class TestReadToEOF:
    def test_waits_for_eof(self) -> None:
        """Everything until the end of stream is returned."""
        reader = reader_with(b"spam")
        gen = reader.read_to_eof(32)
        assert step(gen) is PENDING
        reader.feed_data(b"eggs")
        assert step(gen) is PENDING
        reader.feed_eof()
        assert step(gen) == b"spameggs"
        assert reader.buffer == b""

    def test_at_limit(self) -> None:
        """Exactly m bytes is accepted."""
        assert step(reader_with(b"spam", eof=True).read_to_eof(4)) == b"spam"

    def test_too_long(self) -> None:
        """More than m bytes before the end is refused."""
        with pytest.raises(RuntimeError) as exc_info:
            step(reader_with(b"spam").read_to_eof(3))
        assert str(exc_info.value) == "read 4 bytes, expected no more than 3 bytes"


class TestAtEOF:
    def test_data_buffered(self) -> None:
        """Buffered data means not at EOF."""
        assert step(reader_with(b"x").at_eof()) is False

    def test_ended_and_empty(self) -> None:
        """An ended, empty stream is at EOF."""
        assert step(reader_with(eof=True).at_eof()) is True

    def test_waits(self) -> None:
        """With nothing buffered and no EOF, the answer waits for the next event."""
        reader = reader_with()
        gen = reader.at_eof()
        assert step(gen) is PENDING
        reader.feed_data(b"x")
        assert step(gen) is False
        reader.discard()
        gen = reader.at_eof()
        assert step(gen) is PENDING
        reader.feed_eof()
        assert step(gen) is True


class TestFeed:
    def test_feed_data_after_eof(self) -> None:
        """Data can't be fed after EOF."""
        with pytest.raises(EOFError, match="stream ended"):
            reader_with(eof=True).feed_data(b"x")

    def test_feed_eof_twice(self) -> None:
        """EOF can't be fed twice."""
        with pytest.raises(EOFError, match="stream ended"):
            reader_with(eof=True).feed_eof()

    def test_feed_memoryview(self) -> None:
        """Any bytes-like object can be fed."""
        reader = reader_with(memoryview(b"ab\n"))
        assert step(reader.read_line(8)) == b"ab\n"

    def test_discard(self) -> None:
        """discard() drops buffered data but leaves the stream open."""
        reader = reader_with(b"spam")
        reader.discard()
        assert reader.buffer == b""
        assert not reader.eof
        reader.feed_data(b"x")
        assert reader.buffer == b"x"
