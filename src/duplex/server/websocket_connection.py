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
from typing import Any

from ..asyncio.dispatch import CallbackRunner, FollowUp
from ..asyncio.websocket_protocol import (
    DirectHandler,
    KeepaliveTimeout,
    SendBufferFull,
    State,
    WebSocketProtocol,
    is_valid_close_code,
)
from ..asyncio.workers import Worker
from .callback_events import Event, MessageEvent, RequestInfo, TerminateEvent
from .errors import ErrorCode, callback_failed, error_event
from .topics import TopicRegistry

__all__ = [
    "STATUS",
    "InvalidMessageData",
    "WebSocketConnection",
    "callback_of",
    "convert_message",
    "encode_for_send",
    "encode_message",
]

logger = logging.getLogger("duplex")
# One line per connection opened and closed, at INFO: `duplex serve` shows them.
connection_log = logging.getLogger("duplex.connections")

_ids = itertools.count(1)

# The 4D status of each state of the connection, which the protocol core keeps: the one place
# the strings come from.
STATUS = {State.OPEN: "Connected", State.CLOSING: "Closing", State.CLOSED: "Closed"}
_OPEN = State.OPEN

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


def encode_message(message: Any) -> tuple[bytes, bool]:
    """``(payload, is_text)`` for ``send()``: str is text, bytes-like is binary, JSON values are text.

    Raises:
        TypeError: the message is neither text, bytes nor JSON-serialisable (nothing is sent).
    """
    if isinstance(message, str):
        return message.encode(), True
    if isinstance(message, (bytes, bytearray, memoryview)):
        return bytes(message), False
    try:
        text = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"cannot send {type(message).__name__}: send str (text), bytes (binary) or a JSON-serialisable "
            f"value (dict, list, number, bool, None); {exc}"
        ) from None
    return text.encode(), True


class InvalidMessageData(ValueError):
    """A message that ``dataType`` cannot make into its value (the connection closes with 1007).

    Attributes:
        code: ``INVALID_UTF8`` or ``INVALID_JSON``.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def convert_message(data: str | bytes, data_type: str) -> Any:
    """A received message as ``dataType`` gives it to ``onMessage``: "auto" as it came (str for
    text, bytes for binary), "text" as str, "blob" as bytes, "object" parsed from JSON.

    Raises:
        InvalidMessageData: binary data that is not UTF-8 for "text", text that is not JSON for
            "object" (the cause is chained).
    """
    if data_type == "text":
        if isinstance(data, bytes):
            try:
                return data.decode()
            except UnicodeDecodeError as exc:
                raise InvalidMessageData(
                    ErrorCode.INVALID_UTF8, "binary message is not valid UTF-8 (dataType is 'text')"
                ) from exc
        return data
    if data_type == "blob":
        return data.encode() if isinstance(data, str) else data
    if data_type == "object":
        try:
            return json.loads(data)
        except ValueError as exc:
            raise InvalidMessageData(
                ErrorCode.INVALID_JSON, f"message is not valid JSON (dataType is 'object'): {exc}"
            ) from exc
    return data


# The last str sent, with its UTF-8 payload: sending the same str object to many connections in a
# loop (the seed's chat idiom) encodes it once, and hands the transport the same payload object,
# which it then frames once. Only a str is remembered, by identity (a dict may change between two
# sends). One tuple, swapped whole: threads never see half an update.
_last_text: tuple[object, bytes] = (None, b"")


def encode_for_send(message: Any) -> tuple[bytes, bool]:
    """``encode_message``, with the common cases first and the last str remembered."""
    global _last_text
    kind = type(message)
    if kind is bytes:
        return message, False
    if kind is str:
        last = _last_text
        if last[0] is message:
            return last[1], True
        payload = message.encode()
        _last_text = (message, payload)
        return payload, True
    return encode_message(message)


class WebSocketConnection(DirectHandler):
    """One open WebSocket connection of a ``WebSocketServer`` (4D.WebSocketConnection).

    Made by its server, which gives it what it needs: the loop and its thread, the ``dataType``, the
    worker, and a callback for when it closes. It is the engine's handler of its connection
    (a ``duplex.asyncio.websocket_protocol.DirectHandler``), so a message goes from the transport to
    the user's ``onMessage`` with no adapter in between, through C where compiled.

    Attributes:
        id: a number unique in the process.
        wss: the ``WebSocketServer`` it belongs to.
        handler: the connection handler ``onConnection`` returned.
        request: the handshake request (``headers``, ``query``, ``url``, ``remoteAddress``).
        subprotocol: the negotiated subprotocol, or None.
    """

    def __init__(
        self,
        wss: Any,
        handler: object,
        request: RequestInfo,
        protocol: WebSocketProtocol,
        *,
        loop_thread_id: int | None,
        data_type: str,
        worker: Worker | None,
        on_closed: Callable[[WebSocketConnection], None],
        topics: TopicRegistry,
    ) -> None:
        self.id: int = next(_ids)
        self.wss = wss
        self.handler = handler
        self.request = request
        self.subprotocol: str | None = protocol.subprotocol
        self._protocol = protocol
        self._loop = protocol.loop
        self._loop_thread_id = loop_thread_id
        self._data_type = data_type
        self._on_closed = on_closed
        self._topic_registry = topics  # its server's: shared by all its connections
        # Set before the first subscribe reaches the registry: a connection that never subscribed
        # leaves no topics when it closes, without the registry's lock (~4,500 instructions a
        # handshake, measured). A subscribe racing the close either set it before the close reads
        # it, or finds the connection closed under the lock and is refused.
        self._subscribed = False
        self._pending_bytes = 0  # queued by other threads, not yet handed to the transport
        self._pending_lock = threading.Lock()
        self._on_message = callback_of(handler, "onMessage")
        self._on_open = callback_of(handler, "onOpen")
        self._on_terminate = callback_of(handler, "onTerminate")
        self._on_error = callback_of(handler, "onError")
        self.runner = CallbackRunner(self._loop, worker, self._follow_up_for, self._backlog, 64, self)

    # -- properties ----------------------------------------------------------------------------------

    @property
    def status(self) -> str:
        """ "Connected", then "Closing" once a close has started (either side), then "Closed" once the
        TCP connection is gone."""
        return STATUS[self._protocol.state]

    @property
    def remoteAddress(self) -> str:
        """The client's IP address."""
        return str(self.request["remoteAddress"])

    @property
    def bufferedAmount(self) -> int:
        """Bytes queued for this client and not yet written to the socket."""
        return self._protocol.buffered_amount + self._pending_bytes

    @property
    def dropped_messages(self) -> int:
        """Messages dropped by the "drop" backpressure policy."""
        return int(self._protocol.dropped_messages)

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

    @property
    def topics(self) -> frozenset[str]:
        """The topics this connection is subscribed to (a snapshot)."""
        return self._topic_registry.topics_of(self.id)

    # -- topics --------------------------------------------------------------------------------------

    def subscribe(self, topic: str) -> bool:
        """Subscribe to ``topic``: ``wss.publish(topic, ...)`` then reaches this connection.

        Returns True if the connection was not subscribed and now is; False if it already was, or
        if its status is not "Connected" (nothing changes). Safe from any thread; the change holds
        at once for every thread.

        Raises:
            TypeError: ``topic`` is not a str.
            ValueError: ``topic`` is not a valid name (1 to 256 ASCII letters, digits and
                ``- _ . : @ /``; see ``docs/api.md``).
        """
        self._subscribed = True
        return self._topic_registry.subscribe(self.id, self._protocol, topic)

    def unsubscribe(self, topic: str) -> bool:
        """Leave ``topic``. Returns True if the connection was subscribed, False if not.

        A connection leaves all its topics when it closes. Safe from any thread.

        Raises:
            TypeError, ValueError: as ``subscribe()``.
        """
        return self._topic_registry.unsubscribe(self.id, topic)

    # -- sending -------------------------------------------------------------------------------------

    def send(self, message: Any) -> bool:
        """Queue one message: ``str`` as text, bytes-like as binary, other JSON values as JSON text.

        Returns True when queued, False when the connection is not "Connected" (nothing is sent).
        Never blocks; see ``sendBufferLimit`` for clients that do not keep up.

        Raises:
            TypeError: the message cannot be sent (not text, bytes or JSON-serialisable).
        """
        if type(message) is bytes:  # the echo of a binary message: no tuple to make and unpack
            payload = message
            text = False
        else:
            payload, text = encode_for_send(message)
        protocol = self._protocol
        if protocol.connection.state is not _OPEN:
            return False
        # On the loop's own thread: straight to the transport's door. Asked as "which thread is
        # this", not "which loop runs here": on Python 3.11 asyncio._get_running_loop() makes a
        # getpid() system call each time (~100 ns more a message, measured), which an instruction
        # count does not show.
        if get_ident() == self._loop_thread_id:
            return protocol.send_message(payload, text)
        with self._pending_lock:
            self._pending_bytes += len(payload)
        try:
            self._loop.call_soon_threadsafe(self._send_from_thread, payload, text)
        except RuntimeError:  # the loop is closed: the server stopped meanwhile
            return False
        return True

    def _send_from_thread(self, payload: bytes, text: bool) -> None:
        with self._pending_lock:
            self._pending_bytes -= len(payload)
        self._protocol.send_message(payload, text)

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
        protocol = self._protocol
        if protocol.state is not _OPEN:
            return
        if get_ident() == self._loop_thread_id:
            protocol.close(code, message)
            return
        # "Closing" at once, for every thread; the close frame follows on the loop, after the
        # messages this thread sent before.
        protocol.start_closing()
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server is gone
            self._loop.call_soon_threadsafe(self._close, code, message)

    def _close(self, code: int, message: str) -> None:
        self._protocol.close(code, message)

    def abort(self) -> None:
        """Drop the TCP connection at once (loop thread only)."""
        self._protocol.abort()

    # -- events from the engine (loop thread) ---------------------------------------------------------

    def on_open(self, ws: WebSocketProtocol) -> None:
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
        # The common cases inline: a message that needs no conversion costs no call.
        if data_type != "auto" and (data_type != "text" or type(data) is not str):
            try:
                value = convert_message(data, data_type)
            except InvalidMessageData as exc:
                self._invalid(exc.code, str(exc), exc.__cause__ or exc)
                return
        # Made empty, then filled: keyword arguments cost more to pass than the dict itself (~400
        # instructions a message, compiled).
        event = MessageEvent()
        event["type"] = "message"
        event["data"] = value
        self.runner.run_pair(self._on_message, self, event)

    def _invalid(self, code: ErrorCode, message: str, exception: BaseException) -> None:
        self.report(code, message, exception)
        self._protocol.close(1007, "invalid message data")

    def on_error(self, ws: WebSocketProtocol, error: Exception) -> None:
        """The engine's report: a broken protocol or limit, a keepalive timeout, a full send buffer."""
        if isinstance(error, SendBufferFull):
            code = ErrorCode.SEND_BUFFER_FULL_DROPPED if error.dropped else ErrorCode.SEND_BUFFER_FULL_CLOSED
        elif isinstance(error, KeepaliveTimeout):
            code = ErrorCode.KEEPALIVE_TIMEOUT
        else:
            close_code = getattr(error, "close_code", 1002)
            if close_code == 1009:
                code = ErrorCode.MESSAGE_TOO_BIG
            elif close_code == 1007:
                code = ErrorCode.INVALID_UTF8
            else:
                code = ErrorCode.PROTOCOL_ERROR
        self.report(code, str(error), error)

    def on_close(self, ws: WebSocketProtocol, code: int, reason: str) -> None:
        if connection_log.isEnabledFor(logging.INFO):
            connection_log.info(
                "connection %d from %s closed: %d%s",
                self.id,
                self.remoteAddress,
                code,
                f" {reason}" if reason else "",
            )
        if self._subscribed:
            self._topic_registry.leave_all(self.id)  # closed now: it cannot subscribe again
        self._on_closed(self)
        if self._on_terminate is not None:
            self.runner.run(
                self._on_terminate, (self, TerminateEvent(type="terminate", code=code, reason=reason))
            )

    # -- errors --------------------------------------------------------------------------------------

    def report(self, code: ErrorCode, message: str, exception: BaseException | None = None) -> None:
        """Run ``onError`` (in order with the other callbacks); log when there is none."""
        event = error_event(code, message, exception)
        if self._on_error is None:
            logger.warning("connection %d: %s", self.id, message)
        self.runner.run(self._on_error, (self, event))

    def _follow_up_for(self, exc: BaseException, callback_name: str) -> FollowUp:
        if self._on_error is None:
            return None
        return self._on_error, (self, callback_failed(ErrorCode.CALLBACK_FAILED, exc, callback_name))

    def _backlog(self, behind: bool) -> None:
        # The handler is slower than the client: stop reading from it until it catches up.
        if behind:
            self._protocol.pause_reading()
        else:
            self._protocol.resume_reading()

    def __repr__(self) -> str:
        return f"<WebSocketConnection {self.id} on {self.wss.path} from {self.remoteAddress}, {self.status}>"
