/* SPDX-License-Identifier: MIT */
/*
 * npy_descr.c — the meaning of a parsed .npy header: exactly the keys descr, fortran_order
 * and shape; a bool; a tuple of ints; and `descr` (a dtype string, a list of fields, a dict
 * of names/formats/offsets, or a (format, shape) subarray) rewritten as dtype text. The
 * library's mmarr_dtype_parse() is the one dtype grammar: it decides every dtype string and
 * the canonical form of the result (spec.md §8); this file only maps numpy's descr shapes
 * onto that text.
 */
#include "npy_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- descr -> dtype text ---- */

/* numpy's object dtype ("O", "|O8", "object"): refused by policy, with a status of its own,
 * before any parsing (it would be unpickled by numpy). */
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

static npy_status conv_format(lit *L, const pyval *v, mm_sbuf *b, dims *extra);

/*
 * One dtype string of the descr ("<f4", "|S6", "<M8[ns]", "float32"): the library's
 * mmarr_dtype_parse() decides whether it is valid and what it means, and its canonical text
 * is what goes into the assembled dtype, so nothing in the string (quotes, brackets) can
 * change the meaning of the text around it. A string that parses as a struct is not a numpy
 * type string (numpy writes fields as a list, not as text).
 */
static npy_status conv_dtype_str(lit *L, const pyval *v, mm_sbuf *b, bool quoted)
{
    if (is_object_dtype(v->str)) {
        npy_lit_fail(L, NPY_E_OBJECT,
                     "object dtype '%s' holds pickled Python objects; it is refused (never "
                     "unpickled)",
                     v->str);
        return L->st;
    }
    mmarr_dtype *dt = NULL;
    mmarr_error e;
    const mmarr_err rc = mmarr_dtype_parse(v->str, &dt, &e);
    if (rc == MMARR_E_NOMEM) {
        npy_lit_fail(L, NPY_E_NOMEM, "out of memory");
        return L->st;
    }
    if (rc != MMARR_OK || mmarr_dtype_kind(dt) == MMARR_KIND_STRUCT) {
        if (rc == MMARR_OK)
            npy_lit_fail(L, NPY_E_DTYPE, "unsupported dtype string (not a valid numpy type "
                         "string): '%.60s' is a struct written as text",
                         v->str);
        else
            npy_lit_fail(L, NPY_E_DTYPE,
                         "unsupported dtype string (not a valid numpy type string): %s",
                         e.message);
        mmarr_dtype_free(dt);
        return L->st;
    }
    if (quoted)
        mm_sb_putc(b, '\'');
    mm_sb_puts(b, mmarr_dtype_str(dt));
    if (quoted)
        mm_sb_putc(b, '\'');
    mmarr_dtype_free(dt);
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
        npy_lit_fail(L, NPY_E_DTYPE,
                     "a subarray shape must be an int or a tuple of ints (found %s)",
                     npy_pv_names[s->kind]);
        return L->st;
    }
    for (size_t i = 0; i < n; i++) {
        if (items[i]->kind != PV_INT || items[i]->neg) {
            npy_lit_fail(L, NPY_E_DTYPE, "subarray dimensions must be non-negative ints");
            return L->st;
        }
        if (d->n >= NPY_MAX_DIMS) {
            npy_lit_fail(L, NPY_E_DTYPE, "subarray with more than %d dimensions", NPY_MAX_DIMS);
            return L->st;
        }
        d->d[d->n++] = items[i]->mag;
    }
    return NPY_OK;
}

/* One field: "('name', FORMAT[, (dims)])". `shape` may be NULL. */
static npy_status conv_field(lit *L, const pyval *name, const pyval *fmt, const pyval *shape,
                             mm_sbuf *b)
{
    if (name->kind == PV_TUPLE) {
        npy_lit_fail(L, NPY_E_DTYPE, "field titles ((title, name) pairs) are not supported");
        return L->st;
    }
    if (name->kind != PV_STR) {
        npy_lit_fail(L, NPY_E_DTYPE, "a field name must be a str (found %s)",
                     npy_pv_names[name->kind]);
        return L->st;
    }
    if (!field_name_ok(name->str)) {
        npy_lit_fail(L, NPY_E_DTYPE,
                     "field name '%.60s' cannot be stored (quotes, backslashes and control "
                     "characters are not allowed in field names)",
                     name->str);
        return L->st;
    }
    dims d = {0};
    if (shape && shape_dims(L, shape, &d) != NPY_OK)
        return L->st;
    mm_sb_puts(b, "('");
    mm_sb_putn(b, name->str, name->slen);
    mm_sb_puts(b, "', ");
    if (conv_format(L, fmt, b, &d) != NPY_OK)
        return L->st;
    if (d.n) {
        mm_sb_puts(b, ", (");
        for (unsigned i = 0; i < d.n; i++) {
            if (i)
                mm_sb_puts(b, ", ");
            mm_sb_printf(b, "%" PRIu64, d.d[i]);
        }
        mm_sb_puts(b, d.n == 1 ? ",)" : ")");
    }
    mm_sb_putc(b, ')');
    return NPY_OK;
}

/* A list of fields, numpy's dtype.descr: [(name, format) or (name, format, shape), ...]. */
static npy_status conv_list(lit *L, const pyval *v, mm_sbuf *b)
{
    mm_sb_putc(b, '[');
    for (size_t i = 0; i < v->n; i++) {
        const pyval *f = v->items[i];
        if ((f->kind != PV_TUPLE && f->kind != PV_LIST) || f->n < 2 || f->n > 3) {
            npy_lit_fail(L, NPY_E_DTYPE,
                         "field %zu of descr must be a (name, format) or (name, format, shape) "
                         "tuple",
                         i);
            return L->st;
        }
        if (i)
            mm_sb_puts(b, ", ");
        if (conv_field(L, f->items[0], f->items[1], f->n == 3 ? f->items[2] : NULL, b) != NPY_OK)
            return L->st;
    }
    mm_sb_putc(b, ']');
    return NPY_OK;
}

/* Itemsize of dtype text, for the offset arithmetic of the dict form. */
static npy_status text_itemsize(lit *L, const char *text, uint64_t *size)
{
    mmarr_dtype *dt = NULL;
    mmarr_error e;
    if (mmarr_dtype_parse(text, &dt, &e) != MMARR_OK) {
        npy_lit_fail(L, NPY_E_DTYPE, "unsupported dtype: %s", e.message);
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
            npy_lit_fail(L, st, "%s keys must be strings (found %s)", what, npy_pv_names[k->kind]);
            return L->st;
        }
        bool known = false;
        for (size_t a = 0; allowed[a]; a++)
            known |= !strcmp(k->str, allowed[a]);
        if (!known) {
            npy_lit_fail(L, st, "unknown key '%.60s' in %s", k->str, what);
            return L->st;
        }
        for (size_t j = 0; j < i; j += 2)
            if (!strcmp(d->items[j]->str, k->str)) {
                npy_lit_fail(L, st, "duplicate key '%s' in %s", k->str, what);
                return L->st;
            }
    }
    return NPY_OK;
}

static bool is_seq(const pyval *v) { return v && (v->kind == PV_LIST || v->kind == PV_TUPLE); }

static void put_padding(mm_sbuf *b, bool *first, uint64_t n)
{
    if (!*first)
        mm_sb_puts(b, ", ");
    *first = false;
    mm_sb_puts(b, "('', '|V");
    mm_sb_printf(b, "%" PRIu64, n);
    mm_sb_puts(b, "')");
}

/*
 * The dict form {'names': [...], 'formats': [...], 'offsets': [...], 'itemsize': n} (what
 * np.dtype accepts, and what some writers emit for aligned structs): rewritten as the list
 * form with explicit '|V<n>' padding for every gap, the only layout the format can express.
 */
static npy_status conv_dict(lit *L, const pyval *v, mm_sbuf *b)
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
        npy_lit_fail(L, NPY_E_DTYPE,
                     "a descr dict needs 'names' and 'formats' lists of equal length (and "
                     "'offsets' of the same length, 'itemsize' a non-negative int)");
        return L->st;
    }
    if (titles && titles->kind != PV_NONE) {
        bool all_none = is_seq(titles);
        for (size_t i = 0; all_none && i < titles->n; i++)
            all_none = titles->items[i]->kind == PV_NONE;
        if (!all_none) {
            npy_lit_fail(L, NPY_E_DTYPE, "field titles are not supported");
            return L->st;
        }
    }
    if (aligned && (aligned->kind != PV_BOOL || (aligned->b && (!offsets || !itemsize)))) {
        npy_lit_fail(L, NPY_E_DTYPE,
                     "an aligned descr dict must give 'offsets' and 'itemsize' explicitly");
        return L->st;
    }
    uint64_t cursor = 0;
    bool first = true;
    mm_sb_putc(b, '[');
    for (size_t i = 0; i < names->n; i++) {
        mm_sbuf f = {0};
        npy_status st = conv_field(L, names->items[i], formats->items[i], NULL, &f);
        uint64_t size = 0;
        if (st == NPY_OK && f.failed)
            st = (npy_lit_fail(L, NPY_E_NOMEM, "out of memory"), L->st);
        if (st == NPY_OK) {
            mm_sbuf one = {0};
            mm_sb_putc(&one, '[');
            mm_sb_putn(&one, f.p, f.len);
            mm_sb_putc(&one, ']');
            st = one.failed ? (npy_lit_fail(L, NPY_E_NOMEM, "out of memory"), L->st)
                         : text_itemsize(L, one.p, &size);
            free(one.p);
        }
        if (st == NPY_OK && offsets) {
            const pyval *o = offsets->items[i];
            if (o->kind != PV_INT || o->neg || o->mag < cursor) {
                npy_lit_fail(L, NPY_E_DTYPE,
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
            mm_sb_puts(b, ", ");
        first = false;
        mm_sb_putn(b, f.p, f.len);
        free(f.p);
        if (size > UINT64_MAX - cursor) {
            npy_lit_fail(L, NPY_E_DTYPE, "struct too large");
            return L->st;
        }
        cursor += size;
    }
    if (itemsize) {
        if (itemsize->mag < cursor) {
            npy_lit_fail(L, NPY_E_DTYPE, "itemsize %llu is smaller than the fields (%llu bytes)",
                         (unsigned long long)itemsize->mag, (unsigned long long)cursor);
            return L->st;
        }
        if (itemsize->mag > cursor)
            put_padding(b, &first, itemsize->mag - cursor);
    }
    mm_sb_putc(b, ']');
    return NPY_OK;
}

/* A field's format: a dtype string (quoted), a nested list or dict, or a (format, shape)
 * subarray whose dims are appended to *extra (outer dims first, as numpy does). */
static npy_status conv_format(lit *L, const pyval *v, mm_sbuf *b, dims *extra)
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
    npy_lit_fail(L, NPY_E_DTYPE, "a field format must be a dtype string, a list of fields, or a "
                 "(format, shape) tuple");
    return L->st;
}

/* ---- header semantics ---- */

static npy_status header_shape(lit *L, const pyval *s, npy_header *h)
{
    if (s->kind != PV_TUPLE) {
        L->pos = s->pos - L->base;
        npy_lit_fail(L, NPY_E_SHAPE, "shape must be a tuple of ints (found %s)",
                     npy_pv_names[s->kind]);
        return L->st;
    }
    if (s->n > NPY_MAX_DIMS) {
        L->pos = s->pos - L->base;
        npy_lit_fail(L, NPY_E_SHAPE, "shape has %zu dimensions; the limit is %d",
                     s->n, NPY_MAX_DIMS);
        return L->st;
    }
    for (size_t i = 0; i < s->n; i++) {
        const pyval *d = s->items[i];
        L->pos = d->pos - L->base;
        if (d->kind != PV_INT) {
            npy_lit_fail(L, NPY_E_SHAPE, "shape dimension %zu is not an int (found %s)", i,
                         npy_pv_names[d->kind]);
            return L->st;
        }
        if (d->neg) {
            npy_lit_fail(L, NPY_E_SHAPE, "shape dimension %zu is negative", i);
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
    mm_sbuf b = {0};
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
            st = (npy_lit_fail(L, NPY_E_DTYPE, "a tuple descr must be (format, shape)"), L->st);
            break;
        }
        st = shape_dims(L, d->items[1], &extra);
        if (st == NPY_OK)
            st = conv_format(L, d->items[0], &b, &extra);
        if (st == NPY_OK && extra.n && h->fortran_order)
            st = (npy_lit_fail(L, NPY_E_DTYPE, "a subarray descr with fortran_order True is not "
                               "supported"),
                  L->st);
        if (st == NPY_OK && h->ndim + extra.n > NPY_MAX_DIMS)
            st = (npy_lit_fail(L, NPY_E_SHAPE, "shape and subarray have more than %d dimensions",
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
        st = (npy_lit_fail(L, NPY_E_DTYPE, "descr must be a string, a list of fields or a dict "
                           "(found %s)",
                           npy_pv_names[d->kind]),
              L->st);
    }
    if (st == NPY_OK && b.failed)
        st = (npy_lit_fail(L, NPY_E_NOMEM, "out of memory"), L->st);
    if (st != NPY_OK) {
        free(b.p);
        return st;
    }
    L->pos = d->pos - L->base;
    mmarr_dtype *dt = NULL;
    mmarr_error e;
    if (mmarr_dtype_parse(b.p, &dt, &e) != MMARR_OK) {
        free(b.p);
        npy_lit_fail(L, e.code == MMARR_E_NOMEM ? NPY_E_NOMEM : NPY_E_DTYPE,
                     "unsupported dtype: %s", e.message);
        return L->st;
    }
    free(b.p);
    h->dtype = strdup(mmarr_dtype_str(dt));
    h->itemsize = mmarr_dtype_itemsize(dt);
    mmarr_dtype_free(dt);
    if (!h->dtype) {
        npy_lit_fail(L, NPY_E_NOMEM, "out of memory");
        return L->st;
    }
    for (unsigned i = 0; i < extra.n; i++)
        h->shape[h->ndim++] = extra.d[i];
    return NPY_OK;
}

npy_status npy_header_from_tree(lit *L, const pyval *root, npy_header *h)
{
    static const char *const keys[] = {"descr", "fortran_order", "shape", NULL};
    L->pos = root->pos - L->base;
    if (root->kind != PV_DICT) {
        npy_lit_fail(L, NPY_E_NOT_DICT, "the header is not a dict (found %s)",
                     npy_pv_names[root->kind]);
        return L->st;
    }
    if (check_keys(L, root, keys, NPY_E_KEYS, "the header") != NPY_OK)
        return L->st;
    for (size_t i = 0; keys[i]; i++)
        if (!dict_get(root, keys[i])) {
            npy_lit_fail(L, NPY_E_KEYS, "the header has no '%s' key", keys[i]);
            return L->st;
        }
    const pyval *fo = dict_get(root, "fortran_order");
    if (fo->kind != PV_BOOL) {
        L->pos = fo->pos - L->base;
        npy_lit_fail(L, NPY_E_FORTRAN, "fortran_order must be True or False (found %s)",
                     npy_pv_names[fo->kind]);
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
            npy_lit_fail(L, NPY_E_OVERFLOW, "itemsize %llu x shape overflows 2^63 bytes",
                         (unsigned long long)h->itemsize);
            return L->st;
        }
        nbytes *= h->shape[i];
    }
    h->nbytes = nbytes;
    return NPY_OK;
}
