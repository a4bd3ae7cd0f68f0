"""The programs in examples/ run as documented: started as real processes, driven by real clients."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GUIDE = EXAMPLES.parent / "docs" / "guide.md"


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


def test_named_chat_example() -> None:
    """event.request.query gives the name; a client without one is refused by duplex.Reject."""
    with running("named_chat.py") as url:
        assert url.endswith("/chat")
        with connect(f"{url}?name=Ada", open_timeout=5) as ada:
            with connect(f"{url}?name=Bob&lang=fr", open_timeout=5) as bob:
                assert ada.recv(timeout=5) == "Bob joined"
                bob.send("hi all")
                assert bob.recv(timeout=5) == "Bob: hi all"
                assert ada.recv(timeout=5) == "Bob: hi all"
            assert ada.recv(timeout=5) == "Bob left"
            for query in ("", "?name=", "?name=%20%20", "?lang=fr", "?name=Ann&name=Bo"):
                with pytest.raises(InvalidStatus) as refused, connect(f"{url}{query}", open_timeout=5):
                    pass
                assert refused.value.response.status_code == 400, query
                assert b"add ?name=yourname to the URL" in (refused.value.response.body or b""), query
            ada.send("still here")
            assert ada.recv(timeout=5) == "Ada: still here"  # nobody else joined


def test_the_guide_shows_the_named_chat_example_as_it_is() -> None:
    """docs/guide.md's Example 3 is the handler code of examples/named_chat.py, verbatim."""
    guide = GUIDE.read_text(encoding="utf-8")
    section = guide.split("## Example 3", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1, "Example 3 should show one Python block"
    assert "event.request.query" in blocks[0]
    assert "duplex.Reject(" in blocks[0]
    assert blocks[0] in (EXAMPLES / "named_chat.py").read_text(encoding="utf-8")
