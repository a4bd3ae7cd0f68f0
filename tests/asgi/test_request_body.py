"""Request bodies reach the app in pieces as they arrive (``more_body``), and never more than
``maxRequestSize`` of them: a declared Content-Length over it is answered 413 before the app runs;
a chunked body that grows over it ends in ``http.disconnect`` for the app and 413 (or a closed
connection) for the client."""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from asgi.helpers import MIB, TIMEOUT, Journal, RawHttp, Site, answer_lifespan

UPLOAD_SIZE = 10 * MIB
LIMIT = 1_000_000


def make_upload_app(journal: Journal, first_chunk_seen: threading.Event) -> FastAPI:
    app = FastAPI()

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, Any]:
        digest = hashlib.sha256()
        size = chunks = 0
        async for chunk in request.stream():
            if chunk and not first_chunk_seen.is_set():
                first_chunk_seen.set()
            digest.update(chunk)
            size += len(chunk)
            chunks += bool(chunk)
        return {"size": size, "sha256": digest.hexdigest(), "chunks": chunks}

    @app.api_route("/ping", methods=["GET", "POST"])
    async def ping(request: Request) -> dict[str, str]:
        journal.note("request", request.url.path)
        return {"pong": request.url.path}

    return app


def gated_body(data: bytes, gate: threading.Event) -> Iterator[bytes]:
    """``data`` in 256 KiB pieces, pausing after the first MiB until the app has seen some of it:
    a server that waited for the whole body before calling the app would never open the gate."""
    piece = 256 * 1024
    for offset in range(0, len(data), piece):
        if offset == MIB:
            assert gate.wait(TIMEOUT), "the app got no byte of the body before the client sent it all"
        yield data[offset : offset + piece]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_ten_mib_upload_is_read_incrementally(
    serve_app: Callable[..., Site],
    http_client: Callable[..., httpx.Client],
    journal: Journal,
    framing: str,
) -> None:
    first_chunk_seen = threading.Event()
    site = serve_app(make_upload_app(journal, first_chunk_seen), maxRequestSize=16 * MIB)
    http = http_client(site)
    data = random.Random(13).randbytes(UPLOAD_SIZE)
    headers = {"Content-Type": "application/octet-stream"}
    if framing == "content-length":
        headers["Content-Length"] = str(len(data))
    response = http.post("/upload", content=gated_body(data, first_chunk_seen), headers=headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["size"] == UPLOAD_SIZE
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    assert result["chunks"] > 1
    # and the connection serves the next request
    assert http.post("/ping", content=b"after").json() == {"pong": "/ping"}


def test_declared_content_length_over_the_limit_is_413_without_calling_the_app(
    serve_app: Callable[..., Site],
    raw_http: Callable[[Site], RawHttp],
    http_client: Callable[..., httpx.Client],
    journal: Journal,
) -> None:
    site = serve_app(make_upload_app(journal, threading.Event()), maxRequestSize=LIMIT)
    client = raw_http(site)
    # Only the head: the declared length is enough to refuse, no need to wait for the body.
    client.send(
        f"POST /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {LIMIT + 1}\r\n"
        "Content-Type: application/octet-stream\r\n\r\n".encode()
    )
    assert client.read_response().status == 413
    # the app ran for none of it: the next request is the first it sees
    assert http_client(site).post("/ping", content=b"x" * 100).json() == {"pong": "/ping"}
    assert journal.values("request") == ["/ping"]


def test_content_length_at_the_limit_is_accepted(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], journal: Journal
) -> None:
    site = serve_app(make_upload_app(journal, threading.Event()), maxRequestSize=LIMIT)
    data = random.Random(5).randbytes(LIMIT)
    response = http_client(site).post("/upload", content=data)
    assert response.status_code == 200
    assert response.json()["size"] == LIMIT
    assert response.json()["sha256"] == hashlib.sha256(data).hexdigest()


def make_counting_app(journal: Journal) -> Any:
    """A raw ASGI app that counts the body bytes it receives and notes how the body ended:
    "complete" (more_body False) or "disconnect" (http.disconnect), with the count."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                journal.note("disconnect", received)
                return
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                journal.note("complete", received)
                break
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def endless_chunks(total: int = 4 * MIB) -> Iterator[bytes]:
    piece = b"z" * (64 * 1024)
    for _ in range(total // len(piece)):
        yield piece


def test_chunked_body_over_the_limit_disconnects_the_app(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], journal: Journal
) -> None:
    site = serve_app(make_counting_app(journal), maxRequestSize=LIMIT)
    try:
        response = http_client(site).post("/upload", content=endless_chunks())
    except httpx.TransportError:
        pass  # the server closed the connection while the client was still sending
    else:
        assert response.status_code == 413
    received = journal.wait("disconnect")
    assert received <= LIMIT
    assert journal.values("complete") == []
    # the server still serves
    assert http_client(site).post("/next", content=b"small").text == "ok"
    assert journal.values("complete") == [5]


def test_chunked_body_over_the_limit_closes_the_connection(
    serve_app: Callable[..., Site], raw_http: Callable[[Site], RawHttp], journal: Journal
) -> None:
    site = serve_app(make_counting_app(journal), maxRequestSize=LIMIT)
    client = raw_http(site)
    client.send(b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"%x\r\n" % (64 * 1024) + b"y" * (64 * 1024) + b"\r\n"
    try:
        for _ in range(4 * MIB // (64 * 1024)):
            client.send(piece)
    except OSError:
        pass  # refused midway: the server hung up
    data, closed = client.read_until_closed()
    assert closed, f"the connection is still open after the body went over the limit: {data[:200]!r}"
    if data:
        assert data.startswith(b"HTTP/1.1 413 "), data[:200]
    assert journal.wait("disconnect") <= LIMIT
    assert journal.values("complete") == []
