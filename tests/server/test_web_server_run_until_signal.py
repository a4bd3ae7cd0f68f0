"""``WebServer.run_until_signal()`` and what a script sees when ``start()`` fails.

The README's Python example is taken from README.md and run as written, as a real process in an
empty folder. Signals go to real processes: SIGINT or SIGTERM closes every client with 1001 and the
script exits 0; a client that never answers the close is named while the stop waits for it, and a
second signal drops it at once.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

import duplex
from cli.serve_process import TIMEOUT, RunningProcess

pytestmark = pytest.mark.timeout(60)

README = Path(__file__).resolve().parents[2] / "README.md"

# A script as a user would write it: an echo server that runs until a signal. argv: the close
# timeout. A client that sends "stop" makes a callback stop the web server instead.
ECHO_SCRIPT = """\
import sys

import duplex


class Echo:
    def onMessage(self, ws, event):
        if event.data == "stop":
            ws.wss.web_server.stop()
        else:
            ws.send(event.data)


class Server:
    def onConnection(self, wss, event):
        return Echo()


web = duplex.web_server()
result = web.start({"HTTPPort": 0})
assert result["success"], result
options = {"path": "/ws", "closeTimeout": float(sys.argv[1])}
wss = duplex.WebSocketServer(Server(), options)
stopped_by = web.run_until_signal(f"serving ws://127.0.0.1:{web.HTTPPort}/ws")
print(f"returned {stopped_by!r}, running: {web.isRunning}, terminated: {wss.terminated}", flush=True)
"""

SIGNALS = pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])


def readme_example() -> str:
    """The first ```python block of README.md."""
    match = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert match, "README.md has no ```python block"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def script(folder: Path, text: str, *args: str) -> Iterator[RunningProcess]:
    """Run ``text`` as ``folder/script.py ARGS`` (a real process in ``folder``); killed afterwards."""
    path = folder / "script.py"
    path.write_text(text, encoding="utf-8")
    with RunningProcess([sys.executable, str(path), *args], cwd=folder) as running:
        yield running


def serving_url(running: RunningProcess) -> str:
    return running.wait_for(r"serving (ws://127\.0\.0\.1:\d+/ws)", streams=("stdout",)).group(1)


def raw_websocket(url: str) -> socket.socket:
    """A WebSocket client on a bare socket that has done the handshake and will never answer."""
    match = re.fullmatch(r"ws://([\d.]+):(\d+)(/.*)", url)
    assert match, url
    sock = socket.create_connection((match.group(1), int(match.group(2))), timeout=TIMEOUT)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {match.group(3)} HTTP/1.1\r\nHost: {match.group(1)}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, f"closed during the handshake: {head!r}"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101 "), head
    return sock


def read_until_closed(sock: socket.socket, timeout: float = TIMEOUT) -> bytes:
    """What the server sends until it closes the socket (a reset counts as closed)."""
    data = b""
    sock.settimeout(timeout)
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def close_code(data: bytes) -> int:
    """The code of the close frame that ``data`` (unmasked server frames) starts with."""
    assert len(data) >= 4 and data[0] == 0x88, data
    (code,) = struct.unpack("!H", data[2:4])
    return int(code)


# -- the README's example ---------------------------------------------------------------------------


@SIGNALS
def test_readme_example_runs_as_written_in_an_empty_folder(signum: signal.Signals, tmp_path: Path) -> None:
    """No public/ folder, nothing else: it serves, and a signal closes its client with 1001."""
    text = readme_example()
    assert text.count('"HTTPPort": 8080') == 1, "the test moves the example to a free port"
    text = text.replace('"HTTPPort": 8080', f'"HTTPPort": {free_port()}')
    with script(tmp_path, text) as running:
        url = serving_url(running)
        with connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as client:
            client.send("hello, ça va?")
            assert client.recv(timeout=TIMEOUT) == "HELLO, ÇA VA?"
            running.send_signal(signum)
            with pytest.raises(ConnectionClosed) as closed:
                client.recv(timeout=TIMEOUT)
        assert closed.value.rcvd is not None, "dropped without a close frame"
        assert closed.value.rcvd.code == 1001
        assert running.wait() == 0, running.output()
        assert "Traceback" not in running.output()
        running.wait_for(rf"{signum.name}: stopping", streams=("stderr",), timeout=0)
    assert [path.name for path in tmp_path.iterdir()] == ["script.py"]


def test_readme_example_says_why_it_cannot_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        text = readme_example().replace('"HTTPPort": 8080', f'"HTTPPort": {port}')
        with script(tmp_path, text) as running:
            assert running.wait() == 1, running.output()
    assert "Traceback" not in running.output()
    running.wait_for(rf"cannot listen on 127\.0\.0\.1 port {port}: .*in use", streams=("stderr",), timeout=0)


# -- the RuntimeError after a failed start() -------------------------------------------------------------


class Refuse:
    def onConnection(self, wss: duplex.WebSocketServer, event: duplex.Event) -> None:
        return None


def test_websocket_server_after_a_failed_start_says_why(new_web: Callable[..., duplex.WebServer]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        web = new_web()
        result = web.start({"HTTPPort": port})
        assert result["success"] is False
        start_error = result["errors"][0]["message"]
        with pytest.raises(RuntimeError) as info:
            duplex.WebSocketServer(Refuse(), {"webServer": web})
    message = str(info.value)
    assert message.startswith("the web server is not running: its last start() failed: ")
    assert start_error in message
    assert f"port {port}" in message
    assert "result['success']" in message  # says what the script should have done
    with pytest.raises(RuntimeError, match=re.escape(start_error)):
        web.run_until_signal()

    # Once a start succeeds, the old failure is forgotten.
    assert web.start({"HTTPPort": 0})["success"] is True
    web.stop()
    with pytest.raises(RuntimeError) as info:
        duplex.WebSocketServer(Refuse(), {"webServer": web})
    assert "start it first" in str(info.value)
    assert "failed" not in str(info.value)


def test_a_failed_start_for_a_missing_root_folder_is_named(
    new_web: Callable[..., duplex.WebServer], tmp_path: Path
) -> None:
    web = new_web()
    assert web.start({"HTTPPort": 0, "rootFolder": str(tmp_path / "public")})["success"] is False
    with pytest.raises(RuntimeError, match=r"last start\(\) failed: rootFolder .*public.* is not a folder"):
        duplex.WebSocketServer(Refuse(), {"webServer": web})


# -- run_until_signal(): misuse ----------------------------------------------------------------------------


def test_run_until_signal_needs_a_running_server(new_web: Callable[..., duplex.WebServer]) -> None:
    with pytest.raises(RuntimeError, match="not running: start it first"):
        new_web().run_until_signal()


def test_run_until_signal_needs_the_main_thread(web: duplex.WebServer) -> None:
    raised: list[BaseException] = []

    def call() -> None:
        try:
            web.run_until_signal()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    thread.join(TIMEOUT)
    assert len(raised) == 1
    assert isinstance(raised[0], RuntimeError)
    assert "main thread" in str(raised[0])
    assert web.isRunning is True
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_run_until_signal_is_not_for_a_server_on_the_callers_loop() -> None:
    async def main() -> str:
        async with duplex.WebServer({"HTTPPort": 0}) as web:
            with pytest.raises(RuntimeError) as info:
                web.run_until_signal()
            return str(info.value)

    assert "await web.serve()" in asyncio.run(main())
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# -- run_until_signal(): stopping ------------------------------------------------------------------------


@SIGNALS
def test_signal_closes_clients_with_1001_and_returns_the_signal(
    signum: signal.Signals, tmp_path: Path
) -> None:
    with script(tmp_path, ECHO_SCRIPT, "10") as running:
        url = serving_url(running)
        with connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as client:
            client.send("ping")
            assert client.recv(timeout=TIMEOUT) == "ping"
            running.send_signal(signum)
            with pytest.raises(ConnectionClosed) as closed:
                client.recv(timeout=TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert running.wait() == 0, running.output()
        running.wait_for(
            rf"returned <Signals\.{signum.name}: {int(signum)}>, running: False, terminated: True",
            streams=("stdout",),
            timeout=0,
        )
        running.wait_for(
            rf"duplex: {signum.name}: stopping, closing 1 WebSocket connection with 1001$",
            streams=("stderr",),
            timeout=0,
        )
    assert "Traceback" not in running.output()


def test_a_stop_from_a_callback_ends_it_too(tmp_path: Path) -> None:
    with script(tmp_path, ECHO_SCRIPT, "10") as running:
        url = serving_url(running)
        with connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as client:
            client.send("stop")
            with pytest.raises(ConnectionClosed) as closed:
                client.recv(timeout=TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert running.wait() == 0, running.output()
        running.wait_for(r"returned None, running: False, terminated: True", streams=("stdout",), timeout=0)
    assert "Traceback" not in running.output()


def test_a_silent_client_is_named_then_dropped_after_the_close_timeout(tmp_path: Path) -> None:
    with script(tmp_path, ECHO_SCRIPT, "2.5") as running:
        silent = raw_websocket(serving_url(running))
        try:
            running.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            running.wait_for(
                r"duplex: waiting up to [12] s for 1 WebSocket client to answer the close "
                r"\(then it is dropped; press Ctrl-C again to force the stop\)",
                streams=("stderr",),
            )
            assert close_code(read_until_closed(silent)) == 1001
            assert running.wait() == 0, running.output()
            assert 2.4 < time.monotonic() - signalled < 2.5 + 3, running.output()
        finally:
            silent.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT-twice", "SIGTERM-twice"])
def test_a_second_signal_drops_a_silent_client_at_once(signum: signal.Signals, tmp_path: Path) -> None:
    """The close timeout is the default 10 s: the script must end well before it."""
    with script(tmp_path, ECHO_SCRIPT, "10") as running:
        silent = raw_websocket(serving_url(running))
        try:
            running.send_signal(signum)
            signalled = time.monotonic()
            running.wait_for(
                r"waiting up to ([5-9]|10) s for 1 WebSocket client to answer the close", streams=("stderr",)
            )
            running.send_signal(signum)
            forced = time.monotonic()
            assert running.wait() == 0, running.output()
            assert time.monotonic() - forced < 2.0, running.output()
            assert time.monotonic() - signalled < 5.0, running.output()
            running.wait_for(
                rf"duplex: {signum.name}: forcing the stop, dropping 1 WebSocket connection now",
                streams=("stderr",),
                timeout=0,
            )
            # The close frame came at the first signal; then the socket was dropped, not closed cleanly.
            assert close_code(read_until_closed(silent)) == 1001
        finally:
            silent.close()
        assert "Traceback" not in running.output()
