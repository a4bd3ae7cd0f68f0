"""Broker channel names: one per (path, topic), one per path for broadcasts, one for presence.

The same names serve as Redis channels and NATS subjects. NATS subjects are tokens separated by
``.``, none empty, without whitespace, ``*`` or ``>``; topic names already obey that
(``duplex.server.topics``), and a WebSocket server's path is made to: it is percent-encoded with
``.``, ``*``, ``>``, ``%`` and whitespace escaped, so it is one token and the names stay readable
(``duplex./chat.t.room:lobby``) in ``redis-cli PUBSUB CHANNELS`` or ``nats sub``.
"""

from __future__ import annotations

from urllib.parse import quote

__all__ = ["PRESENCE", "broadcast_channel", "path_token", "topic_channel"]

PREFIX = "duplex"

#: The heartbeats of every process (``duplex.cluster.presence``).
PRESENCE = f"{PREFIX}._presence"

# Kept as they are: what a URL path holds, minus the characters NATS gives a meaning to.
_SAFE = "/-_~:@!$&'()+,;="


def path_token(path: str | None) -> str:
    """``path`` as one channel token; None (a server for every path) is ``~``, which no path is."""
    if path is None:
        return "~"
    return quote(path, safe=_SAFE).replace(".", "%2E")


def broadcast_channel(path: str | None) -> str:
    """Where ``broadcast()`` on ``path`` goes."""
    return f"{PREFIX}.{path_token(path)}.all"


def topic_channel(path: str | None, topic: str) -> str:
    """Where ``publish(topic, ...)`` on ``path`` goes; ``topic`` must be a valid topic name."""
    return f"{PREFIX}.{path_token(path)}.t.{topic}"
