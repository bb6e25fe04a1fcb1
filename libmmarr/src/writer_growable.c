/* SPDX-License-Identifier: MIT */
/*
 * writer_growable.c — growable arrays on the writer's side (spec.md §7.8, issue #19): an
 * array added with a capacity of rows, and rows appended in place by a later writer (or this
 * one), hot or cold.
 *
 * Hot: the region of capacity rows is reserved but left sparse (no disk or tmpfs pages until
 * written). Appending costs the appended bytes plus one block: the rows are written with
 * pwrite (a full disk is ENOSPC, a clean MMARR_E_NOSPACE, never a SIGBUS as a store through
 * a mapping would be), then the blocks from the one that held the old end are hashed again:
 * the new bytes from the caller's buffer, the older part of that block read back; blocks
 * before it keep their checksums. The entry's checksum is the XXH3 of the block checksums
 * (§7.8), a hash of MiB-sized hashes, so it too costs nothing per byte.
 *
 * Cold: nothing is reserved. An append compresses the raw bytes of the last chunk, when it
 * was not full (decoded from the file once, then kept), followed by the new rows into frames
 * written at the cursor, past everything any generation refers to; the old last frame stays
 * for the generations that list it. The frames extend the array's last extent when nothing
 * lies between, or start an extra one (kept as offset/size pairs in place of block
 * checksums). The entry's checksum is the XXH3 of the chunk checksums.
 */
#include "mm_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <zstd.h>

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
            free(g.tail);
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

/* The itemsize of entry e's dtype (checked when the array was added). */
static uint64_t itemsize_of(const mmarr_writer *w, const mmarr_disk_entry *e)
{
    mmarr_dtype *dt;
    if (mmarr_dtype_parse(w->heap.p + w->dtypes[e->dtype_id].str_offset, &dt, NULL) != MMARR_OK)
        return 0;
    const uint64_t n = dt->itemsize;
    mmarr_dtype_free(dt);
    return n;
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

/* The checks both kinds of growable array share before their entry is made, and room for
 * its record. */
static mmarr_err check_new_growable(mmarr_writer *w, const char *name, unsigned ndim,
                                    const uint64_t *shape, uint64_t capacity)
{
    MM_TRY(mm_w_check_usable(w));
    if (ndim == 0 || !shape)
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET,
                "%s: growable array \"%s\" needs at least one dimension (the one that grows)",
                w->path, name ? name : "(null)");
    if (capacity < shape[0] || capacity == 0)
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET,
                "%s: growable array \"%s\": capacity %llu rows is less than its %llu rows or 1",
                w->path, name ? name : "(null)", (unsigned long long)capacity,
                (unsigned long long)shape[0]);
    if (!mm_w_grow((void **)&w->grow, &w->growcap, w->ngrow + 1, sizeof *w->grow))
        return mm_w_nomem(w);
    return MMARR_OK;
}

mmarr_err mmarr_writer_add_growable(mmarr_writer *w, const char *name, const char *dtype,
                                    unsigned ndim, const uint64_t *shape, uint64_t capacity,
                                    const void *data)
{
    MM_TRY(check_new_growable(w, name, ndim, shape, capacity));
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

mmarr_err mmarr_writer_add_growable_cold(mmarr_writer *w, const char *name, const char *dtype,
                                         unsigned ndim, const uint64_t *shape, uint64_t capacity,
                                         const void *data, const mmarr_compress_options *opts)
{
    MM_TRY(check_new_growable(w, name, ndim, shape, capacity));
    const mmarr_compress_options defaults = {0};
    MM_TRY(mmarr_writer_begin(w, name, dtype, ndim, shape, MMARR_ORDER_C, opts ? opts : &defaults));
    const size_t i = w->st.entry;
    const uint64_t row = row_bytes(w, &w->ents[i], itemsize_of(w, &w->ents[i]));
    uint64_t cap_bytes;
    if (mm_mul_overflow(row, capacity, &cap_bytes) || cap_bytes > (uint64_t)INT64_MAX) {
        mm_w_stream_reset(w);
        w->failed = true; /* the entry is in: the writer cannot go on */
        MM_FAIL(&w->err, MMARR_E_RANGE, MMARR_NO_OFFSET,
                "%s: growable array \"%s\": capacity %llu rows overflows", w->path, name,
                (unsigned long long)capacity);
    }
    if (w->st.nbytes && !data) {
        mm_w_stream_reset(w);
        w->failed = true;
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: array \"%s\": data is NULL", w->path,
                name);
    }
    MM_TRY(mmarr_writer_write(w, data, (size_t)w->st.nbytes));
    MM_TRY(mmarr_writer_end(w));
    mmarr_disk_entry *e = &w->ents[i];
    const mmarr_disk_cold *cd = &w->colds[e->cold_id];
    w->grow[w->ngrow] = (mm_wgrow){.entry = i, .capacity = capacity, .region = cap_bytes};
    /* no chunk yet (no rows): the table may not exist */
    if (!mm_growable_chunks_sum(cd->chunk_count ? w->chunks + cd->chunk_first : NULL,
                                cd->chunk_count, &e->checksum))
        return mm_w_nomem(w);
    w->ngrow++;
    return MMARR_OK;
}

/* The raw bytes of the last chunk of cold growable array g when it is not full, into g->tail
 * (decoded from the file the first time, its checksum checked). */
static mmarr_err cold_tail(mmarr_writer *w, mm_wgrow *g, uint64_t nbytes)
{
    const mmarr_disk_entry *e = &w->ents[g->entry];
    const mmarr_disk_cold *cd = &w->colds[e->cold_id];
    const size_t want = (size_t)(nbytes % cd->chunk_size);
    if (g->tail || !want)
        return MMARR_OK;
    const mmarr_disk_chunk ch = w->chunks[cd->chunk_first + cd->chunk_count - 1];
    const char *name = w->heap.p + w->wnames[g->entry].off;
    const uint64_t at = e->data_offset + ch.offset;
    const uint64_t itemsize = itemsize_of(w, e);
    unsigned char *frame = malloc(ch.size), *raw = malloc(want), *tail = malloc(cd->chunk_size);
    mmarr_err rc = MMARR_OK;
    if (!frame || !raw || !tail) {
        rc = mm_w_nomem(w);
        goto out;
    }
    if ((rc = mm_w_stage_flush(w)) != MMARR_OK ||
        (rc = mm_pread_all(&w->err, w->fd, w->tmp_path, frame, ch.size, at)) != MMARR_OK)
        goto out;
    const size_t r = ZSTD_decompress(cd->filter == MMARR_FILTER_SHUFFLE ? raw : tail, want, frame,
                                     ch.size);
    if (ZSTD_isError(r) || r != want ||
        ZSTD_getFrameContentSize(frame, ch.size) != (unsigned long long)want) {
        rc = mm_set_error(&w->err, MMARR_E_CORRUPT, at,
                          "%s: growable array \"%s\": its last chunk at offset %llu does not "
                          "decode to its %zu bytes",
                          w->path, name, (unsigned long long)at, want);
        goto out;
    }
    if (cd->filter == MMARR_FILTER_SHUFFLE)
        mm_unshuffle(tail, raw, want, (size_t)itemsize);
    if (mm_xxh3(tail, want) != ch.checksum) {
        rc = mm_set_error(&w->err, MMARR_E_CHECKSUM, at,
                          "%s: growable array \"%s\": its last chunk at offset %llu does not "
                          "match its checksum: rows cannot be appended after it",
                          w->path, name, (unsigned long long)at);
        goto out;
    }
    g->tail = tail;
    g->tail_len = want;
    tail = NULL;
out:
    free(frame);
    free(raw);
    free(tail);
    return rc;
}

void mm_w_chunks_removed(mmarr_writer *w, size_t first, size_t count)
{
    for (size_t k = 0; k < w->ncolds; k++) {
        uint32_t *f = &w->colds[k].chunk_first;
        if (*f >= first + count)
            *f -= (uint32_t)count;
        else if (*f > first) /* an empty array's run, inside the removed records */
            *f = (uint32_t)first;
    }
}

/* Move the chunk records of cold array c to the end of the table, so that it can gain
 * chunks (each array's records are one run, spec.md §10.1). */
static void chunks_to_end(mmarr_writer *w, mmarr_disk_cold *c)
{
    const size_t first = c->chunk_first, count = c->chunk_count;
    if (first + count == w->nchunks)
        return;
    memcpy(w->chunks + w->nchunks, w->chunks + first, count * sizeof *w->chunks); /* room: caller */
    memmove(w->chunks + first, w->chunks + first + count, (w->nchunks - first) * sizeof *w->chunks);
    mm_w_chunks_removed(w, first, count); /* c's own run starts at `first`: untouched */
    c->chunk_first = (uint32_t)(w->nchunks - count);
}

/* Whether anything of the generation being written lies in [beg, end): an array's range
 * (the region of a hot growable one), or another cold growable array's extra extent. */
static bool anything_in(const mmarr_writer *w, size_t self, uint64_t beg, uint64_t end)
{
    for (size_t k = 0; k < w->n; k++) {
        if (k == self)
            continue;
        const mmarr_disk_entry *e = &w->ents[k];
        const mm_wgrow *g = mm_w_grow_of((mmarr_writer *)w, k);
        const uint64_t size = g && e->storage == MMARR_STORAGE_RAW ? g->region : e->data_size;
        if (e->data_offset < end && (e->data_offset >= beg || e->data_offset + size > beg))
            return true;
        for (uint32_t x = 0; g && e->storage != MMARR_STORAGE_RAW && x + 1 < g->nblocks; x += 2)
            if (g->blocks[x] < end && g->blocks[x] + g->blocks[x + 1] > beg)
                return true;
    }
    return false;
}

/* Append n raw bytes (whole rows) to cold growable array g (spec.md §7.8): the last chunk's
 * raw bytes, if it was not full, and the new ones compressed into frames at the cursor. */
static mmarr_err cold_append(mmarr_writer *w, mm_wgrow *g, const unsigned char *data, uint64_t n,
                             uint64_t old_nbytes)
{
    mmarr_disk_entry *e = &w->ents[g->entry];
    mmarr_disk_cold *cd = &w->colds[e->cold_id];
    if (!n)
        return MMARR_OK;
    MM_TRY(cold_tail(w, g, old_nbytes));
    const size_t cs = (size_t)cd->chunk_size, tl = g->tail ? g->tail_len : 0;
    const uint64_t total = tl + n, nnew = total / cs + (total % cs != 0);
    if (w->nchunks + cd->chunk_count + nnew >= UINT32_MAX ||
        !mm_w_grow((void **)&w->chunks, &w->chcap, w->nchunks + cd->chunk_count + nnew,
                   sizeof *w->chunks))
        return mm_w_nomem(w);
    mm_zwriter *z = mm_zwriter_new(cd->level, cs, (size_t)itemsize_of(w, e),
                                   cd->filter == MMARR_FILTER_SHUFFLE, 0, total);
    if (!z)
        return mm_w_nomem(w);
    chunks_to_end(w, cd);
    const size_t kept = cd->chunk_count - (tl ? 1 : 0); /* the last one, if not full, goes */
    w->nchunks = cd->chunk_first + kept;
    for (size_t k = 0; k < w->ncolds; k++) /* empty arrays' runs: at most the table's end */
        if (&w->colds[k] != cd && w->colds[k].chunk_first > cd->chunk_first)
            w->colds[k].chunk_first = cd->chunk_first;
    /* at the cursor, past an empty array placed there (no entry may start in an extent) */
    uint64_t beg = w->cursor;
    for (size_t k = w->n; k-- > 0 && w->ents[k].data_offset >= beg;)
        if (k != g->entry)
            beg = mm_align_up(w->ents[k].data_offset + 1, MMARR_PACKED_ALIGNMENT);
    uint64_t at = beg;
    mmarr_err rc = MMARR_OK;
    /* the first chunk from the tail and the first new bytes, then the rest from the caller,
     * a batch of chunks at a time */
    if (tl) {
        const size_t take = (size_t)(n < cs - tl ? n : cs - tl);
        memcpy(g->tail + tl, data, take);
        data += take;
        n -= take;
    }
    const size_t batch = mm_zwriter_batch_chunks(z) * cs;
    for (bool head = tl != 0; rc == MMARR_OK && (head || n);) {
        const unsigned char *src = head ? g->tail : data;
        const size_t len = head ? (size_t)(total - n < cs ? total - n : cs)
                                : (size_t)(n < batch ? n : batch);
        size_t count;
        mmarr_error ze;
        if ((rc = mm_zwriter_run(z, src, len, &count, &ze)) != MMARR_OK) {
            w->err = ze;
            break;
        }
        for (size_t k = 0; k < count && rc == MMARR_OK; k++) {
            size_t size;
            uint64_t sum;
            const unsigned char *out = mm_zwriter_out(z, k, &size, &sum);
            if ((rc = mm_w_ensure_space(w, at + size)) == MMARR_OK &&
                (rc = mm_w_put_bytes(w, at, out, size)) == MMARR_OK) {
                w->chunks[w->nchunks++] = (mmarr_disk_chunk){
                    .offset = at - e->data_offset, .size = (uint32_t)size, .checksum = sum};
                at += size;
            }
        }
        if (!head) {
            data += len;
            n -= len;
        }
        head = false;
    }
    mm_zwriter_free(z);
    if (rc != MMARR_OK) { /* frames past the published end: given back at the abandon */
        w->failed = true;
        return rc;
    }
    cd->chunk_count = (uint32_t)(w->nchunks - cd->chunk_first);
    /* the new last chunk's raw bytes, if it is not full, for the next append */
    const size_t left = (size_t)((old_nbytes + (total - tl)) % cs);
    if (left) {
        if (!g->tail && !(g->tail = malloc(cs)))
            return mm_w_nomem(w);
        if (nnew > 1 || !tl) /* the last chunk's bytes end the caller's data */
            memcpy(g->tail, data - left, left);
        g->tail_len = left;
    } else {
        free(g->tail);
        g->tail = NULL;
        g->tail_len = 0;
    }
    /* the frames extend the last extent when nothing lies between, else start one */
    const bool extra = g->nblocks >= 2;
    const uint64_t lo = extra ? g->blocks[g->nblocks - 2] : e->data_offset;
    const uint64_t hi = extra ? lo + g->blocks[g->nblocks - 1] : e->data_offset + e->data_size;
    if (!anything_in(w, g->entry, hi, at)) {
        if (extra)
            g->blocks[g->nblocks - 1] = at - lo;
        else
            e->data_size = at - lo;
    } else {
        size_t cap = g->blocks_cap;
        if (g->nblocks + 2 > UINT32_MAX ||
            !mm_w_grow((void **)&g->blocks, &cap, g->nblocks + 2, sizeof *g->blocks))
            return mm_w_nomem(w);
        g->blocks_cap = (uint32_t)(cap > UINT32_MAX ? UINT32_MAX : cap);
        g->blocks[g->nblocks++] = beg;
        g->blocks[g->nblocks++] = at - beg;
    }
    w->cursor = mm_align_up(at, MMARR_PACKED_ALIGNMENT);
    MM_TRY(mm_w_ensure_space(w, w->cursor));
    if (!mm_growable_chunks_sum(w->chunks + cd->chunk_first, cd->chunk_count, &e->checksum))
        return mm_w_nomem(w);
    return MMARR_OK;
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
    const bool cold = e->storage != MMARR_STORAGE_RAW;
    if (cold) /* new chunks; its data_size is its first extent, not its rows */
        MM_TRY(cold_append(w, g, data, n, nrows * rb));
    else if (n) {
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
    if (cold)
        return MMARR_OK;
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
