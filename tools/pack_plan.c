/* SPDX-License-Identifier: MIT */
/*
 * pack_plan.c — mmarr-pack's plan: every input's header is read (never its data) and the
 * arrays to write are listed with their names, shapes and sources, so naming problems,
 * duplicates, unknown --array-meta targets and bad inputs are reported before any output
 * exists, and the progress total is known; then each array's tier (hot or cold) and
 * compression settings are decided.
 */
#include "pack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool pack_push(void **arr, size_t *n, size_t elem)
{
    void *p = realloc(*arr, (*n + 1) * elem);
    if (!p)
        return false;
    *arr = p;
    return true;
}

/* Length of an input's NAME (it is a prefix of argv text ending at '='). */
static size_t input_name_len(const input *in) { return (size_t)(in->path - 1 - in->name); }

void plan_free(plan *p)
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

const uint64_t *item_shape(const plan *p, const item *it) { return p->dims + it->dims_at; }

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
    if (!name || !dt || !dims || !pack_push((void **)&p->items, &p->n, sizeof *p->items)) {
        free(name);
        free(dt);
        cli_oom();
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
    if (!copy || !pack_push((void **)&p->src, &p->nsrc, sizeof *p->src)) {
        free(copy);
        return cli_oom();
    }
    p->src[p->nsrc++] = (source){copy, kind, origin, p->n, 0};
    return 0;
}

ptrdiff_t pack_fd_read(void *ctx, void *buf, size_t n, char *err, size_t errlen)
{
    const pack_fd_reader *r = ctx;
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

int plan_open_input(const char *path, int *fd, struct stat *st)
{
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0 || fstat(*fd, st) != 0) {
        cli_error("%s: %s", path, strerror(errno));
        if (*fd >= 0)
            close(*fd);
        return CLI_EXIT_DATA;
    }
    return CLI_EXIT_OK;
}

/* An item for an .npy header. */
static item *plan_npy_item(plan *p, char *name, const npy_header *h)
{
    return plan_item(p, name, h->dtype, h->ndim, h->shape,
                     h->fortran_order ? MMARR_ORDER_F : MMARR_ORDER_C, h->nbytes);
}

/* Open an .npy and parse its header; on success *fd is positioned at the data. */
int plan_open_npy(const char *path, int *fd, npy_header *h)
{
    char err[768];
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) {
        cli_error("%s: %s", path, strerror(errno));
        return CLI_EXIT_DATA;
    }
    pack_fd_reader r = {*fd};
    struct stat st;
    npy_status s = npy_read_header(pack_fd_read, &r, h, err, sizeof err);
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
            return CLI_INTERRUPTED;
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
    int rc = plan_open_npy(path, &fd, &h);
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
int plan_npz_member(npz_reader *z, const char *path, size_t i, const char *member,
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
            return CLI_INTERRUPTED;
        cli_error("%s: member \"%s\": %s", path, member, err);
        return CLI_EXIT_DATA;
    }
    if (trailing)
        cli_warn("%s: member \"%s\": %llu bytes after the array data are ignored", path, member,
                 (unsigned long long)trailing);
    return 0;
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
        if (!cli_ends_with(member, ".npy") || strlen(member) == 4) {
            cli_warn("%s: member \"%s\" is not an .npy array; skipped", path, member);
            continue;
        }
        npz_stream *s;
        npy_header h;
        rc = plan_npz_member(z, path, i, member, size, &s, &h);
        if (rc)
            break;
        npz_stream_close(s);
        item *it = plan_npy_item(
            p, str_concat(prefix, strlen(prefix), member, strlen(member) - 4), &h);
        npy_header_free(&h);
        char *mn = it ? strdup(member) : NULL;
        if (!mn) {
            rc = it ? cli_oom() : CLI_EXIT_DATA;
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
static int plan_file(plan *p, const char *path, const char *name, size_t name_len, bool named,
                     bool in_dir, const raw_spec *raw, size_t origin)
{
    int fd;
    struct stat st;
    if (plan_open_input(path, &fd, &st))
        return CLI_EXIT_DATA;
    unsigned char magic[NPY_MAGIC_LEN];
    ssize_t got = read(fd, magic, sizeof magic);
    close(fd);
    if (got < 0) {
        cli_error("%s: %s", path, strerror(errno));
        return CLI_EXIT_DATA;
    }
    char *base = named ? strndup(name, name_len) : strip_ext(path, true);
    if (!base) {
        return cli_oom();
    }
    if (got == NPY_MAGIC_LEN && !memcmp(magic, NPY_MAGIC, NPY_MAGIC_LEN))
        return plan_npy(p, path, base, origin);
    /* prefixes for containers: "" when a lone file is unnamed, else "NAME/" */
    const bool lone = !named;
    char *prefix = lone ? strdup("") : str_concat(base, strlen(base), "/", 1);
    int rc = 0;
    if (!prefix) {
        rc = cli_oom();
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
        } else if (cli_ends_with(path, ".npy") || cli_ends_with(path, ".npz") ||
                   cli_ends_with(path, ".mmarr")) {
            cli_error("%s: not a valid %s file (bad magic bytes)", path, strrchr(path, '.'));
            rc = CLI_EXIT_DATA;
        } else if (!raw->dtype && in_dir && p->skip_other) {
            if (!p->quiet)
                cli_warn("%s: not an .npy, .npz or .mmarr file; skipped", path);
            p->nskipped++;
        } else if (!raw->dtype) {
            cli_error("%s: not an .npy, .npz or .mmarr file (for raw binary data, give --dtype "
                      "and --shape before it%s)",
                      path, in_dir ? "; --skip-other skips such files in directories" : "");
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
        if (!copy || !pack_push((void **)&names, &n, sizeof *names)) {
            free(copy);
            rc = cli_oom();
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
            rc = cli_oom();
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
                rc = cli_oom();
            } else {
                rc = plan_file(p, full, name, strlen(name), true, true, raw, origin);
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

int plan_input(plan *p, const input *in, size_t origin)
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
            return cli_oom();
        }
        int rc = plan_dir(p, in->path, prefix, "", &in->raw, origin, 0);
        free(prefix);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        cli_error("%s: not a regular file or directory", in->path);
        return CLI_EXIT_DATA;
    }
    return plan_file(p, in->path, in->name, nl, in->name != NULL, false, &in->raw, origin);
}

const char *item_where(const plan *p, const item *it, char *buf, size_t n)
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
int plan_check_names(const plan *p, const pack_opts *o)
{
    size_t *ix = malloc((p->n ? p->n : 1) * sizeof *ix);
    if (!ix) {
        return cli_oom();
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
int plan_choose_tiers(plan *p, const pack_opts *o)
{
    bool *cold_used = calloc(o->ncold + 1, sizeof *cold_used);
    bool *hot_used = calloc(o->nhot + 1, sizeof *hot_used);
    int rc = 0;
    if (!cold_used || !hot_used)
        rc = cli_oom();
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
