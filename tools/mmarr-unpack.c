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
#include "cli_common.h"
#include "npyio.h"
#include "npzio.h"

#include <mmarr.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WRITE_PIECE (8u << 20)
#define EXIT_INTERRUPTED (-1)
#define EXIT_DONE (-2) /* --help or --version handled */

typedef enum out_kind { OUT_NPY, OUT_DIR, OUT_NPZ } out_kind;

typedef struct unpack_opts {
    const char *file, *output;
    const char **arrays;
    size_t narrays;
    bool force, quiet, deflate, as_void, verify;
} unpack_opts;

typedef struct job { /* one array to export */
    mmarr_file *f;
    mmarr_array_info a;
    unsigned char *header; /* its .npy preamble + header */
    size_t hlen;
    char *target;          /* directory mode: the file; .npz: the member name */
} job;

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
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int output_kind(const char *out, out_kind *kind)
{
    struct stat st;
    if (ends_with(out, "/") || (stat(out, &st) == 0 && S_ISDIR(st.st_mode)))
        *kind = OUT_DIR;
    else if (ends_with(out, ".npz"))
        *kind = OUT_NPZ;
    else if (ends_with(out, ".npy"))
        *kind = OUT_NPY;
    else
        return cli_usage_error("-o '%s': cannot tell the format; end it with .npy, .npz or /",
                               out);
    return 0;
}

/* Array names become paths (directory files, .npz members): refuse what could escape. */
static bool name_is_safe_path(const char *name)
{
    if (name[0] == '/')
        return false;
    for (const char *p = name; *p;) {
        const char *e = strchr(p, '/');
        const size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p += n + (e ? 1 : 0);
        if (e && !*p)
            return false; /* trailing '/' */
    }
    return true;
}

static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *str_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* ---- planning: select, convert, check ---- */

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

static int prepare_job(unpacker *u, size_t index, job *j)
{
    mmarr_error e;
    char err[512];
    if (mmarr_file_array(u->f, index, &j->a, &e) != MMARR_OK) {
        cli_error("%s", e.message);
        return CLI_EXIT_DATA;
    }
    const char *name = j->a.name;
    j->f = u->f;
    if (u->kind != OUT_NPY && !name_is_safe_path(name)) {
        cli_error("%s: array \"%s\": the name cannot be used as a path (absolute, empty, '.' or "
                  "'..' components); export it alone with -o NAME.npy",
                  u->o->file, name);
        return CLI_EXIT_DATA;
    }
    char *descr;
    if (npy_descr_from_dtype(j->a.dtype, u->o->as_void, &descr, err, sizeof err) != NPY_OK) {
        cli_error("%s: array \"%s\": %s", u->o->file, name, err);
        return CLI_EXIT_DATA;
    }
    npy_status st = npy_format_header(descr, j->a.ndim, j->a.shape, j->a.order == MMARR_ORDER_F,
                                      &j->header, &j->hlen, err, sizeof err);
    free(descr);
    if (st != NPY_OK) {
        cli_error("%s: array \"%s\": %s", u->o->file, name, err);
        return CLI_EXIT_DATA;
    }
    if (u->kind == OUT_DIR) {
        const bool slash = ends_with(u->o->output, "/");
        j->target = str_printf("%s%s%s.npy", u->o->output, slash ? "" : "/", name);
    } else if (u->kind == OUT_NPZ) {
        j->target = str_printf("%s.npy", name);
    }
    if (u->kind != OUT_NPY && !j->target) {
        cli_error("out of memory");
        return CLI_EXIT_DATA;
    }
    u->total += j->a.nbytes;
    return 0;
}

static int select_arrays(unpacker *u)
{
    const unpack_opts *o = u->o;
    const size_t count = o->narrays ? o->narrays : mmarr_file_count(u->f);
    if (u->kind == OUT_NPY && count != 1) {
        if (o->narrays)
            return cli_usage_error("-o %s takes one array, %zu are named (use -o DIR/ or -o "
                                   "NAME.npz)", o->output, count);
        return cli_usage_error("%s holds %zu arrays: name the one to write to %s, or use -o "
                               "DIR/ or -o NAME.npz",
                               o->file, count, o->output);
    }
    u->jobs = calloc(count ? count : 1, sizeof *u->jobs);
    if (!u->jobs) {
        cli_error("out of memory");
        return CLI_EXIT_DATA;
    }
    for (size_t i = 0; i < count; i++) {
        size_t index = i;
        mmarr_error e;
        if (o->narrays) {
            mmarr_err rc = mmarr_file_find(u->f, o->arrays[i], &index, &e);
            if (rc != MMARR_OK) {
                if (rc == MMARR_E_NOTFOUND)
                    cli_error("%s: no array named \"%s\"", o->file, o->arrays[i]);
                else
                    cli_error("%s", e.message);
                return CLI_EXIT_DATA;
            }
        }
        u->n = i + 1;
        int rc = prepare_job(u, index, &u->jobs[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static int refuse_existing(const unpacker *u)
{
    if (u->o->force)
        return 0;
    struct stat st;
    if (u->kind != OUT_DIR) {
        if (lstat(u->o->output, &st) == 0) {
            cli_error("%s: already exists (use --force to replace it)", u->o->output);
            return CLI_EXIT_DATA;
        }
        return 0;
    }
    for (size_t i = 0; i < u->n; i++)
        if (lstat(u->jobs[i].target, &st) == 0) {
            cli_error("%s: already exists (use --force to replace it)", u->jobs[i].target);
            return CLI_EXIT_DATA;
        }
    return 0;
}

/* Damaged data is refused before anything is written. */
static int verify_all(const unpacker *u)
{
    for (size_t i = 0; i < u->n; i++) {
        mmarr_error e;
        if (cli_interrupted())
            return EXIT_INTERRUPTED;
        if (mmarr_file_verify_array(u->f, u->jobs[i].a.index, &e) != MMARR_OK) {
            cli_error("%s", e.message);
            return CLI_EXIT_DATA;
        }
    }
    return 0;
}

/* ---- writing ---- */

static int sys_error(const char *path, const char *what)
{
    if (cli_interrupted())
        return EXIT_INTERRUPTED;
    cli_error("%s: %s%s%s", path, what, *what ? ": " : "", strerror(errno));
    return CLI_EXIT_DATA;
}

/* A new empty temporary beside `target`, with the mode a new file would get. */
static int make_temp(const unpacker *u, const char *target, char **tmp, int *fd)
{
    *tmp = str_printf("%s.tmp.XXXXXX", target);
    if (!*tmp) {
        cli_error("out of memory");
        return CLI_EXIT_DATA;
    }
    *fd = mkostemp(*tmp, O_CLOEXEC);
    if (*fd < 0) {
        int rc = sys_error(target, "cannot create a temporary file beside it");
        free(*tmp);
        *tmp = NULL;
        return rc;
    }
    if (fchmod(*fd, u->mode) != 0) {
        int rc = sys_error(*tmp, "chmod");
        close(*fd);
        unlink(*tmp);
        free(*tmp);
        *tmp = NULL;
        return rc;
    }
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return 0;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* Move the finished temporary into place: replacing only with --force. */
static int publish(const char *tmp, const char *target, bool force)
{
    int r;
    if (force) {
        r = rename(tmp, target);
    } else {
        r = renameat2(AT_FDCWD, tmp, AT_FDCWD, target, RENAME_NOREPLACE);
        if (r != 0 && (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP)) {
            r = link(tmp, target); /* file systems without RENAME_NOREPLACE */
            if (r == 0)
                unlink(tmp);
        }
    }
    if (r != 0) {
        if (errno == EEXIST)
            cli_error("%s: already exists (use --force to replace it)", target);
        else
            cli_error("%s: cannot move the finished file into place: %s", target,
                      strerror(errno));
        return CLI_EXIT_DATA;
    }
    return fsync_dir_of(target);
}

static int write_all(int fd, const void *buf, size_t n, const char *path, cli_progress *prog)
{
    const unsigned char *p = buf;
    while (n) {
        if (cli_interrupted())
            return EXIT_INTERRUPTED;
        const size_t piece = n < WRITE_PIECE ? n : WRITE_PIECE;
        ssize_t w = write(fd, p, piece);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return sys_error(path, "write");
        }
        p += w;
        n -= (size_t)w;
        if (prog)
            cli_progress_add(prog, (uint64_t)w);
    }
    return 0;
}

/* Bytes of a cold array to decompress per mmarr_file_read(): whole chunks, ~WRITE_PIECE. */
static size_t cold_piece(const job *j)
{
    return (size_t)cli_cold_piece(j->a.chunk_size, j->a.nbytes, WRITE_PIECE);
}

/* Decompress (and check) bytes [offset, offset+n) of a cold array into buf. */
static int read_cold(const job *j, uint64_t offset, void *buf, size_t n, char *err,
                     size_t errlen)
{
    mmarr_error e;
    if (cli_interrupted()) {
        snprintf(err, errlen, "interrupted");
        return -1;
    }
    if (mmarr_file_read(j->f, j->a.index, offset, buf, n, &e) != MMARR_OK) {
        snprintf(err, errlen, "%s", e.message); /* names the array, chunk and file offset */
        return -1;
    }
    return 0;
}

/* npz_fill_fn: a cold array's data for its .npz member. */
static int fill_cold(void *ctx, uint64_t offset, void *buf, size_t n, char *err, size_t errlen)
{
    return read_cold(ctx, offset, buf, n, err, errlen);
}

/* A cold array's data into fd, decompressed piece by piece. */
static int write_cold(unpacker *u, const job *j, int fd, const char *tmp)
{
    const size_t piece = cold_piece(j);
    unsigned char *buf = piece ? malloc(piece) : NULL;
    if (piece && !buf) {
        cli_error("out of memory");
        return CLI_EXIT_DATA;
    }
    char err[768];
    int rc = 0;
    for (uint64_t at = 0; rc == 0 && at < j->a.nbytes; at += piece) {
        const size_t n = j->a.nbytes - at < piece ? (size_t)(j->a.nbytes - at) : piece;
        if (read_cold(j, at, buf, n, err, sizeof err) != 0) {
            if (cli_interrupted())
                rc = EXIT_INTERRUPTED;
            else {
                cli_error("%s", err);
                rc = CLI_EXIT_DATA;
            }
        } else {
            rc = write_all(fd, buf, n, tmp, &u->prog);
        }
    }
    free(buf);
    return rc;
}

static int write_npy(unpacker *u, const job *j, const char *target)
{
    char *tmp;
    int fd;
    int rc = make_temp(u, target, &tmp, &fd);
    if (rc)
        return rc;
    if (j->a.nbytes)
        mmarr_file_advise(u->f, j->a.index, MMARR_ADVICE_SEQUENTIAL, NULL);
    rc = write_all(fd, j->header, j->hlen, tmp, NULL);
    if (rc == 0 && j->a.storage == MMARR_STORAGE_COLD) {
        rc = write_cold(u, j, fd, tmp);
    } else {
        if (rc == 0 && j->a.nbytes > SIZE_MAX) {
            cli_error("%s: array too large for this platform", target);
            rc = CLI_EXIT_DATA;
        }
        if (rc == 0)
            rc = write_all(fd, j->a.data, (size_t)j->a.nbytes, tmp, &u->prog);
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = sys_error(tmp, "fsync");
    if (close(fd) != 0 && rc == 0)
        rc = sys_error(tmp, "close");
    if (rc == 0)
        rc = publish(tmp, target, u->o->force);
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* mkdir -p: the directories along `path` (up to its last '/'), and with `whole` the last
 * component too. Existing directories are fine; anything else in the way is an error. */
static int make_dirs(const char *path, bool whole)
{
    char *p = strdup(path);
    if (!p) {
        cli_error("out of memory");
        return CLI_EXIT_DATA;
    }
    const size_t n = strlen(p);
    int rc = 0;
    for (size_t i = 1; i <= n && rc == 0; i++) {
        if (p[i] != '/' && !(whole && i == n))
            continue;
        const char save = p[i];
        p[i] = '\0'; /* p is now the directory up to here */
        struct stat st;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            rc = sys_error(p, "cannot create directory");
        } else if (stat(p, &st) != 0) {
            rc = sys_error(p, "");
        } else if (!S_ISDIR(st.st_mode)) {
            cli_error("%s: exists and is not a directory", p);
            rc = CLI_EXIT_DATA;
        }
        p[i] = save;
    }
    free(p);
    return rc;
}

static int write_dir(unpacker *u)
{
    int rc = make_dirs(u->o->output, true); /* even when there is nothing to export */
    for (size_t i = 0; rc == 0 && i < u->n; i++) {
        rc = make_dirs(u->jobs[i].target, false);
        if (rc == 0)
            rc = write_npy(u, &u->jobs[i], u->jobs[i].target);
    }
    return rc;
}

static void npz_progress(double done, void *ud)
{
    cli_progress *p = ud;
    const uint64_t at = (uint64_t)(done * (double)p->total);
    if (at > p->done)
        cli_progress_add(p, at - p->done);
}

static int npz_cancel(void *ud)
{
    (void)ud;
    return cli_interrupted() != 0;
}

static int write_npz(unpacker *u)
{
    char *tmp;
    int fd;
    int rc = make_temp(u, u->o->output, &tmp, &fd);
    if (rc)
        return rc;
    close(fd);
    char err[768];
    npz_writer *zw = NULL;
    if (npz_writer_open(tmp, u->o->deflate, &zw, err, sizeof err) != 0) {
        cli_error("%s", err);
        rc = CLI_EXIT_DATA;
    }
    for (size_t i = 0; rc == 0 && i < u->n; i++) {
        job *j = &u->jobs[i];
        unsigned char *h = j->header;
        j->header = NULL; /* the archive owns it now */
        const int r = j->a.storage == MMARR_STORAGE_COLD
                          ? npz_writer_add_stream(zw, j->target, h, j->hlen, j->a.nbytes,
                                                  cold_piece(j), fill_cold, j, err, sizeof err)
                          : npz_writer_add(zw, j->target, h, j->hlen, j->a.data, j->a.nbytes,
                                           err, sizeof err);
        if (r != 0) {
            cli_error("%s", err);
            rc = CLI_EXIT_DATA;
        }
    }
    if (rc == 0) {
        /* libzip streams every member to the file here; the writer is freed either way */
        npz_writer *w = zw;
        zw = NULL;
        if (npz_writer_close(w, npz_progress, npz_cancel, &u->prog, err, sizeof err) != 0) {
            rc = cli_interrupted() ? EXIT_INTERRUPTED : CLI_EXIT_DATA;
            if (rc == CLI_EXIT_DATA)
                cli_error("%s", err);
        }
    }
    npz_writer_discard(zw);
    if (rc == 0)
        rc = publish(tmp, u->o->output, u->o->force);
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}

static void free_jobs(unpacker *u)
{
    for (size_t i = 0; i < u->n; i++) {
        free(u->jobs[i].header);
        free(u->jobs[i].target);
    }
    free(u->jobs);
}

static int unpack(unpacker *u)
{
    mmarr_error e;
    /* with --no-verify, cold chunks are not checked as they are decompressed either */
    cli_sigbus_file(u->o->file);
    if (mmarr_open(u->o->file, u->o->verify ? 0 : MMARR_OPEN_NO_CHUNK_VERIFY, &u->f, &e) !=
        MMARR_OK) {
        cli_error("%s", e.message);
        return CLI_EXIT_DATA;
    }
    int rc = select_arrays(u);
    if (rc == 0)
        rc = refuse_existing(u);
    if (rc == 0 && u->o->verify)
        rc = verify_all(u);
    if (rc == 0) {
        cli_progress_begin(&u->prog, "unpacking", u->total, u->o->quiet);
        switch (u->kind) {
        case OUT_NPY:
            rc = write_npy(u, &u->jobs[0], u->o->output);
            break;
        case OUT_DIR:
            rc = write_dir(u);
            break;
        case OUT_NPZ:
            rc = write_npz(u);
            break;
        }
        cli_progress_end(&u->prog);
    }
    free_jobs(u);
    mmarr_close(u->f);
    return rc;
}

int main(int argc, char **argv)
{
    cli_init(argv[0]);
    unpack_opts o = {.verify = true};
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc == EXIT_DONE ? CLI_EXIT_OK : rc;
    unpacker u = {.o = &o};
    rc = output_kind(o.output, &u.kind);
    if (rc)
        return rc;
    const mode_t um = umask(0);
    umask(um);
    u.mode = 0666 & ~um;
    cli_catch_signals();
    cli_catch_sigbus("mmarr-unpack");
    rc = unpack(&u);
    if (rc == EXIT_INTERRUPTED || (rc && cli_interrupted())) {
        cli_error("interrupted; the unfinished file was removed");
        cli_reraise();
        return CLI_EXIT_DATA;
    }
    return rc;
}
