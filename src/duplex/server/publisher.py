"""Publishing to a cluster's WebSocket servers from a process that serves none: a web app, a job, a
script.

    with duplex.Publisher("redis://127.0.0.1:6379/0") as publisher:
        publisher.publish("/chat", "room:lobby", {"text": "deploy done"})
        publisher.broadcast("/chat", "maintenance at noon")

    async with duplex.AsyncPublisher("nats://127.0.0.1:4222") as publisher:
        await publisher.publish("/chat", "room:lobby", "hello")

A message is encoded by the rules of ``send()`` (str text, bytes binary, JSON values JSON text) and
travels as a WebSocket server's own publishes do (docs/cluster.md). Unlike a server, which drops
what it publishes during an outage, a publisher waits until the broker has the message and raises
:class:`duplex.BrokerError` if it cannot be delivered to the broker: a script wants to know.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from ..cluster import BrokerError, BrokerStats, configured_broker
from ..cluster.broker import Broker
from ..cluster.channels import broadcast_channel, topic_channel
from ..cluster.envelope import encode
from ..cluster.node import broker_for
from ..http.routing import validate_route
from .topics import check_topic
from .websocket_connection import encode_message

__all__ = ["AsyncPublisher", "Publisher"]

T = TypeVar("T")

#: Seconds to wait for the broker when connecting.
CONNECT_TIMEOUT = 5.0


def _broker_url(url: str | None) -> str:
    found = configured_broker(url)
    if found is None:
        raise ValueError(
            "a Publisher needs a broker URL (redis://host:port/db or nats://host:port), as its argument "
            "or in DUPLEX_BROKER"
        )
    return found


def _message(path: str, topic: str | None, message: Any, origin: bytes) -> tuple[str, bytes]:
    """The channel and the bytes of one message; raises before anything is sent."""
    validate_route(path)
    if topic is not None:
        check_topic(topic)
    payload, text = encode_message(message)
    channel = broadcast_channel(path) if topic is None else topic_channel(path, topic)
    return channel, encode(origin, path, topic, payload, text)


def _ignore(*_: Any) -> None:
    pass


class AsyncPublisher:
    """Publishes on the running event loop. ``async with`` connects and closes it.

    Args:
        url: the broker, as the web server's ``broker`` setting; None: ``$DUPLEX_BROKER``.

    Raises:
        ValueError: no URL, or not a supported one.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = _broker_url(url)
        self.stats = BrokerStats()
        self._origin = os.urandom(8)
        self._broker: Broker = broker_for(self.url, _ignore, _ignore, self.stats)
        self._broker.reconnect = False  # publish() connects again when it needs to
        self._started = False
        self._starting = asyncio.Lock()  # concurrent first publishes connect once

    async def connect(self) -> None:
        """Connect now (``publish()`` does it when needed).

        Raises:
            duplex.BrokerError: the broker cannot be reached.
        """
        async with self._starting:
            if not self._started:
                await self._broker.start(CONNECT_TIMEOUT)
                self._started = True

    async def publish(self, path: str, topic: str, message: Any) -> None:
        """Send ``message`` to the subscribers of ``topic`` on ``path``, in every process.

        Raises:
            TypeError: the message cannot be sent, or ``topic`` is not a str.
            ValueError: ``path`` is not a path or ``topic`` not a valid topic name.
            duplex.BrokerError: the broker cannot be reached.
        """
        if not isinstance(topic, str):
            check_topic(topic)  # raises the TypeError that says what a topic is
        await self._send(*_message(path, topic, message, self._origin))

    async def broadcast(self, path: str, message: Any) -> None:
        """Send ``message`` to every connection on ``path``, in every process.

        Raises:
            TypeError: the message cannot be sent.
            ValueError: ``path`` is not a path.
            duplex.BrokerError: the broker cannot be reached.
        """
        await self._send(*_message(path, None, message, self._origin))

    async def _send(self, channel: str, data: bytes) -> None:
        if not self._started:
            await self.connect()
        await self._broker.publish_now(channel, data)

    async def close(self) -> None:
        if self._started:
            self._started = False
            await self._broker.close()

    async def __aenter__(self) -> AsyncPublisher:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class Publisher:
    """Publishes from plain (non-async) code, from any thread: an :class:`AsyncPublisher` on a
    background thread of its own. Each call returns once the broker has the message. ``with``
    closes it (so does :meth:`close`).

    Args:
        url: the broker, as the web server's ``broker`` setting; None: ``$DUPLEX_BROKER``.

    Raises:
        ValueError: no URL, or not a supported one.
        duplex.BrokerError: the broker cannot be reached.
    """

    def __init__(self, url: str | None = None) -> None:
        self._publisher = AsyncPublisher(url)
        self.url = self._publisher.url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="duplex-publisher", daemon=True)
        self._thread.start()
        try:
            self._run(self._publisher.connect())
        except BaseException:
            self._end()
            raise

    @property
    def stats(self) -> BrokerStats:
        return self._publisher.stats

    def publish(self, path: str, topic: str, message: Any) -> None:
        """As :meth:`AsyncPublisher.publish`; returns once the broker has the message."""
        self._run(self._publisher.publish(path, topic, message))

    def broadcast(self, path: str, message: Any) -> None:
        """As :meth:`AsyncPublisher.broadcast`; returns once the broker has the message."""
        self._run(self._publisher.broadcast(path, message))

    def close(self) -> None:
        if self._thread.is_alive():
            self._run(self._publisher.close())
            self._end()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if not self._thread.is_alive():
            coroutine.close()
            raise BrokerError("this Publisher is closed")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _end(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
