/* SPDX-License-Identifier: MIT */
/*
 * _mmarr_dtype.c — dtype text through the library's dtype grammar (mmarr_dtype_parse).
 */
#include "_mmarr.h"

/* Item size of dtype text per the library's parser; 0 with an exception on error. */
uint64_t mmpy_dtype_itemsize(const char *text)
{
    mmarr_dtype *dt;
    mmarr_error e;
    if (mmarr_dtype_parse(text, &dt, &e) != MMARR_OK) {
        mmpy_raise(&e);
        return 0;
    }
    const uint64_t n = mmarr_dtype_itemsize(dt);
    mmarr_dtype_free(dt);
    return n;
}

/* dtype_canonical(text) -> (canonical text, itemsize) per the library's parser. */
PyObject *mmpy_dtype_canonical(PyObject *mod, PyObject *arg)
{
    (void)mod;
    const char *text = mmpy_utf8_arg(arg, "dtype");
    if (!text)
        return NULL;
    mmarr_dtype *dt;
    mmarr_error e;
    if (mmarr_dtype_parse(text, &dt, &e) != MMARR_OK)
        return mmpy_raise(&e);
    PyObject *r = Py_BuildValue("(sK)", mmarr_dtype_str(dt),
                                (unsigned long long)mmarr_dtype_itemsize(dt));
    mmarr_dtype_free(dt);
    return r;
}
