"""RFC 7692 permessage-deflate: negotiating the extension and compressing whole messages.

Theory of operation. During the opening handshake :func:`negotiate` reads the client's offers (RFC 7692
section 5) and returns the response header value and the agreed :class:`DeflateParameters`; declining is
not an error, the connection simply goes on uncompressed. After the handshake, one
:class:`PerMessageDeflate` per connection turns each outgoing message into a frame payload
(:meth:`~PerMessageDeflate.compress`) and each incoming compressed frame back into bytes
(:meth:`~PerMessageDeflate.decompress`), never inflating past the caller's budget.

Wire format (section 7.2.1): a message is a raw DEFLATE stream flushed with an empty stored block,
whose last four octets ``00 00 ff ff`` are removed before sending and added back before inflating.
"Context takeover" means the LZ77 window survives from one message to the next, so later messages may
refer to earlier ones; ``*_no_context_takeover`` switches that off for one direction.

Memory. zlib allocates a compressor's whole state when it is made: about ``(1 << (wbits + 2)) +
(1 << (memLevel + 9))`` bytes plus 6 KiB (262 KiB for zlib's defaults of 15 and 8, 38 KiB for 12 and 5),
and an inflater 7 KiB plus its ``1 << wbits`` window. Kept between messages for context takeover, that
is most of what an idle compressed connection costs, so :class:`DeflateSettings` defaults to what the
websockets library chose for servers with many connections: 12-bit windows both ways and memLevel 5.
Nothing is allocated before the first compressed message of a direction, and a direction without
context takeover frees its state after each message.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .exceptions import InvalidHandshakeResponse, InvalidPayload, PayloadTooBig

__all__ = [
    "CLIENT_DEFLATE",
    "EXTENSION_NAME",
    "DeflateParameters",
    "DeflateSettings",
    "PerMessageDeflate",
    "max_compressed_size",
    "negotiate",
]

EXTENSION_NAME = "permessage-deflate"

# The empty stored block that ends a sync flush; stripped on send, restored on receive (7.2.1, 7.2.2).
_SYNC_TAIL = b"\x00\x00\xff\xff"

_MIN_WINDOW_BITS = 8
_MAX_WINDOW_BITS = 15

#: The defaults of :class:`DeflateSettings` (those of the websockets library's server): a 4 KiB window
#: and memLevel 5 keep a compressor at 38 KiB instead of zlib's 262 KiB, and an inflater at 11 KiB
#: instead of 39 KiB, for slightly larger output (measured: small chat messages in JSON, with context
#: takeover, take 20.5% of their size instead of 18.0%; a 407 KiB JSON document 19.3% instead of 18.7%).
DEFAULT_WINDOW_BITS = 12
DEFAULT_MEM_LEVEL = 5
DEFAULT_LEVEL = 6

_SERVER_NO_CONTEXT_TAKEOVER = "server_no_context_takeover"
_CLIENT_NO_CONTEXT_TAKEOVER = "client_no_context_takeover"
_SERVER_MAX_WINDOW_BITS = "server_max_window_bits"
_CLIENT_MAX_WINDOW_BITS = "client_max_window_bits"
_KNOWN_PARAMETERS = frozenset(
    {
        _SERVER_NO_CONTEXT_TAKEOVER,
        _CLIENT_NO_CONTEXT_TAKEOVER,
        _SERVER_MAX_WINDOW_BITS,
        _CLIENT_MAX_WINDOW_BITS,
    }
)

# RFC 7230 section 3.2.6 token and quoted-string; RFC 6455 section 9.1 builds extension offers from them.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED_STRING = r'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_TOKEN_RE = re.compile(_TOKEN)
_PARAMETER_RE = re.compile(rf"({_TOKEN})(?:[ \t]*=[ \t]*({_TOKEN}|{_QUOTED_STRING}))?")
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)
# 7.1.2.1: "a decimal integer value without leading zeros between 8 to 15, inclusive".
_WINDOW_BITS_RE = re.compile(r"8|9|1[0-5]")
_OWS = " \t"


def _check_window_bits(name: str, value: int) -> None:
    if not _MIN_WINDOW_BITS <= value <= _MAX_WINDOW_BITS:
        raise ValueError(f"{name} must be between 8 and 15, got {value!r}")


def max_compressed_size(size: int) -> int:
    """The largest frame payload a DEFLATE encoder can make of a message of ``size`` bytes.

    This is zlib's ``deflateBound()`` for arbitrary parameters (deflate.c), for raw DEFLATE (no zlib
    wrapper), as zlib itself cannot be asked for the client's parameters. The larger of:

    - stored blocks: a block that does not compress is stored with a 5-byte header, and memLevel
      1 makes blocks of 127 bytes: ``size + size/32 + size/128 + size/2048 + 7``, about 4%;
    - fixed Huffman blocks: with a window no larger than the symbol buffer (windowBits <= memLevel
      + 7), a block may have slid out of the window and cannot be stored; 9-bit literals then cost
      ``size + size/8 + size/256 + size/512 + 4``, about 13%.

    The tight bound of zlib's default parameters (memLevel 8 and a 15-bit window: 5 bytes per 16 KiB
    stored block, about 0.03%) does not hold for every client: the websockets library compresses
    with memLevel 5 (2 KiB blocks, 0.25%). Plus 5 bytes for the empty stored block of a sync flush,
    which a fragment compressed on its own keeps unless it ends the message (RFC 7692 section 7.2.1).

    Args:
        size: the message's length, uncompressed.

    Returns:
        The most bytes its compressed payload can take, compressed in one go.
    """
    fixed_blocks = size + (size >> 3) + (size >> 8) + (size >> 9) + 4
    stored_blocks = size + (size >> 5) + (size >> 7) + (size >> 11) + 7
    return max(fixed_blocks, stored_blocks) + 5


@dataclass(frozen=True)
class DeflateParameters:
    """The permessage-deflate parameters agreed for one connection (RFC 7692 section 7.1).

    Attributes:
        server_no_context_takeover: the server starts each message with an empty LZ77 window.
        client_no_context_takeover: the client starts each message with an empty LZ77 window.
        server_max_window_bits: base-2 log of the LZ77 window the server compresses with.
        client_max_window_bits: base-2 log of the LZ77 window the client compresses with.
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15

    def __post_init__(self) -> None:
        _check_window_bits("server_max_window_bits", self.server_max_window_bits)
        _check_window_bits("client_max_window_bits", self.client_max_window_bits)


@dataclass(frozen=True)
class DeflateSettings:
    """What a server is willing to agree to, and how it compresses: made once, used per handshake.

    The defaults suit a server with many mostly idle connections. Between messages a connection
    keeps at most a compressor (about ``(1 << (server_max_window_bits + 2)) + (1 << (mem_level + 9))``
    bytes plus 6 KiB: 38 KiB by default) and an inflater (``1 << client_max_window_bits`` bytes plus
    7 KiB: 11 KiB by default); ``*_no_context_takeover`` frees one after each message instead.

    Attributes:
        server_max_window_bits: base-2 log of the largest window the server compresses with (8-15);
            a client may ask for less.
        client_max_window_bits: base-2 log of the largest window kept for a client's messages
            (8-15). A client that cannot be given a window limit is asked for no context takeover
            instead, unless this is 15 (see :func:`negotiate`).
        server_no_context_takeover: compress each message on its own (the compressor is freed after
            each message, at the cost of ratio on small, similar messages).
        client_no_context_takeover: ask every client to compress each message on its own (the
            inflater is freed after each message). A client that offers it is always answered so.
        level: zlib compression level, 0 (store) to 9 (smallest).
        mem_level: zlib memLevel, 1 (least memory) to 9 (fastest).
    """

    server_max_window_bits: int = DEFAULT_WINDOW_BITS
    client_max_window_bits: int = DEFAULT_WINDOW_BITS
    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    level: int = DEFAULT_LEVEL
    mem_level: int = DEFAULT_MEM_LEVEL

    def __post_init__(self) -> None:
        for name in ("server_max_window_bits", "client_max_window_bits", "level", "mem_level"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        _check_window_bits("server_max_window_bits", self.server_max_window_bits)
        _check_window_bits("client_max_window_bits", self.client_max_window_bits)
        if not 0 <= self.level <= 9:
            raise ValueError(f"level must be between 0 and 9, got {self.level!r}")
        if not 1 <= self.mem_level <= 9:
            raise ValueError(f"mem_level must be between 1 and 9, got {self.mem_level!r}")
        for name in ("server_no_context_takeover", "client_no_context_takeover"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def negotiate(self, header_values: Sequence[str]) -> tuple[str, PerMessageDeflate] | None:
        """Accept the first acceptable offer of a handshake (see :func:`negotiate`).

        Returns:
            ``(response header value, the connection's compression state)``, or None when no offer
            is acceptable.
        """
        agreed = negotiate(
            header_values,
            server_max_window_bits=self.server_max_window_bits,
            server_no_context_takeover=self.server_no_context_takeover,
            client_no_context_takeover=self.client_no_context_takeover,
            # 15 asks nothing of the client: an offer of a bare client_max_window_bits is not answered.
            client_max_window_bits=(
                None if self.client_max_window_bits == _MAX_WINDOW_BITS else self.client_max_window_bits
            ),
        )
        if agreed is None:
            return None
        response, params = agreed
        return response, PerMessageDeflate(params, compress_level=self.level, mem_level=self.mem_level)

    # -- the client's side --------------------------------------------------------------------

    def client_offer(self) -> str:
        """The ``Sec-WebSocket-Extensions`` value a client offers with these settings.

        ``client_max_window_bits`` is always offered (bare at 15), so the server may limit the
        client's window; ``server_max_window_bits`` only below 15, and the ``*_no_context_takeover``
        flags when set.
        """
        offer = [EXTENSION_NAME]
        if self.server_no_context_takeover:
            offer.append(_SERVER_NO_CONTEXT_TAKEOVER)
        if self.client_no_context_takeover:
            offer.append(_CLIENT_NO_CONTEXT_TAKEOVER)
        if self.server_max_window_bits < _MAX_WINDOW_BITS:
            offer.append(f"{_SERVER_MAX_WINDOW_BITS}={self.server_max_window_bits}")
        if self.client_max_window_bits < _MAX_WINDOW_BITS:
            offer.append(f"{_CLIENT_MAX_WINDOW_BITS}={self.client_max_window_bits}")
        else:
            offer.append(_CLIENT_MAX_WINDOW_BITS)
        return "; ".join(offer)

    def client_accept(self, header_values: Sequence[str]) -> PerMessageDeflate | None:
        """Read the server's answer to :meth:`client_offer` (every ``Sec-WebSocket-Extensions``
        value of the 101 response); None when the server declined compression.

        Raises:
            InvalidHandshakeResponse: the server answered with an extension or a parameter that was
                not offered, a parameter twice, an invalid value, or without a condition the offer
                required (RFC 7692 section 5: the client must then fail the connection).
        """
        elements = [
            element
            for value in header_values
            for element in _split_outside_quotes(value, ",")
            if element.strip(_OWS)
        ]
        if not elements:
            return None
        if len(elements) > 1:
            raise _bad_answer(f"the server accepted {len(elements)} extensions; one was offered")
        parsed = _parse_extension(elements[0])
        if parsed is None:
            raise _bad_answer(f"malformed Sec-WebSocket-Extensions {elements[0].strip(_OWS)!r}")
        name, parameters = parsed
        if name.lower() != EXTENSION_NAME:
            raise _bad_answer(f"the server accepted extension {name!r}, which was not offered")
        agreed: dict[str, str | None] = {}
        for key, value in parameters:
            if key not in _KNOWN_PARAMETERS:
                raise _bad_answer(f"unknown permessage-deflate parameter {key!r}")
            if key in agreed:
                raise _bad_answer(f"permessage-deflate parameter {key!r} given twice")
            if key.endswith("_no_context_takeover"):
                if value is not None:
                    raise _bad_answer(f"{key} takes no value, got {value!r}")
            elif value is None or not _WINDOW_BITS_RE.fullmatch(value):
                raise _bad_answer(f"{key} must be 8 to 15, got {value!r}")
            agreed[key] = value
        # 7.1.1.1 and 7.1.2.1: what the client asked of the server must be in the answer.
        if self.server_no_context_takeover and _SERVER_NO_CONTEXT_TAKEOVER not in agreed:
            raise _bad_answer("server_no_context_takeover was asked for and not agreed")
        server_bits = int(agreed.get(_SERVER_MAX_WINDOW_BITS) or _MAX_WINDOW_BITS)
        if self.server_max_window_bits < _MAX_WINDOW_BITS:
            if _SERVER_MAX_WINDOW_BITS not in agreed:
                raise _bad_answer("server_max_window_bits was asked for and not agreed")
            if server_bits > self.server_max_window_bits:
                raise _bad_answer(
                    f"server_max_window_bits={server_bits} is larger than the "
                    f"{self.server_max_window_bits} asked for"
                )
        params = DeflateParameters(
            server_no_context_takeover=_SERVER_NO_CONTEXT_TAKEOVER in agreed,
            # Ours to choose even when the server did not ask (7.1.1.2): a client that wants it frees
            # its compressor after each message either way.
            client_no_context_takeover=self.client_no_context_takeover
            or _CLIENT_NO_CONTEXT_TAKEOVER in agreed,
            server_max_window_bits=server_bits,
            client_max_window_bits=int(agreed.get(_CLIENT_MAX_WINDOW_BITS) or _MAX_WINDOW_BITS),
        )
        return PerMessageDeflate(
            params,
            compress_level=self.level,
            mem_level=self.mem_level,
            client=True,
            max_window_bits=self.client_max_window_bits,
        )


#: A client's defaults: it asks nothing of the server's window and compresses with zlib's 15 bits
#: (a client has few connections, so ratio matters more than the memory of each).
CLIENT_DEFLATE = DeflateSettings(
    server_max_window_bits=_MAX_WINDOW_BITS, client_max_window_bits=_MAX_WINDOW_BITS
)


def _bad_answer(message: str) -> InvalidHandshakeResponse:
    return InvalidHandshakeResponse(f"invalid permessage-deflate answer: {message}", 101)


def negotiate(
    header_values: Sequence[str],
    *,
    server_max_window_bits: int = 15,
    server_no_context_takeover: bool = False,
    client_no_context_takeover: bool = False,
    client_max_window_bits: int | None = None,
) -> tuple[str, DeflateParameters] | None:
    """Accept the first acceptable permessage-deflate offer of a handshake request.

    Offers with an unknown or repeated parameter, or an invalid value, are declined (RFC 7692 section
    7.1) and the next offer is tried; a malformed header never raises. Other extensions are ignored.

    Args:
        header_values: every ``Sec-WebSocket-Extensions`` value of the request, in order.
        server_max_window_bits: the largest window (8-15) the server is willing to compress with.
        server_no_context_takeover: the server wants to compress every message on its own.
        client_no_context_takeover: the server asks the client to compress every message on its own.
            A client that offers it is always answered with it (it costs that client nothing, and
            the server then keeps no inflater between its messages).
        client_max_window_bits: the largest window (8-15) the server keeps for the client's messages
            between them. It can only be asked of a client that offered ``client_max_window_bits``;
            a client that did not, which may use a 15-bit window, is asked for
            ``client_no_context_takeover`` instead (when this is below 15). None: 15, asked of no one.

    Returns:
        ``(response header value, agreed parameters)``, or None when no offer is acceptable.

    Raises:
        TypeError: ``header_values`` is a single str rather than a sequence of them.
        ValueError: a window-bits preference is outside 8-15.
    """
    if isinstance(header_values, str):
        raise TypeError("header_values must be a sequence of header values, not one str")
    _check_window_bits("server_max_window_bits", server_max_window_bits)
    if client_max_window_bits is not None:
        _check_window_bits("client_max_window_bits", client_max_window_bits)
    for header_value in header_values:
        for element in _split_outside_quotes(header_value, ","):
            offer = _parse_extension(element)
            # Extension tokens are HTTP tokens, conventionally case-insensitive.
            if offer is None or offer[0].lower() != EXTENSION_NAME:
                continue
            accepted = _accept_offer(
                offer[1],
                server_max_window_bits=server_max_window_bits,
                server_no_context_takeover=server_no_context_takeover,
                client_no_context_takeover=client_no_context_takeover,
                client_max_window_bits=client_max_window_bits,
            )
            if accepted is not None:
                return accepted
    return None


def _accept_offer(
    parameters: Iterable[tuple[str, str | None]],
    *,
    server_max_window_bits: int,
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    client_max_window_bits: int | None,
) -> tuple[str, DeflateParameters] | None:
    """Answer one offer, or None to decline it (unknown, repeated or invalid parameters)."""
    offered: dict[str, str | None] = {}
    for name, value in parameters:
        if name not in _KNOWN_PARAMETERS or name in offered:
            return None
        offered[name] = value
    if offered.get(_SERVER_NO_CONTEXT_TAKEOVER) is not None:
        return None
    if offered.get(_CLIENT_NO_CONTEXT_TAKEOVER) is not None:
        return None
    # server_max_window_bits must carry a value; client_max_window_bits may be bare (7.1.2).
    requested_server_bits: int | None = None
    if _SERVER_MAX_WINDOW_BITS in offered:
        value = offered[_SERVER_MAX_WINDOW_BITS]
        if value is None or not _WINDOW_BITS_RE.fullmatch(value):
            return None
        requested_server_bits = int(value)
    hinted_client_bits: int | None = None
    if _CLIENT_MAX_WINDOW_BITS in offered:
        value = offered[_CLIENT_MAX_WINDOW_BITS]
        if value is not None:
            if not _WINDOW_BITS_RE.fullmatch(value):
                return None
            hinted_client_bits = int(value)

    response = [EXTENSION_NAME]
    # 7.1.1.1: a client's server_no_context_takeover must be honoured and echoed.
    server_nct = server_no_context_takeover or _SERVER_NO_CONTEXT_TAKEOVER in offered
    if server_nct:
        response.append(_SERVER_NO_CONTEXT_TAKEOVER)
    # 7.1.1.2: the client's client_no_context_takeover is only a hint; the server decides, and may
    # include it in any response. Echoing the hint lets the inflater go between messages for free. A
    # client whose window cannot be limited (it did not offer client_max_window_bits) is asked not
    # to take over its context instead, so no inflater larger than the limit outlives a message.
    client_bits_supported = _CLIENT_MAX_WINDOW_BITS in offered
    client_nct = (
        client_no_context_takeover
        or _CLIENT_NO_CONTEXT_TAKEOVER in offered
        or (not client_bits_supported and client_max_window_bits not in (None, _MAX_WINDOW_BITS))
    )
    if client_nct:
        response.append(_CLIENT_NO_CONTEXT_TAKEOVER)
    # 7.1.2.1: answer with the same or a smaller value; a smaller window is always possible.
    server_bits = server_max_window_bits
    if requested_server_bits is not None:
        server_bits = min(server_bits, requested_server_bits)
    if requested_server_bits is not None or server_bits < _MAX_WINDOW_BITS:
        response.append(f"{_SERVER_MAX_WINDOW_BITS}={server_bits}")
    # 7.1.2.2: only a client that offered client_max_window_bits may be told its window.
    client_bits = _MAX_WINDOW_BITS
    if client_bits_supported:
        limits = [bits for bits in (hinted_client_bits, client_max_window_bits) if bits is not None]
        if limits:
            client_bits = min(limits)
            response.append(f"{_CLIENT_MAX_WINDOW_BITS}={client_bits}")
    agreed = DeflateParameters(
        server_no_context_takeover=server_nct,
        client_no_context_takeover=client_nct,
        server_max_window_bits=server_bits,
        client_max_window_bits=client_bits,
    )
    return "; ".join(response), agreed


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split on ``separator`` except inside quoted-strings (which may hold commas and semicolons)."""
    parts: list[str] = []
    start = 0
    in_quotes = False
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif in_quotes:
            if char == "\\":
                escaped = True
            elif char == '"':
                in_quotes = False
        elif char == '"':
            in_quotes = True
        elif char == separator:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _parse_extension(element: str) -> tuple[str, list[tuple[str, str | None]]] | None:
    """Parse ``name *(; param[=value])``; None for an empty or malformed element."""
    name, *raw_parameters = _split_outside_quotes(element, ";")
    name = name.strip(_OWS)
    if not _TOKEN_RE.fullmatch(name):
        return None
    parameters: list[tuple[str, str | None]] = []
    for raw in raw_parameters:
        match = _PARAMETER_RE.fullmatch(raw.strip(_OWS))
        if match is None:
            return None
        value = match.group(2)
        if value is not None and value.startswith('"'):
            value = _QUOTED_PAIR_RE.sub(r"\1", value[1:-1])
        parameters.append((match.group(1), value))
    return name, parameters


class PerMessageDeflate:
    """The compression state of one connection.

    Outgoing messages are compressed with our side's parameters, incoming ones inflated with the
    peer's agreed window (a server compresses with the ``server_*`` parameters, a client with the
    ``client_*`` ones). Compressor and decompressor are created lazily and dropped between
    messages when their context is not taken over, so an idle connection holds no zlib memory then.
    """

    def __init__(
        self,
        params: DeflateParameters,
        *,
        compress_level: int = DEFAULT_LEVEL,
        mem_level: int = DEFAULT_MEM_LEVEL,
        client: bool = False,
        max_window_bits: int = _MAX_WINDOW_BITS,
    ) -> None:
        """Prepare for a connection.

        Args:
            params: the parameters agreed by :func:`negotiate` (or :meth:`ClientOffer.accept`).
            compress_level: zlib level, 0 (store) to 9 (smallest), or -1 for zlib's default.
            mem_level: zlib memLevel, 1 (least memory: 1 KiB of hash table and buffers) to 9
                (fastest: 256 KiB); 5 (16 KiB) by default.
            client: the client side of the connection.
            max_window_bits: the largest window to compress with, when it is below the agreed one
                (a smaller window is always allowed, RFC 7692 section 7.1.2).

        Raises:
            ValueError: ``compress_level`` or ``mem_level`` is out of range.
        """
        if not -1 <= compress_level <= 9:
            raise ValueError(f"compress_level must be between -1 and 9, got {compress_level!r}")
        if not 1 <= mem_level <= 9:
            raise ValueError(f"mem_level must be between 1 and 9, got {mem_level!r}")
        self._params = params
        self._compress_level = compress_level
        self._mem_level = mem_level
        if client:
            send_bits, self._send_no_context = (
                params.client_max_window_bits,
                params.client_no_context_takeover,
            )
            self._receive_bits = params.server_max_window_bits
            self._receive_no_context = params.server_no_context_takeover
        else:
            send_bits, self._send_no_context = (
                params.server_max_window_bits,
                params.server_no_context_takeover,
            )
            self._receive_bits = params.client_max_window_bits
            self._receive_no_context = params.client_no_context_takeover
        # zlib's deflateInit2 refuses a raw window of 8 bits, so an agreed 8 compresses with 9. That
        # still honours the 256-byte window promised to the client: deflate never emits a distance
        # above the window size minus MIN_LOOKAHEAD (262), so a 9-bit (512-byte) stream only refers to
        # the last 250 bytes, which an 8-bit inflater still holds.
        self._compress_wbits = -max(min(send_bits, max_window_bits), 9)
        self._compressor: zlib._Compress | None = None
        self._decompressor: zlib._Decompress | None = None
        # Whether the incoming message being inflated has had a non-empty frame yet.
        self._message_has_data = False

    @property
    def params(self) -> DeflateParameters:
        """The agreed parameters."""
        return self._params

    def compress(self, payload: bytes) -> bytes:
        """Compress one whole outgoing message.

        Args:
            payload: the message's bytes (text already UTF-8 encoded).

        Returns:
            The frame payload, without the trailing ``00 00 ff ff`` (RFC 7692 section 7.2.1).
        """
        compressor = self._compressor
        if compressor is None:
            compressor = zlib.compressobj(
                self._compress_level, zlib.DEFLATED, self._compress_wbits, self._mem_level
            )
            self._compressor = compressor
        body = compressor.compress(payload)
        # A sync flush always ends with the empty stored block, even for an empty message, whose
        # payload is then the lone byte 0x00 (the stored block's header bits), as 7.2.3.6 allows.
        tail = compressor.flush(zlib.Z_SYNC_FLUSH)
        if self._send_no_context:
            self._compressor = None
        return body + tail[: -len(_SYNC_TAIL)]

    def decompress(self, data: bytes, max_length: int, final: bool) -> bytes:
        """Inflate one incoming frame's payload of a compressed message.

        Args:
            data: the frame's payload (after unmasking).
            max_length: the most bytes this frame may inflate to (what remains of the message budget).
            final: this is the message's last frame; the ``00 00 ff ff`` tail is added back
                (RFC 7692 section 7.2.2).

        Returns:
            The inflated bytes, at most ``max_length`` of them.

        Raises:
            PayloadTooBig: the data inflates past ``max_length``; no more than ``max_length + 1``
                bytes were produced to find out.
            InvalidPayload: the data is not a valid DEFLATE stream.
        """
        if max_length < 0:
            raise ValueError(f"max_length must not be negative, got {max_length!r}")
        decompressor = self._decompressor
        if decompressor is None:
            # The agreed window, not a 15-bit one that would fit any peer: kept between messages,
            # it is most of an idle connection's memory (11 KiB at 12 bits, 39 KiB at 15). A peer
            # that refers further back than it agreed to fails with 1007 ("invalid distance too far
            # back"); zlib's inflateInit2 takes 8 bits for raw DEFLATE, unlike deflateInit2.
            decompressor = zlib.decompressobj(wbits=-self._receive_bits)
            self._decompressor = decompressor
        if data:
            self._message_has_data = True
        try:
            # Once a block with BFINAL ended the stream (7.2.3.4 allows it), the rest of the message
            # is padding; it is dropped rather than fed in, where unused_data would keep it.
            output = b"" if decompressor.eof else _inflate(decompressor, data, max_length)
            if final:
                # A message with no payload at all carries no DEFLATE data to complete; the tail alone
                # would start a stored block that swallows the next message, so it means b"".
                if self._message_has_data and not decompressor.eof:
                    # Fed separately rather than appended to ``data``, which would copy the payload.
                    rest = _inflate(decompressor, _SYNC_TAIL, max_length - len(output))
                    if rest:
                        output += rest
                # A finished stream cannot continue into the next message, so start afresh too.
                if self._receive_no_context or decompressor.eof:
                    self._decompressor = None
                self._message_has_data = False
        except (PayloadTooBig, InvalidPayload):
            # The connection is failing; release the window and any unconsumed input now.
            self._decompressor = None
            self._message_has_data = False
            raise
        return output


def _inflate(decompressor: zlib._Decompress, data: bytes, max_length: int) -> bytes:
    """Inflate ``data``, producing at most ``max_length + 1`` bytes, one more than allowed."""
    try:
        # The extra byte tells "exactly at the limit" from "over it". Whatever input zlib did not
        # need for those bytes waits in unconsumed_tail, so a deflate bomb is never expanded in full.
        output = decompressor.decompress(data, max_length + 1)
    except zlib.error as exc:
        raise InvalidPayload(f"compressed message does not inflate: {exc}") from exc
    if len(output) > max_length:
        raise PayloadTooBig("compressed message inflates past the maximum message size")
    return output
