/* SPDX-License-Identifier: MIT */
/* testarray.c — see testarray.h. */
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
#include "testarray.h"
#include "testutil.h"

uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) / a * a;
}

mmarr_writer *writer_new(const char *path, const mmarr_writer_options *opts)
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

void add_ok(mmarr_writer *w, const char *name, const char *dtype, unsigned ndim,
            const uint64_t *shape, mmarr_order order, const void *data)
{
    size_t before = mmarr_writer_count(w);
    mmarr_err rc = mmarr_writer_add(w, name, dtype, ndim, shape, order, data);
    if (rc != MMARR_OK)
        print_error("mmarr_writer_add(%s, %s): %s\n", name, dtype, mmarr_writer_error(w)->message);
    assert_int_equal(rc, MMARR_OK);
    assert_int_equal(mmarr_writer_count(w), before + 1);
}

void *reserve_ok(mmarr_writer *w, const char *name, const char *dtype, unsigned ndim,
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

void commit_ok(mmarr_writer *w)
{
    mmarr_err rc = mmarr_writer_commit(w);
    if (rc != MMARR_OK)
        print_error("mmarr_writer_commit: %s\n", mmarr_writer_error(w)->message);
    assert_int_equal(rc, MMARR_OK);
    mmarr_writer_free(w);
}

mmarr_file *open_ok(const char *path, unsigned flags)
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

mmarr_file *open_buffer_ok(const void *buf, size_t size)
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

void find_ok(mmarr_file *f, const char *name, mmarr_array_info *a)
{
    mmarr_error e;
    memset(&e, 0, sizeof e);
    memset(a, 0, sizeof *a);
    mmarr_err rc = mmarr_file_find_array(f, name, a, &e);
    if (rc != MMARR_OK)
        print_error("mmarr_file_find_array(%s): %s\n", name, e.message);
    assert_int_equal(rc, MMARR_OK);
}

void verify_ok(mmarr_file *f)
{
    mmarr_error e;
    memset(&e, 0, sizeof e);
    mmarr_err rc = mmarr_file_verify(f, &e);
    if (rc != MMARR_OK)
        print_error("mmarr_file_verify: %s\n", e.message);
    assert_int_equal(rc, MMARR_OK);
}

/* A malloc'd buffer of n pseudo-random bytes (at least 1 byte allocated). */
void *random_bytes(uint64_t n, uint64_t seed)
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
void check_array(const mmarr_array_info *a, const char *name, const char *dtype,
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

void check_found(mmarr_file *f, const char *name, const char *dtype, uint64_t itemsize,
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
_Static_assert(sizeof ALL_DTYPES / sizeof ALL_DTYPES[0] == N_ALL_DTYPES, "N_ALL_DTYPES");

static const uint64_t SHAPE_3x5[2] = {3, 5};

void write_all_dtypes(const char *path, void **datas, const mmarr_writer_options *o)
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

void check_all_dtypes(mmarr_file *f, void **datas)
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
