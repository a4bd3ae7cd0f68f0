"""``duplex.Publisher`` and ``duplex.AsyncPublisher`` (duplex.server.publisher): publishing to the
WebSocket servers of a cluster from a process that serves none, against real brokers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

import duplex
from cluster.brokers import BrokerProcess
from cluster.helpers import Client, Node, await_route, free_port

pytestmark = pytest.mark.timeout(60)

Nodes = Callable[..., Node]
Clients = Callable[[str], Client]

BINARY = bytes([0, 0xFF, 7])
VALUE = {"text": "ça", "n": [1, 2]}


def subscribed_clients(nodes: Nodes, clients: Clients, topic: str) -> tuple[Client, Client, Client]:
    """A subscriber of ``topic`` on each of two nodes, and a client of the second node not subscribed."""
    one, two = nodes(), nodes()
    first, second, other = clients(one.url), clients(two.url), clients(two.url)
    first.request(f"sub {topic}")
    second.request(f"sub {topic}")
    return first, second, other


def test_publish_and_broadcast_reach_every_server_with_their_type(
    broker: BrokerProcess, nodes: Nodes, clients: Clients
) -> None:
    first, second, other = subscribed_clients(nodes, clients, "news")
    with duplex.Publisher(broker.url) as publisher:
        await_route(lambda text: publisher.publish("/ws", "news", text), [first, second])
        publisher.publish("/ws", "news", "hello")
        publisher.publish("/ws", "news", BINARY)
        publisher.publish("/ws", "news", VALUE)
        for member in (first, second):
            text, binary, value = member.recv_all(3)
            assert (text, binary, json.loads(value)) == ("hello", BINARY, VALUE)
        assert other.quiet(0.3) == []
        await_route(lambda text: publisher.broadcast("/ws", text), [first, second, other])
        publisher.broadcast("/ws", "to all")
        for client in (first, second, other):
            assert client.recv() == "to all"
        assert publisher.stats.published >= 5


def test_the_async_publisher(broker: BrokerProcess, nodes: Nodes, clients: Clients) -> None:
    first, second, _ = subscribed_clients(nodes, clients, "news")

    async def publish() -> None:
        async with duplex.AsyncPublisher(broker.url) as publisher:
            for _ in range(200):  # until the nodes' subscriptions are in place
                await publisher.publish("/ws", "news", "probe")
                if first.poll(0.02) == "probe" and second.poll(0.02) == "probe":
                    break
            await publisher.publish("/ws", "news", "async hello")

    asyncio.run(publish())
    for member in (first, second):
        assert [message for message in member.quiet(1.0) if message != "probe"] == ["async hello"]


def test_bad_arguments_raise_and_send_nothing(broker: BrokerProcess, nodes: Nodes, clients: Clients) -> None:
    first, second, _ = subscribed_clients(nodes, clients, "news")
    with duplex.Publisher(broker.url) as publisher:
        await_route(lambda text: publisher.publish("/ws", "news", text), [first, second])
        with pytest.raises(ValueError, match="path must be None or a string starting with '/'"):
            publisher.publish("ws", "news", "x")
        with pytest.raises(ValueError, match="topic 'a b' is not allowed"):
            publisher.publish("/ws", "a b", "x")
        with pytest.raises(TypeError, match="a topic must be a str"):
            publisher.publish("/ws", None, "x")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="cannot send object"):
            publisher.broadcast("/ws", object())
        assert first.quiet(0.3) == [] and second.quiet(0.1) == []


def test_the_url_comes_from_the_argument_or_duplex_broker(
    broker: BrokerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DUPLEX_BROKER", raising=False)
    with pytest.raises(ValueError, match="a Publisher needs a broker URL"):
        duplex.Publisher()
    with pytest.raises(ValueError, match="is not supported: use redis://"):
        duplex.Publisher("http://127.0.0.1:1")
    monkeypatch.setenv("DUPLEX_BROKER", broker.url)
    with duplex.Publisher() as publisher:
        assert publisher.url == broker.url
        publisher.broadcast("/ws", "nobody listens: not an error")


def test_an_unreachable_broker_raises_broker_error(broker: BrokerProcess) -> None:
    url = broker.url.replace(str(broker.port), str(free_port()))
    with pytest.raises(duplex.BrokerError, match=f"cannot reach the .* broker at {url}"):
        duplex.Publisher(url)

    async def connect() -> None:
        await duplex.AsyncPublisher(url).connect()

    with pytest.raises(duplex.BrokerError, match=f"cannot reach the .* broker at {url}"):
        asyncio.run(connect())


def test_a_publisher_reconnects_after_an_outage_and_says_when_it_cannot(
    broker: BrokerProcess, nodes: Nodes, clients: Clients
) -> None:
    first, second, _ = subscribed_clients(nodes, clients, "news")
    with duplex.Publisher(broker.url) as publisher:
        publisher.publish("/ws", "news", "before")
        broker.kill()
        with pytest.raises(duplex.BrokerError, match=r"cannot publish to the .* broker"):
            publisher.publish("/ws", "news", "during")
        broker.start()
        # The servers come back by themselves; the publisher connects again when it publishes.
        await_route(lambda text: publisher.publish("/ws", "news", text), [first, second], timeout=20)
        publisher.publish("/ws", "news", "after")
        for member in (first, second):
            assert "after" in member.quiet(1.0)
            assert "during" not in member.inbox
    with pytest.raises(duplex.BrokerError, match="this Publisher is closed"):
        publisher.publish("/ws", "news", "closed")
