# Cython declarations for connection.py (see duplex/protocol/connection.pxd): send(), recv() and
# the link's message() read these attributes as C struct fields.

from duplex.client.link cimport Link


cdef class ClientConnection:
    cdef public object _options
    cdef public bint _as_received
    cdef public object _url
    cdef public object _id
    cdef public object _loop
    cdef public object _messages
    cdef public object _waiter
    cdef public bint _reading_paused
    cdef public object _opened
    cdef public object _closed
    cdef public object _failure
    cdef public Link _link
    cdef object __weakref__
