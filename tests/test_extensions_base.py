"""Tests for fastws.extensions.base: the extension interfaces of websockets 10.x."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

import fastws.extensions
from fastws.extensions import base
from fastws.extensions.base import ClientExtensionFactory, Extension, ServerExtensionFactory
from fastws.frames import OP_BINARY, OP_PING, Frame
from fastws.typing import ExtensionName, ExtensionParameter


class Reverse(Extension):
    """Toy extension: reverses data frames and flags them with RSV2."""

    name = ExtensionName("x-reverse")

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Undo encode()."""
        if frame.opcode is OP_PING:
            return frame
        return Frame(frame.opcode, frame.data[::-1], frame.fin, frame.rsv1, False, frame.rsv3)

    def encode(self, frame: Frame) -> Frame:
        """Reverse the payload and set RSV2."""
        if frame.opcode is OP_PING:
            return frame
        return Frame(frame.opcode, frame.data[::-1], frame.fin, frame.rsv1, True, frame.rsv3)


class ReverseFactory(ClientExtensionFactory):
    """Toy factory for Reverse."""

    name = ExtensionName("x-reverse")

    def get_request_params(self) -> list[ExtensionParameter]:
        """Offer no parameters."""
        return []

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> Extension:
        """Accept any answer."""
        return Reverse()


def test_package_reexports_base_names():
    """fastws.extensions exports the three base classes, like websockets.extensions."""
    assert fastws.extensions.__all__ == [
        "Extension",
        "ClientExtensionFactory",
        "ServerExtensionFactory",
    ]
    assert fastws.extensions.Extension is Extension
    assert fastws.extensions.ClientExtensionFactory is ClientExtensionFactory
    assert fastws.extensions.ServerExtensionFactory is ServerExtensionFactory


def test_base_all():
    """The base module's __all__ lists the same three names."""
    assert base.__all__ == ["Extension", "ClientExtensionFactory", "ServerExtensionFactory"]


def test_name_is_declared_not_set():
    """The base classes declare `name` for subclasses without giving it a value."""
    for cls in (Extension, ClientExtensionFactory, ServerExtensionFactory):
        assert "name" in cls.__annotations__
        assert not hasattr(cls, "name")


def test_extension_decode_is_abstract():
    """Extension.decode must be overridden."""
    with pytest.raises(NotImplementedError):
        Extension().decode(Frame(OP_BINARY, b"spam"), max_size=None)


def test_extension_decode_max_size_is_keyword_only():
    """max_size can't be passed positionally, as in websockets 10.x."""
    with pytest.raises(TypeError):
        Extension().decode(Frame(OP_BINARY, b"spam"), 10)  # type: ignore[misc]


def test_extension_encode_is_abstract():
    """Extension.encode must be overridden."""
    with pytest.raises(NotImplementedError):
        Extension().encode(Frame(OP_BINARY, b"spam"))


def test_client_factory_get_request_params_is_abstract():
    """ClientExtensionFactory.get_request_params must be overridden."""
    with pytest.raises(NotImplementedError):
        ClientExtensionFactory().get_request_params()


def test_client_factory_process_response_params_is_abstract():
    """ClientExtensionFactory.process_response_params must be overridden."""
    with pytest.raises(NotImplementedError):
        ClientExtensionFactory().process_response_params([], [])


def test_server_factory_process_request_params_is_abstract():
    """ServerExtensionFactory.process_request_params must be overridden."""
    with pytest.raises(NotImplementedError):
        ServerExtensionFactory().process_request_params([], [])


def test_subclass_negotiates():
    """A subclassed factory turns an answer into its extension."""
    factory = ReverseFactory()
    assert factory.get_request_params() == []
    extension = factory.process_response_params([], [])
    assert isinstance(extension, Extension)
    assert extension.name == factory.name == "x-reverse"


def test_subclass_applies_to_frame_serialize():
    """Frame.serialize runs an extension's encode before writing the header."""
    frame = Frame(OP_BINARY, b"abc")
    assert frame.serialize(mask=False, extensions=[Reverse()]) == b"\xa2\x03cba"


def test_subclass_round_trip():
    """encode then decode gives the original frame back, except the RSV2 flag it owns."""
    extension = Reverse()
    frame = Frame(OP_BINARY, b"abc", fin=False)
    encoded = extension.encode(frame)
    assert encoded == Frame(OP_BINARY, b"cba", fin=False, rsv2=True)
    assert extension.decode(encoded) == frame


def test_subclass_may_return_frame_unchanged():
    """An extension may hand back the very same frame object."""
    ping = Frame(OP_PING, b"")
    assert Reverse().encode(ping) is ping
    assert Reverse().decode(ping) is ping
