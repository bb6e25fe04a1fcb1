/* SPDX-License-Identifier: MIT */
/*
 * update.c — read-write handles: the CHECKSUMS_STALE protocol and rehash (spec.md §11.2),
 * mmarr_file_flush() and mmarr_file_write().
 *
 * Index bytes are never modified in place. A state change writes the *inactive* superblock
 * slot with the next generation and syncs it, so a crash leaves either slot valid (§4.2).
 *
 * Every read-write handle holds a shared flock() on the file; a rehash takes it exclusively
 * (without waiting), so it cannot clear the stale flag while another handle may still write.
 * After a rehash the handle is read-only: its mappings are made PROT_READ, so a later write
 * through an old pointer faults loudly instead of silently invalidating the new checksums.
 */
#include "mm_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static mmarr_err sync_fd(mmarr_file *f, mmarr_error *e)
{
    if (fdatasync(f->fd) != 0)
        MM_FAIL_SYS(e, MMARR_E_IO, errno, "%s: fdatasync failed", f->path);
    return MMARR_OK;
}

/* Write `ns` into the inactive slot, sync, and make it the handle's active slot. */
static mmarr_err publish_slot(mmarr_file *f, mmarr_disk_slot *ns, mmarr_error *e)
{
    ns->generation = f->slot.generation + 1;
    ns->checksum = mm_slot_checksum(ns);
    const uint64_t off = f->active_slot ? MMARR_SLOT_A_OFFSET : MMARR_SLOT_B_OFFSET;
    MM_TRY(mm_pwrite_all(e, f->fd, f->path, ns, sizeof *ns, off));
    MM_TRY(sync_fd(f, e));
    f->slot = *ns;
    f->active_slot = !f->active_slot;
    f->other_slot_damaged = false;
    return MMARR_OK;
}

/* Whether the active slot is the stale mark itself (§11.2) with nothing published since: the
 * other slot valid, one generation older, not stale, naming the same index. Then the arrays
 * that may have been written in place are exactly the ones this index lists, and a rehash
 * that finds their checksums unchanged changed nothing; otherwise an appender published while
 * the mark stood (it may have deleted arrays written in place), or the history is unknown. */
static bool only_the_mark(const mmarr_file *f)
{
    if (!(f->slot.state_flags & MMARR_STATE_CHECKSUMS_STALE))
        return true; /* nothing was written in place since the last publication */
    const mmarr_disk_slot *o = (const mmarr_disk_slot *)(f->base + (f->active_slot
                                                                        ? MMARR_SLOT_A_OFFSET
                                                                        : MMARR_SLOT_B_OFFSET));
    return mm_slot_checksum(o) == o->checksum && o->generation + 1 == f->slot.generation &&
           !(o->state_flags & MMARR_STATE_CHECKSUMS_STALE) &&
           o->index_offset == f->slot.index_offset && o->index_size == f->slot.index_size &&
           o->index_checksum == f->slot.index_checksum;
}

mmarr_err mm_publish_stale(mmarr_file *f, mmarr_error *e)
{
    if (flock(f->fd, LOCK_SH) != 0)
        MM_FAIL_SYS(e, MMARR_E_IO, errno, "%s: flock failed", f->path);
    if (f->slot.state_flags & MMARR_STATE_CHECKSUMS_STALE)
        return MMARR_OK;
    mmarr_disk_slot ns = f->slot;
    ns.state_flags |= MMARR_STATE_CHECKSUMS_STALE;
    return publish_slot(f, &ns, e);
}

/* Map the whole file again after it grew, retiring the old mapping and dtypes. */
static mmarr_err remap(mmarr_file *f, uint64_t new_size, mmarr_error *e)
{
    struct mm_retired *r = realloc(f->retired, (f->retired_count + 1) * sizeof *r);
    if (!r)
        MM_FAIL(e, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", f->path);
    f->retired = r;
    void *p = mmap(NULL, (size_t)new_size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
    if (p == MAP_FAILED)
        MM_FAIL_SYS(e, MMARR_E_IO, errno, "%s: cannot map %llu bytes", f->path,
                    (unsigned long long)new_size);
    r[f->retired_count++] = (struct mm_retired){(void *)f->base, (size_t)f->size, f->dtypes,
                                                f->dtype_count};
    f->dtypes = NULL;
    f->dtype_count = 0;
    f->base = p;
    f->size = new_size;
    return mm_index_load(f, e);
}

/* Drop write access after a rehash (see the file comment). */
static void make_readonly(mmarr_file *f)
{
    if (f->size)
        mprotect((void *)f->base, (size_t)f->size, PROT_READ);
    for (size_t i = 0; i < f->retired_count; i++)
        mprotect(f->retired[i].map, f->retired[i].map_size, PROT_READ);
    f->writable = false;
    flock(f->fd, LOCK_UN);
}

static mmarr_err rehash(mmarr_file *f, mmarr_error *e)
{
    if (flock(f->fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            MM_FAIL(e, MMARR_E_STATE, MMARR_NO_OFFSET,
                    "%s: cannot rehash while another read-write handle has the "
                    "file open (close the others first)",
                    f->path);
        MM_FAIL_SYS(e, MMARR_E_IO, errno, "%s: flock failed", f->path);
    }
    const size_t isz = (size_t)f->slot.index_size;
    unsigned char *buf = malloc(isz);
    if (!buf)
        MM_FAIL(e, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", f->path);
    memcpy(buf, f->index, isz);
    mmarr_disk_entry *ents = (mmarr_disk_entry *)(buf + f->ih->entries_offset);
    mmarr_err rc = MMARR_OK;
    for (uint64_t i = 0; i < f->entry_count && rc == MMARR_OK; i++)
        if (ents[i].storage == MMARR_STORAGE_RAW && !mm_growable_of(f, (size_t)i))
            rc = mm_file_hash(f, ents[i].data_offset, ents[i].data_size, &ents[i].checksum, e);
    /* growable arrays: their block checksums (in the index copy), then the entry's (§7.8) */
    uint64_t *blocks = f->growable_count ? (uint64_t *)(buf + f->ih->growable_offset +
                                                        f->growable_count * sizeof *f->growable)
                                         : NULL;
    for (uint64_t k = 0; k < f->growable_count && rc == MMARR_OK; k++) {
        const mmarr_disk_growable *g = &f->growable[k];
        mmarr_disk_entry *en = &ents[g->entry];
        if (en->storage != MMARR_STORAGE_RAW)
            continue; /* cold: never written in place; its values are extents */
        for (uint32_t b = 0; b < g->block_count && rc == MMARR_OK; b++)
            rc = mm_growable_hash_block(f, en, g, b, &blocks[g->blocks_first + b], e);
        en->checksum = mm_growable_sum(blocks + g->blocks_first, g->block_count);
    }
    if (rc != MMARR_OK)
        goto out;
    bool changed = false; /* did in-place writes change an array (as far as XXH3 tells)? */
    for (uint64_t i = 0; i < f->entry_count; i++)
        changed |= ents[i].checksum != f->entries[i].checksum;
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        rc = mm_set_syserr(e, MMARR_E_IO, errno, "%s: cannot stat", f->path);
        goto out;
    }
    /* never overwrite a byte any generation may refer to: append past the physical end */
    uint64_t end = (uint64_t)st.st_size > f->slot.file_size ? (uint64_t)st.st_size
                                                            : f->slot.file_size;
    const uint64_t off = mm_align_up(end, MMARR_INDEX_ALIGNMENT);
    if ((rc = mm_reserve_space(e, f->fd, f->path, off, isz)) != MMARR_OK ||
        (rc = mm_pwrite_all(e, f->fd, f->path, buf, isz, off)) != MMARR_OK ||
        (rc = sync_fd(f, e)) != MMARR_OK)
        goto out;
    mmarr_disk_slot ns = f->slot;
    ns.file_size = off + isz;
    ns.index_offset = off;
    ns.index_checksum = mm_xxh3(buf, isz);
    ns.state_flags &= ~MMARR_STATE_CHECKSUMS_STALE;
    if (changed || !only_the_mark(f)) /* earlier generations may list arrays written in place,
                                        * some perhaps deleted since (spec.md §4.2, §11.2) */
        ns.rehash_generation = f->slot.generation + 1;
    if ((rc = publish_slot(f, &ns, e)) != MMARR_OK)
        goto out;
    rc = remap(f, off + isz, e);
    if (rc == MMARR_OK)
        make_readonly(f);
out:
    if (rc != MMARR_OK && f->writable)
        flock(f->fd, LOCK_SH);
    free(buf);
    return rc;
}

mmarr_err mmarr_file_flush(mmarr_file *f, unsigned flags, mmarr_error *err)
{
    mmarr_error e;
    mmarr_err rc = MMARR_OK;
    if (!f->writable)
        rc = mm_set_error(&e, MMARR_E_READONLY, MMARR_NO_OFFSET,
                          "%s: flush needs a handle opened with MMARR_OPEN_RDWR", f->path);
    else if (flags & ~(MMARR_FLUSH_ASYNC | MMARR_FLUSH_REHASH))
        rc = mm_set_error(&e, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: unknown flush flags 0x%x",
                          f->path, flags);
    else if (f->size &&
             msync((void *)f->base, (size_t)f->size,
                   (flags & MMARR_FLUSH_ASYNC) && !(flags & MMARR_FLUSH_REHASH) ? MS_ASYNC
                                                                                : MS_SYNC) != 0)
        rc = mm_set_syserr(&e, MMARR_E_IO, errno, "%s: msync failed", f->path);
    else if (flags & MMARR_FLUSH_REHASH)
        rc = rehash(f, &e);
    return mm_file_done(f, rc, &e, err);
}

static mmarr_err write_range(mmarr_file *f, size_t index, uint64_t offset, const void *src,
                             uint64_t n, mmarr_error *e)
{
    if (!f->writable)
        MM_FAIL(e, MMARR_E_READONLY, MMARR_NO_OFFSET,
                "%s: mmarr_file_write needs a handle opened with MMARR_OPEN_RDWR (and not "
                "rehashed since)",
                f->path);
    MM_TRY(mm_check_range(f, index, offset, n, src, "mmarr_file_write", e));
    const mmarr_disk_entry *en = &f->entries[index];
    if (en->storage != MMARR_STORAGE_RAW)
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                "%s: mmarr_file_write: array \"%s\" is cold (compressed arrays cannot change "
                "in place)",
                f->path, mm_entry_name(f, en));
    return n ? mm_pwrite_all(e, f->fd, f->path, src, (size_t)n, en->data_offset + offset)
             : MMARR_OK;
}

mmarr_err mmarr_file_write(mmarr_file *f, size_t index, uint64_t offset, const void *src,
                           uint64_t n, mmarr_error *err)
{
    mmarr_error e;
    return mm_file_done(f, write_range(f, index, offset, src, n, &e), &e, err);
}
