/* SPDX-License-Identifier: MIT */
/*
 * test_errors.c — every way the public API (mmarr.h) must say no to its caller, with the
 * exact mmarr_err code and a useful message: writer misuse (duplicate names, overflowing
 * shapes, too many dimensions, bad dtypes, names and metadata, bad options, use after commit,
 * NO_REPLACE), reader misuse (bad indexes, NULL arguments, flushing read-only handles, a
 * rehash while another writer is open) and the error names. Damaged files are the
 * test_validate_*.c suites'. Each test works in its own temporary directory.
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

#include <xxhash.h>

#include "mmarr.h"
#include "mmarr_format.h"
#include "testimg.h"
#include "testutil.h"

/* ---------------------------------------------------------------------------------------- */
/* Writer misuse                                                                             */

static mmarr_writer *writer_new(const char *path, unsigned flags)
{
    mmarr_writer_options o;
    memset(&o, 0, sizeof o);
    o.flags = flags | MMARR_WRITE_NO_SYNC;
    mmarr_writer *w = NULL;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    mmarr_err rc = mmarr_writer_create(path, &o, &w, &e);
    assert_code(rc, MMARR_OK, e.message);
    assert_non_null(w);
    return w;
}

/* Expect a writer call's error: code, writer_error code and a message fragment. */
static void assert_writer_err(mmarr_writer *w, mmarr_err rc, mmarr_err want, const char *frag)
{
    const mmarr_error *e = mmarr_writer_error(w);
    assert_non_null(e);
    assert_code(rc, want, e->message);
    assert_int_equal(e->code, want);
    assert_true(e->message[0] != '\0');
    if (frag)
        assert_msg_has(e->message, frag);
}

static void test_errors__duplicate_array_name(void **state)
{
    char *path = tu_path(*state, "dup.mmarr");
    mmarr_writer *w = writer_new(path, 0);
    uint64_t s[1] = {2};
    const int32_t v1[2] = {1, 2}, v2[2] = {3, 4};
    writer_add_ok(w, "dup_name_42", "<i4", 1, s, v1);
    mmarr_err rc = mmarr_writer_add(w, "dup_name_42", "<i4", 1, s, MMARR_ORDER_C, v2);
    assert_writer_err(w, rc, MMARR_E_EXISTS, "dup_name_42");
    void *p = NULL;
    rc = mmarr_writer_reserve(w, "dup_name_42", "<f8", 1, s, MMARR_ORDER_C, &p);
    assert_writer_err(w, rc, MMARR_E_EXISTS, "dup_name_42");
    assert_int_equal(mmarr_writer_count(w), 1);
    /* the writer is still usable */
    writer_add_ok(w, "other", "<i4", 1, s, v2);
    writer_commit_ok(w);
    mmarr_file *f = NULL;
    assert_int_equal(mmarr_open(path, 0, &f, NULL), MMARR_OK);
    assert_int_equal(mmarr_file_count(f), 2);
    mmarr_array_info a;
    assert_int_equal(mmarr_file_find_array(f, "dup_name_42", &a, NULL), MMARR_OK);
    assert_memory_equal(a.data, v1, 8);
    mmarr_close(f);
    free(path);
}

static void test_errors__shape_overflow_and_ndim(void **state)
{
    char *path = tu_path(*state, "range.mmarr");
    mmarr_writer *w = writer_new(path, 0);
    /* A small real buffer: a writer that missed the overflow would read past it. */
    static const unsigned char small[64];
    static const uint64_t big3[3] = {1ull << 32, 1ull << 32, 2}; /* product overflows */
    mmarr_err rc = mmarr_writer_add(w, "ovf_items", "|u1", 3, big3, MMARR_ORDER_C, small);
    assert_writer_err(w, rc, MMARR_E_RANGE, "ovf_items");
    static const uint64_t big1[1] = {1ull << 62}; /* x 8 bytes overflows */
    rc = mmarr_writer_add(w, "ovf_bytes", "<f8", 1, big1, MMARR_ORDER_C, small);
    assert_writer_err(w, rc, MMARR_E_RANGE, "ovf_bytes");
    static const uint64_t big63[1] = {1ull << 60}; /* 2^63 bytes: spec.md §6 wants < 2^63 */
    rc = mmarr_writer_add(w, "ovf_2_63", "<f8", 1, big63, MMARR_ORDER_C, small);
    assert_writer_err(w, rc, MMARR_E_RANGE, "ovf_2_63");
    /* the same overflows with NULL data are refused too (RANGE or INVAL) */
    rc = mmarr_writer_add(w, "ovf_null", "|u1", 3, big3, MMARR_ORDER_C, NULL);
    assert_true(rc == MMARR_E_RANGE || rc == MMARR_E_INVAL);
    static const uint64_t maxdim[2] = {UINT64_MAX, UINT64_MAX};
    void *p = NULL;
    rc = mmarr_writer_reserve(w, "ovf_res", "|u1", 2, maxdim, MMARR_ORDER_F, &p);
    assert_writer_err(w, rc, MMARR_E_RANGE, "ovf_res");
    /* a zero dimension makes the array empty; the other dimensions are kept */
    static const uint64_t zero_big[3] = {1ull << 40, 0, 3};
    writer_add_ok(w, "zero_big", "<f8", 3, zero_big, NULL);

    uint64_t ones[65];
    for (int i = 0; i < 65; i++)
        ones[i] = 1;
    const uint8_t one = 7;
    rc = mmarr_writer_add(w, "dims65", "|u1", 65, ones, MMARR_ORDER_C, &one);
    assert_writer_err(w, rc, MMARR_E_RANGE, "dims65");
    writer_add_ok(w, "dims64", "|u1", 64, ones, &one); /* the limit itself is fine */

    char *longname = malloc(65537);
    assert_non_null(longname);
    memset(longname, 'L', 65536);
    longname[65536] = '\0';
    rc = mmarr_writer_add(w, longname, "|u1", 1, ones, MMARR_ORDER_C, &one);
    assert_writer_err(w, rc, MMARR_E_RANGE, NULL);
    free(longname);

    assert_int_equal(mmarr_writer_count(w), 2);
    writer_commit_ok(w);
    mmarr_file *f = NULL;
    assert_int_equal(mmarr_open(path, 0, &f, NULL), MMARR_OK);
    mmarr_array_info a;
    assert_int_equal(mmarr_file_find_array(f, "dims64", &a, NULL), MMARR_OK);
    assert_int_equal(a.ndim, 64);
    assert_int_equal(*(const uint8_t *)a.data, 7);
    assert_int_equal(mmarr_file_find_array(f, "zero_big", &a, NULL), MMARR_OK);
    assert_int_equal(a.nbytes, 0);
    assert_int_equal(a.shape[0], 1ull << 40);
    assert_int_equal(a.shape[2], 3);
    mmarr_close(f);
    free(path);
}

static void test_errors__bad_dtype(void **state)
{
    char *path = tu_path(*state, "dt.mmarr");
    mmarr_writer *w = writer_new(path, 0);
    uint64_t s[1] = {1};
    const double v = 1.0;
    static const char *const bad[] = {"O", "<f16", "<c32", "", "[]", "|S0", "nonsense",
                                      "[('a', '<f4'), ('a', '<i4')]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mmarr_err rc = mmarr_writer_add(w, "bad_dtype_arr", bad[i], 1, s, MMARR_ORDER_C, &v);
        assert_writer_err(w, rc, MMARR_E_DTYPE, NULL);
        void *p = NULL;
        rc = mmarr_writer_reserve(w, "bad_dtype_arr", bad[i], 1, s, MMARR_ORDER_C, &p);
        assert_writer_err(w, rc, MMARR_E_DTYPE, NULL);
    }
    mmarr_err rc = mmarr_writer_add(w, "bad_dtype_arr", "<f16", 1, s, MMARR_ORDER_C, &v);
    assert_writer_err(w, rc, MMARR_E_DTYPE, "f16");
    rc = mmarr_writer_add(w, "x", NULL, 1, s, MMARR_ORDER_C, &v);
    assert_true(rc == MMARR_E_DTYPE || rc == MMARR_E_INVAL);
    assert_int_equal(mmarr_writer_count(w), 0);
    /* still usable: the same name with a good dtype */
    writer_add_ok(w, "bad_dtype_arr", "<f8", 1, s, &v);
    writer_commit_ok(w);
    free(path);
}

static void test_errors__bad_names(void **state)
{
    char *path = tu_path(*state, "names.mmarr");
    mmarr_writer *w = writer_new(path, 0);
    uint64_t s[1] = {1};
    const uint8_t v = 1;
    mmarr_err rc = mmarr_writer_add(w, "", "|u1", 1, s, MMARR_ORDER_C, &v);
    assert_writer_err(w, rc, MMARR_E_INVAL, "name");
    rc = mmarr_writer_add(w, NULL, "|u1", 1, s, MMARR_ORDER_C, &v);
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    static const char *const bad_utf8[] = {
        "\xff",                 /* never valid */
        "abc\x80",              /* stray continuation */
        "\xc0\x80",             /* overlong NUL */
        "\xe0\x80\xaf",         /* overlong '/' */
        "\xed\xa0\x80",         /* surrogate U+D800 */
        "\xf4\x90\x80\x80",     /* U+110000 */
        "\xe2\x82",             /* truncated sequence */
        "ok\xf0\x9f\x98",       /* truncated 4-byte sequence */
    };
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        rc = mmarr_writer_add(w, bad_utf8[i], "|u1", 1, s, MMARR_ORDER_C, &v);
        assert_writer_err(w, rc, MMARR_E_INVAL, "utf");
        void *p = NULL;
        rc = mmarr_writer_reserve(w, bad_utf8[i], "|u1", 1, s, MMARR_ORDER_C, &p);
        assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    }
    assert_int_equal(mmarr_writer_count(w), 0);
    writer_add_ok(w, "\xf0\x9f\x98\x80 fine", "|u1", 1, s, &v); /* valid 4-byte UTF-8 */
    writer_commit_ok(w);
    free(path);
}

static void test_errors__data_null_with_bytes(void **state)
{
    char *path = tu_path(*state, "null.mmarr");
    mmarr_writer *w = writer_new(path, 0);
    uint64_t s[1] = {4};
    mmarr_err rc = mmarr_writer_add(w, "needs_data", "<f4", 1, s, MMARR_ORDER_C, NULL);
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    rc = mmarr_writer_reserve(w, "needs_ptr", "<f4", 1, s, MMARR_ORDER_C, NULL);
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    rc = mmarr_writer_add(w, "no_shape", "<f4", 1, NULL, MMARR_ORDER_C, NULL);
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    assert_int_equal(mmarr_writer_count(w), 0);
    mmarr_writer_free(w);
    free(path);
}

static void test_errors__bad_metadata(void **state)
{
    char *path = tu_path(*state, "meta.mmarr");
    mmarr_writer *w = writer_new(path, 0);
    uint64_t s[1] = {1};
    const uint8_t v = 1;
    writer_add_ok(w, "arr", "|u1", 1, s, &v);
    mmarr_err rc = mmarr_writer_set_file_meta(w, "", "x");
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    rc = mmarr_writer_set_file_meta(w, "k\xff", "x");
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    rc = mmarr_writer_set_file_meta(w, "k", "\xed\xa0\x80");
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    rc = mmarr_writer_set_file_meta(w, NULL, "x");
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    rc = mmarr_writer_set_file_meta(w, "k", NULL);
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    rc = mmarr_writer_set_array_meta(w, "arr", "", "x");
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    rc = mmarr_writer_set_array_meta(w, "arr", "k", "\xc0\xaf");
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    /* still usable */
    assert_int_equal(mmarr_writer_set_array_meta(w, "arr", "k", "v"), MMARR_OK);
    assert_int_equal(mmarr_writer_set_file_meta(w, "k", "v"), MMARR_OK);
    writer_commit_ok(w);

    /* metadata for an array that was never added */
    w = writer_new(path, 0);
    writer_add_ok(w, "arr", "|u1", 1, s, &v);
    rc = mmarr_writer_set_array_meta(w, "no_such_array", "k", "v");
    assert_writer_err(w, rc, MMARR_E_NOTFOUND, "no_such_array");
    mmarr_writer_free(w);

    mmarr_file *f = NULL;
    assert_int_equal(mmarr_open(path, 0, &f, NULL), MMARR_OK);
    ASSERT_STR(mmarr_file_meta_get(f, "k"), "v");
    ASSERT_STR(mmarr_array_meta_get(f, 0, "k"), "v");
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    assert_int_equal(fi.meta_count, 1);
    mmarr_close(f);
    free(path);
}

static void test_errors__bad_writer_options(void **state)
{
    char *path = tu_path(*state, "opts.mmarr");
    static const uint32_t bad[] = {1000, 2048, 4097, 3 * 4096, 4u << 20, 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mmarr_writer_options o;
        memset(&o, 0, sizeof o);
        o.alignment = bad[i];
        o.flags = MMARR_WRITE_NO_SYNC;
        mmarr_writer *w = (mmarr_writer *)1;
        mmarr_error e;
        memset(&e, 0, sizeof e);
        assert_code(mmarr_writer_create(path, &o, &w, &e), MMARR_E_INVAL, e.message);
        assert_null(w);
        assert_msg_has(e.message, "align");
    }
    /* the limits themselves are accepted */
    static const uint32_t good[] = {4096, 2u << 20};
    for (size_t i = 0; i < 2; i++) {
        mmarr_writer_options o;
        memset(&o, 0, sizeof o);
        o.alignment = good[i];
        o.flags = MMARR_WRITE_NO_SYNC;
        mmarr_writer *w = NULL;
        assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
        mmarr_writer_free(w);
    }
    char names[256];
    assert_int_equal(tu_list_dir(*state, names, sizeof names), 0); /* nothing left behind */
    free(path);
}

static void test_errors__create_in_missing_directory(void **state)
{
    char *path = tu_path(*state, "no/such/dir/x.mmarr");
    mmarr_writer *w = (mmarr_writer *)1;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    assert_code(mmarr_writer_create(path, NULL, &w, &e), MMARR_E_IO, e.message);
    assert_null(w);
    assert_int_equal(e.sys_errno, ENOENT);
    assert_msg_has(e.message, "no/such/dir");
    free(path);
}

static void test_errors__writer_misuse_after_commit(void **state)
{
    char *path = tu_path(*state, "state.mmarr");
    mmarr_writer *w = writer_new(path, 0);
    uint64_t s[1] = {1};
    const uint8_t v = 1;
    writer_add_ok(w, "a", "|u1", 1, s, &v);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    assert_int_equal(mmarr_writer_error(w)->code, MMARR_OK);

    mmarr_err rc = mmarr_writer_add(w, "b", "|u1", 1, s, MMARR_ORDER_C, &v);
    assert_writer_err(w, rc, MMARR_E_STATE, NULL);
    void *p = NULL;
    rc = mmarr_writer_reserve(w, "c", "|u1", 1, s, MMARR_ORDER_C, &p);
    assert_writer_err(w, rc, MMARR_E_STATE, NULL);
    rc = mmarr_writer_set_file_meta(w, "k", "v");
    assert_writer_err(w, rc, MMARR_E_STATE, NULL);
    rc = mmarr_writer_set_array_meta(w, "a", "k", "v");
    assert_writer_err(w, rc, MMARR_E_STATE, NULL);
    rc = mmarr_writer_commit(w);
    assert_writer_err(w, rc, MMARR_E_STATE, NULL);
    assert_int_equal(mmarr_writer_count(w), 1);
    mmarr_writer_free(w);
    mmarr_writer_free(NULL);

    /* the committed file is unaffected */
    mmarr_file *f = NULL;
    assert_int_equal(mmarr_open(path, 0, &f, NULL), MMARR_OK);
    assert_int_equal(mmarr_file_count(f), 1);
    assert_null(mmarr_file_meta_get(f, "k"));
    mmarr_close(f);
    char names[256];
    assert_int_equal(tu_list_dir(*state, names, sizeof names), 1);
    ASSERT_STR(names, "state.mmarr");
    free(path);
}

static void test_errors__no_replace_keeps_existing_file(void **state)
{
    char *path = tu_path(*state, "keep.mmarr");
    uint64_t s[1] = {3};
    const uint16_t v1[3] = {1, 2, 3}, v2[3] = {4, 5, 6};
    mmarr_writer *w = writer_new(path, MMARR_WRITE_NO_REPLACE); /* target absent: fine */
    writer_add_ok(w, "v", "<u2", 1, s, v1);
    writer_commit_ok(w);
    size_t size0 = 0;
    void *before = tu_read_file(path, &size0);
    assert_non_null(before);

    w = writer_new(path, MMARR_WRITE_NO_REPLACE);
    writer_add_ok(w, "v", "<u2", 1, s, v2);
    writer_add_ok(w, "extra", "<u2", 1, s, v2);
    mmarr_err rc = mmarr_writer_commit(w);
    assert_writer_err(w, rc, MMARR_E_EXISTS, "keep.mmarr");
    /* after a failed commit the writer is finished */
    rc = mmarr_writer_add(w, "more", "<u2", 1, s, MMARR_ORDER_C, v2);
    assert_writer_err(w, rc, MMARR_E_STATE, NULL);
    mmarr_writer_free(w);

    size_t size1 = 0;
    void *after = tu_read_file(path, &size1);
    assert_non_null(after);
    assert_int_equal(size1, size0);
    assert_memory_equal(after, before, size0);
    char names[256];
    assert_int_equal(tu_list_dir(*state, names, sizeof names), 1); /* temporary removed */
    ASSERT_STR(names, "keep.mmarr");

    mmarr_file *f = NULL;
    assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, NULL), MMARR_OK);
    mmarr_array_info a;
    assert_int_equal(mmarr_file_find_array(f, "v", &a, NULL), MMARR_OK);
    assert_memory_equal(a.data, v1, 6);
    assert_int_equal(mmarr_file_count(f), 1);
    mmarr_close(f);
    free(before);
    free(after);
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* Reader misuse                                                                             */

static void test_errors__reader_misuse(void **state)
{
    char *path = tu_path(*state, "base.mmarr");
    img_write_base(path);
    mmarr_file *f = NULL;
    assert_int_equal(mmarr_open(path, 0, &f, NULL), MMARR_OK);
    mmarr_error e, last;
    size_t idx = 77;

    memset(&e, 0, sizeof e);
    assert_code(mmarr_file_find(f, "no_such_name", &idx, &e), MMARR_E_NOTFOUND, e.message);
    assert_msg_has(e.message, "no_such_name");
    memset(&last, 0, sizeof last);
    assert_int_equal(mmarr_file_last_error(f, &last), MMARR_E_NOTFOUND);
    assert_msg_has(last.message, "no_such_name");
    mmarr_array_info a;
    assert_code(mmarr_file_find_array(f, "alph", &a, &e), MMARR_E_NOTFOUND, e.message);
    assert_code(mmarr_file_find_array(f, "alphaa", &a, NULL), MMARR_E_NOTFOUND, NULL);

    assert_code(mmarr_file_array(f, 3, &a, &e), MMARR_E_INVAL, e.message);
    assert_code(mmarr_file_array(f, SIZE_MAX, &a, &e), MMARR_E_INVAL, e.message);
    assert_code(mmarr_file_verify_array(f, 3, &e), MMARR_E_INVAL, e.message);
    const char *k, *v;
    assert_code(mmarr_file_meta(f, 2, &k, &v, &e), MMARR_E_INVAL, e.message);
    assert_code(mmarr_array_meta(f, 9, 0, &k, &v, &e), MMARR_E_INVAL, e.message);
    assert_int_equal(mmarr_file_last_error(f, &last), MMARR_E_INVAL);

    /* flushing a read-only handle */
    assert_code(mmarr_file_flush(f, 0, &e), MMARR_E_READONLY, e.message);
    assert_code(mmarr_file_flush(f, MMARR_FLUSH_REHASH, &e), MMARR_E_READONLY, e.message);
    /* memory calls on a bad index */
    assert_code(mmarr_file_advise(f, 99, MMARR_ADVICE_NORMAL, &e), MMARR_E_INVAL, e.message);
    assert_code(mmarr_file_prefetch(f, 99, &e), MMARR_E_INVAL, e.message);
    assert_code(mmarr_file_advise_range(f, 99, 0, 1, MMARR_ADVICE_DONTNEED, &e), MMARR_E_INVAL,
                e.message);
    assert_code(mmarr_file_advise_range(f, 0, 0, UINT64_MAX, MMARR_ADVICE_DONTNEED, &e),
                MMARR_E_INVAL, e.message);
    assert_msg_has(e.message, "outside");
    assert_code(mmarr_file_advise_range(f, 0, UINT64_MAX, 2, MMARR_ADVICE_DONTNEED, &e),
                MMARR_E_INVAL, e.message);
    assert_code(mmarr_file_advise_range(f, 0, 0, 1, (mmarr_advice)77, &e), MMARR_E_INVAL,
                e.message);

    /* the handle still works after errors */
    assert_int_equal(mmarr_file_find(f, "gamma", &idx, NULL), MMARR_OK);
    assert_int_equal(idx, 2);
    mmarr_close(f);
    mmarr_close(NULL);

    /* buffers: read-only only, and no madvise */
    size_t size = 0;
    void *buf = tu_read_file(path, &size);
    assert_non_null(buf);
    f = (mmarr_file *)1;
    assert_code(mmarr_open_buffer(buf, size, MMARR_OPEN_RDWR, &f, &e), MMARR_E_INVAL,
                e.message);
    assert_null(f);
    assert_int_equal(mmarr_open_buffer(buf, size, 0, &f, NULL), MMARR_OK);
    assert_code(mmarr_file_advise(f, MMARR_ALL, MMARR_ADVICE_WILLNEED, &e), MMARR_E_INVAL,
                e.message);
    assert_code(mmarr_file_advise_range(f, 0, 0, 1, MMARR_ADVICE_DONTNEED, &e), MMARR_E_INVAL,
                e.message);
    assert_code(mmarr_file_flush(f, 0, &e), MMARR_E_READONLY, e.message);
    mmarr_close(f);
    free(buf);
    free(path);
}

static void test_errors__null_arguments(void **state)
{
    char *path = tu_path(*state, "base.mmarr");
    img_write_base(path);
    mmarr_error e;
    mmarr_file *f = NULL;
    assert_code(mmarr_open(path, 0, NULL, &e), MMARR_E_INVAL, e.message);
    f = (mmarr_file *)1;
    assert_code(mmarr_open_buffer(NULL, 4096, 0, &f, &e), MMARR_E_INVAL, e.message);
    assert_null(f);
    mmarr_writer *w = (mmarr_writer *)1;
    assert_code(mmarr_writer_create(NULL, NULL, &w, &e), MMARR_E_INVAL, e.message);
    assert_null(w);
    free(path);
    /* mmarr.h: "out receives the handle; NULL on failure" */
    f = (mmarr_file *)1;
    assert_code(mmarr_open(NULL, 0, &f, &e), MMARR_E_INVAL, e.message);
    assert_null(f);
}

/* A rehash rewrites every checksum; while another read-write handle has the file open (its
 * writes could land mid-hash), it is refused with MMARR_E_STATE and changes nothing; once the
 * other handle is closed it succeeds and verify passes again. */
static void test_errors__rehash_with_another_writer_open(void **state)
{
    char *path = tu_path(*state, "rehash.mmarr");
    img_write_base(path);
    mmarr_file *a, *b;
    mmarr_error e;
    assert_code(mmarr_open(path, MMARR_OPEN_RDWR, &a, &e), MMARR_OK, e.message);
    assert_code(mmarr_open(path, MMARR_OPEN_RDWR, &b, &e), MMARR_OK, e.message);
    mmarr_array_info ai;
    assert_int_equal(mmarr_file_find_array(a, "gamma", &ai, NULL), MMARR_OK);
    ((unsigned char *)ai.data)[10] ^= 0xFF;
    memset(&e, 0, sizeof e);
    assert_code(mmarr_file_flush(a, MMARR_FLUSH_REHASH, &e), MMARR_E_STATE, e.message);
    assert_msg_has(e.message, "another read-write handle");
    assert_msg_has(e.message, "rehash.mmarr");
    assert_code(mmarr_file_verify_array(a, ai.index, &e), MMARR_E_STALE, e.message);
    mmarr_close(b);
    assert_code(mmarr_file_flush(a, MMARR_FLUSH_REHASH, &e), MMARR_OK, e.message);
    assert_code(mmarr_file_verify(a, &e), MMARR_OK, e.message);
    mmarr_close(a);
    assert_code(mmarr_open(path, MMARR_OPEN_VERIFY, &a, &e), MMARR_OK, e.message);
    mmarr_close(a);
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* Error names                                                                               */

static void test_errors__strerror_and_names(void **state)
{
    (void)state;
    static const struct {
        mmarr_err code;
        const char *name;
    } codes[] = {
        {MMARR_OK, "MMARR_OK"},
        {MMARR_E_INVAL, "MMARR_E_INVAL"},
        {MMARR_E_NOMEM, "MMARR_E_NOMEM"},
        {MMARR_E_IO, "MMARR_E_IO"},
        {MMARR_E_NOSPACE, "MMARR_E_NOSPACE"},
        {MMARR_E_BADMAGIC, "MMARR_E_BADMAGIC"},
        {MMARR_E_VERSION, "MMARR_E_VERSION"},
        {MMARR_E_CORRUPT, "MMARR_E_CORRUPT"},
        {MMARR_E_CHECKSUM, "MMARR_E_CHECKSUM"},
        {MMARR_E_TRUNCATED, "MMARR_E_TRUNCATED"},
        {MMARR_E_UNSUPPORTED, "MMARR_E_UNSUPPORTED"},
        {MMARR_E_STALE, "MMARR_E_STALE"},
        {MMARR_E_NOTFOUND, "MMARR_E_NOTFOUND"},
        {MMARR_E_DTYPE, "MMARR_E_DTYPE"},
        {MMARR_E_EXISTS, "MMARR_E_EXISTS"},
        {MMARR_E_RANGE, "MMARR_E_RANGE"},
        {MMARR_E_READONLY, "MMARR_E_READONLY"},
        {MMARR_E_BUSY, "MMARR_E_BUSY"},
        {MMARR_E_STATE, "MMARR_E_STATE"},
    };
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        const char *s = mmarr_strerror(codes[i].code);
        const char *nm = mmarr_err_name(codes[i].code);
        assert_non_null(s);
        assert_non_null(nm);
        ASSERT_STR(nm, codes[i].name);
        assert_true(strlen(s) > strlen(nm));
        /* "MMARR_E_CHECKSUM: checksum mismatch" */
        assert_int_equal(strncmp(s, nm, strlen(nm)), 0);
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(s, mmarr_strerror(codes[j].code));
            assert_string_not_equal(nm, mmarr_err_name(codes[j].code));
        }
    }
    static const int unknown[] = {5, 9, 17, 19, 25 + 1, 29, 31, 999, -1};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        ASSERT_STR(mmarr_err_name((mmarr_err)unknown[i]), "MMARR_E_UNKNOWN");
        assert_non_null(mmarr_strerror((mmarr_err)unknown[i]));
    }
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup_dir, tu_teardown_dir)
    const struct CMUnitTest tests[] = {
        T(test_errors__duplicate_array_name),
        T(test_errors__shape_overflow_and_ndim),
        T(test_errors__bad_dtype),
        T(test_errors__bad_names),
        T(test_errors__data_null_with_bytes),
        T(test_errors__bad_metadata),
        T(test_errors__bad_writer_options),
        T(test_errors__create_in_missing_directory),
        T(test_errors__writer_misuse_after_commit),
        T(test_errors__no_replace_keeps_existing_file),
        T(test_errors__reader_misuse),
        T(test_errors__null_arguments),
        T(test_errors__rehash_with_another_writer_open),
        T(test_errors__strerror_and_names),
    };
#undef T
    return cmocka_run_group_tests_name("errors", tests, NULL, NULL);
}
