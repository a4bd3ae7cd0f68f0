"""The handler the cluster tests serve, in the test process and as ``duplex serve cluster_app:Server``.

A client drives it with text commands; each is answered with one text message that starts with
``ack:`` (so a test can tell answers from what the cluster delivers)::

    ping                          ack:pong
    sub TOPIC / unsub TOPIC       ack:sub TOPIC / ack:unsub TOPIC  (ws.subscribe / ws.unsubscribe)
    pub TOPIC KIND DATA           ack:pub      wss.publish(TOPIC, value)
    broadcast KIND DATA           ack:broadcast       wss.broadcast(value)
    broadcast-except-me KIND DATA ack:broadcast-except-me   wss.broadcast(value, exclude=ws)
    thread-pub TOPIC N PREFIX     ack:thread-pub   a new thread publishes PREFIX0 .. PREFIX{N-1}
    count [TOPIC]                 ack:count N  (wss.count(), cluster-wide)

KIND says what DATA becomes: ``text`` (the str itself), ``bytes`` (hex digits), ``json`` (a JSON
value, sent as a dict or list). The server handler's ``onError`` codes are kept in ``errors`` and
printed as ``cluster-app: error CODE`` lines, which a test reads from a ``duplex serve`` process;
the server side of each connection is kept in ``opened``, for tests in the same process.
"""

from __future__ import annotations

import json
import threading
from typing import Any

ACK = "ack:"


def value_of(kind: str, data: str) -> Any:
    if kind == "text":
        return data
    if kind == "bytes":
        return bytes.fromhex(data)
    if kind == "json":
        return json.loads(data)
    raise ValueError(f"unknown kind {kind!r}")


class Member:
    """The connection handler: runs the commands of one client."""

    def __init__(self, wss: Any, server: Server) -> None:
        self.wss = wss
        self.server = server

    def onOpen(self, ws: Any, event: Any) -> None:
        with self.server._changed:
            self.server.opened.append(ws)
            self.server._changed.notify_all()

    def onMessage(self, ws: Any, event: Any) -> None:
        command, _, rest = str(event.data).partition(" ")
        wss = self.wss
        if command == "ping":
            ws.send(f"{ACK}pong")
        elif command in ("sub", "unsub"):
            (ws.subscribe if command == "sub" else ws.unsubscribe)(rest)
            ws.send(f"{ACK}{command} {rest}")
        elif command == "pub":
            topic, kind, data = rest.split(" ", 2)
            wss.publish(topic, value_of(kind, data))
            ws.send(f"{ACK}pub")
        elif command == "broadcast":
            kind, data = rest.split(" ", 1)
            wss.broadcast(value_of(kind, data))
            ws.send(f"{ACK}broadcast")
        elif command == "broadcast-except-me":
            kind, data = rest.split(" ", 1)
            wss.broadcast(value_of(kind, data), exclude=ws)
            ws.send(f"{ACK}broadcast-except-me")
        elif command == "thread-pub":
            topic, number, prefix = rest.split(" ", 2)

            def publish_all() -> None:
                for index in range(int(number)):
                    wss.publish(topic, f"{prefix}{index}")

            threading.Thread(target=publish_all, name="user-publisher").start()
            ws.send(f"{ACK}thread-pub")
        elif command == "count":
            ws.send(f"{ACK}count {wss.count(rest) if rest else wss.count()}")
        else:
            ws.send(f"{ACK}unknown {command}")


class Server:
    """The WSSHandler: every client gets a :class:`Member`; ``onError`` codes are recorded."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.errors: list[int] = []
        self.opened: list[Any] = []  # the server side of each connection, once open

    def onConnection(self, wss: Any, event: Any) -> Member:
        return Member(wss, self)

    def connection(self, index: int = 0, timeout: float = 10.0) -> Any:
        """The server side of the ``index``-th connection opened (waiting for it)."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.opened) > index, timeout):
                raise AssertionError(f"connection {index} did not open within {timeout} s")
            return self.opened[index]

    def onError(self, wss: Any, event: Any) -> None:
        code = int(event.errors[0]["errCode"])
        print(f"cluster-app: error {code}", flush=True)
        with self._changed:
            self.errors.append(code)
            self._changed.notify_all()

    def wait_error(self, code: int, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``onError`` has seen ``code`` ``count`` times."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.errors.count(code) >= count, timeout):
                raise AssertionError(
                    f"onError did not get {count} x {code} within {timeout} s: {self.errors}"
                )

    def error_codes(self) -> list[int]:
        with self._changed:
            return list(self.errors)
