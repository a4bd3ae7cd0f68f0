"""Fixtures for the ASGI tests: a ``duplex.WebServer`` started on a free port of 127.0.0.1 with a
given ASGI app (``serve_app``), httpx, ``websockets`` and raw-socket clients of it; all stopped or
closed after the test, whatever happened.

The apps are real FastAPI and Starlette apps (and a few raw ASGI callables), built per test by
factories next to the tests that use them, so that what they note goes to that test's ``journal``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

import duplex
from asgi.helpers import TIMEOUT, Journal, RawHttp, Site


@pytest.fixture
def journal() -> Journal:
    """What the test's app saw (noted on the server's thread)."""
    return Journal()


@pytest.fixture
def serve_app(new_web: Callable[..., duplex.WebServer]) -> Callable[..., Site]:
    """``serve_app(app, **settings)``: a ``WebServer`` started on a free port with ``asgi=app`` (and
    ``settings``, e.g. ``maxRequestSize=...``, ``rootFolder=...``); stopped after the test."""

    def start(app: Any, **settings: Any) -> Site:
        web = new_web()
        result = web.start({"HTTPPort": 0, "asgi": app, **settings})
        assert result["success"] is True and not result.get("errors"), result
        return Site(web)

    return start


@pytest.fixture
def http_client() -> Iterator[Callable[..., httpx.Client]]:
    """``http_client(site, **httpx_options)``: an ``httpx.Client`` for ``site`` (base URL set, every
    read bounded, no proxy from the environment); closed after the test."""
    with contextlib.ExitStack() as stack:

        def open_client(site: Site, **options: Any) -> httpx.Client:
            options.setdefault("base_url", site.url())
            options.setdefault("timeout", TIMEOUT)
            options.setdefault("trust_env", False)
            return stack.enter_context(httpx.Client(**options))

        yield open_client


@pytest.fixture
def raw_http() -> Iterator[Callable[[Site], RawHttp]]:
    """``raw_http(site)``: a :class:`RawHttp` connected to ``site``; closed after the test."""
    opened: list[RawHttp] = []

    def connect(site: Site) -> RawHttp:
        client = RawHttp(site.port)
        opened.append(client)
        return client

    try:
        yield connect
    finally:
        for client in opened:
            client.close()


@pytest.fixture
def ws_client() -> Iterator[Callable[..., ClientConnection]]:
    """``ws_client(url, **connect_options)``: a connected sync ``websockets`` client; closed after."""
    with contextlib.ExitStack() as stack:

        def open_client(target: str, **options: Any) -> ClientConnection:
            options.setdefault("open_timeout", TIMEOUT)
            options.setdefault("close_timeout", TIMEOUT)
            options.setdefault("proxy", None)
            return stack.enter_context(connect(target, **options))

        yield open_client
