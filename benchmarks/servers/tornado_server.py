"""Tornado: a WebSocketHandler in a tornado.web.Application, as in tornado.websocket's docs.

Echo: ``on_message`` calls ``write_message(message, binary=...)``. Broadcast: the handler class
keeps its open connections in a set (the chat demo's ``waiters``) and loops over them with
``write_message(..., binary=True)``. Compression off (``get_compression_options`` returns None,
the default), ``websocket_max_message_size`` 64 MiB, no ping, on uvloop (Tornado runs on asyncio).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import ClassVar

import _common
import tornado.web
import tornado.websocket
import uvloop

SEQ = itertools.count(1)


class EchoHandler(tornado.websocket.WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


class BroadcastHandler(tornado.websocket.WebSocketHandler):
    clients: ClassVar[set[BroadcastHandler]] = set()

    def open(self) -> None:
        BroadcastHandler.clients.add(self)

    def on_close(self) -> None:
        BroadcastHandler.clients.discard(self)

    def on_message(self, message: str | bytes) -> None:
        count = _common.parse_broadcast(message) if isinstance(message, str) else None
        if count is None:
            self.write_message(message, binary=isinstance(message, bytes))
            return
        for _ in range(count):
            payload = _common.broadcast_message(next(SEQ))
            for client in list(BroadcastHandler.clients):
                with contextlib.suppress(tornado.websocket.WebSocketClosedError):
                    client.write_message(payload, binary=True)


async def main(port: int, mode: str) -> None:
    handler = EchoHandler if mode == "echo" else BroadcastHandler
    app = tornado.web.Application(
        [(r"/", handler)],
        websocket_max_message_size=_common.MAX_MESSAGE_SIZE,
        websocket_ping_interval=None,
    )
    app.listen(port, address=_common.HOST)
    _common.ready()
    await asyncio.Event().wait()


if __name__ == "__main__":
    args = _common.parse_args(__doc__)
    uvloop.run(main(args.port, args.mode))
