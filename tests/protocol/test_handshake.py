"""Tests for duplex.protocol.handshake: RFC 6455 section 4, server side."""

from __future__ import annotations

import base64

import pytest

from duplex.protocol.exceptions import HandshakeError
from duplex.protocol.handshake import (
    GUID,
    UpgradeOffer,
    accept_key,
    build_accept_response,
    is_upgrade_request,
    select_subprotocol,
    validate_upgrade,
)

# RFC 6455 section 1.2's example request.
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
Headers = list[tuple[str, str]]


def request_headers(**overrides: str | None) -> Headers:
    """A valid upgrade request's headers; ``name=None`` removes one, a string replaces it."""
    headers = {
        "Host": "server.example.com",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": RFC_KEY,
        "Origin": "http://example.com",
        "Sec-WebSocket-Protocol": "chat, superchat",
        "Sec-WebSocket-Version": "13",
    }
    for name, value in overrides.items():
        header = name.replace("_", "-")
        if value is None:
            del headers[header]
        else:
            headers[header] = value
    return list(headers.items())


def rejection(headers: Headers, method: str = "GET", http_version: str = "1.1") -> HandshakeError:
    with pytest.raises(HandshakeError) as info:
        validate_upgrade(method, http_version, headers)
    return info.value


VERSION_HEADERS = [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")]


# --- accept key --------------------------------------------------------------------------------------


def test_accept_key_rfc_example() -> None:
    assert GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    assert accept_key(RFC_KEY) == RFC_ACCEPT


def test_accept_key_other_value() -> None:
    # The example exchange commonly used to illustrate the handshake (e.g. on Wikipedia).
    assert accept_key("x3JJHMbDL1EzLkh9GBhXDw==") == "HSmrc0sMlYUkAGmm5OPpG2HaGWk="


# --- a valid request ---------------------------------------------------------------------------------


def test_valid_request() -> None:
    offer = validate_upgrade("GET", "1.1", request_headers())
    assert offer == UpgradeOffer(
        key=RFC_KEY, subprotocols=("chat", "superchat"), extensions=(), origin="http://example.com"
    )


def by_name(headers: Headers) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for name, value in headers:
        index.setdefault(name.lower(), []).append(value)
    return index


def test_headers_given_as_an_index_by_lower_case_name() -> None:
    # The HTTP layer passes the index it already built; values come as received, with spaces.
    headers = request_headers(
        Sec_WebSocket_Key=f" {RFC_KEY}\t", Origin=" http://example.com ", Sec_WebSocket_Version=" 13"
    )
    headers.append(("Sec-WebSocket-Extensions", " permessage-deflate "))
    offer = validate_upgrade("GET", "1.1", by_name(headers))
    assert offer == validate_upgrade("GET", "1.1", headers)
    assert offer == UpgradeOffer(
        key=RFC_KEY,
        subprotocols=("chat", "superchat"),
        extensions=("permessage-deflate",),
        origin="http://example.com",
    )
    assert is_upgrade_request(by_name(headers))
    with pytest.raises(HandshakeError) as info:
        validate_upgrade("GET", "1.1", by_name(request_headers(Sec_WebSocket_Version="8")))
    assert info.value.status == 426


def test_minimal_request() -> None:
    headers = request_headers(Origin=None, Sec_WebSocket_Protocol=None)
    assert validate_upgrade("GET", "HTTP/1.1", headers) == UpgradeOffer(
        key=RFC_KEY, subprotocols=(), extensions=(), origin=None
    )


@pytest.mark.parametrize("version", ["1.1", "HTTP/1.1", "2.0", "1.2", " 1.1 "])
def test_http_versions_accepted(version: str) -> None:
    assert validate_upgrade("GET", version, request_headers()).key == RFC_KEY


def test_header_names_any_case_and_values_trimmed() -> None:
    headers = [
        ("HOST", "localhost:8080"),
        ("upgrade", " WebSocket "),
        ("CONNECTION", "keep-alive, UPGRADE"),
        ("sec-websocket-key", f"  {RFC_KEY}\t"),
        ("SEC-WEBSOCKET-VERSION", " 13 "),
        ("origin", "https://a.example"),
        ("sec-websocket-protocol", "v1"),
        ("Sec-Websocket-Extensions", "permessage-deflate; client_max_window_bits"),
    ]
    assert validate_upgrade("GET", "1.1", headers) == UpgradeOffer(
        key=RFC_KEY,
        subprotocols=("v1",),
        extensions=("permessage-deflate; client_max_window_bits",),
        origin="https://a.example",
    )


def test_tokens_across_repeated_header_lines() -> None:
    headers = [
        ("Host", "localhost"),
        ("Upgrade", "h2c"),
        ("Upgrade", "foo/2, websocket"),
        ("Connection", "keep-alive"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", RFC_KEY),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Protocol", "chat, , superchat"),
        ("Sec-WebSocket-Protocol", " v2 ,"),
        ("Sec-WebSocket-Extensions", "permessage-deflate"),
        ("Sec-WebSocket-Extensions", "x-webkit-deflate-frame, foo; bar=1"),
    ]
    offer = validate_upgrade("GET", "1.1", headers)
    assert offer.subprotocols == ("chat", "superchat", "v2")
    assert offer.extensions == ("permessage-deflate", "x-webkit-deflate-frame, foo; bar=1")
    assert offer.origin is None


# --- rejections --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "HEAD", "PUT", "get", "CONNECT"])
def test_method_not_get(method: str) -> None:
    error = rejection(request_headers(), method=method)
    assert error.status == 405
    assert error.headers == [("Allow", "GET")]
    assert "GET" in str(error)


@pytest.mark.parametrize("version", ["1.0", "HTTP/1.0", "0.9"])
def test_http_version_below_1_1(version: str) -> None:
    error = rejection(request_headers(), http_version=version)
    assert error.status == 400
    assert error.headers == []
    assert "HTTP/1.1" in str(error)


@pytest.mark.parametrize("version", ["", "one.one", "1", "HTTP/1.1.1", "\u0661.\u0661"])
def test_http_version_invalid(version: str) -> None:
    error = rejection(request_headers(), http_version=version)
    assert error.status == 400
    assert "HTTP version" in str(error)


def test_missing_host() -> None:
    error = rejection(request_headers(Host=None))
    assert (error.status, error.headers, str(error)) == (400, [], "missing Host header")


def test_repeated_host() -> None:
    error = rejection([("Host", "a.example"), *request_headers()])
    assert (error.status, error.headers, str(error)) == (400, [], "repeated Host header")


def test_plain_get_needs_upgrade() -> None:
    # No Upgrade at all: a plain HTTP request to a WebSocket resource.
    error = rejection([("Host", "localhost"), ("Accept", "text/html")])
    assert error.status == 426
    assert error.headers == VERSION_HEADERS
    assert "Upgrade" in str(error)


@pytest.mark.parametrize("upgrade", ["h2c", "websocket/13", "web socket", "", "websockets"])
def test_upgrade_without_websocket(upgrade: str) -> None:
    error = rejection(request_headers(Upgrade=upgrade))
    assert error.status == 400
    assert error.headers == []
    assert str(error).startswith("Upgrade header must include 'websocket'")


@pytest.mark.parametrize("connection", [None, "keep-alive", "close", "", "upgraded", "keep-alive upgrade"])
def test_connection_without_upgrade(connection: str | None) -> None:
    error = rejection(request_headers(Connection=connection))
    assert error.status == 400
    assert error.headers == []
    assert str(error).startswith("Connection header must include 'Upgrade'")


def test_missing_version() -> None:
    error = rejection(request_headers(Sec_WebSocket_Version=None))
    assert error.status == 426
    assert error.headers == VERSION_HEADERS
    assert "Sec-WebSocket-Version" in str(error)


@pytest.mark.parametrize("version", ["8", "7", "12", "14", "", "13, 8", "013", "thirteen"])
def test_unsupported_version(version: str) -> None:
    error = rejection(request_headers(Sec_WebSocket_Version=version))
    assert error.status == 426
    assert error.headers == VERSION_HEADERS
    assert "unsupported Sec-WebSocket-Version" in str(error)


def test_repeated_version() -> None:
    error = rejection([*request_headers(), ("Sec-WebSocket-Version", "13")])
    assert error.status == 426
    assert error.headers == VERSION_HEADERS


def test_missing_key() -> None:
    error = rejection(request_headers(Sec_WebSocket_Key=None))
    assert (error.status, error.headers, str(error)) == (400, [], "missing Sec-WebSocket-Key header")


def test_repeated_key() -> None:
    error = rejection([*request_headers(), ("sec-websocket-key", RFC_KEY)])
    assert (error.status, error.headers, str(error)) == (400, [], "repeated Sec-WebSocket-Key header")


@pytest.mark.parametrize(
    "key",
    [
        "",
        "not base64!",
        base64.b64encode(bytes(15)).decode(),
        base64.b64encode(bytes(17)).decode(),
        base64.b64encode(bytes(32)).decode(),
        RFC_KEY.rstrip("="),  # missing padding
        RFC_KEY[:-2] + "?=",
        RFC_KEY.replace("h", "\u0127"),
        "dGhlIHNhbXBs ZSBub25jZQ==",
    ],
)
def test_invalid_key(key: str) -> None:
    error = rejection(request_headers(Sec_WebSocket_Key=key))
    assert error.status == 400
    assert error.headers == []
    assert str(error).startswith("Sec-WebSocket-Key must be the base64 encoding of 16 bytes, got ")


def test_long_bad_value_is_cut_short_in_message() -> None:
    error = rejection(request_headers(Sec_WebSocket_Key="A" * 10_000))
    assert len(str(error)) < 200


def test_repeated_origin() -> None:
    error = rejection([*request_headers(), ("Origin", "http://evil.example")])
    assert (error.status, error.headers, str(error)) == (400, [], "repeated Origin header")


def test_checks_run_in_documented_order() -> None:
    # Everything wrong: the method is reported first, then the version, then Host, and so on.
    assert rejection([], method="POST", http_version="1.0").status == 405
    assert rejection([], http_version="1.0").status == 400
    assert str(rejection([])) == "missing Host header"
    assert rejection([("Host", "h")]).status == 426
    assert str(rejection([("Host", "h"), ("Upgrade", "websocket")])).startswith("Connection")
    bare = [("Host", "h"), ("Upgrade", "websocket"), ("Connection", "upgrade")]
    assert rejection(bare).status == 426
    assert str(rejection([*bare, ("Sec-WebSocket-Version", "13")])) == "missing Sec-WebSocket-Key header"


# --- is_upgrade_request ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([("Upgrade", "websocket")], True),
        ([("upgrade", "WebSocket")], True),
        ([("UPGRADE", "h2c, websocket")], True),
        ([("Upgrade", "h2c"), ("Upgrade", " websocket ")], True),
        ([("Upgrade", "h2c")], False),
        ([("Upgrade", "websocket/13")], False),
        ([("Connection", "upgrade")], False),
        ([("X-Upgrade", "websocket")], False),
        ([], False),
    ],
)
def test_is_upgrade_request(headers: Headers, expected: bool) -> None:
    assert is_upgrade_request(headers) is expected


# --- select_subprotocol ------------------------------------------------------------------------------


def test_select_subprotocol_follows_server_preference() -> None:
    assert select_subprotocol(["chat", "superchat"], ["superchat", "chat"]) == "superchat"
    assert select_subprotocol(["superchat", "chat"], ["chat", "superchat"]) == "chat"
    assert select_subprotocol(["a", "b", "c"], ["x", "c", "b"]) == "c"


@pytest.mark.parametrize(
    ("offered", "supported"),
    [([], ["chat"]), (["chat"], []), ([], []), (["chat"], ["superchat"]), (["Chat"], ["chat"])],
)
def test_select_subprotocol_none(offered: list[str], supported: list[str]) -> None:
    assert select_subprotocol(offered, supported) is None


# --- build_accept_response ---------------------------------------------------------------------------


def test_accept_response_rfc_example() -> None:
    assert build_accept_response(RFC_KEY) == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"\r\n"
    )


def test_accept_response_with_everything() -> None:
    response = build_accept_response(
        RFC_KEY,
        subprotocol="chat",
        extensions="permessage-deflate; server_max_window_bits=10",
        extra_headers=[("Server", "duplex"), ("Set-Cookie", "a=b; Path=/")],
    )
    assert response == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"Sec-WebSocket-Protocol: chat\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n"
        b"Server: duplex\r\n"
        b"Set-Cookie: a=b; Path=/\r\n"
        b"\r\n"
    )


def test_accept_response_for_validated_offer() -> None:
    offer = validate_upgrade("GET", "1.1", request_headers())
    subprotocol = select_subprotocol(offer.subprotocols, ["superchat"])
    response = build_accept_response(offer.key, subprotocol=subprotocol)
    assert b"\r\nSec-WebSocket-Protocol: superchat\r\n" in response
    assert response.endswith(b"\r\n\r\n")
    assert response.count(b"\r\n\r\n") == 1


@pytest.mark.parametrize("bad", ["a\r\nSet-Cookie: x=y", "a\nb", "a\rb", "a\x00b"])
def test_accept_response_refuses_header_injection(bad: str) -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        build_accept_response(RFC_KEY, subprotocol=bad)
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        build_accept_response(RFC_KEY, extensions=bad)
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        build_accept_response(RFC_KEY, extra_headers=[("X-Test", bad)])


@pytest.mark.parametrize("name", ["", "Bad Name", "X-Test\r\nInjected", "X:Y", "\u00e9"])
def test_accept_response_refuses_bad_header_name(name: str) -> None:
    with pytest.raises(ValueError, match="invalid header name"):
        build_accept_response(RFC_KEY, extra_headers=[(name, "value")])


def test_accept_response_latin1_values() -> None:
    assert b"X-Name: caf\xe9\r\n" in build_accept_response(RFC_KEY, extra_headers=[("X-Name", "caf\u00e9")])
    with pytest.raises(ValueError, match="Latin-1"):
        build_accept_response(RFC_KEY, extra_headers=[("X-Name", "\u20ac")])
