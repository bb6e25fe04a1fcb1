/* SPDX-License-Identifier: MIT */
/*
 * index_names.c — the names table (spec.md §7.5, §7.6) and the index hash (§11.1) of index
 * validation, shared between this thread and a second one for large indexes.
 */
#include "mm_index.h"

#include <pthread.h>
#include <stdatomic.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#ifndef MMARR_FUZZ_SMALL_SPLITS
#define MM_NAMES_BLOCK 2048u
#define MM_SPLIT_MIN (1u << 20) /* indexes from this size are checked on two threads */
#else /* libFuzzer builds: small inputs take the two-thread and many-block paths too */
#define MM_NAMES_BLOCK 4u
#define MM_SPLIT_MIN 512u
#endif

#if defined(__SSE2__)
/* A name of 1..32 bytes as two 16-byte vectors (bytes past the name are whatever follows in
 * the heap; masks below ignore them), with masks of its high bits and zero bytes. */
typedef struct mm_vname {
    __m128i lo, hi;
} mm_vname;

static inline mm_vname vname_load(const unsigned char *p)
{
    mm_vname v = {_mm_loadu_si128((const __m128i *)p), _mm_loadu_si128((const __m128i *)(p + 16))};
    return v;
}

/* Bit i set where byte i of the two vectors differ. */
static inline uint32_t vname_diff(mm_vname a, mm_vname b)
{
    const uint32_t lo = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(a.lo, b.lo));
    const uint32_t hi = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(a.hi, b.hi));
    return ~(lo | hi << 16);
}
#endif

/* Name record k names 1..65535 bytes of UTF-8 without NUL, NUL-terminated in the heap. */
static bool name_ok(const mmarr_file *f, uint64_t k)
{
    const uint32_t size = f->names[k].name_size;
    return size && size <= MMARR_MAX_NAME_BYTES && mm_heap_str_ok(f, f->names[k].name_offset, size);
}

/* One name the fast path below did not take: valid, and greater than the one before. */
static __attribute__((noinline)) mmarr_err check_name_slow(mmarr_file *f, uint64_t k,
                                                           const char *prev, uint32_t prev_size,
                                                           mmarr_error *err)
{
    const uint64_t at = f->slot.index_offset + f->ih->names_offset + k * sizeof(mmarr_disk_name);
    const uint32_t off = f->names[k].name_offset, size = f->names[k].name_size;
    if (!name_ok(f, k))
        MM_FAIL(err, MMARR_E_CORRUPT, at,
                "%s: name record %llu at offset %llu: not a valid UTF-8 heap string of "
                "1..65535 bytes",
                f->path, (unsigned long long)k, (unsigned long long)at);
    if (prev && mm_name_cmp(prev, prev_size, f->heap + off, size) >= 0)
        MM_FAIL(err, MMARR_E_CORRUPT, at,
                "%s: array names not unique or not sorted: \"%s\" then \"%s\"", f->path, prev,
                f->heap + off);
    return MMARR_OK;
}

/* spec.md §7.6: the names table, sequentially (writers put the names in the heap in the same
 * order, so this streams through both), and the order table's range. That order is a
 * permutation consistent with the entries' ranks is proved by the entry pass. Checks the part
 * [from, to) of the table; the first fault in table order is reported.
 *
 * Names of up to 32 bytes with 33 heap bytes from their start are checked with SSE2: one pair
 * of loads per name gives its high bits and zero bytes (ASCII without NUL, terminated), and
 * the comparison with the name before reuses that name's vectors. Anything else (longer
 * names, non-ASCII, the last names of the heap, any fault) takes check_name_slow, which
 * decides. */
static mmarr_err check_names(mmarr_file *f, uint64_t from, uint64_t to, mmarr_error *err)
{
    const uint64_t n = f->entry_count;
    const mmarr_disk_name *names = f->names;
    const char *prev = NULL;
    uint32_t prev_size = 0;
    if (from > 0) { /* the last name of the part before, checked here too to compare with */
        if (!name_ok(f, from - 1))
            from--; /* report it below, as the check of that part would */
        else
            prev = f->heap + names[from - 1].name_offset, prev_size = names[from - 1].name_size;
    }
    /* the order table's range first, in one vectorisable loop: names are checked up to its
     * first fault (n < 2^32 by check_sections) */
    uint64_t stop = to;
    {
        uint32_t bad = 0;
        for (uint64_t k = from; k < to; k++)
            bad |= f->order[k] >= (uint32_t)n;
        if (bad)
            for (stop = from; f->order[stop] < n; stop++)
                ;
    }
#if defined(__SSE2__)
    const unsigned char *heap = (const unsigned char *)f->heap;
    const uint64_t heap_size = f->ih->heap_size;
    const __m128i zero = _mm_setzero_si128();
    mm_vname pv = {zero, zero};
    bool pv_ok = false; /* pv holds prev */
#endif
    for (uint64_t k = from; k < stop; k++) {
        const uint32_t off = names[k].name_offset, size = names[k].name_size;
#if defined(__SSE2__)
        if (__builtin_expect(size - 1u < 32u && (uint64_t)off + 33 <= heap_size, 1)) {
            const mm_vname v = vname_load(heap + off);
            const uint32_t high = (uint32_t)_mm_movemask_epi8(v.lo) |
                                  (uint32_t)_mm_movemask_epi8(v.hi) << 16;
            const uint32_t nul = ~vname_diff(v, (mm_vname){zero, zero});
            const uint32_t mask = size == 32 ? ~0u : (1u << size) - 1;
            const bool term = size == 32 ? heap[off + 32] == 0 : (nul >> size) & 1;
            const bool ascii_ok = !((high | nul) & mask) && term; /* no NUL, terminated */
            if (__builtin_expect(ascii_ok && pv_ok, 1)) {
                const uint32_t m = size < prev_size ? size : prev_size;
                const uint32_t d = vname_diff(pv, v) & (m == 32 ? ~0u : (1u << m) - 1);
                const bool less = d ? (unsigned char)prev[__builtin_ctz(d)] <
                                          heap[off + (unsigned)__builtin_ctz(d)]
                                    : prev_size < size;
                if (__builtin_expect(less, 1)) {
                    pv = v;
                    prev = (const char *)heap + off, prev_size = size;
                    continue;
                }
            }
            pv = v, pv_ok = ascii_ok; /* the check below decides; then v holds prev */
        } else {
            pv_ok = false;
        }
#endif
        mmarr_err rc = check_name_slow(f, k, prev, prev_size, err);
        if (rc != MMARR_OK)
            return rc;
        prev = f->heap + off, prev_size = size;
    }
    if (stop < to)
        MM_FAIL(err, MMARR_E_CORRUPT, f->slot.index_offset + f->ih->order_offset + 4 * stop,
                "%s: order table position %llu: entry number %u is out of range", f->path,
                (unsigned long long)stop, f->order[stop]);
    return MMARR_OK;
}

/*
 * A large index is validated on two threads (spec.md §11.1 is unaffected): a second thread
 * computes the index XXH3 while this thread checks the dtypes, metadata records and entries;
 * then both check the names table, in blocks of MM_NAMES_BLOCK names that each claims in
 * turn, so the work ends at the same time for both whichever had more to do before (the
 * hash is fast from memory, slower where the kernel maps 4 KiB pages as it goes). That is
 * safe because validation never trusts the bytes it reads, and the error reported is the one
 * a sequential validation would report: a checksum mismatch first, then the first failing
 * check in the order of check_index. Blocks are claimed in increasing order and a claimed
 * block is checked to its first fault, so when both threads stop, every block below the
 * lowest failing one has been checked whole; that failure is the first in table order. Entry
 * messages print names, which are only safe to read once the whole names table is checked,
 * so an entry error first finishes the names (mm_vjob_entry_name).
 */
/* Check blocks of names until none is left or a failure is known; the first failure of
 * this thread (its lowest, as claims increase) goes to *r. */
static void vjob_names(mm_vjob *j, mm_vnames *r)
{
    const uint64_t n = j->f->entry_count;
    while (!atomic_load_explicit(&j->stop, memory_order_relaxed)) {
        const uint64_t b = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (b >= j->blocks)
            return;
        const uint64_t from = b * MM_NAMES_BLOCK;
        const uint64_t to = n - from > MM_NAMES_BLOCK ? from + MM_NAMES_BLOCK : n;
        const mmarr_err rc = check_names(j->f, from, to, &r->err);
        if (rc != MMARR_OK) {
            r->rc = rc;
            r->block = b;
            atomic_store_explicit(&j->stop, true, memory_order_relaxed);
            return;
        }
    }
}

static void *vjob_main(void *arg)
{
    mm_vjob *j = arg;
    j->sum = mm_xxh3(j->f->index, (size_t)j->f->slot.index_size);
    vjob_names(j, &j->part[1]);
    return NULL;
}

/* Start the second thread: the hash, then names. Without a thread (a small index, one CPU,
 * or pthread_create failing) the hash and all the names are checked here, now. */
void mm_vjob_start(mm_vjob *j, mmarr_file *f)
{
    j->f = f;
    j->blocks = (f->entry_count + MM_NAMES_BLOCK - 1) / MM_NAMES_BLOCK;
    atomic_init(&j->next, 0);
    atomic_init(&j->stop, false);
    j->part[0].rc = j->part[1].rc = MMARR_OK;
    j->names_rc = MMARR_OK;
    j->joined = false;
    j->threaded = f->slot.index_size >= MM_SPLIT_MIN && mm_online_cpus() > 1 &&
                  mm_thread_start(&j->thread, vjob_main, j) == 0;
    if (!j->threaded)
        vjob_main(j);
}

/* Finish the names here (with skip: only wait, as an earlier check failed), join the second
 * thread, and settle the names result: the failure in the lowest block. */
void mm_vjob_join(mm_vjob *j, bool skip)
{
    if (j->joined)
        return;
    if (skip)
        atomic_store_explicit(&j->stop, true, memory_order_relaxed);
    else
        vjob_names(j, &j->part[0]);
    if (j->threaded)
        pthread_join(j->thread, NULL);
    j->joined = true;
    const mm_vnames *a = &j->part[0], *b = &j->part[1];
    const mm_vnames *first = a->rc == MMARR_OK                            ? b
                             : (b->rc == MMARR_OK || a->block < b->block) ? a
                                                                          : b;
    if (first->rc != MMARR_OK) {
        j->names_rc = first->rc;
        j->names_err = first->err;
    }
}

/* An entry's name for an error message, once the whole names table is known to be valid
 * (its rank was checked by the caller); "?" when it is not (that error then wins). */
const char *mm_vjob_entry_name(mm_vjob *j, const mmarr_disk_entry *e)
{
    mm_vjob_join(j, false);
    return j->names_rc == MMARR_OK ? mm_entry_name(j->f, e) : "?";
}
