"""Streamed responses: each piece the app sends reaches the client as it is sent (a StreamingResponse,
FastAPI's server-sent events); a slow reader holds the app back (``await send()`` waits) instead of
filling the server's memory; a client that leaves is seen by the app as ``http.disconnect``.

Every "the client got it before the app went on" check is made with an event the app waits on and
only the test sets, once it has read what came before: a server that buffered the response would
leave the test waiting (bounded) instead of passing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route

from asgi.helpers import MIB, TIMEOUT, Journal, Site, answer_lifespan, settle

BIG_CHUNKS = 64  # of 1 MiB each


def make_starlette_app(journal: Journal, release: threading.Event, produced: list[int]) -> Starlette:
    async def story(request: Request) -> StreamingResponse:
        async def lines() -> AsyncIterator[bytes]:
            yield b"first\n"
            released = await asyncio.to_thread(release.wait, TIMEOUT)
            journal.note("last produced", released)
            yield b"last\n" if released else b"never released\n"

        return StreamingResponse(lines(), media_type="text/plain")

    async def big(request: Request) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for index in range(BIG_CHUNKS):
                produced.append(index)
                yield bytes([index]) * MIB
            journal.note("all produced")

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    return Starlette(routes=[Route("/story", story), Route("/big", big)])


def test_streaming_response_reaches_the_client_piece_by_piece(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], journal: Journal
) -> None:
    release = threading.Event()
    http = http_client(serve_app(make_starlette_app(journal, release, [])))
    with http.stream("GET", "/story") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        lines = response.iter_lines()
        assert next(lines) == "first"
        assert journal.values("last produced") == []
        release.set()
        assert list(lines) == ["last"]
    assert journal.values("last produced") == [True]


def make_events_app(journal: Journal, release: threading.Event) -> FastAPI:
    app = FastAPI()

    @app.get("/events", response_class=EventSourceResponse)
    async def events() -> AsyncIterator[ServerSentEvent]:
        yield ServerSentEvent(data={"n": 1}, event="tick", id="1")
        released = await asyncio.to_thread(release.wait, TIMEOUT)
        journal.note("last produced", released)
        yield ServerSentEvent(data={"n": 2, "released": released}, event="tick", id="2")

    return app


def read_event(lines: Iterator[str]) -> dict[str, str]:
    """The fields of the next server-sent event in ``lines`` (comments skipped)."""
    event: dict[str, str] = {}
    for line in lines:
        if not line:
            if event:
                return event
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        event[name] = value.removeprefix(" ")
    raise AssertionError(f"the stream ended before the end of an event: {event}")


def test_server_sent_events_arrive_one_at_a_time(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], journal: Journal
) -> None:
    release = threading.Event()
    http = http_client(serve_app(make_events_app(journal, release)))
    with http.stream("GET", "/events", headers={"Accept": "text/event-stream"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        first = read_event(lines)
        assert first["event"] == "tick"
        assert first["id"] == "1"
        assert json.loads(first["data"]) == {"n": 1}
        assert journal.values("last produced") == []
        release.set()
        second = read_event(lines)
        assert second["id"] == "2"
        assert json.loads(second["data"]) == {"n": 2, "released": True}
        assert [line for line in lines if line and not line.startswith(":")] == []


def test_slow_reader_holds_the_app_back_and_then_gets_every_byte(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], journal: Journal
) -> None:
    produced: list[int] = []
    http = http_client(serve_app(make_starlette_app(journal, threading.Event(), produced)))
    with http.stream("GET", "/big") as response:
        assert response.status_code == 200
        # The client reads nothing: the socket buffers and the server's write buffer fill, then
        # the app's send() must wait. Without flow control all 64 MiB would be produced at once.
        held_at = settle(lambda: len(produced))
        assert held_at < BIG_CHUNKS // 2, f"the app produced {held_at} MiB while the client read nothing"
        assert journal.values("all produced") == []
        digest = hashlib.sha256()
        size = 0
        for chunk in response.iter_bytes():
            digest.update(chunk)
            size += len(chunk)
    assert size == BIG_CHUNKS * MIB
    expected = hashlib.sha256()
    for index in range(BIG_CHUNKS):
        expected.update(bytes([index]) * MIB)
    assert digest.hexdigest() == expected.hexdigest()
    assert len(produced) == BIG_CHUNKS
    journal.wait("all produced")


# -- the client leaves ---------------------------------------------------------------------------------


def make_waiting_app(journal: Journal) -> Any:
    """A raw ASGI app that starts a response, then notes each message ``receive()`` gives it until
    http.disconnect."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        if scope["method"] == "GET":
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
            )
            await send({"type": "http.response.body", "body": b"started\n", "more_body": True})
        while True:
            try:
                message = await asyncio.wait_for(receive(), 3 * TIMEOUT)
            except TimeoutError:
                journal.note("no disconnect")
                return
            journal.note("message", message["type"])
            if message["type"] == "http.disconnect":
                journal.note("disconnect")
                return

    return app


def test_client_leaving_mid_response_is_http_disconnect(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], journal: Journal
) -> None:
    http = http_client(serve_app(make_waiting_app(journal)))
    with http.stream("GET", "/wait") as response:
        assert response.status_code == 200
        assert next(response.iter_bytes()) == b"started\n"
        # leaving the block before the end of the body closes the connection
    journal.wait("disconnect")
    assert journal.values("message") == ["http.request", "http.disconnect"]


def test_client_leaving_mid_body_is_http_disconnect(serve_app: Callable[..., Site], journal: Journal) -> None:
    site = serve_app(make_waiting_app(journal))
    with socket.create_connection(("127.0.0.1", site.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n0123456789")
        journal.wait("message")  # the app is reading the body
    journal.wait("disconnect")
    messages = journal.values("message")
    assert messages[-1] == "http.disconnect"
    assert set(messages[:-1]) <= {"http.request"}


def make_ticker_app(journal: Journal) -> FastAPI:
    app = FastAPI()

    @app.get("/ticker")
    async def ticker(request: Request) -> StreamingResponse:
        async def ticks() -> AsyncIterator[bytes]:
            why = "ran out"
            try:
                for number in range(2000):
                    if await request.is_disconnected():
                        why = "is_disconnected"
                        return
                    yield f"tick {number}\n".encode()
                    await asyncio.sleep(0.01)
            except BaseException as exc:  # cancelled, or closed, when the client leaves
                why = type(exc).__name__
                raise
            finally:
                journal.note("stopped", why)

        return StreamingResponse(ticks(), media_type="text/plain")

    return app


def test_streaming_app_notices_the_client_leaving(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], journal: Journal
) -> None:
    http = http_client(serve_app(make_ticker_app(journal)))
    with http.stream("GET", "/ticker") as response:
        lines = response.iter_lines()
        assert [next(lines) for _ in range(3)] == ["tick 0", "tick 1", "tick 2"]
    assert journal.wait("stopped") != "ran out"
