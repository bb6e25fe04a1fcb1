/* SPDX-License-Identifier: MIT */
/*
 * test_ragged.c — ragged items (spec.md §7.7, format 1.1): the writer's round trip through
 * mmarr_writer_add, _reserve, a stream and cold values, read back through every accessor and
 * both open paths; the format version a file gets; the writer's refusals of its caller and of
 * bad offsets at commit; damaged ragged records and sections (§12 rule 8), refused at open
 * unless the RAGGED bit is clear; damaged offsets and text, which are data: found by the item
 * accessors and verification, never at open; handles whose memory may change (copy-on-write,
 * read-write), whose offsets are checked at every call.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "mmarr.h"
#include "mmarr_format.h"
#include "testimg.h"
#include "testutil.h"

/* ---------------------------------------------------------------------------------------- */
/* The sample file                                                                           */

/* Its arrays, in entry order: four ragged items (values, then offsets) among plain arrays;
 * the spare arrays are plain, for the damaged-record cases to point records at. */
enum {
    E_PLAIN,      /* <i4 (100,) */
    E_PTS,        /* <f4 (10, 3), ARRAYS, 5 items, two of them empty */
    E_PTS_OFF,    /* <u8 (6,) */
    E_TXT,        /* |u1, UTF8, 5 items (one empty, one with a NUL) */
    E_TXT_OFF,    /* <u8 (6,) */
    E_BLOB,       /* |u1, BYTES, 3 items */
    E_BLOB_OFF,   /* <u8 (4,) */
    E_NONE,       /* <i8 (0,), ARRAYS, no items */
    E_NONE_OFF,   /* <u8 (1,) = [0] */
    E_SP_I8,      /* <i8 (6,) */
    E_SP_U8GRID,  /* <u8 (2, 2) */
    E_SP_U8EMPTY, /* <u8 (0,) */
    E_SP_U8COLD,  /* <u8 (3,), cold */
    E_SP_SCALAR,  /* <f4 () */
    E_SP_U1GRID,  /* |u1 (2, 2) */
    E_COUNT
};

/* How the ragged items' arrays are written. */
typedef enum {
    RAG_ADD,     /* mmarr_writer_add */
    RAG_RESERVE, /* mmarr_writer_reserve, filled after mmarr_writer_ragged */
    RAG_STREAM,  /* mmarr_writer_begin / _write / _end, in pieces */
    RAG_COLD     /* values with mmarr_writer_add_cold (small chunks), offsets added */
} rag_mode;

#define PTS_ROWS 10
#define PTS_COLS 3
static const uint64_t pts_off[6] = {0, 3, 3, 7, 10, 10};

typedef struct bytes_item {
    const char *s;
    size_t n;
} bytes_item;

static const bytes_item txt_items[5] = {
    {"h\xc3\xa9llo", 6},               /* héllo */
    {"", 0},                           /* empty */
    {"w\xc3\xb6rld \xe2\x9c\x93", 10}, /* wörld ✓ */
    {"a\0b", 3},                       /* NUL is allowed in UTF8 items */
    {"\xf0\x9d\x84\x9e", 4},           /* U+1D11E, four bytes */
};
static const bytes_item blob_items[3] = {
    {"\x00\xff\x10", 3}, {"", 0}, {"\xc0\x80", 2}, /* not UTF-8: fine for BYTES */
};

typedef struct joined {
    unsigned char vals[64];
    uint64_t off[8];
    uint64_t rows;
    size_t count;
} joined;

static void join(const bytes_item *items, size_t n, joined *j)
{
    memset(j, 0, sizeof *j);
    j->count = n;
    for (size_t i = 0; i < n; i++) {
        memcpy(j->vals + j->rows, items[i].s, items[i].n);
        j->rows += items[i].n;
        j->off[i + 1] = j->rows;
    }
}

static void pts_values(float *v)
{
    for (size_t r = 0; r < PTS_ROWS; r++)
        for (size_t c = 0; c < PTS_COLS; c++)
            v[r * PTS_COLS + c] = (float)r * 10.0f + (float)c + 0.5f;
}

static mmarr_writer *writer_new(const char *path)
{
    mmarr_writer_options o;
    memset(&o, 0, sizeof o);
    o.flags = MMARR_WRITE_NO_SYNC;
    mmarr_writer *w = NULL;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    assert_code(mmarr_writer_create(path, &o, &w, &e), MMARR_OK, e.message);
    assert_non_null(w);
    return w;
}

/* A writer call failed with `want`, its message containing frag (unless NULL). */
static void assert_writer_err(mmarr_writer *w, mmarr_err rc, mmarr_err want, const char *frag)
{
    const mmarr_error *e = mmarr_writer_error(w);
    assert_code(rc, want, e->message);
    assert_int_equal(e->code, want);
    assert_true(e->message[0] != '\0');
    if (frag)
        assert_msg_has(e->message, frag);
}

/* A reserved array filled after the mmarr_writer_ragged calls. */
typedef struct pending {
    void *dst;
    const void *src;
    size_t n;
} pending;

/* Add one array of a ragged item the way `mode` says. */
static void put(mmarr_writer *w, rag_mode mode, int is_values, const char *name, const char *dtype,
                unsigned ndim, const uint64_t *shape, const void *data, size_t nbytes,
                pending *later, size_t *nlater)
{
    mmarr_err rc = MMARR_OK;
    if (mode == RAG_RESERVE) {
        void *p = NULL;
        rc = mmarr_writer_reserve(w, name, dtype, ndim, shape, MMARR_ORDER_C, &p);
        assert_code(rc, MMARR_OK, mmarr_writer_error(w)->message);
        assert_true((p != NULL) == (nbytes != 0));
        later[(*nlater)++] = (pending){p, data, nbytes};
    } else if (mode == RAG_STREAM) {
        rc = mmarr_writer_begin(w, name, dtype, ndim, shape, MMARR_ORDER_C, NULL);
        assert_code(rc, MMARR_OK, mmarr_writer_error(w)->message);
        const size_t first = nbytes > 8 ? 8 : nbytes / 2; /* one element, then the rest */
        const unsigned char *rest = data ? (const unsigned char *)data + first : NULL;
        assert_code(mmarr_writer_write(w, data, first), MMARR_OK, mmarr_writer_error(w)->message);
        assert_code(mmarr_writer_write(w, rest, nbytes - first), MMARR_OK,
                    mmarr_writer_error(w)->message);
        assert_code(mmarr_writer_end(w), MMARR_OK, mmarr_writer_error(w)->message);
    } else if (mode == RAG_COLD && is_values) {
        mmarr_compress_options co;
        memset(&co, 0, sizeof co);
        co.chunk_size = 16; /* several chunks, an item spanning two */
        co.threads = 1;
        rc = mmarr_writer_add_cold(w, name, dtype, ndim, shape, MMARR_ORDER_C, data, &co);
        assert_code(rc, MMARR_OK, mmarr_writer_error(w)->message);
    } else {
        writer_add_ok(w, name, dtype, ndim, shape, data);
    }
}

static void ragged_ok(mmarr_writer *w, const char *values, const char *offsets,
                      mmarr_ragged_kind kind)
{
    mmarr_err rc = mmarr_writer_ragged(w, values, offsets, kind);
    assert_code(rc, MMARR_OK, mmarr_writer_error(w)->message);
}

/* Write the sample file (see the enum above) to path. */
static void write_sample(const char *path, rag_mode mode)
{
    mmarr_writer *w = writer_new(path);
    pending later[8];
    size_t nlater = 0;
    int32_t plain[100];
    for (int i = 0; i < 100; i++)
        plain[i] = i * 7 - 300;
    uint64_t s100[1] = {100};
    writer_add_ok(w, "plain", "<i4", 1, s100, plain);

    static float pts[PTS_ROWS * PTS_COLS];
    pts_values(pts);
    uint64_t spts[2] = {PTS_ROWS, PTS_COLS}, s6[1] = {6};
    put(w, mode, 1, "pts", "<f4", 2, spts, pts, sizeof pts, later, &nlater);
    put(w, mode, 0, "pts/offsets", "<u8", 1, s6, pts_off, sizeof pts_off, later, &nlater);

    static joined txt, blob;
    join(txt_items, 5, &txt);
    join(blob_items, 3, &blob);
    uint64_t stxt[1] = {txt.rows}, stxto[1] = {txt.count + 1};
    put(w, mode, 1, "txt", "|u1", 1, stxt, txt.vals, (size_t)txt.rows, later, &nlater);
    put(w, mode, 0, "txt/offsets", "<u8", 1, stxto, txt.off, 8 * (txt.count + 1), later, &nlater);
    uint64_t sblob[1] = {blob.rows}, sblobo[1] = {blob.count + 1};
    put(w, mode, 1, "blob", "|u1", 1, sblob, blob.vals, (size_t)blob.rows, later, &nlater);
    put(w, mode, 0, "blob/offsets", "<u8", 1, sblobo, blob.off, 8 * (blob.count + 1), later,
        &nlater);

    static const uint64_t zero[1] = {0};
    uint64_t s0[1] = {0}, s1[1] = {1};
    put(w, mode, 1, "none", "<i8", 1, s0, NULL, 0, later, &nlater);
    put(w, mode, 0, "none/offsets", "<u8", 1, s1, zero, 8, later, &nlater);

    /* spares, plain arrays */
    static const int64_t i8[6] = {0, 3, 3, 7, 10, 10};
    static const uint64_t u8[4] = {0, 1, 1, 2};
    static const float scalar = 2.5f;
    static const unsigned char u1[4] = {'a', 'b', 'c', 'd'};
    uint64_t s22[2] = {2, 2}, s3[1] = {3};
    writer_add_ok(w, "spare/i8", "<i8", 1, s6, i8);
    writer_add_ok(w, "spare/u8grid", "<u8", 2, s22, u8);
    writer_add_ok(w, "spare/u8empty", "<u8", 1, s0, NULL);
    assert_code(mmarr_writer_add_cold(w, "spare/u8cold", "<u8", 1, s3, MMARR_ORDER_C, u8, NULL),
                MMARR_OK, mmarr_writer_error(w)->message);
    writer_add_ok(w, "spare/scalar", "<f4", 0, NULL, &scalar);
    writer_add_ok(w, "spare/u1grid", "|u1", 2, s22, u1);
    assert_int_equal(mmarr_writer_count(w), E_COUNT);

    /* in another order than the file's: the records are sorted by values */
    ragged_ok(w, "none", "none/offsets", MMARR_RAGGED_ARRAYS);
    ragged_ok(w, "blob", "blob/offsets", MMARR_RAGGED_BYTES);
    ragged_ok(w, "pts", "pts/offsets", MMARR_RAGGED_ARRAYS);
    ragged_ok(w, "txt", "txt/offsets", MMARR_RAGGED_UTF8);
    for (size_t i = 0; i < nlater; i++)
        if (later[i].n)
            memcpy(later[i].dst, later[i].src, later[i].n);
    writer_commit_ok(w);
}

/* The expected items of record k of the sample: values entry, offsets, kind, content. */
typedef struct expect_item {
    size_t values, offsets;
    mmarr_ragged_kind kind;
    uint64_t count, rows, row_bytes;
    const uint64_t *off;
    const unsigned char *vals;
} expect_item;

static void sample_expect(expect_item ex[4])
{
    static float pts[PTS_ROWS * PTS_COLS];
    static joined txt, blob;
    static const uint64_t zero[1] = {0};
    pts_values(pts);
    join(txt_items, 5, &txt);
    join(blob_items, 3, &blob);
    ex[0] = (expect_item){E_PTS,        E_PTS_OFF, MMARR_RAGGED_ARRAYS,       5, PTS_ROWS,
                          4 * PTS_COLS, pts_off,   (const unsigned char *)pts};
    ex[1] = (expect_item){E_TXT, E_TXT_OFF, MMARR_RAGGED_UTF8, 5, txt.rows, 1, txt.off, txt.vals};
    ex[2] = (expect_item){E_BLOB,    E_BLOB_OFF, MMARR_RAGGED_BYTES, 3,
                          blob.rows, 1,          blob.off,           blob.vals};
    ex[3] = (expect_item){E_NONE, E_NONE_OFF, MMARR_RAGGED_ARRAYS, 0, 0, 8, zero, NULL};
}

static void assert_same_info(const mmarr_ragged_info *a, const mmarr_ragged_info *b)
{
    assert_int_equal(a->values, b->values);
    assert_int_equal(a->offsets, b->offsets);
    assert_int_equal(a->count, b->count);
    assert_int_equal(a->kind, b->kind);
}

/* Everything a reader can ask about the sample's ragged items. */
static void check_sample(mmarr_file *f, rag_mode mode)
{
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    assert_int_equal(fi.format_major, 1);
    assert_int_equal(fi.format_minor, 1);
    assert_int_equal(fi.optional_features, MMARR_FEAT_OPT_RAGGED);
    assert_int_equal(fi.count, E_COUNT);
    assert_int_equal(mmarr_file_ragged_count(f), 4);

    expect_item ex[4];
    sample_expect(ex);
    mmarr_error e;
    for (size_t k = 0; k < 4; k++) {
        const expect_item *x = &ex[k];
        mmarr_ragged_info ri;
        memset(&ri, 0xAB, sizeof ri);
        assert_int_equal(mmarr_file_ragged_at(f, k, &ri), 1);
        assert_int_equal(ri.values, x->values);
        assert_int_equal(ri.offsets, x->offsets);
        assert_int_equal(ri.count, x->count);
        assert_int_equal(ri.kind, x->kind);
        assert_int_equal(mmarr_file_ragged_at(f, k, NULL), 1);
        /* the same record through either of its arrays */
        mmarr_ragged_info rv, ro;
        assert_int_equal(mmarr_file_ragged(f, x->values, &rv), 1);
        assert_int_equal(mmarr_file_ragged(f, x->offsets, &ro), 1);
        assert_same_info(&rv, &ri);
        assert_same_info(&ro, &ri);

        /* both arrays stay ordinary arrays */
        mmarr_array_info va, oa;
        assert_code(mmarr_file_array(f, x->values, &va, &e), MMARR_OK, e.message);
        assert_code(mmarr_file_array(f, x->offsets, &oa, &e), MMARR_OK, e.message);
        ASSERT_STR(oa.dtype_str, "<u8");
        assert_int_equal(oa.ndim, 1);
        assert_int_equal(oa.shape[0], x->count + 1);
        assert_int_equal(oa.storage, MMARR_STORAGE_HOT);
        assert_int_equal(va.shape[0], x->rows);
        assert_int_equal(va.storage, mode == RAG_COLD ? MMARR_STORAGE_COLD : MMARR_STORAGE_HOT);
        char want_name[64];
        snprintf(want_name, sizeof want_name, "%s/offsets", va.name);
        ASSERT_STR(oa.name, want_name);
        size_t found = 99;
        assert_code(mmarr_file_find(f, va.name, &found, &e), MMARR_OK, e.message);
        assert_int_equal(found, x->values);

        /* the offsets: in the mapping, as written; twice (the second from the handle's
         * record of the check for a read-only handle) */
        for (int rep = 0; rep < 2; rep++) {
            const uint64_t *off = (const uint64_t *)1;
            assert_code(mmarr_file_ragged_offsets(f, x->values, &off, &e), MMARR_OK, e.message);
            assert_non_null(off);
            assert_ptr_equal(off, oa.data);
            assert_memory_equal(off, x->off, 8 * (x->count + 1));
        }

        /* every item, through mmarr_file_ragged_item, read back (hot: also in place) */
        unsigned char *all = malloc(va.nbytes + 1);
        assert_non_null(all);
        assert_code(mmarr_file_read(f, x->values, 0, all, va.nbytes, &e), MMARR_OK, e.message);
        if (x->rows)
            assert_memory_equal(all, x->vals, (size_t)va.nbytes);
        for (uint64_t i = 0; i < x->count; i++) {
            uint64_t start = 99, stop = 99;
            assert_code(mmarr_file_ragged_item(f, x->values, i, &start, &stop, &e), MMARR_OK,
                        e.message);
            assert_int_equal(start, x->off[i]);
            assert_int_equal(stop, x->off[i + 1]);
            const uint64_t at = start * x->row_bytes, n = (stop - start) * x->row_bytes;
            unsigned char item[64];
            assert_true(n <= sizeof item);
            assert_code(mmarr_file_read(f, x->values, at, item, n, &e), MMARR_OK, e.message);
            assert_memory_equal(item, x->vals + at, (size_t)n);
            if (va.storage == MMARR_STORAGE_HOT && n)
                assert_memory_equal((const unsigned char *)va.data + at, x->vals + at, (size_t)n);
        }
        if (x->kind == MMARR_RAGGED_UTF8)
            for (size_t i = 0; i < 5; i++)
                assert_memory_equal(all + x->off[i], txt_items[i].s, txt_items[i].n);
        free(all);
        uint64_t start, stop;
        assert_code(mmarr_file_ragged_item(f, x->values, x->count, &start, &stop, &e),
                    MMARR_E_RANGE, e.message);
        assert_code(mmarr_file_ragged_item(f, x->values, UINT64_MAX, &start, &stop, &e),
                    MMARR_E_RANGE, e.message);
        if (x->count) {
            assert_code(mmarr_file_ragged_item(f, x->values, 0, NULL, &stop, &e), MMARR_E_INVAL,
                        e.message);
            assert_code(mmarr_file_ragged_item(f, x->values, 0, &start, NULL, &e), MMARR_E_INVAL,
                        e.message);
        }
        /* the offsets are not an item */
        const uint64_t *off = (const uint64_t *)1;
        assert_code(mmarr_file_ragged_offsets(f, x->offsets, &off, &e), MMARR_E_INVAL, e.message);
        assert_null(off);
        assert_code(mmarr_file_ragged_item(f, x->offsets, 0, &start, &stop, &e), MMARR_E_INVAL,
                    e.message);
        assert_code(mmarr_file_ragged_offsets(f, x->values, NULL, &e), MMARR_E_INVAL, e.message);
        assert_code(mmarr_file_verify_array(f, x->values, &e), MMARR_OK, e.message);
        assert_code(mmarr_file_verify_array(f, x->offsets, &e), MMARR_OK, e.message);
    }
    mmarr_ragged_info ri;
    memset(&ri, 0x5A, sizeof ri);
    mmarr_ragged_info untouched = ri;
    assert_int_equal(mmarr_file_ragged_at(f, 4, &ri), 0);
    assert_int_equal(mmarr_file_ragged_at(f, SIZE_MAX, &ri), 0);
    assert_memory_equal(&ri, &untouched, sizeof ri);

    /* plain arrays are no part of any item */
    static const size_t plain[] = {E_PLAIN,     E_SP_I8,     E_SP_U8GRID, E_SP_U8EMPTY,
                                   E_SP_U8COLD, E_SP_SCALAR, E_SP_U1GRID};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        assert_int_equal(mmarr_file_ragged(f, plain[i], &ri), 0);
        const uint64_t *off = (const uint64_t *)1;
        assert_code(mmarr_file_ragged_offsets(f, plain[i], &off, &e), MMARR_E_INVAL, e.message);
        assert_null(off);
        uint64_t start, stop;
        assert_code(mmarr_file_ragged_item(f, plain[i], 0, &start, &stop, &e), MMARR_E_INVAL,
                    e.message);
    }
    assert_memory_equal(&ri, &untouched, sizeof ri);
    assert_int_equal(mmarr_file_ragged(f, E_COUNT, &ri), 0);
    assert_int_equal(mmarr_file_ragged(f, SIZE_MAX, NULL), 0);
    const uint64_t *off;
    assert_code(mmarr_file_ragged_offsets(f, E_COUNT, &off, &e), MMARR_E_INVAL, e.message);
    uint64_t start, stop;
    assert_code(mmarr_file_ragged_item(f, SIZE_MAX, 0, &start, &stop, &e), MMARR_E_INVAL,
                e.message);

    assert_code(mmarr_file_verify(f, &e), MMARR_OK, e.message);
}

static void roundtrip(void **state, rag_mode mode)
{
    char *path = tu_path(*state, "rag.mmarr");
    write_sample(path, mode);
    mmarr_file *f = NULL;
    mmarr_error e;
    assert_code(mmarr_open(path, 0, &f, &e), MMARR_OK, e.message);
    check_sample(f, mode);
    mmarr_close(f);
    assert_code(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK, e.message);
    mmarr_close(f);
    /* copy-on-write handles check at every call; the answers are the same */
    assert_code(mmarr_open(path, MMARR_OPEN_COPY_ON_WRITE, &f, &e), MMARR_OK, e.message);
    check_sample(f, mode);
    mmarr_close(f);
    size_t size;
    void *buf = tu_read_file(path, &size);
    assert_non_null(buf);
    assert_code(mmarr_open_buffer(buf, size, 0, &f, &e), MMARR_OK, e.message);
    check_sample(f, mode);
    mmarr_close(f);
    free(buf);
    free(path);
}

static void test_ragged__roundtrip_add(void **state) { roundtrip(state, RAG_ADD); }
static void test_ragged__roundtrip_reserve(void **state) { roundtrip(state, RAG_RESERVE); }
static void test_ragged__roundtrip_stream(void **state) { roundtrip(state, RAG_STREAM); }
static void test_ragged__roundtrip_cold(void **state) { roundtrip(state, RAG_COLD); }

/* spec.md §13: the lowest minor version that describes the file; 1.0 files are unchanged. */
static void test_ragged__format_version(void **state)
{
    char *path = tu_path(*state, "plain.mmarr");
    mmarr_writer *w = writer_new(path);
    static const uint64_t off[3] = {0, 1, 2};
    static const unsigned char v[2] = {1, 2};
    uint64_t s2[1] = {2}, s3[1] = {3};
    writer_add_ok(w, "v", "|u1", 1, s2, v);
    writer_add_ok(w, "v/offsets", "<i8", 1, s3, off);
    /* a refused item leaves no trace */
    assert_code(mmarr_writer_ragged(w, "v", "v/offsets", MMARR_RAGGED_BYTES), MMARR_E_INVAL,
                mmarr_writer_error(w)->message);
    writer_commit_ok(w);

    mmarr_file *f = NULL;
    mmarr_error e;
    assert_code(mmarr_open(path, 0, &f, &e), MMARR_OK, e.message);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    assert_int_equal(fi.format_major, 1);
    assert_int_equal(fi.format_minor, 0);
    assert_int_equal(fi.optional_features, 0);
    assert_int_equal(mmarr_file_ragged_count(f), 0);
    mmarr_ragged_info ri;
    assert_int_equal(mmarr_file_ragged_at(f, 0, &ri), 0);
    assert_int_equal(mmarr_file_ragged(f, 0, &ri), 0);
    assert_int_equal(mmarr_file_ragged(f, 1, &ri), 0);
    const uint64_t *p;
    assert_code(mmarr_file_ragged_offsets(f, 0, &p, &e), MMARR_E_INVAL, e.message);
    uint64_t a, b;
    assert_code(mmarr_file_ragged_item(f, 0, 0, &a, &b, &e), MMARR_E_INVAL, e.message);
    mmarr_close(f);
    /* the header's bytes 160..175 are zero, as in 1.0 */
    img im;
    img_load(&im, path);
    assert_int_equal(im.pro->format_minor, 0);
    assert_int_equal(im.hdr->ragged_offset, 0);
    assert_int_equal(im.hdr->ragged_count, 0);
    img_free(&im);

    char *path2 = tu_path(*state, "rag.mmarr");
    write_sample(path2, RAG_ADD);
    assert_code(mmarr_open(path2, 0, &f, &e), MMARR_OK, e.message);
    mmarr_file_get_info(f, &fi);
    assert_int_equal(fi.format_minor, 1);
    assert_int_equal(fi.optional_features, MMARR_FEAT_OPT_RAGGED);
    mmarr_close(f);
    img_load(&im, path2);
    assert_int_equal(im.pro->format_minor, 1);
    assert_int_equal(im.hdr->ragged_count, 4);
    assert_true(im.hdr->ragged_offset >= im.hdr->heap_offset + im.hdr->heap_size);
    img_free(&im);
    free(path2);
    free(path);
}

/* A 1-d values array is the same in either order; empty values (0 rows, also with an inner
 * dimension) hold empty items. */
static void test_ragged__fortran_1d_values_and_one_empty_item(void **state)
{
    char *path = tu_path(*state, "f.mmarr");
    mmarr_writer *w = writer_new(path);
    static const int16_t v[4] = {1, 2, 3, 4};
    static const uint64_t off[3] = {0, 4, 4}, off0[2] = {0, 0};
    uint64_t s4[1] = {4}, s3[1] = {3}, s0[1] = {0}, s2[1] = {2}, s05[2] = {0, 5};
    assert_code(mmarr_writer_add(w, "f", "<i2", 1, s4, MMARR_ORDER_F, v), MMARR_OK,
                mmarr_writer_error(w)->message);
    writer_add_ok(w, "f/offsets", "<u8", 1, s3, off);
    ragged_ok(w, "f", "f/offsets", MMARR_RAGGED_ARRAYS);
    /* values (0, 5): fine in C order */
    assert_code(mmarr_writer_add(w, "e", "<f8", 2, s05, MMARR_ORDER_C, NULL), MMARR_OK,
                mmarr_writer_error(w)->message);
    writer_add_ok(w, "e/offsets", "<u8", 1, s2, off0);
    ragged_ok(w, "e", "e/offsets", MMARR_RAGGED_ARRAYS);
    writer_add_ok(w, "s", "|u1", 1, s0, NULL);
    writer_add_ok(w, "s/offsets", "<u8", 1, s2, off0);
    ragged_ok(w, "s", "s/offsets", MMARR_RAGGED_UTF8);
    /* refused in Fortran order (several dimensions), empty or not */
    assert_code(mmarr_writer_add(w, "eF", "<f8", 2, s05, MMARR_ORDER_F, NULL), MMARR_OK,
                mmarr_writer_error(w)->message);
    writer_add_ok(w, "eF/offsets", "<u8", 1, s2, off0);
    assert_writer_err(w, mmarr_writer_ragged(w, "eF", "eF/offsets", MMARR_RAGGED_ARRAYS),
                      MMARR_E_INVAL, "C order");
    writer_commit_ok(w);

    mmarr_file *f = NULL;
    mmarr_error e;
    assert_code(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK, e.message);
    assert_int_equal(mmarr_file_ragged_count(f), 3);
    for (size_t k = 0; k < 3; k++) {
        mmarr_ragged_info ri;
        assert_int_equal(mmarr_file_ragged_at(f, k, &ri), 1);
        assert_int_equal(ri.values, 2 * k);
        assert_int_equal(ri.offsets, 2 * k + 1);
        const uint64_t *p;
        assert_code(mmarr_file_ragged_offsets(f, ri.values, &p, &e), MMARR_OK, e.message);
        uint64_t a = 9, b = 9;
        assert_code(mmarr_file_ragged_item(f, ri.values, ri.count - 1, &a, &b, &e), MMARR_OK,
                    e.message);
        assert_int_equal(a, k == 0 ? 4 : 0);
        assert_int_equal(b, k == 0 ? 4 : 0);
    }
    mmarr_close(f);
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* The writer's refusals                                                                     */

static void test_ragged__writer_refusals(void **state)
{
    char *path = tu_path(*state, "w.mmarr");
    mmarr_writer *w = writer_new(path);
    static const uint64_t off3[3] = {0, 2, 4}, off4[4] = {0, 1, 2, 3};
    static unsigned char bytes[64];
    uint64_t s0[1] = {0}, s3[1] = {3}, s4[1] = {4}, s22[2] = {2, 2}, s42[2] = {4, 2};
    writer_add_ok(w, "u1", "|u1", 1, s4, bytes);
    writer_add_ok(w, "u1grid", "|u1", 2, s22, bytes);
    writer_add_ok(w, "i1", "|i1", 1, s4, bytes);
    writer_add_ok(w, "u2", "<u2", 1, s4, bytes);
    writer_add_ok(w, "f4", "<f4", 2, s42, bytes);
    assert_code(mmarr_writer_add(w, "f4fort", "<f4", 2, s42, MMARR_ORDER_F, bytes), MMARR_OK,
                mmarr_writer_error(w)->message);
    writer_add_ok(w, "scalar", "<f4", 0, NULL, bytes);
    writer_add_ok(w, "off", "<u8", 1, s3, off3);
    writer_add_ok(w, "off2", "<u8", 1, s3, off3);
    writer_add_ok(w, "off_i8", "<i8", 1, s3, off3);
    writer_add_ok(w, "off_u4", "<u4", 1, s3, off3);
    writer_add_ok(w, "off_be", ">u8", 1, s3, off3);
    writer_add_ok(w, "off_2d", "<u8", 2, s22, off4);
    writer_add_ok(w, "off_0d", "<u8", 0, NULL, off4);
    writer_add_ok(w, "off_empty", "<u8", 1, s0, NULL);
    assert_code(mmarr_writer_add_cold(w, "off_cold", "<u8", 1, s3, MMARR_ORDER_C, off3, NULL),
                MMARR_OK, mmarr_writer_error(w)->message);
    writer_add_ok(w, "u8vals", "<u8", 1, s4, off4);
    writer_add_ok(w, "u8vals/offsets", "<u8", 1, s3, off3);

    /* names */
    mmarr_err rc = mmarr_writer_ragged(w, "nope", "off", MMARR_RAGGED_ARRAYS);
    assert_writer_err(w, rc, MMARR_E_NOTFOUND, "nope");
    rc = mmarr_writer_ragged(w, "u1", "nope/offsets", MMARR_RAGGED_ARRAYS);
    assert_writer_err(w, rc, MMARR_E_NOTFOUND, "nope/offsets");
    rc = mmarr_writer_ragged(w, NULL, "off", MMARR_RAGGED_ARRAYS);
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    rc = mmarr_writer_ragged(w, "u1", NULL, MMARR_RAGGED_ARRAYS);
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);

    /* the offsets: hot, 1-d "<u8", at least one element */
    static const char *bad_offsets[] = {"off_i8", "off_u4",    "off_be",  "off_2d",
                                        "off_0d", "off_empty", "off_cold"};
    for (size_t i = 0; i < sizeof bad_offsets / sizeof bad_offsets[0]; i++) {
        rc = mmarr_writer_ragged(w, "u1", bad_offsets[i], MMARR_RAGGED_ARRAYS);
        assert_writer_err(w, rc, MMARR_E_INVAL, bad_offsets[i]);
        assert_msg_has(mmarr_writer_error(w)->message, "offsets must be");
    }
    /* the values: a dimension, C order when several; "|u1" 1-d for strings */
    rc = mmarr_writer_ragged(w, "scalar", "off", MMARR_RAGGED_ARRAYS);
    assert_writer_err(w, rc, MMARR_E_INVAL, "at least one dimension");
    rc = mmarr_writer_ragged(w, "f4fort", "off", MMARR_RAGGED_ARRAYS);
    assert_writer_err(w, rc, MMARR_E_INVAL, "C order");
    static const char *bad_text[] = {"u1grid", "i1", "u2", "f4", "scalar"};
    for (size_t i = 0; i < sizeof bad_text / sizeof bad_text[0]; i++) {
        rc = mmarr_writer_ragged(w, bad_text[i], "off", MMARR_RAGGED_UTF8);
        assert_writer_err(w, rc, MMARR_E_INVAL, bad_text[i]);
        rc = mmarr_writer_ragged(w, bad_text[i], "off", MMARR_RAGGED_BYTES);
        assert_writer_err(w, rc, MMARR_E_INVAL, bad_text[i]);
    }
    /* values == offsets, bad kinds */
    rc = mmarr_writer_ragged(w, "off", "off", MMARR_RAGGED_ARRAYS);
    assert_writer_err(w, rc, MMARR_E_INVAL, "same array");
    rc = mmarr_writer_ragged(w, "u1", "off", (mmarr_ragged_kind)3);
    assert_writer_err(w, rc, MMARR_E_INVAL, "kind");
    rc = mmarr_writer_ragged(w, "u1", "off", (mmarr_ragged_kind)7);
    assert_writer_err(w, rc, MMARR_E_INVAL, "kind");
    rc = mmarr_writer_ragged(w, "u1", "off", (mmarr_ragged_kind)-1);
    assert_writer_err(w, rc, MMARR_E_INVAL, "kind");

    /* one item per array: u8vals with its offsets, then every reuse */
    ragged_ok(w, "u8vals", "u8vals/offsets", MMARR_RAGGED_ARRAYS);
    static const char *reuse[][2] = {
        {"u8vals", "off"},         /* values again */
        {"u1", "u8vals/offsets"},  /* offsets again */
        {"u8vals/offsets", "off"}, /* offsets as values */
        {"u1", "u8vals"},          /* values as offsets (a valid offsets array otherwise) */
    };
    for (size_t i = 0; i < sizeof reuse / sizeof reuse[0]; i++) {
        rc = mmarr_writer_ragged(w, reuse[i][0], reuse[i][1], MMARR_RAGGED_ARRAYS);
        assert_writer_err(w, rc, MMARR_E_INVAL, "one ragged item");
    }

    /* not while an array is being streamed */
    assert_code(mmarr_writer_begin(w, "streamed", "|u1", 1, s4, MMARR_ORDER_C, NULL), MMARR_OK,
                mmarr_writer_error(w)->message);
    rc = mmarr_writer_ragged(w, "u1", "off", MMARR_RAGGED_UTF8);
    assert_writer_err(w, rc, MMARR_E_STATE, "streamed");
    assert_code(mmarr_writer_write(w, bytes, 4), MMARR_OK, mmarr_writer_error(w)->message);
    assert_code(mmarr_writer_end(w), MMARR_OK, mmarr_writer_error(w)->message);

    /* none of the refusals broke the writer: a second item, commit */
    ragged_ok(w, "u1", "off", MMARR_RAGGED_UTF8);
    assert_code(mmarr_writer_commit(w), MMARR_OK, mmarr_writer_error(w)->message);
    rc = mmarr_writer_ragged(w, "i1", "off2", MMARR_RAGGED_BYTES);
    assert_writer_err(w, rc, MMARR_E_STATE, "committed");
    mmarr_writer_free(w);

    mmarr_file *f = NULL;
    mmarr_error e;
    assert_code(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK, e.message);
    assert_int_equal(mmarr_file_ragged_count(f), 2);
    size_t u1, u8vals;
    assert_code(mmarr_file_find(f, "u1", &u1, &e), MMARR_OK, e.message);
    assert_code(mmarr_file_find(f, "u8vals", &u8vals, &e), MMARR_OK, e.message);
    mmarr_ragged_info ri;
    assert_int_equal(mmarr_file_ragged_at(f, 0, &ri), 1);
    assert_int_equal(ri.values, u1);
    assert_int_equal(ri.kind, MMARR_RAGGED_UTF8);
    assert_int_equal(mmarr_file_ragged_at(f, 1, &ri), 1);
    assert_int_equal(ri.values, u8vals);
    assert_int_equal(ri.count, 2);
    mmarr_close(f);
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* The offsets' content, checked at commit                                                   */

/* Commit an item of `rows` |u1 values and offsets off[0..n) (reserved and filled after the
 * mmarr_writer_ragged call when `reserve`); expect MMARR_E_INVAL naming element `bad`, and
 * nothing at the path or in the directory afterwards. */
static void commit_refused(const char *dir, uint64_t rows, const uint64_t *off, size_t n,
                           int reserve, size_t bad)
{
    char *path = tu_path(dir, "c.mmarr");
    mmarr_writer *w = writer_new(path);
    unsigned char *vals = calloc(rows + 1, 1);
    assert_non_null(vals);
    uint64_t sv[1] = {rows}, so[1] = {n};
    writer_add_ok(w, "vals", "|u1", 1, sv, vals);
    void *p = NULL;
    if (reserve) {
        mmarr_err rc = mmarr_writer_reserve(w, "vals/offsets", "<u8", 1, so, MMARR_ORDER_C, &p);
        assert_code(rc, MMARR_OK, mmarr_writer_error(w)->message);
    } else {
        writer_add_ok(w, "vals/offsets", "<u8", 1, so, off);
    }
    ragged_ok(w, "vals", "vals/offsets", MMARR_RAGGED_BYTES);
    if (reserve)
        memcpy(p, off, 8 * n);
    mmarr_err rc = mmarr_writer_commit(w);
    assert_writer_err(w, rc, MMARR_E_INVAL, "vals/offsets");
    char frag[64];
    snprintf(frag, sizeof frag, "element %zu is %llu;", bad, (unsigned long long)off[bad]);
    assert_msg_has(mmarr_writer_error(w)->message, frag);
    /* the writer is done; nothing was published */
    assert_int_equal(access(path, F_OK), -1);
    rc = mmarr_writer_commit(w);
    assert_writer_err(w, rc, MMARR_E_STATE, NULL);
    mmarr_writer_free(w);
    char names[256];
    size_t left = tu_list_dir(dir, names, sizeof names);
    if (left)
        fail_msg("left in the directory: %s", names);
    free(vals);
    free(path);
}

static void test_ragged__commit_refuses_bad_offsets(void **state)
{
    static const uint64_t not_zero[] = {1, 3, 10}, decreasing[] = {0, 5, 3, 10},
                          short_end[] = {0, 3, 9}, past_rows[] = {0, 11, 10},
                          past_rows_last[] = {0, 3, 11}, zero_items[] = {0};
    for (int reserve = 0; reserve < 2; reserve++) {
        commit_refused(*state, 10, not_zero, 3, reserve, 0);
        commit_refused(*state, 10, decreasing, 4, reserve, 2);
        commit_refused(*state, 10, short_end, 3, reserve, 2);
        commit_refused(*state, 10, past_rows, 3, reserve, 1);
        commit_refused(*state, 10, past_rows_last, 3, reserve, 2);
        commit_refused(*state, 5, zero_items, 1, reserve, 0); /* count 0, but 5 rows */
    }
    /* the reserved offsets were zero when mmarr_writer_ragged accepted them: the check at
     * commit reads what the file holds */
    static const uint64_t zeros[3] = {0, 0, 0};
    commit_refused(*state, 10, zeros, 3, 1, 2);
}

/* The writer checks the offsets in batches of 8192: a bad element on either side of a batch
 * boundary and at its first position; a valid array across boundaries commits. */
static void test_ragged__commit_checks_long_offsets(void **state)
{
    const size_t n = 20001;
    uint64_t *off = malloc(n * sizeof *off);
    assert_non_null(off);
    static const size_t bad_at[] = {8191, 8192, 8193, 16384, 20000};
    for (size_t t = 0; t < sizeof bad_at / sizeof bad_at[0]; t++) {
        for (size_t i = 0; i < n; i++)
            off[i] = i;
        off[bad_at[t]] = bad_at[t] - 2; /* below its predecessor */
        commit_refused(*state, n - 1, off, n, t % 2, bad_at[t]);
    }
    for (size_t i = 0; i < n; i++)
        off[i] = i / 2; /* 10000 rows */
    char *path = tu_path(*state, "long.mmarr");
    mmarr_writer *w = writer_new(path);
    unsigned char *vals = calloc(10000, 1);
    assert_non_null(vals);
    uint64_t sv[1] = {10000}, so[1] = {n};
    writer_add_ok(w, "v", "|u1", 1, sv, vals);
    writer_add_ok(w, "v/offsets", "<u8", 1, so, off);
    ragged_ok(w, "v", "v/offsets", MMARR_RAGGED_BYTES);
    writer_commit_ok(w);
    mmarr_file *f = NULL;
    mmarr_error e;
    assert_code(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK, e.message);
    const uint64_t *p;
    assert_code(mmarr_file_ragged_offsets(f, 0, &p, &e), MMARR_OK, e.message);
    assert_int_equal(p[n - 1], 10000);
    mmarr_close(f);
    free(vals);
    free(path);
    free(off);
}

/* ---------------------------------------------------------------------------------------- */
/* Damaged ragged records and sections (spec.md §12 rule 8)                                  */

static mmarr_disk_ragged *img_rag(img *im)
{
    return (mmarr_disk_ragged *)(im->index + im->hdr->ragged_offset);
}

/* Open the image both ways: the same code, and for a failure the same offset. Returns the
 * code; *count receives the ragged count on success. */
static mmarr_err open_both(img *im, const char *dir, mmarr_error *e, size_t *count)
{
    char *path = tu_path(dir, "bad.mmarr");
    assert_int_equal(tu_write_file(path, im->buf, im->size), 0);
    mmarr_file *f = (mmarr_file *)1, *g = (mmarr_file *)1;
    mmarr_error e2;
    memset(e, 0, sizeof *e);
    memset(&e2, 0, sizeof e2);
    mmarr_err rc = mmarr_open(path, 0, &f, e);
    mmarr_err rc2 = mmarr_open_buffer(im->buf, im->size, 0, &g, &e2);
    if (rc != rc2 || (rc != MMARR_OK && e->offset != e2.offset))
        print_error("mmarr_open: %s at %llu (%s); mmarr_open_buffer: %s at %llu (%s)\n",
                    mmarr_err_name(rc), (unsigned long long)e->offset, e->message,
                    mmarr_err_name(rc2), (unsigned long long)e2.offset, e2.message);
    assert_int_equal(rc, rc2);
    if (rc == MMARR_OK) {
        *count = mmarr_file_ragged_count(f);
        assert_int_equal(mmarr_file_ragged_count(g), *count);
        mmarr_close(f);
        mmarr_close(g);
    } else {
        assert_null(f);
        assert_null(g);
        assert_int_equal(e->code, rc);
        assert_int_equal(e2.offset, e->offset);
        assert_true(e->message[0] != '\0');
    }
    free(path);
    return rc;
}

#define AT_HEADER (-1)

/* Damage the sample's ragged records with m: the file is refused with MMARR_E_CORRUPT at
 * record `where` (or at the header's ragged fields), both ways. With the RAGGED bit cleared
 * the same bytes are reserved ones, and ignored: the file opens, without ragged items. */
static void run_record_case(void **state, void (*m)(img *), int where)
{
    char *path = tu_path(*state, "rag.mmarr");
    write_sample(path, RAG_ADD);
    img im;
    img_load(&im, path);
    const uint64_t io = im.slot->index_offset, roff = im.hdr->ragged_offset;
    assert_true(im.slot->optional_features & MMARR_FEAT_OPT_RAGGED);
    m(&im);
    img_reseal(&im);
    mmarr_error e;
    size_t count = 99;
    mmarr_err rc = open_both(&im, *state, &e, &count);
    assert_code(rc, MMARR_E_CORRUPT, e.message);
    const uint64_t at = where == AT_HEADER ? io + offsetof(mmarr_disk_index_header, ragged_offset)
                                           : io + roff + (uint64_t)where * 16;
    if (e.offset != at)
        fail_msg("offset %llu, expected %llu: %s", (unsigned long long)e.offset,
                 (unsigned long long)at, e.message);
    assert_msg_has(e.message, "ragged");

    im.slot->optional_features &= ~MMARR_FEAT_OPT_RAGGED;
    img_reseal(&im);
    rc = open_both(&im, *state, &e, &count);
    assert_code(rc, MMARR_OK, e.message);
    assert_int_equal(count, 0);
    /* a 1.0 reader's view: the arrays, none of them part of an item */
    char *bad = tu_path(*state, "bad.mmarr");
    mmarr_file *f = NULL;
    assert_code(mmarr_open(bad, 0, &f, &e), MMARR_OK, e.message);
    mmarr_ragged_info ri;
    for (size_t i = 0; i < mmarr_file_count(f); i++)
        assert_int_equal(mmarr_file_ragged(f, i, &ri), 0);
    const uint64_t *p;
    assert_code(mmarr_file_ragged_offsets(f, E_PTS, &p, &e), MMARR_E_INVAL, e.message);
    mmarr_array_info a;
    assert_code(mmarr_file_array(f, E_PTS_OFF, &a, &e), MMARR_OK, e.message);
    assert_memory_equal(a.data, pts_off, sizeof pts_off);
    mmarr_close(f);
    free(bad);
    img_free(&im);
    free(path);
}

#define RECORD_CASE(name, where)                                                                   \
    static void mut_##name(img *im);                                                               \
    static void test_ragged__##name(void **state) { run_record_case(state, mut_##name, where); }   \
    static void mut_##name(img *im)

/* the records, sorted by values: 0 pts, 1 txt, 2 blob, 3 none */
RECORD_CASE(record_kind_3, 0) { img_rag(im)[0].kind = 3; }

RECORD_CASE(record_kind_7, 1) { img_rag(im)[1].kind = 7; }

RECORD_CASE(record_kind_255, 3) { img_rag(im)[3].kind = 255; }

RECORD_CASE(record_values_past_entries, 2)
{
    img_rag(im)[2].values = (uint32_t)im->hdr->entry_count;
}

RECORD_CASE(record_offsets_past_entries, 0) { img_rag(im)[0].offsets = UINT32_MAX; }

RECORD_CASE(records_out_of_order, 1)
{
    mmarr_disk_ragged t = img_rag(im)[0];
    img_rag(im)[0] = img_rag(im)[1];
    img_rag(im)[1] = t;
}

RECORD_CASE(records_equal_values, 1) { img_rag(im)[1] = img_rag(im)[0]; }

RECORD_CASE(record_offsets_used_twice, 1) { img_rag(im)[1].offsets = img_rag(im)[0].offsets; }

RECORD_CASE(record_values_are_other_offsets, 1)
{
    img_rag(im)[1].values = E_PTS_OFF; /* still after record 0's values */
}

RECORD_CASE(record_offsets_are_other_values, 3) { img_rag(im)[3].offsets = E_PTS; }

RECORD_CASE(record_values_equal_offsets, 0) { img_rag(im)[0].offsets = img_rag(im)[0].values; }

RECORD_CASE(record_offsets_not_u8, 0)
{
    img_rag(im)[0].offsets = E_SP_I8; /* "<i8" (6,): right size, wrong dtype */
}

RECORD_CASE(record_offsets_dtype_changed, 1)
{
    /* the entry itself: txt/offsets becomes "<i8" (the dtype of spare/i8; nbytes stays) */
    im->ent[E_TXT_OFF].dtype_id = im->ent[E_SP_I8].dtype_id;
}

RECORD_CASE(record_offsets_2d, 0) { img_rag(im)[0].offsets = E_SP_U8GRID; }

RECORD_CASE(record_offsets_empty, 2) { img_rag(im)[2].offsets = E_SP_U8EMPTY; }

RECORD_CASE(record_offsets_cold, 3) { img_rag(im)[3].offsets = E_SP_U8COLD; }

RECORD_CASE(record_values_0d, 3) { img_rag(im)[3].values = E_SP_SCALAR; }

RECORD_CASE(record_values_fortran_2d, 0) { im->ent[E_PTS].flags |= MMARR_ENTRY_FORTRAN; }

RECORD_CASE(record_utf8_values_not_u1, 0)
{
    img_rag(im)[0].kind = MMARR_RAGGED_KIND_UTF8; /* pts: "<f4" (10, 3) */
}

RECORD_CASE(record_bytes_values_i8, 3)
{
    img_rag(im)[3].kind = MMARR_RAGGED_KIND_BYTES; /* none: "<i8" */
}

RECORD_CASE(record_bytes_values_2d, 3)
{
    img_rag(im)[3].values = E_SP_U1GRID; /* "|u1" (2, 2) */
    img_rag(im)[3].kind = MMARR_RAGGED_KIND_BYTES;
}

RECORD_CASE(section_misaligned, AT_HEADER) { im->hdr->ragged_offset += 4; }

RECORD_CASE(section_before_heap, AT_HEADER) { im->hdr->ragged_offset = im->hdr->heap_offset; }

RECORD_CASE(section_overlaps_heap_end, AT_HEADER)
{
    im->hdr->ragged_offset = (im->hdr->heap_offset + im->hdr->heap_size - 1) / 8 * 8;
}

RECORD_CASE(section_beyond_index, AT_HEADER)
{
    im->hdr->ragged_offset = (im->slot->index_size + 7) / 8 * 8 + 64;
}

RECORD_CASE(section_past_index_end, AT_HEADER)
{
    im->hdr->ragged_count = (im->slot->index_size - im->hdr->ragged_offset) / 16 + 1;
}

RECORD_CASE(section_offset_huge, AT_HEADER) { im->hdr->ragged_offset = UINT64_MAX - 7; }

RECORD_CASE(count_2_pow_32, AT_HEADER) { im->hdr->ragged_count = 1ull << 32; }

RECORD_CASE(count_u32_max, AT_HEADER) { im->hdr->ragged_count = UINT32_MAX; }

RECORD_CASE(count_u64_max, AT_HEADER) { im->hdr->ragged_count = UINT64_MAX; }

/* With RAGGED set, a count of 0 means no items, whatever ragged_offset says (spec.md §5). */
static void test_ragged__count_zero_means_none(void **state)
{
    char *path = tu_path(*state, "rag.mmarr");
    write_sample(path, RAG_ADD);
    img im;
    img_load(&im, path);
    im.hdr->ragged_count = 0;
    im.hdr->ragged_offset = 12345;
    img_reseal(&im);
    mmarr_error e;
    size_t count = 99;
    assert_code(open_both(&im, *state, &e, &count), MMARR_OK, e.message);
    assert_int_equal(count, 0);
    /* a shorter count: the first records are the items, the other arrays plain */
    img_free(&im);
    img_load(&im, path);
    im.hdr->ragged_count = 2;
    img_reseal(&im);
    assert_code(open_both(&im, *state, &e, &count), MMARR_OK, e.message);
    assert_int_equal(count, 2);
    mmarr_file *f = NULL;
    assert_code(mmarr_open_buffer(im.buf, im.size, 0, &f, &e), MMARR_OK, e.message);
    mmarr_ragged_info ri;
    assert_int_equal(mmarr_file_ragged(f, E_TXT_OFF, &ri), 1);
    assert_int_equal(mmarr_file_ragged(f, E_BLOB, &ri), 0);
    assert_int_equal(mmarr_file_ragged(f, E_NONE_OFF, &ri), 0);
    mmarr_close(f);
    img_free(&im);
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* Damaged offsets and text: data, found when an item is read and on verification            */

static uint64_t *img_u64(img *im, size_t entry)
{
    return (uint64_t *)(im->buf + im->ent[entry].data_offset);
}

/* Record entry's data checksum again, and the index's. */
static void reseal_data(img *im, size_t entry)
{
    im->ent[entry].checksum = XXH3_64bits(im->buf + im->ent[entry].data_offset,
                                          im->ent[entry].data_size);
    img_reseal(im);
}

typedef struct content_case {
    uint64_t off[6]; /* pts' offsets (10 rows, 5 items) */
    size_t bad;      /* the element mmarr_file_ragged_offsets names */
    unsigned items;  /* bit i: item i is refused */
} content_case;

static const content_case content_cases[] = {
    {{1, 3, 3, 7, 10, 10}, 0, 0},                  /* not starting at 0; every pair fine */
    {{0, 3, 1, 7, 10, 10}, 2, 1u << 1},            /* decreasing: item 1 only */
    {{0, 3, 3, 11, 10, 10}, 3, 1u << 2 | 1u << 3}, /* past the rows */
    {{0, 3, 3, 7, 10, 9}, 5, 1u << 4},             /* decreasing at the end */
    {{0, 3, 3, 7, 10, 11}, 5, 1u << 4},            /* past the rows at the end */
    {{0, 3, 3, 7, 9, 9}, 5, 0},                    /* ends short of the rows */
    {{0, 3, UINT64_MAX, 7, 10, 10}, 2, 1u << 1 | 1u << 2},
    {{0, 0, 0, 0, 0, 0}, 5, 0}, /* all zero: every item empty */
};

/* What a handle says about pts with damaged offsets c (file offset of its offsets: o). */
static void check_damaged(mmarr_file *f, const content_case *c, uint64_t o)
{
    mmarr_error e;
    /* plain arrays, and the other items, read fine */
    int32_t plain[100];
    assert_code(mmarr_file_read(f, E_PLAIN, 0, plain, sizeof plain, &e), MMARR_OK, e.message);
    assert_int_equal(plain[99], 99 * 7 - 300);
    assert_code(mmarr_file_verify_array(f, E_PLAIN, &e), MMARR_OK, e.message);
    const uint64_t *p = NULL;
    assert_code(mmarr_file_ragged_offsets(f, E_TXT, &p, &e), MMARR_OK, e.message);
    uint64_t a, b;
    assert_code(mmarr_file_ragged_item(f, E_BLOB, 2, &a, &b, &e), MMARR_OK, e.message);
    assert_code(mmarr_file_verify_array(f, E_TXT, &e), MMARR_OK, e.message);
    mmarr_ragged_info ri;
    assert_int_equal(mmarr_file_ragged(f, E_PTS, &ri), 1); /* the index is intact */
    assert_int_equal(ri.count, 5);

    /* the whole offsets: refused at the bad element, every time */
    for (int rep = 0; rep < 2; rep++) {
        p = (const uint64_t *)1;
        memset(&e, 0, sizeof e);
        assert_code(mmarr_file_ragged_offsets(f, E_PTS, &p, &e), MMARR_E_CORRUPT, e.message);
        assert_null(p);
        assert_int_equal(e.offset, o + 8 * c->bad);
        assert_msg_has(e.message, "\"pts\"");
        char frag[32];
        snprintf(frag, sizeof frag, "element %zu ", c->bad);
        assert_msg_has(e.message, frag);
    }
    mmarr_error last;
    assert_int_equal(mmarr_file_last_error(f, &last), MMARR_E_CORRUPT);
    /* items: refused only where their own two offsets are bad */
    for (uint64_t i = 0; i < 5; i++) {
        a = b = 99;
        memset(&e, 0, sizeof e);
        mmarr_err rc = mmarr_file_ragged_item(f, E_PTS, i, &a, &b, &e);
        if (c->items & (1u << i)) {
            assert_code(rc, MMARR_E_CORRUPT, e.message);
            assert_int_equal(e.offset, o + 8 * i);
            assert_msg_has(e.message, "\"pts\"");
        } else {
            assert_code(rc, MMARR_OK, e.message);
            assert_int_equal(a, c->off[i]);
            assert_int_equal(b, c->off[i + 1]);
        }
    }
    /* verification: the values' checksum holds, their offsets do not */
    memset(&e, 0, sizeof e);
    assert_code(mmarr_file_verify_array(f, E_PTS, &e), MMARR_E_CORRUPT, e.message);
    assert_int_equal(e.offset, o + 8 * c->bad);
    /* the offsets array's own bytes no longer match its checksum */
    memset(&e, 0, sizeof e);
    assert_code(mmarr_file_verify_array(f, E_PTS_OFF, &e), MMARR_E_CHECKSUM, e.message);
    assert_int_equal(e.offset, o);
    /* the whole file: pts (entry 1) comes before its offsets (entry 2) */
    memset(&e, 0, sizeof e);
    assert_code(mmarr_file_verify(f, &e), MMARR_E_CORRUPT, e.message);
    assert_int_equal(e.offset, o + 8 * c->bad);
}

static void test_ragged__damaged_offsets(void **state)
{
    char *path = tu_path(*state, "rag.mmarr");
    write_sample(path, RAG_ADD);
    char *bad = tu_path(*state, "bad.mmarr");
    for (size_t t = 0; t < sizeof content_cases / sizeof content_cases[0]; t++) {
        const content_case *c = &content_cases[t];
        img im;
        img_load(&im, path);
        const uint64_t o = im.ent[E_PTS_OFF].data_offset;
        memcpy(img_u64(&im, E_PTS_OFF), c->off, sizeof c->off); /* data: no reseal */
        assert_int_equal(tu_write_file(bad, im.buf, im.size), 0);
        mmarr_file *f = NULL;
        mmarr_error e;
        assert_code(mmarr_open(bad, 0, &f, &e), MMARR_OK, e.message); /* open does not look */
        check_damaged(f, c, o);
        mmarr_close(f);
        assert_code(mmarr_open_buffer(im.buf, im.size, 0, &f, &e), MMARR_OK, e.message);
        check_damaged(f, c, o);
        mmarr_close(f);
        /* MMARR_OPEN_VERIFY refuses it */
        assert_code(mmarr_open(bad, MMARR_OPEN_VERIFY, &f, &e), MMARR_E_CORRUPT, e.message);
        assert_null(f);
        img_free(&im);
    }
    free(bad);
    free(path);
}

/* With the offsets' checksum recorded for the damaged bytes, only the offsets check fails. */
static void test_ragged__damaged_offsets_resealed(void **state)
{
    char *path = tu_path(*state, "rag.mmarr");
    write_sample(path, RAG_ADD);
    img im;
    img_load(&im, path);
    const uint64_t o = im.ent[E_TXT_OFF].data_offset;
    img_u64(&im, E_TXT_OFF)[3] = 2; /* [0, 6, 6, 2, 19, 23]: decreasing at element 3 */
    reseal_data(&im, E_TXT_OFF);
    mmarr_file *f = NULL;
    mmarr_error e;
    assert_code(mmarr_open_buffer(im.buf, im.size, 0, &f, &e), MMARR_OK, e.message);
    assert_code(mmarr_file_verify_array(f, E_TXT_OFF, &e), MMARR_OK, e.message);
    assert_code(mmarr_file_verify_array(f, E_TXT, &e), MMARR_E_CORRUPT, e.message);
    assert_int_equal(e.offset, o + 24);
    assert_code(mmarr_file_verify(f, &e), MMARR_E_CORRUPT, e.message);
    assert_int_equal(e.offset, o + 24);
    uint64_t a, b;
    assert_code(mmarr_file_ragged_item(f, E_TXT, 2, &a, &b, &e), MMARR_E_CORRUPT, e.message);
    assert_int_equal(e.offset, o + 16);
    assert_code(mmarr_file_ragged_item(f, E_TXT, 3, &a, &b, &e), MMARR_OK, e.message);
    assert_int_equal(a, 2);
    assert_int_equal(b, 19);
    mmarr_close(f);
    img_free(&im);
    free(path);
}

/* Which report comes first: verification checks entries in entry order, each array's
 * checksum before a ragged item's offsets. Damaged offsets added before their values fail
 * the file's verification as a checksum mismatch of the offsets array. */
static void test_ragged__damaged_offsets_listed_first(void **state)
{
    char *path = tu_path(*state, "first.mmarr");
    mmarr_writer *w = writer_new(path);
    static const uint64_t off[4] = {0, 1, 3, 4};
    static const unsigned char v[4] = {'a', 'b', 'c', 'd'};
    uint64_t s4[1] = {4};
    writer_add_ok(w, "v/offsets", "<u8", 1, s4, off);
    writer_add_ok(w, "v", "|u1", 1, s4, v);
    ragged_ok(w, "v", "v/offsets", MMARR_RAGGED_UTF8);
    writer_commit_ok(w);
    img im;
    img_load(&im, path);
    const uint64_t o = im.ent[0].data_offset;
    img_u64(&im, 0)[1] = 5; /* past the rows */
    mmarr_file *f = NULL;
    mmarr_error e;
    assert_code(mmarr_open_buffer(im.buf, im.size, 0, &f, &e), MMARR_OK, e.message);
    mmarr_ragged_info ri;
    assert_int_equal(mmarr_file_ragged_at(f, 0, &ri), 1);
    assert_int_equal(ri.values, 1);
    assert_int_equal(ri.offsets, 0);
    assert_code(mmarr_file_verify(f, &e), MMARR_E_CHECKSUM, e.message);
    assert_int_equal(e.offset, o);
    assert_msg_has(e.message, "\"v/offsets\"");
    assert_code(mmarr_file_verify_array(f, 1, &e), MMARR_E_CORRUPT, e.message);
    assert_int_equal(e.offset, o + 8);
    uint64_t a, b;
    assert_code(mmarr_file_ragged_item(f, 1, 0, &a, &b, &e), MMARR_E_CORRUPT, e.message);
    assert_code(mmarr_file_ragged_item(f, 1, 1, &a, &b, &e), MMARR_E_CORRUPT, e.message);
    assert_code(mmarr_file_ragged_item(f, 1, 2, &a, &b, &e), MMARR_OK, e.message);
    mmarr_close(f);
    img_free(&im);
    free(path);
}

/* Offsets longer than the reader's 4096-element scan blocks: damage on either side of a
 * block boundary is found at its element. */
static void test_ragged__damaged_long_offsets(void **state)
{
    const size_t n = 10001;
    char *path = tu_path(*state, "long.mmarr");
    mmarr_writer *w = writer_new(path);
    uint64_t *off = malloc(n * sizeof *off);
    unsigned char *vals = calloc(n - 1, 1);
    assert_non_null(off);
    assert_non_null(vals);
    for (size_t i = 0; i < n; i++)
        off[i] = i;
    uint64_t sv[1] = {n - 1}, so[1] = {n};
    writer_add_ok(w, "v", "|u1", 1, sv, vals);
    writer_add_ok(w, "v/offsets", "<u8", 1, so, off);
    ragged_ok(w, "v", "v/offsets", MMARR_RAGGED_UTF8);
    writer_commit_ok(w);
    static const size_t bad_at[] = {2, 4095, 4096, 4097, 8192, 10000};
    for (size_t t = 0; t < sizeof bad_at / sizeof bad_at[0]; t++) {
        img im;
        img_load(&im, path);
        const uint64_t o = im.ent[1].data_offset;
        img_u64(&im, 1)[bad_at[t]] = bad_at[t] - 2;
        mmarr_file *f = NULL;
        mmarr_error e;
        assert_code(mmarr_open_buffer(im.buf, im.size, 0, &f, &e), MMARR_OK, e.message);
        const uint64_t *p;
        assert_code(mmarr_file_ragged_offsets(f, 0, &p, &e), MMARR_E_CORRUPT, e.message);
        assert_int_equal(e.offset, o + 8 * bad_at[t]);
        assert_code(mmarr_file_verify_array(f, 0, &e), MMARR_E_CORRUPT, e.message);
        assert_int_equal(e.offset, o + 8 * bad_at[t]);
        uint64_t a, b;
        assert_code(mmarr_file_ragged_item(f, 0, bad_at[t] - 1, &a, &b, &e), MMARR_E_CORRUPT,
                    e.message);
        assert_code(mmarr_file_ragged_item(f, 0, bad_at[t] - 2, &a, &b, &e), MMARR_OK, e.message);
        mmarr_close(f);
        img_free(&im);
    }
    free(vals);
    free(off);
    free(path);
}

/* Text that is not UTF-8 in a hot UTF8 item: verification says which item, once the values'
 * checksum holds (before that, the checksum mismatch is what it reports). Items are checked
 * one by one, so a character split between two items is invalid. */
static void test_ragged__invalid_utf8_found_by_verify(void **state)
{
    char *path = tu_path(*state, "rag.mmarr");
    write_sample(path, RAG_ADD);
    /* txt: offsets [0, 6, 6, 16, 19, 23]; bytes h C3 A9 l l o | w C3 B6 r l d ' ' E2 9C 93 |
     * a 00 b | F0 9D 84 9E */
    static const struct {
        size_t at;      /* first byte of the values to change */
        const char *to; /* the new bytes */
        size_t n;
        int item; /* the item reported, or -1: still valid */
    } cases[] = {
        {0, "\xff", 1, 0},          /* a byte that is never UTF-8 */
        {3, "\0", 1, -1},           /* NUL is allowed */
        {8, "\xa9", 1, -1},         /* ö -> é */
        {7, "\xc0", 1, 2},          /* an overlong lead (C0 B6) */
        {8, "\x41", 1, 2},          /* ö cut short: C3 'A' */
        {19, "\xed\xa0\x80", 3, 4}, /* a surrogate, U+D800 */
        {19, "\xf4\x90", 2, 4},     /* above U+10FFFF */
        {22, "\x41", 1, 4},         /* U+1D11E cut short: F0 9D 84 'A' */
    };
    char *bad = tu_path(*state, "bad.mmarr");
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        img im;
        img_load(&im, path);
        const uint64_t v = im.ent[E_TXT].data_offset;
        const uint64_t *toff = img_u64(&im, E_TXT_OFF);
        memcpy(im.buf + v + cases[t].at, cases[t].to, cases[t].n);
        mmarr_file *f = NULL;
        mmarr_error e;
        /* unsealed: the checksum comes first */
        assert_code(mmarr_open_buffer(im.buf, im.size, 0, &f, &e), MMARR_OK, e.message);
        assert_code(mmarr_file_verify_array(f, E_TXT, &e), MMARR_E_CHECKSUM, e.message);
        assert_int_equal(e.offset, v);
        mmarr_close(f);
        reseal_data(&im, E_TXT);
        assert_int_equal(tu_write_file(bad, im.buf, im.size), 0);
        assert_code(mmarr_open(bad, 0, &f, &e), MMARR_OK, e.message);
        mmarr_err rc = mmarr_file_verify_array(f, E_TXT, &e);
        if (cases[t].item < 0) {
            assert_code(rc, MMARR_OK, e.message);
        } else {
            assert_code(rc, MMARR_E_CORRUPT, e.message);
            assert_int_equal(e.offset, v + toff[cases[t].item]);
            char frag[32];
            snprintf(frag, sizeof frag, "item %d ", cases[t].item);
            assert_msg_has(e.message, frag);
            assert_msg_has(e.message, "UTF-8");
            assert_code(mmarr_file_verify(f, &e), MMARR_E_CORRUPT, e.message);
            assert_int_equal(e.offset, v + toff[cases[t].item]);
        }
        /* the offsets are fine, and items are not decoded by the library */
        const uint64_t *p;
        assert_code(mmarr_file_ragged_offsets(f, E_TXT, &p, &e), MMARR_OK, e.message);
        uint64_t a, b;
        assert_code(mmarr_file_ragged_item(
                        f, E_TXT, cases[t].item < 0 ? 0 : (uint64_t)cases[t].item, &a, &b, &e),
                    MMARR_OK, e.message);
        mmarr_close(f);
        img_free(&im);
    }

    /* a valid character split between two items: offsets [0, 6, 6, 16, 19, 23] -> 16 becomes
     * 14, inside ✓ (E2 9C 93 at 13..15): item 2 ends with a lead byte, item 3 starts with
     * continuation bytes */
    img im;
    img_load(&im, path);
    const uint64_t v = im.ent[E_TXT].data_offset;
    img_u64(&im, E_TXT_OFF)[3] = 14;
    reseal_data(&im, E_TXT_OFF);
    mmarr_file *f = NULL;
    mmarr_error e;
    assert_code(mmarr_open_buffer(im.buf, im.size, 0, &f, &e), MMARR_OK, e.message);
    assert_code(mmarr_file_verify_array(f, E_TXT, &e), MMARR_E_CORRUPT, e.message);
    assert_int_equal(e.offset, v + 6);
    assert_msg_has(e.message, "item 2 ");
    mmarr_close(f);
    img_free(&im);

    /* the same bytes as BYTES items are fine */
    img_load(&im, path);
    img_u64(&im, E_TXT_OFF)[3] = 14;
    reseal_data(&im, E_TXT_OFF);
    img_rag(&im)[1].kind = MMARR_RAGGED_KIND_BYTES;
    img_reseal(&im);
    assert_code(mmarr_open_buffer(im.buf, im.size, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK, e.message);
    mmarr_close(f);
    img_free(&im);
    free(bad);
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* Handles whose memory may change                                                           */

/* Copy-on-write: the offsets are checked at every call, so a change after a successful
 * check is found by the next one. */
static void test_ragged__copy_on_write_rechecks(void **state)
{
    char *path = tu_path(*state, "rag.mmarr");
    write_sample(path, RAG_ADD);
    mmarr_file *f = NULL;
    mmarr_error e;
    assert_code(mmarr_open(path, MMARR_OPEN_COPY_ON_WRITE, &f, &e), MMARR_OK, e.message);
    const uint64_t *p = NULL;
    assert_code(mmarr_file_ragged_offsets(f, E_PTS, &p, &e), MMARR_OK, e.message);
    uint64_t a, b;
    assert_code(mmarr_file_ragged_item(f, E_PTS, 1, &a, &b, &e), MMARR_OK, e.message);
    mmarr_array_info oa;
    assert_code(mmarr_file_array(f, E_PTS_OFF, &oa, &e), MMARR_OK, e.message);
    assert_ptr_equal(oa.data, p);
    uint64_t *mem = oa.data;

    mem[2] = 1; /* [0, 3, 1, 7, 10, 10] */
    const uint64_t *q = (const uint64_t *)1;
    assert_code(mmarr_file_ragged_offsets(f, E_PTS, &q, &e), MMARR_E_CORRUPT, e.message);
    assert_null(q);
    assert_int_equal(e.offset, oa.offset + 16);
    assert_code(mmarr_file_ragged_item(f, E_PTS, 1, &a, &b, &e), MMARR_E_CORRUPT, e.message);
    assert_int_equal(e.offset, oa.offset + 8);
    assert_code(mmarr_file_ragged_item(f, E_PTS, 2, &a, &b, &e), MMARR_OK, e.message);
    assert_int_equal(a, 1);
    assert_int_equal(b, 7);
    mem[2] = 3;
    mem[5] = 100; /* past the rows */
    assert_code(mmarr_file_ragged_offsets(f, E_PTS, &q, &e), MMARR_E_CORRUPT, e.message);
    assert_int_equal(e.offset, oa.offset + 40);
    assert_code(mmarr_file_ragged_item(f, E_PTS, 4, &a, &b, &e), MMARR_E_CORRUPT, e.message);
    mem[5] = 10;
    assert_code(mmarr_file_ragged_offsets(f, E_PTS, &q, &e), MMARR_OK, e.message);
    assert_ptr_equal(q, p);
    assert_code(mmarr_file_ragged_item(f, E_PTS, 4, &a, &b, &e), MMARR_OK, e.message);

    /* the change stayed in this process: the file is intact */
    mem[0] = 5;
    mmarr_file *g = NULL;
    assert_code(mmarr_open(path, 0, &g, &e), MMARR_OK, e.message);
    assert_code(mmarr_file_ragged_offsets(g, E_PTS, &q, &e), MMARR_OK, e.message);
    assert_int_equal(q[0], 0);
    assert_code(mmarr_file_verify(g, &e), MMARR_OK, e.message);
    mmarr_close(g);
    assert_code(mmarr_file_ragged_offsets(f, E_PTS, &q, &e), MMARR_E_CORRUPT, e.message);
    assert_int_equal(e.offset, oa.offset);
    mmarr_close(f);
    free(path);
}

/* Read-write: the same, with the change written through the file (and seen by the file). */
static void test_ragged__read_write_rechecks(void **state)
{
    char *path = tu_path(*state, "rag.mmarr");
    write_sample(path, RAG_ADD);
    mmarr_file *f = NULL;
    mmarr_error e;
    assert_code(mmarr_open(path, MMARR_OPEN_RDWR, &f, &e), MMARR_OK, e.message);
    const uint64_t *p = NULL;
    assert_code(mmarr_file_ragged_offsets(f, E_TXT, &p, &e), MMARR_OK, e.message);
    const uint64_t seven = 7;
    assert_code(mmarr_file_write(f, E_TXT_OFF, 8, &seven, 8, &e), MMARR_OK, e.message);
    assert_int_equal(p[1], 7); /* [0, 7, 6, 16, 19, 23] */
    assert_code(mmarr_file_ragged_offsets(f, E_TXT, &p, &e), MMARR_E_CORRUPT, e.message);
    mmarr_array_info oa;
    assert_code(mmarr_file_array(f, E_TXT_OFF, &oa, &e), MMARR_OK, e.message);
    assert_int_equal(e.offset, oa.offset + 16);
    uint64_t a, b;
    assert_code(mmarr_file_ragged_item(f, E_TXT, 1, &a, &b, &e), MMARR_E_CORRUPT, e.message);
    assert_code(mmarr_file_ragged_item(f, E_TXT, 0, &a, &b, &e), MMARR_OK, e.message);
    /* checksums are stale: verification of the offsets says so; the values' offsets do not
     * hold */
    assert_code(mmarr_file_verify_array(f, E_TXT_OFF, &e), MMARR_E_STALE, e.message);
    assert_code(mmarr_file_verify_array(f, E_TXT, &e), MMARR_E_CORRUPT, e.message);
    const uint64_t six = 6;
    assert_code(mmarr_file_write(f, E_TXT_OFF, 8, &six, 8, &e), MMARR_OK, e.message);
    assert_code(mmarr_file_ragged_offsets(f, E_TXT, &p, &e), MMARR_OK, e.message);
    assert_code(mmarr_file_verify(f, &e), MMARR_OK, e.message);
    mmarr_close(f);
    free(path);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup_dir, tu_teardown_dir)
    const struct CMUnitTest tests[] = {
        T(test_ragged__roundtrip_add),
        T(test_ragged__roundtrip_reserve),
        T(test_ragged__roundtrip_stream),
        T(test_ragged__roundtrip_cold),
        T(test_ragged__format_version),
        T(test_ragged__fortran_1d_values_and_one_empty_item),
        T(test_ragged__writer_refusals),
        T(test_ragged__commit_refuses_bad_offsets),
        T(test_ragged__commit_checks_long_offsets),
        T(test_ragged__record_kind_3),
        T(test_ragged__record_kind_7),
        T(test_ragged__record_kind_255),
        T(test_ragged__record_values_past_entries),
        T(test_ragged__record_offsets_past_entries),
        T(test_ragged__records_out_of_order),
        T(test_ragged__records_equal_values),
        T(test_ragged__record_offsets_used_twice),
        T(test_ragged__record_values_are_other_offsets),
        T(test_ragged__record_offsets_are_other_values),
        T(test_ragged__record_values_equal_offsets),
        T(test_ragged__record_offsets_not_u8),
        T(test_ragged__record_offsets_dtype_changed),
        T(test_ragged__record_offsets_2d),
        T(test_ragged__record_offsets_empty),
        T(test_ragged__record_offsets_cold),
        T(test_ragged__record_values_0d),
        T(test_ragged__record_values_fortran_2d),
        T(test_ragged__record_utf8_values_not_u1),
        T(test_ragged__record_bytes_values_i8),
        T(test_ragged__record_bytes_values_2d),
        T(test_ragged__section_misaligned),
        T(test_ragged__section_before_heap),
        T(test_ragged__section_overlaps_heap_end),
        T(test_ragged__section_beyond_index),
        T(test_ragged__section_past_index_end),
        T(test_ragged__section_offset_huge),
        T(test_ragged__count_2_pow_32),
        T(test_ragged__count_u32_max),
        T(test_ragged__count_u64_max),
        T(test_ragged__count_zero_means_none),
        T(test_ragged__damaged_offsets),
        T(test_ragged__damaged_offsets_resealed),
        T(test_ragged__damaged_offsets_listed_first),
        T(test_ragged__damaged_long_offsets),
        T(test_ragged__invalid_utf8_found_by_verify),
        T(test_ragged__copy_on_write_rechecks),
        T(test_ragged__read_write_rechecks),
    };
#undef T
    return cmocka_run_group_tests_name("ragged", tests, NULL, NULL);
}
