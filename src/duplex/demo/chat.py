"""The chat demo's server side: a short, complete example of the duplex API.

The chat has a few rooms (ROOMS). Each is a topic, "room:lobby" and so on: every tab is subscribed
to the topic of its room, and what is said in a room is published to that topic, so it reaches that
room's tabs only. A tab is in the lobby from the moment it connects, and can go to another room
before or after its user joins. A tab that has not joined sees its room's messages, but is not one
of its "users" and comes and goes unannounced.

The page speaks JSON ("object" dataType). From the browser::

    {"type": "room", "room": "python"}                 go to a room (or stay, and hear about it again)
    {"type": "join", "name": "Ada", "room": "python"}  once; no "room" (or null): the tab's room
    {"type": "say", "text": "hello"}                   to the room

To the browsers::

    {"type": "room", "room": "python", "rooms": [...], "users": [...]}
        to the tab that sent "room": the room it is in now, all the rooms, the room's users
    {"type": "welcome", "name": "Ada", "room": "python", "rooms": [...], "users": [...]}
        to the one who joined: the same, and the name it got
    {"type": "joined", "name": "Ada", "users": [...]}   to the others in the room it joined or moved to
    {"type": "said", "name": "Ada", "text": "hello"}    to the room, sender included
    {"type": "left", "name": "Ada", "users": [...]}     to those still in the room it closed or moved out of
    {"type": "error", "text": "..."}                    to the tab whose "room" or "join" named no room

"users" are the names of the members in the room, in order of arrival. A "room" or "join" whose
room is not one of ROOMS (an unknown name, another case, a number...) is answered with "error" and
otherwise ignored: the tab stays where it was, and a refused "join" does not join.

Names are unique among all the members, whatever their room (case aside): a second "Ada" becomes
"Ada (2)", and the welcome tells the page which name it got, since the page marks its own messages
by name.

With a broker (``duplex serve --broker URL``, several processes), what is said, joined and left
reaches the room's tabs in every process, since it is published to the room's topic. Each process
knows only its own members, so "users" lists them, names are unique per process, and the page adds
the members it hears from in other processes (they joined, or spoke) to its list.
"""

from __future__ import annotations

import json
from typing import Any

import duplex

MAX_NAME = 32
MAX_TEXT = 2000
ROOMS = ("lobby", "python", "random")
LOBBY = ROOMS[0]


class ChatMember:
    """The connection handler: one per browser tab."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.room = LOBBY

    def onOpen(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        ws.subscribe(topic(self.room))

    def onMessage(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        message = event.data
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind == "room":
            room = message.get("room")
            if room not in ROOMS:
                ws.send(no_such_room(room))
                return
            left = self.enter(ws, room)
            ws.send({"type": "room", **about(ws.wss, room)})
            if self.name is not None and room != left:
                self.announce(ws, "left", left)
                self.announce(ws, "joined", room)
        elif kind == "join" and self.name is None:
            room = self.room if message.get("room") is None else message["room"]
            if room not in ROOMS:
                ws.send(no_such_room(room))
                return
            wanted = str(message.get("name") or "guest").strip()[:MAX_NAME] or "guest"
            self.name = unique_name(wanted, names(ws.wss))
            self.enter(ws, room)
            ws.send({"type": "welcome", "name": self.name, **about(ws.wss, room)})
            self.announce(ws, "joined", room)
        elif kind == "say" and self.name is not None:
            text = str(message.get("text", ""))[:MAX_TEXT]
            if text.strip():
                ws.wss.publish(topic(self.room), {"type": "said", "name": self.name, "text": text})

    def onTerminate(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        # The connection has already left its topic and ws.wss.connections.
        if self.name is not None:
            self.announce(ws, "left", self.room)

    def enter(self, ws: duplex.WebSocketConnection, room: str) -> str:
        """Move this tab's subscription to ``room``; returns the room it was in."""
        left, self.room = self.room, room
        ws.unsubscribe(topic(left))
        ws.subscribe(topic(room))
        return left

    def announce(self, ws: duplex.WebSocketConnection, kind: str, room: str) -> None:
        """Tell the others in ``room`` that this member "joined" or "left" it, and who is there now."""
        ws.wss.publish(
            topic(room), {"type": kind, "name": self.name, "users": names(ws.wss, room)}, exclude=ws
        )


class ChatServer:
    """The WSSHandler: everyone may join."""

    def onConnection(self, wss: duplex.WebSocketServer, event: duplex.Event) -> Any:
        return ChatMember()


def topic(room: str) -> str:
    """The topic of a room: "room:lobby"..."""
    return f"room:{room}"


def about(wss: duplex.WebSocketServer, room: str) -> dict[str, Any]:
    """What a tab is told of the room it is in."""
    return {"room": room, "rooms": list(ROOMS), "users": names(wss, room)}


def no_such_room(room: Any) -> dict[str, Any]:
    """The answer to a "room" or "join" naming no room: what it named (cut short), and the rooms."""
    shown = json.dumps(room, ensure_ascii=False)
    if len(shown) > MAX_NAME:
        shown = shown[: MAX_NAME - 1] + "…"
    return {"type": "error", "text": f"there is no room {shown}: the rooms are {', '.join(ROOMS)}"}


def unique_name(wanted: str, taken: list[str]) -> str:
    """``wanted``, or ``wanted (2)``, ``(3)``... if a member has it (case aside), at most MAX_NAME long."""
    taken_folded = {name.casefold() for name in taken}
    name, number = wanted, 1
    while name.casefold() in taken_folded:
        number += 1
        suffix = f" ({number})"
        name = wanted[: MAX_NAME - len(suffix)].rstrip() + suffix
    return name


def names(wss: duplex.WebSocketServer, room: str | None = None) -> list[str]:
    """The names of the members who joined (those in ``room`` only, if given), in order of arrival."""
    members = (connection.handler for connection in wss.connections)
    return [
        member.name
        for member in members
        if isinstance(member, ChatMember) and member.name and room in (None, member.room)
    ]
