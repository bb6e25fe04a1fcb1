/* SPDX-License-Identifier: MIT */
/*
 * test_golden.c -- checks libmmarr against the golden vectors in format/testdata (spec.md §14).
 *
 * Walks MANIFEST. Every `ok` file must open with mmarr_open() and mmarr_open_buffer() and
 * decode to exactly what valid/<name>.expect says (file facts, arrays, dtypes, metadata, data
 * bytes, verification results; the line format is described in gen_golden.py). Every other
 * file must be refused by both open paths with the exact error code named in MANIFEST and a
 * non-empty message. Each test lists every discrepancy it finds before failing.
 */
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

#include "mmarr.h"
#include "testutil.h"

/* ------------------------------------------------------------------------------------------ */
/* MANIFEST                                                                                   */

typedef struct golden_file {
    char *path;    /* relative to the testdata directory */
    char *expect;  /* "ok" or an mmarr_err name */
    char *purpose;
} golden_file;

typedef struct golden {
    const char *dir;
    golden_file *files;
    size_t count;
    size_t nvalid, ninvalid;
    size_t checked; /* open/compare passes done, for the summary */
} golden;

static golden g_golden;

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

static int code_from_name(const char *name, mmarr_err *out)
{
    for (size_t i = 0; i < sizeof k_codes / sizeof k_codes[0]; i++) {
        if (strcmp(k_codes[i].name, name) == 0) {
            *out = k_codes[i].code;
            return 0;
        }
    }
    return -1;
}

static const char *code_name(mmarr_err code)
{
    for (size_t i = 1; i < sizeof k_codes / sizeof k_codes[0]; i++)
        if (k_codes[i].code == code)
            return k_codes[i].name;
    return "(unknown code)";
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    assert_non_null(p);
    memcpy(p, s, n);
    return p;
}

static int group_setup(void **state)
{
    (void)state;
    golden *gd = &g_golden;
    memset(gd, 0, sizeof *gd);
    gd->dir = tu_testdata_dir();
    char *mpath = tu_path(gd->dir, "MANIFEST");
    size_t size = 0;
    char *text = tu_read_file(mpath, &size);
    if (!text) {
        print_error("golden: cannot read %s\n", mpath);
        free(mpath);
        return -1;
    }
    free(mpath);
    char *buf = realloc(text, size + 1);
    if (!buf) {
        free(text);
        return -1;
    }
    buf[size] = '\0';
    size_t cap = 0;
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (*line == '\0' || *line == '#')
            continue;
        char *t1 = strchr(line, '\t');
        char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2) {
            print_error("golden: malformed MANIFEST line: %s\n", line);
            free(buf);
            return -1;
        }
        *t1 = '\0';
        *t2 = '\0';
        if (gd->count == cap) {
            cap = cap ? cap * 2 : 64;
            golden_file *nf = realloc(gd->files, cap * sizeof *nf);
            if (!nf) {
                free(buf);
                return -1;
            }
            gd->files = nf;
        }
        golden_file *gf = &gd->files[gd->count++];
        gf->path = xstrdup(line);
        gf->expect = xstrdup(t1 + 1);
        gf->purpose = xstrdup(t2 + 1);
        if (strcmp(gf->expect, "ok") == 0)
            gd->nvalid++;
        else
            gd->ninvalid++;
    }
    free(buf);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    golden *gd = &g_golden;
    print_message("golden: %zu files in MANIFEST (%zu valid, %zu invalid); %zu file checks "
                  "done\n",
                  gd->count, gd->nvalid, gd->ninvalid, gd->checked);
    for (size_t i = 0; i < gd->count; i++) {
        free(gd->files[i].path);
        free(gd->files[i].expect);
        free(gd->files[i].purpose);
    }
    free(gd->files);
    memset(gd, 0, sizeof *gd);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Discrepancy reporting: every mismatch is printed, the test fails at the end.               */

typedef struct ctx {
    const char *file; /* golden file being checked */
    const char *mode; /* "path", "buffer", "path+VERIFY", ... */
    int line;         /* line of the .expect file, 0 if none */
    int failures;
} ctx;

__attribute__((format(printf, 2, 3))) static void report(ctx *c, const char *fmt, ...)
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

#define CHECK(c, cond, ...)                                                                     \
    do {                                                                                        \
        if (!(cond))                                                                            \
            report((c), __VA_ARGS__);                                                           \
    } while (0)

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
/* Valid files                                                                                */

enum { MAX_TOKENS = 80 };

typedef struct walk {
    mmarr_err verify;        /* expected mmarr_file_verify() result */
    mmarr_err first_averify; /* first array whose only allowed verify result is an error */
} walk;

static void check_err(ctx *c, const char *what, mmarr_err got, const mmarr_error *e,
                      mmarr_err want)
{
    CHECK(c, got == want, "%s returned %s, expected %s (%s)", what, code_name(got),
          code_name(want), got != MMARR_OK ? e->message : "");
    if (got != MMARR_OK && got == want)
        CHECK(c, e->message[0] != '\0', "%s: empty error message", what);
}

/* Compare an open handle with the .expect file at expect_path. */
static void check_handle(ctx *c, mmarr_file *f, const char *expect_path, walk *w)
{
    FILE *fp = fopen(expect_path, "r");
    if (!fp) {
        report(c, "cannot open %s", expect_path);
        return;
    }
    mmarr_file_info fi;
    memset(&fi, 0, sizeof fi);
    mmarr_file_get_info(f, &fi);
    mmarr_array_info a;
    memset(&a, 0, sizeof a);
    int have = 0;      /* a holds the current array */
    size_t cur = 0;    /* current array number + 1 */
    size_t fmeta = 0;  /* file metadata entries seen */
    size_t ameta = 0;  /* metadata entries of the current array seen */
    size_t field = 0;  /* fields of the current dtype seen */
    size_t count = 0;  /* from the "arrays" line */
    mmarr_error e;
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
        for (char *save = NULL, *t = strtok_r(line, " ", &save); t && nt < MAX_TOKENS;
             t = strtok_r(NULL, " ", &save))
            tok[nt++] = t;
        if (nt == 0)
            continue;
        const char *k = tok[0];
#define NEED(n)                                                                                 \
    if (nt < (n)) {                                                                             \
        report(c, "malformed line (%s)", k);                                                    \
        continue;                                                                               \
    }
#define NEED_ARRAY()                                                                            \
    if (!have) {                                                                                \
        report(c, "no current array for '%s'", k);                                              \
        continue;                                                                               \
    }
        if (strcmp(k, "mmarr-expect") == 0) {
            NEED(2);
            CHECK(c, strcmp(tok[1], "1") == 0, "unknown .expect version %s", tok[1]);
        } else if (strcmp(k, "format") == 0) {
            NEED(3);
            CHECK(c, fi.format_major == (unsigned)atoi(tok[1]) &&
                         fi.format_minor == (unsigned)atoi(tok[2]),
                  "format %u.%u, expected %s.%s", fi.format_major, fi.format_minor, tok[1],
                  tok[2]);
        } else if (strcmp(k, "alignment") == 0) {
            NEED(2);
            CHECK(c, fi.alignment == u64_of(tok[1], 10), "alignment %" PRIu64 ", expected %s",
                  fi.alignment, tok[1]);
        } else if (strcmp(k, "generation") == 0) {
            NEED(2);
            CHECK(c, fi.generation == u64_of(tok[1], 10),
                  "generation %" PRIu64 ", expected %s", fi.generation, tok[1]);
        } else if (strcmp(k, "file_size") == 0) {
            NEED(2);
            CHECK(c, fi.file_size == u64_of(tok[1], 10), "file_size %" PRIu64 ", expected %s",
                  fi.file_size, tok[1]);
        } else if (strcmp(k, "index") == 0) {
            NEED(3);
            CHECK(c, fi.index_offset == u64_of(tok[1], 10) && fi.index_size == u64_of(tok[2], 10),
                  "index at %" PRIu64 " size %" PRIu64 ", expected %s size %s", fi.index_offset,
                  fi.index_size, tok[1], tok[2]);
        } else if (strcmp(k, "features") == 0) {
            NEED(3);
            CHECK(c, fi.required_features == u64_of(tok[1], 10) &&
                         fi.optional_features == u64_of(tok[2], 10),
                  "features %" PRIu64 "/%" PRIu64 ", expected %s/%s", fi.required_features,
                  fi.optional_features, tok[1], tok[2]);
        } else if (strcmp(k, "stale") == 0) {
            NEED(2);
            CHECK(c, !!fi.checksums_stale == atoi(tok[1]), "checksums_stale %d, expected %s",
                  fi.checksums_stale, tok[1]);
        } else if (strcmp(k, "inactive_damaged") == 0) {
            NEED(2);
            CHECK(c, !!fi.inactive_slot_damaged == atoi(tok[1]),
                  "inactive_slot_damaged %d, expected %s", fi.inactive_slot_damaged, tok[1]);
        } else if (strcmp(k, "verify") == 0) {
            NEED(2);
            if (code_from_name(tok[1], &w->verify) != 0) {
                report(c, "unknown code %s", tok[1]);
                continue;
            }
            memset(&e, 0, sizeof e);
            check_err(c, "mmarr_file_verify", mmarr_file_verify(f, &e), &e, w->verify);
        } else if (strcmp(k, "fmeta") == 0) {
            NEED(3);
            size_t kn, vn;
            unsigned char *key = unhex(tok[1], &kn), *val = unhex(tok[2], &vn);
            const char *gk = NULL, *gv = NULL;
            mmarr_err rc = mmarr_file_meta(f, fmeta, &gk, &gv, &e);
            CHECK(c, rc == MMARR_OK, "mmarr_file_meta(%zu) returned %s", fmeta, code_name(rc));
            if (rc == MMARR_OK) {
                CHECK(c, gk && strcmp(gk, (char *)key) == 0, "file meta %zu key '%s', expected '%s'",
                      fmeta, gk ? gk : "(null)", (char *)key);
                CHECK(c, gv && strcmp(gv, (char *)val) == 0,
                      "file meta %zu value '%s', expected '%s'", fmeta, gv ? gv : "(null)",
                      (char *)val);
            }
            const char *got = mmarr_file_meta_get(f, (char *)key);
            CHECK(c, got && strcmp(got, (char *)val) == 0,
                  "mmarr_file_meta_get('%s') = '%s', expected '%s'", (char *)key,
                  got ? got : "(null)", (char *)val);
            fmeta++;
            free(key);
            free(val);
        } else if (strcmp(k, "arrays") == 0) {
            NEED(2);
            count = (size_t)u64_of(tok[1], 10);
            CHECK(c, mmarr_file_count(f) == count, "mmarr_file_count %zu, expected %zu",
                  mmarr_file_count(f), count);
            CHECK(c, fi.count == count, "info.count %zu, expected %zu", fi.count, count);
            CHECK(c, fi.meta_count == fmeta, "info.meta_count %zu, expected %zu", fi.meta_count,
                  fmeta);
            CHECK(c, mmarr_file_meta_get(f, "no such key \x01") == NULL,
                  "mmarr_file_meta_get of a missing key is not NULL");
            size_t idx = 12345;
            mmarr_err rc = mmarr_file_find(f, "no such array \x01", &idx, &e);
            CHECK(c, rc == MMARR_E_NOTFOUND, "find(missing) returned %s", code_name(rc));
        } else if (strcmp(k, "array") == 0) {
            NEED(2);
            size_t nn;
            unsigned char *name = unhex(tok[1], &nn);
            size_t index = cur++;
            have = 0;
            ameta = 0;
            field = 0;
            memset(&a, 0, sizeof a);
            mmarr_err rc = mmarr_file_array(f, index, &a, &e);
            CHECK(c, rc == MMARR_OK, "mmarr_file_array(%zu) returned %s", index, code_name(rc));
            if (rc == MMARR_OK) {
                have = 1;
                CHECK(c, a.index == index, "array %zu: info.index %zu", index, a.index);
                CHECK(c, a.name && a.name_size == nn && memcmp(a.name, name, nn) == 0 &&
                             a.name[nn] == '\0',
                      "array %zu: name '%s', expected '%s'", index, a.name ? a.name : "(null)",
                      (char *)name);
                size_t found = SIZE_MAX;
                rc = mmarr_file_find(f, (char *)name, &found, &e);
                CHECK(c, rc == MMARR_OK && found == index,
                      "find('%s') returned %s index %zu, expected %zu", (char *)name,
                      code_name(rc), found, index);
                mmarr_array_info b;
                rc = mmarr_file_find_array(f, (char *)name, &b, &e);
                CHECK(c, rc == MMARR_OK && b.index == index && b.offset == a.offset,
                      "find_array('%s') returned %s", (char *)name, code_name(rc));
            }
            free(name);
        } else if (strcmp(k, "dtype") == 0) {
            NEED(5);
            NEED_ARRAY();
            size_t tn;
            unsigned char *text = unhex(tok[1], &tn);
            CHECK(c, a.dtype_str && strcmp(a.dtype_str, (char *)text) == 0,
                  "array %zu: dtype_str '%s', expected '%s'", a.index,
                  a.dtype_str ? a.dtype_str : "(null)", (char *)text);
            if (a.dtype) {
                const char *s = mmarr_dtype_str(a.dtype);
                CHECK(c, s && strcmp(s, (char *)text) == 0,
                      "array %zu: mmarr_dtype_str '%s', expected '%s'", a.index,
                      s ? s : "(null)", (char *)text);
                CHECK(c, (char)mmarr_dtype_kind(a.dtype) == tok[2][0],
                      "array %zu: kind '%c', expected '%c'", a.index,
                      (char)mmarr_dtype_kind(a.dtype), tok[2][0]);
                CHECK(c, mmarr_dtype_itemsize(a.dtype) == u64_of(tok[3], 10),
                      "array %zu: dtype itemsize %" PRIu64 ", expected %s", a.index,
                      mmarr_dtype_itemsize(a.dtype), tok[3]);
                if (tok[4][0] != '?')
                    CHECK(c, mmarr_dtype_byteorder(a.dtype) == tok[4][0],
                          "array %zu: byteorder '%c', expected '%c'", a.index,
                          mmarr_dtype_byteorder(a.dtype), tok[4][0]);
            } else {
                report(c, "array %zu: dtype is NULL", a.index);
            }
            CHECK(c, a.itemsize == u64_of(tok[3], 10), "array %zu: itemsize %" PRIu64
                  ", expected %s", a.index, a.itemsize, tok[3]);
            free(text);
        } else if (strcmp(k, "timeunit") == 0) {
            NEED(3);
            NEED_ARRAY();
            if (!a.dtype)
                continue;
            size_t un;
            unsigned char *unit = unhex(tok[1], &un);
            uint64_t n = 0;
            const char *got = mmarr_dtype_time_unit(a.dtype, &n);
            CHECK(c, got && strcmp(got, (char *)unit) == 0, "array %zu: time unit '%s', "
                  "expected '%s'", a.index, got ? got : "(null)", (char *)unit);
            if (un > 0) /* the count of the generic unit is not pinned */
                CHECK(c, n == u64_of(tok[2], 10), "array %zu: time unit count %" PRIu64
                      ", expected %s", a.index, n, tok[2]);
            free(unit);
        } else if (strcmp(k, "nfields") == 0) {
            NEED(2);
            NEED_ARRAY();
            if (!a.dtype)
                continue;
            CHECK(c, mmarr_dtype_nfields(a.dtype) == (size_t)u64_of(tok[1], 10),
                  "array %zu: %zu fields, expected %s", a.index, mmarr_dtype_nfields(a.dtype),
                  tok[1]);
        } else if (strcmp(k, "field") == 0) {
            NEED(5);
            NEED_ARRAY();
            if (!a.dtype)
                continue;
            size_t fidx = field++;
            const mmarr_field *fd = mmarr_dtype_field(a.dtype, fidx);
            if (!fd) {
                report(c, "array %zu: field %zu missing", a.index, fidx);
                continue;
            }
            size_t nn, tn;
            unsigned char *fname = unhex(tok[1], &nn), *ftext = unhex(tok[3], &tn);
            CHECK(c, fd->name && strcmp(fd->name, (char *)fname) == 0,
                  "array %zu field %zu: name '%s', expected '%s'", a.index, fidx,
                  fd->name ? fd->name : "(null)", (char *)fname);
            CHECK(c, fd->offset == u64_of(tok[2], 10),
                  "array %zu field %zu: offset %" PRIu64 ", expected %s", a.index, fidx,
                  fd->offset, tok[2]);
            const char *ds = fd->dtype ? mmarr_dtype_str(fd->dtype) : NULL;
            CHECK(c, ds && strcmp(ds, (char *)ftext) == 0,
                  "array %zu field %zu: dtype '%s', expected '%s'", a.index, fidx,
                  ds ? ds : "(null)", (char *)ftext);
            unsigned fnd = (unsigned)atoi(tok[4]);
            CHECK(c, fd->ndim == fnd, "array %zu field %zu: ndim %u, expected %u", a.index,
                  fidx, fd->ndim, fnd);
            for (unsigned i = 0; i < fnd && i < fd->ndim && 5 + (int)i < nt; i++)
                CHECK(c, fd->shape && fd->shape[i] == u64_of(tok[5 + i], 10),
                      "array %zu field %zu: subarray dim %u differs (expected %s)", a.index,
                      fidx, i, tok[5 + i]);
            free(fname);
            free(ftext);
        } else if (strcmp(k, "shape") == 0) {
            NEED(2);
            NEED_ARRAY();
            unsigned nd = (unsigned)atoi(tok[1]);
            CHECK(c, a.ndim == nd, "array %zu: ndim %u, expected %u", a.index, a.ndim, nd);
            uint64_t nitems = 1;
            for (unsigned i = 0; i < nd && 2 + (int)i < nt; i++) {
                uint64_t d = u64_of(tok[2 + i], 10);
                nitems *= d;
                if (i < a.ndim)
                    CHECK(c, a.shape && a.shape[i] == d,
                          "array %zu: shape[%u] %" PRIu64 ", expected %" PRIu64, a.index, i,
                          a.shape ? a.shape[i] : 0, d);
            }
            CHECK(c, a.nitems == nitems, "array %zu: nitems %" PRIu64 ", expected %" PRIu64,
                  a.index, a.nitems, nitems);
            CHECK(c, a.nbytes == nitems * a.itemsize,
                  "array %zu: nbytes %" PRIu64 ", expected %" PRIu64, a.index, a.nbytes,
                  nitems * a.itemsize);
        } else if (strcmp(k, "strides") == 0) {
            NEED(2);
            NEED_ARRAY();
            unsigned nd = (unsigned)atoi(tok[1]);
            for (unsigned i = 0; i < nd && i < MMARR_MAX_DIMS && 2 + (int)i < nt; i++)
                CHECK(c, a.strides[i] == (int64_t)strtoll(tok[2 + i], NULL, 10),
                      "array %zu: strides[%u] %" PRId64 ", expected %s", a.index, i,
                      a.strides[i], tok[2 + i]);
        } else if (strcmp(k, "order") == 0) {
            NEED(2);
            NEED_ARRAY();
            mmarr_order o = tok[1][0] == 'F' ? MMARR_ORDER_F : MMARR_ORDER_C;
            CHECK(c, a.order == o, "array %zu: order %d, expected %s", a.index, (int)a.order,
                  tok[1]);
        } else if (strcmp(k, "packed") == 0) {
            NEED(2);
            NEED_ARRAY();
            CHECK(c, !!a.packed == atoi(tok[1]), "array %zu: packed %d, expected %s", a.index,
                  a.packed, tok[1]);
        } else if (strcmp(k, "offset") == 0) {
            NEED(2);
            NEED_ARRAY();
            CHECK(c, a.offset == u64_of(tok[1], 10), "array %zu: offset %" PRIu64
                  ", expected %s", a.index, a.offset, tok[1]);
            CHECK(c, a.storage == MMARR_STORAGE_HOT, "array %zu: storage %d, expected hot",
                  a.index, (int)a.storage);
        } else if (strcmp(k, "stored") == 0) {
            NEED(2);
            NEED_ARRAY();
            CHECK(c, a.stored_bytes == u64_of(tok[1], 10), "array %zu: stored_bytes %" PRIu64
                  ", expected %s", a.index, a.stored_bytes, tok[1]);
        } else if (strcmp(k, "checksum") == 0) {
            NEED(2);
            NEED_ARRAY();
            CHECK(c, a.checksum == u64_of(tok[1], 16), "array %zu: checksum %016" PRIx64
                  ", expected %s", a.index, a.checksum, tok[1]);
        } else if (strcmp(k, "data") == 0) {
            NEED(2);
            NEED_ARRAY();
            size_t n;
            unsigned char *bytes = unhex(tok[1], &n);
            CHECK(c, a.nbytes == n, "array %zu: nbytes %" PRIu64 ", expected %zu", a.index,
                  a.nbytes, n);
            if (n > 0 && a.nbytes == n) {
                CHECK(c, a.data != NULL, "array %zu: data is NULL", a.index);
                if (a.data)
                    CHECK(c, memcmp(a.data, bytes, n) == 0, "array %zu: data bytes differ",
                          a.index);
            }
            free(bytes);
        } else if (strcmp(k, "xxh3") == 0) {
            NEED(2);
            NEED_ARRAY();
            uint64_t want = u64_of(tok[1], 16);
            uint64_t got = a.data ? XXH3_64bits(a.data, (size_t)a.nbytes)
                                  : (a.nbytes == 0 ? XXH3_64bits("", 0) : ~want);
            CHECK(c, got == want, "array %zu: XXH3 of data %016" PRIx64 ", expected %s",
                  a.index, got, tok[1]);
        } else if (strcmp(k, "averify") == 0) {
            NEED(2);
            NEED_ARRAY();
            /* One code, or a comma list of the codes the spec allows. */
            mmarr_err allowed[4];
            size_t na = 0;
            int bad = 0;
            for (char *save = NULL, *t = strtok_r(tok[1], ",", &save); t && na < 4;
                 t = strtok_r(NULL, ",", &save))
                bad |= code_from_name(t, &allowed[na++]);
            if (bad || na == 0) {
                report(c, "unknown code in averify");
                continue;
            }
            if (na == 1 && allowed[0] != MMARR_OK && w->first_averify == MMARR_OK)
                w->first_averify = allowed[0];
            memset(&e, 0, sizeof e);
            mmarr_err got = mmarr_file_verify_array(f, a.index, &e);
            int ok = 0;
            for (size_t i = 0; i < na; i++)
                ok |= got == allowed[i];
            CHECK(c, ok, "array %zu: mmarr_file_verify_array returned %s, expected %s (%s)",
                  a.index, code_name(got), tok[1], got != MMARR_OK ? e.message : "");
            if (ok && got != MMARR_OK)
                CHECK(c, e.message[0] != '\0', "array %zu: verify_array: empty message",
                      a.index);
        } else if (strcmp(k, "meta") == 0) {
            NEED(3);
            NEED_ARRAY();
            size_t kn, vn;
            unsigned char *key = unhex(tok[1], &kn), *val = unhex(tok[2], &vn);
            const char *gk = NULL, *gv = NULL;
            mmarr_err rc = mmarr_array_meta(f, a.index, ameta, &gk, &gv, &e);
            CHECK(c, rc == MMARR_OK, "array %zu: mmarr_array_meta(%zu) returned %s", a.index,
                  ameta, code_name(rc));
            if (rc == MMARR_OK)
                CHECK(c, gk && gv && strcmp(gk, (char *)key) == 0 &&
                             strcmp(gv, (char *)val) == 0,
                      "array %zu: meta %zu is '%s'='%s', expected '%s'='%s'", a.index, ameta,
                      gk ? gk : "(null)", gv ? gv : "(null)", (char *)key, (char *)val);
            const char *got = mmarr_array_meta_get(f, a.index, (char *)key);
            CHECK(c, got && strcmp(got, (char *)val) == 0,
                  "array %zu: mmarr_array_meta_get('%s') = '%s', expected '%s'", a.index,
                  (char *)key, got ? got : "(null)", (char *)val);
            ameta++;
            free(key);
            free(val);
        } else if (strcmp(k, "end") == 0) {
            NEED_ARRAY();
            CHECK(c, a.meta_count == ameta, "array %zu: meta_count %zu, expected %zu", a.index,
                  a.meta_count, ameta);
            CHECK(c, mmarr_array_meta_get(f, a.index, "no such key \x01") == NULL,
                  "array %zu: meta_get of a missing key is not NULL", a.index);
            if (a.dtype && mmarr_dtype_kind(a.dtype) == MMARR_KIND_STRUCT)
                CHECK(c, field == mmarr_dtype_nfields(a.dtype),
                      "array %zu: %zu fields described, dtype has %zu", a.index, field,
                      mmarr_dtype_nfields(a.dtype));
            have = 0;
        } else {
            report(c, "unknown .expect key '%s'", k);
        }
#undef NEED
#undef NEED_ARRAY
    }
    c->line = 0;
    CHECK(c, cur == count, "%zu arrays described, MANIFEST says %zu", cur, count);
    free(line);
    fclose(fp);
}

/* valid/x.mmarr -> <dir>/valid/x.expect (malloc'd) */
static char *expect_path_for(const char *dir, const char *rel)
{
    char *full = tu_path(dir, rel);
    assert_non_null(full);
    char *dot = strrchr(full, '.');
    assert_non_null(dot);
    *dot = '\0';
    size_t n = strlen(full) + sizeof ".expect";
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%s.expect", full);
    free(full);
    return out;
}

enum open_mode { OPEN_PATH, OPEN_BUFFER, OPEN_PATH_VERIFY, OPEN_BUFFER_VERIFY };
static const char *const k_mode_names[] = {"mmarr_open", "mmarr_open_buffer",
                                           "mmarr_open+VERIFY", "mmarr_open_buffer+VERIFY"};

/* Open `rel` the given way; returns the code, *out the handle, *buf the buffer to free. */
static mmarr_err open_as(enum open_mode mode, const char *full, mmarr_file **out, void **buf,
                         mmarr_error *e)
{
    unsigned flags = (mode == OPEN_PATH_VERIFY || mode == OPEN_BUFFER_VERIFY)
                         ? MMARR_OPEN_VERIFY : 0u;
    *buf = NULL;
    memset(e, 0, sizeof *e);
    if (mode == OPEN_PATH || mode == OPEN_PATH_VERIFY)
        return mmarr_open(full, flags, out, e);
    size_t size = 0;
    *buf = tu_read_file(full, &size);
    assert_non_null(*buf);
    return mmarr_open_buffer(*buf, size, flags, out, e);
}

static int run_valid(enum open_mode mode)
{
    golden *gd = &g_golden;
    int failures = 0;
    size_t n = 0;
    for (size_t i = 0; i < gd->count; i++) {
        golden_file *gf = &gd->files[i];
        if (strcmp(gf->expect, "ok") != 0)
            continue;
        ctx c = {gf->path, k_mode_names[mode], 0, 0};
        char *full = tu_path(gd->dir, gf->path);
        char *xp = expect_path_for(gd->dir, gf->path);
        mmarr_file *f = NULL;
        void *buf = NULL;
        mmarr_error e;
        enum open_mode base =
            (mode == OPEN_BUFFER || mode == OPEN_BUFFER_VERIFY) ? OPEN_BUFFER : OPEN_PATH;
        c.mode = k_mode_names[base];
        mmarr_err rc = open_as(base, full, &f, &buf, &e);
        if (rc != MMARR_OK) {
            report(&c, "open failed: %s (%s) -- purpose: %s", code_name(rc), e.message,
                   gf->purpose);
        } else {
            walk w = {MMARR_OK, MMARR_OK};
            check_handle(&c, f, xp, &w);
            mmarr_close(f);
            free(buf);
            buf = NULL;
            if (mode == OPEN_PATH_VERIFY || mode == OPEN_BUFFER_VERIFY) {
                /* With MMARR_OPEN_VERIFY, open itself verifies every array checksum. Only
                 * the outcomes the API pins are checked: success when everything verifies,
                 * and the per-array failure (stale or checksum) otherwise. */
                mmarr_err want = w.first_averify;
                if (want != MMARR_OK || w.verify == MMARR_OK) {
                    c.mode = k_mode_names[mode];
                    f = NULL;
                    rc = open_as(mode, full, &f, &buf, &e);
                    check_err(&c, c.mode, rc, &e, want);
                    if (rc != MMARR_OK)
                        CHECK(&c, f == NULL, "handle not NULL after a failed open");
                    mmarr_close(f);
                }
            }
        }
        free(buf);
        free(full);
        free(xp);
        failures += c.failures;
        n++;
    }
    gd->checked += n;
    assert_true(n >= 20);
    return failures;
}

static void test_golden__manifest_lists_existing_files(void **state)
{
    (void)state;
    golden *gd = &g_golden;
    int failures = 0;
    for (size_t i = 0; i < gd->count; i++) {
        golden_file *gf = &gd->files[i];
        ctx c = {gf->path, "manifest", 0, 0};
        mmarr_err code;
        CHECK(&c, code_from_name(gf->expect, &code) == 0, "unknown expect '%s'", gf->expect);
        CHECK(&c, gf->purpose[0] != '\0', "empty purpose");
        char *full = tu_path(gd->dir, gf->path);
        FILE *fp = fopen(full, "rb");
        CHECK(&c, fp != NULL, "file missing: %s", full);
        if (fp)
            fclose(fp);
        free(full);
        if (strcmp(gf->expect, "ok") == 0) {
            char *xp = expect_path_for(gd->dir, gf->path);
            fp = fopen(xp, "r");
            CHECK(&c, fp != NULL, "description missing: %s", xp);
            if (fp)
                fclose(fp);
            free(xp);
        }
        failures += c.failures;
    }
    assert_true(gd->nvalid >= 20);
    assert_true(gd->ninvalid >= 20);
    assert_int_equal(failures, 0);
}

static void test_golden__valid_files_decode_via_open(void **state)
{
    (void)state;
    assert_int_equal(run_valid(OPEN_PATH), 0);
}

static void test_golden__valid_files_decode_via_open_buffer(void **state)
{
    (void)state;
    assert_int_equal(run_valid(OPEN_BUFFER), 0);
}

static void test_golden__valid_files_open_with_verify_flag(void **state)
{
    (void)state;
    int failures = run_valid(OPEN_PATH_VERIFY);
    failures += run_valid(OPEN_BUFFER_VERIFY);
    assert_int_equal(failures, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Invalid files                                                                              */

static int run_invalid(enum open_mode mode)
{
    golden *gd = &g_golden;
    int failures = 0;
    size_t n = 0;
    for (size_t i = 0; i < gd->count; i++) {
        golden_file *gf = &gd->files[i];
        mmarr_err want;
        if (strcmp(gf->expect, "ok") == 0 || code_from_name(gf->expect, &want) != 0)
            continue;
        ctx c = {gf->path, k_mode_names[mode], 0, 0};
        char *full = tu_path(gd->dir, gf->path);
        mmarr_file *sentinel = (mmarr_file *)(void *)&c;
        mmarr_file *f = sentinel;
        void *buf = NULL;
        mmarr_error e;
        mmarr_err rc = open_as(mode, full, &f, &buf, &e);
        if (rc != want) {
            report(&c, "returned %s, expected %s -- %s -- purpose: %s", code_name(rc),
                   gf->expect, rc == MMARR_OK ? "(opened)" : e.message, gf->purpose);
        } else {
            CHECK(&c, e.code == want, "mmarr_error.code %s, expected %s", code_name(e.code),
                  gf->expect);
            CHECK(&c, memchr(e.message, '\0', sizeof e.message) != NULL && e.message[0] != '\0',
                  "empty error message");
            CHECK(&c, f == NULL, "handle not set to NULL on failure");
        }
        if (rc == MMARR_OK && f != sentinel)
            mmarr_close(f);
        free(buf);
        free(full);
        failures += c.failures;
        n++;
    }
    gd->checked += n;
    assert_true(n >= 20);
    return failures;
}

static void test_golden__invalid_files_refused_by_open(void **state)
{
    (void)state;
    assert_int_equal(run_invalid(OPEN_PATH), 0);
}

static void test_golden__invalid_files_refused_by_open_buffer(void **state)
{
    (void)state;
    assert_int_equal(run_invalid(OPEN_BUFFER), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden__manifest_lists_existing_files),
        cmocka_unit_test(test_golden__valid_files_decode_via_open),
        cmocka_unit_test(test_golden__valid_files_decode_via_open_buffer),
        cmocka_unit_test(test_golden__valid_files_open_with_verify_flag),
        cmocka_unit_test(test_golden__invalid_files_refused_by_open),
        cmocka_unit_test(test_golden__invalid_files_refused_by_open_buffer),
    };
    return cmocka_run_group_tests_name("golden", tests, group_setup, group_teardown);
}
