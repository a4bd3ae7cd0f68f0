"""``duplex serve``: a web server and one WebSocket server, from the command line.

::

    duplex serve                          the built-in chat demo: open http://127.0.0.1:8080/
    duplex serve myapp:Server --path /ws  your WSSHandler class, imported from myapp.py

Bad arguments get one line on stderr and exit status 2; Ctrl-C or SIGTERM closes every connection
with 1001 and exits 0.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .server.web_server import WebServer
from .server.websocket_connection import callback_of
from .server.websocket_server import DATA_TYPES, WebSocketServer

__all__ = ["main"]


class UsageError(Exception):
    """A bad argument: reported as one line, exit status 2."""


_DESCRIPTION = """\
Run a web server with one WebSocket server on it.

Without HANDLER, serves the built-in chat demo: open the printed http:// address in two
browser tabs and chat. With HANDLER (MODULE:CLASS, e.g. myapp:ChatServer), imports that
WSSHandler class from MODULE (found in the current folder or on PYTHONPATH) and serves it.
"""

_EPILOG = """\
examples:
  duplex serve
  duplex serve myapp:EchoServer --path /echo --data-type text
  duplex serve myapp:Server --port 0 --root ./public --tls-cert-folder ./certs
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="duplex", description="duplex: the 4D WebSocketServer API in Python."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run a web server with a WebSocket server (the chat demo by default)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("handler", nargs="?", metavar="HANDLER", help="your WSSHandler class as MODULE:CLASS")
    serve.add_argument("--path", default="/ws", help="the WebSocket server's path (default: /ws)")
    serve.add_argument(
        "--port", type=int, default=8080, help="HTTP port (default: 8080; 0 picks a free port)"
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1; 0.0.0.0 for all)"
    )
    serve.add_argument("--root", help="folder of static files served at / (default: the demo page, or none)")
    serve.add_argument(
        "--data-type",
        choices=DATA_TYPES,
        help="how messages reach onMessage (default: text; object for the demo)",
    )
    serve.add_argument(
        "--tls-cert-folder", help="folder with cert.pem and key.pem: also serve https:// and wss://"
    )
    serve.add_argument(
        "--tls-port", type=int, default=8443, help="HTTPS port with --tls-cert-folder (default: 8443)"
    )
    return parser


def load_handler(spec: str) -> Any:
    """Import ``MODULE:CLASS`` and return an instance of the class.

    Raises:
        UsageError: the spec is malformed, the module does not import, the class is missing, cannot
            be created without arguments, or has no ``onConnection``.
    """
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise UsageError(f"HANDLER must be MODULE:CLASS (e.g. myapp:ChatServer), got {spec!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:
        raise UsageError(f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise UsageError(f"module {module_name!r} has no {class_name!r}")
    try:
        handler = cls()
    except Exception as exc:
        raise UsageError(f"cannot create {spec}() without arguments: {type(exc).__name__}: {exc}") from None
    if callback_of(handler, "onConnection") is None:
        raise UsageError(f"{spec} is not a WSSHandler: it needs an onConnection(wss, event) method")
    return handler


def serve(args: argparse.Namespace) -> int:
    """Run until SIGINT or SIGTERM; returns the exit status."""
    if args.handler:
        handler = load_handler(args.handler)
        root = args.root
        data_type = args.data_type or "text"
    else:
        from .demo import STATIC_FOLDER, ChatServer

        handler = ChatServer()
        root = args.root or str(STATIC_FOLDER)
        data_type = args.data_type or "object"
    if root is not None and not Path(root).is_dir():
        raise UsageError(f"--root {root!r} is not a folder")
    settings: dict[str, Any] = {"HTTPPort": args.port, "IPAddressToListen": args.host, "rootFolder": root}
    if args.tls_cert_folder:
        settings.update(HTTPSEnabled=True, HTTPSPort=args.tls_port, certificateFolder=args.tls_cert_folder)
    # Signal handlers go in before anything is printed: a Ctrl-C right after the ready line must
    # still close connections with 1001 rather than kill the process.
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, frame: stop.set())
    web = WebServer()
    try:
        result = web.start(settings)
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if not result["success"]:
        raise UsageError(result["errors"][0]["message"])
    try:
        WebSocketServer(handler, {"path": args.path, "dataType": data_type, "webServer": web})
    except (TypeError, ValueError) as exc:
        web.stop()
        raise UsageError(str(exc)) from None
    host = args.host if ":" not in args.host else f"[{args.host}]"
    page = "" if args.path == "/ws" or args.handler else f"?ws={args.path}"
    print(f"duplex: serving http://{host}:{web.HTTPPort}/{page}", flush=True)
    print(f"duplex: WebSocket at ws://{host}:{web.HTTPPort}{args.path}", flush=True)
    if web.HTTPSEnabled:
        print(
            f"duplex: and https://{host}:{web.HTTPSPort}/ , wss://{host}:{web.HTTPSPort}{args.path}",
            flush=True,
        )
    print("duplex: press Ctrl-C to stop", flush=True)
    while not stop.wait(0.5):
        pass
    print("duplex: stopping (closing connections with 1001)", flush=True)
    web.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``duplex`` command."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        return serve(args)
    except UsageError as exc:
        print(f"duplex: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
