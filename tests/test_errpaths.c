/* SPDX-License-Identifier: MIT */
/*
 * test_errpaths.c — error paths the coverage report showed untested (issue 6): each case
 * expects one specific error code and a message naming the problem.
 *
 *  - a magic whose "\n" became "\r\n" (after "\r": a double text-mode conversion) is named as
 *    such (MMARR_E_BADMAGIC);
 *  - mmarr_open of a directory (MMARR_E_INVAL), of a missing file (MMARR_E_IO, ENOENT), with
 *    unknown flags (MMARR_E_INVAL);
 *  - a file that cannot be mapped (RLIMIT_AS in a child: MMARR_E_IO with ENOMEM, "cannot
 *    map");
 *  - mmarr_file_flush with unknown flags (MMARR_E_INVAL) and on a read-only handle
 *    (MMARR_E_READONLY);
 *  - writer misuse: unknown writer flags, a shape pointer missing for ndim > 0, a NULL
 *    pointer written to a streamed array, metadata for a NULL array name (MMARR_E_INVAL).
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
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mmarr.h"
#include "testutil.h"

static void expect_at(mmarr_err got, mmarr_err want, const mmarr_error *e, const char *fragment,
                      const char *file, int line)
{
    if (got != want || (fragment && !strstr(e->message, fragment)))
        print_error("got %s \"%s\", want %s with \"%s\"\n", mmarr_err_name(got), e->message,
                    mmarr_err_name(want), fragment ? fragment : "");
    _assert_int_equal(cast_to_largest_integral_type(got), cast_to_largest_integral_type(want),
                      file, line);
    if (fragment)
        _assert_true(strstr(e->message, fragment) != NULL, "message", file, line);
}
#define expect(got, want, e, fragment) expect_at((got), (want), (e), (fragment), __FILE__, __LINE__)

static char *golden(const char *name, size_t *size)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/valid/%s.mmarr", tu_testdata_dir(), name);
    char *b = tu_read_file(path, size);
    if (!b)
        fail_msg("cannot read %s", path);
    return b;
}

static void test_errpaths__magic_cr_cr_lf(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = (unsigned char *)golden("base_small", &n);
    /* "\x89MMARR\r\n\x1a\n" with its "\n" turned into "\r\n": "\x89MMARR\r\r\n\x1a\n" */
    unsigned char *c = malloc(n + 1);
    assert_non_null(c);
    memcpy(c, b, 7);
    c[7] = '\r';
    memcpy(c + 8, b + 7, n - 7);
    mmarr_file *f;
    mmarr_error e;
    expect(mmarr_open_buffer(c, n + 1, 0, &f, &e), MMARR_E_BADMAGIC, &e,
           "the magic's \\n became \\r\\n");
    free(c);
    free(b);
}

static void test_errpaths__open_directory_missing_flags(void **state)
{
    const char *dir = *state;
    mmarr_file *f = (mmarr_file *)1;
    mmarr_error e;
    expect(mmarr_open(dir, 0, &f, &e), MMARR_E_INVAL, &e, "not a regular file");
    assert_null(f);
    char *missing = tu_path(dir, "missing.mmarr");
    expect(mmarr_open(missing, 0, &f, &e), MMARR_E_IO, &e, "cannot open");
    assert_int_equal(e.sys_errno, ENOENT);
    expect(mmarr_open(missing, MMARR_OPEN_RDWR, &f, &e), MMARR_E_IO, &e,
           "for reading and writing");
    expect(mmarr_open(missing, 0x100, &f, &e), MMARR_E_INVAL, &e, "unknown open flags");
    expect(mmarr_open(NULL, 0, &f, &e), MMARR_E_INVAL, &e, "NULL argument");
    free(missing);
}

static void test_errpaths__mapping_refused(void **state)
{
    const char *dir = *state;
    char *path = tu_path(dir, "big.mmarr");
    mmarr_writer_options o = {0};
    o.flags = MMARR_WRITE_NO_SYNC;
    mmarr_writer *w;
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    void *p;
    uint64_t s[1] = {256u << 20}; /* a sparse 256 MiB array */
    assert_int_equal(mmarr_writer_reserve(w, "z", "|u1", 1, s, MMARR_ORDER_C, &p), MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* an address space too small for the file (the process itself needs little) */
        struct rlimit rl;
        getrlimit(RLIMIT_AS, &rl);
        rl.rlim_cur = 128u << 20;
        mmarr_error e;
        memset(&e, 0, sizeof e);
        mmarr_file *f = NULL;
        mmarr_err rc = setrlimit(RLIMIT_AS, &rl) == 0 ? mmarr_open(path, 0, &f, &e) : MMARR_OK;
        if (write(fds[1], &rc, sizeof rc) != sizeof rc || write(fds[1], &e, sizeof e) != sizeof e)
            tu_child_exit(2);
        tu_child_exit(0);
    }
    close(fds[1]);
    mmarr_err rc;
    mmarr_error e;
    assert_int_equal(read(fds[0], &rc, sizeof rc), (ssize_t)sizeof rc);
    assert_int_equal(read(fds[0], &e, sizeof e), (ssize_t)sizeof e);
    close(fds[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    expect(rc, MMARR_E_IO, &e, "cannot map");
    assert_int_equal(e.sys_errno, ENOMEM);
    free(path);
}

static void test_errpaths__flush_flags_and_readonly(void **state)
{
    const char *dir = *state;
    char *path = tu_path(dir, "f.mmarr");
    mmarr_writer *w;
    assert_int_equal(mmarr_writer_create(path, NULL, &w, NULL), MMARR_OK);
    uint64_t s[1] = {4};
    assert_int_equal(mmarr_writer_add(w, "a", "|u1", 1, s, MMARR_ORDER_C, "abcd"), MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    mmarr_file *f;
    mmarr_error e;
    assert_int_equal(mmarr_open(path, 0, &f, &e), MMARR_OK);
    expect(mmarr_file_flush(f, 0, &e), MMARR_E_READONLY, &e, "MMARR_OPEN_RDWR");
    mmarr_close(f);
    assert_int_equal(mmarr_open(path, MMARR_OPEN_RDWR, &f, &e), MMARR_OK);
    expect(mmarr_file_flush(f, 0x80, &e), MMARR_E_INVAL, &e, "unknown flush flags");
    assert_int_equal(mmarr_file_flush(f, MMARR_FLUSH_ASYNC, &e), MMARR_OK);
    mmarr_close(f);
    free(path);
}

static void test_errpaths__writer_misuse(void **state)
{
    const char *dir = *state;
    char *path = tu_path(dir, "w.mmarr");
    mmarr_writer_options o = {0};
    o.flags = 0x40;
    mmarr_writer *w = NULL;
    mmarr_error e;
    expect(mmarr_writer_create(path, &o, &w, &e), MMARR_E_INVAL, &e, "unknown writer flags");
    assert_null(w);
    assert_int_equal(mmarr_writer_create(path, NULL, &w, &e), MMARR_OK);
    expect(mmarr_writer_add(w, "a", "<f4", 2, NULL, MMARR_ORDER_C, NULL), MMARR_E_INVAL,
           mmarr_writer_error(w), NULL);
    uint64_t s[1] = {3};
    expect(mmarr_writer_reserve(w, "r", "<f4", 2, NULL, MMARR_ORDER_C, &(void *){NULL}),
           MMARR_E_INVAL, mmarr_writer_error(w), "shape is NULL");
    assert_int_equal(mmarr_writer_begin(w, "s", "|u1", 1, s, MMARR_ORDER_C, NULL), MMARR_OK);
    expect(mmarr_writer_write(w, NULL, 2), MMARR_E_INVAL, mmarr_writer_error(w),
           "data is NULL");
    assert_int_equal(mmarr_writer_write(w, "xyz", 3), MMARR_OK); /* still usable */
    assert_int_equal(mmarr_writer_end(w), MMARR_OK);
    expect(mmarr_writer_set_array_meta(w, NULL, "k", "v"), MMARR_E_INVAL,
           mmarr_writer_error(w), "array name is NULL");
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    mmarr_file *f;
    assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK);
    assert_int_equal(mmarr_file_count(f), 1);
    mmarr_close(f);
    free(path);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup_dir, tu_teardown_dir)
    const struct CMUnitTest tests[] = {
        T(test_errpaths__magic_cr_cr_lf),
        T(test_errpaths__open_directory_missing_flags),
        T(test_errpaths__mapping_refused),
        T(test_errpaths__flush_flags_and_readonly),
        T(test_errpaths__writer_misuse),
    };
#undef T
    return cmocka_run_group_tests_name("errpaths", tests, NULL, NULL);
}
