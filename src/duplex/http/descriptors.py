"""Running out of file descriptors: noticed, and logged once per interval with the limit to raise.

Theory of operation
-------------------
Every connection holds a file descriptor. When the process has none left (``EMFILE``: ``ulimit -n``
reached; ``ENFILE``: the system's table is full), ``accept()`` fails, and neither event loop tells the
application in a useful way:

- asyncio's selector loop passes ``socket.accept() out of system resource`` to the loop's exception
  handler, stops accepting for a second and tries again. Its accept loop does not stop at the first
  failure, so it reports it up to ``backlog`` times per attempt (tens of thousands of ERROR lines
  with tracebacks in a few seconds, measured with a limit of 64).
- uvloop (libuv) says nothing at all: it closes a descriptor it keeps in reserve, accepts the
  waiting connections and closes them at once (libuv's ``uv__emfile_trick``), so clients see their
  connection closed and the server's log stays empty.

:class:`DescriptorWatch` replaces both with one ERROR line per ``interval`` that says what happened
and gives the current soft limit. It takes the asyncio reports from the loop's exception handler
(passing every other report on to the handler that was there before), and, since libuv reports
nothing, it looks: once a second it opens a descriptor and closes it again, which fails exactly when
an ``accept()`` would. Descriptors freed by closing clients make ``accept()`` work again on its own.

asyncio's retry is a timer per failed ``accept()``; one that fires after the server closed fails
with ``ValueError: Invalid file descriptor: -1`` (a traceback each, up to ``backlog`` of them). The
watch takes those too, and keeps the loop's handler until the last retry has run.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from asyncio.selector_events import BaseSelectorEventLoop
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["DescriptorWatch", "open_file_limit"]

logger = logging.getLogger("duplex")

_OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE})
_ACCEPT_FAILED = "socket.accept() out of system resource"  # asyncio's message (selector_events.py)
_PROBE_PERIOD = 1.0  # seconds between two looks, under loops that report nothing (uvloop)
_RETRY_DELAY = 1.0  # asyncio.constants.ACCEPT_RETRY_DELAY: when asyncio tries accept() again
_START_SERVING = getattr(BaseSelectorEventLoop, "_start_serving", None)  # what the retry timers call

ExceptionHandler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


def open_file_limit() -> int | None:
    """The soft limit on open file descriptors (``ulimit -n``), or None where there is none (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return None if soft == resource.RLIM_INFINITY else soft


class DescriptorWatch:
    """Notices the process running out of file descriptors while a server listens; logs it.

    Args:
        loop: the server's event loop.
        servers: the server's listeners (reports about other sockets pass through untouched).
        interval: the least number of seconds between two log lines.
        count_connections: how many connections the server has open, for the log line.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        servers: Sequence[asyncio.AbstractServer],
        interval: float,
        count_connections: Callable[[], int],
    ) -> None:
        self.loop = loop
        self.servers = list(servers)
        # uvloop's listeners list their sockets as well: what every loop's Server has in common.
        self.listening = {sock.fileno() for server in servers for sock in getattr(server, "sockets", ())}
        self.interval = interval
        self.count_connections = count_connections
        self.reports = 0  # log lines written
        self._last_report: float | None = None
        self._last_accept_failure: float | None = None  # asyncio's last report, for its retries
        self._previous_handler: ExceptionHandler | None = None
        self._installed = False
        self._probe: asyncio.TimerHandle | None = None
        # A probe is one open() of /dev/null: any file does, as long as opening it needs a descriptor.
        self._probe_path = os.devnull

    def start(self) -> None:
        """Take over the loop's accept-failure reports and start looking (on the loop's thread)."""
        self._previous_handler = self.loop.get_exception_handler()
        self.loop.set_exception_handler(self._handle_exception)
        self._installed = True
        if open_file_limit() is not None:
            self._probe = self.loop.call_later(_PROBE_PERIOD, self._look)

    def stop(self) -> None:
        """Stop looking, and give the loop its exception handler back once asyncio's last accept
        retry has run (at once if there is none pending)."""
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None
        if not self._installed:
            return
        if self._last_accept_failure is not None:
            # A margin after the retry timers: timers due at the same time run in no set order.
            wait = self._last_accept_failure + _RETRY_DELAY + 0.1 - self.loop.time()
            if wait > 0:
                self.loop.call_later(wait, self._give_back_handler)
                return
        self._give_back_handler()

    def _give_back_handler(self) -> None:
        if not self._installed:
            return
        self._installed = False
        # Another server may have put its own handler over ours since: leave that one in place
        # (ours, still below it, passes everything through once stopped).
        if self.loop.get_exception_handler() == self._handle_exception:
            self.loop.set_exception_handler(self._previous_handler)

    def out_of_descriptors(self, error: OSError) -> None:
        """Log that ``error`` (EMFILE or ENFILE) happened, unless a line was logged within ``interval``."""
        now = self.loop.time()
        if self._last_report is not None and now - self._last_report < self.interval:
            return
        self._last_report = now
        self.reports += 1
        limit = open_file_limit()
        connections = self.count_connections()
        if error.errno == errno.ENFILE:
            logger.error(
                "the system is out of file descriptors (ENFILE): new connections are refused while "
                "%d are open; raise the system-wide limit (sysctl fs.file-max) or lower maxConnections "
                "(at most one line every %g s)",
                connections,
                self.interval,
            )
            return
        logger.error(
            "out of file descriptors (EMFILE): new connections are refused while %d are open; the "
            "limit (ulimit -n) is %s: raise it (ulimit -n, LimitNOFILE= under systemd) or lower "
            "maxConnections (at most one line every %g s)",
            connections,
            "unknown" if limit is None else limit,
            self.interval,
        )

    def _handle_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        sock = context.get("socket")
        if (
            self._installed
            and context.get("message") == _ACCEPT_FAILED
            and isinstance(error, OSError)
            and error.errno in _OUT_OF_DESCRIPTORS
            and sock is not None
            and sock.fileno() in self.listening
        ):
            self._last_accept_failure = self.loop.time()
            self.out_of_descriptors(error)
            return
        if self._installed and isinstance(error, ValueError) and self._is_retry_after_close(context):
            return  # the server closed: nothing to retry, nothing to report
        if self._previous_handler is not None:
            self._previous_handler(loop, context)
        else:
            loop.default_exception_handler(context)

    def _is_retry_after_close(self, context: dict[str, Any]) -> bool:
        """Whether ``context`` reports one of asyncio's accept retries for our servers, run after
        they closed (asyncio's private callback and arguments: there is no public way to tell)."""
        handle = context.get("handle")
        callback = getattr(handle, "_callback", None)
        arguments: tuple[Any, ...] = getattr(handle, "_args", None) or ()
        return (
            getattr(callback, "__func__", None) is _START_SERVING
            and len(arguments) > 3
            and any(arguments[3] is server for server in self.servers)
        )

    def _look(self) -> None:
        self._probe = self.loop.call_later(_PROBE_PERIOD, self._look)
        try:
            descriptor = os.open(self._probe_path, os.O_RDONLY)
        except OSError as error:
            if error.errno in _OUT_OF_DESCRIPTORS:
                self.out_of_descriptors(error)
            return
        os.close(descriptor)
