/* SPDX-License-Identifier: MIT */
/*
 * memory.c — the page calls on a file handle: mmarr_file_advise and _advise_range
 * (madvise), _prefetch
 * (MADV_POPULATE_READ, else a read of every page), _lock/_unlock (mlock), and
 * mmarr_file_resident(): how many of an array's stored bytes are in memory
 * right now, asked of the kernel with mincore(2) over the file mapping, like vmtouch. Nothing
 * is read or faulted in, so asking is cheap and does not change the answer.
 *
 * They use the read handle's fields read-only (base, size, mapped, the entries' stored
 * ranges of spec.md §9.1; for a cold array, the compressed chunks of §10).
 */
#include "mm_internal.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

/* Pages asked per mincore() call: bounds the vector (on the stack) however large the array;
 * 16384 pages are 64 MiB of 4 KiB pages, so even a 1 TiB array takes only 16384 calls. */
#define MM_MINCORE_BATCH 16384u

/* [*beg, *end): the stored bytes of array `index`, or the whole mapping for MMARR_ALL. */
static mmarr_err stored_range(const mmarr_file *f, size_t index, uint64_t *beg, uint64_t *end,
                              mmarr_error *e)
{
    if (!f->mapped)
        MM_FAIL(e, MMARR_E_UNSUPPORTED, MMARR_NO_OFFSET,
                "%s: residency needs a file mapping, not a caller's buffer", f->path);
    if (index == MMARR_ALL) {
        *beg = 0;
        *end = f->size;
        return MMARR_OK;
    }
    if (index >= f->entry_count)
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: array index %zu out of range (%llu arrays)",
                f->path, index, (unsigned long long)f->entry_count);
    /* Placement was validated at open (spec.md §12.5): the range lies inside the mapping. */
    const mmarr_disk_entry *en = &f->entries[index];
    *beg = en->data_offset;
    *end = en->data_offset + en->data_size;
    return MMARR_OK;
}

/* Bytes of [beg, end) on resident pages. A page counts whole or not at all, and is clipped
 * to the range, so packed arrays that share a page each count only their own bytes. */
static mmarr_err count_resident(const mmarr_file *f, uint64_t beg, uint64_t end, uint64_t *resident,
                                mmarr_error *e)
{
    const uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
    unsigned char vec[MM_MINCORE_BATCH];
    uint64_t total = 0;
    for (uint64_t at = beg & ~(pg - 1); at < end; at += (uint64_t)MM_MINCORE_BATCH * pg) {
        const uint64_t stop = end - at < (uint64_t)MM_MINCORE_BATCH * pg
                                  ? end
                                  : at + (uint64_t)MM_MINCORE_BATCH * pg;
        if (mincore((void *)(uintptr_t)(f->base + at), (size_t)(stop - at), vec) != 0)
            MM_FAIL_SYS(e, MMARR_E_IO, errno, "%s: mincore failed for [%llu, %llu) of the mapping",
                        f->path, (unsigned long long)at, (unsigned long long)stop);
        const uint64_t npages = (stop - at + pg - 1) / pg;
        for (uint64_t k = 0; k < npages; k++) {
            if (!(vec[k] & 1))
                continue;
            const uint64_t p0 = at + k * pg, p1 = p0 + pg;
            total += (p1 < end ? p1 : end) - (p0 > beg ? p0 : beg);
        }
    }
    *resident = total;
    return MMARR_OK;
}

mmarr_err mmarr_file_resident(mmarr_file *f, size_t index, uint64_t *resident_bytes,
                              uint64_t *total_bytes, mmarr_error *err)
{
    mmarr_error e;
    if (!resident_bytes)
        return mm_file_done(f,
                            mm_set_error(&e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                                         "%s: mmarr_file_resident: NULL resident_bytes", f->path),
                            &e, err);
    uint64_t beg = 0, end = 0, resident = 0;
    mmarr_err rc = stored_range(f, index, &beg, &end, &e);
    if (rc == MMARR_OK && end > beg)
        rc = count_resident(f, beg, end, &resident, &e);
    if (rc != MMARR_OK)
        return mm_file_done(f, rc, &e, err);
    *resident_bytes = resident;
    if (total_bytes)
        *total_bytes = end - beg;
    return MMARR_OK;
}

/* Page-aligned span of an array (or the whole map) for madvise/mlock. */
static mmarr_err span(mmarr_file *f, size_t index, void **addr, size_t *len, mmarr_error *e)
{
    if (!f->mapped)
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                "%s: memory calls need a file handle, not a buffer", f->path);
    uint64_t beg = 0, end = f->size;
    if (index != MMARR_ALL) {
        if (index >= f->entry_count)
            MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: array index %zu out of range", f->path,
                    index);
        const mmarr_disk_entry *en = &f->entries[index];
        beg = en->data_offset;
        end = beg + en->data_size;
    }
    const uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
    beg &= ~(pg - 1);
    end = mm_align_up(end, pg);
    if (end > mm_align_up(f->size, pg))
        end = mm_align_up(f->size, pg);
    *addr = (void *)(f->base + beg);
    *len = (size_t)(end - beg);
    return MMARR_OK;
}

/* madvise(addr, len) with `advice`, or an error naming f. */
static mmarr_err advise(mmarr_file *f, void *addr, size_t len, mmarr_advice advice, mmarr_error *e)
{
    static const int map[] = {MADV_NORMAL,   MADV_SEQUENTIAL, MADV_RANDOM,
                              MADV_WILLNEED, MADV_DONTNEED,   MADV_HUGEPAGE};
    if ((unsigned)advice >= sizeof map / sizeof map[0])
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: unknown advice %d", f->path, (int)advice);
    if (advice == MMARR_ADVICE_DONTNEED && f->cow)
        MM_FAIL(e, MMARR_E_STATE, MMARR_NO_OFFSET,
                "%s: MMARR_ADVICE_DONTNEED on a copy-on-write handle would discard the "
                "changes made in this process",
                f->path);
    if (len && madvise(addr, len, map[advice]) != 0) {
        int se = errno;
        return mm_set_syserr(e, se == EINVAL ? MMARR_E_UNSUPPORTED : MMARR_E_IO, se,
                             "%s: madvise(%s) refused by the kernel for this mapping", f->path,
                             advice == MMARR_ADVICE_HUGEPAGE ? "MADV_HUGEPAGE" : "advice");
    }
    return MMARR_OK;
}

mmarr_err mmarr_file_advise(mmarr_file *f, size_t index, mmarr_advice advice, mmarr_error *err)
{
    mmarr_error e;
    void *addr = NULL;
    size_t len = 0;
    mmarr_err rc = span(f, index, &addr, &len, &e);
    if (rc == MMARR_OK)
        rc = advise(f, addr, len, advice, &e);
    return mm_file_done(f, rc, &e, err);
}

mmarr_err mmarr_file_advise_range(mmarr_file *f, size_t index, uint64_t offset, uint64_t length,
                                  mmarr_advice advice, mmarr_error *err)
{
    mmarr_error e;
    mmarr_err rc = MMARR_OK;
    if (!f->mapped)
        rc = mm_set_error(&e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                          "%s: memory calls need a file handle, not a buffer", f->path);
    else if (index >= f->entry_count)
        rc = mm_set_error(&e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                          "%s: array index %zu out of range (%llu arrays)", f->path, index,
                          (unsigned long long)f->entry_count);
    else if (f->entries[index].storage != MMARR_STORAGE_RAW)
        rc = mm_set_error(&e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                          "%s: array %zu is cold: its bytes are not the file's mapping", f->path,
                          index);
    else if (offset > f->entries[index].data_size || length > f->entries[index].data_size - offset)
        rc = mm_set_error(&e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                          "%s: range [%llu, +%llu) lies outside array %zu's %llu bytes", f->path,
                          (unsigned long long)offset, (unsigned long long)length, index,
                          (unsigned long long)f->entries[index].data_size);
    if (rc != MMARR_OK || length == 0)
        return mm_file_done(f, rc, &e, err);
    /* Placement was validated at open (spec.md §12.5): the range lies inside the mapping. */
    const uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
    const uint64_t beg = (f->entries[index].data_offset + offset) & ~(pg - 1);
    uint64_t end = mm_align_up(f->entries[index].data_offset + offset + length, pg);
    if (end > mm_align_up(f->size, pg))
        end = mm_align_up(f->size, pg);
    rc = advise(f, (void *)(uintptr_t)(f->base + beg), (size_t)(end - beg), advice, &e);
    return mm_file_done(f, rc, &e, err);
}

mmarr_err mmarr_file_prefetch(mmarr_file *f, size_t index, mmarr_error *err)
{
    mmarr_error e;
    void *addr = NULL;
    size_t len = 0;
    mmarr_err rc = span(f, index, &addr, &len, &e);
    if (rc != MMARR_OK || !len)
        return mm_file_done(f, rc, &e, err);
    if (madvise(addr, len, MADV_POPULATE_READ) == 0)
        return MMARR_OK;
    /* older kernels: touch one byte per page */
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    volatile const unsigned char *p = addr;
    unsigned char sink = 0;
    for (size_t o = 0; o < len && (uint64_t)((const unsigned char *)addr - f->base) + o < f->size;
         o += pg)
        sink ^= p[o];
    (void)sink;
    return MMARR_OK;
}

mmarr_err mmarr_file_lock(mmarr_file *f, size_t index, mmarr_error *err)
{
    mmarr_error e;
    void *addr = NULL;
    size_t len = 0;
    mmarr_err rc = span(f, index, &addr, &len, &e);
    if (rc == MMARR_OK && len && mlock(addr, len) != 0)
        rc = mm_set_syserr(&e, MMARR_E_IO, errno,
                           "%s: cannot lock %zu bytes in memory (see ulimit -l / "
                           "RLIMIT_MEMLOCK or CAP_IPC_LOCK)",
                           f->path, len);
    return mm_file_done(f, rc, &e, err);
}

mmarr_err mmarr_file_unlock(mmarr_file *f, size_t index, mmarr_error *err)
{
    mmarr_error e;
    void *addr = NULL;
    size_t len = 0;
    mmarr_err rc = span(f, index, &addr, &len, &e);
    if (rc == MMARR_OK && len && munlock(addr, len) != 0)
        rc = mm_set_syserr(&e, MMARR_E_IO, errno, "%s: munlock failed", f->path);
    return mm_file_done(f, rc, &e, err);
}
