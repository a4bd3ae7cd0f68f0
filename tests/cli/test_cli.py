"""``duplex serve`` as a real process: help, shutdown on SIGINT/SIGTERM, a user handler module, the
per-connection log, both ways to start it, and one clear line for each bad argument."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import trustme
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

import duplex
from cli.serve_process import TIMEOUT, ServeProcess, run_serve

pytestmark = pytest.mark.timeout(60)

# Tests about something else than the moment a signal arrives wait this long after the server said
# "press Ctrl-C to stop" before signalling it, so that they fail only for what they test;
# test_signal_right_after_the_ready_line_exits_0 covers signals sent at once.
SETTLE = 0.3

USER_MODULE = '''\
"""A user's handler module, as someone would write it next to their app."""


class UpperCase:
    def onMessage(self, ws, event):
        ws.send(event.data.upper())


class Server:
    def onConnection(self, wss, event):
        return UpperCase()


class NoOnConnection:
    def onMessage(self, ws, event):
        pass


class NeedsArguments:
    def __init__(self, required):
        self.required = required

    def onConnection(self, wss, event):
        return UpperCase()
'''


@pytest.fixture
def app_folder(tmp_path: Path) -> Path:
    """A working folder holding ``myapp.py`` and two modules that fail to import."""
    (tmp_path / "myapp.py").write_text(USER_MODULE)
    (tmp_path / "broken.py").write_text('raise RuntimeError("broken on purpose")\n')
    (tmp_path / "typo.py").write_text("def f(:\n    pass\n")
    return tmp_path


def stop_with(served: ServeProcess, signum: signal.Signals) -> int:
    """Signal a serving process (after :data:`SETTLE`) and return its exit status."""
    time.sleep(SETTLE)
    served.send_signal(signum)
    return served.wait(timeout=5)


def duplex_script() -> str:
    """The ``duplex`` console script installed next to this Python."""
    script = shutil.which("duplex", path=str(Path(sys.executable).parent))
    assert script is not None, f"no duplex script in {Path(sys.executable).parent}: pip install -e ."
    return script


# -- help ----------------------------------------------------------------------------------------------


def test_help_names_the_handler_spec_and_the_options() -> None:
    result = run_serve("--help")
    assert result.returncode == 0, result.stderr
    assert "MODULE:CLASS" in result.stdout
    for option in ("--path", "--port", "--host", "--root", "--data-type", "--tls-cert-folder"):
        assert option in result.stdout
    assert result.stderr == ""


# -- stopping --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_closes_connections_with_1001_and_exits_0(signum: signal.Signals) -> None:
    with ServeProcess("--port", "0") as served:
        url = served.wait_until_serving()
        with connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as client:
            client.send('{"type": "join", "name": "Ada"}')
            assert '"welcome"' in client.recv(timeout=TIMEOUT)
            time.sleep(SETTLE)
            served.send_signal(signum)
            with pytest.raises(ConnectionClosed) as closed:
                client.recv(timeout=TIMEOUT)
            assert closed.value.rcvd is not None, "the server dropped the connection without a close frame"
            assert closed.value.rcvd.code == 1001
        assert served.wait(timeout=5) == 0, served.output()
        assert "Traceback" not in served.output()
        served.wait_for(rf"duplex: {signum.name}: stopping", streams=("stderr",), timeout=0)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_right_after_the_ready_line_exits_0(signum: signal.Signals) -> None:
    """Once "press Ctrl-C to stop" is printed, Ctrl-C (or SIGTERM) must stop the server cleanly.

    Tried a few times: a server that installs its signal handlers only after printing that line
    loses the race often enough to fail here.
    """
    for attempt in range(1, 11):
        with ServeProcess("--port", "0") as served:
            served.wait_for(r"press Ctrl-C to stop", streams=("stdout",))
            served.send_signal(signum)
            status = served.wait(timeout=5)
            assert status == 0 and "Traceback" not in served.output(), (
                f"attempt {attempt}: exit {status}\n{served.output()}"
            )


def test_signal_with_no_connection_exits_0() -> None:
    with ServeProcess("--port", "0") as served:
        served.wait_until_serving()
        assert stop_with(served, signal.SIGINT) == 0, served.output()
        assert "Traceback" not in served.output()


# -- a user handler module -----------------------------------------------------------------------------


def test_user_handler_module_from_the_current_folder(app_folder: Path) -> None:
    with ServeProcess(
        "myapp:Server", "--port", "0", "--path", "/echo", "--data-type", "text", cwd=app_folder
    ) as served:
        url = served.wait_until_serving()
        assert url.endswith("/echo")
        with connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as client:
            client.send("hello, duplex")
            assert client.recv(timeout=TIMEOUT) == "HELLO, DUPLEX"
            client.send("ça marche")
            assert client.recv(timeout=TIMEOUT) == "ÇA MARCHE"
        assert stop_with(served, signal.SIGTERM) == 0, served.output()


def test_user_handler_refuses_other_paths(app_folder: Path) -> None:
    with ServeProcess("myapp:Server", "--port", "0", "--path", "/echo", cwd=app_folder) as served:
        served.wait_until_serving()
        with (
            pytest.raises(InvalidStatus) as refused,
            connect(f"ws://127.0.0.1:{served.port}/ws", open_timeout=TIMEOUT),
        ):
            pass
        assert refused.value.response.status_code == 404


def test_one_log_line_per_connection_opened_and_closed(app_folder: Path) -> None:
    with ServeProcess("myapp:Server", "--port", "0", "--path", "/echo", cwd=app_folder) as served:
        url = served.wait_until_serving()
        with connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as client:
            opened = served.wait_for(r"connection (\d+) opened from 127\.0\.0\.1")
            client.send("x")
            client.recv(timeout=TIMEOUT)
        number = opened.group(1)
        served.wait_for(rf"connection {number}\b.*closed: 1000\b")
        with connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as second:
            second.send("y")
            second.recv(timeout=TIMEOUT)
        assert stop_with(served, signal.SIGINT) == 0, served.output()
        output = served.lines("stdout") + served.lines("stderr")
        assert len([line for line in output if " opened from " in line]) == 2, served.output()
        assert len([line for line in output if " closed: " in line]) == 2, served.output()


# -- both ways to start it -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["python -m duplex", "duplex script"])
def test_python_m_duplex_and_the_console_script_both_serve(how: str, app_folder: Path) -> None:
    command = [sys.executable, "-m", "duplex"] if how == "python -m duplex" else [duplex_script()]
    with ServeProcess(
        "myapp:Server", "--port", "0", "--path", "/echo", cwd=app_folder, command=command
    ) as served:
        url = served.wait_until_serving()
        with connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as client:
            client.send("both ways")
            assert client.recv(timeout=TIMEOUT) == "BOTH WAYS"
        assert stop_with(served, signal.SIGTERM) == 0, served.output()


def test_console_script_help() -> None:
    result = run_serve("--help", command=[duplex_script()])
    assert result.returncode == 0, result.stderr
    assert "MODULE:CLASS" in result.stdout


@pytest.mark.parametrize("how", ["python -m duplex", "duplex script"])
def test_version(how: str) -> None:
    command = [sys.executable, "-m", "duplex"] if how == "python -m duplex" else [duplex_script()]
    result = subprocess.run(
        [*command, "--version"], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"duplex {duplex.__version__}\n"


# -- what it announces -----------------------------------------------------------------------------------


def test_a_handler_without_root_announces_no_page(app_folder: Path) -> None:
    """No --root: nothing is served at /, so only the WebSocket URL is printed."""
    with ServeProcess("myapp:Server", "--port", "0", "--path", "/echo", cwd=app_folder) as served:
        url = served.wait_until_serving()
        assert url.endswith("/echo")
        assert not any("http://" in line or "https://" in line for line in served.lines("stdout")), (
            served.output()
        )
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(served.http_url, timeout=TIMEOUT)
        assert missing.value.code == 404


def test_a_handler_with_root_announces_its_page(app_folder: Path) -> None:
    public = app_folder / "public"
    public.mkdir()
    (public / "index.html").write_text("<!doctype html><title>app</title>my page\n")
    with ServeProcess(
        "myapp:Server", "--port", "0", "--path", "/echo", "--root", str(public), cwd=app_folder
    ) as served:
        served.wait_until_serving()
        page = served.wait_for(r"serving (http://\S+)", streams=("stdout",)).group(1)
        assert page == served.http_url
        with urllib.request.urlopen(page, timeout=TIMEOUT) as response:
            assert b"my page" in response.read()


# -- a client that never answers the close ------------------------------------------------------------


def test_second_ctrl_c_drops_a_client_that_never_answers(app_folder: Path) -> None:
    """The close timeout is the default 10 s: the second Ctrl-C must end it well before."""
    with ServeProcess("myapp:Server", "--port", "0", "--path", "/echo", cwd=app_folder) as served:
        served.wait_until_serving()
        with socket.create_connection(("127.0.0.1", served.port), timeout=TIMEOUT) as silent:
            key = base64.b64encode(os.urandom(16)).decode()
            silent.sendall(
                f"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            assert silent.recv(12) == b"HTTP/1.1 101"
            served.wait_for(r"connection \d+ opened from 127\.0\.0\.1")
            served.send_signal(signal.SIGINT)
            first = time.monotonic()
            served.wait_for(
                r"duplex: waiting up to ([5-9]|10) s for 1 WebSocket client to answer the close .*Ctrl-C again",
                streams=("stderr",),
            )
            served.send_signal(signal.SIGINT)
            second = time.monotonic()
            assert served.wait(timeout=5) == 0, served.output()
            assert time.monotonic() - second < 2.0, served.output()
            assert time.monotonic() - first < 5.0, served.output()
        served.wait_for(
            r"forcing the stop, dropping 1 WebSocket connection now", streams=("stderr",), timeout=0
        )
        assert "Traceback" not in served.output()


# -- bad arguments: one line, exit status 2, no traceback ----------------------------------------------


def assert_one_clear_line(args: list[str], cwd: Path, *expected: str) -> str:
    """Run ``duplex serve ARGS``; check exit 2 and a single ``duplex: error:`` line; return it."""
    result = run_serve(*args, cwd=cwd)
    shown = f"$ duplex serve {' '.join(args)}\nexit {result.returncode}\n--- stderr ---\n{result.stderr}"
    assert "Traceback" not in result.stderr, shown
    assert result.returncode == 2, shown
    lines = result.stderr.splitlines()
    assert len(lines) == 1, shown
    assert lines[0].startswith("duplex: error: "), shown
    for text in expected:
        assert text in lines[0], shown
    assert "serving" not in result.stdout, shown
    return lines[0]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("myapp.py:Server", ["use myapp:Server instead of myapp.py:Server"]),
        ("apps/myapp.py:Server", ["use myapp:Server from the folder apps", "PYTHONPATH=apps"]),
        ("nosuchmodule:Server", ["nosuchmodule"]),
        ("broken:Server", ["broken", "broken on purpose"]),
        ("typo:Server", ["typo", "SyntaxError"]),
        ("myapp:NoSuchClass", ["myapp", "NoSuchClass"]),
        ("myapp:NoOnConnection", ["onConnection"]),
        ("myapp:NeedsArguments", ["NeedsArguments"]),
        ("badspec", ["MODULE:CLASS", "badspec"]),
        (":Server", ["MODULE:CLASS"]),
        ("myapp:", ["MODULE:CLASS"]),
    ],
    ids=[
        "file-name",
        "file-path",
        "module-not-found",
        "module-raises",
        "module-syntax-error",
        "no-such-class",
        "no-onConnection",
        "class-needs-arguments",
        "no-colon",
        "no-module",
        "no-class",
    ],
)
def test_bad_handler(spec: str, expected: list[str], app_folder: Path) -> None:
    assert_one_clear_line([spec, "--port", "0"], app_folder, *expected)


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert_one_clear_line(
            ["--port", str(port)], tmp_path, str(port), "in use", "choose another port with --port"
        )


@pytest.mark.parametrize("port", ["-1", "65536"])
def test_port_out_of_range(port: str, tmp_path: Path) -> None:
    assert_one_clear_line(["--port", port], tmp_path, port)


def test_tls_folder_without_certificate(tmp_path: Path) -> None:
    empty = tmp_path / "certs"
    empty.mkdir()
    assert_one_clear_line(
        ["--port", "0", "--tls-port", "0", "--tls-cert-folder", str(empty)], tmp_path, "cert.pem"
    )


def test_tls_folder_with_a_bad_certificate(tmp_path: Path) -> None:
    folder = tmp_path / "certs"
    folder.mkdir()
    (folder / "cert.pem").write_text("not a certificate\n")
    (folder / "key.pem").write_text("not a key\n")
    assert_one_clear_line(["--port", "0", "--tls-port", "0", "--tls-cert-folder", str(folder)], tmp_path)


def test_tls_folder_that_does_not_exist(tmp_path: Path) -> None:
    assert_one_clear_line(
        ["--port", "0", "--tls-port", "0", "--tls-cert-folder", str(tmp_path / "nowhere")], tmp_path
    )


@pytest.mark.parametrize("kind", ["missing", "a file"])
def test_root_that_is_not_a_folder(kind: str, tmp_path: Path) -> None:
    root = tmp_path / "public"
    if kind == "a file":
        root.write_text("not a folder\n")
    assert_one_clear_line(["--port", "0", "--root", str(root)], tmp_path, "--root")


def test_path_without_leading_slash(app_folder: Path) -> None:
    assert_one_clear_line(["myapp:Server", "--port", "0", "--path", "echo"], app_folder, "echo")


def test_tls_serves_wss_with_a_good_certificate(app_folder: Path) -> None:
    """The happy path next to the TLS failures: a trusted certificate gives wss:// too."""
    authority = trustme.CA()
    certs = app_folder / "certs"
    certs.mkdir()
    issued = authority.issue_cert("localhost", "127.0.0.1")
    issued.private_key_pem.write_to_path(str(certs / "key.pem"))
    (certs / "cert.pem").write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    context = ssl.create_default_context()
    authority.configure_trust(context)
    with ServeProcess(
        "myapp:Server",
        "--port",
        "0",
        "--tls-port",
        "0",
        "--tls-cert-folder",
        str(certs),
        "--path",
        "/echo",
        cwd=app_folder,
    ) as served:
        served.wait_until_serving()
        match = served.wait_for(r"(wss://127\.0\.0\.1:\d+/echo)", streams=("stdout",))
        with connect(match.group(1), ssl=context, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as client:
            client.send("secure")
            assert client.recv(timeout=TIMEOUT) == "SECURE"
        assert stop_with(served, signal.SIGTERM) == 0, served.output()
