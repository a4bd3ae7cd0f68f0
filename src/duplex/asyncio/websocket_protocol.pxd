# Cython declarations for websocket_protocol.py (see duplex/protocol/connection.pxd).

from duplex.asyncio.broadcast cimport BroadcastBatch
from duplex.protocol.connection cimport Connection


cdef class WebSocketProtocol


cdef class DirectHandler:
    cpdef on_open(self, WebSocketProtocol ws)
    cpdef on_message(self, WebSocketProtocol ws, data)
    cpdef on_error(self, WebSocketProtocol ws, error)
    cpdef on_close(self, WebSocketProtocol ws, code, reason)


cdef class WebSocketProtocol:
    cdef public Connection connection
    cdef public object loop
    cdef public object remote_address
    cdef public object subprotocol
    cdef public object close_timeout
    cdef public object ping_interval
    cdef public object ping_timeout
    cdef public object send_buffer_limit
    cdef public bint _drop_when_full
    cdef public object dropped_messages
    cdef public object _registry
    cdef public BroadcastBatch _broadcasts
    cdef public object handler
    cdef public DirectHandler _direct
    cdef public object transport
    cdef public bint _write_paused
    cdef public bint _read_paused_by_app
    cdef public object _close_timer
    cdef public object _ping_timer
    cdef public object _pong_timer
    cdef public object _ping_payload
    cdef public list _lost_waiters
    cdef public list _drain_waiters

    cpdef bint send_message(self, payload, bint text)
    cpdef bint send_frame(self, frame)
    cpdef bint send_frames(self, list frames, joined=*)
    # Called between the layers and on the close path: direct C calls rather than Python ones.
    cpdef close(self, code=*, reason=*)
    cpdef abort(self)
    cpdef start_closing(self)
    cpdef abort_after_flush(self)
    cdef _message_received(self, message)
    cdef _frames_received(self, data)
    cpdef _write_replies(self)
    cpdef _close_handshake_done(self)
    cpdef _fail_close(self)
    cpdef _report_error(self, error)
    cpdef _schedule_ping(self)
    cpdef _restart_close_timer(self)
    cpdef _cancel_keepalive(self)
    cpdef _cancel_timers(self)


cdef class ClientWebSocketProtocol(WebSocketProtocol):
    cdef public bytearray _read_into
