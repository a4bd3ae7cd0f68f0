"""The request a client sent: what routing, static files and ``onConnection`` look at."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

__all__ = ["Headers", "Request"]


class Headers(Mapping[str, "str | list[str]"]):
    """Request headers with case-insensitive names.

    A header sent once maps to its value; a header sent several times maps to the list of its
    values, in order (4D's ``request.headers``). :meth:`get_all` always gives a list, and
    :meth:`get_one` the last value or None, for code that wants one shape.
    """

    __slots__ = ("_items", "_values")

    def __init__(self, items: Sequence[tuple[str, str]] = ()) -> None:
        self._items = list(items)
        values: dict[str, list[str]] = {}
        for name, value in self._items:
            values.setdefault(name.lower(), []).append(value)
        self._values = values

    def __getitem__(self, name: str) -> str | list[str]:
        values = self._values[name.lower()]
        return values[0] if len(values) == 1 else list(values)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in the order received (empty if absent)."""
        return list(self._values.get(name.lower(), ()))

    def get_one(self, name: str) -> str | None:
        """The last value of ``name``, or None."""
        values = self._values.get(name.lower())
        return values[-1] if values else None

    def by_name(self) -> Mapping[str, list[str]]:
        """Lower-case name -> every value, in order: the index itself (read it, don't change it)."""
        return self._values

    def items_raw(self) -> list[tuple[str, str]]:
        """The ``(name, value)`` pairs exactly as received."""
        return list(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


# Not frozen: one is made per request, and a frozen dataclass's __init__ is measurably slower.
@dataclass(slots=True)
class Request:
    """One HTTP request head.

    Attributes:
        method: "GET", "HEAD", ...
        url: the raw request target, e.g. "/status?name=ryan".
        path: the target's path, still percent-encoded, without the query.
        query_string: the part after "?", without it ("" if none).
        http_version: "1.1" or "1.0".
        headers: the request headers.
        remote_address: the client's IP address.
    """

    method: str
    url: str
    path: str
    query_string: str
    http_version: str
    headers: Headers
    remote_address: str

    @property
    def query(self) -> dict[str, str | list[str]]:
        """The URL parameters; a key given several times maps to the list of its values."""
        query: dict[str, str | list[str]] = {}
        if not self.query_string:
            return query  # the common case, without parse_qsl's argument coercion
        for key, value in parse_qsl(self.query_string, keep_blank_values=True):
            previous = query.get(key)
            if previous is None:
                query[key] = value
            elif isinstance(previous, list):
                previous.append(value)
            else:
                query[key] = [previous, value]
        return query
