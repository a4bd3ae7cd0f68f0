"""Where a 4D client's callbacks run: the web server's thread when one runs, else the client loop's.

The issue's rule: callbacks run on the same background loop as the web server, one being started if
none runs; a client living on a web server's loop is closed with 1001 when that server stops.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

import duplex
from client.conftest import TIMEOUT, ClientHandler


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
    handler = ClientHandler()
    ws = duplex.WebSocket(url(web), handler)
    server_thread = handler.wait_for("open")[0].thread
    assert server_thread == f"duplex-{web.name}"
    assert ws.send("hi")
    message = handler.wait_for("message")[0]
    assert (message.thread, message.event.data) == (server_thread, "hi")
    ws.terminate()
    terminate = handler.wait_for("terminate")[0]
    assert (terminate.thread, terminate.event.code) == (server_thread, 1000)


def test_stopping_the_web_server_closes_its_clients_with_1001(web: duplex.WebServer) -> None:
    """The client gets 1001 and its onTerminate before stop() returns, as server connections do."""
    handler = ClientHandler()
    ws = duplex.WebSocket(url(web), handler)
    handler.wait_for("open")
    web.stop()
    assert ws.status == "Closed"
    terminate = handler.of("terminate")  # already there: stop() waited for it
    assert [call.event.code for call in terminate] == [1001]


def test_without_a_web_server_clients_share_the_client_thread(web: duplex.WebServer) -> None:
    """A client made while no web server runs in the background lives on "duplex-client" (the
    echo server here runs on a loop of the test's own, not on a background thread)."""
    web.stop()
    other = duplex.WebServer({"HTTPPort": 0})
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-loop", daemon=True)
    thread.start()

    async def serve() -> None:
        await other.start_async()
        duplex.WebSocketServer(Accept(), {"path": "/echo", "webServer": other})

    asyncio.run_coroutine_threadsafe(serve(), loop).result(TIMEOUT)
    try:
        handler = ClientHandler()
        ws = duplex.WebSocket(f"ws://127.0.0.1:{other.HTTPPort}/echo", handler)
        assert handler.wait_for("open")[0].thread == "duplex-client"
        ws.terminate()
        handler.wait_for("terminate")
    finally:
        asyncio.run_coroutine_threadsafe(other.stop_async(), loop).result(TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(TIMEOUT)
