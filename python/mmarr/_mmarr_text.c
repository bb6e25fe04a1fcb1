/* SPDX-License-Identifier: MIT */
/*
 * Text items (spec.md §7.7, kinds UTF-8 and bytes) to and from Python objects in bulk: one
 * call for a whole list or column, so that a frame's text columns and Ragged.tolist() cost
 * what pickle's C loops cost, not a Python-level loop per item.
 *
 *   text_encode(items, kind, missing_ok, na) -> (kind, values, offsets, mask, bad)
 *   text_decode(values, offsets, kind, mask, na) -> object ndarray
 *
 * Encoding reads each str's code points and writes UTF-8 itself (no UTF-8 copy is cached in
 * the caller's str objects); decoding shares one str object between equal short ASCII items
 * (a small direct-mapped cache), as unpickling shares the objects a pickle repeats.
 */
#include "_mmarr.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* Encoding                                                                                 */

/* Bytes of s in UTF-8, or -1 if s holds a lone surrogate (not encodable). */
static Py_ssize_t utf8_size(PyObject *s)
{
    const Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (PyUnicode_IS_ASCII(s))
        return n;
    const int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    Py_ssize_t size = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 0x80)
            size += 1;
        else if (c < 0x800)
            size += 2;
        else if (c < 0x10000) {
            if (c >= 0xD800 && c <= 0xDFFF)
                return -1;
            size += 3;
        } else
            size += 4;
    }
    return size;
}

/* Write s as UTF-8 to out (utf8_size(s) bytes, checked before). */
static void utf8_put(PyObject *s, char *out)
{
    const Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (PyUnicode_IS_ASCII(s)) {
        memcpy(out, PyUnicode_1BYTE_DATA(s), (size_t)n);
        return;
    }
    const int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    unsigned char *p = (unsigned char *)out;
    for (Py_ssize_t i = 0; i < n; i++) {
        const Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 0x80) {
            *p++ = (unsigned char)c;
        } else if (c < 0x800) {
            *p++ = (unsigned char)(0xC0 | (c >> 6));
            *p++ = (unsigned char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            *p++ = (unsigned char)(0xE0 | (c >> 12));
            *p++ = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            *p++ = (unsigned char)(0x80 | (c & 0x3F));
        } else {
            *p++ = (unsigned char)(0xF0 | (c >> 18));
            *p++ = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
            *p++ = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            *p++ = (unsigned char)(0x80 | (c & 0x3F));
        }
    }
}

/* Whether v is a missing value: None (or NULL, which an object ndarray's slot may hold and
 * numpy reads as None), the caller's `na` (e.g. pandas.NA) or a float NaN. */
static int is_missing(PyObject *v, PyObject *na)
{
    return !v || v == Py_None || (na != Py_None && v == na) ||
           (PyFloat_Check(v) && isnan(PyFloat_AS_DOUBLE(v)));
}

/* The bytes of a bytes-kind item: bytes, bytearray, or a C-contiguous buffer (a view is
 * held in *view then; release it with PyBuffer_Release). 0 if v is none of them. */
static int bytes_of(PyObject *v, const char **p, Py_ssize_t *n, Py_buffer *view)
{
    view->obj = NULL;
    if (PyBytes_Check(v)) {
        *p = PyBytes_AS_STRING(v);
        *n = PyBytes_GET_SIZE(v);
        return 1;
    }
    if (PyByteArray_Check(v)) {
        *p = PyByteArray_AS_STRING(v);
        *n = PyByteArray_GET_SIZE(v);
        return 1;
    }
    if (PyMemoryView_Check(v) && PyObject_GetBuffer(v, view, PyBUF_C_CONTIGUOUS) == 0) {
        *p = view->buf;
        *n = view->len;
        return 1;
    }
    PyErr_Clear();
    return 0;
}

/* Byte size of item v of kind `kind`, or -1 if v does not fit the kind. */
static Py_ssize_t item_size(PyObject *v, unsigned kind)
{
    if (!v)
        return -1;
    if (kind == MMARR_RAGGED_UTF8)
        return PyUnicode_Check(v) ? utf8_size(v) : -1;
    const char *p;
    Py_ssize_t n;
    Py_buffer view;
    if (!bytes_of(v, &p, &n, &view))
        return -1;
    PyBuffer_Release(&view);
    return n;
}

/*
 * text_encode(items, kind, missing_ok, na) -> (kind, values, offsets, mask, bad)
 *
 * items: a sequence of str (kind RAGGED_UTF8) or bytes-like objects (RAGGED_BYTES); kind -1
 * takes it from the first item that is not missing (str: UTF-8, else bytes). missing_ok:
 * None, `na` and float NaN are missing items (stored empty, True in mask); else they are
 * wrong items. Result: values (uint8), offsets (uint64, len(items) + 1), mask (bool, or None
 * when nothing is missing or missing_ok is false) and bad = -1; or, at the first item that
 * does not fit the kind (or a str with a lone surrogate), (kind, None, None, None, its index).
 */
static PyObject *text_encode(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *items, *na;
    int kind_arg, missing_ok;
    if (!PyArg_ParseTuple(args, "OipO:text_encode", &items, &kind_arg, &missing_ok, &na))
        return NULL;
    /* a 1-d contiguous object ndarray (a pandas column) is read in place; other sequences
     * through a list or tuple */
    PyObject *seq;
    Py_ssize_t n;
    PyObject **it;
    if (PyArray_Check(items) && PyArray_TYPE((PyArrayObject *)items) == NPY_OBJECT &&
        PyArray_NDIM((PyArrayObject *)items) == 1 &&
        PyArray_IS_C_CONTIGUOUS((PyArrayObject *)items)) {
        seq = Py_NewRef(items);
        n = (Py_ssize_t)PyArray_DIM((PyArrayObject *)items, 0);
        it = (PyObject **)PyArray_DATA((PyArrayObject *)items);
    } else {
        seq = PySequence_Fast(items, "text_encode(): items must be a sequence");
        if (!seq)
            return NULL;
        n = PySequence_Fast_GET_SIZE(seq);
        it = PySequence_Fast_ITEMS(seq);
    }
    PyObject *values = NULL, *offsets = NULL, *mask = NULL, *out = NULL;
    unsigned kind = kind_arg < 0 ? MMARR_RAGGED_UTF8 : (unsigned)kind_arg;
    if (kind_arg < 0) {
        for (Py_ssize_t i = 0; i < n; i++)
            if (!(missing_ok && is_missing(it[i], na))) {
                kind = it[i] && PyUnicode_Check(it[i]) ? MMARR_RAGGED_UTF8 : MMARR_RAGGED_BYTES;
                break;
            }
    } else if (kind != MMARR_RAGGED_UTF8 && kind != MMARR_RAGGED_BYTES) {
        PyErr_Format(PyExc_ValueError, "text_encode(): kind %d is not a text kind", kind_arg);
        goto done;
    }

    /* pass 1: sizes, the first wrong item, whether anything is missing */
    Py_ssize_t total = 0, nmissing = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (missing_ok && is_missing(it[i], na)) {
            nmissing++;
            continue;
        }
        const Py_ssize_t size = item_size(it[i], kind);
        if (size < 0) {
            out = Py_BuildValue("IOOOn", kind, Py_None, Py_None, Py_None, i);
            goto done;
        }
        if (size > PY_SSIZE_T_MAX - total) {
            PyErr_SetString(PyExc_OverflowError, "text_encode(): the items' total size "
                                                 "overflows");
            goto done;
        }
        total += size;
    }

    /* pass 2: the arrays */
    npy_intp dv = (npy_intp)total, dofs = (npy_intp)n + 1, dm = (npy_intp)n;
    values = PyArray_SimpleNew(1, &dv, NPY_UINT8);
    offsets = PyArray_SimpleNew(1, &dofs, NPY_UINT64);
    if (nmissing)
        mask = PyArray_ZEROS(1, &dm, NPY_BOOL, 0);
    if (!values || !offsets || (nmissing && !mask))
        goto done;
    /* The allocations above may have run a garbage collection, and so Python code that
     * changed the items: pass 2 checks every item again and fails rather than trust pass 1. */
    if (!PyArray_Check(seq)) {
        if (PySequence_Fast_GET_SIZE(seq) != n)
            goto changed;
        it = PySequence_Fast_ITEMS(seq);
    }
    char *vp = PyArray_BYTES((PyArrayObject *)values);
    uint64_t *op = (uint64_t *)PyArray_DATA((PyArrayObject *)offsets);
    npy_bool *mp = mask ? (npy_bool *)PyArray_DATA((PyArrayObject *)mask) : NULL;
    Py_ssize_t pos = 0;
    op[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = it[i];
        if (missing_ok && is_missing(v, na)) {
            if (!mp)
                goto changed;
            mp[i] = 1;
        } else if (!v) {
            goto changed;
        } else if (kind == MMARR_RAGGED_UTF8) {
            const Py_ssize_t size = PyUnicode_Check(v) ? utf8_size(v) : -1;
            if (size < 0 || size > total - pos)
                goto changed;
            utf8_put(v, vp + pos);
            pos += size;
        } else {
            const char *p;
            Py_ssize_t size;
            Py_buffer view;
            if (!bytes_of(v, &p, &size, &view))
                goto changed;
            if (size > total - pos) {
                PyBuffer_Release(&view);
                goto changed;
            }
            memcpy(vp + pos, p, (size_t)size);
            PyBuffer_Release(&view);
            pos += size;
        }
        op[i + 1] = (uint64_t)pos;
    }
    if (pos != total)
        goto changed;
    out = Py_BuildValue("IOOOn", kind, values, offsets, mask ? mask : Py_None, (Py_ssize_t)-1);
    goto done;
changed:
    PyErr_SetString(PyExc_RuntimeError, "text_encode(): the items changed while encoded");
done:
    Py_XDECREF(values);
    Py_XDECREF(offsets);
    Py_XDECREF(mask);
    Py_DECREF(seq);
    return out;
}

/* ---------------------------------------------------------------------------------------- */
/* Decoding                                                                                 */

#define SHARE_MAX 64       /* items up to this many bytes may share one object */
#define SHARE_SLOTS 16384u /* direct-mapped cache entries (a power of two) */

/* FNV-1a of a short item: the cache slot. */
static size_t share_slot(const unsigned char *p, size_t n, size_t slots)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return (size_t)(h ^ (h >> 29)) & (slots - 1);
}

/* Whether cached object o holds exactly bytes p[0..n) (an ASCII str, or bytes). */
static int share_match(PyObject *o, const char *p, size_t n, unsigned kind)
{
    if (kind == MMARR_RAGGED_UTF8)
        return (size_t)PyUnicode_GET_LENGTH(o) == n && memcmp(PyUnicode_1BYTE_DATA(o), p, n) == 0;
    return (size_t)PyBytes_GET_SIZE(o) == n && memcmp(PyBytes_AS_STRING(o), p, n) == 0;
}

/* A new str or bytes object for item i (bytes p[0..n)); ValueError for invalid UTF-8. */
static PyObject *make_item(const char *p, size_t n, unsigned kind, Py_ssize_t i)
{
    if (kind == MMARR_RAGGED_BYTES)
        return PyBytes_FromStringAndSize(p, (Py_ssize_t)n);
    PyObject *s = PyUnicode_DecodeUTF8(p, (Py_ssize_t)n, "strict");
    if (!s && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_Format(PyExc_ValueError, "item %zd is not valid UTF-8 text: %S", i,
                     value ? value : Py_None);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
    }
    return s;
}

/*
 * text_decode(values, offsets, kind, mask, na) -> object ndarray of len(offsets) - 1 items
 *
 * values: 1-d uint8 (or any one-byte) contiguous array; offsets: 1-d native uint64, each
 * read once and checked (monotonic, inside values) before use, so a writable mapping that
 * changes meanwhile cannot make a read leave values; kind RAGGED_UTF8 (str) or RAGGED_BYTES;
 * mask: None or a bool array of one entry per item, True giving `na` instead of the item.
 * ValueError naming the item for bad offsets or invalid UTF-8.
 */
static PyObject *text_decode(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *vobj, *oobj, *mobj, *na;
    unsigned kind;
    if (!PyArg_ParseTuple(args, "O!O!IOO:text_decode", &PyArray_Type, &vobj, &PyArray_Type, &oobj,
                          &kind, &mobj, &na))
        return NULL;
    PyArrayObject *v = (PyArrayObject *)vobj, *o = (PyArrayObject *)oobj, *m = NULL;
    if (PyArray_NDIM(v) != 1 || PyArray_ITEMSIZE(v) != 1 || !PyArray_IS_C_CONTIGUOUS(v) ||
        PyArray_NDIM(o) != 1 || PyArray_TYPE(o) != NPY_UINT64 || !PyArray_ISNOTSWAPPED(o) ||
        PyArray_DIM(o, 0) < 1 || (kind != MMARR_RAGGED_UTF8 && kind != MMARR_RAGGED_BYTES)) {
        PyErr_SetString(PyExc_TypeError, "text_decode(): values must be 1-d contiguous bytes, "
                                         "offsets 1-d native uint64 (at least one), kind a "
                                         "text kind");
        return NULL;
    }
    const npy_intp n = PyArray_DIM(o, 0) - 1;
    if (mobj != Py_None) {
        if (!PyArray_Check(mobj) || PyArray_NDIM((PyArrayObject *)mobj) != 1 ||
            PyArray_TYPE((PyArrayObject *)mobj) != NPY_BOOL ||
            PyArray_DIM((PyArrayObject *)mobj, 0) != n) {
            PyErr_Format(PyExc_TypeError,
                         "text_decode(): mask must be None or a 1-d bool "
                         "array of %zd entries",
                         (Py_ssize_t)n);
            return NULL;
        }
        m = (PyArrayObject *)mobj;
    }
    npy_intp dn = n;
    PyObject *out = PyArray_SimpleNew(1, &dn, NPY_OBJECT); /* NULL-filled; XDECREF'd */
    if (!out)
        return NULL;
    PyObject **dst = (PyObject **)PyArray_DATA((PyArrayObject *)out);
    const char *vb = PyArray_BYTES(v), *ob = PyArray_BYTES(o);
    const npy_intp os = PyArray_STRIDE(o, 0);
    const uint64_t nvalues = (uint64_t)PyArray_DIM(v, 0);
    size_t slots = 16;
    while (slots < SHARE_SLOTS && slots < (size_t)n)
        slots <<= 1;
    PyObject **share = PyMem_Calloc(slots, sizeof *share);
    if (!share) {
        Py_DECREF(out);
        return PyErr_NoMemory();
    }
    uint64_t a;
    memcpy(&a, ob, 8);
    for (npy_intp i = 0; i < n; i++) {
        uint64_t b;
        memcpy(&b, ob + (i + 1) * os, 8);
        if (a > b || b > nvalues) {
            PyErr_Format(PyExc_ValueError,
                         "item %zd: offsets %llu..%llu outside the %llu "
                         "bytes of its values",
                         (Py_ssize_t)i, (unsigned long long)a, (unsigned long long)b,
                         (unsigned long long)nvalues);
            goto fail;
        }
        const char *p = vb + a;
        const size_t len = (size_t)(b - a);
        a = b;
        if (m && *(const npy_bool *)PyArray_GETPTR1(m, i)) {
            Py_INCREF(na);
            dst[i] = na;
            continue;
        }
        if (len > SHARE_MAX) {
            if (!(dst[i] = make_item(p, len, kind, (Py_ssize_t)i)))
                goto fail;
            continue;
        }
        const size_t slot = share_slot((const unsigned char *)p, len, slots);
        PyObject *s = share[slot];
        if (s && share_match(s, p, len, kind)) {
            Py_INCREF(s);
        } else {
            if (!(s = make_item(p, len, kind, (Py_ssize_t)i)))
                goto fail;
            if (kind == MMARR_RAGGED_BYTES || PyUnicode_IS_ASCII(s)) {
                Py_XSETREF(share[slot], s);
                Py_INCREF(s);
            }
        }
        dst[i] = s;
    }
    for (size_t k = 0; k < slots; k++)
        Py_XDECREF(share[k]);
    PyMem_Free(share);
    return out;
fail:
    for (size_t k = 0; k < slots; k++)
        Py_XDECREF(share[k]);
    PyMem_Free(share);
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef text_methods[] = {
    {"text_encode", text_encode, METH_VARARGS,
     "text_encode(items, kind, missing_ok, na) -> (kind, values, offsets, mask, bad)"},
    {"text_decode", text_decode, METH_VARARGS,
     "text_decode(values, offsets, kind, mask, na) -> object ndarray"},
    {NULL, NULL, 0, NULL}};

int mmpy_text_functions(PyObject *m) { return PyModule_AddFunctions(m, text_methods); }
