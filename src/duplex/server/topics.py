"""Topics: which connections of one WebSocket server subscribed to which topic, in one process.

``ws.subscribe(topic)`` and ``ws.unsubscribe(topic)`` change a :class:`TopicRegistry`;
``wss.publish(topic, message)`` takes the topic's members from it (:meth:`TopicRegistry.audience`)
and hands them to the loop's broadcast batch with the frame, so a publish is framed once and
written like a broadcast.

Decisions:

- One registry per ``WebSocketServer``, made by it and given to each of its connections: a
  connection never reaches into its server. The registry alone knows who subscribed to what (both
  directions, topic to members and member to topics); ``ws.topics`` and ``wss.subscribers()`` read
  it, so there is one state.
- Thread-safety: every change and every read here holds one lock, so any thread may subscribe,
  unsubscribe and read, and sees its own changes at once.
- A publish reaches the members of the topic when ``publish()`` is called, in whatever thread:
  :meth:`TopicRegistry.audience` returns the topic's members dict itself and marks it published;
  the next change to that topic copies the dict first (copy on write), so the dict a broadcast
  batch holds until the end of the loop iteration never changes under it, and the loop reads it
  without the lock. The copy costs at most one per publish and less than the publish's own writes
  (a dict copy against a write to each member); a burst of publishes to one topic shares one dict,
  the batch's common case (the burst joined once for every member).
- A connection that is not "Connected" cannot subscribe (``subscribe()`` returns False). The check
  is made under the lock, and the connection's state is "Closed" before it calls
  :meth:`TopicRegistry.leave_all`, so a subscribe racing the close either comes before and is
  undone, or comes after and is refused: a closed connection never stays in a topic. A connection
  that never subscribed skips ``leave_all`` (it marks itself before its first subscribe).
- Topic names are 1 to :data:`MAX_TOPIC_LENGTH` characters: ASCII letters, digits and
  ``- _ . : @ /``, with a ``.`` only between two other characters. The names are meant to become
  Redis channels and NATS subjects as they are: NATS subjects are ``.``-separated tokens that may
  not be empty, must not hold whitespace, and use ``*`` and ``>`` as wildcards, so none of these
  can be in a name; ASCII only, so that a name is the same in every client library and log.
- Nothing here runs for a ``send()``, a ``broadcast()``, a received message or the close of a
  connection that never subscribed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

from ..asyncio.websocket_protocol import State, WebSocketProtocol

__all__ = ["MAX_TOPIC_LENGTH", "TOPIC_RULE", "TopicRegistry", "check_topic"]

MAX_TOPIC_LENGTH = 256

#: What a topic name may be, as the errors say it.
TOPIC_RULE = (
    f"a topic is a str of 1 to {MAX_TOPIC_LENGTH} characters: ASCII letters, digits and - _ . : @ /, "
    "with a '.' only between two other characters (no whitespace, '*' or '>': names become Redis "
    "channels and NATS subjects)"
)

_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:@/")
_TOKEN = r"[A-Za-z0-9_\-:@/]+"
_TOPIC = re.compile(rf"{_TOKEN}(?:\.{_TOKEN})*")

_OPEN = State.OPEN
_NO_MEMBERS: dict[int, WebSocketProtocol] = {}  # never changed


def check_topic(topic: object) -> str:
    """``topic`` if it is a valid topic name (see :data:`TOPIC_RULE`).

    Raises:
        TypeError: ``topic`` is not a str.
        ValueError: it is empty, too long, or has a character or a '.' where it may not.
    """
    if not isinstance(topic, str):
        raise TypeError(f"a topic must be a str, got {type(topic).__name__}; {TOPIC_RULE}")
    if len(topic) <= MAX_TOPIC_LENGTH and _TOPIC.fullmatch(topic):
        return topic
    shown = repr(topic) if len(topic) <= 40 else f"{topic[:40]!r}..."
    raise ValueError(f"topic {shown} is not allowed: {_fault(topic)}; {TOPIC_RULE}")


def _fault(topic: str) -> str:
    if not topic:
        return "it is empty"
    if len(topic) > MAX_TOPIC_LENGTH:
        return f"it has {len(topic)} characters"
    for index, character in enumerate(topic):
        if character not in _ALLOWED:
            return f"{character!r} (at index {index}) is not allowed"
    return "a '.' may not start or end it, nor follow another '.'"


class TopicRegistry:
    """Who subscribed to what, for the connections of one WebSocket server. Safe from any thread.

    Members are the connections' transports (``WebSocketProtocol``), by connection id: what a
    broadcast batch writes to.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_topic: dict[str, dict[int, WebSocketProtocol]] = {}
        self._by_member: dict[int, set[str]] = {}
        # Topics whose members dict was handed to a publish: copied before their next change.
        self._published: set[str] = set()
        self._watcher: Callable[[str, bool], None] | None = None

    def watch(self, watcher: Callable[[str, bool], None]) -> None:
        """Call ``watcher(topic, True)`` when a topic gets its first member and ``watcher(topic,
        False)`` when its last one leaves (the cluster subscribes to it meanwhile). Called under the
        registry's lock, in the thread that made the change: it must be quick and not call back."""
        self._watcher = watcher

    def subscribe(self, key: int, member: WebSocketProtocol, topic: object) -> bool:
        """Add ``member`` (id ``key``) to ``topic``; False if it was already in, or is not open.

        Raises:
            TypeError, ValueError: ``topic`` is not a valid name (see :func:`check_topic`).
        """
        name = check_topic(topic)
        with self._lock:
            if member.state is not _OPEN:
                return False
            topics = self._by_member.get(key)
            if topics is None:
                self._by_member[key] = {name}
            elif name in topics:
                return False
            else:
                topics.add(name)
            members = self._members_to_change(name)
            if members is None:
                self._by_topic[name] = {key: member}
                if self._watcher is not None:
                    self._watcher(name, True)
            else:
                members[key] = member
        return True

    def unsubscribe(self, key: int, topic: object) -> bool:
        """Remove member ``key`` from ``topic``; False if it was not in.

        Raises:
            TypeError, ValueError: ``topic`` is not a valid name (see :func:`check_topic`).
        """
        name = check_topic(topic)
        with self._lock:
            topics = self._by_member.get(key)
            if topics is None or name not in topics:
                return False
            topics.discard(name)
            if not topics:
                del self._by_member[key]
            self._leave(key, name)
        return True

    def leave_all(self, key: int) -> None:
        """Remove member ``key`` from every topic (its connection closed)."""
        with self._lock:
            topics = self._by_member.pop(key, None)
            if topics is not None:
                for name in topics:
                    self._leave(key, name)

    def _leave(self, key: int, name: str) -> None:
        # Under the lock. An empty topic is dropped: names do not pile up.
        members = self._members_to_change(name)
        assert members is not None
        del members[key]
        if not members:
            del self._by_topic[name]
            if self._watcher is not None:
                self._watcher(name, False)

    def _members_to_change(self, name: str) -> dict[int, WebSocketProtocol] | None:
        # Under the lock: the members dict of ``name``, copied first if a publish holds it.
        members = self._by_topic.get(name)
        if members is not None and name in self._published:
            self._published.discard(name)
            members = self._by_topic[name] = dict(members)
        return members

    def topics_of(self, key: int) -> frozenset[str]:
        """The topics member ``key`` is subscribed to."""
        with self._lock:
            return frozenset(self._by_member.get(key, ()))

    def count(self, topic: object) -> int:
        """How many members ``topic`` has.

        Raises:
            TypeError, ValueError: ``topic`` is not a valid name (see :func:`check_topic`).
        """
        name = check_topic(topic)
        with self._lock:
            return len(self._by_topic.get(name, _NO_MEMBERS))

    def counts(self) -> dict[str, int]:
        """Every topic with members, and how many."""
        with self._lock:
            return {name: len(members) for name, members in self._by_topic.items()}

    def audience(self, topic: object) -> dict[int, WebSocketProtocol] | None:
        """The members of ``topic`` now, for a publish, or None if it has none (any thread).

        The dict is never changed afterwards (the topic's next change copies it first), so a
        broadcast batch may hold it and read it without the lock.

        Raises:
            TypeError, ValueError: ``topic`` is not a valid name (see :func:`check_topic`).
        """
        # A name in the registry was checked when it was subscribed to.
        name = topic if type(topic) is str and topic in self._by_topic else check_topic(topic)
        with self._lock:
            members = self._by_topic.get(name)
            if members is not None:
                self._published.add(name)
            return members
