/* SPDX-License-Identifier: MIT */
/* testcache.c — see testcache.h. */
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

const char *const cold_names[3] = {"a", "b", "c"};

void fill_array(unsigned char *p, size_t n, uint64_t seed)
{
    tu_fill(p, n, seed);
    for (size_t i = 0; i < n; i++) /* compressible, but not trivially */
        if ((i / 5) % 3)
            p[i] = (unsigned char)(i / 1024 + seed);
}

unsigned char *expected(uint64_t seed, size_t k)
{
    unsigned char *p = malloc(NBYTES);
    assert_non_null(p);
    fill_array(p, NBYTES, seed * 16 + k);
    return p;
}

/* Write the fixture file; `seed` changes every array's bytes. */
void write_file(const char *path, uint64_t seed)
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

int fixture_setup(void **state)
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

int fixture_teardown(void **state)
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

mmarr_file *open_cached(const fixture *fx, unsigned flags, uint64_t max_bytes)
{
    mmarr_file *f = NULL;
    mmarr_error e;
    assert_code(mmarr_open(fx->path, flags, &f, &e), MMARR_OK, e.message);
    assert_code(mmarr_file_set_cache(f, fx->cache, max_bytes, &e), MMARR_OK, e.message);
    return f;
}

size_t index_of(mmarr_file *f, const char *name)
{
    size_t i;
    mmarr_error e;
    assert_code(mmarr_file_find(f, name, &i, &e), MMARR_OK, e.message);
    return i;
}

const void *map_ok(mmarr_file *f, const char *name)
{
    const void *p = NULL;
    mmarr_error e;
    assert_code(mmarr_file_map(f, index_of(f, name), &p, &e), MMARR_OK, e.message);
    assert_non_null(p);
    return p;
}

mmarr_map_info map_info(mmarr_file *f, const char *name)
{
    mmarr_map_info mi;
    mmarr_error e;
    assert_code(mmarr_file_map_info(f, index_of(f, name), &mi, &e), MMARR_OK, e.message);
    return mi;
}

dir_counts count_dir(const char *dir)
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

bool entry_exists(const char *cache, const char *entry)
{
    char *p = tu_path(cache, entry);
    struct stat st;
    const bool ok = stat(p, &st) == 0;
    free(p);
    return ok;
}

void set_entry_mtime(const char *cache, const char *entry, time_t t)
{
    char *p = tu_path(cache, entry);
    const struct timespec ts[2] = {{t, 0}, {t, 0}};
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
    free(p);
}

/* The inode of the file mapped at p, from /proc/self/maps (0 if none). */
unsigned long long mapped_inode(const void *p)
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
