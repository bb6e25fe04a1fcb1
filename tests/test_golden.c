/* SPDX-License-Identifier: MIT */
/*
 * test_golden.c -- checks libmmarr against the golden vectors in format/testdata (spec.md §14).
 *
 * Walks MANIFEST. Every `ok` file must open with mmarr_open() and mmarr_open_buffer() and
 * decode to exactly what valid/<name>.expect says (file facts, arrays, dtypes, metadata, data
 * bytes, verification results, and for format 1.1 every ragged item through the ragged API:
 * records, offsets, each item's rows and bytes, and which items and offsets must fail; a file
 * that describes none must report none; the line format is described in gen_golden.py, and
 * each of its keywords is checked by one function in golden_expect.c). Every other
 * file must be refused by both open paths with the exact error code named in MANIFEST and a
 * non-empty message. Each test lists every discrepancy it finds before failing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_expect.h"
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
    size_t ragged;  /* ragged items checked, for the summary */
} golden;

static golden g_golden;

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
                  "done, %zu ragged item checks\n",
                  gd->count, gd->nvalid, gd->ninvalid, gd->checked, gd->ragged);
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
/* Valid files: each compared with its .expect file (golden_expect.c)                         */

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
    size_t n = 0, nragged = 0;
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
            walk w = {MMARR_OK, MMARR_OK, 0};
            check_handle(&c, f, xp, &w);
            nragged += w.ragged_items;
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
    gd->ragged += nragged;
    assert_true(n >= 20);
    assert_true(nragged >= 10); /* the ragged vectors are there and were walked */
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
