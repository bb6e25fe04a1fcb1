/* SPDX-License-Identifier: MIT */
/*
 * test_validate_index.c — the index's structure (spec.md §7, §12): its header and section
 * table, entries and the data ranges they claim, dtype strings, dims, and metadata. Each case
 * damages one field of the base file (testimg.h), recomputes the index and slot checksums so
 * that the structural check is what must fire, and expects MMARR_E_CORRUPT with an offset (or
 * success, for reserved fields). Also: unsealed index damage fails the checksum, and data
 * damage is left to verification. Names have their own file (test_validate_names.c).
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
/* Index header and sections                                                                 */

CORRUPT_CASE(index, index_magic, MMARR_E_CORRUPT)
{
    im->hdr->magic[0] = 'X';
}

CORRUPT_CASE(index, entries_offset_unaligned, MMARR_E_CORRUPT)
{
    im->hdr->entries_offset += 4;
}

CORRUPT_CASE(index, entry_count_huge, MMARR_E_CORRUPT)
{
    im->hdr->entry_count = 1ull << 40;
}

CORRUPT_CASE(index, entry_count_past_index, MMARR_E_CORRUPT)
{
    im->hdr->entry_count = 100000;
}

CORRUPT_CASE(index, sections_out_of_order, MMARR_E_CORRUPT)
{
    uint64_t t = im->hdr->entries_offset;
    im->hdr->entries_offset = im->hdr->heap_offset;
    im->hdr->heap_offset = t;
}

CORRUPT_CASE(index, heap_size_past_index, MMARR_E_CORRUPT)
{
    im->hdr->heap_size = im->slot->index_size;
}

/* bytes 176..191 are reserved unless GROWABLE is set (spec.md §7.1, §7.8) */
CORRUPT_CASE(index, reserved_header_fields_ignored, MMARR_OK)
{
    im->hdr->growable_offset = 0x7777777777777777ull;
    im->hdr->growable_count = 0x77777777u;
    im->hdr->block_total = 0x77777777u;
}

CORRUPT_CASE(index, growable_bit_without_records, MMARR_E_CORRUPT)
{
    im->slot->required_features |= MMARR_FEAT_REQ_GROWABLE;
}

static void test_index__flipped_index_bits_fail_checksum(void **state)
{
    img im;
    img_base(state, &im);
    /* a byte in each region of the index, without fixing the checksum */
    uint64_t where[] = {
        0,                                    /* header magic */
        8,                                    /* entry_count */
        im.hdr->entries_offset + 1,           /* entry 0 data_offset */
        im.hdr->entries_offset + 48 + 40,     /* entry 1 ndim */
        im.hdr->names_offset,                 /* names table */
        im.hdr->heap_offset + 1,              /* heap */
        im.slot->index_size - 1,              /* last byte */
    };
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        im.index[where[i]] ^= 0x10;
        mmarr_error e;
        mmarr_err rc = img_open(&im, *state, &e, NULL);
        assert_code(rc, MMARR_E_CHECKSUM, e.message);
        assert_msg_has(e.message, "index");
        im.index[where[i]] ^= 0x10;
    }
    mmarr_error e;
    assert_int_equal(img_open(&im, *state, &e, NULL), MMARR_OK);
    img_free(&im);
}

/* ---------------------------------------------------------------------------------------- */
/* Entries and the data ranges they claim                                                    */

CORRUPT_CASE(index, overlapping_data_ranges, MMARR_E_CORRUPT)
{
    im->ent[1].data_offset = im->ent[0].data_offset;
}

CORRUPT_CASE(index, misaligned_data_offset, MMARR_E_CORRUPT)
{
    im->ent[2].data_offset += 8;
}

CORRUPT_CASE(index, data_beyond_file_size, MMARR_E_CORRUPT)
{
    im->ent[2].data_offset = (im->slot->file_size + 8191) / 4096 * 4096;
}

CORRUPT_CASE(index, data_offset_in_superblock, MMARR_E_CORRUPT)
{
    im->ent[0].data_offset = 0;
}

CORRUPT_CASE(index, unknown_storage, MMARR_E_CORRUPT)
{
    im->ent[0].storage = 2;
}

CORRUPT_CASE(index, unknown_entry_flag, MMARR_E_CORRUPT)
{
    im->ent[1].flags |= 0x04;
}

CORRUPT_CASE(index, cold_entry_without_feature, MMARR_E_CORRUPT)
{
    im->ent[1].storage = MMARR_STORAGE_ZSTD_CHUNKED;
}

CORRUPT_CASE(index, raw_entry_with_cold_id, MMARR_E_CORRUPT)
{
    im->ent[0].cold_id = 0;
}

CORRUPT_CASE(index, data_size_not_nbytes, MMARR_E_CORRUPT)
{
    im->ent[0].data_size += 1;
}

/* Reserved fields must be ignored by readers (spec.md §2): these files open. */
CORRUPT_CASE(index, reserved_entry_fields_ignored, MMARR_OK)
{
    im->ent[0].reserved[0] = 0x5A;
    memset(im->ent[1].reserved, 0xC3, sizeof im->ent[1].reserved);
}

/* ---------------------------------------------------------------------------------------- */
/* Dtypes                                                                                    */

CORRUPT_CASE(index, invalid_dtype_string, MMARR_E_CORRUPT)
{
    memcpy(img_heap_find(im, "<f8"), "<f3", 3);
}

CORRUPT_CASE(index, noncanonical_dtype_string, MMARR_E_CORRUPT)
{
    /* "=f8" is accepted by mmarr_dtype_parse, but a file must hold the canonical form. */
    memcpy(img_heap_find(im, "<f8"), "=f8", 3);
}

CORRUPT_CASE(index, object_dtype_string, MMARR_E_CORRUPT)
{
    memcpy(img_heap_find(im, "|u1"), "|O\0", 3);
}

CORRUPT_CASE(index, dtype_id_out_of_range, MMARR_E_CORRUPT)
{
    im->ent[0].dtype_id = (uint32_t)im->hdr->dtype_count;
}

/* ---------------------------------------------------------------------------------------- */
/* Dims                                                                                      */

CORRUPT_CASE(index, ndim_65, MMARR_E_CORRUPT)
{
    im->ent[0].ndim = 65;
}

CORRUPT_CASE(index, ndim_255, MMARR_E_CORRUPT)
{
    im->ent[2].ndim = 255;
}

CORRUPT_CASE(index, dims_out_of_range, MMARR_E_CORRUPT)
{
    im->ent[2].dims_first = (uint32_t)im->hdr->dim_count;
}

CORRUPT_CASE(index, nbytes_overflow, MMARR_E_CORRUPT)
{
    im->dims[im->ent[0].dims_first] = 1ull << 62; /* x 8 bytes overflows u64 */
}

/* ---------------------------------------------------------------------------------------- */
/* Metadata                                                                                  */

CORRUPT_CASE(index, file_meta_keys_unsorted, MMARR_E_CORRUPT)
{
    assert_int_equal(im->hdr->file_meta_count, 2);
    mmarr_disk_meta t = im->meta[im->hdr->file_meta_first];
    im->meta[im->hdr->file_meta_first] = im->meta[im->hdr->file_meta_first + 1];
    im->meta[im->hdr->file_meta_first + 1] = t;
}

CORRUPT_CASE(index, file_meta_duplicate_key, MMARR_E_CORRUPT)
{
    /* k1, k1: not strictly increasing */
    im->meta[im->hdr->file_meta_first + 1] = im->meta[im->hdr->file_meta_first];
}

/* The array metadata record of entry b (fails the test if it has none). */
static mmarr_disk_ameta *img_ameta(img *im, size_t b)
{
    for (uint64_t k = 0; k < im->hdr->ameta_count; k++)
        if (im->ameta[k].entry == b)
            return &im->ameta[k];
    fail_msg("entry %zu has no metadata record", b);
    return NULL;
}

CORRUPT_CASE(index, array_meta_duplicate_key, MMARR_E_CORRUPT)
{
    size_t b = img_entry(im, "bravo");
    mmarr_disk_meta *m = &im->meta[img_ameta(im, b)->meta_first];
    m[1].key_offset = m[0].key_offset; /* m1 = "x", m1 = "y" */
    m[1].key_size = m[0].key_size;
}

CORRUPT_CASE(index, file_meta_out_of_range, MMARR_E_CORRUPT)
{
    im->hdr->file_meta_count = (uint32_t)im->hdr->meta_count + 5;
}

CORRUPT_CASE(index, array_meta_out_of_range, MMARR_E_CORRUPT)
{
    size_t b = img_entry(im, "bravo");
    assert_int_equal(img_ameta(im, b)->meta_count, 2);
    img_ameta(im, b)->meta_first = (uint32_t)im->hdr->meta_count;
}

CORRUPT_CASE(index, array_meta_entry_out_of_range, MMARR_E_CORRUPT)
{
    img_ameta(im, img_entry(im, "bravo"))->entry = (uint32_t)im->hdr->entry_count;
}

CORRUPT_CASE(index, array_meta_empty_group, MMARR_E_CORRUPT)
{
    img_ameta(im, img_entry(im, "bravo"))->meta_count = 0;
}

CORRUPT_CASE(index, meta_key_empty, MMARR_E_CORRUPT)
{
    im->meta[im->hdr->file_meta_first].key_size = 0;
}

CORRUPT_CASE(index, meta_value_invalid_utf8, MMARR_E_CORRUPT)
{
    img_heap_find(im, "v2")[0] = (char)0xC0; /* 0xC0 0x32: overlong / bad continuation */
}

/* ---------------------------------------------------------------------------------------- */
/* Data damage: found by verification, not at open                                           */

static void test_index__flipped_data_byte_caught_by_verify(void **state)
{
    img im;
    img_base(state, &im);
    size_t b = img_entry(&im, "bravo");
    im.buf[im.ent[b].data_offset + 1234] ^= 0x01;
    mmarr_error e;
    mmarr_file *f = NULL;
    assert_code(img_open(&im, *state, &e, &f), MMARR_OK, e.message); /* open is lazy */
    memset(&e, 0, sizeof e);
    assert_code(mmarr_file_verify(f, &e), MMARR_E_CHECKSUM, e.message);
    assert_int_equal(e.code, MMARR_E_CHECKSUM);
    assert_msg_has(e.message, "bravo");
    mmarr_error last;
    memset(&last, 0, sizeof last);
    assert_int_equal(mmarr_file_last_error(f, &last), MMARR_E_CHECKSUM);
    assert_int_equal(last.code, MMARR_E_CHECKSUM);

    size_t idx;
    assert_int_equal(mmarr_file_find(f, "bravo", &idx, NULL), MMARR_OK);
    assert_int_equal(idx, b);
    memset(&e, 0, sizeof e);
    assert_code(mmarr_file_verify_array(f, idx, &e), MMARR_E_CHECKSUM, e.message);
    assert_msg_has(e.message, "bravo");
    assert_int_equal(mmarr_file_find(f, "alpha", &idx, NULL), MMARR_OK);
    assert_int_equal(mmarr_file_verify_array(f, idx, &e), MMARR_OK);
    assert_int_equal(mmarr_file_find(f, "gamma", &idx, NULL), MMARR_OK);
    assert_int_equal(mmarr_file_verify_array(f, idx, &e), MMARR_OK);
    mmarr_close(f);

    /* MMARR_OPEN_VERIFY checks every array before returning */
    char *path = tu_path(*state, "bad.mmarr");
    f = (mmarr_file *)1;
    memset(&e, 0, sizeof e);
    assert_code(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_E_CHECKSUM, e.message);
    assert_null(f);
    assert_msg_has(e.message, "bravo");
    f = (mmarr_file *)1;
    assert_code(mmarr_open_buffer(im.buf, im.size, MMARR_OPEN_VERIFY, &f, &e),
                MMARR_E_CHECKSUM, e.message);
    assert_null(f);
    free(path);
    img_free(&im);
}

static void test_index__nonzero_padding_caught_by_verify(void **state)
{
    /* alpha: 8000 bytes at a page boundary, then zero padding up to 8192; a non-zero byte
     * at the first, a middle and the last padding position is reported at its offset */
    static const size_t at[] = {8000, 8017, 8191};
    for (size_t t = 0; t < sizeof at / sizeof at[0]; t++) {
        img im;
        img_base(state, &im);
        size_t a = img_entry(&im, "alpha");
        const uint64_t off = im.ent[a].data_offset + at[t];
        im.buf[off] = 0x33;
        mmarr_error e;
        mmarr_file *f = NULL;
        assert_code(img_open(&im, *state, &e, &f), MMARR_OK, e.message);
        assert_int_equal(mmarr_file_verify_array(f, a, &e), MMARR_OK); /* the data is intact */
        memset(&e, 0, sizeof e);
        mmarr_err rc = mmarr_file_verify(f, &e);
        if (rc != MMARR_E_CHECKSUM || e.offset != off)
            print_error("%s at %llu: %s\n", mmarr_err_name(rc), (unsigned long long)e.offset,
                        e.message);
        assert_int_equal(rc, MMARR_E_CHECKSUM);
        assert_int_equal(e.offset, off);
        mmarr_close(f);
        img_free(&im);
    }
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup_dir, tu_teardown_dir)
    const struct CMUnitTest tests[] = {
        T(test_index__index_magic),
        T(test_index__entries_offset_unaligned),
        T(test_index__entry_count_huge),
        T(test_index__entry_count_past_index),
        T(test_index__sections_out_of_order),
        T(test_index__heap_size_past_index),
        T(test_index__reserved_header_fields_ignored),
        T(test_index__growable_bit_without_records),
        T(test_index__flipped_index_bits_fail_checksum),
        T(test_index__overlapping_data_ranges),
        T(test_index__misaligned_data_offset),
        T(test_index__data_beyond_file_size),
        T(test_index__data_offset_in_superblock),
        T(test_index__unknown_storage),
        T(test_index__unknown_entry_flag),
        T(test_index__cold_entry_without_feature),
        T(test_index__raw_entry_with_cold_id),
        T(test_index__data_size_not_nbytes),
        T(test_index__reserved_entry_fields_ignored),
        T(test_index__invalid_dtype_string),
        T(test_index__noncanonical_dtype_string),
        T(test_index__object_dtype_string),
        T(test_index__dtype_id_out_of_range),
        T(test_index__ndim_65),
        T(test_index__ndim_255),
        T(test_index__dims_out_of_range),
        T(test_index__nbytes_overflow),
        T(test_index__file_meta_keys_unsorted),
        T(test_index__file_meta_duplicate_key),
        T(test_index__array_meta_duplicate_key),
        T(test_index__file_meta_out_of_range),
        T(test_index__array_meta_out_of_range),
        T(test_index__array_meta_entry_out_of_range),
        T(test_index__array_meta_empty_group),
        T(test_index__meta_key_empty),
        T(test_index__meta_value_invalid_utf8),
        T(test_index__flipped_data_byte_caught_by_verify),
        T(test_index__nonzero_padding_caught_by_verify),
    };
#undef T
    return cmocka_run_group_tests_name("validate_index", tests, NULL, NULL);
}
