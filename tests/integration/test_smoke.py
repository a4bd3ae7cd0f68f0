"""A first end-to-end check: the websockets library talks to the engine over ws:// and wss://."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import connect

from support import RunningServer


def test_echo_ws_and_wss(echo_server: RunningServer) -> None:
    async def exchange() -> None:
        async with connect(echo_server.url()) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
        async with connect(echo_server.wss_url(), ssl=echo_server.client_ssl) as ws:
            await ws.send(b"\x00\xff")
            assert await ws.recv() == b"\x00\xff"

    asyncio.run(exchange())
