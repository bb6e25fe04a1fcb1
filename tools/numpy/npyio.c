/* SPDX-License-Identifier: MIT */
/*
 * npyio.c — .npy headers: a strict parser for untrusted input and a writer that matches
 * numpy's np.save byte for byte (see npyio.h).
 *
 * Parsing is two steps. First the header text is read as a Python literal into a small tree
 * (npy_literal.c: dict, list, tuple, str, int, bool, None), with every length, count and
 * depth bounded. Then the tree is checked against what numpy requires and `descr` becomes
 * dtype text that mmarr_dtype_parse() turns into the canonical form of spec.md §8
 * (npy_descr.c). This file holds the preamble, the two entry points and the writer.
 */
#include "npy_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- messages ---- */

static npy_status fail(char *err, size_t errlen, npy_status st, const char *fmt, ...)
    MM_PRINTF(4, 5);
static npy_status fail(char *err, size_t errlen, npy_status st, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
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
        size_t k = major == 3 ? mm_utf8_decode(text + i, n - i, &cp) : 1;
        if (!k)
            return fail(err, errlen, NPY_E_ENCODING,
                        "NPY header byte %zu: invalid UTF-8 in a version 3.0 header", pre + i);
        i += k;
    }
    lit L = {.s = text, .n = n, .base = pre, .latin1 = major < 3, .py2_long = major < 3,
             .err = err, .errlen = errlen};
    pyval *root = npy_lit_parse(&L);
    if (root)
        npy_header_from_tree(&L, root, out);
    npy_pv_free(root);
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

static npy_status render_descr(const mmarr_dtype *dt, bool as_void, mm_sbuf *b, bool quoted,
                               char *err, size_t errlen)
{
    if (mmarr_dtype_kind(dt) == MMARR_KIND_STRUCT) {
        mm_sb_putc(b, '[');
        for (size_t i = 0; i < mmarr_dtype_nfields(dt); i++) {
            const mmarr_field *f = mmarr_dtype_field(dt, i);
            mm_sb_puts(b, i ? ", ('" : "('");
            mm_sb_puts(b, f->name);
            mm_sb_puts(b, "', ");
            npy_status st = render_descr(f->dtype, as_void, b, true, err, errlen);
            if (st != NPY_OK)
                return st;
            if (f->ndim) {
                mm_sb_puts(b, ", (");
                for (unsigned d = 0; d < f->ndim; d++) {
                    if (d)
                        mm_sb_puts(b, ", ");
                    mm_sb_printf(b, "%" PRIu64, f->shape[d]);
                }
                mm_sb_puts(b, f->ndim == 1 ? ",)" : ")");
            }
            mm_sb_putc(b, ')');
        }
        mm_sb_putc(b, ']');
        return NPY_OK;
    }
    if (quoted)
        mm_sb_putc(b, '\'');
    if (has_numpy_name(dt)) {
        mm_sb_puts(b, mmarr_dtype_str(dt));
    } else if (as_void) {
        mm_sb_puts(b, "|V");
        mm_sb_printf(b, "%" PRIu64, mmarr_dtype_itemsize(dt));
    } else {
        return fail(err, errlen, NPY_E_DTYPE,
                    "dtype %s has no numpy equivalent, so .npy cannot describe it (export its "
                    "bytes as opaque '|V%llu' with --as-void)",
                    mmarr_dtype_str(dt), (unsigned long long)mmarr_dtype_itemsize(dt));
    }
    if (quoted)
        mm_sb_putc(b, '\'');
    return NPY_OK;
}

npy_status npy_descr_from_dtype(const mmarr_dtype *dt, bool as_void, char **out, char *err,
                                size_t errlen)
{
    *out = NULL;
    mm_sbuf b = {0};
    npy_status st = render_descr(dt, as_void, &b, false, err, errlen);
    if (st == NPY_OK && b.failed)
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
    mm_sbuf h = {0};
    mm_sb_puts(&h, "{'descr': ");
    if (descr[0] == '[') {
        mm_sb_puts(&h, descr);
    } else {
        mm_sb_putc(&h, '\'');
        mm_sb_puts(&h, descr);
        mm_sb_putc(&h, '\'');
    }
    mm_sb_puts(&h, fortran_order ? ", 'fortran_order': True, 'shape': (" :
                                ", 'fortran_order': False, 'shape': (");
    for (unsigned i = 0; i < ndim; i++) {
        if (i)
            mm_sb_puts(&h, ", ");
        mm_sb_printf(&h, "%" PRIu64, shape[i]);
    }
    mm_sb_puts(&h, ndim == 1 ? ",), }" : "), }");
    if (ndim) {
        char tmp[24];
        int digits = snprintf(tmp, sizeof tmp, "%llu",
                              (unsigned long long)shape[fortran_order ? ndim - 1 : 0]);
        for (int i = digits; i < NPY_GROWTH_AXIS_MAX_DIGITS; i++)
            mm_sb_putc(&h, ' ');
    }
    if (h.failed) {
        free(h.p);
        return fail(err, errlen, NPY_E_NOMEM, "out of memory");
    }
    /* latin-1 when every character fits (versions 1.0/2.0), else UTF-8 (3.0) */
    bool latin1 = true;
    size_t n1 = 0;
    for (size_t i = 0; i < h.len;) {
        uint32_t cp;
        size_t k = mm_utf8_decode((const unsigned char *)h.p + i, h.len - i, &cp);
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
            i += mm_utf8_decode((const unsigned char *)h.p + i, h.len - i, &cp);
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
