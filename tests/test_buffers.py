"""Tests for fastws.buffers: the receive ring."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastws.buffers import RingBuffer


def fill(ring: RingBuffer, data: bytes) -> None:
    """Write ``data`` through writable()/commit(), as a transport does."""
    pos = 0
    while pos < len(data):
        view = ring.writable()
        n = min(len(view), len(data) - pos)
        view[:n] = data[pos : pos + n]
        ring.commit(n)
        pos += n


class TestConstruction:
    """Arguments are checked."""

    def test_too_small(self) -> None:
        """A ring holds at least 16 bytes."""
        with pytest.raises(ValueError, match="at least 16 bytes"):
            RingBuffer(8)

    def test_read_max_positive(self) -> None:
        """read_max must be at least one byte."""
        with pytest.raises(ValueError, match="at least 1 byte"):
            RingBuffer(64, 0)

    def test_read_max_caps_regions(self) -> None:
        """A read is offered at most read_max bytes, below the capacity too, and at the seam."""
        ring = RingBuffer(64, 10)
        view = ring.writable()
        assert len(view) == 10
        view[:10] = b"0123456789"
        ring.commit(10)
        assert ring.capacity == 64  # a full region of read_max: no growth past it
        ring.write(b"x" * 50)  # stored bytes from 0 to 60
        ring.consume(50)  # 10 left, from 50 to 60
        assert len(ring.writable()) == 4  # the tail, 60 to 64
        ring.commit(4)
        assert len(ring.writable()) == 10  # after the seam: 0 to 50, cut to 10

    def test_empty(self) -> None:
        """A new ring is empty."""
        ring = RingBuffer(64)
        assert len(ring) == 0
        assert ring.free == 64


class TestWritable:
    """writable() hands out the largest contiguous free region, never an empty one."""

    def test_whole_ring_when_empty(self) -> None:
        """An empty ring rewinds and offers all of itself."""
        ring = RingBuffer(64)
        fill(ring, b"x" * 10)
        ring.consume(10)
        assert len(ring.writable()) == 64
        ring.commit(0)

    def test_tail_region(self) -> None:
        """With data at the front, the free tail is offered."""
        ring = RingBuffer(64)
        fill(ring, b"x" * 10)
        assert len(ring.writable()) == 54
        ring.commit(0)

    def test_wraps_to_head(self) -> None:
        """Once the tail is full, the region before the data is offered (the seam)."""
        ring = RingBuffer(64, 64)
        fill(ring, b"a" * 60)
        ring.consume(50)
        fill(ring, b"b" * 4)  # fills the tail exactly
        view = ring.writable()
        assert len(view) == 50
        view[:3] = b"ccc"
        ring.commit(3)
        assert ring.peek(ring.size) == b"a" * 10 + b"b" * 4 + b"ccc"

    def test_abandoned_view(self) -> None:
        """A second writable() before commit() hands out the region again (uvloop does this)."""
        ring = RingBuffer(16, 64)
        ring.write(b"x" * 16)
        first = ring.writable()  # grows
        second = ring.writable()
        assert len(first) == len(second) == 16
        second[:2] = b"ab"
        ring.commit(2)
        assert ring.peek(18) == b"x" * 16 + b"ab"

    def test_commit_too_much(self) -> None:
        """commit() can't claim more than the region handed out."""
        ring = RingBuffer(64)
        ring.writable()
        with pytest.raises(ValueError, match="committed 65 bytes into a region of 64 bytes"):
            ring.commit(65)
        ring.writable()  # the view is taken back even so

    def test_full_ring_grows(self) -> None:
        """A full ring below its bound doubles instead of offering nothing."""
        ring = RingBuffer(16, 64)
        ring.write(b"x" * 16)
        assert len(ring.writable()) == 16
        assert ring.capacity == 32

    def test_full_at_read_max(self) -> None:
        """A full ring at read_max doubles rather than fail or hand out an empty view."""
        ring = RingBuffer(16, 16)
        ring.write(b"x" * 16)
        view = ring.writable()
        assert len(view) == 16
        assert ring.capacity == 32
        view[:3] = b"abc"
        ring.commit(3)
        assert ring.peek(19) == b"x" * 16 + b"abc"


class TestGrowth:
    """The ring grows for busy sockets and big frames, within its bound."""

    def test_busy_socket_doubles(self) -> None:
        """A read that fills a big region doubles the ring for the next read."""
        ring = RingBuffer(64, 256)
        view = ring.writable()
        view[:] = b"y" * 64
        ring.commit(64)
        ring.consume(60)
        assert ring.capacity == 64  # grown lazily, at the next writable()
        view = ring.writable()
        assert ring.capacity == 128
        assert len(view) == 124
        ring.commit(0)
        assert ring.peek(4) == b"yyyy"

    def test_small_region_filled_does_not_grow(self) -> None:
        """Filling a small tail region is no sign of a busy socket."""
        ring = RingBuffer(64, 256)
        fill(ring, b"x" * 60)
        view = ring.writable()
        ring.commit(len(view))
        ring.consume(64)
        ring.writable()
        assert ring.capacity == 64

    def test_no_growth_at_bound(self) -> None:
        """A busy socket doesn't grow the ring past its bound."""
        ring = RingBuffer(64, 64)
        view = ring.writable()
        ring.commit(len(view))
        ring.consume(64)
        assert len(ring.writable()) == 64

    def test_unbounded(self) -> None:
        """max_capacity=None grows without limit."""
        ring = RingBuffer(16, None)
        ring.write(b"z" * 1000)
        assert ring.capacity == 1024
        view = ring.writable()
        ring.commit(len(view))
        ring.consume(ring.size)
        ring.writable()
        assert ring.capacity == 1024  # the 24-byte tail was too small to count
        ring.commit(0)

    def test_reserve(self) -> None:
        """reserve() makes room for a whole frame, keeping the stored bytes."""
        ring = RingBuffer(16, 1024)
        ring.write(b"abc")
        ring.reserve(100)
        assert ring.capacity == 128
        assert ring.peek(3) == b"abc"
        ring.reserve(10)
        assert ring.capacity == 128

    def test_reserve_past_read_max(self) -> None:
        """reserve() grows past read_max, doubling, when the stored bytes need it."""
        ring = RingBuffer(16, 100)
        ring.reserve(70)
        assert ring.capacity == 128
        ring.reserve(129)
        assert ring.capacity == 256

    def test_busy_socket_growth_stops_at_read_max(self) -> None:
        """Full reads double the ring up to read_max, not a power of two past it."""
        ring = RingBuffer(16, 40)
        for _ in range(4):
            view = ring.writable()
            n = len(view)
            ring.commit(n)
            ring.consume(n)
        assert ring.capacity == 40

    def test_no_growth_while_view_out(self) -> None:
        """Growing while the transport holds a view is refused."""
        ring = RingBuffer(16, None)
        ring.writable()
        with pytest.raises(AssertionError, match="while a view is out"):
            ring.reserve(100)

    def test_old_view_stays_valid(self) -> None:
        """Growth allocates a new array: a view of the old one remains usable."""
        ring = RingBuffer(16, None)
        old = ring.view
        ring.write(b"x" * 40)
        assert ring.view is not old
        assert len(old) == 16


class TestWriteAndRead:
    """write(), peek(), consume(), read(), clear()."""

    def test_write_wraps(self) -> None:
        """write() splits data across the seam."""
        ring = RingBuffer(16, 16)
        ring.write(b"0123456789")
        ring.consume(8)
        ring.write(b"abcdefghij")
        assert ring.size == 12
        assert ring.start == 8
        assert ring.peek(12) == b"89abcdefghij"
        assert bytes(ring.buf[:4]) == b"ghij"

    def test_write_after_wrap(self) -> None:
        """write() continues after data that already wrapped."""
        ring = RingBuffer(16, 16)
        ring.write(b"0123456789abcdef")
        ring.consume(10)
        ring.write(b"XY")
        ring.write(b"Z")
        assert ring.read(ring.size) == b"abcdefXYZ"

    def test_write_memoryview(self) -> None:
        """write() takes any bytes-like object."""
        ring = RingBuffer(16, 16)
        ring.write(b"0123456789")
        ring.consume(8)
        ring.write(memoryview(bytearray(b"abcdefghij")))
        assert ring.read(12) == b"89abcdefghij"

    def test_peek_offset_across_seam(self) -> None:
        """peek() with an offset past the seam reads from the front."""
        ring = RingBuffer(16, 16)
        ring.write(b"0123456789abcdef")
        ring.consume(12)
        ring.write(b"wxyz")
        assert ring.peek(3, 5) == b"xyz"
        assert ring.peek(4, 2) == b"efwx"

    def test_peek_too_far(self) -> None:
        """peek() past the stored bytes is refused."""
        ring = RingBuffer(16)
        ring.write(b"ab")
        with pytest.raises(ValueError, match="cannot read 3 bytes at offset 0 of 2 bytes"):
            ring.peek(3)

    def test_consume_too_much(self) -> None:
        """consume() past the stored bytes is refused."""
        ring = RingBuffer(16)
        with pytest.raises(ValueError, match="cannot consume 1 bytes of 0 bytes"):
            ring.consume(1)

    def test_clear(self) -> None:
        """clear() drops everything."""
        ring = RingBuffer(16)
        ring.write(b"abc")
        ring.clear()
        assert ring.size == 0
        assert ring.start == 0

    @given(st.lists(st.tuples(st.binary(max_size=40), st.integers(0, 40)), max_size=30))
    def test_fifo(self, steps: list[tuple[bytes, int]]) -> None:
        """Whatever the writes and reads, the ring behaves as a FIFO of bytes."""
        ring = RingBuffer(16, None)
        model = b""
        for i, (data, n) in enumerate(steps):
            if i % 2:
                fill(ring, data)
            else:
                ring.write(data)
            model += data
            n = min(n, len(model))
            assert ring.read(n) == model[:n]
            model = model[n:]
        assert ring.peek(ring.size) == model


class TestRelease:
    """release() drops the array of an empty ring; the next write allocates it again."""

    def test_release_and_reuse(self) -> None:
        """A released ring allocates its initial size on the next writable() or write()."""
        ring = RingBuffer(16, None)
        ring.write(b"x" * 100)
        ring.consume(100)
        ring.release()
        assert ring.capacity == 0 and len(ring.buf) == 0
        assert len(ring.writable()) == 16
        ring.commit(3)
        ring.consume(3)
        ring.release()
        ring.write(b"abc")
        assert ring.capacity == 16 and ring.read(3) == b"abc"
        ring.release()
        ring.write(b"y" * 40)
        assert ring.capacity == 64

    def test_no_release_with_data_or_view(self) -> None:
        """Stored bytes or an outstanding view keep the array."""
        ring = RingBuffer(16, None)
        ring.write(b"x" * 100)
        ring.release()
        assert ring.capacity == 128
        ring.consume(100)
        ring.writable()
        ring.release()
        assert ring.capacity == 128
        ring.commit(0)
        ring.release()
        ring.release()
        assert ring.capacity == 0


def test_close_drops_an_abandoned_view() -> None:
    """close() drops bytes and array even with a view handed out and never committed."""
    ring = RingBuffer(16, None)
    ring.write(b"abc")
    ring.writable()  # a read that found EOF: never committed
    ring.release()
    assert ring.capacity == 16  # release() keeps it: the view might still be written
    ring.close()
    assert ring.capacity == 0 and ring.size == 0
    assert len(ring.writable()) == 16  # usable again
