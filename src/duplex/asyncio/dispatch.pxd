# Cython declarations for dispatch.py (see duplex/protocol/connection.pxd).

cdef class CallbackRunner:
    cdef public object loop
    cdef public object worker
    cdef public object on_exception
    cdef public object on_backlog
    cdef public object owner
    cdef public object backlog_limit
    cdef public object _queue
    cdef public bint _busy
    cdef public bint _paused
    cdef public object _submitted
    cdef public object _completed

    cpdef run(self, callback, tuple args, done=*)
    cpdef run_pair(self, callback, first, second)
    cdef _returned(self, result, callback, done)
