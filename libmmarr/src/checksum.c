/* SPDX-License-Identifier: MIT */
/*
 * checksum.c — XXH3-64 with seed 0, the only checksum of the format (spec.md §11.1), of memory
 * and of a file's byte range.
 *
 * File ranges (hot arrays at commit, rehash and verify) are hashed through pread() into one
 * small buffer, not through a mapping: the kernel copies from its page cache without a page
 * fault per 4 KiB page, which on tmpfs (and in a VM) costs many times the hashing itself
 * (2 GiB on /dev/shm: ~0.15 s read, against 0.8-7 s of faults through a fresh mapping).
 * Holes of the file (lseek SEEK_DATA/SEEK_HOLE: ranges that read as zeros, such as the
 * reserved, never written parts of an array a writer mapped) are hashed as zeros without
 * reading them: a read would fill the page cache with zero pages (1 GiB of a fresh
 * share(empty=...) took 2.1 s on this project's VM, against 0.06 s hashing zeros).
 */
#include "mm_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm_xxhash.h"

uint64_t mm_xxh3(const void *p, size_t n) { return (uint64_t)XXH3_64bits(p, n); }

/* Small enough to stay in L2 between the kernel's copy and the hash. */
#define MM_HASH_BUF ((size_t)256 << 10)

mmarr_err mm_xxh3_fd(mmarr_error *e, int fd, const char *path, uint64_t off, uint64_t len,
                     uint64_t *out)
{
    if (len == 0) {
        *out = mm_xxh3("", 0);
        return MMARR_OK;
    }
    unsigned char *buf = malloc(len < MM_HASH_BUF ? (size_t)len : MM_HASH_BUF);
    XXH3_state_t *st = XXH3_createState();
    if (!buf || !st) {
        free(buf);
        XXH3_freeState(st);
        MM_FAIL(e, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", path);
    }
    XXH3_64bits_reset(st);
    mmarr_err rc = MMARR_OK;
    /* [off, data) is a hole, [data, hole) data, looked up again past `hole`; a file
     * system without SEEK_DATA (EINVAL), or what is left too small to be worth two calls,
     * is all data */
    uint64_t data = off, hole = off;
    bool zeros = false; /* buf holds zeros */
    while (len > 0) {
        if (off >= hole && len < MM_HASH_BUF) {
            data = off;
            hole = UINT64_MAX;
        } else if (off >= hole) {
            const off_t d = lseek(fd, (off_t)off, SEEK_DATA);
            const off_t h = d >= 0 ? lseek(fd, d, SEEK_HOLE) : -1;
            data = d >= 0 ? (uint64_t)d : errno == ENXIO ? UINT64_MAX : off;
            hole = d >= 0 && h > d ? (uint64_t)h : UINT64_MAX; /* no progress: all data */
            if (data < off)
                data = off;
        }
        size_t n = len < MM_HASH_BUF ? (size_t)len : MM_HASH_BUF;
        if (off < data) { /* a hole: zeros, never read */
            if (n > data - off)
                n = (size_t)(data - off);
            if (!zeros)
                memset(buf, 0, len < MM_HASH_BUF ? (size_t)len : MM_HASH_BUF);
            zeros = true;
        } else {
            if (n > hole - off)
                n = (size_t)(hole - off);
            if ((rc = mm_pread_all(e, fd, path, buf, n, off)) != MMARR_OK)
                break;
            zeros = false;
        }
        XXH3_64bits_update(st, buf, n);
        off += n;
        len -= n;
    }
    if (rc == MMARR_OK)
        *out = (uint64_t)XXH3_64bits_digest(st);
    XXH3_freeState(st);
    free(buf);
    return rc;
}

mmarr_err mm_file_hash(mmarr_file *f, uint64_t off, uint64_t len, uint64_t *out, mmarr_error *e)
{
    /* small ranges: a pread and a buffer per array would cost more than the faults (a file of
     * 100,000 small arrays); a copy-on-write mapping may hold changes, the file does not */
    if (f->fd < 0 || (len < MM_HASH_BUF && !f->cow)) {
        *out = mm_xxh3(f->base + off, (size_t)len);
        return MMARR_OK;
    }
    return mm_xxh3_fd(e, f->fd, f->path, off, len, out);
}
