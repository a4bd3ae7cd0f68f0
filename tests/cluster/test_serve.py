"""Real processes: three ``duplex serve cluster_app:Server --broker URL`` on different ports sharing
one broker, driven by ``websockets`` clients through the text commands of ``cluster_app``.

Messages cross between the processes with their type; a process stopped by SIGTERM leaves the
cluster-wide counts at once, and one killed by SIGKILL (no goodbye, its broker connection just
drops) within EXPIRY + HEARTBEAT seconds.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cli.serve_process import ServeProcess
from cluster.brokers import BrokerProcess
from cluster.helpers import EXPIRY, HEARTBEAT, Client, await_route, wait_until

pytestmark = pytest.mark.timeout(90)

Clients = Callable[[str], Client]

HERE = Path(__file__).resolve().parent  # where cluster_app.py is: the processes' working folder
BINARY = bytes([0, 0xFF, 0x80, 7])
VALUE = {"room": "lobby", "n": [1, 2]}


def serve(broker: BrokerProcess) -> ServeProcess:
    return ServeProcess(
        "cluster_app:Server", "--port", "0", "--path", "/ws", "--broker", broker.url, cwd=HERE
    )


def count(client: Client, topic: str = "") -> int:
    """The cluster-wide count, as the process ``client`` is connected to sees it."""
    answer = client.request(f"count {topic}".strip())
    return int(answer.split()[1])


def test_serve_processes_share_one_broker(broker: BrokerProcess, clients: Clients) -> None:
    with serve(broker) as one, serve(broker) as two, serve(broker) as three:
        for process in (one, two, three):
            process.wait_until_serving()
        c1, c2, c3 = clients(one.ws_url), clients(two.ws_url), clients(three.ws_url)
        c1.request("sub T")
        c2.request("sub T")
        wait_until(lambda: count(c1) == 3 and count(c1, "T") == 2, what="3 connections, 2 in T, on one")
        wait_until(lambda: count(c3) == 3 and count(c3, "T") == 2, what="3 connections, 2 in T, on three")

        # publish() from a process with no member reaches the members on the two others.
        await_route(lambda text: c3.request(f"pub T text {text}"), [c1, c2])
        c3.request("pub T text hello")
        c3.request(f"pub T bytes {BINARY.hex()}")
        c3.request(f"pub T json {json.dumps(VALUE)}")
        for member in (c1, c2):
            text, binary, value = member.recv_all(3)
            assert (text, binary) == ("hello", BINARY)
            assert isinstance(value, str)
            assert json.loads(value) == VALUE
        assert c3.quiet(0.2) == []

        # broadcast(exclude=ws) across processes.
        await_route(lambda text: c1.request(f"broadcast text {text}"), [c2, c3])
        c1.inbox.clear()  # its own probes, delivered locally
        c2.request("broadcast-except-me text bye")
        assert c1.recv() == "bye"
        assert c3.recv() == "bye"
        assert c2.request("ping") == "pong"
        assert c2.quiet(0.2) == []

        # SIGTERM: the process says goodbye, and leaves the counts at once.
        three.send_signal(signal.SIGTERM)
        assert three.wait() == 0
        wait_until(lambda: count(c1) == 2, 1.5, "three out of the counts at once")

        # SIGKILL: no goodbye; two leaves the counts when its last heartbeat expires.
        two.process.send_signal(signal.SIGKILL)
        assert two.wait() == -signal.SIGKILL
        killed = time.monotonic()
        wait_until(
            lambda: count(c1) == 1 and count(c1, "T") == 1,
            EXPIRY + HEARTBEAT,
            "two out of the counts within EXPIRY + HEARTBEAT",
        )
        print(f"a killed process left the counts after {time.monotonic() - killed:.2f} s")
        assert one.process.poll() is None
        c1.request("pub T text alone")
        assert c1.recv() == "alone"
