"""duplex through its public 4D API: a WebServer, a WebSocketServer, a connection handler.

Echo: ``onMessage`` sends ``event.data`` back (dataType "auto": text stays text, binary stays
binary). Broadcast: the text ``broadcast <count>`` makes the server call ``wss.broadcast()``
<count> times. The web server runs on its own thread, on uvloop (duplex picks it when installed).
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import _common

import duplex


class Echo:
    """The connection handler of the echo mode."""

    def onMessage(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        ws.send(event.data)


class EchoOrBroadcast:
    """The connection handler of the broadcast mode."""

    def onMessage(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        data = event.data
        count = _common.parse_broadcast(data) if isinstance(data, str) else None
        if count is None:
            ws.send(data)
            return
        wss = ws.wss
        for _ in range(count):
            wss.broadcast(_common.broadcast_message(next(SEQ)))


SEQ = itertools.count(1)  # the broadcast counter, shared by all connections


class Server:
    """The WSSHandler: accepts every connection."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def onConnection(self, wss: duplex.WebSocketServer, event: duplex.Event) -> Any:
        return Echo() if self.mode == "echo" else EchoOrBroadcast()


def main() -> None:
    args = _common.parse_args(__doc__)
    web = duplex.web_server()
    result = web.start({"HTTPPort": args.port, "IPAddressToListen": _common.HOST})
    if not result["success"]:
        raise SystemExit(result["errors"][0]["message"])
    duplex.WebSocketServer(
        Server(args.mode),
        {
            "dataType": "auto",
            "compression": False,
            "maxMessageSize": _common.MAX_MESSAGE_SIZE,
            "pingInterval": None,
        },
    )
    _common.ready()
    threading.Event().wait()


if __name__ == "__main__":
    main()
