/* SPDX-License-Identifier: MIT */
/*
 * _mmarr.c — the C half of the `mmarr` Python package: numpy arrays that view an mmarr
 * file's mapping in place, and a writer, over the public C API (mmarr.h) only. The pure
 * Python half (__init__.py) builds the user-facing File/Writer/MappedArray on top.
 *
 * Objects and lifetimes:
 *   Handle       owns one mmarr_file. Python's File holds it; every array view holds it
 *                through its Mapping, so mmarr_close() runs only when the File is closed (or
 *                dropped) *and* the last view is gone. Closing a File with live views is safe.
 *   Mapping      the base object of every array view: (handle, array number, first byte,
 *                size). MappedArray.__reduce__ uses it to pickle a reference, not bytes.
 *   Writer       owns one mmarr_writer.
 *   Reservation  the base object of a Writer.reserve() view. Writers are created with
 *                MMARR_WRITE_KEEP_RESERVED: reserved memory stays at its address after
 *                commit (a private copy-on-write mapping of the committed bytes) or abandon
 *                (zero pages), and the last view of it releases it (mmarr_reserved_release).
 * Errors: library failures raise mmarr.Error with attributes code, code_name, errno, offset;
 * system errors (MMARR_E_IO / MMARR_E_NOSPACE with an errno) raise the matching OSError
 * subclass (FileNotFoundError, PermissionError, ...) with the same extra attributes.
 * State: the type objects and the exception class only; nothing else is global.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <mmarr.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#ifndef PyDataType_ELSIZE /* numpy < 2 */
#define PyDataType_ELSIZE(d) ((npy_intp)(d)->elsize)
#endif

PyMODINIT_FUNC PyInit__mmarr(void);

static PyObject *MmarrError; /* mmarr.Error, created by PyInit__mmarr */

/* ---------------------------------------------------------------------------------------- */
/* Errors                                                                                   */

static int set_attr_steal(PyObject *o, const char *name, PyObject *v)
{
    if (!v)
        return -1;
    const int rc = PyObject_SetAttrString(o, name, v);
    Py_DECREF(v);
    return rc;
}

/* Raise the Python exception for a failed library call; always returns NULL. */
static PyObject *raise_mmarr(const mmarr_error *e)
{
    const char *msg = e->message[0] ? e->message : mmarr_strerror(e->code);
    const int oserr = (e->code == MMARR_E_IO || e->code == MMARR_E_NOSPACE) && e->sys_errno;
    PyObject *exc = oserr ? PyObject_CallFunction(PyExc_OSError, "is", e->sys_errno, msg)
                          : PyObject_CallFunction(MmarrError, "s", msg);
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

/* ---------------------------------------------------------------------------------------- */
/* Small helpers                                                                            */

static PyObject *shape_tuple(unsigned ndim, const uint64_t *shape)
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
static int dict_put(PyObject *d, const char *key, PyObject *value)
{
    if (!value)
        return -1;
    const int rc = PyDict_SetItemString(d, key, value);
    Py_DECREF(value);
    return rc;
}

/* Read a sequence of n Python ints into out[]. */
static int intp_seq(PyObject *seq, const char *what, int *n, npy_intp *out)
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
static int shape_seq(PyObject *seq, int *nd, npy_intp *dims, uint64_t *shape)
{
    if (intp_seq(seq, "shape", nd, dims))
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
static int extent_inside(npy_intp off, int nd, const npy_intp *dims, const npy_intp *strides,
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

/* ---------------------------------------------------------------------------------------- */
/* Handle                                                                                   */

typedef struct {
    PyObject_HEAD
    mmarr_file *f;
    PyObject *path;           /* str, as opened: pickles reopen it */
    unsigned long long dev;   /* identity of the file mapped (mmarr_file_info.device) */
    unsigned long long ino;   /* mmarr_file_info.inode */
    Py_ssize_t nviews;        /* live Mapping objects pointing into this handle */
    PyObject *weakreflist;
} HandleObject;

static PyTypeObject HandleType;
static PyTypeObject MappingType;

static void handle_dealloc(HandleObject *self)
{
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    mmarr_close(self->f);
    Py_XDECREF(self->path);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int handle_index(HandleObject *self, Py_ssize_t index, mmarr_array_info *info)
{
    mmarr_error e;
    if (index < 0 || mmarr_file_array(self->f, (size_t)index, info, &e) != MMARR_OK) {
        PyErr_Format(PyExc_IndexError, "array number %zd out of range (file has %zu)", index,
                     mmarr_file_count(self->f));
        return -1;
    }
    return 0;
}

/*
 * open(path, flags) -> Handle. The identity pickles carry (st_dev, st_ino) is the one
 * mmarr_file_info reports: that of the descriptor the library mapped (mmarr.h).
 */
static PyObject *mod_open(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *path;
    unsigned int flags;
    if (!PyArg_ParseTuple(args, "UI:open", &path, &flags))
        return NULL;
    PyObject *bytes = PyUnicode_EncodeFSDefault(path);
    if (!bytes)
        return NULL;
    const char *p = PyBytes_AS_STRING(bytes);
    if (strlen(p) != (size_t)PyBytes_GET_SIZE(bytes)) {
        Py_DECREF(bytes);
        PyErr_SetString(PyExc_ValueError, "embedded null byte in path");
        return NULL;
    }
    mmarr_file *f = NULL;
    mmarr_error e;
    mmarr_err rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mmarr_open(p, flags, &f, &e);
    Py_END_ALLOW_THREADS
    Py_DECREF(bytes);
    if (rc != MMARR_OK)
        return raise_mmarr(&e);
    HandleObject *h = PyObject_New(HandleObject, &HandleType);
    if (!h) {
        mmarr_close(f);
        return NULL;
    }
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    h->f = f;
    h->path = Py_NewRef(path);
    h->dev = (unsigned long long)fi.device;
    h->ino = (unsigned long long)fi.inode;
    h->nviews = 0;
    h->weakreflist = NULL;
    return (PyObject *)h;
}

static PyObject *handle_count(HandleObject *self, PyObject *unused)
{
    (void)unused;
    return PyLong_FromSize_t(mmarr_file_count(self->f));
}

static PyObject *handle_names(HandleObject *self, PyObject *unused)
{
    (void)unused;
    const size_t n = mmarr_file_count(self->f);
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (!list)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        mmarr_array_info a;
        mmarr_error e;
        if (mmarr_file_array(self->f, i, &a, &e) != MMARR_OK) {
            Py_DECREF(list);
            return raise_mmarr(&e);
        }
        PyObject *s = PyUnicode_DecodeUTF8(a.name, (Py_ssize_t)a.name_size, "strict");
        if (!s) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, s);
    }
    return list;
}

/* find(name) -> index, or -1 when there is no such array (no exception). */
static PyObject *handle_find(HandleObject *self, PyObject *name)
{
    if (!PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "array names are str, not %.100s", Py_TYPE(name)->tp_name);
        return NULL;
    }
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(name, &len);
    if (!s) { /* e.g. a lone surrogate: no array can have that name */
        PyErr_Clear();
        return PyLong_FromLong(-1);
    }
    size_t index;
    mmarr_error e;
    if (strlen(s) != (size_t)len || mmarr_file_find(self->f, s, &index, &e) != MMARR_OK)
        return PyLong_FromLong(-1);
    return PyLong_FromSize_t(index);
}

static PyObject *meta_dict(HandleObject *self, Py_ssize_t index, size_t count)
{
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        const char *k, *v;
        mmarr_error e;
        const mmarr_err rc = index < 0 ? mmarr_file_meta(self->f, i, &k, &v, &e)
                                       : mmarr_array_meta(self->f, (size_t)index, i, &k, &v, &e);
        if (rc != MMARR_OK) {
            Py_DECREF(d);
            return raise_mmarr(&e);
        }
        PyObject *val = PyUnicode_FromString(v);
        if (!val || PyDict_SetItemString(d, k, val) != 0) {
            Py_XDECREF(val);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(val);
    }
    return d;
}

static PyObject *handle_file_meta(HandleObject *self, PyObject *unused)
{
    (void)unused;
    mmarr_file_info fi;
    mmarr_file_get_info(self->f, &fi);
    return meta_dict(self, -1, fi.meta_count);
}

static PyObject *handle_array_meta(HandleObject *self, PyObject *arg)
{
    const Py_ssize_t index = PyLong_AsSsize_t(arg);
    mmarr_array_info a;
    if ((index == -1 && PyErr_Occurred()) || handle_index(self, index, &a))
        return NULL;
    return meta_dict(self, index, a.meta_count);
}

static PyObject *handle_dtype(HandleObject *self, PyObject *arg)
{
    const Py_ssize_t index = PyLong_AsSsize_t(arg);
    mmarr_array_info a;
    if ((index == -1 && PyErr_Occurred()) || handle_index(self, index, &a))
        return NULL;
    return PyUnicode_FromString(a.dtype_str);
}

static const char *map_source_name(mmarr_map_source s)
{
    switch (s) {
    case MMARR_MAP_FILE:
        return "file";
    case MMARR_MAP_CACHE:
        return "cache";
    case MMARR_MAP_PRIVATE:
        return "private";
    default:
        return NULL;
    }
}

static PyObject *handle_info(HandleObject *self, PyObject *arg)
{
    const Py_ssize_t index = PyLong_AsSsize_t(arg);
    mmarr_array_info a;
    if ((index == -1 && PyErr_Occurred()) || handle_index(self, index, &a))
        return NULL;
    mmarr_map_info mi;
    mmarr_error e;
    if (mmarr_file_map_info(self->f, (size_t)index, &mi, &e) != MMARR_OK)
        return raise_mmarr(&e);
    const char *src = map_source_name(mi.source);
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    const int cold = a.storage == MMARR_STORAGE_COLD;
    if (dict_put(d, "name", PyUnicode_DecodeUTF8(a.name, (Py_ssize_t)a.name_size, "strict")) ||
        dict_put(d, "index", PyLong_FromSize_t(a.index)) ||
        dict_put(d, "dtype", PyUnicode_FromString(a.dtype_str)) ||
        dict_put(d, "shape", shape_tuple(a.ndim, a.shape)) ||
        dict_put(d, "order", PyUnicode_FromString(a.order == MMARR_ORDER_F ? "F" : "C")) ||
        dict_put(d, "storage", PyUnicode_FromString(cold ? "cold" : "hot")) ||
        dict_put(d, "itemsize", PyLong_FromUnsignedLongLong(a.itemsize)) ||
        dict_put(d, "nitems", PyLong_FromUnsignedLongLong(a.nitems)) ||
        dict_put(d, "nbytes", PyLong_FromUnsignedLongLong(a.nbytes)) ||
        dict_put(d, "stored_bytes", PyLong_FromUnsignedLongLong(a.stored_bytes)) ||
        dict_put(d, "offset", PyLong_FromUnsignedLongLong(a.offset)) ||
        dict_put(d, "checksum", PyLong_FromUnsignedLongLong(a.checksum)) ||
        dict_put(d, "packed", PyBool_FromLong(a.packed)) ||
        dict_put(d, "mapped", src ? PyUnicode_FromString(src) : Py_NewRef(Py_None))) {
        Py_DECREF(d);
        return NULL;
    }
    if (mi.source == MMARR_MAP_PRIVATE &&
        dict_put(d, "private_reason", PyUnicode_FromString(mi.reason.message))) {
        Py_DECREF(d);
        return NULL;
    }
    if (cold && (dict_put(d, "chunk_size", PyLong_FromUnsignedLongLong(a.chunk_size)) ||
                 dict_put(d, "chunk_count", PyLong_FromSize_t(a.chunk_count)) ||
                 dict_put(d, "level", PyLong_FromLong(a.level)) ||
                 dict_put(d, "shuffle", PyBool_FromLong(a.shuffle)))) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *handle_file_info(HandleObject *self, PyObject *unused)
{
    (void)unused;
    mmarr_file_info fi;
    mmarr_file_get_info(self->f, &fi);
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    if (dict_put(d, "path", Py_NewRef(self->path)) ||
        dict_put(d, "format", Py_BuildValue("(II)", fi.format_major, fi.format_minor)) ||
        dict_put(d, "file_size", PyLong_FromUnsignedLongLong(fi.file_size)) ||
        dict_put(d, "alignment", PyLong_FromUnsignedLongLong(fi.alignment)) ||
        dict_put(d, "generation", PyLong_FromUnsignedLongLong(fi.generation)) ||
        dict_put(d, "count", PyLong_FromSize_t(fi.count)) ||
        dict_put(d, "index_offset", PyLong_FromUnsignedLongLong(fi.index_offset)) ||
        dict_put(d, "index_size", PyLong_FromUnsignedLongLong(fi.index_size)) ||
        dict_put(d, "writable", PyBool_FromLong(fi.writable)) ||
        dict_put(d, "checksums_stale", PyBool_FromLong(fi.checksums_stale)) ||
        dict_put(d, "inactive_slot_damaged", PyBool_FromLong(fi.inactive_slot_damaged)) ||
        dict_put(d, "st_dev", PyLong_FromUnsignedLongLong(self->dev)) ||
        dict_put(d, "st_ino", PyLong_FromUnsignedLongLong(self->ino))) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* identity() -> (st_dev, st_ino, index_offset, index_size): what a pickle of this file
 * records. In-place writes through "r+" handles keep it; a rewrite (new inode) or a rehash
 * (new index) changes it. */
static PyObject *handle_identity(HandleObject *self, PyObject *unused)
{
    (void)unused;
    mmarr_file_info fi;
    mmarr_file_get_info(self->f, &fi);
    return Py_BuildValue("(KKKK)", self->dev, self->ino, (unsigned long long)fi.index_offset,
                         (unsigned long long)fi.index_size);
}

/* array_key(index) -> (offset, stored_bytes, nbytes, checksum, dtype, shape, order): what a
 * pickle of the array records besides the file identity. */
static PyObject *handle_array_key(HandleObject *self, PyObject *arg)
{
    const Py_ssize_t index = PyLong_AsSsize_t(arg);
    mmarr_array_info a;
    if ((index == -1 && PyErr_Occurred()) || handle_index(self, index, &a))
        return NULL;
    PyObject *shape = shape_tuple(a.ndim, a.shape);
    if (!shape)
        return NULL;
    return Py_BuildValue("(KKKKsNi)", (unsigned long long)a.offset,
                         (unsigned long long)a.stored_bytes, (unsigned long long)a.nbytes,
                         (unsigned long long)a.checksum, a.dtype_str, shape, (int)a.order);
}

static PyObject *handle_get_writable(HandleObject *self, void *closure)
{
    (void)closure;
    mmarr_file_info fi;
    mmarr_file_get_info(self->f, &fi);
    return PyBool_FromLong(fi.writable);
}

static PyObject *handle_get_nviews(HandleObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromSsize_t(self->nviews);
}

/* The first byte of array `index`: the file mapping (hot) or the decompressed mapping
 * (cold, through the shared cache). Sets *writable to whether it may be written. */
static int array_bytes(HandleObject *self, Py_ssize_t index, const mmarr_array_info *a,
                       char **data, int *writable)
{
    mmarr_file_info fi;
    mmarr_file_get_info(self->f, &fi);
    if (a->storage == MMARR_STORAGE_HOT) {
        *data = a->data;
        *writable = fi.writable;
        return 0;
    }
    const void *p = NULL;
    mmarr_error e;
    mmarr_err rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mmarr_file_map(self->f, (size_t)index, &p, &e);
    Py_END_ALLOW_THREADS
    if (rc != MMARR_OK) {
        raise_mmarr(&e);
        return -1;
    }
    *data = (char *)p;
    *writable = 0; /* cold data is never modified in place (spec.md §11.2) */
    return 0;
}

static PyObject *new_mapping(HandleObject *h, Py_ssize_t index, char *start, uint64_t nbytes);

/*
 * view(index, dtype, subtype, cold_ok=True, writable=None, offset=0, shape=None,
 *      strides=None) -> ndarray of `subtype` over the array's bytes, no copy.
 * Without shape/strides: the array as stored (dtype must have the stored itemsize).
 * With them (pickled views): any geometry that lies inside the array's bytes, `offset`
 * bytes from its start. writable=None: as the mapping allows; False: read-only.
 */
static PyObject *handle_view(HandleObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"index",  "dtype", "subtype", "cold_ok", "writable",
                             "offset", "shape", "strides", NULL};
    Py_ssize_t index, offset = 0;
    PyArray_Descr *descr = NULL;
    PyObject *subtype, *writable_o = Py_None, *shape_o = Py_None, *strides_o = Py_None;
    int cold_ok = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "nO&O|pOnOO:view", kwlist, &index,
                                     PyArray_DescrConverter, &descr, &subtype, &cold_ok,
                                     &writable_o, &offset, &shape_o, &strides_o))
        return NULL;
    PyObject *result = NULL;
    mmarr_array_info a;
    if (!PyType_Check(subtype) ||
        !PyType_IsSubtype((PyTypeObject *)subtype, &PyArray_Type)) {
        PyErr_SetString(PyExc_TypeError, "subtype must be numpy.ndarray or a subclass");
        goto done;
    }
    if (handle_index(self, index, &a))
        goto done;
    if (!cold_ok && a.storage == MMARR_STORAGE_COLD) {
        PyErr_Format(MmarrError, "array \"%s\" is stored compressed (cold): no zero-copy view",
                     a.name);
        goto done;
    }
    const npy_intp item = PyDataType_ELSIZE(descr);
    if (item < 1 || PyDataType_REFCHK(descr)) { /* file bytes are never object pointers */
        PyErr_SetString(PyExc_TypeError, "view needs a sized dtype without objects");
        goto done;
    }
    int nd;
    npy_intp dims[NPY_MAXDIMS], strides[NPY_MAXDIMS];
    if (shape_o == Py_None && strides_o == Py_None) {
        if ((uint64_t)item != a.itemsize) {
            PyErr_Format(PyExc_TypeError,
                         "array \"%s\": dtype itemsize %zd differs from the stored %llu",
                         a.name, (Py_ssize_t)item, (unsigned long long)a.itemsize);
            goto done;
        }
        if (a.ndim > NPY_MAXDIMS) {
            PyErr_Format(PyExc_ValueError,
                         "array \"%s\" has %u dimensions; numpy supports %d (use read())",
                         a.name, a.ndim, NPY_MAXDIMS);
            goto done;
        }
        nd = (int)a.ndim;
        for (int d = 0; d < nd; d++) {
            if (a.shape[d] > (uint64_t)NPY_MAX_INTP) {
                PyErr_Format(PyExc_ValueError, "array \"%s\" is too large", a.name);
                goto done;
            }
            dims[d] = (npy_intp)a.shape[d];
            strides[d] = (npy_intp)a.strides[d];
        }
        if (offset != 0) {
            PyErr_SetString(PyExc_TypeError, "offset needs shape and strides");
            goto done;
        }
    } else {
        int ns;
        if (shape_o == Py_None || strides_o == Py_None) {
            PyErr_SetString(PyExc_TypeError, "give both shape and strides, or neither");
            goto done;
        }
        if (intp_seq(shape_o, "shape", &nd, dims) || intp_seq(strides_o, "strides", &ns, strides))
            goto done;
        if (nd != ns) {
            PyErr_SetString(PyExc_ValueError, "shape and strides differ in length");
            goto done;
        }
        if (!extent_inside(offset, nd, dims, strides, item, a.nbytes)) {
            PyErr_Format(PyExc_ValueError,
                         "array \"%s\": the view (offset %zd) lies outside its %llu bytes",
                         a.name, offset, (unsigned long long)a.nbytes);
            goto done;
        }
    }
    char *data;
    int can_write;
    if (array_bytes(self, index, &a, &data, &can_write))
        goto done;
    if (writable_o != Py_None) {
        const int want = PyObject_IsTrue(writable_o);
        if (want < 0)
            goto done;
        if (want && !can_write) {
            PyErr_Format(PyExc_ValueError, "array \"%s\" cannot be written through this handle",
                         a.name);
            goto done;
        }
        can_write = want;
    }
    char *start = data;
    /* an empty array may have no address; numpy needs one that is never dereferenced */
    if (!data)
        start = data = (char *)self;
    PyObject *mapping = new_mapping(self, index, start, a.nbytes);
    if (!mapping)
        goto done;
    Py_INCREF(descr); /* PyArray_NewFromDescr steals it */
    result = PyArray_NewFromDescr((PyTypeObject *)subtype, descr, nd, dims, strides,
                                  data + offset, can_write ? NPY_ARRAY_WRITEABLE : 0, NULL);
    if (!result) {
        Py_DECREF(mapping);
        goto done;
    }
    if (PyArray_SetBaseObject((PyArrayObject *)result, mapping) < 0) /* steals mapping */
        Py_CLEAR(result);
done:
    Py_XDECREF(descr);
    return result;
}

/* read(index, byte_offset, out): copy bytes into the contiguous ndarray `out` (hot or cold;
 * cold decompresses only the chunks the range touches). */
static PyObject *handle_read(HandleObject *self, PyObject *args)
{
    Py_ssize_t index;
    unsigned long long off;
    PyArrayObject *out;
    if (!PyArg_ParseTuple(args, "nKO!:read", &index, &off, &PyArray_Type, &out))
        return NULL;
    mmarr_array_info a;
    if (handle_index(self, index, &a))
        return NULL;
    if (!(PyArray_IS_C_CONTIGUOUS(out) || PyArray_IS_F_CONTIGUOUS(out)) ||
        !PyArray_ISWRITEABLE(out)) {
        PyErr_SetString(PyExc_ValueError, "read: out must be a contiguous writable array");
        return NULL;
    }
    const uint64_t n = (uint64_t)PyArray_NBYTES(out);
    void *dst = PyArray_DATA(out);
    mmarr_error e;
    mmarr_err rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mmarr_file_read(self->f, (size_t)index, off, dst, n, &e);
    Py_END_ALLOW_THREADS
    if (rc != MMARR_OK)
        return raise_mmarr(&e);
    Py_RETURN_NONE;
}

/* verify(index=-1): one array's checksum, or the whole file for -1. */
static PyObject *handle_verify(HandleObject *self, PyObject *args)
{
    Py_ssize_t index = -1;
    if (!PyArg_ParseTuple(args, "|n:verify", &index))
        return NULL;
    mmarr_array_info a;
    if (index >= 0 && handle_index(self, index, &a))
        return NULL;
    mmarr_error e;
    mmarr_err rc;
    Py_BEGIN_ALLOW_THREADS
    rc = index < 0 ? mmarr_file_verify(self->f, &e)
                   : mmarr_file_verify_array(self->f, (size_t)index, &e);
    Py_END_ALLOW_THREADS
    if (rc != MMARR_OK)
        return raise_mmarr(&e);
    Py_RETURN_NONE;
}

/*
 * flush(flags). A rehash turns the handle's memory read-only (mmarr.h), so a write through a
 * view made before would fault: it is refused while any view of this handle is alive.
 */
static PyObject *handle_flush(HandleObject *self, PyObject *args)
{
    unsigned int flags;
    if (!PyArg_ParseTuple(args, "I:flush", &flags))
        return NULL;
    if ((flags & MMARR_FLUSH_REHASH) && self->nviews > 0) {
        PyErr_Format(MmarrError,
                     "%U: cannot rehash while %zd array view(s) of this file are alive: a "
                     "rehash makes their memory read-only; delete them first",
                     self->path, self->nviews);
        return NULL;
    }
    mmarr_error e;
    mmarr_err rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mmarr_file_flush(self->f, flags, &e);
    Py_END_ALLOW_THREADS
    if (rc != MMARR_OK)
        return raise_mmarr(&e);
    Py_RETURN_NONE;
}

/* The cache directory argument: None (the default directory) or a path. *bytes owns it. */
static int cache_dir_arg(PyObject *dir, PyObject **bytes)
{
    *bytes = NULL;
    return dir == Py_None || PyUnicode_FSConverter(dir, bytes);
}

/* set_cache(dir or None, max_bytes) */
static PyObject *handle_set_cache(HandleObject *self, PyObject *args)
{
    PyObject *dir, *bytes = NULL;
    unsigned long long max_bytes = 0;
    if (!PyArg_ParseTuple(args, "OK:set_cache", &dir, &max_bytes))
        return NULL;
    if (!cache_dir_arg(dir, &bytes))
        return NULL;
    mmarr_error e;
    const mmarr_err rc =
        mmarr_file_set_cache(self->f, bytes ? PyBytes_AS_STRING(bytes) : NULL, max_bytes, &e);
    Py_XDECREF(bytes);
    if (rc != MMARR_OK)
        return raise_mmarr(&e);
    Py_RETURN_NONE;
}

static PyObject *handle_set_threads(HandleObject *self, PyObject *arg)
{
    const unsigned long n = PyLong_AsUnsignedLong(arg);
    if (n == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    mmarr_file_set_threads(self->f, (unsigned)n);
    Py_RETURN_NONE;
}

/* An array number from Python, or -1 (any negative): the whole file. */
static size_t array_or_all(Py_ssize_t index) { return index < 0 ? MMARR_ALL : (size_t)index; }

/* Call a memory function that may take a while (faults, reads) without the GIL. */
static PyObject *pages_call(HandleObject *self, Py_ssize_t index,
                            mmarr_err (*fn)(mmarr_file *, size_t, mmarr_error *))
{
    mmarr_error e;
    mmarr_err rc;
    Py_BEGIN_ALLOW_THREADS
    rc = fn(self->f, array_or_all(index), &e);
    Py_END_ALLOW_THREADS
    if (rc != MMARR_OK)
        return raise_mmarr(&e);
    Py_RETURN_NONE;
}

/* prefetch(index=-1): fault an array's pages (or the whole file) in now. */
static PyObject *handle_prefetch(HandleObject *self, PyObject *args)
{
    Py_ssize_t index = -1;
    if (!PyArg_ParseTuple(args, "|n:prefetch", &index))
        return NULL;
    return pages_call(self, index, mmarr_file_prefetch);
}

/* lock(on, index=-1): mlock (on) or munlock (not on) an array's pages (or the file's). */
static PyObject *handle_lock(HandleObject *self, PyObject *args)
{
    int on;
    Py_ssize_t index = -1;
    if (!PyArg_ParseTuple(args, "p|n:lock", &on, &index))
        return NULL;
    return pages_call(self, index, on ? mmarr_file_lock : mmarr_file_unlock);
}

/* advise(advice, index=-1): madvise an array's pages (or the whole file's). */
static PyObject *handle_advise(HandleObject *self, PyObject *args)
{
    int advice;
    Py_ssize_t index = -1;
    if (!PyArg_ParseTuple(args, "i|n:advise", &advice, &index))
        return NULL;
    mmarr_error e;
    mmarr_err rc;
    Py_BEGIN_ALLOW_THREADS /* WILLNEED and DONTNEED can take a while on a large file */
    rc = mmarr_file_advise(self->f, array_or_all(index), (mmarr_advice)advice, &e);
    Py_END_ALLOW_THREADS
    if (rc != MMARR_OK)
        return raise_mmarr(&e);
    Py_RETURN_NONE;
}

/* resident(index=-1) -> (resident_bytes, total_bytes) */
static PyObject *handle_resident(HandleObject *self, PyObject *args)
{
    Py_ssize_t index = -1;
    if (!PyArg_ParseTuple(args, "|n:resident", &index))
        return NULL;
    uint64_t resident = 0, total = 0;
    mmarr_error e;
    mmarr_err rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mmarr_file_resident(self->f, array_or_all(index), &resident, &total, &e);
    Py_END_ALLOW_THREADS
    if (rc != MMARR_OK)
        return raise_mmarr(&e);
    return Py_BuildValue("(KK)", (unsigned long long)resident, (unsigned long long)total);
}

static PyObject *handle_repr(HandleObject *self)
{
    return PyUnicode_FromFormat("<mmarr handle %R, %zu arrays, %zd views>", self->path,
                                mmarr_file_count(self->f), self->nviews);
}

static PyMethodDef handle_methods[] = {
    {"count", (PyCFunction)handle_count, METH_NOARGS, "Number of arrays."},
    {"names", (PyCFunction)handle_names, METH_NOARGS, "Array names in file order."},
    {"find", (PyCFunction)handle_find, METH_O, "Array number of a name, or -1."},
    {"dtype", (PyCFunction)handle_dtype, METH_O, "Canonical dtype text of array i."},
    {"info", (PyCFunction)handle_info, METH_O, "Description of array i (dict)."},
    {"file_info", (PyCFunction)handle_file_info, METH_NOARGS, "File-wide facts (dict)."},
    {"file_meta", (PyCFunction)handle_file_meta, METH_NOARGS, "File metadata (dict)."},
    {"array_meta", (PyCFunction)handle_array_meta, METH_O, "Metadata of array i (dict)."},
    {"identity", (PyCFunction)handle_identity, METH_NOARGS,
     "(st_dev, st_ino, index_offset, index_size) of the mapped file."},
    {"array_key", (PyCFunction)handle_array_key, METH_O,
     "What identifies array i's bytes: (offset, stored, nbytes, checksum, dtype, shape, "
     "order)."},
    {"view", (PyCFunction)(void (*)(void))handle_view, METH_VARARGS | METH_KEYWORDS,
     "view(index, dtype, subtype, cold_ok=True, writable=None, offset=0, shape=None, "
     "strides=None) -> ndarray over the mapping."},
    {"read", (PyCFunction)handle_read, METH_VARARGS,
     "read(index, byte_offset, out): copy raw bytes into a contiguous array."},
    {"verify", (PyCFunction)handle_verify, METH_VARARGS, "verify(index=-1)"},
    {"flush", (PyCFunction)handle_flush, METH_VARARGS, "flush(flags)"},
    {"set_cache", (PyCFunction)handle_set_cache, METH_VARARGS, "set_cache(dir, max_bytes)"},
    {"set_threads", (PyCFunction)handle_set_threads, METH_O, "set_threads(n)"},
    {"prefetch", (PyCFunction)handle_prefetch, METH_VARARGS, "prefetch(index=-1)"},
    {"advise", (PyCFunction)handle_advise, METH_VARARGS, "advise(advice, index=-1)"},
    {"lock", (PyCFunction)handle_lock, METH_VARARGS, "lock(on, index=-1)"},
    {"resident", (PyCFunction)handle_resident, METH_VARARGS,
     "resident(index=-1) -> (resident_bytes, total_bytes)"},
    {NULL, NULL, 0, NULL}};

static PyMemberDef handle_members[] = {
    {"path", T_OBJECT_EX, offsetof(HandleObject, path), READONLY, "path as opened"},
    {"st_dev", T_ULONGLONG, offsetof(HandleObject, dev), READONLY, "device of the file"},
    {"st_ino", T_ULONGLONG, offsetof(HandleObject, ino), READONLY, "inode of the file"},
    {NULL, 0, 0, 0, NULL}};

static PyGetSetDef handle_getset[] = {
    {"writable", (getter)handle_get_writable, NULL, "mapped read-write (until a rehash)", NULL},
    {"nviews", (getter)handle_get_nviews, NULL, "live array views of this handle", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject HandleType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mmarr._mmarr.Handle",
    .tp_basicsize = sizeof(HandleObject),
    .tp_dealloc = (destructor)handle_dealloc,
    .tp_repr = (reprfunc)handle_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An open mmarr file (mmarr_file). Made by open(); closed when unreferenced.",
    .tp_weaklistoffset = offsetof(HandleObject, weakreflist),
    .tp_methods = handle_methods,
    .tp_members = handle_members,
    .tp_getset = handle_getset,
};

/* ---------------------------------------------------------------------------------------- */
/* Mapping: the base object of array views                                                  */

typedef struct {
    PyObject_HEAD
    HandleObject *handle;
    Py_ssize_t index;
    char *start;     /* byte 0 of the array */
    uint64_t nbytes; /* its raw size */
} MappingObject;

static PyObject *new_mapping(HandleObject *h, Py_ssize_t index, char *start, uint64_t nbytes)
{
    MappingObject *m = PyObject_New(MappingObject, &MappingType);
    if (!m)
        return NULL;
    m->handle = (HandleObject *)Py_NewRef((PyObject *)h);
    m->index = index;
    m->start = start;
    m->nbytes = nbytes;
    h->nviews++;
    return (PyObject *)m;
}

static void mapping_dealloc(MappingObject *self)
{
    self->handle->nviews--;
    Py_DECREF(self->handle);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* locate(arr) -> byte offset of arr's first element from the array's byte 0, or None when
 * arr does not lie wholly inside this mapping's bytes. */
static PyObject *mapping_locate(MappingObject *self, PyObject *arg)
{
    if (!PyArray_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "locate() needs an ndarray");
        return NULL;
    }
    PyArrayObject *arr = (PyArrayObject *)arg;
    const char *p = PyArray_DATA(arr);
    const uintptr_t s = (uintptr_t)self->start, q = (uintptr_t)p;
    if (q < s || q - s > self->nbytes)
        Py_RETURN_NONE;
    const npy_intp off = (npy_intp)(q - s);
    if (!extent_inside(off, PyArray_NDIM(arr), PyArray_DIMS(arr), PyArray_STRIDES(arr),
                       PyArray_ITEMSIZE(arr), self->nbytes))
        Py_RETURN_NONE;
    return PyLong_FromSsize_t(off);
}

static PyObject *mapping_get_name(MappingObject *self, void *closure)
{
    (void)closure;
    mmarr_array_info a;
    if (handle_index(self->handle, self->index, &a))
        return NULL;
    return PyUnicode_DecodeUTF8(a.name, (Py_ssize_t)a.name_size, "strict");
}

static PyObject *mapping_get_start(MappingObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromVoidPtr(self->start);
}

static PyObject *mapping_repr(MappingObject *self)
{
    PyObject *name = mapping_get_name(self, NULL);
    if (!name)
        return NULL;
    PyObject *r = PyUnicode_FromFormat("<mmarr mapping of %R in %R>", name, self->handle->path);
    Py_DECREF(name);
    return r;
}

static PyMethodDef mapping_methods[] = {
    {"locate", (PyCFunction)mapping_locate, METH_O,
     "Byte offset of an ndarray's first element inside this array, or None."},
    {NULL, NULL, 0, NULL}};

static PyMemberDef mapping_members[] = {
    {"handle", T_OBJECT_EX, offsetof(MappingObject, handle), READONLY, "the file handle"},
    {"index", T_PYSSIZET, offsetof(MappingObject, index), READONLY, "array number"},
    {"nbytes", T_ULONGLONG, offsetof(MappingObject, nbytes), READONLY, "raw bytes"},
    {NULL, 0, 0, 0, NULL}};

static PyGetSetDef mapping_getset[] = {
    {"name", (getter)mapping_get_name, NULL, "array name", NULL},
    {"start", (getter)mapping_get_start, NULL, "address of the array's first byte", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject MappingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mmarr._mmarr.Mapping",
    .tp_basicsize = sizeof(MappingObject),
    .tp_dealloc = (destructor)mapping_dealloc,
    .tp_repr = (reprfunc)mapping_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Keeps an mmarr file mapped while an array view of it is alive.",
    .tp_methods = mapping_methods,
    .tp_members = mapping_members,
    .tp_getset = mapping_getset,
};

/* ---------------------------------------------------------------------------------------- */
/* Writer and Reservation                                                                   */

typedef struct ReservationObject ReservationObject;

/* Memory one mmarr_writer_reserve() returned. The writer is created with
 * MMARR_WRITE_KEEP_RESERVED, so it outlives the writer and is ours to release
 * (mmarr_reserved_release) once mmarr_writer_free() has run. */
typedef struct {
    void *ptr;
    uint64_t nbytes;
    ReservationObject *owner; /* the view's base object while it lives, else NULL */
} ReservedMem;

typedef struct {
    PyObject_HEAD
    mmarr_writer *w;          /* NULL once committed or abandoned */
    PyObject *path;           /* str */
    int busy;                 /* a call runs without the GIL */
    ReservedMem *res;         /* every reservation of the running writer */
    size_t nres, capres;
} WriterObject;

struct ReservationObject {
    PyObject_HEAD
    WriterObject *writer;     /* strong while the writer runs; NULL after it finished */
    size_t slot;              /* its entry in writer->res while attached */
    void *ptr;                /* the reserved memory, released here once detached */
    uint64_t nbytes;
};

static PyTypeObject WriterType;
static PyTypeObject ReservationType;

static void reservation_dealloc(ReservationObject *self)
{
    WriterObject *w = self->writer;
    if (w) { /* the writer still runs: it releases the memory after mmarr_writer_free() */
        w->res[self->slot].owner = NULL;
        Py_DECREF(w);
    } else {
        mmarr_reserved_release(self->ptr, self->nbytes);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject ReservationType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mmarr._mmarr.Reservation",
    .tp_basicsize = sizeof(ReservationObject),
    .tp_dealloc = (destructor)reservation_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Keeps a Writer.reserve() view valid, also after commit or abandon.",
};

/*
 * Free the mmarr_writer (abandoning it unless committed) and take over its reserved memory
 * (MMARR_WRITE_KEEP_RESERVED, mmarr.h): memory whose view is gone is released now, a live
 * view's Reservation releases its own when it dies. The caller holds a reference to self
 * (each detached Reservation drops one).
 */
static void writer_finish(WriterObject *self)
{
    mmarr_writer_free(self->w);
    self->w = NULL;
    size_t detached = 0;
    for (size_t i = 0; i < self->nres; i++) {
        ReservedMem *m = &self->res[i];
        if (m->owner) {
            m->owner->writer = NULL;
            detached++;
        } else {
            mmarr_reserved_release(m->ptr, m->nbytes);
        }
    }
    PyMem_Free(self->res);
    self->res = NULL;
    self->nres = self->capres = 0;
    while (detached--)
        Py_DECREF(self);
}

static int writer_usable(WriterObject *self)
{
    if (!self->w) {
        PyErr_SetString(PyExc_ValueError, "the writer is already committed or abandoned");
        return -1;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the writer is in use by another thread");
        return -1;
    }
    return 0;
}

static PyObject *writer_raise(WriterObject *self)
{
    return raise_mmarr(mmarr_writer_error(self->w));
}

static PyObject *writer_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"path", "alignment", "pack_threshold", "flags", NULL};
    PyObject *path;
    unsigned int alignment = 0, flags = 0;
    unsigned long long pack = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "U|IKI:Writer", kwlist, &path, &alignment,
                                     &pack, &flags))
        return NULL;
    PyObject *bytes = PyUnicode_EncodeFSDefault(path);
    if (!bytes)
        return NULL;
    if (strlen(PyBytes_AS_STRING(bytes)) != (size_t)PyBytes_GET_SIZE(bytes)) {
        Py_DECREF(bytes);
        PyErr_SetString(PyExc_ValueError, "embedded null byte in path");
        return NULL;
    }
    mmarr_writer_options o;
    memset(&o, 0, sizeof o);
    o.alignment = alignment;
    o.pack_threshold = pack;
    o.flags = flags | MMARR_WRITE_KEEP_RESERVED; /* views may outlive the writer */
    mmarr_writer *w = NULL;
    mmarr_error e;
    mmarr_err rc;
    const char *p = PyBytes_AS_STRING(bytes);
    Py_BEGIN_ALLOW_THREADS
    rc = mmarr_writer_create(p, &o, &w, &e);
    Py_END_ALLOW_THREADS
    Py_DECREF(bytes);
    if (rc != MMARR_OK)
        return raise_mmarr(&e);
    WriterObject *self = (WriterObject *)type->tp_alloc(type, 0);
    if (!self) {
        mmarr_writer_free(w);
        return NULL;
    }
    self->w = w;
    self->path = Py_NewRef(path);
    self->busy = 0;
    self->res = NULL;
    self->nres = self->capres = 0;
    return (PyObject *)self;
}

static void writer_dealloc(WriterObject *self)
{
    /* reservations hold a reference while attached, so none is left here */
    writer_finish(self); /* abandons an uncommitted file */
    Py_XDECREF(self->path);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Encode a str argument as UTF-8 without embedded NUL; NULL with an exception otherwise. */
static const char *utf8_arg(PyObject *s, const char *what)
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

/* Item size of dtype text per the library's parser; 0 with an exception on error. */
static uint64_t dtype_itemsize(const char *text)
{
    mmarr_dtype *dt;
    mmarr_error e;
    if (mmarr_dtype_parse(text, &dt, &e) != MMARR_OK) {
        raise_mmarr(&e);
        return 0;
    }
    const uint64_t n = mmarr_dtype_itemsize(dt);
    mmarr_dtype_free(dt);
    return n;
}

/* Parse an optional compress tuple (level, chunk_size, shuffle, threads). 1: present. */
static int compress_opts(PyObject *o, mmarr_compress_options *c)
{
    memset(c, 0, sizeof *c);
    if (o == Py_None)
        return 0;
    unsigned long long chunk;
    if (!PyArg_ParseTuple(o, "iKpI;compress must be (level, chunk_size, shuffle, threads)",
                          &c->level, &chunk, &c->shuffle, &c->threads))
        return -1;
    c->chunk_size = chunk;
    return 1;
}

/*
 * add(name, dtype_text, array, compress=None): store a C- or F-contiguous ndarray's bytes
 * under dtype_text, whose item size must equal the array's. compress: None (hot) or
 * (level, chunk_size, shuffle, threads) for a cold array.
 */
static PyObject *writer_add(WriterObject *self, PyObject *args)
{
    PyObject *name_o, *dtype_o, *compress = Py_None;
    PyArrayObject *arr;
    if (!PyArg_ParseTuple(args, "UUO!|O:add", &name_o, &dtype_o, &PyArray_Type, &arr,
                          &compress))
        return NULL;
    if (writer_usable(self))
        return NULL;
    const char *name = utf8_arg(name_o, "name"), *dtype = utf8_arg(dtype_o, "dtype");
    if (!name || !dtype)
        return NULL;
    if (PyDataType_REFCHK(PyArray_DESCR(arr))) {
        PyErr_Format(PyExc_TypeError, "array \"%s\": object arrays cannot be stored", name);
        return NULL;
    }
    const uint64_t item = dtype_itemsize(dtype);
    if (!item)
        return NULL;
    if (item != (uint64_t)PyArray_ITEMSIZE(arr)) {
        PyErr_Format(PyExc_ValueError, "array \"%s\": dtype %s has itemsize %llu, the array %zd",
                     name, dtype, (unsigned long long)item, (Py_ssize_t)PyArray_ITEMSIZE(arr));
        return NULL;
    }
    mmarr_order order;
    if (PyArray_IS_C_CONTIGUOUS(arr))
        order = MMARR_ORDER_C;
    else if (PyArray_IS_F_CONTIGUOUS(arr))
        order = MMARR_ORDER_F;
    else {
        PyErr_Format(PyExc_ValueError, "array \"%s\" is not contiguous", name);
        return NULL;
    }
    mmarr_compress_options c;
    const int cold = compress_opts(compress, &c);
    if (cold < 0)
        return NULL;
    const int nd = PyArray_NDIM(arr);
    uint64_t shape[NPY_MAXDIMS];
    for (int d = 0; d < nd; d++)
        shape[d] = (uint64_t)PyArray_DIM(arr, d);
    const void *data = PyArray_DATA(arr);
    mmarr_err rc;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    rc = cold ? mmarr_writer_add_cold(self->w, name, dtype, (unsigned)nd, shape, order, data, &c)
              : mmarr_writer_add(self->w, name, dtype, (unsigned)nd, shape, order, data);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    if (rc != MMARR_OK)
        return writer_raise(self);
    Py_RETURN_NONE;
}

/*
 * reserve(name, dtype_text, dtype, shape, fortran) -> writable ndarray (numpy dtype `dtype`,
 * whose itemsize must match dtype_text's) over the array's zero-filled bytes in the file.
 */
static PyObject *writer_reserve(WriterObject *self, PyObject *args)
{
    PyObject *name_o, *dtype_o, *shape_o;
    PyArray_Descr *descr = NULL;
    int fortran;
    if (!PyArg_ParseTuple(args, "UUO&Op:reserve", &name_o, &dtype_o, PyArray_DescrConverter,
                          &descr, &shape_o, &fortran))
        return NULL;
    PyObject *result = NULL;
    int nd;
    npy_intp dims[NPY_MAXDIMS];
    uint64_t shape[NPY_MAXDIMS];
    const char *name = utf8_arg(name_o, "name"), *dtype = utf8_arg(dtype_o, "dtype");
    if (!name || !dtype || writer_usable(self) || shape_seq(shape_o, &nd, dims, shape))
        goto done;
    const uint64_t item = dtype_itemsize(dtype);
    if (!item)
        goto done;
    if (item != (uint64_t)PyDataType_ELSIZE(descr)) {
        PyErr_Format(PyExc_ValueError, "reserve \"%s\": dtype %s has itemsize %llu, numpy's %zd",
                     name, dtype, (unsigned long long)item, (Py_ssize_t)PyDataType_ELSIZE(descr));
        goto done;
    }
    if (PyDataType_REFCHK(descr)) {
        PyErr_Format(PyExc_TypeError, "reserve \"%s\": object dtypes cannot be stored", name);
        goto done;
    }
    if (self->nres == self->capres) { /* room first: the record cannot fail after the reserve */
        const size_t cap = self->capres ? 2 * self->capres : 8;
        ReservedMem *res = PyMem_Realloc(self->res, cap * sizeof *res);
        if (!res) {
            PyErr_NoMemory();
            goto done;
        }
        self->res = res;
        self->capres = cap;
    }
    void *p = NULL;
    if (mmarr_writer_reserve(self->w, name, dtype, (unsigned)nd, shape,
                             fortran ? MMARR_ORDER_F : MMARR_ORDER_C, &p) != MMARR_OK) {
        writer_raise(self);
        goto done;
    }
    uint64_t nbytes = item;
    for (int d = 0; d < nd; d++)
        nbytes *= shape[d]; /* the library checked the product for overflow */
    ReservedMem *m = &self->res[self->nres++];
    m->ptr = p;
    m->nbytes = nbytes;
    m->owner = NULL;
    ReservationObject *r = PyObject_New(ReservationObject, &ReservationType);
    if (!r)
        goto done;
    r->writer = (WriterObject *)Py_NewRef((PyObject *)self);
    r->slot = self->nres - 1;
    r->ptr = p;
    r->nbytes = nbytes;
    m->owner = r;
    Py_INCREF(descr);
    result = PyArray_NewFromDescr(&PyArray_Type, descr, nd, dims, NULL,
                                  p ? p : (void *)r, /* empty: any address, never used */
                                  NPY_ARRAY_WRITEABLE | (fortran ? NPY_ARRAY_F_CONTIGUOUS : 0),
                                  NULL);
    if (!result) {
        Py_DECREF(r);
        goto done;
    }
    if (PyArray_SetBaseObject((PyArrayObject *)result, (PyObject *)r) < 0)
        Py_CLEAR(result);
done:
    Py_XDECREF(descr);
    return result;
}

/*
 * begin(name, dtype_text, shape, fortran, compress=None): start a streamed array
 * (mmarr_writer_begin); its bytes follow through write() and end().
 */
static PyObject *writer_begin(WriterObject *self, PyObject *args)
{
    PyObject *name_o, *dtype_o, *shape_o, *compress = Py_None;
    int fortran, nd;
    if (!PyArg_ParseTuple(args, "UUOp|O:begin", &name_o, &dtype_o, &shape_o, &fortran,
                          &compress) ||
        writer_usable(self))
        return NULL;
    const char *name = utf8_arg(name_o, "name"), *dtype = utf8_arg(dtype_o, "dtype");
    npy_intp dims[NPY_MAXDIMS];
    uint64_t shape[NPY_MAXDIMS];
    if (!name || !dtype || shape_seq(shape_o, &nd, dims, shape))
        return NULL;
    mmarr_compress_options c;
    const int cold = compress_opts(compress, &c);
    if (cold < 0)
        return NULL;
    mmarr_err rc;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS /* a hot array's space is reserved here (posix_fallocate) */
    rc = mmarr_writer_begin(self->w, name, dtype, (unsigned)nd, shape,
                            fortran ? MMARR_ORDER_F : MMARR_ORDER_C, cold ? &c : NULL);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    if (rc != MMARR_OK)
        return writer_raise(self);
    Py_RETURN_NONE;
}

/* write(buffer): append a contiguous buffer's bytes to the streamed array. */
static PyObject *writer_write(WriterObject *self, PyObject *arg)
{
    Py_buffer b; /* first: getting a buffer may run Python code, which may use the writer */
    if (PyObject_GetBuffer(arg, &b, PyBUF_ANY_CONTIGUOUS) < 0)
        return NULL;
    if (writer_usable(self)) {
        PyBuffer_Release(&b);
        return NULL;
    }
    mmarr_err rc;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS /* cold arrays are compressed here */
    rc = mmarr_writer_write(self->w, b.buf, (size_t)b.len);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    PyBuffer_Release(&b);
    if (rc != MMARR_OK)
        return writer_raise(self);
    Py_RETURN_NONE;
}

/* end(): finish the streamed array. */
static PyObject *writer_end(WriterObject *self, PyObject *unused)
{
    (void)unused;
    if (writer_usable(self))
        return NULL;
    mmarr_err rc;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    rc = mmarr_writer_end(self->w);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    if (rc != MMARR_OK)
        return writer_raise(self);
    Py_RETURN_NONE;
}

static PyObject *writer_commit(WriterObject *self, PyObject *unused)
{
    (void)unused;
    if (writer_usable(self))
        return NULL;
    mmarr_err rc;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    rc = mmarr_writer_commit(self->w);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    mmarr_error e = *mmarr_writer_error(self->w);
    writer_finish(self);
    if (rc != MMARR_OK)
        return raise_mmarr(&e);
    Py_RETURN_NONE;
}

static PyObject *writer_abandon(WriterObject *self, PyObject *unused)
{
    (void)unused;
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the writer is in use by another thread");
        return NULL;
    }
    if (self->w)
        writer_finish(self);
    Py_RETURN_NONE;
}

static PyObject *writer_set_file_meta(WriterObject *self, PyObject *args)
{
    PyObject *k, *v;
    if (!PyArg_ParseTuple(args, "UU:set_file_meta", &k, &v) || writer_usable(self))
        return NULL;
    const char *key = utf8_arg(k, "metadata key"), *val = utf8_arg(v, "metadata value");
    if (!key || !val)
        return NULL;
    if (mmarr_writer_set_file_meta(self->w, key, val) != MMARR_OK)
        return writer_raise(self);
    Py_RETURN_NONE;
}

static PyObject *writer_set_array_meta(WriterObject *self, PyObject *args)
{
    PyObject *n, *k, *v;
    if (!PyArg_ParseTuple(args, "UUU:set_array_meta", &n, &k, &v) || writer_usable(self))
        return NULL;
    const char *name = utf8_arg(n, "name"), *key = utf8_arg(k, "metadata key"),
               *val = utf8_arg(v, "metadata value");
    if (!name || !key || !val)
        return NULL;
    if (mmarr_writer_set_array_meta(self->w, name, key, val) != MMARR_OK)
        return writer_raise(self);
    Py_RETURN_NONE;
}

static PyObject *writer_get_count(WriterObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(self->w ? mmarr_writer_count(self->w) : 0);
}

static PyObject *writer_get_finished(WriterObject *self, void *closure)
{
    (void)closure;
    return PyBool_FromLong(self->w == NULL);
}

static PyMethodDef writer_methods[] = {
    {"add", (PyCFunction)writer_add, METH_VARARGS,
     "add(name, dtype_text, array, compress=None)"},
    {"reserve", (PyCFunction)writer_reserve, METH_VARARGS,
     "reserve(name, dtype_text, dtype, shape, fortran) -> writable ndarray in the file"},
    {"begin", (PyCFunction)writer_begin, METH_VARARGS,
     "begin(name, dtype_text, shape, fortran, compress=None): start a streamed array"},
    {"write", (PyCFunction)writer_write, METH_O, "write(buffer): append bytes to it"},
    {"end", (PyCFunction)writer_end, METH_NOARGS, "end(): finish it"},
    {"set_file_meta", (PyCFunction)writer_set_file_meta, METH_VARARGS,
     "set_file_meta(key, value)"},
    {"set_array_meta", (PyCFunction)writer_set_array_meta, METH_VARARGS,
     "set_array_meta(name, key, value)"},
    {"commit", (PyCFunction)writer_commit, METH_NOARGS, "Publish the file atomically."},
    {"abandon", (PyCFunction)writer_abandon, METH_NOARGS, "Discard the file."},
    {NULL, NULL, 0, NULL}};

static PyMemberDef writer_members[] = {
    {"path", T_OBJECT_EX, offsetof(WriterObject, path), READONLY, "target path"},
    {NULL, 0, 0, 0, NULL}};

static PyGetSetDef writer_getset[] = {
    {"count", (getter)writer_get_count, NULL, "arrays added so far", NULL},
    {"finished", (getter)writer_get_finished, NULL, "committed or abandoned", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject WriterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mmarr._mmarr.Writer",
    .tp_basicsize = sizeof(WriterObject),
    .tp_dealloc = (destructor)writer_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Writer(path, alignment=0, pack_threshold=0, flags=0): one mmarr_writer.",
    .tp_methods = writer_methods,
    .tp_members = writer_members,
    .tp_getset = writer_getset,
    .tp_new = writer_new,
};

/* ---------------------------------------------------------------------------------------- */
/* Module                                                                                   */

/* dtype_canonical(text) -> (canonical text, itemsize) per the library's parser. */
static PyObject *mod_dtype_canonical(PyObject *mod, PyObject *arg)
{
    (void)mod;
    const char *text = utf8_arg(arg, "dtype");
    if (!text)
        return NULL;
    mmarr_dtype *dt;
    mmarr_error e;
    if (mmarr_dtype_parse(text, &dt, &e) != MMARR_OK)
        return raise_mmarr(&e);
    PyObject *r = Py_BuildValue("(sK)", mmarr_dtype_str(dt),
                                (unsigned long long)mmarr_dtype_itemsize(dt));
    mmarr_dtype_free(dt);
    return r;
}

/* data_address(arr) -> the address of arr's first element (for tests and reduce). */
static PyObject *mod_data_address(PyObject *mod, PyObject *arg)
{
    (void)mod;
    if (!PyArray_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "data_address() needs an ndarray");
        return NULL;
    }
    return PyLong_FromVoidPtr(PyArray_DATA((PyArrayObject *)arg));
}

static int cache_list_one(const mmarr_cache_entry *ce, void *ctx)
{
    PyObject *item = Py_BuildValue("{s:s,s:K,s:L,s:O}", "name", ce->name, "bytes",
                                   (unsigned long long)ce->bytes, "last_used",
                                   (long long)ce->last_used_unix, "in_use",
                                   ce->in_use ? Py_True : Py_False);
    if (!item || PyList_Append((PyObject *)ctx, item) < 0) {
        Py_XDECREF(item);
        return 1; /* stop: the Python error is set */
    }
    Py_DECREF(item);
    return 0;
}

/* cache_list(dir=None) -> [dict(name, bytes, last_used, in_use)], least recently used first */
static PyObject *mod_cache_list(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *dir = Py_None, *bytes;
    if (!PyArg_ParseTuple(args, "|O:cache_list", &dir) || !cache_dir_arg(dir, &bytes))
        return NULL;
    PyObject *list = PyList_New(0);
    if (!list) {
        Py_XDECREF(bytes);
        return NULL;
    }
    mmarr_error e;
    const mmarr_err rc = mmarr_cache_list(bytes ? PyBytes_AS_STRING(bytes) : NULL,
                                          cache_list_one, list, &e);
    Py_XDECREF(bytes);
    if (PyErr_Occurred()) {
        Py_DECREF(list);
        return NULL;
    }
    if (rc != MMARR_OK) {
        Py_DECREF(list);
        return raise_mmarr(&e);
    }
    return list;
}

/* cache_clear(keep_bytes, dir=None) -> bytes removed */
static PyObject *mod_cache_clear(PyObject *mod, PyObject *args)
{
    (void)mod;
    unsigned long long keep;
    PyObject *dir = Py_None, *bytes;
    if (!PyArg_ParseTuple(args, "K|O:cache_clear", &keep, &dir) || !cache_dir_arg(dir, &bytes))
        return NULL;
    uint64_t removed = 0;
    mmarr_error e;
    mmarr_err rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mmarr_cache_clear(bytes ? PyBytes_AS_STRING(bytes) : NULL, keep, &removed, &e);
    Py_END_ALLOW_THREADS
    Py_XDECREF(bytes);
    if (rc != MMARR_OK)
        return raise_mmarr(&e);
    return PyLong_FromUnsignedLongLong(removed);
}

/* cache_default_dir() -> str */
static PyObject *mod_cache_default_dir(PyObject *mod, PyObject *unused)
{
    (void)mod, (void)unused;
    char buf[4096];
    mmarr_error e;
    if (mmarr_cache_default_dir(buf, sizeof buf, &e) != MMARR_OK)
        return raise_mmarr(&e);
    return PyUnicode_DecodeFSDefault(buf);
}

static PyMethodDef module_methods[] = {
    {"open", mod_open, METH_VARARGS, "open(path, flags) -> Handle"},
    {"dtype_canonical", mod_dtype_canonical, METH_O,
     "dtype_canonical(text) -> (canonical text, itemsize)"},
    {"data_address", mod_data_address, METH_O, "Address of an ndarray's first element."},
    {"cache_list", mod_cache_list, METH_VARARGS, "cache_list(dir=None) -> [dict]"},
    {"cache_clear", mod_cache_clear, METH_VARARGS, "cache_clear(keep_bytes, dir=None) -> int"},
    {"cache_default_dir", mod_cache_default_dir, METH_NOARGS, "cache_default_dir() -> str"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mmarr._mmarr",
    .m_doc = "C core of the mmarr package (see mmarr/__init__.py).",
    .m_size = -1,
    .m_methods = module_methods,
};

/* m.name = v (an int); -1 on error */
static int add_int(PyObject *m, const char *name, PyObject *v)
{
    if (!v)
        return -1;
    const int rc = PyModule_AddObjectRef(m, name, v);
    Py_DECREF(v);
    return rc;
}
#define ADD_INT(m, name, v) add_int(m, name, PyLong_FromLongLong(v))

PyMODINIT_FUNC PyInit__mmarr(void)
{
    import_array();
    if (PyType_Ready(&HandleType) < 0 || PyType_Ready(&MappingType) < 0 ||
        PyType_Ready(&WriterType) < 0 || PyType_Ready(&ReservationType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (!m)
        return NULL;
    MmarrError = PyErr_NewExceptionWithDoc(
        "mmarr.Error",
        "A failure reported by libmmarr. Attributes: code (int), code_name (e.g. "
        "'MMARR_E_CHECKSUM'), errno (or None), offset (file offset, or None).",
        NULL, NULL);
    if (!MmarrError || PyModule_AddObjectRef(m, "Error", MmarrError) < 0 ||
        PyModule_AddObjectRef(m, "Handle", (PyObject *)&HandleType) < 0 ||
        PyModule_AddObjectRef(m, "Mapping", (PyObject *)&MappingType) < 0 ||
        PyModule_AddObjectRef(m, "Writer", (PyObject *)&WriterType) < 0 ||
        PyModule_AddObjectRef(m, "Reservation", (PyObject *)&ReservationType) < 0 ||
        PyModule_AddStringConstant(m, "version", mmarr_version_string()) < 0 ||
        ADD_INT(m, "FORMAT_VERSION_MAJOR", MMARR_FORMAT_VERSION_MAJOR) ||
        ADD_INT(m, "FORMAT_VERSION_MINOR", MMARR_FORMAT_VERSION_MINOR) ||
        ADD_INT(m, "OPEN_RDWR", MMARR_OPEN_RDWR) || ADD_INT(m, "OPEN_VERIFY", MMARR_OPEN_VERIFY) ||
        ADD_INT(m, "OPEN_POPULATE", MMARR_OPEN_POPULATE) ||
        ADD_INT(m, "OPEN_NO_CHUNK_VERIFY", MMARR_OPEN_NO_CHUNK_VERIFY) ||
        ADD_INT(m, "FLUSH_ASYNC", MMARR_FLUSH_ASYNC) ||
        ADD_INT(m, "FLUSH_REHASH", MMARR_FLUSH_REHASH) ||
        ADD_INT(m, "ADVICE_NORMAL", MMARR_ADVICE_NORMAL) ||
        ADD_INT(m, "ADVICE_SEQUENTIAL", MMARR_ADVICE_SEQUENTIAL) ||
        ADD_INT(m, "ADVICE_RANDOM", MMARR_ADVICE_RANDOM) ||
        ADD_INT(m, "ADVICE_WILLNEED", MMARR_ADVICE_WILLNEED) ||
        ADD_INT(m, "ADVICE_DONTNEED", MMARR_ADVICE_DONTNEED) ||
        ADD_INT(m, "ADVICE_HUGEPAGE", MMARR_ADVICE_HUGEPAGE) ||
        ADD_INT(m, "WRITE_NO_REPLACE", MMARR_WRITE_NO_REPLACE) ||
        ADD_INT(m, "WRITE_NO_SYNC", MMARR_WRITE_NO_SYNC) ||
        add_int(m, "PACK_NONE", PyLong_FromUnsignedLongLong(MMARR_PACK_NONE))) {
        Py_CLEAR(MmarrError);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
