"""
``websockets.legacy.framing``: frames read from and written to asyncio streams, as websockets
10.x's asyncio layer did, and the close payload helpers 10.x kept here.

fastws' own client doesn't use these (it parses in place, see :mod:`fastws.connection`); they
are for code that reads frames with its own ``readexactly``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from .. import frames
from ..frames import Close, prepare_data
from ..frames import prepare_ctrl as encode_data

if TYPE_CHECKING:  # pragma: no cover
    from ..extensions.base import Extension

__all__ = ["Frame", "Close", "encode_data", "prepare_data", "parse_close", "serialize_close"]


def _read_exact(n: int) -> Generator[int, bytes, bytes]:
    """Ask the driver of :meth:`Frame.read` for exactly ``n`` bytes."""
    return (yield n)


class Frame(NamedTuple):
    """
    A WebSocket frame as a tuple ``(fin, opcode, data, rsv1, rsv2, rsv3)`` (websockets 10.x's
    legacy frame); :attr:`new_frame` is the :class:`fastws.frames.Frame` with the same fields.
    """

    fin: bool
    opcode: frames.Opcode
    data: bytes
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False

    @property
    def new_frame(self) -> frames.Frame:
        """The same frame as a :class:`fastws.frames.Frame`."""
        return frames.Frame(self.opcode, self.data, self.fin, self.rsv1, self.rsv2, self.rsv3)

    def __str__(self) -> str:
        """Describe the frame for logs, as :class:`fastws.frames.Frame` does."""
        return str(self.new_frame)

    def check(self) -> None:
        """
        Check the reserved bits and the rules of control frames.

        Raises:
            ProtocolError: If the frame breaks RFC 6455.
        """
        self.new_frame.check()

    @classmethod
    async def read(
        cls,
        reader: Callable[[int], Awaitable[bytes]],
        *,
        mask: bool,
        max_size: int | None = None,
        extensions: Sequence[Extension] | None = None,
    ) -> Frame:
        """
        Read one frame with ``reader`` (e.g. ``asyncio.StreamReader.readexactly``).

        Args:
            reader: coroutine function returning exactly the number of bytes asked for.
            mask: whether the frame must be masked (True on the server side).
            max_size: largest payload accepted; None for no limit.
            extensions: extensions to decode the frame with, applied in reverse order.

        Raises:
            PayloadTooBig: If the payload is longer than ``max_size``.
            ProtocolError: If the frame breaks RFC 6455.
        """
        # The checks are those of fastws.frames.Frame.parse, driven here by awaiting reader.
        parser = frames.Frame.parse(
            cast(Any, _read_exact), mask=mask, max_size=max_size, extensions=extensions
        )
        generator = cast(Generator[int, bytes, frames.Frame], parser)
        try:
            size = next(generator)
            while True:
                size = generator.send(await reader(size))
        except StopIteration as done:
            frame: frames.Frame = done.value
        return cls(frame.fin, frame.opcode, frame.data, frame.rsv1, frame.rsv2, frame.rsv3)

    def write(
        self,
        write: Callable[[bytes], Any],
        *,
        mask: bool,
        extensions: Sequence[Extension] | None = None,
    ) -> None:
        """
        Write the frame with one call to ``write`` (e.g. ``transport.write``).

        Args:
            write: function taking the frame's bytes.
            mask: whether to mask the payload (True on the client side).
            extensions: extensions to encode the frame with, applied in order.

        Raises:
            ProtocolError: If the frame breaks RFC 6455.
        """
        write(self.new_frame.serialize(mask=mask, extensions=extensions))


def parse_close(data: bytes) -> tuple[int, str]:
    """
    Parse the payload of a close frame.

    Returns:
        The close code (1005 for an empty payload) and reason.

    Raises:
        ProtocolError: If the payload is malformed or the code not allowed.
        UnicodeDecodeError: If the reason isn't valid UTF-8.
    """
    close = Close.parse(data)
    return close.code, close.reason


def serialize_close(code: int, reason: str) -> bytes:
    """
    Build the payload of a close frame.

    Raises:
        ProtocolError: If ``code`` may not be sent.
    """
    return Close(code, reason).serialize()
