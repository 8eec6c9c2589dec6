"""The fastws version (``tag`` and ``commit`` too, as websockets 10.x names them)."""

version = "0.1.0"

__all__ = ["tag", "version", "commit"]

tag = commit = version
