"""Which WebSocket endpoint takes an upgrade to a given path.

A route is an exact path ("/chat"), a prefix pattern ending in ``/*`` ("/rooms/*" matches
"/rooms/a" and "/rooms/a/b", and "/rooms" itself), or None, the catch-all. Exact beats prefix, a
longer prefix beats a shorter one, and the catch-all takes what nothing else matched.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["Router", "validate_route"]

T = TypeVar("T")


def validate_route(route: str | None) -> None:
    """Raise ``ValueError`` unless ``route`` is None or a path starting with "/"."""
    if route is None:
        return
    if not isinstance(route, str) or not route.startswith("/"):
        raise ValueError(f"path must be None or a string starting with '/', got {route!r}")
    if "?" in route or "#" in route:
        raise ValueError(f"path {route!r} must not contain '?' or '#': it is matched against the path only")
    if "*" in route[:-1] or (route.endswith("*") and not route.endswith("/*")):
        raise ValueError(f"path {route!r}: '*' is only allowed as a final '/*' (a prefix pattern)")


class Router(Generic[T]):
    """Maps request paths to endpoints."""

    def __init__(self) -> None:
        self._exact: dict[str, T] = {}
        self._prefixes: list[tuple[str, T]] = []  # (prefix without "/*", endpoint), longest first
        self._catch_all: T | None = None
        self._has_catch_all = False

    def add(self, route: str | None, endpoint: T) -> None:
        """Register ``endpoint`` at ``route``; ``ValueError`` if the route is taken."""
        validate_route(route)
        if route is None:
            if self._has_catch_all:
                raise ValueError("a WebSocket server without a path is already running on this web server")
            self._catch_all, self._has_catch_all = endpoint, True
        elif route.endswith("/*"):
            prefix = route[:-2]
            if any(p == prefix for p, _ in self._prefixes):
                raise ValueError(
                    f"a WebSocket server with path {route!r} is already running on this web server"
                )
            self._prefixes.append((prefix, endpoint))
            self._prefixes.sort(key=lambda item: len(item[0]), reverse=True)
        else:
            if route in self._exact:
                raise ValueError(
                    f"a WebSocket server with path {route!r} is already running on this web server"
                )
            self._exact[route] = endpoint

    def remove(self, route: str | None) -> None:
        """Forget ``route`` (no error if absent)."""
        if route is None:
            self._catch_all, self._has_catch_all = None, False
        elif route.endswith("/*"):
            self._prefixes = [(p, e) for p, e in self._prefixes if p != route[:-2]]
        else:
            self._exact.pop(route, None)

    def match(self, path: str) -> T | None:
        """The endpoint for ``path`` (no query string), or None."""
        endpoint = self.match_specific(path)
        return self._catch_all if endpoint is None else endpoint

    def match_specific(self, path: str) -> T | None:
        """The endpoint whose own path matches ``path``, leaving out the catch-all."""
        endpoint = self._exact.get(path)
        if endpoint is not None:
            return endpoint
        for prefix, candidate in self._prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return candidate
        return None

    def __bool__(self) -> bool:
        return bool(self._exact or self._prefixes or self._has_catch_all)
