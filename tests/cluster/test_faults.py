"""A broker lost while the servers run: the real server is killed (SIGKILL) and started again on the
same port.

Meanwhile local delivery goes on, the server handler's ``onError`` hears of the outage once (400)
and of the recovery once (401), what is published is dropped and counted (at-most-once: nothing is
replayed later), and afterwards each process has its subscriptions and its place in the counts back
without anyone's help.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from cluster.brokers import BrokerProcess
from cluster.helpers import EXPIRY, HEARTBEAT, TIMEOUT, Client, Node, await_route, wait_until

pytestmark = pytest.mark.timeout(90)

Nodes = Callable[..., Node]
Clients = Callable[[str], Client]

BROKER_LOST, BROKER_RECOVERED = 400, 401
# Reconnection backs off up to 5 s (+50% jitter): how long recovery may take once the broker is back.
RECOVERY = 15.0


def test_a_lost_broker_is_reported_once_and_everything_comes_back(
    broker: BrokerProcess, nodes: Nodes, clients: Clients
) -> None:
    a, b, c = nodes(), nodes(), nodes()
    a_local = clients(a.url)
    member = clients(b.url)
    member.request("sub T")
    await_route(lambda text: a.wss.publish("T", text), [member])
    wait_until(lambda: [a.wss.count(), b.wss.count()] == [2, 2], what="count() == 2 on A and B")

    broker.kill()
    for node in (a, b, c):
        node.app.wait_error(BROKER_LOST)
    assert a.stats()["outages"] == 1

    # Local delivery goes on.
    a.wss.broadcast("local only")
    assert a_local.recv() == "local only"
    # What is published meanwhile is dropped, and counted.
    dropped = a.stats()["dropped_outage"]
    for number in range(5):
        a.wss.publish("T", f"lost {number}")
    # (Counted on A's loop: a publish from another thread gets there a moment later.)
    wait_until(lambda: a.stats()["dropped_outage"] - dropped == 5, what="5 more dropped_outage")
    # Joining during the outage: the subscription is made once the broker is back.
    member.request("sub U")
    newcomer = clients(b.url)
    # A web server stopped during the outage stops promptly.
    started = time.monotonic()
    c.web.stop()
    assert time.monotonic() - started < 3.0
    # B's heartbeats stopped coming: its connections leave A's counts (several reconnection
    # attempts fail meanwhile, and must not be reported again).
    wait_until(lambda: a.wss.count() == 1, EXPIRY + HEARTBEAT + 1.0, "A counting only itself")
    assert a.app.error_codes() == [BROKER_LOST]
    assert b.app.error_codes() == [BROKER_LOST]

    broker.start()  # on the same port
    for node in (a, b):
        node.app.wait_error(BROKER_RECOVERED, timeout=RECOVERY)
    await_route(lambda text: a.wss.publish("T", text), [member], timeout=RECOVERY)
    await_route(lambda text: a.wss.publish("U", text), [member])
    await_route(a.wss.broadcast, [member, newcomer, a_local])
    b.wss.broadcast("from b")
    assert a_local.recv() == "from b"
    wait_until(lambda: [a.wss.count(), b.wss.count()] == [3, 3], what="count() == 3 on A and B again")
    wait_until(lambda: [a.wss.count("U"), b.wss.count("U")] == [1, 1], what="count('U') == 1 on A and B")

    # At most once: nothing published during the outage arrives late.
    assert not [m for m in member.quiet(0.3) if isinstance(m, str) and m.startswith("lost")]
    assert a.app.error_codes() == [BROKER_LOST, BROKER_RECOVERED]
    assert b.app.error_codes() == [BROKER_LOST, BROKER_RECOVERED]
    assert a.stats()["outages"] == 1
    assert b.stats()["outages"] == 1


def test_two_outages_are_reported_twice(broker: BrokerProcess, nodes: Nodes, clients: Clients) -> None:
    a, b = nodes(), nodes()
    member = clients(b.url)
    member.request("sub T")
    await_route(lambda text: a.wss.publish("T", text), [member])
    for outage in (1, 2):
        broker.restart()
        for node in (a, b):
            node.app.wait_error(BROKER_RECOVERED, count=outage, timeout=RECOVERY)
        await_route(lambda text: a.wss.publish("T", text), [member], timeout=RECOVERY)
    codes = [BROKER_LOST, BROKER_RECOVERED] * 2
    assert a.app.error_codes() == codes
    assert b.app.error_codes() == codes
    assert a.stats()["outages"] == b.stats()["outages"] == 2


def test_members_who_join_while_subscriptions_are_restored_get_their_topics(
    broker: BrokerProcess, nodes: Nodes, clients: Clients
) -> None:
    """A thread keeps subscribing a connection to new topics (and leaving some) while the broker
    restarts, three times: whatever changed while the node was restoring its subscriptions must
    reach the broker too. Then B publishes once on every topic ever used: the client gets exactly
    the topics it is in, and A receives nothing else (its ``received`` counter)."""
    a, b = nodes(), nodes()
    client = clients(a.url)
    watcher = clients(b.url)
    ws = a.app.connection(0)
    wanted: set[str] = set()
    made = 0
    stop = threading.Event()

    def churn() -> None:
        nonlocal made
        while not stop.is_set():
            topic = f"c{made}"
            ws.subscribe(topic)
            wanted.add(topic)
            if made % 3 == 2:  # and leave one
                ws.unsubscribe(f"c{made - 1}")
                wanted.discard(f"c{made - 1}")
            made += 1
            if made % 10 == 0:
                time.sleep(0.001)

    thread = threading.Thread(target=churn, name="churn")
    thread.start()
    try:
        for restart in range(1, 4):  # the window is short: three chances to hit it
            broker.restart()
            a.app.wait_error(BROKER_RECOVERED, count=restart, timeout=RECOVERY)
    finally:
        stop.set()
        thread.join(5)
    # A's broker connection works through its queue in order: once a broadcast from A reached B,
    # every subscribe and unsubscribe made before it reached the broker.
    await_route(a.wss.broadcast, [watcher, client], timeout=RECOVERY)
    # Redis sends A its own broadcasts back (A skips them, but counts them as received): they
    # have all come once a broadcast of B, published after them, has reached A.
    await_route(b.wss.broadcast, [client])
    received = a.stats()["received"]

    for number in range(made):
        b.wss.publish(f"c{number}", f"c{number}")
    got = client.recv_all(len(wanted))
    assert set(got) == wanted
    wait_until(lambda: a.stats()["received"] - received == len(wanted), what="A received the topics it is in")
    assert client.quiet(0.3) == []
    assert a.stats()["received"] - received == len(wanted)

    # Nothing of the three lost connections lingers: nats-py has a task per subscription, which
    # must end with the connection (at most the live ones, and a few others, are left).
    async def tasks() -> int:
        return len(asyncio.all_tasks())

    assert asyncio.run_coroutine_threadsafe(tasks(), a.web.loop).result(TIMEOUT) < len(wanted) + 50
