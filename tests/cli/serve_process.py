"""Run ``duplex serve`` (or any command: :class:`RunningProcess`) as a real process, read what it
prints, and always end it.

``tests/cli``, ``tests/demo`` and ``tests/server`` use this (``from cli.serve_process import
ServeProcess``; the ``tests`` folder is on ``sys.path``). Every wait is bounded: a process that never prints its address,
or never exits, fails the test with everything it printed so far, and is killed on the way out.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["TIMEOUT", "RunningProcess", "ServeProcess", "run_serve"]

#: How long the process may take to start, to print a line, or to exit.
TIMEOUT = 15.0

PYTHON_M_DUPLEX = (sys.executable, "-m", "duplex")


def _environment() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}


def run_serve(
    *args: str, cwd: Path | None = None, command: Sequence[str] = PYTHON_M_DUPLEX
) -> subprocess.CompletedProcess[str]:
    """Run ``duplex serve ARGS`` to completion (for arguments that must make it exit at once)."""
    return subprocess.run(
        [*command, "serve", *args],
        cwd=cwd,
        env=_environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=TIMEOUT,
        check=False,
    )


class RunningProcess:
    """``command`` in a child process, its output read line by line as it comes; use it as a context
    manager so it is always killed."""

    def __init__(self, command: Sequence[str], cwd: Path | None = None) -> None:
        self.command = list(command)
        self._lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._ended: dict[str, bool] = {"stdout": False, "stderr": False}
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            self.command,
            cwd=cwd,
            env=_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self._readers = [
            threading.Thread(target=self._pump, args=(name, stream), daemon=True, name=f"serve-{name}")
            for name, stream in (("stdout", self.process.stdout), ("stderr", self.process.stderr))
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, name: str, stream: object) -> None:
        assert stream is not None
        for line in stream:  # type: ignore[attr-defined]
            with self._changed:
                self._lines[name].append(line.rstrip("\r\n"))
                self._changed.notify_all()
        with self._changed:
            self._ended[name] = True
            self._changed.notify_all()

    # -- reading what it prints ----------------------------------------------------------------------

    def lines(self, stream: str = "stdout") -> list[str]:
        """The lines printed so far on ``stream`` ("stdout" or "stderr")."""
        with self._changed:
            return list(self._lines[stream])

    def output(self) -> str:
        """Everything printed so far, for failure messages."""
        with self._changed:
            stdout, stderr = "\n".join(self._lines["stdout"]), "\n".join(self._lines["stderr"])
        return f"$ {' '.join(self.command)}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"

    def wait_for(
        self, pattern: str, *, streams: Sequence[str] = ("stdout", "stderr"), timeout: float = TIMEOUT
    ) -> re.Match[str]:
        """Wait until a line on one of ``streams`` matches ``pattern``; return the match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for stream in streams:
                    for line in self._lines[stream]:
                        match = regex.search(line)
                        if match:
                            return match
                if all(self._ended[stream] for stream in streams):
                    raise AssertionError(f"the process ended without printing {pattern!r}\n{self.output()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no line matched {pattern!r} within {timeout} s\n{self.output()}")
                self._changed.wait(remaining)

    # -- ending it ------------------------------------------------------------------------------------

    def send_signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = TIMEOUT) -> int:
        """Wait for the process to exit and for its output to be read; return the exit status."""
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the process did not exit within {timeout} s\n{self.output()}") from None
        for reader in self._readers:
            reader.join(5)
        return status

    def kill(self) -> None:
        """Kill the process if it still runs (idempotent)."""
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(5)
        finally:
            for reader in self._readers:
                reader.join(5)
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.kill()


class ServeProcess(RunningProcess):
    """``duplex serve ARGS`` in a child process; use it as a context manager so it is always killed.

    Attributes set by :meth:`wait_until_serving`: ``ws_url`` (the printed ``ws://`` address), ``port``
    and ``http_url`` (``http://127.0.0.1:PORT/``).
    """

    def __init__(self, *args: str, cwd: Path | None = None, command: Sequence[str] = PYTHON_M_DUPLEX) -> None:
        super().__init__([*command, "serve", *args], cwd=cwd)
        self.ws_url = ""
        self.http_url = ""
        self.port = 0

    def wait_until_serving(self, timeout: float = TIMEOUT) -> str:
        """Wait for the ``ws://`` and "press Ctrl-C" lines; return the WebSocket URL."""
        match = self.wait_for(
            r"WebSocket at (ws://127\.0\.0\.1:(\d+)/\S*)", streams=("stdout",), timeout=timeout
        )
        self.ws_url, self.port = match.group(1), int(match.group(2))
        self.http_url = f"http://127.0.0.1:{self.port}/"
        self.wait_for(r"press Ctrl-C to stop", streams=("stdout",), timeout=timeout)
        return self.ws_url
