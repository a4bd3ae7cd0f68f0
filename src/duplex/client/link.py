"""One client connection's life on its event loop: open, messages, close, and (when asked) reconnect.

A :class:`Link` is what the three faces of the client share (the 4D ``WebSocket``, ``connect()`` and
``connect_sync()``): it opens the connection through :func:`duplex.asyncio.client.open_connection`,
is the engine's handler for it, and tells its :class:`Sink` (the face) what happens, in order::

    opened ─▶ message* ─▶ [error] ─▶ closed(final=False) ─▶ (backoff) ─▶ opened ─▶ ... ─▶ closed(final=True)

``closed`` comes once per opened connection, and once more, final, when no attempt opened one;
``final`` says whether the link is over. With ``reconnect``, a connection that ends without our
asking (the server closed it, the network dropped it) or an attempt that fails is followed by
another attempt after a jittered exponential backoff: ``0.1 * 2**n`` seconds (``n`` counts the
failed attempts in a row), capped at :data:`MAX_BACKOFF`, each delay drawn uniformly between half
and all of it. ``reconnect=N`` gives up after ``N`` failed attempts in a row.

Everything here runs on the link's loop; :meth:`Link.close` and :meth:`Link.send` may be called from
any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import ssl
from _thread import get_ident
from typing import Protocol

from ..asyncio.client import InvalidHandshakeResponse, open_connection
from ..asyncio.websocket_protocol import (
    DirectHandler,
    KeepaliveTimeout,
    SendBufferFull,
    State,
    WebSocketProtocol,
)
from ..server.errors import ErrorCode
from .options import ClientOptions, Target

__all__ = ["MAX_BACKOFF", "Link", "Sink", "error_code_of", "next_id"]

logger = logging.getLogger("duplex.client")

#: The longest wait between two reconnection attempts, in seconds.
MAX_BACKOFF = 10.0
_FIRST_BACKOFF = 0.1

#: Every client's ``id``, whichever its face: unique among the process's clients.
next_id = itertools.count(1).__next__


class Sink(Protocol):
    """What a face of the client gets from its link (on the link's loop)."""

    def opened(self, protocol: WebSocketProtocol) -> None: ...

    def message(self, data: str | bytes) -> None: ...

    def error(self, code: ErrorCode, exception: BaseException) -> None: ...

    def closed(self, code: int, reason: str, final: bool) -> None: ...


def error_code_of(exception: BaseException) -> ErrorCode:
    """The ``errCode`` for what went wrong: an attempt that failed, or an open connection's error."""
    if isinstance(exception, SendBufferFull):
        return ErrorCode.SEND_BUFFER_FULL_DROPPED if exception.dropped else ErrorCode.SEND_BUFFER_FULL_CLOSED
    if isinstance(exception, KeepaliveTimeout):
        return ErrorCode.KEEPALIVE_TIMEOUT
    if isinstance(exception, InvalidHandshakeResponse):
        return ErrorCode.HANDSHAKE_REFUSED
    if isinstance(exception, ssl.SSLError | ssl.CertificateError):
        return ErrorCode.TLS_FAILED
    if isinstance(exception, TimeoutError):
        return ErrorCode.OPEN_TIMEOUT
    if isinstance(exception, OSError):
        return ErrorCode.CONNECT_FAILED
    close_code = getattr(exception, "close_code", 1002)
    if close_code == 1009:
        return ErrorCode.MESSAGE_TOO_BIG
    if close_code == 1007:
        return ErrorCode.INVALID_UTF8
    return ErrorCode.PROTOCOL_ERROR


class Link(DirectHandler):
    """Opens and keeps one client connection for a face (see the module's docstring).

    Args:
        target: where to connect.
        options: how.
        loop: the loop everything runs on.
        sink: the face told of every event.
    """

    def __init__(
        self, target: Target, options: ClientOptions, loop: asyncio.AbstractEventLoop, sink: Sink
    ) -> None:
        self.target = target
        self.options = options
        self.loop = loop
        self.sink = sink
        self._deliver = sink.message  # bound once: the per-message call
        #: the open connection, or None while connecting, between attempts and once over
        self.protocol: WebSocketProtocol | None = None
        #: the 101 response's headers of the current connection
        self.response_headers: list[tuple[str, str]] = []
        #: "connecting", "open" or "closed" (the open connection's own state says "closing")
        self.phase = "connecting"
        self._closing = False  # close() was called: no more attempts
        self._close_args: tuple[int, str] = (1000, "")
        self._task: asyncio.Task[None] | None = None
        #: the ident of the loop's thread, once :meth:`begin` ran there (a thread id, not
        #: asyncio._get_running_loop(), which costs a getpid() system call on Python 3.11)
        self.loop_thread_id: int | None = None

    def begin(self) -> None:
        """Start the first attempt (on the loop)."""
        self.loop_thread_id = get_ident()
        self._task = self.loop.create_task(self._run())
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        # However the attempts ended (a task cancelled before it ran never enters _run), the link
        # is over once its task is: the face hears it once.
        if self.phase != "closed":
            self.phase = "closed"
            self.sink.closed(1006, "", True)

    # -- from any thread ----------------------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (or stop connecting) and make no more attempts. Any thread."""
        if get_ident() == self.loop_thread_id:
            self._close(code, reason)
            return
        protocol = self.protocol
        if protocol is not None:
            protocol.start_closing()  # "Closing" at once for every thread; the frame follows
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing left to close
            self.loop.call_soon_threadsafe(self._close, code, reason)

    def _close(self, code: int, reason: str) -> None:
        self._closing = True
        self._close_args = (code, reason)
        protocol = self.protocol
        if protocol is not None:
            protocol.close(code, reason)
        elif self._task is not None and not self._task.done():
            self._task.cancel()  # connecting or waiting to reconnect: the attempt ends here

    # -- the life of the link (on the loop) -----------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        target, options = self.target, self.options
        try:
            while True:
                self.phase = "connecting"
                try:
                    protocol, accepted = await open_connection(
                        target.host,
                        target.port,
                        target.resource,
                        self,
                        secure=target.secure,
                        ssl=options.ssl,
                        subprotocols=options.subprotocols,
                        compression=options.compression,
                        headers=options.headers,
                        settings=options.settings,
                        open_timeout=options.open_timeout,
                    )
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failures += 1
                    if not self._retry_after(failures):
                        self.phase = "closed"
                        self.sink.error(error_code_of(exc), exc)
                        self.sink.closed(1006, "", True)
                        return
                    logger.info("connection to %s failed (%s); retrying", self._url, exc)
                    await asyncio.sleep(_backoff(failures))
                    continue
                failures = 0
                self.response_headers = accepted.headers
                if self.phase == "closed":  # over while the 101 was being read: not ours to keep
                    protocol.abort()
                    return
                await protocol.wait_closed()
                if self.phase == "closed":  # the final close was reported by on_close
                    return
                await asyncio.sleep(_backoff(1))
        except asyncio.CancelledError:
            pass  # _ended reports it

    def _retry_after(self, failures: int) -> bool:
        attempts = self.options.reconnect
        return not self._closing and (attempts < 0 or failures <= attempts) and attempts != 0

    @property
    def status(self) -> str:
        """The 4D status of the link: "Connecting" (also between reconnections), "Connected",
        "Closing" (a close started, either side), "Closed"."""
        protocol = self.protocol
        if protocol is not None:
            state = protocol.state
            return "Connected" if state is State.OPEN else "Closing" if state is State.CLOSING else "Closed"
        return "Closed" if self.phase == "closed" else "Connecting"

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol of the open connection, or None."""
        protocol = self.protocol
        return protocol.subprotocol if protocol is not None else None

    @property
    def _url(self) -> str:
        target = self.target
        return f"{'wss' if target.secure else 'ws'}://{target.host}:{target.port}{target.resource}"

    # -- the engine's events (DirectHandler) ------------------------------------------------------

    def on_open(self, ws: WebSocketProtocol) -> None:
        if self.phase == "closed":  # a late handshake of an attempt given up: drop it
            ws.abort()
            return
        self.protocol = ws
        self.phase = "open"
        if self._closing:  # closed while the handshake was under way
            code, reason = self._close_args
            ws.close(code, reason)
        self.sink.opened(ws)

    def on_message(self, ws: WebSocketProtocol, data: str | bytes) -> None:
        self._deliver(data)

    def on_error(self, ws: WebSocketProtocol, error: Exception) -> None:
        self.sink.error(error_code_of(error), error)

    def on_close(self, ws: WebSocketProtocol, code: int, reason: str) -> None:
        self.protocol = None
        final = self._closing or self.options.reconnect == 0
        if final:
            self.phase = "closed"
        else:
            self.phase = "connecting"
            logger.info("connection to %s lost (%d); reconnecting", self._url, code)
        self.sink.closed(code, reason, final)


def _backoff(failures: int) -> float:
    delay = min(MAX_BACKOFF, _FIRST_BACKOFF * 2 ** min(failures - 1, 16))
    return random.uniform(delay / 2, delay)
