/* SPDX-License-Identifier: MIT */
/*
 * mmarr-unpack — export arrays of an mmarr file as numpy files: one array to an .npy, any
 * selection to a directory of .npy files or to an .npz archive. Public libmmarr API only.
 *
 * The .npy bytes are exactly np.save's (header text, padding, data in the stored order), so
 * npy -> mmarr -> npy gives back the same file. Everything that can be refused is checked
 * before anything is written: names, dtypes numpy cannot express, existing outputs, and the
 * checksums of every selected array (so damaged data is never exported). Hot arrays are
 * written straight from the mapping; cold ones are decompressed a few chunks at a time
 * (mmarr_file_read) into a bounded buffer, for .npz members through a streaming zip source.
 * Each output file is written to "<target>.tmp.XXXXXX", synced, and renamed into place
 * (without replacing an existing file unless --force); failures and signals remove the
 * temporary.
 */
#include "unpack.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *out)
{
    fprintf(out,
"Usage: %s [OPTIONS] FILE [ARRAY...] -o OUTPUT\n"
"Export arrays of the mmarr FILE (all, or the ARRAYs named) as numpy files that np.load\n"
"reads back with the same dtype, shape, order and bytes.\n"
"\n"
"OUTPUT decides the format:\n"
"  NAME.npy      one array (name it, unless FILE holds exactly one)\n"
"  NAME.npz      an archive with one ARRAY.npy member per array\n"
"  DIR/          one DIR/ARRAY.npy per array (also when DIR exists); a '/' in an array\n"
"                name makes subdirectories; names with absolute or '..' components are\n"
"                refused (for .npz members too)\n"
"\n"
"Options:\n"
"  -o, --output OUTPUT   where to write (see above)\n"
"  -f, --force           replace existing output files\n"
"      --deflate         compress .npz members (default: stored, like np.savez)\n"
"      --as-void         export dtypes numpy has no name for (bfloat16, float8_e4m3fn,\n"
"                        float8_e5m2, also inside structs) as opaque '|V<n>' of the same\n"
"                        bytes; without it such arrays are an error\n"
"      --no-verify       do not check the arrays' checksums before exporting them (nor\n"
"                        the chunks of cold arrays as they are decompressed)\n"
"  -q, --quiet           no progress display\n"
"  -h, --help            show this help and exit\n"
"  -V, --version         show the version and exit\n"
"\n"
"Examples:\n"
"  %s data.mmarr signal -o signal.npy\n"
"  %s data.mmarr -o arrays/\n"
"  %s data.mmarr train/x train/y -o train.npz --deflate\n"
"\n"
"Exit status: 0 success, 1 data problem (unreadable or corrupt FILE, no such array, dtype\n"
"numpy cannot express, existing output, I/O failure), 2 usage error. Interrupted by a\n"
"signal, it leaves no partial file behind and ends by that signal.\n",
            cli_progname(), cli_progname(), cli_progname(), cli_progname());
}

enum { OPT_DEFLATE = 256, OPT_AS_VOID, OPT_NO_VERIFY };

static const struct option long_opts[] = {
    {"output", required_argument, NULL, 'o'},
    {"force", no_argument, NULL, 'f'},
    {"deflate", no_argument, NULL, OPT_DEFLATE},
    {"as-void", no_argument, NULL, OPT_AS_VOID},
    {"no-verify", no_argument, NULL, OPT_NO_VERIFY},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static int parse_args(int argc, char **argv, unpack_opts *o)
{
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:fqhV", long_opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            o->output = optarg;
            break;
        case 'f':
            o->force = true;
            break;
        case OPT_DEFLATE:
            o->deflate = true;
            break;
        case OPT_AS_VOID:
            o->as_void = true;
            break;
        case OPT_NO_VERIFY:
            o->verify = false;
            break;
        case 'q':
            o->quiet = true;
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
    }
    if (optind >= argc)
        return cli_usage_error("no input file");
    o->file = argv[optind++];
    o->arrays = (const char **)(argv + optind);
    o->narrays = (size_t)(argc - optind);
    for (size_t i = 0; i < o->narrays; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(o->arrays[i], o->arrays[j]))
                return cli_usage_error("array \"%s\" is named twice", o->arrays[i]);
    if (!o->output)
        return cli_usage_error("no output: give -o NAME.npy, -o NAME.npz or -o DIR/");
    return CLI_CONTINUE;
}

static int output_kind(const char *out, out_kind *kind)
{
    struct stat st;
    if (cli_ends_with(out, "/") || (stat(out, &st) == 0 && S_ISDIR(st.st_mode)))
        *kind = OUT_DIR;
    else if (cli_ends_with(out, ".npz"))
        *kind = OUT_NPZ;
    else if (cli_ends_with(out, ".npy"))
        *kind = OUT_NPY;
    else
        return cli_usage_error("-o '%s': cannot tell the format; end it with .npy, .npz or /",
                               out);
    return 0;
}

int main(int argc, char **argv)
{
    cli_init(argv[0]);
    unpack_opts o = {.verify = true};
    int rc = parse_args(argc, argv, &o);
    if (rc != CLI_CONTINUE)
        return cli_finish_output(rc);
    unpacker u = {.o = &o};
    rc = output_kind(o.output, &u.kind);
    if (rc)
        return rc;
    const mode_t um = umask(0);
    umask(um);
    u.mode = 0666 & ~um;
    cli_catch_signals();
    cli_catch_sigbus("mmarr-unpack");
    return cli_exit_status(unpack_run(&u), "the unfinished file was removed");
}
