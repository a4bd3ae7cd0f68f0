"""RFC 6455 section 5: the frame format, as a server writes and reads it.

::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-------+-+-------------+-------------------------------+
    |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
    |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
    |N|V|V|V|       |S|             |   (if payload len==126/127)   |
    | |1|2|3|       |K|             |                               |
    +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
    |     Extended payload length continued, if payload len == 127  |
    + - - - - - - - - - - - - - - - +-------------------------------+
    |                               |Masking-key, if MASK set to 1  |
    +-------------------------------+-------------------------------+

A server never masks what it sends, and "MUST close the connection upon receiving a frame that is
not masked" (section 5.1); a client masks every frame it sends with a fresh, unpredictable key, and
fails a connection whose server masks. Parsing lives in :mod:`duplex.protocol.connection`, next to
the state it feeds; this module holds the pieces both directions share.
"""

from __future__ import annotations

import struct

from .exceptions import InvalidPayload, WebSocketError

__all__ = [
    "CONTROL_OPCODES",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONTINUATION",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "build_close_payload",
    "build_frame",
    "build_masked_frame",
    "frame_header",
    "frame_payload",
    "is_valid_close_code",
    "mask_frame",
    "parse_close_payload",
    "unmask",
    "unmask_frame",
]

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
CONTROL_OPCODES = frozenset((OP_CLOSE, OP_PING, OP_PONG))

FIN = 0x80
RSV1 = 0x40

# Bound once: struct's module-level functions look the format up in a cache on every call.
_pack_short = struct.Struct("!BB").pack
_pack_medium = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack
MASK_BIT = 0x80
_pack_code = struct.Struct("!H").pack
_unpack_code = struct.Struct("!H").unpack_from


def frame_header(opcode: int, length: int, *, fin: bool = True, rsv1: bool = False) -> bytes:
    """The header of an unmasked (server-to-client) frame carrying ``length`` payload bytes."""
    first = opcode | (FIN if fin else 0) | (RSV1 if rsv1 else 0)
    if length < 126:
        return _pack_short(first, length)
    if length < 0x10000:
        return _pack_medium(first, 126, length)
    return _pack_long(first, 127, length)


def build_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    """A whole unmasked frame: header and payload in one ``bytes``."""
    return frame_header(opcode, len(payload), fin=fin, rsv1=rsv1) + payload


def build_masked_frame(
    opcode: int, payload: bytes, mask: bytes, *, fin: bool = True, rsv1: bool = False
) -> tuple[bytes, bytes]:
    """A client's frame masked with ``mask``: ``(header with the mask bit and the key, masked payload)``."""
    first = opcode | (FIN if fin else 0) | (RSV1 if rsv1 else 0)
    frame = mask_frame(first, payload, mask, 0)
    split = len(frame) - len(payload)
    return frame[:split], frame[split:]


def _unmask_python(payload: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte masking key repeated (RFC 6455 section 5.3).

    Python has no vectorised XOR on bytes, and a byte loop costs ~50 ns a byte. Reading both
    operands as one big integer lets CPython XOR them 30 bits at a time in C: linear, though
    still ~0.5 GB/s; the C extension below does ~10 GB/s.
    """
    length = len(payload)
    if length == 0:
        return b""
    key = (mask * ((length >> 2) + 1))[:length]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(length, "little")


def _unmask_frame_python(frame: bytes, offset: int) -> bytes:
    """The payload of a whole frame: ``frame[offset + 4:]`` unmasked with ``frame[offset:offset + 4]``."""
    if offset < 0 or offset + 4 > len(frame):
        raise ValueError("the mask must lie inside the frame")
    return _unmask_python(frame[offset + 4 :], frame[offset : offset + 4])


def _mask_frame_python(
    first: int, payload: bytes | bytearray | memoryview, keys: bytes, offset: int
) -> bytes:
    """A client's whole frame: header with ``first`` and the mask bit, the key ``keys[offset:offset +
    4]``, the masked payload."""
    if not 0 <= first <= 255:
        raise ValueError("the first byte must be 0-255")
    if offset < 0 or offset + 4 > len(keys):
        raise ValueError("the key must lie inside keys")
    key = keys[offset : offset + 4]
    length = len(payload)
    if length < 126:
        header = _pack_short(first, MASK_BIT | length)
    elif length < 0x10000:
        header = _pack_medium(first, MASK_BIT | 126, length)
    else:
        header = _pack_long(first, MASK_BIT | 127, length)
    return header + key + _unmask_python(payload, key)


def _frame_payload_python(
    buffer: bytes | bytearray | memoryview, start: int, end: int, text: bool
) -> bytes | str:
    """``buffer[start:end]`` as ``bytes``, or decoded from UTF-8 for a text frame."""
    if start < 0 or end < start or end > len(buffer):
        raise ValueError("the payload must lie inside the buffer")
    payload = bytes(memoryview(buffer)[start:end])
    return payload.decode() if text else payload


# unmask(payload, mask), unmask_frame(frame, offset) and mask_frame(first, payload, keys, offset)
# -> bytes, and frame_payload(buffer, start, end, text) -> bytes | str: the C versions when they
# were built, else the pure-Python ones.
try:
    from ._mask import frame_payload, mask_frame, unmask, unmask_frame
except ImportError:  # installed without a C compiler
    unmask = _unmask_python
    unmask_frame = _unmask_frame_python
    mask_frame = _mask_frame_python
    frame_payload = _frame_payload_python


def is_valid_close_code(code: int) -> bool:
    """Whether a peer may put ``code`` in a close frame (RFC 6455 section 7.4, IANA registry).

    1004 is reserved, 1005/1006/1015 are for reporting only and never go on the wire; 1012-1014 were
    registered after the RFC (service restart, try again later, bad gateway); 3000-4999 belong to
    libraries and applications.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def build_close_payload(code: int | None, reason: str = "") -> bytes:
    """The payload of a close frame: empty when ``code`` is None, else the code and the UTF-8 reason."""
    if code is None:
        return b""
    return _pack_code(code) + reason.encode()


def parse_close_payload(payload: bytes) -> tuple[int, str]:
    """Read a close frame's payload into ``(code, reason)``; an empty payload gives 1005.

    Raises:
        WebSocketError: one byte of payload, or a code no peer may send (close code 1002).
        InvalidPayload: the reason is not UTF-8 (close code 1007).
    """
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        raise WebSocketError("close frame payload of 1 byte: a status code takes 2")
    (code,) = _unpack_code(payload)
    if not is_valid_close_code(code):
        raise WebSocketError(f"close frame with invalid status code {code}")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        raise InvalidPayload("close frame reason is not valid UTF-8") from None
    return code, reason
