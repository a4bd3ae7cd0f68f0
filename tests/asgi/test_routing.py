"""Who answers a request when a web server has static files, a WebSocketServer and an ASGI app: an
upgrade on the WebSocketServer's path goes to it, a GET or HEAD of a file under rootFolder is served
as static, everything else goes to the app (upgrades included). HEAD, keep-alive and pipelining
behave for the app as they do for static files."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import PlainTextResponse
from starlette.responses import StreamingResponse
from websockets.sync.client import ClientConnection

import duplex
from asgi.helpers import TIMEOUT, RawHttp, Site

INDEX = b"<!doctype html><title>static</title>index\n"
A_TXT = b"a static text file\n"


class Tagged:
    """A connectionHandler: answers each message tagged as the 4D server's."""

    def onMessage(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        ws.send(f"4d: {event.data}")


class TaggedServer:
    def onConnection(self, wss: duplex.WebSocketServer, event: duplex.Event) -> Tagged:
        return Tagged()


def make_app() -> FastAPI:
    app = FastAPI()

    @app.api_route("/hello", methods=["GET", "HEAD"])
    async def hello() -> dict[str, str]:
        return {"hello": "from the app"}

    @app.get("/a.txt")
    async def shadowed() -> PlainTextResponse:
        return PlainTextResponse("the app's a.txt")

    @app.post("/a.txt")
    async def post_a(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"the app got a POST of {len(await request.body())} bytes")

    @app.get("/port")
    async def port(request: Request) -> dict[str, Any]:
        assert request.client is not None
        return {"port": request.client.port}

    @app.get("/chunks")
    async def chunks() -> StreamingResponse:
        async def pieces() -> AsyncIterator[bytes]:
            for number in range(3):
                yield f"piece {number}\n".encode()
                await asyncio.sleep(0.02)

        return StreamingResponse(pieces(), media_type="text/plain")

    async def app_echo(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_text(f"app: {await websocket.receive_text()}")
        except WebSocketDisconnect:
            pass

    app.add_api_websocket_route("/other", app_echo)
    app.add_api_websocket_route("/ws4d", app_echo)  # the WebSocketServer's path: never reached
    return app


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "www"
    folder.mkdir()
    (folder / "index.html").write_bytes(INDEX)
    (folder / "a.txt").write_bytes(A_TXT)
    return folder


@pytest.fixture
def site(serve_app: Callable[..., Site], root: Path) -> Site:
    site = serve_app(make_app(), rootFolder=str(root))
    duplex.WebSocketServer(TaggedServer(), {"path": "/ws4d", "dataType": "text", "webServer": site.web})
    return site


@pytest.fixture
def http(site: Site, http_client: Callable[..., httpx.Client]) -> httpx.Client:
    return http_client(site)


def test_existing_static_file_is_served_before_the_app(http: httpx.Client) -> None:
    response = http.get("/a.txt")
    assert response.status_code == 200
    assert response.content == A_TXT
    assert http.get("/index.html").content == INDEX


def test_everything_else_goes_to_the_app(http: httpx.Client) -> None:
    assert http.get("/hello").json() == {"hello": "from the app"}
    missing = http.get("/missing")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}  # FastAPI's 404
    # a file that is not there is the app's to answer, extension or not
    assert http.get("/nothing.txt").json() == {"detail": "Not Found"}
    # only GET and HEAD are static: a POST to a static file's path is the app's
    posted = http.post("/a.txt", content=b"12345")
    assert posted.status_code == 200
    assert posted.text == "the app got a POST of 5 bytes"


def test_upgrades_go_to_the_websocket_server_then_the_app(
    site: Site, ws_client: Callable[..., ClientConnection]
) -> None:
    ws4d = ws_client(site.ws_url("/ws4d"))
    ws4d.send("hi")
    assert ws4d.recv(timeout=TIMEOUT) == "4d: hi"
    other = ws_client(site.ws_url("/other"))
    other.send("hi")
    assert other.recv(timeout=TIMEOUT) == "app: hi"


def test_without_an_app_what_is_not_static_is_404(
    new_web: Callable[..., duplex.WebServer], root: Path
) -> None:
    web = new_web()
    assert web.start({"HTTPPort": 0, "rootFolder": str(root)})["success"] is True
    with httpx.Client(base_url=f"http://127.0.0.1:{web.HTTPPort}", timeout=TIMEOUT, trust_env=False) as http:
        assert http.get("/a.txt").content == A_TXT
        assert http.get("/hello").status_code == 404


def test_head_of_an_app_route_has_the_get_head_and_no_body(
    site: Site, raw_http: Callable[[Site], RawHttp]
) -> None:
    connection = raw_http(site)
    got = connection.request("GET", "/hello")
    head = connection.request("HEAD", "/hello")
    # Had the HEAD answer carried a body, this would read it as the next response's head.
    after = connection.request("GET", "/hello")
    assert got.status == head.status == after.status == 200
    assert got.body == after.body == b'{"hello":"from the app"}'
    assert head.body == b""
    for name in ("content-type", "content-length"):
        assert head.header(name) == got.header(name), name


def test_keep_alive_serves_app_and_static_on_one_connection(http: httpx.Client) -> None:
    ports = set()
    for _ in range(3):
        ports.add(http.get("/port").json()["port"])
        assert http.get("/a.txt").content == A_TXT
        assert http.get("/hello").headers.get("connection", "").lower() != "close"
    assert len(ports) == 1, f"the app saw requests from several connections: {ports}"


def test_pipelined_requests_are_answered_in_order(site: Site, raw_http: Callable[[Site], RawHttp]) -> None:
    connection = raw_http(site)
    connection.send(
        b"GET /chunks HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        b"GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        b"POST /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc"
        b"HEAD /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        b"GET /port HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    responses = [connection.read_response(head_request=index == 4) for index in range(6)]
    assert [response.status for response in responses] == [200] * 6
    assert responses[0].body == b"piece 0\npiece 1\npiece 2\n"
    assert responses[1].body == A_TXT
    assert responses[2].body == b'{"hello":"from the app"}'
    assert responses[3].body == b"the app got a POST of 3 bytes"
    assert responses[4].body == b""
    assert responses[5].body == b'{"port":%d}' % connection.local_port
    assert connection.read_until_closed() == (b"", True)
