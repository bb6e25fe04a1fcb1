/* SPDX-License-Identifier: MIT */
/*
 * _mmarr_writer.c — Writer (one mmarr_writer): added, reserved and streamed arrays,
 * metadata, commit; and Reservation, the base object of a Writer.reserve() view, which owns
 * the reserved memory once the writer has finished (MMARR_WRITE_KEEP_RESERVED).
 */
#include "_mmarr.h"

#include <string.h>

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
    return mmpy_raise(mmarr_writer_error(self->w));
}

/* None for MMARR_OK, else the writer's error raised. */
static PyObject *writer_done(WriterObject *self, mmarr_err rc)
{
    return rc == MMARR_OK ? Py_NewRef(Py_None) : writer_raise(self);
}

/* fn(w) without the GIL, the writer marked busy meanwhile. */
static mmarr_err writer_nogil(WriterObject *self, mmarr_err (*fn)(mmarr_writer *))
{
    mmarr_err rc;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    rc = fn(self->w);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    return rc;
}

static PyObject *writer_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"path", "alignment", "pack_threshold", "flags", "append", NULL};
    PyObject *path;
    unsigned int alignment = 0, flags = 0;
    unsigned long long pack = 0;
    int append = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "U|IKIp:Writer", kwlist, &path, &alignment, &pack,
                                     &flags, &append))
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
    rc = append ? mmarr_writer_open_append(p, &o, &w, &e) : mmarr_writer_create(p, &o, &w, &e);
    Py_END_ALLOW_THREADS
    Py_DECREF(bytes);
    if (rc != MMARR_OK)
        return mmpy_raise(&e);
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

/*
 * Whether numpy dtype `d` can be stored under dtype text `dtype`: no objects (TypeError),
 * the same item size (ValueError; `whose` names d in the message). Returns the item size,
 * or 0 with an exception. `what` and `name` name the array in messages.
 */
static uint64_t storable_as(const char *what, const char *name, PyArray_Descr *d,
                            const char *whose, const char *dtype)
{
    if (PyDataType_REFCHK(d)) {
        PyErr_Format(PyExc_TypeError, "%s \"%s\": object dtypes cannot be stored", what, name);
        return 0;
    }
    const uint64_t item = mmpy_dtype_itemsize(dtype);
    if (item && item != (uint64_t)PyDataType_ELSIZE(d)) {
        PyErr_Format(PyExc_ValueError, "%s \"%s\": dtype %s has itemsize %llu, %s %zd", what,
                     name, dtype, (unsigned long long)item, whose,
                     (Py_ssize_t)PyDataType_ELSIZE(d));
        return 0;
    }
    return item;
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

/* The shape of arr as the C API takes it; returns ndim. */
static int array_shape(PyArrayObject *arr, uint64_t shape[NPY_MAXDIMS])
{
    const int nd = PyArray_NDIM(arr);
    for (int d = 0; d < nd; d++)
        shape[d] = (uint64_t)PyArray_DIM(arr, d);
    return nd;
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
    const char *name = mmpy_utf8_arg(name_o, "name"), *dtype = mmpy_utf8_arg(dtype_o, "dtype");
    if (!name || !dtype)
        return NULL;
    if (!storable_as("array", name, PyArray_DESCR(arr), "the array", dtype))
        return NULL;
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
    uint64_t shape[NPY_MAXDIMS];
    const int nd = array_shape(arr, shape);
    const void *data = PyArray_DATA(arr);
    mmarr_err rc;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    rc = cold ? mmarr_writer_add_cold(self->w, name, dtype, (unsigned)nd, shape, order, data, &c)
              : mmarr_writer_add(self->w, name, dtype, (unsigned)nd, shape, order, data);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    return writer_done(self, rc);
}

/* add_growable(name, dtype_text, array, capacity, compress=None): a C-contiguous array
 * whose first dimension may grow in place up to `capacity` rows (spec.md §7.8); hot, or cold
 * with compress as add()'s. */
static PyObject *writer_add_growable(WriterObject *self, PyObject *args)
{
    PyObject *name_o, *dtype_o, *compress = Py_None;
    PyArrayObject *arr;
    unsigned long long capacity;
    if (!PyArg_ParseTuple(args, "UUO!K|O:add_growable", &name_o, &dtype_o, &PyArray_Type, &arr,
                          &capacity, &compress))
        return NULL;
    mmarr_compress_options c;
    const int cold = compress_opts(compress, &c);
    if (cold < 0)
        return NULL;
    if (writer_usable(self))
        return NULL;
    const char *name = mmpy_utf8_arg(name_o, "name"), *dtype = mmpy_utf8_arg(dtype_o, "dtype");
    if (!name || !dtype || !storable_as("array", name, PyArray_DESCR(arr), "the array", dtype))
        return NULL;
    if (!PyArray_IS_C_CONTIGUOUS(arr) || PyArray_NDIM(arr) < 1) {
        PyErr_Format(PyExc_ValueError,
                     "growable array \"%s\" must be C-contiguous with at least one dimension",
                     name);
        return NULL;
    }
    uint64_t shape[NPY_MAXDIMS];
    const int nd = array_shape(arr, shape);
    const void *data = PyArray_DATA(arr);
    mmarr_err rc;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    rc = cold
             ? mmarr_writer_add_growable_cold(self->w, name, dtype, (unsigned)nd, shape, capacity,
                                              data, &c)
             : mmarr_writer_add_growable(self->w, name, dtype, (unsigned)nd, shape, capacity, data);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    return writer_done(self, rc);
}

/* append_rows(name, array): its rows after those of the growable array `name`; the array's
 * dtype size and inner shape are checked by the caller (mmarr/_writer.py). */
static PyObject *writer_append_rows(WriterObject *self, PyObject *args)
{
    PyObject *name_o;
    PyArrayObject *arr;
    if (!PyArg_ParseTuple(args, "UO!:append_rows", &name_o, &PyArray_Type, &arr))
        return NULL;
    if (writer_usable(self))
        return NULL;
    const char *name = mmpy_utf8_arg(name_o, "name");
    if (!name)
        return NULL;
    if (!PyArray_IS_C_CONTIGUOUS(arr) || PyArray_NDIM(arr) < 1) {
        PyErr_Format(PyExc_ValueError, "rows for \"%s\" must be C-contiguous, at least 1-d", name);
        return NULL;
    }
    const uint64_t rows = (uint64_t)PyArray_DIM(arr, 0), nbytes = (uint64_t)PyArray_NBYTES(arr);
    const void *data = PyArray_DATA(arr);
    mmarr_err rc;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    rc = mmarr_writer_append_rows(self->w, name, data, rows, nbytes);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    return writer_done(self, rc);
}

/* array_kind(name) -> (dtype_text, shape, capacity or None): what the writer holds as `name`
 * (an array of the appended-to file, or one added since). */
static PyObject *writer_array_kind(WriterObject *self, PyObject *arg)
{
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "array_kind(name): name must be a str");
        return NULL;
    }
    const char *name = mmpy_utf8_arg(arg, "name");
    if (!name || writer_usable(self))
        return NULL;
    mmarr_array_info a;
    if (mmarr_writer_array_info(self->w, name, &a) != MMARR_OK) {
        if (mmarr_writer_error(self->w)->code == MMARR_E_NOTFOUND) {
            PyErr_SetObject(PyExc_KeyError, arg);
            return NULL;
        }
        return mmpy_raise(mmarr_writer_error(self->w));
    }
    PyObject *shape = mmpy_shape_tuple(a.ndim, a.shape);
    if (!shape)
        return NULL;
    return Py_BuildValue("(sNO)", a.dtype_str, shape,
                         a.capacity ? PyLong_FromUnsignedLongLong(a.capacity) : Py_None);
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
    const char *name = mmpy_utf8_arg(name_o, "name"), *dtype = mmpy_utf8_arg(dtype_o, "dtype");
    if (!name || !dtype || writer_usable(self) || mmpy_shape_seq(shape_o, &nd, dims, shape))
        goto done;
    const uint64_t item = storable_as("reserve", name, descr, "numpy's", dtype);
    if (!item)
        goto done;
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
    const char *name = mmpy_utf8_arg(name_o, "name"), *dtype = mmpy_utf8_arg(dtype_o, "dtype");
    npy_intp dims[NPY_MAXDIMS];
    uint64_t shape[NPY_MAXDIMS];
    if (!name || !dtype || mmpy_shape_seq(shape_o, &nd, dims, shape))
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
    return writer_done(self, rc);
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
    return writer_done(self, rc);
}

/* end(): finish the streamed array. */
static PyObject *writer_end(WriterObject *self, PyObject *unused)
{
    (void)unused;
    if (writer_usable(self))
        return NULL;
    return writer_done(self, writer_nogil(self, mmarr_writer_end));
}

static PyObject *writer_commit(WriterObject *self, PyObject *unused)
{
    (void)unused;
    if (writer_usable(self))
        return NULL;
    const mmarr_err rc = writer_nogil(self, mmarr_writer_commit);
    mmarr_error e = *mmarr_writer_error(self->w);
    writer_finish(self);
    return mmpy_none_or_raise(rc, &e);
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
    const char *key = mmpy_utf8_arg(k, "metadata key"), *val = mmpy_utf8_arg(v, "metadata value");
    if (!key || !val)
        return NULL;
    return writer_done(self, mmarr_writer_set_file_meta(self->w, key, val));
}

static PyObject *writer_delete(WriterObject *self, PyObject *arg)
{
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "delete(name): name must be a str");
        return NULL;
    }
    if (writer_usable(self))
        return NULL;
    const char *name = mmpy_utf8_arg(arg, "name");
    if (!name)
        return NULL;
    return writer_done(self, mmarr_writer_delete(self->w, name));
}

static PyObject *writer_set_array_meta(WriterObject *self, PyObject *args)
{
    PyObject *n, *k, *v;
    if (!PyArg_ParseTuple(args, "UUU:set_array_meta", &n, &k, &v) || writer_usable(self))
        return NULL;
    const char *name = mmpy_utf8_arg(n, "name"), *key = mmpy_utf8_arg(k, "metadata key"),
               *val = mmpy_utf8_arg(v, "metadata value");
    if (!name || !key || !val)
        return NULL;
    return writer_done(self, mmarr_writer_set_array_meta(self->w, name, key, val));
}

static PyObject *writer_ragged(WriterObject *self, PyObject *args)
{
    PyObject *v, *o;
    int kind;
    if (!PyArg_ParseTuple(args, "UUi:ragged", &v, &o, &kind) || writer_usable(self))
        return NULL;
    const char *values = mmpy_utf8_arg(v, "name"), *offsets = mmpy_utf8_arg(o, "name");
    if (!values || !offsets)
        return NULL;
    return writer_done(self,
                       mmarr_writer_ragged(self->w, values, offsets, (mmarr_ragged_kind)kind));
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
    {"add", (PyCFunction)writer_add, METH_VARARGS, "add(name, dtype_text, array, compress=None)"},
    {"reserve", (PyCFunction)writer_reserve, METH_VARARGS,
     "reserve(name, dtype_text, dtype, shape, fortran) -> writable ndarray in the file"},
    {"begin", (PyCFunction)writer_begin, METH_VARARGS,
     "begin(name, dtype_text, shape, fortran, compress=None): start a streamed array"},
    {"write", (PyCFunction)writer_write, METH_O, "write(buffer): append bytes to it"},
    {"end", (PyCFunction)writer_end, METH_NOARGS, "end(): finish it"},
    {"set_file_meta", (PyCFunction)writer_set_file_meta, METH_VARARGS, "set_file_meta(key, value)"},
    {"delete", (PyCFunction)writer_delete, METH_O, "delete(name): remove an array"},
    {"array_kind", (PyCFunction)writer_array_kind, METH_O,
     "array_kind(name) -> (dtype_text, shape, capacity or None)"},
    {"add_growable", (PyCFunction)writer_add_growable, METH_VARARGS,
     "add_growable(name, dtype_text, array, capacity, compress=None)"},
    {"append_rows", (PyCFunction)writer_append_rows, METH_VARARGS,
     "append_rows(name, array): rows after a growable array's"},
    {"set_array_meta", (PyCFunction)writer_set_array_meta, METH_VARARGS,
     "set_array_meta(name, key, value)"},
    {"ragged", (PyCFunction)writer_ragged, METH_VARARGS,
     "ragged(values, offsets, kind): make two added arrays one ragged item"},
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

int mmpy_writer_types(PyObject *m)
{
    if (PyType_Ready(&WriterType) < 0 || PyType_Ready(&ReservationType) < 0 ||
        PyModule_AddObjectRef(m, "Writer", (PyObject *)&WriterType) < 0 ||
        PyModule_AddObjectRef(m, "Reservation", (PyObject *)&ReservationType) < 0)
        return -1;
    return 0;
}
