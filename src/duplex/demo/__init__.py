"""The built-in chat demo that ``duplex serve`` runs when no handler is given."""

from __future__ import annotations

from pathlib import Path

from .chat import ChatServer

__all__ = ["STATIC_FOLDER", "ChatServer"]

#: The demo page (index.html) served at "/".
STATIC_FOLDER = Path(__file__).parent / "static"
