"""
``fastws`` / ``python -m fastws``: the command line (see :mod:`fastws.cli`).

``fastws bench [URL]`` is the load tool (with no URL it starts an embedded feed server), and
``fastws connect URL`` the interactive client; ``fastws`` alone runs ``fastws bench``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .cli import main as _cli_main

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the ``fastws`` command line; return the exit status (the console-script entry point).

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
    """
    return _cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
