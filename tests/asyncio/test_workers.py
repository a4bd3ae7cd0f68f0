"""Named worker threads: one thread per name, shared by its users and stopped with the last one;
calls run one at a time in the order submitted; current_worker() tells a worker's code where it runs;
a failing call is logged and the worker goes on; coroutines run on the worker's own event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from duplex.asyncio.workers import Worker, acquire_worker, current_worker, release_worker

TIMEOUT = 5.0


def unique_name() -> str:
    """A worker name no other test uses (workers are process-wide)."""
    return f"test-workers-{uuid.uuid4().hex[:8]}"


def threads_named(name: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == f"duplex-worker-{name}"]


@pytest.fixture
def worker() -> Iterator[Worker]:
    worker = acquire_worker(unique_name())
    try:
        yield worker
    finally:
        release_worker(worker)


def on_worker(worker: Worker, function: Callable[[], object]) -> object:
    """Run ``function`` on ``worker`` and return its result (bounded)."""
    results: list[object] = []
    finished = threading.Event()

    def call() -> None:
        try:
            results.append(function())
        finally:
            finished.set()

    worker.submit(call)
    assert finished.wait(TIMEOUT), "the worker did not run the call in time"
    assert results, "the call raised"
    return results[0]


def test_the_same_name_shares_one_thread() -> None:
    name = unique_name()
    first = acquire_worker(name)
    second = acquire_worker(name)
    other = acquire_worker(unique_name())
    try:
        assert first is second
        assert first.users == 2
        assert len(threads_named(name)) == 1
        assert on_worker(first, threading.get_ident) == on_worker(second, threading.get_ident)
        assert on_worker(other, threading.get_ident) != on_worker(first, threading.get_ident)
    finally:
        release_worker(first)
        release_worker(second)
        release_worker(other)


def test_releasing_the_last_user_stops_the_thread() -> None:
    name = unique_name()
    worker = acquire_worker(name)
    acquire_worker(name)
    release_worker(worker)
    assert worker.users == 1
    assert len(threads_named(name)) == 1
    assert on_worker(worker, lambda: "still running") == "still running"
    release_worker(worker)
    assert worker.users == 0
    assert threads_named(name) == []  # stop() joined the thread
    assert worker.loop.is_closed()
    # The name is free again: a new thread, not the stopped one.
    again = acquire_worker(name)
    try:
        assert again is not worker
        assert on_worker(again, lambda: "new thread") == "new thread"
    finally:
        release_worker(again)


def test_stopping_finishes_the_calls_already_queued() -> None:
    worker = acquire_worker(unique_name())
    done: list[int] = []
    for index in range(5):
        worker.submit(lambda index=index: (time.sleep(0.02), done.append(index)))
    release_worker(worker)  # returns once the thread ended
    assert done == [0, 1, 2, 3, 4]


def test_the_last_release_from_the_worker_itself_does_not_wait_for_itself() -> None:
    name = unique_name()
    worker = acquire_worker(name)
    released = threading.Event()

    def release_here() -> None:
        release_worker(worker)
        released.set()

    started = time.monotonic()
    worker.submit(release_here)
    assert released.wait(TIMEOUT)
    assert time.monotonic() - started < 2.0  # no join on its own thread (that would wait 10 s)
    deadline = time.monotonic() + TIMEOUT
    while threads_named(name) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threads_named(name) == []


def test_current_worker_is_the_worker_inside_and_none_outside(worker: Worker) -> None:
    assert current_worker() is None
    assert not worker.is_current()
    assert on_worker(worker, current_worker) is worker
    assert on_worker(worker, worker.is_current) is True
    seen_from_a_plain_thread: list[object] = []
    thread = threading.Thread(target=lambda: seen_from_a_plain_thread.append(current_worker()))
    thread.start()
    thread.join(TIMEOUT)
    assert seen_from_a_plain_thread == [None]


def test_calls_run_one_at_a_time_in_submission_order(worker: Worker) -> None:
    order: list[int] = []
    running = [0]
    overlaps: list[int] = []
    finished = threading.Event()

    def call(index: int) -> None:
        running[0] += 1
        if running[0] > 1:
            overlaps.append(index)
        time.sleep(0.001)
        order.append(index)
        running[0] -= 1
        if index == 199:
            finished.set()

    submitters = [
        threading.Thread(
            target=lambda start=start: [worker.submit(lambda i=i: call(i)) for i in range(start, start + 100)]
        )
        for start in (0, 100)
    ]
    # Two submitting threads, one after the other: the order is the order of submission.
    for thread in submitters:
        thread.start()
        thread.join(TIMEOUT)
    assert finished.wait(TIMEOUT)
    assert order == list(range(200))
    assert overlaps == []


def test_an_exception_in_a_call_is_logged_and_the_worker_goes_on(
    worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    def failing() -> None:
        raise RuntimeError("internal failure")

    with caplog.at_level(logging.ERROR, logger="duplex"):
        worker.submit(failing)
        assert on_worker(worker, lambda: "after") == "after"
    records = [record for record in caplog.records if record.name == "duplex"]
    assert [record.getMessage() for record in records] == [f"worker {worker.name!r}: internal error"]
    assert records[0].exc_info is not None
    assert isinstance(records[0].exc_info[1], RuntimeError)


def test_coroutines_run_on_the_workers_own_loop(worker: Worker) -> None:
    async def job(value: int) -> tuple[asyncio.AbstractEventLoop, int, int]:
        await asyncio.sleep(0.01)
        return asyncio.get_running_loop(), threading.get_ident(), value * 2

    def run_job() -> object:
        return [worker.loop.run_until_complete(job(value)) for value in (1, 2)]

    results = on_worker(worker, run_job)
    worker_thread = on_worker(worker, threading.get_ident)
    assert results == [(worker.loop, worker_thread, 2), (worker.loop, worker_thread, 4)]
    assert not worker.loop.is_closed()
    assert not worker.loop.is_running()  # only while a coroutine runs
