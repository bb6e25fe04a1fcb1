/* SPDX-License-Identifier: MIT */
/*
 * cold_read.c — the reader's side of cold arrays (spec.md §10): range reads that decompress
 * only the chunks they touch (on a few threads for large ranges), each chunk's checksum
 * checked as it is decompressed, the inverse byte shuffle, per-chunk access and
 * verification. Decompression states are pooled in the handle between calls.
 *
 * zstd reads a chunk's stored bytes straight from the mapping. Copying them first with pread()
 * (as hot reads do) was measured slower, on a fresh mapping of a 4 KiB tmpfs too (issue #18):
 * zstd reads a frame front to back, so the kernel maps 16 pages per fault (fault-around), and
 * the copy costs more than those faults. The two chunks last read in part are kept decoded
 * (f->memo), so that a scan in slices that do not line up with chunks decodes each chunk once.
 */
#include "mm_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#include "mm_xxhash.h"
#include <zstd.h>
#include <zstd_errors.h>

MM_NO_COVERAGE void mm_unshuffle(unsigned char *restrict dst, const unsigned char *restrict src,
                                 size_t len, size_t k)
{
    if (k <= 1) {
        memcpy(dst, src, len);
        return;
    }
    const size_t n = len / k;
    if (k == 4) {
        const unsigned char *s0 = src, *s1 = src + n, *s2 = src + 2 * n, *s3 = src + 3 * n;
        for (size_t i = 0; i < n; i++) {
            dst[4 * i] = s0[i];
            dst[4 * i + 1] = s1[i];
            dst[4 * i + 2] = s2[i];
            dst[4 * i + 3] = s3[i];
        }
    } else {
        for (size_t j = 0; j < k; j++) {
            const unsigned char *s = src + j * n;
            for (size_t i = 0; i < n; i++)
                dst[i * k + j] = s[i];
        }
    }
    memcpy(dst + n * k, src + n * k, len - n * k);
}

/* ---- reader side ---- */

static const mmarr_disk_cold *cold_desc(const mmarr_file *f, const mmarr_disk_entry *e)
{
    return (const mmarr_disk_cold *)(f->index + f->ih->cold_offset) + e->cold_id;
}

static const mmarr_disk_chunk *cold_chunks(const mmarr_file *f, const mmarr_disk_cold *c)
{
    return (const mmarr_disk_chunk *)(f->index + f->ih->chunks_offset) + c->chunk_first;
}

void mm_cold_fill_info(const mmarr_file *f, const mmarr_disk_entry *e, mmarr_array_info *a)
{
    const mmarr_disk_cold *c = cold_desc(f, e);
    if (mm_growable_of(f, a->index)) /* its frames, wherever they lie (spec.md §7.8) */
        a->stored_bytes = mm_growable_stored(f, a->index);
    a->chunk_size = c->chunk_size;
    a->chunk_count = c->chunk_count;
    a->level = c->level;
    a->shuffle = c->filter == MMARR_FILTER_SHUFFLE;
}

/* Per-thread decompression state. A handle keeps up to MM_DPOOL_MAX of them between reads
 * (f->dpool), so that reading many small slices does not create a zstd context and allocate
 * (and fault in) chunk buffers on every call; buffers above MM_DPOOL_KEEP are not kept. */
typedef struct mm_dstate {
    ZSTD_DCtx *dctx;
    unsigned char *tmp;  /* a chunk's raw bytes, for partial chunks */
    unsigned char *shuf; /* shuffled bytes before unshuffling */
    size_t tmp_cap, shuf_cap;
} mm_dstate;

#define MM_DPOOL_KEEP (16u << 20)

static void dstate_free(mm_dstate *d)
{
    if (!d)
        return;
    ZSTD_freeDCtx(d->dctx);
    free(d->tmp);
    free(d->shuf);
    free(d);
}

/* A buffer of at least n bytes in *buf (capacity *cap); false when out of memory. */
static bool dstate_buf(unsigned char **buf, size_t *cap, size_t n)
{
    if (*cap >= n)
        return true;
    free(*buf);
    *cap = 0;
    if (!(*buf = malloc(n)))
        return false;
    *cap = n;
    return true;
}

static mm_dstate *dpool_get(mmarr_file *f)
{
    mm_dstate *d = NULL;
    pthread_mutex_lock(&f->dpool_lock);
    if (f->dpool_count)
        d = f->dpool[--f->dpool_count];
    pthread_mutex_unlock(&f->dpool_lock);
    return d ? d : calloc(1, sizeof *d);
}

static void dpool_put(mmarr_file *f, mm_dstate *d)
{
    if (!d)
        return;
    if (d->tmp_cap > MM_DPOOL_KEEP || d->shuf_cap > MM_DPOOL_KEEP) {
        dstate_free(d);
        return;
    }
    pthread_mutex_lock(&f->dpool_lock);
    if (f->dpool_count < MM_DPOOL_MAX) {
        f->dpool[f->dpool_count++] = d;
        d = NULL;
    }
    pthread_mutex_unlock(&f->dpool_lock);
    dstate_free(d);
}

void mm_cold_release(mmarr_file *f)
{
    for (unsigned i = 0; i < f->dpool_count; i++)
        dstate_free(f->dpool[i]);
    f->dpool_count = 0;
    for (unsigned i = 0; i < MM_MEMO_SLOTS; i++) {
        free(f->memo[i].buf);
        f->memo[i] = (mm_memo){0};
    }
}

/* Copy bytes [from, from + n) of the decoded chunk stored at file offset `at` to dst if the
 * handle keeps it decoded; false if it does not. */
static bool memo_copy(mmarr_file *f, uint64_t at, size_t from, size_t n, unsigned char *dst)
{
    bool hit = false;
    pthread_mutex_lock(&f->memo_lock);
    for (unsigned i = 0; i < MM_MEMO_SLOTS && !hit; i++) {
        mm_memo *m = &f->memo[i];
        if (m->at == at && from <= m->raw && n <= m->raw - from) {
            memcpy(dst, m->buf + from, n);
            m->use = ++f->memo_clock;
            hit = true;
        }
    }
    pthread_mutex_unlock(&f->memo_lock);
    return hit;
}

/* Whether the handle keeps the chunk at file offset `at` decoded. */
static bool memo_has(mmarr_file *f, uint64_t at)
{
    bool has = false;
    pthread_mutex_lock(&f->memo_lock);
    for (unsigned i = 0; i < MM_MEMO_SLOTS; i++)
        has |= f->memo[i].at == at;
    pthread_mutex_unlock(&f->memo_lock);
    return has;
}

/* Keep the chunk at file offset `at`, decoded in ds->tmp (raw bytes), in the least recently
 * used slot: the buffers are swapped, nothing is copied. */
static void memo_keep(mmarr_file *f, uint64_t at, mm_dstate *ds, size_t raw)
{
    if (raw > MM_DPOOL_KEEP)
        return;
    pthread_mutex_lock(&f->memo_lock);
    mm_memo *m = &f->memo[0];
    for (unsigned i = 1; i < MM_MEMO_SLOTS; i++)
        if (f->memo[i].use < m->use)
            m = &f->memo[i];
    unsigned char *buf = m->buf;
    const size_t cap = m->cap;
    *m = (mm_memo){
        .at = at, .use = ++f->memo_clock, .raw = raw, .buf = ds->tmp, .cap = ds->tmp_cap};
    ds->tmp = buf;
    ds->tmp_cap = cap;
    pthread_mutex_unlock(&f->memo_lock);
}

/* File offset of the stored bytes of chunk k of entry `index`. */
static uint64_t chunk_at(const mmarr_file *f, size_t index, size_t k)
{
    const mmarr_disk_entry *e = &f->entries[index];
    return e->data_offset + cold_chunks(f, cold_desc(f, e))[k].offset;
}

/* Decompress chunk k of entry e into dst (exactly its raw size), checking the frame's
 * declared and actual sizes and (if verify) the chunk checksum. */
static mmarr_err decode_chunk(const mmarr_file *f, size_t index, size_t k, unsigned char *dst,
                              mm_dstate *ds, bool verify, mmarr_error *err)
{
    const mmarr_disk_entry *e = &f->entries[index];
    const mmarr_disk_cold *c = cold_desc(f, e);
    const mmarr_disk_chunk *ch = cold_chunks(f, c) + k;
    const uint64_t nbytes = f->dtypes[e->dtype_id]->itemsize * mm_entry_nitems(f, e);
    const uint64_t raw_off = (uint64_t)k * c->chunk_size;
    const size_t raw = (size_t)(nbytes - raw_off < c->chunk_size ? nbytes - raw_off
                                                                 : c->chunk_size);
    const unsigned char *src = f->base + e->data_offset + ch->offset;
    const uint64_t at = e->data_offset + ch->offset;
    const char *name = mm_entry_name(f, e);
    if (!ds->dctx && !(ds->dctx = ZSTD_createDCtx()))
        MM_FAIL(err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", f->path);
    unsigned long long declared = ZSTD_getFrameContentSize(src, ch->size);
    size_t fsize = ZSTD_findFrameCompressedSize(src, ch->size);
    if (declared != raw || ZSTD_isError(fsize) || fsize != ch->size)
        MM_FAIL(err, MMARR_E_CORRUPT, at,
                "%s: array \"%s\" chunk %zu at offset %llu: not one zstd frame of "
                "%u bytes declaring %zu raw bytes",
                f->path, name, k, (unsigned long long)at, ch->size, raw);
    const bool shuffled = c->filter == MMARR_FILTER_SHUFFLE && f->dtypes[e->dtype_id]->itemsize > 1;
    unsigned char *out = dst;
    if (shuffled) { /* the chunk's raw size, not chunk_size: a small array (or a hostile
                       * chunk_size of up to 1 GiB) must not cost a whole chunk of memory */
        if (!dstate_buf(&ds->shuf, &ds->shuf_cap, raw))
            MM_FAIL(err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", f->path);
        out = ds->shuf;
    }
    size_t r = ZSTD_decompressDCtx(ds->dctx, out, raw, src, ch->size);
    if (ZSTD_isError(r) && ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
        MM_FAIL(err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory in zstd", f->path);
    if (ZSTD_isError(r) || r != raw)
        MM_FAIL(err, MMARR_E_CORRUPT, at, "%s: array \"%s\" chunk %zu at offset %llu: zstd: %s",
                f->path, name, k, (unsigned long long)at,
                ZSTD_isError(r) ? ZSTD_getErrorName(r) : "wrong decompressed size");
    if (shuffled)
        mm_unshuffle(dst, out, raw, (size_t)f->dtypes[e->dtype_id]->itemsize);
    if (verify) {
        uint64_t sum = mm_xxh3(dst, raw);
        if (sum != ch->checksum)
            MM_FAIL(err, MMARR_E_CHECKSUM, at,
                    "%s: array \"%s\" chunk %zu at offset %llu: checksum mismatch "
                    "(stored %016llx, computed %016llx)",
                    f->path, name, k, (unsigned long long)at, (unsigned long long)ch->checksum,
                    (unsigned long long)sum);
    }
    return MMARR_OK;
}

typedef struct mm_rjob {
    mmarr_file *f; /* not const: its pool of decompression states */
    size_t index, k0;
    uint64_t offset, n, chunk_size, nbytes;
    unsigned char *dst;
    bool verify;
    mm_dstate *ds[MM_MAX_THREADS]; /* taken from the pool by each worker on first use */
    atomic_int first_failed;       /* worker whose error is reported, +1 */
    mmarr_error err[];             /* one per worker */
} mm_rjob;

static int read_one(mm_batch *b, unsigned worker, size_t i)
{
    mm_rjob *j = b->ctx;
    const size_t k = j->k0 + i;
    const uint64_t cbeg = (uint64_t)k * j->chunk_size;
    const uint64_t cend = cbeg + j->chunk_size < j->nbytes ? cbeg + j->chunk_size : j->nbytes;
    const uint64_t lo = j->offset > cbeg ? j->offset : cbeg;
    const uint64_t hi = j->offset + j->n < cend ? j->offset + j->n : cend;
    if (!j->ds[worker])
        j->ds[worker] = dpool_get(j->f);
    mm_dstate *ds = j->ds[worker];
    const bool whole = lo == cbeg && hi == cend; /* straight into dst, else through tmp */
    const uint64_t at = chunk_at(j->f, j->index, k);
    mmarr_err rc = MMARR_OK;
    /* kept chunks were checked as the handle's reads check them (not for a verify of a handle
     * opened with MMARR_OPEN_NO_CHUNK_VERIFY) */
    const bool memo_ok = !j->verify || j->f->chunk_verify;
    if (memo_ok &&
        memo_copy(j->f, at, (size_t)(lo - cbeg), (size_t)(hi - lo), j->dst + (lo - j->offset))) {
        /* decoded by an earlier read */
    } else if (!ds || (!whole && !dstate_buf(&ds->tmp, &ds->tmp_cap, (size_t)(cend - cbeg)))) {
        rc = mm_set_error(&j->err[worker], MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory",
                          j->f->path);
    } else if (whole) {
        rc = decode_chunk(j->f, j->index, k, j->dst + (cbeg - j->offset), ds, j->verify,
                          &j->err[worker]);
    } else {
        rc = decode_chunk(j->f, j->index, k, ds->tmp, ds, j->verify, &j->err[worker]);
        if (rc == MMARR_OK) {
            memcpy(j->dst + (lo - j->offset), ds->tmp + (lo - cbeg), (size_t)(hi - lo));
            if (j->verify == j->f->chunk_verify)
                memo_keep(j->f, at, ds, (size_t)(cend - cbeg));
        }
    }
    if (rc != MMARR_OK) {
        int none = 0;
        atomic_compare_exchange_strong(&j->first_failed, &none, (int)worker + 1);
        return -1;
    }
    return 0;
}

mmarr_err mm_cold_read(mmarr_file *f, size_t index, uint64_t offset, void *dst, uint64_t n,
                       unsigned threads, bool verify, mmarr_error *err)
{
    const mmarr_disk_entry *e = &f->entries[index];
    const mmarr_disk_cold *c = cold_desc(f, e);
    if (n == 0)
        return MMARR_OK;
    if (!threads)
        threads = mm_online_cpus();
    if (threads > MM_MAX_THREADS)
        threads = MM_MAX_THREADS;
    mm_rjob *j = malloc(sizeof *j + threads * sizeof(mmarr_error));
    if (!j)
        MM_FAIL(err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", f->path);
    memset(j, 0, sizeof *j);
    j->f = f;
    j->index = index;
    j->offset = offset;
    j->n = n;
    j->dst = dst;
    j->verify = verify;
    j->chunk_size = c->chunk_size;
    j->nbytes = f->dtypes[e->dtype_id]->itemsize * mm_entry_nitems(f, e);
    j->k0 = (size_t)(offset / c->chunk_size);
    const size_t k1 = (size_t)((offset + n - 1) / c->chunk_size);
    mm_batch b = {.fn = read_one, .ctx = j, .count = k1 - j->k0 + 1};
    /* threads for the chunks to decode, whole (a partial chunk is decoded whole), less those
     * kept decoded: a scan in slices has one of them each time, and a helper thread for the
     * other would cost more than it saves */
    size_t decode = b.count;
    uint64_t decode_bytes = (uint64_t)b.count * c->chunk_size;
    if (!verify || f->chunk_verify) {
        const size_t ends[2] = {j->k0, k1};
        for (unsigned i = 0; i < (k1 > j->k0 ? 2u : 1u); i++)
            if (memo_has(f, chunk_at(f, index, ends[i]))) {
                decode--;
                decode_bytes -= c->chunk_size;
            }
    }
    threads = mm_batch_threads(threads, decode, decode_bytes);
    mmarr_err rc = MMARR_OK;
    atomic_init(&j->first_failed, 0);
    if (mm_batch_run(&b, threads, decode_bytes)) {
        int w = atomic_load(&j->first_failed);
        *err = j->err[w > 0 ? w - 1 : 0];
        rc = err->code;
    }
    for (unsigned t = 0; t < threads; t++)
        dpool_put(f, j->ds[t]);
    free(j);
    return rc;
}

mmarr_err mm_cold_chunk_info(const mmarr_file *f, size_t index, size_t k, mmarr_chunk_info *out)
{
    const mmarr_disk_entry *e = &f->entries[index];
    const mmarr_disk_cold *c = cold_desc(f, e);
    const mmarr_disk_chunk *ch = cold_chunks(f, c) + k;
    const uint64_t nbytes = f->dtypes[e->dtype_id]->itemsize * mm_entry_nitems(f, e);
    out->index = k;
    out->raw_offset = (uint64_t)k * c->chunk_size;
    out->raw_size = nbytes - out->raw_offset < c->chunk_size ? nbytes - out->raw_offset
                                                             : c->chunk_size;
    out->stored_offset = e->data_offset + ch->offset;
    out->stored_size = ch->size;
    out->checksum = ch->checksum;
    return MMARR_OK;
}

mmarr_err mm_cold_read_chunk(mmarr_file *f, size_t index, size_t k, void *dst, bool verify,
                             mmarr_error *err)
{
    mm_dstate *ds = dpool_get(f);
    if (!ds)
        MM_FAIL(err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", f->path);
    mmarr_err rc = decode_chunk(f, index, k, dst, ds, verify, err);
    dpool_put(f, ds);
    return rc;
}

/* Verify a cold array: every chunk against its checksum (decompressed in parallel, a batch of
 * chunks at a time) and the whole against the entry's checksum, hashed in order. */
mmarr_err mm_cold_verify(mmarr_file *f, size_t index, mmarr_error *err)
{
    const mmarr_disk_entry *e = &f->entries[index];
    const mmarr_disk_cold *c = cold_desc(f, e);
    const uint64_t nbytes = f->dtypes[e->dtype_id]->itemsize * mm_entry_nitems(f, e);
    const unsigned threads = f->threads ? f->threads : mm_online_cpus();
    uint64_t batch = mm_batch_chunks(threads, 2, c->chunk_size, 1) * c->chunk_size;
    if (batch > nbytes)
        batch = nbytes;
    mmarr_err rc = MMARR_OK;
    XXH3_state_t *st = XXH3_createState();
    unsigned char *buf = batch ? malloc((size_t)batch) : NULL;
    if (!st || (batch && !buf)) {
        rc = mm_set_error(err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", f->path);
        goto out;
    }
    XXH3_64bits_reset(st);
    for (uint64_t off = 0; off < nbytes && rc == MMARR_OK; off += batch) {
        const uint64_t n = nbytes - off < batch ? nbytes - off : batch;
        rc = mm_cold_read(f, index, off, buf, n, threads, true, err);
        if (rc == MMARR_OK)
            XXH3_64bits_update(st, buf, (size_t)n);
    }
    if (rc == MMARR_OK) {
        /* a growable one's checksum covers its chunk checksums (spec.md §7.8), which the
         * reads just checked against the chunks */
        uint64_t sum = XXH3_64bits_digest(st);
        if (mm_growable_of(f, index) &&
            !mm_growable_chunks_sum(cold_chunks(f, c), c->chunk_count, &sum))
            rc = mm_set_error(err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", f->path);
        else if (sum != e->checksum)
            rc = mm_set_error(err, MMARR_E_CHECKSUM, e->data_offset,
                              "%s: array \"%s\" (cold): checksum of the %s mismatch "
                              "(stored %016llx, computed %016llx)",
                              f->path, mm_entry_name(f, e),
                              mm_growable_of(f, index) ? "chunk checksums" : "decompressed array",
                              (unsigned long long)e->checksum, (unsigned long long)sum);
    }
out:
    XXH3_freeState(st);
    free(buf);
    return rc;
}
