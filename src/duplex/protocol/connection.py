"""One WebSocket connection, server or client side, without I/O.

Theory of operation
-------------------
A :class:`Connection` starts once the opening handshake is done. The transport feeds it every byte
the peer sends (:meth:`Connection.receive_data`) and gets back a list of events; automatic replies
(pongs, the answer to a close frame, the close frame that fails a bad peer) are queued meanwhile and
collected with :meth:`Connection.data_to_send`. To send, the transport calls :meth:`send_text`,
:meth:`send_binary`, :meth:`send_ping` or :meth:`send_close`, each of which returns the frame's
header and payload to write.

This object holds the one state of the connection, which the transport and the API above read
(the 4D ``status`` strings are derived from it)::

    OPEN ──▶ CLOSING ──▶ CLOSED
       └──────────────────▲

- ``OPEN``: messages flow both ways.
- ``CLOSING``: the close handshake is under way: our close frame is framed (by :meth:`send_close`,
  or taken with :meth:`data_to_send` as the answer to the peer's close or to a protocol error), or
  the application announced it (:meth:`start_closing`). Once a close frame went each way (or the
  peer failed), nothing more is read, and the transport writes what is queued and closes the TCP
  connection: RFC 6455 section 7.1.1 asks the server to close it first. Until our answer to the
  peer's close is taken, the state stays ``OPEN``: the handlers of the messages that came before
  that close may still send.
- ``CLOSED``: the transport reported the TCP connection gone (:meth:`transport_closed`), whether
  after a clean close handshake or dropped from ``OPEN``.

The two sides differ only on the wire (RFC 6455 section 5.1): a server reads masked frames and
writes unmasked ones; a client (``client=True``) writes every frame masked with a fresh key and
fails a server that masks. Everything else (limits, fragments, deflate, the close handshake) is the
same code: which side closes the TCP connection first is the transport's business.

The parser never raises at the transport. A protocol violation becomes a :class:`ConnectionFailed`
event carrying the exception (for ``onError``), with the close frame of the right code already
queued. Every read is bounded: a frame header announcing more than the message budget left is
refused before one byte of its payload is buffered.
"""

from __future__ import annotations

import enum
import os
import struct
import threading

from .deflate import PerMessageDeflate, max_compressed_size
from .events import BinaryMessage, CloseReceived, ConnectionFailed, Event, Ping, Pong, TextMessage
from .exceptions import InvalidPayload, PayloadTooBig, WebSocketError
from .frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    build_close_payload,
    build_frame,
    frame_header,
    frame_payload,
    is_valid_close_code,
    mask_frame,
    parse_close_payload,
    unmask,
    unmask_frame,
)
from .utf8 import Utf8Decoder

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "Connection", "State"]

DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024 + 1024

_unpack_medium = struct.Struct("!H").unpack_from
_unpack_long = struct.Struct("!Q").unpack_from

# A message may come in as many fragments as it likes, within a bound: empty continuation frames
# cost nothing against max_message_size, so without one, 6,000,000 of them (36 MB on the wire) kept
# a 1-byte message going and took 504 MiB. The bound lets any message up to max_message_size arrive
# in fragments of 64 bytes on average (Autobahn's 9.x cases use 64-byte fragments), and any message
# of up to 1,024 bytes arrive one byte per fragment.
_MIN_FRAGMENT_LIMIT = 1024
_FRAGMENT_SIZE_FOR_LIMIT = 64

# A client's masking keys (RFC 6455 section 5.3: from a strong source of entropy, which ``random``
# is not): os.urandom costs a system call, so keys are drawn 1,024 at a time and each used once.
_MASK_POOL_SIZE = 4096


# The 2-byte headers of unfragmented, uncompressed text and binary frames with a 7-bit length,
# built once: a table lookup instead of a struct.pack per small message.
SHORT_HEADERS = {
    opcode: [bytes((0x80 | opcode, length)) for length in range(126)] for opcode in (OP_TEXT, OP_BINARY)
}


class State(enum.Enum):
    """Where the connection is in its lifetime (see the module's theory of operation)."""

    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


# Module-level names for the members: the per-message checks compare against these (a global
# read, where ``State.OPEN`` is a global read plus a class attribute lookup).
_OPEN = State.OPEN
_CLOSING = State.CLOSING
_CLOSED = State.CLOSED


class Connection:
    """One WebSocket connection, sans I/O.

    Args:
        max_message_size: the largest message accepted, in bytes after decompression; a bigger
            frame or message fails the connection with 1009.
        deflate: the permessage-deflate state when the extension was negotiated, else None (made
            for the same side: ``PerMessageDeflate(params, client=True)`` for a client).
        client: the client side: frames sent are masked, frames received must not be.
    """

    def __init__(
        self,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        deflate: PerMessageDeflate | None = None,
        client: bool = False,
    ) -> None:
        if max_message_size <= 0:
            raise ValueError("max_message_size must be a positive number of bytes")
        #: the client side (masks what it sends); False for a server
        self.client = client
        self._mask_pool = b""
        self._mask_at = _MASK_POOL_SIZE
        self.max_message_size = max_message_size
        #: the most frames one message may be split into; more fails the connection with 1009
        self.max_fragments = max(_MIN_FRAGMENT_LIMIT, max_message_size // _FRAGMENT_SIZE_FOR_LIMIT)
        self.deflate = deflate
        self.state = _OPEN
        # The two transitions another thread can race: start_closing() (the application closes from
        # any thread) and transport_closed() (on the loop). The lock keeps CLOSED final.
        self._state_lock = threading.Lock()
        # False once nothing more is parsed: the peer's close frame arrived, or the peer failed.
        self._receiving = True
        #: the peer's close code and reason, once its close frame arrived (1006 if it never did)
        self.close_code = 1006
        self.close_reason = ""
        self._close_sent = False
        self._buffer = bytearray()
        self._pending: list[bytes] = []
        # A close frame decided while receiving (a reply, or a failure) waits here for
        # data_to_send(), so that replies to messages parsed before it still go out ahead of it.
        self._pending_close: bytes | None = None
        # An uncompressed text frame whose payload is still arriving is decoded as it comes, so
        # invalid UTF-8 fails as soon as its bytes arrive, not when the frame is complete.
        self._stream_left = 0
        self._stream_mask = b""
        self._stream_offset = 0
        self._stream_fin = 0
        self._stream_opcode = OP_TEXT
        # The message being assembled: its opcode (None between messages), whether it is compressed,
        # its size so far, and its parts (str for text, decoded as they come; bytes for binary).
        self._message_opcode: int | None = None
        self._message_compressed = False
        self._message_size = 0
        self._message_fragments = 0
        self._text_parts: list[str] = []
        self._binary_parts: list[bytes] = []
        self._utf8: Utf8Decoder | None = None

    # -- receiving ---------------------------------------------------------------------------

    def receive_whole_message(self, data: bytes) -> str | bytes | None:
        """The fast path for the common read: ``data`` is exactly one whole, unfragmented,
        uncompressed text or binary frame (from a client: with a 7-bit length), and nothing is
        pending. Returns its message (``str`` or ``bytes``). Otherwise returns None and changes
        nothing: feed the same bytes to :meth:`receive_data`, which does every check (anything
        invalid goes there too).

        Measured to halve the cost of a small message, and it spares the transport the event
        object and the list that :meth:`receive_data` returns.
        """
        if not self._between_messages() or len(data) < 2:
            return None
        if self.client:  # the server's frames carry no mask
            return self._whole_server_frame(data, len(data))
        if len(data) < 6:
            return None
        first = data[0]
        length = data[1] ^ 0x80  # the mask bit must be set: flipping it leaves the length
        if (first == 0x82 or first == 0x81) and length < 126 and len(data) == 6 + length:
            if length > self.max_message_size:
                return None
            payload = unmask_frame(data, 2)  # no slices: the C unmask reads the frame in place
            if first == 0x82:
                return payload
            try:
                return payload.decode()
            except UnicodeDecodeError:
                return None  # receive_data fails the connection with 1007
        return None

    def receive_whole_message_in(self, buffer: bytearray, size: int) -> str | bytes | None:
        """:meth:`receive_whole_message` for a client that reads into a buffer of its own: the
        first ``size`` bytes of ``buffer`` are the read. The message is copied (or decoded) once,
        straight out of the buffer, which the caller may then reuse. None as there: then feed
        ``bytes(buffer[:size])`` to :meth:`receive_frames`.
        """
        if not self.client or not self._between_messages() or size < 2:
            return None
        return self._whole_server_frame(buffer, size)

    def _between_messages(self) -> bool:
        """Open, reading, nothing buffered and no message under way: a read may be one whole frame."""
        return self.state is _OPEN and self._receiving and not self._buffer and self._message_opcode is None

    def _whole_server_frame(self, data: bytes | bytearray, size: int) -> str | bytes | None:
        """The message of ``data[:size]`` if it is exactly one whole unfragmented, uncompressed text
        or binary frame from a server, of any length: a server's large messages come whole in one
        read too, and :func:`frame_payload` takes them out in one copy (receive_frames would
        buffer, cut and copy them). Else None. A set mask bit makes the length byte 128 or more:
        not taken here, failed by receive_frames."""
        first = data[0]
        if first != 0x82 and first != 0x81:
            return None
        length = data[1]
        header_size = 2
        if length == 126:
            if size < 4:
                return None
            (length,) = _unpack_medium(data, 2)
            header_size = 4
        elif length == 127:
            if size < 10:
                return None
            (length,) = _unpack_long(data, 2)
            header_size = 10
        elif length > 127:
            return None
        if size != header_size + length or length > self.max_message_size:
            return None
        try:
            return frame_payload(data, header_size, size, first == 0x81)
        except UnicodeDecodeError:
            return None  # receive_frames fails the connection with 1007

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes from the peer; returns the events they complete, in order."""
        whole = self.receive_whole_message(data)
        if whole is not None:
            return [BinaryMessage(whole) if isinstance(whole, bytes) else TextMessage(whole)]
        return self.receive_frames(data)

    def receive_frames(self, data: bytes) -> list[Event]:
        """:meth:`receive_data` without its fast path: for a transport that tried
        :meth:`receive_whole_message` on these bytes already."""
        if not self._receiving:
            return []
        buffer = self._buffer
        buffer += data
        events: list[Event] = []
        position = 0
        try:
            # The hot loop: header fields are read straight from the buffer, and a frame is cut out
            # only once all of it is there. Checks that need only the header come first, so that a
            # bad frame fails as soon as its first two bytes arrive.
            while True:
                available = len(buffer) - position
                if self._stream_left:
                    if not available:
                        break
                    position = self._stream_text(buffer, position, available, events)
                    continue
                if available < 2:
                    break
                first = buffer[position]
                second = buffer[position + 1]
                fin = first & 0x80
                rsv1 = first & 0x40
                opcode = first & 0x0F
                if first & 0x30:
                    raise WebSocketError("reserved bits RSV2/RSV3 set without an extension that defines them")
                if opcode > 2 and opcode not in (OP_CLOSE, OP_PING, OP_PONG):
                    raise WebSocketError(f"reserved opcode {opcode:#x}")
                if self.client:
                    if second & 0x80:
                        raise WebSocketError("server frame is masked (RFC 6455 section 5.1)")
                    header_size = 2
                else:
                    if not second & 0x80:
                        raise WebSocketError("client frame is not masked (RFC 6455 section 5.1)")
                    header_size = 6
                length = second & 0x7F
                if opcode >= OP_CLOSE:
                    if not fin:
                        raise WebSocketError("fragmented control frame")
                    if length > 125:
                        raise WebSocketError("control frame payload over 125 bytes")
                    if rsv1:
                        raise WebSocketError("RSV1 set on a control frame")
                elif length == 126:
                    if available < 4:
                        break
                    (length,) = _unpack_medium(buffer, position + 2)
                    header_size += 2
                elif length == 127:
                    if available < 10:
                        break
                    (length,) = _unpack_long(buffer, position + 2)
                    if length >> 63:
                        raise WebSocketError("frame length with the most significant bit set")
                    header_size += 8
                if opcode < OP_CLOSE:
                    self._check_data_frame(opcode, rsv1, length)
                end = position + header_size + length
                if len(buffer) < end:
                    if available > header_size and self._is_streamable_text(opcode, rsv1):
                        self._start_text_stream(buffer, position, header_size, opcode, length, fin)
                        position += header_size
                        continue
                    break
                if self.client:
                    payload = bytes(memoryview(buffer)[position + header_size : end])  # one copy
                else:
                    mask = bytes(buffer[position + header_size - 4 : position + header_size])
                    payload = unmask(memoryview(buffer)[position + header_size : end], mask)
                position = end
                if opcode < OP_CLOSE:
                    message = self._receive_data_frame(opcode, rsv1, payload, fin)
                    if message is not None:
                        events.append(message)
                else:
                    self._receive_control_frame(opcode, payload, events)
                    if not self._receiving:
                        break
        except WebSocketError as error:
            self._fail(error, events)
        if not self._receiving:
            buffer.clear()
        else:
            del buffer[:position]
        return events

    def receive_eof(self) -> list[Event]:
        """The peer closed its side of the TCP connection, without (or after) a close frame: nothing
        more is read. The state changes when the transport reports the connection gone."""
        self._receiving = False
        self._buffer.clear()
        return []

    def transport_closed(self) -> None:
        """The TCP connection is gone (closed by either side, or dropped): the state becomes CLOSED.

        ``close_code`` stays 1006 unless a close frame arrived (or we failed the peer) before.
        """
        # acquire()/release() rather than ``with``: the context-manager calls cost more than the lock.
        lock = self._state_lock
        lock.acquire()
        self.state = _CLOSED
        lock.release()
        self._receiving = False
        self._buffer.clear()

    def start_closing(self) -> None:
        """Enter CLOSING before the close frame is framed: the application decided to close and the
        frame follows on the loop (messages sent before that still go out first). Safe from any thread.
        """
        if self.state is not _OPEN:
            return  # CLOSING and CLOSED never go back to OPEN: no lock needed to see that
        lock = self._state_lock
        lock.acquire()
        if self.state is _OPEN:
            self.state = _CLOSING
        lock.release()

    def _is_streamable_text(self, opcode: int, rsv1: int) -> bool:
        if opcode == OP_TEXT:
            return not rsv1
        return opcode == OP_CONTINUATION and self._message_opcode == OP_TEXT and not self._message_compressed

    def _start_text_stream(
        self, buffer: bytearray, position: int, header_size: int, opcode: int, length: int, fin: int
    ) -> None:
        self._stream_left = length
        # A client's stream has no mask: b"" reads as "copy, do not unmask".
        self._stream_mask = (
            b"" if self.client else bytes(buffer[position + header_size - 4 : position + header_size])
        )
        self._stream_offset = 0
        self._stream_fin = fin
        self._stream_opcode = opcode

    def _stream_text(self, buffer: bytearray, position: int, available: int, events: list[Event]) -> int:
        """Decode the part of a streamed text frame's payload that has arrived; returns the new position."""
        take = min(available, self._stream_left)
        if self._stream_mask:
            shift = self._stream_offset & 3
            mask = self._stream_mask[shift:] + self._stream_mask[:shift] if shift else self._stream_mask
            chunk = unmask(memoryview(buffer)[position : position + take], mask)
        else:
            chunk = bytes(memoryview(buffer)[position : position + take])
        self._stream_left -= take
        last = self._stream_left == 0
        # The first chunk opens the message (or continues it); later ones continue it.
        opcode = self._stream_opcode if self._stream_offset == 0 else OP_CONTINUATION
        self._stream_offset += take
        message = self._receive_data_frame(opcode, 0, chunk, self._stream_fin if last else 0)
        if message is not None:
            events.append(message)
        return position + take

    def _check_data_frame(self, opcode: int, rsv1: int, length: int) -> None:
        """Header-only checks of a data frame, done before its payload is buffered."""
        if opcode == OP_CONTINUATION:
            if self._message_opcode is None:
                raise WebSocketError("continuation frame without a message to continue")
            if rsv1:
                raise WebSocketError("RSV1 set on a continuation frame (RFC 7692 section 6.1)")
            compressed = self._message_compressed
            self._message_fragments += 1
            if self._message_fragments > self.max_fragments:
                raise PayloadTooBig(f"message split into more than {self.max_fragments} fragments")
        else:
            if self._message_opcode is not None:
                raise WebSocketError("new data frame before the previous message's last fragment")
            if rsv1 and self.deflate is None:
                raise WebSocketError("RSV1 set but permessage-deflate was not negotiated")
            compressed = bool(rsv1)
            self._message_fragments = 1
            if not compressed:
                # A new message: its budget starts whole.
                if length > self.max_message_size:
                    raise PayloadTooBig(
                        f"message of {length} bytes over the limit of {self.max_message_size}"
                    )
                return
        if compressed:
            # max_message_size counts inflated bytes, and the inflater holds a message to it exactly.
            # Incompressible data grows when deflated, so a compressed frame is refused (before it is
            # buffered) only when it is larger than any DEFLATE encoder makes a message at the limit.
            if length > max_compressed_size(self.max_message_size):
                raise PayloadTooBig(
                    f"compressed frame of {length} bytes, more than a message within the limit of "
                    f"{self.max_message_size} bytes compresses to"
                )
        elif length > self.max_message_size - self._message_size:
            raise PayloadTooBig(f"message over the limit of {self.max_message_size} bytes")

    def _receive_data_frame(self, opcode: int, rsv1: int, payload: bytes, fin: int) -> Event | None:
        if opcode != OP_CONTINUATION:
            self._message_opcode = opcode
            self._message_compressed = bool(rsv1)
            self._message_size = 0
            if opcode == OP_TEXT:
                # Fast path: a whole uncompressed text message in one frame decodes in one call.
                if fin and not rsv1:
                    self._message_opcode = None
                    return TextMessage(self._decode_whole_text(payload))
                self._utf8 = Utf8Decoder()
            elif fin and not rsv1:
                self._message_opcode = None
                return BinaryMessage(payload)
        if self._message_compressed:
            assert self.deflate is not None
            payload = self.deflate.decompress(payload, self.max_message_size - self._message_size, bool(fin))
        self._message_size += len(payload)
        if self._message_size > self.max_message_size:
            raise PayloadTooBig(f"message over the limit of {self.max_message_size} bytes")
        if self._message_opcode == OP_TEXT:
            assert self._utf8 is not None
            text = self._utf8.decode(payload, bool(fin))
            if text:
                self._text_parts.append(text)
        elif payload:  # empty fragments are counted (max_fragments), not kept
            self._binary_parts.append(payload)
        if not fin:
            return None
        message: Event
        if self._message_opcode == OP_TEXT:
            message = TextMessage("".join(self._text_parts))
            self._text_parts = []
            self._utf8 = None
        else:
            message = BinaryMessage(b"".join(self._binary_parts))
            self._binary_parts = []
        self._message_opcode = None
        return message

    @staticmethod
    def _decode_whole_text(payload: bytes) -> str:
        try:
            return payload.decode()
        except UnicodeDecodeError as exc:
            raise InvalidPayload(f"text message is not valid UTF-8: {exc.reason}") from None

    def _receive_control_frame(self, opcode: int, payload: bytes, events: list[Event]) -> None:
        if opcode == OP_PING:
            # Answered even after our close frame: only a received close ends pongs (section 5.5.2).
            if self._pending_close is None:
                self._pending.append(self._control_frame(OP_PONG, payload))
            events.append(Ping(payload))
        elif opcode == OP_PONG:
            events.append(Pong(payload))
        else:
            code, reason = parse_close_payload(payload)
            self.close_code, self.close_reason = code, reason
            if not self._closing_started:
                # Echo the peer's code, as RFC 6455 section 5.5.1 suggests; no code gets no code.
                self._queue_close(None if code == 1005 else code, "")
            self._stop_receiving()
            events.append(CloseReceived(code, reason))

    def _fail(self, error: WebSocketError, events: list[Event]) -> None:
        """Fail the connection (RFC 6455 section 7.1.7): queue a close frame, stop reading."""
        if not self._closing_started:
            self._queue_close(error.close_code, "")
        # The peer's reply to our close frame is never read once the stream is untrusted: report
        # the code we closed with, which says why the connection ended.
        self.close_code = error.close_code
        self.close_reason = str(error)
        self._stop_receiving()
        events.append(ConnectionFailed(error))

    def _stop_receiving(self) -> None:
        """A close frame arrived, or the peer failed: nothing more is read. The state becomes
        CLOSING when :meth:`data_to_send` takes our close frame, not now: the events parsed before
        this one are still to be handled, and their handlers may still send (RFC 6455 section 5.5.1
        lets an endpoint finish what it sends before it answers a close)."""
        self._receiving = False

    def _queue_close(self, code: int | None, reason: str) -> None:
        self._pending_close = self._control_frame(OP_CLOSE, build_close_payload(code, reason))

    def _control_frame(self, opcode: int, payload: bytes) -> bytes:
        """A whole control frame as this side writes it: masked by a client."""
        if not self.client:
            return build_frame(opcode, payload)
        return self._masked_frame(0x80 | opcode, payload)

    def _masked_frame(self, first: int, payload: bytes) -> bytes:
        """A client's whole frame, masked with the next key of the pool."""
        at = self._mask_at
        if at >= _MASK_POOL_SIZE:
            self._mask_pool = os.urandom(_MASK_POOL_SIZE)
            at = 0
        self._mask_at = at + 4
        return mask_frame(first, payload, self._mask_pool, at)

    @property
    def _closing_started(self) -> bool:
        return self._close_sent or self._pending_close is not None

    def data_to_send(self) -> bytes:
        """Take the automatic replies queued while receiving: pongs, then any close frame.

        Messages sent before this call go out before the close frame; once it is taken, sending
        messages raises ``RuntimeError``.
        """
        if self._pending_close is not None:
            self._pending.append(self._pending_close)
            self._pending_close = None
            self._close_sent = True
            self.start_closing()
        if not self._pending:
            return b""
        data = b"".join(self._pending)
        self._pending.clear()
        return data

    # -- sending ----------------------------------------------------------------------------

    def send_text(self, text: str) -> tuple[bytes, bytes]:
        """Frame a text message; returns ``(header, payload)`` to write in that order."""
        return self.send_message(OP_TEXT, text.encode())

    def send_binary(self, data: bytes | bytearray | memoryview) -> tuple[bytes, bytes]:
        """Frame a binary message; returns ``(header, payload)`` to write in that order."""
        return self.send_message(OP_BINARY, bytes(data))

    def send_message(self, opcode: int, payload: bytes) -> tuple[bytes, bytes]:
        """Frame a message whose payload is already encoded (``OP_TEXT`` payloads must be UTF-8).

        Compressed when permessage-deflate was negotiated. Returns ``(header, payload)``.

        Raises:
            RuntimeError: our close frame was already sent.
        """
        if self._close_sent:
            raise RuntimeError("cannot send a message after the close frame")
        if self.client:
            # One bytes object for the whole frame, returned as the header (the payload part is
            # empty): the transport's header + payload then costs nothing.
            if self.deflate is not None:
                return self._masked_frame(0xC0 | opcode, self.deflate.compress(payload)), b""
            return self._masked_frame(0x80 | opcode, payload), b""
        if self.deflate is not None:
            payload = self.deflate.compress(payload)
            return frame_header(opcode, len(payload), rsv1=True), payload
        length = len(payload)
        if length < 126:
            return SHORT_HEADERS[opcode][length], payload
        return frame_header(opcode, length), payload

    def send_ping(self, payload: bytes = b"") -> bytes:
        """Frame a ping (payload at most 125 bytes)."""
        if len(payload) > 125:
            raise ValueError("a ping payload is at most 125 bytes")
        return self._control_frame(OP_PING, payload)

    def send_close(self, code: int | None = 1000, reason: str = "") -> bytes:
        """Start the close handshake; returns the close frame (empty if one was already sent).

        Raises:
            ValueError: ``code`` may not be sent, or the reason is over 123 bytes of UTF-8.
        """
        if code is not None and not is_valid_close_code(code):
            raise ValueError(f"close code {code} may not be sent: use 1000-1003, 1007-1014 or 3000-4999")
        if code is None and reason:
            raise ValueError("a close reason needs a close code")
        if len(reason.encode()) > 123:
            raise ValueError("close reason must be at most 123 bytes of UTF-8")
        if self._closing_started or self.state is _CLOSED:
            return b""
        self._close_sent = True
        self.start_closing()
        return self._control_frame(OP_CLOSE, build_close_payload(code, reason))

    @property
    def receiving(self) -> bool:
        """Whether bytes from the peer are still parsed (no close frame arrived, the peer did not fail)."""
        return self._receiving

    @property
    def close_sent(self) -> bool:
        """Whether our close frame was framed (no more messages may follow it)."""
        return self._close_sent
