/* SPDX-License-Identifier: MIT */
/*
 * _mmarr_file.c — Handle, one open mmarr_file: open, name lookup, array and file facts,
 * metadata, reads, verify and flush. Views of its arrays are made in _mmarr_view.c.
 */
#include <limits.h>
#include "_mmarr.h"

#include <string.h>

static PyTypeObject HandleType;

static void handle_dealloc(HandleObject *self)
{
    /* closed before the weak references' callbacks run: the last lease of a share() file
     * (mmarr/_lease.py) unlinks it from one, which an "r+" handle's own shared flock would
     * otherwise prevent */
    mmarr_close(self->f);
    self->f = NULL;
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    for (size_t i = 0; i < self->ndescrs; i++)
        Py_XDECREF(self->descrs[i]);
    PyMem_Free(self->descrs);
    Py_XDECREF(self->path);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

int mmpy_handle_index(HandleObject *self, Py_ssize_t index, mmarr_array_info *info)
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
 * open(path, flags, generation=None) -> Handle. The identity pickles carry (st_dev, st_ino) is
 * the one mmarr_file_info reports: that of the descriptor the library mapped (mmarr.h).
 * generation: (generation, file_size, index_offset, index_size, index_checksum,
 * required_features, optional_features), items 4..6, 2, 3 and 8, 9 of an identity(), to open
 * that generation (mmarr_open_generation) rather than the newest.
 */
PyObject *mmpy_open(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *path;
    unsigned int flags;
    mmarr_generation g;
    PyObject *gen = Py_None;
    if (!PyArg_ParseTuple(args, "UI|O:open", &path, &flags, &gen))
        return NULL;
    if (gen != Py_None &&
        !PyArg_ParseTuple(gen, "KKKKKKK:open generation", &g.generation, &g.file_size,
                          &g.index_offset, &g.index_size, &g.index_checksum, &g.required_features,
                          &g.optional_features))
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
    rc = gen != Py_None ? mmarr_open_generation(p, flags, &g, &f, &e)
                        : mmarr_open(p, flags, &f, &e);
    Py_END_ALLOW_THREADS
    Py_DECREF(bytes);
    if (rc != MMARR_OK)
        return mmpy_raise(&e);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    PyObject **descrs = PyMem_Calloc(fi.count ? fi.count : 1, sizeof *descrs);
    HandleObject *h = descrs ? PyObject_New(HandleObject, &HandleType) : NULL;
    if (!h) {
        PyMem_Free(descrs);
        mmarr_close(f);
        return descrs ? NULL : PyErr_NoMemory();
    }
    h->descrs = descrs;
    h->ndescrs = fi.count;
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
            return mmpy_raise(&e);
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

/* Look up the array named by str `name` and fill *a: 1 if found, 0 if not (also for a name
 * no array can have: a lone surrogate, an embedded NUL). No exception either way. */
int mmpy_lookup(HandleObject *self, PyObject *name, mmarr_array_info *a)
{
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(name, &len);
    if (!s) {
        PyErr_Clear();
        return 0;
    }
    return strlen(s) == (size_t)len && mmarr_file_find_array(self->f, s, a, NULL) == MMARR_OK;
}

/* find(name) -> index, or -1 when there is no such array (no exception). */
static PyObject *handle_find(HandleObject *self, PyObject *name)
{
    if (!PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "array names are str, not %.100s", Py_TYPE(name)->tp_name);
        return NULL;
    }
    mmarr_array_info a;
    return mmpy_lookup(self, name, &a) ? PyLong_FromSize_t(a.index) : PyLong_FromLong(-1);
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
            return mmpy_raise(&e);
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
    if ((index == -1 && PyErr_Occurred()) || mmpy_handle_index(self, index, &a))
        return NULL;
    return meta_dict(self, index, a.meta_count);
}

/* ragged(i) -> None, or (values, offsets, count, kind) when array i is part of a ragged item */
static PyObject *handle_ragged(HandleObject *self, PyObject *arg)
{
    const Py_ssize_t index = PyLong_AsSsize_t(arg);
    mmarr_ragged_info r;
    if (index == -1 && PyErr_Occurred())
        return NULL;
    if (index < 0 || !mmarr_file_ragged(self->f, (size_t)index, &r))
        Py_RETURN_NONE;
    return Py_BuildValue("(nnKi)", (Py_ssize_t)r.values, (Py_ssize_t)r.offsets,
                         (unsigned long long)r.count, (int)r.kind);
}

/* ragged_items() -> [(values name, offsets name, count, kind)] for every ragged item, in
 * file order */
static PyObject *handle_ragged_items(HandleObject *self, PyObject *unused)
{
    (void)unused;
    const size_t n = mmarr_file_ragged_count(self->f);
    PyObject *out = PyList_New((Py_ssize_t)n);
    mmarr_ragged_info r;
    for (size_t k = 0; out && k < n && mmarr_file_ragged_at(self->f, k, &r); k++) {
        mmarr_array_info v, o;
        if (mmpy_handle_index(self, (Py_ssize_t)r.values, &v) ||
            mmpy_handle_index(self, (Py_ssize_t)r.offsets, &o)) {
            Py_CLEAR(out);
            break;
        }
        PyObject *t = Py_BuildValue("(s#s#Ki)", v.name, (Py_ssize_t)v.name_size, o.name,
                                    (Py_ssize_t)o.name_size, (unsigned long long)r.count,
                                    (int)r.kind);
        if (!t) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)k, t);
    }
    return out;
}

/* ragged_check(i): the offsets of the ragged item whose values are array i are valid (spec.md
 * §7.7), else mmarr.Error (MMARR_E_CORRUPT naming the element) */
static PyObject *handle_ragged_check(HandleObject *self, PyObject *arg)
{
    const Py_ssize_t index = PyLong_AsSsize_t(arg);
    if (index == -1 && PyErr_Occurred())
        return NULL;
    const uint64_t *p;
    mmarr_error e;
    mmarr_err rc;
    Py_BEGIN_ALLOW_THREADS /* a scan of count + 1 offsets */
    rc = mmarr_file_ragged_offsets(self->f, index < 0 ? SIZE_MAX : (size_t)index, &p, &e);
    Py_END_ALLOW_THREADS
    if (rc != MMARR_OK)
        return mmpy_raise(&e);
    Py_RETURN_NONE;
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
    if ((index == -1 && PyErr_Occurred()) || mmpy_handle_index(self, index, &a))
        return NULL;
    mmarr_map_info mi;
    mmarr_error e;
    if (mmarr_file_map_info(self->f, (size_t)index, &mi, &e) != MMARR_OK)
        return mmpy_raise(&e);
    const char *src = map_source_name(mi.source);
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    const int cold = a.storage == MMARR_STORAGE_COLD;
    if (mmpy_dict_put(d, "name", PyUnicode_DecodeUTF8(a.name, (Py_ssize_t)a.name_size, "strict")) ||
        mmpy_dict_put(d, "index", PyLong_FromSize_t(a.index)) ||
        mmpy_dict_put(d, "dtype", PyUnicode_FromString(a.dtype_str)) ||
        mmpy_dict_put(d, "shape", mmpy_shape_tuple(a.ndim, a.shape)) ||
        mmpy_dict_put(d, "order", PyUnicode_FromString(a.order == MMARR_ORDER_F ? "F" : "C")) ||
        mmpy_dict_put(d, "storage", PyUnicode_FromString(cold ? "cold" : "hot")) ||
        mmpy_dict_put(d, "itemsize", PyLong_FromUnsignedLongLong(a.itemsize)) ||
        mmpy_dict_put(d, "nitems", PyLong_FromUnsignedLongLong(a.nitems)) ||
        mmpy_dict_put(d, "nbytes", PyLong_FromUnsignedLongLong(a.nbytes)) ||
        mmpy_dict_put(d, "stored_bytes", PyLong_FromUnsignedLongLong(a.stored_bytes)) ||
        mmpy_dict_put(d, "offset", PyLong_FromUnsignedLongLong(a.offset)) ||
        mmpy_dict_put(d, "checksum", PyLong_FromUnsignedLongLong(a.checksum)) ||
        mmpy_dict_put(d, "packed", PyBool_FromLong(a.packed)) ||
        mmpy_dict_put(d, "capacity",
                      a.capacity ? PyLong_FromUnsignedLongLong(a.capacity) : Py_NewRef(Py_None)) ||
        mmpy_dict_put(d, "mapped", src ? PyUnicode_FromString(src) : Py_NewRef(Py_None))) {
        Py_DECREF(d);
        return NULL;
    }
    if (mi.source == MMARR_MAP_PRIVATE &&
        mmpy_dict_put(d, "private_reason", PyUnicode_FromString(mi.reason.message))) {
        Py_DECREF(d);
        return NULL;
    }
    if (cold && (mmpy_dict_put(d, "chunk_size", PyLong_FromUnsignedLongLong(a.chunk_size)) ||
                 mmpy_dict_put(d, "chunk_count", PyLong_FromSize_t(a.chunk_count)) ||
                 mmpy_dict_put(d, "level", PyLong_FromLong(a.level)) ||
                 mmpy_dict_put(d, "shuffle", PyBool_FromLong(a.shuffle)))) {
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
    if (mmpy_dict_put(d, "path", Py_NewRef(self->path)) ||
        mmpy_dict_put(d, "format", Py_BuildValue("(II)", fi.format_major, fi.format_minor)) ||
        mmpy_dict_put(d, "file_size", PyLong_FromUnsignedLongLong(fi.file_size)) ||
        mmpy_dict_put(d, "alignment", PyLong_FromUnsignedLongLong(fi.alignment)) ||
        mmpy_dict_put(d, "generation", PyLong_FromUnsignedLongLong(fi.generation)) ||
        mmpy_dict_put(d, "count", PyLong_FromSize_t(fi.count)) ||
        mmpy_dict_put(d, "index_offset", PyLong_FromUnsignedLongLong(fi.index_offset)) ||
        mmpy_dict_put(d, "index_size", PyLong_FromUnsignedLongLong(fi.index_size)) ||
        mmpy_dict_put(d, "index_checksum", PyLong_FromUnsignedLongLong(fi.index_checksum)) ||
        mmpy_dict_put(d, "writable", PyBool_FromLong(fi.writable)) ||
        mmpy_dict_put(d, "copy_on_write", PyBool_FromLong(fi.copy_on_write)) ||
        mmpy_dict_put(d, "checksums_stale", PyBool_FromLong(fi.checksums_stale)) ||
        mmpy_dict_put(d, "inactive_slot_damaged", PyBool_FromLong(fi.inactive_slot_damaged)) ||
        mmpy_dict_put(d, "st_dev", PyLong_FromUnsignedLongLong(self->dev)) ||
        mmpy_dict_put(d, "st_ino", PyLong_FromUnsignedLongLong(self->ino))) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* identity() -> (st_dev, st_ino, index_offset, index_size, generation, file_size,
 * index_checksum, checksums_stale, required_features, optional_features): what a pickle of
 * this file records. The first two name the file on this machine; items 2..6 hold its content
 * identity (spec.md §11.3), which travels to other machines and copies; item 7 says whether
 * that identity vouches for the data; with items 8 and 9 (the generation's feature bits) the
 * generation can be opened again after the file has grown (open(path, flags, generation)).
 * In-place writes through "r+" handles keep it; a rewrite or a rehash changes it. */
static PyObject *handle_identity(HandleObject *self, PyObject *unused)
{
    (void)unused;
    mmarr_file_info fi;
    mmarr_file_get_info(self->f, &fi);
    return Py_BuildValue("(KKKKKKKOKK)", self->dev, self->ino, (unsigned long long)fi.index_offset,
                         (unsigned long long)fi.index_size, (unsigned long long)fi.generation,
                         (unsigned long long)fi.file_size, (unsigned long long)fi.index_checksum,
                         fi.checksums_stale ? Py_True : Py_False,
                         (unsigned long long)fi.required_features,
                         (unsigned long long)fi.optional_features);
}

/* array_key(index) -> (offset, stored_bytes, nbytes, checksum, dtype, shape, order): what a
 * pickle of the array records besides the file identity. */
static PyObject *handle_array_key(HandleObject *self, PyObject *arg)
{
    const Py_ssize_t index = PyLong_AsSsize_t(arg);
    mmarr_array_info a;
    if ((index == -1 && PyErr_Occurred()) || mmpy_handle_index(self, index, &a))
        return NULL;
    PyObject *shape = mmpy_shape_tuple(a.ndim, a.shape);
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

static PyObject *handle_get_cow(HandleObject *self, void *closure)
{
    (void)closure;
    mmarr_file_info fi;
    mmarr_file_get_info(self->f, &fi);
    return PyBool_FromLong(fi.copy_on_write);
}

static PyObject *handle_get_nviews(HandleObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromSsize_t(self->nviews);
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
    if (mmpy_handle_index(self, index, &a))
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
    return mmpy_none_or_raise(rc, &e);
}

/* write(index, byte_offset, src): copy the contiguous ndarray `src` into a hot array of a
 * read-write handle, through the file descriptor (no page of the mapping is touched). */
static PyObject *handle_write(HandleObject *self, PyObject *args)
{
    Py_ssize_t index;
    unsigned long long off;
    PyArrayObject *src;
    if (!PyArg_ParseTuple(args, "nKO!:write", &index, &off, &PyArray_Type, &src))
        return NULL;
    mmarr_array_info a;
    if (mmpy_handle_index(self, index, &a))
        return NULL;
    if (!(PyArray_IS_C_CONTIGUOUS(src) || PyArray_IS_F_CONTIGUOUS(src))) {
        PyErr_SetString(PyExc_ValueError, "write: src must be a contiguous array");
        return NULL;
    }
    mmarr_error e;
    mmarr_err rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mmarr_file_write(self->f, (size_t)index, off, PyArray_DATA(src),
                          (uint64_t)PyArray_NBYTES(src), &e);
    Py_END_ALLOW_THREADS
    return mmpy_none_or_raise(rc, &e);
}

/* verify(index=-1): one array's checksum, or the whole file for -1. */
static PyObject *handle_verify(HandleObject *self, PyObject *args)
{
    Py_ssize_t index = -1;
    if (!PyArg_ParseTuple(args, "|n:verify", &index))
        return NULL;
    mmarr_array_info a;
    if (index >= 0 && mmpy_handle_index(self, index, &a))
        return NULL;
    mmarr_error e;
    mmarr_err rc;
    Py_BEGIN_ALLOW_THREADS
    rc = index < 0 ? mmarr_file_verify(self->f, &e)
                   : mmarr_file_verify_array(self->f, (size_t)index, &e);
    Py_END_ALLOW_THREADS
    return mmpy_none_or_raise(rc, &e);
}

/* wait(timeout_ms): whether a newer generation appeared (the GIL released meanwhile). */
static PyObject *handle_wait(HandleObject *self, PyObject *arg)
{
    const long ms = PyLong_AsLong(arg);
    if (ms == -1 && PyErr_Occurred())
        return NULL;
    int newer = 0;
    mmarr_error e;
    mmarr_err rc;
    const int t = ms < 0 ? -1 : ms > INT_MAX ? INT_MAX : (int)ms;
    Py_BEGIN_ALLOW_THREADS
    rc = mmarr_file_wait(self->f, t, &newer, &e);
    Py_END_ALLOW_THREADS
    if (rc != MMARR_OK)
        return mmpy_raise(&e);
    return PyBool_FromLong(newer);
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
        PyErr_Format(mmpy_Error,
                     "%U: cannot rehash while %zd array view(s) of this file are alive: a "
                     "rehash makes their memory read-only; delete them first (views held "
                     "elsewhere count too: a multiprocessing Pool's initargs, a list, a "
                     "dask graph)",
                     self->path, self->nviews);
        return NULL;
    }
    mmarr_error e;
    mmarr_err rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mmarr_file_flush(self->f, flags, &e);
    Py_END_ALLOW_THREADS
    return mmpy_none_or_raise(rc, &e);
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
    {"descr", (PyCFunction)mmpy_handle_descr, METH_O, "The numpy dtype of array i."},
    {"get", (PyCFunction)(void (*)(void))mmpy_handle_get, METH_FASTCALL,
     "get(name, subtype, how=0) -> ndarray over array `name` (0: any, 1: zero copy, "
     "2: raw bytes), or KeyError."},
    {"info", (PyCFunction)handle_info, METH_O, "Description of array i (dict)."},
    {"file_info", (PyCFunction)handle_file_info, METH_NOARGS, "File-wide facts (dict)."},
    {"file_meta", (PyCFunction)handle_file_meta, METH_NOARGS, "File metadata (dict)."},
    {"ragged", (PyCFunction)handle_ragged, METH_O,
     "ragged(i) -> None or (values, offsets, count, kind): array i's ragged item"},
    {"ragged_items", (PyCFunction)handle_ragged_items, METH_NOARGS,
     "ragged_items() -> [(values name, offsets name, count, kind)]: every ragged item"},
    {"ragged_check", (PyCFunction)handle_ragged_check, METH_O,
     "ragged_check(i): check the offsets of the ragged item whose values are array i"},
    {"array_meta", (PyCFunction)handle_array_meta, METH_O, "Metadata of array i (dict)."},
    {"identity", (PyCFunction)handle_identity, METH_NOARGS,
     "(st_dev, st_ino, index_offset, index_size, generation, file_size, index_checksum, "
     "checksums_stale, required_features, optional_features) of the generation held."},
    {"array_key", (PyCFunction)handle_array_key, METH_O,
     "What identifies array i's bytes: (offset, stored, nbytes, checksum, dtype, shape, "
     "order)."},
    {"view", (PyCFunction)(void (*)(void))mmpy_handle_view, METH_VARARGS | METH_KEYWORDS,
     "view(index, dtype, subtype, writable=None, offset=0, shape=None, strides=None, "
     "release=False) -> ndarray over the mapping; release: drop the process's page mappings "
     "of its bytes when it and its views are gone (hot arrays)."},
    {"read", (PyCFunction)handle_read, METH_VARARGS,
     "read(index, byte_offset, out): copy raw bytes into a contiguous array."},
    {"write", (PyCFunction)handle_write, METH_VARARGS, "write(index, byte_offset, src)"},
    {"verify", (PyCFunction)handle_verify, METH_VARARGS, "verify(index=-1)"},
    {"flush", (PyCFunction)handle_flush, METH_VARARGS, "flush(flags)"},
    {"wait", (PyCFunction)handle_wait, METH_O, "wait(timeout_ms): a newer generation came"},
    {"set_cache", (PyCFunction)mmpy_handle_set_cache, METH_VARARGS, "set_cache(dir, max_bytes)"},
    {"set_threads", (PyCFunction)mmpy_handle_set_threads, METH_O, "set_threads(n)"},
    {"prefetch", (PyCFunction)mmpy_handle_prefetch, METH_VARARGS, "prefetch(index=-1)"},
    {"advise", (PyCFunction)mmpy_handle_advise, METH_VARARGS, "advise(advice, index=-1)"},
    {"lock", (PyCFunction)mmpy_handle_lock, METH_VARARGS, "lock(on, index=-1)"},
    {"resident", (PyCFunction)mmpy_handle_resident, METH_VARARGS,
     "resident(index=-1) -> (resident_bytes, total_bytes)"},
    {NULL, NULL, 0, NULL}};

static PyMemberDef handle_members[] = {
    {"path", T_OBJECT_EX, offsetof(HandleObject, path), READONLY, "path as opened"},
    {"st_dev", T_ULONGLONG, offsetof(HandleObject, dev), READONLY, "device of the file"},
    {"st_ino", T_ULONGLONG, offsetof(HandleObject, ino), READONLY, "inode of the file"},
    {NULL, 0, 0, 0, NULL}};

static PyGetSetDef handle_getset[] = {
    {"writable", (getter)handle_get_writable, NULL, "mapped read-write (until a rehash)", NULL},
    {"copy_on_write", (getter)handle_get_cow, NULL, "mode \"c\": writes stay in the process", NULL},
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

int mmpy_file_types(PyObject *m)
{
    if (PyType_Ready(&HandleType) < 0 ||
        PyModule_AddObjectRef(m, "Handle", (PyObject *)&HandleType) < 0)
        return -1;
    return 0;
}

