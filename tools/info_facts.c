/* SPDX-License-Identifier: MIT */
/* info_facts.c — what mmarr-info's outputs print, gathered through the public API: arrays,
 * page-cache residency, verification outcomes and cold chunks (info.h). */
#include "info.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* raw / stored; 1 when nothing is stored (an empty array is not compressed). */
const char *info_identity(const mmarr_file_info *fi, char buf[INFO_IDENTITY_BUF])
{
    snprintf(buf, INFO_IDENTITY_BUF, "%" PRIu64 "-%" PRIu64 "-%" PRIu64 "-%" PRIu64 "-%016" PRIx64,
             fi->generation, fi->file_size, fi->index_offset, fi->index_size, fi->index_checksum);
    return buf;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

typedef struct live_range {
    uint64_t beg, end, align;
} live_range;

static int cmp_range(const void *x, const void *y)
{
    const live_range *a = x, *b = y;
    return a->beg < b->beg ? -1 : a->beg > b->beg;
}

/* The ranges the generation uses: each array's stored bytes (the reserved region of a hot
 * growable array; each frame of a cold growable one, whose frames may lie apart, spec.md
 * §7.8), with the alignment its placement asks; NULL when out of memory. */
static live_range *live_ranges(mmarr_file *f, const mmarr_file_info *fi, size_t *count)
{
    size_t n = 0, cap = fi->count + 1;
    live_range *r = malloc(cap * sizeof *r);
    for (size_t i = 0; r && i < fi->count; i++) {
        const mmarr_array_info a = info_array(f, i);
        const uint64_t al = a.packed ? 256 : fi->alignment;
        const bool frames = a.capacity && a.storage == MMARR_STORAGE_COLD;
        if (frames && n + a.chunk_count + 1 > cap) {
            cap = (n + a.chunk_count + 1) * 2;
            live_range *g = realloc(r, cap * sizeof *r);
            if (!g) {
                free(r);
                return NULL;
            }
            r = g;
        }
        uint64_t size = a.stored_bytes;
        if (a.capacity && a.storage == MMARR_STORAGE_HOT) { /* its reserved region */
            size = a.itemsize * a.capacity;
            for (unsigned d = 1; d < a.ndim; d++)
                size *= a.shape[d];
        }
        mmarr_chunk_info c;
        mmarr_error e;
        for (size_t k = 0; frames && k < a.chunk_count; k++)
            if (mmarr_file_chunk(f, i, k, &c, &e) == MMARR_OK)
                r[n++] = (live_range){c.stored_offset, c.stored_offset + c.stored_size, al};
        if (!frames || !a.chunk_count)
            r[n++] = (live_range){a.offset, a.offset + size, al};
    }
    *count = n;
    return r;
}

uint64_t info_live_bytes(mmarr_file *f, const mmarr_file_info *fi)
{
    /* walk the generation's ranges in file order (arrays, then the index): a gap no larger
     * than the padding the next range needs is the layout's own (spec.md §9.1); a larger
     * one holds what earlier generations wrote */
    size_t n;
    live_range *r = live_ranges(f, fi, &n);
    if (!r)
        return fi->file_size; /* out of memory: no claim of dead space */
    qsort(r, n, sizeof *r, cmp_range);
    uint64_t dead = 0, at = 512;
    for (size_t i = 0; i < n; i++) {
        const uint64_t start = align_up(at, r[i].align);
        if (r[i].beg > start)
            dead += r[i].beg - start;
        if (align_up(r[i].end, r[i].align) > at) /* its padded range (§9.1) */
            at = align_up(r[i].end, r[i].align);
    }
    free(r);
    if (fi->index_offset > align_up(at, 64))
        dead += fi->index_offset - align_up(at, 64);
    return dead < fi->file_size ? fi->file_size - dead : 0;
}

double info_ratio(const mmarr_array_info *a)
{
    return a->stored_bytes ? (double)a->nbytes / (double)a->stored_bytes : 1.0;
}

const char *info_tier_name(const mmarr_array_info *a)
{
    return a->storage == MMARR_STORAGE_COLD ? "cold" : "hot";
}

const char *info_order_name(const mmarr_array_info *a)
{
    return a->order == MMARR_ORDER_F ? "F" : "C";
}

const char *info_ragged_kind_name(mmarr_ragged_kind k)
{
    return k == MMARR_RAGGED_UTF8 ? "str" : k == MMARR_RAGGED_BYTES ? "bytes" : "arrays";
}

void info_ragged_describe(mmarr_file *f, const mmarr_ragged_info *r, mm_sbuf *sb)
{
    mm_sb_printf(sb, "%" PRIu64 " %s", r->count, info_ragged_kind_name(r->kind));
    if (r->kind != MMARR_RAGGED_ARRAYS)
        return;
    const mmarr_array_info v = info_array(f, r->values);
    mm_sb_printf(sb, " of %s (n", v.dtype_str);
    for (unsigned d = 1; d < v.ndim; d++)
        mm_sb_printf(sb, ", %" PRIu64, v.shape[d]);
    mm_sb_puts(sb, ")");
}

/* A value that cannot be read is a data problem (exit 1), unless this library version just
 * cannot read that kind of array. */
int info_read_failure_rc(const mmarr_error *e)
{
    return e->code == MMARR_E_UNSUPPORTED ? CLI_EXIT_OK : CLI_EXIT_DATA;
}

mmarr_array_info info_array(mmarr_file *f, size_t i)
{
    mmarr_array_info a;
    mmarr_error e;
    if (mmarr_file_array(f, i, &a, &e) != MMARR_OK) {
        cli_error("%s", e.message); /* only an out-of-range index, which cannot happen */
        exit(CLI_EXIT_DATA);
    }
    return a;
}

int info_measure_residency(mmarr_file *f, size_t count, residency *r)
{
    mmarr_error e;
    r->bytes = calloc(count ? count : 1, sizeof *r->bytes);
    if (!r->bytes) {
        return cli_oom();
    }
    for (size_t i = 0; i < count; i++)
        if (mmarr_file_resident(f, i, &r->bytes[i], NULL, &e) != MMARR_OK) {
            cli_error("%s", e.message);
            return CLI_EXIT_DATA;
        }
    if (mmarr_file_resident(f, MMARR_ALL, &r->file_resident, &r->file_total, &e) != MMARR_OK) {
        cli_error("%s", e.message);
        return CLI_EXIT_DATA;
    }
    return CLI_EXIT_OK;
}

const char *const info_vstatus_name[V_NSTATUS] = {"ok",    "mismatch",     "corrupt",
                                                     "stale", "not_verified", "error"};

const char *const info_vstatus_label[V_NSTATUS] = {"OK",    "MISMATCH",     "CORRUPT",
                                                      "STALE", "NOT VERIFIED", "ERROR"};

const char *const info_vstatus_summary[V_NSTATUS] = {
    "ok", "checksum mismatch", "corrupt", "stale", "not verified", "error"};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Verify one array and account for it. Every outcome but OK leaves its message in *e. */
vstatus info_verify_one(mmarr_file *f, const mmarr_array_info *a, vsummary *s, mmarr_error *e)
{
    const double t0 = now_seconds();
    const mmarr_err rc = mmarr_file_verify_array(f, a->index, e);
    s->seconds += now_seconds() - t0;
    vstatus st;
    switch (rc) {
    case MMARR_OK: st = V_OK; break;
    case MMARR_E_CHECKSUM: st = V_MISMATCH; break;
    case MMARR_E_CORRUPT: st = V_CORRUPT; break;
    case MMARR_E_STALE: st = V_STALE; break;
    case MMARR_E_UNSUPPORTED: st = V_NOT_VERIFIED; break;
    default: st = V_ERROR; break;
    }
    if (st == V_OK || st == V_MISMATCH || st == V_STALE)
        s->bytes_hashed += a->nbytes; /* these outcomes hashed the data */
    s->count[st]++;
    s->checked++;
    return st;
}

int info_verify_failed(const vsummary *s)
{
    return s->slot_damaged || s->count[V_OK] != s->checked;
}

/* Chunk k of a cold array; an error (which only an index out of range could cause) is
 * reported and returned as an exit code. */
int info_chunk(mmarr_file *f, const mmarr_array_info *a, size_t k, mmarr_chunk_info *c)
{
    mmarr_error e;
    if (mmarr_file_chunk(f, a->index, k, c, &e) != MMARR_OK) {
        cli_error("%s", e.message);
        return CLI_EXIT_DATA;
    }
    return CLI_EXIT_OK;
}

double info_chunk_ratio(const mmarr_chunk_info *c)
{
    return c->stored_size ? (double)c->raw_size / (double)c->stored_size : 1.0;
}

mmarr_err info_meta(mmarr_file *f, size_t index, size_t i, const char **key, const char **value)
{
    return index == MMARR_ALL ? mmarr_file_meta(f, i, key, value, NULL)
                              : mmarr_array_meta(f, index, i, key, value, NULL);
}
