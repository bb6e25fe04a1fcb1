/* SPDX-License-Identifier: MIT */
/*
 * _mmarr_memory.c — memory calls on a Handle (prefetch, advise, lock, resident: pages of
 * the mapped file) and the decompression cache of cold arrays (a handle's cache directory,
 * listing and clearing a cache directory).
 */
#include "_mmarr.h"

/* The cache directory argument: None (the default directory) or a path. *bytes owns it. */
static int cache_dir_arg(PyObject *dir, PyObject **bytes)
{
    *bytes = NULL;
    return dir == Py_None || PyUnicode_FSConverter(dir, bytes);
}

/* set_cache(dir or None, max_bytes) */
PyObject *mmpy_handle_set_cache(HandleObject *self, PyObject *args)
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
    return mmpy_none_or_raise(rc, &e);
}

PyObject *mmpy_handle_set_threads(HandleObject *self, PyObject *arg)
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
    return mmpy_none_or_raise(rc, &e);
}

/* prefetch(index=-1): fault an array's pages (or the whole file) in now. */
PyObject *mmpy_handle_prefetch(HandleObject *self, PyObject *args)
{
    Py_ssize_t index = -1;
    if (!PyArg_ParseTuple(args, "|n:prefetch", &index))
        return NULL;
    return pages_call(self, index, mmarr_file_prefetch);
}

/* lock(on, index=-1): mlock (on) or munlock (not on) an array's pages (or the file's). */
PyObject *mmpy_handle_lock(HandleObject *self, PyObject *args)
{
    int on;
    Py_ssize_t index = -1;
    if (!PyArg_ParseTuple(args, "p|n:lock", &on, &index))
        return NULL;
    return pages_call(self, index, on ? mmarr_file_lock : mmarr_file_unlock);
}

/* advise(advice, index=-1): madvise an array's pages (or the whole file's). */
PyObject *mmpy_handle_advise(HandleObject *self, PyObject *args)
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
    return mmpy_none_or_raise(rc, &e);
}

/* resident(index=-1) -> (resident_bytes, total_bytes) */
PyObject *mmpy_handle_resident(HandleObject *self, PyObject *args)
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
        return mmpy_raise(&e);
    return Py_BuildValue("(KK)", (unsigned long long)resident, (unsigned long long)total);
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
PyObject *mmpy_cache_list(PyObject *mod, PyObject *args)
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
        return mmpy_raise(&e);
    }
    return list;
}

/* cache_clear(keep_bytes, dir=None) -> bytes removed */
PyObject *mmpy_cache_clear(PyObject *mod, PyObject *args)
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
        return mmpy_raise(&e);
    return PyLong_FromUnsignedLongLong(removed);
}

/* cache_default_dir() -> str */
PyObject *mmpy_cache_default_dir(PyObject *mod, PyObject *unused)
{
    (void)mod, (void)unused;
    char buf[4096];
    mmarr_error e;
    if (mmarr_cache_default_dir(buf, sizeof buf, &e) != MMARR_OK)
        return mmpy_raise(&e);
    return PyUnicode_DecodeFSDefault(buf);
}
