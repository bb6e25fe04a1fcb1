/* SPDX-License-Identifier: MIT */
/*
 * mm_index.h — what the two files of index validation share: index_read.c (the superblock,
 * sections, dtypes, metadata, entries, in one pass; the trust boundary) and index_names.c
 * (the names table and the index hash, on a second thread for large indexes).
 */
#ifndef MM_INDEX_H
#define MM_INDEX_H

#include "mm_internal.h"

/* spec.md §7.5. Names are nearly always short ASCII: check 8 bytes at a time first. */
static inline bool mm_heap_str_ok(const mmarr_file *f, uint32_t off, uint32_t size)
{
    uint64_t end = (uint64_t)off + size;
    if (end >= f->ih->heap_size || f->heap[end] != '\0')
        return false;
    const unsigned char *p = (const unsigned char *)f->heap + off;
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t acc = 0, zero = 0, w;
    if (size >= 8) {
        /* whole words, then the last 8 bytes again (overlapping), never past the name */
        for (uint32_t i = 0; i + 8 <= size; i += 8) {
            memcpy(&w, p + i, 8);
            acc |= w;
            zero |= (w - ones) & ~w & highs;
        }
        memcpy(&w, p + size - 8, 8);
    } else if (end + 8 <= f->ih->heap_size) {
        /* one word from inside the heap; bytes past the name count as 0x01 */
        const uint64_t mask = size ? ~0ull >> (64 - 8 * size) : 0;
        memcpy(&w, p, 8);
        w = (w & mask) | (ones & ~mask);
    } else {
        w = ones;
        for (uint32_t i = 0; i < size; i++)
            w ^= (uint64_t)(p[i] ^ 1u) << (8 * i);
    }
    acc |= w;
    zero |= (w - ones) & ~w & highs;
    if (!((acc | zero) & highs))
        return true; /* ASCII without NUL */
    return mm_utf8_valid(p, size);
}

/* The names-and-hash job of one validation (spec.md §7.5, §7.6, §11.1). */
typedef struct mm_vnames {
    uint64_t block; /* the lowest failing block this thread checked, if rc != MMARR_OK */
    mmarr_err rc;
    mmarr_error err;
} mm_vnames;

typedef struct mm_vjob {
    mmarr_file *f;
    uint64_t sum;              /* XXH3 of the index */
    uint64_t blocks;           /* of the names table */
    atomic_uint_fast64_t next; /* the next block to claim */
    atomic_bool stop;          /* a failure was found: claim no more */
    mm_vnames part[2];         /* [0] this thread's names result, [1] the second thread's */
    mmarr_err names_rc;        /* after vjob_join: the names result, with names_err */
    mmarr_error names_err;
    pthread_t thread;
    bool threaded, joined;
} mm_vjob;

/* Start the job: a second thread hashes the index and then checks names in blocks, or, for
 * a small index, one CPU, or when no thread can be started, all of it is done now. */
void mm_vjob_start(mm_vjob *j, mmarr_file *f);
/* Check the remaining names on this thread (skip: only wait, an earlier check failed), join,
 * and settle the result: names_rc/names_err (the first failure in table order) and sum. */
void mm_vjob_join(mm_vjob *j, bool skip);
/* An entry's name for an error message, once the whole names table is known to be valid
 * (finishing the job first); "?" when it is not (that error then wins). */
const char *mm_vjob_entry_name(mm_vjob *j, const mmarr_disk_entry *e);

#endif /* MM_INDEX_H */
