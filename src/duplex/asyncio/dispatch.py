"""Running user callbacks: sync or async, one at a time per connection, on the loop or a worker.

A :class:`CallbackRunner` belongs to one connection (or to one server, for its own callbacks). It
guarantees API.md's ordering rule: the next callback does not start before the previous one has
returned (and, if it was ``async def``, finished). Where the callbacks run:

- no worker: on the event loop thread. A plain function is called inline, the cheapest possible
  path (no task, no queue) when nothing is pending; a coroutine is awaited in a task while later
  calls wait in a queue.
- a worker: every call goes to the worker's FIFO thread, in order, coroutines included (run on the
  worker's own loop). Results come back to the event loop with ``call_soon_threadsafe``.

A callback that raises is logged, and the runner's ``on_exception`` hook may name a follow-up call
(the handler's ``onError``) to run next, in the same place, before anything queued after it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from types import CoroutineType, GeneratorType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import TypeIs

from .workers import Worker

__all__ = ["CallbackRunner", "Done", "FollowUp", "is_awaitable"]

logger = logging.getLogger("duplex")

Done = Callable[[Any, BaseException | None], None]
"""Called on the event loop with ``(result, None)`` or ``(None, exception)``."""

FollowUp = tuple[Callable[..., Any], tuple[Any, ...]] | None
"""What to call after a callback raised (typically ``onError``), or None."""


def is_awaitable(value: object) -> TypeIs[Awaitable[Any]]:
    """``inspect.isawaitable(value)``, with the common answers first: a coroutine, or an object
    whose type has ``__await__`` (a future, a task); everything else is not, unless it is a
    generator-based coroutine. ``inspect.isawaitable`` costs ~0.3 µs on a plain object (an ABC
    check), and every handshake and every callback's result asks."""
    kind = type(value)
    if kind is CoroutineType:
        return True
    if getattr(kind, "__await__", None) is not None:
        return True
    return kind is GeneratorType and inspect.isawaitable(value)


class CallbackRunner:
    """Runs callbacks in order, sync or async, on the loop or on a worker thread.

    Args:
        loop: the event loop the server runs on.
        worker: the worker to run on, or None for the loop thread.
        on_exception: given the exception and the callback's name, returns the follow-up call.
        backlog_limit: when more calls than this wait, ``on_backlog(True)`` is called (the
            connection pauses reading); ``on_backlog(False)`` once the queue is short again.
        owner: whose callbacks these are (a connection, a server): its ``repr`` goes in the log
            line of a callback that raised, so that the line says which one.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        worker: Worker | None,
        on_exception: Callable[[BaseException, str], FollowUp],
        on_backlog: Callable[[bool], None] | None = None,
        backlog_limit: int = 64,
        owner: object = None,
    ) -> None:
        self.loop = loop
        self.owner = owner
        self.worker = worker
        self.on_exception = on_exception
        self.on_backlog = on_backlog
        self.backlog_limit = backlog_limit
        # (callback, args, done, is_error_handler): an error handler that raises is only logged.
        self._queue: collections.deque[tuple[Callable[..., Any], tuple[Any, ...], Done | None, bool]] = (
            collections.deque()
        )
        self._busy = False
        self._paused = False
        # Counters for worker mode: each is written by one thread only (submitted by the loop,
        # completed by the worker), so their difference is a safe backlog reading without a lock.
        self._submitted = 0
        self._completed = 0

    def run(
        self, callback: Callable[..., Any] | None, args: tuple[Any, ...], done: Done | None = None
    ) -> None:
        """Call ``callback(*args)`` after everything submitted before; ``None`` callbacks are skipped
        (their ``done`` still comes after the calls submitted before). A call made from inside a
        running callback waits until that one has returned."""
        if self.worker is None and not self._busy and not self._queue:
            if callback is None:
                if done is not None:
                    done(None, None)
                return
            # The hot path (a message to a plain function with nothing pending): called right
            # here, one Python frame between the transport and the user's code. Busy meanwhile,
            # so that a run() from inside the callback (onError for a send it made) waits its turn.
            self._busy = True
            try:
                result = callback(*args)
            except Exception as exc:
                self._busy = False
                self._failed(exc, callback, done, False)
                return
            self._returned(result, callback, done)
            return
        if callback is None:
            callback = _skip  # keeps its place in line, so that its done comes in order
        if self.worker is not None:
            self._submit_to_worker(callback, args, done)
        else:
            self._queue.append((callback, args, done, False))
            if not self._paused and self.on_backlog is not None and len(self._queue) > self.backlog_limit:
                self._paused = True
                self.on_backlog(True)

    def run_pair(self, callback: Callable[..., Any] | None, first: Any, second: Any) -> None:
        """``run(callback, (first, second))``, the form of every connection callback. When the call
        can be made at once it is made without the tuple: a vectorcall instead of unpacking one
        (~200 instructions less per message, measured with ``benchmarks/instructions.py``)."""
        if callback is None or self.worker is not None or self._busy or self._queue:
            self.run(callback, (first, second))
            return
        self._busy = True
        try:
            result = callback(first, second)
        except Exception as exc:
            self._busy = False
            self._failed(exc, callback, None, False)
            return
        self._returned(result, callback, None)

    def _returned(self, result: Any, callback: Callable[..., Any], done: Done | None) -> None:
        # After a hot-path call: await what it returned, or free the runner for what waits.
        if result is not None and is_awaitable(result):
            self.loop.create_task(self._await(result, callback, done, False))
            return
        self._busy = False
        if done is not None:
            done(result, None)
        if self._queue:
            self._drain()

    @property
    def idle(self) -> bool:
        """Whether nothing is running or waiting."""
        if self.worker is not None:
            return self._submitted == self._completed
        return not self._busy and not self._queue

    # -- on the event loop ----------------------------------------------------------------------

    def _invoke(
        self, callback: Callable[..., Any], args: tuple[Any, ...], done: Done | None, is_error_handler: bool
    ) -> None:
        self._busy = True  # a run() from inside the callback queues behind it
        try:
            result = callback(*args)
        except Exception as exc:
            self._busy = False
            self._failed(exc, callback, done, is_error_handler)
            return
        if result is not None and is_awaitable(result):
            self.loop.create_task(self._await(result, callback, done, is_error_handler))
            return
        self._busy = False
        if done is not None:
            done(result, None)

    async def _await(
        self,
        awaitable: Awaitable[Any],
        callback: Callable[..., Any],
        done: Done | None,
        is_error_handler: bool,
    ) -> None:
        try:
            result = await awaitable
        except Exception as exc:
            self._busy = False
            self._failed(exc, callback, done, is_error_handler)
        else:
            self._busy = False
            if done is not None:
                done(result, None)
        self._drain()

    def _failed(
        self, exc: Exception, callback: Callable[..., Any], done: Done | None, is_error_handler: bool
    ) -> None:
        name = getattr(callback, "__name__", repr(callback))
        self._log_failure(name, exc)
        follow_up = None if is_error_handler else self.on_exception(exc, name)
        if follow_up is not None:
            # The error handler runs next, before anything queued after the failed call.
            self._queue.appendleft((follow_up[0], follow_up[1], None, True))
        if done is not None:
            done(None, exc)
        self._drain()

    def _log_failure(self, name: str, exc: BaseException) -> None:
        if self.owner is None:
            logger.error("callback %s raised %s: %s", name, type(exc).__name__, exc, exc_info=exc)
        else:
            logger.error(
                "callback %s of %r raised %s: %s", name, self.owner, type(exc).__name__, exc, exc_info=exc
            )

    def _drain(self) -> None:
        while self._queue and not self._busy:
            callback, args, done, is_error_handler = self._queue.popleft()
            self._invoke(callback, args, done, is_error_handler)
        if self._paused and self.on_backlog is not None and len(self._queue) <= self.backlog_limit // 2:
            self._paused = False
            self.on_backlog(False)

    # -- on a worker thread ----------------------------------------------------------------------

    def _submit_to_worker(
        self, callback: Callable[..., Any], args: tuple[Any, ...], done: Done | None
    ) -> None:
        worker = self.worker
        assert worker is not None
        self._submitted += 1
        if (
            not self._paused
            and self.on_backlog is not None
            and self._submitted - self._completed > self.backlog_limit
        ):
            self._paused = True
            self.on_backlog(True)
        worker.submit(lambda: self._run_in_worker(worker, callback, args, done))

    def _run_in_worker(
        self, worker: Worker, callback: Callable[..., Any], args: tuple[Any, ...], done: Done | None
    ) -> None:
        result, error = _call_here(worker, callback, args)
        if error is not None:
            name = getattr(callback, "__name__", repr(callback))
            self._log_failure(name, error)
            follow_up = self.on_exception(error, name)
            if follow_up is not None:
                _, follow_error = _call_here(worker, follow_up[0], follow_up[1])
                if follow_error is not None:
                    logger.error("error handler raised", exc_info=follow_error)
        self._completed += 1
        if done is not None:
            self._call_on_loop(done, result, error)
        if self._paused and self._submitted - self._completed <= self.backlog_limit // 2:
            self._call_on_loop(self._resume_after_backlog)

    def _resume_after_backlog(self) -> None:
        if self._paused and self.on_backlog is not None:
            self._paused = False
            self.on_backlog(False)

    def _call_on_loop(self, function: Callable[..., Any], *args: Any) -> None:
        # A closed loop means the server is gone and nobody waits for this any more.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(function, *args)


def _call_here(
    worker: Worker, callback: Callable[..., Any], args: tuple[Any, ...]
) -> tuple[Any, Exception | None]:
    """Call on the worker thread; coroutines run to completion on the worker's own loop."""
    try:
        result = callback(*args)
        if result is not None and is_awaitable(result):
            result = worker.loop.run_until_complete(_as_coroutine(result))
        return result, None
    except Exception as exc:
        return None, exc


def _skip(*args: Any) -> None:
    """Stands in for a callback the handler does not have."""


async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
