"""
Receive flow control: the one place that decides whether received bytes flow.

Three things can stop: the *queue* of messages the application hasn't taken, the *parser*
(:attr:`fastws.connection.Connection.paused`), and the *transport*'s reading. :class:`Inflow`
owns all three decisions; the protocol only reports what happened (a message queued, a message
taken, bytes received, an error to postpone) and asks it for the region to read into.

Invariant (docs/design.md, "Flow control"):

1. The parser is paused only while messages wait in the queue: ``max_queue`` of them, or at
   least one before a bad frame whose failure is postponed; it resumes when the application
   has taken them all. So the application reading messages always resumes the parser. (Taking
   the last one is the only moment the protocol calls :meth:`Inflow.taken`: one emptiness test
   per message, and a batch of ``max_queue`` messages parsed per resume.)
2. The transport is paused only while the parser is paused and the bytes it holds reach
   ``read_limit``; it resumes as soon as the parser runs again and either waits for more
   bytes or holds at most ``read_limit // 2``. So whenever the parser could progress only
   with more bytes, reading is on: no pause is ever lifted only by more reading.
3. While the parser is paused, a read is offered at most ``read_limit`` minus the bytes the
   parser holds. A pause that starts in the middle of a read leaves at most that read unparsed
   (at most the ring's ``read_max``, 256 KiB), so while the parser is paused it holds at most
   ``max(read_limit, 256 KiB)`` bytes: ``read_limit`` is a high-water mark, as in websockets,
   where one socket read may pass it. (Capping every read at ``read_limit`` would make it exact,
   but costs 5-38% CPU per message at the defaults when the application is the bottleneck:
   many more reads, and the transport paused and resumed every ``max_queue`` messages.)
4. At the end of the stream (EOF, connection lost), what the parser holds is parsed at once,
   ahead of the EOF: nothing held is lost (:meth:`Inflow.ended`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from ..connection import Connection
from ..typing import Data

__all__ = ["Inflow"]


class Inflow:
    """
    Flow control of one connection's receive path (see the module docstring).

    Args:
        connection: the Sans-I/O connection whose parser it pauses and resumes.
        max_queue: messages queued before the parser pauses; None for no bound.
        read_limit: bytes held unparsed, while the parser is paused, before reading pauses.
        after_parse: called after the parser ran on resuming (the protocol writes what the
            core produced and handles its events).
        loop: the event loop (a postponed failure is raised on its next iteration).

    Attributes:
        messages: the queue of messages the application hasn't taken.
        high: queue length at which the parser pauses (-1: never).
        reading_paused: whether this object paused the transport.
        stream_ended: whether :meth:`ended` was called (no failure is postponed any more).
        transport: set by the protocol in ``connection_made``.
    """

    __slots__ = (
        "messages",
        "connection",
        "high",
        "read_limit",
        "reading_paused",
        "error_postponed",
        "stream_ended",
        "transport",
        "after_parse",
        "loop",
        "dropping",
        "dropped",
    )

    def __init__(
        self,
        connection: Connection,
        max_queue: int | None,
        read_limit: int,
        after_parse: Callable[[], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.messages: deque[Data] = deque()
        self.connection = connection
        self.high = max_queue if max_queue is not None and max_queue > 0 else -1
        self.read_limit = read_limit
        self.reading_paused = False
        self.error_postponed = False
        self.stream_ended = False
        self.transport: asyncio.Transport | None = None
        self.after_parse = after_parse
        self.loop = loop
        self.dropping = False
        self.dropped = 0

    # What the protocol reports.

    def queue_full(self) -> None:
        """
        ``high`` messages are queued: stop parsing (the bytes stay in the ring); while closing,
        drop the message just queued instead (:meth:`closing`).
        """
        if self.dropping:
            self.messages.pop()
            self.dropped += 1
            return
        self.connection.paused = True

    def postpone_error(self) -> bool:
        """
        The parser met a bad frame: postpone the failure if messages wait to be read before
        it (the core then pauses parsing with the frame kept). Returns whether it did.
        """
        if not self.messages or self.stream_ended:
            return False
        self.error_postponed = True
        return True

    def taken(self) -> None:
        """
        The application took the last queued message: resume parsing if it is paused. Resuming
        when the queue is empty, not at the first free slot as websockets 10.x does, parses
        ``max_queue`` messages per resume (docs/api.md, difference 9).
        """
        if self.error_postponed:
            # The last message before a bad frame: fail on the next loop iteration, after
            # whatever the application sends in reply right now.
            self.error_postponed = False
            self.loop.call_soon(self.resume)
        elif self.connection.paused:
            self.resume()

    def received(self) -> None:
        """Bytes were received while the parser is paused: pause reading at ``read_limit``."""
        if not self.reading_paused and self.connection.buffered >= self.read_limit:
            self.reading_paused = True
            assert self.transport is not None
            self.transport.pause_reading()

    def region(self, view: memoryview) -> memoryview:
        """The part of the ring's free ``view`` to offer the transport while parsing is paused."""
        room = self.read_limit - self.connection.buffered
        if 0 < room < len(view):
            return view[:room]
        # (room <= 0 only if the transport reads although we paused it: take the read.)
        return view

    def ended(self) -> None:
        """
        The peer's data ended (EOF or connection lost): parse what the parser holds now, all
        of it, without bounding the queue or postponing a failure. No more bytes can come and
        no reply can be sent, so nothing is gained by holding them; their memory is already
        counted (at most ``max(read_limit, 256 KiB)``, per the invariant). Then the core sees
        the end of the stream after the last frame, as if they had been parsed as they came.
        """
        self.high = -1
        self.stream_ended = True
        if self.connection.paused:
            self.resume()

    def closing(self) -> None:
        """
        Our close frame is out: parse on, so that the peer's close frame is found behind the
        messages it sent before, but keep at most ``max_queue`` messages queued and drop the
        ones that don't fit (the application asked to close; docs/api.md, difference 11). So
        closing takes neither the close timeout nor memory in proportion to the peer's backlog.
        With ``max_queue=None`` every message is kept, as always.
        """
        if self.high > 0 and not self.dropping:
            self.dropping = True
            self.high += 1  # queue_full() then pops at max_queue + 1: max_queue stay
        if self.connection.paused and not self.error_postponed:
            self.resume()

    def finished(self) -> None:
        """
        Nothing more will be parsed (the core discards what arrives, or the stream ended):
        nothing is held, so nothing is bounded; reading resumes, so that the peer's end of the
        stream is seen (a failed connection whose queue was full would otherwise wait out the
        close timeouts with reading paused). Queued messages stay for the application.
        """
        self.high = -1
        self.error_postponed = False
        self.connection.paused = False
        if self.reading_paused:
            self.reading_paused = False
            transport = self.transport
            assert transport is not None
            if not transport.is_closing():
                transport.resume_reading()

    # Deciding.

    def resume(self) -> None:
        """Resume parsing; then reading, per the invariant."""
        self.error_postponed = False
        conn = self.connection
        conn.resume_parsing()
        self.after_parse()
        if self.reading_paused and (
            not conn.paused or conn.buffered <= self.read_limit // 2
        ):
            self.reading_paused = False
            transport = self.transport
            assert transport is not None
            if not transport.is_closing():
                transport.resume_reading()

    def state(self) -> dict[str, Any]:
        """A snapshot for tests and debugging."""
        return {
            "queued": len(self.messages),
            "parsing_paused": self.connection.paused,
            "reading_paused": self.reading_paused,
            "buffered": self.connection.buffered,
            "error_postponed": self.error_postponed,
            "dropped": self.dropped,
        }
