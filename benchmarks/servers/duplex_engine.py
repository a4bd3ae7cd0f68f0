"""duplex's bare engine, without the 4D API: HttpServer + an upgrade endpoint + a WebSocketProtocol
handler that echoes (the shape of tests/conformance/echo_server.py), compression off, on uvloop.

Measures what the 4D API layer (WebSocketServer, WebSocketConnection, events) costs on top of it.
Only the echo mode: the engine has no broadcast of its own.
"""

from __future__ import annotations

import asyncio

import _common
import uvloop

from duplex.asyncio.websocket_protocol import WebSocketProtocol
from duplex.http import Accept, HttpConfig, HttpServer, Request
from duplex.protocol.handshake import UpgradeOffer


class Echo:
    def on_open(self, ws: WebSocketProtocol) -> None:
        pass

    def on_message(self, ws: WebSocketProtocol, data: str | bytes) -> None:
        ws.send(data)

    def on_error(self, ws: WebSocketProtocol, error: Exception) -> None:
        pass

    def on_close(self, ws: WebSocketProtocol, code: int, reason: str) -> None:
        pass


ECHO = Echo()


def endpoint(request: Request, offer: UpgradeOffer) -> Accept:
    return Accept(ECHO, compression=False, max_message_size=_common.MAX_MESSAGE_SIZE)


async def serve(port: int) -> None:
    server = HttpServer(HttpConfig(host=_common.HOST, http_port=port))
    server.router.add(None, endpoint)
    await server.start()
    _common.ready()
    await asyncio.Event().wait()


def main() -> None:
    args = _common.parse_args(__doc__)
    if args.mode != "echo":
        raise SystemExit("duplex_engine: only --mode echo")
    uvloop.run(serve(args.port))


if __name__ == "__main__":
    main()
