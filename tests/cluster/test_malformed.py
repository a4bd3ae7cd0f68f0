"""What arrives from the broker is checked before anything is delivered: bytes published straight on
the channels with redis-py or nats-py (as a buggy or hostile publisher would) that are not a whole,
valid duplex message, or that are bigger than the receiving server's ``maxMessageSize``, are
dropped whole and counted; the server keeps serving."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

import pytest

from cluster.helpers import Client, Node, RawBroker, await_route, wait_until
from duplex.cluster.channels import PRESENCE, broadcast_channel, topic_channel
from duplex.cluster.envelope import HEADER, encode

pytestmark = pytest.mark.timeout(60)

Nodes = Callable[..., Node]
Clients = Callable[[str], Client]

LIMIT = 1000  # the receiving server's maxMessageSize
ORIGIN = os.urandom(8)  # a process that is not one of the servers
TOPIC = topic_channel("/ws", "T")
EVERYONE = broadcast_channel("/ws")


def valid(text: str, topic: str | None = "T") -> bytes:
    return encode(ORIGIN, "/ws", topic, text.encode(), True)


def envelope(flags: int, path: bytes, topic: bytes, payload: bytes, magic: bytes = b"dx1") -> bytes:
    """An envelope made by hand (the layout in duplex.cluster.envelope), to get it wrong on purpose."""
    return struct.pack(">3sB8sHH", magic, flags, ORIGIN, len(path), len(topic)) + path + topic + payload


TEXT, TOPIC_FLAG = 1, 2
assert envelope(TEXT | TOPIC_FLAG, b"/ws", b"T", b"hi") == valid("hi")

MALFORMED = {
    "garbage": b"\x00garbage\xff" * 8,
    "empty": b"",
    "truncated header": valid("whole")[: HEADER - 3],
    "truncated names": valid("whole")[: HEADER + 2],
    "text not UTF-8": encode(ORIGIN, "/ws", "T", b"ok \xff\xfe then not", True),
    "unknown format": envelope(TEXT | TOPIC_FLAG, b"/ws", b"T", b"x", magic=b"dx9"),
    "unknown flags": envelope(0x80 | TOPIC_FLAG, b"/ws", b"T", b"x"),
    "path not UTF-8": envelope(TEXT | TOPIC_FLAG, b"/\xff\xfe", b"T", b"x"),
    "topic flag without a topic": envelope(TEXT | TOPIC_FLAG, b"/ws", b"", b"x"),
    "a topic without the flag": envelope(TEXT, b"/ws", b"T", b"x"),
    "another topic on this channel": valid("misrouted", topic="other"),
    "another path on this channel": encode(ORIGIN, "/elsewhere", "T", b"misrouted", True),
}


def test_malformed_and_oversized_messages_are_dropped_whole(
    nodes: Nodes, clients: Clients, raw_broker: RawBroker
) -> None:
    b = nodes(maxMessageSize=LIMIT)
    member, bystander = clients(b.url), clients(b.url)
    member.request("sub T")
    await_route(lambda text: raw_broker.publish(TOPIC, valid(text)), [member])
    await_route(lambda text: raw_broker.publish(EVERYONE, valid(text, None)), [member, bystander])
    before = b.stats()

    for data in MALFORMED.values():
        raw_broker.publish(TOPIC, data)
    raw_broker.publish(TOPIC, encode(ORIGIN, "/ws", "T", b"x" * (LIMIT + 1), False))  # oversized
    raw_broker.publish(TOPIC, encode(ORIGIN, "/ws", "T", "é".encode() * (LIMIT // 2 + 1), True))
    raw_broker.publish(EVERYONE, b"not a duplex message")
    raw_broker.publish(EVERYONE, encode(ORIGIN, "/ws", None, b"y" * (LIMIT + 1), False))
    raw_broker.publish(PRESENCE, b'{"node": 42}')  # a heartbeat that is not one
    raw_broker.publish(PRESENCE, b"\xff not JSON")
    # A message exactly at the limit is fine, and so is whatever comes after the bad ones.
    raw_broker.publish(TOPIC, encode(ORIGIN, "/ws", "T", b"z" * LIMIT, False))
    raw_broker.publish(TOPIC, valid("still serving"))
    raw_broker.publish(EVERYONE, valid("everyone still served", None))

    # One publisher, one channel: anything delivered of the bad ones would have come first.
    assert member.recv_all(2) == [b"z" * LIMIT, "still serving"]
    assert member.recv() == "everyone still served"
    assert bystander.recv() == "everyone still served"
    expected_malformed = len(MALFORMED) + 1 + 2  # + the broadcast one + the two heartbeats
    wait_until(
        lambda: b.stats()["dropped_malformed"] - before["dropped_malformed"] == expected_malformed,
        what=f"{expected_malformed} more dropped_malformed",
    )
    after = b.stats()
    assert after["dropped_oversize"] - before["dropped_oversize"] == 3
    # Every message counts as received (not the heartbeats): len(MALFORMED) + 3 oversized + the
    # broadcast one + 3 valid.
    assert after["received"] - before["received"] == len(MALFORMED) + 3 + 1 + 3
    assert member.quiet(0.2) == []
    assert bystander.quiet(0.0) == []
    assert member.open and bystander.open  # nothing closed them (no 1009, no 1007)
    assert member.request("ping") == "pong"


@pytest.mark.parametrize(
    "heartbeat",
    [b"[" * 100_000, b'{"node": "n", "paths": {"/ws": [1, {"T": "x"}]}}', b'{"node": "n", "paths": [1]}'],
    ids=["nested too deep", "a count that is not a number", "paths not an object"],
)
def test_a_heartbeat_that_cannot_be_read_is_dropped_and_is_not_an_outage(
    nodes: Nodes, clients: Clients, raw_broker: RawBroker, heartbeat: bytes
) -> None:
    a, b = nodes(), nodes()
    member = clients(b.url)
    member.request("sub T")
    await_route(lambda text: a.wss.publish("T", text), [member])
    wait_until(lambda: a.wss.count() == b.wss.count() == 1, what="count() == 1 on A and B")
    before = b.stats()

    raw_broker.publish(PRESENCE, heartbeat)
    a.wss.publish("T", "after")
    assert member.recv() == "after"
    wait_until(lambda: b.stats()["dropped_malformed"] == before["dropped_malformed"] + 1, what="dropped")
    assert b.stats()["outages"] == 0
    assert a.app.error_codes() == b.app.error_codes() == []  # no 400: the broker was never lost
    assert a.wss.count() == b.wss.count() == 1
