/* SPDX-License-Identifier: MIT */
/*
 * growable.c — growable arrays on the reader's side (spec.md §7.8, format 1.2, issue #19):
 * the growable section validated at open (records, the regions of hot ones and the extents
 * of cold ones placed as §9.1 asks, the block table), and verification by blocks.
 *
 * A hot growable array's reserved region holds `capacity` rows; an appender writes new rows
 * into the region after the published ones and publishes a generation with the larger first
 * dimension. Its data are checksummed by blocks of 2^block_shift bytes, so an append
 * re-hashes the last partial block and the new ones only; the entry's checksum is the XXH3 of
 * its block checksums. A cold growable array gains chunks after the file's end instead: its
 * frames lie in its first extent (the entry's data range) and in extra extents listed in the
 * block table, and its checksum is the XXH3 of its chunk checksums.
 */
#include "mm_internal.h"

#include <stdlib.h>
#include "mm_xxhash.h"

void mm_growable_unload(mmarr_file *f)
{
    free(f->growable_of);
    f->growable_of = NULL;
    free(f->growable_stored);
    f->growable_stored = NULL;
    f->growable = NULL;
    f->growable_count = 0;
    f->blocks = NULL;
    f->block_total = 0;
}

const mmarr_disk_growable *mm_growable_of(const mmarr_file *f, size_t index)
{
    return f->growable_of && f->growable_of[index] ? &f->growable[f->growable_of[index] - 1] : NULL;
}

uint64_t mm_growable_stored(const mmarr_file *f, size_t index)
{
    return f->growable_stored[f->growable_of[index] - 1];
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

/* Why record k is invalid, or NULL (spec.md §7.8); the placement of regions and extents
 * against other entries is checked once every record is known (check_placement). */
static const char *record_problem(mmarr_file *f, uint64_t k, uint64_t *blocks_next)
{
    const mmarr_disk_growable *g = &f->growable[k];
    if (g->entry >= f->entry_count)
        return "it names an entry past the entries";
    if (k && g->entry <= f->growable[k - 1].entry)
        return "the records are not in increasing order of entry";
    const mmarr_disk_entry *e = &f->entries[g->entry];
    const bool cold = e->storage != MMARR_STORAGE_RAW;
    if ((e->flags & MMARR_ENTRY_FORTRAN) || e->ndim == 0 ||
        (!cold && (e->flags & MMARR_ENTRY_PACKED)))
        return "a growable array is in C order with at least one dimension, and not packed "
               "when hot";
    if (g->reserved)
        return "its reserved bytes are not zero";
    if (cold ? g->block_shift != 0
             : g->block_shift < MMARR_GROWABLE_MIN_SHIFT ||
                   g->block_shift > MMARR_GROWABLE_MAX_SHIFT)
        return "its block_shift is not 0 for a cold array, or outside 12..30 for a hot one";
    if (g->capacity < f->dims[e->dims_first])
        return "its capacity is smaller than its first dimension";
    uint64_t row = f->dtypes[e->dtype_id]->itemsize, cap;
    for (unsigned d = 1; d < e->ndim; d++)
        if (mm_mul_overflow(row, f->dims[e->dims_first + d], &row))
            return "its row size overflows";
    if (mm_mul_overflow(row, g->capacity, &cap) || cap > (uint64_t)INT64_MAX)
        return "its capacity in bytes overflows";
    if (cold && g->block_count % 2)
        return "its block_count is odd: a cold array's values are (offset, size) pairs";
    if (!cold) {
        const uint64_t bs = 1ull << g->block_shift;
        if (g->block_count != e->data_size / bs + (e->data_size % bs != 0))
            return "its block_count is not ceil(data_size / block size)";
    }
    if (g->blocks_first != *blocks_next ||
        (uint64_t)g->blocks_first + g->block_count > f->block_total)
        return "its values do not follow the previous record's, or pass the block table";
    *blocks_next += g->block_count;
    if (cold)
        return NULL;
    /* §9.1 with the capacity: the reserved region [data_offset, align_up(data_offset +
     * capacity bytes)) lies in the file and outside the index (the next array: below) */
    uint64_t end, pend;
    if (mm_add_overflow(e->data_offset, cap, &end) || end > f->slot.file_size)
        return "its reserved region passes the end of the file";
    pend = mm_align_up(end, f->alignment);
    const uint64_t ibeg = f->slot.index_offset, iend = ibeg + f->slot.index_size;
    if (pend > f->slot.file_size || (cap && e->data_offset < iend && pend > ibeg))
        return "its reserved region overlaps the index or passes the end of the file";
    return NULL;
}

/* The end of entry i's padded range (§9.1; for a hot growable array, of its region). */
static uint64_t padded_end(const mmarr_file *f, uint64_t i)
{
    const mmarr_disk_entry *e = &f->entries[i];
    const mmarr_disk_growable *g = mm_growable_of(f, (size_t)i);
    const uint64_t a = (e->flags & MMARR_ENTRY_PACKED) ? MMARR_PACKED_ALIGNMENT : f->alignment;
    if (g && e->storage == MMARR_STORAGE_RAW)
        return mm_align_up(e->data_offset + mm_growable_capacity_bytes(f, e, g), a);
    return mm_align_up(e->data_offset + e->data_size, a); /* validated: no overflow */
}

/* Whether [beg, end) meets the padded range of an entry or holds an entry's data_offset
 * (entries are in data order and their padded ranges do not overlap: only the last one
 * starting before `end` can). */
static bool meets_an_entry(const mmarr_file *f, uint64_t beg, uint64_t end)
{
    uint64_t lo = 0, hi = f->entry_count; /* first entry with data_offset >= end */
    while (lo < hi) {
        const uint64_t mid = lo + (hi - lo) / 2;
        if (f->entries[mid].data_offset < end)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && (f->entries[lo - 1].data_offset >= beg || padded_end(f, lo - 1) > beg);
}

typedef struct mm_extent {
    uint64_t beg, end, entry;
} mm_extent;

static int cmp_extent(const void *a, const void *b)
{
    const mm_extent *x = a, *y = b;
    return x->beg < y->beg ? -1 : x->beg > y->beg;
}

/* Why a frame of cold entry e lies outside its first extent and its nx extra extents (at v,
 * validated), or NULL (both in increasing order: one pass). *stored: the frames' bytes. */
static const char *frames_problem(const mmarr_file *f, const mmarr_disk_entry *e, const uint64_t *v,
                                  uint32_t nx, uint64_t *stored)
{
    const mmarr_disk_cold *c = (const mmarr_disk_cold *)(f->index + f->ih->cold_offset) +
                               e->cold_id;
    const mmarr_disk_chunk *ch = (const mmarr_disk_chunk *)(f->index + f->ih->chunks_offset) +
                                 c->chunk_first;
    uint64_t xbeg = e->data_offset, xend = e->data_offset + e->data_size;
    uint32_t x = 0;
    *stored = 0; /* disjoint frames inside the file: no overflow */
    for (uint32_t k = 0; k < c->chunk_count; k++) {
        *stored += ch[k].size;
        /* offsets and sizes were checked against the file (index_read.c: check_cold) */
        const uint64_t beg = e->data_offset + ch[k].offset, end = beg + ch[k].size;
        while (beg >= xend && x < nx) {
            xbeg = v[2 * x];
            xend = v[2 * x] + v[2 * x + 1];
            x++;
        }
        if (beg < xbeg || end > xend)
            return nx ? "a chunk's frame lies outside its extents"
                      : "a chunk's frame lies outside the array's stored bytes";
    }
    return NULL;
}

/* Why the extra extents of cold growable record g are misplaced, or NULL; they are added to
 * all[*n] for the check between arrays. */
static const char *extents_problem(const mmarr_file *f, const mmarr_disk_growable *g,
                                   mm_extent *all, size_t *n, uint64_t *stored)
{
    const mmarr_disk_entry *e = &f->entries[g->entry];
    const uint64_t *v = f->blocks + g->blocks_first;
    const uint64_t ibeg = f->slot.index_offset, iend = ibeg + f->slot.index_size;
    uint64_t prev = e->data_offset + e->data_size;
    for (uint32_t x = 0; x < g->block_count / 2; x++) {
        const uint64_t beg = v[2 * x], size = v[2 * x + 1];
        uint64_t end;
        if (size == 0 || beg < prev || mm_add_overflow(beg, size, &end) || end > f->slot.file_size)
            return "an extra extent is empty, out of order, or passes the end of the file";
        if (beg < iend && end > ibeg)
            return "an extra extent overlaps the index";
        if (meets_an_entry(f, beg, end))
            return "an extra extent overlaps the padded range of an array";
        all[(*n)++] = (mm_extent){beg, end, g->entry};
        prev = end;
    }
    return frames_problem(f, e, v, g->block_count / 2, stored);
}

/* §7.8, §9.1: hot regions before the next array; cold frames in their extents, which meet
 * no array, index or other extent. */
static mmarr_err check_placement(mmarr_file *f, mmarr_error *err)
{
    size_t nx = 0, n = 0;
    for (uint64_t k = 0; k < f->growable_count; k++)
        if (f->entries[f->growable[k].entry].storage != MMARR_STORAGE_RAW)
            nx += f->growable[k].block_count / 2;
    mm_extent *all = nx ? malloc(nx * sizeof *all) : NULL;
    if (nx && !all)
        MM_FAIL(err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", f->path);
    const char *why = NULL;
    uint64_t i = 0; /* the entry at fault */
    for (uint64_t k = 0; k < f->growable_count && !why; k++) {
        const mmarr_disk_growable *g = &f->growable[k];
        i = g->entry;
        if (f->entries[i].storage != MMARR_STORAGE_RAW)
            why = extents_problem(f, g, all, &n, &f->growable_stored[k]);
        else if (i + 1 < f->entry_count && f->entries[i + 1].data_offset < padded_end(f, i))
            why = "its reserved region overlaps the next array";
    }
    /* the other cold arrays' frames, checked within the file only so far (check_cold) */
    for (uint64_t j = 0; j < f->entry_count && !why; j++)
        if (f->entries[j].storage != MMARR_STORAGE_RAW && !mm_growable_of(f, (size_t)j))
            why = frames_problem(f, &f->entries[(i = j)], NULL, 0, &(uint64_t){0});
    if (!why && n > 1) {
        qsort(all, n, sizeof *all, cmp_extent);
        for (size_t x = 1; x < n && !why; x++)
            if (all[x].beg < all[x - 1].end) {
                why = "its extra extents overlap those of another array";
                i = all[x].entry;
            }
    }
    free(all);
    if (why) {
        const mmarr_disk_entry *e = &f->entries[i];
        MM_FAIL(err, MMARR_E_CORRUPT, e->data_offset, "%s: array \"%s\" (entry %llu): %s", f->path,
                mm_entry_name(f, e), (unsigned long long)i, why);
    }
    return MMARR_OK;
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
    f->growable_stored = calloc((size_t)n, sizeof *f->growable_stored);
    if (!f->growable_of || !f->growable_stored)
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
                "%s: the growable records use %llu values of the block table, it holds %u", f->path,
                (unsigned long long)next, h->block_total);
    }
    f->growable_count = n;
    mmarr_err rc = check_placement(f, err);
    if (rc != MMARR_OK)
        mm_growable_unload(f);
    return rc;
}

uint64_t mm_growable_sum(const uint64_t *blocks, uint32_t count)
{
    return mm_xxh3(count ? (const void *)blocks : "", (size_t)count * 8);
}

bool mm_growable_chunks_sum(const mmarr_disk_chunk *chunks, size_t count, uint64_t *sum)
{
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        return false;
    XXH3_64bits_reset(st);
    for (size_t k = 0; k < count; k++)
        XXH3_64bits_update(st, &chunks[k].checksum, 8);
    *sum = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return true;
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
