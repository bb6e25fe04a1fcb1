/* SPDX-License-Identifier: MIT */
/*
 * mmarr-info — describe an mmarr file: a table of its arrays (or one JSON document), checksum
 * verification of every array, page-cache residency, and the details and leading values of
 * one array. Thin over the public API (mmarr.h): no private headers, no parsing of file bytes.
 *
 * Output never depends on which mode computed it: the table, the JSON document and the array
 * view all print from the same mmarr_file_info / mmarr_array_info structs. Arrays are
 * processed one at a time, so a file of 100,000 arrays costs little more memory than one of
 * ten (--resident keeps 8 bytes per array). See mmarr-info.1.md for the JSON schema.
 */
#include "info.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_VALUES 10

static void usage(void)
{
    printf("Usage: %s [OPTION]... FILE [ARRAY]\n"
           "Describe an mmarr file: its arrays as a table, or one ARRAY in detail.\n"
           "\n"
           "  -j, --json        print one JSON document instead of text\n"
           "      --verify      check every array's checksum; report each failure\n"
           "      --resident    show how much of each array is in the page cache now\n"
           "  -n, --values=N    with ARRAY, show its first N values (default %d; 0: none)\n"
           "      --chunks      with ARRAY, list a cold array's chunks: raw and stored\n"
           "                    offsets and sizes, ratio, checksum\n"
           "  -h, --help        show this help and exit\n"
           "  -V, --version     show the program, library and format versions and exit\n"
           "\n"
           "Exit status: 0 success (with --verify: every array verified and matched);\n"
           "1 data problem (unreadable, not mmarr, corrupt or truncated file, no such\n"
           "array, checksum mismatch, stale or unverifiable array); 2 usage error.\n"
           "See mmarr-info(1) for the JSON schema.\n",
           cli_progname(), DEFAULT_VALUES);
}

/* Parse argv into *o; returns CLI_CONTINUE to go on, else the exit code. */
static int parse_args(int argc, char **argv, info_opts *o)
{
    enum { OPT_VERIFY = 256, OPT_RESIDENT, OPT_CHUNKS };
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},          {"verify", no_argument, NULL, OPT_VERIFY},
        {"resident", no_argument, NULL, OPT_RESIDENT}, {"values", required_argument, NULL, 'n'},
        {"chunks", no_argument, NULL, OPT_CHUNKS}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->values = DEFAULT_VALUES;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":jn:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': o->json = 1; break;
        case OPT_VERIFY: o->verify = 1; break;
        case OPT_RESIDENT: o->resident = 1; break;
        case OPT_CHUNKS: o->chunks = 1; break;
        case 'n': {
            char *end;
            errno = 0;
            const unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-')
                return cli_usage_error("--values: not a count: '%s'", optarg);
            o->values = v;
            break;
        }
        case 'h': usage(); return CLI_EXIT_OK;
        case 'V': cli_print_version(); return CLI_EXIT_OK;
        case ':': return cli_usage_error("option '%s' needs an argument", argv[optind - 1]);
        default: return cli_bad_option(argv[optind - 1], optopt);
        }
    }
    if (optind >= argc)
        return cli_usage_error("no FILE given");
    if (argc - optind > 2)
        return cli_usage_error("too many arguments: '%s'", argv[optind + 2]);
    o->path = argv[optind];
    o->array = optind + 1 < argc ? argv[optind + 1] : NULL;
    if (o->chunks && !o->array)
        return cli_usage_error("--chunks lists the chunks of one ARRAY: name it");
    return CLI_CONTINUE;
}

static int run(mmarr_file *f, const info_opts *o)
{
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    mmarr_array_info one;
    if (o->array) {
        mmarr_error e;
        if (mmarr_file_find_array(f, o->array, &one, &e) != MMARR_OK) {
            cli_error("%s", e.message);
            return CLI_EXIT_DATA;
        }
    }
    residency res = {0};
    int rc = CLI_EXIT_OK;
    if (o->resident)
        rc = info_measure_residency(f, fi.count, &res);
    vsummary vs = {{0}, 0, 0, 0, fi.inactive_slot_damaged};
    if (rc == CLI_EXIT_OK) {
        const mmarr_array_info *pa = o->array ? &one : NULL;
        const residency *pr = o->resident ? &res : NULL;
        vsummary *pv = o->verify ? &vs : NULL;
        rc = o->json ? info_json_document(f, &fi, o, pa, pr, pv)
                     : info_text_output(f, &fi, o, pa, pr, pv);
        if (o->verify && info_verify_failed(&vs))
            rc = CLI_EXIT_DATA;
    }
    free(res.bytes);
    return cli_finish_output(rc);
}

int main(int argc, char **argv)
{
    cli_init(argv[0]);
    info_opts o;
    const int prc = parse_args(argc, argv, &o);
    if (prc != CLI_CONTINUE)
        return cli_finish_output(prc);
    mmarr_file *f = NULL;
    mmarr_error e;
    cli_catch_sigbus("mmarr-info");
    cli_sigbus_file(o.path);
    if (mmarr_open(o.path, 0, &f, &e) != MMARR_OK) {
        cli_error("%s", e.message); /* the library's one line names the file and the fault */
        return CLI_EXIT_DATA;
    }
    const int rc = run(f, &o);
    mmarr_close(f);
    return rc;
}
