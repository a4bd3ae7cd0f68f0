"""``duplex.WebSocket``, the 4D class (4D.WebSocket): construction, callbacks and their order, events,
``dataType``, handler forms, headers, ``send()``, ``terminate()``, failures to connect, callbacks
that raise, where callbacks run, properties, reconnection and argument checks.

Most tests talk to duplex's own 4D server (an echo that obeys the commands of conftest.py); a raw
socket stands in for servers that accept and then say nothing.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import pytest

import duplex
from client.conftest import (
    QUIET,
    TIMEOUT,
    ClientHandler,
    Peer,
    RawServer,
    Recorder,
    closed_by_client,
    duplex_peer,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)


def unique_name(prefix: str) -> str:
    """A worker name no other test uses (workers are process-wide)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def error_entry(handler: ClientHandler) -> dict[str, Any]:
    """The newest entry of the one ``onError`` call's ``errors``."""
    calls = handler.of("error")
    assert len(calls) == 1, handler.kinds()
    entry: dict[str, Any] = calls[0].event["errors"][0]
    return entry


# -- construction and status --------------------------------------------------------------------------


def test_constructor_returns_at_once_in_connecting(raw_server: RawServer, make_client: Any) -> None:
    handler = ClientHandler()
    started = time.monotonic()
    ws = make_client(raw_server.url("/slow"), handler)
    assert time.monotonic() - started < 0.5
    assert ws.status == "Connecting"
    sock = raw_server.accept()
    # The server has the TCP connection but has not answered: still connecting, nothing called.
    time.sleep(QUIET)
    assert ws.status == "Connecting"
    assert handler.kinds() == []
    assert ws.send("too early") is False
    sock.close()  # then hangs up: the attempt failed
    assert handler.one("terminate").event["code"] == 1006
    assert handler.kinds() == ["error", "terminate"]
    assert handler.error_codes() == [duplex.ErrorCode.CONNECT_FAILED]
    assert ws.status == "Closed"


def test_status_goes_connecting_connected_closing_closed(raw_server: RawServer, make_client: Any) -> None:
    """Against a server that never answers the close: "Closing" lasts until ``closeTimeout``."""
    handler = ClientHandler()
    ws = make_client(raw_server.url(), handler, closeTimeout=0.5)
    assert ws.status == "Connecting"
    _, head = raw_server.accept_websocket()  # then reads nothing: never answers the close
    assert head.startswith(b"GET / HTTP/1.1\r\n")
    handler.wait_for("open")
    assert ws.status == "Connected"
    ws.terminate(4000, "going")
    assert ws.status == "Closing"
    time.sleep(0.2)
    assert ws.status == "Closing"
    assert handler.kinds() == ["open"]
    terminate = handler.one("terminate", timeout=3).event
    assert terminate["code"] == 1006
    assert ws.status == "Closed"
    assert handler.kinds() == ["open", "terminate"]


def test_callback_order_and_event_fields(duplex_echo: Peer, make_client: Any) -> None:
    handler = ClientHandler(on_open=lambda ws, event: [ws.send(f"m{index}") for index in range(5)])
    ws = make_client(duplex_echo.url(), handler)
    handler.wait_for("message", count=5)
    ws.terminate()
    terminate = handler.one("terminate")
    assert handler.kinds() == ["open"] + ["message"] * 5 + ["terminate"]
    open_event = handler.of("open")[0].event
    assert open_event == {"type": "open"}
    assert open_event.type == "open"
    assert isinstance(open_event, duplex.Event)
    for index, call in enumerate(handler.of("message")):
        assert call.event == {"type": "message", "data": f"m{index}"}
        assert call.event.data == f"m{index}"
        assert call.ws is ws
    assert terminate.event == {"type": "terminate", "code": 1000, "reason": ""}
    assert (terminate.event.code, terminate.event.reason) == (1000, "")
    assert terminate.ws is ws
    assert duplex_echo.closed() == (1000, "")


def test_callbacks_run_in_order_one_at_a_time(duplex_echo: Peer, make_client: Any) -> None:
    active = []
    overlaps = []

    def slow(ws: Any, event: Any) -> None:
        active.append(1)
        if len(active) > 1:
            overlaps.append(event.data)
        time.sleep(0.002)
        active.pop()

    handler = ClientHandler(dataType="auto", on_message=slow)
    ws = make_client(duplex_echo.url(), handler)
    handler.wait_for("open")
    for index in range(100):
        ws.send(str(index))
    handler.wait_for("message", count=100)
    assert handler.messages() == [str(index) for index in range(100)]
    assert overlaps == []


# -- dataType -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data_type", "expected"),
    [
        ("text", ["héllo", "bin ✓", '{"a":[1,null]}', "[1,2]"]),
        ("blob", ["héllo".encode(), "bin ✓".encode(), b'{"a":[1,null]}', b"[1,2]"]),
        ("object", None),
        ("auto", ["héllo", "bin ✓".encode(), '{"a":[1,null]}', b"[1,2]"]),
    ],
)
def test_data_type_conversions(
    duplex_echo: Peer, make_client: Any, data_type: str, expected: list[Any] | None
) -> None:
    handler = ClientHandler(dataType=data_type)
    ws = make_client(duplex_echo.url(), handler)
    handler.wait_for("open")
    assert ws.dataType == ws.data_type == data_type
    if data_type == "object":
        sent: list[Any] = ['"just a string"', b"3.5", {"a": [1, None]}, b"[1,2]"]
        expected = ["just a string", 3.5, {"a": [1, None]}, [1, 2]]
    else:
        sent = ["héllo", "bin ✓".encode(), {"a": [1, None]}, b"[1,2]"]
    for message in sent:
        assert ws.send(message) is True
    handler.wait_for("message", count=len(sent))
    got = handler.messages()
    assert got == expected
    assert [type(value) for value in got] == [type(value) for value in expected]  # type: ignore[union-attr]
    assert handler.of("error") == []


def test_object_data_type_with_invalid_json_errors_102_and_closes_1007(
    duplex_echo: Peer, make_client: Any
) -> None:
    handler = ClientHandler(dataType="object")
    ws = make_client(duplex_echo.url(), handler)
    handler.wait_for("open")
    ws.send({"fine": True})
    handler.wait_for("message")
    ws.send("not json {")
    ws.send(["never", "delivered"])
    terminate = handler.one("terminate").event
    assert handler.kinds() == ["open", "message", "error", "terminate"]
    entry = error_entry(handler)
    assert entry["errCode"] == duplex.ErrorCode.INVALID_JSON == 102
    assert entry["componentSignature"] == "duplex"
    assert "JSON" in entry["message"]
    assert handler.of("error")[0].event["type"] == "error"
    assert duplex_echo.closed()[0] == 1007
    assert terminate["code"] == 1007
    assert ws.status == "Closed"


def test_text_data_type_with_invalid_utf8_binary_errors_101(duplex_echo: Peer, make_client: Any) -> None:
    handler = ClientHandler()  # "text" by default
    ws = make_client(duplex_echo.url(), handler)
    handler.wait_for("open")
    assert ws.dataType == "text"
    ws.send(b"\xff\xfe not UTF-8")
    handler.one("terminate")
    assert handler.error_codes() == [101]
    assert duplex_echo.closed()[0] == 1007


# -- handler forms ------------------------------------------------------------------------------------


class SnakeCaseHandler:
    data_type = "auto"

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def on_open(self, ws: Any, event: Any) -> None:
        self.recorder.record("open", ws, event)
        ws.send(b"snake")

    def on_message(self, ws: Any, event: Any) -> None:
        self.recorder.record("message", ws, event)

    def on_error(self, ws: Any, event: Any) -> None:
        self.recorder.record("error", ws, event)

    def on_terminate(self, ws: Any, event: Any) -> None:
        self.recorder.record("terminate", ws, event)


class AsyncHandler:
    dataType = "text"

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def onOpen(self, ws: Any, event: Any) -> None:
        await asyncio.sleep(0.01)
        self.recorder.record("open", ws, event)
        ws.send("async")

    async def onMessage(self, ws: Any, event: Any) -> None:
        await asyncio.sleep(0.01)
        self.recorder.record("message", ws, event)

    async def onTerminate(self, ws: Any, event: Any) -> None:
        await asyncio.sleep(0.01)
        self.recorder.record("terminate", ws, event)


def dict_handler(recorder: Recorder) -> dict[str, Any]:
    return {
        "dataType": "blob",
        "onOpen": lambda ws, event: (recorder.record("open", ws, event), ws.send("dict")),
        "onMessage": lambda ws, event: recorder.record("message", ws, event),
        "on_terminate": lambda ws, event: recorder.record("terminate", ws, event),
    }


@pytest.mark.parametrize(
    ("form", "expected"),
    [("snake_case", b"snake"), ("async", "async"), ("dict", b"dict")],
)
def test_handler_forms(duplex_echo: Peer, make_client: Any, form: str, expected: Any) -> None:
    recorder = Recorder()
    handler: Any = {
        "snake_case": SnakeCaseHandler,
        "async": AsyncHandler,
        "dict": dict_handler,
    }[form](recorder)
    ws = make_client(duplex_echo.url(), handler)
    message = recorder.wait_for("message")[0].event
    assert message["data"] == expected
    assert ws.handler is handler
    ws.terminate(4321, "forms")
    terminate = recorder.wait_for("terminate")[0].event
    assert terminate["code"] == 4321  # the code duplex's server echoed (it echoes no reason)
    assert duplex_echo.closed() == (4321, "forms")
    assert recorder.kinds() == ["open", "message", "terminate"]


def test_no_handler_at_all(duplex_echo: Peer, make_client: Any) -> None:
    ws = make_client(duplex_echo.url())
    assert wait_until(lambda: ws.status == "Connected")
    assert ws.handler is None
    assert ws.send("into the void") is True
    ws.terminate(4000, "done")
    assert wait_until(lambda: ws.status == "Closed")
    assert duplex_echo.closed() == (4000, "done")


# -- headers ------------------------------------------------------------------------------------------


def test_handler_headers_list_values_repeat_and_cookie(duplex_echo: Peer, make_client: Any) -> None:
    handler = ClientHandler(
        headers={"X-Multi": ["one", "two"], "X-Single": "yes", "Cookie": "session=abc; theme=dark"}
    )
    make_client(duplex_echo.url("/headers?name=ryan"), handler)
    handler.wait_for("open")
    seen = duplex_echo.recorder.wait_for("request")[0].event
    assert seen["x-multi"] == ["one", "two"]
    assert seen["x-single"] == ["yes"]
    assert seen["cookie"] == ["session=abc; theme=dark"]
    request = duplex_echo.recorder.wait_for("request-info")[0].event
    assert request.url == "/headers?name=ryan"
    assert request.query == {"name": "ryan"}
    assert request.headers["x-multi"] == ["one", "two"]
    assert request.headers.get_one("host") == f"127.0.0.1:{duplex_echo.port}"


def test_headers_option_overrides_the_handlers(duplex_echo: Peer, make_client: Any) -> None:
    handler = ClientHandler(headers={"X-From": "handler"})
    make_client(duplex_echo.url(), handler, headers=[("X-From", "option"), ("X-Extra", "1")])
    handler.wait_for("open")
    seen = duplex_echo.recorder.wait_for("request")[0].event
    assert seen["x-from"] == ["option"]
    assert seen["x-extra"] == ["1"]


def test_reserved_or_malformed_headers_are_refused() -> None:
    for headers in (
        {"Sec-WebSocket-Key": "x"},
        {"Upgrade": "h2c"},
        {"X-Bad": "a\r\nInjected: 1"},
        {"X-Num": 1},
    ):
        with pytest.raises((ValueError, TypeError)):
            duplex.WebSocket("ws://127.0.0.1:1/", None, headers=headers)


# -- send() -------------------------------------------------------------------------------------------


def test_send_types_and_return_values(duplex_echo: Peer, make_client: Any) -> None:
    handler = ClientHandler(dataType="auto")
    ws = make_client(duplex_echo.url(), handler)
    handler.wait_for("open")
    assert ws.send("text") is True
    assert ws.send(b"bytes") is True
    assert ws.send(bytearray(b"bytearray")) is True
    assert ws.send({"key": "value"}) is True
    assert ws.send([1, "two"]) is True
    with pytest.raises(TypeError):
        ws.send(object())
    with pytest.raises(TypeError):
        ws.send({1, 2})
    handler.wait_for("message", count=5)
    assert handler.messages() == ["text", b"bytes", b"bytearray", '{"key":"value"}', '[1,"two"]']
    ws.terminate()
    handler.wait_for("terminate")
    assert ws.send("after close") is False
    with pytest.raises(TypeError):
        ws.send(object())  # the type is checked whatever the status
    time.sleep(QUIET)
    assert len(handler.of("message")) == 5


def test_send_from_other_threads(duplex_echo: Peer, make_client: Any) -> None:
    handler = ClientHandler()
    ws = make_client(duplex_echo.url(), handler)
    handler.wait_for("open")
    results: list[bool] = []

    def sender(name: str) -> None:
        for index in range(50):
            results.append(ws.send(f"{name}:{index}"))

    threads = [threading.Thread(target=sender, args=(f"t{number}",)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert results == [True] * 200
    handler.wait_for("message", count=200)
    received = handler.messages()
    for number in range(4):  # each thread's messages in its own order
        mine = [message for message in received if message.startswith(f"t{number}:")]
        assert mine == [f"t{number}:{index}" for index in range(50)]


def test_send_from_a_callback_on_the_loop(duplex_echo: Peer, make_client: Any) -> None:
    replies: list[bool] = []

    def reply(ws: Any, event: Any) -> None:
        if event.data == "ping":
            replies.append(ws.send("pong"))

    handler = ClientHandler(on_open=lambda ws, event: replies.append(ws.send("ping")), on_message=reply)
    make_client(duplex_echo.url(), handler)
    handler.wait_for("message", count=2)
    assert handler.messages() == ["ping", "pong"]
    assert replies == [True, True]


# -- terminate() --------------------------------------------------------------------------------------


TERMINATE_CASES: list[tuple[tuple[Any, ...], tuple[int, str]]] = [
    ((), (1000, "")),
    ((None, "plain"), (1000, "plain")),
    ((3000, "low"), (3000, "low")),
    ((4999, "é" * 61), (4999, "é" * 61)),  # 122 bytes of UTF-8
]


def test_terminate_codes(duplex_echo: Peer, make_client: Any) -> None:
    handlers = [ClientHandler() for _ in TERMINATE_CASES]
    clients = [make_client(duplex_echo.url(), handler) for handler in handlers]
    for handler in handlers:
        handler.wait_for("open")
    for ws, (args, _) in zip(clients, TERMINATE_CASES, strict=True):
        ws.terminate(*args)
    for handler in handlers:
        handler.wait_for("terminate")
    seen = sorted(call.event for call in duplex_echo.recorder.wait_for("closed", count=len(clients)))
    assert seen == sorted(expected for _, expected in TERMINATE_CASES)


def test_terminate_refuses_other_codes(duplex_echo: Peer, make_client: Any) -> None:
    handler = ClientHandler()
    ws = make_client(duplex_echo.url(), handler)
    handler.wait_for("open")
    for code in (1001, 1002, 1011, 2999, 5000, 0, -1, "1000", True, 1000.0):
        with pytest.raises(ValueError, match="1000 or 3000-4999"):
            ws.terminate(code)
    with pytest.raises(ValueError, match="123 bytes"):
        ws.terminate(1000, "x" * 124)
    time.sleep(0.05)
    assert ws.status == "Connected"
    assert ws.send("still open") is True
    handler.wait_for("message")


def test_terminate_twice_and_while_connecting(
    raw_server: RawServer, duplex_echo: Peer, make_client: Any
) -> None:
    handler = ClientHandler()
    ws = make_client(duplex_echo.url(), handler)
    handler.wait_for("open")
    ws.terminate(4000)
    ws.terminate(4001)
    handler.one("terminate")
    ws.terminate()  # closed already: nothing happens
    assert handler.kinds() == ["open", "terminate"]

    connecting = ClientHandler()
    ws2 = make_client(raw_server.url(), connecting)
    raw_server.accept()
    ws2.terminate()
    event = connecting.one("terminate").event
    assert event["code"] == 1006
    assert connecting.kinds() == ["terminate"]  # no onOpen, and no onError: we asked for it
    assert ws2.status == "Closed"


def test_terminate_right_after_the_constructor(duplex_echo: Peer) -> None:
    handlers = [ClientHandler() for _ in range(10)]
    clients = []
    for handler in handlers:
        ws = duplex.WebSocket(duplex_echo.url(), handler)
        ws.terminate()
        clients.append(ws)
    closed = wait_until(lambda: all(ws.status == "Closed" for ws in clients), timeout=3)
    assert closed, [ws.status for ws in clients]
    time.sleep(QUIET)
    for handler in handlers:
        assert handler.kinds()[-1:] == ["terminate"]
        assert handler.kinds().count("terminate") == 1


def test_an_open_timeout_closes_the_socket(raw_server: RawServer, make_client: Any) -> None:
    handler = ClientHandler()
    make_client(raw_server.url(), handler, openTimeout=0.3)
    sock = raw_server.accept()
    handler.wait_for("terminate")
    assert handler.error_codes() == [502]
    assert closed_by_client(sock), "the client left the TCP connection open"


def test_terminate_while_waiting_for_the_101_closes_the_socket(
    raw_server: RawServer, make_client: Any
) -> None:
    handler = ClientHandler()
    ws = make_client(raw_server.url(), handler)
    sock = raw_server.accept()
    assert sock.recv(65536).startswith(b"GET / HTTP/1.1")
    ws.terminate()
    handler.wait_for("terminate")
    assert closed_by_client(sock), "the client left the TCP connection open"


# -- connections that never open ----------------------------------------------------------------------


def assert_never_opened(handler: ClientHandler, errcode: int) -> dict[str, Any]:
    terminate = handler.one("terminate", timeout=TIMEOUT + 5).event
    assert terminate["code"] == 1006
    assert terminate["reason"] == ""
    assert handler.kinds() == ["error", "terminate"]
    entry = error_entry(handler)
    assert entry["errCode"] == errcode
    assert entry["componentSignature"] == "duplex"
    assert isinstance(entry["message"], str) and entry["message"]
    assert handler.of("error")[0].event["exception"] is not None
    return entry


def test_refused_connection(dead_port: int, make_client: Any) -> None:
    handler = ClientHandler()
    ws = make_client(f"ws://127.0.0.1:{dead_port}/", handler)
    assert_never_opened(handler, duplex.ErrorCode.CONNECT_FAILED)
    assert ws.status == "Closed"
    assert ws.send("x") is False


def test_unresolvable_host(make_client: Any) -> None:
    handler = ClientHandler()
    make_client("ws://nonexistent.invalid/", handler, openTimeout=TIMEOUT)
    assert_never_opened(handler, 500)


def test_open_timeout_against_a_silent_server(raw_server: RawServer, make_client: Any) -> None:
    handler = ClientHandler()
    started = time.monotonic()
    make_client(raw_server.url(), handler, openTimeout=0.3)
    raw_server.accept()  # TCP accepted; no HTTP answer ever
    entry = assert_never_opened(handler, duplex.ErrorCode.OPEN_TIMEOUT)
    assert entry["errCode"] == 502
    assert handler.of("terminate")[0].at - started < 2.0


def test_rejected_handshake_reports_the_status_and_body(make_client: Any) -> None:
    class Refuser:
        def onConnection(self, wss: Any, event: Any) -> Any:
            raise duplex.Reject(403, "no entry for you")

    web = duplex.WebServer({"HTTPPort": 0})
    assert web.start()["success"]
    try:
        duplex.WebSocketServer(Refuser(), {"webServer": web})
        handler = ClientHandler()
        make_client(f"ws://127.0.0.1:{web.HTTPPort}/", handler)
        entry = assert_never_opened(handler, duplex.ErrorCode.HANDSHAKE_REFUSED)
        assert entry["errCode"] == 503
        assert "403" in entry["message"]
        assert "no entry for you" in entry["message"]
    finally:
        web.stop()


# -- callbacks that raise -----------------------------------------------------------------------------


def test_a_callback_that_raises_gets_on_error_1_and_the_connection_stays_open(
    duplex_echo: Peer, make_client: Any
) -> None:
    def explode(ws: Any, event: Any) -> None:
        if event.data == "boom":
            raise RuntimeError("kaboom")

    handler = ClientHandler(on_message=explode)
    ws = make_client(duplex_echo.url(), handler)
    handler.wait_for("open")
    ws.send("boom")
    handler.wait_for("error")
    ws.send("after")
    handler.wait_for("message", count=2)
    assert handler.messages() == ["boom", "after"]
    entry = error_entry(handler)
    assert entry["errCode"] == duplex.ErrorCode.CALLBACK_FAILED == 1
    assert "kaboom" in entry["message"]
    assert "onMessage" in entry["message"]
    assert isinstance(handler.of("error")[0].event["exception"], RuntimeError)
    assert ws.status == "Connected"
    assert handler.kinds() == ["open", "message", "error", "message"]


def test_an_on_open_that_raises_does_not_stop_messages(duplex_echo: Peer, make_client: Any) -> None:
    def explode(ws: Any, event: Any) -> None:
        ws.send("sent before raising")
        raise ValueError("bad open")

    handler = ClientHandler(on_open=explode)
    make_client(duplex_echo.url(), handler)
    handler.wait_for("message")
    assert handler.error_codes() == [1]
    assert handler.messages() == ["sent before raising"]


# -- where callbacks run ------------------------------------------------------------------------------


def test_worker_option_runs_callbacks_on_a_named_thread(duplex_echo: Peer, make_client: Any) -> None:
    name = unique_name("client")
    handler = ClientHandler(on_open=lambda ws, event: ws.send("hi"))
    ws = make_client(duplex_echo.url(), handler, worker=name)
    handler.wait_for("message")
    ws.terminate()
    handler.wait_for("terminate")
    threads = {call.thread for call in handler.calls}
    assert threads == {f"duplex-worker-{name}"}
    assert wait_until(lambda: not any(t.name == f"duplex-worker-{name}" for t in threading.enumerate()))


def test_worker_from_the_handler_and_without_worker_the_web_servers_thread(
    duplex_echo: Peer, make_client: Any
) -> None:
    """A worker named by the handler; without one, a client made while a web server runs on its
    background thread lives on that thread (tests/client/test_loops.py has the other cases)."""
    name = unique_name("handler")
    on_worker = ClientHandler()
    on_worker.worker = name
    make_client(duplex_echo.url(), on_worker)
    plain = ClientHandler()
    make_client(duplex_echo.url(), plain)
    assert on_worker.wait_for("open")[0].thread == f"duplex-worker-{name}"
    # duplex_echo's web server has the default name, "duplex": its loop thread is "duplex-duplex".
    assert plain.wait_for("open")[0].thread == "duplex-duplex"


def test_a_client_made_in_a_server_callback_runs_on_the_servers_loop() -> None:
    inner = ClientHandler(on_open=lambda ws, event: ws.send("from inside"))
    made: list[duplex.WebSocket] = []
    server_threads: list[str] = []

    class Relay:
        def onOpen(self, ws: Any, event: Any) -> None:
            server_threads.append(threading.current_thread().name)
            if ws.request.url == "/outer":
                made.append(duplex.WebSocket(f"ws://127.0.0.1:{ws.wss.web_server.HTTPPort}/inner", inner))

        def onMessage(self, ws: Any, event: Any) -> None:
            ws.send(event.data)

    class Server:
        def onConnection(self, wss: Any, event: Any) -> Relay:
            return Relay()

    web = duplex.WebServer({"HTTPPort": 0})
    assert web.start()["success"]
    try:
        duplex.WebSocketServer(Server(), {"webServer": web})
        with duplex.connect_sync(f"ws://127.0.0.1:{web.HTTPPort}/outer"):
            assert inner.wait_for("message")[0].event["data"] == "from inside"
            assert {call.thread for call in inner.calls} == {server_threads[0]}
            assert server_threads[0] != "duplex-client"
            made[0].terminate()
            inner.wait_for("terminate")
    finally:
        web.stop()


# -- properties ---------------------------------------------------------------------------------------


def test_properties(duplex_echo: Peer, make_client: Any) -> None:
    handler = ClientHandler(dataType="blob")
    url = duplex_echo.url("/props?x=1&y=%C3%A9")
    first = make_client(url, handler)
    second = make_client(duplex_echo.url(), None, dataType="object")
    assert isinstance(first.id, int) and isinstance(second.id, int)
    assert first.id != second.id
    assert first.url == url
    assert first.handler is handler
    assert first.dataType == "blob"
    assert second.dataType == second.data_type == "object"
    handler.wait_for("open")
    assert first.subprotocol is None
    assert wait_until(lambda: second.status == "Connected")
    assert repr(first).startswith(f"<WebSocket {first.id} ")
    for name in ("id", "url", "handler", "dataType", "status"):
        with pytest.raises(AttributeError):
            setattr(first, name, None)


def test_options_override_the_handlers(duplex_echo: Peer, make_client: Any) -> None:
    handler = ClientHandler(dataType="blob")
    ws = make_client(duplex_echo.url(), handler, dataType="object")
    assert ws.dataType == "object"
    handler.wait_for("open")


def test_a_snake_case_option_overrides_the_handlers_camel_case(duplex_echo: Peer, make_client: Any) -> None:
    handler = ClientHandler(dataType="blob")
    ws = make_client(duplex_echo.url(), handler, data_type="object")
    assert ws.dataType == "object"


# -- reconnect ----------------------------------------------------------------------------------------


def test_reconnect_after_the_server_closes(duplex_echo: Peer, make_client: Any) -> None:
    handler = ClientHandler()
    ws = make_client(duplex_echo.url(), handler, reconnect=True)
    handler.wait_for("open")
    ws.send("close 4000 go away and come back")
    handler.wait_for("open", count=2)
    assert wait_until(lambda: ws.status == "Connected")
    ws.send("after the reconnect")
    assert handler.wait_for("message")[0].event["data"] == "after the reconnect"
    assert handler.of("terminate") == []
    ws.terminate(4001, "for good")
    terminate = handler.one("terminate").event
    assert (terminate["code"], terminate["reason"]) == (4001, "")
    assert handler.kinds() == ["open", "open", "message", "terminate"]
    assert [call.event[0] for call in duplex_echo.recorder.wait_for("closed", count=2)] == [4000, 4001]


def test_reconnect_after_the_server_restarts_on_the_same_port(dead_port: int, make_client: Any) -> None:
    """Made before any web server runs, the client lives on the client loop (one made while a web
    server runs in this process would live on its loop, and end with it): it keeps trying until the
    server comes, then reconnects when the server comes back after a stop."""
    handler = ClientHandler()
    port = dead_port
    ws = make_client(f"ws://127.0.0.1:{port}/echo", handler, reconnect=True)
    assert ws.status == "Connecting"
    with duplex_peer(port):
        handler.wait_for("open")
        assert ws.status == "Connected"
    # The server is gone: the client keeps trying, quietly.
    assert wait_until(lambda: ws.status == "Connecting")
    time.sleep(0.3)
    assert ws.status == "Connecting"
    assert ws.send("nobody there") is False
    with duplex_peer(port) as second:
        handler.wait_for("open", count=2)
        assert ws.status == "Connected"
        ws.send("back again")
        assert handler.wait_for("message")[0].event["data"] == "back again"
        assert handler.of("terminate") == []
        assert handler.of("error") == []
        ws.terminate()
        handler.one("terminate")
        assert second.closed()[0] == 1000
    assert handler.kinds() == ["open", "open", "message", "terminate"]
    assert ws.status == "Closed"


def test_reconnect_gives_up_after_n_failed_attempts(dead_port: int, make_client: Any) -> None:
    handler = ClientHandler()
    ws = make_client(f"ws://127.0.0.1:{dead_port}/", handler, reconnect=2)
    assert_never_opened(handler, 500)
    assert ws.status == "Closed"


def test_terminate_stops_reconnecting(dead_port: int, make_client: Any) -> None:
    handler = ClientHandler()
    ws = make_client(f"ws://127.0.0.1:{dead_port}/", handler, reconnect=True)
    time.sleep(0.3)
    assert ws.status == "Connecting"
    assert handler.kinds() == []
    ws.terminate()
    assert handler.one("terminate").event["code"] == 1006
    assert handler.kinds() == ["terminate"]
    assert ws.status == "Closed"


# -- argument checks ----------------------------------------------------------------------------------


BAD_URLS: list[tuple[Any, type[Exception], str]] = [
    ("http://example.com/", ValueError, "ws://"),
    ("https://example.com/", ValueError, "wss://"),
    ("ws://", ValueError, "host"),
    ("ws://example.com:0/", ValueError, "port"),
    ("ws://example.com:99999/", ValueError, "ws://"),
    ("ws://example.com/#frag", ValueError, "fragment"),
    ("example.com", ValueError, "ws://"),
    (123, TypeError, "str"),
    (None, TypeError, "str"),
]


def test_bad_urls() -> None:
    for url, error, match in BAD_URLS:
        with pytest.raises(error, match=match):
            duplex.WebSocket(url)


def test_unknown_option_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="maxMessageSize") as caught:
        duplex.WebSocket("ws://127.0.0.1:1/", None, maxMesageSize=10)
    assert "maxMesageSize" in str(caught.value)
    assert "openTimeout" in str(caught.value)


BAD_OPTIONS: list[tuple[dict[str, Any], Any]] = [
    ({"dataType": "json"}, ValueError),
    ({"maxMessageSize": 0}, ValueError),
    ({"openTimeout": -1}, ValueError),
    ({"reconnect": 0.5}, (ValueError, TypeError)),
    ({"worker": ""}, ValueError),
    ({"subprotocols": [1]}, TypeError),
    ({"compression": "yes"}, TypeError),
    ({"ssl": "no"}, TypeError),
    ({"headers": "X-A: 1"}, TypeError),
]


def test_bad_option_values() -> None:
    for options, error in BAD_OPTIONS:
        with pytest.raises(error):
            duplex.WebSocket("ws://127.0.0.1:1/", None, **options)
    with pytest.raises(TypeError, match="onMessage"):
        duplex.WebSocket("ws://127.0.0.1:1/", {"onMessage": "not a function"})


def test_ssl_on_a_ws_url_is_refused() -> None:
    import ssl

    with pytest.raises(ValueError, match="wss://"):
        duplex.WebSocket("ws://127.0.0.1:1/", None, ssl=ssl.create_default_context())
