"""websockets (the asyncio implementation, websockets.asyncio.server), as its docs show it.

Echo: ``async for message in websocket: await websocket.send(message)``. Broadcast:
``websockets.broadcast(server.connections, message)``. Compression off (``compression=None``),
keepalive pings off, ``max_size`` 64 MiB, on uvloop.
"""

from __future__ import annotations

import itertools

import _common
import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve

SEQ = itertools.count(1)
SERVER = None


async def echo(websocket: ServerConnection) -> None:
    async for message in websocket:
        await websocket.send(message)


async def echo_or_broadcast(websocket: ServerConnection) -> None:
    async for message in websocket:
        count = _common.parse_broadcast(message) if isinstance(message, str) else None
        if count is None:
            await websocket.send(message)
            continue
        for _ in range(count):
            broadcast(SERVER.connections, _common.broadcast_message(next(SEQ)))


async def main(port: int, mode: str) -> None:
    global SERVER
    handler = echo if mode == "echo" else echo_or_broadcast
    async with serve(
        handler,
        _common.HOST,
        port,
        compression=None,
        max_size=_common.MAX_MESSAGE_SIZE,
        ping_interval=None,
    ) as server:
        SERVER = server
        _common.ready()
        await server.serve_forever()


if __name__ == "__main__":
    args = _common.parse_args(__doc__)
    uvloop.run(main(args.port, args.mode))
