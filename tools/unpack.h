/* SPDX-License-Identifier: MIT */
/*
 * unpack.h — the parts of mmarr-unpack: the command line (mmarr-unpack.c) fills unpack_opts
 * and picks the output kind; unpack_write.c selects and checks the arrays, then writes each
 * output file to a temporary, syncs it and renames it into place.
 */
#ifndef MMARR_TOOLS_UNPACK_H
#define MMARR_TOOLS_UNPACK_H

#include "cli_common.h"

#include <mmarr.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum out_kind { OUT_NPY, OUT_DIR, OUT_NPZ } out_kind;

typedef struct unpack_opts {
    const char *file, *output;
    const char **arrays;
    size_t narrays;
    bool force, quiet, deflate, as_void, verify;
} unpack_opts;

/* The plan of unpack_write.c: one job per array to export. */
typedef struct job { /* one array to export */
    mmarr_file *f;
    mmarr_array_info a;
    unsigned char *header; /* its .npy preamble + header */
    size_t hlen;
    char *target;          /* directory mode: the file; .npz: the member name */
} job;

typedef struct unpacker {
    const unpack_opts *o;
    out_kind kind;
    mmarr_file *f;
    job *jobs;
    size_t n;
    uint64_t total;
    mode_t mode; /* for new files: 0666 & ~umask */
    cli_progress prog;
} unpacker;

/* Open o->file, select and check the arrays, write the output. Returns 0, an exit code, or
 * CLI_INTERRUPTED; u->o, u->kind and u->mode are set by the caller. */
int unpack_run(unpacker *u);

#endif
