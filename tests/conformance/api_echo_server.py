"""An echo server made with the public 4D-style API, for the Autobahn conformance run.

A WSSHandler and a connection handler, ``dataType`` "auto" (text stays text, binary stays binary)
and compression on. Not public API. Run: ``python tests/conformance/api_echo_server.py --port 0``.
"""

from __future__ import annotations

import argparse
import threading
from typing import Any

import duplex


class Echo:
    """The connection handler: every message goes back with its own frame type."""

    def onMessage(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        ws.send(event.data)


class EchoServer:
    """The WSSHandler: accepts every connection."""

    def onConnection(self, wss: duplex.WebSocketServer, event: duplex.Event) -> Any:
        return Echo()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9002)
    args = parser.parse_args()
    web = duplex.web_server()
    result = web.start({"HTTPPort": args.port})
    if not result["success"]:
        raise SystemExit(result["errors"][0]["message"])
    duplex.WebSocketServer(
        EchoServer(),
        {"dataType": "auto", "compression": True, "maxMessageSize": 64 * 1024 * 1024, "pingInterval": None},
    )
    print(f"echo server listening on ws://127.0.0.1:{web.HTTPPort}/", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        web.stop()


if __name__ == "__main__":
    main()
