"""WebSocketClientProtocol against real servers: messages, closing, pings, limits, misbehaviour."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

import fastws
from fastws.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    PayloadTooBig,
    ProtocolError,
)

from .peers import aiohttp_server, send_then_close, websockets_server
from .rawserver import (
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    close_payload,
    flood,
    frame,
    no_close,
    no_pong,
    raw_server,
    reset_mid_frame,
    send_frames,
)

MESSAGES = ["café", b"\x00\xff", "", b"", "x" * 70000, bytes(200000)]


# Messages ------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_echo_websockets(compression: str | None) -> None:
    """Text and binary messages of every size go both ways through a websockets server."""
    async with websockets_server(compression=compression) as server:
        async with fastws.connect(server.uri, compression=compression) as ws:
            assert bool(ws.extensions) is (compression == "deflate")
            for message in MESSAGES:
                await ws.send(message)
                assert await ws.recv() == message


@pytest.mark.parametrize("compress", [True, False])
async def test_echo_aiohttp(compress: bool) -> None:
    """The same through an aiohttp server."""
    async with aiohttp_server(compress=compress) as server:
        async with fastws.connect(server.uri) as ws:
            for message in MESSAGES:
                await ws.send(message)
                assert await ws.recv() == message


async def test_send_bytes_like() -> None:
    """bytearray and memoryview are sent as binary messages."""
    async with websockets_server() as server:
        async with fastws.connect(server.uri) as ws:
            await ws.send(bytearray(b"abc"))
            assert await ws.recv() == b"abc"
            await ws.send(memoryview(b"xabcx")[1:4])
            assert await ws.recv() == b"abc"


async def test_many_small_messages_pipelined() -> None:
    """Many messages sent in one loop iteration all arrive, in order."""
    async with websockets_server(compression=None) as server:
        async with fastws.connect(server.uri, compression=None) as ws:
            for i in range(2000):
                await ws.send(f"message {i}")
            for i in range(2000):
                assert await ws.recv() == f"message {i}"


async def test_sends_in_one_iteration_leave_in_one_write() -> None:
    """The first frame leaves at once; the others sent in the same iteration leave together."""
    async with websockets_server(compression=None) as server:
        async with fastws.connect(server.uri, compression=None) as ws:
            transport = CountingTransport(ws.transport)
            ws.transport = transport  # type: ignore[assignment]
            for _ in range(100):
                await ws.send("0123456789")
            await asyncio.sleep(0)
            assert transport.writes == [16, 99 * 16]
            for _ in range(100):
                assert await ws.recv() == "0123456789"
            # After waiting for the peer, the next request leaves at once again.
            await ws.send("0123456789")
            await ws.send("0123456789")
            await asyncio.sleep(0)
            assert transport.writes == [16, 99 * 16, 16, 16]
            ws.transport = transport.transport
            for _ in range(2):
                assert await ws.recv() == "0123456789"


class CountingTransport:
    """Wraps a transport and records the size of each write."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes: list[int] = []

    def write(self, data: bytes) -> None:
        self.writes.append(len(data))
        self.transport.write(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self.transport, name)


async def test_fragmented_send() -> None:
    """Iterables and async iterables are sent as one frame per item, then an empty final frame."""

    async def chunks():  # type: ignore[no-untyped-def]
        for chunk in (b"ab", b"cd"):
            yield chunk

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.handshake()
        frames = [await peer.read_frame() for _ in range(7)]
        assert [(f.fin, f.opcode, f.payload) for f in frames] == [
            (False, TEXT, b"He"),
            (False, CONT, b"llo"),
            (True, CONT, b""),
            (False, BINARY, b"ab"),
            (False, CONT, b"cd"),
            (True, CONT, b""),
            (True, TEXT, b"end"),
        ]
        await peer.reply_until_close()

    async with raw_server(script) as server:
        async with fastws.connect(server.uri, compression=None) as ws:
            await ws.send(["He", "llo"])
            await ws.send(chunks())
            await ws.send([])  # nothing at all
            await ws.send("end")
            await server.peer()


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"a": "b"}, "data is a dict-like object"),
        (42, "data must be str, bytes-like, or iterable"),
    ],
)
async def test_send_wrong_type(message: object, error: str) -> None:
    """Unsupported types raise TypeError and leave the connection open."""
    async with websockets_server() as server:
        async with fastws.connect(server.uri) as ws:
            with pytest.raises(TypeError, match=error):
                await ws.send(message)  # type: ignore[arg-type]
            await ws.send("still open")
            assert await ws.recv() == "still open"


async def test_send_inconsistent_fragments_fails_1011() -> None:
    """Mixed types in a fragmented message raise TypeError and fail the connection with 1011."""

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.handshake()
        first = await peer.read_frame()
        assert (first.fin, first.opcode) == (False, TEXT)
        assert await peer.read_close() == (1011, "")
        peer.send_close(1011)

    async with raw_server(script) as server:
        ws = await fastws.connect(server.uri, compression=None)
        with pytest.raises(TypeError, match="data contains inconsistent types"):
            await ws.send(["text", b"bytes"])
        await ws.wait_closed()
        # After failing, the client reads nothing more, not even the server's close frame.
        assert ws.close_code == 1006
        with pytest.raises(ConnectionClosedError) as info:
            await ws.send("x")
        assert str(info.value) == "sent 1011 (unexpected error); no close frame received"


async def test_recv_after_close_returns_queued_messages() -> None:
    """Messages received before the close are returned first, then ConnectionClosedOK."""
    async with websockets_server(send_then_close("one", b"two", code=1000)) as server:
        ws = await fastws.connect(server.uri)
        await ws.wait_closed()
        assert await ws.recv() == "one"
        assert await ws.recv() == b"two"
        with pytest.raises(ConnectionClosedOK) as info:
            await ws.recv()
        assert str(info.value) == "received 1000 (OK); then sent 1000 (OK)"


@pytest.mark.parametrize(
    ("code", "error"),
    [(1000, None), (1001, None), (1011, ConnectionClosedError), (4000, ConnectionClosedError)],
)
async def test_async_iteration(code: int, error: type | None) -> None:
    """async for ends quietly on 1000 and 1001, raises ConnectionClosedError otherwise."""
    async with websockets_server(send_then_close("a", "b", code=code, reason="bye")) as server:
        received = []
        async with fastws.connect(server.uri) as ws:
            if error is None:
                async for message in ws:
                    received.append(message)
            else:
                with pytest.raises(error):
                    async for message in ws:
                        received.append(message)
        assert received == ["a", "b"]
        assert ws.close_code == code
        assert ws.close_reason == "bye"


async def test_async_iteration_empty_close_frame() -> None:
    """In 10.x, an empty close frame (1005) ends iteration with ConnectionClosedError."""
    async with raw_server(send_frames(frame(TEXT, "a"), frame(CLOSE, b""))) as server:
        async with fastws.connect(server.uri) as ws:
            with pytest.raises(ConnectionClosedError):
                async for _ in ws:
                    pass
        assert ws.close_code == 1005


async def test_concurrent_recv() -> None:
    """A second recv() while one waits raises RuntimeError."""
    async with websockets_server("wait") as server:
        async with fastws.connect(server.uri) as ws:
            waiting = asyncio.ensure_future(ws.recv())
            await asyncio.sleep(0)
            with pytest.raises(RuntimeError, match="already waiting for the next message"):
                await ws.recv()
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting


async def test_recv_cancellation_loses_nothing() -> None:
    """A recv() cancelled by a timeout loses no message."""
    async with websockets_server() as server:
        async with fastws.connect(server.uri) as ws:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.01)
            await ws.send("late")
            assert await ws.recv() == "late"


async def test_recv_legacy() -> None:
    """legacy_recv=True makes recv() return None once closed (deprecated 10.x option)."""
    async with websockets_server(send_then_close(code=1000)) as server:
        with pytest.warns(DeprecationWarning, match="legacy_recv is deprecated"):
            ws = await fastws.connect(server.uri, legacy_recv=True)
        await ws.wait_closed()
        assert await ws.recv() is None


# Closing --------------------------------------------------------------------------------


async def test_close_handshake_client_initiated() -> None:
    """close() sends the code and reason, waits for the server, and is idempotent."""
    async with websockets_server() as server:
        ws = await fastws.connect(server.uri)
        assert ws.open and not ws.closed
        assert ws.close_code is None and ws.close_reason is None
        await ws.close(1001, "going")
        assert ws.closed and not ws.open
        assert ws.close_code == 1001
        assert ws.close_reason == "going"
        await ws.close()
        with pytest.raises(ConnectionClosedOK) as info:
            await ws.send("x")
        assert str(info.value) == "sent 1001 (going away) going; then received 1001 (going away) going"


async def test_close_invalid_code() -> None:
    """close() with a code that can't be sent raises ProtocolError and leaves the connection open."""
    async with websockets_server() as server:
        async with fastws.connect(server.uri) as ws:
            with pytest.raises(ProtocolError, match="invalid status code"):
                await ws.close(1006)
            assert ws.open


async def test_close_when_server_ignores_close_frame() -> None:
    """A server that never answers the close frame: close() gives up after the timeouts."""
    async with raw_server(no_close()) as server:
        ws = await fastws.connect(server.uri, close_timeout=0.1)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await ws.close()
        assert loop.time() - start < 1.0
        assert ws.close_code == 1006
        with pytest.raises(ConnectionClosedError) as info:
            await ws.recv()
        assert str(info.value) == "sent 1000 (OK); no close frame received"


async def test_server_closes_tcp_abruptly() -> None:
    """EOF without a close frame: 1006 and ConnectionClosedError, queued messages first."""
    async with raw_server(send_frames(frame(TEXT, "last words"), then="close")) as server:
        async with fastws.connect(server.uri) as ws:
            assert await ws.recv() == "last words"
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert str(info.value) == "no close frame received or sent"
        assert ws.close_code == 1006


async def test_reset_mid_frame() -> None:
    """A reset in the middle of a frame: ConnectionClosedError, code 1006."""
    async with raw_server(reset_mid_frame()) as server:
        async with fastws.connect(server.uri) as ws:
            with pytest.raises(ConnectionClosedError):
                await ws.recv()
        assert ws.close_code == 1006


async def test_wait_closed() -> None:
    """wait_closed() returns once the server closed the connection."""
    async with websockets_server(send_then_close(code=1000)) as server:
        ws = await fastws.connect(server.uri)
        await ws.wait_closed()
        assert ws.closed


# Misbehaving servers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_frame", "code", "cause"),
    [
        pytest.param(frame(TEXT, "x", mask=b"abcd"), 1002, ProtocolError, id="masked"),
        pytest.param(frame(TEXT, b"\xff\xfe"), 1007, UnicodeDecodeError, id="invalid-utf8"),
        pytest.param(frame(TEXT, "x", rsv=4), 1002, ProtocolError, id="rsv1"),
        pytest.param(frame(3, "x"), 1002, ProtocolError, id="bad-opcode"),
        pytest.param(frame(PING, "x", fin=False), 1002, ProtocolError, id="fragmented-ping"),
        pytest.param(frame(CONT, "x"), 1002, ProtocolError, id="unexpected-continuation"),
        pytest.param(frame(CLOSE, b"\x03"), 1002, ProtocolError, id="short-close"),
        pytest.param(frame(CLOSE, close_payload(1000, b"\xff")), 1007, UnicodeDecodeError, id="close-reason-utf8"),
    ],
)
async def test_bad_frame(bad_frame: bytes, code: int, cause: type) -> None:
    """A bad frame fails the connection with the right code; messages before it are delivered."""

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.handshake()
        peer.write(frame(TEXT, "before") + bad_frame)
        assert await peer.read_close() == (code, "")
        peer.send_close(code)

    async with raw_server(script) as server:
        async with fastws.connect(server.uri, compression=None) as ws:
            assert await ws.recv() == "before"
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert isinstance(info.value.__cause__, cause)
            assert info.value.sent is not None and info.value.sent.code == code
        await server.peer()


async def test_reply_before_bad_frame_goes_out_first() -> None:
    """A reply to the message before a bad frame is sent before the close frame."""

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.handshake()
        peer.write(frame(TEXT, "question") + frame(TEXT, "x", rsv=2))
        answer = await peer.read_frame()
        assert (answer.opcode, answer.payload) == (TEXT, b"answer")
        assert await peer.read_close() == (1002, "")
        peer.send_close(1002)

    async with raw_server(script) as server:
        async with fastws.connect(server.uri, compression=None) as ws:
            assert await ws.recv() == "question"
            await ws.send("answer")
            with pytest.raises(ConnectionClosedError):
                await ws.recv()
        await server.peer()


async def test_invalid_utf8_fails_fast() -> None:
    """Invalid UTF-8 fails the connection before the rest of the frame arrives."""

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.handshake()
        data = frame(TEXT, b"valid \xff and the rest never comes" + bytes(100))
        peer.write(data[:12])
        assert await peer.read_close() == (1007, "")
        peer.send_close(1007)

    async with raw_server(script) as server:
        async with fastws.connect(server.uri, compression=None) as ws:
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert isinstance(info.value.__cause__, UnicodeDecodeError)


async def test_max_size() -> None:
    """A message over max_size: 1009 with an empty reason, cause PayloadTooBig."""

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.handshake()
        peer.write(frame(BINARY, bytes(100)) + frame(BINARY, bytes(101)))
        assert await peer.read_close() == (1009, "")
        peer.send_close(1009)

    async with raw_server(script) as server:
        async with fastws.connect(server.uri, max_size=100, compression=None) as ws:
            assert await ws.recv() == bytes(100)
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert isinstance(info.value.__cause__, PayloadTooBig)
            assert str(info.value) == "sent 1009 (message too big); no close frame received"


async def test_max_size_fragmented() -> None:
    """max_size applies to a fragmented message as a whole."""

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.handshake()
        peer.write(frame(TEXT, "x" * 60, fin=False) + frame(CONT, "x" * 60))
        assert await peer.read_close() == (1009, "")
        peer.send_close(1009)

    async with raw_server(script) as server:
        async with fastws.connect(server.uri, max_size=100, compression=None) as ws:
            with pytest.raises(ConnectionClosedError):
                await ws.recv()


async def test_fragmented_text_received() -> None:
    """Fragmented text is reassembled; UTF-8 may be split between fragments."""
    data = "é€𝄞".encode()
    frames = [frame(TEXT, data[:1], fin=False), frame(CONT, data[1:5], fin=False), frame(PING, "p"), frame(CONT, data[5:])]
    async with raw_server(send_frames(*frames, frame(BINARY, b"x", fin=False), frame(CONT, b"y"))) as server:
        async with fastws.connect(server.uri) as ws:
            assert await ws.recv() == "é€𝄞"
            assert await ws.recv() == b"xy"


# Pings --------------------------------------------------------------------------------------


async def test_ping_pong() -> None:
    """ping() returns a waiter completed by the pong with the round-trip time."""
    async with websockets_server() as server:
        async with fastws.connect(server.uri) as ws:
            assert ws.latency == 0
            waiter = await ws.ping()
            rtt = await waiter
            assert isinstance(rtt, float) and rtt > 0
            assert ws.latency == rtt
            await (await ws.ping("text payload"))
            await (await ws.ping(b"bytes"))


async def test_ping_duplicate_payload() -> None:
    """A ping with a payload still waiting for its pong is refused."""
    async with raw_server(no_pong()) as server:
        async with fastws.connect(server.uri, close_timeout=0.5) as ws:
            await ws.ping(b"same")
            with pytest.raises(RuntimeError, match="already waiting for a pong with the same data"):
                await ws.ping(b"same")


async def test_pong_answers_earlier_pings() -> None:
    """A pong acknowledges its ping and every earlier one; unknown pongs are ignored."""

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.handshake()
        first, second = await peer.read_frame(), await peer.read_frame()
        assert (first.opcode, second.opcode) == (PING, PING)
        peer.send(PONG, b"unknown")
        peer.send(PONG, second.payload)
        await peer.reply_until_close()

    async with raw_server(script) as server:
        async with fastws.connect(server.uri, compression=None) as ws:
            first = await ws.ping(b"1")
            second = await ws.ping(b"2")
            await asyncio.gather(first, second)


async def test_pending_ping_at_close() -> None:
    """A ping still waiting when the connection closes raises ConnectionClosed."""
    async with raw_server(no_pong()) as server:
        ws = await fastws.connect(server.uri, close_timeout=0.5)
        waiter = await ws.ping()
        await ws.close()
        with pytest.raises(ConnectionClosed):
            await waiter


async def test_pong() -> None:
    """pong() sends an unsolicited pong; str payloads are UTF-8 encoded."""

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.handshake()
        received = await peer.read_frame()
        assert (received.opcode, received.payload) == (PONG, "é".encode())
        await peer.reply_until_close()

    async with raw_server(script) as server:
        async with fastws.connect(server.uri) as ws:
            await ws.pong("é")
            await server.peer()


async def test_server_ping_is_answered() -> None:
    """Pings from the server get pongs with the same payload."""

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.handshake()
        peer.send(PING, b"are you there")
        answer = await peer.read_frame()
        assert (answer.opcode, answer.payload) == (PONG, b"are you there")
        await peer.reply_until_close()

    async with raw_server(script) as server:
        async with fastws.connect(server.uri):
            await server.peer()


async def test_keepalive_timeout() -> None:
    """A server that never answers pings: 1011 "keepalive ping timeout"."""
    async with raw_server(no_pong()) as server:
        async with fastws.connect(server.uri, ping_interval=0.05, ping_timeout=0.05) as ws:
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.sent is not None
            assert info.value.sent.code == 1011
            assert info.value.sent.reason == "keepalive ping timeout"


async def test_keepalive_alive() -> None:
    """With an answering server, keepalive pings keep the connection open."""
    async with websockets_server() as server:
        async with fastws.connect(server.uri, ping_interval=0.02, ping_timeout=0.5) as ws:
            for _ in range(5):
                await (await ws.ping())
                await asyncio.sleep(0.02)
            assert ws.open


async def test_keepalive_tolerates_our_own_backpressure() -> None:
    """A pong parked behind max_queue unread messages doesn't count as a dead peer."""

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.handshake()
        peer.write(frame(TEXT, "fill") * 4)
        ping = await peer.read_frame()
        assert ping.opcode == PING
        peer.send(PONG, ping.payload)
        await peer.reply_until_close()

    async with raw_server(script) as server:
        async with fastws.connect(server.uri, max_queue=2, ping_interval=0.02, ping_timeout=0.05) as ws:
            await asyncio.sleep(0.3)  # several ping_timeouts while we don't read
            assert ws.open
            assert [await ws.recv() for _ in range(4)] == ["fill"] * 4
            await asyncio.sleep(0.1)
            assert ws.open


# Flow control ----------------------------------------------------------------------------


@pytest.mark.timeout_s(20)
async def test_read_limit_and_max_queue_bound_buffering() -> None:
    """A flooding server: at most max_queue messages and about read_limit bytes are buffered."""
    count = 5000
    async with raw_server(flood(frame(BINARY, bytes(1000)), count)) as server:
        async with fastws.connect(server.uri, max_queue=4, read_limit=2**14, compression=None) as ws:
            await asyncio.sleep(0.2)
            assert len(ws.messages) == 4
            assert ws.connection.reader.size <= 2**14 + ws.connection.reader.capacity
            assert ws.flow.reading_paused
            for _ in range(count):
                assert await ws.recv() == bytes(1000)


async def test_max_queue_none() -> None:
    """max_queue=None never stops reading."""
    count = 300
    async with raw_server(flood(frame(TEXT, "m"), count)) as server:
        async with fastws.connect(server.uri, max_queue=None) as ws:
            while len(ws.messages) < count:
                await asyncio.sleep(0.01)
            assert not ws.flow.reading_paused


@pytest.mark.timeout_s(20)
async def test_write_limit() -> None:
    """send() waits while the transport holds more than write_limit bytes."""

    async def script(peer):  # type: ignore[no-untyped-def]
        await peer.handshake()
        peer.pause_reading()
        await peer.server.resume_reading.wait()
        await peer.reply_until_close()

    async with raw_server(script) as server:
        server.resume_reading = asyncio.Event()  # type: ignore[attr-defined]
        async with fastws.connect(server.uri, write_limit=2**15, compression=None, close_timeout=1) as ws:
            payload = bytes(2**16)
            sent = 0
            with pytest.raises(asyncio.TimeoutError):
                while True:
                    await asyncio.wait_for(ws.send(payload), 0.5)
                    sent += 1
            assert ws._writing_paused
            assert ws.transport.get_write_buffer_size() <= 2**15 + 2 * len(payload)
            peer = await server.peer()
            peer.transport.resume_reading()
            server.resume_reading.set()  # type: ignore[attr-defined]


# Attributes and logging ----------------------------------------------------------------------


async def test_attributes() -> None:
    """id, logger, addresses, path and headers are set as in websockets 10.x."""
    async with websockets_server(path="/chat?room=1", subprotocols=["v2"]) as server:
        async with fastws.connect(server.uri, subprotocols=["v1", "v2"], extra_headers={"X-Test": "yes"}) as ws:
            assert isinstance(ws.id, uuid.UUID)
            assert isinstance(ws.logger, logging.LoggerAdapter)
            assert ws.local_address[0] == "127.0.0.1"
            assert ws.remote_address == ("127.0.0.1", server.port)
            assert ws.path == "/chat?room=1"
            assert ws.request_headers["X-Test"] == "yes"
            assert ws.request_headers["User-Agent"].startswith("Python/")
            assert ws.response_headers["Upgrade"].lower() == "websocket"
            assert ws.subprotocol == "v2"
        assert server.requests[0].headers["X-Test"] == "yes"


async def test_debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    """At DEBUG level, frames, state changes and the handshake are logged."""
    logger = logging.getLogger("test.fastws.asyncio")
    logger.setLevel(logging.DEBUG)
    with caplog.at_level(logging.DEBUG, logger="test.fastws.asyncio"):
        async with websockets_server() as server:
            async with fastws.connect(server.uri, logger=logger, compression=None) as ws:
                await ws.send("hi")
                await ws.recv()
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("> GET / HTTP/1.1") for m in messages)
    assert "< HTTP/1.1 101 Switching Protocols" in messages
    assert "> TEXT 'hi' [2 bytes]" in messages
    assert "< TEXT 'hi' [2 bytes]" in messages
    assert "= connection is OPEN" in messages
    assert "= connection is CLOSED" in messages
    assert all(getattr(r, "websocket", None) is ws for r in caplog.records)


async def test_abort_pings_on_loss_without_close_frame() -> None:
    """A ping pending when the transport is lost abruptly raises ConnectionClosedError."""
    async with raw_server(send_frames(then="abort")) as server:
        ws = await fastws.connect(server.uri)
        await ws.wait_closed()
        with pytest.raises(ConnectionClosedError):
            await ws.ping()
