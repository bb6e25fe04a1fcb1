/* SPDX-License-Identifier: MIT */
/*
 * pack.h — the parts of mmarr-pack: the command line (mmarr-pack.c) fills pack_opts; the
 * plan (pack_plan.c) reads every input's header, never its data, and lists the arrays to
 * write with their names and tiers; the copy (pack_copy.c) streams each array into the
 * output. Functions returning int return 0 or an exit code (cli_common.h), or CLI_INTERRUPTED.
 */
#ifndef MMARR_TOOLS_PACK_H
#define MMARR_TOOLS_PACK_H

#include "cli_common.h"
#include "npyio.h"
#include "npzio.h"

#include <mmarr.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* Arrays up to this size are read into one reused buffer and added; larger ones are reserved
 * in the output and filled in pieces of this size. (Each reserved array keeps a mapping until
 * commit, so reserving only large arrays also keeps the count far below vm.max_map_count.) */
#define PACK_PIECE (8u << 20)
/* zstd levels: 1..22, and the fast modes down to ZSTD_minCLevel() (-(1 << 17) since zstd
 * 1.3.4). 0 is not a level here: mmarr_compress_options reads it as "the default". */
#define LEVEL_MIN (-131072)
#define LEVEL_MAX 22

/* ---- the command line ---- */

typedef struct raw_spec { /* positional options: they apply to the raw inputs that follow */
    const char *dtype;    /* NULL: a raw input is an error */
    const char *shape;
    mmarr_order order;
} raw_spec;

typedef struct input {
    const char *name; /* from NAME=PATH, or NULL */
    const char *path;
    raw_spec raw;
} input;

typedef struct kv {
    char *array;       /* --array-meta only */
    char *key;
    const char *value; /* points into argv */
} kv;

/*
 * Everything the command line sets. Options are global (fields here) or positional (raw_spec,
 * captured per input). The cold-tier options are global: which arrays go cold (--compress
 * alone: all; --cold GLOB, --cold-min-size: those selected; --hot GLOB: never) and how
 * (level, chunk size, shuffle, threads). Settings not given stay "unset", so that a re-packed
 * cold array can keep its own.
 */
typedef struct pack_opts {
    const char *output;
    uint32_t alignment; /* 0: the largest alignment of re-packed inputs, else 4096 */
    bool force, quiet, verbose, verify;
    bool append;     /* --append: add to the existing output (mmarr_writer_open_append) */
    bool skip_other; /* --skip-other */
    kv *meta, *array_meta;
    size_t nmeta, narray_meta;
    input *inputs;
    size_t ninputs;
    /* cold tier */
    bool compress;         /* --compress, --cold or --cold-min-size given */
    bool level_set;        /* --compress=LEVEL */
    int level;
    uint64_t chunk_size;   /* 0: not given */
    int shuffle;           /* -1: not given (by dtype), 0: --no-shuffle, 1: --shuffle */
    unsigned threads;      /* 0: every CPU */
    bool cold_min_set;
    uint64_t cold_min;
    const char **cold_globs, **hot_globs; /* point into argv */
    size_t ncold, nhot;
} pack_opts;


/* ---- the plan (pack_plan.c) ---- */

typedef enum src_kind { SRC_NPY, SRC_NPZ, SRC_RAW, SRC_MMARR } src_kind;

typedef struct source { /* one file to read */
    char *path;
    src_kind kind;
    size_t origin;      /* command-line input it came from */
    size_t first, count; /* its items */
} source;

typedef struct item { /* one array to write */
    char *name;
    char *dtype;        /* canonical */
    unsigned ndim;
    size_t dims_at;     /* its shape: plan.dims[dims_at .. dims_at + ndim) */
    mmarr_order order;
    uint64_t nbytes;
    size_t source;
    size_t member;      /* NPZ: entry index; MMARR: array index */
    char *member_name;  /* NPZ: the member, for messages */
    bool in_cold;       /* MMARR: stored cold in the input ... */
    mmarr_compress_options in_copts; /* ... with these settings (level, chunk_size, shuffle) */
    bool cold;          /* the output tier, decided by plan_choose_tiers() */
    mmarr_compress_options copts;    /* cold: how to compress it */
} item;

typedef struct plan {
    source *src;
    size_t nsrc;
    item *items;
    size_t n;
    uint64_t *dims; /* every item's shape, one after the other */
    size_t ndims;
    uint64_t total;
    uint32_t max_alignment;
    bool skip_other; /* --skip-other: in directories, skip files that are not arrays */
    bool quiet;      /* -q: do not list them */
    size_t nskipped; /* files skipped so */
} plan;

/* Grow *arr (of *n elements of elem bytes) by one; false when out of memory. */
bool pack_push(void **arr, size_t *n, size_t elem);
/* Add the arrays of one command-line input (file or directory) to the plan. */
int plan_input(plan *p, const input *in, size_t origin);
/* Names: valid UTF-8, no duplicates; every --array-meta names an array. */
int plan_check_names(const plan *p, const pack_opts *o);
/* Each array's tier (hot or cold) and compression settings. */
int plan_choose_tiers(plan *p, const pack_opts *o);
void plan_free(plan *p);
const uint64_t *item_shape(const plan *p, const item *it);
/* "path", or "path (member \"m\")" for messages; returns buf. */
const char *item_where(const plan *p, const item *it, char *buf, size_t n);
/* Open an input file for reading and fstat it; an error is reported (exit code returned). */
int plan_open_input(const char *path, int *fd, struct stat *st);
/* Open an .npy and parse its header; on success *fd is positioned at the data. */
int plan_open_npy(const char *path, int *fd, npy_header *h);
/* Read an npz member's header; on success the stream is positioned at the data. */
int plan_npz_member(npz_reader *z, const char *path, size_t i, const char *member,
                    uint64_t size, npz_stream **s, npy_header *h);

/* Reading an input file sequentially (an npy_read_fn); polls for signals. */
typedef struct pack_fd_reader {
    int fd;
} pack_fd_reader;
ptrdiff_t pack_fd_read(void *ctx, void *buf, size_t n, char *err, size_t errlen);

/* ---- the copy (pack_copy.c) ---- */

/* Write the planned arrays to o->output and commit it. */
int pack_write(const pack_opts *o, const plan *p);

#endif
