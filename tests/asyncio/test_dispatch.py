"""CallbackRunner on a real event loop: callbacks run one at a time in the order submitted, sync or
async, on the loop thread or on a worker thread.

What is tested: sync callbacks inline and in order; a later call waits for an earlier coroutine; an
exception runs the follow-up (onError) before anything queued after it, and an exception in the
follow-up is only logged; ``done`` gets the result or the exception; in worker mode calls and
coroutines run on the worker's thread, in order, and ``done`` comes back on the loop; the backlog
pauses past ``backlog_limit`` and resumes once drained; ``idle``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import types
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from duplex.asyncio.dispatch import CallbackRunner, FollowUp, is_awaitable
from duplex.asyncio.workers import Worker, acquire_worker, release_worker

TIMEOUT = 5.0


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


@pytest.fixture
def worker() -> Iterator[Worker]:
    """A worker of its own for this test (workers are process-wide, by name), released after."""
    worker = acquire_worker(f"test-dispatch-{uuid.uuid4().hex[:8]}")
    try:
        yield worker
    finally:
        release_worker(worker)


def run(loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, Any]) -> Any:
    return loop.run_until_complete(asyncio.wait_for(coroutine, TIMEOUT))


def no_follow_up(exc: BaseException, name: str) -> FollowUp:
    return None


class Log:
    """What the callbacks did, in order, with the thread each ran on."""

    def __init__(self) -> None:
        self.entries: list[str] = []
        self.threads: list[int] = []
        self._lock = threading.Lock()

    def add(self, entry: str) -> None:
        with self._lock:
            self.entries.append(entry)
            self.threads.append(threading.get_ident())

    def call(self, entry: str) -> Callable[[], str]:
        """A sync callback that logs ``entry`` and returns it."""

        def callback() -> str:
            self.add(entry)
            return entry

        callback.__name__ = f"call_{entry}"
        return callback


class Completion:
    """``done`` callbacks that record ``(name, result, error)`` and wake a waiting coroutine."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.results: list[tuple[str, Any, BaseException | None]] = []
        self.threads: list[int] = []
        self._changed = asyncio.Event()

    def done(self, name: str) -> Callable[[Any, BaseException | None], None]:
        def record(result: Any, error: BaseException | None) -> None:
            self.results.append((name, result, error))
            self.threads.append(threading.get_ident())
            self._changed.set()

        return record

    async def wait(self, count: int) -> None:
        while len(self.results) < count:
            self._changed.clear()
            await self._changed.wait()


# -- on the loop thread -----------------------------------------------------------------------------


def test_a_sync_callback_runs_inline_when_nothing_is_pending(loop: asyncio.AbstractEventLoop) -> None:
    runner = CallbackRunner(loop, None, no_follow_up)
    log = Log()
    got: list[tuple[Any, BaseException | None]] = []
    runner.run(log.call("a"), (), lambda result, error: got.append((result, error)))
    # Before run() returned, on this thread, with no loop iteration in between.
    assert log.entries == ["a"]
    assert log.threads == [threading.get_ident()]
    assert got == [("a", None)]
    assert runner.idle


def test_sync_callbacks_run_in_order_with_their_arguments(loop: asyncio.AbstractEventLoop) -> None:
    runner = CallbackRunner(loop, None, no_follow_up)
    seen: list[tuple[int, str]] = []
    for index in range(20):
        runner.run(lambda number, text: seen.append((number, text)), (index, f"#{index}"))
    assert seen == [(index, f"#{index}") for index in range(20)]


def test_a_later_call_waits_for_an_earlier_coroutine(loop: asyncio.AbstractEventLoop) -> None:
    log = Log()
    completion = Completion(loop)

    async def main() -> None:
        runner = CallbackRunner(loop, None, no_follow_up)
        release = asyncio.Event()

        async def slow() -> str:
            log.add("slow started")
            await release.wait()
            log.add("slow finished")
            return "slow result"

        runner.run(slow, (), completion.done("slow"))
        runner.run(log.call("sync"), (), completion.done("sync"))

        async def second_async() -> str:
            await asyncio.sleep(0)
            log.add("async 2")
            return "async 2 result"

        runner.run(second_async, (), completion.done("async 2"))
        runner.run(log.call("last"), (), completion.done("last"))
        for _ in range(5):
            await asyncio.sleep(0)
        assert log.entries == ["slow started"]
        assert not runner.idle
        release.set()
        await completion.wait(4)
        assert runner.idle

    run(loop, main())
    assert log.entries == ["slow started", "slow finished", "sync", "async 2", "last"]
    assert completion.results == [
        ("slow", "slow result", None),
        ("sync", "sync", None),
        ("async 2", "async 2 result", None),
        ("last", "last", None),
    ]
    assert set(log.threads) == {threading.get_ident()}


def test_an_exception_runs_the_follow_up_before_queued_calls(loop: asyncio.AbstractEventLoop) -> None:
    log = Log()
    completion = Completion(loop)
    failure = ValueError("boom")
    asked: list[tuple[BaseException, str]] = []

    def on_error(name: str, exc: BaseException) -> None:
        log.add(f"on_error({name}: {exc})")

    def follow_up(exc: BaseException, name: str) -> FollowUp:
        asked.append((exc, name))
        return on_error, (name, exc)

    def failing() -> None:
        log.add("failing")
        raise failure

    async def main() -> None:
        runner = CallbackRunner(loop, None, follow_up)
        release = asyncio.Event()

        async def first() -> None:
            await release.wait()
            log.add("first")

        runner.run(first, ())
        runner.run(failing, (), completion.done("failing"))
        runner.run(log.call("after"), (), completion.done("after"))
        release.set()
        await completion.wait(2)

    run(loop, main())
    assert log.entries == ["first", "failing", "on_error(failing: boom)", "after"]
    assert asked == [(failure, "failing")]
    assert completion.results == [("failing", None, failure), ("after", "after", None)]


def test_an_exception_on_the_inline_path_runs_the_follow_up_at_once(loop: asyncio.AbstractEventLoop) -> None:
    log = Log()

    def failing() -> None:
        raise KeyError("missing")

    runner = CallbackRunner(loop, None, lambda exc, name: (log.add, (f"on_error {name} {exc!r}",)))
    runner.run(failing, ())
    assert log.entries == ["on_error failing KeyError('missing')"]
    runner.run(log.call("next"), ())
    assert log.entries[-1] == "next"
    assert runner.idle


def test_a_failing_coroutine_gets_its_follow_up_before_the_next_call(loop: asyncio.AbstractEventLoop) -> None:
    log = Log()
    completion = Completion(loop)
    failure = RuntimeError("async boom")

    async def failing() -> None:
        await asyncio.sleep(0)
        log.add("failing")
        raise failure

    async def on_error(exc: BaseException) -> None:  # the follow-up may be a coroutine too
        await asyncio.sleep(0)
        log.add(f"on_error {exc}")

    async def main() -> None:
        runner = CallbackRunner(loop, None, lambda exc, name: (on_error, (exc,)))
        runner.run(failing, (), completion.done("failing"))
        runner.run(log.call("after"), (), completion.done("after"))
        await completion.wait(2)

    run(loop, main())
    assert log.entries == ["failing", "on_error async boom", "after"]
    assert completion.results == [("failing", None, failure), ("after", "after", None)]


def test_an_exception_in_the_follow_up_is_only_logged(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    log = Log()
    asked: list[str] = []

    def failing() -> None:
        raise ValueError("first failure")

    def on_error() -> None:
        log.add("on_error")
        raise RuntimeError("the error handler failed too")

    def follow_up(exc: BaseException, name: str) -> FollowUp:
        asked.append(name)
        return on_error, ()

    runner = CallbackRunner(loop, None, follow_up)
    with caplog.at_level(logging.ERROR, logger="duplex"):
        runner.run(failing, ())
        runner.run(log.call("after"), ())
    assert log.entries == ["on_error", "after"]
    assert asked == ["failing"]  # no follow-up for the follow-up
    messages = [record.getMessage() for record in caplog.records]
    assert "callback failing raised ValueError: first failure" in messages
    assert "callback on_error raised RuntimeError: the error handler failed too" in messages
    assert runner.idle


def test_a_none_callback_is_skipped_and_done_is_still_called(loop: asyncio.AbstractEventLoop) -> None:
    runner = CallbackRunner(loop, None, no_follow_up)
    got: list[tuple[Any, BaseException | None]] = []
    runner.run(None, ("ignored",), lambda result, error: got.append((result, error)))
    runner.run(None, ())
    assert got == [(None, None)]
    assert runner.idle


@pytest.mark.parametrize("mode", ["loop", "worker"])
def test_a_skipped_callbacks_done_waits_for_the_calls_before_it(
    loop: asyncio.AbstractEventLoop, mode: str
) -> None:
    order: list[str] = []
    gate = threading.Event()
    worker = acquire_worker(f"test-dispatch-{uuid.uuid4().hex[:8]}") if mode == "worker" else None

    async def main() -> None:
        runner = CallbackRunner(loop, worker, no_follow_up)
        finished = asyncio.Event()

        async def slow_async() -> None:  # on the loop: waits for the gate without blocking the loop
            while not gate.is_set():
                await asyncio.sleep(0.005)
            order.append("slow")

        def slow_sync() -> None:  # on the worker: blocks it
            assert gate.wait(TIMEOUT)
            order.append("slow")

        def done(result: Any, error: BaseException | None) -> None:
            order.append("done of the skipped callback")
            finished.set()

        runner.run(slow_sync if worker is not None else slow_async, ())
        runner.run(None, (), done)
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.wait_for(finished.wait(), TIMEOUT)
        while not runner.idle:
            await asyncio.sleep(0.005)

    try:
        run(loop, main())
    finally:
        gate.set()
        if worker is not None:
            release_worker(worker)
    assert order == ["slow", "done of the skipped callback"]


@pytest.mark.parametrize("path", ["inline", "drained"])
def test_a_call_made_from_inside_a_running_callback_waits_until_it_returns(
    loop: asyncio.AbstractEventLoop, path: str
) -> None:
    log = Log()

    async def main() -> None:
        runner = CallbackRunner(loop, None, no_follow_up)
        release = asyncio.Event()

        def on_error() -> None:
            log.add("on_error")

        def on_message() -> None:
            log.add("on_message start")
            runner.run(on_error, ())  # what a send() refused at the limit leads to
            log.add("on_message end")

        if path == "drained":  # on_message waits behind a coroutine, then runs from the queue

            async def earlier() -> None:
                await release.wait()

            runner.run(earlier, ())
        runner.run(on_message, ())
        release.set()
        while not runner.idle:
            await asyncio.sleep(0)

    run(loop, main())
    assert log.entries == ["on_message start", "on_message end", "on_error"]


def test_a_callback_returning_a_future_is_awaited_before_the_next_call(
    loop: asyncio.AbstractEventLoop,
) -> None:
    log = Log()
    completion = Completion(loop)

    async def main() -> None:
        runner = CallbackRunner(loop, None, no_follow_up)
        future: asyncio.Future[str] = loop.create_future()
        runner.run(lambda: future, (), completion.done("future"))  # a plain function, an awaitable result
        runner.run(log.call("next"), (), completion.done("next"))
        await asyncio.sleep(0)
        assert log.entries == []
        future.set_result("resolved")
        await completion.wait(2)

    run(loop, main())
    assert completion.results == [("future", "resolved", None), ("next", "next", None)]


def test_is_awaitable_answers_as_inspect_does(loop: asyncio.AbstractEventLoop) -> None:
    class Awaitable:
        def __await__(self) -> Iterator[None]:
            yield None

    async def native() -> None:
        pass

    @types.coroutine
    def generator_based() -> Iterator[None]:
        yield None

    def plain_generator() -> Iterator[None]:
        yield None

    coroutine = native()
    generator_coroutine = generator_based()
    generator = plain_generator()
    future = loop.create_future()
    try:
        values: list[object] = [coroutine, generator_coroutine, future, Awaitable()]
        values += [generator, None, 1, "text", b"bytes", [], {}, object(), native, Awaitable]
        assert [is_awaitable(value) for value in values] == [inspect.isawaitable(value) for value in values]
        assert [is_awaitable(value) for value in values[:4]] == [True] * 4
    finally:
        coroutine.close()
        generator_coroutine.close()
        generator.close()


# -- backlog ----------------------------------------------------------------------------------------


def test_the_backlog_pauses_past_the_limit_and_resumes_once_drained(loop: asyncio.AbstractEventLoop) -> None:
    backlog: list[bool] = []
    log = Log()

    async def main() -> None:
        runner = CallbackRunner(loop, None, no_follow_up, backlog.append, backlog_limit=4)
        release = asyncio.Event()

        async def blocker() -> None:
            await release.wait()

        runner.run(blocker, ())
        for index in range(4):
            runner.run(log.call(str(index)), ())
        assert backlog == []  # four waiting: at the limit, not past it
        runner.run(log.call("4"), ())
        assert backlog == [True]
        runner.run(log.call("5"), ())
        assert backlog == [True]  # reported once
        release.set()
        while not runner.idle:
            await asyncio.sleep(0)

    run(loop, main())
    assert backlog == [True, False]
    assert log.entries == [str(index) for index in range(6)]


def test_without_on_backlog_a_long_queue_is_just_run(loop: asyncio.AbstractEventLoop) -> None:
    log = Log()

    async def main() -> None:
        runner = CallbackRunner(loop, None, no_follow_up, backlog_limit=1)
        release = asyncio.Event()

        async def blocker() -> None:
            await release.wait()

        runner.run(blocker, ())
        for index in range(10):
            runner.run(log.call(str(index)), ())
        release.set()
        while not runner.idle:
            await asyncio.sleep(0)

    run(loop, main())
    assert log.entries == [str(index) for index in range(10)]


# -- on a worker thread -----------------------------------------------------------------------------


def test_worker_mode_runs_calls_and_coroutines_on_the_worker_in_order(
    loop: asyncio.AbstractEventLoop, worker: Worker
) -> None:
    log = Log()
    completion = Completion(loop)
    loops: list[asyncio.AbstractEventLoop] = []

    async def coroutine_callback(text: str) -> str:
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(0.01)
        log.add(text)
        return text.upper()

    async def main() -> None:
        runner = CallbackRunner(loop, worker, no_follow_up)
        for index in range(10):
            runner.run(log.call(f"sync {index}"), (), completion.done(f"sync {index}"))
            runner.run(coroutine_callback, (f"async {index}",), completion.done(f"async {index}"))
        await completion.wait(20)
        assert runner.idle

    run(loop, main())
    expected = [entry for index in range(10) for entry in (f"sync {index}", f"async {index}")]
    assert log.entries == expected
    worker_thread = {thread.ident for thread in threading.enumerate() if thread.name.endswith(worker.name)}
    assert set(log.threads) == worker_thread
    assert threading.get_ident() not in log.threads
    assert loops == [worker.loop] * 10
    # done comes back on the event loop's thread, in order, with each result.
    assert set(completion.threads) == {threading.get_ident()}
    assert [name for name, _, _ in completion.results] == expected
    assert completion.results[1] == ("async 0", "ASYNC 0", None)


def test_worker_mode_runs_the_follow_up_on_the_worker_before_the_next_call(
    loop: asyncio.AbstractEventLoop, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    log = Log()
    completion = Completion(loop)
    failure = ValueError("on the worker")

    def failing() -> None:
        log.add("failing")
        raise failure

    def on_error(exc: BaseException) -> None:
        log.add(f"on_error {exc}")
        raise RuntimeError("and the handler too")

    async def main() -> None:
        runner = CallbackRunner(loop, worker, lambda exc, name: (on_error, (exc,)))
        runner.run(failing, (), completion.done("failing"))
        runner.run(log.call("after"), (), completion.done("after"))
        await completion.wait(2)

    with caplog.at_level(logging.ERROR, logger="duplex"):
        run(loop, main())
    assert log.entries == ["failing", "on_error on the worker", "after"]
    assert len(set(log.threads)) == 1 and log.threads[0] != threading.get_ident()
    assert completion.results == [("failing", None, failure), ("after", "after", None)]
    messages = [record.getMessage() for record in caplog.records]
    assert "callback failing raised ValueError: on the worker" in messages
    assert "error handler raised" in messages


def test_worker_mode_backlog_pauses_and_resumes_on_the_loop(
    loop: asyncio.AbstractEventLoop, worker: Worker
) -> None:
    backlog: list[tuple[bool, int]] = []
    gate = threading.Event()
    log = Log()

    def blocker() -> None:
        assert gate.wait(TIMEOUT)

    async def main() -> None:
        resumed = asyncio.Event()

        def on_backlog(paused: bool) -> None:
            backlog.append((paused, threading.get_ident()))
            if not paused:
                resumed.set()

        runner = CallbackRunner(loop, worker, no_follow_up, on_backlog, backlog_limit=3)
        runner.run(blocker, ())
        for index in range(3):
            runner.run(log.call(str(index)), ())
            assert backlog == ([] if index < 2 else [(True, threading.get_ident())])
        assert not runner.idle
        gate.set()
        await asyncio.wait_for(resumed.wait(), TIMEOUT)
        while not runner.idle:
            await asyncio.sleep(0.005)

    run(loop, main())
    assert [paused for paused, _ in backlog] == [True, False]
    assert {thread for _, thread in backlog} == {threading.get_ident()}  # both on the loop thread
    assert log.entries == ["0", "1", "2"]


def test_idle_in_worker_mode_counts_calls_still_on_the_worker(
    loop: asyncio.AbstractEventLoop, worker: Worker
) -> None:
    gate = threading.Event()
    runner = CallbackRunner(loop, worker, no_follow_up)
    assert runner.idle
    runner.run(lambda: gate.wait(TIMEOUT), ())
    runner.run(lambda: None, ())
    assert not runner.idle
    gate.set()

    async def until_idle() -> None:
        while not runner.idle:
            await asyncio.sleep(0.005)

    run(loop, until_idle())
    assert runner.idle
