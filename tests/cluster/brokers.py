"""The broker servers the cluster tests run: a real ``redis-server`` or ``nats-server`` on a free
port of 127.0.0.1, that a test can kill (SIGKILL, no goodbye) and start again on the same port.

A missing server binary fails the test (it never skips: CI must run these) and names the Debian
package to install.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from cluster.helpers import TIMEOUT, free_port

__all__ = ["BINARIES", "BrokerProcess"]

#: Where Debian's packages put the servers, and the package of each.
BINARIES = {
    "redis": (Path("/usr/bin/redis-server"), "redis-server"),
    "nats": (Path("/usr/sbin/nats-server"), "nats-server"),
}


class BrokerProcess:
    """A broker server (``kind`` "redis" or "nats") run by the tests on ``port`` of 127.0.0.1.

    :meth:`kill` ends it abruptly; :meth:`start` runs it again on the same port.
    """

    def __init__(self, kind: str, folder: Path) -> None:
        binary, package = BINARIES[kind]
        if not binary.exists():
            pytest.fail(
                f"{binary} is missing: the cluster tests need a real {kind} server from Debian's "
                f"`{package}` package (`apt-get install {package}`; scripts/test.sh installs it when "
                "run as root)",
                pytrace=False,
            )
        self.kind = kind
        self.binary = binary
        self.folder = folder
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        if self.kind == "redis":
            return f"redis://127.0.0.1:{self.port}/0"
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        port = str(self.port)
        if self.kind == "redis":
            # No persistence: nothing written to disk, nothing loaded on a restart.
            return [
                str(self.binary),
                "--port",
                port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ]
        return [str(self.binary), "-a", "127.0.0.1", "-p", port]

    def start(self) -> None:
        """Start the server (on a new free port the first time, on the same port after) and wait
        until it answers."""
        assert self.process is None or self.process.poll() is not None, "already running"
        first = self.port == 0
        for _attempt in range(3 if first else 1):
            if first:
                self.port = free_port()
            self._open_log()
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
            )
            if self._wait_ready(TIMEOUT):
                return
            self.kill()
        raise AssertionError(f"the {self.kind} server did not start on port {self.port}:\n{self.output()}")

    def _open_log(self) -> None:
        if self._log is not None:
            self._log.close()
        self._log = open(self.folder / f"{self.kind}.log", "ab")  # noqa: SIM115 - closed in stop()

    def _wait_ready(self, timeout: float) -> bool:
        # Ready once it speaks its protocol: Redis answers PING, NATS greets with INFO.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock,
            ):
                if self.kind == "redis":
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return True
                elif sock.recv(5) == b"INFO ":
                    return True
            time.sleep(0.02)
        return False

    def kill(self) -> None:
        """End the server at once (SIGKILL): its clients see their connections drop."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait(TIMEOUT)

    def restart(self) -> None:
        """Kill it if it runs, then start it on the same port."""
        self.kill()
        self.start()

    def stop(self) -> None:
        self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None

    def output(self) -> str:
        path = self.folder / f"{self.kind}.log"
        return path.read_text(errors="replace") if path.exists() else ""
