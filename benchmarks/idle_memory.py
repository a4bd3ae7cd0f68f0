"""What an idle connection costs the server, with permessage-deflate on and off.

    python benchmarks/idle_memory.py                          # 2000 connections, compression off then on
    python benchmarks/idle_memory.py --connections 5000
    python benchmarks/idle_memory.py --option serverNoContextTakeover=true --option compressionMemLevel=8
    python benchmarks/idle_memory.py --offer "permessage-deflate"   # a client that offers no parameter

For each setting (``compression`` False, then True, plus the ``--option`` values given) a fresh
server process runs duplex through its 4D API (a WebServer and a WebSocketServer that echoes, no
keepalive pings). This process is the client: it opens ``--connections`` connections, each offering
permessage-deflate as browsers, Node's ``ws`` and the ``websockets`` library do (``--offer``), and each
sends one compressed text message (1 KiB of chat-like JSON text unless ``--message-size``) and checks the server's compressed echo. Then the
connections sit idle. The server's RSS (``/proc/PID/status``) is read after a warm-up (20 connections
that do the same and close) and 1 s of rest, and again 1.5 s after every connection has had its echo;
the difference divided by the number of connections is the cost of one idle connection.

The client speaks the protocol itself (plain asyncio streams and ``zlib``), so that the only
per-connection memory measured is the server's. Prints one line per setting and a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HOST = "127.0.0.1"
WARMUP = 20
SETTLE = 1.5
DEFAULT_OFFER = "permessage-deflate; client_max_window_bits"
TAIL = b"\x00\x00\xff\xff"


def message(index: int, size: int) -> bytes:
    """``size`` bytes of chat-like JSON, different for each connection (so no two echoes are equal)."""
    lines = []
    length = 0
    seq = 0
    while length < size:
        line = json.dumps(
            {"type": "message", "name": f"user{index}", "seq": seq, "text": f"hello {seq} " * 3}
        )
        lines.append(line)
        length += len(line) + 2
        seq += 1
    return ("[" + ", ".join(lines) + "]").encode()[:size]


# -- the server ----------------------------------------------------------------------------------------


class Echo:
    """The connection handler: every message goes back to its sender."""

    def onMessage(self, ws: Any, event: Any) -> None:
        ws.send(event.data)


class Handler:
    """The WSSHandler: accepts every connection."""

    def onConnection(self, wss: Any, event: Any) -> Any:
        return Echo()


def serve(port: int, options: dict[str, Any]) -> None:
    import threading

    import duplex

    web = duplex.web_server()
    result = web.start({"HTTPPort": port, "IPAddressToListen": HOST})
    if not result["success"]:
        raise SystemExit(result["errors"][0]["message"])
    duplex.WebSocketServer(Handler(), {"dataType": "auto", "pingInterval": None, **options})
    print("ready", flush=True)
    threading.Event().wait()


# -- the client ----------------------------------------------------------------------------------------


def rss(pid: int) -> int:
    """Resident set size of ``pid``, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def client_frame(payload: bytes, rsv1: bool) -> bytes:
    """A masked, final text frame."""
    first = 0x81 | (0x40 if rsv1 else 0)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, 0xFE, length)
    else:
        header = struct.pack("!BBQ", first, 0xFF, length)
    mask = os.urandom(4)
    key = (mask * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big")
    return header + mask + masked


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked server frame: (first header byte, payload)."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    return first, await reader.readexactly(length)


class Client:
    """One connection: handshake, one compressed message and its echo, then idle."""

    def __init__(self) -> None:
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.extensions = ""
        self.sent = 0
        self.received = 0

    async def open(self, port: int, offer: str, index: int, size: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        self.reader, self.writer = reader, writer
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Extensions: {offer}\r\n\r\n"
        )
        writer.write(request.encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        if not head.startswith("HTTP/1.1 101"):
            raise RuntimeError(f"handshake refused: {head.splitlines()[0]}")
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-extensions":
                self.extensions = value.strip()
        text = message(index, size)
        compressed = bool(self.extensions)
        if compressed:
            # A fresh compressor per message never refers to earlier data, so it suits every agreement.
            agreed = re.search(r"client_max_window_bits=(\d+)", self.extensions)
            bits = max(int(agreed.group(1)), 9) if agreed else 15  # zlib compresses with 9 bits or more
            compressor = zlib.compressobj(6, zlib.DEFLATED, -bits)
            payload = compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH)
            payload = payload[: -len(TAIL)]
        else:
            payload = text
        writer.write(client_frame(payload, compressed))
        self.sent = len(payload)
        first, echoed = await read_frame(reader)
        self.received = len(echoed)
        if first & 0x40:
            echoed = zlib.decompressobj(wbits=-15).decompress(echoed + TAIL)
        if echoed != text:
            raise RuntimeError("the echo differs from the message")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def open_many(port: int, count: int, offer: str, size: int, first_index: int) -> list[Client]:
    clients = [Client() for _ in range(count)]
    # Batches: a burst of thousands of connects at once would only measure the accept queue.
    for start in range(0, count, 100):
        batch = clients[start : start + 100]
        await asyncio.gather(
            *(client.open(port, offer, first_index + start + i, size) for i, client in enumerate(batch))
        )
    return clients


async def measure_server(pid: int, port: int, count: int, offer: str, size: int) -> dict[str, Any]:
    warm = await open_many(port, WARMUP, offer, size, 0)
    for client in warm:
        client.close()
    await asyncio.sleep(1.0)
    before = rss(pid)
    clients = await open_many(port, count, offer, size, WARMUP)
    await asyncio.sleep(SETTLE)
    after = rss(pid)
    result = {
        "connections": count,
        "extensions": clients[0].extensions,
        "rss_before": before,
        "rss_after": after,
        "bytes_per_connection": (after - before) / count,
        "message_bytes": size,
        "sent_bytes": clients[0].sent,
        "echo_bytes": clients[0].received,
    }
    for client in clients:
        client.close()
    await asyncio.sleep(0.2)
    return result


def start_server(options: dict[str, Any]) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = int(probe.getsockname()[1])
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--port", str(port), "--options", json.dumps(options)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if b"ready" not in line:
        stop(proc)
        raise RuntimeError(f"the server did not start (exit {proc.poll()})")
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def run(options: dict[str, Any], count: int, offer: str, size: int) -> dict[str, Any]:
    proc, port = start_server(options)
    try:
        result = asyncio.run(measure_server(proc.pid, port, count, offer, size))
    finally:
        stop(proc)
    result["options"] = options
    return result


def parse_option(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--option wants name=value, got {text!r}")
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--message-size", type=int, default=1024, help="bytes of the one message each sends")
    parser.add_argument(
        "--offer", default=DEFAULT_OFFER, help="the Sec-WebSocket-Extensions the clients send"
    )
    parser.add_argument(
        "--option", type=parse_option, action="append", default=[], help="a WebSocketServer option, name=JSON"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.port, json.loads(args.options))
        return
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.connections + 100:
        raise SystemExit(f"ulimit -n is {hard}: too low for {args.connections} connections")
    settings = [{"compression": False}, {"compression": True, **dict(args.option)}]
    results = []
    for options in settings:
        started = time.monotonic()
        result = run(options, args.connections, args.offer, args.message_size)
        results.append(result)
        print(
            f"{json.dumps(options)}: {result['bytes_per_connection'] / 1024:.1f} KiB per idle connection "
            f"({args.connections} connections; agreed: {result['extensions'] or 'none'}; "
            f"{result['message_bytes']} B message sent as {result['sent_bytes']} B, echoed as "
            f"{result['echo_bytes']} B; {time.monotonic() - started:.0f} s)",
            flush=True,
        )
    off, on = results[0]["bytes_per_connection"], results[1]["bytes_per_connection"]
    print(f"compression costs {(on - off) / 1024:.1f} KiB more per idle connection ({on / max(off, 1):.1f}x)")
    print(json.dumps(results))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
