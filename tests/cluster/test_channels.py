"""Broker channel names (``duplex.cluster.channels``): readable, one token per path, and valid NATS
subjects whatever the path."""

from __future__ import annotations

import re

import pytest

from duplex.cluster.channels import PRESENCE, broadcast_channel, path_token, topic_channel

# A NATS subject: tokens separated by ".", none empty, no whitespace, no wildcard.
SUBJECT = re.compile(r"[^\s.*>]+(\.[^\s.*>]+)*")


def test_names_read_as_the_path_and_topic() -> None:
    assert broadcast_channel("/ws") == "duplex./ws.all"
    assert topic_channel("/ws", "room:lobby") == "duplex./ws.t.room:lobby"
    assert topic_channel("/ws", "a.b") == "duplex./ws.t.a.b"
    assert PRESENCE == "duplex._presence"


@pytest.mark.parametrize(
    "path", ["/ws", "/v1.0/ws", "/a b", "/*", "/chat/*", "/x>y", "/%2E", "/ü", None, "/.", "/a\tb"]
)
def test_every_path_is_one_token_of_a_valid_subject(path: str | None) -> None:
    token = path_token(path)
    assert "." not in token
    assert SUBJECT.fullmatch(broadcast_channel(path))
    assert SUBJECT.fullmatch(topic_channel(path, "room.1"))


def test_different_paths_get_different_tokens() -> None:
    paths = ["/ws", "/ws.", "/ws%2E", "/ws/", "/WS", "/ws*", None, "/~"]
    assert len({path_token(path) for path in paths}) == len(paths)
