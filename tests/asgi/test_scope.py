"""The ``http`` and ``websocket`` scopes and the request messages, as the ASGI 3.0 specification
words them, seen by a raw ASGI app (no framework in between) that notes what it gets."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from asgi.helpers import TIMEOUT, Journal, RawHttp, Site


def make_app(journal: Journal) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            journal.note("lifespan scope", dict(scope))
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    if "state" in scope:
                        scope["state"]["started"] = "yes"
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "http":
            messages = []
            while True:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
            journal.note("scope", {**scope, "headers": list(scope["headers"])})
            journal.note("messages", messages)
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"ok"})
        else:
            journal.note("connect", await receive())
            journal.note("scope", {**scope, "headers": list(scope["headers"])})
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": "noted"})
            if (await receive())["type"] == "websocket.receive":
                await send({"type": "websocket.close", "code": 1000})

    return app


def header_values(scope: dict[str, Any], name: bytes) -> list[bytes]:
    return [value for key, value in scope["headers"] if key == name]


def check_common(scope: dict[str, Any]) -> None:
    """What every http and websocket scope must hold, typed as the specification says."""
    assert scope["asgi"]["version"] == "3.0"
    if "spec_version" in scope["asgi"]:
        assert isinstance(scope["asgi"]["spec_version"], str)
        assert scope["asgi"]["spec_version"].startswith("2.")
    assert scope["http_version"] == "1.1"
    assert isinstance(scope["path"], str)
    assert isinstance(scope["raw_path"], bytes)
    assert isinstance(scope["query_string"], bytes)
    assert scope["root_path"] == ""
    for item in scope["headers"]:
        assert len(item) == 2
        name, value = item
        assert isinstance(name, bytes)
        assert isinstance(value, bytes)
        assert name == name.lower(), name
    host, port = scope["client"]
    assert isinstance(host, str)
    assert isinstance(port, int)
    host, port = scope["server"]
    assert isinstance(host, str)
    assert isinstance(port, int)
    assert isinstance(scope["state"], dict)
    assert scope["state"].get("started") == "yes"  # what the lifespan startup put there
    assert isinstance(scope.get("extensions", {}), dict)


@pytest.fixture
def site(serve_app: Callable[..., Site], journal: Journal) -> Site:
    return serve_app(make_app(journal))


def test_lifespan_scope(site: Site, journal: Journal) -> None:
    scope = journal.wait("lifespan scope")
    assert scope["type"] == "lifespan"
    assert scope["asgi"]["version"] == "3.0"
    assert isinstance(scope["state"], dict)


def test_http_scope(site: Site, raw_http: Callable[[Site], RawHttp], journal: Journal) -> None:
    connection = raw_http(site)
    connection.send(
        b"GET /some/path%20x/caf%C3%A9?q=1&r=%C3%A9&empty= HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\n"
        b"X-Custom: Value With Case\r\n"
        b"X-Dup: 1\r\n"
        b"x-dup: 2\r\n"
        b"\r\n"
    )
    assert connection.read_response().body == b"ok"
    scope = journal.wait("scope")
    check_common(scope)
    assert scope["type"] == "http"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/some/path x/café"
    assert scope["raw_path"] == b"/some/path%20x/caf%C3%A9"
    assert scope["query_string"] == b"q=1&r=%C3%A9&empty="
    assert header_values(scope, b"host") == [b"127.0.0.1"]
    assert header_values(scope, b"x-custom") == [b"Value With Case"]
    assert header_values(scope, b"x-dup") == [b"1", b"2"]  # both, in order
    assert tuple(scope["client"]) == ("127.0.0.1", connection.local_port)
    assert tuple(scope["server"]) == ("127.0.0.1", site.port)
    [message] = journal.wait("messages")
    assert message["type"] == "http.request"
    assert message.get("body", b"") == b""
    assert message.get("more_body", False) is False


def test_http_request_messages_carry_the_body(
    site: Site, raw_http: Callable[[Site], RawHttp], journal: Journal
) -> None:
    connection = raw_http(site)
    response = connection.request("PATCH", "/things/1", "Content-Type: text/plain\r\n", body=b"hello, body")
    assert response.status == 200
    scope = journal.wait("scope")
    assert scope["method"] == "PATCH"
    assert scope["query_string"] == b""
    assert header_values(scope, b"content-length") == [b"11"]
    messages = journal.wait("messages")
    assert all(message["type"] == "http.request" for message in messages)
    assert all(isinstance(message.get("body", b""), bytes) for message in messages)
    assert b"".join(message.get("body", b"") for message in messages) == b"hello, body"
    assert [message.get("more_body", False) for message in messages][-1] is False


def test_http_1_0_request(site: Site, raw_http: Callable[[Site], RawHttp], journal: Journal) -> None:
    connection = raw_http(site)
    connection.send(b"GET /old HTTP/1.0\r\n\r\n")
    assert connection.read_response().body == b"ok"
    assert journal.wait("scope")["http_version"] == "1.0"


def test_https_scope(
    serve_app: Callable[..., Site], journal: Journal, certificate_folder: Path, client_ssl: ssl.SSLContext
) -> None:
    site = serve_app(
        make_app(journal), HTTPSEnabled=True, HTTPSPort=0, certificateFolder=str(certificate_folder)
    )
    with httpx.Client(verify=client_ssl, timeout=TIMEOUT, trust_env=False) as http:
        assert http.get(site.https_url("/secure?x=1")).text == "ok"
    scope = journal.wait("scope")
    check_common(scope)
    assert scope["scheme"] == "https"
    assert scope["path"] == "/secure"
    assert scope["query_string"] == b"x=1"
    assert tuple(scope["server"])[1] == site.https_port


def test_websocket_scope(site: Site, journal: Journal) -> None:
    with connect(
        site.ws_url("/socket/a%20b?room=1"),
        subprotocols=["chat", "superchat"],
        additional_headers={"X-Custom": "Yes"},
        open_timeout=TIMEOUT,
        proxy=None,
    ) as ws:
        assert ws.recv(timeout=TIMEOUT) == "noted"
        local_port = ws.socket.getsockname()[1]
        ws.send("bye")
    assert journal.wait("connect") == {"type": "websocket.connect"}
    scope = journal.wait("scope")
    check_common(scope)
    assert scope["type"] == "websocket"
    assert scope["scheme"] == "ws"
    assert scope["path"] == "/socket/a b"
    assert scope["raw_path"] == b"/socket/a%20b"
    assert scope["query_string"] == b"room=1"
    assert scope["subprotocols"] == ["chat", "superchat"]
    assert header_values(scope, b"x-custom") == [b"Yes"]
    assert header_values(scope, b"upgrade") == [b"websocket"]
    assert tuple(scope["client"]) == ("127.0.0.1", local_port)
    assert tuple(scope["server"]) == ("127.0.0.1", site.port)


def test_secure_websocket_scope(
    serve_app: Callable[..., Site], journal: Journal, certificate_folder: Path, client_ssl: ssl.SSLContext
) -> None:
    site = serve_app(
        make_app(journal), HTTPSEnabled=True, HTTPSPort=0, certificateFolder=str(certificate_folder)
    )
    with connect(site.wss_url("/secure-socket"), ssl=client_ssl, open_timeout=TIMEOUT, proxy=None) as ws:
        assert ws.recv(timeout=TIMEOUT) == "noted"
        ws.send("bye")
    scope = journal.wait("scope")
    check_common(scope)
    assert scope["scheme"] == "wss"
    assert scope["subprotocols"] == []
    assert tuple(scope["server"])[1] == site.https_port
