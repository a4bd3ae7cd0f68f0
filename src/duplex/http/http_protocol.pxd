# Cython declarations for http_protocol.py (see duplex/protocol/connection.pxd): one HttpProtocol per
# connection, its fields read by every httptools callback of a request.

cdef class HttpProtocol:
    cdef public object site
    cdef public object config
    cdef public object loop
    cdef public object transport
    cdef public object remote_address
    cdef public object peer
    cdef public object _local
    cdef public object _parsing
    cdef public object _current
    cdef public bint _body_paused
    cdef public object _parser
    cdef public bytes _url
    cdef public list _headers
    cdef public dict _header_index
    cdef public object _request_headers
    cdef public Py_ssize_t _header_bytes
    cdef public Py_ssize_t _max_header_size
    cdef public Py_ssize_t _max_header_count
    cdef public Py_ssize_t _body_bytes
    cdef public bint _in_request
    cdef public object _queue
    cdef public bint _busy
    cdef public bint _closing
    cdef public object _upgrade_tail
    cdef public bint _head
    cdef public bint _first_request
    cdef public bint _tls
    cdef public object _timer
    cdef public double _timer_at
    cdef public double _deadline
    cdef public object _drain_waiter
    cdef public bint _write_paused
    cdef public object _task
    cdef public bint _eof
    cdef public object _send_timer
    cdef public Py_ssize_t _send_pending
    cdef public long long _send_acked
    cdef public double _send_progress_at

    # The calls within one request's answer: direct C calls rather than Python ones.
    cpdef _process_queue(self)
    cpdef _answer(self, pending)
    cpdef _answer_upgrade(self, request)
    cpdef _complete_upgrade(self, request, offer, answer)
    cpdef _refuse(self, status, message, headers=*)
    cpdef _write(self, data, keep_alive)
    cpdef _finish_response(self, keep_alive)
    cpdef _set_timer(self, delay)
    cpdef _cancel_timer(self)
    cpdef _drop_timer(self)
