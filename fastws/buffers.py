"""
The receive ring buffer: the transport reads straight into it, the parser reads frames in place.

Layout: one ``bytearray`` of ``capacity`` bytes; the stored bytes start at ``start`` and run
for ``size`` bytes, wrapping past the end of the array to its beginning (the seam). Only
:meth:`RingBuffer.writable` hands out a view (to the transport, via
``BufferedProtocol.get_buffer``); :meth:`RingBuffer.commit` takes it back.

Sizing: the ring starts small (idle connections must stay cheap). It doubles, up to
``read_max``, when a read fills the whole region it was offered (a busy socket: larger reads
cost fewer calls); no read is offered more than ``read_max`` bytes. Beyond that it grows only
when the stored bytes need it: a partial frame (:meth:`RingBuffer.reserve`), or bytes received
while the parser is paused (a full ring hands out a larger one rather than failing). The ring
never limits what it stores: bounding that is flow control's job (``fastws.asyncio.flow``),
and a Sans-I/O caller's, who owns the bytes.
Growing allocates a new array and copies the stored bytes to its front, so it never resizes an
array a view may still point to.
"""

from __future__ import annotations

from .typing import BytesLike

__all__ = ["RingBuffer"]

# The array of a released ring: shared, never written to.
_EMPTY = bytearray()
_EMPTY_VIEW = memoryview(_EMPTY)


class RingBuffer:
    """
    A bounded ring of bytes with zero-copy writes (see the module docstring).

    Args:
        capacity: initial size in bytes (at least 16).
        read_max: largest region offered to one read, and the size up to which the ring
            doubles for a busy socket; None for no bound.

    Attributes:
        buf: the backing array (read it directly in hot loops; never resize it).
        view: a memoryview of ``buf``.
        start: offset of the first stored byte.
        size: number of stored bytes.
        capacity: ``len(buf)``.
    """

    __slots__ = (
        "buf",
        "view",
        "start",
        "size",
        "capacity",
        "initial",
        "read_max",
        "_exported",
        "_grow_next",
    )

    def __init__(self, capacity: int = 2048, read_max: int | None = 2**20) -> None:
        if capacity < 16:
            raise ValueError("capacity must be at least 16 bytes")
        if read_max is not None and read_max < 1:
            raise ValueError("read_max must be at least 1 byte")
        self.buf = bytearray(capacity)
        self.view = memoryview(self.buf)
        self.start = 0
        self.size = 0
        self.capacity = capacity
        self.initial = capacity
        self.read_max = read_max
        self._exported = 0
        self._grow_next = False

    def __len__(self) -> int:
        return self.size

    @property
    def free(self) -> int:
        """Number of bytes that can still be written without growing."""
        return self.capacity - self.size

    # Writing side: the transport.

    def writable(self) -> memoryview:
        """
        Return the largest contiguous free region after the stored bytes, up to ``read_max``
        bytes, never an empty one.

        The caller writes into it, then calls :meth:`commit` with the number of bytes written.
        Calling it again before :meth:`commit` abandons the previous view (uvloop does so when
        a read finds no data): only the latest view may be committed. A full ring doubles
        first: this never fails (a ``BufferedProtocol.get_buffer`` that raises kills the
        connection from inside the event loop).
        """
        self._exported = 0
        if self._grow_next:
            # Grow now rather than in commit(): the parser has consumed what it could since,
            # so only a partial frame (if anything) gets copied.
            self._grow_next = False
            grown = self.capacity * 2
            self._grow(grown if self.read_max is None else min(grown, self.read_max))
        elif self.size == 0:
            self.start = 0  # Rewind: the whole array becomes one free region.
            if not self.capacity:
                self._grow(self.initial)  # released while idle
        elif self.size == self.capacity:
            self._grow(self.capacity * 2)
        end = self.start + self.size
        cap = self.capacity
        self._exported = 1
        if end < cap:
            stop = cap
        else:
            end -= cap
            stop = self.start
        read_max = self.read_max
        if read_max is not None and stop - end > read_max:
            stop = end + read_max
        return self.view[end:stop]

    def commit(self, nbytes: int) -> None:
        """
        Record that ``nbytes`` were written into the region returned by :meth:`writable`.

        A read that fills a region of at least half the ring doubles the ring (up to
        ``read_max``) at the next :meth:`writable`, so that a busy socket is read in few
        large chunks.
        """
        end = self.start + self.size
        cap = self.capacity
        region = cap - end if end < cap else self.start - (end - cap)
        if not 0 <= nbytes <= region:
            self._exported = 0
            raise ValueError(f"committed {nbytes} bytes into a region of {region} bytes")
        self._exported = 0
        self.size += nbytes
        if (
            nbytes == region
            and 2 * region >= cap
            and (self.read_max is None or cap < self.read_max)
        ):
            self._grow_next = True

    def release(self) -> None:
        """
        Drop the array if the ring is empty; the next write allocates ``initial`` bytes again.

        An idle connection then holds no buffer at all (it would otherwise keep whatever its last
        burst grew the ring to).
        """
        if self.size == 0 and not self._exported and self.capacity:
            self.buf = _EMPTY
            self.view = _EMPTY_VIEW
            self.capacity = 0
            self.start = 0
            self._grow_next = False

    def close(self) -> None:
        """
        Drop the stored bytes and the array: the transport is gone, so a view it was handed
        and never committed (a read that found EOF) is abandoned. The next write allocates
        ``initial`` bytes again.
        """
        self._exported = 0
        self.clear()
        self.release()

    def write(self, data: BytesLike) -> None:
        """
        Copy ``data`` into the ring, growing it if needed.
        """
        n = len(data)
        if n > self.capacity - self.size:
            self.reserve(self.size + n)
        if self.size == 0:
            self.start = 0
        end = self.start + self.size
        cap = self.capacity
        if end >= cap:
            end -= cap
            self.buf[end : end + n] = data
        elif end + n <= cap:
            self.buf[end : end + n] = data
        else:
            first = cap - end
            with memoryview(data) as src:
                self.buf[end:] = src[:first]
                self.buf[: n - first] = src[first:]
        self.size += n

    def reserve(self, total: int) -> None:
        """
        Make room for ``total`` stored bytes (doubling: amortised, no quadratic copying).

        Call it only between :meth:`commit` and the next :meth:`writable` (a view is not out).
        """
        if total > self.capacity:
            capacity = self.capacity or self.initial
            while capacity < total:
                capacity *= 2
            self._grow(capacity)

    def _grow(self, capacity: int) -> None:
        # Never while the transport holds a view: it could write into the old array. (Only
        # writable() and reserve() get here, both after commit(): a bug if it happens.)
        assert not self._exported, "cannot grow the receive buffer while a view is out"
        buf = bytearray(capacity)
        buf[: self.size] = self.peek(self.size)
        self.buf = buf
        self.view = memoryview(buf)
        self.capacity = capacity
        self.start = 0

    # Reading side: the parser.

    def peek(self, n: int, offset: int = 0) -> bytes:
        """Return a copy of ``n`` stored bytes from ``offset``, across the seam if needed."""
        if offset + n > self.size:
            raise ValueError(f"cannot read {n} bytes at offset {offset} of {self.size} bytes")
        cap = self.capacity
        first = self.start + offset
        if first >= cap:
            first -= cap
        if first + n <= cap:
            return bytes(self.view[first : first + n])
        return b"".join((self.view[first:], self.view[: first + n - cap]))

    def consume(self, n: int) -> None:
        """Drop ``n`` bytes from the front."""
        if n > self.size:
            raise ValueError(f"cannot consume {n} bytes of {self.size} bytes")
        self.size -= n
        start = self.start + n
        self.start = start - self.capacity if start >= self.capacity else start

    def read(self, n: int) -> bytes:
        """Return and drop ``n`` bytes from the front."""
        data = self.peek(n)
        self.consume(n)
        return data

    def clear(self) -> None:
        """Drop every stored byte."""
        self.size = 0
        self.start = 0
