/* SPDX-License-Identifier: MIT */
/*
 * writer_ragged.c — ragged items for the writer (spec.md §7.7): mmarr_writer_ragged() ties
 * two added arrays into one item after checking their dtypes, shapes and storage. The commit
 * (writer.c, ragged_check) reads every item's offsets back and checks them.
 */
#include "mm_writer.h"

/* The canonical dtype text of entry i is `text`. */
static bool w_dtype_is(const mmarr_writer *w, size_t i, const char *text)
{
    const mmarr_disk_dtype *d = &w->dtypes[w->ents[i].dtype_id];
    const size_t n = strlen(text);
    return d->str_size == n && memcmp(w->heap.p + d->str_offset, text, n) == 0;
}

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
