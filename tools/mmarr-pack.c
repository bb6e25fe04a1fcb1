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
#include "pack.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CHUNK_SIZE_MAX (1ull << 30) /* spec.md §10.1 */
#define THREADS_MAX 4096

static void usage(FILE *out)
{
    fprintf(
        out,
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
        "      --append             add the inputs to the existing OUTPUT in place, as its next\n"
        "                           generation (readers keep theirs; one writer at a time);\n"
        "                           an input named like an array of OUTPUT replaces it\n"
        "  -a, --alignment SIZE     array alignment, a power of two from 4K to 2M (default 4096,\n"
        "                           or the largest alignment of the .mmarr inputs)\n"
        "  -m, --meta KEY=VALUE     file metadata (repeatable; overrides re-packed metadata)\n"
        "      --array-meta NAME:KEY=VALUE\n"
        "                           metadata for array NAME (repeatable; NAME may contain ':',\n"
        "                           KEY may not)\n"
        "      --no-verify          do not verify checksums of re-packed .mmarr arrays\n"
        "      --skip-other         in directories, skip (and list) files that are not .npy, .npz\n"
        "                           or .mmarr files (a README, a log) instead of failing\n"
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
        "      --cold-min-size SIZE store arrays of SIZE raw bytes or more cold; implies "
        "--compress\n"
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
        "Exit status: 0 success, 1 data problem (unreadable, corrupt or unsupported input, "
        "existing\n"
        "output, I/O failure), 2 usage error. Interrupted by a signal, it leaves no output behind\n"
        "and ends by that signal.\n",
        cli_progname(), cli_progname(), cli_progname(), cli_progname(), cli_progname(),
        cli_progname(), cli_progname(), cli_progname());
}

enum {
    OPT_ARRAY_META = 256,
    OPT_ORDER,
    OPT_NO_VERIFY,
    OPT_SKIP_OTHER,
    OPT_COMPRESS,
    OPT_COLD,
    OPT_COLD_MIN_SIZE,
    OPT_HOT,
    OPT_CHUNK_SIZE,
    OPT_SHUFFLE,
    OPT_NO_SHUFFLE,
    OPT_THREADS,
    OPT_APPEND,
};

static const struct option long_opts[] = {
    {"output", required_argument, NULL, 'o'},
    {"force", no_argument, NULL, 'f'},
    {"append", no_argument, NULL, OPT_APPEND},
    {"alignment", required_argument, NULL, 'a'},
    {"meta", required_argument, NULL, 'm'},
    {"array-meta", required_argument, NULL, OPT_ARRAY_META},
    {"no-verify", no_argument, NULL, OPT_NO_VERIFY},
    {"skip-other", no_argument, NULL, OPT_SKIP_OTHER},
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
        return cli_oom();
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
        if (!pack_push((void **)list, n, sizeof **list))
            return cli_oom();
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
    if (!pack_push((void **)&o->inputs, &o->ninputs, sizeof *o->inputs))
        return cli_oom();
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
        case OPT_APPEND: o->append = true; break;
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
            if (!pack_push((void **)list, n, sizeof **list))
                return cli_oom();
            rc = parse_kv(optarg, arr, &(*list)[*n]);
            if (rc == 0)
                (*n)++;
            break;
        }
        case OPT_NO_VERIFY:
            o->verify = false;
            break;
        case OPT_SKIP_OTHER: o->skip_other = true; break;
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
            return CLI_EXIT_OK;
        case 'V':
            cli_print_version();
            return CLI_EXIT_OK;
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
    return CLI_CONTINUE;
}

int main(int argc, char **argv)
{
    cli_init(argv[0]);
    pack_opts o = {.verify = true, .shuffle = -1};
    int rc = parse_args(argc, argv, &o);
    if (rc != CLI_CONTINUE) {
        free_opts(&o);
        return cli_finish_output(rc);
    }
    rc = CLI_EXIT_OK;
    cli_catch_signals();
    cli_catch_sigbus("mmarr-pack");
    struct stat st;
    plan p = {.skip_other = o.skip_other, .quiet = o.quiet};
    if (o.append && (o.force || o.alignment)) {
        cli_error("--append adds to OUTPUT as it is: not with --force or --alignment");
        rc = CLI_EXIT_USAGE;
    } else if (o.append && stat(o.output, &st) != 0) {
        cli_error("%s: cannot append: %s", o.output, strerror(errno));
        rc = CLI_EXIT_DATA;
    } else if (!o.append && stat(o.output, &st) == 0) { /* fail before reading any input */
        if (S_ISDIR(st.st_mode))
            cli_error("%s: is a directory", o.output);
        else if (!o.force)
            cli_error("%s: already exists (use --force to replace it)", o.output);
        rc = S_ISDIR(st.st_mode) || !o.force ? CLI_EXIT_DATA : CLI_EXIT_OK;
    }
    for (size_t i = 0; rc == 0 && i < o.ninputs; i++)
        rc = plan_input(&p, &o.inputs[i], i);
    if (rc == 0 && p.nskipped && !o.quiet)
        cli_warn("skipped %zu file%s that %s not array file%s", p.nskipped,
                 p.nskipped == 1 ? "" : "s", p.nskipped == 1 ? "is" : "are",
                 p.nskipped == 1 ? "" : "s");
    if (rc == 0)
        rc = plan_check_names(&p, &o);
    if (rc == 0)
        rc = plan_choose_tiers(&p, &o);
    if (rc == 0)
        rc = pack_write(&o, &p);
    plan_free(&p);
    free_opts(&o);
    /* a signal after a successful commit changes nothing: the file is complete */
    return cli_exit_status(rc, "nothing was written");
}
