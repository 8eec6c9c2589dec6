"""
Model test of receive flow control (fastws.asyncio.flow, docs/design.md "Flow control").

The real :class:`WebSocketClientProtocol` runs over a fake transport that records
``pause_reading``/``resume_reading``; a simulated server writes its frames only while the
transport reads, in chunks hypothesis chooses, and the application takes messages on a schedule
hypothesis chooses too. After every step the invariants are checked:

- every message arrives, in order, byte for byte, and nothing else;
- the queue never holds more than ``max_queue`` messages;
- the transport is paused only while the parser is paused, and the parser only while messages
  wait in the queue: the application reading can always lift a pause (never waiting on
  ourselves);
- while the parser is paused, the bytes it holds stay within ``max(read_limit, RING_MAX)``
  (one read may pass ``read_limit``; no read starts once it is reached);
- when the application finds the queue empty, the transport is reading (or everything was
  delivered).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastws.asyncio.protocol import WebSocketClientProtocol
from fastws.connection import RING_MAX, SINK_MIN
from fastws.exceptions import ConnectionClosedError, ConnectionClosedOK
from fastws.uri import parse_uri

from .rawserver import accept_key, frame

# CI runs a slice; FASTWS_MODEL_EXAMPLES=5000 for a long run.
EXAMPLES = int(os.environ.get("FASTWS_MODEL_EXAMPLES", "600"))


class FakeTransport(asyncio.Transport):
    """Records what the protocol writes and whether it wants reading on."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.reading = True
        self.pauses = 0
        self.resumes = 0
        self.closing = False

    def write(self, data: Any) -> None:
        self.written += data

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def pause_reading(self) -> None:
        assert self.reading, "pause_reading() while paused"
        self.reading = False
        self.pauses += 1

    def resume_reading(self) -> None:
        assert not self.reading, "resume_reading() while reading"
        self.reading = True
        self.resumes += 1

    def is_reading(self) -> bool:
        return self.reading

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass


class Peer:
    """The server side: a byte stream delivered into the protocol in chunks."""

    def __init__(self, proto: WebSocketClientProtocol, transport: FakeTransport) -> None:
        self.proto = proto
        self.transport = transport
        self.stream = b""
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self.stream) - self.pos

    def deliver(self, chunk: int) -> bool:
        """One read of at most ``chunk`` bytes, as a transport does; False if none happened."""
        if not self.transport.reading or not self.remaining:
            return False
        view = self.proto.get_buffer(-1)
        assert len(view) > 0, "get_buffer() returned an empty buffer"
        n = min(len(view), chunk, self.remaining)
        view[:n] = self.stream[self.pos : self.pos + n]
        self.pos += n
        self.proto.buffer_updated(n)
        return True


async def open_protocol(**kwargs: Any) -> tuple[WebSocketClientProtocol, FakeTransport, Peer]:
    """A protocol that completed its opening handshake over a fake transport."""
    proto = WebSocketClientProtocol(**kwargs)
    transport = FakeTransport()
    proto.connection_made(transport)
    peer = Peer(proto, transport)
    handshake = asyncio.ensure_future(proto.handshake(parse_uri("ws://localhost/")))
    await asyncio.sleep(0)
    request = bytes(transport.written).decode()
    key = next(
        line.split(":", 1)[1].strip()
        for line in request.split("\r\n")
        if line.lower().startswith("sec-websocket-key:")
    )
    peer.stream = (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
    ).encode()
    while peer.remaining:
        peer.deliver(1 << 20)
    await handshake
    transport.written.clear()
    return proto, transport, peer


def encode_messages(messages: list[tuple[bool, bytes, int]]) -> tuple[bytes, list[int]]:
    """
    Frames for (text?, payload, fragments) messages, with a ping before every 5th; and the
    offset where each message's last frame ends.
    """
    out = []
    ends = []
    size = 0
    for index, (text, payload, fragments) in enumerate(messages):
        if index % 5 == 4:
            out.append(frame(0x9, b"ping"))
            size += len(out[-1])
        cuts = [len(payload) * k // fragments for k in range(fragments + 1)]
        for k in range(fragments):
            opcode = (0x1 if text else 0x2) if k == 0 else 0x0
            out.append(frame(opcode, payload[cuts[k] : cuts[k + 1]], fin=k == fragments - 1))
            size += len(out[-1])
        ends.append(size)
    return b"".join(out), ends


def payload_of(index: int, size: int, text: bool) -> bytes:
    """A payload of ``size`` bytes that names its message (ASCII, so text too)."""
    head = f"{index:08d}".encode()
    body = (head + b"abcdefghijklmnopqrstuvwxyz" * (size // 26 + 1))[:size]
    return body


# Sizes around every bound the receive path has: read_limit (chosen below) and its half, the
# ring's initial size and its read cap, the sink threshold. Scaled by the read_limit drawn.
def sizes_for(read_limit: int) -> st.SearchStrategy[int]:
    anchors = {
        1,
        100,
        125,
        126,
        1023,
        1024,
        1025,
        read_limit // 2 - 1,
        read_limit // 2,
        read_limit // 2 + 1,
        read_limit - 1,
        read_limit,
        read_limit + 1,
        65_535,
        65_536,
        65_537,
        SINK_MIN - 1,
        SINK_MIN,
        SINK_MIN + 1,
    }
    return st.one_of(
        st.sampled_from(sorted(a for a in anchors if a > 0)),
        st.integers(0, 3 * read_limit),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    max_queue = draw(st.sampled_from([None, 1, 2, 32]))
    read_limit = draw(st.sampled_from([2**12, 2**14, 2**16]))
    count = draw(st.integers(1, 40))
    sizes = draw(st.lists(sizes_for(read_limit), min_size=count, max_size=count))
    # (text?, size, fragments): payloads are made in the test, to keep reports short.
    messages = [
        (draw(st.booleans()), size, draw(st.sampled_from([1, 1, 1, 2, 3]))) for size in sizes
    ]
    chunks = draw(
        st.lists(
            st.one_of(
                st.sampled_from([1, 7, read_limit // 2, read_limit, 65_536, 2**20]),
                st.integers(1, 2 * read_limit),
            ),
            min_size=1,
            max_size=8,
        )
    )
    # How the stream ends: still open, EOF (the server closed TCP), a close frame then EOF,
    # or the connection lost (reset) wherever the reads have got to.
    ending = draw(st.sampled_from(["open", "eof", "close", "lost"]))
    actions = ["deliver", "take"] if ending == "open" else ["deliver", "take", "end"]
    schedule = draw(
        st.lists(st.tuples(st.sampled_from(actions), st.integers(1, 40)), max_size=30)
    )
    bad_frame_at_end = draw(st.booleans())
    return {
        "max_queue": max_queue,
        "read_limit": read_limit,
        "messages": messages,
        "chunks": chunks,
        "schedule": schedule,
        "bad_frame_at_end": bad_frame_at_end,
        "ending": ending,
    }


def check(proto: WebSocketClientProtocol, transport: FakeTransport, max_queue: int | None) -> None:
    """The invariants that hold after every step."""
    conn = proto.connection
    flow = proto.flow
    if proto._eof:
        # The stream ended: whatever the parser held was parsed at once (it can't grow any
        # more), so the queue may pass max_queue, and nothing is held back.
        assert not conn.paused, "parser paused after the end of the stream"
        assert conn.buffered == 0, "bytes left unparsed after the end of the stream"
        return
    if max_queue is not None:
        assert len(proto.messages) <= max_queue, "queue above max_queue"
    assert flow.reading_paused == (not transport.reading), "flow and transport disagree"
    if not transport.reading:
        assert conn.paused, "reading paused while the parser is not: only more reading helps"
    if conn.paused:
        assert proto.messages, "parser paused with an empty queue: nothing can resume it"
        assert conn.buffered <= max(flow.read_limit, RING_MAX), (
            f"{conn.buffered} bytes held while paused, read_limit {flow.read_limit}"
        )


async def take(proto: WebSocketClientProtocol) -> Any:
    """recv() when a message is queued: it returns without suspending."""
    coro = proto.recv()
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("recv() suspended although a message was queued")  # pragma: no cover


@pytest.mark.no_loop_debug
@pytest.mark.timeout_s(30)  # each example
@pytest.mark.timeout(300)  # all of them, under coverage in CI
@hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    derandomize=bool(os.environ.get("CI")),
)
@given(scenario=scenarios())
async def test_flow_control_model(scenario: dict[str, Any]) -> None:
    """Every message arrives in order, no pause waits on ourselves, held bytes stay bounded."""
    max_queue = scenario["max_queue"]
    ending = scenario["ending"]
    proto, transport, peer = await open_protocol(
        max_queue=max_queue, read_limit=scenario["read_limit"], ping_interval=None
    )
    messages = [
        (text, payload_of(i, size, text), fragments)
        for i, (text, size, fragments) in enumerate(scenario["messages"])
    ]
    expected = [p.decode() if text else p for text, p, _ in messages]
    base = len(peer.stream)
    stream, ends = encode_messages(messages)
    peer.stream += stream
    if scenario["bad_frame_at_end"]:
        peer.stream += frame(0x3, b"")  # reserved opcode: 1002 after every message is read
    bad_frame_end = len(peer.stream)
    if ending == "close":
        peer.stream += frame(0x8, b"\x03\xe8")
    chunks = scenario["chunks"]
    received: list[Any] = []
    reads = 0
    ended = False

    # Reads of a few bytes exercise every boundary, but a megabyte read byte by byte would
    # only test patience: no read is smaller than 1/4000 of the stream.
    floor = len(peer.stream) // 4000

    def read_once() -> bool:
        nonlocal reads
        if ended:
            return False
        conn = proto.connection
        paused, held = conn.paused, conn.buffered
        done = peer.deliver(max(chunks[reads % len(chunks)], floor))
        reads += 1
        check(proto, transport, max_queue)
        if paused:
            # A read that starts while parsing is paused stops at read_limit.
            assert conn.buffered <= max(scenario["read_limit"], held)
        return done

    def end() -> bool:
        """The stream ends, if it can now: EOF needs every byte read; a reset needs nothing."""
        nonlocal ended
        if ended or ending == "open":
            return False
        if ending == "lost":
            proto.connection_lost(ConnectionResetError())
        elif transport.reading and not peer.remaining:
            proto.eof_received()  # the transport then closes itself
            proto.connection_lost(None)
        else:
            return False
        ended = True
        check(proto, transport, max_queue)
        return True

    async def take_once() -> bool:
        if not proto.messages:
            # The application would wait now: the transport must be reading, or there is
            # nothing left to read.
            assert ended or transport.reading or not peer.remaining, "waiting with reading paused"
            return False
        received.append(await take(proto))
        assert received[-1] == expected[len(received) - 1], (
            f"message {len(received) - 1} lost, reordered or corrupted"
        )
        await asyncio.sleep(0)  # a postponed failure runs on the next iteration
        check(proto, transport, max_queue)
        return True

    for action, n in scenario["schedule"]:
        for _ in range(n):
            if action == "deliver":
                if not read_once():
                    break
            elif action == "take":
                if not await take_once():
                    break
            else:
                end()
                break

    # Then the peer sends all it can before its stream ends (the application taking only what
    # it must for reading to go on), and the application reads everything: progress must
    # always be possible.
    if ending != "open":
        while not ended:
            while read_once():
                pass
            if not end():
                assert await take_once(), "stuck before the end of the stream"
    while len(received) < len(expected):
        progressed = await take_once()
        while read_once():
            progressed = True
        if ended and not progressed:
            break
        assert progressed, f"stuck after {len(received)} of {len(expected)} messages"
    # Every message whose frames were read arrived (all of them, unless the connection was
    # lost before they were read).
    delivered = peer.pos - base
    complete = sum(1 for end_at in ends if end_at <= delivered)
    assert len(received) == complete, f"{complete} messages read, {len(received)} delivered"
    if ending != "lost":
        assert len(received) == len(expected)
    assert not proto.messages

    bad_frame_read = scenario["bad_frame_at_end"] and peer.pos >= bad_frame_end
    if scenario["bad_frame_at_end"] and not ended:
        while read_once():
            pass
        await asyncio.sleep(0)
        bad_frame_read = True
    if bad_frame_read:
        assert proto.connection.close_sent is not None
        assert proto.connection.close_sent.code == 1002
    if not ended:
        proto.connection_lost(None)
    try:
        await take(proto)
    except ConnectionClosedOK as closed:
        assert ending == "close" and not bad_frame_read, f"closed cleanly: {closed!r}"
    except ConnectionClosedError as closed:
        if bad_frame_read:
            assert closed.sent is not None and closed.sent.code == 1002, repr(closed)
        else:
            assert ending != "close", repr(closed)
    else:  # pragma: no cover
        raise AssertionError("recv() returned after the end of the connection")
