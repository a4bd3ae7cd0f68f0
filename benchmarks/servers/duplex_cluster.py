"""duplex in a cluster, for ``benchmarks/cluster.py``: a WebServer with a Redis ``broker`` and one
WebSocketServer on ``/ws`` whose clients each join one topic, the one named by their URL's query
(``ws://host:port/ws?topic=t3``), in their connection handler's ``onOpen``. The server itself sends
nothing: the messages come from a ``duplex.AsyncPublisher`` in another process, through Redis.

    python benchmarks/servers/duplex_cluster.py --port P --broker redis://127.0.0.1:6379/0

Prints ``ready`` once it listens, and on SIGUSR1 the line ``stats {json}``: ``web.brokerStats``
(messages and bytes received from Redis, drops) and the number of subscribers per topic.
"""

from __future__ import annotations

import argparse
import json
import signal
from typing import Any

import _common

import duplex

PATH = "/ws"


class Member:
    """The connection handler: joins the topic of the URL's query; ignores what the client sends."""

    def onOpen(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        ws.subscribe(ws.request.query["topic"])

    def onMessage(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        pass


class Server:
    """The WSSHandler: accepts every client that names a topic."""

    def onConnection(self, wss: duplex.WebSocketServer, event: duplex.Event) -> Any:
        return Member() if "topic" in event.request.query else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--broker", required=True, help="redis://host:port/db")
    args = parser.parse_args()
    web = duplex.web_server()
    result = web.start({"HTTPPort": args.port, "IPAddressToListen": _common.HOST, "broker": args.broker})
    if not result["success"]:
        raise SystemExit(result["errors"][0]["message"])
    wss = duplex.WebSocketServer(
        Server(),
        {
            "path": PATH,
            "dataType": "auto",
            "compression": False,
            "maxMessageSize": _common.MAX_MESSAGE_SIZE,
            "pingInterval": None,
        },
    )

    def report(*_: object) -> None:
        topics: dict[str, int] = {}
        for ws in wss.connections:
            for topic in ws.topics:
                topics[topic] = topics.get(topic, 0) + 1
        stats = {"broker": web.brokerStats, "connections": len(wss.connections), "topics": topics}
        print("stats " + json.dumps(stats), flush=True)

    signal.signal(signal.SIGUSR1, report)
    _common.ready()
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
