/* SPDX-License-Identifier: MIT */
/*
 * mmarr-cache — look after the shared decompression cache that mmarr_file_map() fills with
 * decompressed cold arrays: list its entries, shrink or empty it, print where it is. Thin
 * over the public API (mmarr_cache_list, mmarr_cache_clear, mmarr_cache_default_dir,
 * mmarr_cache_default_max); see mmarr-cache.1.md.
 */
#include "cli_common.h"

#include <mmarr.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct opts {
    const char *dir; /* NULL: the default directory */
    const char *command;
    uint64_t keep;
    int have_keep;
} opts;

static void usage(void)
{
    printf("Usage: %s [--dir DIR] COMMAND\n"
           "Look after the shared cache of decompressed cold arrays (mmarr_file_map).\n"
           "\n"
           "Commands:\n"
           "  list              show the entries, least recently used first, and the total\n"
           "  clear             remove every entry, and leftovers of interrupted fills\n"
           "  clear --keep=SIZE remove least recently used entries (unmapped ones first)\n"
           "                    until at most SIZE bytes remain (e.g. 512M, 2G)\n"
           "  path              print the cache directory\n"
           "\n"
           "Options:\n"
           "  -d, --dir=DIR     the cache directory (default: $MMARR_CACHE_DIR, else\n"
           "                    /dev/shm/mmarr-cache-<uid>)\n"
           "  -h, --help        show this help and exit\n"
           "  -V, --version     show the program, library and format versions and exit\n"
           "\n"
           "Exit status: 0 success; 1 the directory is refused (not ours, open to others,\n"
           "a symbolic link) or cannot be read, or a file cannot be removed; 2 usage error.\n",
           cli_progname());
}

/* Parse argv into *o; returns CLI_CONTINUE to go on, else the exit code. */
static int parse_args(int argc, char **argv, opts *o)
{
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'd'}, {"keep", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},      {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":d:k:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (!*optarg)
                return cli_usage_error("--dir: empty directory name");
            o->dir = optarg;
            break;
        case 'k':
            if (!mm_parse_size(optarg, &o->keep))
                return cli_usage_error("--keep: not a size: '%s'", optarg);
            o->have_keep = 1;
            break;
        case 'h': usage(); return CLI_EXIT_OK;
        case 'V': cli_print_version(); return CLI_EXIT_OK;
        case ':': return cli_usage_error("option '%s' needs an argument", argv[optind - 1]);
        default: return cli_bad_option(argv[optind - 1], optopt);
        }
    }
    if (optind >= argc)
        return cli_usage_error("no COMMAND given (list, clear or path)");
    if (argc - optind > 1)
        return cli_usage_error("too many arguments: '%s'", argv[optind + 1]);
    o->command = argv[optind];
    if (strcmp(o->command, "list") && strcmp(o->command, "clear") && strcmp(o->command, "path"))
        return cli_usage_error("unknown command '%s' (list, clear or path)", o->command);
    if (o->have_keep && strcmp(o->command, "clear"))
        return cli_usage_error("--keep applies to 'clear' only");
    return CLI_CONTINUE;
}

/* The directory the command works on, as text. */
static int resolve_dir(const opts *o, char *buf, size_t size)
{
    if (o->dir) {
        snprintf(buf, size, "%s", o->dir);
        return CLI_EXIT_OK;
    }
    mmarr_error e;
    if (mmarr_cache_default_dir(buf, size, &e) != MMARR_OK) {
        cli_error("%s", e.message);
        return CLI_EXIT_DATA;
    }
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* list                                                                                        */

typedef struct row {
    char name[33];
    uint64_t bytes;
    int64_t last_used;
    int in_use;
} row;

typedef struct rows {
    row *v;
    size_t n, cap;
    int oom;
} rows;

static int collect(const mmarr_cache_entry *ce, void *ctx)
{
    rows *r = ctx;
    if (r->n == r->cap) {
        const size_t cap = r->cap ? 2 * r->cap : 64;
        row *v = realloc(r->v, cap * sizeof *v);
        if (!v) {
            r->oom = 1;
            return 1;
        }
        r->v = v;
        r->cap = cap;
    }
    row *w = &r->v[r->n++];
    snprintf(w->name, sizeof w->name, "%s", ce->name);
    w->bytes = ce->bytes;
    w->last_used = ce->last_used_unix;
    w->in_use = ce->in_use;
    return 0;
}

static int cmd_list(const opts *o, const char *dir)
{
    rows r = {NULL, 0, 0, 0};
    mmarr_error e;
    if (mmarr_cache_list(o->dir, collect, &r, &e) != MMARR_OK) {
        free(r.v);
        cli_error("%s", e.message);
        return CLI_EXIT_DATA;
    }
    if (r.oom) {
        free(r.v);
        return cli_oom();
    }
    struct stat st;
    if (stat(dir, &st) != 0) {
        printf("%s: no cache directory (nothing has been cached yet)\n", dir);
        free(r.v);
        return cli_finish_output(CLI_EXIT_OK);
    }
    uint64_t total = 0;
    size_t in_use = 0;
    char hb[MM_SIZE_BUF];
    if (r.n)
        printf("%-32s  %10s  %-19s  %s\n", "ENTRY", "SIZE", "LAST USED", "IN USE");
    for (size_t i = 0; i < r.n; i++) {
        char when[32] = "?";
        const time_t t = (time_t)r.v[i].last_used;
        struct tm tm;
        if (localtime_r(&t, &tm))
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        printf("%-32s  %10s  %-19s  %s\n", r.v[i].name, mm_format_size(r.v[i].bytes, hb), when,
               r.v[i].in_use ? "yes" : "no");
        total += r.v[i].bytes;
        in_use += r.v[i].in_use != 0;
    }
    printf("%s: %zu entr%s, %s (%" PRIu64 " bytes), %zu in use", dir, r.n,
           r.n == 1 ? "y" : "ies", mm_format_size(total, hb), total, in_use);
    uint64_t max;
    if (mmarr_cache_default_max(o->dir, &max, NULL) == MMARR_OK)
        printf("; default bound %s", mm_format_size(max, hb));
    printf("\n");
    free(r.v);
    return cli_finish_output(CLI_EXIT_OK);
}

/* ------------------------------------------------------------------------------------------ */

static int cmd_clear(const opts *o, const char *dir)
{
    uint64_t removed = 0;
    mmarr_error e;
    if (mmarr_cache_clear(o->dir, o->have_keep ? o->keep : 0, &removed, &e) != MMARR_OK) {
        char hb[MM_SIZE_BUF];
        cli_error("%s (%s removed before the failure)", e.message,
                  mm_format_size(removed, hb));
        return CLI_EXIT_DATA;
    }
    char hb[MM_SIZE_BUF];
    printf("%s: removed %s (%" PRIu64 " bytes)\n", dir, mm_format_size(removed, hb), removed);
    return cli_finish_output(CLI_EXIT_OK);
}

int main(int argc, char **argv)
{
    cli_init(argv[0]);
    opts o;
    const int prc = parse_args(argc, argv, &o);
    if (prc != CLI_CONTINUE)
        return cli_finish_output(prc);
    char dir[4096];
    const int rc = resolve_dir(&o, dir, sizeof dir);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (!strcmp(o.command, "path")) {
        printf("%s\n", dir);
        return cli_finish_output(CLI_EXIT_OK);
    }
    if (!strcmp(o.command, "list"))
        return cmd_list(&o, dir);
    return cmd_clear(&o, dir);
}
