/* SPDX-License-Identifier: MIT */
/* golden_expect.c — see golden_expect.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "golden_expect.h"
#include "mmarr.h"

/* ------------------------------------------------------------------------------------------ */
/* Codes and discrepancy reporting                                                            */

static const struct {
    const char *name;
    mmarr_err code;
} k_codes[] = {
    {"ok", MMARR_OK},
    {"MMARR_OK", MMARR_OK},
    {"MMARR_E_INVAL", MMARR_E_INVAL},
    {"MMARR_E_NOMEM", MMARR_E_NOMEM},
    {"MMARR_E_IO", MMARR_E_IO},
    {"MMARR_E_NOSPACE", MMARR_E_NOSPACE},
    {"MMARR_E_BADMAGIC", MMARR_E_BADMAGIC},
    {"MMARR_E_VERSION", MMARR_E_VERSION},
    {"MMARR_E_CORRUPT", MMARR_E_CORRUPT},
    {"MMARR_E_CHECKSUM", MMARR_E_CHECKSUM},
    {"MMARR_E_TRUNCATED", MMARR_E_TRUNCATED},
    {"MMARR_E_UNSUPPORTED", MMARR_E_UNSUPPORTED},
    {"MMARR_E_STALE", MMARR_E_STALE},
    {"MMARR_E_NOTFOUND", MMARR_E_NOTFOUND},
    {"MMARR_E_DTYPE", MMARR_E_DTYPE},
    {"MMARR_E_EXISTS", MMARR_E_EXISTS},
    {"MMARR_E_RANGE", MMARR_E_RANGE},
    {"MMARR_E_READONLY", MMARR_E_READONLY},
    {"MMARR_E_STATE", MMARR_E_STATE},
};

int code_from_name(const char *name, mmarr_err *out)
{
    for (size_t i = 0; i < sizeof k_codes / sizeof k_codes[0]; i++) {
        if (strcmp(k_codes[i].name, name) == 0) {
            *out = k_codes[i].code;
            return 0;
        }
    }
    return -1;
}

const char *code_name(mmarr_err code)
{
    for (size_t i = 1; i < sizeof k_codes / sizeof k_codes[0]; i++)
        if (k_codes[i].code == code)
            return k_codes[i].name;
    return "(unknown code)";
}

void report(ctx *c, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->line > 0)
        print_error("golden: %s [%s] expect line %d: %s\n", c->file, c->mode, c->line, msg);
    else
        print_error("golden: %s [%s]: %s\n", c->file, c->mode, msg);
    c->failures++;
}

void check_err(ctx *c, const char *what, mmarr_err got, const mmarr_error *e, mmarr_err want)
{
    CHECK(c, got == want, "%s returned %s, expected %s (%s)", what, code_name(got),
          code_name(want), got != MMARR_OK ? e->message : "");
    if (got != MMARR_OK && got == want)
        CHECK(c, e->message[0] != '\0', "%s: empty error message", what);
}

/* Decode lowercase hex ("-" is the empty string) into a malloc'd NUL-terminated buffer. */
static unsigned char *unhex(const char *s, size_t *n)
{
    size_t len = strcmp(s, "-") == 0 ? 0 : strlen(s);
    unsigned char *out = malloc(len / 2 + 1);
    assert_non_null(out);
    size_t k = 0;
    for (size_t i = 0; i + 1 < len; i += 2) {
        unsigned v = 0;
        if (sscanf(s + i, "%2x", &v) != 1)
            break;
        out[k++] = (unsigned char)v;
    }
    out[k] = '\0';
    *n = k;
    return out;
}

static uint64_t u64_of(const char *s, int base)
{
    return (uint64_t)strtoull(s, NULL, base);
}

/* ------------------------------------------------------------------------------------------ */
/* One function per .expect keyword                                                           */

/* The walk through one .expect file: the handle, and what the lines so far established. */
typedef struct expect {
    ctx *c;
    mmarr_file *f;
    walk *w;
    mmarr_file_info fi;
    mmarr_array_info a; /* the current array */
    int have;           /* a holds the current array */
    uint64_t capacity;  /* its "capacity" line (spec.md §7.8), 0 without one */
    /* a cold array (spec.md §10): its "cold" line was seen; its "offset" and "stored"
     * lines; "chunk" lines seen; the extents of a cold growable array (spec.md §7.8: the
     * first, then the extra ones) from its "extent" lines; its raw bytes, read once by
     * array_bytes() (NULL when that failed) */
    int cold;
    uint64_t offset, stored;
    size_t chunks, nextent;
    uint64_t extent[16][2];
    unsigned char *raw;
    int raw_read;
    size_t cur;         /* current array number + 1 */
    size_t fmeta;       /* file metadata entries seen */
    size_t ameta;       /* metadata entries of the current array seen */
    size_t field;       /* fields of the current dtype seen */
    size_t count;       /* from the "arrays" line */
    /* ragged items (format 1.1): from the "raggeds" line, and the current item */
    int have_raggeds; /* a "raggeds" line was seen */
    size_t nrag;      /* ragged items it announces */
    size_t rk;        /* ragged items seen so far ("ragged" lines) */
    size_t *members;  /* values and offsets array of each item seen (2 per item) */
    int rhave;        /* between "ragged" and "rend" */
    size_t rvalues;   /* the current item's values array, as the .expect says */
    uint64_t rcount;  /* its item count, as the .expect says */
    mmarr_ragged_kind rkind;
    mmarr_array_info rv; /* its values array */
    int rv_ok;           /* rv was filled */
    uint64_t rowbytes;   /* bytes per row of the values */
    uint64_t ritems;     /* "item" lines seen for it */
    char **tok;         /* the line's tokens, tok[0] the keyword */
    int nt;
} expect;

/* File facts */

static void ex_version(expect *x)
{
    CHECK(x->c, strcmp(x->tok[1], "1") == 0, "unknown .expect version %s", x->tok[1]);
}

static void ex_format(expect *x)
{
    char **tok = x->tok;
    CHECK(x->c, x->fi.format_major == (unsigned)atoi(tok[1]) &&
                    x->fi.format_minor == (unsigned)atoi(tok[2]),
          "format %u.%u, expected %s.%s", x->fi.format_major, x->fi.format_minor, tok[1],
          tok[2]);
}

static void ex_alignment(expect *x)
{
    CHECK(x->c, x->fi.alignment == u64_of(x->tok[1], 10), "alignment %" PRIu64 ", expected %s",
          x->fi.alignment, x->tok[1]);
}

static void ex_generation(expect *x)
{
    CHECK(x->c, x->fi.generation == u64_of(x->tok[1], 10),
          "generation %" PRIu64 ", expected %s", x->fi.generation, x->tok[1]);
}

static void ex_file_size(expect *x)
{
    CHECK(x->c, x->fi.file_size == u64_of(x->tok[1], 10), "file_size %" PRIu64 ", expected %s",
          x->fi.file_size, x->tok[1]);
}

static void ex_index(expect *x)
{
    char **tok = x->tok;
    CHECK(x->c, x->fi.index_offset == u64_of(tok[1], 10) && x->fi.index_size == u64_of(tok[2], 10),
          "index at %" PRIu64 " size %" PRIu64 ", expected %s size %s", x->fi.index_offset,
          x->fi.index_size, tok[1], tok[2]);
    CHECK(x->c, x->fi.index_checksum == u64_of(tok[3], 16),
          "index checksum %016" PRIx64 ", expected %s", x->fi.index_checksum, tok[3]);
}

static void ex_features(expect *x)
{
    char **tok = x->tok;
    CHECK(x->c, x->fi.required_features == u64_of(tok[1], 10) &&
                    x->fi.optional_features == u64_of(tok[2], 10),
          "features %" PRIu64 "/%" PRIu64 ", expected %s/%s", x->fi.required_features,
          x->fi.optional_features, tok[1], tok[2]);
}

static void ex_stale(expect *x)
{
    CHECK(x->c, !!x->fi.checksums_stale == atoi(x->tok[1]), "checksums_stale %d, expected %s",
          x->fi.checksums_stale, x->tok[1]);
}

static void ex_inactive_damaged(expect *x)
{
    CHECK(x->c, !!x->fi.inactive_slot_damaged == atoi(x->tok[1]),
          "inactive_slot_damaged %d, expected %s", x->fi.inactive_slot_damaged, x->tok[1]);
}

static void ex_verify(expect *x)
{
    if (code_from_name(x->tok[1], &x->w->verify) != 0) {
        report(x->c, "unknown code %s", x->tok[1]);
        return;
    }
    mmarr_error e;
    memset(&e, 0, sizeof e);
    check_err(x->c, "mmarr_file_verify", mmarr_file_verify(x->f, &e), &e, x->w->verify);
}

static void ex_fmeta(expect *x)
{
    ctx *c = x->c;
    size_t kn, vn;
    unsigned char *key = unhex(x->tok[1], &kn), *val = unhex(x->tok[2], &vn);
    const char *gk = NULL, *gv = NULL;
    mmarr_error e;
    mmarr_err rc = mmarr_file_meta(x->f, x->fmeta, &gk, &gv, &e);
    CHECK(c, rc == MMARR_OK, "mmarr_file_meta(%zu) returned %s", x->fmeta, code_name(rc));
    if (rc == MMARR_OK) {
        CHECK(c, gk && strcmp(gk, (char *)key) == 0, "file meta %zu key '%s', expected '%s'",
              x->fmeta, gk ? gk : "(null)", (char *)key);
        CHECK(c, gv && strcmp(gv, (char *)val) == 0, "file meta %zu value '%s', expected '%s'",
              x->fmeta, gv ? gv : "(null)", (char *)val);
    }
    const char *got = mmarr_file_meta_get(x->f, (char *)key);
    CHECK(c, got && strcmp(got, (char *)val) == 0,
          "mmarr_file_meta_get('%s') = '%s', expected '%s'", (char *)key, got ? got : "(null)",
          (char *)val);
    x->fmeta++;
    free(key);
    free(val);
}

static void ex_arrays(expect *x)
{
    ctx *c = x->c;
    x->count = (size_t)u64_of(x->tok[1], 10);
    CHECK(c, mmarr_file_count(x->f) == x->count, "mmarr_file_count %zu, expected %zu",
          mmarr_file_count(x->f), x->count);
    CHECK(c, x->fi.count == x->count, "info.count %zu, expected %zu", x->fi.count, x->count);
    CHECK(c, x->fi.meta_count == x->fmeta, "info.meta_count %zu, expected %zu",
          x->fi.meta_count, x->fmeta);
    CHECK(c, mmarr_file_meta_get(x->f, "no such key \x01") == NULL,
          "mmarr_file_meta_get of a missing key is not NULL");
    size_t idx = 12345;
    mmarr_error e;
    mmarr_err rc = mmarr_file_find(x->f, "no such array \x01", &idx, &e);
    CHECK(c, rc == MMARR_E_NOTFOUND, "find(missing) returned %s", code_name(rc));
}

/* Arrays: "array" starts one, the lines up to "end" describe it */

static void ex_array(expect *x)
{
    ctx *c = x->c;
    mmarr_array_info *a = &x->a;
    size_t nn;
    unsigned char *name = unhex(x->tok[1], &nn);
    size_t index = x->cur++;
    x->have = 0;
    x->ameta = 0;
    x->field = 0;
    x->capacity = 0;
    x->cold = 0;
    x->offset = x->stored = 0;
    x->chunks = x->nextent = 0;
    free(x->raw);
    x->raw = NULL;
    x->raw_read = 0;
    memset(a, 0, sizeof *a);
    mmarr_error e;
    mmarr_err rc = mmarr_file_array(x->f, index, a, &e);
    CHECK(c, rc == MMARR_OK, "mmarr_file_array(%zu) returned %s", index, code_name(rc));
    if (rc == MMARR_OK) {
        x->have = 1;
        CHECK(c, a->index == index, "array %zu: info.index %zu", index, a->index);
        CHECK(c, a->name && a->name_size == nn && memcmp(a->name, name, nn) == 0 &&
                     a->name[nn] == '\0',
              "array %zu: name '%s', expected '%s'", index, a->name ? a->name : "(null)",
              (char *)name);
        size_t found = SIZE_MAX;
        rc = mmarr_file_find(x->f, (char *)name, &found, &e);
        CHECK(c, rc == MMARR_OK && found == index,
              "find('%s') returned %s index %zu, expected %zu", (char *)name, code_name(rc),
              found, index);
        mmarr_array_info b;
        rc = mmarr_file_find_array(x->f, (char *)name, &b, &e);
        CHECK(c, rc == MMARR_OK && b.index == index && b.offset == a->offset,
              "find_array('%s') returned %s", (char *)name, code_name(rc));
    }
    free(name);
}

static void ex_dtype(expect *x)
{
    ctx *c = x->c;
    const mmarr_array_info *a = &x->a;
    char **tok = x->tok;
    size_t tn;
    unsigned char *text = unhex(tok[1], &tn);
    CHECK(c, a->dtype_str && strcmp(a->dtype_str, (char *)text) == 0,
          "array %zu: dtype_str '%s', expected '%s'", a->index,
          a->dtype_str ? a->dtype_str : "(null)", (char *)text);
    if (a->dtype) {
        const char *s = mmarr_dtype_str(a->dtype);
        CHECK(c, s && strcmp(s, (char *)text) == 0,
              "array %zu: mmarr_dtype_str '%s', expected '%s'", a->index, s ? s : "(null)",
              (char *)text);
        CHECK(c, (char)mmarr_dtype_kind(a->dtype) == tok[2][0],
              "array %zu: kind '%c', expected '%c'", a->index, (char)mmarr_dtype_kind(a->dtype),
              tok[2][0]);
        CHECK(c, mmarr_dtype_itemsize(a->dtype) == u64_of(tok[3], 10),
              "array %zu: dtype itemsize %" PRIu64 ", expected %s", a->index,
              mmarr_dtype_itemsize(a->dtype), tok[3]);
        if (tok[4][0] != '?')
            CHECK(c, mmarr_dtype_byteorder(a->dtype) == tok[4][0],
                  "array %zu: byteorder '%c', expected '%c'", a->index,
                  mmarr_dtype_byteorder(a->dtype), tok[4][0]);
    } else {
        report(c, "array %zu: dtype is NULL", a->index);
    }
    CHECK(c, a->itemsize == u64_of(tok[3], 10), "array %zu: itemsize %" PRIu64 ", expected %s",
          a->index, a->itemsize, tok[3]);
    free(text);
}

static void ex_timeunit(expect *x)
{
    const mmarr_array_info *a = &x->a;
    if (!a->dtype)
        return;
    size_t un;
    unsigned char *unit = unhex(x->tok[1], &un);
    uint64_t n = 0;
    const char *got = mmarr_dtype_time_unit(a->dtype, &n);
    CHECK(x->c, got && strcmp(got, (char *)unit) == 0,
          "array %zu: time unit '%s', expected '%s'", a->index, got ? got : "(null)",
          (char *)unit);
    if (un > 0) /* the count of the generic unit is not pinned */
        CHECK(x->c, n == u64_of(x->tok[2], 10),
              "array %zu: time unit count %" PRIu64 ", expected %s", a->index, n, x->tok[2]);
    free(unit);
}

static void ex_nfields(expect *x)
{
    const mmarr_array_info *a = &x->a;
    if (!a->dtype)
        return;
    CHECK(x->c, mmarr_dtype_nfields(a->dtype) == (size_t)u64_of(x->tok[1], 10),
          "array %zu: %zu fields, expected %s", a->index, mmarr_dtype_nfields(a->dtype),
          x->tok[1]);
}

static void ex_field(expect *x)
{
    ctx *c = x->c;
    const mmarr_array_info *a = &x->a;
    char **tok = x->tok;
    if (!a->dtype)
        return;
    size_t fidx = x->field++;
    const mmarr_field *fd = mmarr_dtype_field(a->dtype, fidx);
    if (!fd) {
        report(c, "array %zu: field %zu missing", a->index, fidx);
        return;
    }
    size_t nn, tn;
    unsigned char *fname = unhex(tok[1], &nn), *ftext = unhex(tok[3], &tn);
    CHECK(c, fd->name && strcmp(fd->name, (char *)fname) == 0,
          "array %zu field %zu: name '%s', expected '%s'", a->index, fidx,
          fd->name ? fd->name : "(null)", (char *)fname);
    CHECK(c, fd->offset == u64_of(tok[2], 10),
          "array %zu field %zu: offset %" PRIu64 ", expected %s", a->index, fidx, fd->offset,
          tok[2]);
    const char *ds = fd->dtype ? mmarr_dtype_str(fd->dtype) : NULL;
    CHECK(c, ds && strcmp(ds, (char *)ftext) == 0,
          "array %zu field %zu: dtype '%s', expected '%s'", a->index, fidx, ds ? ds : "(null)",
          (char *)ftext);
    unsigned fnd = (unsigned)atoi(tok[4]);
    CHECK(c, fd->ndim == fnd, "array %zu field %zu: ndim %u, expected %u", a->index, fidx,
          fd->ndim, fnd);
    for (unsigned i = 0; i < fnd && i < fd->ndim && 5 + (int)i < x->nt; i++)
        CHECK(c, fd->shape && fd->shape[i] == u64_of(tok[5 + i], 10),
              "array %zu field %zu: subarray dim %u differs (expected %s)", a->index, fidx, i,
              tok[5 + i]);
    free(fname);
    free(ftext);
}

static void ex_shape(expect *x)
{
    ctx *c = x->c;
    const mmarr_array_info *a = &x->a;
    unsigned nd = (unsigned)atoi(x->tok[1]);
    CHECK(c, a->ndim == nd, "array %zu: ndim %u, expected %u", a->index, a->ndim, nd);
    uint64_t nitems = 1;
    for (unsigned i = 0; i < nd && 2 + (int)i < x->nt; i++) {
        uint64_t d = u64_of(x->tok[2 + i], 10);
        nitems *= d;
        if (i < a->ndim)
            CHECK(c, a->shape && a->shape[i] == d,
                  "array %zu: shape[%u] %" PRIu64 ", expected %" PRIu64, a->index, i,
                  a->shape ? a->shape[i] : 0, d);
    }
    CHECK(c, a->nitems == nitems, "array %zu: nitems %" PRIu64 ", expected %" PRIu64, a->index,
          a->nitems, nitems);
    CHECK(c, a->nbytes == nitems * a->itemsize,
          "array %zu: nbytes %" PRIu64 ", expected %" PRIu64, a->index, a->nbytes,
          nitems * a->itemsize);
}

static void ex_strides(expect *x)
{
    const mmarr_array_info *a = &x->a;
    unsigned nd = (unsigned)atoi(x->tok[1]);
    for (unsigned i = 0; i < nd && i < MMARR_MAX_DIMS && 2 + (int)i < x->nt; i++)
        CHECK(x->c, a->strides[i] == (int64_t)strtoll(x->tok[2 + i], NULL, 10),
              "array %zu: strides[%u] %" PRId64 ", expected %s", a->index, i, a->strides[i],
              x->tok[2 + i]);
}

static void ex_order(expect *x)
{
    mmarr_order o = x->tok[1][0] == 'F' ? MMARR_ORDER_F : MMARR_ORDER_C;
    CHECK(x->c, x->a.order == o, "array %zu: order %d, expected %s", x->a.index,
          (int)x->a.order, x->tok[1]);
}

static void ex_packed(expect *x)
{
    CHECK(x->c, !!x->a.packed == atoi(x->tok[1]), "array %zu: packed %d, expected %s",
          x->a.index, x->a.packed, x->tok[1]);
}

/* growable arrays (format 1.2, spec.md §7.8): the rows it may hold */
static void ex_capacity(expect *x) { x->capacity = u64_of(x->tok[1], 10); }

/* cold arrays (spec.md §10): cold <chunk_size> <chunk_count> <filter> <level> */
static void ex_cold(expect *x)
{
    const mmarr_array_info *a = &x->a;
    char **tok = x->tok;
    x->cold = 1;
    CHECK(x->c, a->chunk_size == u64_of(tok[1], 10) && a->chunk_count == u64_of(tok[2], 10),
          "array %zu: chunk_size %" PRIu64 ", chunk_count %zu, expected %s, %s", a->index,
          a->chunk_size, a->chunk_count, tok[1], tok[2]);
    CHECK(x->c, a->shuffle == atoi(tok[3]) && a->level == atoi(tok[4]),
          "array %zu: shuffle %d, level %d, expected filter %s, level %s", a->index, a->shuffle,
          a->level, tok[3], tok[4]);
}

static void ex_offset(expect *x)
{
    const mmarr_array_info *a = &x->a;
    x->offset = u64_of(x->tok[1], 10);
    CHECK(x->c, a->offset == x->offset, "array %zu: offset %" PRIu64 ", expected %s", a->index,
          a->offset, x->tok[1]);
    CHECK(x->c, a->storage == (x->cold ? MMARR_STORAGE_COLD : MMARR_STORAGE_HOT),
          "array %zu: storage %d, expected %s", a->index, (int)a->storage,
          x->cold ? "cold" : "hot");
}

static void ex_stored(expect *x)
{
    x->stored = u64_of(x->tok[1], 10);
    CHECK(x->c, x->a.stored_bytes == x->stored, "array %zu: stored_bytes %" PRIu64 ", expected %s",
          x->a.index, x->a.stored_bytes, x->tok[1]);
}

/* chunk <k> <raw_offset> <raw_size> <offset> <size> <checksum> <code>: chunk k of a cold
 * array, where its frame lies in the file, and what reading it gives */
static void ex_chunk(expect *x)
{
    ctx *c = x->c;
    const mmarr_array_info *a = &x->a;
    char **tok = x->tok;
    const size_t k = (size_t)u64_of(tok[1], 10);
    CHECK(c, k == x->chunks, "array %zu: chunk %zu, expected chunk %zu", a->index, k, x->chunks);
    x->chunks++;
    mmarr_err want;
    if (code_from_name(tok[7], &want) != 0) {
        report(c, "unknown code %s", tok[7]);
        return;
    }
    mmarr_chunk_info ci;
    mmarr_error e;
    memset(&ci, 0, sizeof ci);
    memset(&e, 0, sizeof e);
    mmarr_err rc = mmarr_file_chunk(x->f, a->index, k, &ci, &e);
    check_err(c, "mmarr_file_chunk", rc, &e, MMARR_OK);
    if (rc != MMARR_OK)
        return;
    CHECK(c,
          ci.index == k && ci.raw_offset == u64_of(tok[2], 10) &&
              ci.raw_size == u64_of(tok[3], 10) && ci.stored_offset == u64_of(tok[4], 10) &&
              ci.stored_size == u64_of(tok[5], 10) && ci.checksum == u64_of(tok[6], 16),
          "array %zu chunk %zu: raw %" PRIu64 "+%" PRIu64 ", frame %" PRIu64 "+%" PRIu64
          ", checksum %016" PRIx64 "; expected raw %s+%s, frame %s+%s, checksum %s",
          a->index, k, ci.raw_offset, ci.raw_size, ci.stored_offset, ci.stored_size, ci.checksum,
          tok[2], tok[3], tok[4], tok[5], tok[6]);
    unsigned char *buf = malloc(ci.raw_size ? (size_t)ci.raw_size : 1);
    assert_non_null(buf);
    memset(&e, 0, sizeof e);
    rc = mmarr_file_read_chunk(x->f, a->index, k, buf, &e);
    check_err(c, "mmarr_file_read_chunk", rc, &e, want);
    if (rc == MMARR_OK)
        CHECK(c, XXH3_64bits(buf, (size_t)ci.raw_size) == ci.checksum,
              "array %zu chunk %zu: the bytes read differ from its checksum", a->index, k);
    free(buf);
}

/* extent <offset> <size>: an extent of a cold growable array (spec.md §7.8), checked at
 * "end" against where the handle says the frames lie */
static void ex_extent(expect *x)
{
    if (x->nextent == sizeof x->extent / sizeof x->extent[0]) {
        report(x->c, "too many extent lines");
        return;
    }
    x->extent[x->nextent][0] = u64_of(x->tok[1], 10);
    x->extent[x->nextent][1] = u64_of(x->tok[2], 10);
    x->nextent++;
}

/* The current array's raw bytes: a hot array's in the mapping, a cold one's read whole with
 * mmarr_file_read() once (NULL, reported, when that fails). */
static const void *array_bytes(expect *x)
{
    const mmarr_array_info *a = &x->a;
    if (!x->cold)
        return a->data;
    if (!x->raw_read) {
        x->raw_read = 1;
        x->raw = malloc(a->nbytes ? (size_t)a->nbytes : 1);
        assert_non_null(x->raw);
        mmarr_error e;
        memset(&e, 0, sizeof e);
        mmarr_err rc = mmarr_file_read(x->f, a->index, 0, x->raw, a->nbytes, &e);
        CHECK(x->c, rc == MMARR_OK, "array %zu: mmarr_file_read of its %" PRIu64 " bytes: %s (%s)",
              a->index, a->nbytes, code_name(rc), rc != MMARR_OK ? e.message : "");
        if (rc != MMARR_OK) {
            free(x->raw);
            x->raw = NULL;
        }
    }
    return x->raw;
}

static void ex_checksum(expect *x)
{
    CHECK(x->c, x->a.checksum == u64_of(x->tok[1], 16),
          "array %zu: checksum %016" PRIx64 ", expected %s", x->a.index, x->a.checksum,
          x->tok[1]);
}

static void ex_data(expect *x)
{
    const mmarr_array_info *a = &x->a;
    size_t n;
    unsigned char *bytes = unhex(x->tok[1], &n);
    CHECK(x->c, a->nbytes == n, "array %zu: nbytes %" PRIu64 ", expected %zu", a->index,
          a->nbytes, n);
    if (n > 0 && a->nbytes == n) {
        const void *data = array_bytes(x);
        CHECK(x->c, data != NULL || x->cold, "array %zu: data is NULL", a->index);
        if (data)
            CHECK(x->c, memcmp(data, bytes, n) == 0, "array %zu: data bytes differ", a->index);
    }
    free(bytes);
}

static void ex_xxh3(expect *x)
{
    const mmarr_array_info *a = &x->a;
    uint64_t want = u64_of(x->tok[1], 16);
    const void *data = array_bytes(x);
    uint64_t got = data ? XXH3_64bits(data, (size_t)a->nbytes)
                        : (a->nbytes == 0 && !x->cold ? XXH3_64bits("", 0) : ~want);
    CHECK(x->c, got == want, "array %zu: XXH3 of data %016" PRIx64 ", expected %s", a->index,
          got, x->tok[1]);
}

static void ex_averify(expect *x)
{
    const mmarr_array_info *a = &x->a;
    /* One code, or a comma list of the codes the spec allows. */
    mmarr_err allowed[4];
    size_t na = 0;
    int bad = 0;
    for (char *save = NULL, *t = strtok_r(x->tok[1], ",", &save); t && na < 4;
         t = strtok_r(NULL, ",", &save))
        bad |= code_from_name(t, &allowed[na++]);
    if (bad || na == 0) {
        report(x->c, "unknown code in averify");
        return;
    }
    if (na == 1 && allowed[0] != MMARR_OK && x->w->first_averify == MMARR_OK)
        x->w->first_averify = allowed[0];
    mmarr_error e;
    memset(&e, 0, sizeof e);
    mmarr_err got = mmarr_file_verify_array(x->f, a->index, &e);
    int ok = 0;
    for (size_t i = 0; i < na; i++)
        ok |= got == allowed[i];
    CHECK(x->c, ok, "array %zu: mmarr_file_verify_array returned %s, expected %s (%s)",
          a->index, code_name(got), x->tok[1], got != MMARR_OK ? e.message : "");
    if (ok && got != MMARR_OK)
        CHECK(x->c, e.message[0] != '\0', "array %zu: verify_array: empty message", a->index);
}

static void ex_meta(expect *x)
{
    ctx *c = x->c;
    const mmarr_array_info *a = &x->a;
    size_t kn, vn;
    unsigned char *key = unhex(x->tok[1], &kn), *val = unhex(x->tok[2], &vn);
    const char *gk = NULL, *gv = NULL;
    mmarr_error e;
    mmarr_err rc = mmarr_array_meta(x->f, a->index, x->ameta, &gk, &gv, &e);
    CHECK(c, rc == MMARR_OK, "array %zu: mmarr_array_meta(%zu) returned %s", a->index, x->ameta,
          code_name(rc));
    if (rc == MMARR_OK)
        CHECK(c, gk && gv && strcmp(gk, (char *)key) == 0 && strcmp(gv, (char *)val) == 0,
              "array %zu: meta %zu is '%s'='%s', expected '%s'='%s'", a->index, x->ameta,
              gk ? gk : "(null)", gv ? gv : "(null)", (char *)key, (char *)val);
    const char *got = mmarr_array_meta_get(x->f, a->index, (char *)key);
    CHECK(c, got && strcmp(got, (char *)val) == 0,
          "array %zu: mmarr_array_meta_get('%s') = '%s', expected '%s'", a->index, (char *)key,
          got ? got : "(null)", (char *)val);
    x->ameta++;
    free(key);
    free(val);
}

static void ex_end(expect *x)
{
    ctx *c = x->c;
    const mmarr_array_info *a = &x->a;
    CHECK(c, a->meta_count == x->ameta, "array %zu: meta_count %zu, expected %zu", a->index,
          a->meta_count, x->ameta);
    CHECK(c, mmarr_array_meta_get(x->f, a->index, "no such key \x01") == NULL,
          "array %zu: meta_get of a missing key is not NULL", a->index);
    CHECK(c, a->capacity == x->capacity, "array %zu: capacity %" PRIu64 ", expected %" PRIu64,
          a->index, a->capacity, x->capacity);
    if (x->cold) {
        CHECK(c, x->chunks == a->chunk_count, "array %zu: %zu chunks described, it has %zu",
              a->index, x->chunks, a->chunk_count);
        /* every frame lies in an extent described (§7.8), or, without extent lines,
         * inside [offset, offset + stored) (§10) */
        if (x->nextent == 0) {
            x->extent[0][0] = x->offset;
            x->extent[0][1] = x->stored;
        }
        const size_t nextent = x->nextent ? x->nextent : 1;
        for (size_t k = 0; k < a->chunk_count; k++) {
            mmarr_chunk_info ci;
            if (mmarr_file_chunk(x->f, a->index, k, &ci, NULL) != MMARR_OK)
                continue;
            int in = 0;
            for (size_t j = 0; j < nextent && !in; j++)
                in = ci.stored_offset >= x->extent[j][0] && ci.stored_size <= x->extent[j][1] &&
                     ci.stored_offset - x->extent[j][0] <= x->extent[j][1] - ci.stored_size;
            CHECK(c, in, "array %zu: the frame of chunk %zu (at %" PRIu64 ") is in no extent",
                  a->index, k, ci.stored_offset);
        }
    }
    if (a->dtype && mmarr_dtype_kind(a->dtype) == MMARR_KIND_STRUCT)
        CHECK(c, x->field == mmarr_dtype_nfields(a->dtype),
              "array %zu: %zu fields described, dtype has %zu", a->index, x->field,
              mmarr_dtype_nfields(a->dtype));
    x->have = 0;
}

/* Ragged items (format 1.1, spec.md §7.7): "raggeds" announces them, "ragged" starts one,
 * the lines up to "rend" describe its offsets and items */

/* Strict UTF-8 (spec.md §7.5: no overlong forms, no surrogates, nothing above U+10FFFF), NUL
 * allowed as in a UTF8 item (§7.7). The library returns rows, not text: the test is the caller
 * that must check the text before using it. */
static int utf8_valid(const unsigned char *s, uint64_t n)
{
    for (uint64_t i = 0; i < n;) {
        const unsigned c = s[i];
        uint64_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (uint64_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

static const char *const k_kind_names[] = {"ARRAYS", "UTF8", "BYTES"};

static const char *kind_name(mmarr_ragged_kind k)
{
    return (unsigned)k < 3 ? k_kind_names[k] : "(unknown kind)";
}

static void ex_raggeds(expect *x)
{
    ctx *c = x->c;
    CHECK(c, !x->have_raggeds, "second \"raggeds\" line");
    CHECK(c, x->cur == x->count, "\"raggeds\" before the last array");
    x->have_raggeds = 1;
    x->nrag = (size_t)u64_of(x->tok[1], 10);
    CHECK(c, mmarr_file_ragged_count(x->f) == x->nrag, "mmarr_file_ragged_count %zu, expected %zu",
          mmarr_file_ragged_count(x->f), x->nrag);
    free(x->members);
    x->members = calloc(2 * x->nrag + 1, sizeof *x->members);
    assert_non_null(x->members);
}

/* ragged <name> <values> <offsets> <kind> <count> */
static void ex_ragged(expect *x)
{
    ctx *c = x->c;
    char **tok = x->tok;
    if (!x->have_raggeds || x->rk >= x->nrag) {
        report(c, "\"ragged\" line beyond the items announced by \"raggeds\"");
        return;
    }
    const size_t k = x->rk++;
    const size_t values = (size_t)u64_of(tok[2], 10), offsets = (size_t)u64_of(tok[3], 10);
    const uint64_t count = u64_of(tok[5], 10);
    mmarr_ragged_kind kind = MMARR_RAGGED_ARRAYS;
    int known = 0;
    for (unsigned i = 0; i < 3; i++)
        if (strcmp(tok[4], k_kind_names[i]) == 0)
            kind = (mmarr_ragged_kind)i, known = 1;
    CHECK(c, known, "unknown ragged kind %s", tok[4]);
    x->members[2 * k] = values;
    x->members[2 * k + 1] = offsets;
    x->rhave = 1;
    x->rvalues = values;
    x->rcount = count;
    x->rkind = kind;
    x->ritems = 0;
    x->w->ragged_items++;

    /* the record, by record number and from both of its arrays */
    mmarr_ragged_info ri;
    memset(&ri, 0, sizeof ri);
    int got = mmarr_file_ragged_at(x->f, k, &ri);
    CHECK(c, got == 1, "mmarr_file_ragged_at(%zu) returned %d", k, got);
    if (got == 1)
        CHECK(c,
              ri.values == values && ri.offsets == offsets && ri.kind == kind && ri.count == count,
              "ragged item %zu: values %zu offsets %zu kind %s count %" PRIu64
              ", expected %zu %zu %s %" PRIu64,
              k, ri.values, ri.offsets, kind_name(ri.kind), ri.count, values, offsets,
              kind_name(kind), count);
    const size_t from[2] = {values, offsets};
    for (int j = 0; j < 2; j++) {
        mmarr_ragged_info b;
        memset(&b, 0, sizeof b);
        got = mmarr_file_ragged(x->f, from[j], &b);
        CHECK(c,
              got == 1 && b.values == values && b.offsets == offsets && b.kind == kind &&
                  b.count == count,
              "mmarr_file_ragged(%zu) returned %d (values %zu offsets %zu kind %s count %" PRIu64
              ")",
              from[j], got, b.values, b.offsets, kind_name(b.kind), b.count);
    }
    CHECK(c, mmarr_file_ragged(x->f, values, NULL) == 1, "mmarr_file_ragged(%zu, NULL) is not 1",
          values);

    /* the values: the item's name, and the size of one row */
    size_t nn;
    unsigned char *name = unhex(tok[1], &nn);
    mmarr_error e;
    memset(&x->rv, 0, sizeof x->rv);
    mmarr_err rc = mmarr_file_array(x->f, values, &x->rv, &e);
    x->rv_ok = rc == MMARR_OK;
    CHECK(c, x->rv_ok, "ragged item %zu: mmarr_file_array(%zu) returned %s", k, values,
          code_name(rc));
    x->rowbytes = 0;
    if (x->rv_ok) {
        CHECK(c, x->rv.name && x->rv.name_size == nn && memcmp(x->rv.name, name, nn) == 0,
              "ragged item %zu: name '%s', expected '%s'", k, x->rv.name ? x->rv.name : "(null)",
              (char *)name);
        CHECK(c, x->rv.ndim >= 1, "ragged item %zu: values have ndim 0", k);
        if (x->rv.ndim >= 1) {
            x->rowbytes = x->rv.itemsize;
            for (unsigned d = 1; d < x->rv.ndim; d++)
                x->rowbytes *= x->rv.shape[d];
        }
        if (kind != MMARR_RAGGED_ARRAYS)
            CHECK(c,
                  x->rv.ndim == 1 && x->rv.itemsize == 1 && x->rv.dtype_str &&
                      strcmp(x->rv.dtype_str, "|u1") == 0,
                  "ragged item %zu: %s values are not 1-d |u1", k, kind_name(kind));
    }
    free(name);

    /* what the API refuses: the offsets as values, item `count` */
    const uint64_t *p = (const uint64_t *)(uintptr_t)1;
    memset(&e, 0, sizeof e);
    rc = mmarr_file_ragged_offsets(x->f, offsets, &p, &e);
    check_err(c, "mmarr_file_ragged_offsets(offsets array)", rc, &e, MMARR_E_INVAL);
    CHECK(c, p == NULL, "mmarr_file_ragged_offsets(offsets array): pointer not NULL");
    uint64_t start = 1, stop = 1;
    memset(&e, 0, sizeof e);
    rc = mmarr_file_ragged_item(x->f, values, count, &start, &stop, &e);
    check_err(c, "mmarr_file_ragged_item(count)", rc, &e, MMARR_E_RANGE);
    memset(&e, 0, sizeof e);
    rc = mmarr_file_ragged_item(x->f, offsets, 0, &start, &stop, &e);
    check_err(c, "mmarr_file_ragged_item(offsets array)", rc, &e, MMARR_E_INVAL);
}

/* roffsets <code> <n> <offsets...> */
static void ex_roffsets(expect *x)
{
    ctx *c = x->c;
    mmarr_err want;
    if (code_from_name(x->tok[1], &want) != 0) {
        report(c, "unknown code %s", x->tok[1]);
        return;
    }
    const uint64_t n = u64_of(x->tok[2], 10);
    CHECK(c, n == x->rcount + 1, "roffsets lists %" PRIu64 " offsets for %" PRIu64 " items", n,
          x->rcount);
    CHECK(c, (uint64_t)x->nt == 3 + n, "roffsets: %d values, expected %" PRIu64, x->nt - 3, n);
    /* twice: a read-only handle checks the offsets once and remembers it */
    for (int pass = 0; pass < 2; pass++) {
        const uint64_t *p = (const uint64_t *)(uintptr_t)1;
        mmarr_error e;
        memset(&e, 0, sizeof e);
        mmarr_err rc = mmarr_file_ragged_offsets(x->f, x->rvalues, &p, &e);
        check_err(c, "mmarr_file_ragged_offsets", rc, &e, want);
        if (rc != MMARR_OK) {
            CHECK(c, p == NULL, "mmarr_file_ragged_offsets failed but the pointer is not NULL");
            continue;
        }
        CHECK(c, p != NULL, "mmarr_file_ragged_offsets: NULL pointer");
        if (!p)
            continue;
        mmarr_ragged_info ri;
        if (mmarr_file_ragged(x->f, x->rvalues, &ri)) {
            mmarr_array_info o;
            if (mmarr_file_array(x->f, ri.offsets, &o, NULL) == MMARR_OK)
                CHECK(c, (const void *)p == o.data,
                      "mmarr_file_ragged_offsets: pointer is not the offsets array's data");
        }
        for (uint64_t i = 0; i < n && 3 + i < (uint64_t)x->nt; i++)
            CHECK(c, p[i] == u64_of(x->tok[3 + i], 10),
                  "offsets[%" PRIu64 "] %" PRIu64 ", expected %s", i, p[i], x->tok[3 + i]);
    }
}

/* item <i> <codes>[ <start> <stop> <hex>] */
static void ex_item(expect *x)
{
    ctx *c = x->c;
    char **tok = x->tok;
    const uint64_t i = u64_of(tok[1], 10);
    CHECK(c, i == x->ritems, "item %" PRIu64 ", expected item %" PRIu64, i, x->ritems);
    x->ritems++;
    mmarr_err allowed[4];
    size_t na = 0;
    int bad = 0;
    char codes[128];
    snprintf(codes, sizeof codes, "%s", tok[2]);
    for (char *save = NULL, *t = strtok_r(codes, ",", &save); t && na < 4;
         t = strtok_r(NULL, ",", &save))
        bad |= code_from_name(t, &allowed[na++]);
    if (bad || na == 0) {
        report(c, "unknown code in item line");
        return;
    }
    const int rows_given = x->nt >= 6;
    uint64_t start = UINT64_MAX, stop = UINT64_MAX;
    mmarr_error e;
    memset(&e, 0, sizeof e);
    mmarr_err rc = mmarr_file_ragged_item(x->f, x->rvalues, i, &start, &stop, &e);
    mmarr_err effective = rc;
    if (rc != MMARR_OK) {
        CHECK(c, e.message[0] != '\0', "item %" PRIu64 ": empty error message", i);
    } else if (!rows_given) {
        report(c,
               "item %" PRIu64 ": mmarr_file_ragged_item succeeded with rows [%" PRIu64 ", %" PRIu64
               ") but the item's rows are out of range",
               i, start, stop);
    } else {
        size_t n;
        unsigned char *bytes = unhex(tok[5], &n);
        CHECK(c, start == u64_of(tok[3], 10) && stop == u64_of(tok[4], 10),
              "item %" PRIu64 ": rows [%" PRIu64 ", %" PRIu64 "), expected [%s, %s)", i, start,
              stop, tok[3], tok[4]);
        /* the item's bytes, through the values array: in the mapping and by copy */
        const uint64_t off = start * x->rowbytes, len = (stop - start) * x->rowbytes;
        if (x->rv_ok && stop >= start && len == n && off + len <= x->rv.nbytes) {
            if (n) {
                CHECK(c,
                      x->rv.data && memcmp((const unsigned char *)x->rv.data + off, bytes, n) == 0,
                      "item %" PRIu64 ": bytes in the values differ", i);
                unsigned char *copy = malloc(n);
                assert_non_null(copy);
                mmarr_err r2 = mmarr_file_read(x->f, x->rvalues, off, copy, n, &e);
                CHECK(c, r2 == MMARR_OK && memcmp(copy, bytes, n) == 0,
                      "item %" PRIu64 ": mmarr_file_read of its bytes returned %s or differs", i,
                      code_name(r2));
                free(copy);
            }
        } else {
            report(c,
                   "item %" PRIu64 ": %" PRIu64 " bytes at %" PRIu64 " of the values (%" PRIu64
                   " bytes), expected %zu",
                   i, len, off, x->rv_ok ? x->rv.nbytes : 0, n);
        }
        /* text: the library returns rows; checking the UTF-8 is the caller's duty (§7.7) */
        if (x->rkind == MMARR_RAGGED_UTF8 && !utf8_valid(bytes, n))
            effective = MMARR_E_CORRUPT;
        free(bytes);
    }
    int ok = 0;
    for (size_t k = 0; k < na; k++)
        ok |= effective == allowed[k];
    CHECK(c, ok, "item %" PRIu64 ": mmarr_file_ragged_item returned %s%s, expected %s (%s)", i,
          code_name(rc), effective != rc ? " (text not valid UTF-8)" : "", tok[2],
          rc != MMARR_OK ? e.message : "");
}

static void ex_rend(expect *x)
{
    CHECK(x->c, x->ritems == x->rcount, "%" PRIu64 " items described, expected %" PRIu64, x->ritems,
          x->rcount);
    x->rhave = 0;
}

/* After the last line: no ragged item beyond those described; every other array is plain. */
static void check_ragged_end(expect *x)
{
    ctx *c = x->c;
    mmarr_file *f = x->f;
    const size_t n = x->have_raggeds ? x->nrag : 0;
    CHECK(c, mmarr_file_ragged_count(f) == n, "mmarr_file_ragged_count %zu, expected %zu%s",
          mmarr_file_ragged_count(f), n, x->have_raggeds ? "" : " (no ragged item described)");
    CHECK(c, x->rk == n, "%zu ragged items described, \"raggeds\" says %zu", x->rk, n);
    CHECK(c, !x->rhave, "ragged item without \"rend\"");
    mmarr_ragged_info ri;
    CHECK(c, mmarr_file_ragged_at(f, n, &ri) == 0, "mmarr_file_ragged_at(%zu) is not 0", n);
    CHECK(c, mmarr_file_ragged(f, x->count, &ri) == 0,
          "mmarr_file_ragged(%zu), past the arrays, is not 0", x->count);
    for (size_t i = 0; i < x->count; i++) {
        int member = 0;
        for (size_t k = 0; k < 2 * x->rk && !member; k++)
            member = x->members[k] == i;
        if (member)
            continue;
        CHECK(c, mmarr_file_ragged(f, i, &ri) == 0, "array %zu: mmarr_file_ragged is not 0", i);
        const uint64_t *p = (const uint64_t *)(uintptr_t)1;
        mmarr_error e;
        memset(&e, 0, sizeof e);
        mmarr_err rc = mmarr_file_ragged_offsets(f, i, &p, &e);
        CHECK(c, rc == MMARR_E_INVAL && p == NULL,
              "array %zu: mmarr_file_ragged_offsets returned %s, expected MMARR_E_INVAL", i,
              code_name(rc));
    }
}

/* keyword -> check; `tokens` counts the keyword; `scope`: where the line may appear */
enum { S_FILE, S_ARRAY, S_RAGGED };
static const struct expect_key {
    const char *keyword;
    int tokens;
    int scope;
    void (*check)(expect *x);
} k_keys[] = {
    {"mmarr-expect", 2, S_FILE, ex_version},
    {"format", 3, S_FILE, ex_format},
    {"alignment", 2, S_FILE, ex_alignment},
    {"generation", 2, S_FILE, ex_generation},
    {"file_size", 2, S_FILE, ex_file_size},
    {"index", 4, S_FILE, ex_index},
    {"features", 3, S_FILE, ex_features},
    {"stale", 2, S_FILE, ex_stale},
    {"inactive_damaged", 2, S_FILE, ex_inactive_damaged},
    {"verify", 2, S_FILE, ex_verify},
    {"fmeta", 3, S_FILE, ex_fmeta},
    {"arrays", 2, S_FILE, ex_arrays},
    {"array", 2, S_FILE, ex_array},
    {"dtype", 5, S_ARRAY, ex_dtype},
    {"timeunit", 3, S_ARRAY, ex_timeunit},
    {"nfields", 2, S_ARRAY, ex_nfields},
    {"field", 5, S_ARRAY, ex_field},
    {"shape", 2, S_ARRAY, ex_shape},
    {"strides", 2, S_ARRAY, ex_strides},
    {"order", 2, S_ARRAY, ex_order},
    {"packed", 2, S_ARRAY, ex_packed},
    {"capacity", 2, S_ARRAY, ex_capacity},
    {"cold", 5, S_ARRAY, ex_cold},
    {"offset", 2, S_ARRAY, ex_offset},
    {"stored", 2, S_ARRAY, ex_stored},
    {"checksum", 2, S_ARRAY, ex_checksum},
    {"chunk", 8, S_ARRAY, ex_chunk},
    {"extent", 3, S_ARRAY, ex_extent},
    {"data", 2, S_ARRAY, ex_data},
    {"xxh3", 2, S_ARRAY, ex_xxh3},
    {"averify", 2, S_ARRAY, ex_averify},
    {"meta", 3, S_ARRAY, ex_meta},
    {"end", 1, S_ARRAY, ex_end},
    {"raggeds", 2, S_FILE, ex_raggeds},
    {"ragged", 6, S_FILE, ex_ragged},
    {"roffsets", 3, S_RAGGED, ex_roffsets},
    {"item", 3, S_RAGGED, ex_item},
    {"rend", 1, S_RAGGED, ex_rend},
};

/* ------------------------------------------------------------------------------------------ */
/* The walk                                                                                   */

enum { MAX_TOKENS = 160 };

void check_handle(ctx *c, mmarr_file *f, const char *expect_path, walk *w)
{
    FILE *fp = fopen(expect_path, "r");
    if (!fp) {
        report(c, "cannot open %s", expect_path);
        return;
    }
    expect x;
    memset(&x, 0, sizeof x);
    x.c = c;
    x.f = f;
    x.w = w;
    mmarr_file_get_info(f, &x.fi);
    char *line = NULL;
    size_t cap = 0;
    c->line = 0;
    w->verify = MMARR_OK;
    w->first_averify = MMARR_OK;

    while (getline(&line, &cap, fp) > 0) {
        c->line++;
        line[strcspn(line, "\r\n")] = '\0';
        char *tok[MAX_TOKENS];
        int nt = 0;
        char *save = NULL, *t = strtok_r(line, " ", &save);
        for (; t && nt < MAX_TOKENS; t = strtok_r(NULL, " ", &save))
            tok[nt++] = t;
        if (t)
            report(c, "more than %d tokens on a line", MAX_TOKENS);
        if (nt == 0)
            continue;
        const struct expect_key *key = NULL;
        for (size_t i = 0; i < sizeof k_keys / sizeof k_keys[0] && !key; i++)
            if (strcmp(tok[0], k_keys[i].keyword) == 0)
                key = &k_keys[i];
        if (!key)
            report(c, "unknown .expect key '%s'", tok[0]);
        else if (nt < key->tokens)
            report(c, "malformed line (%s)", tok[0]);
        else if (key->scope == S_ARRAY && !x.have)
            report(c, "no current array for '%s'", tok[0]);
        else if (key->scope == S_RAGGED && !x.rhave)
            report(c, "no current ragged item for '%s'", tok[0]);
        else {
            x.tok = tok;
            x.nt = nt;
            key->check(&x);
        }
    }
    c->line = 0;
    CHECK(c, x.cur == x.count, "%zu arrays described, MANIFEST says %zu", x.cur, x.count);
    check_ragged_end(&x);
    free(x.members);
    free(x.raw);
    free(line);
    fclose(fp);
}
