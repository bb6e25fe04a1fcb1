/* SPDX-License-Identifier: MIT */
/* fs.c — file-system helpers for the writers: space reservation with clear "disk full"
 * errors (tmpfs advice included), and complete pwrite. */
#include "mm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* need: the bytes that could not be allocated; target: the file size that was asked for */
mmarr_err mm_nospace_error(mmarr_error *e, int fd, const char *path, uint64_t need,
                           uint64_t target, int sys_errno)
{
    if (sys_errno == EFBIG)
        return mm_set_syserr(e, MMARR_E_NOSPACE, sys_errno,
                             "%s: cannot grow the file to %llu bytes (file size limit, "
                             "see ulimit -f)",
                             path, (unsigned long long)target);
    struct statfs sfs;
    struct statvfs svfs;
    char needs[MM_SIZE_BUF], frees[MM_SIZE_BUF], totals[MM_SIZE_BUF];
    mm_format_size(need, needs);
    if (fstatfs(fd, &sfs) != 0 || fstatvfs(fd, &svfs) != 0)
        return mm_set_syserr(e, MMARR_E_NOSPACE, sys_errno,
                             "%s: no space to reserve %s", path, needs);
    mm_format_size((uint64_t)svfs.f_bavail * svfs.f_frsize, frees);
    mm_format_size((uint64_t)svfs.f_blocks * svfs.f_frsize, totals);
    if (sfs.f_type == TMPFS_MAGIC)
        return mm_set_syserr(e, MMARR_E_NOSPACE, sys_errno,
                             "%s: the tmpfs holding this file is too small: need %s more, "
                             "%s free of %s. Grow it (e.g. 'mount -o remount,size=<bytes> "
                             "<mountpoint>' as root, or 'docker run --shm-size=<bytes>' / a "
                             "Kubernetes emptyDir with medium: Memory and a sizeLimit for "
                             "/dev/shm in a container), or write to a disk directory instead",
                             path, needs, frees, totals);
    return mm_set_syserr(e, MMARR_E_NOSPACE, sys_errno,
                         "%s: not enough disk space: need %s more, %s free of %s", path,
                         needs, frees, totals);
}

mmarr_err mm_reserve_space(mmarr_error *e, int fd, const char *path, uint64_t off,
                           uint64_t len)
{
    if (len == 0)
        return MMARR_OK;
    if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
        return mm_set_error(e, MMARR_E_RANGE, off, "%s: file would exceed the largest offset",
                            path);
    int rc;
    do {
        rc = posix_fallocate(fd, (off_t)off, (off_t)len);
    } while (rc == EINTR);
    if (rc == 0)
        return MMARR_OK;
    if (rc == ENOSPC || rc == EFBIG || rc == EDQUOT)
        return mm_nospace_error(e, fd, path, len, off + len, rc);
    return mm_set_syserr(e, MMARR_E_IO, rc, "%s: cannot reserve %llu bytes at offset %llu",
                         path, (unsigned long long)len, (unsigned long long)off);
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
            return mm_set_syserr(e, MMARR_E_IO, se, "%s: write of %zu bytes at offset %llu",
                                 path, n, (unsigned long long)off);
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return MMARR_OK;
}
