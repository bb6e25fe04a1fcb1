/* SPDX-License-Identifier: MIT */
/*
 * checksum.c — XXH3-64 with seed 0, the only checksum of the format (spec.md §11.1), of memory
 * and of a file's byte range.
 *
 * File ranges (hot arrays at commit, rehash and verify) are hashed through pread() into one
 * small buffer, not through a mapping: the kernel copies from its page cache without a page
 * fault per 4 KiB page, which on tmpfs (and in a VM) costs many times the hashing itself
 * (2 GiB on /dev/shm: ~0.15 s read, against 0.8-7 s of faults through a fresh mapping).
 */
#include "mm_internal.h"

#include <stdlib.h>

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
    while (len > 0) {
        size_t n = len < MM_HASH_BUF ? (size_t)len : MM_HASH_BUF;
        if ((rc = mm_pread_all(e, fd, path, buf, n, off)) != MMARR_OK)
            break;
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
