/* SPDX-License-Identifier: MIT */
/*
 * test_cache.c — the shared decompression cache's fill protocol (mmarr.h "Shared
 * decompression cache"): mmarr_file_map() of a cold array gives its exact bytes from one
 * cache entry that every handle, thread and process of the user shares; racing first users
 * make exactly one entry; a file rewritten at the same path (or in place with other bytes)
 * never gets the old entry; a damaged chunk is an error and is not cached; a second process
 * shares the first one's pages. The directory itself (trust, bound, eviction, fallbacks,
 * listing): test_cache_dir.c. Each test has its own directory with the cache inside it
 * (testcache.h). Children report through their exit status only (no cmocka calls after fork).
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
#include "testcache.h"
#include "testutil.h"

/* ------------------------------------------------------------------------------------------ */
/* Mapping cold arrays through one shared entry                                               */

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
    tu_child_roots[3] = ep;
    tu_reap_ok(tu_spawn(child_map_same, fx, f1, f2));
    assert_int_equal(stat(ep, &st2), 0);
    assert_int_equal(st2.st_ino, st1.st_ino);
    const dir_counts c = count_dir(fx->cache);
    assert_int_equal(c.entries, 1);
    assert_int_equal(c.tmps, 0);
    assert_int_equal(c.locks, 0);

    /* a handle inherited across fork keeps its mapping, and mapping again is a lookup */
    pid_t pid = tu_spawn(child_lookup_again, f1, f2, ep);
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
        pids[i] = tu_spawn(child_race, &ra, NULL, NULL);
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
    tu_reap_ok(tu_spawn(child_shared_pages, fx, f, NULL));
    mmarr_close(f);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
    const struct CMUnitTest tests[] = {
        T(test_cache__hot_array_maps_the_file),
        T(test_cache__cold_array_bytes_from_one_entry),
        T(test_cache__empty_cold_array),
        T(test_cache__bad_arguments),
        T(test_cache__handles_and_processes_share_the_entry),
        T(test_cache__four_processes_race_to_one_entry),
        T(test_cache__threads_of_one_handle),
        T(test_cache__rewritten_file_never_gets_old_entry),
        T(test_cache__damaged_chunk_is_an_error_and_not_cached),
        T(test_cache__processes_share_pages),
    };
#undef T
    return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
