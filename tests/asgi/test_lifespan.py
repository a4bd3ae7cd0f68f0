"""The lifespan scope: startup runs within ``start()`` and its state reaches every request (a shallow
copy each, as the ASGI specification says), shutdown runs within ``stop()``, a failed startup makes
``start()`` fail with the app's message; an app without lifespan support is served all the same."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import redis
from fastapi import FastAPI, Request
from starlette.applications import Starlette

import duplex
from asgi.helpers import Journal, Site
from cluster.brokers import BrokerProcess


def make_app(journal: Journal) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        journal.note("startup")
        yield {"thing": "made at startup", "visits": []}
        journal.note("shutdown")

    app = FastAPI(lifespan=lifespan)

    @app.get("/thing")
    async def thing(request: Request) -> dict[str, Any]:
        return {"thing": request.state.thing}

    @app.get("/visit/{name}")
    async def visit(name: str, request: Request) -> dict[str, Any]:
        # Set on this request's copy of the state only; the list inside is shared.
        mine = getattr(request.state, "mine", None)
        request.state.mine = name
        request.state.visits.append(name)
        return {"before": mine, "visits": list(request.state.visits)}

    return app


def test_startup_runs_in_start_and_its_state_reaches_requests(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], journal: Journal
) -> None:
    site = serve_app(make_app(journal))
    assert journal.kinds() == ["startup"]  # before start() returned
    response = http_client(site).get("/thing")
    assert response.status_code == 200
    assert response.json() == {"thing": "made at startup"}


def test_each_request_gets_a_shallow_copy_of_the_state(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], journal: Journal
) -> None:
    http = http_client(serve_app(make_app(journal)))
    assert http.get("/visit/ada").json() == {"before": None, "visits": ["ada"]}
    assert http.get("/visit/bob").json() == {"before": None, "visits": ["ada", "bob"]}


def test_shutdown_runs_in_stop(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], journal: Journal
) -> None:
    site = serve_app(make_app(journal))
    assert http_client(site).get("/thing").status_code == 200
    assert journal.values("shutdown") == []
    site.web.stop()
    assert journal.kinds() == ["startup", "shutdown"]  # before stop() returned
    assert site.web.isRunning is False
    site.web.stop()
    assert journal.kinds() == ["startup", "shutdown"]


def make_failing_app(journal: Journal) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        journal.note("startup")
        raise RuntimeError("the database at db.invalid is unreachable")
        yield  # an async generator all the same

    return Starlette(lifespan=lifespan)


def test_failed_startup_fails_start_with_the_apps_message(
    new_web: Callable[..., duplex.WebServer], journal: Journal
) -> None:
    web = new_web()
    result = web.start({"HTTPPort": 0, "asgi": make_failing_app(journal)})
    assert result["success"] is False
    [error] = result["errors"]
    assert isinstance(error["errCode"], int)
    assert "the database at db.invalid is unreachable" in error["message"]
    assert web.isRunning is False
    assert journal.kinds() == ["startup"]


def test_failed_startup_of_a_fastapi_app_and_a_raw_app(new_web: Callable[..., duplex.WebServer]) -> None:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        raise ValueError("missing setting API_KEY")
        yield

    async def raw(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        assert (await receive())["type"] == "lifespan.startup"
        await send({"type": "lifespan.startup.failed", "message": "no licence for this host"})

    for app, text in (
        (FastAPI(lifespan=lifespan), "missing setting API_KEY"),
        (raw, "no licence for this host"),
    ):
        web = new_web()
        result = web.start({"HTTPPort": 0, "asgi": app})
        assert result["success"] is False, result
        assert text in result["errors"][0]["message"]
        assert web.isRunning is False


def test_app_without_lifespan_support_is_served(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client]
) -> None:
    """The ASGI specification: an app that raises on the lifespan scope does not support it, and the
    server goes on without lifespan events."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise NotImplementedError(f"no {scope['type']} here")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
        await send({"type": "http.response.body", "body": b"plain"})

    site = serve_app(app)
    assert http_client(site).get("/").text == "plain"


def test_failed_startup_closes_the_broker_link_it_opened(
    new_web: Callable[..., duplex.WebServer], journal: Journal, tmp_path: Path
) -> None:
    # The broker is connected before the application starts; when its startup fails, nothing of
    # that start is left: no port, no connection to the broker.
    broker = BrokerProcess("redis", tmp_path)
    broker.start()
    try:
        watcher = redis.Redis.from_url(broker.url)
        before = len(watcher.client_list())
        result = new_web().start({"HTTPPort": 0, "broker": broker.url, "asgi": make_failing_app(journal)})
        assert result["success"] is False, result
        assert "the database at db.invalid is unreachable" in result["errors"][0]["message"]
        deadline = time.monotonic() + 5
        while len(watcher.client_list()) > before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(watcher.client_list()) == before, watcher.client_list()
        watcher.close()
    finally:
        broker.stop()
