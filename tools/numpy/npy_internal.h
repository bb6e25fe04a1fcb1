/* SPDX-License-Identifier: MIT */
/*
 * npy_internal.h — what the pieces of the numpy component share, not for its users (they
 * include npyio.h): the Python literal tree that npy_literal.c parses from the header text
 * and npy_descr.c interprets (the header's keys, shape and descr), and the error helpers.
 */
#ifndef MMARR_NPY_INTERNAL_H
#define MMARR_NPY_INTERNAL_H

#include "npyio.h"

#include <mm_common.h>

#include <stdarg.h>

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

/* "dict", "list", ... for messages, indexed by pv_kind. */
extern const char *const npy_pv_names[];

/* The parse of one header text: input, limits and the first failure. */
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

/* Record the first failure (status and "NPY header byte N: ..." in L->err); returns NULL. */
void *npy_lit_fail(lit *L, npy_status st, const char *fmt, ...) MM_PRINTF(3, 4);
/* Parse the whole header text L->s[0..n) as one literal (nothing but whitespace after it).
 * NULL on failure (L->st, L->err say why). Free the tree with npy_pv_free(). */
pyval *npy_lit_parse(lit *L);
void npy_pv_free(pyval *v);

/* Check the tree against what numpy requires (keys descr, fortran_order, shape) and fill h:
 * shape, fortran_order, and descr turned into canonical dtype text by mmarr_dtype_parse(). */
npy_status npy_header_from_tree(lit *L, const pyval *root, npy_header *h);

#endif
