"""``duplex serve``: run the web server with a WebSocket endpoint from the command line.

For now the endpoint is an echo on the bare engine (every message comes back with its frame type);
the 4D-style handlers and the chat demo build on it next.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from .protocol.handshake import UpgradeOffer
from .transport import Accept, WebSocketProtocol
from .web import HttpConfig, HttpServer, Request
from .web.tls import load_certificate_folder

__all__ = ["main"]

logger = logging.getLogger("duplex")


class _EchoHandler:
    """Echoes every message and logs one line per connection opened and closed."""

    def on_open(self, ws: WebSocketProtocol) -> None:
        logger.info("connection opened from %s", ws.remote_address)

    def on_message(self, ws: WebSocketProtocol, data: str | bytes) -> None:
        ws.send(data)

    def on_error(self, ws: WebSocketProtocol, error: Exception) -> None:
        logger.warning("connection from %s: %s", ws.remote_address, error)

    def on_close(self, ws: WebSocketProtocol, code: int, reason: str) -> None:
        logger.info("connection from %s closed (%d)", ws.remote_address, code)


def _echo_endpoint(request: Request, offer: UpgradeOffer) -> Accept:
    return Accept(_EchoHandler())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="duplex", description="duplex: a WebSocket server with a web server."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve static files and a WebSocket echo endpoint")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080; 0 picks a free one)")
    serve.add_argument("--path", default="/ws", help="the WebSocket endpoint's path (default /ws)")
    serve.add_argument("--root", default=None, help="folder of static files to serve at /")
    serve.add_argument(
        "--tls-cert-folder",
        default=None,
        help="folder with cert.pem and key.pem: also serve HTTPS on --tls-port",
    )
    serve.add_argument("--tls-port", type=int, default=8443, help="HTTPS port (default 8443)")
    return parser


async def _serve(args: argparse.Namespace) -> int:
    config = HttpConfig(host=args.host, http_port=args.port, root_folder=args.root)
    if args.tls_cert_folder:
        config.ssl_context = load_certificate_folder(args.tls_cert_folder)
        config.https_port = args.tls_port
    server = HttpServer(config)
    server.router.add(args.path, _echo_endpoint)
    try:
        await server.start()
    except OSError as exc:
        print(f"duplex: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(
        f"duplex: serving http://{args.host}:{server.http_port}/ and ws://{args.host}:{server.http_port}{args.path}"
    )
    if server.https_port is not None:
        print(
            f"duplex: and https://{args.host}:{server.https_port}/ and wss://{args.host}:{server.https_port}{args.path}"
        )
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    print("duplex: stopping", flush=True)
    await server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``duplex`` command."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.tls_cert_folder:
        try:
            load_certificate_folder(args.tls_cert_folder)
        except ValueError as exc:
            print(f"duplex: {exc}", file=sys.stderr)
            return 2
    loop_factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(_serve(args))


if __name__ == "__main__":
    sys.exit(main())
