"""``duplex.WebServer`` (4D.WebServer): start/stop results, settings and properties, HTTPS, the
asyncio way to run, and what ``stop()`` does to the WebSocket servers on it (API.md section 2)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

import duplex

TIMEOUT = 5.0


def http_get(target: str, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    with urllib.request.urlopen(target, timeout=TIMEOUT, context=context) as response:
        return response.status, response.read()


def port_is_closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT):
            return False
    except ConnectionRefusedError:
        return True


class Echo:
    def onMessage(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
        ws.send(event.data)


class EchoServer:
    def onConnection(self, wss: duplex.WebSocketServer, event: duplex.Event) -> Echo:
        return Echo()


def check_error_list(result: dict[str, Any], code: duplex.ErrorCode) -> dict[str, Any]:
    assert result["success"] is False
    errors = result["errors"]
    assert isinstance(errors, list)
    assert errors, result
    for error in errors:
        assert set(error) >= {"errCode", "message", "componentSignature"}
        assert isinstance(error["errCode"], int)
        assert isinstance(error["message"], str)
        assert error["message"]
        assert error["componentSignature"] == "duplex"
    assert errors[0]["errCode"] == code
    first: dict[str, Any] = errors[0]
    return first


# -- start() and stop() -----------------------------------------------------------------------------


def test_start_returns_success_and_serves(
    new_web: Callable[..., duplex.WebServer], root_folder: Path
) -> None:
    web = new_web()
    assert web.isRunning is False
    result = web.start({"HTTPPort": 0, "rootFolder": str(root_folder)})
    assert result["success"] is True
    assert not result.get("errors")
    assert web.isRunning is True
    status, body = http_get(f"http://127.0.0.1:{web.HTTPPort}/")
    assert status == 200
    assert b"hello from duplex" in body


def test_start_runs_callbacks_on_a_background_thread(
    web: duplex.WebServer,
    make_wss: Callable[..., duplex.WebSocketServer],
    client: Callable[..., ClientConnection],
) -> None:
    threads: list[threading.Thread] = []

    def on_connection(wss: duplex.WebSocketServer, event: duplex.Event) -> Echo:
        threads.append(threading.current_thread())
        return Echo()

    make_wss({"path": "/echo"}, on_connection=on_connection)
    ws = client(f"ws://127.0.0.1:{web.HTTPPort}/echo")
    ws.send("ping")
    assert ws.recv(timeout=TIMEOUT) == "ping"
    assert threads
    assert threads[0] is not threading.main_thread()


def test_starting_twice_is_an_error_result(web: duplex.WebServer) -> None:
    port = web.HTTPPort
    result = web.start()
    error = check_error_list(result, duplex.ErrorCode.WEB_SERVER_ALREADY_RUNNING)
    assert "already running" in error["message"]
    assert web.isRunning is True
    assert web.HTTPPort == port
    assert http_get(f"http://127.0.0.1:{port}/")[0] == 200


def test_port_in_use_is_an_error_result_not_an_exception(
    web: duplex.WebServer, new_web: Callable[..., duplex.WebServer]
) -> None:
    taken = web.HTTPPort
    other = new_web()
    result = other.start({"HTTPPort": taken})
    error = check_error_list(result, duplex.ErrorCode.WEB_SERVER_START_FAILED)
    assert str(taken) in error["message"]
    assert "in use" in error["message"].lower()
    assert other.isRunning is False
    # The failed server can still be started on another port.
    assert other.start({"HTTPPort": 0})["success"] is True
    assert other.HTTPPort not in (0, taken)


def test_port_held_by_a_plain_socket(new_web: Callable[..., duplex.WebServer]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        web = new_web()
        result = web.start({"HTTPPort": port})
        error = check_error_list(result, duplex.ErrorCode.WEB_SERVER_START_FAILED)
        assert str(port) in error["message"]
        assert web.isRunning is False


def test_unknown_setting_key_raises_value_error_naming_known_keys(
    new_web: Callable[..., duplex.WebServer],
) -> None:
    with pytest.raises(ValueError) as info:
        duplex.WebServer({"HTTPPorts": 0})
    message = str(info.value)
    assert "HTTPPorts" in message
    assert "HTTPPort" in message.replace("HTTPPorts", "")
    assert "rootFolder" in message

    web = new_web()
    with pytest.raises(ValueError, match="bogus"):
        web.start({"HTTPPort": 0, "bogus": 1})
    assert web.isRunning is False


def test_snake_case_setting_keys(new_web: Callable[..., duplex.WebServer], root_folder: Path) -> None:
    web = new_web({"ip_address_to_listen": "127.0.0.1", "default_homepage": "index.html"})
    result = web.start({"http_port": 0, "root_folder": str(root_folder), "max_request_size": 1000})
    assert result["success"] is True, result
    assert web.HTTPPort != 0
    assert web.rootFolder == str(root_folder)
    assert web.maxRequestSize == 1000
    assert web.IPAddressToListen == "127.0.0.1"
    assert http_get(f"http://127.0.0.1:{web.HTTPPort}/")[0] == 200


def test_properties_have_the_4d_names(new_web: Callable[..., duplex.WebServer], root_folder: Path) -> None:
    web = new_web()
    assert web.HTTPPort == 8080  # the default, before start
    assert web.start({"HTTPPort": 0, "rootFolder": root_folder})["success"] is True
    port = web.HTTPPort
    assert isinstance(port, int)
    assert 0 < port <= 65535
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT):
        pass
    assert web.isRunning is True
    assert web.rootFolder == str(root_folder)
    assert web.HTTPEnabled is True
    assert web.HTTPSEnabled is False
    assert web.HTTPSPort == 8443
    assert web.IPAddressToListen == "127.0.0.1"
    assert web.defaultHomepage == "index.html"
    assert web.maxRequestSize == 2_000_000
    assert web.certificateFolder is None
    assert web.CORSEnabled is False
    assert web.HSTSEnabled is False
    assert isinstance(web.name, str)
    # snake_case spellings of the same properties
    assert web.http_port == port
    assert web.is_running is True
    assert web.root_folder == str(root_folder)
    # read-only
    with pytest.raises(AttributeError):
        web.HTTPPort = 1  # type: ignore[misc]


def test_send_timeout_and_backlog_default_and_reach_the_http_server(
    new_web: Callable[..., duplex.WebServer],
) -> None:
    web = new_web()
    assert web.sendTimeout == 30.0
    assert web.backlog == 2048
    assert web.start({"HTTPPort": 0, "send_timeout": 2.5, "backlog": 512})["success"] is True
    assert (web.sendTimeout, web.send_timeout, web.backlog) == (2.5, 2.5, 512)
    assert (web.http.config.send_timeout, web.http.config.backlog) == (2.5, 512)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"sendTimeout": 0}, "sendTimeout must be greater than 0, got 0"),
        ({"sendTimeout": -1.5}, "sendTimeout must be greater than 0, got -1.5"),
        ({"sendTimeout": "30"}, "sendTimeout must be a number, got '30'"),
        ({"sendTimeout": None}, "sendTimeout must be a number, got None"),
        ({"backlog": 0}, "backlog must be at least 1, got 0"),
        ({"backlog": 100.0}, "backlog must be an integer, got 100.0"),
        ({"backlog": True}, "backlog must be an integer, got True"),
        (
            {"backlog": 65536},
            "backlog must be from 1 to 65535 (the kernel caps it further, at net.core.somaxconn on Linux), "
            "got 65536",
        ),
    ],
)
def test_invalid_send_timeout_or_backlog_is_a_value_error(
    new_web: Callable[..., duplex.WebServer], settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as info:
        duplex.WebServer(settings)
    assert str(info.value) == message
    web = new_web()
    with pytest.raises(ValueError):
        web.start({"HTTPPort": 0, **settings})
    assert web.isRunning is False


def test_stop_twice_is_harmless(new_web: Callable[..., duplex.WebServer]) -> None:
    web = new_web()
    web.stop()  # never started
    assert web.start({"HTTPPort": 0})["success"] is True
    port = web.HTTPPort
    web.stop()
    assert web.isRunning is False
    web.stop()
    assert web.isRunning is False
    assert port_is_closed(port)


def test_restart_after_stop(new_web: Callable[..., duplex.WebServer]) -> None:
    web = new_web()
    assert web.start({"HTTPPort": 0})["success"] is True
    web.stop()
    assert web.start({"HTTPPort": 0})["success"] is True
    assert web.isRunning is True
    with socket.create_connection(("127.0.0.1", web.HTTPPort), timeout=TIMEOUT):
        pass


# -- HTTPS -----------------------------------------------------------------------------------------


def test_https_serves_wss_and_https(
    new_web: Callable[..., duplex.WebServer],
    root_folder: Path,
    certificate_folder: Path,
    client_ssl: ssl.SSLContext,
) -> None:
    web = new_web()
    result = web.start(
        {
            "HTTPPort": 0,
            "HTTPSEnabled": True,
            "HTTPSPort": 0,
            "certificateFolder": str(certificate_folder),
            "rootFolder": str(root_folder),
        }
    )
    assert result["success"] is True, result
    assert web.HTTPSEnabled is True
    assert web.certificateFolder == str(certificate_folder)
    assert web.HTTPSPort not in (0, web.HTTPPort)
    duplex.WebSocketServer(EchoServer(), {"webServer": web, "path": "/echo", "dataType": "auto"})

    status, body = http_get(f"https://localhost:{web.HTTPSPort}/", client_ssl)
    assert status == 200
    assert b"hello from duplex" in body

    async def talk() -> None:
        async with async_connect(
            f"wss://localhost:{web.HTTPSPort}/echo", ssl=client_ssl, open_timeout=TIMEOUT, proxy=None
        ) as ws:
            await ws.send("secure")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "secure"
        # ws:// on the HTTP port reaches the same WebSocket server
        async with async_connect(
            f"ws://127.0.0.1:{web.HTTPPort}/echo", open_timeout=TIMEOUT, proxy=None
        ) as ws:
            await ws.send(b"plain")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == b"plain"

    asyncio.run(talk())


def test_https_without_certificate_folder_fails(new_web: Callable[..., duplex.WebServer]) -> None:
    web = new_web()
    result = web.start({"HTTPPort": 0, "HTTPSEnabled": True, "HTTPSPort": 0})
    error = check_error_list(result, duplex.ErrorCode.WEB_SERVER_START_FAILED)
    assert "certificateFolder" in error["message"]
    assert web.isRunning is False


def test_https_with_an_empty_certificate_folder_fails(
    new_web: Callable[..., duplex.WebServer], tmp_path: Path
) -> None:
    empty = tmp_path / "no-certs"
    empty.mkdir()
    web = new_web()
    result = web.start({"HTTPPort": 0, "HTTPSEnabled": True, "HTTPSPort": 0, "certificateFolder": str(empty)})
    error = check_error_list(result, duplex.ErrorCode.WEB_SERVER_START_FAILED)
    assert "cert.pem" in error["message"]
    assert web.isRunning is False


# -- running on the caller's event loop --------------------------------------------------------------


def test_async_with_runs_on_the_callers_loop(root_folder: Path) -> None:
    async def main() -> None:
        seen: list[tuple[int, asyncio.AbstractEventLoop]] = []
        my_loop = asyncio.get_running_loop()

        class Server:
            def onConnection(self, wss: duplex.WebSocketServer, event: duplex.Event) -> Echo:
                seen.append((threading.get_ident(), asyncio.get_running_loop()))
                return Echo()

        async with duplex.WebServer({"HTTPPort": 0, "rootFolder": str(root_folder)}) as web:
            assert web.isRunning is True
            port = web.HTTPPort
            assert port != 0
            wss = duplex.WebSocketServer(Server(), {"webServer": web, "path": "/echo"})
            async with async_connect(f"ws://127.0.0.1:{port}/echo", open_timeout=TIMEOUT, proxy=None) as ws:
                await ws.send("on my loop")
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "on my loop"
        assert web.isRunning is False
        assert wss.terminated is True
        assert seen == [(threading.get_ident(), my_loop)]
        assert port_is_closed(port)

    asyncio.run(asyncio.wait_for(main(), 20))


def test_serve_until_stopped_from_a_callback() -> None:
    async def main() -> None:
        web = duplex.WebServer({"HTTPPort": 0})
        on_loop_thread: list[bool] = []
        main_thread = threading.get_ident()

        class Stopper:
            def onMessage(self, ws: duplex.WebSocketConnection, event: duplex.Event) -> None:
                on_loop_thread.append(threading.get_ident() == main_thread)
                if event.data == "stop":
                    web.stop()  # from a callback: starts the shutdown and returns

        class Server:
            def onConnection(self, wss: duplex.WebSocketServer, event: duplex.Event) -> Stopper:
                return Stopper()

        serving = asyncio.create_task(web.serve())
        for _ in range(500):
            if web.isRunning:
                break
            await asyncio.sleep(0.01)
        assert web.isRunning is True
        duplex.WebSocketServer(Server(), {"webServer": web, "path": "/ws"})
        async with async_connect(f"ws://127.0.0.1:{web.HTTPPort}/ws", open_timeout=TIMEOUT, proxy=None) as ws:
            await ws.send("stop")
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert info.value.rcvd is not None
            assert info.value.rcvd.code == 1001
        await asyncio.wait_for(serving, TIMEOUT)
        assert web.isRunning is False
        assert on_loop_thread == [True]

    asyncio.run(asyncio.wait_for(main(), 20))


def test_serve_until_stopped_from_another_task() -> None:
    async def main() -> None:
        web = duplex.WebServer({"HTTPPort": 0})
        serving = asyncio.create_task(web.serve())
        for _ in range(500):
            if web.isRunning:
                break
            await asyncio.sleep(0.01)
        assert web.isRunning is True
        port = web.HTTPPort

        async def stopper() -> None:
            await asyncio.sleep(0.05)
            web.stop()

        await asyncio.wait_for(asyncio.gather(serving, stopper()), TIMEOUT)
        assert web.isRunning is False
        assert port_is_closed(port)

    asyncio.run(asyncio.wait_for(main(), 20))


# -- stop() terminates the WebSocket servers ----------------------------------------------------------


def test_stop_terminates_every_websocket_server(
    web: duplex.WebServer,
    make_wss: Callable[..., duplex.WebSocketServer],
    client: Callable[..., ClientConnection],
    url: Callable[[str], str],
    recorder: Any,
) -> None:
    first = make_wss({"path": "/a"})
    second = make_wss({"path": "/b"})
    clients = [client(url("/a")), client(url("/a")), client(url("/b"))]
    for ws in clients:
        ws.send("hi")
        assert ws.recv(timeout=TIMEOUT) == "hi"

    web.stop()
    assert web.isRunning is False

    for ws in clients:
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=TIMEOUT)
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1001
    terminated = {recorder.wait("server.terminate")[0] for _ in range(2)}
    assert terminated == {first, second}
    assert first.terminated is True
    assert second.terminated is True
    assert first.connections == []
    assert second.connections == []
    # each connection's onTerminate ran, with the client's answer to 1001
    codes = [recorder.wait("terminate")[1].code for _ in clients]
    assert codes == [1001, 1001, 1001]
    web.stop()
    assert recorder.count("server.terminate", settle=0.1) == 2
    assert recorder.count("terminate") == 3


def test_default_web_server() -> None:
    default = duplex.web_server()
    assert duplex.web_server() is default
    assert isinstance(default, duplex.WebServer)
    try:
        result = default.start({"HTTPPort": 0})
        assert result["success"] is True, result
        # WebSocketServer uses the default web server unless told otherwise
        wss = duplex.WebSocketServer(EchoServer(), {"path": "/default-echo"})

        async def talk() -> None:
            async with async_connect(
                f"ws://127.0.0.1:{default.HTTPPort}/default-echo", open_timeout=TIMEOUT, proxy=None
            ) as ws:
                await ws.send("default")
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "default"

        asyncio.run(talk())
    finally:
        default.stop()
    assert default.isRunning is False
    assert wss.terminated is True
