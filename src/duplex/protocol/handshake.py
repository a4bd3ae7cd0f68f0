"""RFC 6455 section 4: the server's side of the opening handshake.

Theory of operation. The HTTP layer parses a request and hands its method, version and header pairs
to :func:`validate_upgrade`, which either returns an :class:`UpgradeOffer` or raises
:class:`~duplex.protocol.exceptions.HandshakeError` carrying the exact HTTP answer (status, message,
headers). The application then picks a subprotocol (:func:`select_subprotocol`) and extensions, and
:func:`build_accept_response` writes the ``101 Switching Protocols`` bytes. Nothing here touches a
socket.

Header names are matched case-insensitively and a header may arrive on several lines; for the
comma-separated ones (``Upgrade``, ``Connection``, ``Sec-WebSocket-Protocol``) the lines are read as one
list, as RFC 7230 section 3.2.2 says they must be.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .exceptions import HandshakeError

__all__ = [
    "GUID",
    "UpgradeOffer",
    "accept_key",
    "build_accept_response",
    "is_upgrade_request",
    "select_subprotocol",
    "validate_upgrade",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_SUPPORTED_VERSION = "13"
_VERSION_HEADERS = [("Upgrade", "websocket"), ("Sec-WebSocket-Version", _SUPPORTED_VERSION)]
_HTTP_VERSION_RE = re.compile(r"(?:HTTP/)?([0-9]+)\.([0-9]+)")
_HEADER_NAME_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_OWS = " \t"
#: request headers: ``(name, value)`` pairs, or lower-case name -> values as received
HeaderInput = Sequence[tuple[str, str]] | Mapping[str, Sequence[str]]
# Built once: every accepted handshake starts with the same bytes.
_RESPONSE_HEAD = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"


_GUID_BYTES = GUID.encode("ascii")


def accept_key(key: str) -> str:
    """Compute ``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key`` (RFC 6455 section 4.2.2, item 5.4).

    Args:
        key: the client's key, as sent.

    Returns:
        base64(SHA-1(key + GUID)).
    """
    return _accept_key_bytes(key).decode("ascii")


def _accept_key_bytes(key: str) -> bytes:
    return binascii.b2a_base64(hashlib.sha1(key.encode("ascii") + _GUID_BYTES).digest(), newline=False)


# Not frozen (a frozen dataclass's __init__ costs ~0.5 µs more per handshake): treat as read-only.
@dataclass(slots=True)
class UpgradeOffer:
    """A validated WebSocket upgrade request.

    Attributes:
        key: the ``Sec-WebSocket-Key`` value, to answer with :func:`accept_key`.
        subprotocols: the ``Sec-WebSocket-Protocol`` tokens, in the client's order.
        extensions: the raw ``Sec-WebSocket-Extensions`` header values, in order.
        origin: the ``Origin`` header, or None when the client sent none.
    """

    key: str
    subprotocols: tuple[str, ...]
    extensions: tuple[str, ...]
    origin: str | None


def _index(headers: HeaderInput) -> Mapping[str, Sequence[str]]:
    """All header values by lower-case name, as received (one pass instead of one per name)."""
    if type(headers) is dict or isinstance(headers, Mapping):  # the dict first: an ABC check costs
        return headers
    index: dict[str, list[str]] = {}
    for header, value in headers:
        index.setdefault(header.lower(), []).append(value)
    return index


def _tokens(values: Sequence[str]) -> list[str]:
    """The comma-separated list elements of several header lines, empty elements dropped."""
    return [item for value in values for item in (part.strip(_OWS) for part in value.split(",")) if item]


def _has_token(values: Sequence[str], token: str) -> bool:
    """Whether comma-separated header lines list ``token`` (lower case), in any case."""
    for value in values:
        if value.strip(_OWS).lower() == token:  # the usual single-token line, without a split
            return True
        if "," in value and any(part.strip(_OWS).lower() == token for part in value.split(",")):
            return True
    return False


def _show(value: str) -> str:
    """Quote a peer's value for an error message, cut short so a huge header cannot bloat the reply."""
    return repr(value if len(value) <= 60 else value[:60] + "...")


def is_upgrade_request(headers: HeaderInput) -> bool:
    """Tell whether a request asks for a WebSocket.

    Args:
        headers: the request's ``(name, value)`` pairs, names in any case; or a mapping from
            lower-case name to the values received (what the HTTP layer has already built).

    Returns:
        True when an ``Upgrade`` header lists the token ``websocket`` (in any case).
    """
    return _has_token(_index(headers).get("upgrade", ()), "websocket")


def validate_upgrade(method: str, http_version: str, headers: HeaderInput) -> UpgradeOffer:
    """Check an opening handshake request (RFC 6455 section 4.2.1).

    A request without any ``Upgrade`` header is a plain HTTP request to a WebSocket resource and
    gets 426 Upgrade Required. A missing or unsupported ``Sec-WebSocket-Version`` also gets 426, with
    ``Sec-WebSocket-Version: 13`` as section 4.2.2 asks: either way the client needs to know the
    version it must speak. Every 426 also names ``Upgrade: websocket``, which RFC 7231 section 6.5.15
    requires of that status.

    Args:
        method: the request method.
        http_version: the HTTP version, as ``"1.1"`` or ``"HTTP/1.1"``.
        headers: the ``(name, value)`` pairs exactly as received: names in any case, repeats
            allowed; or a mapping from lower-case name to the values received, in order.

    Returns:
        The offer, for the application to accept or reject.

    Raises:
        HandshakeError: with the status, message and headers to answer with, in this order of
            checks: method not GET (405, ``Allow: GET``); HTTP version below 1.1 (400); ``Host``
            missing or repeated (400); no ``Upgrade`` header (426); ``Upgrade`` without
            ``websocket`` (400); ``Connection`` without ``upgrade`` (400);
            ``Sec-WebSocket-Version`` missing, repeated or not ``13`` (426); ``Sec-WebSocket-Key``
            missing, repeated or not the base64 of 16 bytes (400); ``Origin`` repeated (400).
    """
    index = _index(headers)
    if method != "GET":
        raise HandshakeError(
            405, f"a WebSocket handshake must use GET, not {_show(method)}", [("Allow", "GET")]
        )

    if http_version != "1.1":  # what the HTTP layer passes for HTTP/1.1, checked without the regex
        match = _HTTP_VERSION_RE.fullmatch(http_version.strip())
        if match is None:
            raise HandshakeError(400, f"invalid HTTP version {_show(http_version)}")
        if (int(match.group(1)), int(match.group(2))) < (1, 1):
            raise HandshakeError(
                400, f"a WebSocket handshake needs HTTP/1.1 or later, not {_show(http_version)}"
            )

    hosts = index.get("host", ())
    if not hosts:
        raise HandshakeError(400, "missing Host header")
    if len(hosts) > 1:
        # RFC 7230 section 5.4: a request with more than one Host must be answered with 400.
        raise HandshakeError(400, "repeated Host header")

    upgrade = index.get("upgrade", ())
    if not upgrade:
        raise HandshakeError(
            426,
            "this resource only speaks WebSocket: send an Upgrade: websocket request",
            list(_VERSION_HEADERS),
        )
    if not _has_token(upgrade, "websocket"):
        raise HandshakeError(400, f"Upgrade header must include 'websocket', got {_show(', '.join(upgrade))}")

    connection = index.get("connection", ())
    if not _has_token(connection, "upgrade"):
        raise HandshakeError(
            400, f"Connection header must include 'Upgrade', got {_show(', '.join(connection))}"
        )

    versions = [value.strip(_OWS) for value in index.get("sec-websocket-version", ())]
    if not versions:
        raise HandshakeError(
            426, "missing Sec-WebSocket-Version header (this server speaks 13)", list(_VERSION_HEADERS)
        )
    if versions != [_SUPPORTED_VERSION]:
        raise HandshakeError(
            426,
            f"unsupported Sec-WebSocket-Version {_show(', '.join(versions))} (this server speaks 13)",
            list(_VERSION_HEADERS),
        )

    keys = index.get("sec-websocket-key", ())
    if not keys:
        raise HandshakeError(400, "missing Sec-WebSocket-Key header")
    if len(keys) > 1:
        raise HandshakeError(400, "repeated Sec-WebSocket-Key header")
    key = keys[0].strip(_OWS)
    try:
        # Strict: only the base64 alphabet, correct padding, nothing after it.
        raw_key = binascii.a2b_base64(key, strict_mode=True)
    except (binascii.Error, ValueError):
        # ValueError also covers a non-ASCII str, which a2b_base64 refuses before decoding.
        raw_key = b""
    if len(raw_key) != 16:
        raise HandshakeError(
            400, f"Sec-WebSocket-Key must be the base64 encoding of 16 bytes, got {_show(key)}"
        )

    origins = index.get("origin", ())
    if len(origins) > 1:
        # RFC 6454 section 7.3 allows one Origin; two could slip a forbidden origin past a check.
        raise HandshakeError(400, "repeated Origin header")

    protocols = index.get("sec-websocket-protocol")
    extensions = index.get("sec-websocket-extensions")
    return UpgradeOffer(
        key=key,
        subprotocols=tuple(_tokens(protocols)) if protocols else (),
        extensions=tuple(value.strip(_OWS) for value in extensions) if extensions else (),
        origin=origins[0].strip(_OWS) if origins else None,
    )


def select_subprotocol(offered: Sequence[str], supported: Sequence[str]) -> str | None:
    """Pick the subprotocol to answer with.

    Args:
        offered: the client's subprotocols (:attr:`UpgradeOffer.subprotocols`).
        supported: the server's subprotocols, most preferred first.

    Returns:
        The first of ``supported`` that the client offered (compared exactly), or None.
    """
    if not supported or not offered:
        return None
    offered_set = set(offered)
    for subprotocol in supported:
        if subprotocol in offered_set:
            return subprotocol
    return None


def _header_line(name: str, value: str) -> bytes:
    """One ``name: value\\r\\n`` line, refusing anything that could split or forge a header."""
    if not _HEADER_NAME_RE.fullmatch(name):
        raise ValueError(f"invalid header name {name!r}")
    if "\r" in value or "\n" in value or "\x00" in value:
        raise ValueError(f"header {name} must not contain CR, LF or NUL: {value!r}")
    try:
        return f"{name}: {value}\r\n".encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"header {name} must be Latin-1 text: {value!r}") from None


def build_accept_response(
    offer_key: str,
    *,
    subprotocol: str | None = None,
    extensions: str | None = None,
    extra_headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """Write the ``101 Switching Protocols`` response that completes the handshake.

    Args:
        offer_key: the client's ``Sec-WebSocket-Key`` (:attr:`UpgradeOffer.key`).
        subprotocol: the selected subprotocol, sent as ``Sec-WebSocket-Protocol``.
        extensions: the negotiated ``Sec-WebSocket-Extensions`` value.
        extra_headers: more ``(name, value)`` pairs, written last, in order.

    Returns:
        The full response, ending with the empty line.

    Raises:
        ValueError: a header name is not a token, or a value holds CR, LF, NUL or non-Latin-1 text.
    """
    # The accept value is base64 (safe in a header by construction): no line check for it.
    accept_line = b"Sec-WebSocket-Accept: " + _accept_key_bytes(offer_key) + b"\r\n"
    if subprotocol is None and extensions is None and not extra_headers:
        return _RESPONSE_HEAD + accept_line + b"\r\n"  # the common 101, from its template
    parts = [_RESPONSE_HEAD, accept_line]
    if subprotocol is not None:
        parts.append(_header_line("Sec-WebSocket-Protocol", subprotocol))
    if extensions is not None:
        parts.append(_header_line("Sec-WebSocket-Extensions", extensions))
    parts.extend(_header_line(name, value) for name, value in extra_headers)
    parts.append(b"\r\n")
    return b"".join(parts)
