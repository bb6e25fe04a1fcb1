/* SPDX-License-Identifier: MIT */
/* mm_internal.h — private structures and helpers shared by the libmmarr sources. */
#ifndef MM_INTERNAL_H
#define MM_INTERNAL_H

#include "mm_common.h"
#include "mmarr.h"
#include "mmarr_format.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "libmmarr reads the index in place and needs a little-endian host"
#endif

/* ---- errors (error.c) ----
 *
 * One idiom. An internal function that can fail takes an mmarr_error *e (never NULL) and
 * returns mmarr_err; it fails with MM_FAIL / MM_FAIL_SYS (which fill *e and return the code)
 * and passes failures up with MM_TRY. A public function whose mmarr_error *err is optional
 * gets a non-NULL one with MM_ERR_OUT. A public call on a file handle works on a local
 * mmarr_error and ends with mm_file_done(), so that the handle keeps its last error; a writer
 * keeps its own in w->err. */

/* Fill *e (if not NULL) and return code. printf-style message. */
mmarr_err mm_set_error(mmarr_error *e, mmarr_err code, uint64_t offset, const char *fmt, ...)
    MM_PRINTF(4, 5);
/* As mm_set_error, with errno recorded and strerror appended. */
mmarr_err mm_set_syserr(mmarr_error *e, mmarr_err code, int sys_errno, const char *fmt, ...)
    MM_PRINTF(4, 5);

#define MM_FAIL(e, code, offset, ...) return mm_set_error((e), (code), (offset), __VA_ARGS__)
#define MM_FAIL_SYS(e, code, sys_errno, ...)                                                       \
    return mm_set_syserr((e), (code), (sys_errno), __VA_ARGS__)
#define MM_TRY(expr)                                                                               \
    do {                                                                                           \
        mmarr_err mm_rc_ = (expr);                                                                 \
        if (mm_rc_ != MMARR_OK)                                                                    \
            return mm_rc_;                                                                         \
    } while (0)
/* Declare `e`: the caller's err, or a local sink when err is NULL. */
#define MM_ERR_OUT(e, err)                                                                         \
    mmarr_error e##_sink_;                                                                         \
    mmarr_error *const e = (err) ? (err) : &e##_sink_

/* ---- arithmetic ---- */

static inline bool mm_add_overflow(uint64_t a, uint64_t b, uint64_t *r)
{
    return __builtin_add_overflow(a, b, r);
}
static inline bool mm_mul_overflow(uint64_t a, uint64_t b, uint64_t *r)
{
    return __builtin_mul_overflow(a, b, r);
}
/* a must be a power of two; caller guarantees no overflow (x <= UINT64_MAX - a). */
static inline uint64_t mm_align_up(uint64_t x, uint64_t a) { return (x + a - 1) & ~(a - 1); }
static inline bool mm_is_pow2(uint64_t x) { return x && !(x & (x - 1)); }
/* Offset of the first non-zero byte in [p, p+n), or n when all are zero. Checks with memcmp
 * (the byte before against the range shifted by one), so padding up to 2 MiB costs a memcmp,
 * not a byte loop; only a failure walks bytes. */
static inline size_t mm_first_nonzero(const void *p, size_t n)
{
    const unsigned char *b = p;
    if (!n || (!b[0] && !memcmp(b, b + 1, n - 1)))
        return n;
    size_t i = 0;
    while (i < n && !b[i]) /* bounded: the bytes may change under a shared mapping */
        i++;
    return i;
}

/* ---- checksums (checksum.c) ---- */
uint64_t mm_xxh3(const void *p, size_t n);
/* XXH3-64 of file bytes [off, off + len) of an open handle: from the mapping for small ranges
 * and buffers, else mm_xxh3_fd. checksum.c. */
mmarr_err mm_file_hash(mmarr_file *f, uint64_t off, uint64_t len, uint64_t *out, mmarr_error *e);
/* Array `index` exists and [offset, offset + n) lies inside its raw bytes (buf non-NULL if
 * n > 0); fn names the public call in the message. reader.c. */
mmarr_err mm_check_range(mmarr_file *f, size_t index, uint64_t offset, uint64_t n, const void *buf,
                         const char *fn, mmarr_error *e);
/* XXH3-64 of bytes [off, off + len) of file `fd`, read with pread (checksum.c says why). */
mmarr_err mm_xxh3_fd(mmarr_error *e, int fd, const char *path, uint64_t off, uint64_t len,
                     uint64_t *out);

/* ---- names ---- */
/* memcmp order, shorter prefix first; <0, 0, >0. Inline, 8 bytes at a time: it runs once
 * per entry at open (spec.md §7.6) and ~17 times per lookup. */
static inline int mm_name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    const size_t n = an < bn ? an : bn;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y) {
            x = __builtin_bswap64(x);
            y = __builtin_bswap64(y);
            return x < y ? -1 : 1;
        }
    }
    for (; i < n; i++)
        if (a[i] != b[i])
            return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
    return an < bn ? -1 : (an > bn);
}

/* ---- dtypes (dtype.c) ---- */

struct mmarr_dtype {
    mmarr_kind kind;
    char byteorder; /* '<', '>', '|' */
    uint64_t itemsize;
    char *str; /* canonical text */
    /* datetime / timedelta */
    char unit[4];
    uint64_t unit_count;
    /* special floats: 0 = IEEE, else a tag below */
    int special;
    /* struct */
    size_t nfields;
    mmarr_field *fields; /* fields[i].name, .shape owned; .dtype owned */
};
#define MM_SPECIAL_BF16 1
#define MM_SPECIAL_E4M3FN 2
#define MM_SPECIAL_E5M2 3

/* Parse strictly (only the canonical text of spec.md §8 is accepted when strict). */
mmarr_err mm_dtype_parse(const char *text, size_t len, bool strict, mmarr_dtype **out,
                         mmarr_error *err);

/* ---- the read handle ---- */

typedef struct mm_meta_view {
    const mmarr_disk_meta *recs;
    uint32_t count;
} mm_meta_view;

#define MM_DPOOL_MAX 8 /* decompression states a handle keeps for later reads */
#define MM_MEMO_SLOTS 2 /* decoded chunks a handle keeps: a read's first and last (partial) */

/* A decoded chunk kept for the next read that needs part of it (cold_read.c). */
typedef struct mm_memo {
    uint64_t at;  /* file offset of the chunk's stored bytes; 0: empty */
    uint64_t use; /* last use, for replacing the least recently used */
    size_t raw;   /* decoded bytes in buf */
    unsigned char *buf;
    size_t cap;
} mm_memo;

struct mmarr_file {
    char *path;                /* owned, "<buffer>" for buffers */
    const unsigned char *base; /* start of the mapping or buffer */
    uint64_t size;             /* bytes mapped */
    bool mapped;               /* base came from mmap (else a caller buffer) */
    bool writable;
    bool cow;               /* MMARR_OPEN_COPY_ON_WRITE: MAP_PRIVATE, writable memory */
    int fd;                 /* the opened file (flush, pread), -1 for a buffer */
    uint64_t device, inode; /* fstat of the descriptor mapped; 0 for buffers */

    /* active state (spec.md §4.2); replaced by rehash */
    mmarr_disk_slot slot;
    unsigned active_slot; /* 0 = A, 1 = B */
    bool other_slot_damaged;
    uint64_t damaged_generation; /* a newer generation that failed to load (spec.md §4.4) */
    mmarr_error damaged_why;     /* why */
    const mmarr_generation *want; /* during mmarr_open_generation only: the one to load */
    uint32_t alignment;
    unsigned format_minor;

    /* index views (pointers into base) */
    const unsigned char *index;
    const mmarr_disk_index_header *ih;
    const mmarr_disk_entry *entries;
    const uint32_t *order;        /* entry numbers in name order (spec.md §7.6) */
    const mmarr_disk_name *names; /* names in name order (spec.md §7.6) */
    const uint64_t *dims;
    const mmarr_disk_meta *meta;
    const mmarr_disk_ameta *ameta; /* array metadata groups, by entry number */
    uint64_t ameta_count;
    const char *heap;
    uint64_t entry_count, meta_count, dim_count;
    /* ragged items (spec.md §7.7, ragged.c): the records; per entry, its record + 1 (0: a
     * plain array); per record, whether its offsets were checked. NULL when there are none */
    const mmarr_disk_ragged *ragged;
    uint64_t ragged_count;
    uint32_t *ragged_of;
    atomic_uchar *ragged_ok;
    /* growable arrays (spec.md §7.8, growable.c): the records, the block checksums, per
     * entry its record + 1 (0: not growable). NULL when there are none */
    const mmarr_disk_growable *growable;
    uint64_t growable_count;
    const uint64_t *blocks;
    uint64_t block_total;
    uint32_t *growable_of;
    uint64_t *growable_stored; /* per record: a cold one's frame bytes, summed at open */

    /* parsed dtypes, one per dtype record; owned */
    mmarr_dtype **dtypes;
    uint64_t dtype_count;
    /* mappings and dtypes replaced by a rehash, kept until close so that pointers handed
     * out before stay valid */
    struct mm_retired {
        void *map;
        size_t map_size;
        mmarr_dtype **dtypes;
        uint64_t dtype_count;
    } * retired;
    size_t retired_count;

    unsigned threads;  /* mmarr_file_set_threads(); 0 = online CPUs */
    bool chunk_verify; /* check chunk checksums on cold reads */

    pthread_mutex_t err_lock;
    mmarr_error last_err;

    struct mm_cache *cache; /* cache_map.c: mmarr_file_map() state, created on first use */

    /* cold_read.c: decompression states (zstd context, chunk buffers) kept between reads */
    pthread_mutex_t dpool_lock;
    struct mm_dstate *dpool[MM_DPOOL_MAX];
    unsigned dpool_count;
    /* cold_read.c: the last partially read chunks, decoded (a scan in slices that do not
     * line up with chunks decodes each chunk once, not twice) */
    pthread_mutex_t memo_lock;
    mm_memo memo[MM_MEMO_SLOTS];
    uint64_t memo_clock;
};

/* A string in a heap (mm_sbuf of NUL-terminated strings): offset and length. */
typedef struct mm_strref {
    uint32_t off, len;
} mm_strref;
/* Append s[0..n) and a NUL to heap h; its offset, or UINT32_MAX when the heap would pass
 * 4 GiB (offsets are u32, spec.md §7.5) or memory runs out. */
static inline uint32_t mm_heap_put(mm_sbuf *h, const char *s, size_t n)
{
    if (h->len + n + 1 > UINT32_MAX)
        return UINT32_MAX;
    if (!mm_sb_reserve(h, n + 1))
        return UINT32_MAX;
    const uint32_t off = (uint32_t)h->len;
    memcpy(h->p + off, s, n);
    h->p[off + n] = '\0';
    h->len += n + 1;
    h->p[h->len] = '\0'; /* mm_sbuf keeps a NUL after len */
    return off;
}

/* index_write.c: what an index is made of, as the writer holds it. */
typedef struct mm_index_meta {
    size_t owner; /* entry number, or SIZE_MAX for the file */
    size_t seq;   /* insertion order, so the last value for a key wins */
    char *key, *value;
} mm_index_meta;
typedef struct mm_index_parts {
    const char *heap;          /* names and dtype texts below point into it */
    mmarr_disk_entry *entries; /* name_rank is set by mm_index_encode */
    const mm_strref *names;    /* the entries' names */
    size_t entry_count;
    size_t ranked; /* entries [0, ranked) hold their name order among themselves in name_rank
                      (an appender's, imported from a validated index): no need to sort them */
    const mmarr_disk_dtype *dtypes; /* str_offset/str_size into heap */
    size_t dtype_count;
    const uint64_t *dims;
    size_t dim_count;
    mm_index_meta *meta; /* sorted in place */
    size_t meta_count;
    const mmarr_disk_cold *colds;
    size_t cold_count;
    const mmarr_disk_chunk *chunks;
    size_t chunk_count;
    mmarr_disk_ragged *ragged; /* sorted by values in place */
    size_t ragged_count;
    const struct mm_wgrow *growable; /* in increasing entry order (spec.md §7.8) */
    size_t growable_count;
} mm_index_parts;
/* A growable array as the writer holds it (spec.md §7.8). */
typedef struct mm_wgrow {
    size_t entry;
    uint64_t capacity; /* rows */
    uint32_t shift;    /* block size 2^shift */
    uint64_t *blocks;  /* block checksums, owned */
    uint32_t nblocks, blocks_cap;
    uint64_t base_size; /* appending: its data_size in the generation appended to */
    uint64_t touched;   /* appending: bytes from data_offset rows may have been written to
                           (a failed pwrite may have written part), for an abandon to punch */
    uint64_t region;    /* bytes of its reserved region (capacity rows; cold: not reserved) */
    /* cold (shift 0: blocks are its extra extents, offset/size pairs): the raw bytes of its
     * last chunk when not full, once an append needed them (writer_growable.c) */
    unsigned char *tail;
    size_t tail_len;
} mm_wgrow;
/* Serialise the index (spec.md §7) into a new malloc'd buffer; false when out of memory or
 * past the format's u32 limits. */
bool mm_index_encode(mm_index_parts *p, unsigned char **out, size_t *out_size);
/* The superblock of a new file: prologue (§4.1, format 1.minor) and slot A = *slot with its
 * checksum. */
void mm_superblock_encode(unsigned char sb[MMARR_SUPERBLOCK_SIZE], uint32_t alignment,
                          unsigned minor, const mmarr_disk_slot *slot);

/* index_read.c: validate superblock + index of f->base/f->size and fill the views. */
mmarr_err mm_index_load(mmarr_file *f, mmarr_error *err);
/* Free what mm_index_load allocated. */
void mm_index_unload(mmarr_file *f);
/* ragged.c: validate the ragged section and records (spec.md §12 rule 8) at load, and free
 * what that allocated (also before a reload). */
mmarr_err mm_ragged_load(mmarr_file *f, mmarr_error *err);
void mm_ragged_unload(mmarr_file *f);
/* ragged.c: verification of array `index` if it is the values of a ragged item: all its
 * offsets, and the text of a hot UTF-8 item (MMARR_E_CORRUPT naming the element or item). */
mmarr_err mm_ragged_verify(const mmarr_file *f, size_t index, mmarr_error *e);
/* ragged.c: the first element of offsets o[0..n) that breaks spec.md §7.7 given the element
 * before them (*prev; 0 before the first, which must be 0) and the values' rows, or n; *prev
 * becomes the last element checked. Shared by readers (the mapping) and the writer (pread). */
size_t mm_ragged_scan(const uint64_t *o, size_t n, uint64_t *prev, uint64_t rows, bool first);

/* error.c: copy a finished error into the handle's last error; returns its code. */
mmarr_err mm_file_record(mmarr_file *f, const mmarr_error *e);
/* error.c: finish a public call: on failure copy *e to *err and the handle. */
mmarr_err mm_file_done(mmarr_file *f, mmarr_err rc, const mmarr_error *e, mmarr_error *err);

/* thread.c: CPUs this process may use (1..MM_MAX_THREADS), and pthread_create for a helper
 * that should run beside its (busy) creator: on the allowed CPUs except the caller's. */
#define MM_MAX_THREADS 64
unsigned mm_online_cpus(void);
int mm_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

/* thread.c: a batch of `count` work items (chunks) run by fn(b, worker, k) on a few threads;
 * fn returns nonzero on failure, which stops the others taking new items. */
typedef struct mm_batch mm_batch;
typedef int (*mm_chunk_fn)(mm_batch *b, unsigned worker, size_t k);
struct mm_batch {
    mm_chunk_fn fn;
    void *ctx;
    size_t count;
    atomic_size_t next;
    atomic_int failed;
};
/* Run the batch (`bytes` raw bytes in all) on up to `threads` threads, the caller one of
 * them; nonzero if any item failed. */
int mm_batch_run(mm_batch *b, unsigned threads, uint64_t bytes);
/* Threads worth starting for `count` items of `bytes` raw bytes in all (>= 1, <= threads). */
unsigned mm_batch_threads(unsigned threads, uint64_t count, uint64_t bytes);
/* Chunks per batch for `threads` threads: per_thread each or more for small chunks, within
 * the memory bound of a batch, at least `least`. */
uint64_t mm_batch_chunks(unsigned threads, unsigned per_thread, uint64_t chunk_size,
                         uint64_t least);

/* Byte loops whose branches tell a coverage-guided fuzzer nothing (the shuffle filter): not
 * traced when the library is built for libFuzzer (-fsanitize=fuzzer-no-link), where tracing
 * every byte cost the round-trip fuzzer a third of its time. noinline: inlined into a traced
 * caller, the loop would be traced after all. */
#if defined(__clang__) && __clang_major__ >= 13
#define MM_NO_COVERAGE __attribute__((no_sanitize("coverage"), noinline))
#else
#define MM_NO_COVERAGE
#endif

/* cold_read.c, cold_write.c: cold arrays (spec.md §10). Indices are validated by the caller. */
void mm_shuffle(unsigned char *restrict dst, const unsigned char *restrict src, size_t len,
                size_t k);
void mm_unshuffle(unsigned char *restrict dst, const unsigned char *restrict src, size_t len,
                  size_t k);
void mm_cold_fill_info(const mmarr_file *f, const mmarr_disk_entry *e, mmarr_array_info *a);
mmarr_err mm_cold_read(mmarr_file *f, size_t index, uint64_t offset, void *dst, uint64_t n,
                       unsigned threads, bool verify, mmarr_error *err);
mmarr_err mm_cold_chunk_info(const mmarr_file *f, size_t index, size_t k, mmarr_chunk_info *out);
mmarr_err mm_cold_read_chunk(mmarr_file *f, size_t index, size_t k, void *dst, bool verify,
                             mmarr_error *err);
mmarr_err mm_cold_verify(mmarr_file *f, size_t index, mmarr_error *err);
/* Free the decompression states a handle kept (mmarr_close). */
void mm_cold_release(mmarr_file *f);
/* cold_write.c: parallel chunk compression for the writer */
typedef struct mm_zwriter mm_zwriter;
mm_zwriter *mm_zwriter_new(int level, size_t chunk_size, size_t itemsize, bool shuffle,
                           unsigned threads, uint64_t total);
void mm_zwriter_free(mm_zwriter *z);
size_t mm_zwriter_batch_chunks(const mm_zwriter *z);
mmarr_err mm_zwriter_run(mm_zwriter *z, const unsigned char *src, size_t src_len, size_t *nchunks,
                         mmarr_error *err);
const unsigned char *mm_zwriter_out(const mm_zwriter *z, size_t k, size_t *size,
                                    uint64_t *raw_checksum);
bool mm_zstd_level_ok(int level);

/* cache_map.c: unmap what mmarr_file_map() mapped and free the cache state (mmarr_close). */
void mm_cache_release(mmarr_file *f);

/* update.c: publish CHECKSUMS_STALE before the first in-place write (spec.md §11.2). */
mmarr_err mm_publish_stale(mmarr_file *f, mmarr_error *e);

/* Heap string at (off, size) — caller has validated it. */
static inline const char *mm_heap_str(const mmarr_file *f, uint32_t off) { return f->heap + off; }

/* Compute nbytes of an entry; validated at load so cannot overflow afterwards. */
uint64_t mm_entry_nitems(const mmarr_file *f, const mmarr_disk_entry *e);
/* reader.c: the metadata group of entry `index` (count 0 if none); binary search. */
void mm_entry_meta(const mmarr_file *f, size_t index, uint32_t *first, uint32_t *count);
/* The name of a validated entry (NUL-terminated, in the mapping). */
static inline const char *mm_entry_name(const mmarr_file *f, const mmarr_disk_entry *e)
{
    return f->heap + f->names[e->name_rank].name_offset;
}

/* Slot checksum over bytes 0..119. */
static inline uint64_t mm_slot_checksum(const mmarr_disk_slot *s)
{
    return mm_xxh3(s, offsetof(mmarr_disk_slot, checksum));
}
static inline uint64_t mm_prologue_checksum(const mmarr_disk_prologue *p)
{
    return mm_xxh3(p, offsetof(mmarr_disk_prologue, checksum));
}

/* publish.c: a new file's temporary (unnamed O_TMPFILE where possible, else
 * "<path>.tmp.XXXXXX"), published atomically over its destination. */
typedef struct mm_tmpfile {
    int fd;
    bool named; /* false: an unnamed O_TMPFILE temporary, linked in at publication */
    bool published;
    char *path; /* the temporary's name, or (unnamed) a name for messages */
} mm_tmpfile;
mmarr_err mm_tmp_create(const char *path, mm_tmpfile *t, mmarr_error *e);
/* fsync (if sync), then rename over path, or link at path with no_replace (MMARR_E_EXISTS
 * if it exists). The directory is not synced: mm_sync_parent_dir(). */
mmarr_err mm_tmp_publish(mm_tmpfile *t, const char *path, bool no_replace, bool sync,
                         mmarr_error *e);
/* Close; an unpublished named temporary is removed. Accepts a closed one (fd -1). */
void mm_tmp_close(mm_tmpfile *t);
/* fsync the directory holding path (after a rename into it). */
mmarr_err mm_sync_parent_dir(const char *path, mmarr_error *e);
/* "path: what" with errno se; MMARR_E_NOSPACE for ENOSPC/EDQUOT, else MMARR_E_IO. */
mmarr_err mm_sys_fail(mmarr_error *e, const char *path, int se, const char *what);
/* publish.c: describe "no space" for path's filesystem into e (tmpfs advice included). */
mmarr_err mm_nospace_error(mmarr_error *e, int fd, const char *path, uint64_t need, uint64_t target,
                           int sys_errno);
/* posix_fallocate with a clear error. */
mmarr_err mm_reserve_space(mmarr_error *e, int fd, const char *path, uint64_t off, uint64_t len);
/* pwrite all bytes or fail. */
/* Map the file open as fd (owned: closed on failure and by mmarr_close) and load its
 * newest valid generation, as mmarr_open() does after opening `path`. file.c. */
mmarr_err mm_open_fd(const char *path, int fd, unsigned flags, mmarr_file **out, mmarr_error *e);
/* Keep the arrays mapped from the shared cache until close, but out of later lookups by array
 * number (which a refresh changes). cache_map.c. */
void mm_cache_retire(mmarr_file *f);

/* growable.c (spec.md §7.8): load and check the growable section (after the ragged one);
 * forget it; the record of entry `index` or NULL; its capacity in bytes; verify its blocks;
 * the entry checksum of a block checksum table; hash one block. */
mmarr_err mm_growable_load(mmarr_file *f, mmarr_error *err);
void mm_growable_unload(mmarr_file *f);
const mmarr_disk_growable *mm_growable_of(const mmarr_file *f, size_t index);
/* The compressed bytes of cold growable array `index` (its frames lie apart: §7.8). */
uint64_t mm_growable_stored(const mmarr_file *f, size_t index);
uint64_t mm_growable_capacity_bytes(const mmarr_file *f, const mmarr_disk_entry *e,
                                    const mmarr_disk_growable *g);
mmarr_err mm_growable_verify(mmarr_file *f, size_t index, mmarr_error *err);
/* The checksum of block k of growable array e (record g) as the file holds it now. */
mmarr_err mm_growable_hash_block(mmarr_file *f, const mmarr_disk_entry *e,
                                 const mmarr_disk_growable *g, uint32_t k, uint64_t *sum,
                                 mmarr_error *err);
uint64_t mm_growable_sum(const uint64_t *blocks, uint32_t count);
/* The checksum of a cold growable array: the XXH3 of its chunks' checksums (spec.md §7.8);
 * false when out of memory. */
bool mm_growable_chunks_sum(const mmarr_disk_chunk *chunks, size_t count, uint64_t *sum);

/* The byte of the file whose OFD lock makes one writer at a time (spec.md §4.4): in the
 * reserved bytes of the superblock, never written. */
#define MM_WRITER_LOCK_OFFSET 320
/* Take the writer lock on fd: exclusive (an appender) or shared (read-write handles);
 * MMARR_E_BUSY when another holds it and !wait. writer_append.c. */
mmarr_err mm_writer_lock(int fd, const char *path, bool exclusive, bool wait, mmarr_error *e);

/* pread until n bytes arrived; E_IO on an error or an early end of file. publish.c. */
mmarr_err mm_pread_all(mmarr_error *e, int fd, const char *path, void *buf, size_t n, uint64_t off);
mmarr_err mm_pwrite_all(mmarr_error *e, int fd, const char *path, const void *buf, size_t n,
                        uint64_t off);

#endif /* MM_INTERNAL_H */
