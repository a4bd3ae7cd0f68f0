"""The protocol core's exceptions: each carries the answer it calls for.

Errors are split the h11 way: the peer misbehaved (answered on the wire with a close code or an
HTTP status), or the program misused the API (ordinary ``TypeError``/``ValueError``/``RuntimeError``,
never one of these)::

    DuplexProtocolError          base of everything the peer can cause
    ├── HandshakeError           a bad opening handshake; carries .status and .headers for the reply
    ├── InvalidHandshakeResponse a client's handshake answered with anything but a valid 101;
    │                            carries the server's .status, .headers and the first bytes of .body
    └── WebSocketError           a bad frame or message; carries .close_code for the close frame
        ├── PayloadTooBig        1009: a frame or message over the size limit
        └── InvalidPayload       1007: text that is not UTF-8, or compressed data that does not inflate

The parser never raises these at the transport: ``Connection.receive_data`` turns them into a
``ConnectionFailed`` event with the close frame already queued, and keeps the exception for ``onError``.
"""

from __future__ import annotations

__all__ = [
    "DuplexProtocolError",
    "HandshakeError",
    "InvalidHandshakeResponse",
    "InvalidPayload",
    "PayloadTooBig",
    "WebSocketError",
]


class DuplexProtocolError(Exception):
    """The peer broke RFC 6455/7692 or HTTP/1.1."""


class HandshakeError(DuplexProtocolError):
    """The opening handshake is invalid; answer with ``status`` and ``headers``, then close."""

    def __init__(self, status: int, message: str, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers: list[tuple[str, str]] = headers or []


class InvalidHandshakeResponse(DuplexProtocolError):
    """The server did not accept a client's opening handshake: it answered with another status than
    101, or with a 101 that RFC 6455 section 4.1 tells the client to refuse (no ``Upgrade:
    websocket``, a wrong ``Sec-WebSocket-Accept``, an extension or subprotocol not offered).

    Attributes:
        status: the response's status code.
        headers: its ``(name, value)`` pairs, as received.
        body: the first bytes of its body (at most 1 KiB; empty for a 101).
    """

    def __init__(
        self, message: str, status: int, headers: list[tuple[str, str]] | None = None, body: bytes = b""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers: list[tuple[str, str]] = headers or []
        self.body = body


class WebSocketError(DuplexProtocolError):
    """The peer sent a bad frame or message; fail the connection with ``close_code``.

    The default code is 1002 (protocol error), RFC 6455 section 7.4.1.
    """

    close_code: int = 1002

    def __init__(self, message: str, close_code: int | None = None) -> None:
        super().__init__(message)
        if close_code is not None:
            self.close_code = close_code


class PayloadTooBig(WebSocketError):
    """A frame or message is larger than the configured limit (close code 1009)."""

    close_code = 1009


class InvalidPayload(WebSocketError):
    """A text message is not valid UTF-8, or a compressed message does not inflate (close code 1007)."""

    close_code = 1007
