/* SPDX-License-Identifier: MIT */
/*
 * testimg.h — damaged files for the validation suites (test_validate_*.c): a small valid
 * base file, its image in memory with pointers to the on-disk structures of
 * format/mmarr_format.h (through slot A), checksums recomputed after an edit, and the result
 * opened both ways. Include it after <cmocka.h>; the helpers fail the test on any surprise.
 */
#ifndef MMARR_TESTIMG_H
#define MMARR_TESTIMG_H

#include <stddef.h>
#include <stdint.h>

#include "mmarr.h"
#include "mmarr_format.h"

/* Writer calls that must succeed (codes compared with assert_code, the writer's message
 * printed otherwise). writer_commit_ok also frees the writer. */
void writer_add_ok(mmarr_writer *w, const char *name, const char *dtype, unsigned ndim,
                   const uint64_t *shape, const void *data);
void writer_commit_ok(mmarr_writer *w);

/* The base file: alpha <f8 (1000,) 8000 B; bravo <i4 (2000,) 8000 B with metadata m1, m2;
 * gamma |u1 (5000,); file metadata k1, k2. Nothing is packed, so every array starts on a
 * 4096-byte page. */
void img_write_base(const char *path);

/* A file image in memory with pointers to its parts (through slot A). */
typedef struct img {
    unsigned char *buf;
    size_t size;
    mmarr_disk_prologue *pro;
    mmarr_disk_slot *slot;
    mmarr_disk_slot *slot_b;
    unsigned char *index;
    mmarr_disk_index_header *hdr;
    mmarr_disk_entry *ent;
    uint32_t *order;
    mmarr_disk_name *names;
    mmarr_disk_ameta *ameta;
    mmarr_disk_dtype *dtypes;
    uint64_t *dims;
    mmarr_disk_meta *meta;
    char *heap;
} img;

/* Read the file at path (generation 1, its index in slot A) into *im. */
void img_load(img *im, const char *path);
/* The base file written to <state dir>/base.mmarr and loaded into *im. */
void img_base(void **state, img *im);
void img_free(img *im);

/* Recompute a slot's own checksum. */
void img_reseal_slot(mmarr_disk_slot *s);
/* Recompute the index checksum and slot A's checksum after editing the index. */
void img_reseal(img *im);
/* Recompute the prologue checksum. */
void img_reseal_prologue(img *im);

/* The heap string equal to s (followed by its NUL); fails the test if absent. */
char *img_heap_find(img *im, const char *s);
/* Entry number of the array named s; fails the test if absent. */
size_t img_entry(img *im, const char *s);

/* Write the image to <dir>/bad.mmarr and open it with mmarr_open and mmarr_open_buffer; both
 * must return the same code (a failure: a NULL handle, e->code set, a message). With keep,
 * *keep receives the mmarr_open handle on success (NULL otherwise); else it is closed. */
mmarr_err img_open(img *im, const char *dir, mmarr_error *e, mmarr_file **keep);

typedef void (*img_mutator)(img *im);

/* Write the base file, damage it with `m`, reseal the index and slot A if `reseal`, and
 * expect `want` from both open paths (MMARR_E_CORRUPT must come with an offset). */
void img_run_corrupt(void **state, img_mutator m, mmarr_err want, int reseal);

/* One test, test_<unit>__<name>, that damages the base file with the body that follows:
 *     CORRUPT_CASE(index, misaligned_data_offset, MMARR_E_CORRUPT) { im->ent[2].data_offset += 8; }
 */
#define CORRUPT_CASE(unit, name, want)                                                       \
    static void mut_##name(img *im);                                                         \
    static void test_##unit##__##name(void **state)                                          \
    {                                                                                        \
        img_run_corrupt(state, mut_##name, want, 1);                                         \
    }                                                                                        \
    static void mut_##name(img *im)

#endif
