/* SPDX-License-Identifier: MIT */
/*
 * mksample — write the sample file the mmarr-info tests inspect, through the public writer
 * API only: one array per dtype kind (bool, signed and unsigned ints in both byte orders,
 * f2/f4/f8 including big-endian, complex, bfloat16 and float8, S, U in both byte orders, V,
 * datetime64/timedelta64 with NaT), a structured dtype with a subarray, a nested struct and
 * padding, a 0-d and an empty array, a Fortran-order array, a page-aligned array beside
 * packed small ones, a cold (zstd, byte-shuffled, several chunks, Fortran-order) array, long
 * and awkward names, and file and array metadata.
 *
 * Every value is a literal or a simple formula that tests/tools/test_info.py rebuilds with
 * numpy, so the test can compare what mmarr-info prints with what numpy computes.
 *
 * Usage: mksample [--bulk MIB] OUT.mmarr
 *   --bulk MIB  also write "bulk", MIB MiB of |u1 (byte k is k mod 251), large enough that
 *               the residency test can see part of it dropped from the page cache
 * Exit 0 on success, 1 with a message on failure, 2 on bad usage.
 */
#include <mmarr.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mmarr_writer *w;

static void die(const char *what)
{
    fprintf(stderr, "mksample: %s: %s\n", what, mmarr_writer_error(w)->message);
    exit(1);
}

static void add(const char *name, const char *dtype, unsigned ndim, const uint64_t *shape,
                mmarr_order order, const void *data)
{
    if (mmarr_writer_add(w, name, dtype, ndim, shape, order, data) != MMARR_OK)
        die(name);
}

static void add1(const char *name, const char *dtype, uint64_t n, const void *data)
{
    const uint64_t shape[1] = {n};
    add(name, dtype, 1, shape, MMARR_ORDER_C, data);
}

/* Store v in `size` bytes, big-endian: the bytes of a '>' dtype, whatever the host. */
static void put_be(unsigned char *p, uint64_t v, unsigned size)
{
    for (unsigned i = 0; i < size; i++)
        p[size - 1 - i] = (unsigned char)(v >> (8 * i));
}

static void put_le(unsigned char *p, uint64_t v, unsigned size)
{
    for (unsigned i = 0; i < size; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t f64_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static uint32_t f32_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static void add_numbers(void)
{
    double f8[12];
    for (int k = 0; k < 12; k++)
        f8[k] = k * 0.5 - 1;
    const uint64_t s34[2] = {3, 4};
    add("f8_2d", "<f8", 2, s34, MMARR_ORDER_C, f8);
    if (mmarr_writer_set_array_meta(w, "f8_2d", "units", "m/s") ||
        mmarr_writer_set_array_meta(w, "f8_2d", "desc", "two \"quoted\" words\nnext line"))
        die("array metadata");

    const double be[5] = {1.5, -2.25, 1e300, INFINITY, NAN};
    unsigned char beb[40];
    for (int k = 0; k < 5; k++)
        put_be(beb + 8 * k, f64_bits(be[k]), 8);
    add1("be_f8", ">f8", 5, beb);

    /* logical a[i][j] = 10 i + j, stored column-major */
    int32_t fort[6];
    for (int j = 0, k = 0; j < 3; j++)
        for (int i = 0; i < 2; i++)
            fort[k++] = 10 * i + j;
    const uint64_t s23[2] = {2, 3};
    add("i4_fortran", "<i4", 2, s23, MMARR_ORDER_F, fort);

    const uint64_t u8[4] = {0, 1, UINT64_C(1) << 63, UINT64_MAX};
    add1("u8", "<u8", 4, u8);
    const int64_t i8[3] = {INT64_MIN, -1, INT64_MAX};
    add1("i8", "<i8", 3, i8);
    const int8_t i1[3] = {-128, 0, 127};
    add1("i1", "|i1", 3, i1);
    unsigned char i4be[8];
    put_be(i4be, (uint32_t)-2, 4);
    put_be(i4be + 4, 305419896, 4);
    add1("i4_be", ">i4", 2, i4be);
    unsigned char u2be[4];
    put_be(u2be, 1, 2);
    put_be(u2be + 2, 65535, 2);
    add1("u2_be", ">u2", 2, u2be);
    const unsigned char b1[4] = {1, 0, 1, 1};
    add1("bool", "|b1", 4, b1);
}

static void add_floats(void)
{
    /* 0, 1, -2, 0.5, 65504 (max), inf, 2^-24 (smallest subnormal), nan */
    const uint16_t f2[8] = {0x0000, 0x3C00, 0xC000, 0x3800, 0x7BFF, 0x7C00, 0x0001, 0x7E00};
    add1("f2", "<f2", 8, f2);
    const float f4[4] = {0.1f, -3.5f, 1e10f, 16777216.0f};
    add1("f4", "<f4", 4, f4);
    const double c16[4] = {1, 2, -0.5, -1.5};
    add1("c16", "<c16", 2, c16);
    const float c8[4] = {0.25f, 0, 3, -4};
    add1("c8", "<c8", 2, c8);
    /* 1.0, -2.5, 3.140625, inf */
    const uint16_t bf16[4] = {0x3F80, 0xC020, 0x4049, 0x7F80};
    add1("bf16", "bfloat16", 4, bf16);
    /* e4m3fn: 1.0, -2.0, 448 (max), nan;  e5m2: 1.0, 0.5, 57344 (max), -inf */
    const unsigned char e4m3[4] = {0x38, 0xC0, 0x7E, 0x7F}, e5m2[4] = {0x3C, 0x38, 0x7B, 0xFC};
    add1("e4m3", "float8_e4m3fn", 4, e4m3);
    add1("e5m2", "float8_e5m2", 4, e5m2);

    const double scalar = 3.25;
    add("scalar", "<f8", 0, NULL, MMARR_ORDER_C, &scalar);
    const uint64_t s05[2] = {0, 5};
    add("empty", "<f4", 2, s05, MMARR_ORDER_C, NULL);

    /* 8 KiB: above the packing threshold, so page-aligned */
    float *big;
    const uint64_t n[1] = {2048};
    if (mmarr_writer_reserve(w, "big", "<f4", 1, n, MMARR_ORDER_C, (void **)&big) != MMARR_OK)
        die("big");
    for (int k = 0; k < 2048; k++)
        big[k] = (float)k * 0.25f;
}

static void add_text_and_time(void)
{
    static const char s6[18] = "abc\0\0\0a\0b\xff'\0sixsix";
    add1("S6", "|S6", 3, s6);
    const uint32_t u3[9] = {'a', 'b', 'c', 0xE9, 0x20AC, 0, 0x1F600, 0, 0};
    add1("U3", "<U3", 3, u3);
    unsigned char u2be[16];
    const uint32_t cps[4] = {'h', 'i', 0xFC, 0};
    for (int k = 0; k < 4; k++)
        put_be(u2be + 4 * k, cps[k], 4);
    add1("U2_be", ">U2", 2, u2be);
    const unsigned char v4[8] = {1, 2, 3, 4, 0xFF, 0, 'V', '\''};
    add1("void", "|V4", 2, v4);

    const int64_t ns[3] = {0, INT64_C(1600000000123456789), INT64_MIN};
    add1("dt_ns", "<M8[ns]", 3, ns);
    const int64_t days[2] = {0, 18518};
    add1("dt_D", "<M8[D]", 2, days);
    const int64_t td[2] = {5, INT64_MIN};
    add1("td_10ms", "<m8[10ms]", 2, td);
}

/* [('id', '<i4'), ('pos', '<f4', (3,)), ('when', '<M8[ns]'), ('tag', '|S6'),
 *  ('inner', [('a', '<u2'), ('b', '>f8')]), ('', '|V2')]: itemsize 42 */
static void add_record(void)
{
    enum { ITEM = 42 };
    static const struct {
        int32_t id;
        float pos[3];
        int64_t when;
        const char *tag;
        uint16_t a;
        double b;
    } r[2] = {{1, {0.5f, 1.5f, 2.5f}, 1000, "alpha", 7, -1.25},
              {-2, {-1, 0, 1e10f}, INT64_MIN, "beta6!", 65535, 3.5}};
    unsigned char buf[2 * ITEM];
    memset(buf, 0, sizeof buf);
    for (int k = 0; k < 2; k++) {
        unsigned char *p = buf + k * ITEM;
        put_le(p, (uint32_t)r[k].id, 4);
        for (int j = 0; j < 3; j++)
            put_le(p + 4 + 4 * j, f32_bits(r[k].pos[j]), 4);
        put_le(p + 16, (uint64_t)r[k].when, 8);
        memcpy(p + 24, r[k].tag, strlen(r[k].tag));
        put_le(p + 30, r[k].a, 2);
        put_be(p + 32, f64_bits(r[k].b), 8);
    }
    add1("rec",
         "[('id', '<i4'), ('pos', '<f4', (3,)), ('when', '<M8[ns]'), ('tag', '|S6'), "
         "('inner', [('a', '<u2'), ('b', '>f8')]), ('', '|V2')]",
         2, buf);
}

/* Logical a[i][j] = i + 1000 j (f8, 1000 x 3), stored column-major in 8 KiB chunks: the
 * first values in C order come from different chunks. */
static void add_cold(void)
{
    static double v[3000];
    for (int k = 0; k < 3000; k++)
        v[k] = k; /* column-major: element k is a[k % 1000][k / 1000] = k */
    mmarr_compress_options c;
    memset(&c, 0, sizeof c);
    c.level = 3;
    c.chunk_size = 8192;
    c.shuffle = 1;
    c.threads = 1;
    const uint64_t shape[2] = {1000, 3};
    if (mmarr_writer_add_cold(w, "cold_f8", "<f8", 2, shape, MMARR_ORDER_F, v, &c) != MMARR_OK)
        die("cold_f8");
}

static void add_names(void)
{
    const int16_t i2[2] = {1, -1};
    add1("group/very_long_name_very_long_name_very_long_name_very_long_name_end", "<i2", 2, i2);
    const unsigned char one = 42;
    add1("quote\"back\\slash\ttab", "|u1", 1, &one);
    add1("température/é", "|u1", 1, &one);
}

static void add_bulk(uint64_t mib)
{
    unsigned char *p;
    const uint64_t n[1] = {mib << 20};
    if (mmarr_writer_reserve(w, "bulk", "|u1", 1, n, MMARR_ORDER_C, (void **)&p) != MMARR_OK)
        die("bulk");
    for (uint64_t k = 0; k < n[0]; k++)
        p[k] = (unsigned char)(k % 251);
}

int main(int argc, char **argv)
{
    uint64_t bulk_mib = 0;
    if (argc == 4 && !strcmp(argv[1], "--bulk")) {
        bulk_mib = strtoull(argv[2], NULL, 10);
        argv += 2;
        argc -= 2;
    }
    if (argc != 2 || bulk_mib > 4096) {
        fprintf(stderr, "usage: mksample [--bulk MIB] OUT.mmarr\n");
        return 2;
    }
    mmarr_writer_options o;
    memset(&o, 0, sizeof o);
    o.flags = MMARR_WRITE_NO_SYNC;
    mmarr_error e;
    if (mmarr_writer_create(argv[1], &o, &w, &e) != MMARR_OK) {
        fprintf(stderr, "mksample: %s\n", e.message);
        return 1;
    }
    add_numbers();
    add_floats();
    add_text_and_time();
    add_record();
    add_cold();
    add_names();
    if (bulk_mib)
        add_bulk(bulk_mib);
    if (mmarr_writer_set_file_meta(w, "source", "mksample") ||
        mmarr_writer_set_file_meta(w, "note", "line1\nline2 \"quoted\"") ||
        mmarr_writer_set_file_meta(w, "ünïcode", "välue"))
        die("file metadata");
    if (mmarr_writer_commit(w) != MMARR_OK)
        die("commit");
    mmarr_writer_free(w);
    return 0;
}
