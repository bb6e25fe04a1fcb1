/* SPDX-License-Identifier: MIT */
/*
 * test_append.c — files that grow (spec.md §4.4, issue #19) through the public API: arrays,
 * metadata and deletions appended as new generations; readers that keep their generation
 * until they refresh, and wait for a newer one; one writer at a time; an abandoned append
 * leaving the file byte for byte; a damaged newest generation opening at the one before;
 * appenders killed at random moments (every image opens at the old or the new generation,
 * never torn); readers in other processes during a storm of appends.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "mmarr.h"
#include "mmarr_format.h"
#include "testutil.h"

#define NOSYNC ((mmarr_writer_options){.flags = MMARR_WRITE_NO_SYNC})

/* Array "a<k>": n int64 values k * 1000003 + i, so any reader can check any array. */
static int64_t *values(uint64_t k, uint64_t n)
{
    int64_t *v = malloc(n * sizeof *v + 1);
    for (uint64_t i = 0; i < n; i++)
        v[i] = (int64_t)(k * 1000003 + i);
    return v;
}

static void add_k(mmarr_writer *w, uint64_t k, uint64_t n, int cold)
{
    char name[32];
    snprintf(name, sizeof name, "a%llu", (unsigned long long)k);
    int64_t *v = values(k, n);
    mmarr_compress_options c = {.level = 1, .chunk_size = 4096};
    mmarr_err rc = cold ? mmarr_writer_add_cold(w, name, "<i8", 1, &n, MMARR_ORDER_C, v, &c)
                        : mmarr_writer_add(w, name, "<i8", 1, &n, MMARR_ORDER_C, v);
    if (rc)
        print_error("%s\n", mmarr_writer_error(w)->message);
    assert_int_equal(rc, MMARR_OK);
    free(v);
}

/* Every array of f is an "a<k>" array with its values; returns how many there are. */
static size_t check_all(mmarr_file *f)
{
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    for (size_t i = 0; i < fi.count; i++) {
        mmarr_array_info a;
        mmarr_error e;
        assert_int_equal(mmarr_file_array(f, i, &a, &e), MMARR_OK);
        unsigned long long k;
        assert_int_equal(sscanf(a.name, "a%llu", &k), 1);
        int64_t *want = values(k, a.nitems), *got = malloc(a.nbytes + 1);
        assert_int_equal(mmarr_file_read(f, i, 0, got, a.nbytes, &e), MMARR_OK);
        assert_memory_equal(got, want, a.nbytes);
        if (a.data)
            assert_memory_equal(a.data, want, a.nbytes);
        free(want);
        free(got);
    }
    return fi.count;
}

static uint64_t generation(mmarr_file *f)
{
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    return fi.generation;
}

static char *make_base(void **state, uint64_t arrays)
{
    char *path = tu_path(*state, "g.mmarr");
    mmarr_writer_options o = NOSYNC;
    mmarr_writer *w;
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    for (uint64_t k = 0; k < arrays; k++)
        add_k(w, k, 100 + k * 700, (int)(k % 3 == 2));
    assert_int_equal(mmarr_writer_set_file_meta(w, "owner", "test"), MMARR_OK);
    assert_int_equal(mmarr_writer_set_array_meta(w, "a0", "unit", "m"), MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    return path;
}

static void test_append__arrays_metadata_and_readers(void **state)
{
    char *path = make_base(state, 4);
    mmarr_error e;
    mmarr_file *old;
    assert_int_equal(mmarr_open(path, 0, &old, &e), MMARR_OK);
    mmarr_array_info a0;
    assert_int_equal(mmarr_file_find_array(old, "a0", &a0, &e), MMARR_OK);
    const void *a0_data = a0.data;

    mmarr_writer_options o = NOSYNC;
    mmarr_writer *w;
    assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_OK);
    assert_int_equal(mmarr_writer_count(w), 4);
    add_k(w, 10, 5000, 0);
    add_k(w, 11, 3000, 1);
    add_k(w, 12, 3, 0); /* packed */
    assert_int_equal(mmarr_writer_set_file_meta(w, "owner", "changed"), MMARR_OK);
    assert_int_equal(mmarr_writer_set_file_meta(w, "day", "2"), MMARR_OK);
    assert_int_equal(mmarr_writer_set_array_meta(w, "a10", "unit", "s"), MMARR_OK);
    assert_int_equal(mmarr_writer_delete(w, "a1"), MMARR_OK);
    assert_int_equal(mmarr_writer_delete(w, "a1"), MMARR_E_NOTFOUND);
    assert_int_equal(mmarr_writer_delete(w, "a2"), MMARR_OK); /* cold */
    add_k(w, 2, 77, 0);                                       /* replaced, hot now */
    int newer = -1;
    assert_int_equal(mmarr_file_wait(old, 0, &newer, &e), MMARR_OK);
    assert_int_equal(newer, 0);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);

    /* the old handle still holds generation 1, unchanged */
    assert_int_equal(generation(old), 1);
    assert_int_equal(check_all(old), 4);
    assert_string_equal(mmarr_file_meta_get(old, "owner"), "test");
    assert_int_equal(mmarr_file_wait(old, 1000, &newer, &e), MMARR_OK);
    assert_int_equal(newer, 1);
    int changed = -1;
    assert_int_equal(mmarr_file_refresh(old, &changed, &e), MMARR_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(generation(old), 2);
    assert_int_equal(check_all(old), 6);            /* a0 a3 a10 a11 a12 a2 */
    assert_memory_equal(a0_data, a0.data, 100 * 8); /* old pointers stay valid */
    assert_string_equal(mmarr_file_meta_get(old, "owner"), "changed");
    assert_string_equal(mmarr_file_meta_get(old, "day"), "2");
    mmarr_array_info a;
    assert_int_equal(mmarr_file_find_array(old, "a1", &a, &e), MMARR_E_NOTFOUND);
    assert_int_equal(mmarr_file_find_array(old, "a2", &a, &e), MMARR_OK);
    assert_int_equal(a.nitems, 77);
    assert_int_equal(a.storage, MMARR_STORAGE_RAW);
    assert_int_equal(mmarr_file_find_array(old, "a10", &a, &e), MMARR_OK);
    assert_string_equal(mmarr_array_meta_get(old, a.index, "unit"), "s");
    assert_int_equal(mmarr_file_find_array(old, "a0", &a, &e), MMARR_OK);
    assert_string_equal(mmarr_array_meta_get(old, a.index, "unit"), "m");
    assert_int_equal(a.offset, a0.offset); /* not moved */
    assert_int_equal(mmarr_file_refresh(old, &changed, &e), MMARR_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(mmarr_file_verify(old, &e), MMARR_OK);
    mmarr_close(old);

    /* a fresh open sees generation 2; a third append goes to slot A again */
    mmarr_file *f;
    assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK);
    assert_int_equal(generation(f), 2);
    mmarr_close(f);
    assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_OK);
    add_k(w, 20, 10, 0);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK);
    assert_int_equal(generation(f), 3);
    assert_int_equal(check_all(f), 7);
    mmarr_close(f);
    free(path);
}

static void test_append__one_writer_and_abandon(void **state)
{
    char *path = make_base(state, 2);
    mmarr_error e;
    size_t size0;
    unsigned char *before = tu_read_file(path, &size0);
    mmarr_writer_options o = NOSYNC;
    mmarr_writer *w, *w2;
    assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_OK);
    assert_int_equal(mmarr_writer_open_append(path, &o, &w2, &e), MMARR_E_BUSY);
    assert_non_null(strstr(e.message, "one writer at a time"));
    mmarr_file *rw;
    assert_int_equal(mmarr_open(path, MMARR_OPEN_RDWR, &rw, &e), MMARR_E_BUSY);
    mmarr_file *ro; /* readers never wait */
    assert_int_equal(mmarr_open(path, 0, &ro, &e), MMARR_OK);
    mmarr_close(ro);
    add_k(w, 5, 200000, 0);
    add_k(w, 6, 100000, 1);
    assert_int_equal(mmarr_writer_add(w, "a5", "<i8", 0, NULL, MMARR_ORDER_C, "12345678"),
                     MMARR_E_EXISTS);
    mmarr_writer_free(w); /* abandoned: the file is as it was */
    size_t size1;
    unsigned char *after = tu_read_file(path, &size1);
    assert_int_equal(size1, size0);
    assert_memory_equal(after, before, size0);
    free(after);
    /* the lock went with it; a read-write handle keeps appenders out */
    assert_int_equal(mmarr_open(path, MMARR_OPEN_RDWR, &rw, &e), MMARR_OK);
    assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_E_BUSY);
    mmarr_close(rw);
    assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_OK);
    mmarr_writer_free(w);
    free(before);
    free(path);
}

/* The newest generation damaged after its slot was written: its index (a flipped byte) or
 * its tail (the file cut short): open gives the one before, verify says what was lost. */
static void test_append__damaged_newest_generation(void **state)
{
    char *path = make_base(state, 3);
    mmarr_error e;
    mmarr_writer_options o = NOSYNC;
    mmarr_writer *w;
    assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_OK);
    add_k(w, 9, 1000, 0);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    size_t size;
    unsigned char *img = tu_read_file(path, &size);
    const mmarr_disk_slot *b = (const mmarr_disk_slot *)(img + MMARR_SLOT_B_OFFSET);
    assert_int_equal(b->generation, 2);
    const uint64_t ioff = b->index_offset;
    for (int how = 0; how < 3; how++) {
        unsigned char *copy = malloc(size);
        memcpy(copy, img, size);
        size_t n = size;
        if (how == 0)
            copy[ioff + 40] ^= 1; /* index checksum */
        else if (how == 1)
            n = (size_t)ioff + 100; /* tail cut short */
        else
            copy[MMARR_SLOT_B_OFFSET + 3] ^= 1; /* torn slot */
        assert_int_equal(tu_write_file(path, copy, n), 0);
        mmarr_file *f;
        assert_int_equal(mmarr_open(path, 0, &f, &e), MMARR_OK);
        assert_int_equal(generation(f), 1);
        assert_int_equal(check_all(f), 3);
        mmarr_file_info fi;
        mmarr_file_get_info(f, &fi);
        assert_int_equal(fi.damaged_generation, how < 2 ? 2 : 0);
        mmarr_err rc = mmarr_file_verify(f, &e);
        assert_true(rc == MMARR_E_CHECKSUM || rc == MMARR_E_TRUNCATED);
        if (how < 2)
            assert_non_null(strstr(e.message, "generation 2 is damaged"));
        mmarr_close(f);
        /* the next append builds on generation 1 and replaces the damaged one */
        assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_OK);
        add_k(w, 30, 10, 0);
        assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
        mmarr_writer_free(w);
        assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK);
        assert_int_equal(generation(f), 2);
        assert_int_equal(check_all(f), 4);
        mmarr_close(f);
        free(copy);
    }
    free(img);
    free(path);
}

static void test_append__ragged_delete(void **state)
{
    char *path = tu_path(*state, "r.mmarr");
    mmarr_writer_options o = NOSYNC;
    mmarr_writer *w;
    mmarr_error e;
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    const uint64_t nv = 6, no = 4;
    const int64_t v[6] = {0, 1, 2, 3, 4, 5};
    const uint64_t off[4] = {0, 1, 3, 6};
    assert_int_equal(mmarr_writer_add(w, "v", "<i8", 1, &nv, MMARR_ORDER_C, v), MMARR_OK);
    assert_int_equal(mmarr_writer_add(w, "v.off", "<u8", 1, &no, MMARR_ORDER_C, off), MMARR_OK);
    assert_int_equal(mmarr_writer_ragged(w, "v", "v.off", MMARR_RAGGED_ARRAYS), MMARR_OK);
    add_k(w, 1, 10, 0);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_OK);
    assert_int_equal(mmarr_writer_delete(w, "v.off"), MMARR_E_INVAL);
    add_k(w, 2, 10, 0);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    mmarr_file *f;
    assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK);
    assert_int_equal(mmarr_file_ragged_count(f), 1);
    mmarr_close(f);
    assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_OK);
    assert_int_equal(mmarr_writer_delete(w, "v"), MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK);
    assert_int_equal(mmarr_file_ragged_count(f), 0);
    assert_int_equal(check_all(f), 2);
    mmarr_close(f);
    free(path);
}

/* A child appends (with fsync) and is killed at a random moment; every time the file must
 * open at the generation before or the one after, with every array intact. */
static void test_append__killed_appenders(void **state)
{
    char *path = make_base(state, 2);
    uint64_t gen = 1, k = 100;
    srand(7);
    int saw_old = 0, saw_new = 0;
    for (int round = 0; round < 60; round++, k++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            mmarr_writer_options o = {0};
            mmarr_writer *w;
            if (mmarr_writer_open_append(path, &o, &w, NULL))
                _exit(3);
            for (uint64_t j = 0; j < 4; j++)
                add_k(w, k * 10 + j, 20000 + j * 5000, (int)(j == 2));
            _exit(mmarr_writer_commit(w) ? 4 : 0);
        }
        struct timespec t = {0, (long)(rand() % 6000) * 1000};
        nanosleep(&t, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        assert_true(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0));
        mmarr_file *f;
        mmarr_error e;
        assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK);
        const uint64_t g = generation(f);
        assert_true(g == gen || g == gen + 1);
        saw_old += g == gen;
        saw_new += g == gen + 1;
        gen = g;
        check_all(f);
        mmarr_close(f);
    }
    assert_true(saw_old > 0);
    assert_true(saw_new > 0);
    free(path);
}

/* Readers in other processes, opening and refreshing, while this process appends: every
 * generation they see verifies, and they see it grow. (A reader whose open raced with two
 * commits found both slots past its mapping: MMARR_E_TRUNCATED, exit 3, 1 run in 10 under
 * load, before the open mapped the grown file again.) */
static void test_append__readers_during_appends(void **state)
{
    char *path = make_base(state, 1);
    enum { READERS = 3, APPENDS = 150 };
    pid_t kids[READERS];
    for (int r = 0; r < READERS; r++) {
        kids[r] = fork();
        assert_true(kids[r] >= 0);
        if (kids[r] == 0) {
            mmarr_file *f;
            if (mmarr_open(path, 0, &f, NULL))
                _exit(2);
            uint64_t last = 0;
            int seen = 0;
            for (;;) {
                int changed;
                if (mmarr_file_refresh(f, &changed, NULL))
                    _exit(3);
                const uint64_t g = generation(f);
                if (g < last)
                    _exit(4);
                seen += g > last;
                last = g;
                mmarr_file_info fi;
                mmarr_file_get_info(f, &fi);
                if (check_all(f) != fi.count)
                    _exit(5);
                if (fi.damaged_generation) /* a race with the appender is not damage */
                    _exit(7);
                if (fi.count >= 1 + APPENDS)
                    break;
                if (r == 0) { /* one reader waits instead of spinning */
                    int newer;
                    mmarr_file_wait(f, 2000, &newer, NULL);
                }
            }
            mmarr_close(f);
            _exit(seen > 1 ? 0 : 6);
        }
    }
    mmarr_writer_options o = NOSYNC;
    for (uint64_t k = 1; k <= APPENDS; k++) {
        mmarr_writer *w;
        mmarr_error e;
        assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_OK);
        add_k(w, 1000 + k, 1000 + (k % 7) * 3000, (int)(k % 5 == 0));
        assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
        mmarr_writer_free(w);
    }
    for (int r = 0; r < READERS; r++) {
        int status;
        waitpid(kids[r], &status, 0);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    free(path);
}

/* Growable arrays (spec.md §7.8): rows appended in place across generations; readers of an
 * older generation keep their rows; the region costs no space until written; capacity
 * enforced; an abandoned append of rows leaves the published rows and checksums; deletion;
 * in-place writes and a rehash keep the block checksums truthful. */
static void rows_of(int64_t *v, uint64_t from, uint64_t n)
{
    for (uint64_t r = 0; r < n; r++)
        for (int c = 0; c < 3; c++)
            v[r * 3 + c] = (int64_t)((from + r) * 10 + (uint64_t)c);
}

static void check_rows(mmarr_file *f, uint64_t want_rows)
{
    mmarr_array_info a;
    mmarr_error e;
    assert_int_equal(mmarr_file_find_array(f, "g", &a, &e), MMARR_OK);
    assert_int_equal(a.shape[0], want_rows);
    assert_int_equal(a.shape[1], 3);
    assert_int_equal(a.capacity, 100000);
    int64_t *want = malloc(want_rows * 24 + 1);
    rows_of(want, 0, want_rows);
    assert_memory_equal(a.data, want, want_rows * 24);
    assert_int_equal(mmarr_file_verify_array(f, a.index, &e), MMARR_OK);
    free(want);
}

static void test_append__growable_rows(void **state)
{
    char *path = tu_path(*state, "grow.mmarr");
    mmarr_writer_options o = NOSYNC;
    mmarr_writer *w;
    mmarr_error e;
    int64_t *buf = malloc(100000 * 24);
    rows_of(buf, 0, 10);
    const uint64_t shape[2] = {10, 3};
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    assert_int_equal(mmarr_writer_add_growable(w, "g", "<i8", 2, shape, 100000, buf), MMARR_OK);
    add_k(w, 1, 50, 0);
    assert_int_equal(mmarr_writer_append_rows(w, "a1", buf, 1, 8), MMARR_E_INVAL);
    assert_int_equal(mmarr_writer_append_rows(w, "g", buf, 1, 16), MMARR_E_INVAL); /* 24 */
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 100000 * 24);               /* the region is in the file ... */
    assert_true((uint64_t)st.st_blocks * 512 < 1 << 20); /* ... as a hole */
    mmarr_file *old;
    assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &old, &e), MMARR_OK);
    mmarr_file_info fi;
    mmarr_file_get_info(old, &fi);
    assert_int_equal(fi.format_minor, 2);
    assert_true(fi.required_features & MMARR_FEAT_REQ_GROWABLE);
    check_rows(old, 10);

    uint64_t rows = 10;
    for (int gen = 0; gen < 3; gen++) { /* 3 appends, the middle one across blocks */
        const uint64_t add = gen == 1 ? 60000 : 7;
        assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_OK);
        rows_of(buf, rows, add);
        assert_int_equal(mmarr_writer_append_rows(w, "g", buf, add, add * 24), MMARR_OK);
        assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
        mmarr_writer_free(w);
        rows += add;
    }
    check_rows(old, 10); /* the old generation: its rows, its checksums */
    int changed;
    assert_int_equal(mmarr_file_refresh(old, &changed, &e), MMARR_OK);
    check_rows(old, rows);
    assert_int_equal(mmarr_file_verify(old, &e), MMARR_OK);

    /* past the capacity; an abandoned append of rows */
    assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_OK);
    assert_int_equal(mmarr_writer_append_rows(w, "g", buf, 100000 - rows + 1, 0), MMARR_E_RANGE);
    rows_of(buf, rows, 5000);
    assert_int_equal(mmarr_writer_append_rows(w, "g", buf, 5000, 5000 * 24), MMARR_OK);
    mmarr_writer_free(w);
    mmarr_file *f;
    assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK);
    check_rows(f, rows);
    mmarr_close(f);

    /* in place through a read-write handle, then a rehash: blocks recomputed */
    mmarr_close(old);
    assert_int_equal(mmarr_open(path, MMARR_OPEN_RDWR, &f, &e), MMARR_OK);
    mmarr_array_info a;
    assert_int_equal(mmarr_file_find_array(f, "g", &a, &e), MMARR_OK);
    int64_t v = -1;
    assert_int_equal(mmarr_file_write(f, a.index, 8 * 3 * 40000, &v, 8, &e), MMARR_OK);
    assert_int_equal(mmarr_file_verify_array(f, a.index, &e), MMARR_E_STALE);
    assert_int_equal(mmarr_file_flush(f, MMARR_FLUSH_REHASH, &e), MMARR_OK);
    assert_int_equal(mmarr_file_verify(f, &e), MMARR_OK);
    mmarr_close(f);

    /* deleted in a later generation: the rest stays */
    assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_OK);
    assert_int_equal(mmarr_writer_delete(w, "g"), MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK);
    mmarr_file_get_info(f, &fi);
    assert_false(fi.required_features & MMARR_FEAT_REQ_GROWABLE);
    assert_int_equal(check_all(f), 1);
    mmarr_close(f);
    free(buf);
    free(path);
}

/* Cold growable arrays (spec.md §7.8): chunks gained after the file's end; the last chunk,
 * when not full, is compressed again with the new rows (decoded from the file, or kept by
 * the writer between appends of one session); the frames extend the array's extent while
 * nothing lies between, else start an extra extent; earlier generations keep their chunks. */
static void check_cold_rows(mmarr_file *f, const char *name, uint64_t want_rows)
{
    mmarr_array_info a;
    mmarr_error e;
    assert_int_equal(mmarr_file_find_array(f, name, &a, &e), MMARR_OK);
    assert_int_equal(a.storage, MMARR_STORAGE_COLD);
    assert_int_equal(a.shape[0], want_rows);
    assert_int_equal(a.capacity, 1000000);
    int64_t *want = malloc(want_rows * 24 + 1), *got = malloc(want_rows * 24 + 1);
    rows_of(want, 0, want_rows);
    assert_int_equal(mmarr_file_read(f, a.index, 0, got, want_rows * 24, &e), MMARR_OK);
    assert_memory_equal(got, want, want_rows * 24);
    assert_int_equal(mmarr_file_verify_array(f, a.index, &e), MMARR_OK);
    free(want);
    free(got);
}

static uint64_t extents_of(mmarr_file *f, const char *name)
{
    /* distinct runs of frames: a gap between two frames larger than an index would be
     * another extent; count the frames that do not follow the previous one closely */
    mmarr_array_info a;
    mmarr_error e;
    assert_int_equal(mmarr_file_find_array(f, name, &a, &e), MMARR_OK);
    uint64_t runs = 0, end = 0;
    for (size_t k = 0; k < a.chunk_count; k++) {
        mmarr_chunk_info c;
        assert_int_equal(mmarr_file_chunk(f, a.index, k, &c, &e), MMARR_OK);
        runs += k == 0 || c.stored_offset > end + 65536;
        end = c.stored_offset + c.stored_size;
    }
    return runs;
}

static void test_append__growable_cold(void **state)
{
    char *path = tu_path(*state, "coldgrow.mmarr");
    mmarr_writer_options o = NOSYNC;
    mmarr_compress_options co = {.chunk_size = 4096, .shuffle = 1, .level = 1};
    mmarr_writer *w;
    mmarr_error e;
    int64_t *buf = malloc(200000 * 24);
    rows_of(buf, 0, 1000);
    const uint64_t shape[2] = {1000, 3}, none[2] = {0, 3};
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    assert_int_equal(mmarr_writer_add_growable_cold(w, "c", "<i8", 2, shape, 999, buf, &co),
                     MMARR_E_INVAL); /* capacity below the rows */
    assert_int_equal(mmarr_writer_add_growable_cold(w, "c", "<i8", 2, shape, 1000000, buf, &co),
                     MMARR_OK);
    assert_int_equal(mmarr_writer_add_growable_cold(w, "e", "<i8", 2, none, 1000000, NULL, NULL),
                     MMARR_OK);
    rows_of(buf, 1000, 100); /* in the same session: the tail decoded from the temporary */
    assert_int_equal(mmarr_writer_append_rows(w, "c", buf, 100, 2400), MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    mmarr_file *old;
    assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &old, &e), MMARR_OK);
    assert_int_equal(mmarr_file_verify(old, &e), MMARR_OK);
    check_cold_rows(old, "c", 1100);
    check_cold_rows(old, "e", 0);

    /* appends alone: the extent grows over the old index, one extent */
    uint64_t rows = 1100;
    for (int gen = 0; gen < 3; gen++) {
        const uint64_t add = gen == 1 ? 5000 : 7;
        assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_OK);
        rows_of(buf, rows, add);
        assert_int_equal(mmarr_writer_append_rows(w, "c", buf, add, add * 24), MMARR_OK);
        rows += add;
        rows_of(buf, rows, 3); /* a second append of the session: the tail kept in memory */
        assert_int_equal(mmarr_writer_append_rows(w, "c", buf, 3, 3 * 24), MMARR_OK);
        rows += 3;
        assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
        mmarr_writer_free(w);
    }
    mmarr_file *f;
    assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK);
    check_cold_rows(f, "c", rows);
    assert_int_equal(extents_of(f, "c"), 1);
    mmarr_close(f);

    /* another array after it, then rows: an extra extent; the empty one gains rows too */
    assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_OK);
    add_k(w, 1, 20000, 0);
    rows_of(buf, rows, 20000);
    assert_int_equal(mmarr_writer_append_rows(w, "c", buf, 20000, 20000 * 24), MMARR_OK);
    rows_of(buf, 0, 10);
    assert_int_equal(mmarr_writer_append_rows(w, "e", buf, 10, 240), MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    rows += 20000;
    assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK);
    assert_int_equal(mmarr_file_verify(f, &e), MMARR_OK);
    check_cold_rows(f, "c", rows);
    check_cold_rows(f, "e", 10);
    assert_true(extents_of(f, "c") >= 2);
    mmarr_close(f);

    /* the first generation still reads as it was, and refreshes to the newest */
    check_cold_rows(old, "c", 1100);
    int changed;
    assert_int_equal(mmarr_file_refresh(old, &changed, &e), MMARR_OK);
    check_cold_rows(old, "c", rows);
    mmarr_close(old);

    /* a damaged last chunk: rows cannot be appended after it, and nothing is published */
    assert_int_equal(mmarr_open(path, 0, &f, &e), MMARR_OK);
    mmarr_array_info a;
    mmarr_chunk_info c;
    assert_int_equal(mmarr_file_find_array(f, "c", &a, &e), MMARR_OK);
    assert_int_equal(mmarr_file_chunk(f, a.index, a.chunk_count - 1, &c, &e), MMARR_OK);
    mmarr_close(f);
    if (c.raw_size < 4096) {
        size_t size;
        unsigned char *img = tu_read_file(path, &size);
        img[c.stored_offset + c.stored_size / 2] ^= 0x55;
        assert_int_equal(tu_write_file(path, img, size), 0);
        free(img);
        assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_OK);
        const mmarr_err rc = mmarr_writer_append_rows(w, "c", buf, 1, 24);
        assert_true(rc == MMARR_E_CHECKSUM || rc == MMARR_E_CORRUPT);
        mmarr_writer_free(w);
    }
    free(buf);
    free(path);
}

/* Chunk runs of the chunk table while a cold growable array gains chunks (moved to the
 * table's end, its last chunk replaced) beside an empty cold array, whose run is empty: after
 * a deletion, another cold array and a second append, every run is where the index needs it
 * (found by review: an empty array's chunk_first wrapped to 2^32 - 1). */
static void test_append__cold_chunk_runs(void **state)
{
    char *path = tu_path(*state, "runs.mmarr");
    mmarr_writer_options o = NOSYNC;
    mmarr_compress_options co = {.chunk_size = 36, .threads = 1}; /* 3 rows a chunk */
    const uint64_t one[2] = {1, 3}, zero[2] = {0, 3};
    unsigned char rows[10 * 12];
    for (size_t i = 0; i < sizeof rows; i++)
        rows[i] = (unsigned char)i;
    for (int variant = 0; variant < 3; variant++) {
        mmarr_writer *w;
        mmarr_error e;
        assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
        assert_int_equal(mmarr_writer_add_growable_cold(w, "c", "<u4", 2, one, 100, rows, &co),
                         MMARR_OK);
        assert_int_equal(mmarr_writer_add_cold(w, "x", "<u4", 2, zero, MMARR_ORDER_C, NULL, &co),
                         MMARR_OK);
        if (variant == 2) { /* the rest in an appender */
            assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
            mmarr_writer_free(w);
            assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_OK);
        }
        assert_int_equal(mmarr_writer_append_rows(w, "c", rows + 12, 5, 60), MMARR_OK);
        if (variant == 0) {
            assert_int_equal(mmarr_writer_delete(w, "c"), MMARR_OK);
        } else {
            assert_int_equal(mmarr_writer_add_cold(w, "y", "<u4", 2, one, MMARR_ORDER_C, rows, &co),
                             MMARR_OK);
            assert_int_equal(mmarr_writer_append_rows(w, "c", rows, 1, 12), MMARR_OK);
        }
        assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
        mmarr_writer_free(w);
        mmarr_file *f;
        assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK);
        mmarr_file_info fi;
        mmarr_file_get_info(f, &fi);
        assert_int_equal(fi.damaged_generation, 0);
        assert_int_equal(fi.count, variant == 0 ? 1 : 3);
        if (variant) {
            mmarr_array_info a;
            unsigned char got[7 * 12];
            assert_int_equal(mmarr_file_find_array(f, "c", &a, &e), MMARR_OK);
            assert_int_equal(a.shape[0], 7);
            assert_int_equal(mmarr_file_read(f, a.index, 0, got, sizeof got, &e), MMARR_OK);
            assert_memory_equal(got, rows, 6 * 12);
            assert_memory_equal(got + 6 * 12, rows, 12);
        }
        mmarr_close(f);
    }
    free(path);
}

/* Names an append adds fall between and around the imported ones, whose name order the
 * appender keeps from the index instead of sorting again (index_write.c): the new index's
 * name order must hold them all, as the reader checks at open. */
static void test_append__names_interleave(void **state)
{
    char *path = tu_path(*state, "names.mmarr");
    mmarr_writer_options o = NOSYNC;
    mmarr_writer *w;
    mmarr_error e;
    const uint64_t one[1] = {1};
    const int64_t v = 7;
    static const char *const first[] = {"m", "d", "x", "b", "q"}; /* not in name order */
    static const char *const later[] = {"a", "c", "n", "zz", "m2", "e"};
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(mmarr_writer_add(w, first[i], "<i8", 1, one, MMARR_ORDER_C, &v), MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    for (size_t round = 0; round < 2; round++) {
        assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_OK);
        for (size_t i = round * 3; i < round * 3 + 3; i++)
            assert_int_equal(mmarr_writer_add(w, later[i], "<i8", 1, one, MMARR_ORDER_C, &v),
                             MMARR_OK);
        assert_int_equal(mmarr_writer_delete(w, round ? "x" : "d"), MMARR_OK);
        assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
        mmarr_writer_free(w);
    }
    mmarr_file *f;
    assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK);
    static const char *const want[] = {"a", "b", "c", "e", "m", "m2", "n", "q", "zz"};
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    assert_int_equal(fi.count, 9);
    for (size_t k = 0; k < 9; k++) {
        size_t i;
        assert_int_equal(mmarr_file_find(f, want[k], &i, &e), MMARR_OK);
    }
    size_t i;
    assert_int_equal(mmarr_file_find(f, "d", &i, &e), MMARR_E_NOTFOUND);
    assert_int_equal(mmarr_file_find(f, "x", &i, &e), MMARR_E_NOTFOUND);
    mmarr_close(f);
    free(path);
}

static mmarr_generation recorded(mmarr_file *f)
{
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    return (mmarr_generation){fi.generation,       fi.file_size,      fi.index_offset,
                              fi.index_size,       fi.index_checksum, fi.required_features,
                              fi.optional_features};
}

static mmarr_generation newest(const char *path)
{
    mmarr_file *f;
    assert_int_equal(mmarr_open(path, 0, &f, NULL), MMARR_OK);
    const mmarr_generation g = recorded(f);
    mmarr_close(f);
    return g;
}

/* Older generations open as they were (spec.md §4.4 rule 8): arrays since deleted, a cold
 * array whose feature bit the newest generation dropped, a growable array with the rows it
 * had then (its last block's later bytes written since); not after the file is replaced. */
static void test_append__recorded_generations(void **state)
{
    char *path = make_base(state, 4); /* a0..a3, a2 the only cold one */
    mmarr_error e;
    mmarr_writer_options o = NOSYNC;
    mmarr_writer *w;
    const mmarr_generation g1 = newest(path);
    assert_true(g1.required_features & MMARR_FEAT_REQ_COLD_ZSTD);
    assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_OK);
    assert_int_equal(mmarr_writer_delete(w, "a2"), MMARR_OK);
    int64_t *v = values(20, 1100);
    const uint64_t shape[1] = {100};
    assert_int_equal(mmarr_writer_add_growable(w, "a20", "<i8", 1, shape, 100000, v), MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    const mmarr_generation g2 = newest(path);
    assert_int_equal(g2.generation, 2);
    assert_false(g2.required_features & MMARR_FEAT_REQ_COLD_ZSTD);
    assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_OK);
    assert_int_equal(mmarr_writer_append_rows(w, "a20", v + 100, 1000, 8000), MMARR_OK);
    add_k(w, 9, 5000, 0);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    free(v);
    const mmarr_generation g3 = newest(path);

    mmarr_file *f;
    const struct {
        const mmarr_generation *g;
        uint64_t arrays, rows20; /* rows of a20, 0 if absent */
    } want[] = {{&g1, 4, 0}, {&g2, 4, 100}, {&g3, 5, 1100}};
    for (int r = 0; r < 2; r++) /* twice: in either order of slots */
        for (size_t i = 0; i < 3; i++) {
            assert_int_equal(mmarr_open_generation(path, MMARR_OPEN_VERIFY, want[i].g, &f, &e),
                             MMARR_OK);
            assert_int_equal(generation(f), want[i].g->generation);
            assert_int_equal(check_all(f), want[i].arrays);
            mmarr_array_info a;
            if (want[i].rows20) {
                assert_int_equal(mmarr_file_find_array(f, "a20", &a, &e), MMARR_OK);
                assert_int_equal(a.shape[0], want[i].rows20);
            } else {
                assert_int_equal(mmarr_file_find_array(f, "a2", &a, &e), MMARR_OK);
                assert_int_equal(a.storage, MMARR_STORAGE_COLD);
            }
            if (i < 2) { /* refresh moves to the newest */
                int changed = 0;
                assert_int_equal(mmarr_file_refresh(f, &changed, &e), MMARR_OK);
                assert_int_equal(changed, 1);
                assert_int_equal(generation(f), 3);
            }
            mmarr_close(f);
        }
    /* not there: a later generation, a damaged record, a NULL one */
    mmarr_generation g = g3;
    g.generation = 9;
    assert_int_equal(mmarr_open_generation(path, 0, &g, &f, &e), MMARR_E_NOTFOUND);
    assert_non_null(strstr(e.message, "no generation 9"));
    g = g1;
    g.index_checksum ^= 1;
    assert_int_equal(mmarr_open_generation(path, 0, &g, &f, &e), MMARR_E_NOTFOUND);
    assert_non_null(strstr(e.message, "no longer in the file"));
    g = g1;
    g.index_offset += 64;
    assert_int_equal(mmarr_open_generation(path, 0, &g, &f, &e), MMARR_E_NOTFOUND);
    assert_int_equal(mmarr_open_generation(path, 0, NULL, &f, &e), MMARR_E_INVAL);
    /* hostile records (a pickle is untrusted input): any field, any value, never a crash
     * nor wrong data: an error, or a generation whose arrays all check */
    srand(19);
    for (int r = 0; r < 3000; r++) {
        g = r % 3 == 0 ? g1 : r % 3 == 1 ? g2 : g3;
        uint64_t *const fields[] = {&g.generation,       &g.file_size,      &g.index_offset,
                                    &g.index_size,       &g.index_checksum, &g.required_features,
                                    &g.optional_features};
        uint64_t *field = fields[rand() % 7];
        const uint64_t bit = 1ull << (rand() % 64);
        *field = rand() % 4 == 0 ? (uint64_t)rand() : rand() % 2 ? *field ^ bit : *field + 64;
        mmarr_err rc = mmarr_open_generation(path, 0, &g, &f, &e);
        assert_true(rc == MMARR_OK || rc == MMARR_E_NOTFOUND || rc == MMARR_E_UNSUPPORTED);
        if (rc == MMARR_OK) {
            check_all(f);
            mmarr_close(f);
        }
    }
    /* in-place writes only through the newest */
    assert_int_equal(mmarr_open_generation(path, MMARR_OPEN_RDWR, &g2, &f, &e), MMARR_E_INVAL);
    assert_null(f);
    assert_int_equal(mmarr_open_generation(path, MMARR_OPEN_RDWR, &g3, &f, &e), MMARR_OK);
    mmarr_close(f);
    /* which publishes the stale mark (generation 4): earlier generations are no longer
     * vouched for while it stands */
    assert_int_equal(mmarr_open_generation(path, 0, &g1, &f, &e), MMARR_E_NOTFOUND);
    assert_non_null(strstr(e.message, "rewritten in place"));
    /* written in place, rehashed (generation 5), then the array deleted (6): the earlier
     * generations that list it stay refused (spec.md §4.2 rehash_generation), the rehashed
     * one and later open */
    assert_int_equal(mmarr_open(path, MMARR_OPEN_RDWR, &f, &e), MMARR_OK);
    mmarr_array_info a0;
    assert_int_equal(mmarr_file_find_array(f, "a0", &a0, &e), MMARR_OK);
    const int64_t minus = -1;
    assert_int_equal(mmarr_file_write(f, a0.index, 0, &minus, 8, &e), MMARR_OK);
    assert_int_equal(mmarr_file_flush(f, MMARR_FLUSH_REHASH, &e), MMARR_OK);
    mmarr_close(f);
    const mmarr_generation g5 = newest(path);
    assert_int_equal(g5.generation, 5);
    assert_int_equal(mmarr_writer_open_append(path, &o, &w, &e), MMARR_OK);
    assert_int_equal(mmarr_writer_delete(w, "a0"), MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(mmarr_open_generation(path, 0, want[i].g, &f, &e), MMARR_E_NOTFOUND);
        assert_non_null(strstr(e.message, "written in place and rehashed since (generation 5)"));
    }
    assert_int_equal(mmarr_open_generation(path, MMARR_OPEN_VERIFY, &g5, &f, &e), MMARR_OK);
    assert_int_equal(mmarr_file_find_array(f, "a0", &a0, &e), MMARR_OK);
    assert_int_equal(((const int64_t *)a0.data)[0], -1);
    mmarr_close(f);
    /* the file replaced (compacted): its generation 1 is another one */
    free(path);
    path = make_base(state, 2);
    assert_int_equal(mmarr_open_generation(path, 0, &g1, &f, &e), MMARR_E_NOTFOUND);
    assert_int_equal(mmarr_open_generation(path, 0, &g2, &f, &e), MMARR_E_NOTFOUND);
    assert_non_null(strstr(e.message, "another file or was rewritten"));
    free(path);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup_dir, tu_teardown_dir)
    const struct CMUnitTest tests[] = {
        T(test_append__arrays_metadata_and_readers),
        T(test_append__one_writer_and_abandon),
        T(test_append__damaged_newest_generation),
        T(test_append__ragged_delete),
        T(test_append__killed_appenders),
        T(test_append__readers_during_appends),
        T(test_append__growable_rows),
        T(test_append__growable_cold),
        T(test_append__names_interleave),
        T(test_append__cold_chunk_runs),
        T(test_append__recorded_generations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
