"""What the protocol core reports to the transport: small frozen dataclasses, one per happening."""

from __future__ import annotations

from dataclasses import dataclass

from .exceptions import WebSocketError

__all__ = ["BinaryMessage", "CloseReceived", "ConnectionFailed", "Event", "Ping", "Pong", "TextMessage"]


# Not frozen, though they are never changed: a frozen dataclass's __init__ goes through
# object.__setattr__, which costs measurably per message (~0.6 µs per event, compiled; a close or a
# ping is one event per handshake or keepalive round). Treat them as read-only.
@dataclass(slots=True)
class TextMessage:
    """A complete text message, decoded and validated."""

    data: str


@dataclass(slots=True)
class BinaryMessage:
    """A complete binary message."""

    data: bytes


@dataclass(slots=True)
class Ping:
    """The peer sent a ping; the core has already queued the pong."""

    payload: bytes


@dataclass(slots=True)
class Pong:
    """The peer sent a pong (an answer to our ping, or unsolicited)."""

    payload: bytes


@dataclass(slots=True)
class CloseReceived:
    """The peer's close frame arrived: the close handshake is over once the queued output is written.

    ``code`` is 1005 when the frame carried no status code (RFC 6455 section 7.1.5).
    """

    code: int
    reason: str


@dataclass(slots=True)
class ConnectionFailed:
    """The peer broke the protocol; a close frame with ``error.close_code`` is queued.

    The transport writes what is queued and then closes the TCP connection (RFC 6455 section 7.1.7).
    """

    error: WebSocketError


Event = TextMessage | BinaryMessage | Ping | Pong | CloseReceived | ConnectionFailed
