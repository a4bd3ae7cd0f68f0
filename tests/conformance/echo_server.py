"""An echo server on the bare engine, for the Autobahn conformance run and the engine's tests.

Not public API. Run: ``python tests/conformance/echo_server.py --port 9001`` (``--port 0`` picks a
free port and prints it).
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys

from duplex.asyncio.websocket_protocol import WebSocketProtocol
from duplex.http import Accept, HttpConfig, HttpServer, Request
from duplex.protocol.handshake import UpgradeOffer

MAX_MESSAGE_SIZE = 64 * 1024 * 1024


class Echo:
    """Sends every message back with its own frame type."""

    def on_open(self, ws: WebSocketProtocol) -> None:
        pass

    def on_message(self, ws: WebSocketProtocol, data: str | bytes) -> None:
        ws.send(data)

    def on_error(self, ws: WebSocketProtocol, error: Exception) -> None:
        pass

    def on_close(self, ws: WebSocketProtocol, code: int, reason: str) -> None:
        pass


def echo_endpoint(
    *, compression: bool = True, max_message_size: int = MAX_MESSAGE_SIZE, close_timeout: float = 5.0
) -> object:
    """An upgrade endpoint that accepts every connection with an :class:`Echo` handler."""

    def endpoint(request: Request, offer: UpgradeOffer) -> Accept:
        return Accept(
            Echo(), compression=compression, max_message_size=max_message_size, close_timeout=close_timeout
        )

    return endpoint


async def serve(
    port: int,
    host: str = "127.0.0.1",
    ssl_context: ssl.SSLContext | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    server = HttpServer(HttpConfig(host=host, http_port=port))
    server.router.add(None, echo_endpoint())  # type: ignore[arg-type]
    await server.start()
    print(f"echo server listening on ws://{host}:{server.http_port}/", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(serve(args.port, args.host))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
