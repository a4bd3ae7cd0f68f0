"""The HTTP server's configuration: what the listening sockets and every connection need to know."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

__all__ = ["HttpConfig"]


@dataclass
class HttpConfig:
    """Everything the HTTP server needs to know; see the WebServer settings for the user-facing names.

    Attributes:
        host: the address to listen on ("0.0.0.0" or "::" for all).
        http_port: the plain HTTP port (0: pick a free one; None: no plain HTTP).
        https_port: the HTTPS port (0: pick a free one; None: no HTTPS).
        ssl_context: the TLS context for the HTTPS port.
        root_folder: the folder of static files (None: no static files, every GET is 404).
        default_homepage: the file served for a directory request.
        max_request_size: the largest request body accepted (413 above).
        max_url_length: the longest request target (414 above).
        max_header_size: the most bytes of header lines (431 above).
        max_header_count: the most header lines (431 above).
        request_timeout: seconds for a request head (and any body) to arrive once begun; a
            handshake that never finishes is answered 408 and closed.
        keepalive_timeout: seconds an idle keep-alive connection stays open.
        send_timeout: seconds a client may go without reading while a response waits to be sent
            to it (or, once the connection is closing, to be flushed); then the connection is
            dropped and any file being sent is closed.
        backlog: the listening sockets' accept queue length (the kernel caps it at
            ``net.core.somaxconn`` on Linux).
        reuse_port: bind with ``SO_REUSEPORT``, so that several processes listen on one port and
            the kernel spreads the connections among them.
        descriptor_log_interval: the least number of seconds between two log lines saying the
            process ran out of file descriptors.
        cors: CORS rules ``(origin or "*", "GET,HEAD")``, or None for no CORS headers.
        hsts_max_age: when set, HTTPS responses carry ``Strict-Transport-Security: max-age=N``.
    """

    host: str = "127.0.0.1"
    http_port: int | None = 8080
    https_port: int | None = None
    ssl_context: ssl.SSLContext | None = None
    root_folder: str | None = None
    default_homepage: str = "index.html"
    max_request_size: int = 2_000_000
    max_url_length: int = 8192
    max_header_size: int = 16384
    max_header_count: int = 100
    request_timeout: float = 10.0
    keepalive_timeout: float = 15.0
    send_timeout: float = 30.0
    backlog: int = 2048
    reuse_port: bool = False
    descriptor_log_interval: float = 10.0
    cors: list[tuple[str, str]] | None = None
    hsts_max_age: int | None = None
