"""Tests for fastws.extensions.permessage_deflate (RFC 7692), checked against websockets 10.3."""

from __future__ import annotations

import dataclasses
import itertools
import random
import zlib
from collections.abc import Generator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastws.exceptions import (
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)
from fastws.extensions.base import ClientExtensionFactory, Extension, ServerExtensionFactory
from fastws.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from fastws.frames import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, Frame
from fastws.typing import ExtensionName, ExtensionParameter

TAIL = b"\x00\x00\xff\xff"


# Helpers.


def params_header(name: str, params: Sequence[ExtensionParameter]) -> str:
    """Format one Sec-WebSocket-Extensions element by hand (headers.py is tested elsewhere)."""
    parts = [name] + [key if value is None else f"{key}={value}" for key, value in params]
    return "; ".join(parts)


def noise(size: int) -> bytes:
    """Return size incompressible bytes, the same on every run."""
    return random.Random(size).randbytes(size)


def stored_block(data: bytes) -> bytes:
    """Return a non-final DEFLATE stored block (BTYPE 00) holding data, at most 65535 bytes."""
    size = len(data)
    return b"\x00" + size.to_bytes(2, "little") + (size ^ 0xFFFF).to_bytes(2, "little") + data


def deflate(data: bytes, wbits: int = 15) -> bytes:
    """Compress data as one message, without the trailing 00 00 ff ff."""
    compressor = zlib.compressobj(wbits=-wbits)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def parse(wire: bytes, extensions: Sequence[Extension], max_size: int | None = None) -> Frame:
    """Parse one unmasked frame with Frame.parse and the given extensions."""
    position = 0

    def read_exact(n: int) -> Generator[None, None, bytes]:
        nonlocal position
        chunk = wire[position : position + n]
        position += n
        return chunk
        yield  # pragma: no cover

    parser = Frame.parse(read_exact, mask=False, max_size=max_size, extensions=extensions)
    with pytest.raises(StopIteration) as stop:
        next(parser)
    frame: Frame = stop.value.value
    return frame


def client(**kwargs: Any) -> ClientPerMessageDeflateFactory:
    """Return a client factory configured with kwargs."""
    return ClientPerMessageDeflateFactory(**kwargs)


def agreed(extension: PerMessageDeflate) -> tuple[bool, bool, int, int]:
    """Return the four agreed parameters of an extension."""
    return (
        extension.remote_no_context_takeover,
        extension.local_no_context_takeover,
        extension.remote_max_window_bits,
        extension.local_max_window_bits,
    )


def pair(
    no_context_takeover: tuple[bool, bool] = (False, False),
    max_window_bits: tuple[int, int] = (15, 15),
) -> tuple[PerMessageDeflate, PerMessageDeflate]:
    """Return a client extension and the server extension that mirrors it."""
    client_nct, server_nct = no_context_takeover
    client_bits, server_bits = max_window_bits
    return (
        PerMessageDeflate(server_nct, client_nct, server_bits, client_bits),
        PerMessageDeflate(client_nct, server_nct, client_bits, server_bits),
    )


class FakeEncoder:
    """A compressor whose flush doesn't end with 00 00 ff ff."""

    def compress(self, data: bytes) -> bytes:
        """Return nothing, like zlib for a small input."""
        return b""

    def flush(self, mode: int) -> bytes:
        """Return an arbitrary ending."""
        return b"\x03\x00"


# RFC 7692 section 7.1: the client's offer (ClientPerMessageDeflateFactory).


class TestClientFactoryConstructor:
    """7.1: the client factory's arguments and their validation."""

    def test_defaults(self):
        """Defaults match websockets 10.1+: only client_max_window_bits, without a value."""
        factory = ClientPerMessageDeflateFactory()
        assert factory.server_no_context_takeover is False
        assert factory.client_no_context_takeover is False
        assert factory.server_max_window_bits is None
        assert factory.client_max_window_bits is True
        assert factory.compress_settings is None

    def test_is_a_client_extension_factory(self):
        """The factory is a ClientExtensionFactory named permessage-deflate."""
        factory = ClientPerMessageDeflateFactory()
        assert isinstance(factory, ClientExtensionFactory)
        assert factory.name == ExtensionName("permessage-deflate")

    @pytest.mark.parametrize("bits", [8, 9, 12, 15])
    def test_valid_window_bits(self, bits):
        """Window sizes 8 to 15 are accepted for both parameters."""
        factory = client(server_max_window_bits=bits, client_max_window_bits=bits)
        assert (factory.server_max_window_bits, factory.client_max_window_bits) == (bits, bits)

    @pytest.mark.parametrize("bits", [0, 7, 16, False, True])
    def test_invalid_server_max_window_bits(self, bits):
        """server_max_window_bits outside 8 to 15 (True and False included) is a ValueError."""
        with pytest.raises(ValueError) as raised:
            client(server_max_window_bits=bits)
        assert str(raised.value) == "server_max_window_bits must be between 8 and 15"

    @pytest.mark.parametrize("bits", [0, 7, 16, False])
    def test_invalid_client_max_window_bits(self, bits):
        """client_max_window_bits outside 8 to 15 (False included) is a ValueError."""
        with pytest.raises(ValueError) as raised:
            client(client_max_window_bits=bits)
        assert str(raised.value) == "client_max_window_bits must be between 8 and 15"

    def test_client_max_window_bits_none(self):
        """client_max_window_bits=None leaves the parameter out of the offer."""
        assert client(client_max_window_bits=None).get_request_params() == []

    def test_wbits_in_compress_settings(self):
        """compress_settings may not choose the window size."""
        with pytest.raises(ValueError) as raised:
            client(compress_settings={"wbits": 12})
        assert str(raised.value) == (
            "compress_settings must not include wbits, set client_max_window_bits instead"
        )

    def test_server_bits_checked_before_client_bits(self):
        """With both window sizes wrong, server_max_window_bits is reported, as in 10.x."""
        with pytest.raises(ValueError, match="server_max_window_bits"):
            client(server_max_window_bits=7, client_max_window_bits=7)

    def test_window_bits_checked_before_compress_settings(self):
        """A bad window size is reported before a bad compress_settings, as in 10.x."""
        with pytest.raises(ValueError, match="between 8 and 15"):
            client(client_max_window_bits=16, compress_settings={"wbits": 9})


class TestClientOffer:
    """7.1: the parameters a client offers."""

    @pytest.mark.parametrize(
        ("kwargs", "params"),
        [
            ({}, [("client_max_window_bits", None)]),
            ({"client_max_window_bits": None}, []),
            ({"client_max_window_bits": 10}, [("client_max_window_bits", "10")]),
            (
                {"server_no_context_takeover": True},
                [("server_no_context_takeover", None), ("client_max_window_bits", None)],
            ),
            (
                {"client_no_context_takeover": True, "client_max_window_bits": None},
                [("client_no_context_takeover", None)],
            ),
            (
                {"server_max_window_bits": 9, "client_max_window_bits": None},
                [("server_max_window_bits", "9")],
            ),
            (
                {
                    "server_no_context_takeover": True,
                    "client_no_context_takeover": True,
                    "server_max_window_bits": 12,
                    "client_max_window_bits": 12,
                },
                [
                    ("server_no_context_takeover", None),
                    ("client_no_context_takeover", None),
                    ("server_max_window_bits", "12"),
                    ("client_max_window_bits", "12"),
                ],
            ),
        ],
    )
    def test_get_request_params(self, kwargs, params):
        """Each argument adds its parameter, in the order of websockets 10.x."""
        assert client(**kwargs).get_request_params() == params

    def test_default_header(self):
        """The default offer is `permessage-deflate; client_max_window_bits` (10.1+)."""
        factory = ClientPerMessageDeflateFactory()
        header = params_header(factory.name, factory.get_request_params())
        assert header == "permessage-deflate; client_max_window_bits"


# RFC 7692 section 7.1: the server's answer, as seen by the client.


class TestClientResponseParameters:
    """7: the response's parameters must be known, unique and valid."""

    @pytest.mark.parametrize("name", ["foo", "server_max_window_bit", "Server_No_Context_Takeover"])
    def test_unknown_parameter(self, name):
        """An unknown parameter name is InvalidParameterName."""
        with pytest.raises(InvalidParameterName) as raised:
            client().process_response_params([(name, None)], [])
        assert str(raised.value) == f"invalid parameter name: {name}"

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("server_no_context_takeover", None),
            ("client_no_context_takeover", None),
            ("server_max_window_bits", "10"),
            ("client_max_window_bits", "10"),
        ],
    )
    def test_duplicate_parameter(self, name, value):
        """A parameter given twice is DuplicateParameter."""
        with pytest.raises(DuplicateParameter) as raised:
            client(client_max_window_bits=12).process_response_params(
                [(name, value), (name, value)], []
            )
        assert str(raised.value) == f"duplicate parameter: {name}"

    def test_duplicate_reported_before_invalid_value(self):
        """A repeated parameter with a bad second value is still DuplicateParameter."""
        with pytest.raises(DuplicateParameter):
            client().process_response_params(
                [("server_max_window_bits", "10"), ("server_max_window_bits", "99")], []
            )

    def test_unknown_reported_before_other_errors(self):
        """Parameters are checked in order: the first problem wins."""
        with pytest.raises(InvalidParameterName):
            client().process_response_params([("foo", None), ("server_max_window_bits", "99")], [])

    @pytest.mark.parametrize(
        ("name", "value", "message"),
        [
            (
                "server_no_context_takeover",
                "1",
                "invalid value for parameter server_no_context_takeover: 1",
            ),
            (
                "client_no_context_takeover",
                "",
                "empty value for parameter client_no_context_takeover",
            ),
            ("server_max_window_bits", None, "missing value for parameter server_max_window_bits"),
            (
                "server_max_window_bits",
                "7",
                "invalid value for parameter server_max_window_bits: 7",
            ),
            (
                "server_max_window_bits",
                "16",
                "invalid value for parameter server_max_window_bits: 16",
            ),
            (
                "server_max_window_bits",
                "08",
                "invalid value for parameter server_max_window_bits: 08",
            ),
            (
                "server_max_window_bits",
                " 9",
                "invalid value for parameter server_max_window_bits:  9",
            ),
            ("server_max_window_bits", "", "empty value for parameter server_max_window_bits"),
            # Only an offer may carry client_max_window_bits without a value.
            ("client_max_window_bits", None, "missing value for parameter client_max_window_bits"),
            (
                "client_max_window_bits",
                "x",
                "invalid value for parameter client_max_window_bits: x",
            ),
        ],
    )
    def test_invalid_value(self, name, value, message):
        """A value that isn't allowed is InvalidParameterValue."""
        with pytest.raises(InvalidParameterValue) as raised:
            client(client_max_window_bits=15).process_response_params([(name, value)], [])
        assert str(raised.value) == message

    def test_parameter_errors_are_negotiation_errors(self):
        """All three parameter errors derive from NegotiationError."""
        for error in (InvalidParameterName, DuplicateParameter, InvalidParameterValue):
            assert issubclass(error, NegotiationError)

    def test_duplicate_extension(self):
        """7: accepting permessage-deflate twice is refused."""
        accepted = [PerMessageDeflate(False, False, 15, 15)]
        with pytest.raises(NegotiationError) as raised:
            client().process_response_params([], accepted)
        assert str(raised.value) == "received duplicate permessage-deflate"
        assert type(raised.value) is NegotiationError

    def test_other_accepted_extension(self):
        """Another extension accepted before doesn't matter."""

        class Other(Extension):
            name = ExtensionName("x-other")

        extension = client().process_response_params([], [Other()])
        assert agreed(extension) == (False, False, 15, 15)

    def test_returns_per_message_deflate(self):
        """An empty answer to the default offer gives 15-bit windows with context takeover."""
        extension = client().process_response_params([], [])
        assert isinstance(extension, PerMessageDeflate)
        assert agreed(extension) == (False, False, 15, 15)

    def test_compress_settings_reach_the_extension(self):
        """compress_settings are handed to the extension."""
        extension = client(compress_settings={"memLevel": 4}).process_response_params([], [])
        assert extension.compress_settings == {"memLevel": 4}

    def test_no_compress_settings(self):
        """Without compress_settings the extension gets an empty dict."""
        assert client().process_response_params([], []).compress_settings == {}


def respond(
    offer: dict[str, Any], params: list[ExtensionParameter]
) -> tuple[bool, bool, int, int] | tuple[type[Exception], str]:
    """Negotiate: the agreed parameters, or the exception type and message."""
    try:
        extension = client(**offer).process_response_params(params, [])
    except NegotiationError as exc:
        return type(exc), str(exc)
    return agreed(extension)


class TestServerNoContextTakeover:
    """7.1.1.1: server_no_context_takeover (remote_no_context_takeover on the client)."""

    @pytest.mark.parametrize(
        ("requested", "answered", "result"),
        [
            (False, False, (False, False, 15, 15)),
            (False, True, (True, False, 15, 15)),
            (True, False, (NegotiationError, "expected server_no_context_takeover")),
            (True, True, (True, False, 15, 15)),
        ],
    )
    def test_table(self, requested, answered, result):
        """Asked for but missing is an error; the server may also add it unasked."""
        params = [("server_no_context_takeover", None)] if answered else []
        assert respond({"server_no_context_takeover": requested}, params) == result


class TestClientNoContextTakeover:
    """7.1.1.2: client_no_context_takeover (local_no_context_takeover on the client)."""

    @pytest.mark.parametrize(
        ("requested", "answered", "result"),
        [
            (False, False, (False, False, 15, 15)),
            (False, True, (False, True, 15, 15)),
            (True, False, (False, True, 15, 15)),
            (True, True, (False, True, 15, 15)),
        ],
    )
    def test_table(self, requested, answered, result):
        """If either side names it, the client resets its window after each message."""
        params = [("client_no_context_takeover", None)] if answered else []
        assert respond({"client_no_context_takeover": requested}, params) == result


class TestServerMaxWindowBits:
    """7.1.2.1: server_max_window_bits (remote_max_window_bits on the client)."""

    @pytest.mark.parametrize(
        ("requested", "answered", "result"),
        [
            (None, None, (False, False, 15, 15)),
            (None, 8, (False, False, 8, 15)),
            (None, 12, (False, False, 12, 15)),
            (None, 15, (False, False, 15, 15)),
            (12, None, (NegotiationError, "expected server_max_window_bits")),
            (12, 8, (False, False, 8, 15)),
            (12, 11, (False, False, 11, 15)),
            (12, 12, (False, False, 12, 15)),
            (12, 13, (NegotiationError, "unsupported server_max_window_bits")),
            (8, 15, (NegotiationError, "unsupported server_max_window_bits")),
            (15, 15, (False, False, 15, 15)),
        ],
    )
    def test_table(self, requested, answered, result):
        """The answer must carry it when asked, with the same or a smaller value."""
        params = [] if answered is None else [("server_max_window_bits", str(answered))]
        assert respond({"server_max_window_bits": requested}, params) == result


class TestClientMaxWindowBits:
    """7.1.2.2: client_max_window_bits (local_max_window_bits on the client)."""

    @pytest.mark.parametrize(
        ("requested", "answered", "result"),
        [
            (None, None, (False, False, 15, 15)),
            (None, 8, (NegotiationError, "unexpected client_max_window_bits")),
            (None, 15, (NegotiationError, "unexpected client_max_window_bits")),
            (True, None, (False, False, 15, 15)),
            (True, 9, (False, False, 15, 9)),
            (True, 15, (False, False, 15, 15)),
            (12, None, (False, False, 15, 12)),
            (12, 9, (False, False, 15, 9)),
            (12, 12, (False, False, 15, 12)),
            (12, 13, (NegotiationError, "unsupported client_max_window_bits")),
            (9, 15, (NegotiationError, "unsupported client_max_window_bits")),
        ],
    )
    def test_table(self, requested, answered, result):
        """Never answered unless offered; a value offered is a limit and the default."""
        params = [] if answered is None else [("client_max_window_bits", str(answered))]
        assert respond({"client_max_window_bits": requested}, params) == result


class TestCombinedResponse:
    """7.1: all four parameters together."""

    def test_everything_agreed(self):
        """A full answer to a full offer."""
        offer = {
            "server_no_context_takeover": True,
            "client_no_context_takeover": True,
            "server_max_window_bits": 12,
            "client_max_window_bits": 11,
        }
        params = [
            ("client_max_window_bits", "10"),
            ("server_max_window_bits", "9"),
            ("client_no_context_takeover", None),
            ("server_no_context_takeover", None),
        ]
        assert respond(offer, params) == (True, True, 9, 10)

    def test_first_failing_rule_wins(self):
        """server_no_context_takeover is checked before the window sizes, as in 10.x."""
        offer = {"server_no_context_takeover": True, "server_max_window_bits": 10}
        assert respond(offer, []) == (NegotiationError, "expected server_no_context_takeover")

    def test_server_bits_checked_before_client_bits(self):
        """server_max_window_bits is checked before client_max_window_bits, as in 10.x."""
        offer = {"server_max_window_bits": 10, "client_max_window_bits": None}
        params = [("client_max_window_bits", "10")]
        assert respond(offer, params) == (NegotiationError, "expected server_max_window_bits")


class TestEnableClientPermessageDeflate:
    """compression="deflate": enable_client_permessage_deflate."""

    def test_none(self):
        """None becomes a list holding the default factory."""
        extensions = enable_client_permessage_deflate(None)
        assert len(extensions) == 1
        (factory,) = extensions
        assert isinstance(factory, ClientPerMessageDeflateFactory)
        assert factory.compress_settings == {"memLevel": 5}

    def test_default_request_header(self):
        """The default offer reads `permessage-deflate; client_max_window_bits`."""
        (factory,) = enable_client_permessage_deflate(None)
        header = params_header(factory.name, factory.get_request_params())
        assert header == "permessage-deflate; client_max_window_bits"

    def test_empty(self):
        """An empty list gets the default factory in a new list."""
        extensions: list[ClientExtensionFactory] = []
        result = enable_client_permessage_deflate(extensions)
        assert len(result) == 1
        assert extensions == []

    def test_appended_after_others(self):
        """Other factories are kept, in order, and the input isn't mutated."""

        class Other(ClientExtensionFactory):
            name = ExtensionName("x-other")

        other = Other()
        extensions = (other,)
        result = enable_client_permessage_deflate(extensions)
        assert result[0] is other
        assert isinstance(result[1], ClientPerMessageDeflateFactory)
        assert extensions == (other,)

    def test_existing_factory_kept(self):
        """A factory already named permessage-deflate is left alone with its settings."""
        factory = ClientPerMessageDeflateFactory(server_max_window_bits=10)
        extensions = [factory]
        assert enable_client_permessage_deflate(extensions) is extensions
        assert factory.server_max_window_bits == 10

    def test_negotiates_with_empty_answer(self):
        """The default factory agrees on 15-bit windows with an empty answer."""
        (factory,) = enable_client_permessage_deflate(None)
        extension = factory.process_response_params([], [])
        assert agreed(extension) == (False, False, 15, 15)
        assert extension.compress_settings == {"memLevel": 5}


# Server side, kept for import compatibility.


class TestServerFactory:
    """7.1: ServerPerMessageDeflateFactory, the server's answer to an offer."""

    def test_defaults(self):
        """Defaults match websockets 10.x."""
        factory = ServerPerMessageDeflateFactory()
        assert isinstance(factory, ServerExtensionFactory)
        assert factory.name == "permessage-deflate"
        assert vars(factory) == {
            "server_no_context_takeover": False,
            "client_no_context_takeover": False,
            "server_max_window_bits": None,
            "client_max_window_bits": None,
            "compress_settings": None,
            "require_client_max_window_bits": False,
        }

    @pytest.mark.parametrize("bits", [7, 16, True])
    def test_invalid_server_max_window_bits(self, bits):
        """server_max_window_bits outside 8 to 15 is a ValueError."""
        with pytest.raises(ValueError) as raised:
            ServerPerMessageDeflateFactory(server_max_window_bits=bits)
        assert str(raised.value) == "server_max_window_bits must be between 8 and 15"

    @pytest.mark.parametrize("bits", [7, 16, True])
    def test_invalid_client_max_window_bits(self, bits):
        """client_max_window_bits outside 8 to 15 is a ValueError; True isn't allowed here."""
        with pytest.raises(ValueError) as raised:
            ServerPerMessageDeflateFactory(client_max_window_bits=bits)
        assert str(raised.value) == "client_max_window_bits must be between 8 and 15"

    def test_wbits_in_compress_settings(self):
        """compress_settings may not choose the window size."""
        with pytest.raises(ValueError) as raised:
            ServerPerMessageDeflateFactory(compress_settings={"wbits": 12})
        assert str(raised.value) == (
            "compress_settings must not include wbits, set server_max_window_bits instead"
        )

    def test_require_without_client_max_window_bits(self):
        """Requiring client_max_window_bits needs a value for it."""
        with pytest.raises(ValueError) as raised:
            ServerPerMessageDeflateFactory(require_client_max_window_bits=True)
        assert str(raised.value) == (
            "require_client_max_window_bits is enabled, but client_max_window_bits isn't configured"
        )

    def test_duplicate_extension(self):
        """A second permessage-deflate offer is skipped."""
        accepted = [PerMessageDeflate(False, False, 15, 15)]
        with pytest.raises(NegotiationError) as raised:
            ServerPerMessageDeflateFactory().process_request_params([], accepted)
        assert str(raised.value) == "skipped duplicate permessage-deflate"

    def test_client_max_window_bits_without_value_in_offer(self):
        """An offer may carry client_max_window_bits without a value."""
        factory = ServerPerMessageDeflateFactory(client_max_window_bits=10)
        params, _ = factory.process_request_params([("client_max_window_bits", None)], [])
        assert params == [("client_max_window_bits", "10")]

    def test_server_max_window_bits_without_value_in_offer(self):
        """server_max_window_bits always needs a value."""
        with pytest.raises(InvalidParameterValue) as raised:
            ServerPerMessageDeflateFactory().process_request_params(
                [("server_max_window_bits", None)], []
            )
        assert str(raised.value) == "missing value for parameter server_max_window_bits"

    def test_invalid_offer(self):
        """Unknown and duplicate parameters in an offer are refused too."""
        factory = ServerPerMessageDeflateFactory()
        with pytest.raises(InvalidParameterName):
            factory.process_request_params([("foo", None)], [])
        with pytest.raises(DuplicateParameter):
            factory.process_request_params(
                [("client_max_window_bits", None), ("client_max_window_bits", "9")], []
            )

    @pytest.mark.parametrize(
        ("config", "offer", "answer", "result"),
        [
            # server_no_context_takeover: configured or requested.
            ({}, [], [], (False, False, 15, 15)),
            (
                {},
                [("server_no_context_takeover", None)],
                [("server_no_context_takeover", None)],
                (False, True, 15, 15),
            ),
            (
                {"server_no_context_takeover": True},
                [],
                [("server_no_context_takeover", None)],
                (False, True, 15, 15),
            ),
            # client_no_context_takeover: configured or requested.
            (
                {},
                [("client_no_context_takeover", None)],
                [("client_no_context_takeover", None)],
                (True, False, 15, 15),
            ),
            (
                {"client_no_context_takeover": True},
                [],
                [("client_no_context_takeover", None)],
                (True, False, 15, 15),
            ),
            # server_max_window_bits: the smaller of configured and requested.
            (
                {},
                [("server_max_window_bits", "10")],
                [("server_max_window_bits", "10")],
                (False, False, 15, 10),
            ),
            (
                {"server_max_window_bits": 12},
                [],
                [("server_max_window_bits", "12")],
                (False, False, 15, 12),
            ),
            (
                {"server_max_window_bits": 12},
                [("server_max_window_bits", "10")],
                [("server_max_window_bits", "10")],
                (False, False, 15, 10),
            ),
            (
                {"server_max_window_bits": 12},
                [("server_max_window_bits", "14")],
                [("server_max_window_bits", "12")],
                (False, False, 15, 12),
            ),
            # client_max_window_bits: only if offered; the smaller of configured and requested.
            ({}, [("client_max_window_bits", None)], [], (False, False, 15, 15)),
            (
                {},
                [("client_max_window_bits", "10")],
                [("client_max_window_bits", "10")],
                (False, False, 10, 15),
            ),
            ({"client_max_window_bits": 12}, [], [], (False, False, 15, 15)),
            (
                {"client_max_window_bits": 12},
                [("client_max_window_bits", None)],
                [("client_max_window_bits", "12")],
                (False, False, 12, 15),
            ),
            (
                {"client_max_window_bits": 12},
                [("client_max_window_bits", "10")],
                [("client_max_window_bits", "10")],
                (False, False, 10, 15),
            ),
            (
                {"client_max_window_bits": 12},
                [("client_max_window_bits", "14")],
                [("client_max_window_bits", "12")],
                (False, False, 12, 15),
            ),
        ],
    )
    def test_table(self, config, offer, answer, result):
        """Each (configuration, offer) pair gives the answer and extension of websockets 10.x."""
        params, extension = ServerPerMessageDeflateFactory(**config).process_request_params(
            offer, []
        )
        assert params == answer
        assert agreed(extension) == result

    def test_require_client_max_window_bits(self):
        """An offer without client_max_window_bits is declined when it is required."""
        factory = ServerPerMessageDeflateFactory(
            client_max_window_bits=12, require_client_max_window_bits=True
        )
        with pytest.raises(NegotiationError) as raised:
            factory.process_request_params([], [])
        assert str(raised.value) == "required client_max_window_bits"

    def test_answer_accepted_by_client(self):
        """A server answer is accepted by the client that made the offer, mirrored."""
        offer_factory = client(server_max_window_bits=11, client_no_context_takeover=True)
        answer, server_side = ServerPerMessageDeflateFactory(
            server_no_context_takeover=True, client_max_window_bits=10
        ).process_request_params(offer_factory.get_request_params(), [])
        client_side = offer_factory.process_response_params(answer, [])
        assert agreed(client_side) == (True, True, 11, 10)
        assert agreed(server_side) == (True, True, 10, 11)


class TestEnableServerPermessageDeflate:
    """enable_server_permessage_deflate, for import compatibility."""

    def test_none(self):
        """None becomes a list holding the default server factory."""
        (factory,) = enable_server_permessage_deflate(None)
        assert isinstance(factory, ServerPerMessageDeflateFactory)
        assert factory.server_max_window_bits == 12
        assert factory.client_max_window_bits == 12
        assert factory.compress_settings == {"memLevel": 5}

    def test_appended(self):
        """The default factory is appended to a copy of the list."""
        extensions: list[ServerExtensionFactory] = []
        assert len(enable_server_permessage_deflate(extensions)) == 1
        assert extensions == []

    def test_existing_factory_kept(self):
        """A factory already named permessage-deflate is left alone."""
        extensions = [ServerPerMessageDeflateFactory()]
        assert enable_server_permessage_deflate(extensions) is extensions


# RFC 7692 section 7.2: PerMessageDeflate, the agreed extension.


class TestPerMessageDeflateConstructor:
    """7.2: the extension object and its 10.x attributes."""

    def test_attributes(self):
        """The constructor keeps its arguments under the 10.x names."""
        extension = PerMessageDeflate(True, False, 10, 11, {"memLevel": 4})
        assert isinstance(extension, Extension)
        assert extension.name == "permessage-deflate"
        assert agreed(extension) == (True, False, 10, 11)
        assert extension.compress_settings == {"memLevel": 4}
        assert extension.decode_cont_data is False

    def test_repr(self):
        """repr shows the four agreed parameters, as websockets 10.x does."""
        assert repr(PerMessageDeflate(False, True, 12, 15)) == (
            "PerMessageDeflate(remote_no_context_takeover=False, "
            "local_no_context_takeover=True, "
            "remote_max_window_bits=12, local_max_window_bits=15)"
        )

    def test_context_takeover_keeps_coders(self):
        """With context takeover, one compressor and one decompressor live as long as it."""
        extension = PerMessageDeflate(False, False, 15, 15)
        assert hasattr(extension, "decoder")
        assert hasattr(extension, "encoder")

    def test_no_context_takeover_makes_coders_per_message(self):
        """Without context takeover, coders are only made when a message starts."""
        extension = PerMessageDeflate(True, True, 15, 15)
        assert not hasattr(extension, "decoder")
        assert not hasattr(extension, "encoder")

    @pytest.mark.parametrize(
        "args",
        [
            (None, False, 15, 15),
            (False, "yes", 15, 15),
            (False, False, 7, 15),
            (False, False, 15, 16),
            (False, False, 15, 15, {"wbits": 9}),
        ],
    )
    def test_invalid_arguments(self, args):
        """Bad arguments fail an assertion; the factories validate them first."""
        with pytest.raises(AssertionError):
            PerMessageDeflate(*args)

    def test_zlib_rejects_local_window_8(self):
        """zlib can't compress raw DEFLATE with an 8-bit window; 10.3 fails the same way."""
        with pytest.raises(ValueError):
            PerMessageDeflate(False, False, 15, 8)

    def test_remote_window_8(self):
        """Decompressing with an 8-bit window works."""
        extension = PerMessageDeflate(False, False, 8, 15)
        frame = extension.decode(Frame(OP_TEXT, deflate(b"Hello", wbits=9), rsv1=True))
        assert frame.data == b"Hello"


class TestRFCExamples:
    """7.2.3: the examples of RFC 7692, byte for byte."""

    def test_hello(self):
        """7.2.3.1: 'Hello' compressed is c1 07 f2 48 cd c9 c9 07 00 on the wire."""
        wire = Frame(OP_TEXT, b"Hello").serialize(
            mask=False, extensions=[PerMessageDeflate(False, False, 15, 15)]
        )
        assert wire == bytes.fromhex("c1 07 f2 48 cd c9 c9 07 00")

    def test_hello_decoded(self):
        """7.2.3.1: c1 07 f2 48 cd c9 c9 07 00 reads back as 'Hello'."""
        frame = parse(
            bytes.fromhex("c1 07 f2 48 cd c9 c9 07 00"), [PerMessageDeflate(False, False, 15, 15)]
        )
        assert frame == Frame(OP_TEXT, b"Hello")

    def test_fragmented_hello(self):
        """7.2.3.1: a compressed 'Hello' split in two frames decodes to 'He' and 'llo'."""
        extension = PerMessageDeflate(False, False, 15, 15)
        first = parse(bytes.fromhex("41 03 f2 48 cd"), [extension])
        second = parse(bytes.fromhex("80 04 c9 c9 07 00"), [extension])
        assert first == Frame(OP_TEXT, b"He", fin=False)
        assert second == Frame(OP_CONT, b"llo")

    def test_shared_window(self):
        """7.2.3.2: a second 'Hello' refers back to the first: c1 05 f2 00 11 00 00."""
        extension = PerMessageDeflate(False, False, 15, 15)
        first = Frame(OP_TEXT, b"Hello").serialize(mask=False, extensions=[extension])
        second = Frame(OP_TEXT, b"Hello").serialize(mask=False, extensions=[extension])
        assert first == bytes.fromhex("c1 07 f2 48 cd c9 c9 07 00")
        assert second == bytes.fromhex("c1 05 f2 00 11 00 00")
        decoder = PerMessageDeflate(False, False, 15, 15)
        assert parse(first, [decoder]).data == parse(second, [decoder]).data == b"Hello"

    def test_no_context_takeover_repeats_bytes(self):
        """7.1.1.2: without context takeover the second 'Hello' compresses like the first."""
        extension = PerMessageDeflate(False, True, 15, 15)
        for _ in range(2):
            wire = Frame(OP_TEXT, b"Hello").serialize(mask=False, extensions=[extension])
            assert wire == bytes.fromhex("c1 07 f2 48 cd c9 c9 07 00")

    def test_stored_block(self):
        """7.2.3.3: a DEFLATE block with no compression decodes."""
        frame = parse(
            bytes.fromhex("c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00"),
            [PerMessageDeflate(False, False, 15, 15)],
        )
        assert frame.data == b"Hello"

    def test_bfinal_block(self):
        """7.2.3.4: a block with BFINAL set decodes; the appended tail is ignored."""
        frame = parse(
            bytes.fromhex("c1 08 f3 48 cd c9 c9 07 00 00"),
            [PerMessageDeflate(False, False, 15, 15)],
        )
        assert frame.data == b"Hello"

    def test_two_blocks(self):
        """7.2.3.5: two DEFLATE blocks in one message decode."""
        frame = parse(
            bytes.fromhex("c1 0d f2 48 05 00 00 00 ff ff ca c9 c9 07 00"),
            [PerMessageDeflate(False, False, 15, 15)],
        )
        assert frame.data == b"Hello"

    def test_empty_message(self):
        """An empty message compresses to a single 00 byte once the tail is removed."""
        extension = PerMessageDeflate(False, False, 15, 15)
        wire = Frame(OP_BINARY, b"").serialize(mask=False, extensions=[extension])
        assert wire == bytes.fromhex("c2 01 00")
        assert parse(wire, [PerMessageDeflate(False, False, 15, 15)]) == Frame(OP_BINARY, b"")


class TestEncode:
    """7.2.1: compressing outgoing messages."""

    @pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
    def test_single_frame(self, opcode):
        """RSV1 is set and the payload is DEFLATE without its last 4 octets."""
        frame = PerMessageDeflate(False, False, 15, 15).encode(Frame(opcode, b"spam" * 10))
        assert frame == Frame(opcode, deflate(b"spam" * 10), rsv1=True)

    def test_returns_new_frame(self):
        """The caller's frame isn't modified."""
        original = Frame(OP_TEXT, b"Hello")
        PerMessageDeflate(False, False, 15, 15).encode(original)
        assert original == Frame(OP_TEXT, b"Hello")

    def test_fragmented(self):
        """6: RSV1 on the first frame only; non-final frames keep their sync flush tail."""
        extension = PerMessageDeflate(False, False, 15, 15)
        frames = [
            extension.encode(Frame(OP_TEXT, b"Hel", fin=False)),
            extension.encode(Frame(OP_CONT, b"l", fin=False)),
            extension.encode(Frame(OP_CONT, b"o")),
        ]
        assert [(f.opcode, f.fin, f.rsv1) for f in frames] == [
            (OP_TEXT, False, True),
            (OP_CONT, False, False),
            (OP_CONT, True, False),
        ]
        assert frames[0].data.endswith(TAIL)
        assert frames[1].data.endswith(TAIL)
        assert not frames[2].data.endswith(TAIL)
        decompressor = zlib.decompressobj(wbits=-15)
        assert decompressor.decompress(b"".join(f.data for f in frames) + TAIL) == b"Hello"

    def test_fragmented_with_empty_last_frame(self):
        """An empty final fragment still ends the message correctly."""
        extension = PerMessageDeflate(False, False, 15, 15)
        first = extension.encode(Frame(OP_BINARY, b"data", fin=False))
        last = extension.encode(Frame(OP_CONT, b""))
        assert last.data == b"\x00"
        decompressor = zlib.decompressobj(wbits=-15)
        assert decompressor.decompress(first.data + last.data + TAIL) == b"data"

    def test_reserved_bits_kept(self):
        """RSV2 and RSV3 pass through for other extensions."""
        extension = PerMessageDeflate(False, False, 15, 15)
        frame = extension.encode(Frame(OP_BINARY, b"x", fin=False, rsv2=True, rsv3=True))
        assert (frame.rsv1, frame.rsv2, frame.rsv3) == (True, True, True)
        frame = extension.encode(Frame(OP_CONT, b"y", rsv3=True))
        assert (frame.rsv1, frame.rsv2, frame.rsv3) == (False, False, True)

    @pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE])
    def test_control_frames_untouched(self, opcode):
        """6: control frames are returned as they are, even in the middle of a message."""
        extension = PerMessageDeflate(False, False, 15, 15)
        extension.encode(Frame(OP_TEXT, b"start", fin=False))
        control = Frame(opcode, b"\x03\xe8")
        assert extension.encode(control) is control

    def test_context_takeover(self):
        """With context takeover, a repeated message compresses better the second time."""
        extension = PerMessageDeflate(False, False, 15, 15)
        payload = noise(1000)
        first = extension.encode(Frame(OP_BINARY, payload))
        second = extension.encode(Frame(OP_BINARY, payload))
        assert len(second.data) < 20 < len(first.data)

    def test_no_context_takeover(self):
        """Without context takeover, each message starts from an empty window."""
        extension = PerMessageDeflate(False, True, 15, 15)
        payload = noise(1000)
        first = extension.encode(Frame(OP_BINARY, payload))
        assert not hasattr(extension, "encoder")
        second = extension.encode(Frame(OP_BINARY, payload))
        assert first == second

    def test_no_context_takeover_fragmented(self):
        """Without context takeover, the compressor lives until the last fragment."""
        extension = PerMessageDeflate(False, True, 15, 15)
        extension.encode(Frame(OP_BINARY, b"a", fin=False))
        encoder = extension.encoder
        extension.encode(Frame(OP_CONT, b"b", fin=False))
        assert extension.encoder is encoder
        extension.encode(Frame(OP_CONT, b"c"))
        assert not hasattr(extension, "encoder")

    @pytest.mark.parametrize("bits", [9, 10, 12, 15])
    def test_window_bits(self, bits):
        """The local window size is the compressor's wbits."""
        payload = random.Random(bits).randbytes(600) * 3  # repeats at a distance of 600 bytes
        frame = PerMessageDeflate(False, False, 15, bits).encode(Frame(OP_BINARY, payload))
        if bits == 9:  # 512-byte window: the repeats are out of reach
            assert len(frame.data) > 1700
        else:
            assert len(frame.data) < 700
        assert zlib.decompressobj(wbits=-bits).decompress(frame.data + TAIL) == payload

    def test_compress_settings(self):
        """compress_settings reach zlib.compressobj."""
        payload = b"abcdefgh" * 100
        stored = PerMessageDeflate(False, False, 15, 15, {"level": 0}).encode(
            Frame(OP_BINARY, payload)
        )
        assert payload in stored.data

    def test_flush_without_tail(self):
        """Output not ending with 00 00 ff ff is kept whole (defensive, as in 10.x)."""
        extension = PerMessageDeflate(False, False, 15, 15)
        extension.encoder = FakeEncoder()  # type: ignore[assignment]
        assert extension.encode(Frame(OP_BINARY, b"x")).data == b"\x03\x00"

    def test_bytes_like_payload(self):
        """bytearray and memoryview payloads are compressed too."""
        extension = PerMessageDeflate(False, True, 15, 15)
        for payload in (bytearray(b"Hello"), memoryview(b"Hello")):
            frame = extension.encode(Frame(OP_TEXT, payload))  # type: ignore[arg-type]
            assert frame.data == bytes.fromhex("f2 48 cd c9 c9 07 00")


class TestDecode:
    """7.2.2: decompressing incoming messages."""

    @pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
    def test_single_frame(self, opcode):
        """RSV1 is cleared and the payload decompressed."""
        extension = PerMessageDeflate(False, False, 15, 15)
        frame = extension.decode(Frame(opcode, deflate(b"spam" * 10), rsv1=True))
        assert frame == Frame(opcode, b"spam" * 10)

    def test_uncompressed_message_untouched(self):
        """6: a message without RSV1 on its first frame isn't decompressed, nor its fragments."""
        extension = PerMessageDeflate(False, False, 15, 15)
        first = Frame(OP_TEXT, b"plain", fin=False)
        last = Frame(OP_CONT, b" text")
        assert extension.decode(first) is first
        assert extension.decode(last) is last
        assert extension.decode_cont_data is False

    @pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE])
    def test_control_frames_untouched(self, opcode):
        """6: control frames are returned as they are, RSV1 included, even mid-message."""
        extension = PerMessageDeflate(False, False, 15, 15)
        extension.decode(Frame(OP_TEXT, deflate(b"abc")[:1], fin=False, rsv1=True))
        control = Frame(opcode, b"\x03\xe8", rsv1=True)
        assert extension.decode(control) is control
        assert extension.decode_cont_data is True

    def test_fragmented(self):
        """Continuation frames of a compressed message are decompressed with the same context."""
        payload = b"fragmented message " * 20
        data = deflate(payload)
        extension = PerMessageDeflate(False, False, 15, 15)
        first = extension.decode(Frame(OP_BINARY, data[:10], fin=False, rsv1=True))
        assert extension.decode_cont_data is True
        middle = extension.decode(Frame(OP_CONT, data[10:20], fin=False))
        assert extension.decode_cont_data is True
        last = extension.decode(Frame(OP_CONT, data[20:]))
        assert extension.decode_cont_data is False
        assert [(f.opcode, f.fin, f.rsv1) for f in (first, middle, last)] == [
            (OP_BINARY, False, False),
            (OP_CONT, False, False),
            (OP_CONT, True, False),
        ]
        assert first.data + middle.data + last.data == payload

    def test_reserved_bits_kept(self):
        """RSV2 and RSV3 pass through for other extensions."""
        extension = PerMessageDeflate(False, False, 15, 15)
        frame = extension.decode(Frame(OP_TEXT, deflate(b"x"), rsv1=True, rsv2=True, rsv3=True))
        assert (frame.rsv1, frame.rsv2, frame.rsv3) == (False, True, True)

    def test_context_takeover(self):
        """7.2.3.2: a decoder with context takeover resolves references to earlier messages."""
        client_side, server_side = pair()
        for _ in range(3):
            wire = client_side.encode(Frame(OP_TEXT, b"Hello, world"))
            assert server_side.decode(wire).data == b"Hello, world"
        assert len(wire.data) < 8

    def test_no_context_takeover_fresh_decoder(self):
        """Without remote context takeover, each message gets a fresh decoder, dropped at its end."""
        data = deflate(b"Hello")
        extension = PerMessageDeflate(True, False, 15, 15)
        assert extension.decode(Frame(OP_TEXT, data, rsv1=True)).data == b"Hello"
        assert not hasattr(extension, "decoder")
        first = extension.decode(Frame(OP_TEXT, data[:2], fin=False, rsv1=True))
        decoder = extension.decoder
        middle = extension.decode(Frame(OP_CONT, data[2:4], fin=False))
        assert extension.decoder is decoder
        last = extension.decode(Frame(OP_CONT, data[4:]))
        assert first.data + middle.data + last.data == b"Hello"
        assert not hasattr(extension, "decoder")

    def test_no_context_takeover_rejects_back_references(self):
        """A peer that promised no context takeover but uses it fails to decode."""
        sender = zlib.compressobj(wbits=-15)
        sender.compress(noise(100) + b"0123456789abcdef")
        sender.flush(zlib.Z_SYNC_FLUSH)
        second = (sender.compress(b"0123456789abcdef") + sender.flush(zlib.Z_SYNC_FLUSH))[:-4]
        extension = PerMessageDeflate(True, False, 15, 15)
        with pytest.raises(ProtocolError, match="decompression failed"):
            extension.decode(Frame(OP_BINARY, second, rsv1=True))

    @pytest.mark.parametrize("bits", [9, 11, 15])
    def test_window_bits(self, bits):
        """The remote window size is the decompressor's wbits."""
        payload = noise(300) * 4
        extension = PerMessageDeflate(False, False, bits, 15)
        assert extension.decode(Frame(OP_BINARY, deflate(payload, bits), rsv1=True)).data == payload

    def test_window_too_small(self):
        """A reference further back than the agreed window fails to decode."""
        payload = noise(2000)
        sender = PerMessageDeflate(False, False, 15, 15)
        extension = PerMessageDeflate(False, False, 9, 15)
        assert extension.decode(sender.encode(Frame(OP_BINARY, payload))).data == payload
        with pytest.raises(ProtocolError) as raised:
            extension.decode(sender.encode(Frame(OP_BINARY, payload)))
        assert str(raised.value) == "decompression failed"
        assert isinstance(raised.value.__cause__, zlib.error)

    @pytest.mark.parametrize(
        "data",
        [b"\xff", b"\x07\x00", b"\xf2\x48\xcd\xc9\xc9\x07\x00\x00\x00\x00"],
    )
    def test_decompression_failed(self, data):
        """Invalid DEFLATE data is ProtocolError("decompression failed") caused by zlib.error."""
        extension = PerMessageDeflate(False, False, 15, 15)
        with pytest.raises(ProtocolError) as raised:
            extension.decode(Frame(OP_BINARY, data, rsv1=True))
        assert str(raised.value) == "decompression failed"
        assert isinstance(raised.value.__cause__, zlib.error)

    def test_decompression_failed_large_frame(self):
        """Invalid data after 8 KiB of valid data fails the same way."""
        data = stored_block(noise(9000)) + b"\xff\xff"
        extension = PerMessageDeflate(False, False, 15, 15)
        with pytest.raises(ProtocolError, match="decompression failed"):
            extension.decode(Frame(OP_BINARY, data, rsv1=True))

    def test_decompression_failed_in_tail(self):
        """A large payload whose appended tail is invalid fails too (as with one call)."""
        # Fixed-Huffman block: literal 'a', then length code 280 completed by the tail's zeros,
        # then an invalid distance code from the tail's ff ff.
        data = stored_block(noise(9000)) + b"\x4a\x1c"
        extension = PerMessageDeflate(False, False, 15, 15)
        with pytest.raises(ProtocolError, match="decompression failed"):
            extension.decode(Frame(OP_BINARY, data, rsv1=True))

    def test_bytearray_payload(self):
        """A bytearray payload is accepted."""
        extension = PerMessageDeflate(False, False, 15, 15)
        frame = Frame(OP_TEXT, bytearray(deflate(b"Hello")), rsv1=True)  # type: ignore[arg-type]
        assert extension.decode(frame).data == b"Hello"


class TestReservedBitOnContinuation:
    """6: "An endpoint MUST NOT set the Per-Message Compressed bit of [...] non-first fragments"."""

    def test_uncompressed_message(self):
        """RSV1 on a continuation of an uncompressed message is returned as is."""
        extension = PerMessageDeflate(False, False, 15, 15)
        extension.decode(Frame(OP_TEXT, b"plain", fin=False))
        continuation = Frame(OP_CONT, b"more", rsv1=True)
        assert extension.decode(continuation) is continuation

    def test_compressed_message(self):
        """RSV1 on a continuation of a compressed message is kept after decompressing (10.x)."""
        data = deflate(b"Hello")
        extension = PerMessageDeflate(False, False, 15, 15)
        extension.decode(Frame(OP_TEXT, data[:3], fin=False, rsv1=True))
        frame = extension.decode(Frame(OP_CONT, data[3:], rsv1=True))
        assert frame == Frame(OP_CONT, b"llo", rsv1=True)
        assert extension.decode_cont_data is False

    def test_without_message(self):
        """RSV1 on a continuation frame with no message in progress is returned as is."""
        continuation = Frame(OP_CONT, b"x", rsv1=True)
        assert PerMessageDeflate(False, False, 15, 15).decode(continuation) is continuation

    @pytest.mark.parametrize("compressed", [False, True])
    def test_parse_fails(self, compressed):
        """Frame.parse then rejects the frame: ProtocolError("reserved bits must be 0")."""
        extension = PerMessageDeflate(False, False, 15, 15)
        if compressed:
            parse(b"\x41\x03" + deflate(b"Hello")[:3], [extension])
            continuation = b"\xc0\x04" + deflate(b"Hello")[3:]
        else:
            parse(b"\x01\x05plain", [extension])
            continuation = b"\xc0\x04more"
        with pytest.raises(ProtocolError) as raised:
            parse(continuation, [extension])
        assert str(raised.value) == "reserved bits must be 0"

    def test_parse_rsv1_without_extension(self):
        """Without the extension, RSV1 on any frame is ProtocolError("reserved bits must be 0")."""
        with pytest.raises(ProtocolError, match="reserved bits must be 0"):
            parse(bytes.fromhex("c1 07 f2 48 cd c9 c9 07 00"), [])


def crafted_pending_match(prefix: bytes = b"") -> bytes:
    """DEFLATE data ending right after a 258-byte match: 'a' then 258 more 'a', no EOB."""
    # Fixed-Huffman block header, literal 'a', length 258 (code 285), distance 1: 24 bits.
    return prefix + b"\x4a\x1c\x05"


class TestMaxSize:
    """The zip-bomb guard: zlib may not produce more than max_size bytes."""

    def test_exact_size(self):
        """A message of exactly max_size bytes is accepted."""
        extension = PerMessageDeflate(False, False, 15, 15)
        frame = extension.decode(Frame(OP_BINARY, deflate(b"x" * 1000), rsv1=True), max_size=1000)
        assert frame.data == b"x" * 1000

    def test_one_byte_over(self):
        """One byte over max_size is PayloadTooBig with the 10.x message."""
        extension = PerMessageDeflate(False, False, 15, 15)
        with pytest.raises(PayloadTooBig) as raised:
            extension.decode(Frame(OP_BINARY, deflate(b"x" * 1000), rsv1=True), max_size=999)
        assert str(raised.value) == "over size limit (? > 999 bytes)"

    def test_no_limit(self):
        """max_size=None disables the limit."""
        extension = PerMessageDeflate(False, False, 15, 15)
        frame = extension.decode(Frame(OP_BINARY, deflate(b"x" * 100_000), rsv1=True))
        assert len(frame.data) == 100_000

    def test_zero_means_nothing_more(self):
        """max_size=0 allows no output at all (10.x passed it to zlib, where 0 is no limit)."""
        extension = PerMessageDeflate(False, False, 15, 15)
        with pytest.raises(PayloadTooBig, match=r"over size limit \(\? > 0 bytes\)"):
            extension.decode(Frame(OP_BINARY, deflate(b"x" * 1000), rsv1=True), max_size=0)
        extension = PerMessageDeflate(False, False, 15, 15)
        assert extension.decode(Frame(OP_BINARY, deflate(b""), rsv1=True), max_size=0).data == b""

    def test_zip_bomb(self):
        """100 MB of zeros compressed to ~100 KB stops at max_size, without inflating it all."""
        compressor = zlib.compressobj(wbits=-15)
        chunk = bytes(1 << 20)
        bomb = b"".join(compressor.compress(chunk) for _ in range(100))
        bomb = (bomb + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
        assert len(bomb) < 200_000
        extension = PerMessageDeflate(False, False, 15, 15)
        with pytest.raises(PayloadTooBig) as raised:
            extension.decode(Frame(OP_BINARY, bomb, rsv1=True), max_size=2**20)
        assert str(raised.value) == "over size limit (? > 1048576 bytes)"
        assert len(extension.decoder.unconsumed_tail) > 0

    def test_non_final_frame_over(self):
        """A non-final fragment that decompresses past max_size is too big."""
        extension = PerMessageDeflate(False, False, 15, 15)
        data = deflate(b"y" * 5000)
        with pytest.raises(PayloadTooBig, match=r"\(\? > 100 bytes\)"):
            extension.decode(Frame(OP_TEXT, data, fin=False, rsv1=True), max_size=100)

    def test_fragments_with_remaining_budget(self):
        """Each fragment is checked against the budget the caller passes (10.x read_message)."""
        payload = noise(3000)
        data = deflate(payload)
        extension = PerMessageDeflate(False, False, 15, 15)
        first = extension.decode(Frame(OP_BINARY, data[:1500], fin=False, rsv1=True), max_size=3000)
        budget = 3000 - len(first.data)
        last = extension.decode(Frame(OP_CONT, data[1500:]), max_size=budget)
        assert first.data + last.data == payload
        extension = PerMessageDeflate(False, False, 15, 15)
        first = extension.decode(Frame(OP_BINARY, data[:1500], fin=False, rsv1=True), max_size=2999)
        with pytest.raises(PayloadTooBig):
            extension.decode(Frame(OP_CONT, data[1500:]), max_size=2999 - len(first.data))

    @pytest.mark.parametrize("size", [1000, 20_000])
    def test_output_held_back_at_limit(self, size):
        """Output pending in zlib when max_size is reached is caught by the appended tail."""
        # The frame's input is fully consumed at the limit; only the tail reveals the rest.
        prefix = stored_block(noise(size))
        data = crafted_pending_match(prefix)
        extension = PerMessageDeflate(False, False, 15, 15)
        assert extension.decode(Frame(OP_BINARY, data, rsv1=True)).data == prefix[5:] + b"a" * 259
        for max_size in (size + 1, size + 100, size + 258):
            extension = PerMessageDeflate(False, False, 15, 15)
            with pytest.raises(PayloadTooBig):
                extension.decode(Frame(OP_BINARY, data, rsv1=True), max_size=max_size)
        extension = PerMessageDeflate(False, False, 15, 15)
        frame = extension.decode(Frame(OP_BINARY, data, rsv1=True), max_size=size + 259)
        assert len(frame.data) == size + 259

    @pytest.mark.parametrize("size", [100, 9000])
    def test_exact_fit_then_tail(self, size):
        """A large payload filling max_size exactly is accepted: the tail adds nothing."""
        payload = noise(size)
        extension = PerMessageDeflate(False, False, 15, 15)
        frame = extension.decode(Frame(OP_BINARY, stored_block(payload), rsv1=True), max_size=size)
        assert frame.data == payload

    @pytest.mark.parametrize("size", [0, 9000])
    @pytest.mark.parametrize("max_extra", [None, 0, 1, 2])
    def test_payload_continued_by_tail(self, size, max_extra):
        """A payload that stops mid-block gets one more byte out of the tail, as with 10.x."""
        # Fixed-Huffman header and the first 5 bits of literal 0's code; the tail completes it.
        payload = noise(size)
        data = (stored_block(payload) if size else b"") + b"\x62"
        max_size = None if max_extra is None else size + max_extra
        extension = PerMessageDeflate(False, False, 15, 15)
        if max_extra == 0:
            with pytest.raises(PayloadTooBig):
                extension.decode(Frame(OP_BINARY, data, rsv1=True), max_size=max_size)
        else:
            frame = extension.decode(Frame(OP_BINARY, data, rsv1=True), max_size=max_size)
            assert frame.data == payload + b"\x00"

    def test_tail_over_remaining_room(self):
        """Output from the tail beyond the room left under max_size is too big."""
        # Literal 'a', then a 115-byte match completed by the tail, then garbage.
        data = stored_block(noise(9000)) + b"\x4a\x1c"
        extension = PerMessageDeflate(False, False, 15, 15)
        with pytest.raises(PayloadTooBig, match=r"\(\? > 9050 bytes\)"):
            extension.decode(Frame(OP_BINARY, data, rsv1=True), max_size=9050)

    def test_parse_checks_wire_length_first(self):
        """Frame.parse rejects a wire payload over max_size before decompressing."""
        wire = Frame(OP_BINARY, noise(300)).serialize(
            mask=False, extensions=[PerMessageDeflate(False, False, 15, 15)]
        )
        with pytest.raises(PayloadTooBig, match=r"over size limit \(30\d > 300 bytes\)"):
            parse(wire, [PerMessageDeflate(False, False, 15, 15)], max_size=300)


# Round trips.


WINDOW_BITS = st.integers(min_value=9, max_value=15)


@st.composite
def messages(draw: st.DrawFn) -> list[tuple[bool, list[bytes]]]:
    """A few messages, each text or binary, cut into fragments at random points."""
    result = []
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        payload = draw(
            st.one_of(
                st.binary(max_size=2000),
                st.builds(
                    lambda b, n: b * n, st.binary(min_size=1, max_size=20), st.integers(1, 500)
                ),
            )
        )
        cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=4)))
        bounds = [0, *cuts, len(payload)]
        fragments = [payload[a:b] for a, b in itertools.pairwise(bounds)]
        result.append((draw(st.booleans()), fragments))
    return result


def send_and_receive(
    sender: PerMessageDeflate,
    receiver: PerMessageDeflate,
    message: tuple[bool, list[bytes]],
    max_size: int | None = None,
) -> bytes:
    """Encode a message fragment by fragment, check the wire flags, decode and reassemble."""
    text, fragments = message
    received = []
    for index, fragment in enumerate(fragments):
        opcode = (OP_TEXT if text else OP_BINARY) if index == 0 else OP_CONT
        fin = index == len(fragments) - 1
        wire = sender.encode(Frame(opcode, fragment, fin))
        assert (wire.opcode, wire.fin, wire.rsv1) == (opcode, fin, index == 0)
        frame = receiver.decode(wire, max_size=max_size)
        frame.check()
        assert (frame.opcode, frame.fin) == (opcode, fin)
        received.append(frame.data)
    return b"".join(received)


class TestRoundTrip:
    """encode then decode gives every message back, whatever the parameters."""

    @given(
        messages(),
        st.booleans(),
        st.booleans(),
        WINDOW_BITS,
        WINDOW_BITS,
        st.sampled_from([None, {"memLevel": 5}, {"level": 1}, {"level": 9, "memLevel": 9}]),
    )
    @settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def test_round_trip(self, msgs, client_nct, server_nct, client_bits, server_bits, settings_):
        """Random payloads, fragmentation and parameters survive encode then decode."""
        sender = PerMessageDeflate(server_nct, client_nct, server_bits, client_bits, settings_)
        receiver = PerMessageDeflate(client_nct, server_nct, client_bits, server_bits)
        for message in msgs:
            assert send_and_receive(sender, receiver, message) == b"".join(message[1])
            assert receiver.decode_cont_data is False

    @given(messages(), st.booleans(), WINDOW_BITS)
    @settings(deadline=None)
    def test_round_trip_both_ways(self, msgs, no_context_takeover, bits):
        """Both directions of one connection work at the same time."""
        client_side, server_side = pair((no_context_takeover, False), (bits, 15))
        for message in msgs:
            payload = b"".join(message[1])
            assert send_and_receive(client_side, server_side, message) == payload
            assert send_and_receive(server_side, client_side, message) == payload

    @given(messages())
    @settings(deadline=None)
    def test_round_trip_max_size(self, msgs):
        """A message of exactly max_size bytes passes; one byte less fails."""
        for message in msgs:
            size = sum(map(len, message[1]))
            client_side, server_side = pair()
            payload = b"".join(message[1])
            assert send_and_receive(client_side, server_side, message, size or None) == payload
            if size > 1:
                client_side, server_side = pair()
                text, fragments = message
                with pytest.raises(PayloadTooBig):
                    send_and_receive(
                        client_side, server_side, (text, [b"".join(fragments)]), size - 1
                    )

    @given(st.integers(8192, 40_000), st.integers(0, 2**32), st.integers(9, 15))
    @settings(deadline=None, max_examples=20)
    def test_round_trip_large(self, size, seed, bits):
        """Frames of 8 KiB and more take the two-call path and decode the same."""
        payload = random.Random(seed).randbytes(size)
        client_side, server_side = pair((False, False), (bits, bits))
        wire = client_side.encode(Frame(OP_BINARY, payload))
        assert len(wire.data) >= 8192
        assert server_side.decode(wire, max_size=size).data == payload
        # The same payload again is a short back-reference: the one-call path.
        wire = client_side.encode(Frame(OP_BINARY, payload, fin=False))
        assert server_side.decode(wire, max_size=size).data == payload
        assert server_side.decode(client_side.encode(Frame(OP_CONT, b""))).data == b""

    @given(st.lists(st.binary(max_size=300), min_size=1, max_size=20))
    def test_wire_matches_zlib(self, payloads):
        """The wire bytes are zlib's sync-flushed stream minus each message's 4-octet tail."""
        extension = PerMessageDeflate(False, False, 15, 15)
        reference = zlib.compressobj(wbits=-15)
        for payload in payloads:
            expected = reference.compress(payload) + reference.flush(zlib.Z_SYNC_FLUSH)
            assert extension.encode(Frame(OP_BINARY, payload)).data + TAIL == expected


@given(messages(), st.booleans(), WINDOW_BITS)
@settings(deadline=None, max_examples=50)
def test_same_bytes_as_websockets(msgs, no_context_takeover, bits):
    """The installed websockets library produces the same bytes for the same messages."""
    reference = pytest.importorskip("websockets.extensions.permessage_deflate")
    ws_frames = pytest.importorskip("websockets.frames")
    ours = PerMessageDeflate(False, no_context_takeover, 15, bits)
    theirs = reference.PerMessageDeflate(False, no_context_takeover, 15, bits)
    for text, fragments in msgs:
        for index, fragment in enumerate(fragments):
            opcode = (OP_TEXT if text else OP_BINARY) if index == 0 else OP_CONT
            fin = index == len(fragments) - 1
            mine = ours.encode(Frame(opcode, fragment, fin))
            other = theirs.encode(ws_frames.Frame(ws_frames.Opcode(opcode), fragment, fin))
            assert (bytes(other.data), other.rsv1) == (mine.data, mine.rsv1)


def test_frame_is_a_dataclass():
    """Decoded frames are plain Frame dataclasses (comparable, replaceable)."""
    frame = PerMessageDeflate(False, False, 15, 15).decode(
        Frame(OP_TEXT, deflate(b"Hello"), rsv1=True)
    )
    assert dataclasses.replace(frame, data=b"x") == Frame(OP_TEXT, b"x")


def receive_all(
    wire: bytes, extension: PerMessageDeflate, chunk: int, max_size: int | None, debug: bool
) -> tuple[list[Any], Any]:
    """Feed server frames to a client connection: its events, and what failed it (if any)."""
    from tests.feed import client as sansio_client

    conn = sansio_client(max_size=max_size)
    conn.extensions = [extension]
    conn.debug = debug  # DEBUG logging forces the general path
    for pos in range(0, len(wire), chunk):
        conn.receive_data(wire[pos : pos + chunk])
    return conn.events_received(), conn.parser_exc


@given(
    messages(),
    st.booleans(),
    WINDOW_BITS,
    st.sampled_from([1, 7, 100, 4096, 1 << 20]),
    st.sampled_from(["none", "exact", "below", "default"]),
    st.booleans(),
)
@settings(deadline=None, max_examples=300)
def test_parser_fast_path_as_general_path(msgs, no_context_takeover, bits, chunk, limit, corrupt):
    """
    The parser inflates single-frame compressed messages in its fast path: the events, the
    failures (1009 over max_size, 1002 on bad data) and the decoder state that later messages
    depend on are those of the general path (Frame objects and decode()).
    """
    sender = PerMessageDeflate(no_context_takeover, no_context_takeover, bits, bits)
    wire = []
    for text, fragments in msgs:
        for index, fragment in enumerate(fragments):
            opcode = (OP_TEXT if text else OP_BINARY) if index == 0 else OP_CONT
            frame = Frame(opcode, fragment, index == len(fragments) - 1)
            wire.append(frame.serialize(mask=False, extensions=[sender]))
    if corrupt:
        wire.append(bytes((0xC2, 4)) + b"\xff\xff\xff\xff")  # not DEFLATE data
    largest = max(sum(map(len, fragments)) for _, fragments in msgs)
    max_size = {"none": None, "exact": largest, "below": max(largest - 1, 0), "default": 2**20}[
        limit
    ]

    def run(debug: bool) -> tuple[list[Any], Any]:
        receiver = PerMessageDeflate(no_context_takeover, no_context_takeover, bits, bits)
        return receive_all(b"".join(wire), receiver, chunk, max_size, debug)

    fast_events, fast_exc = run(False)
    general_events, general_exc = run(True)
    assert fast_events == general_events
    assert type(fast_exc) is type(general_exc)
    assert str(fast_exc) == str(general_exc)
    if corrupt:
        assert isinstance(fast_exc, (ProtocolError, PayloadTooBig))
