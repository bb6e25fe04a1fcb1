/* SPDX-License-Identifier: MIT */
/*
 * test_roundtrip.c — writer-to-reader round trips through the public API (mmarr.h): every
 * dtype kind of spec.md §8 (both byte orders, ml_dtypes floats, strings, datetimes,
 * structured and nested records), 0-d and zero-size arrays, C and Fortran order with
 * numpy-style strides, in-place reservation, file and array metadata (§7.4), ten thousand
 * arrays found by name, insertion-ordered iteration. Each check compares real values (data
 * bytes, XXH3-64 checksums computed here, shapes, strides) through testarray.h. Where the
 * arrays land in the file, buffers and the on-disk layout: test_layout.c.
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
#include "testarray.h"
#include "testutil.h"

/* ---------------------------------------------------------------------------------------- */
/* Every dtype kind                                                                          */

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
/* A large reserved array mostly never written: its unwritten parts are holes of the file,
 * hashed as zeros without being read (checksum.c); the checksum must be that of its bytes,
 * with data at its start, in its middle, across a hole's edge and at its very end. */
static void test_roundtrip__reserve_mostly_holes(void **state)
{
    char *path = tu_path(*state, "holes.mmarr");
    const uint64_t n = 24u << 20, shape[1] = {n};
    mmarr_writer *w = writer_new(path, NULL);
    unsigned char *r = reserve_ok(w, "r", "|u1", 1, shape, MMARR_ORDER_C);
    const uint64_t at[] = {0, 1, 4095, 4096, (5u << 20) + 17, (12u << 20) - 1, 12u << 20,
                           (20u << 20) + 3000, n - 1};
    for (size_t k = 0; k < sizeof at / sizeof *at; k++)
        r[at[k]] = (unsigned char)(k * 37 + 1);
    unsigned char *want = calloc(n, 1);
    assert_non_null(want);
    for (size_t k = 0; k < sizeof at / sizeof *at; k++)
        want[at[k]] = (unsigned char)(k * 37 + 1);
    commit_ok(w);
    mmarr_file *f = open_ok(path, 0);
    mmarr_array_info a;
    assert_int_equal(mmarr_file_find_array(f, "r", &a, NULL), MMARR_OK);
    assert_int_equal(a.checksum, XXH3_64bits(want, n)); /* hashed in memory, no file */
    assert_memory_equal(a.data, want, n);
    verify_ok(f);
    mmarr_close(f);
    free(want);
    free(path);
}

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
        T(test_roundtrip__reserve_mostly_holes),
        T(test_roundtrip__keep_reserved_after_commit_and_abandon),
        T(test_roundtrip__file_and_array_metadata),
        T(test_roundtrip__ten_thousand_arrays),
        T(test_roundtrip__iteration_is_insertion_order),
        T(test_roundtrip__long_and_unicode_names),
    };
#undef T
    return cmocka_run_group_tests_name("roundtrip", tests, NULL, NULL);
}
