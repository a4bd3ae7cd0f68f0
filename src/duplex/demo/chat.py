"""The chat demo's server side: a short, complete example of the duplex API.

The page speaks JSON ("object" dataType). From the browser::

    {"type": "join", "name": "Ada"}          once, first
    {"type": "say", "text": "hello"}         each message

To the browsers::

    {"type": "welcome", "name": "Ada", "users": [...]}  to the one who joined, with its name
    {"type": "joined", "name": "Ada", "users": [...]}   to everyone else
    {"type": "said", "name": "Ada", "text": "hello"}    to everyone, sender included
    {"type": "left", "name": "Ada", "users": [...]}     to everyone left

Names are unique among the members (case aside): a second "Ada" becomes "Ada (2)", and the
welcome tells the page which name it got, since the page marks its own messages by name.
"""

from __future__ import annotations

from typing import Any

import duplex

MAX_NAME = 32
MAX_TEXT = 2000


class ChatMember:
    """The connection handler: one per browser tab."""

    def __init__(self) -> None:
        self.name: str | None = None

    def onMessage(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        message = event.data
        if not isinstance(message, dict):
            return
        if message.get("type") == "join" and self.name is None:
            wanted = str(message.get("name") or "guest").strip()[:MAX_NAME] or "guest"
            self.name = unique_name(wanted, names(ws.wss))
            ws.send({"type": "welcome", "name": self.name, "users": names(ws.wss)})
            ws.wss.broadcast({"type": "joined", "name": self.name, "users": names(ws.wss)}, exclude=ws)
        elif message.get("type") == "say" and self.name is not None:
            text = str(message.get("text", ""))[:MAX_TEXT]
            if text.strip():
                ws.wss.broadcast({"type": "said", "name": self.name, "text": text})

    def onTerminate(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        if self.name is not None:
            ws.wss.broadcast({"type": "left", "name": self.name, "users": names(ws.wss)})


class ChatServer:
    """The WSSHandler: everyone may join."""

    def onConnection(self, wss: duplex.WebSocketServer, event: duplex.Event) -> Any:
        return ChatMember()


def unique_name(wanted: str, taken: list[str]) -> str:
    """``wanted``, or ``wanted (2)``, ``(3)``... if a member has it (case aside), at most MAX_NAME long."""
    taken_folded = {name.casefold() for name in taken}
    name, number = wanted, 1
    while name.casefold() in taken_folded:
        number += 1
        suffix = f" ({number})"
        name = wanted[: MAX_NAME - len(suffix)].rstrip() + suffix
    return name


def names(wss: duplex.WebSocketServer) -> list[str]:
    """The names of the members who joined, in order of arrival."""
    members = (connection.handler for connection in wss.connections)
    return [member.name for member in members if isinstance(member, ChatMember) and member.name]
