"""Tests for fastws.frames: Frame, Close, the header encoder, and the 10.x parse interface."""

from __future__ import annotations

from collections.abc import Generator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastws.exceptions import PayloadTooBig, ProtocolError
from fastws.frames import (
    CLOSE_CODES,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Close,
    Frame,
    Opcode,
    encode_header,
    prepare_ctrl,
    prepare_data,
)
from fastws.streams import StreamReader

ZERO = lambda: b"\x00\x00\x00\x00"  # noqa: E731


def parse(data: bytes, *, mask: bool = False, max_size: int | None = None, extensions=None):  # type: ignore[no-untyped-def]
    """Run Frame.parse on ``data`` with a 10.x StreamReader."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    gen: Generator[None, None, Frame] = Frame.parse(
        reader.read_exact, mask=mask, max_size=max_size, extensions=extensions
    )
    try:
        next(gen)
    except StopIteration as exc:
        return exc.value
    raise AssertionError("parser wanted more data")  # pragma: no cover


class TestOpcodes:
    """5.2: opcode values."""

    def test_values(self) -> None:
        """Opcodes have the RFC values."""
        assert [int(op) for op in Opcode] == [0, 1, 2, 8, 9, 10]
        assert OP_CONT is Opcode.CONT

    def test_close_codes(self) -> None:
        """10.x wording of close codes."""
        assert CLOSE_CODES[1011] == "unexpected error"
        assert CLOSE_CODES[1006] == "connection closed abnormally [internal]"


class TestEncodeHeader:
    """5.2: the shortest length encoding."""

    @pytest.mark.parametrize(
        ("length", "mask", "expected"),
        [
            (0, False, b"\x81\x00"),
            (125, True, b"\x81\xfd"),
            (126, False, b"\x81\x7e\x00\x7e"),
            (65535, True, b"\x81\xfe\xff\xff"),
            (65536, False, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
        ],
    )
    def test_lengths(self, length: int, mask: bool, expected: bytes) -> None:
        """7-bit, 16-bit and 64-bit forms."""
        assert encode_header(0x81, length, mask) == expected


class TestFrameStr:
    """str(Frame) as logged at DEBUG level."""

    @pytest.mark.parametrize(
        ("frame", "text"),
        [
            (Frame(OP_TEXT, b"Spam"), "TEXT 'Spam' [4 bytes]"),
            (Frame(OP_TEXT, b"a", fin=False), "TEXT 'a' [1 byte, continued]"),
            (Frame(OP_BINARY, b"\x00\x01"), "BINARY 00 01 [2 bytes]"),
            (
                Frame(OP_BINARY, bytes(range(30))),
                "BINARY 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f ... 16 17 18 19 1a 1b"
                " 1c 1d [30 bytes]",
            ),
            (Frame(OP_CLOSE, b"\x03\xe8"), "CLOSE 1000 (OK) [2 bytes]"),
            (Frame(OP_PING, b""), "PING '' [0 bytes]"),
            (Frame(OP_PONG, b"ok"), "PONG 'ok' [text, 2 bytes]"),
            (Frame(OP_CONT, b"\xff", fin=False), "CONT ff [binary, 1 byte, continued]"),
            (
                Frame(OP_TEXT, b"x" * 100),
                "TEXT '" + "x" * 47 + "..." + "x" * 23 + "' [100 bytes]",
            ),
            # Logged before the connection fails: described, never raising (fuzzing finding).
            (Frame(OP_TEXT, b"a\xff"), "TEXT 61 ff [invalid UTF-8, 2 bytes]"),
            (Frame(OP_CLOSE, b"\x03"), "CLOSE 03 [invalid close payload, 1 byte]"),
            (Frame(OP_CLOSE, b"\x03\xe8\xff"), "CLOSE 03 e8 ff [invalid close payload, 3 bytes]"),
            (Frame(OP_CLOSE, b"\x00\x01"), "CLOSE 00 01 [invalid close payload, 2 bytes]"),
        ],
    )
    def test_str(self, frame: Frame, text: str) -> None:
        """Payloads are shown as text or hex, elided when long."""
        assert str(frame) == text


class TestFrameParse:
    """The generator-based Frame.parse of the 10.x API."""

    def test_text(self) -> None:
        """An unmasked text frame."""
        assert parse(b"\x81\x04Spam") == Frame(OP_TEXT, b"Spam")

    def test_masked(self) -> None:
        """5.7: a masked frame, on the server side."""
        frame = parse(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", mask=True)
        assert frame == Frame(OP_TEXT, b"Hello")

    @pytest.mark.parametrize(
        ("raw", "length"),
        [(b"\x82\x7e\x01\x00", 256), (b"\x82\x7f" + (65536).to_bytes(8, "big"), 65536)],
    )
    def test_extended_lengths(self, raw: bytes, length: int) -> None:
        """16-bit and 64-bit lengths."""
        assert parse(raw + bytes(length)).data == bytes(length)

    @pytest.mark.parametrize(
        ("raw", "mask", "message"),
        [
            (b"\x83\x00", False, "invalid opcode"),
            (b"\x81\x80\x00\x00\x00\x00", False, "incorrect masking"),
            (b"\x81\x00", True, "incorrect masking"),
            (b"\xc1\x00", False, "reserved bits must be 0"),
            (b"\x09\x00", False, "fragmented control frame"),
            (b"\x89\x7e\x00\x7e" + bytes(126), False, "control frame too long"),
        ],
    )
    def test_errors(self, raw: bytes, mask: bool, message: str) -> None:
        """Protocol errors raise ProtocolError."""
        with pytest.raises(ProtocolError, match=message):
            parse(raw, mask=mask)

    def test_too_big(self) -> None:
        """max_size is checked before reading the payload."""
        with pytest.raises(PayloadTooBig, match=r"over size limit \(5 > 4 bytes\)"):
            parse(b"\x82\x05", max_size=4)

    def test_extensions_decode_in_reverse(self) -> None:
        """Extensions decode in reverse order."""
        calls: list[str] = []

        class Ext:
            def __init__(self, name: str) -> None:
                self.name = name

            def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
                calls.append(self.name)
                return frame

        parse(b"\x81\x00", extensions=[Ext("a"), Ext("b")])
        assert calls == ["b", "a"]


class TestFrameSerialize:
    """Frame.serialize builds the wire bytes."""

    def test_unmasked(self) -> None:
        """A server frame."""
        assert Frame(OP_TEXT, b"Spam").serialize(mask=False) == b"\x81\x04Spam"

    def test_masked(self) -> None:
        """5.7: a masked frame with an injected key."""
        frame = Frame(OP_TEXT, b"Hello")
        key = lambda: b"\x37\xfa\x21\x3d"  # noqa: E731
        assert frame.serialize(mask=True, mask_key=key) == (
            b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
        )

    def test_bits(self) -> None:
        """FIN and RSV bits are encoded."""
        frame = Frame(OP_CONT, b"", fin=False)
        assert frame.serialize(mask=False, extensions=[_SetRsv()]) == b"\x70\x00"

    def test_check(self) -> None:
        """serialize() checks the frame first."""
        with pytest.raises(ProtocolError, match="reserved bits must be 0"):
            Frame(OP_TEXT, b"", rsv1=True).serialize(mask=False)
        assert Frame(OP_PING, b"x").serialize(mask=False) == b"\x89\x01x"

    @given(st.binary(max_size=70000), st.booleans(), st.sampled_from([OP_TEXT, OP_BINARY]))
    def test_round_trip(self, data: bytes, mask: bool, opcode: Opcode) -> None:
        """parse(serialize(frame)) == frame."""
        frame = Frame(opcode, data)
        assert parse(frame.serialize(mask=mask), mask=mask) == frame


class _SetRsv:
    """An extension that sets the RSV bits on the way out (for test_bits)."""

    name = "rsv"

    def encode(self, frame: Frame) -> Frame:
        return Frame(frame.opcode, frame.data, frame.fin, True, True, True)


class TestPrepare:
    """prepare_data and prepare_ctrl."""

    def test_data(self) -> None:
        """str -> TEXT, bytes-like -> BINARY."""
        assert prepare_data("café") == (OP_TEXT, "café".encode())
        view = memoryview(b"x")
        assert prepare_data(view) == (OP_BINARY, view)
        with pytest.raises(TypeError, match="data must be str or bytes-like"):
            prepare_data(1)  # type: ignore[arg-type]

    def test_ctrl(self) -> None:
        """str is encoded, bytes-like becomes bytes."""
        assert prepare_ctrl("é") == b"\xc3\xa9"
        assert prepare_ctrl(bytearray(b"x")) == b"x"
        with pytest.raises(TypeError, match="data must be str or bytes-like"):
            prepare_ctrl(None)  # type: ignore[arg-type]


class TestClose:
    """7.1.5, 7.1.6, 7.4: close payloads."""

    @pytest.mark.parametrize(
        ("close", "text"),
        [
            (Close(1000, ""), "1000 (OK)"),
            (Close(1001, "bye"), "1001 (going away) bye"),
            (Close(3000, ""), "3000 (registered)"),
            (Close(4999, "x"), "4999 (private use) x"),
            (Close(2999, ""), "2999 (unknown)"),
        ],
    )
    def test_str(self, close: Close, text: str) -> None:
        """Codes are explained in words."""
        assert str(close) == text

    def test_parse(self) -> None:
        """Code and UTF-8 reason."""
        assert Close.parse(b"\x03\xe8caf\xc3\xa9") == Close(1000, "café")
        assert Close.parse(b"") == Close(1005, "")

    @pytest.mark.parametrize(
        ("data", "exc"),
        [(b"\x03", ProtocolError), (b"\x03\xed", ProtocolError), (b"\x03\xe8\xff", UnicodeError)],
    )
    def test_parse_errors(self, data: bytes, exc: type) -> None:
        """Short payloads, bad codes, bad UTF-8."""
        with pytest.raises(exc):
            Close.parse(data)

    def test_serialize(self) -> None:
        """Code on two bytes, then the reason."""
        assert Close(1001, "é").serialize() == b"\x03\xe9\xc3\xa9"
        with pytest.raises(ProtocolError, match="invalid status code"):
            Close(1005, "").serialize()

    @given(
        st.one_of(st.sampled_from([1000, 1001, 1002, 1003, 1007, 1011]), st.integers(3000, 4999)),
        st.text(max_size=30),
    )
    def test_round_trip(self, code: int, reason: str) -> None:
        """parse(serialize(close)) == close."""
        close = Close(code, reason)
        assert Close.parse(close.serialize()) == close
