"""
WebSocket frames (RFC 6455 section 5): opcodes, the Frame and Close records, and their wire format.

Nothing here keeps state between frames: the streaming parser lives in
:mod:`fastws.connection`, which reads frames in place from the receive ring.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING

from .exceptions import PayloadTooBig, ProtocolError
from .mask import apply_mask, random_mask_key
from .typing import BytesLike, Data

if TYPE_CHECKING:  # pragma: no cover
    from .extensions.base import Extension

__all__ = [
    "Opcode",
    "OP_CONT",
    "OP_TEXT",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_PING",
    "OP_PONG",
    "DATA_OPCODES",
    "CTRL_OPCODES",
    "CLOSE_CODES",
    "EXTERNAL_CLOSE_CODES",
    "OK_CLOSE_CODES",
    "Frame",
    "Close",
    "prepare_data",
    "prepare_ctrl",
    "encode_header",
]


class Opcode(enum.IntEnum):
    """The opcode of a frame (RFC 6455 section 5.2)."""

    CONT, TEXT, BINARY = 0x00, 0x01, 0x02
    CLOSE, PING, PONG = 0x08, 0x09, 0x0A


OP_CONT = Opcode.CONT
OP_TEXT = Opcode.TEXT
OP_BINARY = Opcode.BINARY
OP_CLOSE = Opcode.CLOSE
OP_PING = Opcode.PING
OP_PONG = Opcode.PONG

DATA_OPCODES = OP_CONT, OP_TEXT, OP_BINARY
CTRL_OPCODES = OP_CLOSE, OP_PING, OP_PONG

#: Opcode value -> Opcode member; a table lookup is cheaper than Opcode(value).
OPCODES: dict[int, Opcode] = {op.value: op for op in Opcode}

#: Names used in str(Close) and thus in ConnectionClosed messages (websockets 10.x wording).
CLOSE_CODES: dict[int, str] = {
    1000: "OK",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported type",
    1005: "no status code [internal]",
    1006: "connection closed abnormally [internal]",
    1007: "invalid data",
    1008: "policy violation",
    1009: "message too big",
    1010: "extension required",
    1011: "unexpected error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "TLS failure [internal]",
}

#: Codes that may appear in a close frame on the wire (RFC 6455 section 7.4), besides 3000-4999.
EXTERNAL_CLOSE_CODES = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)

#: A connection closed with these codes on both sides ends with ConnectionClosedOK.
OK_CLOSE_CODES = frozenset({1000, 1001})


def encode_header(first_byte: int, length: int, mask: bool) -> bytes:
    """
    Return the frame header for a payload of ``length`` bytes, without the masking key.

    ``first_byte`` holds FIN, RSV1-3 and the opcode; the 7/16/64-bit length form is chosen
    as RFC 6455 section 5.2 requires (the shortest one).
    """
    mask_bit = 0x80 if mask else 0
    if length < 126:
        return bytes((first_byte, mask_bit | length))
    if length < 65536:
        return bytes((first_byte, mask_bit | 126, length >> 8, length & 0xFF))
    return bytes((first_byte, mask_bit | 127)) + length.to_bytes(8, "big")


def _printable(data: bytes) -> str:
    """Hex dump of at most the first 16 and last 8 bytes, for logs."""
    if len(data) > 25:
        data = data[:16] + b"\x00\x00" + data[-8:]
    return " ".join(f"{byte:02x}" for byte in data)


@dataclasses.dataclass
class Frame:
    """
    A WebSocket frame as the application sees it (the masking key and length are wire details).

    Attributes:
        opcode: the frame's opcode.
        data: the payload, unmasked.
        fin: FIN bit.
        rsv1: RSV1 bit (set on compressed messages by permessage-deflate).
        rsv2: RSV2 bit.
        rsv3: RSV3 bit.
    """

    opcode: Opcode
    data: bytes
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False

    def __str__(self) -> str:
        """Describe the frame for debug logs, eliding long payloads."""
        coding = None
        size = len(self.data)
        length = f"{size} byte{'' if size == 1 else 's'}"
        data = bytes(self.data)
        if self.opcode is OP_TEXT:
            try:
                text = repr(data.decode())
            except UnicodeDecodeError:
                # Logged before the connection fails with 1007: describe it, don't raise.
                text = _printable(data)
                coding = "invalid UTF-8"
        elif self.opcode is OP_BINARY:
            text = _printable(data)
        elif self.opcode is OP_CLOSE:
            try:
                text = str(Close.parse(data))
            except (ProtocolError, UnicodeDecodeError):
                text = _printable(data)
                coding = "invalid close payload"
        elif self.data:
            # Continuation, ping and pong frames may hold text or binary data.
            try:
                text = repr(bytes(self.data).decode())
                coding = "text"
            except UnicodeDecodeError:
                text = _printable(bytes(self.data))
                coding = "binary"
        else:
            text = "''"
        if len(text) > 75:
            text = text[:48] + "..." + text[-24:]
        metadata = ", ".join(filter(None, [coding, length, "" if self.fin else "continued"]))
        return f"{self.opcode.name} {text} [{metadata}]"

    @classmethod
    def parse(
        cls,
        read_exact: Callable[[int], Generator[None, None, bytes]],
        *,
        mask: bool,
        max_size: int | None = None,
        extensions: Sequence[Extension] | None = None,
    ) -> Generator[None, None, Frame]:
        """
        Parse one frame with a generator-based ``read_exact`` (websockets 10.x interface).

        fastws' own connections do not use this: they parse in place from a ring buffer.

        Args:
            read_exact: generator-based coroutine returning exactly n bytes.
            mask: whether the frame must be masked (True on the server side).
            max_size: largest payload accepted, None for no limit.
            extensions: extensions to decode the frame with, applied in reverse order.

        Raises:
            PayloadTooBig: If the payload is larger than ``max_size``.
            ProtocolError: If the frame breaks RFC 6455.
        """
        head = yield from read_exact(2)
        b0, b1 = head[0], head[1]
        opcode = OPCODES.get(b0 & 0x0F)
        if opcode is None:
            raise ProtocolError("invalid opcode")
        if bool(b1 & 0x80) != mask:
            raise ProtocolError("incorrect masking")
        length = b1 & 0x7F
        if length == 126:
            length = int.from_bytes((yield from read_exact(2)), "big")
        elif length == 127:
            length = int.from_bytes((yield from read_exact(8)), "big")
        if max_size is not None and length > max_size:
            raise PayloadTooBig(f"over size limit ({length} > {max_size} bytes)")
        key = (yield from read_exact(4)) if mask else b""
        data = bytes((yield from read_exact(length)))
        if mask:
            data = apply_mask(data, key)
        frame = cls(
            opcode, data, bool(b0 & 0x80), bool(b0 & 0x40), bool(b0 & 0x20), bool(b0 & 0x10)
        )
        for extension in reversed(extensions or ()):
            frame = extension.decode(frame, max_size=max_size)
        frame.check()
        return frame

    def serialize(
        self,
        *,
        mask: bool,
        extensions: Sequence[Extension] | None = None,
        mask_key: Callable[[], bytes] = random_mask_key,
    ) -> bytes:
        """
        Return the frame's wire bytes, masked if ``mask`` (client side), in one buffer.

        Args:
            mask: whether to mask the payload (True on the client side).
            extensions: extensions to encode the frame with, applied in order.
            mask_key: source of the 4-byte masking key (injectable for tests).

        Raises:
            ProtocolError: If the frame breaks RFC 6455.
        """
        self.check()
        frame = self
        for extension in extensions or ():
            frame = extension.encode(frame)
        first = (
            (0x80 if frame.fin else 0)
            | (0x40 if frame.rsv1 else 0)
            | (0x20 if frame.rsv2 else 0)
            | (0x10 if frame.rsv3 else 0)
            | frame.opcode
        )
        header = encode_header(first, len(frame.data), mask)
        if mask:
            key = mask_key()
            return b"".join((header, key, apply_mask(frame.data, key)))
        return header + frame.data

    def check(self) -> None:
        """
        Check the reserved bits and the control-frame rules of RFC 6455 section 5.5.

        Raises:
            ProtocolError: If a reserved bit is set or a control frame is too long or fragmented.
        """
        if self.rsv1 or self.rsv2 or self.rsv3:
            raise ProtocolError("reserved bits must be 0")
        if self.opcode in CTRL_OPCODES:
            if len(self.data) > 125:
                raise ProtocolError("control frame too long")
            if not self.fin:
                raise ProtocolError("fragmented control frame")


def prepare_data(data: Data | bytearray | memoryview) -> tuple[int, BytesLike]:
    """
    Return the opcode and payload of a data frame: str becomes UTF-8 TEXT, bytes-like BINARY.

    Raises:
        TypeError: If ``data`` is neither str nor bytes-like.
    """
    if isinstance(data, str):
        return OP_TEXT, data.encode()
    if isinstance(data, (bytes, bytearray, memoryview)):
        return OP_BINARY, data
    raise TypeError("data must be str or bytes-like")


def prepare_ctrl(data: Data | bytearray | memoryview) -> bytes:
    """
    Return the payload of a ping or pong frame as bytes (str is UTF-8 encoded).

    Raises:
        TypeError: If ``data`` is neither str nor bytes-like.
    """
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError("data must be str or bytes-like")


@dataclasses.dataclass
class Close:
    """
    Code and reason of a close frame (RFC 6455 sections 7.1.5 and 7.1.6).

    Attributes:
        code: the close code.
        reason: the close reason.
    """

    code: int
    reason: str

    def __str__(self) -> str:
        """Describe the close code and reason, e.g. ``1000 (OK) bye``."""
        if 3000 <= self.code < 4000:
            explanation = "registered"
        elif 4000 <= self.code < 5000:
            explanation = "private use"
        else:
            explanation = CLOSE_CODES.get(self.code, "unknown")
        text = f"{self.code} ({explanation})"
        return f"{text} {self.reason}" if self.reason else text

    @classmethod
    def parse(cls, data: BytesLike) -> Close:
        """
        Parse a close frame's payload; an empty payload means 1005 (no status code).

        Raises:
            ProtocolError: If the payload is one byte long or the code is not allowed.
            UnicodeDecodeError: If the reason is not valid UTF-8.
        """
        if len(data) >= 2:
            close = cls(int.from_bytes(data[:2], "big"), bytes(data[2:]).decode())
            close.check()
            return close
        if len(data) == 0:
            return cls(1005, "")
        raise ProtocolError("close frame too short")

    def serialize(self) -> bytes:
        """
        Return the close frame payload: the code on two bytes, then the UTF-8 reason.

        Raises:
            ProtocolError: If the code may not be sent on the wire.
        """
        self.check()
        return self.code.to_bytes(2, "big") + self.reason.encode()

    def check(self) -> None:
        """
        Check that the code may appear in a close frame.

        Raises:
            ProtocolError: If it may not.
        """
        if not (self.code in EXTERNAL_CLOSE_CODES or 3000 <= self.code < 5000):
            raise ProtocolError("invalid status code")
