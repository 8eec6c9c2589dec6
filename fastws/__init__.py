"""fastws: a fast asyncio WebSocket client with the websockets 10.x client API."""

from .version import version as __version__

__all__ = ["__version__"]
