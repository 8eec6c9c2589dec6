"""Tests for fastws.http."""

from __future__ import annotations

import sys

from fastws import datastructures, http
from fastws.version import version


def test_user_agent() -> None:
    """USER_AGENT names the Python version and the fastws version."""
    expected = f"Python/{sys.version_info.major}.{sys.version_info.minor} fastws/{version}"
    assert http.USER_AGENT == expected


def test_reexports() -> None:
    """Headers and MultipleValuesError are still importable from http, as in 10.x."""
    assert http.Headers is datastructures.Headers
    assert http.MultipleValuesError is datastructures.MultipleValuesError
