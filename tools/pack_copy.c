/* SPDX-License-Identifier: MIT */
/*
 * pack_copy.c — mmarr-pack's copy: each planned array is streamed into the output, small hot
 * ones through one bounded buffer (mmarr_writer_add), large hot ones straight into their
 * reserved place in the output mapping (mmarr_writer_reserve), cold ones through the
 * streaming writer (mmarr_writer_begin/_write/_end), which compresses as the pieces arrive;
 * cold inputs are read back with mmarr_file_read a few chunks at a time. The writer publishes
 * atomically at commit; on any failure or signal it is freed, which removes its temporary.
 */
#include "pack.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#ifdef MMARR_HAVE_XXH_DISPATCH
#include <xxh_x86dispatch.h> /* AVX2/AVX-512 where the CPU has them */
#endif


typedef struct packer {
    const pack_opts *o;
    const plan *p;
    mmarr_writer *w;
    cli_progress prog;
    unsigned char *buf;
    size_t bufcap;
} packer;

static int writer_fail(packer *k)
{
    if (cli_interrupted())
        return CLI_INTERRUPTED;
    cli_error("%s", mmarr_writer_error(k->w)->message);
    return CLI_EXIT_DATA;
}

static void show_item(const packer *k, const item *it)
{
    if (!k->o->verbose)
        return;
    char sz[MM_SIZE_BUF], wh[600];
    fprintf(stderr, "%s: %s  %s  (", cli_progname(), it->name, it->dtype);
    for (unsigned d = 0; d < it->ndim; d++)
        fprintf(stderr, d ? ", %llu" : "%llu", (unsigned long long)item_shape(k->p, it)[d]);
    fprintf(stderr, "%s)%s  %s  from %s", it->ndim == 1 ? "," : "",
            it->order == MMARR_ORDER_F ? " F" : "", mm_format_size(it->nbytes, sz),
            item_where(k->p, it, wh, sizeof wh));
    if (it->cold)
        fprintf(stderr, "  -> cold: zstd %d, %s chunks%s", it->copts.level,
                mm_format_size(it->copts.chunk_size, sz),
                it->copts.shuffle ? ", shuffled" : "");
    else
        fputs("  -> hot", stderr);
    fputc('\n', stderr);
}

/* Grow the reused buffer to n bytes. */
static int reserve_buf(packer *k, size_t n)
{
    if (n <= k->bufcap)
        return 0;
    unsigned char *b = realloc(k->buf, n);
    if (!b)
        return cli_oom();
    k->buf = b;
    k->bufcap = n;
    return 0;
}

/* Feed n bytes to the array begun with mmarr_writer_begin, in pieces of at most PACK_PIECE
 * (the progress line moves, and a signal is noticed, between pieces). */
static int write_pieces(packer *k, const unsigned char *p, uint64_t n)
{
    while (n) {
        if (cli_interrupted())
            return CLI_INTERRUPTED;
        const size_t piece = n < PACK_PIECE ? (size_t)n : PACK_PIECE;
        if (mmarr_writer_write(k->w, p, piece) != MMARR_OK)
            return writer_fail(k);
        p += piece;
        n -= piece;
        cli_progress_add(&k->prog, piece);
    }
    return 0;
}

static int begin_array(packer *k, const item *it)
{
    if (mmarr_writer_begin(k->w, it->name, it->dtype, it->ndim, item_shape(k->p, it), it->order,
                           it->cold ? &it->copts : NULL) != MMARR_OK)
        return writer_fail(k);
    return 0;
}

static int end_array(packer *k)
{
    return mmarr_writer_end(k->w) == MMARR_OK ? 0 : writer_fail(k);
}

/* Read exactly n bytes; a short input is a data error naming the position. */
static int read_full(npy_read_fn rd, void *ctx, unsigned char *dst, size_t n, const item *it,
                     uint64_t at, const char *where)
{
    char err[512];
    size_t got = 0;
    while (got < n) {
        ptrdiff_t r = rd(ctx, dst + got, n - got, err, sizeof err);
        if (r < 0) {
            if (cli_interrupted())
                return CLI_INTERRUPTED;
            cli_error("%s: array \"%s\": %s", where, it->name, err);
            return CLI_EXIT_DATA;
        }
        if (r == 0) {
            cli_error("%s: array \"%s\": unexpected end of data after %llu of %llu bytes", where,
                      it->name, (unsigned long long)(at + got), (unsigned long long)it->nbytes);
            return CLI_EXIT_DATA;
        }
        got += (size_t)r;
    }
    return 0;
}

/* A cold array from rd: read a piece, compress it (mmarr_writer_write), repeat. */
static int fill_cold(packer *k, const item *it, npy_read_fn rd, void *ctx, const char *where)
{
    int rc = reserve_buf(k, it->nbytes < PACK_PIECE ? (size_t)it->nbytes : PACK_PIECE);
    if (rc == 0)
        rc = begin_array(k, it);
    for (uint64_t at = 0; rc == 0 && at < it->nbytes;) {
        const size_t piece = it->nbytes - at < PACK_PIECE ? (size_t)(it->nbytes - at) : PACK_PIECE;
        rc = read_full(rd, ctx, k->buf, piece, it, at, where);
        if (rc == 0)
            rc = write_pieces(k, k->buf, piece);
        at += piece;
    }
    return rc ? rc : end_array(k);
}

/* Stream an array's bytes from rd into the output: cold through the streaming writer; hot by
 * buffered add, or reserve and fill. */
static int fill_array(packer *k, const item *it, npy_read_fn rd, void *ctx, const char *where)
{
    if (it->cold)
        return fill_cold(k, it, rd, ctx, where);
    if (it->nbytes <= PACK_PIECE) {
        int rc = reserve_buf(k, (size_t)it->nbytes);
        if (rc == 0)
            rc = read_full(rd, ctx, k->buf, (size_t)it->nbytes, it, 0, where);
        if (rc)
            return rc;
        if (mmarr_writer_add(k->w, it->name, it->dtype, it->ndim, item_shape(k->p, it),
                             it->order, it->nbytes ? k->buf : NULL) != MMARR_OK)
            return writer_fail(k);
        cli_progress_add(&k->prog, it->nbytes);
        return 0;
    }
    void *dst;
    if (mmarr_writer_reserve(k->w, it->name, it->dtype, it->ndim, item_shape(k->p, it),
                             it->order, &dst) != MMARR_OK)
        return writer_fail(k);
    for (uint64_t at = 0; at < it->nbytes;) {
        const size_t piece = it->nbytes - at < PACK_PIECE ? (size_t)(it->nbytes - at) : PACK_PIECE;
        int rc = read_full(rd, ctx, (unsigned char *)dst + at, piece, it, at, where);
        if (rc)
            return rc;
        at += piece;
        cli_progress_add(&k->prog, piece);
    }
    return 0;
}

/* The input may have changed since it was planned: insist on the same array. */
static int same_as_planned(const plan *p, const item *it, const npy_header *h,
                           const char *where)
{
    if (strcmp(h->dtype, it->dtype) || h->ndim != it->ndim ||
        memcmp(h->shape, item_shape(p, it), it->ndim * sizeof *h->shape) ||
        (h->fortran_order ? MMARR_ORDER_F : MMARR_ORDER_C) != it->order) {
        cli_error("%s: changed while being packed", where);
        return CLI_EXIT_DATA;
    }
    return 0;
}

/* The array's bytes from fd, positioned at them, read sequentially. */
static int copy_fd(packer *k, const item *it, int fd, const char *path)
{
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    pack_fd_reader r = {fd};
    return fill_array(k, it, pack_fd_read, &r, path);
}

static int copy_npy(packer *k, const item *it)
{
    const char *path = k->p->src[it->source].path;
    int fd;
    npy_header h;
    int rc = plan_open_npy(path, &fd, &h);
    if (rc)
        return rc;
    rc = same_as_planned(k->p, it, &h, path);
    npy_header_free(&h);
    if (rc == 0)
        rc = copy_fd(k, it, fd, path);
    close(fd);
    return rc;
}

static int copy_raw(packer *k, const item *it)
{
    const char *path = k->p->src[it->source].path;
    int fd;
    struct stat st;
    if (plan_open_input(path, &fd, &st))
        return CLI_EXIT_DATA;
    int rc = 0;
    if ((uint64_t)st.st_size != it->nbytes) {
        cli_error("%s: changed while being packed", path);
        rc = CLI_EXIT_DATA;
    } else {
        rc = copy_fd(k, it, fd, path);
    }
    close(fd);
    return rc;
}

static int copy_npz(packer *k, const source *s)
{
    char err[768];
    npz_reader *z;
    if (npz_open(s->path, &z, err, sizeof err)) {
        cli_error("%s", err);
        return CLI_EXIT_DATA;
    }
    int rc = 0;
    for (size_t i = s->first; rc == 0 && i < s->first + s->count; i++) {
        const item *it = &k->p->items[i];
        char where[600];
        snprintf(where, sizeof where, "%s: member \"%s\"", s->path, it->member_name);
        const char *member;
        uint64_t size;
        if (npz_entry(z, it->member, &member, &size, err, sizeof err) != 1) {
            cli_error("%s: changed while being packed", s->path);
            rc = CLI_EXIT_DATA;
            break;
        }
        npz_stream *st;
        npy_header h;
        rc = plan_npz_member(z, s->path, it->member, member, size, &st, &h);
        if (rc)
            break;
        rc = same_as_planned(k->p, it, &h, where);
        npy_header_free(&h);
        show_item(k, it);
        if (rc == 0)
            rc = fill_array(k, it, npz_stream_read, st, where);
        uint64_t rest;
        if (rc == 0 && npz_stream_finish(st, &rest, err, sizeof err) != 0) {
            /* reading to the end is where libzip checks the CRC */
            cli_error("%s: %s", where, err);
            rc = CLI_EXIT_DATA;
        }
        npz_stream_close(st);
    }
    npz_close(z);
    return rc;
}

static int copy_meta(packer *k, mmarr_file *f, const item *it)
{
    mmarr_error e;
    mmarr_array_info a;
    if (mmarr_file_array(f, it->member, &a, &e) != MMARR_OK) {
        cli_error("%s", e.message);
        return CLI_EXIT_DATA;
    }
    for (size_t m = 0; m < a.meta_count; m++) {
        const char *key, *val;
        if (mmarr_array_meta(f, it->member, m, &key, &val, &e) != MMARR_OK) {
            cli_error("%s", e.message);
            return CLI_EXIT_DATA;
        }
        if (mmarr_writer_set_array_meta(k->w, it->name, key, val) != MMARR_OK)
            return writer_fail(k);
    }
    return 0;
}

/*
 * A cold input array, decompressed a few whole chunks at a time (mmarr_file_read, on the
 * --threads threads) into the output, hot or cold. Verification happens on the way: the
 * library checks each chunk as it decompresses it (unless the file was opened without), and
 * the whole array is hashed here and compared with its checksum before the output can be
 * committed, so damaged data never gets a fresh, valid checksum and nothing is read twice.
 */
static int copy_from_cold(packer *k, mmarr_file *f, const mmarr_array_info *a, const item *it)
{
    /* whole chunks, so none is decompressed twice: at most 1 GiB (spec.md §10.1) */
    const uint64_t piece = cli_cold_piece(a->chunk_size, a->nbytes, PACK_PIECE);
    int rc = reserve_buf(k, (size_t)piece);
    XXH3_state_t *xs = NULL;
    if (rc == 0 && k->o->verify) {
        xs = XXH3_createState();
        if (!xs)
            rc = cli_oom();
        else
            XXH3_64bits_reset(xs);
    }
    if (rc == 0)
        rc = begin_array(k, it);
    mmarr_file_advise(f, a->index, MMARR_ADVICE_SEQUENTIAL, NULL);
    for (uint64_t at = 0; rc == 0 && at < a->nbytes;) {
        const uint64_t n = a->nbytes - at < piece ? a->nbytes - at : piece;
        mmarr_error e;
        if (cli_interrupted()) {
            rc = CLI_INTERRUPTED;
        } else if (mmarr_file_read(f, a->index, at, k->buf, n, &e) != MMARR_OK) {
            cli_error("%s", e.message); /* names the array, the chunk and its file offset */
            rc = CLI_EXIT_DATA;
        } else {
            if (xs)
                XXH3_64bits_update(xs, k->buf, (size_t)n);
            rc = write_pieces(k, k->buf, n);
        }
        at += n;
    }
    const uint64_t sum = rc == 0 && xs ? XXH3_64bits_digest(xs) : a->checksum;
    if (sum != a->checksum) {
        cli_error("%s: array \"%s\" (cold): checksum mismatch of the decompressed array "
                  "(stored %016llx, computed %016llx)",
                  k->p->src[it->source].path, a->name, (unsigned long long)a->checksum,
                  (unsigned long long)sum);
        rc = CLI_EXIT_DATA;
    }
    XXH3_freeState(xs);
    return rc ? rc : end_array(k);
}

/* A hot input array stored cold: compressed straight from the input's mapping. */
static int copy_hot_to_cold(packer *k, mmarr_file *f, const mmarr_array_info *a, const item *it)
{
    int rc = begin_array(k, it);
    if (rc == 0) {
        mmarr_file_advise(f, a->index, MMARR_ADVICE_SEQUENTIAL, NULL);
        rc = write_pieces(k, a->data, a->nbytes);
    }
    return rc ? rc : end_array(k);
}

/* Whether cold growable array a's checksum is that of its chunk checksums (spec.md §7.8):
 * with each chunk checked against its own as it is read, the whole array is verified. */
static int growable_chunks_ok(mmarr_file *f, const mmarr_array_info *a, const char *path)
{
    XXH3_state_t *xs = XXH3_createState();
    if (!xs)
        return cli_oom();
    XXH3_64bits_reset(xs);
    mmarr_error e;
    for (size_t c = 0; c < a->chunk_count; c++) {
        mmarr_chunk_info ci;
        if (mmarr_file_chunk(f, a->index, c, &ci, &e) != MMARR_OK) {
            XXH3_freeState(xs);
            cli_error("%s", e.message);
            return CLI_EXIT_DATA;
        }
        unsigned char le[8];
        for (int b = 0; b < 8; b++)
            le[b] = (unsigned char)(ci.checksum >> (8 * b));
        XXH3_64bits_update(xs, le, 8);
    }
    const uint64_t sum = XXH3_64bits_digest(xs);
    XXH3_freeState(xs);
    if (sum == a->checksum)
        return 0;
    cli_error("%s: array \"%s\" (cold, growable): the checksum of its chunk checksums "
              "mismatches (stored %016llx, computed %016llx)",
              path, a->name, (unsigned long long)a->checksum, (unsigned long long)sum);
    return CLI_EXIT_DATA;
}

/* A growable input array (format 1.2) stays growable, with its capacity, hot or cold as the
 * plan says: added with no rows, then its rows appended a piece of whole rows at a time
 * (from the mapping of a hot input, decompressed from a cold one). */
static int copy_growable(packer *k, mmarr_file *f, const mmarr_array_info *a, const item *it)
{
    uint64_t shape[MMARR_MAX_DIMS];
    memcpy(shape, item_shape(k->p, it), it->ndim * sizeof *shape);
    const uint64_t rows = shape[0], row = rows ? it->nbytes / rows : 0;
    shape[0] = row ? 0 : rows; /* rows of no bytes: all of them at once, nothing to append */
    const mmarr_err rc0 = it->cold
                              ? mmarr_writer_add_growable_cold(k->w, it->name, it->dtype, it->ndim,
                                                               shape, a->capacity, NULL, &it->copts)
                              : mmarr_writer_add_growable(k->w, it->name, it->dtype, it->ndim,
                                                          shape, a->capacity, NULL);
    if (rc0 != MMARR_OK)
        return writer_fail(k);
    if (!rows || !row)
        return 0;
    /* whole rows, about a piece; cold, whole output chunks too, so that no append leaves a
     * partial chunk the next one compresses again (dead space in a compacted file): a
     * multiple of lcm(row, chunk) bytes, when that stays within 1 GiB */
    uint64_t per = PACK_PIECE / row ? PACK_PIECE / row : 1;
    if (it->cold) {
        const uint64_t cs = it->copts.chunk_size ? it->copts.chunk_size : MMARR_DEFAULT_CHUNK_SIZE;
        uint64_t x = row, y = cs;
        while (y) {
            const uint64_t t = x % y;
            x = y;
            y = t;
        }
        const uint64_t unit = cs / x; /* rows of lcm(row, cs) bytes */
        if (unit <= (1ull << 30) / row)
            per = per / unit ? per / unit * unit : unit;
    }
    int rc = it->in_cold ? reserve_buf(k, (size_t)(per * row)) : 0;
    if (rc == 0 && it->in_cold && k->o->verify)
        rc = growable_chunks_ok(f, a, k->p->src[it->source].path);
    mmarr_file_advise(f, a->index, MMARR_ADVICE_SEQUENTIAL, NULL);
    for (uint64_t r = 0; rc == 0 && r < rows; r += per) {
        const uint64_t n = rows - r < per ? rows - r : per;
        /* hot: from the mapping; cold (no mapping: data is NULL), decompressed into buf */
        const unsigned char *src = it->in_cold ? k->buf : (const unsigned char *)a->data + r * row;
        mmarr_error e;
        if (cli_interrupted()) {
            rc = CLI_INTERRUPTED;
            break;
        }
        if (it->in_cold) {
            if (mmarr_file_read(f, a->index, r * row, k->buf, n * row, &e) != MMARR_OK) {
                cli_error("%s", e.message); /* names the array, the chunk and its offset */
                rc = CLI_EXIT_DATA;
                break;
            }
        }
        if (mmarr_writer_append_rows(k->w, it->name, src, n, n * row) != MMARR_OK)
            rc = writer_fail(k);
        else
            cli_progress_add(&k->prog, n * row);
    }
    return rc;
}

static int copy_mmarr_array(packer *k, mmarr_file *f, const source *s, const item *it)
{
    mmarr_error e;
    mmarr_array_info a;
    if (mmarr_file_array(f, it->member, &a, &e) != MMARR_OK) {
        cli_error("%s", e.message);
        return CLI_EXIT_DATA;
    }
    if (strcmp(a.dtype_str, it->dtype) || a.nbytes != it->nbytes || a.ndim != it->ndim ||
        (a.storage == MMARR_STORAGE_COLD) != it->in_cold) {
        cli_error("%s: changed while being packed", s->path);
        return CLI_EXIT_DATA;
    }
    if (it->in_cold) {
        int rc = a.capacity ? copy_growable(k, f, &a, it) : copy_from_cold(k, f, &a, it);
        return rc ? rc : copy_meta(k, f, it);
    }
    /* verify first: re-packing must not give damaged data a fresh, valid checksum */
    if (k->o->verify && mmarr_file_verify_array(f, it->member, &e) != MMARR_OK) {
        cli_error("%s", e.message);
        return CLI_EXIT_DATA;
    }
    if (it->cold || a.capacity) {
        int rc = a.capacity ? copy_growable(k, f, &a, it) : copy_hot_to_cold(k, f, &a, it);
        return rc ? rc : copy_meta(k, f, it);
    }
    if (it->nbytes <= PACK_PIECE) {
        if (mmarr_writer_add(k->w, it->name, it->dtype, it->ndim, item_shape(k->p, it),
                             it->order, a.data) != MMARR_OK)
            return writer_fail(k);
        cli_progress_add(&k->prog, it->nbytes);
    } else {
        void *dst;
        if (mmarr_writer_reserve(k->w, it->name, it->dtype, it->ndim, item_shape(k->p, it),
                                 it->order, &dst) != MMARR_OK)
            return writer_fail(k);
        mmarr_file_advise(f, it->member, MMARR_ADVICE_SEQUENTIAL, NULL);
        for (uint64_t at = 0; at < it->nbytes;) {
            if (cli_interrupted())
                return CLI_INTERRUPTED;
            const size_t piece =
                it->nbytes - at < PACK_PIECE ? (size_t)(it->nbytes - at) : PACK_PIECE;
            memcpy((unsigned char *)dst + at, (const unsigned char *)a.data + at, piece);
            at += piece;
            cli_progress_add(&k->prog, piece);
        }
    }
    return copy_meta(k, f, it);
}

static int copy_mmarr(packer *k, const source *s)
{
    mmarr_file *f;
    mmarr_error e;
    /* --no-verify: cold chunks are not checked either (corrupt frames still fail) */
    cli_sigbus_file(s->path);
    if (mmarr_open(s->path, k->o->verify ? 0 : MMARR_OPEN_NO_CHUNK_VERIFY, &f, &e) != MMARR_OK) {
        cli_error("%s", e.message);
        return CLI_EXIT_DATA;
    }
    mmarr_file_set_threads(f, k->o->threads);
    int rc = 0;
    for (size_t i = s->first; rc == 0 && i < s->first + s->count; i++) {
        show_item(k, &k->p->items[i]);
        rc = copy_mmarr_array(k, f, s, &k->p->items[i]);
    }
    /* the file's metadata: a later input's value for the same key wins, --meta over all */
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    for (size_t m = 0; rc == 0 && m < fi.meta_count; m++) {
        const char *key, *val;
        if (mmarr_file_meta(f, m, &key, &val, &e) != MMARR_OK) {
            cli_error("%s", e.message);
            rc = CLI_EXIT_DATA;
        } else if (mmarr_writer_set_file_meta(k->w, key, val) != MMARR_OK) {
            rc = writer_fail(k);
        }
    }
    mmarr_close(f);
    return rc;
}

static int copy_source(packer *k, const source *s)
{
    switch (s->kind) {
    case SRC_MMARR:
        return copy_mmarr(k, s);
    case SRC_NPZ:
        return copy_npz(k, s);
    case SRC_NPY: /* one item each */
        show_item(k, &k->p->items[s->first]);
        return copy_npy(k, &k->p->items[s->first]);
    case SRC_RAW:
        show_item(k, &k->p->items[s->first]);
        return copy_raw(k, &k->p->items[s->first]);
    }
    return CLI_EXIT_DATA;
}

static int apply_options_meta(packer *k)
{
    for (size_t i = 0; i < k->o->nmeta; i++)
        if (mmarr_writer_set_file_meta(k->w, k->o->meta[i].key, k->o->meta[i].value) !=
            MMARR_OK)
            return writer_fail(k);
    for (size_t i = 0; i < k->o->narray_meta; i++) {
        const kv *m = &k->o->array_meta[i];
        if (mmarr_writer_set_array_meta(k->w, m->array, m->key, m->value) != MMARR_OK)
            return writer_fail(k);
    }
    return 0;
}

static double ratio(uint64_t raw, uint64_t stored)
{
    return stored ? (double)raw / (double)stored : 1.0;
}

/* -v, after the commit: what each array became, read back from the new file (the writer does
 * not tell a cold array's compressed size before then). */
static void report_tiers(const pack_opts *o)
{
    mmarr_file *f;
    mmarr_error e;
    cli_sigbus_file(o->output);
    if (mmarr_open(o->output, 0, &f, &e) != MMARR_OK) {
        cli_warn("%s", e.message);
        return;
    }
    uint64_t raw = 0, stored = 0;
    size_t ncold = 0;
    const size_t n = mmarr_file_count(f);
    for (size_t i = 0; i < n; i++) {
        mmarr_array_info a;
        if (mmarr_file_array(f, i, &a, &e) != MMARR_OK)
            break;
        char r[MM_SIZE_BUF], s[MM_SIZE_BUF];
        const bool cold = a.storage == MMARR_STORAGE_COLD;
        fprintf(stderr, "%s: %s: %s  %s -> %s  (%.2fx)\n", cli_progname(), a.name,
                cold ? "cold" : "hot", mm_format_size(a.nbytes, r),
                mm_format_size(a.stored_bytes, s), ratio(a.nbytes, a.stored_bytes));
        raw += a.nbytes;
        stored += a.stored_bytes;
        ncold += cold;
    }
    char r[MM_SIZE_BUF], s[MM_SIZE_BUF];
    fprintf(stderr, "%s: %s: %zu array%s, %zu cold: %s -> %s  (%.2fx)\n", cli_progname(),
            o->output, n, n == 1 ? "" : "s", ncold, mm_format_size(raw, r),
            mm_format_size(stored, s), ratio(raw, stored));
    mmarr_close(f);
}

int pack_write(const pack_opts *o, const plan *p)
{
    mmarr_writer_options wo = {0};
    wo.alignment = o->alignment ? o->alignment : p->max_alignment;
    wo.flags = o->force || o->append ? 0 : MMARR_WRITE_NO_REPLACE;
    packer k = {.o = o, .p = p};
    mmarr_error e;
    mmarr_err rc0 = o->append ? mmarr_writer_open_append(o->output, &wo, &k.w, &e)
                              : mmarr_writer_create(o->output, &wo, &k.w, &e);
    if (rc0 != MMARR_OK) {
        cli_error("%s", e.message);
        return CLI_EXIT_DATA;
    }
    int rc = 0;
    for (size_t i = 0; o->append && rc == 0 && i < p->n; i++) { /* inputs replace arrays */
        const mmarr_err d = mmarr_writer_delete(k.w, p->items[i].name);
        if (d != MMARR_OK && d != MMARR_E_NOTFOUND) {
            cli_error("%s", mmarr_writer_error(k.w)->message);
            rc = CLI_EXIT_DATA;
        }
    }
    cli_progress_begin(&k.prog, "packing", p->total, o->quiet);
    for (size_t i = 0; rc == 0 && i < p->nsrc; i++)
        rc = copy_source(&k, &p->src[i]);
    if (rc == 0)
        rc = apply_options_meta(&k);
    if (rc == 0 && cli_interrupted())
        rc = CLI_INTERRUPTED;
    if (rc == 0 && mmarr_writer_commit(k.w) != MMARR_OK) {
        if (mmarr_writer_error(k.w)->code == MMARR_E_EXISTS) { /* created meanwhile */
            cli_error("%s: already exists (use --force to replace it)", o->output);
            rc = CLI_EXIT_DATA;
        } else {
            rc = writer_fail(&k);
        }
    }
    cli_progress_end(&k.prog);
    mmarr_writer_free(k.w); /* removes the temporary unless committed */
    free(k.buf);
    if (rc == 0 && o->verbose)
        report_tiers(o);
    return rc;
}
