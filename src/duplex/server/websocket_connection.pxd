# Cython declarations for websocket_connection.py (see duplex/protocol/connection.pxd).

from duplex.asyncio.dispatch cimport CallbackRunner
from duplex.asyncio.websocket_protocol cimport DirectHandler, WebSocketProtocol


cdef class WebSocketConnection(DirectHandler):
    cdef public object id
    cdef public object wss
    cdef public object handler
    cdef public object request
    cdef public object subprotocol
    cdef public WebSocketProtocol _protocol
    cdef public object _loop
    cdef public object _loop_thread_id
    cdef public object _data_type
    cdef public object _on_closed
    cdef public object _topic_registry
    cdef public bint _subscribed
    cdef public object _pending_bytes
    cdef public object _pending_lock
    cdef public object _on_message
    cdef public object _on_open
    cdef public object _on_terminate
    cdef public object _on_error
    cdef public CallbackRunner runner
    cdef object __weakref__

    cpdef on_open(self, WebSocketProtocol ws)
    cpdef on_message(self, WebSocketProtocol ws, data)
    cpdef on_error(self, WebSocketProtocol ws, error)
    cpdef on_close(self, WebSocketProtocol ws, code, reason)


cpdef tuple encode_for_send(message)
