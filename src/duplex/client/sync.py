"""The blocking client, for scripts and tests: ``with duplex.connect_sync(url) as ws``.

::

    with duplex.connect_sync("ws://127.0.0.1:8080/ws") as ws:
        ws.send("hello")
        print(ws.recv(timeout=5))

A :class:`SyncClientConnection` is a :class:`~duplex.client.connection.ClientConnection` living on
the shared client loop (:mod:`duplex.client.loop`), each call handed to that loop and waited for:
the same engine, options and errors, from any thread that is not running an event loop itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine, Iterator
from types import TracebackType
from typing import Any, TypeVar

from .connection import ClientConnection, ConnectionClosed, checked
from .loop import client_loop

__all__ = ["SyncClientConnection", "connect_sync"]

T = TypeVar("T")


class SyncClientConnection:
    """A blocking client connection (made by :func:`connect_sync`)."""

    def __init__(self, connection: ClientConnection, loop: asyncio.AbstractEventLoop) -> None:
        self._connection = connection
        self._loop = loop

    def _call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"nothing within {timeout} s") from None

    @property
    def id(self) -> int:
        """See :attr:`ClientConnection.id`."""
        return self._connection.id

    @property
    def url(self) -> str:
        """The URL, as given."""
        return self._connection.url

    @property
    def status(self) -> str:
        """ "Connecting", "Connected", "Closing" or "Closed"."""
        return self._connection.status

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server chose, or None."""
        return self._connection.subprotocol

    @property
    def response_headers(self) -> list[tuple[str, str]]:
        """The 101 response's headers."""
        return self._connection.response_headers

    @property
    def close_code(self) -> int | None:
        """The close code once closed, else None."""
        return self._connection.close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason once closed, else None."""
        return self._connection.close_reason

    def send(self, message: Any) -> None:
        """Send one message (see :meth:`ClientConnection.send`); returns once it is handed to the socket.

        Raises:
            TypeError: the message cannot be sent.
            ConnectionClosed: the connection is closed or closing.
        """
        self._call(self._connection.send(message))

    def recv(self, timeout: float | None = None) -> Any:
        """The next message.

        Raises:
            TimeoutError: none came within ``timeout`` seconds (the connection stays open).
            ConnectionClosed: the connection closed and every message before the close was read.
        """
        return self._call(self._connection.recv(), timeout)

    def __iter__(self) -> Iterator[Any]:
        """The messages until the connection closes (normally: the loop ends; else it raises)."""
        while True:
            try:
                yield self.recv()
            except ConnectionClosed as closed:
                if closed.normal:
                    return
                raise

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close and wait until closed (see :meth:`ClientConnection.close`)."""
        self._call(self._connection.close(code, reason))

    def __enter__(self) -> SyncClientConnection:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SyncClientConnection {self.id} {self.url} {self.status}>"


def connect_sync(url: str, **options: Any) -> SyncClientConnection:
    """Open a client connection and wait until it is open (same options and errors as
    :func:`duplex.connect`).

    Raises:
        RuntimeError: called from a thread running an event loop (use ``await duplex.connect()``).
    """
    target, settings = checked(url, options)  # bad input raises here
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "connect_sync() would block the event loop running here: use await duplex.connect()"
        )
    loop = client_loop()

    async def open_here() -> ClientConnection:
        return await ClientConnection(url, target, settings)._open()

    future = asyncio.run_coroutine_threadsafe(open_here(), loop)
    return SyncClientConnection(future.result(), loop)
