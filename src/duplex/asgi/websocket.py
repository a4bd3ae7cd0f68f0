"""An ASGI application's WebSocket connection, on duplex's own engine.

Theory of operation
-------------------
A WebSocket upgrade that no ``WebSocketServer`` path takes goes to the application: one
:class:`WebSocketSession` runs it with a ``websocket`` scope. The first ``receive()`` gives
``websocket.connect``; what the application sends next decides the handshake:

- ``websocket.accept`` (with a subprotocol among the client's, and headers): the HTTP connection
  writes the ``101`` and hands the socket to a
  :class:`~duplex.asyncio.websocket_protocol.WebSocketProtocol`, with this session as its handler.
  ``accept`` returns once the connection is open.
- ``websocket.close``: ``403``.
- ``websocket.http.response.start`` and ``.body`` (the denial extension): that response, as is.
- an exception, or returning without any of these: ``500``, logged.

Once open, received messages wait in a queue for ``receive()``; above :data:`MAX_QUEUE` of them
the connection stops reading until the application catches up. ``send()`` waits while the client
does not read. The close code and reason the client sent come with ``websocket.disconnect``; a
``send()`` on a closed connection raises :class:`ConnectionClosed` (an ``OSError``, as
specification 2.4 asks). When the application returns, a connection it left open is closed with
1000; when it raises, with 1011.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any

from ..asyncio.websocket_protocol import DirectHandler, WebSocketProtocol, WebSocketSettings
from ..http.exchange import Exchange
from ..http.upgrade import Accept, Refuse, UpgradeOffer
from .scope import websocket_scope
from .types import ASGIApp, Message

__all__ = ["MAX_QUEUE", "ConnectionClosed", "WebSocketSession"]

logger = logging.getLogger("duplex")

#: Received messages held for the application before the connection stops reading.
MAX_QUEUE = 32

_CONNECT: Message = {"type": "websocket.connect"}

# The sessions' tasks, kept from the garbage collector until they end: asyncio holds tasks weakly,
# and a session whose client left during the handshake may be referenced by nothing else.
_running: set[asyncio.Task[None]] = set()


class ConnectionClosed(OSError):
    """Sent on a WebSocket connection that is closed (ASGI specification 2.4's ``OSError``)."""


class WebSocketSession(DirectHandler):
    """One upgrade request given to an ASGI application, and the connection if it accepts.

    It is the connection's handler, a :class:`~duplex.asyncio.websocket_protocol.DirectHandler`:
    compiled, the engine calls it, and it sends, through C (measured on the echo: every call here
    runs once per message, beside a framework's own layers).
    """

    def __init__(
        self,
        app: ASGIApp,
        exchange: Exchange,
        offer: UpgradeOffer,
        settings: WebSocketSettings,
        state: dict[str, Any],
    ) -> None:
        self.app = app
        self.exchange = exchange
        self.offer = offer
        self.settings = settings
        self.scope = websocket_scope(exchange, list(offer.subprotocols), state)
        # Kept: asyncio.get_running_loop() costs a getpid() system call per call on Python 3.11.
        loop = self.loop = asyncio.get_running_loop()
        self.answer: asyncio.Future[Accept | Refuse] = loop.create_future()
        self.websocket: WebSocketProtocol | None = None
        self._connect_given = False
        self._denial: tuple[int, list[tuple[str, str]], list[bytes]] | None = None
        self._queue: collections.deque[Message] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        # The websocket.disconnect once the TCP connection is gone: every receive() after it too.
        self._disconnect: Message | None = None
        self.task = loop.create_task(self._run())
        _running.add(self.task)
        self.task.add_done_callback(_running.discard)

    def __repr__(self) -> str:
        return f"<WebSocketSession {self.exchange.request.path}>"

    # -- the application ---------------------------------------------------------------------------

    async def _run(self) -> None:
        request = self.exchange.request
        try:
            await self.app(self.scope, self.receive, self.send)
        except Exception:
            logger.exception("the application failed on WebSocket %s", request.path)
            if self._decide(Refuse(500)):
                return
            if self.websocket is not None:
                self.websocket.close(1011, "")
            return
        if self._decide(Refuse(500)):
            logger.error("the application returned without accepting or closing WebSocket %s", request.path)
        elif self.websocket is not None:
            self.websocket.close(1000, "")

    def _decide(self, answer: Accept | Refuse) -> bool:
        """Answer the upgrade, unless it is answered already (then False)."""
        if self.answer.done():
            return False
        self.answer.set_result(answer)
        return True

    async def receive(self) -> Message:
        """The ASGI ``receive``."""
        queue = self._queue
        if queue:  # the echo's common case first
            message = queue.popleft()
            if len(queue) == MAX_QUEUE // 2 and self.websocket is not None:
                self.websocket.resume_reading()
            return message
        if not self._connect_given:
            self._connect_given = True
            return _CONNECT
        while not queue:
            if self._disconnect is not None:
                return self._disconnect
            if self.websocket is None and self.answer.done():
                # Refused, or the client left during the handshake.
                return {"type": "websocket.disconnect", "code": 1006, "reason": ""}
            if self.websocket is None:
                await self.exchange.wait_change()
                continue
            waiter = self._waiter = self.loop.create_future()
            await waiter
        message = queue.popleft()
        if len(queue) == MAX_QUEUE // 2 and self.websocket is not None:
            self.websocket.resume_reading()
        return message

    async def send(self, message: Message) -> None:
        """The ASGI ``send``."""
        kind = message["type"]
        websocket = self.websocket
        if websocket is not None:
            if kind == "websocket.send":
                # Inline, the per-message path: text or bytes, framed and written at once.
                text = message.get("text")
                if text is not None:
                    sent = websocket.send_message(text.encode(), True)
                else:
                    data = message.get("bytes")
                    if data is None:
                        raise ValueError("websocket.send needs 'text' or 'bytes'")
                    sent = websocket.send_message(data if type(data) is bytes else bytes(data), False)
                if not sent:
                    raise ConnectionClosed("the WebSocket connection is closed")
                if websocket.writing_paused:
                    await websocket.drain()
            elif kind == "websocket.close":
                websocket.close(message.get("code") or 1000, message.get("reason") or "")
            else:
                raise RuntimeError(
                    f"an accepted ASGI WebSocket sends websocket.send or websocket.close; got {kind!r}"
                )
            return
        if self.answer.done() and self._denial is None:
            raise ConnectionClosed(f"the WebSocket handshake is over: cannot send {kind!r}")
        if kind == "websocket.accept":
            await self._accept(message)
        elif kind == "websocket.close":
            self._decide(Refuse(403))
        elif kind == "websocket.http.response.start":
            if self._denial is not None:
                raise RuntimeError("websocket.http.response.start comes once")
            self._denial = (message["status"], _text_headers(message.get("headers", ())), [])
        elif kind == "websocket.http.response.body":
            self._deny(message)
        else:
            raise RuntimeError(
                f"an ASGI WebSocket handshake is answered with websocket.accept, websocket.close or "
                f"websocket.http.response.start; got {kind!r}"
            )

    async def _accept(self, message: Message) -> None:
        subprotocol = message.get("subprotocol")
        if subprotocol is not None and subprotocol not in self.offer.subprotocols:
            raise ValueError(
                f"websocket.accept chose subprotocol {subprotocol!r}, which the client did not offer "
                f"(it offered {list(self.offer.subprotocols)})"
            )
        headers = _text_headers(message.get("headers", ()))
        accept = Accept(
            make_handler=self._open, subprotocol=subprotocol, settings=self.settings, extra_headers=headers
        )
        self._decide(accept)
        exchange = self.exchange
        while self.websocket is None and not exchange.lost:
            await exchange.wait_change()
        if self.websocket is None:
            raise ConnectionClosed("the client left before the WebSocket handshake was complete")

    def _deny(self, message: Message) -> None:
        if self._denial is None:
            raise RuntimeError("websocket.http.response.body before websocket.http.response.start")
        status, headers, body = self._denial
        body.append(bytes(message.get("body", b"")))
        if not message.get("more_body", False):
            self._decide(Refuse(status, headers=headers, body=b"".join(body)))
            self._denial = None

    # -- the engine (WebSocketHandler) --------------------------------------------------------------

    def _open(self, websocket: WebSocketProtocol) -> WebSocketSession:
        self.websocket = websocket
        self.exchange.wake()  # _accept returns
        return self

    def on_open(self, ws: WebSocketProtocol) -> None:
        pass

    def on_message(self, ws: WebSocketProtocol, data: str | bytes) -> None:
        queue = self._queue
        if type(data) is str:
            queue.append({"type": "websocket.receive", "text": data})
        else:
            queue.append({"type": "websocket.receive", "bytes": data})
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if len(queue) >= MAX_QUEUE:
            ws.pause_reading()  # the application reads slower than the client sends

    def on_error(self, ws: WebSocketProtocol, error: Exception) -> None:
        logger.info("WebSocket %s: %s", self.exchange.request.path, error)

    def on_close(self, ws: WebSocketProtocol, code: int, reason: str) -> None:
        self._disconnect = {"type": "websocket.disconnect", "code": code, "reason": reason}
        self._push(self._disconnect)

    def _push(self, message: Message) -> None:
        self._queue.append(message)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)


def _text_headers(headers: Any) -> list[tuple[str, str]]:
    """ASGI's byte-string header pairs as the text pairs the HTTP layer writes."""
    return [(bytes(name).decode("latin-1"), bytes(value).decode("latin-1")) for name, value in headers]
