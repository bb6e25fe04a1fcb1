/* SPDX-License-Identifier: MIT */
/*
 * unpack_write.c — mmarr-unpack's work: select the arrays and turn each into an .npy header
 * (refusing names that could escape the output and dtypes numpy cannot express), refuse
 * existing outputs, verify checksums, then write .npy files (hot arrays straight from the
 * mapping, cold ones a few chunks at a time), a directory of them, or an .npz archive.
 */
#include "npyio.h"
#include "npzio.h"
#include "unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WRITE_PIECE (8u << 20)

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
    /* the values of a ragged item go beside its offsets ("x/offsets"): x/values.npy, so
     * that nobody takes the concatenated items for an array of their own (spec.md §7.7) */
    mmarr_ragged_info r;
    const bool values = mmarr_file_ragged(u->f, index, &r) && r.values == index;
    if (values && u->kind == OUT_NPY) {
        cli_error("%s: \"%s\" is a ragged item (%" PRIu64 " items of different lengths), not "
                  "one array: export it to -o DIR/ or -o NAME.npz (%s/values.npy and its "
                  "offsets array), or read it with the mmarr Python package",
                  u->o->file, name, r.count, name);
        return CLI_EXIT_DATA;
    }
    const char *part = values ? "/values" : "";
    if (u->kind == OUT_DIR) {
        const bool slash = cli_ends_with(u->o->output, "/");
        j->target = str_printf("%s%s%s%s.npy", u->o->output, slash ? "" : "/", name, part);
    } else if (u->kind == OUT_NPZ) {
        j->target = str_printf("%s%s.npy", name, part);
    }
    if (u->kind != OUT_NPY && !j->target) {
        return cli_oom();
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
    /* room for the offsets of ragged items named without them */
    u->jobs = calloc(count ? 2 * count : 1, sizeof *u->jobs);
    if (!u->jobs) {
        return cli_oom();
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
        u->n++;
        int rc = prepare_job(u, index, &u->jobs[u->n - 1]);
        if (rc)
            return rc;
    }
    /* a ragged item named alone brings its offsets: its values mean nothing without them */
    for (size_t i = 0, named = u->n; o->narrays && u->kind != OUT_NPY && i < named; i++) {
        mmarr_ragged_info r;
        const size_t v = u->jobs[i].a.index;
        bool have = false;
        if (!mmarr_file_ragged(u->f, v, &r) || r.values != v)
            continue;
        for (size_t k = 0; k < u->n; k++)
            have |= u->jobs[k].a.index == r.offsets;
        if (have)
            continue;
        u->n++;
        int rc = prepare_job(u, r.offsets, &u->jobs[u->n - 1]);
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
            return CLI_INTERRUPTED;
        if (mmarr_file_verify_array(u->f, u->jobs[i].a.index, &e) != MMARR_OK) {
            cli_error("%s", e.message);
            return CLI_EXIT_DATA;
        }
    }
    return 0;
}

static int sys_error(const char *path, const char *what)
{
    if (cli_interrupted())
        return CLI_INTERRUPTED;
    cli_error("%s: %s%s%s", path, what, *what ? ": " : "", strerror(errno));
    return CLI_EXIT_DATA;
}

/* A new empty temporary beside `target`, with the mode a new file would get. */
static int make_temp(const unpacker *u, const char *target, char **tmp, int *fd)
{
    *tmp = str_printf("%s.tmp.XXXXXX", target);
    if (!*tmp) {
        return cli_oom();
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
            return CLI_INTERRUPTED;
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
        return cli_oom();
    }
    char err[768];
    int rc = 0;
    for (uint64_t at = 0; rc == 0 && at < j->a.nbytes; at += piece) {
        const size_t n = j->a.nbytes - at < piece ? (size_t)(j->a.nbytes - at) : piece;
        if (read_cold(j, at, buf, n, err, sizeof err) != 0) {
            if (cli_interrupted())
                rc = CLI_INTERRUPTED;
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
        return cli_oom();
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
            rc = cli_interrupted() ? CLI_INTERRUPTED : CLI_EXIT_DATA;
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

int unpack_run(unpacker *u)
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
