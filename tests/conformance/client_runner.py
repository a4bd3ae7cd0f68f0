"""Walks the Autobahn|Testsuite fuzzing server's cases with duplex's client, for the conformance run.

For each case a ``duplex.WebSocket`` (the 4D class; ``--face async``: ``duplex.connect()``) connects
to ``/runCase?case=N&agent=duplex``, with compression offered, and echoes every message back with
its own frame type until the server closes; then ``/updateReports`` writes the report. Not public
API. Run: ``python tests/conformance/client_runner.py ws://127.0.0.1:9001 [--face 4d|async]``.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import duplex

OPTIONS: dict[str, Any] = {"maxMessageSize": 64 * 1024 * 1024, "pingInterval": None, "openTimeout": 30}


async def case_4d(url: str) -> None:
    """One case through the 4D class: its callbacks run on this loop."""
    finished = asyncio.Event()

    class Echo:
        dataType = "auto"

        def onMessage(self, ws: duplex.WebSocket, event: duplex.Event) -> None:
            ws.send(event.data)

        def onTerminate(self, ws: duplex.WebSocket, event: duplex.Event) -> None:
            finished.set()

        def onError(self, ws: duplex.WebSocket, event: duplex.Event) -> None:
            pass  # the server tests what goes on the wire; the report says what happened

    duplex.WebSocket(url, Echo(), **OPTIONS)
    await finished.wait()


async def case_async(url: str) -> None:
    """One case through ``duplex.connect()`` and ``async for``."""
    try:
        async with duplex.connect(url, **OPTIONS) as ws:
            async for message in ws:
                await ws.send(message)
    except (duplex.ConnectionClosed, OSError):
        pass


async def main(base: str, face: str, agent: str) -> None:
    async with duplex.connect(f"{base}/getCaseCount", **OPTIONS) as ws:
        count = int(await ws.recv())
    run = case_4d if face == "4d" else case_async
    for case in range(1, count + 1):
        await run(f"{base}/runCase?case={case}&agent={agent}")
    async with duplex.connect(f"{base}/updateReports?agent={agent}", **OPTIONS) as ws:
        async for _ in ws:
            pass
    print(f"{count} cases run")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", help="the fuzzing server, ws://127.0.0.1:PORT")
    parser.add_argument("--face", choices=("4d", "async"), default="4d")
    parser.add_argument("--agent", default="duplex")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.url.rstrip("/"), arguments.face, arguments.agent))
