/* SPDX-License-Identifier: MIT */
/* corruption_image.c — see corruption_image.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "corruption_image.h"
#include "mmarr.h"
#include "mmarr_format.h"
#include "testutil.h"

uint64_t get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }

int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

void seal_prologue(unsigned char *b) { put64(b + 56, XXH3_64bits(b, 56)); }
void seal_slot(unsigned char *s) { put64(s + 120, XXH3_64bits(s, 120)); }

mmarr_err open_buf(const unsigned char *b, size_t n, unsigned flags, mmarr_file **f,
                   mmarr_error *e, const char *where)
{
    memset(e, 0, sizeof *e);
    *f = NULL;
    mmarr_err rc = mmarr_open_buffer(b, n, flags, f, e);
    if (rc != MMARR_OK) {
        if (e->message[0] == '\0' || e->code != rc)
            print_error("%s: %s with an empty message\n", where, mmarr_err_name(rc));
        assert_true(e->message[0] != '\0');
        assert_int_equal(e->code, rc);
        assert_null(*f);
    } else {
        assert_non_null(*f);
        mmarr_file_set_threads(*f, 1);
    }
    return rc;
}

/* A hash of everything a reader is told about the file, except the fields named in `skip`:
 * 'g' generation, 'm' format minor, 'o' optional features, 's' stale, 'l' cold levels. */
uint64_t describe(mmarr_file *f, const char *skip)
{
    XXH3_state_t *st = XXH3_createState();
    assert_non_null(st);
    XXH3_64bits_reset(st);
#define H(v)                                                                                 \
    do {                                                                                     \
        uint64_t v_ = (uint64_t)(v);                                                         \
        XXH3_64bits_update(st, &v_, 8);                                                      \
    } while (0)
#define HS(s) XXH3_64bits_update(st, (s), strlen(s) + 1)
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    H(fi.count);
    H(fi.meta_count);
    H(fi.file_size);
    H(fi.alignment);
    H(fi.index_offset);
    H(fi.index_size);
    H(fi.required_features);
    if (!strchr(skip, 'g'))
        H(fi.generation);
    if (!strchr(skip, 'm'))
        H(fi.format_minor);
    if (!strchr(skip, 'o'))
        H(fi.optional_features);
    if (!strchr(skip, 's'))
        H(fi.checksums_stale);
    for (size_t m = 0; m < fi.meta_count; m++) {
        const char *k, *v;
        assert_int_equal(mmarr_file_meta(f, m, &k, &v, NULL), MMARR_OK);
        HS(k);
        HS(v);
    }
    for (size_t i = 0; i < fi.count; i++) {
        mmarr_array_info a;
        assert_int_equal(mmarr_file_array(f, i, &a, NULL), MMARR_OK);
        HS(a.name);
        HS(a.dtype_str);
        H(a.ndim);
        for (unsigned d = 0; d < a.ndim; d++)
            H(a.shape[d]);
        H(a.order);
        H(a.storage);
        H(a.nbytes);
        H(a.stored_bytes);
        H(a.offset);
        H(a.checksum);
        H(a.packed);
        H(a.chunk_size);
        H(a.chunk_count);
        H(a.shuffle);
        if (!strchr(skip, 'l'))
            H(a.level);
        for (size_t m = 0; m < a.meta_count; m++) {
            const char *k, *v;
            assert_int_equal(mmarr_array_meta(f, i, m, &k, &v, NULL), MMARR_OK);
            HS(k);
            HS(v);
        }
        for (size_t k = 0; k < a.chunk_count; k++) {
            mmarr_chunk_info c;
            assert_int_equal(mmarr_file_chunk(f, i, k, &c, NULL), MMARR_OK);
            H(c.stored_offset);
            H(c.stored_size);
            H(c.checksum);
        }
    }
#undef H
#undef HS
    uint64_t h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return h;
}

/* A file the validator accepted: every view lies inside the buffer, every call answers. */
void exercise(mmarr_file *f, const unsigned char *b, size_t n)
{
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    assert_true(fi.file_size <= n);
    for (size_t i = 0; i < fi.count; i++) {
        mmarr_array_info a;
        assert_int_equal(mmarr_file_array(f, i, &a, NULL), MMARR_OK);
        assert_true((const unsigned char *)a.name >= b &&
                    (const unsigned char *)a.name + a.name_size < b + n);
        size_t idx;
        assert_int_equal(mmarr_file_find(f, a.name, &idx, NULL), MMARR_OK);
        assert_int_equal(idx, i);
        assert_true(a.offset + a.stored_bytes <= fi.file_size);
        if (a.storage == MMARR_STORAGE_HOT)
            assert_ptr_equal(a.data, b + a.offset);
        mmarr_error e;
        mmarr_err rc = mmarr_file_verify_array(f, i, &e);
        if (rc != MMARR_OK)
            assert_true(e.message[0] != '\0');
        if (a.nbytes <= (1u << 20)) {
            unsigned char *dst = malloc(a.nbytes + 1);
            assert_non_null(dst);
            rc = mmarr_file_read(f, i, 0, dst, a.nbytes, &e);
            if (a.storage == MMARR_STORAGE_HOT)
                assert_int_equal(rc, MMARR_OK);
            else if (rc != MMARR_OK)
                assert_true(e.message[0] != '\0');
            free(dst);
        }
        for (size_t m = 0; m < a.meta_count; m++) {
            const char *k, *v;
            assert_int_equal(mmarr_array_meta(f, i, m, &k, &v, NULL), MMARR_OK);
            assert_true((const unsigned char *)k >= b && (const unsigned char *)v < b + n);
        }
    }
}

/* ---- building the images and their byte roles ---- */

static void mark(image *im, uint64_t beg, uint64_t end, enum role r, uint32_t owner)
{
    assert_true(beg <= end && end <= im->size);
    for (uint64_t i = beg; i < end; i++) {
        im->role[i] = (unsigned char)r;
        im->owner[i] = owner;
    }
}

/* Roles inside the active index (offsets from spec.md §7, §10). */
static void mark_index(image *im, uint64_t io, uint64_t is, int growable)
{
    const unsigned char *ix = im->orig + io;
    mmarr_disk_index_header h;
    memcpy(&h, ix, sizeof h);
    mark(im, io, io + is, R_IDX_IGNORED, 0); /* gaps and unused heap, until claimed below */
    mark(im, io, io + 160, R_IDX_OTHER, 0);  /* header fields; 160..191 reserved */
    if (growable) { /* 1.2 (spec.md §7.8): bytes 176..191, records, then block checksums */
        mark(im, io + 176, io + 192, R_IDX_OTHER, 0);
        const uint64_t g0 = io + h.growable_offset, b0 = g0 + 32ull * h.growable_count;
        mark(im, g0, b0, R_IDX_OTHER, 0);
        for (uint32_t k = 0; k < h.growable_count; k++) {
            mmarr_disk_growable g;
            memcpy(&g, im->orig + g0 + 32ull * k, sizeof g);
            const unsigned char storage =
                ix[h.entries_offset + (uint64_t)g.entry * sizeof(mmarr_disk_entry) + 41];
            /* hot: block checksums, data checksums caught by verify; cold: extents */
            mark(im, b0 + 8ull * g.blocks_first, b0 + 8ull * (g.blocks_first + g.block_count),
                 storage == MMARR_STORAGE_RAW ? R_IDX_ENTRY_SUM : R_IDX_OTHER, g.entry);
        }
    }
    for (uint64_t i = 0; i < h.entry_count; i++) {
        const uint64_t e = io + h.entries_offset + i * sizeof(mmarr_disk_entry);
        mark(im, e, e + 43, R_IDX_OTHER, (uint32_t)i); /* 43..47 reserved */
        mark(im, e + 16, e + 24, R_IDX_ENTRY_SUM, (uint32_t)i);
    }
    mark(im, io + h.order_offset, io + h.order_offset + 4 * h.entry_count, R_IDX_OTHER, 0);
    mark(im, io + h.names_offset, io + h.names_offset + 8 * h.entry_count, R_IDX_OTHER, 0);
    mark(im, io + h.dtypes_offset, io + h.dtypes_offset + 8 * h.dtype_count, R_IDX_OTHER, 0);
    mark(im, io + h.dims_offset, io + h.dims_offset + 8 * h.dim_count, R_IDX_OTHER, 0);
    mark(im, io + h.meta_offset, io + h.meta_offset + 16 * h.meta_count, R_IDX_OTHER, 0);
    mark(im, io + h.ameta_offset, io + h.ameta_offset + 12 * h.ameta_count, R_IDX_OTHER, 0);
    for (uint64_t i = 0; i < h.cold_count; i++) {
        const uint64_t c = io + h.cold_offset + i * sizeof(mmarr_disk_cold);
        mark(im, c, c + 18, R_IDX_OTHER, 0);      /* 18..19 and 24..31 reserved */
        mark(im, c + 20, c + 24, R_IDX_LEVEL, 0); /* informational */
    }
    for (uint64_t k = 0; k < h.chunk_count; k++) {
        const uint64_t c = io + h.chunks_offset + k * sizeof(mmarr_disk_chunk);
        /* the owner is found through the cold descriptors below */
        mark(im, c, c + 12, R_IDX_OTHER, 0); /* 12..15 reserved */
        mark(im, c + 16, c + 24, R_IDX_CHUNK_SUM, UINT32_MAX);
    }
    for (uint64_t i = 0; i < h.entry_count; i++) {
        mmarr_disk_entry en;
        memcpy(&en, ix + h.entries_offset + i * sizeof en, sizeof en);
        if (en.storage != MMARR_STORAGE_ZSTD_CHUNKED)
            continue;
        mmarr_disk_cold cd;
        memcpy(&cd, ix + h.cold_offset + (uint64_t)en.cold_id * sizeof cd, sizeof cd);
        for (uint32_t k = 0; k < cd.chunk_count; k++) {
            const uint64_t c = io + h.chunks_offset + (uint64_t)(cd.chunk_first + k) * 24;
            mark(im, c + 16, c + 24, R_IDX_CHUNK_SUM, (uint32_t)i);
        }
    }
    /* referenced heap strings, NUL included */
    const uint64_t heap = io + h.heap_offset;
    for (uint64_t k = 0; k < h.entry_count; k++) {
        mmarr_disk_name r;
        memcpy(&r, ix + h.names_offset + k * sizeof r, sizeof r);
        mark(im, heap + r.name_offset, heap + r.name_offset + r.name_size + 1, R_IDX_OTHER, 0);
    }
    for (uint64_t k = 0; k < h.dtype_count; k++) {
        mmarr_disk_dtype r;
        memcpy(&r, ix + h.dtypes_offset + k * sizeof r, sizeof r);
        mark(im, heap + r.str_offset, heap + r.str_offset + r.str_size + 1, R_IDX_OTHER, 0);
    }
    for (uint64_t k = 0; k < h.meta_count; k++) {
        mmarr_disk_meta r;
        memcpy(&r, ix + h.meta_offset + k * sizeof r, sizeof r);
        mark(im, heap + r.key_offset, heap + r.key_offset + r.key_size + 1, R_IDX_OTHER, 0);
        mark(im, heap + r.value_offset, heap + r.value_offset + r.value_size + 1, R_IDX_OTHER,
             0);
    }
}

void image_init(image *im, const char *name, unsigned char *buf, size_t size)
{
    const char *where = name;
    memset(im, 0, sizeof *im);
    snprintf(im->name, sizeof im->name, "%s", name);
    im->orig = buf;
    im->size = size;
    im->role = malloc(size);
    im->owner = malloc(size * sizeof *im->owner);
    assert_non_null(im->role);
    assert_non_null(im->owner);

    mmarr_file *f;
    mmarr_error e;
    assert_code_where(where, open_buf(buf, size, 0, &f, &e, where), MMARR_OK, e.message);
    assert_code_where(where, mmarr_file_verify(f, &e), MMARR_OK, e.message);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    im->count = fi.count;
    im->stale = fi.checksums_stale;
    im->desc = describe(f, "");
    assert_int_equal(fi.file_size, size); /* no trailing bytes in the chosen images */
    im->active = fi.index_offset != get64(buf + MMARR_SLOT_A_OFFSET + 16) ||
                 all_zero(buf + MMARR_SLOT_A_OFFSET, 128);

    mark(im, 0, size, R_GAP, 0);
    mark(im, 0, 10, R_MAGIC, 0);
    mark(im, 10, 12, R_MAJOR, 0);
    mark(im, 12, 14, R_MINOR, 0);
    mark(im, 14, 16, R_PRO_RESERVED, 0);
    mark(im, 16, 20, R_ALIGN, 0);
    mark(im, 20, 56, R_PRO_RESERVED, 0);
    mark(im, 56, 64, R_PRO_CHECKSUM, 0);
    const uint64_t act = im->active ? MMARR_SLOT_B_OFFSET : MMARR_SLOT_A_OFFSET;
    const uint64_t oth = im->active ? MMARR_SLOT_A_OFFSET : MMARR_SLOT_B_OFFSET;
    mark(im, act, act + 128, R_SLOT_ACTIVE, 0);
    mark(im, oth, oth + 128, R_SLOT_INACTIVE, 0);
    mark(im, 320, 512, R_SB_RESERVED, 0);
    im->other_empty = all_zero(buf + oth, 128);
    im->other_valid = !im->other_empty && XXH3_64bits(buf + oth, 120) == get64(buf + oth + 120);
    if (im->other_valid) { /* the superseded index is bytes without meaning now */
        mark(im, get64(buf + oth + 16), get64(buf + oth + 16) + get64(buf + oth + 24),
             R_OLD_INDEX, 0);
        /* what a reader sees when the active slot is gone */
        unsigned char *c = malloc(size);
        assert_non_null(c);
        memcpy(c, buf, size);
        memset(c + act, 0, 128);
        mmarr_file *g;
        assert_code_where(where, open_buf(c, size, 0, &g, &e, where), MMARR_OK, e.message);
        im->fallback_desc = describe(g, "");
        mmarr_close(g);
        free(c);
    }
    for (size_t i = 0; i < fi.count; i++) {
        mmarr_array_info a;
        assert_int_equal(mmarr_file_array(f, i, &a, NULL), MMARR_OK);
        const uint64_t al = a.packed ? MMARR_PACKED_ALIGNMENT : fi.alignment;
        const uint64_t end = a.offset + a.stored_bytes;
        const uint64_t pend = (end + al - 1) / al * al;
        if (a.storage == MMARR_STORAGE_COLD)
            im->has_cold = 1;
        if (a.storage == MMARR_STORAGE_COLD && a.capacity) {
            /* cold growable (spec.md §7.8): its frames, in its extents; the rest of them
             * (superseded frames, earlier indexes) has no meaning */
            for (size_t k = 0; k < a.chunk_count; k++) {
                mmarr_chunk_info c;
                assert_int_equal(mmarr_file_chunk(f, i, k, &c, NULL), MMARR_OK);
                mark(im, c.stored_offset, c.stored_offset + c.stored_size, R_COLD, (uint32_t)i);
            }
            continue;
        }
        mark(im, a.offset, end, a.storage == MMARR_STORAGE_HOT ? R_HOT : R_COLD, (uint32_t)i);
        if (a.stored_bytes && !a.capacity) /* a growable region past the data: no meaning */
            mark(im, end, pend, R_PAD, (uint32_t)i);
    }
    im->has_growable = (fi.required_features & MMARR_FEAT_REQ_GROWABLE) != 0;
    mark_index(im, fi.index_offset, fi.index_size, im->has_growable);
    mmarr_close(f);
}

void image_free(image *im)
{
    free(im->orig);
    free(im->role);
    free(im->owner);
}

void load_golden(image *im, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/valid/%s.mmarr", tu_testdata_dir(), name);
    size_t size = 0;
    unsigned char *buf = tu_read_file(path, &size);
    if (!buf)
        fail_msg("cannot read %s (set MMARR_TESTDATA)", path);
    image_init(im, name, buf, size);
}

/* A small file with cold arrays, written here by the library (the golden cold vectors are
 * smaller and hand-laid). */
void make_cold(image *im)
{
    char *dir = tu_mkdtemp();
    assert_non_null(dir);
    char *path = tu_path(dir, "cold.mmarr");
    mmarr_writer_options o = {0};
    o.flags = MMARR_WRITE_NO_SYNC;
    mmarr_writer *w;
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    unsigned char small[100], raw[2400];
    for (size_t i = 0; i < sizeof small; i++)
        small[i] = (unsigned char)(i * 7);
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (unsigned char)(i / 5 + (i % 3) * 40);
    uint64_t s1[1] = {100}, s2[1] = {600}, s3[1] = {1500};
    assert_int_equal(mmarr_writer_add(w, "hot", "|u1", 1, s1, MMARR_ORDER_C, small), MMARR_OK);
    mmarr_compress_options co = {.level = 3, .chunk_size = 1000, .shuffle = 1, .threads = 1};
    assert_int_equal(mmarr_writer_add_cold(w, "cold_f4", "<f4", 1, s2, MMARR_ORDER_C, raw, &co),
                     MMARR_OK);
    co = (mmarr_compress_options){.level = 1, .chunk_size = 512, .threads = 1};
    assert_int_equal(mmarr_writer_add_cold(w, "cold_u1", "|u1", 1, s3, MMARR_ORDER_C, raw, &co),
                     MMARR_OK);
    assert_int_equal(mmarr_writer_set_array_meta(w, "cold_f4", "unit", "mV"), MMARR_OK);
    assert_int_equal(mmarr_writer_set_file_meta(w, "source", "test_corruption"), MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    size_t size = 0;
    unsigned char *buf = tu_read_file(path, &size);
    assert_non_null(buf);
    free(path);
    tu_rmtree(dir);
    image_init(im, "cold (written by the test)", buf, size);
    assert_true(im->has_cold);
}
