"""The ASGI benchmark (issue 13): one FastAPI app on duplex, uvicorn, hypercorn and granian, in
the same run.

    python benchmarks/asgi.py               # the full run (about 4 minutes); rewrites the "ASGI"
                                            # section of docs/benchmarks.md
    python benchmarks/asgi.py --quick       # a 30-second smoke check; docs left alone
    python benchmarks/asgi.py --report-only # rewrite that section from results/asgi.json
    python benchmarks/asgi.py --servers uvicorn,granian --scenarios http --repeats 1

The app, ``benchmarks/servers/fastapi_app.py``: ``GET /json/{tag}`` answers a small JSON dict,
``/ws`` echoes every WebSocket message. Every server imports it as ``fastapi_app:app`` (with
``benchmarks/servers`` on ``PYTHONPATH``), started by its own command line (``SERVERS``), one
worker process, pinned to CPU 0 with every thread and child process it starts; its CPU share
covers them all.

One measurement: a fresh server, ready once ``GET /json/ready`` answers as it should, and a fresh
load generator (``benchmarks/client.py``, its hot path compiled) pinned to CPU 1:

- ``http``: ``--connections`` (100) keep-alive HTTP/1.1 connections, each with one request in
  flight (no pipelining): ``GET /json/<tag>``, the tag the connection's number and a counter; every
  response must be a 200 whose body is the JSON with that tag, byte for byte. Requests/s.
- ``ws_echo``: ``--connections`` (100) WebSocket connections to ``/ws``, each a closed loop of
  64-byte binary messages (stamped with the connection's number and a counter), every echo
  compared byte for byte; at the end every connection closes with 1000 both ways. Round trips/s.

Repeats are interleaved: each repeat measures every (scenario, server), in an order rotated from
one repeat to the next. Results: ``benchmarks/results/asgi.json``
(``benchmarks/results/logs/asgi-quick.json`` for ``--quick``), logs in
``benchmarks/results/logs/asgi-*``; and (not for ``--quick``) the "ASGI" section of
``docs/benchmarks.md``, which ``benchmarks/report.py`` keeps when ``run.py`` rewrites the page.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
APP = "fastapi_app:app"
HOST = "127.0.0.1"

sys.path.insert(0, str(HERE))
import harness  # noqa: E402
import report  # noqa: E402
from harness import DASH, DOCS, LOGS, RESULTS, SATURATED, fmt_count, fmt_pct, fmt_ratio, median_of  # noqa: E402

import client  # noqa: E402

#: name -> the command line that serves the app (``{app}``: ``fastapi_app:app``) on ``{port}``,
#: the packages whose versions matter. ``python``: this interpreter.
SERVERS: dict[str, dict[str, Any]] = {
    "duplex": {
        "label": "duplex",
        "command": "python -m duplex serve --asgi {app} --host {host} --port {port}",
        "packages": ["duplex"],
        "duplex": True,
    },
    "uvicorn": {
        "label": "uvicorn",
        "command": "python -m uvicorn {app} --host {host} --port {port} --loop uvloop --http httptools "
        "--ws websockets-sansio --no-access-log --log-level warning",
        "packages": ["uvicorn", "httptools", "websockets"],
    },
    "hypercorn": {
        "label": "hypercorn",
        "command": "python -m hypercorn {app} --bind {host}:{port} --worker-class uvloop --log-level warning",
        "packages": ["hypercorn", "h11", "wsproto"],
    },
    "granian": {
        "label": "granian",
        "command": "python -m granian --interface asgi {app} --host {host} --port {port} --workers 1 "
        "--runtime-threads 1 --blocking-threads 1 --loop uvloop --log-level warning",
        "packages": ["granian"],
    },
}
PEERS = ("uvicorn", "granian")  # the columns of ratios

#: The rows. ``client``: the load generator's arguments (``{host}``, ``{port}`` filled in).
SCENARIOS: dict[str, dict[str, Any]] = {
    "http": {
        "label": "HTTP GET /json, keep-alive",
        "unit": "requests/s",
        "client": "--scenario http --url http://{host}:{port}/json/",
    },
    "ws_echo": {
        "label": "WebSocket echo, 64 B",
        "unit": "round trips/s",
        "client": "--scenario echo --url ws://{host}:{port}/ws --size 64",
    },
}

#: (scenario, peer, target): issue 13's goals for duplex.
GOALS: list[tuple[str, str, float]] = [
    ("http", "uvicorn", 1.0),
    ("ws_echo", "uvicorn", 2.0),
    ("ws_echo", "granian", 1.0),
]


# -- the servers --------------------------------------------------------------------------------------


def command(server: str, port: int | str) -> str:
    """``server``'s command line, serving on ``port``."""
    return str(SERVERS[server]["command"]).format(app=APP, host=HOST, port=port)


def answers(port: int) -> bool:
    """Whether the app answers ``GET /json/ready`` as it should."""
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            conn.request("GET", "/json/ready")
            response = conn.getresponse()
            return response.status == 200 and response.read() == client.HTTP_BODY % b"ready"
        finally:
            conn.close()
    except OSError:
        return False


def start(server: str, log: Path, pin: int | None) -> tuple[subprocess.Popen[bytes], int]:
    """``server`` serving the app on a free port, once the app answers."""
    port = harness.free_port()
    args = command(server, port).split()[1:]  # after "python"
    proc = harness.spawn([sys.executable, *args], log, pin, env={"PYTHONPATH": str(HERE / "servers")})
    harness.wait_ready(server, proc, log, lambda: answers(port), "answer GET /json/ready")
    return proc, port


# -- one measurement ----------------------------------------------------------------------------------


def measure(
    server: str, scenario: str, repeat: int, opts: argparse.Namespace, pins: harness.Pins
) -> dict[str, Any]:
    tag = f"asgi-{server}-{scenario}-{repeat}"
    server_log = LOGS / f"{tag}.server.log"
    record: dict[str, Any] = {"server": server, "scenario": scenario, "repeat": repeat}
    with harness.measuring(record, [server_log]) as procs:
        proc, port = start(server, server_log, pins[0])
        procs.append(proc)
        record["server_pinned"] = pins[0] is None or harness.threads_pinned(proc.pid, pins[0])
        args = SCENARIOS[scenario]["client"].format(host=HOST, port=port).split()
        args += ["--connections", str(opts.connections), "--server-pid", str(proc.pid)]
        args += ["--warmup", str(opts.warmup), "--duration", str(opts.duration)]
        result = harness.run_child(HERE / "client.py", args, LOGS / f"{tag}.client.log", 120, pins[1])
        result.pop("scenario", None)  # the client's kind ("echo"), not the row ("ws_echo")
        if proc.poll() is not None:
            harness.add_error(result, f"the server died (exit {proc.returncode})")
        # What the server ran on, after the load: its processes and their threads.
        processes = harness.tree(proc.pid)
        record["server_processes"] = len(processes)
        record["server_threads"] = sum(p.num_threads() for p in processes)
        record.update(result)
    return record


def describe(record: dict[str, Any]) -> str:
    value = record.get("value")
    if value is None:
        return harness.failed_text(record)
    text = (
        f"{value:9,.0f} {record['unit']}  (server {record.get('server_cpu', 0.0):.0%} in "
        f"{record.get('server_processes', '?')} processes, {record.get('server_threads', '?')} threads; "
        f"client {record['client_cpu']:.0%}, others {record['other_cpu']:.0%})"
    )
    if record.get("attempts", 1) > 1:
        text += f"  {record['attempts']} attempts"
    return text + harness.errors_note(record)


# -- summary ------------------------------------------------------------------------------------------


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per scenario and server: medians over the repeats."""
    return harness.summarize(runs, "scenario", "server", fill_cell)


def fill_cell(cell: dict[str, Any], ok: list[dict[str, Any]], records: list[dict[str, Any]]) -> None:
    """The throughput, its value per server CPU-second, the CPU use, the server's processes and
    threads of a (scenario, server) cell: medians."""
    per_cpu = {str(r["repeat"]): r["value"] / r["server_cpu"] for r in ok if r.get("server_cpu")}
    cell.update(
        {
            "by_repeat_per_cpu": per_cpu,
            "median": median_of(ok, lambda r: r["value"]),
            "median_per_cpu": statistics.median(per_cpu.values()) if per_cpu else None,
            "server_cpu": median_of(ok, lambda r: r["server_cpu"]),
            "client_cpu": median_of(ok, lambda r: r["client_cpu"]),
            "other_cpu": median_of(ok, lambda r: r["other_cpu"]),
            "processes": max((r.get("server_processes", 0) for r in ok), default=0),
            "threads": max((r.get("server_threads", 0) for r in ok), default=0),
            "pinned": all(r.get("server_pinned", True) for r in records),
        }
    )
    # The load generator at its limit: the server might have gone faster (a lower bound).
    cell["client_saturated"] = (cell["client_cpu"] or 0.0) > SATURATED


def ratios(
    data: dict[str, Any], scenario: str, server: str, peer: str
) -> tuple[float | None, str, float | None]:
    """``server`` / ``peer`` (see ``harness.ratio``): the ratio, its qualifier ("≥" when only the
    server's runs had the load generator saturated: its figure is a lower bound; "≤" when only the
    peer's), the ratio per server CPU-second."""
    row = data["summary"].get(scenario, {})
    r, q = harness.ratio(row, server, peer, "client_saturated")
    return r, q, harness.ratio(row, server, peer, "client_saturated", per_cpu=True)[0]


# -- the docs section ---------------------------------------------------------------------------------

SECTION = "## ASGI"


def table(data: dict[str, Any]) -> str:
    """Per scenario and server: the throughput, the CPU, per server CPU-second, the ratios."""
    summary, max_noise = data["summary"], data["meta"].get("max_noise", 0.15)
    ratio_heads = " | ".join(f"this / {SERVERS[p]['label']} (per server CPU-s)" for p in PEERS)
    lines = [
        f"| scenario | server | throughput | server CPU | load generator CPU | per server CPU-second | {ratio_heads} |",
        "|---|---|---:|---:|---:|---:|" + "---:|" * len(PEERS),
    ]
    for scenario, spec in SCENARIOS.items():
        for server, about in SERVERS.items():
            cell = summary.get(scenario, {}).get(server)
            if cell is None:
                continue
            cells = []
            for peer in PEERS:
                r, q, rc = ratios(data, scenario, server, peer)
                cells.append("" if peer == server or r is None else f"{fmt_ratio(r, q)} ({fmt_ratio(rc)})")
            label = f"**{about['label']}**" if about.get("duplex") else about["label"]
            lines.append(
                f"| {spec['label']} ({spec['unit']}) | {label} | "
                f"{harness.value_text(cell, max_noise, 'client_saturated')} | {fmt_pct(cell['server_cpu'])} | "
                f"{fmt_pct(cell['client_cpu'])} | {fmt_count(cell['median_per_cpu'])} | {' | '.join(cells)} |"
            )
    return "\n".join(lines)


def goals_table(data: dict[str, Any]) -> str:
    lines = [
        "| goal (issue 13) | ratio | goal by throughput | ratio per server CPU-second | goal per server CPU-second |",
        "|---|---:|---|---:|---|",
    ]
    for scenario, peer, target in GOALS:
        r, q, rc = ratios(data, scenario, "duplex", peer)
        limit = "the load generator's limit"
        lines.append(
            f"| {SCENARIOS[scenario]['label']}: duplex \u2265 {target:g}\u00d7 {SERVERS[peer]['label']} | "
            f"{fmt_ratio(r, q) or DASH} | {harness.verdict(r, target, q, limit)} | "
            f"{fmt_ratio(rc) or DASH} | {harness.verdict(rc, target)} |"
        )
    return "\n".join(lines)


def servers_table(data: dict[str, Any]) -> str:
    """Each server's command line, and the processes and threads it ran in (the most seen)."""
    lines = ["| server | command line | processes / threads |", "|---|---|---|"]
    for server, spec in SERVERS.items():
        cells = [row[server] for row in data["summary"].values() if server in row]
        if not cells:
            continue
        processes = max(c["processes"] for c in cells)
        threads = max(c["threads"] for c in cells)
        lines.append(f"| {spec['label']} | `{command(server, 'P')}` | {processes} / {threads} |")
    return "\n".join(lines)


def markdown(data: dict[str, Any]) -> str:
    """The "ASGI" section of docs/benchmarks.md, from a results file of this script."""
    meta, summary = data["meta"], data["summary"]
    problems = harness.problems(
        summary,
        lambda scenario, server: f"{SCENARIOS[scenario]['label']}, {SERVERS[server]['label']}",
        "the server's log",
    )
    versions, quick, repeats = harness.run_notes(meta)
    goals = goals_table(data) if "duplex" in meta["servers"] else "duplex was not measured in this run."
    return f"""{SECTION}

One FastAPI app (`benchmarks/servers/fastapi_app.py`: `GET /json/{{tag}}` answers
`{{"message": "Hello, World!", "tag": tag}}`, `/ws` echoes every message) on duplex and on the
ASGI servers people run FastAPI on, in the same run: uvicorn (httptools, and the websockets
sans-I/O protocol, its default since 0.50), hypercorn and granian (Rust). The scenario of issue
13. Written by `python benchmarks/asgi.py` (about 4 minutes; `--quick`: a 30-second smoke check
that leaves this page alone; `--report-only`: this section again from
`benchmarks/results/asgi.json`); `run.py` keeps it when it rewrites the page.

Measured {meta["date"]}{quick} with `{meta["command"].strip()}`: {repeats} of
{meta["duration_s"]:g} s after a {meta["warmup_s"]:g} s warm-up, medians shown; the run took
{meta["elapsed_s"] / 60:.1f} minutes. duplex at commit {meta["duplex_commit"]}. Each server runs
one worker process, pinned to CPU {meta["server_cpu"]} with every thread and process it starts
(its CPU share counts them all); the load generator (`benchmarks/client.py`, one epoll loop in
C) is pinned to CPU {meta["client_cpu"]}; {meta["connections"]} connections in each scenario.

{table(data)}

{goals}

- *HTTP*: {meta["connections"]} keep-alive connections, each with one request in flight (no
  pipelining): `GET /json/<tag>`, the tag 12 digits (the connection's number, a counter); every
  response must be a 200 with a Content-Length and the JSON carrying that tag, byte for byte.
- *WebSocket echo*: {meta["connections"]} connections to `/ws`, each a closed loop of 64-byte
  binary messages (stamped with the connection's number and a counter), every echo compared byte
  for byte; at the end every connection's last echo must come back and every connection must close
  with 1000 both ways.
- **Per server CPU-second** is the throughput divided by the server's CPU share: on loopback the
  load generator shares the machine with the server, and a server that does not use all of its
  core is judged by what it does per second of its own CPU time.
- `\u2265`: the load generator used more than {SATURATED:.0%} of its core in that cell, so the
  server might have done more: a lower bound (in a ratio: `\u2265` the server's, `\u2264` the
  peer's, `~` both). `\u2020`: other processes used more than {meta.get("max_noise", 0.15):g} of a
  core during the window.

The servers (`P`: a free port; every one with `benchmarks/servers` on `PYTHONPATH`, and the
processes and threads seen after the load, the most of any run):

{servers_table(data)}

hypercorn and granian each run a master process and one worker (hypercorn also
multiprocessing's resource tracker); granian's worker runs the app on its Python thread and the
HTTP and WebSocket I/O on one Rust (tokio) runtime thread. Every thread of every process shares
the server's one core.

Each measurement has a fresh server, ready once `GET /json/ready` answers as it should, and a fresh
load generator; repeats interleave the servers, in an order rotated from one repeat to the next.
Versions: {versions}.

{chr(10).join(problems) if problems else "Errors: none. Every response and every echo was checked and matched."}
"""


def write_section(data: dict[str, Any], docs: Path = DOCS) -> None:
    """Put the section in docs/benchmarks.md, replacing the one there (or at the end)."""
    harness.write_section(SECTION, markdown(data), docs)


def section_from_results(path: Path | None = None) -> str:
    """The section from results/asgi.json, or "" before the first run (for report.py)."""
    return harness.section_from_results(path or RESULTS / "asgi.json", summarize, markdown)


# -- main ---------------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    packages = ["duplex", "fastapi", "starlette"] + [p for s in SERVERS.values() for p in s["packages"]]
    return report.package_versions(dict.fromkeys([*packages, "uvloop", "psutil"]))


def main() -> None:
    parser = harness.new_parser(__doc__)
    harness.add_names(parser, "--servers", SERVERS)
    harness.add_names(parser, "--scenarios", SCENARIOS)
    harness.add_timing(parser)
    parser.add_argument("--connections", type=int, default=100, help="connections per scenario (100)")
    harness.add_noise(parser, None, "seconds to wait for a quiet machine (10; 0 with --quick)")
    harness.add_docs(parser, "asgi.json")
    opts = parser.parse_args()
    if opts.report_only:
        write_section(harness.load_results(RESULTS / "asgi.json", summarize))
        return
    harness.quick_defaults(opts)
    servers = harness.chosen(opts.servers, SERVERS, "server", parser.error)
    scenarios = harness.chosen(opts.scenarios, SCENARIOS, "scenario", parser.error)
    pins = harness.prepare("asgi-*.log")

    measured = harness.run_plan(
        harness.interleaved(opts.repeats, scenarios, servers),
        lambda repeat, scenario, server: measure(server, scenario, repeat, opts, pins),
        lambda scenario, server, record: f"{scenario:8} {server:10} {describe(record)}",
        opts,
        skip_when_no_wait=True,
    )
    data = harness.results(
        measured,
        summarize,
        opts,
        pins,
        "asgi.py",
        first={"versions": versions()},
        setup={"connections": opts.connections},
        chosen={"servers": servers, "scenarios": scenarios},
    )
    # A smoke run's results go with the logs (not kept in git), a real run's beside latest.json.
    out = LOGS / "asgi-quick.json" if opts.quick else RESULTS / "asgi.json"
    harness.save(
        data, out, measured.elapsed, [table(data)] + ([goals_table(data)] if "duplex" in servers else [])
    )
    if not opts.quick and not opts.no_docs:
        write_section(data)


if __name__ == "__main__":
    harness.guarded(main)
