/* SPDX-License-Identifier: MIT */
/*
 * dtype.c — parse and render numpy dtype text (spec.md §8).
 *
 * Files store numpy's canonical text; the reader parses it strictly (the text must render back
 * byte for byte). The public mmarr_dtype_parse() is lenient in the ways numpy users type
 * dtypes ("f4", "float32", double quotes, spacing) and always yields the canonical form.
 */
#include "mm_internal.h"

#include <stdio.h>
#include <stdlib.h>

#define MM_DTYPE_MAX_DEPTH 32
#define MM_DTYPE_MAX_FIELDS 65536
#define MM_DTYPE_MAX_ITEMSIZE ((uint64_t)INT32_MAX)

typedef struct mm_parser {
    const char *s;
    size_t n, pos;
    bool strict;
    unsigned depth;
    mmarr_error *err;
    const char *text; /* for messages */
} mm_parser;

static mmarr_err perr(mm_parser *p, const char *what)
{
    size_t show = p->n > 80 ? 80 : p->n;
    MM_FAIL(p->err, MMARR_E_DTYPE, MMARR_NO_OFFSET, "dtype \"%.*s%s\": %s at character %zu",
            (int)show, p->text, p->n > show ? "..." : "", what, p->pos);
}

void mmarr_dtype_free(mmarr_dtype *dt)
{
    if (!dt)
        return;
    for (size_t i = 0; i < dt->nfields; i++) {
        free((char *)dt->fields[i].name);
        free((uint64_t *)dt->fields[i].shape);
        mmarr_dtype_free((mmarr_dtype *)dt->fields[i].dtype);
    }
    free(dt->fields);
    free(dt->str);
    free(dt);
}

/* ---- rendering (the canonical text) ---- */

static void render(mm_sbuf *b, const mmarr_dtype *dt);

static void render_field(mm_sbuf *b, const mmarr_field *f)
{
    mm_sb_puts(b, "('");
    mm_sb_puts(b, f->name);
    mm_sb_puts(b, "', ");
    if (f->dtype->kind == MMARR_KIND_STRUCT) {
        render(b, f->dtype);
    } else {
        mm_sb_puts(b, "'");
        render(b, f->dtype);
        mm_sb_puts(b, "'");
    }
    if (f->ndim) {
        mm_sb_puts(b, ", (");
        for (unsigned i = 0; i < f->ndim; i++) {
            if (i)
                mm_sb_puts(b, ", ");
            mm_sb_printf(b, "%llu", (unsigned long long)f->shape[i]);
        }
        mm_sb_puts(b, f->ndim == 1 ? ",)" : ")");
    }
    mm_sb_puts(b, ")");
}

static void render(mm_sbuf *b, const mmarr_dtype *dt)
{
    if (dt->kind == MMARR_KIND_STRUCT) {
        mm_sb_puts(b, "[");
        for (size_t i = 0; i < dt->nfields; i++) {
            if (i)
                mm_sb_puts(b, ", ");
            render_field(b, &dt->fields[i]);
        }
        mm_sb_puts(b, "]");
        return;
    }
    switch (dt->special) {
    case MM_SPECIAL_BF16: mm_sb_puts(b, "bfloat16"); return;
    case MM_SPECIAL_E4M3FN: mm_sb_puts(b, "float8_e4m3fn"); return;
    case MM_SPECIAL_E5M2: mm_sb_puts(b, "float8_e5m2"); return;
    default: break;
    }
    char head[3] = {dt->byteorder, (char)dt->kind, 0};
    mm_sb_puts(b, head);
    if (dt->kind == MMARR_KIND_DATETIME || dt->kind == MMARR_KIND_TIMEDELTA) {
        mm_sb_puts(b, "8");
        if (dt->unit[0]) {
            mm_sb_puts(b, "[");
            if (dt->unit_count > 1)
                mm_sb_printf(b, "%llu", (unsigned long long)dt->unit_count);
            mm_sb_puts(b, dt->unit);
            mm_sb_puts(b, "]");
        }
        return;
    }
    mm_sb_printf(
        b, "%llu",
        (unsigned long long)(dt->kind == MMARR_KIND_UNICODE ? dt->itemsize / 4 : dt->itemsize));
}

static mmarr_err finish(mm_parser *p, mmarr_dtype *dt)
{
    mm_sbuf b = {0};
    render(&b, dt);
    if (b.failed) {
        free(b.p);
        MM_FAIL(p->err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "out of memory");
    }
    dt->str = b.p;
    return MMARR_OK;
}

/* ---- lexing ---- */

static void skip_ws(mm_parser *p)
{
    if (p->strict)
        return;
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
                             p->s[p->pos] == '\r'))
        p->pos++;
}

static bool eat(mm_parser *p, char c)
{
    if (p->pos < p->n && p->s[p->pos] == c) {
        p->pos++;
        return true;
    }
    return false;
}

/* In strict mode separators are exactly ", "; leniently any spacing around ','. */
static bool eat_sep(mm_parser *p)
{
    skip_ws(p);
    if (!eat(p, ','))
        return false;
    if (p->strict)
        return eat(p, ' ');
    skip_ws(p);
    return true;
}

static bool parse_uint(mm_parser *p, uint64_t *v)
{
    size_t start = p->pos;
    uint64_t x = 0;
    while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        if (mm_mul_overflow(x, 10, &x) || mm_add_overflow(x, (uint64_t)(p->s[p->pos] - '0'), &x))
            return false;
        p->pos++;
    }
    if (p->pos == start)
        return false;
    if (p->strict && p->pos - start > 1 && p->s[start] == '0')
        return false; /* no leading zeros in canonical text */
    *v = x;
    return true;
}

/* A quoted string: returns [*b, *b+*len) without quotes. No escapes are allowed. */
static bool parse_quoted(mm_parser *p, const char **b, size_t *len)
{
    char q = p->pos < p->n ? p->s[p->pos] : 0;
    if (q != '\'' && !(q == '"' && !p->strict))
        return false;
    p->pos++;
    size_t start = p->pos;
    while (p->pos < p->n && p->s[p->pos] != q) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c < 0x20 || c == 0x7F || c == '\\' || c == '\'' || c == '"')
            return false;
        p->pos++;
    }
    if (p->pos >= p->n)
        return false;
    *b = p->s + start;
    *len = p->pos - start;
    p->pos++;
    return true;
}

/* ---- simple (non-struct) dtypes ---- */

static const char *const mm_units[] = {"Y",  "M",  "W",  "D",  "h",  "m", "s",
                                       "ms", "us", "ns", "ps", "fs", "as"};

static const struct {
    const char *alias, *canon;
} mm_aliases[] = {
    {"bool", "|b1"},    {"?", "|b1"},         {"int8", "|i1"},        {"uint8", "|u1"},
    {"int16", "<i2"},   {"uint16", "<u2"},    {"int32", "<i4"},       {"uint32", "<u4"},
    {"int64", "<i8"},   {"uint64", "<u8"},    {"float16", "<f2"},     {"float32", "<f4"},
    {"float64", "<f8"}, {"complex64", "<c8"}, {"complex128", "<c16"}, {"half", "<f2"},
    {"single", "<f4"},  {"double", "<f8"},
};

static mmarr_err parse_simple_inner(mm_parser *p, const char *s, size_t n, mmarr_dtype *dt)
{
    static const struct {
        const char *name;
        int special;
        uint64_t size;
    } specials[] = {{"bfloat16", MM_SPECIAL_BF16, 2},
                    {"float8_e4m3fn", MM_SPECIAL_E4M3FN, 1},
                    {"float8_e5m2", MM_SPECIAL_E5M2, 1}};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) {
        if (n == strlen(specials[i].name) && !memcmp(s, specials[i].name, n)) {
            dt->kind = MMARR_KIND_FLOAT;
            dt->special = specials[i].special;
            dt->itemsize = specials[i].size;
            dt->byteorder = specials[i].size > 1 ? '<' : '|';
            return MMARR_OK;
        }
    }
    size_t i = 0;
    char order = 0;
    if (i < n && (s[i] == '<' || s[i] == '>' || s[i] == '|' || s[i] == '='))
        order = s[i++];
    if (order == '=' && p->strict)
        return perr(p, "byte order '=' is not canonical (use '<' or '>')");
    if (i >= n)
        return perr(p, "missing type code");
    char code = s[i++];
    if (code == 'O')
        return perr(p, "object dtypes (Python objects) cannot be stored");
    dt->kind = (mmarr_kind)code;
    if (code == 'M' || code == 'm') {
        if (i >= n || s[i] != '8')
            return perr(p, "datetime64/timedelta64 must have size 8");
        i++;
        dt->itemsize = 8;
        if (i < n) {
            if (s[i] != '[' || s[n - 1] != ']')
                return perr(p, "bad datetime unit syntax");
            size_t j = i + 1;
            uint64_t cnt = 0;
            bool have_cnt = false;
            while (j < n - 1 && s[j] >= '0' && s[j] <= '9') {
                if (mm_mul_overflow(cnt, 10, &cnt) ||
                    mm_add_overflow(cnt, (uint64_t)(s[j] - '0'), &cnt) || cnt > INT32_MAX)
                    return perr(p, "datetime unit count too large");
                have_cnt = true;
                j++;
            }
            if (have_cnt && (cnt == 0 || (p->strict && (cnt == 1 || s[i + 1] == '0'))))
                return perr(p, "datetime unit count must be > 1 and without leading zeros");
            size_t ulen = n - 1 - j;
            bool found = false;
            for (size_t u = 0; u < sizeof mm_units / sizeof mm_units[0]; u++)
                if (ulen == strlen(mm_units[u]) && !memcmp(s + j, mm_units[u], ulen)) {
                    memcpy(dt->unit, mm_units[u], ulen + 1);
                    found = true;
                }
            if (!found)
                return perr(p, "unknown datetime unit");
            dt->unit_count = have_cnt ? cnt : 1;
        }
        if (!order || order == '=' || order == '|') {
            if (p->strict)
                return perr(p, "datetime64/timedelta64 need byte order '<' or '>'");
            order = '<';
        }
        dt->byteorder = order;
        return MMARR_OK;
    }
    uint64_t size = 0;
    size_t dstart = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        if (mm_mul_overflow(size, 10, &size) ||
            mm_add_overflow(size, (uint64_t)(s[i] - '0'), &size))
            return perr(p, "size too large");
        i++;
    }
    if (i != n)
        return perr(p, "unexpected characters after the size");
    if (i == dstart)
        return perr(p, "missing size");
    if (p->strict && i - dstart > 1 && s[dstart] == '0')
        return perr(p, "leading zero in size");
    switch (code) {
    case 'b':
        if (size != 1)
            return perr(p, "bool must have size 1");
        break;
    case 'i':
    case 'u':
        if (size != 1 && size != 2 && size != 4 && size != 8)
            return perr(p, "integers have size 1, 2, 4 or 8");
        break;
    case 'f':
        if (size != 2 && size != 4 && size != 8)
            return perr(p, "floats have size 2, 4 or 8 (long double is not portable)");
        break;
    case 'c':
        if (size != 8 && size != 16)
            return perr(p, "complex has size 8 or 16 (long double is not portable)");
        break;
    case 'S':
    case 'V':
    case 'U':
        if (size == 0)
            return perr(p, "size must be at least 1");
        if (code == 'U' && mm_mul_overflow(size, 4, &size))
            return perr(p, "size too large");
        break;
    default: return perr(p, "unknown type code");
    }
    if (size > MM_DTYPE_MAX_ITEMSIZE)
        return perr(p, "itemsize too large");
    dt->itemsize = size;
    char want;
    if (code == 'S' || code == 'V' || size == 1)
        want = '|';
    else
        want = (order == '<' || order == '>') ? order : '<';
    if (p->strict && order != want)
        return perr(p, want == '|' ? "byte order must be '|' for this type"
                                   : "byte order must be '<' or '>'");
    dt->byteorder = want;
    return MMARR_OK;
}

/* Allocate, parse and render one simple dtype. */
static mmarr_err new_simple(mm_parser *p, const char *s, size_t n, mmarr_dtype **out)
{
    mmarr_dtype *dt = calloc(1, sizeof *dt);
    if (!dt)
        MM_FAIL(p->err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "out of memory");
    mmarr_err rc = parse_simple_inner(p, s, n, dt);
    if (rc == MMARR_OK)
        rc = finish(p, dt);
    if (rc != MMARR_OK) {
        mmarr_dtype_free(dt);
        return rc;
    }
    *out = dt;
    return MMARR_OK;
}

static mmarr_err parse_simple(mm_parser *p, const char *s, size_t n, mmarr_dtype **out)
{
    if (!p->strict) {
        for (size_t i = 0; i < sizeof mm_aliases / sizeof mm_aliases[0]; i++)
            if (n == strlen(mm_aliases[i].alias) && !memcmp(s, mm_aliases[i].alias, n)) {
                s = mm_aliases[i].canon;
                n = strlen(s);
                break;
            }
        /* "datetime64[ns]" / "timedelta64[s]" */
        static const char dtn[] = "datetime64", tdn[] = "timedelta64";
        char tmp[64];
        const char *pre = NULL;
        size_t plen = 0;
        if (n >= sizeof dtn - 1 && !memcmp(s, dtn, sizeof dtn - 1)) {
            pre = "<M8";
            plen = sizeof dtn - 1;
        } else if (n >= sizeof tdn - 1 && !memcmp(s, tdn, sizeof tdn - 1)) {
            pre = "<m8";
            plen = sizeof tdn - 1;
        }
        if (pre && n - plen < sizeof tmp - 4) {
            snprintf(tmp, sizeof tmp, "%s%.*s", pre, (int)(n - plen), s + plen);
            return new_simple(p, tmp, strlen(tmp), out);
        }
    }
    return new_simple(p, s, n, out);
}

/* ---- structs ---- */

static mmarr_err parse_any(mm_parser *p, mmarr_dtype **out);

static int cmp_field_name(const void *a, const void *b)
{
    const mmarr_field *const *fa = a, *const *fb = b;
    return strcmp((*fa)->name, (*fb)->name);
}

static mmarr_err check_unique(mm_parser *p, mmarr_dtype *dt)
{
    if (dt->nfields < 2)
        return MMARR_OK;
    const mmarr_field **v = malloc(dt->nfields * sizeof *v);
    if (!v)
        MM_FAIL(p->err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < dt->nfields; i++)
        v[i] = &dt->fields[i];
    qsort(v, dt->nfields, sizeof *v, cmp_field_name);
    mmarr_err rc = MMARR_OK;
    for (size_t i = 1; i < dt->nfields; i++)
        if (v[i]->name[0] && !strcmp(v[i]->name, v[i - 1]->name)) {
            rc = perr(p, "duplicate field name");
            break;
        }
    free(v);
    return rc;
}

static mmarr_err parse_field(mm_parser *p, mmarr_dtype *st, mmarr_field *f)
{
    if (!eat(p, '('))
        return perr(p, "expected '(' to start a field");
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == '(')
        return perr(p, "field titles are not supported");
    const char *nm;
    size_t nlen;
    if (!parse_quoted(p, &nm, &nlen))
        return perr(p, "expected a quoted field name (no quotes, backslashes or control "
                       "characters inside)");
    if (!mm_utf8_valid((const unsigned char *)nm, nlen))
        return perr(p, "field name is not valid UTF-8");
    char *name = malloc(nlen + 1);
    if (!name)
        MM_FAIL(p->err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "out of memory");
    memcpy(name, nm, nlen);
    name[nlen] = '\0';
    f->name = name;
    if (!eat_sep(p))
        return perr(p, "expected ', ' after the field name");
    mmarr_dtype *fd = NULL;
    if (p->pos < p->n && p->s[p->pos] == '[') {
        MM_TRY(parse_any(p, &fd));
    } else {
        const char *ts;
        size_t tlen;
        size_t at = p->pos;
        if (!parse_quoted(p, &ts, &tlen))
            return perr(p, "expected a quoted field dtype or a nested list");
        size_t save = p->pos;
        p->pos = at + 1;
        mmarr_err rc = parse_simple(p, ts, tlen, &fd);
        p->pos = save;
        if (rc != MMARR_OK)
            return rc;
    }
    f->dtype = fd;
    uint64_t count = 1;
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == ',') {
        if (!eat_sep(p))
            return perr(p, "expected ', ' before the subarray shape");
        uint64_t dims[MMARR_MAX_DIMS];
        unsigned nd = 0;
        if (!p->strict && p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
            if (!parse_uint(p, &dims[0]))
                return perr(p, "bad subarray size");
            nd = 1;
        } else {
            if (!eat(p, '('))
                return perr(p, "expected '(' to start the subarray shape");
            skip_ws(p);
            for (;;) {
                if (nd == MMARR_MAX_DIMS)
                    return perr(p, "subarray has more than 64 dimensions");
                if (!parse_uint(p, &dims[nd]))
                    return perr(p, "bad subarray dimension");
                nd++;
                skip_ws(p);
                if (eat(p, ',')) {
                    if (p->strict && nd == 1 && p->pos < p->n && p->s[p->pos] == ')') {
                        p->pos++;
                        break;
                    }
                    skip_ws(p);
                    if (!p->strict && eat(p, ')'))
                        break;
                    if (p->strict && !eat(p, ' '))
                        return perr(p, "expected ', ' between dimensions");
                    continue;
                }
                if (eat(p, ')')) {
                    if (p->strict && nd == 1)
                        return perr(p, "a one-dimensional subarray shape is written (n,)");
                    break;
                }
                return perr(p, "expected ',' or ')' in the subarray shape");
            }
        }
        if (nd == 0)
            return perr(p, "empty subarray shape");
        uint64_t *shape = malloc(nd * sizeof *shape);
        if (!shape)
            MM_FAIL(p->err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "out of memory");
        memcpy(shape, dims, nd * sizeof *shape);
        f->shape = shape;
        f->ndim = nd;
        for (unsigned i = 0; i < nd; i++)
            if (mm_mul_overflow(count, dims[i], &count) || count > MM_DTYPE_MAX_ITEMSIZE)
                return perr(p, "subarray too large");
    }
    skip_ws(p);
    if (!eat(p, ')'))
        return perr(p, "expected ')' to end the field");
    if (!f->name[0] && (fd->kind != MMARR_KIND_VOID || f->ndim))
        return perr(p, "only padding fields ('|V<n>' without shape) may have an empty name");
    uint64_t bytes;
    if (mm_mul_overflow(count, fd->itemsize, &bytes) ||
        mm_add_overflow(st->itemsize, bytes, &bytes) || bytes > MM_DTYPE_MAX_ITEMSIZE)
        return perr(p, "struct itemsize too large");
    f->offset = st->itemsize;
    st->itemsize = bytes;
    return MMARR_OK;
}

static mmarr_err parse_struct(mm_parser *p, mmarr_dtype **out)
{
    if (++p->depth > MM_DTYPE_MAX_DEPTH)
        return perr(p, "structured dtype nested too deeply");
    p->pos++; /* '[' */
    mmarr_dtype *dt = calloc(1, sizeof *dt);
    if (!dt)
        MM_FAIL(p->err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "out of memory");
    dt->kind = MMARR_KIND_STRUCT;
    dt->byteorder = '|';
    size_t cap = 0;
    mmarr_err rc = MMARR_OK;
    skip_ws(p);
    for (;;) {
        if (dt->nfields == 0 && eat(p, ']')) {
            rc = perr(p, "a structured dtype needs at least one field");
            goto fail;
        }
        if (dt->nfields == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            if (ncap > MM_DTYPE_MAX_FIELDS) {
                rc = perr(p, "too many fields");
                goto fail;
            }
            mmarr_field *nf = realloc(dt->fields, ncap * sizeof *nf);
            if (!nf) {
                rc = mm_set_error(p->err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "out of memory");
                goto fail;
            }
            dt->fields = nf;
            cap = ncap;
        }
        mmarr_field *f = &dt->fields[dt->nfields++];
        memset(f, 0, sizeof *f);
        skip_ws(p);
        rc = parse_field(p, dt, f);
        if (rc != MMARR_OK)
            goto fail;
        skip_ws(p);
        if (eat(p, ']'))
            break;
        if (!eat_sep(p)) {
            rc = perr(p, "expected ', ' or ']' after a field");
            goto fail;
        }
        if (!p->strict && eat(p, ']'))
            break; /* trailing comma */
    }
    rc = check_unique(p, dt);
    if (rc == MMARR_OK)
        rc = finish(p, dt);
    if (rc != MMARR_OK)
        goto fail;
    p->depth--;
    *out = dt;
    return MMARR_OK;
fail:
    mmarr_dtype_free(dt);
    return rc;
}

static mmarr_err parse_any(mm_parser *p, mmarr_dtype **out)
{
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == '[')
        return parse_struct(p, out);
    /* a top-level simple dtype is the rest of the text */
    size_t start = p->pos, end = p->n;
    if (!p->strict)
        while (end > start && (p->s[end - 1] == ' ' || p->s[end - 1] == '\t' ||
                               p->s[end - 1] == '\n' || p->s[end - 1] == '\r'))
            end--;
    if (end == start)
        return perr(p, "empty dtype");
    mmarr_err rc = parse_simple(p, p->s + start, end - start, out);
    if (rc == MMARR_OK)
        p->pos = p->n;
    return rc;
}

mmarr_err mm_dtype_parse(const char *text, size_t len, bool strict, mmarr_dtype **out,
                         mmarr_error *err)
{
    *out = NULL;
    mm_parser p = {.s = text, .n = len, .strict = strict, .err = err, .text = text};
    mmarr_dtype *dt = NULL;
    MM_TRY(parse_any(&p, &dt));
    skip_ws(&p);
    if (p.pos != p.n) {
        mmarr_dtype_free(dt);
        return perr(&p, "unexpected text after the dtype");
    }
    if (dt->itemsize == 0) {
        mmarr_dtype_free(dt);
        return perr(&p, "itemsize must be at least 1");
    }
    if (strict && (strlen(dt->str) != len || memcmp(dt->str, text, len) != 0)) {
        mmarr_dtype_free(dt);
        return perr(&p, "not in canonical form");
    }
    *out = dt;
    return MMARR_OK;
}

/* ---- public API ---- */

mmarr_err mmarr_dtype_parse(const char *text, mmarr_dtype **out, mmarr_error *err)
{
    if (!out)
        MM_FAIL(err, MMARR_E_INVAL, MMARR_NO_OFFSET, "mmarr_dtype_parse: out is NULL");
    *out = NULL;
    if (!text)
        MM_FAIL(err, MMARR_E_INVAL, MMARR_NO_OFFSET, "mmarr_dtype_parse: text is NULL");
    return mm_dtype_parse(text, strlen(text), false, out, err);
}

const char *mmarr_dtype_str(const mmarr_dtype *dt) { return dt->str; }
mmarr_kind mmarr_dtype_kind(const mmarr_dtype *dt) { return dt->kind; }
uint64_t mmarr_dtype_itemsize(const mmarr_dtype *dt) { return dt->itemsize; }
char mmarr_dtype_byteorder(const mmarr_dtype *dt) { return dt->byteorder; }
size_t mmarr_dtype_nfields(const mmarr_dtype *dt) { return dt->nfields; }

const char *mmarr_dtype_time_unit(const mmarr_dtype *dt, uint64_t *count)
{
    if (dt->kind != MMARR_KIND_DATETIME && dt->kind != MMARR_KIND_TIMEDELTA)
        return NULL;
    if (count)
        *count = dt->unit[0] ? dt->unit_count : 0;
    return dt->unit;
}

const mmarr_field *mmarr_dtype_field(const mmarr_dtype *dt, size_t i)
{
    return i < dt->nfields ? &dt->fields[i] : NULL;
}
