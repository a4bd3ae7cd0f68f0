"""The ``event`` objects passed to callbacks: fields as attributes (``event.data``) and items (``event["data"]``)."""

from __future__ import annotations

from typing import Any

__all__ = ["Event", "Fields", "RequestInfo"]


class Fields(dict[str, Any]):
    """A dict whose keys are also attributes: ``fields.data`` is ``fields["data"]``."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


class RequestInfo(Fields):
    """4D's ``request`` object: ``headers``, ``query``, ``url``, ``remoteAddress``.

    ``headers`` looks names up case-insensitively; a header or query key given several times maps to
    the list of its values.
    """

    __slots__ = ()


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
