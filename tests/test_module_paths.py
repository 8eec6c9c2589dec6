"""
The module paths and names of websockets 10.4 that client code imports, at the same paths in
fastws, each the same object as its canonical name (docs/api.md, "Module paths").

The lists below were read from the websockets 10.4 sources (each module's ``__all__``, plus the
module-level names client code uses: ``Connect``, ``State``, the constants...).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings
from typing import Any

import pytest

import fastws
from fastws import (
    client,
    connection,
    datastructures,
    exceptions,
    frames,
    headers,
    http,
    http11,
    streams,
    typing,
    uri,
    utils,
    version,
)
from fastws.asyncio import client as asyncio_client
from fastws.asyncio import protocol as asyncio_protocol
from fastws.extensions import base, permessage_deflate
from fastws.legacy import framing as legacy_framing
from fastws.legacy import handshake as legacy_handshake
from fastws.legacy import http as legacy_http
from fastws.legacy import protocol as legacy_protocol

EXCEPTIONS = [
    "WebSocketException",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "InvalidHandshake",
    "SecurityError",
    "InvalidMessage",
    "InvalidHeader",
    "InvalidHeaderFormat",
    "InvalidHeaderValue",
    "InvalidOrigin",
    "InvalidUpgrade",
    "InvalidStatus",
    "InvalidStatusCode",
    "NegotiationError",
    "DuplicateParameter",
    "InvalidParameterName",
    "InvalidParameterValue",
    "AbortHandshake",
    "RedirectHandshake",
    "InvalidState",
    "InvalidURI",
    "PayloadTooBig",
    "ProtocolError",
    "WebSocketProtocolError",
]

HEADERS = [
    "build_host",
    "parse_connection",
    "parse_upgrade",
    "parse_extension",
    "build_extension",
    "parse_subprotocol",
    "build_subprotocol",
    "validate_subprotocols",
    "build_www_authenticate_basic",
    "parse_authorization_basic",
    "build_authorization_basic",
]

FRAMES = [
    "Opcode",
    "OP_CONT",
    "OP_TEXT",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_PING",
    "OP_PONG",
    "DATA_OPCODES",
    "CTRL_OPCODES",
    "Frame",
    "prepare_data",
    "prepare_ctrl",
    "Close",
    "CLOSE_CODES",
    "OK_CLOSE_CODES",
    "EXTERNAL_CLOSE_CODES",
]

EXTENSIONS = ["Extension", "ClientExtensionFactory", "ServerExtensionFactory"]

PERMESSAGE_DEFLATE = [
    "PerMessageDeflate",
    "ClientPerMessageDeflateFactory",
    "enable_client_permessage_deflate",
    "ServerPerMessageDeflateFactory",
    "enable_server_permessage_deflate",
]

TYPING = [
    "Data",
    "LoggerLike",
    "Origin",
    "Subprotocol",
    "ExtensionName",
    "ExtensionParameter",
    "ExtensionHeader",
    "ConnectionOption",
    "UpgradeProtocol",
]


def names(module: Any, *wanted: str) -> dict[str, Any]:
    """{name: object} of ``module``, for the canonical side of the table."""
    return {name: getattr(module, name) for name in wanted}


# fastws module path -> {name: the canonical object}. Canonical: where fastws defines it.
CANONICAL: dict[str, dict[str, Any]] = {
    "client": {
        "ClientConnection": client.ClientConnection,
        **names(asyncio_client, "connect", "unix_connect"),
        "WebSocketClientProtocol": asyncio_protocol.WebSocketClientProtocol,
    },
    "connection": names(
        connection,
        "Connection",
        "Side",
        "State",
        "SEND_EOF",
        "CLIENT",
        "SERVER",
        "CONNECTING",
        "OPEN",
        "CLOSING",
        "CLOSED",
    ),
    "datastructures": names(datastructures, "Headers", "HeadersLike", "MultipleValuesError"),
    "exceptions": names(exceptions, *EXCEPTIONS),
    "extensions": names(base, *EXTENSIONS),
    "extensions.base": names(base, *EXTENSIONS),
    "extensions.permessage_deflate": names(permessage_deflate, *PERMESSAGE_DEFLATE),
    "frames": names(frames, *FRAMES),
    "headers": names(headers, *HEADERS),
    "http": {
        "USER_AGENT": http.USER_AGENT,
        **names(datastructures, "Headers", "MultipleValuesError"),
    },
    "http11": names(http11, "Request", "Response", "MAX_HEADERS", "MAX_LINE", "MAX_BODY"),
    "legacy.client": {
        **names(asyncio_client, "connect", "unix_connect", "Connect"),
        "WebSocketClientProtocol": asyncio_protocol.WebSocketClientProtocol,
    },
    "legacy.framing": {
        **names(legacy_framing, "Frame", "parse_close", "serialize_close"),
        "Close": frames.Close,
        "prepare_data": frames.prepare_data,
        "encode_data": frames.prepare_ctrl,
    },
    "legacy.handshake": names(legacy_handshake, "build_request", "check_response"),
    "legacy.http": {
        **names(legacy_http, "read_response", "read_headers", "read_line"),
        **names(http11, "MAX_HEADERS", "MAX_LINE"),
    },
    "legacy.protocol": {
        "WebSocketCommonProtocol": asyncio_protocol.WebSocketCommonProtocol,
        "broadcast": legacy_protocol.broadcast,
        "State": connection.State,
    },
    "streams": names(streams, "StreamReader"),
    "typing": names(typing, *TYPING),
    "uri": names(uri, "parse_uri", "WebSocketURI"),
    "utils": names(utils, "accept_key", "apply_mask", "generate_key", "GUID"),
    "version": names(version, "tag", "version", "commit"),
}

# websockets 10.4 __init__: lazy names (client side) -> canonical object.
TOP_LEVEL: dict[str, Any] = {
    **names(asyncio_client, "connect", "unix_connect"),
    **names(asyncio_protocol, "WebSocketClientProtocol", "WebSocketCommonProtocol"),
    "broadcast": legacy_protocol.broadcast,
    "protocol": legacy_protocol,
    "ClientConnection": client.ClientConnection,
    **names(datastructures, "Headers", "MultipleValuesError"),
    **names(exceptions, *EXCEPTIONS),
    **names(typing, "Data", "LoggerLike", "Origin", "ExtensionHeader", "ExtensionParameter"),
    **names(typing, "Subprotocol", "ExtensionName"),
}

# websockets 10.4 __init__: deprecated lazy names -> canonical object.
TOP_LEVEL_DEPRECATED: dict[str, Any] = {
    "framing": legacy_framing,
    "handshake": legacy_handshake,
    "parse_uri": uri.parse_uri,
    "WebSocketURI": uri.WebSocketURI,
}

# Server-side names of websockets 10.4 that fastws leaves out (docs/api.md).
SERVER_ONLY_TOP_LEVEL = [
    "auth",
    "basic_auth_protocol_factory",
    "BasicAuthWebSocketServerProtocol",
    "serve",
    "unix_serve",
    "ServerConnection",
    "WebSocketServer",
    "WebSocketServerProtocol",
]
SERVER_ONLY_MODULES = ["server", "auth", "legacy.server", "legacy.auth"]


@pytest.mark.parametrize(
    ("path", "name"),
    [(path, name) for path, table in CANONICAL.items() for name in table],
)
def test_module_path(path: str, name: str) -> None:
    """``from fastws.<path> import <name>`` gives the canonical object, not a copy."""
    module = importlib.import_module(f"fastws.{path}")
    assert getattr(module, name) is CANONICAL[path][name]


def test_legacy_all() -> None:
    """The legacy modules' ``__all__`` are websockets 10.4's, without the server's names."""
    assert set(importlib.import_module("fastws.legacy.client").__all__) == {
        "connect",
        "unix_connect",
        "WebSocketClientProtocol",
    }
    assert set(legacy_protocol.__all__) == {"WebSocketCommonProtocol", "broadcast"}
    assert set(legacy_handshake.__all__) == {"build_request", "check_response"}
    assert legacy_http.__all__ == ["read_response"]
    for module in (legacy_protocol, legacy_handshake, legacy_http, legacy_framing):
        for name in module.__all__:
            assert hasattr(module, name)


@pytest.mark.parametrize("name", sorted(TOP_LEVEL))
def test_top_level(name: str) -> None:
    """``fastws.<name>`` (and resolving it afresh) gives the canonical object."""
    assert getattr(fastws, name) is TOP_LEVEL[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fastws.__getattr__(name) is TOP_LEVEL[name]


@pytest.mark.parametrize("name", sorted(TOP_LEVEL_DEPRECATED))
def test_top_level_deprecated(name: str) -> None:
    """The names 10.4 deprecates warn with 10.4's text, every time, and still resolve."""
    for _ in range(2):
        with pytest.warns(DeprecationWarning) as record:
            value = getattr(fastws, name)
        assert [str(w.message) for w in record] == [f"websockets.{name} is deprecated"]
        assert record[0].filename == __file__  # points at the caller
        assert value is TOP_LEVEL_DEPRECATED[name]


def test_protocol_state() -> None:
    """``websockets.protocol.State.OPEN``: what libraries compare ``ws.state`` with."""
    assert fastws.protocol.State.OPEN is connection.State.OPEN
    assert fastws.protocol is importlib.import_module("fastws.legacy.protocol")


def test_submodules_on_attribute_access() -> None:
    """Submodules resolve as attributes even before anything imported them."""
    for name in ("exceptions", "client", "legacy", "uri"):
        assert fastws.__getattr__(name) is importlib.import_module(f"fastws.{name}")


@pytest.mark.parametrize("name", [*SERVER_ONLY_TOP_LEVEL, "nonexistent", "asyncio_client"])
def test_left_out(name: str) -> None:
    """Server-side names aren't there: AttributeError, as for any unknown name."""
    with pytest.raises(AttributeError, match=f"module 'fastws' has no attribute '{name}'"):
        fastws.__getattr__(name)


@pytest.mark.parametrize("path", SERVER_ONLY_MODULES)
def test_server_modules_left_out(path: str) -> None:
    """Server-side modules aren't there."""
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(f"fastws.{path}")


def test_all_and_dir() -> None:
    """Every name of ``__all__`` resolves; ``dir()`` lists the lazy names too."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # parse_uri, WebSocketURI
        for name in fastws.__all__:
            assert getattr(fastws, name) is not None
    listed = dir(fastws)
    for name in [*TOP_LEVEL, *TOP_LEVEL_DEPRECATED, "exceptions", "legacy", "__version__"]:
        assert name in listed
    assert listed == sorted(listed)


def test_http_read_response_deprecated() -> None:
    """``websockets.http.read_response``: deprecated alias of legacy.http's, as in 10.4."""
    with pytest.warns(DeprecationWarning) as record:
        value = http.read_response  # type: ignore[attr-defined]
    assert [str(w.message) for w in record] == ["websockets.http.read_response is deprecated"]
    assert value is legacy_http.read_response
    with pytest.raises(AttributeError, match="has no attribute 'read_request'"):
        http.read_request  # type: ignore[attr-defined]  # noqa: B018 - server side


def test_import_is_lazy() -> None:
    """``import fastws`` imports only itself and its version, as websockets 10.4."""
    code = (
        "import sys, fastws\n"
        "print(sorted(m for m in sys.modules if m.startswith('fastws')))\n"
        "print('asyncio' in sys.modules)\n"
        "fastws.protocol.State\n"
        "print('fastws.asyncio.protocol' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.split("\n")[:3] == ["['fastws', 'fastws.version']", "False", "True"]
