"""Starlette on uvicorn: a WebSocketRoute endpoint, served by uvicorn.Server, as in their docs.

Echo: ``websocket.accept()``, then ``receive()`` and ``send_text``/``send_bytes`` by type until
the disconnect message. Broadcast: the app keeps its open WebSockets in a set and loops over them
with ``await send_bytes()``. uvicorn settings: ``loop="uvloop"``, ``ws="auto"`` (websockets'
sans-I/O implementation), ``ws_per_message_deflate=False``, ``ws_max_size`` 64 MiB, no pings, no
access log.
"""

from __future__ import annotations

import asyncio
import itertools

import _common
import uvicorn
import uvloop
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

SEQ = itertools.count(1)
CLIENTS: set[WebSocket] = set()


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await websocket.send_text(message["text"])
        else:
            await websocket.send_bytes(message["bytes"])


async def echo_or_broadcast(websocket: WebSocket) -> None:
    await websocket.accept()
    CLIENTS.add(websocket)
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                await websocket.send_bytes(message["bytes"])
                continue
            count = _common.parse_broadcast(text)
            if count is None:
                await websocket.send_text(text)
                continue
            for _ in range(count):
                payload = _common.broadcast_message(next(SEQ))
                for client in list(CLIENTS):
                    try:
                        await client.send_bytes(payload)
                    except (WebSocketDisconnect, RuntimeError):
                        CLIENTS.discard(client)
    finally:
        CLIENTS.discard(websocket)


async def main(port: int, mode: str) -> None:
    app = Starlette(routes=[WebSocketRoute("/", echo if mode == "echo" else echo_or_broadcast)])
    config = uvicorn.Config(
        app,
        host=_common.HOST,
        port=port,
        loop="uvloop",
        ws="auto",
        ws_per_message_deflate=False,
        ws_max_size=_common.MAX_MESSAGE_SIZE,
        ws_ping_interval=None,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    _common.ready()
    await task


if __name__ == "__main__":
    args = _common.parse_args(__doc__)
    uvloop.run(main(args.port, args.mode))
