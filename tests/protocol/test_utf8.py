"""Tests for duplex.protocol.utf8: incremental UTF-8 validation that fails fast (RFC 6455 section 8.1).

Valid text must decode the same however it is split; invalid text must fail at the first byte after
which no continuation could make it valid (RFC 3629 section 4 grammar), which is what Autobahn's 6.x
cases check byte by byte.
"""

from __future__ import annotations

import pytest

from duplex.protocol.exceptions import InvalidPayload
from duplex.protocol.utf8 import Utf8Decoder

# "κόσμε" as in Markus Kuhn's test file and Autobahn, its omicron with oxia U+1F79 taking 3 bytes.
KOSME_TEXT = "\u03ba\u1f79\u03c3\u03bc\u03b5"
KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

VALID_SAMPLES = [
    "",
    "ascii only",
    KOSME_TEXT,
    "Hello-µ@ßöäüàá-UTF-8!!",
    "\u0080\u07ff\u0800\uffff\U00010000\U0010ffff",  # the boundaries of each sequence length
    "\ud7ff\ue000\ufffd",  # either side of the surrogate range
    "emoji \U0001f600 and CJK 中文",
]


def feed_bytes(decoder: Utf8Decoder, data: bytes) -> str:
    """Feed ``data`` one byte at a time, the last one as final."""
    parts = [decoder.decode(data[index : index + 1], False) for index in range(len(data))]
    parts.append(decoder.decode(b"", True))
    return "".join(parts)


def first_failing_byte(data: bytes, final: bool = False) -> int | None:
    """Feed ``data`` byte by byte; return the 1-based position of the byte that failed, or None.

    With ``final``, a last empty call ends the message and counts as position ``len(data) + 1``.
    """
    decoder = Utf8Decoder()
    for index in range(len(data)):
        try:
            decoder.decode(data[index : index + 1], False)
        except InvalidPayload:
            return index + 1
    if final:
        try:
            decoder.decode(b"", True)
        except InvalidPayload:
            return len(data) + 1
    return None


# --- valid text --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", VALID_SAMPLES)
def test_whole_valid_text(text: str) -> None:
    assert Utf8Decoder().decode(text.encode(), True) == text


@pytest.mark.parametrize("text", VALID_SAMPLES)
def test_valid_text_split_at_every_position(text: str) -> None:
    data = text.encode()
    for split in range(len(data) + 1):
        decoder = Utf8Decoder()
        first = decoder.decode(data[:split], False)
        second = decoder.decode(data[split:], True)
        assert first + second == text, split


@pytest.mark.parametrize("text", VALID_SAMPLES)
def test_valid_text_split_at_every_pair_of_positions(text: str) -> None:
    data = text.encode()
    for first_split in range(len(data) + 1):
        for second_split in range(first_split, len(data) + 1):
            decoder = Utf8Decoder()
            decoded = (
                decoder.decode(data[:first_split], False)
                + decoder.decode(data[first_split:second_split], False)
                + decoder.decode(data[second_split:], True)
            )
            assert decoded == text, (first_split, second_split)


@pytest.mark.parametrize("text", VALID_SAMPLES)
def test_valid_text_byte_by_byte(text: str) -> None:
    assert feed_bytes(Utf8Decoder(), text.encode()) == text


def test_incomplete_sequence_is_held_back_not_returned() -> None:
    decoder = Utf8Decoder()
    assert decoder.decode(b"a\xce", False) == "a"
    assert decoder.decode(b"\xba", False) == "κ"
    assert decoder.decode(b"\xe1\xbd", False) == ""
    assert decoder.decode(b"\xb9", True) == "\u1f79"


def test_surrogate_lead_followed_by_a_valid_continuation_is_accepted() -> None:
    # ED 9F BF is U+D7FF, the last code point before the surrogates: ED must not be refused alone.
    decoder = Utf8Decoder()
    assert decoder.decode(b"\xed", False) == ""
    assert decoder.decode(b"\x9f", False) == ""
    assert decoder.decode(b"\xbf", True) == "\ud7ff"


def test_largest_code_point_byte_by_byte() -> None:
    assert first_failing_byte(b"\xf4\x8f\xbf\xbf", final=True) is None


# --- invalid text: fails at the first byte where invalidity is knowable ------------------------------


@pytest.mark.parametrize(
    ("data", "position"),
    [
        (b"\x80", 1),  # a lone continuation byte
        (b"\xbf", 1),
        (b"\xc0", 1),  # C0 and C1 can only start overlong forms
        (b"\xc1", 1),
        (b"\xf5", 1),  # F5..FF can only start code points above U+10FFFF
        (b"\xf8", 1),
        (b"\xfe", 1),
        (b"\xff", 1),
        (b"\xc0\xaf", 1),  # overlong "/"
        (b"\xe0\x80", 2),  # overlong 3-byte form
        (b"\xe0\x9f", 2),
        (b"\xf0\x80", 2),  # overlong 4-byte form
        (b"\xf0\x8f", 2),
        (b"\xed\xa0", 2),  # U+D800, a surrogate: knowable before the third byte
        (b"\xed\xbf", 2),  # U+DFFF
        (b"\xf4\x90", 2),  # U+110000 and above
        (b"\xf4\xbf", 2),
        (b"\xce\x41", 2),  # a lead byte followed by ASCII
        (b"\xe1\xbd\x41", 3),
        (b"\xf0\x90\x80\x41", 4),
        (b"abc\xff", 4),
    ],
)
def test_invalid_sequence_fails_at_the_first_knowable_byte(data: bytes, position: int) -> None:
    assert first_failing_byte(data) == position


@pytest.mark.parametrize(
    "data",
    [b"\xed\xa0", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xff"],
)
def test_invalid_sequence_fails_in_one_call(data: bytes) -> None:
    with pytest.raises(InvalidPayload) as info:
        Utf8Decoder().decode(data, False)
    assert info.value.close_code == 1007


@pytest.mark.parametrize("prefix", [b"", b"a", KOSME])
def test_surrogate_fails_whatever_came_before(prefix: bytes) -> None:
    decoder = Utf8Decoder()
    decoder.decode(prefix, False)
    with pytest.raises(InvalidPayload):
        decoder.decode(b"\xed\xa0", False)


def test_surrogate_split_between_calls_fails_on_its_second_byte() -> None:
    decoder = Utf8Decoder()
    assert decoder.decode(b"\xed", False) == ""
    with pytest.raises(InvalidPayload):
        decoder.decode(b"\xa0", False)


def test_kosme_then_surrogate_fails_by_the_13th_byte() -> None:
    # Autobahn case 6.3.1: "κόσμε" (11 bytes), then ED A0 80, then "edited".
    data = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"
    assert data[:11] == KOSME
    assert first_failing_byte(data) == 13


def test_kosme_then_surrogate_in_two_parts() -> None:
    decoder = Utf8Decoder()
    assert decoder.decode(KOSME + b"\xed", False) == KOSME_TEXT
    with pytest.raises(InvalidPayload):
        decoder.decode(b"\xa0\x80edited", True)


@pytest.mark.parametrize(
    ("data", "complete"),
    [(b"\xce", ""), (b"\xe1\xbd", ""), (b"\xf0\x90\x80", ""), (b"ok\xf4\x8f\xbf", "ok")],
)
def test_truncated_sequence_fails_only_when_final(data: bytes, complete: str) -> None:
    decoder = Utf8Decoder()
    assert decoder.decode(data, False) == complete
    with pytest.raises(InvalidPayload) as info:
        decoder.decode(b"", True)
    assert info.value.close_code == 1007


@pytest.mark.parametrize("data", [b"\xce", b"\xe1\xbd", b"\xf0\x90\x80"])
def test_truncated_sequence_in_a_single_final_call(data: bytes) -> None:
    with pytest.raises(InvalidPayload):
        Utf8Decoder().decode(data, True)


def test_decoders_are_independent() -> None:
    first = Utf8Decoder()
    second = Utf8Decoder()
    first.decode(b"\xce", False)
    assert second.decode(b"a", True) == "a"
    assert first.decode(b"\xba", True) == "κ"
