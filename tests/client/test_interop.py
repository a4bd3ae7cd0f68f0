"""duplex's client, each of its three faces (``duplex.WebSocket``, ``duplex.connect()``,
``duplex.connect_sync()``), against three servers: duplex's own (the 4D API), the ``websockets``
library's and aiohttp's, each with permessage-deflate on; then ``wss://`` against duplex's engine
with a test CA: trusted, not trusted, and a certificate for another host name.

Every server echoes each message with its own frame type and closes when told to (conftest.py).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

import duplex
from client.conftest import (
    MIB,
    TIMEOUT,
    ClientHandler,
    Peer,
    arun,
)
from support import RunningServer, run_server

pytestmark = pytest.mark.timeout(60)

# Text, binary, empty of both kinds, and 1 MiB of each (text compresses, random bytes do not).
PAYLOADS: list[str | bytes] = [
    "hello",
    "héllo wörld ✓ 🎉",
    b"\x00\x01\xfe\xffbinary",
    "",
    b"",
    ("duplex " * (MIB // 7 + 1))[:MIB],
    os.urandom(MIB),
]

FACES = ["4d", "async", "sync"]


def extension_header(headers: list[tuple[str, str]]) -> str:
    return ", ".join(value for name, value in headers if name.lower() == "sec-websocket-extensions")


# -- messages both ways -------------------------------------------------------------------------------


def test_async_face_echoes_every_kind_of_message(peer: Peer) -> None:
    async def main() -> None:
        async with duplex.connect(peer.url(), openTimeout=TIMEOUT) as ws:
            assert ws.status == "Connected"
            for payload in PAYLOADS:
                await ws.send(payload)
                echoed = await ws.recv(timeout=TIMEOUT)
                assert type(echoed) is type(payload)
                assert echoed == payload, f"{len(echoed)} bytes back for {len(payload)}"
            # A JSON value goes out as text.
            await ws.send({"a": [1, 2.5, None, True], "é": "✓"})
            assert await ws.recv(timeout=TIMEOUT) == '{"a":[1,2.5,null,true],"é":"✓"}'
        assert ws.status == "Closed"

    arun(main())


def test_sync_face_echoes_every_kind_of_message(peer: Peer) -> None:
    with duplex.connect_sync(peer.url(), open_timeout=TIMEOUT) as ws:
        assert ws.status == "Connected"
        for payload in PAYLOADS:
            ws.send(payload)
            echoed = ws.recv(timeout=TIMEOUT)
            assert type(echoed) is type(payload)
            assert echoed == payload
    assert ws.status == "Closed"


def test_4d_face_echoes_every_kind_of_message(peer: Peer, make_client: Any) -> None:
    handler = ClientHandler(dataType="auto")
    ws = make_client(peer.url(), handler, openTimeout=TIMEOUT)
    handler.wait_for("open")
    for index, payload in enumerate(PAYLOADS):
        assert ws.send(payload) is True
        echoed = handler.wait_for("message", count=index + 1)[index].event["data"]
        assert type(echoed) is type(payload)
        assert echoed == payload
    ws.terminate()
    handler.wait_for("terminate")
    assert handler.kinds() == ["open"] + ["message"] * len(PAYLOADS) + ["terminate"]


def test_many_messages_in_a_burst_come_back_in_order(peer: Peer) -> None:
    async def main() -> None:
        async with duplex.connect(peer.url()) as ws:
            for index in range(500):
                await ws.send(f"message {index}" if index % 2 else f"message {index}".encode())
            for index in range(500):
                expected: str | bytes = f"message {index}" if index % 2 else f"message {index}".encode()
                assert await ws.recv(timeout=TIMEOUT) == expected

    arun(main())


# -- compression ------------------------------------------------------------------------------------


def test_compression_is_negotiated_by_default_and_left_out_on_request(peer: Peer) -> None:
    big = "compressible " * 10_000

    async def main() -> None:
        async with duplex.connect(peer.url()) as ws:
            answer = extension_header(ws.response_headers)
            assert answer.startswith("permessage-deflate"), ws.response_headers
            await ws.send(big)
            assert await ws.recv(timeout=TIMEOUT) == big
        async with duplex.connect(peer.url(), compression=False) as ws:
            assert "permessage-deflate" not in extension_header(ws.response_headers), ws.response_headers
            await ws.send(big)
            assert await ws.recv(timeout=TIMEOUT) == big

    arun(main())
    with duplex.connect_sync(peer.url()) as sync_ws:
        assert "permessage-deflate" in extension_header(sync_ws.response_headers)
        sync_ws.send(b"z" * 100_000)
        assert sync_ws.recv(timeout=TIMEOUT) == b"z" * 100_000
    offered = [
        call.event.get("sec-websocket-extensions", []) for call in peer.recorder.wait_for("request", count=3)
    ]
    assert any("permessage-deflate" in value for value in offered[0])
    assert not any("permessage-deflate" in value for value in offered[1])
    assert any("permessage-deflate" in value for value in offered[2])


def test_compression_with_custom_settings(peer: Peer) -> None:
    settings = duplex.DeflateSettings(server_max_window_bits=10, client_max_window_bits=9)

    async def main() -> None:
        async with duplex.connect(peer.url(), compression=settings) as ws:
            assert "permessage-deflate" in extension_header(ws.response_headers)
            for size in (10, 1000, 300_000):
                await ws.send("abc" * size)
                assert await ws.recv(timeout=TIMEOUT) == "abc" * size

    arun(main())


# -- subprotocols -----------------------------------------------------------------------------------


SUBPROTOCOL_CASES: list[tuple[list[str], str | None]] = [
    (["chat"], "chat"),
    (["nope", "superchat"], "superchat"),
    (["nope"], None),
    ([], None),
]


def test_subprotocol_negotiation(peer: Peer) -> None:
    async def main() -> None:
        for offered, chosen in SUBPROTOCOL_CASES:
            async with duplex.connect(peer.url(), subprotocols=offered) as ws:
                assert ws.subprotocol == chosen, offered
                await ws.send("still works")
                assert await ws.recv(timeout=TIMEOUT) == "still works"
        offers = [call.event.get("sec-websocket-protocol", []) for call in peer.recorder.of("request")]
        assert [", ".join(offer) for offer in offers] == ["chat", "nope, superchat", "nope", ""]

    arun(main())


def test_subprotocol_on_the_4d_and_sync_faces(peer: Peer, make_client: Any) -> None:
    handler = ClientHandler()
    handler.subprotocols = ["superchat"]
    ws = make_client(peer.url(), handler)
    handler.wait_for("open")
    assert ws.subprotocol == "superchat"
    with duplex.connect_sync(peer.url(), subprotocols="chat") as sync_ws:
        assert sync_ws.subprotocol == "chat"


# -- closing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("face", FACES)
def test_the_server_sees_the_clients_close_code_and_reason(peer: Peer, face: str, make_client: Any) -> None:
    if face == "async":

        async def main() -> None:
            async with duplex.connect(peer.url()) as ws:
                await ws.send("before closing")
                assert await ws.recv(timeout=TIMEOUT) == "before closing"
                await ws.close(4001, "bye from async")
                assert ws.status == "Closed"

        arun(main())
        assert peer.closed() == (4001, "bye from async")
    elif face == "sync":
        ws = duplex.connect_sync(peer.url())
        ws.close(4001, "bye from sync")
        assert ws.status == "Closed"
        assert peer.closed() == (4001, "bye from sync")
    else:
        handler = ClientHandler()
        ws4d = make_client(peer.url(), handler)
        handler.wait_for("open")
        ws4d.terminate(4002, "bye from 4D")
        handler.wait_for("terminate")
        assert peer.closed() == (4002, "bye from 4D")
        assert ws4d.status == "Closed"


@pytest.mark.parametrize("face", FACES)
def test_the_client_sees_the_servers_close_code_and_reason(peer: Peer, face: str, make_client: Any) -> None:
    if face == "async":

        async def main() -> None:
            async with duplex.connect(peer.url()) as ws:
                await ws.send("close 4010 server says bye")
                with pytest.raises(duplex.ConnectionClosed) as caught:
                    async for message in ws:
                        raise AssertionError(f"unexpected {message!r}")
                assert (caught.value.code, caught.value.reason) == (4010, "server says bye")
                assert not caught.value.normal
                assert (ws.close_code, ws.close_reason) == (4010, "server says bye")
                assert ws.status == "Closed"

        arun(main())
    elif face == "sync":
        with duplex.connect_sync(peer.url()) as ws:
            ws.send("close 4011 sync bye")
            with pytest.raises(duplex.ConnectionClosed) as caught:
                ws.recv(timeout=TIMEOUT)
            assert (caught.value.code, caught.value.reason) == (4011, "sync bye")
            assert (ws.close_code, ws.close_reason) == (4011, "sync bye")
    else:
        handler = ClientHandler()
        ws4d = make_client(peer.url(), handler)
        handler.wait_for("open")
        ws4d.send("close 4012 4D bye")
        event = handler.one("terminate").event
        assert (event["code"], event["reason"]) == (4012, "4D bye")
        assert handler.kinds() == ["open", "terminate"]
        assert ws4d.status == "Closed"


def test_a_normal_close_from_the_server_ends_async_for(peer: Peer) -> None:
    async def main() -> list[Any]:
        received = []
        async with duplex.connect(peer.url()) as ws:
            await ws.send("one")
            await ws.send(b"two")
            await ws.send("close 1000 done")
            async for message in ws:
                received.append(message)
            assert (ws.close_code, ws.close_reason) == (1000, "done")
        return received

    assert arun(main()) == ["one", b"two"]


# -- wss:// -----------------------------------------------------------------------------------------


def test_wss_with_a_context_that_trusts_the_test_ca(
    echo_server: RunningServer, client_ssl: ssl.SSLContext
) -> None:
    async def main() -> None:
        async with duplex.connect(echo_server.wss_url(), ssl=client_ssl) as ws:
            assert "permessage-deflate" in extension_header(ws.response_headers)
            for payload in PAYLOADS:
                await ws.send(payload)
                assert await ws.recv(timeout=TIMEOUT) == payload

    arun(main())


def test_wss_sync_and_4d_faces(
    echo_server: RunningServer, client_ssl: ssl.SSLContext, make_client: Any
) -> None:
    with duplex.connect_sync(echo_server.wss_url(), ssl=client_ssl) as ws:
        ws.send(b"secret" * 1000)
        assert ws.recv(timeout=TIMEOUT) == b"secret" * 1000
    handler = ClientHandler()
    ws4d = make_client(echo_server.wss_url(), handler, ssl=client_ssl)
    handler.wait_for("open")
    ws4d.send("over TLS")
    assert handler.wait_for("message")[0].event["data"] == "over TLS"


def test_wss_default_context_refuses_the_test_ca(echo_server: RunningServer) -> None:
    async def main() -> None:
        with pytest.raises(ssl.SSLCertVerificationError):
            await duplex.connect(echo_server.wss_url(), openTimeout=TIMEOUT)

    arun(main())
    with pytest.raises(ssl.SSLCertVerificationError):
        duplex.connect_sync(echo_server.wss_url(), openTimeout=TIMEOUT)


def test_wss_default_context_refuses_the_test_ca_4d(echo_server: RunningServer, make_client: Any) -> None:
    handler = ClientHandler()
    ws = make_client(echo_server.wss_url(), handler, openTimeout=TIMEOUT)
    terminate = handler.one("terminate").event
    assert terminate["code"] == 1006
    assert handler.kinds() == ["error", "terminate"]
    errors = handler.of("error")[0].event["errors"]
    assert errors[0]["errCode"] == duplex.ErrorCode.TLS_FAILED == 501
    assert errors[0]["componentSignature"] == "duplex"
    assert "certificate" in errors[0]["message"].lower()
    assert ws.status == "Closed"
    assert ws.send("nothing") is False


@pytest.fixture(scope="module")
def localhost_only_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    """A CA of its own and a certificate folder for the name "localhost" only (no IP address)."""
    ca = trustme.CA()
    folder = tmp_path_factory.mktemp("localhost-only")
    cert = ca.issue_cert("localhost")
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    with open(folder / "cert.pem", "wb") as file:
        for blob in cert.cert_chain_pems:
            file.write(blob.bytes())
    return ca, folder


@pytest.fixture
def localhost_only(
    localhost_only_ca: tuple[trustme.CA, Path], static_root: Path
) -> Iterator[tuple[RunningServer, ssl.SSLContext]]:
    ca, folder = localhost_only_ca
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with run_server(static_root, folder, context) as running:
        yield running, context


def test_wss_host_name_mismatch_is_refused(localhost_only: tuple[RunningServer, ssl.SSLContext]) -> None:
    running, context = localhost_only
    good = f"wss://localhost:{running.tls_port}/echo"
    bad = f"wss://127.0.0.1:{running.tls_port}/echo"

    async def main() -> None:
        async with duplex.connect(good, ssl=context) as ws:  # the same CA and server: the name is all
            await ws.send("ok")
            assert await ws.recv(timeout=TIMEOUT) == "ok"
        with pytest.raises(ssl.SSLCertVerificationError, match=r"(?i)mismatch|not valid for"):
            await duplex.connect(bad, ssl=context, openTimeout=TIMEOUT)

    arun(main())


def test_wss_host_name_mismatch_4d(
    localhost_only: tuple[RunningServer, ssl.SSLContext], make_client: Any
) -> None:
    running, context = localhost_only
    handler = ClientHandler()
    make_client(f"wss://127.0.0.1:{running.tls_port}/echo", handler, ssl=context)
    assert handler.one("terminate").event["code"] == 1006
    assert handler.error_codes() == [501]


def test_wss_checks_turned_off_explicitly_connect_anyway(
    localhost_only: tuple[RunningServer, ssl.SSLContext],
) -> None:
    running, _ = localhost_only
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with duplex.connect_sync(f"wss://127.0.0.1:{running.tls_port}/echo", ssl=context) as ws:
        ws.send("unverified")
        assert ws.recv(timeout=TIMEOUT) == "unverified"
