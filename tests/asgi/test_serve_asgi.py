"""``duplex serve --asgi MODULE:APP`` as a real process: the app alone (no chat demo), or beside a
WSSHandler (``duplex serve HANDLER --asgi MODULE:APP``); lifespan startup and shutdown run, Ctrl-C
exits 0; a module that does not import is one line and exit status 2.

The app module is ``served_app.py`` in this folder, the process's working folder."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from asgi.helpers import TIMEOUT
from cli.serve_process import ServeProcess, run_serve

pytestmark = pytest.mark.timeout(60)

HERE = Path(__file__).parent


def wait_for_port(served: ServeProcess) -> int:
    """The port in the first address the banner prints, once it says "press Ctrl-C to stop"."""
    match = served.wait_for(r"\b(?:https?|wss?)://127\.0\.0\.1:(\d+)", streams=("stdout",))
    served.wait_for(r"press Ctrl-C to stop", streams=("stdout",))
    return int(match.group(1))


def stop(served: ServeProcess) -> None:
    served.send_signal(signal.SIGINT)
    assert served.wait(timeout=TIMEOUT) == 0, served.output()
    assert "Traceback" not in served.output()


def test_help_names_the_asgi_option() -> None:
    result = run_serve("--help")
    assert result.returncode == 0, result.stderr
    assert "--asgi" in result.stdout


def test_serves_an_asgi_app_alone() -> None:
    with ServeProcess("--asgi", "served_app:app", "--port", "0", cwd=HERE) as served:
        port = wait_for_port(served)
        served.wait_for(r"served_app: startup", timeout=0)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=TIMEOUT, trust_env=False) as http:
            assert http.get("/").json() == {"app": "served_app"}  # the app's, not the chat demo's page
            assert http.get("/hello", params={"name": "cli"}).json() == {"hello": "cli"}
        with connect(f"ws://127.0.0.1:{port}/app-ws", open_timeout=TIMEOUT, proxy=None) as ws:
            ws.send("ping")
            assert ws.recv(timeout=TIMEOUT) == "app: ping"
        stop(served)
        served.wait_for(r"served_app: shutdown", timeout=0)


def test_serves_a_handler_and_an_asgi_app_together() -> None:
    with ServeProcess(
        "served_app:Server", "--asgi", "served_app:app", "--path", "/ws4d", "--port", "0", cwd=HERE
    ) as served:
        url = served.wait_until_serving()
        assert url == f"ws://127.0.0.1:{served.port}/ws4d"
        with connect(url, open_timeout=TIMEOUT, proxy=None) as ws:
            ws.send("shout")
            assert ws.recv(timeout=TIMEOUT) == "SHOUT"
        with connect(f"ws://127.0.0.1:{served.port}/app-ws", open_timeout=TIMEOUT, proxy=None) as ws:
            ws.send("ping")
            assert ws.recv(timeout=TIMEOUT) == "app: ping"
        with httpx.Client(timeout=TIMEOUT, trust_env=False) as http:
            assert http.get(f"{served.http_url}hello").json() == {"hello": "asgi"}
        stop(served)
        served.wait_for(r"served_app: shutdown", timeout=0)


def test_asgi_module_that_does_not_import_is_one_line_and_status_2() -> None:
    result = run_serve("--asgi", "no_such_module_here:app", "--port", "0", cwd=HERE)
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("duplex: error: ")
    assert "no_such_module_here" in line


def test_workers_serve_an_asgi_app_alone_without_a_broker() -> None:
    # No WebSocketServer of duplex's own, so no broadcast() to share: the workers need no broker.
    with ServeProcess("--asgi", "served_app:app", "--workers", "2", "--port", "0", cwd=HERE) as served:
        port = wait_for_port(served)
        assert "broker" not in served.output()
        served.wait_for(r"^duplex: 2 workers$", streams=("stdout",), timeout=0)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=TIMEOUT, trust_env=False) as http:
            for _ in range(4):
                assert http.get("/hello", params={"name": "w"}).json() == {"hello": "w"}
        stop(served)
