/* SPDX-License-Identifier: MIT */
/*
 * test_crash.c — crash injection (issue 6): a child process republishes one path again and
 * again through the library writer (24 arrays each time: packed, page-aligned, reserved in
 * place, streamed, cold in chunks; file and array metadata; commits with and without fsync),
 * and the parent kills it with SIGKILL after a random delay, many times. After every kill:
 *
 *  - the destination opens, verifies, and holds exactly one complete version: the last one
 *    the child reported as committed, or the next one (killed between the rename and the
 *    report), every byte of every array as that version wrote it;
 *  - every temporary "<path>.tmp.XXXXXX" left behind is never taken for a dataset in an
 *    unfinished state: opening it fails (no superblock yet: the writer writes the superblock
 *    last), or, when the kill fell after the superblock write and before the rename, it is the
 *    complete next version and verifies. Both kinds are counted and printed; the leftovers
 *    are then removed, as a cleanup would (nothing in mmarr removes them: see
 *    docs/robustness.md).
 *
 * MMARR_CRASH_IMAGES sets the number of kills (default 200; the long run uses 2000 or more),
 * MMARR_CRASH_SEED the random seed (printed, for reproduction).
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mmarr.h"
#include "testutil.h"

#define NARRAYS 24

static uint64_t rng_state;
static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Array k of version v: its size and its bytes. */
static uint64_t array_bytes(unsigned k)
{
    static const uint64_t sizes[4] = {13, 4096 + 17, 9000, 30000};
    return sizes[k % 4] + 7u * k;
}

static unsigned char byte_of(uint64_t v, unsigned k, uint64_t i)
{
    return (unsigned char)(v * 131u + k * 29u + i * 7u + (i >> 9));
}

static void fill(unsigned char *p, uint64_t n, uint64_t v, unsigned k)
{
    for (uint64_t i = 0; i < n; i++)
        p[i] = byte_of(v, k, i);
}

/* Write version v at path through every writer path. Returns 0, or -1 (child side). */
static int write_version(const char *path, uint64_t v, int sync)
{
    mmarr_writer_options o = {0};
    o.flags = sync ? 0 : MMARR_WRITE_NO_SYNC;
    mmarr_writer *w = NULL;
    if (mmarr_writer_create(path, &o, &w, NULL) != MMARR_OK)
        return -1;
    unsigned char *buf = malloc(array_bytes(NARRAYS - 1) + 64);
    char name[16], val[32];
    int rc = buf ? 0 : -1;
    for (unsigned k = 0; k < NARRAYS && rc == 0; k++) {
        const uint64_t n = array_bytes(k);
        uint64_t shape[1] = {n};
        snprintf(name, sizeof name, "a%02u", k);
        fill(buf, n, v, k);
        mmarr_compress_options co = {.level = 1, .chunk_size = 4096, .shuffle = (int)(k & 1),
                                     .threads = 1};
        switch (k % 6) {
        case 0:
        case 1:
            rc = mmarr_writer_add(w, name, "|u1", 1, shape, MMARR_ORDER_C, buf) ? -1 : 0;
            break;
        case 2: {
            void *p = NULL;
            rc = mmarr_writer_reserve(w, name, "|u1", 1, shape, MMARR_ORDER_C, &p) ? -1 : 0;
            if (rc == 0)
                memcpy(p, buf, n);
            break;
        }
        case 3:
            rc = mmarr_writer_begin(w, name, "|u1", 1, shape, MMARR_ORDER_C, NULL) ||
                         mmarr_writer_write(w, buf, n / 2) ||
                         mmarr_writer_write(w, buf + n / 2, n - n / 2) || mmarr_writer_end(w)
                     ? -1
                     : 0;
            break;
        case 4:
            rc = mmarr_writer_add_cold(w, name, "|u1", 1, shape, MMARR_ORDER_C, buf, &co) ? -1
                                                                                          : 0;
            break;
        default:
            rc = mmarr_writer_begin(w, name, "|u1", 1, shape, MMARR_ORDER_C, &co) ||
                         mmarr_writer_write(w, buf, n) || mmarr_writer_end(w)
                     ? -1
                     : 0;
            break;
        }
        snprintf(val, sizeof val, "%llu", (unsigned long long)v);
        if (rc == 0 && k % 5 == 0)
            rc = mmarr_writer_set_array_meta(w, name, "version", val) ? -1 : 0;
    }
    snprintf(val, sizeof val, "%llu", (unsigned long long)v);
    if (rc == 0)
        rc = mmarr_writer_set_file_meta(w, "version", val) ? -1 : 0;
    if (rc == 0)
        rc = mmarr_writer_commit(w) ? -1 : 0;
    mmarr_writer_free(w);
    free(buf);
    return rc;
}

/* Open path and check that it is exactly one complete version; *v receives it. Returns 0 or
 * a description of the problem in why. */
static int check_version(const char *path, uint64_t *v, char *why, size_t n)
{
    mmarr_file *f = NULL;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    if (mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e) != MMARR_OK) {
        snprintf(why, n, "%s: open: %s", path, e.message);
        return -1;
    }
    int res = 0;
    const char *ver = mmarr_file_meta_get(f, "version");
    unsigned char *got = malloc(array_bytes(NARRAYS - 1) + 64);
    if (!ver || !got || mmarr_file_count(f) != NARRAYS) {
        snprintf(why, n, "%s: no version metadata or %zu arrays", path, mmarr_file_count(f));
        res = -1;
    } else {
        *v = strtoull(ver, NULL, 10);
    }
    for (unsigned k = 0; k < NARRAYS && res == 0; k++) {
        mmarr_array_info a;
        char name[16];
        snprintf(name, sizeof name, "a%02u", k);
        if (mmarr_file_find_array(f, name, &a, NULL) != MMARR_OK ||
            a.nbytes != array_bytes(k) ||
            mmarr_file_read(f, a.index, 0, got, a.nbytes, &e) != MMARR_OK) {
            snprintf(why, n, "%s: version %s: array %s missing or unreadable", path, ver, name);
            res = -1;
            break;
        }
        for (uint64_t i = 0; i < a.nbytes; i++)
            if (got[i] != byte_of(*v, k, i)) {
                snprintf(why, n, "%s: version %s: array %s byte %llu is not that version's",
                         path, ver, name, (unsigned long long)i);
                res = -1;
                break;
            }
        const char *av = mmarr_array_meta_get(f, a.index, "version");
        if (res == 0 && k % 5 == 0 && (!av || strcmp(av, ver))) {
            snprintf(why, n, "%s: array %s has version metadata %s in version %s", path, name,
                     av ? av : "(none)", ver);
            res = -1;
        }
    }
    free(got);
    mmarr_close(f);
    return res;
}

/* The child: commit versions first+1, first+2, ... and report each on the pipe. */
static void child_main(const char *path, uint64_t first, int sync, int fd)
{
    for (uint64_t v = first + 1;; v++) {
        if (write_version(path, v, sync) != 0)
            tu_child_exit(3);
        if (write(fd, &v, sizeof v) != (ssize_t)sizeof v)
            tu_child_exit(4);
    }
}

typedef struct tally {
    unsigned long images, temps_refused, temps_complete, at_old, at_new, commits;
} tally;

/* Check and remove the temporaries beside the destination. */
static void check_temps(const char *dir, const char *base, uint64_t next, tally *t)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s.tmp.", base);
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || !strcmp(de->d_name, base))
            continue;
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
            fail_msg("unexpected file %s beside the destination", de->d_name);
        char *p = tu_path(dir, de->d_name);
        mmarr_file *f = NULL;
        mmarr_error e;
        mmarr_err rc = mmarr_open(p, 0, &f, &e);
        if (rc == MMARR_OK) {
            /* a kill after the superblock write, before the rename: it must be complete */
            mmarr_close(f);
            uint64_t v = 0;
            char why[600];
            if (check_version(p, &v, why, sizeof why) != 0)
                fail_msg("a leftover temporary opens but is not a complete version: %s", why);
            assert_int_equal(v, next);
            t->temps_complete++;
        } else {
            assert_true(rc == MMARR_E_BADMAGIC || rc == MMARR_E_TRUNCATED);
            t->temps_refused++;
        }
        assert_int_equal(unlink(p), 0);
        free(p);
    }
    closedir(d);
}

static void test_crash__sigkill_writer_at_random_points(void **state)
{
    const char *dir = *state;
    char *path = tu_path(dir, "data.mmarr");
    const unsigned long images = tu_env_count("MMARR_CRASH_IMAGES", 200);
    rng_state = tu_env_count("MMARR_CRASH_SEED", (unsigned long)time(NULL));
    printf("crash injection: %lu images, seed %llu (MMARR_CRASH_SEED)\n", images,
           (unsigned long long)rng_state);

    /* the old file, and how long one commit takes here (to spread the kills over a few) */
    assert_int_equal(write_version(path, 1, 0), 0);
    double t0 = tu_now();
    for (int i = 0; i < 3; i++)
        assert_int_equal(write_version(path, 1, 0), 0);
    const double per_commit = (tu_now() - t0) / 3;
    uint64_t cur = 1;
    tally t = {0};
    char why[600];
    for (unsigned long img = 0; img < images; img++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        const int sync = img % 4 == 3; /* some commits fsync, which widens their last steps */
        fflush(stdout);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child_main(path, cur, sync, fds[1]);
        }
        close(fds[1]);
        /* kill anywhere in the first commit or soon after (a fork takes microseconds) */
        const double span = per_commit * (sync ? 2.5 : 1.25);
        const useconds_t delay = (useconds_t)((double)(rng() % 10000) / 10000.0 * span * 1e6);
        usleep(delay);
        kill(pid, SIGKILL);
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        if (!WIFSIGNALED(st))
            fail_msg("child ended with status %d before the kill", WEXITSTATUS(st));
        uint64_t last = cur, v;
        ssize_t r;
        while ((r = read(fds[0], &v, sizeof v)) == (ssize_t)sizeof v) {
            assert_int_equal(v, last + 1);
            last = v;
            t.commits++;
        }
        close(fds[0]);
        uint64_t got = 0;
        if (check_version(path, &got, why, sizeof why) != 0)
            fail_msg("image %lu (after %llu): %s", img, (unsigned long long)last, why);
        if (got != last && got != last + 1)
            fail_msg("image %lu: the destination holds version %llu; the last commit was %llu",
                     img, (unsigned long long)got, (unsigned long long)last);
        if (got == last)
            t.at_old++;
        else
            t.at_new++;
        check_temps(dir, "data.mmarr", got + 1, &t);
        cur = got;
        t.images++;
    }
    printf("  %lu crash images, %lu commits completed by the children, 0 torn destinations\n",
           t.images, t.commits);
    printf("  destination after the kill: %lu the last reported version, %lu the next "
           "(killed after its rename)\n", t.at_old, t.at_new);
    printf("  temporaries left: %lu refused by open (no superblock), %lu complete (killed "
           "after the superblock write, before the rename)\n", t.temps_refused,
           t.temps_complete);
    assert_int_equal(t.images, images);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_crash__sigkill_writer_at_random_points,
                                        tu_setup_dir, tu_teardown_dir),
    };
    return cmocka_run_group_tests_name("crash", tests, NULL, NULL);
}
