"""The limits of permessage-deflate, sans I/O: what a compressed message may take on the wire, and what
a connection's compression state holds between messages.

``max_message_size`` counts inflated bytes. Incompressible data grows when deflated (by up to about
4% with zlib's memLevel 1, 13% for fixed Huffman blocks), so a compressed frame is bounded by
:func:`~duplex.protocol.deflate.max_compressed_size` of the limit, not by the limit plus a slack: with
a slack of 1,024 bytes, a 1 MiB random message from a client with memLevel 5 (the websockets library)
was refused with 1009. Memory is measured with ``tracemalloc``, which also sees zlib's allocations.
"""

from __future__ import annotations

import random
import tracemalloc
import zlib

import pytest

from duplex.protocol import BinaryMessage, Connection, ConnectionFailed, Event, PayloadTooBig
from duplex.protocol.deflate import (
    DEFAULT_MEM_LEVEL,
    DEFAULT_WINDOW_BITS,
    DeflateParameters,
    DeflateSettings,
    PerMessageDeflate,
    max_compressed_size,
)

OP_CONTINUATION = 0x0
OP_BINARY = 0x2
TAIL = b"\x00\x00\xff\xff"
KIB = 1024
MIB = 1024 * KIB
LIMIT = MIB
CLOSE_1009 = b"\x88\x02\x03\xf1"


def random_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def header(opcode: int, length: int, *, fin: bool = True, rsv1: bool = False) -> bytes:
    """A client frame header with a zero masking key, so that the payload goes as it is (RFC 6455
    section 5.3: XOR with zeros); masking is tested elsewhere, and this keeps megabyte frames quick."""
    first = opcode | (0x80 if fin else 0) | (0x40 if rsv1 else 0)
    if length < 126:
        return bytes([first, 0x80 | length]) + bytes(4)
    if length < 0x10000:
        return bytes([first, 0x80 | 126]) + length.to_bytes(2, "big") + bytes(4)
    return bytes([first, 0x80 | 127]) + length.to_bytes(8, "big") + bytes(4)


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    return header(opcode, len(payload), fin=fin, rsv1=rsv1) + payload


def compress(data: bytes, *, wbits: int = 15, mem_level: int = 8, level: int = 6) -> bytes:
    """One message as a zlib client compresses it (RFC 7692 section 7.2.1)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -wbits, mem_level)
    compressed = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert compressed.endswith(TAIL)
    return compressed[: -len(TAIL)]


def deflate_connection(max_message_size: int = LIMIT) -> Connection:
    return Connection(max_message_size=max_message_size, deflate=PerMessageDeflate(DeflateParameters()))


def assert_failed_1009(events: list[Event], connection: Connection) -> None:
    assert len(events) == 1, events
    event = events[0]
    assert isinstance(event, ConnectionFailed), events
    assert type(event.error) is PayloadTooBig
    assert connection.data_to_send() == CLOSE_1009


# --- the bound ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 127, 1000, 64 * KIB])
def test_max_compressed_size_covers_every_zlib_setting(size: int) -> None:
    """Random bytes, the worst input for DEFLATE, compressed as any zlib client may; the sync flush's
    empty stored block is kept, as in a fragment compressed on its own."""
    data = random_bytes(size, seed=size)
    bound = max_compressed_size(size)
    for level in (1, 6, 9):
        for wbits in (9, 12, 15):
            for mem_level in (1, 2, 5, 8, 9):
                compressor = zlib.compressobj(level, zlib.DEFLATED, -wbits, mem_level)
                compressed = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
                assert len(compressed) <= bound, (level, wbits, mem_level)


def test_max_compressed_size_is_zlibs_conservative_bound() -> None:
    # zlib's deflateBound() for non-default parameters, raw DEFLATE, plus a sync flush's 5 bytes.
    assert max_compressed_size(0) == 7 + 5
    assert max_compressed_size(MIB) == MIB + MIB // 8 + MIB // 256 + MIB // 512 + 4 + 5
    # About 13% over: far from unbounded, far more than the 1,024 bytes once allowed.
    assert 1.13 * MIB < max_compressed_size(MIB) < 1.14 * MIB


def test_random_message_at_the_limit_from_memlevel_1_grows_4_percent_and_is_accepted() -> None:
    data = random_bytes(LIMIT)
    compressed = compress(data, mem_level=1)
    assert len(compressed) > LIMIT + 39 * KIB  # 127-byte stored blocks, 5 bytes each
    connection = deflate_connection()
    assert connection.receive_data(frame(OP_BINARY, compressed, rsv1=True)) == [BinaryMessage(data)]


@pytest.mark.parametrize("mem_level", [5, 8])
@pytest.mark.parametrize("size", [LIMIT - 4 * KIB, LIMIT], ids=["limit-4KiB", "limit"])
def test_random_message_near_the_limit_is_accepted(size: int, mem_level: int) -> None:
    # memLevel 5 (the websockets library) grows random data by 0.25%, 8 (zlib's default) by 0.03%:
    # both more than the 1,024 bytes the frame check once allowed over a 1 MiB limit, or a 4 MiB one.
    data = random_bytes(size)
    compressed = compress(data, mem_level=mem_level)
    assert len(compressed) > size
    connection = deflate_connection()
    assert connection.receive_data(frame(OP_BINARY, compressed, rsv1=True)) == [BinaryMessage(data)]


def test_random_message_one_byte_over_the_limit_fails_1009() -> None:
    connection = deflate_connection()
    events = connection.receive_data(frame(OP_BINARY, compress(random_bytes(LIMIT + 1)), rsv1=True))
    assert_failed_1009(events, connection)


def test_fragments_each_compressed_on_their_own_up_to_the_limit_are_accepted() -> None:
    # As the websockets library sends a fragmented message: one sync flush per fragment, whose empty
    # stored block stays on every fragment but the last.
    data = random_bytes(LIMIT, seed=7)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15, 5)
    pieces = [data[start : start + 256 * KIB] for start in range(0, LIMIT, 256 * KIB)]
    stream = b""
    for index, piece in enumerate(pieces):
        payload = compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH)
        last = index == len(pieces) - 1
        if last:
            payload = payload[: -len(TAIL)]
        stream += frame(OP_BINARY if index == 0 else OP_CONTINUATION, payload, fin=last, rsv1=index == 0)
    connection = deflate_connection()
    assert connection.receive_data(stream) == [BinaryMessage(data)]


def test_compressed_frame_at_the_bound_is_read_and_one_byte_more_is_refused_from_its_header() -> None:
    bound = max_compressed_size(LIMIT)
    # At the bound: the header is taken, the connection waits for the payload.
    connection = deflate_connection()
    assert connection.receive_data(header(OP_BINARY, bound, rsv1=True)) == []
    assert connection.data_to_send() == b""
    # One byte more: refused before a byte of payload is buffered.
    connection = deflate_connection()
    assert_failed_1009(connection.receive_data(header(OP_BINARY, bound + 1, rsv1=True)), connection)


def test_compressed_continuation_frame_is_bounded_the_same_way() -> None:
    bound = max_compressed_size(LIMIT)
    first = frame(OP_BINARY, compress(b"a" * 100), fin=False, rsv1=True)
    connection = deflate_connection()
    assert connection.receive_data(first + header(OP_CONTINUATION, bound)) == []
    connection = deflate_connection()
    events = connection.receive_data(first + header(OP_CONTINUATION, bound + 1))
    assert_failed_1009(events, connection)


def test_uncompressed_frames_keep_the_exact_limit() -> None:
    connection = Connection(max_message_size=LIMIT, deflate=PerMessageDeflate(DeflateParameters()))
    assert connection.receive_data(header(OP_BINARY, LIMIT)) == []
    connection = Connection(max_message_size=LIMIT, deflate=PerMessageDeflate(DeflateParameters()))
    assert_failed_1009(connection.receive_data(header(OP_BINARY, LIMIT + 1)), connection)


# --- memory between messages -------------------------------------------------------------------------

BROWSER_OFFER = "permessage-deflate; client_max_window_bits"


def chat_message(index: int) -> bytes:
    return b'{"type": "message", "name": "user%d", "text": "hello, how are you?"}' % index * 16


def held_after_one_message_each_way(deflate: PerMessageDeflate, client_wbits: int) -> int:
    """Bytes a connection's compression state holds once it has inflated one message from the client
    and compressed one reply, as tracemalloc counts them (zlib allocates through Python's allocator)."""
    client = zlib.compressobj(6, zlib.DEFLATED, -max(client_wbits, 9))
    incoming = client.compress(chat_message(1)) + client.flush(zlib.Z_SYNC_FLUSH)
    tracemalloc.start()
    try:
        assert deflate.decompress(incoming[: -len(TAIL)], MIB, True) == chat_message(1)
        outgoing = deflate.compress(chat_message(2))
        del outgoing
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return held


def test_default_settings_hold_at_most_64_kib_between_messages() -> None:
    agreed = DeflateSettings().negotiate([BROWSER_OFFER])
    assert agreed is not None
    response, deflate = agreed
    assert response == "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
    held = held_after_one_message_each_way(deflate, 12)
    # A compressor of 12 bits and memLevel 5 (38 KiB) and an inflater of 12 bits (11 KiB); zlib's
    # defaults (15 bits, memLevel 8, a 15-bit inflater) held 301 KiB.
    assert held <= 56 * KIB, held
    assert held >= 40 * KIB, held  # both are kept, for context takeover


def test_zlib_defaults_hold_five_times_more() -> None:
    # What every connection held before the defaults changed, for comparison.
    deflate = PerMessageDeflate(DeflateParameters(), mem_level=8)
    assert held_after_one_message_each_way(deflate, 15) > 256 * KIB


def test_a_client_that_cannot_be_given_a_window_keeps_no_inflater() -> None:
    # It did not offer client_max_window_bits, so it may use 15 bits: it is asked for no context
    # takeover instead, and its messages' inflater goes after each.
    agreed = DeflateSettings().negotiate(["permessage-deflate"])
    assert agreed is not None
    response, deflate = agreed
    assert response == "permessage-deflate; client_no_context_takeover; server_max_window_bits=12"
    assert held_after_one_message_each_way(deflate, 15) <= 40 * KIB


def test_no_context_takeover_both_ways_holds_nothing() -> None:
    settings = DeflateSettings(server_no_context_takeover=True, client_no_context_takeover=True)
    agreed = settings.negotiate([BROWSER_OFFER])
    assert agreed is not None
    response, deflate = agreed
    assert response == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=12; client_max_window_bits=12"
    )
    assert held_after_one_message_each_way(deflate, 12) == 0


def test_the_inflater_keeps_the_agreed_window() -> None:
    # A client that agreed to 12 bits but refers to the previous message 5,000 bytes back breaks the
    # agreement: the 4 KiB window kept between messages no longer holds those bytes, and it fails 1007.
    agreed = DeflateSettings().negotiate([BROWSER_OFFER])
    assert agreed is not None
    deflate = agreed[1]
    data = random_bytes(5000)
    client = zlib.compressobj(6, zlib.DEFLATED, -15)
    first = client.compress(data) + client.flush(zlib.Z_SYNC_FLUSH)
    second = client.compress(data) + client.flush(zlib.Z_SYNC_FLUSH)
    assert len(second) < 100  # one match, 5,000 bytes back
    connection = Connection(max_message_size=LIMIT, deflate=deflate)
    assert connection.receive_data(frame(OP_BINARY, first[: -len(TAIL)], rsv1=True)) == [BinaryMessage(data)]
    events = connection.receive_data(frame(OP_BINARY, second[: -len(TAIL)], rsv1=True))
    assert len(events) == 1
    assert isinstance(events[0], ConnectionFailed)
    assert events[0].error.close_code == 1007
    assert "too far back" in str(events[0].error)
    # The same client inflates well where no window was asked of it (15 bits, the default of RFC 7692).
    client = zlib.compressobj(6, zlib.DEFLATED, -15)
    connection = deflate_connection()
    for _ in range(2):
        payload = client.compress(data) + client.flush(zlib.Z_SYNC_FLUSH)
        assert connection.receive_data(frame(OP_BINARY, payload[: -len(TAIL)], rsv1=True)) == [
            BinaryMessage(data)
        ]


# --- the settings --------------------------------------------------------------------------------


def test_settings_defaults_are_those_of_the_websockets_library_server() -> None:
    settings = DeflateSettings()
    assert settings.server_max_window_bits == settings.client_max_window_bits == DEFAULT_WINDOW_BITS == 12
    assert settings.mem_level == DEFAULT_MEM_LEVEL == 5
    assert settings.level == 6
    assert not settings.server_no_context_takeover
    assert not settings.client_no_context_takeover


def test_settings_are_used_for_compressing() -> None:
    agreed = DeflateSettings(level=0, server_max_window_bits=9).negotiate([BROWSER_OFFER])
    assert agreed is not None
    response, deflate = agreed
    assert "server_max_window_bits=9" in response
    data = b"abc" * 1000
    stored = deflate.compress(data)  # level 0: stored blocks, larger than the data
    assert len(stored) > len(data)
    assert zlib.decompressobj(wbits=-9).decompress(stored + TAIL) == data


def test_client_window_of_15_asks_nothing_of_the_client() -> None:
    agreed = DeflateSettings(client_max_window_bits=15).negotiate(["permessage-deflate", BROWSER_OFFER])
    assert agreed is not None
    assert agreed[0] == "permessage-deflate; server_max_window_bits=12"
    assert agreed[1].params == DeflateParameters(server_max_window_bits=12)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("server_max_window_bits", 7, "server_max_window_bits must be between 8 and 15, got 7"),
        ("client_max_window_bits", 16, "client_max_window_bits must be between 8 and 15, got 16"),
        ("client_max_window_bits", 12.0, "client_max_window_bits must be an integer, got 12.0"),
        ("level", 10, "level must be between 0 and 9, got 10"),
        ("level", True, "level must be an integer, got True"),
        ("mem_level", 0, "mem_level must be between 1 and 9, got 0"),
        ("server_no_context_takeover", 1, "server_no_context_takeover must be True or False, got 1"),
    ],
)
def test_settings_validate(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        DeflateSettings(**{field: value})  # type: ignore[arg-type]
    assert str(caught.value) == message
