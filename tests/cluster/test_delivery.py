"""``broadcast()`` and ``publish()`` across processes: two or three web servers in this process, each
with its own connection to a real Redis or NATS (so, to the cluster, separate processes), and real
``websockets`` clients on 127.0.0.1.

What a client gets keeps its type across the broker (str: a text frame, bytes: a binary frame, a
JSON value: JSON text), ``exclude`` holds and excludes nobody else, a topic reaches only its
subscribers, and it works from threads that are not the server's loop.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable

import pytest

import duplex
from cluster.brokers import BrokerProcess
from cluster.helpers import App, Client, Node, await_route, wait_until

pytestmark = pytest.mark.timeout(60)

Nodes = Callable[..., Node]
Clients = Callable[..., Client]

BINARY = bytes([0, 1, 2, 0xFE, 0xFF]) + "é".encode()
VALUE = {"text": "héllo", "n": [1, 2.5, None, True]}


def test_broadcast_reaches_every_server_and_keeps_the_type(nodes: Nodes, clients: Clients) -> None:
    a, b, c = nodes(), nodes(), nodes()
    everyone = [clients(a.url), clients(a.url), clients(b.url), clients(c.url)]
    for sender in (a, b, c):
        await_route(sender.wss.broadcast, everyone)
        sender.wss.broadcast("plain text")
        sender.wss.broadcast(BINARY)
        sender.wss.broadcast(VALUE)
        for client in everyone:
            text, binary, value = client.recv_all(3)
            assert text == "plain text"
            assert binary == BINARY  # bytes: it came in a binary frame
            assert isinstance(value, str)  # a text frame
            assert json.loads(value) == VALUE
    for client in everyone:
        assert client.quiet(0.2) == []


def test_broadcast_excludes_only_the_excluded_connection(nodes: Nodes, clients: Clients) -> None:
    a, b, c = nodes(), nodes(), nodes()
    # Each client first on its server: equal connection ids in each process must not matter.
    excluded = clients(a.url)
    others = [clients(b.url), clients(c.url), clients(a.url)]
    await_route(a.wss.broadcast, [excluded, *others])

    assert excluded.request("broadcast-except-me text not for me") == "broadcast-except-me"
    assert excluded.request(f"broadcast-except-me bytes {BINARY.hex()}") == "broadcast-except-me"
    for client in others:
        assert client.recv_all(2) == ["not for me", BINARY]
    # Broadcasts are written at the end of the loop iteration that made them: one to the excluded
    # client would have come before this later answer.
    assert excluded.request("ping") == "pong"
    assert excluded.quiet(0.2) == []
    for client in others:
        assert client.quiet(0.0) == []


def test_publish_reaches_only_the_topics_subscribers(nodes: Nodes, clients: Clients) -> None:
    a, b, c = nodes(), nodes(), nodes()
    a_member, a_other = clients(a.url), clients(a.url)
    b_member, b_other = clients(b.url), clients(b.url)
    c_other = clients(c.url)
    c_other.request("sub elsewhere")
    for member in (a_member, b_member):
        assert member.request("sub news") == "sub news"
    await_route(lambda text: a.wss.publish("news", text), [a_member, b_member])

    a.wss.publish("news", "first")
    a.wss.publish("news", BINARY)
    a.wss.publish("news", VALUE)
    a.wss.publish("nobody-here", "lost")  # no subscriber anywhere
    # From a connection's callback on the other server, too.
    assert b_other.request("pub news text from b") == "pub"
    for member in (a_member, b_member):
        got = member.recv_all(4)
        got.remove("from b")  # two publishers: no order between them
        first, binary, value = got
        assert (first, binary) == ("first", BINARY)
        assert isinstance(value, str)
        assert json.loads(value) == VALUE
    for client in (a_member, b_member, a_other, b_other, c_other):
        assert client.quiet(0.3) == []
    # C has members of no topic that was published: it received nothing at all.
    assert c.stats()["received"] == 0


def test_publish_and_broadcast_from_user_threads(nodes: Nodes, clients: Clients) -> None:
    a, b = nodes(), nodes()
    member, watcher = clients(b.url), clients(b.url)
    member.request("sub work")
    await_route(lambda text: a.wss.publish("work", text), [member])
    await_route(a.wss.broadcast, [member, watcher])
    threads, each = 4, 50
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def user_thread(index: int) -> None:
        try:
            start.wait(5)
            for number in range(each):
                a.wss.publish("work", f"t{index}-{number}")
                a.wss.broadcast(f"b{index}-{number}")
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    workers = [threading.Thread(target=user_thread, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    assert not failures
    got = member.recv_all(2 * threads * each)
    seen = watcher.recv_all(threads * each)
    # Everything arrived, and each thread's messages in the order it sent them.
    for index in range(threads):
        assert [m for m in got if isinstance(m, str) and m.startswith(f"t{index}-")] == [
            f"t{index}-{number}" for number in range(each)
        ]
        expected = [f"b{index}-{number}" for number in range(each)]
        assert [m for m in got if isinstance(m, str) and m.startswith(f"b{index}-")] == expected
        assert [m for m in seen if isinstance(m, str) and m.startswith(f"b{index}-")] == expected
    assert watcher.quiet(0.2) == []

    # A thread the handler starts from a callback (as a user's code would).
    sender = clients(a.url)
    assert sender.request("thread-pub work 20 x") == "thread-pub"
    assert member.recv_all(20) == [f"x{number}" for number in range(20)]


def test_other_paths_and_a_server_for_every_path(nodes: Nodes, clients: Clients) -> None:
    """Each path has its own channels: a path with a dot (escaped in the channel name), and a
    server for every path (path None); broadcasts and topics never cross from one path to another."""
    a, b = nodes(), nodes()
    dotted = [duplex.WebSocketServer(App(), {"webServer": node.web, "path": "/chat.v1"}) for node in (a, b)]
    catch_all = [duplex.WebSocketServer(App(), {"webServer": node.web}) for node in (a, b)]
    on_ws = clients(b.url)
    on_dotted = clients(f"ws://127.0.0.1:{b.web.HTTPPort}/chat.v1")
    on_any = clients(f"ws://127.0.0.1:{b.web.HTTPPort}/any/thing")
    for client in (on_ws, on_dotted, on_any):
        client.request("sub T")
    await_route(dotted[0].broadcast, [on_dotted])
    await_route(catch_all[0].broadcast, [on_any])
    await_route(a.wss.broadcast, [on_ws])

    dotted[0].broadcast("to /chat.v1")
    dotted[0].publish("T", "T on /chat.v1")
    catch_all[0].broadcast("to every other path")
    catch_all[0].publish("T", "T on every other path")
    a.wss.publish("T", "T on /ws")
    assert on_dotted.recv_all(2) == ["to /chat.v1", "T on /chat.v1"]
    assert on_any.recv_all(2) == ["to every other path", "T on every other path"]
    assert on_ws.recv() == "T on /ws"
    for client in (on_ws, on_dotted, on_any):
        assert client.quiet(0.2) == []
    assert dotted[1].count() == catch_all[1].count() == b.wss.count() == 1


def test_a_message_bigger_than_what_the_broker_takes(
    broker: BrokerProcess, nodes: Nodes, clients: Clients
) -> None:
    """2 MB: Redis carries it; a NATS server refuses more than its max_payload (1 MB by default),
    so the sending process drops it and counts it (dropped_oversize), without an outage. Local
    clients get it either way."""
    a, b = nodes(), nodes()
    local, remote = clients(a.url, max_size=None), clients(b.url, max_size=None)
    await_route(a.wss.broadcast, [local, remote])
    big = os.urandom(2 * 1024 * 1024)
    published = a.stats()["published"]
    a.wss.broadcast(big)
    a.wss.broadcast("after")
    assert local.recv_all(2) == [big, "after"]
    if broker.kind == "redis":
        assert remote.recv_all(2) == [big, "after"]
        wait_until(lambda: a.stats()["published"] - published == 2, what="2 more published")
    else:
        assert remote.recv() == "after"
        assert a.stats()["dropped_oversize"] == 1
        wait_until(lambda: a.stats()["published"] - published == 1, what="1 more published")
    assert a.stats()["outages"] == 0
    assert a.app.error_codes() == []
