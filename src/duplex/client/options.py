"""What a client connects to and how: the URL, read once, and the options, checked once.

Every option may be given in 4D's camelCase or the PEP 8 spelling (``maxMessageSize`` or
``max_message_size``); an unknown one is a ``ValueError`` that lists the known ones, and a bad value
one that says what is accepted, before anything is connected.
"""

from __future__ import annotations

import base64
import ssl as ssl_module
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..asyncio.client import DeflateSettings, check_request
from ..asyncio.websocket_protocol import WebSocketSettings
from ..server.options import check_number, normalize
from ..server.websocket_server import DATA_TYPES

__all__ = ["DEFAULTS", "ClientOptions", "Target", "parse_url", "read_options"]

#: Every option and its default (docs/api.md, "The client").
DEFAULTS: dict[str, Any] = {
    "dataType": "text",
    "headers": None,
    "subprotocols": (),
    "compression": True,
    "maxMessageSize": 16 * 1024 * 1024,
    "openTimeout": 10.0,
    "closeTimeout": 10.0,
    "pingInterval": 20.0,
    "pingTimeout": None,
    "ssl": None,
    "reconnect": False,
    "worker": None,
}

_FORMS = "ws://host[:port][/path][?query] or wss://host[:port][/path][?query]"


@dataclass(frozen=True)
class Target:
    """A parsed ``ws://`` or ``wss://`` URL.

    Attributes:
        secure: ``wss://``.
        host: the host name (IDNA-encoded) or IP address, IPv6 without brackets.
        port: the port, the scheme's default (80, 443) when the URL has none.
        resource: path and query, sent in the request line (``/`` at least).
        authorization: a ``Basic`` credential from ``user:password@`` in the URL, else None.
    """

    secure: bool
    host: str
    port: int
    resource: str
    authorization: str | None = None


def parse_url(url: object) -> Target:
    """Read a WebSocket URL (RFC 6455 section 3).

    Raises:
        TypeError: ``url`` is not a str.
        ValueError: it is not ``ws://`` or ``wss://`` with a host, its port is not 1-65535, or it
            has a fragment.
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str ({_FORMS}), got {type(url).__name__}")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid WebSocket URL {url!r} ({exc}); use {_FORMS}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        hint = " (http:// and https:// are ws:// and wss:// here)" if scheme in ("http", "https") else ""
        raise ValueError(f"invalid WebSocket URL {url!r}: use {_FORMS}{hint}")
    if not parts.hostname:
        raise ValueError(f"invalid WebSocket URL {url!r}: no host; use {_FORMS}")
    if parts.fragment or url.endswith("#"):
        raise ValueError(
            f"invalid WebSocket URL {url!r}: a WebSocket URL has no #fragment (RFC 6455 section 3)"
        )
    if port == 0:
        raise ValueError(f"invalid WebSocket URL {url!r}: port must be 1-65535")
    secure = scheme == "wss"
    host = parts.hostname
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(
                f"invalid WebSocket URL {url!r}: host {parts.hostname!r} is not a valid name"
            ) from None
    resource = urllib.parse.quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        resource += "?" + urllib.parse.quote(parts.query, safe="/?%:@!$&'()*+,;=-._~")
    authorization = None
    if parts.username is not None:
        credentials = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(credentials.encode()).decode("ascii")
    return Target(secure, host, port or (443 if secure else 80), resource, authorization)


@dataclass(frozen=True)
class ClientOptions:
    """Checked options: what the transport needs, in its own terms."""

    data_type: str
    headers: tuple[tuple[str, str], ...]
    subprotocols: tuple[str, ...]
    compression: Any
    open_timeout: float | None
    settings: WebSocketSettings
    ssl: ssl_module.SSLContext | None
    reconnect: int  # attempts in a row after a loss: 0 none, -1 no limit
    worker: str | None


def read_options(
    given: Mapping[str, Any], target: Target, base: Mapping[str, Any] | None = None
) -> ClientOptions:
    """Check ``given`` (4D or PEP 8 keys) over ``base`` (the same, e.g. a handler's options or a
    face's own defaults) over :data:`DEFAULTS`.

    Raises:
        ValueError, TypeError: an unknown key, or a value that is not accepted (the message says
            what is).
    """
    options = {
        **DEFAULTS,
        **normalize(base, DEFAULTS, "client option"),
        **normalize(given, DEFAULTS, "client option"),
    }
    data_type = options["dataType"]
    if data_type not in DATA_TYPES:
        raise ValueError(f"dataType must be one of {', '.join(map(repr, DATA_TYPES))}, got {data_type!r}")
    max_size = check_number("maxMessageSize", options["maxMessageSize"], integer=True, minimum=1)
    open_timeout = check_number("openTimeout", options["openTimeout"], allow_none=True, exclusive=True)
    close_timeout = check_number("closeTimeout", options["closeTimeout"], exclusive=True)
    ping_interval = check_number("pingInterval", options["pingInterval"], allow_none=True)
    ping_timeout = check_number("pingTimeout", options["pingTimeout"], allow_none=True, exclusive=True)
    subprotocols = options["subprotocols"]
    if isinstance(subprotocols, str):
        subprotocols = (subprotocols,)
    if not isinstance(subprotocols, Sequence) or not all(isinstance(item, str) for item in subprotocols):
        raise TypeError(f"subprotocols must be a list of str, got {subprotocols!r}")
    compression = options["compression"]
    if not isinstance(compression, (bool, DeflateSettings)):
        raise TypeError(f"compression must be True, False or DeflateSettings, got {compression!r}")
    context = options["ssl"]
    if context is not None and not isinstance(context, ssl_module.SSLContext):
        raise TypeError(
            f"ssl must be an ssl.SSLContext or None, got {type(context).__name__}; to skip certificate "
            "checks, pass a context with check_hostname=False and verify_mode=ssl.CERT_NONE"
        )
    if context is not None and not target.secure:
        raise ValueError("ssl was given for a ws:// URL: use wss:// for TLS")
    reconnect = options["reconnect"]
    if reconnect is True:
        attempts = -1
    elif reconnect is False or reconnect is None:
        attempts = 0
    else:
        attempts = check_number("reconnect", reconnect, integer=True, minimum=1)
    worker = options["worker"]
    if worker is not None and (not isinstance(worker, str) or not worker):
        raise ValueError(f"worker must be a non-empty str (a worker's name) or None, got {worker!r}")
    headers = _read_headers(options["headers"])
    if target.authorization is not None and not any(name.lower() == "authorization" for name, _ in headers):
        headers += (("Authorization", target.authorization),)
    check_request(
        target.host,
        target.port,
        target.resource,
        secure=target.secure,
        subprotocols=subprotocols,
        headers=headers,
    )
    settings = WebSocketSettings(
        compression=False,  # the client's offer is made from ``compression`` itself
        max_message_size=max_size,
        close_timeout=close_timeout,
        ping_interval=ping_interval or None,
        ping_timeout=ping_timeout,
    )
    return ClientOptions(
        data_type,
        headers,
        tuple(subprotocols),
        compression,
        open_timeout,
        settings,
        context,
        attempts,
        worker,
    )


def _read_headers(headers: Any) -> tuple[tuple[str, str], ...]:
    """A dict (a list value: the header once per item) or a list of pairs, as ``(name, value)`` pairs."""
    if headers is None:
        return ()
    pairs: list[tuple[str, str]] = []
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                pairs.append((name, item))
    elif isinstance(headers, Sequence) and not isinstance(headers, str):
        for pair in headers:
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise TypeError(f"headers must be a dict or a list of (name, value) pairs, got {pair!r}")
            pairs.append((pair[0], pair[1]))
    else:
        raise TypeError(
            f"headers must be a dict or a list of (name, value) pairs, got {type(headers).__name__}"
        )
    for name, value in pairs:
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"header names and values must be str, got {name!r}: {value!r}")
    return tuple(pairs)
