/* SPDX-License-Identifier: MIT */
/*
 * writer_ragged.c — ragged items for the writer (spec.md §7.7): mmarr_writer_ragged() ties
 * two added arrays into one item after checking their dtypes, shapes and storage; at commit
 * mm_w_ragged_check() reads every item's offsets back from the temporary (pread: they may
 * have come through reserve() or a stream) and checks them as readers will.
 */
#include "mm_writer.h"

#include <stdlib.h>

/* The canonical dtype text of entry i is `text`. */
static bool w_dtype_is(const mmarr_writer *w, size_t i, const char *text)
{
    const mmarr_disk_dtype *d = &w->dtypes[w->ents[i].dtype_id];
    const size_t n = strlen(text);
    return d->str_size == n && memcmp(w->heap.p + d->str_offset, text, n) == 0;
}

static const char *w_name(const mmarr_writer *w, size_t i) { return w->heap.p + w->wnames[i].off; }

mmarr_err mmarr_writer_ragged(mmarr_writer *w, const char *values, const char *offsets,
                              mmarr_ragged_kind kind)
{
    MM_TRY(mm_w_check_usable(w));
    size_t v, o;
    MM_TRY(mm_w_find(w, values, &v));
    MM_TRY(mm_w_find(w, offsets, &o));
    const mmarr_disk_entry *ve = &w->ents[v], *oe = &w->ents[o];
    const char *why = NULL;
    if ((unsigned)kind > MMARR_RAGGED_KIND_MAX)
        why = "the kind is not one of MMARR_RAGGED_ARRAYS, _UTF8, _BYTES";
    else if (v == o)
        why = "values and offsets are the same array";
    else if (!w_dtype_is(w, o, "<u8") || oe->ndim != 1 || w->dims[oe->dims_first] == 0 ||
             oe->storage != MMARR_STORAGE_RAW)
        why = "the offsets must be a hot 1-d \"<u8\" array of count + 1 >= 1 elements";
    else if (ve->ndim == 0 || (ve->ndim > 1 && (ve->flags & MMARR_ENTRY_FORTRAN)))
        why = "the values need at least one dimension, and C order when they have several";
    else if (kind != MMARR_RAGGED_ARRAYS && (!w_dtype_is(w, v, "|u1") || ve->ndim != 1))
        why = "string items need 1-d \"|u1\" values";
    for (size_t k = 0; !why && k < w->nrag; k++) {
        const uint32_t a = w->rag[k].values, b = w->rag[k].offsets;
        if (a == v || b == v || a == o || b == o)
            why = "an array can be part of one ragged item only";
    }
    if (why)
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET,
                "%s: ragged item \"%s\" with offsets \"%s\": %s", w->path, values, offsets, why);
    if (!mm_w_grow((void **)&w->rag, &w->ragcap, w->nrag + 1, sizeof *w->rag))
        return mm_w_nomem(w);
    w->rag[w->nrag++] = (mmarr_disk_ragged){(uint32_t)v, (uint32_t)o, (uint8_t)kind, {0}};
    return MMARR_OK;
}

mmarr_err mm_w_ragged_check(mmarr_writer *w)
{
    enum { BATCH = 8192 };
    uint64_t *buf = NULL;
    if (w->nrag && !(buf = malloc(BATCH * sizeof *buf)))
        return mm_w_nomem(w);
    mmarr_err rc = MMARR_OK;
    for (size_t k = 0; k < w->nrag && rc == MMARR_OK; k++) {
        const mmarr_disk_entry *oe = &w->ents[w->rag[k].offsets];
        const uint64_t n = w->dims[oe->dims_first];
        const uint64_t rows = w->dims[w->ents[w->rag[k].values].dims_first];
        uint64_t prev = 0;
        for (uint64_t at = 0; at < n && rc == MMARR_OK; at += BATCH) {
            const size_t m = (size_t)(n - at < BATCH ? n - at : BATCH);
            mmarr_error e;
            rc = mm_pread_all(&e, w->fd, w->tmp_path, buf, m * 8, oe->data_offset + at * 8);
            if (rc != MMARR_OK) {
                mm_w_io_fail(w, rc, &e);
                break;
            }
            const size_t bad = mm_ragged_scan(buf, m, &prev, rows, at == 0);
            const bool last = at + m == n;
            if (bad < m || (last && prev != rows)) {
                const size_t el = bad < m ? bad : m - 1;
                w->failed = true;
                rc = mm_set_error(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET,
                                  "%s: ragged item \"%s\": offsets \"%s\" element %llu is %llu; "
                                  "offsets must start at 0, never decrease and end at the "
                                  "values' %llu rows",
                                  w->path, w_name(w, w->rag[k].values),
                                  w_name(w, w->rag[k].offsets), (unsigned long long)(at + el),
                                  (unsigned long long)buf[el], (unsigned long long)rows);
            }
        }
    }
    free(buf);
    return rc;
}
