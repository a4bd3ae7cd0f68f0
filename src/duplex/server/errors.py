"""Errors: ``Reject`` for ``onConnection``, and the stable catalogue of ``errCode`` values.

``event.errors`` (4D's error stack) is a list of ``{"errCode": int, "message": str,
"componentSignature": "duplex"}``, most recent first. The codes below are stable: new ones may be
added, existing ones never change meaning. ``docs/errors.md`` lists them with what to do.
"""

from __future__ import annotations

import enum
from typing import Any

from .callback_events import ErrorEvent

__all__ = ["COMPONENT_SIGNATURE", "ErrorCode", "Reject", "callback_failed", "error_event", "error_stack"]

COMPONENT_SIGNATURE = "duplex"


class Reject(Exception):
    """Raise in ``onConnection`` to refuse a connection with an HTTP status (default 403).

    Args:
        status: an HTTP status from 400 to 599.
        reason: a short text for the response body (optional).
    """

    def __init__(self, status: int = 403, reason: str = "") -> None:
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"Reject status must be an HTTP error status from 400 to 599, got {status!r}")
        super().__init__(status, reason)
        self.status = status
        self.reason = reason


class ErrorCode(enum.IntEnum):
    """The ``errCode`` values duplex reports."""

    #: A callback of the connection handler raised; the connection stays open.
    CALLBACK_FAILED = 1
    #: ``onConnection`` raised; the client got HTTP 500.
    ON_CONNECTION_FAILED = 2
    #: ``onConnection`` returned an object without ``onMessage``; the client got HTTP 500.
    INVALID_CONNECTION_HANDLER = 3
    #: A server callback (``onOpen``, ``onTerminate``) raised.
    SERVER_CALLBACK_FAILED = 4
    #: ``onConnection`` did not answer within ``handshakeTimeout``; the client got HTTP 503.
    HANDSHAKE_TIMEOUT = 5
    #: The peer broke RFC 6455/7692 (bad frame, bad close code...); closed with 1002.
    PROTOCOL_ERROR = 100
    #: A text message (or, with dataType "text", a binary one) is not valid UTF-8; closed with 1007.
    INVALID_UTF8 = 101
    #: With dataType "object", a message is not valid JSON; closed with 1007.
    INVALID_JSON = 102
    #: A message is larger than ``maxMessageSize``; closed with 1009.
    MESSAGE_TOO_BIG = 103
    #: The peer did not answer a keepalive ping within ``pingTimeout``; closed (1011 sent, 1006 seen).
    KEEPALIVE_TIMEOUT = 104
    #: The peer did not read fast enough: ``sendBufferLimit`` reached, policy "close"; closed with 1008.
    SEND_BUFFER_FULL_CLOSED = 200
    #: ``sendBufferLimit`` reached, policy "drop": the newest message was dropped.
    SEND_BUFFER_FULL_DROPPED = 201
    #: ``WebServer.start()`` on a server that is already running.
    WEB_SERVER_ALREADY_RUNNING = 300
    #: ``WebServer.start()`` failed: port in use, bad certificate folder, missing root folder.
    WEB_SERVER_START_FAILED = 301
    #: ``WebServer.start()`` could not reach the ``broker``; nothing was started.
    BROKER_UNREACHABLE = 302
    #: The broker was lost while running: local delivery goes on, messages for other processes are
    #: dropped (and counted) until it is back. Reported once per outage, to the server handler.
    BROKER_LOST = 400
    #: The broker is back after an outage: subscriptions and presence are restored.
    BROKER_RECOVERED = 401
    #: A client could not connect: the name does not resolve, the connection was refused or the
    #: network is unreachable. The client's ``onTerminate`` follows with 1006.
    CONNECT_FAILED = 500
    #: A ``wss://`` client's TLS handshake failed (most often: the certificate does not verify or
    #: is not for that host name).
    TLS_FAILED = 501
    #: A client's connection and handshake did not complete within ``openTimeout``.
    OPEN_TIMEOUT = 502
    #: The server did not accept a client's handshake: a status other than 101 (the message has it
    #: and the start of the body), or a 101 that RFC 6455 tells the client to refuse.
    HANDSHAKE_REFUSED = 503


def error_stack(
    code: ErrorCode, message: str, exception: BaseException | None = None
) -> list[dict[str, Any]]:
    """The ``errors`` list of an error event: this error first, then the exception's causes."""
    stack: list[dict[str, Any]] = [
        {"errCode": int(code), "message": message, "componentSignature": COMPONENT_SIGNATURE}
    ]
    cause = _cause_of(exception) if exception is not None else None
    seen = 0
    while cause is not None and seen < 10:
        stack.append(
            {
                "errCode": int(code),
                "message": f"{type(cause).__name__}: {cause}",
                "componentSignature": COMPONENT_SIGNATURE,
            }
        )
        cause = _cause_of(cause)
        seen += 1
    return stack


def error_event(code: ErrorCode, message: str, exception: BaseException | None = None) -> ErrorEvent:
    """An ``onError`` event: the stack of this error (and its exception's causes), and the exception."""
    return ErrorEvent(type="error", errors=error_stack(code, message, exception), exception=exception)


def callback_failed(code: ErrorCode, exception: BaseException, callback_name: str) -> ErrorEvent:
    """The ``onError`` event for a callback, ``callback_name``, that raised ``exception``."""
    return error_event(code, f"{callback_name} raised {type(exception).__name__}: {exception}", exception)


def _cause_of(exception: BaseException) -> BaseException | None:
    """The explicit cause, else the context unless ``raise ... from None`` suppressed it."""
    if exception.__cause__ is not None:
        return exception.__cause__
    return None if exception.__suppress_context__ else exception.__context__
