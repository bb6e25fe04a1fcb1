/* SPDX-License-Identifier: MIT */
/*
 * test_validate_parallel.c — indexes over 1 MiB, which mmarr_open validates on two threads
 * (index_names.c): the hash on one while the structure is checked, the names table in blocks of
 * 2,048 that both threads claim in turn. Whatever thread finds a fault, the error must be the
 * one a sequential check reports first. ctest also runs this suite with one CPU allowed
 * (validate_parallel_one_cpu), where the checks run without a helper thread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "mmarr.h"
#include "mmarr_format.h"
#include "testimg.h"
#include "testutil.h"

/* ---------------------------------------------------------------------------------------- */
/* Large indexes                                                                             */

/* An index of 20,000 arrays (over 1 MiB) is hashed on a second thread while the structure is
 * validated (index_names.c): a flipped bit must still be reported as a checksum failure, even where
 * the structural checks also fail, and a resealed structural fault as corruption. */
static void test_parallel__large_index_checksum_and_structure(void **state)
{
    char *path = tu_path(*state, "large.mmarr");
    mmarr_writer_options o = {.flags = MMARR_WRITE_NO_SYNC};
    mmarr_writer *w;
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    const uint64_t shape[1] = {2};
    const uint16_t v[2] = {1, 2};
    for (int i = 0; i < 20000; i++) {
        char name[64];
        snprintf(name, sizeof name, "some/longer/group/name/array%06d", (i * 7919) % 20000);
        assert_int_equal(mmarr_writer_add(w, name, "<u2", 1, shape, MMARR_ORDER_C, v), MMARR_OK);
    }
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    img im;
    img_load(&im, path);
    assert_true(im.slot->index_size > (1u << 20));
    mmarr_error e;
    /* a rank that no longer points back, without resealing: checksum wins */
    im.ent[12345].name_rank ^= 1;
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CHECKSUM, e.message);
    assert_msg_has(e.message, "index checksum");
    /* the same fault resealed: the structural check reports it, naming the entry */
    img_reseal(&im);
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
    assert_msg_has(e.message, "entry 12345");
    im.ent[12345].name_rank ^= 1;
    img_reseal(&im);
    assert_code(img_open(&im, *state, &e, NULL), MMARR_OK, e.message);
    img_free(&im);
    free(path);
}

/* Above 1 MiB the index is validated on two threads, which check the names table in blocks
 * of 2,048 names that each claims in turn (index_names.c, mm_vjob). Whatever block a fault lies in,
 * and whichever thread finds it, the error must be the one a sequential check reports first
 * (names before entries; of two faults, the first in table order), and entry messages must
 * still name the array. The file also has shapes that alternate, so that the writer shares
 * dims runs. */
static void test_parallel__large_index_split_validation(void **state)
{
    char *path = tu_path(*state, "split.mmarr");
    mmarr_writer_options o = {.flags = MMARR_WRITE_NO_SYNC};
    mmarr_writer *w;
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    const uint64_t shapes[3][2] = {{2, 1}, {1, 2}, {2, 1}};
    const uint16_t v[2] = {1, 2};
    enum { N = 24000 };
    for (int i = 0; i < N; i++) {
        char name[64];
        snprintf(name, sizeof name, "a/rather/long/group/name/x%06d", i);
        assert_int_equal(mmarr_writer_add(w, name, "<u2", 2, shapes[i % 3], MMARR_ORDER_C, v),
                         MMARR_OK);
    }
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    img im;
    img_load(&im, path);
    assert_true(im.slot->index_size > (1u << 20));
    assert_true(im.hdr->dim_count < 16); /* equal shapes share their dims run */
    mmarr_error e;
    mmarr_file *f;
    assert_code(img_open(&im, *state, &e, &f), MMARR_OK, e.message);
    for (int i = 0; i < N; i += 997) { /* shapes read back right */
        char name[64];
        snprintf(name, sizeof name, "a/rather/long/group/name/x%06d", i);
        mmarr_array_info a;
        assert_int_equal(mmarr_file_find_array(f, name, &a, NULL), MMARR_OK);
        assert_int_equal(a.ndim, 2);
        assert_int_equal(a.shape[0], shapes[i % 3][0]);
        assert_int_equal(a.shape[1], shapes[i % 3][1]);
    }
    mmarr_close(f);
    /* names out of order at several places (2047/2048: across a block boundary) */
    const size_t at[] = {1, 2047, 2048, N / 10, N * 2 / 5, N / 2, N * 9 / 10, N - 2};
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        mmarr_disk_name t = im.names[at[k]];
        im.names[at[k]] = im.names[at[k] + 1];
        im.names[at[k] + 1] = t;
        img_reseal(&im);
        assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
        assert_msg_has(e.message, "not unique or not sorted");
        /* with a bad entry as well, the names still come first */
        im.ent[7].data_offset += 8;
        img_reseal(&im);
        assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
        assert_msg_has(e.message, "not unique or not sorted");
        im.ent[7].data_offset -= 8;
        im.names[at[k] + 1] = im.names[at[k]];
        im.names[at[k]] = t;
        /* a name that is not a heap string, at the same place */
        const uint32_t size = im.names[at[k]].name_size;
        im.names[at[k]].name_size = 0;
        img_reseal(&im);
        assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
        char want[64];
        snprintf(want, sizeof want, "name record %zu ", at[k]);
        assert_msg_has(e.message, want);
        /* and an order table fault just after it: the name, first in table order, wins */
        const uint32_t o1 = im.order[at[k] + 1];
        im.order[at[k] + 1] = N;
        img_reseal(&im);
        assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
        assert_msg_has(e.message, want);
        im.order[at[k] + 1] = o1;
        im.names[at[k]].name_size = size;
        /* an order table fault just before a bad name wins */
        const uint32_t o0 = im.order[at[k]], size1 = im.names[at[k] + 1].name_size;
        im.order[at[k]] = N + 5;
        im.names[at[k] + 1].name_size = 0;
        img_reseal(&im);
        assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
        snprintf(want, sizeof want, "order table position %zu:", at[k]);
        assert_msg_has(e.message, want);
        im.order[at[k]] = o0;
        im.names[at[k] + 1].name_size = size1;
    }
    /* a bad name near the end of every block (not the last name, which the next block
     * checks too): both threads fail, each in its own block, whenever they check names at
     * the same time; the first in table order must win (opened repeatedly: the claims vary
     * with timing) */
    uint32_t saved[N / 2048 + 1];
    for (size_t b = 0; b * 2048 + 2046 < N; b++) {
        saved[b] = im.names[b * 2048 + 2046].name_size;
        im.names[b * 2048 + 2046].name_size = 0;
    }
    img_reseal(&im);
    for (int r = 0; r < 200; r++) {
        assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
        assert_msg_has(e.message, "name record 2046 ");
    }
    for (size_t b = 0; b * 2048 + 2046 < N; b++)
        im.names[b * 2048 + 2046].name_size = saved[b];
    /* an entry fault alone names the array, from anywhere in the names table */
    const size_t bad[] = {3, N / 2, N - 1};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        im.ent[bad[k]].data_offset += 8;
        img_reseal(&im);
        assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
        char want[64];
        snprintf(want, sizeof want, "\"a/rather/long/group/name/x%06zu\"", bad[k]);
        assert_msg_has(e.message, want);
        im.ent[bad[k]].data_offset -= 8;
    }
    img_reseal(&im);
    assert_code(img_open(&im, *state, &e, NULL), MMARR_OK, e.message);
    img_free(&im);
    free(path);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup_dir, tu_teardown_dir)
    const struct CMUnitTest tests[] = {
        T(test_parallel__large_index_checksum_and_structure),
        T(test_parallel__large_index_split_validation),
    };
#undef T
    return cmocka_run_group_tests_name("validate_parallel", tests, NULL, NULL);
}
