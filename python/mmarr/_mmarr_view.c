/* SPDX-License-Identifier: MIT */
/*
 * _mmarr_view.c — zero-copy views: the numpy dtype of each array (built once per Handle),
 * Handle.get() (f["x"] in one call), Handle.view() (unpickling), and Mapping, the base
 * object of every view, which keeps its Handle alive and locates views for pickling.
 */
#include "_mmarr.h"

static PyTypeObject MappingType;

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
PyObject *mmpy_handle_descr(HandleObject *self, PyObject *arg)
{
    const Py_ssize_t index = PyLong_AsSsize_t(arg);
    mmarr_array_info a;
    if ((index == -1 && PyErr_Occurred()) || mmpy_handle_index(self, index, &a))
        return NULL;
    return (PyObject *)array_descr(self, &a);
}

/* The first byte of array `index`: the file mapping (hot) or the decompressed mapping
 * (cold, through the shared cache). Sets *writable to whether it may be written, and
 * *cow to whether writes stay in this process (mode "c"). */
static int array_bytes(HandleObject *self, Py_ssize_t index, const mmarr_array_info *a, char **data,
                       int *writable, int *cow)
{
    mmarr_file_info fi;
    mmarr_file_get_info(self->f, &fi);
    *cow = fi.copy_on_write;
    if (a->storage == MMARR_STORAGE_HOT) {
        *data = a->data;
        *writable = fi.writable || fi.copy_on_write;
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
    /* cold data is never modified in place (spec.md §11.2); copy-on-write pages may be */
    *writable = fi.copy_on_write;
    return 0;
}

static PyObject *new_mapping(HandleObject *h, Py_ssize_t index, char *start, uint64_t nbytes);
static void mapping_set_release(PyObject *mapping, uint64_t offset, uint64_t length);

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
 * release (hot arrays only): when the view and every view of it are gone, the process's
 * page mappings of the bytes it spans are dropped (mmarr_file_advise_range, DONTNEED).
 */
static PyObject *new_view(HandleObject *self, const mmarr_array_info *a, PyArray_Descr *descr,
                          PyTypeObject *subtype, int nd, npy_intp *dims, npy_intp *strides,
                          npy_intp offset, int want_write, int release)
{
    char *data;
    int can_write, cow;
    if (array_bytes(self, (Py_ssize_t)a->index, a, &data, &can_write, &cow))
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
    if (release && a->storage == MMARR_STORAGE_HOT && !cow) { /* (it would drop changes) */
        npy_intp lo = 0, hi = 0, empty = 0; /* the view's byte extent, from its first element */
        for (int d = 0; d < nd; d++) {
            empty |= dims[d] == 0;
            const npy_intp span = dims[d] > 0 ? (dims[d] - 1) * strides[d] : 0;
            if (span < 0)
                lo += span;
            else
                hi += span;
        }
        if (!empty)
            mapping_set_release(mapping, (uint64_t)(offset + lo),
                                (uint64_t)(hi - lo + PyDataType_ELSIZE(descr)));
    }
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
PyObject *mmpy_handle_get(HandleObject *self, PyObject *const *args, Py_ssize_t nargs)
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
    if (!PyUnicode_Check(name) || !mmpy_lookup(self, name, &a)) {
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
        r = new_view(self, &a, descr, (PyTypeObject *)args[1], nd, dims, strides, 0, -1, 0);
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
PyObject *mmpy_handle_view(HandleObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"index", "dtype",   "subtype", "writable", "offset",
                             "shape", "strides", "release", NULL};
    Py_ssize_t index, offset = 0;
    PyArray_Descr *descr = NULL;
    PyObject *subtype, *writable_o = Py_None, *shape_o = Py_None, *strides_o = Py_None;
    int release = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "nO&O|OnOOp:view", kwlist, &index,
                                     PyArray_DescrConverter, &descr, &subtype, &writable_o, &offset,
                                     &shape_o, &strides_o, &release))
        return NULL;
    PyObject *result = NULL;
    mmarr_array_info a;
    if (check_subtype(subtype) || mmpy_handle_index(self, index, &a))
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
                      want_write, release);
done:
    Py_XDECREF(descr);
    return result;
}

/* ---------------------------------------------------------------------------------------- */
/* Mapping: the base object of array views                                                  */

typedef struct {
    PyObject_HEAD
    HandleObject *handle;
    Py_ssize_t index;
    char *start;     /* byte 0 of the array */
    uint64_t nbytes; /* its raw size */
    uint64_t release_offset, release_length; /* pages to drop at dealloc (length 0: none) */
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
    m->release_offset = m->release_length = 0;
    h->nviews++;
    return (PyObject *)m;
}

static void mapping_set_release(PyObject *mapping, uint64_t offset, uint64_t length)
{
    MappingObject *m = (MappingObject *)mapping;
    m->release_offset = offset;
    m->release_length = length;
}

static void mapping_dealloc(MappingObject *self)
{
    if (self->release_length) {
        /* best effort: a failure only leaves the pages mapped, as without release */
        mmarr_error e;
        Py_BEGIN_ALLOW_THREADS(void)
            mmarr_file_advise_range(self->handle->f, (size_t)self->index, self->release_offset,
                                    self->release_length, MMARR_ADVICE_DONTNEED, &e);
        Py_END_ALLOW_THREADS
    }
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
    if (mmpy_handle_index(self->handle, self->index, &a))
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

/*
 * rows(values, offsets, i) -> values[offsets[i]:offsets[i+1]], a view of values' own type
 * (Ragged items, _ragged.py): the two offsets are read once, checked against values' rows
 * and used, so memory that changes meanwhile (a writable mapping) cannot make a view reach
 * outside values. IndexError for i out of range, ValueError for bad offsets.
 */
PyObject *mmpy_rows(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    (void)mod;
    if (nargs != 3 || !PyArray_Check(args[0]) || !PyArray_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "rows(values, offsets, i)");
        return NULL;
    }
    PyArrayObject *v = (PyArrayObject *)args[0], *o = (PyArrayObject *)args[1];
    const Py_ssize_t i = PyLong_AsSsize_t(args[2]);
    if (i == -1 && PyErr_Occurred())
        return NULL;
    if (PyArray_NDIM(o) != 1 || PyArray_TYPE(o) != NPY_UINT64 || PyArray_NDIM(v) < 1 ||
        !PyArray_ISNOTSWAPPED(o)) {
        PyErr_SetString(PyExc_TypeError, "rows(): offsets must be 1-d native uint64, values an "
                                         "array of at least one dimension");
        return NULL;
    }
    const npy_intp n = PyArray_DIM(o, 0);
    if (i < 0 || i + 1 >= n) {
        PyErr_Format(PyExc_IndexError, "item %zd out of range for %zd items", i,
                     (Py_ssize_t)(n ? n - 1 : 0));
        return NULL;
    }
    const char *ob = PyArray_BYTES(o);
    const npy_intp os = PyArray_STRIDE(o, 0);
    uint64_t a, b;
    memcpy(&a, ob + i * os, 8);
    memcpy(&b, ob + (i + 1) * os, 8);
    const uint64_t rows = (uint64_t)PyArray_DIM(v, 0);
    if (a > b || b > rows) {
        PyErr_Format(PyExc_ValueError,
                     "item %zd: offsets %llu..%llu outside the %llu rows of "
                     "its values",
                     i, (unsigned long long)a, (unsigned long long)b, (unsigned long long)rows);
        return NULL;
    }
    const int nd = PyArray_NDIM(v);
    npy_intp dims[NPY_MAXDIMS];
    memcpy(dims, PyArray_DIMS(v), (size_t)nd * sizeof *dims);
    dims[0] = (npy_intp)(b - a);
    PyArray_Descr *descr = PyArray_DESCR(v);
    Py_INCREF(descr); /* stolen */
    PyObject *out = PyArray_NewFromDescr(Py_TYPE(v), descr, nd, dims, PyArray_STRIDES(v),
                                         PyArray_BYTES(v) + (npy_intp)a * PyArray_STRIDE(v, 0),
                                         PyArray_FLAGS(v) & NPY_ARRAY_WRITEABLE, (PyObject *)v);
    if (!out)
        return NULL;
    Py_INCREF(v);
    if (PyArray_SetBaseObject((PyArrayObject *)out, (PyObject *)v) < 0) { /* steals v */
        Py_DECREF(out);
        return NULL;
    }
    return out;
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


int mmpy_view_types(PyObject *m)
{
    if (PyType_Ready(&MappingType) < 0 ||
        PyModule_AddObjectRef(m, "Mapping", (PyObject *)&MappingType) < 0)
        return -1;
    return 0;
}
