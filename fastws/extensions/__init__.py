"""WebSocket extensions: the interfaces, re-exported as in websockets 10.x."""

from .base import ClientExtensionFactory, Extension, ServerExtensionFactory

__all__ = ["Extension", "ClientExtensionFactory", "ServerExtensionFactory"]
