/*
 * duplex.protocol._mask: XOR a payload with a 4-byte WebSocket masking key (RFC 6455 section 5.3).
 *
 * The one loop of the protocol core that pure Python cannot make fast: Python has no vectorised
 * XOR on bytes. This optional extension does it in vectors; duplex.protocol.frames falls back to a
 * big-integer XOR in pure Python when it is not built. It also takes a frame's payload out of a
 * read buffer in one copy (frame_payload).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* out[i] = in[i] ^ key[i % 4] for n bytes. memcpy keeps the loads and stores alignment-safe;
 * compilers turn them into plain moves.
 *
 * Large payloads dominate the cost (a 16 KiB message took ~0.6 us 8 bytes at a time, 5% of a
 * client's round trip in perf), so where the compiler has vector types the bulk goes 64 bytes
 * per iteration in vectors (SSE2 is part of every x86-64 baseline), and on x86-64 with glibc
 * the same loop is also built for AVX2, picked at load time where the CPU has it. */
/* target_clones needs the loader's ifunc support: glibc has it, musl does not. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__GLIBC__) && !defined(__clang__)
#define MASK_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MASK_CLONES
#endif

#if defined(__GNUC__) || defined(__clang__)
/* 32-byte vectors: one AVX2 register, or two SSE2 ones in the default build. */
typedef uint64_t u64x4 __attribute__((vector_size(32)));

MASK_CLONES static Py_ssize_t
xor_mask_bulk(const unsigned char *in, unsigned char *out, Py_ssize_t n, uint64_t k64)
{
    Py_ssize_t i = 0;
    u64x4 key = {k64, k64, k64, k64};
    for (; i + 64 <= n; i += 64) {
        u64x4 a, b;
        memcpy(&a, in + i, 32);
        memcpy(&b, in + i + 32, 32);
        a ^= key;
        b ^= key;
        memcpy(out + i, &a, 32);
        memcpy(out + i + 32, &b, 32);
    }
    return i;
}
#else
static Py_ssize_t
xor_mask_bulk(const unsigned char *in, unsigned char *out, Py_ssize_t n, uint64_t k64)
{
    return 0;
}
#endif

static void
xor_mask(const unsigned char *in, unsigned char *out, Py_ssize_t n, const unsigned char *k)
{
    uint32_t k32;
    memcpy(&k32, k, 4);
    uint64_t k64 = ((uint64_t)k32 << 32) | k32;
    /* The bulk ends on a multiple of 64, so the key's phase is unchanged for the rest. */
    Py_ssize_t i = n >= 64 ? xor_mask_bulk(in, out, n, k64) : 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        memcpy(&word, in + i, 8);
        word ^= k64;
        memcpy(out + i, &word, 8);
    }
    for (; i < n; i++) {
        out[i] = in[i] ^ k[i & 3];
    }
}

static PyObject *
unmask(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data, key;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "unmask(data, mask) takes 2 arguments");
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &key, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    if (key.len != 4) {
        PyBuffer_Release(&data);
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "the mask must be 4 bytes");
        return NULL;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result != NULL) {
        xor_mask((const unsigned char *)data.buf, (unsigned char *)PyBytes_AS_STRING(result), data.len,
                 (const unsigned char *)key.buf);
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&key);
    return result;
}

/* The payload of a whole frame held in one buffer: frame[offset + 4:] XOR frame[offset:offset + 4].
 * The receive fast path uses it on a read that is exactly one frame, sparing the two slices
 * (a copy of the payload and of the key) that unmask(frame[6:], frame[2:6]) would make. */
static PyObject *
unmask_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer frame;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "unmask_frame(frame, offset) takes 2 arguments");
        return NULL;
    }
    Py_ssize_t offset = PyLong_AsSsize_t(args[1]);
    if (offset == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &frame, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (offset < 0 || offset + 4 > frame.len) {
        PyBuffer_Release(&frame);
        PyErr_SetString(PyExc_ValueError, "the mask must lie inside the frame");
        return NULL;
    }
    const unsigned char *k = (const unsigned char *)frame.buf + offset;
    Py_ssize_t n = frame.len - offset - 4;
    PyObject *result = PyBytes_FromStringAndSize(NULL, n);
    if (result != NULL) {
        xor_mask(k + 4, (unsigned char *)PyBytes_AS_STRING(result), n, k);
    }
    PyBuffer_Release(&frame);
    return result;
}

/* A client's whole frame in one allocation: the header (`first`, the mask bit and the length),
 * the 4-byte key keys[offset:offset + 4], then the payload XOR the key. The client's send path
 * uses it so that a message costs one bytes object, not a header, a key, a masked copy and their
 * join (RFC 6455 section 5.2). */
static PyObject *
mask_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer payload, keys;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "mask_frame(first, payload, keys, offset) takes 4 arguments");
        return NULL;
    }
    long first = PyLong_AsLong(args[0]);
    if (first == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t offset = PyLong_AsSsize_t(args[3]);
    if (offset == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (first < 0 || first > 255) {
        PyErr_SetString(PyExc_ValueError, "the first byte must be 0-255");
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &payload, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[2], &keys, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&payload);
        return NULL;
    }
    if (offset < 0 || offset + 4 > keys.len) {
        PyBuffer_Release(&payload);
        PyBuffer_Release(&keys);
        PyErr_SetString(PyExc_ValueError, "the key must lie inside keys");
        return NULL;
    }
    Py_ssize_t n = payload.len;
    Py_ssize_t header = n < 126 ? 2 : (n < 0x10000 ? 4 : 10);
    PyObject *result = PyBytes_FromStringAndSize(NULL, header + 4 + n);
    if (result != NULL) {
        unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
        const unsigned char *k = (const unsigned char *)keys.buf + offset;
        out[0] = (unsigned char)first;
        if (n < 126) {
            out[1] = 0x80 | (unsigned char)n;
        } else if (n < 0x10000) {
            out[1] = 0x80 | 126;
            out[2] = (unsigned char)(n >> 8);
            out[3] = (unsigned char)n;
        } else {
            out[1] = 0x80 | 127;
            for (int i = 0; i < 8; i++) {
                out[2 + i] = (unsigned char)((unsigned long long)n >> (56 - 8 * i));
            }
        }
        memcpy(out + header, k, 4);
        xor_mask((const unsigned char *)payload.buf, out + header + 4, n, k);
    }
    PyBuffer_Release(&payload);
    PyBuffer_Release(&keys);
    return result;
}

/* A frame's payload straight out of a read buffer: buffer[start:end] as bytes, or decoded from
 * UTF-8 to str for a text frame (UnicodeDecodeError if it is not UTF-8). A client that reads into a
 * buffer of its own copies a message once this way, rather than taking a bytes object of the read
 * and slicing it (two copies, two allocations). */
static PyObject *
frame_payload(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "frame_payload(buffer, start, end, text) takes 4 arguments");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t end = PyLong_AsSsize_t(args[2]);
    if (end == -1 && PyErr_Occurred()) {
        return NULL;
    }
    int text = PyObject_IsTrue(args[3]);
    if (text < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    PyObject *result;
    if (start < 0 || end < start || end > data.len) {
        PyErr_SetString(PyExc_ValueError, "the payload must lie inside the buffer");
        result = NULL;
    } else if (text) {
        result = PyUnicode_DecodeUTF8((const char *)data.buf + start, end - start, NULL);
    } else {
        result = PyBytes_FromStringAndSize((const char *)data.buf + start, end - start);
    }
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef methods[] = {
    {"unmask", (PyCFunction)(void (*)(void))unmask, METH_FASTCALL,
     "unmask(data, mask) -> bytes: data XOR the 4-byte mask repeated."},
    {"mask_frame", (PyCFunction)(void (*)(void))mask_frame, METH_FASTCALL,
     "mask_frame(first, payload, keys, offset) -> bytes: a whole masked frame, keyed by keys[offset:offset + 4]."},
    {"unmask_frame", (PyCFunction)(void (*)(void))unmask_frame, METH_FASTCALL,
     "unmask_frame(frame, offset) -> bytes: frame[offset + 4:] XOR the mask at frame[offset:offset + 4]."},
    {"frame_payload", (PyCFunction)(void (*)(void))frame_payload, METH_FASTCALL,
     "frame_payload(buffer, start, end, text) -> bytes or str: buffer[start:end], decoded from UTF-8 if text."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "duplex.protocol._mask", "WebSocket payload masking in C.", -1, methods,
};

PyMODINIT_FUNC
PyInit__mask(void)
{
    return PyModule_Create(&module);
}
