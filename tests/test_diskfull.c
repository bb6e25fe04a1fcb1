/* SPDX-License-Identifier: MIT */
/*
 * test_diskfull.c — a full disk and a file-size limit (issue 6): the writer fails with a
 * clean MMARR_E_NOSPACE whose message says what to do, never a SIGBUS or SIGXFSZ; nothing
 * appears at the destination and an old file there stays byte for byte; the temporary is
 * removed and its space given back.
 *
 *  - RLIMIT_FSIZE ("ulimit -f") in a child, SIGXFSZ ignored (as a shell with `ulimit -f`
 *    leaves it, the default action would kill the process): limits from 0 to beyond the
 *    file, so the failure lands at every stage (the first reservation, a later array, a
 *    reserved array, a cold array, the commit's index);
 *  - a small tmpfs (`mount -t tmpfs -o size=8m`; skipped when mounting is not permitted):
 *    arrays larger than the space, and a filler file leaving 0..3 MiB free so that the space
 *    runs out at each stage, through add, reserve (the pointer is never handed out without
 *    the space behind it: no SIGBUS), streamed and cold arrays and commit; also a rehash
 *    (mmarr_file_flush with MMARR_FLUSH_REHASH) that cannot append its index fails cleanly
 *    and leaves a file that still opens with its data;
 *  - appends (issue #19) on the small tmpfs, failing at each step (rows into a growable
 *    array's hole, hot and cold arrays, the index): the file stays byte for byte and its
 *    space is all given back (rows punched out of the hole, the tail cut back).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mmarr.h"
#include "testutil.h"

/* Exit codes of the child that writes (the step that failed is reported separately). */
enum { CHILD_DONE = 0, CHILD_NOSPACE = 10, CHILD_OTHER = 20 };

typedef struct step_result {
    int step;          /* index of the call that failed, or -1 */
    mmarr_err code;
    int sys_errno;
    char message[512];
} step_result;

/* The write every scenario performs: several arrays through each writer path, then commit.
 * `scale` multiplies the sizes. Reports the first failing step. */
static void write_file(const char *path, uint64_t scale, step_result *r)
{
    memset(r, 0, sizeof *r);
    r->step = -1;
    mmarr_writer_options o = {0};
    o.flags = MMARR_WRITE_NO_SYNC;
    mmarr_writer *w = NULL;
    mmarr_error e;
    if (mmarr_writer_create(path, &o, &w, &e) != MMARR_OK) {
        r->step = 0;
        r->code = e.code;
        r->sys_errno = e.sys_errno;
        snprintf(r->message, sizeof r->message, "%s", e.message);
        return;
    }
    const uint64_t n1 = 1000 * scale, n2 = 300000 * scale, n3 = 200000 * scale;
    unsigned char *buf = malloc(n2);
    assert_non_null(buf);
    tu_fill(buf, n2, 42);
    mmarr_err rc = MMARR_OK;
    int step = 1;
    char name[32];
    for (; step <= 9 && rc == MMARR_OK; step++) {
        snprintf(name, sizeof name, "a%d", step);
        uint64_t s1[1] = {n1}, s2[1] = {n2}, s3[1] = {n3};
        mmarr_compress_options co = {.level = 1, .chunk_size = 65536, .threads = 1};
        void *p = NULL;
        switch (step) {
        case 1: case 5:
            rc = mmarr_writer_add(w, name, "|u1", 1, s1, MMARR_ORDER_C, buf);
            break;
        case 2: case 6:
            rc = mmarr_writer_add(w, name, "|u1", 1, s2, MMARR_ORDER_C, buf);
            break;
        case 3:
            rc = mmarr_writer_reserve(w, name, "|u1", 1, s3, MMARR_ORDER_C, &p);
            if (rc == MMARR_OK)
                memset(p, 0xA5, n3); /* faults the pages in: a SIGBUS would end the test */
            else
                assert_null(p);
            break;
        case 4: /* incompressible, so the frames take the space */
            rc = mmarr_writer_add_cold(w, name, "|u1", 1, s2, MMARR_ORDER_C, buf, &co);
            break;
        case 7:
            rc = mmarr_writer_begin(w, name, "|u1", 1, s2, MMARR_ORDER_C, NULL);
            for (uint64_t off = 0; rc == MMARR_OK && off < n2; off += 50000)
                rc = mmarr_writer_write(w, buf + off, (size_t)(n2 - off < 50000 ? n2 - off : 50000));
            if (rc == MMARR_OK)
                rc = mmarr_writer_end(w);
            break;
        case 8: /* many small arrays: a large index for the commit to place */
            for (int k = 0; k < 2000 && rc == MMARR_OK; k++) {
                char small[32];
                uint64_t s[1] = {8};
                snprintf(small, sizeof small, "small/%04d", k);
                rc = mmarr_writer_add(w, small, "<f8", 1, s, MMARR_ORDER_C, buf);
            }
            if (rc == MMARR_OK)
                rc = mmarr_writer_set_file_meta(w, "version", "new");
            break;
        default:
            rc = mmarr_writer_commit(w);
            break;
        }
    }
    if (rc != MMARR_OK) {
        const mmarr_error *we = mmarr_writer_error(w);
        r->step = step - 1;
        r->code = rc;
        r->sys_errno = we->sys_errno;
        snprintf(r->message, sizeof r->message, "%s", we->message);
        assert_int_equal(we->code, rc);
    }
    mmarr_writer_free(w);
    free(buf);
}

static const char *const step_names[] = {"create", "add 1 KB", "add 300 KB", "reserve 200 KB",
                                         "add_cold 300 KB", "add 1 KB", "add 300 KB",
                                         "stream 300 KB", "add 2000 small", "commit"};

/* The file at path holds exactly old[0..old_size). */
static void assert_file_is(const char *path, const void *old, size_t old_size)
{
    size_t n;
    void *now = tu_read_file(path, &n);
    assert_non_null(now);
    assert_int_equal(n, old_size);
    assert_memory_equal(now, old, n);
    free(now);
}

/* How many of the 16 steps failed at least once. */
static int distinct_steps(const int failed_steps[16])
{
    int distinct = 0;
    for (int s = 0; s < 16; s++)
        distinct += failed_steps[s] > 0;
    return distinct;
}

/* Files in dir other than `keep`, i.e. leftover temporaries. */
static int others_in(const char *dir, const char *keep)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.' && strcmp(de->d_name, keep) && strcmp(de->d_name, "filler"))
            n++;
    closedir(d);
    return n;
}

static void write_old(const char *path)
{
    mmarr_writer_options o = {0};
    o.flags = MMARR_WRITE_NO_SYNC;
    mmarr_writer *w;
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    unsigned char b[5000];
    tu_fill(b, sizeof b, 7);
    uint64_t s[1] = {sizeof b};
    assert_int_equal(mmarr_writer_add(w, "old", "|u1", 1, s, MMARR_ORDER_C, b), MMARR_OK);
    assert_int_equal(mmarr_writer_set_file_meta(w, "version", "old"), MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
}

/* The size of the file write_file() makes, and where its index starts (= the end of its
 * data), so that some limits can fall inside the commit. */
static void probe(const char *dir, uint64_t *file_size, uint64_t *index_offset)
{
    char *p = tu_path(dir, "probe.mmarr");
    step_result r;
    write_file(p, 1, &r);
    assert_int_equal(r.step, -1);
    mmarr_file *f;
    assert_int_equal(mmarr_open(p, 0, &f, NULL), MMARR_OK);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    *file_size = fi.file_size;
    *index_offset = fi.index_offset;
    mmarr_close(f);
    assert_int_equal(unlink(p), 0);
    free(p);
}

/* ---- RLIMIT_FSIZE ---- */

static void test_diskfull__file_size_limit(void **state)
{
    const char *dir = *state;
    char *path = tu_path(dir, "data.mmarr");
    write_old(path);
    size_t old_size;
    void *old = tu_read_file(path, &old_size);
    assert_non_null(old);
    uint64_t fsize, ioff;
    probe(dir, &fsize, &ioff);
    const uint64_t limits[] = {0,       511,     4096,        5000,       300000, 400000,
                               700000,  1000000, 1200000,     1500000,    ioff,   ioff + 4096,
                               fsize - 1, fsize, 64u << 20};
    int failed_steps[16] = {0};
    int committed = 0;
    for (size_t li = 0; li < sizeof limits / sizeof limits[0]; li++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        fflush(stdout);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            signal(SIGXFSZ, SIG_IGN);
            struct rlimit rl = {limits[li], limits[li]};
            if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
                tu_child_exit(CHILD_OTHER);
            step_result r;
            write_file(path, 1, &r);
            if (write(fds[1], &r, sizeof r) != (ssize_t)sizeof r)
                tu_child_exit(CHILD_OTHER);
            tu_child_exit(r.step < 0 ? CHILD_DONE : r.code == MMARR_E_NOSPACE ? CHILD_NOSPACE
                                                                      : CHILD_OTHER);
        }
        close(fds[1]);
        step_result r;
        memset(&r, 0, sizeof r);
        assert_int_equal(read(fds[0], &r, sizeof r), (ssize_t)sizeof r);
        close(fds[0]);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        if (!WIFEXITED(st))
            fail_msg("limit %llu: the writer was killed by signal %d",
                     (unsigned long long)limits[li], WTERMSIG(st));
        printf("  ulimit -f %8llu bytes: %s%s%s\n", (unsigned long long)limits[li],
               r.step < 0 ? "committed" : step_names[r.step], r.step < 0 ? "" : " -> ",
               r.step < 0 ? "" : r.message);
        if (r.step < 0) {
            committed++;
            assert_int_equal(WEXITSTATUS(st), CHILD_DONE);
            write_old(path); /* the old file again for the next limit */
            continue;
        }
        if (r.code != MMARR_E_NOSPACE)
            fail_msg("limit %llu, %s: %s instead of MMARR_E_NOSPACE: %s",
                     (unsigned long long)limits[li], step_names[r.step],
                     mmarr_err_name(r.code), r.message);
        assert_int_equal(r.sys_errno, EFBIG);
        assert_non_null(strstr(r.message, "ulimit -f"));
        /* the message gives the size the file had to reach (past the limit), not the step */
        const char *to = strstr(r.message, "cannot grow the file to ");
        assert_non_null(to);
        assert_true(strtoull(to + strlen("cannot grow the file to "), NULL, 10) > limits[li]);
        failed_steps[r.step]++;
        /* nothing but the old file, unchanged */
        assert_int_equal(others_in(dir, "data.mmarr"), 0);
        assert_file_is(path, old, old_size);
    }
    const int distinct = distinct_steps(failed_steps);
    printf("  %d limits: %d committed, failures at %d different steps\n",
           (int)(sizeof limits / sizeof limits[0]), committed, distinct);
    assert_true(committed >= 1);
    assert_true(distinct >= 5);
    assert_true(failed_steps[9] > 0); /* the commit */
    free(old);
    free(path);
}

/* ---- a small tmpfs ---- */

typedef struct mnt {
    char *dir;
    int mounted;
} mnt;

static int setup_tmpfs(void **state)
{
    mnt *m = calloc(1, sizeof *m);
    if (!m)
        return -1;
    m->dir = tu_mkdtemp();
    if (!m->dir)
        return -1;
    m->mounted = mount("tmpfs", m->dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=8m") == 0;
    *state = m;
    return 0;
}

static int teardown_tmpfs(void **state)
{
    mnt *m = *state;
    if (m->mounted) {
        char *p = tu_path(m->dir, "data.mmarr");
        unlink(p);
        free(p);
        p = tu_path(m->dir, "filler");
        unlink(p);
        free(p);
        umount(m->dir);
    }
    tu_rmtree(m->dir);
    free(m);
    return 0;
}

static uint64_t free_bytes(const char *dir)
{
    struct statvfs sv;
    assert_int_equal(statvfs(dir, &sv), 0);
    return (uint64_t)sv.f_bavail * sv.f_frsize;
}

/* Leave about `room` bytes free in the tmpfs with a filler file. */
static void fill_to(const char *dir, uint64_t room)
{
    char *p = tu_path(dir, "filler");
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    const uint64_t avail = free_bytes(dir);
    if (avail > room)
        assert_int_equal(posix_fallocate(fd, 0, (off_t)(avail - room)), 0);
    close(fd);
    free(p);
}

/* A write on the small tmpfs that was meant to run out of space at some step: a clean
 * MMARR_E_NOSPACE (ENOSPC, a message that says what to do), no temporary left, the space it
 * took all back, and the file at `path` still old[0..old_size). Counts the step. */
static void tmpfs_failed_cleanly(const char *dir, const char *path, const void *old,
                                 size_t old_size, uint64_t before, const step_result *r,
                                 const char *const *steps, int failed_steps[16])
{
    printf("  tmpfs with %8llu bytes free: %s%s%s\n", (unsigned long long)before,
           r->step < 0 ? "committed" : steps[r->step], r->step < 0 ? "" : " -> ",
           r->step < 0 ? "" : r->message);
    if (r->step < 0)
        fail_msg("%llu bytes free: the write was meant to run out of space",
                 (unsigned long long)before);
    if (r->code != MMARR_E_NOSPACE)
        fail_msg("%s: %s instead of MMARR_E_NOSPACE: %s", steps[r->step], mmarr_err_name(r->code),
                 r->message);
    assert_int_equal(r->sys_errno, ENOSPC);
    assert_non_null(strstr(r->message, "tmpfs"));
    assert_non_null(strstr(r->message, "remount"));
    failed_steps[r->step]++;
    assert_int_equal(others_in(dir, "data.mmarr"), 0);
    assert_true(free_bytes(dir) == before);
    assert_file_is(path, old, old_size);
}

static void test_diskfull__small_tmpfs(void **state)
{
    mnt *m = *state;
    if (!m->mounted) {
        printf("  mounting a tmpfs is not permitted here: skipped\n");
        skip();
    }
    char *path = tu_path(m->dir, "data.mmarr");
    write_old(path);
    size_t old_size;
    void *old = tu_read_file(path, &old_size);
    assert_non_null(old);
    uint64_t fsize, ioff;
    probe(m->dir, &fsize, &ioff);
    const uint64_t rooms[] = {0, 4096, 200000, 600000, 900000, 1300000, ioff - 100000,
                              ioff + 8192, fsize - 8192};
    int failed_steps[16] = {0};
    for (size_t ri = 0; ri < sizeof rooms / sizeof rooms[0] + 1; ri++) {
        const int too_big = ri == sizeof rooms / sizeof rooms[0]; /* 16x: beyond 8 MiB */
        fill_to(m->dir, too_big ? UINT64_MAX : rooms[ri]);
        const uint64_t before = free_bytes(m->dir);
        step_result r;
        write_file(path, too_big ? 16 : 1, &r);
        assert_true(r.step >= 1); /* every case is meant to run out of space, after create */
        tmpfs_failed_cleanly(m->dir, path, old, old_size, before, &r, step_names, failed_steps);
    }
    const int distinct = distinct_steps(failed_steps);
    printf("  %d cases: failures at %d different steps\n",
           (int)(sizeof rooms / sizeof rooms[0]) + 1, distinct);
    assert_true(distinct >= 5);
    assert_true(failed_steps[9] > 0); /* the commit */

    /* a rehash that cannot append its index: clean error, the file still opens */
    char *p2 = tu_path(m->dir, "filler");
    unlink(p2);
    free(p2);
    {
        mmarr_writer_options o = {0};
        o.flags = MMARR_WRITE_NO_SYNC;
        mmarr_writer *w;
        assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
        unsigned char b[64];
        tu_fill(b, sizeof b, 9);
        for (int k = 0; k < 3000; k++) { /* an index of some 200 KB */
            char name[32];
            uint64_t s[1] = {8};
            snprintf(name, sizeof name, "v/%05d", k);
            assert_int_equal(mmarr_writer_add(w, name, "|u1", 1, s, MMARR_ORDER_C, b), MMARR_OK);
        }
        assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
        mmarr_writer_free(w);
    }
    mmarr_file *f;
    mmarr_error e;
    assert_int_equal(mmarr_open(path, MMARR_OPEN_RDWR, &f, &e), MMARR_OK);
    mmarr_array_info a;
    assert_int_equal(mmarr_file_find_array(f, "v/00007", &a, NULL), MMARR_OK);
    memset(a.data, 0x5A, 8);
    fill_to(m->dir, 0);
    mmarr_err rc = mmarr_file_flush(f, MMARR_FLUSH_REHASH, &e);
    printf("  rehash on a full tmpfs: %s: %s\n", mmarr_err_name(rc), e.message);
    assert_int_equal(rc, MMARR_E_NOSPACE);
    mmarr_close(f);
    assert_int_equal(mmarr_open(path, 0, &f, &e), MMARR_OK);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    assert_true(fi.checksums_stale);
    assert_int_equal(mmarr_file_find_array(f, "v/00007", &a, NULL), MMARR_OK);
    assert_int_equal(((unsigned char *)a.data)[0], 0x5A);
    assert_int_equal(mmarr_file_verify_array(f, a.index, NULL), MMARR_E_STALE);
    mmarr_close(f);
    free(old);
    free(path);
}

/* Appends (issue #19) running out of space at each step: rows into a growable array's hole,
 * a hot array, a cold one, the commit's index. Each failure is a clean MMARR_E_NOSPACE, and
 * the file is left byte for byte (the rows written into the hole punched out again, the
 * tail cut back), its space given back. */
static void write_grow_old(const char *path)
{
    mmarr_writer_options o = {0};
    o.flags = MMARR_WRITE_NO_SYNC;
    mmarr_writer *w;
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    unsigned char b[5000];
    tu_fill(b, sizeof b, 7);
    uint64_t s[1] = {sizeof b};
    assert_int_equal(mmarr_writer_add_growable(w, "rows", "|u1", 1, s, 6u << 20, b), MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_blocks * 512 < 64 * 1024); /* 6 MiB reserved, a hole */
}

static const char *const append_steps[] = {
    "open_append",     "append 200 KB of rows", "add 300 KB", "append 600 KB of rows",
    "add_cold 300 KB", "add 1000 small",        "commit"};

static void append_some(const char *path, step_result *r)
{
    memset(r, 0, sizeof *r);
    r->step = -1;
    mmarr_writer_options o = {0};
    o.flags = MMARR_WRITE_NO_SYNC;
    mmarr_writer *w = NULL;
    mmarr_error e;
    unsigned char *buf = malloc(600000);
    assert_non_null(buf);
    tu_fill(buf, 600000, 3);
    mmarr_err rc = mmarr_writer_open_append(path, &o, &w, &e);
    int step = 0;
    const uint64_t s[1] = {300000};
    const mmarr_compress_options co = {.level = 1, .chunk_size = 65536, .threads = 1};
    while (rc == MMARR_OK && ++step <= 6) {
        switch (step) {
        case 1: rc = mmarr_writer_append_rows(w, "rows", buf, 200000, 200000); break;
        case 2: rc = mmarr_writer_add(w, "hot", "|u1", 1, s, MMARR_ORDER_C, buf); break;
        case 3: rc = mmarr_writer_append_rows(w, "rows", buf, 600000, 600000); break;
        case 4: rc = mmarr_writer_add_cold(w, "cold", "|u1", 1, s, MMARR_ORDER_C, buf, &co); break;
        case 5: /* a large index for the commit to place */
            for (int k = 0; k < 1000 && rc == MMARR_OK; k++) {
                char small[32];
                const uint64_t s8[1] = {8};
                snprintf(small, sizeof small, "small/%04d", k);
                rc = mmarr_writer_add(w, small, "<f8", 1, s8, MMARR_ORDER_C, buf);
            }
            break;
        default: rc = mmarr_writer_commit(w); break;
        }
    }
    if (rc != MMARR_OK) {
        const mmarr_error *we = w ? mmarr_writer_error(w) : &e;
        r->step = step;
        r->code = rc;
        r->sys_errno = we->sys_errno;
        snprintf(r->message, sizeof r->message, "%s", we->message);
    }
    mmarr_writer_free(w);
    free(buf);
}

static void test_diskfull__appends(void **state)
{
    mnt *m = *state;
    if (!m->mounted) {
        printf("  mounting a tmpfs is not permitted here: skipped\n");
        skip();
    }
    char *path = tu_path(m->dir, "data.mmarr");
    write_grow_old(path);
    size_t old_size;
    void *old = tu_read_file(path, &old_size);
    assert_non_null(old);
    /* free space from none to nearly what the append needs (~1.75 MB): failing at each step */
    const uint64_t rooms[] = {0,       100000,  300000,  450000,  800000, 1100000,
                              1300000, 1400000, 1500000, 1600000, 1700000};
    int failed_steps[16] = {0};
    for (size_t ri = 0; ri < sizeof rooms / sizeof rooms[0]; ri++) {
        fill_to(m->dir, rooms[ri]);
        const uint64_t before = free_bytes(m->dir);
        step_result r;
        append_some(path, &r);
        /* rows punched out of the hole, the tail cut back */
        tmpfs_failed_cleanly(m->dir, path, old, old_size, before, &r, append_steps, failed_steps);
        mmarr_file *f;
        assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, NULL), MMARR_OK);
        mmarr_close(f);
    }
    const int distinct = distinct_steps(failed_steps);
    printf("  %d cases: failures at %d different steps\n", (int)(sizeof rooms / sizeof rooms[0]),
           distinct);
    assert_true(distinct >= 4);
    /* with the space back, the same append commits */
    char *p2 = tu_path(m->dir, "filler");
    unlink(p2);
    free(p2);
    step_result r;
    append_some(path, &r);
    assert_int_equal(r.step, -1);
    free(old);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_diskfull__file_size_limit, tu_setup_dir,
                                        tu_teardown_dir),
        cmocka_unit_test_setup_teardown(test_diskfull__small_tmpfs, setup_tmpfs, teardown_tmpfs),
        cmocka_unit_test_setup_teardown(test_diskfull__appends, setup_tmpfs, teardown_tmpfs),
    };
    return cmocka_run_group_tests_name("diskfull", tests, NULL, NULL);
}
