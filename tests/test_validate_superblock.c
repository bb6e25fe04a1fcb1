/* SPDX-License-Identifier: MIT */
/*
 * test_validate_superblock.c — what mmarr_open checks before the index (spec.md §4, §12):
 * files that are missing, empty, text or cut short; the prologue (magic, checksum, format
 * version, alignment); the two slots (checksums, generations, features, where the index and
 * the file end). Damaged files are crafted with testimg.h and opened both ways; codes and,
 * where the API promises one, a message fragment are asserted.
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
/* Files that are not (whole) mmarr files                                                    */

static void test_superblock__open_missing_file(void **state)
{
    char *path = tu_path(*state, "does-not-exist.mmarr");
    mmarr_file *f = (mmarr_file *)1;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    assert_code(mmarr_open(path, 0, &f, &e), MMARR_E_IO, e.message);
    assert_null(f);
    assert_int_equal(e.code, MMARR_E_IO);
    assert_int_equal(e.sys_errno, ENOENT);
    assert_msg_has(e.message, "does-not-exist.mmarr");
    /* err is optional */
    assert_int_equal(mmarr_open(path, 0, &f, NULL), MMARR_E_IO);
    free(path);
}

static void test_superblock__open_empty_file(void **state)
{
    char *path = tu_path(*state, "empty.mmarr");
    assert_int_equal(tu_write_file(path, "", 0), 0);
    mmarr_file *f = (mmarr_file *)1;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    mmarr_err rc = mmarr_open(path, 0, &f, &e);
    if (rc != MMARR_E_BADMAGIC && rc != MMARR_E_TRUNCATED)
        print_error("%s: %s\n", mmarr_err_name(rc), e.message);
    assert_true(rc == MMARR_E_BADMAGIC || rc == MMARR_E_TRUNCATED);
    assert_null(f);
    assert_msg_has(e.message, "empty.mmarr");
    free(path);
}

static void test_superblock__open_text_file(void **state)
{
    char *path = tu_path(*state, "notes.txt");
    char text[2000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = "The quick brown fox jumps over the lazy dog.\n"[i % 45];
    assert_int_equal(tu_write_file(path, text, sizeof text), 0);
    mmarr_file *f = (mmarr_file *)1;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    assert_code(mmarr_open(path, 0, &f, &e), MMARR_E_BADMAGIC, e.message);
    assert_null(f);
    assert_msg_has(e.message, "notes.txt");

    /* a short text file */
    assert_int_equal(tu_write_file(path, "hello\n", 6), 0);
    mmarr_err rc = mmarr_open(path, 0, &f, &e);
    assert_true(rc == MMARR_E_BADMAGIC || rc == MMARR_E_TRUNCATED);
    assert_null(f);

    /* the same through a buffer */
    rc = mmarr_open_buffer(text, sizeof text, 0, &f, &e);
    assert_code(rc, MMARR_E_BADMAGIC, e.message);
    assert_null(f);
    free(path);
}

static void test_superblock__truncated_files(void **state)
{
    img im;
    img_base(state, &im);
    uint64_t fs = im.slot->file_size;
    uint64_t lens[] = {0,
                       5,
                       10,
                       64,
                       200,
                       511,
                       512,
                       4096,
                       im.ent[1].data_offset + 100,
                       im.slot->index_offset,
                       im.slot->index_offset + 100,
                       fs - 1};
    char *path = tu_path(*state, "trunc.mmarr");
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint64_t n = lens[i];
        assert_true(n < im.size);
        assert_int_equal(tu_write_file(path, im.buf, (size_t)n), 0);
        mmarr_file *f = (mmarr_file *)1;
        mmarr_error e;
        memset(&e, 0, sizeof e);
        mmarr_err rc = mmarr_open(path, 0, &f, &e);
        mmarr_file *g = (mmarr_file *)1;
        mmarr_error e2;
        mmarr_err rc2 = mmarr_open_buffer(im.buf, (size_t)n, 0, &g, &e2);
        int ok;
        if (n < MMARR_MAGIC_SIZE)
            ok = rc == MMARR_E_BADMAGIC || rc == MMARR_E_TRUNCATED;
        else
            ok = rc == MMARR_E_TRUNCATED; /* the magic is intact: an mmarr file, cut short */
        if (!ok || rc2 != rc)
            print_error("length %llu: open %s (%s), buffer %s\n", (unsigned long long)n,
                        mmarr_err_name(rc), e.message, mmarr_err_name(rc2));
        assert_true(ok);
        assert_int_equal(rc2, rc);
        assert_null(f);
        assert_null(g);
        assert_true(e.message[0] != '\0');
    }
    free(path);
    img_free(&im);
}

/* ---------------------------------------------------------------------------------------- */
/* Prologue                                                                                  */

static void test_superblock__bad_magic(void **state)
{
    img im;
    img_base(state, &im);
    static const size_t bytes[] = {0, 1, 6, 7, 8, 9};
    for (size_t i = 0; i < sizeof bytes / sizeof bytes[0]; i++) {
        unsigned char old = im.buf[bytes[i]];
        im.buf[bytes[i]] = bytes[i] == 0 ? 0x09 : (unsigned char)(old ^ 0x20);
        img_reseal_prologue(&im);
        mmarr_error e;
        assert_code(img_open(&im, *state, &e, NULL), MMARR_E_BADMAGIC, e.message);
        im.buf[bytes[i]] = old;
    }
    img_reseal_prologue(&im);
    mmarr_error e;
    assert_int_equal(img_open(&im, *state, &e, NULL), MMARR_OK);
    img_free(&im);
}

static void test_superblock__prologue_checksum(void **state)
{
    img im;
    img_base(state, &im);
    im.buf[17] ^= 0x01; /* alignment 4096 -> 4352, checksum not fixed */
    mmarr_error e;
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CHECKSUM, e.message);
    img_free(&im);
}

static void test_superblock__major_version(void **state)
{
    img im;
    img_base(state, &im);
    im.pro->format_major = 2;
    img_reseal_prologue(&im);
    mmarr_error e;
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_VERSION, e.message);
    im.pro->format_major = 0;
    img_reseal_prologue(&im);
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_VERSION, e.message);
    img_free(&im);
}

static void test_superblock__newer_minor_version_opens(void **state)
{
    img im;
    img_base(state, &im);
    im.pro->format_minor = 9;
    im.pro->reserved0 = 0xBEEF; /* reserved: ignored */
    im.pro->reserved2[5] = 1;
    img_reseal_prologue(&im);
    mmarr_error e;
    mmarr_file *f = NULL;
    assert_code(img_open(&im, *state, &e, &f), MMARR_OK, e.message);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    assert_int_equal(fi.format_major, 1);
    assert_int_equal(fi.format_minor, 9);
    mmarr_close(f);
    img_free(&im);
}

static void test_superblock__bad_alignment(void **state)
{
    img im;
    img_base(state, &im);
    static const uint32_t bad[] = {0, 3000, 2048, 4097, 4u << 20, 12288};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        im.pro->alignment = bad[i];
        img_reseal_prologue(&im);
        mmarr_error e;
        assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
    }
    img_free(&im);
}

/* ---------------------------------------------------------------------------------------- */
/* Slots                                                                                     */

static void test_superblock__unknown_required_feature(void **state)
{
    img im;
    img_base(state, &im);
    im.slot->required_features |= 1ull << 5;
    img_reseal_slot(im.slot);
    mmarr_error e;
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_UNSUPPORTED, e.message);
    img_free(&im);
}

static void test_superblock__unknown_optional_bits_ignored(void **state)
{
    img im;
    img_base(state, &im);
    im.slot->optional_features |= 1ull << 9;
    im.slot->state_flags |= 1ull << 7; /* unknown state bit */
    im.slot->reserved[3] = 0x42;
    img_reseal_slot(im.slot);
    mmarr_error e;
    mmarr_file *f = NULL;
    assert_code(img_open(&im, *state, &e, &f), MMARR_OK, e.message);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    assert_int_equal(fi.optional_features, 1ull << 9);
    assert_int_equal(fi.checksums_stale, 0);
    assert_int_equal(mmarr_file_verify(f, &e), MMARR_OK);
    mmarr_close(f);
    img_free(&im);
}

static void test_superblock__file_shorter_than_slot_says(void **state)
{
    img im;
    img_base(state, &im);
    im.slot->file_size = im.size + 4096;
    img_reseal_slot(im.slot);
    mmarr_error e;
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_TRUNCATED, e.message);
    img_free(&im);
}

static void test_superblock__index_outside_file_size(void **state)
{
    img im;
    img_base(state, &im);
    im.slot->index_size = im.slot->file_size; /* index_offset + index_size > file_size */
    img_reseal_slot(im.slot);
    mmarr_error e;
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);

    img_free(&im);
    img_base(state, &im);
    im.slot->index_offset = UINT64_MAX - 63; /* overflows when added to index_size */
    img_reseal_slot(im.slot);
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);

    img_free(&im);
    img_base(state, &im);
    im.slot->index_offset = 0; /* < 512 */
    img_reseal_slot(im.slot);
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
    img_free(&im);
}

static void test_superblock__index_offset_or_size_invalid(void **state)
{
    img im;
    img_base(state, &im);
    /* Move the index 8 bytes up and point the slot at it, with every checksum valid: only
     * the alignment rule (spec.md §4.2, a multiple of 64) is broken. */
    uint64_t io = im.slot->index_offset, is = im.slot->index_size;
    assert_int_equal(im.slot->file_size, im.size); /* the index is the last thing */
    unsigned char *grown = realloc(im.buf, im.size + 8);
    assert_non_null(grown);
    im.buf = grown;
    memmove(im.buf + io + 8, im.buf + io, (size_t)(im.size - io));
    memset(im.buf + io, 0, 8);
    im.size += 8;
    mmarr_disk_slot *sl = (mmarr_disk_slot *)(im.buf + MMARR_SLOT_A_OFFSET);
    sl->index_offset = io + 8;
    sl->file_size += 8;
    sl->index_checksum = XXH3_64bits(im.buf + io + 8, (size_t)is);
    img_reseal_slot(sl);
    mmarr_error e;
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
    img_free(&im);

    img_base(state, &im);
    im.slot->index_size = 128; /* < 192, with a checksum matching those 128 bytes */
    im.slot->index_checksum = XXH3_64bits(im.index, 128);
    img_reseal_slot(im.slot);
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
    img_free(&im);
}

static void test_superblock__no_valid_slot(void **state)
{
    img im;
    img_base(state, &im);
    im.slot->generation ^= 0x100; /* slot A damaged; slot B is empty */
    mmarr_error e;
    /* spec.md §4.2: "If no slot is valid the file is corrupt." */
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
    /* both slots empty */
    memset(im.slot, 0, sizeof *im.slot);
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
    img_free(&im);
    /* the only used slot has generation 0 (must be >= 1) with a matching checksum */
    img_base(state, &im);
    im.slot->generation = 0;
    img_reseal_slot(im.slot);
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
    img_free(&im);
}

static void test_superblock__damaged_inactive_slot_still_opens(void **state)
{
    img im;
    img_base(state, &im);
    memset(im.slot_b, 0x5C, sizeof *im.slot_b); /* non-empty, checksum wrong */
    mmarr_error e;
    mmarr_file *f = NULL;
    assert_code(img_open(&im, *state, &e, &f), MMARR_OK, e.message);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    assert_int_equal(fi.inactive_slot_damaged, 1);
    assert_int_equal(fi.generation, 1);
    size_t idx;
    assert_int_equal(mmarr_file_find(f, "gamma", &idx, NULL), MMARR_OK);
    assert_int_equal(mmarr_file_verify_array(f, idx, NULL), MMARR_OK);
    /* whole-file verification reports the damaged slot */
    memset(&e, 0, sizeof e);
    assert_code(mmarr_file_verify(f, &e), MMARR_E_CHECKSUM, e.message);
    assert_msg_has(e.message, "slot");
    mmarr_close(f);
    img_free(&im);
}

static void test_superblock__active_slot_damaged_other_used(void **state)
{
    img im;
    img_base(state, &im);
    memcpy(im.slot_b, im.slot, sizeof *im.slot); /* B: a valid copy, generation 1 */
    im.slot->index_checksum ^= 1;                /* A: damaged */
    mmarr_error e;
    mmarr_file *f = NULL;
    assert_code(img_open(&im, *state, &e, &f), MMARR_OK, e.message);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    assert_int_equal(fi.inactive_slot_damaged, 1);
    assert_int_equal(fi.count, 3);
    mmarr_close(f);
    img_free(&im);
}

static void test_superblock__newer_generation_wins(void **state)
{
    img im;
    img_base(state, &im);
    memcpy(im.slot_b, im.slot, sizeof *im.slot);
    im.slot_b->generation = 2;
    img_reseal_slot(im.slot_b);
    mmarr_error e;
    mmarr_file *f = NULL;
    assert_code(img_open(&im, *state, &e, &f), MMARR_OK, e.message);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    assert_int_equal(fi.generation, 2);
    assert_int_equal(fi.inactive_slot_damaged, 0);
    mmarr_close(f);

    /* generation 2 pointing at a broken index: it gives way to generation 1 (spec.md §4.4
     * rule 5), and verify says what was lost */
    im.slot_b->index_checksum ^= 1;
    img_reseal_slot(im.slot_b);
    assert_code(img_open(&im, *state, &e, &f), MMARR_OK, e.message);
    mmarr_file_get_info(f, &fi);
    assert_int_equal(fi.generation, 1);
    assert_int_equal(fi.damaged_generation, 2);
    assert_code(mmarr_file_verify(f, &e), MMARR_E_CHECKSUM, e.message);
    assert_non_null(strstr(e.message, "generation 2 is damaged, so generation 1 was opened"));
    mmarr_close(f);
    /* ... but an unknown required feature is not damage: refused */
    im.slot_b->index_checksum ^= 1;
    im.slot_b->required_features |= 1ull << 40;
    img_reseal_slot(im.slot_b);
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_UNSUPPORTED, e.message);
    img_free(&im);
}

static void test_superblock__same_generation_must_be_identical(void **state)
{
    img im;
    img_base(state, &im);
    memcpy(im.slot_b, im.slot, sizeof *im.slot);
    mmarr_error e;
    assert_code(img_open(&im, *state, &e, NULL), MMARR_OK, e.message); /* identical: fine */
    im.slot_b->optional_features = 1ull << 3;
    img_reseal_slot(im.slot_b);
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
    img_free(&im);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup_dir, tu_teardown_dir)
    const struct CMUnitTest tests[] = {
        T(test_superblock__open_missing_file),
        T(test_superblock__open_empty_file),
        T(test_superblock__open_text_file),
        T(test_superblock__truncated_files),
        T(test_superblock__bad_magic),
        T(test_superblock__prologue_checksum),
        T(test_superblock__major_version),
        T(test_superblock__newer_minor_version_opens),
        T(test_superblock__bad_alignment),
        T(test_superblock__unknown_required_feature),
        T(test_superblock__unknown_optional_bits_ignored),
        T(test_superblock__file_shorter_than_slot_says),
        T(test_superblock__index_outside_file_size),
        T(test_superblock__index_offset_or_size_invalid),
        T(test_superblock__no_valid_slot),
        T(test_superblock__damaged_inactive_slot_still_opens),
        T(test_superblock__active_slot_damaged_other_used),
        T(test_superblock__newer_generation_wins),
        T(test_superblock__same_generation_must_be_identical),
    };
#undef T
    return cmocka_run_group_tests_name("validate_superblock", tests, NULL, NULL);
}
