"""Tests for duplex.http.descriptors: a process out of file descriptors says so, once per interval,
with its limit, and serves again once clients leave.

The real thing runs in a subprocess whose ``ulimit -n`` (RLIMIT_NOFILE) is lowered to 64, with more
clients than that, under asyncio's own loop (which reports every failed ``accept()`` to the loop's
exception handler, thousands of times a second) and under uvloop (which reports nothing and closes
the connections it cannot keep).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from duplex.http import HttpConfig, HttpServer
from loop_server import new_loop

resource = pytest.importorskip("resource")

TIMEOUT = 5.0
LIMIT = 64  # the child's open-file limit: far fewer than the clients below
CLIENTS = 150
HOLD = 3.5  # seconds the clients keep every descriptor taken
INTERVAL = 1.0  # the child's descriptor_log_interval

CHILD = """
import asyncio, logging, resource, sys

kind, limit, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
from duplex.http import HttpConfig, HttpServer

async def main():
    server = HttpServer(HttpConfig(host="127.0.0.1", http_port=0, descriptor_log_interval=interval))
    await server.start()
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    print(server.http_port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # until told to stop
    await server.stop(1.0)

if kind == "uvloop":
    import uvloop
    uvloop.run(main())
else:
    asyncio.run(main())
"""


def read_line(pipe: Any, timeout: float) -> str:
    ready, _, _ = select.select([pipe], [], [], timeout)
    assert ready, f"the child printed nothing within {timeout} s"
    line: str = pipe.readline()
    return line


def get_answered(port: int) -> bool:
    """Whether a GET on a fresh connection is answered (404: the child serves no files)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 404 ")
    except OSError:
        return False


@pytest.mark.skipif(sys.platform != "linux", reason="lowers RLIMIT_NOFILE and relies on Linux's accept()")
def test_running_out_of_descriptors_is_logged_once_per_interval_and_serving_resumes(
    loop_kind: str, tmp_path: Path
) -> None:
    stderr_path = tmp_path / "stderr.txt"
    with open(stderr_path, "w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, loop_kind, str(LIMIT), str(INTERVAL)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    clients: list[socket.socket] = []
    try:
        assert child.stdout is not None and child.stdin is not None
        port = int(read_line(child.stdout, 30.0))
        assert get_answered(port)
        for _ in range(CLIENTS):
            # The kernel completes each connection (the accept queue is long): the child's accept()
            # is what runs out.
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT))
        time.sleep(HOLD)
        for client in clients:
            client.close()
        clients.clear()
        deadline = time.monotonic() + 15.0
        while not get_answered(port):
            assert time.monotonic() < deadline, "the server does not answer after the clients left"
            time.sleep(0.2)
        child.stdin.write("stop\n")
        child.stdin.flush()
        assert child.wait(20) == 0
    finally:
        for client in clients:
            client.close()
        if child.poll() is None:
            child.kill()
            child.wait()
    log = stderr_path.read_text()
    lines = [line for line in log.splitlines() if "out of file descriptors" in line]
    # One line per interval while the clients held every descriptor: not one per failed accept()
    # (asyncio alone reported tens of thousands), and not none (uvloop said nothing at all).
    assert 2 <= len(lines) <= HOLD / INTERVAL + 2, log[-3000:]
    for line in lines:
        assert line.startswith("ERROR duplex: out of file descriptors (EMFILE)"), line
        assert f"the limit (ulimit -n) is {LIMIT}" in line, line
    assert "socket.accept() out of system resource" not in log
    assert "Traceback" not in log, log[-3000:]


# -- in process: the loop's exception handler and the interval ---------------------------------------


def run_on(loop_kind: str, scenario: Any) -> None:
    with asyncio.Runner(loop_factory=lambda: new_loop(loop_kind)) as runner:
        runner.run(asyncio.wait_for(scenario(), 30.0))


def test_other_reports_still_reach_the_loops_handler_which_is_given_back_on_stop(loop_kind: str) -> None:
    seen: list[str] = []

    def previous(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        seen.append(context["message"])

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(previous)
        server = HttpServer(HttpConfig(host="127.0.0.1", http_port=0))
        await server.start()
        try:
            assert loop.get_exception_handler() is not previous
            loop.call_exception_handler({"message": "something else"})
            other = socket.socket()
            try:
                # An accept failure on a socket that is not the server's is not the server's to report.
                loop.call_exception_handler(
                    {
                        "message": "socket.accept() out of system resource",
                        "exception": OSError(errno.EMFILE, "Too many open files"),
                        "socket": other,
                    }
                )
            finally:
                other.close()
        finally:
            await server.stop(1.0)
        assert loop.get_exception_handler() is previous

    run_on(loop_kind, scenario)
    assert seen == ["something else", "socket.accept() out of system resource"]


def test_an_accept_failure_on_the_servers_socket_is_logged_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """asyncio reports a failed accept() up to ``backlog`` times per attempt: one line per interval."""
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        server = HttpServer(HttpConfig(host="127.0.0.1", http_port=0, descriptor_log_interval=0.3))
        await server.start()
        try:
            listening = server._servers[0].sockets[0]
            report = {
                "message": "socket.accept() out of system resource",
                "exception": OSError(errno.EMFILE, "Too many open files"),
                "socket": listening,
            }
            for _ in range(2048):
                loop.call_exception_handler(report)
            await asyncio.sleep(0.4)
            for _ in range(2048):
                loop.call_exception_handler(report)
        finally:
            await server.stop(1.0)

    with caplog.at_level(logging.INFO):
        run_on("asyncio", scenario)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    for record in caplog.records:
        assert (record.name, record.levelno) == ("duplex", logging.ERROR)
        message = record.getMessage()
        assert message.startswith(
            "out of file descriptors (EMFILE): new connections are refused while 0 are open"
        )
        assert (
            f"the limit (ulimit -n) is {limit}: raise it (ulimit -n, LimitNOFILE= under systemd)" in message
        )


def test_a_full_system_file_table_is_named_as_such(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        server = HttpServer(HttpConfig(host="127.0.0.1", http_port=0))
        await server.start()
        try:
            assert server.descriptors is not None
            server.descriptors.out_of_descriptors(OSError(errno.ENFILE, "Too many open files in system"))
        finally:
            await server.stop(1.0)

    with caplog.at_level(logging.ERROR):
        run_on("asyncio", scenario)
    [record] = caplog.records
    assert "the system is out of file descriptors (ENFILE)" in record.getMessage()
    assert "sysctl fs.file-max" in record.getMessage()


def test_the_probe_closes_what_it_opens(loop_kind: str) -> None:
    """Looking for free descriptors every second must not use them up."""

    async def scenario() -> None:
        server = HttpServer(HttpConfig(host="127.0.0.1", http_port=0))
        await server.start()
        try:
            before = len(os.listdir("/proc/self/fd"))
            await asyncio.sleep(2.5)  # two looks or more
            assert len(os.listdir("/proc/self/fd")) == before
        finally:
            await server.stop(1.0)

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("reads the open files from /proc")
    run_on(loop_kind, scenario)
