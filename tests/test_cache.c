/* SPDX-License-Identifier: MIT */
/*
 * test_cache.c — the shared decompression cache (mmarr.h "Shared decompression cache"):
 * mmarr_file_map() of a cold array gives its exact bytes from one cache entry that every
 * handle and process of the user shares; racing first users make exactly one entry; a file
 * rewritten at the same path (or in place with other bytes) never gets the old entry; unsafe
 * directories are refused; the size bound evicts the least recently used unmapped entries;
 * the private fallback (array over the bound, bound full of mapped entries, file size limit
 * while reserving, buffer handles, unusable directory) still gives the right bytes;
 * mmarr_cache_list()/_clear(). Each test has its own directory with the cache inside it.
 * Children report through their exit status only (no cmocka calls after fork).
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
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xxhash.h>

#include "mmarr.h"
#include "testutil.h"

/* ------------------------------------------------------------------------------------------ */
/* Fixture: a test directory holding "data.mmarr" and the cache directory "cache"             */

/* Three cold arrays of the same size with different bytes, chunked so the last chunk is
 * partial, plus a hot one and an empty cold one. */
#define N_ITEMS 70001u /* 280004 bytes of <f4: 5 chunks of 64 KiB, the last partial */
#define NBYTES ((uint64_t)N_ITEMS * 4)
#define CHUNK 65536u
static const char *const cold_names[3] = {"a", "b", "c"};

typedef struct fixture {
    char *dir;
    char *path;  /* dir/data.mmarr */
    char *cache; /* dir/cache */
} fixture;

static void fill_array(unsigned char *p, size_t n, uint64_t seed)
{
    tu_fill(p, n, seed);
    for (size_t i = 0; i < n; i++) /* compressible, but not trivially */
        if ((i / 5) % 3)
            p[i] = (unsigned char)(i / 1024 + seed);
}

static unsigned char *expected(uint64_t seed, size_t k)
{
    unsigned char *p = malloc(NBYTES);
    assert_non_null(p);
    fill_array(p, NBYTES, seed * 16 + k);
    return p;
}

/* Write the fixture file; `seed` changes every array's bytes. */
static void write_file(const char *path, uint64_t seed)
{
    mmarr_writer_options o = {.flags = MMARR_WRITE_NO_SYNC};
    mmarr_writer *w;
    mmarr_error e;
    assert_code(mmarr_writer_create(path, &o, &w, &e), MMARR_OK, e.message);
    const uint64_t shape[1] = {N_ITEMS};
    for (size_t k = 0; k < 3; k++) {
        unsigned char *v = expected(seed, k);
        mmarr_compress_options c = {.level = 1, .chunk_size = CHUNK, .shuffle = (int)(k != 1)};
        assert_code(mmarr_writer_add_cold(w, cold_names[k], "<f4", 1, shape, MMARR_ORDER_C, v,
                                          &c),
                    MMARR_OK, mmarr_writer_error(w)->message);
        free(v);
    }
    int64_t hot[100];
    for (int i = 0; i < 100; i++)
        hot[i] = i * 3 + (int64_t)seed;
    const uint64_t hshape[1] = {100}, zero[1] = {0};
    assert_code(mmarr_writer_add(w, "hot", "<i8", 1, hshape, MMARR_ORDER_C, hot), MMARR_OK,
                mmarr_writer_error(w)->message);
    assert_code(mmarr_writer_add_cold(w, "empty", "<f8", 1, zero, MMARR_ORDER_C, NULL, NULL),
                MMARR_OK, mmarr_writer_error(w)->message);
    assert_code(mmarr_writer_commit(w), MMARR_OK, mmarr_writer_error(w)->message);
    mmarr_writer_free(w);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx || !(fx->dir = tu_mkdtemp()))
        return -1;
    fx->path = tu_path(fx->dir, "data.mmarr");
    fx->cache = tu_path(fx->dir, "cache");
    if (!fx->path || !fx->cache)
        return -1;
    unsetenv("MMARR_CACHE_DIR");
    unsetenv("MMARR_CACHE_MAX");
    write_file(fx->path, 1);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    unsetenv("MMARR_CACHE_DIR");
    unsetenv("MMARR_CACHE_MAX");
    free(fx->path);
    free(fx->cache);
    tu_rmtree(fx->dir);
    free(fx);
    return 0;
}

static mmarr_file *open_cached(const fixture *fx, unsigned flags, uint64_t max_bytes)
{
    mmarr_file *f = NULL;
    mmarr_error e;
    assert_code(mmarr_open(fx->path, flags, &f, &e), MMARR_OK, e.message);
    assert_code(mmarr_file_set_cache(f, fx->cache, max_bytes, &e), MMARR_OK, e.message);
    return f;
}

static size_t index_of(mmarr_file *f, const char *name)
{
    size_t i;
    mmarr_error e;
    assert_code(mmarr_file_find(f, name, &i, &e), MMARR_OK, e.message);
    return i;
}

static const void *map_ok(mmarr_file *f, const char *name)
{
    const void *p = NULL;
    mmarr_error e;
    assert_code(mmarr_file_map(f, index_of(f, name), &p, &e), MMARR_OK, e.message);
    assert_non_null(p);
    return p;
}

static mmarr_map_info map_info(mmarr_file *f, const char *name)
{
    mmarr_map_info mi;
    mmarr_error e;
    assert_code(mmarr_file_map_info(f, index_of(f, name), &mi, &e), MMARR_OK, e.message);
    return mi;
}

/* Count the cache directory's files by kind. */
typedef struct dir_counts {
    int entries, tmps, locks, others;
} dir_counts;

static dir_counts count_dir(const char *dir)
{
    dir_counts c = {0, 0, 0, 0};
    DIR *d = opendir(dir);
    if (!d)
        return c;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, ".."))
            continue;
        const size_t len = strlen(n);
        if (len == 32 && strspn(n, "0123456789abcdef") == 32)
            c.entries++;
        else if (strstr(n, ".tmp."))
            c.tmps++;
        else if (len > 5 && !strcmp(n + len - 5, ".lock"))
            c.locks++;
        else
            c.others++;
    }
    closedir(d);
    return c;
}

static bool entry_exists(const char *cache, const char *entry)
{
    char *p = tu_path(cache, entry);
    struct stat st;
    const bool ok = stat(p, &st) == 0;
    free(p);
    return ok;
}

static void set_entry_mtime(const char *cache, const char *entry, time_t t)
{
    char *p = tu_path(cache, entry);
    const struct timespec ts[2] = {{t, 0}, {t, 0}};
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
    free(p);
}

/* The inode of the file mapped at p, from /proc/self/maps (0 if none). */
static unsigned long long mapped_inode(const void *p)
{
    FILE *fp = fopen("/proc/self/maps", "r");
    if (!fp)
        return 0;
    char line[1024];
    unsigned long long ino = 0;
    const unsigned long long a = (unsigned long long)(uintptr_t)p;
    while (fgets(line, sizeof line, fp)) {
        unsigned long long lo, hi, off, inode;
        unsigned maj, min;
        char perms[8];
        if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &lo, &hi, perms, &off, &maj, &min,
                   &inode) == 7 &&
            lo <= a && a < hi) {
            ino = inode;
            break;
        }
    }
    fclose(fp);
    return ino;
}

/* ------------------------------------------------------------------------------------------ */
/* Children                                                                                   */

/* Children leave with _exit(); valgrind checks leaks at every exit without scanning the
 * exiting stack, so parent objects a child inherits stay reachable from here. */
static void *volatile g_child_roots[4];

/* Fork; the child runs fn(arg) and exits with its result. keep1, keep2: other parent objects
 * the child inherits (or NULL). */
static pid_t spawn(int (*fn)(void *), void *arg, void *keep1, void *keep2)
{
    g_child_roots[0] = arg;
    g_child_roots[1] = keep1;
    g_child_roots[2] = keep2;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fn(arg));
    return pid;
}

/* What a racing child reports: the inode it mapped and its entry name. */
typedef struct child_report {
    unsigned long long ino;
    char entry[33];
    int status; /* 0 ok, else the step that failed */
} child_report;

typedef struct race_arg {
    const fixture *fx;
    int go_fd;     /* read end: the parent closes the write end to start everyone */
    int go_wr;     /* that write end, which each child closes too */
    int report_fd; /* write end */
    uint64_t want; /* XXH3-64 of the array's bytes */
} race_arg;

static int child_race(void *p)
{
    race_arg *ra = p;
    child_report r;
    memset(&r, 0, sizeof r);
    close(ra->go_wr);
    char c;
    while (read(ra->go_fd, &c, 1) < 0 && errno == EINTR)
        ;
    mmarr_file *f = NULL;
    const void *data = NULL;
    size_t idx = 0;
    mmarr_map_info mi;
    if (mmarr_open(ra->fx->path, 0, &f, NULL) != MMARR_OK)
        r.status = 1;
    else if (mmarr_file_set_cache(f, ra->fx->cache, 0, NULL) != MMARR_OK)
        r.status = 2;
    else if (mmarr_file_find(f, "a", &idx, NULL) != MMARR_OK ||
             mmarr_file_map(f, idx, &data, NULL) != MMARR_OK)
        r.status = 3;
    else if (XXH3_64bits(data, NBYTES) != ra->want)
        r.status = 4;
    else if (mmarr_file_map_info(f, idx, &mi, NULL) != MMARR_OK ||
             mi.source != MMARR_MAP_CACHE)
        r.status = 5;
    else {
        r.ino = mapped_inode(data);
        memcpy(r.entry, mi.entry, sizeof r.entry);
        if (!r.ino)
            r.status = 6;
    }
    mmarr_close(f);
    return write(ra->report_fd, &r, sizeof r) == (ssize_t)sizeof r ? r.status : 7;
}

/* ------------------------------------------------------------------------------------------ */
/* Tests                                                                                      */

static void test_cache__hot_array_maps_the_file(void **state)
{
    fixture *fx = *state;
    mmarr_file *f = open_cached(fx, 0, 0);
    mmarr_array_info a;
    assert_code(mmarr_file_find_array(f, "hot", &a, NULL), MMARR_OK, "");
    assert_ptr_equal(map_ok(f, "hot"), a.data);
    const mmarr_map_info mi = map_info(f, "hot");
    assert_int_equal(mi.source, MMARR_MAP_FILE);
    assert_ptr_equal(mi.data, a.data);
    assert_int_equal(mi.bytes, 800);
    mmarr_close(f);
    assert_int_equal(count_dir(fx->cache).entries, 0);
}

static void test_cache__cold_array_bytes_from_one_entry(void **state)
{
    fixture *fx = *state;
    mmarr_file *f = open_cached(fx, 0, 0);
    for (size_t k = 0; k < 3; k++) {
        mmarr_map_info mi = map_info(f, cold_names[k]);
        assert_int_equal(mi.source, MMARR_MAP_NONE);
        assert_null(mi.data);
        const void *p = map_ok(f, cold_names[k]);
        unsigned char *want = expected(1, k);
        assert_memory_equal(p, want, NBYTES);
        free(want);
        assert_ptr_equal(map_ok(f, cold_names[k]), p); /* same pointer, no new work */
        mi = map_info(f, cold_names[k]);
        assert_int_equal(mi.source, MMARR_MAP_CACHE);
        assert_ptr_equal(mi.data, p);
        assert_int_equal(mi.bytes, NBYTES);
        assert_int_equal(strlen(mi.entry), 32);
        assert_int_equal(mi.reason.code, MMARR_OK);
        /* the entry is a bare file of exactly the raw bytes, and it is what is mapped */
        char *ep = tu_path(fx->cache, mi.entry);
        struct stat st;
        assert_int_equal(stat(ep, &st), 0);
        assert_int_equal(st.st_size, NBYTES);
        assert_int_equal(mapped_inode(p), st.st_ino);
        free(ep);
    }
    const dir_counts c = count_dir(fx->cache);
    assert_int_equal(c.entries, 3);
    assert_int_equal(c.tmps, 0);
    assert_int_equal(c.locks, 0);
    /* the directory was created private */
    struct stat st;
    assert_int_equal(stat(fx->cache, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* the mapping is read-only */
    mmarr_close(f);
}

static void test_cache__empty_cold_array(void **state)
{
    fixture *fx = *state;
    mmarr_file *f = open_cached(fx, 0, 0);
    const void *p = map_ok(f, "empty");
    assert_ptr_equal(map_ok(f, "empty"), p);
    const mmarr_map_info mi = map_info(f, "empty");
    assert_int_equal(mi.source, MMARR_MAP_PRIVATE);
    assert_int_equal(mi.bytes, 0);
    assert_int_equal(mi.reason.code, MMARR_OK);
    mmarr_close(f);
    assert_int_equal(count_dir(fx->cache).entries, 0);
}

static void test_cache__bad_arguments(void **state)
{
    fixture *fx = *state;
    mmarr_file *f = open_cached(fx, 0, 0);
    const void *p = (const void *)1;
    mmarr_error e;
    assert_code(mmarr_file_map(f, 99, &p, &e), MMARR_E_INVAL, e.message);
    assert_code(mmarr_file_map(f, 0, NULL, &e), MMARR_E_INVAL, e.message);
    assert_code(mmarr_file_map_info(f, 99, &(mmarr_map_info){0}, &e), MMARR_E_INVAL, e.message);
    assert_code(mmarr_file_map_info(f, 0, NULL, &e), MMARR_E_INVAL, e.message);
    assert_code(mmarr_cache_list(fx->cache, NULL, NULL, &e), MMARR_E_INVAL, e.message);
    char small[4];
    assert_code(mmarr_cache_default_dir(small, sizeof small, &e), MMARR_E_RANGE, e.message);
    mmarr_close(f);
}

static int child_map_same(void *p)
{
    const fixture *fx = p;
    mmarr_file *f = NULL;
    const void *data = NULL;
    size_t idx;
    mmarr_map_info mi;
    int rc = 0;
    unsigned char *want = NULL;
    if (mmarr_open(fx->path, 0, &f, NULL) != MMARR_OK ||
        mmarr_file_set_cache(f, fx->cache, 0, NULL) != MMARR_OK)
        rc = 1;
    else if (mmarr_file_find(f, "b", &idx, NULL) || mmarr_file_map(f, idx, &data, NULL) ||
             mmarr_file_map_info(f, idx, &mi, NULL))
        rc = 2;
    else if (mi.source != MMARR_MAP_CACHE)
        rc = 3;
    else if (!(want = malloc(NBYTES)))
        rc = 4;
    else {
        fill_array(want, NBYTES, 16 + 1);
        char *ep = tu_path(fx->cache, mi.entry);
        struct stat st;
        if (memcmp(want, data, NBYTES))
            rc = 5;
        else if (!ep || stat(ep, &st) != 0 || mapped_inode(data) != st.st_ino)
            rc = 6;
        free(ep);
    }
    free(want);
    mmarr_close(f);
    return rc;
}

/* In a child, with the parent's handle: mapping "b" again returns the inherited pointer,
 * whose bytes are intact. */
static int child_lookup_again(void *p)
{
    mmarr_file *f = p;
    const void *first = NULL, *again = NULL;
    size_t idx = 0;
    mmarr_map_info mi;
    if (mmarr_file_find(f, "b", &idx, NULL))
        return 1;
    if (mmarr_file_map_info(f, idx, &mi, NULL) || mi.source != MMARR_MAP_CACHE)
        return 2;
    first = mi.data;
    if (mmarr_file_map(f, idx, &again, NULL) || again != first)
        return 3;
    unsigned char *want = malloc(NBYTES);
    if (!want)
        return 4;
    fill_array(want, NBYTES, 16 + 1);
    const int rc = memcmp(want, again, NBYTES) ? 5 : 0;
    free(want);
    return rc;
}

static void test_cache__handles_and_processes_share_the_entry(void **state)
{
    fixture *fx = *state;
    mmarr_file *f1 = open_cached(fx, 0, 0);
    const void *p1 = map_ok(f1, "b");
    const mmarr_map_info m1 = map_info(f1, "b");
    char *ep = tu_path(fx->cache, m1.entry);
    struct stat st1, st2;
    assert_int_equal(stat(ep, &st1), 0);

    /* a second handle in this process maps the same entry (same inode: not re-made) */
    mmarr_file *f2 = open_cached(fx, 0, 0);
    const void *p2 = map_ok(f2, "b");
    const mmarr_map_info m2 = map_info(f2, "b");
    assert_string_equal(m1.entry, m2.entry);
    assert_int_equal(mapped_inode(p1), st1.st_ino);
    assert_int_equal(mapped_inode(p2), st1.st_ino);

    /* a read-write handle (which rewrites the superblock, changing mtime and ctime) too */
    mmarr_file *f3 = open_cached(fx, MMARR_OPEN_RDWR, 0);
    const void *p3 = map_ok(f3, "b");
    assert_string_equal(map_info(f3, "b").entry, m1.entry);
    assert_int_equal(mapped_inode(p3), st1.st_ino);
    mmarr_close(f3);

    /* another process */
    g_child_roots[3] = ep;
    tu_reap_ok(spawn(child_map_same, fx, f1, f2));
    assert_int_equal(stat(ep, &st2), 0);
    assert_int_equal(st2.st_ino, st1.st_ino);
    const dir_counts c = count_dir(fx->cache);
    assert_int_equal(c.entries, 1);
    assert_int_equal(c.tmps, 0);
    assert_int_equal(c.locks, 0);

    /* a handle inherited across fork keeps its mapping, and mapping again is a lookup */
    pid_t pid = spawn(child_lookup_again, f1, f2, ep);
    tu_reap_ok(pid);
    free(ep);
    mmarr_close(f2);
    mmarr_close(f1);
}

static void test_cache__four_processes_race_to_one_entry(void **state)
{
    fixture *fx = *state;
    unsigned char *want = expected(1, 0);
    race_arg ra = {fx, -1, -1, -1, XXH3_64bits(want, NBYTES)};
    free(want);
    int go[2], rep[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(rep), 0);
    ra.go_fd = go[0];
    ra.go_wr = go[1];
    ra.report_fd = rep[1];
    enum { N = 4 };
    pid_t pids[N];
    for (int i = 0; i < N; i++)
        pids[i] = spawn(child_race, &ra, NULL, NULL);
    close(go[0]);
    close(rep[1]);
    close(go[1]); /* go */
    child_report r[N];
    for (int i = 0; i < N; i++) {
        ssize_t got = 0;
        while ((got = read(rep[0], &r[i], sizeof r[i])) < 0 && errno == EINTR)
            ;
        assert_int_equal(got, sizeof r[i]);
    }
    close(rep[0]);
    for (int i = 0; i < N; i++)
        tu_reap_ok(pids[i]);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].status, 0);
        /* one decompression: a second filler would have renamed another inode over it */
        assert_int_equal(r[i].ino, r[0].ino);
        assert_string_equal(r[i].entry, r[0].entry);
    }
    const dir_counts c = count_dir(fx->cache);
    assert_int_equal(c.entries, 1);
    assert_int_equal(c.tmps, 0);
    assert_int_equal(c.locks, 0);
    assert_int_equal(c.others, 0);
}

typedef struct thread_arg {
    mmarr_file *f;
    size_t idx;
    const void *p;
    mmarr_err rc;
    pthread_barrier_t *go;
} thread_arg;

static void *thread_map(void *p)
{
    thread_arg *t = p;
    pthread_barrier_wait(t->go);
    t->rc = mmarr_file_map(t->f, t->idx, &t->p, NULL);
    return NULL;
}

static void test_cache__threads_of_one_handle(void **state)
{
    fixture *fx = *state;
    mmarr_file *f = open_cached(fx, 0, 0);
    enum { T = 6 };
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, T);
    pthread_t th[T];
    thread_arg ta[T];
    for (int i = 0; i < T; i++) {
        ta[i] = (thread_arg){f, index_of(f, cold_names[i % 2]), NULL, MMARR_E_STATE, &go};
        assert_int_equal(pthread_create(&th[i], NULL, thread_map, &ta[i]), 0);
    }
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < T; i++) {
        assert_int_equal(ta[i].rc, MMARR_OK);
        assert_ptr_equal(ta[i].p, ta[i % 2].p);
    }
    for (size_t k = 0; k < 2; k++) {
        unsigned char *want = expected(1, k);
        assert_memory_equal(ta[k].p, want, NBYTES);
        free(want);
    }
    assert_int_equal(count_dir(fx->cache).entries, 2);
    mmarr_close(f);
}

static void test_cache__rewritten_file_never_gets_old_entry(void **state)
{
    fixture *fx = *state;
    mmarr_file *f1 = open_cached(fx, 0, 0);
    map_ok(f1, "a");
    char e1[33];
    memcpy(e1, map_info(f1, "a").entry, sizeof e1);

    /* a handle opened before the rewrite, mapping only after it, still gets its own bytes */
    mmarr_file *early = open_cached(fx, 0, 0);
    write_file(fx->path, 2); /* a new file renamed over the path */
    mmarr_file *f2 = open_cached(fx, 0, 0);
    const void *p2 = map_ok(f2, "a");
    unsigned char *want2 = expected(2, 0), *want1 = expected(1, 0);
    assert_memory_equal(p2, want2, NBYTES);
    assert_string_not_equal(map_info(f2, "a").entry, e1);
    const void *pe = map_ok(early, "b");
    unsigned char *want1b = expected(1, 1);
    assert_memory_equal(pe, want1b, NBYTES);
    assert_memory_equal(map_ok(early, "a"), want1, NBYTES);
    assert_string_equal(map_info(early, "a").entry, e1);
    free(want1b);

    /* the same inode rewritten in place with other bytes (same layout, other checksums);
     * f2 maps that inode, so it goes first (its index would change under it) */
    char e2[33];
    memcpy(e2, map_info(f2, "a").entry, sizeof e2);
    mmarr_close(f2);
    char *other = tu_path(fx->dir, "other.mmarr");
    write_file(other, 3);
    size_t n = 0;
    void *img = tu_read_file(other, &n);
    assert_non_null(img);
    struct stat before, after;
    assert_int_equal(stat(fx->path, &before), 0);
    const int fd = open(fx->path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, img, n), (ssize_t)n);
    close(fd);
    assert_int_equal(stat(fx->path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    mmarr_file *f3 = open_cached(fx, 0, 0);
    const void *p3 = map_ok(f3, "a");
    unsigned char *want3 = expected(3, 0);
    assert_memory_equal(p3, want3, NBYTES);
    assert_string_not_equal(map_info(f3, "a").entry, e2);
    assert_string_not_equal(map_info(f3, "a").entry, e1);

    free(want1);
    free(want2);
    free(want3);
    free(img);
    free(other);
    mmarr_close(f3);
    mmarr_close(early);
    mmarr_close(f1);
}

static int count_cb(const mmarr_cache_entry *ce, void *ctx)
{
    (void)ce;
    ++*(int *)ctx;
    return 0;
}

static void test_cache__unsafe_directories_refused(void **state)
{
    fixture *fx = *state;
    mmarr_file *f = NULL;
    mmarr_error e;
    assert_code(mmarr_open(fx->path, 0, &f, &e), MMARR_OK, e.message);

    /* group/other permission bits */
    assert_int_equal(mkdir(fx->cache, 0700), 0);
    const mode_t bad_modes[] = {0777, 0750, 0701};
    for (size_t i = 0; i < sizeof bad_modes / sizeof *bad_modes; i++) {
        assert_int_equal(chmod(fx->cache, bad_modes[i]), 0);
        assert_code(mmarr_file_set_cache(f, fx->cache, 0, &e), MMARR_E_IO, e.message);
        assert_non_null(strstr(e.message, fx->cache));
        assert_non_null(strstr(e.message, "mode"));
        int calls = 0;
        assert_code(mmarr_cache_list(fx->cache, count_cb, &calls, &e), MMARR_E_IO, e.message);
        assert_int_equal(calls, 0);
        assert_code(mmarr_cache_clear(fx->cache, 0, NULL, &e), MMARR_E_IO, e.message);
    }
    /* through the environment, the map still works, privately, and says why */
    setenv("MMARR_CACHE_DIR", fx->cache, 1);
    mmarr_file *g = NULL;
    assert_code(mmarr_open(fx->path, 0, &g, &e), MMARR_OK, e.message);
    const void *p = map_ok(g, "a");
    unsigned char *want = expected(1, 0);
    assert_memory_equal(p, want, NBYTES);
    free(want);
    const mmarr_map_info mi = map_info(g, "a");
    assert_int_equal(mi.source, MMARR_MAP_PRIVATE);
    assert_code(mi.reason.code, MMARR_E_IO, mi.reason.message);
    assert_non_null(strstr(mi.reason.message, fx->cache));
    mmarr_close(g);
    assert_int_equal(count_dir(fx->cache).entries, 0);
    unsetenv("MMARR_CACHE_DIR");

    /* a symbolic link to a good directory */
    assert_int_equal(chmod(fx->cache, 0700), 0);
    char *link = tu_path(fx->dir, "link");
    assert_int_equal(symlink(fx->cache, link), 0);
    assert_code(mmarr_file_set_cache(f, link, 0, &e), MMARR_E_IO, e.message);
    assert_non_null(strstr(e.message, "symbolic link"));
    assert_code(mmarr_cache_clear(link, 0, NULL, &e), MMARR_E_IO, e.message);

    /* not a directory */
    char *file = tu_path(fx->dir, "plain");
    assert_int_equal(tu_write_file(file, "x", 1), 0);
    assert_code(mmarr_file_set_cache(f, file, 0, &e), MMARR_E_IO, e.message);
    assert_non_null(strstr(e.message, file));

    /* another owner (needs root to arrange) */
    if (geteuid() == 0) {
        assert_int_equal(chown(fx->cache, 65534, 65534), 0);
        assert_code(mmarr_file_set_cache(f, fx->cache, 0, &e), MMARR_E_IO, e.message);
        assert_non_null(strstr(e.message, "owned by uid 65534"));
        assert_int_equal(chown(fx->cache, 0, 0), 0);
    }
    /* and the good directory is accepted; a refused setting left the handle unchanged */
    assert_code(mmarr_file_set_cache(f, fx->cache, 0, &e), MMARR_OK, e.message);
    map_ok(f, "a");
    assert_int_equal(map_info(f, "a").source, MMARR_MAP_CACHE);
    free(file);
    free(link);
    mmarr_close(f);
}

static void test_cache__environment_defaults(void **state)
{
    fixture *fx = *state;
    char buf[4096], want[64];
    mmarr_error e;
    unsetenv("MMARR_CACHE_DIR");
    assert_code(mmarr_cache_default_dir(buf, sizeof buf, &e), MMARR_OK, e.message);
    snprintf(want, sizeof want, "/dev/shm/mmarr-cache-%lu", (unsigned long)geteuid());
    assert_string_equal(buf, want);

    setenv("MMARR_CACHE_DIR", fx->cache, 1);
    assert_code(mmarr_cache_default_dir(buf, sizeof buf, &e), MMARR_OK, e.message);
    assert_string_equal(buf, fx->cache);
    /* a handle without mmarr_file_set_cache uses it */
    mmarr_file *f = NULL;
    assert_code(mmarr_open(fx->path, 0, &f, &e), MMARR_OK, e.message);
    map_ok(f, "c");
    const mmarr_map_info mi = map_info(f, "c");
    assert_int_equal(mi.source, MMARR_MAP_CACHE);
    assert_true(entry_exists(fx->cache, mi.entry));

    /* the bound: MMARR_CACHE_MAX, else half the filesystem */
    uint64_t max = 0;
    setenv("MMARR_CACHE_MAX", "3M", 1);
    assert_code(mmarr_cache_default_max(NULL, &max, &e), MMARR_OK, e.message);
    assert_int_equal(max, 3u << 20);
    setenv("MMARR_CACHE_MAX", "123456", 1);
    assert_code(mmarr_cache_default_max(fx->cache, &max, &e), MMARR_OK, e.message);
    assert_int_equal(max, 123456);
    const char *bad[] = {"junk", "0", "12Q", "-5", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        setenv("MMARR_CACHE_MAX", bad[i], 1);
        assert_code(mmarr_cache_default_max(NULL, &max, &e), MMARR_E_INVAL, bad[i]);
        assert_non_null(strstr(e.message, "MMARR_CACHE_MAX"));
        assert_code(mmarr_file_set_cache(f, NULL, 0, &e), MMARR_E_INVAL, e.message);
    }
    /* an explicit bound does not read the variable */
    assert_code(mmarr_file_set_cache(f, NULL, 1u << 20, &e), MMARR_OK, e.message);
    unsetenv("MMARR_CACHE_MAX");
    assert_code(mmarr_cache_default_max(NULL, &max, &e), MMARR_OK, e.message);
    assert_true(max > 0);
    mmarr_close(f);
}

/* Map `name` through a fresh handle with bound `max` and close it again (not in use). */
static void map_and_close(const fixture *fx, const char *name, uint64_t max, char entry[33])
{
    mmarr_file *f = open_cached(fx, 0, max);
    map_ok(f, name);
    const mmarr_map_info mi = map_info(f, name);
    assert_int_equal(mi.source, MMARR_MAP_CACHE);
    memcpy(entry, mi.entry, 33);
    mmarr_close(f);
}

static void test_cache__bound_evicts_least_recently_used(void **state)
{
    fixture *fx = *state;
    const uint64_t max = 2 * NBYTES + NBYTES / 2; /* room for two entries */
    char ea[33], eb[33], ec[33];
    map_and_close(fx, "a", max, ea);
    map_and_close(fx, "b", max, eb);
    set_entry_mtime(fx->cache, ea, 2000000000); /* a used last, b before it */
    set_entry_mtime(fx->cache, eb, 1000000000);
    map_and_close(fx, "c", max, ec);
    assert_true(entry_exists(fx->cache, ea));
    assert_false(entry_exists(fx->cache, eb));
    assert_true(entry_exists(fx->cache, ec));
    assert_int_equal(count_dir(fx->cache).entries, 2);

    /* mapping an entry makes it the most recently used */
    set_entry_mtime(fx->cache, ea, 1000000000);
    set_entry_mtime(fx->cache, ec, 1000000001);
    map_and_close(fx, "a", max, ea);
    map_and_close(fx, "b", max, eb);
    assert_true(entry_exists(fx->cache, ea));
    assert_false(entry_exists(fx->cache, ec));

    /* a mapped entry is never evicted, however old */
    mmarr_file *holder = open_cached(fx, 0, max);
    const void *pa = map_ok(holder, "a");
    set_entry_mtime(fx->cache, ea, 1000000000);
    set_entry_mtime(fx->cache, eb, 1500000000);
    map_and_close(fx, "c", max, ec);
    assert_true(entry_exists(fx->cache, ea));
    assert_false(entry_exists(fx->cache, eb));
    assert_true(entry_exists(fx->cache, ec));

    /* when mapped entries fill the bound, the next array is decompressed privately */
    mmarr_file *holder2 = open_cached(fx, 0, max);
    map_ok(holder2, "c");
    mmarr_file *f = open_cached(fx, 0, max);
    const void *pb = map_ok(f, "b");
    unsigned char *want = expected(1, 1);
    assert_memory_equal(pb, want, NBYTES);
    free(want);
    const mmarr_map_info mi = map_info(f, "b");
    assert_int_equal(mi.source, MMARR_MAP_PRIVATE);
    assert_code(mi.reason.code, MMARR_E_NOSPACE, mi.reason.message);
    assert_non_null(strstr(mi.reason.message, "\"b\""));
    assert_int_equal(mi.entry[0], '\0');
    const dir_counts c = count_dir(fx->cache);
    assert_int_equal(c.entries, 2);
    assert_int_equal(c.tmps, 0);
    assert_int_equal(c.locks, 0);
    want = expected(1, 0);
    assert_memory_equal(pa, want, NBYTES);
    free(want);
    mmarr_close(f);
    mmarr_close(holder2);
    mmarr_close(holder);
}

static void test_cache__array_over_the_bound_is_private(void **state)
{
    fixture *fx = *state;
    mmarr_file *f = open_cached(fx, 0, NBYTES / 2);
    const void *p = map_ok(f, "a");
    unsigned char *want = expected(1, 0);
    assert_memory_equal(p, want, NBYTES);
    free(want);
    const mmarr_map_info mi = map_info(f, "a");
    assert_int_equal(mi.source, MMARR_MAP_PRIVATE);
    assert_code(mi.reason.code, MMARR_E_NOSPACE, mi.reason.message);
    assert_non_null(strstr(mi.reason.message, "bound"));
    assert_ptr_equal(map_ok(f, "a"), p);
    const dir_counts c = count_dir(fx->cache);
    assert_int_equal(c.entries + c.tmps + c.locks + c.others, 0);
    mmarr_close(f);
}

/* In a child: a file size limit below the array makes posix_fallocate fail with EFBIG, the
 * stand-in for a full tmpfs that needs no root: the map falls back, nothing is left. */
static int child_fsize_limit(void *p)
{
    const fixture *fx = p;
    signal(SIGXFSZ, SIG_IGN);
    const struct rlimit rl = {NBYTES / 2, NBYTES / 2};
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 1;
    mmarr_file *f = NULL;
    const void *data = NULL;
    size_t idx = 0;
    mmarr_map_info mi;
    unsigned char *want = malloc(NBYTES);
    int rc = 0;
    if (!want || mmarr_open(fx->path, 0, &f, NULL) ||
        mmarr_file_set_cache(f, fx->cache, 0, NULL))
        rc = 2;
    else if (mmarr_file_find(f, "c", &idx, NULL) || mmarr_file_map(f, idx, &data, NULL) ||
             mmarr_file_map_info(f, idx, &mi, NULL))
        rc = 3;
    else if (mi.source != MMARR_MAP_PRIVATE || mi.reason.code != MMARR_E_NOSPACE ||
             mi.reason.sys_errno != EFBIG)
        rc = 4;
    else {
        fill_array(want, NBYTES, 16 + 2);
        rc = memcmp(want, data, NBYTES) ? 5 : 0;
    }
    free(want);
    mmarr_close(f);
    return rc;
}

static void test_cache__no_space_while_reserving_is_private(void **state)
{
    fixture *fx = *state;
    tu_reap_ok(spawn(child_fsize_limit, fx, NULL, NULL));
    const dir_counts c = count_dir(fx->cache);
    assert_int_equal(c.entries, 0);
    assert_int_equal(c.tmps, 0);
    assert_int_equal(c.locks, 0);
}

static void test_cache__buffer_handle_is_private(void **state)
{
    fixture *fx = *state;
    size_t n = 0;
    void *img = tu_read_file(fx->path, &n);
    assert_non_null(img);
    mmarr_file *f = NULL;
    mmarr_error e;
    assert_code(mmarr_open_buffer(img, n, 0, &f, &e), MMARR_OK, e.message);
    assert_code(mmarr_file_set_cache(f, fx->cache, 0, &e), MMARR_OK, e.message);
    const void *p = map_ok(f, "b");
    unsigned char *want = expected(1, 1);
    assert_memory_equal(p, want, NBYTES);
    free(want);
    const mmarr_map_info mi = map_info(f, "b");
    assert_int_equal(mi.source, MMARR_MAP_PRIVATE);
    assert_code(mi.reason.code, MMARR_E_UNSUPPORTED, mi.reason.message);
    assert_int_equal(count_dir(fx->cache).entries, 0);
    mmarr_close(f);
    free(img);
}

static void test_cache__damaged_chunk_is_an_error_and_not_cached(void **state)
{
    fixture *fx = *state;
    mmarr_file *f = open_cached(fx, 0, 0);
    mmarr_chunk_info ci;
    mmarr_error e;
    const size_t idx = index_of(f, "b");
    assert_code(mmarr_file_chunk(f, idx, 2, &ci, &e), MMARR_OK, e.message);
    mmarr_close(f);
    const int fd = open(fx->path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char byte;
    const off_t at = (off_t)(ci.stored_offset + ci.stored_size / 2);
    assert_int_equal(pread(fd, &byte, 1, at), 1);
    byte ^= 0x5a;
    assert_int_equal(pwrite(fd, &byte, 1, at), 1);
    close(fd);

    f = open_cached(fx, 0, 0);
    const void *p = (const void *)1;
    const mmarr_err rc = mmarr_file_map(f, idx, &p, &e);
    if (rc != MMARR_E_CHECKSUM)
        assert_code(rc, MMARR_E_CORRUPT, e.message);
    assert_null(p);
    assert_non_null(strstr(e.message, "\"b\""));
    assert_int_equal(map_info(f, "b").source, MMARR_MAP_NONE);
    const dir_counts c = count_dir(fx->cache);
    assert_int_equal(c.entries + c.tmps + c.locks, 0);
    /* the error is repeatable (nothing half-made is remembered) */
    assert_int_equal(mmarr_file_map(f, idx, &p, &e), rc);
    mmarr_close(f);
}

/* Sums what mmarr_cache_list reports. */
typedef struct list_acc {
    int n;
    uint64_t bytes;
    int in_use;
    char names[8][33];
    int64_t last[8];
    int stop_after;
} list_acc;

static int list_cb(const mmarr_cache_entry *ce, void *ctx)
{
    list_acc *a = ctx;
    if (a->n < 8) {
        snprintf(a->names[a->n], 33, "%s", ce->name);
        a->last[a->n] = ce->last_used_unix;
    }
    a->n++;
    a->bytes += ce->bytes;
    a->in_use += ce->in_use;
    return a->stop_after && a->n >= a->stop_after;
}

static void test_cache__list_and_clear(void **state)
{
    fixture *fx = *state;
    mmarr_error e;
    list_acc acc;
    uint64_t removed = 77;
    /* a directory that does not exist: empty, and not created */
    memset(&acc, 0, sizeof acc);
    assert_code(mmarr_cache_list(fx->cache, list_cb, &acc, &e), MMARR_OK, e.message);
    assert_int_equal(acc.n, 0);
    assert_code(mmarr_cache_clear(fx->cache, 0, &removed, &e), MMARR_OK, e.message);
    assert_int_equal(removed, 0);
    struct stat st;
    assert_int_not_equal(stat(fx->cache, &st), 0);

    char ea[33], eb[33], ec[33];
    map_and_close(fx, "a", 0, ea);
    map_and_close(fx, "b", 0, eb);
    map_and_close(fx, "c", 0, ec);
    set_entry_mtime(fx->cache, ea, 1700000300);
    set_entry_mtime(fx->cache, eb, 1700000100);
    set_entry_mtime(fx->cache, ec, 1700000200);
    mmarr_file *holder = open_cached(fx, 0, 0);
    const void *pa = map_ok(holder, "a"); /* in use, and now the most recent */

    memset(&acc, 0, sizeof acc);
    assert_code(mmarr_cache_list(fx->cache, list_cb, &acc, &e), MMARR_OK, e.message);
    assert_int_equal(acc.n, 3);
    assert_int_equal(acc.bytes, 3 * NBYTES);
    assert_int_equal(acc.in_use, 1);
    assert_string_equal(acc.names[0], eb); /* least recently used first */
    assert_string_equal(acc.names[1], ec);
    assert_string_equal(acc.names[2], ea);
    assert_int_equal(acc.last[0], 1700000100);
    assert_true(acc.last[2] >= (int64_t)time(NULL) - 60);
    memset(&acc, 0, sizeof acc);
    acc.stop_after = 1;
    assert_code(mmarr_cache_list(fx->cache, list_cb, &acc, &e), MMARR_OK, e.message);
    assert_int_equal(acc.n, 1);

    /* leftovers: a temporary of a dead filler, a lock nobody holds, a held lock with its
     * live temporary, and a file that is not the cache's */
    char *dead_tmp = tu_path(fx->cache, "0123456789abcdef0123456789abcdef.tmp.999999.1");
    char *free_lock = tu_path(fx->cache, "00000000000000000000000000000000.lock");
    char *held_lock = tu_path(fx->cache, "11111111111111111111111111111111.lock");
    char *live_tmp = tu_path(fx->cache, "11111111111111111111111111111111.tmp.1.2");
    char *foreign = tu_path(fx->cache, "README");
    assert_int_equal(tu_write_file(dead_tmp, "12345", 5), 0);
    assert_int_equal(tu_write_file(free_lock, "", 0), 0);
    assert_int_equal(tu_write_file(held_lock, "", 0), 0);
    assert_int_equal(tu_write_file(live_tmp, "123", 3), 0);
    assert_int_equal(tu_write_file(foreign, "keep", 4), 0);
    const int lfd = open(held_lock, O_RDWR);
    assert_true(lfd >= 0);
    assert_int_equal(flock(lfd, LOCK_EX), 0);

    /* keep about one entry: b then c go (unused, oldest first), a stays */
    assert_code(mmarr_cache_clear(fx->cache, NBYTES + 10, &removed, &e), MMARR_OK, e.message);
    assert_int_equal(removed, 2 * NBYTES + 5);
    assert_true(entry_exists(fx->cache, ea));
    assert_false(entry_exists(fx->cache, eb));
    assert_false(entry_exists(fx->cache, ec));
    assert_int_not_equal(stat(dead_tmp, &st), 0);
    assert_int_not_equal(stat(free_lock, &st), 0);
    assert_int_equal(stat(held_lock, &st), 0);
    assert_int_equal(stat(live_tmp, &st), 0);
    assert_int_equal(stat(foreign, &st), 0);

    /* keep 0: everything, the mapped entry too (and an empty stray one); its mapper keeps
     * its bytes */
    char *stray = tu_path(fx->cache, "22222222222222222222222222222222");
    assert_int_equal(tu_write_file(stray, "", 0), 0);
    assert_code(mmarr_cache_clear(fx->cache, 0, &removed, &e), MMARR_OK, e.message);
    assert_int_equal(removed, NBYTES);
    assert_false(entry_exists(fx->cache, ea));
    assert_int_not_equal(stat(stray, &st), 0);
    free(stray);
    unsigned char *want = expected(1, 0);
    assert_memory_equal(pa, want, NBYTES);
    free(want);
    memset(&acc, 0, sizeof acc);
    assert_code(mmarr_cache_list(fx->cache, list_cb, &acc, &e), MMARR_OK, e.message);
    assert_int_equal(acc.n, 0);

    /* the next user makes a new entry */
    map_and_close(fx, "a", 0, eb);
    assert_string_equal(eb, ea);
    assert_true(entry_exists(fx->cache, ea));

    close(lfd);
    assert_code(mmarr_cache_clear(fx->cache, 0, &removed, &e), MMARR_OK, e.message);
    assert_int_equal(removed, NBYTES + 3);
    const dir_counts c = count_dir(fx->cache);
    assert_int_equal(c.entries + c.tmps + c.locks, 0);
    assert_int_equal(c.others, 1);
    free(dead_tmp);
    free(free_lock);
    free(held_lock);
    free(live_tmp);
    free(foreign);
    mmarr_close(holder);
}

/* A replaced entry of the wrong size (damaged by hand) is not served: it is remade. */
static void test_cache__entry_of_wrong_size_is_replaced(void **state)
{
    fixture *fx = *state;
    char ea[33];
    map_and_close(fx, "a", 0, ea);
    char *ep = tu_path(fx->cache, ea);
    assert_int_equal(truncate(ep, NBYTES - 4), 0);
    mmarr_file *f = open_cached(fx, 0, 0);
    const void *p = map_ok(f, "a");
    unsigned char *want = expected(1, 0);
    assert_memory_equal(p, want, NBYTES);
    free(want);
    assert_int_equal(map_info(f, "a").source, MMARR_MAP_CACHE);
    struct stat st;
    assert_int_equal(stat(ep, &st), 0);
    assert_int_equal(st.st_size, NBYTES);
    free(ep);
    mmarr_close(f);
}

/* The point of it all: a second process's mapping shares the first one's pages. */
static int child_shared_pages(void *p)
{
    const fixture *fx = p;
    mmarr_file *f = NULL;
    const void *data = NULL;
    size_t idx = 0;
    if (mmarr_open(fx->path, 0, &f, NULL) || mmarr_file_set_cache(f, fx->cache, 0, NULL) ||
        mmarr_file_find(f, "c", &idx, NULL) || mmarr_file_map(f, idx, &data, NULL)) {
        mmarr_close(f);
        return 1;
    }
    volatile unsigned sum = 0;
    for (uint64_t i = 0; i < NBYTES; i += 4096)
        sum += ((const unsigned char *)data)[i];
    (void)sum;
    FILE *fp = fopen("/proc/self/smaps", "r");
    char line[512];
    unsigned long long shared_kb = 0;
    bool in = false;
    const unsigned long long a = (unsigned long long)(uintptr_t)data;
    while (fp && fgets(line, sizeof line, fp)) {
        unsigned long long lo, hi, kb;
        if (sscanf(line, "%llx-%llx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            in = lo <= a && a < hi;
        else if (in && (sscanf(line, "Shared_Clean: %llu kB", &kb) == 1 ||
                        sscanf(line, "Shared_Dirty: %llu kB", &kb) == 1))
            shared_kb += kb;
    }
    if (fp)
        fclose(fp);
    mmarr_close(f);
    /* every page of the mapping is also mapped by the parent */
    return shared_kb * 1024 >= (NBYTES / 4096) * 4096 ? 0 : 2;
}

static void test_cache__processes_share_pages(void **state)
{
    fixture *fx = *state;
    mmarr_file *f = open_cached(fx, 0, 0);
    const unsigned char *p = map_ok(f, "c");
    volatile unsigned sum = 0;
    for (uint64_t i = 0; i < NBYTES; i += 4096)
        sum += p[i];
    (void)sum;
    tu_reap_ok(spawn(child_shared_pages, fx, f, NULL));
    mmarr_close(f);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_cache__hot_array_maps_the_file),
        T(test_cache__cold_array_bytes_from_one_entry),
        T(test_cache__empty_cold_array),
        T(test_cache__bad_arguments),
        T(test_cache__handles_and_processes_share_the_entry),
        T(test_cache__four_processes_race_to_one_entry),
        T(test_cache__threads_of_one_handle),
        T(test_cache__rewritten_file_never_gets_old_entry),
        T(test_cache__unsafe_directories_refused),
        T(test_cache__environment_defaults),
        T(test_cache__bound_evicts_least_recently_used),
        T(test_cache__array_over_the_bound_is_private),
        T(test_cache__no_space_while_reserving_is_private),
        T(test_cache__buffer_handle_is_private),
        T(test_cache__damaged_chunk_is_an_error_and_not_cached),
        T(test_cache__list_and_clear),
        T(test_cache__entry_of_wrong_size_is_replaced),
        T(test_cache__processes_share_pages),
    };
#undef T
    return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
