"""Tests for fastws.utils."""

from __future__ import annotations

import base64

from fastws import mask, utils
from fastws.utils import accept_key, generate_key

# RFC 6455 section 1.3, the sample handshake.
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_generate_key_format() -> None:
    """The key is the base64 of 16 bytes."""
    key = generate_key()
    assert len(key) == 24
    assert len(base64.b64decode(key, validate=True)) == 16


def test_generate_key_is_random() -> None:
    """Two keys differ."""
    assert generate_key() != generate_key()


def test_accept_key_rfc_example() -> None:
    """accept_key() gives the value of RFC 6455 section 1.3."""
    assert accept_key(RFC_KEY) == RFC_ACCEPT


def test_apply_mask_reexported() -> None:
    """apply_mask is importable from utils, as in 10.x, and is the one from mask."""
    assert utils.apply_mask is mask.apply_mask
    assert utils.apply_mask(b"\x00\x00\x00\x00\x00", b"\x01\x02\x03\x04") == b"\x01\x02\x03\x04\x01"
