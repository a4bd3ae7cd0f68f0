# cython: language_level=3, boundscheck=False, wraparound=False
"""The load generator's hot paths, compiled with Cython (the way picows' docs recommend for speed):
the echo and broadcast listeners, as picows ``WSListener`` extension types whose ``on_ws_frame`` is
a C call, and a bare uvloop protocol for the handshake scenario (connect, upgrade, close), because
``picows.ws_connect`` spends more Python per connection than the fastest servers do.

Built by ``benchmarks/client.py`` on first use (``cythonize -i``). Every message is compared byte
for byte with what the server had to send; any difference is reported through ``report(kind,
detail)``, never dropped.
"""

import base64
import hashlib
import os

from cpython.bytearray cimport PyByteArray_AS_STRING
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.string cimport memcmp, memcpy

from picows.picows cimport WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

cdef bytes FILL = b"-" * 48  # must match benchmarks/servers/_common.py
cdef enum:
    HEADER = 12  # 4 bytes of connection number, 8 of message counter, big-endian


cdef class Base(WSListener):
    """Reassembles fragmented messages and reports what it did not expect (the slow path)."""

    cdef public WSTransport transport
    cdef public bint closing
    cdef public object close_code
    cdef public object report
    cdef bytearray _parts
    cdef object _parts_type

    def __init__(self, report):
        self.report = report
        self.closing = False
        self.close_code = None
        self._parts = None

    cpdef on_ws_connected(self, WSTransport transport):
        self.transport = transport

    cpdef on_ws_disconnected(self, WSTransport transport):
        if not self.closing:
            self.report("dropped", "the server closed a connection the client had not closed")

    cdef object slow_frame(self, WSFrame frame):
        """Anything but an unfragmented data frame: (type, bytes) once a message is complete."""
        msg_type = frame.msg_type
        if msg_type == WSMsgType.CLOSE:
            self.close_code = frame.get_close_code()
            if not self.closing:
                self.report("server close", f"code {frame.get_close_code()} {frame.get_close_reason()!r}")
                self.closing = True
            return None
        if msg_type == WSMsgType.PING or msg_type == WSMsgType.PONG:
            return None
        if msg_type == WSMsgType.CONTINUATION:
            if self._parts is None:
                self.report("protocol", "continuation frame without a first fragment")
                return None
            self._parts += frame.get_payload_as_memoryview()
        else:
            if self._parts is not None:
                self.report("protocol", "new message inside a fragmented one")
            self._parts = bytearray(frame.get_payload_as_memoryview())
            self._parts_type = msg_type
        if not frame.fin:
            return None
        message = (self._parts_type, bytes(self._parts))
        self._parts = None
        return message


cdef class EchoListener(Base):
    """One binary message in flight: send, compare the echo byte for byte, send the next."""

    cdef public long long count
    cdef public long long n
    cdef public bint running
    cdef public bint outstanding
    cdef public object drained
    cdef unsigned int number
    cdef bytearray msg
    cdef Py_ssize_t size

    def __init__(self, number, size, pattern, report):
        super().__init__(report)
        if size < HEADER:
            raise ValueError(f"echo messages must be at least {HEADER} bytes")
        self.number = number
        self.size = size
        self.msg = bytearray(pattern[:size])
        self.count = 0
        self.n = 0
        self.running = False
        self.outstanding = False
        self.drained = None

    cpdef send_next(self):
        cdef unsigned char* p = <unsigned char*>PyByteArray_AS_STRING(self.msg)
        cdef unsigned long long n
        cdef int i
        self.n += 1
        n = <unsigned long long>self.n
        p[0] = (self.number >> 24) & 0xFF
        p[1] = (self.number >> 16) & 0xFF
        p[2] = (self.number >> 8) & 0xFF
        p[3] = self.number & 0xFF
        for i in range(8):
            p[11 - i] = n & 0xFF
            n >>= 8
        self.outstanding = True
        self.transport.send(WSMsgType.BINARY, self.msg)  # copies: self.msg stays ours

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef bint same
        if frame.fin and frame.msg_type == WSMsgType.BINARY and self._parts is None:
            same = (
                frame.payload_size == self.size
                and memcmp(frame.payload_ptr, PyByteArray_AS_STRING(self.msg), self.size) == 0
            )
        else:
            message = self.slow_frame(frame)
            if message is None:
                return
            if message[0] != WSMsgType.BINARY:
                self.report("echo", f"a {message[0]!r} message came back for a BINARY one")
            same = message[1] == bytes(self.msg)
        if not self.outstanding:
            self.report("echo", f"connection {self.number}: a message the client did not send")
        elif not same:
            self.report("echo", f"connection {self.number} message {self.n}: the echo differs")
        self.outstanding = False
        self.count += 1
        if self.running:
            self.send_next()
        elif self.drained is not None and not self.drained.done():
            self.drained.set_result(None)


cdef class Deliveries:
    """What all broadcast clients share: deliveries in this round, the target, the waiter."""

    cdef public long long delivered
    cdef public long long target
    cdef public object done

    def __init__(self):
        self.delivered = 0
        self.target = 0
        self.done = None


cdef long long parse_seq(const unsigned char* p, Py_ssize_t size):
    """The 16-digit sequence number at the start of a broadcast payload; -1 if malformed."""
    cdef long long value = 0
    cdef int i
    if size != 64 or memcmp(p + 16, PyBytes_AS_STRING(FILL), 48) != 0:
        return -1
    for i in range(16):
        if p[i] < 48 or p[i] > 57:
            return -1
        value = value * 10 + (p[i] - 48)
    return value


cdef class BroadcastListener(Base):
    """Counts the server's 64-byte messages; each must be the one after the previous, intact."""

    cdef public long long next  # the sequence number expected next; -1: not synced yet
    cdef Deliveries shared

    def __init__(self, Deliveries shared, report):
        super().__init__(report)
        self.shared = shared
        self.next = -1

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef long long seq
        cdef Deliveries shared = self.shared
        if frame.fin and frame.msg_type == WSMsgType.BINARY and self._parts is None:
            seq = parse_seq(<const unsigned char*>frame.payload_ptr, frame.payload_size)
        else:
            message = self.slow_frame(frame)
            if message is None:
                return
            if message[0] != WSMsgType.BINARY:
                self.report("broadcast", f"a {message[0]!r} message, not BINARY")
            payload = message[1]
            seq = parse_seq(<const unsigned char*>PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload))
        if seq < 0:
            self.report("broadcast", f"a malformed broadcast message of {frame.payload_size} bytes")
        elif self.next >= 0 and seq != self.next:
            self.report("broadcast", f"expected message {self.next}, got {seq}")
        if seq >= 0:
            self.next = seq + 1
        shared.delivered += 1
        if shared.delivered >= shared.target and shared.done is not None and not shared.done.done():
            shared.done.set_result(None)


# -- handshakes ----------------------------------------------------------------------------------------

cdef bytes GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


cdef class HandshakeProtocol:
    """An asyncio protocol that opens a WebSocket and closes it cleanly, checking every step:
    the 101 response, ``Upgrade``, ``Connection`` and ``Sec-WebSocket-Accept``; then the client's
    masked close frame (1000), the server's close frame (1000), and the server's TCP close.

    ``done`` gets None on success, or a (kind, detail) error."""

    cdef public object done
    cdef object transport
    cdef bytes request
    cdef bytes accept
    cdef bytearray buf
    cdef int state  # 0: waiting for the 101, 1: waiting for the close frame, 2: waiting for EOF
    cdef object error

    def __init__(self, bytes host, done):
        key = base64.b64encode(os.urandom(16))
        self.accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        self.request = (
            b"GET / HTTP/1.1\r\nHost: " + host + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.done = done
        self.buf = bytearray()
        self.state = 0
        self.error = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    cdef fail(self, str kind, str detail):
        if self.error is None:
            self.error = (kind, detail)
        self.transport.abort()

    def data_received(self, data):
        self.buf += data
        if self.state == 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end])
            del self.buf[: end + 4]
            lines = head.split(b"\r\n")
            if not lines[0].startswith(b"HTTP/1.1 101 "):
                self.fail("upgrade", f"answer {lines[0][:60]!r}")
                return
            upgrade = connection = accept = None
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"sec-websocket-accept":
                    accept = value.strip()
                elif name == b"upgrade":
                    upgrade = value.strip().lower()
                elif name == b"connection":
                    connection = value.lower()
            if accept != self.accept or upgrade != b"websocket" or connection is None or b"upgrade" not in connection:
                self.fail("upgrade", f"bad 101 response: {head[:200]!r}")
                return
            mask = os.urandom(4)
            self.transport.write(
                b"\x88\x82" + mask + bytes((0x03 ^ mask[0], 0xE8 ^ mask[1]))  # close 1000, masked
            )
            self.state = 1
        if self.state == 1 and len(self.buf) >= 2:
            if self.buf[0] != 0x88 or self.buf[1] & 0x80 or (self.buf[1] & 0x7F) > 125:
                self.fail("close", f"expected the server's close frame, got {bytes(self.buf[:8])!r}")
                return
            size = self.buf[1] & 0x7F
            if len(self.buf) < 2 + size:
                return
            if size < 2 or self.buf[2] != 0x03 or self.buf[3] != 0xE8:
                self.fail("close", f"the server's close frame is not 1000: {bytes(self.buf[:2 + size])!r}")
                return
            del self.buf[: 2 + size]
            self.state = 2
        if self.state == 2 and self.buf:
            self.fail("close", f"{len(self.buf)} bytes after the server's close frame")

    def eof_received(self):
        if self.state != 2:
            self.fail("close", "the server closed the TCP connection before the close handshake ended")
        return False

    def connection_lost(self, exc):
        if self.state != 2 and self.error is None:
            self.error = ("close", f"connection lost in state {self.state}: {exc!r}")
        if not self.done.done():
            self.done.set_result(self.error)

    def pause_writing(self):
        pass

    def resume_writing(self):
        pass
