"""An app module as a user would write it: a FastAPI ``app`` for ``--asgi served_app:app`` (or the
``asgi`` setting "asgi.served_app:app" in the test process), and a WSSHandler class ``Server`` for
``duplex serve served_app:Server``.

The lifespan prints one line at startup and one at shutdown, so that a test of ``duplex serve`` can
see both run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    print("served_app: startup", flush=True)
    yield {"greeting": "hello"}
    print("served_app: shutdown", flush=True)


app = FastAPI(lifespan=lifespan)


@app.get("/")
async def home() -> dict[str, str]:
    return {"app": "served_app"}


@app.get("/hello")
async def hello(request: Request, name: str = "asgi") -> dict[str, str]:
    return {request.state.greeting: name}


@app.websocket("/app-ws")
async def app_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text("app: " + await websocket.receive_text())
    except WebSocketDisconnect:
        pass


class Upper:
    """A connectionHandler: answers each message in upper case."""

    def onMessage(self, ws: Any, event: Any) -> None:
        ws.send(event.data.upper())


class Server:
    """A WSSHandler for ``duplex serve served_app:Server``."""

    def onConnection(self, wss: Any, event: Any) -> Upper:
        return Upper()
