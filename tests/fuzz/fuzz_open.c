/* SPDX-License-Identifier: MIT */
/*
 * fuzz_open.c — arbitrary bytes as an mmarr file image: open from memory (spec.md §12), walk
 * every array and its metadata, verify, read every array fully (hot and cold) and in part,
 * iterate and decode chunks, map cold arrays (private copies: buffer handles have no cache),
 * and the ragged items (spec.md §7.7): records, offsets, a few items, verification.
 *
 * Each input is opened twice: as given, and "resealed", i.e. with the prologue, slot and
 * index checksums recomputed over the mutated bytes (the fuzzer cannot forge XXH3), so that
 * mutations reach the structural validation's verdict and everything behind a successful
 * open. The resealed image is also opened with MMARR_OPEN_NO_CHUNK_VERIFY, which lets
 * damaged zstd frames reach the decompressor unfiltered by chunk checksums.
 *
 * Invariants checked (an abort is a finding): every call returns a known code and a non-empty
 * message on failure; a successful open describes only bytes inside the buffer (names,
 * metadata, hot data, chunk frames); shapes, sizes and strides agree; find() returns the
 * entry a name belongs to; metadata lookups agree with iteration; hot reads equal the mapped
 * bytes; a cold array that verifies reads back to bytes whose XXH3 is the recorded checksum,
 * and partial reads, chunk reads and mappings agree with full reads; range checks hold; a
 * ragged item's two arrays are what §7.7 allows, offsets handed out hold (0 first, never
 * decreasing, the values' rows last), an item is refused exactly when its own two offsets
 * are out of order or past the rows, and the values of an item with bad offsets never verify.
 *
 * Work is capped per input (arrays over 16 MiB raw or with chunks over 16 MiB are not read;
 * at most 64 MiB is decompressed), so one input cannot take seconds.
 */
#include "fuzz_common.h"

#include <xxhash.h>

#include "mmarr.h"
#include "mmarr_format.h"

#define MAX_ARRAY_BYTES (16u << 20)
#define MAX_TOTAL_BYTES (64u << 20)
#define MAX_CHUNKS_WALKED 4096u

static int known_code(mmarr_err rc)
{
    switch (rc) {
    case MMARR_OK: case MMARR_E_INVAL: case MMARR_E_NOMEM: case MMARR_E_IO:
    case MMARR_E_NOSPACE: case MMARR_E_BADMAGIC: case MMARR_E_VERSION: case MMARR_E_CORRUPT:
    case MMARR_E_CHECKSUM: case MMARR_E_TRUNCATED: case MMARR_E_UNSUPPORTED: case MMARR_E_STALE:
    case MMARR_E_NOTFOUND: case MMARR_E_DTYPE: case MMARR_E_EXISTS: case MMARR_E_RANGE:
    case MMARR_E_READONLY:
    case MMARR_E_BUSY:
    case MMARR_E_STATE: return 1;
    }
    return 0;
}

static void check_err(mmarr_err rc, const mmarr_error *e)
{
    FUZZ_CHECK_MSG(known_code(rc), "code %d", (int)rc);
    if (rc != MMARR_OK) {
        FUZZ_CHECK_MSG(e->code == rc, "code %d, error struct %d", (int)rc, (int)e->code);
        FUZZ_CHECK_MSG(e->message[0] != '\0', "%s with an empty message", mmarr_err_name(rc));
        FUZZ_CHECK(memchr(e->message, '\0', sizeof e->message) != NULL);
    }
}

/* [p, p + n] (n bytes plus the NUL when nul) lies inside the image. */
static int inside(const unsigned char *img, size_t size, const void *p, uint64_t n, int nul)
{
    const unsigned char *c = p;
    if (c < img || c > img + size)
        return 0;
    const uint64_t room = (uint64_t)(img + size - c);
    return nul ? n < room && c[n] == '\0' : n <= room;
}

/* A dtype's fields lie inside its itemsize, recursively. */
static void walk_dtype(const mmarr_dtype *dt, unsigned depth)
{
    FUZZ_CHECK(depth < 256);
    const uint64_t isz = mmarr_dtype_itemsize(dt);
    FUZZ_CHECK(isz >= 1 && isz < (1ull << 31));
    FUZZ_CHECK(mmarr_dtype_str(dt) && mmarr_dtype_str(dt)[0]);
    const char bo = mmarr_dtype_byteorder(dt);
    FUZZ_CHECK(bo == '<' || bo == '>' || bo == '|');
    uint64_t count = 0;
    const char *unit = mmarr_dtype_time_unit(dt, &count);
    const mmarr_kind k = mmarr_dtype_kind(dt);
    FUZZ_CHECK((unit != NULL) == (k == MMARR_KIND_DATETIME || k == MMARR_KIND_TIMEDELTA));
    const size_t nf = mmarr_dtype_nfields(dt);
    FUZZ_CHECK((nf > 0) == (k == MMARR_KIND_STRUCT));
    FUZZ_CHECK(mmarr_dtype_field(dt, nf) == NULL);
    for (size_t i = 0; i < nf; i++) {
        const mmarr_field *fl = mmarr_dtype_field(dt, i);
        FUZZ_CHECK(fl && fl->name && fl->dtype && fl->ndim <= MMARR_MAX_DIMS);
        uint64_t n = mmarr_dtype_itemsize(fl->dtype);
        for (unsigned d = 0; d < fl->ndim; d++)
            FUZZ_CHECK(!__builtin_mul_overflow(n, fl->shape[d], &n));
        FUZZ_CHECK(fl->offset <= isz && n <= isz - fl->offset);
        walk_dtype(fl->dtype, depth + 1);
    }
}

static void check_meta(mmarr_file *f, const unsigned char *img, size_t size, size_t index,
                       size_t count, int file_level)
{
    for (size_t m = 0; m < count; m++) {
        const char *k = NULL, *v = NULL;
        mmarr_error e;
        mmarr_err rc = file_level ? mmarr_file_meta(f, m, &k, &v, &e)
                                  : mmarr_array_meta(f, index, m, &k, &v, &e);
        check_err(rc, &e);
        FUZZ_CHECK(rc == MMARR_OK && k && v);
        FUZZ_CHECK(inside(img, size, k, strlen(k), 1) && inside(img, size, v, strlen(v), 1));
        FUZZ_CHECK(k[0] != '\0');
        const char *got = file_level ? mmarr_file_meta_get(f, k) : mmarr_array_meta_get(f, index, k);
        FUZZ_CHECK(got == v); /* keys are unique within a group */
    }
    const char *k, *v;
    mmarr_error e;
    mmarr_err rc = file_level ? mmarr_file_meta(f, count, &k, &v, &e)
                              : mmarr_array_meta(f, index, count, &k, &v, &e);
    check_err(rc, &e);
    FUZZ_CHECK(rc == MMARR_E_INVAL);
}

/* Cold chunks: descriptions stay inside the array's stored bytes (a cold growable array's:
 * inside the file); decoded chunks agree with the full read (when it succeeded). */
static void check_chunks(mmarr_file *f, const mmarr_array_info *a, const unsigned char *full,
                         uint64_t file_size, uint64_t *budget)
{
    uint64_t raw_sum = 0;
    for (size_t k = 0; k < a->chunk_count && k < MAX_CHUNKS_WALKED; k++) {
        mmarr_chunk_info c;
        mmarr_error e;
        mmarr_err rc = mmarr_file_chunk(f, a->index, k, &c, &e);
        check_err(rc, &e);
        FUZZ_CHECK(rc == MMARR_OK && c.index == k);
        FUZZ_CHECK(c.raw_offset == (uint64_t)k * a->chunk_size);
        FUZZ_CHECK(c.raw_size >= 1 && c.raw_size <= a->chunk_size);
        FUZZ_CHECK(c.raw_offset + c.raw_size <= a->nbytes);
        /* a cold growable array's frames may lie apart, in its extents (spec.md §7.8) */
        const uint64_t end = a->capacity ? file_size : a->offset + a->stored_bytes;
        FUZZ_CHECK(c.stored_size >= 1 && c.stored_offset >= a->offset &&
                   c.stored_offset + c.stored_size <= end);
        raw_sum += c.raw_size;
        if (c.raw_size > *budget)
            continue;
        *budget -= c.raw_size;
        unsigned char *dst = malloc((size_t)c.raw_size);
        FUZZ_CHECK(dst);
        rc = mmarr_file_read_chunk(f, a->index, k, dst, &e);
        check_err(rc, &e);
        if (rc == MMARR_OK && full)
            FUZZ_CHECK(memcmp(dst, full + c.raw_offset, (size_t)c.raw_size) == 0);
        free(dst);
    }
    if (a->chunk_count <= MAX_CHUNKS_WALKED)
        FUZZ_CHECK(raw_sum == a->nbytes);
    mmarr_chunk_info c;
    FUZZ_CHECK(mmarr_file_chunk(f, a->index, a->chunk_count, &c, NULL) == MMARR_E_INVAL);
}

/* XXH3 of the chunk checksums of cold array a (a cold growable array's checksum). */
static uint64_t chunk_sums(mmarr_file *f, const mmarr_array_info *a)
{
    XXH3_state_t *st = XXH3_createState();
    FUZZ_CHECK(st);
    XXH3_64bits_reset(st);
    for (size_t k = 0; k < a->chunk_count; k++) {
        mmarr_chunk_info c;
        FUZZ_CHECK(mmarr_file_chunk(f, a->index, k, &c, NULL) == MMARR_OK);
        XXH3_64bits_update(st, &c.checksum, 8);
    }
    const uint64_t sum = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return sum;
}

static void check_array(mmarr_file *f, const mmarr_file_info *fi, const unsigned char *img,
                        size_t size, size_t i, int chunk_verify, uint64_t *budget)
{
    mmarr_array_info a;
    mmarr_error e;
    mmarr_err rc = mmarr_file_array(f, i, &a, &e);
    check_err(rc, &e);
    FUZZ_CHECK(rc == MMARR_OK && a.index == i);

    /* name, dtype, shape */
    FUZZ_CHECK(a.name && a.name_size >= 1 && strlen(a.name) == a.name_size);
    FUZZ_CHECK(inside(img, size, a.name, a.name_size, 1));
    size_t found = (size_t)-1;
    rc = mmarr_file_find(f, a.name, &found, &e);
    check_err(rc, &e);
    FUZZ_CHECK(rc == MMARR_OK && found == i);
    FUZZ_CHECK(a.dtype && a.dtype_str && strcmp(a.dtype_str, mmarr_dtype_str(a.dtype)) == 0);
    FUZZ_CHECK(a.itemsize == mmarr_dtype_itemsize(a.dtype));
    /* growable (spec.md §7.8): C order; hot, its region inside the file; cold, its frames
     * anywhere in it (placement below) */
    const int hot_growable = a.capacity && a.storage == MMARR_STORAGE_HOT;
    const int cold_growable = a.capacity && a.storage == MMARR_STORAGE_COLD;
    if (a.capacity)
        FUZZ_CHECK(a.order == MMARR_ORDER_C && a.ndim >= 1 && a.capacity >= a.shape[0]);
    if (hot_growable) {
        FUZZ_CHECK(!a.packed);
        uint64_t row = a.itemsize;
        for (unsigned d = 1; d < a.ndim; d++)
            row *= a.shape[d];
        FUZZ_CHECK(row == 0 || a.capacity <= (fi->file_size - a.offset) / row);
    }
    walk_dtype(a.dtype, 0);
    FUZZ_CHECK(a.ndim <= MMARR_MAX_DIMS);
    uint64_t nitems = 1;
    for (unsigned d = 0; d < a.ndim; d++)
        FUZZ_CHECK(!__builtin_mul_overflow(nitems, a.shape[d], &nitems));
    FUZZ_CHECK(a.ndim == 0 || inside(img, size, a.shape, (uint64_t)a.ndim * 8, 0));
    FUZZ_CHECK(nitems == a.nitems);
    uint64_t nbytes;
    FUZZ_CHECK(!__builtin_mul_overflow(nitems, a.itemsize, &nbytes) && nbytes == a.nbytes);
    FUZZ_CHECK(a.nbytes < (1ull << 63));
    FUZZ_CHECK(a.order == MMARR_ORDER_C || a.order == MMARR_ORDER_F);
    if (a.ndim) {
        const unsigned last = a.order == MMARR_ORDER_C ? a.ndim - 1 : 0;
        FUZZ_CHECK(a.strides[last] == (int64_t)a.itemsize);
    }

    /* placement */
    FUZZ_CHECK(a.offset >= 512 || a.stored_bytes == 0);
    FUZZ_CHECK(a.offset <= fi->file_size && a.stored_bytes <= fi->file_size - a.offset);
    if (a.storage == MMARR_STORAGE_HOT) {
        FUZZ_CHECK(a.stored_bytes == a.nbytes && a.data == img + a.offset);
        FUZZ_CHECK(a.chunk_count == 0 && a.chunk_size == 0);
    } else {
        FUZZ_CHECK(a.storage == MMARR_STORAGE_COLD && a.data == NULL);
        FUZZ_CHECK(a.chunk_size >= 1 && a.chunk_size <= (1ull << 30));
        FUZZ_CHECK(a.chunk_count == a.nbytes / a.chunk_size + (a.nbytes % a.chunk_size != 0));
        FUZZ_CHECK(fi->required_features & 1u);
    }

    check_meta(f, img, size, i, a.meta_count, 0);

    /* verification (of the values of a ragged item, also their offsets and text: CORRUPT) */
    mmarr_ragged_info ri;
    const int rag_values = mmarr_file_ragged(f, i, &ri) && ri.values == i;
    mmarr_err vrc = mmarr_file_verify_array(f, i, &e);
    check_err(vrc, &e);
    FUZZ_CHECK(vrc == MMARR_OK || vrc == MMARR_E_CHECKSUM || vrc == MMARR_E_STALE ||
               vrc == MMARR_E_CORRUPT || vrc == MMARR_E_NOMEM);
    if (vrc == MMARR_E_STALE)
        FUZZ_CHECK(fi->checksums_stale);
    if (hot_growable) { /* checksummed by blocks the public API does not show */
        FUZZ_CHECK(vrc != MMARR_E_CORRUPT);
    } else if (a.storage == MMARR_STORAGE_HOT) {
        const int sum_ok = XXH3_64bits(a.data, (size_t)a.nbytes) == a.checksum;
        if (rag_values) /* the checksum first, then the offsets and text */
            FUZZ_CHECK(sum_ok ? vrc == MMARR_OK || vrc == MMARR_E_CORRUPT
                              : vrc != MMARR_OK && vrc != MMARR_E_CORRUPT);
        else
            FUZZ_CHECK(vrc != MMARR_E_CORRUPT && (vrc == MMARR_OK) == sum_ok);
    }

    /* range checks */
    unsigned char one;
    FUZZ_CHECK(mmarr_file_read(f, i, a.nbytes, &one, 1, NULL) == MMARR_E_RANGE);
    FUZZ_CHECK(mmarr_file_read(f, i, a.nbytes + 1, NULL, 0, NULL) == MMARR_E_RANGE);
    FUZZ_CHECK(mmarr_file_read(f, i, 0, NULL, 1, NULL) == MMARR_E_INVAL);
    FUZZ_CHECK(mmarr_file_read(f, i, a.nbytes, NULL, 0, NULL) == MMARR_OK);

    /* full read, within the budget */
    const int skip_cold = a.storage == MMARR_STORAGE_COLD && a.chunk_size > MAX_ARRAY_BYTES;
    if (a.nbytes > MAX_ARRAY_BYTES || a.nbytes > *budget || skip_cold)
        return;
    *budget -= a.nbytes;
    unsigned char *full = malloc(a.nbytes ? (size_t)a.nbytes : 1);
    FUZZ_CHECK(full);
    rc = mmarr_file_read(f, i, 0, full, a.nbytes, &e);
    check_err(rc, &e);
    if (a.storage == MMARR_STORAGE_HOT) {
        FUZZ_CHECK(rc == MMARR_OK);
        FUZZ_CHECK(a.nbytes == 0 || memcmp(full, a.data, (size_t)a.nbytes) == 0);
    } else {
        FUZZ_CHECK(rc == MMARR_OK || rc == MMARR_E_CHECKSUM || rc == MMARR_E_CORRUPT ||
                   rc == MMARR_E_NOMEM);
        /* never wrong data: an array that verifies reads back to its checksum */
        if (vrc == MMARR_OK && chunk_verify)
            FUZZ_CHECK_MSG(rc == MMARR_OK, "verified cold array read fails: %s", e.message);
        if (vrc == MMARR_OK && rc == MMARR_OK && !cold_growable)
            FUZZ_CHECK(XXH3_64bits(full, (size_t)a.nbytes) == a.checksum);
        if (vrc == MMARR_OK && cold_growable) /* the checksum of its chunk checksums */
            FUZZ_CHECK(chunk_sums(f, &a) == a.checksum);
        if (rc == MMARR_OK && chunk_verify && !rag_values)
            FUZZ_CHECK(vrc != MMARR_E_CORRUPT); /* the same frames decode for verify */
    }
    const int full_ok = rc == MMARR_OK;

    /* a partial read agrees with the full one */
    if (a.nbytes) {
        const uint64_t off = a.nbytes / 3, n = a.nbytes - off < 4099 ? a.nbytes - off : 4099;
        unsigned char *part = malloc((size_t)n + 1);
        FUZZ_CHECK(part);
        rc = mmarr_file_read(f, i, off, part, n, &e);
        check_err(rc, &e);
        if (full_ok && chunk_verify)
            FUZZ_CHECK_MSG(rc == MMARR_OK, "partial read fails after a full read: %s",
                           e.message);
        if (full_ok && rc == MMARR_OK)
            FUZZ_CHECK(memcmp(part, full + off, (size_t)n) == 0);
        free(part);
    }

    if (a.storage == MMARR_STORAGE_COLD) {
        check_chunks(f, &a, full_ok ? full : NULL, fi->file_size, budget);
        if (a.nbytes <= *budget) {
            *budget -= a.nbytes;
            const void *p = NULL;
            rc = mmarr_file_map(f, i, &p, &e);
            check_err(rc, &e);
            if (rc == MMARR_OK) {
                FUZZ_CHECK(p != NULL);
                if (full_ok && a.nbytes)
                    FUZZ_CHECK(memcmp(p, full, (size_t)a.nbytes) == 0);
                mmarr_map_info mi;
                FUZZ_CHECK(mmarr_file_map_info(f, i, &mi, NULL) == MMARR_OK);
                FUZZ_CHECK(mi.data == p && mi.bytes == a.nbytes);
                FUZZ_CHECK(mi.source == MMARR_MAP_PRIVATE);
            } else if (full_ok && chunk_verify) {
                FUZZ_CHECK_MSG(rc == MMARR_E_NOMEM, "map fails after a full read: %s",
                               e.message);
            }
        }
    } else {
        mmarr_chunk_info c;
        FUZZ_CHECK(mmarr_file_chunk(f, i, 0, &c, NULL) == MMARR_E_INVAL);
        const void *p = NULL;
        FUZZ_CHECK(mmarr_file_map(f, i, &p, NULL) == MMARR_OK && p == a.data);
    }
    free(full);
}

/* A ragged item: its two arrays, its offsets, a few of its items (spec.md §7.7). */
static void check_ragged_item(mmarr_file *f, const mmarr_ragged_info *r)
{
    mmarr_array_info va, oa;
    mmarr_error e;
    FUZZ_CHECK(mmarr_file_array(f, r->values, &va, NULL) == MMARR_OK);
    FUZZ_CHECK(mmarr_file_array(f, r->offsets, &oa, NULL) == MMARR_OK);
    /* the two arrays, as the index validation let them through */
    FUZZ_CHECK(strcmp(oa.dtype_str, "<u8") == 0 && oa.ndim == 1 && oa.shape[0] >= 1);
    FUZZ_CHECK(oa.storage == MMARR_STORAGE_HOT && r->count == oa.shape[0] - 1);
    FUZZ_CHECK(va.ndim >= 1 && (va.ndim == 1 || va.order == MMARR_ORDER_C));
    if (r->kind != MMARR_RAGGED_ARRAYS)
        FUZZ_CHECK(strcmp(va.dtype_str, "|u1") == 0 && va.ndim == 1);
    const uint64_t rows = va.shape[0], n = oa.shape[0];
    const uint64_t *mem = oa.data; /* inside the image: checked by check_array */

    const uint64_t *p = (const uint64_t *)1;
    mmarr_err orc = mmarr_file_ragged_offsets(f, r->values, &p, &e);
    check_err(orc, &e);
    FUZZ_CHECK(orc == MMARR_OK || orc == MMARR_E_CORRUPT);
    if (orc == MMARR_OK) {
        FUZZ_CHECK(p == mem && p[0] == 0 && p[n - 1] == rows);
        for (uint64_t i = 1; i < n; i++)
            FUZZ_CHECK(p[i - 1] <= p[i]);
        mmarr_err again = mmarr_file_ragged_offsets(f, r->values, &p, NULL);
        FUZZ_CHECK(again == MMARR_OK && p == mem);
    } else {
        FUZZ_CHECK(p == NULL);
        FUZZ_CHECK(e.offset >= oa.offset && e.offset < oa.offset + 8 * n &&
                   (e.offset - oa.offset) % 8 == 0);
        const uint64_t el = (e.offset - oa.offset) / 8;
        /* the element named is the first that breaks the rules */
        FUZZ_CHECK(mem[el] > rows || (el == 0 ? mem[0] != 0 : mem[el] < mem[el - 1]) ||
                   (el == n - 1 && mem[el] != rows));
        FUZZ_CHECK(el == 0 || mem[0] == 0);
        for (uint64_t i = 1; i < el; i++)
            FUZZ_CHECK(mem[i - 1] <= mem[i] && mem[i] <= rows);
    }
    FUZZ_CHECK(mmarr_file_ragged_offsets(f, r->values, NULL, NULL) == MMARR_E_INVAL);
    FUZZ_CHECK(mmarr_file_ragged_offsets(f, r->offsets, &p, NULL) == MMARR_E_INVAL && !p);

    /* a few items: the first two, the middle, the last, one past */
    const uint64_t c = r->count, pick[5] = {0, 1, c / 2, c ? c - 1 : 0, c};
    for (size_t t = 0; t < 5; t++) {
        const uint64_t i = pick[t];
        uint64_t start = 7, stop = 7;
        mmarr_err rc = mmarr_file_ragged_item(f, r->values, i, &start, &stop, &e);
        check_err(rc, &e);
        if (i >= c) {
            FUZZ_CHECK(rc == MMARR_E_RANGE);
            continue;
        }
        const int bad = mem[i] > mem[i + 1] || mem[i + 1] > rows;
        if (bad) {
            FUZZ_CHECK(rc == MMARR_E_CORRUPT && e.offset == oa.offset + 8 * i);
            FUZZ_CHECK(orc == MMARR_E_CORRUPT);
        } else {
            FUZZ_CHECK(rc == MMARR_OK && start == mem[i] && stop == mem[i + 1]);
        }
    }
    uint64_t start;
    FUZZ_CHECK(mmarr_file_ragged_item(f, r->values, 0, &start, NULL, NULL) == MMARR_E_INVAL);
    FUZZ_CHECK(mmarr_file_ragged_item(f, r->offsets, 0, &start, &start, NULL) == MMARR_E_INVAL);

    /* values whose offsets do not hold never verify */
    mmarr_err vrc = mmarr_file_verify_array(f, r->values, &e);
    check_err(vrc, &e);
    if (orc != MMARR_OK)
        FUZZ_CHECK(vrc != MMARR_OK);
}

/* Every ragged item: records in order of their values, each array in one record at most. */
static void check_ragged(mmarr_file *f, const mmarr_file_info *fi)
{
    const size_t n = mmarr_file_ragged_count(f);
    FUZZ_CHECK(n <= fi->count / 2);
    if (n)
        FUZZ_CHECK(fi->optional_features & 1u);
    mmarr_ragged_info r, prev = {0};
    FUZZ_CHECK(mmarr_file_ragged_at(f, n, &r) == 0);
    for (size_t k = 0; k < n; k++) {
        FUZZ_CHECK(mmarr_file_ragged_at(f, k, &r) == 1);
        FUZZ_CHECK(r.values < fi->count && r.offsets < fi->count && r.values != r.offsets);
        FUZZ_CHECK(r.kind == MMARR_RAGGED_ARRAYS || r.kind == MMARR_RAGGED_UTF8 ||
                   r.kind == MMARR_RAGGED_BYTES);
        FUZZ_CHECK(k == 0 || r.values > prev.values);
        mmarr_ragged_info x;
        for (int side = 0; side < 2; side++) {
            FUZZ_CHECK(mmarr_file_ragged(f, side ? r.offsets : r.values, &x) == 1);
            FUZZ_CHECK(x.values == r.values && x.offsets == r.offsets && x.count == r.count &&
                       x.kind == r.kind);
        }
        check_ragged_item(f, &r);
        prev = r;
    }
    size_t members = 0;
    for (size_t i = 0; i < fi->count; i++) {
        mmarr_ragged_info x;
        if (mmarr_file_ragged(f, i, &x)) {
            FUZZ_CHECK(x.values == i || x.offsets == i);
            members++;
        } else {
            const uint64_t *p = (const uint64_t *)1;
            FUZZ_CHECK(mmarr_file_ragged_offsets(f, i, &p, NULL) == MMARR_E_INVAL && !p);
        }
    }
    FUZZ_CHECK(members == 2 * n);
    FUZZ_CHECK(mmarr_file_ragged(f, fi->count, &r) == 0);
}

static void exercise(const unsigned char *img, size_t size, unsigned flags)
{
    mmarr_file *f = NULL;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    mmarr_err rc = mmarr_open_buffer(img, size, flags, &f, &e);
    check_err(rc, &e);
    if (rc != MMARR_OK) {
        FUZZ_CHECK(f == NULL);
        return;
    }
    FUZZ_CHECK(f != NULL);
    mmarr_file_set_threads(f, 1);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    FUZZ_CHECK(fi.count == mmarr_file_count(f));
    FUZZ_CHECK(fi.file_size >= 512 && fi.file_size <= size);
    FUZZ_CHECK(fi.index_offset >= 512 && fi.index_size >= 192 &&
               fi.index_offset + fi.index_size <= fi.file_size);
    FUZZ_CHECK(fi.alignment >= 4096 && fi.alignment <= (2u << 20) &&
               !(fi.alignment & (fi.alignment - 1)));
    FUZZ_CHECK(fi.generation >= 1 && !fi.writable && fi.format_major == 1);
    FUZZ_CHECK(!(fi.required_features & ~3ull)); /* COLD_ZSTD, GROWABLE (1.2) */
    /* each array takes at least a 48-byte entry, a 4-byte order slot and an 8-byte name record */
    FUZZ_CHECK(fi.count <= fi.index_size / 60);

    uint64_t budget = MAX_TOTAL_BYTES;
    for (size_t i = 0; i < fi.count; i++)
        check_array(f, &fi, img, size, i, !(flags & MMARR_OPEN_NO_CHUNK_VERIFY), &budget);
    check_meta(f, img, size, 0, fi.meta_count, 1);
    check_ragged(f, &fi);

    mmarr_array_info a;
    FUZZ_CHECK(mmarr_file_array(f, fi.count, &a, NULL) == MMARR_E_INVAL);
    size_t idx;
    rc = mmarr_file_find(f, "\xff not a valid name", &idx, &e);
    check_err(rc, &e);
    FUZZ_CHECK(rc == MMARR_E_NOTFOUND);

    rc = mmarr_file_verify(f, &e);
    check_err(rc, &e);
    FUZZ_CHECK(rc == MMARR_OK || rc == MMARR_E_CHECKSUM || rc == MMARR_E_STALE ||
               rc == MMARR_E_CORRUPT || rc == MMARR_E_NOMEM ||
               (rc == MMARR_E_TRUNCATED && fi.damaged_generation)); /* spec.md §4.4 */
    if (fi.inactive_slot_damaged)
        FUZZ_CHECK(rc == MMARR_E_CHECKSUM);
    mmarr_error last;
    mmarr_file_last_error(f, &last);
    check_err(last.code, &last);
    mmarr_close(f);
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static uint64_t get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Recompute the prologue, index and slot checksums (spec.md §4.1, §4.2) over the bytes as
 * they are. Returns 0 if the image is too short or has no magic (nothing to reseal). */
static int reseal(unsigned char *img, size_t size)
{
    if (size < MMARR_SUPERBLOCK_SIZE || memcmp(img, MMARR_MAGIC, MMARR_MAGIC_SIZE) != 0)
        return 0;
    put64(img + 56, XXH3_64bits(img, 56));
    const size_t slots[2] = {MMARR_SLOT_A_OFFSET, MMARR_SLOT_B_OFFSET};
    for (int s = 0; s < 2; s++) {
        unsigned char *sl = img + slots[s];
        if (all_zero(sl, 128))
            continue;
        const uint64_t io = get64(sl + 16), is = get64(sl + 24);
        if (io <= size && is <= size - io)
            put64(sl + 32, XXH3_64bits(img + io, (size_t)is));
        put64(sl + 120, XXH3_64bits(sl, 120));
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* mmarr_open_buffer needs 8-byte alignment; an exact-size heap copy also lets ASan see
     * any read past the end */
    unsigned char *img = calloc(1, size ? size : 1);
    FUZZ_CHECK(img);
    if (size)
        memcpy(img, data, size);
    exercise(img, size, 0);
    if (reseal(img, size)) {
        exercise(img, size, 0);
        exercise(img, size, MMARR_OPEN_NO_CHUNK_VERIFY);
    }
    free(img);
    return 0;
}
