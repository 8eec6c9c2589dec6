"""
Keys of the opening handshake (RFC 6455 section 4).
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from .mask import apply_mask

__all__ = ["GUID", "accept_key", "apply_mask", "generate_key"]

# RFC 6455 section 1.3: the "Globally Unique Identifier" appended to Sec-WebSocket-Key.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def generate_key() -> str:
    """
    Make a fresh value for the ``Sec-WebSocket-Key`` request header.

    RFC 6455 section 4.1: "a randomly selected 16-byte value that has been base64-encoded";
    "The nonce MUST be selected randomly for each connection."

    Returns:
        24 characters of base64.
    """
    return base64.b64encode(secrets.token_bytes(16)).decode()


def accept_key(key: str) -> str:
    """
    Compute the ``Sec-WebSocket-Accept`` value the server must answer to ``key``.

    RFC 6455 section 4.2.2: the base64 of the SHA-1 of the key concatenated with the GUID.

    Args:
        key: value of the ``Sec-WebSocket-Key`` header.

    Returns:
        28 characters of base64.
    """
    digest = hashlib.sha1((key + GUID).encode(), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()
