/* SPDX-License-Identifier: MIT */
/*
 * writer_stream.c — arrays whose bytes arrive in pieces (mmarr_writer_begin/_write/_end),
 * hot or cold, and cold arrays given whole (mmarr_writer_add_cold, streamed in one piece).
 * A cold array is compressed a batch of chunks at a time (cold_write.c), so a writer holds
 * at most one batch of raw and compressed bytes whatever the array's size (spec.md §10).
 */
#include "mm_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A failure in the middle of an array leaves it half-written: the writer is done. */
static mmarr_err stream_fail(mmarr_writer *w, mmarr_err rc)
{
    mm_w_stream_reset(w);
    w->failed = true;
    return rc;
}

/* Compress len bytes (whole chunks, but for the array's last piece) and append the frames. */
static mmarr_err cold_flush(mmarr_writer *w, const unsigned char *src, size_t len)
{
    struct mm_wstream *st = &w->st;
    mmarr_error e;
    size_t n;
    mmarr_err rc = mm_zwriter_run(st->z, src, len, &n, &e);
    if (rc != MMARR_OK) {
        w->err = e;
        snprintf(w->err.message, sizeof w->err.message, "%.200s: array \"%.100s\": %.150s", w->path,
                 w->heap.p + w->wnames[st->entry].off, e.message);
        return rc;
    }
    if (w->nchunks + n >= UINT32_MAX ||
        !mm_w_grow((void **)&w->chunks, &w->chcap, w->nchunks + n, sizeof *w->chunks))
        return mm_w_nomem(w);
    const uint64_t base = w->ents[st->entry].data_offset;
    for (size_t k = 0; k < n; k++) {
        size_t size;
        uint64_t sum;
        const unsigned char *out = mm_zwriter_out(st->z, k, &size, &sum);
        MM_TRY(mm_w_ensure_space(w, st->out_end + size));
        MM_TRY(mm_w_put_bytes(w, st->out_end, out, size));
        w->chunks[w->nchunks++] = (mmarr_disk_chunk){
            .offset = st->out_end - base, .size = (uint32_t)size, .checksum = sum};
        st->out_end += size;
    }
    return MMARR_OK;
}

mmarr_err mmarr_writer_begin(mmarr_writer *w, const char *name, const char *dtype, unsigned ndim,
                             const uint64_t *shape, mmarr_order order,
                             const mmarr_compress_options *opts)
{
    mmarr_compress_options c = {0};
    if (opts) {
        c = *opts;
        if (!c.level)
            c.level = MMARR_DEFAULT_LEVEL;
        if (!c.chunk_size)
            c.chunk_size = MMARR_DEFAULT_CHUNK_SIZE;
        if (c.chunk_size > (1ull << 30))
            MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET,
                    "%s: array \"%s\": chunk size %llu is outside 1..1073741824", w->path,
                    name ? name : "(null)", (unsigned long long)c.chunk_size);
        if (!mm_zstd_level_ok(c.level))
            MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET,
                    "%s: array \"%s\": zstd refuses level %d", w->path, name ? name : "(null)",
                    c.level);
    }
    size_t i;
    uint64_t nbytes, itemsize;
    MM_TRY(
        mm_w_new_entry(w, name, dtype, ndim, shape, order, opts != NULL, &i, &nbytes, &itemsize));
    struct mm_wstream *st = &w->st;
    memset(st, 0, sizeof *st);
    st->active = true;
    st->cold = opts != NULL;
    st->entry = i;
    st->nbytes = nbytes;
    mmarr_disk_entry *e = &w->ents[i];
    if (opts) {
        st->chunk_size = c.chunk_size;
        st->out_end = e->data_offset;
        mmarr_disk_cold *cd = &w->colds[e->cold_id];
        cd->chunk_size = c.chunk_size;
        cd->chunk_first = (uint32_t)w->nchunks;
        cd->codec = MMARR_CODEC_ZSTD;
        cd->filter = c.shuffle ? MMARR_FILTER_SHUFFLE : MMARR_FILTER_NONE;
        cd->level = c.level;
        st->z = mm_zwriter_new(c.level, (size_t)c.chunk_size, (size_t)itemsize, c.shuffle != 0,
                               c.threads, nbytes);
        if (!st->z)
            return stream_fail(w, mm_w_nomem(w));
        st->batch = mm_zwriter_batch_chunks(st->z) * (size_t)c.chunk_size;
    }
    st->xs = XXH3_createState();
    if (!st->xs)
        return stream_fail(w, mm_w_nomem(w));
    XXH3_64bits_reset(st->xs);
    return MMARR_OK;
}

mmarr_err mmarr_writer_write(mmarr_writer *w, const void *data, size_t n)
{
    struct mm_wstream *st = &w->st;
    if (!st->active)
        MM_FAIL(&w->err, MMARR_E_STATE, MMARR_NO_OFFSET,
                "%s: mmarr_writer_write without mmarr_writer_begin", w->path);
    const char *name = w->heap.p + w->wnames[st->entry].off;
    if (n > st->nbytes - st->written) {
        mm_set_error(&w->err, MMARR_E_RANGE, MMARR_NO_OFFSET,
                     "%s: array \"%s\": %zu more bytes than its %llu", w->path, name,
                     (size_t)(n - (st->nbytes - st->written)), (unsigned long long)st->nbytes);
        return stream_fail(w, MMARR_E_RANGE);
    }
    if (n && !data)
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: array \"%s\": data is NULL", w->path,
                name);
    const unsigned char *p = data;
    XXH3_64bits_update(st->xs, p, n);
    if (!st->cold) {
        mmarr_err rc = mm_w_put_bytes(w, w->ents[st->entry].data_offset + st->written, p, n);
        st->written += n;
        return rc == MMARR_OK ? rc : stream_fail(w, rc);
    }
    st->written += n;
    while (n) {
        if (!st->buf_len && (n >= st->batch || st->written == st->nbytes)) {
            /* a whole batch, or the array's last bytes, straight from the caller; one batch
             * at a time, so that the compressed chunks held before they are written stay
             * within a batch (add_cold of a whole array comes through here) */
            size_t take = n >= st->batch ? st->batch : n;
            mmarr_err rc = cold_flush(w, p, take);
            if (rc != MMARR_OK)
                return stream_fail(w, rc);
            p += take;
            n -= take;
            continue;
        }
        if (!st->buf && !(st->buf = malloc(st->batch)))
            return stream_fail(w, mm_w_nomem(w));
        size_t take = st->batch - st->buf_len < n ? st->batch - st->buf_len : n;
        memcpy(st->buf + st->buf_len, p, take);
        st->buf_len += take;
        p += take;
        n -= take;
        if (st->buf_len == st->batch) {
            mmarr_err rc = cold_flush(w, st->buf, st->buf_len);
            if (rc != MMARR_OK)
                return stream_fail(w, rc);
            st->buf_len = 0;
        }
    }
    return MMARR_OK;
}

mmarr_err mmarr_writer_end(mmarr_writer *w)
{
    struct mm_wstream *st = &w->st;
    if (!st->active)
        MM_FAIL(&w->err, MMARR_E_STATE, MMARR_NO_OFFSET,
                "%s: mmarr_writer_end without mmarr_writer_begin", w->path);
    mmarr_disk_entry *e = &w->ents[st->entry];
    if (st->written != st->nbytes) {
        mm_set_error(&w->err, MMARR_E_RANGE, MMARR_NO_OFFSET,
                     "%s: array \"%s\": %llu of its %llu bytes were written", w->path,
                     w->heap.p + w->wnames[st->entry].off, (unsigned long long)st->written,
                     (unsigned long long)st->nbytes);
        return stream_fail(w, MMARR_E_RANGE);
    }
    e->checksum = XXH3_64bits_digest(st->xs);
    if (st->cold) {
        if (st->buf_len) {
            mmarr_err rc = cold_flush(w, st->buf, st->buf_len);
            if (rc != MMARR_OK)
                return stream_fail(w, rc);
        }
        mmarr_disk_cold *cd = &w->colds[e->cold_id];
        cd->chunk_count = (uint32_t)(w->nchunks - cd->chunk_first);
        e->data_size = st->out_end - e->data_offset;
        w->cursor = mm_align_up(st->out_end, MMARR_PACKED_ALIGNMENT);
        mmarr_err rc = mm_w_ensure_space(w, w->cursor);
        if (rc != MMARR_OK)
            return stream_fail(w, rc);
    }
    mm_w_stream_reset(w);
    return MMARR_OK;
}

mmarr_err mmarr_writer_add_cold(mmarr_writer *w, const char *name, const char *dtype, unsigned ndim,
                                const uint64_t *shape, mmarr_order order, const void *data,
                                const mmarr_compress_options *opts)
{
    const mmarr_compress_options defaults = {0};
    MM_TRY(mmarr_writer_begin(w, name, dtype, ndim, shape, order, opts ? opts : &defaults));
    MM_TRY(mmarr_writer_write(w, data, (size_t)w->st.nbytes));
    return mmarr_writer_end(w);
}
