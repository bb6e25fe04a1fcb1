/* SPDX-License-Identifier: MIT */
/*
 * _mmarr.h — private header of the C half of the `mmarr` Python package (the extension
 * module mmarr._mmarr), over the public C API (mmarr.h) only. One file per concern:
 *
 *   _mmarr_module.c  module table and init, exceptions (mmarr.Error and subclasses), and the
 *                    argument helpers every file uses
 *   _mmarr_file.c    Handle (one mmarr_file): open, name lookup, info, metadata, reads,
 *                    verify, flush
 *   _mmarr_view.c    zero-copy views (f["x"] in one call, unpickled views), the numpy dtype
 *                    of each array, and Mapping (the base object of every view)
 *   _mmarr_memory.c  memory calls on a Handle (prefetch, advise, lock, resident) and the
 *                    decompression cache (set_cache, cache_list, cache_clear)
 *   _mmarr_writer.c  Writer (one mmarr_writer), streamed arrays, and Reservation (the base
 *                    object of a Writer.reserve() view)
 *   _mmarr_dtype.c   numpy dtypes <-> the library's dtype grammar (mmarr_dtype_parse)
 *   _mmarr_text.c    text items (ragged str / bytes) <-> Python objects, in bulk
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
 * State: the type objects and the exception classes only; nothing else is global.
 * Names shared between the files start with mmpy_.
 */
#ifndef MMARR_PY_H
#define MMARR_PY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* one numpy C-API table for all files: _mmarr_module.c imports it */
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#define PY_ARRAY_UNIQUE_SYMBOL mmpy_ARRAY_API
#ifndef MMPY_IMPORT_ARRAY
#define NO_IMPORT_ARRAY
#endif
#include <numpy/arrayobject.h>

#include <mmarr.h>

#include <stdint.h>

#ifndef PyDataType_ELSIZE /* numpy < 2 */
#define PyDataType_ELSIZE(d) ((npy_intp)(d)->elsize)
#endif

/* ---- _mmarr_module.c: errors and argument helpers */

extern PyObject *mmpy_Error;            /* mmarr.Error */
extern PyObject *mmpy_NotZeroCopyError; /* mmarr.NotZeroCopyError, a subclass */

/* Raise the Python exception for a failed library call; always returns NULL. */
PyObject *mmpy_raise(const mmarr_error *e);
/* None for MMARR_OK, else mmpy_raise(e): the end of most calls. */
PyObject *mmpy_none_or_raise(mmarr_err rc, const mmarr_error *e);
/* A tuple of Python ints from ndim dimensions. */
PyObject *mmpy_shape_tuple(unsigned ndim, const uint64_t *shape);
/* dict[key] = value, stealing value (NULL: an error is set); -1 on error. */
int mmpy_dict_put(PyObject *d, const char *key, PyObject *value);
/* A sequence of at most NPY_MAXDIMS Python ints into out[] and *n; -1 on error. */
int mmpy_intp_seq(PyObject *seq, const char *what, int *n, npy_intp *out);
/* A shape sequence as npy_intp dims and uint64_t shape; -1 on error (negative dims too). */
int mmpy_shape_seq(PyObject *seq, int *nd, npy_intp *dims, uint64_t *shape);
/* Whether an array geometry `off` bytes into a region of `size` bytes lies inside it. */
int mmpy_extent_inside(npy_intp off, int nd, const npy_intp *dims, const npy_intp *strides,
                       npy_intp item, uint64_t size);
/* A str argument as UTF-8 without embedded NUL; NULL with an exception otherwise. */
const char *mmpy_utf8_arg(PyObject *s, const char *what);

/* ---- _mmarr_file.c: Handle and Mapping */

typedef struct {
    PyObject_HEAD
    mmarr_file *f;
    PyObject *path;           /* str, as opened: pickles reopen it */
    unsigned long long dev;   /* identity of the file mapped (mmarr_file_info.device) */
    unsigned long long ino;   /* mmarr_file_info.inode */
    Py_ssize_t nviews;        /* live Mapping objects pointing into this handle */
    PyObject *weakreflist;
    PyObject **descrs;        /* numpy dtype of each array, built at its first view */
    size_t ndescrs;
} HandleObject;

/* Ready the Handle type and add it to module m; -1 on error. */
int mmpy_file_types(PyObject *m);
/* open(path, flags) -> Handle */
PyObject *mmpy_open(PyObject *mod, PyObject *args);
/* Fill *info for array number `index`; -1 with IndexError if out of range. */
int mmpy_handle_index(HandleObject *self, Py_ssize_t index, mmarr_array_info *info);
/* Fill *a for the array named by str `name`: 1 if found, 0 if not (also for names no array
 * can have: a lone surrogate, an embedded NUL). No exception either way. */
int mmpy_lookup(HandleObject *self, PyObject *name, mmarr_array_info *a);

/* ---- _mmarr_view.c: views and Mapping (Handle methods get, view, descr) */

/* Ready the Mapping type and add it to module m; -1 on error. */
int mmpy_view_types(PyObject *m);
PyObject *mmpy_handle_get(HandleObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *mmpy_rows(PyObject *mod, PyObject *const *args, Py_ssize_t nargs);
PyObject *mmpy_handle_view(HandleObject *self, PyObject *args, PyObject *kw);
PyObject *mmpy_handle_descr(HandleObject *self, PyObject *arg);

/* ---- _mmarr_memory.c: Handle methods for memory and cache, module cache functions */

PyObject *mmpy_handle_set_cache(HandleObject *self, PyObject *args);
PyObject *mmpy_handle_set_threads(HandleObject *self, PyObject *arg);
PyObject *mmpy_handle_prefetch(HandleObject *self, PyObject *args);
PyObject *mmpy_handle_lock(HandleObject *self, PyObject *args);
PyObject *mmpy_handle_advise(HandleObject *self, PyObject *args);
PyObject *mmpy_handle_resident(HandleObject *self, PyObject *args);
PyObject *mmpy_cache_list(PyObject *mod, PyObject *args);
PyObject *mmpy_cache_clear(PyObject *mod, PyObject *args);
PyObject *mmpy_cache_default_dir(PyObject *mod, PyObject *unused);

/* ---- _mmarr_writer.c: Writer and Reservation */

/* Ready the Writer and Reservation types and add them to module m; -1 on error. */
int mmpy_writer_types(PyObject *m);

/* ---- _mmarr_dtype.c: dtypes */

/* Item size of dtype text per the library's parser; 0 with an exception on error. */
uint64_t mmpy_dtype_itemsize(const char *text);
/* dtype_canonical(text) -> (canonical text, itemsize) */
PyObject *mmpy_dtype_canonical(PyObject *mod, PyObject *arg);
/* dtype_from_text(text) -> numpy dtype */
PyObject *mmpy_dtype_from_text(PyObject *mod, PyObject *arg);
/* The numpy dtype of a library dtype (new reference), or NULL with an exception: TypeError
 * for bfloat16/float8_* without the ml_dtypes package (naming `array` unless NULL). */
PyArray_Descr *mmpy_descr(const mmarr_dtype *dt, const char *array);
/* numpy's void dtype of `itemsize` bytes (new reference). */
PyArray_Descr *mmpy_void_descr(uint64_t itemsize);

/* ---- _mmarr_text.c: text items in bulk */

/* Add text_encode and text_decode to module m; -1 on error. */
int mmpy_text_functions(PyObject *m);

#endif /* MMARR_PY_H */
