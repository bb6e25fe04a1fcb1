/* SPDX-License-Identifier: MIT */
/*
 * _mmarr_module.c — the extension module mmarr._mmarr: its function table and init, the
 * exceptions, and the argument helpers the other files share (see _mmarr.h).
 */
#define MMPY_IMPORT_ARRAY /* this file imports numpy's C-API table for all of them */
#include "_mmarr.h"

#include <string.h>

PyMODINIT_FUNC PyInit__mmarr(void);

PyObject *mmpy_Error;            /* mmarr.Error, created by PyInit__mmarr */
PyObject *mmpy_NotZeroCopyError; /* its subclasses */
static PyObject *file_changed_error;

/* ---------------------------------------------------------------------------------------- */
/* Errors                                                                                   */

/* o.name = v, stealing v (NULL: an error is set); -1 on error. */
static int set_attr_steal(PyObject *o, const char *name, PyObject *v)
{
    if (!v)
        return -1;
    const int rc = PyObject_SetAttrString(o, name, v);
    Py_DECREF(v);
    return rc;
}

/* Raise the Python exception for a failed library call; always returns NULL. */
/* The library's messages name its C calls where a Python user calls a method: say it the
 * Python way (a new reference, or NULL). */
static PyObject *python_message(const char *msg)
{
    static const char *const said[][2] = {
        {"mmarr_file_flush with MMARR_FLUSH_REHASH", "f.flush(rehash=True)"},
        {"MMARR_OPEN_RDWR", "mode \"r+\""},
        {"MMARR_OPEN_COPY_ON_WRITE", "mode \"c\""},
    };
    PyObject *m = PyUnicode_DecodeUTF8(msg, (Py_ssize_t)strlen(msg), "replace");
    for (size_t i = 0; m && i < sizeof said / sizeof said[0]; i++) {
        if (!strstr(msg, said[i][0]))
            continue;
        PyObject *c = PyUnicode_FromString(said[i][0]), *py = PyUnicode_FromString(said[i][1]);
        PyObject *r = c && py ? PyUnicode_Replace(m, c, py, -1) : NULL;
        Py_XDECREF(c);
        Py_XDECREF(py);
        Py_SETREF(m, r);
    }
    return m;
}

PyObject *mmpy_raise(const mmarr_error *e)
{
    PyObject *msg = python_message(e->message[0] ? e->message : mmarr_strerror(e->code));
    if (!msg)
        return NULL;
    const int oserr = (e->code == MMARR_E_IO || e->code == MMARR_E_NOSPACE) && e->sys_errno;
    PyObject *exc = oserr ? PyObject_CallFunction(PyExc_OSError, "iO", e->sys_errno, msg)
                          : PyObject_CallFunctionObjArgs(mmpy_Error, msg, NULL);
    Py_DECREF(msg);
    if (!exc)
        return NULL;
    if (set_attr_steal(exc, "code", PyLong_FromLong((long)e->code)) ||
        set_attr_steal(exc, "code_name", PyUnicode_FromString(mmarr_err_name(e->code))) ||
        (!oserr && set_attr_steal(exc, "errno", e->sys_errno ? PyLong_FromLong(e->sys_errno)
                                                              : Py_NewRef(Py_None))) ||
        set_attr_steal(exc, "offset", e->offset == MMARR_NO_OFFSET
                                          ? Py_NewRef(Py_None)
                                          : PyLong_FromUnsignedLongLong(e->offset))) {
        Py_DECREF(exc);
        return NULL;
    }
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

PyObject *mmpy_none_or_raise(mmarr_err rc, const mmarr_error *e)
{
    return rc == MMARR_OK ? Py_NewRef(Py_None) : mmpy_raise(e);
}

/* ---------------------------------------------------------------------------------------- */
/* Argument helpers                                                                         */

PyObject *mmpy_shape_tuple(unsigned ndim, const uint64_t *shape)
{
    PyObject *t = PyTuple_New((Py_ssize_t)ndim);
    if (!t)
        return NULL;
    for (unsigned d = 0; d < ndim; d++) {
        PyObject *v = PyLong_FromUnsignedLongLong(shape[d]);
        if (!v) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, d, v);
    }
    return t;
}

/* dict[key] = value, stealing value; -1 on error. */
int mmpy_dict_put(PyObject *d, const char *key, PyObject *value)
{
    if (!value)
        return -1;
    const int rc = PyDict_SetItemString(d, key, value);
    Py_DECREF(value);
    return rc;
}

/* Read a sequence of n Python ints into out[]. */
int mmpy_intp_seq(PyObject *seq, const char *what, int *n, npy_intp *out)
{
    PyObject *fast = PySequence_Fast(seq, what);
    if (!fast)
        return -1;
    const Py_ssize_t len = PySequence_Fast_GET_SIZE(fast);
    if (len > NPY_MAXDIMS) {
        Py_DECREF(fast);
        PyErr_Format(PyExc_ValueError, "%s: %zd dimensions, numpy supports %d", what, len,
                     NPY_MAXDIMS);
        return -1;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        out[i] = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(fast, i));
        if (out[i] == -1 && PyErr_Occurred()) {
            Py_DECREF(fast);
            return -1;
        }
    }
    Py_DECREF(fast);
    *n = (int)len;
    return 0;
}

/* A shape sequence as both npy_intp dims and uint64_t shape; -1 with an exception for a
 * negative dimension or a bad sequence. */
int mmpy_shape_seq(PyObject *seq, int *nd, npy_intp *dims, uint64_t *shape)
{
    if (mmpy_intp_seq(seq, "shape", nd, dims))
        return -1;
    for (int d = 0; d < *nd; d++) {
        if (dims[d] < 0) {
            PyErr_SetString(PyExc_ValueError, "negative dimensions are not allowed");
            return -1;
        }
        shape[d] = (uint64_t)dims[d];
    }
    return 0;
}

/*
 * Whether an array (nd, dims, strides, item bytes) whose first element is `off` bytes into a
 * region of `size` bytes lies inside the region, with overflow-checked arithmetic. An empty
 * array touches nothing: it only needs 0 <= off <= size.
 */
int mmpy_extent_inside(npy_intp off, int nd, const npy_intp *dims, const npy_intp *strides,
                         npy_intp item, uint64_t size)
{
    if (off < 0 || (uint64_t)off > size || item < 0)
        return 0;
    for (int d = 0; d < nd; d++) {
        if (dims[d] < 0)
            return 0;
        if (dims[d] == 0)
            return 1;
    }
    int64_t lo = off, hi = off;
    for (int d = 0; d < nd; d++) {
        int64_t span;
        if (__builtin_mul_overflow((int64_t)dims[d] - 1, (int64_t)strides[d], &span))
            return 0;
        if (span < 0 ? __builtin_add_overflow(lo, span, &lo)
                     : __builtin_add_overflow(hi, span, &hi))
            return 0;
    }
    if (__builtin_add_overflow(hi, (int64_t)item, &hi))
        return 0;
    return lo >= 0 && (uint64_t)hi <= size;
}

/* Encode a str argument as UTF-8 without embedded NUL; NULL with an exception otherwise. */
const char *mmpy_utf8_arg(PyObject *s, const char *what)
{
    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError, "%s must be str, not %.100s", what, Py_TYPE(s)->tp_name);
        return NULL;
    }
    Py_ssize_t len;
    const char *u = PyUnicode_AsUTF8AndSize(s, &len);
    if (u && strlen(u) != (size_t)len) {
        PyErr_Format(PyExc_ValueError, "%s contains a NUL character", what);
        return NULL;
    }
    return u;
}

/* data_address(arr) -> the address of arr's first element (for tests and reduce). */
/* ---------------------------------------------------------------------------------------- */
/* Module                                                                                   */

static PyObject *mod_data_address(PyObject *mod, PyObject *arg)
{
    (void)mod;
    if (!PyArray_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "data_address() needs an ndarray");
        return NULL;
    }
    return PyLong_FromVoidPtr(PyArray_DATA((PyArrayObject *)arg));
}

/* pages_of(path) -> (kind, kind name, fs type, mount point, huge option): mmarr_pages_of */
static PyObject *mod_pages_of(PyObject *mod, PyObject *arg)
{
    (void)mod;
    PyObject *bytes;
    if (!PyUnicode_FSConverter(arg, &bytes))
        return NULL;
    mmarr_pages_info p;
    mmarr_error e;
    mmarr_err rc = mmarr_pages_of(PyBytes_AS_STRING(bytes), &p, &e);
    Py_DECREF(bytes);
    if (rc != MMARR_OK)
        return mmpy_raise(&e);
    return Py_BuildValue("(isO&O&s)", (int)p.kind, mmarr_pages_name(p.kind),
                         PyUnicode_DecodeFSDefault, p.fs_type, PyUnicode_DecodeFSDefault,
                         p.mount_point, p.huge);
}

static PyMethodDef module_methods[] = {
    {"open", mmpy_open, METH_VARARGS, "open(path, flags) -> Handle"},
    {"dtype_canonical", mmpy_dtype_canonical, METH_O,
     "dtype_canonical(text) -> (canonical text, itemsize)"},
    {"dtype_from_text", mmpy_dtype_from_text, METH_O,
     "dtype_from_text(text) -> numpy dtype, through the library's dtype parser"},
    {"data_address", mod_data_address, METH_O, "Address of an ndarray's first element."},
    {"pages_of", mod_pages_of, METH_O,
     "pages_of(path) -> (kind, name, fs type, mount point, huge): how mappings are backed"},
    {"rows", (PyCFunction)(void (*)(void))mmpy_rows, METH_FASTCALL,
     "rows(values, offsets, i) -> values[offsets[i]:offsets[i+1]], checked (Ragged items)"},
    {"cache_list", mmpy_cache_list, METH_VARARGS, "cache_list(dir=None) -> [dict]"},
    {"cache_clear", mmpy_cache_clear, METH_VARARGS, "cache_clear(keep_bytes, dir=None) -> int"},
    {"cache_default_dir", mmpy_cache_default_dir, METH_NOARGS, "cache_default_dir() -> str"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mmarr._mmarr",
    .m_doc = "C core of the mmarr package (see mmarr/__init__.py and mmarr/_mmarr.h).",
    .m_size = -1,
    .m_methods = module_methods,
};

/* The integer constants of mmarr.h the Python layer uses, as module attributes. */
static const struct {
    const char *name;
    unsigned long long value;
} int_constants[] = {
    {"FORMAT_VERSION_MAJOR", MMARR_FORMAT_VERSION_MAJOR},
    {"FORMAT_VERSION_MINOR", MMARR_FORMAT_VERSION_MINOR},
    {"OPEN_RDWR", MMARR_OPEN_RDWR},
    {"OPEN_VERIFY", MMARR_OPEN_VERIFY},
    {"OPEN_POPULATE", MMARR_OPEN_POPULATE},
    {"OPEN_NO_CHUNK_VERIFY", MMARR_OPEN_NO_CHUNK_VERIFY},
    {"OPEN_COPY_ON_WRITE", MMARR_OPEN_COPY_ON_WRITE},
    {"FLUSH_ASYNC", MMARR_FLUSH_ASYNC},
    {"FLUSH_REHASH", MMARR_FLUSH_REHASH},
    {"ADVICE_NORMAL", MMARR_ADVICE_NORMAL},
    {"ADVICE_SEQUENTIAL", MMARR_ADVICE_SEQUENTIAL},
    {"ADVICE_RANDOM", MMARR_ADVICE_RANDOM},
    {"ADVICE_WILLNEED", MMARR_ADVICE_WILLNEED},
    {"ADVICE_DONTNEED", MMARR_ADVICE_DONTNEED},
    {"ADVICE_HUGEPAGE", MMARR_ADVICE_HUGEPAGE},
    {"WRITE_NO_REPLACE", MMARR_WRITE_NO_REPLACE},
    {"WRITE_NO_SYNC", MMARR_WRITE_NO_SYNC},
    {"WRITE_WAIT", MMARR_WRITE_WAIT},
    {"PACK_NONE", MMARR_PACK_NONE},
    {"RAGGED_ARRAYS", MMARR_RAGGED_ARRAYS},
    {"RAGGED_UTF8", MMARR_RAGGED_UTF8},
    {"RAGGED_BYTES", MMARR_RAGGED_BYTES},
    {"PAGES_UNKNOWN", MMARR_PAGES_UNKNOWN},
    {"PAGES_SMALL_SHMEM", MMARR_PAGES_SMALL_SHMEM},
    {"PAGES_HUGE_SHMEM", MMARR_PAGES_HUGE_SHMEM},
    {"PAGES_PAGE_CACHE", MMARR_PAGES_PAGE_CACHE},
};

/* Add the integer constants to module m; -1 on error. */
static int add_constants(PyObject *m)
{
    for (size_t i = 0; i < sizeof int_constants / sizeof *int_constants; i++)
        if (set_attr_steal(m, int_constants[i].name,
                           PyLong_FromUnsignedLongLong(int_constants[i].value)) < 0)
            return -1;
    return 0;
}

PyMODINIT_FUNC PyInit__mmarr(void)
{
    import_array();
    PyObject *m = PyModule_Create(&module_def);
    if (!m)
        return NULL;
    mmpy_Error = PyErr_NewExceptionWithDoc(
        "mmarr.Error",
        "A failure reported by libmmarr. Attributes: code (int), code_name (e.g. "
        "'MMARR_E_CHECKSUM'), errno (or None), offset (file offset, or None).",
        NULL, NULL);
    if (mmpy_Error) {
        mmpy_NotZeroCopyError = PyErr_NewExceptionWithDoc(
            "mmarr.NotZeroCopyError",
            "File.view() on an array that is stored compressed (cold): it has no bytes to map.",
            mmpy_Error, NULL);
        file_changed_error = PyErr_NewExceptionWithDoc(
            "mmarr.FileChangedError",
            "Unpickling found the file gone, replaced or rewritten since the pickle was made.",
            mmpy_Error, NULL);
    }
    if (!mmpy_Error || !mmpy_NotZeroCopyError || !file_changed_error ||
        PyModule_AddObjectRef(m, "Error", mmpy_Error) < 0 ||
        PyModule_AddObjectRef(m, "NotZeroCopyError", mmpy_NotZeroCopyError) < 0 ||
        PyModule_AddObjectRef(m, "FileChangedError", file_changed_error) < 0 ||
        mmpy_file_types(m) < 0 || mmpy_view_types(m) < 0 || mmpy_writer_types(m) < 0 ||
        mmpy_text_functions(m) < 0 ||
        PyModule_AddStringConstant(m, "version", mmarr_version_string()) < 0 ||
        add_constants(m) < 0) {
        Py_CLEAR(mmpy_Error);
        Py_CLEAR(mmpy_NotZeroCopyError);
        Py_CLEAR(file_changed_error);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
