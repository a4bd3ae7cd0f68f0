"""The uppercase echo: every text message comes back in capitals.

Run it, then connect a WebSocket client to ws://127.0.0.1:8080/ws:

    python examples/uppercase.py [--port 8080] [--host 127.0.0.1]

Ctrl-C (or SIGTERM) closes every connection with 1001 and stops the web server.
"""

from __future__ import annotations

import argparse
import sys

import duplex


class UpperCase:
    """The connection handler: one instance per client."""

    def onMessage(self, ws, event):
        # dataType is "text", so event.data is a str.
        ws.send(event.data.upper())


class Server:
    """The server handler: decides on each new client."""

    def onConnection(self, wss, event):
        return UpperCase()  # returning None would refuse the client (HTTP 403)


def main() -> int:
    parser = argparse.ArgumentParser(description="A WebSocket server that answers in uppercase.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080; 0 picks a free one)")
    args = parser.parse_args()

    web = duplex.web_server()
    result = web.start({"HTTPPort": args.port, "IPAddressToListen": args.host})
    if not result["success"]:
        print(f"cannot start the web server: {result['errors'][0]['message']}", file=sys.stderr)
        return 1
    duplex.WebSocketServer(Server(), {"path": "/ws", "dataType": "text"})
    # Serve until Ctrl-C or SIGTERM, then stop the web server: it terminates the WebSocket server.
    web.run_until_signal(f"uppercase server on ws://{args.host}:{web.HTTPPort}/ws (Ctrl-C to stop)")
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
