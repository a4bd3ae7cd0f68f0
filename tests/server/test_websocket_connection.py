"""``WebSocketConnection`` (API.md sections 1, 4 and 5), over real sockets on 127.0.0.1.

Each test runs its own ``duplex.WebServer`` on a free port and stops it at the end. Clients are the
``websockets`` library's sync client, or a raw socket where a polite client cannot do the job (a
close frame without a code, a dropped TCP connection, invalid UTF-8 in a text frame).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

import duplex
from server.helpers_connection import (
    OP_CLOSE,
    OP_TEXT,
    TIMEOUT,
    RawClient,
    Recorder,
    client_frame,
    close_code_of,
    error_codes,
    running_web_server,
    start_wss,
    unique_name,
    url,
    wait_until,
)

pytestmark = pytest.mark.timeout(30)

# How long to keep watching for a callback that must not come (a second onTerminate, ...).
QUIET = 0.3


@pytest.fixture
def web() -> Iterator[duplex.WebServer]:
    with running_web_server() as server:
        yield server


def client_of(web: duplex.WebServer, path: str = "/", **kwargs: Any) -> ClientConnection:
    return connect(url(web, path), open_timeout=TIMEOUT, close_timeout=TIMEOUT, **kwargs)


def echo(ws: Any, event: Any) -> None:
    ws.send(event.data)


def closed_by_server(client: ClientConnection) -> tuple[int | None, str | None]:
    """Wait for the server's close; the code and reason the client saw."""
    with pytest.raises(ConnectionClosed):
        while True:  # messages sent before the close may come first
            client.recv(timeout=TIMEOUT)
    return client.close_code, client.close_reason


def assert_once(recorder: Recorder, kind: str) -> Any:
    """The one ``kind`` call: it comes in time, and no second one follows."""
    call = recorder.wait_for(kind)[0]
    time.sleep(QUIET)
    assert len(recorder.of(kind)) == 1, f"{kind} ran {len(recorder.of(kind))} times"
    return call


# -- identity and properties -----------------------------------------------------------------------


def test_ids_are_unique_ints_across_servers(web: duplex.WebServer) -> None:
    first, second = Recorder(), Recorder()
    start_wss(web, first, path="/one")
    start_wss(web, second, path="/two")
    with (
        client_of(web, "/one"),
        client_of(web, "/one"),
        client_of(web, "/one"),
        client_of(web, "/two"),
        client_of(web, "/two"),
    ):
        ids = [call.ws.id for call in first.wait_for("open", 3) + second.wait_for("open", 2)]
    assert all(type(id_) is int for id_ in ids), ids
    assert len(set(ids)) == 5, ids


def test_status_connected_then_closing_then_closed(web: duplex.WebServer) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder)
    with client_of(web) as client:
        ws = recorder.wait_open()
        assert ws.status == "Connected"
        assert ws in wss.connections
        ws.terminate()
        assert ws.status == "Closing"  # at once, before the handshake is done
        assert closed_by_server(client)[0] == 1000
    recorder.wait_for("terminate")
    assert ws.status == "Closed"
    assert ws not in wss.connections


def test_status_is_closed_after_the_client_closes(web: duplex.WebServer) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder)
    with client_of(web) as client:
        ws = recorder.wait_open()
        client.close()
    recorder.wait_for("terminate")
    assert ws.status == "Closed"
    assert wss.connections == []


def test_status_is_closing_while_a_client_initiated_close_completes(web: duplex.WebServer) -> None:
    # One packet, a message then a close frame. The message's handler queues 8 MiB that the client
    # does not read yet, so the server's answer to the close waits behind them and the TCP connection
    # can only end once they are out. Until then the connection is "Closing", and still listed.
    recorder = Recorder(on_message=lambda ws, event: ws.send(bytes(8 * 1024 * 1024)))
    wss = start_wss(web, recorder, sendBufferLimit=None, closeTimeout=10)
    client = RawClient.connect(web.HTTPPort, receive_buffer=4096)
    try:
        ws = recorder.wait_open()
        client.sock.sendall(client_frame(OP_TEXT, b"go") + client_frame(OP_CLOSE, struct.pack("!H", 1000)))
        assert wait_until(lambda: ws.status != "Connected")
        for _ in range(20):  # not a flicker: it stays so while the bytes wait
            assert ws.status == "Closing"
            assert ws in wss.connections
            time.sleep(0.01)
        assert recorder.of("terminate") == []
        frames, close = client.read_until_close(timeout=TIMEOUT)
        assert sum(len(payload) for _, payload in frames) == 8 * 1024 * 1024
        assert close_code_of(close) == 1000
    finally:
        client.close()
    terminate = recorder.wait_for("terminate")[0]
    assert terminate.event.code == 1000
    assert ws.status == "Closed"
    assert ws not in wss.connections


def test_properties(web: duplex.WebServer) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder, path="/props", subprotocols=["chat", "superchat"])
    with client_of(
        web, "/props?name=ryan&x=1&x=2", subprotocols=["superchat"], additional_headers={"X-Token": "abc"}
    ) as client:
        ws = recorder.wait_open()
        assert isinstance(ws, duplex.WebSocketConnection)
        assert ws.wss is wss
        assert ws.handler is recorder
        assert ws.remoteAddress == "127.0.0.1"
        assert ws.subprotocol == "superchat" == client.subprotocol
        request = ws.request
        assert request.url == request["url"] == "/props?name=ryan&x=1&x=2"
        assert request.remoteAddress == "127.0.0.1"
        assert request.headers["x-token"] == "abc"
        assert request.headers["X-TOKEN"] == "abc"
        assert request.query["name"] == "ryan"
        assert request.query["x"] == ["1", "2"]
        assert wait_until(lambda: ws.bufferedAmount == 0)
        assert type(ws.bufferedAmount) is int


def test_subprotocol_is_none_when_not_negotiated(web: duplex.WebServer) -> None:
    recorder = Recorder()
    start_wss(web, recorder)
    with client_of(web) as client:
        assert recorder.wait_open().subprotocol is None
        assert client.subprotocol is None


# -- send() -----------------------------------------------------------------------------------------

SENT = [
    pytest.param("héllo ✓", "héllo ✓", id="str"),
    pytest.param("", "", id="empty-str"),
    pytest.param("x" * 70_000, "x" * 70_000, id="long-str"),
    pytest.param(b"\x00\xffbin", b"\x00\xffbin", id="bytes"),
    pytest.param(b"", b"", id="empty-bytes"),
    pytest.param(bytearray(b"\x01array"), b"\x01array", id="bytearray"),
    pytest.param(memoryview(b"\x02view"), b"\x02view", id="memoryview"),
    pytest.param({"a": 1, "b": [True, None]}, '{"a":1,"b":[true,null]}', id="dict"),
    pytest.param([1, "x", 2.5, {}], '[1,"x",2.5,{}]', id="list"),
    pytest.param({"é": "日本語"}, '{"é":"日本語"}', id="non-ascii"),
    pytest.param(42, "42", id="int"),
    pytest.param(-1.5, "-1.5", id="float"),
    pytest.param(True, "true", id="true"),
    pytest.param(False, "false", id="false"),
    pytest.param(None, "null", id="none"),
]


@pytest.mark.parametrize(("message", "expected"), SENT)
@pytest.mark.parametrize("where", ["thread", "callback"])
def test_send_frame_types(web: duplex.WebServer, message: Any, expected: str | bytes, where: str) -> None:
    """str -> text, bytes-like -> binary, JSON values -> compact JSON text (UTF-8, not \\u escapes)."""
    results: list[bool] = []
    recorder = Recorder(on_message=lambda ws, event: results.append(ws.send(message)))
    start_wss(web, recorder)
    with client_of(web) as client:
        ws = recorder.wait_open()
        if where == "thread":
            assert ws.send(message) is True
        else:
            client.send("go")
            recorder.wait_for("message")
        received = client.recv(timeout=TIMEOUT)
        assert type(received) is type(expected)  # str: a text frame, bytes: a binary frame
        assert received == expected
        if isinstance(expected, str):  # the same again, as the bytes on the wire: UTF-8
            if where == "thread":
                ws.send(message)
            else:
                client.send("go")
            assert client.recv(timeout=TIMEOUT, decode=False) == expected.encode("utf-8")
    if where == "callback":
        assert results and all(result is True for result in results)


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(set(), id="set"),
        pytest.param(object(), id="object"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(float("inf"), id="inf"),
        pytest.param({"a": {1, 2}}, id="nested-set"),
        pytest.param([1, object()], id="list-with-object"),
        pytest.param({(1, 2): "tuple key"}, id="tuple-key"),
    ],
)
def test_send_unserialisable_raises_type_error_and_sends_nothing(web: duplex.WebServer, message: Any) -> None:
    recorder = Recorder()
    start_wss(web, recorder)
    with client_of(web) as client:
        ws = recorder.wait_open()
        with pytest.raises(TypeError):
            ws.send(message)
        assert ws.send("after") is True
        assert client.recv(timeout=TIMEOUT) == "after"  # nothing was sent before it
        assert ws.status == "Connected"


def test_send_takes_the_message_at_the_call(web: duplex.WebServer) -> None:
    recorder = Recorder()
    start_wss(web, recorder)
    with client_of(web) as client:
        ws = recorder.wait_open()
        data = bytearray(b"before")
        document = {"state": "before"}
        ws.send(data)
        ws.send(document)
        data[:] = b"AFTER!"
        document["state"] = "after"
        assert client.recv(timeout=TIMEOUT) == b"before"
        assert client.recv(timeout=TIMEOUT) == '{"state":"before"}'


def test_send_type_error_inside_a_callback(web: duplex.WebServer) -> None:
    def reply(ws: Any, event: Any) -> None:
        try:
            ws.send({"bad": object()})
        except TypeError:
            ws.send("TypeError")

    recorder = Recorder(on_message=reply)
    start_wss(web, recorder)
    with client_of(web) as client:
        client.send("go")
        assert client.recv(timeout=TIMEOUT) == "TypeError"
    assert error_codes(recorder) == []


def test_send_returns_true_when_queued_and_false_once_not_connected(web: duplex.WebServer) -> None:
    recorder = Recorder()
    start_wss(web, recorder)
    with client_of(web) as client:
        ws = recorder.wait_open()
        assert ws.send("one") is True
        assert ws.send(b"two") is True
        assert client.recv(timeout=TIMEOUT) == "one"
        assert client.recv(timeout=TIMEOUT) == b"two"
        ws.terminate()
        assert ws.send("while closing") is False
        closed_by_server(client)
    recorder.wait_for("terminate")
    for message in ("late", b"late", {"late": True}, None):
        assert ws.send(message) is False


def test_send_after_the_client_left_returns_false(web: duplex.WebServer) -> None:
    recorder = Recorder()
    start_wss(web, recorder)
    with client_of(web):
        ws = recorder.wait_open()
    recorder.wait_for("terminate")
    assert ws.send("nobody is there") is False


# -- terminate() ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "code", "reason"),
    [
        pytest.param((), {}, 1000, "", id="default"),
        pytest.param((1000, "bye"), {}, 1000, "bye", id="1000"),
        pytest.param((1003, "unsupported"), {}, 1003, "unsupported", id="1003"),
        pytest.param((1008, ""), {}, 1008, "", id="1008"),
        pytest.param((1011, "x" * 123), {}, 1011, "x" * 123, id="123-bytes"),
        pytest.param((1014,), {}, 1014, "", id="1014"),
        pytest.param((3000, "custom"), {}, 3000, "custom", id="3000"),
        pytest.param((4999, "é" * 61), {}, 4999, "é" * 61, id="4999-utf8"),
        pytest.param((), {"code": 3001, "message": "keywords"}, 3001, "keywords", id="keywords"),
        pytest.param(({"code": 4000, "message": "dict form"},), {}, 4000, "dict form", id="dict"),
        pytest.param(({"code": 1001},), {}, 1001, "", id="dict-code-only"),
    ],
)
def test_terminate_sends_code_and_reason(
    web: duplex.WebServer, args: tuple[Any, ...], kwargs: dict[str, Any], code: int, reason: str
) -> None:
    recorder = Recorder()
    start_wss(web, recorder)
    with client_of(web) as client:
        ws = recorder.wait_open()
        ws.terminate(*args, **kwargs)
        assert closed_by_server(client) == (code, reason)
    event = assert_once(recorder, "terminate").event
    # The client echoed the server's close frame: that is the peer's code and reason.
    assert (event.code, event.reason) == (code, reason)


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 0, -1])
def test_terminate_rejects_invalid_codes(web: duplex.WebServer, code: int) -> None:
    recorder = Recorder(on_message=echo)
    start_wss(web, recorder)
    with client_of(web) as client:
        ws = recorder.wait_open()
        with pytest.raises(ValueError):
            ws.terminate(code)
        with pytest.raises(ValueError):
            ws.terminate(code, "reason")
        with pytest.raises(ValueError):
            ws.terminate({"code": code, "message": "reason"})
        assert ws.status == "Connected"
        client.send("still open")
        assert client.recv(timeout=TIMEOUT) == "still open"


@pytest.mark.parametrize(
    "message", [pytest.param("x" * 124, id="124-ascii"), pytest.param("é" * 62, id="124-bytes-of-62-chars")]
)
def test_terminate_rejects_a_message_over_123_bytes(web: duplex.WebServer, message: str) -> None:
    recorder = Recorder(on_message=echo)
    start_wss(web, recorder)
    with client_of(web) as client:
        ws = recorder.wait_open()
        with pytest.raises(ValueError):
            ws.terminate(1000, message)
        with pytest.raises(ValueError):
            ws.terminate({"code": 1000, "message": message})
        assert ws.status == "Connected"
        client.send("still open")
        assert client.recv(timeout=TIMEOUT) == "still open"


# -- dataType ---------------------------------------------------------------------------------------


def test_data_type_text(web: duplex.WebServer) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder, dataType="text")
    assert wss.dataType == "text"
    with client_of(web) as client:
        client.send("héllo")
        client.send("héllo".encode())
        client.send(b"")
        calls = recorder.wait_for("message", 3)
    assert [call.event.data for call in calls] == ["héllo", "héllo", ""]
    assert all(type(call.event.data) is str for call in calls)


def test_data_type_is_text_by_default(web: duplex.WebServer) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder)
    assert wss.dataType == "text"
    with client_of(web) as client:
        client.send(b"bin")
        assert recorder.wait_for("message")[0].event.data == "bin"


def test_data_type_text_invalid_utf8_binary_closes_1007(web: duplex.WebServer) -> None:
    recorder = Recorder()
    start_wss(web, recorder, dataType="text")
    with client_of(web) as client:
        client.send(b"\xff\xfe\xfd")
        assert closed_by_server(client)[0] == 1007
    error = recorder.wait_for("error")[0].event
    assert error.errors[0]["errCode"] == duplex.ErrorCode.INVALID_UTF8
    assert assert_once(recorder, "terminate").event.code == 1007
    assert recorder.of("message") == []
    assert recorder.kinds().index("error") < recorder.kinds().index("terminate")


def test_invalid_utf8_in_a_text_frame_closes_1007(web: duplex.WebServer) -> None:
    recorder = Recorder()
    start_wss(web, recorder, dataType="blob")
    client = RawClient.connect(web.HTTPPort)
    try:
        assert client.status == 101
        client.send_frame(OP_TEXT, b"ok \xff\xfe")
        _, close = client.read_until_close()
        assert close is not None and struct.unpack("!H", close[:2])[0] == 1007
    finally:
        client.close()
    assert recorder.wait_for("error")[0].event.errors[0]["errCode"] == duplex.ErrorCode.INVALID_UTF8
    assert_once(recorder, "terminate")
    assert recorder.of("message") == []


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(b"\x81\x02hi", id="unmasked"),
        pytest.param(b"\x83\x80abcd", id="reserved-opcode"),
        pytest.param(b"\xc1\x80abcd", id="rsv1-without-extension"),
    ],
)
def test_protocol_error_by_the_peer_reports_and_closes_1002(web: duplex.WebServer, frame: bytes) -> None:
    recorder = Recorder()
    start_wss(web, recorder, compression=False)
    client = RawClient.connect(web.HTTPPort)
    try:
        assert client.status == 101
        recorder.wait_open()
        client.sock.sendall(frame)
        _, close = client.read_until_close()
        assert close is not None and struct.unpack("!H", close[:2])[0] == 1002
    finally:
        client.close()
    error = recorder.wait_for("error")[0].event
    assert error.errors[0]["errCode"] == duplex.ErrorCode.PROTOCOL_ERROR
    assert error.errors[0]["componentSignature"] == "duplex"
    assert_once(recorder, "terminate")
    assert recorder.of("message") == []


def test_data_type_blob(web: duplex.WebServer) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder, dataType="blob")
    assert wss.dataType == "blob"
    with client_of(web) as client:
        client.send("é")
        client.send(b"\x00\xff")
        calls = recorder.wait_for("message", 2)
    assert [call.event.data for call in calls] == [b"\xc3\xa9", b"\x00\xff"]
    assert all(type(call.event.data) is bytes for call in calls)


def test_data_type_object(web: duplex.WebServer) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder, data_type="object")
    assert wss.dataType == "object"
    with client_of(web) as client:
        for text in ('{"a":[1,2,{"b":null}]}', "42", '"s"', "null", "[true, 1.5]"):
            client.send(text)
        calls = recorder.wait_for("message", 5)
    assert [call.event.data for call in calls] == [{"a": [1, 2, {"b": None}]}, 42, "s", None, [True, 1.5]]


def test_data_type_object_invalid_json_reports_then_closes_1007(web: duplex.WebServer) -> None:
    recorder = Recorder()
    start_wss(web, recorder, dataType="object")
    with client_of(web) as client:
        client.send('{"ok": 1}')
        client.send("{nope")
        assert closed_by_server(client)[0] == 1007
    error = recorder.wait_for("error")[0].event
    assert error.errors[0]["errCode"] == duplex.ErrorCode.INVALID_JSON
    assert assert_once(recorder, "terminate").event.code == 1007
    assert recorder.kinds() == ["open", "message", "error", "terminate"]
    assert recorder.of("message")[0].event.data == {"ok": 1}


def test_data_type_auto_echoes_with_the_same_frame_type(web: duplex.WebServer) -> None:
    recorder = Recorder(on_message=echo)
    wss = start_wss(web, recorder, dataType="auto")
    assert wss.dataType == "auto"
    with client_of(web) as client:
        client.send("héllo")
        assert client.recv(timeout=TIMEOUT) == "héllo"
        client.send(b"\x00\x01\xff")
        assert client.recv(timeout=TIMEOUT) == b"\x00\x01\xff"
        client.send(b"valid utf-8 but binary")
        received = client.recv(timeout=TIMEOUT)
        assert type(received) is bytes
    assert [type(call.event.data) for call in recorder.of("message")] == [str, bytes, bytes]


# -- connection callbacks ---------------------------------------------------------------------------


def test_on_open_runs_right_after_accept(web: duplex.WebServer) -> None:
    seen: list[Any] = []

    class Welcome(Recorder):
        def onOpen(self, ws: Any, event: Any) -> None:
            seen.append((event.type, event["type"], ws.status, ws in ws.wss.connections))
            ws.send("welcome")
            super().onOpen(ws, event)

    recorder = Welcome(on_message=echo)
    start_wss(web, recorder)
    with client_of(web) as client:
        recorder.wait_for("open")  # before the client sends anything
        assert client.recv(timeout=TIMEOUT) == "welcome"  # the first message on the connection
        client.send("hi")
        assert client.recv(timeout=TIMEOUT) == "hi"
    assert seen == [("open", "open", "Connected", True)]
    assert recorder.kinds()[:2] == ["open", "message"]


def test_on_open_comes_before_a_message_sent_at_once(web: duplex.WebServer) -> None:
    recorder = Recorder()
    start_wss(web, recorder)
    with client_of(web) as client:
        client.send("first")
        recorder.wait_for("message")
    assert recorder.kinds()[:2] == ["open", "message"]


def test_on_message_event(web: duplex.WebServer) -> None:
    recorder = Recorder()
    start_wss(web, recorder)
    with client_of(web) as client:
        client.send("payload")
        call = recorder.wait_for("message")[0]
    event = call.event
    assert event.type == event["type"] == "message"
    assert event.data == event["data"] == "payload"
    assert call.ws is recorder.wait_open()


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        pytest.param(1000, "", id="1000"),
        pytest.param(1000, "done", id="1000-reason"),
        pytest.param(1001, "going away", id="1001"),
        pytest.param(4321, "application", id="4321"),
        pytest.param(3000, "é" * 20, id="utf8-reason"),
    ],
)
def test_on_terminate_when_the_client_closes(web: duplex.WebServer, code: int, reason: str) -> None:
    recorder = Recorder()
    start_wss(web, recorder)
    with client_of(web) as client:
        recorder.wait_open()
        client.close(code, reason)
    event = assert_once(recorder, "terminate").event
    assert event.type == event["type"] == "terminate"
    assert (event.code, event.reason) == (code, reason)
    assert (event["code"], event["reason"]) == (code, reason)


def test_on_terminate_1001_when_the_web_server_stops() -> None:
    recorder = Recorder()
    with running_web_server() as web:
        start_wss(web, recorder)
        with client_of(web) as client:
            ws = recorder.wait_open()
            web.stop()  # returns once everything is closed
            assert closed_by_server(client)[0] == 1001
    event = assert_once(recorder, "terminate").event
    assert event.code == 1001
    assert ws.status == "Closed"


def test_on_terminate_1005_for_a_close_frame_without_code(web: duplex.WebServer) -> None:
    recorder = Recorder()
    start_wss(web, recorder)
    client = RawClient.connect(web.HTTPPort)
    try:
        assert client.status == 101
        recorder.wait_open()
        client.send_frame(OP_CLOSE, b"")
        _, close = client.read_until_close()
        assert close is not None, "the server answered the close frame"
    finally:
        client.close()
    event = assert_once(recorder, "terminate").event
    assert (event.code, event.reason) == (1005, "")


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_on_terminate_1006_when_the_tcp_connection_drops(web: duplex.WebServer, reset: bool) -> None:
    recorder = Recorder()
    start_wss(web, recorder)
    client = RawClient.connect(web.HTTPPort)
    assert client.status == 101
    ws = recorder.wait_open()
    if reset:
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
    event = assert_once(recorder, "terminate").event
    assert (event.code, event.reason) == (1006, "")
    assert ws.status == "Closed"


def test_terminate_with_a_silent_peer_is_closed_after_close_timeout(web: duplex.WebServer) -> None:
    recorder = Recorder()
    wss = start_wss(web, recorder, closeTimeout=0.3)
    client = RawClient.connect(web.HTTPPort)
    try:
        ws = recorder.wait_open()
        started = time.monotonic()
        ws.terminate(1000, "bye")
        assert ws.status == "Closing"
        event = recorder.wait_for("terminate", timeout=3)[0].event
        assert time.monotonic() - started < 2.0
        assert ws.status == "Closed"
        assert ws not in wss.connections
        assert event.code == 1006  # the peer never answered with a close frame
        _, close = client.read_until_close(timeout=1)
        assert close is not None and struct.unpack("!H", close[:2])[0] == 1000
    finally:
        client.close()


def test_on_terminate_once_when_both_sides_close_at_the_same_time(web: duplex.WebServer) -> None:
    recorder = Recorder()
    start_wss(web, recorder)
    with client_of(web) as client:
        ws = recorder.wait_open()
        ws.terminate(1000, "server")
        client.close(1000, "client")
    assert_once(recorder, "terminate")


# -- onError and callbacks that raise -------------------------------------------------------------


class Boom(Recorder):
    """Echoes, except "boom", which raises ValueError("outer boom") caused by KeyError("inner")."""

    def onMessage(self, ws: Any, event: Any) -> None:
        self.record("message", ws, event)
        if event.data == "boom":
            try:
                raise KeyError("inner")
            except KeyError as exc:
                raise ValueError("outer boom") from exc
        ws.send(event.data)


class AsyncBoom(Recorder):
    async def onMessage(self, ws: Any, event: Any) -> None:
        self.record("message", ws, event)
        await asyncio.sleep(0.01)
        if event.data == "boom":
            try:
                raise KeyError("inner")
            except KeyError as exc:
                raise ValueError("outer boom") from exc
        ws.send(event.data)


@pytest.mark.parametrize("handler_class", [Boom, AsyncBoom], ids=["sync", "async"])
def test_callback_that_raises_reports_and_keeps_the_connection(
    web: duplex.WebServer, handler_class: type[Recorder]
) -> None:
    recorder = handler_class()
    start_wss(web, recorder)
    with client_of(web) as client:
        client.send("boom")
        client.send("after")
        assert client.recv(timeout=TIMEOUT) == "after"  # still open, still served
        ws = recorder.wait_open()
        assert ws.status == "Connected"
    call = recorder.wait_for("error")[0]
    event = call.event
    assert call.ws is ws
    assert event.type == event["type"] == "error"
    errors = event.errors
    assert errors is event["errors"]
    assert isinstance(errors, list) and len(errors) >= 2
    for error in errors:
        assert set(error) == {"errCode", "message", "componentSignature"}
        assert isinstance(error["errCode"], int)
        assert isinstance(error["message"], str) and error["message"]
        assert error["componentSignature"] == "duplex"
    # Most recent first: the callback failure, then what caused it.
    assert errors[0]["errCode"] == duplex.ErrorCode.CALLBACK_FAILED
    assert "outer boom" in errors[0]["message"]
    assert "inner" in errors[1]["message"]
    assert isinstance(event.exception, ValueError)
    assert str(event.exception) == "outer boom"
    assert event["exception"] is event.exception
    assert recorder.kinds()[:4] == ["open", "message", "error", "message"]


def test_raising_on_open_reports_and_keeps_the_connection(web: duplex.WebServer) -> None:
    class BadOpen(Recorder):
        def onOpen(self, ws: Any, event: Any) -> None:
            super().onOpen(ws, event)
            raise RuntimeError("open failed")

    recorder = BadOpen(on_message=echo)
    start_wss(web, recorder)
    with client_of(web) as client:
        client.send("hi")
        assert client.recv(timeout=TIMEOUT) == "hi"
    event = recorder.wait_for("error")[0].event
    assert event.errors[0]["errCode"] == duplex.ErrorCode.CALLBACK_FAILED
    assert isinstance(event.exception, RuntimeError)


def test_raising_on_error_does_not_close_the_connection(web: duplex.WebServer) -> None:
    class BadError(Boom):
        def onError(self, ws: Any, event: Any) -> None:
            super().onError(ws, event)
            raise RuntimeError("onError failed too")

    recorder = BadError()
    start_wss(web, recorder)
    with client_of(web) as client:
        client.send("boom")
        client.send("boom")
        client.send("after")
        assert client.recv(timeout=TIMEOUT) == "after"
    recorder.wait_for("error", 2)
    time.sleep(QUIET)
    assert len(recorder.of("error")) == 2  # no error about the error handler, no loop


def test_raising_on_terminate_reports_once(web: duplex.WebServer) -> None:
    class BadTerminate(Recorder):
        def onTerminate(self, ws: Any, event: Any) -> None:
            super().onTerminate(ws, event)
            raise RuntimeError("terminate failed")

    recorder = BadTerminate()
    start_wss(web, recorder)
    with client_of(web):
        recorder.wait_open()
    assert_once(recorder, "terminate")
    # Every exception of a connection callback reaches onError, this one too (API.md section 4).
    assert error_codes(recorder) == [duplex.ErrorCode.CALLBACK_FAILED]


# -- async callbacks and ordering -----------------------------------------------------------------


class SlowAsync:
    """Async callbacks that sleep less for each later message: only strict ordering keeps them in order."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.log: list[tuple[str, Any, float]] = []
        self.threads: set[str] = set()
        self.lock = threading.Lock()
        self.done = threading.Event()

    def _note(self, what: str, value: Any) -> None:
        with self.lock:
            self.log.append((what, value, time.monotonic()))
            self.threads.add(threading.current_thread().name)

    async def onOpen(self, ws: Any, event: Any) -> None:
        self._note("open-start", None)
        await asyncio.sleep(0.1)
        self._note("open-end", None)

    async def onMessage(self, ws: Any, event: Any) -> None:
        index = int(event.data)
        self._note("start", index)
        await asyncio.sleep((self.count - index) * 0.02)
        self._note("end", index)
        ws.send(event.data)

    async def onTerminate(self, ws: Any, event: Any) -> None:
        self._note("terminate", event.code)
        self.done.set()


def check_strict_order(handler: SlowAsync) -> None:
    count = handler.count
    expected: list[tuple[str, Any]] = [("open-start", None), ("open-end", None)]
    for index in range(count):
        expected += [("start", index), ("end", index)]
    expected.append(("terminate", 1000))
    assert [(what, value) for what, value, _ in handler.log] == expected
    times = [at for _, _, at in handler.log]
    assert times == sorted(times)


def test_async_callbacks_run_one_at_a_time_in_order(web: duplex.WebServer) -> None:
    handler = SlowAsync(count=6)
    start_wss(web, handler)
    with client_of(web) as client:
        for index in range(handler.count):
            client.send(str(index))
        assert [client.recv(timeout=TIMEOUT) for _ in range(handler.count)] == [
            str(index) for index in range(handler.count)
        ]
    assert handler.done.wait(TIMEOUT)
    check_strict_order(handler)
    assert len(handler.threads) == 1
    assert not any(name.startswith("duplex-worker-") for name in handler.threads)


def test_on_terminate_waits_for_a_running_async_on_message(web: duplex.WebServer) -> None:
    log: list[str] = []
    done = threading.Event()

    class Handler:
        async def onMessage(self, ws: Any, event: Any) -> None:
            log.append("message-start")
            await asyncio.sleep(0.2)
            log.append("message-end")

        def onTerminate(self, ws: Any, event: Any) -> None:
            log.append("terminate")
            done.set()

    start_wss(web, Handler())
    with client_of(web) as client:
        client.send("slow")
    assert done.wait(TIMEOUT)
    assert log == ["message-start", "message-end", "terminate"]


def test_connections_proceed_independently(web: duplex.WebServer) -> None:
    release = threading.Event()

    class Handler(Recorder):
        async def onMessage(self, ws: Any, event: Any) -> None:
            if event.data == "slow":
                for _ in range(200):  # at most 2 s
                    if release.is_set():
                        break
                    await asyncio.sleep(0.01)
            ws.send(event.data)

    start_wss(web, Handler())
    with client_of(web) as slow, client_of(web) as fast:
        slow.send("slow")
        started = time.monotonic()
        fast.send("fast")
        assert fast.recv(timeout=TIMEOUT) == "fast"
        assert time.monotonic() - started < 1.0
        release.set()
        assert slow.recv(timeout=TIMEOUT) == "slow"


# -- the worker option ----------------------------------------------------------------------------


def test_worker_runs_callbacks_on_its_named_thread(web: duplex.WebServer) -> None:
    name = unique_name("conn")
    recorder = Recorder(on_message=echo)
    start_wss(web, recorder, worker=name, dataType="auto")
    with client_of(web) as client:
        client.send("a")
        assert client.recv(timeout=TIMEOUT) == "a"
        client.send(b"\x00")
        assert client.recv(timeout=TIMEOUT) == b"\x00"
    recorder.wait_for("terminate")
    assert {call.kind for call in recorder.calls} == {"open", "message", "terminate"}
    assert {call.thread for call in recorder.calls} == {f"duplex-worker-{name}"}
    assert threading.current_thread().name != f"duplex-worker-{name}"


def test_worker_is_not_the_loop_thread(web: duplex.WebServer) -> None:
    name = unique_name("conn")
    on_worker, on_loop = Recorder(), Recorder()
    start_wss(web, on_worker, path="/worker", worker=name)
    start_wss(web, on_loop, path="/loop")
    with client_of(web, "/worker") as first, client_of(web, "/loop") as second:
        first.send("x")
        second.send("y")
        worker_call = on_worker.wait_for("message")[0]
        loop_call = on_loop.wait_for("message")[0]
    assert worker_call.thread == f"duplex-worker-{name}"
    assert worker_call.ident != loop_call.ident
    assert not loop_call.thread.startswith("duplex-worker-")


def test_servers_with_the_same_worker_name_share_its_thread(web: duplex.WebServer) -> None:
    name = unique_name("shared")
    first, second, third = Recorder(), Recorder(), Recorder()
    start_wss(web, first, path="/a", worker=name)
    start_wss(web, second, path="/b", worker=name)
    with running_web_server() as other_web:
        start_wss(other_web, third, worker=name)
        with client_of(web, "/a") as a, client_of(web, "/b") as b, client_of(other_web) as c:
            for client in (a, b, c):
                client.send("hi")
            calls = [recorder.wait_for("message")[0] for recorder in (first, second, third)]
    assert len({call.ident for call in calls}) == 1
    assert {call.thread for call in calls} == {f"duplex-worker-{name}"}


def test_worker_keeps_message_order(web: duplex.WebServer) -> None:
    name = unique_name("order")
    recorder = Recorder(on_message=echo)
    start_wss(web, recorder, worker=name)
    count = 300
    with client_of(web) as client:
        for index in range(count):
            client.send(str(index))
        received = [client.recv(timeout=TIMEOUT) for _ in range(count)]
    assert received == [str(index) for index in range(count)]
    assert [call.event.data for call in recorder.wait_for("message", count)] == received


def test_worker_runs_async_callbacks_in_order(web: duplex.WebServer) -> None:
    name = unique_name("async")
    handler = SlowAsync(count=5)
    start_wss(web, handler, worker=name)
    with client_of(web) as client:
        for index in range(handler.count):
            client.send(str(index))
        assert [client.recv(timeout=TIMEOUT) for _ in range(handler.count)] == [
            str(index) for index in range(handler.count)
        ]
    assert handler.done.wait(TIMEOUT)
    check_strict_order(handler)
    assert handler.threads == {f"duplex-worker-{name}"}


def test_worker_on_terminate_when_the_web_server_stops() -> None:
    name = unique_name("stop")
    recorder = Recorder()
    with running_web_server() as web:
        start_wss(web, recorder, worker=name)
        with client_of(web) as client:
            recorder.wait_open()
            web.stop()
            assert closed_by_server(client)[0] == 1001
    call = assert_once(recorder, "terminate")
    assert call.event.code == 1001
    assert call.thread == f"duplex-worker-{name}"


def test_a_blocked_worker_does_not_stall_the_loop(web: duplex.WebServer) -> None:
    name = unique_name("blocked")
    release = threading.Event()

    def block(ws: Any, event: Any) -> None:
        release.wait(2)
        ws.send(event.data)

    blocked, free = Recorder(on_message=block), Recorder(on_message=echo)
    start_wss(web, blocked, path="/blocked", worker=name)
    start_wss(web, free, path="/free")
    with client_of(web, "/blocked") as first, client_of(web, "/free") as second:
        first.send("wait")
        blocked.wait_for("message")
        started = time.monotonic()
        second.send("free")
        assert second.recv(timeout=TIMEOUT) == "free"
        assert time.monotonic() - started < 1.0
        release.set()
        assert first.recv(timeout=TIMEOUT) == "wait"


# -- snake_case callback names ----------------------------------------------------------------------


def test_snake_case_callbacks(web: duplex.WebServer) -> None:
    recorder = Recorder()

    class Snake:
        def on_open(self, ws: Any, event: Any) -> None:
            recorder.record("open", ws, event)

        def on_message(self, ws: Any, event: Any) -> None:
            recorder.record("message", ws, event)
            if event.data == "boom":
                raise RuntimeError("boom")
            ws.send(event.data)

        def on_terminate(self, ws: Any, event: Any) -> None:
            recorder.record("terminate", ws, event)

        def on_error(self, ws: Any, event: Any) -> None:
            recorder.record("error", ws, event)

    class SnakeServer:
        def on_connection(self, wss: Any, event: Any) -> Any:
            return Snake()

    duplex.WebSocketServer(SnakeServer(), {"web_server": web, "data_type": "text"})
    with client_of(web) as client:
        client.send("boom")
        client.send("hi")
        assert client.recv(timeout=TIMEOUT) == "hi"
    assert_once(recorder, "terminate")
    assert recorder.kinds() == ["open", "message", "error", "message", "terminate"]
    assert recorder.of("error")[0].event.errors[0]["errCode"] == duplex.ErrorCode.CALLBACK_FAILED
