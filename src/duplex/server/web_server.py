"""``WebServer``: 4D.WebServer in Python: settings, ``start()``/``stop()``, two ways to run.

- ``web.start(settings)`` runs the server on its own background thread (with its own event loop,
  uvloop where available) and returns at once, 4D style: the program goes on.
  ``web.run_until_signal()`` then holds a script's main thread until Ctrl-C or SIGTERM, and stops.
- ``async with WebServer(settings) as web:`` or ``await web.serve()`` runs it on the caller's
  running loop instead.

Either way callbacks run on that loop's thread unless a ``worker`` is named.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import math
import os
import signal
import socket
import sys
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from ..asgi import AsgiApp, LifespanFailed, load_app
from ..asyncio.broadcast import BroadcastBatch
from ..asyncio.workers import current_worker
from ..cluster import BROKER_VARIABLE, BrokerError, ClusterNode, check_broker_url, configured_broker
from ..http.config import HttpConfig
from ..http.http_server import HttpServer
from ..http.tls import load_certificate_folder
from ..http.upgrade import UpgradeEndpoint
from .errors import COMPONENT_SIGNATURE, ErrorCode
from .options import check_number, normalize

__all__ = ["StopHook", "WebServer", "running_web_server", "web_server"]

StopHook = Callable[[], Awaitable[None]]
"""Awaited on the loop when the web server stops, before its HTTP server closes (a WebSocket
server's shutdown)."""

T = TypeVar("T")

DEFAULT_SETTINGS: dict[str, Any] = {
    "HTTPEnabled": True,
    "HTTPPort": 8080,
    "HTTPSEnabled": False,
    "HTTPSPort": 8443,
    "IPAddressToListen": "127.0.0.1",
    "certificateFolder": None,
    "rootFolder": None,
    "defaultHomepage": "index.html",
    "maxRequestSize": 2_000_000,
    "CORSEnabled": False,
    "CORSSettings": [],
    "HSTSEnabled": False,
    "HSTSMaxAge": 63_072_000,
    "sendTimeout": 30.0,
    "backlog": 2048,
    "reusePort": False,
    "broker": None,
    "asgi": None,
    "name": "duplex",
}

# Seconds start() waits for the broker before it gives up.
BROKER_TIMEOUT = 5.0

# How long stop() lets in-flight HTTP requests and close handshakes finish before dropping them.
STOP_TIMEOUT = 5.0

# How long run_until_signal() lets a stop run before it says what the stop still waits for.
STOP_NOTICE_AFTER = 1.0


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


class WebServer:
    """A web server: static files over HTTP and HTTPS, and the host of WebSocket servers.

    Args:
        settings: initial settings (see :data:`DEFAULT_SETTINGS`; camelCase or snake_case keys).

    Raises:
        ValueError: an unknown key or an invalid value.
    """

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        self._settings = dict(DEFAULT_SETTINGS)
        self._apply(settings)
        self._http: HttpServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread_id: int | None = None
        self._thread: threading.Thread | None = None
        self._running = False
        self._stopping: asyncio.Future[None] | None = None
        self._stopped: asyncio.Event | None = None
        self._lock = threading.RLock()
        self._stop_hooks: list[StopHook] = []
        # Why the last start() failed (None once a start succeeds), for not_running_error().
        self._start_error: str | None = None
        self._cluster: ClusterNode | None = None
        self._app: AsgiApp | None = None
        _instances.add(self)

    # -- settings --------------------------------------------------------------------------------

    def _apply(self, settings: dict[str, Any] | None) -> None:
        given = normalize(settings, DEFAULT_SETTINGS, "WebServer setting")
        merged = {**self._settings, **given}
        for flag in ("HTTPEnabled", "HTTPSEnabled", "CORSEnabled", "HSTSEnabled", "reusePort"):
            if not isinstance(merged[flag], bool):
                raise ValueError(f"{flag} must be True or False, got {merged[flag]!r}")
        for port in ("HTTPPort", "HTTPSPort"):
            value = check_number(port, merged[port], integer=True)
            if value > 65535:
                raise ValueError(f"{port} must be from 0 to 65535 (0 picks a free port), got {value}")
        check_number("maxRequestSize", merged["maxRequestSize"], integer=True, minimum=1)
        check_number("HSTSMaxAge", merged["HSTSMaxAge"], integer=True)
        check_number("sendTimeout", merged["sendTimeout"], exclusive=True)
        if check_number("backlog", merged["backlog"], integer=True, minimum=1) > 65535:
            raise ValueError(
                f"backlog must be from 1 to 65535 (the kernel caps it further, at net.core.somaxconn on "
                f"Linux), got {merged['backlog']}"
            )
        for text in ("IPAddressToListen", "defaultHomepage", "name"):
            if not isinstance(merged[text], str):
                raise ValueError(f"{text} must be a string, got {merged[text]!r}")
        if merged["broker"] not in (None, ""):
            check_broker_url(merged["broker"])
        app = merged["asgi"]
        if app is not None and not (callable(app) or (isinstance(app, str) and ":" in app)):
            raise ValueError(
                f"asgi must be an ASGI application (such as a FastAPI() instance) or its "
                f"'module:attribute' name, got {app!r}"
            )
        for folder in ("rootFolder", "certificateFolder"):
            if merged[folder] is not None and not isinstance(merged[folder], (str, os.PathLike)):
                raise ValueError(f"{folder} must be a folder path or None, got {merged[folder]!r}")
        cors = merged["CORSSettings"]
        if not isinstance(cors, list) or not all(isinstance(rule, dict) and "host" in rule for rule in cors):
            raise ValueError('CORSSettings must be a list of {"host": ..., "methods": ...} dicts')
        if not merged["HTTPEnabled"] and not merged["HTTPSEnabled"]:
            raise ValueError("HTTPEnabled and HTTPSEnabled are both False: enable at least one")
        self._settings = merged

    def _setting(self, name: str) -> Any:
        return self._settings[name]

    @property
    def HTTPEnabled(self) -> bool:
        """Whether plain HTTP (and ``ws://``) is served."""
        return bool(self._settings["HTTPEnabled"])

    @property
    def HTTPPort(self) -> int:
        """The HTTP port; once started with port 0, the port actually bound."""
        if self._http is not None and self._http.http_port is not None:
            return self._http.http_port
        return int(self._settings["HTTPPort"])

    @property
    def HTTPSEnabled(self) -> bool:
        """Whether HTTPS (and ``wss://``) is served."""
        return bool(self._settings["HTTPSEnabled"])

    @property
    def HTTPSPort(self) -> int:
        """The HTTPS port; once started with port 0, the port actually bound."""
        if self._http is not None and self._http.https_port is not None:
            return self._http.https_port
        return int(self._settings["HTTPSPort"])

    @property
    def IPAddressToListen(self) -> str:
        """The address listened on ("0.0.0.0" or "::" for all)."""
        return str(self._settings["IPAddressToListen"])

    @property
    def certificateFolder(self) -> str | None:
        """The folder holding ``cert.pem`` and ``key.pem`` for HTTPS."""
        folder = self._settings["certificateFolder"]
        return None if folder is None else os.fspath(folder)

    @property
    def rootFolder(self) -> str | None:
        """The folder of static files (None: no static files)."""
        folder = self._settings["rootFolder"]
        return None if folder is None else os.fspath(folder)

    @property
    def defaultHomepage(self) -> str:
        """The file served for a directory request."""
        return str(self._settings["defaultHomepage"])

    @property
    def maxRequestSize(self) -> int:
        """The largest request body accepted, in bytes (413 above)."""
        return int(self._settings["maxRequestSize"])

    @property
    def CORSEnabled(self) -> bool:
        """Whether CORS headers are sent for the origins of ``CORSSettings``."""
        return bool(self._settings["CORSEnabled"])

    @property
    def CORSSettings(self) -> list[dict[str, Any]]:
        """The CORS rules: ``[{"host": origin or "*", "methods": "GET,HEAD"}, ...]``."""
        return [dict(rule) for rule in self._settings["CORSSettings"]]

    @property
    def HSTSEnabled(self) -> bool:
        """Whether HTTPS responses carry ``Strict-Transport-Security``."""
        return bool(self._settings["HSTSEnabled"])

    @property
    def HSTSMaxAge(self) -> int:
        """The HSTS ``max-age`` in seconds."""
        return int(self._settings["HSTSMaxAge"])

    @property
    def sendTimeout(self) -> float:
        """Seconds an HTTP client may go without reading a response sent to it before it is dropped."""
        return float(self._settings["sendTimeout"])

    @property
    def backlog(self) -> int:
        """How many connections may wait to be accepted on each listening socket."""
        return int(self._settings["backlog"])

    @property
    def reusePort(self) -> bool:
        """Whether the ports are bound with ``SO_REUSEPORT`` (several processes on one port)."""
        return bool(self._settings["reusePort"])

    @property
    def broker(self) -> str | None:
        """The broker's URL: the ``broker`` setting, else ``$DUPLEX_BROKER``; None: no broker
        (``broadcast()`` and ``publish()`` stay in this process). An empty setting means none even
        when the variable is set."""
        return configured_broker(self._settings["broker"])

    @property
    def brokerStats(self) -> dict[str, int] | None:
        """This process's traffic through the broker (None without one): ``published``,
        ``received``, ``received_bytes``, and the messages dropped, by cause: ``dropped_outage``
        (published while the broker was lost), ``dropped_queue_full``, ``dropped_malformed``,
        ``dropped_oversize``; ``outages``. Heartbeats are not counted."""
        return None if self._cluster is None else self._cluster.stats.as_dict()

    @property
    def asgi(self) -> Any:
        """The ASGI application that answers what no WebSocket server and no static file does, as
        given (the object, or its ``"module:attribute"`` name), or None."""
        return self._settings["asgi"]

    @property
    def cluster(self) -> ClusterNode | None:
        """The link to the broker while running with one (for the WebSocket servers)."""
        return self._cluster

    @property
    def name(self) -> str:
        """The server's name."""
        return str(self._settings["name"])

    @property
    def isRunning(self) -> bool:
        """Whether the server is started."""
        return self._running

    # snake_case spellings of the properties, as for the setting keys
    http_enabled = HTTPEnabled
    http_port = HTTPPort
    https_enabled = HTTPSEnabled
    https_port = HTTPSPort
    ip_address_to_listen = IPAddressToListen
    certificate_folder = certificateFolder
    root_folder = rootFolder
    default_homepage = defaultHomepage
    max_request_size = maxRequestSize
    cors_enabled = CORSEnabled
    cors_settings = CORSSettings
    hsts_enabled = HSTSEnabled
    hsts_max_age = HSTSMaxAge
    send_timeout = sendTimeout
    broker_stats = brokerStats
    reuse_port = reusePort
    is_running = isRunning

    # -- starting ----------------------------------------------------------------------------------

    def _config(self) -> HttpConfig:
        settings = self._settings
        ssl_context = None
        if settings["HTTPSEnabled"]:
            if settings["certificateFolder"] is None:
                raise ValueError(
                    "HTTPSEnabled needs certificateFolder: a folder holding cert.pem and key.pem"
                )
            ssl_context = load_certificate_folder(settings["certificateFolder"])
        if settings["broker"] is None and os.environ.get(BROKER_VARIABLE):
            try:
                check_broker_url(os.environ[BROKER_VARIABLE])
            except ValueError as exc:
                raise ValueError(f"{BROKER_VARIABLE}: {exc}") from None
        root = settings["rootFolder"]
        if root is not None and not os.path.isdir(root):
            raise ValueError(f"rootFolder {os.fspath(root)!r} is not a folder: create it or fix the path")
        cors = None
        if settings["CORSEnabled"]:
            cors = [
                (str(rule["host"]), str(rule.get("methods") or "GET,HEAD"))
                for rule in settings["CORSSettings"]
            ]
        return HttpConfig(
            host=settings["IPAddressToListen"],
            http_port=settings["HTTPPort"] if settings["HTTPEnabled"] else None,
            https_port=settings["HTTPSPort"] if settings["HTTPSEnabled"] else None,
            ssl_context=ssl_context,
            root_folder=None if root is None else os.fspath(root),
            default_homepage=settings["defaultHomepage"],
            max_request_size=settings["maxRequestSize"],
            cors=cors,
            hsts_max_age=settings["HSTSMaxAge"] if settings["HSTSEnabled"] else None,
            send_timeout=settings["sendTimeout"],
            backlog=settings["backlog"],
            reuse_port=settings["reusePort"],
        )

    def start(self, settings: dict[str, Any] | None = None, *, listen: bool = True) -> dict[str, Any]:
        """Start serving on a background thread; returns ``{"success": True}`` or ``{"success":
        False, "errors": [...]}`` (port in use, bad certificate, missing root folder, broker
        unreachable, already running). Never raises for those; an unknown setting key raises
        ``ValueError``.

        ``listen=False`` binds the ports without accepting connections yet, so that the WebSocket
        servers can be created before the first client comes; :meth:`listen` then opens the doors
        (what a ``--workers`` worker does, since with ``reusePort`` the kernel hands a listening
        process connections at once)."""
        with self._lock:
            if self._running:
                return _failure(ErrorCode.WEB_SERVER_ALREADY_RUNNING, "the web server is already running")
            self._apply(settings)
            try:
                config = self._config()
            except ValueError as exc:
                return self._start_failed(str(exc))
            loop = _new_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                self._loop_thread_id = threading.get_ident()
                loop.call_soon(ready.set)
                loop.run_forever()
                # Let whatever the shutdown scheduled last run before the loop closes.
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

            thread = threading.Thread(target=run, name=f"duplex-{self.name}", daemon=True)
            thread.start()
            ready.wait()
            self._loop, self._thread = loop, thread
            try:
                asyncio.run_coroutine_threadsafe(self._start_http(config, listen), loop).result()
            except BrokerError as exc:
                self._end_thread()
                return self._start_failed(str(exc), ErrorCode.BROKER_UNREACHABLE)
            except (ValueError, LifespanFailed) as exc:
                self._end_thread()
                return self._start_failed(f"the ASGI application did not start: {exc}")
            except OSError as exc:
                self._end_thread()
                return self._start_failed(_listen_error(config, exc))
            except BaseException:
                self._end_thread()
                raise
            self._start_error = None
            return {"success": True, "errors": []}

    def _start_failed(
        self, message: str, code: ErrorCode = ErrorCode.WEB_SERVER_START_FAILED
    ) -> dict[str, Any]:
        self._start_error = message
        return _failure(code, message)

    def not_running_error(self, hint: str = "") -> RuntimeError:
        """The error for something that needs the server running: why its last ``start()``
        failed, if it did (a script that did not check the result learns the cause here), else how
        to start it, followed by ``hint``."""
        if self._start_error is not None:
            return RuntimeError(
                f"the web server is not running: its last start() failed: {self._start_error} "
                "(start() returns its errors instead of raising: check result['success'])"
            )
        return RuntimeError(
            "the web server is not running: start it first, e.g. "
            f"duplex.web_server().start({{'HTTPPort': 8080}}){hint}"
        )

    def listen(self) -> None:
        """Start accepting connections after ``start(listen=False)``; nothing if already accepting.

        Raises:
            RuntimeError: the server is not running.
        """
        http = self._http
        if not self._running or http is None:
            raise self.not_running_error()
        if self.in_loop_thread():  # from a callback: cannot wait for the loop it runs on
            self.loop.create_task(http.start_serving())
        else:
            self.run_in_loop(http.start_serving())

    async def _start_http(self, config: HttpConfig, listen: bool = True) -> None:
        # The broker first: a server that cannot reach it does not take its port.
        url = self.broker
        cluster = None
        if url is not None:
            cluster = ClusterNode(url)
            await cluster.start(BROKER_TIMEOUT)
        app = None
        http = HttpServer(config)
        try:
            # The application's startup before the ports: a failed one takes no port, and the
            # broker link made above is closed again.
            app = http.app = await self._start_app()
            await http.start(listen)
        except BaseException:
            if app is not None:
                await app.lifespan.shutdown()
            if cluster is not None:
                await cluster.stop()
            raise
        self._cluster = cluster
        self._app = app
        self._http = http
        self._stopped = asyncio.Event()
        self._running = True

    async def _start_app(self) -> AsgiApp | None:
        """Load the ``asgi`` application and run its lifespan startup (before the ports open).

        Raises:
            ValueError: its name does not import.
            duplex.asgi.LifespanFailed: its startup failed.
        """
        given = self._settings["asgi"]
        if given is None:
            return None
        app = AsgiApp(load_app(given) if isinstance(given, str) else given)
        await app.lifespan.startup()
        return app

    def _end_thread(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            if threading.current_thread() is not thread:
                thread.join(10)
        self._loop = self._thread = None
        self._loop_thread_id = None

    async def serve(self, settings: dict[str, Any] | None = None) -> None:
        """Serve on the running event loop until :meth:`stop` (or cancellation); starts the server
        first unless it already runs on this loop (e.g. after ``start_async()`` and creating the
        WebSocket servers)."""
        running_here = self._running and self._loop is asyncio.get_running_loop()
        if not running_here:
            await self.start_async(settings)
        elif settings:
            raise RuntimeError(
                "the web server is already running: settings can only be given when starting it"
            )
        assert self._stopped is not None
        try:
            await self._stopped.wait()
        finally:
            await self.stop_async()

    async def start_async(self, settings: dict[str, Any] | None = None, *, listen: bool = True) -> None:
        """Start on the running event loop (``listen``: as for :meth:`start`).

        Raises:
            RuntimeError: already running.
            ValueError: bad settings, certificate or root folder.
            OSError: a port could not be bound.
            duplex.BrokerError: the ``broker`` cannot be reached (or its client is not installed).
            duplex.asgi.LifespanFailed: the ``asgi`` application's startup failed.
        """
        if self._running:
            raise RuntimeError("the web server is already running")
        self._apply(settings)
        config = self._config()
        self._loop = asyncio.get_running_loop()
        self._loop_thread_id = threading.get_ident()
        try:
            await self._start_http(config, listen)
        except BaseException as exc:
            self._loop = None
            self._loop_thread_id = None
            if isinstance(exc, OSError):
                raise OSError(exc.errno, _listen_error(config, exc)) from exc
            raise

    async def __aenter__(self) -> WebServer:
        await self.start_async()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop_async()

    # -- stopping ----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop: terminate every WebSocket server on it, let in-flight requests finish (at most
        a few seconds), close everything. Does nothing if not running.

        From a callback (on the loop thread or a worker) it starts the shutdown and returns, since
        waiting there would wait for itself; from any other thread it returns once the server is
        stopped."""
        with self._lock:
            loop = self._loop
            if not self._running or loop is None:
                return
            if self.in_loop_thread() or current_worker() is not None:
                loop.call_soon_threadsafe(lambda: loop.create_task(self._stop_and_end()))
                return
            thread = self._thread
            with contextlib.suppress(RuntimeError):
                asyncio.run_coroutine_threadsafe(self._stop_and_end(), loop).result()
            if thread is not None and threading.current_thread() is not thread:
                thread.join(10)

    async def _stop_and_end(self) -> None:
        """Stop, then end the background thread's loop if the server has one."""
        await self.stop_async()
        if self._thread is not None:
            loop = asyncio.get_running_loop()
            self._loop = self._thread = None
            self._loop_thread_id = None
            loop.call_soon(loop.stop)

    async def stop_async(self) -> None:
        """Stop, from a coroutine on the server's loop."""
        if self._stopping is not None:
            await asyncio.shield(self._stopping)
            return
        if not self._running or self._http is None:
            return
        self._stopping = asyncio.get_running_loop().create_future()
        try:
            self._http.stopping = True
            self._http.stop_listening()
            await asyncio.gather(*(hook() for hook in list(self._stop_hooks)))
            await self._http.stop(STOP_TIMEOUT)
            if self._app is not None:
                await self._app.lifespan.shutdown()
            if self._cluster is not None:
                await self._cluster.stop()
        finally:
            self._cluster = None
            self._app = None
            self._running = False
            self._http = None
            if self._stopped is not None:
                self._stopped.set()
            self._stopping.set_result(None)
            self._stopping = None

    # -- serving until a signal --------------------------------------------------------------------

    def run_until_signal(self, message: str | None = None) -> signal.Signals | None:
        """Serve until Ctrl-C (SIGINT) or SIGTERM, then stop as :meth:`stop` does (every WebSocket
        client gets close 1001); for a script that called :meth:`start`, from its main thread.

        While it stops it says on stderr what it waits for (a client that does not answer the close
        is dropped after ``closeTimeout``). A second Ctrl-C or SIGTERM drops every connection at once;
        a third is Python's again (``KeyboardInterrupt``; SIGTERM ends the process).

        Args:
            message: printed to stdout once both signals are caught, so that a signal sent after it
                always stops the server cleanly (e.g. ``"serving ..., Ctrl-C to stop"``).

        Returns:
            The signal that stopped the server, or None if something else stopped it (``stop()``
            from a callback or another thread).

        Raises:
            RuntimeError: not the main thread; the server is not running (the message says why); or
                it runs on an asyncio loop of the caller's (``await web.serve()`` is the way there).
        """
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("run_until_signal() must be called from the main thread: signals arrive there")
        with self._lock:
            loop, thread = self._loop, self._thread
            if not self._running or loop is None:
                raise self.not_running_error()
            if thread is None:
                raise RuntimeError(
                    "run_until_signal() is for a web server started with start(); on your own event "
                    "loop, await web.serve() instead"
                )
        with _SignalCatcher() as catcher:

            async def stopping() -> None:
                catcher.wake(_SERVER_STOPPING)

            self.add_stop_hook(stopping)
            try:
                if message is not None:
                    print(message, flush=True)
                # A stop that began before the hook was added does not call it.
                cause = _SERVER_STOPPING if self._stopping is not None or not self._running else None
                while cause not in (_SERVER_STOPPING, *_SignalCatcher.SIGNALS):
                    cause = catcher.wait(None)
                assert cause is not None
                self._stop_after_signal(catcher, cause, loop, thread)
            finally:
                self.remove_stop_hook(stopping)
        return None if cause == _SERVER_STOPPING else signal.Signals(cause)

    def _stop_after_signal(
        self, catcher: _SignalCatcher, cause: int, loop: asyncio.AbstractEventLoop, thread: threading.Thread
    ) -> None:
        """Stop (unless something else already does), say what the stop waits for, force it on a
        second signal, and return once the server's thread has ended."""
        started = time.monotonic()
        if cause != _SERVER_STOPPING:
            websockets, _ = self._open_websockets()
            closing = (
                f", closing {_count(websockets, 'WebSocket connection')} with 1001" if websockets else ""
            )
            _say(f"{signal.Signals(cause).name}: stopping{closing}")
        # Also when something else stops the server: after a bare stop_async() its thread would live on.
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(self._begin_stop_and_end)
        noticed = forced = False
        while thread.is_alive():
            got = catcher.wait(0.1)
            if got in _SignalCatcher.SIGNALS and not forced:
                forced = True
                catcher.restore()  # a third signal: Python's own handling
                websockets, _ = self._open_websockets()
                dropping = (
                    f", dropping {_count(websockets, 'WebSocket connection')} now" if websockets else ""
                )
                _say(f"{signal.Signals(got).name}: forcing the stop{dropping}")
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._drop_connections)
            elif not (noticed or forced) and time.monotonic() - started >= STOP_NOTICE_AFTER:
                noticed = True
                _say(self._stop_notice(time.monotonic() - started))
        thread.join()

    def _begin_stop_and_end(self) -> None:
        """Start :meth:`_stop_and_end` (on the loop thread: the coroutine exists only if it runs)."""
        asyncio.get_running_loop().create_task(self._stop_and_end())

    def _open_websockets(self) -> tuple[int, float]:
        """How many WebSocket connections are open, and the longest of their close timeouts (read
        from another thread: a snapshot)."""
        http = self._http
        if http is None:
            return 0, 0.0
        websockets = list(http.websocket_connections)
        return len(websockets), max((float(websocket.close_timeout) for websocket in websockets), default=0.0)

    def _stop_notice(self, elapsed: float) -> str:
        """What a stop that has run for ``elapsed`` seconds still waits for."""
        force = "press Ctrl-C again to force the stop"
        websockets, close_timeout = self._open_websockets()
        if websockets:
            left = max(1, math.ceil(close_timeout - elapsed))
            clients = _count(websockets, "WebSocket client")
            return (
                f"waiting up to {left} s for {clients} to answer the close "
                f"(then {'it is' if websockets == 1 else 'they are'} dropped; {force})"
            )
        http = self._http
        requests = 0 if http is None else len(http.http_connections)
        if requests:
            return f"waiting up to {STOP_TIMEOUT:g} s for {_count(requests, 'HTTP connection')} to finish ({force})"
        return f"waiting for callbacks to return ({force})"

    def _drop_connections(self) -> None:
        """Drop every open connection at once: a forced stop (loop thread)."""
        http = self._http
        if http is None:
            return
        for websocket in list(http.websocket_connections):
            websocket.abort()
        for connection in list(http.http_connections):
            if connection.transport is not None:
                connection.transport.abort()

    # -- for WebSocketServer -----------------------------------------------------------------------

    def add_upgrade_route(self, path: str | None, endpoint: UpgradeEndpoint) -> None:
        """Send the WebSocket upgrades of ``path`` to ``endpoint`` (loop thread, while running).

        Raises:
            ValueError: ``path`` is taken.
            RuntimeError: the web server is not running.
        """
        self.http.router.add(path, endpoint)

    def remove_upgrade_route(self, path: str | None) -> None:
        """Undo :meth:`add_upgrade_route` (loop thread; nothing happens once the server stopped)."""
        if self._http is not None:
            self._http.router.remove(path)

    def add_stop_hook(self, hook: StopHook) -> None:
        """Await ``hook()`` on the loop when the web server stops, before its connections close."""
        self._stop_hooks.append(hook)

    def remove_stop_hook(self, hook: StopHook) -> None:
        """Undo :meth:`add_stop_hook` (nothing happens if it is gone)."""
        if hook in self._stop_hooks:
            self._stop_hooks.remove(hook)

    @property
    def broadcasts(self) -> BroadcastBatch:
        """The broadcast batch of the server's loop (only while running)."""
        batch = self.http.broadcasts
        assert batch is not None
        return batch

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the server runs on (only while running)."""
        if self._loop is None:
            raise self.not_running_error()
        return self._loop

    @property
    def http(self) -> HttpServer:
        """The engine's HTTP server (only while running)."""
        if self._http is None:
            raise self.not_running_error()
        return self._http

    @property
    def loop_thread_id(self) -> int | None:
        """The ident of the thread running the event loop (None when stopped)."""
        return self._loop_thread_id

    def in_loop_thread(self) -> bool:
        """Whether the caller runs on the server's event loop thread."""
        return self._loop_thread_id is not None and threading.get_ident() == self._loop_thread_id

    def call_in_loop(self, function: Callable[[], T]) -> T:
        """Run ``function`` on the loop thread and return its result (directly if already there)."""
        if self.in_loop_thread():
            return function()

        async def call() -> T:
            return function()

        return self.run_in_loop(call())

    def run_in_loop(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop from another thread and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<WebServer {self.name!r} {state} {self.IPAddressToListen}:{self.HTTPPort}>"


def _failure(code: ErrorCode, message: str) -> dict[str, Any]:
    return {
        "success": False,
        "errors": [{"errCode": int(code), "message": message, "componentSignature": COMPONENT_SIGNATURE}],
    }


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}{'' if number == 1 else 's'}"


def _say(text: str) -> None:
    print(f"duplex: {text}", file=sys.stderr, flush=True)


# What _SignalCatcher.wake() writes when the server stops for another reason than a signal (no
# signal has the number 0).
_SERVER_STOPPING = 0


def _do_nothing(signum: int, frame: object) -> None:
    """The Python-level handler while :class:`_SignalCatcher` catches: the wakeup socket does all."""


class _SignalCatcher:
    """Catches SIGINT and SIGTERM for :meth:`WebServer.run_until_signal` and wakes the main thread.

    The kernel may deliver a signal to any thread, and Python runs the handler only on the main
    thread, once it runs Python code again: a main thread blocked in a wait would not notice. So it
    waits on a socket that ``signal.set_wakeup_fd`` writes each signal's number to (from whichever
    thread got it). The handler does nothing: one that set a ``threading.Event`` could deadlock on
    the lock the interrupted main thread holds. Other threads wake it with :meth:`wake`.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        self._handlers: dict[int, Any] = {}
        self._previous_wakeup_fd = -1

    def __enter__(self) -> _SignalCatcher:
        self._previous_wakeup_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        for signum in self.SIGNALS:
            self._handlers[signum] = signal.signal(signum, _do_nothing)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.restore()
        signal.set_wakeup_fd(self._previous_wakeup_fd)
        self._reader.close()
        self._writer.close()

    def restore(self) -> None:
        """Give the signals back to the handlers they had (idempotent)."""
        for signum, handler in self._handlers.items():
            signal.signal(signum, handler)
        self._handlers.clear()

    def wake(self, value: int) -> None:
        """Make :meth:`wait` return ``value`` (from any thread)."""
        with contextlib.suppress(OSError):  # closed: nobody waits any more
            self._writer.send(bytes((value,)))

    def wait(self, timeout: float | None) -> int | None:
        """The next signal number or woken value, or None after ``timeout`` seconds."""
        self._reader.settimeout(timeout)
        try:
            data = self._reader.recv(1)
        except TimeoutError:
            return None
        return data[0] if data else None


def _listen_error(config: HttpConfig, exc: OSError) -> str:
    ports = [str(port) for port in (config.http_port, config.https_port) if port is not None]
    # asyncio's strerror repeats the address ("error while attempting to bind on address ..."):
    # the errno's own text is enough next to the host and port.
    plain_errno = exc.errno is not None and exc.errno > 0 and not isinstance(exc, socket.gaierror)
    reason = os.strerror(exc.errno) if plain_errno and exc.errno else exc.strerror or str(exc)
    hint = " (is another server using it?)" if exc.errno == errno.EADDRINUSE else ""
    return f"cannot listen on {config.host} port {'/'.join(ports)}: {reason}{hint}"


_default_lock = threading.Lock()
_default: WebServer | None = None
# Every web server made, for running_web_server(); weak, so that a dropped server goes away.
_instances: weakref.WeakSet[WebServer] = weakref.WeakSet()


def running_web_server(loop: asyncio.AbstractEventLoop | None = None) -> WebServer | None:
    """The running web server whose event loop is ``loop``; with None, one running on a background
    thread of its own (the default web server first). None when there is none.

    For the client (``duplex.WebSocket``), whose callbacks run on a web server's loop when one
    runs, so that a program's server and client callbacks share one thread.
    """
    candidates = sorted(list(_instances), key=lambda server: server is not _default)
    for server in candidates:
        if not server._running or server._loop is None:
            continue
        if loop is None and server._thread is not None:
            return server
        if loop is not None and server._loop is loop:
            return server
    return None


def web_server() -> WebServer:
    """The process-wide default web server, which ``WebSocketServer`` uses unless told otherwise."""
    global _default
    with _default_lock:
        if _default is None:
            _default = WebServer()
        return _default
