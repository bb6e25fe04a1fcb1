/* SPDX-License-Identifier: MIT */
/*
 * npy_literal.c — the Python literal subset of .npy headers (dict, str with either quote and
 * escapes, tuple, list, int, True/False/None) read into a small tree, with every length,
 * count and depth bounded. Nothing is evaluated. See npyio.h for the format.
 */
#include "npy_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const npy_pv_names[] = {"dict", "list", "tuple", "str", "int", "bool", "None"};

void npy_pv_free(pyval *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++)
        npy_pv_free(v->items[i]);
    free(v->items);
    free(v->str);
    free(v);
}

void *npy_lit_fail(lit *L, npy_status st, const char *fmt, ...)
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
        return npy_lit_fail(L, NPY_E_LIMIT, "more than %u values in the header", NPY_MAX_VALUES);
    pyval *v = calloc(1, sizeof *v);
    if (!v)
        return npy_lit_fail(L, NPY_E_NOMEM, "out of memory");
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
            npy_pv_free(child);
            npy_lit_fail(L, NPY_E_NOMEM, "out of memory");
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

/* Append code point cp (already checked to be a scalar value) as UTF-8. */
static void put_cp(mm_sbuf *b, uint32_t cp)
{
    char u[4];
    mm_sb_putn(b, u, mm_utf8_encode(cp, u));
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
static bool lit_escape(lit *L, mm_sbuf *out)
{
    if (L->pos + 1 >= L->n)
        return npy_lit_fail(L, NPY_E_SYNTAX, "unterminated string (ends in a backslash)") != NULL;
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
                return npy_lit_fail(L, NPY_E_SYNTAX, "\\%c escape needs %d hex digits", e,
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
        return npy_lit_fail(L, NPY_E_SYNTAX, "unsupported escape sequence in a string") != NULL;
    }
    if (cp == 0)
        return npy_lit_fail(L, NPY_E_SYNTAX, "NUL character in a string") != NULL;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return npy_lit_fail(L, NPY_E_SYNTAX, "escape is not a Unicode scalar value") != NULL;
    put_cp(out, cp);
    return true;
}

/* One quoted piece (L->pos at the quote), appended to out as UTF-8. */
static bool lit_string_piece(lit *L, mm_sbuf *out)
{
    const unsigned char q = L->s[L->pos];
    if (L->pos + 2 < L->n && L->s[L->pos + 1] == q && L->s[L->pos + 2] == q)
        return npy_lit_fail(L, NPY_E_SYNTAX, "triple-quoted strings are not supported") != NULL;
    L->pos++;
    for (;;) {
        if (L->pos >= L->n)
            return npy_lit_fail(L, NPY_E_SYNTAX, "unterminated string") != NULL;
        const unsigned char c = L->s[L->pos];
        if (c == q) {
            L->pos++;
            return true;
        }
        if (c == '\n' || c == '\r')
            return npy_lit_fail(L, NPY_E_SYNTAX, "line break inside a string") != NULL;
        if (c == '\\') {
            if (!lit_escape(L, out))
                return false;
        } else if (c < 0x80) {
            mm_sb_putc(out, (char)c);
            L->pos++;
        } else if (L->latin1) {
            put_cp(out, c);
            L->pos++;
        } else {
            uint32_t cp;
            size_t k = mm_utf8_decode(L->s + L->pos, L->n - L->pos, &cp);
            if (!k) /* the whole header was validated, so this is unreachable */
                return npy_lit_fail(L, NPY_E_ENCODING, "invalid UTF-8") != NULL;
            mm_sb_putn(out, L->s + L->pos, k);
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
    mm_sbuf b = {0};
    mm_sb_puts(&b, ""); /* never NULL, even for '' */
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
    if (b.failed) {
        npy_lit_fail(L, NPY_E_NOMEM, "out of memory");
        goto fail;
    }
    v->str = b.p;
    v->slen = b.len;
    return v;
fail:
    free(b.p);
    npy_pv_free(v);
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
        npy_pv_free(v);
        return npy_lit_fail(L, NPY_E_SYNTAX, "expected digits");
    }
    uint64_t m = 0;
    if (L->s[L->pos] == '0') {
        while (L->pos < L->n && L->s[L->pos] == '0')
            L->pos++;
        if (L->pos < L->n && L->s[L->pos] >= '1' && L->s[L->pos] <= '9') {
            npy_pv_free(v);
            return npy_lit_fail(L, NPY_E_SYNTAX, "integer with leading zeros");
        }
    } else {
        while (L->pos < L->n && L->s[L->pos] >= '0' && L->s[L->pos] <= '9') {
            const uint64_t d = (uint64_t)(L->s[L->pos] - '0');
            if (m > (UINT64_MAX - d) / 10) {
                npy_pv_free(v);
                return npy_lit_fail(L, NPY_E_OVERFLOW, "integer literal too large");
            }
            m = m * 10 + d;
            L->pos++;
        }
    }
    if (L->py2_long && L->pos < L->n && (L->s[L->pos] == 'L' || L->s[L->pos] == 'l'))
        L->pos++;
    if (L->pos < L->n && (is_ident_char(L->s[L->pos]) || L->s[L->pos] == '.')) {
        npy_pv_free(v);
        return npy_lit_fail(L, NPY_E_SYNTAX,
                            "malformed number (only decimal integers are allowed)");
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
    return npy_lit_fail(L, NPY_E_SYNTAX, "unexpected name (only True, False and None are allowed)");
}

static pyval *lit_value(lit *L);

static bool lit_enter(lit *L)
{
    if (++L->depth > NPY_MAX_DEPTH) {
        npy_lit_fail(L, NPY_E_LIMIT, "values nested more than %d deep", NPY_MAX_DEPTH);
        return false;
    }
    return true;
}

/* Parse one value and append it to container v; false on failure (v is left to the caller). */
static bool lit_push_value(lit *L, pyval *v)
{
    pyval *item = lit_value(L);
    return item && pv_push(L, v, item);
}

/* Whitespace, then a ',' if there is one (consumed); true when there was. */
static bool lit_comma(lit *L)
{
    lit_ws(L);
    if (L->pos < L->n && L->s[L->pos] == ',') {
        L->pos++;
        return true;
    }
    return false;
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
            npy_pv_free(v);
            return npy_lit_fail(L, NPY_E_SYNTAX,
                                "unexpected end of the header (missing '%c')", close);
        }
        if (v->n && !comma) {
            npy_pv_free(v);
            return npy_lit_fail(L, NPY_E_SYNTAX, "expected ',' or '%c'", close);
        }
        if (!lit_push_value(L, v)) {
            npy_pv_free(v);
            return NULL;
        }
        comma = lit_comma(L);
        if (!comma && kind == PV_TUPLE && v->n == 1 && L->pos < L->n && L->s[L->pos] == close) {
            L->pos++; /* "(x)": just x */
            pyval *inner = v->items[0];
            v->n = 0;
            npy_pv_free(v);
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
            npy_pv_free(v);
            return npy_lit_fail(L, NPY_E_SYNTAX, "unexpected end of the header (missing '}')");
        }
        if (v->n && !comma) {
            npy_pv_free(v);
            return npy_lit_fail(L, NPY_E_SYNTAX, "expected ',' or '}' in the dict");
        }
        if (!lit_push_value(L, v)) {
            npy_pv_free(v);
            return NULL;
        }
        lit_ws(L);
        if (L->pos >= L->n || L->s[L->pos] != ':') {
            npy_pv_free(v);
            return npy_lit_fail(L, NPY_E_SYNTAX, "expected ':' after a dict key");
        }
        L->pos++;
        if (!lit_push_value(L, v)) {
            npy_pv_free(v);
            return NULL;
        }
        comma = lit_comma(L);
    }
    L->depth--;
    return v;
}

static pyval *lit_value(lit *L)
{
    lit_ws(L);
    if (L->pos >= L->n)
        return npy_lit_fail(L, NPY_E_SYNTAX, "unexpected end of the header");
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
        return npy_lit_fail(L, NPY_E_SYNTAX, "unexpected character '%c'", c);
    return npy_lit_fail(L, NPY_E_SYNTAX, "unexpected byte 0x%02x", c);
}

pyval *npy_lit_parse(lit *L)
{
    pyval *root = lit_value(L);
    if (root) {
        lit_ws(L);
        if (L->pos != L->n) {
            npy_lit_fail(L, NPY_E_SYNTAX, "unexpected text after the header dict");
            npy_pv_free(root);
            return NULL;
        }
    }
    return root;
}
