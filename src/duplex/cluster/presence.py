"""Cluster-wide counts (``wss.count()``, ``wss.count(topic)``) from per-process heartbeats.

Every process publishes, each :data:`HEARTBEAT` seconds, how many connections each of its WebSocket
servers has and how many of them each topic has, on one channel all processes subscribe to. Every
process keeps the latest heartbeat of every other one; a count is this process's own live number
plus the others'. A process that stops sends a last heartbeat that says so and leaves the counts at
once; one that dies leaves them when its heartbeat is :data:`EXPIRY` seconds old. A process that
starts (or comes back after an outage) says hello, and the others answer with a heartbeat at once,
so its counts are whole within a round trip instead of a heartbeat period.

The same heartbeats work on Redis and on NATS (no storage in the broker is needed, only pub/sub).
They cost each process one small message per second from every other process: fine for tens of
processes; a deployment of hundreds would want them aggregated.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping

__all__ = ["EXPIRY", "HEARTBEAT", "Counts", "Presence"]

#: Seconds between two heartbeats of a process.
HEARTBEAT = 1.0
#: Seconds after its last heartbeat when a silent process leaves the counts.
EXPIRY = 3.0

Counts = Mapping[str, tuple[int, Mapping[str, int]]]
"""path token -> (connections, {topic: subscribers})."""


class Presence:
    """The other processes' last heartbeats, and this process's own. Safe from any thread."""

    def __init__(self, node: str) -> None:
        self.node = node
        self._lock = threading.Lock()
        self._others: dict[str, tuple[float, Counts]] = {}

    def heartbeat(self, counts: Counts, hello: bool = False, bye: bool = False) -> bytes:
        """This process's heartbeat, to publish."""
        body = {
            "node": self.node,
            "hello": hello,
            "bye": bye,
            "paths": {token: [total, dict(topics)] for token, (total, topics) in counts.items()},
        }
        return json.dumps(body, separators=(",", ":")).encode()

    def received(self, data: bytes) -> bool:
        """Take another process's heartbeat; True if it said hello (it wants an answer now).

        Raises:
            ValueError: ``data`` is not a heartbeat.
        """
        body = json.loads(data)
        node = body["node"]
        if not isinstance(node, str):
            raise ValueError("a heartbeat without a node name")
        if node == self.node:  # Redis echoes our own
            return False
        counts: dict[str, tuple[int, dict[str, int]]] = {}
        for token, (total, topics) in body["paths"].items():
            if not isinstance(total, int) or not all(isinstance(n, int) for n in topics.values()):
                raise ValueError("a heartbeat with counts that are not integers")
            counts[str(token)] = (total, {str(topic): n for topic, n in topics.items()})
        with self._lock:
            if body.get("bye"):
                self._others.pop(node, None)
            else:
                self._others[node] = (time.monotonic() + EXPIRY, counts)
        return bool(body.get("hello"))

    def count(self, token: str, topic: str | None, local: int) -> int:
        """``local`` plus what the other live processes have on path ``token`` (in ``topic``)."""
        now = time.monotonic()
        total = local
        with self._lock:
            expired = [node for node, (until, _) in self._others.items() if until < now]
            for node in expired:
                del self._others[node]
            for _, counts in self._others.values():
                entry = counts.get(token)
                if entry is not None:
                    total += entry[0] if topic is None else entry[1].get(topic, 0)
        return total

    def nodes(self) -> int:
        """How many other processes are counted now."""
        now = time.monotonic()
        with self._lock:
            return sum(1 for until, _ in self._others.values() if until >= now)
