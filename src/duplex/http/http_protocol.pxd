# Cython declarations for http_protocol.py (see duplex/protocol/connection.pxd): one HttpProtocol per
# connection, its fields read by every httptools callback of a request.

cdef class HttpProtocol:
    cdef public object site
    cdef public object config
    cdef public object loop
    cdef public object transport
    cdef public object remote_address
    cdef public object _parser
    cdef public bytes _url
    cdef public list _headers
    cdef public object _request_headers
    cdef public Py_ssize_t _header_bytes
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
    cdef public object _drain_waiter
    cdef public bint _write_paused
    cdef public object _task
