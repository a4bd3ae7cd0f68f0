"""CORS for the static files (4D's ``CORSEnabled`` / ``CORSSettings``).

A rule is ``(host, methods)``: ``host`` is "*" (any origin), a full origin
("https://app.example.com:8443"), a host name ("app.example.com") or a wildcard host
("*.example.com"); ``methods`` lists the methods allowed ("GET,HEAD").
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

__all__ = ["allowed_methods", "cors_headers", "preflight_headers"]


def allowed_methods(rules: Sequence[tuple[str, str]], origin: str) -> str | None:
    """The methods the first matching rule allows ``origin``, or None if no rule matches."""
    try:
        hostname = urlsplit(origin).hostname or ""
    except ValueError:
        return None
    for host, methods in rules:
        if host in ("*", origin, hostname):
            return methods
        if host.startswith("*.") and hostname.endswith(host[1:]):
            return methods
    return None


def cors_headers(rules: Sequence[tuple[str, str]], origin: str | None) -> list[tuple[str, str]]:
    """The headers that let ``origin`` read a response, or none."""
    if origin is None or allowed_methods(rules, origin) is None:
        return []
    return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]


def preflight_headers(
    rules: Sequence[tuple[str, str]], origin: str | None, method: str | None, request_headers: str | None
) -> list[tuple[str, str]] | None:
    """The answer headers to a CORS preflight (an OPTIONS request), or None to refuse it."""
    if origin is None or method is None:
        return None
    methods = allowed_methods(rules, origin)
    if methods is None:
        return None
    allowed = {item.strip().upper() for item in methods.split(",") if item.strip()}
    if method.upper() not in allowed:
        return None
    headers = [
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Allow-Methods", ", ".join(sorted(allowed))),
        ("Access-Control-Max-Age", "600"),
        ("Vary", "Origin"),
    ]
    if request_headers:
        headers.append(("Access-Control-Allow-Headers", request_headers))
    return headers
