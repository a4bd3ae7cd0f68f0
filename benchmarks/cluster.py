"""The cluster benchmark: two server processes sharing one Redis, 1,000 clients over 10 topics, one
publisher; duplex (``broker``, topics) against python-socketio (``AsyncRedisManager``, rooms) on
uvicorn.

    python benchmarks/cluster.py              # the full run (about 3 minutes); rewrites the "Cluster"
                                              # section of docs/benchmarks.md
    python benchmarks/cluster.py --quick      # a 30-second smoke check; docs left alone
    python benchmarks/cluster.py --report-only  # rewrite that section from results/cluster.json

One measurement: a fresh ``redis-server`` on a free port, two fresh server processes (A and B,
``benchmarks/servers/duplex_cluster.py`` or ``socketio_cluster.py``) using it as their broker,
then the load generator (this script, ``--role client``), which starts the publisher (this
script, ``--role publisher``). Both server processes are pinned to CPU 0, so they share one core;
the load generator, the publisher and Redis are pinned to CPU 1.

- 1,000 WebSocket clients (picows on uvloop, as ``benchmarks/client.py``), client ``i`` in topic
  ``t<i % 10>``. Variant ``even``: each topic has half its clients on A and half on B. Variant
  ``split``: the clients of t0-t4 on A, of t5-t9 on B, so that each process has members of only
  half the topics.
- The publisher publishes 64-byte messages round-robin over the 10 topics: duplex with
  ``duplex.AsyncPublisher.publish("/ws", topic, bytes)``, socketio with a write-only
  ``AsyncRedisManager.emit("m", str, room=topic)``, one task per topic (each waits for Redis's
  answer before its next message, which keeps each topic's messages in order).
- Flow control: the load generator lets the publisher have at most ``--window`` messages not yet
  delivered to all their clients (it hands out credit through the publisher's stdin), so the system
  runs as fast as it delivers and no queue grows without bound.
- Deliveries/s: messages received by all clients, counted by the clients, over ``--duration``
  seconds after a ``--warmup``. Every message carries its topic and a per-topic sequence number;
  each client checks that it gets its own topic's messages, each once, in order, intact; at the end
  every client must have had the last message of its topic, and the total must be exact.
- CPU: each server process's, Redis's, the publisher's and the load generator's, over the window
  (``psutil``, ``getrusage``), and the other processes' on the machine.
- Bytes from Redis: what each server process's TCP connections to Redis received over the whole
  run, read from the kernel (``ss -tin``: ``tcpi_bytes_received``), for both servers alike; beside
  it, the messages and payload bytes each server counted itself (duplex: ``web.brokerStats``;
  socketio: around its manager's ``_listen``), and each process's channels in Redis (``CLIENT
  LIST``'s ``sub``).

Results: ``benchmarks/results/cluster.json`` (``benchmarks/results/logs/cluster-quick.json`` for
``--quick``), logs in ``benchmarks/results/logs/cluster-*``; and (not for ``--quick``) the
"Cluster" section of ``docs/benchmarks.md``, which ``benchmarks/report.py`` keeps when ``run.py``
rewrites the page.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

sys.path.insert(0, str(HERE))
import harness  # noqa: E402
import report  # noqa: E402
from harness import DASH, DOCS, LOGS, RESULTS, ROOT, SATURATED, fmt_count, fmt_pct, median_of  # noqa: E402

SERVERS: dict[str, dict[str, Any]] = {
    "duplex": {
        "script": "duplex_cluster.py",
        "label": "duplex",
        "about": "WebServer with `broker`, WebSocketServer on `/ws`, `ws.subscribe(topic)` in `onOpen`; "
        "publisher: `duplex.AsyncPublisher.publish()`",
        "packages": ["duplex", "redis", "hiredis"],
    },
    "socketio": {
        "script": "socketio_cluster.py",
        "label": "python-socketio",
        "about": "`AsyncServer(async_mode='asgi', client_manager=AsyncRedisManager(url))` in `ASGIApp` "
        "on uvicorn, `enter_room()` in `connect`; publisher: write-only `AsyncRedisManager.emit()`",
        "packages": ["python-socketio", "python-engineio", "uvicorn", "redis", "hiredis"],
    },
}
VARIANTS: dict[str, str] = {
    "even": "each topic has half its clients on A, half on B",
    "split": "topics t0-t4 on A only, t5-t9 on B only",
}
PROCESSES = ("A", "B")
#: duplex's path; its channels in Redis are ``duplex./ws.t.<topic>``.
DUPLEX_PATH = "/ws"
SOCKETIO_CHANNEL = "socketio"
#: Payload: 16 digits of sequence number, 48 bytes of filler (as ``_common.broadcast_message``).
FILL = b"-" * 48
#: Topic k's n-th message has the sequence number (k + 1) * TOPIC_BASE + n.
TOPIC_BASE = 10**12
#: Socket.IO's event frame: ``42["m","<64 bytes>"]``.
SIO_HEAD = b'42["m","'
SIO_TAIL = b'"]'
SIO_SIZE = len(SIO_HEAD) + 64 + len(SIO_TAIL)


def topic_name(k: int) -> str:
    return f"t{k}"


def payload(k: int, n: int) -> bytes:
    return b"%016d" % ((k + 1) * TOPIC_BASE + n) + FILL


def placement(i: int, topics: int, variant: str) -> tuple[int, int]:
    """Client ``i``'s topic and process (0: A, 1: B)."""
    topic = i % topics
    if variant == "split":
        return topic, 0 if topic < topics // 2 else 1
    return topic, (i // topics) % 2


# -- the publisher (a process of its own) ----------------------------------------------------------------


async def publisher_main(args: argparse.Namespace) -> None:
    """Publishes what it is given credit for: each line ``N`` on stdin allows N more messages,
    numbered on from the last, message i going to topic i % topics; ``end`` finishes the ones
    allowed, prints one JSON line (what it published) and exits."""
    topics = args.topics
    if args.kind == "duplex":
        import duplex

        publisher: Any = duplex.AsyncPublisher(args.broker)
        await publisher.connect()

        async def send(k: int, n: int) -> None:
            await publisher.publish(DUPLEX_PATH, topic_name(k), payload(k, n))

        async def close() -> None:
            await publisher.close()
    else:
        import socketio

        manager = socketio.AsyncRedisManager(args.broker, write_only=True)

        async def send(k: int, n: int) -> None:
            await manager.emit("m", payload(k, n).decode(), room=topic_name(k), namespace="/")

        async def close() -> None:
            if manager.redis is not None:
                await manager.redis.aclose()

    queues: list[asyncio.Queue[int | None]] = [asyncio.Queue() for _ in range(topics)]
    published = [0] * topics
    errors: list[str] = []

    async def topic_task(k: int) -> None:
        queue = queues[k]
        while (n := await queue.get()) is not None:
            try:
                await send(k, n)
                published[k] += 1
            except Exception as exc:
                if len(errors) < 5:
                    errors.append(f"{type(exc).__name__}: {exc}")

    tasks = [asyncio.create_task(topic_task(k)) for k in range(topics)]
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("ready", flush=True)
    next_message = 0
    while line := (await reader.readline()).strip():
        if line == b"end":
            break
        for i in range(next_message, next_message + int(line)):
            queues[i % topics].put_nowait(i // topics + 1)
        next_message += int(line)
    for queue in queues:
        queue.put_nowait(None)
    await asyncio.gather(*tasks)
    await close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "allowed": next_message,
                "published": sum(published),
                "per_topic": published,
                "errors": errors,
                "cpu_s": usage.ru_utime + usage.ru_stime,
            }
        ),
        flush=True,
    )


# -- the load generator ------------------------------------------------------------------------------


def tcp_received(redis_port: int) -> dict[int, int]:
    """Bytes received so far by each TCP connection to ``redis_port`` on this machine, by the
    connection's local port (the kernel's ``tcpi_bytes_received``, through ``ss``)."""
    out = subprocess.run(
        ["ss", "-tinH", "state", "established", f"( dport = :{redis_port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    received: dict[int, int] = {}
    port = None
    for line in out.splitlines():
        if line and not line[0].isspace():
            port = int(line.split()[2].rsplit(":", 1)[1])
            received[port] = 0
        elif port is not None:
            found = re.search(r"\bbytes_received:(\d+)", line)
            received[port] = int(found.group(1)) if found else 0
    return received


def redis_ports(pid: int, redis_port: int) -> set[int]:
    """The local ports of ``pid``'s TCP connections to Redis."""
    import psutil

    return {
        c.laddr.port
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.raddr and c.raddr.port == redis_port
    }


def by_process(received: dict[int, int], ports: dict[str, set[int]]) -> dict[str, int]:
    return {name: sum(received.get(p, 0) for p in owned) for name, owned in ports.items()}


class Meter:
    """CPU time of named processes, of this one, and of everything else, over a window."""

    def __init__(self, pids: dict[str, int]) -> None:
        import psutil

        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.exclude = {os.getpid(), os.getppid(), *pids.values()}

    def _cpu(self) -> dict[str, float]:
        times = {}
        for name, proc in self.procs.items():
            t = proc.cpu_times()
            times[name] = t.user + t.system
        usage = resource.getrusage(resource.RUSAGE_SELF)
        times["client"] = usage.ru_utime + usage.ru_stime
        return times

    def start(self) -> None:
        import client

        self.others0, self.steal0 = client.others_cpu(self.exclude), client.steal_time()
        self.t0, self.cpu0 = time.perf_counter(), self._cpu()

    def stop(self) -> dict[str, Any]:
        import client

        wall = time.perf_counter() - self.t0
        cpu = self._cpu()
        others = client.others_used(self.others0, client.others_cpu(self.exclude))
        return {
            "wall": wall,
            "cpu": {name: round((cpu[name] - self.cpu0[name]) / wall, 3) for name in cpu},
            "other_cpu": round(others / wall, 3),
            "steal": round((client.steal_time() - self.steal0) / wall, 3),
        }


async def client_main(args: argparse.Namespace) -> dict[str, Any]:
    import uvloop  # noqa: F401  (the loop is uvloop: see main)
    from picows import WSFrame, WSMsgType, WSTransport

    import client

    fast = client.import_fast_client()
    report = client.STATS.error
    loop = asyncio.get_running_loop()
    shared = fast.Deliveries()
    topics, n_clients = args.topics, args.clients
    ports = [int(p) for p in args.ports.split(",")]
    server_pids = [int(p) for p in args.server_pids.split(",")]

    class SocketIOListener(client.Base):
        """Engine.IO v4 / Socket.IO v5 over a raw WebSocket: answers the open packet with a
        connect (``40``), its pings (``2``) with pongs (``3``); counts and checks the events
        ``42["m","<64 bytes>"]`` as ``fast.BroadcastListener`` does the binary ones."""

        def __init__(self) -> None:
            super().__init__()
            self.next = -1
            self.connected = loop.create_future()

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.fin and frame.msg_type == WSMsgType.TEXT and self._parts is None:
                data = frame.get_payload_as_bytes()
            else:
                message = self.slow_frame(frame)
                if message is None:
                    return
                kind, data = message
                if kind != WSMsgType.TEXT:
                    report("socket.io", f"a {kind!r} message, not TEXT")
                    return
            if data.startswith(b"42"):
                if len(data) != SIO_SIZE or not data.startswith(SIO_HEAD) or not data.endswith(SIO_TAIL):
                    report("socket.io", f"an unexpected event {data[:80]!r}")
                    return
                body = data[len(SIO_HEAD) : len(SIO_HEAD) + 64]
                if body[16:] != FILL or not body[:16].isdigit():
                    report("socket.io", f"a malformed message {body!r}")
                    return
                seq = int(body[:16])
                if self.next >= 0 and seq != self.next:
                    report("order", f"expected message {self.next}, got {seq}")
                self.next = seq + 1
                shared.delivered += 1
                if shared.delivered >= shared.target and shared.done is not None and not shared.done.done():
                    shared.done.set_result(None)
            elif data == b"2":
                transport.send(WSMsgType.TEXT, b"3")
            elif data.startswith(b"0{"):
                transport.send(WSMsgType.TEXT, b"40")
            elif data.startswith(b"40"):
                if not self.connected.done():
                    self.connected.set_result(None)
            else:
                report("socket.io", f"an unexpected packet {data[:80]!r}")

    # Connect: client i in topic i % topics, on process A or B by the variant.
    plan = [placement(i, topics, args.variant) for i in range(n_clients)]
    members = [sum(1 for t, _ in plan if t == k) for k in range(topics)]
    if len(set(members)) != 1:
        raise RuntimeError(f"the topics must have as many clients each: {members}")
    per_message = members[0]
    semaphore = asyncio.Semaphore(100)
    conns: list[tuple[Any, Any]] = []

    async def open_one(topic: int, process: int) -> None:
        if args.kind == "duplex":
            url = f"ws://127.0.0.1:{ports[process]}{DUPLEX_PATH}?topic={topic_name(topic)}"

            def factory() -> Any:
                return fast.BroadcastListener(shared, report)
        else:
            url = f"ws://127.0.0.1:{ports[process]}/socket.io/?EIO=4&transport=websocket&topic={topic_name(topic)}"
            factory = SocketIOListener
        async with semaphore:
            try:
                transport, listener = await client.connect(factory, url)
                if args.kind == "socketio":
                    await asyncio.wait_for(listener.connected, 10)
                conns.append((transport, listener))
                listener_topic[id(listener)] = topic
            except Exception as exc:
                report("connect", f"{type(exc).__name__}: {exc}")

    listener_topic: dict[int, int] = {}
    await asyncio.gather(*(open_one(t, p) for t, p in plan))
    if len(conns) < n_clients:
        raise RuntimeError(f"only {len(conns)} of {n_clients} clients connected")

    # The publisher, on this CPU too.
    publisher = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).resolve()),
        "--role",
        "publisher",
        "--kind",
        args.kind,
        "--broker",
        args.broker,
        "--topics",
        str(topics),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    assert publisher.stdin is not None and publisher.stdout is not None
    try:
        line = await asyncio.wait_for(publisher.stdout.readline(), 30)
        if line.strip() != b"ready":
            raise RuntimeError(f"the publisher did not start: {line!r}")
        allowed = 0

        def allow(n: int) -> None:
            nonlocal allowed
            allowed += n
            publisher.stdin.write(b"%d\n" % n)

        # Every client must be in its topic, in Redis too, before measuring: rounds of one message
        # per topic until each client has had one.
        listeners = [listener for _, listener in conns]
        for _ in range(20):
            allow(topics)
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline and any(x.next < 0 for x in listeners):
                await asyncio.sleep(0.02)
            if all(x.next >= 0 for x in listeners):
                break
        else:
            missing = sum(1 for x in listeners if x.next < 0)
            raise RuntimeError(f"{missing} clients never got a message of their topic")
        # The rest of those first messages arrive now (a client that joined late missed some):
        # wait until they stop coming; from then on every message counts.
        seen, quiet_since = -1, time.monotonic()
        while shared.delivered < allowed * per_message and time.monotonic() - quiet_since < 0.3:
            if shared.delivered != seen:
                seen, quiet_since = shared.delivered, time.monotonic()
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        base = shared.delivered
        sync_messages = allowed

        redis_port = int(args.broker.rsplit(":", 1)[1].split("/")[0])

        # The run: at most `window` messages in flight; half a window more each time half is in.
        window, half = args.window, args.window // 2
        stop = False
        stalled: list[str] = []

        async def drive() -> None:
            allow(window)
            while not stop:
                target = base + (allowed - sync_messages - half) * per_message
                if shared.delivered < target:
                    shared.target = target
                    shared.done = loop.create_future()
                    try:
                        await asyncio.wait_for(shared.done, 10)
                    except TimeoutError:
                        stalled.append(
                            f"{target - shared.delivered} deliveries short of {target} after 10 s; "
                            f"{allowed} messages allowed; last message per topic, lowest and highest "
                            f"over its clients: {progress(conns, listener_topic, topics)}"
                        )
                        return
                    finally:
                        shared.done = None
                if not stop:
                    allow(half)

        meter = Meter(
            {
                "A": server_pids[0],
                "B": server_pids[1],
                "redis": args.redis_pid,
                "publisher": publisher.pid,
            }
        )
        driver = asyncio.create_task(drive())
        await asyncio.sleep(args.warmup)
        delivered0 = shared.delivered
        meter.start()
        await asyncio.sleep(args.duration)
        delivered1 = shared.delivered
        window_stats = meter.stop()
        stop = True  # no more credit; the driver's wait ends now
        if shared.done is not None and not shared.done.done():
            shared.done.set_result(None)
        await asyncio.wait_for(driver, 15)
        if stalled:
            raise RuntimeError("the run stalled: " + stalled[0])

        # Drain: every message allowed must reach every member of its topic, once.
        publisher.stdin.write(b"end\n")
        last = json.loads((await asyncio.wait_for(publisher.stdout.readline(), 30)) or b"{}")
        expected = allowed * per_message
        deadline = time.monotonic() + 15
        while (
            shared.delivered - base < (allowed - sync_messages) * per_message and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        run_delivered = shared.delivered - base
        run_expected = (allowed - sync_messages) * per_message
        if run_delivered != run_expected:
            report("deliveries", f"{run_delivered} deliveries after the sync, {run_expected} expected")
        if last.get("published") != allowed:
            report("publisher", f"published {last.get('published')} of {allowed}: {last.get('errors')}")
        for _, listener in conns:
            k = listener_topic[id(listener)]
            count = (allowed - k + topics - 1) // topics
            if listener.next != (k + 1) * TOPIC_BASE + count + 1:
                report("last message", f"a client of {topic_name(k)} ended at {listener.next - 1}")

        # What each process received from Redis and what it is subscribed to there, then the
        # servers' own counters (printed to their logs on SIGUSR1).
        owned = {name: redis_ports(pid, redis_port) for name, pid in zip(PROCESSES, server_pids, strict=True)}
        bytes_end = by_process(tcp_received(redis_port), owned)
        subs = redis_subscriptions(args.broker, owned)
        if args.kind == "duplex":
            from duplex.cluster.channels import topic_channel

            channels = [topic_channel(DUPLEX_PATH, topic_name(k)) for k in range(topics)]
        else:
            channels = [SOCKETIO_CHANNEL]
        numsub = redis_numsub(args.broker, channels)
        for pid in server_pids:
            os.kill(pid, signal.SIGUSR1)
    finally:
        if publisher.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                publisher.kill()
            await publisher.wait()
    await client.close_all(conns)
    wall = window_stats["wall"]
    return {
        "value": (delivered1 - delivered0) / wall,
        "unit": "deliveries/s",
        **window_stats,
        "delivered": delivered1 - delivered0,
        "messages_per_s": (delivered1 - delivered0) / wall / per_message,
        "members_per_topic": per_message,
        "published": allowed,
        "expected_deliveries": expected,
        "publisher": last,
        "redis_bytes": bytes_end,
        "redis_subscriptions": subs,
        "redis_numsub": numsub,
    }


def progress(conns: list[tuple[Any, Any]], topic_of: dict[int, int], topics: int) -> str:
    """Each topic's last message received, lowest and highest over its clients (diagnostics)."""
    seen: dict[int, list[int]] = {k: [] for k in range(topics)}
    for _, listener in conns:
        k = topic_of[id(listener)]
        seen[k].append(listener.next - 1 - (k + 1) * TOPIC_BASE if listener.next > 0 else -1)
    return ", ".join(f"{topic_name(k)} {min(v)}-{max(v)}" for k, v in seen.items() if v)


def redis_subscriptions(url: str, owned: dict[str, set[int]]) -> dict[str, int]:
    """Channels each process is subscribed to in Redis (``CLIENT LIST``'s ``sub``, summed over
    its connections)."""
    import redis

    with redis.Redis.from_url(url) as r:
        listing = r.execute_command("CLIENT", "LIST")
    if isinstance(listing, bytes):
        listing = listing.decode()
    subs: dict[str, int] = dict.fromkeys(owned, 0)
    for line in listing.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        port = int(fields.get("addr", ":0").rsplit(":", 1)[1])
        for name, ports in owned.items():
            if port in ports:
                subs[name] += int(fields.get("sub", 0))
    return subs


def redis_numsub(url: str, channels: list[str]) -> dict[str, int]:
    import redis

    with redis.Redis.from_url(url) as r:
        answer = r.execute_command("PUBSUB", "NUMSUB", *channels)
    if isinstance(answer, dict):
        items = list(answer.items())
    else:
        items = list(zip(answer[::2], answer[1::2], strict=True))
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in items}


def client_entry(args: argparse.Namespace) -> None:
    harness.client_role(args, client_main)


# -- one measurement (the orchestrator) ---------------------------------------------------------------


def start_redis(log: Path, pin: int | None) -> tuple[subprocess.Popen[bytes], int]:
    port = harness.free_port()
    proc = harness.spawn(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ],
        log,
        pin,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return proc, port
        except OSError:
            pass
        time.sleep(0.05)
    harness.kill(proc)
    raise RuntimeError(f"redis-server did not answer within 10 s; see {log}")


def start_server(name: str, broker: str, log: Path, pin: int | None) -> tuple[subprocess.Popen[bytes], int]:
    return harness.start_server(
        name, HERE / "servers" / SERVERS[name]["script"], ["--broker", broker], log, pin
    )


def server_stats(log: Path, timeout: float = 5.0) -> dict[str, Any] | None:
    """The last ``stats {json}`` line a server printed (on the client's SIGUSR1)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [x for x in log.read_text(errors="replace").splitlines() if x.startswith("stats ")]
        if lines:
            return dict(json.loads(lines[-1][len("stats ") :]))
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def measure(
    name: str, variant: str, repeat: int, opts: argparse.Namespace, pins: harness.Pins
) -> dict[str, Any]:
    tag = f"cluster-{name}-{variant}-{repeat}"
    record: dict[str, Any] = {"server": name, "variant": variant, "repeat": repeat}
    logs = {p: LOGS / f"{tag}.{p}.log" for p in PROCESSES}
    # The processes are killed the last started first: the servers before Redis (Redis going first
    # would be an outage).
    with harness.measuring(record, logs.values()) as procs:
        redis_proc, redis_port = start_redis(LOGS / f"{tag}.redis.log", pins[1])
        procs.append(redis_proc)
        broker = f"redis://127.0.0.1:{redis_port}/0"
        servers = []
        for process in PROCESSES:
            proc, port = start_server(name, broker, logs[process], pins[0])
            procs.append(proc)
            servers.append((proc, port))
        record["server_pinned"] = pins[0] is None or all(
            harness.threads_pinned(p.pid, pins[0]) for p, _ in servers
        )
        args = [
            "--role",
            "client",
            "--kind",
            name,
            "--variant",
            variant,
            "--ports",
            ",".join(str(port) for _, port in servers),
            "--server-pids",
            ",".join(str(p.pid) for p, _ in servers),
            "--broker",
            broker,
            "--redis-pid",
            str(redis_proc.pid),
            "--clients",
            str(opts.clients),
            "--topics",
            str(opts.topics),
            "--window",
            str(opts.window),
            "--warmup",
            str(opts.warmup),
            "--duration",
            str(opts.duration),
        ]
        # This script as ``--role client``.
        result = harness.run_child(Path(__file__).resolve(), args, LOGS / f"{tag}.client.log", 180, pins[1])
        for (proc, _), process in zip(servers, PROCESSES, strict=True):
            if proc.poll() is not None:
                harness.add_error(result, f"server {process} died (exit {proc.returncode})")
        if result.get("value") is not None:
            result["server_stats"] = {p: server_stats(logs[p]) for p in PROCESSES}
        record.update(result)
    return record


def describe(record: dict[str, Any]) -> str:
    value = record.get("value")
    if value is None:
        return harness.failed_text(record)
    cpu = record["cpu"]
    text = (
        f"{value:,.0f} deliveries/s  (A {cpu['A']:.0%}, B {cpu['B']:.0%}; client {cpu['client']:.0%}, "
        f"publisher {cpu['publisher']:.0%}, redis {cpu['redis']:.0%}; others {record['other_cpu']:.0%})"
    )
    received = record.get("redis_bytes", {})
    published = record.get("published") or 1
    text += "  from Redis per message: " + ", ".join(
        f"{p} {received.get(p, 0) / published:.0f} B" for p in PROCESSES
    )
    return text + harness.errors_note(record)


# -- summary -----------------------------------------------------------------------------------------


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per variant and server: medians over the repeats."""
    return harness.summarize(runs, "variant", "server", fill_cell)


def fill_cell(cell: dict[str, Any], ok: list[dict[str, Any]], records: list[dict[str, Any]]) -> None:
    """Deliveries/s, per server CPU-second, the CPU use and what came from Redis, per process, of
    a (variant, server) cell: medians."""
    cell.update(
        {
            # Deliveries per second of the two servers' CPU time together.
            "by_repeat_per_cpu": {
                str(r["repeat"]): r["value"] / (r["cpu"]["A"] + r["cpu"]["B"])
                for r in ok
                if r["cpu"]["A"] + r["cpu"]["B"] > 0
            },
            "median": median_of(ok, lambda r: r["value"]),
            "other_cpu": median_of(ok, lambda r: r["other_cpu"]),
            "pinned": all(r.get("server_pinned", True) for r in records),
            "cpu": {},
            "redis_bytes_per_message": {},
            "messages_share": {},
            "payload_bytes_per_message": {},
            "redis_subscriptions": {},
        }
    )
    cell["median_per_cpu"] = (
        statistics.median(cell["by_repeat_per_cpu"].values()) if cell["by_repeat_per_cpu"] else None
    )
    for name in ("A", "B", "client", "publisher", "redis"):
        cell["cpu"][name] = median_of(ok, lambda r, n=name: r["cpu"][n])
    load = median_of(ok, lambda r: r["cpu"]["client"] + r["cpu"]["publisher"] + r["cpu"]["redis"])
    cell["cpu"]["load_side"] = load
    for p in PROCESSES:
        cell["redis_bytes_per_message"][p] = median_of(
            ok, lambda r, p=p: r["redis_bytes"][p] / r["published"]
        )
        cell["messages_share"][p] = median_of(
            ok, lambda r, p=p: r["server_stats"][p]["broker"]["received"] / r["published"]
        )
        cell["payload_bytes_per_message"][p] = median_of(
            ok, lambda r, p=p: r["server_stats"][p]["broker"]["received_bytes"] / r["published"]
        )
        cell["redis_subscriptions"][p] = median_of(ok, lambda r, p=p: r["redis_subscriptions"][p])
    cell["load_saturated"] = load is not None and load > SATURATED


def ratio(summary: dict[str, Any], variant: str, per_cpu: bool = False) -> float | None:
    """duplex / socketio deliveries/s (``per_cpu``: per server CPU-second): the median of the
    per-repeat ratios, each pairing two measurements made within a minute of each other."""
    row = summary.get(variant, {})
    a, b = row.get("duplex"), row.get("socketio")
    if not a or not b:
        return None
    key = "by_repeat_per_cpu" if per_cpu else "by_repeat"
    pairs = harness.paired(a[key], b[key])
    return statistics.median(pairs) if pairs else None


# -- the docs section --------------------------------------------------------------------------------

SECTION = "## Cluster"
ROUTING_JOIN = ";\n  "


def fmt_bytes(value: float | None) -> str:
    return DASH if value is None else f"{value:,.0f} B"


def fmt_ratio(value: float | None, bound: bool = False) -> str:
    if value is None:
        return ""
    return f"{'≥ ' if bound else ''}{value:.1f}\u00d7"


def pair(cell: dict[str, Any], key: str, fmt: Any) -> str:
    return f"{fmt(cell[key]['A'])} / {fmt(cell[key]['B'])}"


def table(data: dict[str, Any]) -> str:
    """The main table: deliveries/s, the servers' CPU, bytes from Redis, the ratio."""
    summary, max_noise = data["summary"], data["meta"].get("max_noise", 0.15)
    lines = [
        "| variant | server | deliveries/s | server CPU, A / B | bytes received from Redis per message "
        "published, A / B | duplex / python-socketio |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for variant in VARIANTS:
        for server in SERVERS:
            cell = summary.get(variant, {}).get(server)
            if cell is None:
                continue
            r = ratio(summary, variant) if server == "duplex" else None
            value = harness.value_text(cell, max_noise, "load_saturated")
            lines.append(
                f"| {variant} | {SERVERS[server]['label']} | {value} | "
                f"{pair(cell, 'cpu', fmt_pct)} | "
                f"{pair(cell, 'redis_bytes_per_message', fmt_bytes)} | "
                f"{fmt_ratio(r, cell['load_saturated'])} |"
            )
    return "\n".join(lines)


def details_table(data: dict[str, Any]) -> str:
    """Per CPU-second, the load side's CPU, and what each process got from Redis."""
    summary = data["summary"]
    lines = [
        "| variant | server | deliveries per server CPU-second (ratio) | load side CPU: clients / "
        "publisher / Redis | channels subscribed in Redis, A / B | messages received from Redis "
        "(of those published), A / B | payload bytes counted by the server per message published, "
        "A / B |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for variant in VARIANTS:
        for server in SERVERS:
            cell = summary.get(variant, {}).get(server)
            if cell is None:
                continue
            cpu = cell["cpu"]
            per_cpu = fmt_count(cell["median_per_cpu"])
            r = ratio(summary, variant, per_cpu=True) if server == "duplex" else None
            if r is not None:
                per_cpu += f" ({fmt_ratio(r)})"
            load = f"{fmt_pct(cpu['client'])} / {fmt_pct(cpu['publisher'])} / {fmt_pct(cpu['redis'])}"
            lines.append(
                f"| {variant} | {SERVERS[server]['label']} | {per_cpu} | {load} | "
                f"{pair(cell, 'redis_subscriptions', fmt_count)} | {pair(cell, 'messages_share', fmt_pct)} | "
                f"{pair(cell, 'payload_bytes_per_message', fmt_bytes)} |"
            )
    return "\n".join(lines)


def markdown(data: dict[str, Any]) -> str:
    """The "Cluster" section of docs/benchmarks.md, from a results file of this script."""
    meta, summary = data["meta"], data["summary"]
    goals = []
    for variant in VARIANTS:
        r = ratio(summary, variant)
        if r is not None:
            goals.append(f"`{variant}` {r:.1f}\u00d7")
    met = [ratio(summary, v) for v in VARIANTS if ratio(summary, v) is not None]
    verdict = ("**met**" if all(r >= 5 for r in met) else "**not met**") if met else "not measured"
    routing = []
    for server in SERVERS:
        cell = summary.get("split", {}).get(server)
        if cell:
            share = cell["messages_share"]
            routing.append(
                f"{SERVERS[server]['label']}'s A received {fmt_pct(share['A'])} of the messages "
                f"published, and B {fmt_pct(share['B'])}"
            )
    problems = harness.problems(
        summary, lambda variant, server: f"{variant}, {SERVERS[server]['label']}", "a server's log"
    )
    versions, quick, repeats = harness.run_notes(meta)
    half = meta["topics"] // 2
    return f"""{SECTION}

Two server processes sharing one Redis, {meta["clients"]:,} WebSocket clients spread over both and
over {meta["topics"]} topics, one publisher process: duplex (the `broker` setting, topics) against
python-socketio (`AsyncRedisManager`, rooms) on uvicorn, the scenario of issue 11. Written by
`python benchmarks/cluster.py` (about 3 minutes; `--quick`: a 30-second smoke check that leaves
this page alone; `--report-only`: this section again from `benchmarks/results/cluster.json`);
`run.py` keeps it when it rewrites the page.

Measured {meta["date"]}{quick}
with `{meta["command"].strip()}`:
{repeats} of {meta["duration_s"]:g} s after a {meta["warmup_s"]:g} s warm-up, medians shown; the
run took {meta["elapsed_s"] / 60:.1f} minutes. duplex at commit {meta["duplex_commit"]};
Redis {meta["redis_version"]}. `even`: each topic has half its clients on process A and half on
B; `split`: topics t0-t{half - 1} on A only, t{half}-t{meta["topics"] - 1} on B only.

{table(data)}

- **Goal** (issue 11), duplex \u2265 5\u00d7 python-socketio in deliveries/s: {verdict}
  ({", ".join(goals) or "not measured"}; medians of the per-repeat ratios).
- **Routing.** In `split`:
  {ROUTING_JOIN.join(routing) or "not measured"}.
  A duplex process subscribes in Redis to the channels of the topics it has members of
  (`duplex./ws.t.<topic>`, plus the path's broadcast channel and the presence channel), so Redis
  sends it nothing else: half the bytes. python-socketio's manager subscribes every process to its
  one channel (`socketio`): each process receives and decodes every message, and drops those
  that have no member there.
- **Bytes.** Each duplex message crosses Redis as its 64-byte payload in duplex's envelope
  (16 bytes of header, the path and the topic) inside Redis's push (with the channel name);
  python-socketio's is a JSON object (method, event, data list, namespace, room, skip_sid,
  callback, host id) inside the same push.
- `\u2265`: the load side (CPU {meta["load_cpu"]}: the clients, the publisher and Redis together)
  used more than {SATURATED:.0%} of its core, so the servers might have done more: a lower bound
  (the ratio too). The servers' own CPU shows whether they were saturated (A + B = 100%: all of
  CPU {meta["server_cpu"]}). `\u2020`: other processes used more than
  {meta.get("max_noise", 0.15):g} of a core during the window.

Details (medians):

{details_table(data)}

How it is measured:

- **Processes.** For each measurement a fresh `redis-server` on a free port and two fresh server
  processes, A and B, with it as their broker (`benchmarks/servers/duplex_cluster.py`,
  `benchmarks/servers/socketio_cluster.py`), both pinned to CPU {meta["server_cpu"]}: they share
  one core. The load generator (`benchmarks/cluster.py --role client`: picows on uvloop, as
  `benchmarks/client.py`), the publisher and Redis are pinned to CPU {meta["load_cpu"]}.
- **Clients.** Client i joins topic `t<i mod {meta["topics"]}>` through its URL's query: duplex's
  at `ws://\u2026/ws?topic=t3`, whose connection handler calls `ws.subscribe()` in `onOpen`;
  python-socketio's at `/socket.io/?EIO=4&transport=websocket&topic=t3`, whose `connect` handler
  calls `enter_room()`. The Socket.IO clients speak Engine.IO v4 / Socket.IO v5 over the raw
  WebSocket (the `0{{\u2026}}` open packet, `40` to connect, `42[\u2026]` events, `2`/`3` pings)
  in the same picows client as duplex's; duplex's messages are counted by `client.py`'s compiled
  broadcast listener, the Socket.IO ones by a Python listener.
- **Publisher.** One process publishes 64-byte messages round-robin over the topics: duplex's with
  `duplex.AsyncPublisher.publish("/ws", topic, bytes)` (a binary frame to each member),
  python-socketio's with a write-only `AsyncRedisManager.emit("m", str, room=topic)` (a text frame
  `42["m","\u2026"]`), one task per topic that waits for Redis's answer before its next message.
  The load generator lets it have at most {meta["window"]} messages not yet delivered to every
  member (more credit each time half of them are in), so each system runs as fast as it delivers
  and no queue grows without bound.
- **Deliveries/s**: messages received by all clients over the measured window, counted by the
  clients. Each message carries its topic and a per-topic sequence number: each client checks that
  it gets every message of its topic, once, in order, intact; at the end every client must have
  had its topic's last message and the total must be exact. Before measuring, one message per
  topic is published until every client has had one (a subscription takes a round trip to Redis).
- **Bytes from Redis**: what each server process's TCP connections to Redis received over the
  whole measurement (connecting, warm-up, window, drain), read from the kernel (`ss -tin`:
  `tcpi_bytes_received`), the same way for both servers, divided by the messages published. It
  includes Redis's framing, the subscription replies and duplex's presence heartbeats (one per
  process per second). Beside it, each server's own count of what its broker client handed it:
  duplex's `web.brokerStats` (`received`, `received_bytes`), python-socketio's messages out of its
  manager's `_listen()`. Channels: the `sub` of each process's connections in Redis's `CLIENT
  LIST` while the clients were connected.
- Versions: {versions}.

{chr(10).join(problems) if problems else "Errors: none. Every message was checked and all matched; every run ended exact."}
"""


def write_section(data: dict[str, Any], docs: Path = DOCS) -> None:
    """Put the section in docs/benchmarks.md, replacing the one there (or at the end); the
    sections after it (the "Clients" of ``clients.py``) stay."""
    harness.write_section(SECTION, markdown(data), docs)


def section_from_results(path: Path | None = None) -> str:
    """The section from results/cluster.json, or "" before the first run (for report.py)."""
    return harness.section_from_results(path or RESULTS / "cluster.json", summarize, markdown)


# -- main --------------------------------------------------------------------------------------------


def redis_version() -> str:
    out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    found = re.search(r"v=(\S+)", out)
    return found.group(1) if found else "unknown"


def versions() -> dict[str, str]:
    return report.package_versions(
        [
            "duplex",
            "python-socketio",
            "python-engineio",
            "uvicorn",
            "redis",
            "hiredis",
            "picows",
            "uvloop",
        ]
    )


def orchestrate(opts: argparse.Namespace) -> None:
    if opts.report_only:
        write_section(harness.load_results(RESULTS / "cluster.json", summarize))
        return
    harness.quick_defaults(opts)
    servers = harness.chosen(opts.servers, SERVERS, "server")
    variants = harness.chosen(opts.variants, VARIANTS, "variant")
    pins = harness.prepare("cluster-*.log", server="the servers", load="the load")

    measured = harness.run_plan(
        harness.interleaved(opts.repeats, variants, servers),
        lambda repeat, variant, server: measure(server, variant, repeat, opts, pins),
        lambda variant, server, record: f"{variant:5} {server:8} {describe(record)}",
        opts,
    )
    data = harness.results(
        measured,
        summarize,
        opts,
        pins,
        "cluster.py",
        load_key="load_cpu",
        first={"versions": versions(), "redis_version": redis_version()},
        setup={"clients": opts.clients, "topics": opts.topics, "window": opts.window},
        chosen={"servers": servers, "variants": variants},
    )
    # A smoke run's results go with the logs (not kept in git), a real run's beside latest.json.
    out = LOGS / "cluster-quick.json" if opts.quick else RESULTS / "cluster.json"
    harness.save(data, out, measured.elapsed, [table(data)])
    if not opts.quick and not opts.no_docs:
        write_section(data)


def main() -> None:
    parser = harness.new_parser(__doc__)
    harness.add_names(parser, "--servers", SERVERS)
    harness.add_names(parser, "--variants", VARIANTS)
    harness.add_timing(parser)
    parser.add_argument("--clients", type=int, default=1000, help="WebSocket clients (1000)")
    parser.add_argument("--topics", type=int, default=10, help="topics (10)")
    parser.add_argument("--window", type=int, default=1000, help="messages in flight at most (1000)")
    harness.add_noise(parser, 10, "seconds to wait for a quiet machine")
    harness.add_docs(parser, "cluster.json")
    # The roles this script plays in its own child processes.
    parser.add_argument("--role", choices=("orchestrator", "client", "publisher"), default="orchestrator")
    parser.add_argument("--kind", choices=tuple(SERVERS), help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=tuple(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--ports", help=argparse.SUPPRESS)
    parser.add_argument("--server-pids", help=argparse.SUPPRESS)
    parser.add_argument("--broker", help=argparse.SUPPRESS)
    parser.add_argument("--redis-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, default=None, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.role == "publisher":
        import uvloop

        uvloop.run(publisher_main(opts))
    elif opts.role == "client":
        client_entry(opts)
    else:
        orchestrate(opts)


if __name__ == "__main__":
    harness.guarded(main)
