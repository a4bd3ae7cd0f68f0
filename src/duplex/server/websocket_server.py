"""``WebSocketServer``: 4D.WebSocketServer in Python.

Created on a running :class:`~duplex.WebServer`, it takes the WebSocket upgrades of its ``path``
(same host and ports), asks its handler's ``onConnection`` whether to accept each, and keeps the
accepted :class:`~duplex.WebSocketConnection` objects in ``connections``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Awaitable, Collection, Iterable
from typing import Any

from ..asyncio.broadcast import BroadcastBatch
from ..asyncio.dispatch import CallbackRunner, FollowUp, is_awaitable
from ..asyncio.websocket_protocol import WebSocketProtocol, WebSocketSettings, build_message_frame
from ..asyncio.workers import Worker, acquire_worker, release_worker
from ..cluster import ClusterNode, LocalServer
from ..http.request import Request
from ..http.routing import validate_route
from ..http.upgrade import Accept, DeflateSettings, Refuse, UpgradeOffer, select_subprotocol
from .callback_events import ConnectionEvent, Event, RequestInfo
from .errors import ErrorCode, Reject, callback_failed, error_event
from .options import check_number, normalize
from .topics import TopicRegistry
from .web_server import WebServer, web_server
from .websocket_connection import WebSocketConnection, callback_of, encode_message

__all__ = ["DEFAULT_OPTIONS", "WebSocketServer"]

logger = logging.getLogger("duplex")
connection_log = logging.getLogger("duplex.connections")

DATA_TYPES = ("text", "blob", "object", "auto")

_DEFLATE = DeflateSettings()  # the compression defaults, sized for many mostly idle connections

DEFAULT_OPTIONS: dict[str, Any] = {
    "path": None,
    "dataType": "text",
    "maxMessageSize": 16 * 1024 * 1024,
    "pingInterval": 20.0,
    "pingTimeout": 20.0,
    "handshakeTimeout": 10.0,
    "closeTimeout": 10.0,
    "maxConnections": 10_000,
    "origins": None,
    "sendBufferLimit": 16 * 1024 * 1024,
    "backpressure": "close",
    "compression": True,
    "serverMaxWindowBits": _DEFLATE.server_max_window_bits,
    "clientMaxWindowBits": _DEFLATE.client_max_window_bits,
    "serverNoContextTakeover": _DEFLATE.server_no_context_takeover,
    "clientNoContextTakeover": _DEFLATE.client_no_context_takeover,
    "compressionLevel": _DEFLATE.level,
    "compressionMemLevel": _DEFLATE.mem_level,
    "subprotocols": [],
    "worker": None,
    "webServer": None,
}


class WebSocketServer:
    """A WebSocket server on a web server (4D.WebSocketServer).

    Args:
        handler: the WSSHandler: an object with ``onConnection(wss, event)`` and optionally
            ``onOpen``, ``onTerminate``, ``onError`` (or their snake_case spellings).
        options: ``path``, ``dataType`` and the options of API.md section 7 (see ``docs/api.md``).

    Raises:
        TypeError: ``handler`` has no ``onConnection``.
        ValueError: an unknown option or an invalid value; ``path`` already taken on that web server.
        RuntimeError: the web server is not running.
    """

    def __init__(self, handler: object, options: dict[str, Any] | None = None) -> None:
        self._on_connection = callback_of(handler, "onConnection")
        if self._on_connection is None:
            raise TypeError(
                f"the WebSocketServer handler ({type(handler).__name__}) must have an onConnection(wss, event) "
                "method that returns a connection handler (or None to refuse)"
            )
        self._handler = handler
        self._options = _validate(normalize(options, DEFAULT_OPTIONS, "WebSocketServer option"))
        web = self._options["webServer"] or web_server()
        if not web.isRunning:  # the message says why the last start() failed, or how to start it
            raise web.not_running_error(", or pass a running WebServer as options['webServer']")
        self.web_server: WebServer = web
        self._terminated = False
        self._connections: dict[int, WebSocketConnection] = {}
        # The same connections' transports, by the same ids: the audience of a broadcast.
        self._members: dict[int, WebSocketProtocol] = {}
        self._broadcasts: BroadcastBatch | None = None  # the loop's, once registered
        # Who subscribed to which topic; given to every connection (docs in topics.py).
        self._topics = TopicRegistry()
        # The link to the broker when the web server has one (docs/cluster.md); set on the loop.
        self._cluster: ClusterNode | None = None
        self._handshakes = 0
        options = self._options
        # Made once: every connection of this server shares them.
        self._settings = WebSocketSettings(
            compression=_deflate_settings(options),
            max_message_size=options["maxMessageSize"],
            close_timeout=options["closeTimeout"],
            ping_interval=options["pingInterval"],
            ping_timeout=options["pingTimeout"],
            send_buffer_limit=options["sendBufferLimit"],
            backpressure=options["backpressure"],
        )
        self._terminating: asyncio.Future[None] | None = None
        self._terminate_done = threading.Event()
        self.worker: Worker | None = (
            acquire_worker(self._options["worker"]) if self._options["worker"] else None
        )
        self._on_open = callback_of(handler, "onOpen")
        self._on_terminate = callback_of(handler, "onTerminate")
        self._on_error = callback_of(handler, "onError")
        try:
            self._runner = web.call_in_loop(self._register)
        except BaseException:
            if self.worker is not None:
                release_worker(self.worker)
            raise

    def _register(self) -> CallbackRunner:
        if not self.web_server.isRunning:
            raise RuntimeError("the web server stopped before the WebSocketServer could start")
        web = self.web_server
        web.add_upgrade_route(self.path, self._endpoint)
        web.add_stop_hook(self.terminate_async)
        self._broadcasts = web.broadcasts
        cluster = web.cluster
        if cluster is not None:
            path = self.path
            cluster.attach(
                path, LocalServer(self._deliver_from_cluster, self._local_counts, self._broker_status)
            )
            # The process receives a topic from the broker while it has a member of it.
            self._topics.watch(
                lambda topic, first: cluster.want(path, topic) if first else cluster.release(path, topic)
            )
            self._cluster = cluster
        runner = CallbackRunner(self.web_server.loop, self.worker, self._follow_up_for, None, 64, self)
        runner.run(self._on_open, (self, Event(type="open")))
        return runner

    # -- properties ------------------------------------------------------------------------------------

    @property
    def handler(self) -> object:
        """The WSSHandler the server was created with."""
        return self._handler

    @property
    def terminated(self) -> bool:
        """True once ``terminate()`` was called (or the web server stopped)."""
        return self._terminated

    @property
    def connections(self) -> list[WebSocketConnection]:
        """A snapshot of the open connections (a connection leaves when its status becomes "Closed")."""
        return list(self._connections.values())

    @property
    def dataType(self) -> str:
        """How messages reach ``onMessage``: "text", "blob", "object" or "auto"."""
        return str(self._options["dataType"])

    @property
    def path(self) -> str | None:
        """The path pattern served (None: every upgrade no other server takes)."""
        path: str | None = self._options["path"]
        return path

    @property
    def sendBufferLimit(self) -> int | None:
        """Bytes queued for one client before ``backpressure`` applies (None: no limit)."""
        limit: int | None = self._options["sendBufferLimit"]
        return limit

    @property
    def backpressure(self) -> str:
        """What happens at ``sendBufferLimit``: "close" (1008) or "drop" (the newest message)."""
        return str(self._options["backpressure"])

    @property
    def options(self) -> dict[str, Any]:
        """The options in effect (a copy), defaults included."""
        return dict(self._options)

    data_type = dataType
    send_buffer_limit = sendBufferLimit

    # -- accepting -------------------------------------------------------------------------------------

    def _endpoint(
        self, request: Request, offer: UpgradeOffer
    ) -> Accept | Refuse | Awaitable[Accept | Refuse]:
        """Decide on a validated upgrade (loop thread); a refusal is logged."""
        answer = self._decide(request, offer)
        if isinstance(answer, Accept):
            return answer
        if isinstance(answer, Refuse):
            self._log_refusal(request, answer)
            return answer
        return self._log_refusal_later(request, answer)

    async def _log_refusal_later(
        self, request: Request, answer: Awaitable[Accept | Refuse]
    ) -> Accept | Refuse:
        result = await answer
        if type(result) is Refuse:
            self._log_refusal(request, result)
        return result

    def _log_refusal(self, request: Request, refusal: Refuse) -> None:
        # On "duplex.connections" with the opened and closed lines: a refusal is the application's
        # answer (or a limit's), not a fault of the server.
        if connection_log.isEnabledFor(logging.INFO):
            connection_log.info(
                "handshake from %s on %s refused: %d%s",
                request.remote_address,
                request.path,
                refusal.status,
                f" {refusal.reason}" if refusal.reason else "",
            )

    def _decide(self, request: Request, offer: UpgradeOffer) -> Accept | Refuse | Awaitable[Accept | Refuse]:
        options = self._options
        if self.terminated:
            return Refuse(503, "this WebSocket server is terminated")
        origins = options["origins"]
        if origins is not None and offer.origin not in origins:
            return Refuse(403, f"origin {offer.origin!r} is not allowed")
        limit = options["maxConnections"]
        if limit is not None and len(self._connections) + self._handshakes >= limit:
            return Refuse(503, f"this server takes at most {limit} connections; try again later")
        info = RequestInfo(
            headers=request.headers,
            query=request.query,
            url=request.url,
            remoteAddress=request.remote_address,
        )
        subprotocol = select_subprotocol(offer.subprotocols, options["subprotocols"])
        event = ConnectionEvent(type="connection", request=info)
        if self.worker is None:
            # The common case, a plain function on the loop thread: answer without a task.
            try:
                result = self._on_connection(self, event)  # type: ignore[misc]
            except Exception as exc:
                return self._connection_refused(exc, info)
            if not is_awaitable(result):
                return self._accept_or_refuse(result, info, subprotocol)
            return self._await_handler(result, info, subprotocol)
        return self._handshake_on_worker(event, info, subprotocol)

    async def _await_handler(
        self, awaitable: Awaitable[Any], info: RequestInfo, subprotocol: str | None, logged: bool = False
    ) -> Accept | Refuse:
        self._handshakes += 1
        try:
            result = await asyncio.wait_for(_as_coroutine(awaitable), self._options["handshakeTimeout"])
        except TimeoutError:
            return self._handshake_timed_out()
        except Exception as exc:
            return self._connection_refused(exc, info, logged)
        finally:
            self._handshakes -= 1
        return self._accept_or_refuse(result, info, subprotocol)

    async def _handshake_on_worker(
        self, event: Event, info: RequestInfo, subprotocol: str | None
    ) -> Accept | Refuse:
        loop = self.web_server.loop
        answer: asyncio.Future[Any] = loop.create_future()

        def done(result: Any, error: BaseException | None) -> None:
            if not answer.done():
                if error is not None:
                    answer.set_exception(error)
                else:
                    answer.set_result(result)

        runner = CallbackRunner(loop, self.worker, lambda exc, name: None, None, 64, self)
        runner.run(self._on_connection, (self, event), done)
        return await self._await_handler(answer, info, subprotocol, logged=True)

    def _handshake_timed_out(self) -> Refuse:
        seconds = self._options["handshakeTimeout"]
        self._report(
            ErrorCode.HANDSHAKE_TIMEOUT, f"onConnection did not answer within handshakeTimeout ({seconds} s)"
        )
        return Refuse(503, "the server did not answer the handshake in time")

    def _connection_refused(self, exc: BaseException, info: RequestInfo, logged: bool = False) -> Refuse:
        if isinstance(exc, Reject):
            return Refuse(exc.status, exc.reason)
        if not logged:  # the worker's runner already logged it
            logger.error(
                "onConnection of %r raised %s: %s (handshake from %s)",
                self,
                type(exc).__name__,
                exc,
                info["remoteAddress"],
                exc_info=exc,
            )
        self._report(ErrorCode.ON_CONNECTION_FAILED, f"onConnection raised {type(exc).__name__}: {exc}", exc)
        return Refuse(500, "")

    def _accept_or_refuse(self, result: Any, info: RequestInfo, subprotocol: str | None) -> Accept | Refuse:
        if result is None:
            return Refuse(403, "")
        if self.terminated:
            return Refuse(503, "this WebSocket server is terminated")
        if callback_of(result, "onMessage") is None:
            self._report(
                ErrorCode.INVALID_CONNECTION_HANDLER,
                f"onConnection returned {type(result).__name__}, which has no onMessage(ws, event) method: "
                "return a connection handler object (or None to refuse)",
            )
            return Refuse(500, "")
        return Accept(
            None, functools.partial(self._open_connection, result, info), subprotocol, self._settings
        )

    # -- connections -----------------------------------------------------------------------------------

    def _open_connection(
        self, handler: object, info: RequestInfo, protocol: WebSocketProtocol
    ) -> WebSocketConnection:
        """The 101 is written: the connection object, which handles the transport's events from now on."""
        connection = WebSocketConnection(
            self,
            handler,
            info,
            protocol,
            loop_thread_id=self.web_server.loop_thread_id,
            data_type=self.dataType,
            worker=self.worker,
            on_closed=self._connection_closed,
            topics=self._topics,
        )
        if not self._members and self._cluster is not None:  # broadcasts from the broker from now on
            self._cluster.want(self.path, None)
        self._connections[connection.id] = connection
        self._members[connection.id] = protocol
        return connection

    def _connection_closed(self, connection: WebSocketConnection) -> None:
        self._connections.pop(connection.id, None)
        left = self._members.pop(connection.id, None) is not None
        if left and not self._members and self._cluster is not None:
            self._cluster.release(self.path, None)

    # -- broadcast -------------------------------------------------------------------------------------

    def broadcast(
        self, message: Any, exclude: WebSocketConnection | Iterable[WebSocketConnection] | None = None
    ) -> None:
        """Send one message to every open connection, except ``exclude`` (one or several).

        The frame is built once and the same bytes are written to every connection (uncompressed:
        permessage-deflate lets each message choose). Safe from any thread. With a ``broker``, the
        connections of this path in every process get it too (docs/cluster.md).

        Raises:
            TypeError: the message cannot be sent (see ``WebSocketConnection.send``).
        """
        payload, text = encode_message(message)
        frame = build_message_frame(payload, text)
        excluded = _excluded_ids(exclude)
        if self.web_server.in_loop_thread():
            self._broadcast_now(frame, excluded)
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server is gone
                self.web_server.loop.call_soon_threadsafe(self._broadcast_now, frame, excluded)
        if self._cluster is not None:
            self._cluster.publish(self.path, None, payload, text)

    def _broadcast_now(self, frame: bytes, excluded: Collection[int]) -> None:
        # Written at the end of this loop iteration, with the other broadcasts of the iteration
        # (duplex.asyncio.broadcast says why); each connection writes them before its own sends.
        if self._broadcasts is not None:
            self._broadcasts.add(frame, self._members, excluded)

    # -- topics ----------------------------------------------------------------------------------------

    def publish(
        self,
        topic: str,
        message: Any,
        exclude: WebSocketConnection | Iterable[WebSocketConnection] | None = None,
    ) -> None:
        """Send one message to every connection subscribed to ``topic``, except ``exclude``.

        As ``broadcast()``, but to the topic's subscribers (``ws.subscribe(topic)``): framed once,
        the same bytes written to each, in the same per-loop-iteration batch as broadcasts, with
        each receiver's ``sendBufferLimit`` and ``backpressure``. Safe from any thread. With a
        ``broker``, the topic's subscribers on this path in every process get it too.

        Raises:
            TypeError: ``topic`` is not a str, or the message cannot be sent (see
                ``WebSocketConnection.send``); nothing is sent.
            ValueError: ``topic`` is not a valid name (see ``WebSocketConnection.subscribe``).
        """
        # The subscribers at this call, whatever the thread: a dict no later change touches.
        audience = self._topics.audience(topic)  # checks the name first
        payload, text = encode_message(message)  # checked even when nobody listens
        if self._cluster is not None:
            self._cluster.publish(self.path, topic, payload, text)
        if audience is None:
            return
        frame = build_message_frame(payload, text)
        excluded = _excluded_ids(exclude)
        if self.web_server.in_loop_thread():
            self._publish_now(frame, audience, excluded)
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server is gone
                self.web_server.loop.call_soon_threadsafe(self._publish_now, frame, audience, excluded)

    def _publish_now(
        self, frame: bytes, audience: dict[int, WebSocketProtocol], excluded: Collection[int]
    ) -> None:
        # Written at the end of this loop iteration, in the broadcasts' batch (and in their order).
        if self._broadcasts is not None:
            self._broadcasts.add(frame, audience, excluded)

    def subscribers(self, topic: str) -> int:
        """How many connections of this server are subscribed to ``topic`` now, in this process.

        Raises:
            TypeError, ValueError: ``topic`` is not a valid name (see ``WebSocketConnection.subscribe``).
        """
        return self._topics.count(topic)

    def count(self, topic: str | None = None) -> int:
        """How many connections this path has (subscribed to ``topic``, if given) in the cluster:
        in every process sharing the ``broker``, from their last heartbeats (docs/cluster.md); in
        this process only without a broker.

        Raises:
            TypeError, ValueError: ``topic`` is not a valid name (see ``WebSocketConnection.subscribe``).
        """
        local = len(self._connections) if topic is None else self._topics.count(topic)
        if self._cluster is None:
            return local
        return self._cluster.count(self.path, topic, local)

    # -- the cluster (on the loop) -----------------------------------------------------------------------

    def _deliver_from_cluster(self, topic: str | None, payload: bytes, text: bool) -> bool:
        """A message another process published: framed once, for this process's members."""
        if len(payload) > self._options["maxMessageSize"]:
            return False
        audience = self._members if topic is None else self._topics.audience(topic)
        if audience and self._broadcasts is not None:
            self._broadcasts.add(build_message_frame(payload, text), audience, ())
        return True

    def _local_counts(self) -> tuple[int, dict[str, int]]:
        return len(self._members), self._topics.counts()

    def _broker_status(self, up: bool, reason: str) -> None:
        cluster = self._cluster
        url = "" if cluster is None else cluster.url
        if up:
            self._report(ErrorCode.BROKER_RECOVERED, f"the broker at {url} is back")
        else:
            self._report(
                ErrorCode.BROKER_LOST,
                f"lost the broker at {url} ({reason}): messages reach this process's clients only "
                "until it is back",
            )

    # -- terminating -----------------------------------------------------------------------------------

    def terminate(self, timeout: float | None = None) -> None:
        """Close the server: no new connections, then every connection closed with 1001.

        Args:
            timeout: None: a clean close handshake with each client (bounded by ``closeTimeout``);
                seconds: sockets still open after that are dropped; 0: drop every socket now.

        From a callback (loop or worker thread) it starts the shutdown and returns; from any other
        thread it returns once everything is closed and ``onTerminate`` ran. Idempotent.
        """
        if timeout is not None:
            check_number("timeout", timeout)
        self._terminated = True
        web = self.web_server
        if web.in_loop_thread() or (self.worker is not None and self.worker.is_current()):
            if web.in_loop_thread():
                self._start_terminate(timeout)
            else:
                web.loop.call_soon_threadsafe(self._start_terminate, timeout)
            return
        if not self._terminate_done.is_set():
            try:
                web.loop.call_soon_threadsafe(self._start_terminate, timeout)
            except RuntimeError:  # the loop is gone: nothing is left to close
                return
            self._terminate_done.wait(30 if timeout is None else timeout + 30)

    async def terminate_async(self, timeout: float | None = None) -> None:
        """Terminate from a coroutine on the server's loop, and wait until it is done."""
        self._terminated = True
        await asyncio.shield(self._start_terminate(timeout))

    def _start_terminate(self, timeout: float | None) -> asyncio.Future[None]:
        if self._terminating is not None:
            return self._terminating
        loop = self.web_server.loop
        self._terminating = loop.create_future()
        self._terminated = True
        self.web_server.remove_upgrade_route(self.path)
        loop.create_task(self._close_all(timeout))
        return self._terminating

    async def _close_all(self, timeout: float | None) -> None:
        connections = self.connections
        for connection in connections:
            if timeout == 0:
                connection.abort()
            else:
                connection.terminate(1001, "server terminated")
        deadline = self._options["closeTimeout"] + 1.0 if timeout is None else timeout
        await _wait_for_closed(connections, deadline)
        for connection in connections:
            if connection.status != "Closed":
                connection.abort()
        await _wait_for_closed(connections, 1.0)
        # onTerminate of each connection runs before the server's (a callback stuck for longer
        # than closeTimeout does not hold the shutdown up).
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._options["closeTimeout"]
        while not all(connection.runner.idle for connection in connections) and loop.time() < give_up:
            await asyncio.sleep(0.005)
        self.web_server.remove_stop_hook(self.terminate_async)
        if self._cluster is not None:
            self._cluster.detach(self.path)

        def finished(result: Any, error: BaseException | None) -> None:
            if self.worker is not None:
                release_worker(self.worker)
            assert self._terminating is not None
            if not self._terminating.done():
                self._terminating.set_result(None)
            self._terminate_done.set()

        self._runner.run(self._on_terminate, (self, Event(type="terminate")), finished)

    # -- errors ----------------------------------------------------------------------------------------

    def _report(self, code: ErrorCode, message: str, exception: BaseException | None = None) -> None:
        event = error_event(code, message, exception)
        if self._on_error is None:
            logger.warning("WebSocketServer %s: %s", self.path, message)
        self._runner.run(self._on_error, (self, event))

    def _follow_up_for(self, exc: BaseException, callback_name: str) -> FollowUp:
        if self._on_error is None:
            return None
        return self._on_error, (self, callback_failed(ErrorCode.SERVER_CALLBACK_FAILED, exc, callback_name))

    def __repr__(self) -> str:
        state = "terminated" if self.terminated else f"{len(self._connections)} connections"
        return f"<WebSocketServer path={self.path!r} {state}>"


def _excluded_ids(exclude: WebSocketConnection | Iterable[WebSocketConnection] | None) -> Collection[int]:
    """The ids of ``exclude`` (a connection, several, or None) for a broadcast batch."""
    if exclude is None:
        return ()
    if isinstance(exclude, WebSocketConnection):
        return (exclude.id,)
    return {connection.id for connection in exclude}


async def _wait_for_closed(connections: list[WebSocketConnection], seconds: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while any(connection.status != "Closed" for connection in connections) and loop.time() < deadline:
        await asyncio.sleep(0.005)


async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _deflate_settings(options: dict[str, Any]) -> DeflateSettings | bool:
    """The permessage-deflate settings of validated options, or False when compression is off."""
    if not options["compression"]:
        return False
    return DeflateSettings(
        server_max_window_bits=options["serverMaxWindowBits"],
        client_max_window_bits=options["clientMaxWindowBits"],
        server_no_context_takeover=options["serverNoContextTakeover"],
        client_no_context_takeover=options["clientNoContextTakeover"],
        level=options["compressionLevel"],
        mem_level=options["compressionMemLevel"],
    )


def _validate(options: dict[str, Any]) -> dict[str, Any]:
    merged = {**DEFAULT_OPTIONS, **options}
    validate_route(merged["path"])
    if merged["dataType"] not in DATA_TYPES:
        raise ValueError(f"dataType must be one of {', '.join(DATA_TYPES)}; got {merged['dataType']!r}")
    check_number("maxMessageSize", merged["maxMessageSize"], integer=True, minimum=1)
    for name in ("pingInterval", "pingTimeout"):
        check_number(name, merged[name], allow_none=True)
    for name in ("handshakeTimeout", "closeTimeout"):
        check_number(name, merged[name], exclusive=True)
    check_number("maxConnections", merged["maxConnections"], integer=True, minimum=1, allow_none=True)
    check_number("sendBufferLimit", merged["sendBufferLimit"], integer=True, minimum=1, allow_none=True)
    if merged["backpressure"] not in ("close", "drop"):
        raise ValueError(f"backpressure must be 'close' or 'drop', got {merged['backpressure']!r}")
    for name in ("compression", "serverNoContextTakeover", "clientNoContextTakeover"):
        if not isinstance(merged[name], bool):
            raise ValueError(f"{name} must be True or False, got {merged[name]!r}")
    for name in ("serverMaxWindowBits", "clientMaxWindowBits"):
        check_number(name, merged[name], integer=True, minimum=8, maximum=15)
    check_number("compressionLevel", merged["compressionLevel"], integer=True, minimum=0, maximum=9)
    check_number("compressionMemLevel", merged["compressionMemLevel"], integer=True, minimum=1, maximum=9)
    origins = merged["origins"]
    if origins is not None:
        if isinstance(origins, str) or not all(isinstance(origin, str) for origin in origins):
            raise ValueError("origins must be a list of Origin values like 'https://example.com', or None")
        merged["origins"] = frozenset(origins)
    subprotocols = merged["subprotocols"]
    if isinstance(subprotocols, str) or not all(isinstance(name, str) and name for name in subprotocols):
        raise ValueError("subprotocols must be a list of names, in order of preference")
    merged["subprotocols"] = list(subprotocols)
    worker = merged["worker"]
    if worker is not None and (not isinstance(worker, str) or not worker):
        raise ValueError(f"worker must be a name (a non-empty str) or None, got {worker!r}")
    web = merged["webServer"]
    if web is not None and not isinstance(web, WebServer):
        raise ValueError(f"webServer must be a duplex.WebServer, got {type(web).__name__}")
    return merged
