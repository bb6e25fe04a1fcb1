/* SPDX-License-Identifier: MIT */
/*
 * index.c — decode and validate the superblock and the index (spec.md §4, §7, §9, §10, §12).
 *
 * Every offset, size and count read from the file is checked here, once, in one pass over
 * fixed-width records, before any pointer into the file is handed out. The rest of the
 * library relies on these invariants and does not re-check them.
 */
#include "mm_index.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef struct mm_section {
    const char *name;
    uint64_t offset, count, recsize;
} mm_section;

/* spec.md §4.1 */
static mmarr_err check_prologue(mmarr_file *f, mmarr_error *err)
{
    const char *path = f->path;
    if (f->size == 0)
        MM_FAIL(err, MMARR_E_BADMAGIC, 0, "%s: not an mmarr file (the file is empty)", path);
    size_t cmp = f->size < MMARR_MAGIC_SIZE ? (size_t)f->size : MMARR_MAGIC_SIZE;
    if (memcmp(f->base, MMARR_MAGIC, cmp) != 0) {
        if (f->size >= 9 && !memcmp(f->base, "\x89MMARR\n\x1a\n", 9))
            MM_FAIL(err, MMARR_E_BADMAGIC, 0,
                    "%s: not a valid mmarr file: the magic's \\r\\n became \\n "
                    "(transferred in text mode?)",
                    path);
        if (f->size >= 11 && !memcmp(f->base, "\x89MMARR\r\r\n\x1a", 10))
            MM_FAIL(err, MMARR_E_BADMAGIC, 0,
                    "%s: not a valid mmarr file: the magic's \\n became \\r\\n "
                    "(transferred in text mode?)",
                    path);
        MM_FAIL(err, MMARR_E_BADMAGIC, 0, "%s: not an mmarr file (bad magic bytes)", path);
    }
    if (f->size < MMARR_SUPERBLOCK_SIZE)
        MM_FAIL(err, MMARR_E_TRUNCATED, f->size,
                "%s: truncated: %llu bytes, shorter than the %u-byte superblock", path,
                (unsigned long long)f->size, MMARR_SUPERBLOCK_SIZE);
    const mmarr_disk_prologue *pr = (const mmarr_disk_prologue *)f->base;
    if (pr->format_major != MMARR_FORMAT_MAJOR)
        MM_FAIL(err, MMARR_E_VERSION, offsetof(mmarr_disk_prologue, format_major),
                "%s: format version %u.%u; this library reads major version %u", path,
                pr->format_major, pr->format_minor, MMARR_FORMAT_MAJOR);
    uint64_t sum = mm_prologue_checksum(pr);
    if (sum != pr->checksum)
        MM_FAIL(err, MMARR_E_CHECKSUM, offsetof(mmarr_disk_prologue, checksum),
                "%s: prologue checksum mismatch at offset 56 (stored %016llx, computed "
                "%016llx)",
                path, (unsigned long long)pr->checksum, (unsigned long long)sum);
    if (!mm_is_pow2(pr->alignment) || pr->alignment < MMARR_MIN_ALIGNMENT ||
        pr->alignment > MMARR_MAX_ALIGNMENT)
        MM_FAIL(err, MMARR_E_CORRUPT, offsetof(mmarr_disk_prologue, alignment),
                "%s: alignment %u at offset 16 is not a power of two in 4096..2097152", path,
                pr->alignment);
    f->alignment = pr->alignment;
    f->format_minor = pr->format_minor;
    return MMARR_OK;
}

/* spec.md §4.2: choose the active slot; *fallback is the other slot when it is valid with a
 * smaller generation (the previous generation, spec.md §4.4), else -1. */
static mmarr_err choose_slot(mmarr_file *f, int *fallback, mmarr_error *err)
{
    const uint64_t offs[2] = {MMARR_SLOT_A_OFFSET, MMARR_SLOT_B_OFFSET};
    const mmarr_disk_slot *s[2];
    int state[2]; /* 0 empty, 1 valid, 2 damaged */
    for (int i = 0; i < 2; i++) {
        s[i] = (const mmarr_disk_slot *)(f->base + offs[i]);
        if (mm_first_nonzero(s[i], sizeof *s[i]) == sizeof *s[i])
            state[i] = 0;
        else if (mm_slot_checksum(s[i]) != s[i]->checksum)
            state[i] = 2;
        else
            state[i] = s[i]->generation >= 1 ? 1 : 3; /* 3: generation 0 in a used slot */
    }
    int pick;
    if (state[0] == 1 && state[1] == 1) {
        if (s[0]->generation == s[1]->generation) {
            if (memcmp(s[0], s[1], sizeof *s[0]) != 0)
                MM_FAIL(err, MMARR_E_CORRUPT, MMARR_SLOT_B_OFFSET,
                        "%s: superblock slots A and B differ with the same generation "
                        "%llu",
                        f->path, (unsigned long long)s[0]->generation);
            pick = 0;
        } else {
            pick = s[1]->generation > s[0]->generation;
        }
    } else if (state[0] == 1) {
        pick = 0;
    } else if (state[1] == 1) {
        pick = 1;
    } else if (state[0] == 0 && state[1] == 0) {
        MM_FAIL(err, MMARR_E_CORRUPT, MMARR_SLOT_A_OFFSET,
                "%s: both superblock slots are empty (an unfinished file?)", f->path);
    } else {
        static const char *const why[] = {"empty", "", "checksum mismatch", "generation 0"};
        MM_FAIL(err, MMARR_E_CORRUPT, state[0] ? MMARR_SLOT_A_OFFSET : MMARR_SLOT_B_OFFSET,
                "%s: no valid superblock slot (slot A at offset 64: %s; slot B at offset "
                "192: %s)",
                f->path, why[state[0]], why[state[1]]);
    }
    f->active_slot = (unsigned)pick;
    f->other_slot_damaged = state[!pick] >= 2;
    memcpy(&f->slot, s[pick], sizeof f->slot);
    *fallback = state[!pick] == 1 && s[!pick]->generation < s[pick]->generation ? !pick : -1;
    return MMARR_OK;
}

static mmarr_err check_slot(mmarr_file *f, mmarr_error *err)
{
    const mmarr_disk_slot *s = &f->slot;
    const uint64_t base = f->active_slot ? MMARR_SLOT_B_OFFSET : MMARR_SLOT_A_OFFSET;
    uint64_t unknown = s->required_features & ~MMARR_FEAT_REQ_KNOWN;
    if (unknown)
        MM_FAIL(err, MMARR_E_UNSUPPORTED, base + offsetof(mmarr_disk_slot, required_features),
                "%s: the file needs features this library lacks (required feature bits "
                "0x%llx; format %u.%u)",
                f->path, (unsigned long long)unknown, MMARR_FORMAT_MAJOR, f->format_minor);
    if (s->file_size > f->size)
        MM_FAIL(err, MMARR_E_TRUNCATED, f->size,
                "%s: truncated: %llu bytes, but the superblock describes %llu", f->path,
                (unsigned long long)f->size, (unsigned long long)s->file_size);
    uint64_t end;
    if (s->index_offset < MMARR_SUPERBLOCK_SIZE || s->index_offset % MMARR_INDEX_ALIGNMENT ||
        s->index_size < sizeof(mmarr_disk_index_header) ||
        mm_add_overflow(s->index_offset, s->index_size, &end) || end > s->file_size)
        MM_FAIL(err, MMARR_E_CORRUPT, base + offsetof(mmarr_disk_slot, index_offset),
                "%s: index range [%llu, +%llu) is misaligned or outside the file (%llu "
                "bytes)",
                f->path, (unsigned long long)s->index_offset, (unsigned long long)s->index_size,
                (unsigned long long)s->file_size);
    if (s->index_size > SIZE_MAX)
        MM_FAIL(err, MMARR_E_RANGE, base + 24, "%s: index too large for this host", f->path);
    f->index = f->base + s->index_offset;
    return MMARR_OK;
}

/* spec.md §7.1: sections in order, 8-aligned, inside the index. */
static mmarr_err check_sections(mmarr_file *f, mmarr_error *err)
{
    const mmarr_disk_index_header *h = f->ih;
    const uint64_t io = f->slot.index_offset, isz = f->slot.index_size;
    if (memcmp(h->magic, MMARR_INDEX_MAGIC, 8) != 0)
        MM_FAIL(err, MMARR_E_CORRUPT, io, "%s: index at offset %llu has no MMARRIDX magic", f->path,
                (unsigned long long)io);
    mm_section sec[] = {
        {"entries", h->entries_offset, h->entry_count, sizeof(mmarr_disk_entry)},
        {"order", h->order_offset, h->entry_count, 4},
        {"names", h->names_offset, h->entry_count, sizeof(mmarr_disk_name)},
        {"dtypes", h->dtypes_offset, h->dtype_count, sizeof(mmarr_disk_dtype)},
        {"dims", h->dims_offset, h->dim_count, 8},
        {"meta", h->meta_offset, h->meta_count, sizeof(mmarr_disk_meta)},
        {"ameta", h->ameta_offset, h->ameta_count, sizeof(mmarr_disk_ameta)},
        {"cold", h->cold_offset, h->cold_count, sizeof(mmarr_disk_cold)},
        {"chunks", h->chunks_offset, h->chunk_count, sizeof(mmarr_disk_chunk)},
        {"heap", h->heap_offset, h->heap_size, 1},
    };
    uint64_t prev_end = sizeof(mmarr_disk_index_header);
    for (size_t i = 0; i < sizeof sec / sizeof sec[0]; i++) {
        uint64_t bytes, end;
        const bool heap = i + 1 == sizeof sec / sizeof sec[0];
        const uint64_t limit = heap ? (1ull << 32) : (1ull << 32) - 1;
        if (sec[i].count > limit)
            MM_FAIL(err, MMARR_E_CORRUPT, io + 8,
                    "%s: index section %s: count %llu exceeds the format's limit", f->path,
                    sec[i].name, (unsigned long long)sec[i].count);
        if (sec[i].offset % MMARR_SECTION_ALIGNMENT || sec[i].offset < prev_end ||
            mm_mul_overflow(sec[i].count, sec[i].recsize, &bytes) ||
            mm_add_overflow(sec[i].offset, bytes, &end) || end > isz)
            MM_FAIL(err, MMARR_E_CORRUPT, io + sec[i].offset,
                    "%s: index section %s [%llu, +%llu x %llu) is misaligned, out of "
                    "order or outside the index (%llu bytes)",
                    f->path, sec[i].name, (unsigned long long)sec[i].offset,
                    (unsigned long long)sec[i].count, (unsigned long long)sec[i].recsize,
                    (unsigned long long)isz);
        prev_end = end;
    }
    f->entries = (const mmarr_disk_entry *)(f->index + h->entries_offset);
    f->order = (const uint32_t *)(f->index + h->order_offset);
    f->names = (const mmarr_disk_name *)(f->index + h->names_offset);
    f->dims = (const uint64_t *)(f->index + h->dims_offset);
    f->meta = (const mmarr_disk_meta *)(f->index + h->meta_offset);
    f->ameta = (const mmarr_disk_ameta *)(f->index + h->ameta_offset);
    f->ameta_count = h->ameta_count;
    f->heap = (const char *)(f->index + h->heap_offset);
    f->entry_count = h->entry_count;
    f->meta_count = h->meta_count;
    f->dim_count = h->dim_count;
    return MMARR_OK;
}

static mmarr_err check_dtypes(mmarr_file *f, mmarr_error *err)
{
    const mmarr_disk_index_header *h = f->ih;
    const mmarr_disk_dtype *d = (const mmarr_disk_dtype *)(f->index + h->dtypes_offset);
    f->dtype_count = h->dtype_count;
    if (h->dtype_count == 0)
        return MMARR_OK;
    f->dtypes = calloc((size_t)h->dtype_count, sizeof *f->dtypes);
    if (!f->dtypes)
        MM_FAIL(err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", f->path);
    for (uint64_t i = 0; i < h->dtype_count; i++) {
        const uint64_t at = f->slot.index_offset + h->dtypes_offset + i * sizeof *d;
        if (!mm_heap_str_ok(f, d[i].str_offset, d[i].str_size))
            MM_FAIL(err, MMARR_E_CORRUPT, at, "%s: dtype record %llu: bad heap string", f->path,
                    (unsigned long long)i);
        mmarr_error e2;
        mmarr_err rc = mm_dtype_parse(f->heap + d[i].str_offset, d[i].str_size, true, &f->dtypes[i],
                                      &e2);
        if (rc == MMARR_E_NOMEM)
            MM_FAIL(err, rc, MMARR_NO_OFFSET, "%s: out of memory", f->path);
        if (rc != MMARR_OK)
            MM_FAIL(err, MMARR_E_CORRUPT, at, "%s: dtype record %llu at offset %llu: %s", f->path,
                    (unsigned long long)i, (unsigned long long)at, e2.message);
    }
    return MMARR_OK;
}

uint64_t mm_entry_nitems(const mmarr_file *f, const mmarr_disk_entry *e)
{
    uint64_t n = 1;
    for (unsigned d = 0; d < e->ndim; d++)
        n *= f->dims[e->dims_first + d];
    return n;
}

/* Check one metadata group (spec.md §7.4). */
static mmarr_err check_meta_group(const mmarr_file *f, uint32_t first, uint32_t count, uint64_t at,
                                  const char *owner, uint64_t *budget, mmarr_error *err)
{
    if (count == 0)
        return MMARR_OK;
    if ((uint64_t)first + count > f->meta_count || count > *budget)
        MM_FAIL(err, MMARR_E_CORRUPT, at,
                "%s: %s: metadata records [%u, +%u) out of range (or groups exceed the "
                "%llu records)",
                f->path, owner, first, count, (unsigned long long)f->meta_count);
    *budget -= count;
    for (uint32_t k = first + 1; k < first + count; k++) {
        const mmarr_disk_meta *a = &f->meta[k - 1], *b = &f->meta[k];
        if (mm_name_cmp(f->heap + a->key_offset, a->key_size, f->heap + b->key_offset,
                        b->key_size) >= 0)
            MM_FAIL(err, MMARR_E_CORRUPT, at,
                    "%s: %s: metadata keys not in strictly increasing order at record %u", f->path,
                    owner, k);
    }
    return MMARR_OK;
}

static mmarr_err check_meta(mmarr_file *f, mmarr_error *err)
{
    const uint64_t base = f->slot.index_offset + f->ih->meta_offset;
    for (uint64_t i = 0; i < f->meta_count; i++) {
        const mmarr_disk_meta *m = &f->meta[i];
        if (m->key_size == 0 || m->key_size > MMARR_MAX_NAME_BYTES ||
            !mm_heap_str_ok(f, m->key_offset, m->key_size) ||
            !mm_heap_str_ok(f, m->value_offset, m->value_size))
            MM_FAIL(err, MMARR_E_CORRUPT, base + i * sizeof *m,
                    "%s: metadata record %llu: bad key or value string", f->path,
                    (unsigned long long)i);
    }
    return MMARR_OK;
}

/* spec.md §10: a cold entry's descriptor and chunks. */
static mmarr_err check_cold(mmarr_file *f, const mmarr_disk_entry *e, uint64_t i, uint64_t nbytes,
                            unsigned char *cold_used, mm_vjob *j, mmarr_error *err)
{
    const mmarr_disk_index_header *h = f->ih;
    const uint64_t at = f->slot.index_offset + h->entries_offset + i * sizeof *e;
    if (!(f->slot.required_features & MMARR_FEAT_REQ_COLD_ZSTD))
        MM_FAIL(err, MMARR_E_CORRUPT, at, "%s: array \"%s\" is cold but COLD_ZSTD is not set",
                f->path, mm_vjob_entry_name(j, e));
    if (e->cold_id >= h->cold_count || (cold_used[e->cold_id / 8] & (1u << (e->cold_id % 8))))
        MM_FAIL(err, MMARR_E_CORRUPT, at,
                "%s: array \"%s\": cold descriptor %u out of range or shared", f->path,
                mm_vjob_entry_name(j, e), e->cold_id);
    cold_used[e->cold_id / 8] |= (unsigned char)(1u << (e->cold_id % 8));
    const mmarr_disk_cold *c = (const mmarr_disk_cold *)(f->index + h->cold_offset) + e->cold_id;
    if (c->codec != MMARR_CODEC_ZSTD || c->filter > MMARR_FILTER_SHUFFLE || c->chunk_size == 0 ||
        c->chunk_size > (1ull << 30))
        MM_FAIL(err, MMARR_E_CORRUPT, at,
                "%s: array \"%s\": cold descriptor %u has codec %u, filter %u, chunk size "
                "%llu",
                f->path, mm_vjob_entry_name(j, e), e->cold_id, c->codec, c->filter,
                (unsigned long long)c->chunk_size);
    uint64_t want = nbytes / c->chunk_size + (nbytes % c->chunk_size != 0);
    if (c->chunk_count != want || (uint64_t)c->chunk_first + c->chunk_count > h->chunk_count)
        MM_FAIL(err, MMARR_E_CORRUPT, at,
                "%s: array \"%s\": %u chunks at %u, expected %llu within %llu", f->path,
                mm_vjob_entry_name(j, e), c->chunk_count, c->chunk_first, (unsigned long long)want,
                (unsigned long long)h->chunk_count);
    const mmarr_disk_chunk *ch = (const mmarr_disk_chunk *)(f->index + h->chunks_offset) +
                                 c->chunk_first;
    /* the frames of a cold growable array may lie in extra extents (§7.8): with GROWABLE,
     * within the file here, in their extents once the growable section is read (growable.c) */
    const uint64_t fsize = f->slot.file_size;
    const uint64_t limit = !(f->slot.required_features & MMARR_FEAT_REQ_GROWABLE) ? e->data_size
                           : e->data_offset < fsize ? fsize - e->data_offset
                                                    : 0;
    uint64_t prev = 0;
    for (uint32_t k = 0; k < c->chunk_count; k++) {
        uint64_t end;
        if (ch[k].size == 0 || ch[k].offset < prev ||
            mm_add_overflow(ch[k].offset, ch[k].size, &end) || end > limit)
            MM_FAIL(err, MMARR_E_CORRUPT, e->data_offset + ch[k].offset,
                    "%s: array \"%s\": chunk %u [%llu, +%u) is empty, out of order, overlaps "
                    "the one before or lies outside the %llu bytes it may use",
                    f->path, mm_vjob_entry_name(j, e), k, (unsigned long long)ch[k].offset,
                    ch[k].size, (unsigned long long)limit);
        prev = end;
    }
    return MMARR_OK;
}

#define MM_PREFETCH_AHEAD 16

/* spec.md §7.2, §9.1: one pass over the entries in entry (= data) order. */
static mmarr_err check_entries(mmarr_file *f, mm_vjob *j, mmarr_error *err)
{
    const mmarr_disk_index_header *h = f->ih;
    const uint64_t ebase = f->slot.index_offset + h->entries_offset;
    const uint64_t ibeg = f->slot.index_offset, iend = ibeg + f->slot.index_size;
    const uint64_t fsize = f->slot.file_size;
    uint64_t cursor = MMARR_SUPERBLOCK_SIZE;
    unsigned char *cold_used = NULL;
    mmarr_err rc = MMARR_OK;
    if (h->cold_count) {
        cold_used = calloc((size_t)(h->cold_count / 8 + 1), 1);
        if (!cold_used)
            MM_FAIL(err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", f->path);
    }
    /* the last (dtype, dims run, ndim) whose byte size was computed: arrays of one shape and
     * dtype usually share a dims run (spec.md §7.2). A checked dtype_id is below
     * dtype_count <= 2^32 - 1, so MMARR_NONE32 matches no entry. */
    uint32_t memo_dtype = MMARR_NONE32, memo_dims = MMARR_NONE32;
    unsigned memo_ndim = 0;
    uint64_t memo_nbytes = 0;
    const uint64_t n = f->entry_count, ndtypes = f->dtype_count, ndims = f->dim_count;
    const uint32_t *order = f->order;
    for (uint64_t i = 0; i < n && rc == MMARR_OK; i++) {
        const mmarr_disk_entry *e = &f->entries[i];
        const uint64_t at = ebase + i * sizeof *e;
        /* order[rank] == i for every i makes the ranks distinct, so the order table is
         * exactly the inverse permutation (spec.md §7.6). The table is 4 bytes per array
         * so that these random reads stay in the L2 cache. */
        if (i + MM_PREFETCH_AHEAD < n) { /* the loads below are random */
            const uint32_t r = f->entries[i + MM_PREFETCH_AHEAD].name_rank;
            __builtin_prefetch(&order[r < n ? r : 0]);
        }
        if (e->name_rank >= n || order[e->name_rank] != i) {
            rc = mm_set_error(
                err, MMARR_E_CORRUPT, at + 24,
                "%s: entry %llu at offset %llu: name rank %u does not point back to it "
                "in the order table",
                f->path, (unsigned long long)i, (unsigned long long)at, e->name_rank);
            break;
        }
        if ((e->flags & ~MMARR_ENTRY_KNOWN) || e->storage > MMARR_STORAGE_ZSTD_CHUNKED ||
            e->ndim > MMARR_MAX_NDIM || e->dtype_id >= ndtypes ||
            (e->ndim && (uint64_t)e->dims_first + e->ndim > ndims)) {
            rc = mm_set_error(
                err, MMARR_E_CORRUPT, at,
                "%s: array \"%s\" (entry %llu at offset %llu): bad flags 0x%x, storage "
                "%u, ndim %u, dtype %u or dims %u",
                f->path, mm_vjob_entry_name(j, e), (unsigned long long)i, (unsigned long long)at,
                e->flags, e->storage, e->ndim, e->dtype_id, e->dims_first);
            break;
        }
        /* spec.md §6: itemsize x the non-zero dimensions < 2^63 (numpy's rule), whatever
         * their order, so that every stride fits an int64 even when a dimension is 0 */
        if (e->dtype_id != memo_dtype || e->dims_first != memo_dims || e->ndim != memo_ndim) {
            uint64_t span = f->dtypes[e->dtype_id]->itemsize;
            bool empty = false;
            for (unsigned d = 0; d < e->ndim; d++) {
                const uint64_t dim = f->dims[e->dims_first + d];
                empty |= dim == 0;
                if (dim && (mm_mul_overflow(span, dim, &span) || span > (uint64_t)INT64_MAX)) {
                    rc = mm_set_error(err, MMARR_E_CORRUPT, at,
                                      "%s: array \"%s\" (entry %llu): byte size overflows", f->path,
                                      mm_vjob_entry_name(j, e), (unsigned long long)i);
                    break;
                }
            }
            if (rc != MMARR_OK)
                break;
            memo_nbytes = empty ? 0 : span;
            memo_dtype = e->dtype_id, memo_dims = e->dims_first, memo_ndim = e->ndim;
        }
        const uint64_t nbytes = memo_nbytes;
        if (e->storage == MMARR_STORAGE_RAW) {
            if (e->data_size != nbytes || e->cold_id != MMARR_NONE32) {
                rc = mm_set_error(
                    err, MMARR_E_CORRUPT, at,
                    "%s: array \"%s\" (entry %llu): raw storage needs stored size = "
                    "%llu bytes (shape x dtype) and cold_id 0xffffffff, found %llu and "
                    "0x%x",
                    f->path, mm_vjob_entry_name(j, e), (unsigned long long)i,
                    (unsigned long long)nbytes, (unsigned long long)e->data_size, e->cold_id);
                break;
            }
        } else {
            rc = check_cold(f, e, i, nbytes, cold_used, j, err);
            if (rc != MMARR_OK)
                break;
        }
        const uint64_t a = (e->flags & MMARR_ENTRY_PACKED) ? MMARR_PACKED_ALIGNMENT : f->alignment;
        uint64_t end = 0, pend = 0;
        bool bad = (e->data_offset & (a - 1)) || e->data_offset < cursor ||
                   mm_add_overflow(e->data_offset, e->data_size, &end) || end > fsize;
        if (!bad) {
            pend = mm_align_up(end, a); /* end <= fsize <= file length < 2^63: no overflow */
            bad = pend > fsize || (e->data_size && e->data_offset < iend && pend > ibeg);
        }
        if (bad) {
            rc = mm_set_error(
                err, MMARR_E_CORRUPT, at,
                "%s: array \"%s\" (entry %llu): data range [%llu, +%llu) is misaligned "
                "(%llu), overlaps the previous array or the index, or exceeds the file",
                f->path, mm_vjob_entry_name(j, e), (unsigned long long)i,
                (unsigned long long)e->data_offset, (unsigned long long)e->data_size,
                (unsigned long long)a);
            break;
        }
        cursor = pend;
    }
    free(cold_used);
    return rc;
}

/* spec.md §7.4: the file's metadata group and the array groups, in entry order. Their counts
 * share one budget, meta_count, so the work is bounded by the size of the table. */
static mmarr_err check_groups(mmarr_file *f, mmarr_error *err)
{
    const uint64_t ibeg = f->slot.index_offset;
    const uint64_t at0 = ibeg + f->ih->ameta_offset;
    uint64_t budget = f->meta_count;
    MM_TRY(check_meta_group(f, f->ih->file_meta_first, f->ih->file_meta_count,
                            ibeg + offsetof(mmarr_disk_index_header, file_meta_first), "file",
                            &budget, err));
    for (uint64_t k = 0; k < f->ameta_count; k++) {
        const mmarr_disk_ameta *g = &f->ameta[k];
        const uint64_t at = at0 + k * sizeof *g;
        if (g->entry >= f->entry_count || (k && g->entry <= f->ameta[k - 1].entry) ||
            g->meta_count == 0)
            MM_FAIL(err, MMARR_E_CORRUPT, at,
                    "%s: array metadata record %llu at offset %llu: entry %u out of range "
                    "or order, or an empty group",
                    f->path, (unsigned long long)k, (unsigned long long)at, g->entry);
        MM_TRY(check_meta_group(f, g->meta_first, g->meta_count, at,
                                mm_entry_name(f, &f->entries[g->entry]), &budget, err));
    }
    return MMARR_OK;
}

/* The checks in their reporting order: sections, dtypes, metadata records, names, entries,
 * metadata groups, ragged records (see mm_vjob for how the work is shared between two
 * threads). */
static mmarr_err check_index(mmarr_file *f, mm_vjob *j, mmarr_error *err)
{
    f->ih = (const mmarr_disk_index_header *)f->index;
    mmarr_err rc = check_sections(f, err);
    if (rc != MMARR_OK) {
        j->sum = mm_xxh3(f->index, (size_t)f->slot.index_size); /* which takes precedence */
        return rc;
    }
    mm_vjob_start(j, f);
    rc = check_dtypes(f, err);
    if (rc == MMARR_OK)
        rc = check_meta(f, err);
    if (rc != MMARR_OK) {
        mm_vjob_join(j, true); /* these come before names: only the hash is still needed */
        return rc;
    }
    rc = check_entries(f, j, err);
    mm_vjob_join(j, false);
    if (j->names_rc != MMARR_OK) {
        if (err)
            *err = j->names_err; /* names come before entries */
        return j->names_rc;
    }
    if (rc == MMARR_OK)
        rc = check_groups(f, err);
    if (rc == MMARR_OK)
        rc = mm_ragged_load(f, err);
    return rc != MMARR_OK ? rc : mm_growable_load(f, err);
}

/* The generation of f->slot: its slot's ranges, then the whole index. */
static mmarr_err load_slot(mmarr_file *f, mmarr_error *err)
{
    MM_TRY(check_slot(f, err));
    mm_vjob j;
    mmarr_err rc = check_index(f, &j, err);
    const mmarr_disk_slot *s = &f->slot;
    if (j.sum != s->index_checksum)
        MM_FAIL(err, MMARR_E_CHECKSUM, s->index_offset,
                "%s: index checksum mismatch for [%llu, +%llu) (stored %016llx, computed "
                "%016llx)",
                f->path, (unsigned long long)s->index_offset, (unsigned long long)s->index_size,
                (unsigned long long)s->index_checksum, (unsigned long long)j.sum);
    return rc;
}

static bool same_generation(const mmarr_disk_slot *s, const mmarr_generation *g)
{
    return s->generation == g->generation && s->file_size == g->file_size &&
           s->index_offset == g->index_offset && s->index_size == g->index_size &&
           s->index_checksum == g->index_checksum && s->required_features == g->required_features &&
           s->optional_features == g->optional_features;
}

/* In-place writes (§11.2) change arrays of every generation listing them, and a rehash then
 * publishes their new checksums: an array of the recorded generation f holds that the newest
 * generation `now` lists at the same place and size with another checksum was rewritten in
 * place, and the recorded generation no longer describes the file. (Checked on the newest
 * index's entries as they are in the mapping; it was validated when first published, and is
 * read here only for offsets, sizes and checksums, each bounds-checked.) */
static mmarr_err same_arrays_as(mmarr_file *f, const mmarr_disk_slot *now, mmarr_error *err)
{
    uint64_t end;
    if (mm_add_overflow(now->index_offset, now->index_size, &end) || end > f->size ||
        now->index_size < sizeof(mmarr_disk_index_header) ||
        now->index_offset % MMARR_INDEX_ALIGNMENT)
        return MMARR_OK; /* not readable: nothing to compare (the newest opens on its own) */
    const mmarr_disk_index_header *h = (const mmarr_disk_index_header *)(f->base +
                                                                         now->index_offset);
    const uint64_t n = h->entry_count;
    if (h->entries_offset % 8 || h->entries_offset > now->index_size ||
        n > (now->index_size - h->entries_offset) / sizeof(mmarr_disk_entry))
        return MMARR_OK;
    const mmarr_disk_entry *ne = (const mmarr_disk_entry *)(f->base + now->index_offset +
                                                            h->entries_offset);
    uint64_t j = 0;
    for (uint64_t i = 0; i < f->entry_count; i++) { /* both in increasing data_offset order */
        const mmarr_disk_entry *e = &f->entries[i];
        while (j < n && ne[j].data_offset < e->data_offset)
            j++;
        if (j < n && ne[j].data_offset == e->data_offset && ne[j].data_size == e->data_size &&
            e->storage == MMARR_STORAGE_RAW && ne[j].storage == e->storage &&
            ne[j].checksum != e->checksum)
            MM_FAIL(err, MMARR_E_NOTFOUND, e->data_offset,
                    "%s: generation %llu as recorded no longer describes the file: an array at "
                    "offset %llu was rewritten in place since (generation %llu has another "
                    "checksum for it)",
                    f->path, (unsigned long long)f->slot.generation,
                    (unsigned long long)e->data_offset, (unsigned long long)now->generation);
    }
    return MMARR_OK;
}

/* mmarr_open_generation (spec.md §4.4 rule 8): the generation f->want, which a slot names or
 * which is older than the newest valid slot's, its index still in the file (or not: then
 * MMARR_E_NOTFOUND, with why). choose_slot has put the newest valid slot in f->slot. */
static mmarr_err load_recorded(mmarr_file *f, mmarr_error *err)
{
    const mmarr_generation *g = f->want;
    const uint64_t newest = f->slot.generation;
    /* an older generation, even one the inactive slot still names, is refused while in-place
     * writes may have changed its arrays: checksums stale, or rehashed since */
    if (g->generation < newest && (f->slot.state_flags & MMARR_STATE_CHECKSUMS_STALE))
        MM_FAIL(err, MMARR_E_NOTFOUND, MMARR_NO_OFFSET,
                "%s: generation %llu as recorded cannot be vouched for: the file is being "
                "rewritten in place (its checksums are stale since generation %llu)",
                f->path, (unsigned long long)g->generation, (unsigned long long)newest);
    if (g->generation < f->slot.rehash_generation)
        MM_FAIL(err, MMARR_E_NOTFOUND, MMARR_NO_OFFSET,
                "%s: generation %llu as recorded cannot be vouched for: the file was written in "
                "place and rehashed since (generation %llu), which may have changed its arrays",
                f->path, (unsigned long long)g->generation,
                (unsigned long long)f->slot.rehash_generation);
    for (unsigned i = 0; i < 2; i++) {
        const mmarr_disk_slot *s =
            (const mmarr_disk_slot *)(f->base + (i ? MMARR_SLOT_B_OFFSET : MMARR_SLOT_A_OFFSET));
        if (mm_slot_checksum(s) == s->checksum && same_generation(s, g)) {
            if (f->writable && g->generation != newest)
                break;
            f->other_slot_damaged = f->other_slot_damaged && i == f->active_slot;
            f->active_slot = i;
            memcpy(&f->slot, s, sizeof f->slot);
            return load_slot(f, err);
        }
    }
    if (f->writable && g->generation < newest)
        MM_FAIL(err, MMARR_E_INVAL, MMARR_NO_OFFSET,
                "%s: generation %llu is not the newest (%llu): it opens read-only or "
                "copy-on-write, since in-place writes are published in the newest slot",
                f->path, (unsigned long long)g->generation, (unsigned long long)newest);
    if (g->generation >= newest)
        MM_FAIL(err, MMARR_E_NOTFOUND, MMARR_NO_OFFSET,
                "%s: no generation %llu as recorded (index at %llu, %llu bytes): the file's "
                "newest is %llu, so it is another file or was rewritten since",
                f->path, (unsigned long long)g->generation, (unsigned long long)g->index_offset,
                (unsigned long long)g->index_size, (unsigned long long)newest);
    /* the newest generation's entries, to compare with the recorded one's (below; what a
     * writer that does not record rehashes leaves to check) */
    const mmarr_disk_slot now = f->slot;
    memset(&f->slot, 0, sizeof f->slot);
    f->slot.generation = g->generation;
    f->slot.file_size = g->file_size;
    f->slot.index_offset = g->index_offset;
    f->slot.index_size = g->index_size;
    f->slot.index_checksum = g->index_checksum;
    f->slot.required_features = g->required_features;
    f->slot.optional_features = g->optional_features;
    mmarr_err rc = load_slot(f, err);
    if (rc == MMARR_OK)
        rc = same_arrays_as(f, &now, err);
    if (rc == MMARR_E_CORRUPT || rc == MMARR_E_CHECKSUM || rc == MMARR_E_TRUNCATED) {
        mm_index_unload(f);
        const mmarr_error why = *err;
        const size_t n = strlen(f->path);
        const char *what = why.message; /* without its "path: " */
        if (!strncmp(what, f->path, n) && what[n] == ':' && what[n + 1] == ' ')
            what += n + 2;
        MM_FAIL(err, MMARR_E_NOTFOUND, why.offset,
                "%s: generation %llu as recorded is no longer in the file (compacted or "
                "replaced since; the newest is %llu): %s",
                f->path, (unsigned long long)g->generation, (unsigned long long)newest, what);
    }
    return rc;
}

/* spec.md §4.4: the newest generation whose index is damaged or cut short (a crash or damage
 * after its slot was written) gives way to the previous one, which is reported by verify.
 * Anything else (a required feature this library lacks, a limit) stands. */
mmarr_err mm_index_load(mmarr_file *f, mmarr_error *err)
{
    MM_TRY(check_prologue(f, err));
    int fallback = -1;
    MM_TRY(choose_slot(f, &fallback, err));
    f->damaged_generation = 0;
    if (f->want)
        return load_recorded(f, err);
    mmarr_err rc = load_slot(f, err);
    if (rc == MMARR_OK || fallback < 0 ||
        (rc != MMARR_E_CORRUPT && rc != MMARR_E_CHECKSUM && rc != MMARR_E_TRUNCATED))
        return rc;
    mm_index_unload(f);
    const uint64_t newest = f->slot.generation;
    const mmarr_error why = *err;
    f->active_slot = (unsigned)fallback;
    memcpy(&f->slot, f->base + (fallback ? MMARR_SLOT_B_OFFSET : MMARR_SLOT_A_OFFSET),
           sizeof f->slot);
    if (load_slot(f, err) != MMARR_OK) {
        mm_index_unload(f);
        *err = why; /* the newest generation's fault is the one to tell */
        return why.code;
    }
    f->damaged_generation = newest;
    f->damaged_why = why;
    f->other_slot_damaged = false; /* valid slot; its generation is reported instead */
    return MMARR_OK;
}

void mm_index_unload(mmarr_file *f)
{
    mm_ragged_unload(f);
    mm_growable_unload(f);
    if (f->dtypes) {
        for (uint64_t i = 0; i < f->dtype_count; i++)
            mmarr_dtype_free(f->dtypes[i]);
        free(f->dtypes);
    }
    f->dtypes = NULL;
    f->dtype_count = 0;
}
