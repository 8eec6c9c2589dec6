"""
The Sans-I/O receive path at scale: chunks from 1 B to 16 MiB, frames around every bound
(the ring's initial size and read cap, the sink threshold, max_size), lengths announced but not
sent, and compressed messages at max_size. Both feeders: receive_data() and the zero-copy
get_buffer()/receive_buffered().
"""

from __future__ import annotations

import tracemalloc
import zlib

import pytest

from fastws.connection import RING_INITIAL, RING_MAX, SINK_MIN, Connection
from fastws.exceptions import PayloadTooBig, ProtocolError
from fastws.extensions.permessage_deflate import PerMessageDeflate
from fastws.frames import OP_BINARY, OP_TEXT, Close, Frame

from .feed import client, feed_buffered, feed_data

KiB, MiB = 2**10, 2**20


def header(b0: int, length: int) -> bytes:
    """A server frame header (unmasked) announcing ``length`` bytes."""
    if length < 126:
        return bytes((b0, length))
    if length < 65536:
        return bytes((b0, 126)) + length.to_bytes(2, "big")
    return bytes((b0, 127)) + length.to_bytes(8, "big")


def binary(index: int, size: int) -> bytes:
    """A payload of ``size`` bytes that names its frame."""
    return (index.to_bytes(4, "big") + bytes(range(256)) * (size // 256 + 1))[:size]


def stream(sizes: list[int]) -> tuple[bytes, list[bytes]]:
    payloads = [binary(i, size) for i, size in enumerate(sizes)]
    return b"".join(header(0x82, len(p)) + p for p in payloads), payloads


def chunked(raw: bytes, size: int) -> list[bytes]:
    return [raw[i : i + size] for i in range(0, len(raw), size)]


def payloads_of(conn: Connection) -> list[bytes]:
    events = conn.events_received()
    assert all(isinstance(e, Frame) and e.opcode is OP_BINARY for e in events), events
    return [e.data for e in events]  # type: ignore[union-attr]


# Streams that broke or could break the parser: the cases and every bound.
STREAMS = {
    "one 300 KiB frame": [300 * KiB],
    "3000 x 100 B": [100] * 3000,
    "5 x 60 KiB": [60 * KiB] * 5,
    "around the ring": [RING_INITIAL - 1, RING_INITIAL, RING_INITIAL + 1, RING_MAX - 1, RING_MAX],
    "around the sink": [SINK_MIN - 1, SINK_MIN, SINK_MIN + 1, 1, SINK_MIN + 1],
    "max_size": [MiB, 1, MiB],
}
CHUNKS = [1, 7, 1000, 2**16 - 1, 2**16, RING_MAX - 1, RING_MAX, RING_MAX + 1, 300 * KiB, MiB, 16 * MiB]


# Byte-sized chunks of megabytes would take minutes: small chunks go with the smaller streams.
CASES = [
    (name, chunk)
    for name, sizes in STREAMS.items()
    for chunk in CHUNKS
    if chunk >= 1000 or sum(sizes) < 400 * KiB
]


@pytest.mark.parametrize("feeder", [feed_data, feed_buffered])
@pytest.mark.parametrize(("name", "chunk"), CASES)
@pytest.mark.parametrize("max_size", [MiB, None])
def test_any_chunk_size(name: str, chunk: int, feeder: object, max_size: int | None) -> None:
    """Every frame arrives whatever the chunking; only a frame in progress stays held."""
    raw, payloads = stream(STREAMS[name])
    conn = client(max_size=max_size)
    feeder(conn, chunked(raw, chunk))  # type: ignore[operator]
    assert payloads_of(conn) == payloads
    assert conn.buffered == 0
    assert conn.reader.capacity <= RING_MAX
    assert conn.data_to_send() == []


@pytest.mark.parametrize("feeder", [feed_data, feed_buffered])
def test_16_mib_chunk(feeder: object) -> None:
    """A 16 MiB chunk of mixed frames, small to 4 MiB (max_size=None): all arrive, in order."""
    sizes = [100] * 1000 + [4 * MiB, 70 * KiB, 1, 4 * MiB, SINK_MIN, 4 * MiB, 2 * MiB]
    raw, payloads = stream(sizes + [1000] * 2000)
    assert len(raw) >= 16 * MiB
    conn = client(max_size=None)
    feeder(conn, [raw])  # type: ignore[operator]
    assert payloads_of(conn) == payloads
    assert conn.buffered == 0
    assert conn.reader.capacity <= RING_MAX


@pytest.mark.parametrize("feeder", [feed_data, feed_buffered])
@pytest.mark.parametrize("size", [MiB - 1, MiB, MiB + 1])
def test_max_size_bound(feeder: object, size: int) -> None:
    """A frame of max_size is delivered; one byte more closes with 1009, after the frames before."""
    raw, payloads = stream([10, size])
    conn = client()
    feeder(conn, chunked(raw, 300 * KiB))  # type: ignore[operator]
    if size <= MiB:
        assert payloads_of(conn) == payloads
    else:
        assert payloads_of(conn) == payloads[:1]
        assert conn.close_sent == Close(1009, f"over size limit ({MiB + 1} > {MiB} bytes)")
        assert isinstance(conn.parser_exc, PayloadTooBig)


class TestAnnouncedLengths:
    """5.2: what a header announces costs nothing until the bytes arrive."""

    @pytest.mark.parametrize("length", [2**20, 2**30, 2**32, 2**62, 2**63 - 1])
    def test_header_alone_costs_at_most_the_sink_threshold(self, length: int) -> None:
        """With max_size=None, a header announcing up to 2**63 - 1 bytes allocates ~SINK_MIN."""
        conn = client(max_size=None)
        tracemalloc.start()
        try:
            conn.receive_data(header(0x82, length) + b"x" * 100)
            held, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < SINK_MIN + 64 * KiB
        assert conn.buffered == 100
        assert len(conn.get_buffer()) <= SINK_MIN
        assert conn.close_sent is None

    @pytest.mark.parametrize("feeder", [feed_data, feed_buffered])
    def test_memory_follows_the_bytes(self, feeder: object) -> None:
        """A 4 MiB payload announced at once grows its buffers with what arrived (doubling)."""
        conn = client(max_size=None)
        payload = binary(0, 4 * MiB)
        raw = header(0x82, len(payload)) + payload
        sizes = []
        for part in chunked(raw, 64 * KiB):
            feeder(conn, [part])  # type: ignore[operator]
            if conn.buffered:
                sizes.append((conn.buffered, len(conn._sink) + sum(map(len, conn._sink_chunks))))
        # Allocated never more than twice what arrived (plus the first buffer).
        assert all(alloc <= max(2 * have, SINK_MIN) for have, alloc in sizes)
        assert payloads_of(conn) == [payload]

    @pytest.mark.parametrize("length", [2**63, 2**64 - 1])
    @pytest.mark.parametrize("max_size", [MiB, None])
    def test_most_significant_bit_is_a_protocol_error(self, length: int, max_size: int | None) -> None:
        """5.2: "the most significant bit MUST be 0": 1002, whatever max_size."""
        conn = client(max_size=max_size)
        conn.receive_data(header(0x82, 5) + b"hello" + header(0x82, length))
        assert payloads_of(conn) == [b"hello"]
        assert conn.close_sent == Close(1002, "payload length with the most significant bit set")
        assert isinstance(conn.parser_exc, ProtocolError)


def deflate_connection(max_size: int | None) -> Connection:
    conn = client(max_size=max_size)
    conn.extensions = [PerMessageDeflate(False, False, 15, 15)]
    return conn


def compressed_fragments(message: bytes, parts: int) -> list[bytes]:
    """A compressed message cut into ``parts`` frames (RSV1 on the first)."""
    compressor = zlib.compressobj(wbits=-15)
    data = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
    data = data[:-4]
    cuts = [len(data) * k // parts for k in range(parts + 1)]
    frames = []
    for k in range(parts):
        b0 = (0x80 if k == parts - 1 else 0) | (0x40 | 0x2 if k == 0 else 0x0)
        piece = data[cuts[k] : cuts[k + 1]]
        frames.append(header(b0, len(piece)) + piece)
    return frames


class TestCompressedMaxSize:
    """max_size caps the whole decompressed message, fragments included."""

    @pytest.mark.parametrize("over", [-1, 0, 1, 300])
    @pytest.mark.parametrize("parts", [1, 2, 5])
    def test_fragmented_message_at_max_size(self, over: int, parts: int) -> None:
        """A compressed message of max_size + over bytes: delivered if over <= 0, else 1009."""
        max_size = 4096
        message = bytes(max_size + over)  # zeros: tiny once compressed, the later fragments too
        conn = deflate_connection(max_size)
        for raw in compressed_fragments(message, parts):
            conn.receive_data(raw)
        events = conn.events_received()
        if over <= 0:
            assert b"".join(e.data for e in events if isinstance(e, Frame)) == message
        else:
            assert conn.close_sent is not None and conn.close_sent.code == 1009, events
            assert isinstance(conn.parser_exc, PayloadTooBig)
            delivered = sum(len(e.data) for e in events if isinstance(e, Frame))
            assert delivered <= max_size

    def test_text_zip_bomb_stops_at_max_size(self) -> None:
        """100 MiB of zeros compressed to ~100 KB fails with 1009 without being inflated."""
        compressor = zlib.compressobj(wbits=-15)
        chunk = bytes(MiB)
        data = b"".join(compressor.compress(chunk) for _ in range(100))
        data = (data + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
        conn = deflate_connection(MiB)
        tracemalloc.start()
        try:
            conn.receive_data(header(0xC1, len(data)) + data)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert conn.close_sent is not None and conn.close_sent.code == 1009
        assert peak < 4 * MiB
        assert not [e for e in conn.events_received() if isinstance(e, Frame) and e.opcode is OP_TEXT]


def test_any_bytes_like() -> None:
    """receive_data() takes any bytes-like object: bytearray, memoryview, other formats."""
    import array

    raw, payloads = stream([100, 1000])
    raw += b"\x82\x00"  # an even length, for an array of 16-bit items
    for data in (bytearray(raw), memoryview(raw), memoryview(array.array("H", raw))):
        conn = client()
        conn.receive_data(data)
        assert payloads_of(conn) == payloads + [b""]
