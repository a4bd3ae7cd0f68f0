# Cython declarations for broadcast.py (see duplex/protocol/connection.pxd): every connection reads
# ``pending`` before it writes, so it is a C field.

cdef class BroadcastBatch:
    cdef public object loop
    cdef public bint pending
    cdef public list _entries

    cpdef flush(self)
