/* SPDX-License-Identifier: MIT */
/*
 * test_dtype.c — unit tests of the dtype parser (mmarr_dtype_parse and its getters) against
 * spec.md §8 and the contract in mmarr.h: every canonical string parses and prints back byte
 * for byte; the documented convenience forms ("f4", "=i8", "float32", double quotes, free
 * spacing) canonicalise; structured dtypes get the implied field offsets and itemsizes
 * (padding, nesting, subarrays); datetime units and counts are reported; and everything the
 * format cannot represent (objects, long doubles, titles, bad units, zero or overflowing
 * sizes, malformed or absurdly deep text) is refused with MMARR_E_DTYPE and a message.
 * Everything runs in memory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmarr.h"
#include "testutil.h"

/* Parse `text`, failing the test (with the library's message) if it does not parse. */
static mmarr_dtype *parse_ok(const char *text)
{
    mmarr_dtype *dt = NULL;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    mmarr_err rc = mmarr_dtype_parse(text, &dt, &e);
    if (rc != MMARR_OK)
        print_error("mmarr_dtype_parse(\"%s\") failed: %d %s\n", text, (int)rc, e.message);
    assert_int_equal(rc, MMARR_OK);
    assert_non_null(dt);
    return dt;
}

/* Expect `text` to be refused with MMARR_E_DTYPE and a non-empty message. */
static void parse_fails(const char *text)
{
    mmarr_dtype *dt = NULL;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    mmarr_err rc = mmarr_dtype_parse(text, &dt, &e);
    if (rc != MMARR_E_DTYPE)
        print_error("mmarr_dtype_parse(\"%.200s\") returned %d (%s), expected MMARR_E_DTYPE\n",
                    text, (int)rc, dt ? mmarr_dtype_str(dt) : "no dtype");
    assert_int_equal(rc, MMARR_E_DTYPE);
    assert_null(dt);
    assert_int_equal(e.code, MMARR_E_DTYPE);
    assert_true(e.message[0] != '\0');
    assert_non_null(memchr(e.message, '\0', sizeof e.message));
    mmarr_dtype_free(dt);
    /* The error struct is optional. */
    dt = NULL;
    assert_int_equal(mmarr_dtype_parse(text, &dt, NULL), MMARR_E_DTYPE);
    assert_null(dt);
}

typedef struct plain_case {
    const char *text;
    mmarr_kind kind;
    uint64_t itemsize;
    char byteorder; /* 0: not checked (ml_dtypes types) */
} plain_case;

static const plain_case PLAIN[] = {
    {"|b1", MMARR_KIND_BOOL, 1, '|'},
    {"|i1", MMARR_KIND_INT, 1, '|'},
    {"<i2", MMARR_KIND_INT, 2, '<'},
    {"<i4", MMARR_KIND_INT, 4, '<'},
    {"<i8", MMARR_KIND_INT, 8, '<'},
    {">i2", MMARR_KIND_INT, 2, '>'},
    {">i4", MMARR_KIND_INT, 4, '>'},
    {">i8", MMARR_KIND_INT, 8, '>'},
    {"|u1", MMARR_KIND_UINT, 1, '|'},
    {"<u2", MMARR_KIND_UINT, 2, '<'},
    {"<u4", MMARR_KIND_UINT, 4, '<'},
    {"<u8", MMARR_KIND_UINT, 8, '<'},
    {">u2", MMARR_KIND_UINT, 2, '>'},
    {">u4", MMARR_KIND_UINT, 4, '>'},
    {">u8", MMARR_KIND_UINT, 8, '>'},
    {"<f2", MMARR_KIND_FLOAT, 2, '<'},
    {"<f4", MMARR_KIND_FLOAT, 4, '<'},
    {"<f8", MMARR_KIND_FLOAT, 8, '<'},
    {">f2", MMARR_KIND_FLOAT, 2, '>'},
    {">f4", MMARR_KIND_FLOAT, 4, '>'},
    {">f8", MMARR_KIND_FLOAT, 8, '>'},
    {"<c8", MMARR_KIND_COMPLEX, 8, '<'},
    {"<c16", MMARR_KIND_COMPLEX, 16, '<'},
    {">c8", MMARR_KIND_COMPLEX, 8, '>'},
    {">c16", MMARR_KIND_COMPLEX, 16, '>'},
    {"bfloat16", MMARR_KIND_FLOAT, 2, 0},
    {"float8_e4m3fn", MMARR_KIND_FLOAT, 1, 0},
    {"float8_e5m2", MMARR_KIND_FLOAT, 1, 0},
    {"|S1", MMARR_KIND_BYTES, 1, '|'},
    {"|S6", MMARR_KIND_BYTES, 6, '|'},
    {"|S1000", MMARR_KIND_BYTES, 1000, '|'},
    {"<U1", MMARR_KIND_UNICODE, 4, '<'},
    {"<U5", MMARR_KIND_UNICODE, 20, '<'},
    {">U5", MMARR_KIND_UNICODE, 20, '>'},
    {"|V1", MMARR_KIND_VOID, 1, '|'},
    {"|V3", MMARR_KIND_VOID, 3, '|'},
    {"|V4096", MMARR_KIND_VOID, 4096, '|'},
    {"<M8", MMARR_KIND_DATETIME, 8, '<'},
    {"<M8[ns]", MMARR_KIND_DATETIME, 8, '<'},
    {">M8[ns]", MMARR_KIND_DATETIME, 8, '>'},
    {"<M8[10ms]", MMARR_KIND_DATETIME, 8, '<'},
    {"<m8", MMARR_KIND_TIMEDELTA, 8, '<'},
    {"<m8[us]", MMARR_KIND_TIMEDELTA, 8, '<'},
    {">m8[25s]", MMARR_KIND_TIMEDELTA, 8, '>'},
};

static void test_dtype__plain_canonical_roundtrip(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof PLAIN / sizeof PLAIN[0]; i++) {
        const plain_case *c = &PLAIN[i];
        mmarr_dtype *dt = parse_ok(c->text);
        ASSERT_STR(mmarr_dtype_str(dt), c->text);
        assert_int_equal(mmarr_dtype_kind(dt), c->kind);
        assert_int_equal(mmarr_dtype_itemsize(dt), c->itemsize);
        if (c->byteorder)
            assert_int_equal(mmarr_dtype_byteorder(dt), c->byteorder);
        assert_int_equal(mmarr_dtype_nfields(dt), 0);
        assert_null(mmarr_dtype_field(dt, 0));
        if (c->kind != MMARR_KIND_DATETIME && c->kind != MMARR_KIND_TIMEDELTA) {
            uint64_t count = 77;
            assert_null(mmarr_dtype_time_unit(dt, &count));
        }
        /* Printing and parsing again is a fixed point. */
        mmarr_dtype *again = parse_ok(mmarr_dtype_str(dt));
        ASSERT_STR(mmarr_dtype_str(again), c->text);
        mmarr_dtype_free(again);
        mmarr_dtype_free(dt);
    }
}

static void test_dtype__largest_itemsize_accepted(void **state)
{
    (void)state;
    /* spec.md §8: every dtype has itemsize >= 1 and < 2^31. */
    mmarr_dtype *dt = parse_ok("|S2147483647");
    assert_int_equal(mmarr_dtype_itemsize(dt), 2147483647u);
    ASSERT_STR(mmarr_dtype_str(dt), "|S2147483647");
    mmarr_dtype_free(dt);
    dt = parse_ok("<U536870911");
    assert_int_equal(mmarr_dtype_itemsize(dt), 4u * 536870911u);
    mmarr_dtype_free(dt);
}

static void test_dtype__every_time_unit(void **state)
{
    (void)state;
    static const char *const units[] = {"Y", "M", "W", "D", "h", "m", "s",
                                        "ms", "us", "ns", "ps", "fs", "as"};
    static const char *const kinds[] = {"<M8", "<m8", ">M8"};
    char text[64];
    for (size_t k = 0; k < 3; k++) {
        for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
            snprintf(text, sizeof text, "%s[%s]", kinds[k], units[u]);
            mmarr_dtype *dt = parse_ok(text);
            ASSERT_STR(mmarr_dtype_str(dt), text);
            assert_int_equal(mmarr_dtype_itemsize(dt), 8);
            assert_int_equal(mmarr_dtype_kind(dt),
                             kinds[k][1] == 'M' ? MMARR_KIND_DATETIME : MMARR_KIND_TIMEDELTA);
            uint64_t count = 0;
            ASSERT_STR(mmarr_dtype_time_unit(dt, &count), units[u]);
            assert_int_equal(count, 1);
            mmarr_dtype_free(dt);

            snprintf(text, sizeof text, "%s[250%s]", kinds[k], units[u]);
            dt = parse_ok(text);
            ASSERT_STR(mmarr_dtype_str(dt), text);
            count = 0;
            ASSERT_STR(mmarr_dtype_time_unit(dt, &count), units[u]);
            assert_int_equal(count, 250);
            mmarr_dtype_free(dt);
        }
    }
}

static void test_dtype__time_unit_counts_and_generic(void **state)
{
    (void)state;
    uint64_t count = 0;
    mmarr_dtype *dt = parse_ok("<M8[10ms]");
    ASSERT_STR(mmarr_dtype_time_unit(dt, &count), "ms");
    assert_int_equal(count, 10);
    mmarr_dtype_free(dt);

    dt = parse_ok("<m8[us]");
    count = 0;
    ASSERT_STR(mmarr_dtype_time_unit(dt, &count), "us");
    assert_int_equal(count, 1);
    assert_int_equal(mmarr_dtype_kind(dt), MMARR_KIND_TIMEDELTA);
    mmarr_dtype_free(dt);

    /* Generic unit: "" */
    dt = parse_ok("<M8");
    ASSERT_STR(mmarr_dtype_time_unit(dt, &count), "");
    ASSERT_STR(mmarr_dtype_str(dt), "<M8");
    mmarr_dtype_free(dt);

    /* Other kinds have no unit. */
    dt = parse_ok("<i8");
    assert_null(mmarr_dtype_time_unit(dt, &count));
    mmarr_dtype_free(dt);
}

typedef struct conv_case {
    const char *in;
    const char *canonical;
} conv_case;

static void check_conversions(const conv_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mmarr_dtype *dt = parse_ok(cases[i].in);
        if (strcmp(mmarr_dtype_str(dt), cases[i].canonical) != 0)
            print_error("\"%s\" canonicalised to \"%s\", expected \"%s\"\n", cases[i].in,
                        mmarr_dtype_str(dt), cases[i].canonical);
        ASSERT_STR(mmarr_dtype_str(dt), cases[i].canonical);
        mmarr_dtype_free(dt);
    }
}

static void test_dtype__convenience_forms_canonicalise(void **state)
{
    (void)state;
    static const conv_case cases[] = {
        {"f4", "<f4"},
        {"=f4", "<f4"},
        {"=i8", "<i8"},
        {"i8", "<i8"},
        {"u2", "<u2"},
        {"c16", "<c16"},
        {"u1", "|u1"},
        {"i1", "|i1"},
        {"=u1", "|u1"},
        {"S6", "|S6"},
        {"U5", "<U5"},
        {"V3", "|V3"},
        {"M8[ns]", "<M8[ns]"},
        {"m8[us]", "<m8[us]"},
        {"=M8[10ms]", "<M8[10ms]"},
        {"float32", "<f4"},
        {"int64", "<i8"},
        {"bool", "|b1"},
        {"complex64", "<c8"},
        {"bfloat16", "bfloat16"},
    };
    check_conversions(cases, sizeof cases / sizeof cases[0]);
}

static void test_dtype__numpy_type_names(void **state)
{
    (void)state;
    /* mmarr.h: "names such as float32, int64, bool, complex64, bfloat16" — numpy's family. */
    static const conv_case cases[] = {
        {"float16", "<f2"}, {"float64", "<f8"},   {"int8", "|i1"},    {"int16", "<i2"},
        {"int32", "<i4"},   {"uint8", "|u1"},     {"uint16", "<u2"},  {"uint32", "<u4"},
        {"uint64", "<u8"},  {"complex128", "<c16"},
    };
    check_conversions(cases, sizeof cases / sizeof cases[0]);
}

static void test_dtype__struct_quotes_and_spacing(void **state)
{
    (void)state;
    static const conv_case cases[] = {
        {"[(\"a\", \"<f4\"), (\"b\", \"<i8\")]", "[('a', '<f4'), ('b', '<i8')]"},
        {"[('a','<f4'),('b','<i8')]", "[('a', '<f4'), ('b', '<i8')]"},
        {"[ ( 'a' , '<f4' ) , ( 'b' , '<i8' , ( 3 , ) ) ]", "[('a', '<f4'), ('b', '<i8', (3,))]"},
        {"[('a', 'f4'), ('b', 'u1', (2,3))]", "[('a', '<f4'), ('b', '|u1', (2, 3))]"},
        {"[(\"outer\", [(\"x\", \"=i4\")])]", "[('outer', [('x', '<i4')])]"},
    };
    check_conversions(cases, sizeof cases / sizeof cases[0]);
}

static void test_dtype__struct_canonical_roundtrip(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t itemsize;
        size_t nfields;
    } cases[] = {
        {"[('date', '<M8[ns]'), ('val', '<f8'), ('c', '|S6')]", 22, 3},
        {"[('a', '>i4'), ('b', '|b1')]", 5, 2},
        {"[('pos', '<f4', (3,))]", 12, 1},
        {"[('m', '<f8', (2, 3))]", 48, 1},
        {"[('a', '|u1'), ('', '|V3'), ('b', '<i4')]", 8, 3},
        {"[('a', '|u1'), ('', '|V3'), ('b', '<i4'), ('', '|V4')]", 12, 4},
        {"[('p', [('x', '<f4'), ('y', '<f4')], (2,))]", 16, 1},
        {"[('id', '<u4'), ('inner', [('a', '|i1'), ('b', '<i2', (2, 2))]), ('t', '<U2')]", 21,
         3},
        {"[('temp\xc3\xa9rature', '<f4'), ('\xe6\x97\xa5\xe6\x9c\xac', '<c8')]", 12, 2},
        {"[('x', 'bfloat16'), ('y', 'float8_e4m3fn'), ('z', 'float8_e5m2')]", 4, 3},
        {"[('d', '<m8[10ms]'), ('g', '<M8'), ('v', '|V1')]", 17, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mmarr_dtype *dt = parse_ok(cases[i].text);
        ASSERT_STR(mmarr_dtype_str(dt), cases[i].text);
        assert_int_equal(mmarr_dtype_kind(dt), MMARR_KIND_STRUCT);
        assert_int_equal(mmarr_dtype_byteorder(dt), '|');
        assert_int_equal(mmarr_dtype_itemsize(dt), cases[i].itemsize);
        assert_int_equal(mmarr_dtype_nfields(dt), cases[i].nfields);
        assert_null(mmarr_dtype_field(dt, cases[i].nfields));
        assert_null(mmarr_dtype_time_unit(dt, NULL));
        mmarr_dtype_free(dt);
    }
}

/* Check field i: name, offset, element dtype text and itemsize, subarray shape. */
static void check_field(const mmarr_dtype *dt, size_t i, const char *name, uint64_t offset,
                        const char *elem, uint64_t elem_itemsize, unsigned ndim,
                        const uint64_t *shape)
{
    const mmarr_field *f = mmarr_dtype_field(dt, i);
    assert_non_null(f);
    ASSERT_STR(f->name, name);
    assert_int_equal(f->offset, offset);
    assert_non_null(f->dtype);
    ASSERT_STR(mmarr_dtype_str(f->dtype), elem);
    assert_int_equal(mmarr_dtype_itemsize(f->dtype), elem_itemsize);
    assert_int_equal(f->ndim, ndim);
    for (unsigned d = 0; d < ndim; d++) {
        assert_non_null(f->shape);
        assert_int_equal(f->shape[d], shape[d]);
    }
}

static void test_dtype__struct_field_offsets(void **state)
{
    (void)state;
    mmarr_dtype *dt = parse_ok("[('date', '<M8[ns]'), ('val', '<f8'), ('c', '|S6')]");
    assert_int_equal(mmarr_dtype_itemsize(dt), 22);
    check_field(dt, 0, "date", 0, "<M8[ns]", 8, 0, NULL);
    check_field(dt, 1, "val", 8, "<f8", 8, 0, NULL);
    check_field(dt, 2, "c", 16, "|S6", 6, 0, NULL);
    uint64_t count = 0;
    ASSERT_STR(mmarr_dtype_time_unit(mmarr_dtype_field(dt, 0)->dtype, &count), "ns");
    assert_int_equal(count, 1);
    mmarr_dtype_free(dt);
}

static void test_dtype__struct_padding_fields(void **state)
{
    (void)state;
    mmarr_dtype *dt = parse_ok("[('a', '|u1'), ('', '|V3'), ('b', '<i4'), ('', '|V4')]");
    assert_int_equal(mmarr_dtype_itemsize(dt), 12);
    assert_int_equal(mmarr_dtype_nfields(dt), 4);
    check_field(dt, 0, "a", 0, "|u1", 1, 0, NULL);
    check_field(dt, 1, "", 1, "|V3", 3, 0, NULL);
    check_field(dt, 2, "b", 4, "<i4", 4, 0, NULL);
    check_field(dt, 3, "", 8, "|V4", 4, 0, NULL);
    assert_int_equal(mmarr_dtype_kind(mmarr_dtype_field(dt, 1)->dtype), MMARR_KIND_VOID);
    mmarr_dtype_free(dt);
}

static void test_dtype__nested_struct_with_subarrays(void **state)
{
    (void)state;
    const char *text = "[('id', '<u4'), ('pos', '<f4', (3,)), ('m', '<f8', (2, 2)), "
                       "('inner', [('x', '|i1'), ('', '|V1'), ('y', '<i2', (4,))]), "
                       "('tail', '|S2'), ('grid', [('u', '<u2')], (2, 3, 4))]";
    mmarr_dtype *dt = parse_ok(text);
    ASSERT_STR(mmarr_dtype_str(dt), text);
    /* id 4 + pos 12 + m 32 + inner (1+1+8 = 10) + tail 2 + grid 2*24 = 108 */
    assert_int_equal(mmarr_dtype_itemsize(dt), 108);
    assert_int_equal(mmarr_dtype_nfields(dt), 6);
    static const uint64_t s3[] = {3}, s22[] = {2, 2}, s234[] = {2, 3, 4}, s4[] = {4};
    check_field(dt, 0, "id", 0, "<u4", 4, 0, NULL);
    check_field(dt, 1, "pos", 4, "<f4", 4, 1, s3);
    check_field(dt, 2, "m", 16, "<f8", 8, 2, s22);
    check_field(dt, 3, "inner", 48, "[('x', '|i1'), ('', '|V1'), ('y', '<i2', (4,))]", 10, 0,
                NULL);
    check_field(dt, 4, "tail", 58, "|S2", 2, 0, NULL);
    check_field(dt, 5, "grid", 60, "[('u', '<u2')]", 2, 3, s234);

    const mmarr_dtype *inner = mmarr_dtype_field(dt, 3)->dtype;
    assert_int_equal(mmarr_dtype_kind(inner), MMARR_KIND_STRUCT);
    assert_int_equal(mmarr_dtype_nfields(inner), 3);
    check_field(inner, 0, "x", 0, "|i1", 1, 0, NULL);
    check_field(inner, 1, "", 1, "|V1", 1, 0, NULL);
    check_field(inner, 2, "y", 2, "<i2", 2, 1, s4);
    mmarr_dtype_free(dt);
}

static void test_dtype__subarray_of_64_dims_accepted(void **state)
{
    (void)state;
    char text[512];
    size_t n = (size_t)snprintf(text, sizeof text, "[('a', '|u1', (");
    for (int i = 0; i < 64; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%s1", i ? ", " : "");
    snprintf(text + n, sizeof text - n, "))]");
    mmarr_dtype *dt = parse_ok(text);
    ASSERT_STR(mmarr_dtype_str(dt), text);
    assert_int_equal(mmarr_dtype_itemsize(dt), 1);
    assert_int_equal(mmarr_dtype_field(dt, 0)->ndim, 64);
    mmarr_dtype_free(dt);

    /* 65 dimensions are one too many (spec.md §8: 1..64 dims). */
    n = (size_t)snprintf(text, sizeof text, "[('a', '|u1', (");
    for (int i = 0; i < 65; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%s1", i ? ", " : "");
    snprintf(text + n, sizeof text - n, "))]");
    parse_fails(text);
}

static void test_dtype__rejects_unrepresentable(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "O", "|O", "<O", "<f16", ">f16", "<c32", "float128", "complex256", "[('a', 'O')]",
        "[('a', '<f4'), ('b', '|O')]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_fails(bad[i]);
}

static void test_dtype__rejects_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        " ",
        "garbage",
        "<f3",
        "<i3",
        "<u16",
        "|b2",
        "<f4 junk",
        "<f4<f4",
        "<",
        "[]",
        "[",
        "]",
        "[('a', '<f4')",
        "[('a', '<f4')]]",
        "[('a', '<f4'))]",
        "[(('a', '<f4')]",
        "[('a' '<f4')]",
        "[('a', '<f4') ('b', '<f4')]",
        "[('a, '<f4')]",
        "[(a, '<f4')]",
        "('a', '<f4')",
        "[('a', '<f4', (3,)]",
        "[('a', '<f4', (3, -1))]",
        "[('a', '<f4', (x,))]",
        "[('a', '<f4'), ('a', '<i4')]",           /* duplicate field */
        "[('a', [('x', '<f4'), ('x', '|u1')])]",  /* duplicate in a nested struct */
        "[(('title', 'a'), '<f4')]",              /* titles */
        "[(('My title', 'name'), '<f4'), ('b', '<i4')]",
        "[('', '<f4')]",                          /* empty name, not |V padding */
        "[('a\\'b', '<f4')]",                     /* quote escape in a name */
        "[('a\x01', '<f4')]",                     /* control character */
        "[('\xff', '<f4')]",                      /* invalid UTF-8 */
        "|S0",
        "<U0",
        "|V0",
        "|S",
        "|S-1",
        "<M8[xs]",
        "<M8[]",
        "<M8[ns",
        "<M8ns]",
        "<M8[ns]x",
        "<m8[fortnight]",
        "<M4[ns]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_fails(bad[i]);
}

static void test_dtype__rejects_huge_itemsizes(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "|S2147483648",                                   /* 2^31 */
        "|S4294967296",                                   /* 2^32 */
        "|S18446744073709551617",                         /* > u64 */
        "|S99999999999999999999999999999999",             /* far beyond u64 */
        "|V2147483648",
        "<U536870912",                                    /* 4n = 2^31 */
        "<U4611686018427387904",                          /* 4n overflows u64 */
        "[('a', '<f8', (268435456,))]",                   /* 2^31 bytes */
        "[('a', '<f8', (4294967296, 4294967296))]",       /* product overflows u64 */
        "[('a', '|u1', (18446744073709551615, 2))]",
        "[('a', '|S2147483647'), ('b', '|S1')]",          /* sum reaches 2^31 */
        "[('a', [('b', '|S1073741824')], (2,))]",         /* nested subarray reaches 2^31 */
        "<M8[99999999999999999999999999ns]",              /* unit count overflows */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_fails(bad[i]);
}

static void test_dtype__deep_nesting_no_stack_overflow(void **state)
{
    (void)state;
    /* 10000 opening brackets: must be refused, not recurse off the stack; and a million,
     * which would overflow any stack if each level took a frame. */
    size_t n = 10000;
    char *text = malloc(1000001);
    assert_non_null(text);
    memset(text, '[', n);
    text[n] = '\0';
    parse_fails(text);
    memset(text, '[', 1000000);
    text[1000000] = '\0';
    parse_fails(text);

    /* Well-formed but absurdly deep: "[('a', [('a', ... '<f4' ...)])]". The library may
     * accept it or refuse it with MMARR_E_DTYPE; it must not crash. */
    free(text);
    const char *open = "[('a', ";
    const char *close = ")]";
    size_t depth = 200000;
    size_t len = depth * (strlen(open) + strlen(close)) + 8;
    text = malloc(len);
    assert_non_null(text);
    char *p = text;
    for (size_t i = 0; i < depth; i++) {
        memcpy(p, open, strlen(open));
        p += strlen(open);
    }
    memcpy(p, "'<f4'", 5);
    p += 5;
    for (size_t i = 0; i < depth; i++) {
        memcpy(p, close, strlen(close));
        p += strlen(close);
    }
    *p = '\0';
    mmarr_dtype *dt = NULL;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    mmarr_err rc = mmarr_dtype_parse(text, &dt, &e);
    assert_true(rc == MMARR_OK || rc == MMARR_E_DTYPE);
    if (rc == MMARR_OK) {
        assert_int_equal(mmarr_dtype_itemsize(dt), 4);
        ASSERT_STR(mmarr_dtype_str(dt), text);
    } else {
        assert_null(dt);
        assert_true(e.message[0] != '\0');
    }
    mmarr_dtype_free(dt);

    /* 10000 nested subarray parentheses are refused too. */
    free(text);
    text = malloc(n + 32);
    assert_non_null(text);
    strcpy(text, "[('a', '<f4', ");
    size_t off = strlen(text);
    memset(text + off, '(', n);
    text[off + n] = '\0';
    parse_fails(text);
    free(text);
}

static void test_dtype__free_null_is_noop(void **state)
{
    (void)state;
    mmarr_dtype_free(NULL);
}

static void test_dtype__null_text_is_refused(void **state)
{
    (void)state;
    mmarr_dtype *dt = NULL;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    mmarr_err rc = mmarr_dtype_parse(NULL, &dt, &e);
    assert_int_not_equal(rc, MMARR_OK);
    assert_null(dt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype__plain_canonical_roundtrip),
        cmocka_unit_test(test_dtype__largest_itemsize_accepted),
        cmocka_unit_test(test_dtype__every_time_unit),
        cmocka_unit_test(test_dtype__time_unit_counts_and_generic),
        cmocka_unit_test(test_dtype__convenience_forms_canonicalise),
        cmocka_unit_test(test_dtype__numpy_type_names),
        cmocka_unit_test(test_dtype__struct_quotes_and_spacing),
        cmocka_unit_test(test_dtype__struct_canonical_roundtrip),
        cmocka_unit_test(test_dtype__struct_field_offsets),
        cmocka_unit_test(test_dtype__struct_padding_fields),
        cmocka_unit_test(test_dtype__nested_struct_with_subarrays),
        cmocka_unit_test(test_dtype__subarray_of_64_dims_accepted),
        cmocka_unit_test(test_dtype__rejects_unrepresentable),
        cmocka_unit_test(test_dtype__rejects_malformed),
        cmocka_unit_test(test_dtype__rejects_huge_itemsizes),
        cmocka_unit_test(test_dtype__deep_nesting_no_stack_overflow),
        cmocka_unit_test(test_dtype__free_null_is_noop),
        cmocka_unit_test(test_dtype__null_text_is_refused),
    };
    return cmocka_run_group_tests_name("dtype", tests, NULL, NULL);
}
