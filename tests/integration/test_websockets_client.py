"""The real `websockets` client against the engine's echo endpoint, over ws:// and wss://.

Every combination that changes the bytes on the wire is covered: TLS or not, permessage-deflate on
or off, text or binary, one frame or several, and payload sizes on each side of the frame-length
encodings (0, 125 = the largest 7-bit length, 126 = the smallest 16-bit one, 64 KiB = a 64-bit one)
plus one large message. Every echoed byte and the echoed message type are checked.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

import pytest
from websockets.asyncio.client import ClientConnection, connect

from support import RunningServer

T = TypeVar("T")

SIZES = [0, 125, 126, 64 * 1024, 16 * 1024 * 1024]
SIZE_IDS = ["0B", "125B", "126B", "64KiB", "16MiB"]

# The 16 MiB cases compress, encrypt and check 32 MiB each way; give them room on a slow machine.
RECEIVE_TIMEOUT = 60.0


def run(coroutine: Awaitable[T]) -> T:
    """Run one client conversation to the end on a fresh event loop."""

    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, 2 * RECEIVE_TIMEOUT)

    return asyncio.run(bounded())


@functools.cache
def binary_payload(size: int) -> bytes:
    """``size`` pseudo-random bytes: the same for every test, barely compressible."""
    return random.Random(size).randbytes(size)


@functools.cache
def text_payload(size: int) -> str:
    """Text whose UTF-8 encoding is exactly ``size`` bytes, mixing 1-, 2-, 3- and 4-byte characters."""
    # Latin-1 decoding turns each random byte into a character of 1 or 2 UTF-8 bytes; the prefix
    # adds 3- and 4-byte ones, and a NUL, which is valid UTF-8 text.
    mixed = "\u20ac\U0001f600\x00" + random.Random(size).randbytes(size).decode("latin-1")
    cut = mixed.encode()[:size].decode("utf-8", "ignore")  # drops a character cut in half
    text = cut + "x" * (size - len(cut.encode()))
    assert len(text.encode()) == size
    return text


def payload(kind: str, size: int) -> str | bytes:
    return text_payload(size) if kind == "text" else binary_payload(size)


def fragments(message: str | bytes) -> list[Any]:
    """The message in pieces of uneven sizes; a 0-byte message is one empty fragment."""
    size = len(message)
    cuts = sorted({0, size // 7, size // 2, size - size // 5, size})
    pieces = [message[start:end] for start, end in itertools.pairwise(cuts)]
    return pieces or [message[:0]]


async def aiterate(pieces: Iterable[T]) -> AsyncIterator[T]:
    for piece in pieces:
        yield piece
        await asyncio.sleep(0)


def client(server: RunningServer, scheme: str, compression: str | None, **kwargs: Any) -> connect:
    """A websockets client for ``scheme`` ("ws" or "wss"), never proxied, with no message size limit."""
    options: dict[str, Any] = {"compression": compression, "max_size": None, "proxy": None, **kwargs}
    if scheme == "wss":
        return connect(server.wss_url(), ssl=server.client_ssl, **options)
    return connect(server.url(), **options)


async def echo(ws: ClientConnection, message: str | bytes, fragmented: str) -> None:
    """Send ``message`` (whole, or in fragments from a list or an async iterator) and check the echo."""
    if fragmented == "whole":
        await ws.send(message)
    elif fragmented == "fragments":
        await ws.send(fragments(message))
    else:
        await ws.send(aiterate(fragments(message)))
    received = await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT)
    assert type(received) is type(message)
    assert len(received) == len(message)
    assert received == message


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("kind", ["text", "binary"])
@pytest.mark.parametrize("fragmented", ["whole", "fragments"])
@pytest.mark.parametrize("compression", ["deflate", None], ids=["deflate", "plain"])
@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_echo(
    echo_server: RunningServer, scheme: str, compression: str | None, fragmented: str, kind: str, size: int
) -> None:
    message = payload(kind, size)

    async def conversation() -> None:
        async with client(echo_server, scheme, compression) as ws:
            await echo(ws, message, fragmented)

    run(conversation())


@pytest.mark.parametrize("compression", ["deflate", None], ids=["deflate", "plain"])
@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_many_messages_on_one_connection(
    echo_server: RunningServer, scheme: str, compression: str | None
) -> None:
    """Every size and kind, whole and fragmented (from an async iterator), one after another.

    With compression on, later messages are compressed against the earlier ones' window (context
    takeover), which single-message tests never exercise.
    """
    sizes = SIZES[:-1]  # the large message is covered above

    async def conversation() -> None:
        async with client(echo_server, scheme, compression) as ws:
            for size in sizes:
                for kind in ("text", "binary"):
                    for fragmented in ("whole", "async-fragments"):
                        await echo(ws, payload(kind, size), fragmented)
            # Highly repetitive messages compress against each other; repeat to hit the window.
            for _ in range(3):
                await echo(ws, "abc" * 10_000, "whole")
                await echo(ws, b"\x00" * 100_000, "fragments")

    run(conversation())


@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_pipelined_messages_come_back_in_order(echo_server: RunningServer, scheme: str) -> None:
    """Many messages sent before reading any echo come back complete and in order."""
    messages: list[str | bytes] = [
        f"message {index}" if index % 2 else bytes([index]) * index for index in range(200)
    ]

    async def conversation() -> None:
        async with client(echo_server, scheme, "deflate") as ws:
            for message in messages:
                await ws.send(message)
            for message in messages:
                assert await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT) == message

    run(conversation())


@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_deflate_is_negotiated_when_offered(echo_server: RunningServer, scheme: str) -> None:
    async def conversation() -> None:
        async with client(echo_server, scheme, "deflate") as ws:
            assert ws.response is not None
            values = ws.response.headers.get_all("Sec-WebSocket-Extensions")
            assert len(values) == 1
            assert values[0].split(";")[0].strip() == "permessage-deflate"
            assert [extension.name for extension in ws.protocol.extensions] == ["permessage-deflate"]
            await echo(ws, "compressed", "whole")

    run(conversation())


@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_no_extension_header_without_an_offer(echo_server: RunningServer, scheme: str) -> None:
    async def conversation() -> None:
        async with client(echo_server, scheme, None) as ws:
            assert ws.response is not None
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            assert ws.protocol.extensions == []
            await echo(ws, "plain", "whole")

    run(conversation())


def test_no_extension_header_when_the_endpoint_turns_compression_off(make_server: Callable[..., Any]) -> None:
    from echo_server import Echo

    from duplex.http import Accept

    endpoints = {"/echo": lambda request, offer: Accept(Echo(), compression=False)}

    async def conversation(server: RunningServer) -> None:
        async with client(server, "ws", "deflate") as ws:
            assert ws.response is not None
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            assert ws.protocol.extensions == []
            await echo(ws, binary_payload(64 * 1024), "fragments")

    with make_server(endpoints=endpoints) as server:
        run(conversation(server))


@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_offered_subprotocol_is_not_selected(echo_server: RunningServer, scheme: str) -> None:
    """The echo endpoint selects no subprotocol, so the 101 carries no Sec-WebSocket-Protocol."""

    async def conversation() -> None:
        async with client(echo_server, scheme, "deflate", subprotocols=["chat", "superchat"]) as ws:
            assert ws.subprotocol is None
            assert ws.response is not None
            assert "Sec-WebSocket-Protocol" not in ws.response.headers
            await echo(ws, "no subprotocol", "whole")

    run(conversation())


@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_client_close_is_answered(echo_server: RunningServer, scheme: str) -> None:
    """A normal close by the client gets the server's close frame back with the same code."""

    async def conversation() -> None:
        async with client(echo_server, scheme, "deflate") as ws:
            await echo(ws, "bye", "whole")
            await ws.close(4000, "done")
            assert ws.close_code == 4000
            assert ws.protocol.close_rcvd is not None
            assert ws.protocol.close_rcvd.code == 4000

    run(conversation())
