"""Helpers for the cluster tests: a node (a web server with its own broker connection), a client that
tells command answers from delivered messages, polling with deadlines, and raw access to the broker.

Every wait is bounded. A message crosses the broker asynchronously, and a node subscribes to a
channel a moment after its first local member joins, so the tests never sleep and hope: they poll a
condition with a deadline, or send probes until one arrives (:func:`await_route`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import nats
import redis
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

import duplex
from cluster.cluster_app import ACK
from cluster.cluster_app import Server as App
from duplex.cluster.presence import EXPIRY, HEARTBEAT

__all__ = [
    "ACK",
    "EXPIRY",
    "HEARTBEAT",
    "TIMEOUT",
    "App",
    "Client",
    "Node",
    "RawBroker",
    "await_route",
    "free_port",
    "wait_until",
]

#: The longest any one wait may take (a message, a count, a callback), unless a test says otherwise.
TIMEOUT = 10.0

Message = str | bytes


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], Any], timeout: float = TIMEOUT, what: str = "") -> None:
    """Poll ``condition`` until it is true; fail the test with ``what`` (and its last value) if it is
    not within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what or condition} (last value: {value!r})")
        time.sleep(0.01)


@dataclass
class Node:
    """One process of the cluster as far as the cluster can tell: a started ``WebServer`` with its
    own broker connection, and its WebSocketServer on /ws."""

    web: duplex.WebServer
    wss: duplex.WebSocketServer
    app: App

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.web.HTTPPort}/ws"

    def stats(self) -> dict[str, int]:
        stats = self.web.brokerStats
        assert stats is not None, "the web server has no broker"
        return stats


class Client:
    """A ``websockets`` sync client of the cluster app (see ``cluster_app``): :meth:`request` sends
    a command and returns its answer; what the cluster delivers meanwhile is kept for :meth:`recv`.
    ``options`` go to ``websockets.sync.client.connect`` (``max_size=None`` for big messages)."""

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        options = {"open_timeout": TIMEOUT, "close_timeout": 2, "proxy": None, **options}
        self._connecting = connect(url, **options)
        self.ws: ClientConnection = self._connecting.__enter__()
        self.inbox: collections.deque[Message] = collections.deque()

    def request(self, command: str, timeout: float = TIMEOUT) -> str:
        """Send ``command`` and return its answer (without ``ack:``)."""
        self.ws.send(command)
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(deadline - time.monotonic())
            if message is None:
                raise AssertionError(f"no answer to {command!r} within {timeout} s on {self.url}")
            if isinstance(message, str) and message.startswith(ACK):
                return message[len(ACK) :]
            self.inbox.append(message)

    def recv(self, timeout: float = TIMEOUT) -> Message:
        """The next delivered message; fails the test if none comes within ``timeout``."""
        message = self.poll(timeout)
        if message is None:
            raise AssertionError(f"no message within {timeout} s on {self.url}")
        return message

    def poll(self, timeout: float) -> Message | None:
        """The next delivered message, or None if none comes within ``timeout``."""
        if self.inbox:
            return self.inbox.popleft()
        return self._receive(timeout)

    def recv_all(self, count: int, timeout: float = TIMEOUT) -> list[Message]:
        """The next ``count`` delivered messages (within ``timeout`` in all)."""
        deadline = time.monotonic() + timeout
        got: list[Message] = []
        while len(got) < count:
            message = self.poll(max(0.0, deadline - time.monotonic()))
            if message is None:
                raise AssertionError(f"{len(got)} of {count} messages within {timeout} s: {got[-5:]!r}")
            got.append(message)
        return got

    def quiet(self, seconds: float) -> list[Message]:
        """Everything delivered within ``seconds`` (the test expects none, usually)."""
        deadline = time.monotonic() + seconds
        got = list(self.inbox)
        self.inbox.clear()
        while (message := self._receive(deadline - time.monotonic())) is not None:
            got.append(message)
        return got

    def _receive(self, timeout: float) -> Message | None:
        try:
            return self.ws.recv(timeout=max(0.0, timeout))
        except TimeoutError:
            return None

    @property
    def open(self) -> bool:
        try:
            self.ws.ping().wait(TIMEOUT)
        except ConnectionClosed:
            return False
        return True

    def close(self) -> None:
        self._connecting.__exit__(None, None, None)


_probes = itertools.count()


def await_route(send: Callable[[str], None], receivers: Iterable[Client], timeout: float = TIMEOUT) -> None:
    """Make sure messages sent with ``send(text)`` reach every client in ``receivers`` through the
    broker: send probes until each receiver got one, then a fence, and read each receiver up to the
    fence. The probes are consumed; anything else received meanwhile stays in the receiver's inbox.

    Needed because a node subscribes to a channel asynchronously after its first member joins."""
    receivers = list(receivers)
    tag = uuid.uuid4().hex[:8]
    waiting = set(range(len(receivers)))
    deadline = time.monotonic() + timeout
    kept: list[list[Message]] = [[] for _ in receivers]

    def is_probe(message: Message) -> bool:
        return isinstance(message, str) and message.startswith(f"probe-{tag}-")

    while waiting:
        if time.monotonic() > deadline:
            urls = [receivers[index].url for index in sorted(waiting)]
            raise AssertionError(f"no probe reached the clients on {urls} within {timeout} s")
        send(f"probe-{tag}-{next(_probes)}")
        for index in list(waiting):
            wait = 0.03
            while (message := receivers[index].poll(wait)) is not None:
                wait = 0.0
                if is_probe(message):
                    waiting.discard(index)
                    break
                kept[index].append(message)
    fence = f"fence-{tag}"
    send(fence)
    for index, receiver in enumerate(receivers):
        while True:
            message = receiver.recv(max(0.1, deadline - time.monotonic()))
            if message == fence:
                break
            if not is_probe(message):
                kept[index].append(message)
        receiver.inbox.extendleft(reversed(kept[index]))


class RawBroker:
    """A plain client of the broker (redis-py or nats-py), outside duplex: publish raw bytes on a
    channel, and (Redis) ask the broker how many subscribers a channel has."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        self._redis: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nats: Any = None
        if kind == "redis":
            self._redis = redis.Redis.from_url(url, socket_timeout=TIMEOUT)
        else:
            self._loop = asyncio.new_event_loop()
            self._nats = self._loop.run_until_complete(nats.connect(url, allow_reconnect=False))

    def publish(self, channel: str, data: bytes) -> None:
        if self._redis is not None:
            self._redis.publish(channel, data)
            return
        assert self._loop is not None
        self._loop.run_until_complete(self._nats.publish(channel, data))
        self._loop.run_until_complete(self._nats.flush(TIMEOUT))

    def numsub(self, channel: str) -> int:
        """Redis's own count of the subscribers of ``channel`` (``PUBSUB NUMSUB``)."""
        assert self._redis is not None, "PUBSUB NUMSUB is Redis's"
        [(_, number)] = self._redis.pubsub_numsub(channel)
        return int(number)

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
        if self._loop is not None:
            with contextlib.suppress(Exception):  # the broker may be gone
                self._loop.run_until_complete(asyncio.wait_for(self._nats.close(), TIMEOUT))
            self._loop.close()
