"""Run the whole benchmark suite: duplex and its peers, one machine, one command.

    python benchmarks/run.py                 # the full run (about 13 minutes); rewrites docs/benchmarks.md
    python benchmarks/run.py --quick         # a smoke check: one short repeat, docs left alone
    python benchmarks/run.py --servers duplex_api,aiohttp --scenarios echo_100x64,handshake
    python benchmarks/run.py --report-only   # rewrite docs/benchmarks.md from results/latest.json

Each (repeat, scenario, server) gets a fresh server process pinned to CPU 0 and a fresh load
generator (``benchmarks/client.py``) pinned to CPU 1. Servers are interleaved within each repeat,
in a rotated order, so that slow drifts of the machine spread over all of them. Every server
process is killed at the end, also on errors and Ctrl-C.

Results: ``benchmarks/results/latest.json`` (``quick.json`` for ``--quick``), server and client
logs in ``benchmarks/results/logs/``, and (not for ``--quick``) ``docs/benchmarks.md`` with
``docs/benchmarks.png``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

sys.path.insert(0, str(HERE))
import harness  # noqa: E402
import report  # noqa: E402
from harness import LOGS, RESULTS, ROOT  # noqa: E402

import client  # noqa: E402  (for the saturation threshold)

#: name -> script in benchmarks/servers/, what it is, the packages whose versions matter, modes.
SERVERS: dict[str, dict[str, Any]] = {
    "duplex_api": {
        "script": "duplex_api.py",
        "label": "duplex",
        "about": "duplex through the 4D API: WebSocketServer + connection handler, broadcast()",
        "packages": ["duplex"],
    },
    "duplex_engine": {
        "script": "duplex_engine.py",
        "label": "duplex engine",
        "about": "duplex's bare engine (HttpServer + WebSocketProtocol handler), no 4D API",
        "packages": ["duplex"],
        "modes": ["echo"],
    },
    "websockets": {
        "script": "websockets_server.py",
        "label": "websockets",
        "about": "websockets.asyncio.server.serve, async for / send, websockets.broadcast()",
        "packages": ["websockets"],
    },
    "aiohttp": {
        "script": "aiohttp_server.py",
        "label": "aiohttp",
        "about": "aiohttp.web WebSocketResponse, async for / send_*; broadcast: loop of send_bytes",
        "packages": ["aiohttp"],
    },
    "picows": {
        "script": "picows_server.py",
        "label": "picows",
        "about": "picows ws_create_server + WSListener (frame level); broadcast: loop of transport.send",
        "packages": ["picows"],
    },
    "tornado": {
        "script": "tornado_server.py",
        "label": "tornado",
        "about": "tornado.websocket.WebSocketHandler, write_message; broadcast: loop of write_message",
        "packages": ["tornado"],
    },
    "uvicorn": {
        "script": "uvicorn_starlette.py",
        "label": "uvicorn+Starlette",
        "about": "Starlette WebSocketRoute on uvicorn (websockets sans-I/O protocol); broadcast: loop of send_bytes",
        "packages": ["uvicorn", "starlette"],
    },
}

#: The rows of the table. ``higher``: whether more is better.
SCENARIOS: dict[str, dict[str, Any]] = {
    "echo_1x64": {
        "label": "echo, 1 conn, 64 B",
        "kind": "echo",
        "connections": 1,
        "size": 64,
        "unit": "round trips/s",
        "higher": True,
    },
    "echo_100x64": {
        "label": "echo, 100 conns, 64 B",
        "kind": "echo",
        "connections": 100,
        "size": 64,
        "unit": "round trips/s",
        "higher": True,
    },
    "echo_1000x64": {
        "label": "echo, 1000 conns, 64 B",
        "kind": "echo",
        "connections": 1000,
        "size": 64,
        "unit": "round trips/s",
        "higher": True,
    },
    "echo_100x16k": {
        "label": "echo, 100 conns, 16 KiB",
        "kind": "echo",
        "connections": 100,
        "size": 16384,
        "unit": "round trips/s",
        "higher": True,
    },
    "handshake": {
        "label": "handshakes, 50 connectors",
        "kind": "handshake",
        "connections": 50,
        "unit": "handshakes/s",
        "higher": True,
    },
    "memory": {
        "label": "memory per idle conn (5000)",
        "kind": "memory",
        "connections": 5000,
        "unit": "bytes/conn",
        "higher": False,
    },
    "broadcast": {
        "label": "broadcast, 1000 clients, 64 B",
        "kind": "broadcast",
        "connections": 1000,
        "count": 50,
        "unit": "deliveries/s",
        "higher": True,
        "mode": "broadcast",
    },
}

# -- processes ---------------------------------------------------------------------------------------


def start_server(name: str, mode: str, log: Path, pin: int | None) -> tuple[subprocess.Popen[bytes], int]:
    return harness.start_server(name, HERE / "servers" / SERVERS[name]["script"], ["--mode", mode], log, pin)


# -- one measurement -----------------------------------------------------------------------------------


def measure(
    server: str, scenario: str, repeat: int, opts: argparse.Namespace, pins: tuple[int | None, int | None]
) -> dict[str, Any]:
    spec = SCENARIOS[scenario] if scenario != "check" else {"kind": "check"}
    mode = spec.get("mode", "echo")
    tag = f"{server}-{scenario}-{repeat}"
    server_log, client_log = LOGS / f"{tag}.server.log", LOGS / f"{tag}.client.log"
    record: dict[str, Any] = {"server": server, "scenario": scenario, "repeat": repeat}
    proc = None
    try:
        proc, port = start_server(server, mode, server_log, pins[0])
        record["server_pinned"] = pins[0] is None or harness.threads_pinned(proc.pid, pins[0])
        cargs = [
            "--url",
            f"ws://127.0.0.1:{port}/",
            "--scenario",
            spec["kind"],
            "--server-pid",
            str(proc.pid),
        ]
        if spec["kind"] != "check":
            connections = spec["connections"]
            if opts.quick and spec["kind"] == "memory":
                connections = 1000
            cargs += [
                "--connections",
                str(connections),
                "--warmup",
                str(opts.warmup),
                "--duration",
                str(opts.duration),
            ]
            if "size" in spec:
                cargs += ["--size", str(spec["size"])]
            if "count" in spec:
                cargs += ["--count", str(spec["count"])]
        result = harness.run_child(HERE / "client.py", cargs, client_log, 180, pins[1])
        result.pop("scenario", None)  # the client's kind ("echo"), not the row ("echo_100x64")
        if proc.poll() is not None:
            harness.add_error(result, f"the server died (exit {proc.returncode})")
        record.update(result)
    except Exception as exc:
        record.update(harness.failed_with(exc))
    finally:
        if proc is not None:
            harness.kill(proc)
    harness.note_log_problems(record, [server_log])
    return record


def describe(record: dict[str, Any]) -> str:
    value = record.get("value")
    text = "FAILED" if value is None else f"{value:,.0f} {record.get('unit', '')}"
    extra = []
    if "client_cpu" in record:
        extra.append(f"client {record['client_cpu']:.0%}")
    if "server_cpu" in record:
        extra.append(f"server {record['server_cpu']:.0%}")
    if "other_cpu" in record:
        extra.append(f"others {record['other_cpu']:.0%}")
    if record.get("attempts", 1) > 1:
        extra.append(f"{record['attempts']} attempts")
    if record.get("errors"):
        extra.append(f"{record['errors']} ERRORS: {record.get('error_samples', [])[:2]}")
    if record.get("server_log"):
        extra.append(f"server log: {record['server_log'][0][:100]}")
    return f"{text}  ({', '.join(extra)})" if extra else text


# -- summary -------------------------------------------------------------------------------------------


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per scenario and server: the median value, whether it is a lower bound, errors, CPU."""
    summary: dict[str, dict[str, Any]] = {}
    for (scenario, server), records in harness.grouped(runs, "scenario", "server").items():
        values = [r["value"] for r in records if r.get("value") is not None]
        cell: dict[str, Any] = {
            "values": values,
            "by_repeat": {str(r["repeat"]): r["value"] for r in records if r.get("value") is not None},
            "median": statistics.median(values) if values else None,
            **harness.failures(records, len(values)),
        }
        if scenario == "check":
            cell["of"] = max((r.get("of", 0) for r in records), default=0)
            cell["largest"] = max((r.get("largest", 0) for r in records), default=0)
        for key in ("client_cpu", "server_cpu", "client_sys", "other_cpu"):
            seen = [r[key] for r in records if key in r]
            if seen:
                cell[key] = statistics.median(seen)
        # Throughput per second of server CPU: on loopback the load generator competes for the
        # other core, so a server below 100% of its core is judged by what it does per CPU-second.
        per_cpu = {
            str(r["repeat"]): r["value"] / r["server_cpu"]
            for r in records
            if r.get("value") is not None and r.get("server_cpu")
        }
        if per_cpu and scenario not in ("check", "memory"):
            cell["by_repeat_per_cpu"] = per_cpu
            cell["median_per_cpu"] = statistics.median(per_cpu.values())
        cell["lower_bound"] = cell.get("client_cpu", 0.0) > client.SATURATED
        cell["pinned"] = all(r.get("server_pinned", True) for r in records)
        summary.setdefault(scenario, {})[server] = cell
    return summary


# -- main ----------------------------------------------------------------------------------------------


def main() -> None:
    parser = harness.new_parser(__doc__)
    harness.add_names(parser, "--servers", SERVERS)
    harness.add_names(parser, "--scenarios", SCENARIOS)
    harness.add_timing(
        parser,
        warmup_help="seconds (default 1; 0.3 with --quick)",
        duration_help="seconds measured (default 3; 1 with --quick)",
    )
    harness.add_noise(
        parser,
        quiet_wait=10,
        quiet_wait_help="seconds to wait for a quiet machine (10)",
        retries=1,
        retries_help="re-measurements of a noisy cell (1)",
        retry_budget=30,
        max_noise_help="other processes' CPU (cores) above which a measurement is noisy (default 0.15)",
    )
    parser.add_argument(
        "--no-check", action="store_true", help="skip the correctness check (0 B .. 32 MiB echo)"
    )
    harness.add_docs(parser, "latest.json")
    opts = parser.parse_args()

    if opts.report_only:
        data = harness.load_results(RESULTS / "latest.json", summarize)
        report.write_docs(data, SERVERS, SCENARIOS, ROOT / "docs")
        print("wrote docs/benchmarks.md and docs/benchmarks.png")
        return

    harness.quick_defaults(opts, quick_warmup=0.3, duration=3.0, quick_duration=1.0)
    servers = harness.chosen(opts.servers, SERVERS, "server", parser.error)
    scenarios = harness.chosen(opts.scenarios, SCENARIOS, "scenario", parser.error)
    pins = harness.prepare("*.log")

    plan: list[tuple[int, str, str]] = []
    if not opts.no_check:
        plan += [(0, "check", s) for s in servers]
    plan += harness.interleaved(
        opts.repeats,
        scenarios,
        servers,
        lambda scenario, s: (
            SCENARIOS[scenario].get("mode", "echo") in SERVERS[s].get("modes", ["echo", "broadcast"])
        ),
    )

    measured = harness.run_plan(
        plan,
        lambda repeat, scenario, server: measure(server, scenario, repeat, opts, pins),
        lambda scenario, server, record: f"{scenario:13} {server:14} {describe(record)}",
        opts,
        width=5,
    )
    data = harness.results(
        measured,
        summarize,
        opts,
        pins,
        "run.py",
        chosen={"servers": servers, "scenarios": scenarios},
        last={"quiet_wait_s": opts.quiet_wait, "retries": opts.retries},
    )
    out = RESULTS / ("quick.json" if opts.quick else "latest.json")
    harness.save(
        data,
        out,
        measured.elapsed,
        [report.results_table(data, SERVERS, SCENARIOS), report.goals_table(data, SERVERS, SCENARIOS)],
    )
    if not opts.quick and not opts.no_docs:
        report.write_docs(data, SERVERS, SCENARIOS, ROOT / "docs")
        print("wrote docs/benchmarks.md and docs/benchmarks.png")


if __name__ == "__main__":
    harness.guarded(main, "interrupted: every server and client process stopped")
