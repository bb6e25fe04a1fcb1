/* SPDX-License-Identifier: MIT */
/*
 * test_npyio.c — unit tests of tools/numpy/npyio.c, the .npy header parser and writer behind
 * mmarr-pack and mmarr-unpack. Valid headers of every version (numpy's own text, Python 2
 * era text, both quote styles, escapes, latin-1 and UTF-8 field names, the dict and tuple
 * forms of descr) parse into canonical dtype text; hostile and malformed headers are each
 * refused with their specific status and a message; every truncation and many single-byte
 * mutations of a valid header are handled without a crash; the writer reproduces numpy's bytes
 * and picks versions 1.0/2.0/3.0 as numpy does. Everything runs in memory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npyio.h"

/* ---- helpers ---- */

typedef struct buf {
    unsigned char *p;
    size_t len;
} buf;

/* Preamble for `major` + the header text as given (no padding: the parser needs none). */
static buf mk(unsigned major, const char *text, size_t tlen)
{
    const size_t pre = major == 1 ? 10 : 12;
    buf b = {malloc(pre + tlen + 1), pre + tlen};
    assert_non_null(b.p);
    memcpy(b.p, "\x93NUMPY", 6);
    b.p[6] = (unsigned char)major;
    b.p[7] = 0;
    for (size_t i = 0; i < pre - 8; i++)
        b.p[8 + i] = (unsigned char)(tlen >> (8 * i));
    memcpy(b.p + pre, text, tlen);
    return b;
}

static buf mk1(const char *text) { return mk(1, text, strlen(text)); }

static void parse_ok(buf b, npy_header *h)
{
    char err[512] = "";
    npy_status st = npy_parse_header(b.p, b.len, h, err, sizeof err);
    if (st != NPY_OK)
        print_error("unexpected %s: %s\n", npy_status_name(st), err);
    assert_int_equal(st, NPY_OK);
    assert_non_null(h->dtype);
    free(b.p);
}

/* Expect `st` and a message containing `fragment`; *out must hold nothing afterwards. */
static void parse_fails(buf b, npy_status want, const char *fragment)
{
    char err[512] = "";
    npy_header h;
    npy_status st = npy_parse_header(b.p, b.len, &h, err, sizeof err);
    if (st != want || !strstr(err, fragment))
        print_error("got %s \"%s\", expected %s with \"%s\"\n", npy_status_name(st), err,
                    npy_status_name(want), fragment);
    assert_int_equal(st, want);
    assert_non_null(strstr(err, fragment));
    assert_null(h.dtype);
    free(b.p);
}

#define GOOD_TAIL "'fortran_order': False, 'shape': (3,), }"

/* ---- valid headers ---- */

static void test_npyio__numpy_v1_header(void **state)
{
    (void)state;
    npy_header h;
    parse_ok(mk1("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"
                 "                                                     \n"),
             &h);
    assert_int_equal(h.major, 1);
    assert_string_equal(h.dtype, "<f4");
    assert_int_equal(h.itemsize, 4);
    assert_int_equal(h.ndim, 2);
    assert_int_equal(h.shape[0], 3);
    assert_int_equal(h.shape[1], 4);
    assert_false(h.fortran_order);
    assert_int_equal(h.nbytes, 48);
    npy_header_free(&h);
}

static void test_npyio__v2_and_v3_headers(void **state)
{
    (void)state;
    const char *t = "{'descr': '>i8', 'fortran_order': True, 'shape': (2, 3), }\n";
    npy_header h;
    parse_ok(mk(2, t, strlen(t)), &h);
    assert_int_equal(h.major, 2);
    assert_int_equal(h.data_offset, 12 + strlen(t));
    assert_string_equal(h.dtype, ">i8");
    assert_true(h.fortran_order);
    npy_header_free(&h);
    /* 3.0: UTF-8 text, here a field name outside latin-1 */
    const char *u = "{'descr': [('\xe6\x97\xa5\xe6\x9c\xac', '<i4')], " GOOD_TAIL;
    parse_ok(mk(3, u, strlen(u)), &h);
    assert_int_equal(h.major, 3);
    assert_string_equal(h.dtype, "[('\xe6\x97\xa5\xe6\x9c\xac', '<i4')]");
    npy_header_free(&h);
}

static void test_npyio__latin1_and_escapes(void **state)
{
    (void)state;
    npy_header h;
    /* 1.0 text is latin-1: byte 0xE9 is U+00E9, stored as UTF-8 */
    parse_ok(mk1("{'descr': [('caf\xe9', '<i4')], " GOOD_TAIL), &h);
    assert_string_equal(h.dtype, "[('caf\xc3\xa9', '<i4')]");
    npy_header_free(&h);
    /* the same name written with escapes, double quotes, u'' and implicit concatenation */
    parse_ok(mk1("{\"descr\": [(u'ca' \"f\\xe9\", '<' 'i4')], 'fortran_order': False, "
                 "'shape': (3,)}"),
             &h);
    assert_string_equal(h.dtype, "[('caf\xc3\xa9', '<i4')]");
    npy_header_free(&h);
    parse_ok(mk1("{'descr': [('\\u00e9\\U0001F600\\101', '<i4')], " GOOD_TAIL), &h);
    assert_string_equal(h.dtype, "[('\xc3\xa9\xf0\x9f\x98\x80" "A', '<i4')]");
    npy_header_free(&h);
}

static void test_npyio__python2_and_layout_variants(void **state)
{
    (void)state;
    npy_header h;
    /* Python 2 longs (numpy strips the L for 1.0/2.0), no trailing comma, newlines */
    parse_ok(mk1("{'descr': '<i8',\n 'fortran_order': True,\n 'shape': (2L, 3L)}\n"), &h);
    assert_int_equal(h.shape[0], 2);
    assert_int_equal(h.shape[1], 3);
    npy_header_free(&h);
    /* 0-d, any key order, "(3)" is the int 3 inside a tuple */
    parse_ok(mk1("{'shape': (), 'descr': '<f8', 'fortran_order': False}"), &h);
    assert_int_equal(h.ndim, 0);
    assert_int_equal(h.nbytes, 8);
    npy_header_free(&h);
    parse_ok(mk1("{'descr': '|b1', 'fortran_order': False, 'shape': ((3), 00, ), }"), &h);
    assert_int_equal(h.ndim, 2);
    assert_int_equal(h.shape[0], 3);
    assert_int_equal(h.nbytes, 0);
    npy_header_free(&h);
}

static void test_npyio__structured_descr(void **state)
{
    (void)state;
    npy_header h;
    parse_ok(mk1("{'descr': [('when', '<M8[ns]'), ('val', '<f8'), ('code', '|S6'), ('', '|V2'), "
                 "('sub', [('x', '<i2'), ('y', '|u1', (2, 3))], (2,))], " GOOD_TAIL),
             &h);
    assert_string_equal(h.dtype, "[('when', '<M8[ns]'), ('val', '<f8'), ('code', '|S6'), "
                                 "('', '|V2'), ('sub', [('x', '<i2'), ('y', '|u1', (2, 3))], "
                                 "(2,))]");
    assert_int_equal(h.itemsize, 8 + 8 + 6 + 2 + 2 * (2 + 6));
    npy_header_free(&h);
    /* an int subarray shape, an empty one, and a nested (format, shape) tuple: dims are
     * outer first, as numpy builds them */
    parse_ok(mk1("{'descr': [('a', '<f4', 3), ('b', '<f4', ()), ('c', ('<i2', (2,)), (4,))], "
                 GOOD_TAIL),
             &h);
    assert_string_equal(h.dtype, "[('a', '<f4', (3,)), ('b', '<f4'), ('c', '<i2', (4, 2))]");
    npy_header_free(&h);
    /* lenient spellings canonicalise */
    parse_ok(mk1("{'descr': '=u2', " GOOD_TAIL), &h);
    assert_string_equal(h.dtype, "<u2");
    npy_header_free(&h);
    parse_ok(mk1("{'descr': '>U5', " GOOD_TAIL), &h);
    assert_string_equal(h.dtype, ">U5");
    assert_int_equal(h.itemsize, 20);
    npy_header_free(&h);
}

static void test_npyio__dict_and_tuple_descr(void **state)
{
    (void)state;
    npy_header h;
    /* an aligned struct given with explicit offsets: gaps become padding fields */
    parse_ok(mk1("{'descr': {'names': ['a', 'b'], 'formats': ['|u1', '<f8'], "
                 "'offsets': [0, 8], 'itemsize': 24, 'titles': [None, None], 'aligned': True}, "
                 GOOD_TAIL),
             &h);
    assert_string_equal(h.dtype, "[('a', '|u1'), ('', '|V7'), ('b', '<f8'), ('', '|V8')]");
    assert_int_equal(h.itemsize, 24);
    npy_header_free(&h);
    parse_ok(mk1("{'descr': {'names': ('x',), 'formats': [[('y', '<i4')]]}, " GOOD_TAIL), &h);
    assert_string_equal(h.dtype, "[('x', [('y', '<i4')])]");
    npy_header_free(&h);
    /* a top-level subarray dtype extends the shape (C order) */
    parse_ok(mk1("{'descr': ('<f4', (2,)), " GOOD_TAIL), &h);
    assert_string_equal(h.dtype, "<f4");
    assert_int_equal(h.ndim, 2);
    assert_int_equal(h.shape[1], 2);
    assert_int_equal(h.nbytes, 24);
    npy_header_free(&h);
}

/* ---- malformed and hostile headers: one specific failure each ---- */

typedef struct bad_case {
    const char *what;
    unsigned major; /* 0: raw bytes in text/len */
    const char *text;
    size_t len;     /* 0: strlen(text) */
    npy_status want;
    const char *fragment;
} bad_case;

#define T(s) 1, s, 0
#define T3(s) 3, s, 0
#define RAW(s) 0, s, sizeof(s) - 1
#define NUL_TEXT "{'descr': '<f4'\0, " GOOD_TAIL

static const bad_case bad_cases[] = {
    {"empty input", RAW(""), NPY_E_TRUNCATED, "too short"},
    {"truncated magic", RAW("\x93NUM"), NPY_E_TRUNCATED, "too short"},
    {"wrong magic", RAW("\x93NUMPZ\x01\x00\x10\x00{}"), NPY_E_MAGIC, "magic"},
    {"text file", RAW("hello world, not numpy"), NPY_E_MAGIC, "magic"},
    {"version 4.0", RAW("\x93NUMPY\x04\x00\x10\x00{}"), NPY_E_VERSION, "4.0"},
    {"version 1.1", RAW("\x93NUMPY\x01\x01\x10\x00{}"), NPY_E_VERSION, "1.1"},
    {"version 0.0", RAW("\x93NUMPY\x00\x00\x10\x00{}"), NPY_E_VERSION, "0.0"},
    {"1.0 preamble cut", RAW("\x93NUMPY\x01\x00\x10"), NPY_E_TRUNCATED, "preamble"},
    {"2.0 preamble cut", RAW("\x93NUMPY\x02\x00\x10\x00\x00"), NPY_E_TRUNCATED, "2.0 preamble"},
    {"header length past the end", RAW("\x93NUMPY\x01\x00\xc8\x00{'descr': '<f4'"),
     NPY_E_TRUNCATED, "runs past the end"},
    {"header length 0", RAW("\x93NUMPY\x01\x00\x00\x00{}"), NPY_E_HEADER_SIZE, "is 0"},
    {"header length 4 GiB", RAW("\x93NUMPY\x02\x00\xff\xff\xff\xff{}"), NPY_E_HEADER_SIZE,
     "limit"},
    {"unterminated string", T("{'descr': '<f4, 'fortran_order': False, 'shape': (3,)}"),
     NPY_E_SYNTAX, "expected ',' or '}'"},
    {"string runs to the end", T("{'descr': '<f4"), NPY_E_SYNTAX, "unterminated string"},
    {"line break in a string", T("{'descr': '<f\n4', " GOOD_TAIL), NPY_E_SYNTAX, "line break"},
    {"unterminated dict", T("{'descr': '<f4', 'fortran_order': False"), NPY_E_SYNTAX,
     "unexpected end"},
    {"mismatched bracket", T("{'descr': '<f4', 'fortran_order': False, 'shape': (3,]}"),
     NPY_E_SYNTAX, "unexpected character ']'"},
    {"text after the dict", T("{'descr': '<f4', " GOOD_TAIL " x"), NPY_E_SYNTAX, "after"},
    {"missing comma", T("{'descr': '<f4' 'fortran_order': False, 'shape': (3,)}"),
     NPY_E_SYNTAX, "expected ',' or '}'"},
    {"call expression", T("{'descr': dtype('<f4'), " GOOD_TAIL), NPY_E_SYNTAX,
     "unexpected name"},
    {"float literal", T("{'descr': '<f4', 'fortran_order': False, 'shape': (3.0,)}"),
     NPY_E_SYNTAX, "malformed number"},
    {"hex literal", T("{'descr': '<f4', 'fortran_order': False, 'shape': (0x10,)}"),
     NPY_E_SYNTAX, "malformed number"},
    {"leading zeros", T("{'descr': '<f4', 'fortran_order': False, 'shape': (007,)}"),
     NPY_E_SYNTAX, "leading zeros"},
    {"unknown escape", T("{'descr': '<f\\q4', " GOOD_TAIL), NPY_E_SYNTAX, "escape"},
    {"short \\x escape", T("{'descr': '<f\\x4', " GOOD_TAIL), NPY_E_SYNTAX, "hex digits"},
    {"surrogate escape", T("{'descr': [('\\ud800', '<f4')], " GOOD_TAIL), NPY_E_SYNTAX,
     "scalar value"},
    {"NUL escape", T("{'descr': [('a\\x00', '<f4')], " GOOD_TAIL), NPY_E_SYNTAX, "NUL"},
    {"NUL byte", 1, NUL_TEXT, sizeof(NUL_TEXT) - 1, NPY_E_SYNTAX, "NUL byte"},
    {"triple quotes", T("{'descr': '''<f4''', " GOOD_TAIL), NPY_E_SYNTAX, "triple"},
    {"long suffix in 3.0", T3("{'descr': '<f4', 'fortran_order': False, 'shape': (3L,)}"),
     NPY_E_SYNTAX, "malformed number"},
    {"invalid UTF-8 in 3.0", T3("{'descr': [('\xff', '<f4')], " GOOD_TAIL), NPY_E_ENCODING,
     "UTF-8"},
    {"overlong UTF-8 in 3.0", T3("{'descr': [('\xc0\xaf', '<f4')], " GOOD_TAIL),
     NPY_E_ENCODING, "UTF-8"},
    {"not a dict", T("[('descr', '<f4')]"), NPY_E_NOT_DICT, "not a dict"},
    {"missing shape", T("{'descr': '<f4', 'fortran_order': False}"), NPY_E_KEYS,
     "no 'shape'"},
    {"duplicate key", T("{'descr': '<f4', 'descr': '<f8', " GOOD_TAIL), NPY_E_KEYS,
     "duplicate key 'descr'"},
    {"unknown key", T("{'descr': '<f4', 'extra': 1, " GOOD_TAIL), NPY_E_KEYS,
     "unknown key 'extra'"},
    {"non-string key", T("{1: '<f4', " GOOD_TAIL), NPY_E_KEYS, "strings"},
    {"fortran_order 0", T("{'descr': '<f4', 'fortran_order': 0, 'shape': (3,)}"),
     NPY_E_FORTRAN, "True or False"},
    {"fortran_order string", T("{'descr': '<f4', 'fortran_order': 'False', 'shape': (3,)}"),
     NPY_E_FORTRAN, "True or False"},
    {"shape list", T("{'descr': '<f4', 'fortran_order': False, 'shape': [3]}"), NPY_E_SHAPE,
     "tuple"},
    {"shape int", T("{'descr': '<f4', 'fortran_order': False, 'shape': 3}"), NPY_E_SHAPE,
     "tuple"},
    {"negative dimension", T("{'descr': '<f4', 'fortran_order': False, 'shape': (3, -1)}"),
     NPY_E_SHAPE, "dimension 1 is negative"},
    {"bool dimension", T("{'descr': '<f4', 'fortran_order': False, 'shape': (True,)}"),
     NPY_E_SHAPE, "bool"},
    {"huge dimension",
     T("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}"),
     NPY_E_OVERFLOW, "too large"},
    {"shape x itemsize overflow",
     T("{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 1099511627776)}"),
     NPY_E_OVERFLOW, "overflows"},
    {"object dtype", T("{'descr': '|O', " GOOD_TAIL), NPY_E_OBJECT, "never unpickled"},
    {"object field", T("{'descr': [('a', '<f4'), ('b', '|O8')], " GOOD_TAIL), NPY_E_OBJECT,
     "object dtype"},
    {"object in a dict descr",
     T("{'descr': {'names': ['a'], 'formats': ['O']}, " GOOD_TAIL), NPY_E_OBJECT, "object"},
    {"unknown type code", T("{'descr': '<f3', " GOOD_TAIL), NPY_E_DTYPE, "unsupported dtype"},
    {"long double", T("{'descr': '<f16', " GOOD_TAIL), NPY_E_DTYPE, "long double"},
    {"name injection", T("{'descr': [(\"a', '<f8'), ('b\", '<f4')], " GOOD_TAIL), NPY_E_DTYPE,
     "cannot be stored"},
    {"dtype injection", T("{'descr': [('a', \"<f4'), ('b', '<f8\")], " GOOD_TAIL),
     NPY_E_DTYPE, "not a valid numpy type string"},
    {"field titles", T("{'descr': [(('title', 'a'), '<f4')], " GOOD_TAIL), NPY_E_DTYPE,
     "titles"},
    {"junk field", T("{'descr': [('a', '<f4'), 5], " GOOD_TAIL), NPY_E_DTYPE, "field 1"},
    {"empty struct", T("{'descr': [], " GOOD_TAIL), NPY_E_DTYPE, "at least one field"},
    {"descr int", T("{'descr': 4, " GOOD_TAIL), NPY_E_DTYPE, "found int"},
    {"negative subarray", T("{'descr': [('a', '<f4', (-2,))], " GOOD_TAIL), NPY_E_DTYPE,
     "non-negative"},
    {"dict descr overlap",
     T("{'descr': {'names': ['a', 'b'], 'formats': ['<f8', '<f8'], 'offsets': [0, 4]}, "
       GOOD_TAIL),
     NPY_E_DTYPE, "without overlap"},
    {"dict descr small itemsize",
     T("{'descr': {'names': ['a'], 'formats': ['<f8'], 'itemsize': 4}, " GOOD_TAIL),
     NPY_E_DTYPE, "smaller"},
    {"aligned without offsets",
     T("{'descr': {'names': ['a'], 'formats': ['<f8'], 'aligned': True}, " GOOD_TAIL),
     NPY_E_DTYPE, "aligned"},
    {"subarray descr in Fortran order",
     T("{'descr': ('<f4', (2,)), 'fortran_order': True, 'shape': (3, 2)}"), NPY_E_DTYPE,
     "fortran_order"},
};

static void test_npyio__rejects_malformed_headers(void **state)
{
    (void)state;
    const size_t n = sizeof bad_cases / sizeof bad_cases[0];
    assert_true(n >= 25);
    for (size_t i = 0; i < n; i++) {
        const bad_case *c = &bad_cases[i];
        const size_t len = c->len ? c->len : strlen(c->text);
        buf b;
        if (c->major) {
            b = mk(c->major, c->text, len);
        } else {
            b.p = malloc(len + 1);
            assert_non_null(b.p);
            memcpy(b.p, c->text, len);
            b.len = len;
        }
        print_message("  %s\n", c->what);
        parse_fails(b, c->want, c->fragment);
    }
}

static void test_npyio__rejects_deep_nesting_and_value_floods(void **state)
{
    (void)state;
    /* 100 nested lists: over NPY_MAX_DEPTH */
    char deep[400];
    size_t k = (size_t)snprintf(deep, sizeof deep, "{'descr': ");
    for (int i = 0; i < 100; i++)
        deep[k++] = '[';
    deep[k] = '\0';
    parse_fails(mk1(deep), NPY_E_LIMIT, "nested");
    /* more values than NPY_MAX_VALUES (a 2.0 header, to hold them) */
    const size_t count = NPY_MAX_VALUES + 10;
    char *t = malloc(count * 2 + 64);
    assert_non_null(t);
    size_t at = (size_t)sprintf(t, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (size_t i = 0; i < count; i++) {
        t[at++] = '0';
        t[at++] = ',';
    }
    at += (size_t)sprintf(t + at, ")}");
    parse_fails(mk(2, t, at), NPY_E_LIMIT, "values");
    free(t);
    /* 65 dimensions */
    char dims[512];
    at = (size_t)sprintf(dims, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < 65; i++)
        at += (size_t)sprintf(dims + at, "1, ");
    sprintf(dims + at, ")}");
    parse_fails(mk1(dims), NPY_E_SHAPE, "65 dimensions");
}

/* Every truncation and many single-byte mutations of a valid structured header: never a
 * crash or leak (ASan/valgrind watch), and a success always describes a consistent array. */
static void test_npyio__survives_truncation_and_mutation(void **state)
{
    (void)state;
    static const char text[] =
        "{'descr': [('a', '<M8[ns]'), ('b', [('c', '|S6'), ('d', '<f4', (2, 3))]), "
        "('', '|V2')], 'fortran_order': True, 'shape': (2L, 3), }\n";
    buf good = mk(1, text, sizeof text - 1);
    static const unsigned char values[] = {0, 1, ' ', '\'', '"', '(', ')', '[', ']', '{', '}',
                                           ',', ':', '\\', '-', '9', 'L', 'O', 0x7F, 0x80, 0xFF};
    npy_header h;
    char err[512];
    size_t ok = 0;
    for (size_t len = 0; len < good.len; len++)
        assert_int_not_equal(npy_parse_header(good.p, len, &h, err, sizeof err), NPY_OK);
    for (size_t pos = 0; pos < good.len; pos++) {
        for (size_t v = 0; v < sizeof values; v++) {
            unsigned char *m = malloc(good.len);
            assert_non_null(m);
            memcpy(m, good.p, good.len);
            m[pos] = values[v];
            npy_status st = npy_parse_header(m, good.len, &h, err, sizeof err);
            if (st == NPY_OK) {
                ok++;
                assert_non_null(h.dtype);
                assert_true(h.ndim <= NPY_MAX_DIMS);
                assert_true(h.itemsize > 0);
                assert_true(h.nbytes <= (uint64_t)INT64_MAX);
                npy_header_free(&h);
            } else {
                assert_null(h.dtype);
                assert_true(err[0] != '\0');
            }
            free(m);
        }
    }
    assert_true(ok > 0); /* e.g. spaces in place of spaces */
    free(good.p);
}

/* ---- reading from a stream, data size ---- */

typedef struct trickle {
    const unsigned char *p;
    size_t len, at;
    bool fail;
} trickle;

/* One byte per call: npy_read_header must assemble short reads. */
static ptrdiff_t trickle_read(void *ctx, void *dst, size_t n, char *err, size_t errlen)
{
    trickle *t = ctx;
    if (t->fail) {
        snprintf(err, errlen, "device on fire");
        return -1;
    }
    if (!n || t->at == t->len)
        return 0;
    *(unsigned char *)dst = t->p[t->at++];
    return 1;
}

static void test_npyio__reads_header_from_stream(void **state)
{
    (void)state;
    const char *text = "{'descr': '<i2', 'fortran_order': False, 'shape': (5,), }\n";
    buf b = mk(2, text, strlen(text));
    trickle t = {b.p, b.len, 0, false};
    npy_header h;
    char err[256];
    assert_int_equal(npy_read_header(trickle_read, &t, &h, err, sizeof err), NPY_OK);
    assert_int_equal(t.at, h.data_offset); /* consumed exactly the header */
    assert_int_equal(h.nbytes, 10);
    uint64_t trailing = 99;
    assert_int_equal(npy_check_data_size(&h, 10, &trailing, err, sizeof err), NPY_OK);
    assert_int_equal(trailing, 0);
    assert_int_equal(npy_check_data_size(&h, 14, &trailing, err, sizeof err), NPY_OK);
    assert_int_equal(trailing, 4);
    assert_int_equal(npy_check_data_size(&h, 9, NULL, err, sizeof err), NPY_E_DATA_SIZE);
    assert_non_null(strstr(err, "only 9"));
    npy_header_free(&h);

    t = (trickle){b.p, b.len - 5, 0, false};
    assert_int_equal(npy_read_header(trickle_read, &t, &h, err, sizeof err), NPY_E_TRUNCATED);
    assert_null(h.dtype);
    t = (trickle){b.p, b.len, 0, true};
    assert_int_equal(npy_read_header(trickle_read, &t, &h, err, sizeof err), NPY_E_IO);
    assert_non_null(strstr(err, "device on fire"));
    free(b.p);
}

/* ---- writing ---- */

/* numpy's bytes: preamble, the dict text, spaces up to total - 1, '\n'. */
static void expect_numpy_bytes(const unsigned char *got, size_t len, unsigned major,
                               const char *dict, size_t total)
{
    assert_int_equal(len, total);
    assert_memory_equal(got, "\x93NUMPY", 6);
    assert_int_equal(got[6], major);
    const size_t pre = major == 1 ? 10 : 12;
    const size_t field = (size_t)got[8] | (size_t)got[9] << 8 |
                         (pre == 12 ? (size_t)got[10] << 16 | (size_t)got[11] << 24 : 0);
    assert_int_equal(field, total - pre);
    assert_memory_equal(got + pre, dict, strlen(dict));
    for (size_t i = pre + strlen(dict); i < total - 1; i++)
        assert_int_equal(got[i], ' ');
    assert_int_equal(got[total - 1], '\n');
}

static unsigned char *format_ok(const char *descr, unsigned ndim, const uint64_t *shape,
                                bool fortran, size_t *len)
{
    unsigned char *out;
    char err[256];
    npy_status st = npy_format_header(descr, ndim, shape, fortran, &out, len, err, sizeof err);
    if (st != NPY_OK)
        print_error("npy_format_header: %s\n", err);
    assert_int_equal(st, NPY_OK);
    assert_int_equal(*len % 64, 0);
    return out;
}

static void test_npyio__writes_numpy_bytes(void **state)
{
    (void)state;
    size_t len;
    const uint64_t s34[] = {3, 4}, s23[] = {2, 3}, s5[] = {5};
    unsigned char *h = format_ok("<f4", 2, s34, false, &len);
    expect_numpy_bytes(h, len, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }",
                       128);
    free(h);
    h = format_ok(">i8", 2, s23, true, &len);
    expect_numpy_bytes(h, len, 1, "{'descr': '>i8', 'fortran_order': True, 'shape': (2, 3), }",
                       128);
    free(h);
    h = format_ok("<f8", 0, NULL, false, &len);
    expect_numpy_bytes(h, len, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
                       128);
    free(h);
    /* latin-1 stays 1.0 (one byte per character), beyond latin-1 needs 3.0 (UTF-8) */
    h = format_ok("[('caf\xc3\xa9', '<i4')]", 1, s5, false, &len);
    expect_numpy_bytes(h, len, 1,
                       "{'descr': [('caf\xe9', '<i4')], 'fortran_order': False, 'shape': (5,), }",
                       128);
    free(h);
    const uint64_t s2[] = {2};
    h = format_ok("[('\xe6\x97\xa5\xe6\x9c\xac', '<i4')]", 1, s2, false, &len);
    expect_numpy_bytes(h, len, 3,
                       "{'descr': [('\xe6\x97\xa5\xe6\x9c\xac', '<i4')], 'fortran_order': False, "
                       "'shape': (2,), }",
                       128);
    free(h);
}

static void test_npyio__large_header_uses_v2_and_round_trips(void **state)
{
    (void)state;
    /* 5000 fields make a header over 64 KiB */
    char *d = malloc(5000 * 24 + 8);
    assert_non_null(d);
    size_t at = 0;
    d[at++] = '[';
    for (int i = 0; i < 5000; i++)
        at += (size_t)sprintf(d + at, "%s('f%05d', '<f8')", i ? ", " : "", i);
    d[at++] = ']';
    d[at] = '\0';
    const uint64_t shape[] = {7, 0};
    size_t len;
    unsigned char *h = format_ok(d, 2, shape, true, &len);
    assert_int_equal(h[6], 2);
    assert_true(len > 65536);
    npy_header back;
    char err[256];
    assert_int_equal(npy_parse_header(h, len, &back, err, sizeof err), NPY_OK);
    assert_string_equal(back.dtype, d);
    assert_int_equal(back.itemsize, 5000 * 8);
    assert_int_equal(back.ndim, 2);
    assert_int_equal(back.shape[0], 7);
    assert_int_equal(back.shape[1], 0);
    assert_true(back.fortran_order);
    assert_int_equal(back.data_offset, len);
    npy_header_free(&back);
    free(h);
    free(d);
}

static mmarr_dtype *dtype_ok(const char *text)
{
    mmarr_dtype *dt;
    mmarr_error e;
    assert_int_equal(mmarr_dtype_parse(text, &dt, &e), MMARR_OK);
    return dt;
}

static void test_npyio__descr_from_dtype(void **state)
{
    (void)state;
    static const char *const same[] = {
        "<f4", ">i8", "|b1", "|S6", "<U3", "<M8[10ms]", "<m8", "|V4", "<c16",
        "[('when', '<M8[ns]'), ('val', '<f8'), ('code', '|S6')]",
        "[('a', [('b', '<i2', (2, 3))], (4,)), ('', '|V3')]"};
    char err[256];
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        mmarr_dtype *dt = dtype_ok(same[i]);
        char *descr;
        assert_int_equal(npy_descr_from_dtype(dt, false, &descr, err, sizeof err), NPY_OK);
        assert_string_equal(descr, mmarr_dtype_str(dt));
        free(descr);
        mmarr_dtype_free(dt);
    }
    /* what numpy cannot name: an error, or opaque bytes of the same size on request */
    mmarr_dtype *dt = dtype_ok("bfloat16");
    char *descr = (char *)"untouched";
    assert_int_equal(npy_descr_from_dtype(dt, false, &descr, err, sizeof err), NPY_E_DTYPE);
    assert_null(descr);
    assert_non_null(strstr(err, "bfloat16"));
    assert_non_null(strstr(err, "--as-void"));
    assert_int_equal(npy_descr_from_dtype(dt, true, &descr, err, sizeof err), NPY_OK);
    assert_string_equal(descr, "|V2");
    free(descr);
    mmarr_dtype_free(dt);
    dt = dtype_ok("[('w', 'float8_e4m3fn', (4,)), ('x', '<f4')]");
    assert_int_equal(npy_descr_from_dtype(dt, false, &descr, err, sizeof err), NPY_E_DTYPE);
    assert_int_equal(npy_descr_from_dtype(dt, true, &descr, err, sizeof err), NPY_OK);
    assert_string_equal(descr, "[('w', '|V1', (4,)), ('x', '<f4')]");
    free(descr);
    mmarr_dtype_free(dt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npyio__numpy_v1_header),
        cmocka_unit_test(test_npyio__v2_and_v3_headers),
        cmocka_unit_test(test_npyio__latin1_and_escapes),
        cmocka_unit_test(test_npyio__python2_and_layout_variants),
        cmocka_unit_test(test_npyio__structured_descr),
        cmocka_unit_test(test_npyio__dict_and_tuple_descr),
        cmocka_unit_test(test_npyio__rejects_malformed_headers),
        cmocka_unit_test(test_npyio__rejects_deep_nesting_and_value_floods),
        cmocka_unit_test(test_npyio__survives_truncation_and_mutation),
        cmocka_unit_test(test_npyio__reads_header_from_stream),
        cmocka_unit_test(test_npyio__writes_numpy_bytes),
        cmocka_unit_test(test_npyio__large_header_uses_v2_and_round_trips),
        cmocka_unit_test(test_npyio__descr_from_dtype),
    };
    return cmocka_run_group_tests_name("npyio", tests, NULL, NULL);
}
