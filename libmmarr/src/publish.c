/* SPDX-License-Identifier: MIT */
/*
 * publish.c — how a new file reaches the disk: its temporary, space reserved with a clear
 * "disk full" error (tmpfs advice included), complete writes (and reads), and atomic
 * publication.
 *
 * The temporary is an unnamed file in the destination's directory (O_TMPFILE): a crash or
 * kill while writing leaves nothing behind, and the kernel frees the space. Publication
 * fsyncs it, links it in as "<path>.tmp.XXXXXX" and renames that over the destination (or,
 * with no_replace, links it in at the destination directly), then fsyncs the directory.
 * Where O_TMPFILE or /proc is missing, the temporary is "<path>.tmp.XXXXXX" from the start
 * and is removed on failure. A published file is never truncated or rewritten in place.
 */
#include "mm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <linux/magic.h>
#include <stdio.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* need: the bytes that could not be allocated; target: the file size that was asked for */
mmarr_err mm_nospace_error(mmarr_error *e, int fd, const char *path, uint64_t need, uint64_t target,
                           int sys_errno)
{
    if (sys_errno == EFBIG)
        MM_FAIL_SYS(e, MMARR_E_NOSPACE, sys_errno,
                    "%s: cannot grow the file to %llu bytes (file size limit, "
                    "see ulimit -f)",
                    path, (unsigned long long)target);
    struct statfs sfs;
    struct statvfs svfs;
    char needs[MM_SIZE_BUF], frees[MM_SIZE_BUF], totals[MM_SIZE_BUF];
    mm_format_size(need, needs);
    if (fstatfs(fd, &sfs) != 0 || fstatvfs(fd, &svfs) != 0)
        MM_FAIL_SYS(e, MMARR_E_NOSPACE, sys_errno, "%s: no space to reserve %s", path, needs);
    mm_format_size((uint64_t)svfs.f_bavail * svfs.f_frsize, frees);
    mm_format_size((uint64_t)svfs.f_blocks * svfs.f_frsize, totals);
    if (sfs.f_type == TMPFS_MAGIC)
        MM_FAIL_SYS(e, MMARR_E_NOSPACE, sys_errno,
                    "%s: the tmpfs holding this file is too small: need %s more, "
                    "%s free of %s. Grow it (e.g. 'mount -o remount,size=<bytes> "
                    "<mountpoint>' as root, or 'docker run --shm-size=<bytes>' / a "
                    "Kubernetes emptyDir with medium: Memory and a sizeLimit for "
                    "/dev/shm in a container), or write to a disk directory instead",
                    path, needs, frees, totals);
    MM_FAIL_SYS(e, MMARR_E_NOSPACE, sys_errno,
                "%s: not enough disk space: need %s more, %s free of %s", path, needs, frees,
                totals);
}

mmarr_err mm_reserve_space(mmarr_error *e, int fd, const char *path, uint64_t off, uint64_t len)
{
    if (len == 0)
        return MMARR_OK;
    if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
        MM_FAIL(e, MMARR_E_RANGE, off, "%s: file would exceed the largest offset", path);
    int rc;
    do {
        rc = posix_fallocate(fd, (off_t)off, (off_t)len);
    } while (rc == EINTR);
    if (rc == 0)
        return MMARR_OK;
    if (rc == ENOSPC || rc == EFBIG || rc == EDQUOT)
        return mm_nospace_error(e, fd, path, len, off + len, rc);
    MM_FAIL_SYS(e, MMARR_E_IO, rc, "%s: cannot reserve %llu bytes at offset %llu", path,
                (unsigned long long)len, (unsigned long long)off);
}

mmarr_err mm_pwrite_all(mmarr_error *e, int fd, const char *path, const void *buf, size_t n,
                        uint64_t off)
{
    const unsigned char *p = buf;
    while (n > 0) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : n;
        ssize_t w = pwrite(fd, p, chunk, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int se = errno;
            if (se == ENOSPC || se == EFBIG || se == EDQUOT)
                return mm_nospace_error(e, fd, path, n, off + n, se);
            MM_FAIL_SYS(e, MMARR_E_IO, se, "%s: write of %zu bytes at offset %llu", path, n,
                        (unsigned long long)off);
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return MMARR_OK;
}

mmarr_err mm_pread_all(mmarr_error *e, int fd, const char *path, void *buf, size_t n, uint64_t off)
{
    unsigned char *p = buf;
    while (n > 0) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : n;
        ssize_t r = pread(fd, p, chunk, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            MM_FAIL_SYS(e, MMARR_E_IO, errno, "%s: read of %zu bytes at offset %llu", path, n,
                        (unsigned long long)off);
        if (r == 0)
            MM_FAIL(e, MMARR_E_IO, off,
                    "%s: the file ends at offset %llu, inside an array (truncated while open?)",
                    path, (unsigned long long)off);
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return MMARR_OK;
}

static char *make_tmp_name(const char *path)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    unsigned char rnd[6];
    if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)rnd;
        memcpy(rnd, &x, sizeof rnd);
    }
    size_t n = strlen(path);
    char *t = malloc(n + 12);
    if (!t)
        return NULL;
    memcpy(t, path, n);
    memcpy(t + n, ".tmp.", 5);
    for (int i = 0; i < 6; i++)
        t[n + 5 + i] = alphabet[rnd[i] % (sizeof alphabet - 1)];
    t[n + 11] = '\0';
    return t;
}

/* An unnamed temporary file in path's directory, or -1 (then a named one is used). Commit
 * links it in through /proc/self/fd, so that must work too. */
static int open_unnamed_tmp(const char *path)
{
#ifdef O_TMPFILE
    char *copy = strdup(path);
    if (!copy)
        return -1;
    int fd = open(dirname(copy), O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);
    free(copy);
    if (fd < 0)
        return -1;
    char proc[40];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (access(proc, F_OK) != 0) {
        close(fd);
        return -1;
    }
    return fd;
#else
    (void)path;
    return -1;
#endif
}

/* Give the unnamed temporary fd the name `to` (EEXIST if taken). */
static int link_unnamed(const char *to, int fd)
{
    char proc[40];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, proc, AT_FDCWD, to, AT_SYMLINK_FOLLOW);
}

static int create_named(const char *name, int unused)
{
    (void)unused;
    return open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
}

/* A fresh "<path>.tmp.XXXXXX" taken by claim(name, arg) (a result >= 0, stored in *result),
 * trying other names while they exist. NULL on failure, with *se = ENOMEM, claim's errno, or
 * EEXIST when no free name was found. */
static char *claim_tmp_name(const char *path, int (*claim)(const char *, int), int arg, int *result,
                            int *se)
{
    *se = EEXIST;
    for (int attempt = 0; attempt < 100 && *se == EEXIST; attempt++) {
        char *name = make_tmp_name(path);
        if (!name) {
            *se = ENOMEM;
            return NULL;
        }
        if ((*result = claim(name, arg)) >= 0)
            return name;
        *se = errno;
        free(name);
    }
    return NULL;
}

mmarr_err mm_sys_fail(mmarr_error *e, const char *path, int se, const char *what)
{
    MM_FAIL_SYS(e, se == ENOSPC || se == EDQUOT ? MMARR_E_NOSPACE : MMARR_E_IO, se, "%s: %s", path,
                what);
}

mmarr_err mm_sync_parent_dir(const char *path, mmarr_error *e)
{
    char *copy = strdup(path);
    if (!copy)
        MM_FAIL(e, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", path);
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (dfd < 0)
        return MMARR_OK; /* nothing more we can do; the rename itself succeeded */
    int rc = fsync(dfd);
    int se = errno;
    close(dfd);
    /* The file is in place and complete; only its surviving a power loss is in doubt. */
    return (rc != 0 && se != EINVAL)
               ? mm_sys_fail(e, path, se,
                             "published, but the fsync of its directory failed: the new file is in "
                             "place and complete, but may not survive a power loss")
               : MMARR_OK;
}

mmarr_err mm_tmp_create(const char *path, mm_tmpfile *t, mmarr_error *e)
{
    t->fd = open_unnamed_tmp(path);
    t->named = t->fd < 0;
    t->path = NULL;
    int se = ENOMEM;
    if (!t->named && asprintf(&t->path, "%s (unnamed temporary)", path) < 0)
        t->path = NULL;
    else if (t->named)
        t->path = claim_tmp_name(path, create_named, -1, &t->fd, &se);
    if (t->path)
        return MMARR_OK;
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    if (se == ENOMEM)
        MM_FAIL(e, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", path);
    if (se == EEXIST)
        MM_FAIL(e, MMARR_E_IO, MMARR_NO_OFFSET, "%s: cannot find a free temporary name", path);
    MM_FAIL_SYS(e, MMARR_E_IO, se, "%s: cannot create a temporary file beside it", path);
}

mmarr_err mm_tmp_publish(mm_tmpfile *t, const char *path, bool no_replace, bool sync,
                         mmarr_error *e)
{
    if (sync && fsync(t->fd) != 0)
        return mm_sys_fail(e, path, errno, "fsync failed");
    if (no_replace) {
        if ((t->named ? link(t->path, path) : link_unnamed(path, t->fd)) != 0) {
            const int se = errno;
            if (se == EEXIST)
                MM_FAIL(e, MMARR_E_EXISTS, MMARR_NO_OFFSET, "%s: already exists (not replaced)",
                        path);
            return mm_sys_fail(e, path, se, "cannot publish (link)");
        }
        if (t->named)
            unlink(t->path);
    } else if (t->named) {
        if (rename(t->path, path) != 0)
            return mm_sys_fail(e, path, errno, "cannot publish (rename)");
    } else {
        /* rename() cannot take an unnamed file: link it in beside the destination first
         * (a crash between the two calls leaves that complete temporary) */
        int linked, se;
        char *named = claim_tmp_name(path, link_unnamed, t->fd, &linked, &se);
        if (!named)
            return se == ENOMEM
                       ? mm_set_error(e, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", path)
                       : mm_sys_fail(e, path, se, "cannot publish (link of the temporary)");
        if (rename(named, path) != 0) {
            se = errno;
            unlink(named);
            free(named);
            return mm_sys_fail(e, path, se, "cannot publish (rename)");
        }
        free(named);
    }
    t->published = true;
    return MMARR_OK;
}

void mm_tmp_close(mm_tmpfile *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    if (!t->published && t->named && t->path)
        unlink(t->path);
    free(t->path);
    t->path = NULL;
}

/* The writer lock (spec.md §4.4 rule 6): an OFD lock on byte MM_WRITER_LOCK_OFFSET. OFD locks
 * belong to the open file description, so closing another descriptor of the file does not
 * drop it (unlike POSIX record locks), and they do not interact with the flock() leases and
 * rehash locks taken on the same file. */
mmarr_err mm_writer_lock(int fd, const char *path, bool exclusive, bool wait, mmarr_error *e)
{
    struct flock l = {.l_type = exclusive ? F_WRLCK : F_RDLCK,
                      .l_whence = SEEK_SET,
                      .l_start = MM_WRITER_LOCK_OFFSET,
                      .l_len = 1};
    while (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &l) != 0) {
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EACCES)
            MM_FAIL(e, MMARR_E_BUSY, MMARR_NO_OFFSET,
                    "%s: another process is writing the file (an appending writer or a "
                    "read-write handle): one writer at a time%s",
                    path, exclusive ? "; MMARR_WRITE_WAIT waits for it" : "");
        MM_FAIL_SYS(e, MMARR_E_IO, errno, "%s: cannot take the writer lock", path);
    }
    return MMARR_OK;
}
