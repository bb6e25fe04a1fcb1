/* SPDX-License-Identifier: MIT */
/*
 * writer_growable.c — growable arrays on the writer's side (spec.md §7.8, issue #19): an
 * array added with a capacity of rows, its region reserved but left sparse (no disk or tmpfs
 * pages until written), and rows appended in place by a later writer (or this one).
 *
 * Appending costs the appended bytes plus one block: the rows are written with pwrite (a
 * full disk is ENOSPC, a clean MMARR_E_NOSPACE, never a SIGBUS as a store through a mapping
 * would be), then the blocks from the one that held the old end are hashed again: the new
 * bytes from the caller's buffer, the older part of that block read back; blocks before it
 * keep their checksums. The entry's checksum is the XXH3 of the
 * block checksums (§7.8), a hash of MiB-sized hashes, so it too costs nothing per byte.
 */
#include "mm_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#define MM_GROW_SHIFT 20u /* 1 MiB blocks: an append re-hashes at most 1 MiB it did not write */

mm_wgrow *mm_w_grow_of(mmarr_writer *w, size_t i)
{
    for (size_t k = 0; k < w->ngrow; k++)
        if (w->grow[k].entry == i)
            return &w->grow[k];
    return NULL;
}

void mm_w_grow_remove(mmarr_writer *w, size_t i)
{
    size_t kept = 0;
    for (size_t k = 0; k < w->ngrow; k++) {
        mm_wgrow g = w->grow[k];
        if (g.entry == i) {
            free(g.blocks);
            continue;
        }
        g.entry -= g.entry > i;
        w->grow[kept++] = g;
    }
    w->ngrow = kept;
}

/* Bytes per row of entry e (the product of its inner dimensions and the itemsize). */
static uint64_t row_bytes(const mmarr_writer *w, const mmarr_disk_entry *e, uint64_t itemsize)
{
    uint64_t row = itemsize;
    for (unsigned d = 1; d < e->ndim; d++)
        row *= w->dims[e->dims_first + d];
    return row;
}

/* XXH3 of the entry's bytes [beg, end), where [from, data_size) are also at `fresh` (just
 * written): those from memory, the older part of the block (if any) read back with pread. */
static mmarr_err hash_range(mmarr_writer *w, const mmarr_disk_entry *e, uint64_t beg, uint64_t end,
                            uint64_t from, const unsigned char *fresh, uint64_t *sum)
{
    if (fresh && beg >= from) {
        *sum = mm_xxh3(fresh + (beg - from), (size_t)(end - beg));
        return MMARR_OK;
    }
    if (!fresh || end <= from)
        return mm_xxh3_fd(&w->err, w->fd, w->tmp_path, e->data_offset + beg, end - beg, sum);
    unsigned char *old = malloc((size_t)(from - beg));
    XXH3_state_t *st = XXH3_createState();
    mmarr_err rc = MMARR_OK;
    if (!old || !st)
        rc = mm_w_nomem(w);
    else if ((rc = mm_pread_all(&w->err, w->fd, w->tmp_path, old, (size_t)(from - beg),
                                e->data_offset + beg)) == MMARR_OK) {
        XXH3_64bits_reset(st);
        XXH3_64bits_update(st, old, (size_t)(from - beg));
        XXH3_64bits_update(st, fresh, (size_t)(end - from));
        *sum = XXH3_64bits_digest(st);
    }
    XXH3_freeState(st);
    free(old);
    return rc;
}

/* Hash again the blocks of g from the one holding byte `from` to the entry's data_size; the
 * bytes from `from` on are at `fresh` when not NULL, else read back from the file. Set the
 * entry's checksum. */
static mmarr_err rehash_blocks(mmarr_writer *w, mm_wgrow *g, uint64_t from,
                               const unsigned char *fresh)
{
    mmarr_disk_entry *e = &w->ents[g->entry];
    const uint64_t bs = 1ull << g->shift;
    const uint64_t k0 = from / bs, count = e->data_size / bs + (e->data_size % bs != 0);
    if (count > UINT32_MAX)
        MM_FAIL(&w->err, MMARR_E_RANGE, MMARR_NO_OFFSET, "%s: too many blocks", w->path);
    if (count > g->blocks_cap) {
        size_t cap = g->blocks_cap;
        if (!mm_w_grow((void **)&g->blocks, &cap, (size_t)count, sizeof *g->blocks))
            return mm_w_nomem(w);
        g->blocks_cap = (uint32_t)(cap > UINT32_MAX ? UINT32_MAX : cap);
    }
    MM_TRY(mm_w_stage_flush(w));
    for (uint64_t k = k0; k < count; k++) {
        const uint64_t beg = k * bs, n = e->data_size - beg < bs ? e->data_size - beg : bs;
        if (hash_range(w, e, beg, beg + n, from, fresh, &g->blocks[k]) != MMARR_OK) {
            w->failed = true;
            return w->err.code;
        }
    }
    g->nblocks = (uint32_t)count;
    e->checksum = mm_growable_sum(g->blocks, g->nblocks);
    return MMARR_OK;
}

mmarr_err mmarr_writer_add_growable(mmarr_writer *w, const char *name, const char *dtype,
                                    unsigned ndim, const uint64_t *shape, uint64_t capacity,
                                    const void *data)
{
    MM_TRY(mm_w_check_usable(w));
    if (ndim == 0 || !shape)
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET,
                "%s: growable array \"%s\" needs at least one dimension (the one that grows)",
                w->path, name ? name : "(null)");
    if (capacity < shape[0])
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET,
                "%s: growable array \"%s\": capacity %llu rows is less than its %llu rows", w->path,
                name ? name : "(null)", (unsigned long long)capacity, (unsigned long long)shape[0]);
    if (!mm_w_grow((void **)&w->grow, &w->growcap, w->ngrow + 1, sizeof *w->grow))
        return mm_w_nomem(w);
    size_t i;
    uint64_t nbytes, itemsize;
    w->growing = true;
    mmarr_err rc = mm_w_new_entry(w, name, dtype, ndim, shape, MMARR_ORDER_C, false, &i, &nbytes,
                                  &itemsize);
    w->growing = false;
    MM_TRY(rc);
    mmarr_disk_entry *e = &w->ents[i];
    uint64_t cap_bytes, end;
    if (mm_mul_overflow(row_bytes(w, e, itemsize), capacity, &cap_bytes) ||
        mm_add_overflow(e->data_offset, cap_bytes, &end) ||
        end > (uint64_t)INT64_MAX - 2 * MMARR_MAX_ALIGNMENT) {
        w->failed = true; /* the entry is in: the writer cannot go on */
        MM_FAIL(&w->err, MMARR_E_RANGE, MMARR_NO_OFFSET,
                "%s: growable array \"%s\": capacity %llu rows overflows the file", w->path, name,
                (unsigned long long)capacity);
    }
    /* the region past the data stays a hole: only appended rows take space. What the writer
     * reserved ahead over it (mm_w_ensure_space grows in steps) is given back. */
    const uint64_t hole = mm_align_up(e->data_offset + nbytes, 4096);
    const uint64_t ahead = (w->reserved_end < end ? w->reserved_end : end) & ~(uint64_t)4095;
    if (ahead > hole)
        fallocate(w->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)hole,
                  (off_t)(ahead - hole));
    w->cursor = mm_align_up(end, w->opt.alignment);
    if (w->reserved_end < w->cursor)
        w->reserved_end = w->cursor;
    if (data && nbytes)
        MM_TRY(mm_w_put_bytes(w, e->data_offset, data, nbytes));
    else if (nbytes)
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: array \"%s\": data is NULL", w->path,
                name);
    w->grow[w->ngrow] = (mm_wgrow){
        .entry = i, .capacity = capacity, .shift = MM_GROW_SHIFT, .region = cap_bytes};
    return rehash_blocks(w, &w->grow[w->ngrow++], 0, data);
}

mmarr_err mmarr_writer_append_rows(mmarr_writer *w, const char *name, const void *data,
                                   uint64_t rows, uint64_t nbytes)
{
    MM_TRY(mm_w_check_usable(w));
    size_t i;
    MM_TRY(mm_w_find(w, name, &i));
    mm_wgrow *g = mm_w_grow_of(w, i);
    if (!g)
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET,
                "%s: array \"%s\" is not growable (add it with mmarr_writer_add_growable)", w->path,
                name);
    mmarr_disk_entry *e = &w->ents[i];
    const uint64_t nrows = w->dims[e->dims_first];
    /* the row size, from the region: capacity rows (0 rows: no row can be appended) */
    const uint64_t rb = g->capacity ? g->region / g->capacity : 0;
    uint64_t n;
    if (rows > g->capacity - nrows)
        MM_FAIL(&w->err, MMARR_E_RANGE, MMARR_NO_OFFSET,
                "%s: growable array \"%s\": %llu rows + %llu pass its capacity of %llu rows",
                w->path, name, (unsigned long long)nrows, (unsigned long long)rows,
                (unsigned long long)g->capacity);
    if (rows && !data)
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: array \"%s\": data is NULL", w->path,
                name);
    if (!mm_w_grow((void **)&w->dims, &w->dcap, w->ndims + e->ndim, sizeof *w->dims))
        return mm_w_nomem(w);
    if (mm_mul_overflow(rb, rows, &n))
        MM_FAIL(&w->err, MMARR_E_RANGE, MMARR_NO_OFFSET, "%s: array \"%s\": too many rows", w->path,
                name);
    if (n != nbytes)
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET,
                "%s: growable array \"%s\": %llu rows of %llu bytes are %llu bytes, not the "
                "%llu given (another row shape or dtype?)",
                w->path, name, (unsigned long long)rows, (unsigned long long)rb,
                (unsigned long long)n, (unsigned long long)nbytes);
    if (n) {
        const uint64_t off = e->data_offset + e->data_size;
        mmarr_error err;
        MM_TRY(mm_w_stage_flush(w));
        if (e->data_size + n > g->touched)
            g->touched = e->data_size + n;
        /* pwrite into the hole: a full disk is ENOSPC (MMARR_E_NOSPACE), never a SIGBUS */
        mmarr_err rc = mm_pwrite_all(&err, w->fd, w->tmp_path, data, (size_t)n, off);
        if (rc != MMARR_OK) { /* unpublished bytes in the hole: punched at the abandon */
            snprintf(err.message + strlen(err.message), sizeof err.message - strlen(err.message),
                     " (appending %llu rows to \"%s\")", (unsigned long long)rows, name);
            return mm_w_io_fail(w, rc, &err);
        }
    }
    /* a new dims run: the old one may be shared, and stays for the old generation */
    memcpy(w->dims + w->ndims, w->dims + e->dims_first, e->ndim * sizeof *w->dims);
    w->dims[w->ndims] = nrows + rows;
    e->dims_first = (uint32_t)w->ndims;
    w->ndims += e->ndim;
    const uint64_t from = e->data_size;
    e->data_size += n;
    return rehash_blocks(w, g, from, data);
}

mmarr_err mmarr_writer_array_info(mmarr_writer *w, const char *name, mmarr_array_info *out)
{
    if (!out)
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: mmarr_writer_array_info: out is NULL",
                w->path);
    size_t i;
    MM_TRY(mm_w_find(w, name, &i));
    const mmarr_disk_entry *e = &w->ents[i];
    const mm_wgrow *g = mm_w_grow_of(w, i);
    memset(out, 0, sizeof *out);
    out->index = i;
    out->name = w->heap.p + w->wnames[i].off;
    out->name_size = w->wnames[i].len;
    out->dtype_str = w->heap.p + w->dtypes[e->dtype_id].str_offset;
    out->ndim = e->ndim;
    out->shape = e->ndim ? w->dims + e->dims_first : NULL;
    out->order = (e->flags & MMARR_ENTRY_FORTRAN) ? MMARR_ORDER_F : MMARR_ORDER_C;
    out->storage = e->storage == MMARR_STORAGE_RAW ? MMARR_STORAGE_HOT : MMARR_STORAGE_COLD;
    out->nitems = 1;
    for (unsigned d = 0; d < e->ndim; d++)
        out->nitems *= w->dims[e->dims_first + d];
    out->nbytes = e->storage == MMARR_STORAGE_RAW ? e->data_size : 0;
    mmarr_dtype *dt;
    if (mmarr_dtype_parse(out->dtype_str, &dt, NULL) == MMARR_OK) { /* checked when added */
        out->itemsize = dt->itemsize;
        mmarr_dtype_free(dt);
    }
    out->offset = e->data_offset;
    out->capacity = g ? g->capacity : 0;
    return MMARR_OK;
}
