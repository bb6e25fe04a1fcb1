/* SPDX-License-Identifier: MIT */
/*
 * test_cache_dir.c — the shared decompression cache's directory (mmarr.h "Shared
 * decompression cache"): unsafe directories are refused; MMARR_CACHE_DIR/_MAX defaults; the
 * size bound evicts the least recently used unmapped entries; the private fallback (array
 * over the bound, bound full of mapped entries, file size limit while reserving, buffer
 * handles, unusable directory) still gives the right bytes; mmarr_cache_list()/_clear(); an
 * entry of the wrong size is replaced. Each test has its own directory with the cache inside
 * it (testcache.h). Children report through their exit status only.
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
/* Directory, bound and fallbacks                                                             */

static int count_cb(const mmarr_cache_entry *ce, void *ctx)
{
    (void)ce;
    ++*(int *)ctx;
    return 0;
}

static void test_cache_dir__unsafe_directories_refused(void **state)
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
        /* opening a 0777 directory up to anyone is never advised as chmod 700 */
        assert_true((strstr(e.message, "chmod 700") != NULL) == (bad_modes[i] != 0777));
    }
    /* a shared directory like /tmp: advise a directory of one's own, not chmod */
    assert_int_equal(chmod(fx->cache, 01777), 0);
    assert_code(mmarr_cache_list(fx->cache, count_cb, &(int){0}, &e), MMARR_E_IO, e.message);
    assert_null(strstr(e.message, "chmod"));
    assert_non_null(strstr(e.message, "of your own"));
    assert_int_equal(chmod(fx->cache, 0701), 0); /* still refused, for what follows */
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

static void test_cache_dir__environment_defaults(void **state)
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

static void test_cache_dir__bound_evicts_least_recently_used(void **state)
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

static void test_cache_dir__array_over_the_bound_is_private(void **state)
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

static void test_cache_dir__no_space_while_reserving_is_private(void **state)
{
    fixture *fx = *state;
    tu_reap_ok(tu_spawn(child_fsize_limit, fx, NULL, NULL));
    const dir_counts c = count_dir(fx->cache);
    assert_int_equal(c.entries, 0);
    assert_int_equal(c.tmps, 0);
    assert_int_equal(c.locks, 0);
}

static void test_cache_dir__buffer_handle_is_private(void **state)
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

static void test_cache_dir__list_and_clear(void **state)
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
static void test_cache_dir__entry_of_wrong_size_is_replaced(void **state)
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

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
    const struct CMUnitTest tests[] = {
        T(test_cache_dir__unsafe_directories_refused),
        T(test_cache_dir__environment_defaults),
        T(test_cache_dir__bound_evicts_least_recently_used),
        T(test_cache_dir__array_over_the_bound_is_private),
        T(test_cache_dir__no_space_while_reserving_is_private),
        T(test_cache_dir__buffer_handle_is_private),
        T(test_cache_dir__list_and_clear),
        T(test_cache_dir__entry_of_wrong_size_is_replaced),
    };
#undef T
    return cmocka_run_group_tests_name("cache_dir", tests, NULL, NULL);
}
