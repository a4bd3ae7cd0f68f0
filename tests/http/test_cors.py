"""CORS rules (4D's CORSSettings) and their headers, plus HSTS and CORS over real sockets."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

from duplex.http.cors import allowed_methods, cors_headers, preflight_headers

RULES = [("https://app.example.com", "GET,HEAD"), ("*.partner.org", "GET"), ("localhost", "GET,POST")]


def test_rules_match_full_origin_host_and_wildcard() -> None:
    assert allowed_methods(RULES, "https://app.example.com") == "GET,HEAD"
    assert allowed_methods(RULES, "https://a.partner.org") == "GET"
    assert allowed_methods(RULES, "http://localhost:3000") == "GET,POST"
    assert allowed_methods(RULES, "https://evil.example") is None
    assert allowed_methods(RULES, "https://partner.org.evil.example") is None
    assert allowed_methods([("*", "GET")], "https://anything.example") == "GET"


def test_cors_headers_only_for_allowed_origins() -> None:
    assert cors_headers(RULES, "https://app.example.com") == [
        ("Access-Control-Allow-Origin", "https://app.example.com"),
        ("Vary", "Origin"),
    ]
    assert cors_headers(RULES, "https://evil.example") == []
    assert cors_headers(RULES, None) == []


def test_preflight_allows_listed_methods_only() -> None:
    answer = preflight_headers(RULES, "http://localhost:3000", "POST", "content-type")
    assert answer is not None
    assert ("Access-Control-Allow-Methods", "GET, POST") in answer
    assert ("Access-Control-Allow-Headers", "content-type") in answer
    assert preflight_headers(RULES, "http://localhost:3000", "DELETE", None) is None
    assert preflight_headers(RULES, "https://evil.example", "GET", None) is None


def _exchange(sock: socket.socket, request: bytes) -> bytes:
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_cors_and_hsts_through_the_web_server(
    tmp_path: Path, certificate_folder: Path, client_ssl: ssl.SSLContext
) -> None:
    import duplex

    (tmp_path / "index.html").write_text("hi")
    web = duplex.WebServer()
    result = web.start(
        {
            "HTTPPort": 0,
            "HTTPSEnabled": True,
            "HTTPSPort": 0,
            "certificateFolder": str(certificate_folder),
            "rootFolder": str(tmp_path),
            "CORSEnabled": True,
            "CORSSettings": [{"host": "https://app.example.com", "methods": "GET,HEAD"}],
            "HSTSEnabled": True,
            "HSTSMaxAge": 3600,
        }
    )
    assert result["success"], result
    try:
        with socket.create_connection(("127.0.0.1", web.HTTPPort), timeout=5) as sock:
            head = _exchange(
                sock,
                b"GET / HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example.com\r\nConnection: close\r\n\r\n",
            )
        assert b"HTTP/1.1 200" in head
        assert b"Access-Control-Allow-Origin: https://app.example.com\r\n" in head
        assert b"Strict-Transport-Security" not in head  # only over HTTPS
        with socket.create_connection(("127.0.0.1", web.HTTPPort), timeout=5) as sock:
            head = _exchange(
                sock,
                b"OPTIONS / HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example.com\r\n"
                b"Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n",
            )
        assert head.startswith(b"HTTP/1.1 204")
        raw = socket.create_connection(("127.0.0.1", web.HTTPSPort), timeout=5)
        with client_ssl.wrap_socket(raw, server_hostname="localhost") as tls:
            head = _exchange(
                tls, b"GET / HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\nConnection: close\r\n\r\n"
            )
        assert b"HTTP/1.1 200" in head
        assert b"Strict-Transport-Security: max-age=3600\r\n" in head
        assert b"Access-Control-Allow-Origin" not in head
    finally:
        web.stop()
