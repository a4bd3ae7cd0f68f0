"""The chat's WebSocket side, in 4D style: the WSSHandler ``ChatServer`` and its connection handler
``Member``. ``duplex serve chat:ChatServer --path /chat --asgi app:app`` serves it at /chat, beside
the FastAPI app of app.py, on one port.

A client connects to ``ws://HOST/chat?name=Ada&room=lobby`` (no ``room``: the lobby). Each room is a
topic: a member is subscribed to its room's topic, and what is said in a room is published to it, so
it reaches that room's members only. To go to another room, a client connects again.

The client sends plain text: each message is said in its room. The server sends JSON text::

    {"type": "welcome", "id": 3, "name": "Ada", "room": "lobby", "members": ["Bob", "Ada"]}
        to the newcomer: its connection's id, and who is in the room (in order of arrival)
    {"type": "joined", "name": "Ada", "room": "lobby"}      to the others in the room
    {"type": "said", "id": 3, "name": "Ada", "room": "lobby", "text": "hi", "via": "chat"}
        to the room, sender included (a page marks its own messages by ``id``)
    {"type": "left", "name": "Ada", "room": "lobby"}        to those still in the room

app.py's ``POST /api/messages`` says something in a room from outside: the same "said" message,
with ``"id": null`` and ``"via": "rest"``, published through :data:`CHAT`, which holds the running
``WebSocketServer`` (``ChatServer.onOpen`` puts it there).

A client without a name is refused with HTTP 400, one naming no room with HTTP 404
(``duplex.Reject``).
"""

from __future__ import annotations

import duplex

ROOMS = ("lobby", "python", "random")
MAX_NAME = 32
MAX_TEXT = 2000


class Chat:
    """What the REST routes need from the WebSocket side: the running server, and the rooms."""

    def __init__(self):
        self.wss = None  # the WebSocketServer, while it runs

    @property
    def running(self):
        return self.wss is not None

    def counts(self):
        """Each room and how many are in it now: {"lobby": 2, ...} (with a broker, in every process)."""
        return {room: self.wss.count(room) for room in ROOMS}

    def post(self, room, name, text):
        """Say ``text`` in ``room`` as ``name`` from outside the chat; returns how many are in it."""
        self.wss.publish(room, said(None, name, room, text, via="rest"))
        return self.wss.count(room)


#: The one Chat of the process, shared by ChatServer and the FastAPI app.
CHAT = Chat()


class Member:
    """The connection handler: one per client, with the name and room it connected with."""

    def __init__(self, name, room):
        self.name = name
        self.room = room

    def onOpen(self, ws, event):
        ws.subscribe(self.room)
        ws.send(
            {
                "type": "welcome",
                "id": ws.id,
                "name": self.name,
                "room": self.room,
                "members": members(ws.wss, self.room),
            }
        )
        ws.wss.publish(self.room, {"type": "joined", "name": self.name, "room": self.room}, exclude=ws)

    def onMessage(self, ws, event):
        text = str(event.data)[:MAX_TEXT]
        if text.strip():
            ws.wss.publish(self.room, said(ws.id, self.name, self.room, text, via="chat"))

    def onTerminate(self, ws, event):
        # The connection has already left its topic: the others are told.
        ws.wss.publish(self.room, {"type": "left", "name": self.name, "room": self.room})


class ChatServer:
    """The WSSHandler: a client says who it is and where it goes in the URL."""

    def onConnection(self, wss, event):
        query = event.request.query
        name = query.get("name", "")  # a list if given twice
        room = query.get("room", ROOMS[0])
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME:
            raise duplex.Reject(400, f"say who you are (1 to {MAX_NAME} characters): /chat?name=Ada")
        if room not in ROOMS:
            raise duplex.Reject(404, f"there is no room {room!r}: the rooms are {', '.join(ROOMS)}")
        return Member(name.strip(), room)

    def onOpen(self, wss, event):
        CHAT.wss = wss  # from now on the REST routes reach the chat

    def onTerminate(self, wss, event):
        if CHAT.wss is wss:
            CHAT.wss = None


def said(sender, name, room, text, via):
    """The message that says ``text`` in ``room``; ``sender`` is the connection's id (None: REST)."""
    return {"type": "said", "id": sender, "name": name, "room": room, "text": text, "via": via}


def members(wss, room):
    """The names of the members in ``room``, in order of arrival."""
    return [
        connection.handler.name
        for connection in wss.connections
        if isinstance(connection.handler, Member) and connection.handler.room == room
    ]
