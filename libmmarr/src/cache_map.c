/* SPDX-License-Identifier: MIT */
/*
 * cache_map.c — the shared decompression cache (issue #4): mmarr_file_map() decompresses a cold
 * array (spec.md §10) once into a per-user cache directory and maps the entry MAP_SHARED, so
 * every process of the user shares one copy. docs/cache-protocol.md states the
 * cross-process protocol; this file keeps these invariants:
 *
 * - Trust: the directory is checked by cache_dir.c (ours, 0700, no links followed).
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
#include "mm_cache.h"

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
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include "mm_xxhash.h"

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
    size_t map_len; /* bytes to munmap, 0 when nothing was mapped */
    int fd;         /* the entry, holding LOCK_SH; -1 if none */
    mmarr_map_source source;
    bool busy; /* a thread is producing it: wait on done */
    char key[MM_KEY_HEX + 1];
    mmarr_error reason; /* MMARR_MAP_PRIVATE: why */
};

struct mm_cache {
    pthread_mutex_t lock;
    pthread_cond_t done;
    bool configured; /* a directory was chosen (set_cache, or the default on first use) */
    int dirfd;       /* -1 when the directory is unusable (dir_err says why) */
    char *dir;
    uint64_t max_bytes;
    mmarr_error dir_err;
    struct mm_map *maps; /* sorted by index */
    size_t nmaps, cap;
};

/* ---- keys, entries and locks ---- */

static void hash_u64(XXH3_state_t *st, uint64_t v) { XXH3_128bits_update(st, &v, sizeof v); }

/* The entry name: XXH3-128 of the file's identity and of everything that decides the
 * array's raw bytes (mmarr.h "Entries"), as 32 lowercase hex digits. */
static mmarr_err cache_key(mmarr_file *f, const unsigned dev[2], uint64_t ino,
                           const mmarr_array_info *a, char key[MM_KEY_HEX + 1], mmarr_error *e)
{
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        MM_FAIL(e, MMARR_E_NOMEM, MMARR_NO_OFFSET, "out of memory");
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
            MM_FAIL_SYS(e, MMARR_E_IO, errno, "%s/%s: cannot open cache entry", dir, key);
        }
        int r;
        while ((r = flock(fd, LOCK_SH)) != 0 && errno == EINTR)
            ;
        struct stat st;
        if (r != 0 || fstat(fd, &st) != 0) {
            const int se = errno;
            close(fd);
            MM_FAIL_SYS(e, MMARR_E_IO, se, "%s/%s: cannot lock cache entry", dir, key);
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
    mm_cache_lock_name(name, key);
    for (int tries = 0;; tries++) {
        if (tries == MM_LOCK_TRIES)
            MM_FAIL(e, MMARR_E_IO, MMARR_NO_OFFSET, "%s/%s: the lock file keeps being replaced",
                    dir, name);
        const int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            MM_FAIL_SYS(e, MMARR_E_IO, errno, "%s/%s: cannot open lock file", dir, name);
        int r;
        while ((r = flock(fd, LOCK_EX)) != 0 && errno == EINTR)
            ;
        struct stat a, b;
        if (r != 0 || fstat(fd, &a) != 0) {
            const int se = errno;
            close(fd);
            MM_FAIL_SYS(e, MMARR_E_IO, se, "%s/%s: cannot lock", dir, name);
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
    mm_cache_lock_name(name, key);
    unlinkat(dirfd, name, 0);
    close(fd);
}

/* ---- filling ---- */

typedef struct map_job {
    mmarr_file *f;
    mmarr_array_info a;
    int dirfd; /* our own descriptor of the directory, or -1 */
    const char *dir;
    uint64_t max_bytes;
    unsigned dev[2]; /* identity of the mapped file */
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
    /* copy-on-write handles: the shared entry's pages, written ones becoming private */
    void *p = mmap(NULL, (size_t)j->a.nbytes, j->f->cow ? PROT_READ | PROT_WRITE : PROT_READ,
                   j->f->cow ? MAP_PRIVATE : MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        MM_FAIL_SYS(e, errno == ENOMEM ? MMARR_E_NOMEM : MMARR_E_IO, errno,
                    "%s/%s: cannot map the cache entry of array \"%s\" (%llu bytes)", j->dir,
                    j->key, j->a.name, (unsigned long long)j->a.nbytes);
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
        MM_FAIL(reason, MMARR_E_NOSPACE, MMARR_NO_OFFSET,
                "%s: array \"%s\" needs %llu bytes, more than the cache bound "
                "(%llu bytes) of %s",
                j->f->path, j->a.name, (unsigned long long)need, (unsigned long long)j->max_bytes,
                j->dir);
    uint64_t total;
    MM_TRY(mm_cache_evict(j->dirfd, j->dir, j->key, need, j->max_bytes, &total, reason));
    if (total > j->max_bytes - need)
        MM_FAIL(reason, MMARR_E_NOSPACE, MMARR_NO_OFFSET,
                "%s: array \"%s\" (%llu bytes) does not fit the cache bound of %s: "
                "%llu of %llu bytes are taken by entries in use",
                j->f->path, j->a.name, (unsigned long long)need, j->dir, (unsigned long long)total,
                (unsigned long long)j->max_bytes);
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
        MM_FAIL(e, MMARR_E_NOMEM, MMARR_NO_OFFSET,
                "%s: array \"%s\": out of memory for a %llu-byte buffer", j->f->path, j->a.name,
                (unsigned long long)slice);
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
        mm_set_syserr(&j->reason, MMARR_E_IO, errno, "%s: cannot create a cache entry", j->dir);
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
            mm_set_syserr(&j->reason, MMARR_E_IO, errno, "%s: cannot publish as %s", path, j->key);
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
    void *p = mmap(NULL, (size_t)j->a.nbytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED)
        MM_FAIL_SYS(e, MMARR_E_NOMEM, errno,
                    "%s: array \"%s\": cannot allocate %llu bytes for a private "
                    "decompressed copy",
                    j->f->path, j->a.name, (unsigned long long)j->a.nbytes);
    mmarr_err rc = mmarr_file_read(j->f, j->a.index, 0, p, j->a.nbytes, e);
    if (rc != MMARR_OK) {
        munmap(p, (size_t)j->a.nbytes);
        return rc;
    }
    if (!j->f->cow)
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
        MM_FAIL(e, MMARR_E_RANGE, MMARR_NO_OFFSET,
                "%s: array \"%s\" is too large to map on this host", j->f->path, j->a.name);
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
        if (mm_cache_dir_setup(NULL, true, 0, &fd, &dir, &max, &why) == MMARR_OK)
            set_dir(c, fd, dir, max, NULL);
        else
            set_dir(c, -1, NULL, 0, &why);
    }
    if (c->dirfd < 0) {
        j->reason = c->dir_err;
        return;
    }
    j->dirfd = fcntl(c->dirfd, F_DUPFD_CLOEXEC, 0);
    j->dir = j->dirfd >= 0 ? strdup(c->dir) : NULL;
    if (j->dirfd < 0 || !j->dir) {
        mm_set_syserr(&j->reason, MMARR_E_IO, errno, "%s: cannot use cache directory %s", f->path,
                      c->dir);
        if (j->dirfd >= 0)
            close(j->dirfd);
        j->dirfd = -1;
        return;
    }
    j->max_bytes = c->max_bytes;
    /* the file this handle really maps (fstat of the descriptor mmarr_open mapped), even if
     * its path now names another file */
    j->dev[0] = major((dev_t)f->device);
    j->dev[1] = minor((dev_t)f->device);
    j->ino = f->inode;
}

mmarr_err mmarr_file_map(mmarr_file *f, size_t index, const void **data, mmarr_error *err)
{
    mmarr_error e;
    if (!data)
        return mm_file_done(f,
                            mm_set_error(&e, MMARR_E_INVAL, MMARR_NO_OFFSET,
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
        return mm_file_done(
            f, mm_set_error(&e, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", f->path), &e,
            err);
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
        return mm_file_done(
            f, mm_set_error(&e, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", f->path), &e,
            err);
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

mmarr_err mmarr_file_map_info(mmarr_file *f, size_t index, mmarr_map_info *out, mmarr_error *err)
{
    mmarr_error e;
    if (!out)
        return mm_file_done(f,
                            mm_set_error(&e, MMARR_E_INVAL, MMARR_NO_OFFSET,
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

mmarr_err mmarr_file_set_cache(mmarr_file *f, const char *dir, uint64_t max_bytes, mmarr_error *err)
{
    mmarr_error e;
    struct mm_cache *c = cache_get(f);
    if (!c)
        return mm_file_done(
            f, mm_set_error(&e, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", f->path), &e,
            err);
    int fd;
    char *path;
    uint64_t max;
    mmarr_err rc = mm_cache_dir_setup(dir, true, max_bytes, &fd, &path, &max, &e);
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

void mm_cache_retire(mmarr_file *f)
{
    struct mm_cache *c = f->cache;
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    /* numbers no array has, in the same order, so the list stays sorted */
    for (size_t i = 0; i < c->nmaps; i++)
        c->maps[i].index = SIZE_MAX - c->nmaps + i;
    pthread_mutex_unlock(&c->lock);
}
