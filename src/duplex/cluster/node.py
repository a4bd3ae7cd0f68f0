"""A process's place in the cluster: one broker connection per web server, shared by its WebSocket
servers; which channels the process needs; what it sends and receives.

Routing: the process subscribes to a channel only while it has a local member for it: the topic
channel of (path, topic) while a connection of that path's server is subscribed to the topic, the
broadcast channel of a path while that server has a connection. :meth:`ClusterNode.want` and
:meth:`ClusterNode.release` count the members; the broker subscribes on the first and unsubscribes
after the last. So a process receives nothing for a topic it has no member of: the broker does not
send it there.

A message is published once per process (the envelope holds its final payload) and delivered
locally by the server that published it, before it leaves. ``exclude`` names connections, which
live in one process: that process applies it, and the others never had them, so it holds
across the cluster without travelling. A process skips its own messages when the broker echoes
them (Redis does; NATS is told not to).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from asyncio import _get_running_loop
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .broker import SCHEMES, Broker, BrokerError, BrokerStats, check_broker_url
from .channels import PRESENCE, broadcast_channel, path_token, topic_channel
from .envelope import MalformedEnvelope, decode, encode
from .presence import HEARTBEAT, Counts, Presence

__all__ = ["BrokerError", "ClusterNode", "LocalServer"]

logger = logging.getLogger("duplex.cluster")

#: Seconds between two log lines about dropped messages from the broker.
DROP_LOG_INTERVAL = 10.0


@dataclass(frozen=True, slots=True)
class LocalServer:
    """What the node needs from one WebSocket server of its process (called on the loop).

    deliver: ``(topic or None, payload, text)``: hand a message from another process to the
        local members; returns False if the message was refused (over ``maxMessageSize``).
    counts: ``() -> (connections, {topic: subscribers})``, for the heartbeats.
    status: ``(up, reason)``: the broker was lost (up False) or is back.
    """

    deliver: Callable[[str | None, bytes, bool], bool]
    counts: Callable[[], tuple[int, dict[str, int]]]
    status: Callable[[bool, str], None]


class ClusterNode:
    """One web server's link to the broker at ``url``.

    Raises:
        ValueError: the URL is not a supported broker URL.
        BrokerError: the broker's client library is not installed.
    """

    def __init__(self, url: str) -> None:
        self.url = check_broker_url(url)
        self.origin = os.urandom(8)
        self.stats = BrokerStats()
        self._broker: Broker = broker_for(url, self._received, self._status, self.stats)
        self._presence = Presence(self.origin.hex())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._wanted: dict[str, int] = {}
        self._servers: dict[str | None, LocalServer] = {}
        self._heartbeats: asyncio.Task[None] | None = None
        self._last_drop_log = 0.0

    @property
    def connected(self) -> bool:
        return self._broker.connected

    # -- life, on the loop ---------------------------------------------------------------------------

    async def start(self, timeout: float = 5.0) -> None:
        """Connect to the broker and join the presence.

        Raises:
            BrokerError: the broker cannot be reached within ``timeout`` seconds.
        """
        self._loop = asyncio.get_running_loop()
        await self._broker.start(timeout)
        self._broker.set_subscribed(PRESENCE, True)
        self._heartbeats = self._loop.create_task(self._beat())

    async def stop(self) -> None:
        """Leave the presence at once (a last heartbeat), then disconnect."""
        if self._heartbeats is not None:
            self._heartbeats.cancel()
            self._heartbeats = None
        if self._broker.connected:
            self._broker.publish(PRESENCE, self._presence.heartbeat({}, bye=True), counted=False)
        await self._broker.close()
        self._loop = None

    def attach(self, path: str | None, server: LocalServer) -> None:
        """Route the messages of ``path`` to ``server`` (on the loop)."""
        self._servers[path] = server

    def detach(self, path: str | None) -> None:
        self._servers.pop(path, None)

    # -- which channels, from any thread -------------------------------------------------------------

    def want(self, path: str | None, topic: str | None) -> None:
        """One more local member for the topic (None: the path's broadcasts)."""
        channel = _channel(path, topic)
        with self._lock:
            members = self._wanted.get(channel, 0)
            self._wanted[channel] = members + 1
        if members == 0:
            self._on_loop(self._sync, channel)

    def release(self, path: str | None, topic: str | None) -> None:
        """One local member less for the topic (None: the path's broadcasts)."""
        channel = _channel(path, topic)
        with self._lock:
            members = self._wanted.get(channel, 0) - 1
            if members > 0:
                self._wanted[channel] = members
                return
            self._wanted.pop(channel, None)
        self._on_loop(self._sync, channel)

    def _sync(self, channel: str) -> None:
        # On the loop, after any number of want/release: subscribed exactly when wanted now.
        with self._lock:
            wanted = channel in self._wanted
        self._broker.set_subscribed(channel, wanted)

    # -- sending, from any thread --------------------------------------------------------------------

    def publish(self, path: str | None, topic: str | None, payload: bytes, text: bool) -> None:
        """Send a message to the other processes' members of ``topic`` (None: all of ``path``)."""
        data = encode(self.origin, path, topic, payload, text)
        self._on_loop(self._broker.publish, _channel(path, topic), data)

    def count(self, path: str | None, topic: str | None, local: int) -> int:
        """``local`` plus the live other processes' count for ``path`` (in ``topic``)."""
        return self._presence.count(path_token(path), topic, local)

    def _on_loop(self, function: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        if _get_running_loop() is loop:
            function(*args)
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server stopped
                loop.call_soon_threadsafe(function, *args)

    # -- receiving, on the loop ----------------------------------------------------------------------

    def _received(self, channel: str, data: bytes) -> None:
        if channel == PRESENCE:
            self._heartbeat_received(data)
            return
        stats = self.stats
        stats.received += 1
        stats.received_bytes += len(data)
        try:
            envelope = decode(data)
            if _channel(envelope.path, envelope.topic) != channel:
                raise MalformedEnvelope(f"a message for {envelope.path!r} {envelope.topic!r} on {channel}")
        except MalformedEnvelope as exc:
            stats.dropped_malformed += 1
            self._log_drop(f"dropped a malformed message from {channel}: {exc}")
            return
        if envelope.origin == self.origin:
            return
        server = self._servers.get(envelope.path)
        if server is None:  # the server on that path stopped meanwhile
            return
        if not server.deliver(envelope.topic, envelope.payload, envelope.text):
            stats.dropped_oversize += 1
            self._log_drop(
                f"dropped a {len(envelope.payload)}-byte message from {channel}: over the "
                "receiving server's maxMessageSize"
            )

    def _log_drop(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_INTERVAL:
            self._last_drop_log = now
            stats = self.stats
            logger.warning(
                "%s (%d malformed and %d oversized dropped so far)",
                message,
                stats.dropped_malformed,
                stats.dropped_oversize,
            )

    def _heartbeat_received(self, data: bytes) -> None:
        try:
            hello = self._presence.received(data)
        # Whatever the bytes make json.loads or the checks raise (a ValueError, a KeyError, a
        # RecursionError for nesting too deep ...): a malformed heartbeat, not a broker failure.
        except Exception as exc:
            self.stats.dropped_malformed += 1
            self._log_drop(f"dropped a malformed heartbeat: {exc!r}")
            return
        if hello:
            self._send_heartbeat()

    def _status(self, up: bool, reason: str) -> None:
        if up:
            self._send_heartbeat(hello=True)  # back in the counts at once, and theirs in ours
        for server in list(self._servers.values()):
            server.status(up, reason)

    # -- presence ------------------------------------------------------------------------------------

    def _counts(self) -> Counts:
        return {path_token(path): server.counts() for path, server in list(self._servers.items())}

    def _send_heartbeat(self, hello: bool = False) -> None:
        if self._broker.connected:
            self._broker.publish(
                PRESENCE, self._presence.heartbeat(self._counts(), hello=hello), counted=False
            )

    async def _beat(self) -> None:
        self._send_heartbeat(hello=True)
        while True:
            await asyncio.sleep(HEARTBEAT)
            self._send_heartbeat()


def _channel(path: str | None, topic: str | None) -> str:
    return broadcast_channel(path) if topic is None else topic_channel(path, topic)


def broker_for(
    url: str,
    on_message: Callable[[str, bytes], None],
    on_status: Callable[[bool, str], None],
    stats: BrokerStats,
) -> Broker:
    """The broker for ``url``'s scheme.

    Raises:
        ValueError: the URL is not supported (see :func:`check_broker_url`).
        BrokerError: the client library for that broker is not installed.
    """
    scheme = urlsplit(check_broker_url(url)).scheme
    try:
        if SCHEMES[scheme] == "Redis":
            from .redis_broker import RedisBroker

            return RedisBroker(url, on_message, on_status, stats)
        from .nats_broker import NatsBroker

        return NatsBroker(url, on_message, on_status, stats)
    except ImportError as exc:
        extra = "redis" if SCHEMES[scheme] == "Redis" else "nats"
        raise BrokerError(
            f"the {SCHEMES[scheme]} client is not installed ({exc}): pip install 'duplex[{extra}]'"
        ) from exc
