"""The client benchmark: duplex's client against the websockets, aiohttp and picows clients, each
in one process driving 100 echo connections against one fixed server (duplex's bare engine).

    python benchmarks/clients.py               # the full run (about 4 minutes); rewrites the
                                               # "Clients" section of docs/benchmarks.md
    python benchmarks/clients.py --quick       # a 30-second smoke check; docs left alone
    python benchmarks/clients.py --report-only # rewrite that section from results/clients.json
    python benchmarks/clients.py --clients duplex_4d,picows --sizes 64 --repeats 1

One measurement: a fresh server (``benchmarks/servers/duplex_engine.py --mode echo``: duplex's
engine, compression off, on uvloop) pinned to CPU 0, and a fresh client process (this script,
``--role client``) pinned to CPU 1 that runs one client library on uvloop:

- ``--connections`` (100) connections, all opened before anything is counted;
- then on each connection a closed loop: send one binary message of ``--size`` bytes, wait for its
  echo, check it, send the next; the message alternates between two payloads made for that
  connection (its number, the parity, a fixed pattern), so an echo that is lost, repeated,
  corrupted or crosses connections is an error, and the check is one ``==`` (a memcmp);
- round trips/s counted over ``--duration`` seconds after a ``--warmup``; the client's CPU
  (``getrusage``), the server's (``psutil``) and the other processes' over that window (the meter
  of ``benchmarks/client.py``);
- then every connection finishes its round trip in flight (an echo that never comes is an error)
  and closes cleanly (close code 1000 both ways, else an error).

Clients, each in its own natural idiom, compression off for all:

- ``duplex_4d``: ``duplex.WebSocket(url, handler, compression=False, pingInterval=None)`` made
  inside the running uvloop loop (its callbacks then run on that loop); the handler's
  ``onMessage(ws, event)`` checks ``event["data"]`` (``dataType`` "blob") and sends the next one.
- ``duplex_async``: ``async with duplex.connect(url, compression=False, pingInterval=None) as ws``,
  ``await ws.send(m)``, ``await ws.recv()``; one task per connection.
- ``websockets``: ``websockets.asyncio.client.connect(url, compression=None)``, ``await
  ws.send(m)``, ``await ws.recv()``; one task per connection.
- ``aiohttp``: one ``ClientSession``, ``session.ws_connect(url, compress=0, autoping=True)``,
  ``await ws.send_bytes(m)``, ``await ws.receive()``; one task per connection.
- ``picows``: ``ws_connect`` with a (Python) ``WSListener`` whose ``on_ws_frame`` checks the
  payload and sends the next message.

Repeats are interleaved: each repeat measures every (size, client), in an order rotated from one
repeat to the next (as ``run.py``). Results: ``benchmarks/results/clients.json``
(``benchmarks/results/logs/clients-quick.json`` for ``--quick``), logs in
``benchmarks/results/logs/clients-*``; and (not for ``--quick``) the "Clients" section of
``docs/benchmarks.md``, which ``benchmarks/report.py`` keeps when ``run.py`` rewrites the page.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SERVER = "duplex_engine"

sys.path.insert(0, str(HERE))
import harness  # noqa: E402
import report  # noqa: E402
from harness import DASH, DOCS, LOGS, RESULTS, SATURATED, fmt_count, fmt_pct, fmt_ratio, median_of, verdict  # noqa: E402

CLIENTS: dict[str, dict[str, Any]] = {
    "duplex_4d": {
        "label": "duplex (4D callbacks)",
        "about": "`duplex.WebSocket(url, handler, compression=False, pingInterval=None)` made on the "
        'running uvloop loop; `onMessage(ws, event)` checks `event["data"]` (`dataType` "blob") and '
        "calls `ws.send()`",
        "package": "duplex",
        "duplex": True,
    },
    "duplex_async": {
        "label": "duplex (connect, async)",
        "about": "`async with duplex.connect(url, compression=False, pingInterval=None) as ws`, "
        "`await ws.send(m)`, `await ws.recv()`, a task per connection",
        "package": "duplex",
        "duplex": True,
    },
    "websockets": {
        "label": "websockets",
        "about": "`websockets.asyncio.client.connect(url, compression=None)`, `await ws.send(m)`, "
        "`await ws.recv()`, a task per connection",
        "package": "websockets",
    },
    "aiohttp": {
        "label": "aiohttp",
        "about": "one `ClientSession`, `ws_connect(url, compress=0, autoping=True)`, "
        "`await ws.send_bytes(m)`, `await ws.receive()`, a task per connection",
        "package": "aiohttp",
    },
    "picows": {
        "label": "picows",
        "about": "`ws_connect(listener_factory, url)`, a Python `WSListener` whose `on_ws_frame` "
        "checks the payload and calls `transport.send()`",
        "package": "picows",
    },
}
PEERS = ("websockets", "aiohttp", "picows")
FACES = ("duplex_4d", "duplex_async")
SIZES: dict[int, str] = {64: "64 B", 16384: "16 KiB"}

#: (peer, duplex's face judged against it, target): issue 12's goals. Each peer is compared with
#: the face written in the same style: the awaiting libraries with ``connect()``, picows's
#: callback listener with the 4D callbacks.
GOALS: list[tuple[str, str, float]] = [
    ("websockets", "duplex_async", 2.0),
    ("aiohttp", "duplex_async", 1.2),
    ("picows", "duplex_4d", 0.8),
]


# -- the client process -------------------------------------------------------------------------------


def payloads(i: int, size: int) -> tuple[bytes, bytes]:
    """Connection ``i``'s two messages of ``size`` bytes (they alternate): its number, the parity,
    then a fixed pattern."""
    import client

    a, b = ((b"%08d%d" % (i, parity) + client.PATTERN)[:size] for parity in (0, 1))
    return a, b


class Shared:
    """What every connection of a client process updates: round trips done, the loop's switch,
    connections still finishing their last round trip, the errors."""

    def __init__(self) -> None:
        import client

        self.count = 0
        self.running = True
        self.opened = 0
        self.finishing = 0
        self.finished: asyncio.Future[None] | None = None
        self.error = client.STATS.error

    def finish_one(self) -> None:
        self.finishing -= 1
        if self.finishing <= 0 and self.finished is not None and not self.finished.done():
            self.finished.set_result(None)


# Every driver: ``open(url, n, size, shared)`` opens the connections and returns (start, close):
# ``start()`` sends the first message on each, ``await close()`` waits for the last echoes (the
# loop's switch is off by then) and closes every connection cleanly.


async def drive_duplex_4d(url: str, n: int, size: int, shared: Shared) -> tuple[Any, Any]:
    import duplex

    loop = asyncio.get_running_loop()
    all_open = loop.create_future()
    all_closed = loop.create_future()
    terminated = 0

    class Handler:
        dataType = "blob"

        def __init__(self, i: int) -> None:
            self.a, self.b = payloads(i, size)
            self.expect = self.a
            self.live = True

        def onOpen(self, ws: Any, event: Any) -> None:
            shared.opened += 1
            if shared.opened == n and not all_open.done():
                all_open.set_result(None)

        def onMessage(self, ws: Any, event: Any) -> None:
            data = event["data"]
            if data != self.expect:
                shared.error("echo", f"{len(data)} bytes back, not the {size} sent")
            shared.count += 1
            if shared.running:
                self.expect = self.b if self.expect is self.a else self.a
                ws.send(self.expect)
            else:
                self.live = False
                shared.finish_one()

        def onError(self, ws: Any, event: Any) -> None:
            error = event["errors"][0] if event.get("errors") else {}
            shared.error("duplex onError", f"{error.get('errCode')}: {error.get('message')}")

        def onTerminate(self, ws: Any, event: Any) -> None:
            nonlocal terminated
            if event["code"] != 1000:
                shared.error("close", f"onTerminate with code {event['code']} {event['reason']!r}")
            terminated += 1
            if terminated == n and not all_closed.done():
                all_closed.set_result(None)
            if not all_open.done() and terminated + shared.opened >= n:
                all_open.set_result(None)

    handlers = [Handler(i) for i in range(n)]
    clients = [duplex.WebSocket(url, h, compression=False, pingInterval=None) for h in handlers]
    await asyncio.wait_for(all_open, 30)
    if shared.opened < n:
        raise RuntimeError(f"only {shared.opened} of {n} connections opened")

    def start() -> None:
        for ws, h in zip(clients, handlers, strict=True):
            ws.send(h.expect)

    async def close() -> None:
        for ws in clients:
            ws.terminate()
        await asyncio.wait_for(all_closed, 15)

    return start, close


async def drive_tasks(url: str, n: int, size: int, shared: Shared, kind: str) -> tuple[Any, Any]:
    """The awaiting clients (duplex's connect(), websockets, aiohttp): a task per connection."""
    loop = asyncio.get_running_loop()
    go = asyncio.Event()
    all_open = loop.create_future()
    session: Any = None

    def one_open() -> None:
        shared.opened += 1
        if shared.opened == n and not all_open.done():
            all_open.set_result(None)

    def fail(where: str, exc: BaseException) -> None:
        shared.error(where, f"{type(exc).__name__}: {exc}")
        if not all_open.done() and where == "connect":
            all_open.set_exception(RuntimeError(f"a connection did not open: {exc!r}"))

    def differs(reply: Any, sent: bytes) -> str | None:
        return "an echo differs from what was sent"

    # How each library opens a connection, sends and receives (the names of the methods).
    connect: Callable[[], Awaitable[Any]]
    send_name, recv_name = "send", "recv"
    if kind == "duplex_async":
        import duplex

        def connect() -> Awaitable[Any]:
            return duplex.connect(url, compression=False, pingInterval=None).__aenter__()

    elif kind == "websockets":
        from websockets.asyncio.client import connect as websockets_connect

        def connect() -> Awaitable[Any]:
            return websockets_connect(url, compression=None)

    elif kind == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        binary = aiohttp.WSMsgType.BINARY
        send_name, recv_name = "send_bytes", "receive"

        def connect() -> Awaitable[Any]:
            return session.ws_connect(url, compress=0, autoping=True)

        def differs(reply: Any, sent: bytes) -> str | None:  # a WSMessage
            if reply.type != binary or reply.data != sent:
                return f"got {reply.type!r} {str(reply.data)[:60]}"
            return None

    else:
        raise ValueError(kind)

    async def conn(i: int) -> None:
        a, b = payloads(i, size)
        try:
            ws = await connect()
        except Exception as exc:
            fail("connect", exc)
            return
        try:
            one_open()
            await go.wait()
            send, recv = getattr(ws, send_name), getattr(ws, recv_name)
            while shared.running:
                await send(a)
                reply = await recv()
                if reply != a and (problem := differs(reply, a)):
                    shared.error("echo", problem)
                shared.count += 1
                a, b = b, a
        except Exception as exc:
            fail("loop", exc)
        finally:
            shared.finish_one()
        try:
            await ws.close()
            if ws.close_code != 1000:
                shared.error("close", f"closed with code {ws.close_code}")
        except Exception as exc:
            fail("close", exc)

    shared.finishing = n
    tasks = [asyncio.ensure_future(conn(i)) for i in range(n)]
    try:
        await asyncio.wait_for(all_open, 30)
    except BaseException:
        for task in tasks:
            task.cancel()
        if session is not None:
            await session.close()
        raise

    def start() -> None:
        go.set()

    async def close() -> None:
        _, pending = await asyncio.wait(tasks, timeout=15)
        for task in pending:
            task.cancel()
        if pending:
            shared.error("close", f"{len(pending)} connections not closed after 15 s")
        if session is not None:
            await session.close()

    return start, close


async def drive_picows(url: str, n: int, size: int, shared: Shared) -> tuple[Any, Any]:
    from picows import WSCloseCode, WSFrame, WSMsgType, WSTransport

    import client

    binary = WSMsgType.BINARY
    ids = iter(range(n))

    class Listener(client.Base):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = payloads(next(ids), size)
            self.expect = self.a

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type != binary or not frame.fin:
                if self.slow_frame(frame) is not None:
                    shared.error("echo", "a fragmented or text echo")
                return
            if frame.get_payload_as_bytes() != self.expect:
                shared.error("echo", "an echo differs from what was sent")
            shared.count += 1
            if shared.running:
                self.expect = self.b if self.expect is self.a else self.a
                transport.send(binary, self.expect)
            else:
                shared.finish_one()

    conns = await client.open_many(n, Listener, url)
    if len(conns) < n:
        raise RuntimeError(f"only {len(conns)} of {n} connections opened")
    shared.opened = len(conns)

    def start() -> None:
        for transport, listener in conns:
            transport.send(binary, listener.expect)

    async def close() -> None:
        await client.close_all(conns)
        for _, listener in conns:
            if listener.close_code not in (None, WSCloseCode.OK):
                shared.error("close", f"close code {listener.close_code}")

    return start, close


async def client_main(args: argparse.Namespace) -> dict[str, Any]:
    import client

    loop = asyncio.get_running_loop()
    shared = Shared()
    n, size, url = args.connections, args.size, args.url
    if args.kind == "duplex_4d":
        shared.finishing = n
        start, close = await drive_duplex_4d(url, n, size, shared)
    elif args.kind == "picows":
        shared.finishing = n
        start, close = await drive_picows(url, n, size, shared)
    else:
        start, close = await drive_tasks(url, n, size, shared, args.kind)
    meter = client.CpuMeter(args.server_pid)
    start()
    await asyncio.sleep(args.warmup)
    meter.start()
    count0 = shared.count
    await asyncio.sleep(args.duration)
    count1 = shared.count
    window = meter.stop()
    shared.running = False
    shared.finished = loop.create_future()
    if shared.finishing > 0:
        try:
            await asyncio.wait_for(shared.finished, 10)
        except TimeoutError:
            shared.error("echo", f"{shared.finishing} echoes never came back")
    await close()
    return {
        "value": (count1 - count0) / window["wall"],
        "unit": "round trips/s",
        "round_trips": count1 - count0,
        "total_round_trips": shared.count,
        "loop": type(loop).__module__.split(".")[0],
        **window,
    }


def client_entry(args: argparse.Namespace) -> None:
    harness.client_role(args, client_main, profile=args.profile)


# -- one measurement (the orchestrator) ---------------------------------------------------------------


def measure(
    kind: str, size: int, repeat: int, opts: argparse.Namespace, pins: harness.Pins
) -> dict[str, Any]:
    import run

    tag = f"clients-{kind}-{size}-{repeat}"
    server_log = LOGS / f"{tag}.server.log"
    record: dict[str, Any] = {"client": kind, "size": size, "repeat": repeat}
    with harness.measuring(record, [server_log]) as procs:
        proc, port = run.start_server(SERVER, "echo", server_log, pins[0])
        procs.append(proc)
        record["server_pinned"] = pins[0] is None or harness.threads_pinned(proc.pid, pins[0])
        args = [
            "--role",
            "client",
            "--kind",
            kind,
            "--url",
            f"ws://127.0.0.1:{port}/",
            "--server-pid",
            str(proc.pid),
            "--size",
            str(size),
            "--connections",
            str(opts.connections),
            "--warmup",
            str(opts.warmup),
            "--duration",
            str(opts.duration),
        ]
        # This script as ``--role client``.
        result = harness.run_child(Path(__file__).resolve(), args, LOGS / f"{tag}.client.log", 120, pins[1])
        if proc.poll() is not None:
            harness.add_error(result, f"the server died (exit {proc.returncode})")
        record.update(result)
    return record


def describe(record: dict[str, Any]) -> str:
    value = record.get("value")
    if value is None:
        return harness.failed_text(record)
    client_cpu, server_cpu = record["client_cpu"], record.get("server_cpu", 0.0)
    text = (
        f"{value:9,.0f} round trips/s  (client {client_cpu:.0%}, server {server_cpu:.0%}, "
        f"others {record['other_cpu']:.0%}; {value / client_cpu if client_cpu else 0:,.0f} per client CPU-s)"
    )
    if record.get("attempts", 1) > 1:
        text += f"  {record['attempts']} attempts"
    return text + harness.errors_note(record)


# -- summary ------------------------------------------------------------------------------------------


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per size (as a str key) and client: medians over the repeats."""
    return harness.summarize(runs, "size", "client", fill_cell)


def fill_cell(cell: dict[str, Any], ok: list[dict[str, Any]], records: list[dict[str, Any]]) -> None:
    """Round trips/s, per client CPU-second and the CPU use of a (size, client) cell: medians."""
    cell.update(
        {
            # Round trips per second of the client process's CPU time.
            "by_repeat_per_cpu": {
                str(r["repeat"]): r["value"] / r["client_cpu"] for r in ok if r.get("client_cpu")
            },
            "median": median_of(ok, lambda r: r["value"]),
            "client_cpu": median_of(ok, lambda r: r["client_cpu"]),
            "client_sys": median_of(ok, lambda r: r["client_sys"]),
            "server_cpu": median_of(ok, lambda r: r["server_cpu"]),
            "other_cpu": median_of(ok, lambda r: r["other_cpu"]),
            "loop": sorted({r.get("loop", "?") for r in ok}),
            "pinned": all(r.get("server_pinned", True) for r in records),
        }
    )
    per_cpu = cell["by_repeat_per_cpu"]
    cell["median_per_cpu"] = statistics.median(per_cpu.values()) if per_cpu else None
    # The server at its limit: the client might have gone faster against a faster server.
    cell["server_saturated"] = (cell["server_cpu"] or 0.0) > SATURATED


def ratio(
    summary: dict[str, Any], size: str, face: str, peer: str, per_cpu: bool = False
) -> tuple[float | None, str]:
    """duplex's ``face`` / ``peer`` (see ``harness.ratio``): "≥" when only duplex's runs had the
    server saturated (duplex's figure is a lower bound), "≤" when only the peer's."""
    return harness.ratio(summary.get(size, {}), face, peer, "server_saturated", per_cpu)


# -- the docs section ---------------------------------------------------------------------------------

SECTION = "## Clients"


def table(data: dict[str, Any]) -> str:
    """Per size and client: round trips/s, CPU, per client CPU-second, duplex's ratios."""
    summary, max_noise = data["summary"], data["meta"].get("max_noise", 0.15)
    lines = [
        "| message | client | round trips/s | client CPU | server CPU | round trips per client "
        "CPU-second | duplex 4D callbacks / this: round trips/s (per client CPU-s) | "
        "duplex connect / this: round trips/s (per client CPU-s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size, size_label in SIZES.items():
        for kind, spec in CLIENTS.items():
            cell = summary.get(str(size), {}).get(kind)
            if cell is None:
                continue
            ratios = []
            for face in FACES:
                if kind in FACES:
                    ratios.append("")
                    continue
                r, q = ratio(summary, str(size), face, kind)
                rc, _ = ratio(summary, str(size), face, kind, per_cpu=True)
                ratios.append(f"{fmt_ratio(r, q)} ({fmt_ratio(rc)})" if r is not None else "")
            label = f"**{spec['label']}**" if spec.get("duplex") else spec["label"]
            value = harness.value_text(cell, max_noise, "server_saturated")
            lines.append(
                f"| {size_label} | {label} | {value} | {fmt_pct(cell['client_cpu'])} | "
                f"{fmt_pct(cell['server_cpu'])} | {fmt_count(cell['median_per_cpu'])} | "
                f"{ratios[0]} | {ratios[1]} |"
            )
    return "\n".join(lines)


def goal_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for size in SIZES:
        for peer, face, target in GOALS:
            r, q = ratio(data["summary"], str(size), face, peer)
            rc, _ = ratio(data["summary"], str(size), face, peer, per_cpu=True)
            rows.append(
                {"size": size, "peer": peer, "face": face, "target": target, "ratio": r, "qualifier": q}
                | {"ratio_per_cpu": rc}
            )
    return rows


def goals_table(data: dict[str, Any]) -> str:
    lines = [
        "| message | goal (issue 12) | duplex's face | round trips/s ratio | goal by round trips/s | "
        "ratio per client CPU-second | goal per client CPU-second |",
        "|---|---|---|---:|---|---:|---|",
    ]
    for row in goal_rows(data):
        lines.append(
            f"| {SIZES[row['size']]} | \u2265 {row['target']:g}\u00d7 {CLIENTS[row['peer']]['label']} | "
            f"{CLIENTS[row['face']]['label']} | {fmt_ratio(row['ratio'], row['qualifier']) or DASH} | "
            f"{verdict(row['ratio'], row['target'], row['qualifier'])} | "
            f"{fmt_ratio(row['ratio_per_cpu']) or DASH} | {verdict(row['ratio_per_cpu'], row['target'])} |"
        )
    return "\n".join(lines)


def markdown(data: dict[str, Any]) -> str:
    """The "Clients" section of docs/benchmarks.md, from a results file of this script."""
    meta, summary = data["meta"], data["summary"]
    problems = harness.problems(
        summary,
        lambda size, kind: f"{SIZES.get(int(size), size)}, {CLIENTS[kind]['label']}",
        "the server's log",
    )
    loops = sorted({loop for row in summary.values() for cell in row.values() for loop in cell["loop"]})
    versions, quick, repeats = harness.run_notes(meta)
    about = "\n".join(f"| {spec['label']} | {spec['about']} |" for spec in CLIENTS.values())
    return f"""{SECTION}

The clients, each in one process, against one fixed server: {meta["connections"]} connections,
each a closed loop (send one binary message, wait for its echo, check it, send the next), 64 B
and 16 KiB messages; duplex's client (both faces) against the websockets, aiohttp and picows
clients, in the same run. The scenario of issue 12. Written by `python benchmarks/clients.py`
(about 4 minutes; `--quick`: a 30-second smoke check that leaves this page alone;
`--report-only`: this section again from `benchmarks/results/clients.json`); `run.py` keeps it
when it rewrites the page.

Measured {meta["date"]}{quick} with `{meta["command"].strip()}`: {repeats} of
{meta["duration_s"]:g} s after a {meta["warmup_s"]:g} s warm-up, medians shown; the run took
{meta["elapsed_s"] / 60:.1f} minutes. duplex at commit {meta["duplex_commit"]}. The server:
`benchmarks/servers/duplex_engine.py` (duplex's bare engine, an echo, on uvloop), compression
off, pinned to CPU {meta["server_cpu"]}; each client process pinned to CPU {meta["client_cpu"]},
every client on {" and ".join(loops) or "uvloop"}, compression off for all (nothing offered or
accepted).

{table(data)}

Goals (medians of the per-repeat ratios). Each peer is judged against the duplex face written in
its style: the awaiting clients (websockets, aiohttp) against `duplex.connect()`, picows's
callback listener against the 4D callbacks; the table above has both faces against every peer.

{goals_table(data)}

- **Round trips per client CPU-second** is what a client costs: on loopback the client shares the
  work with the server, and a client held back by the server (or by other processes) shows a
  lower round trips/s but not a higher cost.
- `\u2265`: the server used more than {SATURATED:.0%} of its core in that run: the server may
  have been the limit, so the client's round trips/s is a lower bound (a ratio with duplex's run
  at the limit is a lower bound, `\u2264` with the peer's at the limit an upper bound, `~` with
  both: undecided; the per-CPU-second ratio still holds). `\u2020`: other processes used more
  than {meta.get("max_noise", 0.15):g} of a core during the window.

| client | how it is driven |
|---|---|
{about}

How it is measured: for each measurement a fresh server process and a fresh client process
(`benchmarks/clients.py --role client`); the client opens all its connections, then each
connection sends its first message; round trips are counted over the window after the warm-up,
the client's CPU read with `getrusage`, the server's with `psutil`, the other processes' from
`/proc`. Each connection alternates between two messages made for it (its number, the parity, a
fixed pattern), and every echo is compared with the one sent (a lost, repeated, corrupted or
crossed echo is an error); at the end every connection's last echo must come back and every
connection must close with code 1000. Repeats interleave the clients, in an order rotated from
one repeat to the next. Versions: {versions}.

{chr(10).join(problems) if problems else "Errors: none. Every echo was checked and matched; every connection closed with 1000."}
"""


def write_section(data: dict[str, Any], docs: Path = DOCS) -> None:
    """Put the section in docs/benchmarks.md, replacing the one there (or at the end)."""
    harness.write_section(SECTION, markdown(data), docs)


def section_from_results(path: Path | None = None) -> str:
    """The section from results/clients.json, or "" before the first run (for report.py)."""
    return harness.section_from_results(path or RESULTS / "clients.json", summarize, markdown)


# -- main ---------------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    return report.package_versions(("duplex", "websockets", "aiohttp", "picows", "uvloop", "psutil"))


def orchestrate(opts: argparse.Namespace) -> None:
    if opts.report_only:
        write_section(harness.load_results(RESULTS / "clients.json", summarize))
        return
    harness.quick_defaults(opts)
    sizes = [int(s) for s in opts.sizes.split(",") if s]
    kinds = harness.chosen(opts.clients, CLIENTS, "client")
    for s in sizes:
        if s not in SIZES:
            raise SystemExit(f"unknown size {s}; known: {', '.join(map(str, SIZES))}")
    # (The compiled load generator is not used by these clients; building it keeps client.py's
    # import cheap later.)
    pins = harness.prepare("clients-*.log")

    measured = harness.run_plan(
        harness.interleaved(opts.repeats, sizes, kinds),
        lambda repeat, size, kind: measure(kind, size, repeat, opts, pins),
        lambda size, kind, record: f"{SIZES[size]:6} {kind:12} {describe(record)}",
        opts,
        skip_when_no_wait=True,
    )
    data = harness.results(
        measured,
        summarize,
        opts,
        pins,
        "clients.py",
        first={"versions": versions()},
        setup={"connections": opts.connections, "server": SERVER},
        chosen={"clients": kinds, "sizes": sizes},
    )
    # A smoke run's results go with the logs (not kept in git), a real run's beside latest.json.
    out = LOGS / "clients-quick.json" if opts.quick else RESULTS / "clients.json"
    harness.save(data, out, measured.elapsed, [table(data), goals_table(data)])
    if not opts.quick and not opts.no_docs:
        write_section(data)


def main() -> None:
    parser = harness.new_parser(__doc__)
    harness.add_names(parser, "--clients", CLIENTS)
    parser.add_argument(
        "--sizes", default=",".join(map(str, SIZES)), help="comma-separated bytes, from: 64, 16384"
    )
    harness.add_timing(parser)
    parser.add_argument("--connections", type=int, default=100, help="connections per client process (100)")
    harness.add_noise(parser, None, "seconds to wait for a quiet machine (10; 0 with --quick)")
    harness.add_docs(parser, "clients.json")
    # The role this script plays in its own child processes.
    parser.add_argument("--role", choices=("orchestrator", "client"), default="orchestrator")
    parser.add_argument("--kind", choices=tuple(CLIENTS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=64, help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.role == "client":
        opts.warmup = 1.0 if opts.warmup is None else opts.warmup
        opts.duration = 5.0 if opts.duration is None else opts.duration
        client_entry(opts)
    else:
        orchestrate(opts)


if __name__ == "__main__":
    harness.guarded(main)
