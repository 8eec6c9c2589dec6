"""Tests for fastws.tools.feedserver, driven by fastws' client and websockets' (new asyncio) client."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import random
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect

import fastws
from fastws.tools import feedserver
from fastws.tools.feedserver import feed_payload, serve

TIMEOUT = 20.0


def run(coro_fn: Callable[[], Awaitable[None]], timeout: float = TIMEOUT) -> None:
    """Run one test coroutine on a fresh asyncio loop, bounded in time."""

    async def main() -> None:
        await asyncio.wait_for(coro_fn(), timeout)

    asyncio.run(main())


@asynccontextmanager
async def server() -> AsyncIterator[str]:
    """Start the feed server in-process; yield its base URI."""
    srv = await serve("127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        srv.close()
        await srv.wait_closed()


def expected(size: int, text: bool) -> str | bytes:
    payload = feed_payload(size, text)
    return payload.decode() if text else payload


FASTWS = dict(compression=None, max_size=None, ping_interval=None)


# /feed


@pytest.mark.parametrize("text", [1, 0])
@pytest.mark.parametrize(
    ("size", "count"),
    [(0, 10), (100, 5000), (125, 300), (126, 300), (65535, 20), (65536, 20), (300_000, 3)],
)
def test_feed_fastws_exact(size: int, count: int, text: int) -> None:
    async def main() -> None:
        async with server() as base:
            uri = f"{base}/feed?size={size}&count={count}&text={text}"
            async with fastws.connect(uri, **FASTWS) as ws:  # type: ignore[arg-type]
                want = expected(size, bool(text))
                n = 0
                async for message in ws:
                    assert message == want
                    n += 1
                assert n == count
                assert ws.close_code == 1000

    run(main)


@pytest.mark.parametrize("text", [1, 0])
@pytest.mark.parametrize(("size", "count"), [(100, 3000), (1024, 500), (70_000, 5)])
def test_feed_websockets_exact(size: int, count: int, text: int) -> None:
    async def main() -> None:
        async with server() as base:
            uri = f"{base}/feed?size={size}&count={count}&text={text}"
            async with ws_connect(uri, compression=None, max_size=None) as ws:
                want = expected(size, bool(text))
                n = 0
                async for message in ws:
                    assert message == want
                    n += 1
                assert n == count
                assert ws.protocol.close_code == 1000
                assert ws.protocol.close_rcvd is not None
                assert ws.protocol.close_rcvd.code == 1000

    run(main)


def test_feed_defaults_are_100_byte_text() -> None:
    async def main() -> None:
        async with server() as base:
            async with fastws.connect(f"{base}/feed?count=7", **FASTWS) as ws:  # type: ignore[arg-type]
                messages = [m async for m in ws]
        assert messages == [feed_payload(100).decode()] * 7
        assert len(feed_payload(100)) == 100

    run(main)


def test_feed_close_0_stays_open() -> None:
    async def main() -> None:
        async with server() as base:
            async with fastws.connect(f"{base}/feed?count=100&close=0", **FASTWS) as ws:  # type: ignore[arg-type]
                for _ in range(100):
                    assert await ws.recv() == expected(100, True)
                receiving = asyncio.ensure_future(ws.recv())
                done, _ = await asyncio.wait({receiving}, timeout=0.2)
                assert not done
                receiving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receiving
                await ws.close()
                assert ws.close_code == 1000

    run(main)


@pytest.mark.parametrize("size", [10, 70_000])
def test_feed_wait_starts_at_the_first_data_message(size: int) -> None:
    """
    /feed?wait=1 sends nothing until the client's first data message (a ping is still answered
    meanwhile), then the whole feed, in order.
    """

    async def main() -> None:
        async with server() as base:
            uri = f"{base}/feed?size={size}&count=5&wait=1"
            async with fastws.connect(uri, **FASTWS) as ws:  # type: ignore[arg-type]
                await asyncio.wait_for(await ws.ping(), 5)  # answered while waiting
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(ws.recv(), 0.2)  # nothing yet
                await ws.send("start")
                for _ in range(5):
                    assert await asyncio.wait_for(ws.recv(), 5) == expected(size, True)
                with pytest.raises(fastws.ConnectionClosedOK):
                    await asyncio.wait_for(ws.recv(), 5)
                assert ws.close_code == 1000

    run(main)


def test_feed_wait_must_be_0_or_1() -> None:
    async def main() -> None:
        async with server() as base:
            with pytest.raises(fastws.InvalidStatusCode) as info:
                await fastws.connect(f"{base}/feed?wait=2", **FASTWS)  # type: ignore[arg-type]
            assert info.value.status_code == 400

    run(main)


def test_feed_count_zero_until_client_closes() -> None:
    async def main() -> None:
        async with server() as base:
            # max_queue=None: with a full queue, close() waits for close_timeout (as in 10.x).
            uri = f"{base}/feed?size=1000&count=0"
            async with fastws.connect(uri, max_queue=None, **FASTWS) as ws:  # type: ignore[arg-type]
                for _ in range(20_000):  # more than one batch of pre-built frames
                    assert await ws.recv() == expected(1000, True)
                await ws.close()
                assert ws.close_code == 1000

    run(main)


def test_feed_flow_control_slow_reader() -> None:
    """A client that doesn't read pauses the feed; it resumes when the client reads again."""

    async def main() -> None:
        async with server() as base:
            uri = f"{base}/feed?size=1024&count=50000&text=0"
            async with fastws.connect(uri, max_queue=16, **FASTWS) as ws:  # type: ignore[arg-type]
                await asyncio.sleep(0.3)
                n = 0
                async for message in ws:
                    assert len(message) == 1024
                    n += 1
                assert n == 50000

    run(main)


# permessage-deflate


@pytest.mark.parametrize("text", [1, 0])
@pytest.mark.parametrize("size", [100, 1000, 70_000])
def test_feed_deflate_websockets(size: int, text: int) -> None:
    async def main() -> None:
        async with server() as base:
            uri = f"{base}/feed?size={size}&count=500&text={text}&deflate=1"
            async with ws_connect(uri, compression="deflate", max_size=None) as ws:
                assert ws.response is not None
                assert ws.response.headers["Sec-WebSocket-Extensions"] == "permessage-deflate"
                want = expected(size, bool(text))
                messages = [m async for m in ws]
                assert messages == [want] * 500
                assert ws.protocol.close_code == 1000

    run(main)


@pytest.mark.parametrize(("size", "text"), [(100, 0), (70_000, 0), (100, 1), (1000, 1)])
def test_feed_deflate_fastws(size: int, text: int) -> None:
    async def main() -> None:
        async with server() as base:
            uri = f"{base}/feed?size={size}&count=3000&text={text}&deflate=1"
            async with fastws.connect(uri, compression="deflate", max_size=None) as ws:
                assert len(ws.extensions) == 1
                want = expected(size, bool(text))
                n = 0
                async for message in ws:
                    assert message == want
                    n += 1
                assert n == 3000
                assert ws.close_code == 1000

    run(main)


def test_deflate_only_when_asked() -> None:
    async def main() -> None:
        async with server() as base:
            async with ws_connect(f"{base}/feed?count=3", compression="deflate") as ws:
                assert ws.response is not None
                assert "Sec-WebSocket-Extensions" not in ws.response.headers
                assert [m async for m in ws] == [expected(100, True)] * 3

    run(main)


def test_negotiate_deflate_offers() -> None:
    negotiate = feedserver._negotiate_deflate
    assert negotiate("") is None
    assert negotiate("x-other") is None
    assert negotiate("permessage-deflate; client_max_window_bits") == ("permessage-deflate", 15)
    assert negotiate("permessage-deflate; server_max_window_bits=10") == (
        "permessage-deflate; server_max_window_bits=10",
        10,
    )
    assert negotiate(
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    ) == (
        "permessage-deflate; server_no_context_takeover",
        15,
    )
    # An offer we can't honour is skipped; the next one is accepted.
    assert negotiate("permessage-deflate; server_max_window_bits=8, permessage-deflate") == (
        "permessage-deflate",
        15,
    )
    assert negotiate("permessage-deflate; unknown=1") is None
    assert negotiate("permessage-deflate; client_max_window_bits=99") is None
    assert (
        negotiate("permessage-deflate; server_no_context_takeover; server_no_context_takeover")
        is None
    )


def test_feed_deflate_server_max_window_bits() -> None:
    async def main() -> None:
        async with server() as base:
            from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

            factory = ClientPerMessageDeflateFactory(server_max_window_bits=10)
            uri = f"{base}/feed?size=3000&count=200&deflate=1"
            async with ws_connect(uri, compression=None, extensions=[factory]) as ws:
                assert ws.response is not None
                ext = ws.response.headers["Sec-WebSocket-Extensions"]
                assert ext == "permessage-deflate; server_max_window_bits=10"
                assert [m async for m in ws] == [expected(3000, True)] * 200

    run(main)


# /echo


@pytest.mark.parametrize("size", [0, 1, 125, 126, 256, 4095, 4096, 8192, 65535, 65536, 2**20])
def test_echo_fastws(size: int) -> None:
    async def main() -> None:
        async with server() as base:
            async with fastws.connect(f"{base}/echo", **FASTWS) as ws:  # type: ignore[arg-type]
                payload = os.urandom(size)
                for _ in range(3):
                    await ws.send(payload)
                    assert await ws.recv() == payload
                text = "é" * (size // 2)
                await ws.send(text)
                assert await ws.recv() == text
                await ws.close()
                assert ws.close_code == 1000

    run(main)


def test_echo_pipelined_and_fragmented() -> None:
    async def main() -> None:
        async with server() as base:
            async with fastws.connect(f"{base}/echo", **FASTWS) as ws:  # type: ignore[arg-type]
                payloads = [os.urandom(i % 300) for i in range(2000)]
                for payload in payloads:
                    await ws.send(payload)
                for payload in payloads:
                    assert await ws.recv() == payload
                await ws.send(["ab", "cd", "é"])
                assert await ws.recv() == "abcdé"

    run(main)


def test_echo_websockets_and_ping() -> None:
    async def main() -> None:
        async with server() as base:
            async with ws_connect(f"{base}/echo", compression=None, max_size=None) as ws:
                for size in (10, 1000, 100_000):
                    payload = os.urandom(size)
                    await ws.send(payload)
                    assert await ws.recv() == payload
                latency = await asyncio.wait_for(await ws.ping(b"abc"), 5)
                assert latency >= 0
            assert ws.protocol.close_code == 1000

    run(main)


def test_echo_deflate_relays_compressed_frames() -> None:
    async def main() -> None:
        async with server() as base:
            async with ws_connect(f"{base}/echo?deflate=1", compression="deflate") as ws:
                for i in range(50):
                    message = f"message {i} " * 20
                    await ws.send(message)
                    assert await ws.recv() == message

    run(main)


# /sink and /idle


@pytest.mark.parametrize("size", [10, 1024, 100_000, 2**20])
def test_sink(size: int) -> None:
    async def main() -> None:
        async with server() as base:
            async with fastws.connect(f"{base}/sink", **FASTWS) as ws:  # type: ignore[arg-type]
                payload = os.urandom(size)
                for _ in range(max(3, 2_000_000 // size)):
                    await ws.send(payload)
                await asyncio.wait_for(await ws.ping(b"done"), 10)
                await ws.close()
                assert ws.close_code == 1000

    run(main)


def test_sink_websockets_close() -> None:
    async def main() -> None:
        async with server() as base:
            async with ws_connect(f"{base}/sink", compression=None) as ws:
                for _ in range(1000):
                    await ws.send("x" * 1000)
                await ws.close(4000, "bye")
            assert ws.protocol.close_rcvd is not None
            assert ws.protocol.close_rcvd.code == 4000  # the code is echoed

    run(main)


def test_idle_is_silent_and_answers_pings() -> None:
    async def main() -> None:
        async with server() as base:
            async with fastws.connect(f"{base}/idle", **FASTWS) as ws:  # type: ignore[arg-type]
                receiving = asyncio.ensure_future(ws.recv())
                done, _ = await asyncio.wait({receiving}, timeout=0.2)
                assert not done
                receiving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receiving
                await asyncio.wait_for(await ws.ping(), 5)
                await ws.close()
                assert ws.close_code == 1000

    run(main)


def test_many_idle_connections() -> None:
    async def main() -> None:
        async with server() as base:
            clients = [await fastws.connect(f"{base}/idle", **FASTWS) for _ in range(200)]  # type: ignore[arg-type]
            await asyncio.gather(*(ws.close() for ws in clients))
            assert {ws.close_code for ws in clients} == {1000}

    run(main)


# Protocol errors and bad requests


async def raw_exchange(base: str, request: bytes, then: bytes = b"") -> bytes:
    """Send raw bytes, return everything the server sends until it closes."""
    host, port = base.removeprefix("ws://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    if then:
        writer.write(then)
    data = await asyncio.wait_for(reader.read(-1), 5)
    writer.close()
    await writer.wait_closed()
    return data


def upgrade_request(path: str = "/echo", **overrides: str) -> bytes:
    headers = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    headers.update(overrides)
    lines = [f"GET {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items() if v]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /feed HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /feed HTTP/1.1\r\nHost: x\r\n\r\n",
        b"garbage\r\n\r\n",
        upgrade_request(**{"Sec-WebSocket-Key": "short"}),
        upgrade_request(**{"Sec-WebSocket-Version": "8"}),
        upgrade_request(**{"Connection": "keep-alive"}),
        upgrade_request("/feed?size=-1"),
        upgrade_request("/feed?count=abc"),
        upgrade_request("/feed?text=2"),
        upgrade_request("/feed?close=3"),
        b"GET / HTTP/1.1\r\n" + b"X: " + b"y" * 20000 + b"\r\n",
        b"GET / HTTP/1.1\r\nbad header line\r\n\r\n",
    ],
)
def test_bad_request_400(request_bytes: bytes) -> None:
    async def main() -> None:
        async with server() as base:
            data = await raw_exchange(base, request_bytes)
            assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
            assert b"Connection: close" in data

    run(main)


def test_unknown_path_404() -> None:
    async def main() -> None:
        async with server() as base:
            data = await raw_exchange(base, upgrade_request("/nope"))
            assert data.startswith(b"HTTP/1.1 404 Not Found\r\n")

    run(main)


def test_accept_key_rfc_example() -> None:
    async def main() -> None:
        async with server() as base:
            close = bytes((0x88, 0x82)) + b"\x00\x00\x00\x00" + b"\x03\xe8"
            data = await raw_exchange(base, upgrade_request("/idle"), close)
            head, _, frames = data.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
            assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
            assert b"Sec-WebSocket-Extensions" not in head
            assert frames == b"\x88\x02\x03\xe8"

    run(main)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\x81\x05hello", 1002),  # unmasked client frame
        (bytes((0x89, 0xFE, 0, 200)) + b"\x00" * 4 + b"x" * 200, 1002),  # control frame too long
        (bytes((0x83, 0x80)) + b"\x00" * 4, 1002),  # reserved data opcode
        (bytes((0x8B, 0x80)) + b"\x00" * 4, 1002),  # reserved control opcode
        (bytes((0x88, 0x81)) + b"\x00" * 4 + b"\x03", 1002),  # 1-byte close payload
        (bytes((0x82, 0xFF)) + (2**40).to_bytes(8, "big") + b"\x00" * 4, 1009),  # too big to echo
    ],
)
def test_protocol_errors(frame: bytes, code: int) -> None:
    async def main() -> None:
        async with server() as base:
            data = await raw_exchange(base, upgrade_request("/echo"), frame)
            _, _, frames = data.partition(b"\r\n\r\n")
            assert frames == b"\x88\x02" + code.to_bytes(2, "big")

    run(main)


def test_ping_during_feed_answered_and_pipelined_frames_after_request() -> None:
    async def main() -> None:
        async with server() as base:
            ping = (
                bytes((0x89, 0x83))
                + b"\x01\x02\x03\x04"
                + bytes(b ^ k for b, k in zip(b"abc", b"\x01\x02\x03", strict=True))
            )
            close = bytes((0x88, 0x82)) + b"\x00\x00\x00\x00" + b"\x03\xe8"
            data = await raw_exchange(base, upgrade_request("/feed?size=3&count=0"), ping + close)
            _, _, frames = data.partition(b"\r\n\r\n")
            assert b"\x8a\x03abc" in frames
            assert frames.endswith(b"\x88\x02\x03\xe8")

    run(main)


# The command line


def test_main_prints_port_and_stops_on_stdin_eof() -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastws.tools.feedserver", "--uvloop"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline().decode()
        assert line.startswith("PORT ")
        port = int(line.split()[1])

        async def main() -> None:
            uri = f"ws://127.0.0.1:{port}/feed?count=5"
            async with fastws.connect(uri, **FASTWS) as ws:  # type: ignore[arg-type]
                assert [m async for m in ws] == [expected(100, True)] * 5

        run(main)
        proc.stdin.close()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_main_stops_on_sigterm() -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastws.tools.feedserver"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith(b"PORT ")
        proc.terminate()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_main_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """main() without --uvloop, stopped by a SIGTERM handler call."""
    calls: list[Any] = []

    async def fake_main(host: str, port: int, reuse_port: bool = False) -> None:
        calls.append((host, port, reuse_port))

    monkeypatch.setattr(feedserver, "_main", fake_main)
    assert feedserver.main(["--port", "0"]) == 0
    assert calls == [("127.0.0.1", 0, False)]
    assert feedserver.raise_nofile_limit() > 0


def masked_frame(b0: int, payload: bytes, key: bytes = b"\x11\x22\x33\x44") -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes((b0, 0x80 | n))
    elif n < 65536:
        head = bytes((b0, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((b0, 0xFF)) + n.to_bytes(8, "big")
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


@pytest.mark.parametrize("path", ["/sink", "/echo", "/idle", "/feed?count=0&size=10"])
def test_frames_split_anywhere(path: str) -> None:
    """Client frames cut at every kind of boundary (header, key, payload) parse the same."""
    rng = random.Random(path)
    payloads = [rng.randbytes(size) for size in (0, 1, 125, 126, 127, 300, 65535, 65536, 70000)]
    tail = b"\x8a\x05ping!\x88\x02\x03\xe8"  # the pong and the close frame we expect
    stream = b"".join(masked_frame(0x82, p) for p in payloads)
    stream += masked_frame(0x89, b"ping!") + masked_frame(0x88, b"\x03\xe8")

    async def main() -> None:
        async with server() as base:
            host, port = base.removeprefix("ws://").split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            writer.write(upgrade_request(path))
            pos = 0
            while pos < len(stream):
                step = rng.choice([1, 2, 3, 5, 7, 13, 100, 4096])
                writer.write(stream[pos : pos + step])
                await writer.drain()
                if step < 10:
                    await asyncio.sleep(0)  # let small pieces arrive on their own
                pos += step
            data = await asyncio.wait_for(reader.read(-1), 10)
            writer.close()
            await writer.wait_closed()
            _, _, got = data.partition(b"\r\n\r\n")
            assert got.endswith(tail)
            if path == "/echo":
                echoed = b"".join(feedserver._header(0x82, len(p)) + p for p in payloads)
                assert got == echoed + tail
            elif path.startswith("/feed"):
                assert got.startswith(b"\x81\x0a" + feed_payload(10))
            else:
                assert got == tail

    run(main)


# /echo's fast path: a read that is exactly one small or 16-bit-length data frame


def test_echo_one_frame_per_read() -> None:
    """Frames read one at a time take the fast path or not; the replies are the same."""

    def reply(b0: int, payload: bytes) -> bytes:
        return feedserver._header(b0, len(payload)) + payload

    nonminimal = bytes((0x82, 0xFE, 0, 125)) + b"\x00" * 4 + b"n" * 125  # 16-bit length 125
    exchanges = [
        (masked_frame(0x81, b""), reply(0x81, b"")),
        (masked_frame(0x81, b"hello"), reply(0x81, b"hello")),
        (masked_frame(0x82, b"x" * 125), reply(0x82, b"x" * 125)),
        (masked_frame(0x82, b"y" * 126), reply(0x82, b"y" * 126)),
        (masked_frame(0x82, b"z" * 65535), reply(0x82, b"z" * 65535)),
        (masked_frame(0x82, b"w" * 65536), reply(0x82, b"w" * 65536)),  # 64-bit length
        (nonminimal, reply(0x82, b"n" * 125)),  # re-encoded with a 7-bit length
        (masked_frame(0x01, b"frag"), reply(0x01, b"frag")),  # fragments echo as they come
        (masked_frame(0x80, b"ment"), reply(0x80, b"ment")),
        (masked_frame(0xC1, b"rsv1"), reply(0xC1, b"rsv1")),  # RSV1 kept (deflate relay)
        (masked_frame(0x89, b"ping!"), reply(0x8A, b"ping!")),  # control: the general parser
        (masked_frame(0x8A, b"pong"), b""),  # an unsolicited pong is ignored
        (masked_frame(0x81, b"after"), reply(0x81, b"after")),
    ]

    async def main() -> None:
        async with server() as base:
            host, port = base.removeprefix("ws://").split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            writer.write(upgrade_request("/echo"))
            await reader.readuntil(b"\r\n\r\n")
            for frame, want in exchanges:
                writer.write(frame)
                if want:
                    assert await reader.readexactly(len(want)) == want
            # A frame cut in two (the second piece takes the buffered path), then whole ones.
            first = masked_frame(0x82, b"a" * 300)
            writer.write(first[:3])
            await writer.drain()
            await asyncio.sleep(0.05)  # best effort: let the first piece arrive on its own
            writer.write(first[3:])
            assert await reader.readexactly(304) == reply(0x82, b"a" * 300)
            writer.write(masked_frame(0x81, b"whole"))
            assert await reader.readexactly(7) == reply(0x81, b"whole")
            writer.write(masked_frame(0x88, b"\x03\xe8"))
            assert await asyncio.wait_for(reader.read(-1), 10) == b"\x88\x02\x03\xe8"
            writer.close()
            await writer.wait_closed()

    run(main)


def test_echo_fast_path_state() -> None:
    """The fast path is on only while /echo is open with nothing buffered."""

    class Transport:
        def __init__(self) -> None:
            self.written: list[bytes] = []
            self.closed = False

        def write(self, data: bytes) -> None:
            self.written.append(bytes(data))

        def close(self) -> None:
            self.closed = True

    async def main() -> None:  # the close sets a timer on the running loop
        protocol = feedserver.FeedProtocol()
        transport = Transport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        assert protocol._echo_write is None
        protocol.data_received(upgrade_request("/echo"))
        assert protocol._echo_write is not None
        frame = masked_frame(0x81, b"hi")
        protocol.data_received(frame[:4])
        assert protocol._echo_write is None and protocol._buf is not None
        protocol.data_received(frame[4:] + frame)
        assert transport.written[-1] == b"\x81\x02hi" + b"\x81\x02hi"
        assert protocol._echo_write is not None and protocol._buf is None
        protocol.data_received(masked_frame(0x88, b"\x03\xe8"))
        assert protocol._echo_write is None and transport.closed
        protocol.connection_lost(None)
        assert protocol._echo_write is None

        other = feedserver.FeedProtocol()
        other.connection_made(Transport())
        other.data_received(upgrade_request("/sink"))
        assert other._echo_write is None

    run(main)


# SO_REUSEPORT and the choice of event loop


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT")
def test_serve_reuse_port() -> None:
    """Two servers share a port with reuse_port=True; without it the second bind fails."""

    async def main() -> None:
        first = await serve("127.0.0.1", 0, reuse_port=True)
        port = first.sockets[0].getsockname()[1]
        second = await serve("127.0.0.1", port, reuse_port=True)
        try:
            with pytest.raises(OSError):
                await serve("127.0.0.1", port)
            for _ in range(10):
                uri = f"ws://127.0.0.1:{port}/echo"
                async with fastws.connect(uri, **FASTWS) as ws:  # type: ignore[arg-type]
                    await ws.send("hi")
                    assert await ws.recv() == "hi"
        finally:
            for srv in (first, second):
                srv.close()
                await srv.wait_closed()

    run(main)


@pytest.mark.parametrize(
    ("argv", "installed", "runner", "reuse_port"),
    [
        ([], True, "asyncio", False),
        (["--uvloop"], True, "uvloop", False),
        (["--loop", "uvloop"], True, "uvloop", False),
        (["--loop", "auto"], True, "uvloop", False),
        (["--loop", "auto", "--reuse-port"], False, "asyncio", True),
        (["--loop", "asyncio"], True, "asyncio", False),
    ],
)
def test_main_loop_choice(
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    installed: bool,
    runner: str,
    reuse_port: bool,
) -> None:
    """--loop (and --uvloop) pick the runner; auto means uvloop when it can be imported."""
    import uvloop

    ran: list[tuple[str, tuple[Any, ...]]] = []

    async def fake_main(host: str, port: int, reuse: bool = False) -> None:
        ran.append(("args", (host, port, reuse)))

    def fake_runner(name: str) -> Callable[[Any], None]:
        def runner(coro: Any) -> None:
            ran.append((name, ()))
            asyncio.new_event_loop().run_until_complete(coro)

        return runner

    monkeypatch.setattr(feedserver, "_main", fake_main)
    monkeypatch.setattr(asyncio, "run", fake_runner("asyncio"))
    monkeypatch.setattr(uvloop, "run", fake_runner("uvloop"))
    if not installed:
        monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert feedserver.main(argv) == 0
    assert ran[0] == (runner, ())
    assert ran[1] == ("args", ("127.0.0.1", 0, reuse_port))


def test_main_uvloop_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)
    with pytest.raises(SystemExit) as exc:
        feedserver.main(["--loop", "uvloop"])
    assert exc.value.code == 2
    assert "uvloop is not installed" in capsys.readouterr().err


def test_resolve_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    assert feedserver.resolve_loop("asyncio") == "asyncio"
    assert feedserver.resolve_loop("uvloop") == "uvloop"
    assert feedserver.resolve_loop("auto") == "uvloop"  # installed here
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert feedserver.resolve_loop("auto") == "asyncio"
