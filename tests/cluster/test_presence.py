"""``wss.count()`` and ``wss.count(topic)`` are cluster-wide: every process's connections, from the
heartbeats on the broker. A web server that stops leaves the counts at once (its last heartbeat says
goodbye); one that dies without a word is tested with a killed ``duplex serve`` in test_serve.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from cluster.helpers import HEARTBEAT, Client, Node, wait_until

pytestmark = pytest.mark.timeout(60)

Nodes = Callable[..., Node]
Clients = Callable[[str], Client]

#: How soon a change must show in the counts of every process: a heartbeat period, and margin.
SPREAD = HEARTBEAT + 1.0


def counts(nodes: list[Node], topic: str | None = None) -> list[int]:
    return [node.wss.count(topic) for node in nodes]


def test_counts_are_cluster_wide(nodes: Nodes, clients: Clients) -> None:
    a, b, c = nodes(), nodes(), nodes()
    cluster = [a, b, c]
    a1, _a2, b1, _c1 = clients(a.url), clients(a.url), clients(b.url), clients(c.url)
    a1.request("sub T")
    b1.request("sub T")
    wait_until(lambda: counts(cluster) == [4, 4, 4], SPREAD, "count() == 4 on every server")
    wait_until(lambda: counts(cluster, "T") == [2, 2, 2], SPREAD, "count('T') == 2 on every server")
    assert counts(cluster, "U") == [0, 0, 0]
    assert a.wss.subscribers("T") == 1  # subscribers(): this process only

    b1.request("unsub T")
    wait_until(lambda: counts(cluster, "T") == [1, 1, 1], SPREAD, "count('T') == 1 after an unsub")
    b1.close()
    wait_until(lambda: counts(cluster) == [3, 3, 3], SPREAD, "count() == 3 after a disconnect")
    b.wss.broadcast("x")  # a server with no connection still counts the others
    assert b.wss.count() == 3


def test_a_stopped_server_leaves_the_counts_at_once(nodes: Nodes, clients: Clients) -> None:
    a, b, c = nodes(), nodes(), nodes()
    clients(a.url)
    for _ in range(2):
        clients(c.url).request("sub T")
    wait_until(lambda: counts([a, b]) == [3, 3], SPREAD, "count() == 3 on A and B")
    wait_until(lambda: counts([a, b], "T") == [2, 2], SPREAD, "count('T') == 2 on A and B")

    started = time.monotonic()
    c.web.stop()
    stopped = time.monotonic() - started
    # Its goodbye heartbeat takes it out at once, not after the 3 s expiry of a silent process.
    wait_until(lambda: counts([a, b]) == [1, 1], 1.0, "C's connections out of the counts at once")
    assert counts([a, b], "T") == [0, 0]
    assert time.monotonic() - started < stopped + 1.0
