"""The ASGI ``lifespan`` protocol: the application's startup before the server takes requests, its
shutdown after the last one.

An application that does not speak it (it raises at once, or returns, without answering
``lifespan.startup``) is served without: that is how the specification says a server finds out.
``lifespan.startup.failed`` stops the start with the application's message; so does an exception
once the application has read the startup event (Starlette sends ``failed`` and raises).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .types import ASGIApp, Message

__all__ = ["Lifespan", "LifespanFailed"]

logger = logging.getLogger("duplex")

#: Seconds the application's shutdown may take before it is cancelled.
SHUTDOWN_TIMEOUT = 10.0


class LifespanFailed(Exception):
    """The application's startup (or shutdown) failed; the message is the application's."""


class Lifespan:
    """Runs one application's lifespan: :meth:`startup`, then :meth:`shutdown`.

    Args:
        app: the ASGI application.
        state: the dict the application fills at startup, copied into every request's scope.
    """

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state
        self.supported = True
        self._events: asyncio.Queue[Message] = asyncio.Queue()
        self._answer: asyncio.Future[Message] | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = False  # the application read lifespan.startup

    async def startup(self) -> None:
        """Run the application's startup.

        Raises:
            LifespanFailed: the application said ``lifespan.startup.failed``, or raised after
                reading the startup event.
        """
        loop = asyncio.get_running_loop()
        self._answer = loop.create_future()
        self._task = loop.create_task(self._run())
        self._task.add_done_callback(_retrieved)
        await self._events.put({"type": "lifespan.startup"})
        await asyncio.wait((self._answer, self._task), return_when=asyncio.FIRST_COMPLETED)
        if self._answer.done():
            message = self._answer.result()
            if message["type"] == "lifespan.startup.failed":
                raise LifespanFailed(message.get("message") or "the application's startup failed")
            return
        # The task ended without answering: unsupported, unless it got as far as the startup.
        error = self._task.exception()
        if self._started and error is not None:
            raise LifespanFailed(f"the application's startup raised {error!r}") from error
        self.supported = False
        logger.info("the ASGI application does not support lifespan: it runs without startup and shutdown")

    async def shutdown(self) -> None:
        """Run the application's shutdown (at most :data:`SHUTDOWN_TIMEOUT` seconds); failures are
        logged, not raised: the server stops anyway."""
        task = self._task
        if not self.supported or task is None or task.done():
            return
        self._answer = asyncio.get_running_loop().create_future()
        await self._events.put({"type": "lifespan.shutdown"})
        done, _ = await asyncio.wait((self._answer, task), timeout=SHUTDOWN_TIMEOUT)
        if not done:
            logger.error("the ASGI application's shutdown took over %s s: cancelled", SHUTDOWN_TIMEOUT)
            task.cancel()
            return
        if self._answer.done() and self._answer.result()["type"] == "lifespan.shutdown.failed":
            logger.error(
                "the ASGI application's shutdown failed: %s", self._answer.result().get("message", "")
            )
        elif task.done() and not task.cancelled() and task.exception() is not None:
            logger.error("the ASGI application's shutdown raised", exc_info=task.exception())

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        await self.app(scope, self._receive, self._send)

    async def _receive(self) -> Message:
        message = await self._events.get()
        if message["type"] == "lifespan.startup":
            self._started = True
        return message

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if kind not in (
            "lifespan.startup.complete",
            "lifespan.startup.failed",
            "lifespan.shutdown.complete",
            "lifespan.shutdown.failed",
        ):
            raise RuntimeError(f"unexpected ASGI lifespan message {kind!r}")
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(message)


def _retrieved(task: asyncio.Task[None]) -> None:
    """Mark the task's exception as seen: :meth:`Lifespan.startup` and :meth:`Lifespan.shutdown`
    report it, and a failed startup raises again after saying so (Starlette does)."""
    if not task.cancelled():
        task.exception()
