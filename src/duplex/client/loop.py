"""Where a 4D client lives: the loop of the caller, of a running web server, or of the client thread.

A ``duplex.WebSocket`` made on a thread that runs an event loop (a web server's callback, async
code) lives on that loop. One made elsewhere (a script, a worker thread) lives on the loop of a web
server running on its own background thread when there is one (the default web server first): the
program's server and client callbacks then share one thread, as in 4D, and need no locks between
them. Otherwise the first such client starts :func:`client_loop`, a daemon thread with its own loop
(uvloop where available), which every later one shares and which lasts as long as the process.

A client on a web server's loop is closed with 1001 when that web server stops (its ``onTerminate``
comes before ``stop()`` returns), as the server's own connections are.
"""

from __future__ import annotations

import asyncio
import threading

from ..server.web_server import WebServer, running_web_server

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


def loop_for_caller() -> tuple[asyncio.AbstractEventLoop, WebServer | None]:
    """The loop a client made here lives on, and the web server that loop belongs to (or None)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        server = running_web_server()
        if server is not None:
            try:
                return server.loop, server
            except RuntimeError:  # it stopped meanwhile
                pass
        return client_loop(), None
    return loop, running_web_server(loop)
