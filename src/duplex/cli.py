"""``duplex serve``: a web server and one WebSocket server, from the command line.

::

    duplex serve                          the built-in chat demo: open http://127.0.0.1:8080/
    duplex serve myapp:Server --path /ws  your WSSHandler class, imported from myapp.py
    duplex serve --asgi main:app          an ASGI application (FastAPI, Starlette...) alone
    duplex serve myapp:Server --asgi main:app   both, on one port

Bad arguments get one line on stderr and exit status 2; Ctrl-C or SIGTERM closes every connection
with 1001 and exits 0 (``WebServer.run_until_signal()``: a second one drops the connections still
open at once).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .asgi import ASGIApp, load_app
from .cluster import configured_broker
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

With --asgi MODULE:APP, an ASGI application (a FastAPI or Starlette app, for instance) answers
every request that neither the WebSocket server's path nor a static file under --root takes,
WebSocket upgrades included. --asgi without HANDLER serves the application alone.

Ctrl-C or SIGTERM closes every connection with 1001 and exits 0; press Ctrl-C a second time
to drop the clients that do not answer the close at once.
"""

_EPILOG = """\
examples:
  duplex serve
  duplex serve myapp:EchoServer --path /echo --data-type text
  duplex serve myapp:Server --port 0 --root ./public --tls-cert-folder ./certs
  duplex serve --asgi main:app --port 8000
  duplex serve myapp:ChatServer --path /chat --asgi main:app
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="duplex", description="duplex: the 4D WebSocketServer API in Python."
    )
    parser.add_argument("--version", action="version", version=f"duplex {__version__}")
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
        "--asgi",
        metavar="MODULE:APP",
        help="an ASGI application (e.g. main:app for a FastAPI app) answering what nothing else does",
    )
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
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="run N processes on the port (SO_REUSEPORT), restarted if they crash; N > 1 needs a broker",
    )
    serve.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)  # set by the supervisor
    serve.add_argument(
        "--broker",
        metavar="URL",
        help="redis://host:port/db or nats://host:port: broadcast() and publish() reach every process "
        "sharing it (default: $DUPLEX_BROKER, else none)",
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
    if module_name.endswith(".py") or "/" in module_name or os.sep in module_name:
        raise UsageError(_file_name_given(module_name, class_name))
    _import_from_here()
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


def load_asgi(spec: str) -> ASGIApp:
    """Import the ASGI application ``MODULE:APP``.

    Raises:
        UsageError: the spec is malformed, the module does not import, or the attribute is missing
            or not an application.
    """
    module_name, _, app_name = spec.partition(":")
    if module_name.endswith(".py") or "/" in module_name or os.sep in module_name:
        raise UsageError(_file_name_given(module_name, app_name, "--asgi MODULE:APP"))
    _import_from_here()
    try:
        return load_app(spec)
    except ValueError as exc:
        raise UsageError(f"--{exc}") from None


def _import_from_here() -> None:
    """Put the current folder on the import path, as ``python -m`` would."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())


def _file_name_given(module_name: str, class_name: str, what: str = "HANDLER is MODULE:CLASS") -> str:
    """The error for ``room.py:Server`` or ``apps/room:Server``: a file path where a module name goes."""
    path = Path(module_name)
    module = path.stem if path.suffix == ".py" else path.name
    where = ""
    if str(path.parent) not in ("", "."):
        where = f" from the folder {path.parent} (or with PYTHONPATH={path.parent})"
    return (
        f"{what} with a module name, not a file name: use {module}:{class_name}{where} "
        f"instead of {module_name}:{class_name}"
    )


def _start_failure(message: str, args: argparse.Namespace) -> str:
    """``start()``'s error, with the option that fixes it when a port cannot be bound."""
    if not message.startswith("cannot listen on"):
        return message
    options = "--port or --tls-port" if args.tls_cert_folder else "--port"
    return f"{message}; choose another port with {options} (0 picks a free one)"


def serve(args: argparse.Namespace) -> int:
    """Run until SIGINT or SIGTERM; returns the exit status."""
    app = load_asgi(args.asgi) if args.asgi else None
    handler: Any = None
    if args.handler:
        handler = load_handler(args.handler)
        root = args.root
        data_type = args.data_type or "text"
    elif app is not None:
        root = args.root  # the application alone, as an ASGI server would serve it
        data_type = ""
    else:
        from .demo import STATIC_FOLDER, ChatServer

        handler = ChatServer()
        root = args.root or str(STATIC_FOLDER)
        data_type = args.data_type or "object"
    if root is not None and not Path(root).is_dir():
        raise UsageError(f"--root {root!r} is not a folder")
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.workers > 1:
        return _supervise(args, root)
    settings: dict[str, Any] = {"HTTPPort": args.port, "IPAddressToListen": args.host, "rootFolder": root}
    if args.worker_index is not None:
        settings["reusePort"] = True
    if args.broker is not None:
        settings["broker"] = args.broker
    if app is not None:
        settings["asgi"] = app
    if args.tls_cert_folder:
        settings.update(HTTPSEnabled=True, HTTPSPort=args.tls_port, certificateFolder=args.tls_cert_folder)
    web = WebServer()
    try:
        # A worker binds first and listens once its WebSocket server exists: the kernel hands a
        # listening worker connections at once (reusePort), which would get 404 meanwhile.
        result = web.start(settings, listen=args.worker_index is None)
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if not result["success"]:
        raise UsageError(_start_failure(result["errors"][0]["message"], args))
    try:
        if handler is not None:
            WebSocketServer(handler, {"path": args.path, "dataType": data_type, "webServer": web})
    except (TypeError, ValueError) as exc:
        web.stop()
        raise UsageError(str(exc)) from None
    if args.worker_index is not None:
        from .supervisor import watch_parent

        web.listen()
        watch_parent()
        # The supervisor's sign that this worker serves (its first line on stdout).
        web.run_until_signal(f"duplex: worker {args.worker_index} serving (pid {os.getpid()})")
        return 0
    # Printed once Ctrl-C and SIGTERM are caught: a signal right after these lines still closes
    # every connection with 1001.
    web.run_until_signal(_banner(args, root, web.HTTPPort, web.HTTPSPort if web.HTTPSEnabled else None))
    return 0


def _banner(args: argparse.Namespace, root: str | None, port: int, tls_port: int | None) -> str:
    """The lines that say where the server is."""
    host = args.host if ":" not in args.host else f"[{args.host}]"
    lines = []
    served = root is not None or args.asgi  # a page at / only with static files or an application
    websocket = args.handler or not args.asgi  # a WebSocket server: the handler's, or the demo's
    if served:
        page = "" if args.path == "/ws" or args.handler or args.asgi else f"?ws={args.path}"
        lines.append(f"duplex: serving http://{host}:{port}/{page}")
    if args.asgi:
        lines.append(f"duplex: the ASGI application {args.asgi} answers what nothing else does")
    if websocket:
        lines.append(f"duplex: WebSocket at ws://{host}:{port}{args.path}")
    if tls_port is not None:
        secure = f"https://{host}:{tls_port}/" if served else ""
        secure_websocket = f"wss://{host}:{tls_port}{args.path}" if websocket else ""
        lines.append(f"duplex: and {' , '.join(part for part in (secure, secure_websocket) if part)}")
    if args.workers > 1:
        broker = configured_broker(args.broker)
        shared = f", sharing the broker {broker}" if broker else ""
        lines.append(f"duplex: {args.workers} workers{shared}")
    lines.append("duplex: press Ctrl-C to stop")
    return "\n".join(lines)


def _supervise(args: argparse.Namespace, root: str | None) -> int:
    """``--workers N``: N processes of this command on one port (duplex.supervisor)."""
    from .supervisor import Supervisor, reserve_port, worker_command

    if (args.handler or not args.asgi) and configured_broker(args.broker) is None:
        # An ASGI application alone has no broadcast() to share: its workers need no broker.
        raise UsageError(
            f"--workers {args.workers} needs a broker: add --broker redis://HOST:6379/0 or "
            "--broker nats://HOST:4222 (or set DUPLEX_BROKER), so that broadcast() and publish() reach "
            "the clients of every worker"
        )
    reserved = []
    port, tls_port = args.port, args.tls_port
    try:
        if port == 0:
            reserved.append(reserve_port(args.host))
            port = reserved[-1].getsockname()[1]
        if args.tls_cert_folder and tls_port == 0:
            reserved.append(reserve_port(args.host))
            tls_port = reserved[-1].getsockname()[1]
        command = worker_command(args.argv, port, tls_port)
        banner = _banner(args, root, port, tls_port if args.tls_cert_folder else None)
        return Supervisor(command, args.workers).run(banner)
    finally:
        for sock in reserved:
            sock.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``duplex`` command."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(arguments)
    args.argv = arguments
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        return serve(args)
    except UsageError as exc:
        print(f"duplex: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C while starting, before "press Ctrl-C to stop"
        return 130


if __name__ == "__main__":
    sys.exit(main())
