"""The NATS broker: core NATS subjects, on the maintained ``nats-py`` client.

The client's own reconnection is turned off (``allow_reconnect=False``): a lost server must reach
:class:`Broker`, which reports the outage, drops what is published meanwhile (nats-py would buffer
it and send it late) and restores the subscriptions itself, as for Redis. ``no_echo`` keeps a
process's own messages from coming back to it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import nats

from .broker import LIVENESS, RECONNECT_MAX, Broker, BrokerError, logger

__all__ = ["NatsBroker"]


class NatsBroker(Broker):
    """A :class:`Broker` on NATS (``nats://`` or ``tls://`` URLs)."""

    name = "NATS"

    _client: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._subscriptions: dict[str, Any] = {}

    async def _connect(self) -> None:
        self._subscriptions = {}
        client: Any = None

        async def closed() -> None:
            if client is not None and client is self._client:
                self.lost(ConnectionError("the connection to the NATS server closed"))

        errors: list[Exception] = []

        async def error(exc: Exception) -> None:
            errors.append(exc)  # a failed connect's cause: nats-py then raises NoServersError

        try:
            # One attempt and one quick retry: nats-py retries a first connect otherwise, even
            # without allow_reconnect (every 2 s, forever with max_reconnect_attempts=0).
            client = await nats.connect(
                self.url,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.05,
                connect_timeout=max(1, int(RECONNECT_MAX)),
                no_echo=True,
                # A server that stops answering (frozen, or cut off by the network) is lost after
                # two unanswered pings, instead of nats-py's default of two minutes each.
                ping_interval=LIVENESS,
                max_outstanding_pings=2,
                closed_cb=closed,
                error_cb=error,
            )
        except Exception as exc:
            if errors:
                raise ConnectionError(f"{type(errors[-1]).__name__}: {errors[-1]}") from exc
            raise
        self._client = client

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        self._subscriptions = {}
        if client is None:
            return
        try:
            if not client.is_closed:
                await asyncio.wait_for(client.close(), RECONNECT_MAX)
        finally:
            # nats-py does not always end a lost connection's subscriptions: when its close fails
            # midway (flushing what was pending to the dead socket raises), their tasks stay pending
            # for good, one per channel per outage, with the old client. End them here.
            for subscription in list(getattr(client, "_subs", {}).values()):
                with contextlib.suppress(Exception):
                    subscription._stop_processing()

    async def _subscribe(self, channels: list[str]) -> None:
        for channel in channels:
            if channel not in self._subscriptions:
                self._subscriptions[channel] = await self._client.subscribe(channel, cb=self._received)

    async def _unsubscribe(self, channels: list[str]) -> None:
        for channel in channels:
            subscription = self._subscriptions.pop(channel, None)
            if subscription is not None:
                await subscription.unsubscribe()

    async def _publish(self, messages: list[tuple[str, bytes]], confirm: bool = False) -> None:
        client = self._client
        if client is None or not client.is_connected:
            raise ConnectionError("not connected to the NATS server")
        limit = client.max_payload
        for channel, data in messages:
            if len(data) > limit and confirm:  # a publisher: say so
                raise BrokerError(
                    f"a {len(data)}-byte message is over the NATS server's max_payload ({limit} bytes)"
                )
            if len(data) > limit:  # the server would refuse it: not an outage
                self.stats.dropped_oversize += 1
                # Whoever called counts the whole batch as published once this returns (heartbeats,
                # which are not counted, are never this big): this one was not.
                self.stats.published -= 1
                logger.warning(
                    "dropped a %d-byte message for %s: over the NATS server's max_payload (%d)",
                    len(data),
                    channel,
                    limit,
                )
                continue
            await client.publish(channel, data)
        if confirm:  # a PING answered after the messages: the server has them
            await client.flush(RECONNECT_MAX)

    async def _received(self, message: Any) -> None:
        self._dispatch(message.subject, message.data)
