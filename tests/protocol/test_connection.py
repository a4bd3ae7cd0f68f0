"""Tests for duplex.protocol.connection: the server side of RFC 6455 (and RFC 7692 framing), sans I/O.

Every test feeds literal client bytes to :meth:`Connection.receive_data` and checks the exact events
and the exact bytes queued in :meth:`Connection.data_to_send`: messages whole, split byte by byte and
fragmented; every protocol violation failing the connection with the right close frame (section
7.1.7); the close handshake from both sides; the sending API; and permessage-deflate, including a
deflate bomb that must be refused without being inflated.
"""

from __future__ import annotations

import time
import tracemalloc
import zlib

import pytest

from duplex.protocol import (
    BinaryMessage,
    CloseReceived,
    Connection,
    ConnectionFailed,
    Event,
    InvalidPayload,
    PayloadTooBig,
    Ping,
    Pong,
    State,
    TextMessage,
    WebSocketError,
)
from duplex.protocol.deflate import DeflateParameters, PerMessageDeflate

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

MASK = b"\x01\x02\x03\x04"
MIB = 1024 * 1024

# The close frames the server queues when it fails the connection: FIN + close, length 2, the code.
CLOSE_1002 = b"\x88\x02\x03\xea"
CLOSE_1007 = b"\x88\x02\x03\xef"
CLOSE_1009 = b"\x88\x02\x03\xf1"

KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"  # "κόσμε", 11 bytes
KOSME_TEXT = "\u03ba\u1f79\u03c3\u03bc\u03b5"


def mask_bytes(payload: bytes, mask: bytes) -> bytes:
    """Section 5.3, byte by byte: deliberately not the code under test."""
    return bytes(octet ^ mask[index % 4] for index, octet in enumerate(payload))


def client_frame(
    opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False, mask: bytes = MASK
) -> bytes:
    """A masked client-to-server frame, built by hand from the section 5.2 diagram."""
    first = opcode | (0x80 if fin else 0) | (0x40 if rsv1 else 0)
    length = len(payload)
    if length < 126:
        header = bytes([first, 0x80 | length])
    elif length < 0x10000:
        header = bytes([first, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        header = bytes([first, 0x80 | 127]) + length.to_bytes(8, "big")
    return header + mask + mask_bytes(payload, mask)


def failed(events: list[Event], close_code: int, error_type: type[WebSocketError] = WebSocketError) -> bool:
    """Whether ``events`` ends with a ConnectionFailed carrying exactly this error type and code."""
    assert events, "no events"
    event = events[-1]
    assert isinstance(event, ConnectionFailed), events
    assert type(event.error) is error_type, event.error
    assert event.error.close_code == close_code
    return True


def assert_fails(
    data: bytes,
    close_frame: bytes,
    close_code: int,
    error_type: type[WebSocketError] = WebSocketError,
    connection: Connection | None = None,
) -> Connection:
    """Feed ``data`` to a (new) connection; check it failed with exactly ``close_frame`` queued."""
    if connection is None:
        connection = Connection()
    events = connection.receive_data(data)
    assert len(events) == 1, events
    assert failed(events, close_code, error_type)
    assert connection.data_to_send() == close_frame
    assert connection.state is State.CLOSING and not connection.receiving
    assert connection.close_sent
    # Nothing more is read or answered once the connection failed.
    assert connection.receive_data(client_frame(OP_PING, b"late")) == []
    assert connection.data_to_send() == b""
    return connection


def deflate_connection(**kwargs: int) -> Connection:
    return Connection(deflate=PerMessageDeflate(DeflateParameters()), **kwargs)


def client_compress(compressor: zlib._Compress, data: bytes) -> bytes:
    """Compress one message as a client does (RFC 7692 section 7.2.1): sync flush, tail removed."""
    compressed = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert compressed.endswith(b"\x00\x00\xff\xff")
    return compressed[:-4]


# --- the helper itself -------------------------------------------------------------------------------


def test_client_frame_matches_the_masked_hello_of_section_5_7() -> None:
    frame = client_frame(OP_TEXT, b"Hello", mask=b"\x37\xfa\x21\x3d")
    assert frame == b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"


def test_client_frame_length_encodings() -> None:
    assert client_frame(OP_BINARY, bytes(125))[:2] == b"\x82\xfd"
    assert client_frame(OP_BINARY, bytes(126))[:4] == b"\x82\xfe\x00\x7e"
    assert client_frame(OP_BINARY, bytes(65535))[:4] == b"\x82\xfe\xff\xff"
    assert client_frame(OP_BINARY, bytes(65536))[:10] == b"\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00"


# --- messages ----------------------------------------------------------------------------------------


def test_masked_hello_from_section_5_7() -> None:
    connection = Connection()
    events = connection.receive_data(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58")
    assert events == [TextMessage("Hello")]
    assert connection.data_to_send() == b""
    assert connection.state is State.OPEN


def test_text_message() -> None:
    connection = Connection()
    assert connection.receive_data(client_frame(OP_TEXT, KOSME)) == [TextMessage(KOSME_TEXT)]


def test_binary_message() -> None:
    connection = Connection()
    events = connection.receive_data(client_frame(OP_BINARY, b"\x00\xff\x80binary"))
    assert events == [BinaryMessage(b"\x00\xff\x80binary")]
    assert type(events[0].data) is bytes  # type: ignore[union-attr]


def test_several_frames_in_one_call() -> None:
    connection = Connection()
    data = (
        client_frame(OP_TEXT, b"one")
        + client_frame(OP_BINARY, b"two")
        + client_frame(OP_PING, b"three")
        + client_frame(OP_PONG, b"four")
        + client_frame(OP_TEXT, b"five", mask=b"\xff\xfe\xfd\xfc")
    )
    assert connection.receive_data(data) == [
        TextMessage("one"),
        BinaryMessage(b"two"),
        Ping(b"three"),
        Pong(b"four"),
        TextMessage("five"),
    ]
    assert connection.data_to_send() == b"\x8a\x05three"


def test_a_frame_and_the_start_of_the_next() -> None:
    connection = Connection()
    second = client_frame(OP_TEXT, b"second")
    assert connection.receive_data(client_frame(OP_TEXT, b"first") + second[:5]) == [TextMessage("first")]
    assert connection.receive_data(second[5:]) == [TextMessage("second")]


@pytest.mark.parametrize("length", [5, 200, 70000])
def test_message_split_byte_by_byte(length: int) -> None:
    # 5 bytes: 7-bit length; 200: 16-bit length arriving a byte at a time; 70000: 64-bit length.
    payload = (KOSME * (length // len(KOSME) + 1))[:length]
    opcode = OP_BINARY
    data = client_frame(opcode, payload, mask=b"\x9a\x8b\x7c\x6d")
    connection = Connection()
    for index in range(len(data) - 1):
        assert connection.receive_data(data[index : index + 1]) == [], index
    assert connection.receive_data(data[-1:]) == [BinaryMessage(payload)]
    assert connection.data_to_send() == b""


def test_text_message_split_byte_by_byte() -> None:
    text = KOSME_TEXT * 20
    data = client_frame(OP_TEXT, text.encode())
    connection = Connection()
    events: list[Event] = []
    for index in range(len(data)):
        events += connection.receive_data(data[index : index + 1])
    assert events == [TextMessage(text)]


def test_fragmented_message_split_byte_by_byte_with_a_ping() -> None:
    data = (
        client_frame(OP_TEXT, KOSME[:4], fin=False)
        + client_frame(OP_PING, b"Hello")
        + client_frame(OP_CONTINUATION, KOSME[4:])
    )
    connection = Connection()
    events: list[Event] = []
    for index in range(len(data)):
        events += connection.receive_data(data[index : index + 1])
    assert events == [Ping(b"Hello"), TextMessage(KOSME_TEXT)]
    assert connection.data_to_send() == b"\x8a\x05Hello"


def test_frame_split_in_two_at_every_position() -> None:
    data = client_frame(OP_BINARY, bytes(range(200)))
    for split in range(len(data) + 1):
        connection = Connection()
        events = connection.receive_data(data[:split]) + connection.receive_data(data[split:])
        assert events == [BinaryMessage(bytes(range(200)))], split


def test_fragmented_hello_from_section_5_7() -> None:
    connection = Connection()
    assert connection.receive_data(client_frame(OP_TEXT, b"Hel", fin=False)) == []
    assert connection.receive_data(client_frame(OP_CONTINUATION, b"lo")) == [TextMessage("Hello")]


def test_fragmented_text_with_interleaved_ping() -> None:
    connection = Connection()
    data = (
        client_frame(OP_TEXT, b"frag", fin=False)
        + client_frame(OP_PING, b"Hello")
        + client_frame(OP_CONTINUATION, b"men", fin=False)
        + client_frame(OP_CONTINUATION, b"ted")
    )
    assert connection.receive_data(data) == [Ping(b"Hello"), TextMessage("fragmented")]
    assert connection.data_to_send() == b"\x8a\x05Hello"
    assert connection.data_to_send() == b""


def test_fragmented_binary_with_interleaved_ping_and_pong() -> None:
    connection = Connection()
    events = connection.receive_data(client_frame(OP_BINARY, b"\x00\x01", fin=False))
    events += connection.receive_data(client_frame(OP_PING, b""))
    events += connection.receive_data(client_frame(OP_CONTINUATION, b"\x02", fin=False))
    events += connection.receive_data(client_frame(OP_PONG, b"p"))
    events += connection.receive_data(client_frame(OP_PING, b"x"))
    events += connection.receive_data(client_frame(OP_CONTINUATION, b"\x03"))
    assert events == [Ping(b""), Pong(b"p"), Ping(b"x"), BinaryMessage(b"\x00\x01\x02\x03")]
    assert connection.data_to_send() == b"\x8a\x00\x8a\x01x"


def test_fragmented_text_split_inside_characters() -> None:
    connection = Connection()
    fragments = [KOSME[:1], KOSME[1:3], KOSME[3:4], KOSME[4:]]
    events: list[Event] = []
    for index, fragment in enumerate(fragments):
        opcode = OP_TEXT if index == 0 else OP_CONTINUATION
        events += connection.receive_data(client_frame(opcode, fragment, fin=index == len(fragments) - 1))
    assert events == [TextMessage(KOSME_TEXT)]


def test_messages_after_a_fragmented_message() -> None:
    connection = Connection()
    data = (
        client_frame(OP_BINARY, b"a", fin=False)
        + client_frame(OP_CONTINUATION, b"b")
        + client_frame(OP_TEXT, b"c", fin=False)
        + client_frame(OP_CONTINUATION, b"d")
        + client_frame(OP_BINARY, b"e")
    )
    assert connection.receive_data(data) == [BinaryMessage(b"ab"), TextMessage("cd"), BinaryMessage(b"e")]


def test_empty_messages() -> None:
    connection = Connection()
    data = (
        client_frame(OP_TEXT, b"")
        + client_frame(OP_BINARY, b"")
        + client_frame(OP_TEXT, b"", fin=False)
        + client_frame(OP_CONTINUATION, b"", fin=False)
        + client_frame(OP_CONTINUATION, b"")
        + client_frame(OP_BINARY, b"", fin=False)
        + client_frame(OP_CONTINUATION, b"")
    )
    assert connection.receive_data(data) == [
        TextMessage(""),
        BinaryMessage(b""),
        TextMessage(""),
        BinaryMessage(b""),
    ]
    assert connection.data_to_send() == b""


def test_empty_frame_is_two_plus_four_bytes() -> None:
    connection = Connection()
    assert connection.receive_data(b"\x81\x80") == []
    assert connection.receive_data(b"\x01\x02\x03") == []
    assert connection.receive_data(b"\x04") == [TextMessage("")]


def test_ping_is_answered_with_a_pong_carrying_its_payload() -> None:
    connection = Connection()
    assert connection.receive_data(client_frame(OP_PING, b"Hello")) == [Ping(b"Hello")]
    assert connection.data_to_send() == b"\x8a\x05Hello"


def test_empty_ping() -> None:
    connection = Connection()
    assert connection.receive_data(b"\x89\x80\x01\x02\x03\x04") == [Ping(b"")]
    assert connection.data_to_send() == b"\x8a\x00"


def test_ping_with_125_bytes() -> None:
    connection = Connection()
    payload = bytes(range(125))
    assert connection.receive_data(client_frame(OP_PING, payload)) == [Ping(payload)]
    assert connection.data_to_send() == b"\x8a\x7d" + payload


def test_pongs_are_queued_in_order() -> None:
    connection = Connection()
    connection.receive_data(client_frame(OP_PING, b"1") + client_frame(OP_PING, b"22"))
    connection.receive_data(client_frame(OP_PING, b"333"))
    assert connection.data_to_send() == b"\x8a\x011\x8a\x0222\x8a\x03333"


def test_unsolicited_pong_is_reported_not_answered() -> None:
    connection = Connection()
    assert connection.receive_data(client_frame(OP_PONG, b"tick")) == [Pong(b"tick")]
    assert connection.data_to_send() == b""


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (125, b"\x82\xfd"),
        (126, b"\x82\xfe\x00\x7e"),
        (65535, b"\x82\xfe\xff\xff"),
        (65536, b"\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00"),
        (MIB, b"\x82\xff\x00\x00\x00\x00\x00\x10\x00\x00"),
    ],
)
def test_payload_length_encodings(length: int, header: bytes) -> None:
    payload = bytes(index % 251 for index in range(length))
    data = client_frame(OP_BINARY, payload)
    assert data[: len(header)] == header
    assert data[len(header) : len(header) + 4] == MASK
    connection = Connection()
    assert connection.receive_data(data) == [BinaryMessage(payload)]


def test_one_mib_text_message() -> None:
    text = "\u20ac" * (MIB // 3)  # the euro sign, 3 bytes each
    connection = Connection()
    assert connection.receive_data(client_frame(OP_TEXT, text.encode())) == [TextMessage(text)]


def test_non_minimal_length_encoding_is_accepted() -> None:
    # Section 5.2 asks senders for the minimal encoding; readers commonly accept the longer ones.
    connection = Connection()
    data = b"\x82\xfe\x00\x03" + MASK + mask_bytes(b"abc", MASK)
    data += b"\x82\xff\x00\x00\x00\x00\x00\x00\x00\x03" + MASK + mask_bytes(b"def", MASK)
    assert connection.receive_data(data) == [BinaryMessage(b"abc"), BinaryMessage(b"def")]


def test_message_of_exactly_max_message_size_is_accepted() -> None:
    connection = Connection(max_message_size=200)
    assert connection.receive_data(client_frame(OP_BINARY, bytes(200))) == [BinaryMessage(bytes(200))]
    data = client_frame(OP_TEXT, b"a" * 100, fin=False) + client_frame(OP_CONTINUATION, b"b" * 100)
    assert connection.receive_data(data) == [TextMessage("a" * 100 + "b" * 100)]


def test_max_message_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Connection(max_message_size=0)


def test_initial_state() -> None:
    connection = Connection()
    assert connection.state is State.OPEN
    assert connection.close_code == 1006
    assert connection.close_reason == ""
    assert not connection.close_sent
    assert connection.data_to_send() == b""
    assert connection.receive_data(b"") == []


# --- failures: each one queues exactly one close frame with the right code ---------------------------


def test_unmasked_frame_fails_1002() -> None:
    assert_fails(b"\x81\x05Hello", CLOSE_1002, 1002)


def test_unmasked_frame_fails_from_its_first_two_bytes() -> None:
    assert_fails(b"\x82\x7f", CLOSE_1002, 1002)


@pytest.mark.parametrize("first_byte", [0xA1, 0x91, 0xB1, 0xE1, 0xD2, 0xF2, 0xA0, 0xA9])
def test_rsv2_or_rsv3_fails_1002(first_byte: int) -> None:
    assert_fails(bytes([first_byte, 0x80]) + MASK, CLOSE_1002, 1002)


def test_rsv1_without_deflate_fails_1002() -> None:
    assert_fails(client_frame(OP_TEXT, b"Hello", rsv1=True), CLOSE_1002, 1002)


@pytest.mark.parametrize("opcode", [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcode_fails_1002(opcode: int) -> None:
    assert_fails(client_frame(opcode, b""), CLOSE_1002, 1002)


@pytest.mark.parametrize("opcode", [0x3, 0x7, 0xB, 0xF])
def test_reserved_opcode_fails_with_a_payload_inside_a_fragmented_message(opcode: int) -> None:
    connection = Connection()
    assert connection.receive_data(client_frame(OP_TEXT, b"a", fin=False)) == []
    assert_fails(client_frame(opcode, b"payload"), CLOSE_1002, 1002, connection=connection)


@pytest.mark.parametrize("opcode", [OP_CLOSE, OP_PING, OP_PONG])
def test_fragmented_control_frame_fails_1002(opcode: int) -> None:
    assert_fails(client_frame(opcode, b"", fin=False), CLOSE_1002, 1002)


@pytest.mark.parametrize("opcode", [OP_CLOSE, OP_PING, OP_PONG])
def test_control_frame_over_125_bytes_fails_1002(opcode: int) -> None:
    assert_fails(client_frame(opcode, bytes(126)), CLOSE_1002, 1002)


def test_control_frame_over_125_bytes_fails_from_its_first_two_bytes() -> None:
    assert_fails(b"\x89\xfe", CLOSE_1002, 1002)


@pytest.mark.parametrize("opcode", [OP_CLOSE, OP_PING, OP_PONG])
def test_rsv1_on_control_frame_fails_1002(opcode: int) -> None:
    assert_fails(client_frame(opcode, b"", rsv1=True), CLOSE_1002, 1002)


@pytest.mark.parametrize("fin", [True, False])
def test_continuation_without_a_message_fails_1002(fin: bool) -> None:
    assert_fails(client_frame(OP_CONTINUATION, b"orphan", fin=fin), CLOSE_1002, 1002)


def test_continuation_after_a_finished_message_fails_1002() -> None:
    connection = Connection()
    data = client_frame(OP_TEXT, b"done") + client_frame(OP_CONTINUATION, b"more")
    events = connection.receive_data(data)
    assert events[0] == TextMessage("done")
    assert len(events) == 2
    assert failed(events, 1002)
    assert connection.data_to_send() == CLOSE_1002


@pytest.mark.parametrize(
    ("first", "second"), [(OP_TEXT, OP_TEXT), (OP_TEXT, OP_BINARY), (OP_BINARY, OP_TEXT)]
)
def test_new_data_frame_inside_a_fragmented_message_fails_1002(first: int, second: int) -> None:
    connection = Connection()
    assert connection.receive_data(client_frame(first, b"start", fin=False)) == []
    assert_fails(client_frame(second, b"again"), CLOSE_1002, 1002, connection=connection)


def test_invalid_utf8_text_fails_1007() -> None:
    assert_fails(client_frame(OP_TEXT, b"\xce\xba\xff"), CLOSE_1007, 1007, InvalidPayload)


@pytest.mark.parametrize(
    "payload",
    [b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xce", KOSME + b"\xed\xa0\x80edited"],
)
def test_invalid_utf8_single_frame_text_fails_1007(payload: bytes) -> None:
    assert_fails(client_frame(OP_TEXT, payload), CLOSE_1007, 1007, InvalidPayload)


def test_invalid_utf8_in_a_binary_message_is_fine() -> None:
    connection = Connection()
    assert connection.receive_data(client_frame(OP_BINARY, b"\xed\xa0\x80")) == [
        BinaryMessage(b"\xed\xa0\x80")
    ]


def test_invalid_utf8_fails_at_the_fragment_where_it_becomes_invalid() -> None:
    # Autobahn 6.4.1: "κόσμε" + ED, then A0 80, then "edited"; the second fragment is already invalid.
    connection = Connection()
    assert connection.receive_data(client_frame(OP_TEXT, KOSME + b"\xed", fin=False)) == []
    assert connection.data_to_send() == b""
    assert_fails(
        client_frame(OP_CONTINUATION, b"\xa0\x80", fin=False), CLOSE_1007, 1007, InvalidPayload, connection
    )


def test_invalid_utf8_fails_in_the_first_fragment() -> None:
    connection = Connection()
    assert_fails(
        client_frame(OP_TEXT, b"ok\xf4\x90", fin=False), CLOSE_1007, 1007, InvalidPayload, connection
    )


def test_invalid_utf8_split_byte_by_byte_fails_on_the_invalid_byte() -> None:
    data = KOSME + b"\xed\xa0\x80edited"
    connection = Connection()
    events: list[Event] = []
    for index in range(13):
        opcode = OP_TEXT if index == 0 else OP_CONTINUATION
        events = connection.receive_data(client_frame(opcode, data[index : index + 1], fin=False))
        if index < 12:
            assert events == [], index
    assert failed(events, 1007, InvalidPayload)
    assert connection.data_to_send() == CLOSE_1007


def test_truncated_utf8_at_the_end_of_a_fragmented_message_fails_1007() -> None:
    connection = Connection()
    assert connection.receive_data(client_frame(OP_TEXT, b"ok", fin=False)) == []
    assert connection.receive_data(client_frame(OP_CONTINUATION, b"\xe1\xbd", fin=False)) == []
    assert_fails(client_frame(OP_CONTINUATION, b""), CLOSE_1007, 1007, InvalidPayload, connection)


def test_64_bit_length_over_the_limit_is_refused_from_the_header_alone() -> None:
    connection = Connection(max_message_size=MIB)
    header = b"\x82\xff" + (8 * 1024 * MIB).to_bytes(8, "big") + MASK  # announces 8 GiB
    events = connection.receive_data(header)
    assert failed(events, 1009, PayloadTooBig)
    assert len(events) == 1
    assert connection.data_to_send() == CLOSE_1009
    assert connection.state is State.CLOSING and not connection.receiving
    # Nothing of the announced payload was kept, and nothing more is buffered.
    assert len(connection._buffer) == 0
    assert connection.receive_data(bytes(64 * 1024)) == []
    assert len(connection._buffer) == 0


def test_64_bit_length_over_the_limit_is_refused_before_the_mask_arrives() -> None:
    connection = Connection(max_message_size=MIB)
    assert connection.receive_data(b"\x82\xff\x00\x00\x00\x00") == []
    events = connection.receive_data(b"\x00\x10\x00\x01")  # MIB + 1
    assert failed(events, 1009, PayloadTooBig)
    assert connection.data_to_send() == CLOSE_1009
    assert len(connection._buffer) == 0


def test_fragments_of_one_message_are_bounded() -> None:
    """At most ``max_fragments`` frames per message (1,024 here: 64 KiB // 64), empty ones included."""
    connection = Connection(max_message_size=64 * 1024)
    assert connection.max_fragments == 1024
    empty = client_frame(OP_CONTINUATION, b"", fin=False)
    events = connection.receive_data(client_frame(OP_BINARY, b"A", fin=False) + empty * 1022)
    assert events == []
    events = connection.receive_data(client_frame(OP_CONTINUATION, b"B"))  # the 1,024th: accepted
    assert events == [BinaryMessage(b"AB")]
    events = connection.receive_data(client_frame(OP_TEXT, b"", fin=False) + empty * 1023)
    assert events == []
    events = connection.receive_data(empty)
    assert failed(events, 1009, PayloadTooBig)
    last = events[-1]
    assert isinstance(last, ConnectionFailed) and "more than 1024 fragments" in str(last.error)
    assert connection.data_to_send() == CLOSE_1009


def test_the_fragment_bound_scales_with_the_size_limit() -> None:
    """A message at the limit may come in 64-byte fragments; one of up to 1,024 bytes, byte by byte."""
    assert Connection().max_fragments == Connection().max_message_size // 64
    connection = Connection(max_message_size=1000)
    data = client_frame(OP_BINARY, b"x", fin=False) + client_frame(OP_CONTINUATION, b"y", fin=False) * 998
    events = connection.receive_data(data + client_frame(OP_CONTINUATION, b"z"))
    assert events == [BinaryMessage(b"x" + b"y" * 998 + b"z")]


def test_16_bit_length_over_the_limit_fails_1009() -> None:
    assert_fails(b"\x81\xfe\x00\xc9", CLOSE_1009, 1009, PayloadTooBig, Connection(max_message_size=200))


def test_7_bit_length_over_the_limit_fails_1009() -> None:
    assert_fails(
        client_frame(OP_BINARY, bytes(11)), CLOSE_1009, 1009, PayloadTooBig, Connection(max_message_size=10)
    )


def test_64_bit_length_with_the_most_significant_bit_set_fails_1002() -> None:
    assert_fails(b"\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00" + MASK, CLOSE_1002, 1002)


def test_fragmented_message_over_the_limit_fails_1009() -> None:
    connection = Connection(max_message_size=100)
    assert connection.receive_data(client_frame(OP_BINARY, bytes(60), fin=False)) == []
    assert connection.receive_data(client_frame(OP_CONTINUATION, bytes(30), fin=False)) == []
    # 60 + 30 + 11 = 101: refused from the continuation's header.
    assert_fails(client_frame(OP_CONTINUATION, bytes(11))[:2], CLOSE_1009, 1009, PayloadTooBig, connection)


def test_fragmented_text_over_the_limit_fails_1009() -> None:
    connection = Connection(max_message_size=100)
    data = client_frame(OP_TEXT, b"a" * 50, fin=False) + client_frame(OP_CONTINUATION, b"b" * 50, fin=False)
    assert connection.receive_data(data) == []
    assert_fails(client_frame(OP_CONTINUATION, b"c"), CLOSE_1009, 1009, PayloadTooBig, connection)


def test_message_budget_starts_afresh_for_each_message() -> None:
    connection = Connection(max_message_size=100)
    for _ in range(3):
        data = client_frame(OP_BINARY, bytes(60), fin=False) + client_frame(OP_CONTINUATION, bytes(40))
        assert connection.receive_data(data) == [BinaryMessage(bytes(100))]


def test_messages_before_the_failure_are_delivered() -> None:
    connection = Connection()
    data = client_frame(OP_TEXT, b"ok") + client_frame(OP_PING, b"p") + b"\x81\x05Hello"
    events = connection.receive_data(data)
    assert events[:2] == [TextMessage("ok"), Ping(b"p")]
    assert len(events) == 3
    assert failed(events, 1002)
    # The pong was queued before the failure, and goes out before the close frame.
    assert connection.data_to_send() == b"\x8a\x01p" + CLOSE_1002


def test_frames_after_a_bad_frame_in_the_same_call_are_ignored() -> None:
    connection = Connection()
    data = client_frame(0x3, b"") + client_frame(OP_TEXT, b"never") + client_frame(OP_PING, b"never")
    events = connection.receive_data(data)
    assert len(events) == 1
    assert failed(events, 1002)
    assert connection.data_to_send() == CLOSE_1002


def test_failure_reports_the_code_we_closed_with() -> None:
    # The peer's reply is never read after a failure: the code that ended the connection is ours.
    connection = assert_fails(b"\x81\x05Hello", CLOSE_1002, 1002)
    assert connection.close_code == 1002
    assert "not masked" in connection.close_reason


# --- the close handshake started by the peer ---------------------------------------------------------


def test_close_with_code_and_reason() -> None:
    connection = Connection()
    events = connection.receive_data(client_frame(OP_CLOSE, b"\x03\xe8bye"))
    assert events == [CloseReceived(1000, "bye")]
    assert connection.data_to_send() == b"\x88\x02\x03\xe8"
    assert connection.state is State.CLOSING and not connection.receiving
    assert connection.close_code == 1000
    assert connection.close_reason == "bye"
    assert connection.close_sent


@pytest.mark.parametrize(
    ("payload", "code", "reply"),
    [
        (b"\x03\xe9", 1001, b"\x88\x02\x03\xe9"),
        (b"\x03\xea", 1002, b"\x88\x02\x03\xea"),
        (b"\x03\xf3", 1011, b"\x88\x02\x03\xf3"),
        (b"\x03\xf6", 1014, b"\x88\x02\x03\xf6"),
        (b"\x0b\xb8", 3000, b"\x88\x02\x0b\xb8"),
        (b"\x13\x87", 4999, b"\x88\x02\x13\x87"),
    ],
)
def test_close_code_is_echoed(payload: bytes, code: int, reply: bytes) -> None:
    connection = Connection()
    assert connection.receive_data(client_frame(OP_CLOSE, payload)) == [CloseReceived(code, "")]
    assert connection.data_to_send() == reply


def test_close_with_utf8_reason() -> None:
    connection = Connection()
    events = connection.receive_data(client_frame(OP_CLOSE, b"\x0f\xa0" + KOSME))
    assert events == [CloseReceived(4000, KOSME_TEXT)]
    assert connection.data_to_send() == b"\x88\x02\x0f\xa0"


def test_close_reason_of_123_bytes() -> None:
    connection = Connection()
    events = connection.receive_data(client_frame(OP_CLOSE, b"\x03\xe8" + b"r" * 123))
    assert events == [CloseReceived(1000, "r" * 123)]


def test_empty_close_is_answered_with_an_empty_close() -> None:
    connection = Connection()
    assert connection.receive_data(b"\x88\x80\x01\x02\x03\x04") == [CloseReceived(1005, "")]
    assert connection.data_to_send() == b"\x88\x00"
    assert connection.state is State.CLOSING and not connection.receiving
    assert connection.close_code == 1005


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
    ],
)
def test_close_with_an_invalid_code_fails_1002(payload: bytes) -> None:
    connection = assert_fails(client_frame(OP_CLOSE, payload), CLOSE_1002, 1002)
    assert connection.close_code == 1002


def test_close_with_a_one_byte_payload_fails_1002() -> None:
    assert_fails(client_frame(OP_CLOSE, b"\x03"), CLOSE_1002, 1002)


@pytest.mark.parametrize("reason", [b"\xff", b"\xce", b"\xed\xa0\x80", KOSME + b"\xed\xa0\x80edited"])
def test_close_with_an_invalid_utf8_reason_fails_1007(reason: bytes) -> None:
    assert_fails(client_frame(OP_CLOSE, b"\x03\xe8" + reason), CLOSE_1007, 1007, InvalidPayload)


def test_data_after_close_is_ignored() -> None:
    connection = Connection()
    data = client_frame(OP_CLOSE, b"\x03\xe8") + client_frame(OP_TEXT, b"late") + client_frame(OP_PING, b"p")
    assert connection.receive_data(data) == [CloseReceived(1000, "")]
    assert connection.receive_data(client_frame(OP_BINARY, b"later")) == []
    assert connection.receive_data(b"\x81\x05Hello") == []  # not even a bad frame is noticed
    assert connection.data_to_send() == b"\x88\x02\x03\xe8"
    assert len(connection._buffer) == 0


def test_close_in_the_middle_of_a_fragmented_message() -> None:
    connection = Connection()
    data = client_frame(OP_TEXT, b"unfinished", fin=False) + client_frame(OP_CLOSE, b"\x03\xe9")
    assert connection.receive_data(data) == [CloseReceived(1001, "")]
    assert connection.data_to_send() == b"\x88\x02\x03\xe9"


def test_close_split_byte_by_byte() -> None:
    connection = Connection()
    data = client_frame(OP_CLOSE, b"\x03\xe8bye")
    for index in range(len(data) - 1):
        assert connection.receive_data(data[index : index + 1]) == []
        assert connection.state is State.OPEN
    assert connection.receive_data(data[-1:]) == [CloseReceived(1000, "bye")]
    assert connection.data_to_send() == b"\x88\x02\x03\xe8"


def test_eof_without_close() -> None:
    connection = Connection()
    connection.receive_data(client_frame(OP_TEXT, b"half", fin=False))
    assert connection.receive_eof() == []
    assert not connection.receiving
    assert connection.close_code == 1006
    assert connection.data_to_send() == b""
    assert connection.receive_data(client_frame(OP_TEXT, b"x")) == []
    assert connection.receive_whole_message(client_frame(OP_TEXT, b"x")) is None
    assert connection.receive_eof() == []
    connection.transport_closed()
    assert connection.state is State.CLOSED


# --- the one state machine: OPEN -> CLOSING -> CLOSED ---------------------------------------------


def test_a_dropped_connection_goes_from_open_to_closed() -> None:
    connection = Connection()
    connection.transport_closed()
    assert connection.state is State.CLOSED
    assert connection.close_code == 1006
    assert not connection.receiving
    assert connection.send_close(1000) == b""  # nothing to send on a connection that is gone


def test_a_close_received_is_closing_until_the_transport_reports_the_end() -> None:
    # The peer started the close: the handshake is done on our side once the reply is taken, but
    # the TCP connection still has to end (the server closes it first, RFC 6455 section 7.1.1).
    connection = Connection()
    connection.receive_data(client_frame(OP_CLOSE, b"\x03\xe8"))
    # Until the answer is taken, what came before the close may still be answered.
    assert connection.state is State.OPEN
    assert not connection.receiving
    assert connection.send_text("reply") == (b"\x81\x05", b"reply")
    assert connection.data_to_send() == b"\x88\x02\x03\xe8"
    assert connection.state is State.CLOSING
    connection.transport_closed()
    assert connection.state is State.CLOSED
    assert connection.close_code == 1000


def test_start_closing_announces_a_close_that_is_framed_later() -> None:
    connection = Connection()
    connection.start_closing()
    assert connection.state is State.CLOSING
    assert not connection.close_sent
    # Messages handed over before the close still go out, then the close frame itself.
    assert connection.send_text("last") == (b"\x81\x04", b"last")
    assert connection.send_close(1000) == b"\x88\x02\x03\xe8"
    assert connection.close_sent
    connection.transport_closed()
    connection.start_closing()  # too late: CLOSED is final
    assert connection.state is State.CLOSED


def test_start_closing_races_transport_closed_from_threads() -> None:
    # The application may close from any thread while the loop reports the connection gone: once
    # CLOSED, the state never goes back to CLOSING.
    import threading

    for _ in range(200):
        connection = Connection()
        closer = threading.Thread(target=connection.start_closing)
        closer.start()
        connection.transport_closed()
        closer.join()
        assert connection.state is State.CLOSED


# --- the close handshake started by the server -------------------------------------------------------


def test_send_close_then_the_peer_replies() -> None:
    connection = Connection()
    assert connection.state is State.OPEN
    assert connection.send_close(1000, "bye") == b"\x88\x05\x03\xe8bye"
    assert connection.state is State.CLOSING
    assert connection.close_sent
    assert connection.data_to_send() == b""
    assert connection.receive_data(client_frame(OP_CLOSE, b"\x03\xe8")) == [CloseReceived(1000, "")]
    assert connection.state is State.CLOSING and not connection.receiving
    assert connection.data_to_send() == b""  # no second close frame


def test_send_close_then_the_peer_replies_with_an_empty_close() -> None:
    connection = Connection()
    assert connection.send_close() == b"\x88\x02\x03\xe8"
    assert connection.receive_data(b"\x88\x80\x01\x02\x03\x04") == [CloseReceived(1005, "")]
    assert connection.state is State.CLOSING and not connection.receiving
    assert connection.data_to_send() == b""


def test_messages_still_arrive_while_closing() -> None:
    # Section 1.4: after sending a close frame an endpoint may still receive data until the peer's.
    connection = Connection()
    connection.send_close(1001)
    data = client_frame(OP_TEXT, b"in flight") + client_frame(OP_CLOSE, b"\x03\xe9")
    assert connection.receive_data(data) == [TextMessage("in flight"), CloseReceived(1001, "")]
    assert connection.data_to_send() == b""


def test_ping_while_closing_is_still_answered() -> None:
    # Section 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response,
    # unless it already received a Close frame." Having *sent* one is not an exception; section 5.5.1
    # forbids only data frames after our close frame.
    connection = Connection()
    connection.send_close(1000)
    assert connection.receive_data(client_frame(OP_PING, b"Hello")) == [Ping(b"Hello")]
    assert connection.data_to_send() == b"\x8a\x05Hello"


def test_protocol_error_while_closing_queues_no_second_close() -> None:
    connection = Connection()
    connection.send_close(1000)
    events = connection.receive_data(b"\x81\x05Hello")
    assert failed(events, 1002)
    assert connection.state is State.CLOSING and not connection.receiving
    assert connection.data_to_send() == b""


@pytest.mark.parametrize(
    ("code", "reason", "frame"),
    [
        (1000, "", b"\x88\x02\x03\xe8"),
        (1001, "going away", b"\x88\x0c\x03\xe9going away"),
        (1003, "", b"\x88\x02\x03\xeb"),
        (1007, "", b"\x88\x02\x03\xef"),
        (1014, "", b"\x88\x02\x03\xf6"),
        (3000, "", b"\x88\x02\x0b\xb8"),
        (4999, "\u20ac", b"\x88\x05\x13\x87\xe2\x82\xac"),
        (None, "", b"\x88\x00"),
    ],
)
def test_send_close_frames(code: int | None, reason: str, frame: bytes) -> None:
    connection = Connection()
    assert connection.send_close(code, reason) == frame


def test_send_close_reason_of_123_bytes() -> None:
    connection = Connection()
    assert connection.send_close(1000, "r" * 123) == b"\x88\x7d\x03\xe8" + b"r" * 123


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000])
def test_send_close_refuses_codes_that_may_not_be_sent(code: int) -> None:
    connection = Connection()
    with pytest.raises(ValueError):
        connection.send_close(code)
    assert connection.state is State.OPEN
    assert not connection.close_sent


@pytest.mark.parametrize("reason", ["r" * 124, "\u00e9" * 62, "\u20ac" * 42])
def test_send_close_refuses_a_reason_over_123_bytes(reason: str) -> None:
    connection = Connection()
    with pytest.raises(ValueError):
        connection.send_close(1000, reason)
    assert connection.state is State.OPEN
    assert not connection.close_sent


def test_send_close_refuses_a_reason_without_a_code() -> None:
    with pytest.raises(ValueError):
        Connection().send_close(None, "why")


def test_send_close_twice_returns_nothing_the_second_time() -> None:
    connection = Connection()
    assert connection.send_close(1000) == b"\x88\x02\x03\xe8"
    assert connection.send_close(1001) == b""
    assert connection.state is State.CLOSING


def test_send_close_after_the_peer_closed_returns_nothing() -> None:
    connection = Connection()
    connection.receive_data(client_frame(OP_CLOSE, b"\x03\xe8"))
    assert connection.send_close(1000) == b""
    assert connection.data_to_send() == b"\x88\x02\x03\xe8"  # the answer already queued
    assert connection.state is State.CLOSING and not connection.receiving


# --- sending -----------------------------------------------------------------------------------------


def test_send_text() -> None:
    connection = Connection()
    assert connection.send_text("Hello") == (b"\x81\x05", b"Hello")
    assert connection.send_text(KOSME_TEXT) == (b"\x81\x0b", KOSME)
    assert connection.send_text("") == (b"\x81\x00", b"")


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (0, b"\x82\x00"),
        (125, b"\x82\x7d"),
        (126, b"\x82\x7e\x00\x7e"),
        (65535, b"\x82\x7e\xff\xff"),
        (65536, b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
)
def test_send_binary(length: int, header: bytes) -> None:
    payload = bytes(index % 256 for index in range(length))
    assert Connection().send_binary(payload) == (header, payload)


def test_send_binary_accepts_bytearray_and_memoryview() -> None:
    connection = Connection()
    header, payload = connection.send_binary(bytearray(b"abc"))
    assert (header, payload) == (b"\x82\x03", b"abc")
    assert type(payload) is bytes
    header, payload = connection.send_binary(memoryview(b"xabcx")[1:4])
    assert (header, payload) == (b"\x82\x03", b"abc")
    assert type(payload) is bytes


def test_send_ping() -> None:
    connection = Connection()
    assert connection.send_ping(b"Hello") == b"\x89\x05Hello"
    assert connection.send_ping() == b"\x89\x00"
    assert connection.send_ping(bytes(125)) == b"\x89\x7d" + bytes(125)
    with pytest.raises(ValueError):
        connection.send_ping(bytes(126))


def test_sending_queues_nothing() -> None:
    connection = Connection()
    connection.send_text("a")
    connection.send_binary(b"b")
    connection.send_ping(b"c")
    assert connection.data_to_send() == b""


def test_sending_after_send_close_raises() -> None:
    connection = Connection()
    connection.send_close(1000)
    with pytest.raises(RuntimeError):
        connection.send_text("late")
    with pytest.raises(RuntimeError):
        connection.send_binary(b"late")


def test_sending_after_the_peer_closed_raises() -> None:
    connection = Connection()
    connection.receive_data(client_frame(OP_CLOSE, b"\x03\xe8"))
    assert connection.data_to_send() == b"\x88\x02\x03\xe8"
    with pytest.raises(RuntimeError):
        connection.send_text("late")
    with pytest.raises(RuntimeError):
        connection.send_binary(b"late")


def test_sending_after_a_failure_raises() -> None:
    connection = assert_fails(b"\x81\x05Hello", CLOSE_1002, 1002)
    with pytest.raises(RuntimeError):
        connection.send_text("late")
    with pytest.raises(RuntimeError):
        connection.send_binary(b"late")


# --- permessage-deflate (RFC 7692) -------------------------------------------------------------------


def test_compressed_hello_from_rfc_7692_section_7_2_3_1() -> None:
    connection = deflate_connection()
    data = client_frame(OP_TEXT, b"\xf2\x48\xcd\xc9\xc9\x07\x00", rsv1=True)
    assert connection.receive_data(data) == [TextMessage("Hello")]
    assert connection.data_to_send() == b""


def test_compressed_fragmented_hello_from_rfc_7692_section_7_2_3_1() -> None:
    connection = deflate_connection()
    data = client_frame(OP_TEXT, b"\xf2\x48\xcd", fin=False, rsv1=True)
    data += client_frame(OP_CONTINUATION, b"\xc9\xc9\x07\x00")
    assert connection.receive_data(data) == [TextMessage("Hello")]


def test_shared_window_from_rfc_7692_section_7_2_3_2() -> None:
    connection = deflate_connection()
    data = client_frame(OP_TEXT, b"\xf2\x48\xcd\xc9\xc9\x07\x00", rsv1=True)
    data += client_frame(OP_TEXT, b"\xf2\x00\x11\x00\x00", rsv1=True)
    assert connection.receive_data(data) == [TextMessage("Hello"), TextMessage("Hello")]


def test_stored_block_from_rfc_7692_section_7_2_3_3() -> None:
    connection = deflate_connection()
    data = client_frame(OP_TEXT, b"\x00\x05\x00\xfa\xff\x48\x65\x6c\x6c\x6f\x00", rsv1=True)
    assert connection.receive_data(data) == [TextMessage("Hello")]


def test_client_compressed_messages_decode() -> None:
    compressor = zlib.compressobj(wbits=-15)
    text = (KOSME_TEXT + " ") * 500
    blob = bytes(range(256)) * 300
    data = client_frame(OP_TEXT, client_compress(compressor, text.encode()), rsv1=True)
    data += client_frame(OP_BINARY, client_compress(compressor, blob), rsv1=True)
    data += client_frame(OP_BINARY, client_compress(compressor, b""), rsv1=True)
    connection = deflate_connection()
    assert connection.receive_data(data) == [TextMessage(text), BinaryMessage(blob), BinaryMessage(b"")]


def test_client_compressed_message_in_fragments_with_a_ping() -> None:
    compressed = client_compress(zlib.compressobj(wbits=-15), KOSME * 100)
    third = len(compressed) // 3
    data = client_frame(OP_TEXT, compressed[:third], fin=False, rsv1=True)
    data += client_frame(OP_PING, b"Hello")
    data += client_frame(OP_CONTINUATION, compressed[third : 2 * third], fin=False)
    data += client_frame(OP_CONTINUATION, compressed[2 * third :])
    connection = deflate_connection()
    assert connection.receive_data(data) == [Ping(b"Hello"), TextMessage(KOSME_TEXT * 100)]
    assert connection.data_to_send() == b"\x8a\x05Hello"


def test_uncompressed_message_on_a_deflate_connection() -> None:
    connection = deflate_connection()
    data = client_frame(OP_TEXT, b"plain") + client_frame(OP_BINARY, b"a", fin=False)
    data += client_frame(OP_CONTINUATION, b"b")
    assert connection.receive_data(data) == [TextMessage("plain"), BinaryMessage(b"ab")]


def test_rsv1_on_a_continuation_frame_fails_1002() -> None:
    connection = deflate_connection()
    compressed = client_compress(zlib.compressobj(wbits=-15), b"Hello, Hello")
    assert connection.receive_data(client_frame(OP_TEXT, compressed[:3], fin=False, rsv1=True)) == []
    assert_fails(
        client_frame(OP_CONTINUATION, compressed[3:], rsv1=True), CLOSE_1002, 1002, connection=connection
    )


def test_rsv1_on_a_continuation_of_an_uncompressed_message_fails_1002() -> None:
    connection = deflate_connection()
    assert connection.receive_data(client_frame(OP_TEXT, b"a", fin=False)) == []
    assert_fails(client_frame(OP_CONTINUATION, b"b", rsv1=True), CLOSE_1002, 1002, connection=connection)


@pytest.mark.parametrize("opcode", [OP_CLOSE, OP_PING, OP_PONG])
def test_rsv1_on_a_control_frame_fails_1002_even_with_deflate(opcode: int) -> None:
    assert_fails(client_frame(opcode, b"", rsv1=True), CLOSE_1002, 1002, connection=deflate_connection())


def test_data_that_does_not_inflate_fails_1007() -> None:
    # BTYPE 11 is a reserved block type (RFC 1951 section 3.2.3).
    assert_fails(
        client_frame(OP_BINARY, b"\xff\xff\xff", rsv1=True),
        CLOSE_1007,
        1007,
        InvalidPayload,
        deflate_connection(),
    )


def test_compressed_invalid_utf8_fails_1007() -> None:
    compressed = client_compress(zlib.compressobj(wbits=-15), KOSME + b"\xed\xa0\x80edited")
    assert_fails(
        client_frame(OP_TEXT, compressed, rsv1=True), CLOSE_1007, 1007, InvalidPayload, deflate_connection()
    )


def test_compressed_message_at_the_limit_is_accepted() -> None:
    compressed = client_compress(zlib.compressobj(wbits=-15), bytes(MIB))
    connection = deflate_connection(max_message_size=MIB)
    assert connection.receive_data(client_frame(OP_BINARY, compressed, rsv1=True)) == [
        BinaryMessage(bytes(MIB))
    ]


def test_compressed_message_one_byte_over_the_limit_fails_1009() -> None:
    compressed = client_compress(zlib.compressobj(wbits=-15), bytes(MIB + 1))
    connection = deflate_connection(max_message_size=MIB)
    assert_fails(client_frame(OP_BINARY, compressed, rsv1=True), CLOSE_1009, 1009, PayloadTooBig, connection)


def test_deflate_bomb_fails_1009_quickly_without_inflating_it() -> None:
    # 50 MB of zeros compress to about 50 KB: well under the frame size limit, far over the message one.
    compressor = zlib.compressobj(wbits=-15)
    chunk = bytes(MIB)
    compressed = b"".join(compressor.compress(chunk) for _ in range(50))
    compressed += compressor.flush(zlib.Z_SYNC_FLUSH)[:-4]
    assert len(compressed) < 100_000
    frame = client_frame(OP_BINARY, compressed, rsv1=True)
    del chunk
    connection = deflate_connection(max_message_size=MIB)
    tracemalloc.start()
    try:
        started = time.perf_counter()
        events = connection.receive_data(frame)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(events) == 1
    assert failed(events, 1009, PayloadTooBig)
    assert connection.data_to_send() == CLOSE_1009
    assert peak < 8 * MIB, peak
    assert elapsed < 2.0, elapsed


def test_fragmented_compressed_message_over_the_limit_fails_1009() -> None:
    # Each fragment ends on a sync flush, so each inflates to exactly its own part; only the last
    # one's 00 00 ff ff tail is removed (RFC 7692 section 7.2.1 removes it from the message's end).
    compressor = zlib.compressobj(wbits=-15)
    connection = deflate_connection(max_message_size=MIB)

    def flushed(size: int) -> bytes:
        return compressor.compress(bytes(size)) + compressor.flush(zlib.Z_SYNC_FLUSH)

    first = flushed(MIB // 4 + 1)
    assert connection.receive_data(client_frame(OP_BINARY, first, fin=False, rsv1=True)) == []
    for _ in range(2):
        assert connection.receive_data(client_frame(OP_CONTINUATION, flushed(MIB // 4), fin=False)) == []
    # 3/4 MiB + 1 received; the last quarter takes the message one byte over.
    last = flushed(MIB // 4)[:-4]
    assert_fails(client_frame(OP_CONTINUATION, last), CLOSE_1009, 1009, PayloadTooBig, connection)


def test_fragmented_compressed_message_at_the_limit_is_accepted() -> None:
    compressor = zlib.compressobj(wbits=-15)
    connection = deflate_connection(max_message_size=MIB)
    parts = [compressor.compress(bytes(MIB // 4)) + compressor.flush(zlib.Z_SYNC_FLUSH) for _ in range(4)]
    data = client_frame(OP_BINARY, parts[0], fin=False, rsv1=True)
    data += client_frame(OP_CONTINUATION, parts[1], fin=False)
    data += client_frame(OP_CONTINUATION, parts[2], fin=False)
    data += client_frame(OP_CONTINUATION, parts[3][:-4])
    assert connection.receive_data(data) == [BinaryMessage(bytes(MIB))]


def test_send_text_compresses_with_deflate() -> None:
    connection = deflate_connection()
    # RFC 7692 section 7.2.3.1 and 7.2.3.2: "Hello", then "Hello" again with the shared window.
    assert connection.send_text("Hello") == (b"\xc1\x07", b"\xf2\x48\xcd\xc9\xc9\x07\x00")
    assert connection.send_text("Hello") == (b"\xc1\x05", b"\xf2\x00\x11\x00\x00")


def test_send_binary_compresses_with_deflate() -> None:
    connection = deflate_connection()
    blob = bytes(range(256)) * 1000
    header, payload = connection.send_binary(blob)
    assert header == b"\xc2\x7e" + len(payload).to_bytes(2, "big")
    decompressor = zlib.decompressobj(wbits=-15)
    assert decompressor.decompress(payload + b"\x00\x00\xff\xff") == blob


def test_deflate_round_trip_between_two_connections() -> None:
    # What the server sends, a client could send back with a mask: the two directions agree.
    sender = deflate_connection()
    receiver = deflate_connection()
    for text in ["Hello", KOSME_TEXT * 50, "", "Hello"]:
        header, payload = sender.send_text(text)
        assert header[0] == 0xC1
        assert receiver.receive_data(client_frame(OP_TEXT, payload, rsv1=True)) == [TextMessage(text)]


def test_reply_to_a_message_before_a_bad_frame_precedes_the_close_frame() -> None:
    # Autobahn 3.2: a good message and a bad frame in one read; the echo must go out first.
    connection = Connection()
    events = connection.receive_data(client_frame(OP_TEXT, b"Hello") + client_frame(OP_TEXT, b"x", rsv1=True))
    assert events[0] == TextMessage("Hello")
    assert isinstance(events[1], ConnectionFailed)
    assert connection.send_text("Hello") == (b"\x81\x05", b"Hello")
    assert connection.data_to_send() == CLOSE_1002
    with pytest.raises(RuntimeError):
        connection.send_text("late")


def test_invalid_utf8_fails_before_the_text_frame_is_complete() -> None:
    # Autobahn 6.4.x: one frame arriving in pieces fails on the piece with the invalid byte.
    frame = client_frame(OP_TEXT, "κόσμε".encode() + b"\xf4\x90\x80\x80" + b"edited")
    connection = Connection()
    assert connection.receive_data(frame[:8]) == []
    events = connection.receive_data(frame[8:20])
    assert len(events) == 1 and isinstance(events[0], ConnectionFailed)
    assert events[0].error.close_code == 1007


def test_streamed_text_frame_split_anywhere_decodes() -> None:
    text = "κόσμε, ✓ fragments ünïcödé " * 20
    first = client_frame(OP_TEXT, text[:100].encode(), fin=False)
    second = client_frame(OP_CONTINUATION, text[100:].encode(), mask=b"\x9a\x01\xff\x33")
    data = first + second
    for step in (1, 3, 7, 50):
        connection = Connection()
        events = []
        for index in range(0, len(data), step):
            events += connection.receive_data(data[index : index + step])
        assert events == [TextMessage(text)]
