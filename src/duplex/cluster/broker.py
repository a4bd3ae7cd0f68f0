"""A process's connection to a message broker: publish bytes on a channel, receive the channels it
subscribed to, and come back by itself after an outage.

:class:`Broker` holds what every broker shares; :mod:`.redis_broker` and :mod:`.nats_broker` only
connect, subscribe, publish and read. Everything here runs on one event loop (the web server's).

Decisions:

- One ordered queue of work (subscribe, unsubscribe, publish) and one task that drains it, so
  that a subscribe made before a publish reaches the broker first, and publishes that pile up while
  the broker is slow go out together (a Redis pipeline, one NATS flush) instead of one task each.
- The channels wanted are a set kept here, not in the client library: after an outage the broker
  is connected again from scratch and every wanted channel subscribed again, whatever the library
  would have remembered.
- At-most-once: what is published while the broker is unreachable is dropped and counted, never
  buffered for later (a reconnect hours later must not replay a flood of stale messages). The
  queue is bounded in bytes for the same reason: over :data:`MAX_QUEUED_BYTES`, publishes are
  dropped and counted.
- An outage is reported once when it starts and once when it ends (``on_status``), and the
  reconnection backs off exponentially, with jitter so that many processes do not reconnect in step.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import contextlib
import logging
import os
import random
from collections.abc import Callable
from urllib.parse import urlsplit

__all__ = [
    "BROKER_VARIABLE",
    "SCHEMES",
    "Broker",
    "BrokerError",
    "BrokerStats",
    "check_broker_url",
    "configured_broker",
]

logger = logging.getLogger("duplex.cluster")

#: Publishes waiting for the broker, in bytes, above which new ones are dropped.
MAX_QUEUED_BYTES = 64 * 1024 * 1024
#: Reconnection delays: the first, the cap (seconds); each attempt doubles, +-50% jitter.
RECONNECT_FIRST = 0.1
RECONNECT_MAX = 5.0
#: Seconds of silence after which the broker is asked whether it is still there (a frozen broker,
#: or one cut off by the network, sends no error: it just stops answering).
LIVENESS = 2.0

SCHEMES = {"redis": "Redis", "rediss": "Redis", "nats": "NATS", "tls": "NATS"}


#: The environment variable that names the broker when the code does not.
BROKER_VARIABLE = "DUPLEX_BROKER"


def configured_broker(url: str | None) -> str | None:
    """The broker to use: ``url``, else ``$DUPLEX_BROKER`` when ``url`` is None; None (or an empty
    ``url``, whatever the variable says) for none."""
    if url is None:
        url = os.environ.get(BROKER_VARIABLE)
    return url or None


class BrokerError(Exception):
    """The broker cannot be reached or used: the message names it and says why."""


def check_broker_url(url: object) -> str:
    """``url`` if it names a broker duplex can use.

    Raises:
        ValueError: not a ``redis://``, ``rediss://``, ``nats://`` or ``tls://`` URL with a host.
    """
    forms = "redis://host:port/db (rediss:// for TLS) or nats://host:port (tls:// for TLS)"
    if not isinstance(url, str):
        raise ValueError(f"broker must be a URL string, {forms}, got {url!r}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
    except ValueError as exc:
        raise ValueError(f"broker {url!r} is not a valid URL ({exc}): use {forms}") from None
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ValueError(f"broker {url!r} is not supported: use {forms}")
    return url


class BrokerStats:
    """Counters of one process's traffic through the broker (its messages, not the heartbeats)."""

    __slots__ = (
        "dropped_malformed",
        "dropped_outage",
        "dropped_oversize",
        "dropped_queue_full",
        "outages",
        "published",
        "received",
        "received_bytes",
    )

    def __init__(self) -> None:
        self.published = 0
        self.received = 0
        self.received_bytes = 0
        self.dropped_outage = 0
        self.dropped_queue_full = 0
        self.dropped_malformed = 0
        self.dropped_oversize = 0
        self.outages = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


# ("sub" | "unsub" | "pub", channel, data, counted): heartbeats are published uncounted.
_Work = tuple[str, str, bytes, bool]


class Broker(abc.ABC):
    """One connection to a broker, used from its event loop only.

    Args:
        url: the broker's URL (see :func:`check_broker_url`).
        on_message: called on the loop with ``(channel, data)`` for each message received.
        on_status: called on the loop with ``(False, reason)`` when the broker is lost and
            ``(True, "")`` when it is back.
        stats: where the traffic is counted.
    """

    name = "broker"
    #: Whether an outage starts the reconnection loop (a Publisher reconnects when it publishes).
    reconnect = True

    def __init__(
        self,
        url: str,
        on_message: Callable[[str, bytes], None],
        on_status: Callable[[bool, str], None],
        stats: BrokerStats,
    ) -> None:
        self.url = url
        self.on_message = on_message
        self.on_status = on_status
        self.stats = stats
        self.connected = False
        self._channels: set[str] = set()
        self._work: collections.deque[_Work] = collections.deque()
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._closing = False
        # publish_now(): one connect at a time, and which connection a failure was seen on.
        self._connecting = asyncio.Lock()
        self._generation = 0

    # -- what each broker does ---------------------------------------------------------------------

    @abc.abstractmethod
    async def _connect(self) -> None:
        """Connect (from scratch: also after an outage); raise on failure."""

    @abc.abstractmethod
    async def _disconnect(self) -> None:
        """Drop the connection, quietly: it may be broken already."""

    @abc.abstractmethod
    async def _subscribe(self, channels: list[str]) -> None: ...

    @abc.abstractmethod
    async def _unsubscribe(self, channels: list[str]) -> None: ...

    @abc.abstractmethod
    async def _publish(self, messages: list[tuple[str, bytes]], confirm: bool = False) -> None:
        """Send these messages, in order; raise if the connection failed. ``confirm``: return only
        once the broker has them (a round trip), not once they are written."""

    # -- life --------------------------------------------------------------------------------------

    async def start(self, timeout: float) -> None:
        """Connect, or raise :class:`BrokerError` within ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._connect(), timeout)
        except Exception as exc:
            with contextlib.suppress(Exception):
                await self._disconnect()
            reason = "no answer" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            raise BrokerError(f"cannot reach the {self.name} broker at {self.url} ({reason})") from exc
        self.connected = True
        self._writer = asyncio.get_running_loop().create_task(self._write())

    async def close(self) -> None:
        """Send what is queued (briefly), then disconnect for good."""
        self._closing = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        if self._writer is not None:
            self._wake.set()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._writer), 1.0)
            self._writer.cancel()
        self.connected = False
        with contextlib.suppress(Exception):
            await self._disconnect()

    # -- on the loop -------------------------------------------------------------------------------

    def set_subscribed(self, channel: str, wanted: bool) -> None:
        """Subscribe to ``channel`` or not; done again after each outage."""
        if wanted == (channel in self._channels):
            return
        if wanted:
            self._channels.add(channel)
        else:
            self._channels.discard(channel)
        if self.connected:
            self._queue(("sub" if wanted else "unsub", channel, b"", False))

    def publish(self, channel: str, data: bytes, counted: bool = True) -> bool:
        """Send ``data`` on ``channel`` soon; False if it was dropped (broker lost, queue full).

        ``counted``: whether it counts in :class:`BrokerStats` (a message, not a heartbeat)."""
        if not self.connected:
            if counted:
                self.stats.dropped_outage += 1
            return False
        if self._queued_bytes + len(data) > MAX_QUEUED_BYTES:
            if counted:
                self.stats.dropped_queue_full += 1
            return False
        self._queued_bytes += len(data)
        self._queue(("pub", channel, data, counted))
        return True

    async def publish_now(self, channel: str, data: bytes) -> None:
        """Send ``data`` on ``channel`` and wait until the broker has it; for a publisher that
        serves no WebSocket and wants to know. Concurrent calls share one connection; a connection
        found broken is counted as an outage and made again, once, by the first call that sees it.

        Raises:
            BrokerError: the broker cannot be reached.
        """
        for attempt in (1, 2):
            generation = self._generation
            try:
                if not self.connected:
                    async with self._connecting:
                        if not self.connected:
                            await asyncio.wait_for(self._connect(), RECONNECT_MAX)
                            self.connected = True
                            self._generation += 1
                    generation = self._generation
                await self._publish([(channel, data)], confirm=True)
            except BrokerError:
                raise  # not a connection failure (a message the broker refuses)
            except Exception as exc:
                async with self._connecting:
                    if self._generation == generation:  # the first to see this connection fail
                        if self.connected:
                            self.stats.outages += 1
                        self.connected = False
                        self._generation += 1
                        with contextlib.suppress(Exception):
                            await self._disconnect()
                if attempt == 2:
                    raise BrokerError(
                        f"cannot publish to the {self.name} broker at {self.url} ({type(exc).__name__}: {exc})"
                    ) from exc
            else:
                self.stats.published += 1
                return

    def _dispatch(self, channel: str, data: bytes) -> None:
        """Hand one received message to ``on_message``. A failure there is a bug in handling that
        message, not a broken connection: it is logged, and the connection goes on (were it to
        reach the reader, one bad message would look like, and cause, an outage)."""
        try:
            self.on_message(channel, data)
        except Exception:
            logger.exception("handling a %d-byte message from %s failed", len(data), channel)

    def _queue(self, work: _Work) -> None:
        self._work.append(work)
        self._wake.set()

    async def _write(self) -> None:
        # The one writer: runs the queue in order, consecutive items of one kind together.
        work = self._work
        while not self._closing or work:
            if not work:
                self._wake.clear()
                await self._wake.wait()
                continue
            kind = work[0][0]
            batch: list[_Work] = []
            while work and work[0][0] == kind:
                batch.append(work.popleft())
            try:
                if kind == "pub":
                    for _, _, data, _ in batch:
                        self._queued_bytes -= len(data)
                    await self._publish([(channel, data) for _, channel, data, _ in batch])
                    self.stats.published += sum(counted for *_, counted in batch)
                elif kind == "sub":
                    await self._subscribe([channel for _, channel, _, _ in batch])
                else:
                    await self._unsubscribe([channel for _, channel, _, _ in batch])
            except Exception as exc:
                if kind == "pub":
                    self.stats.dropped_outage += sum(counted for *_, counted in batch)
                self.lost(exc)
                return

    def lost(self, exc: BaseException) -> None:
        """The connection failed (seen by the writer or the reader): report it once, reconnect."""
        if not self.connected or self._closing:
            return
        self.connected = False
        self.stats.outages += 1
        self.stats.dropped_outage += sum(counted for *_, counted in self._work)
        self._work.clear()
        self._queued_bytes = 0
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        logger.warning("lost the %s broker at %s (%s)", self.name, self.url, reason)
        self.on_status(False, reason)
        if self.reconnect:
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        if self._writer is not None and self._writer is not asyncio.current_task():
            self._writer.cancel()
        delay = RECONNECT_FIRST
        restored: set[str] = set()
        while not self._closing:
            with contextlib.suppress(Exception):
                await self._disconnect()
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, RECONNECT_MAX)
            try:
                await asyncio.wait_for(self._connect(), RECONNECT_MAX)
                restored = set(self._channels)
                if restored:
                    await self._subscribe(sorted(restored))
            except Exception as exc:
                logger.debug("reconnecting to %s failed: %s", self.url, exc)
                continue
            break
        if self._closing:
            return
        self.connected = True
        # While the subscriptions were being restored (not connected yet), set_subscribed() only
        # noted the channels wanted or no longer wanted: catch up with what changed meanwhile, or a
        # member who joined then would never get the topic (tests/cluster/test_faults.py).
        for channel in sorted(self._channels - restored):
            self._queue(("sub", channel, b"", False))
        for channel in sorted(restored - self._channels):
            self._queue(("unsub", channel, b"", False))
        self._writer = asyncio.get_running_loop().create_task(self._write())
        logger.warning("the %s broker at %s is back", self.name, self.url)
        self.on_status(True, "")
