"""Routing: a process receives a topic from the broker only while it has a member of it.

Counted in the process (``web.brokerStats["received"]``) on both brokers, and, on Redis, checked
in the broker's own view (``PUBSUB NUMSUB``): one subscription per process with members, none once
the last member unsubscribed or left.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cluster.helpers import Client, Node, RawBroker, await_route, wait_until
from duplex.cluster.channels import broadcast_channel, topic_channel

pytestmark = pytest.mark.timeout(60)

Nodes = Callable[..., Node]
Clients = Callable[[str], Client]


def test_a_server_without_members_of_a_topic_receives_nothing_of_it(nodes: Nodes, clients: Clients) -> None:
    a, b, c = nodes(), nodes(), nodes()
    member = clients(b.url)
    bystander = clients(c.url)  # C has a connection (so it gets broadcasts), but no member of "hot"
    bystander.request("sub cold")
    member.request("sub hot")
    await_route(lambda text: a.wss.publish("hot", text), [member])
    await_route(a.wss.broadcast, [member, bystander])
    b_before, c_before = b.stats()["received"], c.stats()["received"]

    for number in range(100):
        a.wss.publish("hot", f"m{number}")
    assert member.recv_all(100) == [f"m{number}" for number in range(100)]
    # Whatever went to C would have come before this broadcast (one publisher, in order).
    a.wss.broadcast("fence")
    assert bystander.recv() == "fence"
    assert member.recv() == "fence"

    assert b.stats()["received"] - b_before == 101
    assert c.stats()["received"] - c_before == 1  # the fence only
    assert bystander.quiet(0.2) == []
    assert a.stats()["received"] == 0  # A has no connection at all: not even broadcasts
    assert a.stats()["published"] >= 101


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_redis_sees_one_subscription_per_process_with_members(
    nodes: Nodes, clients: Clients, raw_broker: RawBroker
) -> None:
    a, b = nodes(), nodes()
    channel, everyone = topic_channel("/ws", "T"), broadcast_channel("/ws")
    assert channel == "duplex./ws.t.T"

    def numsub(expected: int, name: str = channel) -> None:
        wait_until(lambda: raw_broker.numsub(name) == expected, what=f"PUBSUB NUMSUB {name} == {expected}")

    numsub(0)
    numsub(0, everyone)
    b1, b2 = clients(b.url), clients(b.url)
    numsub(1, everyone)  # B has connections: it gets the broadcasts of /ws
    b1.request("sub T")
    numsub(1)
    b2.request("sub T")  # a second member on B: still one subscription
    a1 = clients(a.url)
    a1.request("sub T")
    numsub(2)
    numsub(2, everyone)

    b1.request("unsub T")  # B still has b2
    await_route(lambda text: a.wss.publish("T", text), [b2])
    assert raw_broker.numsub(channel) == 2
    b2.close()  # the last member on B leaves by disconnecting
    numsub(1)
    a1.request("unsub T")  # and the last one on A by unsubscribing
    numsub(0)

    numsub(2, everyone)  # b1 and a1 are still connected
    b1.close()
    numsub(1, everyone)
    a1.close()
    numsub(0, everyone)
