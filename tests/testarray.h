/* SPDX-License-Identifier: MIT */
/*
 * testarray.h — writing arrays and checking them read back (test_roundtrip.c,
 * test_layout.c, test_process.c): writer and reader calls that must succeed (they print the
 * library's message and fail the test otherwise), the full check of one array against what
 * was written, and a file holding every dtype kind of spec.md §8. Include it after
 * <cmocka.h>.
 */
#ifndef MMARR_TESTARRAY_H
#define MMARR_TESTARRAY_H

#include <stddef.h>
#include <stdint.h>

#include "mmarr.h"

uint64_t align_up(uint64_t x, uint64_t a);

/* A writer for path with opts (may be NULL) plus MMARR_WRITE_NO_SYNC; empty, no error. */
mmarr_writer *writer_new(const char *path, const mmarr_writer_options *opts);
/* mmarr_writer_add succeeds and adds one array. */
void add_ok(mmarr_writer *w, const char *name, const char *dtype, unsigned ndim,
            const uint64_t *shape, mmarr_order order, const void *data);
/* mmarr_writer_reserve succeeds; returns the reserved memory. */
void *reserve_ok(mmarr_writer *w, const char *name, const char *dtype, unsigned ndim,
                 const uint64_t *shape, mmarr_order order);
/* mmarr_writer_commit succeeds; the writer is freed. */
void commit_ok(mmarr_writer *w);
mmarr_file *open_ok(const char *path, unsigned flags);
mmarr_file *open_buffer_ok(const void *buf, size_t size);
void find_ok(mmarr_file *f, const char *name, mmarr_array_info *a);
void verify_ok(mmarr_file *f);

/* A malloc'd buffer of n pseudo-random bytes (at least 1 byte allocated). */
void *random_bytes(uint64_t n, uint64_t seed);

/* Everything a reader must report about one array written with these parameters: name,
 * dtype, itemsize, shape, numpy strides, order, sizes, checksum (XXH3-64 computed here) and
 * the data bytes. */
void check_array(const mmarr_array_info *a, const char *name, const char *dtype,
                 uint64_t itemsize, unsigned ndim, const uint64_t *shape, mmarr_order order,
                 const void *data);
/* check_array of the array found by name, which is found by index too and verifies. */
void check_found(mmarr_file *f, const char *name, const char *dtype, uint64_t itemsize,
                 unsigned ndim, const uint64_t *shape, mmarr_order order, const void *data);

/* A file of N_ALL_DTYPES 3x5 arrays "dtype/NN", one per dtype kind and spelling (C and
 * Fortran order alternately); datas[i] receives array i's malloc'd bytes. */
#define N_ALL_DTYPES 37u
void write_all_dtypes(const char *path, void **datas, const mmarr_writer_options *o);
/* The file holds exactly those arrays, each as written, and verifies. */
void check_all_dtypes(mmarr_file *f, void **datas);

#endif
