"""The bytes a message crosses the broker as (``duplex.cluster.envelope``): what is encoded decodes to
the same message, and anything else is refused whole, with a message that says why."""

from __future__ import annotations

import struct

import pytest

from duplex.cluster.envelope import HEADER, Envelope, MalformedEnvelope, decode, encode

ORIGIN = b"\x01\x02\x03\x04\x05\x06\x07\x08"


@pytest.mark.parametrize(
    ("path", "topic", "payload", "text"),
    [
        ("/ws", "room:lobby", b"hello", True),
        ("/ws", None, b"\x00\xff binary", False),
        ("/chat/v1.0", "a.b.c", "ça marche ✓".encode(), True),
        (None, "t", b"", True),
        ("/ws", None, bytes(100_000), False),
    ],
)
def test_what_is_encoded_decodes_to_the_same_message(
    path: str | None, topic: str | None, payload: bytes, text: bool
) -> None:
    assert decode(encode(ORIGIN, path, topic, payload, text)) == Envelope(ORIGIN, path, topic, text, payload)


def valid() -> bytes:
    return encode(ORIGIN, "/ws", "news", b"hi", True)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "shorter than the 16-byte header"),
        (valid()[: HEADER - 1], "shorter than the 16-byte header"),
        (b"xyz" + valid()[3:], "unknown format"),
        (valid()[:3] + b"\x80" + valid()[4:], "unknown flags"),
        (valid()[: HEADER + 2], "run past the end"),
        (struct.pack(">3sB8sHH", b"dx1", 1, ORIGIN, 2, 0) + b"\xff\xfe" + b"x", "not UTF-8"),
        (encode(ORIGIN, "/ws", "news", b"\xff\xfe", True), "a text message that is not UTF-8"),
        (
            struct.pack(">3sB8sHH", b"dx1", 3, ORIGIN, 3, 0) + b"/ws" + b"x",
            "the topic flag and the topic disagree",
        ),
        (
            struct.pack(">3sB8sHH", b"dx1", 1, ORIGIN, 3, 4) + b"/ws" + b"newsx",
            "the topic flag and the topic disagree",
        ),
    ],
)
def test_anything_else_is_refused_with_the_reason(data: bytes, says: str) -> None:
    with pytest.raises(MalformedEnvelope, match=says):
        decode(data)


def test_binary_payloads_are_not_checked_as_text() -> None:
    assert decode(encode(ORIGIN, "/ws", None, b"\xff\xfe", False)).payload == b"\xff\xfe"
