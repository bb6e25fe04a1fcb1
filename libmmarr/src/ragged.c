/* SPDX-License-Identifier: MIT */
/*
 * ragged.c — ragged items for readers (spec.md §7.7, format 1.1): the ragged section and its
 * records, validated with the index (§12 rule 8); the offsets, which are data, validated when
 * an item is first asked for; the public accessors. The writer's side is writer_ragged.c;
 * the check of offset values (mm_ragged_scan) is shared by both.
 */
#include "mm_internal.h"

#include <stdlib.h>

void mm_ragged_unload(mmarr_file *f)
{
    free(f->ragged_of);
    free((void *)f->ragged_ok);
    f->ragged = NULL;
    f->ragged_count = 0;
    f->ragged_of = NULL;
    f->ragged_ok = NULL;
}

/* The canonical dtype text of entry e is `text` (spec.md §8: compared byte for byte). */
static bool dtype_is(const mmarr_file *f, const mmarr_disk_entry *e, const char *text)
{
    const mmarr_disk_dtype *d = (const mmarr_disk_dtype *)(f->index + f->ih->dtypes_offset) +
                                e->dtype_id;
    const size_t n = strlen(text);
    return d->str_size == n && memcmp(f->heap + d->str_offset, text, n) == 0;
}

/* One record's two entries (spec.md §7.7); NULL if they fit, else what is wrong. */
static const char *record_problem(const mmarr_file *f, const mmarr_disk_ragged *r)
{
    const mmarr_disk_entry *v = &f->entries[r->values], *o = &f->entries[r->offsets];
    if (!dtype_is(f, o, "<u8") || o->ndim != 1 || f->dims[o->dims_first] == 0 ||
        o->storage != MMARR_STORAGE_RAW)
        return "its offsets are not a hot 1-d \"<u8\" array of at least one element";
    if (v->ndim == 0 || (v->ndim > 1 && (v->flags & MMARR_ENTRY_FORTRAN)))
        return "its values have no dimension, or several in Fortran order";
    if (r->kind != MMARR_RAGGED_KIND_ARRAYS && (!dtype_is(f, v, "|u1") || v->ndim != 1))
        return "its values are not 1-d \"|u1\", as strings need";
    return NULL;
}

mmarr_err mm_ragged_load(mmarr_file *f, mmarr_error *err)
{
    mm_ragged_unload(f);
    const mmarr_disk_index_header *h = f->ih;
    const uint64_t io = f->slot.index_offset;
    const uint64_t at_header = io + offsetof(mmarr_disk_index_header, ragged_offset);
    /* without the bit, bytes 160..175 are reserved as in 1.0, and ignored (spec.md §2) */
    if (!(f->slot.optional_features & MMARR_FEAT_OPT_RAGGED) || h->ragged_count == 0)
        return MMARR_OK;
    /* a section of §7.1, after the heap (validated: heap_offset + heap_size <= index_size) */
    const uint64_t heap_end = h->heap_offset + h->heap_size;
    const uint64_t n = h->ragged_count, off = h->ragged_offset;
    if (n > UINT32_MAX || off % MMARR_SECTION_ALIGNMENT || off < heap_end ||
        off > f->slot.index_size || (f->slot.index_size - off) / sizeof(mmarr_disk_ragged) < n)
        MM_FAIL(err, MMARR_E_CORRUPT, at_header,
                "%s: ragged section [%llu, +%llu x %zu) is misaligned, before the heap "
                "or outside the index (%llu bytes)",
                f->path, (unsigned long long)off, (unsigned long long)n, sizeof(mmarr_disk_ragged),
                (unsigned long long)f->slot.index_size);
    f->ragged = (const mmarr_disk_ragged *)(f->index + off);
    f->ragged_of = calloc((size_t)f->entry_count + 1, sizeof *f->ragged_of); /* +1: never 0 */
    f->ragged_ok = calloc((size_t)n, sizeof *f->ragged_ok);
    if (!f->ragged_of || !f->ragged_ok) {
        mm_ragged_unload(f);
        MM_FAIL(err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", f->path);
    }
    for (uint64_t k = 0; k < n; k++) {
        const mmarr_disk_ragged *r = &f->ragged[k];
        const uint64_t at = io + off + k * sizeof *r;
        const char *why = NULL;
        if (r->kind > MMARR_RAGGED_KIND_MAX)
            why = "its kind is unknown";
        else if (r->values >= f->entry_count || r->offsets >= f->entry_count)
            why = "it names an entry past the entries";
        else if (k && r->values <= f->ragged[k - 1].values)
            why = "the records are not in increasing order of values";
        else if (r->values == r->offsets || f->ragged_of[r->values] || f->ragged_of[r->offsets])
            why = "an entry is part of two ragged items";
        else
            why = record_problem(f, r);
        if (why) {
            mm_ragged_unload(f);
            MM_FAIL(err, MMARR_E_CORRUPT, at,
                    "%s: ragged record %llu at offset %llu (values entry %u, offsets entry %u, "
                    "kind %u): %s",
                    f->path, (unsigned long long)k, (unsigned long long)at, r->values, r->offsets,
                    r->kind, why);
        }
        f->ragged_of[r->values] = f->ragged_of[r->offsets] = (uint32_t)k + 1;
    }
    f->ragged_count = n;
    return MMARR_OK;
}

size_t mm_ragged_scan(const uint64_t *o, size_t n, uint64_t *prev, uint64_t rows, bool first)
{
    if (n == 0)
        return 0;
    if (first && o[0] != 0)
        return 0;
    /* branch-free over blocks (the common case: all fine), then find the element */
    uint64_t p = *prev;
    size_t i = 0;
    while (i < n) {
        const size_t end = n - i > 4096 ? i + 4096 : n;
        bool bad = false;
        uint64_t q = p;
        for (size_t k = i; k < end; k++) {
            bad |= (o[k] < q) | (o[k] > rows);
            q = o[k];
        }
        if (bad) {
            for (size_t k = i; k < end; k++) {
                if (o[k] < p || o[k] > rows)
                    return k;
                p = o[k];
            }
        }
        p = q;
        i = end;
    }
    *prev = p;
    return n;
}

size_t mmarr_file_ragged_count(const mmarr_file *f) { return f ? (size_t)f->ragged_count : 0; }

int mmarr_file_ragged_at(const mmarr_file *f, size_t k, mmarr_ragged_info *out)
{
    if (!f || k >= f->ragged_count)
        return 0;
    const mmarr_disk_ragged *r = &f->ragged[k];
    if (out)
        *out = (mmarr_ragged_info){r->values, r->offsets,
                                   f->dims[f->entries[r->offsets].dims_first] - 1,
                                   (mmarr_ragged_kind)r->kind};
    return 1;
}

int mmarr_file_ragged(const mmarr_file *f, size_t index, mmarr_ragged_info *out)
{
    if (!f || !f->ragged_of || index >= f->entry_count || !f->ragged_of[index])
        return 0;
    return mmarr_file_ragged_at(f, f->ragged_of[index] - 1, out);
}

/* The record index of the item whose values are entry `index`, or MMARR_E_INVAL. */
static mmarr_err values_record(const mmarr_file *f, size_t index, uint64_t *k, const char *fn,
                               mmarr_error *e)
{
    if (!f->ragged_of || index >= f->entry_count || !f->ragged_of[index] ||
        f->ragged[f->ragged_of[index] - 1].values != index)
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                "%s: %s: array %zu is not the values of a ragged item", f->path, fn, index);
    *k = f->ragged_of[index] - 1;
    return MMARR_OK;
}

static const uint64_t *offsets_of(const mmarr_file *f, const mmarr_disk_ragged *r)
{
    return (const uint64_t *)(f->base + f->entries[r->offsets].data_offset);
}

/* One read of an offset that is then both checked and used: the memory of a read-write
 * (another process) or copy-on-write (another thread) handle may change in between. */
static uint64_t offset_once(const uint64_t *p) { return *(const volatile uint64_t *)p; }

/* spec.md §7.7: all offsets of record k (0 first, never decreasing, the values' rows last). */
static mmarr_err scan_offsets(const mmarr_file *f, uint64_t k, mmarr_error *e)
{
    const mmarr_disk_ragged *r = &f->ragged[k];
    const mmarr_disk_entry *o = &f->entries[r->offsets], *v = &f->entries[r->values];
    const uint64_t *p = offsets_of(f, r);
    const uint64_t rows = f->dims[v->dims_first], n = f->dims[o->dims_first];
    uint64_t prev = 0;
    const size_t bad = mm_ragged_scan(p, (size_t)n, &prev, rows, true);
    if (bad < n || prev != rows) {
        const size_t el = bad < n ? bad : (size_t)n - 1;
        MM_FAIL(e, MMARR_E_CORRUPT, o->data_offset + 8 * (uint64_t)el,
                "%s: ragged item \"%s\": offsets element %zu (file offset %llu) is %llu; "
                "offsets must start at 0, never decrease and end at the values' %llu rows",
                f->path, mm_entry_name(f, v), el,
                (unsigned long long)(o->data_offset + 8 * (uint64_t)el), (unsigned long long)p[el],
                (unsigned long long)rows);
    }
    return MMARR_OK;
}

/* UTF-8 text, NUL allowed (spec.md §7.7). */
static bool utf8_text_ok(const unsigned char *s, uint64_t n)
{
    for (uint64_t i = 0; i < n;) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        const size_t l = mm_utf8_decode(s + i, (size_t)(n - i), NULL);
        if (!l)
            return false;
        i += l;
    }
    return true;
}

mmarr_err mm_ragged_verify(const mmarr_file *f, size_t index, mmarr_error *e)
{
    uint64_t k = 0;
    if (values_record(f, index, &k, "verify", e) != MMARR_OK)
        return MMARR_OK; /* a plain array, or offsets: nothing more to check */
    MM_TRY(scan_offsets(f, k, e));
    const mmarr_disk_ragged *r = &f->ragged[k];
    const mmarr_disk_entry *v = &f->entries[r->values];
    if (r->kind != MMARR_RAGGED_KIND_UTF8 || v->storage != MMARR_STORAGE_RAW)
        return MMARR_OK; /* cold text is checked as it is decoded */
    const mmarr_disk_entry *o = &f->entries[r->offsets];
    const uint64_t *p = offsets_of(f, r);
    const uint64_t count = f->dims[o->dims_first] - 1, rows = f->dims[v->dims_first];
    for (uint64_t i = 0; i < count; i++) {
        const uint64_t a = offset_once(p + i), b = offset_once(p + i + 1);
        if (a > b || b > rows) /* changed since scan_offsets() */
            MM_FAIL(e, MMARR_E_CORRUPT, o->data_offset + 8 * i,
                    "%s: ragged item \"%s\": item %llu spans rows [%llu, %llu) of the "
                    "values' %llu (offsets at file offset %llu)",
                    f->path, mm_entry_name(f, v), (unsigned long long)i, (unsigned long long)a,
                    (unsigned long long)b, (unsigned long long)rows,
                    (unsigned long long)(o->data_offset + 8 * i));
        if (!utf8_text_ok(f->base + v->data_offset + a, b - a))
            MM_FAIL(e, MMARR_E_CORRUPT, v->data_offset + a,
                    "%s: ragged item \"%s\": item %llu (file offset %llu) is not valid UTF-8",
                    f->path, mm_entry_name(f, v), (unsigned long long)i,
                    (unsigned long long)(v->data_offset + a));
    }
    return MMARR_OK;
}

mmarr_err mmarr_file_ragged_offsets(mmarr_file *f, size_t index, const uint64_t **offsets,
                                    mmarr_error *err)
{
    mmarr_error e;
    uint64_t k = 0;
    mmarr_err rc = MMARR_E_INVAL;
    if (!offsets)
        mm_set_error(&e, rc, MMARR_NO_OFFSET, "%s: mmarr_file_ragged_offsets: offsets is NULL",
                     f->path);
    else
        rc = values_record(f, index, &k, "mmarr_file_ragged_offsets", &e);
    /* a read-only mapping cannot change: one check per handle is enough */
    const bool may_change = f->writable || f->cow;
    if (rc == MMARR_OK &&
        (may_change || !atomic_load_explicit(&f->ragged_ok[k], memory_order_acquire))) {
        rc = scan_offsets(f, k, &e);
        if (rc == MMARR_OK && !may_change)
            atomic_store_explicit(&f->ragged_ok[k], 1, memory_order_release);
    }
    if (offsets)
        *offsets = rc == MMARR_OK ? offsets_of(f, &f->ragged[k]) : NULL;
    return mm_file_done(f, rc, &e, err);
}

mmarr_err mmarr_file_ragged_item(mmarr_file *f, size_t index, uint64_t i, uint64_t *start,
                                 uint64_t *stop, mmarr_error *err)
{
    mmarr_error e;
    uint64_t k = 0;
    mmarr_err rc = values_record(f, index, &k, "mmarr_file_ragged_item", &e);
    if (rc == MMARR_OK) {
        const mmarr_disk_ragged *r = &f->ragged[k];
        const mmarr_disk_entry *o = &f->entries[r->offsets], *v = &f->entries[r->values];
        const uint64_t count = f->dims[o->dims_first] - 1, rows = f->dims[v->dims_first];
        const uint64_t *p = offsets_of(f, r);
        uint64_t a = 0, b = 0;
        if (!start || !stop)
            rc = mm_set_error(&e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                              "%s: mmarr_file_ragged_item: start or stop is NULL", f->path);
        else if (i >= count)
            rc = mm_set_error(
                &e, MMARR_E_RANGE, MMARR_NO_OFFSET, "%s: ragged item \"%s\": item %llu of %llu",
                f->path, mm_entry_name(f, v), (unsigned long long)i, (unsigned long long)count);
        else if ((a = offset_once(p + i)) > (b = offset_once(p + i + 1)) || b > rows)
            rc = mm_set_error(&e, MMARR_E_CORRUPT, o->data_offset + 8 * i,
                              "%s: ragged item \"%s\": item %llu spans rows [%llu, %llu) of the "
                              "values' %llu (offsets at file offset %llu)",
                              f->path, mm_entry_name(f, v), (unsigned long long)i,
                              (unsigned long long)a, (unsigned long long)b,
                              (unsigned long long)rows,
                              (unsigned long long)(o->data_offset + 8 * i));
        else
            *start = a, *stop = b;
    }
    return mm_file_done(f, rc, &e, err);
}
