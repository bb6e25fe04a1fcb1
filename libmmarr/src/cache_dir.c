/* SPDX-License-Identifier: MIT */
/*
 * cache_dir.c — the shared decompression cache's directory (docs/cache-protocol.md): where it
 * is ($MMARR_CACHE_DIR, default /dev/shm/mmarr-cache-<uid>), whether it can be trusted (opened
 * with O_NOFOLLOW, ours, mode 0700 or stricter; everything else relative to that descriptor
 * without following links), its bound ($MMARR_CACHE_MAX, default half the file system),
 * scanning its entries, locks and temporaries, least-recently-used eviction that never removes
 * a mapped entry (LOCK_EX|LOCK_NB), and the housekeeping calls mmarr_cache_default_dir,
 * _default_max, _list and _clear. The fill protocol of mmarr_file_map is in cache_map.c.
 */
#include "mm_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* ---- names ---- */

static bool is_key(const char *s, size_t n)
{
    if (n < MM_KEY_HEX)
        return false;
    for (size_t i = 0; i < MM_KEY_HEX; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

enum mm_kind { MM_OTHER, MM_ENTRY, MM_LOCK, MM_TMP };

static enum mm_kind name_kind(const char *name)
{
    const size_t n = strlen(name);
    if (!is_key(name, n))
        return MM_OTHER;
    if (n == MM_KEY_HEX)
        return MM_ENTRY;
    if (!strcmp(name + MM_KEY_HEX, ".lock"))
        return MM_LOCK;
    if (!strncmp(name + MM_KEY_HEX, ".tmp.", 5))
        return MM_TMP;
    return MM_OTHER;
}

static int64_t ts_ns(struct timespec t) { return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec; }

void mm_cache_lock_name(char out[MM_KEY_HEX + 6], const char *key)
{
    memcpy(out, key, MM_KEY_HEX);
    memcpy(out + MM_KEY_HEX, ".lock", 6);
}

/* ---- the directory ---- */

static mmarr_err default_dir(char *buf, size_t size, mmarr_error *e)
{
    const char *env = getenv("MMARR_CACHE_DIR");
    int n;
    if (env && *env)
        n = snprintf(buf, size, "%s", env);
    else
        n = snprintf(buf, size, "/dev/shm/mmarr-cache-%lu", (unsigned long)geteuid());
    if (n < 0 || (size_t)n >= size)
        MM_FAIL(e, MMARR_E_RANGE, MMARR_NO_OFFSET, "cache directory name too long (%d bytes)", n);
    return MMARR_OK;
}

/* Open `dir` (creating its last component with mode 0700 if `create`) and check that it can
 * be trusted. MMARR_E_NOTFOUND when it does not exist and !create. */
static mmarr_err dir_open(const char *dir, bool create, int *out, mmarr_error *e)
{
    *out = -1;
    if (create && mkdir(dir, 0700) != 0 && errno != EEXIST)
        MM_FAIL_SYS(e, MMARR_E_IO, errno, "cannot create cache directory %s", dir);
    const int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        const int se = errno;
        struct stat ls;
        if (se == ENOENT && !create)
            MM_FAIL(e, MMARR_E_NOTFOUND, MMARR_NO_OFFSET, "cache directory %s does not exist", dir);
        if ((se == ELOOP || se == ENOTDIR) && lstat(dir, &ls) == 0 && S_ISLNK(ls.st_mode))
            MM_FAIL_SYS(e, MMARR_E_IO, se, "refusing cache directory %s: it is a symbolic link",
                        dir);
        MM_FAIL_SYS(e, MMARR_E_IO, se, "cannot open cache directory %s", dir);
    }
    struct stat st;
    mmarr_err rc = MMARR_OK;
    if (fstat(fd, &st) != 0)
        rc = mm_set_syserr(e, MMARR_E_IO, errno, "cannot stat cache directory %s", dir);
    else if (st.st_uid != geteuid())
        rc = mm_set_syserr(e, MMARR_E_IO, EPERM,
                           "refusing cache directory %s: owned by uid %lu, not by uid %lu "
                           "(another user could plant or swap entries)",
                           dir, (unsigned long)st.st_uid, (unsigned long)geteuid());
    else if (st.st_mode & (S_ISVTX | S_IWOTH))
        /* a shared directory such as /tmp: never advise opening it up or closing it */
        rc = mm_set_syserr(e, MMARR_E_IO, EPERM,
                           "refusing cache directory %s: mode %04o, a directory shared with "
                           "other users; give a directory of your own (e.g. %s/mmarr-cache-%lu, "
                           "made with mode 0700 when missing)",
                           dir, (unsigned)(st.st_mode & 07777), dir, (unsigned long)geteuid());
    else if (st.st_mode & 077)
        rc = mm_set_syserr(e, MMARR_E_IO, EPERM,
                           "refusing cache directory %s: mode %04o gives other users access "
                           "(must be 0700: chmod 700 %s)",
                           dir, (unsigned)(st.st_mode & 07777), dir);
    if (rc != MMARR_OK) {
        close(fd);
        return rc;
    }
    *out = fd;
    return MMARR_OK;
}

static mmarr_err default_max(int dirfd, const char *dir, uint64_t *out, mmarr_error *e)
{
    const char *env = getenv("MMARR_CACHE_MAX");
    if (env && *env) {
        if (!mm_parse_size(env, out) || *out == 0)
            MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                    "MMARR_CACHE_MAX=\"%s\" is not a size in bytes > 0 (e.g. "
                    "1073741824 or 1G)",
                    env);
        return MMARR_OK;
    }
    struct statvfs sv;
    if (fstatvfs(dirfd, &sv) != 0)
        MM_FAIL_SYS(e, MMARR_E_IO, errno, "cannot statvfs cache directory %s", dir);
    uint64_t total = (uint64_t)sv.f_blocks * sv.f_frsize;
    if (total == 0) { /* tmpfs mounted with size=0 (unlimited): bound by memory instead */
        const long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        total = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : UINT64_MAX;
    }
    *out = total / 2;
    return MMARR_OK;
}

/* Resolve (NULL: default), create if asked, check, and find the bound. */
mmarr_err mm_cache_dir_setup(const char *dir, bool create, uint64_t max_bytes, int *fd_out,
                             char **dir_out, uint64_t *max_out, mmarr_error *e)
{
    char buf[4096];
    if (!dir) {
        MM_TRY(default_dir(buf, sizeof buf, e));
        dir = buf;
    }
    int fd;
    MM_TRY(dir_open(dir, create, &fd, e));
    mmarr_err rc = MMARR_OK;
    if (max_out) {
        if (max_bytes)
            *max_out = max_bytes;
        else
            rc = default_max(fd, dir, max_out, e);
    }
    if (rc == MMARR_OK && dir_out && !(*dir_out = strdup(dir)))
        rc = mm_set_error(e, MMARR_E_NOMEM, MMARR_NO_OFFSET, "out of memory");
    if (rc != MMARR_OK) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return MMARR_OK;
}

/* ---- scanning a directory ---- */

typedef struct scan_item {
    char *name;
    enum mm_kind kind;
    uint64_t bytes;
    int64_t mtime_ns;
    bool in_use;
} scan_item;

typedef struct scan_list {
    scan_item *v;
    size_t n, cap;
} scan_list;

static void scan_free(scan_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* true if some process holds a lock on the file `name` (probe with LOCK_EX|LOCK_NB). */
static bool probe_in_use(int dirfd, const char *name)
{
    const int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return false;
    const bool busy = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return busy;
}

/* List the cache files of dirfd (regular files with cache names only). */
static mmarr_err scan_dir(int dirfd, const char *dir, bool probe, scan_list *l, mmarr_error *e)
{
    memset(l, 0, sizeof *l);
    const int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        MM_FAIL_SYS(e, MMARR_E_IO, errno, "cannot read cache directory %s", dir);
    DIR *d = fdopendir(fd); /* allocates its buffer: ENOMEM is out of memory, not I/O */
    if (!d) {
        const int se = errno;
        close(fd);
        MM_FAIL_SYS(e, se == ENOMEM ? MMARR_E_NOMEM : MMARR_E_IO, se,
                    "cannot read cache directory %s", dir);
    }
    mmarr_err rc = MMARR_OK;
    struct dirent *de;
    for (;;) {
        errno = 0;
        if (!(de = readdir(d))) {
            if (errno)
                rc = mm_set_syserr(e, MMARR_E_IO, errno, "cannot read cache directory %s", dir);
            break;
        }
        const enum mm_kind kind = name_kind(de->d_name);
        struct stat st;
        if (kind == MM_OTHER || fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if (l->n == l->cap) {
            const size_t cap = l->cap ? 2 * l->cap : 32;
            scan_item *v = realloc(l->v, cap * sizeof *v);
            if (!v) {
                rc = mm_set_error(e, MMARR_E_NOMEM, MMARR_NO_OFFSET, "out of memory");
                break;
            }
            l->v = v;
            l->cap = cap;
        }
        scan_item *it = &l->v[l->n];
        if (!(it->name = strdup(de->d_name))) {
            rc = mm_set_error(e, MMARR_E_NOMEM, MMARR_NO_OFFSET, "out of memory");
            break;
        }
        it->kind = kind;
        it->bytes = (uint64_t)st.st_size;
        it->mtime_ns = ts_ns(st.st_mtim);
        it->in_use = probe && kind == MM_ENTRY && probe_in_use(dirfd, de->d_name);
        l->n++;
    }
    closedir(d);
    if (rc != MMARR_OK)
        scan_free(l);
    return rc;
}

/* Unused first, then least recently used, then by name (a stable order for ties). */
static int lru_cmp(const void *pa, const void *pb)
{
    const scan_item *a = pa, *b = pb;
    if (a->in_use != b->in_use)
        return a->in_use ? 1 : -1;
    if (a->mtime_ns != b->mtime_ns)
        return a->mtime_ns < b->mtime_ns ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* Least recently used first, then by name. */
static int age_cmp(const void *pa, const void *pb)
{
    const scan_item *a = pa, *b = pb;
    if (a->mtime_ns != b->mtime_ns)
        return a->mtime_ns < b->mtime_ns ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* Keep only the items of one kind. */
static void keep_kind(scan_list *l, enum mm_kind kind)
{
    size_t w = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].kind == kind)
            l->v[w++] = l->v[i];
        else
            free(l->v[i].name);
    }
    l->n = w;
}

/* Remove entry `name` if nobody maps it: LOCK_EX|LOCK_NB, and only if the name still refers
 * to the file we locked. true if removed. */
static bool evict_unused(int dirfd, const char *name)
{
    const int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return false;
    bool removed = false;
    struct stat a, b;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &a) == 0 &&
        fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
        removed = unlinkat(dirfd, name, 0) == 0;
    close(fd);
    return removed;
}

/* Under the fill lock of `key`: remove that key's leftover temporaries (their filler died:
 * the caller holds its lock), then evict unmapped entries, least recently used first, until
 * `need` more bytes fit under max_bytes (need <= max_bytes). *taken receives the bytes
 * entries and temporaries still take. */
mmarr_err mm_cache_evict(int dirfd, const char *dir, const char *key, uint64_t need,
                         uint64_t max_bytes, uint64_t *taken, mmarr_error *e)
{
    scan_list l;
    MM_TRY(scan_dir(dirfd, dir, true, &l, e));
    uint64_t total = 0;
    size_t w = 0;
    for (size_t i = 0; i < l.n; i++) {
        scan_item *it = &l.v[i];
        if (it->kind == MM_TMP && !strncmp(it->name, key, MM_KEY_HEX) &&
            unlinkat(dirfd, it->name, 0) == 0) {
            free(it->name);
            continue;
        }
        if (it->kind == MM_ENTRY || it->kind == MM_TMP)
            total += it->bytes;
        if (it->kind == MM_ENTRY)
            l.v[w++] = *it;
        else
            free(it->name);
    }
    l.n = w;
    if (l.n)
        qsort(l.v, l.n, sizeof *l.v, lru_cmp);
    for (size_t i = 0; i < l.n && total > max_bytes - need; i++)
        if (!l.v[i].in_use && evict_unused(dirfd, l.v[i].name))
            total -= l.v[i].bytes < total ? l.v[i].bytes : total;
    scan_free(&l);
    *taken = total;
    return MMARR_OK;
}

/* ---- maintenance ---- */

mmarr_err mmarr_cache_default_dir(char *buf, size_t size, mmarr_error *err)
{
    MM_ERR_OUT(e, err);
    if (!buf || !size)
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "mmarr_cache_default_dir: no buffer");
    return default_dir(buf, size, e);
}

mmarr_err mmarr_cache_default_max(const char *dir, uint64_t *max_bytes, mmarr_error *err)
{
    MM_ERR_OUT(e, err);
    if (!max_bytes)
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "mmarr_cache_default_max: max_bytes is NULL");
    int fd;
    mmarr_err rc = mm_cache_dir_setup(dir, false, 0, &fd, NULL, max_bytes, e);
    if (rc == MMARR_E_NOTFOUND)
        e->code = rc = MMARR_E_IO;
    if (rc == MMARR_OK)
        close(fd);
    return rc;
}

/* Open an existing cache directory (NULL: the default) and list its files. A directory that
 * does not exist is an empty list with *fd -1. */
static mmarr_err open_scan(const char *dir, int *fd, char **path, scan_list *l, mmarr_error *e)
{
    memset(l, 0, sizeof *l);
    *fd = -1;
    *path = NULL;
    mmarr_err rc = mm_cache_dir_setup(dir, false, 0, fd, path, NULL, e);
    if (rc == MMARR_E_NOTFOUND)
        return MMARR_OK;
    if (rc == MMARR_OK)
        rc = scan_dir(*fd, *path, true, l, e);
    if (rc != MMARR_OK) {
        close(*fd);
        free(*path);
        *fd = -1;
        *path = NULL;
    }
    return rc;
}

mmarr_err mmarr_cache_list(const char *dir, int (*cb)(const mmarr_cache_entry *e, void *ctx),
                           void *ctx, mmarr_error *err)
{
    MM_ERR_OUT(e, err);
    if (!cb)
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "mmarr_cache_list: cb is NULL");
    int fd;
    char *path;
    scan_list l;
    MM_TRY(open_scan(dir, &fd, &path, &l, e));
    if (fd >= 0)
        close(fd);
    free(path);
    keep_kind(&l, MM_ENTRY);
    if (l.n)
        qsort(l.v, l.n, sizeof *l.v, age_cmp);
    for (size_t i = 0; i < l.n; i++) {
        const mmarr_cache_entry ce = {l.v[i].name, l.v[i].bytes,
                                      (int64_t)(l.v[i].mtime_ns / 1000000000), l.v[i].in_use};
        if (cb(&ce, ctx))
            break;
    }
    scan_free(&l);
    return MMARR_OK;
}

/* Remove `name`, adding its size to *removed; MMARR_E_IO unless it is already gone. */
static mmarr_err remove_file(int dirfd, const char *dir, const scan_item *it, uint64_t *removed,
                             mmarr_error *e)
{
    if (unlinkat(dirfd, it->name, 0) == 0) {
        *removed += it->bytes;
        return MMARR_OK;
    }
    if (errno == ENOENT)
        return MMARR_OK;
    MM_FAIL_SYS(e, MMARR_E_IO, errno, "%s/%s: cannot remove", dir, it->name);
}

/* true if nobody holds "<key>.lock" for the key `name` starts with (so a temporary of that
 * key is a leftover: its filler held the lock until it renamed or removed it). */
static bool key_unlocked(int dirfd, const char *name)
{
    char lname[MM_KEY_HEX + 6];
    mm_cache_lock_name(lname, name);
    const int fd = openat(dirfd, lname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT;
    const bool free_ = flock(fd, LOCK_EX | LOCK_NB) == 0;
    close(fd);
    return free_;
}

mmarr_err mmarr_cache_clear(const char *dir, uint64_t keep_bytes, uint64_t *removed_bytes,
                            mmarr_error *err)
{
    MM_ERR_OUT(e, err);
    uint64_t removed = 0;
    if (removed_bytes)
        *removed_bytes = 0;
    int fd;
    char *path;
    scan_list l;
    mmarr_err rc = open_scan(dir, &fd, &path, &l, e);
    if (rc != MMARR_OK || fd < 0)
        return rc;
    /* leftovers first: temporaries of dead fillers, then lock files nobody holds */
    for (size_t i = 0; rc == MMARR_OK && i < l.n; i++)
        if (l.v[i].kind == MM_TMP && key_unlocked(fd, l.v[i].name))
            rc = remove_file(fd, path, &l.v[i], &removed, e);
    for (size_t i = 0; rc == MMARR_OK && i < l.n; i++)
        if (l.v[i].kind == MM_LOCK && !probe_in_use(fd, l.v[i].name)) {
            uint64_t none = 0;
            rc = remove_file(fd, path, &l.v[i], &none, e);
        }
    if (rc == MMARR_OK) {
        keep_kind(&l, MM_ENTRY);
        uint64_t total = 0;
        for (size_t i = 0; i < l.n; i++)
            total += l.v[i].bytes;
        if (l.n)
            qsort(l.v, l.n, sizeof *l.v, lru_cmp);
        for (size_t i = 0; rc == MMARR_OK && i < l.n && (total > keep_bytes || !keep_bytes); i++) {
            rc = remove_file(fd, path, &l.v[i], &removed, e);
            total -= l.v[i].bytes; /* removed now, or by someone else meanwhile */
        }
    }
    scan_free(&l);
    close(fd);
    free(path);
    if (removed_bytes)
        *removed_bytes = removed;
    return rc;
}
