"""``duplex serve --workers N`` (duplex.supervisor): N processes on one port sharing a broker, a
crashed worker started again, one signal closing every client of every worker with 1001, and workers
that never outlive their supervisor. Real processes, real brokers, ``websockets`` clients."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from cli.serve_process import ServeProcess, run_serve
from cluster.brokers import BrokerProcess
from cluster.helpers import Client, await_route, free_port, wait_until

pytestmark = pytest.mark.timeout(120)

Clients = Callable[[str], Client]

HERE = Path(__file__).resolve().parent  # where workers_app.py is: the processes' working folder


def workers(broker: BrokerProcess, count: int = 2) -> ServeProcess:
    return ServeProcess(
        "workers_app:Server", "--port", "0", "--workers", str(count), "--broker", broker.url, cwd=HERE
    )


def pid_of(client: Client) -> int:
    return int(client.request("pid").split()[1])


def clients_on_every_worker(url: str, clients: Clients, count: int) -> dict[int, Client]:
    """Clients until one is on each of ``count`` workers (the kernel spreads them): pid -> client."""
    found: dict[int, Client] = {}
    deadline = time.monotonic() + 20
    while len(found) < count:
        assert time.monotonic() < deadline, f"clients reached only {sorted(found)} of {count} workers"
        client = clients(url)
        found.setdefault(pid_of(client), client)
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_workers_need_a_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DUPLEX_BROKER", raising=False)
    result = run_serve("workers_app:Server", "--workers", "2", "--port", "0", cwd=HERE)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "--workers 2 needs a broker: add --broker" in result.stderr
    result = run_serve("workers_app:Server", "--workers", "0", cwd=HERE)
    assert result.returncode == 2
    assert "--workers must be at least 1, got 0" in result.stderr


def test_a_worker_that_cannot_start_stops_the_start(broker: BrokerProcess) -> None:
    url = broker.url.replace(str(broker.port), str(free_port()))
    result = run_serve("workers_app:Server", "--workers", "2", "--port", "0", "--broker", url, cwd=HERE)
    assert result.returncode == 2
    assert (
        f"cannot reach the {'Redis' if broker.kind == 'redis' else 'NATS'} broker at {url}" in result.stderr
    )
    assert "press Ctrl-C" not in result.stdout


def test_workers_share_the_port_and_the_broker_and_stop_with_1001(
    broker: BrokerProcess, clients: Clients
) -> None:
    with workers(broker) as served:
        served.wait_until_serving()
        assert "2 workers, sharing the broker" in served.output()
        by_pid = clients_on_every_worker(served.ws_url, clients, 2)
        first, second = by_pid.values()
        # A broadcast on one worker reaches the clients of the other through the broker.
        await_route(lambda text: first.request(f"broadcast {text}"), [first, second])
        first.request("broadcast hello from one worker")
        assert second.recv() == "hello from one worker"

        served.send_signal(signal.SIGTERM)
        for client in by_pid.values():
            with pytest.raises(ConnectionClosed) as closed:
                client.ws.recv(timeout=20)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert served.wait(30) == 0
        for pid in by_pid:
            wait_until(lambda pid=pid: not alive(pid), what=f"worker {pid} gone")


def test_a_crashed_worker_is_started_again(broker: BrokerProcess, clients: Clients) -> None:
    with workers(broker) as served:
        served.wait_until_serving()
        by_pid = clients_on_every_worker(served.ws_url, clients, 2)
        victim, survivor_pid = list(by_pid)
        os.kill(victim, signal.SIGKILL)
        served.wait_for(
            rf"worker \d \(pid {victim}\) exited with signal SIGKILL; starting it again", timeout=10
        )
        # The survivor's client is untouched; new clients reach a new worker in the victim's place.
        assert by_pid[survivor_pid].request("pid") == f"pid {survivor_pid}"
        replaced = clients_on_every_worker(served.ws_url, clients, 2)
        assert victim not in replaced and survivor_pid in replaced
        new_pid = next(pid for pid in replaced if pid != survivor_pid)
        await_route(lambda text: replaced[new_pid].request(f"broadcast {text}"), [by_pid[survivor_pid]])


def test_workers_stop_when_the_supervisor_is_killed(broker: BrokerProcess, clients: Clients) -> None:
    with workers(broker) as served:
        served.wait_until_serving()
        by_pid = clients_on_every_worker(served.ws_url, clients, 2)
        served.process.kill()
        for pid, client in by_pid.items():
            with pytest.raises(ConnectionClosed) as closed:
                client.ws.recv(timeout=20)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
            wait_until(lambda pid=pid: not alive(pid), what=f"worker {pid} gone after its supervisor")
        assert re.search(r"SIGTERM", served.output()) is not None
