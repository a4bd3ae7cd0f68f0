"""The ``event`` objects passed to callbacks: fields as attributes (``event.data``) and items (``event["data"]``)."""

from __future__ import annotations

from operator import itemgetter
from typing import Any

__all__ = [
    "ConnectionEvent",
    "ErrorEvent",
    "Event",
    "Fields",
    "MessageEvent",
    "MissingField",
    "RequestInfo",
    "TerminateEvent",
]


class MissingField(KeyError, AttributeError):
    """A field the event does not have: a ``KeyError`` for ``event["name"]``, an ``AttributeError``
    for ``event.name`` (so ``hasattr()`` and ``getattr(event, name, default)`` work)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Fields(dict[str, Any]):
    """A dict whose keys are also attributes: ``fields.data`` is ``fields["data"]``."""

    __slots__ = ()

    def __missing__(self, name: str) -> Any:
        # Reached by the declared fields' itemgetter too, so that they fail the same way.
        raise MissingField(f"{type(self).__name__} has no field {name!r}")

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


def _field(name: str) -> Any:
    """A read-only attribute for the item ``name``.

    ``property(itemgetter(...))`` runs no Python code on access: ``event.data`` in a user's
    ``onMessage`` costs a tenth of what a ``__getattr__`` fallback does (measured). Each event class
    declares only the fields it always has, so such an access never meets a missing key.
    """
    return property(itemgetter(name), doc=f"The {name!r} field.")


class RequestInfo(Fields):
    """4D's ``request`` object: ``headers``, ``query``, ``url``, ``remoteAddress``.

    ``headers`` looks names up case-insensitively; a header or query key given several times maps to
    the list of its values.
    """

    __slots__ = ()
    headers = _field("headers")
    query = _field("query")
    url = _field("url")
    remoteAddress = _field("remoteAddress")


class Event(Fields):
    """One callback's event: ``type`` plus the fields of that type.

    ============  ==================================================================
    type          fields
    ============  ==================================================================
    "connection"  ``request``
    "open"        (none)
    "message"     ``data`` (per the server's ``dataType``)
    "terminate"   ``code``, ``reason`` (connection events); none for the server
    "error"       ``errors`` (a list of ``{"errCode", "message", "componentSignature"}``,
                  most recent first), ``exception`` (the Python exception or None)
    ============  ==================================================================

    It is a ``dict``, so it prints, compares and serialises like one.
    """

    __slots__ = ()
    type = _field("type")


class ConnectionEvent(Event):
    """``onConnection``'s event: ``type`` "connection", ``request``."""

    __slots__ = ()
    request = _field("request")


class MessageEvent(Event):
    """``onMessage``'s event: ``type`` "message", ``data``."""

    __slots__ = ()
    data = _field("data")


class TerminateEvent(Event):
    """A connection's ``onTerminate`` event: ``type`` "terminate", ``code``, ``reason``."""

    __slots__ = ()
    code = _field("code")
    reason = _field("reason")


class ErrorEvent(Event):
    """``onError``'s event: ``type`` "error", ``errors``, ``exception``."""

    __slots__ = ()
    errors = _field("errors")
    exception = _field("exception")
