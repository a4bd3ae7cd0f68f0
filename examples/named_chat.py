"""A chat where every client gives its name in the URL: ws://127.0.0.1:8080/chat?name=Ada

onConnection reads the name from ``event.request.query`` and refuses a client without one by
raising ``duplex.Reject``: that client gets HTTP 400 with the reason, and no connection opens.

    python examples/named_chat.py [--port 8080] [--host 127.0.0.1]

Ctrl-C (or SIGTERM) closes every connection with 1001 and stops.
"""

from __future__ import annotations

import argparse
import sys

import duplex


class Member:
    """The connection handler: one per client, created with the client's name."""

    def __init__(self, name):
        self.name = name

    def onOpen(self, ws, event):
        ws.wss.broadcast(f"{self.name} joined", exclude=ws)

    def onMessage(self, ws, event):
        ws.wss.broadcast(f"{self.name}: {event.data}")

    def onTerminate(self, ws, event):
        ws.wss.broadcast(f"{self.name} left")


class NamedChat:
    """The server handler: only a client that says who it is may join."""

    def onConnection(self, wss, event):
        name = event.request.query.get("name", "")  # "?name=Ada"; a list if given twice
        if not isinstance(name, str) or not name.strip():
            raise duplex.Reject(400, "say who you are: add ?name=yourname to the URL")
        return Member(name.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description="A WebSocket chat whose clients give their name.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080; 0 picks a free one)")
    args = parser.parse_args()

    web = duplex.web_server()
    result = web.start({"HTTPPort": args.port, "IPAddressToListen": args.host})
    if not result["success"]:
        print(f"cannot start the web server: {result['errors'][0]['message']}", file=sys.stderr)
        return 1
    duplex.WebSocketServer(NamedChat(), {"path": "/chat", "dataType": "text"})
    web.run_until_signal(f"named chat on ws://{args.host}:{web.HTTPPort}/chat?name=... (Ctrl-C to stop)")
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
