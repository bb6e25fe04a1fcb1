/* SPDX-License-Identifier: MIT */
/*
 * cache.c — the shared decompression cache (issue #4): mmarr_file_map() decompresses a cold
 * array (spec.md §10) once into a per-user cache directory and maps the entry MAP_SHARED, so
 * every process of the user shares one copy. mmarr.h ("Shared decompression cache")
 * describes the contract; this file keeps these invariants:
 *
 * - Trust: the directory is opened with O_NOFOLLOW and accepted only if it is ours with mode
 *   0700 or stricter; everything else is done relative to that descriptor without following
 *   links, so the names inside cannot be redirected by another user.
 * - Never a partial entry: "<key>" appears only by renameat() of a temporary that was fully
 *   reserved (posix_fallocate), filled and, off tmpfs, fdatasync'ed. "<key>.lock" (flock)
 *   serialises the fillers of one key; the holder of the lock unlinks it before releasing
 *   it, so a waiter that wakes on an unlinked lock file starts over and finds the entry.
 * - In use: a mapper holds LOCK_SH on its entry until mmarr_close(); eviction takes
 *   LOCK_EX|LOCK_NB and so never removes a mapped entry. A mapper that opened an entry which
 *   was unlinked meanwhile (st_nlink 0) looks again.
 * - Per handle: a mutex guards the list of mapped arrays and the directory setting; the
 *   decompression itself runs outside it, marked "busy" so that other threads wanting the
 *   same array wait on a condition variable instead of decompressing twice.
 */
#include "mm_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include "mm_xxhash.h"

#define MM_KEY_HEX 32
/* Bytes decompressed per pwrite when filling an entry: whole chunks, at least one, so that
 * mmarr_file_read() can spread a slice over its threads and no chunk is decoded twice. */
#define MM_SLICE_BYTES (32u << 20)
/* Attempts to open an entry that keeps being evicted under our feet before giving up. */
#define MM_OPEN_TRIES 8
/* Attempts to take a fill lock whose file its holders keep unlinking (each such round means
 * another process finished a fill, so this is only a guard against a pathological loop). */
#define MM_LOCK_TRIES 1000

/* What an empty cold array maps to: a valid address that is never read. */
static const unsigned char mm_empty_bytes[1];

struct mm_map {
    size_t index;
    const void *data;
    size_t map_len;        /* bytes to munmap, 0 when nothing was mapped */
    int fd;                /* the entry, holding LOCK_SH; -1 if none */
    mmarr_map_source source;
    bool busy;             /* a thread is producing it: wait on done */
    char key[MM_KEY_HEX + 1];
    mmarr_error reason;    /* MMARR_MAP_PRIVATE: why */
};

struct mm_cache {
    pthread_mutex_t lock;
    pthread_cond_t done;
    bool configured;       /* a directory was chosen (set_cache, or the default on first use) */
    int dirfd;             /* -1 when the directory is unusable (dir_err says why) */
    char *dir;
    uint64_t max_bytes;
    mmarr_error dir_err;
    int ident;             /* 0 not yet looked up, 1 known, -1 unknown (ident_err) */
    unsigned dev_major, dev_minor;
    uint64_t ino;
    mmarr_error ident_err;
    struct mm_map *maps;   /* sorted by index */
    size_t nmaps, cap;
};

/* ---- small helpers ---- */

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

static void lock_name(char out[MM_KEY_HEX + 6], const char *key)
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
        return mm_set_error(e, MMARR_E_RANGE, MMARR_NO_OFFSET,
                            "cache directory name too long (%d bytes)", n);
    return MMARR_OK;
}

/* Open `dir` (creating its last component with mode 0700 if `create`) and check that it can
 * be trusted. MMARR_E_NOTFOUND when it does not exist and !create. */
static mmarr_err dir_open(const char *dir, bool create, int *out, mmarr_error *e)
{
    *out = -1;
    if (create && mkdir(dir, 0700) != 0 && errno != EEXIST)
        return mm_set_syserr(e, MMARR_E_IO, errno, "cannot create cache directory %s", dir);
    const int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        const int se = errno;
        struct stat ls;
        if (se == ENOENT && !create)
            return mm_set_error(e, MMARR_E_NOTFOUND, MMARR_NO_OFFSET,
                                "cache directory %s does not exist", dir);
        if ((se == ELOOP || se == ENOTDIR) && lstat(dir, &ls) == 0 && S_ISLNK(ls.st_mode))
            return mm_set_syserr(e, MMARR_E_IO, se,
                                 "refusing cache directory %s: it is a symbolic link", dir);
        return mm_set_syserr(e, MMARR_E_IO, se, "cannot open cache directory %s", dir);
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
            return mm_set_error(e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                                "MMARR_CACHE_MAX=\"%s\" is not a size in bytes > 0 (e.g. "
                                "1073741824 or 1G)",
                                env);
        return MMARR_OK;
    }
    struct statvfs sv;
    if (fstatvfs(dirfd, &sv) != 0)
        return mm_set_syserr(e, MMARR_E_IO, errno, "cannot statvfs cache directory %s", dir);
    uint64_t total = (uint64_t)sv.f_blocks * sv.f_frsize;
    if (total == 0) { /* tmpfs mounted with size=0 (unlimited): bound by memory instead */
        const long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        total = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : UINT64_MAX;
    }
    *out = total / 2;
    return MMARR_OK;
}

/* Resolve (NULL: default), create if asked, check, and find the bound. */
static mmarr_err dir_setup(const char *dir, bool create, uint64_t max_bytes, int *fd_out,
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
        return mm_set_syserr(e, MMARR_E_IO, errno, "cannot read cache directory %s", dir);
    DIR *d = fdopendir(fd); /* allocates its buffer: ENOMEM is out of memory, not I/O */
    if (!d) {
        const int se = errno;
        close(fd);
        return mm_set_syserr(e, se == ENOMEM ? MMARR_E_NOMEM : MMARR_E_IO, se,
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

/* ---- keys, entries and locks ---- */

/* The device and inode of the file mapped at addr, from /proc/self/maps: the file this
 * handle really reads, even if its path now names another file. */
static mmarr_err mapped_identity(const void *addr, const char *path, unsigned *maj,
                                 unsigned *min, uint64_t *ino, mmarr_error *e)
{
    FILE *fp = fopen("/proc/self/maps", "re");
    if (!fp)
        return mm_set_syserr(e, MMARR_E_UNSUPPORTED, errno,
                             "%s: cannot identify the mapped file (/proc/self/maps)", path);
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    const unsigned long long a = (unsigned long long)(uintptr_t)addr;
    while (!found && getline(&line, &cap, fp) > 0) {
        unsigned long long lo, hi, off, inode;
        char perms[8];
        if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &lo, &hi, perms, &off, maj, min,
                   &inode) == 7 &&
            lo <= a && a < hi) {
            *ino = (uint64_t)inode;
            found = inode != 0;
            break;
        }
    }
    free(line);
    fclose(fp);
    if (!found)
        return mm_set_error(e, MMARR_E_UNSUPPORTED, MMARR_NO_OFFSET,
                            "%s: the mapped file has no identity in /proc/self/maps", path);
    return MMARR_OK;
}

static void hash_u64(XXH3_state_t *st, uint64_t v) { XXH3_128bits_update(st, &v, sizeof v); }

/* The entry name: XXH3-128 of the file's identity and of everything that decides the
 * array's raw bytes (mmarr.h "Entries"), as 32 lowercase hex digits. */
static mmarr_err cache_key(mmarr_file *f, const unsigned dev[2], uint64_t ino,
                           const mmarr_array_info *a, char key[MM_KEY_HEX + 1], mmarr_error *e)
{
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        return mm_set_error(e, MMARR_E_NOMEM, MMARR_NO_OFFSET, "out of memory");
    static const char tag[] = "mmarr-cache-v1";
    XXH3_128bits_reset(st);
    XXH3_128bits_update(st, tag, sizeof tag);
    hash_u64(st, dev[0]);
    hash_u64(st, dev[1]);
    hash_u64(st, ino);
    hash_u64(st, a->offset);
    hash_u64(st, a->stored_bytes);
    hash_u64(st, a->nbytes);
    hash_u64(st, a->checksum);
    hash_u64(st, a->chunk_size);
    hash_u64(st, a->chunk_count);
    hash_u64(st, (uint64_t)a->shuffle);
    hash_u64(st, (uint64_t)a->order);
    hash_u64(st, a->ndim);
    for (unsigned i = 0; i < a->ndim; i++)
        hash_u64(st, a->shape[i]);
    const size_t dl = strlen(a->dtype_str);
    hash_u64(st, dl);
    XXH3_128bits_update(st, a->dtype_str, dl);
    mmarr_err rc = MMARR_OK;
    for (size_t k = 0; k < a->chunk_count && rc == MMARR_OK; k++) {
        mmarr_chunk_info ci;
        rc = mmarr_file_chunk(f, a->index, k, &ci, e);
        if (rc == MMARR_OK) {
            hash_u64(st, ci.raw_offset);
            hash_u64(st, ci.raw_size);
            hash_u64(st, ci.stored_offset);
            hash_u64(st, ci.stored_size);
            hash_u64(st, ci.checksum);
        }
    }
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(st));
    XXH3_freeState(st);
    for (size_t i = 0; i < 16; i++)
        snprintf(key + 2 * i, 3, "%02x", canon.digest[i]);
    return rc;
}

/* Open entry `key` and take LOCK_SH (in use). *fd = -1 when there is no usable entry;
 * *bad is set when an entry exists with the wrong size or owner (to be replaced). */
static mmarr_err entry_open(int dirfd, const char *dir, const char *key, uint64_t nbytes,
                            int *fd_out, bool *bad, mmarr_error *e)
{
    *fd_out = -1;
    *bad = false;
    for (int tries = 0; tries < MM_OPEN_TRIES; tries++) {
        const int fd = openat(dirfd, key, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
            if (errno == ENOENT)
                return MMARR_OK;
            if (errno == ELOOP) { /* only this user could have put a link here */
                *bad = true;
                return MMARR_OK;
            }
            return mm_set_syserr(e, MMARR_E_IO, errno, "%s/%s: cannot open cache entry", dir,
                                 key);
        }
        int r;
        while ((r = flock(fd, LOCK_SH)) != 0 && errno == EINTR)
            ;
        struct stat st;
        if (r != 0 || fstat(fd, &st) != 0) {
            const int se = errno;
            close(fd);
            return mm_set_syserr(e, MMARR_E_IO, se, "%s/%s: cannot lock cache entry", dir, key);
        }
        if (st.st_nlink == 0) { /* evicted between open and lock: look again */
            close(fd);
            continue;
        }
        if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (uint64_t)st.st_size != nbytes) {
            close(fd);
            *bad = true;
            return MMARR_OK;
        }
        *fd_out = fd;
        return MMARR_OK;
    }
    return MMARR_OK;
}

/* Take the fill lock of `key`: "<key>.lock" with LOCK_EX, verified to still be the linked
 * lock file (its previous holder unlinks it on release). */
static mmarr_err key_lock(int dirfd, const char *dir, const char *key, int *out, mmarr_error *e)
{
    char name[MM_KEY_HEX + 6];
    lock_name(name, key);
    for (int tries = 0;; tries++) {
        if (tries == MM_LOCK_TRIES)
            return mm_set_error(e, MMARR_E_IO, MMARR_NO_OFFSET,
                                "%s/%s: the lock file keeps being replaced", dir, name);
        const int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            return mm_set_syserr(e, MMARR_E_IO, errno, "%s/%s: cannot open lock file", dir,
                                 name);
        int r;
        while ((r = flock(fd, LOCK_EX)) != 0 && errno == EINTR)
            ;
        struct stat a, b;
        if (r != 0 || fstat(fd, &a) != 0) {
            const int se = errno;
            close(fd);
            return mm_set_syserr(e, MMARR_E_IO, se, "%s/%s: cannot lock", dir, name);
        }
        if (fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino) {
            *out = fd;
            return MMARR_OK;
        }
        close(fd);
    }
}

static void key_unlock(int dirfd, const char *key, int fd)
{
    char name[MM_KEY_HEX + 6];
    lock_name(name, key);
    unlinkat(dirfd, name, 0);
    close(fd);
}

/* ---- filling ---- */

typedef struct map_job {
    mmarr_file *f;
    mmarr_array_info a;
    int dirfd;              /* our own descriptor of the directory, or -1 */
    const char *dir;
    uint64_t max_bytes;
    unsigned dev[2];        /* identity of the mapped file */
    uint64_t ino;
    char key[MM_KEY_HEX + 1];
    /* results */
    const void *data;
    size_t map_len;
    int fd;
    mmarr_map_source source;
    mmarr_error reason;
} map_job;

static mmarr_err map_entry_fd(map_job *j, int fd, mmarr_error *e)
{
    void *p = mmap(NULL, (size_t)j->a.nbytes, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return mm_set_syserr(e, errno == ENOMEM ? MMARR_E_NOMEM : MMARR_E_IO, errno,
                             "%s/%s: cannot map the cache entry of array \"%s\" (%llu bytes)",
                             j->dir, j->key, j->a.name, (unsigned long long)j->a.nbytes);
    futimens(fd, NULL); /* last used: now (best effort; the LRU order only) */
    j->data = p;
    j->map_len = (size_t)j->a.nbytes;
    j->fd = fd;
    j->source = MMARR_MAP_CACHE;
    return MMARR_OK;
}

/* Make room for the new entry under the fill lock of j->key: drop our key's leftover
 * temporaries (their filler died: we hold its lock), then evict unmapped entries, least
 * recently used first. MMARR_E_NOSPACE in *reason when it cannot fit. */
static mmarr_err make_room(map_job *j, mmarr_error *reason)
{
    const uint64_t need = j->a.nbytes;
    if (need > j->max_bytes)
        return mm_set_error(reason, MMARR_E_NOSPACE, MMARR_NO_OFFSET,
                            "%s: array \"%s\" needs %llu bytes, more than the cache bound "
                            "(%llu bytes) of %s",
                            j->f->path, j->a.name, (unsigned long long)need,
                            (unsigned long long)j->max_bytes, j->dir);
    scan_list l;
    MM_TRY(scan_dir(j->dirfd, j->dir, true, &l, reason));
    uint64_t total = 0;
    size_t w = 0;
    for (size_t i = 0; i < l.n; i++) {
        scan_item *it = &l.v[i];
        if (it->kind == MM_TMP && !strncmp(it->name, j->key, MM_KEY_HEX) &&
            unlinkat(j->dirfd, it->name, 0) == 0) {
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
    for (size_t i = 0; i < l.n && total > j->max_bytes - need; i++)
        if (!l.v[i].in_use && evict_unused(j->dirfd, l.v[i].name))
            total -= l.v[i].bytes < total ? l.v[i].bytes : total;
    scan_free(&l);
    if (total > j->max_bytes - need)
        return mm_set_error(reason, MMARR_E_NOSPACE, MMARR_NO_OFFSET,
                            "%s: array \"%s\" (%llu bytes) does not fit the cache bound of %s: "
                            "%llu of %llu bytes are taken by entries in use",
                            j->f->path, j->a.name, (unsigned long long)need, j->dir,
                            (unsigned long long)total, (unsigned long long)j->max_bytes);
    return MMARR_OK;
}

/* Decompress the array into the new temporary `fd`, whose space is reserved. Errors of the
 * array itself (checksum, corrupt frame, memory) are returned; trouble writing the
 * temporary goes to *reason (MMARR_E_NOSPACE or MMARR_E_IO) with MMARR_OK returned and
 * *written false. */
static mmarr_err fill_tmp(map_job *j, int fd, const char *tmpname, bool *written,
                          mmarr_error *reason, mmarr_error *e)
{
    *written = false;
    uint64_t slice = j->a.chunk_size ? j->a.chunk_size : MM_SLICE_BYTES;
    if (slice < MM_SLICE_BYTES)
        slice *= MM_SLICE_BYTES / slice;
    if (slice > j->a.nbytes)
        slice = j->a.nbytes;
    unsigned char *buf = malloc((size_t)slice);
    if (!buf)
        return mm_set_error(e, MMARR_E_NOMEM, MMARR_NO_OFFSET,
                            "%s: array \"%s\": out of memory for a %llu-byte buffer", j->f->path,
                            j->a.name, (unsigned long long)slice);
    char path[4096 + 64];
    snprintf(path, sizeof path, "%s/%s", j->dir, tmpname);
    mmarr_err rc = MMARR_OK;
    for (uint64_t off = 0; off < j->a.nbytes; off += slice) {
        const uint64_t n = j->a.nbytes - off < slice ? j->a.nbytes - off : slice;
        rc = mmarr_file_read(j->f, j->a.index, off, buf, n, e);
        if (rc != MMARR_OK)
            break;
        if (mm_pwrite_all(reason, fd, path, buf, (size_t)n, off) != MMARR_OK) {
            free(buf);
            return MMARR_OK;
        }
    }
    free(buf);
    if (rc != MMARR_OK)
        return rc;
    struct statfs sfs;
    if (fstatfs(fd, &sfs) == 0 && sfs.f_type != TMPFS_MAGIC && sfs.f_type != RAMFS_MAGIC &&
        fdatasync(fd) != 0) {
        mm_set_syserr(reason, MMARR_E_IO, errno, "%s: fdatasync failed", path);
        return MMARR_OK;
    }
    *written = true;
    return MMARR_OK;
}

/* Under the fill lock: make room, write "<key>.tmp.<pid>.<n>", publish it as "<key>" and map
 * it. Cache trouble leaves j->source NONE with j->reason set (the caller falls back). */
static mmarr_err create_entry(map_job *j, mmarr_error *e)
{
    if (make_room(j, &j->reason) != MMARR_OK)
        return MMARR_OK;
    char tmpname[MM_KEY_HEX + 64];
    int fd = -1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    unsigned long n = (unsigned long)now.tv_nsec ^ (unsigned long)(uintptr_t)j;
    for (int tries = 0; fd < 0 && tries < 100; tries++, n = n * 2654435761u + 1) {
        snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld.%lx", j->key, (long)getpid(), n);
        fd = openat(j->dirfd, tmpname, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        mm_set_syserr(&j->reason, MMARR_E_IO, errno, "%s: cannot create a cache entry",
                      j->dir);
        return MMARR_OK;
    }
    char path[4096 + 64];
    snprintf(path, sizeof path, "%s/%s", j->dir, tmpname);
    bool written = false;
    mmarr_err rc = MMARR_OK;
    if (mm_reserve_space(&j->reason, fd, path, 0, j->a.nbytes) == MMARR_OK)
        rc = fill_tmp(j, fd, tmpname, &written, &j->reason, e);
    if (rc == MMARR_OK && written) {
        /* in use before it is visible, so an evictor never takes it from under us */
        if (flock(fd, LOCK_SH) != 0 || renameat(j->dirfd, tmpname, j->dirfd, j->key) != 0) {
            mm_set_syserr(&j->reason, MMARR_E_IO, errno, "%s: cannot publish as %s", path,
                          j->key);
            written = false;
        }
    }
    if (rc != MMARR_OK || !written) {
        unlinkat(j->dirfd, tmpname, 0);
        close(fd);
        return rc;
    }
    rc = map_entry_fd(j, fd, e);
    if (rc != MMARR_OK)
        close(fd);
    return rc;
}

/* The cache path: find the entry or make it. */
static mmarr_err map_cached(map_job *j, mmarr_error *e)
{
    MM_TRY(cache_key(j->f, j->dev, j->ino, &j->a, j->key, e));
    int fd;
    bool bad;
    mmarr_err rc = entry_open(j->dirfd, j->dir, j->key, j->a.nbytes, &fd, &bad, &j->reason);
    if (rc != MMARR_OK)
        return MMARR_OK; /* reason set: fall back */
    if (fd >= 0) {
        rc = map_entry_fd(j, fd, e);
        if (rc != MMARR_OK)
            close(fd);
        return rc;
    }
    int lockfd = -1;
    if (key_lock(j->dirfd, j->dir, j->key, &lockfd, &j->reason) != MMARR_OK)
        return MMARR_OK;
    rc = entry_open(j->dirfd, j->dir, j->key, j->a.nbytes, &fd, &bad, &j->reason);
    if (rc == MMARR_OK && fd >= 0) { /* another process filled it while we waited */
        rc = map_entry_fd(j, fd, e);
        if (rc != MMARR_OK)
            close(fd);
    } else if (rc == MMARR_OK) {
        if (bad) /* wrong size or owner, or a link: only a complete entry may bear the name */
            unlinkat(j->dirfd, j->key, 0);
        rc = create_entry(j, e);
    } else {
        rc = MMARR_OK; /* reason set */
    }
    key_unlock(j->dirfd, j->key, lockfd);
    return rc;
}

static mmarr_err map_private(map_job *j, mmarr_error *e)
{
    void *p = mmap(NULL, (size_t)j->a.nbytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return mm_set_syserr(e, MMARR_E_NOMEM, errno,
                             "%s: array \"%s\": cannot allocate %llu bytes for a private "
                             "decompressed copy",
                             j->f->path, j->a.name, (unsigned long long)j->a.nbytes);
    mmarr_err rc = mmarr_file_read(j->f, j->a.index, 0, p, j->a.nbytes, e);
    if (rc != MMARR_OK) {
        munmap(p, (size_t)j->a.nbytes);
        return rc;
    }
    mprotect(p, (size_t)j->a.nbytes, PROT_READ);
    j->data = p;
    j->map_len = (size_t)j->a.nbytes;
    j->source = MMARR_MAP_PRIVATE;
    return MMARR_OK;
}

static mmarr_err run_job(map_job *j, mmarr_error *e)
{
    if (j->a.nbytes == 0) {
        j->data = mm_empty_bytes;
        j->source = MMARR_MAP_PRIVATE;
        mm_set_error(&j->reason, MMARR_OK, MMARR_NO_OFFSET,
                     "%s: array \"%s\" is empty: nothing to decompress or share", j->f->path,
                     j->a.name);
        return MMARR_OK;
    }
    if (j->a.nbytes > SIZE_MAX)
        return mm_set_error(e, MMARR_E_RANGE, MMARR_NO_OFFSET,
                            "%s: array \"%s\" is too large to map on this host", j->f->path,
                            j->a.name);
    if (j->dirfd >= 0) {
        MM_TRY(map_cached(j, e));
        if (j->source == MMARR_MAP_CACHE)
            return MMARR_OK;
    }
    return map_private(j, e);
}

/* ---- the handle's state ---- */

static struct mm_cache *cache_get(mmarr_file *f)
{
    struct mm_cache *c = __atomic_load_n(&f->cache, __ATOMIC_ACQUIRE);
    if (c)
        return c;
    struct mm_cache *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->dirfd = -1;
    if (pthread_mutex_init(&n->lock, NULL) != 0) {
        free(n);
        return NULL;
    }
    if (pthread_cond_init(&n->done, NULL) != 0) {
        pthread_mutex_destroy(&n->lock);
        free(n);
        return NULL;
    }
    struct mm_cache *expected = NULL;
    if (__atomic_compare_exchange_n(&f->cache, &expected, n, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return n;
    pthread_cond_destroy(&n->done);
    pthread_mutex_destroy(&n->lock);
    free(n);
    return expected;
}

/* Binary search; returns the position where index is or would be. */
static size_t map_pos(const struct mm_cache *c, size_t index)
{
    size_t lo = 0, hi = c->nmaps;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (c->maps[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct mm_map *map_find(struct mm_cache *c, size_t index)
{
    const size_t p = map_pos(c, index);
    return p < c->nmaps && c->maps[p].index == index ? &c->maps[p] : NULL;
}

static struct mm_map *map_insert(struct mm_cache *c, size_t index)
{
    if (c->nmaps == c->cap) {
        const size_t cap = c->cap ? 2 * c->cap : 8;
        struct mm_map *v = realloc(c->maps, cap * sizeof *v);
        if (!v)
            return NULL;
        c->maps = v;
        c->cap = cap;
    }
    const size_t p = map_pos(c, index);
    memmove(&c->maps[p + 1], &c->maps[p], (c->nmaps - p) * sizeof *c->maps);
    c->nmaps++;
    struct mm_map *m = &c->maps[p];
    memset(m, 0, sizeof *m);
    m->index = index;
    m->fd = -1;
    m->busy = true;
    return m;
}

static void map_remove(struct mm_cache *c, size_t index)
{
    const size_t p = map_pos(c, index);
    if (p < c->nmaps && c->maps[p].index == index) {
        memmove(&c->maps[p], &c->maps[p + 1], (c->nmaps - p - 1) * sizeof *c->maps);
        c->nmaps--;
    }
}

/* Apply a directory setting (caller holds c->lock). */
static void set_dir(struct mm_cache *c, int fd, char *dir, uint64_t max_bytes,
                    const mmarr_error *why)
{
    if (c->dirfd >= 0)
        close(c->dirfd);
    free(c->dir);
    c->dirfd = fd;
    c->dir = dir;
    c->max_bytes = max_bytes;
    c->configured = true;
    if (why)
        c->dir_err = *why;
    else
        memset(&c->dir_err, 0, sizeof c->dir_err);
}

/* Under c->lock: the directory (default on first use), and the file's identity. Problems
 * become the job's reason (the job then decompresses privately). */
static void prepare_job(mmarr_file *f, struct mm_cache *c, map_job *j)
{
    if (!f->mapped) {
        mm_set_error(&j->reason, MMARR_E_UNSUPPORTED, MMARR_NO_OFFSET,
                     "%s: array \"%s\": a buffer handle has no file identity to key a shared "
                     "cache entry",
                     f->path, j->a.name);
        return;
    }
    if (!c->configured) {
        mmarr_error why;
        int fd = -1;
        char *dir = NULL;
        uint64_t max = 0;
        if (dir_setup(NULL, true, 0, &fd, &dir, &max, &why) == MMARR_OK)
            set_dir(c, fd, dir, max, NULL);
        else
            set_dir(c, -1, NULL, 0, &why);
    }
    if (c->dirfd < 0) {
        j->reason = c->dir_err;
        return;
    }
    if (c->ident == 0)
        c->ident = mapped_identity(f->base, f->path, &c->dev_major, &c->dev_minor, &c->ino,
                                   &c->ident_err) == MMARR_OK
                       ? 1
                       : -1;
    if (c->ident < 0) {
        j->reason = c->ident_err;
        return;
    }
    j->dirfd = fcntl(c->dirfd, F_DUPFD_CLOEXEC, 0);
    j->dir = j->dirfd >= 0 ? strdup(c->dir) : NULL;
    if (j->dirfd < 0 || !j->dir) {
        mm_set_syserr(&j->reason, MMARR_E_IO, errno, "%s: cannot use cache directory %s",
                      f->path, c->dir);
        if (j->dirfd >= 0)
            close(j->dirfd);
        j->dirfd = -1;
        return;
    }
    j->max_bytes = c->max_bytes;
    j->dev[0] = c->dev_major;
    j->dev[1] = c->dev_minor;
    j->ino = c->ino;
}

mmarr_err mmarr_file_map(mmarr_file *f, size_t index, const void **data, mmarr_error *err)
{
    mmarr_error e;
    if (!data)
        return mm_file_done(f, mm_set_error(&e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                                            "%s: mmarr_file_map: data is NULL", f->path),
                            &e, err);
    *data = NULL;
    map_job j;
    memset(&j, 0, sizeof j);
    MM_TRY(mmarr_file_array(f, index, &j.a, err));
    if (j.a.storage == MMARR_STORAGE_HOT) {
        *data = j.a.data;
        return MMARR_OK;
    }
    struct mm_cache *c = cache_get(f);
    if (!c)
        return mm_file_done(f, mm_set_error(&e, MMARR_E_NOMEM, MMARR_NO_OFFSET,
                                            "%s: out of memory", f->path),
                            &e, err);
    pthread_mutex_lock(&c->lock);
    for (;;) {
        const struct mm_map *m = map_find(c, index);
        if (!m)
            break;
        if (!m->busy) {
            *data = m->data;
            pthread_mutex_unlock(&c->lock);
            return MMARR_OK;
        }
        pthread_cond_wait(&c->done, &c->lock);
    }
    if (!map_insert(c, index)) {
        pthread_mutex_unlock(&c->lock);
        return mm_file_done(f, mm_set_error(&e, MMARR_E_NOMEM, MMARR_NO_OFFSET,
                                            "%s: out of memory", f->path),
                            &e, err);
    }
    j.f = f;
    j.dirfd = -1;
    j.fd = -1;
    prepare_job(f, c, &j);
    pthread_mutex_unlock(&c->lock);

    mmarr_err rc = run_job(&j, &e);
    if (j.dirfd >= 0)
        close(j.dirfd);
    free((char *)j.dir);

    pthread_mutex_lock(&c->lock);
    struct mm_map *m = map_find(c, index);
    if (rc == MMARR_OK) {
        m->data = j.data;
        m->map_len = j.map_len;
        m->fd = j.fd;
        m->source = j.source;
        if (j.source == MMARR_MAP_CACHE) {
            memcpy(m->key, j.key, sizeof m->key);
            memset(&m->reason, 0, sizeof m->reason);
            m->reason.offset = MMARR_NO_OFFSET;
        } else {
            m->reason = j.reason;
        }
        m->busy = false;
        *data = j.data;
    } else {
        map_remove(c, index);
    }
    pthread_cond_broadcast(&c->done);
    pthread_mutex_unlock(&c->lock);
    return mm_file_done(f, rc, &e, err);
}

mmarr_err mmarr_file_map_info(mmarr_file *f, size_t index, mmarr_map_info *out,
                              mmarr_error *err)
{
    mmarr_error e;
    if (!out)
        return mm_file_done(f, mm_set_error(&e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                                            "%s: mmarr_file_map_info: out is NULL", f->path),
                            &e, err);
    mmarr_array_info a;
    MM_TRY(mmarr_file_array(f, index, &a, err));
    memset(out, 0, sizeof *out);
    out->reason.offset = MMARR_NO_OFFSET;
    out->bytes = a.nbytes;
    if (a.storage == MMARR_STORAGE_HOT) {
        out->source = MMARR_MAP_FILE;
        out->data = a.data;
        return MMARR_OK;
    }
    struct mm_cache *c = __atomic_load_n(&f->cache, __ATOMIC_ACQUIRE);
    if (!c)
        return MMARR_OK;
    pthread_mutex_lock(&c->lock);
    const struct mm_map *m = map_find(c, index);
    if (m && !m->busy) {
        out->source = m->source;
        out->data = m->data;
        memcpy(out->entry, m->key, sizeof out->entry);
        if (m->source == MMARR_MAP_PRIVATE)
            out->reason = m->reason;
    }
    pthread_mutex_unlock(&c->lock);
    return MMARR_OK;
}

mmarr_err mmarr_file_set_cache(mmarr_file *f, const char *dir, uint64_t max_bytes,
                               mmarr_error *err)
{
    mmarr_error e;
    struct mm_cache *c = cache_get(f);
    if (!c)
        return mm_file_done(f, mm_set_error(&e, MMARR_E_NOMEM, MMARR_NO_OFFSET,
                                            "%s: out of memory", f->path),
                            &e, err);
    int fd;
    char *path;
    uint64_t max;
    mmarr_err rc = dir_setup(dir, true, max_bytes, &fd, &path, &max, &e);
    if (rc != MMARR_OK)
        return mm_file_done(f, rc, &e, err);
    pthread_mutex_lock(&c->lock);
    set_dir(c, fd, path, max, NULL);
    pthread_mutex_unlock(&c->lock);
    return MMARR_OK;
}

void mm_cache_release(mmarr_file *f)
{
    struct mm_cache *c = f->cache;
    if (!c)
        return;
    for (size_t i = 0; i < c->nmaps; i++) {
        if (c->maps[i].map_len)
            munmap((void *)c->maps[i].data, c->maps[i].map_len);
        if (c->maps[i].fd >= 0)
            close(c->maps[i].fd);
    }
    free(c->maps);
    if (c->dirfd >= 0)
        close(c->dirfd);
    free(c->dir);
    pthread_cond_destroy(&c->done);
    pthread_mutex_destroy(&c->lock);
    free(c);
    f->cache = NULL;
}

/* ---- maintenance ---- */

mmarr_err mmarr_cache_default_dir(char *buf, size_t size, mmarr_error *err)
{
    mmarr_error e0, *e = err ? err : &e0;
    if (!buf || !size)
        return mm_set_error(e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                            "mmarr_cache_default_dir: no buffer");
    return default_dir(buf, size, e);
}

mmarr_err mmarr_cache_default_max(const char *dir, uint64_t *max_bytes, mmarr_error *err)
{
    mmarr_error e0, *e = err ? err : &e0;
    if (!max_bytes)
        return mm_set_error(e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                            "mmarr_cache_default_max: max_bytes is NULL");
    int fd;
    mmarr_err rc = dir_setup(dir, false, 0, &fd, NULL, max_bytes, e);
    if (rc == MMARR_E_NOTFOUND)
        e->code = rc = MMARR_E_IO;
    if (rc == MMARR_OK)
        close(fd);
    return rc;
}

mmarr_err mmarr_cache_list(const char *dir, int (*cb)(const mmarr_cache_entry *e, void *ctx),
                           void *ctx, mmarr_error *err)
{
    mmarr_error e0, *e = err ? err : &e0;
    if (!cb)
        return mm_set_error(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "mmarr_cache_list: cb is NULL");
    int fd;
    char *path;
    mmarr_err rc = dir_setup(dir, false, 0, &fd, &path, NULL, e);
    if (rc == MMARR_E_NOTFOUND)
        return MMARR_OK;
    if (rc != MMARR_OK)
        return rc;
    scan_list l;
    rc = scan_dir(fd, path, true, &l, e);
    close(fd);
    free(path);
    if (rc != MMARR_OK)
        return rc;
    keep_kind(&l, MM_ENTRY);
    if (l.n)
        qsort(l.v, l.n, sizeof *l.v, age_cmp);
    for (size_t i = 0; i < l.n; i++) {
        const mmarr_cache_entry ce = {l.v[i].name, l.v[i].bytes,
                                      (int64_t)(l.v[i].mtime_ns / 1000000000),
                                      l.v[i].in_use};
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
    return mm_set_syserr(e, MMARR_E_IO, errno, "%s/%s: cannot remove", dir, it->name);
}

/* true if nobody holds "<key>.lock" for the key `name` starts with (so a temporary of that
 * key is a leftover: its filler held the lock until it renamed or removed it). */
static bool key_unlocked(int dirfd, const char *name)
{
    char lname[MM_KEY_HEX + 6];
    lock_name(lname, name);
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
    mmarr_error e0, *e = err ? err : &e0;
    uint64_t removed = 0;
    if (removed_bytes)
        *removed_bytes = 0;
    int fd;
    char *path;
    mmarr_err rc = dir_setup(dir, false, 0, &fd, &path, NULL, e);
    if (rc == MMARR_E_NOTFOUND)
        return MMARR_OK;
    if (rc != MMARR_OK)
        return rc;
    scan_list l;
    rc = scan_dir(fd, path, true, &l, e);
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
        for (size_t i = 0; rc == MMARR_OK && i < l.n && (total > keep_bytes || !keep_bytes);
             i++) {
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
