"""
The permessage-deflate extension (RFC 7692): negotiation and per-message DEFLATE compression.

:class:`ClientPerMessageDeflateFactory` builds the client's offer and checks the server's answer
(RFC 7692 section 7.1); the answer yields a :class:`PerMessageDeflate`, which compresses every
outgoing data message and decompresses incoming ones flagged with RSV1 (section 7.2).
The server-side names exist so that code written for websockets 10.x still imports.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any, NamedTuple

from ..exceptions import (
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)
from ..frames import OP_BINARY, OP_CONT, OP_TEXT, Frame
from ..typing import BytesLike, ExtensionName, ExtensionParameter
from .base import ClientExtensionFactory, Extension, ServerExtensionFactory

__all__ = [
    "PerMessageDeflate",
    "ClientPerMessageDeflateFactory",
    "enable_client_permessage_deflate",
    "ServerPerMessageDeflateFactory",
    "enable_server_permessage_deflate",
]

_NAME = ExtensionName("permessage-deflate")

# 7.2.1: "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail end."
_TAIL = b"\x00\x00\xff\xff"
_TAIL_LENGTH = len(_TAIL)

_SYNC_FLUSH = zlib.Z_SYNC_FLUSH

# Speed: under 8 KiB, one decompress() of payload + tail beats two calls; timeit on a persistent
# decoder: 0.34 vs 0.48 us at 512 B, 0.52 vs 0.62 us at 4 KiB, even at 8 KiB, 1.9 vs 1.5 at 16 KiB.
_COPY_TAIL_BELOW = 8192

# 7.1.2.1: "a decimal integer value without leading zeroes between 8 to 15, inclusive".
_WINDOW_BITS = {str(bits): bits for bits in range(8, 16)}

_FLAG_NAMES = frozenset({"server_no_context_takeover", "client_no_context_takeover"})
_BITS_NAMES = frozenset({"server_max_window_bits", "client_max_window_bits"})


def _inflate(decoder: Any, data: BytesLike, limit: int | None, max_size: int | None) -> bytes:
    """
    Decompress ``data``, refusing more than ``limit`` bytes of output (None: no limit).

    Raises:
        PayloadTooBig: If the output would exceed ``limit`` (the message names ``max_size``).
    """
    if limit is None:
        whole: bytes = decoder.decompress(data)
        return whole
    # zlib stops after max_length bytes of output, so a zip bomb can't make us allocate more
    # than the limit; but max_length=0 means "no limit", so ask for one byte more than allowed
    # and fail if it came.
    out: bytes = decoder.decompress(data, limit + 1)
    if len(out) > limit:
        raise PayloadTooBig(f"over size limit (? > {max_size} bytes)")
    return out


def _decompress(decoder: Any, data: BytesLike, fin: bool, max_size: int | None) -> bytes:
    """Decompress one frame's payload (the last of its message if ``fin``), within max_size."""
    try:
        if fin and len(data) < _COPY_TAIL_BELOW:
            # 7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the tail end of the payload
            # of the message" (and decompress it all at once: see _COPY_TAIL_BELOW).
            return _inflate(decoder, b"".join((data, _TAIL)), max_size, max_size)
        out = _inflate(decoder, data, max_size, max_size)
        if fin:
            # 7.2.2 again, fed separately so that a large payload isn't copied; the tail gets
            # what is left of max_size.
            room = None if max_size is None else max_size - len(out)
            rest = _inflate(decoder, _TAIL, room, max_size)
            # b"" when the payload stops right before the empty stored block's length, as it
            # should; a peer that stops elsewhere may get more data out of it.
            if rest:
                out += rest
        return out
    except zlib.error as exc:
        raise ProtocolError("decompression failed") from exc


class PerMessageDeflate(Extension):
    """
    The permessage-deflate extension as agreed for one connection (RFC 7692 section 7.2).

    "Remote" is the peer's compressor, whose output we decompress; "local" is ours.

    Args:
        remote_no_context_takeover: the peer resets its LZ77 window after each message.
        local_no_context_takeover: we reset our LZ77 window after each message.
        remote_max_window_bits: base-2 logarithm of the peer's LZ77 window, 8 to 15.
        local_max_window_bits: base-2 logarithm of our LZ77 window, 8 to 15.
        compress_settings: extra keyword arguments for :func:`zlib.compressobj`, except ``wbits``.

    Attributes:
        decode_cont_data: True while the continuation frames of a compressed message are due.

    Raises:
        AssertionError: If an argument is out of range (the factories validate them first).
    """

    name = _NAME

    def __init__(
        self,
        remote_no_context_takeover: bool,
        local_no_context_takeover: bool,
        remote_max_window_bits: int,
        local_max_window_bits: int,
        compress_settings: dict[Any, Any] | None = None,
    ) -> None:
        if compress_settings is None:
            compress_settings = {}
        assert remote_no_context_takeover in (False, True)
        assert local_no_context_takeover in (False, True)
        assert 8 <= remote_max_window_bits <= 15
        assert 8 <= local_max_window_bits <= 15
        assert "wbits" not in compress_settings

        self.remote_no_context_takeover = remote_no_context_takeover
        self.local_no_context_takeover = local_no_context_takeover
        self.remote_max_window_bits = remote_max_window_bits
        self.local_max_window_bits = local_max_window_bits
        self.compress_settings = compress_settings

        # Without context takeover, each message gets a fresh (de)compressor, made on demand.
        self.decoder: zlib._Decompress
        self.encoder: zlib._Compress
        if not remote_no_context_takeover:
            self.decoder = zlib.decompressobj(wbits=-remote_max_window_bits)
        if not local_no_context_takeover:
            self.encoder = zlib.compressobj(wbits=-local_max_window_bits, **compress_settings)

        # Every outgoing message is compressed, so only the incoming side needs to remember
        # whether the message in progress is compressed.
        self.decode_cont_data = False

    def __repr__(self) -> str:
        """Show the agreed parameters, as websockets 10.x does."""
        return (
            f"PerMessageDeflate("
            f"remote_no_context_takeover={self.remote_no_context_takeover}, "
            f"local_no_context_takeover={self.local_no_context_takeover}, "
            f"remote_max_window_bits={self.remote_max_window_bits}, "
            f"local_max_window_bits={self.local_max_window_bits})"
        )

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """
        Decompress a received data frame that belongs to a compressed message.

        Control frames and frames of uncompressed messages come back unchanged. RSV1 is cleared
        on the first frame of a compressed message only: a continuation frame keeps the RSV1 it
        arrived with, so the caller's reserved-bits check (:meth:`Frame.check`) rejects it.

        Args:
            frame: a frame as read from the network; its ``data`` must be bytes.
            max_size: largest decompressed payload allowed, in bytes (0: none at all, as for the
                next fragment of a message that used up its budget); None for no limit.

        Returns:
            The decompressed frame, or ``frame`` itself when there is nothing to decompress.

        Raises:
            PayloadTooBig: If the payload decompresses to more than ``max_size`` bytes.
            ProtocolError: If the payload is not valid DEFLATE data.
        """
        opcode = frame.opcode
        # Speed: the first frame of a message is by far the most common case.
        if opcode is OP_TEXT or opcode is OP_BINARY:
            # 6: the "Per-Message Compressed" bit (RSV1) on the first frame marks compression.
            if not frame.rsv1:
                return frame
            if not frame.fin:
                self.decode_cont_data = True
            if self.remote_no_context_takeover:
                self.decoder = zlib.decompressobj(wbits=-self.remote_max_window_bits)
            rsv1 = False
        elif opcode is OP_CONT:
            if not self.decode_cont_data:
                return frame
            if frame.fin:
                self.decode_cont_data = False
            # 6: "An endpoint MUST NOT set the "Per-Message Compressed" bit of [...] non-first
            # fragments of a data message": leave it set for the caller to reject.
            rsv1 = frame.rsv1
        else:
            # 6: "PMCEs operate only on data messages."
            return frame

        fin = frame.fin
        data = _decompress(self.decoder, frame.data, fin, max_size)
        if fin and self.remote_no_context_takeover:
            # The next message starts a new decoder: let this one be collected now.
            del self.decoder

        return Frame(opcode, data, fin, rsv1, frame.rsv2, frame.rsv3)

    def inflate_message(self, data: BytesLike, max_size: int | None) -> bytes:
        """
        Decompress a compressed message that is one frame (FIN and RSV1 set): what
        :meth:`decode` does for it, without :class:`Frame` objects. The parser's fast path
        calls it (benchmarks/e2e.py recv_100_deflate).

        Raises:
            PayloadTooBig: If the payload decompresses to more than ``max_size`` bytes.
            ProtocolError: If the payload is not valid DEFLATE data.
        """
        if self.remote_no_context_takeover:
            decoder = zlib.decompressobj(wbits=-self.remote_max_window_bits)
            return _decompress(decoder, data, True, max_size)
        return _decompress(self.decoder, data, True, max_size)

    def encode(self, frame: Frame) -> Frame:
        """
        Compress an outgoing data frame; control frames come back unchanged.

        Every data message is compressed. RSV1 is set on its first frame, and the last frame
        drops the 4 octets that end every sync flush.

        Args:
            frame: a frame built by the application.

        Returns:
            The compressed frame, or ``frame`` itself for a control frame.
        """
        opcode = frame.opcode
        if opcode is OP_TEXT or opcode is OP_BINARY:
            rsv1 = True
            if self.local_no_context_takeover:
                # 7.1.1.1-2: without context takeover, "start compressing each new message
                # with an empty LZ77 sliding window".
                self.encoder = zlib.compressobj(
                    wbits=-self.local_max_window_bits, **self.compress_settings
                )
        elif opcode is OP_CONT:
            rsv1 = frame.rsv1
        else:
            # 6: "PMCEs operate only on data messages."
            return frame

        encoder = self.encoder
        fin = frame.fin
        # 7.2.1: "Compress all the octets of the payload of the message using DEFLATE."
        # Z_SYNC_FLUSH ends every frame on a byte boundary with an empty stored block.
        compressed = encoder.compress(frame.data)
        flushed = encoder.flush(_SYNC_FLUSH)
        if fin:
            # 7.2.1: "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail end."
            if flushed.endswith(_TAIL):
                flushed = flushed[:-_TAIL_LENGTH]
            if self.local_no_context_takeover:
                del self.encoder
        # Speed: compress() returns b"" for small inputs, and b"" + x is x itself (no copy).
        return Frame(opcode, compressed + flushed, fin, rsv1, frame.rsv2, frame.rsv3)


class _Params(NamedTuple):
    """The four permessage-deflate parameters of one offer or response; None when absent."""

    server_no_context_takeover: bool
    client_no_context_takeover: bool
    server_max_window_bits: int | None
    # True: client_max_window_bits without a value, which only an offer may contain.
    client_max_window_bits: int | bool | None


def _parse_params(params: Sequence[ExtensionParameter], *, offer: bool) -> _Params:
    """
    Read and validate the ``(name, value)`` pairs of an offer or of a response (RFC 7692 7.1).

    Args:
        params: the parameters of one permessage-deflate element.
        offer: True for a client's offer, where ``client_max_window_bits`` may have no value.

    Raises:
        InvalidParameterName: If a parameter is unknown.
        DuplicateParameter: If a parameter appears twice.
        InvalidParameterValue: If a parameter has a wrong or missing value.
    """
    # 7: a response or offer must be refused if it "contains multiple extension parameters
    # with the same name", an unknown parameter or "an extension parameter with an invalid value".
    found: dict[str, int | bool] = {}
    for name, value in params:
        if name in _FLAG_NAMES:
            duplicate = name in found
            # 7.1.1.1-2: "This extension parameter has no value."
            parsed: int | bool | None = True if value is None else None
        elif name in _BITS_NAMES:
            duplicate = name in found
            if value is None:
                # 7.1.2.2: an offer may send client_max_window_bits "with no value".
                parsed = True if offer and name == "client_max_window_bits" else None
            else:
                parsed = _WINDOW_BITS.get(value)
        else:
            raise InvalidParameterName(name)
        if duplicate:
            raise DuplicateParameter(name)
        if parsed is None:
            raise InvalidParameterValue(name, value)
        found[name] = parsed
    return _Params(
        server_no_context_takeover="server_no_context_takeover" in found,
        client_no_context_takeover="client_no_context_takeover" in found,
        server_max_window_bits=found.get("server_max_window_bits"),
        client_max_window_bits=found.get("client_max_window_bits"),
    )


def _format_params(params: _Params) -> list[ExtensionParameter]:
    """Return the ``(name, value)`` pairs of an offer or response, absent parameters omitted."""
    pairs: list[ExtensionParameter] = []
    if params.server_no_context_takeover:
        pairs.append(("server_no_context_takeover", None))
    if params.client_no_context_takeover:
        pairs.append(("client_no_context_takeover", None))
    if params.server_max_window_bits:
        pairs.append(("server_max_window_bits", str(params.server_max_window_bits)))
    client_bits = params.client_max_window_bits
    if client_bits is True:
        pairs.append(("client_max_window_bits", None))
    elif client_bits:
        pairs.append(("client_max_window_bits", str(client_bits)))
    return pairs


def _check_window_bits(name: str, bits: int | bool | None, *, allow_true: bool) -> None:
    """
    Check a ``*_max_window_bits`` argument of a factory.

    Raises:
        ValueError: If ``bits`` is neither None, nor 8 to 15, nor True where allowed.
    """
    if bits is None or (allow_true and bits is True):
        return
    if not 8 <= bits <= 15:
        raise ValueError(f"{name} must be between 8 and 15")


class ClientPerMessageDeflateFactory(ClientExtensionFactory):
    """
    Client side of the permessage-deflate negotiation (RFC 7692 section 7.1).

    Each argument adds the parameter of the same name to the offer: booleans without a value,
    integers as their value. ``client_max_window_bits=True`` (the default) sends the parameter
    without a value, which tells the server it may choose our window size.

    Args:
        server_no_context_takeover: ask the server to reset its LZ77 window after each message.
        client_no_context_takeover: reset our LZ77 window after each message.
        server_max_window_bits: largest window the server may use, 8 to 15 (base-2 logarithm).
        client_max_window_bits: largest window we will use, 8 to 15, or True to let the server
            pick it, or None to leave the parameter out.
        compress_settings: extra keyword arguments for :func:`zlib.compressobj`, except ``wbits``.

    Raises:
        ValueError: If a window size is out of range or ``compress_settings`` holds ``wbits``.
    """

    name = _NAME

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | bool | None = True,
        compress_settings: dict[str, Any] | None = None,
    ) -> None:
        _check_window_bits("server_max_window_bits", server_max_window_bits, allow_true=False)
        _check_window_bits("client_max_window_bits", client_max_window_bits, allow_true=True)
        if compress_settings is not None and "wbits" in compress_settings:
            raise ValueError(
                "compress_settings must not include wbits, set client_max_window_bits instead"
            )
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = compress_settings

    def get_request_params(self) -> list[ExtensionParameter]:
        """
        Return the offer's parameters.

        Returns:
            ``(name, value)`` pairs, e.g. ``[("client_max_window_bits", None)]`` by default.
        """
        return _format_params(
            _Params(
                self.server_no_context_takeover,
                self.client_no_context_takeover,
                self.server_max_window_bits,
                self.client_max_window_bits,
            )
        )

    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> PerMessageDeflate:
        """
        Check the server's answer against our offer and return the agreed extension.

        Args:
            params: the parameters of the server's permessage-deflate element.
            accepted_extensions: extensions already accepted from the same response.

        Returns:
            The extension, with the server as "remote" and us as "local"; a window size the
            answer leaves unset is 15.

        Raises:
            NegotiationError: If the answer does not fit the offer, repeats the extension,
                or has an unknown, repeated or invalid parameter (the subclasses
                InvalidParameterName, DuplicateParameter, InvalidParameterValue).
        """
        # 5: "If a server gives an invalid response, such as accepting a PMCE that the client
        # did not offer, the client MUST _Fail the WebSocket Connection_."
        if any(extension.name == self.name for extension in accepted_extensions):
            raise NegotiationError(f"received duplicate {self.name}")

        answer = _parse_params(params, offer=False)
        return PerMessageDeflate(
            _agree_server_no_context_takeover(self.server_no_context_takeover, answer),
            # 7.1.1.2: offering client_no_context_takeover means "the client is not going to
            # use context takeover" even if the response leaves it out.
            self.client_no_context_takeover or answer.client_no_context_takeover,
            _agree_server_max_window_bits(self.server_max_window_bits, answer) or 15,
            _agree_client_max_window_bits(self.client_max_window_bits, answer) or 15,
            self.compress_settings,
        )


def _agree_server_no_context_takeover(offered: bool, answer: _Params) -> bool:
    """
    Return whether the server resets its window; the server may add it unasked.

    Raises:
        NegotiationError: If we asked for it and the server left it out.
    """
    # 7.1.1.1: "A server accepts an extension negotiation offer that includes the
    # "server_no_context_takeover" extension parameter by including the
    # "server_no_context_takeover" extension parameter in the corresponding [...] response".
    if offered and not answer.server_no_context_takeover:
        raise NegotiationError("expected server_no_context_takeover")
    return answer.server_no_context_takeover


def _agree_server_max_window_bits(offered: int | None, answer: _Params) -> int | None:
    """
    Return the server's window size; the server may set one unasked.

    Raises:
        NegotiationError: If we set a limit and the server left it out or exceeded it.
    """
    answered = answer.server_max_window_bits
    if offered is not None:
        # 7.1.2.1: "A server accepts an extension negotiation offer with this parameter by
        # including the "server_max_window_bits" extension parameter in the extension
        # negotiation response [...] with the same or smaller value as the offer."
        if answered is None:
            raise NegotiationError("expected server_max_window_bits")
        if answered > offered:
            raise NegotiationError("unsupported server_max_window_bits")
    return answered


def _agree_client_max_window_bits(offered: int | bool | None, answer: _Params) -> int | None:
    """
    Return our window size: the server's choice, else our own limit, else None (15).

    Raises:
        NegotiationError: If the server set it while we didn't offer it, or exceeded our limit.
    """
    answered = answer.client_max_window_bits  # never True in a response
    if offered is None:
        # 7.1.2.2: "If a received extension negotiation offer doesn't have the
        # "client_max_window_bits" extension parameter, the corresponding extension
        # negotiation response to the offer MUST NOT include [it]."
        if answered is not None:
            raise NegotiationError("unexpected client_max_window_bits")
        return None
    if offered is True:
        # Offered without a value: any size the server picks is fine.
        return answered
    # 7.1.2.2: with a value, "the client is not going to use an LZ77 sliding window size
    # greater than the size specified by the value in the extension negotiation offer";
    # the server may answer "with a value equal to or smaller than the received value".
    if answered is None:
        return offered
    if answered > offered:
        raise NegotiationError("unsupported client_max_window_bits")
    return answered


def enable_client_permessage_deflate(
    extensions: Sequence[ClientExtensionFactory] | None,
) -> Sequence[ClientExtensionFactory]:
    """
    Add permessage-deflate with the default settings unless a factory for it is already there.

    This is what ``compression="deflate"`` does. The default offer is
    ``permessage-deflate; client_max_window_bits``, and the compressor uses ``memLevel=5``.

    Args:
        extensions: the client's extension factories, or None.

    Returns:
        ``extensions`` unchanged if it has a permessage-deflate factory, else a new list
        with the default factory appended.
    """
    if extensions is None:
        extensions = []
    if any(factory.name == _NAME for factory in extensions):
        return extensions
    return [*extensions, ClientPerMessageDeflateFactory(compress_settings={"memLevel": 5})]


class ServerPerMessageDeflateFactory(ServerExtensionFactory):
    """
    Server side of the permessage-deflate negotiation (RFC 7692 section 7.1).

    fastws is a client; this class exists for code written against websockets 10.x.
    Each argument sets the parameter of the same name in the answer to an offer.

    Args:
        server_no_context_takeover: reset our LZ77 window after each message.
        client_no_context_takeover: ask the client to reset its LZ77 window after each message.
        server_max_window_bits: largest window we will use, 8 to 15 (base-2 logarithm).
        client_max_window_bits: largest window the client may use, 8 to 15.
        compress_settings: extra keyword arguments for :func:`zlib.compressobj`, except ``wbits``.
        require_client_max_window_bits: decline offers without ``client_max_window_bits``
            instead of accepting them uncompressed-window-limited.

    Raises:
        ValueError: If a window size is out of range, ``compress_settings`` holds ``wbits``,
            or ``require_client_max_window_bits`` is set without ``client_max_window_bits``.
    """

    name = _NAME

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | None = None,
        compress_settings: dict[str, Any] | None = None,
        require_client_max_window_bits: bool = False,
    ) -> None:
        _check_window_bits("server_max_window_bits", server_max_window_bits, allow_true=False)
        _check_window_bits("client_max_window_bits", client_max_window_bits, allow_true=False)
        if compress_settings is not None and "wbits" in compress_settings:
            raise ValueError(
                "compress_settings must not include wbits, set server_max_window_bits instead"
            )
        if require_client_max_window_bits and client_max_window_bits is None:
            raise ValueError(
                "require_client_max_window_bits is enabled, "
                "but client_max_window_bits isn't configured"
            )
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = compress_settings
        self.require_client_max_window_bits = require_client_max_window_bits

    def process_request_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        """
        Answer a client's offer: the parameters to send back and the agreed extension.

        Args:
            params: the parameters of one permessage-deflate offer.
            accepted_extensions: extensions already accepted from the same request.

        Returns:
            The answer's parameters and the extension, with the client as "remote".

        Raises:
            NegotiationError: To decline the offer: a duplicate extension, a missing required
                ``client_max_window_bits``, or an unknown, repeated or invalid parameter.
        """
        if any(extension.name == self.name for extension in accepted_extensions):
            raise NegotiationError(f"skipped duplicate {self.name}")

        offer = _parse_params(params, offer=True)

        # 7.1.1.1-2: either side's no_context_takeover is granted if asked or configured.
        server_no_context = self.server_no_context_takeover or offer.server_no_context_takeover
        client_no_context = self.client_no_context_takeover or offer.client_no_context_takeover

        # 7.1.2.1: answer "with the same or smaller value as the offer"; our own limit applies
        # even when the client sent none.
        server_bits = offer.server_max_window_bits
        if self.server_max_window_bits is not None:
            server_bits = min(server_bits or 15, self.server_max_window_bits)

        # 7.1.2.2: the answer may carry client_max_window_bits only if the offer did, with a
        # value "equal to or smaller than the received value".
        client_bits = offer.client_max_window_bits
        limit = self.client_max_window_bits
        if limit is None:
            if client_bits is True:
                client_bits = None
        elif client_bits is None:
            if self.require_client_max_window_bits:
                raise NegotiationError("required client_max_window_bits")
        else:
            client_bits = limit if client_bits is True else min(client_bits, limit)

        answer = _Params(server_no_context, client_no_context, server_bits, client_bits)
        return _format_params(answer), PerMessageDeflate(
            client_no_context,
            server_no_context,
            int(client_bits or 15),
            server_bits or 15,
            self.compress_settings,
        )


def enable_server_permessage_deflate(
    extensions: Sequence[ServerExtensionFactory] | None,
) -> Sequence[ServerExtensionFactory]:
    """
    Add permessage-deflate with the default server settings unless a factory is already there.

    The default answer limits both windows to 12 bits, and the compressor uses ``memLevel=5``.

    Args:
        extensions: the server's extension factories, or None.

    Returns:
        ``extensions`` unchanged if it has a permessage-deflate factory, else a new list
        with the default factory appended.
    """
    if extensions is None:
        extensions = []
    if any(factory.name == _NAME for factory in extensions):
        return extensions
    default = ServerPerMessageDeflateFactory(
        server_max_window_bits=12,
        client_max_window_bits=12,
        compress_settings={"memLevel": 5},
    )
    return [*extensions, default]
