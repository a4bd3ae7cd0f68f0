"""The FastAPI app of ``benchmarks/asgi.py``, served as ``fastapi_app:app`` by every ASGI server
(duplex, uvicorn, hypercorn, granian), each started by its own command line.

- ``GET /json/{tag}``: ``{"message": "Hello, World!", "tag": tag}``, FastAPI's JSON response
  (the path parameter lets the load generator tell every response from the others);
- ``/ws``: a WebSocket that echoes every message, text as text and bytes as bytes, until the
  client disconnects.
"""

from __future__ import annotations

from fastapi import FastAPI, WebSocket

app = FastAPI()


@app.get("/json/{tag}")
async def json_route(tag: str) -> dict[str, str]:
    return {"message": "Hello, World!", "tag": tag}


@app.websocket("/ws")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await websocket.send_text(message["text"])
        else:
            await websocket.send_bytes(message["bytes"])
