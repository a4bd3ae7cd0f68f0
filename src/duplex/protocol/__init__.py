"""The sans-I/O WebSocket protocol core (RFC 6455, RFC 7692): bytes in, events and bytes out.

Nothing here imports asyncio or sockets, or reads a clock: the transport layer does that.
"""

from __future__ import annotations

from .connection import Connection, State
from .events import BinaryMessage, CloseReceived, ConnectionFailed, Event, Ping, Pong, TextMessage
from .exceptions import DuplexProtocolError, HandshakeError, InvalidPayload, PayloadTooBig, WebSocketError

__all__ = [
    "BinaryMessage",
    "CloseReceived",
    "Connection",
    "ConnectionFailed",
    "DuplexProtocolError",
    "Event",
    "HandshakeError",
    "InvalidPayload",
    "PayloadTooBig",
    "Ping",
    "Pong",
    "State",
    "TextMessage",
    "WebSocketError",
]
