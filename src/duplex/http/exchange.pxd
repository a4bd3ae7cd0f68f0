# Cython declarations for exchange.py (see duplex/protocol/connection.pxd): one Exchange per request
# an application answers, its fields read on every call of the request's body and response.

cdef class Exchange:
    cdef public object _connection
    cdef public object request
    cdef public bint keep_alive
    cdef public object scheme
    cdef public object client
    cdef public object server
    cdef public object _chunks
    cdef public Py_ssize_t _buffered
    cdef public list _waiters
    cdef public bint _eof
    cdef public bint body_complete
    cdef public bint lost
    cdef public bint response_started
    cdef public bint response_complete
    cdef public object status
    cdef public bint _chunked
    cdef public Py_ssize_t _length_left
    cdef public bytes _head_bytes
    cdef public bint head_sent
    cdef public bint _close_said

    cpdef feed(self, chunk)
    cpdef end_body(self)
    cpdef lose(self)
    cpdef _wake(self)
    cpdef start_response(self, status, headers)
    cpdef bint write_body(self, body, more) except -1
    cpdef bytes _head(self, bytes head, body, more)
    cpdef _framed(self, body, more)
