"""Option and setting keys: 4D's camelCase names, their snake_case aliases, and validation.

Every key may be given as in 4D (``dataType``, ``HTTPPort``) or the PEP 8 way (``data_type``,
``http_port``); both mean the same. An unknown key is a ``ValueError`` that lists the known ones,
so a typo never passes silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["check_number", "normalize", "snake_case"]

_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """``dataType`` -> ``data_type``, ``HTTPSPort`` -> ``https_port``, ``IPAddressToListen`` -> ``ip_address_to_listen``."""
    return _BOUNDARY.sub("_", name).lower()


def normalize(given: Mapping[str, Any] | None, known: Iterable[str], what: str) -> dict[str, Any]:
    """Map ``given``'s keys to their 4D names.

    Raises:
        TypeError: ``given`` is not a mapping.
        ValueError: a key is unknown, or given under both spellings.
    """
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise TypeError(f"{what} must be a dict, got {type(given).__name__}")
    names = list(known)
    aliases = {snake_case(name): name for name in names}
    aliases.update({name: name for name in names})
    result: dict[str, Any] = {}
    for key, value in given.items():
        name = aliases.get(key) if isinstance(key, str) else None
        if name is None:
            raise ValueError(f"unknown {what} key {key!r}; known keys: {', '.join(names)}")
        if name in result:
            raise ValueError(f"{what} key {name!r} given twice (as {name!r} and {snake_case(name)!r})")
        result[name] = value
    return result


def check_number(
    name: str,
    value: Any,
    *,
    minimum: float = 0,
    maximum: float | None = None,
    allow_none: bool = False,
    integer: bool = False,
    exclusive: bool = False,
) -> Any:
    """Return ``value`` if it is a number at or above ``minimum`` (above, if ``exclusive``) and at
    most ``maximum``.

    Raises:
        ValueError: with a message naming the option and what it accepts.
    """
    if value is None and allow_none:
        return None
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "an integer" if integer else "a number"
        also = " or None" if allow_none else ""
        raise ValueError(f"{name} must be {kind}{also}, got {value!r}")
    if value != value:  # NaN compares false with everything, so the range check below would pass it
        raise ValueError(f"{name} must be a number, got {value!r}")
    if maximum is not None and not minimum <= value <= maximum:
        raise ValueError(f"{name} must be between {minimum} and {maximum}, got {value!r}")
    if value < minimum or (exclusive and value == minimum):
        relation = "greater than" if exclusive else "at least"
        raise ValueError(f"{name} must be {relation} {minimum}, got {value!r}")
    return value
