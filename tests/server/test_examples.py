"""The seed's two examples (WebSocketServerClass.md), written in Python as close to the 4D code as
the language allows (the seed's class and method names included), run against real clients: the
uppercase echo and the chat."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from websockets.sync.client import ClientConnection

import duplex

TIMEOUT = 5.0

# -- the uppercase echo ------------------------------------------------------------------------------


class myConnectionHandler:
    def onMessage(self, ws, message):
        # resends the message in uppercase
        ws.send(message.data.upper())


class myServerHandler:
    def onConnection(self, wss, event):
        # returns an instance of the user class that will handle the messages
        return myConnectionHandler()


def test_uppercase_echo(web: duplex.WebServer, client: Callable[..., ClientConnection]) -> None:
    handler = myServerHandler()
    wss = duplex.WebSocketServer(handler, {"webServer": web})
    try:
        ws = client(f"ws://127.0.0.1:{web.HTTPPort}/")
        ws.send("hello, world")
        assert ws.recv(timeout=TIMEOUT) == "HELLO, WORLD"
        ws.send("déjà vu")
        assert ws.recv(timeout=TIMEOUT) == "DÉJÀ VU"
    finally:
        wss.terminate()
    assert wss.terminated is True


# -- the chat --------------------------------------------------------------------------------------

log_file: list[str] = []


def VerifyAddress(address: str) -> bool:
    return address == "127.0.0.1"


def LogFile(text: str) -> None:
    log_file.append(text)


class myWSServerHandler:
    def onConnection(self, wss, event):
        if VerifyAddress(event.request.remoteAddress):
            # The VerifyAddress method validates the client address
            # The returned WSConnectionHandler object will be used
            # by duplex to instantiate the WebSocketConnection object
            # related to this connection
            return myChatConnectionHandler()
        else:
            # The connection is cancelled
            return None

    def onOpen(self, wss, event):
        LogFile("*** Server started")

    def onTerminate(self, wss, event):
        LogFile("*** Server closed")

    def onError(self, wss, event):
        LogFile("!!! Server error: " + event.errors[0]["message"])


class myChatConnectionHandler:
    def onMessage(self, ws, message):
        # Resend the message to all chat clients
        self.broadcast(ws, message.data)

    def onOpen(self, ws, message):
        # Send a message to new connected users
        ws.send("Welcome on the chat!")
        # Send "New client connected" message to all other chat clients
        self.broadcast(ws, "New client connected")

    def onTerminate(self, ws, message):
        # Send "Client disconnected" message to all other chat clients
        self.broadcast(ws, "Client disconnected")

    def broadcast(self, ws, message):
        # Resend the message to all chat clients
        for client in ws.wss.connections:
            # Check that the id is not the current connection
            if client.id != ws.id:
                client.send(message)


def received(ws: ClientConnection, count: int) -> list[str]:
    return [str(ws.recv(timeout=TIMEOUT)) for _ in range(count)]


def nothing_more(ws: ClientConnection) -> None:
    with pytest.raises(TimeoutError):
        ws.recv(timeout=0.2)


def test_chat(web: duplex.WebServer, client: Callable[..., ClientConnection]) -> None:
    log_file.clear()
    wss = duplex.WebSocketServer(myWSServerHandler(), {"webServer": web, "path": "/chat"})
    assert log_file == ["*** Server started"]
    chat = f"ws://127.0.0.1:{web.HTTPPort}/chat"
    try:
        # Each client waits for its welcome before the next joins, so that the order is known.
        alice = client(chat)
        assert received(alice, 1) == ["Welcome on the chat!"]
        bob = client(chat)
        assert received(bob, 1) == ["Welcome on the chat!"]
        assert received(alice, 1) == ["New client connected"]
        carol = client(chat)
        assert received(carol, 1) == ["Welcome on the chat!"]
        assert received(alice, 1) == ["New client connected"]
        assert received(bob, 1) == ["New client connected"]
        assert len(wss.connections) == 3

        alice.send("Hi, I'm Alice")
        assert received(bob, 1) == ["Hi, I'm Alice"]
        assert received(carol, 1) == ["Hi, I'm Alice"]
        bob.send("Hello Alice")
        assert received(alice, 1) == ["Hello Alice"]
        assert received(carol, 1) == ["Hello Alice"]
        nothing_more(alice)  # nobody gets their own messages back
        nothing_more(bob)

        carol.close()
        assert received(alice, 1) == ["Client disconnected"]
        assert received(bob, 1) == ["Client disconnected"]
        nothing_more(alice)
        nothing_more(bob)
        assert len(wss.connections) == 2
    finally:
        wss.terminate()
    assert log_file == ["*** Server started", "*** Server closed"]
