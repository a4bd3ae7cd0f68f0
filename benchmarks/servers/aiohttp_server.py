"""aiohttp's web server with a WebSocketResponse handler, as in aiohttp's WebSockets docs.

Echo: ``async for msg in ws`` and ``send_str``/``send_bytes`` by type. Broadcast: the app keeps
its open WebSocketResponses in a set (the docs' "app[websockets]" pattern) and loops over them with
``await ws.send_bytes()``. ``compress=False``, ``max_msg_size`` 64 MiB, no heartbeat, run by
``web.run_app`` on a uvloop loop.
"""

from __future__ import annotations

import itertools

import _common
import uvloop
from aiohttp import WSMsgType, web

SEQ = itertools.count(1)
CLIENTS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("clients", set)


async def echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False, max_msg_size=_common.MAX_MESSAGE_SIZE)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


async def echo_or_broadcast(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False, max_msg_size=_common.MAX_MESSAGE_SIZE)
    await ws.prepare(request)
    clients = request.app[CLIENTS]
    clients.add(ws)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                count = _common.parse_broadcast(msg.data)
                if count is None:
                    await ws.send_str(msg.data)
                    continue
                for _ in range(count):
                    message = _common.broadcast_message(next(SEQ))
                    for client in list(clients):
                        if not client.closed:
                            await client.send_bytes(message)
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
    finally:
        clients.discard(ws)
    return ws


def main() -> None:
    args = _common.parse_args(__doc__)
    app = web.Application()
    app[CLIENTS] = set()
    app.add_routes([web.get("/", echo if args.mode == "echo" else echo_or_broadcast)])
    web.run_app(
        app,
        host=_common.HOST,
        port=args.port,
        loop=uvloop.new_event_loop(),
        print=lambda *_: _common.ready(),
    )


if __name__ == "__main__":
    main()
