"""
The ``User-Agent`` of fastws, plus the header types that websockets 10.x also exposes here.

``read_response`` is still importable from here, deprecated, as in websockets 10.x; it lives in
:mod:`fastws.legacy.http`.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

from .datastructures import Headers, MultipleValuesError
from .version import version as fastws_version

__all__ = ["USER_AGENT", "Headers", "MultipleValuesError"]

PYTHON_VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"

USER_AGENT = f"Python/{PYTHON_VERSION} fastws/{fastws_version}"
"""Default ``User-Agent`` header value: ``Python/<major>.<minor> fastws/<version>``."""


def __getattr__(name: str) -> Any:
    """``read_response``: deprecated here, with websockets 10.x's warning (PEP 562)."""
    if name == "read_response":
        warnings.warn(
            "websockets.http.read_response is deprecated", DeprecationWarning, stacklevel=2
        )
        from .legacy.http import read_response

        return read_response
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
