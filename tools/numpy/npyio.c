/* SPDX-License-Identifier: MIT */
/*
 * npyio.c — .npy headers: a strict parser for untrusted input and a writer that matches
 * numpy's np.save byte for byte (see npyio.h).
 *
 * Parsing is two steps. First the header text is read as a Python literal into a small tree
 * (dict, list, tuple, str, int, bool, None), with every length, count and depth bounded.
 * Then the tree is checked against what numpy requires (exactly the keys descr, fortran_order
 * and shape; a bool; a tuple of ints) and `descr` is translated into dtype text that
 * mmarr_dtype_parse() turns into the canonical form of spec.md §8.
 */
#include "npyio.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- messages ---- */

static npy_status failv(char *err, size_t errlen, npy_status st, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static npy_status failv(char *err, size_t errlen, npy_status st, const char *fmt, va_list ap)
{
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    return st;
}

static npy_status fail(char *err, size_t errlen, npy_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static npy_status fail(char *err, size_t errlen, npy_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    failv(err, errlen, st, fmt, ap);
    va_end(ap);
    return st;
}

const char *npy_status_name(npy_status st)
{
    static const char *const names[] = {
        "NPY_OK",        "NPY_E_TRUNCATED", "NPY_E_MAGIC",       "NPY_E_VERSION",
        "NPY_E_HEADER_SIZE", "NPY_E_ENCODING", "NPY_E_SYNTAX",   "NPY_E_LIMIT",
        "NPY_E_NOT_DICT", "NPY_E_KEYS",     "NPY_E_FORTRAN",     "NPY_E_SHAPE",
        "NPY_E_OVERFLOW", "NPY_E_OBJECT",   "NPY_E_DTYPE",       "NPY_E_NOMEM",
        "NPY_E_IO",      "NPY_E_DATA_SIZE"};
    if ((unsigned)st < sizeof names / sizeof names[0])
        return names[st];
    return "NPY_E_UNKNOWN";
}

/* ---- growable string ---- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const void *s, size_t n)
{
    if (b->oom)
        return;
    if (n > SIZE_MAX / 2 - b->len) {
        b->oom = true;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}
static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }
static void sb_putc(sbuf *b, char c) { sb_put(b, &c, 1); }
static void sb_putu(sbuf *b, uint64_t v)
{
    char tmp[24];
    int k = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    sb_put(b, tmp, (size_t)k);
}

/* Append code point cp (already checked to be a scalar value) as UTF-8. */
static void sb_put_cp(sbuf *b, uint32_t cp)
{
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | (cp >> 18));
        u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    sb_put(b, u, n);
}

/*
 * Decode one UTF-8 sequence at s[0..n): strict (no overlong forms, no surrogates, at most
 * U+10FFFF). Returns its length, or 0 if invalid.
 */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0)
        return 0;
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1Fu, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0Fu, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/* ---- the Python literal tree ---- */

typedef enum pv_kind { PV_DICT, PV_LIST, PV_TUPLE, PV_STR, PV_INT, PV_BOOL, PV_NONE } pv_kind;

typedef struct pyval {
    pv_kind kind;
    size_t pos;             /* file offset of the value, for messages */
    bool neg, b;            /* PV_INT sign, PV_BOOL value */
    uint64_t mag;           /* PV_INT magnitude */
    char *str;              /* PV_STR: UTF-8, NUL-terminated, no NUL inside */
    size_t slen;
    struct pyval **items;   /* containers; a dict alternates key, value */
    size_t n, cap;
} pyval;

static const char *const pv_names[] = {"dict", "list", "tuple", "str", "int", "bool", "None"};

static void pv_free(pyval *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++)
        pv_free(v->items[i]);
    free(v->items);
    free(v->str);
    free(v);
}

typedef struct lit {
    const unsigned char *s; /* header text */
    size_t n, pos;
    size_t base;            /* file offset of s[0] */
    bool latin1;            /* 1.0/2.0: bytes are latin-1; 3.0: UTF-8 */
    bool py2_long;          /* 1.0/2.0: accept Python 2 long literals "3L" (numpy does too) */
    unsigned depth;
    size_t values;
    npy_status st;
    char *err;
    size_t errlen;
} lit;

static void *lit_fail(lit *L, npy_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void *lit_fail(lit *L, npy_status st, const char *fmt, ...)
{
    if (L->st != NPY_OK)
        return NULL; /* keep the first (innermost) message */
    L->st = st;
    if (L->err && L->errlen) {
        int k = snprintf(L->err, L->errlen, "NPY header byte %zu: ", L->base + L->pos);
        if (k > 0 && (size_t)k < L->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(L->err + k, L->errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return NULL;
}

static pyval *pv_new(lit *L, pv_kind kind)
{
    if (++L->values > NPY_MAX_VALUES)
        return lit_fail(L, NPY_E_LIMIT, "more than %u values in the header", NPY_MAX_VALUES);
    pyval *v = calloc(1, sizeof *v);
    if (!v)
        return lit_fail(L, NPY_E_NOMEM, "out of memory");
    v->kind = kind;
    v->pos = L->base + L->pos;
    return v;
}

static bool pv_push(lit *L, pyval *parent, pyval *child)
{
    if (parent->n == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 4;
        pyval **items = realloc(parent->items, cap * sizeof *items);
        if (!items) {
            pv_free(child);
            lit_fail(L, NPY_E_NOMEM, "out of memory");
            return false;
        }
        parent->items = items;
        parent->cap = cap;
    }
    parent->items[parent->n++] = child;
    return true;
}

/* Whitespace between tokens. Newlines are fine: numpy's header is one expression. */
static void lit_ws(lit *L)
{
    while (L->pos < L->n) {
        unsigned char c = L->s[L->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f')
            break;
        L->pos++;
    }
}

static bool is_ident_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c >= 0x80;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A backslash escape at L->pos (the backslash); Python's rules for str literals. */
static bool lit_escape(lit *L, sbuf *out)
{
    if (L->pos + 1 >= L->n)
        return lit_fail(L, NPY_E_SYNTAX, "unterminated string (ends in a backslash)") != NULL;
    unsigned char e = L->s[L->pos + 1];
    L->pos += 2;
    uint32_t cp;
    switch (e) {
    case '\n':
        return true; /* line continuation */
    case '\r':
        if (L->pos < L->n && L->s[L->pos] == '\n')
            L->pos++;
        return true;
    case '\\': cp = '\\'; break;
    case '\'': cp = '\''; break;
    case '"': cp = '"'; break;
    case 'a': cp = 7; break;
    case 'b': cp = 8; break;
    case 'f': cp = 12; break;
    case 'n': cp = 10; break;
    case 'r': cp = 13; break;
    case 't': cp = 9; break;
    case 'v': cp = 11; break;
    case 'x':
    case 'u':
    case 'U': {
        const int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        cp = 0;
        for (int i = 0; i < digits; i++) {
            int h = L->pos < L->n ? hexval(L->s[L->pos]) : -1;
            if (h < 0)
                return lit_fail(L, NPY_E_SYNTAX, "\\%c escape needs %d hex digits", e,
                                digits) != NULL;
            if (cp > 0x10FFFF)
                break; /* reported below; keep cp from overflowing */
            cp = cp * 16 + (uint32_t)h;
            L->pos++;
        }
        break;
    }
    default:
        if (e >= '0' && e <= '7') {
            cp = (uint32_t)(e - '0');
            for (int i = 0; i < 2 && L->pos < L->n && L->s[L->pos] >= '0' && L->s[L->pos] <= '7';
                 i++)
                cp = cp * 8 + (uint32_t)(L->s[L->pos++] - '0');
            break;
        }
        L->pos -= 1;
        return lit_fail(L, NPY_E_SYNTAX, "unsupported escape sequence in a string") != NULL;
    }
    if (cp == 0)
        return lit_fail(L, NPY_E_SYNTAX, "NUL character in a string") != NULL;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return lit_fail(L, NPY_E_SYNTAX, "escape is not a Unicode scalar value") != NULL;
    sb_put_cp(out, cp);
    return true;
}

/* One quoted piece (L->pos at the quote), appended to out as UTF-8. */
static bool lit_string_piece(lit *L, sbuf *out)
{
    const unsigned char q = L->s[L->pos];
    if (L->pos + 2 < L->n && L->s[L->pos + 1] == q && L->s[L->pos + 2] == q)
        return lit_fail(L, NPY_E_SYNTAX, "triple-quoted strings are not supported") != NULL;
    L->pos++;
    for (;;) {
        if (L->pos >= L->n)
            return lit_fail(L, NPY_E_SYNTAX, "unterminated string") != NULL;
        const unsigned char c = L->s[L->pos];
        if (c == q) {
            L->pos++;
            return true;
        }
        if (c == '\n' || c == '\r')
            return lit_fail(L, NPY_E_SYNTAX, "line break inside a string") != NULL;
        if (c == '\\') {
            if (!lit_escape(L, out))
                return false;
        } else if (c < 0x80) {
            sb_putc(out, (char)c);
            L->pos++;
        } else if (L->latin1) {
            sb_put_cp(out, c);
            L->pos++;
        } else {
            uint32_t cp;
            size_t k = utf8_decode(L->s + L->pos, L->n - L->pos, &cp);
            if (!k) /* the whole header was validated, so this is unreachable */
                return lit_fail(L, NPY_E_ENCODING, "invalid UTF-8") != NULL;
            sb_put(out, L->s + L->pos, k);
            L->pos += k;
        }
    }
}

/* A string literal, with Python's implicit concatenation of adjacent literals ('a' 'b'). */
static pyval *lit_string(lit *L)
{
    pyval *v = pv_new(L, PV_STR);
    if (!v)
        return NULL;
    sbuf b = {0};
    sb_puts(&b, ""); /* never NULL, even for '' */
    for (;;) {
        if (L->s[L->pos] == 'u' || L->s[L->pos] == 'U')
            L->pos++; /* u'' prefix (Python 2 era headers): same meaning */
        if (!lit_string_piece(L, &b))
            goto fail;
        size_t save = L->pos;
        lit_ws(L);
        if (L->pos < L->n && (L->s[L->pos] == '\'' || L->s[L->pos] == '"'))
            continue;
        if (L->pos + 1 < L->n && (L->s[L->pos] == 'u' || L->s[L->pos] == 'U') &&
            (L->s[L->pos + 1] == '\'' || L->s[L->pos + 1] == '"'))
            continue;
        L->pos = save;
        break;
    }
    if (b.oom) {
        lit_fail(L, NPY_E_NOMEM, "out of memory");
        goto fail;
    }
    v->str = b.p;
    v->slen = b.len;
    return v;
fail:
    free(b.p);
    pv_free(v);
    return NULL;
}

static pyval *lit_int(lit *L)
{
    pyval *v = pv_new(L, PV_INT);
    if (!v)
        return NULL;
    if (L->s[L->pos] == '-' || L->s[L->pos] == '+') {
        v->neg = L->s[L->pos] == '-';
        L->pos++;
        while (L->pos < L->n && (L->s[L->pos] == ' ' || L->s[L->pos] == '\t'))
            L->pos++;
    }
    if (L->pos >= L->n || L->s[L->pos] < '0' || L->s[L->pos] > '9') {
        pv_free(v);
        return lit_fail(L, NPY_E_SYNTAX, "expected digits");
    }
    uint64_t m = 0;
    if (L->s[L->pos] == '0') {
        while (L->pos < L->n && L->s[L->pos] == '0')
            L->pos++;
        if (L->pos < L->n && L->s[L->pos] >= '1' && L->s[L->pos] <= '9') {
            pv_free(v);
            return lit_fail(L, NPY_E_SYNTAX, "integer with leading zeros");
        }
    } else {
        while (L->pos < L->n && L->s[L->pos] >= '0' && L->s[L->pos] <= '9') {
            const uint64_t d = (uint64_t)(L->s[L->pos] - '0');
            if (m > (UINT64_MAX - d) / 10) {
                pv_free(v);
                return lit_fail(L, NPY_E_OVERFLOW, "integer literal too large");
            }
            m = m * 10 + d;
            L->pos++;
        }
    }
    if (L->py2_long && L->pos < L->n && (L->s[L->pos] == 'L' || L->s[L->pos] == 'l'))
        L->pos++;
    if (L->pos < L->n && (is_ident_char(L->s[L->pos]) || L->s[L->pos] == '.')) {
        pv_free(v);
        return lit_fail(L, NPY_E_SYNTAX, "malformed number (only decimal integers are allowed)");
    }
    v->mag = m;
    v->neg = v->neg && m != 0;
    return v;
}

static pyval *lit_keyword(lit *L)
{
    static const struct {
        const char *word;
        pv_kind kind;
        bool b;
    } kw[] = {{"True", PV_BOOL, true}, {"False", PV_BOOL, false}, {"None", PV_NONE, false}};
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++) {
        const size_t k = strlen(kw[i].word);
        if (L->n - L->pos >= k && !memcmp(L->s + L->pos, kw[i].word, k) &&
            (L->pos + k == L->n || !is_ident_char(L->s[L->pos + k]))) {
            pyval *v = pv_new(L, kw[i].kind);
            if (v) {
                v->b = kw[i].b;
                L->pos += k;
            }
            return v;
        }
    }
    return lit_fail(L, NPY_E_SYNTAX, "unexpected name (only True, False and None are allowed)");
}

static pyval *lit_value(lit *L);

static bool lit_enter(lit *L)
{
    if (++L->depth > NPY_MAX_DEPTH) {
        lit_fail(L, NPY_E_LIMIT, "values nested more than %d deep", NPY_MAX_DEPTH);
        return false;
    }
    return true;
}

/* '[' ... ']' or '(' ... ')': items separated by ',', optional trailing ','. A parenthesised
 * single value without a comma is not a tuple, as in Python: "(3)" is 3. */
static pyval *lit_seq(lit *L, char close, pv_kind kind)
{
    if (!lit_enter(L))
        return NULL;
    pyval *v = pv_new(L, kind);
    if (!v)
        return NULL;
    L->pos++; /* opening bracket */
    bool comma = false;
    for (;;) {
        lit_ws(L);
        if (L->pos < L->n && L->s[L->pos] == close) {
            L->pos++;
            break;
        }
        if (L->pos >= L->n) {
            pv_free(v);
            return lit_fail(L, NPY_E_SYNTAX, "unexpected end of the header (missing '%c')",
                            close);
        }
        if (v->n && !comma) {
            pv_free(v);
            return lit_fail(L, NPY_E_SYNTAX, "expected ',' or '%c'", close);
        }
        pyval *item = lit_value(L);
        if (!item || !pv_push(L, v, item)) {
            pv_free(v);
            return NULL;
        }
        lit_ws(L);
        comma = L->pos < L->n && L->s[L->pos] == ',';
        if (comma)
            L->pos++;
        else if (kind == PV_TUPLE && v->n == 1 && L->pos < L->n && L->s[L->pos] == close) {
            L->pos++; /* "(x)": just x */
            pyval *inner = v->items[0];
            v->n = 0;
            pv_free(v);
            L->depth--;
            return inner;
        }
    }
    L->depth--;
    return v;
}

static pyval *lit_dict(lit *L)
{
    if (!lit_enter(L))
        return NULL;
    pyval *v = pv_new(L, PV_DICT);
    if (!v)
        return NULL;
    L->pos++; /* '{' */
    bool comma = false;
    for (;;) {
        lit_ws(L);
        if (L->pos < L->n && L->s[L->pos] == '}') {
            L->pos++;
            break;
        }
        if (L->pos >= L->n) {
            pv_free(v);
            return lit_fail(L, NPY_E_SYNTAX, "unexpected end of the header (missing '}')");
        }
        if (v->n && !comma) {
            pv_free(v);
            return lit_fail(L, NPY_E_SYNTAX, "expected ',' or '}' in the dict");
        }
        pyval *key = lit_value(L);
        if (!key || !pv_push(L, v, key)) {
            pv_free(v);
            return NULL;
        }
        lit_ws(L);
        if (L->pos >= L->n || L->s[L->pos] != ':') {
            pv_free(v);
            return lit_fail(L, NPY_E_SYNTAX, "expected ':' after a dict key");
        }
        L->pos++;
        pyval *val = lit_value(L);
        if (!val || !pv_push(L, v, val)) {
            pv_free(v);
            return NULL;
        }
        lit_ws(L);
        comma = L->pos < L->n && L->s[L->pos] == ',';
        if (comma)
            L->pos++;
    }
    L->depth--;
    return v;
}

static pyval *lit_value(lit *L)
{
    lit_ws(L);
    if (L->pos >= L->n)
        return lit_fail(L, NPY_E_SYNTAX, "unexpected end of the header");
    const unsigned char c = L->s[L->pos];
    switch (c) {
    case '{':
        return lit_dict(L);
    case '[':
        return lit_seq(L, ']', PV_LIST);
    case '(':
        return lit_seq(L, ')', PV_TUPLE);
    case '\'':
    case '"':
        return lit_string(L);
    case '-':
    case '+':
        return lit_int(L);
    default:
        break;
    }
    if (c >= '0' && c <= '9')
        return lit_int(L);
    if ((c == 'u' || c == 'U') && L->pos + 1 < L->n &&
        (L->s[L->pos + 1] == '\'' || L->s[L->pos + 1] == '"'))
        return lit_string(L);
    if (is_ident_char(c) && c < 0x80)
        return lit_keyword(L);
    if (c >= 0x20 && c < 0x7F)
        return lit_fail(L, NPY_E_SYNTAX, "unexpected character '%c'", c);
    return lit_fail(L, NPY_E_SYNTAX, "unexpected byte 0x%02x", c);
}

/* ---- descr -> dtype text ---- */

/* Characters a numpy dtype string may use ("<M8[10ms]", "|S6", "float32"). Anything else,
 * quotes and brackets in particular, could change the meaning of the text we assemble. */
static bool dtype_str_chars_ok(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '<' || c == '>' || c == '|' || c == '=' || c == '[' || c == ']' ||
                  c == '_';
        if (!ok)
            return false;
    }
    return true;
}

static bool is_object_dtype(const char *s)
{
    if (!strcmp(s, "object"))
        return true;
    if (*s == '<' || *s == '>' || *s == '|' || *s == '=')
        s++;
    return *s == 'O';
}

/* Field names go into a quoted literal: the format forbids ', \ and control characters. */
static bool field_name_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7F || *p == '\'' || *p == '\\')
            return false;
    return true;
}

typedef struct dims {
    unsigned n;
    uint64_t d[NPY_MAX_DIMS];
} dims;

static npy_status conv_format(lit *L, const pyval *v, sbuf *b, dims *extra);

static npy_status conv_dtype_str(lit *L, const pyval *v, sbuf *b, bool quoted)
{
    if (!dtype_str_chars_ok(v->str, v->slen)) {
        lit_fail(L, NPY_E_DTYPE, "dtype string '%.60s' is not a valid numpy type string",
                 v->str);
        return L->st;
    }
    if (is_object_dtype(v->str)) {
        lit_fail(L, NPY_E_OBJECT,
                 "object dtype '%s' holds pickled Python objects; it is refused (never "
                 "unpickled)",
                 v->str);
        return L->st;
    }
    if (quoted)
        sb_putc(b, '\'');
    sb_put(b, v->str, v->slen);
    if (quoted)
        sb_putc(b, '\'');
    return NPY_OK;
}

/* Append a subarray shape given as an int or a tuple of ints to *d. */
static npy_status shape_dims(lit *L, const pyval *s, dims *d)
{
    const pyval *one[1] = {s};
    const pyval *const *items = one;
    size_t n = 1;
    if (s->kind == PV_TUPLE) {
        items = (const pyval *const *)s->items;
        n = s->n;
    } else if (s->kind != PV_INT) {
        lit_fail(L, NPY_E_DTYPE, "a subarray shape must be an int or a tuple of ints (found %s)",
                 pv_names[s->kind]);
        return L->st;
    }
    for (size_t i = 0; i < n; i++) {
        if (items[i]->kind != PV_INT || items[i]->neg) {
            lit_fail(L, NPY_E_DTYPE, "subarray dimensions must be non-negative ints");
            return L->st;
        }
        if (d->n >= NPY_MAX_DIMS) {
            lit_fail(L, NPY_E_DTYPE, "subarray with more than %d dimensions", NPY_MAX_DIMS);
            return L->st;
        }
        d->d[d->n++] = items[i]->mag;
    }
    return NPY_OK;
}

/* One field: "('name', FORMAT[, (dims)])". `shape` may be NULL. */
static npy_status conv_field(lit *L, const pyval *name, const pyval *fmt, const pyval *shape,
                             sbuf *b)
{
    if (name->kind == PV_TUPLE) {
        lit_fail(L, NPY_E_DTYPE, "field titles ((title, name) pairs) are not supported");
        return L->st;
    }
    if (name->kind != PV_STR) {
        lit_fail(L, NPY_E_DTYPE, "a field name must be a str (found %s)", pv_names[name->kind]);
        return L->st;
    }
    if (!field_name_ok(name->str)) {
        lit_fail(L, NPY_E_DTYPE,
                 "field name '%.60s' cannot be stored (quotes, backslashes and control "
                 "characters are not allowed in field names)",
                 name->str);
        return L->st;
    }
    dims d = {0};
    if (shape && shape_dims(L, shape, &d) != NPY_OK)
        return L->st;
    sb_puts(b, "('");
    sb_put(b, name->str, name->slen);
    sb_puts(b, "', ");
    if (conv_format(L, fmt, b, &d) != NPY_OK)
        return L->st;
    if (d.n) {
        sb_puts(b, ", (");
        for (unsigned i = 0; i < d.n; i++) {
            if (i)
                sb_puts(b, ", ");
            sb_putu(b, d.d[i]);
        }
        sb_puts(b, d.n == 1 ? ",)" : ")");
    }
    sb_putc(b, ')');
    return NPY_OK;
}

/* A list of fields, numpy's dtype.descr: [(name, format) or (name, format, shape), ...]. */
static npy_status conv_list(lit *L, const pyval *v, sbuf *b)
{
    sb_putc(b, '[');
    for (size_t i = 0; i < v->n; i++) {
        const pyval *f = v->items[i];
        if ((f->kind != PV_TUPLE && f->kind != PV_LIST) || f->n < 2 || f->n > 3) {
            lit_fail(L, NPY_E_DTYPE,
                     "field %zu of descr must be a (name, format) or (name, format, shape) "
                     "tuple",
                     i);
            return L->st;
        }
        if (i)
            sb_puts(b, ", ");
        if (conv_field(L, f->items[0], f->items[1], f->n == 3 ? f->items[2] : NULL, b) != NPY_OK)
            return L->st;
    }
    sb_putc(b, ']');
    return NPY_OK;
}

/* Itemsize of dtype text, for the offset arithmetic of the dict form. */
static npy_status text_itemsize(lit *L, const char *text, uint64_t *size)
{
    mmarr_dtype *dt = NULL;
    mmarr_error e;
    if (mmarr_dtype_parse(text, &dt, &e) != MMARR_OK) {
        lit_fail(L, NPY_E_DTYPE, "unsupported dtype: %s", e.message);
        return L->st;
    }
    *size = mmarr_dtype_itemsize(dt);
    mmarr_dtype_free(dt);
    return NPY_OK;
}

static const pyval *dict_get(const pyval *d, const char *key)
{
    for (size_t i = 0; i + 1 < d->n; i += 2)
        if (d->items[i]->kind == PV_STR && !strcmp(d->items[i]->str, key))
            return d->items[i + 1];
    return NULL;
}

/* Check a dict's keys: strings, unique, among `allowed` (NULL-terminated). */
static npy_status check_keys(lit *L, const pyval *d, const char *const *allowed, npy_status st,
                             const char *what)
{
    for (size_t i = 0; i < d->n; i += 2) {
        const pyval *k = d->items[i];
        if (k->kind != PV_STR) {
            lit_fail(L, st, "%s keys must be strings (found %s)", what, pv_names[k->kind]);
            return L->st;
        }
        bool known = false;
        for (size_t a = 0; allowed[a]; a++)
            known |= !strcmp(k->str, allowed[a]);
        if (!known) {
            lit_fail(L, st, "unknown key '%.60s' in %s", k->str, what);
            return L->st;
        }
        for (size_t j = 0; j < i; j += 2)
            if (!strcmp(d->items[j]->str, k->str)) {
                lit_fail(L, st, "duplicate key '%s' in %s", k->str, what);
                return L->st;
            }
    }
    return NPY_OK;
}

static bool is_seq(const pyval *v) { return v && (v->kind == PV_LIST || v->kind == PV_TUPLE); }

static void put_padding(sbuf *b, bool *first, uint64_t n)
{
    if (!*first)
        sb_puts(b, ", ");
    *first = false;
    sb_puts(b, "('', '|V");
    sb_putu(b, n);
    sb_puts(b, "')");
}

/*
 * The dict form {'names': [...], 'formats': [...], 'offsets': [...], 'itemsize': n} (what
 * np.dtype accepts, and what some writers emit for aligned structs): rewritten as the list
 * form with explicit '|V<n>' padding for every gap, the only layout the format can express.
 */
static npy_status conv_dict(lit *L, const pyval *v, sbuf *b)
{
    static const char *const allowed[] = {"names",  "formats", "offsets", "itemsize",
                                          "titles", "aligned", NULL};
    if (check_keys(L, v, allowed, NPY_E_DTYPE, "the descr dict") != NPY_OK)
        return L->st;
    const pyval *names = dict_get(v, "names"), *formats = dict_get(v, "formats"),
                *offsets = dict_get(v, "offsets"), *itemsize = dict_get(v, "itemsize"),
                *titles = dict_get(v, "titles"), *aligned = dict_get(v, "aligned");
    if (!is_seq(names) || !is_seq(formats) || names->n != formats->n ||
        (offsets && (!is_seq(offsets) || offsets->n != names->n)) ||
        (itemsize && (itemsize->kind != PV_INT || itemsize->neg))) {
        lit_fail(L, NPY_E_DTYPE,
                 "a descr dict needs 'names' and 'formats' lists of equal length (and "
                 "'offsets' of the same length, 'itemsize' a non-negative int)");
        return L->st;
    }
    if (titles && titles->kind != PV_NONE) {
        bool all_none = is_seq(titles);
        for (size_t i = 0; all_none && i < titles->n; i++)
            all_none = titles->items[i]->kind == PV_NONE;
        if (!all_none) {
            lit_fail(L, NPY_E_DTYPE, "field titles are not supported");
            return L->st;
        }
    }
    if (aligned && (aligned->kind != PV_BOOL || (aligned->b && (!offsets || !itemsize)))) {
        lit_fail(L, NPY_E_DTYPE,
                 "an aligned descr dict must give 'offsets' and 'itemsize' explicitly");
        return L->st;
    }
    uint64_t cursor = 0;
    bool first = true;
    sb_putc(b, '[');
    for (size_t i = 0; i < names->n; i++) {
        sbuf f = {0};
        npy_status st = conv_field(L, names->items[i], formats->items[i], NULL, &f);
        uint64_t size = 0;
        if (st == NPY_OK && f.oom)
            st = (lit_fail(L, NPY_E_NOMEM, "out of memory"), L->st);
        if (st == NPY_OK) {
            sbuf one = {0};
            sb_putc(&one, '[');
            sb_put(&one, f.p, f.len);
            sb_putc(&one, ']');
            st = one.oom ? (lit_fail(L, NPY_E_NOMEM, "out of memory"), L->st)
                         : text_itemsize(L, one.p, &size);
            free(one.p);
        }
        if (st == NPY_OK && offsets) {
            const pyval *o = offsets->items[i];
            if (o->kind != PV_INT || o->neg || o->mag < cursor) {
                lit_fail(L, NPY_E_DTYPE,
                         "field '%.60s': offsets must be ints in increasing order without "
                         "overlap",
                         names->items[i]->str);
                st = L->st;
            } else if (o->mag > cursor) {
                put_padding(b, &first, o->mag - cursor);
                cursor = o->mag;
            }
        }
        if (st != NPY_OK) {
            free(f.p);
            return st;
        }
        if (!first)
            sb_puts(b, ", ");
        first = false;
        sb_put(b, f.p, f.len);
        free(f.p);
        if (size > UINT64_MAX - cursor) {
            lit_fail(L, NPY_E_DTYPE, "struct too large");
            return L->st;
        }
        cursor += size;
    }
    if (itemsize) {
        if (itemsize->mag < cursor) {
            lit_fail(L, NPY_E_DTYPE, "itemsize %llu is smaller than the fields (%llu bytes)",
                     (unsigned long long)itemsize->mag, (unsigned long long)cursor);
            return L->st;
        }
        if (itemsize->mag > cursor)
            put_padding(b, &first, itemsize->mag - cursor);
    }
    sb_putc(b, ']');
    return NPY_OK;
}

/* A field's format: a dtype string (quoted), a nested list or dict, or a (format, shape)
 * subarray whose dims are appended to *extra (outer dims first, as numpy does). */
static npy_status conv_format(lit *L, const pyval *v, sbuf *b, dims *extra)
{
    switch (v->kind) {
    case PV_STR:
        return conv_dtype_str(L, v, b, true);
    case PV_LIST:
        return conv_list(L, v, b);
    case PV_DICT:
        return conv_dict(L, v, b);
    case PV_TUPLE:
        if (v->n == 2) {
            if (shape_dims(L, v->items[1], extra) != NPY_OK)
                return L->st;
            return conv_format(L, v->items[0], b, extra);
        }
        break;
    default:
        break;
    }
    lit_fail(L, NPY_E_DTYPE, "a field format must be a dtype string, a list of fields, or a "
                             "(format, shape) tuple");
    return L->st;
}

/* ---- header semantics ---- */

static npy_status header_shape(lit *L, const pyval *s, npy_header *h)
{
    if (s->kind != PV_TUPLE) {
        L->pos = s->pos - L->base;
        lit_fail(L, NPY_E_SHAPE, "shape must be a tuple of ints (found %s)", pv_names[s->kind]);
        return L->st;
    }
    if (s->n > NPY_MAX_DIMS) {
        L->pos = s->pos - L->base;
        lit_fail(L, NPY_E_SHAPE, "shape has %zu dimensions; the limit is %d", s->n, NPY_MAX_DIMS);
        return L->st;
    }
    for (size_t i = 0; i < s->n; i++) {
        const pyval *d = s->items[i];
        L->pos = d->pos - L->base;
        if (d->kind != PV_INT) {
            lit_fail(L, NPY_E_SHAPE, "shape dimension %zu is not an int (found %s)", i,
                     pv_names[d->kind]);
            return L->st;
        }
        if (d->neg) {
            lit_fail(L, NPY_E_SHAPE, "shape dimension %zu is negative", i);
            return L->st;
        }
        h->shape[i] = d->mag;
    }
    h->ndim = (unsigned)s->n;
    return NPY_OK;
}

static npy_status header_descr(lit *L, const pyval *d, npy_header *h)
{
    L->pos = d->pos - L->base;
    sbuf b = {0};
    dims extra = {0};
    npy_status st;
    switch (d->kind) {
    case PV_STR:
        st = conv_dtype_str(L, d, &b, false);
        break;
    case PV_LIST:
        st = conv_list(L, d, &b);
        break;
    case PV_DICT:
        st = conv_dict(L, d, &b);
        break;
    case PV_TUPLE:
        /* (format, shape): a subarray dtype for the whole array; numpy's descr_to_dtype reads
         * it, and in C order it is the same bytes as the shape extended by the subarray. */
        if (d->n != 2) {
            st = (lit_fail(L, NPY_E_DTYPE, "a tuple descr must be (format, shape)"), L->st);
            break;
        }
        st = shape_dims(L, d->items[1], &extra);
        if (st == NPY_OK)
            st = conv_format(L, d->items[0], &b, &extra);
        if (st == NPY_OK && extra.n && h->fortran_order)
            st = (lit_fail(L, NPY_E_DTYPE, "a subarray descr with fortran_order True is not "
                                           "supported"),
                  L->st);
        if (st == NPY_OK && h->ndim + extra.n > NPY_MAX_DIMS)
            st = (lit_fail(L, NPY_E_SHAPE, "shape and subarray have more than %d dimensions",
                           NPY_MAX_DIMS),
                  L->st);
        /* a quoted top-level string would not parse as a bare dtype: strip the quotes */
        if (st == NPY_OK && b.len >= 2 && b.p[0] == '\'') {
            memmove(b.p, b.p + 1, b.len - 2);
            b.len -= 2;
            b.p[b.len] = '\0';
        }
        break;
    default:
        st = (lit_fail(L, NPY_E_DTYPE, "descr must be a string, a list of fields or a dict "
                                       "(found %s)",
                       pv_names[d->kind]),
              L->st);
    }
    if (st == NPY_OK && b.oom)
        st = (lit_fail(L, NPY_E_NOMEM, "out of memory"), L->st);
    if (st != NPY_OK) {
        free(b.p);
        return st;
    }
    L->pos = d->pos - L->base;
    mmarr_dtype *dt = NULL;
    mmarr_error e;
    if (mmarr_dtype_parse(b.p, &dt, &e) != MMARR_OK) {
        free(b.p);
        lit_fail(L, e.code == MMARR_E_NOMEM ? NPY_E_NOMEM : NPY_E_DTYPE, "unsupported dtype: %s",
                 e.message);
        return L->st;
    }
    free(b.p);
    h->dtype = strdup(mmarr_dtype_str(dt));
    h->itemsize = mmarr_dtype_itemsize(dt);
    mmarr_dtype_free(dt);
    if (!h->dtype) {
        lit_fail(L, NPY_E_NOMEM, "out of memory");
        return L->st;
    }
    for (unsigned i = 0; i < extra.n; i++)
        h->shape[h->ndim++] = extra.d[i];
    return NPY_OK;
}

static npy_status header_from_tree(lit *L, const pyval *root, npy_header *h)
{
    static const char *const keys[] = {"descr", "fortran_order", "shape", NULL};
    L->pos = root->pos - L->base;
    if (root->kind != PV_DICT) {
        lit_fail(L, NPY_E_NOT_DICT, "the header is not a dict (found %s)", pv_names[root->kind]);
        return L->st;
    }
    if (check_keys(L, root, keys, NPY_E_KEYS, "the header") != NPY_OK)
        return L->st;
    for (size_t i = 0; keys[i]; i++)
        if (!dict_get(root, keys[i])) {
            lit_fail(L, NPY_E_KEYS, "the header has no '%s' key", keys[i]);
            return L->st;
        }
    const pyval *fo = dict_get(root, "fortran_order");
    if (fo->kind != PV_BOOL) {
        L->pos = fo->pos - L->base;
        lit_fail(L, NPY_E_FORTRAN, "fortran_order must be True or False (found %s)",
                 pv_names[fo->kind]);
        return L->st;
    }
    h->fortran_order = fo->b;
    if (header_shape(L, dict_get(root, "shape"), h) != NPY_OK)
        return L->st;
    if (header_descr(L, dict_get(root, "descr"), h) != NPY_OK)
        return L->st;
    /* the same rule as the writer (spec.md §6): the running product never exceeds 2^63 */
    uint64_t nbytes = h->itemsize;
    for (unsigned i = 0; i < h->ndim; i++) {
        if (h->shape[i] && nbytes > (uint64_t)INT64_MAX / h->shape[i]) {
            L->pos = root->pos - L->base;
            lit_fail(L, NPY_E_OVERFLOW, "itemsize %llu x shape overflows 2^63 bytes",
                     (unsigned long long)h->itemsize);
            return L->st;
        }
        nbytes *= h->shape[i];
    }
    h->nbytes = nbytes;
    return NPY_OK;
}

/* ---- public: parsing ---- */

void npy_header_free(npy_header *h)
{
    if (!h)
        return;
    free(h->dtype);
    h->dtype = NULL;
}

npy_status npy_parse_preamble(const void *buf, size_t len, unsigned *major, unsigned *minor,
                              uint64_t *data_offset, char *err, size_t errlen)
{
    const unsigned char *p = buf;
    const size_t cmp = len < NPY_MAGIC_LEN ? len : NPY_MAGIC_LEN;
    if (memcmp(p, NPY_MAGIC, cmp) != 0)
        return fail(err, errlen, NPY_E_MAGIC, "not an NPY file (bad magic bytes)");
    if (len < NPY_MAGIC_LEN + 2)
        return fail(err, errlen, NPY_E_TRUNCATED,
                    "truncated: %zu bytes, too short for the NPY preamble", len);
    const unsigned ma = p[6], mi = p[7];
    if (ma < 1 || ma > 3 || mi != 0)
        return fail(err, errlen, NPY_E_VERSION,
                    "unsupported NPY format version %u.%u (known: 1.0, 2.0, 3.0)", ma, mi);
    const size_t pre = ma == 1 ? 10 : 12;
    if (len < pre)
        return fail(err, errlen, NPY_E_TRUNCATED,
                    "truncated: %zu bytes, too short for the NPY %u.0 preamble", len, ma);
    uint32_t hlen = (uint32_t)p[8] | (uint32_t)p[9] << 8;
    if (ma > 1)
        hlen |= (uint32_t)p[10] << 16 | (uint32_t)p[11] << 24;
    if (hlen == 0)
        return fail(err, errlen, NPY_E_HEADER_SIZE, "NPY header length is 0");
    if (hlen > NPY_MAX_HEADER_LEN)
        return fail(err, errlen, NPY_E_HEADER_SIZE,
                    "NPY header length %u exceeds the limit of %u bytes", hlen,
                    NPY_MAX_HEADER_LEN);
    *major = ma;
    *minor = mi;
    *data_offset = pre + (uint64_t)hlen;
    return NPY_OK;
}

npy_status npy_parse_header(const void *buf, size_t len, npy_header *out, char *err,
                            size_t errlen)
{
    memset(out, 0, sizeof *out);
    unsigned major, minor;
    uint64_t data_offset;
    npy_status st = npy_parse_preamble(buf, len, &major, &minor, &data_offset, err, errlen);
    if (st != NPY_OK)
        return st;
    const size_t pre = major == 1 ? 10 : 12;
    if (data_offset > len)
        return fail(err, errlen, NPY_E_TRUNCATED,
                    "NPY header length %llu runs past the end of the data (%zu bytes after "
                    "the preamble)",
                    (unsigned long long)(data_offset - pre), len - pre);
    const unsigned char *text = (const unsigned char *)buf + pre;
    const size_t n = (size_t)(data_offset - pre);
    for (size_t i = 0; i < n;) {
        if (text[i] == 0)
            return fail(err, errlen, NPY_E_SYNTAX, "NPY header byte %zu: NUL byte", pre + i);
        uint32_t cp;
        size_t k = major == 3 ? utf8_decode(text + i, n - i, &cp) : 1;
        if (!k)
            return fail(err, errlen, NPY_E_ENCODING,
                        "NPY header byte %zu: invalid UTF-8 in a version 3.0 header", pre + i);
        i += k;
    }
    lit L = {.s = text, .n = n, .base = pre, .latin1 = major < 3, .py2_long = major < 3,
             .err = err, .errlen = errlen};
    pyval *root = lit_value(&L);
    if (root) {
        lit_ws(&L);
        if (L.pos != L.n)
            lit_fail(&L, NPY_E_SYNTAX, "unexpected text after the header dict");
        else
            header_from_tree(&L, root, out);
    }
    pv_free(root);
    if (L.st != NPY_OK) {
        npy_header_free(out);
        memset(out, 0, sizeof *out);
        return L.st;
    }
    out->major = major;
    out->minor = minor;
    out->data_offset = data_offset;
    return NPY_OK;
}

npy_status npy_check_data_size(const npy_header *h, uint64_t available, uint64_t *trailing,
                               char *err, size_t errlen)
{
    if (available < h->nbytes)
        return fail(err, errlen, NPY_E_DATA_SIZE,
                    "truncated: the header declares %llu data bytes (%s, %u-d) but only %llu "
                    "follow it",
                    (unsigned long long)h->nbytes, h->dtype, h->ndim,
                    (unsigned long long)available);
    if (trailing)
        *trailing = available - h->nbytes;
    return NPY_OK;
}

static npy_status read_exact(npy_read_fn read, void *ctx, unsigned char *buf, size_t n,
                             size_t *got, char *err, size_t errlen)
{
    *got = 0;
    while (*got < n) {
        ptrdiff_t r = read(ctx, buf + *got, n - *got, err, errlen);
        if (r < 0)
            return NPY_E_IO;
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    return NPY_OK;
}

npy_status npy_read_header(npy_read_fn read, void *ctx, npy_header *out, char *err,
                           size_t errlen)
{
    memset(out, 0, sizeof *out);
    unsigned char pre[NPY_PREAMBLE_MAX];
    size_t got, more = 0;
    if (read_exact(read, ctx, pre, 10, &got, err, errlen) != NPY_OK)
        return NPY_E_IO;
    if (got == 10 && pre[6] > 1 &&
        read_exact(read, ctx, pre + 10, 2, &more, err, errlen) != NPY_OK)
        return NPY_E_IO;
    unsigned major, minor;
    uint64_t data_offset;
    npy_status st = npy_parse_preamble(pre, got + more, &major, &minor, &data_offset, err, errlen);
    if (st != NPY_OK)
        return st;
    const size_t have = got + more;
    unsigned char *buf = malloc((size_t)data_offset);
    if (!buf)
        return fail(err, errlen, NPY_E_NOMEM, "out of memory for a %llu-byte NPY header",
                    (unsigned long long)data_offset);
    memcpy(buf, pre, have);
    size_t rest;
    st = read_exact(read, ctx, buf + have, (size_t)data_offset - have, &rest, err, errlen);
    if (st == NPY_OK && have + rest < data_offset)
        st = fail(err, errlen, NPY_E_TRUNCATED,
                  "truncated: the NPY header is %llu bytes but the input ends after %zu",
                  (unsigned long long)data_offset, have + rest);
    if (st == NPY_OK)
        st = npy_parse_header(buf, (size_t)data_offset, out, err, errlen);
    free(buf);
    return st;
}

/* ---- public: writing ---- */

static bool has_numpy_name(const mmarr_dtype *dt)
{
    const char c = mmarr_dtype_str(dt)[0];
    return c == '<' || c == '>' || c == '|';
}

static npy_status render_descr(const mmarr_dtype *dt, bool as_void, sbuf *b, bool quoted,
                               char *err, size_t errlen)
{
    if (mmarr_dtype_kind(dt) == MMARR_KIND_STRUCT) {
        sb_putc(b, '[');
        for (size_t i = 0; i < mmarr_dtype_nfields(dt); i++) {
            const mmarr_field *f = mmarr_dtype_field(dt, i);
            sb_puts(b, i ? ", ('" : "('");
            sb_puts(b, f->name);
            sb_puts(b, "', ");
            npy_status st = render_descr(f->dtype, as_void, b, true, err, errlen);
            if (st != NPY_OK)
                return st;
            if (f->ndim) {
                sb_puts(b, ", (");
                for (unsigned d = 0; d < f->ndim; d++) {
                    if (d)
                        sb_puts(b, ", ");
                    sb_putu(b, f->shape[d]);
                }
                sb_puts(b, f->ndim == 1 ? ",)" : ")");
            }
            sb_putc(b, ')');
        }
        sb_putc(b, ']');
        return NPY_OK;
    }
    if (quoted)
        sb_putc(b, '\'');
    if (has_numpy_name(dt)) {
        sb_puts(b, mmarr_dtype_str(dt));
    } else if (as_void) {
        sb_puts(b, "|V");
        sb_putu(b, mmarr_dtype_itemsize(dt));
    } else {
        return fail(err, errlen, NPY_E_DTYPE,
                    "dtype %s has no numpy equivalent, so .npy cannot describe it (export its "
                    "bytes as opaque '|V%llu' with --as-void)",
                    mmarr_dtype_str(dt), (unsigned long long)mmarr_dtype_itemsize(dt));
    }
    if (quoted)
        sb_putc(b, '\'');
    return NPY_OK;
}

npy_status npy_descr_from_dtype(const mmarr_dtype *dt, bool as_void, char **out, char *err,
                                size_t errlen)
{
    *out = NULL;
    sbuf b = {0};
    npy_status st = render_descr(dt, as_void, &b, false, err, errlen);
    if (st == NPY_OK && b.oom)
        st = fail(err, errlen, NPY_E_NOMEM, "out of memory");
    if (st != NPY_OK) {
        free(b.p);
        return st;
    }
    *out = b.p;
    return NPY_OK;
}

/* numpy's GROWTH_AXIS_MAX_DIGITS: spare header room so the growing axis can be rewritten. */
#define NPY_GROWTH_AXIS_MAX_DIGITS 21
#define NPY_ARRAY_ALIGN 64

npy_status npy_format_header(const char *descr, unsigned ndim, const uint64_t *shape,
                             bool fortran_order, unsigned char **out, size_t *len, char *err,
                             size_t errlen)
{
    *out = NULL;
    *len = 0;
    if (ndim > NPY_MAX_DIMS)
        return fail(err, errlen, NPY_E_SHAPE, "%u dimensions; the limit is %d", ndim,
                    NPY_MAX_DIMS);
    /* the dict text exactly as numpy's _write_array_header builds it (sorted keys, repr) */
    sbuf h = {0};
    sb_puts(&h, "{'descr': ");
    if (descr[0] == '[') {
        sb_puts(&h, descr);
    } else {
        sb_putc(&h, '\'');
        sb_puts(&h, descr);
        sb_putc(&h, '\'');
    }
    sb_puts(&h, fortran_order ? ", 'fortran_order': True, 'shape': (" :
                                ", 'fortran_order': False, 'shape': (");
    for (unsigned i = 0; i < ndim; i++) {
        if (i)
            sb_puts(&h, ", ");
        sb_putu(&h, shape[i]);
    }
    sb_puts(&h, ndim == 1 ? ",), }" : "), }");
    if (ndim) {
        char tmp[24];
        int digits = snprintf(tmp, sizeof tmp, "%llu",
                              (unsigned long long)shape[fortran_order ? ndim - 1 : 0]);
        for (int i = digits; i < NPY_GROWTH_AXIS_MAX_DIGITS; i++)
            sb_putc(&h, ' ');
    }
    if (h.oom) {
        free(h.p);
        return fail(err, errlen, NPY_E_NOMEM, "out of memory");
    }
    /* latin-1 when every character fits (versions 1.0/2.0), else UTF-8 (3.0) */
    bool latin1 = true;
    size_t n1 = 0;
    for (size_t i = 0; i < h.len;) {
        uint32_t cp;
        size_t k = utf8_decode((const unsigned char *)h.p + i, h.len - i, &cp);
        if (!k) {
            free(h.p);
            return fail(err, errlen, NPY_E_ENCODING, "dtype text is not valid UTF-8");
        }
        latin1 &= cp <= 0xFF;
        i += k;
        n1++;
    }
    const size_t text_len = latin1 ? n1 : h.len;
    /* numpy's choice: 1.0 if it fits a u16 length, else 2.0; 3.0 when latin-1 cannot encode */
    unsigned major = latin1 ? 1 : 3;
    size_t pre = major == 1 ? 10 : 12;
    const size_t hlen = text_len + 1; /* + '\n' */
    size_t padlen = NPY_ARRAY_ALIGN - (pre + hlen) % NPY_ARRAY_ALIGN;
    if (major == 1 && hlen + padlen > 0xFFFF) {
        major = 2;
        pre = 12;
        padlen = NPY_ARRAY_ALIGN - (pre + hlen) % NPY_ARRAY_ALIGN;
    }
    if (hlen + padlen > UINT32_MAX) {
        free(h.p);
        return fail(err, errlen, NPY_E_HEADER_SIZE, "NPY header too large");
    }
    const size_t total = pre + hlen + padlen;
    unsigned char *o = malloc(total);
    if (!o) {
        free(h.p);
        return fail(err, errlen, NPY_E_NOMEM, "out of memory");
    }
    memcpy(o, NPY_MAGIC, NPY_MAGIC_LEN);
    o[6] = (unsigned char)major;
    o[7] = 0;
    const uint32_t field = (uint32_t)(hlen + padlen);
    for (size_t i = 0; i < pre - 8; i++)
        o[8 + i] = (unsigned char)(field >> (8 * i));
    size_t at = pre;
    if (latin1) {
        for (size_t i = 0; i < h.len;) {
            uint32_t cp;
            i += utf8_decode((const unsigned char *)h.p + i, h.len - i, &cp);
            o[at++] = (unsigned char)cp;
        }
    } else {
        memcpy(o + at, h.p, h.len);
        at += h.len;
    }
    memset(o + at, ' ', padlen);
    at += padlen;
    o[at++] = '\n';
    free(h.p);
    *out = o;
    *len = at;
    return NPY_OK;
}
