"""Tests for duplex.protocol.frames: frame headers, masking and close payloads (RFC 6455 sections 5, 7).

Every expectation is a literal byte string worked out by hand from the frame diagram in section 5.2,
so a change in the wire format cannot hide behind a helper that shares the code's mistake.
"""

from __future__ import annotations

import os

import pytest

from duplex.protocol.exceptions import InvalidPayload, PayloadTooBig, WebSocketError
from duplex.protocol.frames import (
    CONTROL_OPCODES,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    build_close_payload,
    build_frame,
    frame_header,
    is_valid_close_code,
    parse_close_payload,
    unmask,
)


def reference_unmask(payload: bytes, mask: bytes) -> bytes:
    """The masking algorithm as section 5.3 states it: octet i XOR mask octet (i MOD 4)."""
    return bytes(octet ^ mask[index % 4] for index, octet in enumerate(payload))


# --- opcodes -----------------------------------------------------------------------------------------


def test_opcode_values_match_section_5_2() -> None:
    assert (OP_CONTINUATION, OP_TEXT, OP_BINARY) == (0x0, 0x1, 0x2)
    assert (OP_CLOSE, OP_PING, OP_PONG) == (0x8, 0x9, 0xA)
    assert frozenset({0x8, 0x9, 0xA}) == CONTROL_OPCODES


# --- frame_header ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (0, b"\x82\x00"),
        (1, b"\x82\x01"),
        (125, b"\x82\x7d"),
        (126, b"\x82\x7e\x00\x7e"),
        (127, b"\x82\x7e\x00\x7f"),
        (65535, b"\x82\x7e\xff\xff"),
        (65536, b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
        (2**32, b"\x82\x7f\x00\x00\x00\x01\x00\x00\x00\x00"),
        (2**63 - 1, b"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff"),
    ],
)
def test_frame_header_uses_the_shortest_length_encoding(length: int, header: bytes) -> None:
    assert frame_header(OP_BINARY, length) == header


@pytest.mark.parametrize(
    ("opcode", "fin", "rsv1", "first_byte"),
    [
        (OP_TEXT, True, False, 0x81),
        (OP_TEXT, False, False, 0x01),
        (OP_TEXT, True, True, 0xC1),
        (OP_TEXT, False, True, 0x41),
        (OP_BINARY, True, True, 0xC2),
        (OP_CONTINUATION, True, False, 0x80),
        (OP_CONTINUATION, False, False, 0x00),
        (OP_CLOSE, True, False, 0x88),
        (OP_PING, True, False, 0x89),
        (OP_PONG, True, False, 0x8A),
    ],
)
def test_frame_header_first_byte(opcode: int, fin: bool, rsv1: bool, first_byte: int) -> None:
    assert frame_header(opcode, 3, fin=fin, rsv1=rsv1) == bytes([first_byte, 0x03])


def test_frame_header_never_sets_the_mask_bit() -> None:
    for length in (0, 125, 126, 65535, 65536):
        assert frame_header(OP_TEXT, length)[1] & 0x80 == 0


# --- build_frame -------------------------------------------------------------------------------------


def test_build_frame_unmasked_hello_from_section_5_7() -> None:
    assert build_frame(OP_TEXT, b"Hello") == b"\x81\x05\x48\x65\x6c\x6c\x6f"


def test_build_frame_fragmented_hello_from_section_5_7() -> None:
    assert build_frame(OP_TEXT, b"Hel", fin=False) == b"\x01\x03\x48\x65\x6c"
    assert build_frame(OP_CONTINUATION, b"lo") == b"\x80\x02\x6c\x6f"


def test_build_frame_ping_and_pong_from_section_5_7() -> None:
    assert build_frame(OP_PING, b"Hello") == b"\x89\x05\x48\x65\x6c\x6c\x6f"
    assert build_frame(OP_PONG, b"Hello") == b"\x8a\x05\x48\x65\x6c\x6c\x6f"


def test_build_frame_empty_payload() -> None:
    assert build_frame(OP_CLOSE, b"") == b"\x88\x00"


def test_build_frame_rsv1() -> None:
    assert build_frame(OP_TEXT, b"\xf2\x48\xcd\xc9\xc9\x07\x00", rsv1=True) == (
        b"\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00"
    )


def test_build_frame_256_bytes_from_section_5_7() -> None:
    payload = os.urandom(256)
    assert build_frame(OP_BINARY, payload) == b"\x82\x7e\x01\x00" + payload


def test_build_frame_64_kib_from_section_5_7() -> None:
    payload = bytes(65536)
    assert build_frame(OP_BINARY, payload) == b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00" + payload


# --- unmask ------------------------------------------------------------------------------------------


def test_unmask_masked_hello_from_section_5_7() -> None:
    frame = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    assert frame[:2] == b"\x81\x85"
    assert unmask(frame[6:], frame[2:6]) == b"Hello"


def test_unmask_is_its_own_inverse() -> None:
    mask = b"\x37\xfa\x21\x3d"
    assert unmask(b"Hello", mask) == b"\x7f\x9f\x4d\x51\x58"


@pytest.mark.parametrize("length", range(10))
def test_unmask_short_lengths(length: int) -> None:
    mask = b"\xa1\xb2\xc3\xd4"
    payload = bytes(range(0x30, 0x30 + length))
    result = unmask(payload, mask)
    assert type(result) is bytes
    assert result == reference_unmask(payload, mask)


def test_unmask_keeps_leading_and_trailing_zero_bytes() -> None:
    # The big-integer trick must not drop bytes that XOR to zero at either end.
    mask = b"\x01\x02\x03\x04"
    assert unmask(b"\x01\x02\x03\x04\x01", mask) == b"\x00\x00\x00\x00\x00"
    assert unmask(b"\x01\x02\x03\x04\x01\x02", mask) == b"\x00\x00\x00\x00\x00\x00"
    assert unmask(b"\x00\x00", b"\x00\x00\x00\x00") == b"\x00\x00"


@pytest.mark.parametrize("length", [125, 126, 4095, 65535, 65536, 1024 * 1024 + 3])
def test_unmask_large_payloads_match_the_byte_loop(length: int) -> None:
    mask = os.urandom(4)
    payload = os.urandom(length)
    assert unmask(payload, mask) == reference_unmask(payload, mask)


def test_unmask_every_length_around_the_vector_loop_and_unaligned() -> None:
    # The C loop takes 64 bytes at a time, then 8, then 1: every length up to three blocks, read
    # from an odd address too, must match section 5.3's byte loop.
    mask = b"\x9c\x41\x07\xe3"
    data = os.urandom(200)
    for length in range(193):
        for start in (0, 1, 3):
            payload = memoryview(data)[start : start + length]
            assert unmask(payload, mask) == reference_unmask(bytes(payload), mask), (length, start)


def test_unmask_accepts_bytearray_and_memoryview() -> None:
    mask = b"\x37\xfa\x21\x3d"
    masked = b"\x7f\x9f\x4d\x51\x58"
    assert unmask(bytearray(masked), mask) == b"Hello"
    assert unmask(memoryview(b"xx" + masked)[2:], mask) == b"Hello"


def test_unmask_empty_payload() -> None:
    assert unmask(b"", b"\x01\x02\x03\x04") == b""
    assert unmask(memoryview(b""), b"\x01\x02\x03\x04") == b""


# --- is_valid_close_code -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        (0, False),
        (999, False),
        (1000, True),
        (1001, True),
        (1002, True),
        (1003, True),
        (1004, False),
        (1005, False),
        (1006, False),
        (1007, True),
        (1008, True),
        (1009, True),
        (1010, True),
        (1011, True),
        (1012, True),
        (1013, True),
        (1014, True),
        (1015, False),
        (1016, False),
        (1100, False),
        (2000, False),
        (2999, False),
        (3000, True),
        (3999, True),
        (4000, True),
        (4999, True),
        (5000, False),
        (65535, False),
    ],
)
def test_is_valid_close_code(code: int, valid: bool) -> None:
    assert is_valid_close_code(code) is valid


# --- build_close_payload -----------------------------------------------------------------------------


def test_build_close_payload_without_code_is_empty() -> None:
    assert build_close_payload(None) == b""


def test_build_close_payload_code_only() -> None:
    assert build_close_payload(1000) == b"\x03\xe8"
    assert build_close_payload(1002) == b"\x03\xea"
    assert build_close_payload(4999) == b"\x13\x87"


def test_build_close_payload_with_reason() -> None:
    assert build_close_payload(1001, "bye") == b"\x03\xe9bye"


def test_build_close_payload_encodes_reason_as_utf8() -> None:
    assert build_close_payload(1000, "κ") == b"\x03\xe8\xce\xba"


# --- parse_close_payload -----------------------------------------------------------------------------


def test_parse_close_payload_empty_gives_1005() -> None:
    assert parse_close_payload(b"") == (1005, "")


def test_parse_close_payload_code_only() -> None:
    assert parse_close_payload(b"\x03\xe8") == (1000, "")


def test_parse_close_payload_with_reason() -> None:
    assert parse_close_payload(b"\x03\xe8bye") == (1000, "bye")
    assert parse_close_payload(b"\x0f\xa0\xce\xba\xe1\xbd\xb9") == (4000, "\u03ba\u1f79")


def test_parse_close_payload_round_trips_build_close_payload() -> None:
    assert parse_close_payload(build_close_payload(3000, "going away")) == (3000, "going away")


def test_parse_close_payload_one_byte_is_a_protocol_error() -> None:
    with pytest.raises(WebSocketError) as info:
        parse_close_payload(b"\x03")
    assert type(info.value) is WebSocketError
    assert info.value.close_code == 1002


@pytest.mark.parametrize(
    "payload",
    [
        b"\x00\x00",  # 0
        b"\x03\xe7",  # 999
        b"\x03\xec",  # 1004
        b"\x03\xed",  # 1005
        b"\x03\xee",  # 1006
        b"\x03\xf7",  # 1015
        b"\x03\xf8",  # 1016
        b"\x0b\xb7",  # 2999
        b"\x13\x88",  # 5000
        b"\xff\xff",  # 65535
        b"\x03\xedbye",  # 1005 with a reason
    ],
)
def test_parse_close_payload_invalid_code_is_a_protocol_error(payload: bytes) -> None:
    with pytest.raises(WebSocketError) as info:
        parse_close_payload(payload)
    assert type(info.value) is WebSocketError
    assert info.value.close_code == 1002


@pytest.mark.parametrize(
    "reason",
    [
        b"\xff",
        b"\xce",  # truncated
        b"\xc0\xaf",  # overlong "/"
        b"\xed\xa0\x80",  # surrogate
        b"ok\xf4\x90\x80\x80",  # above U+10FFFF
    ],
)
def test_parse_close_payload_invalid_utf8_reason(reason: bytes) -> None:
    with pytest.raises(InvalidPayload) as info:
        parse_close_payload(b"\x03\xe8" + reason)
    assert info.value.close_code == 1007


def test_exception_close_codes() -> None:
    assert WebSocketError("x").close_code == 1002
    assert WebSocketError("x", close_code=1011).close_code == 1011
    assert PayloadTooBig("x").close_code == 1009
    assert InvalidPayload("x").close_code == 1007


@pytest.mark.parametrize("length", [0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 64, 1000, 65536 + 5])
def test_c_and_python_unmask_agree(length: int) -> None:
    import os

    from duplex.protocol import frames

    payload = os.urandom(length)
    mask = os.urandom(4)
    expected = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    assert frames._unmask_python(payload, mask) == expected
    assert frames.unmask(payload, mask) == expected
    assert frames.unmask(memoryview(bytearray(payload)), mask) == expected


@pytest.mark.parametrize("length", [0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 64, 1000, 65536 + 5])
@pytest.mark.parametrize("offset", [0, 2, 10])
def test_c_and_python_unmask_frame_agree(length: int, offset: int) -> None:
    import os

    from duplex.protocol import frames

    frame = os.urandom(offset) + os.urandom(4) + os.urandom(length)
    mask = frame[offset : offset + 4]
    expected = bytes(byte ^ mask[index % 4] for index, byte in enumerate(frame[offset + 4 :]))
    assert frames._unmask_frame_python(frame, offset) == expected
    assert frames.unmask_frame(frame, offset) == expected
    assert frames.unmask_frame(bytearray(frame), offset) == expected


@pytest.mark.parametrize("length", [0, 1, 63, 64, 65, 125, 126, 127, 191, 16384, 16389, 65535, 65536 + 7])
def test_c_and_python_mask_frame_agree(length: int) -> None:
    import os

    from duplex.protocol import frames

    payload = os.urandom(length)
    keys = os.urandom(16)
    made = frames.mask_frame(0x82, payload, keys, 5)
    assert made == frames._mask_frame_python(0x82, payload, keys, 5)
    header = made[: len(made) - length - 4]
    assert made[len(header) : len(header) + 4] == keys[5:9]
    assert frames.unmask(made[len(header) + 4 :], keys[5:9]) == payload


@pytest.mark.parametrize("implementation", ["c", "python"])
def test_frame_payload_takes_bytes_or_text_out_of_a_buffer(implementation: str) -> None:
    from duplex.protocol import frames

    take = frames.frame_payload if implementation == "c" else frames._frame_payload_python
    buffer = bytearray(b"\x81\x05h\xc3\xa9llo-tail")
    assert take(buffer, 2, 8, False) == b"h\xc3\xa9llo"
    assert type(take(buffer, 2, 8, False)) is bytes
    assert take(buffer, 2, 8, True) == "héllo"
    assert take(buffer, 3, 3, True) == ""
    assert take(b"abc", 0, 3, False) == b"abc"
    with pytest.raises(UnicodeDecodeError):
        take(buffer, 3, 4, True)  # half of a two-byte sequence
    with pytest.raises(UnicodeDecodeError):
        take(b"\xed\xa0\x80", 0, 3, True)  # a surrogate: not UTF-8 (RFC 3629)
    for start, end in ((-1, 2), (3, 2), (0, len(buffer) + 1)):
        with pytest.raises(ValueError):
            take(buffer, start, end, False)


def test_unmask_frame_refuses_a_mask_outside_the_frame() -> None:
    from duplex.protocol import frames

    with pytest.raises(ValueError):
        frames.unmask_frame(b"\x00\x01\x02", 0)
    with pytest.raises((ValueError, OverflowError)):
        frames.unmask_frame(b"\x00\x01\x02\x03\x04", -1)
