"""broadcast() writes a burst of messages together; every client still sees the program's order."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect

import duplex
from server.helpers_connection import RawClient, Recorder, running_web_server, start_wss, url


class Burst:
    """On "go": broadcasts and direct sends interleaved in one callback, then a close on "bye"."""

    def onMessage(self, ws: duplex.WebSocketConnection, event: Any) -> None:
        if event.data == "go":
            ws.wss.broadcast("b1")
            ws.send("direct")
            ws.wss.broadcast("b2", exclude=ws)
            ws.wss.broadcast("b3")
            for index in range(100):
                ws.wss.broadcast(f"many {index}")
        elif event.data == "bye":
            ws.wss.broadcast("last words")
            ws.terminate(1000, "bye")


def test_interleaved_broadcasts_and_sends_keep_their_order() -> None:
    with running_web_server() as web:
        start_wss(web, Burst())
        with connect(url(web), open_timeout=5) as sender, connect(url(web), open_timeout=5) as other:
            sender.send("go")
            got_sender = [sender.recv(timeout=5) for _ in range(103)]
            got_other = [other.recv(timeout=5) for _ in range(103)]
            many = [f"many {index}" for index in range(100)]
            assert got_sender == ["b1", "direct", "b3", *many]
            assert got_other == ["b1", "b2", "b3", *many]


def test_broadcast_before_a_close_arrives_before_the_close_frame() -> None:
    with running_web_server() as web:
        start_wss(web, Burst())
        with connect(url(web), open_timeout=5) as ws:
            ws.send("bye")
            assert ws.recv(timeout=5) == "last words"
            with pytest.raises(ConnectionClosedOK) as closed:
                ws.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000


def test_a_connection_failed_by_duplex_reports_the_code_it_sent() -> None:
    # API decision (docs/api.md): onTerminate gets 1002/1007/1009 when duplex fails the
    # connection, since the client's reply to that close frame is never read.
    recorder = Recorder()
    with running_web_server() as web:
        start_wss(web, recorder)
        client = RawClient.connect(web.HTTPPort, "/")
        try:
            client.sock.sendall(b"\x81\x02hi")  # unmasked: RFC 6455 section 5.1
            assert client.read_frame() == (True, 0x8, b"\x03\xea")
            client.sock.shutdown(socket.SHUT_WR)  # the server waits for our end before closing
            terminate = recorder.wait_for("terminate")[0].event
            assert terminate.code == 1002
            assert recorder.wait_for("error")[0].event.errors[0]["errCode"] == duplex.ErrorCode.PROTOCOL_ERROR
        finally:
            client.sock.close()
