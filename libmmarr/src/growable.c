/* SPDX-License-Identifier: MIT */
/*
 * growable.c — growable arrays on the reader's side (spec.md §7.8, format 1.2, issue #19):
 * the growable section validated at open (records, their capacity regions placed as §9.1
 * asks, the block checksum table), and verification by blocks.
 *
 * A growable array is a hot array whose reserved region holds `capacity` rows; an appender
 * writes new rows into the region after the published ones and publishes a generation with
 * the larger first dimension. Its data are checksummed by blocks of 2^block_shift bytes, so an
 * append re-hashes the last partial block and the new ones only; the entry's checksum is the
 * XXH3 of its block checksums.
 */
#include "mm_internal.h"

#include <stdlib.h>

void mm_growable_unload(mmarr_file *f)
{
    free(f->growable_of);
    f->growable_of = NULL;
    f->growable = NULL;
    f->growable_count = 0;
    f->blocks = NULL;
    f->block_total = 0;
}

const mmarr_disk_growable *mm_growable_of(const mmarr_file *f, size_t index)
{
    return f->growable_of && f->growable_of[index] ? &f->growable[f->growable_of[index] - 1] : NULL;
}

uint64_t mm_growable_capacity_bytes(const mmarr_file *f, const mmarr_disk_entry *e,
                                    const mmarr_disk_growable *g)
{
    /* capacity x the row size: validated at load not to overflow */
    uint64_t row = f->dtypes[e->dtype_id]->itemsize;
    for (unsigned d = 1; d < e->ndim; d++)
        row *= f->dims[e->dims_first + d];
    return row * g->capacity;
}

/* Why record k is invalid, or NULL (spec.md §7.8). */
static const char *record_problem(mmarr_file *f, uint64_t k, uint64_t *blocks_next)
{
    const mmarr_disk_growable *g = &f->growable[k];
    if (g->entry >= f->entry_count)
        return "it names an entry past the entries";
    if (k && g->entry <= f->growable[k - 1].entry)
        return "the records are not in increasing order of entry";
    const mmarr_disk_entry *e = &f->entries[g->entry];
    if (e->storage != MMARR_STORAGE_RAW ||
        (e->flags & (MMARR_ENTRY_PACKED | MMARR_ENTRY_FORTRAN)) || e->ndim == 0)
        return "a growable array is hot, not packed, in C order, with at least one dimension";
    if (g->block_shift < MMARR_GROWABLE_MIN_SHIFT || g->block_shift > MMARR_GROWABLE_MAX_SHIFT ||
        g->reserved)
        return "its block_shift is outside 12..30, or its reserved bytes are not zero";
    if (g->capacity < f->dims[e->dims_first])
        return "its capacity is smaller than its first dimension";
    uint64_t row = f->dtypes[e->dtype_id]->itemsize, cap;
    for (unsigned d = 1; d < e->ndim; d++)
        if (mm_mul_overflow(row, f->dims[e->dims_first + d], &row))
            return "its row size overflows";
    if (mm_mul_overflow(row, g->capacity, &cap) || cap > (uint64_t)INT64_MAX)
        return "its capacity in bytes overflows";
    const uint64_t bs = 1ull << g->block_shift;
    if (g->block_count != e->data_size / bs + (e->data_size % bs != 0))
        return "its block_count is not ceil(data_size / block size)";
    if (g->blocks_first != *blocks_next ||
        (uint64_t)g->blocks_first + g->block_count > f->block_total)
        return "its block checksums do not follow the previous record's, or pass the table";
    *blocks_next += g->block_count;
    /* §9.1 with the capacity: the reserved region [data_offset, align_up(data_offset +
     * capacity bytes)) lies in the file, before the next array and outside the index */
    uint64_t end, pend;
    if (mm_add_overflow(e->data_offset, cap, &end) || end > f->slot.file_size)
        return "its reserved region passes the end of the file";
    pend = mm_align_up(end, f->alignment);
    const uint64_t ibeg = f->slot.index_offset, iend = ibeg + f->slot.index_size;
    if (pend > f->slot.file_size || (cap && e->data_offset < iend && pend > ibeg))
        return "its reserved region overlaps the index or passes the end of the file";
    if (g->entry + 1 < f->entry_count && f->entries[g->entry + 1].data_offset < pend)
        return "its reserved region overlaps the next array";
    return NULL;
}

mmarr_err mm_growable_load(mmarr_file *f, mmarr_error *err)
{
    mm_growable_unload(f);
    const mmarr_disk_index_header *h = f->ih;
    const uint64_t io = f->slot.index_offset;
    const uint64_t at_header = io + offsetof(mmarr_disk_index_header, growable_offset);
    /* without the bit, bytes 176..191 are reserved as in 1.0, and ignored (spec.md §2) */
    if (!(f->slot.required_features & MMARR_FEAT_REQ_GROWABLE))
        return MMARR_OK;
    if (h->growable_count == 0)
        MM_FAIL(err, MMARR_E_CORRUPT, at_header,
                "%s: GROWABLE is set but the index has no growable record", f->path);
    /* a section of §7.1, after the heap and the ragged section */
    uint64_t prev_end = h->heap_offset + h->heap_size;
    if (f->ragged_count)
        prev_end = h->ragged_offset + f->ragged_count * sizeof(mmarr_disk_ragged);
    const uint64_t n = h->growable_count, off = h->growable_offset, isz = f->slot.index_size;
    if (off % MMARR_SECTION_ALIGNMENT || off < prev_end || off > isz ||
        (isz - off) / sizeof(mmarr_disk_growable) < n ||
        (isz - off - n * sizeof(mmarr_disk_growable)) / 8 < h->block_total)
        MM_FAIL(err, MMARR_E_CORRUPT, at_header,
                "%s: growable section at %llu (%llu records, %u block checksums) is misaligned, "
                "before the previous section or outside the index (%llu bytes)",
                f->path, (unsigned long long)off, (unsigned long long)n, h->block_total,
                (unsigned long long)isz);
    f->growable = (const mmarr_disk_growable *)(f->index + off);
    f->blocks = (const uint64_t *)(f->index + off + n * sizeof(mmarr_disk_growable));
    f->block_total = h->block_total;
    f->growable_of = calloc((size_t)f->entry_count + 1, sizeof *f->growable_of);
    if (!f->growable_of)
        MM_FAIL(err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", f->path);
    uint64_t next = 0;
    for (uint64_t k = 0; k < n; k++) {
        const mmarr_disk_growable *g = &f->growable[k];
        const char *why = record_problem(f, k, &next);
        if (why) {
            const uint64_t at = io + off + k * sizeof *g;
            mm_growable_unload(f);
            MM_FAIL(err, MMARR_E_CORRUPT, at,
                    "%s: growable record %llu at offset %llu (entry %u): %s", f->path,
                    (unsigned long long)k, (unsigned long long)at, g->entry, why);
        }
        f->growable_of[g->entry] = (uint32_t)k + 1;
    }
    if (next != f->block_total) {
        mm_growable_unload(f);
        MM_FAIL(err, MMARR_E_CORRUPT, at_header,
                "%s: the growable records use %llu block checksums, the section holds %u", f->path,
                (unsigned long long)next, h->block_total);
    }
    f->growable_count = n;
    return MMARR_OK;
}

uint64_t mm_growable_sum(const uint64_t *blocks, uint32_t count)
{
    return mm_xxh3(count ? (const void *)blocks : "", (size_t)count * 8);
}

mmarr_err mm_growable_hash_block(mmarr_file *f, const mmarr_disk_entry *e,
                                 const mmarr_disk_growable *g, uint32_t k, uint64_t *sum,
                                 mmarr_error *err)
{
    const uint64_t bs = 1ull << g->block_shift, beg = (uint64_t)k * bs;
    const uint64_t n = e->data_size - beg < bs ? e->data_size - beg : bs;
    return mm_file_hash(f, e->data_offset + beg, n, sum, err);
}

mmarr_err mm_growable_verify(mmarr_file *f, size_t index, mmarr_error *err)
{
    const mmarr_disk_growable *g = mm_growable_of(f, index);
    const mmarr_disk_entry *e = &f->entries[index];
    const char *name = mm_entry_name(f, e);
    for (uint32_t k = 0; k < g->block_count; k++) {
        uint64_t sum;
        MM_TRY(mm_growable_hash_block(f, e, g, k, &sum, err));
        if (sum != f->blocks[g->blocks_first + k]) {
            const uint64_t beg = e->data_offset + ((uint64_t)k << g->block_shift);
            MM_FAIL(err,
                    (f->slot.state_flags & MMARR_STATE_CHECKSUMS_STALE) ? MMARR_E_STALE
                                                                        : MMARR_E_CHECKSUM,
                    beg,
                    "%s: array \"%s\" (growable): block %u at offset %llu checksum mismatch "
                    "(stored %016llx, computed %016llx)",
                    f->path, name, k, (unsigned long long)beg,
                    (unsigned long long)f->blocks[g->blocks_first + k], (unsigned long long)sum);
        }
    }
    const uint64_t whole = mm_growable_sum(f->blocks + g->blocks_first, g->block_count);
    if (whole != e->checksum)
        MM_FAIL(err, MMARR_E_CHECKSUM, e->data_offset,
                "%s: array \"%s\" (growable): the checksum of its block checksums mismatches "
                "(stored %016llx, computed %016llx)",
                f->path, name, (unsigned long long)e->checksum, (unsigned long long)whole);
    return MMARR_OK;
}
