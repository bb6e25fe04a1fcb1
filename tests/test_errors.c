/* SPDX-License-Identifier: MIT */
/*
 * test_errors.c — every way the public API (mmarr.h) must say no, with the exact mmarr_err
 * code and a useful message: writer misuse (duplicate names, overflowing shapes, too many
 * dimensions, bad dtypes and names, use after commit, NO_REPLACE), reader misuse, files that
 * are missing, empty, text or truncated, and damaged files crafted byte by byte with
 * format/mmarr_format.h: flipped bits (checksums catch them), and structurally invalid
 * superblocks and indexes whose checksums the test recomputes so that the structural checks
 * of spec.md §12 are what must fire (MMARR_E_CORRUPT with an offset). Data damage is left to
 * mmarr_file_verify / mmarr_file_verify_array. Each test works in its own temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "mmarr.h"
#include "mmarr_format.h"
#include "testutil.h"

static mmarr_writer *writer_new(const char *path, unsigned flags)
{
    mmarr_writer_options o;
    memset(&o, 0, sizeof o);
    o.flags = flags | MMARR_WRITE_NO_SYNC;
    mmarr_writer *w = NULL;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    mmarr_err rc = mmarr_writer_create(path, &o, &w, &e);
    assert_code(rc, MMARR_OK, e.message);
    assert_non_null(w);
    return w;
}

static void writer_add_ok(mmarr_writer *w, const char *name, const char *dtype, unsigned ndim,
                          const uint64_t *shape, const void *data)
{
    mmarr_err rc = mmarr_writer_add(w, name, dtype, ndim, shape, MMARR_ORDER_C, data);
    assert_code(rc, MMARR_OK, mmarr_writer_error(w)->message);
}

static void writer_commit_ok(mmarr_writer *w)
{
    mmarr_err rc = mmarr_writer_commit(w);
    assert_code(rc, MMARR_OK, mmarr_writer_error(w)->message);
    mmarr_writer_free(w);
}

/* Expect a writer call's error: code, writer_error code and a message fragment. */
static void assert_writer_err(mmarr_writer *w, mmarr_err rc, mmarr_err want, const char *frag)
{
    const mmarr_error *e = mmarr_writer_error(w);
    assert_non_null(e);
    assert_code(rc, want, e->message);
    assert_int_equal(e->code, want);
    assert_true(e->message[0] != '\0');
    if (frag)
        assert_msg_has(e->message, frag);
}

/* ---------------------------------------------------------------------------------------- */
/* The base file that the corruption tests damage                                            */

/* alpha <f8 (1000,) 8000 B; bravo <i4 (2000,) 8000 B with metadata m1, m2; gamma |u1 (5000,);
 * file metadata k1, k2. Nothing is packed, so every array starts on a 4096-byte page. */
static void write_base(const char *path)
{
    mmarr_writer_options o;
    memset(&o, 0, sizeof o);
    o.flags = MMARR_WRITE_NO_SYNC;
    o.pack_threshold = MMARR_PACK_NONE;
    mmarr_writer *w = NULL;
    mmarr_error e;
    assert_int_equal(mmarr_writer_create(path, &o, &w, &e), MMARR_OK);
    unsigned char *d = malloc(8000);
    assert_non_null(d);
    tu_fill(d, 8000, 42);
    uint64_t s1000[1] = {1000}, s2000[1] = {2000}, s5000[1] = {5000};
    writer_add_ok(w, "alpha", "<f8", 1, s1000, d);
    writer_add_ok(w, "bravo", "<i4", 1, s2000, d);
    writer_add_ok(w, "gamma", "|u1", 1, s5000, d);
    assert_int_equal(mmarr_writer_set_array_meta(w, "bravo", "m1", "x"), MMARR_OK);
    assert_int_equal(mmarr_writer_set_array_meta(w, "bravo", "m2", "y"), MMARR_OK);
    assert_int_equal(mmarr_writer_set_file_meta(w, "k1", "v1"), MMARR_OK);
    assert_int_equal(mmarr_writer_set_file_meta(w, "k2", "v2"), MMARR_OK);
    writer_commit_ok(w);
    free(d);
}

/* A file image in memory with pointers to its parts (through slot A). */
typedef struct img {
    unsigned char *buf;
    size_t size;
    mmarr_disk_prologue *pro;
    mmarr_disk_slot *slot;
    mmarr_disk_slot *slot_b;
    unsigned char *index;
    mmarr_disk_index_header *hdr;
    mmarr_disk_entry *ent;
    uint32_t *order;
    mmarr_disk_name *names;
    mmarr_disk_ameta *ameta;
    mmarr_disk_dtype *dtypes;
    uint64_t *dims;
    mmarr_disk_meta *meta;
    char *heap;
} img;

static void img_load(img *im, const char *path)
{
    memset(im, 0, sizeof *im);
    im->buf = tu_read_file(path, &im->size);
    assert_non_null(im->buf);
    assert_true(im->size >= MMARR_SUPERBLOCK_SIZE);
    im->pro = (mmarr_disk_prologue *)im->buf;
    im->slot = (mmarr_disk_slot *)(im->buf + MMARR_SLOT_A_OFFSET);
    im->slot_b = (mmarr_disk_slot *)(im->buf + MMARR_SLOT_B_OFFSET);
    assert_int_equal(im->slot->generation, 1);
    assert_true(im->slot->index_offset + im->slot->index_size <= im->size);
    im->index = im->buf + im->slot->index_offset;
    im->hdr = (mmarr_disk_index_header *)im->index;
    assert_memory_equal(im->hdr->magic, MMARR_INDEX_MAGIC, 8);
    im->ent = (mmarr_disk_entry *)(im->index + im->hdr->entries_offset);
    im->order = (uint32_t *)(im->index + im->hdr->order_offset);
    im->names = (mmarr_disk_name *)(im->index + im->hdr->names_offset);
    im->ameta = (mmarr_disk_ameta *)(im->index + im->hdr->ameta_offset);
    im->dtypes = (mmarr_disk_dtype *)(im->index + im->hdr->dtypes_offset);
    im->dims = (uint64_t *)(im->index + im->hdr->dims_offset);
    im->meta = (mmarr_disk_meta *)(im->index + im->hdr->meta_offset);
    im->heap = (char *)(im->index + im->hdr->heap_offset);
}

static void img_free(img *im)
{
    free(im->buf);
    memset(im, 0, sizeof *im);
}

static void reseal_slot(mmarr_disk_slot *s)
{
    s->checksum = XXH3_64bits(s, 120);
}

/* Recompute the index checksum and slot A's checksum after editing the index. */
static void img_reseal(img *im)
{
    im->slot->index_checksum = XXH3_64bits(im->index, im->slot->index_size);
    reseal_slot(im->slot);
}

static void img_reseal_prologue(img *im)
{
    im->pro->checksum = XXH3_64bits(im->buf, 56);
}

/* The heap string equal to s (followed by its NUL); fails the test if absent. */
static char *img_heap_find(img *im, const char *s)
{
    size_t n = strlen(s) + 1;
    for (uint64_t off = 0; off + n <= im->hdr->heap_size; off++)
        if (!memcmp(im->heap + off, s, n) && (off == 0 || im->heap[off - 1] == '\0'))
            return im->heap + off;
    fail_msg("heap string \"%s\" not found", s);
    return NULL;
}

/* Entry number of the array named s. */
static size_t img_entry(img *im, const char *s)
{
    for (size_t i = 0; i < im->hdr->entry_count; i++) {
        const mmarr_disk_name *r = &im->names[im->ent[i].name_rank];
        if (r->name_size == strlen(s) && !memcmp(im->heap + r->name_offset, s, r->name_size))
            return i;
    }
    fail_msg("entry \"%s\" not found", s);
    return 0;
}

/* Write the image to dir/name and open it both ways; both must return the same code. */
static mmarr_err img_open(img *im, const char *dir, mmarr_error *e, mmarr_file **keep)
{
    char *path = tu_path(dir, "bad.mmarr");
    assert_int_equal(tu_write_file(path, im->buf, im->size), 0);
    mmarr_file *f = (mmarr_file *)1;
    memset(e, 0, sizeof *e);
    mmarr_err rc = mmarr_open(path, 0, &f, e);
    if (rc != MMARR_OK) {
        assert_null(f);
        assert_int_equal(e->code, rc);
        assert_true(e->message[0] != '\0');
    }
    mmarr_file *g = (mmarr_file *)1;
    mmarr_error e2;
    memset(&e2, 0, sizeof e2);
    mmarr_err rc2 = mmarr_open_buffer(im->buf, im->size, 0, &g, &e2);
    if (rc2 != rc)
        print_error("mmarr_open: %s (%s); mmarr_open_buffer: %s (%s)\n", mmarr_err_name(rc),
                    e->message, mmarr_err_name(rc2), e2.message);
    assert_int_equal(rc2, rc);
    if (rc2 == MMARR_OK)
        mmarr_close(g);
    else
        assert_null(g);
    if (keep)
        *keep = rc == MMARR_OK ? f : NULL;
    else if (rc == MMARR_OK)
        mmarr_close(f);
    free(path);
    return rc;
}

typedef void (*mutator)(img *im);

/* Write the base file, damage it with `m`, reseal the index and slot A, and expect `want`. */
static void run_corrupt(void **state, mutator m, mmarr_err want, int reseal)
{
    const char *dir = *state;
    char *path = tu_path(dir, "base.mmarr");
    write_base(path);
    img im;
    img_load(&im, path);
    m(&im);
    if (reseal)
        img_reseal(&im);
    mmarr_error e;
    mmarr_err rc = img_open(&im, dir, &e, NULL);
    assert_code(rc, want, e.message);
    if (want == MMARR_E_CORRUPT) {
        if (e.offset == MMARR_NO_OFFSET)
            print_error("no offset in: %s\n", e.message);
        assert_true(e.offset != MMARR_NO_OFFSET);
    }
    img_free(&im);
    free(path);
}

#define CORRUPT_CASE(name, want)                                                             \
    static void mut_##name(img *im);                                                         \
    static void test_errors__index_##name(void **state)                                      \
    {                                                                                        \
        run_corrupt(state, mut_##name, want, 1);                                             \
    }                                                                                        \
    static void mut_##name(img *im)

CORRUPT_CASE(overlapping_data_ranges, MMARR_E_CORRUPT)
{
    im->ent[1].data_offset = im->ent[0].data_offset;
}

CORRUPT_CASE(misaligned_data_offset, MMARR_E_CORRUPT)
{
    im->ent[2].data_offset += 8;
}

CORRUPT_CASE(data_beyond_file_size, MMARR_E_CORRUPT)
{
    im->ent[2].data_offset = (im->slot->file_size + 8191) / 4096 * 4096;
}

CORRUPT_CASE(data_offset_in_superblock, MMARR_E_CORRUPT)
{
    im->ent[0].data_offset = 0;
}

CORRUPT_CASE(invalid_dtype_string, MMARR_E_CORRUPT)
{
    memcpy(img_heap_find(im, "<f8"), "<f3", 3);
}

CORRUPT_CASE(noncanonical_dtype_string, MMARR_E_CORRUPT)
{
    /* "=f8" is accepted by mmarr_dtype_parse, but a file must hold the canonical form. */
    memcpy(img_heap_find(im, "<f8"), "=f8", 3);
}

CORRUPT_CASE(object_dtype_string, MMARR_E_CORRUPT)
{
    memcpy(img_heap_find(im, "|u1"), "|O\0", 3);
}

CORRUPT_CASE(ndim_65, MMARR_E_CORRUPT)
{
    im->ent[0].ndim = 65;
}

CORRUPT_CASE(ndim_255, MMARR_E_CORRUPT)
{
    im->ent[2].ndim = 255;
}

CORRUPT_CASE(unknown_storage, MMARR_E_CORRUPT)
{
    im->ent[0].storage = 2;
}

CORRUPT_CASE(unknown_entry_flag, MMARR_E_CORRUPT)
{
    im->ent[1].flags |= 0x04;
}

CORRUPT_CASE(cold_entry_without_feature, MMARR_E_CORRUPT)
{
    im->ent[1].storage = MMARR_STORAGE_ZSTD_CHUNKED;
}

CORRUPT_CASE(empty_name, MMARR_E_CORRUPT)
{
    im->names[im->ent[0].name_rank].name_size = 0;
}

CORRUPT_CASE(name_not_nul_terminated, MMARR_E_CORRUPT)
{
    im->names[im->ent[0].name_rank].name_size -= 1; /* "alph" followed by 'a', not NUL */
}

CORRUPT_CASE(name_invalid_utf8, MMARR_E_CORRUPT)
{
    img_heap_find(im, "gamma")[0] = (char)0xFF; /* still sorts last */
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
static void test_errors__name_bytes_every_length_and_position(void **state)
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

/* Two names A < B of up to 33 bytes, differing at every position or one a prefix of the
 * other, compared by the SSE2 path (heap room after them) and the scalar one: accepted in
 * order; refused when the table lists B before A, or when B is made equal to A. */
static void test_errors__name_order_every_position(void **state)
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

CORRUPT_CASE(name_outside_heap, MMARR_E_CORRUPT)
{
    im->names[im->ent[0].name_rank].name_offset = (uint32_t)im->hdr->heap_size;
}

CORRUPT_CASE(duplicate_names, MMARR_E_CORRUPT)
{
    memcpy(img_heap_find(im, "bravo"), "alpha", 5);
}

CORRUPT_CASE(names_not_a_permutation, MMARR_E_CORRUPT)
{
    im->order[1] = im->order[0]; /* two ranks claim one entry */
}

CORRUPT_CASE(names_wrong_order, MMARR_E_CORRUPT)
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

CORRUPT_CASE(names_entry_out_of_range, MMARR_E_CORRUPT)
{
    im->order[2] = 3;
}

CORRUPT_CASE(name_rank_out_of_range, MMARR_E_CORRUPT)
{
    im->ent[1].name_rank = 3;
}

CORRUPT_CASE(name_ranks_swapped, MMARR_E_CORRUPT)
{
    uint32_t t = im->ent[0].name_rank; /* the names table no longer points back */
    im->ent[0].name_rank = im->ent[1].name_rank;
    im->ent[1].name_rank = t;
}

CORRUPT_CASE(dtype_id_out_of_range, MMARR_E_CORRUPT)
{
    im->ent[0].dtype_id = (uint32_t)im->hdr->dtype_count;
}

CORRUPT_CASE(dims_out_of_range, MMARR_E_CORRUPT)
{
    im->ent[2].dims_first = (uint32_t)im->hdr->dim_count;
}

CORRUPT_CASE(nbytes_overflow, MMARR_E_CORRUPT)
{
    im->dims[im->ent[0].dims_first] = 1ull << 62; /* x 8 bytes overflows u64 */
}

CORRUPT_CASE(data_size_not_nbytes, MMARR_E_CORRUPT)
{
    im->ent[0].data_size += 1;
}

CORRUPT_CASE(raw_entry_with_cold_id, MMARR_E_CORRUPT)
{
    im->ent[0].cold_id = 0;
}

CORRUPT_CASE(entries_offset_unaligned, MMARR_E_CORRUPT)
{
    im->hdr->entries_offset += 4;
}

CORRUPT_CASE(entry_count_huge, MMARR_E_CORRUPT)
{
    im->hdr->entry_count = 1ull << 40;
}

CORRUPT_CASE(entry_count_past_index, MMARR_E_CORRUPT)
{
    im->hdr->entry_count = 100000;
}

CORRUPT_CASE(sections_out_of_order, MMARR_E_CORRUPT)
{
    uint64_t t = im->hdr->entries_offset;
    im->hdr->entries_offset = im->hdr->heap_offset;
    im->hdr->heap_offset = t;
}

CORRUPT_CASE(heap_size_past_index, MMARR_E_CORRUPT)
{
    im->hdr->heap_size = im->slot->index_size;
}

CORRUPT_CASE(index_magic, MMARR_E_CORRUPT)
{
    im->hdr->magic[0] = 'X';
}

CORRUPT_CASE(file_meta_keys_unsorted, MMARR_E_CORRUPT)
{
    assert_int_equal(im->hdr->file_meta_count, 2);
    mmarr_disk_meta t = im->meta[im->hdr->file_meta_first];
    im->meta[im->hdr->file_meta_first] = im->meta[im->hdr->file_meta_first + 1];
    im->meta[im->hdr->file_meta_first + 1] = t;
}

CORRUPT_CASE(file_meta_duplicate_key, MMARR_E_CORRUPT)
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

CORRUPT_CASE(array_meta_duplicate_key, MMARR_E_CORRUPT)
{
    size_t b = img_entry(im, "bravo");
    mmarr_disk_meta *m = &im->meta[img_ameta(im, b)->meta_first];
    m[1].key_offset = m[0].key_offset; /* m1 = "x", m1 = "y" */
    m[1].key_size = m[0].key_size;
}

CORRUPT_CASE(file_meta_out_of_range, MMARR_E_CORRUPT)
{
    im->hdr->file_meta_count = (uint32_t)im->hdr->meta_count + 5;
}

CORRUPT_CASE(array_meta_out_of_range, MMARR_E_CORRUPT)
{
    size_t b = img_entry(im, "bravo");
    assert_int_equal(img_ameta(im, b)->meta_count, 2);
    img_ameta(im, b)->meta_first = (uint32_t)im->hdr->meta_count;
}

CORRUPT_CASE(array_meta_entry_out_of_range, MMARR_E_CORRUPT)
{
    img_ameta(im, img_entry(im, "bravo"))->entry = (uint32_t)im->hdr->entry_count;
}

CORRUPT_CASE(array_meta_empty_group, MMARR_E_CORRUPT)
{
    img_ameta(im, img_entry(im, "bravo"))->meta_count = 0;
}

CORRUPT_CASE(meta_key_empty, MMARR_E_CORRUPT)
{
    im->meta[im->hdr->file_meta_first].key_size = 0;
}

CORRUPT_CASE(meta_value_invalid_utf8, MMARR_E_CORRUPT)
{
    img_heap_find(im, "v2")[0] = (char)0xC0; /* 0xC0 0x32: overlong / bad continuation */
}

/* Reserved fields must be ignored by readers (spec.md §2): these files open. */
CORRUPT_CASE(reserved_entry_fields_ignored, MMARR_OK)
{
    im->ent[0].reserved[0] = 0x5A;
    memset(im->ent[1].reserved, 0xC3, sizeof im->ent[1].reserved);
}

CORRUPT_CASE(reserved_header_fields_ignored, MMARR_OK)
{
    memset(im->hdr->reserved, 0x77, sizeof im->hdr->reserved);
}

/* ---------------------------------------------------------------------------------------- */
/* Superblock damage                                                                         */

static void base_image(void **state, img *im)
{
    char *path = tu_path(*state, "base.mmarr");
    write_base(path);
    img_load(im, path);
    free(path);
}

static void test_errors__flipped_index_bits_fail_checksum(void **state)
{
    img im;
    base_image(state, &im);
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

/* An index of 20,000 arrays (over 1 MiB) is hashed on a second thread while the structure is
 * validated (index.c): a flipped bit must still be reported as a checksum failure, even where
 * the structural checks also fail, and a resealed structural fault as corruption. */
static void test_errors__large_index_checksum_and_structure(void **state)
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
 * of 2,048 names that each claims in turn (index.c, mm_vjob). Whatever block a fault lies in,
 * and whichever thread finds it, the error must be the one a sequential check reports first
 * (names before entries; of two faults, the first in table order), and entry messages must
 * still name the array. The file also has shapes that alternate, so that the writer shares
 * dims runs. */
static void test_errors__large_index_split_validation(void **state)
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

/* A rehash rewrites every checksum; while another read-write handle has the file open (its
 * writes could land mid-hash), it is refused with MMARR_E_STATE and changes nothing; once the
 * other handle is closed it succeeds and verify passes again. */
static void test_errors__rehash_with_another_writer_open(void **state)
{
    char *path = tu_path(*state, "rehash.mmarr");
    write_base(path);
    mmarr_file *a, *b;
    mmarr_error e;
    assert_code(mmarr_open(path, MMARR_OPEN_RDWR, &a, &e), MMARR_OK, e.message);
    assert_code(mmarr_open(path, MMARR_OPEN_RDWR, &b, &e), MMARR_OK, e.message);
    mmarr_array_info ai;
    assert_int_equal(mmarr_file_find_array(a, "gamma", &ai, NULL), MMARR_OK);
    ((unsigned char *)ai.data)[10] ^= 0xFF;
    memset(&e, 0, sizeof e);
    assert_code(mmarr_file_flush(a, MMARR_FLUSH_REHASH, &e), MMARR_E_STATE, e.message);
    assert_msg_has(e.message, "another read-write handle");
    assert_msg_has(e.message, "rehash.mmarr");
    assert_code(mmarr_file_verify_array(a, ai.index, &e), MMARR_E_STALE, e.message);
    mmarr_close(b);
    assert_code(mmarr_file_flush(a, MMARR_FLUSH_REHASH, &e), MMARR_OK, e.message);
    assert_code(mmarr_file_verify(a, &e), MMARR_OK, e.message);
    mmarr_close(a);
    assert_code(mmarr_open(path, MMARR_OPEN_VERIFY, &a, &e), MMARR_OK, e.message);
    mmarr_close(a);
    free(path);
}

static void test_errors__bad_magic(void **state)
{
    img im;
    base_image(state, &im);
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

static void test_errors__prologue_checksum(void **state)
{
    img im;
    base_image(state, &im);
    im.buf[17] ^= 0x01; /* alignment 4096 -> 4352, checksum not fixed */
    mmarr_error e;
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CHECKSUM, e.message);
    img_free(&im);
}

static void test_errors__major_version(void **state)
{
    img im;
    base_image(state, &im);
    im.pro->format_major = 2;
    img_reseal_prologue(&im);
    mmarr_error e;
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_VERSION, e.message);
    im.pro->format_major = 0;
    img_reseal_prologue(&im);
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_VERSION, e.message);
    img_free(&im);
}

static void test_errors__newer_minor_version_opens(void **state)
{
    img im;
    base_image(state, &im);
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

static void test_errors__bad_alignment(void **state)
{
    img im;
    base_image(state, &im);
    static const uint32_t bad[] = {0, 3000, 2048, 4097, 4u << 20, 12288};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        im.pro->alignment = bad[i];
        img_reseal_prologue(&im);
        mmarr_error e;
        assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
    }
    img_free(&im);
}

static void test_errors__unknown_required_feature(void **state)
{
    img im;
    base_image(state, &im);
    im.slot->required_features |= 1ull << 5;
    reseal_slot(im.slot);
    mmarr_error e;
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_UNSUPPORTED, e.message);
    img_free(&im);
}

static void test_errors__unknown_optional_bits_ignored(void **state)
{
    img im;
    base_image(state, &im);
    im.slot->optional_features |= 1ull << 9;
    im.slot->state_flags |= 1ull << 7; /* unknown state bit */
    im.slot->reserved[3] = 0x42;
    reseal_slot(im.slot);
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

static void test_errors__file_shorter_than_slot_says(void **state)
{
    img im;
    base_image(state, &im);
    im.slot->file_size = im.size + 4096;
    reseal_slot(im.slot);
    mmarr_error e;
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_TRUNCATED, e.message);
    img_free(&im);
}

static void test_errors__index_outside_file_size(void **state)
{
    img im;
    base_image(state, &im);
    im.slot->index_size = im.slot->file_size; /* index_offset + index_size > file_size */
    reseal_slot(im.slot);
    mmarr_error e;
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);

    img_free(&im);
    base_image(state, &im);
    im.slot->index_offset = UINT64_MAX - 63; /* overflows when added to index_size */
    reseal_slot(im.slot);
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);

    img_free(&im);
    base_image(state, &im);
    im.slot->index_offset = 0; /* < 512 */
    reseal_slot(im.slot);
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
    img_free(&im);
}

static void test_errors__index_offset_or_size_invalid(void **state)
{
    img im;
    base_image(state, &im);
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
    reseal_slot(sl);
    mmarr_error e;
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
    img_free(&im);

    base_image(state, &im);
    im.slot->index_size = 128; /* < 192, with a checksum matching those 128 bytes */
    im.slot->index_checksum = XXH3_64bits(im.index, 128);
    reseal_slot(im.slot);
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
    img_free(&im);
}

static void test_errors__no_valid_slot(void **state)
{
    img im;
    base_image(state, &im);
    im.slot->generation ^= 0x100; /* slot A damaged; slot B is empty */
    mmarr_error e;
    /* spec.md §4.2: "If no slot is valid the file is corrupt." */
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
    /* both slots empty */
    memset(im.slot, 0, sizeof *im.slot);
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
    img_free(&im);
    /* the only used slot has generation 0 (must be >= 1) with a matching checksum */
    base_image(state, &im);
    im.slot->generation = 0;
    reseal_slot(im.slot);
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
    img_free(&im);
}

static void test_errors__damaged_inactive_slot_still_opens(void **state)
{
    img im;
    base_image(state, &im);
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

static void test_errors__active_slot_damaged_other_used(void **state)
{
    img im;
    base_image(state, &im);
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

static void test_errors__newer_generation_wins(void **state)
{
    img im;
    base_image(state, &im);
    memcpy(im.slot_b, im.slot, sizeof *im.slot);
    im.slot_b->generation = 2;
    reseal_slot(im.slot_b);
    mmarr_error e;
    mmarr_file *f = NULL;
    assert_code(img_open(&im, *state, &e, &f), MMARR_OK, e.message);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    assert_int_equal(fi.generation, 2);
    assert_int_equal(fi.inactive_slot_damaged, 0);
    mmarr_close(f);

    /* generation 2 pointing at a broken index: the newest valid slot is used, so it fails */
    im.slot_b->index_checksum ^= 1;
    reseal_slot(im.slot_b);
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CHECKSUM, e.message);
    img_free(&im);
}

static void test_errors__same_generation_must_be_identical(void **state)
{
    img im;
    base_image(state, &im);
    memcpy(im.slot_b, im.slot, sizeof *im.slot);
    mmarr_error e;
    assert_code(img_open(&im, *state, &e, NULL), MMARR_OK, e.message); /* identical: fine */
    im.slot_b->optional_features = 1ull << 3;
    reseal_slot(im.slot_b);
    assert_code(img_open(&im, *state, &e, NULL), MMARR_E_CORRUPT, e.message);
    img_free(&im);
}

/* ---------------------------------------------------------------------------------------- */
/* Empty, text and truncated files                                                           */

static void test_errors__open_missing_file(void **state)
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

static void test_errors__open_empty_file(void **state)
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

static void test_errors__open_text_file(void **state)
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

static void test_errors__truncated_files(void **state)
{
    img im;
    base_image(state, &im);
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
/* Data damage: found by verification, not at open                                           */

static void test_errors__flipped_data_byte_caught_by_verify(void **state)
{
    img im;
    base_image(state, &im);
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

static void test_errors__nonzero_padding_caught_by_verify(void **state)
{
    /* alpha: 8000 bytes at a page boundary, then zero padding up to 8192; a non-zero byte
     * at the first, a middle and the last padding position is reported at its offset */
    static const size_t at[] = {8000, 8017, 8191};
    for (size_t t = 0; t < sizeof at / sizeof at[0]; t++) {
        img im;
        base_image(state, &im);
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

/* ---------------------------------------------------------------------------------------- */
/* Writer misuse                                                                             */

static void test_errors__duplicate_array_name(void **state)
{
    char *path = tu_path(*state, "dup.mmarr");
    mmarr_writer *w = writer_new(path, 0);
    uint64_t s[1] = {2};
    const int32_t v1[2] = {1, 2}, v2[2] = {3, 4};
    writer_add_ok(w, "dup_name_42", "<i4", 1, s, v1);
    mmarr_err rc = mmarr_writer_add(w, "dup_name_42", "<i4", 1, s, MMARR_ORDER_C, v2);
    assert_writer_err(w, rc, MMARR_E_EXISTS, "dup_name_42");
    void *p = NULL;
    rc = mmarr_writer_reserve(w, "dup_name_42", "<f8", 1, s, MMARR_ORDER_C, &p);
    assert_writer_err(w, rc, MMARR_E_EXISTS, "dup_name_42");
    assert_int_equal(mmarr_writer_count(w), 1);
    /* the writer is still usable */
    writer_add_ok(w, "other", "<i4", 1, s, v2);
    writer_commit_ok(w);
    mmarr_file *f = NULL;
    assert_int_equal(mmarr_open(path, 0, &f, NULL), MMARR_OK);
    assert_int_equal(mmarr_file_count(f), 2);
    mmarr_array_info a;
    assert_int_equal(mmarr_file_find_array(f, "dup_name_42", &a, NULL), MMARR_OK);
    assert_memory_equal(a.data, v1, 8);
    mmarr_close(f);
    free(path);
}

static void test_errors__shape_overflow_and_ndim(void **state)
{
    char *path = tu_path(*state, "range.mmarr");
    mmarr_writer *w = writer_new(path, 0);
    /* A small real buffer: a writer that missed the overflow would read past it. */
    static const unsigned char small[64];
    static const uint64_t big3[3] = {1ull << 32, 1ull << 32, 2}; /* product overflows */
    mmarr_err rc = mmarr_writer_add(w, "ovf_items", "|u1", 3, big3, MMARR_ORDER_C, small);
    assert_writer_err(w, rc, MMARR_E_RANGE, "ovf_items");
    static const uint64_t big1[1] = {1ull << 62}; /* x 8 bytes overflows */
    rc = mmarr_writer_add(w, "ovf_bytes", "<f8", 1, big1, MMARR_ORDER_C, small);
    assert_writer_err(w, rc, MMARR_E_RANGE, "ovf_bytes");
    static const uint64_t big63[1] = {1ull << 60}; /* 2^63 bytes: spec.md §6 wants < 2^63 */
    rc = mmarr_writer_add(w, "ovf_2_63", "<f8", 1, big63, MMARR_ORDER_C, small);
    assert_writer_err(w, rc, MMARR_E_RANGE, "ovf_2_63");
    /* the same overflows with NULL data are refused too (RANGE or INVAL) */
    rc = mmarr_writer_add(w, "ovf_null", "|u1", 3, big3, MMARR_ORDER_C, NULL);
    assert_true(rc == MMARR_E_RANGE || rc == MMARR_E_INVAL);
    static const uint64_t maxdim[2] = {UINT64_MAX, UINT64_MAX};
    void *p = NULL;
    rc = mmarr_writer_reserve(w, "ovf_res", "|u1", 2, maxdim, MMARR_ORDER_F, &p);
    assert_writer_err(w, rc, MMARR_E_RANGE, "ovf_res");
    /* a zero dimension makes the array empty; the other dimensions are kept */
    static const uint64_t zero_big[3] = {1ull << 40, 0, 3};
    writer_add_ok(w, "zero_big", "<f8", 3, zero_big, NULL);

    uint64_t ones[65];
    for (int i = 0; i < 65; i++)
        ones[i] = 1;
    const uint8_t one = 7;
    rc = mmarr_writer_add(w, "dims65", "|u1", 65, ones, MMARR_ORDER_C, &one);
    assert_writer_err(w, rc, MMARR_E_RANGE, "dims65");
    writer_add_ok(w, "dims64", "|u1", 64, ones, &one); /* the limit itself is fine */

    char *longname = malloc(65537);
    assert_non_null(longname);
    memset(longname, 'L', 65536);
    longname[65536] = '\0';
    rc = mmarr_writer_add(w, longname, "|u1", 1, ones, MMARR_ORDER_C, &one);
    assert_writer_err(w, rc, MMARR_E_RANGE, NULL);
    free(longname);

    assert_int_equal(mmarr_writer_count(w), 2);
    writer_commit_ok(w);
    mmarr_file *f = NULL;
    assert_int_equal(mmarr_open(path, 0, &f, NULL), MMARR_OK);
    mmarr_array_info a;
    assert_int_equal(mmarr_file_find_array(f, "dims64", &a, NULL), MMARR_OK);
    assert_int_equal(a.ndim, 64);
    assert_int_equal(*(const uint8_t *)a.data, 7);
    assert_int_equal(mmarr_file_find_array(f, "zero_big", &a, NULL), MMARR_OK);
    assert_int_equal(a.nbytes, 0);
    assert_int_equal(a.shape[0], 1ull << 40);
    assert_int_equal(a.shape[2], 3);
    mmarr_close(f);
    free(path);
}

static void test_errors__bad_dtype(void **state)
{
    char *path = tu_path(*state, "dt.mmarr");
    mmarr_writer *w = writer_new(path, 0);
    uint64_t s[1] = {1};
    const double v = 1.0;
    static const char *const bad[] = {"O", "<f16", "<c32", "", "[]", "|S0", "nonsense",
                                      "[('a', '<f4'), ('a', '<i4')]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mmarr_err rc = mmarr_writer_add(w, "bad_dtype_arr", bad[i], 1, s, MMARR_ORDER_C, &v);
        assert_writer_err(w, rc, MMARR_E_DTYPE, NULL);
        void *p = NULL;
        rc = mmarr_writer_reserve(w, "bad_dtype_arr", bad[i], 1, s, MMARR_ORDER_C, &p);
        assert_writer_err(w, rc, MMARR_E_DTYPE, NULL);
    }
    mmarr_err rc = mmarr_writer_add(w, "bad_dtype_arr", "<f16", 1, s, MMARR_ORDER_C, &v);
    assert_writer_err(w, rc, MMARR_E_DTYPE, "f16");
    rc = mmarr_writer_add(w, "x", NULL, 1, s, MMARR_ORDER_C, &v);
    assert_true(rc == MMARR_E_DTYPE || rc == MMARR_E_INVAL);
    assert_int_equal(mmarr_writer_count(w), 0);
    /* still usable: the same name with a good dtype */
    writer_add_ok(w, "bad_dtype_arr", "<f8", 1, s, &v);
    writer_commit_ok(w);
    free(path);
}

static void test_errors__bad_names(void **state)
{
    char *path = tu_path(*state, "names.mmarr");
    mmarr_writer *w = writer_new(path, 0);
    uint64_t s[1] = {1};
    const uint8_t v = 1;
    mmarr_err rc = mmarr_writer_add(w, "", "|u1", 1, s, MMARR_ORDER_C, &v);
    assert_writer_err(w, rc, MMARR_E_INVAL, "name");
    rc = mmarr_writer_add(w, NULL, "|u1", 1, s, MMARR_ORDER_C, &v);
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    static const char *const bad_utf8[] = {
        "\xff",                 /* never valid */
        "abc\x80",              /* stray continuation */
        "\xc0\x80",             /* overlong NUL */
        "\xe0\x80\xaf",         /* overlong '/' */
        "\xed\xa0\x80",         /* surrogate U+D800 */
        "\xf4\x90\x80\x80",     /* U+110000 */
        "\xe2\x82",             /* truncated sequence */
        "ok\xf0\x9f\x98",       /* truncated 4-byte sequence */
    };
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        rc = mmarr_writer_add(w, bad_utf8[i], "|u1", 1, s, MMARR_ORDER_C, &v);
        assert_writer_err(w, rc, MMARR_E_INVAL, "utf");
        void *p = NULL;
        rc = mmarr_writer_reserve(w, bad_utf8[i], "|u1", 1, s, MMARR_ORDER_C, &p);
        assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    }
    assert_int_equal(mmarr_writer_count(w), 0);
    writer_add_ok(w, "\xf0\x9f\x98\x80 fine", "|u1", 1, s, &v); /* valid 4-byte UTF-8 */
    writer_commit_ok(w);
    free(path);
}

static void test_errors__data_null_with_bytes(void **state)
{
    char *path = tu_path(*state, "null.mmarr");
    mmarr_writer *w = writer_new(path, 0);
    uint64_t s[1] = {4};
    mmarr_err rc = mmarr_writer_add(w, "needs_data", "<f4", 1, s, MMARR_ORDER_C, NULL);
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    rc = mmarr_writer_reserve(w, "needs_ptr", "<f4", 1, s, MMARR_ORDER_C, NULL);
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    rc = mmarr_writer_add(w, "no_shape", "<f4", 1, NULL, MMARR_ORDER_C, NULL);
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    assert_int_equal(mmarr_writer_count(w), 0);
    mmarr_writer_free(w);
    free(path);
}

static void test_errors__bad_metadata(void **state)
{
    char *path = tu_path(*state, "meta.mmarr");
    mmarr_writer *w = writer_new(path, 0);
    uint64_t s[1] = {1};
    const uint8_t v = 1;
    writer_add_ok(w, "arr", "|u1", 1, s, &v);
    mmarr_err rc = mmarr_writer_set_file_meta(w, "", "x");
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    rc = mmarr_writer_set_file_meta(w, "k\xff", "x");
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    rc = mmarr_writer_set_file_meta(w, "k", "\xed\xa0\x80");
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    rc = mmarr_writer_set_file_meta(w, NULL, "x");
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    rc = mmarr_writer_set_file_meta(w, "k", NULL);
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    rc = mmarr_writer_set_array_meta(w, "arr", "", "x");
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    rc = mmarr_writer_set_array_meta(w, "arr", "k", "\xc0\xaf");
    assert_writer_err(w, rc, MMARR_E_INVAL, NULL);
    /* still usable */
    assert_int_equal(mmarr_writer_set_array_meta(w, "arr", "k", "v"), MMARR_OK);
    assert_int_equal(mmarr_writer_set_file_meta(w, "k", "v"), MMARR_OK);
    writer_commit_ok(w);

    /* metadata for an array that was never added */
    w = writer_new(path, 0);
    writer_add_ok(w, "arr", "|u1", 1, s, &v);
    rc = mmarr_writer_set_array_meta(w, "no_such_array", "k", "v");
    assert_writer_err(w, rc, MMARR_E_NOTFOUND, "no_such_array");
    mmarr_writer_free(w);

    mmarr_file *f = NULL;
    assert_int_equal(mmarr_open(path, 0, &f, NULL), MMARR_OK);
    ASSERT_STR(mmarr_file_meta_get(f, "k"), "v");
    ASSERT_STR(mmarr_array_meta_get(f, 0, "k"), "v");
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    assert_int_equal(fi.meta_count, 1);
    mmarr_close(f);
    free(path);
}

static void test_errors__bad_writer_options(void **state)
{
    char *path = tu_path(*state, "opts.mmarr");
    static const uint32_t bad[] = {1000, 2048, 4097, 3 * 4096, 4u << 20, 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mmarr_writer_options o;
        memset(&o, 0, sizeof o);
        o.alignment = bad[i];
        o.flags = MMARR_WRITE_NO_SYNC;
        mmarr_writer *w = (mmarr_writer *)1;
        mmarr_error e;
        memset(&e, 0, sizeof e);
        assert_code(mmarr_writer_create(path, &o, &w, &e), MMARR_E_INVAL, e.message);
        assert_null(w);
        assert_msg_has(e.message, "align");
    }
    /* the limits themselves are accepted */
    static const uint32_t good[] = {4096, 2u << 20};
    for (size_t i = 0; i < 2; i++) {
        mmarr_writer_options o;
        memset(&o, 0, sizeof o);
        o.alignment = good[i];
        o.flags = MMARR_WRITE_NO_SYNC;
        mmarr_writer *w = NULL;
        assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
        mmarr_writer_free(w);
    }
    char names[256];
    assert_int_equal(tu_list_dir(*state, names, sizeof names), 0); /* nothing left behind */
    free(path);
}

static void test_errors__create_in_missing_directory(void **state)
{
    char *path = tu_path(*state, "no/such/dir/x.mmarr");
    mmarr_writer *w = (mmarr_writer *)1;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    assert_code(mmarr_writer_create(path, NULL, &w, &e), MMARR_E_IO, e.message);
    assert_null(w);
    assert_int_equal(e.sys_errno, ENOENT);
    assert_msg_has(e.message, "no/such/dir");
    free(path);
}

static void test_errors__writer_misuse_after_commit(void **state)
{
    char *path = tu_path(*state, "state.mmarr");
    mmarr_writer *w = writer_new(path, 0);
    uint64_t s[1] = {1};
    const uint8_t v = 1;
    writer_add_ok(w, "a", "|u1", 1, s, &v);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    assert_int_equal(mmarr_writer_error(w)->code, MMARR_OK);

    mmarr_err rc = mmarr_writer_add(w, "b", "|u1", 1, s, MMARR_ORDER_C, &v);
    assert_writer_err(w, rc, MMARR_E_STATE, NULL);
    void *p = NULL;
    rc = mmarr_writer_reserve(w, "c", "|u1", 1, s, MMARR_ORDER_C, &p);
    assert_writer_err(w, rc, MMARR_E_STATE, NULL);
    rc = mmarr_writer_set_file_meta(w, "k", "v");
    assert_writer_err(w, rc, MMARR_E_STATE, NULL);
    rc = mmarr_writer_set_array_meta(w, "a", "k", "v");
    assert_writer_err(w, rc, MMARR_E_STATE, NULL);
    rc = mmarr_writer_commit(w);
    assert_writer_err(w, rc, MMARR_E_STATE, NULL);
    assert_int_equal(mmarr_writer_count(w), 1);
    mmarr_writer_free(w);
    mmarr_writer_free(NULL);

    /* the committed file is unaffected */
    mmarr_file *f = NULL;
    assert_int_equal(mmarr_open(path, 0, &f, NULL), MMARR_OK);
    assert_int_equal(mmarr_file_count(f), 1);
    assert_null(mmarr_file_meta_get(f, "k"));
    mmarr_close(f);
    char names[256];
    assert_int_equal(tu_list_dir(*state, names, sizeof names), 1);
    ASSERT_STR(names, "state.mmarr");
    free(path);
}

static void test_errors__no_replace_keeps_existing_file(void **state)
{
    char *path = tu_path(*state, "keep.mmarr");
    uint64_t s[1] = {3};
    const uint16_t v1[3] = {1, 2, 3}, v2[3] = {4, 5, 6};
    mmarr_writer *w = writer_new(path, MMARR_WRITE_NO_REPLACE); /* target absent: fine */
    writer_add_ok(w, "v", "<u2", 1, s, v1);
    writer_commit_ok(w);
    size_t size0 = 0;
    void *before = tu_read_file(path, &size0);
    assert_non_null(before);

    w = writer_new(path, MMARR_WRITE_NO_REPLACE);
    writer_add_ok(w, "v", "<u2", 1, s, v2);
    writer_add_ok(w, "extra", "<u2", 1, s, v2);
    mmarr_err rc = mmarr_writer_commit(w);
    assert_writer_err(w, rc, MMARR_E_EXISTS, "keep.mmarr");
    /* after a failed commit the writer is finished */
    rc = mmarr_writer_add(w, "more", "<u2", 1, s, MMARR_ORDER_C, v2);
    assert_writer_err(w, rc, MMARR_E_STATE, NULL);
    mmarr_writer_free(w);

    size_t size1 = 0;
    void *after = tu_read_file(path, &size1);
    assert_non_null(after);
    assert_int_equal(size1, size0);
    assert_memory_equal(after, before, size0);
    char names[256];
    assert_int_equal(tu_list_dir(*state, names, sizeof names), 1); /* temporary removed */
    ASSERT_STR(names, "keep.mmarr");

    mmarr_file *f = NULL;
    assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, NULL), MMARR_OK);
    mmarr_array_info a;
    assert_int_equal(mmarr_file_find_array(f, "v", &a, NULL), MMARR_OK);
    assert_memory_equal(a.data, v1, 6);
    assert_int_equal(mmarr_file_count(f), 1);
    mmarr_close(f);
    free(before);
    free(after);
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* Reader misuse                                                                             */

static void test_errors__reader_misuse(void **state)
{
    char *path = tu_path(*state, "base.mmarr");
    write_base(path);
    mmarr_file *f = NULL;
    assert_int_equal(mmarr_open(path, 0, &f, NULL), MMARR_OK);
    mmarr_error e, last;
    size_t idx = 77;

    memset(&e, 0, sizeof e);
    assert_code(mmarr_file_find(f, "no_such_name", &idx, &e), MMARR_E_NOTFOUND, e.message);
    assert_msg_has(e.message, "no_such_name");
    memset(&last, 0, sizeof last);
    assert_int_equal(mmarr_file_last_error(f, &last), MMARR_E_NOTFOUND);
    assert_msg_has(last.message, "no_such_name");
    mmarr_array_info a;
    assert_code(mmarr_file_find_array(f, "alph", &a, &e), MMARR_E_NOTFOUND, e.message);
    assert_code(mmarr_file_find_array(f, "alphaa", &a, NULL), MMARR_E_NOTFOUND, NULL);

    assert_code(mmarr_file_array(f, 3, &a, &e), MMARR_E_INVAL, e.message);
    assert_code(mmarr_file_array(f, SIZE_MAX, &a, &e), MMARR_E_INVAL, e.message);
    assert_code(mmarr_file_verify_array(f, 3, &e), MMARR_E_INVAL, e.message);
    const char *k, *v;
    assert_code(mmarr_file_meta(f, 2, &k, &v, &e), MMARR_E_INVAL, e.message);
    assert_code(mmarr_array_meta(f, 9, 0, &k, &v, &e), MMARR_E_INVAL, e.message);
    assert_int_equal(mmarr_file_last_error(f, &last), MMARR_E_INVAL);

    /* flushing a read-only handle */
    assert_code(mmarr_file_flush(f, 0, &e), MMARR_E_READONLY, e.message);
    assert_code(mmarr_file_flush(f, MMARR_FLUSH_REHASH, &e), MMARR_E_READONLY, e.message);
    /* memory calls on a bad index */
    assert_code(mmarr_file_advise(f, 99, MMARR_ADVICE_NORMAL, &e), MMARR_E_INVAL, e.message);
    assert_code(mmarr_file_prefetch(f, 99, &e), MMARR_E_INVAL, e.message);

    /* the handle still works after errors */
    assert_int_equal(mmarr_file_find(f, "gamma", &idx, NULL), MMARR_OK);
    assert_int_equal(idx, 2);
    mmarr_close(f);
    mmarr_close(NULL);

    /* buffers: read-only only, and no madvise */
    size_t size = 0;
    void *buf = tu_read_file(path, &size);
    assert_non_null(buf);
    f = (mmarr_file *)1;
    assert_code(mmarr_open_buffer(buf, size, MMARR_OPEN_RDWR, &f, &e), MMARR_E_INVAL,
                e.message);
    assert_null(f);
    assert_int_equal(mmarr_open_buffer(buf, size, 0, &f, NULL), MMARR_OK);
    assert_code(mmarr_file_advise(f, MMARR_ALL, MMARR_ADVICE_WILLNEED, &e), MMARR_E_INVAL,
                e.message);
    assert_code(mmarr_file_flush(f, 0, &e), MMARR_E_READONLY, e.message);
    mmarr_close(f);
    free(buf);
    free(path);
}

static void test_errors__null_arguments(void **state)
{
    char *path = tu_path(*state, "base.mmarr");
    write_base(path);
    mmarr_error e;
    mmarr_file *f = NULL;
    assert_code(mmarr_open(path, 0, NULL, &e), MMARR_E_INVAL, e.message);
    f = (mmarr_file *)1;
    assert_code(mmarr_open_buffer(NULL, 4096, 0, &f, &e), MMARR_E_INVAL, e.message);
    assert_null(f);
    mmarr_writer *w = (mmarr_writer *)1;
    assert_code(mmarr_writer_create(NULL, NULL, &w, &e), MMARR_E_INVAL, e.message);
    assert_null(w);
    free(path);
    /* mmarr.h: "out receives the handle; NULL on failure" */
    f = (mmarr_file *)1;
    assert_code(mmarr_open(NULL, 0, &f, &e), MMARR_E_INVAL, e.message);
    assert_null(f);
}

/* ---------------------------------------------------------------------------------------- */
/* Error names                                                                               */

static void test_errors__strerror_and_names(void **state)
{
    (void)state;
    static const struct {
        mmarr_err code;
        const char *name;
    } codes[] = {
        {MMARR_OK, "MMARR_OK"},
        {MMARR_E_INVAL, "MMARR_E_INVAL"},
        {MMARR_E_NOMEM, "MMARR_E_NOMEM"},
        {MMARR_E_IO, "MMARR_E_IO"},
        {MMARR_E_NOSPACE, "MMARR_E_NOSPACE"},
        {MMARR_E_BADMAGIC, "MMARR_E_BADMAGIC"},
        {MMARR_E_VERSION, "MMARR_E_VERSION"},
        {MMARR_E_CORRUPT, "MMARR_E_CORRUPT"},
        {MMARR_E_CHECKSUM, "MMARR_E_CHECKSUM"},
        {MMARR_E_TRUNCATED, "MMARR_E_TRUNCATED"},
        {MMARR_E_UNSUPPORTED, "MMARR_E_UNSUPPORTED"},
        {MMARR_E_STALE, "MMARR_E_STALE"},
        {MMARR_E_NOTFOUND, "MMARR_E_NOTFOUND"},
        {MMARR_E_DTYPE, "MMARR_E_DTYPE"},
        {MMARR_E_EXISTS, "MMARR_E_EXISTS"},
        {MMARR_E_RANGE, "MMARR_E_RANGE"},
        {MMARR_E_READONLY, "MMARR_E_READONLY"},
        {MMARR_E_STATE, "MMARR_E_STATE"},
    };
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        const char *s = mmarr_strerror(codes[i].code);
        const char *nm = mmarr_err_name(codes[i].code);
        assert_non_null(s);
        assert_non_null(nm);
        ASSERT_STR(nm, codes[i].name);
        assert_true(strlen(s) > strlen(nm));
        /* "MMARR_E_CHECKSUM: checksum mismatch" */
        assert_int_equal(strncmp(s, nm, strlen(nm)), 0);
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(s, mmarr_strerror(codes[j].code));
            assert_string_not_equal(nm, mmarr_err_name(codes[j].code));
        }
    }
    static const int unknown[] = {5, 9, 17, 19, 24 + 1, 29, 31, 999, -1};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        ASSERT_STR(mmarr_err_name((mmarr_err)unknown[i]), "MMARR_E_UNKNOWN");
        assert_non_null(mmarr_strerror((mmarr_err)unknown[i]));
    }
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup_dir, tu_teardown_dir)
    const struct CMUnitTest tests[] = {
        T(test_errors__index_overlapping_data_ranges),
        T(test_errors__index_misaligned_data_offset),
        T(test_errors__index_data_beyond_file_size),
        T(test_errors__index_data_offset_in_superblock),
        T(test_errors__index_invalid_dtype_string),
        T(test_errors__index_noncanonical_dtype_string),
        T(test_errors__index_object_dtype_string),
        T(test_errors__index_ndim_65),
        T(test_errors__index_ndim_255),
        T(test_errors__index_unknown_storage),
        T(test_errors__index_unknown_entry_flag),
        T(test_errors__index_cold_entry_without_feature),
        T(test_errors__index_empty_name),
        T(test_errors__index_name_not_nul_terminated),
        T(test_errors__index_name_invalid_utf8),
        T(test_errors__name_bytes_every_length_and_position),
        T(test_errors__name_order_every_position),
        T(test_errors__index_name_outside_heap),
        T(test_errors__index_duplicate_names),
        T(test_errors__large_index_checksum_and_structure),
        T(test_errors__large_index_split_validation),
        T(test_errors__rehash_with_another_writer_open),
        T(test_errors__index_names_not_a_permutation),
        T(test_errors__index_names_wrong_order),
        T(test_errors__index_names_entry_out_of_range),
        T(test_errors__index_name_rank_out_of_range),
        T(test_errors__index_name_ranks_swapped),
        T(test_errors__index_dtype_id_out_of_range),
        T(test_errors__index_dims_out_of_range),
        T(test_errors__index_nbytes_overflow),
        T(test_errors__index_data_size_not_nbytes),
        T(test_errors__index_raw_entry_with_cold_id),
        T(test_errors__index_entries_offset_unaligned),
        T(test_errors__index_entry_count_huge),
        T(test_errors__index_entry_count_past_index),
        T(test_errors__index_sections_out_of_order),
        T(test_errors__index_heap_size_past_index),
        T(test_errors__index_index_magic),
        T(test_errors__index_file_meta_keys_unsorted),
        T(test_errors__index_file_meta_duplicate_key),
        T(test_errors__index_array_meta_duplicate_key),
        T(test_errors__index_file_meta_out_of_range),
        T(test_errors__index_array_meta_out_of_range),
        T(test_errors__index_array_meta_entry_out_of_range),
        T(test_errors__index_array_meta_empty_group),
        T(test_errors__index_meta_key_empty),
        T(test_errors__index_meta_value_invalid_utf8),
        T(test_errors__index_reserved_entry_fields_ignored),
        T(test_errors__index_reserved_header_fields_ignored),
        T(test_errors__flipped_index_bits_fail_checksum),
        T(test_errors__bad_magic),
        T(test_errors__prologue_checksum),
        T(test_errors__major_version),
        T(test_errors__newer_minor_version_opens),
        T(test_errors__bad_alignment),
        T(test_errors__unknown_required_feature),
        T(test_errors__unknown_optional_bits_ignored),
        T(test_errors__file_shorter_than_slot_says),
        T(test_errors__index_outside_file_size),
        T(test_errors__index_offset_or_size_invalid),
        T(test_errors__no_valid_slot),
        T(test_errors__damaged_inactive_slot_still_opens),
        T(test_errors__active_slot_damaged_other_used),
        T(test_errors__newer_generation_wins),
        T(test_errors__same_generation_must_be_identical),
        T(test_errors__open_missing_file),
        T(test_errors__open_empty_file),
        T(test_errors__open_text_file),
        T(test_errors__truncated_files),
        T(test_errors__flipped_data_byte_caught_by_verify),
        T(test_errors__nonzero_padding_caught_by_verify),
        T(test_errors__duplicate_array_name),
        T(test_errors__shape_overflow_and_ndim),
        T(test_errors__bad_dtype),
        T(test_errors__bad_names),
        T(test_errors__data_null_with_bytes),
        T(test_errors__bad_metadata),
        T(test_errors__bad_writer_options),
        T(test_errors__create_in_missing_directory),
        T(test_errors__writer_misuse_after_commit),
        T(test_errors__no_replace_keeps_existing_file),
        T(test_errors__reader_misuse),
        T(test_errors__null_arguments),
        T(test_errors__strerror_and_names),
    };
#undef T
    return cmocka_run_group_tests_name("errors", tests, NULL, NULL);
}
