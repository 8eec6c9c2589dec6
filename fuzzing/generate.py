"""
Structured input generators for the targets, driven by a :class:`random.Random`.

``run.py`` calls them with a seeded ``random.Random``; ``tests/test_fuzz.py`` with hypothesis'
``st.randoms()``, so that hypothesis records (and shrinks) every choice. They build what a
byte-level mutator rarely reaches: valid and compressed messages, fragmented messages with
control frames in between, lengths at every edge (125, 126, 65535, 65536, 2**17, 64-bit with
the top bit set), chunks over 256 KiB, handshake responses with every header fastws reads.
"""

from __future__ import annotations

import random
import zlib

from .targets import (
    DEFLATE_VARIANTS,
    FEEDERS,
    MAX_SIZES,
    STATUS_LINE,
    TAIL,
    UPGRADE_LINES,
    encode_frames_input,
    encode_handshake_input,
    frame,
)

__all__ = ["gen_frames_input", "gen_handshake_input", "mutate"]

EDGE_LENGTHS = (
    0, 1, 2, 124, 125, 126, 127, 1023, 1024, 1025, 65535, 65536, 2**17 - 1, 2**17, 2**17 + 1,
    2**18, 2**20 - 1, 2**20, 2**20 + 1, 2**24, 2**31, 2**32, 2**40, 2**62, 2**63 - 1, 2**63,
    2**63 + 1, 2**64 - 1,
)
CLOSE_CODES = (1000, 1001, 1002, 1005, 1006, 1011, 1015, 1016, 2999, 3000, 4999, 5000, 0, 999)
REASONS = (b"", b"bye", "caf\xe9".encode(), b"\xff\xfe", b"\xc3", b"x" * 123, b"x" * 124)


def _payload(rng: random.Random, big: bool) -> bytes:
    """A payload: mostly short, sometimes at an edge size (repeated bytes keep it cheap)."""
    r = rng.random()
    if r < 0.6:
        return rng.randbytes(rng.randint(0, 40))
    if r < 0.85 or not big:
        return bytes((rng.randrange(256),)) * rng.choice((0, 1, 124, 125, 126, 127, 300))
    n = rng.choice((1023, 1024, 1025, 65535, 65536, 70000, 2**17 - 1, 2**17, 2**17 + 1, 300_000))
    return bytes((rng.randrange(256),)) * n


def _length_form(rng: random.Random) -> int:
    """0: shortest length form; 16 or 64: that form (non-minimal if the length is short)."""
    return rng.choice((0, 0, 0, 0, 0, 0, 16, 64))


class _Compressor:
    """The peer's permessage-deflate compressor, as negotiated."""

    def __init__(self, variant: int) -> None:
        pmd = DEFLATE_VARIANTS[variant]
        self.wbits = pmd[2] if pmd else 15
        self.reset = bool(pmd and pmd[1])
        self.comp = zlib.compressobj(wbits=-self.wbits)

    def message(self, data: bytes, pieces: int, rng: random.Random) -> list[bytes]:
        """The payloads of one compressed message in ``pieces`` frames."""
        if self.reset or rng.random() < 0.1:
            self.comp = zlib.compressobj(wbits=-self.wbits)
        out = self.comp.compress(data) + self.comp.flush(zlib.Z_SYNC_FLUSH)
        if out.endswith(TAIL) and rng.random() < 0.95:
            out = out[:-4]
        cuts = sorted(rng.randint(0, len(out)) for _ in range(pieces - 1))
        bounds = [0, *cuts, len(out)]
        return [out[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def _bomb(rng: random.Random) -> bytes:
    """Something that decompresses to a lot (a zip bomb, as the peer may send)."""
    size = rng.choice((126, 1025, 65537, 2**20 + 1, 4 * 2**20))
    comp = zlib.compressobj(wbits=-15)
    return (comp.compress(bytes(size)) + comp.flush(zlib.Z_SYNC_FLUSH))[:-4]


def _frames(rng: random.Random, variant: int, big: bool) -> bytes:
    """A stream of server frames: mostly valid, with one kind of mischief now and then."""
    out = []
    comp = _Compressor(variant)
    for _ in range(rng.choice((1, 1, 2, 3, 4, 6, 10))):
        kind = rng.random()
        if kind < 0.25:  # a whole message
            opcode = rng.choice((0x81, 0x82))
            if variant and rng.random() < 0.6:
                [data] = comp.message(_payload(rng, big), 1, rng)
                out.append(frame(opcode | 0x40, data, ext=_length_form(rng)))
            else:
                out.append(frame(opcode, _payload(rng, big), ext=_length_form(rng)))
        elif kind < 0.45:  # a fragmented message, control frames in between
            opcode = rng.choice((0x01, 0x02))
            pieces = rng.randint(2, 4)
            compressed = variant and rng.random() < 0.6
            if compressed:
                datas = comp.message(_payload(rng, big), pieces, rng)
            else:
                datas = [_payload(rng, big) for _ in range(pieces)]
            for i, data in enumerate(datas):
                b0 = (opcode if i == 0 else 0) | (0x80 if i == pieces - 1 else 0)
                if compressed and i == 0:
                    b0 |= 0x40
                out.append(frame(b0, data, ext=_length_form(rng)))
                if rng.random() < 0.3:
                    out.append(frame(rng.choice((0x89, 0x8A)), rng.randbytes(rng.randint(0, 5))))
        elif kind < 0.55:  # ping, pong
            n = rng.choice((0, 1, 4, 125, 125, 126))
            out.append(frame(rng.choice((0x89, 0x8A)), rng.randbytes(n), ext=_length_form(rng)))
        elif kind < 0.62:  # close
            r = rng.random()
            if r < 0.2:
                payload = b""
            elif r < 0.3:
                payload = bytes((rng.randrange(256),))
            else:
                payload = rng.choice(CLOSE_CODES).to_bytes(2, "big") + rng.choice(REASONS)
            out.append(frame(0x88, payload))
        elif kind < 0.72:  # a declared length at an edge, with or without the payload
            length = rng.choice(EDGE_LENGTHS)
            b0 = rng.choice((0x81, 0x82, 0x01, 0x89, 0xC1, 0x00))
            ext = 64 if length > 65535 else rng.choice((0, 16, 64))
            body = b""
            if length <= 300_000 and rng.random() < 0.5:
                body = bytes(length)[: rng.choice((length, length, length // 2, 0))]
            out.append(frame(b0, body, length=length, ext=ext))
        elif kind < 0.80:  # a header the RFC forbids
            b0 = rng.choice((0x83, 0x87, 0x8B, 0x8F, 0x91, 0xA1, 0xB2, 0xC9, 0x09, 0x80, 0x00,
                             0xE1, 0x41, 0xC0))
            out.append(frame(b0, rng.randbytes(rng.randint(0, 3)), mask=rng.random() < 0.3))
        elif kind < 0.85 and variant:  # compressed mischief
            r = rng.random()
            if r < 0.4:
                out.append(frame(0xC2, _bomb(rng)))
            elif r < 0.7:
                out.append(frame(0xC1, rng.randbytes(rng.randint(1, 20))))  # not DEFLATE
            else:  # RSV1 on a continuation frame
                [data] = comp.message(b"abc", 1, rng)
                out.append(frame(0x41, data) + frame(0xC0, data))
        elif kind < 0.90:  # a masked frame
            out.append(frame(rng.choice((0x81, 0x89)), rng.randbytes(3), mask=True))
        else:  # raw bytes
            out.append(rng.randbytes(rng.randint(1, 12)))
    stream = b"".join(out)
    if rng.random() < 0.15 and stream:  # cut short
        stream = stream[: rng.randrange(len(stream))]
    return stream


def gen_frames_input(rng: random.Random, big: bool = True) -> bytes:
    """A :func:`fuzzing.targets.frames_target` input; ``big`` allows payloads up to 300 KB."""
    variant = rng.choice((0, 0, 1, 1, 2))
    stream = _frames(rng, variant, big)
    if rng.random() < 0.2:
        stream = mutate(rng, stream, [])
    seed = rng.choice((0, 0, 1, 2, rng.randrange(3, 256), rng.randrange(3, 256)))
    if seed == 1 and len(stream) > 4096:
        seed = 0
    return encode_frames_input(
        stream,
        max_size=rng.choice(MAX_SIZES),
        feeder=rng.choice(FEEDERS),
        deflate=variant,
        eof=rng.random() < 0.3,
        inline=rng.random() < 0.15,
        debug=rng.random() < 0.08,
        seed=seed,
    )


# --------------------------------------------------------------------------------------------
# Handshake responses.

EXTENSION_VALUES = (
    b"permessage-deflate",
    b"permessage-deflate; server_no_context_takeover",
    b"permessage-deflate; client_no_context_takeover",
    b"permessage-deflate; server_max_window_bits=10",
    b"permessage-deflate; server_max_window_bits=8",
    b"permessage-deflate; server_max_window_bits=16",
    b"permessage-deflate; server_max_window_bits=010",
    b"permessage-deflate; server_max_window_bits",
    b'permessage-deflate; server_max_window_bits="12"',
    b"permessage-deflate; client_max_window_bits=15",
    b"permessage-deflate; client_max_window_bits",
    b"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    b"permessage-deflate; unknown=1",
    b"permessage-deflate, permessage-deflate",
    b"x-webkit-deflate-frame",
    b"permessage-deflate;",
    b"; permessage-deflate",
    b'permessage-deflate; server_max_window_bits="1',
    b"permessage-deflate; a=\xff",
)
PROTOCOL_VALUES = (b"chat", b"superchat", b"chat, superchat", b"other", b"", b",", b"chat\xff")


def _header_line(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.3:
        return b"Sec-WebSocket-Extensions: " + rng.choice(EXTENSION_VALUES) + b"\r\n"
    if r < 0.45:
        return b"Sec-WebSocket-Protocol: " + rng.choice(PROTOCOL_VALUES) + b"\r\n"
    if r < 0.55:
        value = rng.choice((b"0", b"5", b"-1", b"1048577", b"99999999999999999999", b"x", b"",
                            b"1" * 5000, b" 3 ", b"+3"))
        return b"Content-Length: " + value + b"\r\n"
    if r < 0.6:
        return b"Transfer-Encoding: chunked\r\n"
    if r < 0.7:
        return rng.choice((b"Upgrade: websocket\r\n", b"Connection: Upgrade\r\n",
                           b"Connection: keep-alive, upgrade\r\n", b"Upgrade: h2c\r\n",
                           b"Sec-WebSocket-Accept: wrong\r\n"))
    if r < 0.8:
        return rng.choice((b"X-Long: " + b"a" * rng.choice((8180, 8184, 8185, 9000)) + b"\r\n",
                           b"No colon here\r\n", b" folded\r\n", b"X: \xff\xfe\r\n",
                           b"X:\tok\r\n", b"X: a\n", b"X: a\rb\r\n", b": empty\r\n",
                           b"X y: z\r\n"))
    if r < 0.85:
        return b"X-Many: 1\r\n" * rng.choice((100, 127, 128, 129))
    name, value = rng.randbytes(rng.randint(0, 6)), rng.randbytes(rng.randint(0, 8))
    return b"X-" + name + b": " + value + b"\r\n"


def _status_line(rng: random.Random) -> bytes:
    return rng.choice((
        STATUS_LINE,
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 403 Forbidden\r\n",
        b"HTTP/1.1 204 No Content\r\n",
        b"HTTP/1.1 304 Not Modified\r\n",
        b"HTTP/1.1 100 Continue\r\n",
        b"HTTP/1.0 101 Switching Protocols\r\n",
        b"HTTP/1.1 101\r\n",
        b"HTTP/1.1 1010 X\r\n",
        b"HTTP/1.1 099 X\r\n",
        b"HTTP/1.1 abc X\r\n",
        b"HTTP/1.1 101 \xff\r\n",
        b"HTTP/1.1  101 X\r\n",
        b"\r\n",
        b"garbage\r\n",
    ))


def gen_handshake_input(rng: random.Random) -> bytes:
    """A :func:`fuzzing.targets.handshake_target` input."""
    prefix = rng.choice((0, 1, 2, 2, 3))
    parts = []
    if prefix == 0:
        parts.append(_status_line(rng))
        if rng.random() < 0.5:
            parts.append(UPGRADE_LINES)
    elif prefix == 1:
        parts.append(UPGRADE_LINES if rng.random() < 0.7 else b"")
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        parts.append(_header_line(rng))
    if rng.random() < 0.9:
        parts.append(b"\r\n" if rng.random() < 0.9 else b"\n")
    r = rng.random()
    if r < 0.3:
        parts.append(frame(0x81, b"hi") + frame(0xC1, b"\xf2\x48\x04\x00"))
    elif r < 0.4:
        parts.append(rng.randbytes(rng.randint(0, 50)))
    elif r < 0.45:
        parts.append(bytes(rng.choice((2**20, 2**20 + 1))))
    rest = b"".join(parts)
    if rng.random() < 0.25:
        rest = mutate(rng, rest, [])
    seed = rng.choice((0, 0, 1, 2, rng.randrange(3, 256)))
    if seed == 1 and len(rest) > 4096:
        seed = 0
    return encode_handshake_input(
        rest,
        prefix=prefix,
        eof=rng.random() < 0.5,
        feeder=rng.choice(FEEDERS),
        skip_body=rng.random() < 0.2,
        max_size=rng.choice((2**20, 125, None, 2**16)),
        seed=seed,
    )


# --------------------------------------------------------------------------------------------
# Byte-level mutation (for the corpus).

INTERESTING = (
    b"\x00", b"\xff", b"\x7d", b"\x7e", b"\x7f", b"\x80", b"\x7e\xff\xff", b"\x7e\x00\x7d",
    b"\x7f\x80\x00\x00\x00\x00\x00\x00\x00", b"\x7f\x00\x00\x00\x00\x00\x01\x00\x00",
    b"\x7f\x00\x00\x00\x01\x00\x00\x00\x00", b"\x7f\xff\xff\xff\xff\xff\xff\xff\xff",
    b"\x88\x02\x03\xe8", b"\x89\x00", b"\xc1", b"\x00\x00\xff\xff", b"\r\n", b"\r\n\r\n",
    b": ", b"\n",
)


def mutate(rng: random.Random, data: bytes, others: list[bytes], keep: int = 0) -> bytes:
    """
    1 to 4 byte-level mutations of ``data`` (flip, set, insert, delete, duplicate, splice with
    one of ``others``, interesting values); the first ``keep`` bytes (the configuration) are
    only ever replaced by random bytes.
    """
    head, buf = bytearray(data[:keep]), bytearray(data[keep:])
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        pos = rng.randint(0, len(buf))
        if op < 0.1 and head:
            head[rng.randrange(len(head))] = rng.randrange(256)
        elif op < 0.3 and buf:
            i = min(pos, len(buf) - 1)
            buf[i] ^= 1 << rng.randrange(8)
        elif op < 0.4 and buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op < 0.55:
            buf[pos:pos] = rng.choice(INTERESTING)
        elif op < 0.65:
            buf[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op < 0.78 and buf:
            del buf[pos : pos + rng.randint(1, 16)]
        elif op < 0.86 and buf:
            n = rng.randint(1, min(len(buf), 4096))
            start = rng.randrange(len(buf) - n + 1)
            buf[pos:pos] = buf[start : start + n] * rng.choice((1, 1, 2, 8))
        elif op < 0.95 and others:
            other = rng.choice(others)[keep:]
            if other:
                start = rng.randrange(len(other))
                buf[pos:] = other[start : start + rng.randint(1, len(other))]
        elif buf:
            del buf[pos:]
    return bytes(head + buf)
