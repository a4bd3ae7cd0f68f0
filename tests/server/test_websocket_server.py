"""``duplex.WebSocketServer`` (4D.WebSocketServer): construction, routing, ``onConnection``'s
answers, the request object, properties, ``terminate()``, and the section 7 admission options
(API.md sections 3, 5 and 7)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

import duplex

TIMEOUT = 5.0

Make = Callable[..., duplex.WebSocketServer]
Client = Callable[..., ClientConnection]
Url = Callable[[str], str]


class Echo:
    def onMessage(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        ws.send(event.data)


class EchoServer:
    def onConnection(self, wss: duplex.WebSocketServer, event: duplex.Event) -> Echo:
        return Echo()


class Greeter:
    """A connection handler that says which server took the connection."""

    def __init__(self, name: str) -> None:
        self.name = name

    def onOpen(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        ws.send(self.name)

    def onMessage(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        pass


class NamedServer:
    def __init__(self, name: str) -> None:
        self.name = name

    def onConnection(self, wss: duplex.WebSocketServer, event: duplex.Event) -> Greeter:
        return Greeter(self.name)


# -- construction ------------------------------------------------------------------------------------


def test_web_server_not_running_is_a_runtime_error(new_web: Callable[..., duplex.WebServer]) -> None:
    never_started = new_web()
    with pytest.raises(RuntimeError) as info:
        duplex.WebSocketServer(EchoServer(), {"webServer": never_started, "path": "/ws"})
    message = str(info.value)
    assert "not running" in message
    assert "start" in message  # says how to start it

    stopped = new_web()
    assert stopped.start({"HTTPPort": 0})["success"] is True
    stopped.stop()
    with pytest.raises(RuntimeError, match="start"):
        duplex.WebSocketServer(EchoServer(), {"webServer": stopped})


def test_handler_without_on_connection_is_a_type_error(web: duplex.WebServer) -> None:
    class NoConnection:
        def onOpen(self, wss: duplex.WebSocketServer, event: duplex.Event) -> None:
            pass

    with pytest.raises(TypeError, match="onConnection"):
        duplex.WebSocketServer(NoConnection(), {"webServer": web, "path": "/ws"})
    with pytest.raises(TypeError, match="onConnection"):
        duplex.WebSocketServer(object(), {"webServer": web, "path": "/ws"})


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"dataType": "xml"}, "dataType"),
        ({"maxMessageSize": -1}, "maxMessageSize"),
        ({"path": "ws"}, "path"),
        ({"nonsense": 1}, "nonsense"),
        ({"closeTimeout": -1}, "closeTimeout"),
        ({"maxConnections": 0}, "maxConnections"),
        ({"origins": "https://good.example"}, "origins"),
    ],
    ids=[
        "dataType-xml",
        "negative-maxMessageSize",
        "path-without-slash",
        "unknown-key",
        "closeTimeout",
        "maxConnections-0",
        "origins-str",
    ],
)
def test_bad_options_are_value_errors(
    web: duplex.WebServer, make_wss: Make, url: Url, client: Client, options: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError) as info:
        duplex.WebSocketServer(EchoServer(), {"webServer": web, "path": "/ws", **options})
    assert named in str(info.value)
    # nothing was registered: the path is still free
    make_wss({"path": "/ws"})
    ws = client(url("/ws"))
    ws.send("still free")
    assert ws.recv(timeout=TIMEOUT) == "still free"


def test_unknown_option_error_lists_known_keys(web: duplex.WebServer) -> None:
    with pytest.raises(ValueError) as info:
        duplex.WebSocketServer(EchoServer(), {"webServer": web, "datatype": "text"})
    assert "datatype" in str(info.value)
    assert "dataType" in str(info.value)


# -- routing ---------------------------------------------------------------------------------------


def test_routing(web: duplex.WebServer, make_wss: Make, url: Url, client: Client) -> None:
    for name, path in [
        ("chat", "/chat"),
        ("rooms", "/rooms/*"),
        ("vip", "/rooms/vip/*"),
        ("special", "/rooms/special"),
        ("anything", None),
    ]:
        make_wss({"path": path} if path is not None else None, handler=NamedServer(name))

    expected = {
        "/chat": "chat",
        "/chat?x=1": "chat",  # matched on the path only
        "/rooms/a": "rooms",
        "/rooms/a/b": "rooms",
        "/rooms/special": "special",  # exact beats prefix
        "/rooms/vip/x": "vip",  # a longer prefix beats a shorter one
        "/rooms/vip/x/y": "vip",
        "/elsewhere": "anything",  # the path-less server takes the rest
        "/chat/more": "anything",
        "/": "anything",
    }
    taken = {}
    for path in expected:
        ws = client(url(path))
        taken[path] = ws.recv(timeout=TIMEOUT)
    assert taken == expected


def test_same_path_twice_is_a_value_error(
    web: duplex.WebServer, make_wss: Make, url: Url, client: Client
) -> None:
    first = make_wss({"path": "/dup"})
    with pytest.raises(ValueError, match="/dup"):
        duplex.WebSocketServer(EchoServer(), {"webServer": web, "path": "/dup"})
    prefix = make_wss({"path": "/dup/*"})  # a prefix is another path
    with pytest.raises(ValueError):
        duplex.WebSocketServer(EchoServer(), {"webServer": web, "path": "/dup/*"})
    make_wss()
    with pytest.raises(ValueError):
        duplex.WebSocketServer(EchoServer(), {"webServer": web})
    # the first server still serves its path
    ws = client(url("/dup"))
    ws.send("first")
    assert ws.recv(timeout=TIMEOUT) == "first"
    ws.close()
    # once terminated, the path is free again (only *live* servers clash)
    first.terminate()
    prefix.terminate()
    make_wss({"path": "/dup"}, handler=NamedServer("again"))
    assert client(url("/dup")).recv(timeout=TIMEOUT) == "again"


def test_unknown_path_is_404(
    web: duplex.WebServer, make_wss: Make, url: Url, refused: Any, raw_upgrade: Any
) -> None:
    make_wss({"path": "/ws"})
    assert refused(url("/nowhere")).status == 404
    assert refused(url("/ws/below")).status == 404
    assert raw_upgrade("/nowhere").status == 404


def test_no_websocket_server_at_all_is_404(web: duplex.WebServer, url: Url, refused: Any) -> None:
    assert refused(url("/ws")).status == 404


def test_plain_get_on_a_websocket_path_is_426(web: duplex.WebServer, make_wss: Make) -> None:
    make_wss({"path": "/ws"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://127.0.0.1:{web.HTTPPort}/ws", timeout=TIMEOUT)
    assert info.value.code == 426
    assert info.value.headers["Upgrade"].lower() == "websocket"
    info.value.close()


# -- onConnection ----------------------------------------------------------------------------------


def test_returning_a_handler_accepts(make_wss: Make, url: Url, client: Client, recorder: Any) -> None:
    wss = make_wss({"path": "/ws"})
    ws = client(url("/ws"))
    server, event = recorder.wait("server.connection")
    assert server is wss
    assert event.type == "connection"
    assert event["type"] == "connection"
    connection, open_event = recorder.wait("open")
    assert open_event.type == "open"
    assert connection.wss is wss
    assert connection in wss.connections
    ws.send("accepted")
    assert ws.recv(timeout=TIMEOUT) == "accepted"


def test_returning_none_is_403(make_wss: Make, url: Url, refused: Any, recorder: Any) -> None:
    wss = make_wss({"path": "/ws"}, on_connection=lambda wss, event: None)
    assert refused(url("/ws")).status == 403
    recorder.wait("server.connection")
    assert wss.connections == []
    assert "server.error" not in recorder.kinds(settle=0.05)


def test_reject_gives_its_status(make_wss: Make, url: Url, refused: Any, recorder: Any) -> None:
    def slow_down(wss: duplex.WebSocketServer, event: duplex.Event) -> None:
        raise duplex.Reject(429, "slow down")

    make_wss({"path": "/ws"}, on_connection=slow_down)
    refusal = refused(url("/ws"))
    assert refusal.status == 429
    assert b"slow down" in refusal.body
    assert "server.error" not in recorder.kinds(settle=0.05)


def test_an_exception_in_on_connection_is_500_and_on_error(
    make_wss: Make, url: Url, refused: Any, recorder: Any
) -> None:
    failure = KeyError("no such user")

    def broken(wss: duplex.WebSocketServer, event: duplex.Event) -> None:
        raise failure

    wss = make_wss({"path": "/ws"}, on_connection=broken)
    assert refused(url("/ws")).status == 500
    server, event = recorder.wait("server.error")
    assert server is wss
    assert event.type == "error"
    assert event.errors[0]["errCode"] == duplex.ErrorCode.ON_CONNECTION_FAILED
    assert event.errors[0]["componentSignature"] == "duplex"
    assert "no such user" in event.errors[0]["message"]
    assert event.exception is failure
    assert wss.connections == []


def test_a_connection_handler_without_on_message_is_500_and_on_error(
    make_wss: Make, url: Url, refused: Any, recorder: Any
) -> None:
    class NoMessage:
        def onOpen(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
            raise AssertionError("must not open")

    wss = make_wss({"path": "/ws"}, on_connection=lambda wss, event: NoMessage())
    assert refused(url("/ws")).status == 500
    _, event = recorder.wait("server.error")
    assert event.errors[0]["errCode"] == duplex.ErrorCode.INVALID_CONNECTION_HANDLER
    assert "onMessage" in event.errors[0]["message"]
    assert wss.connections == []


def test_async_on_connection(make_wss: Make, url: Url, client: Client, recorder: Any) -> None:
    class AsyncServer:
        async def onConnection(self, wss: duplex.WebSocketServer, event: duplex.Event) -> Echo | None:
            await asyncio.sleep(0.01)
            recorder.record("async.connection", event)
            if event.request.query.get("deny"):
                return None
            return Echo()

    make_wss({"path": "/ws"}, handler=AsyncServer())
    ws = client(url("/ws"))
    ws.send("async")
    assert ws.recv(timeout=TIMEOUT) == "async"
    (event,) = recorder.wait("async.connection")
    assert event.type == "connection"


def test_async_on_connection_refusals(make_wss: Make, url: Url, refused: Any, recorder: Any) -> None:
    class AsyncServer:
        async def onConnection(self, wss: duplex.WebSocketServer, event: duplex.Event) -> Echo | None:
            await asyncio.sleep(0)
            answer = event.request.query.get("answer")
            if answer == "none":
                return None
            if answer == "reject":
                raise duplex.Reject(429, "slow down")
            raise RuntimeError("async failure")

    make_wss({"path": "/ws"}, handler=AsyncServer())
    assert refused(url("/ws?answer=none")).status == 403
    assert refused(url("/ws?answer=reject")).status == 429
    assert refused(url("/ws?answer=boom")).status == 500


def test_the_request_object(make_wss: Make, url: Url, client: Client, recorder: Any) -> None:
    make_wss({"path": "/status"})
    ws = client(
        url("/status?a=1&a=2&b=3"),
        additional_headers=[("X-Tag", "one"), ("X-Tag", "two"), ("X-Custom", "value")],
    )
    _, event = recorder.wait("server.connection")
    request = event.request
    assert request is event["request"]
    assert request.headers["x-custom"] == "value"
    assert request.headers["X-CUSTOM"] == "value"
    assert request.headers["X-Custom"] == "value"
    assert request.headers["x-tag"] == ["one", "two"]
    assert request.headers["upgrade"].lower() == "websocket"
    assert request.query["a"] == ["1", "2"]
    assert request.query["b"] == "3"
    assert request.url == "/status?a=1&a=2&b=3"
    assert request["url"] == "/status?a=1&a=2&b=3"
    assert request.remoteAddress == "127.0.0.1"
    # the connection keeps the same request
    connection, _ = recorder.wait("open")
    assert connection.request.url == "/status?a=1&a=2&b=3"
    assert connection.remoteAddress == "127.0.0.1"
    ws.send("x")
    assert ws.recv(timeout=TIMEOUT) == "x"


def test_the_request_url_is_the_raw_target(raw_upgrade: Any, make_wss: Make, recorder: Any) -> None:
    make_wss({"path": "/status"})
    raw = raw_upgrade("/status?name=ryan&x=%20y", headers=["X-Twice: 1", "x-twice: 2"])
    assert raw.status == 101
    _, event = recorder.wait("server.connection")
    assert event.request.url == "/status?name=ryan&x=%20y"
    assert event.request.query["name"] == "ryan"
    assert event.request.headers["X-Twice"] == ["1", "2"]


# -- server callbacks and properties ---------------------------------------------------------------------


def test_on_open_runs_when_created(make_wss: Make, recorder: Any) -> None:
    wss = make_wss({"path": "/ws"})
    server, event = recorder.wait("server.open")
    assert server is wss
    assert event.type == "open"


def test_on_terminate_runs_exactly_once(web: duplex.WebServer, make_wss: Make, recorder: Any) -> None:
    wss = make_wss({"path": "/ws"})
    assert wss.terminated is False
    wss.terminate()
    assert wss.terminated is True
    server, event = recorder.wait("server.terminate")
    assert server is wss
    assert event.type == "terminate"
    wss.terminate()
    wss.terminate(0)
    web.stop()
    assert recorder.count("server.terminate", settle=0.1) == 1


def test_properties(make_wss: Make) -> None:
    handler = EchoServer()
    wss = make_wss({"path": "/p", "dataType": "blob"}, handler=handler)
    assert wss.path == "/p"
    assert wss.dataType == "blob"
    assert wss.handler is handler
    assert wss.terminated is False
    assert wss.connections == []

    default = make_wss()
    assert default.path is None
    assert default.dataType == "text"
    prefix = make_wss({"path": "/rooms/*", "dataType": "object"})
    assert prefix.path == "/rooms/*"
    assert prefix.dataType == "object"
    auto = make_wss({"path": "/auto", "dataType": "auto"})
    assert auto.dataType == "auto"


def test_connections_is_a_snapshot_and_closed_connections_leave_it(
    make_wss: Make, url: Url, client: Client, recorder: Any, eventually: Any
) -> None:
    wss = make_wss({"path": "/ws"})
    first = client(url("/ws"))
    second = client(url("/ws"))
    assert eventually(lambda: len(wss.connections) == 2)
    snapshot = wss.connections
    assert isinstance(snapshot, list)
    assert all(isinstance(connection, duplex.WebSocketConnection) for connection in snapshot)
    assert all(connection.status == "Connected" for connection in snapshot)
    assert len({connection.id for connection in snapshot}) == 2
    snapshot.clear()
    assert len(wss.connections) == 2

    first_connection, _ = recorder.wait("open")
    first.close()
    closed, event = recorder.wait("terminate")
    assert closed is first_connection
    assert event.code == 1000
    assert closed.status == "Closed"
    assert closed not in wss.connections
    assert len(wss.connections) == 1
    assert wss.connections[0].status == "Connected"
    second.send("still here")
    assert second.recv(timeout=TIMEOUT) == "still here"


# -- terminate() ------------------------------------------------------------------------------------


def raw_connection(make_wss: Make, raw_upgrade: Any, recorder: Any, eventually: Any, **options: Any) -> Any:
    wss = make_wss({"path": "/t", "pingInterval": None, **options})
    raw = raw_upgrade("/t")
    assert raw.status == 101
    recorder.wait("open")
    assert eventually(lambda: len(wss.connections) == 1)
    return wss, raw


def close_code(frames: Any, data: bytes) -> int | None:
    """The code of the first close frame in ``data``, or None if there is none."""
    for opcode, payload in frames(data):
        if opcode == 0x8:
            return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
    return None


def test_terminate_waits_for_the_close_handshake_up_to_close_timeout(
    make_wss: Make, raw_upgrade: Any, recorder: Any, eventually: Any, frames: Any
) -> None:
    wss, raw = raw_connection(make_wss, raw_upgrade, recorder, eventually, closeTimeout=1.0)
    started = time.monotonic()
    wss.terminate()  # the raw client never answers the close frame
    elapsed = time.monotonic() - started
    assert 0.8 <= elapsed <= 2.5, elapsed
    assert wss.terminated is True
    data, closed = raw.read_until_eof(timeout=2.0)
    assert closed, "the server did not close the socket"
    assert close_code(frames, data) == 1001
    _, event = recorder.wait("terminate")
    assert event.code == 1006  # no close frame came back
    assert wss.connections == []
    recorder.wait("server.terminate", timeout=0.5)


def test_terminate_with_a_timeout_drops_after_it(
    make_wss: Make, raw_upgrade: Any, recorder: Any, eventually: Any, frames: Any
) -> None:
    wss, raw = raw_connection(make_wss, raw_upgrade, recorder, eventually, closeTimeout=10.0)
    started = time.monotonic()
    wss.terminate(0.5)
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed <= 1.5, elapsed
    data, closed = raw.read_until_eof(timeout=2.0)
    assert closed, "the server did not close the socket"
    assert close_code(frames, data) == 1001  # a close frame was sent first
    _, event = recorder.wait("terminate")
    assert event.code == 1006
    recorder.wait("server.terminate", timeout=0.5)


def test_terminate_zero_drops_at_once_without_a_close_frame(
    make_wss: Make, raw_upgrade: Any, recorder: Any, eventually: Any, frames: Any
) -> None:
    wss, raw = raw_connection(make_wss, raw_upgrade, recorder, eventually, closeTimeout=10.0)
    started = time.monotonic()
    wss.terminate(0)
    elapsed = time.monotonic() - started
    assert elapsed < 0.5, elapsed
    data, closed = raw.read_until_eof(timeout=2.0)
    assert closed, "the server did not close the socket"
    assert close_code(frames, data) is None
    assert data == b""
    _, event = recorder.wait("terminate")
    assert event.code == 1006
    recorder.wait("server.terminate", timeout=0.5)


def test_terminate_closes_clients_with_1001(make_wss: Make, url: Url, client: Client, recorder: Any) -> None:
    wss = make_wss({"path": "/ws"})
    ws = client(url("/ws"))
    ws.send("x")
    assert ws.recv(timeout=TIMEOUT) == "x"
    started = time.monotonic()
    wss.terminate()
    assert time.monotonic() - started < 2.0  # a client that answers does not make it wait
    with pytest.raises(ConnectionClosed) as info:
        ws.recv(timeout=TIMEOUT)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1001
    _, event = recorder.wait("terminate")
    assert event.code == 1001
    assert recorder.kinds().index("terminate") < recorder.kinds().index("server.terminate")


def test_terminate_twice_is_harmless_and_the_path_is_gone(
    make_wss: Make, url: Url, refused: Any, recorder: Any
) -> None:
    wss = make_wss({"path": "/ws"})
    wss.terminate()
    wss.terminate()
    wss.terminate(0)
    assert wss.terminated is True
    assert refused(url("/ws")).status == 404
    assert recorder.count("server.terminate", settle=0.1) == 1


def test_terminate_from_another_thread(make_wss: Make, url: Url, client: Client, recorder: Any) -> None:
    wss = make_wss({"path": "/ws"})
    ws = client(url("/ws"))
    recorder.wait("open")
    done = threading.Event()

    def stop() -> None:
        wss.terminate()
        done.set()

    threading.Thread(target=stop, daemon=True).start()
    assert done.wait(TIMEOUT)
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=TIMEOUT)
    recorder.wait("server.terminate")


def test_terminate_from_a_callback(make_wss: Make, url: Url, client: Client, recorder: Any) -> None:
    class Stopper:
        def onMessage(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
            ws.wss.terminate()  # starts the shutdown and returns
            recorder.record("returned")

    wss = make_wss({"path": "/ws"}, on_connection=lambda wss, event: Stopper())
    ws = client(url("/ws"))
    ws.send("stop")
    recorder.wait("returned")
    with pytest.raises(ConnectionClosed) as info:
        ws.recv(timeout=TIMEOUT)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1001
    recorder.wait("server.terminate")
    assert wss.terminated is True


# -- admission options (section 7) ------------------------------------------------------------------


def test_max_connections(make_wss: Make, url: Url, client: Client, refused: Any, eventually: Any) -> None:
    wss = make_wss({"path": "/ws", "maxConnections": 2})
    first = client(url("/ws"))
    client(url("/ws"))
    assert refused(url("/ws")).status == 503
    first.close()
    assert eventually(lambda: len(wss.connections) == 1)
    third = client(url("/ws"))
    third.send("room again")
    assert third.recv(timeout=TIMEOUT) == "room again"


def test_origins(make_wss: Make, url: Url, client: Client, refused: Any) -> None:
    make_wss({"path": "/ws", "origins": ["https://good.example"]})
    assert refused(url("/ws"), origin="https://evil.example").status == 403
    ws = client(url("/ws"), origin="https://good.example")
    ws.send("welcome")
    assert ws.recv(timeout=TIMEOUT) == "welcome"


def test_subprotocols_follow_the_servers_preference(
    make_wss: Make, url: Url, client: Client, recorder: Any
) -> None:
    make_wss({"path": "/ws", "subprotocols": ["b", "a"]})
    ws = client(url("/ws"), subprotocols=["a", "b"])
    assert ws.subprotocol == "b"
    connection, _ = recorder.wait("open")
    assert connection.subprotocol == "b"

    plain = client(url("/ws"))
    assert plain.subprotocol is None
    connection, _ = recorder.wait("open")
    assert connection.subprotocol is None


# -- snake_case spellings -----------------------------------------------------------------------------


def test_snake_case_options_and_callbacks(
    web: duplex.WebServer, url: Url, client: Client, recorder: Any
) -> None:
    class Connection:
        def on_open(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
            recorder.record("on_open", event)

        def on_message(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
            recorder.record("on_message", event.data)
            ws.send(event.data)

        def on_terminate(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
            recorder.record("on_terminate", event.code)

    class Server:
        def on_connection(self, wss: duplex.WebSocketServer, event: duplex.Event) -> Connection:
            return Connection()

        def on_open(self, wss: duplex.WebSocketServer, event: duplex.Event) -> None:
            recorder.record("server.on_open")

        def on_terminate(self, wss: duplex.WebSocketServer, event: duplex.Event) -> None:
            recorder.record("server.on_terminate")

    wss = duplex.WebSocketServer(
        Server(), {"web_server": web, "path": "/snake", "data_type": "blob", "max_connections": 5}
    )
    assert wss.dataType == "blob"
    recorder.wait("server.on_open")
    ws = client(url("/snake"))
    recorder.wait("on_open")
    ws.send("hiss")
    assert recorder.wait("on_message") == (b"hiss",)
    assert ws.recv(timeout=TIMEOUT) == b"hiss"  # bytes are echoed as a binary frame
    ws.close()
    assert recorder.wait("on_terminate") == (1000,)
    wss.terminate()
    recorder.wait("server.on_terminate")


# -- logging ---------------------------------------------------------------------------------------


def records(caplog: pytest.LogCaptureFixture, logger: str, level: int) -> list[str]:
    return [
        record.getMessage() for record in caplog.records if record.name == logger and record.levelno == level
    ]


def test_refused_handshakes_are_logged_with_path_and_address(
    make_wss: Make, url: Url, refused: Any, caplog: pytest.LogCaptureFixture, eventually: Any
) -> None:
    """Every refusal of the 4D layer (the application's or a limit's) is one INFO line."""

    def decide(wss: duplex.WebSocketServer, event: duplex.Event) -> None:
        if event.request.query.get("who") == "taken":
            raise duplex.Reject(409, "name taken")

    caplog.set_level(logging.INFO, logger="duplex.connections")
    make_wss({"path": "/ws"}, on_connection=decide)
    make_wss({"path": "/strict", "origins": ["https://example.com"]})
    assert refused(url("/ws?who=taken")).status == 409
    assert refused(url("/ws?who=anyone")).status == 403
    assert refused(url("/strict"), origin="https://evil.example").status == 403
    assert eventually(lambda: len(records(caplog, "duplex.connections", logging.INFO)) == 3)
    assert records(caplog, "duplex.connections", logging.INFO) == [
        "handshake from 127.0.0.1 on /ws refused: 409 name taken",
        "handshake from 127.0.0.1 on /ws refused: 403",
        "handshake from 127.0.0.1 on /strict refused: 403 origin 'https://evil.example' is not allowed",
    ]


def test_an_async_refusal_is_logged(
    make_wss: Make, url: Url, refused: Any, caplog: pytest.LogCaptureFixture, eventually: Any
) -> None:
    async def later(wss: duplex.WebSocketServer, event: duplex.Event) -> None:
        await asyncio.sleep(0)
        raise duplex.Reject(429, "slow down")

    caplog.set_level(logging.INFO, logger="duplex.connections")
    make_wss({"path": "/ws"}, on_connection=later)
    assert refused(url("/ws")).status == 429
    assert eventually(
        lambda: (
            records(caplog, "duplex.connections", logging.INFO)
            == ["handshake from 127.0.0.1 on /ws refused: 429 slow down"]
        )
    )


def test_a_callback_exception_log_says_which_connection(
    make_wss: Make, url: Url, client: Any, recorder: Any, caplog: pytest.LogCaptureFixture, eventually: Any
) -> None:
    class Failing:
        def onMessage(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
            raise ValueError("bad input")

    make_wss({"path": "/chat"}, on_connection=lambda wss, event: Failing())
    with client(url("/chat")) as ws:
        ws.send("hello")
        assert eventually(lambda: bool(records(caplog, "duplex", logging.ERROR)))
    [line] = records(caplog, "duplex", logging.ERROR)
    assert line.startswith("callback onMessage of <WebSocketConnection ")
    assert " on /chat from 127.0.0.1, " in line
    assert line.endswith(" raised ValueError: bad input")


def test_an_on_connection_exception_log_says_which_server_and_client(
    make_wss: Make, url: Url, refused: Any, caplog: pytest.LogCaptureFixture, eventually: Any
) -> None:
    def failing(wss: duplex.WebSocketServer, event: duplex.Event) -> None:
        raise KeyError("no such user")

    make_wss({"path": "/ws"}, on_connection=failing)
    assert refused(url("/ws")).status == 500
    assert eventually(lambda: bool(records(caplog, "duplex", logging.ERROR)))
    [line] = records(caplog, "duplex", logging.ERROR)
    assert line.startswith("onConnection of <WebSocketServer path='/ws' ")
    assert line.endswith("raised KeyError: 'no such user' (handshake from 127.0.0.1)")
