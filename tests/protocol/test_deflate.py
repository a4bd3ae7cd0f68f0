"""Tests for duplex.protocol.deflate: RFC 7692 negotiation and per-message compression."""

from __future__ import annotations

import dataclasses
import os
import random
import tracemalloc
import zlib

import pytest

from duplex.protocol.deflate import DeflateParameters, PerMessageDeflate, negotiate
from duplex.protocol.exceptions import InvalidPayload, PayloadTooBig

TAIL = b"\x00\x00\xff\xff"
MIB = 1024 * 1024


# --- negotiation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offer", "response", "params"),
    [
        ("permessage-deflate", "permessage-deflate", DeflateParameters()),
        ("permessage-deflate; client_max_window_bits", "permessage-deflate", DeflateParameters()),
        # The client's hint is echoed: the inflater can then go between messages.
        (
            "permessage-deflate; client_no_context_takeover",
            "permessage-deflate; client_no_context_takeover",
            DeflateParameters(client_no_context_takeover=True),
        ),
        (
            "permessage-deflate; client_no_context_takeover; client_max_window_bits",
            "permessage-deflate; client_no_context_takeover",
            DeflateParameters(client_no_context_takeover=True),
        ),
        (
            "permessage-deflate; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover",
            DeflateParameters(server_no_context_takeover=True),
        ),
        (
            "permessage-deflate; client_max_window_bits=12",
            "permessage-deflate; client_max_window_bits=12",
            DeflateParameters(client_max_window_bits=12),
        ),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=9; client_max_window_bits=10",
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=9; client_max_window_bits=10",
            DeflateParameters(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                server_max_window_bits=9,
                client_max_window_bits=10,
            ),
        ),
        # Parameters in another order are answered in the RFC's order.
        (
            "permessage-deflate; server_max_window_bits=11; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
            DeflateParameters(server_no_context_takeover=True, server_max_window_bits=11),
        ),
        # Optional whitespace around separators.
        (
            " permessage-deflate ;\tserver_max_window_bits = 10 ; client_max_window_bits ",
            "permessage-deflate; server_max_window_bits=10",
            DeflateParameters(server_max_window_bits=10),
        ),
        # The extension token is matched case-insensitively.
        ("PerMessage-Deflate", "permessage-deflate", DeflateParameters()),
    ],
)
def test_negotiate_single_offer(offer: str, response: str, params: DeflateParameters) -> None:
    assert negotiate([offer]) == (response, params)


@pytest.mark.parametrize("bits", range(8, 16))
def test_negotiate_server_max_window_bits(bits: int) -> None:
    assert negotiate([f"permessage-deflate; server_max_window_bits={bits}"]) == (
        f"permessage-deflate; server_max_window_bits={bits}",
        DeflateParameters(server_max_window_bits=bits),
    )


@pytest.mark.parametrize("bits", range(8, 16))
def test_negotiate_client_max_window_bits_value(bits: int) -> None:
    assert negotiate([f"permessage-deflate; client_max_window_bits={bits}"]) == (
        f"permessage-deflate; client_max_window_bits={bits}",
        DeflateParameters(client_max_window_bits=bits),
    )


@pytest.mark.parametrize(
    ("offer", "response"),
    [
        # The Autobahn testsuite 13.x offers, as its fuzzing client sends them.
        ("permessage-deflate", "permessage-deflate"),
        (
            "permessage-deflate; client_no_context_takeover; client_max_window_bits",
            "permessage-deflate; client_no_context_takeover",
        ),
        ("permessage-deflate; server_max_window_bits=8", "permessage-deflate; server_max_window_bits=8"),
        ("permessage-deflate; server_max_window_bits=15", "permessage-deflate; server_max_window_bits=15"),
        (
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=8",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=8",
        ),
        (
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=15",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=15",
        ),
        (
            "permessage-deflate; client_max_window_bits; server_max_window_bits=8, "
            "permessage-deflate; client_no_context_takeover, permessage-deflate",
            "permessage-deflate; server_max_window_bits=8",
        ),
    ],
)
def test_negotiate_autobahn_offers(offer: str, response: str) -> None:
    result = negotiate([offer])
    assert result is not None
    assert result[0] == response


def test_negotiate_server_preferences() -> None:
    # The server may ask for no context takeover in both directions even if the client did not offer.
    assert negotiate(
        ["permessage-deflate; client_max_window_bits"],
        server_no_context_takeover=True,
        client_no_context_takeover=True,
    ) == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        DeflateParameters(server_no_context_takeover=True, client_no_context_takeover=True),
    )
    # A smaller server window is announced even when the client did not ask.
    assert negotiate(["permessage-deflate"], server_max_window_bits=10) == (
        "permessage-deflate; server_max_window_bits=10",
        DeflateParameters(server_max_window_bits=10),
    )
    # The server answers the smaller of the client's request and its own limit.
    assert negotiate(["permessage-deflate; server_max_window_bits=12"], server_max_window_bits=10) == (
        "permessage-deflate; server_max_window_bits=10",
        DeflateParameters(server_max_window_bits=10),
    )
    assert negotiate(["permessage-deflate; server_max_window_bits=9"], server_max_window_bits=10) == (
        "permessage-deflate; server_max_window_bits=9",
        DeflateParameters(server_max_window_bits=9),
    )


def test_negotiate_client_window_limit() -> None:
    # Bare client_max_window_bits: the server may choose the client's window.
    assert negotiate(["permessage-deflate; client_max_window_bits"], client_max_window_bits=10) == (
        "permessage-deflate; client_max_window_bits=10",
        DeflateParameters(client_max_window_bits=10),
    )
    # With a hint, the answer is never above the hint.
    assert negotiate(["permessage-deflate; client_max_window_bits=12"], client_max_window_bits=10) == (
        "permessage-deflate; client_max_window_bits=10",
        DeflateParameters(client_max_window_bits=10),
    )
    assert negotiate(["permessage-deflate; client_max_window_bits=9"], client_max_window_bits=14) == (
        "permessage-deflate; client_max_window_bits=9",
        DeflateParameters(client_max_window_bits=9),
    )
    # A client that did not offer client_max_window_bits is never sent it and may use a 15-bit
    # window; so that no larger inflater than asked for outlives a message, it is asked for no
    # context takeover instead.
    assert negotiate(["permessage-deflate"], client_max_window_bits=10) == (
        "permessage-deflate; client_no_context_takeover",
        DeflateParameters(client_no_context_takeover=True),
    )
    # Unless the limit is 15: nothing to ask then.
    assert negotiate(["permessage-deflate"], client_max_window_bits=15) == (
        "permessage-deflate",
        DeflateParameters(),
    )


def test_negotiate_echoes_the_client_no_context_takeover_hint() -> None:
    # RFC 7692 section 7.1.1.2: the server may include it in the response, "to avoid taking over the
    # LZ77 sliding window unnecessarily"; the client, having offered it, loses nothing.
    result = negotiate(["permessage-deflate; client_no_context_takeover"])
    assert result == (
        "permessage-deflate; client_no_context_takeover",
        DeflateParameters(client_no_context_takeover=True),
    )


@pytest.mark.parametrize(
    "offer",
    [
        'permessage-deflate; server_max_window_bits="10"',
        'permessage-deflate; server_max_window_bits="1\\0"',
        'permessage-deflate;server_max_window_bits= "10"',
    ],
)
def test_negotiate_quoted_values(offer: str) -> None:
    assert negotiate([offer]) == (
        "permessage-deflate; server_max_window_bits=10",
        DeflateParameters(server_max_window_bits=10),
    )


def test_negotiate_quoted_client_max_window_bits() -> None:
    assert negotiate(['permessage-deflate; client_max_window_bits="12"']) == (
        "permessage-deflate; client_max_window_bits=12",
        DeflateParameters(client_max_window_bits=12),
    )


@pytest.mark.parametrize(
    "bad_offer",
    [
        "permessage-deflate; unknown_param",
        "permessage-deflate; unknown_param=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits=08",
        "permessage-deflate; server_max_window_bits=+9",
        "permessage-deflate; server_max_window_bits=abc",
        'permessage-deflate; server_max_window_bits=""',
        'permessage-deflate; server_max_window_bits="10 "',
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=16",
        'permessage-deflate; client_max_window_bits=""',
        "permessage-deflate; server_no_context_takeover=1",
        'permessage-deflate; server_no_context_takeover=""',
        "permessage-deflate; client_no_context_takeover=true",
        "permessage-deflate; Server_No_Context_Takeover",
        "permessage-deflate;",
        "permessage-deflate; ; server_no_context_takeover",
        "permessage-deflate; =10",
        "permessage-deflate; server_max_window_bits=1 0",
        'permessage-deflate; server_max_window_bits="10',
    ],
)
def test_negotiate_declines_bad_offer_and_falls_back(bad_offer: str) -> None:
    assert negotiate([bad_offer]) is None
    # The next acceptable offer is taken, whether in the same header value or in the next one.
    fallback = ("permessage-deflate; client_max_window_bits=11", DeflateParameters(client_max_window_bits=11))
    assert negotiate([bad_offer, "permessage-deflate; client_max_window_bits=11"]) == fallback
    if bad_offer.count('"') % 2 == 0:  # an unterminated quote swallows the rest of its header value
        assert negotiate([f"{bad_offer}, permessage-deflate; client_max_window_bits=11"]) == fallback


def test_negotiate_picks_first_acceptable_offer() -> None:
    assert negotiate(
        [
            "permessage-deflate; server_max_window_bits=10, permessage-deflate; server_no_context_takeover",
            "permessage-deflate",
        ]
    ) == ("permessage-deflate; server_max_window_bits=10", DeflateParameters(server_max_window_bits=10))
    assert negotiate(
        [
            "x-webkit-deflate-frame",
            "permessage-deflate; bogus, permessage-deflate; server_no_context_takeover",
        ]
    ) == (
        "permessage-deflate; server_no_context_takeover",
        DeflateParameters(server_no_context_takeover=True),
    )


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [""],
        ["  ,  , "],
        ["x-webkit-deflate-frame"],
        ["deflate-frame; no_context_takeover", "x-webkit-deflate-frame; max_window_bits=10"],
        ["permessage-deflatex", "permessage-foo"],
        ['"permessage-deflate"'],
        ["permessage-deflate; server_max_window_bits=20, permessage-deflate; x"],
        ["permessage-deflate\u00e9"],
        ['permessage-deflate; server_max_window_bits="1\u20ac"'],
    ],
)
def test_negotiate_nothing_acceptable(headers: list[str]) -> None:
    assert negotiate(headers) is None


def test_negotiate_ignores_other_extensions_and_their_quoted_commas() -> None:
    assert negotiate(
        ['x-foo; a="b, permessage-deflate; c"; d, permessage-deflate; server_max_window_bits=9']
    ) == (
        "permessage-deflate; server_max_window_bits=9",
        DeflateParameters(server_max_window_bits=9),
    )
    assert negotiate(["x-webkit-deflate-frame, permessage-deflate"]) == (
        "permessage-deflate",
        DeflateParameters(),
    )


@pytest.mark.parametrize("bits", [7, 16, 0])
def test_negotiate_rejects_bad_preferences(bits: int) -> None:
    with pytest.raises(ValueError, match="server_max_window_bits"):
        negotiate(["permessage-deflate"], server_max_window_bits=bits)
    with pytest.raises(ValueError, match="client_max_window_bits"):
        negotiate(["permessage-deflate"], client_max_window_bits=bits)


def test_parameters_validate_window_bits() -> None:
    with pytest.raises(ValueError, match="server_max_window_bits"):
        DeflateParameters(server_max_window_bits=7)
    with pytest.raises(ValueError, match="client_max_window_bits"):
        DeflateParameters(client_max_window_bits=16)


def test_constructor_validates_levels() -> None:
    with pytest.raises(ValueError, match="compress_level"):
        PerMessageDeflate(DeflateParameters(), compress_level=10)
    with pytest.raises(ValueError, match="mem_level"):
        PerMessageDeflate(DeflateParameters(), mem_level=0)


# --- compression: RFC 7692 section 7.2.3 examples ----------------------------------------------------


def test_rfc_example_hello() -> None:
    sender = PerMessageDeflate(DeflateParameters())
    assert sender.compress(b"Hello") == bytes.fromhex("f248cdc9c90700")
    # 7.2.3.2: with context takeover, the second "Hello" is a back-reference.
    assert sender.compress(b"Hello") == bytes.fromhex("f200110000")


def test_rfc_example_hello_no_context_takeover() -> None:
    sender = PerMessageDeflate(DeflateParameters(server_no_context_takeover=True))
    assert sender.compress(b"Hello") == bytes.fromhex("f248cdc9c90700")
    assert sender.compress(b"Hello") == bytes.fromhex("f248cdc9c90700")


def test_rfc_example_decompress() -> None:
    receiver = PerMessageDeflate(DeflateParameters())
    assert receiver.decompress(bytes.fromhex("f248cdc9c90700"), 100, True) == b"Hello"
    assert receiver.decompress(bytes.fromhex("f200110000"), 100, True) == b"Hello"
    # 7.2.3.1, fragmented.
    assert receiver.decompress(bytes.fromhex("f248cd"), 100, False) == b"He"
    assert receiver.decompress(bytes.fromhex("c9c90700"), 100, True) == b"llo"
    # 7.2.3.3: a stored (uncompressed) block.
    assert receiver.decompress(bytes.fromhex("0005 00faff 48656c6c6f 00"), 100, True) == b"Hello"


def test_empty_final_fragment_completes_the_message() -> None:
    receiver = PerMessageDeflate(DeflateParameters())
    assert receiver.decompress(bytes.fromhex("f248cdc9c90700"), 100, False) == b"Hello"
    assert receiver.decompress(b"", 100, True) == b""
    assert receiver.decompress(bytes.fromhex("f200110000"), 100, True) == b"Hello"


def test_payload_free_message_is_empty_and_keeps_the_context() -> None:
    # RSV1 set on a message without any payload: nothing to inflate, and the shared window must
    # stay usable for the next message (which refers back to the first "Hello").
    receiver = PerMessageDeflate(DeflateParameters())
    assert receiver.decompress(bytes.fromhex("f248cdc9c90700"), 100, True) == b"Hello"
    assert receiver.decompress(b"", 100, False) == b""
    assert receiver.decompress(b"", 100, True) == b""
    assert receiver.decompress(bytes.fromhex("f200110000"), 100, True) == b"Hello"


@pytest.mark.parametrize("trailer", [b"", b"\x00", b"\x00\x00\xff\xff"])
def test_bfinal_block_then_fresh_stream(trailer: bytes) -> None:
    # 7.2.3.4: a sender may end a message with a BFINAL block; the next message is a new stream.
    receiver = PerMessageDeflate(DeflateParameters())
    final_block = bytes.fromhex("f348cdc9c90700")
    assert receiver.decompress(final_block + trailer, 100, True) == b"Hello"
    assert receiver.decompress(final_block[:3], 100, False) == b"He"
    assert receiver.decompress(final_block[3:], 100, False) == b"llo"
    assert receiver.decompress(b"ignored after the end", 100, True) == b""
    assert receiver.decompress(bytes.fromhex("f248cdc9c90700"), 100, True) == b"Hello"


def test_empty_message() -> None:
    for params in (DeflateParameters(), DeflateParameters(server_no_context_takeover=True)):
        sender = PerMessageDeflate(params)
        receiver = PerMessageDeflate(mirror(params))
        for message in (b"", b"abc", b"", b""):
            payload = sender.compress(message)
            assert payload  # an empty stored block header, never an empty payload
            assert receiver.decompress(payload, len(message), True) == message
            assert zlib.decompressobj(wbits=-15).decompress(payload + TAIL) == message


# --- compression: round trips ------------------------------------------------------------------------


def mirror(params: DeflateParameters) -> DeflateParameters:
    """The same agreement seen from the other end: what the server sends, the client receives."""
    return DeflateParameters(
        server_no_context_takeover=params.client_no_context_takeover,
        client_no_context_takeover=params.server_no_context_takeover,
        server_max_window_bits=params.client_max_window_bits,
        client_max_window_bits=params.server_max_window_bits,
    )


def sample(size: int, seed: int) -> bytes:
    """Text-like data that compresses, with some random bytes mixed in."""
    rng = random.Random(seed)
    words = [
        b"alpha",
        b"beta",
        b"gamma",
        b"delta",
        b"\xce\xbb",
        b"\n",
        bytes(rng.randrange(256) for _ in range(8)),
    ]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) + b" "
    return bytes(out[:size])


def inflate_in_frames(receiver: PerMessageDeflate, payload: bytes, frames: int, max_length: int) -> bytes:
    """Feed ``payload`` as ``frames`` fragments, shrinking the budget as the caller would."""
    step = max(1, -(-len(payload) // frames))
    chunks = [payload[i : i + step] for i in range(0, len(payload), step)] or [b""]
    output = []
    budget = max_length
    for index, chunk in enumerate(chunks):
        piece = receiver.decompress(chunk, budget, index == len(chunks) - 1)
        budget -= len(piece)
        output.append(piece)
    return b"".join(output)


@pytest.mark.parametrize("size", [0, 1, 100, 64 * 1024, MIB])
@pytest.mark.parametrize("no_context_takeover", [False, True])
@pytest.mark.parametrize("frames", [1, 3, 17])
def test_round_trip(size: int, no_context_takeover: bool, frames: int) -> None:
    params = DeflateParameters(
        server_no_context_takeover=no_context_takeover, client_no_context_takeover=no_context_takeover
    )
    server = PerMessageDeflate(params)
    client = PerMessageDeflate(mirror(params))
    messages = [sample(size, seed) for seed in range(3)] + [sample(size, 0)]
    for message in messages:
        # Server to client, then client to server, each split into frames.
        payload = server.compress(message)
        assert inflate_in_frames(client, payload, frames, len(message)) == message
        payload = client.compress(message)
        assert inflate_in_frames(server, payload, frames, len(message)) == message


def test_context_takeover_shrinks_repeated_messages() -> None:
    message = os.urandom(2000)
    with_context = PerMessageDeflate(DeflateParameters())
    first = with_context.compress(message)
    assert len(with_context.compress(message)) < len(first) // 10

    without_context = PerMessageDeflate(DeflateParameters(server_no_context_takeover=True))
    first = without_context.compress(message)
    second = without_context.compress(message)
    assert second == first
    # Each message stands alone: a fresh inflater decodes it.
    assert zlib.decompressobj(wbits=-15).decompress(second + TAIL) == message


def inflate_strictly(inflater: zlib._Decompress, data: bytes) -> bytes:
    """Inflate 16 bytes per call, so that back-references must come from the inflater's own window.

    Within one call zlib may also copy from that call's output buffer, which would hide a distance
    larger than the window; small calls leave it no such buffer to hide in.
    """
    output = []
    while data:
        output.append(inflater.decompress(data, 16))
        data = inflater.unconsumed_tail
    return b"".join(output)


def test_inflate_strictly_catches_a_too_large_window() -> None:
    message = random.Random(0).randbytes(300) * 4
    compressor = zlib.compressobj(wbits=-15)
    data = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
    with pytest.raises(zlib.error, match="too far back"):
        inflate_strictly(zlib.decompressobj(wbits=-8), data)


@pytest.mark.parametrize("bits", range(8, 16))
@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_server_output_fits_agreed_window(bits: int, no_context_takeover: bool) -> None:
    # A client inflating with exactly the agreed window must decode everything. Blocks repeated just
    # beyond the window tempt a compressor to reach too far back; for 8 bits, where zlib compresses
    # with 9, 300-byte blocks are beyond the 256-byte window but within zlib's 512-byte one.
    params = DeflateParameters(server_no_context_takeover=no_context_takeover, server_max_window_bits=bits)
    server = PerMessageDeflate(params)
    client = zlib.decompressobj(wbits=-bits)
    rng = random.Random(bits)
    for _ in range(3):
        message = rng.randbytes(300) * 8 + rng.randbytes((1 << bits) + 50) * 3 + sample(5000, bits)
        if no_context_takeover:
            client = zlib.decompressobj(wbits=-bits)
        assert inflate_strictly(client, server.compress(message) + TAIL) == message


def client_compressor(bits: int) -> zlib._Compress:
    try:
        return zlib.compressobj(wbits=-bits)
    except ValueError:
        # zlib refuses a raw 8-bit window; 9 only ever reaches back 250 bytes, within 8 bits.
        assert bits == 8
        return zlib.compressobj(wbits=-9)


@pytest.mark.parametrize("bits", range(8, 16))
def test_decompress_raw_zlib_client(bits: int) -> None:
    server = PerMessageDeflate(DeflateParameters(client_max_window_bits=bits))
    compressor = client_compressor(bits)
    for seed in range(4):
        message = sample(20_000, seed) * 2
        data = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(TAIL)
        assert inflate_in_frames(server, data[:-4], 5, len(message)) == message


@pytest.mark.parametrize("bits", range(8, 16))
def test_decompress_raw_zlib_client_no_context_takeover(bits: int) -> None:
    server = PerMessageDeflate(
        DeflateParameters(client_no_context_takeover=True, client_max_window_bits=bits)
    )
    for seed in range(3):
        compressor = client_compressor(bits)
        message = sample(10_000, seed)
        data = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert server.decompress(data[:-4], len(message), True) == message


# --- bounded inflation -------------------------------------------------------------------------------


def zeros_bomb(size: int) -> bytes:
    """``size`` zero bytes, deflated, without ever holding them all in memory."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(MIB)
    parts = [compressor.compress(chunk) for _ in range(size // MIB)]
    parts.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    return b"".join(parts)[:-4]


def test_deflate_bomb_is_refused_without_inflating_it() -> None:
    bomb = zeros_bomb(10 * 10 * MIB)  # 100 MiB of zeros in about 100 KB
    assert len(bomb) < 200_000
    receiver = PerMessageDeflate(DeflateParameters())
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooBig) as info:
            receiver.decompress(bomb, MIB, True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.close_code == 1009
    assert peak < 4 * MIB


def test_deflate_bomb_split_across_frames() -> None:
    bomb = zeros_bomb(10 * MIB)
    receiver = PerMessageDeflate(DeflateParameters())
    with pytest.raises(PayloadTooBig):
        inflate_in_frames(receiver, bomb, 50, MIB)


def test_budget_is_exact() -> None:
    message = sample(50_000, 1)
    payload = PerMessageDeflate(DeflateParameters(server_no_context_takeover=True)).compress(message)
    assert PerMessageDeflate(DeflateParameters()).decompress(payload, len(message), True) == message
    with pytest.raises(PayloadTooBig):
        PerMessageDeflate(DeflateParameters()).decompress(payload, len(message) - 1, True)
    # Non-final frames respect the budget too.
    with pytest.raises(PayloadTooBig):
        PerMessageDeflate(DeflateParameters()).decompress(payload, len(message) - 1, False)
    # An empty message fits a zero budget.
    empty = PerMessageDeflate(DeflateParameters()).compress(b"")
    assert PerMessageDeflate(DeflateParameters()).decompress(empty, 0, True) == b""


def test_tail_respects_budget() -> None:
    # A stored block announced as 10 bytes but cut after 6: the appended tail becomes its last 4 bytes
    # of content, and that output counts against the budget like any other.
    data = bytes.fromhex("00 0a00 f5ff") + b"abcdef"
    assert PerMessageDeflate(DeflateParameters()).decompress(data, 10, True) == b"abcdef" + TAIL
    with pytest.raises(PayloadTooBig):
        PerMessageDeflate(DeflateParameters()).decompress(data, 9, True)
    with pytest.raises(PayloadTooBig):
        PerMessageDeflate(DeflateParameters()).decompress(data, 6, True)


def test_negative_budget_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="max_length"):
        PerMessageDeflate(DeflateParameters()).decompress(b"\x00", -1, True)


# --- corrupt data ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xff\xff\xff",
        b"\x07",  # BTYPE 11 is reserved
        bytes.fromhex("0005 0000"),  # stored block whose NLEN is not ~LEN
        bytes.fromhex("f248cdc9c9070000") + b"\xff" * 8,
    ],
)
def test_corrupt_data_is_invalid_payload(data: bytes) -> None:
    receiver = PerMessageDeflate(DeflateParameters())
    with pytest.raises(InvalidPayload) as info:
        receiver.decompress(data, MIB, True)
    assert info.value.close_code == 1007


def test_distance_too_far_back_is_invalid_payload() -> None:
    # A back-reference to before the start of the stream.
    compressor = zlib.compressobj(wbits=-15)
    first = compressor.compress(b"Hello") + compressor.flush(zlib.Z_SYNC_FLUSH)
    second = compressor.compress(b"Hello") + compressor.flush(zlib.Z_SYNC_FLUSH)
    receiver = PerMessageDeflate(DeflateParameters(client_no_context_takeover=True))
    assert receiver.decompress(first[:-4], 100, True) == b"Hello"
    # The client promised no context takeover, so its reference to "Hello" reaches before the window.
    with pytest.raises(InvalidPayload):
        receiver.decompress(second[:-4], 100, True)


def test_params_property() -> None:
    params = DeflateParameters(server_max_window_bits=10)
    assert PerMessageDeflate(params).params is params
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.server_max_window_bits = 9  # type: ignore[misc]


def test_negotiate_wants_a_sequence_of_values() -> None:
    with pytest.raises(TypeError, match="sequence"):
        negotiate("permessage-deflate")
