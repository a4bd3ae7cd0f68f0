"""Named worker threads, like 4D's ``CALL WORKER``: calls run one at a time, in the order submitted.

Servers given the same ``worker`` name share one thread. A worker keeps its own event loop so that
``async def`` callbacks run there too, still one at a time. The thread stops when the last server
using it is terminated.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable

__all__ = ["Worker", "acquire_worker", "current_worker", "release_worker"]

logger = logging.getLogger("duplex")

_lock = threading.Lock()
_workers: dict[str, Worker] = {}
_current = threading.local()


def current_worker() -> Worker | None:
    """The worker whose thread is running this code, or None."""
    worker: Worker | None = getattr(_current, "worker", None)
    return worker


class Worker:
    """One named thread with a FIFO of calls."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.users = 0
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name=f"duplex-worker-{name}", daemon=True)
        self._thread.start()

    def submit(self, call: Callable[[], None]) -> None:
        """Queue ``call`` to run on the worker thread after everything queued before it."""
        self._queue.put(call)

    def is_current(self) -> bool:
        """Whether the calling code runs on this worker's thread."""
        return threading.current_thread() is self._thread

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The worker's own event loop (only used from the worker thread, for async callbacks)."""
        assert self._loop is not None
        return self._loop

    def stop(self) -> None:
        """Finish what is queued, then end the thread (does not wait when called from the worker)."""
        self._queue.put(None)
        if not self.is_current():
            self._thread.join(10)

    def _run(self) -> None:
        _current.worker = self
        self._loop = asyncio.new_event_loop()
        try:
            while True:
                call = self._queue.get()
                if call is None:
                    break
                try:
                    call()
                except Exception:  # a bug in duplex itself; callbacks' errors are caught earlier
                    logger.exception("worker %r: internal error", self.name)
        finally:
            self._loop.close()


def acquire_worker(name: str) -> Worker:
    """The worker called ``name``, started if needed; pair with :func:`release_worker`."""
    with _lock:
        worker = _workers.get(name)
        if worker is None:
            worker = _workers[name] = Worker(name)
        worker.users += 1
        return worker


def release_worker(worker: Worker) -> None:
    """One user fewer; the last one stops the thread."""
    with _lock:
        worker.users -= 1
        if worker.users > 0:
            return
        if _workers.get(worker.name) is worker:
            del _workers[worker.name]
    worker.stop()
