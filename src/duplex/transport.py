"""The asyncio layer of a WebSocket connection: a thin pump around the sans-I/O core.

One :class:`WebSocketProtocol` per connection, an ``asyncio.Protocol`` that the HTTP server hands
the transport to after a successful upgrade. It feeds received bytes to
:class:`duplex.protocol.Connection`, writes what the core produces, and calls the
:class:`WebSocketHandler` for each event, synchronously, on the loop thread: no task per message and
no stream objects on the hot path.

It also owns the timers that a sans-I/O core cannot: the close timeout (a peer that does not answer
our close frame is dropped) and the keepalive (a ping every ``ping_interval`` seconds; a peer that
does not answer within ``ping_timeout`` is closed with 1011). Flow control: while the socket's write
buffer is over its high-water mark, reading stops, so a peer that does not read cannot make us queue
without bound; the application may also pause reading while it catches up.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, cast

from .protocol.connection import DEFAULT_MAX_MESSAGE_SIZE, Connection, State
from .protocol.events import BinaryMessage, CloseReceived, ConnectionFailed, Ping, Pong, TextMessage
from .protocol.exceptions import WebSocketError

if TYPE_CHECKING:
    from .web.request import Request

__all__ = ["Accept", "Reject", "WebSocketHandler", "WebSocketProtocol"]

logger = logging.getLogger("duplex")

# Below this size, header and payload are joined into one write (one syscall, one small copy);
# above it they are written separately so a large payload is never copied to prepend 2-14 bytes.
_JOIN_LIMIT = 16 * 1024


class WebSocketHandler(Protocol):
    """What the engine calls for one connection; every call runs on the event loop thread."""

    def on_open(self, ws: WebSocketProtocol) -> None:
        """The 101 response is written; the connection is open."""

    def on_message(self, ws: WebSocketProtocol, data: str | bytes) -> None:
        """A whole message: ``str`` for text, ``bytes`` for binary."""

    def on_error(self, ws: WebSocketProtocol, error: Exception) -> None:
        """The peer broke the protocol or a limit (the connection is being closed)."""

    def on_close(self, ws: WebSocketProtocol, code: int, reason: str) -> None:
        """The TCP connection is gone. ``code`` is the peer's (1005: none given; 1006: no close frame).

        Called exactly once per opened connection.
        """


@dataclass
class Accept:
    """An endpoint's answer that takes the upgrade."""

    handler: WebSocketHandler
    subprotocol: str | None = None
    compression: bool = True
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    close_timeout: float = 10.0
    ping_interval: float | None = None
    ping_timeout: float | None = None
    extra_headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Reject:
    """An endpoint's answer that refuses the upgrade with an HTTP status."""

    status: int
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)


class WebSocketProtocol:
    """One open WebSocket connection on the event loop (an ``asyncio.Protocol`` by its methods; it
    does not inherit from it, so that Cython can compile it into an extension type).

    Args:
        connection: the protocol core, already configured (limits, deflate).
        accept: the endpoint's accept answer (handler, timeouts, keepalive).
        request: the handshake request.
        registry: a set the connection is in while open (the server's, for shutdown).
        loop: the running event loop, when the caller has it at hand.
    """

    def __init__(
        self,
        connection: Connection,
        accept: Accept,
        request: Request,
        registry: set[WebSocketProtocol] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.connection = connection
        self._registry = registry
        self.handler = accept.handler
        self.request = request
        self.subprotocol = accept.subprotocol
        self.close_timeout = accept.close_timeout
        self.ping_interval = accept.ping_interval
        self.ping_timeout = accept.ping_timeout
        self.transport: asyncio.Transport | None = None
        self.loop = loop if loop is not None else asyncio.get_running_loop()
        self._closed = False
        self._write_paused = False
        self._read_paused_by_app = False
        self._close_timer: asyncio.TimerHandle | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._pong_timer: asyncio.TimerHandle | None = None
        self._ping_payload = b""
        self._lost_waiters: list[asyncio.Future[None]] = []

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without inheriting from it.
        self.transport = cast(asyncio.Transport, transport)
        if self._registry is not None:
            self._registry.add(self)
        self._schedule_ping()

    def start(self) -> None:
        """Tell the handler the connection is open (after the 101 is written)."""
        try:
            self.handler.on_open(self)
        except Exception:
            logger.exception("WebSocket on_open handler failed")

    def data_received(self, data: bytes) -> None:
        connection = self.connection
        message = connection.receive_whole_message(data)
        if message is not None:
            # The common read, one whole small message: no event object, no list (measured).
            try:
                self.handler.on_message(self, message)
            except Exception as exc:
                self._report_error(exc)
            return
        # Events are handled in order, and the core's automatic replies are written when their
        # event comes up: an answer to a message that came before a bad frame still goes out
        # before the close frame that fails the connection.
        for event in connection.receive_data(data):
            # Ordered by frequency: messages first, delivered inline (no helper call per message).
            if type(event) is TextMessage or type(event) is BinaryMessage:
                try:
                    self.handler.on_message(self, event.data)
                except Exception as exc:
                    self._report_error(exc)
            elif type(event) is Pong:
                self._pong_received(event.payload)
            elif type(event) is Ping:
                self._flush()
            elif type(event) is CloseReceived:
                self._flush()
                self._close_handshake_done()
            elif type(event) is ConnectionFailed:
                self._report_error(event.error)
                self._flush()
                self._fail_close()

    def _flush(self) -> None:
        output = self.connection.data_to_send()
        if output and self.transport is not None:
            self.transport.write(output)

    def eof_received(self) -> bool | None:
        self.connection.receive_eof()
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        if self._closed:
            return
        self._closed = True
        if self._registry is not None:
            self._registry.discard(self)
        self.connection.receive_eof()
        self._cancel_timers()
        code = self.connection.close_code
        reason = self.connection.close_reason
        try:
            self.handler.on_close(self, code, reason)
        except Exception:
            logger.exception("WebSocket on_close handler failed")
        for waiter in self._lost_waiters:
            if not waiter.done():
                waiter.set_result(None)

    def pause_writing(self) -> None:
        # The peer reads slower than we write: stop reading from it until the buffer drains, so
        # an echo-style exchange with a slow reader stays bounded (RFC-agnostic flow control).
        self._write_paused = True
        if self.transport is not None and not self._closed:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self.transport is not None and not self._closed and not self._read_paused_by_app:
            self.transport.resume_reading()

    # -- what the application calls -----------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Whether messages can still be sent."""
        return not self._closed and not self.connection._close_sent

    @property
    def remote_address(self) -> str:
        """The peer's IP address."""
        return self.request.remote_address

    @property
    def buffered_amount(self) -> int:
        """Bytes queued in the transport, not yet written to the socket."""
        if self.transport is None or self._closed:
            return 0
        return self.transport.get_write_buffer_size()

    def send(self, data: str | bytes | bytearray | memoryview) -> bool:
        """Send one message: text for ``str``, binary otherwise. False if the connection is not open."""
        if not self.is_open or self.transport is None:
            return False
        if isinstance(data, str):
            header, payload = self.connection.send_text(data)
        else:
            header, payload = self.connection.send_binary(data)
        self.write_frame(header, payload)
        return True

    def write_frame(self, header: bytes, payload: bytes) -> None:
        """Write one frame (header and payload from the core); the caller checked ``is_open``."""
        assert self.transport is not None
        # One write, one syscall: on a busy server the send() syscall, not the copy, is what
        # costs. writelines() hands both buffers to the kernel together (writev under uvloop)
        # without joining a large payload into a new bytes object.
        if len(payload) < _JOIN_LIMIT:
            self.transport.write(header + payload)
        else:
            self.transport.writelines((header, payload))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the close handshake; the socket is dropped if the peer does not answer in time."""
        if self._closed or self.transport is None:
            return
        frame = self.connection.send_close(code, reason)
        if not frame:
            return
        self.transport.write(frame)
        self._cancel_keepalive()
        self._restart_close_timer()

    def abort(self) -> None:
        """Drop the TCP connection now, without a close handshake."""
        if self.transport is not None and not self._closed:
            self.transport.abort()

    def pause_reading(self) -> None:
        """Stop reading from the peer until :meth:`resume_reading` (application flow control)."""
        self._read_paused_by_app = True
        if self.transport is not None and not self._closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        """Undo :meth:`pause_reading`."""
        self._read_paused_by_app = False
        if self.transport is not None and not self._closed and not self._write_paused:
            self.transport.resume_reading()

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is gone."""
        if self._closed:
            return
        waiter: asyncio.Future[None] = self.loop.create_future()
        self._lost_waiters.append(waiter)
        await waiter

    # -- closing ------------------------------------------------------------------------------

    def _close_handshake_done(self) -> None:
        # Close frames went both ways (the core queued our reply, already written): the server
        # closes the TCP connection first (RFC 6455 section 7.1.1).
        self._cancel_keepalive()
        self.abort_after_flush()

    def _fail_close(self) -> None:
        """After failing the connection: our close frame is written; end the TCP connection.

        Closing a socket that still has unread input makes the kernel send RST, which can destroy
        the close frame in flight. Where the transport can half-close, send FIN instead, discard
        whatever the peer still sends, and close when it is done or ``close_timeout`` passes.
        """
        self._cancel_keepalive()
        transport = self.transport
        if transport is None:
            return
        if transport.can_write_eof():
            transport.write_eof()
            self._restart_close_timer()
        else:
            self.abort_after_flush()

    def _report_error(self, error: Exception) -> None:
        try:
            self.handler.on_error(self, error)
        except Exception:
            logger.exception("WebSocket on_error handler failed")

    # -- keepalive ----------------------------------------------------------------------------

    def _schedule_ping(self) -> None:
        if self.ping_interval and self.ping_interval > 0 and not self._closed:
            self._ping_timer = self.loop.call_later(self.ping_interval, self._send_keepalive_ping)

    def _send_keepalive_ping(self) -> None:
        self._ping_timer = None
        if not self.is_open or self.transport is None:
            return
        self._ping_payload = os.urandom(4)
        self.transport.write(self.connection.send_ping(self._ping_payload))
        timeout = self.ping_timeout if self.ping_timeout is not None else self.ping_interval
        if timeout and timeout > 0:
            self._pong_timer = self.loop.call_later(timeout, self._keepalive_expired)
        else:
            self._schedule_ping()

    def _pong_received(self, payload: bytes) -> None:
        if self._pong_timer is not None and payload == self._ping_payload:
            self._pong_timer.cancel()
            self._pong_timer = None
            self._schedule_ping()

    def _keepalive_expired(self) -> None:
        self._pong_timer = None
        if self._closed:
            return
        self._report_error(WebSocketError("keepalive ping got no pong in time", close_code=1011))
        # 1011 tells the peer why, if it is still there; it gets no time to answer (close code 1006).
        if self.transport is not None and self.connection.state is State.OPEN:
            self.transport.write(self.connection.send_close(1011, "keepalive ping timeout"))
        self.abort_after_flush()

    def abort_after_flush(self) -> None:
        """Close the transport after writing what is buffered; drop it if that takes too long."""
        if self.transport is None or self._closed:
            return
        self.transport.close()
        self._restart_close_timer()

    def _restart_close_timer(self) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
        self._close_timer = self.loop.call_later(self.close_timeout, self.abort)

    def _cancel_keepalive(self) -> None:
        for timer in (self._ping_timer, self._pong_timer):
            if timer is not None:
                timer.cancel()
        self._ping_timer = self._pong_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_keepalive()
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
