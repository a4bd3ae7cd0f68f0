"""Configuring the broker: the ``broker`` setting, ``$DUPLEX_BROKER``, ``duplex serve --broker``; a
broker that cannot be reached at start, and URLs that are not broker URLs."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

import duplex
from cli.serve_process import run_serve
from cluster.brokers import BrokerProcess
from cluster.helpers import free_port
from duplex.server.web_server import BROKER_TIMEOUT

pytestmark = pytest.mark.timeout(60)

BROKER_UNREACHABLE = 302
SCHEMES = ["redis", "nats"]


def closed_url(scheme: str) -> str:
    """A broker URL on a port of 127.0.0.1 where nothing listens."""
    port = free_port()
    return f"redis://127.0.0.1:{port}/0" if scheme == "redis" else f"nats://127.0.0.1:{port}"


@pytest.fixture
def web() -> Iterator[duplex.WebServer]:
    """A ``WebServer`` that is not started; stopped after the test whatever it did."""
    server = duplex.WebServer()
    try:
        yield server
    finally:
        server.stop()


def assert_port_free(port: int) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # raises OSError if the web server took it


@pytest.mark.parametrize("scheme", SCHEMES)
def test_start_fails_with_302_when_the_broker_cannot_be_reached(web: duplex.WebServer, scheme: str) -> None:
    url, port = closed_url(scheme), free_port()
    started = time.monotonic()
    result = web.start({"HTTPPort": port, "broker": url})
    assert time.monotonic() - started < BROKER_TIMEOUT + 1
    assert result["success"] is False
    [error] = result["errors"]
    assert error["errCode"] == BROKER_UNREACHABLE
    assert url in error["message"]
    assert ("Redis" if scheme == "redis" else "NATS") in error["message"]
    assert not web.isRunning
    assert web.cluster is None
    assert web.brokerStats is None
    assert_port_free(port)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_serve_exits_2_with_one_line_when_the_broker_cannot_be_reached(scheme: str) -> None:
    url = closed_url(scheme)
    done = run_serve("--port", "0", "--broker", url)
    assert done.returncode == 2, done
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("duplex: error: ")
    assert url in lines[0]
    assert done.stdout == ""


ACCEPTED = r"redis://host:port/db.*nats://host:port"


@pytest.mark.parametrize(
    "bad", ["http://x", 42, "redis://", "nats:/no-host", "redis://h:port/0", b"redis://h"]
)
def test_an_invalid_broker_url_raises_value_error_saying_what_is_accepted(
    web: duplex.WebServer, bad: object
) -> None:
    with pytest.raises(ValueError, match=ACCEPTED):
        duplex.WebServer({"broker": bad})
    with pytest.raises(ValueError, match=ACCEPTED):
        web.start({"HTTPPort": 0, "broker": bad})
    assert not web.isRunning


def test_serve_refuses_an_invalid_broker_url_in_one_line() -> None:
    done = run_serve("--port", "0", "--broker", "http://x")
    assert done.returncode == 2, done
    [line] = done.stderr.splitlines()
    assert "redis://host:port/db" in line
    assert "nats://host:port" in line


def test_duplex_broker_variable_is_used_when_the_setting_is_absent(
    broker: BrokerProcess, web: duplex.WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUPLEX_BROKER", broker.url)
    assert web.broker == broker.url
    assert web.start({"HTTPPort": 0})["success"]
    assert web.cluster is not None
    assert web.cluster.connected
    assert web.brokerStats is not None
    assert web.brokerStats["published"] == 0


def test_an_empty_broker_setting_disables_the_variable(
    web: duplex.WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pointing at a closed port: had it been used, start() would fail.
    monkeypatch.setenv("DUPLEX_BROKER", closed_url("redis"))
    assert web.start({"HTTPPort": 0, "broker": ""})["success"]
    assert web.broker is None
    assert web.cluster is None
    assert web.brokerStats is None
    web.stop()
    # And without the setting the variable is used.
    result = web.start({"HTTPPort": 0, "broker": None})
    assert result["errors"][0]["errCode"] == BROKER_UNREACHABLE


def test_an_invalid_duplex_broker_variable_leaves_no_thread_behind(
    web: duplex.WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUPLEX_BROKER", "http://x")
    before = threading.active_count()
    result = web.start({"HTTPPort": 0})
    assert result["success"] is False
    assert result["errors"][0]["errCode"] == 301
    assert result["errors"][0]["message"].startswith("DUPLEX_BROKER: broker 'http://x' is not supported")
    assert "redis://host:port/db" in result["errors"][0]["message"]
    assert not web.isRunning
    deadline = time.monotonic() + 1
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before, threading.enumerate()
