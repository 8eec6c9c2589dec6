"""
The ``User-Agent`` of fastws, plus the header types that websockets 10.x also exposes here.
"""

from __future__ import annotations

import sys

from .datastructures import Headers, MultipleValuesError
from .version import version as fastws_version

__all__ = ["USER_AGENT", "Headers", "MultipleValuesError"]

PYTHON_VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"

USER_AGENT = f"Python/{PYTHON_VERSION} fastws/{fastws_version}"
"""Default ``User-Agent`` header value: ``Python/<major>.<minor> fastws/<version>``."""
