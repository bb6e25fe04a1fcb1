/* SPDX-License-Identifier: MIT */
/*
 * info.h — the parts of mmarr-info: the command line (mmarr-info.c), the facts gathered
 * once for all outputs (info_facts.c: arrays, residency, verification, chunks), and the two
 * outputs printed from the same structs, text (info_text.c) and one JSON document
 * (info_json.c).
 */
#ifndef MMARR_TOOLS_INFO_H
#define MMARR_TOOLS_INFO_H

#include "cli_common.h"

#include <mmarr.h>

/* The command line. */
typedef struct info_opts {
    int json, verify, resident, chunks;
    uint64_t values;
    const char *path, *array;
} info_opts;

/* Residency of every array, measured before anything else reads the data (verification
 * would make it all resident). */
typedef struct residency {
    uint64_t *bytes; /* per array */
    uint64_t file_resident, file_total;
} residency;

/* Outcomes of verifying one array. MISMATCH and CORRUPT are damage (a checksum that differs;
 * a cold chunk that is not a valid zstd frame of its size); STALE may be a legitimate update
 * (spec.md §11.2); NOT_VERIFIED: this library cannot check the array. */
typedef enum vstatus {
    V_OK,
    V_MISMATCH,
    V_CORRUPT,
    V_STALE,
    V_NOT_VERIFIED,
    V_ERROR,
    V_NSTATUS
} vstatus;

typedef struct vsummary {
    uint64_t count[V_NSTATUS];
    uint64_t checked, bytes_hashed;
    double seconds;
    int slot_damaged;
} vsummary;

/* What an array's object holds beyond the table's facts when ARRAY was given; rc collects
 * a failure to read its values. */
typedef struct array_extras {
    int details;
    int chunks; /* with details: the chunk table of a cold array */
    uint64_t values;
    const residency *res;
    vsummary *verify;
    int rc;
} array_extras;

/* Names of each vstatus: JSON ("not_verified"), text label ("NOT VERIFIED"), summary. */
extern const char *const info_vstatus_name[V_NSTATUS];
extern const char *const info_vstatus_label[V_NSTATUS];
extern const char *const info_vstatus_summary[V_NSTATUS];

/* The file's content identity as spec.md §11.3 prints it:
 * generation-file_size-index_offset-index_size-index_checksum (16 hex digits). */
enum { INFO_IDENTITY_BUF = 5 * 21 };
const char *info_identity(const mmarr_file_info *fi, char buf[INFO_IDENTITY_BUF]);
/* raw / stored; 1 when nothing is stored (an empty array is not compressed). */
double info_ratio(const mmarr_array_info *a);
/* Bytes the active generation uses (superblock, arrays with their padding or reserved
 * region, index); the rest of file_size is dead space: deleted arrays, earlier indexes
 * (the gaps between its ranges larger than their alignment asks). */
uint64_t info_live_bytes(mmarr_file *f, const mmarr_file_info *fi);
const char *info_tier_name(const mmarr_array_info *a);  /* "hot", "cold" */
const char *info_order_name(const mmarr_array_info *a); /* "C", "F" */
/* Ragged items (spec.md §7.7): the kind's name ("arrays", "str", "bytes"), and what an item
 * holds, e.g. "1000 arrays of <f4 (n, 3)", "3 str", appended to sb. */
const char *info_ragged_kind_name(mmarr_ragged_kind k);
void info_ragged_describe(mmarr_file *f, const mmarr_ragged_info *r, mm_sbuf *sb);
/* A value that cannot be read is a data problem (exit 1), unless this library version just
 * cannot read that kind of array. */
int info_read_failure_rc(const mmarr_error *e);
/* Array i (an index below the count: cannot fail). */
mmarr_array_info info_array(mmarr_file *f, size_t i);
/* Residency of every array and of the file; returns an exit code. */
int info_measure_residency(mmarr_file *f, size_t count, residency *r);
/* Verify one array and account for it. Every outcome but OK leaves its message in *e. */
vstatus info_verify_one(mmarr_file *f, const mmarr_array_info *a, vsummary *s, mmarr_error *e);
/* Anything but OK, or a damaged inactive superblock slot. */
int info_verify_failed(const vsummary *s);
/* Chunk k of a cold array; an error is reported and returned as an exit code. */
int info_chunk(mmarr_file *f, const mmarr_array_info *a, size_t k, mmarr_chunk_info *c);
double info_chunk_ratio(const mmarr_chunk_info *c);
/* Metadata entry i of the file (index MMARR_ALL) or of array `index`. */
mmarr_err info_meta(mmarr_file *f, size_t index, size_t i, const char **key, const char **value);

/* The outputs; each returns an exit code (a value that could not be read). one: the ARRAY
 * argument, or NULL; res and vs: measured residency (--resident) and the verification
 * summary to fill (--verify), or NULL. */
int info_text_output(mmarr_file *f, const mmarr_file_info *fi, const info_opts *o,
                     const mmarr_array_info *one, const residency *res, vsummary *vs);
int info_json_document(mmarr_file *f, const mmarr_file_info *fi, const info_opts *o,
                       const mmarr_array_info *one, const residency *res, vsummary *vs);

#endif
