"""An exception in the app: 500 if no response has begun, else the connection is closed (the client
sees a cut response); logged on the "duplex" logger with the method and path; and the server goes on
serving, on new connections and on the ones already open."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, WebSocket
from starlette.responses import StreamingResponse
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from asgi.helpers import TIMEOUT, Site, answer_lifespan


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ok")
    async def ok() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/explode")
    async def explode() -> None:
        raise RuntimeError("boom in explode")

    @app.post("/explode-sync")
    def explode_sync() -> None:
        raise KeyError("boom in a worker thread")

    @app.get("/explode-later")
    async def explode_later() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first chunk\n"
            await asyncio.sleep(0.01)
            raise RuntimeError("broke mid-stream")

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.websocket("/ws-explode-early")
    async def ws_explode_early(websocket: WebSocket) -> None:
        raise RuntimeError("boom before accept")

    @app.websocket("/ws-explode-late")
    async def ws_explode_late(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("accepted")
        await websocket.receive_text()
        raise RuntimeError("boom after accept")

    return app


async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """``/before``: raises before any response; ``/after``: raises in the middle of a body whose
    length it declared."""
    if scope["type"] == "lifespan":
        await answer_lifespan(receive, send)
        return
    if scope["path"] == "/after":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
        await send({"type": "http.response.body", "body": b"0123456789", "more_body": True})
        raise RuntimeError("raw app broke after 10 of 100 bytes")
    if scope["path"] == "/before":
        raise RuntimeError("raw app broke before answering")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def logged(caplog: pytest.LogCaptureFixture, *texts: str) -> logging.LogRecord:
    """The first record of the "duplex" loggers whose message holds every one of ``texts``,
    waiting for it (the server may log after the client got its answer)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        for record in list(caplog.records):
            if record.name.split(".")[0] == "duplex" and all(text in record.getMessage() for text in texts):
                return record
        if time.monotonic() > deadline:
            seen = [f"{record.name}: {record.getMessage()}" for record in caplog.records]
            raise AssertionError(f"no duplex log record mentions {texts}; records: {seen}")
        time.sleep(0.01)


def full_text(record: logging.LogRecord) -> str:
    """The record as a handler would write it, traceback included."""
    return logging.Formatter().format(record)


def cut_short(read: Callable[[], object]) -> None:
    """``read()`` fails because the server closed the connection (not because it left it hanging)."""
    with pytest.raises(httpx.TransportError) as info:
        read()
    assert not isinstance(info.value, httpx.TimeoutException), "the server left the response unfinished"


def still_serves(site: Site) -> None:
    with httpx.Client(base_url=site.url(), timeout=TIMEOUT, trust_env=False) as fresh:
        response = fresh.get("/ok")
    assert response.status_code == 200


def test_exception_before_the_response_is_500_and_logged(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], caplog: pytest.LogCaptureFixture
) -> None:
    site = serve_app(make_app())
    bystander = http_client(site)
    assert bystander.get("/ok").status_code == 200
    with caplog.at_level(logging.ERROR, logger="duplex"):
        response = http_client(site).get("/explode")
        assert response.status_code == 500
        record = logged(caplog, "GET", "/explode")
    assert record.levelno >= logging.ERROR
    assert "boom in explode" in full_text(record)
    still_serves(site)
    # a connection open before the failure is served too
    assert bystander.get("/ok").json() == {"ok": True}


def test_exception_in_a_sync_route_is_500_and_logged(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], caplog: pytest.LogCaptureFixture
) -> None:
    site = serve_app(make_app())
    with caplog.at_level(logging.ERROR, logger="duplex"):
        assert http_client(site).post("/explode-sync", content=b"x").status_code == 500
        record = logged(caplog, "POST", "/explode-sync")
    assert "boom in a worker thread" in full_text(record)
    still_serves(site)


def test_exception_after_the_response_began_cuts_the_connection(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], caplog: pytest.LogCaptureFixture
) -> None:
    site = serve_app(make_app())
    with caplog.at_level(logging.ERROR, logger="duplex"):
        with http_client(site).stream("GET", "/explode-later") as response:
            assert response.status_code == 200
            cut_short(response.read)
        record = logged(caplog, "GET", "/explode-later")
    assert "broke mid-stream" in full_text(record)
    still_serves(site)


def test_raw_app_exception_before_any_response_is_500(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], caplog: pytest.LogCaptureFixture
) -> None:
    site = serve_app(raw_app)
    with caplog.at_level(logging.ERROR, logger="duplex"):
        assert http_client(site).get("/before").status_code == 500
        record = logged(caplog, "GET", "/before")
    assert "raw app broke before answering" in full_text(record)
    assert http_client(site).get("/fine").text == "ok"


def test_raw_app_exception_in_the_middle_of_a_body_cuts_the_connection(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], caplog: pytest.LogCaptureFixture
) -> None:
    site = serve_app(raw_app)
    with caplog.at_level(logging.ERROR, logger="duplex"):
        cut_short(lambda: http_client(site).get("/after"))
        record = logged(caplog, "GET", "/after")
    assert "raw app broke after 10 of 100 bytes" in full_text(record)
    assert http_client(site).get("/fine").text == "ok"


def test_websocket_exception_before_accept_is_500(
    serve_app: Callable[..., Site], caplog: pytest.LogCaptureFixture
) -> None:
    site = serve_app(make_app())
    with caplog.at_level(logging.ERROR, logger="duplex"):
        with (
            pytest.raises(InvalidStatus) as info,
            connect(site.ws_url("/ws-explode-early"), open_timeout=TIMEOUT, proxy=None),
        ):
            pass
        assert info.value.response.status_code == 500
        record = logged(caplog, "/ws-explode-early")
    assert "boom before accept" in full_text(record)
    still_serves(site)


def test_websocket_exception_after_accept_closes_the_connection(
    serve_app: Callable[..., Site], caplog: pytest.LogCaptureFixture
) -> None:
    site = serve_app(make_app())
    with caplog.at_level(logging.ERROR, logger="duplex"):
        with connect(site.ws_url("/ws-explode-late"), open_timeout=TIMEOUT, proxy=None) as ws:
            assert ws.recv(timeout=TIMEOUT) == "accepted"
            ws.send("go on, fail")
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=TIMEOUT)
        # a close frame, if any, says "internal error"
        assert info.value.rcvd is None or info.value.rcvd.code == 1011
        record = logged(caplog, "/ws-explode-late")
    assert "boom after accept" in full_text(record)
    still_serves(site)
