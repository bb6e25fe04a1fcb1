/* SPDX-License-Identifier: MIT */
/*
 * gen_seeds.c — writes the seeds of the checked-in corpus that the golden vectors do not
 * cover: small files with cold arrays for fuzz_open (format/testdata has none), and a few
 * byte strings for fuzz_roundtrip. The .npy/.npz seeds of fuzz_npy come from numpy
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
     * overflows int64; the writer accepts it (0 bytes), the reader's strides overflowed */
    w = start(dir, "regress_zero_dim_strides.mmarr");
    uint64_t s7[3] = {0, 1ull << 62, 1ull << 62};
    check(w, mmarr_writer_add(w, "huge_empty", "<f4", 3, s7, MMARR_ORDER_C, NULL));
    check(w, mmarr_writer_add(w, "huge_empty_f", "<f4", 3, s7, MMARR_ORDER_F, NULL));
    finish(w);

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
    roundtrip_seeds(argv[1]);
    return 0;
}
