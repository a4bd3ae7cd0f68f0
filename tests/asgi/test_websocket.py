"""FastAPI ``@app.websocket`` routes on duplex, driven by the ``websockets`` client: echo of text and
bytes, the request seen by the app, subprotocol negotiation, accept headers, close codes and reasons
both ways, refusals (403 for a close before accept, the app's own response with the denial
extension), and ``stop()`` with an app WebSocket open."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from starlette.responses import Response
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from asgi.helpers import TIMEOUT, Journal, Site


def make_app(journal: Journal) -> FastAPI:
    app = FastAPI()

    @app.websocket("/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                journal.note("echo ended", message.get("code"))
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])

    @app.websocket("/whoami")
    async def whoami(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json(
            {
                "path": websocket.url.path,
                "name": websocket.query_params.get("name"),
                "x-client": websocket.headers.get("x-client"),
                "scheme": websocket.url.scheme,
            }
        )
        await websocket.close()

    @app.websocket("/pick")
    async def pick(websocket: WebSocket) -> None:
        offered = websocket.scope["subprotocols"]
        await websocket.accept(subprotocol="b" if "b" in offered else None)
        await websocket.send_text(json.dumps(offered))
        await websocket.close()

    @app.websocket("/headers")
    async def headers(websocket: WebSocket) -> None:
        await websocket.accept(headers=[(b"x-app", b"duplex-test"), (b"set-cookie", b"session=42")])
        await websocket.send_text("with headers")
        await websocket.close()

    @app.websocket("/goodbye")
    async def goodbye(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        await websocket.close(code=4001, reason="bye now")

    @app.websocket("/listen")
    async def listen(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_text("heard " + await websocket.receive_text())
        except WebSocketDisconnect as exc:
            journal.note("disconnect", exc.code)

    @app.websocket("/deny")
    async def deny(websocket: WebSocket) -> None:
        journal.note("deny called")
        await websocket.close(code=1008)

    @app.websocket("/teapot")
    async def teapot(websocket: WebSocket) -> None:
        await websocket.send_denial_response(
            Response("short and stout", status_code=418, headers={"x-teapot": "yes"})
        )

    @app.websocket("/forever")
    async def forever(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("open")
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect as exc:
            journal.note("forever ended", exc.code)
        finally:
            journal.note("forever returned")

    return app


@pytest.fixture
def site(serve_app: Callable[..., Site], journal: Journal) -> Site:
    return serve_app(make_app(journal))


def refusal(target: str, **kwargs: Any) -> InvalidStatus:
    """The refusal of an upgrade the app must refuse."""
    with pytest.raises(InvalidStatus) as info, connect(target, open_timeout=TIMEOUT, proxy=None, **kwargs):
        pass
    return info.value


def test_echo_text_and_bytes(
    site: Site, ws_client: Callable[..., ClientConnection], journal: Journal
) -> None:
    ws = ws_client(site.ws_url("/echo"))
    ws.send("héllo ✓")
    assert ws.recv(timeout=TIMEOUT) == "héllo ✓"
    ws.send(b"\x00\x01\xfe\xff")
    assert ws.recv(timeout=TIMEOUT) == b"\x00\x01\xfe\xff"
    big = bytes(range(256)) * 800  # 200 KiB, several reads on the way in and out
    ws.send(big)
    assert ws.recv(timeout=TIMEOUT) == big
    for number in range(100):
        ws.send(f"message {number}")
    assert [ws.recv(timeout=TIMEOUT) for _ in range(100)] == [f"message {number}" for number in range(100)]
    ws.close()
    assert journal.wait("echo ended") == 1000


def test_app_sees_the_path_query_and_headers(site: Site, ws_client: Callable[..., ClientConnection]) -> None:
    ws = ws_client(site.ws_url("/whoami?name=ada%20l"), additional_headers={"X-Client": "pytest"})
    assert json.loads(ws.recv(timeout=TIMEOUT)) == {
        "path": "/whoami",
        "name": "ada l",
        "x-client": "pytest",
        "scheme": "ws",
    }


def test_subprotocol_negotiation(site: Site, ws_client: Callable[..., ClientConnection]) -> None:
    ws = ws_client(site.ws_url("/pick"), subprotocols=["a", "b"])
    assert ws.subprotocol == "b"
    assert json.loads(ws.recv(timeout=TIMEOUT)) == ["a", "b"]
    assert ws.response is not None
    assert ws.response.headers["Sec-WebSocket-Protocol"] == "b"

    other = ws_client(site.ws_url("/pick"), subprotocols=["a"])
    assert other.subprotocol is None
    assert json.loads(other.recv(timeout=TIMEOUT)) == ["a"]


def test_accept_headers_reach_the_client(site: Site, ws_client: Callable[..., ClientConnection]) -> None:
    ws = ws_client(site.ws_url("/headers"))
    assert ws.response is not None
    assert ws.response.status_code == 101
    assert ws.response.headers["x-app"] == "duplex-test"
    assert ws.response.headers["set-cookie"] == "session=42"
    assert ws.recv(timeout=TIMEOUT) == "with headers"


def test_app_closes_with_a_code_and_reason(site: Site, ws_client: Callable[..., ClientConnection]) -> None:
    ws = ws_client(site.ws_url("/goodbye"))
    ws.send("time to go")
    with pytest.raises(ConnectionClosed) as info:
        ws.recv(timeout=TIMEOUT)
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4001, "bye now")


def test_client_close_code_reaches_the_app(
    site: Site, ws_client: Callable[..., ClientConnection], journal: Journal
) -> None:
    ws = ws_client(site.ws_url("/listen"))
    ws.send("one")
    assert ws.recv(timeout=TIMEOUT) == "heard one"
    ws.close(code=4002, reason="client leaving")
    assert journal.wait("disconnect") == 4002
    # the server answered the close: the closing handshake completed
    assert ws.protocol.close_rcvd is not None


def test_close_before_accept_is_http_403(site: Site, journal: Journal) -> None:
    refused = refusal(site.ws_url("/deny"))
    assert refused.response.status_code == 403
    assert journal.values("deny called") == [None]


def test_denial_response_with_a_status_and_body(site: Site) -> None:
    refused = refusal(site.ws_url("/teapot"))
    assert refused.response.status_code == 418
    assert refused.response.body == b"short and stout"
    assert refused.response.headers["x-teapot"] == "yes"


def test_unknown_websocket_route_is_refused_by_the_app(site: Site) -> None:
    # FastAPI answers a WebSocket on no route by closing before accept: 403
    assert refusal(site.ws_url("/nowhere")).response.status_code == 403


def test_stop_with_an_app_websocket_open(
    site: Site, ws_client: Callable[..., ClientConnection], journal: Journal
) -> None:
    ws = ws_client(site.ws_url("/forever"))
    assert ws.recv(timeout=TIMEOUT) == "open"
    site.web.stop()
    assert site.web.isRunning is False
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=TIMEOUT)
    journal.wait("forever returned")
