/* SPDX-License-Identifier: MIT */
/*
 * test_layout.c — where the writer puts things and what a reader reports about them:
 * packed small arrays next to page-aligned big ones at 4 KiB and 64 KiB alignment and the
 * pack threshold (spec.md §9), mmarr_open_buffer() over the same bytes as mmarr_open(), file
 * info against the on-disk superblock (format/mmarr_format.h), open flags and memory hints,
 * the version string, and a rewrite replacing the file. Arrays are written and checked with
 * testarray.h.
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

static void test_layout__packed_next_to_big_align_4096(void **state)
{
    run_alignment(*state, 4096);
}

static void test_layout__packed_next_to_big_align_65536(void **state)
{
    run_alignment(*state, 65536);
}

static void test_layout__pack_threshold_option(void **state)
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

static void test_layout__open_buffer_matches_open(void **state)
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

static void test_layout__file_info_and_disk_layout(void **state)
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

static void test_layout__open_flags_and_memory_hints(void **state)
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
    /* the same on byte ranges (rounded out to pages), empty ones included */
    assert_int_equal(mmarr_file_advise_range(f, 0, 5000, 30000, MMARR_ADVICE_DONTNEED, NULL),
                     MMARR_OK);
    assert_int_equal(mmarr_file_advise_range(f, 0, 99999, 1, MMARR_ADVICE_DONTNEED, NULL),
                     MMARR_OK);
    assert_int_equal(mmarr_file_advise_range(f, 0, 100000, 0, MMARR_ADVICE_WILLNEED, NULL),
                     MMARR_OK);
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

static void test_layout__version_string(void **state)
{
    (void)state;
    ASSERT_STR(mmarr_version_string(), MMARR_VERSION_STRING);
}

static void test_layout__rewrite_replaces_file(void **state)
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
        T(test_layout__packed_next_to_big_align_4096),
        T(test_layout__packed_next_to_big_align_65536),
        T(test_layout__pack_threshold_option),
        T(test_layout__open_buffer_matches_open),
        T(test_layout__file_info_and_disk_layout),
        T(test_layout__open_flags_and_memory_hints),
        T(test_layout__version_string),
        T(test_layout__rewrite_replaces_file),
    };
#undef T
    return cmocka_run_group_tests_name("layout", tests, NULL, NULL);
}
