"""Shared by every benchmark server: the command line, the broadcast payload, the "ready" line.

Each server script is run as ``python benchmarks/servers/<name>.py --port P [--mode echo|broadcast]``
and prints ``ready`` on stdout once it listens on 127.0.0.1:P.

Modes:
    echo       every message goes back to its sender with its own frame type.
    broadcast  as echo, except that the text message ``broadcast <count>`` makes the server send
               <count> binary messages of 64 bytes to every connected client (the sender included),
               each made by :func:`broadcast_message` from a counter the server keeps.
"""

from __future__ import annotations

import argparse
import sys

HOST = "127.0.0.1"
#: The largest message the benchmark sends is 32 MiB; every server accepts twice that.
MAX_MESSAGE_SIZE = 64 * 1024 * 1024
BROADCAST_PREFIX = "broadcast "
#: 16 digits of sequence number + 48 bytes of filler = 64 bytes.
BROADCAST_FILL = b"-" * 48


def broadcast_message(seq: int) -> bytes:
    """The 64-byte payload of the server's ``seq``-th broadcast message."""
    return b"%016d" % seq + BROADCAST_FILL


def parse_broadcast(text: str) -> int | None:
    """The count of a ``broadcast <count>`` command, or None if ``text`` is not one."""
    if text.startswith(BROADCAST_PREFIX):
        return int(text[len(BROADCAST_PREFIX) :])
    return None


def parse_args(description: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("echo", "broadcast"), default="echo")
    return parser.parse_args()


def ready() -> None:
    print("ready", flush=True)
    sys.stdout.flush()
