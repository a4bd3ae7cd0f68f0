"""Fixtures for the cluster tests: a real ``redis-server`` and a real ``nats-server`` on free ports of
127.0.0.1, always stopped; ``broker`` runs each test once against each of them.

A :class:`~cluster.brokers.BrokerProcess` can be killed (SIGKILL, no goodbye) and started again on
the same port, for the fault tests. A missing server binary fails the test (it never skips: CI must
run these) and names the Debian package to install.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import duplex
from cluster.brokers import BrokerProcess
from cluster.helpers import App, Client, Node, RawBroker


@pytest.fixture(params=["redis", "nats"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BrokerProcess]:
    """A running broker server of each kind in turn; stopped after the test, whatever happened."""
    folder = tmp_path / request.param
    folder.mkdir()
    server = BrokerProcess(request.param, folder)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def nodes(broker: BrokerProcess) -> Iterator[Callable[..., Node]]:
    """``nodes(**wss_options)``: a started ``duplex.WebServer`` with its own connection to ``broker``
    (one process of the cluster, as far as the cluster can tell) and a WebSocketServer on /ws running
    :class:`cluster.cluster_app.Server`. All are stopped after the test."""
    made: list[Node] = []

    def make(**options: Any) -> Node:
        web = duplex.WebServer()
        result = web.start({"HTTPPort": 0, "IPAddressToListen": "127.0.0.1", "broker": broker.url})
        assert result["success"], result
        app = App()
        try:
            wss = duplex.WebSocketServer(app, {"webServer": web, "path": "/ws", **options})
        except BaseException:
            web.stop()
            raise
        node = Node(web, wss, app)
        made.append(node)
        return node

    try:
        yield make
    finally:
        for node in made:
            node.web.stop()


@pytest.fixture
def clients() -> Iterator[Callable[..., Client]]:
    """``clients(url, **connect_options)``: a connected :class:`Client`; every one is closed after
    the test."""
    opened: list[Client] = []

    def open_client(url: str, **options: Any) -> Client:
        client = Client(url, **options)
        opened.append(client)
        return client

    try:
        yield open_client
    finally:
        for client in opened:
            with contextlib.suppress(Exception):
                client.close()


@pytest.fixture
def raw_broker(broker: BrokerProcess) -> Iterator[RawBroker]:
    """A plain redis-py or nats-py client of ``broker``, outside duplex."""
    client = RawBroker(broker.kind, broker.url)
    try:
        yield client
    finally:
        client.close()
