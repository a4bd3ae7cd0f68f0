"""python-socketio in a cluster, for ``benchmarks/cluster.py``, as its documentation shows it: an
``AsyncServer(async_mode="asgi", client_manager=AsyncRedisManager(url))`` wrapped in
``socketio.ASGIApp`` and served by uvicorn. Rooms are the topics: a client joins the room named by
its URL's query (``/socket.io/?EIO=4&transport=websocket&topic=t3``) in the ``connect`` handler.
The server itself emits nothing: the events come from a write-only ``AsyncRedisManager`` in another
process, through Redis.

    python benchmarks/servers/socketio_cluster.py --port P --broker redis://127.0.0.1:6379/0

uvicorn settings as in ``uvicorn_starlette.py``: uvloop, ``ws="auto"``, no permessage-deflate, no
WebSocket-level pings (Engine.IO pings on its own: every 25 s, its default), no access log.

Prints ``ready`` once it listens, and on SIGUSR1 the line ``stats {json}``: the messages and bytes
its Redis manager received (counted as they leave the manager's ``_listen``, the same place where
duplex counts its ``received_bytes``) and the number of members per room.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import _common
import socketio
import uvicorn
import uvloop

NAMESPACE = "/"


class CountingRedisManager(socketio.AsyncRedisManager):
    """``AsyncRedisManager``, counting what it receives from Redis (nothing else changed)."""

    received = 0
    received_bytes = 0

    async def _listen(self) -> AsyncIterator[Any]:
        async for data in super()._listen():
            self.received += 1
            self.received_bytes += len(data)
            yield data


def make_app(broker: str) -> tuple[Any, socketio.AsyncServer, CountingRedisManager]:
    manager = CountingRedisManager(broker)
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager, logger=False, engineio_logger=False)

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> bool:
        topics = parse_qs(environ.get("QUERY_STRING", "")).get("topic")
        if not topics:
            return False
        await sio.enter_room(sid, topics[0])
        return True

    return socketio.ASGIApp(sio), sio, manager


async def main(port: int, broker: str) -> None:
    app, sio, manager = make_app(broker)
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

    def report() -> None:
        rooms = sio.manager.rooms.get(NAMESPACE, {})
        sids = rooms.get(None, {})
        # Each client is also in a room of its own, named by its sid: the others are the topics.
        topics = {
            room: len(members) for room, members in rooms.items() if room is not None and room not in sids
        }
        stats = {
            "broker": {"received": manager.received, "received_bytes": manager.received_bytes},
            "connections": len(sids),
            "topics": topics,
        }
        print("stats " + json.dumps(stats), flush=True)

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, report)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    _common.ready()
    await task


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--broker", required=True, help="redis://host:port/db")
    args = parser.parse_args()
    uvloop.run(main(args.port, args.broker))
