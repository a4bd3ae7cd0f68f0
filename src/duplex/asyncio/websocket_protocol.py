"""The asyncio layer of a WebSocket connection: a thin pump around the sans-I/O core, and the one
door every outgoing frame leaves through.

One :class:`WebSocketProtocol` per connection, an asyncio protocol that the HTTP server hands the
transport to after a successful upgrade (or :func:`duplex.asyncio.client.open_connection`, after a
client's handshake: the core then masks what it sends, and the server closes the TCP connection
first). It feeds received bytes to
:class:`duplex.protocol.Connection`, writes what the core produces, and calls the
:class:`WebSocketHandler` for each event, synchronously, on the loop thread: no task per message and
no stream objects on the hot path.

Sending: :meth:`~WebSocketProtocol.send`, :meth:`~WebSocketProtocol.send_message` (a payload already
encoded), :meth:`~WebSocketProtocol.send_frame` (frames prebuilt by :func:`build_message_frame`, for a
broadcast), :meth:`~WebSocketProtocol.ping` and :meth:`~WebSocketProtocol.close`. Each asks the core
to frame what it writes, and each first writes the broadcast frames still waiting in this loop
iteration's :class:`~duplex.asyncio.broadcast.BroadcastBatch`, so that what was sent first arrives
first. The send buffer limit and its policy (drop the message, or close with 1008) apply here, to
every message and broadcast alike.

The connection's state is the core's (``connection.state``); this layer keeps none of its own. It
owns what a sans-I/O core cannot: the close timeout (a peer that does not answer our close frame is
dropped), the keepalive (a ping every ``ping_interval`` seconds; no pong within ``ping_timeout``:
closed with 1011), and flow control (while the socket's write buffer is over its high-water mark,
reading stops, so a peer that does not read cannot make us queue without bound; the application may
also pause reading while it catches up).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Protocol, cast

from ..protocol.connection import DEFAULT_MAX_MESSAGE_SIZE, Connection, State
from ..protocol.deflate import DeflateSettings
from ..protocol.events import BinaryMessage, CloseReceived, ConnectionFailed, Ping, Pong, TextMessage
from ..protocol.exceptions import WebSocketError
from ..protocol.frames import OP_BINARY, OP_TEXT, build_frame, frame_payload, is_valid_close_code
from .broadcast import BroadcastBatch

__all__ = [
    "ClientWebSocketProtocol",
    "DirectHandler",
    "KeepaliveTimeout",
    "SendBufferFull",
    "State",
    "WebSocketHandler",
    "WebSocketProtocol",
    "WebSocketSettings",
    "build_message_frame",
    "is_valid_close_code",
]

logger = logging.getLogger("duplex")

# Below this size a frame's header and payload are joined into one write (one syscall, one small
# copy); above it they are handed over together with writelines() (writev under uvloop), so a large
# payload is never copied to prepend 2-14 bytes. On a busy server the send() syscall, not the copy,
# is what costs (measured: two writes per message cost more than the join).
_JOIN_LIMIT = 16 * 1024

_CLOSED = State.CLOSED

# The last medium-sized payload framed, with its opcode and frame. Sending the same payload object
# to many connections in a loop (the seed's chat idiom; the API hands over the same payload for
# the same message) frames it once. Read and written on loop threads; one tuple, swapped whole.
_last_framed: tuple[object, int, bytes] = (None, 0, b"")


def build_message_frame(payload: bytes, text: bool) -> bytes:
    """One whole uncompressed message frame (for :meth:`WebSocketProtocol.send_frame`): built once,
    written to many connections. ``payload`` is UTF-8 for a text frame."""
    return build_frame(OP_TEXT if text else OP_BINARY, payload)


class KeepaliveTimeout(WebSocketError):
    """A keepalive ping got no pong within ``ping_timeout`` (close code 1011 sent, 1006 reported)."""

    close_code = 1011


class SendBufferFull(Exception):
    """The peer does not read fast enough: the send buffer limit was reached.

    Attributes:
        size: the bytes of the message that did not fit.
        queued: the bytes already waiting for this peer.
        limit: the send buffer limit.
        dropped: True when the message was dropped and the connection goes on (policy "drop"),
            False when the connection is being closed with 1008 (policy "close").
        dropped_so_far: messages dropped on this connection, this one included.
    """

    def __init__(self, size: int, queued: int, limit: int, dropped: bool, dropped_so_far: int) -> None:
        if dropped:
            message = (
                f"message of {size} bytes dropped: {queued} bytes already wait for this client "
                f"(sendBufferLimit {limit}); {dropped_so_far} dropped so far"
            )
        else:
            message = (
                f"closing: the client does not read fast enough ({queued} bytes queued, "
                f"sendBufferLimit {limit})"
            )
        super().__init__(message)
        self.size = size
        self.queued = queued
        self.limit = limit
        self.dropped = dropped
        self.dropped_so_far = dropped_so_far


_DEFAULT_DEFLATE = DeflateSettings()


class WebSocketSettings:
    """The limits and timers of a connection, made once per endpoint and shared by its connections.

    Args:
        compression: whether to agree to permessage-deflate when the client offers it, and how:
            True for the default :class:`~duplex.protocol.deflate.DeflateSettings`, or such settings.
            Kept as the settings, or None when off.
        max_message_size: the largest message accepted, in bytes after decompression (1009 above).
        close_timeout: seconds to wait for the peer's close frame (and for the TCP close) before
            dropping the connection.
        ping_interval: seconds between keepalive pings (None or 0: none).
        ping_timeout: seconds to wait for a pong (None: ``ping_interval``).
        send_buffer_limit: bytes queued for the peer before ``backpressure`` applies (None: no
            limit); a message to a peer with nothing queued always goes through.
        backpressure: "close" (close with 1008) or "drop" (drop the message) at the limit.

    Raises:
        ValueError: ``backpressure`` is neither "close" nor "drop", or ``max_message_size`` is not
            a positive number of bytes.
    """

    __slots__ = (
        "backpressure",
        "close_timeout",
        "compression",
        "max_message_size",
        "ping_interval",
        "ping_timeout",
        "send_buffer_limit",
    )

    def __init__(
        self,
        compression: bool | DeflateSettings = True,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        close_timeout: float = 10.0,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        send_buffer_limit: int | None = None,
        backpressure: str = "close",
    ) -> None:
        if backpressure not in ("close", "drop"):
            raise ValueError(f"backpressure must be 'close' or 'drop', got {backpressure!r}")
        if max_message_size <= 0:
            raise ValueError("max_message_size must be a positive number of bytes")
        self.compression: DeflateSettings | None = (
            compression
            if isinstance(compression, DeflateSettings)
            else (_DEFAULT_DEFLATE if compression else None)
        )
        self.max_message_size = max_message_size
        self.close_timeout = close_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.send_buffer_limit = send_buffer_limit
        self.backpressure = backpressure

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in sorted(self.__slots__))
        return f"WebSocketSettings({fields})"


_DEFAULT_SETTINGS = WebSocketSettings()


class WebSocketHandler(Protocol):
    """What the engine calls for one connection; every call runs on the event loop thread."""

    def on_open(self, ws: WebSocketProtocol) -> None:
        """The 101 response is written; the connection is open."""

    def on_message(self, ws: WebSocketProtocol, data: str | bytes) -> None:
        """A whole message: ``str`` for text, ``bytes`` for binary."""

    def on_error(self, ws: WebSocketProtocol, error: Exception) -> None:
        """The peer broke the protocol or a limit, or did not answer a keepalive ping (the connection
        is being closed), or a message did not fit the send buffer (:class:`SendBufferFull`)."""

    def on_close(self, ws: WebSocketProtocol, code: int, reason: str) -> None:
        """The TCP connection is gone. ``code`` is the peer's (1005: none given; 1006: no close frame).

        Called exactly once per opened connection.
        """


class DirectHandler:
    """A :class:`WebSocketHandler` to subclass, whose methods the transport calls directly.

    Where duplex is compiled, a handler that inherits from this class is called through C rather
    than by a Python method call, which is measurable once per message (the 4D API's connection
    does this). Every method does nothing unless overridden.
    """

    def on_open(self, ws: WebSocketProtocol) -> None:
        """The 101 response is written; the connection is open."""

    def on_message(self, ws: WebSocketProtocol, data: str | bytes) -> None:
        """A whole message: ``str`` for text, ``bytes`` for binary."""

    def on_error(self, ws: WebSocketProtocol, error: Exception) -> None:
        """See :meth:`WebSocketHandler.on_error`."""

    def on_close(self, ws: WebSocketProtocol, code: int, reason: str) -> None:
        """See :meth:`WebSocketHandler.on_close`."""


class WebSocketProtocol:
    """One open WebSocket connection on the event loop (an ``asyncio.Protocol`` by its methods; it
    does not inherit from it, so that Cython can compile it into an extension type).

    Args:
        connection: the protocol core, already configured (limits, deflate).
        settings: the timers and the send buffer limit (``max_message_size`` and ``compression``
            are the core's, already applied to ``connection``).
        loop: the event loop the connection runs on.
        remote_address: the peer's IP address.
        subprotocol: the negotiated subprotocol, or None.
        registry: a set the connection is in while open (the HTTP server's, for shutdown).
        broadcasts: the loop's broadcast batch, written before anything this connection sends.
    """

    # Positional parameters and a shared settings object: one is made per handshake, and keyword
    # arguments cost more to pass than the rest of this __init__ (measured).
    def __init__(
        self,
        connection: Connection,
        settings: WebSocketSettings | None,
        loop: asyncio.AbstractEventLoop,
        remote_address: str = "",
        subprotocol: str | None = None,
        registry: set[WebSocketProtocol] | None = None,
        broadcasts: BroadcastBatch | None = None,
    ) -> None:
        if settings is None:
            settings = _DEFAULT_SETTINGS
        self.connection = connection
        self.loop = loop
        self.remote_address = remote_address
        self.subprotocol = subprotocol
        self.close_timeout = settings.close_timeout
        self.ping_interval = settings.ping_interval
        self.ping_timeout = settings.ping_timeout
        self.send_buffer_limit = settings.send_buffer_limit
        self._drop_when_full = settings.backpressure == "drop"
        self.dropped_messages = 0
        self._registry = registry
        self._broadcasts = broadcasts if broadcasts is not None else BroadcastBatch(loop)
        self.handler: WebSocketHandler = _NO_HANDLER
        # The same handler when it is a DirectHandler (called through C where compiled), else None.
        self._direct: DirectHandler | None = None
        self.transport: asyncio.Transport | None = None
        self._write_paused = False
        self._read_paused_by_app = False
        self._close_timer: asyncio.TimerHandle | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._pong_timer: asyncio.TimerHandle | None = None
        self._ping_payload = b""
        self._lost_waiters: list[asyncio.Future[None]] = []
        self._drain_waiters: list[asyncio.Future[None]] = []

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without inheriting from it.
        self.transport = cast(asyncio.Transport, transport)
        if self._registry is not None:
            self._registry.add(self)
        self._schedule_ping()

    def start(self, handler: WebSocketHandler) -> None:
        """Deliver this connection's events to ``handler`` from now on, starting with ``on_open``
        (called once the 101 is written)."""
        self.handler = handler
        self._direct = handler if isinstance(handler, DirectHandler) else None
        try:
            handler.on_open(self)
        except Exception:
            logger.exception("WebSocket on_open handler failed")

    def data_received(self, data: bytes) -> None:
        message = self.connection.receive_whole_message(data)
        if message is not None:
            # The common read, one whole small message: no event object, no list (measured).
            self._message_received(message)
            return
        self._frames_received(data)

    def _frames_received(self, data: bytes) -> None:
        """Everything but one whole message: the core's general parser, its events in order."""
        # Events are handled in order, and the core's automatic replies are written when their
        # event comes up: an answer to a message that came before a bad frame still goes out
        # before the close frame that fails the connection.
        for event in self.connection.receive_frames(data):
            # Ordered by frequency: messages first, delivered inline (no helper call per message).
            if type(event) is TextMessage or type(event) is BinaryMessage:
                try:
                    self.handler.on_message(self, event.data)
                except Exception as exc:
                    self._report_error(exc)
            elif type(event) is Pong:
                self._pong_received(event.payload)
            elif type(event) is Ping:
                self._write_replies()
            elif type(event) is CloseReceived:
                self._write_replies()
                self._close_handshake_done()
            elif type(event) is ConnectionFailed:
                self._report_error(event.error)
                self._write_replies()
                self._fail_close()

    def _message_received(self, message: str | bytes) -> None:
        """Hand one message to the handler (a C call where compiled and the handler is direct)."""
        direct = self._direct
        try:
            if direct is not None:
                direct.on_message(self, message)
            else:
                self.handler.on_message(self, message)
        except Exception as exc:
            self._report_error(exc)

    def _write_replies(self) -> None:
        """Write the core's automatic replies (pong, close), after any broadcast sent before them."""
        if self._broadcasts.pending:
            self._broadcasts.flush()
        output = self.connection.data_to_send()
        if output and self.transport is not None:
            self.transport.write(output)

    def eof_received(self) -> bool | None:
        self.connection.receive_eof()
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        connection = self.connection
        if connection.state is _CLOSED:
            return
        connection.transport_closed()
        if self._registry is not None:
            self._registry.discard(self)
        self._cancel_timers()
        try:
            self.handler.on_close(self, connection.close_code, connection.close_reason)
        except Exception:
            logger.exception("WebSocket on_close handler failed")
        for waiter in self._lost_waiters + self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._drain_waiters.clear()

    def pause_writing(self) -> None:
        # The peer reads slower than we write: stop reading from it until the buffer drains, so
        # an echo-style exchange with a slow reader stays bounded (RFC-agnostic flow control).
        self._write_paused = True
        if self.transport is not None and self.connection.state is not _CLOSED:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain_waiters:
            for waiter in self._drain_waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._drain_waiters.clear()
        if (
            self.transport is not None
            and self.connection.state is not _CLOSED
            and not self._read_paused_by_app
        ):
            self.transport.resume_reading()

    # -- what the application reads ------------------------------------------------------------

    @property
    def state(self) -> State:
        """The connection's state, as the protocol core keeps it."""
        return self.connection.state

    @property
    def is_open(self) -> bool:
        """Whether messages can still be sent (no close frame framed yet, the TCP connection up)."""
        return (
            self.transport is not None
            and self.connection.state is not _CLOSED
            and not self.connection.close_sent
        )

    @property
    def writing_paused(self) -> bool:
        """Whether the socket's write buffer is over its high-water mark (see :meth:`drain`)."""
        return self._write_paused

    @property
    def close_code(self) -> int:
        """The peer's close code (1005: none given; 1006: no close frame), or ours if we failed it."""
        return self.connection.close_code

    @property
    def buffered_amount(self) -> int:
        """Bytes queued in the transport, not yet written to the socket."""
        if self.transport is None or self.connection.state is _CLOSED:
            return 0
        return self.transport.get_write_buffer_size()

    # -- the door: everything sent goes through these -----------------------------------------

    def send(self, data: str | bytes | bytearray | memoryview) -> bool:
        """Send one message: text for ``str``, binary otherwise. False if the connection is not open
        (or the message was dropped at the send buffer limit)."""
        if type(data) is bytes:  # no bytes(data): calling the type costs ~900 instructions, even for bytes
            return self.send_message(data, False)
        if isinstance(data, str):
            return self.send_message(data.encode(), True)
        return self.send_message(bytes(data), False)

    def send_message(self, payload: bytes, text: bool) -> bool:
        """Send one message whose payload is already encoded (UTF-8 when ``text``).

        Returns False if the connection is not open, or the message was refused at the send buffer
        limit (dropped, or the connection is closing). The echo hot path: every attribute read here
        is a measured cost, so the checks are inlined.
        """
        transport = self.transport
        connection = self.connection
        if transport is None or connection.state is _CLOSED or connection.close_sent:
            return False
        if self._broadcasts.pending:
            self._broadcasts.flush()  # broadcasts sent before this message go first
        length = len(payload)
        limit = self.send_buffer_limit
        if limit is not None:
            queued = transport.get_write_buffer_size()
            # A peer with nothing queued is keeping up, whatever the size of this one message.
            if queued and queued + length > limit:
                return self._buffer_full(length, queued, limit)
        opcode = OP_TEXT if text else OP_BINARY
        if length >= _JOIN_LIMIT:
            header, payload = connection.send_message(opcode, payload)
            if payload:
                transport.writelines((header, payload))
            else:
                transport.write(header)  # a client's frame comes whole (header holds it all)
            return True
        if connection.deflate is None and length >= 126 and not connection.client:  # a client masks each anew
            global _last_framed
            last = _last_framed
            if last[0] is payload and last[1] == opcode:
                transport.write(last[2])
                return True
            header, payload = connection.send_message(opcode, payload)
            frame = header + payload
            _last_framed = (payload, opcode, frame)
            transport.write(frame)
            return True
        header, payload = connection.send_message(opcode, payload)
        transport.write(header + payload)
        return True

    def send_frame(self, frame: bytes) -> bool:
        """Write prebuilt, uncompressed message frames (:func:`build_message_frame`; a broadcast).
        Server side only: a client's frames are masked, each with its own key.

        Returns False if the connection is not open or the frames were refused at the send buffer
        limit, as :meth:`send_message` does.
        """
        transport = self.transport
        connection = self.connection
        if transport is None or connection.state is _CLOSED or connection.close_sent:
            return False
        if self._broadcasts.pending:
            self._broadcasts.flush()
        limit = self.send_buffer_limit
        if limit is not None:
            queued = transport.get_write_buffer_size()
            if queued and queued + len(frame) > limit:
                return self._buffer_full(len(frame), queued, limit)
        transport.write(frame)
        return True

    def send_frames(self, frames: list[bytes], joined: bytes | None = None) -> bool:
        """Write several prebuilt message frames, one message each (a broadcast burst), in order.

        The send buffer limit holds for each frame as if it were sent on its own: a frame goes out
        while nothing is queued or it fits under the limit with what is queued (the frames before it
        included); one that does not fit is dropped or closes the connection, per the policy.
        ``joined``: the frames already joined by the caller (shared by many connections), written
        in one go when they all fit; otherwise they are handed to the transport as they are, so
        connections behind on the same burst share its frames instead of each holding a copy.
        Returns False if anything was refused.
        """
        transport = self.transport
        connection = self.connection
        if transport is None or connection.state is _CLOSED or connection.close_sent:
            return False
        if self._broadcasts.pending:
            self._broadcasts.flush()
        limit = self.send_buffer_limit
        queued = 0
        if limit is not None:
            queued = transport.get_write_buffer_size()
            total = len(joined) if joined is not None else sum([len(frame) for frame in frames])
            if queued + total > limit and (queued or len(frames) > 1):
                return self._send_frames_over_limit(transport, frames, queued, limit)
        if joined is not None:
            transport.write(joined)
        else:
            transport.writelines(frames)
        return True

    def _send_frames_over_limit(
        self, transport: asyncio.Transport, frames: list[bytes], queued: int, limit: int
    ) -> bool:
        # A burst that does not fit whole: judged frame by frame, as send() would judge each.
        accepted: list[bytes] = []
        dropped: list[tuple[int, int]] = []  # (size, bytes queued then) of each frame dropped
        refused = 0  # the size of the first frame that did not fit, the policy "close" closes on it
        for frame in frames:
            size = len(frame)
            if queued and queued + size > limit:
                if not self._drop_when_full:
                    refused = size
                    break  # nothing after it goes out either
                dropped.append((size, queued))
                continue
            accepted.append(frame)
            queued += size
        if accepted:
            transport.writelines(accepted)
        # Reported once the burst's frames are written: an onError that sends comes after them.
        for size, queued_then in dropped:
            self.dropped_messages += 1
            self._report_error(SendBufferFull(size, queued_then, limit, True, self.dropped_messages))
        if refused:
            return self._buffer_full(refused, queued, limit)
        return not dropped

    def ping(self, payload: bytes = b"") -> bool:
        """Send a ping (at most 125 bytes); False if the connection is not open."""
        if not self.is_open:
            return False
        if self._broadcasts.pending:
            self._broadcasts.flush()
        assert self.transport is not None
        self.transport.write(self.connection.send_ping(payload))
        return True

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the close handshake; the socket is dropped if the peer does not answer in time."""
        if self.transport is None or self.connection.state is _CLOSED:
            return
        if self._broadcasts.pending:
            self._broadcasts.flush()  # broadcasts sent before the close go first
        frame = self.connection.send_close(code, reason)
        if not frame:
            return
        self.transport.write(frame)
        self._cancel_keepalive()
        self._restart_close_timer()

    def start_closing(self) -> None:
        """Mark the connection CLOSING at once, from any thread, ahead of :meth:`close` on the loop
        (messages already handed over still go out before the close frame)."""
        self.connection.start_closing()

    def abort(self) -> None:
        """Drop the TCP connection now, without a close handshake."""
        if self.transport is not None and self.connection.state is not _CLOSED:
            self.transport.abort()

    def _buffer_full(self, size: int, queued: int, limit: int) -> bool:
        """Apply the backpressure policy to a message that does not fit; returns False (not sent)."""
        if self._drop_when_full:
            self.dropped_messages += 1
            self._report_error(SendBufferFull(size, queued, limit, True, self.dropped_messages))
            return False
        self._report_error(SendBufferFull(size, queued, limit, False, self.dropped_messages))
        self.close(1008, "send buffer limit reached")
        return False

    # -- flow control ---------------------------------------------------------------------------

    def pause_reading(self) -> None:
        """Stop reading from the peer until :meth:`resume_reading` (application flow control)."""
        self._read_paused_by_app = True
        if self.transport is not None and self.connection.state is not _CLOSED:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        """Undo :meth:`pause_reading`."""
        self._read_paused_by_app = False
        if self.transport is not None and self.connection.state is not _CLOSED and not self._write_paused:
            self.transport.resume_reading()

    async def drain(self) -> None:
        """Wait while the socket's write buffer is over its high-water mark (returns at once
        otherwise, and when the connection closes): a sender that awaits this cannot outrun its peer."""
        if not self._write_paused or self.connection.state is _CLOSED:
            return
        waiter: asyncio.Future[None] = self.loop.create_future()
        self._drain_waiters.append(waiter)
        await waiter

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is gone."""
        if self.connection.state is _CLOSED:
            return
        waiter: asyncio.Future[None] = self.loop.create_future()
        self._lost_waiters.append(waiter)
        await waiter

    # -- closing ------------------------------------------------------------------------------

    def _close_handshake_done(self) -> None:
        # Close frames went both ways (the core queued our reply, already written): the server
        # closes the TCP connection first (RFC 6455 section 7.1.1); a client waits for that, and
        # drops the connection itself only if it does not come within close_timeout.
        self._cancel_keepalive()
        if self.connection.client:
            self._restart_close_timer()
        else:
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
        if self.ping_interval and self.ping_interval > 0 and self.connection.state is not _CLOSED:
            self._ping_timer = self.loop.call_later(self.ping_interval, self._send_keepalive_ping)

    def _send_keepalive_ping(self) -> None:
        self._ping_timer = None
        self._ping_payload = os.urandom(4)
        if not self.ping(self._ping_payload):
            return
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
        if self.connection.state is _CLOSED:
            return
        self._report_error(KeepaliveTimeout("keepalive ping got no pong in time"))
        # 1011 tells the peer why, if it is still there; it gets no time to answer (close code 1006).
        frame = self.connection.send_close(1011, "keepalive ping timeout")
        if frame and self.transport is not None:
            self.transport.write(frame)
        self.abort_after_flush()

    def abort_after_flush(self) -> None:
        """Close the transport after writing what is buffered; drop it if that takes too long."""
        if self.transport is None or self.connection.state is _CLOSED:
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


#: The size of a client's read buffer, as uvloop's own: a read takes at most this many bytes.
READ_BUFFER_SIZE = 256 * 1024
_thread_buffers = threading.local()


def _read_buffer() -> bytearray:
    """The read buffer of the calling thread's client connections. One per thread, not per process:
    uvloop reads into it with the GIL released, and another thread's loop may be reading too."""
    buffer: bytearray | None = getattr(_thread_buffers, "buffer", None)
    if buffer is None:
        buffer = _thread_buffers.buffer = bytearray(READ_BUFFER_SIZE)
    return buffer


class ClientWebSocketProtocol(WebSocketProtocol):
    """A client connection: a :class:`WebSocketProtocol` that also has asyncio's
    ``BufferedProtocol`` methods, so that uvloop reads into a buffer of ours, shared by the
    thread's client connections, instead of making a ``bytes`` object of every read.

    A server's message is copied once, from that buffer, rather than twice (the read's ``bytes``,
    then the payload sliced out of it): the round trip of a 16 KiB echo is one allocation and one
    copy lighter (callgrind; docs/performance.md, "The client"). The stock asyncio loop, which only
    uses ``get_buffer`` for subclasses of ``asyncio.BufferedProtocol``, keeps calling
    ``data_received``. Not used for server connections yet: their messages are mostly small, where
    the second call per read may cost more than the copy it saves (not measured).
    """

    _read_into: bytearray

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Here rather than in __init__: this runs on the loop's thread, before any read.
        self._read_into = _read_buffer()
        super().connection_made(transport)

    def get_buffer(self, sizehint: int) -> bytearray:
        return self._read_into

    def buffer_updated(self, nbytes: int) -> None:
        buffer = self._read_into
        message = self.connection.receive_whole_message_in(buffer, nbytes)
        if message is not None:
            self._message_received(message)
        else:  # anything else (several frames, a part of one, a control frame): the general path
            self._frames_received(cast(bytes, frame_payload(buffer, 0, nbytes, False)))


# The handler of a connection not started yet: events before WebSocketProtocol.start() (none are
# expected) are ignored.
_NO_HANDLER = DirectHandler()
