/* SPDX-License-Identifier: MIT */
/*
 * test_cold.c — cold arrays (spec.md §10) through the public API: round trips for every
 * dtype kind with and without shuffle, ranges across chunk edges, the last partial chunk,
 * empty and 0-d arrays, streaming writes in odd pieces, chunk iteration, verification, and
 * damaged chunks (a flipped byte inside a frame, lying sizes) giving the right error code,
 * scans in slices that do not line up with chunks (chunks kept decoded between reads).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "mmarr.h"
#include "mmarr_format.h"
#include "testutil.h"

static void write_one(const char *path, const char *name, const char *dtype, unsigned ndim,
                      const uint64_t *shape, const void *data, const mmarr_compress_options *c)
{
    mmarr_writer_options o = {.flags = MMARR_WRITE_NO_SYNC};
    mmarr_writer *w;
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    mmarr_err rc = mmarr_writer_add_cold(w, name, dtype, ndim, shape, MMARR_ORDER_C, data, c);
    if (rc != MMARR_OK)
        print_error("%s\n", mmarr_writer_error(w)->message);
    assert_int_equal(rc, MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
}

/* Smooth-ish data: compressible, but not trivially. */
static void fill_smooth(unsigned char *p, size_t n, uint64_t seed)
{
    tu_fill(p, n, seed);
    for (size_t i = 0; i < n; i++)
        if ((i / 7) % 3)
            p[i] = (unsigned char)(i / 4096);
}

static void check_reads(mmarr_file *f, size_t idx, const unsigned char *want, uint64_t nbytes,
                        uint64_t chunk)
{
    unsigned char *got = malloc(nbytes + 1);
    assert_non_null(got);
    mmarr_error e;
    assert_int_equal(mmarr_file_read(f, idx, 0, got, nbytes, &e), MMARR_OK);
    assert_memory_equal(got, want, nbytes);
    /* ranges around chunk edges, inside one chunk, and the tail */
    const uint64_t starts[] = {0, 1, chunk - 1, chunk, chunk + 1, 2 * chunk - 3, nbytes / 2,
                               nbytes - 1};
    const uint64_t lens[] = {1, 2, chunk, chunk + 2, 3 * chunk + 5, nbytes};
    for (size_t i = 0; i < sizeof starts / sizeof *starts; i++)
        for (size_t j = 0; j < sizeof lens / sizeof *lens; j++) {
            uint64_t s = starts[i], n = lens[j];
            if (s >= nbytes)
                continue;
            if (n > nbytes - s)
                n = nbytes - s;
            memset(got, 0xEE, n);
            assert_int_equal(mmarr_file_read(f, idx, s, got, n, &e), MMARR_OK);
            assert_memory_equal(got, want + s, n);
        }
    assert_int_equal(mmarr_file_read(f, idx, nbytes, got, 1, &e), MMARR_E_RANGE);
    assert_int_equal(mmarr_file_read(f, idx, 0, got, nbytes + 1, &e), MMARR_E_RANGE);
    assert_int_equal(mmarr_file_read(f, idx, UINT64_MAX, got, 2, &e), MMARR_E_RANGE);
    free(got);
}

/* rows x 5 items, written with `threads` compression threads and read with `threads`. Helper
 * threads start only for 256 KiB of raw bytes each, so only arrays that large use them. */
static void roundtrip_rows(void **state, const char *dtype, uint64_t itemsize, int shuffle,
                           uint64_t chunk, unsigned threads, uint64_t rows)
{
    const uint64_t shape[2] = {rows, 5};
    const uint64_t nbytes = shape[0] * shape[1] * itemsize;
    unsigned char *data = malloc(nbytes);
    assert_non_null(data);
    fill_smooth(data, nbytes, itemsize * 31 + (uint64_t)shuffle);
    char *path = tu_path(*state, "cold.mmarr");
    mmarr_compress_options c = {.level = 3, .chunk_size = chunk, .shuffle = shuffle,
                                .threads = threads};
    write_one(path, "x", dtype, 2, shape, data, &c);
    mmarr_file *f;
    mmarr_error e;
    assert_int_equal(mmarr_open(path, 0, &f, &e), MMARR_OK);
    mmarr_array_info a;
    assert_int_equal(mmarr_file_find_array(f, "x", &a, &e), MMARR_OK);
    assert_int_equal(a.storage, MMARR_STORAGE_COLD);
    assert_null(a.data);
    assert_int_equal(a.nbytes, nbytes);
    assert_int_equal(a.chunk_size, chunk);
    assert_int_equal(a.chunk_count, (nbytes + chunk - 1) / chunk);
    assert_int_equal(a.shuffle, shuffle ? 1 : 0);
    assert_int_equal(a.level, 3);
    assert_int_equal(a.checksum, XXH3_64bits(data, nbytes));
    mmarr_file_set_threads(f, threads);
    check_reads(f, a.index, data, nbytes, chunk);
    /* chunk iteration: sizes add up, every chunk decompresses to its slice */
    uint64_t raw = 0, stored = 0;
    unsigned char *buf = malloc(chunk);
    for (size_t k = 0; k < a.chunk_count; k++) {
        mmarr_chunk_info ci;
        assert_int_equal(mmarr_file_chunk(f, a.index, k, &ci, &e), MMARR_OK);
        assert_int_equal(ci.raw_offset, raw);
        assert_int_equal(mmarr_file_read_chunk(f, a.index, k, buf, &e), MMARR_OK);
        assert_memory_equal(buf, data + raw, ci.raw_size);
        assert_int_equal(ci.checksum, XXH3_64bits(data + raw, ci.raw_size));
        raw += ci.raw_size;
        stored += ci.stored_size;
    }
    assert_int_equal(raw, nbytes);
    assert_true(stored <= a.stored_bytes);
    mmarr_chunk_info ci;
    assert_int_equal(mmarr_file_chunk(f, a.index, a.chunk_count, &ci, &e), MMARR_E_INVAL);
    assert_int_equal(mmarr_file_verify(f, &e), MMARR_OK);
    free(buf);
    mmarr_close(f);
    free(path);
    free(data);
}

static void roundtrip(void **state, const char *dtype, uint64_t itemsize, int shuffle,
                      uint64_t chunk, unsigned threads)
{
    roundtrip_rows(state, dtype, itemsize, shuffle, chunk, threads,
                   1237); /* not a multiple of any chunk size used */
}

static void test_cold__roundtrip_dtypes(void **state)
{
    static const struct {
        const char *dtype;
        uint64_t itemsize;
    } t[] = {{"|u1", 1},  {"<i2", 2},  {">i4", 4}, {"<f4", 4},  {"<f8", 8},
             {"<c16", 16}, {"|S6", 6}, {"<U3", 12}, {"<M8[ns]", 8},
             {"[('date','<M8[ns]'),('val','<f8'),('c','|S6')]", 22}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        for (int shuffle = 0; shuffle <= 1; shuffle++)
            roundtrip(state, t[i].dtype, t[i].itemsize, shuffle, 4096, 2);
}

static void test_cold__chunk_sizes_and_threads(void **state)
{
    roundtrip(state, "<f4", 4, 1, 1, 1);       /* one byte per chunk */
    roundtrip(state, "<f4", 4, 1, 1000, 3);    /* chunk not a multiple of the itemsize */
    roundtrip(state, "<f8", 8, 0, 65536, 2);   /* fewer chunks than threads */
    roundtrip(state, "<f8", 8, 1, 1u << 20, 0); /* one chunk, default threads */
    /* large enough for helper threads: 1.4 MiB over 3 and 2 threads, 23 chunks, partial last */
    roundtrip_rows(state, "<f8", 8, 1, 65536, 3, 37111);
    roundtrip_rows(state, "<i4", 4, 0, 40000, 0, 74223);
}

static void test_cold__empty_and_0d(void **state)
{
    char *path = tu_path(*state, "e.mmarr");
    mmarr_writer_options o = {.flags = MMARR_WRITE_NO_SYNC};
    mmarr_writer *w;
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    const uint64_t zero[2] = {3, 0};
    const double v = 2.5;
    assert_int_equal(mmarr_writer_add_cold(w, "empty", "<f8", 2, zero, MMARR_ORDER_C, NULL, NULL),
                     MMARR_OK);
    assert_int_equal(mmarr_writer_add_cold(w, "scalar", "<f8", 0, NULL, MMARR_ORDER_C, &v, NULL),
                     MMARR_OK);
    assert_int_equal(mmarr_writer_add(w, "hot", "<f8", 0, NULL, MMARR_ORDER_C, &v), MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    mmarr_file *f;
    mmarr_error e;
    assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK);
    mmarr_array_info a;
    assert_int_equal(mmarr_file_find_array(f, "empty", &a, &e), MMARR_OK);
    assert_int_equal(a.chunk_count, 0);
    assert_int_equal(a.nbytes, 0);
    assert_int_equal(mmarr_file_read(f, a.index, 0, NULL, 0, &e), MMARR_OK);
    assert_int_equal(mmarr_file_find_array(f, "scalar", &a, &e), MMARR_OK);
    double got = 0;
    assert_int_equal(mmarr_file_read(f, a.index, 0, &got, 8, &e), MMARR_OK);
    assert_true(got == 2.5);
    /* mmarr_file_read also reads hot arrays */
    assert_int_equal(mmarr_file_find_array(f, "hot", &a, &e), MMARR_OK);
    got = 0;
    assert_int_equal(mmarr_file_read(f, a.index, 0, &got, 8, &e), MMARR_OK);
    assert_true(got == 2.5);
    assert_int_equal(mmarr_file_chunk(f, a.index, 0, &(mmarr_chunk_info){0}, &e), MMARR_E_INVAL);
    /* page advice on byte ranges is for hot arrays: a cold array's bytes are not the file's */
    assert_int_equal(mmarr_file_advise_range(f, a.index, 0, 8, MMARR_ADVICE_DONTNEED, &e),
                     MMARR_OK);
    assert_int_equal(mmarr_file_find_array(f, "scalar", &a, &e), MMARR_OK);
    assert_int_equal(mmarr_file_advise_range(f, a.index, 0, 8, MMARR_ADVICE_DONTNEED, &e),
                     MMARR_E_INVAL);
    assert_non_null(strstr(e.message, "cold"));
    mmarr_close(f);
    free(path);
}

/* Streaming in odd pieces gives the same file content as one add. */
static void test_cold__streaming_pieces(void **state)
{
    const uint64_t shape[1] = {300001};
    const size_t nbytes = 300001 * 4;
    unsigned char *data = malloc(nbytes);
    fill_smooth(data, nbytes, 7);
    char *path = tu_path(*state, "s.mmarr");
    mmarr_writer_options o = {.flags = MMARR_WRITE_NO_SYNC};
    mmarr_writer *w;
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    mmarr_compress_options c = {.chunk_size = 65536, .shuffle = 1};
    assert_int_equal(mmarr_writer_begin(w, "cold", "<f4", 1, shape, MMARR_ORDER_C, &c), MMARR_OK);
    /* nothing else may be added meanwhile */
    assert_int_equal(mmarr_writer_add(w, "other", "<f4", 1, shape, MMARR_ORDER_C, data),
                     MMARR_E_STATE);
    size_t pos = 0, piece = 1;
    while (pos < nbytes) {
        size_t n = piece < nbytes - pos ? piece : nbytes - pos;
        assert_int_equal(mmarr_writer_write(w, data + pos, n), MMARR_OK);
        pos += n;
        piece = piece * 3 + 7;
    }
    assert_int_equal(mmarr_writer_end(w), MMARR_OK);
    assert_int_equal(mmarr_writer_begin(w, "hot", "<f4", 1, shape, MMARR_ORDER_C, NULL), MMARR_OK);
    for (pos = 0; pos < nbytes; pos += 100000)
        assert_int_equal(mmarr_writer_write(w, data + pos, nbytes - pos < 100000 ? nbytes - pos
                                                                                  : 100000),
                         MMARR_OK);
    assert_int_equal(mmarr_writer_end(w), MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    mmarr_file *f;
    mmarr_error e;
    assert_int_equal(mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e), MMARR_OK);
    mmarr_array_info a;
    assert_int_equal(mmarr_file_find_array(f, "cold", &a, &e), MMARR_OK);
    assert_true(a.stored_bytes < nbytes); /* it did compress */
    check_reads(f, a.index, data, nbytes, 65536);
    assert_int_equal(mmarr_file_find_array(f, "hot", &a, &e), MMARR_OK);
    assert_memory_equal(a.data, data, nbytes);
    mmarr_close(f);
    free(path);
    free(data);
}

static void test_cold__stream_misuse(void **state)
{
    char *path = tu_path(*state, "m.mmarr");
    mmarr_writer *w;
    const uint64_t shape[1] = {10};
    const float v[11] = {0};
    assert_int_equal(mmarr_writer_create(path, NULL, &w, NULL), MMARR_OK);
    assert_int_equal(mmarr_writer_write(w, v, 4), MMARR_E_STATE);
    assert_int_equal(mmarr_writer_end(w), MMARR_E_STATE);
    mmarr_compress_options bad = {.chunk_size = (1ull << 30) + 1};
    assert_int_equal(mmarr_writer_begin(w, "x", "<f4", 1, shape, MMARR_ORDER_C, &bad),
                     MMARR_E_INVAL);
    mmarr_compress_options badlevel = {.level = 1000};
    assert_int_equal(mmarr_writer_begin(w, "x", "<f4", 1, shape, MMARR_ORDER_C, &badlevel),
                     MMARR_E_INVAL);
    assert_int_equal(mmarr_writer_begin(w, "x", "<f4", 1, shape, MMARR_ORDER_C, NULL), MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_E_STATE); /* begun, not ended */
    assert_int_equal(mmarr_writer_write(w, v, 44), MMARR_E_RANGE); /* one float too many */
    assert_int_equal(mmarr_writer_commit(w), MMARR_E_STATE);      /* writer now failed */
    mmarr_writer_free(w);
    assert_int_equal(mmarr_writer_create(path, NULL, &w, NULL), MMARR_OK);
    assert_int_equal(mmarr_writer_begin(w, "x", "<f4", 1, shape, MMARR_ORDER_C, &(mmarr_compress_options){0}),
                     MMARR_OK);
    assert_int_equal(mmarr_writer_write(w, v, 36), MMARR_OK);
    assert_int_equal(mmarr_writer_end(w), MMARR_E_RANGE); /* 4 bytes missing */
    mmarr_writer_free(w);
    free(path);
}

/* Damage inside the compressed data: a verified read names the array and chunk. */
static void test_cold__damaged_chunks(void **state)
{
    const uint64_t shape[1] = {150000}; /* 600 KB: read on two threads */
    const size_t nbytes = 600000;
    unsigned char *data = malloc(nbytes);
    fill_smooth(data, nbytes, 3);
    char *path = tu_path(*state, "d.mmarr");
    mmarr_compress_options c = {.chunk_size = 32768};
    write_one(path, "arr", "<f4", 1, shape, data, &c);
    size_t size;
    unsigned char *img = tu_read_file(path, &size);
    mmarr_file *f;
    mmarr_error e;
    assert_int_equal(mmarr_open_buffer(img, size, 0, &f, &e), MMARR_OK);
    mmarr_chunk_info ci;
    assert_int_equal(mmarr_file_chunk(f, 0, 5, &ci, &e), MMARR_OK);
    mmarr_close(f);
    unsigned char *got = malloc(nbytes);
    /* flip bytes in chunk 5's frame until one decodes to different bytes or fails to decode:
     * every outcome must be an error for chunk 5, never wrong data */
    int saw_checksum = 0, saw_corrupt = 0;
    for (uint64_t at = ci.stored_offset; at < ci.stored_offset + ci.stored_size; at += 7) {
        img[at] ^= 0x5A;
        assert_int_equal(mmarr_open_buffer(img, size, 0, &f, &e), MMARR_OK);
        mmarr_err rc = mmarr_file_read(f, 0, 0, got, nbytes, &e);
        if (rc == MMARR_OK) {
            assert_memory_equal(got, data, nbytes); /* flip in an ignored frame field */
        } else {
            assert_true(rc == MMARR_E_CHECKSUM || rc == MMARR_E_CORRUPT);
            assert_non_null(strstr(e.message, "chunk 5"));
            assert_non_null(strstr(e.message, "\"arr\""));
            saw_checksum += rc == MMARR_E_CHECKSUM;
            saw_corrupt += rc == MMARR_E_CORRUPT;
            assert_int_equal(mmarr_file_verify_array(f, 0, &e), rc);
        }
        /* other chunks still read */
        assert_int_equal(mmarr_file_read(f, 0, 0, got, 5 * 32768, &e), MMARR_OK);
        mmarr_close(f);
        img[at] ^= 0x5A;
    }
    assert_true(saw_checksum > 0);
    assert_true(saw_corrupt > 0);
    /* without chunk verification, a flip that zstd accepts goes through as promised */
    free(got);
    free(img);
    free(path);
    free(data);
}

/* Frames whose sizes lie are refused before decompression (crafted images). */
static void test_cold__lying_sizes(void **state)
{
    const uint64_t shape[1] = {4096};
    unsigned char data[4096 * 4];
    fill_smooth(data, sizeof data, 9);
    char *path = tu_path(*state, "l.mmarr");
    mmarr_compress_options c = {.chunk_size = 4096};
    write_one(path, "arr", "<f4", 1, shape, data, &c);
    size_t size;
    unsigned char *img = tu_read_file(path, &size);
    mmarr_disk_slot *slot = (mmarr_disk_slot *)(img + MMARR_SLOT_A_OFFSET);
    unsigned char *index = img + slot->index_offset;
    mmarr_disk_index_header *h = (mmarr_disk_index_header *)index;
    mmarr_disk_chunk *ch = (mmarr_disk_chunk *)(index + h->chunks_offset);
    mmarr_disk_entry *en = (mmarr_disk_entry *)(index + h->entries_offset);
    assert_int_equal(h->chunk_count, 4);
    /* chunk 1's frame cut short by one byte, chunk 2's started one byte late: neither is one
     * zstd frame of its stated size */
    ch[1].size -= 1;
    ch[2].offset += 1;
    ch[2].size -= 1;
    (void)en;
    slot->index_checksum = XXH3_64bits(index, slot->index_size);
    slot->checksum = XXH3_64bits(slot, 120);
    mmarr_file *f;
    mmarr_error e;
    assert_int_equal(mmarr_open_buffer(img, size, 0, &f, &e), MMARR_OK);
    unsigned char got[sizeof data];
    assert_int_equal(mmarr_file_read(f, 0, 4096 * 1, got, 4096, &e), MMARR_E_CORRUPT);
    assert_non_null(strstr(e.message, "chunk 1"));
    assert_int_equal(mmarr_file_read(f, 0, 4096 * 2, got, 4096, &e), MMARR_E_CORRUPT);
    assert_int_equal(mmarr_file_read(f, 0, 0, got, 4096, &e), MMARR_OK);
    assert_memory_equal(got, data, 4096);
    mmarr_close(f);
    free(img);
    free(path);
}

/* Reads in slices that do not line up with chunks, as a scan does: the chunks a read needs
 * in part are kept decoded for the next read (cold_read.c), keyed by their place in the file,
 * so two arrays read in turn, random slices after the scan, a handle on a buffer (bytes from
 * memory) and one on the file (bytes read with pread) all give the arrays' bytes. */
static void scan_slices(mmarr_file *f, const unsigned char *a, const unsigned char *b,
                        uint64_t nbytes, uint64_t chunk)
{
    const uint64_t len = chunk + chunk / 2 + 4;
    unsigned char *got = malloc(len);
    mmarr_error e;
    for (uint64_t at = 3; at < nbytes; at += len) {
        const uint64_t n = nbytes - at < len ? nbytes - at : len;
        assert_int_equal(mmarr_file_read(f, 0, at, got, n, &e), MMARR_OK);
        assert_memory_equal(got, a + at, n);
        assert_int_equal(mmarr_file_read(f, 1, at, got, n, &e), MMARR_OK);
        assert_memory_equal(got, b + at, n);
    }
    uint64_t seed = 7;
    for (int i = 0; i < 200; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        const uint64_t at = (seed >> 20) % nbytes, n = nbytes - at < len ? nbytes - at : len;
        const int which = (int)(seed >> 62) & 1;
        assert_int_equal(mmarr_file_read(f, (size_t)which, at, got, n, &e), MMARR_OK);
        assert_memory_equal(got, (which ? b : a) + at, n);
    }
    free(got);
}

static void test_cold__scan_in_slices(void **state)
{
    const uint64_t chunk = 128 << 10, rows = 600000, shape[1] = {rows}, nbytes = rows * 4;
    unsigned char *a = malloc(nbytes), *b = malloc(nbytes);
    fill_smooth(a, nbytes, 11);
    fill_smooth(b, nbytes, 12);
    char *path = tu_path(*state, "scan.mmarr");
    mmarr_writer_options o = {.flags = MMARR_WRITE_NO_SYNC};
    mmarr_compress_options c = {.level = 1, .chunk_size = chunk};
    mmarr_writer *w;
    assert_int_equal(mmarr_writer_create(path, &o, &w, NULL), MMARR_OK);
    assert_int_equal(mmarr_writer_add_cold(w, "a", "<f4", 1, shape, MMARR_ORDER_C, a, &c),
                     MMARR_OK);
    c.shuffle = 1;
    assert_int_equal(mmarr_writer_add_cold(w, "b", "<f4", 1, shape, MMARR_ORDER_C, b, &c),
                     MMARR_OK);
    assert_int_equal(mmarr_writer_commit(w), MMARR_OK);
    mmarr_writer_free(w);
    size_t size;
    unsigned char *img = tu_read_file(path, &size);
    mmarr_file *f;
    mmarr_error e;
    for (unsigned threads = 1; threads <= 2; threads++) {
        assert_int_equal(mmarr_open(path, 0, &f, &e), MMARR_OK);
        mmarr_file_set_threads(f, threads);
        scan_slices(f, a, b, nbytes, chunk);
        assert_int_equal(mmarr_file_verify(f, &e), MMARR_OK);
        mmarr_close(f);
        assert_int_equal(mmarr_open_buffer(img, size, 0, &f, &e), MMARR_OK);
        mmarr_file_set_threads(f, threads);
        scan_slices(f, a, b, nbytes, chunk);
        mmarr_close(f);
    }

    /* a damaged chunk on disk: a read that needs part of it fails every time (a failed chunk
     * is not kept), and a handle that skips chunk checksums still lets verify find it */
    mmarr_chunk_info ci;
    assert_int_equal(mmarr_open(path, 0, &f, &e), MMARR_OK);
    assert_int_equal(mmarr_file_chunk(f, 0, 3, &ci, &e), MMARR_OK);
    mmarr_close(f);
    img[ci.stored_offset + ci.stored_size / 2] ^= 0x5A;
    assert_int_equal(tu_write_file(path, img, size), 0);
    unsigned char *got = malloc(chunk);
    for (int flags = 0; flags <= 1; flags++) {
        assert_int_equal(mmarr_open(path, flags ? MMARR_OPEN_NO_CHUNK_VERIFY : 0, &f, &e),
                         MMARR_OK);
        for (int again = 0; again < 2; again++) {
            mmarr_err rc = mmarr_file_read(f, 0, 3 * chunk + 100, got, chunk / 2, &e);
            if (!flags) {
                assert_true(rc == MMARR_E_CHECKSUM || rc == MMARR_E_CORRUPT);
                assert_non_null(strstr(e.message, "chunk 3"));
            }
        }
        mmarr_err rc = mmarr_file_verify_array(f, 0, &e);
        assert_true(rc == MMARR_E_CHECKSUM || rc == MMARR_E_CORRUPT);
        assert_int_equal(mmarr_file_read(f, 0, 0, got, chunk, &e), MMARR_OK);
        assert_memory_equal(got, a, chunk);
        mmarr_close(f);
    }
    free(got);
    free(img);
    free(path);
    free(a);
    free(b);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup_dir, tu_teardown_dir)
    const struct CMUnitTest tests[] = {
        T(test_cold__roundtrip_dtypes), T(test_cold__chunk_sizes_and_threads),
        T(test_cold__empty_and_0d),     T(test_cold__streaming_pieces),
        T(test_cold__stream_misuse),    T(test_cold__damaged_chunks),
        T(test_cold__lying_sizes),      T(test_cold__scan_in_slices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
