/* SPDX-License-Identifier: MIT */
/*
 * gen_seeds.c — writes the seeds of the checked-in corpus that the golden vectors do not
 * cover: small files with cold arrays and with ragged items (one with damaged offsets) for
 * fuzz_open (format/testdata has none), and a few byte strings for fuzz_roundtrip. The .npy/.npz seeds of fuzz_npy come from numpy
 * (tools/numpy/gen_npy_seeds.py). Not run by ctest; regenerate with
 *
 *   build/<dir>/tests/fuzz/fuzz_gen_seeds tests/fuzz/corpus
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmarr.h"

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "fuzz_gen_seeds: %s: %s\n", what, msg);
    exit(1);
}

static void check(mmarr_writer *w, mmarr_err rc)
{
    if (rc != MMARR_OK)
        die("writer", mmarr_writer_error(w)->message);
}

static void fill(void *p, size_t n, unsigned seed, int smooth)
{
    unsigned char *b = p;
    unsigned x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        b[i] = smooth ? (unsigned char)(i / 7 + seed) : (unsigned char)(x >> 16);
    }
}

static mmarr_writer *start(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/fuzz_open/%s", dir, name);
    mmarr_writer_options o = {0};
    o.flags = MMARR_WRITE_NO_SYNC;
    mmarr_writer *w;
    mmarr_error e;
    if (mmarr_writer_create(path, &o, &w, &e) != MMARR_OK)
        die(path, e.message);
    return w;
}

static void finish(mmarr_writer *w)
{
    check(w, mmarr_writer_commit(w));
    mmarr_writer_free(w);
}

static void open_seeds(const char *dir)
{
    static float f[600];
    static unsigned char raw[3000];
    mmarr_compress_options co = {0};

    /* one cold float32 array, 3 chunks, shuffled, with metadata */
    mmarr_writer *w = start(dir, "cold_small.mmarr");
    fill(f, sizeof f, 1, 1);
    uint64_t s1[1] = {600};
    co.chunk_size = 1000;
    co.shuffle = 1;
    co.threads = 1;
    check(w, mmarr_writer_add_cold(w, "signal", "<f4", 1, s1, MMARR_ORDER_C, f, &co));
    check(w, mmarr_writer_set_array_meta(w, "signal", "unit", "mV"));
    check(w, mmarr_writer_set_file_meta(w, "source", "gen_seeds"));
    finish(w);

    /* hot packed, cold without shuffle, empty cold, 0-d cold, Fortran cold */
    w = start(dir, "cold_mixed.mmarr");
    fill(raw, sizeof raw, 2, 0);
    uint64_t s2[2] = {10, 30};
    check(w, mmarr_writer_add(w, "hot", "|u1", 2, s2, MMARR_ORDER_C, raw));
    co = (mmarr_compress_options){.level = 1, .chunk_size = 256, .threads = 1};
    uint64_t s3[1] = {2000};
    check(w, mmarr_writer_add_cold(w, "bytes", "|u1", 1, s3, MMARR_ORDER_C, raw, &co));
    uint64_t s0[1] = {0};
    check(w, mmarr_writer_add_cold(w, "empty", "<f8", 1, s0, MMARR_ORDER_C, NULL, &co));
    check(w, mmarr_writer_add_cold(w, "scalar", "<i8", 0, NULL, MMARR_ORDER_C, raw, &co));
    uint64_t s4[2] = {5, 7};
    co.shuffle = 1;
    check(w, mmarr_writer_add_cold(w, "fort", "<i2", 2, s4, MMARR_ORDER_F, raw, &co));
    check(w, mmarr_writer_set_file_meta(w, "version", "3"));
    finish(w);

    /* a structured dtype, shuffled by its itemsize (22), many small chunks, fast level */
    w = start(dir, "cold_struct.mmarr");
    fill(raw, sizeof raw, 3, 1);
    uint64_t s5[1] = {100};
    co = (mmarr_compress_options){.level = -3, .chunk_size = 100, .shuffle = 1, .threads = 1};
    check(w, mmarr_writer_add_cold(w, "events", "[('when', '<M8[ns]'), ('value', '<f8'), "
                                   "('code', '|S6')]", 1, s5, MMARR_ORDER_C, raw, &co));
    finish(w);

    /* regression (fuzz_open finding 1): a zero dimension beside dimensions whose product
     * overflows int64; the writer accepted it (0 bytes), the reader's strides overflowed.
     * Since spec.md §6 bounds the non-zero dimensions, the writer refuses it (MMARR_E_RANGE)
     * and readers too: the checked-in file stays as it was written then. */
    w = start(dir, "regress_zero_dim_strides.mmarr");
    uint64_t s7[3] = {0, 1ull << 62, 1ull << 62};
    if (mmarr_writer_add(w, "huge_empty", "<f4", 3, s7, MMARR_ORDER_C, NULL) == MMARR_E_RANGE) {
        mmarr_writer_free(w);
    } else {
        check(w, mmarr_writer_add(w, "huge_empty_f", "<f4", 3, s7, MMARR_ORDER_F, NULL));
        finish(w);
    }

    /* streamed cold array whose chunks do not divide its size */
    w = start(dir, "cold_stream.mmarr");
    fill(raw, sizeof raw, 4, 0);
    uint64_t s6[1] = {2999};
    co = (mmarr_compress_options){.level = 3, .chunk_size = 1024, .threads = 1};
    check(w, mmarr_writer_begin(w, "s", "|S1", 1, s6, MMARR_ORDER_C, &co));
    check(w, mmarr_writer_write(w, raw, 1000));
    check(w, mmarr_writer_write(w, raw + 1000, 1999));
    check(w, mmarr_writer_end(w));
    finish(w);
}

/* Overwrite element el of the offsets array `name` of the file at path with v (offsets are
 * data, outside the index checksum: the file still opens). */
static void poke_offset(const char *path, const char *name, uint64_t el, uint64_t v)
{
    mmarr_file *f;
    mmarr_error e;
    mmarr_array_info a;
    if (mmarr_open(path, 0, &f, &e) != MMARR_OK || mmarr_file_find_array(f, name, &a, &e))
        die(path, e.message);
    const long at = (long)(a.offset + 8 * el);
    mmarr_close(f);
    FILE *fp = fopen(path, "r+b");
    if (!fp || fseek(fp, at, SEEK_SET) != 0 || fwrite(&v, 8, 1, fp) != 1 || fclose(fp) != 0)
        die(path, "cannot patch");
}

/* Ragged items (spec.md §7.7): every kind, empty items, no items, cold values. */
static void ragged_seeds(const char *dir)
{
    static float pts[8 * 3];
    static unsigned char raw[600];
    static const uint64_t pts_off[6] = {0, 3, 3, 5, 8, 8}, zero[1] = {0};
    static const char text[] = "h\xc3\xa9llo"
                               "w\xc3\xb6rld"
                               "a\0b"
                               "\xf0\x9d\x84\x9e";
    static const uint64_t text_off[5] = {0, 6, 6, 12, 19};
    static const uint64_t blob_off[4] = {0, 2, 2, 5};
    char path[1024];

    for (int bad = 0; bad < 2; bad++) {
        const char *name = bad ? "ragged_bad_offsets.mmarr" : "ragged_items.mmarr";
        mmarr_writer *w = start(dir, name);
        fill(pts, sizeof pts, 5, 1);
        uint64_t s1[2] = {8, 3}, s2[1] = {6};
        check(w, mmarr_writer_add(w, "pts", "<f4", 2, s1, MMARR_ORDER_C, pts));
        check(w, mmarr_writer_add(w, "pts/offsets", "<u8", 1, s2, MMARR_ORDER_C, pts_off));
        uint64_t s3[1] = {sizeof text - 1}, s4[1] = {5};
        check(w, mmarr_writer_add(w, "txt", "|u1", 1, s3, MMARR_ORDER_C, text));
        check(w, mmarr_writer_add(w, "txt/offsets", "<u8", 1, s4, MMARR_ORDER_C, text_off));
        uint64_t s5[1] = {5}, s6[1] = {4};
        check(w, mmarr_writer_add(w, "blob", "|u1", 1, s5, MMARR_ORDER_C, "\x00\xff\x10\xc0\x80"));
        check(w, mmarr_writer_add(w, "blob/offsets", "<u8", 1, s6, MMARR_ORDER_C, blob_off));
        uint64_t s7[2] = {0, 4}, s8[1] = {1};
        check(w, mmarr_writer_add(w, "none", "<i8", 2, s7, MMARR_ORDER_C, NULL));
        check(w, mmarr_writer_add(w, "none/offsets", "<u8", 1, s8, MMARR_ORDER_C, zero));
        check(w, mmarr_writer_add(w, "plain", "<i4", 1, s2, MMARR_ORDER_C, pts));
        check(w, mmarr_writer_ragged(w, "pts", "pts/offsets", MMARR_RAGGED_ARRAYS));
        check(w, mmarr_writer_ragged(w, "txt", "txt/offsets", MMARR_RAGGED_UTF8));
        check(w, mmarr_writer_ragged(w, "blob", "blob/offsets", MMARR_RAGGED_BYTES));
        check(w, mmarr_writer_ragged(w, "none", "none/offsets", MMARR_RAGGED_ARRAYS));
        finish(w);
        if (bad) { /* pts decreasing at element 2, txt past its rows at its end */
            snprintf(path, sizeof path, "%s/fuzz_open/%s", dir, name);
            poke_offset(path, "pts/offsets", 2, 1);
            poke_offset(path, "txt/offsets", 4, 20);
        }
    }

    /* cold values: text over several chunks, 2-d arrays shuffled */
    mmarr_writer *w = start(dir, "ragged_cold.mmarr");
    fill(raw, sizeof raw, 6, 1);
    for (size_t i = 0; i < 300; i++)
        raw[i] = (unsigned char)('a' + i % 26);
    mmarr_compress_options co = {.level = 1, .chunk_size = 64, .threads = 1};
    uint64_t s1[1] = {300}, s2[1] = {4};
    static const uint64_t t_off[4] = {0, 100, 100, 300};
    check(w, mmarr_writer_add_cold(w, "text", "|u1", 1, s1, MMARR_ORDER_C, raw, &co));
    check(w, mmarr_writer_add(w, "text/offsets", "<u8", 1, s2, MMARR_ORDER_C, t_off));
    co.shuffle = 1;
    uint64_t s3[2] = {75, 2}, s4[1] = {3};
    static const uint64_t a_off[3] = {0, 74, 75};
    check(w, mmarr_writer_add_cold(w, "arr", "<i2", 2, s3, MMARR_ORDER_C, raw + 300, &co));
    check(w, mmarr_writer_add(w, "arr/offsets", "<u8", 1, s4, MMARR_ORDER_C, a_off));
    check(w, mmarr_writer_ragged(w, "arr", "arr/offsets", MMARR_RAGGED_ARRAYS));
    check(w, mmarr_writer_ragged(w, "text", "text/offsets", MMARR_RAGGED_UTF8));
    finish(w);
}

static void roundtrip_seeds(const char *dir)
{
    /* byte strings for fuzz_roundtrip's decoder: random ones of several lengths, plus a run
     * of "add array" steps with every storage mode */
    for (unsigned i = 0; i < 12; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/fuzz_roundtrip/seed_%02u", dir, i);
        unsigned char b[400];
        const size_t n = 24 + i * 31;
        fill(b, n, 100 + i, 0);
        b[2] = 11; /* many steps */
        FILE *fp = fopen(path, "wb");
        if (!fp || fwrite(b, 1, n, fp) != n || fclose(fp) != 0)
            die(path, "cannot write");
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    open_seeds(argv[1]);
    ragged_seeds(argv[1]);
    roundtrip_seeds(argv[1]);
    return 0;
}
