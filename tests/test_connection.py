"""Tests for fastws.connection: the Sans-I/O core, byte for byte."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastws.buffers import RingBuffer
from fastws.connection import (
    CLIENT,
    CLOSED,
    CLOSING,
    OPEN,
    SEND_EOF,
    SERVER,
    SINK_MIN,
    Connection,
    Side,
    State,
)
from fastws.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    PayloadTooBig,
    ProtocolError,
)
from fastws.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Close,
    Frame,
    encode_header,
)

from .feed import NEXT_PARTIAL, ZERO_KEY, client, feed_buffered, masked, run

# Server-to-client frames (RFC 6455 section 5.7 and friends).
TEXT_SPAM = b"\x81\x04Spam"
TEXT_EMPTY = b"\x81\x00"
BINARY_EGGS = b"\x82\x04Eggs"
TEXT_UTF8 = b"\x81\x07caf\xc3\xa9 !"
BINARY_126 = b"\x82\x7e\x00\x7e" + bytes(range(126))
BINARY_65535 = b"\x82\x7e\xff\xff" + bytes(range(256)) * 255 + bytes(255)
BINARY_65536 = b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00" + bytes(range(256)) * 256
# Large enough for the sink (SINK_MIN), not only the ring.
BINARY_LARGE = b"\x82\x7f" + (200_000).to_bytes(8, "big") + bytes(range(250)) * 800
FRAGMENTED = b"\x01\x03Hel\x00\x02lo\x80\x00"
FRAGMENTED_WITH_PING = b"\x02\x02ab\x89\x01p\x80\x02cd"
PING = b"\x89\x04ping"
PING_EMPTY = b"\x89\x00"
PONG = b"\x8a\x04pong"
CLOSE_1000_BYE = b"\x88\x05\x03\xe8bye"
CLOSE_EMPTY = b"\x88\x00"


def frame(opcode: int, data: bytes, fin: bool = True) -> Frame:
    """Shorthand for an expected event."""
    return Frame(opcode, data, fin)  # type: ignore[arg-type]


VALID = [
    pytest.param(TEXT_SPAM, [frame(OP_TEXT, b"Spam")], [], id="text"),
    pytest.param(TEXT_EMPTY, [frame(OP_TEXT, b"")], [], id="text-empty"),
    pytest.param(BINARY_EGGS, [frame(OP_BINARY, b"Eggs")], [], id="binary"),
    pytest.param(TEXT_UTF8, [frame(OP_TEXT, "café !".encode())], [], id="text-utf8"),
    pytest.param(BINARY_126, [frame(OP_BINARY, bytes(range(126)))], [], id="len16-126"),
    pytest.param(
        BINARY_65535, [frame(OP_BINARY, BINARY_65535[4:])], [], id="len16-65535"
    ),
    pytest.param(
        BINARY_65536, [frame(OP_BINARY, BINARY_65536[10:])], [], id="len64-65536"
    ),
    pytest.param(
        FRAGMENTED,
        [frame(OP_TEXT, b"Hel", False), frame(OP_CONT, b"lo", False), frame(OP_CONT, b"")],
        [],
        id="fragmented",
    ),
    pytest.param(
        FRAGMENTED_WITH_PING,
        [frame(OP_BINARY, b"ab", False), frame(OP_PING, b"p"), frame(OP_CONT, b"cd")],
        [masked(0x8A, b"p")],
        id="ping-inside-fragments",
    ),
    pytest.param(PING, [frame(OP_PING, b"ping")], [masked(0x8A, b"ping")], id="ping"),
    pytest.param(PING_EMPTY, [frame(OP_PING, b"")], [masked(0x8A, b"")], id="ping-empty"),
    pytest.param(PONG, [frame(OP_PONG, b"pong")], [], id="pong"),
]


class TestReceiveFrames:
    """5.2, 5.4, 5.5: valid frames fed whole, bytewise, before a partial frame, across the seam."""

    @pytest.mark.parametrize(("raw", "events", "writes"), VALID)
    def test_valid(self, raw: bytes, events: list[Frame], writes: list[bytes]) -> None:
        """Every feeding yields the same events and writes, and keeps a next frame buffered."""
        for name, conn, got_events, got_writes in run(raw):
            assert got_events == events, name
            assert got_writes == writes, name
            assert conn.state is OPEN, name
            expected_left = len(NEXT_PARTIAL) if name.startswith("partial-next") else 0
            assert conn.reader.size == expected_left, name

    def test_partial_next_is_parsed_later(self) -> None:
        """The buffered first bytes of a next frame complete into a frame."""
        conn = client()
        conn.receive_data(TEXT_SPAM + NEXT_PARTIAL)
        conn.receive_data(b"llo")
        assert conn.events_received() == [frame(OP_TEXT, b"Spam"), frame(OP_TEXT, b"Hello")]

    def test_many_frames_in_one_read(self) -> None:
        """A read holding many small frames yields all of them, in order."""
        conn = client()
        feed_buffered(conn, [TEXT_SPAM * 500])
        assert conn.events_received() == [frame(OP_TEXT, b"Spam")] * 500

    def test_sink_with_following_frames(self) -> None:
        """Bytes after a large payload received through receive_data() go back to the ring."""
        conn = client()
        conn.receive_data(BINARY_LARGE[:100])
        conn.receive_data(BINARY_LARGE[100:] + TEXT_SPAM + NEXT_PARTIAL)
        assert conn.events_received() == [
            frame(OP_BINARY, BINARY_LARGE[10:]),
            frame(OP_TEXT, b"Spam"),
        ]
        assert conn.reader.size == len(NEXT_PARTIAL)

    def test_sink_grows_with_what_arrives(self) -> None:
        """A large payload's buffers grow with the bytes received, never past the payload."""
        conn = client()
        conn.receive_data(BINARY_LARGE[:1000])
        assert len(conn.get_buffer()) == SINK_MIN - 990  # the first buffer: SINK_MIN
        conn.receive_data(BINARY_LARGE[1000 : 10 + SINK_MIN])
        assert conn.buffered == SINK_MIN
        # The second buffer is as large as what arrived, cut to what is missing.
        assert len(conn.get_buffer()) == len(BINARY_LARGE) - 10 - SINK_MIN
        conn.receive_data(BINARY_LARGE[10 + SINK_MIN :])
        assert conn.events_received() == [frame(OP_BINARY, BINARY_LARGE[10:])]
        assert conn.buffered == 0

    def test_on_data_hook(self) -> None:
        """on_data receives the first byte and the payload of each data frame."""
        conn = client()
        seen: list[tuple[int, bytes]] = []
        conn.on_data = lambda b0, payload: seen.append((b0, bytes(payload)))
        conn.receive_data(TEXT_SPAM + FRAGMENTED + PING)
        assert seen == [(0x81, b"Spam"), (0x01, b"Hel"), (0x00, b"lo"), (0x80, b"")]
        assert conn.events_received() == [frame(OP_PING, b"ping")]

    def test_pause_and_resume(self) -> None:
        """While paused, frames stay buffered; resume_parsing() parses them."""
        conn = client()

        def pause(b0: int, payload: object) -> None:
            conn.paused = True
            conn._data_frame_event(b0, payload)  # type: ignore[arg-type]

        conn.on_data = pause
        conn.receive_data(TEXT_SPAM + BINARY_EGGS)
        assert conn.events_received() == [frame(OP_TEXT, b"Spam")]
        assert conn.reader.size == len(BINARY_EGGS)
        conn.resume_parsing()
        assert conn.events_received() == [frame(OP_BINARY, b"Eggs")]

    def test_resume_parsing_after_close(self) -> None:
        """resume_parsing() is harmless once the connection discards input."""
        conn = client()
        conn.receive_data(CLOSE_EMPTY)
        conn.resume_parsing()
        assert conn.state is CLOSING

    @given(st.lists(st.binary(max_size=300), max_size=8), st.integers(1, 64))
    def test_round_trip(self, payloads: list[bytes], chunk: int) -> None:
        """Frames built by a server connection parse back identically, in any chunking."""
        server = Connection(SERVER)
        for payload in payloads:
            server.send_binary(payload)
        raw = b"".join(server.data_to_send())
        conn = client()
        for i in range(0, len(raw), chunk):
            conn.receive_data(raw[i : i + chunk])
        assert conn.events_received() == [frame(OP_BINARY, p) for p in payloads]


INVALID = [
    pytest.param(b"\x83\x00", ProtocolError, 1002, "invalid opcode", id="opcode-3"),
    pytest.param(b"\x8b\x00", ProtocolError, 1002, "invalid opcode", id="opcode-b"),
    pytest.param(
        b"\x81\x84\x00\x00\x00\x00Spam", ProtocolError, 1002, "incorrect masking", id="masked"
    ),
    pytest.param(b"\xc1\x00", ProtocolError, 1002, "reserved bits must be 0", id="rsv1"),
    pytest.param(b"\xa1\x00", ProtocolError, 1002, "reserved bits must be 0", id="rsv2"),
    pytest.param(b"\x91\x00", ProtocolError, 1002, "reserved bits must be 0", id="rsv3"),
    pytest.param(
        b"\x89\x7e\x00\x7e" + b"x" * 126, ProtocolError, 1002, "control frame too long",
        id="ping-too-long",
    ),
    pytest.param(b"\x09\x00", ProtocolError, 1002, "fragmented control frame", id="frag-ping"),
    pytest.param(
        b"\x80\x00", ProtocolError, 1002, "unexpected continuation frame", id="unexpected-cont"
    ),
    pytest.param(
        b"\x01\x00\x81\x00", ProtocolError, 1002, "expected a continuation frame",
        id="expected-cont",
    ),
    pytest.param(b"\x88\x01\x03", ProtocolError, 1002, "close frame too short", id="close-1"),
    pytest.param(
        b"\x88\x02\x03\xed", ProtocolError, 1002, "invalid status code", id="close-1005"
    ),
    pytest.param(
        b"\x88\x02\x0b\xb7", ProtocolError, 1002, "invalid status code", id="close-2999"
    ),
    pytest.param(
        b"\x88\x04\x03\xe8\xff\xff", UnicodeDecodeError, 1007, "invalid start byte at position 0",
        id="close-reason-utf8",
    ),
    pytest.param(
        b"\x82\x7e\x04\x01" + bytes(1025), PayloadTooBig, 1009,
        "over size limit (1025 > 1024 bytes)", id="too-big",
    ),
    pytest.param(
        b"\x02\x7e\x02\x00" + bytes(512) + b"\x80\x7e\x02\x01" + bytes(513), PayloadTooBig, 1009,
        "over size limit (513 > 512 bytes)", id="too-big-fragmented",
    ),
    pytest.param(
        b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", PayloadTooBig, 1009,
        "over size limit (65536 > 1024 bytes)", id="too-big-64",
    ),
]


class TestProtocolErrors:
    """7.1.7: each protocol error fails the connection with the right code, in every feeding."""

    @pytest.mark.parametrize(("raw", "exc_type", "code", "reason"), INVALID)
    def test_invalid(self, raw: bytes, exc_type: type, code: int, reason: str) -> None:
        """The close frame carries the code and reason; frames before the error are kept."""
        prefix = TEXT_SPAM
        for name, conn, events, writes in run(prefix + raw, lambda: client(max_size=1024)):
            assert events[:1] == [frame(OP_TEXT, b"Spam")], name
            assert isinstance(conn.parser_exc, exc_type), name
            close = Close(code, reason)
            assert writes == [masked(0x88, close.serialize())], name
            assert conn.close_sent == close, name
            assert conn.state is CLOSING, name
            assert conn.close_expected(), name
            # Everything after the failure is discarded, then EOF closes.
            conn.receive_data(TEXT_SPAM)
            assert conn.events_received() == [], name
            conn.receive_eof()
            assert conn.data_to_send() == [SEND_EOF], name
            assert conn.state is CLOSED, name
            exc = conn.close_exc
            assert isinstance(exc, ConnectionClosedError), name
            assert exc.__cause__ is conn.parser_exc, name

    def test_handler_error_fails_with_1011(self, caplog: pytest.LogCaptureFixture) -> None:
        """An unexpected error in on_data fails with 1011, an empty reason, and a log."""
        conn = client()

        def boom(b0: int, payload: object) -> None:
            raise RuntimeError("secret detail")

        conn.on_data = boom
        with caplog.at_level(logging.ERROR, logger="websockets.client"):
            conn.receive_data(TEXT_SPAM)
        assert conn.data_to_send() == [masked(0x88, b"\x03\xf3")]
        assert isinstance(conn.parser_exc, RuntimeError)
        assert "parser failed" in caplog.text

    def test_handler_utf8_error_fails_with_1007(self) -> None:
        """A UnicodeDecodeError raised by on_data (text validation) fails with 1007."""
        conn = client()
        conn.on_data = lambda b0, payload: bytes(payload).decode() and None
        conn.receive_data(b"\x81\x02\xc3\x28")
        reason = b"invalid continuation byte at position 0"
        assert conn.data_to_send() == [masked(0x88, b"\x03\xef" + reason)]

    def test_long_reason_is_truncated(self) -> None:
        """A failure reason longer than a close frame allows is cut to fit."""
        conn = client()

        def too_big(b0: int, payload: object) -> None:
            raise PayloadTooBig("x" * 200)

        conn.on_data = too_big
        conn.receive_data(TEXT_SPAM)
        [write] = conn.data_to_send()
        assert len(write) == 2 + 4 + 125
        assert write.endswith(b"...")

    def test_max_size_none(self) -> None:
        """max_size=None accepts any size."""
        conn = client(max_size=None)
        conn.receive_data(BINARY_65536 + b"\x00\x00")
        assert conn.events_received() == [frame(OP_BINARY, BINARY_65536[10:])]

    def test_error_in_sink_payload(self) -> None:
        """An error raised for a frame completed in the sink fails the connection."""
        conn = client()
        conn.on_data = lambda b0, payload: (_ for _ in ()).throw(PayloadTooBig("too big"))
        feed_buffered(conn, [BINARY_LARGE])
        assert conn.state is CLOSING
        assert conn.close_sent == Close(1009, "too big")


class TestEOF:
    """7.1.1 and 7.1.7: the end of the TCP stream."""

    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            (b"", "unexpected end of stream"),
            (b"\x81", "stream ends after 1 bytes, expected 2 bytes"),
            (b"\x81\x05He", "stream ends after 2 bytes, expected 5 bytes"),
            (b"\x82\x7e\x01", "stream ends after 1 bytes, expected 2 bytes"),
            (b"\x82\x7f\x00\x00", "stream ends after 2 bytes, expected 8 bytes"),
            (b"\x82\x7e\x01\x00abc", "stream ends after 3 bytes, expected 256 bytes"),
            (BINARY_65536[:1000], "stream ends after 990 bytes, expected 65536 bytes"),
            (BINARY_LARGE[:1000], "stream ends after 990 bytes, expected 200000 bytes"),
        ],
    )
    def test_unexpected_eof(self, raw: bytes, message: str) -> None:
        """EOF outside the closing handshake: 1006, no close frame, CLOSED at once."""
        conn = client()
        conn.receive_data(raw)
        conn.receive_eof()
        assert conn.data_to_send() == [SEND_EOF]
        assert conn.state is CLOSED
        assert conn.close_code == 1006
        assert conn.close_reason == ""
        assert isinstance(conn.parser_exc, EOFError)
        assert str(conn.parser_exc) == message
        exc = conn.close_exc
        assert isinstance(exc, ConnectionClosedError)
        assert str(exc) == "no close frame received or sent"

    def test_eof_on_server_with_masked_partial(self) -> None:
        """The EOF message counts the masking key on the server side."""
        conn = Connection(SERVER)
        conn.receive_data(b"\x81\x85\x00\x00")
        conn.receive_eof()
        assert str(conn.parser_exc) == "stream ends after 2 bytes, expected 4 bytes"
        assert conn.data_to_send() == [SEND_EOF]

    def test_receive_after_eof(self) -> None:
        """receive_data() and receive_eof() after EOF raise EOFError."""
        conn = client()
        conn.receive_eof()
        with pytest.raises(EOFError, match="stream ended"):
            conn.receive_data(b"\x81\x00")
        with pytest.raises(EOFError, match="stream ended"):
            conn.receive_eof()
        with pytest.raises(EOFError, match="stream ended"):
            conn.get_buffer()

    def test_data_after_close_then_eof(self) -> None:
        """After a close frame, data is discarded (1.4) through both feeding paths."""
        conn = client()
        conn.receive_data(CLOSE_1000_BYE + TEXT_SPAM)
        feed_buffered(conn, [TEXT_SPAM])
        assert conn.events_received() == [frame(OP_CLOSE, b"\x03\xe8bye")]
        assert conn.reader.size == 0


class TestClosingHandshake:
    """7.1.2 - 7.1.4, 5.5.1: the closing handshake from both ends."""

    def test_server_initiates(self) -> None:
        """A received close frame is echoed; the client then waits for the TCP close."""
        conn = client()
        conn.receive_data(CLOSE_1000_BYE)
        assert conn.events_received() == [frame(OP_CLOSE, b"\x03\xe8bye")]
        assert conn.data_to_send() == [masked(0x88, b"\x03\xe8bye")]
        assert conn.state is CLOSING
        assert conn.close_expected()
        assert conn.close_code is None
        conn.receive_eof()
        assert conn.data_to_send() == [SEND_EOF]
        assert conn.state is CLOSED
        assert conn.close_code == 1000
        assert conn.close_reason == "bye"
        exc = conn.close_exc
        assert isinstance(exc, ConnectionClosedOK)
        assert str(exc) == "received 1000 (OK) bye; then sent 1000 (OK) bye"

    def test_client_initiates(self) -> None:
        """send_close() then the server's close frame: sent then received."""
        conn = client()
        conn.send_close(1001, "leaving")
        assert conn.data_to_send() == [masked(0x88, b"\x03\xe9leaving")]
        assert conn.state is CLOSING
        conn.receive_data(b"\x88\x02\x03\xe9")
        assert conn.data_to_send() == []
        conn.receive_eof()
        assert conn.data_to_send() == [SEND_EOF]
        exc = conn.close_exc
        assert isinstance(exc, ConnectionClosedOK)
        assert str(exc) == "sent 1001 (going away) leaving; then received 1001 (going away)"

    def test_empty_close_frame(self) -> None:
        """An empty close frame means 1005 and is echoed empty; the closure is an error in 10.x."""
        conn = client()
        conn.receive_data(CLOSE_EMPTY)
        assert conn.data_to_send() == [masked(0x88, b"")]
        conn.receive_eof()
        assert conn.close_code == 1005
        assert isinstance(conn.close_exc, ConnectionClosedError)

    def test_send_close_without_code(self) -> None:
        """send_close() with no code sends an empty close frame."""
        conn = client()
        conn.send_close()
        assert conn.data_to_send() == [masked(0x88, b"")]
        assert conn.close_sent == Close(1005, "")

    def test_send_close_reason_without_code(self) -> None:
        """A reason without a code is refused."""
        with pytest.raises(ProtocolError, match="cannot send a reason without a code"):
            client().send_close(None, "why")

    def test_send_close_invalid_code(self) -> None:
        """Codes that may not go on the wire are refused."""
        with pytest.raises(ProtocolError, match="invalid status code"):
            client().send_close(1006)

    def test_send_close_during_fragmented_message(self) -> None:
        """A close frame can't interrupt a fragmented message being sent."""
        conn = client()
        conn.send_text(b"a", fin=False)
        with pytest.raises(ProtocolError, match="expected a continuation frame"):
            conn.send_close(1000)

    def test_close_frame_inside_fragmented_message(self) -> None:
        """The close frame is echoed, then the lost message is reported as a protocol error."""
        conn = client()
        conn.receive_data(TEXT_SPAM + b"\x01\x01a" + CLOSE_1000_BYE)
        assert conn.events_received() == [
            frame(OP_TEXT, b"Spam"),
            frame(OP_TEXT, b"a", False),
            frame(OP_CLOSE, b"\x03\xe8bye"),
        ]
        assert conn.data_to_send() == [masked(0x88, b"\x03\xe8bye")]
        assert isinstance(conn.parser_exc, ProtocolError)
        assert str(conn.parser_exc) == "incomplete fragmented message"
        conn.receive_eof()
        exc = conn.close_exc
        assert isinstance(exc, ConnectionClosedOK)
        assert exc.__cause__ is conn.parser_exc

    def test_ping_while_closing_is_not_answered(self) -> None:
        """Once our close frame is out, pings are recorded but not answered."""
        conn = client()
        conn.send_close(1000)
        conn.data_to_send()
        conn.receive_data(PING)
        assert conn.events_received() == [frame(OP_PING, b"ping")]
        assert conn.data_to_send() == []

    def test_close_frame_while_closing_after_failure(self) -> None:
        """After fail(), a close frame from the server is discarded."""
        conn = client()
        conn.fail(1011, "oops")
        assert conn.data_to_send() == [masked(0x88, b"\x03\xf3oops")]
        conn.receive_data(CLOSE_1000_BYE)
        assert conn.events_received() == []
        assert conn.close_rcvd is None
        conn.receive_eof()
        assert str(conn.close_exc) == "sent 1011 (unexpected error) oops; no close frame received"

    def test_close_exc_requires_closed(self) -> None:
        """close_exc is an AssertionError before CLOSED."""
        with pytest.raises(AssertionError, match="connection isn't closed yet"):
            client().close_exc  # noqa: B018

    def test_fail_1006_sends_nothing(self) -> None:
        """fail(1006) sends no close frame."""
        conn = client()
        conn.fail(1006)
        assert conn.data_to_send() == []
        assert conn.state is OPEN
        conn.receive_eof()
        assert conn.data_to_send() == [SEND_EOF]
        assert conn.state is CLOSED

    def test_fail_after_eof(self) -> None:
        """fail() after EOF closes at once without a second EOF."""
        conn = client()
        conn.receive_data(CLOSE_EMPTY)
        conn.receive_eof()
        conn.data_to_send()
        conn.fail(1000)
        assert conn.data_to_send() == []
        assert conn.state is CLOSED

    def test_fail_invalid_code(self) -> None:
        """fail() refuses a code that can't go on the wire."""
        with pytest.raises(ProtocolError, match="invalid status code"):
            client().fail(999)


class TestSend:
    """5.2, 5.3, 5.4: frames the client sends are masked and follow the fragmentation rules."""

    @pytest.mark.parametrize(
        ("method", "args", "b0"),
        [
            ("send_text", (b"Spam",), 0x81),
            ("send_binary", (b"Eggs",), 0x82),
            ("send_ping", (b"ping",), 0x89),
            ("send_pong", (b"pong",), 0x8A),
        ],
    )
    def test_frame(self, method: str, args: tuple[bytes], b0: int) -> None:
        """Each send method writes one masked frame."""
        conn = client()
        getattr(conn, method)(*args)
        assert conn.data_to_send() == [masked(b0, args[0])]

    def test_mask_is_applied(self) -> None:
        """5.3: the payload is XORed with the frame's key (RFC 6455 section 5.7 example)."""
        conn = Connection(CLIENT)
        conn.mask_key = lambda: b"\x37\xfa\x21\x3d"
        conn.send_text(b"Hello")
        assert conn.data_to_send() == [b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"]

    def test_default_mask_key_is_random(self) -> None:
        """Without injection, every frame gets a fresh key."""
        conn = Connection(CLIENT)
        for _ in range(4):
            conn.send_binary(b"x" * 8)
        keys = {write[2:6] for write in conn.data_to_send()}
        assert len(keys) > 1

    @pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
    def test_lengths(self, size: int) -> None:
        """7, 16 and 64-bit lengths are chosen at the right boundaries."""
        conn = client()
        conn.send_binary(bytes(size))
        assert conn.data_to_send() == [masked(0x82, bytes(size))]

    @pytest.mark.parametrize(
        "size", [0, 1, 125, 126, 127, 767, 768, 769, 1024, 2047, 2048, 2049, 65535, 65536]
    )
    def test_masking_every_path(self, size: int) -> None:
        """
        Byte for byte, whatever path builds the frame (inlined header and big-int mask up to
        _FRAME_INT_MAX, fastws.mask.masked_frame above it and for memoryviews): header, the
        frame's key, then the payload XORed with the key repeated (RFC 6455 section 5.3).
        """
        key = b"\x37\xfa\x21\x3d"
        payload = bytes((i * 7 + 3) % 256 for i in range(size))
        header = encode_header(0x82, size, True)
        expected = header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        for data in (payload, bytearray(payload), memoryview(b"xy" + payload)[2:]):
            conn = Connection(CLIENT)
            conn.mask_key = lambda: key
            conn.send_binary(data)
            assert [bytes(write) for write in conn.data_to_send()] == [expected]

    def test_server_does_not_mask(self) -> None:
        """A server's frames are not masked."""
        conn = Connection(SERVER)
        conn.send_text(b"Spam")
        assert conn.data_to_send() == [TEXT_SPAM]

    def test_fragmented(self) -> None:
        """A fragmented message: first frame, continuations, final continuation."""
        conn = client()
        conn.send_text(b"Hel", fin=False)
        conn.send_ping(b"p")
        conn.send_continuation(b"lo", fin=False)
        conn.send_continuation(b"", fin=True)
        assert conn.data_to_send() == [
            masked(0x01, b"Hel"),
            masked(0x89, b"p"),
            masked(0x00, b"lo"),
            masked(0x80, b""),
        ]

    def test_unexpected_continuation(self) -> None:
        """send_continuation() without a fragmented message is refused."""
        with pytest.raises(ProtocolError, match="unexpected continuation frame"):
            client().send_continuation(b"", fin=True)

    @pytest.mark.parametrize("method", ["send_text", "send_binary"])
    def test_expected_continuation(self, method: str) -> None:
        """A new message can't start while a fragmented one is being sent."""
        conn = client()
        conn.send_binary(b"", fin=False)
        with pytest.raises(ProtocolError, match="expected a continuation frame"):
            getattr(conn, method)(b"")

    def test_control_frame_too_long(self) -> None:
        """Control frames carry at most 125 bytes."""
        with pytest.raises(ProtocolError, match="control frame too long"):
            client().send_ping(bytes(126))

    @pytest.mark.parametrize("state", [CLOSING, CLOSED])
    def test_invalid_state(self, state: State) -> None:
        """Sending outside OPEN raises InvalidState."""
        conn = client(state=state)
        with pytest.raises(InvalidState, match=f"in the {state.name} state"):
            conn.send_text(b"")

    def test_events_and_writes_are_drained(self) -> None:
        """events_received() and data_to_send() return each item once."""
        conn = client()
        conn.receive_data(PING)
        assert len(conn.events_received()) == 1
        assert len(conn.data_to_send()) == 1
        assert conn.events_received() == []
        assert conn.data_to_send() == []


class TestServerSide:
    """The server side, used as a test peer: masked frames in, plain frames out."""

    def test_receive_masked(self) -> None:
        """A server unmasks client frames."""
        conn = Connection(SERVER)
        conn.receive_data(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58")
        assert conn.events_received() == [frame(OP_TEXT, b"Hello")]

    def test_unmasked_frame_fails(self) -> None:
        """5.1: a server fails on an unmasked frame and closes TCP at once."""
        conn = Connection(SERVER)
        conn.receive_data(TEXT_SPAM)
        assert conn.data_to_send() == [b"\x88\x13\x03\xeaincorrect masking", SEND_EOF]

    def test_close_handshake(self) -> None:
        """A server echoes the close frame and half-closes at once."""
        conn = Connection(SERVER)
        conn.receive_data(b"\x88\x82\x00\x00\x00\x00\x03\xe8")
        assert conn.data_to_send() == [b"\x88\x02\x03\xe8", SEND_EOF]
        conn.receive_eof()
        assert conn.state is CLOSED

    def test_large_masked_frame(self) -> None:
        """A large masked frame is buffered whole in the ring."""
        conn = Connection(SERVER)
        conn.receive_data(b"\x82\xff" + (65536).to_bytes(8, "big") + ZERO_KEY)
        conn.receive_data(bytes(65536))
        assert conn.events_received() == [frame(OP_BINARY, bytes(65536))]

    def test_masked_header_split(self) -> None:
        """A masked frame whose key isn't complete waits for it."""
        conn = Connection(SERVER)
        conn.receive_data(b"\x81\x85\x37\xfa")
        conn.receive_data(b"\x21\x3d\x7f\x9f\x4d\x51\x58")
        assert conn.events_received() == [frame(OP_TEXT, b"Hello")]


class TestAttributes:
    """Attributes of the 10.x Connection."""

    def test_defaults(self) -> None:
        """Defaults match websockets 10.x."""
        conn = Connection(CLIENT)
        assert conn.side is Side.CLIENT
        assert conn.state is OPEN
        assert conn.max_size == 2**20
        assert conn.logger.name == "websockets.client"  # type: ignore[union-attr]
        assert Connection(SERVER).logger.name == "websockets.server"  # type: ignore[union-attr]
        assert conn.close_code is None
        assert conn.close_reason is None
        assert conn.extensions == []
        assert conn.subprotocol is None
        assert not conn.close_expected()

    def test_debug_logging(self, caplog: pytest.LogCaptureFixture) -> None:
        """With DEBUG enabled, frames, state changes and EOF are logged."""
        logger = logging.getLogger("test.fastws.debug")
        logger.setLevel(logging.DEBUG)
        conn = Connection(CLIENT, logger=logger)
        conn.mask_key = lambda: ZERO_KEY
        with caplog.at_level(logging.DEBUG, logger="test.fastws.debug"):
            conn.send_text(b"Spam")
            conn.receive_data(TEXT_SPAM + PING + CLOSE_1000_BYE)
            conn.receive_eof()
        messages = [r.getMessage() for r in caplog.records]
        assert "> TEXT 'Spam' [4 bytes]" in messages
        assert "< TEXT 'Spam' [4 bytes]" in messages
        assert "< PING 'ping' [text, 4 bytes]" in messages
        assert "> PONG 'ping' [text, 4 bytes]" in messages
        assert "< CLOSE 1000 (OK) bye [5 bytes]" in messages
        assert "= connection is CLOSING" in messages
        assert "< EOF" in messages
        assert "> EOF" in messages
        assert "= connection is CLOSED" in messages
        assert conn.data_to_send()[0] == masked(0x81, b"Spam")


class TestHooks:
    """on_error and on_partial, the hooks the asyncio layer uses."""

    def test_postponed_error(self) -> None:
        """on_error returning True keeps the bad frame buffered and pauses parsing."""
        conn = client()
        conn.on_error = lambda exc: True
        conn.receive_data(TEXT_SPAM + b"\x83\x00")
        assert conn.events_received() == [frame(OP_TEXT, b"Spam")]
        assert conn.data_to_send() == []
        assert conn.paused
        assert conn.reader.size == 2
        conn.on_error = lambda exc: False
        conn.resume_parsing()
        assert conn.data_to_send() == [masked(0x88, b"\x03\xeainvalid opcode")]

    def test_errors_after_consumption_are_not_postponed(self) -> None:
        """A bad close frame is consumed before the error: it fails at once."""
        conn = client()
        seen: list[Exception] = []
        conn.on_error = lambda exc: seen.append(exc) or True  # type: ignore[func-returns-value]
        conn.receive_data(b"\x88\x01\x03")
        assert seen == []
        assert conn.close_sent == Close(1002, "close frame too short")

    def test_incomplete_header_then_error_in_handler(self) -> None:
        """A handler error after an incomplete extended header isn't mistaken for a header error."""
        conn = client()
        conn.on_error = lambda exc: True
        conn.receive_data(b"\x82\x7e\x00")
        conn.on_data = lambda b0, payload: (_ for _ in ()).throw(UnicodeDecodeError("utf-8", b"", 0, 1, "bad"))
        conn.receive_data(b"\x02ab")
        assert conn.state is CLOSING

    def test_partial_text(self) -> None:
        """on_partial sees the payload received so far of an incomplete frame."""
        conn = client()
        seen: list[tuple[int, bytes]] = []
        conn.on_partial = lambda b0, offset, payload: seen.append((b0, bytes(payload)))
        conn.receive_data(b"\x81\x05")
        conn.receive_data(b"He")
        conn.receive_data(b"l")
        conn.receive_data(b"lo")
        assert seen == [(0x81, b"He"), (0x81, b"Hel")]
        assert conn.events_received() == [frame(OP_TEXT, b"Hello")]

    def test_partial_at_seam(self) -> None:
        """Only the part before the seam is shown; the rest comes with the next read."""
        conn = client()
        conn.reader = RingBuffer(32, None)
        seen: list[bytes] = []
        conn.on_partial = lambda b0, offset, payload: seen.append(bytes(payload))
        conn.receive_data(b"\x8a\x18" + b"F" * 24 + b"\x81\x08ab")  # a 26-byte pong, then 4 bytes
        # "cd" before the seam, "ef" after it: fed as two regions, each followed by a parse.
        conn.receive_data(b"cdef")
        assert conn.reader.capacity == 32
        assert seen == [b"ab", b"abcd", b"abcd"]
        conn.receive_data(b"gh")
        assert conn.events_received()[-1] == frame(OP_TEXT, b"abcdefgh")

    def test_partial_sink(self) -> None:
        """Large payloads report their progress too, through both feeders."""
        for feeder in (feed_data_chunks, feed_buffered):
            conn = client()
            seen: list[tuple[int, int]] = []
            conn.on_partial = lambda b0, offset, payload, seen=seen: seen.append(
                (offset, len(payload))
            )
            feeder(conn, [BINARY_LARGE[:1000], BINARY_LARGE[1000:5000], BINARY_LARGE[5000:]])
            # Then the new bytes of each read, until the first buffer is full.
            assert seen[:2] == [(0, 990), (990, 4000)]
            assert seen[2][0] == 4990
            assert conn.events_received() == [frame(OP_BINARY, BINARY_LARGE[10:])]

    def test_partial_error_fails(self) -> None:
        """An error raised by on_partial fails the connection, in the ring or the sink."""
        def bad(b0: int, offset: int, payload: object) -> None:
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

        conn = client()
        conn.on_partial = bad
        conn.receive_data(b"\x81\x05He")
        assert conn.close_sent == Close(1007, "invalid start byte at position 0")
        conn = client()
        conn.on_partial = bad
        feed_buffered(conn, [BINARY_LARGE[:1000]])
        assert conn.close_sent is not None and conn.close_sent.code == 1007
        conn = client()
        conn.receive_data(BINARY_LARGE[:1000])
        conn.on_partial = bad
        conn.receive_data(BINARY_LARGE[1000:2000])
        assert conn.close_sent is not None and conn.close_sent.code == 1007

    def test_failure_reasons_off(self) -> None:
        """failure_reasons=False sends empty reasons, as the 10.x asyncio client does."""
        conn = client()
        conn.failure_reasons = False
        conn.receive_data(b"\x83\x00")
        assert conn.data_to_send() == [masked(0x88, b"\x03\xea")]


def feed_data_chunks(conn: Connection, chunks: list[bytes]) -> None:
    """receive_data() per chunk (named for the parametrized loops above)."""
    for chunk in chunks:
        conn.receive_data(chunk)


def test_data_received_while_paused_stays_buffered() -> None:
    """While paused, receive_data() only buffers; receiving stays true until a close frame."""
    conn = client()
    conn.paused = True
    conn.receive_data(TEXT_SPAM)
    assert conn.events_received() == []
    assert conn.receiving
    conn.resume_parsing()
    assert conn.events_received() == [frame(OP_TEXT, b"Spam")]
    conn.receive_data(CLOSE_EMPTY)
    assert not conn.receiving


class TestEofWhilePaused:
    """EOF while parsing is paused: the frames held are delivered first, then the end."""

    def paused_with(self, data: bytes) -> Connection:
        conn = client()
        conn.paused = True
        conn.receive_data(data)
        conn.receive_eof()
        assert conn.events_received() == []
        assert conn.data_to_send() == []
        assert conn.state is OPEN
        assert conn.receiving  # frames may still be delivered
        return conn

    def test_frames_then_eof(self) -> None:
        """Complete frames come out at resume_parsing(), then the EOF failure (1006)."""
        conn = self.paused_with(TEXT_SPAM + BINARY_EGGS)
        conn.resume_parsing()
        assert conn.events_received() == [frame(OP_TEXT, b"Spam"), frame(OP_BINARY, b"Eggs")]
        assert conn.data_to_send() == [SEND_EOF]
        assert conn.state is CLOSED
        assert not conn.receiving
        assert isinstance(conn.parser_exc, EOFError)
        assert str(conn.parser_exc) == "unexpected end of stream"

    def test_frames_then_partial_frame(self) -> None:
        """An incomplete frame after them is what EOF interrupted; its message says so."""
        conn = self.paused_with(TEXT_SPAM + BINARY_EGGS[:3])
        conn.resume_parsing()
        assert conn.events_received() == [frame(OP_TEXT, b"Spam")]
        assert conn.state is CLOSED
        assert str(conn.parser_exc) == "stream ends after 1 bytes, expected 4 bytes"

    def test_close_frame_held(self) -> None:
        """A close frame among them is a clean close: answered, then CLOSED."""
        conn = self.paused_with(TEXT_SPAM + CLOSE_1000_BYE)
        conn.resume_parsing()
        assert conn.events_received() == [frame(OP_TEXT, b"Spam"), frame(OP_CLOSE, b"\x03\xe8bye")]
        assert conn.data_to_send() == [masked(0x88, b"\x03\xe8bye"), SEND_EOF]
        assert conn.state is CLOSED
        assert conn.parser_exc is None
        assert conn.close_rcvd == Close(1000, "bye")

    def test_bad_frame_held(self) -> None:
        """A bad frame among them fails with its own code (1002), not 1006."""
        conn = self.paused_with(TEXT_SPAM + b"\x83\x00")
        conn.resume_parsing()
        assert conn.events_received() == [frame(OP_TEXT, b"Spam")]
        assert conn.data_to_send() == [masked(0x88, b"\x03\xeainvalid opcode"), SEND_EOF]
        assert isinstance(conn.parser_exc, ProtocolError)
        assert conn.state is CLOSED

    def test_paused_again(self) -> None:
        """Paused again by a frame: EOF waits for the next resume_parsing()."""
        conn = self.paused_with(TEXT_SPAM + BINARY_EGGS)

        def pause(b0: int, payload: object) -> None:
            conn.paused = True
            conn._data_frame_event(b0, payload)  # type: ignore[arg-type]

        conn.on_data = pause
        conn.resume_parsing()
        assert conn.events_received() == [frame(OP_TEXT, b"Spam")]
        assert conn.state is OPEN
        assert conn.receiving
        conn.resume_parsing()
        assert conn.events_received() == [frame(OP_BINARY, b"Eggs")]
        conn.resume_parsing()  # parsed all: now the EOF
        assert conn.state is CLOSED
        assert not conn.receiving

    def test_paused_with_nothing_held(self) -> None:
        """Paused with nothing held: EOF is handled at once."""
        conn = client()
        conn.paused = True
        conn.receive_eof()
        assert conn.state is CLOSED
        assert not conn.receiving
        assert isinstance(conn.parser_exc, EOFError)

    def test_close_while_held(self) -> None:
        """The application failing the connection meanwhile drops them: CLOSED at once."""
        conn = self.paused_with(TEXT_SPAM)
        conn.fail(1011)
        assert conn.data_to_send() == [masked(0x88, b"\x03\xf3"), SEND_EOF]
        assert conn.state is CLOSED


def test_no_partial_view_with_extensions() -> None:
    """With an extension, payloads are encoded (compressed): on_partial is never called."""

    class Passthrough:
        name = "x-pass"

        def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
            return frame

        def encode(self, frame: Frame) -> Frame:
            return frame

    for raw in (b"\xc1\x05He", BINARY_LARGE[:100]):
        conn = client()
        conn.extensions = [Passthrough()]  # type: ignore[list-item]
        seen: list[bytes] = []
        conn.on_partial = lambda b0, payload, seen=seen: seen.append(bytes(payload))
        conn.receive_data(raw)
        conn.receive_data(b"l")
        assert seen == []


def test_ring_shrinks_after_a_burst() -> None:
    """A burst grows the ring; a small read that empties it releases it; it comes back as needed."""
    from fastws.connection import RING_INITIAL

    conn = client()
    feed_buffered(conn, [TEXT_SPAM * 5000])
    assert conn.reader.capacity > 4 * RING_INITIAL
    conn.events_received()
    feed_buffered(conn, [TEXT_SPAM])
    assert conn.reader.capacity == 0
    assert conn.events_received() == [frame(OP_TEXT, b"Spam")]
    conn.receive_data(TEXT_SPAM)
    assert conn.reader.capacity == RING_INITIAL
    assert conn.events_received() == [frame(OP_TEXT, b"Spam")]


def test_id_is_stable() -> None:
    """id is a UUID, made on first use, the same afterwards."""
    import uuid

    conn = client()
    assert isinstance(conn.id, uuid.UUID)
    assert conn.id == conn.id
    assert client().id != conn.id


def test_ring_released_after_parked_frames_are_parsed() -> None:
    """Frames parked while paused are parsed by resume_parsing(), which releases a grown ring."""
    conn = client()
    conn.paused = True
    feed_buffered(conn, [TEXT_SPAM * 5000])
    assert conn.reader.capacity > 4096
    conn.resume_parsing()
    assert len(conn.events_received()) == 5000
    assert conn.reader.capacity == 0
