"""Topics in one process (docs/api.md, "Topics"): ``ws.subscribe()``, ``ws.unsubscribe()``,
``ws.topics``, ``wss.publish()`` and ``wss.subscribers()``, over real sockets on 127.0.0.1 with the
``websockets`` client, from callbacks, workers and threads the test creates.
"""

from __future__ import annotations

import json
import struct
import threading
import time
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

import duplex
from duplex.server.topics import MAX_TOPIC_LENGTH, check_topic
from server.helpers_connection import (
    CHUNK,
    OP_BINARY,
    TIMEOUT,
    RawClient,
    Recorder,
    client_of,
    error_codes,
    numbered_chunk,
    open_clients,
    run_threads,
    server_side,
    start_wss,
    unique_name,
    url,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)

# Long enough for a message that should not come to have come.
QUIET = 0.2


def nothing_more(client: ClientConnection) -> bool:
    """True if no message comes within ``QUIET`` seconds."""
    try:
        client.recv(timeout=QUIET)
    except TimeoutError:
        return True
    return False


# -- subscribe, publish, unsubscribe ------------------------------------------------------------


def test_subscribe_publish_unsubscribe(web: duplex.WebServer) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder)
    with open_clients(web, recorder, 3) as (a, b, c):
        ws_a, ws_b, ws_c = server_side(recorder, 3)
        assert ws_a.topics == frozenset()
        assert ws_a.subscribe("news") is True
        assert ws_a.subscribe("news") is False  # already subscribed: nothing changes
        assert ws_b.subscribe("news") is True
        assert ws_b.subscribe("sport") is True
        assert ws_a.topics == frozenset({"news"})
        assert ws_b.topics == frozenset({"news", "sport"})
        assert isinstance(ws_b.topics, frozenset)  # a snapshot: it cannot change the subscriptions
        assert (wss.subscribers("news"), wss.subscribers("sport"), wss.subscribers("none")) == (2, 1, 0)

        assert wss.publish("news", "headline") is None
        wss.publish("sport", "score")
        wss.publish("weather", "rain")  # nobody subscribed: nothing sent, no error
        wss.broadcast("end")
        assert [a.recv(timeout=TIMEOUT) for _ in range(2)] == ["headline", "end"]
        assert [b.recv(timeout=TIMEOUT) for _ in range(3)] == ["headline", "score", "end"]
        assert c.recv(timeout=TIMEOUT) == "end"

        assert ws_a.unsubscribe("news") is True
        assert ws_a.unsubscribe("news") is False  # not subscribed: returns quietly
        assert ws_c.unsubscribe("never") is False
        assert ws_a.topics == frozenset()
        assert wss.subscribers("news") == 1
        wss.publish("news", "second")
        wss.broadcast("end")
        assert a.recv(timeout=TIMEOUT) == "end"
        assert [b.recv(timeout=TIMEOUT) for _ in range(2)] == ["second", "end"]
    assert error_codes(recorder) == []


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param("hello room", "hello room", id="str"),
        pytest.param(b"\x00\xff", b"\x00\xff", id="bytes"),
        pytest.param(bytearray(b"\x01"), b"\x01", id="bytearray"),
        pytest.param({"n": 1, "é": [None]}, '{"n":1,"é":[null]}', id="json"),
        pytest.param([1, 2.5, True], "[1,2.5,true]", id="json-list"),
    ],
)
def test_publish_frames_by_type_as_broadcast(web: duplex.WebServer, message: Any, expected: Any) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder, dataType="object")  # sending never depends on dataType
    with open_clients(web, recorder, 2) as clients:
        for ws in server_side(recorder, 2):
            ws.subscribe("room")
        wss.publish("room", message)
        for client in clients:
            received = client.recv(timeout=TIMEOUT)
            assert type(received) is type(expected)
            assert received == expected


def test_publish_rejects_what_send_rejects_even_to_an_empty_topic(web: duplex.WebServer) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder)
    with client_of(web) as client:
        recorder.wait_open().subscribe("room")
        for topic in ("room", "empty"):
            for message in (set(), object(), float("nan"), {(1, 2): "tuple key"}):
                with pytest.raises(TypeError, match="cannot send"):
                    wss.publish(topic, message)
        wss.publish("room", "after")
        assert client.recv(timeout=TIMEOUT) == "after"  # nothing of the refused ones was sent


def test_publish_exclude_one_and_several(web: duplex.WebServer) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder)
    with open_clients(web, recorder, 4) as clients:
        a, b, c, d = server_side(recorder, 4)
        for ws in (a, b, c):
            ws.subscribe("room")
        wss.publish("room", "not for a", exclude=a)
        wss.publish("room", "only for c", exclude=[a, b])
        wss.publish("room", "only for b", exclude={a, c, d})  # d is not even subscribed
        wss.publish("room", "for all", exclude=())
        wss.broadcast("end")
        expected = [
            ["for all", "end"],
            ["not for a", "only for b", "for all", "end"],
            ["not for a", "only for c", "for all", "end"],
            ["end"],
        ]
        for client, messages in zip(clients, expected, strict=True):
            assert [client.recv(timeout=TIMEOUT) for _ in messages] == messages


def test_topics_belong_to_their_server(web: duplex.WebServer) -> None:
    first, second = Recorder(), Recorder()
    wss_first = start_wss(web, first, path="/first")
    wss_second = start_wss(web, second, path="/second")
    with (
        connect(url(web, "/first"), open_timeout=TIMEOUT, proxy=None) as client_first,
        connect(url(web, "/second"), open_timeout=TIMEOUT, proxy=None) as client_second,
    ):
        first.wait_open().subscribe("room")
        second.wait_open().subscribe("room")
        assert (wss_first.subscribers("room"), wss_second.subscribers("room")) == (1, 1)
        wss_first.publish("room", "first only")
        assert client_first.recv(timeout=TIMEOUT) == "first only"
        assert nothing_more(client_second)


# -- closing ------------------------------------------------------------------------------------


def test_a_closed_connection_leaves_its_topics(web: duplex.WebServer) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder)
    with client_of(web) as stays:
        ws_stays = recorder.wait_open()
        ws_stays.subscribe("room")
        with client_of(web):
            ws_leaves = recorder.wait_for("open", 2)[1].ws
            for topic in ("room", "a", "b"):
                assert ws_leaves.subscribe(topic) is True
            assert wss.subscribers("room") == 2
        recorder.wait_for("terminate")
        assert ws_leaves.status == "Closed"
        assert ws_leaves.topics == frozenset()
        assert (wss.subscribers("room"), wss.subscribers("a"), wss.subscribers("b")) == (1, 0, 0)
        # A closed connection cannot subscribe again; unsubscribing it is quiet.
        assert ws_leaves.subscribe("room") is False
        assert ws_leaves.unsubscribe("a") is False
        assert wss.subscribers("room") == 1 and ws_leaves.topics == frozenset()
        wss.publish("room", "still here")
        assert stays.recv(timeout=TIMEOUT) == "still here"
        assert ws_stays.topics == frozenset({"room"})


def test_a_closing_connection_cannot_subscribe(web: duplex.WebServer) -> None:
    recorder = Recorder()
    start_wss(web, recorder)
    with client_of(web):
        ws = recorder.wait_open()
        ws.subscribe("kept")
        ws.terminate(1000)
        assert ws.status == "Closing"
        assert ws.subscribe("new") is False
        assert ws.topics == frozenset({"kept"})  # until it is closed
        assert wait_until(lambda: ws.status == "Closed")
        assert wait_until(lambda: ws.topics == frozenset())


def test_subscribes_racing_the_close_leave_nothing_behind(web: duplex.WebServer) -> None:
    """Threads subscribe a connection while its client goes away: once it is "Closed", it is in no
    topic, whichever came first (the registry checks the status under its lock)."""
    recorder = Recorder()
    wss = start_wss(web, recorder)
    for attempt in range(5):
        going = threading.Event()
        going.set()
        names = [f"race-{thread}" for thread in range(4)]
        with client_of(web):
            ws = recorder.wait_for("open", attempt + 1)[attempt].ws

            def churn(name: str, ws: Any = ws, going: threading.Event = going) -> None:
                while going.is_set():
                    ws.subscribe(name)
                    ws.unsubscribe(name)
                    ws.subscribe(name)

            threads = [threading.Thread(target=churn, args=(name,)) for name in names]
            for thread in threads:
                thread.start()
            time.sleep(0.02)
        assert wait_until(lambda ws=ws: ws.status == "Closed")
        time.sleep(0.02)
        going.clear()
        for thread in threads:
            thread.join(TIMEOUT)
        assert ws.topics == frozenset()
        assert [wss.subscribers(name) for name in names] == [0, 0, 0, 0]


# -- names --------------------------------------------------------------------------------------

INVALID_NAMES = [
    pytest.param(42, TypeError, "a topic must be a str, got int", id="int"),
    pytest.param(b"room", TypeError, "a topic must be a str, got bytes", id="bytes"),
    pytest.param(None, TypeError, "a topic must be a str, got NoneType", id="None"),
    pytest.param("", ValueError, "it is empty", id="empty"),
    pytest.param("x" * (MAX_TOPIC_LENGTH + 1), ValueError, "it has 257 characters", id="too-long"),
    pytest.param("a b", ValueError, r"' ' \(at index 1\) is not allowed", id="space"),
    pytest.param("a\tb", ValueError, r"'\\t' \(at index 1\) is not allowed", id="tab"),
    pytest.param("news.*", ValueError, r"'\*' \(at index 5\) is not allowed", id="star"),
    pytest.param("news.>", ValueError, r"'>' \(at index 5\) is not allowed", id="gt"),
    pytest.param("café", ValueError, r"'é' \(at index 3\) is not allowed", id="non-ascii"),
    pytest.param(".news", ValueError, "a '.' may not start or end it", id="leading-dot"),
    pytest.param("news.", ValueError, "a '.' may not start or end it", id="trailing-dot"),
    pytest.param("news..eu", ValueError, "nor follow another '.'", id="double-dot"),
]


@pytest.mark.parametrize(("topic", "error", "message"), INVALID_NAMES)
def test_invalid_topic_names_are_refused_everywhere(
    web: duplex.WebServer, topic: Any, error: type[Exception], message: str
) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder)
    with client_of(web) as client:
        ws = recorder.wait_open()
        calls = [
            lambda: ws.subscribe(topic),
            lambda: ws.unsubscribe(topic),
            lambda: wss.publish(topic, "x"),
            lambda: wss.subscribers(topic),
        ]
        for call in calls:
            with pytest.raises(error, match=message) as raised:
                call()
            # Each error says what is allowed.
            assert "1 to 256 characters: ASCII letters, digits and - _ . : @ /" in str(raised.value)
        assert ws.topics == frozenset()
        assert nothing_more(client)


def test_valid_topic_names() -> None:
    for name in ("a", "x" * MAX_TOPIC_LENGTH, "room.42", "chat:eu-west/user@example_1", "a.b.c", "-_:@/"):
        assert check_topic(name) == name


# -- threads ------------------------------------------------------------------------------------


def test_subscribe_from_many_threads_at_once(web: duplex.WebServer) -> None:
    """Eight threads subscribe and unsubscribe three connections to shared and own topics while the
    loop publishes to them: the counts and ``topics`` agree at the end."""
    recorder = Recorder()
    wss = start_wss(web, recorder)
    per_thread = 200
    with open_clients(web, recorder, 3) as clients:
        connections = server_side(recorder, 3)
        publishing = threading.Event()
        publishing.set()

        def publish_on_the_loop() -> None:
            while publishing.is_set():
                web.call_in_loop(lambda: [wss.publish(f"shared-{index % 10}", "tick") for index in range(20)])
                time.sleep(0.001)

        publisher = threading.Thread(target=publish_on_the_loop)
        publisher.start()

        def churn(thread: int) -> None:
            for index in range(per_thread):
                for ws in connections:
                    assert ws.subscribe(f"own-{thread}-{index}") is True
                    ws.subscribe(f"shared-{index % 10}")
                    if index % 2:
                        assert ws.unsubscribe(f"own-{thread}-{index}") is True

        try:
            run_threads(8, churn)
        finally:
            publishing.clear()
            publisher.join(TIMEOUT)
        own = {f"own-{thread}-{index}" for thread in range(8) for index in range(0, per_thread, 2)}
        shared = {f"shared-{index}" for index in range(10)}
        for ws in connections:
            assert ws.topics == own | shared
        assert {wss.subscribers(name) for name in own | shared} == {3}
        assert wss.subscribers("own-0-1") == 0
        wss.publish("own-7-198", "last")
        for client in clients:
            while (message := client.recv(timeout=TIMEOUT)) == "tick":
                pass
            assert message == "last"


def test_publish_from_many_threads_keeps_each_threads_order(web: duplex.WebServer) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder)
    threads, per_thread = 6, 300
    with open_clients(web, recorder, 3) as (a, b, c):
        ws_a, ws_b, _ = server_side(recorder, 3)
        ws_a.subscribe("feed")
        ws_b.subscribe("feed")

        def publish(thread: int) -> None:
            for index in range(per_thread):
                wss.publish("feed", f"{thread}:{index}" if thread % 2 else f"{thread}:{index}".encode())

        run_threads(threads, publish)
        for client in (a, b):
            next_index = [0] * threads
            for _ in range(threads * per_thread):
                received = client.recv(timeout=TIMEOUT)
                text = received.decode() if isinstance(received, bytes) else received
                thread, index = map(int, text.split(":"))
                assert isinstance(received, bytes) == (thread % 2 == 0)
                assert index == next_index[thread]
                next_index[thread] += 1
        assert nothing_more(c)


# -- from callbacks: a chat room ----------------------------------------------------------------


class ChatRoom:
    """``{"join": room}`` subscribes and tells the room; ``{"say": text}`` goes to the sender's rooms,
    others only; ``{"leave": room}`` unsubscribes."""

    def onMessage(self, ws: duplex.WebSocketConnection, event: Any) -> None:
        data = event.data
        if "join" in data:
            room = data["join"]
            if ws.subscribe(room):
                ws.wss.publish(room, {"joined": room, "members": ws.wss.subscribers(room)})
        elif "say" in data:
            for room in sorted(ws.topics):
                ws.wss.publish(room, {"room": room, "text": data["say"]}, exclude=ws)
        elif "leave" in data:
            ws.send({"left": ws.unsubscribe(data["leave"])})


@pytest.mark.parametrize("worker", [False, True], ids=["loop", "worker"])
def test_a_chat_room_from_callbacks(web: duplex.WebServer, worker: bool) -> None:
    options: dict[str, Any] = {"dataType": "object"}
    if worker:
        options["worker"] = unique_name("topics")
    wss = start_wss(web, ChatRoom(), **options)
    with client_of(web) as ann, client_of(web) as bob, client_of(web) as cid:

        def receive(client: ClientConnection) -> Any:
            return json.loads(client.recv(timeout=TIMEOUT))

        ann.send('{"join": "lobby"}')
        assert receive(ann) == {"joined": "lobby", "members": 1}  # subscribed before the publish
        bob.send('{"join": "lobby"}')
        assert receive(ann) == {"joined": "lobby", "members": 2}
        assert receive(bob) == {"joined": "lobby", "members": 2}
        cid.send('{"join": "games"}')
        assert receive(cid) == {"joined": "games", "members": 1}
        ann.send('{"join": "lobby"}')  # already in: subscribe() is False, nothing published
        ann.send('{"say": "hi"}')
        assert receive(bob) == {"room": "lobby", "text": "hi"}
        bob.send('{"leave": "lobby"}')
        assert receive(bob) == {"left": True}
        cid.send('{"say": "anyone?"}')
        ann.send('{"say": "alone"}')
        bob.send('{"leave": "lobby"}')
        assert receive(bob) == {"left": False}
        assert nothing_more(ann) and nothing_more(cid)
        assert (wss.subscribers("lobby"), wss.subscribers("games")) == (1, 1)


def test_a_publish_reaches_the_subscribers_of_its_call(web: duplex.WebServer) -> None:
    """publish() takes the topic's subscribers when it is called, in any thread: subscribes and
    unsubscribes made after it, before its frame is written at the end of the loop iteration, do
    not change who gets it (the registry copies a published topic before changing it)."""
    recorder = Recorder()
    wss = start_wss(web, recorder)
    with open_clients(web, recorder, 2) as (a, b):
        ws_a, ws_b = server_side(recorder, 2)
        ws_a.subscribe("room")

        def in_one_callback() -> None:
            wss.publish("room", "one")  # to a
            ws_a.unsubscribe("room")  # the topic empties, and is dropped
            ws_b.subscribe("room")
            wss.publish("room", "two")  # to b
            wss.publish("empty", "nobody")
            ws_a.subscribe("empty")
            wss.broadcast("end")

        web.call_in_loop(in_one_callback)
        assert [a.recv(timeout=TIMEOUT) for _ in range(2)] == ["one", "end"]
        assert [b.recv(timeout=TIMEOUT) for _ in range(2)] == ["two", "end"]

        # From this thread: the publish is handed to the loop, with the subscribers of the call.
        for index in range(50):
            wss.publish("room", f"to b {index}")
            ws_a.subscribe("room")
            wss.publish("room", f"to both {index}")
            ws_a.unsubscribe("room")
        assert [a.recv(timeout=TIMEOUT) for _ in range(50)] == [f"to both {index}" for index in range(50)]
        expected = [message for index in range(50) for message in (f"to b {index}", f"to both {index}")]
        assert [b.recv(timeout=TIMEOUT) for _ in range(100)] == expected
        assert nothing_more(a)


def test_publishes_broadcasts_and_sends_keep_their_order(web: duplex.WebServer) -> None:
    def burst(ws: Any, event: Any) -> None:
        wss = ws.wss
        ws.subscribe("room")
        wss.publish("room", "p1")
        ws.send("direct")
        wss.broadcast("b1")
        wss.publish("room", "p2", exclude=ws)
        for index in range(50):
            wss.publish("room", f"p {index}")
        wss.broadcast("b2")
        ws.send("last")

    recorder = Recorder(on_message=burst)
    start_wss(web, recorder)
    with open_clients(web, recorder, 3) as (sender, other, outside):
        server_side(recorder, 3)[1].subscribe("room")
        sender.send("go")
        many = [f"p {index}" for index in range(50)]
        expected = ["p1", "direct", "b1", *many, "b2", "last"]
        assert [sender.recv(timeout=TIMEOUT) for _ in range(55)] == expected
        assert [other.recv(timeout=TIMEOUT) for _ in range(54)] == ["p1", "b1", "p2", *many, "b2"]
        assert [outside.recv(timeout=TIMEOUT) for _ in range(2)] == ["b1", "b2"]


# -- the send buffer limit ----------------------------------------------------------------------

LIMIT = 256 * 1024
BURST = 200  # 200 x 64 KiB = 12.5 MiB in one loop iteration, 50 times the limit


def test_a_publish_burst_keeps_the_limit_for_each_subscriber(web: duplex.WebServer) -> None:
    """A burst of publishes to silent readers is held to ``sendBufferLimit`` message by message, as a
    broadcast burst is: each subscriber keeps at most the limit queued and the rest is dropped."""
    recorder = Recorder()
    wss = start_wss(web, recorder, sendBufferLimit=LIMIT, backpressure="drop")
    readers = [RawClient.connect(web.HTTPPort, receive_buffer=4096) for _ in range(3)]
    try:
        connections = server_side(recorder, 3)
        for ws in connections[:2]:
            ws.subscribe("firehose")

        def burst() -> None:
            for index in range(BURST):
                wss.publish("firehose", numbered_chunk(index))

        web.call_in_loop(burst)
        assert wait_until(lambda: len(recorder.of("error")) >= 2 * (BURST - LIMIT // CHUNK))
        time.sleep(QUIET)
        assert set(error_codes(recorder)) == {duplex.ErrorCode.SEND_BUFFER_FULL_DROPPED}
        for ws in connections[:2]:
            assert ws.bufferedAmount <= LIMIT
            assert ws.dropped_messages >= BURST - LIMIT // CHUNK
            assert ws.status == "Connected"
        assert connections[2].dropped_messages == 0 and connections[2].bufferedAmount == 0
        # What went out: whole messages, in order, from the first.
        indexes = []
        while True:
            try:
                _fin, opcode, payload = readers[0].read_frame(timeout=0.5)
            except TimeoutError:
                break
            (index,) = struct.unpack("!I", payload[:4])
            assert (opcode, payload) == (OP_BINARY, numbered_chunk(index))
            indexes.append(index)
        assert indexes == list(range(len(indexes)))
        assert 0 < len(indexes) <= BURST - connections[0].dropped_messages
    finally:
        for reader in readers:
            reader.close()
