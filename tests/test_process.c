/* SPDX-License-Identifier: MIT */
/*
 * test_process.c — mmarr files shared between processes and threads (mmarr.h "Processes",
 * "Threads", spec.md §4.2 and §11.2): writes through a read-write mapping in one process are
 * seen through another process's read-only mapping (MAP_SHARED); handles survive fork();
 * files written by a process that has exited reopen intact; commits are atomic renames, so a
 * reader racing 200 re-commits of the same path always opens one complete version; the
 * writer's temporary never outlives commit or mmarr_writer_free(); the "checksums stale"
 * protocol turns in-place updates into MMARR_E_STALE until a rehash, after which real damage
 * is MMARR_E_CHECKSUM again; and four threads share one handle. Children report through
 * their exit status only (no cmocka calls after fork); each test has its own directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xxhash.h>

#include "mmarr.h"
#include "testarray.h"
#include "testutil.h"

static mmarr_file_info file_info(const mmarr_file *f)
{
    mmarr_file_info fi;
    memset(&fi, 0, sizeof fi);
    mmarr_file_get_info(f, &fi);
    return fi;
}

/* ---------------------------------------------------------------------------------------- */
/* Read-write mappings across processes                                                      */

#define NCOUNTS 4096u

static void write_counts_file(const char *path)
{
    mmarr_writer_options o;
    memset(&o, 0, sizeof o);
    o.flags = MMARR_WRITE_NO_SYNC;
    mmarr_writer *w = NULL;
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    uint64_t s[1] = {NCOUNTS};
    void *p = NULL;
    assert_int_equal(mmarr_writer_reserve(w, "counts", "<i8", 1, s, MMARR_ORDER_C, &p),
                     MMARR_OK);
    assert_non_null(p);
    uint64_t s10[1] = {10};
    const float ten[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    assert_int_equal(mmarr_writer_add(w, "other", "<f4", 1, s10, MMARR_ORDER_C, ten), MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
}

static int child_write_counts(void *arg)
{
    const char *path = arg;
    mmarr_file *f = NULL;
    if (mmarr_open(path, MMARR_OPEN_RDWR, &f, NULL) != MMARR_OK)
        return 10;
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    if (!fi.writable || !fi.checksums_stale)
        return 11;
    mmarr_array_info a;
    if (mmarr_file_find_array(f, "counts", &a, NULL) != MMARR_OK || a.nbytes != NCOUNTS * 8)
        return 12;
    int64_t *p = a.data;
    for (uint32_t i = 0; i < NCOUNTS; i++)
        p[i] = (int64_t)i * 3 + 1;
    if (mmarr_file_flush(f, 0, NULL) != MMARR_OK)
        return 13;
    mmarr_close(f);
    return 0;
}

static void test_process__rdwr_child_writes_parent_sees(void **state)
{
    char *path = tu_path(*state, "shared.mmarr");
    write_counts_file(path);
    mmarr_file *ro = open_ok(path, 0);
    mmarr_array_info a;
    find_ok(ro, "counts", &a);
    const int64_t *p = a.data;
    for (uint32_t i = 0; i < NCOUNTS; i++)
        assert_int_equal(p[i], 0);
    assert_int_equal(file_info(ro).writable, 0);

    tu_reap_ok(tu_spawn(child_write_counts, path, ro, NULL));

    /* The parent's read-only mapping, opened before, sees the child's writes. */
    for (uint32_t i = 0; i < NCOUNTS; i++)
        assert_int_equal(p[i], (int64_t)i * 3 + 1);
    /* So does a fresh handle, which also sees the published stale flag. */
    mmarr_file *f2 = open_ok(path, 0);
    mmarr_array_info b;
    find_ok(f2, "counts", &b);
    assert_memory_equal(b.data, a.data, NCOUNTS * 8);
    assert_int_equal(file_info(f2).checksums_stale, 1);
    mmarr_close(f2);
    mmarr_close(ro);
    free(path);
}

typedef struct shared_handle_arg {
    mmarr_file *f;
} shared_handle_arg;

static int child_write_through_inherited(void *arg)
{
    shared_handle_arg *h = arg;
    mmarr_array_info a;
    if (mmarr_file_find_array(h->f, "counts", &a, NULL) != MMARR_OK)
        return 20;
    int64_t *p = a.data;
    for (uint32_t i = 0; i < NCOUNTS; i++)
        p[i] = -(int64_t)i;
    return mmarr_file_flush(h->f, 0, NULL) == MMARR_OK ? 0 : 21;
}

static void test_process__rdwr_handle_inherited_by_child(void **state)
{
    char *path = tu_path(*state, "inherit.mmarr");
    write_counts_file(path);
    shared_handle_arg h = {open_ok(path, MMARR_OPEN_RDWR)};
    tu_reap_ok(tu_spawn(child_write_through_inherited, &h, h.f, path));
    /* MAP_SHARED: the child's writes through the inherited mapping reach the parent's view */
    mmarr_array_info a;
    find_ok(h.f, "counts", &a);
    const int64_t *p = a.data;
    for (uint32_t i = 0; i < NCOUNTS; i++)
        assert_int_equal(p[i], -(int64_t)i);
    mmarr_close(h.f);
    mmarr_file *ro = open_ok(path, 0);
    find_ok(ro, "counts", &a);
    assert_int_equal(((const int64_t *)a.data)[NCOUNTS - 1], -(int64_t)(NCOUNTS - 1));
    mmarr_close(ro);
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* Handles across fork, files across process lifetimes                                       */

#define NFORK 40u

static void fork_array_name(char *buf, size_t n, uint32_t i)
{
    snprintf(buf, n, "arr/%02u", i);
}

static uint64_t fork_array_bytes(uint32_t i)
{
    return 100u + (uint64_t)i * 997u; /* 100 .. ~39 KB: packed and page-aligned */
}

/* Writes NFORK arrays of tu_fill(seed = i) bytes, and file metadata. */
static int write_fork_file(const char *path)
{
    mmarr_writer_options o;
    memset(&o, 0, sizeof o);
    o.flags = MMARR_WRITE_NO_SYNC;
    mmarr_writer *w = NULL;
    if (mmarr_writer_create(path, &o, &w, NULL) != MMARR_OK)
        return 1;
    char name[32];
    for (uint32_t i = 0; i < NFORK; i++) {
        uint64_t n = fork_array_bytes(i);
        unsigned char *d = malloc((size_t)n);
        if (!d)
            return 2;
        tu_fill(d, (size_t)n, i);
        fork_array_name(name, sizeof name, i);
        uint64_t s[1] = {n};
        mmarr_err rc = mmarr_writer_add(w, name, "|u1", 1, s, MMARR_ORDER_C, d);
        free(d);
        if (rc != MMARR_OK)
            return 3;
    }
    if (mmarr_writer_set_file_meta(w, "writer", "child") != MMARR_OK)
        return 4;
    if (mmarr_writer_commit(w) != MMARR_OK)
        return 5;
    mmarr_writer_free(w);
    return 0;
}

/* 0 if every array of the fork file is intact in f, else a small error number. */
static int check_fork_file(mmarr_file *f)
{
    if (mmarr_file_count(f) != NFORK)
        return 30;
    char name[32];
    for (uint32_t i = 0; i < NFORK; i++) {
        fork_array_name(name, sizeof name, i);
        mmarr_array_info a;
        if (mmarr_file_find_array(f, name, &a, NULL) != MMARR_OK)
            return 31;
        uint64_t n = fork_array_bytes(i);
        if (a.nbytes != n || a.index != i)
            return 32;
        unsigned char *d = malloc((size_t)n);
        if (!d)
            return 33;
        tu_fill(d, (size_t)n, i);
        int same = memcmp(a.data, d, (size_t)n) == 0;
        uint64_t h = XXH3_64bits(d, (size_t)n);
        free(d);
        if (!same)
            return 34;
        if (a.checksum != h)
            return 35;
        if (mmarr_file_verify_array(f, i, NULL) != MMARR_OK)
            return 36;
    }
    if (mmarr_file_verify(f, NULL) != MMARR_OK)
        return 37;
    return 0;
}

static int child_check_inherited(void *arg)
{
    return check_fork_file(arg);
}

static void test_process__handle_opened_before_fork_works_in_child(void **state)
{
    char *path = tu_path(*state, "fork.mmarr");
    assert_int_equal(write_fork_file(path), 0);
    mmarr_file *f = open_ok(path, 0);
    assert_int_equal(check_fork_file(f), 0);
    pid_t kids[3];
    for (int k = 0; k < 3; k++)
        kids[k] = tu_spawn(child_check_inherited, f, path, NULL);
    for (int k = 0; k < 3; k++)
        tu_reap_ok(kids[k]);
    /* and the parent's handle is unaffected */
    assert_int_equal(check_fork_file(f), 0);
    mmarr_close(f);
    free(path);
}

static int child_write_file(void *arg)
{
    return write_fork_file(arg);
}

static int child_abandon_writer(void *arg)
{
    const char *path = arg;
    mmarr_writer *w = NULL;
    if (mmarr_writer_create(path, NULL, &w, NULL) != MMARR_OK)
        return 1;
    uint64_t s[1] = {1};
    const uint8_t v = 1;
    tu_child_roots[3] = w; /* abandoned on purpose: keep it reachable for valgrind */
    if (mmarr_writer_add(w, "x", "|u1", 1, s, MMARR_ORDER_C, &v) != MMARR_OK)
        return 2;
    return 0; /* exits without commit or free, like a crash */
}

static void test_process__reopen_after_writer_process_exits(void **state)
{
    char *path = tu_path(*state, "child-wrote.mmarr");
    /* a writer process that dies before commit leaves no target behind */
    tu_reap_ok(tu_spawn(child_abandon_writer, path, NULL, NULL));
    struct stat st;
    assert_int_equal(stat(path, &st), -1);
    assert_int_equal(errno, ENOENT);

    tu_reap_ok(tu_spawn(child_write_file, path, NULL, NULL));
    mmarr_file *f = open_ok(path, MMARR_OPEN_VERIFY);
    assert_int_equal(check_fork_file(f), 0);
    ASSERT_STR(mmarr_file_meta_get(f, "writer"), "child");
    mmarr_close(f);
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* Atomic commit                                                                             */

#define ATOMIC_ROUNDS 200
#define ATOMIC_BYTES 65536u

/* Version A: v = 0xAA * 64 KiB, no "w"; version B: v = 0x55 * 64 KiB plus "w". */
static int write_version(const char *path, int b)
{
    mmarr_writer_options o;
    memset(&o, 0, sizeof o);
    o.flags = MMARR_WRITE_NO_SYNC;
    mmarr_writer *w = NULL;
    if (mmarr_writer_create(path, &o, &w, NULL) != MMARR_OK)
        return 1;
    unsigned char *d = malloc(ATOMIC_BYTES);
    if (!d)
        return 2;
    memset(d, b ? 0x55 : 0xAA, ATOMIC_BYTES);
    uint64_t s[1] = {ATOMIC_BYTES};
    int rc = 0;
    if (b) {
        uint64_t sw[1] = {ATOMIC_BYTES / 8};
        if (mmarr_writer_add(w, "w", "<f8", 1, sw, MMARR_ORDER_C, d) != MMARR_OK)
            rc = 3;
    }
    if (!rc && mmarr_writer_add(w, "v", "|u1", 1, s, MMARR_ORDER_C, d) != MMARR_OK)
        rc = 4;
    if (!rc && mmarr_writer_set_file_meta(w, "version", b ? "B" : "A") != MMARR_OK)
        rc = 5;
    if (!rc && mmarr_writer_commit(w) != MMARR_OK)
        rc = 6;
    mmarr_writer_free(w);
    free(d);
    return rc;
}

static int version_of_round(int k)
{
    return k % 2 == 0; /* even rounds write B, odd rounds A; the last (199) is A */
}

static int child_recommit(void *arg)
{
    for (int k = 0; k < ATOMIC_ROUNDS; k++) {
        int rc = write_version(arg, version_of_round(k));
        if (rc)
            return 40 + rc;
    }
    return 0;
}

/* Open and check one complete version; returns 0, or an error code with a message. */
static int check_some_version(const char *path, char *why, size_t n, int *is_b)
{
    mmarr_file *f = NULL;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    mmarr_err rc = mmarr_open(path, 0, &f, &e);
    if (rc != MMARR_OK) {
        snprintf(why, n, "open: %s: %s", mmarr_err_name(rc), e.message);
        return 1;
    }
    int res = 0;
    const char *ver = mmarr_file_meta_get(f, "version");
    mmarr_array_info v, w;
    if (!ver || (strcmp(ver, "A") && strcmp(ver, "B"))) {
        snprintf(why, n, "version metadata %s", ver ? ver : "(null)");
        res = 2;
    } else if (mmarr_file_find_array(f, "v", &v, NULL) != MMARR_OK ||
               v.nbytes != ATOMIC_BYTES) {
        snprintf(why, n, "array v missing or wrong size");
        res = 3;
    } else {
        int b = ver[0] == 'B';
        *is_b = b;
        const unsigned char *p = v.data;
        unsigned char want = b ? 0x55 : 0xAA;
        for (size_t i = 0; i < ATOMIC_BYTES && !res; i++) {
            if (p[i] != want) {
                snprintf(why, n, "version %s: v[%zu] = 0x%02x", ver, i, p[i]);
                res = 4;
            }
        }
        mmarr_err wr = mmarr_file_find_array(f, "w", &w, NULL);
        if (!res && (b ? wr != MMARR_OK : wr != MMARR_E_NOTFOUND)) {
            snprintf(why, n, "version %s: find w returned %s", ver, mmarr_err_name(wr));
            res = 5;
        }
        if (!res && (rc = mmarr_file_verify(f, &e)) != MMARR_OK) {
            snprintf(why, n, "version %s: verify %s: %s", ver, mmarr_err_name(rc), e.message);
            res = 6;
        }
    }
    mmarr_close(f);
    return res;
}

static void test_process__atomic_commit_never_torn(void **state)
{
    char *path = tu_path(*state, "atomic.mmarr");
    assert_int_equal(write_version(path, 0), 0);
    pid_t pid = tu_spawn(child_recommit, path, NULL, NULL);
    char why[700] = "";
    int failures = 0;
    unsigned long opens = 0;
    int st = 0;
    pid_t r;
    for (;;) {
        int is_b = 0;
        if (check_some_version(path, why, sizeof why, &is_b) != 0) {
            failures++;
            break;
        }
        opens++;
        r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        assert_int_equal(r, 0);
    }
    if (failures) {
        print_error("after %lu good opens: %s\n", opens, why);
        tu_reap_ok(pid);
    } else {
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    assert_int_equal(failures, 0);
    assert_true(opens >= 1);
    /* The final state is the last round's version, and it is complete. */
    int is_b = -1;
    assert_int_equal(check_some_version(path, why, sizeof why, &is_b), 0);
    assert_int_equal(is_b, version_of_round(ATOMIC_ROUNDS - 1));
    /* No temporaries are left behind by 200 commits. */
    char names[512];
    assert_int_equal(tu_list_dir(*state, names, sizeof names), 1);
    ASSERT_STR(names, "atomic.mmarr");
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* The writer's temporary                                                                    */

static void test_process__temporary_gone_after_commit_and_free(void **state)
{
    const char *dir = *state;
    char *path = tu_path(dir, "target.mmarr");
    char names[512];
    mode_t old_umask = umask(022);

    mmarr_writer_options o;
    memset(&o, 0, sizeof o);
    o.flags = MMARR_WRITE_NO_SYNC;
    mmarr_writer *w = NULL;
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    uint64_t s[1] = {10000};
    unsigned char *d = malloc(10000);
    assert_non_null(d);
    tu_fill(d, 10000, 5);
    assert_int_equal(mmarr_writer_add(w, "d", "|u1", 1, s, MMARR_ORDER_C, d), MMARR_OK);
    /* While writing: nothing at the target, and at most "<path>.tmp.XXXXXX" (none where the
     * writer's temporary is unnamed, O_TMPFILE: tmpfs, ext4, xfs, btrfs). */
    const size_t listed = tu_list_dir(dir, names, sizeof names);
    assert_true(listed <= 1);
    if (listed) {
        assert_int_equal(strncmp(names, "target.mmarr.tmp.", 17), 0);
        assert_int_equal(strlen(names), strlen("target.mmarr.tmp.XXXXXX"));
    }
    struct stat st;
    assert_int_equal(stat(path, &st), -1);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    assert_int_equal(tu_list_dir(dir, names, sizeof names), 1);
    ASSERT_STR(names, "target.mmarr");
    mmarr_writer_free(w);
    assert_int_equal(tu_list_dir(dir, names, sizeof names), 1);
    ASSERT_STR(names, "target.mmarr");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644); /* 0666 & ~umask */
    size_t size0 = 0;
    void *before = tu_read_file(path, &size0);
    assert_non_null(before);

    /* Abandoned writer: the temporary is removed and the old target is untouched. */
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    uint64_t s1[1] = {1};
    assert_int_equal(mmarr_writer_add(w, "other", "|u1", 1, s1, MMARR_ORDER_C, d), MMARR_OK);
    void *p = NULL;
    assert_int_equal(mmarr_writer_reserve(w, "r", "|u1", 1, s, MMARR_ORDER_C, &p), MMARR_OK);
    const size_t during = tu_list_dir(dir, names, sizeof names); /* + a named temporary, or not */
    assert_true(during == 1 || during == 2);
    assert_int_equal(during, listed + 1);
    mmarr_writer_free(w);
    assert_int_equal(tu_list_dir(dir, names, sizeof names), 1);
    ASSERT_STR(names, "target.mmarr");
    size_t size1 = 0;
    void *after = tu_read_file(path, &size1);
    assert_non_null(after);
    assert_int_equal(size1, size0);
    assert_memory_equal(after, before, size0);
    free(before);
    free(after);

    /* Another umask gives another mode. */
    umask(027);
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    assert_int_equal(mmarr_writer_add(w, "d", "|u1", 1, s, MMARR_ORDER_C, d), MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);

    /* A writer freed right away leaves nothing. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    mmarr_writer_free(w);
    assert_int_equal(tu_list_dir(dir, names, sizeof names), 0);

    umask(old_umask);
    free(d);
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* Checksums stale protocol (spec.md §11.2)                                                  */

static void test_process__stale_checksums_and_rehash(void **state)
{
    char *path = tu_path(*state, "stale.mmarr");
    /* The default writer (with fsync): the rehash relies on durable superblock writes. */
    mmarr_writer *w = NULL;
    assert_int_equal(mmarr_writer_create(path, NULL, &w, NULL), MMARR_OK);
    double *ad = malloc(1000 * sizeof(double));
    assert_non_null(ad);
    for (int i = 0; i < 1000; i++)
        ad[i] = i * 0.5;
    int32_t bd[500];
    for (int i = 0; i < 500; i++)
        bd[i] = i - 250;
    uint64_t sa[1] = {1000}, sb[1] = {500};
    assert_int_equal(mmarr_writer_add(w, "alpha_arr", "<f8", 1, sa, MMARR_ORDER_C, ad), MMARR_OK);
    assert_int_equal(mmarr_writer_add(w, "beta_arr", "<i4", 1, sb, MMARR_ORDER_C, bd), MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);

    mmarr_file *ro0 = open_ok(path, 0);
    mmarr_file_info fi0 = file_info(ro0);
    assert_int_equal(fi0.generation, 1);
    assert_int_equal(fi0.checksums_stale, 0);

    /* Opening read-write publishes the stale flag in a new generation. */
    mmarr_file *rw = open_ok(path, MMARR_OPEN_RDWR);
    mmarr_file_info fi = file_info(rw);
    assert_int_equal(fi.writable, 1);
    assert_int_equal(fi.checksums_stale, 1);
    assert_int_equal(fi.generation, 2);
    mmarr_array_info a, b;
    find_ok(rw, "alpha_arr", &a);
    find_ok(rw, "beta_arr", &b);
    ((double *)a.data)[10] = 12345.0;
    ad[10] = 12345.0;

    /* A new handle: verification says stale, not damaged. */
    mmarr_file *ro1 = open_ok(path, 0);
    fi = file_info(ro1);
    assert_int_equal(fi.checksums_stale, 1);
    assert_int_equal(fi.generation, 2);
    assert_int_equal(fi.inactive_slot_damaged, 0);
    mmarr_error e;
    memset(&e, 0, sizeof e);
    assert_code(mmarr_file_verify(ro1, &e), MMARR_E_STALE, e.message);
    assert_code(mmarr_file_verify_array(ro1, a.index, &e), MMARR_E_STALE, e.message);
    /* beta_arr still matches its checksum: mmarr.h's "STALE if the file's checksums are
     * marked stale" and spec.md §4.3's "a mismatch ... reports the checksums as stale"
     * allow either answer for an unchanged array, but never CHECKSUM. */
    mmarr_err rcb = mmarr_file_verify_array(ro1, b.index, &e);
    assert_true(rcb == MMARR_OK || rcb == MMARR_E_STALE);
    assert_code(mmarr_file_verify(rw, &e), MMARR_E_STALE, e.message);
    mmarr_file *tmp = (mmarr_file *)1;
    assert_code(mmarr_open(path, MMARR_OPEN_VERIFY, &tmp, &e), MMARR_E_STALE, e.message);
    assert_null(tmp);
    mmarr_close(ro1);

    /* The old handle shares the mapping and sees the new value. */
    mmarr_array_info a0;
    find_ok(ro0, "alpha_arr", &a0);
    assert_true(((const double *)a0.data)[10] == 12345.0);

    /* A plain flush keeps the flag. */
    assert_code(mmarr_file_flush(rw, 0, &e), MMARR_OK, e.message);
    assert_code(mmarr_file_flush(rw, MMARR_FLUSH_ASYNC, &e), MMARR_OK, e.message);
    ro1 = open_ok(path, 0);
    assert_int_equal(file_info(ro1).checksums_stale, 1);
    mmarr_close(ro1);

    /* Rehash: new checksums, new index appended, flag cleared. */
    assert_code(mmarr_file_flush(rw, MMARR_FLUSH_REHASH, &e), MMARR_OK, e.message);
    fi = file_info(rw);
    assert_int_equal(fi.checksums_stale, 0);
    assert_int_equal(fi.generation, 3);
    assert_true(((const double *)a.data)[10] == 12345.0); /* old infos stay valid */
    assert_code(mmarr_file_verify(rw, &e), MMARR_OK, e.message);

    mmarr_file *ro2 = open_ok(path, 0);
    mmarr_file_info fi2 = file_info(ro2);
    assert_int_equal(fi2.checksums_stale, 0);
    assert_int_equal(fi2.generation, 3);
    assert_int_equal(fi2.inactive_slot_damaged, 0);
    assert_true(fi2.file_size > fi0.file_size);
    assert_true(fi2.index_offset >= fi0.file_size);
    assert_int_equal(fi2.index_offset % 64, 0);
    assert_code(mmarr_file_verify(ro2, &e), MMARR_OK, e.message);
    mmarr_array_info a2;
    find_ok(ro2, "alpha_arr", &a2);
    assert_memory_equal(a2.data, ad, 8000);
    assert_int_equal(a2.checksum, XXH3_64bits(ad, 8000));
    assert_true(a2.checksum != a0.checksum);
    mmarr_array_info b2;
    find_ok(ro2, "beta_arr", &b2);
    assert_int_equal(b2.checksum, XXH3_64bits(bd, sizeof bd));
    mmarr_close(ro2);

    mmarr_close(rw);

    /* A second read-write session: stale again (generation 4), then a second rehash
     * (generation 5) appends another index. */
    rw = open_ok(path, MMARR_OPEN_RDWR);
    assert_int_equal(file_info(rw).generation, 4);
    assert_int_equal(file_info(rw).checksums_stale, 1);
    find_ok(rw, "beta_arr", &b);
    ((int32_t *)b.data)[0] = 777;
    bd[0] = 777;
    assert_code(mmarr_file_flush(rw, MMARR_FLUSH_REHASH, &e), MMARR_OK, e.message);
    mmarr_close(rw);
    ro2 = open_ok(path, MMARR_OPEN_VERIFY);
    mmarr_file_info fi3 = file_info(ro2);
    assert_int_equal(fi3.generation, 5);
    assert_true(fi3.file_size > fi2.file_size);
    assert_true(fi3.index_offset >= fi2.file_size);
    assert_int_equal(fi3.checksums_stale, 0);
    find_ok(ro2, "beta_arr", &b2);
    assert_memory_equal(b2.data, bd, sizeof bd);
    assert_int_equal(b2.checksum, XXH3_64bits(bd, sizeof bd));
    find_ok(ro2, "alpha_arr", &a2);
    assert_int_equal(a2.checksum, XXH3_64bits(ad, 8000));
    uint64_t b_off = b2.offset;
    mmarr_close(ro2);

    /* Real damage after the rehash is a checksum error again, not "stale". */
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char byte = 0;
    assert_int_equal(pread(fd, &byte, 1, (off_t)(b_off + 100)), 1);
    byte ^= 0x40;
    assert_int_equal(pwrite(fd, &byte, 1, (off_t)(b_off + 100)), 1);
    close(fd);
    mmarr_file *ro3 = open_ok(path, 0);
    assert_int_equal(file_info(ro3).checksums_stale, 0);
    memset(&e, 0, sizeof e);
    assert_code(mmarr_file_verify(ro3, &e), MMARR_E_CHECKSUM, e.message);
    if (!strstr(e.message, "beta_arr"))
        print_error("message lacks the array name: %s\n", e.message);
    assert_non_null(strstr(e.message, "beta_arr"));
    find_ok(ro3, "alpha_arr", &a2);
    assert_code(mmarr_file_verify_array(ro3, a2.index, &e), MMARR_OK, e.message);
    mmarr_close(ro3);

    mmarr_close(ro0);
    free(ad);
    free(path);
}

/* mmarr_file_write: bytes through the descriptor, seen by every mapping, rehashed truthfully;
 * refused on read-only handles, cold arrays, bad ranges. */
static void test_process__file_write_through_descriptor(void **state)
{
    char *path = tu_path(*state, "pwrite.mmarr");
    mmarr_writer *w = NULL;
    assert_int_equal(mmarr_writer_create(path, NULL, &w, NULL), MMARR_OK);
    uint64_t s[1] = {NCOUNTS};
    void *p = NULL;
    assert_int_equal(mmarr_writer_reserve(w, "counts", "<i8", 1, s, MMARR_ORDER_C, &p), MMARR_OK);
    int64_t small[64] = {0};
    uint64_t s64[1] = {64};
    assert_int_equal(mmarr_writer_add_cold(w, "cold", "<i8", 1, s64, MMARR_ORDER_C, small, NULL),
                     MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);

    mmarr_file *ro = open_ok(path, 0);
    mmarr_array_info a, c;
    find_ok(ro, "counts", &a);
    find_ok(ro, "cold", &c);
    mmarr_error e;
    memset(&e, 0, sizeof e);
    int64_t v[100];
    for (int i = 0; i < 100; i++)
        v[i] = 1000 + i;
    assert_code(mmarr_file_write(ro, a.index, 0, v, sizeof v, &e), MMARR_E_READONLY, e.message);
    assert_non_null(strstr(e.message, "MMARR_OPEN_RDWR"));

    mmarr_file *rw = open_ok(path, MMARR_OPEN_RDWR);
    /* rows 10..109 through the descriptor; the read-only mapping opened before sees them */
    assert_code(mmarr_file_write(rw, a.index, 10 * 8, v, sizeof v, &e), MMARR_OK, e.message);
    const int64_t *m = a.data;
    assert_int_equal(m[9], 0);
    assert_int_equal(m[10], 1000);
    assert_int_equal(m[109], 1099);
    assert_int_equal(m[110], 0);
    assert_code(mmarr_file_write(rw, a.index, 0, NULL, 0, &e), MMARR_OK, e.message);

    assert_code(mmarr_file_write(rw, a.index, NCOUNTS * 8 - 8, v, 16, &e), MMARR_E_RANGE,
                e.message);
    assert_non_null(strstr(e.message, "counts"));
    assert_code(mmarr_file_write(rw, a.index, UINT64_MAX, v, 16, &e), MMARR_E_RANGE, e.message);
    assert_code(mmarr_file_write(rw, a.index, 0, NULL, 8, &e), MMARR_E_INVAL, e.message);
    assert_code(mmarr_file_write(rw, 99, 0, v, 8, &e), MMARR_E_INVAL, e.message);
    assert_code(mmarr_file_write(rw, c.index, 0, v, 8, &e), MMARR_E_INVAL, e.message);
    assert_non_null(strstr(e.message, "cold"));

    /* the rehash reads the written bytes; afterwards the handle refuses writes */
    assert_code(mmarr_file_flush(rw, MMARR_FLUSH_REHASH, &e), MMARR_OK, e.message);
    assert_code(mmarr_file_write(rw, a.index, 0, v, 8, &e), MMARR_E_READONLY, e.message);
    mmarr_close(rw);
    mmarr_file *f = open_ok(path, MMARR_OPEN_VERIFY);
    mmarr_array_info b;
    find_ok(f, "counts", &b);
    int64_t *want = calloc(NCOUNTS, 8);
    assert_non_null(want);
    memcpy(want + 10, v, sizeof v);
    assert_memory_equal(b.data, want, NCOUNTS * 8);
    assert_int_equal(b.checksum, XXH3_64bits(want, NCOUNTS * 8));
    free(want);
    mmarr_close(f);
    mmarr_close(ro);
    free(path);
}

/* MMARR_OPEN_COPY_ON_WRITE: writable memory whose changes stay in the handle; the file and
 * other handles keep the original bytes; page release refused. */
static void test_process__copy_on_write(void **state)
{
    char *path = tu_path(*state, "cow.mmarr");
    write_counts_file(path);
    mmarr_file *ro = open_ok(path, 0);
    mmarr_file *c = open_ok(path, MMARR_OPEN_COPY_ON_WRITE);
    mmarr_file_info fi = file_info(c);
    assert_int_equal(fi.copy_on_write, 1);
    assert_int_equal(fi.writable, 0);
    assert_int_equal(fi.checksums_stale, 0);
    mmarr_array_info a, b;
    find_ok(c, "counts", &a);
    find_ok(ro, "counts", &b);
    int64_t *p = a.data;
    p[7] = 4242;
    assert_int_equal(((const int64_t *)b.data)[7], 0); /* another handle: the file */
    int64_t got = 0;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    assert_code(mmarr_file_read(c, a.index, 7 * 8, &got, 8, &e), MMARR_OK, e.message);
    assert_int_equal(got, 4242); /* reads copy this handle's memory */
    assert_code(mmarr_file_verify(c, &e), MMARR_OK, e.message); /* the file is intact */
    assert_code(mmarr_file_advise(c, a.index, MMARR_ADVICE_DONTNEED, &e), MMARR_E_STATE, e.message);
    assert_code(mmarr_file_advise_range(c, a.index, 0, 4096, MMARR_ADVICE_DONTNEED, &e),
                MMARR_E_STATE, e.message);
    assert_int_equal(p[7], 4242);
    assert_code(mmarr_file_advise(c, a.index, MMARR_ADVICE_WILLNEED, &e), MMARR_OK, e.message);
    assert_code(mmarr_file_write(c, a.index, 0, &got, 8, &e), MMARR_E_READONLY, e.message);
    assert_code(mmarr_file_flush(c, 0, &e), MMARR_E_READONLY, e.message);
    mmarr_close(c);
    mmarr_file *again = open_ok(path, MMARR_OPEN_VERIFY);
    find_ok(again, "counts", &b);
    assert_int_equal(((const int64_t *)b.data)[7], 0);
    assert_int_equal(file_info(again).generation, 1);
    mmarr_close(again);

    mmarr_file *bad = (mmarr_file *)1;
    assert_code(mmarr_open(path, MMARR_OPEN_RDWR | MMARR_OPEN_COPY_ON_WRITE, &bad, &e),
                MMARR_E_INVAL, e.message);
    assert_null(bad);
    assert_non_null(strstr(e.message, "exclude"));
    mmarr_close(ro);
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* Threads sharing one handle                                                                */

#define NTHREAD_ARRAYS 300u
#define NTHREADS 4

static uint64_t thread_array_bytes(uint32_t i)
{
    return 1u + (uint64_t)i * 37u % 6000u; /* 1 .. 6000 bytes: packed and page-aligned */
}

typedef struct thread_arg {
    mmarr_file *f;
    unsigned seed;
    int failures;
    char first[256];
} thread_arg;

static void thread_fail(thread_arg *t, const char *what, uint32_t i)
{
    if (!t->failures)
        snprintf(t->first, sizeof t->first, "thread %u: %s (array %u)", t->seed, what, i);
    t->failures++;
}

static void *reader_thread(void *arg)
{
    thread_arg *t = arg;
    unsigned char *buf = malloc(6001);
    if (!buf) {
        t->failures++;
        return NULL;
    }
    char name[32];
    for (int round = 0; round < 3; round++) {
        for (uint32_t k = 0; k < NTHREAD_ARRAYS; k++) {
            /* each thread walks the arrays in its own order */
            uint32_t i = (k * 7u + t->seed * 101u + (uint32_t)round * 13u) % NTHREAD_ARRAYS;
            snprintf(name, sizeof name, "t/%03u", i);
            mmarr_array_info a;
            mmarr_error e;
            if (mmarr_file_find_array(t->f, name, &a, &e) != MMARR_OK) {
                thread_fail(t, "find", i);
                continue;
            }
            uint64_t n = thread_array_bytes(i);
            tu_fill(buf, (size_t)n, i);
            if (a.index != i || a.nbytes != n || memcmp(a.data, buf, (size_t)n) != 0)
                thread_fail(t, "data", i);
            if (mmarr_file_verify_array(t->f, i, &e) != MMARR_OK)
                thread_fail(t, "verify", i);
            size_t idx;
            if (mmarr_file_find(t->f, "t/missing", &idx, &e) != MMARR_E_NOTFOUND ||
                e.code != MMARR_E_NOTFOUND)
                thread_fail(t, "missing", i);
            const char *m = mmarr_file_meta_get(t->f, "threads");
            if (!m || strcmp(m, "yes") != 0)
                thread_fail(t, "meta", i);
            mmarr_error last;
            mmarr_err lc = mmarr_file_last_error(t->f, &last);
            if (lc != MMARR_OK && lc != MMARR_E_NOTFOUND)
                thread_fail(t, "last_error", i);
        }
        if (mmarr_file_verify(t->f, NULL) != MMARR_OK)
            thread_fail(t, "verify file", 0);
    }
    free(buf);
    return NULL;
}

static void test_process__concurrent_reader_threads(void **state)
{
    char *path = tu_path(*state, "threads.mmarr");
    mmarr_writer_options o;
    memset(&o, 0, sizeof o);
    o.flags = MMARR_WRITE_NO_SYNC;
    mmarr_writer *w = NULL;
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    unsigned char *buf = malloc(6001);
    assert_non_null(buf);
    char name[32];
    for (uint32_t i = 0; i < NTHREAD_ARRAYS; i++) {
        uint64_t n = thread_array_bytes(i);
        tu_fill(buf, (size_t)n, i);
        snprintf(name, sizeof name, "t/%03u", i);
        uint64_t s[1] = {n};
        assert_int_equal(mmarr_writer_add(w, name, "|u1", 1, s, MMARR_ORDER_C, buf), MMARR_OK);
    }
    assert_int_equal(mmarr_writer_set_file_meta(w, "threads", "yes"), MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    free(buf);

    mmarr_file *f = open_ok(path, 0);
    pthread_t th[NTHREADS];
    thread_arg args[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        memset(&args[i], 0, sizeof args[i]);
        args[i].f = f;
        args[i].seed = (unsigned)i;
        assert_int_equal(pthread_create(&th[i], NULL, reader_thread, &args[i]), 0);
    }
    int failures = 0;
    for (int i = 0; i < NTHREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        if (args[i].failures)
            print_error("%s; %d failures\n", args[i].first, args[i].failures);
        failures += args[i].failures;
    }
    assert_int_equal(failures, 0);
    mmarr_close(f);
    free(path);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup_dir, tu_teardown_dir)
    const struct CMUnitTest tests[] = {
        T(test_process__rdwr_child_writes_parent_sees),
        T(test_process__rdwr_handle_inherited_by_child),
        T(test_process__handle_opened_before_fork_works_in_child),
        T(test_process__reopen_after_writer_process_exits),
        T(test_process__atomic_commit_never_torn),
        T(test_process__temporary_gone_after_commit_and_free),
        T(test_process__stale_checksums_and_rehash),
        T(test_process__file_write_through_descriptor),
        T(test_process__copy_on_write),
        T(test_process__concurrent_reader_threads),
    };
#undef T
    return cmocka_run_group_tests_name("process", tests, NULL, NULL);
}
