"""RFC 6455 section 4.1: the client's side of the opening handshake.

Theory of operation. A :class:`ClientHandshake` is made with what the request needs (host, port,
resource, the subprotocols and compression to offer, extra headers); :meth:`ClientHandshake.request`
writes the GET request with a fresh ``Sec-WebSocket-Key``. The transport sends it, parses the
response head, and hands its status, headers and the first bytes of any body to
:meth:`ClientHandshake.receive_response`, which returns the :class:`Accepted` terms or raises
:class:`~duplex.protocol.exceptions.InvalidHandshakeResponse` with what was wrong: section 4.1 lists
what a client must refuse, and RFC 7692 section 5 adds the extension's answer. Nothing here touches
a socket.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from dataclasses import dataclass

from .deflate import DeflateSettings, PerMessageDeflate
from .exceptions import InvalidHandshakeResponse
from .handshake import _has_token, _header_line, _index, _tokens, accept_key

__all__ = ["RESERVED_HEADERS", "Accepted", "ClientHandshake"]

#: Headers the handshake writes itself; the ones an application may not set (lower case).
RESERVED_HEADERS = frozenset(
    {
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "content-length",
        "transfer-encoding",
    }
)

_DEFAULT_PORTS = {False: 80, True: 443}
#: How much of a refusal's body an error keeps.
BODY_KEPT = 1024


@dataclass(frozen=True)
class Accepted:
    """The terms of an accepted handshake.

    Attributes:
        subprotocol: the subprotocol the server chose, or None.
        deflate: the permessage-deflate state (client side) when compression was agreed, else None.
        headers: the 101 response's ``(name, value)`` pairs, as received.
    """

    subprotocol: str | None
    deflate: PerMessageDeflate | None
    headers: list[tuple[str, str]]


class ClientHandshake:
    """One client opening handshake, sans I/O.

    Args:
        host: the server's host name or IP address (an IPv6 address without brackets).
        port: its TCP port.
        resource: the path and query to request (``"/chat?room=1"``), starting with ``/``.
        secure: ``wss://`` (the default port is then 443 rather than 80).
        subprotocols: offered in ``Sec-WebSocket-Protocol``, in order of preference.
        deflate: the permessage-deflate settings to offer, or None to offer no compression.
        headers: more ``(name, value)`` pairs, written in order; a ``Host`` among them replaces the
            one made from ``host`` and ``port``.

    Raises:
        ValueError: ``resource`` does not start with ``/``; a subprotocol is not an HTTP token; a
            header sets one of :data:`RESERVED_HEADERS`, has an invalid name, or a value holding CR,
            LF or NUL.
    """

    def __init__(
        self,
        host: str,
        port: int,
        resource: str = "/",
        *,
        secure: bool = False,
        subprotocols: Sequence[str] = (),
        deflate: DeflateSettings | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        if not resource.startswith("/"):
            raise ValueError(f"the resource must start with '/', got {resource!r}")
        if not resource.isascii() or any(ord(char) <= 0x20 or char == "\x7f" for char in resource):
            raise ValueError(
                f"the resource must be percent-encoded ASCII without spaces or controls, got {resource!r}"
            )
        for subprotocol in subprotocols:
            if (
                not subprotocol
                or any(char in subprotocol for char in ' \t,;"()<>@:\\/[]?={}')
                or not (subprotocol.isascii() and subprotocol.isprintable())
            ):
                raise ValueError(f"subprotocol {subprotocol!r} is not an HTTP token")
        for name, _ in headers:
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is written by the handshake itself and may not be set")
        self.subprotocols = tuple(subprotocols)
        self.deflate = deflate
        #: the ``Sec-WebSocket-Key``: 16 random bytes, base64 (section 4.1, item 7)
        self.key = base64.b64encode(os.urandom(16)).decode("ascii")
        host_header = f"[{host}]" if ":" in host else host
        if port != _DEFAULT_PORTS[secure]:
            host_header += f":{port}"
        lines = [f"GET {resource} HTTP/1.1\r\n".encode("latin-1")]
        if not any(name.lower() == "host" for name, _ in headers):
            lines.append(_header_line("Host", host_header))
        lines.append(b"Upgrade: websocket\r\nConnection: Upgrade\r\n")
        lines.append(_header_line("Sec-WebSocket-Key", self.key))
        lines.append(b"Sec-WebSocket-Version: 13\r\n")
        if self.subprotocols:
            lines.append(_header_line("Sec-WebSocket-Protocol", ", ".join(self.subprotocols)))
        if deflate is not None:
            lines.append(_header_line("Sec-WebSocket-Extensions", deflate.client_offer()))
        lines.extend(_header_line(name, value) for name, value in headers)
        lines.append(b"\r\n")
        self._request = b"".join(lines)

    def request(self) -> bytes:
        """The request to send, ending with the empty line."""
        return self._request

    def receive_response(self, status: int, headers: list[tuple[str, str]], body: bytes = b"") -> Accepted:
        """Check the server's answer.

        Args:
            status: the response's status code.
            headers: its ``(name, value)`` pairs.
            body: the first bytes of its body (the error keeps at most :data:`BODY_KEPT` of them).

        Raises:
            InvalidHandshakeResponse: anything but a 101 that completes this handshake.
        """
        body = body[:BODY_KEPT]
        if status != 101:
            shown = body[:200].decode("utf-8", "replace")
            detail = f": {shown!r}" if shown else ""
            raise InvalidHandshakeResponse(
                f"the server answered {status} instead of 101 Switching Protocols{detail}",
                status,
                headers,
                body,
            )
        index = _index(headers)

        def refuse(message: str) -> InvalidHandshakeResponse:
            return InvalidHandshakeResponse(f"invalid 101 response: {message}", status, headers)

        upgrade = _tokens(index.get("upgrade", ()))
        if [token.lower() for token in upgrade] != ["websocket"]:
            raise refuse(f"Upgrade is {', '.join(upgrade) or 'missing'}, not websocket")
        if not _has_token(index.get("connection", ()), "upgrade"):
            raise refuse("Connection does not list Upgrade")
        accepts = index.get("sec-websocket-accept", ())
        expected = accept_key(self.key)
        if len(accepts) != 1 or accepts[0].strip(" \t") != expected:
            got = ", ".join(accepts) or "missing"
            raise refuse(f"Sec-WebSocket-Accept is {got}; {expected} answers the key sent")
        protocols = _tokens(index.get("sec-websocket-protocol", ()))
        subprotocol: str | None = None
        if protocols:
            if len(protocols) > 1:
                raise refuse(f"the server chose several subprotocols: {', '.join(protocols)}")
            if protocols[0] not in self.subprotocols:
                offered = ", ".join(self.subprotocols) or "none"
                raise refuse(f"the server chose subprotocol {protocols[0]!r}; offered: {offered}")
            subprotocol = protocols[0]
        extensions = index.get("sec-websocket-extensions", ())
        deflate: PerMessageDeflate | None = None
        if extensions:
            if self.deflate is None:
                raise refuse(f"the server accepted extensions {', '.join(extensions)!r}; none were offered")
            try:
                deflate = self.deflate.client_accept(extensions)
            except InvalidHandshakeResponse as exc:
                raise InvalidHandshakeResponse(str(exc), status, headers) from None
        return Accepted(subprotocol, deflate, headers)
