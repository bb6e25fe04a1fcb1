/* SPDX-License-Identifier: MIT */
/*
 * index_write.c — the encoders, the inverse of index_read.c: the index (spec.md §7) from a
 * writer's tables, and the superblock (§4: prologue and slot A of a new file). They allocate
 * and compute nothing else: where the bytes go is the caller's (writer.c, update.c).
 */
#include "mm_internal.h"

#include <stdlib.h>

static int cmp_meta(const void *a, const void *b)
{
    const mm_index_meta *x = a, *y = b;
    if (x->owner != y->owner)
        return x->owner < y->owner ? -1 : 1;
    int c = mm_name_cmp(x->key, strlen(x->key), y->key, strlen(y->key));
    if (c)
        return c;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static int cmp_sorted(const void *a, const void *b, void *ctx)
{
    const mm_index_parts *p = ctx;
    const mm_strref *x = &p->names[*(const uint32_t *)a], *y = &p->names[*(const uint32_t *)b];
    return mm_name_cmp(p->heap + x->off, x->len, p->heap + y->off, y->len);
}

static int cmp_ragged(const void *a, const void *b)
{
    const uint32_t x = ((const mmarr_disk_ragged *)a)->values;
    const uint32_t y = ((const mmarr_disk_ragged *)b)->values;
    return (x > y) - (x < y);
}

/* The entries of w in name order, into order[]. Entries [0, ranked) are placed by their
 * name_rank (distinct, in name order among themselves: an appender imported them from a
 * validated index, spec.md §7.6), in O(n); the others, the arrays an append adds, are sorted
 * by name and merged in. So an append to a file of 100,000 arrays sorts only what it adds
 * (without memory for that, or with ranks no import leaves, everything is sorted). */
static void name_order(mm_index_parts *w, uint32_t *order)
{
    const size_t n = w->entry_count, m = w->ranked <= n ? w->ranked : n;
    uint32_t top = 0;
    for (size_t i = 0; i < m; i++)
        top = w->entries[i].name_rank > top ? w->entries[i].name_rank : top;
    uint32_t *byrank = m ? malloc(((size_t)top + 1) * sizeof *byrank) : NULL;
    uint32_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
    bool ok = tmp && (!m || byrank);
    if (ok && m) {
        memset(byrank, 0xFF, ((size_t)top + 1) * sizeof *byrank);
        for (size_t i = 0; i < m && ok; i++) {
            ok = byrank[w->entries[i].name_rank] == UINT32_MAX;
            byrank[w->entries[i].name_rank] = (uint32_t)i;
        }
    }
    size_t a = 0;
    if (ok && m) /* the ranked entries, in their order: tmp[0, m) */
        for (size_t r = 0; r <= top; r++)
            if (byrank[r] != UINT32_MAX)
                tmp[a++] = byrank[r];
    if (!ok || a != m) { /* ranks not what an import leaves (or no memory): sort them all */
        for (size_t i = 0; i < n; i++)
            order[i] = (uint32_t)i;
        if (n)
            qsort_r(order, n, sizeof *order, cmp_sorted, w);
        free(byrank);
        free(tmp);
        return;
    }
    for (size_t i = m; i < n; i++) /* the others: tmp[m, n), sorted */
        tmp[i] = (uint32_t)i;
    if (n > m)
        qsort_r(tmp + m, n - m, sizeof *tmp, cmp_sorted, w);
    for (size_t k = 0, i = 0, j = m; k < n; k++) /* merged */
        order[k] = j >= n || (i < m && cmp_sorted(&tmp[i], &tmp[j], w) < 0) ? tmp[i++] : tmp[j++];
    free(byrank);
    free(tmp);
}

bool mm_index_encode(mm_index_parts *w, unsigned char **out, size_t *out_size)
{
    uint32_t fmeta_first_v = 0, fmeta_count_v = 0;
    uint32_t *fmeta_first = &fmeta_first_v, *fmeta_count = &fmeta_count_v;
    mm_sbuf oh = {0}; /* the index's own string heap: names first, in name order, so a reader
                        * validating the names table streams through it (spec.md §7.5, §7.6);
                        * then dtype strings and metadata */
    mmarr_disk_meta *recs = NULL;
    mmarr_disk_ameta *groups = NULL;
    size_t ngroups = 0;
    mmarr_disk_name *names = NULL;
    mmarr_disk_dtype *dts = NULL;
    uint32_t *order = NULL;
    unsigned char *buf = NULL;
    size_t nrec = 0;

    /* names, in name order */
    order = malloc((w->entry_count ? w->entry_count : 1) * sizeof *order);
    names = malloc((w->entry_count ? w->entry_count : 1) * sizeof *names);
    dts = malloc((w->dtype_count ? w->dtype_count : 1) * sizeof *dts);
    recs = malloc((w->meta_count ? w->meta_count : 1) * sizeof *recs);
    groups = malloc((w->meta_count ? w->meta_count : 1) * sizeof *groups);
    if (!order || !names || !dts || !recs || !groups)
        goto done;
    name_order(w, order);
    for (size_t k = 0; k < w->entry_count; k++) {
        const mm_strref *nm = &w->names[order[k]];
        uint32_t off = mm_heap_put(&oh, w->heap + nm->off, nm->len);
        if (off == UINT32_MAX)
            goto done;
        names[k] = (mmarr_disk_name){off, nm->len};
        w->entries[order[k]].name_rank = (uint32_t)k;
    }
    for (size_t i = 0; i < w->dtype_count; i++) {
        uint32_t off = mm_heap_put(&oh, w->heap + w->dtypes[i].str_offset, w->dtypes[i].str_size);
        if (off == UINT32_MAX)
            goto done;
        dts[i] = (mmarr_disk_dtype){off, w->dtypes[i].str_size};
    }

    /* metadata: sort by (owner, key, seq); keep the last value of each key */
    if (w->meta_count)
        qsort(w->meta, w->meta_count, sizeof *w->meta, cmp_meta);
    for (size_t i = 0; i < w->meta_count; i++) {
        const mm_index_meta *m = &w->meta[i];
        if (i + 1 < w->meta_count && m[1].owner == m->owner && !strcmp(m[1].key, m->key))
            continue; /* a later set of the same key wins */
        uint32_t ko = mm_heap_put(&oh, m->key, strlen(m->key));
        uint32_t vo = mm_heap_put(&oh, m->value, strlen(m->value));
        if (ko == UINT32_MAX || vo == UINT32_MAX)
            goto done;
        if (m->owner == SIZE_MAX) {
            if (!*fmeta_count)
                *fmeta_first = (uint32_t)nrec;
            (*fmeta_count)++;
        } else { /* sorted by owner: one group per array, in entry order */
            if (!ngroups || groups[ngroups - 1].entry != m->owner)
                groups[ngroups++] = (mmarr_disk_ameta){(uint32_t)m->owner, (uint32_t)nrec, 0};
            groups[ngroups - 1].meta_count++;
        }
        recs[nrec++] = (mmarr_disk_meta){ko, (uint32_t)strlen(m->key), vo,
                                         (uint32_t)strlen(m->value)};
    }

    mmarr_disk_index_header h = {0};
    memcpy(h.magic, MMARR_INDEX_MAGIC, 8);
    uint64_t off = sizeof h;
#define SECTION(field, bytes)                                                                      \
    do {                                                                                           \
        off = mm_align_up(off, MMARR_SECTION_ALIGNMENT);                                           \
        h.field = off;                                                                             \
        off += (bytes);                                                                            \
    } while (0)
    h.entry_count = w->entry_count;
    SECTION(entries_offset, w->entry_count * sizeof(mmarr_disk_entry));
    SECTION(order_offset, w->entry_count * 4);
    SECTION(names_offset, w->entry_count * sizeof(mmarr_disk_name));
    h.dtype_count = w->dtype_count;
    SECTION(dtypes_offset, w->dtype_count * sizeof(mmarr_disk_dtype));
    h.dim_count = w->dim_count;
    SECTION(dims_offset, w->dim_count * 8);
    h.meta_count = nrec;
    SECTION(meta_offset, nrec * sizeof(mmarr_disk_meta));
    h.ameta_count = ngroups;
    SECTION(ameta_offset, ngroups * sizeof(mmarr_disk_ameta));
    h.cold_count = w->cold_count;
    SECTION(cold_offset, w->cold_count * sizeof(mmarr_disk_cold));
    h.chunk_count = w->chunk_count;
    SECTION(chunks_offset, w->chunk_count * sizeof(mmarr_disk_chunk));
    h.heap_size = oh.len;
    SECTION(heap_offset, oh.len);
    if (w->ragged_count) { /* 1.1 (spec.md §7.7): absent, all zero, otherwise */
        h.ragged_count = w->ragged_count;
        SECTION(ragged_offset, w->ragged_count * sizeof(mmarr_disk_ragged));
        qsort(w->ragged, w->ragged_count, sizeof *w->ragged, cmp_ragged);
    }
    uint64_t block_total = 0;
    for (size_t k = 0; k < w->growable_count; k++)
        block_total += w->growable[k].nblocks;
    if (w->growable_count) { /* 1.2 (spec.md §7.8): records, then their block checksums */
        h.growable_count = (uint32_t)w->growable_count;
        h.block_total = (uint32_t)block_total;
        SECTION(growable_offset, w->growable_count * sizeof(mmarr_disk_growable) + block_total * 8);
    }
#undef SECTION
    h.file_meta_first = *fmeta_first;
    h.file_meta_count = *fmeta_count;
    const size_t size = (size_t)mm_align_up(off, MMARR_SECTION_ALIGNMENT);
    if (w->dim_count > UINT32_MAX || nrec > UINT32_MAX || block_total > UINT32_MAX ||
        w->growable_count > UINT32_MAX || !(buf = calloc(1, size)))
        goto done;
    memcpy(buf, &h, sizeof h);
    if (w->entry_count) {
        memcpy(buf + h.entries_offset, w->entries, w->entry_count * sizeof(mmarr_disk_entry));
        memcpy(buf + h.order_offset, order, w->entry_count * 4);
        memcpy(buf + h.names_offset, names, w->entry_count * sizeof(mmarr_disk_name));
    }
    if (w->dtype_count)
        memcpy(buf + h.dtypes_offset, dts, w->dtype_count * sizeof(mmarr_disk_dtype));
    if (w->dim_count)
        memcpy(buf + h.dims_offset, w->dims, w->dim_count * 8);
    if (nrec)
        memcpy(buf + h.meta_offset, recs, nrec * sizeof *recs);
    if (ngroups)
        memcpy(buf + h.ameta_offset, groups, ngroups * sizeof *groups);
    if (w->cold_count)
        memcpy(buf + h.cold_offset, w->colds, w->cold_count * sizeof(mmarr_disk_cold));
    if (w->chunk_count)
        memcpy(buf + h.chunks_offset, w->chunks, w->chunk_count * sizeof(mmarr_disk_chunk));
    if (oh.len)
        memcpy(buf + h.heap_offset, oh.p, oh.len);
    if (w->ragged_count)
        memcpy(buf + h.ragged_offset, w->ragged, w->ragged_count * sizeof(mmarr_disk_ragged));
    uint32_t first = 0;
    for (size_t k = 0; k < w->growable_count; k++) {
        const mm_wgrow *g = &w->growable[k];
        const mmarr_disk_growable rec = {(uint32_t)g->entry, g->nblocks, g->capacity,
                                         g->shift,           first,      0};
        memcpy(buf + h.growable_offset + k * sizeof rec, &rec, sizeof rec);
        if (g->nblocks) /* an array with no rows yet has no blocks (and maybe no table) */
            memcpy(buf + h.growable_offset + w->growable_count * sizeof rec + first * 8ull,
                   g->blocks, g->nblocks * 8ull);
        first += g->nblocks;
    }
    *out = buf;
    *out_size = size;
done: /* buf is NULL after a failure (out of memory, past the u32 limits) */
    mm_sb_free(&oh);
    free(recs);
    free(groups);
    free(names);
    free(dts);
    free(order);
    return buf != NULL;
}

void mm_superblock_encode(unsigned char sb[MMARR_SUPERBLOCK_SIZE], uint32_t alignment,
                          unsigned minor, const mmarr_disk_slot *slot)
{
    memset(sb, 0, MMARR_SUPERBLOCK_SIZE);
    mmarr_disk_prologue *pr = (mmarr_disk_prologue *)sb;
    memcpy(pr->magic, MMARR_MAGIC, MMARR_MAGIC_SIZE);
    pr->format_major = MMARR_FORMAT_MAJOR;
    pr->format_minor = (uint16_t)minor;
    pr->alignment = alignment;
    pr->checksum = mm_prologue_checksum(pr);
    mmarr_disk_slot *s = (mmarr_disk_slot *)(sb + MMARR_SLOT_A_OFFSET);
    *s = *slot;
    s->checksum = mm_slot_checksum(s);
}
