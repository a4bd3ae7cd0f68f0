# Cython declarations for transport.py (see duplex/protocol/connection.pxd).

from duplex.protocol.connection cimport Connection


cdef class WebSocketProtocol:
    cdef public Connection connection
    cdef public object _registry
    cdef public object handler
    cdef public object request
    cdef public object subprotocol
    cdef public object close_timeout
    cdef public object ping_interval
    cdef public object ping_timeout
    cdef public object transport
    cdef public object loop
    cdef public bint _closed
    cdef public bint _write_paused
    cdef public bint _read_paused_by_app
    cdef public object _close_timer
    cdef public object _ping_timer
    cdef public object _pong_timer
    cdef public object _ping_payload
    cdef public list _lost_waiters
