/*
 * duplex.protocol._mask: XOR a payload with a 4-byte WebSocket masking key (RFC 6455 section 5.3).
 *
 * The one loop of the protocol core that pure Python cannot make fast: Python has no vectorised
 * XOR on bytes. This optional extension does it 8 bytes at a time; duplex.protocol.frames falls
 * back to a big-integer XOR in pure Python when it is not built.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* out[i] = in[i] ^ key[i % 4] for n bytes, 8 at a time. memcpy keeps the loads and stores
 * alignment-safe; compilers turn them into plain moves. */
static void
xor_mask(const unsigned char *in, unsigned char *out, Py_ssize_t n, const unsigned char *k)
{
    Py_ssize_t i = 0;
    uint32_t k32;
    memcpy(&k32, k, 4);
    uint64_t k64 = ((uint64_t)k32 << 32) | k32;
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

static PyMethodDef methods[] = {
    {"unmask", (PyCFunction)(void (*)(void))unmask, METH_FASTCALL,
     "unmask(data, mask) -> bytes: data XOR the 4-byte mask repeated."},
    {"unmask_frame", (PyCFunction)(void (*)(void))unmask_frame, METH_FASTCALL,
     "unmask_frame(frame, offset) -> bytes: frame[offset + 4:] XOR the mask at frame[offset:offset + 4]."},
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
