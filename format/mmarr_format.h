/* SPDX-License-Identifier: MIT */
/*
 * mmarr_format.h — the on-disk layout of an mmarr file, version 1.
 *
 * Normative text: spec.md. Every struct here mirrors a table in spec.md and names its
 * section; sizes and offsets are pinned by _Static_assert. All integers are little-endian
 * on disk; the library casts mapped bytes to these structs, so it only builds on
 * little-endian hosts (asserted in the library).
 *
 * This header needs only <stdint.h> and <stddef.h>. It is shared by libmmarr and the tests
 * and is not installed.
 */
#ifndef MMARR_FORMAT_H
#define MMARR_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* spec.md §4.1 — the 10 magic bytes at offset 0: "\x89MMARR\r\n\x1a\n". */
#define MMARR_MAGIC "\x89MMARR\r\n\x1a\n"
#define MMARR_MAGIC_SIZE 10

/* spec.md §4.1, §13 — format version written by this code. */
#define MMARR_FORMAT_MAJOR 1
#define MMARR_FORMAT_MINOR 2 /* the highest; a file gets the lowest that describes it (§13) */

/* spec.md §3 — fixed geometry. */
#define MMARR_SUPERBLOCK_SIZE 512u       /* prologue + slot A + slot B + reserved */
#define MMARR_SLOT_A_OFFSET 64u
#define MMARR_SLOT_B_OFFSET 192u
#define MMARR_MIN_ALIGNMENT 4096u        /* spec.md §9: file alignment range */
#define MMARR_MAX_ALIGNMENT (2u << 20)   /* 2 MiB */
#define MMARR_DEFAULT_ALIGNMENT 4096u
#define MMARR_PACKED_ALIGNMENT 256u      /* spec.md §9.2: small arrays packed into shared pages */
#define MMARR_INDEX_ALIGNMENT 64u        /* spec.md §7: index offset is a multiple of this */
#define MMARR_SECTION_ALIGNMENT 8u       /* spec.md §7.1: every index section */
#define MMARR_MAX_NDIM 64u               /* spec.md §7.2 */
#define MMARR_MAX_NAME_BYTES 65535u      /* spec.md §7.2 */
#define MMARR_NONE32 0xFFFFFFFFu         /* "no reference" in u32 index fields */

/* spec.md §4.1 "Prologue" — 64 bytes at offset 0, written once. */
typedef struct mmarr_disk_prologue {
    uint8_t magic[MMARR_MAGIC_SIZE]; /* 0: MMARR_MAGIC */
    uint16_t format_major;           /* 10: reader refuses a major it does not know */
    uint16_t format_minor;           /* 12: additive changes only */
    uint16_t reserved0;              /* 14: zero */
    uint32_t alignment;              /* 16: power of two, 4096..2 MiB */
    uint32_t reserved1;              /* 20: zero */
    uint8_t reserved2[32];           /* 24: zero */
    uint64_t checksum;               /* 56: XXH3-64 (seed 0) of bytes 0..55 */
} mmarr_disk_prologue;

/* spec.md §4.2 "Superblock slot" — 128 bytes at 64 (slot A) and 192 (slot B). */
typedef struct mmarr_disk_slot {
    uint64_t generation;        /* 0: 0 = empty slot (all 128 bytes zero) */
    uint64_t file_size;         /* 8: bytes this generation covers; the file is at least this long */
    uint64_t index_offset;      /* 16: absolute, multiple of MMARR_INDEX_ALIGNMENT */
    uint64_t index_size;        /* 24: bytes */
    uint64_t index_checksum;    /* 32: XXH3-64 (seed 0) of the index_size bytes */
    uint64_t required_features; /* 40: unknown bit set -> reader refuses (spec.md §5) */
    uint64_t optional_features; /* 48: unknown bit set -> reader ignores */
    uint64_t state_flags;       /* 56: MMARR_STATE_* */
    uint64_t rehash_generation; /* 64 (1.2): 0, or the generation the last rehash published:
                                   earlier ones may list arrays written in place since */
    uint8_t reserved[48];       /* 72: zero */
    uint64_t checksum;          /* 120: XXH3-64 (seed 0) of bytes 0..119 of this slot */
} mmarr_disk_slot;

/* spec.md §5 — feature bits. */
#define MMARR_FEAT_REQ_COLD_ZSTD (1ull << 0) /* some entry has storage kind ZSTD_CHUNKED */
#define MMARR_FEAT_REQ_GROWABLE (1ull << 1)  /* 1.2: the index has a growable section (§7.8) */
#define MMARR_FEAT_REQ_KNOWN (MMARR_FEAT_REQ_COLD_ZSTD | MMARR_FEAT_REQ_GROWABLE)
#define MMARR_FEAT_OPT_RAGGED (1ull << 0) /* 1.1: the index has a ragged section (§7.7) */
#define MMARR_FEAT_OPT_KNOWN (MMARR_FEAT_OPT_RAGGED)
/* spec.md §4.2 — state flags. */
#define MMARR_STATE_CHECKSUMS_STALE (1ull << 0) /* data may differ from entry checksums */
#define MMARR_STATE_KNOWN (MMARR_STATE_CHECKSUMS_STALE)

/* spec.md §7.1 "Index header" — 192 bytes at index_offset. Section offsets are relative to
 * index_offset, multiples of 8, in this order, non-overlapping, inside index_size. */
#define MMARR_INDEX_MAGIC "MMARRIDX"
typedef struct mmarr_disk_index_header {
    uint8_t magic[8];         /* 0: MMARR_INDEX_MAGIC */
    uint64_t entry_count;     /* 8 */
    uint64_t entries_offset;  /* 16: entry_count x mmarr_disk_entry, in data order */
    uint64_t order_offset;    /* 24: entry_count x u32: entry numbers in name order */
    uint64_t names_offset;    /* 32: entry_count x mmarr_disk_name, in name order */
    uint64_t dtypes_offset;   /* 40: dtype_count x mmarr_disk_dtype */
    uint64_t dtype_count;     /* 48 */
    uint64_t dims_offset;     /* 56: dim_count x u64 */
    uint64_t dim_count;       /* 64 */
    uint64_t meta_offset;     /* 72: meta_count x mmarr_disk_meta */
    uint64_t meta_count;      /* 80 */
    uint64_t ameta_offset;    /* 88: ameta_count x mmarr_disk_ameta, by entry number */
    uint64_t ameta_count;     /* 96 */
    uint64_t cold_offset;     /* 104: cold_count x mmarr_disk_cold */
    uint64_t cold_count;      /* 112 */
    uint64_t chunks_offset;   /* 120: chunk_count x mmarr_disk_chunk */
    uint64_t chunk_count;     /* 128 */
    uint64_t heap_offset;     /* 136: heap_size bytes of NUL-terminated UTF-8 strings */
    uint64_t heap_size;       /* 144 */
    uint32_t file_meta_first; /* 152: first file-level metadata record */
    uint32_t file_meta_count; /* 156 */
    uint64_t ragged_offset;   /* 160 (1.1): ragged_count x mmarr_disk_ragged, after the heap */
    uint64_t ragged_count;    /* 168 (1.1): 0 unless MMARR_FEAT_OPT_RAGGED */
    uint64_t growable_offset; /* 176 (1.2): growable_count x mmarr_disk_growable, then
                                 block_total u64 values, the block table (§7.8) */
    uint32_t growable_count;  /* 184 (1.2): 0 unless MMARR_FEAT_REQ_GROWABLE */
    uint32_t block_total;     /* 188 (1.2): u64 values of the block table */
} mmarr_disk_index_header;

/* spec.md §7.2 "Entry" — 48 bytes per array, in data order. */
typedef struct mmarr_disk_entry {
    uint64_t data_offset; /* 0: absolute file offset of the stored bytes */
    uint64_t data_size;   /* 8: stored bytes (raw: equals the array's byte size) */
    uint64_t checksum;    /* 16: XXH3-64 (seed 0) of the raw (uncompressed) array bytes */
    uint32_t name_rank;   /* 24: k such that order[k] is this entry (names[k] is its name) */
    uint32_t dtype_id;    /* 28: index into the dtype table */
    uint32_t dims_first;  /* 32: index of the first dimension in the dims table */
    uint32_t cold_id;     /* 36: cold descriptor for ZSTD_CHUNKED, else MMARR_NONE32 */
    uint8_t ndim;         /* 40: 0..64 */
    uint8_t storage;      /* 41: MMARR_STORAGE_* */
    uint8_t flags;        /* 42: MMARR_ENTRY_* */
    uint8_t reserved[5];  /* 43: zero */
} mmarr_disk_entry;

#define MMARR_STORAGE_RAW 0u
#define MMARR_STORAGE_ZSTD_CHUNKED 1u
#define MMARR_ENTRY_FORTRAN (1u << 0) /* column-major element order */
#define MMARR_ENTRY_PACKED (1u << 1)  /* placed at 256-byte alignment in a shared page */
#define MMARR_ENTRY_KNOWN (MMARR_ENTRY_FORTRAN | MMARR_ENTRY_PACKED)

/* spec.md §7.3 "Dtype record" — 8 bytes; the string is a canonical numpy descr (§8). */
typedef struct mmarr_disk_dtype {
    uint32_t str_offset; /* heap offset */
    uint32_t str_size;   /* bytes, excluding NUL */
} mmarr_disk_dtype;

/* spec.md §7.4 "Metadata record" — 16 bytes; key and value are heap strings. */
typedef struct mmarr_disk_meta {
    uint32_t key_offset;
    uint32_t key_size;
    uint32_t value_offset;
    uint32_t value_size;
} mmarr_disk_meta;

/* spec.md §7.4 "Array metadata record" — 12 bytes; one per array that has metadata, in
 * increasing entry order: that array's group is meta[meta_first, +meta_count). */
typedef struct mmarr_disk_ameta {
    uint32_t entry;
    uint32_t meta_first;
    uint32_t meta_count; /* >= 1 */
} mmarr_disk_ameta;

/* spec.md §7.6 "Name record" — 8 bytes per array, in name order (bytewise, strictly
 * increasing); record k names the entry order[k]. */
typedef struct mmarr_disk_name {
    uint32_t name_offset; /* 0: heap offset of the name */
    uint32_t name_size;   /* 4: bytes, excluding the terminating NUL; 1..65535 */
} mmarr_disk_name;

/* spec.md §7.7 "Ragged record" (1.1) — 16 bytes: a sequence of variable-length items stored
 * as a values entry and an offsets entry (<u8, count + 1, raw), by increasing `values`. */
typedef struct mmarr_disk_ragged {
    uint32_t values;     /* 0: entry number of the values (the item's name is theirs) */
    uint32_t offsets;    /* 4: entry number of the offsets */
    uint8_t kind;        /* 8: MMARR_RAGGED_KIND_* */
    uint8_t reserved[7]; /* 9: zero */
} mmarr_disk_ragged;

#define MMARR_RAGGED_KIND_ARRAYS 0u /* items are arrays of the values' dtype */
#define MMARR_RAGGED_KIND_UTF8 1u   /* items are UTF-8 strings (values |u1, 1-d) */
#define MMARR_RAGGED_KIND_BYTES 2u  /* items are byte strings (values |u1, 1-d) */
#define MMARR_RAGGED_KIND_MAX 2u

/* spec.md §7.8 "Growable record" (1.2) — 32 bytes, by increasing `entry`: an array whose
 * first dimension may grow by appends up to `capacity` rows. Hot: its region reserved, its
 * data checksummed by blocks; cold: chunks gained after the file's end, in extents. */
typedef struct mmarr_disk_growable {
    uint32_t entry;        /* 0: entry number */
    uint32_t block_count;  /* 4: hot: ceil(data_size / 2^block_shift); cold: 2 x extra extents */
    uint64_t capacity;     /* 8: rows it may hold (hot: its reserved region), >= the first dim */
    uint32_t block_shift;  /* 16: hot: block size 2^block_shift raw bytes, 12..30; cold: 0 */
    uint32_t blocks_first; /* 20: its first value in the block table (after all the records):
                              hot, block checksums; cold, (offset, size) extent pairs */
    uint64_t reserved;     /* 24: zero */
} mmarr_disk_growable;

#define MMARR_GROWABLE_MIN_SHIFT 12u
#define MMARR_GROWABLE_MAX_SHIFT 30u

/* spec.md §10.1 "Cold descriptor" — 32 bytes. */
typedef struct mmarr_disk_cold {
    uint64_t chunk_size;  /* 0: raw bytes per chunk (the last chunk may be shorter) */
    uint32_t chunk_first; /* 8: first record in the chunk table */
    uint32_t chunk_count; /* 12: = ceil(raw bytes / chunk_size) */
    uint8_t codec;        /* 16: MMARR_CODEC_* */
    uint8_t filter;       /* 17: MMARR_FILTER_* */
    uint8_t reserved0[2]; /* 18: zero */
    int32_t level;        /* 20: compression level used (informational) */
    uint64_t reserved1;   /* 24: zero */
} mmarr_disk_cold;

#define MMARR_CODEC_ZSTD 1u
#define MMARR_FILTER_NONE 0u
#define MMARR_FILTER_SHUFFLE 1u /* byte transpose by item size before compression */

/* spec.md §10.2 "Chunk record" — 24 bytes. */
typedef struct mmarr_disk_chunk {
    uint64_t offset;   /* 0: relative to the entry's data_offset */
    uint32_t size;     /* 8: compressed bytes (one zstd frame) */
    uint32_t reserved; /* 12: zero */
    uint64_t checksum; /* 16: XXH3-64 (seed 0) of the chunk's raw (unfiltered) bytes */
} mmarr_disk_chunk;

_Static_assert(sizeof(mmarr_disk_prologue) == 64, "spec.md §4.1: prologue is 64 bytes");
_Static_assert(offsetof(mmarr_disk_prologue, alignment) == 16, "spec.md §4.1");
_Static_assert(offsetof(mmarr_disk_prologue, checksum) == 56, "spec.md §4.1");
_Static_assert(sizeof(mmarr_disk_slot) == 128, "spec.md §4.2: slot is 128 bytes");
_Static_assert(offsetof(mmarr_disk_slot, state_flags) == 56, "spec.md §4.2");
_Static_assert(offsetof(mmarr_disk_slot, rehash_generation) == 64, "spec.md §4.2");
_Static_assert(offsetof(mmarr_disk_slot, checksum) == 120, "spec.md §4.2");
_Static_assert(sizeof(mmarr_disk_index_header) == 192, "spec.md §7.1: index header");
_Static_assert(offsetof(mmarr_disk_index_header, growable_offset) == 176, "spec.md §7.1");
_Static_assert(sizeof(mmarr_disk_growable) == 32, "spec.md §7.8: growable record");
_Static_assert(offsetof(mmarr_disk_index_header, file_meta_first) == 152, "spec.md §7.1");
_Static_assert(sizeof(mmarr_disk_entry) == 48, "spec.md §7.2: entry is 48 bytes");
_Static_assert(sizeof(mmarr_disk_ameta) == 12, "spec.md §7.4: array metadata record");
_Static_assert(offsetof(mmarr_disk_entry, name_rank) == 24, "spec.md §7.2");
_Static_assert(offsetof(mmarr_disk_entry, cold_id) == 36, "spec.md §7.2");
_Static_assert(offsetof(mmarr_disk_entry, ndim) == 40, "spec.md §7.2");
_Static_assert(sizeof(mmarr_disk_name) == 8, "spec.md §7.6: name record is 8 bytes");
_Static_assert(sizeof(mmarr_disk_dtype) == 8, "spec.md §7.3");
_Static_assert(sizeof(mmarr_disk_meta) == 16, "spec.md §7.4");
_Static_assert(sizeof(mmarr_disk_cold) == 32, "spec.md §10.1");
_Static_assert(offsetof(mmarr_disk_cold, level) == 20, "spec.md §10.1");
_Static_assert(sizeof(mmarr_disk_chunk) == 24, "spec.md §10.2");
_Static_assert(MMARR_SLOT_A_OFFSET + sizeof(mmarr_disk_slot) == MMARR_SLOT_B_OFFSET, "slots");
_Static_assert(MMARR_SLOT_B_OFFSET + sizeof(mmarr_disk_slot) <= MMARR_SUPERBLOCK_SIZE, "slots");

#endif /* MMARR_FORMAT_H */
