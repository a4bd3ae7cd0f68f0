"""The chat: every message a client sends goes to all the other clients.

Run it, then connect two or more WebSocket clients to ws://127.0.0.1:8080/chat:

    python examples/chat.py [--port 8080] [--host 127.0.0.1]

Ctrl-C (or SIGTERM) closes every connection with 1001 and stops the web server.
"""

from __future__ import annotations

import argparse
import sys

import duplex


class ChatConnection:
    """The connection handler: one instance per chat client."""

    def onOpen(self, ws, event):
        # Greet the newcomer, then tell everyone else.
        ws.send("Welcome on the chat!")
        self.broadcast(ws, "New client connected")

    def onMessage(self, ws, event):
        # Pass the message on to all the other clients.
        self.broadcast(ws, event.data)

    def onTerminate(self, ws, event):
        self.broadcast(ws, "Client disconnected")

    def broadcast(self, ws, message):
        # The seed's loop: every open connection of this server but the sender's.
        # (ws.wss.broadcast(message, exclude=ws) does the same in one call, and faster.)
        for client in ws.wss.connections:
            if client.id != ws.id:
                client.send(message)


class ChatServer:
    """The server handler: accepts every client and logs the server's life."""

    def onConnection(self, wss, event):
        print(f"client from {event.request.remoteAddress}", flush=True)
        return ChatConnection()

    def onOpen(self, wss, event):
        print("*** Server started", flush=True)

    def onTerminate(self, wss, event):
        print("*** Server closed", flush=True)

    def onError(self, wss, event):
        print(f"!!! Server error: {event.errors[0]['message']}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description="A WebSocket chat server.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080; 0 picks a free one)")
    args = parser.parse_args()

    web = duplex.web_server()
    result = web.start({"HTTPPort": args.port, "IPAddressToListen": args.host})
    if not result["success"]:
        print(f"cannot start the web server: {result['errors'][0]['message']}", file=sys.stderr)
        return 1
    duplex.WebSocketServer(ChatServer(), {"path": "/chat"})
    # Serve until Ctrl-C or SIGTERM, then stop the web server: it terminates the WebSocket server.
    web.run_until_signal(f"chat server on ws://{args.host}:{web.HTTPPort}/chat (Ctrl-C to stop)")
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
