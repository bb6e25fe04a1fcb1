/* SPDX-License-Identifier: MIT */
/*
 * mmarr-pack — pack .npy, .npz, raw binary and .mmarr inputs (files or whole directories)
 * into one mmarr file. Public libmmarr API only.
 *
 * Two phases. The plan reads every input's header (never its data) and lists the arrays to
 * write, so naming problems, duplicates, unknown --array-meta targets and bad inputs are
 * reported before any output exists, and the progress total is known; it also decides each
 * array's tier (hot or cold) and compression settings. The copy then streams each array into
 * the output: small hot ones through one bounded buffer (mmarr_writer_add), large hot ones
 * straight into their reserved place in the output mapping (mmarr_writer_reserve), cold ones
 * through the streaming writer (mmarr_writer_begin/_write/_end), which compresses as the
 * pieces arrive; cold inputs are read back with mmarr_file_read a few chunks at a time. So
 * memory stays bounded whatever the input size. The writer publishes atomically at commit;
 * on any failure or signal it is freed, which removes its temporary file.
 */
#include "cli_common.h"
#include "npyio.h"
#include "npzio.h"

#include <mmarr.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#ifdef MMARR_HAVE_XXH_DISPATCH
#include <xxh_x86dispatch.h> /* AVX2/AVX-512 where the CPU has them */
#endif

/* Arrays up to this size are read into one reused buffer and added; larger ones are reserved
 * in the output and filled in pieces of this size. (Each reserved array keeps a mapping until
 * commit, so reserving only large arrays also keeps the count far below vm.max_map_count.) */
#define PACK_PIECE (8u << 20)
#define EXIT_INTERRUPTED (-1)
#define EXIT_DONE (-2) /* --help or --version handled */
/* zstd levels: 1..22, and the fast modes down to ZSTD_minCLevel() (-(1 << 17) since zstd
 * 1.3.4). 0 is not a level here: mmarr_compress_options reads it as "the default". */
#define LEVEL_MIN (-131072)
#define LEVEL_MAX 22
#define CHUNK_SIZE_MAX (1ull << 30) /* spec.md §10.1 */
#define THREADS_MAX 4096

/* ------------------------------------------------------------------------------------------ */
/* Command line                                                                               */

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

static void usage(FILE *out)
{
    fprintf(out,
"Usage: %s [OPTIONS] -o OUTPUT.mmarr INPUT...\n"
"Pack numpy arrays, raw binary files and mmarr files into one mmarr file.\n"
"\n"
"INPUT is PATH or NAME=PATH. PATH is recognised by its content:\n"
"  .npy          one array, named NAME or the file name without its extension\n"
"  .npz          every .npy member, named after the member (without .npy), as NAME/member\n"
"                when NAME is given\n"
"  .mmarr        every array with its metadata and the file's metadata (re-pack); NAME/\n"
"                prefixes the names\n"
"  directory     every file below it (recursively, in sorted order, hidden entries\n"
"                skipped), named by its relative path without extension, under NAME/\n"
"  anything else raw bytes, with the --dtype and --shape given before it\n"
"\n"
"Options:\n"
"  -o, --output FILE        the mmarr file to write (published atomically)\n"
"  -f, --force              replace OUTPUT if it exists\n"
"  -a, --alignment SIZE     array alignment, a power of two from 4K to 2M (default 4096,\n"
"                           or the largest alignment of the .mmarr inputs)\n"
"  -m, --meta KEY=VALUE     file metadata (repeatable; overrides re-packed metadata)\n"
"      --array-meta NAME:KEY=VALUE\n"
"                           metadata for array NAME (repeatable; NAME may contain ':',\n"
"                           KEY may not)\n"
"      --no-verify          do not verify checksums of re-packed .mmarr arrays\n"
"  -q, --quiet              no progress display\n"
"  -v, --verbose            list each array on stderr as it is packed, then its tier,\n"
"                           raw and stored sizes and compression ratio\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n"
"\n"
"Cold tier (arrays stored as zstd-compressed chunks):\n"
"      --compress[=LEVEL]   store arrays cold: every array, or with --cold or\n"
"                           --cold-min-size the ones they select; LEVEL is zstd's, 1 to\n"
"                           22, or -1 to -131072 for the fast modes (default 3)\n"
"      --cold GLOB          store arrays whose name matches GLOB cold (repeatable; '*'\n"
"                           also matches '/'); implies --compress\n"
"      --cold-min-size SIZE store arrays of SIZE raw bytes or more cold; implies --compress\n"
"      --hot GLOB           store arrays whose name matches GLOB hot (repeatable; wins\n"
"                           over the options above)\n"
"      --chunk-size SIZE    raw bytes per chunk, 1 to 1G (default 1M)\n"
"      --shuffle            byte-shuffle every cold array's chunks by item size\n"
"      --no-shuffle         never byte-shuffle (default: shuffle numbers of 2 bytes or\n"
"                           more: integers, floats, complex, datetime64, timedelta64)\n"
"      --threads N          compression threads (default 0: one per CPU)\n"
"  Arrays no tier option selects keep their input's tier (a re-packed cold array stays\n"
"  cold, with its own level, chunk size and shuffle unless given here); .npy, .npz and\n"
"  raw inputs are hot.\n"
"\n"
"Raw input options apply to every raw input after them on the command line:\n"
"  -t, --dtype DTYPE        element type: '<f4', 'float32', '>i8', '|S6', '<M8[ns]',\n"
"                           \"[('a', '<i4'), ('b', '<f8')]\" ...\n"
"  -s, --shape DIMS         e.g. 1000,3 or (1000, 3); one dimension may be -1 (inferred\n"
"                           from the file size; the default shape is -1); \"\" for 0-d\n"
"      --order C|F          element order (default C)\n"
"\n"
"Examples:\n"
"  %s -o data.mmarr images.npy labels.npy\n"
"  %s -o data.mmarr train=train.npz test=test.npz      # train/x, train/y, test/x ...\n"
"  %s -o data.mmarr --meta source=sensor-7 dataset/\n"
"  %s -o data.mmarr -t '<f4' -s -1,3 points=points.bin\n"
"  %s -o new.mmarr -a 2M --force old.mmarr             # re-pack with 2 MiB alignment\n"
"  %s --cold-min-size 64M --compress=5 -o data.mmarr inputs/\n"
"  %s --hot '*' -o hot.mmarr cold.mmarr               # decompress every array\n"
"\n"
"Exit status: 0 success, 1 data problem (unreadable, corrupt or unsupported input, existing\n"
"output, I/O failure), 2 usage error. Interrupted by a signal, it leaves no output behind\n"
"and ends by that signal.\n",
            cli_progname(), cli_progname(), cli_progname(), cli_progname(), cli_progname(),
            cli_progname(), cli_progname(), cli_progname());
}

enum {
    OPT_ARRAY_META = 256,
    OPT_ORDER,
    OPT_NO_VERIFY,
    OPT_COMPRESS,
    OPT_COLD,
    OPT_COLD_MIN_SIZE,
    OPT_HOT,
    OPT_CHUNK_SIZE,
    OPT_SHUFFLE,
    OPT_NO_SHUFFLE,
    OPT_THREADS,
};

static const struct option long_opts[] = {
    {"output", required_argument, NULL, 'o'},
    {"force", no_argument, NULL, 'f'},
    {"alignment", required_argument, NULL, 'a'},
    {"meta", required_argument, NULL, 'm'},
    {"array-meta", required_argument, NULL, OPT_ARRAY_META},
    {"no-verify", no_argument, NULL, OPT_NO_VERIFY},
    {"compress", optional_argument, NULL, OPT_COMPRESS},
    {"cold", required_argument, NULL, OPT_COLD},
    {"cold-min-size", required_argument, NULL, OPT_COLD_MIN_SIZE},
    {"hot", required_argument, NULL, OPT_HOT},
    {"chunk-size", required_argument, NULL, OPT_CHUNK_SIZE},
    {"shuffle", no_argument, NULL, OPT_SHUFFLE},
    {"no-shuffle", no_argument, NULL, OPT_NO_SHUFFLE},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"dtype", required_argument, NULL, 't'},
    {"shape", required_argument, NULL, 's'},
    {"order", required_argument, NULL, OPT_ORDER},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static bool push(void **arr, size_t *n, size_t elem)
{
    void *p = realloc(*arr, (*n + 1) * elem);
    if (!p)
        return false;
    *arr = p;
    return true;
}

static int oom(void)
{
    cli_error("out of memory");
    return CLI_EXIT_DATA;
}

/* KEY=VALUE, or NAME:KEY=VALUE (split at the first '=', then at the last ':' before it). */
static int parse_kv(const char *arg, bool with_array, kv *out)
{
    const char *opt = with_array ? "--array-meta" : "--meta";
    memset(out, 0, sizeof *out);
    const char *eq = strchr(arg, '=');
    const char *colon = NULL;
    for (const char *p = arg; with_array && eq && p < eq; p++)
        if (*p == ':')
            colon = p;
    if (!eq || (with_array && (!colon || colon == arg)))
        return cli_usage_error("%s '%s': expected %sKEY=VALUE", opt, arg,
                               with_array ? "NAME:" : "");
    const char *kbeg = colon ? colon + 1 : arg;
    if (kbeg == eq)
        return cli_usage_error("%s '%s': empty KEY", opt, arg);
    out->array = colon ? strndup(arg, (size_t)(colon - arg)) : NULL;
    out->key = strndup(kbeg, (size_t)(eq - kbeg));
    out->value = eq + 1;
    if (!out->key || (colon && !out->array)) {
        free(out->array);
        free(out->key);
        return oom();
    }
    return 0;
}

static void free_opts(pack_opts *o)
{
    for (size_t i = 0; i < o->nmeta; i++)
        free(o->meta[i].key);
    for (size_t i = 0; i < o->narray_meta; i++) {
        free(o->array_meta[i].key);
        free(o->array_meta[i].array);
    }
    free(o->meta);
    free(o->array_meta);
    free(o->inputs);
    free(o->cold_globs);
    free(o->hot_globs);
}

/* An integer in [lo, hi], decimal, optional '-', nothing else. */
static bool parse_int(const char *s, long lo, long hi, long *out)
{
    if (!s || !(*s == '-' || (*s >= '0' && *s <= '9')))
        return false;
    errno = 0;
    char *end;
    const long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* The cold-tier options; returns an exit code or 0. */
static int parse_cold_opt(int c, const char *arg, pack_opts *o)
{
    uint64_t size;
    long v;
    switch (c) {
    case OPT_COMPRESS:
        o->compress = true;
        if (!arg)
            break;
        if (!parse_int(arg, LEVEL_MIN, LEVEL_MAX, &v) || v == 0)
            return cli_usage_error("--compress=%s: expected a zstd level from 1 to %d, or -1 "
                                   "to %d for the fast modes",
                                   arg, LEVEL_MAX, LEVEL_MIN);
        o->level = (int)v;
        o->level_set = true;
        break;
    case OPT_COLD:
    case OPT_HOT: {
        const char ***list = c == OPT_COLD ? &o->cold_globs : &o->hot_globs;
        size_t *n = c == OPT_COLD ? &o->ncold : &o->nhot;
        if (!*arg)
            return cli_usage_error("--%s: empty GLOB", c == OPT_COLD ? "cold" : "hot");
        if (!push((void **)list, n, sizeof **list))
            return oom();
        (*list)[(*n)++] = arg;
        o->compress |= c == OPT_COLD;
        break;
    }
    case OPT_COLD_MIN_SIZE:
        if (!mm_parse_size(arg, &size))
            return cli_usage_error("--cold-min-size '%s': expected a size such as 65536, 64K "
                                   "or 1G", arg);
        o->cold_min = size;
        o->cold_min_set = o->compress = true;
        break;
    case OPT_CHUNK_SIZE:
        if (!mm_parse_size(arg, &size) || size == 0 || size > CHUNK_SIZE_MAX)
            return cli_usage_error("--chunk-size '%s': expected a size from 1 byte to 1G, such "
                                   "as 65536, 256K or 4M", arg);
        o->chunk_size = size;
        break;
    case OPT_SHUFFLE:
    case OPT_NO_SHUFFLE:
        o->shuffle = c == OPT_SHUFFLE;
        break;
    case OPT_THREADS:
        if (!parse_int(arg, 0, THREADS_MAX, &v) || arg[0] == '-')
            return cli_usage_error("--threads '%s': expected a count from 0 (one per CPU) to "
                                   "%d", arg, THREADS_MAX);
        o->threads = (unsigned)v;
        break;
    }
    return 0;
}

static int add_input(pack_opts *o, const char *arg, const raw_spec *raw)
{
    if (!push((void **)&o->inputs, &o->ninputs, sizeof *o->inputs))
        return oom();
    input *in = &o->inputs[o->ninputs++];
    in->raw = *raw;
    in->name = NULL;
    in->path = arg;
    /* NAME=PATH splits at the first '=': a path containing '=' needs an explicit NAME= */
    const char *eq = strchr(arg, '=');
    if (eq) {
        if (eq == arg)
            return cli_usage_error("input '%s': empty NAME before '='", arg);
        if (!eq[1])
            return cli_usage_error("input '%s': empty PATH after '='", arg);
        in->name = arg;
        in->path = eq + 1;
    }
    return 0;
}

/* Length of an input's NAME (it is a prefix of argv text ending at '='). */
static size_t input_name_len(const input *in) { return (size_t)(in->path - 1 - in->name); }

static int parse_args(int argc, char **argv, pack_opts *o)
{
    raw_spec raw = {NULL, NULL, MMARR_ORDER_C};
    int c;
    opterr = 0;
    /* the leading '-' returns inputs in order (as 1), so --dtype/--shape apply to what follows */
    while ((c = getopt_long(argc, argv, "-:o:fa:m:t:s:qvhV", long_opts, NULL)) != -1) {
        int rc = 0;
        uint64_t size;
        switch (c) {
        case 1:
            rc = add_input(o, optarg, &raw);
            break;
        case 'o':
            o->output = optarg;
            break;
        case 'f':
            o->force = true;
            break;
        case 'a':
            if (!mm_parse_size(optarg, &size) || size < 4096 || size > (2u << 20) ||
                (size & (size - 1)))
                return cli_usage_error("--alignment '%s': expected a power of two from 4K "
                                       "to 2M", optarg);
            o->alignment = (uint32_t)size;
            break;
        case 'm':
        case OPT_ARRAY_META: {
            const bool arr = c == OPT_ARRAY_META;
            kv **list = arr ? &o->array_meta : &o->meta;
            size_t *n = arr ? &o->narray_meta : &o->nmeta;
            if (!push((void **)list, n, sizeof **list))
                return oom();
            rc = parse_kv(optarg, arr, &(*list)[*n]);
            if (rc == 0)
                (*n)++;
            break;
        }
        case OPT_NO_VERIFY:
            o->verify = false;
            break;
        case OPT_COMPRESS:
        case OPT_COLD:
        case OPT_COLD_MIN_SIZE:
        case OPT_HOT:
        case OPT_CHUNK_SIZE:
        case OPT_SHUFFLE:
        case OPT_NO_SHUFFLE:
        case OPT_THREADS:
            rc = parse_cold_opt(c, optarg, o);
            break;
        case 't':
            raw.dtype = optarg;
            break;
        case 's':
            raw.shape = optarg;
            break;
        case OPT_ORDER:
            if (!strcmp(optarg, "C") || !strcmp(optarg, "c"))
                raw.order = MMARR_ORDER_C;
            else if (!strcmp(optarg, "F") || !strcmp(optarg, "f"))
                raw.order = MMARR_ORDER_F;
            else
                return cli_usage_error("--order '%s': expected C or F", optarg);
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'v':
            o->verbose = true;
            break;
        case 'h':
            usage(stdout);
            return EXIT_DONE;
        case 'V':
            cli_print_version();
            return EXIT_DONE;
        case ':':
            return optopt ? cli_usage_error("option '-%c' needs an argument", optopt)
                          : cli_usage_error("option '%s' needs an argument", argv[optind - 1]);
        default:
            return optopt ? cli_usage_error("unknown option '-%c'", optopt)
                          : cli_usage_error("unknown option '%s'", argv[optind - 1]);
        }
        if (rc)
            return rc;
    }
    for (int i = optind; i < argc; i++) /* after "--" */
        if (add_input(o, argv[i], &raw))
            return CLI_EXIT_USAGE;
    if (!o->output)
        return cli_usage_error("no output file: give -o OUTPUT.mmarr");
    if (!o->ninputs)
        return cli_usage_error("no inputs");
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The plan                                                                                   */

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
    bool cold;          /* the output tier, decided by choose_tiers() */
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
} plan;

static void free_plan(plan *p)
{
    for (size_t i = 0; i < p->nsrc; i++)
        free(p->src[i].path);
    for (size_t i = 0; i < p->n; i++) {
        free(p->items[i].name);
        free(p->items[i].dtype);
        free(p->items[i].member_name);
    }
    free(p->src);
    free(p->items);
    free(p->dims);
}

static const uint64_t *item_shape(const plan *p, const item *it) { return p->dims + it->dims_at; }


static char *str_concat(const char *a, size_t alen, const char *b, size_t blen)
{
    char *s = malloc(alen + blen + 1);
    if (s) {
        memcpy(s, a, alen);
        memcpy(s + alen, b, blen);
        s[alen + blen] = '\0';
    }
    return s;
}

/* Append an item of the latest source; takes ownership of name (freed on failure). */
static item *plan_item(plan *p, char *name, const char *dtype, unsigned ndim,
                       const uint64_t *shape, mmarr_order order, uint64_t nbytes)
{
    char *dt = strdup(dtype);
    uint64_t *dims = realloc(p->dims, (p->ndims + ndim + 1) * sizeof *dims);
    if (dims)
        p->dims = dims;
    if (!name || !dt || !dims || !push((void **)&p->items, &p->n, sizeof *p->items)) {
        free(name);
        free(dt);
        oom();
        return NULL;
    }
    item *it = &p->items[p->n++];
    memset(it, 0, sizeof *it);
    it->name = name;
    it->dtype = dt;
    it->ndim = ndim;
    it->dims_at = p->ndims;
    memcpy(p->dims + p->ndims, shape, ndim * sizeof *shape);
    p->ndims += ndim;
    it->order = order;
    it->nbytes = nbytes;
    it->source = p->nsrc - 1;
    p->src[p->nsrc - 1].count++;
    p->total += nbytes;
    return it;
}

static int plan_source(plan *p, const char *path, src_kind kind, size_t origin)
{
    char *copy = strdup(path);
    if (!copy || !push((void **)&p->src, &p->nsrc, sizeof *p->src)) {
        free(copy);
        return oom();
    }
    p->src[p->nsrc++] = (source){copy, kind, origin, p->n, 0};
    return 0;
}

/* Reading an input file sequentially; polls for signals. */
typedef struct fd_reader {
    int fd;
} fd_reader;

static ptrdiff_t fd_read(void *ctx, void *buf, size_t n, char *err, size_t errlen)
{
    const fd_reader *r = ctx;
    for (;;) {
        if (cli_interrupted()) {
            snprintf(err, errlen, "interrupted");
            return -1;
        }
        ssize_t k = read(r->fd, buf, n > (1u << 30) ? (1u << 30) : n);
        if (k >= 0)
            return k;
        if (errno != EINTR) {
            snprintf(err, errlen, "read error: %s", strerror(errno));
            return -1;
        }
    }
}

/* An item for an .npy header. */
static item *plan_npy_item(plan *p, char *name, const npy_header *h)
{
    return plan_item(p, name, h->dtype, h->ndim, h->shape,
                     h->fortran_order ? MMARR_ORDER_F : MMARR_ORDER_C, h->nbytes);
}

/* Open an .npy and parse its header; on success *fd is positioned at the data. */
static int open_npy(const char *path, int *fd, npy_header *h)
{
    char err[768];
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) {
        cli_error("%s: %s", path, strerror(errno));
        return CLI_EXIT_DATA;
    }
    fd_reader r = {*fd};
    struct stat st;
    npy_status s = npy_read_header(fd_read, &r, h, err, sizeof err);
    uint64_t trailing = 0;
    if (s == NPY_OK && fstat(*fd, &st) != 0) {
        snprintf(err, sizeof err, "fstat: %s", strerror(errno));
        s = NPY_E_IO;
    }
    if (s == NPY_OK) {
        const uint64_t size = (uint64_t)st.st_size;
        s = npy_check_data_size(h, size > h->data_offset ? size - h->data_offset : 0, &trailing,
                                err, sizeof err);
    }
    if (s != NPY_OK) {
        npy_header_free(h);
        close(*fd);
        *fd = -1;
        if (cli_interrupted())
            return EXIT_INTERRUPTED;
        cli_error("%s: %s", path, err);
        return CLI_EXIT_DATA;
    }
    if (trailing)
        cli_warn("%s: %llu bytes after the array data are ignored", path,
                 (unsigned long long)trailing);
    return 0;
}

static int plan_npy(plan *p, const char *path, char *name, size_t origin)
{
    int fd;
    npy_header h;
    int rc = open_npy(path, &fd, &h);
    if (rc) {
        free(name);
        return rc;
    }
    close(fd);
    rc = plan_source(p, path, SRC_NPY, origin);
    if (rc) {
        free(name);
        npy_header_free(&h);
        return rc;
    }
    item *it = plan_npy_item(p, name, &h); /* frees name on failure */
    npy_header_free(&h);
    return it ? 0 : CLI_EXIT_DATA;
}

/* Read an npz member's header; on success the stream is positioned at the data. */
static int npz_member_header(npz_reader *z, const char *path, size_t i, const char *member,
                             uint64_t size, npz_stream **s, npy_header *h)
{
    char err[768];
    if (npz_stream_open(z, i, s, err, sizeof err)) {
        cli_error("%s", err);
        return CLI_EXIT_DATA;
    }
    npy_status st = npy_read_header(npz_stream_read, *s, h, err, sizeof err);
    uint64_t trailing = 0;
    if (st == NPY_OK)
        st = npy_check_data_size(h, size - (h->data_offset < size ? h->data_offset : size),
                                 &trailing, err, sizeof err);
    if (st != NPY_OK) {
        npy_header_free(h);
        npz_stream_close(*s);
        *s = NULL;
        if (cli_interrupted())
            return EXIT_INTERRUPTED;
        cli_error("%s: member \"%s\": %s", path, member, err);
        return CLI_EXIT_DATA;
    }
    if (trailing)
        cli_warn("%s: member \"%s\": %llu bytes after the array data are ignored", path, member,
                 (unsigned long long)trailing);
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* prefix: "" or "NAME/" */
static int plan_npz(plan *p, const char *path, const char *prefix, size_t origin)
{
    char err[768];
    npz_reader *z;
    if (npz_open(path, &z, err, sizeof err)) {
        cli_error("%s", err);
        return CLI_EXIT_DATA;
    }
    int rc = plan_source(p, path, SRC_NPZ, origin);
    for (size_t i = 0; rc == 0 && i < npz_count(z); i++) {
        const char *member;
        uint64_t size;
        int kind = npz_entry(z, i, &member, &size, err, sizeof err);
        if (kind < 0) {
            cli_error("%s", err);
            rc = CLI_EXIT_DATA;
            break;
        }
        if (kind == 0)
            continue;
        if (!ends_with(member, ".npy") || strlen(member) == 4) {
            cli_warn("%s: member \"%s\" is not an .npy array; skipped", path, member);
            continue;
        }
        npz_stream *s;
        npy_header h;
        rc = npz_member_header(z, path, i, member, size, &s, &h);
        if (rc)
            break;
        npz_stream_close(s);
        item *it = plan_npy_item(
            p, str_concat(prefix, strlen(prefix), member, strlen(member) - 4), &h);
        npy_header_free(&h);
        char *mn = it ? strdup(member) : NULL;
        if (!mn) {
            rc = it ? oom() : CLI_EXIT_DATA;
            break;
        }
        it->member = i;
        it->member_name = mn;
    }
    npz_close(z);
    return rc;
}

static int plan_mmarr(plan *p, mmarr_file *f, const char *path, const char *prefix,
                      size_t origin)
{
    int rc = plan_source(p, path, SRC_MMARR, origin);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    if (fi.alignment > p->max_alignment)
        p->max_alignment = (uint32_t)fi.alignment;
    for (size_t i = 0; rc == 0 && i < mmarr_file_count(f); i++) {
        mmarr_array_info a;
        mmarr_error e;
        if (mmarr_file_array(f, i, &a, &e) != MMARR_OK) {
            cli_error("%s", e.message);
            return CLI_EXIT_DATA;
        }
        item *it = plan_item(p, str_concat(prefix, strlen(prefix), a.name, a.name_size),
                             a.dtype_str, a.ndim, a.shape, a.order, a.nbytes);
        if (!it)
            return CLI_EXIT_DATA;
        it->member = i;
        if (a.storage == MMARR_STORAGE_COLD) {
            it->in_cold = true;
            it->in_copts.level = a.level;
            it->in_copts.chunk_size = a.chunk_size;
            it->in_copts.shuffle = a.shuffle;
        }
    }
    return rc;
}

/* "1000,3", "(1000, 3)", "" or "()" for 0-d; at most one -1. */
static bool parse_shape(const char *s, unsigned *ndim, uint64_t *dims, int *infer)
{
    *ndim = 0;
    *infer = -1;
    const char *p = s;
    while (*p == ' ')
        p++;
    const bool paren = *p == '(';
    if (paren)
        p++;
    for (;;) {
        while (*p == ' ')
            p++;
        if (!*p || *p == ')')
            break;
        if (*ndim == MMARR_MAX_DIMS)
            return false;
        if (p[0] == '-' && p[1] == '1' && (p[2] == ',' || p[2] == ')' || p[2] == ' ' || !p[2])) {
            if (*infer >= 0)
                return false;
            *infer = (int)*ndim;
            dims[(*ndim)++] = 0;
            p += 2;
        } else {
            if (*p < '0' || *p > '9')
                return false;
            errno = 0;
            char *end;
            unsigned long long v = strtoull(p, &end, 10);
            if (errno)
                return false;
            dims[(*ndim)++] = v;
            p = end;
        }
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
        else if (*p && *p != ')')
            return false;
    }
    if (paren != (*p == ')'))
        return false;
    if (*p == ')')
        p++;
    while (*p == ' ')
        p++;
    return *p == '\0';
}

static int plan_raw(plan *p, const char *path, char *name, const raw_spec *raw, uint64_t fsize,
                    size_t origin)
{
    mmarr_dtype *dt;
    mmarr_error e;
    if (mmarr_dtype_parse(raw->dtype, &dt, &e) != MMARR_OK) {
        free(name);
        return cli_usage_error("--dtype: %s", e.message);
    }
    const uint64_t itemsize = mmarr_dtype_itemsize(dt);
    const char *shape_text = raw->shape ? raw->shape : "-1"; /* default: 1-d, from the size */
    unsigned ndim;
    uint64_t dims[MMARR_MAX_DIMS];
    int infer;
    if (!parse_shape(shape_text, &ndim, dims, &infer)) {
        mmarr_dtype_free(dt);
        free(name);
        return cli_usage_error("--shape '%s': expected comma-separated sizes (one may be -1)",
                               shape_text);
    }
    uint64_t known = itemsize;
    bool overflow = false;
    for (unsigned i = 0; i < ndim; i++)
        if ((int)i != infer)
            overflow |= __builtin_mul_overflow(known, dims[i], &known);
    int rc = 0;
    if (!overflow && infer >= 0) {
        if (known == 0 || fsize % known) {
            cli_error("%s: %llu bytes is not a whole number of %llu-byte rows (dtype %s, shape "
                      "%s)", path, (unsigned long long)fsize, (unsigned long long)known,
                      mmarr_dtype_str(dt), shape_text);
            rc = CLI_EXIT_DATA;
        } else {
            dims[infer] = fsize / known;
            known = fsize;
        }
    }
    if (!rc && (overflow || known != fsize)) {
        char want[32];
        if (overflow)
            snprintf(want, sizeof want, "more than 2^64");
        else
            snprintf(want, sizeof want, "%llu", (unsigned long long)known);
        cli_error("%s: raw size %llu bytes does not match dtype %s x shape (%s) = %s bytes",
                  path, (unsigned long long)fsize, mmarr_dtype_str(dt), shape_text, want);
        rc = CLI_EXIT_DATA;
    }
    if (rc == 0)
        rc = plan_source(p, path, SRC_RAW, origin);
    if (rc == 0) {
        if (!plan_item(p, name, mmarr_dtype_str(dt), ndim, dims, raw->order, fsize))
            rc = CLI_EXIT_DATA;
        name = NULL;
    }
    free(name);
    mmarr_dtype_free(dt);
    return rc;
}

/* path without the extension of its last component ("a/b.npy" -> "a/b"; ".npy" and "a.b/c"
 * stay), and with basename_only also without the directories ("a/b.npy" -> "b"). */
static char *strip_ext(const char *path, bool basename_only)
{
    const size_t len = strlen(path);
    size_t b = len;
    while (b > 0 && path[b - 1] != '/')
        b--;
    size_t e = len;
    for (size_t i = len; i > b + 1; i--)
        if (path[i - 1] == '.') {
            e = i - 1;
            break;
        }
    const size_t from = basename_only ? b : 0;
    return strndup(path + from, e - from);
}

/* "dir/name", without doubling a trailing slash of dir. */
static char *path_join(const char *dir, const char *name)
{
    const size_t dl = strlen(dir);
    const bool slash = dl && dir[dl - 1] == '/';
    char *s = malloc(dl + strlen(name) + 2);
    if (s)
        sprintf(s, "%s%s%s", dir, slash ? "" : "/", name);
    return s;
}

/*
 * One file. `name` is the array name (an .npy or raw file) or, with "/" appended, the prefix
 * (an .npz or .mmarr); NULL derives it from the file name.
 */
static int plan_file(plan *p, const char *path, const char *name, size_t name_len,
                     bool named, const raw_spec *raw, size_t origin)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        cli_error("%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return CLI_EXIT_DATA;
    }
    unsigned char magic[NPY_MAGIC_LEN];
    ssize_t got = read(fd, magic, sizeof magic);
    close(fd);
    if (got < 0) {
        cli_error("%s: %s", path, strerror(errno));
        return CLI_EXIT_DATA;
    }
    char *base = named ? strndup(name, name_len) : strip_ext(path, true);
    if (!base) {
        return oom();
    }
    if (got == NPY_MAGIC_LEN && !memcmp(magic, NPY_MAGIC, NPY_MAGIC_LEN))
        return plan_npy(p, path, base, origin);
    /* prefixes for containers: "" when a lone file is unnamed, else "NAME/" */
    const bool lone = !named;
    char *prefix = lone ? strdup("") : str_concat(base, strlen(base), "/", 1);
    int rc = 0;
    if (!prefix) {
        rc = oom();
    } else if (got >= 4 && (!memcmp(magic, "PK\3\4", 4) || !memcmp(magic, "PK\5\6", 4))) {
        rc = plan_npz(p, path, prefix, origin);
    } else {
        mmarr_file *f = NULL;
        mmarr_error e;
        cli_sigbus_file(path);
        mmarr_err mrc = mmarr_open(path, 0, &f, &e);
        if (mrc == MMARR_OK) {
            rc = plan_mmarr(p, f, path, prefix, origin);
            mmarr_close(f);
        } else if (mrc != MMARR_E_BADMAGIC) {
            cli_error("%s", e.message);
            rc = CLI_EXIT_DATA;
        } else if (ends_with(path, ".npy") || ends_with(path, ".npz") ||
                   ends_with(path, ".mmarr")) {
            cli_error("%s: not a valid %s file (bad magic bytes)", path, strrchr(path, '.'));
            rc = CLI_EXIT_DATA;
        } else if (!raw->dtype) {
            cli_error("%s: not an .npy, .npz or .mmarr file (for raw binary data, give --dtype "
                      "and --shape before it)",
                      path);
            rc = CLI_EXIT_DATA;
        } else {
            rc = plan_raw(p, path, base, raw, (uint64_t)st.st_size, origin);
            base = NULL;
        }
    }
    free(prefix);
    free(base);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walk a directory in sorted order. rel: path relative to the input root ("" at the top). */
static int plan_dir(plan *p, const char *dir, const char *prefix, const char *rel,
                    const raw_spec *raw, size_t origin, unsigned depth)
{
    if (depth > 256) {
        cli_error("%s: directories nested too deeply", dir);
        return CLI_EXIT_DATA;
    }
    DIR *d = opendir(dir);
    if (!d) {
        cli_error("%s: %s", dir, strerror(errno));
        return CLI_EXIT_DATA;
    }
    char **names = NULL;
    size_t n = 0;
    int rc = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue; /* ".", "..", and hidden files */
        char *copy = strdup(de->d_name);
        if (!copy || !push((void **)&names, &n, sizeof *names)) {
            free(copy);
            rc = oom();
            break;
        }
        names[n++] = copy;
    }
    closedir(d);
    if (rc == 0 && n)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *full = path_join(dir, names[i]);
        char *relname = *rel ? path_join(rel, names[i]) : strdup(names[i]);
        struct stat lst, st;
        if (!full || !relname) {
            rc = oom();
        } else if (lstat(full, &lst) != 0 || stat(full, &st) != 0) {
            cli_error("%s: %s", full, strerror(errno));
            rc = CLI_EXIT_DATA;
        } else if (S_ISDIR(st.st_mode)) {
            if (S_ISLNK(lst.st_mode))
                cli_warn("%s: symbolic link to a directory; skipped", full);
            else
                rc = plan_dir(p, full, prefix, relname, raw, origin, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            /* array name: prefix + relative path without the extension */
            char *s = strip_ext(relname, false);
            char *name = s ? str_concat(prefix, strlen(prefix), s, strlen(s)) : NULL;
            if (!name) {
                rc = oom();
            } else {
                rc = plan_file(p, full, name, strlen(name), true, raw, origin);
            }
            free(s);
            free(name);
        } else {
            cli_warn("%s: not a regular file; skipped", full);
        }
        free(full);
        free(relname);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static int plan_input(plan *p, const input *in, size_t origin)
{
    struct stat st;
    if (stat(in->path, &st) != 0) {
        if (errno == ENOENT && strchr(in->path, '='))
            cli_error("%s: %s (a path containing '=' must be given as NAME=PATH)", in->path,
                      strerror(errno));
        else if (errno == ENOENT && in->name)
            cli_error("%s: %s (from '%s'; a path containing '=' must be given as NAME=PATH)",
                      in->path, strerror(errno), in->name);
        else
            cli_error("%s: %s", in->path, strerror(errno));
        return CLI_EXIT_DATA;
    }
    const size_t nl = in->name ? input_name_len(in) : 0;
    if (S_ISDIR(st.st_mode)) {
        char *prefix = in->name ? str_concat(in->name, nl, "/", 1) : strdup("");
        if (!prefix) {
            return oom();
        }
        int rc = plan_dir(p, in->path, prefix, "", &in->raw, origin, 0);
        free(prefix);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        cli_error("%s: not a regular file or directory", in->path);
        return CLI_EXIT_DATA;
    }
    return plan_file(p, in->path, in->name, nl, in->name != NULL, &in->raw, origin);
}

static const char *item_where(const plan *p, const item *it, char *buf, size_t n)
{
    const source *s = &p->src[it->source];
    if (it->member_name)
        snprintf(buf, n, "%s (member \"%s\")", s->path, it->member_name);
    else
        snprintf(buf, n, "%s", s->path);
    return buf;
}

static int cmp_item_name(const void *a, const void *b, void *ctx)
{
    const item *items = ctx;
    return strcmp(items[*(const size_t *)a].name, items[*(const size_t *)b].name);
}

/* Duplicate names: within one input a data problem, across inputs a naming (usage) one. */
static int check_names(const plan *p, const pack_opts *o)
{
    size_t *ix = malloc((p->n ? p->n : 1) * sizeof *ix);
    if (!ix) {
        return oom();
    }
    int rc = 0;
    for (size_t i = 0; i < p->n; i++) {
        ix[i] = i;
        const char *name = p->items[i].name;
        if (!rc && !mm_utf8_valid((const unsigned char *)name, strlen(name))) {
            char where[512];
            cli_error("%s: the array name \"%s\" is not valid UTF-8 (name it with NAME=PATH)",
                      item_where(p, &p->items[i], where, sizeof where), p->items[i].name);
            rc = CLI_EXIT_DATA;
        }
    }
    if (rc) {
        free(ix);
        return rc;
    }
    if (p->n)
        qsort_r(ix, p->n, sizeof *ix, cmp_item_name, p->items);
    for (size_t i = 1; i < p->n && !rc; i++) {
        const item *a = &p->items[ix[i - 1]], *b = &p->items[ix[i]];
        if (strcmp(a->name, b->name))
            continue;
        char wa[512], wb[512];
        item_where(p, a, wa, sizeof wa);
        item_where(p, b, wb, sizeof wb);
        if (p->src[a->source].origin == p->src[b->source].origin) {
            cli_error("duplicate array name \"%s\": from %s and %s", a->name, wa, wb);
            rc = CLI_EXIT_DATA;
        } else {
            rc = cli_usage_error("duplicate array name \"%s\": from %s and %s (name the "
                                 "inputs with NAME=PATH)",
                                 a->name, wa, wb);
        }
    }
    for (size_t m = 0; !rc && m < o->narray_meta; m++) {
        const char *want = o->array_meta[m].array;
        size_t lo = 0, hi = p->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(p->items[ix[mid]].name, want) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == p->n || strcmp(p->items[ix[lo]].name, want))
            rc = cli_usage_error("--array-meta %s:%s: no input array is named \"%s\"", want,
                                 o->array_meta[m].key, want);
    }
    free(ix);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Tiers                                                                                      */

/* Does name match one of the globs? Marks every glob that matches it as used. */
static bool match_globs(const char *const *globs, size_t n, const char *name, bool *used)
{
    bool hit = false;
    for (size_t i = 0; i < n; i++)
        if (fnmatch(globs[i], name, 0) == 0)
            hit = used[i] = true;
    return hit;
}

/* Byte shuffle pays off for numbers wider than a byte, whose high bytes vary slowly. */
static bool shuffle_by_default(const mmarr_dtype *dt)
{
    switch (mmarr_dtype_kind(dt)) {
    case MMARR_KIND_INT:
    case MMARR_KIND_UINT:
    case MMARR_KIND_FLOAT:
    case MMARR_KIND_COMPLEX:
    case MMARR_KIND_DATETIME:
    case MMARR_KIND_TIMEDELTA:
        return mmarr_dtype_itemsize(dt) > 1;
    default:
        return false;
    }
}

static void warn_unused(const char *opt, const char *const *globs, size_t n, const bool *used)
{
    for (size_t i = 0; i < n; i++)
        if (!used[i])
            cli_warn("%s '%s' matches no array", opt, globs[i]);
}

/*
 * Each array's tier: hot if a --hot glob matches it; else cold if --compress was given
 * without --cold or --cold-min-size, or a --cold glob or --cold-min-size selects it; else the
 * tier it has in its input (hot but for cold arrays of re-packed files). A cold array's
 * settings are those given on the command line, else (re-packed cold arrays) its own, else
 * the defaults, with shuffle chosen by dtype. Arrays of 1-byte items are never shuffled:
 * it would change nothing but the flag.
 */
static int choose_tiers(plan *p, const pack_opts *o)
{
    bool *cold_used = calloc(o->ncold + 1, sizeof *cold_used);
    bool *hot_used = calloc(o->nhot + 1, sizeof *hot_used);
    int rc = 0;
    if (!cold_used || !hot_used)
        rc = oom();
    const bool all = o->compress && !o->ncold && !o->cold_min_set;
    size_t ncold = 0;
    for (size_t i = 0; rc == 0 && i < p->n; i++) {
        item *it = &p->items[i];
        const bool hot = match_globs(o->hot_globs, o->nhot, it->name, hot_used);
        const bool picked = match_globs(o->cold_globs, o->ncold, it->name, cold_used) ||
                            (o->cold_min_set && it->nbytes >= o->cold_min);
        it->cold = !hot && (all || picked || it->in_cold);
        if (!it->cold)
            continue;
        ncold++;
        mmarr_dtype *dt;
        mmarr_error e;
        if (mmarr_dtype_parse(it->dtype, &dt, &e) != MMARR_OK) { /* canonical: cannot fail */
            cli_error("%s", e.message);
            rc = CLI_EXIT_DATA;
            break;
        }
        const mmarr_compress_options *in = it->in_cold ? &it->in_copts : NULL;
        mmarr_compress_options *c = &it->copts;
        /* a level outside zstd's range (only informational in the file) falls back */
        const bool in_level_ok = in && in->level && in->level >= LEVEL_MIN &&
                                 in->level <= LEVEL_MAX;
        c->level = o->level_set ? o->level : in_level_ok ? in->level : MMARR_DEFAULT_LEVEL;
        c->chunk_size = o->chunk_size ? o->chunk_size
                        : in          ? in->chunk_size
                                      : MMARR_DEFAULT_CHUNK_SIZE;
        const bool shuffle = o->shuffle >= 0 ? o->shuffle != 0
                             : in            ? in->shuffle != 0
                                             : shuffle_by_default(dt);
        c->shuffle = shuffle && mmarr_dtype_itemsize(dt) > 1;
        c->threads = o->threads;
        mmarr_dtype_free(dt);
    }
    if (rc == 0) {
        warn_unused("--cold", o->cold_globs, o->ncold, cold_used);
        warn_unused("--hot", o->hot_globs, o->nhot, hot_used);
        if (!ncold && p->n && (o->chunk_size || o->shuffle >= 0))
            cli_warn("no array is stored cold, so --chunk-size and --shuffle change nothing "
                     "(select arrays with --compress, --cold or --cold-min-size)");
    }
    free(cold_used);
    free(hot_used);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* The copy                                                                                   */

typedef struct packer {
    const pack_opts *o;
    const plan *p;
    mmarr_writer *w;
    cli_progress prog;
    unsigned char *buf;
    size_t bufcap;
} packer;

static int writer_fail(packer *k)
{
    if (cli_interrupted())
        return EXIT_INTERRUPTED;
    cli_error("%s", mmarr_writer_error(k->w)->message);
    return CLI_EXIT_DATA;
}

static void show_item(const packer *k, const item *it)
{
    if (!k->o->verbose)
        return;
    char sz[MM_SIZE_BUF], wh[600];
    fprintf(stderr, "%s: %s  %s  (", cli_progname(), it->name, it->dtype);
    for (unsigned d = 0; d < it->ndim; d++)
        fprintf(stderr, d ? ", %llu" : "%llu", (unsigned long long)item_shape(k->p, it)[d]);
    fprintf(stderr, "%s)%s  %s  from %s", it->ndim == 1 ? "," : "",
            it->order == MMARR_ORDER_F ? " F" : "", mm_format_size(it->nbytes, sz),
            item_where(k->p, it, wh, sizeof wh));
    if (it->cold)
        fprintf(stderr, "  -> cold: zstd %d, %s chunks%s", it->copts.level,
                mm_format_size(it->copts.chunk_size, sz),
                it->copts.shuffle ? ", shuffled" : "");
    else
        fputs("  -> hot", stderr);
    fputc('\n', stderr);
}

/* Grow the reused buffer to n bytes. */
static int reserve_buf(packer *k, size_t n)
{
    if (n <= k->bufcap)
        return 0;
    unsigned char *b = realloc(k->buf, n);
    if (!b)
        return oom();
    k->buf = b;
    k->bufcap = n;
    return 0;
}

/* Feed n bytes to the array begun with mmarr_writer_begin, in pieces of at most PACK_PIECE
 * (the progress line moves, and a signal is noticed, between pieces). */
static int write_pieces(packer *k, const unsigned char *p, uint64_t n)
{
    while (n) {
        if (cli_interrupted())
            return EXIT_INTERRUPTED;
        const size_t piece = n < PACK_PIECE ? (size_t)n : PACK_PIECE;
        if (mmarr_writer_write(k->w, p, piece) != MMARR_OK)
            return writer_fail(k);
        p += piece;
        n -= piece;
        cli_progress_add(&k->prog, piece);
    }
    return 0;
}

static int begin_array(packer *k, const item *it)
{
    if (mmarr_writer_begin(k->w, it->name, it->dtype, it->ndim, item_shape(k->p, it), it->order,
                           it->cold ? &it->copts : NULL) != MMARR_OK)
        return writer_fail(k);
    return 0;
}

static int end_array(packer *k)
{
    return mmarr_writer_end(k->w) == MMARR_OK ? 0 : writer_fail(k);
}

/* Read exactly n bytes; a short input is a data error naming the position. */
static int read_full(npy_read_fn rd, void *ctx, unsigned char *dst, size_t n, const item *it,
                     uint64_t at, const char *where)
{
    char err[512];
    size_t got = 0;
    while (got < n) {
        ptrdiff_t r = rd(ctx, dst + got, n - got, err, sizeof err);
        if (r < 0) {
            if (cli_interrupted())
                return EXIT_INTERRUPTED;
            cli_error("%s: array \"%s\": %s", where, it->name, err);
            return CLI_EXIT_DATA;
        }
        if (r == 0) {
            cli_error("%s: array \"%s\": unexpected end of data after %llu of %llu bytes", where,
                      it->name, (unsigned long long)(at + got), (unsigned long long)it->nbytes);
            return CLI_EXIT_DATA;
        }
        got += (size_t)r;
    }
    return 0;
}

/* A cold array from rd: read a piece, compress it (mmarr_writer_write), repeat. */
static int fill_cold(packer *k, const item *it, npy_read_fn rd, void *ctx, const char *where)
{
    int rc = reserve_buf(k, it->nbytes < PACK_PIECE ? (size_t)it->nbytes : PACK_PIECE);
    if (rc == 0)
        rc = begin_array(k, it);
    for (uint64_t at = 0; rc == 0 && at < it->nbytes;) {
        const size_t piece = it->nbytes - at < PACK_PIECE ? (size_t)(it->nbytes - at) : PACK_PIECE;
        rc = read_full(rd, ctx, k->buf, piece, it, at, where);
        if (rc == 0)
            rc = write_pieces(k, k->buf, piece);
        at += piece;
    }
    return rc ? rc : end_array(k);
}

/* Stream an array's bytes from rd into the output: cold through the streaming writer; hot by
 * buffered add, or reserve and fill. */
static int fill_array(packer *k, const item *it, npy_read_fn rd, void *ctx, const char *where)
{
    if (it->cold)
        return fill_cold(k, it, rd, ctx, where);
    if (it->nbytes <= PACK_PIECE) {
        int rc = reserve_buf(k, (size_t)it->nbytes);
        if (rc == 0)
            rc = read_full(rd, ctx, k->buf, (size_t)it->nbytes, it, 0, where);
        if (rc)
            return rc;
        if (mmarr_writer_add(k->w, it->name, it->dtype, it->ndim, item_shape(k->p, it),
                             it->order, it->nbytes ? k->buf : NULL) != MMARR_OK)
            return writer_fail(k);
        cli_progress_add(&k->prog, it->nbytes);
        return 0;
    }
    void *dst;
    if (mmarr_writer_reserve(k->w, it->name, it->dtype, it->ndim, item_shape(k->p, it),
                             it->order, &dst) != MMARR_OK)
        return writer_fail(k);
    for (uint64_t at = 0; at < it->nbytes;) {
        const size_t piece = it->nbytes - at < PACK_PIECE ? (size_t)(it->nbytes - at) : PACK_PIECE;
        int rc = read_full(rd, ctx, (unsigned char *)dst + at, piece, it, at, where);
        if (rc)
            return rc;
        at += piece;
        cli_progress_add(&k->prog, piece);
    }
    return 0;
}

/* The input may have changed since it was planned: insist on the same array. */
static int same_as_planned(const plan *p, const item *it, const npy_header *h,
                           const char *where)
{
    if (strcmp(h->dtype, it->dtype) || h->ndim != it->ndim ||
        memcmp(h->shape, item_shape(p, it), it->ndim * sizeof *h->shape) ||
        (h->fortran_order ? MMARR_ORDER_F : MMARR_ORDER_C) != it->order) {
        cli_error("%s: changed while being packed", where);
        return CLI_EXIT_DATA;
    }
    return 0;
}

static int copy_npy(packer *k, const item *it)
{
    const char *path = k->p->src[it->source].path;
    int fd;
    npy_header h;
    int rc = open_npy(path, &fd, &h);
    if (rc)
        return rc;
    rc = same_as_planned(k->p, it, &h, path);
    npy_header_free(&h);
    if (rc == 0) {
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        fd_reader r = {fd};
        rc = fill_array(k, it, fd_read, &r, path);
    }
    close(fd);
    return rc;
}

static int copy_raw(packer *k, const item *it)
{
    const char *path = k->p->src[it->source].path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        cli_error("%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return CLI_EXIT_DATA;
    }
    int rc = 0;
    if ((uint64_t)st.st_size != it->nbytes) {
        cli_error("%s: changed while being packed", path);
        rc = CLI_EXIT_DATA;
    } else {
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        fd_reader r = {fd};
        rc = fill_array(k, it, fd_read, &r, path);
    }
    close(fd);
    return rc;
}

static int copy_npz(packer *k, const source *s)
{
    char err[768];
    npz_reader *z;
    if (npz_open(s->path, &z, err, sizeof err)) {
        cli_error("%s", err);
        return CLI_EXIT_DATA;
    }
    int rc = 0;
    for (size_t i = s->first; rc == 0 && i < s->first + s->count; i++) {
        const item *it = &k->p->items[i];
        char where[600];
        snprintf(where, sizeof where, "%s: member \"%s\"", s->path, it->member_name);
        const char *member;
        uint64_t size;
        if (npz_entry(z, it->member, &member, &size, err, sizeof err) != 1) {
            cli_error("%s: changed while being packed", s->path);
            rc = CLI_EXIT_DATA;
            break;
        }
        npz_stream *st;
        npy_header h;
        rc = npz_member_header(z, s->path, it->member, member, size, &st, &h);
        if (rc)
            break;
        rc = same_as_planned(k->p, it, &h, where);
        npy_header_free(&h);
        show_item(k, it);
        if (rc == 0)
            rc = fill_array(k, it, npz_stream_read, st, where);
        uint64_t rest;
        if (rc == 0 && npz_stream_finish(st, &rest, err, sizeof err) != 0) {
            /* reading to the end is where libzip checks the CRC */
            cli_error("%s: %s", where, err);
            rc = CLI_EXIT_DATA;
        }
        npz_stream_close(st);
    }
    npz_close(z);
    return rc;
}

static int copy_meta(packer *k, mmarr_file *f, const item *it)
{
    mmarr_error e;
    mmarr_array_info a;
    if (mmarr_file_array(f, it->member, &a, &e) != MMARR_OK) {
        cli_error("%s", e.message);
        return CLI_EXIT_DATA;
    }
    for (size_t m = 0; m < a.meta_count; m++) {
        const char *key, *val;
        if (mmarr_array_meta(f, it->member, m, &key, &val, &e) != MMARR_OK) {
            cli_error("%s", e.message);
            return CLI_EXIT_DATA;
        }
        if (mmarr_writer_set_array_meta(k->w, it->name, key, val) != MMARR_OK)
            return writer_fail(k);
    }
    return 0;
}

/*
 * A cold input array, decompressed a few whole chunks at a time (mmarr_file_read, on the
 * --threads threads) into the output, hot or cold. Verification happens on the way: the
 * library checks each chunk as it decompresses it (unless the file was opened without), and
 * the whole array is hashed here and compared with its checksum before the output can be
 * committed, so damaged data never gets a fresh, valid checksum and nothing is read twice.
 */
static int copy_from_cold(packer *k, mmarr_file *f, const mmarr_array_info *a, const item *it)
{
    /* whole chunks, so none is decompressed twice: at most 1 GiB (spec.md §10.1) */
    const uint64_t piece = cli_cold_piece(a->chunk_size, a->nbytes, PACK_PIECE);
    int rc = reserve_buf(k, (size_t)piece);
    XXH3_state_t *xs = NULL;
    if (rc == 0 && k->o->verify) {
        xs = XXH3_createState();
        if (!xs)
            rc = oom();
        else
            XXH3_64bits_reset(xs);
    }
    if (rc == 0)
        rc = begin_array(k, it);
    mmarr_file_advise(f, a->index, MMARR_ADVICE_SEQUENTIAL, NULL);
    for (uint64_t at = 0; rc == 0 && at < a->nbytes;) {
        const uint64_t n = a->nbytes - at < piece ? a->nbytes - at : piece;
        mmarr_error e;
        if (cli_interrupted()) {
            rc = EXIT_INTERRUPTED;
        } else if (mmarr_file_read(f, a->index, at, k->buf, n, &e) != MMARR_OK) {
            cli_error("%s", e.message); /* names the array, the chunk and its file offset */
            rc = CLI_EXIT_DATA;
        } else {
            if (xs)
                XXH3_64bits_update(xs, k->buf, (size_t)n);
            rc = write_pieces(k, k->buf, n);
        }
        at += n;
    }
    const uint64_t sum = rc == 0 && xs ? XXH3_64bits_digest(xs) : a->checksum;
    if (sum != a->checksum) {
        cli_error("%s: array \"%s\" (cold): checksum mismatch of the decompressed array "
                  "(stored %016llx, computed %016llx)",
                  k->p->src[it->source].path, a->name, (unsigned long long)a->checksum,
                  (unsigned long long)sum);
        rc = CLI_EXIT_DATA;
    }
    XXH3_freeState(xs);
    return rc ? rc : end_array(k);
}

/* A hot input array stored cold: compressed straight from the input's mapping. */
static int copy_hot_to_cold(packer *k, mmarr_file *f, const mmarr_array_info *a, const item *it)
{
    int rc = begin_array(k, it);
    if (rc == 0) {
        mmarr_file_advise(f, a->index, MMARR_ADVICE_SEQUENTIAL, NULL);
        rc = write_pieces(k, a->data, a->nbytes);
    }
    return rc ? rc : end_array(k);
}

static int copy_mmarr_array(packer *k, mmarr_file *f, const source *s, const item *it)
{
    mmarr_error e;
    mmarr_array_info a;
    if (mmarr_file_array(f, it->member, &a, &e) != MMARR_OK) {
        cli_error("%s", e.message);
        return CLI_EXIT_DATA;
    }
    if (strcmp(a.dtype_str, it->dtype) || a.nbytes != it->nbytes || a.ndim != it->ndim ||
        (a.storage == MMARR_STORAGE_COLD) != it->in_cold) {
        cli_error("%s: changed while being packed", s->path);
        return CLI_EXIT_DATA;
    }
    if (it->in_cold) {
        int rc = copy_from_cold(k, f, &a, it);
        return rc ? rc : copy_meta(k, f, it);
    }
    /* verify first: re-packing must not give damaged data a fresh, valid checksum */
    if (k->o->verify && mmarr_file_verify_array(f, it->member, &e) != MMARR_OK) {
        cli_error("%s", e.message);
        return CLI_EXIT_DATA;
    }
    if (it->cold) {
        int rc = copy_hot_to_cold(k, f, &a, it);
        return rc ? rc : copy_meta(k, f, it);
    }
    if (it->nbytes <= PACK_PIECE) {
        if (mmarr_writer_add(k->w, it->name, it->dtype, it->ndim, item_shape(k->p, it),
                             it->order, a.data) != MMARR_OK)
            return writer_fail(k);
        cli_progress_add(&k->prog, it->nbytes);
    } else {
        void *dst;
        if (mmarr_writer_reserve(k->w, it->name, it->dtype, it->ndim, item_shape(k->p, it),
                                 it->order, &dst) != MMARR_OK)
            return writer_fail(k);
        mmarr_file_advise(f, it->member, MMARR_ADVICE_SEQUENTIAL, NULL);
        for (uint64_t at = 0; at < it->nbytes;) {
            if (cli_interrupted())
                return EXIT_INTERRUPTED;
            const size_t piece =
                it->nbytes - at < PACK_PIECE ? (size_t)(it->nbytes - at) : PACK_PIECE;
            memcpy((unsigned char *)dst + at, (const unsigned char *)a.data + at, piece);
            at += piece;
            cli_progress_add(&k->prog, piece);
        }
    }
    return copy_meta(k, f, it);
}

static int copy_mmarr(packer *k, const source *s)
{
    mmarr_file *f;
    mmarr_error e;
    /* --no-verify: cold chunks are not checked either (corrupt frames still fail) */
    cli_sigbus_file(s->path);
    if (mmarr_open(s->path, k->o->verify ? 0 : MMARR_OPEN_NO_CHUNK_VERIFY, &f, &e) != MMARR_OK) {
        cli_error("%s", e.message);
        return CLI_EXIT_DATA;
    }
    mmarr_file_set_threads(f, k->o->threads);
    int rc = 0;
    for (size_t i = s->first; rc == 0 && i < s->first + s->count; i++) {
        show_item(k, &k->p->items[i]);
        rc = copy_mmarr_array(k, f, s, &k->p->items[i]);
    }
    /* the file's metadata: a later input's value for the same key wins, --meta over all */
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    for (size_t m = 0; rc == 0 && m < fi.meta_count; m++) {
        const char *key, *val;
        if (mmarr_file_meta(f, m, &key, &val, &e) != MMARR_OK) {
            cli_error("%s", e.message);
            rc = CLI_EXIT_DATA;
        } else if (mmarr_writer_set_file_meta(k->w, key, val) != MMARR_OK) {
            rc = writer_fail(k);
        }
    }
    mmarr_close(f);
    return rc;
}

static int copy_source(packer *k, const source *s)
{
    switch (s->kind) {
    case SRC_MMARR:
        return copy_mmarr(k, s);
    case SRC_NPZ:
        return copy_npz(k, s);
    case SRC_NPY: /* one item each */
        show_item(k, &k->p->items[s->first]);
        return copy_npy(k, &k->p->items[s->first]);
    case SRC_RAW:
        show_item(k, &k->p->items[s->first]);
        return copy_raw(k, &k->p->items[s->first]);
    }
    return CLI_EXIT_DATA;
}

static int apply_options_meta(packer *k)
{
    for (size_t i = 0; i < k->o->nmeta; i++)
        if (mmarr_writer_set_file_meta(k->w, k->o->meta[i].key, k->o->meta[i].value) !=
            MMARR_OK)
            return writer_fail(k);
    for (size_t i = 0; i < k->o->narray_meta; i++) {
        const kv *m = &k->o->array_meta[i];
        if (mmarr_writer_set_array_meta(k->w, m->array, m->key, m->value) != MMARR_OK)
            return writer_fail(k);
    }
    return 0;
}

static double ratio(uint64_t raw, uint64_t stored)
{
    return stored ? (double)raw / (double)stored : 1.0;
}

/* -v, after the commit: what each array became, read back from the new file (the writer does
 * not tell a cold array's compressed size before then). */
static void report_tiers(const pack_opts *o)
{
    mmarr_file *f;
    mmarr_error e;
    cli_sigbus_file(o->output);
    if (mmarr_open(o->output, 0, &f, &e) != MMARR_OK) {
        cli_warn("%s", e.message);
        return;
    }
    uint64_t raw = 0, stored = 0;
    size_t ncold = 0;
    const size_t n = mmarr_file_count(f);
    for (size_t i = 0; i < n; i++) {
        mmarr_array_info a;
        if (mmarr_file_array(f, i, &a, &e) != MMARR_OK)
            break;
        char r[MM_SIZE_BUF], s[MM_SIZE_BUF];
        const bool cold = a.storage == MMARR_STORAGE_COLD;
        fprintf(stderr, "%s: %s: %s  %s -> %s  (%.2fx)\n", cli_progname(), a.name,
                cold ? "cold" : "hot", mm_format_size(a.nbytes, r),
                mm_format_size(a.stored_bytes, s), ratio(a.nbytes, a.stored_bytes));
        raw += a.nbytes;
        stored += a.stored_bytes;
        ncold += cold;
    }
    char r[MM_SIZE_BUF], s[MM_SIZE_BUF];
    fprintf(stderr, "%s: %s: %zu array%s, %zu cold: %s -> %s  (%.2fx)\n", cli_progname(),
            o->output, n, n == 1 ? "" : "s", ncold, mm_format_size(raw, r),
            mm_format_size(stored, s), ratio(raw, stored));
    mmarr_close(f);
}

static int pack(const pack_opts *o, const plan *p)
{
    mmarr_writer_options wo = {0};
    wo.alignment = o->alignment ? o->alignment : p->max_alignment;
    wo.flags = o->force ? 0 : MMARR_WRITE_NO_REPLACE;
    packer k = {.o = o, .p = p};
    mmarr_error e;
    if (mmarr_writer_create(o->output, &wo, &k.w, &e) != MMARR_OK) {
        cli_error("%s", e.message);
        return CLI_EXIT_DATA;
    }
    cli_progress_begin(&k.prog, "packing", p->total, o->quiet);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < p->nsrc; i++)
        rc = copy_source(&k, &p->src[i]);
    if (rc == 0)
        rc = apply_options_meta(&k);
    if (rc == 0 && cli_interrupted())
        rc = EXIT_INTERRUPTED;
    if (rc == 0 && mmarr_writer_commit(k.w) != MMARR_OK) {
        if (mmarr_writer_error(k.w)->code == MMARR_E_EXISTS) { /* created meanwhile */
            cli_error("%s: already exists (use --force to replace it)", o->output);
            rc = CLI_EXIT_DATA;
        } else {
            rc = writer_fail(&k);
        }
    }
    cli_progress_end(&k.prog);
    mmarr_writer_free(k.w); /* removes the temporary unless committed */
    free(k.buf);
    if (rc == 0 && o->verbose)
        report_tiers(o);
    return rc;
}

int main(int argc, char **argv)
{
    cli_init(argv[0]);
    pack_opts o = {.verify = true, .shuffle = -1};
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        free_opts(&o);
        return rc == EXIT_DONE ? CLI_EXIT_OK : rc;
    }
    cli_catch_signals();
    cli_catch_sigbus("mmarr-pack");
    struct stat st;
    plan p = {0};
    if (stat(o.output, &st) == 0) { /* fail before reading any input */
        if (S_ISDIR(st.st_mode))
            cli_error("%s: is a directory", o.output);
        else if (!o.force)
            cli_error("%s: already exists (use --force to replace it)", o.output);
        rc = S_ISDIR(st.st_mode) || !o.force ? CLI_EXIT_DATA : 0;
    }
    for (size_t i = 0; rc == 0 && i < o.ninputs; i++)
        rc = plan_input(&p, &o.inputs[i], i);
    if (rc == 0)
        rc = check_names(&p, &o);
    if (rc == 0)
        rc = choose_tiers(&p, &o);
    if (rc == 0)
        rc = pack(&o, &p);
    free_plan(&p);
    free_opts(&o);
    if (rc == EXIT_INTERRUPTED || (rc && cli_interrupted())) {
        /* a signal after a successful commit changes nothing: the file is complete */
        cli_error("interrupted; nothing was written");
        cli_reraise();
        return CLI_EXIT_DATA;
    }
    return rc;
}
