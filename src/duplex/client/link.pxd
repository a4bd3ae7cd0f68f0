# Cython declarations for link.py (see duplex/protocol/connection.pxd): a message goes from the
# engine to the link and on to the face (sink.message, bound once) with no dictionary lookup.

from duplex.asyncio.websocket_protocol cimport DirectHandler, WebSocketProtocol


cdef class Link(DirectHandler):
    cdef public object target
    cdef public object options
    cdef public object loop
    cdef public object sink
    cdef public object _deliver
    cdef public WebSocketProtocol protocol
    cdef public list response_headers
    cdef public object phase
    cdef public bint _closing
    cdef public tuple _close_args
    cdef public object _task
    cdef public object loop_thread_id

    cpdef on_open(self, WebSocketProtocol ws)
    cpdef on_message(self, WebSocketProtocol ws, data)
    cpdef on_error(self, WebSocketProtocol ws, error)
    cpdef on_close(self, WebSocketProtocol ws, code, reason)
