"""What crosses the broker: a message's final payload and type, where it goes, and who sent it.

A publishing process encodes the message once (``str`` to UTF-8, JSON values to JSON text) and
sends the bytes a WebSocket frame will carry; each receiving process builds that frame once for all
its local members. The layout, in network byte order::

    magic  b"dx1"                3 bytes
    flags  1 = text, 2 = topic   1 byte
    origin                       8 bytes: the sending process (its own messages come back from
                                 Redis, and are skipped)
    path length, topic length    2 + 2 bytes
    path, topic                  UTF-8
    payload                      the rest

Whatever arrives is checked before anything is delivered: a short or unknown envelope, a name that
is not UTF-8 or a text payload that is not (a browser would fail the whole connection on it) raises
:class:`MalformedEnvelope`, and the message is dropped whole.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["HEADER", "Envelope", "MalformedEnvelope", "decode", "encode"]

MAGIC = b"dx1"
_HEADER = struct.Struct(">3sB8sHH")
#: The fixed part's size.
HEADER = _HEADER.size
_TEXT = 1
_TOPIC = 2


class MalformedEnvelope(ValueError):
    """Bytes from the broker that are not a duplex message; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message on its way between processes."""

    origin: bytes
    path: str | None
    topic: str | None  # None: a broadcast
    text: bool
    payload: bytes


# A server for every path (path None) travels as an empty path: a real path starts with "/".
def encode(origin: bytes, path: str | None, topic: str | None, payload: bytes, text: bool) -> bytes:
    """The bytes of one message for the broker."""
    path_bytes = b"" if path is None else path.encode()
    topic_bytes = b"" if topic is None else topic.encode()
    flags = (_TEXT if text else 0) | (0 if topic is None else _TOPIC)
    header = _HEADER.pack(MAGIC, flags, origin, len(path_bytes), len(topic_bytes))
    return b"".join((header, path_bytes, topic_bytes, payload))


def decode(data: bytes) -> Envelope:
    """The message in ``data``.

    Raises:
        MalformedEnvelope: ``data`` is not a whole, valid duplex message.
    """
    if len(data) < HEADER:
        raise MalformedEnvelope(f"{len(data)} bytes, shorter than the {HEADER}-byte header")
    magic, flags, origin, path_length, topic_length = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise MalformedEnvelope(f"unknown format {magic!r} (expected {MAGIC!r})")
    if flags & ~(_TEXT | _TOPIC):
        raise MalformedEnvelope(f"unknown flags {flags:#x}")
    names_end = HEADER + path_length + topic_length
    if names_end > len(data):
        raise MalformedEnvelope("the path and topic run past the end of the message")
    try:
        path = data[HEADER : HEADER + path_length].decode()
        topic = data[HEADER + path_length : names_end].decode()
    except UnicodeDecodeError as exc:
        raise MalformedEnvelope(f"a path or topic that is not UTF-8: {exc}") from None
    if bool(flags & _TOPIC) != bool(topic):
        raise MalformedEnvelope("the topic flag and the topic disagree")
    payload = data[names_end:]
    text = bool(flags & _TEXT)
    if text:
        try:
            payload.decode()
        except UnicodeDecodeError as exc:
            raise MalformedEnvelope(f"a text message that is not UTF-8: {exc}") from None
    return Envelope(origin, path or None, topic or None, text, payload)
