"""Tables, chart and docs/benchmarks.md from a results file (see run.py for the data's shape)."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

PEERS = ["websockets", "aiohttp", "picows", "tornado", "uvicorn"]
DUPLEX = "duplex_api"
ENGINE = "duplex_engine"
PACKAGES = [
    "duplex",
    "websockets",
    "aiohttp",
    "picows",
    "aiofastnet",
    "tornado",
    "uvicorn",
    "starlette",
    "uvloop",
    "httptools",
    "cython",
    "psutil",
    "matplotlib",
]

#: (what, scenario, compared with, operator, target): the goals of issues 5 and 9.
GOALS: list[tuple[str, str, str, str, float]] = [
    ("echo 100 conns \u00d7 64 B", "echo_100x64", "aiohttp", ">=", 1.5),
    ("echo 100 conns \u00d7 64 B", "echo_100x64", "websockets", ">=", 3.0),
    ("echo 100 conns \u00d7 64 B", "echo_100x64", "picows", ">=", 1.0),
    ("echo 1000 conns \u00d7 64 B", "echo_1000x64", "aiohttp", ">=", 1.5),
    ("echo 1000 conns \u00d7 64 B", "echo_1000x64", "picows", ">=", 1.0),
    ("echo 100 conns \u00d7 16 KiB", "echo_100x16k", "aiohttp", ">=", 1.5),
    ("echo 100 conns \u00d7 16 KiB", "echo_100x16k", "picows", ">=", 1.0),
    ("handshakes/s", "handshake", "aiohttp", ">=", 2.0),
    ("handshakes/s", "handshake", "picows", ">=", 1.0),
    ("memory per idle connection", "memory", "aiohttp", "<=", 0.7),
    ("broadcast deliveries/s, 1000 clients", "broadcast", "websockets", ">=", 2.0),
    ("broadcast deliveries/s, 1000 clients", "broadcast", "picows", ">=", 1.0),
    ("4D API over bare engine, echo 100 conns \u00d7 64 B", "echo_100x64", ENGINE, ">=", 0.95),
]


# -- the machine ---------------------------------------------------------------------------------------


def package_versions(names: Iterable[str]) -> dict[str, str]:
    """Each package's installed version, or "not installed"."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    try:
        root = Path(__file__).resolve().parent.parent
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "src"], cwd=root, capture_output=True, text=True
        ).stdout
        commit += " + uncommitted changes in src/" if dirty.strip() else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "cpu_model": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": round(mem / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_impl": platform.python_implementation(),
        "versions": package_versions(PACKAGES),
        "duplex_commit": commit,
    }


# -- formatting ----------------------------------------------------------------------------------------


def fmt_value(value: float | None, scenario: str) -> str:
    if value is None:
        return "failed"
    if scenario == "memory":
        return f"{value / 1024:.1f} KiB"
    if scenario == "check":
        return f"{value:.0f}"
    return f"{value:,.0f}"


NOISE_MARK = "\u2020"


def noisy(cell: dict[str, Any], limit: float) -> bool:
    return bool(cell.get("other_cpu", 0.0) > limit)


def cell_text(cell: dict[str, Any] | None, scenario: str, noise_limit: float = 1e9) -> str:
    if cell is None:
        return "\u2013"
    if scenario == "check":
        ok = cell["median"] is not None and cell["median"] == cell.get("of") and not cell["errors"]
        return f"{'✓' if ok else '✗'} {fmt_value(cell['median'], scenario)}/{cell.get('of', '?')}"
    text = fmt_value(cell["median"], scenario)
    if cell["median"] is not None and cell.get("lower_bound"):
        text = "≥ " + text
    if noisy(cell, noise_limit):
        text += " " + NOISE_MARK
    if cell["errors"]:
        text += f" ⚠ {cell['errors']} err"
    return text


def ratio(
    summary: dict[str, Any], scenario: str, a: str, b: str, per_cpu: bool = False
) -> tuple[float | None, str]:
    """a/b, and a qualifier: "" exact, "≥"/"≤" when one side is a lower bound, "~" when both are.

    The ratio is the median of the per-repeat ratios (a and b measured within a minute of each
    other in the same repeat), which cancels the machine's slow drift between repeats; without
    paired repeats, the ratio of the medians. ``per_cpu``: of the throughputs per server
    CPU-second instead of per wall-second."""
    row = summary.get(scenario, {})
    ca, cb = row.get(a), row.get(b)
    median = "median_per_cpu" if per_cpu else "median"
    if not ca or not cb or ca.get(median) is None or cb.get(median) in (None, 0):
        return None, ""
    repeats = "by_repeat_per_cpu" if per_cpu else "by_repeat"
    ra, rb = ca.get(repeats, {}), cb.get(repeats, {})
    pairs = [value / rb[k] for k, value in ra.items() if rb.get(k)]
    value = statistics.median(pairs) if pairs else ca[median] / cb[median]
    la, lb = ca.get("lower_bound", False), cb.get("lower_bound", False)
    qualifier = "~" if la and lb else "≥" if la else "≤" if lb else ""
    return value, qualifier


def fmt_ratio(value: float | None, qualifier: str) -> str:
    if value is None:
        return "\u2013"
    return f"{qualifier + ' ' if qualifier else ''}{value:.2f}\u00d7"


def present(data: dict[str, Any], servers: dict[str, Any]) -> list[str]:
    chosen = data["meta"]["servers"]
    return [s for s in servers if s in chosen]


def results_table(data: dict[str, Any], servers: dict[str, Any], scenarios: dict[str, Any]) -> str:
    summary = data["summary"]
    cols = present(data, servers)
    peers = [p for p in PEERS if p in cols] if DUPLEX in cols else []
    head = [
        "scenario",
        *(f"{servers[s]['label']}" for s in cols),
        *(f"duplex / {servers[p]['label']}" for p in peers),
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    rows = [s for s in scenarios if s in summary]
    if "check" in summary:
        rows.append("check")
    for scenario in rows:
        if scenario == "check":
            label = "correctness check: messages echoed intact, 0 B … 32 MiB"
        else:
            spec = scenarios[scenario]
            better = "higher" if spec["higher"] else "lower"
            label = f"{spec['label']} ({spec['unit']}, {better} is better)"
        limit = data["meta"].get("max_noise", 1e9)
        cells = [cell_text(summary[scenario].get(s), scenario, limit) for s in cols]
        ratios = (
            [] if scenario == "check" else [fmt_ratio(*ratio(summary, scenario, DUPLEX, p)) for p in peers]
        )
        if scenario == "check":
            ratios = [""] * len(peers)
        lines.append("| " + " | ".join([label, *cells, *ratios]) + " |")
    if DUPLEX in cols and ENGINE in cols and "echo_100x64" in summary:
        value, qualifier = ratio(summary, "echo_100x64", DUPLEX, ENGINE)
        cells = [""] * len(cols)
        cells[cols.index(DUPLEX)] = fmt_ratio(value, qualifier)
        lines.append(
            "| "
            + " | ".join(
                [
                    "4D API over bare engine: duplex / duplex engine, echo 100 conns \u00d7 64 B",
                    *cells,
                    *[""] * len(peers),
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def goal_status(value: float | None, qualifier: str, op: str, target: float) -> str:
    if value is None:
        return "not measured"
    met = value >= target if op == ">=" else value <= target
    # Could the verdict flip if the client-bound side were measured exactly?
    could_grow = qualifier in ("≥", "~")
    could_shrink = qualifier in ("≤", "~")
    if op == ">=":
        uncertain = (not met and could_grow) or (met and could_shrink)
    else:
        uncertain = (not met and could_shrink) or (met and could_grow)
    status = "**met**" if met else "not met"
    return status + (" (uncertain: client-bound)" if uncertain else "")


def goals_table(data: dict[str, Any], servers: dict[str, Any], scenarios: dict[str, Any]) -> str:
    summary = data["summary"]
    lines = [
        "| goal | target | measured | status | per server CPU-second |",
        "|---|---:|---:|---|---:|",
    ]
    for what, scenario, other, op, target in GOALS:
        if scenario not in summary:
            continue
        value, qualifier = ratio(summary, scenario, DUPLEX, other)
        per_cpu, _ = ratio(summary, scenario, DUPLEX, other, per_cpu=True)
        name = servers[other]["label"] if other in servers else other
        if other == ENGINE:
            goal = what
        elif scenario == "memory":
            goal = f"{what}: duplex / {name}"
        else:
            goal = f"{what}: duplex / {name}"
        sign = "≥" if op == ">=" else "≤"
        lines.append(
            f"| {goal} | {sign} {target:g}\u00d7 | {fmt_ratio(value, qualifier)} | "
            f"{goal_status(value, qualifier, op, target)} | {fmt_ratio(per_cpu, '')} |"
        )
    return "\n".join(lines)


def per_cpu_table(data: dict[str, Any], servers: dict[str, Any], scenarios: dict[str, Any]) -> str:
    """Throughput per second of server CPU time (median of the runs), and duplex's ratios on it."""
    summary = data["summary"]
    cols = present(data, servers)
    peers = [s for s in cols if s not in (DUPLEX, ENGINE)]
    lines = [
        "| scenario | "
        + " | ".join(servers[s]["label"] for s in cols)
        + " | "
        + " | ".join(f"duplex / {servers[s]['label']}" for s in peers)
        + " |",
        "|---|" + "---:|" * (len(cols) + len(peers)),
    ]
    for scenario, spec in scenarios.items():
        row = summary.get(scenario)
        if not row or scenario == "memory":
            continue
        cells = []
        for s in cols:
            cell = row.get(s)
            value = cell.get("median_per_cpu") if cell else None
            cells.append("\u2013" if value is None else fmt_value(value, scenario))
        ratios = [fmt_ratio(*ratio(summary, scenario, DUPLEX, s, per_cpu=True)) for s in peers]
        lines.append(f"| {spec['label']} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(lines)


def api_cost_table(data: dict[str, Any], scenarios: dict[str, Any]) -> str:
    summary = data["summary"]
    lines = ["| scenario | duplex (4D API) | duplex engine | API / engine |", "|---|---:|---:|---:|"]
    for scenario, spec in scenarios.items():
        row = summary.get(scenario, {})
        if DUPLEX not in row or ENGINE not in row:
            continue
        value, qualifier = ratio(summary, scenario, DUPLEX, ENGINE)
        lines.append(
            f"| {spec['label']} ({spec['unit']}) | {cell_text(row[DUPLEX], scenario)} | "
            f"{cell_text(row[ENGINE], scenario)} | {fmt_ratio(value, qualifier)} |"
        )
    return "\n".join(lines)


def instructions_table() -> str:
    """The callgrind counts of ``instructions.py --write``, beside the ones they replaced."""
    path = Path(__file__).resolve().parent / "results" / "instructions.json"
    if not path.exists():
        return "(not measured yet: `python benchmarks/instructions.py --write`)"
    import json

    data = json.loads(path.read_text())
    current, previous = data.get("current", {}), data.get("previous", {})
    then = f"{data.get('previous_date', '')} ({data.get('previous_commit', '')})"
    now = f"{data.get('date', '')} ({data.get('commit', '')})"
    lines = [f"| path | before: {then} | after: {now} | change |", "|---|---:|---:|---:|"]
    for key, value in current.items():
        server, scenario = key.split(" ", 1)
        label = {"duplex_api": "4D API", "duplex_engine": "bare engine"}.get(server, server)
        unit = "per 64 B message" if scenario == "echo" else "per handshake"
        before = previous.get(key)
        change = f"{(value - before) / before:+.1%}" if before else "\u2013"
        before_text = f"{before:,}" if before else "\u2013"
        lines.append(f"| {label}, {scenario} {unit} | {before_text} | {value:,} | {change} |")
    return "\n".join(lines)


def cpu_table(data: dict[str, Any], servers: dict[str, Any], scenarios: dict[str, Any]) -> str:
    summary = data["summary"]
    cols = present(data, servers)
    lines = [
        "| scenario | " + " | ".join(servers[s]["label"] for s in cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for scenario, spec in scenarios.items():
        row = summary.get(scenario)
        if not row or scenario == "memory":
            continue
        cells = []
        for s in cols:
            cell = row.get(s)
            if not cell or "server_cpu" not in cell:
                cells.append("\u2013")
                continue
            text = f"{cell['server_cpu']:.0%} / {cell['client_cpu']:.0%}"
            cells.append(f"**{text}**" if cell.get("lower_bound") else text)
        lines.append(f"| {spec['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def problems(data: dict[str, Any], servers: dict[str, Any], scenarios: dict[str, Any]) -> list[str]:
    out = []
    for scenario, row in data["summary"].items():
        label = "correctness check" if scenario == "check" else scenarios[scenario]["label"]
        for server, cell in row.items():
            name = servers[server]["label"] if server in servers else server
            if cell["errors"] or cell["failed_runs"]:
                samples = "; ".join(f"`{s[:160]}`" for s in cell["error_samples"][:3])
                failed = f" ({cell['failed_runs']} failed)" if cell["failed_runs"] else ""
                out.append(
                    f"- {label}, {name}: {cell['errors']} errors in {cell['runs']} runs{failed}: {samples}"
                )
            if not cell.get("pinned", True):
                out.append(f"- {label}, {name}: some server threads were not pinned to the server's CPU")
    return out


def all_runs_table(data: dict[str, Any], servers: dict[str, Any], scenarios: dict[str, Any]) -> str:
    summary = data["summary"]
    cols = present(data, servers)
    lines = [
        "| scenario | " + " | ".join(servers[s]["label"] for s in cols) + " | spread (median) |",
        "|---|" + "---:|" * len(cols) + "---:|",
    ]
    for scenario, spec in scenarios.items():
        row = summary.get(scenario)
        if not row:
            continue
        cells, spreads = [], []
        for s in cols:
            cell = row.get(s)
            if not cell or not cell.get("by_repeat"):
                cells.append("\u2013")
                continue
            values = [cell["by_repeat"][k] for k in sorted(cell["by_repeat"], key=int)]
            div = 1024 if scenario == "memory" else 1
            cells.append(" / ".join(compact(v / div) for v in values))
            if len(values) > 1 and cell["median"]:
                spreads.append((max(values) - min(values)) / cell["median"])
        spread = f"{statistics.median(spreads):.0%}" if spreads else "\u2013"
        lines.append(
            f"| {spec['label']} ({'KiB/conn' if scenario == 'memory' else spec['unit']}) | "
            + " | ".join(cells)
            + f" | {spread} |"
        )
    return "\n".join(lines)


def background(data: dict[str, Any]) -> str:
    meta = data["meta"]
    loads = sorted(r["other_cpu"] for r in data["runs"] if "other_cpu" in r)
    if not loads:
        return "Not measured."
    median = loads[len(loads) // 2]
    limit = meta.get("max_noise", 0.15)
    over = sum(1 for x in loads if x > limit)
    return (
        f"Other processes on the machine (everything but the server, the load generator and the "
        f"runner; kernel threads left out) used a median of {median:.0%} of a core during the "
        f"measured windows, at most {loads[-1]:.0%}. Before each measurement the runner waits (up "
        f"to {meta.get('quiet_wait_s', 10):g} s) for them to fall under {limit:.0%}; a measurement "
        f"during which they went over it is measured again (at most {meta.get('retries', 1)} more "
        f"time(s), the quietest kept); {meta.get('retries_used', 0)} "
        f"measurements were taken again, and {over} of {len(loads)} kept ones were still over the "
        f"limit."
    )


def log_notes(data: dict[str, Any], servers: dict[str, Any], scenarios: dict[str, Any]) -> list[str]:
    out = []
    for scenario, row in data["summary"].items():
        label = "correctness check" if scenario == "check" else scenarios[scenario]["label"]
        for server, cell in row.items():
            for line in cell.get("server_log", [])[:2]:
                out.append(f"- {label}, {servers[server]['label']}: `{line[:200]}`")
    return out


# -- chart ---------------------------------------------------------------------------------------------


def compact(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def chart(data: dict[str, Any], servers: dict[str, Any], scenarios: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    summary = data["summary"]
    cols = present(data, servers)
    colors = {
        DUPLEX: "#c0392b",
        ENGINE: "#f1948a",
        "websockets": "#5d6d7e",
        "aiohttp": "#2e86c1",
        "picows": "#28b463",
        "tornado": "#af7ac5",
        "uvicorn": "#d4ac0d",
    }
    rows = [s for s in scenarios if s in summary]
    with_api = DUPLEX in cols and ENGINE in cols
    panels = len(rows) + (1 if with_api else 0)
    ncols = 4
    nrows = (panels + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(18, 4.3 * nrows + 0.8), squeeze=False)
    for ax in axes.flat[panels:]:
        ax.axis("off")
    axis_format = FuncFormatter(lambda x, _: compact(x) if x else "0")
    for ax, scenario in zip(axes.flat, rows, strict=False):
        spec = scenarios[scenario]
        names, values, lower, bar_colors = [], [], [], []
        for s in cols:
            cell = summary[scenario].get(s)
            if not cell or cell["median"] is None:
                continue
            names.append(servers[s]["label"])
            values.append(cell["median"] / 1024 if scenario == "memory" else cell["median"])
            lower.append(bool(cell.get("lower_bound")))
            bar_colors.append(colors.get(s, "#888888"))
        y = list(range(len(values)))
        bars = ax.barh(y, values, color=bar_colors, edgecolor="black", linewidth=0.5)
        for bar, value, bound in zip(bars, values, lower, strict=True):
            if bound:
                bar.set_hatch("//")
            ax.annotate(
                (" \u2265 " if bound else " ") + compact(value),
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                ha="left",
                va="center",
                fontsize=9,
            )
        ax.set_yticks(y)
        ax.set_yticklabels(names, fontsize=9)
        ax.invert_yaxis()
        ax.set_xlim(0, max(values, default=1) * 1.25)
        ax.xaxis.set_major_formatter(axis_format)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
        unit = "KiB per idle connection" if scenario == "memory" else spec["unit"]
        better = "more" if spec["higher"] else "less"
        ax.set_title(f"{spec['label']}\n{unit} ({better} is better)", fontsize=10)
    if with_api:
        ax = axes.flat[len(rows)]
        labels, values = [], []
        for scenario in rows:
            value, _ = ratio(summary, scenario, DUPLEX, ENGINE)
            if value is not None and scenarios[scenario]["higher"]:
                labels.append(scenarios[scenario]["label"])
                values.append(value)
        y = list(range(len(values)))
        ax.barh(y, values, color=colors[DUPLEX], edgecolor="black", linewidth=0.5)
        for i, value in enumerate(values):
            ax.annotate(
                f"{value:.2f}\u00d7 ",
                (value, i),
                ha="right",
                va="center",
                fontsize=9,
                color="white",
                weight="bold",
            )
        ax.axvline(0.95, color="black", linestyle="--", linewidth=1)
        ax.axvline(1.0, color="grey", linewidth=0.5)
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize=9)
        ax.invert_yaxis()
        ax.set_xlim(0, max([1.1, *values]) * 1.2)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.set_title(
            "what the 4D API costs: duplex / engine\n(dashed line: the goal, 0.95\u00d7)", fontsize=10
        )
    meta = data["meta"]
    fig.suptitle(
        f"duplex and its peers on one machine ({meta['cpu_model']}, {meta['python_impl']} {meta['python']}, "
        f"server on one CPU, load generator on the other), {meta['date']}: medians of {meta['repeats']} runs. "
        "Hatched, \u2265: the load generator was saturated, a lower bound.",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=100)
    plt.close(fig)


# -- the page ------------------------------------------------------------------------------------------


def write_docs(data: dict[str, Any], servers: dict[str, Any], scenarios: dict[str, Any], docs: Path) -> None:
    meta = data["meta"]
    chart(data, servers, scenarios, docs / "benchmarks.png")
    cols = present(data, servers)
    versions = "\n".join(f"| {name} | {version} |" for name, version in meta["versions"].items())
    server_rows = "\n".join(
        f"| {servers[s]['label']} | `benchmarks/servers/{servers[s]['script']}` | {servers[s]['about']} |"
        for s in cols
    )
    issues = problems(data, servers, scenarios)
    notes = log_notes(data, servers, scenarios)
    saturated = sorted(
        {
            f"{scenarios[sc]['label']} ({servers[s]['label']})"
            for sc, row in data["summary"].items()
            if sc != "check"
            for s, cell in row.items()
            if cell.get("lower_bound")
        }
    )
    quick = " (a `--quick` smoke run, not a measurement)" if meta.get("quick") else ""
    page = f"""# Benchmarks

duplex against the Python WebSocket servers people actually choose: websockets, aiohttp, picows,
Tornado, and uvicorn with Starlette, plus duplex's own bare engine (to show what the 4D API costs).
One command runs them all on one machine; this page is written by that command.

## Running

```sh
pip install -e '.[bench]'              # or: pip install -r benchmarks/requirements.txt
python benchmarks/run.py               # the full run, about 13 minutes; rewrites this page
python benchmarks/run.py --quick       # a 2-minute smoke check; leaves this page alone
python benchmarks/run.py --servers duplex_api,aiohttp --scenarios echo_100x64,handshake
python benchmarks/run.py --report-only # rewrite this page from benchmarks/results/latest.json
python benchmarks/instructions.py      # instructions per message and per handshake (callgrind)
python benchmarks/idle_memory.py       # idle memory per connection, compression off and on (below)
python benchmarks/cluster.py           # two processes and Redis against python-socketio ("Cluster", below)
python benchmarks/clients.py           # the clients: duplex's against websockets, aiohttp, picows ("Clients")
python benchmarks/asgi.py              # one FastAPI app on duplex, uvicorn, hypercorn, granian ("ASGI")
```

Linux only (CPU pinning, `/proc`); it needs two CPUs, a C compiler and Python headers (the load
generator's hot path is compiled with Cython on first use). Raw results go to
`benchmarks/results/latest.json`, every server's and client's log to `benchmarks/results/logs/`.

## Idle memory with compression

Every server in the table runs without compression. `benchmarks/idle_memory.py` measures what
permessage-deflate costs an idle duplex connection: a fresh server (the 4D API, an echo) per
setting; 2,000 connections (`--connections`) that each offer permessage-deflate as browsers do
(`--offer`), send one text message of chat-like JSON (`--message-size`, 1 KiB by default) and check
its compressed echo, then sit idle. The server's RSS after a warm-up and after the connections,
divided by their number:

| message each way | compression off | on, the defaults (12-bit windows, memLevel 5) | on, zlib's defaults (15-bit windows, memLevel 8: duplex's before issue 10) |
|---|---|---|---|
| 1 KiB | 6.9 KiB | 49.3 KiB | 108.9 KiB |
| 16 KiB | 6.9 KiB | 57.6 KiB | 173.0 KiB |
| 64 KiB | 7.1 KiB | 56.2 KiB | 264.2 KiB |

What zlib keeps between messages is most of it (`tests/server/test_compression.py` holds it to 64 KiB
with `tracemalloc`): 38 KiB of compressor and 11 KiB of inflater with the defaults, 262 + 39 KiB with
zlib's. A larger message touches more of that memory, hence the growth with its size. With
`serverNoContextTakeover` and `clientNoContextTakeover` nothing is kept: 7.2 KiB per idle connection,
as without compression. `--option name=value` sets any `WebSocketServer` option, e.g.
`--option serverMaxWindowBits=15 --option clientMaxWindowBits=15 --option compressionMemLevel=8` for
zlib's defaults. The ratio the defaults cost: 2,000 chat messages of 86 bytes on average, compressed
with context takeover, take 20.5% of their size instead of 18.0%, and a 407 KiB JSON document 19.3%
instead of 18.7%. Measured on the machine below, with the measurement of issue 10 (item 7).

## Results

Measured {meta["date"]}{quick} with `{meta["command"].strip()}`: {meta["repeats"]} repeats of
{meta["duration_s"]:g} s after a {meta["warmup_s"]:g} s warm-up, medians shown; the whole run took
{meta["elapsed_s"] / 60:.1f} minutes. duplex at commit {meta["duplex_commit"]}.

{results_table(data, servers, scenarios)}

- "duplex" is duplex through its public 4D API (`WebSocketServer`, a connection handler,
  `broadcast()`); "duplex engine" is the layer under it, with no 4D API.
- Ratios are duplex / peer: the median of the ratios of each repeat (see "Every run"), so they
  can differ a little from the ratio of the medians shown. For memory, lower is better, so a ratio
  below 1 favours duplex.
- `≥ x`: the load generator used more than {round(0.9 * 100)}% of its CPU in that cell, so the
  server might have done more: the value is a lower bound. A ratio built on such a value is marked
  `≥` (duplex was the lower bound), `≤` (the peer was) or `~` (both were).
- `\u2020`: other processes on this (shared) machine used more than {meta.get("max_noise", 0.15):g} of a
  core during that cell's measurements (median), so the value may be low; see "Background load".
- `⚠ n err`: errors seen by the client (a wrong, missing or extra message, a failed handshake, an
  unclean close); they are listed under "Errors" below.

![duplex and its peers](benchmarks.png)

### Goals

The targets of issue 5, against this run:

{goals_table(data, servers, scenarios)}

Why a goal is not met (the profiles) and what would close it: [performance.md](performance.md).

### What the 4D API costs

The same echo through duplex's `WebSocketServer` and connection handler (events, `ws.send()`)
and through the bare engine under it:

{api_cost_table(data, scenarios)}

### CPU use

Server CPU / load generator CPU over the measured window (medians; 100% is one core). **Bold**:
the load generator was saturated.

{cpu_table(data, servers, scenarios)}

### Instructions per message and per handshake

User-space instructions in the server process, counted by callgrind (`python
benchmarks/instructions.py --write`): the same from run to run, so a change to a hot path shows
here exactly, whatever the machine was doing.

{instructions_table()}

### Per server CPU-second

On loopback the load generator competes with the server for the machine; a server that does not
use all of its core is judged by what it does per second of its own CPU time. Each cell is the
median over the runs of throughput / server CPU share; the ratios are medians of the per-repeat
ratios, as above.

{per_cpu_table(data, servers, scenarios)}

On loopback, the kernel's TCP work (the sender also runs the receiver's TCP input path) is most of
the cost of a small message for both sides. The echo load generator therefore does nothing else:
one epoll loop in C, one `recv` and one `send` per round trip, so that it stays well under its
core while the server is at ~100% of its own.

### Every run

Each cell's values, repeat by repeat (servers ran in a rotated order within each repeat), and the
median over the servers of (max - min) / median:

{all_runs_table(data, servers, scenarios)}

The machine is a virtual machine: from one repeat to the next, a cell can move by 10-40% with
nothing else running (see "Background load"). That is why the ratios are medians of per-repeat
ratios, each pairing duplex and the peer measured within a minute of each other; a ratio within
about 0.9-1.1\u00d7 is a tie.

### Background load

{background(data)}

### Errors

{chr(10).join(issues) if issues else "None: every echoed byte and every broadcast message was checked, and all matched; every handshake and close was clean."}

Client-saturated cells (lower bounds): {", ".join(saturated) if saturated else "none"}.

Lines that look like errors in the servers' own logs:

{chr(10).join(notes) if notes else "None."}

## Machine

- CPU: {meta["cpu_model"]}, {meta["cpus"]} CPUs; {meta["memory_gib"]} GiB of memory; Linux {meta["kernel"]}
- {meta["python_impl"]} {meta["python"]}; every server on uvloop
- Server pinned to CPU {meta["server_cpu"]}, load generator to CPU {meta["client_cpu"]} (`os.sched_setaffinity`; every server thread checked)

| package | version |
|---|---|
{versions}

## Method

**Servers.** Each is an echo server written the way its own documentation shows, in
`benchmarks/servers/`, started as `python benchmarks/servers/X.py --port P [--mode echo|broadcast]`:

| server | file | how |
|---|---|---|
{server_rows}

All run on uvloop, with compression (permessage-deflate) off, keepalive pings off, and a maximum
message size of 64 MiB (the benchmark sends up to 32 MiB). All listen on 127.0.0.1. Logging is
left at each library's default, except uvicorn's access log, which is off.

**Load generator.** `benchmarks/client.py`: one process, pinned to the other CPU, with its hot
paths compiled by Cython (`benchmarks/_fastclient.pyx`). The echo scenarios open plain sockets,
check each `101`, and then drive all connections from one epoll loop in C with the GIL released:
no event loop and no Python per message, so it needs far less CPU per round trip than any server
here. Broadcast and memory use picows connections (picows is a Cython WebSocket library) on
uvloop, with `on_ws_frame` a C call; for handshakes it uses a compiled uvloop protocol that speaks
the opening and closing handshakes itself, because `picows.ws_connect` spends more Python per
connection than the fastest servers. It measures its own CPU time (`getrusage`) and the server's
(`psutil`) over the measured window; above 90% of one core, the result is marked as a lower bound.

**Every byte is checked.** Each echo message carries its connection's number and a counter, and
the echo is compared byte for byte (`memcmp`) with what was sent, so a lost, repeated, reordered,
truncated or corrupted message is an error. Each broadcast message carries the server's sequence
number and a fixed filler; each client checks that it gets every number, in order, intact, and a
round ends only when every client has every message. Handshakes check the `101`, `Upgrade`,
`Connection` and `Sec-WebSocket-Accept`, then a close frame 1000 each way and the server closing
the TCP connection. Errors are counted and reported above, never dropped.

**Runs.** Every cell is measured {meta["repeats"]} times; each measurement starts a fresh server
process (so no scenario inherits another's memory or connections) and a fresh load generator.
Within a repeat, scenarios run in order and servers in a rotated order. The table shows medians.

**Scenarios.**

- *check* (once per server, not timed): one connection echoes text (empty, short multi-byte
  UTF-8, 1 MiB) and binary messages of 0, 1, 125, 126, 127, 65535, 65536 bytes, 1 MiB, 16 MiB
  and 32 MiB (random bytes).
- *echo*: N connections each keep one binary message in flight (send, wait for the echo, check
  it, send the next); warm-up, then round trips counted over the measured window: 1, 100 and 1000
  connections at 64 B, 100 connections at 16 KiB.
- *handshakes*: 50 concurrent connectors, each in a loop: TCP connect, upgrade, close frame 1000,
  the server's close frame, the server's TCP close. Handshakes completed per second.
- *memory*: the server's RSS (`/proc/PID`, via psutil) after a small warm-up (20 connections
  opened and closed) and 1 s of rest, then again 1.5 s after 5000 connections have opened and sit
  idle; the difference divided by 5000.
- *broadcast*: 1000 clients connected; one of them sends the text `broadcast 50`, and the server
  sends 50 messages of 64 bytes to every client (duplex with `wss.broadcast()`,
  websockets with `websockets.broadcast()`, the others by looping over their connections).
  Rounds repeat for the measured window; deliveries per second = messages received by all clients
  / time from each request to its last delivery. Before measuring, one-message rounds make sure
  the server has registered every client.
"""
    (docs / "benchmarks.md").write_text(page + script_sections("cluster", "clients", "asgi"))


def script_sections(*names: str) -> str:
    """The sections that the scripts ``names`` (``cluster``: ``benchmarks/cluster.py``) write at the
    end of the page, each rebuilt from its results file so that rewriting the page keeps it (none
    before the script's first run)."""
    import importlib
    import sys

    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    texts = [importlib.import_module(name).section_from_results() for name in names]
    return "".join("\n" + text for text in texts if text)


def replace_section(page: str, heading: str, section: str) -> str:
    """``page`` with its section ``heading`` ("## Cluster": from that line to the next "## "
    heading or the end) replaced by ``section``, or with ``section`` added at the end. The
    sections that scenario scripts append (Cluster, Clients, ASGI) each keep the others."""
    lines = page.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip("\n") == heading), None)
    if start is None:
        return page.rstrip("\n") + "\n\n" + section
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    before = "".join(lines[:start]).rstrip("\n") + "\n\n"
    after = "".join(lines[end:])
    return before + section.rstrip("\n") + "\n" + ("\n" + after if after else "")
