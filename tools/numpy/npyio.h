/* SPDX-License-Identifier: MIT */
/*
 * npyio.h — numpy's .npy format for the mmarr tools: a strict parser for the untrusted NPY
 * header (versions 1.0, 2.0 and 3.0) that turns numpy's `descr` into the canonical dtype text
 * of spec.md §8, and the writer side that renders a header numpy reads back exactly.
 *
 * The parser works on a buffer and never reads past `len`, so it can be fuzzed directly. It
 * accepts the Python literal subset numpy writes (dict, str with either quote and escapes,
 * tuple, list, int, True/False/None) and nothing that needs evaluation: object dtypes are
 * refused, nothing is ever unpickled. Public libmmarr API only (mmarr.h).
 *
 * Format reference: numpy/lib/format.py (NEP 1). Preamble: "\x93NUMPY", major, minor, then the
 * header length as u16 (1.0) or u32 (2.0, 3.0) little-endian; then the header text, latin-1
 * (1.0, 2.0) or UTF-8 (3.0), a dict literal padded with spaces and '\n'; then the data.
 */
#ifndef MMARR_NPYIO_H
#define MMARR_NPYIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mmarr.h>

/* Limits on untrusted headers. numpy itself refuses headers over 10000 characters unless told
 * to trust the file; structured dtypes with many fields legitimately need more, and the parser
 * is linear, so the cap is higher but still bounded. */
#define NPY_MAX_HEADER_LEN (4u << 20) /* header text bytes */
#define NPY_MAX_DEPTH 64              /* nesting of dicts, lists and tuples */
#define NPY_MAX_VALUES (1u << 20)     /* literal values in one header */
#define NPY_MAX_DIMS MMARR_MAX_DIMS
#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_PREAMBLE_MAX 12 /* magic, version, u32 length */

/* Why a header was refused. Values are stable (tests and tools switch on them). */
typedef enum npy_status {
    NPY_OK = 0,
    NPY_E_TRUNCATED = 1,   /* fewer bytes than the preamble or the declared header needs */
    NPY_E_MAGIC = 2,       /* not "\x93NUMPY" */
    NPY_E_VERSION = 3,     /* version other than 1.0, 2.0, 3.0 */
    NPY_E_HEADER_SIZE = 4, /* header length 0 or above NPY_MAX_HEADER_LEN */
    NPY_E_ENCODING = 5,    /* 3.0 header that is not valid UTF-8 */
    NPY_E_SYNTAX = 6,      /* not a literal of the accepted subset */
    NPY_E_LIMIT = 7,       /* nesting deeper than NPY_MAX_DEPTH or too many values */
    NPY_E_NOT_DICT = 8,    /* the literal is not a dict */
    NPY_E_KEYS = 9,        /* missing, unknown, duplicate or non-string keys */
    NPY_E_FORTRAN = 10,    /* fortran_order is not True or False */
    NPY_E_SHAPE = 11,      /* shape is not a tuple of 0..64 non-negative ints */
    NPY_E_OVERFLOW = 12,   /* an integer, or itemsize x product(shape), is too large */
    NPY_E_OBJECT = 13,     /* object dtype (Python objects, pickled): never loaded */
    NPY_E_DTYPE = 14,      /* descr malformed or not representable in mmarr */
    NPY_E_NOMEM = 15,
    NPY_E_IO = 16,         /* the read callback failed */
    NPY_E_DATA_SIZE = 17,  /* fewer data bytes than the header declares */
} npy_status;

/* "NPY_E_SHAPE" etc. Never NULL. */
const char *npy_status_name(npy_status st);

/* A parsed header. `dtype` is malloc'd: release with npy_header_free(). */
typedef struct npy_header {
    unsigned major, minor;
    uint64_t data_offset;      /* bytes before the data: preamble + header text */
    char *dtype;               /* canonical dtype text (spec.md §8), e.g. "<f4" */
    uint64_t itemsize;
    unsigned ndim;
    uint64_t shape[NPY_MAX_DIMS];
    bool fortran_order;
    uint64_t nbytes;           /* itemsize * product(shape), < 2^63 */
} npy_header;

void npy_header_free(npy_header *h);

/*
 * Read the preamble at the start of buf: version and the total size of preamble + header
 * (= data offset). Needs up to NPY_PREAMBLE_MAX bytes; NPY_E_TRUNCATED if buf is shorter.
 */
npy_status npy_parse_preamble(const void *buf, size_t len, unsigned *major, unsigned *minor,
                              uint64_t *data_offset, char *err, size_t errlen);

/*
 * Parse a whole header from buf (preamble + header text; bytes past the header are ignored,
 * so buf may hold the whole file). On NPY_OK *out is filled; otherwise *out holds nothing to
 * free and err holds one line saying what is wrong and where ("header byte 57: ...").
 */
npy_status npy_parse_header(const void *buf, size_t len, npy_header *out, char *err,
                            size_t errlen);

/*
 * Compare the declared data size with the `available` bytes after the header. NPY_E_DATA_SIZE
 * if there are fewer; *trailing (optional) receives the count of extra bytes numpy ignores.
 */
npy_status npy_check_data_size(const npy_header *h, uint64_t available, uint64_t *trailing,
                               char *err, size_t errlen);

/* A byte source: returns bytes read (0 at the end), or -1 with a message in err. */
typedef ptrdiff_t (*npy_read_fn)(void *ctx, void *buf, size_t n, char *err, size_t errlen);

/* Read and parse the header from a stream positioned at the start of an .npy. Consumes
 * exactly out->data_offset bytes on success. */
npy_status npy_read_header(npy_read_fn read, void *ctx, npy_header *out, char *err,
                           size_t errlen);

/*
 * numpy `descr` text for an mmarr dtype: the canonical text itself, except for the dtypes
 * numpy has no name for (bfloat16, float8_e4m3fn, float8_e5m2, also inside structs): with
 * as_void they become opaque '|V<n>' of the same size, otherwise NPY_E_DTYPE.
 * *out is malloc'd.
 */
npy_status npy_descr_from_dtype(const mmarr_dtype *dt, bool as_void, char **out, char *err,
                                size_t errlen);

/*
 * Render preamble + header for an array, byte for byte as numpy's np.save writes it: the
 * oldest version that can hold it (1.0; 2.0 over 64 KiB; 3.0 for text beyond latin-1), padded
 * with spaces and '\n' so the data starts at a multiple of 64. `descr` is numpy descr text
 * (a dtype string such as "<f4", or a structured list "[(...)]"), UTF-8. *out is malloc'd.
 */
npy_status npy_format_header(const char *descr, unsigned ndim, const uint64_t *shape,
                             bool fortran_order, unsigned char **out, size_t *len, char *err,
                             size_t errlen);

#endif
