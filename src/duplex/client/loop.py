"""The loop a client runs on when its creator has none: one background thread for every client.

A 4D ``WebSocket`` made on a thread that runs an event loop (a web server's callback, async code)
lives on that loop. One made elsewhere (a script, a worker thread) needs a loop to live on: the
first one starts :func:`client_loop`, a daemon thread with its own loop (uvloop where available),
which every later one shares and which lasts as long as the process. It belongs to no web server,
so stopping a web server never closes a client.
"""

from __future__ import annotations

import asyncio
import threading

__all__ = ["client_loop", "loop_for_caller"]

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def client_loop() -> asyncio.AbstractEventLoop:
    """The shared client loop, started on first use."""
    global _loop
    with _lock:
        if _loop is not None and not _loop.is_closed():
            return _loop
        try:
            import uvloop

            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        except ImportError:
            loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        threading.Thread(target=run, name="duplex-client", daemon=True).start()
        ready.wait()
        _loop = loop
        return loop


def loop_for_caller() -> asyncio.AbstractEventLoop:
    """The running loop of the calling thread, else the shared client loop."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return client_loop()
