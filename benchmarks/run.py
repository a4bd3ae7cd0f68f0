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
import contextlib
import datetime as dt
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
ROOT = HERE.parent
RESULTS = HERE / "results"
LOGS = RESULTS / "logs"
SERVER_CPU = 0
CLIENT_CPU = 1

sys.path.insert(0, str(HERE))
import client  # noqa: E402  (for build_fast_client and the saturation threshold)
import report  # noqa: E402

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

LIVE: list[subprocess.Popen[bytes]] = []  # every child still running, killed on the way out


# -- processes ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_nofile() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pin_to(cpu: int | None) -> Any:
    def preexec() -> None:
        raise_nofile()
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    return preexec


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, a short wait, SIGKILL: this process and nothing else."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(5)
    if proc in LIVE:
        LIVE.remove(proc)


def kill_all() -> None:
    for proc in list(LIVE):
        kill(proc)


def threads_pinned(pid: int, cpu: int) -> bool:
    """Whether every thread of ``pid`` may run on ``cpu`` only (threads inherit the mask)."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        return all(os.sched_getaffinity(tid) == {cpu} for tid in tids)
    except (FileNotFoundError, ProcessLookupError):
        return False


def start_server(name: str, mode: str, log: Path, pin: int | None) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    script = HERE / "servers" / SERVERS[name]["script"]
    out = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", str(port), "--mode", mode],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=pin_to(pin),
        cwd=ROOT,
    )
    out.close()
    LIVE.append(proc)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} before it was ready; see {log}")
        if b"ready" in log.read_bytes():
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass
            return proc, port
        time.sleep(0.05)
    kill(proc)
    raise RuntimeError(f"{name} did not print 'ready' within 30 s; see {log}")


LOG_PROBLEM = re.compile(r"Traceback|Error|Exception|CRITICAL|FATAL", re.IGNORECASE)


def log_problems(log: Path) -> list[str]:
    """Lines of a server's log that look like errors (each kept once, at most 5)."""
    seen: list[str] = []
    for line in log.read_text(errors="replace").splitlines():
        line = line.strip()
        if LOG_PROBLEM.search(line) and line not in seen:
            seen.append(line[:300])
            if len(seen) >= 5:
                break
    return seen


def run_client(args: list[str], log: Path, timeout: float, pin: int | None) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / "client.py"), *args]
    if pin is not None:
        cmd += ["--cpu", str(pin)]
    with log.open("wb") as err:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            preexec_fn=pin_to(None),
            cwd=ROOT,
        )
        LIVE.append(proc)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"value": None, "errors": 1, "error_samples": [f"client timed out after {timeout} s"]}
        finally:
            kill(proc)  # a no-op once it has exited
    lines = out.decode(errors="replace").strip().splitlines()
    try:
        return dict(json.loads(lines[-1]))
    except (IndexError, ValueError):
        tail = log.read_text(errors="replace")[-500:]
        return {"value": None, "errors": 1, "error_samples": [f"client exit {proc.returncode}: {tail}"]}


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
        record["server_pinned"] = pins[0] is None or threads_pinned(proc.pid, pins[0])
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
        result = run_client(cargs, client_log, timeout=180, pin=pins[1])
        result.pop("scenario", None)  # the client's kind ("echo"), not the row ("echo_100x64")
        if proc.poll() is not None:
            result["errors"] = result.get("errors", 0) + 1
            result.setdefault("error_samples", []).append(f"the server died (exit {proc.returncode})")
        record.update(result)
    except Exception as exc:
        record.update({"value": None, "errors": 1, "error_samples": [f"{type(exc).__name__}: {exc}"]})
    finally:
        if proc is not None:
            kill(proc)
    if server_log.exists():
        problems = log_problems(server_log)
        if problems:
            record["server_log"] = problems
    return record


def background_load(seconds: float = 0.5) -> float:
    """Cores used by other processes over ``seconds`` (nothing of ours runs meanwhile)."""
    exclude = {os.getpid()}
    before = client.others_cpu(exclude)
    time.sleep(seconds)
    return client.others_used(before, client.others_cpu(exclude)) / seconds


def wait_for_quiet(limit: float, max_wait: float) -> float:
    """Wait (at most ``max_wait`` s) until other processes use less than ``limit`` cores."""
    deadline = time.monotonic() + max_wait
    load = background_load()
    while load > limit and time.monotonic() < deadline:
        load = background_load(1.0)
    return load


def measure_quietly(
    server: str, scenario: str, repeat: int, opts: argparse.Namespace, pins: tuple[int | None, int | None]
) -> dict[str, Any]:
    """``measure``, after waiting for a quiet machine; measured again (up to ``opts.retries``
    times, from a shared budget) when other processes used more than ``opts.max_noise`` cores
    during the window. The quietest attempt is kept."""
    attempts = []
    while True:
        before = wait_for_quiet(opts.max_noise, opts.quiet_wait)
        record = measure(server, scenario, repeat, opts, pins)
        record["load_before"] = round(before, 3)
        attempts.append(record)
        noisy = record.get("other_cpu", 0.0) > opts.max_noise
        if not noisy or len(attempts) > opts.retries or opts.retry_budget <= 0:
            break
        opts.retry_budget -= 1
    best = min(attempts, key=lambda r: r.get("other_cpu", 0.0))
    best["attempts"] = len(attempts)
    return best


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
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in runs:
        groups.setdefault((record["scenario"], record["server"]), []).append(record)
    for (scenario, server), records in groups.items():
        values = [r["value"] for r in records if r.get("value") is not None]
        cell: dict[str, Any] = {
            "values": values,
            "by_repeat": {str(r["repeat"]): r["value"] for r in records if r.get("value") is not None},
            "median": statistics.median(values) if values else None,
            "runs": len(records),
            "failed_runs": len(records) - len(values),
            "errors": sum(r.get("errors", 0) for r in records),
            "error_samples": [s for r in records for s in r.get("error_samples", [])][:5],
            "server_log": sorted({line for r in records for line in r.get("server_log", [])})[:5],
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
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="one short repeat, a smoke check (docs untouched)"
    )
    parser.add_argument(
        "--servers", default=",".join(SERVERS), help="comma-separated, from: " + ", ".join(SERVERS)
    )
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated, from: " + ", ".join(SCENARIOS)
    )
    parser.add_argument("--repeats", type=int, default=None, help="runs per cell (default 3; 1 with --quick)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds (default 1; 0.3 with --quick)")
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds measured (default 3; 1 with --quick)"
    )
    parser.add_argument(
        "--max-noise",
        type=float,
        default=0.15,
        help="other processes' CPU (cores) above which a measurement is noisy (default 0.15)",
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=10, help="seconds to wait for a quiet machine (10)"
    )
    parser.add_argument("--retries", type=int, default=1, help="re-measurements of a noisy cell (1)")
    parser.add_argument("--retry-budget", type=int, default=30, help="re-measurements in the whole run (30)")
    parser.add_argument(
        "--no-check", action="store_true", help="skip the correctness check (0 B .. 32 MiB echo)"
    )
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the docs from results/latest.json"
    )
    opts = parser.parse_args()

    if opts.report_only:
        data = json.loads((RESULTS / "latest.json").read_text())
        data["summary"] = summarize(data["runs"])
        report.write_docs(data, SERVERS, SCENARIOS, ROOT / "docs")
        print("wrote docs/benchmarks.md and docs/benchmarks.png")
        return

    opts.repeats = opts.repeats or (1 if opts.quick else 3)
    opts.warmup = opts.warmup if opts.warmup is not None else (0.3 if opts.quick else 1.0)
    opts.duration = opts.duration if opts.duration is not None else (1.0 if opts.quick else 3.0)
    servers = [s for s in opts.servers.split(",") if s]
    scenarios = [s for s in opts.scenarios.split(",") if s]
    for name in servers:
        if name not in SERVERS:
            parser.error(f"unknown server {name!r}; known: {', '.join(SERVERS)}")
    for name in scenarios:
        if name not in SCENARIOS:
            parser.error(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")

    cpus = sorted(os.sched_getaffinity(0))
    pins: tuple[int | None, int | None]
    if SERVER_CPU in cpus and CLIENT_CPU in cpus:
        pins = (SERVER_CPU, CLIENT_CPU)
        os.sched_setaffinity(0, {CLIENT_CPU})  # this script only waits; keep it off the server's CPU
    else:
        pins = (None, None)
        print(f"warning: CPUs {cpus}: cannot pin the server to {SERVER_CPU} and the client to {CLIENT_CPU}")
    raise_nofile()
    LOGS.mkdir(parents=True, exist_ok=True)
    for old in LOGS.glob("*.log"):
        old.unlink()
    client.build_fast_client()

    plan: list[tuple[int, str, str]] = []
    if not opts.no_check:
        plan += [(0, "check", s) for s in servers]
    for repeat in range(opts.repeats):
        order = servers[repeat % len(servers) :] + servers[: repeat % len(servers)]
        for scenario in scenarios:
            mode = SCENARIOS[scenario].get("mode", "echo")
            plan += [
                (repeat, scenario, s) for s in order if mode in SERVERS[s].get("modes", ["echo", "broadcast"])
            ]

    started = time.time()
    initial_budget = opts.retry_budget
    runs: list[dict[str, Any]] = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        for i, (repeat, scenario, server) in enumerate(plan, 1):
            record = measure_quietly(server, scenario, repeat, opts, pins)
            runs.append(record)
            print(
                f"[{i}/{len(plan)} {time.time() - started:5.0f}s] repeat {repeat + 1} {scenario:13} {server:14} "
                f"{describe(record)}",
                flush=True,
            )
    finally:
        kill_all()

    elapsed = time.time() - started
    data = {
        "meta": {
            **report.machine(),
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "elapsed_s": round(elapsed),
            "quick": opts.quick,
            "repeats": opts.repeats,
            "warmup_s": opts.warmup,
            "duration_s": opts.duration,
            "pinned": pins != (None, None),
            "server_cpu": pins[0],
            "client_cpu": pins[1],
            "servers": servers,
            "scenarios": scenarios,
            "command": "python benchmarks/run.py " + " ".join(sys.argv[1:]),
            "max_noise": opts.max_noise,
            "quiet_wait_s": opts.quiet_wait,
            "retries": opts.retries,
            "retries_used": initial_budget - opts.retry_budget,
        },
        "summary": summarize(runs),
        "runs": runs,
    }
    out = RESULTS / ("quick.json" if opts.quick else "latest.json")
    out.write_text(json.dumps(data, indent=1) + "\n")
    print()
    print(report.results_table(data, SERVERS, SCENARIOS))
    print()
    print(report.goals_table(data, SERVERS, SCENARIOS))
    print(f"\n{len(runs)} runs in {elapsed / 60:.1f} min; results in {out.relative_to(ROOT)}")
    if not opts.quick and not opts.no_docs:
        report.write_docs(data, SERVERS, SCENARIOS, ROOT / "docs")
        print("wrote docs/benchmarks.md and docs/benchmarks.png")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        kill_all()
        print("interrupted: every server and client process stopped", file=sys.stderr)
        sys.exit(130)
    finally:
        kill_all()
