/* SPDX-License-Identifier: MIT */
/*
 * values.h — array data as text, the way numpy prints it (repr of floats, complex, bytes,
 * str, datetime64, records and subarrays, in a.flat order), and text for terminals (control
 * characters escaped, widths in columns, elision). Used by mmarr-info's table, array view and
 * JSON values; everything is decoded from the bytes in the dtype's declared byte order.
 */
#ifndef MMARR_TOOLS_VALUES_H
#define MMARR_TOOLS_VALUES_H

#include "cli_common.h"

#include <mmarr.h>

/* One value's text stops growing (with "…") past this many bytes: a record with a large
 * subarray, or a |S1000000 string, must not flood the terminal. */
#define VALUE_BYTES_MAX 240

/* ---- text for terminals ---- */

/* Display columns of UTF-8 text, counted as code points. */
size_t text_cols(const char *s);
/* Append s with control characters (C0, DEL, C1) escaped ("\n", "\x01", "\u0085"). */
void text_put_display(mm_sbuf *sb, const char *s);
/* Cut sb to at most `cols` columns, ending in "…" when something was cut. */
void text_elide(mm_sbuf *sb, size_t cols);
/* Print s on stdout left- or right-aligned in `cols` columns. */
void text_left(const char *s, size_t cols);
void text_right(const char *s, size_t cols);

/* ---- values ---- */

/* numpy's tuple notation: "()", "(5,)", "(3, 4)". */
void val_put_tuple_u64(mm_sbuf *sb, unsigned n, const uint64_t *v);
void val_put_tuple_i64(mm_sbuf *sb, unsigned n, const int64_t *v);
/* The shortest decimal that names x as a binary64, as Python's repr() ("1.0", "0.1"). */
void val_put_f64(mm_sbuf *sb, double x);
/* "[i, j, k]": the index of the element with C-order number k. */
void val_put_index(mm_sbuf *sb, const mmarr_array_info *a, uint64_t k);
/* Text of one element, elided at VALUE_BYTES_MAX. */
void val_put_value(mm_sbuf *sb, const mmarr_array_info *a, const unsigned char *elem);

/* Reads the elements of one array in C order: in place from the mapping for a hot array;
 * through mmarr_file_read() for a cold one, which decompresses (and checks) the one chunk
 * that holds the element: a few values of a huge cold array cost a few chunks, not the
 * whole array. Zero-initialise with f and a set; free(buf) when done. */
typedef struct val_reader {
    mmarr_file *f;
    const mmarr_array_info *a;
    unsigned char *buf; /* one element, cold arrays only */
    mmarr_error err;    /* why the last read failed */
} val_reader;

/* Element k (C order), or NULL with the reason in r->err. */
const unsigned char *val_read(val_reader *r, uint64_t k);
/* How many values to show: min(want, the array's item count). */
uint64_t val_count(const mmarr_array_info *a, uint64_t want);

#endif
