/* SPDX-License-Identifier: MIT */
/*
 * _mmarr_dtype.c — dtypes. The library's grammar (mmarr_dtype_parse) is the only one that
 * reads dtype text; numpy dtypes are built from its parsed form (kind, byte order, size,
 * time unit, fields with offsets and subarray shapes), never by parsing text in Python.
 */
#include "_mmarr.h"

#include <stdio.h>
#include <string.h>

/* The library's parse of dtype text (a str argument for parse_arg), to be freed with
 * mmarr_dtype_free(); NULL with an exception (mmarr.Error for text it refuses). */
static mmarr_dtype *parse(const char *text)
{
    mmarr_dtype *dt = NULL;
    mmarr_error e;
    if (text && mmarr_dtype_parse(text, &dt, &e) != MMARR_OK)
        mmpy_raise(&e);
    return dt;
}

static mmarr_dtype *parse_arg(PyObject *arg)
{
    return parse(mmpy_utf8_arg(arg, "dtype"));
}

/* Item size of dtype text per the library's parser; 0 with an exception on error. */
uint64_t mmpy_dtype_itemsize(const char *text)
{
    mmarr_dtype *dt = parse(text);
    if (!dt)
        return 0;
    const uint64_t n = mmarr_dtype_itemsize(dt);
    mmarr_dtype_free(dt);
    return n;
}

/* dtype_canonical(text) -> (canonical text, itemsize) per the library's parser. */
PyObject *mmpy_dtype_canonical(PyObject *mod, PyObject *arg)
{
    (void)mod;
    mmarr_dtype *dt = parse_arg(arg);
    if (!dt)
        return NULL;
    PyObject *r = Py_BuildValue("(sK)", mmarr_dtype_str(dt),
                                (unsigned long long)mmarr_dtype_itemsize(dt));
    mmarr_dtype_free(dt);
    return r;
}

/* ---------------------------------------------------------------------------------------- */
/* numpy dtypes from the library's parsed dtypes                                            */

/* The dtypes numpy has only through the ml_dtypes package (their canonical text). */
static const char *const ml_names[] = {"bfloat16", "float8_e4m3fn", "float8_e5m2"};

/* np.dtype(o), stealing o (NULL: an error is set). */
static PyArray_Descr *descr_steal(PyObject *o)
{
    PyArray_Descr *d = NULL;
    if (o && !PyArray_DescrConverter(o, &d))
        d = NULL;
    Py_XDECREF(o);
    return d;
}

/* numpy's array-interface type string ("<f4", "|S6", "<U5", "<M8[10ms]") as a dtype. */
static PyArray_Descr *typestr_descr(const char *typestr)
{
    return descr_steal(PyUnicode_FromString(typestr));
}

PyArray_Descr *mmpy_void_descr(uint64_t itemsize)
{
    char buf[32];
    snprintf(buf, sizeof buf, "|V%llu", (unsigned long long)itemsize);
    return typestr_descr(buf);
}

/* ml_dtypes.<name>, or a TypeError pointing at File.raw() when the package is missing. */
static PyArray_Descr *ml_descr(const char *name, const char *array)
{
    PyObject *mod = PyImport_ImportModule("ml_dtypes");
    if (!mod) {
        if (!PyErr_ExceptionMatches(PyExc_ImportError))
            return NULL;
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "%s%s%sdtype %s has no numpy equivalent (the ml_dtypes package is not "
                     "installed); use File.raw() for a view of the bytes",
                     array ? "array \"" : "", array ? array : "", array ? "\": " : "", name);
        return NULL;
    }
    PyArray_Descr *d = descr_steal(PyObject_GetAttrString(mod, name));
    Py_DECREF(mod);
    return d;
}

/* A plain (not structured) dtype from its kind, byte order, size and time unit. */
static PyArray_Descr *plain_descr(const mmarr_dtype *dt, const char *array)
{
    const char *text = mmarr_dtype_str(dt);
    for (size_t i = 0; i < sizeof ml_names / sizeof *ml_names; i++)
        if (strcmp(text, ml_names[i]) == 0)
            return ml_descr(ml_names[i], array);
    const mmarr_kind kind = mmarr_dtype_kind(dt);
    uint64_t n = mmarr_dtype_itemsize(dt);
    if (kind == MMARR_KIND_UNICODE)
        n /= 4; /* numpy counts UCS-4 characters */
    char buf[96];
    int len = snprintf(buf, sizeof buf, "%c%c%llu", mmarr_dtype_byteorder(dt), (char)kind,
                       (unsigned long long)n);
    uint64_t count = 0;
    const char *unit = mmarr_dtype_time_unit(dt, &count);
    if (unit && unit[0] && count == 1)
        snprintf(buf + len, sizeof buf - (size_t)len, "[%s]", unit);
    else if (unit && unit[0])
        snprintf(buf + len, sizeof buf - (size_t)len, "[%llu%s]", (unsigned long long)count,
                 unit);
    return typestr_descr(buf);
}

/* list.append(v), stealing v; -1 on error. */
static int append_steal(PyObject *list, PyObject *v)
{
    if (!v)
        return -1;
    const int rc = PyList_Append(list, v);
    Py_DECREF(v);
    return rc;
}

/* A structured dtype: named fields at the library's offsets (padding fields, named "", are
 * gaps), subarray fields as (dtype, shape), the record's item size. */
static PyArray_Descr *struct_descr(const mmarr_dtype *dt, const char *array)
{
    PyObject *names = PyList_New(0), *formats = PyList_New(0), *offsets = PyList_New(0);
    PyArray_Descr *d = NULL;
    if (!names || !formats || !offsets)
        goto done;
    const size_t n = mmarr_dtype_nfields(dt);
    for (size_t i = 0; i < n; i++) {
        const mmarr_field *f = mmarr_dtype_field(dt, i);
        if (!f->name[0])
            continue;
        PyObject *sub = (PyObject *)mmpy_descr(f->dtype, array);
        if (sub && f->ndim)
            sub = Py_BuildValue("(NN)", sub, mmpy_shape_tuple(f->ndim, f->shape));
        if (append_steal(formats, sub) ||
            append_steal(names, PyUnicode_FromString(f->name)) ||
            append_steal(offsets, PyLong_FromUnsignedLongLong(f->offset)))
            goto done;
    }
    d = descr_steal(Py_BuildValue("{s:O,s:O,s:O,s:K}", "names", names, "formats", formats,
                                  "offsets", offsets, "itemsize",
                                  (unsigned long long)mmarr_dtype_itemsize(dt)));
done:
    Py_XDECREF(names);
    Py_XDECREF(formats);
    Py_XDECREF(offsets);
    return d;
}

PyArray_Descr *mmpy_descr(const mmarr_dtype *dt, const char *array)
{
    if (mmarr_dtype_kind(dt) == MMARR_KIND_STRUCT)
        return struct_descr(dt, array);
    return plain_descr(dt, array);
}

/* dtype_from_text(text) -> numpy dtype of dtype text, read by the library's parser. */
PyObject *mmpy_dtype_from_text(PyObject *mod, PyObject *arg)
{
    (void)mod;
    mmarr_dtype *dt = parse_arg(arg);
    if (!dt)
        return NULL;
    PyArray_Descr *d = mmpy_descr(dt, NULL);
    mmarr_dtype_free(dt);
    return (PyObject *)d;
}
