# Cython declarations for connection.py, which setup.py compiles when Cython is available (the
# .py stays the source and the pure-Python fallback). Attributes become C struct fields, so the
# per-message path reads them without a dictionary lookup; all stay public to Python code.

cdef class Connection:
    cdef public bint client
    cdef public bytes _mask_pool
    cdef public Py_ssize_t _mask_at
    cdef public object max_message_size
    cdef public object max_fragments
    cdef public object deflate
    cdef public object state
    cdef public object _state_lock
    cdef public bint _receiving
    cdef public object close_code
    cdef public object close_reason
    cdef public bint _close_sent
    cdef public bytearray _buffer
    cdef public list _pending
    cdef public object _pending_close
    cdef public object _stream_left
    cdef public object _stream_mask
    cdef public object _stream_offset
    cdef public object _stream_fin
    cdef public object _stream_opcode
    cdef public object _message_opcode
    cdef public bint _message_compressed
    cdef public object _message_size
    cdef public object _message_fragments
    cdef public list _text_parts
    cdef public list _binary_parts
    cdef public object _utf8

    cpdef list receive_data(self, data)
    cpdef list receive_frames(self, data)
    cpdef tuple send_message(self, opcode, payload)
    cpdef receive_whole_message(self, data)
    cpdef receive_whole_message_in(self, bytearray buffer, Py_ssize_t size)
    cdef bint _between_messages(self)
    cdef _whole_server_frame(self, data, Py_ssize_t size)
    cpdef bytes data_to_send(self)
    cpdef bytes send_close(self, code=*, reason=*)
    cpdef start_closing(self)
    cpdef transport_closed(self)
    cpdef _stop_receiving(self)
    cpdef _receive_control_frame(self, opcode, payload, list events)
    cpdef _queue_close(self, code, reason)
    cpdef bytes _control_frame(self, opcode, payload)
    cpdef bytes _masked_frame(self, int first, payload)
