/* SPDX-License-Identifier: MIT */
/*
 * test_concurrency.c — readers, writers and replaced files across processes (issue 6):
 *
 *  - republish under readers: one process republishes the same path N times (rename over
 *    the old file) while R reader processes open, verify and read everything in a loop.
 *    Every version v carries v in each array's bytes, in each array's metadata and in the
 *    file metadata, so a torn or mixed read cannot pass: every open must show one complete
 *    version, versions seen by a reader never go back, there are zero errors and zero
 *    SIGBUS. Readers also keep their previous handle until after the next open and re-read
 *    it: a mapping of a replaced file keeps its old bytes. N and R: $MMARR_REPUBLISHES
 *    (default 1000) and $MMARR_READERS (default 4); the long run uses 100000 and 8.
 *  - read-write mappings: P processes (4; $MMARR_RDWR_PROCS) open one file with
 *    MMARR_OPEN_RDWR and each rewrites its own region many times, and its own 8 bytes of a
 *    page all of them share: after they exit every region holds its writer's last values
 *    (nothing lost), verification says MMARR_E_STALE (not corrupt), and a rehash makes the
 *    file verify again.
 *  - replaced versus truncated under a mapping (docs/robustness.md): a process reading a
 *    mapping while the file is replaced by rename 20 times, with smaller and larger files,
 *    never faults and keeps reading the old bytes; the same read after truncating the file
 *    in place dies of SIGBUS (the hazard the writers avoid), and opening the truncated file
 *    afterwards is refused with MMARR_E_TRUNCATED.
 * Children report through their exit status and a pipe; the directory is on /dev/shm when it
 * exists (where shared datasets live), else $TMPDIR.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mmarr.h"
#include "testutil.h"

/* A test directory on /dev/shm if there is one. */
static int setup_shm_dir(void **state)
{
    struct stat st;
    const char *old = getenv("TMPDIR");
    char *saved = old ? strdup(old) : NULL;
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
        setenv("TMPDIR", "/dev/shm", 1);
    int rc = tu_setup_dir(state);
    if (saved) {
        setenv("TMPDIR", saved, 1);
        free(saved);
    } else {
        unsetenv("TMPDIR");
    }
    return rc;
}

/* Wait for a child: 0 if it exited with 0, else print why and return -1. */
static int reap(pid_t pid, const char *who)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFSIGNALED(st))
        print_error("%s: killed by signal %d (%s)\n", who, WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        print_error("%s: exit status %d\n", who, WEXITSTATUS(st));
    return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Republish under readers                                                                  */

#define HOT_BYTES 12288u  /* three pages */
#define SMALL_BYTES 100u  /* packed */
#define COLD_BYTES 20000u /* five chunks */

static unsigned char vbyte(uint64_t v, unsigned a, uint64_t i)
{
    return (unsigned char)(v * 37u + a * 101u + i * 13u + (i >> 8));
}

static int write_version(const char *path, uint64_t v)
{
    static unsigned char buf[COLD_BYTES];
    mmarr_writer_options o = {0};
    o.flags = MMARR_WRITE_NO_SYNC;
    mmarr_writer *w = NULL;
    if (mmarr_writer_create(path, &o, &w, NULL) != MMARR_OK)
        return -1;
    char val[32];
    snprintf(val, sizeof val, "%llu", (unsigned long long)v);
    const uint64_t sizes[3] = {HOT_BYTES, SMALL_BYTES, COLD_BYTES};
    static const char *const names[3] = {"hot", "small", "cold"};
    int rc = 0;
    for (unsigned a = 0; a < 3 && rc == 0; a++) {
        for (uint64_t i = 0; i < sizes[a]; i++)
            buf[i] = vbyte(v, a, i);
        uint64_t shape[1] = {sizes[a]};
        if (a == 2) {
            mmarr_compress_options co = {.level = 1, .chunk_size = 4096, .threads = 1};
            rc = mmarr_writer_add_cold(w, names[a], "|u1", 1, shape, MMARR_ORDER_C, buf, &co);
        } else {
            rc = mmarr_writer_add(w, names[a], "|u1", 1, shape, MMARR_ORDER_C, buf);
        }
        if (rc == 0)
            rc = mmarr_writer_set_array_meta(w, names[a], "version", val);
    }
    if (rc == 0)
        rc = mmarr_writer_set_file_meta(w, "version", val);
    if (rc == 0)
        rc = mmarr_writer_commit(w);
    mmarr_writer_free(w);
    return rc ? -1 : 0;
}

/* Check that an open handle is one complete version; returns it, or 0 with a message. */
static uint64_t check_handle(mmarr_file *f, char *why, size_t n)
{
    static unsigned char buf[COLD_BYTES];
    const char *ver = mmarr_file_meta_get(f, "version");
    if (!ver) {
        snprintf(why, n, "no version metadata");
        return 0;
    }
    const uint64_t v = strtoull(ver, NULL, 10);
    static const char *const names[3] = {"hot", "small", "cold"};
    const uint64_t sizes[3] = {HOT_BYTES, SMALL_BYTES, COLD_BYTES};
    if (mmarr_file_count(f) != 3) {
        snprintf(why, n, "version %llu: %zu arrays", (unsigned long long)v, mmarr_file_count(f));
        return 0;
    }
    for (unsigned a = 0; a < 3; a++) {
        mmarr_array_info ai;
        mmarr_error e;
        if (mmarr_file_find_array(f, names[a], &ai, &e) != MMARR_OK || ai.nbytes != sizes[a]) {
            snprintf(why, n, "version %llu: array %s missing", (unsigned long long)v, names[a]);
            return 0;
        }
        const char *av = mmarr_array_meta_get(f, ai.index, "version");
        if (!av || strcmp(av, ver)) {
            snprintf(why, n, "file version %s, array %s version %s", ver, names[a],
                     av ? av : "(none)");
            return 0;
        }
        const unsigned char *p = ai.data;
        if (ai.storage == MMARR_STORAGE_COLD) {
            if (mmarr_file_read(f, ai.index, 0, buf, ai.nbytes, &e) != MMARR_OK) {
                snprintf(why, n, "version %.20s: read %s: %.300s", ver, names[a], e.message);
                return 0;
            }
            p = buf;
        }
        for (uint64_t i = 0; i < ai.nbytes; i++)
            if (p[i] != vbyte(v, a, i)) {
                snprintf(why, n, "version %s: %s byte %llu belongs to another version", ver,
                         names[a], (unsigned long long)i);
                return 0;
            }
    }
    return v;
}

typedef struct reader_report {
    unsigned long opens, versions_seen;
    char why[400];
} reader_report;

/* A reader: open + verify + check in a loop until `stop` becomes readable (EOF). */
static int reader_main(const char *path, int stop, int out)
{
    reader_report r = {0};
    mmarr_file *prev = NULL;
    uint64_t prev_v = 0, last = 0;
    int res = 0;
    for (;;) {
        struct pollfd pfd = {stop, POLLIN, 0};
        if (poll(&pfd, 1, 0) > 0)
            break;
        mmarr_file *f = NULL;
        mmarr_error e;
        if (mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e) != MMARR_OK) {
            snprintf(r.why, sizeof r.why, "open: %.300s", e.message);
            res = 1;
            break;
        }
        mmarr_file_set_threads(f, 1);
        const uint64_t v = check_handle(f, r.why, sizeof r.why);
        if (!v) {
            mmarr_close(f);
            res = 2;
            break;
        }
        if (v < last) {
            snprintf(r.why, sizeof r.why, "version went back from %llu to %llu",
                     (unsigned long long)last, (unsigned long long)v);
            mmarr_close(f);
            res = 3;
            break;
        }
        r.versions_seen += v != last;
        last = v;
        r.opens++;
        /* the previous handle's file may have been replaced since: it still reads whole */
        if (prev && check_handle(prev, r.why, sizeof r.why) != prev_v) {
            mmarr_close(f);
            res = 4;
            break;
        }
        mmarr_close(prev);
        prev = f;
        prev_v = v;
        usleep(500); /* leave the writer some CPU on a small machine */
    }
    mmarr_close(prev);
    if (write(out, &r, sizeof r) != (ssize_t)sizeof r)
        res = 5;
    return res;
}

static void test_concurrency__republish_under_readers(void **state)
{
    char *path = tu_path(*state, "shared.mmarr");
    const unsigned long n = tu_env_count("MMARR_REPUBLISHES", 1000);
    const unsigned long nreaders = tu_env_count("MMARR_READERS", 4);
    assert_true(nreaders >= 1 && nreaders <= 64);
    assert_int_equal(write_version(path, 1), 0);
    int stop[2], rep[2];
    assert_int_equal(pipe(stop), 0);
    assert_int_equal(pipe(rep), 0);
    pid_t readers[64];
    fflush(stdout);
    for (unsigned long k = 0; k < nreaders; k++) {
        readers[k] = fork();
        assert_true(readers[k] >= 0);
        if (readers[k] == 0) {
            close(stop[1]);
            close(rep[0]);
            tu_child_exit(reader_main(path, stop[0], rep[1]));
        }
    }
    close(stop[0]);
    close(rep[1]);
    pid_t writer = fork();
    assert_true(writer >= 0);
    if (writer == 0) {
        close(stop[1]);
        for (uint64_t v = 2; v <= n + 1; v++)
            if (write_version(path, v) != 0)
                tu_child_exit(1);
        tu_child_exit(0);
    }
    const int wrc = reap(writer, "writer");
    close(stop[1]); /* readers see EOF and finish their round */
    int failures = wrc != 0;
    unsigned long opens = 0, seen = 0;
    for (unsigned long k = 0; k < nreaders; k++) {
        reader_report r;
        if (read(rep[0], &r, sizeof r) == (ssize_t)sizeof r) {
            opens += r.opens;
            seen += r.versions_seen;
            if (r.why[0]) {
                print_error("reader: %s\n", r.why);
                failures++;
            }
        }
    }
    close(rep[0]);
    for (unsigned long k = 0; k < nreaders; k++)
        failures += reap(readers[k], "reader") != 0;
    printf("  %lu republishes under %lu readers: %lu opens, each verified and compared "
           "(%lu version changes seen), %d failures\n", n, nreaders, opens, seen, failures);
    assert_int_equal(failures, 0);
    assert_true(opens >= nreaders);
    /* the last version is in place and complete */
    mmarr_file *f;
    assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, NULL), MMARR_OK);
    char why[400];
    assert_int_equal(check_handle(f, why, sizeof why), n + 1);
    mmarr_close(f);
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* Read-write mappings, disjoint regions                                                     */

#define REGION_WORDS 2048u /* 16 KiB per process: regions on different pages */
#define RDWR_ROUNDS 200u

static int rdwr_main(const char *path, unsigned p)
{
    mmarr_file *f = NULL;
    mmarr_error e;
    if (mmarr_open(path, MMARR_OPEN_RDWR, &f, &e) != MMARR_OK) {
        fprintf(stderr, "rdwr %u: %s\n", p, e.message);
        return 1;
    }
    mmarr_array_info grid, shared;
    if (mmarr_file_find_array(f, "grid", &grid, NULL) != MMARR_OK ||
        mmarr_file_find_array(f, "shared", &shared, NULL) != MMARR_OK)
        return 2;
    uint64_t *mine = (uint64_t *)grid.data + (size_t)p * REGION_WORDS;
    volatile uint64_t *slot = (uint64_t *)shared.data + p; /* 8 bytes of a shared page */
    for (uint64_t round = 1; round <= RDWR_ROUNDS; round++) {
        for (unsigned i = 0; i < REGION_WORDS; i++)
            mine[i] = (uint64_t)p << 48 | round << 16 | i;
        *slot = (uint64_t)p << 48 | round;
        if (round % 50 == 0 && mmarr_file_flush(f, MMARR_FLUSH_ASYNC, &e) != MMARR_OK)
            return 3;
    }
    mmarr_close(f);
    return 0;
}

static void test_concurrency__rdwr_disjoint_regions(void **state)
{
    char *path = tu_path(*state, "rw.mmarr");
    const unsigned long procs = tu_env_count("MMARR_RDWR_PROCS", 4);
    assert_true(procs >= 1 && procs <= 64);
    {
        mmarr_writer *w;
        assert_int_equal(mmarr_writer_create(path, NULL, &w, NULL), MMARR_OK);
        void *p;
        uint64_t s1[2] = {procs, REGION_WORDS}, s2[1] = {64};
        assert_int_equal(mmarr_writer_reserve(w, "grid", "<u8", 2, s1, MMARR_ORDER_C, &p),
                         MMARR_OK);
        assert_int_equal(mmarr_writer_reserve(w, "shared", "<u8", 1, s2, MMARR_ORDER_C, &p),
                         MMARR_OK);
        assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
        mmarr_writer_free(w);
    }
    pid_t pids[64];
    fflush(stdout);
    for (unsigned long p = 0; p < procs; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0)
            tu_child_exit(rdwr_main(path, (unsigned)p));
    }
    int failures = 0;
    for (unsigned long p = 0; p < procs; p++)
        failures += reap(pids[p], "read-write process") != 0;
    assert_int_equal(failures, 0);

    mmarr_file *f;
    mmarr_error e;
    assert_int_equal(mmarr_open(path, 0, &f, &e), MMARR_OK);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    assert_true(fi.checksums_stale);
    mmarr_array_info grid, shared;
    assert_int_equal(mmarr_file_find_array(f, "grid", &grid, NULL), MMARR_OK);
    assert_int_equal(mmarr_file_find_array(f, "shared", &shared, NULL), MMARR_OK);
    unsigned long lost = 0;
    const uint64_t *g = grid.data, *s = shared.data;
    for (unsigned long p = 0; p < procs; p++) {
        for (unsigned i = 0; i < REGION_WORDS; i++)
            lost += g[p * REGION_WORDS + i] != ((uint64_t)p << 48 | (uint64_t)RDWR_ROUNDS << 16 | i);
        lost += s[p] != ((uint64_t)p << 48 | RDWR_ROUNDS);
    }
    for (unsigned long p = procs; p < 64; p++)
        lost += s[p] != 0;
    assert_int_equal(mmarr_file_verify(f, &e), MMARR_E_STALE);
    mmarr_close(f);
    printf("  %lu processes x %u rounds over disjoint regions (and one shared page): %lu words "
           "lost\n", procs, RDWR_ROUNDS, lost);
    assert_int_equal(lost, 0);
    /* a rehash makes the checksums truthful again */
    assert_int_equal(mmarr_open(path, MMARR_OPEN_RDWR, &f, &e), MMARR_OK);
    assert_int_equal(mmarr_file_flush(f, MMARR_FLUSH_REHASH, &e), MMARR_OK);
    mmarr_close(f);
    assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK);
    mmarr_file_get_info(f, &fi);
    assert_false(fi.checksums_stale);
    mmarr_close(f);
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* Replaced versus truncated under a mapping                                                 */

#define BIG_BYTES (1u << 20)

static int write_big(const char *path, uint64_t nbytes, unsigned char seed)
{
    mmarr_writer_options o = {0};
    o.flags = MMARR_WRITE_NO_SYNC;
    mmarr_writer *w;
    if (mmarr_writer_create(path, &o, &w, NULL) != MMARR_OK)
        return -1;
    void *p;
    uint64_t s[1] = {nbytes};
    int rc = mmarr_writer_reserve(w, "big", "|u1", 1, s, MMARR_ORDER_C, &p) != MMARR_OK;
    if (!rc)
        memset(p, seed, nbytes);
    rc = rc || mmarr_writer_commit(w) != MMARR_OK;
    mmarr_writer_free(w);
    return rc ? -1 : 0;
}

/* Map the file, then let `change` replace or truncate it, then read every byte. */
static int read_after(const char *path, int truncate_in_place)
{
    mmarr_file *f;
    if (mmarr_open(path, 0, &f, NULL) != MMARR_OK)
        return 10;
    mmarr_array_info a;
    if (mmarr_file_find_array(f, "big", &a, NULL) != MMARR_OK)
        return 11;
    const volatile unsigned char *p = a.data;
    unsigned long bad = 0;
    for (int round = 0; round < 20; round++) {
        if (truncate_in_place) {
            if (truncate(path, 4096) != 0) /* someone "rewrites" the file in place */
                return 12;
        } else if (write_big(path, round % 2 ? 4096 : 3u * BIG_BYTES, (unsigned char)round)) {
            return 13;
        }
        for (uint64_t i = 0; i < a.nbytes; i++) /* the old bytes, whole */
            bad += p[i] != 0xC3;
    }
    mmarr_close(f);
    return bad ? 14 : 0;
}

static void test_concurrency__replaced_never_sigbus_truncated_does(void **state)
{
    char *path = tu_path(*state, "mapped.mmarr");
    assert_int_equal(write_big(path, BIG_BYTES, 0xC3), 0);
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGBUS, SIG_DFL); /* cmocka catches it otherwise */
        tu_child_exit(read_after(path, 0));
    }
    assert_int_equal(reap(pid, "reader of a file replaced 20 times"), 0);

    /* the hazard: the same reader, but the file is truncated in place */
    assert_int_equal(write_big(path, BIG_BYTES, 0xC3), 0);
    fflush(stdout);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGBUS, SIG_DFL);
        tu_child_exit(read_after(path, 1));
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGBUS)
        fail_msg("reading a mapping of a file truncated in place: expected SIGBUS, got %s %d",
                 WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st)
                                                                      : WEXITSTATUS(st));
    printf("  rename-replace x20 under a mapping: old bytes intact, no fault; truncation in "
           "place: SIGBUS, as expected\n");
    /* validation at open refuses what is left */
    mmarr_file *f;
    mmarr_error e;
    assert_int_equal(mmarr_open(path, 0, &f, &e), MMARR_E_TRUNCATED);
    free(path);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_shm_dir, tu_teardown_dir)
    const struct CMUnitTest tests[] = {
        T(test_concurrency__republish_under_readers),
        T(test_concurrency__rdwr_disjoint_regions),
        T(test_concurrency__replaced_never_sigbus_truncated_does),
    };
#undef T
    return cmocka_run_group_tests_name("concurrency", tests, NULL, NULL);
}
