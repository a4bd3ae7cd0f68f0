"""``duplex.WebSocket``: 4D.WebSocket in Python, a client connection driven by handler callbacks.

4D writes ``$ws:=4D.WebSocket.new($url; $handler)``; here ``ws = duplex.WebSocket(url, handler)``.
The constructor checks the URL and the options, then returns at once with ``status`` "Connecting";
the connection opens in the background. Callbacks run on the loop of the thread that made the
object when one runs there (a web server's callback, async code), else on the shared client loop
(:mod:`duplex.client.loop`), or on a named ``worker``; one at a time and in order, as on the server:
``onOpen``, then ``onMessage`` for each message, then at most one ``onError`` per connection (the
connection is then closing: no message is delivered after it), then ``onTerminate``, exactly once,
also when the connection never opened (``onError`` then says why, and the code is 1006).

With ``reconnect``, a connection the server ends or the network drops is opened again
(:mod:`duplex.client.link` has the backoff): ``status`` is "Connecting" in between, ``onOpen`` comes
again for each new connection, and ``onTerminate`` only once, when it is over for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from _thread import get_ident
from asyncio import _get_running_loop
from collections.abc import Callable, Mapping
from typing import Any

from ..asyncio.dispatch import CallbackRunner, FollowUp
from ..asyncio.websocket_protocol import State, WebSocketProtocol, is_valid_close_code
from ..asyncio.workers import Worker, acquire_worker, release_worker
from ..server.callback_events import Event, MessageEvent, TerminateEvent
from ..server.errors import ErrorCode, callback_failed, error_event
from ..server.websocket_connection import InvalidMessageData, convert_message, encode_for_send
from .link import Link, next_id
from .loop import loop_for_caller
from .options import ClientOptions, parse_url, read_options

__all__ = ["WebSocket", "check_close", "handler_callback"]

logger = logging.getLogger("duplex.client")

_OPEN = State.OPEN  # read by send() per message: a global, not State's attribute

_SNAKE = {
    "onOpen": "on_open",
    "onMessage": "on_message",
    "onError": "on_error",
    "onTerminate": "on_terminate",
}
#: What a handler may carry besides its callbacks (4D: dataType and headers; duplex adds the rest).
_HANDLER_OPTIONS = ("dataType", "headers", "worker", "subprotocols", "reconnect")


def handler_callback(handler: object, name: str) -> Callable[..., Any] | None:
    """The handler's ``name`` ("onMessage") or its PEP 8 spelling, from an object or a dict."""
    for key in (name, _SNAKE[name]):
        callback = handler.get(key) if isinstance(handler, Mapping) else getattr(handler, key, None)
        if callback is not None:
            if not callable(callback):
                raise TypeError(f"the handler's {key} must be callable, got {type(callback).__name__}")
            found: Callable[..., Any] = callback
            return found
    return None


def check_close(code: int | None, reason: str | None) -> tuple[int, str]:
    """``terminate()``'s arguments, checked: 1000 or 3000-4999 (None: 1000), a reason of at most
    123 bytes of UTF-8.

    Raises:
        ValueError: another code, or a reason that is not such a str.
    """
    if code is None:
        code = 1000
    if isinstance(code, bool) or not isinstance(code, int) or not (code == 1000 or 3000 <= code <= 4999):
        raise ValueError(f"close code must be 1000 or 3000-4999, got {code!r}")
    reason = "" if reason is None else reason
    if not isinstance(reason, str) or len(reason.encode()) > 123:
        raise ValueError("close reason must be a str of at most 123 bytes of UTF-8")
    assert is_valid_close_code(code)
    return code, reason


def _handler_options(handler: object) -> dict[str, Any]:
    """The options a handler carries (``dataType``, ``headers``...), in either spelling."""
    found: dict[str, Any] = {}
    for name in _HANDLER_OPTIONS:
        from_snake = "".join("_" + char.lower() if char.isupper() else char for char in name)
        for key in (name, from_snake):
            value = handler.get(key) if isinstance(handler, Mapping) else getattr(handler, key, None)
            if value is not None:
                found[name] = value
                break
    return found


class WebSocket:
    """A client WebSocket connection (4D.WebSocket).

    Args:
        url: ``ws://`` or ``wss://``, host, optional port, path and query.
        handler: an object or a dict with ``onOpen``, ``onMessage``, ``onError``, ``onTerminate``
            (or ``on_open``...; sync or ``async def``), each called as ``callback(ws, event)``, and
            optionally ``dataType``, ``headers``, ``worker``, ``subprotocols``, ``reconnect``.
        **options: the client options (docs/api.md, "The client"), over the handler's.

    Raises:
        ValueError, TypeError: a URL of another form, an unknown option or a bad value (the message
            says what is accepted). Nothing is connected then.
    """

    def __init__(self, url: str, handler: object = None, **options: Any) -> None:
        target = parse_url(url)
        base = _handler_options(handler) if handler is not None else None
        self._options: ClientOptions = read_options(options, target, base)
        self._id = next_id()
        self._url = url
        self._handler = handler
        self._on_open = handler_callback(handler, "onOpen") if handler is not None else None
        self._on_message = handler_callback(handler, "onMessage") if handler is not None else None
        self._on_error = handler_callback(handler, "onError") if handler is not None else None
        self._on_terminate = handler_callback(handler, "onTerminate") if handler is not None else None
        self._loop, self._web_server = loop_for_caller()
        # Set once the link is over, for a stopping web server to wait on.
        self._over: asyncio.Future[None] = self._loop.create_future()
        self._worker: Worker | None = acquire_worker(self._options.worker) if self._options.worker else None
        self.runner = CallbackRunner(self._loop, self._worker, self._follow_up_for, self._backlog, 64, self)
        self._errored = False  # this connection had its onError: nothing more is delivered
        self._data_type = self._options.data_type
        self._link = Link(target, self._options, self._loop, self)
        if self._web_server is not None:
            self._web_server.add_stop_hook(self._web_server_stopping)
        if _get_running_loop() is self._loop:
            self._link.begin()
        else:
            self._loop.call_soon_threadsafe(self._link.begin)

    # -- properties ---------------------------------------------------------------------------

    @property
    def id(self) -> int:
        """A number unique among the clients of this process."""
        return self._id

    @property
    def url(self) -> str:
        """The URL, as given."""
        return self._url

    @property
    def handler(self) -> object:
        """The handler, as given."""
        return self._handler

    @property
    def dataType(self) -> str:
        """How messages reach ``onMessage``: "text" (default), "blob", "object" or "auto"."""
        return self._options.data_type

    @property
    def data_type(self) -> str:
        """Same as ``dataType``."""
        return self.dataType

    @property
    def status(self) -> str:
        """ "Connecting" (also between reconnections), "Connected", "Closing" (a close has started,
        either side), "Closed"."""
        return self._link.status

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server chose, or None (also while not connected)."""
        return self._link.subprotocol

    # -- sending and closing (any thread) ---------------------------------------------------------

    def send(self, message: Any) -> bool:
        """Send one message: ``str`` as text, bytes-like as binary, other JSON values as JSON text.

        Returns True when queued, False when the status is not "Connected" (nothing is sent).

        Raises:
            TypeError: the message is neither text, bytes nor JSON-serialisable.
        """
        payload, text = encode_for_send(message)
        protocol = self._link.protocol
        if protocol is None or protocol.state is not _OPEN:
            return False
        if get_ident() == self._link.loop_thread_id:
            return protocol.send_message(payload, text)
        try:
            self._loop.call_soon_threadsafe(protocol.send_message, payload, text)
        except RuntimeError:  # the loop is closed
            return False
        return True

    def terminate(self, code: int | None = None, reason: str | None = None) -> None:
        """Close the connection with ``code`` (1000 or 3000-4999; None: 1000) and ``reason``; with
        ``reconnect``, no new connection follows. ``onTerminate`` comes once it is closed.

        Raises:
            ValueError: another code, or a reason over 123 bytes of UTF-8.
        """
        code, reason = check_close(code, reason)
        self._link.close(code, reason)

    # -- the link's events (on the loop) -----------------------------------------------------------

    def opened(self, protocol: WebSocketProtocol) -> None:
        self._errored = False
        if self._on_open is not None:
            self.runner.run(self._on_open, (self, Event(type="open")))

    def message(self, data: str | bytes) -> None:
        if self._errored:
            return
        value: Any = data
        data_type = self._data_type
        # The message as it came, when dataType asks for nothing else: no call for the common cases.
        if data_type != "auto" and (
            type(data) is not (str if data_type == "text" else bytes) or data_type == "object"
        ):
            try:
                value = convert_message(data, data_type)
            except InvalidMessageData as exc:
                self.error(exc.code, exc)
                protocol = self._link.protocol
                if protocol is not None:
                    protocol.close(1007, "invalid message data")
                return
        event = MessageEvent()
        event["type"] = "message"
        event["data"] = value
        self.runner.run_pair(self._on_message, self, event)

    def error(self, code: ErrorCode, exception: BaseException) -> None:
        if self._errored:
            return
        self._errored = True
        message = str(exception) or type(exception).__name__
        if self._on_error is None:
            logger.warning("client %d (%s): %s", self._id, self._url, message)
            return
        self.runner.run(self._on_error, (self, error_event(code, message, exception)))

    def closed(self, code: int, reason: str, final: bool) -> None:
        if not final:
            return
        if self._web_server is not None:
            self._web_server.remove_stop_hook(self._web_server_stopping)
        event = TerminateEvent(type="terminate", code=code, reason=reason)
        self.runner.run(self._on_terminate, (self, event), self._finished)

    async def _web_server_stopping(self) -> None:
        """The web server whose loop this client lives on is stopping: close with 1001, as its
        own connections are, and wait (at most closeTimeout) for the close to complete."""
        self._link.close(1001, "the web server is stopping")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._over), self._options.settings.close_timeout + 1)

    def _finished(self, result: object, exception: BaseException | None) -> None:
        # onTerminate has run (or there is none): the link is over for whoever waits.
        if not self._over.done():
            self._over.set_result(None)
        if self._worker is not None:
            worker, self._worker = self._worker, None
            release_worker(worker)

    # -- callbacks that raise -------------------------------------------------------------------

    def _follow_up_for(self, exc: BaseException, callback_name: str) -> FollowUp:
        if self._on_error is None:
            return None
        return self._on_error, (self, callback_failed(ErrorCode.CALLBACK_FAILED, exc, callback_name))

    def _backlog(self, behind: bool) -> None:
        protocol = self._link.protocol
        if protocol is None:
            return
        if behind:
            protocol.pause_reading()
        else:
            protocol.resume_reading()

    def __repr__(self) -> str:
        return f"<WebSocket {self._id} {self._url} {self.status}>"
