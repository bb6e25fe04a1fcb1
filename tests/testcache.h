/* SPDX-License-Identifier: MIT */
/*
 * testcache.h — the fixture of the shared-cache suites (test_cache.c, test_cache_dir.c): a
 * test directory holding "data.mmarr" and the cache directory "cache", and the calls on them
 * that must succeed. Include it after <cmocka.h>.
 */
#ifndef MMARR_TESTCACHE_H
#define MMARR_TESTCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mmarr.h"

/* Three cold arrays of the same size with different bytes, chunked so the last chunk is
 * partial, plus a hot one ("hot", 100 x <i8) and an empty cold one ("empty"). */
#define N_ITEMS 70001u /* 280004 bytes of <f4: 5 chunks of 64 KiB, the last partial */
#define NBYTES ((uint64_t)N_ITEMS * 4)
#define CHUNK 65536u
extern const char *const cold_names[3]; /* "a", "b", "c" */

typedef struct fixture {
    char *dir;
    char *path;  /* dir/data.mmarr */
    char *cache; /* dir/cache */
} fixture;

/* n bytes of array content for `seed`: compressible, but not trivially. */
void fill_array(unsigned char *p, size_t n, uint64_t seed);
/* The NBYTES of cold array k of the file written with `seed` (malloc'd). */
unsigned char *expected(uint64_t seed, size_t k);
/* Write the fixture file; `seed` changes every array's bytes. */
void write_file(const char *path, uint64_t seed);
/* cmocka fixtures: a fresh fixture (file written with seed 1, MMARR_CACHE_DIR and
 * MMARR_CACHE_MAX unset) in *state, removed afterwards. */
int fixture_setup(void **state);
int fixture_teardown(void **state);

/* The fixture file opened with `flags` and its cache set to fx->cache with max_bytes. */
mmarr_file *open_cached(const fixture *fx, unsigned flags, uint64_t max_bytes);
size_t index_of(mmarr_file *f, const char *name);
/* mmarr_file_map / mmarr_file_map_info of the array named name succeed. */
const void *map_ok(mmarr_file *f, const char *name);
mmarr_map_info map_info(mmarr_file *f, const char *name);

/* The cache directory's files by kind (0s if it does not exist). */
typedef struct dir_counts {
    int entries, tmps, locks, others;
} dir_counts;
dir_counts count_dir(const char *dir);
bool entry_exists(const char *cache, const char *entry);
void set_entry_mtime(const char *cache, const char *entry, time_t t);
/* The inode of the file mapped at p, from /proc/self/maps (0 if none). */
unsigned long long mapped_inode(const void *p);

#endif
