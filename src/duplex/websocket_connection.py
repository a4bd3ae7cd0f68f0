"""``WebSocketConnection``: 4D.WebSocketConnection in Python, one per accepted client.

The object the connection handler's callbacks receive as ``ws``. ``send()``, ``terminate()`` and
the properties are safe from any thread: off the loop thread, a send is encoded (and checked) in
the caller's thread, then handed to the loop, which alone frames and writes, so frames never
interleave.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import threading
from _thread import get_ident
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .dispatch import CallbackRunner, FollowUp
from .errors import ErrorCode, error_stack
from .events import ErrorEvent, Event, MessageEvent, RequestInfo, TerminateEvent
from .protocol.connection import SHORT_HEADERS
from .protocol.exceptions import InvalidPayload, PayloadTooBig, WebSocketError
from .protocol.frames import OP_BINARY, OP_TEXT, frame_header, is_valid_close_code
from .transport import WebSocketProtocol

if TYPE_CHECKING:
    from .websocket_server import WebSocketServer

__all__ = ["WebSocketConnection", "callback_of", "encode_message"]

logger = logging.getLogger("duplex")
# One line per connection opened and closed, at INFO: `duplex serve` shows them.
connection_log = logging.getLogger("duplex.connections")

_ids = itertools.count(1)

CONNECTED, CLOSING, CLOSED = "Connected", "Closing", "Closed"

# Below this size a frame's header and payload are joined into one write.
_JOIN_LIMIT = 16 * 1024


_SNAKE_NAMES = {
    "onConnection": "on_connection",
    "onMessage": "on_message",
    "onOpen": "on_open",
    "onTerminate": "on_terminate",
    "onError": "on_error",
}


def callback_of(handler: object, name: str) -> Callable[..., Any] | None:
    """The handler's callback ``name`` ("onMessage") or its PEP 8 spelling ("on_message")."""
    callback = getattr(handler, name, None)
    if callback is None:
        callback = getattr(handler, _SNAKE_NAMES[name], None)
    return callback if callable(callback) else None


def encode_message(message: Any) -> tuple[int, bytes]:
    """``(opcode, payload)`` for ``send()``: str is text, bytes-like is binary, JSON values are text.

    Raises:
        TypeError: the message is neither text, bytes nor JSON-serialisable (nothing is sent).
    """
    if isinstance(message, str):
        return OP_TEXT, message.encode()
    if isinstance(message, (bytes, bytearray, memoryview)):
        return OP_BINARY, bytes(message)
    try:
        text = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"cannot send {type(message).__name__}: send str (text), bytes (binary) or a JSON-serialisable "
            f"value (dict, list, number, bool, None); {exc}"
        ) from None
    return OP_TEXT, text.encode()


# The last str or bytes object sent, with its encoding: (message, opcode, payload, frame). Sending
# the same object to many connections in a loop (the seed's chat idiom) encodes it once and, from
# the second send on, frames it once. Only immutable messages are remembered, by identity (a dict
# may change between two sends). One tuple, swapped whole: threads never see half an update.
_last_sent: tuple[object, int, bytes, bytes] = (None, 0, b"", b"")
_last_bytes: object = None  # the last bytes object sent, to notice a second send of it


def _encode_for_send(message: Any) -> tuple[int, bytes, bytes]:
    """``(opcode, payload, uncompressed frame or b"")`` for ``message``."""
    global _last_sent, _last_bytes
    last = _last_sent
    if last[0] is message:
        frame = last[3]
        if not frame and len(last[2]) < _JOIN_LIMIT:
            frame = frame_header(last[1], len(last[2])) + last[2]
            _last_sent = (message, last[1], last[2], frame)
        return last[1], last[2], frame
    kind = type(message)
    # The common cases first, without isinstance chains. bytes need no encoding: they are
    # remembered only once a second send of the same object shows framing once is worth it.
    if kind is bytes:
        data: bytes = message
        if _last_bytes is data:
            _last_sent = (data, OP_BINARY, data, b"")
        _last_bytes = data
        return OP_BINARY, data, b""
    if kind is str:
        payload = message.encode()
        _last_sent = (message, OP_TEXT, payload, b"")
        return OP_TEXT, payload, b""
    opcode, payload = encode_message(message)
    return opcode, payload, b""


class WebSocketConnection:
    """One open WebSocket connection of a ``WebSocketServer`` (4D.WebSocketConnection).

    Attributes:
        id: a number unique in the process.
        wss: the ``WebSocketServer`` it belongs to.
        handler: the connection handler ``onConnection`` returned.
        request: the handshake request (``headers``, ``query``, ``url``, ``remoteAddress``).
        subprotocol: the negotiated subprotocol, or None.
    """

    def __init__(
        self, wss: WebSocketServer, handler: object, request: RequestInfo, protocol: WebSocketProtocol
    ) -> None:
        self.id: int = next(_ids)
        self.wss = wss
        self.handler = handler
        self.request = request
        self.subprotocol: str | None = protocol.subprotocol
        self._protocol = protocol
        self._status = CONNECTED
        self._loop = wss.web_server.loop
        self._loop_thread_id = wss.web_server.loop_thread_id
        self._send_buffer_limit = wss.sendBufferLimit
        self._data_type = wss.dataType
        self._pending_bytes = 0  # queued by other threads, not yet handed to the transport
        self._pending_lock = threading.Lock()
        self.dropped_messages = 0
        self._on_message = callback_of(handler, "onMessage")
        self._on_open = callback_of(handler, "onOpen")
        self._on_terminate = callback_of(handler, "onTerminate")
        self._on_error = callback_of(handler, "onError")
        self.runner = CallbackRunner(self._loop, wss.worker, self._follow_up_for, self._backlog)

    # -- properties ----------------------------------------------------------------------------------

    @property
    def status(self) -> str:
        """ "Connected", then "Closing" once a close has started, then "Closed"."""
        return self._status

    @property
    def remoteAddress(self) -> str:
        """The client's IP address."""
        return str(self.request["remoteAddress"])

    @property
    def bufferedAmount(self) -> int:
        """Bytes queued for this client and not yet written to the socket."""
        return self._protocol.buffered_amount + self._pending_bytes

    # The PEP 8 spellings, as properties of their own (an alias by assignment would not compile
    # under Cython, which builds this class as an extension type).
    @property
    def remote_address(self) -> str:
        """Same as ``remoteAddress``."""
        return self.remoteAddress

    @property
    def buffered_amount(self) -> int:
        """Same as ``bufferedAmount``."""
        return self.bufferedAmount

    # -- sending -------------------------------------------------------------------------------------

    def send(self, message: Any) -> bool:
        """Queue one message: ``str`` as text, bytes-like as binary, other JSON values as JSON text.

        Returns True when queued, False when the connection is not "Connected" (nothing is sent).
        Never blocks; see ``sendBufferLimit`` for clients that do not keep up.

        Raises:
            TypeError: the message cannot be sent (not text, bytes or JSON-serialisable).
        """
        opcode, payload, frame = _encode_for_send(message)
        if self._status != CONNECTED:
            return False
        if get_ident() == self._loop_thread_id:
            return self._send_now(opcode, payload, frame)
        with self._pending_lock:
            self._pending_bytes += len(payload)
        try:
            self._loop.call_soon_threadsafe(self._send_from_thread, opcode, payload, frame)
        except RuntimeError:  # the loop is closed: the server stopped meanwhile
            return False
        return True

    def _send_from_thread(self, opcode: int, payload: bytes, frame: bytes) -> None:
        with self._pending_lock:
            self._pending_bytes -= len(payload)
        self._send_now(opcode, payload, frame)

    def _send_now(self, opcode: int, payload: bytes, frame: bytes) -> bool:
        # The echo hot path: every attribute read here is a measured cost, so the checks are
        # inlined rather than spread over properties.
        protocol = self._protocol
        transport = protocol.transport
        if transport is None or not protocol.is_open:
            return False
        if self.wss.broadcast_batch:
            self.wss.flush_broadcasts()  # broadcasts sent before this message go first
        limit = self._send_buffer_limit
        if limit is not None:
            queued = transport.get_write_buffer_size()
            # A client with nothing queued is keeping up, whatever the size of this one message.
            if queued and queued + len(payload) > limit and not self._room_for(len(payload), queued, limit):
                return False
        if protocol.connection.deflate is None:
            if frame:
                # The frame is already built (and shared with other connections): write it as is.
                transport.write(frame)
                return True
            length = len(payload)
            if length < 126:
                # A small message: a table lookup for the header, one write.
                transport.write(SHORT_HEADERS[opcode][length] + payload)
                return True
        header, body = protocol.connection.send_message(opcode, payload)
        protocol.write_frame(header, body)
        return True

    def send_frame(self, frame: bytes) -> bool:
        """Write prebuilt, uncompressed message frames (``broadcast()``); on the loop thread only."""
        protocol = self._protocol
        transport = protocol.transport
        if transport is None or not protocol.is_open:
            return False
        limit = self._send_buffer_limit
        if limit is not None:
            queued = transport.get_write_buffer_size()
            if queued and queued + len(frame) > limit and not self._room_for(len(frame), queued, limit):
                return False
        transport.write(frame)
        return True

    def _room_for(self, size: int, queued: int, limit: int) -> bool:
        """Apply the ``backpressure`` policy: bytes already wait for this client and this message
        would take the queue over ``sendBufferLimit``. Returns False (the message is not sent)."""
        if self.wss.backpressure == "drop":
            self.dropped_messages += 1
            self.report(
                ErrorCode.SEND_BUFFER_FULL_DROPPED,
                f"message of {size} bytes dropped: {queued} bytes already wait for "
                f"this client (sendBufferLimit {limit}); {self.dropped_messages} dropped so far",
            )
            return False
        self.report(
            ErrorCode.SEND_BUFFER_FULL_CLOSED,
            f"closing: the client does not read fast enough ({queued} bytes queued, sendBufferLimit {limit})",
        )
        self._close_on_loop(1008, "send buffer limit reached")
        return False

    # -- closing -------------------------------------------------------------------------------------

    def terminate(self, code: int | Mapping[str, Any] = 1000, message: str = "") -> None:
        """Start the close handshake with ``code`` and ``message`` (or ``{"code", "message"}``).

        Raises:
            ValueError: the code is not 1000-1003, 1007-1014 or 3000-4999, or the message is over
                123 bytes of UTF-8.
        """
        if isinstance(code, Mapping):
            unknown = set(code) - {"code", "message"}
            if unknown:
                raise ValueError(f"terminate() takes {{'code', 'message'}}, not {sorted(unknown)}")
            message = code.get("message", "")
            code = code.get("code", 1000)
        if isinstance(code, bool) or not isinstance(code, int) or not is_valid_close_code(code):
            raise ValueError(f"close code must be 1000-1003, 1007-1014 or 3000-4999, got {code!r}")
        if not isinstance(message, str) or len(message.encode()) > 123:
            raise ValueError("close message must be a str of at most 123 bytes of UTF-8")
        if self._status != CONNECTED:
            return
        self._status = CLOSING
        if get_ident() == self._loop_thread_id:
            self._close_after_broadcasts(code, message)
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server is gone
                self._loop.call_soon_threadsafe(self._close_after_broadcasts, code, message)

    def _close_on_loop(self, code: int, reason: str) -> None:
        if self._status == CONNECTED:
            self._status = CLOSING
        self._close_after_broadcasts(code, reason)

    def _close_after_broadcasts(self, code: int, reason: str) -> None:
        if self.wss.broadcast_batch:
            self.wss.flush_broadcasts()  # broadcasts sent before the close go first
        self._protocol.close(code, reason)

    def abort(self) -> None:
        """Drop the TCP connection at once (loop thread only)."""
        self._protocol.abort()

    # -- events from the engine (loop thread) ---------------------------------------------------------
    # The connection is the engine's handler once open (duplex.transport.WebSocketHandler), so a
    # message goes from the transport to the user's onMessage with no adapter in between.

    def on_open(self, ws: WebSocketProtocol) -> None:
        self.opened()

    def on_error(self, ws: WebSocketProtocol, error: Exception) -> None:
        self.protocol_error(error)

    def on_close(self, ws: WebSocketProtocol, code: int, reason: str) -> None:
        self.closed(code, reason)

    def opened(self) -> None:
        # Guarded, and events made only for callbacks that exist: a handshake storm measured
        # these per-connection costs.
        if connection_log.isEnabledFor(logging.INFO):
            connection_log.info(
                "connection %d opened from %s on %s", self.id, self.remoteAddress, self.request.get("url", "")
            )
        if self._on_open is not None:
            self.runner.run(self._on_open, (self, Event(type="open")))

    def on_message(self, ws: WebSocketProtocol, data: str | bytes) -> None:
        """A whole message from the engine: convert it per ``dataType``, then ``onMessage``."""
        data_type = self._data_type
        value: Any = data
        if data_type == "auto":
            pass
        elif data_type == "text":
            if isinstance(data, bytes):
                try:
                    value = data.decode()
                except UnicodeDecodeError as exc:
                    self._invalid(
                        ErrorCode.INVALID_UTF8, "binary message is not valid UTF-8 (dataType is 'text')", exc
                    )
                    return
        elif data_type == "blob":
            if isinstance(data, str):
                value = data.encode()
        elif data_type == "object":
            try:
                value = json.loads(data)
            except ValueError as exc:
                self._invalid(
                    ErrorCode.INVALID_JSON, f"message is not valid JSON (dataType is 'object'): {exc}", exc
                )
                return
        self.runner.run(self._on_message, (self, MessageEvent(type="message", data=value)))

    def _invalid(self, code: ErrorCode, message: str, exception: BaseException) -> None:
        self.report(code, message, exception)
        self._close_on_loop(1007, "invalid message data")

    def protocol_error(self, error: Exception) -> None:
        if isinstance(error, PayloadTooBig):
            code = ErrorCode.MESSAGE_TOO_BIG
        elif isinstance(error, InvalidPayload):
            code = ErrorCode.INVALID_UTF8
        elif isinstance(error, WebSocketError) and error.close_code == 1011:
            code = ErrorCode.KEEPALIVE_TIMEOUT
        else:
            code = ErrorCode.PROTOCOL_ERROR
        if self._status == CONNECTED:
            self._status = CLOSING
        self.report(code, str(error), error)

    def closed(self, code: int, reason: str) -> None:
        if connection_log.isEnabledFor(logging.INFO):
            connection_log.info(
                "connection %d from %s closed: %d%s",
                self.id,
                self.remoteAddress,
                code,
                f" {reason}" if reason else "",
            )
        self._status = CLOSED
        self.wss.connection_closed(self)
        if self._on_terminate is not None:
            self.runner.run(
                self._on_terminate, (self, TerminateEvent(type="terminate", code=code, reason=reason))
            )

    # -- errors --------------------------------------------------------------------------------------

    def report(self, code: ErrorCode, message: str, exception: BaseException | None = None) -> None:
        """Run ``onError`` (in order with the other callbacks); log when there is none."""
        event = ErrorEvent(type="error", errors=error_stack(code, message, exception), exception=exception)
        if self._on_error is None:
            logger.warning("connection %d: %s", self.id, message)
        self.runner.run(self._on_error, (self, event))

    def _follow_up_for(self, exc: BaseException, callback_name: str) -> FollowUp:
        if self._on_error is None:
            return None
        message = f"{callback_name} raised {type(exc).__name__}: {exc}"
        event = ErrorEvent(
            type="error", errors=error_stack(ErrorCode.CALLBACK_FAILED, message, exc), exception=exc
        )
        return self._on_error, (self, event)

    def _backlog(self, behind: bool) -> None:
        # The handler is slower than the client: stop reading from it until it catches up.
        if behind:
            self._protocol.pause_reading()
        else:
            self._protocol.resume_reading()

    def __repr__(self) -> str:
        return f"<WebSocketConnection {self.id} {self._status} from {self.remoteAddress}>"
