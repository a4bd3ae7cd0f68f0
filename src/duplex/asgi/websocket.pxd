# Cython declarations for websocket.py (see duplex/protocol/connection.pxd): the session is the
# engine's DirectHandler, called through C once per message, and sends through C.

from duplex.asyncio.websocket_protocol cimport DirectHandler, WebSocketProtocol


cdef class WebSocketSession(DirectHandler):
    cdef public object app
    cdef public object exchange
    cdef public object offer
    cdef public object settings
    cdef public object scope
    cdef public object loop
    cdef public object answer
    cdef public WebSocketProtocol websocket
    cdef public bint _connect_given
    cdef public object _denial
    cdef public object _queue
    cdef public object _waiter
    cdef public object _disconnect
    cdef public object task

    cpdef on_open(self, WebSocketProtocol ws)
    cpdef on_message(self, WebSocketProtocol ws, data)
    cpdef on_error(self, WebSocketProtocol ws, error)
    cpdef on_close(self, WebSocketProtocol ws, code, reason)
