/* SPDX-License-Identifier: MIT */
/*
 * test_validate_names.c — the names table and the name heap (spec.md §7.3, §12): every name
 * a non-empty, NUL-terminated, valid UTF-8 heap string; the table strictly sorted and unique;
 * the order table a permutation whose entries point back at their ranks. Exhaustive cases run
 * every name length and byte position through both the SSE2 and the scalar checks. Damaged
 * files are crafted with testimg.h and resealed, so the structural checks must fire.
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
/* Each name: a UTF-8 heap string                                                            */

CORRUPT_CASE(names, empty_name, MMARR_E_CORRUPT)
{
    im->names[im->ent[0].name_rank].name_size = 0;
}

CORRUPT_CASE(names, name_not_nul_terminated, MMARR_E_CORRUPT)
{
    im->names[im->ent[0].name_rank].name_size -= 1; /* "alph" followed by 'a', not NUL */
}

CORRUPT_CASE(names, name_invalid_utf8, MMARR_E_CORRUPT)
{
    img_heap_find(im, "gamma")[0] = (char)0xFF; /* still sorts last */
}

CORRUPT_CASE(names, name_outside_heap, MMARR_E_CORRUPT)
{
    im->names[im->ent[0].name_rank].name_offset = (uint32_t)im->hdr->heap_size;
}

/* A name that sorts after any other here (U+10FFFF, then 44 ASCII bytes): with it after the
 * names under test, the heap has room for the 33-byte reads of the SSE2 names check. */
#define LAST_NAME "\xf4\x8f\xbf\xbf" "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"

/* Write names[0..n) (arrays of 2 x i4) to path, with LAST_NAME after them if `last`, and
 * "0" before them (so that none of them is the first name, which the fast path hands to the
 * scalar check anyway). */
static void write_names(const char *path, const char *const *names, size_t n, int last)
{
    mmarr_writer_options o;
    memset(&o, 0, sizeof o);
    o.flags = MMARR_WRITE_NO_SYNC;
    mmarr_writer *w = NULL;
    mmarr_error e;
    assert_int_equal(mmarr_writer_create(path, &o, &w, &e), MMARR_OK);
    const int32_t v[2] = {1, 2};
    uint64_t s2[1] = {2};
    writer_add_ok(w, "0", "<i4", 1, s2, v);
    for (size_t i = 0; i < n; i++)
        writer_add_ok(w, names[i], "<i4", 1, s2, v);
    if (last)
        writer_add_ok(w, LAST_NAME, "<i4", 1, s2, v);
    writer_commit_ok(w);
}

/* Every name length from 1 to 33 (the SSE2 check takes 1..32 bytes; whole and partial
 * vectors; the 33rd byte) and every byte position, with room after the name in the heap
 * (odd lengths: the SSE2 path) or the name last in the heap (even lengths: the scalar path):
 * a NUL, a stray continuation byte or a lone lead byte in the name, or a missing terminator,
 * is refused; a valid two-byte UTF-8 sequence anywhere is accepted. */
static void test_names__name_bytes_every_length_and_position(void **state)
{
    const char *dir = *state;
    char *path = tu_path(dir, "names.mmarr");
    int cases = 0;
    for (size_t len = 1; len <= 33; len++) {
        char name[40];
        memset(name, 'q', len);
        name[len] = '\0';
        const char *names[1] = {name};
        write_names(path, names, 1, len % 2);
        img im;
        img_load(&im, path);
        char *p = img_heap_find(&im, name);
        mmarr_error e;
        for (size_t j = 0; j <= len; j++) {
            static const unsigned char bad[] = {0x00, 0x80, 0xC3};
            for (size_t b = 0; b < (j < len ? sizeof bad : 1); b++) {
                const char keep = p[j];
                p[j] = j < len ? (char)bad[b] : 'x'; /* at len: the terminator */
                img_reseal(&im);
                assert_code(img_open(&im, dir, &e, NULL), MMARR_E_CORRUPT, e.message);
                p[j] = keep;
                cases++;
            }
            if (j + 1 < len) {
                p[j] = (char)0xC3, p[j + 1] = (char)0xA9; /* U+00E9 */
                img_reseal(&im);
                assert_code(img_open(&im, dir, &e, NULL), MMARR_OK, e.message);
                p[j] = p[j + 1] = 'q';
                cases++;
            }
        }
        img_reseal(&im);
        assert_code(img_open(&im, dir, &e, NULL), MMARR_OK, e.message);
        img_free(&im);
    }
    assert_int_equal(cases, 2244); /* sum over len of 3 len + 1 + (len - 1) */
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* The table: sorted, unique, a permutation                                                  */

CORRUPT_CASE(names, duplicate_names, MMARR_E_CORRUPT)
{
    memcpy(img_heap_find(im, "bravo"), "alpha", 5);
}

CORRUPT_CASE(names, names_not_a_permutation, MMARR_E_CORRUPT)
{
    im->order[1] = im->order[0]; /* two ranks claim one entry */
}

CORRUPT_CASE(names, names_wrong_order, MMARR_E_CORRUPT)
{
    mmarr_disk_name t = im->names[0]; /* swap ranks 0 and 1 consistently: only the order */
    im->names[0] = im->names[1];          /* of the names is wrong */
    im->names[1] = t;
    uint32_t o = im->order[0];
    im->order[0] = im->order[1];
    im->order[1] = o;
    im->ent[im->order[0]].name_rank = 0;
    im->ent[im->order[1]].name_rank = 1;
}

CORRUPT_CASE(names, names_entry_out_of_range, MMARR_E_CORRUPT)
{
    im->order[2] = 3;
}

CORRUPT_CASE(names, name_rank_out_of_range, MMARR_E_CORRUPT)
{
    im->ent[1].name_rank = 3;
}

CORRUPT_CASE(names, name_ranks_swapped, MMARR_E_CORRUPT)
{
    uint32_t t = im->ent[0].name_rank; /* the names table no longer points back */
    im->ent[0].name_rank = im->ent[1].name_rank;
    im->ent[1].name_rank = t;
}

/* Two names A < B of up to 33 bytes, differing at every position or one a prefix of the
 * other, compared by the SSE2 path (heap room after them) and the scalar one: accepted in
 * order; refused when the table lists B before A, or when B is made equal to A. */
static void test_names__name_order_every_position(void **state)
{
    const char *dir = *state;
    char *path = tu_path(dir, "order.mmarr");
    int cases = 0;
    for (int last = 0; last <= 1; last++)
        for (size_t pos = 0; pos < 33; pos++)
            for (int kind = 0; kind < 3; kind++) {
                /* kind 0: same length pos + 1, differ at pos; kind 1: 33 bytes, differ at
                 * pos; kind 2: A is B's prefix of length pos + 1 */
                char a[40], b[40];
                const size_t la = kind == 1 ? 33 : pos + 1, lb = kind == 2 ? pos + 2 : la;
                memset(a, 'm', la), a[la] = '\0';
                memset(b, 'm', lb), b[lb] = '\0';
                if (kind != 2)
                    a[pos] = 'a', b[pos] = 'b';
                const char *names[2] = {b, a}; /* the writer sorts them */
                write_names(path, names, 2, last);
                img im;
                img_load(&im, path);
                mmarr_error e;
                assert_code(img_open(&im, dir, &e, NULL), MMARR_OK, e.message);
                /* B listed before A: swap their ranks consistently (names_wrong_order) */
                mmarr_disk_name t = im.names[1]; /* ranks 1 and 2 ("0" is rank 0) */
                im.names[1] = im.names[2], im.names[2] = t;
                uint32_t o = im.order[1];
                im.order[1] = im.order[2], im.order[2] = o;
                im.ent[im.order[1]].name_rank = 1;
                im.ent[im.order[2]].name_rank = 2;
                img_reseal(&im);
                assert_code(img_open(&im, dir, &e, NULL), MMARR_E_CORRUPT, e.message);
                assert_msg_has(e.message, "not unique or not sorted");
                if (kind != 2) { /* back in order, then B's bytes made equal to A's */
                    im.names[2] = im.names[1], im.names[1] = t;
                    im.order[2] = im.order[1], im.order[1] = o;
                    im.ent[im.order[1]].name_rank = 1;
                    im.ent[im.order[2]].name_rank = 2;
                    img_heap_find(&im, b)[pos] = 'a';
                    img_reseal(&im);
                    assert_code(img_open(&im, dir, &e, NULL), MMARR_E_CORRUPT, e.message);
                    assert_msg_has(e.message, "not unique or not sorted");
                }
                img_free(&im);
                cases++;
            }
    assert_int_equal(cases, 2 * 33 * 3);
    free(path);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup_dir, tu_teardown_dir)
    const struct CMUnitTest tests[] = {
        T(test_names__empty_name),
        T(test_names__name_not_nul_terminated),
        T(test_names__name_invalid_utf8),
        T(test_names__name_outside_heap),
        T(test_names__name_bytes_every_length_and_position),
        T(test_names__duplicate_names),
        T(test_names__names_not_a_permutation),
        T(test_names__names_wrong_order),
        T(test_names__names_entry_out_of_range),
        T(test_names__name_rank_out_of_range),
        T(test_names__name_ranks_swapped),
        T(test_names__name_order_every_position),
    };
#undef T
    return cmocka_run_group_tests_name("validate_names", tests, NULL, NULL);
}
