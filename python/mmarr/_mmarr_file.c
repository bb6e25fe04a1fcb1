/* SPDX-License-Identifier: MIT */
/*
 * _mmarr_file.c — Handle (one open mmarr_file) and Mapping (the base object of every
 * array view): name lookup, array and file facts, metadata, zero-copy views, reads, verify
 * and flush.
 */
#include "_mmarr.h"

#include <string.h>

static PyTypeObject HandleType;
static PyTypeObject MappingType;

static void handle_dealloc(HandleObject *self)
{
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    for (size_t i = 0; i < self->ndescrs; i++)
        Py_XDECREF(self->descrs[i]);
    PyMem_Free(self->descrs);
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
PyObject *mmpy_open(PyObject *mod, PyObject *args)
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
static int lookup(HandleObject *self, PyObject *name, mmarr_array_info *a)
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
    return lookup(self, name, &a) ? PyLong_FromSize_t(a.index) : PyLong_FromLong(-1);
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
    if ((index == -1 && PyErr_Occurred()) || handle_index(self, index, &a))
        return NULL;
    return meta_dict(self, index, a.meta_count);
}

/* The numpy dtype of array a (new reference), built once per handle and array. */
static PyArray_Descr *array_descr(HandleObject *self, const mmarr_array_info *a)
{
    PyObject **slot = a->index < self->ndescrs ? &self->descrs[a->index] : NULL;
    if (slot && *slot)
        return (PyArray_Descr *)Py_NewRef(*slot);
    PyArray_Descr *d = mmpy_descr(a->dtype, a->name);
    if (d && slot && !*slot) /* building may run Python code (ml_dtypes): check again */
        *slot = Py_NewRef((PyObject *)d);
    return d;
}

/* descr(index) -> the numpy dtype of array i (TypeError when numpy cannot express it). */
static PyObject *handle_descr(HandleObject *self, PyObject *arg)
{
    const Py_ssize_t index = PyLong_AsSsize_t(arg);
    mmarr_array_info a;
    if ((index == -1 && PyErr_Occurred()) || handle_index(self, index, &a))
        return NULL;
    return (PyObject *)array_descr(self, &a);
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
        mmpy_dict_put(d, "writable", PyBool_FromLong(fi.writable)) ||
        mmpy_dict_put(d, "checksums_stale", PyBool_FromLong(fi.checksums_stale)) ||
        mmpy_dict_put(d, "inactive_slot_damaged", PyBool_FromLong(fi.inactive_slot_damaged)) ||
        mmpy_dict_put(d, "st_dev", PyLong_FromUnsignedLongLong(self->dev)) ||
        mmpy_dict_put(d, "st_ino", PyLong_FromUnsignedLongLong(self->ino))) {
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
        mmpy_raise(&e);
        return -1;
    }
    *data = (char *)p;
    *writable = 0; /* cold data is never modified in place (spec.md §11.2) */
    return 0;
}

static PyObject *new_mapping(HandleObject *h, Py_ssize_t index, char *start, uint64_t nbytes);

/* Whether `subtype` is numpy.ndarray or a subclass; TypeError if not. */
static int check_subtype(PyObject *subtype)
{
    if (PyType_Check(subtype) && PyType_IsSubtype((PyTypeObject *)subtype, &PyArray_Type))
        return 0;
    PyErr_SetString(PyExc_TypeError, "subtype must be numpy.ndarray or a subclass");
    return -1;
}

/* The array's stored shape and strides for numpy; -1 with ValueError if numpy cannot hold
 * them (more than NPY_MAXDIMS dimensions, or a dimension over NPY_MAX_INTP). */
static int stored_geometry(const mmarr_array_info *a, int *nd, npy_intp *dims,
                           npy_intp *strides)
{
    if (a->ndim > NPY_MAXDIMS) {
        PyErr_Format(PyExc_ValueError,
                     "array \"%s\" has %u dimensions; numpy supports %d (use read())", a->name,
                     a->ndim, NPY_MAXDIMS);
        return -1;
    }
    *nd = (int)a->ndim;
    for (int d = 0; d < *nd; d++) {
        if (a->shape[d] > (uint64_t)NPY_MAX_INTP) {
            PyErr_Format(PyExc_ValueError, "array \"%s\" is too large", a->name);
            return -1;
        }
        dims[d] = (npy_intp)a->shape[d];
        strides[d] = (npy_intp)a->strides[d];
    }
    return 0;
}

/*
 * An ndarray of `subtype` and dtype `descr` (borrowed) over array a's bytes, `offset` bytes
 * in, with the given geometry (checked by the caller), whose base is a new Mapping.
 * want_write: -1 as the mapping allows, 0 read-only, 1 writable (ValueError if it cannot).
 */
static PyObject *new_view(HandleObject *self, const mmarr_array_info *a, PyArray_Descr *descr,
                          PyTypeObject *subtype, int nd, npy_intp *dims, npy_intp *strides,
                          npy_intp offset, int want_write)
{
    char *data;
    int can_write;
    if (array_bytes(self, (Py_ssize_t)a->index, a, &data, &can_write))
        return NULL;
    if (want_write > 0 && !can_write) {
        PyErr_Format(PyExc_ValueError, "array \"%s\" cannot be written through this handle",
                     a->name);
        return NULL;
    }
    if (want_write >= 0)
        can_write = want_write;
    /* an empty array may have no address; numpy needs one that is never dereferenced */
    if (!data)
        data = (char *)self;
    PyObject *mapping = new_mapping(self, (Py_ssize_t)a->index, data, a->nbytes);
    if (!mapping)
        return NULL;
    Py_INCREF(descr); /* PyArray_NewFromDescr steals it */
    PyObject *result = PyArray_NewFromDescr(subtype, descr, nd, dims, strides, data + offset,
                                            can_write ? NPY_ARRAY_WRITEABLE : 0, NULL);
    if (!result) {
        Py_DECREF(mapping);
        return NULL;
    }
    if (PyArray_SetBaseObject((PyArrayObject *)result, mapping) < 0) /* steals mapping */
        Py_CLEAR(result);
    return result;
}

/* How get() views an array. */
enum { VIEW_ANY = 0, VIEW_ZERO_COPY = 1, VIEW_RAW = 2 };

/*
 * get(name, subtype, how=VIEW_ANY) -> ndarray of `subtype` over array `name` as stored:
 * f["x"] in one call (lookup, dtype, view). KeyError for a name no array has. how:
 * VIEW_ANY maps cold arrays through the shared cache; VIEW_ZERO_COPY raises
 * NotZeroCopyError for them; VIEW_RAW views the bytes as void<itemsize>.
 */
static PyObject *handle_get(HandleObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    long how = VIEW_ANY;
    if (nargs < 2 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "get(name, subtype, how=0)");
        return NULL;
    }
    if (nargs == 3 && (how = PyLong_AsLong(args[2])) == -1 && PyErr_Occurred())
        return NULL;
    PyObject *name = args[0];
    if (check_subtype(args[1]))
        return NULL;
    mmarr_array_info a;
    if (!PyUnicode_Check(name) || !lookup(self, name, &a)) {
        PyObject *key = PyTuple_Pack(1, name); /* KeyError(name), also for a tuple name */
        if (key) {
            PyErr_SetObject(PyExc_KeyError, key);
            Py_DECREF(key);
        }
        return NULL;
    }
    if (how == VIEW_ZERO_COPY && a.storage == MMARR_STORAGE_COLD)
        return PyErr_Format(mmpy_NotZeroCopyError,
                            "array \"%s\" of %U is stored compressed (cold), so it has no bytes "
                            "to view in place; f[\"%s\"] maps the shared decompressed cache, "
                            "f.read(\"%s\", rows) decompresses a range",
                            a.name, self->path, a.name, a.name);
    int nd;
    npy_intp dims[NPY_MAXDIMS], strides[NPY_MAXDIMS];
    PyArray_Descr *descr =
        how == VIEW_RAW ? mmpy_void_descr(a.itemsize) : array_descr(self, &a);
    if (!descr)
        return NULL;
    PyObject *r = NULL;
    if (!stored_geometry(&a, &nd, dims, strides))
        r = new_view(self, &a, descr, (PyTypeObject *)args[1], nd, dims, strides, 0, -1);
    Py_DECREF(descr);
    return r;
}

/*
 * view(index, dtype, subtype, writable=None, offset=0, shape=None, strides=None) -> ndarray
 * of `subtype` over the array's bytes, no copy (unpickling). Without shape/strides: the
 * array as stored (dtype must have the stored itemsize). With them: any geometry that lies
 * inside the array's bytes, `offset` bytes from its start. writable=None: as the mapping
 * allows; False: read-only.
 */
static PyObject *handle_view(HandleObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"index", "dtype",  "subtype", "writable",
                             "offset", "shape", "strides", NULL};
    Py_ssize_t index, offset = 0;
    PyArray_Descr *descr = NULL;
    PyObject *subtype, *writable_o = Py_None, *shape_o = Py_None, *strides_o = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "nO&O|OnOO:view", kwlist, &index,
                                     PyArray_DescrConverter, &descr, &subtype, &writable_o,
                                     &offset, &shape_o, &strides_o))
        return NULL;
    PyObject *result = NULL;
    mmarr_array_info a;
    if (check_subtype(subtype) || handle_index(self, index, &a))
        goto done;
    const npy_intp item = PyDataType_ELSIZE(descr);
    if (item < 1 || PyDataType_REFCHK(descr)) { /* file bytes are never object pointers */
        PyErr_SetString(PyExc_TypeError, "view needs a sized dtype without objects");
        goto done;
    }
    int nd, want_write = -1;
    npy_intp dims[NPY_MAXDIMS], strides[NPY_MAXDIMS];
    if (shape_o == Py_None && strides_o == Py_None) {
        if ((uint64_t)item != a.itemsize) {
            PyErr_Format(PyExc_TypeError,
                         "array \"%s\": dtype itemsize %zd differs from the stored %llu",
                         a.name, (Py_ssize_t)item, (unsigned long long)a.itemsize);
            goto done;
        }
        if (offset != 0) {
            PyErr_SetString(PyExc_TypeError, "offset needs shape and strides");
            goto done;
        }
        if (stored_geometry(&a, &nd, dims, strides))
            goto done;
    } else {
        int ns;
        if (shape_o == Py_None || strides_o == Py_None) {
            PyErr_SetString(PyExc_TypeError, "give both shape and strides, or neither");
            goto done;
        }
        if (mmpy_intp_seq(shape_o, "shape", &nd, dims) ||
            mmpy_intp_seq(strides_o, "strides", &ns, strides))
            goto done;
        if (nd != ns) {
            PyErr_SetString(PyExc_ValueError, "shape and strides differ in length");
            goto done;
        }
        if (!mmpy_extent_inside(offset, nd, dims, strides, item, a.nbytes)) {
            PyErr_Format(PyExc_ValueError,
                         "array \"%s\": the view (offset %zd) lies outside its %llu bytes",
                         a.name, offset, (unsigned long long)a.nbytes);
            goto done;
        }
    }
    if (writable_o != Py_None && (want_write = PyObject_IsTrue(writable_o)) < 0)
        goto done;
    result = new_view(self, &a, descr, (PyTypeObject *)subtype, nd, dims, strides, offset,
                      want_write);
done:
    Py_XDECREF(descr);
    return result;
}

/* read(index, byte_offset, out): copy bytes into the contiguous ndarray `out` (hot or cold;
 * cold decompresses only the chunks the range touches). */

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
    return mmpy_none_or_raise(rc, &e);
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
    return mmpy_none_or_raise(rc, &e);
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
                     "rehash makes their memory read-only; delete them first",
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
    {"descr", (PyCFunction)handle_descr, METH_O, "The numpy dtype of array i."},
    {"get", (PyCFunction)(void (*)(void))handle_get, METH_FASTCALL,
     "get(name, subtype, how=0) -> ndarray over array `name` (0: any, 1: zero copy, "
     "2: raw bytes), or KeyError."},
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
     "view(index, dtype, subtype, writable=None, offset=0, shape=None, strides=None) -> "
     "ndarray over the mapping."},
    {"read", (PyCFunction)handle_read, METH_VARARGS,
     "read(index, byte_offset, out): copy raw bytes into a contiguous array."},
    {"verify", (PyCFunction)handle_verify, METH_VARARGS, "verify(index=-1)"},
    {"flush", (PyCFunction)handle_flush, METH_VARARGS, "flush(flags)"},
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
    if (!mmpy_extent_inside(off, PyArray_NDIM(arr), PyArray_DIMS(arr), PyArray_STRIDES(arr),
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

int mmpy_file_types(PyObject *m)
{
    if (PyType_Ready(&HandleType) < 0 || PyType_Ready(&MappingType) < 0 ||
        PyModule_AddObjectRef(m, "Handle", (PyObject *)&HandleType) < 0 ||
        PyModule_AddObjectRef(m, "Mapping", (PyObject *)&MappingType) < 0)
        return -1;
    return 0;
}
