"""The Redis broker: ``PUBLISH`` through a pooled connection, ``SUBSCRIBE`` on a dedicated one.

Built on the maintained ``redis`` client (its asyncio API, with ``hiredis`` parsing when it is
installed). The client's own retries are turned off: an error must reach :class:`Broker`, which
reports the outage, drops what is published meanwhile and restores the subscriptions itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from .broker import LIVENESS, RECONNECT_MAX, Broker

__all__ = ["RedisBroker"]


class RedisBroker(Broker):
    """A :class:`Broker` on Redis pub/sub (``redis://`` or ``rediss://`` URLs)."""

    name = "Redis"

    _client: Any = None
    _pubsub: Any = None
    _reader: asyncio.Task[None] | None = None

    async def _connect(self) -> None:
        client = redis.Redis.from_url(
            self.url,
            socket_connect_timeout=RECONNECT_MAX,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
        )
        self._client = client
        await client.ping()
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)

    async def _disconnect(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        pubsub, client = self._pubsub, self._client
        self._pubsub = self._client = None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _subscribe(self, channels: list[str]) -> None:
        await self._pubsub.subscribe(*channels)
        if self._reader is None:  # reading needs a subscription first
            self._reader = asyncio.get_running_loop().create_task(self._read(self._pubsub))

    async def _unsubscribe(self, channels: list[str]) -> None:
        await self._pubsub.unsubscribe(*channels)

    async def _publish(self, messages: list[tuple[str, bytes]], confirm: bool = False) -> None:
        # A PUBLISH is answered (with its number of receivers): written and answered is confirmed.
        if len(messages) == 1:
            await self._client.publish(*messages[0])
            return
        pipe = self._client.pipeline(transaction=False)
        for channel, data in messages:
            pipe.publish(channel, data)
        await pipe.execute()

    async def _read(self, pubsub: Any) -> None:
        dispatch = self._dispatch
        try:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=LIVENESS)
                if message is None:
                    # Quiet (each process hears its own heartbeat every second, so quiet is
                    # suspicious): a PING must come back, or the broker is lost.
                    await asyncio.wait_for(self._client.ping(), LIVENESS)
                elif message["type"] == "message":
                    dispatch(message["channel"].decode(), message["data"])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if pubsub is self._pubsub:
                self._reader = None
                self.lost(exc)
