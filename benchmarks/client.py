"""The load generator: one process, one CPU, its hot paths compiled (``_fastclient.pyx``). The echo
and HTTP scenarios drive plain sockets from one epoll loop in C; the others use picows (a Cython
WebSocket client) on uvloop.

Run by ``benchmarks/run.py`` and ``benchmarks/asgi.py``, once per (server, scenario, repeat); it can
also be run by hand:

    python benchmarks/client.py --url ws://127.0.0.1:9001/ --scenario echo --connections 100 --size 64

It prints one JSON object on its last line of stdout: the measured ``value`` and its ``unit``, the
``errors`` it saw (with a few ``error_samples``), its own CPU use over the measured window
(``client_cpu``, a fraction of one core) and the server's (``server_cpu``, when ``--server-pid``
is given: that process and its children, every thread). ``client_saturated`` is true when the client used more than 90% of its core: the server
might have gone faster with a faster client, so the value is only a lower bound.

Scenarios:
    check      one connection echoes text and binary messages from 0 bytes to 32 MiB; every byte
               compared. Value: the number of messages that came back intact.
    echo       ``--connections`` connections, each with one binary message of ``--size`` bytes in
               flight: send, wait for the echo, compare it byte for byte, send the next one.
               Value: round trips/s. Every message carries the connection's number and a counter,
               so a lost, repeated, reordered or corrupted echo is an error.
    http       ``--connections`` keep-alive HTTP/1.1 connections (``--url http://host:port/json/``),
               each with one request in flight (no pipelining): ``GET /json/<tag>``, where the
               tag is 12 digits (the connection's number, a counter); the response must be a 200
               with a Content-Length and the JSON ``HTTP_BODY`` carrying that tag, byte for byte.
               Value: requests/s.
    handshake  ``--connections`` concurrent connectors, each in a loop: TCP connect, upgrade, send a
               close frame, wait for the server's close frame (code 1000) and for the server to
               close the TCP connection. Value: handshakes/s.
    memory     the server's RSS (``--server-pid``) with no client, then with ``--connections`` open
               idle connections. Value: bytes per connection.
    broadcast  ``--connections`` clients; one of them sends ``broadcast <count>`` and the client
               waits until every client has received the <count> 64-byte messages, in order,
               byte for byte. Value: deliveries/s (messages received, summed over the clients).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import hashlib
import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil
import uvloop
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

MAX_FRAME = 64 * 1024 * 1024
SATURATED = 0.90
BINARY = WSMsgType.BINARY
TEXT = WSMsgType.TEXT
CLOSE = WSMsgType.CLOSE
CONTINUATION = WSMsgType.CONTINUATION
PATTERN = bytes((i * 31 + 7) & 0xFF for i in range(64 * 1024))
HERE = Path(__file__).resolve().parent
BUILD = HERE / ".build"


def build_fast_client() -> None:
    """Compile ``_fastclient.pyx`` into ``benchmarks/.build/`` (Cython, once, again if it changes)."""
    source = HERE / "_fastclient.pyx"
    built = sorted(BUILD.glob("_fastclient*.so"))
    if built and built[0].stat().st_mtime >= source.stat().st_mtime:
        return
    BUILD.mkdir(exist_ok=True)
    copy = BUILD / source.name
    copy.write_bytes(source.read_bytes())
    subprocess.run(
        [sys.executable, "-m", "Cython.Build.Cythonize", "-i", "-3", "-q", copy.name],
        cwd=BUILD,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def import_fast_client() -> Any:
    build_fast_client()
    sys.path.insert(0, str(BUILD))
    import _fastclient

    return _fastclient


fast: Any = None  # the compiled module, imported by main()


class Stats:
    """Errors seen by the client: counted by kind, with the first few messages kept."""

    def __init__(self) -> None:
        self.errors = 0
        self.kinds: dict[str, int] = {}
        self.samples: list[str] = []

    def error(self, kind: str, detail: str = "", count: int = 1) -> None:
        self.errors += count
        self.kinds[kind] = self.kinds.get(kind, 0) + count
        if len(self.samples) < 10:
            self.samples.append(f"{kind}: {detail}" if detail else kind)


STATS = Stats()


def cpu_self() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def others_cpu(exclude: set[int]) -> dict[int, int]:
    """CPU ticks used so far by each of the machine's other user processes (kernel threads left
    out): the background load that the benchmark cannot control on a shared machine."""
    ticks = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[1] in (b"0", b"2") and entry.name != "1":  # kthreadd's children: kernel threads
            continue
        ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    return ticks


def others_used(before: dict[int, int], after: dict[int, int]) -> float:
    """CPU seconds the other processes used between two ``others_cpu`` snapshots (a process that
    ended in between is not counted; one that started is, whole)."""
    return sum(max(0, t - before.get(pid, 0)) for pid, t in after.items()) / CLOCK_TICK


def steal_time() -> float:
    """Seconds the hypervisor took from this VM's CPUs so far (the "steal" of /proc/stat)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return int(fields[8]) / CLOCK_TICK if len(fields) > 8 else 0.0


class CpuMeter:
    """Wall time, the client's CPU time, the server's, and other processes' over a window. The
    server's is that of its process and of the processes it started (a master's workers, as
    granian's and hypercorn's), every thread of each."""

    def __init__(self, server_pid: int | None) -> None:
        self.servers: list[psutil.Process] = []
        if server_pid:
            server = psutil.Process(server_pid)
            self.servers = [server, *server.children(recursive=True)]
        self.exclude = {os.getpid(), os.getppid(), *(p.pid for p in self.servers)}

    def _server_cpu(self) -> float:
        total = 0.0
        for server in self.servers:
            times = server.cpu_times()
            total += times.user + times.system
        return total

    def start(self) -> None:
        self.o0, self.st0 = others_cpu(self.exclude), steal_time()
        self.t0, self.c0, self.s0 = time.perf_counter(), cpu_self(), self._server_cpu()

    def stop(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.t0
        user, system = cpu_self()
        server = self._server_cpu()
        others, steal = others_used(self.o0, others_cpu(self.exclude)), steal_time()
        user, system = (user - self.c0[0]) / wall, (system - self.c0[1]) / wall
        client = user + system
        result: dict[str, Any] = {
            "wall": wall,
            "client_cpu": round(client, 3),
            "client_user": round(user, 3),
            "client_sys": round(system, 3),
            "client_saturated": client > SATURATED,
            "other_cpu": round(others / wall, 3),
            "steal": round((steal - self.st0) / wall, 3),
        }
        if self.servers:
            result["server_cpu"] = round((server - self.s0) / wall, 3)
        return result


class Base(WSListener):
    """Reassembles fragmented messages (no server here fragments, but a correct client must cope)
    and reports what it did not expect."""

    def __init__(self) -> None:
        self.transport: WSTransport | None = None
        self.closing = False
        self.close_code: WSCloseCode | None = None
        self._parts: bytearray | None = None
        self._parts_type: WSMsgType | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.closing:
            STATS.error("dropped", "the server closed a connection the client had not closed")

    def slow_frame(self, frame: WSFrame) -> tuple[WSMsgType, bytes] | None:
        """Anything but an unfragmented data frame: a message once it is complete, else None."""
        msg_type = frame.msg_type
        if msg_type == CLOSE:
            self.close_code = frame.get_close_code()
            if not self.closing:
                STATS.error("server close", f"code {frame.get_close_code()} {frame.get_close_reason()!r}")
                self.closing = True
            return None
        if msg_type in (WSMsgType.PING, WSMsgType.PONG):
            return None
        if msg_type == CONTINUATION:
            if self._parts is None:
                STATS.error("protocol", "continuation frame without a first fragment")
                return None
            self._parts += frame.get_payload_as_memoryview()
        else:
            if self._parts is not None:
                STATS.error("protocol", "new message inside a fragmented one")
            self._parts = bytearray(frame.get_payload_as_memoryview())
            self._parts_type = msg_type
        if not frame.fin:
            return None
        data, data_type = bytes(self._parts), self._parts_type
        self._parts = self._parts_type = None
        assert data_type is not None
        return data_type, data


async def connect(factory: Callable[[], WSListener], url: str) -> tuple[WSTransport, Any]:
    return await ws_connect(factory, url, max_frame_size=MAX_FRAME, websocket_handshake_timeout=10)


async def open_many(
    n: int, factory: Callable[[], WSListener], url: str, concurrency: int = 100
) -> list[tuple[WSTransport, Any]]:
    """Open ``n`` connections, at most ``concurrency`` handshakes at a time; failures are errors."""
    semaphore = asyncio.Semaphore(concurrency)
    opened: list[tuple[WSTransport, Any]] = []

    async def one() -> None:
        async with semaphore:
            try:
                opened.append(await connect(factory, url))
            except Exception as exc:
                STATS.error("connect", f"{type(exc).__name__}: {exc}")

    await asyncio.gather(*(one() for _ in range(n)))
    return opened


async def close_all(conns: list[tuple[WSTransport, Any]], timeout: float = 15.0) -> None:
    """The clean close: a close frame from the client, the server's reply, the server's TCP close."""
    for transport, listener in conns:
        listener.closing = True
        transport.send_close(WSCloseCode.OK)
    waits = [asyncio.ensure_future(transport.wait_disconnected()) for transport, _ in conns]
    if waits:
        _, pending = await asyncio.wait(waits, timeout=timeout)
        for task in pending:
            task.cancel()
    late = 0
    for transport, listener in conns:
        if not transport.is_disconnected:
            late += 1
            transport.disconnect(False)
        elif listener.close_code != WSCloseCode.OK:
            STATS.error("close", f"no close frame 1000 from the server (got {listener.close_code})")
    if late:
        STATS.error("close", f"{late} connections still open {timeout} s after the client's close frame")


# -- check -------------------------------------------------------------------------------------------


class CheckListener(Base):
    def __init__(self) -> None:
        super().__init__()
        self.queue: asyncio.Queue[tuple[WSMsgType, bytes]] = asyncio.Queue()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.fin and frame.msg_type in (BINARY, TEXT):
            self.queue.put_nowait((frame.msg_type, frame.get_payload_as_bytes()))
            return
        message = self.slow_frame(frame)
        if message is not None:
            self.queue.put_nowait(message)


async def scenario_check(args: argparse.Namespace) -> dict[str, Any]:
    rng = os.urandom
    messages: list[tuple[WSMsgType, bytes]] = [
        (TEXT, b""),
        (TEXT, "héllo wörld ✓ 🎉".encode()),
        (TEXT, ("ünïcödé ✓ " * 100_000).encode()),
    ]
    for size in (0, 1, 125, 126, 127, 65535, 65536, 1 << 20, 16 << 20, args.max_size):
        messages.append((BINARY, rng(size)))
    transport, listener = await connect(CheckListener, args.url)
    ok = 0
    sizes = []
    for msg_type, payload in messages:
        transport.send(msg_type, payload)
        try:
            got_type, got = await asyncio.wait_for(listener.queue.get(), 60)
        except TimeoutError:
            STATS.error("check", f"no echo of a {len(payload)}-byte {msg_type.name} message")
            break
        if got_type != msg_type or got != payload:
            STATS.error("check", f"{len(payload)}-byte {msg_type.name} message came back different")
        else:
            ok += 1
            sizes.append(len(payload))
    await close_all([(transport, listener)])
    return {"value": ok, "unit": "messages", "of": len(messages), "largest": max(sizes, default=0)}


# -- echo --------------------------------------------------------------------------------------------


CLOSE_FRAME = b"\x88\x82\x00\x00\x00\x00\x03\xe8"  # close 1000, masked with a zero key
CLOSE_REPLY = b"\x88\x02\x03\xe8"  # the server's close frame 1000


def connect_raw(url: str, timeout: float = 10.0) -> socket.socket:
    """A TCP connection to ``url``'s host and port, on a plain blocking socket, without Nagle."""
    parts = urllib.parse.urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def upgrade_raw(url: str, timeout: float = 10.0) -> socket.socket:
    """One WebSocket connection on a plain blocking socket. The 101 is checked (status and
    ``Sec-WebSocket-Accept``) and nothing may follow it; any failure raises ``OSError``."""
    parts = urllib.parse.urlsplit(url)
    key = base64.b64encode(os.urandom(16))
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    sock = connect_raw(url, timeout)
    try:
        sock.sendall(
            b"GET " + (parts.path or "/").encode() + b" HTTP/1.1\r\nHost: " + parts.netloc.encode() + b"\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("the server closed the connection during the handshake")
            answer += chunk
        head, _, extra = answer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        if not lines[0].startswith(b"HTTP/1.1 101 ") or fields.get(b"sec-websocket-accept") != accept:
            raise ConnectionError(f"bad 101 response: {head[:200]!r}")
        if extra:
            raise ConnectionError(f"{len(extra)} bytes after the 101 before any message")
    except OSError:
        sock.close()
        raise
    return sock


def open_raw(url: str, n: int, upgrade: bool = True) -> list[socket.socket]:
    """Open ``n`` connections on plain non-blocking sockets (for the drivers of ``_fastclient``),
    one after the other: WebSocket connections (every 101 checked), or without ``upgrade`` plain
    TCP ones; failures are errors."""
    opened = []
    for _ in range(n):
        try:
            sock = upgrade_raw(url) if upgrade else connect_raw(url)
        except OSError as exc:
            STATS.error("connect", f"{type(exc).__name__}: {exc}")
            continue
        sock.setblocking(False)
        opened.append(sock)
    return opened


def close_raw(socks: list[socket.socket], timeout: float = 15.0) -> None:
    """The clean close on plain sockets: the client's masked close frame (1000), then the server's
    close frame (1000) and its TCP close."""
    for sock in socks:
        sock.setblocking(True)
        sock.settimeout(timeout)
        try:
            sock.sendall(CLOSE_FRAME)
        except OSError as exc:
            STATS.error("close", f"{type(exc).__name__}: {exc}")
    for sock in socks:
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except OSError as exc:
            STATS.error("close", f"{type(exc).__name__}: {exc}")
        finally:
            sock.close()
        if received != CLOSE_REPLY:
            STATS.error(
                "close", f"expected the server's close frame 1000 and its TCP close, got {received[:16]!r}"
            )


def drive(driver: Any, args: argparse.Namespace, meter: CpuMeter, what: str) -> dict[str, Any]:
    """Run a driver of ``_fastclient`` (``what`` it counts: "echoes") for the warm-up, then for the
    measured window; then wait for the answers in flight. Its errors go to ``STATS``."""
    driver.start()
    driver.run(args.warmup)
    meter.start()
    count0 = driver.total
    driver.run(args.duration)
    count1 = driver.total
    window = meter.stop()
    lost = driver.drain(10.0)
    if lost:
        STATS.error(what, f"{lost} {what} never came back")
    for kind, count in driver.errors():
        STATS.error(kind, f"{count} times", count)
    return {"value": (count1 - count0) / window["wall"], **window}


def opened_all(socks: list[socket.socket], n: int) -> list[int]:
    """The sockets' file descriptors, once all ``n`` connections opened."""
    if len(socks) < n:
        raise RuntimeError(f"only {len(socks)} of {n} connections opened")
    return [sock.fileno() for sock in socks]


async def scenario_echo(args: argparse.Namespace, meter: CpuMeter) -> dict[str, Any]:
    socks = open_raw(args.url, args.connections)
    try:
        driver = fast.EchoDriver(opened_all(socks, args.connections), args.size, PATTERN)
        result = drive(driver, args, meter, "echoes")
        alive = set(driver.alive())
        close_raw([sock for sock in socks if sock.fileno() in alive])
    finally:
        for sock in socks:
            sock.close()
    return {**result, "unit": "round trips/s"}


# -- http --------------------------------------------------------------------------------------------

#: What ``GET <path><tag>`` must answer (``benchmarks/servers/fastapi_app.py``): this JSON, compact
#: as FastAPI writes it, with the request's 12-character tag.
HTTP_BODY = b'{"message":"Hello, World!","tag":"%s"}'


async def scenario_http(args: argparse.Namespace, meter: CpuMeter) -> dict[str, Any]:
    parts = urllib.parse.urlsplit(args.url)
    tag = b"0" * 12  # stamped by the driver: the connection's number and a counter
    request = b"GET %s%s HTTP/1.1\r\nHost: %s\r\n\r\n" % (parts.path.encode(), tag, parts.netloc.encode())
    body = HTTP_BODY % tag
    socks = open_raw(args.url, args.connections, upgrade=False)
    try:
        fds = opened_all(socks, args.connections)
        driver = fast.HttpDriver(fds, request, request.index(tag), body, body.index(tag))
        result = drive(driver, args, meter, "responses")
    finally:
        for sock in socks:
            sock.close()
    return {**result, "unit": "requests/s"}


# -- handshake ---------------------------------------------------------------------------------------


async def scenario_handshake(args: argparse.Namespace, meter: CpuMeter) -> dict[str, Any]:
    url = urllib.parse.urlsplit(args.url)
    host, port = url.hostname, url.port
    host_header = url.netloc.encode()
    loop = asyncio.get_running_loop()
    done = 0
    running = True

    async def connector() -> None:
        nonlocal done
        while running:
            finished = loop.create_future()
            try:
                transport, _ = await loop.create_connection(
                    functools.partial(fast.HandshakeProtocol, host_header, finished), host, port
                )
            except Exception as exc:
                STATS.error("connect", f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.01)
                continue
            try:
                error = await asyncio.wait_for(finished, 10)
            except TimeoutError:
                STATS.error("close", "no clean close within 10 s")
                transport.abort()
                continue
            if error is not None:
                STATS.error(*error)
                continue
            done += 1

    tasks = [asyncio.ensure_future(connector()) for _ in range(args.connections)]
    await asyncio.sleep(args.warmup)
    meter.start()
    done0 = done
    await asyncio.sleep(args.duration)
    done1 = done
    window = meter.stop()
    running = False
    await asyncio.wait(tasks, timeout=15)
    return {"value": (done1 - done0) / window["wall"], "unit": "handshakes/s", **window}


# -- memory ------------------------------------------------------------------------------------------


class IdleListener(Base):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if self.slow_frame(frame) is not None:
            STATS.error("memory", "a data message on an idle connection")


async def scenario_memory(args: argparse.Namespace, meter: CpuMeter) -> dict[str, Any]:
    if not args.server_pid:
        raise SystemExit("--scenario memory needs --server-pid")
    server = psutil.Process(args.server_pid)
    # Warm the server up (imports, first allocations), then let it settle.
    warm = await open_many(20, IdleListener, args.url)
    await close_all(warm)
    await asyncio.sleep(1.0)
    before = server.memory_info().rss
    conns = await open_many(args.connections, IdleListener, args.url)
    if len(conns) < args.connections:
        STATS.error("memory", f"only {len(conns)} of {args.connections} connections opened")
    await asyncio.sleep(1.5)
    after = server.memory_info().rss
    await close_all(conns, timeout=30)
    return {
        "value": (after - before) / max(len(conns), 1),
        "unit": "bytes/connection",
        "rss_before": before,
        "rss_after": after,
        "open": len(conns),
    }


# -- broadcast ---------------------------------------------------------------------------------------


async def broadcast_round(
    control: WSTransport, shared: Any, clients: int, count: int, timeout: float
) -> float:
    """Ask for ``count`` messages to everyone; the time until all ``clients`` have them all."""
    shared.delivered = 0
    shared.target = clients * count
    shared.done = asyncio.get_running_loop().create_future()
    start = time.perf_counter()
    control.send(TEXT, b"broadcast %d" % count)
    try:
        await asyncio.wait_for(shared.done, timeout)
    except TimeoutError:
        raise TimeoutError(f"{shared.delivered} of {shared.target} deliveries after {timeout} s") from None
    return time.perf_counter() - start


async def scenario_broadcast(args: argparse.Namespace, meter: CpuMeter) -> dict[str, Any]:
    shared = fast.Deliveries()
    conns = await open_many(args.connections, lambda: fast.BroadcastListener(shared, STATS.error), args.url)
    if len(conns) < args.connections:
        raise RuntimeError(f"only {len(conns)} of {args.connections} connections opened")
    control = conns[0][0]
    clients = len(conns)
    # Every client must be registered by the server before measuring: retry a one-message round.
    for _ in range(10):
        try:
            await broadcast_round(control, shared, clients, 1, 2.0)
            break
        except TimeoutError:
            await asyncio.sleep(0.2)
    else:
        raise RuntimeError("the server never broadcast to every client")
    # Extra deliveries from the retries above arrive late: give them time, then start counting.
    await asyncio.sleep(0.3)
    if any(listener.next < 0 for _, listener in conns):
        raise RuntimeError("some clients never got a broadcast")
    deadline = time.perf_counter() + args.warmup
    while time.perf_counter() < deadline:
        await broadcast_round(control, shared, clients, args.count, 30)
    meter.start()
    delivered = 0
    busy = 0.0
    rounds = 0
    while busy < args.duration:
        busy += await broadcast_round(control, shared, clients, args.count, 30)
        delivered += shared.delivered
        rounds += 1
    window = meter.stop()
    await asyncio.sleep(0.1)
    if shared.delivered != shared.target:
        STATS.error("broadcast", f"{shared.delivered - shared.target} deliveries more than sent")
    await close_all(conns)
    return {
        "value": delivered / busy,
        "unit": "deliveries/s",
        "rounds": rounds,
        "messages_per_round": args.count,
        **window,
    }


# -- main --------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    meter = CpuMeter(args.server_pid)
    scenarios: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = {
        "echo": scenario_echo,
        "http": scenario_http,
        "handshake": scenario_handshake,
        "memory": scenario_memory,
        "broadcast": scenario_broadcast,
    }
    if args.scenario == "check":
        return await scenario_check(args)
    return await scenarios[args.scenario](args, meter)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True)
    parser.add_argument(
        "--scenario", choices=("check", "echo", "http", "handshake", "memory", "broadcast"), required=True
    )
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--size", type=int, default=64, help="echo message size in bytes")
    parser.add_argument("--count", type=int, default=50, help="broadcast: messages per round")
    parser.add_argument("--max-size", type=int, default=32 * 1024 * 1024, help="check: largest message")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--server-pid", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None, help="pin the client to this CPU")
    args = parser.parse_args()
    global fast
    fast = import_fast_client()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result: dict[str, Any] = {"scenario": args.scenario}
    try:
        result.update(uvloop.run(run(args)))
    except Exception as exc:
        STATS.error("failed", f"{type(exc).__name__}: {exc}")
        result["value"] = None
    result["errors"] = STATS.errors
    result["error_kinds"] = STATS.kinds
    result["error_samples"] = STATS.samples
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
