"""Tests for the client side of the protocol core: RFC 6455 as a client speaks it, and RFC 7692 and
the opening handshake from the client's end.

A client masks every frame it sends with a fresh key (section 5.3) and fails a server that masks
(section 5.1); everything else (limits, fragments, UTF-8, control frames, deflate) is the server's
code, so most tests here talk to a real server-side :class:`Connection` rather than to hand-made
bytes. The client's frames are read back with :func:`read_client_frame`, written from the section
5.2 diagram and deliberately not the code under test. Server frames the server code cannot produce
(fragments, errors) are built unmasked with :func:`build_frame`.

Then the pieces the client side added: fresh masking keys and :func:`build_masked_frame`; the
permessage-deflate offer and the check of the server's answer (``client_offer``/``client_accept``),
negotiated against the server's own ``negotiate`` and exercised by compressed messages both ways;
and :class:`ClientHandshake`: the request it writes (accepted by the server's ``validate_upgrade``)
and every 101 (or other) response it must refuse (section 4.1).
"""

from __future__ import annotations

import base64
import itertools
import random
import zlib
from dataclasses import dataclass

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
from duplex.protocol.client_handshake import Accepted, ClientHandshake
from duplex.protocol.deflate import (
    CLIENT_DEFLATE,
    DeflateParameters,
    DeflateSettings,
    PerMessageDeflate,
)
from duplex.protocol.exceptions import InvalidHandshakeResponse
from duplex.protocol.frames import build_frame, build_masked_frame
from duplex.protocol.handshake import accept_key, build_accept_response, validate_upgrade

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

MIB = 1024 * 1024
SIZES = [0, 125, 126, 65535, 65536, MIB]
# Chunk sizes, cycled: they cut headers, lengths and UTF-8 sequences at every kind of place.
ODD_CHUNKS = (1, 2, 3, 5, 7, 11, 13, 4099)

KOSME = "\u03ba\u1f79\u03c3\u03bc\u03b5"  # "κόσμε": 2- and 3-byte characters
EMOJI = "\U0001f600"  # 4 bytes of UTF-8

Headers = list[tuple[str, str]]


# --- helpers -----------------------------------------------------------------------------------------


def unmask_bytes(payload: bytes, key: bytes) -> bytes:
    """Section 5.3, byte by byte: deliberately not the code under test."""
    return bytes(octet ^ key[index % 4] for index, octet in enumerate(payload))


@dataclass
class ClientFrame:
    """One client-to-server frame as read off the wire."""

    fin: bool
    rsv1: bool
    opcode: int
    key: bytes
    masked: bytes  # the payload as sent
    payload: bytes  # the payload unmasked


def read_client_frame(data: bytes) -> tuple[ClientFrame, bytes]:
    """Read one masked frame from the start of ``data`` (section 5.2); returns it and the rest."""
    first, second = data[0], data[1]
    assert second & 0x80, f"client frame without the mask bit: {data[:2]!r}"
    assert not first & 0x30, "RSV2/RSV3 set"
    length = second & 0x7F
    offset = 2
    if length == 126:
        length = int.from_bytes(data[2:4], "big")
        assert length >= 126, "16-bit length for a payload that fits 7 bits"
        offset = 4
    elif length == 127:
        length = int.from_bytes(data[2:10], "big")
        assert length >= 0x10000, "64-bit length for a payload that fits 16 bits"
        offset = 10
    key = data[offset : offset + 4]
    masked = data[offset + 4 : offset + 4 + length]
    assert len(key) == 4 and len(masked) == length, "truncated frame"
    frame = ClientFrame(
        fin=bool(first & 0x80),
        rsv1=bool(first & 0x40),
        opcode=first & 0x0F,
        key=key,
        masked=masked,
        payload=unmask_bytes(masked, key),
    )
    return frame, data[offset + 4 + length :]


def read_client_frames(data: bytes) -> list[ClientFrame]:
    frames = []
    while data:
        frame, data = read_client_frame(data)
        frames.append(frame)
    return frames


def text_of_size(size: int) -> str:
    """A text whose UTF-8 takes exactly ``size`` bytes, mixing 1-, 2-, 3- and 4-byte characters."""
    unit = "a\u03ba\u20ac" + EMOJI  # 1 + 2 + 3 + 4 = 10 bytes
    text = unit * (size // 10) + "a" * (size % 10)
    assert len(text.encode()) == size
    return text


def message_of_size(kind: str, size: int) -> str | bytes:
    return text_of_size(size) if kind == "text" else random.Random(size).randbytes(size)


def as_event(message: str | bytes) -> Event:
    return TextMessage(message) if isinstance(message, str) else BinaryMessage(message)


def send(connection: Connection, message: str | bytes) -> bytes:
    header, payload = (
        connection.send_text(message) if isinstance(message, str) else connection.send_binary(message)
    )
    return header + payload


def feed(connection: Connection, data: bytes, chunks: tuple[int, ...] = ODD_CHUNKS) -> list[Event]:
    """Feed ``data`` in pieces of the cycled ``chunks`` sizes; returns all the events."""
    events: list[Event] = []
    position = 0
    for size in itertools.cycle(chunks):
        if position >= len(data):
            return events
        events += connection.receive_data(data[position : position + size])
        position += size
    raise AssertionError("unreachable")


def assert_client_fails(
    data: bytes,
    close_code: int,
    error_type: type[WebSocketError] = WebSocketError,
    message: str | None = None,
    connection: Connection | None = None,
) -> Connection:
    """Feed ``data`` to a (new) client; check that it failed with a masked close of ``close_code``."""
    if connection is None:
        connection = Connection(client=True)
    events = connection.receive_data(data)
    assert events, "no events"
    event = events[-1]
    assert isinstance(event, ConnectionFailed), events
    assert type(event.error) is error_type, event.error
    assert event.error.close_code == close_code
    if message is not None:
        assert str(event.error) == message
    (close,) = read_client_frames(connection.data_to_send())
    assert (close.opcode, close.fin, close.payload) == (OP_CLOSE, True, close_code.to_bytes(2, "big"))
    assert connection.state is State.CLOSING and not connection.receiving and connection.close_sent
    assert connection.close_code == close_code
    # Nothing more is read or answered once the connection failed.
    assert connection.receive_data(build_frame(OP_PING, b"late")) == []
    assert connection.data_to_send() == b""
    return connection


# --- masking keys and build_masked_frame ---------------------------------------------------------------


def client_keys(connection: Connection, count: int) -> list[bytes]:
    """The masking keys of ``count`` empty binary frames the client sends."""
    return [connection.send_binary(b"")[0][2:6] for _ in range(count)]


def test_client_keys_are_four_fresh_bytes() -> None:
    """Every frame gets its own 4-byte key, across the refill of the pool (1,024 keys a draw)."""
    keys = client_keys(Connection(client=True), 3000)
    # 3,000 random 4-byte keys collide a handful of times at most; a stuck or reused pool would not.
    assert len(set(keys)) > 2900
    assert len(set(keys[:1024]) & set(keys[1024:2048])) < 5


def test_two_clients_do_not_repeat_each_other() -> None:
    """Each connection draws its own keys: two clients do not send the same sequence."""
    assert client_keys(Connection(client=True), 8) != client_keys(Connection(client=True), 8)


def test_build_masked_frame_matches_the_masked_hello_of_section_5_7() -> None:
    """The masked "Hello" of section 5.7, byte for byte."""
    header, payload = build_masked_frame(OP_TEXT, b"Hello", b"\x37\xfa\x21\x3d")
    assert header == b"\x81\x85\x37\xfa\x21\x3d"
    assert payload == b"\x7f\x9f\x4d\x51\x58"


@pytest.mark.parametrize(
    ("length", "length_bytes"),
    [
        (0, b"\x80"),
        (125, b"\xfd"),
        (126, b"\xfe\x00\x7e"),
        (65535, b"\xfe\xff\xff"),
        (65536, b"\xff\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
)
def test_build_masked_frame_length_encodings(length: int, length_bytes: bytes) -> None:
    """The shortest length encoding, with the mask bit set, then the key, then the masked payload."""
    key = b"\xa1\xb2\xc3\xd4"
    clear = random.Random(length).randbytes(length)
    header, payload = build_masked_frame(OP_BINARY, clear, key)
    assert header == b"\x82" + length_bytes + key
    assert payload == unmask_bytes(clear, key)


@pytest.mark.parametrize(
    ("fin", "rsv1", "first_byte"),
    [(True, False, 0x81), (False, False, 0x01), (True, True, 0xC1), (False, True, 0x41)],
)
def test_build_masked_frame_fin_and_rsv1(fin: bool, rsv1: bool, first_byte: int) -> None:
    """FIN and RSV1 land in the first byte exactly as for an unmasked frame."""
    header, _ = build_masked_frame(OP_TEXT, b"x", b"\x00\x00\x00\x00", fin=fin, rsv1=rsv1)
    assert header[0] == first_byte


def test_build_masked_frame_is_read_by_the_server() -> None:
    """The server side unmasks what build_masked_frame makes, fragments included."""
    server = Connection()
    first = b"".join(build_masked_frame(OP_TEXT, KOSME[:2].encode(), b"\x01\x02\x03\x04", fin=False))
    last = b"".join(build_masked_frame(OP_CONTINUATION, KOSME[2:].encode(), b"\xf0\x0f\xaa\x55"))
    assert server.receive_data(first + last) == [TextMessage(KOSME)]


# --- the server side is unchanged --------------------------------------------------------------------


def test_a_connection_is_a_server_by_default() -> None:
    """Connection() still writes unmasked frames, and still refuses an unmasked one (1002)."""
    server = Connection()
    assert server.client is False
    assert server.send_text("hi") == (b"\x81\x02", b"hi")
    assert server.send_ping(b"p") == b"\x89\x01p"
    events = server.receive_data(build_frame(OP_TEXT, b"hi"))
    assert isinstance(events[-1], ConnectionFailed)
    assert str(events[-1].error) == "client frame is not masked (RFC 6455 section 5.1)"
    assert server.data_to_send() == b"\x88\x02\x03\xea"  # unmasked


# --- messages both ways ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_round_trip_whole(kind: str, size: int) -> None:
    """A client's masked frame is read by the server, the server's unmasked one by the client."""
    message = message_of_size(kind, size)
    clear = message.encode() if isinstance(message, str) else message
    client, server = Connection(client=True), Connection()

    wire = send(client, message)
    frame, rest = read_client_frame(wire)
    assert rest == b""
    assert (frame.fin, frame.rsv1, frame.opcode) == (True, False, OP_TEXT if kind == "text" else OP_BINARY)
    assert frame.payload == clear
    if size:
        assert frame.masked != clear  # equal only for the all-zero key: one chance in 2**32
    assert server.receive_data(wire) == [as_event(message)]

    header, payload = server.send_text(message) if kind == "text" else server.send_binary(message)
    assert not header[1] & 0x80, "a server frame must not be masked"
    assert payload == clear
    assert client.receive_data(header + payload) == [as_event(message)]
    assert client.data_to_send() == server.data_to_send() == b""
    assert client.state is server.state is State.OPEN


@pytest.mark.parametrize(
    "size", [size for size in SIZES if size <= 65536] + [pytest.param(MIB, id="1MiB-odd-chunks")]
)
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_round_trip_in_pieces(kind: str, size: int) -> None:
    """Fed byte by byte (odd chunks for 1 MiB), each side still sees one message: text is decoded as
    it streams in, with multibyte characters cut between chunks."""
    chunks = ODD_CHUNKS if size == MIB else (1,)
    message = message_of_size(kind, size)
    client, server = Connection(client=True), Connection()
    assert feed(server, send(client, message), chunks) == [as_event(message)]
    assert feed(client, send(server, message), chunks) == [as_event(message)]
    assert feed(client, send(server, message), ODD_CHUNKS) == [as_event(message)]


def test_several_server_frames_in_one_read() -> None:
    """One read holding several frames gives every event, in order; the ping is answered masked."""
    client = Connection(client=True)
    data = (
        build_frame(OP_TEXT, b"one")
        + build_frame(OP_BINARY, b"two")
        + build_frame(OP_PING, b"three")
        + build_frame(OP_PONG, b"four")
        + build_frame(OP_TEXT, KOSME.encode() * 30)
    )
    assert client.receive_data(data) == [
        TextMessage("one"),
        BinaryMessage(b"two"),
        Ping(b"three"),
        Pong(b"four"),
        TextMessage(KOSME * 30),
    ]
    (pong,) = read_client_frames(client.data_to_send())
    assert (pong.opcode, pong.payload) == (OP_PONG, b"three")


def test_client_masks_differ_between_frames() -> None:
    """1,000 frames, 1,000 keys (section 5.3: a fresh key per frame), whatever sends them."""
    client = Connection(client=True)
    keys = [read_client_frame(send(client, b"same payload"))[0].key for _ in range(1000)]
    keys += [read_client_frame(client.send_ping(b"ping"))[0].key for _ in range(10)]
    assert len(set(keys)) > 990
    masked = {read_client_frame(send(client, b"same payload"))[0].masked for _ in range(10)}
    assert len(masked) > 1, "the same message must not look the same on the wire"


def test_streamed_text_is_decoded_as_it_arrives() -> None:
    """A big text frame is decoded chunk by chunk; a character cut in two waits for its end."""
    text = (KOSME + EMOJI) * 100
    data = build_frame(OP_TEXT, text.encode())
    cut = 4 + 3  # the 16-bit length header, then the first bytes of "κ" and "ό"
    client = Connection(client=True)
    assert client.receive_data(data[:cut]) == []
    assert client.receive_data(data[cut:-1]) == []
    assert client.receive_data(data[-1:]) == [TextMessage(text)]


# --- receive_whole_message, the fast path ------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"\x81\x00", ""),
        (b"\x82\x00", b""),
        (b"\x81\x05Hello", "Hello"),
        (build_frame(OP_TEXT, KOSME.encode()), KOSME),
        (build_frame(OP_BINARY, bytes(range(125))), bytes(range(125))),
        (build_frame(OP_BINARY, bytes(126)), bytes(126)),
        (build_frame(OP_TEXT, ("é" * 8000).encode()), "é" * 8000),
        (build_frame(OP_BINARY, bytes(70000)), bytes(70000)),
    ],
)
def test_receive_whole_message_returns_one_whole_unmasked_frame(frame: bytes, message: str | bytes) -> None:
    """The fast path hands back the message of one whole unmasked frame (str for text, bytes for binary),
    empty ones included."""
    client = Connection(client=True)
    result = client.receive_whole_message(frame)
    assert result == message and type(result) is type(message)
    assert client.data_to_send() == b""
    assert client.receive_data(frame) == [as_event(message)]  # receive_data takes the same path


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(b"".join(build_masked_frame(OP_TEXT, b"Hello", b"\x01\x02\x03\x04")), id="masked"),
        pytest.param(build_frame(OP_TEXT, b"Hello", fin=False), id="fragment"),
        pytest.param(build_frame(OP_TEXT, b"Hello", rsv1=True), id="rsv1"),
        pytest.param(build_frame(OP_BINARY, bytes(126))[:-1], id="16-bit-length-incomplete"),
        pytest.param(build_frame(OP_BINARY, bytes(70000))[:9], id="64-bit-length-header-cut"),
        pytest.param(build_frame(OP_BINARY, bytes(2000)), id="over-max-message-size"),
        pytest.param(build_frame(OP_PING, b"p"), id="ping"),
        pytest.param(build_frame(OP_CLOSE, b"\x03\xe8"), id="close"),
        pytest.param(build_frame(OP_TEXT, b"\xff"), id="invalid-utf8"),
        pytest.param(build_frame(OP_TEXT, b"Hello")[:-1], id="incomplete"),
        pytest.param(build_frame(OP_TEXT, b"Hello") + b"\x81", id="trailing-byte"),
        pytest.param(b"\x81", id="one-byte"),
    ],
)
def test_receive_whole_message_leaves_the_rest_to_receive_data(frame: bytes) -> None:
    """Anything but one whole data frame within the limit returns None and changes nothing."""
    client = Connection(client=True, max_message_size=1000)
    assert client.receive_whole_message(frame) is None
    assert client.data_to_send() == b""
    assert client.receiving and client.state is State.OPEN
    assert client.receive_data(build_frame(OP_TEXT, b"next")) == [TextMessage("next")]


def test_receive_whole_message_declines_while_something_is_pending() -> None:
    """The fast path stays out of the way over the limit, in the middle of a fragmented message, and on a
    server."""
    client = Connection(client=True, max_message_size=4)
    assert client.receive_whole_message(b"\x82\x05hello") is None  # over the limit: receive_data fails it
    client.receive_data(build_frame(OP_TEXT, b"ab", fin=False))
    assert client.receive_whole_message(b"\x82\x01x") is None  # a fragmented message is under way
    assert Connection().receive_whole_message(b"\x82\x01x") is None  # a server wants a mask


# --- fragmentation from the server -------------------------------------------------------------------


def test_fragmented_text_with_characters_split_between_fragments() -> None:
    """A text message cut inside multibyte characters at every fragment boundary still decodes, whole or byte
    by byte."""
    encoded = (KOSME + EMOJI).encode()
    cuts = [0, 1, 4, 10, 13, len(encoded)]  # every cut falls inside a multibyte character
    frames = [
        build_frame(OP_TEXT if index == 0 else OP_CONTINUATION, encoded[start:end], fin=end == len(encoded))
        for index, (start, end) in enumerate(itertools.pairwise(cuts))
    ]
    data = b"".join(frames)
    assert Connection(client=True).receive_data(data) == [TextMessage(KOSME + EMOJI)]
    assert feed(Connection(client=True), data, (1,)) == [TextMessage(KOSME + EMOJI)]


def test_fragmented_binary_with_empty_fragments_and_a_ping_between() -> None:
    """Control frames may come between fragments (section 5.4); the pong goes out at once."""
    client = Connection(client=True)
    data = (
        build_frame(OP_BINARY, b"", fin=False)
        + build_frame(OP_CONTINUATION, b"abc", fin=False)
        + build_frame(OP_PING, b"mid")
        + build_frame(OP_CONTINUATION, b"", fin=False)
        + build_frame(OP_CONTINUATION, b"def")
    )
    assert client.receive_data(data) == [Ping(b"mid"), BinaryMessage(b"abcdef")]
    (pong,) = read_client_frames(client.data_to_send())
    assert (pong.opcode, pong.payload) == (OP_PONG, b"mid")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            build_frame(OP_CONTINUATION, b"x"),
            "continuation frame without a message to continue",
        ),
        (
            build_frame(OP_TEXT, b"a", fin=False) + build_frame(OP_TEXT, b"b"),
            "new data frame before the previous message's last fragment",
        ),
        (
            build_frame(OP_TEXT, b"a", fin=False) + build_frame(OP_PING, b"p", fin=False),
            "fragmented control frame",
        ),
    ],
    ids=["orphan-continuation", "interleaved-message", "fragmented-ping"],
)
def test_bad_fragmentation_fails_with_1002(data: bytes, message: str) -> None:
    """Section 5.4: a continuation needs a message to continue, a new message must wait, a control frame is
    never fragmented."""
    assert_client_fails(data, 1002, message=message)


# --- invalid UTF-8 from the server -------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(build_frame(OP_TEXT, b"ok\xff"), id="whole-frame"),
        pytest.param(build_frame(OP_TEXT, b"\xed\xa0\x80"), id="surrogate"),
        pytest.param(build_frame(OP_TEXT, "κ".encode()[:1]), id="truncated-at-the-end"),
        pytest.param(
            build_frame(OP_TEXT, "κ".encode()[:1], fin=False) + build_frame(OP_CONTINUATION, b"a"),
            id="split-across-fragments",
        ),
        pytest.param(build_frame(OP_TEXT, b"x" * 300 + b"\xc0\xaf"), id="overlong-16-bit-length"),
    ],
)
def test_invalid_utf8_from_the_server_fails_with_1007(data: bytes) -> None:
    """Section 8.1: text that is not UTF-8 fails with 1007, whole or fed a few bytes at a time."""
    assert_client_fails(data, 1007, InvalidPayload)
    # And the same bytes a few at a time.
    client = Connection(client=True)
    events = feed(client, data, (3,))
    assert isinstance(events[-1], ConnectionFailed) and events[-1].error.close_code == 1007


def test_invalid_utf8_fails_before_the_streamed_frame_is_complete() -> None:
    """The client does not wait for 1,000 announced bytes once the third one is invalid."""
    header = b"\x81\x7e" + (1000).to_bytes(2, "big")
    assert_client_fails(header + b"ok\xff", 1007, InvalidPayload)


# --- frames the client must refuse -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opcode", "length"),
    [
        *itertools.product((OP_TEXT, OP_BINARY), (0, 5, 300, 70000)),
        *itertools.product((OP_PING, OP_PONG, OP_CLOSE), (0, 5)),
    ],
)
def test_masked_server_frame_fails_with_1002(opcode: int, length: int) -> None:
    """Section 5.1: "A client MUST close a connection if it detects a masked frame"."""
    header, masked = build_masked_frame(opcode, bytes(length), b"\x11\x22\x33\x44")
    # The mask bit is in the second byte: those two bytes alone fail the connection.
    assert_client_fails(header[:2], 1002, message="server frame is masked (RFC 6455 section 5.1)")
    assert_client_fails(header + masked, 1002, message="server frame is masked (RFC 6455 section 5.1)")


@pytest.mark.parametrize(
    ("first_byte", "message"),
    [
        (0x80 | 0x20 | OP_TEXT, "reserved bits RSV2/RSV3 set without an extension that defines them"),
        (0x80 | 0x10 | OP_BINARY, "reserved bits RSV2/RSV3 set without an extension that defines them"),
        (0x80 | 0x40 | OP_TEXT, "RSV1 set but permessage-deflate was not negotiated"),
        (0x80 | 0x40 | OP_PING, "RSV1 set on a control frame"),
        *(
            (0x80 | opcode, f"reserved opcode {opcode:#x}")
            for opcode in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF)
        ),
    ],
)
def test_reserved_bits_and_opcodes_fail_with_1002(first_byte: int, message: str) -> None:
    """Section 5.2: RSV bits without an extension, RSV1 on a control frame, and reserved opcodes fail with
    1002."""
    assert_client_fails(bytes([first_byte, 0x01]) + b"x", 1002, message=message)


def test_control_frame_over_125_bytes_fails_with_1002() -> None:
    """Section 5.5: a control frame carries at most 125 bytes, so a 16-bit length is refused."""
    data = b"\x89\x7e\x00\x7e" + bytes(126)  # a ping with a 16-bit length
    assert_client_fails(data, 1002, message="control frame payload over 125 bytes")


@pytest.mark.parametrize("max_message_size", [1000, 2**62])
def test_64_bit_length_with_the_most_significant_bit_set_fails_with_1002(max_message_size: int) -> None:
    """Section 5.2: "the most significant bit MUST be 0"; refused from the header alone."""
    data = b"\x82\x7f" + (2**63 + 5).to_bytes(8, "big")
    client = Connection(client=True, max_message_size=max_message_size)
    assert_client_fails(
        data, 1002, message="frame length with the most significant bit set", connection=client
    )


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(b"\x82\x65", id="7-bit"),  # 101 bytes
        pytest.param(b"\x81\x7e\x10\x00", id="16-bit-text"),
        pytest.param(b"\x82\x7f" + (2**40).to_bytes(8, "big"), id="64-bit-1TiB"),
    ],
)
def test_header_over_max_message_size_fails_with_1009_before_any_payload(header: bytes) -> None:
    """A frame announcing more than the limit is refused from its header: nothing is buffered."""
    client = Connection(client=True, max_message_size=100)
    assert_client_fails(header, 1009, PayloadTooBig, connection=client)


def test_fragment_over_the_budget_left_fails_with_1009() -> None:
    """The limit is for the whole message: the second fragment's header is over what is left."""
    client = Connection(client=True, max_message_size=100)
    assert client.receive_data(build_frame(OP_BINARY, bytes(60), fin=False)) == []
    assert_client_fails(b"\x80\x29", 1009, PayloadTooBig, connection=client)  # 41 bytes > 40 left


def test_message_of_exactly_max_message_size_is_accepted() -> None:
    """The limit is inclusive, for a single frame and for a fragmented message."""
    client = Connection(client=True, max_message_size=100)
    assert client.receive_data(build_frame(OP_BINARY, bytes(100))) == [BinaryMessage(bytes(100))]
    client = Connection(client=True, max_message_size=100)
    data = build_frame(OP_TEXT, b"a" * 50, fin=False) + build_frame(OP_CONTINUATION, b"b" * 50)
    assert client.receive_data(data) == [TextMessage("a" * 50 + "b" * 50)]


# --- control frames ----------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"", b"hello", bytes(range(125))])
def test_ping_is_answered_with_a_masked_pong_carrying_its_payload(payload: bytes) -> None:
    """Section 5.5.3: the pong carries the ping's payload; a client masks it, and the server reads it."""
    client = Connection(client=True)
    assert client.receive_data(build_frame(OP_PING, payload)) == [Ping(payload)]
    wire = client.data_to_send()
    pong, rest = read_client_frame(wire)
    assert rest == b""
    assert (pong.fin, pong.rsv1, pong.opcode, pong.payload) == (True, False, OP_PONG, payload)
    # The server reads it as the pong of its ping.
    assert Connection().receive_data(wire) == [Pong(payload)]


def test_each_pong_has_its_own_key() -> None:
    """Automatic replies draw a fresh key each, like everything else a client sends."""
    client = Connection(client=True)
    client.receive_data(build_frame(OP_PING, b"one") + build_frame(OP_PING, b"two"))
    first, second = read_client_frames(client.data_to_send())
    assert (first.payload, second.payload) == (b"one", b"two")
    assert first.key != second.key


def test_pong_from_the_server_is_reported_and_not_answered() -> None:
    """An unsolicited pong is reported and needs no reply (section 5.5.3)."""
    client = Connection(client=True)
    assert client.receive_data(build_frame(OP_PONG, b"beat")) == [Pong(b"beat")]
    assert client.data_to_send() == b""


def test_client_ping_round_trip() -> None:
    """A client ping is masked, answered by the server, and reported as a pong; over 125 bytes is refused."""
    client, server = Connection(client=True), Connection()
    ping = client.send_ping(b"are you there")
    frame, _ = read_client_frame(ping)
    assert (frame.opcode, frame.payload) == (OP_PING, b"are you there")
    assert server.receive_data(ping) == [Ping(b"are you there")]
    assert client.receive_data(server.data_to_send()) == [Pong(b"are you there")]
    with pytest.raises(ValueError):
        client.send_ping(bytes(126))


@pytest.mark.parametrize(("code", "reason"), [(1000, ""), (1001, "going away"), (3000, KOSME), (4999, "x")])
def test_server_close_is_echoed_masked_with_the_same_code(code: int, reason: str) -> None:
    """Section 5.5.1: the client answers a close with a close, echoing the code."""
    client = Connection(client=True)
    payload = code.to_bytes(2, "big") + reason.encode()
    assert client.receive_data(build_frame(OP_CLOSE, payload)) == [CloseReceived(code, reason)]
    assert (client.close_code, client.close_reason) == (code, reason)
    assert not client.receiving and client.state is State.OPEN  # until the echo is taken
    (echo,) = read_client_frames(client.data_to_send())
    assert (echo.opcode, echo.fin, echo.payload) == (OP_CLOSE, True, code.to_bytes(2, "big"))
    assert client.state is State.CLOSING and client.close_sent
    with pytest.raises(RuntimeError):
        client.send_text("too late")


def test_empty_server_close_is_echoed_empty() -> None:
    """A close without a code is reported as 1005 and answered with a close without a code."""
    client = Connection(client=True)
    assert client.receive_data(b"\x88\x00") == [CloseReceived(1005, "")]
    (echo,) = read_client_frames(client.data_to_send())
    assert (echo.opcode, echo.payload) == (OP_CLOSE, b"")


def test_messages_before_the_server_close_are_delivered_first() -> None:
    """Messages before the close are delivered; nothing after it is read."""
    client = Connection(client=True)
    data = (
        build_frame(OP_TEXT, b"last words") + build_frame(OP_CLOSE, b"\x03\xe8") + build_frame(OP_TEXT, b"x")
    )
    assert client.receive_data(data) == [TextMessage("last words"), CloseReceived(1000, "")]


@pytest.mark.parametrize(
    ("payload", "close_code", "error_type"),
    [
        pytest.param(b"\x03", 1002, WebSocketError, id="one-byte"),
        pytest.param((999).to_bytes(2, "big"), 1002, WebSocketError, id="999"),
        pytest.param((1004).to_bytes(2, "big"), 1002, WebSocketError, id="1004"),
        pytest.param((1005).to_bytes(2, "big"), 1002, WebSocketError, id="1005"),
        pytest.param((1006).to_bytes(2, "big"), 1002, WebSocketError, id="1006"),
        pytest.param((1015).to_bytes(2, "big"), 1002, WebSocketError, id="1015"),
        pytest.param((2999).to_bytes(2, "big"), 1002, WebSocketError, id="2999"),
        pytest.param((5000).to_bytes(2, "big"), 1002, WebSocketError, id="5000"),
        pytest.param(b"\x03\xe8bad \xff reason", 1007, InvalidPayload, id="reason-not-utf8"),
    ],
)
def test_bad_server_close_payload_fails(
    payload: bytes, close_code: int, error_type: type[WebSocketError]
) -> None:
    """Section 7.4: a 1-byte payload or a code no peer may send: 1002; a reason not UTF-8: 1007."""
    assert_client_fails(build_frame(OP_CLOSE, payload), close_code, error_type)


def test_client_initiated_close_handshake() -> None:
    """The client's close is masked; the server's answer ends it without a second close."""
    client, server = Connection(client=True), Connection()
    wire = client.send_close(1000, "bye")
    (close,) = read_client_frames(wire)
    assert (close.opcode, close.payload) == (OP_CLOSE, b"\x03\xe8bye")
    assert client.state is State.CLOSING and client.close_sent
    assert client.send_close() == b""  # only one close frame
    assert server.receive_data(wire) == [CloseReceived(1000, "bye")]
    assert client.receive_data(server.data_to_send()) == [CloseReceived(1000, "")]
    assert client.data_to_send() == b""
    (empty,) = read_client_frames(Connection(client=True).send_close(None))
    assert empty.payload == b""


# --- permessage-deflate: the offer and the answer ----------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "offer"),
    [
        (CLIENT_DEFLATE, "permessage-deflate; client_max_window_bits"),
        (DeflateSettings(), "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"),
        (
            DeflateSettings(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                server_max_window_bits=9,
                client_max_window_bits=10,
            ),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=9; client_max_window_bits=10",
        ),
    ],
)
def test_client_offer(settings: DeflateSettings, offer: str) -> None:
    """The offer is what the settings say, and the server side accepts it."""
    assert settings.client_offer() == offer
    assert DeflateSettings().negotiate([offer]) is not None


@pytest.mark.parametrize(
    ("answer", "params"),
    [
        ("permessage-deflate", DeflateParameters()),
        (
            "Permessage-Deflate ;  server_max_window_bits = 10 ; client_max_window_bits=9",
            DeflateParameters(server_max_window_bits=10, client_max_window_bits=9),
        ),
        ('permessage-deflate; server_max_window_bits="11"', DeflateParameters(server_max_window_bits=11)),
        # The server may decide on no context takeover on either side without being asked (7.1.1).
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            DeflateParameters(server_no_context_takeover=True, client_no_context_takeover=True),
        ),
    ],
)
def test_client_accept_reads_the_agreed_parameters(answer: str, params: DeflateParameters) -> None:
    """The answer's parameters become the agreed ones, with names in any case, spaces and quoted values."""
    deflate = CLIENT_DEFLATE.client_accept([answer])
    assert deflate is not None and deflate.params == params


@pytest.mark.parametrize("answer", [[], [""], [" , "]])
def test_client_accept_without_an_answer_is_no_compression(answer: list[str]) -> None:
    """No (or an empty) Sec-WebSocket-Extensions answer means the server declined: no compression."""
    assert CLIENT_DEFLATE.client_accept(answer) is None


def test_client_accept_keeps_the_clients_own_no_context_takeover() -> None:
    """client_no_context_takeover is the client's to choose (7.1.1.2) even when not answered."""
    deflate = DeflateSettings(client_no_context_takeover=True).client_accept(
        ["permessage-deflate; server_max_window_bits=12"]
    )
    assert deflate is not None and deflate.params.client_no_context_takeover


def test_client_accept_takes_a_smaller_server_window_than_asked() -> None:
    """Section 7.1.2.1: the server may answer with a smaller window than the client asked for."""
    deflate = DeflateSettings(server_max_window_bits=12).client_accept(
        ["permessage-deflate; server_max_window_bits=9"]
    )
    assert deflate is not None and deflate.params.server_max_window_bits == 9


@pytest.mark.parametrize(
    ("settings", "answer", "message"),
    [
        (CLIENT_DEFLATE, ["permessage-deflate, permessage-deflate"], "accepted 2 extensions"),
        (CLIENT_DEFLATE, ["permessage-deflate", "permessage-deflate"], "accepted 2 extensions"),
        (CLIENT_DEFLATE, ["x-webkit-deflate-frame"], "'x-webkit-deflate-frame', which was not offered"),
        (CLIENT_DEFLATE, ["permessage-deflate; mystery"], "unknown permessage-deflate parameter 'mystery'"),
        (
            CLIENT_DEFLATE,
            ["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
            "'server_no_context_takeover' given twice",
        ),
        (
            CLIENT_DEFLATE,
            ["permessage-deflate; client_max_window_bits=10; client_max_window_bits=10"],
            "'client_max_window_bits' given twice",
        ),
        (CLIENT_DEFLATE, ["permessage-deflate; client_no_context_takeover=1"], "takes no value"),
        (CLIENT_DEFLATE, ['permessage-deflate; server_no_context_takeover=""'], "takes no value"),
        (CLIENT_DEFLATE, ["permessage-deflate; server_max_window_bits=7"], "must be 8 to 15, got '7'"),
        (CLIENT_DEFLATE, ["permessage-deflate; client_max_window_bits=16"], "must be 8 to 15, got '16'"),
        (CLIENT_DEFLATE, ["permessage-deflate; server_max_window_bits=09"], "must be 8 to 15, got '09'"),
        (CLIENT_DEFLATE, ["permessage-deflate; server_max_window_bits"], "must be 8 to 15, got None"),
        (CLIENT_DEFLATE, ["permessage-deflate; client_max_window_bits"], "must be 8 to 15, got None"),
        (CLIENT_DEFLATE, ["permessage-deflate; ="], "malformed"),
        (
            DeflateSettings(server_no_context_takeover=True),
            ["permessage-deflate; server_max_window_bits=12"],
            "server_no_context_takeover was asked for and not agreed",
        ),
        (
            DeflateSettings(server_max_window_bits=10),
            ["permessage-deflate"],
            "server_max_window_bits was asked for and not agreed",
        ),
        (
            DeflateSettings(server_max_window_bits=10),
            ["permessage-deflate; server_max_window_bits=11"],
            "server_max_window_bits=11 is larger than the 10 asked for",
        ),
    ],
)
def test_client_accept_refuses_a_bad_answer(
    settings: DeflateSettings, answer: list[str], message: str
) -> None:
    """RFC 7692 section 5: a client fails the connection on an answer it cannot accept."""
    with pytest.raises(InvalidHandshakeResponse) as info:
        settings.client_accept(answer)
    assert str(info.value).startswith("invalid permessage-deflate answer: ")
    assert message in str(info.value)
    assert info.value.status == 101
    assert info.value.body == b""


# --- permessage-deflate: PerMessageDeflate(client=True) ----------------------------------------------


def far_repeats(seed: int = 0) -> bytes:
    """Random blocks each repeated at a distance between 300 bytes and 20 KiB: compressible only with
    a window that reaches back that far, and inflatable only with one as large as the encoder's."""
    rng = random.Random(seed)
    parts = []
    for distance in (300, 700, 1500, 3000, 6000, 12000, 20000):
        block = rng.randbytes(200)
        parts += [block, rng.randbytes(distance - 200), block]
    return b"".join(parts)


def inflate_strictly(inflater: zlib._Decompress, payload: bytes) -> bytes:
    """Inflate one message's payload 16 bytes per call, so that every back-reference must come from
    the inflater's own window: within one big call zlib also copies from that call's output buffer,
    which would hide a distance larger than the window."""
    output = []
    data = payload + b"\x00\x00\xff\xff"  # the tail a sender strips (RFC 7692 section 7.2.1)
    while data:
        output.append(inflater.decompress(data, 16))
        data = inflater.unconsumed_tail
    return b"".join(output)


def inflates_with(payload: bytes, bits: int) -> bool:
    """Whether a message's payload inflates with a window of ``bits``."""
    try:
        inflate_strictly(zlib.decompressobj(wbits=-bits), payload)
    except zlib.error:
        return False
    return True


def test_client_compresses_with_the_client_window_and_inflates_with_the_server_one() -> None:
    """PerMessageDeflate(client=True) swaps the directions of the agreed parameters."""
    data = far_repeats()
    params = DeflateParameters(server_max_window_bits=15, client_max_window_bits=9)
    client_side = PerMessageDeflate(params, client=True)
    server_side = PerMessageDeflate(params)
    from_client = client_side.compress(data)
    from_server = server_side.compress(data)
    assert inflates_with(from_client, 9)  # the client kept to 9 bits...
    assert not inflates_with(from_server, 9)  # ...the server did not have to
    assert client_side.decompress(from_server, len(data), True) == data  # read with 15 bits
    assert server_side.decompress(from_client, len(data), True) == data
    # And the other way round: a client agreed to receive 9 bits refuses a 15-bit stream.
    strict = PerMessageDeflate(DeflateParameters(server_max_window_bits=9), client=True)
    with pytest.raises(InvalidPayload):
        strict.decompress(from_server, len(data), True)


def test_client_max_window_bits_caps_the_agreed_window() -> None:
    """max_window_bits lowers the client's window below the agreed one (allowed by 7.1.2)."""
    data = far_repeats(1)
    deflate = PerMessageDeflate(DeflateParameters(), client=True, max_window_bits=10)
    payload = deflate.compress(data)
    assert inflates_with(payload, 10) and not inflates_with(
        PerMessageDeflate(DeflateParameters()).compress(data), 10
    )


# --- permessage-deflate: negotiated with the server and used both ways -------------------------------


def negotiated(
    client_settings: DeflateSettings, server_settings: DeflateSettings
) -> tuple[Connection, Connection]:
    """A client and a server that agreed on compression the way a real handshake would."""
    agreed = server_settings.negotiate([client_settings.client_offer()])
    assert agreed is not None
    response, server_deflate = agreed
    client_deflate = client_settings.client_accept([response])
    assert client_deflate is not None
    assert client_deflate.params == server_deflate.params
    return Connection(client=True, deflate=client_deflate), Connection(deflate=server_deflate)


def exchange(client: Connection, server: Connection, message: str | bytes) -> tuple[bytes, bytes]:
    """Send ``message`` each way, check both arrive compressed and intact; returns the compressed
    payloads (the client's unmasked, then the server's)."""
    wire = send(client, message)
    frame, _ = read_client_frame(wire)
    assert frame.rsv1, "a client message must go compressed"
    assert server.receive_data(wire) == [as_event(message)]
    header, payload = server.send_text(message) if isinstance(message, str) else server.send_binary(message)
    assert header[0] & 0x40 and not header[1] & 0x80
    assert feed(client, header + payload) == [as_event(message)]
    return frame.payload, payload


@pytest.mark.parametrize(
    ("client_settings", "server_settings", "client_nct", "server_nct"),
    [
        pytest.param(CLIENT_DEFLATE, DeflateSettings(), False, False, id="context-takeover"),
        pytest.param(
            CLIENT_DEFLATE,
            DeflateSettings(client_no_context_takeover=True),
            True,
            False,
            id="server-asks-client-nct",
        ),
        pytest.param(
            CLIENT_DEFLATE, DeflateSettings(server_no_context_takeover=True), False, True, id="server-own-nct"
        ),
        pytest.param(
            DeflateSettings(
                server_no_context_takeover=True, server_max_window_bits=15, client_max_window_bits=15
            ),
            DeflateSettings(),
            False,
            True,
            id="client-asks-server-nct",
        ),
        pytest.param(
            DeflateSettings(client_no_context_takeover=True, server_no_context_takeover=True),
            DeflateSettings(),
            True,
            True,
            id="both-nct",
        ),
    ],
)
def test_compressed_messages_both_ways(
    client_settings: DeflateSettings, server_settings: DeflateSettings, client_nct: bool, server_nct: bool
) -> None:
    """Repeating a message costs almost nothing with context takeover, the same again without."""
    client, server = negotiated(client_settings, server_settings)
    params = client.deflate.params  # type: ignore[union-attr]
    assert (params.client_no_context_takeover, params.server_no_context_takeover) == (client_nct, server_nct)
    message = '{"user": "ada", "text": "' + KOSME * 20 + '"}'
    first, second, third = ([len(payload) for payload in exchange(client, server, message)] for _ in range(3))
    for index, no_context in enumerate((client_nct, server_nct)):
        if no_context:
            assert first[index] == second[index] == third[index]
        else:
            assert second[index] < first[index] // 2
    for other in ("", b"", b"\x00" * 100_000, far_repeats(2), text_of_size(70_000)):
        exchange(client, server, other)


@pytest.mark.parametrize("bits", range(8, 16))
@pytest.mark.parametrize("asked_by", ["client", "server"])
def test_compressed_messages_with_window_bits(bits: int, asked_by: str) -> None:
    """Windows of 8 to 15 bits, asked for by the client's offer or imposed by the server, and never
    the same both ways (the server's ``bits``, the client's ``23 - bits``): data with repeats far back
    fails to inflate if a side compresses with more than its agreed window, or with the other's."""
    client_bits = 23 - bits
    if asked_by == "client":
        client_settings = DeflateSettings(server_max_window_bits=bits, client_max_window_bits=client_bits)
        server_settings = DeflateSettings(server_max_window_bits=15, client_max_window_bits=15)
    else:
        client_settings = CLIENT_DEFLATE
        server_settings = DeflateSettings(server_max_window_bits=bits, client_max_window_bits=client_bits)
    client, server = negotiated(client_settings, server_settings)
    params = client.deflate.params  # type: ignore[union-attr]
    assert (params.server_max_window_bits, params.client_max_window_bits) == (bits, client_bits)
    # Inflaters of exactly the agreed windows watch the wire, kept across messages (context takeover).
    client_watch, server_watch = zlib.decompressobj(wbits=-client_bits), zlib.decompressobj(wbits=-bits)
    for seed in range(3):  # three messages: later ones may refer back into the earlier ones
        for message in (far_repeats(seed), text_of_size(5000 + seed)):
            from_client, from_server = exchange(client, server, message)
            clear = message.encode() if isinstance(message, str) else message
            assert inflate_strictly(client_watch, from_client) == clear
            assert inflate_strictly(server_watch, from_server) == clear


def test_compressed_fragmented_message_from_the_server() -> None:
    """RSV1 on the first frame only (RFC 7692 section 6.1); the client inflates across fragments."""
    client, server = negotiated(CLIENT_DEFLATE, DeflateSettings())
    payload = server.deflate.compress(far_repeats(3))  # type: ignore[union-attr]
    third = len(payload) // 3
    data = (
        build_frame(OP_BINARY, payload[:third], fin=False, rsv1=True)
        + build_frame(OP_PING, b"mid")
        + build_frame(OP_CONTINUATION, payload[third : 2 * third], fin=False)
        + build_frame(OP_CONTINUATION, payload[2 * third :])
    )
    assert feed(client, data) == [Ping(b"mid"), BinaryMessage(far_repeats(3))]


def test_rsv1_on_a_continuation_fails_with_1002() -> None:
    """RFC 7692 section 6.1: only the first frame of a compressed message carries RSV1."""
    client, _ = negotiated(CLIENT_DEFLATE, DeflateSettings())
    data = build_frame(OP_TEXT, b"", fin=False, rsv1=True) + build_frame(OP_CONTINUATION, b"x", rsv1=True)
    assert_client_fails(
        data, 1002, message="RSV1 set on a continuation frame (RFC 7692 section 6.1)", connection=client
    )


def test_compressed_bomb_from_the_server_fails_with_1009() -> None:
    """16 MiB of zeros deflate to ~16 KiB: the client inflates no more than its limit, then fails."""
    client_deflate = CLIENT_DEFLATE.client_accept(["permessage-deflate"])
    client = Connection(client=True, deflate=client_deflate, max_message_size=MIB)
    server = Connection(deflate=PerMessageDeflate(DeflateParameters()))
    header, payload = server.send_binary(bytes(16 * MIB))
    assert len(payload) < 20 * 1024
    assert_client_fails(header + payload, 1009, PayloadTooBig, connection=client)


def test_compressed_message_at_exactly_the_limit_is_accepted() -> None:
    """A compressed message inflating to exactly max_message_size is delivered."""
    client_deflate = CLIENT_DEFLATE.client_accept(["permessage-deflate"])
    client = Connection(client=True, deflate=client_deflate, max_message_size=MIB)
    server = Connection(deflate=PerMessageDeflate(DeflateParameters()))
    header, payload = server.send_binary(bytes(MIB))
    assert client.receive_data(header + payload) == [BinaryMessage(bytes(MIB))]


def test_compressed_data_that_does_not_inflate_fails_with_1007() -> None:
    """A compressed frame that is not DEFLATE data fails with 1007."""
    client, _ = negotiated(CLIENT_DEFLATE, DeflateSettings())
    assert_client_fails(
        build_frame(OP_BINARY, b"\xff\xff\xff\xff", rsv1=True), 1007, InvalidPayload, connection=client
    )


# --- the opening handshake: the request --------------------------------------------------------------


def parse_head(data: bytes) -> tuple[str, Headers]:
    """Split an HTTP/1.1 head into its start line and ``(name, value)`` pairs, by hand."""
    head, separator, rest = data.partition(b"\r\n\r\n")
    assert separator and rest == b"", "the head must end with one empty line, and nothing after it"
    start, *lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in lines:
        name, colon, value = line.partition(":")
        assert colon and name == name.strip(), line
        headers.append((name, value.strip(" \t")))
    return start, headers


def header_values(headers: Headers, name: str) -> list[str]:
    return [value for key, value in headers if key.lower() == name.lower()]


def test_request_is_a_complete_upgrade_request() -> None:
    """Section 4.1: GET with the resource, Host, Upgrade, Connection, a fresh 16-byte key, version 13."""
    handshake = ClientHandshake("example.com", 80, "/chat?room=1")
    start, headers = parse_head(handshake.request())
    assert start == "GET /chat?room=1 HTTP/1.1"
    assert headers == [
        ("Host", "example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", handshake.key),
        ("Sec-WebSocket-Version", "13"),
    ]
    assert len(base64.b64decode(handshake.key, validate=True)) == 16
    assert ClientHandshake("example.com", 80).key != handshake.key  # a fresh nonce each time
    assert parse_head(ClientHandshake("example.com", 80).request())[0] == "GET / HTTP/1.1"


@pytest.mark.parametrize(
    ("host", "port", "secure", "host_header"),
    [
        ("example.com", 80, False, "example.com"),
        ("example.com", 443, True, "example.com"),
        ("example.com", 443, False, "example.com:443"),
        ("example.com", 80, True, "example.com:80"),
        ("example.com", 8080, False, "example.com:8080"),
        ("127.0.0.1", 8000, False, "127.0.0.1:8000"),
        ("::1", 80, False, "[::1]"),
        ("::1", 9000, True, "[::1]:9000"),
        ("2001:db8::7", 443, True, "[2001:db8::7]"),
    ],
)
def test_host_header(host: str, port: int, secure: bool, host_header: str) -> None:
    """RFC 6455 section 4.1 item 4 with RFC 7230 section 5.4: the port only when not the default."""
    _, headers = parse_head(ClientHandshake(host, port, secure=secure).request())
    assert header_values(headers, "Host") == [host_header]


def test_subprotocols_deflate_and_extra_headers() -> None:
    """Subprotocols in order, the deflate offer, then the extra headers in the order given."""
    handshake = ClientHandshake(
        "example.com",
        80,
        subprotocols=["chat", "superchat"],
        deflate=CLIENT_DEFLATE,
        headers=[("Origin", "http://example.com"), ("X-Trace", "1"), ("X-Trace", "2")],
    )
    _, headers = parse_head(handshake.request())
    assert header_values(headers, "Sec-WebSocket-Protocol") == ["chat, superchat"]
    assert header_values(headers, "Sec-WebSocket-Extensions") == [
        "permessage-deflate; client_max_window_bits"
    ]
    assert headers[-3:] == [("Origin", "http://example.com"), ("X-Trace", "1"), ("X-Trace", "2")]


def test_a_host_header_given_replaces_the_one_made() -> None:
    """A Host among the extra headers (in any case) is the only Host sent, e.g. for a virtual host."""
    handshake = ClientHandshake("10.0.0.7", 8080, headers=[("host", "virtual.example.com")])
    _, headers = parse_head(handshake.request())
    assert header_values(headers, "Host") == ["virtual.example.com"]


@pytest.mark.parametrize(
    "name",
    [
        "Upgrade",
        "connection",
        "Sec-WebSocket-Key",
        "SEC-WEBSOCKET-VERSION",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Protocol",
        "Content-Length",
        "Transfer-Encoding",
    ],
)
def test_reserved_headers_may_not_be_set(name: str) -> None:
    """Headers the handshake writes itself may not be set, in any case."""
    with pytest.raises(ValueError, match="written by the handshake itself"):
        ClientHandshake("example.com", 80, headers=[(name, "x")])


@pytest.mark.parametrize(
    ("headers", "host"),
    [
        ([("X-Evil", "a\r\nInjected: 1")], "example.com"),
        ([("X-Evil", "a\nb")], "example.com"),
        ([("X-Evil", "a\rb")], "example.com"),
        ([("X-Evil", "a\x00b")], "example.com"),
        ([("Bad Name", "x")], "example.com"),
        ([("X-Euro", "\u20ac")], "example.com"),
        ([], "example.com\r\nInjected: 1"),
    ],
)
def test_headers_that_could_split_the_request_are_refused(headers: Headers, host: str) -> None:
    """CR, LF or NUL in a value (or the host), a name that is not a token, or non-Latin-1 text raise
    ValueError."""
    with pytest.raises(ValueError):
        ClientHandshake(host, 80, headers=headers)


@pytest.mark.parametrize("resource", ["", "chat", "http://example.com/", "?x=1"])
def test_resource_must_start_with_a_slash(resource: str) -> None:
    """The resource is an origin-form request target: a path starting with "/"."""
    with pytest.raises(ValueError, match="must start with '/'"):
        ClientHandshake("example.com", 80, resource)


@pytest.mark.parametrize(
    "resource", ["/chat\r\nX-Injected: 1", "/chat\nX-Injected: 1", "/\x00", "/a b", "/\u00e9"]
)
def test_resource_with_cr_lf_or_nul_is_refused(resource: str) -> None:
    """Like a header value (and like http.client's URL check), the request line must not be split."""
    with pytest.raises(ValueError):
        ClientHandshake("example.com", 80, resource)


@pytest.mark.parametrize(
    "subprotocol", ["", "two words", "a,b", "a;b", "a/b", 'a"b', "a=b", "\u00e9", "tab\t", "\x01"]
)
def test_subprotocol_must_be_a_token(subprotocol: str) -> None:
    """Subprotocols are HTTP tokens (RFC 6455 section 4.1, item 10): no separators, spaces or non-ASCII."""
    with pytest.raises(ValueError, match="is not an HTTP token"):
        ClientHandshake("example.com", 80, subprotocols=["chat", subprotocol])


# --- the opening handshake: against the server's side ------------------------------------------------


def parse_response(data: bytes) -> tuple[int, Headers]:
    start, headers = parse_head(data)
    version, status, _ = start.split(" ", 2)
    assert version == "HTTP/1.1"
    return int(status), headers


def test_server_side_accepts_the_request_and_the_client_its_answer() -> None:
    """The whole exchange: request, validate_upgrade, build_accept_response, receive_response, then
    a compressed message each way over the connections the handshake set up."""
    handshake = ClientHandshake(
        "localhost",
        8765,
        "/feed",
        subprotocols=["v2.feed", "v1.feed"],
        deflate=CLIENT_DEFLATE,
        headers=[("Origin", "http://localhost")],
    )
    start, request_headers = parse_head(handshake.request())
    method, target, version = start.split(" ")
    assert (method, target, version) == ("GET", "/feed", "HTTP/1.1")
    offer = validate_upgrade(method, version.removeprefix("HTTP/"), request_headers)
    assert offer.key == handshake.key
    assert offer.subprotocols == ("v2.feed", "v1.feed")
    assert offer.origin == "http://localhost"
    agreed = DeflateSettings().negotiate(offer.extensions)
    assert agreed is not None
    extensions, server_deflate = agreed

    status, response_headers = parse_response(
        build_accept_response(offer.key, subprotocol="v1.feed", extensions=extensions)
    )
    assert status == 101
    accepted = handshake.receive_response(status, response_headers)
    assert isinstance(accepted, Accepted)
    assert accepted.subprotocol == "v1.feed"
    assert accepted.headers == response_headers
    assert accepted.deflate is not None and accepted.deflate.params == server_deflate.params

    client = Connection(client=True, deflate=accepted.deflate)
    server = Connection(deflate=server_deflate)
    exchange(client, server, "hello " * 50)


def test_plain_101_is_accepted_without_subprotocol_or_compression() -> None:
    """A server may decline both the subprotocols and compression that were offered."""
    handshake = ClientHandshake("localhost", 80, subprotocols=["chat"], deflate=CLIENT_DEFLATE)
    status, headers = parse_response(build_accept_response(handshake.key))
    accepted = handshake.receive_response(status, headers)
    assert (accepted.subprotocol, accepted.deflate) == (None, None)


def test_response_header_names_and_tokens_are_case_insensitive() -> None:
    """Header names and the Upgrade/Connection tokens match in any case; the accept value may carry spaces."""
    handshake = ClientHandshake("localhost", 80)
    headers = [
        ("UPGRADE", "WebSocket"),
        ("connection", "keep-alive, UPGRADE"),
        ("sec-websocket-accept", " " + accept_key(handshake.key) + " "),
    ]
    assert handshake.receive_response(101, headers).subprotocol is None


# --- the opening handshake: responses the client refuses ---------------------------------------------


@pytest.mark.parametrize("status", [200, 403, 404])
def test_status_other_than_101_is_refused(status: int) -> None:
    """Any status but 101 is refused with the status and the start of the body in the message; the error keeps
    the status, the headers and the body's first KiB."""
    handshake = ClientHandshake("localhost", 80)
    headers = [("Content-Type", "text/plain")]
    body = b"Go away: this is not a WebSocket endpoint." + b"." * 1000
    with pytest.raises(InvalidHandshakeResponse) as info:
        handshake.receive_response(status, headers, body)
    error = info.value
    assert str(status) in str(error) and "instead of 101" in str(error)
    assert "Go away: this is not a WebSocket endpoint." in str(error)
    assert len(str(error)) < 400  # the start of the body, not all of it
    assert (error.status, error.headers, error.body) == (status, headers, body[:1024])  # at most 1 KiB kept


def test_status_without_body_and_with_a_non_utf8_body() -> None:
    """Without a body the message ends at the status; a body that is not UTF-8 is still shown."""
    handshake = ClientHandshake("localhost", 80)
    with pytest.raises(
        InvalidHandshakeResponse, match=r"^the server answered 302 instead of 101 Switching Protocols$"
    ):
        handshake.receive_response(302, [("Location", "/elsewhere")])
    with pytest.raises(InvalidHandshakeResponse, match="500") as info:
        handshake.receive_response(500, [], b"\xff\xfe broken")
    assert "broken" in str(info.value)


def good_response(handshake: ClientHandshake) -> Headers:
    return [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept_key(handshake.key)),
    ]


def without(headers: Headers, name: str) -> Headers:
    return [(key, value) for key, value in headers if key.lower() != name.lower()]


REFUSALS: dict[str, tuple[dict[str, object], object, str]] = {
    # id: (ClientHandshake keyword arguments, change to the good 101 response, expected message part)
    "no-upgrade": ({}, lambda h: without(h, "Upgrade"), "Upgrade is missing, not websocket"),
    "upgrade-h2c": ({}, lambda h: [*without(h, "Upgrade"), ("Upgrade", "h2c")], "Upgrade is h2c"),
    "upgrade-two-protocols": (
        {},
        lambda h: [*without(h, "Upgrade"), ("Upgrade", "websocket, h2c")],
        "Upgrade is websocket, h2c",
    ),
    "no-connection": ({}, lambda h: without(h, "Connection"), "Connection does not list Upgrade"),
    "connection-keep-alive": (
        {},
        lambda h: [*without(h, "Connection"), ("Connection", "keep-alive")],
        "Connection does not list Upgrade",
    ),
    "no-accept": ({}, lambda h: without(h, "Sec-WebSocket-Accept"), "Sec-WebSocket-Accept is missing"),
    "wrong-accept": (
        {},
        lambda h: [*without(h, "Sec-WebSocket-Accept"), ("Sec-WebSocket-Accept", accept_key("x" * 24))],
        "answers the key sent",
    ),
    "duplicated-accept": ({}, lambda h: [*h, h[-1]], "Sec-WebSocket-Accept is"),
    "subprotocol-not-offered": (
        {"subprotocols": ["chat"]},
        lambda h: [*h, ("Sec-WebSocket-Protocol", "superchat")],
        "chose subprotocol 'superchat'; offered: chat",
    ),
    "subprotocol-none-offered": (
        {},
        lambda h: [*h, ("Sec-WebSocket-Protocol", "chat")],
        "chose subprotocol 'chat'; offered: none",
    ),
    "two-subprotocols": (
        {"subprotocols": ["chat", "superchat"]},
        lambda h: [*h, ("Sec-WebSocket-Protocol", "chat, superchat")],
        "several subprotocols",
    ),
    "two-subprotocol-lines": (
        {"subprotocols": ["chat", "superchat"]},
        lambda h: [*h, ("Sec-WebSocket-Protocol", "chat"), ("Sec-WebSocket-Protocol", "superchat")],
        "several subprotocols",
    ),
    "extension-none-offered": (
        {},
        lambda h: [*h, ("Sec-WebSocket-Extensions", "permessage-deflate")],
        "none were offered",
    ),
    "extension-not-offered": (
        {"deflate": CLIENT_DEFLATE},
        lambda h: [*h, ("Sec-WebSocket-Extensions", "x-webkit-deflate-frame")],
        "which was not offered",
    ),
    "deflate-bad-window-bits": (
        {"deflate": CLIENT_DEFLATE},
        lambda h: [*h, ("Sec-WebSocket-Extensions", "permessage-deflate; server_max_window_bits=16")],
        "must be 8 to 15",
    ),
}


@pytest.mark.parametrize(("kwargs", "change", "message"), list(REFUSALS.values()), ids=list(REFUSALS))
def test_invalid_101_is_refused(kwargs: dict[str, object], change: object, message: str) -> None:
    """Section 4.1: a 101 without Upgrade/Connection, with a wrong accept, or choosing what was not
    offered fails the connection; the error says what was wrong."""
    handshake = ClientHandshake("localhost", 80, **kwargs)  # type: ignore[arg-type]
    good = good_response(handshake)
    assert handshake.receive_response(101, good).subprotocol is None  # the unchanged answer is fine
    headers = change(good)  # type: ignore[operator]
    with pytest.raises(InvalidHandshakeResponse) as info:
        handshake.receive_response(101, headers)
    assert message in str(info.value)
    assert info.value.status == 101
    assert info.value.body == b""


@pytest.mark.parametrize(
    "refusal",
    [
        "no-upgrade",
        "wrong-accept",
        "subprotocol-not-offered",
        "extension-not-offered",
        "deflate-bad-window-bits",
    ],
)
def test_refusal_carries_the_response_headers(refusal: str) -> None:
    """InvalidHandshakeResponse.headers is "its (name, value) pairs, as received", for every refusal."""
    kwargs, change, _ = REFUSALS[refusal]
    handshake = ClientHandshake("localhost", 80, **kwargs)  # type: ignore[arg-type]
    headers = change(good_response(handshake))  # type: ignore[operator]
    with pytest.raises(InvalidHandshakeResponse) as info:
        handshake.receive_response(101, headers)
    assert info.value.headers == headers
