/* SPDX-License-Identifier: MIT */
/*
 * reader.c — the read calls on an open handle: find arrays and describe them (strides,
 * dtype, storage), metadata, verification of checksums (spec.md §11), and reads of byte
 * ranges and chunks (hot: pread from the descriptor, memcpy for buffers; cold: cold_read.c).
 *
 * Reader calls never modify the handle after open (except the error copy, under a lock), so
 * any number of threads may share it. The handle's life cycle is in file.c, the memory calls
 * in memory.c, mmarr_file_flush() in update.c.
 */
#include "mm_internal.h"

#include <stdlib.h>

size_t mmarr_file_count(const mmarr_file *f) { return (size_t)f->entry_count; }

static bool find_index(const mmarr_file *f, const char *name, size_t *index)
{
    const size_t len = strlen(name);
    size_t lo = 0, hi = (size_t)f->entry_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const mmarr_disk_name *r = &f->names[mid];
        int c = mm_name_cmp(f->heap + r->name_offset, r->name_size, name, len);
        if (c == 0) {
            *index = f->order[mid];
            return true;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

mmarr_err mmarr_file_find(mmarr_file *f, const char *name, size_t *index, mmarr_error *err)
{
    mmarr_error e;
    if (!name || !index)
        return mm_file_done(f,
                            mm_set_error(&e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                                         "%s: mmarr_file_find: NULL argument", f->path),
                            &e, err);
    if (find_index(f, name, index))
        return MMARR_OK;
    return mm_file_done(f,
                        mm_set_error(&e, MMARR_E_NOTFOUND, MMARR_NO_OFFSET,
                                     "%s: no array named \"%s\"", f->path, name),
                        &e, err);
}

void mm_entry_meta(const mmarr_file *f, size_t index, uint32_t *first, uint32_t *count)
{
    size_t lo = 0, hi = (size_t)f->ameta_count;
    *first = *count = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->ameta[mid].entry == index) {
            *first = f->ameta[mid].meta_first;
            *count = f->ameta[mid].meta_count;
            return;
        }
        if (f->ameta[mid].entry < index)
            lo = mid + 1;
        else
            hi = mid;
    }
}

static void fill_info(const mmarr_file *f, size_t index, mmarr_array_info *a)
{
    const mmarr_disk_entry *e = &f->entries[index];
    const mmarr_dtype *dt = f->dtypes[e->dtype_id];
    a->index = index;
    a->name = mm_entry_name(f, e);
    a->name_size = f->names[e->name_rank].name_size;
    a->dtype = dt;
    a->dtype_str = dt->str;
    a->itemsize = dt->itemsize;
    a->ndim = e->ndim;
    a->shape = e->ndim ? f->dims + e->dims_first : f->dims; /* never dereferenced when 0-d */
    a->order = (e->flags & MMARR_ENTRY_FORTRAN) ? MMARR_ORDER_F : MMARR_ORDER_C;
    a->storage = e->storage == MMARR_STORAGE_RAW ? MMARR_STORAGE_HOT : MMARR_STORAGE_COLD;
    a->nitems = mm_entry_nitems(f, e);
    a->nbytes = a->nitems * dt->itemsize;
    a->stored_bytes = e->data_size;
    a->offset = e->data_offset;
    a->checksum = e->checksum;
    a->packed = (e->flags & MMARR_ENTRY_PACKED) != 0;
    uint32_t mfirst, mcount;
    mm_entry_meta(f, index, &mfirst, &mcount);
    a->meta_count = mcount;
    a->data = e->storage == MMARR_STORAGE_RAW ? (void *)(f->base + e->data_offset) : NULL;
    a->chunk_size = 0;
    a->chunk_count = 0;
    a->level = 0;
    a->shuffle = 0;
    if (e->storage != MMARR_STORAGE_RAW)
        mm_cold_fill_info(f, e, a);
    const mmarr_disk_growable *g = mm_growable_of(f, index);
    a->capacity = g ? g->capacity : 0;
    /* numpy's rule: a zero-length dimension does not scale the strides */
    int64_t s = (int64_t)dt->itemsize;
    for (unsigned k = 0; k < e->ndim; k++) {
        unsigned d = a->order == MMARR_ORDER_C ? e->ndim - 1 - k : k;
        a->strides[d] = s;
        if (a->shape[d])
            s *= (int64_t)a->shape[d];
    }
}

mmarr_err mmarr_file_array(mmarr_file *f, size_t index, mmarr_array_info *out, mmarr_error *err)
{
    mmarr_error e;
    if (!out || index >= f->entry_count)
        return mm_file_done(f,
                            mm_set_error(&e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                                         "%s: array index %zu out of range (%llu arrays)", f->path,
                                         index, (unsigned long long)f->entry_count),
                            &e, err);
    fill_info(f, index, out);
    return MMARR_OK;
}

mmarr_err mmarr_file_find_array(mmarr_file *f, const char *name, mmarr_array_info *out,
                                mmarr_error *err)
{
    size_t i;
    MM_TRY(mmarr_file_find(f, name, &i, err));
    return mmarr_file_array(f, i, out, err);
}

/* ---- metadata ---- */

static const char *group_get(const mmarr_file *f, uint32_t first, uint32_t count, const char *key)
{
    const size_t len = strlen(key);
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const mmarr_disk_meta *m = &f->meta[first + mid];
        int c = mm_name_cmp(f->heap + m->key_offset, m->key_size, key, len);
        if (c == 0)
            return f->heap + m->value_offset;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static mmarr_err group_at(mmarr_file *f, uint32_t first, uint32_t count, size_t i, const char **key,
                          const char **value, const char *owner, mmarr_error *err)
{
    mmarr_error e;
    if (i >= count)
        return mm_file_done(f,
                            mm_set_error(&e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                                         "%s: %s: metadata index %zu out of range (%u entries)",
                                         f->path, owner, i, count),
                            &e, err);
    const mmarr_disk_meta *m = &f->meta[first + i];
    if (key)
        *key = f->heap + m->key_offset;
    if (value)
        *value = f->heap + m->value_offset;
    return MMARR_OK;
}

mmarr_err mmarr_file_meta(mmarr_file *f, size_t i, const char **key, const char **value,
                          mmarr_error *err)
{
    return group_at(f, f->ih->file_meta_first, f->ih->file_meta_count, i, key, value, "file", err);
}

const char *mmarr_file_meta_get(const mmarr_file *f, const char *key)
{
    if (!key)
        return NULL;
    return group_get(f, f->ih->file_meta_first, f->ih->file_meta_count, key);
}

mmarr_err mmarr_array_meta(mmarr_file *f, size_t index, size_t i, const char **key,
                           const char **value, mmarr_error *err)
{
    mmarr_error e;
    if (index >= f->entry_count)
        return mm_file_done(f,
                            mm_set_error(&e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                                         "%s: array index %zu out of range", f->path, index),
                            &e, err);
    const mmarr_disk_entry *en = &f->entries[index];
    uint32_t mfirst, mcount;
    mm_entry_meta(f, index, &mfirst, &mcount);
    return group_at(f, mfirst, mcount, i, key, value, mm_entry_name(f, en), err);
}

const char *mmarr_array_meta_get(const mmarr_file *f, size_t index, const char *key)
{
    if (!key || index >= f->entry_count)
        return NULL;
    uint32_t mfirst, mcount;
    mm_entry_meta(f, index, &mfirst, &mcount);
    return group_get(f, mfirst, mcount, key);
}

/* ---- verification ---- */

static mmarr_err verify_array(mmarr_file *f, size_t index, mmarr_error *e)
{
    const mmarr_disk_entry *en = &f->entries[index];
    const char *name = mm_entry_name(f, en);
    if (en->storage != MMARR_STORAGE_RAW) {
        mmarr_err rc = mm_cold_verify(f, index, e);
        if (rc == MMARR_E_CHECKSUM && (f->slot.state_flags & MMARR_STATE_CHECKSUMS_STALE))
            e->code = rc = MMARR_E_STALE; /* cold data cannot change in place, but be exact */
        return rc == MMARR_OK ? mm_ragged_verify(f, index, e) : rc;
    }
    if (mm_growable_of(f, index)) /* checksummed by blocks (spec.md §7.8) */
        return mm_growable_verify(f, index, e);
    uint64_t sum;
    MM_TRY(mm_file_hash(f, en->data_offset, en->data_size, &sum, e));
    if (sum == en->checksum)
        return mm_ragged_verify(f, index, e); /* the values of a ragged item: their offsets */
    if (f->slot.state_flags & MMARR_STATE_CHECKSUMS_STALE)
        MM_FAIL(e, MMARR_E_STALE, en->data_offset,
                "%s: array \"%s\" at offset %llu differs from its checksum, and "
                "the file was opened for writing since checksums were computed: "
                "rehash (mmarr_file_flush with MMARR_FLUSH_REHASH) to verify",
                f->path, name, (unsigned long long)en->data_offset);
    MM_FAIL(e, MMARR_E_CHECKSUM, en->data_offset,
            "%s: array \"%s\": checksum mismatch for [%llu, +%llu) (stored "
            "%016llx, computed %016llx)",
            f->path, name, (unsigned long long)en->data_offset, (unsigned long long)en->data_size,
            (unsigned long long)en->checksum, (unsigned long long)sum);
}

mmarr_err mmarr_file_verify_array(mmarr_file *f, size_t index, mmarr_error *err)
{
    mmarr_error e;
    if (index >= f->entry_count)
        return mm_file_done(f,
                            mm_set_error(&e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                                         "%s: array index %zu out of range", f->path, index),
                            &e, err);
    return mm_file_done(f, verify_array(f, index, &e), &e, err);
}

/* spec.md §9.1: padding inside each padded range is zero. */
static mmarr_err verify_padding(const mmarr_file *f, size_t index, mmarr_error *e)
{
    if (mm_growable_of(f, index)) /* its reserved region holds later generations' rows */
        return MMARR_OK;
    const mmarr_disk_entry *en = &f->entries[index];
    const uint64_t a = (en->flags & MMARR_ENTRY_PACKED) ? MMARR_PACKED_ALIGNMENT : f->alignment;
    const uint64_t end = en->data_offset + en->data_size, pend = mm_align_up(end, a);
    const uint64_t o = end + mm_first_nonzero(f->base + end, (size_t)(pend - end));
    if (o < pend)
        MM_FAIL(e, MMARR_E_CHECKSUM, o, "%s: array \"%s\": non-zero padding byte at offset %llu",
                f->path, mm_entry_name(f, en), (unsigned long long)o);
    return MMARR_OK;
}

mmarr_err mmarr_file_verify(mmarr_file *f, mmarr_error *err)
{
    mmarr_error e;
    mmarr_err rc = MMARR_OK;
    if (f->other_slot_damaged) {
        const uint64_t off = f->active_slot ? MMARR_SLOT_A_OFFSET : MMARR_SLOT_B_OFFSET;
        rc = mm_set_error(&e, MMARR_E_CHECKSUM, off,
                          "%s: superblock slot %c at offset %llu is damaged (the active slot "
                          "%c is intact)",
                          f->path, f->active_slot ? 'A' : 'B', (unsigned long long)off,
                          f->active_slot ? 'B' : 'A');
        return mm_file_done(f, rc, &e, err);
    }
    if (f->damaged_generation) {
        rc = mm_set_error(&e, f->damaged_why.code, f->damaged_why.offset,
                          "generation %llu is damaged, so generation %llu was opened: %s",
                          (unsigned long long)f->damaged_generation,
                          (unsigned long long)f->slot.generation, f->damaged_why.message);
        return mm_file_done(f, rc, &e, err);
    }
    for (size_t i = 0; i < f->entry_count && rc == MMARR_OK; i++) {
        rc = verify_padding(f, i, &e);
        if (rc == MMARR_OK)
            rc = verify_array(f, i, &e);
    }
    return mm_file_done(f, rc, &e, err);
}

/* ---- ranges and cold arrays ---- */

static mmarr_err check_index(mmarr_file *f, size_t index, const char *fn, mmarr_error *e)
{
    if (index >= f->entry_count)
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: %s: array index %zu out of range", f->path,
                fn, index);
    return MMARR_OK;
}

mmarr_err mm_check_range(mmarr_file *f, size_t index, uint64_t offset, uint64_t n, const void *buf,
                         const char *fn, mmarr_error *e)
{
    MM_TRY(check_index(f, index, fn, e));
    const mmarr_disk_entry *en = &f->entries[index];
    const uint64_t nbytes = f->dtypes[en->dtype_id]->itemsize * mm_entry_nitems(f, en);
    if (n && !buf)
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: %s: buffer is NULL", f->path, fn);
    if (offset > nbytes || n > nbytes - offset || n > SIZE_MAX)
        MM_FAIL(e, MMARR_E_RANGE, MMARR_NO_OFFSET,
                "%s: array \"%s\": bytes [%llu, +%llu) lie outside its %llu bytes", f->path,
                mm_entry_name(f, en), (unsigned long long)offset, (unsigned long long)n,
                (unsigned long long)nbytes);
    return MMARR_OK;
}

mmarr_err mmarr_file_read(mmarr_file *f, size_t index, uint64_t offset, void *dst, uint64_t n,
                          mmarr_error *err)
{
    mmarr_error e;
    mmarr_err rc = mm_check_range(f, index, offset, n, dst, "mmarr_file_read", &e);
    if (rc != MMARR_OK)
        return mm_file_done(f, rc, &e, err);
    const mmarr_disk_entry *en = &f->entries[index];
    if (en->storage == MMARR_STORAGE_RAW) {
        /* the kernel's copy: no page fault per page (checksum.c); a copy-on-write handle's
         * own memory, changes included */
        if (n && f->fd >= 0 && !f->cow)
            rc = mm_pread_all(&e, f->fd, f->path, dst, (size_t)n, en->data_offset + offset);
        else if (n)
            memcpy(dst, f->base + en->data_offset + offset, (size_t)n);
    } else {
        rc = mm_cold_read(f, index, offset, dst, n, f->threads, f->chunk_verify, &e);
    }
    return mm_file_done(f, rc, &e, err);
}

static mmarr_err check_chunk(mmarr_file *f, size_t index, size_t k, const char *fn, mmarr_error *e)
{
    MM_TRY(check_index(f, index, fn, e));
    mmarr_array_info a;
    fill_info(f, index, &a);
    if (a.storage != MMARR_STORAGE_COLD)
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: %s: array \"%s\" is not cold", f->path, fn,
                a.name);
    if (k >= a.chunk_count)
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: %s: array \"%s\" has %zu chunks, not %zu",
                f->path, fn, a.name, a.chunk_count, k + 1);
    return MMARR_OK;
}

mmarr_err mmarr_file_chunk(mmarr_file *f, size_t index, size_t k, mmarr_chunk_info *out,
                           mmarr_error *err)
{
    mmarr_error e;
    mmarr_err rc = out ? check_chunk(f, index, k, "mmarr_file_chunk", &e)
                       : mm_set_error(&e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                                      "%s: mmarr_file_chunk: out is NULL", f->path);
    if (rc == MMARR_OK)
        rc = mm_cold_chunk_info(f, index, k, out);
    return mm_file_done(f, rc, &e, err);
}

mmarr_err mmarr_file_read_chunk(mmarr_file *f, size_t index, size_t k, void *dst, mmarr_error *err)
{
    mmarr_error e;
    mmarr_err rc = dst ? check_chunk(f, index, k, "mmarr_file_read_chunk", &e)
                       : mm_set_error(&e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                                      "%s: mmarr_file_read_chunk: dst is NULL", f->path);
    if (rc == MMARR_OK)
        rc = mm_cold_read_chunk(f, index, k, dst, f->chunk_verify, &e);
    return mm_file_done(f, rc, &e, err);
}
