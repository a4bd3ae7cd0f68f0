"""A FastAPI app and a 4D-style WebSocket chat on one port, served by duplex.

Run it::

    cd examples/fastapi_chat && duplex serve chat:ChatServer --path /chat --asgi app:app

then open http://127.0.0.1:8080/ in two browser tabs (``--port 0`` picks a free port: the address
is printed). duplex's WebSocket server takes the upgrades to /chat (chat.py's ``ChatServer``); this
app answers everything else:

    GET  /              the chat page (index.html): it connects to ws://HOST/chat and chats
    GET  /api/rooms     the rooms and how many are in each: {"rooms": [{"name": "lobby", "count": 2}, ...]}
    POST /api/messages  {"room": "lobby", "text": "deploy done", "name": "ops"} says it in the room,
                        through the WebSocket server (``wss.publish()``); answers 201 with
                        {"room": "lobby", "delivered": 2}, how many it reached; 404 for a room
                        that does not exist, 422 for an empty text

The lifespan runs in duplex's ``start()``, before the port opens: it reads the page once and puts it
in the state, with the chat (``chat.CHAT``, which holds the running ``WebSocketServer``), and every
request sees both as ``request.state``. The REST routes answer 503 while no WebSocket server runs
(``duplex serve --asgi app:app`` alone, without ``chat:ChatServer``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from chat import CHAT, MAX_NAME, MAX_TEXT, ROOMS, Chat
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, StringConstraints

PAGE = Path(__file__).with_name("index.html")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    yield {"chat": CHAT, "page": PAGE.read_text(encoding="utf-8")}


app = FastAPI(title="duplex chat", lifespan=lifespan)


def running_chat(request: Request) -> Chat:
    """The chat, for a route that needs its WebSocket server: 503 while none runs."""
    chat: Chat = request.state.chat
    if not chat.running:
        raise HTTPException(
            503,
            "the chat's WebSocket server is not running: "
            "serve it with duplex serve chat:ChatServer --path /chat --asgi app:app",
        )
    return chat


RunningChat = Annotated[Chat, Depends(running_chat)]


class Post(BaseModel):
    """A message said in a room through the REST API."""

    room: str
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME)] = (
        "REST API"
    )


@app.get("/", response_class=HTMLResponse)
async def page(request: Request) -> HTMLResponse:
    return HTMLResponse(request.state.page)


@app.get("/api/rooms")
async def rooms(chat: RunningChat) -> dict[str, list[dict[str, Any]]]:
    return {"rooms": [{"name": room, "count": count} for room, count in chat.counts().items()]}


@app.post("/api/messages", status_code=201)
async def post_message(post: Post, chat: RunningChat) -> dict[str, Any]:
    if post.room not in ROOMS:
        raise HTTPException(404, f"there is no room {post.room!r}: the rooms are {', '.join(ROOMS)}")
    delivered = chat.post(post.room, post.name, post.text)
    return {"room": post.room, "delivered": delivered}
