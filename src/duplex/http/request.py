"""The request a client sent: what routing, static files and ``onConnection`` look at."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from urllib.parse import parse_qsl

__all__ = ["Headers", "Request"]


class Headers(Mapping[str, "str | list[str]"]):
    """Request headers with case-insensitive names.

    A header sent once maps to its value; a header sent several times maps to the list of its
    values, in order (4D's ``request.headers``). :meth:`get_all` always gives a list, and
    :meth:`get_one` the last value or None, for code that wants one shape.
    """

    __slots__ = ("_items", "_values")

    def __init__(
        self, items: Sequence[tuple[str, str]] = (), by_name: dict[str, list[str]] | None = None
    ) -> None:
        """``by_name``: the index of ``items`` (see :meth:`by_name`), when the caller built it while
        receiving them (the HTTP parser does: one pass over the headers instead of two)."""
        self._items = list(items)
        if by_name is None:
            by_name = {}
            for name, value in self._items:
                by_name.setdefault(name.lower(), []).append(value)
        self._values = by_name

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

    # A plain class rather than a dataclass: one is made per request, and this __init__ compiles to
    # C with the module, where a dataclass's generated __init__ stays Python (measured: 0.5 µs).
    __slots__ = ("headers", "http_version", "method", "path", "query_string", "remote_address", "url")

    def __init__(
        self,
        method: str,
        url: str,
        path: str,
        query_string: str,
        http_version: str,
        headers: Headers,
        remote_address: str,
    ) -> None:
        self.method = method
        self.url = url
        self.path = path
        self.query_string = query_string
        self.http_version = http_version
        self.headers = headers
        self.remote_address = remote_address

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url} HTTP/{self.http_version} from {self.remote_address}>"

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
