"""The handler of the ``--workers`` tests (``duplex serve workers_app:Server``): each client learns
which worker process it is on, and can broadcast to every client of every worker.

    pid                  ack:pid N     the worker's process id
    broadcast TEXT       ack:broadcast wss.broadcast(TEXT)
"""

from __future__ import annotations

import os
from typing import Any

ACK = "ack:"


class Member:
    def onMessage(self, ws: Any, event: Any) -> None:
        command, _, rest = str(event.data).partition(" ")
        if command == "pid":
            ws.send(f"{ACK}pid {os.getpid()}")
        elif command == "broadcast":
            ws.wss.broadcast(rest)
            ws.send(f"{ACK}broadcast")


class Server:
    def onConnection(self, wss: Any, event: Any) -> Member:
        return Member()
