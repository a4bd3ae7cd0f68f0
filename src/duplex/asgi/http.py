"""An ASGI application answering one HTTP request: ``receive`` and ``send`` over an
:class:`~duplex.http.exchange.Exchange`."""

from __future__ import annotations

from typing import Any

from ..http.exchange import Exchange
from .scope import http_scope
from .types import ASGIApp, Message

__all__ = ["serve_http"]

_DISCONNECT: Message = {"type": "http.disconnect"}


async def serve_http(app: ASGIApp, exchange: Exchange, state: dict[str, Any]) -> None:
    """Run ``app`` on the request in ``exchange``; its exceptions propagate (the HTTP connection
    logs them and answers 500, or closes once the response has begun)."""
    body_read = False

    async def receive() -> Message:
        nonlocal body_read
        if not body_read:
            chunk = await exchange.receive_body()
            if chunk is None:
                body_read = True
                return _DISCONNECT
            body, more = chunk
            body_read = not more
            return {"type": "http.request", "body": body, "more_body": more}
        # The body is read: what comes next is the client leaving (or the response ending).
        await exchange.wait_disconnect()
        return _DISCONNECT

    async def send(message: Message) -> None:
        kind = message["type"]
        if exchange.lost:
            return  # the client is gone: specification 2.3 drops what is sent
        if kind == "http.response.body":
            if exchange.write_body(message.get("body", b""), message.get("more_body", False)):
                await exchange.drain()  # the client does not read: hold the application back
        elif kind == "http.response.start":
            exchange.start_response(message["status"], message.get("headers", ()))
        else:
            raise RuntimeError(
                f"an ASGI http application sends http.response.start, then http.response.body; got {kind!r}"
            )

    await app(http_scope(exchange, state), receive, send)
