/* SPDX-License-Identifier: MIT */
/*
 * cold_write.c — the writer's side of cold arrays (spec.md §10): the byte shuffle filter
 * (§10.3) and compression of a batch of chunks into independent zstd frames, on a few
 * threads (thread.c's batches), each with the XXH3 of its raw bytes.
 */
#include "mm_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include "mm_xxhash.h"
#include <zstd.h>
#include <zstd_errors.h>

/* ---- byte shuffle (§10.3) ---- */

MM_NO_COVERAGE void mm_shuffle(unsigned char *restrict dst, const unsigned char *restrict src,
                               size_t len, size_t k)
{
    if (k <= 1) {
        memcpy(dst, src, len);
        return;
    }
    const size_t n = len / k;
    if (k == 4) {
        unsigned char *d0 = dst, *d1 = dst + n, *d2 = dst + 2 * n, *d3 = dst + 3 * n;
        for (size_t i = 0; i < n; i++) {
            d0[i] = src[4 * i];
            d1[i] = src[4 * i + 1];
            d2[i] = src[4 * i + 2];
            d3[i] = src[4 * i + 3];
        }
    } else if (k == 8) {
        for (size_t j = 0; j < 8; j++) {
            unsigned char *d = dst + j * n;
            for (size_t i = 0; i < n; i++)
                d[i] = src[8 * i + j];
        }
    } else {
        for (size_t j = 0; j < k; j++) {
            unsigned char *d = dst + j * n;
            for (size_t i = 0; i < n; i++)
                d[i] = src[i * k + j];
        }
    }
    memcpy(dst + n * k, src + n * k, len - n * k);
}

/* ---- writer side: compress a batch ---- */

struct mm_zwriter {
    int level;
    size_t chunk_size, itemsize;
    bool shuffle;
    unsigned threads;
    ZSTD_CCtx *cctx[MM_MAX_THREADS];
    unsigned char *scratch[MM_MAX_THREADS]; /* shuffle buffers */
    size_t buf_size;                        /* min(chunk_size, the array's size) */
    size_t bound;                           /* ZSTD_compressBound(buf_size) */
    /* per batch */
    const unsigned char *src;
    size_t src_len, nchunks;
    unsigned char **out; /* nchunks output buffers of `bound` bytes */
    size_t *out_size;
    uint64_t *sums;
    size_t out_cap;
    size_t zerr;
};

/* total: the array's byte size, so that a small array gets buffers (and threads) for what it
 * has, not for a whole chunk per thread. */
mm_zwriter *mm_zwriter_new(int level, size_t chunk_size, size_t itemsize, bool shuffle,
                           unsigned threads, uint64_t total)
{
    mm_zwriter *z = calloc(1, sizeof *z);
    if (!z)
        return NULL;
    z->level = level;
    z->chunk_size = chunk_size;
    z->itemsize = itemsize;
    z->shuffle = shuffle && itemsize > 1;
    z->threads = threads ? (threads > MM_MAX_THREADS ? MM_MAX_THREADS : threads) : mm_online_cpus();
    const uint64_t nchunks = total / chunk_size + (total % chunk_size != 0);
    z->threads = mm_batch_threads(z->threads, nchunks, total); /* a context per thread */
    z->buf_size = total < chunk_size ? (total ? (size_t)total : 1) : chunk_size;
    z->bound = ZSTD_compressBound(z->buf_size);
    for (unsigned t = 0; t < z->threads; t++) {
        z->cctx[t] = ZSTD_createCCtx();
        if (!z->cctx[t] ||
            ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx[t], ZSTD_c_compressionLevel, level)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx[t], ZSTD_c_contentSizeFlag, 1)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx[t], ZSTD_c_checksumFlag, 0))) {
            mm_zwriter_free(z);
            return NULL;
        }
    }
    return z;
}

void mm_zwriter_free(mm_zwriter *z)
{
    if (!z)
        return;
    for (unsigned t = 0; t < MM_MAX_THREADS; t++) {
        ZSTD_freeCCtx(z->cctx[t]);
        free(z->scratch[t]);
    }
    for (size_t i = 0; i < z->out_cap; i++)
        free(z->out[i]);
    free(z->out);
    free(z->out_size);
    free(z->sums);
    free(z);
}

/* Writer batches: four chunks per thread keeps every thread busy until the batch's tail (the
 * compressed outputs take as much memory again as the batch). */
size_t mm_zwriter_batch_chunks(const mm_zwriter *z)
{
    return (size_t)mm_batch_chunks(z->threads, 4, z->chunk_size, z->threads);
}

static int compress_one(mm_batch *b, unsigned worker, size_t k)
{
    mm_zwriter *z = b->ctx;
    const size_t off = k * z->chunk_size;
    const size_t len = z->src_len - off < z->chunk_size ? z->src_len - off : z->chunk_size;
    const unsigned char *in = z->src + off;
    z->sums[k] = mm_xxh3(in, len);
    if (z->shuffle) {
        if (!z->scratch[worker] && !(z->scratch[worker] = malloc(z->buf_size)))
            return -1;
        mm_shuffle(z->scratch[worker], in, len, z->itemsize);
        in = z->scratch[worker];
    }
    size_t r = ZSTD_compress2(z->cctx[worker], z->out[k], z->bound, in, len);
    if (ZSTD_isError(r)) {
        z->zerr = r;
        return -1;
    }
    z->out_size[k] = r;
    return 0;
}

/* Compress src_len bytes (whole chunks, except possibly the last) into z->out[0..n). */
mmarr_err mm_zwriter_run(mm_zwriter *z, const unsigned char *src, size_t src_len, size_t *nchunks,
                         mmarr_error *err)
{
    const size_t n = src_len / z->chunk_size + (src_len % z->chunk_size != 0);
    if (n > z->out_cap) {
        unsigned char **o = realloc(z->out, n * sizeof *o);
        if (!o)
            MM_FAIL(err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "out of memory");
        z->out = o;
        size_t *os = realloc(z->out_size, n * sizeof *os);
        if (os)
            z->out_size = os;
        uint64_t *su = realloc(z->sums, n * sizeof *su);
        if (su)
            z->sums = su;
        if (!os || !su)
            MM_FAIL(err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "out of memory");
        for (size_t i = z->out_cap; i < n; i++) {
            if (!(z->out[i] = malloc(z->bound)))
                MM_FAIL(err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "out of memory");
            z->out_cap = i + 1;
        }
    }
    z->src = src;
    z->src_len = src_len;
    z->nchunks = n;
    z->zerr = 0;
    mm_batch b = {.fn = compress_one, .ctx = z, .count = n};
    if (mm_batch_run(&b, z->threads, src_len)) {
        if (!z->zerr || ZSTD_getErrorCode(z->zerr) == ZSTD_error_memory_allocation)
            MM_FAIL(err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "out of memory%s%s",
                    z->zerr ? " in zstd: " : "", z->zerr ? ZSTD_getErrorName(z->zerr) : "");
        MM_FAIL(err, MMARR_E_INVAL, MMARR_NO_OFFSET, "zstd compression failed: %s",
                ZSTD_getErrorName(z->zerr));
    }
    *nchunks = n;
    return MMARR_OK;
}

const unsigned char *mm_zwriter_out(const mm_zwriter *z, size_t k, size_t *size,
                                    uint64_t *raw_checksum)
{
    *size = z->out_size[k];
    *raw_checksum = z->sums[k];
    return z->out[k];
}

/* Check that zstd accepts a level before a writer commits to it. */
bool mm_zstd_level_ok(int level) { return level >= ZSTD_minCLevel() && level <= ZSTD_maxCLevel(); }
