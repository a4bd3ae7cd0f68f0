"""What the benchmark scripts (``run.py``, ``cluster.py``, ``clients.py``, ``asgi.py``) share: their child
processes (started pinned, killed on the way out), free ports, the wait for a quiet machine and
the re-measurement of noisy cells, the interleaved plan of measurements, the results file and its
``meta``, the sections they write into ``docs/benchmarks.md``, the options they have in common,
and the client role's frame (a JSON line of results, errors included)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import functools
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
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
LOGS = RESULTS / "logs"
DOCS = ROOT / "docs" / "benchmarks.md"
SERVER_CPU = 0
LOAD_CPU = 1  # the load generator's (the clients', the publisher's, Redis's)
#: A process's CPU share above which it is taken as saturated (as ``client.SATURATED``).
SATURATED = 0.90
DASH = "\u2013"

Pins = tuple[int | None, int | None]  # (the server's CPU, the load's CPU); (None, None): not pinned
Record = dict[str, Any]
T = TypeVar("T")

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


def spawn(
    cmd: list[str], log: Path, pin: int | None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``cmd`` started on CPU ``pin`` (any: None), with ``env`` added to the environment, its
    output into ``log``, killed by ``kill_all``."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=pin_to(pin),
            cwd=ROOT,
            env={**os.environ, **env} if env else None,
        )
    LIVE.append(proc)
    return proc


def wait_ready(
    name: str, proc: subprocess.Popen[bytes], log: Path, ready: Callable[[], bool], what: str
) -> None:
    """Wait (30 s at most) until ``ready()``; an error if ``proc`` exits first or it never is
    (the process then killed); ``what``: the wait, for the error ("print 'ready'")."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} before it was ready; see {log}")
        if ready():
            return
        time.sleep(0.05)
    kill(proc)
    raise RuntimeError(f"{name} did not {what} within 30 s; see {log}")


def start_server(
    name: str, script: Path, args: list[str], log: Path, pin: int | None
) -> tuple[subprocess.Popen[bytes], int]:
    """``python script --port P *args`` on a free port P, once it has printed "ready" and takes
    a connection."""
    port = free_port()
    proc = spawn([sys.executable, str(script), "--port", str(port), *args], log, pin)
    wait_ready(name, proc, log, lambda: b"ready" in log.read_bytes(), "print 'ready'")
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    return proc, port


def tree(pid: int) -> list[psutil.Process]:
    """``pid`` and the processes it started (a master's workers)."""
    try:
        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, a short wait, SIGKILL: this process; then whatever of its own children (a
    master's workers) outlived it, by their ids; nothing else."""
    children = tree(proc.pid)[1:] if proc.poll() is None else []
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(5)
    for child in children:
        with contextlib.suppress(psutil.Error):  # gone already
            child.kill()
    if proc in LIVE:
        LIVE.remove(proc)


def kill_all() -> None:
    for proc in list(LIVE):
        kill(proc)


def threads_pinned(pid: int, cpu: int) -> bool:
    """Whether every thread of ``pid`` and of its child processes may run on ``cpu`` only
    (threads and children inherit the mask)."""
    try:
        tids = [int(t) for p in tree(pid) for t in os.listdir(f"/proc/{p.pid}/task")]
        return bool(tids) and all(os.sched_getaffinity(tid) == {cpu} for tid in tids)
    except (FileNotFoundError, ProcessLookupError):
        return False


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


def note_log_problems(record: Record, logs: Iterable[Path]) -> None:
    """The servers' log lines that look like errors (at most 5) as ``record["server_log"]``."""
    problems = [line for log in logs if log.exists() for line in log_problems(log)]
    if problems:
        record["server_log"] = problems[:5]


@contextlib.contextmanager
def measuring(record: Record, logs: Iterable[Path]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """The frame of one measurement: the body appends the processes it starts to the list it is
    given; an exception in it becomes the record's failure; the processes are killed at the end
    (the last started first); then the servers' ``logs`` are searched for errors."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    except Exception as exc:
        record.update(failed_with(exc))
    finally:
        for proc in reversed(procs):
            kill(proc)
    note_log_problems(record, logs)


def failed(message: str) -> Record:
    """A measurement's result when it could not be made."""
    return {"value": None, "errors": 1, "error_samples": [message]}


def failed_with(exc: BaseException) -> Record:
    return failed(f"{type(exc).__name__}: {exc}")


def add_error(result: Record, message: str) -> None:
    result["errors"] = result.get("errors", 0) + 1
    result.setdefault("error_samples", []).append(message)


def run_child(script: Path, args: list[str], log: Path, timeout: float, cpu: int | None) -> Record:
    """``python script *args [--cpu CPU]`` (its stderr into ``log``): the JSON object on the last
    line of its stdout, or a failure."""
    cmd = [sys.executable, str(script), *args]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
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
            return failed(f"client timed out after {timeout} s")
        finally:
            kill(proc)  # a no-op once it has exited
    lines = out.decode(errors="replace").strip().splitlines()
    try:
        return dict(json.loads(lines[-1]))
    except (IndexError, ValueError):
        tail = log.read_text(errors="replace")[-500:]
        return failed(f"client exit {proc.returncode}: {tail}")


# -- a quiet machine -----------------------------------------------------------------------------------


def background_load(seconds: float = 0.5) -> float:
    """Cores used by other processes over ``seconds`` (nothing of ours runs meanwhile)."""
    import client

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
    measure: Callable[[], Record], opts: argparse.Namespace, skip_when_no_wait: bool = False
) -> Record:
    """``measure()``, after waiting for a quiet machine; measured again (up to ``opts.retries``
    times, from a shared budget) when other processes used more than ``opts.max_noise`` cores
    during the window. The quietest attempt is kept. ``skip_when_no_wait``: with
    ``--quiet-wait 0``, no look at the load before (``load_before`` None)."""
    attempts = []
    while True:
        if skip_when_no_wait and opts.quiet_wait <= 0:
            before = None
        else:
            before = wait_for_quiet(opts.max_noise, opts.quiet_wait)
        record = measure()
        record["load_before"] = None if before is None else round(before, 3)
        attempts.append(record)
        noisy = record.get("other_cpu", 0.0) > opts.max_noise
        if not noisy or len(attempts) > opts.retries or opts.retry_budget <= 0:
            break
        opts.retry_budget -= 1
    best = min(attempts, key=lambda r: r.get("other_cpu", 0.0))
    best["attempts"] = len(attempts)
    return best


# -- a run: the plan, the results file ---------------------------------------------------------------


def prepare(log_glob: str, server: str = "the server", load: str = "the client") -> Pins:
    """Pins (this script then waits on the load's CPU, off the server's), the open-files limit,
    the logs folder without the logs ``log_glob`` of the last run, the compiled load generator."""
    import client

    cpus = sorted(os.sched_getaffinity(0))
    pins: Pins
    if SERVER_CPU in cpus and LOAD_CPU in cpus:
        pins = (SERVER_CPU, LOAD_CPU)
        os.sched_setaffinity(0, {LOAD_CPU})  # this script only waits; keep it off the server's CPU
    else:
        pins = (None, None)
        print(f"warning: CPUs {cpus}: cannot pin {server} to {SERVER_CPU} and {load} to {LOAD_CPU}")
    raise_nofile()
    LOGS.mkdir(parents=True, exist_ok=True)
    for old in LOGS.glob(log_glob):
        old.unlink()
    client.build_fast_client()
    return pins


def rotated(items: list[T], repeat: int) -> list[T]:
    """``items`` in the order of repeat ``repeat``: rotated by one from each repeat to the next."""
    k = repeat % len(items)
    return items[k:] + items[:k]


def interleaved(
    repeats: int, rows: list[Any], columns: list[Any], keep: Callable[[Any, Any], bool] | None = None
) -> list[tuple[int, Any, Any]]:
    """The plan: ``(repeat, row, column)`` for each repeat, row and column (those ``keep``
    allows), the columns in an order rotated from one repeat to the next."""
    plan: list[tuple[int, Any, Any]] = []
    for repeat in range(repeats):
        order = rotated(columns, repeat)
        for row in rows:
            plan += [(repeat, row, c) for c in order if keep is None or keep(row, c)]
    return plan


@dataclasses.dataclass
class Measured:
    """What ``run_plan`` did: the records, the seconds it took, the re-measurements used."""

    runs: list[Record]
    elapsed: float
    retries_used: int


def run_plan(
    plan: Sequence[tuple[int, Any, Any]],
    measure: Callable[[int, Any, Any], Record],
    label: Callable[[Any, Any, Record], str],
    opts: argparse.Namespace,
    width: int = 4,
    skip_when_no_wait: bool = False,
) -> Measured:
    """Each ``(repeat, a, b)`` of the plan measured (``measure(repeat, a, b)``, quietly: see
    ``measure_quietly``) and printed with ``label(a, b, record)``; every child killed at the end."""
    started = time.time()
    initial_budget = opts.retry_budget
    runs: list[Record] = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        for i, (repeat, a, b) in enumerate(plan, 1):
            record = measure_quietly(functools.partial(measure, repeat, a, b), opts, skip_when_no_wait)
            runs.append(record)
            print(
                f"[{i}/{len(plan)} {time.time() - started:{width}.0f}s] repeat {repeat + 1} "
                f"{label(a, b, record)}",
                flush=True,
            )
    finally:
        kill_all()
    return Measured(runs, time.time() - started, initial_budget - opts.retry_budget)


def results(
    measured: Measured,
    summarize: Callable[[list[Record]], Record],
    opts: argparse.Namespace,
    pins: Pins,
    script: str,
    *,
    load_key: str = "client_cpu",
    first: Record | None = None,
    setup: Record | None = None,
    chosen: Record | None = None,
    last: Record | None = None,
) -> Record:
    """A results file: ``meta`` (the machine, the run's settings, what was measured), the summary,
    the runs. The script's own fields in ``meta``: ``first`` (after the machine's), ``setup``
    (after the timings), ``chosen`` (after the pins), ``last`` (before ``retries_used``)."""
    import report

    meta = {
        **report.machine(),
        **(first or {}),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "elapsed_s": round(measured.elapsed),
        "quick": opts.quick,
        "repeats": opts.repeats,
        "warmup_s": opts.warmup,
        "duration_s": opts.duration,
        **(setup or {}),
        "pinned": pins != (None, None),
        "server_cpu": pins[0],
        load_key: pins[1],
        **(chosen or {}),
        "command": f"python benchmarks/{script} " + " ".join(sys.argv[1:]),
        "max_noise": opts.max_noise,
        **(last or {}),
        "retries_used": measured.retries_used,
    }
    return {"meta": meta, "summary": summarize(measured.runs), "runs": measured.runs}


def save(data: Record, out: Path, elapsed: float, tables: Sequence[str]) -> None:
    """The results file, then the tables and where it went."""
    out.write_text(json.dumps(data, indent=1) + "\n")
    for table in tables:
        print()
        print(table)
    print(f"\n{len(data['runs'])} runs in {elapsed / 60:.1f} min; results in {out.relative_to(ROOT)}")


def load_results(path: Path, summarize: Callable[[list[Record]], Record]) -> Record:
    """A results file, its summary made again from its runs (by this version of the code)."""
    data: Record = json.loads(path.read_text())
    data["summary"] = summarize(data["runs"])
    return data


# -- sections of docs/benchmarks.md --------------------------------------------------------------------


def write_section(heading: str, section: str, docs: Path = DOCS) -> None:
    """Put ``section`` in docs/benchmarks.md, replacing the one under ``heading`` (or at the end);
    the other sections stay."""
    import report

    text = docs.read_text() if docs.exists() else ""
    docs.write_text(report.replace_section(text, heading, section))
    print(f"wrote the {heading!r} section of docs/benchmarks.md")


def section_from_results(
    path: Path, summarize: Callable[[list[Record]], Record], markdown: Callable[[Record], str]
) -> str:
    """A script's section from its results file, or "" before its first run (for report.py)."""
    if not path.exists():
        return ""
    return markdown(load_results(path, summarize))


# -- summaries and their text ----------------------------------------------------------------------


def grouped(runs: list[Record], *keys: str) -> dict[tuple[Any, ...], list[Record]]:
    """The records by their values of ``keys``, in the order first seen."""
    groups: dict[tuple[Any, ...], list[Record]] = {}
    for r in runs:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    return groups


def failures(records: list[Record], ok: int) -> Record:
    """A cell's runs, failed runs (of ``ok`` with a value), errors and the servers' log lines."""
    return {
        "runs": len(records),
        "failed_runs": len(records) - ok,
        "errors": sum(r.get("errors", 0) for r in records),
        "error_samples": [s for r in records for s in r.get("error_samples", [])][:5],
        "server_log": sorted({line for r in records for line in r.get("server_log", [])})[:5],
    }


def summarize(
    runs: list[Record],
    row_key: str,
    column_key: str,
    fill: Callable[[Record, list[Record], list[Record]], None],
) -> dict[str, dict[str, Record]]:
    """Per row (as a str key, as in JSON) and column: a cell of the records, which holds
    ``failures`` and the values by repeat, and what ``fill(cell, ok, records)`` adds (``ok``: the
    records that have a value)."""
    summary: dict[str, dict[str, Record]] = {}
    for (row, column), records in grouped(runs, row_key, column_key).items():
        ok = [r for r in records if r.get("value") is not None]
        cell = {**failures(records, len(ok)), "by_repeat": {str(r["repeat"]): r["value"] for r in ok}}
        fill(cell, ok, records)
        summary.setdefault(str(row), {})[column] = cell
    return summary


def median_of(records: list[Record], get: Any) -> float | None:
    values = []
    for r in records:
        with contextlib.suppress(KeyError, TypeError, ZeroDivisionError):
            value = get(r)
            if value is not None:
                values.append(value)
    return statistics.median(values) if values else None


def paired(a: dict[str, float], b: dict[str, float]) -> list[float]:
    """a / b for each repeat measured on both sides (``by_repeat`` dicts)."""
    return [value / b[k] for k, value in a.items() if b.get(k)]


def ratio(row: Record, a: str, b: str, bound: str, per_cpu: bool = False) -> tuple[float | None, str]:
    """Column ``a`` / column ``b`` of a summary's ``row``: the median of the per-repeat ratios
    (each pairs two measurements made within a minute of each other), and its qualifier: "≥ "
    when only ``a``'s cell is a bound (``cell[bound]``: its figure is a lower bound), "≤ " when
    only ``b``'s, "~ " when both (the ratio then says little). Per CPU-second
    (``by_repeat_per_cpu``), no qualifier."""
    cell_a, cell_b = row.get(a), row.get(b)
    if not cell_a or not cell_b:
        return None, ""
    key = "by_repeat_per_cpu" if per_cpu else "by_repeat"
    pairs = paired(cell_a[key], cell_b[key])
    if not pairs:
        return None, ""
    qualifier = ""
    if not per_cpu:
        qualifier = {
            (True, False): "≥ ",
            (False, True): "≤ ",
            (True, True): "~ ",
        }.get((bool(cell_a[bound]), bool(cell_b[bound])), "")
    return statistics.median(pairs), qualifier


def fmt_ratio(value: float | None, qualifier: str = "") -> str:
    return "" if value is None else f"{qualifier}{value:.2f}\u00d7"


def verdict(
    value: float | None, target: float, qualifier: str = "", limit: str = "the server's limit"
) -> str:
    """Whether a ratio meets a goal of ``≥ target``, given its qualifier (see ``ratio``); ``limit``:
    what made both figures bounds."""
    if value is None:
        return "not measured"
    if qualifier.startswith("~"):
        return f"undecided (both at {limit})"
    if qualifier.startswith("≥"):
        return "**met**" if value >= target else "undecided (a lower bound, under the goal)"
    if qualifier.startswith("≤"):
        return "**not met**" if value < target else "undecided (an upper bound, over the goal)"
    return "**met**" if value >= target else "**not met**"


def failed_text(record: Record) -> str:
    """A failed measurement, as a line of progress."""
    return f"FAILED: {record.get('error_samples', [])[:2]}"


def errors_note(record: Record) -> str:
    """A measurement's errors, to end its line of progress ("" without)."""
    if not record.get("errors"):
        return ""
    return f"  {record['errors']} ERRORS: {record.get('error_samples', [])[:2]}"


def fmt_count(value: float | None) -> str:
    return DASH if value is None else f"{value:,.0f}"


def fmt_pct(value: float | None) -> str:
    return DASH if value is None else f"{value:.0%}"


def value_text(cell: Record, max_noise: float, saturated: str) -> str:
    """A cell's median, "≥" when ``cell[saturated]`` (a lower bound), "†" when noisy, its errors."""
    text = "failed" if cell["median"] is None else f"{cell['median']:,.0f}"
    if cell["median"] is not None and cell[saturated]:
        text = "≥ " + text
    if (cell.get("other_cpu") or 0) > max_noise:
        text += " \u2020"
    if cell["errors"]:
        text += f" ⚠ {cell['errors']} err"
    return text


def problems(summary: Record, label: Callable[[str, str], str], server_log: str) -> list[str]:
    """The errors, the servers' log lines and the unpinned servers of each cell, as list items."""
    found = []
    for row_key, row in summary.items():
        for col_key, cell in row.items():
            where = label(row_key, col_key)
            if cell["errors"] or cell["failed_runs"]:
                samples = "; ".join(f"`{s[:160]}`" for s in cell["error_samples"][:3])
                found.append(f"- {where}: {cell['errors']} errors in {cell['runs']} runs: {samples}")
            for line in cell["server_log"][:2]:
                found.append(f"- {where}, {server_log}: `{line[:200]}`")
            if not cell["pinned"]:
                found.append(f"- {where}: some server threads were not pinned")
    return found


def run_notes(meta: Record) -> tuple[str, str, str]:
    """For a section's text: the packages' versions, the note of a ``--quick`` run ("" for a real
    one), the number of repeats ("3 repeats")."""
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    quick = " (a `--quick` smoke run, not a measurement)" if meta.get("quick") else ""
    return versions, quick, f"{meta['repeats']} repeat{'s' if meta['repeats'] != 1 else ''}"


# -- command line ------------------------------------------------------------------------------------


def new_parser(doc: str | None) -> argparse.ArgumentParser:
    """The parser, with ``--quick``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="one short repeat, a smoke check (docs untouched)"
    )
    return parser


def add_names(parser: argparse.ArgumentParser, flag: str, names: Iterable[str]) -> None:
    """``--servers a,b``: a comma-separated choice, all by default."""
    names = list(names)
    parser.add_argument(flag, default=",".join(names), help="comma-separated, from: " + ", ".join(names))


def add_timing(
    parser: argparse.ArgumentParser,
    warmup_help: str = "seconds (default 1; 0.5 with --quick)",
    duration_help: str = "seconds measured (5; 1.5 with --quick)",
) -> None:
    """``--repeats``, ``--warmup``, ``--duration`` (defaults: see ``quick_defaults``)."""
    parser.add_argument("--repeats", type=int, default=None, help="runs per cell (default 3; 1 with --quick)")
    parser.add_argument("--warmup", type=float, default=None, help=warmup_help)
    parser.add_argument("--duration", type=float, default=None, help=duration_help)


def add_noise(
    parser: argparse.ArgumentParser,
    quiet_wait: float | None,
    quiet_wait_help: str,
    retries: int | None = None,
    retries_help: str = "re-measurements of a noisy cell (1; 0 with --quick)",
    retry_budget: int = 6,
    max_noise_help: str = "other processes' CPU (cores) (0.15)",
) -> None:
    """``--max-noise``, ``--quiet-wait``, ``--retries``, ``--retry-budget``."""
    parser.add_argument("--max-noise", type=float, default=0.15, help=max_noise_help)
    parser.add_argument("--quiet-wait", type=float, default=quiet_wait, help=quiet_wait_help)
    parser.add_argument("--retries", type=int, default=retries, help=retries_help)
    parser.add_argument(
        "--retry-budget",
        type=int,
        default=retry_budget,
        help=f"re-measurements in the whole run ({retry_budget})",
    )


def add_docs(parser: argparse.ArgumentParser, results: str) -> None:
    """``--no-docs``, ``--report-only`` (from ``results/<results>``)."""
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument("--report-only", action="store_true", help=f"rewrite the docs from results/{results}")


def quick_defaults(
    opts: argparse.Namespace,
    warmup: float = 1.0,
    quick_warmup: float = 0.5,
    duration: float = 5.0,
    quick_duration: float = 1.5,
) -> None:
    """The defaults of ``--repeats``, ``--retries``, ``--warmup``, ``--duration`` and
    ``--quiet-wait`` (those left None by the parser), which depend on ``--quick``."""
    opts.repeats = opts.repeats or (1 if opts.quick else 3)
    opts.retries = opts.retries if opts.retries is not None else (0 if opts.quick else 1)
    opts.warmup = opts.warmup if opts.warmup is not None else (quick_warmup if opts.quick else warmup)
    opts.duration = (
        opts.duration if opts.duration is not None else (quick_duration if opts.quick else duration)
    )
    opts.quiet_wait = opts.quiet_wait if opts.quiet_wait is not None else (0 if opts.quick else 10)


def _exit(message: str) -> NoReturn:
    raise SystemExit(message)


def chosen(text: str, known: Iterable[str], what: str, error: Callable[[str], NoReturn] = _exit) -> list[str]:
    """The comma-separated names of ``text``, each one of ``known`` (else ``error``)."""
    known = list(known)
    names = [name for name in text.split(",") if name]
    for name in names:
        if name not in known:
            error(f"unknown {what} {name!r}; known: {', '.join(known)}")
    return names


def guarded(main: Callable[[], None], message: str = "interrupted: every process stopped") -> None:
    """``main()``; every child killed at the end, also on errors and Ctrl-C."""
    try:
        main()
    except KeyboardInterrupt:
        kill_all()
        print(message, file=sys.stderr)
        sys.exit(130)
    finally:
        kill_all()


# -- the client role -----------------------------------------------------------------------------------


def client_role(
    args: argparse.Namespace,
    client_main: Callable[[argparse.Namespace], Coroutine[Any, Any, Record]],
    profile: bool = False,
) -> None:
    """A script as its own load generator: ``client_main(args)`` on uvloop, on CPU ``args.cpu``;
    prints one JSON line, its result with the errors that ``client.STATS`` counted."""
    import uvloop

    import client

    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    raise_nofile()
    result: Record = {}
    try:
        if profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            result.update(uvloop.run(client_main(args)))
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
        else:
            result.update(uvloop.run(client_main(args)))
    except Exception as exc:
        client.STATS.error("failed", f"{type(exc).__name__}: {exc}")
        result["value"] = None
    result["errors"] = client.STATS.errors
    result["error_kinds"] = client.STATS.kinds
    result["error_samples"] = client.STATS.samples
    print(json.dumps(result), flush=True)
