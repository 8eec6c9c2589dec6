"""
Interfaces of WebSocket extensions (RFC 6455 section 9), with the websockets 10.x names.

An extension is negotiated in the opening handshake by a *factory* and then transforms every
frame: :meth:`Extension.encode` on the way out, :meth:`Extension.decode` on the way in.
A client offers one factory per extension it supports; the server's answer turns an offer into
an :class:`Extension` through :meth:`ClientExtensionFactory.process_response_params`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..frames import Frame
from ..typing import ExtensionName, ExtensionParameter

__all__ = ["Extension", "ClientExtensionFactory", "ServerExtensionFactory"]


class Extension:
    """
    An extension in use on a connection: it transforms frames in both directions.

    Subclasses set :attr:`name` and implement :meth:`decode` and :meth:`encode`.

    Attributes:
        name: the extension's registered name, as in the ``Sec-WebSocket-Extensions`` header.
    """

    name: ExtensionName

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """
        Transform a frame received from the peer.

        Args:
            frame: the frame as read from the network.
            max_size: largest payload the decoded frame may carry, in bytes; None for no limit.

        Returns:
            The decoded frame (possibly ``frame`` itself).

        Raises:
            PayloadTooBig: If the decoded payload would exceed ``max_size``.
            ProtocolError: If the frame cannot be decoded.
            NotImplementedError: If a subclass does not override this method.
        """
        raise NotImplementedError

    def encode(self, frame: Frame) -> Frame:
        """
        Transform a frame before it is sent to the peer.

        Args:
            frame: the frame built by the application.

        Returns:
            The encoded frame (possibly ``frame`` itself).

        Raises:
            NotImplementedError: If a subclass does not override this method.
        """
        raise NotImplementedError


class ClientExtensionFactory:
    """
    Client side of an extension's negotiation: builds the offer and checks the answer.

    Attributes:
        name: the extension's registered name, as in the ``Sec-WebSocket-Extensions`` header.
    """

    name: ExtensionName

    def get_request_params(self) -> list[ExtensionParameter]:
        """
        Return the parameters of this extension's offer in the opening handshake request.

        Returns:
            ``(name, value)`` pairs; a value of None sends the parameter without ``=value``.

        Raises:
            NotImplementedError: If a subclass does not override this method.
        """
        raise NotImplementedError

    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> Extension:
        """
        Accept the server's answer to the offer and return the extension to use.

        Args:
            params: parameters the server sent back for this extension.
            accepted_extensions: extensions already accepted earlier in the same header.

        Returns:
            The extension configured with the agreed parameters.

        Raises:
            NegotiationError: If the answer is not acceptable.
            NotImplementedError: If a subclass does not override this method.
        """
        raise NotImplementedError


class ServerExtensionFactory:
    """
    Server side of an extension's negotiation (kept so websockets 10.x imports keep working).

    Attributes:
        name: the extension's registered name, as in the ``Sec-WebSocket-Extensions`` header.
    """

    name: ExtensionName

    def process_request_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> tuple[list[ExtensionParameter], Extension]:
        """
        Answer a client's offer for this extension.

        Args:
            params: parameters the client offered for this extension.
            accepted_extensions: extensions already accepted earlier in the same header.

        Returns:
            The parameters to send back and the extension configured with them.

        Raises:
            NegotiationError: To decline the offer.
            NotImplementedError: If a subclass does not override this method.
        """
        raise NotImplementedError
