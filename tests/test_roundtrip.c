/* SPDX-License-Identifier: MIT */
/*
 * test_roundtrip.c — writer-to-reader round trips through the public API (mmarr.h): every
 * dtype kind of spec.md §8 (both byte orders, ml_dtypes floats, strings, datetimes,
 * structured and nested records), 0-d and zero-size arrays, C and Fortran order with
 * numpy-style strides, in-place reservation, packed small arrays next to page-aligned big
 * ones at 4 KiB and 64 KiB alignment (spec.md §9), file and array metadata (§7.4), ten
 * thousand arrays found by name, insertion-ordered iteration, and mmarr_open_buffer() over
 * the same bytes. Each check compares real values: data bytes, XXH3-64 checksums computed
 * here, shapes, strides, offsets and the on-disk superblock (format/mmarr_format.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "mmarr.h"
#include "mmarr_format.h"
#include "testutil.h"

/* ---------------------------------------------------------------------------------------- */
/* Fixture and helpers                                                                       */


static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) / a * a;
}

static mmarr_writer *writer_new(const char *path, const mmarr_writer_options *opts)
{
    mmarr_writer_options o;
    memset(&o, 0, sizeof o);
    if (opts)
        o = *opts;
    o.flags |= MMARR_WRITE_NO_SYNC;
    mmarr_writer *w = NULL;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    mmarr_err rc = mmarr_writer_create(path, &o, &w, &e);
    if (rc != MMARR_OK)
        print_error("mmarr_writer_create(%s): %s\n", path, e.message);
    assert_int_equal(rc, MMARR_OK);
    assert_non_null(w);
    assert_int_equal(mmarr_writer_count(w), 0);
    assert_int_equal(mmarr_writer_error(w)->code, MMARR_OK);
    return w;
}

static void add_ok(mmarr_writer *w, const char *name, const char *dtype, unsigned ndim,
                   const uint64_t *shape, mmarr_order order, const void *data)
{
    size_t before = mmarr_writer_count(w);
    mmarr_err rc = mmarr_writer_add(w, name, dtype, ndim, shape, order, data);
    if (rc != MMARR_OK)
        print_error("mmarr_writer_add(%s, %s): %s\n", name, dtype, mmarr_writer_error(w)->message);
    assert_int_equal(rc, MMARR_OK);
    assert_int_equal(mmarr_writer_count(w), before + 1);
}

static void *reserve_ok(mmarr_writer *w, const char *name, const char *dtype, unsigned ndim,
                        const uint64_t *shape, mmarr_order order)
{
    void *p = (void *)1;
    mmarr_err rc = mmarr_writer_reserve(w, name, dtype, ndim, shape, order, &p);
    if (rc != MMARR_OK)
        print_error("mmarr_writer_reserve(%s, %s): %s\n", name, dtype,
                    mmarr_writer_error(w)->message);
    assert_int_equal(rc, MMARR_OK);
    return p;
}

static void commit_ok(mmarr_writer *w)
{
    mmarr_err rc = mmarr_writer_commit(w);
    if (rc != MMARR_OK)
        print_error("mmarr_writer_commit: %s\n", mmarr_writer_error(w)->message);
    assert_int_equal(rc, MMARR_OK);
    mmarr_writer_free(w);
}

static mmarr_file *open_ok(const char *path, unsigned flags)
{
    mmarr_file *f = NULL;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    mmarr_err rc = mmarr_open(path, flags, &f, &e);
    if (rc != MMARR_OK)
        print_error("mmarr_open(%s): %s\n", path, e.message);
    assert_int_equal(rc, MMARR_OK);
    assert_non_null(f);
    return f;
}

static mmarr_file *open_buffer_ok(const void *buf, size_t size)
{
    mmarr_file *f = NULL;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    mmarr_err rc = mmarr_open_buffer(buf, size, 0, &f, &e);
    if (rc != MMARR_OK)
        print_error("mmarr_open_buffer: %s\n", e.message);
    assert_int_equal(rc, MMARR_OK);
    assert_non_null(f);
    return f;
}

static void find_ok(mmarr_file *f, const char *name, mmarr_array_info *a)
{
    mmarr_error e;
    memset(&e, 0, sizeof e);
    memset(a, 0, sizeof *a);
    mmarr_err rc = mmarr_file_find_array(f, name, a, &e);
    if (rc != MMARR_OK)
        print_error("mmarr_file_find_array(%s): %s\n", name, e.message);
    assert_int_equal(rc, MMARR_OK);
}

static void verify_ok(mmarr_file *f)
{
    mmarr_error e;
    memset(&e, 0, sizeof e);
    mmarr_err rc = mmarr_file_verify(f, &e);
    if (rc != MMARR_OK)
        print_error("mmarr_file_verify: %s\n", e.message);
    assert_int_equal(rc, MMARR_OK);
}

/* A malloc'd buffer of n pseudo-random bytes (at least 1 byte allocated). */
static void *random_bytes(uint64_t n, uint64_t seed)
{
    void *p = malloc(n ? (size_t)n : 1);
    assert_non_null(p);
    tu_fill(p, (size_t)n, seed);
    return p;
}

static uint64_t product(unsigned ndim, const uint64_t *shape)
{
    uint64_t n = 1;
    for (unsigned i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

/* numpy's strides for a contiguous array of this shape and order. */
static void expected_strides(unsigned ndim, const uint64_t *shape, uint64_t itemsize,
                             mmarr_order order, int64_t *out)
{
    int64_t s = (int64_t)itemsize;
    if (order == MMARR_ORDER_C) {
        for (unsigned i = ndim; i-- > 0;) {
            out[i] = s;
            s *= (int64_t)shape[i];
        }
    } else {
        for (unsigned i = 0; i < ndim; i++) {
            out[i] = s;
            s *= (int64_t)shape[i];
        }
    }
}

/* Everything a reader must report about one array written with these parameters. */
static void check_array(const mmarr_array_info *a, const char *name, const char *dtype,
                        uint64_t itemsize, unsigned ndim, const uint64_t *shape,
                        mmarr_order order, const void *data)
{
    ASSERT_STR(a->name, name);
    assert_int_equal(a->name_size, strlen(name));
    ASSERT_STR(a->dtype_str, dtype);
    assert_non_null(a->dtype);
    ASSERT_STR(mmarr_dtype_str(a->dtype), dtype);
    assert_int_equal(a->itemsize, itemsize);
    assert_int_equal(mmarr_dtype_itemsize(a->dtype), itemsize);
    assert_int_equal(a->ndim, ndim);
    uint64_t nitems = product(ndim, shape);
    int any_zero = 0;
    for (unsigned i = 0; i < ndim; i++) {
        assert_non_null(a->shape);
        assert_int_equal(a->shape[i], shape[i]);
        any_zero |= shape[i] == 0;
    }
    if (!any_zero) {
        int64_t st[MMARR_MAX_DIMS];
        expected_strides(ndim, shape, itemsize, order, st);
        for (unsigned i = 0; i < ndim; i++)
            assert_int_equal(a->strides[i], st[i]);
    }
    if (ndim > 1)
        assert_int_equal(a->order, order);
    assert_int_equal(a->storage, MMARR_STORAGE_HOT);
    assert_int_equal(a->nitems, nitems);
    assert_int_equal(a->nbytes, nitems * itemsize);
    assert_int_equal(a->stored_bytes, a->nbytes);
    assert_true(a->offset >= MMARR_SUPERBLOCK_SIZE);
    static const char empty[1] = {0};
    uint64_t h = XXH3_64bits(a->nbytes ? data : empty, (size_t)a->nbytes);
    assert_int_equal(a->checksum, h);
    if (a->nbytes) {
        assert_non_null(a->data);
        assert_memory_equal(a->data, data, (size_t)a->nbytes);
        assert_int_equal(XXH3_64bits(a->data, (size_t)a->nbytes), h);
    }
}

static void check_found(mmarr_file *f, const char *name, const char *dtype, uint64_t itemsize,
                        unsigned ndim, const uint64_t *shape, mmarr_order order,
                        const void *data)
{
    mmarr_array_info a;
    find_ok(f, name, &a);
    check_array(&a, name, dtype, itemsize, ndim, shape, order, data);
    size_t idx = 12345;
    assert_int_equal(mmarr_file_find(f, name, &idx, NULL), MMARR_OK);
    assert_int_equal(idx, a.index);
    mmarr_error e;
    memset(&e, 0, sizeof e);
    mmarr_err rc = mmarr_file_verify_array(f, a.index, &e);
    if (rc != MMARR_OK)
        print_error("verify_array(%s): %s\n", name, e.message);
    assert_int_equal(rc, MMARR_OK);
}

/* ---------------------------------------------------------------------------------------- */
/* Every dtype kind                                                                          */

typedef struct dcase {
    const char *dtype_in; /* what the writer is given */
    const char *dtype;    /* canonical text the reader reports */
    uint64_t itemsize;
} dcase;

static const dcase ALL_DTYPES[] = {
    {"|b1", "|b1", 1},
    {"|i1", "|i1", 1},
    {"<i2", "<i2", 2},
    {"<i4", "<i4", 4},
    {"<i8", "<i8", 8},
    {">i2", ">i2", 2},
    {">i4", ">i4", 4},
    {">i8", ">i8", 8},
    {"|u1", "|u1", 1},
    {"<u2", "<u2", 2},
    {"<u4", "<u4", 4},
    {"<u8", "<u8", 8},
    {">u2", ">u2", 2},
    {">u4", ">u4", 4},
    {">u8", ">u8", 8},
    {"<f2", "<f2", 2},
    {"<f4", "<f4", 4},
    {"<f8", "<f8", 8},
    {">f8", ">f8", 8},
    {"<c8", "<c8", 8},
    {"<c16", "<c16", 16},
    {"bfloat16", "bfloat16", 2},
    {"float8_e4m3fn", "float8_e4m3fn", 1},
    {"float8_e5m2", "float8_e5m2", 1},
    {"|S6", "|S6", 6},
    {"<U5", "<U5", 20},
    {"|V3", "|V3", 3},
    {"<M8[ns]", "<M8[ns]", 8},
    {"<m8[us]", "<m8[us]", 8},
    {"<M8[10ms]", "<M8[10ms]", 8},
    {"<M8", "<M8", 8},
    {"[('date', '<M8[ns]'), ('val', '<f8'), ('c', '|S6')]",
     "[('date', '<M8[ns]'), ('val', '<f8'), ('c', '|S6')]", 22},
    {"[('id', '<u4'), ('pos', '<f4', (3,)), ('', '|V4'), "
     "('inner', [('a', '|i1'), ('b', '<i2', (2, 2))])]",
     "[('id', '<u4'), ('pos', '<f4', (3,)), ('', '|V4'), "
     "('inner', [('a', '|i1'), ('b', '<i2', (2, 2))])]",
     29},
    /* convenience spellings are stored canonically */
    {"float32", "<f4", 4},
    {"=i8", "<i8", 8},
    {"S6", "|S6", 6},
    {"[(\"a\", \"f4\"), (\"b\", \"u1\", (2,3))]", "[('a', '<f4'), ('b', '|u1', (2, 3))]", 10},
};
#define N_ALL_DTYPES (sizeof ALL_DTYPES / sizeof ALL_DTYPES[0])

static const uint64_t SHAPE_3x5[2] = {3, 5};

static void write_all_dtypes(const char *path, void **datas, const mmarr_writer_options *o)
{
    mmarr_writer *w = writer_new(path, o);
    char name[64];
    for (size_t i = 0; i < N_ALL_DTYPES; i++) {
        datas[i] = random_bytes(15 * ALL_DTYPES[i].itemsize, 1000 + i);
        snprintf(name, sizeof name, "dtype/%02zu", i);
        add_ok(w, name, ALL_DTYPES[i].dtype_in, 2, SHAPE_3x5,
               i % 2 ? MMARR_ORDER_F : MMARR_ORDER_C, datas[i]);
    }
    assert_int_equal(mmarr_writer_count(w), N_ALL_DTYPES);
    commit_ok(w);
}

static void check_all_dtypes(mmarr_file *f, void **datas)
{
    char name[64];
    assert_int_equal(mmarr_file_count(f), N_ALL_DTYPES);
    for (size_t i = 0; i < N_ALL_DTYPES; i++) {
        snprintf(name, sizeof name, "dtype/%02zu", i);
        check_found(f, name, ALL_DTYPES[i].dtype, ALL_DTYPES[i].itemsize, 2, SHAPE_3x5,
                    i % 2 ? MMARR_ORDER_F : MMARR_ORDER_C, datas[i]);
    }
    verify_ok(f);
}

static void test_roundtrip__every_dtype_kind(void **state)
{
    char *path = tu_path(*state, "all.mmarr");
    void *datas[N_ALL_DTYPES];
    write_all_dtypes(path, datas, NULL);

    mmarr_file *f = open_ok(path, 0);
    check_all_dtypes(f, datas);
    mmarr_close(f);

    /* The same bytes through mmarr_open_buffer(). */
    size_t size = 0;
    void *buf = tu_read_file(path, &size);
    assert_non_null(buf);
    f = open_buffer_ok(buf, size);
    check_all_dtypes(f, datas);
    mmarr_close(f);
    free(buf);

    for (size_t i = 0; i < N_ALL_DTYPES; i++)
        free(datas[i]);
    free(path);
}

static void test_roundtrip__struct_fields_through_file(void **state)
{
    char *path = tu_path(*state, "s.mmarr");
    const char *dt = "[('id', '<u4'), ('pos', '<f4', (3,)), ('', '|V4'), "
                     "('inner', [('a', '|i1'), ('b', '<i2', (2, 2))])]";
    uint64_t shape[1] = {7};
    unsigned char *data = random_bytes(7 * 29, 5);
    mmarr_writer *w = writer_new(path, NULL);
    add_ok(w, "rec", dt, 1, shape, MMARR_ORDER_C, data);
    commit_ok(w);

    mmarr_file *f = open_ok(path, 0);
    mmarr_array_info a;
    find_ok(f, "rec", &a);
    check_array(&a, "rec", dt, 29, 1, shape, MMARR_ORDER_C, data);
    assert_int_equal(mmarr_dtype_kind(a.dtype), MMARR_KIND_STRUCT);
    assert_int_equal(mmarr_dtype_nfields(a.dtype), 4);
    static const uint64_t offs[4] = {0, 4, 16, 20};
    static const char *const names[4] = {"id", "pos", "", "inner"};
    for (size_t i = 0; i < 4; i++) {
        const mmarr_field *fl = mmarr_dtype_field(a.dtype, i);
        assert_non_null(fl);
        ASSERT_STR(fl->name, names[i]);
        assert_int_equal(fl->offset, offs[i]);
    }
    assert_int_equal(mmarr_dtype_field(a.dtype, 1)->ndim, 1);
    assert_int_equal(mmarr_dtype_field(a.dtype, 1)->shape[0], 3);
    const mmarr_dtype *inner = mmarr_dtype_field(a.dtype, 3)->dtype;
    assert_int_equal(mmarr_dtype_itemsize(inner), 9);
    assert_int_equal(mmarr_dtype_field(inner, 1)->offset, 1);
    assert_int_equal(mmarr_dtype_field(inner, 1)->ndim, 2);
    /* element 3's "id" is the 4 bytes at 3 * 29 */
    uint32_t id_file, id_mem;
    memcpy(&id_file, (const unsigned char *)a.data + 3 * 29, 4);
    memcpy(&id_mem, data + 3 * 29, 4);
    assert_int_equal(id_file, id_mem);
    mmarr_close(f);
    free(data);
    free(path);
}

static void test_roundtrip__byte_order_is_kept(void **state)
{
    char *path = tu_path(*state, "be.mmarr");
    /* Big-endian 1, 2, 0x01020304: the bytes are stored as given, never swapped. */
    static const unsigned char be[12] = {0, 0, 0, 1, 0, 0, 0, 2, 1, 2, 3, 4};
    uint64_t shape[1] = {3};
    mmarr_writer *w = writer_new(path, NULL);
    add_ok(w, "be", ">i4", 1, shape, MMARR_ORDER_C, be);
    add_ok(w, "le", "<i4", 1, shape, MMARR_ORDER_C, be);
    commit_ok(w);
    mmarr_file *f = open_ok(path, 0);
    mmarr_array_info a;
    find_ok(f, "be", &a);
    assert_memory_equal(a.data, be, 12);
    assert_int_equal(mmarr_dtype_byteorder(a.dtype), '>');
    find_ok(f, "le", &a);
    assert_memory_equal(a.data, be, 12);
    assert_int_equal(mmarr_dtype_byteorder(a.dtype), '<');
    int32_t v;
    memcpy(&v, (const unsigned char *)a.data + 8, 4);
    assert_int_equal(v, 0x04030201);
    mmarr_close(f);
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* Shapes and orders                                                                         */

static void test_roundtrip__zero_dim_arrays(void **state)
{
    char *path = tu_path(*state, "0d.mmarr");
    double pi = 3.25;
    const char s6[6] = {'a', 'b', 'c', 'd', 'e', 'f'};
    unsigned char rec[22];
    tu_fill(rec, sizeof rec, 9);
    const uint64_t dummy[1] = {99};
    mmarr_writer *w = writer_new(path, NULL);
    add_ok(w, "pi", "<f8", 0, dummy, MMARR_ORDER_C, &pi);
    add_ok(w, "s", "|S6", 0, dummy, MMARR_ORDER_C, s6);
    add_ok(w, "rec", "[('date', '<M8[ns]'), ('val', '<f8'), ('c', '|S6')]", 0, dummy,
           MMARR_ORDER_F, rec);
    commit_ok(w);

    mmarr_file *f = open_ok(path, 0);
    mmarr_array_info a;
    find_ok(f, "pi", &a);
    check_array(&a, "pi", "<f8", 8, 0, NULL, MMARR_ORDER_C, &pi);
    assert_int_equal(a.nitems, 1);
    assert_int_equal(a.nbytes, 8);
    double got;
    memcpy(&got, a.data, 8);
    assert_true(got == 3.25);
    find_ok(f, "s", &a);
    check_array(&a, "s", "|S6", 6, 0, NULL, MMARR_ORDER_C, s6);
    find_ok(f, "rec", &a);
    check_array(&a, "rec", "[('date', '<M8[ns]'), ('val', '<f8'), ('c', '|S6')]", 22, 0, NULL,
                MMARR_ORDER_C, rec);
    verify_ok(f);
    mmarr_close(f);
    free(path);
}

static void test_roundtrip__zero_size_arrays(void **state)
{
    char *path = tu_path(*state, "empty.mmarr");
    static const uint64_t s0[1] = {0};
    static const uint64_t s305[3] = {3, 0, 5};
    static const uint64_t s00[2] = {0, 0};
    static const uint64_t s40[2] = {4, 0};
    const char junk[8] = "junk";
    unsigned char *after = random_bytes(5000, 3);
    uint64_t s5000[1] = {5000};
    mmarr_writer *w = writer_new(path, NULL);
    add_ok(w, "e1", "<f4", 1, s0, MMARR_ORDER_C, NULL);
    add_ok(w, "e3", "<i8", 3, s305, MMARR_ORDER_C, NULL);
    add_ok(w, "big", "|u1", 1, s5000, MMARR_ORDER_C, after);
    add_ok(w, "eF", "<c16", 2, s00, MMARR_ORDER_F, NULL);
    add_ok(w, "ejunk", "|S6", 2, s40, MMARR_ORDER_C, junk); /* data ignored: nbytes is 0 */
    void *p = (void *)1;
    assert_int_equal(mmarr_writer_reserve(w, "er", "<f8", 1, s0, MMARR_ORDER_C, &p), MMARR_OK);
    assert_null(p);
    commit_ok(w);

    mmarr_file *f = open_ok(path, 0);
    assert_int_equal(mmarr_file_count(f), 6);
    check_found(f, "e1", "<f4", 4, 1, s0, MMARR_ORDER_C, NULL);
    check_found(f, "e3", "<i8", 8, 3, s305, MMARR_ORDER_C, NULL);
    check_found(f, "big", "|u1", 1, 1, s5000, MMARR_ORDER_C, after);
    check_found(f, "eF", "<c16", 16, 2, s00, MMARR_ORDER_F, NULL);
    check_found(f, "ejunk", "|S6", 6, 2, s40, MMARR_ORDER_C, NULL);
    check_found(f, "er", "<f8", 8, 1, s0, MMARR_ORDER_C, NULL);
    mmarr_array_info a;
    find_ok(f, "e3", &a);
    assert_int_equal(a.nitems, 0);
    assert_int_equal(a.nbytes, 0);
    assert_int_equal(a.stored_bytes, 0);
    verify_ok(f);
    mmarr_close(f);
    free(after);
    free(path);
}

static void test_roundtrip__fortran_and_c_strides(void **state)
{
    char *path = tu_path(*state, "order.mmarr");
    static const uint64_t shape[3] = {3, 4, 5};
    double *d = random_bytes(60 * 8, 77);
    unsigned char *s6 = random_bytes(60 * 6, 78);
    mmarr_writer *w = writer_new(path, NULL);
    add_ok(w, "F", "<f8", 3, shape, MMARR_ORDER_F, d);
    add_ok(w, "C", "<f8", 3, shape, MMARR_ORDER_C, d);
    add_ok(w, "S", "|S6", 3, shape, MMARR_ORDER_F, s6);
    commit_ok(w);
    mmarr_file *f = open_ok(path, 0);
    mmarr_array_info a;
    find_ok(f, "F", &a);
    check_array(&a, "F", "<f8", 8, 3, shape, MMARR_ORDER_F, d);
    assert_int_equal(a.order, MMARR_ORDER_F);
    assert_int_equal(a.strides[0], 8);
    assert_int_equal(a.strides[1], 24);
    assert_int_equal(a.strides[2], 96);
    find_ok(f, "C", &a);
    check_array(&a, "C", "<f8", 8, 3, shape, MMARR_ORDER_C, d);
    assert_int_equal(a.order, MMARR_ORDER_C);
    assert_int_equal(a.strides[0], 160);
    assert_int_equal(a.strides[1], 40);
    assert_int_equal(a.strides[2], 8);
    find_ok(f, "S", &a);
    check_array(&a, "S", "|S6", 6, 3, shape, MMARR_ORDER_F, s6);
    assert_int_equal(a.order, MMARR_ORDER_F);
    assert_int_equal(a.strides[0], 6);
    assert_int_equal(a.strides[1], 18);
    assert_int_equal(a.strides[2], 72);
    mmarr_close(f);
    free(s6);
    free(d);
    free(path);
}

static void test_roundtrip__reserve_fills_in_place(void **state)
{
    char *path = tu_path(*state, "res.mmarr");
    static const uint64_t s1000[1] = {1000};
    static const uint64_t s0[1] = {0};
    static const uint64_t s10x10[2] = {10, 10};
    static const uint64_t s3[1] = {3};
    mmarr_writer *w = writer_new(path, NULL);
    int32_t *r1 = reserve_ok(w, "r1", "<i4", 1, s1000, MMARR_ORDER_C);
    assert_non_null(r1);
    for (size_t i = 0; i < 1000; i++)
        assert_int_equal(r1[i], 0); /* zero-filled */
    void *r0 = reserve_ok(w, "r0", "<i4", 1, s0, MMARR_ORDER_C);
    assert_null(r0);
    const int16_t small[3] = {-1, 2, -3};
    add_ok(w, "small", "<i2", 1, s3, MMARR_ORDER_C, small);
    double *r2 = reserve_ok(w, "r2", "<f8", 2, s10x10, MMARR_ORDER_F);
    assert_non_null(r2);
    unsigned char *r3 = reserve_ok(w, "r3", "|u1", 1, s3, MMARR_ORDER_C); /* packed */
    assert_non_null(r3);
    assert_int_equal(mmarr_writer_count(w), 5);
    /* Pointers stay valid until commit, even after more arrays were added. */
    int32_t e1[1000];
    double e2[100];
    for (int i = 0; i < 1000; i++)
        r1[i] = e1[i] = i * i - 7;
    for (int i = 0; i < 100; i++)
        r2[i] = e2[i] = i / 3.0;
    r3[0] = 7;
    r3[2] = 9;
    const unsigned char e3[3] = {7, 0, 9};
    commit_ok(w);

    mmarr_file *f = open_ok(path, 0);
    check_found(f, "r1", "<i4", 4, 1, s1000, MMARR_ORDER_C, e1);
    check_found(f, "r0", "<i4", 4, 1, s0, MMARR_ORDER_C, NULL);
    check_found(f, "small", "<i2", 2, 1, s3, MMARR_ORDER_C, small);
    check_found(f, "r2", "<f8", 8, 2, s10x10, MMARR_ORDER_F, e2);
    check_found(f, "r3", "|u1", 1, 1, s3, MMARR_ORDER_C, e3);
    verify_ok(f);
    mmarr_close(f);
    free(path);
}

/* MMARR_WRITE_KEEP_RESERVED: reserved memory outlives the writer, as the caller's. After a
 * commit it reads the committed bytes and writes to it stay private (the file and its
 * checksums unchanged); after an abandon it holds zeros. The file's identity is its inode. */
static void test_roundtrip__keep_reserved_after_commit_and_abandon(void **state)
{
    char *path = tu_path(*state, "keep.mmarr");
    static const uint64_t s[1] = {5000};
    const mmarr_writer_options o = {.flags = MMARR_WRITE_KEEP_RESERVED};
    mmarr_writer *w = writer_new(path, &o);
    int32_t *r = reserve_ok(w, "r", "<i4", 1, s, MMARR_ORDER_C);
    int32_t *expect = malloc(sizeof(int32_t) * 5000);
    assert_non_null(expect);
    for (int i = 0; i < 5000; i++)
        r[i] = expect[i] = 3 * i + 1;
    commit_ok(w); /* and free */
    assert_memory_equal(r, expect, sizeof(int32_t) * 5000); /* still mapped: committed bytes */
    r[0] = -1;                                              /* private: the file keeps 1 */
    mmarr_file *f = open_ok(path, 0);
    check_found(f, "r", "<i4", 4, 1, s, MMARR_ORDER_C, expect);
    verify_ok(f);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    assert_int_equal(fi.device, (uint64_t)st.st_dev);
    assert_int_equal(fi.inode, (uint64_t)st.st_ino);
    mmarr_close(f);
    mmarr_reserved_release(r, sizeof(int32_t) * 5000);

    w = writer_new(path, &o);
    r = reserve_ok(w, "r", "<i4", 1, s, MMARR_ORDER_C);
    r[7] = 7;
    mmarr_writer_free(w); /* abandoned: zero pages stay at the address */
    for (int i = 0; i < 5000; i++)
        assert_int_equal(r[i], 0);
    r[1] = 5; /* writable */
    mmarr_reserved_release(r, sizeof(int32_t) * 5000);
    mmarr_reserved_release(NULL, 0);
    free(expect);
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* Placement: packed and page-aligned arrays                                                 */

static void check_placement(mmarr_file *f, uint64_t alignment, int is_buffer)
{
    mmarr_file_info fi;
    memset(&fi, 0, sizeof fi);
    mmarr_file_get_info(f, &fi);
    assert_int_equal(fi.alignment, alignment);
    long page = sysconf(_SC_PAGESIZE);
    uint64_t prev_end = MMARR_SUPERBLOCK_SIZE;
    for (size_t i = 0; i < fi.count; i++) {
        mmarr_array_info a;
        assert_int_equal(mmarr_file_array(f, i, &a, NULL), MMARR_OK);
        assert_int_equal(a.index, i);
        uint64_t al = a.packed ? MMARR_PACKED_ALIGNMENT : alignment;
        assert_int_equal(a.offset % al, 0);
        assert_true(a.offset >= prev_end); /* entry order is data order, no overlap */
        uint64_t end = align_up(a.offset + a.stored_bytes, al);
        assert_true(end <= fi.file_size);
        /* no intersection with the index */
        assert_true(end <= fi.index_offset || a.offset >= fi.index_offset + fi.index_size);
        if (!is_buffer && a.nbytes) {
            uintptr_t p = (uintptr_t)a.data;
            if (a.packed)
                assert_int_equal(p % MMARR_PACKED_ALIGNMENT, 0);
            else
                assert_int_equal(p % (uintptr_t)page, 0);
        }
        prev_end = end;
    }
}

static void run_alignment(const char *dir, uint32_t alignment)
{
    char *path = tu_path(dir, "align.mmarr");
    static const struct {
        const char *name;
        uint64_t n;
        int packed; /* default pack threshold 2048: smaller arrays are packed */
    } arrays[] = {
        {"big0", 10000, 0}, {"s0", 100, 1},   {"s1", 2047, 1}, {"edge", 2048, 0},
        {"s2", 1, 1},       {"big1", 70000, 0}, {"s3", 300, 1}, {"s4", 256, 1},
        {"s5", 257, 1},     {"big2", 4096, 0},  {"s6", 8, 1},
    };
    size_t n = sizeof arrays / sizeof arrays[0];
    void *datas[16];
    mmarr_writer_options o;
    memset(&o, 0, sizeof o);
    o.alignment = alignment;
    mmarr_writer *w = writer_new(path, &o);
    for (size_t i = 0; i < n; i++) {
        datas[i] = random_bytes(arrays[i].n, i + alignment);
        uint64_t shape[1] = {arrays[i].n};
        add_ok(w, arrays[i].name, "|u1", 1, shape, MMARR_ORDER_C, datas[i]);
    }
    commit_ok(w);

    mmarr_file *f = open_ok(path, 0);
    for (size_t i = 0; i < n; i++) {
        uint64_t shape[1] = {arrays[i].n};
        check_found(f, arrays[i].name, "|u1", 1, 1, shape, MMARR_ORDER_C, datas[i]);
        mmarr_array_info a;
        find_ok(f, arrays[i].name, &a);
        assert_int_equal(a.index, i);
        assert_int_equal(!!a.packed, arrays[i].packed);
    }
    check_placement(f, alignment, 0);
    verify_ok(f);
    mmarr_close(f);

    size_t size = 0;
    void *buf = tu_read_file(path, &size);
    assert_non_null(buf);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((uint64_t)st.st_size, size);
    f = open_buffer_ok(buf, size);
    check_placement(f, alignment, 1);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    assert_true(fi.file_size <= size);
    verify_ok(f);
    mmarr_close(f);
    free(buf);

    for (size_t i = 0; i < n; i++)
        free(datas[i]);
    free(path);
}

static void test_roundtrip__packed_next_to_big_align_4096(void **state)
{
    run_alignment(*state, 4096);
}

static void test_roundtrip__packed_next_to_big_align_65536(void **state)
{
    run_alignment(*state, 65536);
}

static void test_roundtrip__pack_threshold_option(void **state)
{
    char *path = tu_path(*state, "thr.mmarr");
    unsigned char *d = random_bytes(200, 1);
    uint64_t s99[1] = {99}, s100[1] = {100}, s1[1] = {1};

    mmarr_writer_options o;
    memset(&o, 0, sizeof o);
    o.pack_threshold = 100;
    mmarr_writer *w = writer_new(path, &o);
    add_ok(w, "a99", "|u1", 1, s99, MMARR_ORDER_C, d);
    add_ok(w, "a100", "|u1", 1, s100, MMARR_ORDER_C, d);
    add_ok(w, "a1", "|u1", 1, s1, MMARR_ORDER_C, d);
    commit_ok(w);
    mmarr_file *f = open_ok(path, 0);
    mmarr_array_info a;
    find_ok(f, "a99", &a);
    assert_true(a.packed);
    find_ok(f, "a100", &a);
    assert_false(a.packed);
    assert_int_equal(a.offset % 4096, 0);
    find_ok(f, "a1", &a);
    assert_true(a.packed);
    check_placement(f, 4096, 0);
    mmarr_close(f);

    o.pack_threshold = MMARR_PACK_NONE;
    w = writer_new(path, &o);
    add_ok(w, "a1", "|u1", 1, s1, MMARR_ORDER_C, d);
    add_ok(w, "a99", "|u1", 1, s99, MMARR_ORDER_C, d);
    commit_ok(w);
    f = open_ok(path, 0);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(mmarr_file_array(f, i, &a, NULL), MMARR_OK);
        assert_false(a.packed);
        assert_int_equal(a.offset % 4096, 0);
    }
    check_found(f, "a99", "|u1", 1, 1, s99, MMARR_ORDER_C, d);
    check_placement(f, 4096, 0);
    mmarr_close(f);
    free(d);
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* Metadata                                                                                  */

static void check_meta(mmarr_file *f)
{
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    /* sorted byte-wise: "\xc3\xbc..." (0xC3) sorts after ASCII */
    static const char *const keys[] = {"alpha", "emoji", "empty", "mid", "zeta",
                                       ("\xc3\xbc" "ber")};
    static const char *const vals[] = {"first-replaced", "\xf0\x9f\x98\x80", "",
                                       "{\"json\": [1, 2]}", "last", "gr\xc3\xbc\xc3\x9f"};
    assert_int_equal(fi.meta_count, 6);
    for (size_t i = 0; i < 6; i++) {
        const char *k = NULL, *v = NULL;
        assert_int_equal(mmarr_file_meta(f, i, &k, &v, NULL), MMARR_OK);
        ASSERT_STR(k, keys[i]);
        ASSERT_STR(v, vals[i]);
        ASSERT_STR(mmarr_file_meta_get(f, keys[i]), vals[i]);
    }
    const char *k = NULL, *v = NULL;
    mmarr_error e;
    assert_int_equal(mmarr_file_meta(f, 6, &k, &v, &e), MMARR_E_INVAL);
    assert_null(mmarr_file_meta_get(f, "absent"));
    assert_null(mmarr_file_meta_get(f, "alph"));
    assert_null(mmarr_file_meta_get(f, "alphaa"));

    /* array "a": three keys, sorted */
    mmarr_array_info a;
    find_ok(f, "a", &a);
    assert_int_equal(a.meta_count, 3);
    static const char *const akeys[] = {"b", "desc", "units"};
    static const char *const avals[] = {"2", "velocit\xc3\xa9", "m/s"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(mmarr_array_meta(f, a.index, i, &k, &v, NULL), MMARR_OK);
        ASSERT_STR(k, akeys[i]);
        ASSERT_STR(v, avals[i]);
        ASSERT_STR(mmarr_array_meta_get(f, a.index, akeys[i]), avals[i]);
    }
    assert_int_equal(mmarr_array_meta(f, a.index, 3, &k, &v, NULL), MMARR_E_INVAL);
    assert_null(mmarr_array_meta_get(f, a.index, "unit"));
    assert_null(mmarr_array_meta_get(f, a.index, "alpha")); /* file keys are separate */

    /* array "plain": none */
    find_ok(f, "plain", &a);
    assert_int_equal(a.meta_count, 0);
    assert_null(mmarr_array_meta_get(f, a.index, "units"));
    assert_int_equal(mmarr_array_meta(f, a.index, 0, &k, &v, NULL), MMARR_E_INVAL);

    /* array "r" (reserved) has one key */
    find_ok(f, "r", &a);
    assert_int_equal(a.meta_count, 1);
    ASSERT_STR(mmarr_array_meta_get(f, a.index, "units"), "K");
    assert_null(mmarr_file_meta_get(f, "units"));

    /* out-of-range array index */
    assert_null(mmarr_array_meta_get(f, 999, "units"));
    assert_int_not_equal(mmarr_array_meta(f, 999, 0, &k, &v, NULL), MMARR_OK);
}

static void test_roundtrip__file_and_array_metadata(void **state)
{
    char *path = tu_path(*state, "meta.mmarr");
    uint64_t s2[1] = {2};
    const float fa[2] = {1.5f, -2.5f};
    mmarr_writer *w = writer_new(path, NULL);
    assert_int_equal(mmarr_writer_set_file_meta(w, "zeta", "last"), MMARR_OK);
    assert_int_equal(mmarr_writer_set_file_meta(w, "alpha", "first"), MMARR_OK);
    assert_int_equal(mmarr_writer_set_file_meta(w, "mid", "{\"json\": [1, 2]}"), MMARR_OK);
    assert_int_equal(mmarr_writer_set_file_meta(w, "\xc3\xbc" "ber", "gr\xc3\xbc\xc3\x9f"),
                     MMARR_OK);
    assert_int_equal(mmarr_writer_set_file_meta(w, "emoji", "\xf0\x9f\x98\x80"), MMARR_OK);
    assert_int_equal(mmarr_writer_set_file_meta(w, "empty", ""), MMARR_OK);
    assert_int_equal(mmarr_writer_set_file_meta(w, "alpha", "first-replaced"), MMARR_OK);
    add_ok(w, "a", "<f4", 1, s2, MMARR_ORDER_C, fa);
    add_ok(w, "plain", "<f4", 1, s2, MMARR_ORDER_C, fa);
    float *r = reserve_ok(w, "r", "<f4", 1, s2, MMARR_ORDER_C);
    r[0] = 1.0f;
    assert_int_equal(mmarr_writer_set_array_meta(w, "a", "units", "m/s"), MMARR_OK);
    assert_int_equal(mmarr_writer_set_array_meta(w, "a", "desc", "velocit\xc3\xa9"), MMARR_OK);
    assert_int_equal(mmarr_writer_set_array_meta(w, "a", "b", "2"), MMARR_OK);
    assert_int_equal(mmarr_writer_set_array_meta(w, "r", "units", "K"), MMARR_OK);
    commit_ok(w);

    mmarr_file *f = open_ok(path, 0);
    check_meta(f);
    verify_ok(f);
    mmarr_close(f);

    size_t size = 0;
    void *buf = tu_read_file(path, &size);
    assert_non_null(buf);
    f = open_buffer_ok(buf, size);
    check_meta(f);
    mmarr_close(f);
    free(buf);
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* Many arrays, names and order                                                              */

#define MANY 12000u

static void many_name(char *buf, size_t n, uint32_t id)
{
    snprintf(buf, n, "group%02u/array_%05u", id % 37, id);
}

static void check_many(mmarr_file *f)
{
    char name[64];
    assert_int_equal(mmarr_file_count(f), MANY);
    for (uint32_t i = 0; i < MANY; i++) {
        uint32_t id = (uint32_t)(((uint64_t)i * 7919u) % MANY);
        many_name(name, sizeof name, id);
        /* iteration follows insertion order */
        mmarr_array_info a;
        assert_int_equal(mmarr_file_array(f, i, &a, NULL), MMARR_OK);
        ASSERT_STR(a.name, name);
        /* binary search finds it */
        size_t idx = SIZE_MAX;
        assert_int_equal(mmarr_file_find(f, name, &idx, NULL), MMARR_OK);
        assert_int_equal(idx, i);
        int32_t v[4];
        assert_int_equal(a.nbytes, 16);
        memcpy(v, a.data, 16);
        for (int k = 0; k < 4; k++)
            assert_int_equal(v[k], (int32_t)(id * 4 + (uint32_t)k));
    }
    size_t idx;
    assert_int_equal(mmarr_file_find(f, "group00/array_", &idx, NULL), MMARR_E_NOTFOUND);
    assert_int_equal(mmarr_file_find(f, "group00/array_000000", &idx, NULL), MMARR_E_NOTFOUND);
    assert_int_equal(mmarr_file_find(f, "zzz", &idx, NULL), MMARR_E_NOTFOUND);
    assert_int_equal(mmarr_file_find(f, "a", &idx, NULL), MMARR_E_NOTFOUND);
    many_name(name, sizeof name, MANY);
    assert_int_equal(mmarr_file_find(f, name, &idx, NULL), MMARR_E_NOTFOUND);
    mmarr_array_info a;
    assert_int_equal(mmarr_file_array(f, MANY, &a, NULL), MMARR_E_INVAL);
}

static void test_roundtrip__ten_thousand_arrays(void **state)
{
    char *path = tu_path(*state, "many.mmarr");
    mmarr_writer *w = writer_new(path, NULL);
    char name[64];
    uint64_t s4[1] = {4};
    for (uint32_t i = 0; i < MANY; i++) {
        uint32_t id = (uint32_t)(((uint64_t)i * 7919u) % MANY);
        many_name(name, sizeof name, id);
        int32_t v[4];
        for (int k = 0; k < 4; k++)
            v[k] = (int32_t)(id * 4 + (uint32_t)k);
        mmarr_err rc = mmarr_writer_add(w, name, "<i4", 1, s4, MMARR_ORDER_C, v);
        if (rc != MMARR_OK)
            print_error("add %s: %s\n", name, mmarr_writer_error(w)->message);
        assert_int_equal(rc, MMARR_OK);
    }
    assert_int_equal(mmarr_writer_count(w), MANY);
    commit_ok(w);

    mmarr_file *f = open_ok(path, 0);
    check_many(f);
    mmarr_array_info a;
    find_ok(f, "group00/array_00000", &a);
    assert_true(a.packed);
    verify_ok(f);
    mmarr_close(f);

    size_t size = 0;
    void *buf = tu_read_file(path, &size);
    assert_non_null(buf);
    f = open_buffer_ok(buf, size);
    check_many(f);
    mmarr_close(f);
    free(buf);
    free(path);
}

static void test_roundtrip__iteration_is_insertion_order(void **state)
{
    char *path = tu_path(*state, "order.mmarr");
    static const char *const names[] = {
        "zebra", "apple", "Mango", "apple2", "b", "\xc3\xa9t\xc3\xa9", "a/b/c", "apple/x", "A",
    };
    size_t n = sizeof names / sizeof names[0];
    mmarr_writer *w = writer_new(path, NULL);
    for (size_t i = 0; i < n; i++) {
        uint64_t s1[1] = {1};
        uint64_t v = i * 1000 + 1;
        add_ok(w, names[i], "<u8", 1, s1, MMARR_ORDER_C, &v);
    }
    commit_ok(w);
    mmarr_file *f = open_ok(path, 0);
    assert_int_equal(mmarr_file_count(f), n);
    for (size_t i = 0; i < n; i++) {
        mmarr_array_info a;
        assert_int_equal(mmarr_file_array(f, i, &a, NULL), MMARR_OK);
        assert_int_equal(a.index, i);
        ASSERT_STR(a.name, names[i]);
        uint64_t v;
        memcpy(&v, a.data, 8);
        assert_int_equal(v, i * 1000 + 1);
        size_t idx = SIZE_MAX;
        assert_int_equal(mmarr_file_find(f, names[i], &idx, NULL), MMARR_OK);
        assert_int_equal(idx, i);
    }
    mmarr_close(f);
    free(path);
}

static void test_roundtrip__long_and_unicode_names(void **state)
{
    char *path = tu_path(*state, "names.mmarr");
    char *longname = malloc(65536);
    assert_non_null(longname);
    memset(longname, 'n', 65535);
    longname[65535] = '\0';
    static const char *const names[] = {"\xe6\x97\xa5\xe6\x9c\xac/\xe6\x95\xb0",
                                        "\xf0\x9f\x98\x80", "with space", "x"};
    uint64_t s1[1] = {1};
    uint8_t v = 42;
    mmarr_writer *w = writer_new(path, NULL);
    add_ok(w, longname, "|u1", 1, s1, MMARR_ORDER_C, &v);
    for (size_t i = 0; i < 4; i++)
        add_ok(w, names[i], "|u1", 1, s1, MMARR_ORDER_C, &v);
    commit_ok(w);
    mmarr_file *f = open_ok(path, 0);
    mmarr_array_info a;
    find_ok(f, longname, &a);
    assert_int_equal(a.name_size, 65535);
    assert_int_equal(a.index, 0);
    for (size_t i = 0; i < 4; i++) {
        find_ok(f, names[i], &a);
        assert_int_equal(a.index, i + 1);
        ASSERT_STR(a.name, names[i]);
        assert_int_equal(*(const uint8_t *)a.data, 42);
    }
    mmarr_close(f);
    free(longname);
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* Buffers, file info and the on-disk layout                                                 */

static void compare_handles(mmarr_file *fa, mmarr_file *fb, const unsigned char *buf)
{
    mmarr_file_info ia, ib;
    mmarr_file_get_info(fa, &ia);
    mmarr_file_get_info(fb, &ib);
    ASSERT_STR(ib.path, "<buffer>");
    assert_int_equal(ia.count, ib.count);
    assert_int_equal(ia.meta_count, ib.meta_count);
    assert_int_equal(ia.file_size, ib.file_size);
    assert_int_equal(ia.alignment, ib.alignment);
    assert_int_equal(ia.generation, ib.generation);
    assert_int_equal(ia.index_offset, ib.index_offset);
    assert_int_equal(ia.index_size, ib.index_size);
    assert_int_equal(ib.writable, 0);
    for (size_t i = 0; i < ia.count; i++) {
        mmarr_array_info a, b;
        assert_int_equal(mmarr_file_array(fa, i, &a, NULL), MMARR_OK);
        assert_int_equal(mmarr_file_array(fb, i, &b, NULL), MMARR_OK);
        ASSERT_STR(b.name, a.name);
        ASSERT_STR(b.dtype_str, a.dtype_str);
        assert_int_equal(b.ndim, a.ndim);
        for (unsigned d = 0; d < a.ndim; d++) {
            assert_int_equal(b.shape[d], a.shape[d]);
            assert_int_equal(b.strides[d], a.strides[d]);
        }
        assert_int_equal(b.order, a.order);
        assert_int_equal(b.nbytes, a.nbytes);
        assert_int_equal(b.offset, a.offset);
        assert_int_equal(b.checksum, a.checksum);
        assert_int_equal(b.packed, a.packed);
        assert_int_equal(b.meta_count, a.meta_count);
        if (a.nbytes) {
            assert_ptr_equal(b.data, buf + b.offset); /* no copy */
            assert_memory_equal(b.data, a.data, (size_t)a.nbytes);
        }
        for (size_t m = 0; m < a.meta_count; m++) {
            const char *ka, *va, *kb, *vb;
            assert_int_equal(mmarr_array_meta(fa, i, m, &ka, &va, NULL), MMARR_OK);
            assert_int_equal(mmarr_array_meta(fb, i, m, &kb, &vb, NULL), MMARR_OK);
            ASSERT_STR(kb, ka);
            ASSERT_STR(vb, va);
        }
        assert_int_equal(mmarr_file_verify_array(fb, i, NULL), MMARR_OK);
    }
    for (size_t m = 0; m < ia.meta_count; m++) {
        const char *ka, *va, *kb, *vb;
        assert_int_equal(mmarr_file_meta(fa, m, &ka, &va, NULL), MMARR_OK);
        assert_int_equal(mmarr_file_meta(fb, m, &kb, &vb, NULL), MMARR_OK);
        ASSERT_STR(kb, ka);
        ASSERT_STR(vb, va);
    }
}

static void test_roundtrip__open_buffer_matches_open(void **state)
{
    char *path = tu_path(*state, "buf.mmarr");
    void *datas[N_ALL_DTYPES];
    mmarr_writer_options o;
    memset(&o, 0, sizeof o);
    o.alignment = 8192;
    write_all_dtypes(path, datas, &o);

    size_t size = 0;
    void *tmp = tu_read_file(path, &size);
    assert_non_null(tmp);
    void *buf = NULL;
    assert_int_equal(posix_memalign(&buf, 65536, size), 0);
    memcpy(buf, tmp, size);
    free(tmp);

    mmarr_file *fa = open_ok(path, 0);
    mmarr_file *fb = open_buffer_ok(buf, size);
    compare_handles(fa, fb, buf);
    check_placement(fb, 8192, 0); /* 64 KiB-aligned buffer: the same pointer alignment */
    verify_ok(fb);
    mmarr_close(fb);
    mmarr_close(fa);

    /* Trailing bytes beyond file_size are allowed (the file is "at least" that long). */
    void *big = NULL;
    assert_int_equal(posix_memalign(&big, 4096, size + 4096), 0);
    memcpy(big, buf, size);
    memset((char *)big + size, 0, 4096);
    fb = open_buffer_ok(big, size + 4096);
    mmarr_file_info ib;
    mmarr_file_get_info(fb, &ib);
    assert_int_equal(ib.count, N_ALL_DTYPES);
    mmarr_close(fb);
    free(big);

    free(buf);
    for (size_t i = 0; i < N_ALL_DTYPES; i++)
        free(datas[i]);
    free(path);
}

static void test_roundtrip__file_info_and_disk_layout(void **state)
{
    char *path = tu_path(*state, "layout.mmarr");
    uint64_t s[1] = {3000};
    unsigned char *d = random_bytes(3000 * 8, 11);
    mmarr_writer *w = writer_new(path, NULL);
    add_ok(w, "x", "<f8", 1, s, MMARR_ORDER_C, d);
    add_ok(w, "y", "<i8", 1, s, MMARR_ORDER_C, d);
    add_ok(w, "tiny", "|u1", 1, s, MMARR_ORDER_C, d);
    assert_int_equal(mmarr_writer_set_file_meta(w, "k", "v"), MMARR_OK);
    commit_ok(w);

    size_t size = 0;
    unsigned char *buf = tu_read_file(path, &size);
    assert_non_null(buf);
    assert_true(size >= 512);
    mmarr_disk_prologue pro;
    memcpy(&pro, buf, sizeof pro);
    assert_memory_equal(pro.magic, MMARR_MAGIC, MMARR_MAGIC_SIZE);
    assert_int_equal(pro.format_major, 1);
    assert_int_equal(pro.format_minor, 0);
    assert_int_equal(pro.alignment, 4096);
    assert_int_equal(pro.checksum, XXH3_64bits(buf, 56));
    mmarr_disk_slot sa, sb;
    memcpy(&sa, buf + MMARR_SLOT_A_OFFSET, sizeof sa);
    memcpy(&sb, buf + MMARR_SLOT_B_OFFSET, sizeof sb);
    assert_int_equal(sa.generation, 1);
    assert_int_equal(sa.checksum, XXH3_64bits(&sa, 120));
    assert_int_equal(sa.required_features, 0);
    assert_int_equal(sa.state_flags, 0);
    assert_true(sa.file_size <= size);
    assert_int_equal(sa.index_offset % 64, 0);
    assert_true(sa.index_offset >= 512);
    assert_true(sa.index_size >= 192);
    assert_true(sa.index_offset + sa.index_size <= sa.file_size);
    assert_int_equal(sa.index_checksum, XXH3_64bits(buf + sa.index_offset, sa.index_size));
    static const unsigned char zero[192] = {0};
    assert_memory_equal(&sb, zero, sizeof sb); /* 1.0 writer leaves slot B empty */
    assert_memory_equal(buf + 320, zero, 192);
    assert_memory_equal(buf + sa.index_offset, MMARR_INDEX_MAGIC, 8);

    mmarr_file *f = open_ok(path, 0);
    mmarr_file_info fi;
    memset(&fi, 0xAB, sizeof fi);
    mmarr_file_get_info(f, &fi);
    ASSERT_STR(fi.path, path);
    assert_int_equal(fi.format_major, 1);
    assert_int_equal(fi.format_minor, 0);
    assert_int_equal(fi.file_size, sa.file_size);
    assert_int_equal(fi.alignment, 4096);
    assert_int_equal(fi.generation, 1);
    assert_int_equal(fi.count, 3);
    assert_int_equal(fi.meta_count, 1);
    assert_int_equal(fi.index_offset, sa.index_offset);
    assert_int_equal(fi.index_size, sa.index_size);
    assert_int_equal(fi.required_features, 0);
    assert_int_equal(fi.optional_features, 0);
    assert_int_equal(fi.writable, 0);
    assert_int_equal(fi.checksums_stale, 0);
    assert_int_equal(fi.inactive_slot_damaged, 0);
    /* The data bytes are where the index says. */
    mmarr_array_info a;
    find_ok(f, "y", &a);
    assert_memory_equal(buf + a.offset, d, 3000 * 8);
    mmarr_error le;
    memset(&le, 0, sizeof le);
    assert_int_equal(mmarr_file_last_error(f, &le), MMARR_OK);
    mmarr_close(f);
    free(buf);
    free(d);
    free(path);
}

static void test_roundtrip__open_flags_and_memory_hints(void **state)
{
    char *path = tu_path(*state, "flags.mmarr");
    uint64_t s[1] = {100000};
    unsigned char *d = random_bytes(100000, 12);
    mmarr_writer *w = writer_new(path, NULL);
    add_ok(w, "big", "|u1", 1, s, MMARR_ORDER_C, d);
    commit_ok(w);

    mmarr_file *f = open_ok(path, MMARR_OPEN_VERIFY | MMARR_OPEN_POPULATE);
    check_found(f, "big", "|u1", 1, 1, s, MMARR_ORDER_C, d);
    assert_int_equal(mmarr_file_advise(f, MMARR_ALL, MMARR_ADVICE_WILLNEED, NULL), MMARR_OK);
    assert_int_equal(mmarr_file_advise(f, 0, MMARR_ADVICE_SEQUENTIAL, NULL), MMARR_OK);
    assert_int_equal(mmarr_file_advise(f, 0, MMARR_ADVICE_RANDOM, NULL), MMARR_OK);
    assert_int_equal(mmarr_file_prefetch(f, 0, NULL), MMARR_OK);
    assert_int_equal(mmarr_file_prefetch(f, MMARR_ALL, NULL), MMARR_OK);
    assert_int_equal(mmarr_file_advise(f, 0, MMARR_ADVICE_DONTNEED, NULL), MMARR_OK);
    /* Still readable after DONTNEED: the data comes back from the file. */
    check_found(f, "big", "|u1", 1, 1, s, MMARR_ORDER_C, d);
    /* mlock may be refused by RLIMIT_MEMLOCK: then MMARR_E_IO with EPERM or ENOMEM. */
    mmarr_error e;
    memset(&e, 0, sizeof e);
    mmarr_err rc = mmarr_file_lock(f, 0, &e);
    if (rc == MMARR_OK) {
        assert_int_equal(mmarr_file_unlock(f, 0, NULL), MMARR_OK);
    } else {
        assert_int_equal(rc, MMARR_E_IO);
        assert_true(e.sys_errno == EPERM || e.sys_errno == ENOMEM || e.sys_errno == EAGAIN);
    }
    assert_int_equal(mmarr_file_lock(f, 5, NULL), MMARR_E_INVAL);
    mmarr_close(f);
    free(d);
    free(path);
}

static void test_roundtrip__version_string(void **state)
{
    (void)state;
    ASSERT_STR(mmarr_version_string(), MMARR_VERSION_STRING);
}

static void test_roundtrip__rewrite_replaces_file(void **state)
{
    char *path = tu_path(*state, "re.mmarr");
    uint64_t s[1] = {1};
    uint32_t v1 = 1, v2 = 2;
    mmarr_writer *w = writer_new(path, NULL);
    add_ok(w, "v", "<u4", 1, s, MMARR_ORDER_C, &v1);
    commit_ok(w);
    w = writer_new(path, NULL);
    add_ok(w, "v", "<u4", 1, s, MMARR_ORDER_C, &v2);
    add_ok(w, "w", "<u4", 1, s, MMARR_ORDER_C, &v1);
    commit_ok(w);
    mmarr_file *f = open_ok(path, 0);
    assert_int_equal(mmarr_file_count(f), 2);
    check_found(f, "v", "<u4", 4, 1, s, MMARR_ORDER_C, &v2);
    mmarr_close(f);
    free(path);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup_dir, tu_teardown_dir)
    const struct CMUnitTest tests[] = {
        T(test_roundtrip__every_dtype_kind),
        T(test_roundtrip__struct_fields_through_file),
        T(test_roundtrip__byte_order_is_kept),
        T(test_roundtrip__zero_dim_arrays),
        T(test_roundtrip__zero_size_arrays),
        T(test_roundtrip__fortran_and_c_strides),
        T(test_roundtrip__reserve_fills_in_place),
        T(test_roundtrip__keep_reserved_after_commit_and_abandon),
        T(test_roundtrip__packed_next_to_big_align_4096),
        T(test_roundtrip__packed_next_to_big_align_65536),
        T(test_roundtrip__pack_threshold_option),
        T(test_roundtrip__file_and_array_metadata),
        T(test_roundtrip__ten_thousand_arrays),
        T(test_roundtrip__iteration_is_insertion_order),
        T(test_roundtrip__long_and_unicode_names),
        T(test_roundtrip__open_buffer_matches_open),
        T(test_roundtrip__file_info_and_disk_layout),
        T(test_roundtrip__open_flags_and_memory_hints),
        T(test_roundtrip__version_string),
        T(test_roundtrip__rewrite_replaces_file),
    };
#undef T
    return cmocka_run_group_tests_name("roundtrip", tests, NULL, NULL);
}
