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
from libc.string cimport memcmp, memcpy, memmove

from picows.picows cimport WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

cdef bytes FILL = b"-" * 48  # must match benchmarks/servers/_common.py
cdef enum:
    STAMP = 12  # in every echo and HTTP message: 4 digits of connection number, 8 of counter


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


# -- echo and HTTP without an event loop ---------------------------------------------------------------
#
# picows on uvloop tops out near the fastest servers here (it is built the same way), so the echo
# scenarios drive the sockets directly: one epoll loop in C, with the GIL released, one recv and
# one send per round trip and no Python per message. That keeps the load generator well ahead of
# every server it measures, which is what makes its numbers the server's. Keep-alive HTTP requests
# (``benchmarks/asgi.py``) go through the same loop: only the check of an answer differs.

from libc.stdlib cimport calloc, free, malloc
from libc.stdint cimport uint32_t, uint64_t


cdef extern from "<sys/epoll.h>" nogil:
    ctypedef union epoll_data_t:
        void* ptr
        int fd
        uint32_t u32
        uint64_t u64

    cdef struct epoll_event:
        uint32_t events
        epoll_data_t data

    int epoll_create1(int flags)
    int epoll_ctl(int epfd, int op, int fd, epoll_event* event)
    int epoll_wait(int epfd, epoll_event* events, int maxevents, int timeout)
    enum:
        EPOLL_CTL_ADD
        EPOLL_CTL_MOD
        EPOLL_CTL_DEL
        EPOLLIN
        EPOLLOUT
        EPOLLERR
        EPOLLHUP
        EPOLLRDHUP


cdef extern from "<sys/socket.h>" nogil:
    ssize_t send(int fd, const void* buf, size_t n, int flags)
    ssize_t recv(int fd, void* buf, size_t n, int flags)
    enum:
        MSG_NOSIGNAL


cdef extern from "<errno.h>" nogil:
    int errno
    enum:
        EAGAIN
        EINTR


cdef extern from "<time.h>" nogil:
    cdef struct timespec:
        long tv_sec
        long tv_nsec

    int clock_gettime(int clk_id, timespec* tp)
    enum:
        CLOCK_MONOTONIC


cdef extern from "<unistd.h>" nogil:
    int close(int fd)


cdef inline double monotonic() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


ctypedef struct Conn:
    int fd
    unsigned int number
    unsigned long long n        # messages sent so far
    bint outstanding            # one message in flight, its answer not back yet
    bint want_out               # EPOLLOUT registered: a send is partial
    unsigned char* out          # the whole message to send: a masked frame, a request
    Py_ssize_t out_len
    Py_ssize_t out_off          # bytes of it already sent
    unsigned char* expect       # the payload the answer must carry: the echo, the body
    unsigned char* inbuf
    Py_ssize_t in_len


# Error kinds, counted in C and named for the report by Driver.errors().
cdef enum:
    E_MISMATCH = 0   # an answer that differs from the one expected
    E_UNEXPECTED     # an answer while no message was in flight
    E_FRAME          # something the scenario never expects (a fragment, a close, a 404, no length)
    E_CLOSED         # the server closed or reset the connection
    E_IO             # another socket error
    E_COUNT

cdef unsigned char MASK[4]
MASK[0] = 0x37
MASK[1] = 0xFA
MASK[2] = 0x21
MASK[3] = 0x3D


cdef class Driver:
    """``len(fds)`` open connections (non-blocking sockets), each with one message in flight.
    ``run(seconds)`` drives them; ``total`` counts the answers that came back, each checked by the
    subclass's ``receive`` against the one expected. Every message is stamped (at the same place
    in the answer) with the connection's number and a counter, in 12 ASCII digits, so a lost,
    repeated, reordered or crossed answer is caught."""

    cdef Conn* conns
    cdef int nconns
    cdef int epfd
    cdef Py_ssize_t out_stamp      # where the stamp goes in the message (before masking)
    cdef Py_ssize_t expect_stamp   # and in the answer's payload
    cdef Py_ssize_t expect_len
    cdef bint masked               # a client's WebSocket frame: the stamp is masked with MASK
    cdef Py_ssize_t in_cap
    cdef bint running
    cdef public long long total
    cdef long long in_flight
    cdef long long errs[E_COUNT]
    cdef tuple error_names

    def __cinit__(self):
        self.conns = NULL
        self.epfd = -1

    cdef setup(self, fds, bytes out, Py_ssize_t out_stamp, bytes expect, Py_ssize_t expect_stamp,
               bint masked, Py_ssize_t in_cap, tuple error_names):
        """Each connection gets a copy of ``out`` (the message) and of ``expect`` (the answer's
        payload), an input buffer of ``in_cap`` bytes, and its socket registered with epoll."""
        cdef Conn* c
        cdef epoll_event ev
        if out_stamp + STAMP > len(out) or expect_stamp + STAMP > len(expect):
            raise ValueError("the stamp does not fit in the message")
        self.out_stamp, self.expect_stamp, self.expect_len = out_stamp, expect_stamp, len(expect)
        self.masked, self.in_cap, self.error_names = masked, in_cap, error_names
        self.nconns = len(fds)
        self.total = 0
        self.in_flight = 0
        self.running = False
        for i in range(E_COUNT):
            self.errs[i] = 0
        self.epfd = epoll_create1(0)
        if self.epfd < 0:
            raise OSError(errno, "epoll_create1")
        self.conns = <Conn*>calloc(self.nconns, sizeof(Conn))
        if self.conns == NULL:
            raise MemoryError()
        for k, fd in enumerate(fds):
            c = &self.conns[k]
            c.fd = fd
            c.number = k + 1
            c.out_len = len(out)
            c.out = <unsigned char*>malloc(c.out_len)
            c.expect = <unsigned char*>malloc(self.expect_len)
            c.inbuf = <unsigned char*>malloc(in_cap)
            if c.out == NULL or c.expect == NULL or c.inbuf == NULL:
                raise MemoryError()
            memcpy(c.out, PyBytes_AS_STRING(out), c.out_len)
            memcpy(c.expect, PyBytes_AS_STRING(expect), self.expect_len)
            ev.events = EPOLLIN | EPOLLRDHUP
            ev.data.u32 = k
            if epoll_ctl(self.epfd, EPOLL_CTL_ADD, fd, &ev) < 0:
                raise OSError(errno, "epoll_ctl")

    def __dealloc__(self):
        cdef int k
        if self.conns != NULL:
            for k in range(self.nconns):
                free(self.conns[k].out)
                free(self.conns[k].expect)
                free(self.conns[k].inbuf)
            free(self.conns)
        if self.epfd >= 0:
            close(self.epfd)

    def errors(self):
        """[(kind, count)] for every kind of error seen."""
        return [(self.error_names[i], self.errs[i]) for i in range(E_COUNT) if self.errs[i]]

    cdef void error(self, int kind, Conn* c) noexcept nogil:
        self.errs[kind] += 1

    cdef int send_pending(self, Conn* c) noexcept nogil:
        """Send what is left of ``c.out``; register EPOLLOUT while a part is left. -1: failed."""
        cdef ssize_t sent
        cdef epoll_event ev
        while c.out_off < c.out_len:
            sent = send(c.fd, c.out + c.out_off, c.out_len - c.out_off, MSG_NOSIGNAL)
            if sent < 0:
                if errno == EINTR:
                    continue
                if errno == EAGAIN:
                    break
                self.error(E_IO, c)
                return -1
            c.out_off += sent
        if (c.out_off < c.out_len) != c.want_out:
            c.want_out = not c.want_out
            ev.events = EPOLLIN | EPOLLRDHUP | (EPOLLOUT if c.want_out else 0)
            ev.data.u32 = <uint32_t>(c - self.conns)
            epoll_ctl(self.epfd, EPOLL_CTL_MOD, c.fd, &ev)
        return 0

    cdef int send_next(self, Conn* c) noexcept nogil:
        """Stamp the next message (connection number, counter) into the message and the expected
        answer, and send it."""
        cdef unsigned char stamp[STAMP]
        cdef unsigned long long n
        cdef unsigned int number = c.number
        cdef int i
        c.n += 1
        n = c.n
        for i in range(STAMP - 1, 3, -1):  # the counter: 8 digits
            stamp[i] = 48 + n % 10
            n //= 10
        for i in range(3, -1, -1):  # the connection's number: 4 digits
            stamp[i] = 48 + number % 10
            number //= 10
        for i in range(STAMP):
            c.expect[self.expect_stamp + i] = stamp[i]
            c.out[self.out_stamp + i] = stamp[i] ^ MASK[i & 3] if self.masked else stamp[i]
        c.out_off = 0
        c.outstanding = True
        self.in_flight += 1
        return self.send_pending(c)

    cdef int answered(self, Conn* c, const unsigned char* payload, Py_ssize_t length) noexcept nogil:
        """An answer came back with ``payload``: check it, count it, send the next message."""
        if not c.outstanding:
            self.error(E_UNEXPECTED, c)
        elif length != self.expect_len or memcmp(payload, c.expect, length) != 0:
            self.error(E_MISMATCH, c)
        c.outstanding = False
        self.in_flight -= 1
        self.total += 1
        if self.running:
            return self.send_next(c)
        return 0

    cdef int fill(self, Conn* c) noexcept nogil:
        """Read what has arrived into ``c.inbuf``: 1 when something did, 0 when nothing, -1 when
        the connection is gone."""
        cdef ssize_t got = recv(c.fd, c.inbuf + c.in_len, self.in_cap - c.in_len, 0)
        if got == 0:
            self.error(E_CLOSED, c)
            return -1
        if got < 0:
            if errno == EAGAIN or errno == EINTR:
                return 0
            self.error(E_CLOSED, c)
            return -1
        c.in_len += got
        return 1

    cdef void consume(self, Conn* c, Py_ssize_t pos) noexcept nogil:
        """The first ``pos`` bytes of ``c.inbuf`` are dealt with."""
        if pos:
            c.in_len -= pos
            memmove(c.inbuf, c.inbuf + pos, c.in_len)

    cdef int receive(self, Conn* c) noexcept nogil:
        """Read what has arrived and take every whole answer out of it. -1: the connection is gone."""
        return -1

    cdef void loop(self, double seconds, bint until_drained) noexcept nogil:
        cdef epoll_event events[1024]
        cdef int n, i
        cdef Conn* c
        cdef double deadline = monotonic() + seconds
        while monotonic() < deadline:
            if until_drained and self.in_flight == 0:
                return
            n = epoll_wait(self.epfd, events, 1024, 50)
            for i in range(n):
                c = &self.conns[events[i].data.u32]
                if c.fd < 0:
                    continue
                if events[i].events & EPOLLOUT:
                    if self.send_pending(c) < 0:
                        self.drop(c)
                        continue
                if events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR):
                    if self.receive(c) < 0:
                        self.drop(c)

    cdef void drop(self, Conn* c) noexcept nogil:
        """A connection that failed leaves the loop (its socket stays the caller's to close)."""
        cdef epoll_event ev
        epoll_ctl(self.epfd, EPOLL_CTL_DEL, c.fd, &ev)
        if c.outstanding:
            self.in_flight -= 1
            c.outstanding = False
        c.fd = -1

    def start(self):
        """Every connection sends its first message."""
        cdef int k
        self.running = True
        for k in range(self.nconns):
            if self.conns[k].fd >= 0 and not self.conns[k].outstanding:
                if self.send_next(&self.conns[k]) < 0:
                    self.drop(&self.conns[k])

    def run(self, double seconds):
        """Drive the round trips for ``seconds`` (the GIL is released meanwhile)."""
        with nogil:
            self.loop(seconds, False)

    def drain(self, double timeout):
        """Stop sending; wait up to ``timeout`` seconds for the answers in flight. Returns how
        many never came back."""
        self.running = False
        with nogil:
            self.loop(timeout, True)
        return self.in_flight

    def alive(self):
        """The file descriptors of the connections that did not fail."""
        return [self.conns[k].fd for k in range(self.nconns) if self.conns[k].fd >= 0]


cdef class EchoDriver(Driver):
    """WebSocket connections (the handshake done), each with one binary message of ``size``
    bytes in flight (``pattern``'s first ``size`` bytes, stamped), its echo compared byte for
    byte."""

    cdef Py_ssize_t size

    def __init__(self, fds, Py_ssize_t size, bytes pattern):
        cdef Py_ssize_t head, i
        cdef const unsigned char* pat = <const unsigned char*>PyBytes_AS_STRING(pattern)
        if size < STAMP or size > PyBytes_GET_SIZE(pattern):
            raise ValueError(f"echo messages must be {STAMP} to {len(pattern)} bytes")
        self.size = size
        head = 2 if size < 126 else (4 if size < 65536 else 10)
        frame = bytearray(head + 4 + size)
        frame[0] = 0x82  # FIN, binary
        if head == 2:
            frame[1] = 0x80 | size
        elif head == 4:
            frame[1] = 0x80 | 126
            frame[2:4] = size.to_bytes(2, "big")
        else:
            frame[1] = 0x80 | 127
            frame[2:10] = size.to_bytes(8, "big")
        for i in range(4):
            frame[head + i] = MASK[i]
        for i in range(size):
            frame[head + 4 + i] = pat[i] ^ MASK[i & 3]
        self.setup(
            fds, bytes(frame), head + 4, pattern[:size], 0, True, 2 * (head + size) + 256,
            ("echo differs", "unexpected echo", "unexpected frame", "dropped", "socket error"),
        )

    cdef int receive(self, Conn* c) noexcept nogil:
        cdef Py_ssize_t pos, length, head, k
        cdef unsigned char* b
        cdef int got = self.fill(c)
        if got <= 0:
            return got
        b = c.inbuf
        pos = 0
        while c.in_len - pos >= 2:
            length = b[pos + 1] & 0x7F
            head = 2
            if b[pos + 1] & 0x80:  # a server must not mask
                self.error(E_FRAME, c)
                return -1
            if length == 126:
                if c.in_len - pos < 4:
                    break
                length = (b[pos + 2] << 8) | b[pos + 3]
                head = 4
            elif length == 127:
                if c.in_len - pos < 10:
                    break
                length = 0
                for k in range(8):
                    length = (length << 8) | b[pos + 2 + k]
                head = 10
            if head + length > self.in_cap:
                self.error(E_FRAME, c)
                return -1
            if c.in_len - pos < head + length:
                break
            if b[pos] == 0x82:
                if self.answered(c, b + pos + head, length) < 0:
                    return -1
            elif b[pos] != 0x89 and b[pos] != 0x8A:  # pings and pongs are allowed, and ignored
                self.error(E_FRAME, c)
                return -1
            pos += head + length
        self.consume(c, pos)
        return 0


cdef Py_ssize_t find_crlf(const unsigned char* b, Py_ssize_t start, Py_ssize_t n, bint twice) noexcept nogil:
    """Where the first CRLF (``twice``: CRLFCRLF) of ``b[start:n]`` starts; -1: none."""
    cdef Py_ssize_t i
    cdef Py_ssize_t width = 4 if twice else 2
    for i in range(start, n - width + 1):
        if b[i] == 13 and b[i + 1] == 10 and (not twice or (b[i + 2] == 13 and b[i + 3] == 10)):
            return i
    return -1


cdef bint field_is(const unsigned char* line, Py_ssize_t n, const char* name, Py_ssize_t size) noexcept nogil:
    """Whether the header line ``line[:n]`` is the field ``name`` (lower case, with its colon)."""
    cdef Py_ssize_t i
    if n < size:
        return False
    for i in range(size):
        if (line[i] | 0x20) != <unsigned char>name[i]:  # letters, '-' and ':' alike
            return False
    return True


cdef Py_ssize_t content_length(const unsigned char* b, Py_ssize_t n) noexcept nogil:
    """The Content-Length of the response head ``b[:n]`` (its status line first, no blank line);
    -1 without one, with a malformed one, or with a Transfer-Encoding."""
    cdef Py_ssize_t line = find_crlf(b, 0, n, False) + 2, end, i
    cdef Py_ssize_t value = -1
    while 1 < line < n:
        end = find_crlf(b, line, n, False)
        if end < 0:
            end = n
        if field_is(b + line, end - line, b"transfer-encoding:", 18):
            return -1
        if field_is(b + line, end - line, b"content-length:", 15):
            i = line + 15
            while i < end and (b[i] == 32 or b[i] == 9):
                i += 1
            if i == end:
                return -1
            value = 0
            while i < end and 48 <= b[i] <= 57:
                value = value * 10 + (b[i] - 48)
                i += 1
        line = end + 2
    return value


cdef class HttpDriver(Driver):
    """Keep-alive HTTP/1.1 connections, each with one request in flight (no pipelining):
    ``request``, stamped at ``request_stamp``. Each answer must be a ``200`` with a
    Content-Length and the body ``body``, stamped at ``body_stamp``."""

    def __init__(self, fds, bytes request, Py_ssize_t request_stamp, bytes body, Py_ssize_t body_stamp):
        self.setup(
            fds, request, request_stamp, body, body_stamp, False, 16384 + len(body),
            ("body differs", "unexpected response", "not a 200 with a Content-Length", "dropped",
             "socket error"),
        )

    cdef int receive(self, Conn* c) noexcept nogil:
        cdef Py_ssize_t pos = 0, end, length
        cdef unsigned char* b = c.inbuf
        cdef int got = self.fill(c)
        if got <= 0:
            return got
        while True:
            end = find_crlf(b, pos, c.in_len, True)
            if end < 0:
                if c.in_len == self.in_cap:  # a head larger than the buffer
                    self.error(E_FRAME, c)
                    return -1
                break
            if end - pos < 13 or memcmp(b + pos, b"HTTP/1.1 200", 12) != 0 or (b[pos + 12] != 32 and b[pos + 12] != 13):
                self.error(E_FRAME, c)
                return -1
            length = content_length(b + pos, end - pos)
            if length < 0 or end + 4 + length - pos > self.in_cap:
                self.error(E_FRAME, c)
                return -1
            if c.in_len < end + 4 + length:
                break
            if self.answered(c, b + end + 4, length) < 0:
                return -1
            pos = end + 4 + length
        self.consume(c, pos)
        return 0
