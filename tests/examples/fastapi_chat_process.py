"""examples/fastapi_chat as a real process, and a WebSocket member of its chat, for
``test_fastapi_chat.py`` and ``test_fastapi_chat_page.py`` (``from examples.fastapi_chat_process
import ...``; the ``tests`` folder is on ``sys.path``)."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from websockets.sync.client import ClientConnection, connect

from cli.serve_process import TIMEOUT, ServeProcess

__all__ = ["COMMAND", "EXAMPLE", "ROOMS", "join", "receive", "said", "start_example"]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_chat"
#: The command that examples/fastapi_chat/README.md and app.py's docstring give, run from EXAMPLE.
COMMAND = "duplex serve chat:ChatServer --path /chat --asgi app:app"
#: The example's rooms (chat.ROOMS), in order.
ROOMS = ["lobby", "python", "random"]


def duplex_script() -> str:
    """The ``duplex`` console script installed next to this Python."""
    script = shutil.which("duplex", path=str(Path(sys.executable).parent))
    assert script is not None, f"no duplex script in {Path(sys.executable).parent}: pip install -e ."
    return script


def start_example(*, args: tuple[str, ...] | None = None) -> ServeProcess:
    """``COMMAND --port 0`` in the example's folder (``duplex serve ARGS --port 0`` with ``args``);
    use it as a context manager, so that it is always killed."""
    arguments = COMMAND.split()[2:] if args is None else list(args)
    return ServeProcess(*arguments, "--port", "0", cwd=EXAMPLE, command=(duplex_script(),))


@contextmanager
def join(
    served: ServeProcess, name: str, room: str | None = None
) -> Iterator[tuple[ClientConnection, dict[str, Any]]]:
    """Connect to /chat as ``name`` (in ``room``); yields the connection and its welcome."""
    query = {"name": name} if room is None else {"name": name, "room": room}
    url = f"{served.ws_url}?{urlencode(query)}"
    with connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT, proxy=None) as ws:
        welcome = receive(ws)
        assert welcome["type"] == "welcome"
        assert (welcome["name"], welcome["room"]) == (name, room or "lobby")
        yield ws, welcome


def receive(ws: ClientConnection) -> dict[str, Any]:
    """The next message, a JSON object."""
    message = ws.recv(timeout=TIMEOUT)
    assert isinstance(message, str)
    decoded: dict[str, Any] = json.loads(message)
    return decoded


def said(sender: int | None, name: str, room: str, text: str) -> dict[str, Any]:
    """A "said" message from the connection ``sender``, or from the REST API if it is None."""
    via = "chat" if sender is not None else "rest"
    return {"type": "said", "id": sender, "name": name, "room": room, "text": text, "via": via}
