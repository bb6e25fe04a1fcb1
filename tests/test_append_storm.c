/* SPDX-License-Identifier: MIT */
/*
 * test_append_storm.c — issue #19 at its scale: "Readers in other processes during a storm of
 * appends (8 readers, 10,000 appends): zero SIGBUS, zero torn views, every view equal to some
 * published generation."
 *
 * One writer (this process) makes generations 2..N+1 of a file, one append each, without
 * fsync (MMARR_WRITE_NO_SYNC): every append adds rows to a growable array (1 to 13 rows of
 * 3 int64; the array crosses its 1 MiB checksum blocks on the way), and some also add a small
 * array (packed, or page-aligned), delete the one added 11 appends before, replace an array,
 * or change the file metadata; every 50th is preceded by an append given up (junk rows in the
 * growable region, an array past the end, then mmarr_writer_free: the rows given back, the
 * file cut to its length under the readers' mappings), of which nothing may ever be seen.
 * What generation G holds is a function of G alone (tables the parent computes before
 * forking), so a view is checked against exactly the generation it says it holds: its number,
 * the growable array's rows (every row's value), the other arrays (their names, shapes and
 * every byte, the cold one decompressed), the metadata, nothing more.
 *
 * R reader processes (fork) open and refresh in a loop, in four ways: waiting for a newer
 * generation (inotify), refreshing as fast as they can, opening the file anew each time, and
 * refreshing with a fresh open now and then. Each checks every view it gets; after a refresh
 * it checks again the rows of the view it held before (pointers stay valid, and a published
 * generation's bytes never change, spec.md §4.4 rule 4); refreshes never go back; every 16th
 * view also verifies its arrays' checksums. They stop at generation N+1 and report their
 * counts through a pipe. A reader killed by a signal (SIGBUS), or one that saw a torn view,
 * fails the test.
 *
 * It runs twice: in $TMPDIR (or /tmp; here a disk file system's page cache) and in /dev/shm
 * (tmpfs, where holes and truncation work otherwise; skipped where there is none).
 * MMARR_STORM_APPENDS (default 10000; the ASan build sets 5000 in tests/CMakeLists.txt) and
 * MMARR_STORM_READERS (default 8) scale it. No timing is asserted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mmarr.h"
#include "testutil.h"

#define NOSYNC ((mmarr_writer_options){.flags = MMARR_WRITE_NO_SYNC})
#define COLS 3
#define ROWS0 16
#define FIXED_N 2000
#define COLD_N 5000
#define MAX_READERS 64
#define ABANDONED_ROWS 700 /* rows of junk an abandoned append writes past the published ones */

static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int64_t value(uint64_t seed, uint64_t i)
{
    return (int64_t)mix64(seed * 0x100000001B3ull + i);
}

static void fill(int64_t *v, uint64_t seed, uint64_t from, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        v[i] = value(seed, from + i);
}

/* ---- what generation G holds (G = 1 + the appends before it) ---- */

typedef struct storm {
    uint64_t appends;  /* N: generations 1..N+1 */
    uint64_t *rows;    /* [G] rows of "g" */
    uint64_t *last;    /* [G] file metadata "last" */
    uint64_t *fixed;   /* [G] seed of "fixed" (replaced every 100 appends) */
    uint64_t capacity; /* rows of g's region: all the rows ever appended, and room for an
                          abandoned append's rows past them */
    int64_t *g;        /* every value g will hold */
    const char *path;
} storm;

/* Rows append k adds (k = 1..N). */
static uint64_t rows_of_append(uint64_t k) { return 1 + (k * 7) % 13; }
/* Small array "s<j>" is added by append j when j % 10 == 7 and deleted by append j + 11. */
static int s_added(uint64_t j) { return j % 10 == 7; }
static uint64_t s_items(uint64_t j) { return j % 20 == 7 ? 300 : 40; } /* page-aligned, packed */
static int s_live(uint64_t j, uint64_t gen) { return s_added(j) && j + 1 <= gen && gen < j + 12; }
static uint64_t s_seed(uint64_t j) { return 1000 + j; }

static void storm_init(storm *S, uint64_t n)
{
    S->appends = n;
    S->rows = calloc(n + 2, sizeof *S->rows);
    S->last = calloc(n + 2, sizeof *S->last);
    S->fixed = calloc(n + 2, sizeof *S->fixed);
    assert_true(S->rows && S->last && S->fixed);
    S->rows[1] = ROWS0;
    S->last[1] = 1;
    S->fixed[1] = 7;
    for (uint64_t k = 1; k <= n; k++) {
        const uint64_t gen = k + 1;
        S->rows[gen] = S->rows[gen - 1] + rows_of_append(k);
        S->last[gen] = k % 10 == 9 ? gen : S->last[gen - 1];
        S->fixed[gen] = k % 100 == 50 ? 5000 + k : S->fixed[gen - 1];
    }
    S->capacity = S->rows[n + 1] + ABANDONED_ROWS;
    S->g = malloc(S->capacity * COLS * sizeof *S->g + 8);
    assert_non_null(S->g);
    fill(S->g, 1, 0, S->capacity * COLS);
}

static void storm_free(storm *S)
{
    free(S->rows);
    free(S->last);
    free(S->fixed);
    free(S->g);
}

/* ---- checking a view ---- */

static int check_array(mmarr_file *f, const char *name, uint64_t seed, uint64_t n, int cold,
                       char *why, size_t wn)
{
    mmarr_array_info a;
    mmarr_error e;
    if (mmarr_file_find_array(f, name, &a, &e) != MMARR_OK) {
        snprintf(why, wn, "array %s: %s", name, e.message);
        return -1;
    }
    if (a.ndim != 1 || a.nitems != n || strcmp(a.dtype_str, "<i8") ||
        (a.storage == MMARR_STORAGE_COLD) != cold) {
        snprintf(why, wn, "array %s: %s, %u-d, %llu items, storage %d", name, a.dtype_str, a.ndim,
                 (unsigned long long)a.nitems, (int)a.storage);
        return -1;
    }
    int64_t *want = malloc(n * 8 + 8), *got = cold ? malloc(n * 8 + 8) : NULL;
    if (!want || (cold && !got)) {
        snprintf(why, wn, "out of memory");
        free(want);
        return -1;
    }
    fill(want, seed, 0, n);
    int res = 0;
    if (cold && mmarr_file_read(f, a.index, 0, got, n * 8, &e) != MMARR_OK) {
        snprintf(why, wn, "array %s: read: %s", name, e.message);
        res = -1;
    } else if (memcmp(cold ? (const void *)got : a.data, want, n * 8)) {
        snprintf(why, wn, "array %s: its bytes are not those of seed %llu", name,
                 (unsigned long long)seed);
        res = -1;
    }
    free(want);
    free(got);
    return res;
}

/* Check that f holds exactly the generation it says; *gen, *gdata, *gbytes receive it and
 * where g's rows are. 0, or -1 with the difference in why. */
static int check_view(mmarr_file *f, const storm *S, uint64_t *gen, const void **gdata,
                      uint64_t *gbytes, char *why, size_t wn)
{
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    const uint64_t G = fi.generation;
    *gen = G;
    if (G < 1 || G > S->appends + 1) {
        snprintf(why, wn, "generation %llu was never published", (unsigned long long)G);
        return -1;
    }
    if (fi.damaged_generation) {
        snprintf(why, wn, "generation %llu opened, generation %llu reported damaged",
                 (unsigned long long)G, (unsigned long long)fi.damaged_generation);
        return -1;
    }
    size_t live = 0;
    for (uint64_t j = G > 12 ? G - 12 : 0; j < G; j++)
        live += (size_t)s_live(j, G);
    char pre[48];
    snprintf(pre, sizeof pre, "generation %llu: ", (unsigned long long)G);
    const size_t pl = strlen(pre);
    memcpy(why, pre, pl + 1);
    if (fi.count != 3 + live || fi.meta_count != 1) {
        snprintf(why + pl, wn - pl, "%zu arrays and %zu metadata, expected %zu and 1", fi.count,
                 fi.meta_count, 3 + live);
        return -1;
    }
    char want_last[32];
    snprintf(want_last, sizeof want_last, "%llu", (unsigned long long)S->last[G]);
    const char *last = mmarr_file_meta_get(f, "last");
    if (!last || strcmp(last, want_last)) {
        snprintf(why + pl, wn - pl, "metadata last = %s, expected %s", last ? last : "(none)",
                 want_last);
        return -1;
    }
    mmarr_array_info a;
    mmarr_error e;
    if (mmarr_file_find_array(f, "g", &a, &e) != MMARR_OK) {
        snprintf(why + pl, wn - pl, "array g: %s", e.message);
        return -1;
    }
    if (a.ndim != 2 || a.shape[0] != S->rows[G] || a.shape[1] != COLS ||
        a.capacity != S->capacity || !a.data) {
        snprintf(why + pl, wn - pl, "array g: %llu x %llu rows, capacity %llu; expected %llu",
                 (unsigned long long)a.shape[0], (unsigned long long)(a.ndim > 1 ? a.shape[1] : 0),
                 (unsigned long long)a.capacity, (unsigned long long)S->rows[G]);
        return -1;
    }
    if (memcmp(a.data, S->g, a.nbytes)) {
        const int64_t *p = a.data;
        uint64_t i = 0;
        while (p[i] == S->g[i])
            i++;
        snprintf(why + pl, wn - pl, "array g: row %llu column %llu is %lld, expected %lld",
                 (unsigned long long)(i / COLS), (unsigned long long)(i % COLS), (long long)p[i],
                 (long long)S->g[i]);
        return -1;
    }
    *gdata = a.data;
    *gbytes = a.nbytes;
    if (check_array(f, "fixed", S->fixed[G], FIXED_N, 0, why + pl, wn - pl) ||
        check_array(f, "cold", 77, COLD_N, 1, why + pl, wn - pl))
        return -1;
    for (uint64_t j = G > 12 ? G - 12 : 0; j < G; j++) {
        if (!s_live(j, G))
            continue;
        char name[32];
        snprintf(name, sizeof name, "s%llu", (unsigned long long)j);
        if (check_array(f, name, s_seed(j), s_items(j), 0, why + pl, wn - pl))
            return -1;
    }
    return 0;
}

/* ---- readers ---- */

enum { MODE_WAIT, MODE_SPIN, MODE_REOPEN, MODE_MIXED, MODES };
static const char *const mode_name[MODES] = {"wait+refresh", "refresh", "open", "refresh+open"};

typedef struct report {
    uint64_t views, opens, refreshes, distinct, rechecks, verified, back, slot_damaged, last;
} report;

static storm *child_storm; /* the reader's tables (inherited) */
static int child_fd;
static int child_id;

static void reader_fail(const char *what, const char *why) __attribute__((noreturn));
static void reader_fail(const char *what, const char *why)
{
    fprintf(stderr, "reader %d: %s: %s\n", child_id, what, why);
    fflush(stderr);
    tu_child_exit(10);
}

static int reader_main(void *arg)
{
    (void)arg;
    const storm *S = child_storm;
    const int mode = child_id % MODES;
    const uint64_t final = S->appends + 1;
    unsigned char *seen = calloc(final / 8 + 1, 1);
    report r = {0};
    uint64_t rng = (uint64_t)child_id * 7919 + 1;
    mmarr_file *f = NULL;
    mmarr_error e;
    char why[700];
    uint64_t held = 0, refreshes_since_open = 0;
    const void *prev_data = NULL;
    uint64_t prev_bytes = 0;
    for (;;) {
        int fresh = 0;
        if (!f || mode == MODE_REOPEN || (mode == MODE_MIXED && r.views % 37 == 36) ||
            refreshes_since_open >= 64) { /* a refresh keeps the old mappings: bounded */
            mmarr_close(f);
            f = NULL;
            prev_data = NULL;
            if (mmarr_open(S->path, 0, &f, &e) != MMARR_OK)
                reader_fail("open", e.message);
            r.opens++;
            refreshes_since_open = 0;
            fresh = 1;
        } else {
            if (mode == MODE_WAIT) {
                int newer;
                if (mmarr_file_wait(f, 1000, &newer, &e) != MMARR_OK)
                    reader_fail("wait", e.message);
            }
            int changed = 0;
            if (mmarr_file_refresh(f, &changed, &e) != MMARR_OK)
                reader_fail("refresh", e.message);
            r.refreshes++;
            refreshes_since_open++;
            if (!changed) {
                rng = mix64(rng);
                if (mode != MODE_WAIT && (rng & 3) == 0)
                    sched_yield();
                continue;
            }
        }
        uint64_t gen = 0, gbytes = 0;
        const void *gdata = NULL;
        if (check_view(f, S, &gen, &gdata, &gbytes, why, sizeof why))
            reader_fail(fresh ? "a view after an open" : "a view after a refresh", why);
        r.views++;
        mmarr_file_info fi;
        mmarr_file_get_info(f, &fi);
        r.slot_damaged += (uint64_t)fi.inactive_slot_damaged;
        if (!fresh && gen <= held) {
            snprintf(why, sizeof why, "generation %llu after %llu", (unsigned long long)gen,
                     (unsigned long long)held);
            reader_fail("a refresh went back", why);
        }
        r.back += gen < held;
        if (prev_data) { /* the view held before: still there, unchanged */
            if (memcmp(prev_data, S->g, prev_bytes))
                reader_fail("the previous view's rows changed under it", "after a refresh");
            r.rechecks++;
        }
        prev_data = gdata;
        prev_bytes = gbytes;
        if (!(seen[gen / 8] & (1u << (gen % 8)))) {
            seen[gen / 8] |= (unsigned char)(1u << (gen % 8));
            r.distinct++;
        }
        if (r.views % 16 == 0) {
            for (size_t i = 0; i < fi.count; i++)
                if (mmarr_file_verify_array(f, i, &e) != MMARR_OK)
                    reader_fail("verify", e.message);
            r.verified++;
        }
        held = gen;
        r.last = gen;
        if (gen == final)
            break;
        if (mode == MODE_REOPEN || mode == MODE_MIXED) {
            rng = mix64(rng);
            if ((rng & 7) == 0)
                sched_yield();
        }
    }
    mmarr_close(f);
    if (write(child_fd, &r, sizeof r) != (ssize_t)sizeof r ||
        write(child_fd, seen, final / 8 + 1) != (ssize_t)(final / 8 + 1))
        tu_child_exit(11);
    free(seen);
    return 0;
}

/* ---- the writer ---- */

typedef struct wtally {
    uint64_t rows, added, deleted, replaced, meta, abandoned;
} wtally;

static pid_t kids[MAX_READERS];
static int nkids;

static void kill_readers(void)
{
    for (int i = 0; i < nkids; i++)
        if (kids[i] > 0) {
            kill(kids[i], SIGKILL);
            waitpid(kids[i], NULL, 0);
            kids[i] = 0;
        }
}

static void wcheck(mmarr_writer *w, mmarr_err rc, uint64_t k, const char *what)
{
    if (rc == MMARR_OK)
        return;
    kill_readers();
    fail_msg("append %llu: %s: %s", (unsigned long long)k, what,
             w ? mmarr_writer_error(w)->message : "");
}

static void add_i8(mmarr_writer *w, uint64_t k, const char *name, uint64_t seed, uint64_t n,
                   int cold)
{
    int64_t *v = malloc(n * 8 + 8);
    assert_non_null(v);
    fill(v, seed, 0, n);
    mmarr_compress_options co = {.level = 1, .chunk_size = 8192, .threads = 1};
    wcheck(w,
           cold ? mmarr_writer_add_cold(w, name, "<i8", 1, &n, MMARR_ORDER_C, v, &co)
                : mmarr_writer_add(w, name, "<i8", 1, &n, MMARR_ORDER_C, v),
           k, name);
    free(v);
}

static void make_base(const storm *S)
{
    mmarr_writer_options o = NOSYNC;
    mmarr_writer *w;
    mmarr_error e;
    if (mmarr_writer_create(S->path, &o, &w, &e) != MMARR_OK)
        fail_msg("%s", e.message);
    const uint64_t shape[2] = {ROWS0, COLS};
    wcheck(w, mmarr_writer_add_growable(w, "g", "<i8", 2, shape, S->capacity, S->g), 0, "g");
    add_i8(w, 0, "fixed", S->fixed[1], FIXED_N, 0);
    add_i8(w, 0, "cold", 77, COLD_N, 1);
    wcheck(w, mmarr_writer_set_file_meta(w, "last", "1"), 0, "meta");
    wcheck(w, mmarr_writer_commit(w), 0, "commit");
    mmarr_writer_free(w);
}

/* An append given up (mmarr_writer_free without commit): junk rows written in g's region past
 * the published rows and a page-aligned array past the end, then given back (the rows' pages
 * punched out or zeroed, the file cut to its length) while readers map the file. Nothing of
 * it may ever be seen. */
static void abandon(const storm *S, uint64_t k, wtally *t)
{
    mmarr_writer_options o = NOSYNC;
    mmarr_writer *w;
    mmarr_error e;
    if (mmarr_writer_open_append(S->path, &o, &w, &e) != MMARR_OK) {
        kill_readers();
        fail_msg("abandoned append %llu: %s", (unsigned long long)k, e.message);
    }
    int64_t *junk = malloc(ABANDONED_ROWS * COLS * sizeof *junk);
    assert_non_null(junk);
    fill(junk, 99999 + k, 0, ABANDONED_ROWS * COLS);
    const uint64_t rows = 1 + k % ABANDONED_ROWS;
    wcheck(w, mmarr_writer_append_rows(w, "g", junk, rows, rows * COLS * sizeof *junk), k,
           "junk rows");
    add_i8(w, k, "junk", 99998 + k, 600, 0);
    wcheck(w, mmarr_writer_set_file_meta(w, "last", "junk"), k, "junk meta");
    mmarr_writer_free(w);
    free(junk);
    t->abandoned++;
}

static void append(const storm *S, uint64_t k, wtally *t)
{
    if (k % 50 == 25)
        abandon(S, k, t);
    mmarr_writer_options o = NOSYNC;
    mmarr_writer *w;
    mmarr_error e;
    if (mmarr_writer_open_append(S->path, &o, &w, &e) != MMARR_OK) {
        kill_readers();
        fail_msg("append %llu: %s", (unsigned long long)k, e.message);
    }
    const uint64_t gen = k + 1, add = rows_of_append(k), from = S->rows[gen - 1];
    wcheck(w, mmarr_writer_append_rows(w, "g", S->g + from * COLS, add, add * COLS * sizeof *S->g),
           k, "rows");
    t->rows += add;
    char name[32];
    if (s_added(k)) {
        snprintf(name, sizeof name, "s%llu", (unsigned long long)k);
        add_i8(w, k, name, s_seed(k), s_items(k), 0);
        t->added++;
    }
    if (k >= 11 && s_added(k - 11)) {
        snprintf(name, sizeof name, "s%llu", (unsigned long long)(k - 11));
        wcheck(w, mmarr_writer_delete(w, name), k, name);
        t->deleted++;
    }
    if (S->fixed[gen] != S->fixed[gen - 1]) {
        wcheck(w, mmarr_writer_delete(w, "fixed"), k, "fixed");
        add_i8(w, k, "fixed", S->fixed[gen], FIXED_N, 0);
        t->replaced++;
    }
    if (S->last[gen] != S->last[gen - 1]) {
        snprintf(name, sizeof name, "%llu", (unsigned long long)S->last[gen]);
        wcheck(w, mmarr_writer_set_file_meta(w, "last", name), k, "meta");
        t->meta++;
    }
    wcheck(w, mmarr_writer_commit(w), k, "commit");
    mmarr_writer_free(w);
}

static void storm_run(const char *dir)
{
    char *path = tu_path(dir, "storm.mmarr");
    mmarr_pages_info pi;
    if (mmarr_pages_of(dir, &pi, NULL) != MMARR_OK)
        memset(&pi, 0, sizeof pi);
    const uint64_t n = tu_env_count("MMARR_STORM_APPENDS", 10000);
    unsigned long readers = tu_env_count("MMARR_STORM_READERS", 8);
    if (readers > MAX_READERS)
        readers = MAX_READERS;
    assert_true(n >= 1);
    static storm S;
    storm_init(&S, n);
    S.path = path;
    printf("append storm in %s (%s): %llu appends (MMARR_STORM_APPENDS), %lu readers "
           "(MMARR_STORM_READERS), %llu rows of %d int64 at the end\n",
           dir, pi.fs_type[0] ? pi.fs_type : "?", (unsigned long long)n, readers,
           (unsigned long long)S.rows[n + 1], COLS);
    make_base(&S);

    const double t0 = tu_now();
    int fds[MAX_READERS];
    const pid_t parent = getpid();
    nkids = 0;
    for (unsigned long r = 0; r < readers; r++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        child_storm = &S;
        child_fd = p[1];
        child_id = (int)r;
        fflush(stdout);
        fflush(stderr);
        const pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            /* cmocka's handlers would catch a fault and run the test's teardown in the child:
             * a reader that faults must die of its signal, for the parent to see */
            static const int faults[] = {SIGBUS, SIGSEGV, SIGILL, SIGFPE, SIGABRT, SIGSYS};
            for (size_t i = 0; i < sizeof faults / sizeof *faults; i++)
                signal(faults[i], SIG_DFL);
            prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed writer leaves no reader behind */
            if (getppid() != parent)
                tu_child_exit(12);
            close(p[0]);
            for (unsigned long i = 0; i < r; i++)
                close(fds[i]);
            tu_child_exit(reader_main(NULL));
        }
        close(p[1]);
        fds[r] = p[0];
        kids[nkids++] = pid;
    }

    wtally wt = {0};
    for (uint64_t k = 1; k <= n; k++)
        append(&S, k, &wt);
    const double t_write = tu_now() - t0;

    /* the last generation, checked here too */
    mmarr_file *f;
    mmarr_error e;
    if (mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e) != MMARR_OK) {
        kill_readers();
        fail_msg("%s", e.message);
    }
    uint64_t gen, gbytes;
    const void *gdata;
    char why[700];
    if (check_view(f, &S, &gen, &gdata, &gbytes, why, sizeof why)) {
        kill_readers();
        fail_msg("the last generation: %s", why);
    }
    assert_int_equal(gen, n + 1);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    mmarr_close(f);

    /* the readers' reports, then their ends */
    const size_t bitmap = (size_t)((n + 1) / 8 + 1);
    unsigned char *all = calloc(bitmap, 1), *bits = malloc(bitmap);
    assert_true(all && bits);
    report total = {0};
    report reps[MAX_READERS];
    int got[MAX_READERS];
    for (unsigned long r = 0; r < readers; r++) {
        got[r] = read(fds[r], &reps[r], sizeof reps[r]) == (ssize_t)sizeof reps[r];
        size_t have = 0;
        while (got[r] && have < bitmap) {
            const ssize_t m = read(fds[r], bits + have, bitmap - have);
            if (m <= 0)
                break;
            have += (size_t)m;
        }
        got[r] = got[r] && have == bitmap;
        close(fds[r]);
        for (size_t i = 0; got[r] && i < bitmap; i++)
            all[i] |= bits[i];
    }
    int failed = 0;
    for (unsigned long r = 0; r < readers; r++) {
        int st = 0;
        pid_t w;
        do
            w = waitpid(kids[r], &st, 0);
        while (w < 0 && errno == EINTR);
        kids[r] = 0;
        if (WIFSIGNALED(st)) {
            print_error("reader %lu was killed by signal %d (%s)\n", r, WTERMSIG(st),
                        strsignal(WTERMSIG(st)));
            failed = 1;
        } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !got[r]) {
            print_error("reader %lu failed (exit %d)\n", r, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
            failed = 1;
        }
    }
    const double t_all = tu_now() - t0;
    for (unsigned long r = 0; r < readers && !failed; r++) {
        const report *p = &reps[r];
        printf("  reader %lu (%s): %llu views checked, %llu distinct generations, %llu opens, "
               "%llu refreshes, %llu earlier views re-checked, %llu verified, %llu opens at a "
               "generation before one seen, %llu with the inactive slot being written\n",
               r, mode_name[r % MODES], (unsigned long long)p->views,
               (unsigned long long)p->distinct, (unsigned long long)p->opens,
               (unsigned long long)p->refreshes, (unsigned long long)p->rechecks,
               (unsigned long long)p->verified, (unsigned long long)p->back,
               (unsigned long long)p->slot_damaged);
        total.views += p->views;
        total.rechecks += p->rechecks;
        total.verified += p->verified;
        total.opens += p->opens;
        total.refreshes += p->refreshes;
    }
    uint64_t union_seen = 0;
    for (uint64_t g = 1; g <= n + 1; g++)
        union_seen += (all[g / 8] >> (g % 8)) & 1u;
    free(all);
    free(bits);
    if (failed)
        fail_msg("a reader failed (see above)");
    printf("  writer: %llu appends in %.1f s (%llu rows, %llu arrays added, %llu deleted, %llu "
           "replaced, %llu metadata changes), %llu appends abandoned, file %llu bytes\n",
           (unsigned long long)n, t_write, (unsigned long long)wt.rows,
           (unsigned long long)wt.added, (unsigned long long)wt.deleted,
           (unsigned long long)wt.replaced, (unsigned long long)wt.meta,
           (unsigned long long)wt.abandoned, (unsigned long long)fi.file_size);
    printf("  readers: %llu views checked (%llu opens, %llu refreshes), %llu earlier views "
           "re-checked, %llu views verified; %llu of the %llu generations seen by some "
           "reader; 0 SIGBUS, 0 torn views (%.1f s in all)\n",
           (unsigned long long)total.views, (unsigned long long)total.opens,
           (unsigned long long)total.refreshes, (unsigned long long)total.rechecks,
           (unsigned long long)total.verified, (unsigned long long)union_seen,
           (unsigned long long)(n + 1), t_all);
    for (unsigned long r = 0; r < readers; r++)
        assert_int_equal(reps[r].last, n + 1);
    storm_free(&S);
    free(path);
}

/* $TMPDIR, else /tmp: a disk file system's page cache here */
static void test_append_storm__readers_during_appends(void **state) { storm_run(*state); }

/* /dev/shm, where mmarr files usually live: tmpfs, whose holes and truncation differ */
static int setup_shm(void **state)
{
    char tmpl[] = "/dev/shm/mmarr-test.XXXXXX";
    *state = mkdtemp(tmpl) ? strdup(tmpl) : NULL;
    return 0;
}

static void test_append_storm__readers_during_appends_on_tmpfs(void **state)
{
    if (!*state)
        skip();
    storm_run(*state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_storm__readers_during_appends, tu_setup_dir,
                                        tu_teardown_dir),
        cmocka_unit_test_setup_teardown(test_append_storm__readers_during_appends_on_tmpfs,
                                        setup_shm, tu_teardown_dir),
    };
    return cmocka_run_group_tests_name("append_storm", tests, NULL, NULL);
}
