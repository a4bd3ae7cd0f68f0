"""``duplex serve --workers N``: N worker processes on one port, kept running.

Each worker is ``duplex serve`` itself (the same arguments, plus a hidden ``--worker-index``): it
imports the handler module, binds the port with ``SO_REUSEPORT`` (the kernel spreads new connections
among the workers) and joins the broker, so that broadcasts and publishes reach the clients of every
worker. The supervisor here only starts, watches and stops them.

Decisions:

- The workers run in their own session, so a Ctrl-C in the terminal reaches the supervisor only; it
  sends each worker exactly one SIGTERM per signal it gets. The first closes every connection with
  1001 (``run_until_signal``), a second drops the ones that do not answer, as for one process.
- A worker that exits while the supervisor is not stopping is logged and started again, after a
  pause that doubles while it keeps failing (0.5 s up to 10 s) and starts over once a worker has
  run for a minute. A worker that fails before it is serving (a handler that does not import, a
  port in use, the broker unreachable) stops the whole start: every worker would fail the same way.
  Its one-line error is on stderr already; the supervisor exits 2.
- With ``--port 0`` the supervisor binds a free port first (with ``SO_REUSEPORT``, never listening
  on it) and gives that port to every worker: otherwise each would get a port of its own.
- A worker whose supervisor dies (even by SIGKILL, which cannot be passed on) stops by itself: it
  watches its parent process (:func:`watch_parent`).
- Readiness: a worker writes one line to its stdout once serving; the supervisor reads it from a
  pipe, and copies everything after it to its own stdout (so that a handler's ``print`` never fills
  the pipe).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

__all__ = ["Supervisor", "reserve_port", "watch_parent", "worker_command"]

logger = logging.getLogger("duplex")

#: Seconds a worker may take to start serving.
START_TIMEOUT = 60.0
#: Pauses before restarting a worker that exited: the first, the cap (doubling in between).
RESTART_FIRST = 0.5
RESTART_MAX = 10.0
#: A worker that ran this long resets the restart pause.
STABLE_AFTER = 60.0
#: Seconds the workers get to stop after the last signal before they are killed.
STOP_TIMEOUT = 60.0


def reserve_port(host: str) -> socket.socket:
    """A socket bound to a free port of ``host`` with ``SO_REUSEPORT``, not listening: the port stays
    taken for other programs while the workers bind it too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, 0))
    return sock


class _Worker:
    """One worker process and the thread that copies its output."""

    def __init__(self, index: int, argv: Sequence[str]) -> None:
        self.index = index
        self.ready = threading.Event()
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True
        )
        self._copier = threading.Thread(target=self._copy, name=f"duplex-worker-{index}-out", daemon=True)
        self._copier.start()

    def _copy(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        first = stdout.readline()
        if first:
            self.ready.set()
        for line in stdout:
            sys.stdout.buffer.write(line)
            sys.stdout.flush()

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)


class Supervisor:
    """Runs ``count`` workers from ``argv`` (the worker's command line without its index)."""

    def __init__(self, argv: Sequence[str], count: int) -> None:
        self.argv = list(argv)
        self.count = count
        self.workers: list[_Worker] = []
        self._signals = 0
        self._pauses = [RESTART_FIRST] * count

    def _start(self, index: int) -> _Worker:
        return _Worker(index, [*self.argv, "--worker-index", str(index)])

    def run(self, banner: str) -> int:
        """Start the workers, print ``banner`` once all serve, keep them up until a signal; the exit
        status."""
        caught: list[int] = []
        previous = {
            signum: signal.signal(signum, lambda signum, frame: caught.append(signum))
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.workers = [self._start(index) for index in range(self.count)]
            if not self._wait_ready(caught):
                if not caught:  # a worker failed: stop the others as a signal would
                    caught.append(signal.SIGTERM)
                self._stop_all(caught)
                return 2
            print(banner, flush=True)
            return self._watch(caught)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _wait_ready(self, caught: list[int]) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while not all(worker.ready.is_set() for worker in self.workers):
            if caught:
                return False
            for worker in self.workers:
                if worker.process.poll() is not None and not worker.ready.is_set():
                    # Its error line is on stderr already; the others would fail alike.
                    return False
            if time.monotonic() > deadline:
                print(f"duplex: error: the workers did not start within {START_TIMEOUT:g} s", file=sys.stderr)
                return False
            time.sleep(0.05)
        return True

    def _watch(self, caught: list[int]) -> int:
        restarts: dict[int, float] = {}  # worker index -> when to start it again
        while True:
            if caught:
                return self._stop_all(caught)
            now = time.monotonic()
            for worker in self.workers:
                status = worker.process.poll()
                if status is None or worker.index in restarts:
                    continue
                if now - worker.started >= STABLE_AFTER:
                    self._pauses[worker.index] = RESTART_FIRST
                pause = self._pauses[worker.index]
                self._pauses[worker.index] = min(pause * 2, RESTART_MAX)
                logger.warning(
                    "worker %d (pid %d) exited with %s; starting it again in %.1f s",
                    worker.index,
                    worker.process.pid,
                    _describe(status),
                    pause,
                )
                restarts[worker.index] = now + pause
            for index, when in list(restarts.items()):
                if now >= when:
                    del restarts[index]
                    self.workers[index] = self._start(index)
            time.sleep(0.05)

    def _stop_all(self, caught: list[int]) -> int:
        """Pass each signal on to the workers (one SIGTERM each), wait for them; the exit status."""
        passed = 0
        deadline = time.monotonic() + STOP_TIMEOUT
        while any(worker.process.poll() is None for worker in self.workers):
            while passed < len(caught):
                passed += 1
                deadline = time.monotonic() + STOP_TIMEOUT
                for worker in self.workers:
                    worker.signal(signal.SIGTERM)
            if time.monotonic() > deadline:
                for worker in self.workers:
                    worker.signal(signal.SIGKILL)
            time.sleep(0.05)
        statuses = [worker.process.returncode for worker in self.workers]
        return 0 if all(status == 0 for status in statuses) else 1


def watch_parent(interval: float = 0.5) -> None:
    """In a worker: stop (as SIGTERM does: connections closed with 1001) if the supervisor dies, even
    by SIGKILL, which it cannot pass on; the worker then has a new parent."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="duplex-parent-watch", daemon=True).start()


def _describe(status: int) -> str:
    if status < 0:
        try:
            return f"signal {signal.Signals(-status).name}"
        except ValueError:
            return f"signal {-status}"
    return f"status {status}"


def worker_command(argv: Sequence[str], port: int, tls_port: int) -> list[str]:
    """The worker's command line: ``duplex serve`` with the same arguments, one worker, the ports fixed
    (later options win in argparse)."""
    return [
        sys.executable,
        "-m",
        "duplex",
        *argv,
        "--workers",
        "1",
        "--port",
        str(port),
        "--tls-port",
        str(tls_port),
    ]


if os.name != "posix":  # pragma: no cover - SO_REUSEPORT and sessions are POSIX
    raise ImportError("duplex serve --workers needs a POSIX system (SO_REUSEPORT)")
