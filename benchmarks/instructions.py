"""Instructions per message (or per handshake) in a server process, counted by callgrind.

    python benchmarks/instructions.py                        # duplex_api and duplex_engine, both scenarios
    python benchmarks/instructions.py --servers duplex_api --scenarios handshake
    python benchmarks/instructions.py --write                # also record them for docs/benchmarks.md

Wall-clock benchmarks on a shared 2-core VM vary by 10-40% between repeats; an instruction count
does not: it is the same from run to run whatever else the machine does. So a change to a hot path
is judged here first, then confirmed by ``run.py``.

How: the server script from ``benchmarks/servers/`` runs under ``valgrind --tool=callgrind`` (only
the server; the client here is plain Python sockets, outside valgrind). It serves ``--small`` items,
then, in a second run, ``--large`` ones; the difference of the two totals divided by the difference
of the counts is the cost of one item, with start-up and shutdown cancelled out. It counts what runs
in the process in user space: Python, uvloop, the C extensions; not the kernel's side of syscalls.

    echo       one connection, one 64-byte binary message in flight at a time
    handshake  connections one after the other: upgrade, close frame, the server's close and TCP close

Needs valgrind (Debian's package) and the bench extras; a run takes about a minute per (server, scenario).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import client  # the load generator's plain-socket upgrade and close

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "instructions.json"
MESSAGE = b"\x82\xc0\x01\x02\x03\x04" + bytes(64)  # 64 bytes, masked
ECHO = b"\x82\x40" + bytes(b ^ k for b, k in zip(bytes(64), b"\x01\x02\x03\x04" * 16, strict=True))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def drive(scenario: str, port: int, count: int) -> None:
    url = f"ws://127.0.0.1:{port}/"
    if scenario == "handshake":
        for _ in range(count):
            client.close_raw([client.upgrade_raw(url, timeout=60)])
    else:
        sock = client.upgrade_raw(url, timeout=60)
        for _ in range(count):
            sock.sendall(MESSAGE)
            got = b""
            while len(got) < len(ECHO):
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("the server closed the connection")
                got += chunk
            if got != ECHO:
                raise ConnectionError(f"wrong echo {got[:20]!r}")
        client.close_raw([sock])
    if client.STATS.errors:
        raise ConnectionError(f"the server did not close cleanly: {client.STATS.samples}")


def total(server: str, scenario: str, count: int) -> int:
    """Instructions of one server process that served ``count`` items."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        proc = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                str(HERE / "servers" / f"{server}.py"),
                "--port",
                str(port),
                "--mode",
                "echo",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert proc.stdout is not None
            if b"ready" not in proc.stdout.readline():
                raise RuntimeError(f"{server} did not start under valgrind")
            drive(scenario, port, count)
            time.sleep(0.5)  # let the server finish the last close before it is stopped
        finally:
            proc.send_signal(signal.SIGINT)  # a clean exit: callgrind writes its counts
            proc.wait(120)
        match = re.search(rb"^(?:summary|totals): (\d+)", out.read_bytes(), re.MULTILINE)
        if match is None:
            raise RuntimeError("callgrind wrote no totals")
        return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--servers", default="duplex_api,duplex_engine")
    parser.add_argument("--scenarios", default="echo,handshake")
    parser.add_argument("--small", type=int, default=0, help="items in the first run (default per scenario)")
    parser.add_argument("--large", type=int, default=0, help="items in the second run")
    parser.add_argument(
        "--write",
        action="store_true",
        help=f"record the counts in {RESULTS.relative_to(HERE.parent)} (the last ones become 'previous'), "
        "for docs/benchmarks.md",
    )
    args = parser.parse_args()
    if not any(os.access(Path(d) / "valgrind", os.X_OK) for d in os.environ["PATH"].split(os.pathsep)):
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    counts: dict[str, int] = {}
    for scenario in args.scenarios.split(","):
        small = args.small or (2000 if scenario == "echo" else 200)
        large = args.large or (12000 if scenario == "echo" else 1200)
        for server in args.servers.split(","):
            each = (total(server, scenario, large) - total(server, scenario, small)) / (large - small)
            unit = "message" if scenario == "echo" else "handshake"
            print(f"{server:15} {scenario:10} {each:10,.0f} instructions per {unit}", flush=True)
            counts[f"{server} {scenario}"] = round(each)
    if args.write:
        record(counts)


def record(counts: dict[str, int]) -> None:
    """Write ``counts`` to the results file; the counts they replace become ``previous``."""
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    current = {**old.get("current", {}), **counts}
    data = {
        "date": time.strftime("%Y-%m-%d"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip(),
        "current": current,
        "previous": old.get("current", {}),
        "previous_date": old.get("date", ""),
        "previous_commit": old.get("commit", ""),
    }
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
