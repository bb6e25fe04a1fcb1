/* SPDX-License-Identifier: MIT */
/*
 * corruption_image.h — the files under test of the corruption matrix (test_corruption.c)
 * and what each of their bytes is: an image keeps the intact file, the role of every byte
 * (derived from spec.md offsets, not from the library) and which entry owns data bytes, plus
 * the helpers the matrix opens, reseals and describes images with. Include it after
 * <cmocka.h>.
 */
#ifndef MMARR_CORRUPTION_IMAGE_H
#define MMARR_CORRUPTION_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "mmarr.h"

/* ---- byte roles ---- */

enum role {
    R_MAGIC, R_MAJOR, R_MINOR, R_ALIGN, R_PRO_RESERVED, R_PRO_CHECKSUM,
    R_SLOT_ACTIVE, R_SLOT_INACTIVE, R_SB_RESERVED,
    R_IDX_IGNORED, R_IDX_ENTRY_SUM, R_IDX_CHUNK_SUM, R_IDX_LEVEL, R_IDX_OTHER,
    R_OLD_INDEX, R_HOT, R_PAD, R_COLD, R_GAP, R_TRAILING,
};

/* ---- an image under test ---- */

typedef struct image {
    char name[64];
    unsigned char *orig; /* the intact file */
    size_t size;
    unsigned char *role;
    uint32_t *owner;     /* entry number for data roles */
    int active;          /* 0: slot A, 1: slot B */
    int other_valid;     /* the inactive slot is valid (a fallback exists) */
    int other_empty;
    uint64_t desc;       /* description of the intact file */
    uint64_t fallback_desc;
    int has_cold;
    int has_growable; /* 1.2: the required feature GROWABLE */
    int stale;
    size_t count;
} image;

/* Little-endian u64 at p. */
uint64_t get64(const unsigned char *p);
void put64(unsigned char *p, uint64_t v);
int all_zero(const unsigned char *p, size_t n);
/* Recompute the prologue's checksum (b: the file) or a slot's (s: the slot). */
void seal_prologue(unsigned char *b);
void seal_slot(unsigned char *s);

/* mmarr_open_buffer(b, n, flags) with one validation thread; a refusal must come with
 * e->code set, a message and a NULL handle (`where` names the case when it does not). */
mmarr_err open_buf(const unsigned char *b, size_t n, unsigned flags, mmarr_file **f,
                   mmarr_error *e, const char *where);
/* A hash of everything a reader is told about the file, except the fields named in `skip`:
 * 'g' generation, 'm' format minor, 'o' optional features, 's' stale, 'l' cold levels. */
uint64_t describe(mmarr_file *f, const char *skip);
/* A file the validator accepted: every view lies inside the buffer, every call answers. */
void exercise(mmarr_file *f, const unsigned char *b, size_t n);

/* Take buf (malloc'd, size bytes; owned by the image from now on) and derive its roles. */
void image_init(image *im, const char *name, unsigned char *buf, size_t size);
void image_free(image *im);
/* The image of format/testdata/valid/<name>.mmarr. */
void load_golden(image *im, const char *name);
/* A small file with cold arrays, written here by the library (the golden cold vectors are
 * smaller and hand-laid). */
void make_cold(image *im);

#endif
