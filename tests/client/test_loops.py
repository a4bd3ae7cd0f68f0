"""Where a 4D client's callbacks run: the web server's thread when one runs, else the client loop's.

The issue's rule: callbacks run on the same background loop as the web server, one being started if
none runs; a client living on a web server's loop is closed with 1001 when that server stops.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import duplex

TIMEOUT = 5.0


class Recorder:
    """Records (callback, thread name, event) from any thread; ``take()`` waits, bounded."""

    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, str, Any]] = queue.Queue()

    def onOpen(self, ws: duplex.WebSocket, event: duplex.Event) -> None:
        self.events.put(("open", threading.current_thread().name, event))

    def onMessage(self, ws: duplex.WebSocket, event: duplex.Event) -> None:
        self.events.put(("message", threading.current_thread().name, event))

    def onTerminate(self, ws: duplex.WebSocket, event: duplex.Event) -> None:
        self.events.put(("terminate", threading.current_thread().name, event))

    def take(self, kind: str) -> tuple[str, Any]:
        got, thread, event = self.events.get(timeout=TIMEOUT)
        assert got == kind, (got, event)
        return thread, event


class Echo:
    def onMessage(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        ws.send(event.data)


class Accept:
    def onConnection(self, wss: duplex.WebSocketServer, event: duplex.Event) -> Echo:
        return Echo()


@pytest.fixture
def web() -> Iterator[duplex.WebServer]:
    """A web server on its own background thread with an echo at /echo."""
    server = duplex.WebServer({"HTTPPort": 0})
    assert server.start()["success"]
    duplex.WebSocketServer(Accept(), {"path": "/echo", "webServer": server})
    try:
        yield server
    finally:
        server.stop()


def url(web: duplex.WebServer) -> str:
    return f"ws://127.0.0.1:{web.HTTPPort}/echo"


def test_a_client_made_while_a_web_server_runs_lives_on_its_thread(web: duplex.WebServer) -> None:
    """Made from the test's thread, the client's callbacks run on the web server's loop thread."""
    recorder = Recorder()
    ws = duplex.WebSocket(url(web), recorder)
    server_thread, _ = recorder.take("open")
    assert server_thread == f"duplex-{web.name}"
    assert ws.send("hi")
    thread, event = recorder.take("message")
    assert (thread, event.data) == (server_thread, "hi")
    ws.terminate()
    thread, event = recorder.take("terminate")
    assert (thread, event.code) == (server_thread, 1000)


def test_stopping_the_web_server_closes_its_clients_with_1001(web: duplex.WebServer) -> None:
    """The client gets 1001 and its onTerminate before stop() returns, as server connections do."""
    recorder = Recorder()
    ws = duplex.WebSocket(url(web), recorder)
    recorder.take("open")
    web.stop()
    assert ws.status == "Closed"
    _, event = recorder.events.get_nowait()[1:]  # already there: stop() waited for it
    assert event.type == "terminate"
    assert event.code == 1001


def test_without_a_web_server_clients_share_the_client_thread(web: duplex.WebServer) -> None:
    """A client made while no web server runs in the background lives on "duplex-client" (the
    echo server here runs on a loop of the test's own, not on a background thread)."""
    web.stop()
    other = duplex.WebServer({"HTTPPort": 0})
    loop_ready = threading.Event()
    import asyncio

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-loop", daemon=True)
    thread.start()

    async def serve() -> None:
        await other.start_async()
        duplex.WebSocketServer(Accept(), {"path": "/echo", "webServer": other})
        loop_ready.set()

    asyncio.run_coroutine_threadsafe(serve(), loop).result(TIMEOUT)
    try:
        recorder = Recorder()
        ws = duplex.WebSocket(f"ws://127.0.0.1:{other.HTTPPort}/echo", recorder)
        thread_name, _ = recorder.take("open")
        assert thread_name == "duplex-client"
        ws.terminate()
        recorder.take("terminate")
    finally:
        asyncio.run_coroutine_threadsafe(other.stop_async(), loop).result(TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(TIMEOUT)
