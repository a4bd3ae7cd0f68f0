"""duplex: the 4D WebSocketServer API in Python, on an RFC 6455/7692 engine of its own."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
