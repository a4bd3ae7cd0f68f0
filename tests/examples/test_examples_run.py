"""The programs in examples/ run as documented: started as real processes, driven by real clients."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from websockets.sync.client import connect

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@contextmanager
def running(script: str) -> Iterator[str]:
    """Start ``examples/<script> --port 0`` and yield its ws:// URL; Ctrl-C it afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-u", str(EXAMPLES / script), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        seen = []
        for _ in range(5):  # the chat logs "*** Server started" before its URL
            line = process.stdout.readline()
            seen.append(line)
            match = re.search(r"ws://[0-9.]+:\d+/\w+", line)
            if match:
                break
        assert match, f"no URL in {seen!r}"
        yield match.group(0)
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)


def test_uppercase_example() -> None:
    with running("uppercase.py") as url, connect(url, open_timeout=5) as ws:
        ws.send("hello, ça va?")
        assert ws.recv(timeout=5) == "HELLO, ÇA VA?"


def test_chat_example() -> None:
    with running("chat.py") as url, connect(url, open_timeout=5) as first:
        assert first.recv(timeout=5) == "Welcome on the chat!"
        with connect(url, open_timeout=5) as second:
            assert second.recv(timeout=5) == "Welcome on the chat!"
            assert first.recv(timeout=5) == "New client connected"
            second.send("hi all")
            assert first.recv(timeout=5) == "hi all"
        assert first.recv(timeout=5) == "Client disconnected"
