"""
Write the seed corpus (``fuzzing/corpus/frames`` and ``fuzzing/corpus/handshake``).

The files are committed; this script documents how each was made and rewrites them
identically: ``python -m fuzzing.make_corpus``.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from .targets import (
    PMD_LINE,
    STATUS_LINE,
    UPGRADE_LINES,
    deflate,
    encode_frames_input,
    encode_handshake_input,
    frame,
)

HERE = Path(__file__).resolve().parent / "corpus"


def frames_corpus() -> dict[str, bytes]:
    """name -> frames_target input."""
    f = encode_frames_input
    spam = frame(0x81, b"Spam")
    two = deflate(b"Hello, " * 20)
    comp = zlib.compressobj(wbits=-15)
    takeover = b"".join(
        frame(0xC1, (comp.compress(m) + comp.flush(zlib.Z_SYNC_FLUSH))[:-4])
        for m in (b"context takeover " * 4, b"context takeover " * 5)
    )
    w9 = zlib.compressobj(wbits=-9)
    window9 = (w9.compress(b"window of 512 bytes " * 40) + w9.flush(zlib.Z_SYNC_FLUSH))[:-4]
    # A non-final frame whose DEFLATE output reaches max_size (125) exactly, then a stored block
    # header: the final, empty frame (no budget left) turns the 4-byte tail into 4 more bytes.
    over_by_tail = deflate(b"a" * 125) + struct.pack("<HH", 4, 0xFFFB)
    # A non-final frame that stops in the middle of a 258-byte match: zlib holds back output.
    pending = deflate(b"k" * 300)[:4]
    return {
        "text": f(spam),
        "text-empty": f(frame(0x81)),
        "binary": f(frame(0x82, b"Eggs"), feeder="buffered"),
        "text-utf8": f(frame(0x81, "café !".encode()), seed=1),
        "len-125": f(frame(0x82, bytes(range(125))), max_size=125),
        "len-126-over-125": f(frame(0x82, bytes(126)), max_size=125),
        "len16-126": f(frame(0x82, bytes(range(126))), seed=2),
        "len16-65535": f(frame(0x82, bytes(range(256)) * 255 + bytes(255)), feeder="buffered"),
        "len64-65536": f(frame(0x82, bytes(65536)), max_size=2**16, seed=77),
        "len16-nonminimal": f(frame(0x81, b"short", ext=16) + frame(0x89, b"p", ext=64)),
        "len64-msb": f(frame(0x82, length=2**63)),
        "len64-msb-none": f(frame(0x82, length=2**63 + 5), max_size=None),
        "len64-max": f(frame(0x82, length=2**64 - 1), max_size=1024),
        "len64-2^40-none": f(frame(0x82, length=2**40), max_size=None),
        "len64-1MiB-none": f(frame(0x82, length=2**20), max_size=None, feeder="buffered"),
        "len64-sink-partial": f(frame(0x82, bytes(1000), length=2**17 + 1), eof=True),
        "over-max-size": f(frame(0x82, length=2**20 + 1)),
        "fragmented": f(frame(0x01, b"Hel") + frame(0x00, b"lo") + frame(0x80), seed=3),
        "fragmented-ping": f(frame(0x02, b"ab") + frame(0x89, b"p") + frame(0x80, b"cd")),
        "fragmented-over": f(frame(0x02, bytes(100)) + frame(0x80, bytes(26)), max_size=125),
        "ping-pong": f(frame(0x89, b"ping") + frame(0x89) + frame(0x8A, b"pong"), feeder="mixed"),
        "ping-125": f(frame(0x89, bytes(125)), max_size=125),
        "ping-126": f(frame(0x89, bytes(126))),
        "ping-fragmented": f(frame(0x09, b"x")),
        "close-1000": f(frame(0x88, b"\x03\xe8bye") + spam, eof=True),
        "close-empty": f(frame(0x88), eof=True),
        "close-1-byte": f(frame(0x88, b"\x03")),
        "close-bad-code": f(frame(0x88, b"\x03\xe7")),
        "close-bad-utf8": f(frame(0x88, b"\x03\xe8\xff")),
        "close-4999": f(frame(0x88, b"\x13\x87ok")),
        "close-mid-fragment": f(frame(0x01, b"a") + frame(0x88, b"\x03\xe8")),
        "bad-opcode": f(frame(0x83), eof=True),
        "rsv-bits": f(frame(0xC1, b"x")),
        "masked": f(frame(0x81, b"abc", mask=True)),
        "unexpected-cont": f(frame(0x80, b"x")),
        "expected-cont": f(frame(0x01, b"x") + spam),
        "eof-mid-frame": f(spam[:3], eof=True),
        "inline-handshake": f(spam + frame(0x89, b"p"), inline=True, seed=5),
        "debug-text-bad-utf8": f(frame(0x81, b"\xff") + frame(0x88, b"\x03\xe7"), debug=True),
        "pmd-message": f(frame(0xC1, two), deflate=1),
        "pmd-fragmented": f(frame(0x41, two[:5]) + frame(0x89) + frame(0x80, two[5:]), deflate=1),
        "pmd-takeover": f(takeover, deflate=1, seed=11),
        "pmd-window9": f(frame(0xC2, window9), deflate=2, feeder="buffered"),
        "pmd-uncompressed": f(frame(0x81, b"plain"), deflate=1),
        "pmd-rsv1-cont": f(frame(0x41, two) + frame(0xC0, b""), deflate=1),
        "pmd-not-deflate": f(frame(0xC1, b"\xff\xff\xff"), deflate=1),
        "pmd-bomb": f(frame(0xC2, deflate(bytes(2**20 + 1))), deflate=1),
        "pmd-over-by-tail": f(frame(0x41, over_by_tail) + frame(0x80), deflate=1, max_size=125),
        "pmd-pending": f(frame(0x42, pending) + frame(0x80), deflate=1, max_size=125),
        "pmd-inline": f(frame(0xC1, two), deflate=2, inline=True, seed=2),
    }


def handshake_corpus() -> dict[str, bytes]:
    """name -> handshake_target input."""
    h = encode_handshake_input
    end = b"\r\n"
    return {
        "accepted": h(end, prefix=2),
        "accepted-frames": h(end + frame(0x81, b"hi") + frame(0x89), prefix=2, seed=1),
        "accepted-pmd": h(end + frame(0xC1, deflate(b"hi")), prefix=3, feeder="buffered"),
        "accepted-pmd-params": h(
            b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
            b"server_max_window_bits=10; client_max_window_bits=12\r\n\r\n",
            prefix=2,
        ),
        "pmd-bad-bits": h(
            b"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=16\r\n\r\n",
            prefix=2,
        ),
        "pmd-twice": h(PMD_LINE + end, prefix=3),
        "unknown-extension": h(b"Sec-WebSocket-Extensions: x-unknown\r\n\r\n", prefix=2),
        "subprotocol": h(b"Sec-WebSocket-Protocol: chat\r\n\r\n", prefix=2, seed=9),
        "subprotocol-multiple": h(b"Sec-WebSocket-Protocol: chat, superchat\r\n\r\n", prefix=2),
        "subprotocol-unknown": h(b"Sec-WebSocket-Protocol: other\r\n\r\n", prefix=2),
        "status-only": h(end, prefix=1, eof=True),
        "no-accept": h(b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n", prefix=1),
        "wrong-accept": h(
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n",
            prefix=1,
        ),
        "403-body-eof": h(b"HTTP/1.1 403 Forbidden\r\n\r\ngo away", eof=True, seed=3),
        "403-content-length": h(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno"),
        "403-skip-body": h(b"HTTP/1.1 403 Forbidden\r\n\r\npartial", skip_body=True),
        "content-length-huge": h(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n"),
        "content-length-twice": h(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"
        ),
        "transfer-encoding": h(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
        "http-1.0": h(b"HTTP/1.0 101 Switching Protocols\r\n\r\n", eof=True),
        "bad-status": h(b"HTTP/1.1 abc OK\r\n\r\n"),
        "bad-reason": h(b"HTTP/1.1 101 \x7f\r\n\r\n"),
        "lf-only": h(b"HTTP/1.1 101 OK\nUpgrade: websocket\nConnection: Upgrade\n\n", seed=2),
        "bad-header-line": h(b"bad header line\r\n\r\n", prefix=1),
        "non-ascii-header": h(b"X-Name: caf\xc3\xa9\xff\r\n\r\n", prefix=2),
        "long-line": h(b"X-Long: " + b"a" * 8200 + b"\r\n\r\n", prefix=2),
        "many-headers": h(b"X: y\r\n" * 129 + end, prefix=1),
        "garbage": h(b"\x00\x01\x02 not http at all", eof=True),
        "eof-in-headers": h(b"Upgrade: webso", prefix=1, eof=True),
        "status-line-start": h(STATUS_LINE[:10], eof=True),
        "upgrade-lines-no-end": h(UPGRADE_LINES, eof=True, feeder="buffered"),
    }


def main() -> None:
    for folder, corpus in (("frames", frames_corpus()), ("handshake", handshake_corpus())):
        path = HERE / folder
        path.mkdir(parents=True, exist_ok=True)
        for old in path.iterdir():
            old.unlink()
        for name, data in corpus.items():
            (path / f"{name}.bin").write_bytes(data)
        print(f"{path}: {len(corpus)} files, {sum(map(len, corpus.values()))} bytes")


if __name__ == "__main__":
    main()
