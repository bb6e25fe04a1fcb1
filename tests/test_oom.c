/* SPDX-License-Identifier: MIT */
/*
 * test_oom.c — allocation failures (issue 6, coverage of the out-of-memory paths): the test
 * replaces malloc/calloc/realloc/free (glibc lets a program interpose them, for its own calls
 * too) and makes the n-th allocation of a scenario fail, for n = 1, 2, ... until the scenario
 * runs through. The scenario writes a file through every writer path (add, reserve, streamed
 * and cold arrays, metadata, commit), opens it from the file and from memory, finds, reads
 * hot and cold arrays, iterates chunks, verifies, and maps the cold array through the shared
 * cache, lists and clears it. At every injection point:
 *
 *  - the failing call returns MMARR_E_NOMEM with a message, nothing crashes; or, for an
 *    allocation the library can do without (a cache), every call succeeds and the file is
 *    the same, byte for byte;
 *  - every allocation made during the scenario is freed once the handles are released (no
 *    leak on any error path);
 *  - a failed commit leaves neither the destination nor a temporary.
 *
 * Not built into sanitizer runs (ASan replaces malloc itself): the test skips there.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mmarr.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define OOM_INJECTION 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define OOM_INJECTION 0
#endif
#endif
#ifndef OOM_INJECTION
#define OOM_INJECTION 1
#endif

#if OOM_INJECTION
/* ---- the allocator: glibc's, with a countdown and a set of live allocations ---- */

void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t k);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

#define LIVE_SLOTS (1u << 16)
static void *live[LIVE_SLOTS]; /* open addressing; only while armed */
static size_t live_count;
static size_t live_bytes, peak_bytes; /* usable bytes of the live allocations, and their peak */
static int armed;
static long countdown;   /* the allocation that fails (1 = the next one); 0 = none */
static long allocations; /* made while armed */
static int injected;

static size_t slot_of(void *p)
{
    uintptr_t x = (uintptr_t)p >> 4;
    x ^= x >> 17;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 20) & (LIVE_SLOTS - 1);
}

static void live_add(void *p)
{
    if (!armed || !p)
        return;
    size_t i = slot_of(p);
    while (live[i])
        i = (i + 1) & (LIVE_SLOTS - 1);
    live[i] = p;
    live_count++;
    live_bytes += malloc_usable_size(p);
    if (live_bytes > peak_bytes)
        peak_bytes = live_bytes;
}

/* p's usable size: taken before p is freed or moved */
static void live_remove(void *p, size_t size)
{
    if (!p || !live_count)
        return;
    size_t i = slot_of(p);
    while (live[i] && live[i] != p)
        i = (i + 1) & (LIVE_SLOTS - 1);
    if (live[i] != p)
        return;
    live[i] = NULL;
    live_count--;
    live_bytes -= size;
    /* re-insert the rest of the cluster (deletion in linear probing) */
    for (size_t j = (i + 1) & (LIVE_SLOTS - 1); live[j]; j = (j + 1) & (LIVE_SLOTS - 1)) {
        void *q = live[j];
        live[j] = NULL;
        size_t k = slot_of(q);
        while (live[k])
            k = (k + 1) & (LIVE_SLOTS - 1);
        live[k] = q;
    }
}

static size_t largest; /* the largest allocation made while armed */

static int fail_now_n(size_t n)
{
    if (armed && n > largest)
        largest = n;
    if (!armed)
        return 0;
    allocations++;
    if (countdown && allocations == countdown) {
        injected = 1;
        return 1;
    }
    return 0;
}

void *malloc(size_t n)
{
    if (fail_now_n(n)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __libc_malloc(n);
    live_add(p);
    return p;
}

void *calloc(size_t n, size_t k)
{
    if (fail_now_n(n * k)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __libc_calloc(n, k);
    live_add(p);
    return p;
}

void *realloc(void *p, size_t n)
{
    if (fail_now_n(n)) {
        errno = ENOMEM;
        return NULL;
    }
    const size_t old = p ? malloc_usable_size(p) : 0;
    void *q = __libc_realloc(p, n);
    if (q || !n) {
        live_remove(p, old);
        live_add(q);
    }
    return q;
}

void free(void *p)
{
    live_remove(p, p ? malloc_usable_size(p) : 0);
    __libc_free(p);
}

/* ---- the scenario ---- */

typedef struct outcome {
    const char *step;  /* the call that failed, or NULL */
    mmarr_err code;
    char message[512];
    size_t listed; /* cache entries listed (1 unless a failed allocation made the map private) */
} outcome;

#define STEP(name, call)                                                                     \
    do {                                                                                     \
        mmarr_err rc_ = (call);                                                              \
        if (rc_ != MMARR_OK) {                                                               \
            o->step = (name);                                                                \
            o->code = rc_;                                                                   \
            goto done;                                                                       \
        }                                                                                    \
    } while (0)

static char g_cache_dir[256]; /* outside the test directory, whose entries are counted */

static int count_entry(const mmarr_cache_entry *ce, void *ctx)
{
    (void)ce;
    ++*(size_t *)ctx;
    return 0;
}

static void scenario(const char *path, unsigned char *img, size_t img_size, outcome *o)
{
    static unsigned char data[20000], got[20000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 7 + i / 300);
    mmarr_writer *w = NULL;
    mmarr_file *f = NULL, *g = NULL;
    mmarr_error e;
    memset(o, 0, sizeof *o);
    e.message[0] = '\0';
    mmarr_writer_options opt = {0};
    opt.flags = MMARR_WRITE_NO_SYNC;
    STEP("writer_create", mmarr_writer_create(path, &opt, &w, &e));
    uint64_t s1[2] = {10, 100}, s2[1] = {20000}, s3[1] = {3000};
    STEP("add", mmarr_writer_add(w, "a", "<f4", 2, s1, MMARR_ORDER_F, data));
    void *p = NULL;
    STEP("reserve", mmarr_writer_reserve(w, "r", "|u1", 1, s2, MMARR_ORDER_C, &p));
    memcpy(p, data, sizeof data);
    mmarr_compress_options co = {.level = 1, .chunk_size = 4096, .shuffle = 1, .threads = 1};
    STEP("add_cold", mmarr_writer_add_cold(w, "c", "<i4", 1, s3, MMARR_ORDER_C, data, &co));
    STEP("begin", mmarr_writer_begin(w, "s", "[('t', '<M8[ns]'), ('v', '<f8', (2,))]", 1, s3,
                                     MMARR_ORDER_C, NULL));
    for (size_t off = 0; off < 3000 * 24; off += 20000) /* streamed from a repeated buffer */
        STEP("write", mmarr_writer_write(w, data, 3000 * 24 - off < 20000 ? 3000 * 24 - off
                                                                            : 20000));
    STEP("end", mmarr_writer_end(w));
    STEP("set_file_meta", mmarr_writer_set_file_meta(w, "k", "v"));
    STEP("set_array_meta", mmarr_writer_set_array_meta(w, "c", "unit", "m"));
    STEP("commit", mmarr_writer_commit(w));
    mmarr_writer_free(w);
    w = NULL;

    STEP("open", mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e));
    mmarr_file_set_threads(f, 1);
    mmarr_array_info a;
    STEP("find", mmarr_file_find_array(f, "c", &a, &e));
    STEP("read_cold", mmarr_file_read(f, a.index, 100, got, 5000, &e));
    mmarr_chunk_info ci;
    STEP("chunk", mmarr_file_chunk(f, a.index, 1, &ci, &e));
    STEP("read_chunk", mmarr_file_read_chunk(f, a.index, 1, got, &e));
    STEP("verify", mmarr_file_verify(f, &e));
    /* the cold array through the shared cache: fill an entry, list it, clear it */
    STEP("set_cache", mmarr_file_set_cache(f, g_cache_dir, 0, &e));
    const void *m = NULL;
    STEP("map_cold", mmarr_file_map(f, a.index, &m, &e));
    if (memcmp(m, data, (size_t)a.nbytes) != 0)
        fail_msg("mapped cold array differs");
    size_t listed = 0;
    STEP("cache_list", mmarr_cache_list(g_cache_dir, count_entry, &listed, &e));
    o->listed = listed;
    STEP("cache_clear", mmarr_cache_clear(g_cache_dir, 0, NULL, &e));
    if (img) {
        STEP("open_buffer", mmarr_open_buffer(img, img_size, 0, &g, &e));
        mmarr_file_set_threads(g, 1);
        STEP("verify_buffer", mmarr_file_verify(g, &e));
        STEP("read_buffer", mmarr_file_read(g, a.index, 0, got, a.nbytes, &e));
    }
    mmarr_dtype *dt = NULL;
    STEP("dtype_parse", mmarr_dtype_parse("[('a', [('b', '>u2', (3,))]), ('', '|V2')]", &dt, &e));
    mmarr_dtype_free(dt);
done:
    if (o->step) {
        const mmarr_error *we = w ? mmarr_writer_error(w) : NULL;
        const char *msg = we && we->code == o->code ? we->message : e.message;
        snprintf(o->message, sizeof o->message, "%s", msg);
    }
    mmarr_writer_free(w);
    mmarr_close(f);
    mmarr_close(g);
}

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_oom__every_allocation_fails_in_turn(void **state)
{
    const char *dir = *state;
    char *path = tu_path(dir, "oom.mmarr");
    char *cache = tu_mkdtemp();
    snprintf(g_cache_dir, sizeof g_cache_dir, "%s/cache", cache);
    /* a reference run, and the file image for the buffer steps */
    outcome o;
    scenario(path, NULL, 0, &o);
    assert_null(o.step);
    assert_int_equal(o.listed, 1);
    size_t size;
    unsigned char *img = tu_read_file(path, &size);
    assert_non_null(img);
    assert_int_equal(unlink(path), 0);

    unsigned long points = 0, by_step_failures = 0, leaks = 0, absorbed = 0, wrong_code = 0;
    char first_failing_step[64][32];
    int nsteps = 0;
    for (long n = 1;; n++) {
        memset(live, 0, sizeof live);
        live_count = 0;
        allocations = 0;
        injected = 0;
        countdown = n;
        assert_int_equal(mmarr_cache_clear(g_cache_dir, 0, NULL, NULL), MMARR_OK);
        armed = 1;
        scenario(path, img, size, &o);
        armed = 0;
        const size_t leaked = live_count;
        if (!injected) {
            assert_null(o.step); /* past the last allocation: the scenario runs through */
            assert_int_equal(o.listed, 1);
            break;
        }
        points++;
        assert_true(o.listed <= 1);
        if (!o.step) {
            /* an allocation the library can do without (a cache): same file, byte for byte */
            size_t n2;
            unsigned char *again = tu_read_file(path, &n2);
            assert_non_null(again);
            if (n2 != size || memcmp(again, img, size) != 0)
                fail_msg("allocation %ld failed, every call succeeded, but the file differs", n);
            free(again);
            assert_int_equal(unlink(path), 0);
            if (leaked) {
                print_error("allocation %ld failed (absorbed): %zu allocations leaked\n", n,
                            leaked);
                leaks++;
            }
            absorbed++;
            continue;
        }
        if (o.code != MMARR_E_NOMEM || !o.message[0]) { /* reported, then the next point */
            print_error("allocation %ld failed in %s: %s instead of MMARR_E_NOMEM: %s\n", n,
                        o.step, mmarr_err_name(o.code), o.message);
            wrong_code++;
        }
        if (leaked) {
            print_error("allocation %ld failed in %s: %zu allocations leaked\n", n, o.step,
                        leaked);
            leaks++;
        }
        int known = 0;
        for (int i = 0; i < nsteps; i++)
            known |= !strcmp(first_failing_step[i], o.step);
        if (!known && nsteps < 64)
            snprintf(first_failing_step[nsteps++], 32, "%s", o.step);
        by_step_failures++;
        /* a failed write leaves nothing; a failed read leaves the complete file */
        const int writing = !strcmp(o.step, "writer_create") || !strcmp(o.step, "add") ||
                            !strcmp(o.step, "reserve") || !strcmp(o.step, "add_cold") ||
                            !strcmp(o.step, "begin") || !strcmp(o.step, "write") ||
                            !strcmp(o.step, "end") || !strcmp(o.step, "set_file_meta") ||
                            !strcmp(o.step, "set_array_meta") || !strcmp(o.step, "commit");
        assert_int_equal(dir_entries(dir), writing ? 0 : 1);
        if (!writing)
            assert_int_equal(unlink(path), 0);
    }
    printf("  %lu allocations failed in turn (%lu refused with another code than "
           "MMARR_E_NOMEM); steps that failed:", points, wrong_code);
    for (int i = 0; i < nsteps; i++)
        printf(" %s", first_failing_step[i]);
    printf("\n  %lu of them absorbed (optional allocations: the same file results); leaks: "
           "%lu\n", absorbed, leaks);
    assert_true(points > 50);
    assert_int_equal(wrong_code, 0);
    assert_int_equal(leaks, 0);
    free(img);
    free(path);
    tu_rmtree(cache);
}

/* A cold array of 1,000 float32 declared with 1 GiB chunks (the largest the format allows):
 * whole, partial and chunk reads and verification, shuffled or not, allocate for the bytes
 * the array has, never a whole chunk (a hostile file must not make a reader allocate 1 GiB
 * for a few bytes). */
static void test_oom__small_cold_array_with_huge_chunks(void **state)
{
    char *path = tu_path(*state, "huge_chunks.mmarr");
    static float data[1000];
    for (size_t i = 0; i < 1000; i++)
        data[i] = (float)i * 0.5f;
    for (int shuffle = 0; shuffle <= 1; shuffle++) {
        mmarr_writer_options opt = {.flags = MMARR_WRITE_NO_SYNC};
        mmarr_writer *w = NULL;
        mmarr_error e;
        assert_int_equal(mmarr_writer_create(path, &opt, &w, &e), MMARR_OK);
        mmarr_compress_options co = {.level = 1, .chunk_size = 1u << 30, .shuffle = shuffle};
        uint64_t shape[1] = {1000};
        assert_int_equal(mmarr_writer_add_cold(w, "c", "<f4", 1, shape, MMARR_ORDER_C, data, &co),
                         MMARR_OK);
        assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
        mmarr_writer_free(w);
        mmarr_file *f;
        assert_int_equal(mmarr_open(path, 0, &f, &e), MMARR_OK);
        mmarr_array_info a;
        assert_int_equal(mmarr_file_find_array(f, "c", &a, NULL), MMARR_OK);
        assert_int_equal(a.chunk_size, 1u << 30);
        static float got[1000];
        largest = 0;
        armed = 1;
        countdown = 0;
        mmarr_err r1 = mmarr_file_read(f, a.index, 0, got, sizeof got, &e);
        mmarr_err r2 = mmarr_file_read(f, a.index, 40, got, 400, &e); /* through a chunk buffer */
        mmarr_err r3 = mmarr_file_read_chunk(f, a.index, 0, got, &e);
        mmarr_err r4 = mmarr_file_verify(f, &e);
        armed = 0;
        assert_int_equal(r1, MMARR_OK);
        assert_int_equal(r2, MMARR_OK);
        assert_int_equal(r3, MMARR_OK);
        assert_int_equal(r4, MMARR_OK);
        assert_memory_equal(got, data, sizeof data);
        printf("  shuffle %d: largest allocation while reading %zu bytes\n", shuffle, largest);
        assert_true(largest < (1u << 20));
        mmarr_close(f);
    }
    free(path);
}

/* A cold array written whole (add_cold) or streamed in one call is compressed a batch at a
 * time: the memory the writer holds stays within a batch of chunks, not the array's size
 * (16 MiB of incompressible bytes here; before the fix the writer held all 16 MiB of
 * compressed chunks at once). */
static void test_oom__cold_writes_hold_a_batch_not_the_array(void **state)
{
    char *path = tu_path(*state, "big_cold.mmarr");
    const size_t nbytes = 16u << 20;
    unsigned char *data = malloc(nbytes);
    assert_non_null(data);
    tu_fill(data, nbytes, 7); /* pseudo-random: zstd cannot shrink it */
    for (int streamed = 0; streamed <= 1; streamed++) {
        mmarr_writer_options opt = {.flags = MMARR_WRITE_NO_SYNC};
        mmarr_writer *w = NULL;
        mmarr_error e;
        assert_int_equal(mmarr_writer_create(path, &opt, &w, &e), MMARR_OK);
        mmarr_compress_options co = {.level = 1, .chunk_size = 65536, .threads = 2};
        uint64_t shape[1] = {nbytes};
        live_bytes = peak_bytes = 0;
        armed = 1;
        countdown = 0;
        mmarr_err rc = streamed ? mmarr_writer_begin(w, "c", "|u1", 1, shape, MMARR_ORDER_C, &co)
                                : mmarr_writer_add_cold(w, "c", "|u1", 1, shape, MMARR_ORDER_C,
                                                        data, &co);
        if (streamed && rc == MMARR_OK) {
            rc = mmarr_writer_write(w, data, nbytes);
            if (rc == MMARR_OK)
                rc = mmarr_writer_end(w);
        }
        armed = 0;
        assert_int_equal(rc, MMARR_OK);
        printf("  %s: peak %zu bytes allocated while compressing %zu\n",
               streamed ? "begin + one write" : "add_cold", peak_bytes, nbytes);
        assert_true(peak_bytes < (4u << 20));
        assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
        mmarr_writer_free(w);
        mmarr_file *f;
        assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK);
        mmarr_array_info a;
        assert_int_equal(mmarr_file_find_array(f, "c", &a, NULL), MMARR_OK);
        assert_true(a.stored_bytes >= nbytes); /* incompressible, as intended */
        mmarr_close(f);
    }
    free(data);
    free(path);
}
#else
static void test_oom__every_allocation_fails_in_turn(void **state)
{
    (void)state;
    printf("  sanitizer build: the allocator cannot be replaced here, skipped\n");
    skip();
}

static void test_oom__small_cold_array_with_huge_chunks(void **state)
{
    (void)state;
    skip();
}

static void test_oom__cold_writes_hold_a_batch_not_the_array(void **state)
{
    (void)state;
    skip();
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_oom__every_allocation_fails_in_turn, tu_setup_dir,
                                        tu_teardown_dir),
        cmocka_unit_test_setup_teardown(test_oom__small_cold_array_with_huge_chunks,
                                        tu_setup_dir, tu_teardown_dir),
        cmocka_unit_test_setup_teardown(test_oom__cold_writes_hold_a_batch_not_the_array,
                                        tu_setup_dir, tu_teardown_dir),
    };
    return cmocka_run_group_tests_name("oom", tests, NULL, NULL);
}
