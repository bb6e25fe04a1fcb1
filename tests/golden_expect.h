/* SPDX-License-Identifier: MIT */
/*
 * golden_expect.h — checks an open handle against a golden vector's .expect file (the line
 * format is described in format/testdata/gen_golden.py): one fact per line, a keyword and
 * its values, each keyword checked by one function of a table in golden_expect.c. Every
 * discrepancy is printed; the caller fails the test at the end.
 */
#ifndef MMARR_GOLDEN_EXPECT_H
#define MMARR_GOLDEN_EXPECT_H

#include "mmarr.h"

/* Where discrepancies are counted and what a printed one names. */
typedef struct ctx {
    const char *file; /* golden file being checked */
    const char *mode; /* "path", "buffer", "path+VERIFY", ... */
    int line;         /* line of the .expect file, 0 if none */
    int failures;
} ctx;

/* Print one discrepancy ("golden: <file> [<mode>] expect line <n>: ...") and count it. */
__attribute__((format(printf, 2, 3))) void report(ctx *c, const char *fmt, ...);

#define CHECK(c, cond, ...)                                                                     \
    do {                                                                                        \
        if (!(cond))                                                                            \
            report((c), __VA_ARGS__);                                                           \
    } while (0)

/* mmarr_err from its name ("ok" or "MMARR_E_..."); 0 on success, -1 if unknown. */
int code_from_name(const char *name, mmarr_err *out);
/* The name of a code, "(unknown code)" if none. */
const char *code_name(mmarr_err code);

/* `what` returned `got`; expect `want`, and a message with any error. */
void check_err(ctx *c, const char *what, mmarr_err got, const mmarr_error *e, mmarr_err want);

/* What the .expect file says verification gives, and what the walk covered. */
typedef struct walk {
    mmarr_err verify;        /* expected mmarr_file_verify() result */
    mmarr_err first_averify; /* first array whose only allowed verify result is an error */
    size_t ragged_items;     /* ragged items ("ragged" lines) checked */
} walk;

/* Compare an open handle with the .expect file at expect_path: file facts, every array, and
 * every ragged item (format 1.1) through the ragged API; a file whose .expect has no
 * "raggeds" line must report no ragged item at all (every 1.0 file). */
void check_handle(ctx *c, mmarr_file *f, const char *expect_path, walk *w);

#endif
