/* SPDX-License-Identifier: MIT */
/*
 * test_residency.c — mmarr_file_resident(): page-cache residency of arrays through mincore.
 * Prefetched arrays (on /dev/shm when there is one) are fully resident and packed arrays that
 * share a page count only their own bytes; on a disk filesystem, pages dropped with
 * posix_fadvise(DONTNEED) are not resident and a single page read back counts exactly one
 * page; argument errors, buffer handles and empty arrays give the documented answers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "mmarr.h"
#include "testutil.h"

#define TMPFS_MAGIC_ 0x01021994 /* statfs f_type of tmpfs (linux/magic.h) */
#define PAGE 4096u              /* the writer's default alignment */
#define BIG_BYTES (64 * PAGE + 100) /* page-aligned, not a page multiple */
#define PAD_BYTES (2u << 20) /* keeps big out of the (up to 2 MiB) folios open maps */
#define SMALL_A 100u                /* packed: shares a page with SMALL_B */
#define SMALL_B 40u

/* A fresh directory on /dev/shm when it exists (tmpfs: pages stay in memory), else $TMPDIR. */
static int setup_shm_dir(void **state)
{
    char tmpl[] = "/dev/shm/mmarr-test.XXXXXX";
    char *dir = mkdtemp(tmpl) ? strdup(tmpl) : tu_mkdtemp();
    *state = dir;
    return dir ? 0 : -1;
}

/* Writes head, big (|u1, BIG_BYTES), tail, a, b (packed) and empty; `sync` decides about
 * fsync. The pads keep big's pages out of the folios that hold the superblock and index. */
static char *write_sample(const char *dir, int sync)
{
    char *path = tu_path(dir, "r.mmarr");
    assert_non_null(path);
    mmarr_writer_options o;
    memset(&o, 0, sizeof o);
    o.flags = sync ? 0 : MMARR_WRITE_NO_SYNC;
    mmarr_writer *w = NULL;
    mmarr_error e;
    assert_int_equal(mmarr_writer_create(path, &o, &w, &e), MMARR_OK);
    static unsigned char buf[PAD_BYTES];
    tu_fill(buf, sizeof buf, 7);
    const uint64_t big[1] = {BIG_BYTES}, pad[1] = {PAD_BYTES}, a[1] = {SMALL_A},
                   b[1] = {SMALL_B}, none[2] = {0, 3};
    assert_int_equal(mmarr_writer_add(w, "head", "|u1", 1, pad, MMARR_ORDER_C, buf), MMARR_OK);
    assert_int_equal(mmarr_writer_add(w, "big", "|u1", 1, big, MMARR_ORDER_C, buf), MMARR_OK);
    assert_int_equal(mmarr_writer_add(w, "tail", "|u1", 1, pad, MMARR_ORDER_C, buf), MMARR_OK);
    assert_int_equal(mmarr_writer_add(w, "a", "|u1", 1, a, MMARR_ORDER_C, buf), MMARR_OK);
    assert_int_equal(mmarr_writer_add(w, "b", "|u1", 1, b, MMARR_ORDER_C, buf), MMARR_OK);
    assert_int_equal(mmarr_writer_add(w, "empty", "<f8", 2, none, MMARR_ORDER_C, NULL),
                     MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    return path;
}

static size_t find(mmarr_file *f, const char *name)
{
    size_t i = 0;
    assert_int_equal(mmarr_file_find(f, name, &i, NULL), MMARR_OK);
    return i;
}

static void assert_resident(mmarr_file *f, size_t index, uint64_t want_resident,
                            uint64_t want_total)
{
    uint64_t resident = UINT64_MAX, total = UINT64_MAX;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    mmarr_err rc = mmarr_file_resident(f, index, &resident, &total, &e);
    if (rc != MMARR_OK)
        print_error("mmarr_file_resident: %s\n", e.message);
    assert_int_equal(rc, MMARR_OK);
    assert_int_equal(total, want_total);
    assert_int_equal(resident, want_resident);
}

static void test_residency__prefetched_arrays_are_fully_resident(void **state)
{
    char *path = write_sample(*state, 0);
    mmarr_file *f = NULL;
    assert_int_equal(mmarr_open(path, 0, &f, NULL), MMARR_OK);

    const size_t big = find(f, "big");
    assert_int_equal(mmarr_file_prefetch(f, big, NULL), MMARR_OK);
    assert_resident(f, big, BIG_BYTES, BIG_BYTES);

    /* a and b share a page: each is clipped to its own bytes. */
    assert_int_equal(mmarr_file_prefetch(f, MMARR_ALL, NULL), MMARR_OK);
    assert_resident(f, find(f, "a"), SMALL_A, SMALL_A);
    assert_resident(f, find(f, "b"), SMALL_B, SMALL_B);
    assert_resident(f, find(f, "empty"), 0, 0);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_resident(f, MMARR_ALL, (uint64_t)st.st_size, (uint64_t)st.st_size);
    mmarr_close(f);
    free(path);
}

static void test_residency__dropped_pages_are_not_resident(void **state)
{
    struct statfs sf;
    assert_int_equal(statfs(*state, &sf), 0);
    if (sf.f_type == TMPFS_MAGIC_)
        skip(); /* tmpfs pages cannot be dropped from the page cache */

    char *path = write_sample(*state, 1); /* fsync'd: clean pages can be dropped */
    mmarr_file *f = NULL;
    assert_int_equal(mmarr_open(path, 0, &f, NULL), MMARR_OK);
    /* Drop after open: reading the index may read ahead the whole file (read_ahead_kb);
     * the kernel keeps only the folios this process has mapped (superblock, index). */
    const int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    mmarr_array_info a;
    assert_int_equal(mmarr_file_find_array(f, "big", &a, NULL), MMARR_OK);
    assert_resident(f, a.index, 0, BIG_BYTES);

    /* Read one byte of the second page without read-ahead: that page comes back (the
     * kernel may cache a larger folio around it, but never the whole array). */
    assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM), 0);
    unsigned char byte;
    assert_int_equal(pread(fd, &byte, 1, (off_t)(a.offset + PAGE)), 1);
    uint64_t resident = 0;
    assert_int_equal(mmarr_file_resident(f, a.index, &resident, NULL, NULL), MMARR_OK);
    assert_true(resident >= PAGE && resident < BIG_BYTES && resident % PAGE == 0);
    close(fd);
    mmarr_close(f);
    free(path);
}

static void test_residency__argument_errors(void **state)
{
    char *path = write_sample(*state, 0);
    mmarr_file *f = NULL;
    assert_int_equal(mmarr_open(path, 0, &f, NULL), MMARR_OK);
    uint64_t resident = 0, total = 0;
    mmarr_error e;

    assert_int_equal(mmarr_file_resident(f, 0, NULL, &total, &e), MMARR_E_INVAL);
    assert_int_equal(mmarr_file_last_error(f, NULL), MMARR_E_INVAL);

    assert_int_equal(mmarr_file_resident(f, 7, &resident, &total, &e), MMARR_E_INVAL);
    assert_non_null(strstr(e.message, "out of range"));
    assert_int_equal(e.offset, MMARR_NO_OFFSET);

    /* total_bytes is optional */
    assert_int_equal(mmarr_file_prefetch(f, find(f, "a"), NULL), MMARR_OK);
    assert_int_equal(mmarr_file_resident(f, find(f, "a"), &resident, NULL, &e), MMARR_OK);
    assert_int_equal(resident, SMALL_A);
    mmarr_close(f);

    /* A buffer handle has no file pages to ask about. */
    size_t size = 0;
    void *image = tu_read_file(path, &size);
    assert_non_null(image);
    assert_int_equal(mmarr_open_buffer(image, size, 0, &f, NULL), MMARR_OK);
    assert_int_equal(mmarr_file_resident(f, 0, &resident, &total, &e), MMARR_E_UNSUPPORTED);
    assert_non_null(strstr(e.message, "buffer"));
    assert_int_equal(mmarr_file_resident(f, MMARR_ALL, &resident, &total, &e),
                     MMARR_E_UNSUPPORTED);
    mmarr_close(f);
    free(image);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_residency__prefetched_arrays_are_fully_resident,
                                        setup_shm_dir, tu_teardown_dir),
        cmocka_unit_test_setup_teardown(test_residency__dropped_pages_are_not_resident,
                                        tu_setup_dir, tu_teardown_dir),
        cmocka_unit_test_setup_teardown(test_residency__argument_errors, tu_setup_dir,
                                        tu_teardown_dir),
    };
    return cmocka_run_group_tests_name("residency", tests, NULL, NULL);
}
