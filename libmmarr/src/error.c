/* SPDX-License-Identifier: MIT */
/* error.c — the error-code table, mmarr_strerror(), the helpers that fill mmarr_error, and
 * the handle's error plumbing: a public call on a file finishes with mm_file_done(), which
 * copies a failure to the caller's mmarr_error and to the handle's last error (under a lock). */
#include "mm_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

static const struct {
    mmarr_err code;
    const char *name;
    const char *text;
} mm_errors[] = {
    {MMARR_OK, "MMARR_OK", "MMARR_OK: success"},
    {MMARR_E_INVAL, "MMARR_E_INVAL", "MMARR_E_INVAL: invalid argument"},
    {MMARR_E_NOMEM, "MMARR_E_NOMEM", "MMARR_E_NOMEM: out of memory"},
    {MMARR_E_IO, "MMARR_E_IO", "MMARR_E_IO: input/output error"},
    {MMARR_E_NOSPACE, "MMARR_E_NOSPACE", "MMARR_E_NOSPACE: not enough space on the filesystem"},
    {MMARR_E_BADMAGIC, "MMARR_E_BADMAGIC", "MMARR_E_BADMAGIC: not an mmarr file"},
    {MMARR_E_VERSION, "MMARR_E_VERSION", "MMARR_E_VERSION: unsupported format version"},
    {MMARR_E_CORRUPT, "MMARR_E_CORRUPT", "MMARR_E_CORRUPT: file structure is invalid"},
    {MMARR_E_CHECKSUM, "MMARR_E_CHECKSUM", "MMARR_E_CHECKSUM: checksum mismatch"},
    {MMARR_E_TRUNCATED, "MMARR_E_TRUNCATED", "MMARR_E_TRUNCATED: file is truncated"},
    {MMARR_E_UNSUPPORTED, "MMARR_E_UNSUPPORTED",
     "MMARR_E_UNSUPPORTED: file needs a feature this library lacks"},
    {MMARR_E_STALE, "MMARR_E_STALE", "MMARR_E_STALE: checksums are stale after in-place writes"},
    {MMARR_E_NOTFOUND, "MMARR_E_NOTFOUND", "MMARR_E_NOTFOUND: no such array or key"},
    {MMARR_E_DTYPE, "MMARR_E_DTYPE", "MMARR_E_DTYPE: invalid or unsupported dtype"},
    {MMARR_E_EXISTS, "MMARR_E_EXISTS", "MMARR_E_EXISTS: already exists"},
    {MMARR_E_RANGE, "MMARR_E_RANGE", "MMARR_E_RANGE: size or limit exceeded"},
    {MMARR_E_READONLY, "MMARR_E_READONLY", "MMARR_E_READONLY: handle is read-only"},
    {MMARR_E_BUSY, "MMARR_E_BUSY", "MMARR_E_BUSY: another process is writing the file"},
    {MMARR_E_STATE, "MMARR_E_STATE", "MMARR_E_STATE: call not valid in this state"},
};

const char *mmarr_strerror(mmarr_err code)
{
    for (size_t i = 0; i < sizeof mm_errors / sizeof mm_errors[0]; i++)
        if (mm_errors[i].code == code)
            return mm_errors[i].text;
    return "MMARR_E_UNKNOWN: unknown error code";
}

const char *mmarr_err_name(mmarr_err code)
{
    for (size_t i = 0; i < sizeof mm_errors / sizeof mm_errors[0]; i++)
        if (mm_errors[i].code == code)
            return mm_errors[i].name;
    return "MMARR_E_UNKNOWN";
}

const char *mmarr_version_string(void) { return MMARR_VERSION_STRING; }

static void mm_vset(mmarr_error *e, mmarr_err code, int sys_errno, uint64_t offset, const char *fmt,
                    va_list ap) MM_PRINTF(5, 0);

static void mm_vset(mmarr_error *e, mmarr_err code, int sys_errno, uint64_t offset, const char *fmt,
                    va_list ap)
{
    e->code = code;
    e->sys_errno = sys_errno;
    e->offset = offset;
    int n = vsnprintf(e->message, sizeof e->message, fmt, ap);
    if (n < 0)
        e->message[0] = '\0';
}

mmarr_err mm_set_error(mmarr_error *e, mmarr_err code, uint64_t offset, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        mm_vset(e, code, 0, offset, fmt, ap);
        va_end(ap);
    }
    return code;
}

mmarr_err mm_set_syserr(mmarr_error *e, mmarr_err code, int sys_errno, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        mm_vset(e, code, sys_errno, MMARR_NO_OFFSET, fmt, ap);
        va_end(ap);
        size_t len = strlen(e->message);
        char buf[128];
        const char *s = strerror_r(sys_errno, buf, sizeof buf);
        snprintf(e->message + len, sizeof e->message - len, ": %s", s);
    }
    return code;
}

mmarr_err mm_file_record(mmarr_file *f, const mmarr_error *e)
{
    pthread_mutex_lock(&f->err_lock);
    f->last_err = *e;
    pthread_mutex_unlock(&f->err_lock);
    return e->code;
}

/* Finish a public call: on failure copy the error to the caller and the handle. */
mmarr_err mm_file_done(mmarr_file *f, mmarr_err rc, const mmarr_error *e, mmarr_error *err)
{
    if (rc == MMARR_OK)
        return rc;
    if (err)
        *err = *e;
    return mm_file_record(f, e);
}

mmarr_err mmarr_file_last_error(mmarr_file *f, mmarr_error *out)
{
    pthread_mutex_lock(&f->err_lock);
    mmarr_error copy = f->last_err;
    pthread_mutex_unlock(&f->err_lock);
    if (out)
        *out = copy;
    return copy.code;
}
