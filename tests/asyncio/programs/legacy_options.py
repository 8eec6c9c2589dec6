"""
An older client, written for websockets 8/9 and run on 10.x: it still passes ``timeout=`` and
reads ``ws.host`` / ``ws.port`` / ``ws.secure``, and silences those deprecation warnings by
their message, so that its users don't see them.
"""

import warnings

import websockets

QUIET = [
    "rename timeout to close_timeout",
    r"use remote_address\[0\] instead of host",
    r"use remote_address\[1\] instead of port",
    "don't use secure",
    "websockets.parse_uri is deprecated",
]


def silence_deprecations():
    for message in QUIET:
        warnings.filterwarnings("ignore", message=message, category=DeprecationWarning)


async def ping_pong(uri):
    """Say hello; return who answered and what."""
    secure = websockets.parse_uri(uri).secure
    ws = await websockets.connect(uri, timeout=2)
    try:
        peer = f"{ws.host}:{ws.port}" + (" (TLS)" if ws.secure else "")
        assert ws.secure == secure
        await ws.send("hello")
        reply = await ws.recv()
    finally:
        await ws.close()
    return peer, reply
