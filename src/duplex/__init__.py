"""duplex: the 4D WebSocketServer API in Python, on an RFC 6455/7692 engine of its own.

::

    import duplex

    class UpperCase:
        def onMessage(self, ws, event):
            ws.send(event.data.upper())

    class Server:
        def onConnection(self, wss, event):
            return UpperCase()

    web = duplex.web_server()
    web.start({"HTTPPort": 8080})
    wss = duplex.WebSocketServer(Server(), {"path": "/ws", "dataType": "text"})
"""

from __future__ import annotations

from .errors import ErrorCode, Reject
from .events import Event, RequestInfo
from .web_server import WebServer, web_server
from .websocket_connection import WebSocketConnection
from .websocket_server import WebSocketServer

__version__ = "0.1.0"

__all__ = [
    "ErrorCode",
    "Event",
    "Reject",
    "RequestInfo",
    "WebServer",
    "WebSocketConnection",
    "WebSocketServer",
    "__version__",
    "web_server",
]
