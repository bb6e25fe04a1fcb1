/* SPDX-License-Identifier: MIT */
/*
 * mmarr.h — read and write mmarr files: many named, typed arrays in one memory-mapped file
 * that any number of processes share without copies.
 *
 * Families:
 *   write   mmarr_writer_create / _add / _add_cold / _reserve / _begin+_write+_end /
 *           _set_meta / _commit / _free
 *   read    mmarr_open / mmarr_open_buffer / mmarr_file_find / mmarr_file_array / mmarr_close
 *           mmarr_file_read (ranges, hot or cold) / mmarr_file_chunk / _read_chunk
 *   inspect mmarr_file_get_info, metadata getters, mmarr_file_verify*, dtype parsing
 *   memory  mmarr_file_advise / _advise_range / _prefetch / _lock / _flush
 *   cache   mmarr_file_map (cold arrays decompressed once, shared) / _map_info / _set_cache,
 *           mmarr_cache_list / _clear
 *
 * Usage:
 *   mmarr_writer *w; mmarr_error e;
 *   if (mmarr_writer_create("data.mmarr", NULL, &w, &e)) die(e.message);
 *   uint64_t shape[2] = {1000, 3};
 *   mmarr_writer_add(w, "xyz", "<f4", 2, shape, MMARR_ORDER_C, buf);
 *   if (mmarr_writer_commit(w)) die(mmarr_writer_error(w)->message);
 *   mmarr_writer_free(w);
 *
 *   mmarr_file *f; mmarr_array_info a;
 *   if (mmarr_open("data.mmarr", 0, &f, &e)) die(e.message);
 *   if (mmarr_file_find_array(f, "xyz", &a, &e) == MMARR_OK) use((const float *)a.data);
 *   mmarr_close(f);
 *
 * Lifetimes: every pointer a reader call returns (names, dtype strings, shapes, metadata,
 *   data) points into the mapping or into the handle, and stays valid until mmarr_close() on
 *   that handle. Do not free them. Data pointers are writable only for handles opened with
 *   MMARR_OPEN_RDWR, and only until that handle's rehash (mmarr_file_flush with
 *   MMARR_FLUSH_REHASH), after which they are read-only. A writer's reserve pointer is valid
 *   until commit or free, or until mmarr_reserved_release() with MMARR_WRITE_KEEP_RESERVED.
 * Threads: one mmarr_file may be used by any number of threads at once: every reader call is
 *   safe concurrently. Errors go to the caller's optional mmarr_error; the handle also keeps a
 *   copy of its latest error (mmarr_file_last_error) under a lock. A mmarr_writer belongs to
 *   one thread at a time.
 * Processes: a mmarr_file opened before fork() keeps working in the child (the mapping is
 *   MAP_SHARED and the handle holds no thread or lock). There are no daemons or global
 *   state; lock files exist only in the decompression cache (see mmarr_file_map()).
 * Errors: functions return mmarr_err (MMARR_OK is 0). mmarr_strerror() names a code; the
 *   mmarr_error message says what failed and where (file, array, offset).
 * Hosts: little-endian only (the index is read in place).
 */
#ifndef MMARR_H
#define MMARR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MMARR_STATIC_DEFINE)
#define MMARR_API
#elif defined(__GNUC__)
#define MMARR_API __attribute__((visibility("default")))
#else
#define MMARR_API
#endif

/* ------------------------------------------------------------------------------------------ */
/* Versions                                                                                   */

#define MMARR_VERSION_MAJOR 0
#define MMARR_VERSION_MINOR 1
#define MMARR_VERSION_PATCH 0
#define MMARR_VERSION_STRING "0.1.0"
/** Highest format version this library writes (a file gets the lowest that describes it:
 *  1.0 unless it has ragged items); it reads every 1.x file without unknown required features. */
#define MMARR_FORMAT_VERSION_MAJOR 1
#define MMARR_FORMAT_VERSION_MINOR 2

/** Library version of the linked library, e.g. "0.1.0". Static string. */
MMARR_API const char *mmarr_version_string(void);

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                     */

/** Error codes. Explicit values; append only, never renumbered. */
typedef enum mmarr_err {
    MMARR_OK = 0,
    MMARR_E_INVAL = 1,        /**< bad argument (API misuse) */
    MMARR_E_NOMEM = 2,        /**< out of memory */
    MMARR_E_IO = 3,           /**< a system call failed; see mmarr_error.sys_errno */
    MMARR_E_NOSPACE = 4,      /**< disk or tmpfs full, or file size limit, while reserving space */
    MMARR_E_BADMAGIC = 10,    /**< not an mmarr file */
    MMARR_E_VERSION = 11,     /**< format major version not supported */
    MMARR_E_CORRUPT = 12,     /**< structure invalid: bounds, overlap, overflow, names, flags */
    MMARR_E_CHECKSUM = 13,    /**< a checksum does not match: the bytes were damaged */
    MMARR_E_TRUNCATED = 14,   /**< the file is shorter than its superblock says */
    MMARR_E_UNSUPPORTED = 15, /**< valid, but needs a feature this library lacks */
    MMARR_E_STALE = 16,       /**< checksums are stale after in-place writes; rehash first */
    MMARR_E_NOTFOUND = 20,    /**< no array (or metadata key) of that name */
    MMARR_E_DTYPE = 21,       /**< dtype text invalid or not representable */
    MMARR_E_EXISTS = 22,      /**< duplicate array name or metadata key; or target file exists */
    MMARR_E_RANGE = 23,       /**< shape or size overflows, or a limit is exceeded */
    MMARR_E_READONLY = 24,    /**< the operation needs a read-write handle */
    MMARR_E_BUSY = 25,        /**< another process is writing the file (one writer at a time) */
    MMARR_E_STATE = 30        /**< call not valid in the handle's current state */
} mmarr_err;

/** Value of mmarr_error.offset when no file offset applies. */
#define MMARR_NO_OFFSET UINT64_MAX

/** A detailed error. Contents are defined only after a call failed. */
typedef struct mmarr_error {
    mmarr_err code;
    int sys_errno;      /**< errno for MMARR_E_IO / MMARR_E_NOSPACE, else 0 */
    uint64_t offset;    /**< file offset concerned, or MMARR_NO_OFFSET */
    char message[512];  /**< one sentence naming file, array and offset; no trailing newline */
} mmarr_error;

/** Static text for a code, e.g. "MMARR_E_CHECKSUM: checksum mismatch". Never NULL. */
MMARR_API const char *mmarr_strerror(mmarr_err code);
/** The code's bare name, e.g. "MMARR_E_CHECKSUM" ("MMARR_E_UNKNOWN" for others). */
MMARR_API const char *mmarr_err_name(mmarr_err code);

/* ------------------------------------------------------------------------------------------ */
/* Data types                                                                                 */

/** Element kinds. Values are numpy's dtype.kind characters where numpy has one. */
typedef enum mmarr_kind {
    MMARR_KIND_BOOL = 'b',
    MMARR_KIND_INT = 'i',
    MMARR_KIND_UINT = 'u',
    MMARR_KIND_FLOAT = 'f', /**< f2, f4, f8, bfloat16, float8_e4m3fn, float8_e5m2 */
    MMARR_KIND_COMPLEX = 'c',
    MMARR_KIND_BYTES = 'S',
    MMARR_KIND_UNICODE = 'U',
    MMARR_KIND_VOID = 'V',
    MMARR_KIND_DATETIME = 'M',
    MMARR_KIND_TIMEDELTA = 'm',
    MMARR_KIND_STRUCT = 'T' /**< structured (record) dtype with fields */
} mmarr_kind;

/** A parsed dtype (immutable). */
typedef struct mmarr_dtype mmarr_dtype;

/** One field of a structured dtype. Pointers live as long as the dtype. */
typedef struct mmarr_field {
    const char *name;          /**< UTF-8; "" for a padding field */
    uint64_t offset;           /**< byte offset inside the record */
    const mmarr_dtype *dtype;  /**< the element type of the field */
    unsigned ndim;             /**< subarray dimensions, 0 for a scalar field */
    const uint64_t *shape;     /**< ndim subarray dimensions */
} mmarr_field;

/**
 * Parse dtype text into a canonical dtype. Accepts numpy's canonical forms ("<f4", "|S6",
 * "<M8[ns]", "[('a', '<i4'), ('b', '<f8', (3,))]"), and, for convenience, "=" or missing
 * byte order ("f4" = "<f4"), double quotes, free spacing, and names such as "float32",
 * "int64", "bool", "complex64", "bfloat16". Errors: MMARR_E_DTYPE (message says where), or
 * MMARR_E_NOMEM. Free the result with mmarr_dtype_free().
 */
MMARR_API mmarr_err mmarr_dtype_parse(const char *text, mmarr_dtype **out, mmarr_error *err);
/** Free a dtype from mmarr_dtype_parse(). Accepts NULL. Not for dtypes owned by a file. */
MMARR_API void mmarr_dtype_free(mmarr_dtype *dt);
/** Canonical text (spec.md §8), e.g. "<f4". Owned by the dtype. */
MMARR_API const char *mmarr_dtype_str(const mmarr_dtype *dt);
MMARR_API mmarr_kind mmarr_dtype_kind(const mmarr_dtype *dt);
/** Bytes per element. */
MMARR_API uint64_t mmarr_dtype_itemsize(const mmarr_dtype *dt);
/** '<', '>' or '|' (not applicable); structured dtypes return '|'. */
MMARR_API char mmarr_dtype_byteorder(const mmarr_dtype *dt);
/** Datetime/timedelta unit text ("ns", "" for generic) and count; NULL for other kinds. */
MMARR_API const char *mmarr_dtype_time_unit(const mmarr_dtype *dt, uint64_t *count);
/** Number of fields (0 unless kind is MMARR_KIND_STRUCT). */
MMARR_API size_t mmarr_dtype_nfields(const mmarr_dtype *dt);
/** Field i (i < nfields), or NULL. */
MMARR_API const mmarr_field *mmarr_dtype_field(const mmarr_dtype *dt, size_t i);

/* ------------------------------------------------------------------------------------------ */
/* Reading                                                                                    */

typedef struct mmarr_file mmarr_file;

/** Element order. */
typedef enum mmarr_order { MMARR_ORDER_C = 0, MMARR_ORDER_F = 1 } mmarr_order;
/** Storage kind (spec.md §7.2). */
typedef enum mmarr_storage { MMARR_STORAGE_HOT = 0, MMARR_STORAGE_COLD = 1 } mmarr_storage;

/** Maximum number of dimensions. */
#define MMARR_MAX_DIMS 64

/** Flags for mmarr_open(). */
#define MMARR_OPEN_RDWR 0x1u     /**< map read-write (MAP_SHARED): writes reach the file */
#define MMARR_OPEN_VERIFY 0x2u   /**< also verify every array checksum before returning */
#define MMARR_OPEN_POPULATE 0x4u /**< pre-fault the whole mapping (MAP_POPULATE) */
/** Skip the per-chunk checksum when decompressing cold arrays (faster; corruption inside a
 *  valid zstd frame then goes unnoticed). mmarr_file_verify*() always check. */
#define MMARR_OPEN_NO_CHUNK_VERIFY 0x8u
/** Copy-on-write (np.memmap's mode "c"): the file is opened read-only and mapped MAP_PRIVATE
 *  and writable, so hot arrays' memory (and cold arrays' from mmarr_file_map()) may be
 *  written; a written page becomes this process's own copy, the file and every other process
 *  keep the original bytes, and unwritten pages stay shared. Not with MMARR_OPEN_RDWR.
 *  mmarr_file_read() copies from this handle's memory (changes included); verification
 *  checks the file; page release (MMARR_ADVICE_DONTNEED) is refused, as it would discard
 *  the changes. */
#define MMARR_OPEN_COPY_ON_WRITE 0x10u

/** A view of one array; filled by mmarr_file_array(). Pointers live until mmarr_close(). */
typedef struct mmarr_array_info {
    size_t index;              /**< entry number, 0..count-1, in file order */
    const char *name;          /**< NUL-terminated UTF-8 */
    size_t name_size;          /**< bytes, without the NUL */
    const char *dtype_str;     /**< canonical dtype text, e.g. "<f4" */
    const mmarr_dtype *dtype;  /**< parsed dtype (owned by the file) */
    uint64_t itemsize;
    unsigned ndim;
    const uint64_t *shape;     /**< ndim dimensions */
    int64_t strides[MMARR_MAX_DIMS]; /**< byte strides for the order, numpy-style */
    mmarr_order order;
    mmarr_storage storage;
    uint64_t nitems;           /**< product of shape (1 for 0-d) */
    uint64_t nbytes;           /**< raw bytes = nitems * itemsize */
    uint64_t stored_bytes;     /**< bytes in the file (compressed size for cold arrays) */
    uint64_t offset;           /**< file offset of the stored bytes */
    uint64_t checksum;         /**< XXH3-64 of the raw bytes, as recorded (growable arrays:
                                    of their block or chunk checksums, spec.md §7.8) */
    int packed;                /**< 1 if placed at 256-byte alignment in a shared page */
    size_t meta_count;         /**< number of metadata entries */
    void *data;                /**< hot: the bytes in the mapping; cold: NULL (see
                                    mmarr_file_read(), mmarr_file_map()) */
    /* cold arrays (storage MMARR_STORAGE_COLD); zero for hot ones */
    uint64_t chunk_size;       /**< raw bytes per chunk (the last may be shorter) */
    size_t chunk_count;        /**< number of chunks (0 for an empty array) */
    int level;                 /**< zstd level the writer used (informational) */
    int shuffle;               /**< 1 if chunks are byte-shuffled by itemsize (spec.md §10.3) */
    /* growable arrays (spec.md §7.8); zero for others */
    uint64_t capacity; /**< rows (first dimension) it may hold (hot: its reserved region) */
} mmarr_array_info;

/** File-wide facts, filled by mmarr_file_get_info(). */
typedef struct mmarr_file_info {
    const char *path;          /**< as given to mmarr_open, or "<buffer>" */
    unsigned format_major, format_minor;
    uint64_t file_size;        /**< bytes covered by the active generation */
    uint64_t alignment;
    uint64_t generation;
    size_t count;              /**< number of arrays */
    size_t meta_count;         /**< file-level metadata entries */
    uint64_t index_offset, index_size;
    uint64_t required_features, optional_features;
    int writable;              /**< opened with MMARR_OPEN_RDWR */
    int copy_on_write;         /**< opened with MMARR_OPEN_COPY_ON_WRITE: arrays' memory is
                                    writable, changes stay in this process */
    int checksums_stale;       /**< in-place writes may have changed data since checksums */
    int inactive_slot_damaged; /**< the other superblock slot is damaged (open still works) */
    uint64_t damaged_generation; /**< a newer generation that could not be opened (its index
                                      damaged or cut short; spec.md §4.4), so the handle holds
                                      the one before it; 0 if none. mmarr_file_verify()
                                      reports it */
    uint64_t device, inode;    /**< st_dev and st_ino of the file mapped, from the descriptor
                                    mmarr_open() mapped (so they name the file whose bytes the
                                    handle serves even if the path was replaced meanwhile);
                                    0 for buffers */
    uint64_t index_checksum;   /**< XXH3-64 of the active index (spec.md §4.2). With
                                    generation, file_size, index_offset and index_size it is
                                    the file's *content identity* (spec.md §11.3): equal on
                                    every copy of the file and on every machine, and it
                                    vouches for the data while checksums_stale is 0 */
} mmarr_file_info;

/**
 * mmarr_open() — map a file and validate its superblock and whole index (spec.md §12).
 *
 * @param path  file to map.
 * @param flags 0 or MMARR_OPEN_* bits. With MMARR_OPEN_RDWR the file is opened O_RDWR and
 *              mapped writable, and the on-disk "checksums stale" flag is published before
 *              this returns (spec.md §11.2), so verification never mistakes an update for
 *              damage; mmarr_file_flush(MMARR_FLUSH_REHASH) clears it.
 * @param out   receives the handle; NULL on failure.
 * @param err   optional; receives the details on failure.
 * The handle keeps the file's descriptor (O_CLOEXEC) until mmarr_close(): checksums are
 * computed from it with pread(), which costs no page fault per page.
 * @return MMARR_OK, MMARR_E_IO, MMARR_E_BADMAGIC, MMARR_E_VERSION, MMARR_E_CORRUPT,
 *         MMARR_E_CHECKSUM, MMARR_E_TRUNCATED, MMARR_E_UNSUPPORTED, MMARR_E_NOMEM,
 *         MMARR_E_INVAL; with MMARR_OPEN_VERIFY also MMARR_E_STALE.
 */
MMARR_API mmarr_err mmarr_open(const char *path, unsigned flags, mmarr_file **out,
                               mmarr_error *err);

/**
 * Open a file image held in memory (tests, fuzzing, files received over a network). No copy:
 * the caller keeps [data, data+size) alive and unchanged until mmarr_close(). Read-only;
 * MMARR_OPEN_RDWR is refused with MMARR_E_INVAL. Same validation and errors as mmarr_open().
 */
MMARR_API mmarr_err mmarr_open_buffer(const void *data, size_t size, unsigned flags,
                                      mmarr_file **out, mmarr_error *err);

/**
 * A generation of a file as a reader held it: its content identity (spec.md §11.3) and the
 * feature bits it needs. Fill it from mmarr_file_get_info() (same-named fields) to open the
 * same generation again later, in this process or another, with mmarr_open_generation().
 */
typedef struct mmarr_generation {
    uint64_t generation, file_size, index_offset, index_size, index_checksum;
    uint64_t required_features, optional_features;
} mmarr_generation;

/**
 * Open the generation `g` of a file (spec.md §4.4 rule 8): the one a superblock slot names,
 * or an older one, which stays in the file however many generations follow (no byte an
 * earlier generation refers to is ever rewritten) until the file is compacted or replaced.
 * The handle then holds that generation as mmarr_open() would hold the newest: its arrays,
 * names and metadata as they were; mmarr_file_refresh() moves it to the newest.
 * Flags as mmarr_open(); MMARR_OPEN_RDWR only if `g` is the newest generation (in-place
 * writes are published in the newest slot).
 * An older generation is refused while the file's checksums are stale, or when the file was
 * written in place and rehashed since it was published (its arrays may no longer hold the
 * recorded bytes, even arrays deleted since; files whose writer did not record rehashes:
 * when one of its arrays has another checksum in the newest generation).
 * @return as mmarr_open(), and MMARR_E_NOTFOUND if the file does not hold `g` (the message
 *         says why: no such generation yet, its index is no longer there, or its arrays were
 *         rewritten in place), MMARR_E_INVAL
 *         for RDWR on an older generation.
 */
MMARR_API mmarr_err mmarr_open_generation(const char *path, unsigned flags,
                                          const mmarr_generation *g, mmarr_file **out,
                                          mmarr_error *err);

/** Unmap and free. Every pointer obtained from the handle becomes invalid. Accepts NULL. */
MMARR_API void mmarr_close(mmarr_file *f);

/** Copy the handle's most recent error into *out; returns its code (MMARR_OK if none). */
MMARR_API mmarr_err mmarr_file_last_error(mmarr_file *f, mmarr_error *out);

/** File-wide facts. */
MMARR_API void mmarr_file_get_info(const mmarr_file *f, mmarr_file_info *out);

/** Number of arrays. */
MMARR_API size_t mmarr_file_count(const mmarr_file *f);

/**
 * Find an array by name (binary search over the mapped index, no allocation).
 * @param index receives the entry number.
 * @return MMARR_OK, MMARR_E_NOTFOUND, MMARR_E_INVAL.
 */
MMARR_API mmarr_err mmarr_file_find(mmarr_file *f, const char *name, size_t *index,
                                    mmarr_error *err);

/** Describe array number `index` (0..count-1, file order). MMARR_E_INVAL if out of range. */
MMARR_API mmarr_err mmarr_file_array(mmarr_file *f, size_t index, mmarr_array_info *out,
                                     mmarr_error *err);

/** mmarr_file_find() then mmarr_file_array(). */
MMARR_API mmarr_err mmarr_file_find_array(mmarr_file *f, const char *name,
                                          mmarr_array_info *out, mmarr_error *err);

/**
 * File-level metadata entry i (0..meta_count-1, sorted by key). Key and value are
 * NUL-terminated UTF-8 inside the mapping. MMARR_E_INVAL if i is out of range.
 */
MMARR_API mmarr_err mmarr_file_meta(mmarr_file *f, size_t i, const char **key,
                                    const char **value, mmarr_error *err);
/** Value of a file-level metadata key, or NULL if absent. */
MMARR_API const char *mmarr_file_meta_get(const mmarr_file *f, const char *key);
/** Metadata entry i of array `index`. */
MMARR_API mmarr_err mmarr_array_meta(mmarr_file *f, size_t index, size_t i, const char **key,
                                     const char **value, mmarr_error *err);
/** Value of an array's metadata key, or NULL if absent (or index out of range). */
MMARR_API const char *mmarr_array_meta_get(const mmarr_file *f, size_t index, const char *key);

/**
 * Verify one array's data against its checksum; for the values of a ragged item, also every
 * offset and, when the values are hot, the text of UTF-8 items (MMARR_E_CORRUPT).
 * @return MMARR_OK when the data matches its checksum (also while checksums are marked
 *         stale: an unchanged array still verifies); MMARR_E_CHECKSUM on a mismatch (err
 *         names the array, its offset, both hashes); MMARR_E_STALE on a mismatch while the
 *         file's checksums are marked stale (spec.md §11.2), which may be a legitimate update.
 *         Cold arrays: every chunk is decompressed (in parallel, see mmarr_file_set_threads)
 *         and checked against its own checksum, then the whole against the array's;
 *         MMARR_E_CHECKSUM or MMARR_E_CORRUPT (a frame that is not valid zstd) name the chunk.
 */
MMARR_API mmarr_err mmarr_file_verify_array(mmarr_file *f, size_t index, mmarr_error *err);

/**
 * Verify the whole file: every array checksum, zero padding between arrays, and the inactive
 * superblock slot. Stops at the first failure (loop mmarr_file_verify_array() to list all).
 */
MMARR_API mmarr_err mmarr_file_verify(mmarr_file *f, mmarr_error *err);

/**
 * mmarr_file_read() — copy bytes [offset, offset + n) of array `index` (its raw bytes, in the
 * array's own element order) into dst. Hot arrays: the kernel copies from the file (pread;
 * no page of the mapping is faulted in, and a file truncated behind the handle's back is
 * MMARR_E_IO, not SIGBUS); a copy from memory for mmarr_open_buffer() handles. Cold arrays:
 * only the chunks the range touches are decompressed, a range over several chunks on up to
 * mmarr_file_set_threads() threads, and each chunk is checked against its checksum unless
 * the file was opened with MMARR_OPEN_NO_CHUNK_VERIFY. For element ranges, multiply by the
 * itemsize. Safe to call from several threads at once.
 * @return MMARR_OK; MMARR_E_INVAL (index out of range, NULL dst with n > 0); MMARR_E_RANGE
 *         (the range passes the end of the array); MMARR_E_CHECKSUM (a chunk's bytes differ
 *         from its checksum: err names the array, chunk and file offset); MMARR_E_CORRUPT (a
 *         frame that is not valid zstd or declares or yields another size); MMARR_E_NOMEM;
 *         MMARR_E_IO.
 */
MMARR_API mmarr_err mmarr_file_read(mmarr_file *f, size_t index, uint64_t offset, void *dst,
                                    uint64_t n, mmarr_error *err);

/** One chunk of a cold array (spec.md §10.2), filled by mmarr_file_chunk(). */
typedef struct mmarr_chunk_info {
    size_t index;           /**< chunk number */
    uint64_t raw_offset;    /**< first raw byte of the array this chunk holds */
    uint64_t raw_size;      /**< raw bytes (chunk_size, or less for the last chunk) */
    uint64_t stored_offset; /**< file offset of its zstd frame */
    uint64_t stored_size;   /**< compressed bytes */
    uint64_t checksum;      /**< XXH3-64 of the raw bytes */
} mmarr_chunk_info;

/** Describe chunk k (0..chunk_count-1) of cold array `index`. MMARR_E_INVAL for a hot array
 *  or k out of range. */
MMARR_API mmarr_err mmarr_file_chunk(mmarr_file *f, size_t index, size_t k,
                                     mmarr_chunk_info *out, mmarr_error *err);
/** Decompress chunk k of cold array `index` into dst (raw_size bytes), checking it as
 *  mmarr_file_read() does. Iterate k = 0..chunk_count-1 to stream an array. */
MMARR_API mmarr_err mmarr_file_read_chunk(mmarr_file *f, size_t index, size_t k, void *dst,
                                          mmarr_error *err);
/** Threads mmarr_file_read() may use for ranges over several chunks: 0 (default) means the
 *  CPUs this process may run on (its affinity mask), 1 means the calling thread only. An
 *  upper bound: a helper thread is started only for about 256 KiB of raw bytes of its own
 *  (starting one costs more than decompressing less), so small reads run on the caller's
 *  thread. A setting, not synchronised: call it before the handle is shared between threads. */
MMARR_API void mmarr_file_set_threads(mmarr_file *f, unsigned n);

/* ------------------------------------------------------------------------------------------ */
/* Ragged items (spec.md §7.7, format 1.1): a sequence of variable-length arrays of one dtype
 * (any inner shape), or of strings, stored as two arrays: the *values*, all items one after
 * the other along the first dimension, and the *offsets*, count + 1 uint64 row numbers: item
 * i is rows [offsets[i], offsets[i+1]) of the values. The item is named by its values array;
 * both remain ordinary arrays to every other call (mmarr_file_array, read, map, verify). */

typedef enum mmarr_ragged_kind {
    MMARR_RAGGED_ARRAYS = 0, /**< item i: an array of the values' dtype and inner shape */
    MMARR_RAGGED_UTF8 = 1,   /**< item i: UTF-8 text (values "|u1", 1-d) */
    MMARR_RAGGED_BYTES = 2   /**< item i: a byte string (values "|u1", 1-d) */
} mmarr_ragged_kind;

/** A ragged item, filled by mmarr_file_ragged(). */
typedef struct mmarr_ragged_info {
    size_t values;  /**< array index of the values; the item's name is theirs */
    size_t offsets; /**< array index of the offsets ("<u8", count + 1, hot) */
    uint64_t count; /**< number of items */
    mmarr_ragged_kind kind;
} mmarr_ragged_info;

/** Number of ragged items in the file (0 for a 1.0 file). Thread-safe. */
MMARR_API size_t mmarr_file_ragged_count(const mmarr_file *f);
/** Ragged item k (0..count-1, in order of their values' array index) into *out; 0 (and
 *  nothing filled) when k is out of range. Thread-safe. */
MMARR_API int mmarr_file_ragged_at(const mmarr_file *f, size_t k, mmarr_ragged_info *out);

/**
 * Whether array `index` is part of a ragged item, as its values or as its offsets: 1 with
 * *out filled (compare out->values with index to tell which), 0 for a plain array or an index
 * out of range. Reads only the validated index: never fails, thread-safe.
 */
MMARR_API int mmarr_file_ragged(const mmarr_file *f, size_t index, mmarr_ragged_info *out);

/**
 * The offsets of the ragged item whose values are array `index`: *offsets points at
 * count + 1 uint64 in the mapping, valid while f is open. They are checked in full (spec.md
 * §7.7: offsets[0] = 0, never decreasing, offsets[count] = the values' first dimension) at
 * the first call for a read-only handle, at every call for a writable or copy-on-write one
 * (whose memory may have changed). Thread-safe.
 * @return MMARR_OK; MMARR_E_INVAL (index is not the values of a ragged item); MMARR_E_CORRUPT
 *         (err names the item, the element, its value and its file offset).
 */
MMARR_API mmarr_err mmarr_file_ragged_offsets(mmarr_file *f, size_t index, const uint64_t **offsets,
                                              mmarr_error *err);

/**
 * Rows [*start, *stop) of the values that hold item `i` of the ragged item whose values are
 * array `index`, after checking offsets[i] <= offsets[i+1] <= the values' rows (O(1); the
 * whole offsets array is checked by mmarr_file_ragged_offsets() and by verification).
 * Multiply by the values' row size (itemsize x inner dimensions) for bytes. UTF-8 items are
 * not decoded here: a caller that decodes one MUST check it is valid UTF-8 (spec.md §7.7).
 * @return MMARR_OK; MMARR_E_INVAL; MMARR_E_RANGE (i >= count); MMARR_E_CORRUPT.
 */
MMARR_API mmarr_err mmarr_file_ragged_item(mmarr_file *f, size_t index, uint64_t i, uint64_t *start,
                                           uint64_t *stop, mmarr_error *err);

/* ------------------------------------------------------------------------------------------ */
/* Shared decompression cache                                                                 */
/*
 * mmarr_file_map() gives a cold array a pointer, as a hot array has one. The first process
 * that maps a cold array decompresses it into a file of the cache directory and maps that
 * file MAP_SHARED read-only; every later mapping of the same array, from any handle of any
 * process of the same user, maps the same file. N processes then hold one decompressed copy
 * (PSS ~1x, not Nx), and only the first pays for the decompression. The mmarr-cache tool
 * lists and clears the cache (mmarr_cache_list(), mmarr_cache_clear()).
 *
 * Directory: mmarr_file_set_cache(), else $MMARR_CACHE_DIR, else /dev/shm/mmarr-cache-<euid>,
 *   created with mode 0700 if missing; refused unless it is a directory (not a link) owned
 *   by the effective uid with no group or other permission bits.
 * Entries are keyed by the mapped file's identity (device, inode) and everything that
 *   decides the array's bytes (checksums included), so a replaced file or a rewritten array
 *   never finds an old entry; they are filled under a lock, with their whole size reserved
 *   first (a full tmpfs is an error then, never a SIGBUS later), and published by rename.
 *   Entries no process maps are evicted, least recently used first, to keep the directory
 *   under its bound ($MMARR_CACHE_MAX, default half its file system); mapped entries never
 *   are. docs/cache-protocol.md states the cross-process protocol (key derivation, names,
 *   locks, temporaries, eviction) that every process using the directory keeps.
 * Private fallback: when the cache cannot hold the array (larger than the bound, bound
 *   full of mapped entries, tmpfs full), when the directory is unusable, and for handles of
 *   mmarr_open_buffer() (no file identity), the array is decompressed into private anonymous
 *   memory of this handle instead. mmarr_file_map() still succeeds; mmarr_file_map_info()
 *   tells which happened and why.
 * Lifetimes: pointers from mmarr_file_map() stay valid until mmarr_close(), which unmaps
 *   them and releases the entries (they stay in the cache for the next user). Each array
 *   mapped through the cache keeps one file descriptor open until then.
 * Threads: all calls are safe from several threads on one handle. A thread mapping an array
 *   that another thread of the same handle is decompressing waits for it; other arrays
 *   proceed in parallel. Do not fork() while another thread is inside mmarr_file_map() or
 *   mmarr_file_set_cache() on the same handle (the child's copy of the handle's lock would
 *   stay held); mappings made before fork() are inherited and stay valid in the child.
 */

/**
 * mmarr_file_map() — a read-only pointer to the whole raw bytes of array `index`.
 *
 * Hot array: the pointer into the file's mapping (mmarr_array_info.data; writable for a
 * MMARR_OPEN_RDWR handle). Cold array: the decompressed bytes, from the shared cache or a
 * private copy (see above), mapped read-only (PROT_READ) even for a MMARR_OPEN_RDWR handle:
 * cold data is never modified in place (spec.md §11.2), so writing through it faults. For a
 * MMARR_OPEN_COPY_ON_WRITE handle both are writable, copy-on-write (MAP_PRIVATE): the cache
 * entry's unwritten pages stay shared with its other users.
 * Chunks are checked against their checksums while decompressing, as mmarr_file_read() does.
 * Repeated calls on the same handle return the same pointer without further work. An empty
 * cold array gives a non-NULL pointer that must not be dereferenced.
 *
 * @param data receives the pointer; NULL on failure. Valid until mmarr_close().
 * @return MMARR_OK (also when the cache could not be used); MMARR_E_INVAL (index out of
 *         range, NULL data); MMARR_E_NOMEM (no memory for a private copy or the mapping);
 *         MMARR_E_CHECKSUM / MMARR_E_CORRUPT when a chunk is damaged (err names the array
 *         and chunk; nothing is cached); MMARR_E_RANGE (larger than this host's address
 *         space). Cache problems are never errors here.
 */
MMARR_API mmarr_err mmarr_file_map(mmarr_file *f, size_t index, const void **data,
                                   mmarr_error *err);

/** Where the bytes of a mapped array come from (mmarr_map_info.source). */
typedef enum mmarr_map_source {
    MMARR_MAP_NONE = 0,    /**< cold array not mapped through this handle (yet) */
    MMARR_MAP_FILE = 1,    /**< hot array: the file's own mapping */
    MMARR_MAP_CACHE = 2,   /**< cold array: a shared cache entry (MAP_SHARED, read-only) */
    MMARR_MAP_PRIVATE = 3  /**< cold array: a private copy of this handle; see reason */
} mmarr_map_source;

/** Filled by mmarr_file_map_info(). */
typedef struct mmarr_map_info {
    mmarr_map_source source;
    const void *data;     /**< the pointer mmarr_file_map() returned; NULL for NONE */
    uint64_t bytes;       /**< raw bytes of the array */
    char entry[33];       /**< MMARR_MAP_CACHE: the entry's file name in the cache directory
                               (32 hex digits); else "" */
    mmarr_error reason;   /**< MMARR_MAP_PRIVATE: why the cache was not used, e.g.
                               MMARR_E_NOSPACE (larger than the bound, bound full of mapped
                               entries, tmpfs full), MMARR_E_IO (directory refused or
                               unusable; the message names it), MMARR_E_UNSUPPORTED (buffer
                               handle, or the mapped file cannot be identified), or MMARR_OK
                               for an empty array (nothing to share). Code MMARR_OK otherwise. */
} mmarr_map_info;

/** Describe how array `index` is mapped by this handle. @return MMARR_OK, MMARR_E_INVAL. */
MMARR_API mmarr_err mmarr_file_map_info(mmarr_file *f, size_t index, mmarr_map_info *out,
                                        mmarr_error *err);

/**
 * mmarr_file_set_cache() — choose the cache directory and size bound for this handle's later
 * mmarr_file_map() calls (arrays mapped before keep their mappings). Optional: the first cold
 * mapping otherwise uses the defaults. The directory is created, opened and checked now.
 *
 * @param dir       NULL for the default: $MMARR_CACHE_DIR if set, else
 *                  /dev/shm/mmarr-cache-<euid>.
 * @param max_bytes bound on the cache's total size; 0 for the default: $MMARR_CACHE_MAX if
 *                  set (bytes, or with a K, M, G or T suffix, binary multiples), else half
 *                  the size of the filesystem holding the directory (half of the physical
 *                  memory if that filesystem reports no size). The bound is applied by the
 *                  process adding an entry, with its own setting.
 * @return MMARR_OK; MMARR_E_IO (cannot create or open the directory, or it is refused: a
 *         symbolic link, not a directory, another owner, group/other permission bits; the
 *         message names it); MMARR_E_INVAL ($MMARR_CACHE_MAX is not a size > 0);
 *         MMARR_E_RANGE (path too long); MMARR_E_NOMEM. On failure the previous setting stays.
 */
MMARR_API mmarr_err mmarr_file_set_cache(mmarr_file *f, const char *dir, uint64_t max_bytes,
                                         mmarr_error *err);

/** How the kernel backs a mapping of files in a directory (mmarr_pages_of()): what a
 *  process's first pass over a freshly mapped array costs. */
typedef enum mmarr_page_kind {
    MMARR_PAGES_UNKNOWN = 0,     /**< not a filesystem this library knows (NFS, FUSE...) */
    MMARR_PAGES_SMALL_SHMEM = 1, /**< tmpfs of 4 KiB pages (the default /dev/shm): one fault
                                  *   per page, the slow path (~7x a huge-page first pass) */
    MMARR_PAGES_HUGE_SHMEM = 2,  /**< tmpfs with huge pages (huge=always/within_size, or
                                  *   shmem_enabled "force"): 2 MiB mapped at once */
    MMARR_PAGES_PAGE_CACHE = 3   /**< a disk filesystem's page cache (ext4, xfs, btrfs...):
                                  *   large folios where the kernel has them */
} mmarr_page_kind;

/** What mmarr_pages_of() found. */
typedef struct mmarr_pages_info {
    mmarr_page_kind kind;
    char fs_type[32];      /**< the mount's filesystem type, e.g. "tmpfs", "ext4" ("" unknown) */
    char mount_point[256]; /**< the mount holding the path (cut to fit) */
    char huge[16];         /**< tmpfs: its huge= option ("never" if absent), or "force" /
                            *   "deny" when shmem_enabled overrides it; else "" */
} mmarr_pages_info;

/** How mappings of files under `path` (a file or directory that exists) will be backed,
 *  from /proc/self/mountinfo and the kernel's shmem_enabled setting; MMARR_PAGES_UNKNOWN
 *  where they cannot be read. Thread-safe. @return MMARR_OK, MMARR_E_IO (path cannot be
 *  resolved), MMARR_E_INVAL. */
MMARR_API mmarr_err mmarr_pages_of(const char *path, mmarr_pages_info *out, mmarr_error *err);

/** A short static name for a page kind ("tmpfs, 4 KiB pages", "page cache"...). */
MMARR_API const char *mmarr_pages_name(mmarr_page_kind kind);

/** The default cache directory ($MMARR_CACHE_DIR, else /dev/shm/mmarr-cache-<euid>) into
 *  buf (NUL-terminated). Nothing is created. @return MMARR_OK, MMARR_E_RANGE (buf too small),
 *  MMARR_E_INVAL. */
MMARR_API mmarr_err mmarr_cache_default_dir(char *buf, size_t size, mmarr_error *err);

/** The default size bound for `dir` (NULL: the default directory), as mmarr_file_set_cache()
 *  computes it for max_bytes 0. The directory must exist. @return MMARR_OK, MMARR_E_IO,
 *  MMARR_E_INVAL ($MMARR_CACHE_MAX invalid), MMARR_E_RANGE. */
MMARR_API mmarr_err mmarr_cache_default_max(const char *dir, uint64_t *max_bytes,
                                            mmarr_error *err);

/** One cache entry, passed to the mmarr_cache_list() callback (valid during the call). */
typedef struct mmarr_cache_entry {
    const char *name;       /**< file name in the cache directory (32 hex digits) */
    uint64_t bytes;         /**< size: the array's raw bytes */
    int64_t last_used_unix; /**< when it was last mapped (its mtime), seconds since 1970 */
    int in_use;             /**< 1 if some process maps it now */
} mmarr_cache_entry;

/**
 * mmarr_cache_list() — call cb for every complete entry of the cache directory `dir` (NULL:
 * the default), least recently used first (the eviction order among unmapped entries). A
 * nonzero return from cb stops the listing. A directory that does not exist has no entries.
 * Temporaries and lock files are not listed. The directory is checked as for
 * mmarr_file_set_cache(), but never created.
 * @return MMARR_OK (also when cb stopped early); MMARR_E_INVAL (NULL cb); MMARR_E_IO;
 *         MMARR_E_RANGE; MMARR_E_NOMEM.
 */
MMARR_API mmarr_err mmarr_cache_list(const char *dir,
                                     int (*cb)(const mmarr_cache_entry *e, void *ctx),
                                     void *ctx, mmarr_error *err);

/**
 * mmarr_cache_clear() — shrink the cache directory `dir` (NULL: the default) to at most
 * `keep_bytes` bytes of entries (0: remove every entry). Entries no process maps go first,
 * least recently used first, then mapped ones (removing a mapped entry is safe: its mappers
 * keep their pages, which are freed when the last of them unmaps; a later mapper makes a new
 * entry). Also removes temporaries left by processes that died while filling an entry and
 * lock files nobody holds. Files whose names are not cache names are left alone.
 * @param removed_bytes optional; receives the bytes of the entries and temporaries removed.
 * @return MMARR_OK (also for a directory that does not exist); MMARR_E_IO (directory refused,
 *         or an unlink failed: the message names the file); MMARR_E_RANGE; MMARR_E_NOMEM.
 */
MMARR_API mmarr_err mmarr_cache_clear(const char *dir, uint64_t keep_bytes,
                                      uint64_t *removed_bytes, mmarr_error *err);

/** Access hints for mmarr_file_advise(). */
typedef enum mmarr_advice {
    MMARR_ADVICE_NORMAL = 0,
    MMARR_ADVICE_SEQUENTIAL = 1,
    MMARR_ADVICE_RANDOM = 2,
    MMARR_ADVICE_WILLNEED = 3, /**< start reading ahead now (asynchronous) */
    MMARR_ADVICE_DONTNEED = 4, /**< drop this process's page mappings (data stays in file) */
    MMARR_ADVICE_HUGEPAGE = 5  /**< ask for transparent huge pages where the kernel can */
} mmarr_advice;

/** Whole file, for the `index` argument of the memory functions below. */
#define MMARR_ALL SIZE_MAX

/** madvise() an array's pages (or MMARR_ALL). Not for buffer handles (MMARR_E_INVAL). */
MMARR_API mmarr_err mmarr_file_advise(mmarr_file *f, size_t index, mmarr_advice advice,
                                      mmarr_error *err);
/**
 * mmarr_file_advise_range() — madvise() bytes [offset, offset + length) of hot array `index`
 * (rounded out to whole pages, clipped to the mapping). With MMARR_ADVICE_DONTNEED the
 * process's page mappings of that range are dropped: its RSS falls, the data stays in the
 * page cache (and in the file: writes through a MMARR_OPEN_RDWR handle are not lost), and a
 * later access maps the pages back in. Pages that other views share are remapped on their
 * next access. MMARR_E_INVAL for a cold array (whose bytes are not the file's), a range
 * outside the array, or a buffer handle.
 */
MMARR_API mmarr_err mmarr_file_advise_range(mmarr_file *f, size_t index, uint64_t offset,
                                            uint64_t length, mmarr_advice advice, mmarr_error *err);
/** Fault an array's pages (or MMARR_ALL) into this process now, reading them if needed. */
MMARR_API mmarr_err mmarr_file_prefetch(mmarr_file *f, size_t index, mmarr_error *err);

/**
 * mmarr_file_resident() — how much of an array is in memory right now: the bytes of its
 * stored range that lie on pages of the page cache, as mincore(2) reports them (like vmtouch).
 * Nothing is read or faulted in. The answer is a snapshot; the kernel may read or evict pages
 * at any moment.
 *
 * @param index          array number, or MMARR_ALL for the whole mapped file.
 * @param resident_bytes receives the resident bytes, 0..total: a page counts whole or not at
 *                       all, clipped to the range, so packed arrays sharing a page each count
 *                       only their own bytes. Set only on success.
 * @param total_bytes    optional (may be NULL); receives the bytes asked about: the stored
 *                       bytes (stored_bytes of mmarr_array_info; for a cold array, its
 *                       compressed chunks), or the file's length for MMARR_ALL.
 * @return MMARR_OK (an empty array gives 0 of 0); MMARR_E_INVAL (index out of range, NULL
 *         resident_bytes); MMARR_E_UNSUPPORTED for a mmarr_open_buffer() handle (its memory
 *         is the caller's, not the file's pages); MMARR_E_IO if mincore fails (sys_errno).
 * Linux (>= 5.0) reports page-cache pages only for files the caller owns or could open for
 * writing; for other files it counts only the pages mapped into this process.
 * Threads: like every reader call, safe on a handle shared between threads.
 */
MMARR_API mmarr_err mmarr_file_resident(mmarr_file *f, size_t index, uint64_t *resident_bytes,
                                        uint64_t *total_bytes, mmarr_error *err);
/** mlock() an array's pages (or MMARR_ALL). MMARR_E_IO with EPERM/ENOMEM when not permitted
 *  (RLIMIT_MEMLOCK). */
MMARR_API mmarr_err mmarr_file_lock(mmarr_file *f, size_t index, mmarr_error *err);
/** munlock() what mmarr_file_lock() locked. */
MMARR_API mmarr_err mmarr_file_unlock(mmarr_file *f, size_t index, mmarr_error *err);

/** Flags for mmarr_file_flush(). */
#define MMARR_FLUSH_ASYNC 0x1u  /**< schedule the write-back, do not wait */
#define MMARR_FLUSH_REHASH 0x2u /**< recompute checksums and clear the stale flag */

/**
 * Write changes made through a read-write mapping back to the file (msync). With
 * MMARR_FLUSH_REHASH, also recompute every array checksum, append a new index and publish
 * it through the inactive superblock slot with the stale flag cleared (spec.md §11.2).
 * A rehash is the handle's last write: it needs every other read-write handle on the file
 * closed (each holds a shared flock; else MMARR_E_STATE), and afterwards this handle is
 * read-only (its mappings become PROT_READ, so a stray write faults instead of silently
 * breaking the new checksums). Array infos obtained before stay valid for reading. The file
 * grows by one index per rehash.
 * @return MMARR_OK, MMARR_E_READONLY, MMARR_E_STATE, MMARR_E_IO, MMARR_E_NOSPACE,
 *         MMARR_E_NOMEM.
 */
MMARR_API mmarr_err mmarr_file_flush(mmarr_file *f, unsigned flags, mmarr_error *err);

/**
 * mmarr_file_refresh() — move the handle to the newest generation of its file (spec.md §4.4),
 * published by an appender since it was opened or last refreshed. Every pointer handed out
 * before stays valid (the old mappings are kept until mmarr_close), but array numbers, infos
 * and views obtained later describe the new generation. The file is the one the handle has
 * open: a file replaced by rename is another file (open it again). Nothing changes if no
 * newer generation is valid; *changed (may be NULL) says whether the handle moved.
 * Not for buffers or MMARR_OPEN_RDWR / COPY_ON_WRITE handles (MMARR_E_INVAL), and not while
 * another thread uses the handle. @return MMARR_OK, the errors of mmarr_open(), MMARR_E_INVAL.
 */
MMARR_API mmarr_err mmarr_file_refresh(mmarr_file *f, int *changed, mmarr_error *err);

/**
 * mmarr_file_wait() — block until the file has a generation newer than the handle's, or
 * `timeout_ms` passes (negative: no limit). It sleeps on inotify, where the kernel offers it
 * for the file's filesystem, and otherwise checks the superblock at growing intervals (up to
 * 50 ms); it does not refresh. *newer (may be NULL) is 1 if a newer generation is there.
 * @return MMARR_OK (also on timeout), MMARR_E_INVAL (a buffer), MMARR_E_IO.
 */
MMARR_API mmarr_err mmarr_file_wait(mmarr_file *f, int timeout_ms, int *newer, mmarr_error *err);

/**
 * mmarr_file_write() — copy n bytes from src into bytes [offset, offset + n) of hot array
 * `index` (its raw bytes, in the array's own element order) through the file descriptor
 * (pwrite), for a handle opened with MMARR_OPEN_RDWR. The bytes are the same as a write
 * through the mapping would leave (every shared mapping of the file sees them at once), but
 * no page of this process's mapping is faulted in: the way to fill large regions from
 * another buffer (on tmpfs, or in a VM, each 4 KiB page fault costs more than its copy).
 * Durable after mmarr_file_flush(). Safe from several threads for disjoint ranges.
 * @return MMARR_OK; MMARR_E_READONLY (not opened read-write, or rehashed); MMARR_E_INVAL
 *         (index out of range, a cold array, NULL src with n > 0); MMARR_E_RANGE (the range
 *         passes the end of the array); MMARR_E_IO, MMARR_E_NOSPACE.
 */
MMARR_API mmarr_err mmarr_file_write(mmarr_file *f, size_t index, uint64_t offset, const void *src,
                                     uint64_t n, mmarr_error *err);

/* ------------------------------------------------------------------------------------------ */
/* Writing                                                                                    */

typedef struct mmarr_writer mmarr_writer;

/** Writer options. Zero-initialise, then set what you need (0 means the default). */
typedef struct mmarr_writer_options {
    uint32_t alignment;        /**< power of two 4096..2 MiB; default 4096 */
    uint64_t pack_threshold;   /**< arrays smaller than this many bytes are packed at 256-byte
                                    alignment; default 2048; MMARR_PACK_NONE disables */
    unsigned flags;            /**< MMARR_WRITE_* */
} mmarr_writer_options;

#define MMARR_PACK_NONE UINT64_MAX
/** Fail the commit with MMARR_E_EXISTS if the target already exists. */
#define MMARR_WRITE_NO_REPLACE 0x1u
/** Skip fsync (tests and scratch files on tmpfs): the rename is still atomic for readers. */
#define MMARR_WRITE_NO_SYNC 0x2u
/**
 * Reserved memory outlives the writer (for bindings whose views may outlive it). Commit and
 * mmarr_writer_free() then do not unmap what mmarr_writer_reserve() returned: each reservation
 * stays at its address, readable and writable, and becomes the caller's, to be released with
 * mmarr_reserved_release(). After a successful commit it is a private copy-on-write mapping
 * of the committed bytes (reads see what was written; later writes stay in this process and
 * never reach the file, whose checksums are final); after an abandon (free without commit)
 * it holds zero pages. A failed commit leaves it as after an abandon or, if the failure came
 * after the checksums, as after a commit.
 */
#define MMARR_WRITE_KEEP_RESERVED 0x4u

/**
 * mmarr_writer_create() — start writing `path`. Nothing appears at `path` until commit: the
 * data goes to an unnamed temporary file in the same directory (O_TMPFILE, mode
 * 0666 & ~umask), so a crash or kill while writing leaves nothing behind; commit links it in
 * as "<path>.tmp.XXXXXX" and renames that over `path`. Where the file system has no O_TMPFILE
 * (or /proc is not mounted) the temporary is "<path>.tmp.XXXXXX" from the start, and any
 * failure or mmarr_writer_free() removes it. @param opts may be NULL for defaults.
 * @return MMARR_OK, MMARR_E_INVAL (bad options), MMARR_E_IO, MMARR_E_NOMEM.
 */
MMARR_API mmarr_err mmarr_writer_create(const char *path, const mmarr_writer_options *opts,
                                        mmarr_writer **out, mmarr_error *err);

/**
 * Add an array by copying nbytes = itemsize * product(shape) bytes from `data` (which may be
 * NULL only when nbytes is 0). The bytes are taken as-is, in the given order and in the
 * byte order `dtype` declares. Space is reserved in the file first (posix_fallocate).
 * @return MMARR_OK; MMARR_E_EXISTS (duplicate name); MMARR_E_DTYPE; MMARR_E_RANGE (shape
 *         overflow, ndim > 64, name too long); MMARR_E_INVAL (empty or non-UTF-8 name);
 *         MMARR_E_NOSPACE (message says which filesystem, how much is free, and for tmpfs how
 *         to grow it); MMARR_E_IO; MMARR_E_STATE after commit or failure.
 * After a failure other than INVAL/EXISTS/DTYPE/RANGE the writer is unusable (STATE).
 */
MMARR_API mmarr_err mmarr_writer_add(mmarr_writer *w, const char *name, const char *dtype,
                                     unsigned ndim, const uint64_t *shape, mmarr_order order,
                                     const void *data);

/**
 * Reserve an array and return a writable pointer to its nbytes bytes inside the output file,
 * so it can be generated in place without a copy. The memory is zero-filled and stays valid
 * until commit or free. Same errors as mmarr_writer_add(). *ptr is NULL for nbytes 0.
 */
MMARR_API mmarr_err mmarr_writer_reserve(mmarr_writer *w, const char *name, const char *dtype,
                                         unsigned ndim, const uint64_t *shape,
                                         mmarr_order order, void **ptr);

/**
 * Release reserved memory kept by a writer created with MMARR_WRITE_KEEP_RESERVED: `ptr` as
 * mmarr_writer_reserve() returned it and `nbytes` = itemsize * product(shape) of that array
 * (the pages from ptr's page to the array's end are unmapped), once, after commit or
 * mmarr_writer_free(). No-op for NULL or 0. Any thread; the memory must not be used after.
 */
MMARR_API void mmarr_reserved_release(void *ptr, uint64_t nbytes);

/** Default raw bytes per chunk of a cold array (bench/README.md explains the choice). */
#define MMARR_DEFAULT_CHUNK_SIZE (1u << 20)
/** Default zstd level of cold arrays. */
#define MMARR_DEFAULT_LEVEL 3

/** How a cold array is stored (spec.md §10). Zero-initialise; 0 means the default. */
typedef struct mmarr_compress_options {
    int level;           /**< zstd level (1..22, negative for the fast modes); 0: 3 */
    uint64_t chunk_size; /**< raw bytes per chunk, 1..1 GiB; 0: MMARR_DEFAULT_CHUNK_SIZE */
    int shuffle;         /**< nonzero: byte-shuffle each chunk by itemsize before compressing
                              (like Blosc; often much smaller for numeric data) */
    unsigned threads;    /**< compression threads; 0: the CPUs the process may use. An
                              upper bound: each thread gets at least ~256 KiB of raw bytes
                              per batch, so a small array is compressed on one thread */
} mmarr_compress_options;

/**
 * Add a cold array: its nbytes bytes are cut into chunks, each compressed into an
 * independent zstd frame on `opts->threads` threads, with a checksum per chunk (spec.md §10).
 * @param opts NULL for the defaults. Other parameters and errors as mmarr_writer_add(); also
 *             MMARR_E_INVAL for a chunk size outside 1..1 GiB or a level zstd refuses.
 */
MMARR_API mmarr_err mmarr_writer_add_cold(mmarr_writer *w, const char *name, const char *dtype,
                                          unsigned ndim, const uint64_t *shape,
                                          mmarr_order order, const void *data,
                                          const mmarr_compress_options *opts);

/**
 * Streaming: start an array whose bytes arrive in pieces through mmarr_writer_write(), for
 * inputs larger than memory. `opts` NULL stores it hot (raw), else cold with those options.
 * Exactly nbytes = itemsize * product(shape) bytes must be written before mmarr_writer_end();
 * no other array can be added in between (MMARR_E_STATE).
 */
MMARR_API mmarr_err mmarr_writer_begin(mmarr_writer *w, const char *name, const char *dtype,
                                       unsigned ndim, const uint64_t *shape, mmarr_order order,
                                       const mmarr_compress_options *opts);
/** Append n bytes to the array begun by mmarr_writer_begin(). MMARR_E_RANGE past nbytes. */
MMARR_API mmarr_err mmarr_writer_write(mmarr_writer *w, const void *data, size_t n);
/** Finish the array begun by mmarr_writer_begin(). MMARR_E_RANGE if bytes are missing. */
MMARR_API mmarr_err mmarr_writer_end(mmarr_writer *w);

/**
 * Make the added (or reserved, or streamed and ended) arrays `values` and `offsets` one
 * ragged item named `values` (spec.md §7.7; the file becomes format 1.1). `offsets` must be
 * "<u8", 1-d with count + 1 >= 1 elements, hot; `values` must have at least one dimension and
 * C order when it has more; for MMARR_RAGGED_UTF8 and MMARR_RAGGED_BYTES, "|u1" and 1-d.
 * UTF-8 items must be valid UTF-8 (readers refuse to decode those that are not). Their
 * content (offsets[0] = 0, never decreasing, offsets[count] = the values' first dimension)
 * is checked at commit, which fails with MMARR_E_INVAL naming the element otherwise.
 * @return MMARR_OK; MMARR_E_NOTFOUND (no such array); MMARR_E_INVAL (the constraints above,
 *         an array already part of a ragged item, values == offsets); MMARR_E_STATE.
 */
MMARR_API mmarr_err mmarr_writer_ragged(mmarr_writer *w, const char *values, const char *offsets,
                                        mmarr_ragged_kind kind);

/** Set file-level metadata `key` to UTF-8 `value` (replacing an earlier value). */
MMARR_API mmarr_err mmarr_writer_set_file_meta(mmarr_writer *w, const char *key,
                                               const char *value);
/** Set metadata `key` = `value` on the already added array `name`. */
MMARR_API mmarr_err mmarr_writer_set_array_meta(mmarr_writer *w, const char *name,
                                                const char *key, const char *value);

/**
 * Finish: checksum reserved arrays, write the index and superblock, fsync, rename over the
 * target atomically, fsync the directory. On failure the target is untouched (the old file
 * or none) and the temporary is removed, with one exception: if only the final fsync of the
 * directory fails, the new file is already in place and complete (it may not survive a power
 * loss); commit then returns MMARR_E_IO with a message saying so, and the writer counts as
 * committed.
 * @return MMARR_OK, MMARR_E_IO, MMARR_E_NOSPACE, MMARR_E_EXISTS (NO_REPLACE), MMARR_E_STATE.
 */
MMARR_API mmarr_err mmarr_writer_commit(mmarr_writer *w);

/** Abandon (if not committed), remove the temporary, and free. Accepts NULL. An appending
 * writer (mmarr_writer_open_append) gives back the space it took: the file is as before. */
MMARR_API void mmarr_writer_free(mmarr_writer *w);

/**
 * Add a *growable* array (spec.md §7.8, format 1.2): `ndim` >= 1, C order, hot, whose first
 * dimension may grow in place up to `capacity` rows (mmarr_writer_append_rows, now or by a
 * later appender). Its region of capacity rows is reserved in the file as a sparse region: no
 * disk or tmpfs pages until rows are written there. `data` holds shape[0] rows (may be NULL
 * when there are none). Its data are checksummed by 1 MiB blocks, so an append hashes what it
 * adds plus at most one block. @return as mmarr_writer_add(), and MMARR_E_INVAL (ndim 0,
 * capacity < shape[0] or 0), MMARR_E_RANGE (the capacity in bytes overflows).
 */
MMARR_API mmarr_err mmarr_writer_add_growable(mmarr_writer *w, const char *name, const char *dtype,
                                              unsigned ndim, const uint64_t *shape,
                                              uint64_t capacity, const void *data);

/**
 * Add a *cold growable* array (spec.md §7.8): like mmarr_writer_add_growable() (`ndim` >= 1,
 * C order, up to `capacity` rows), stored cold in zstd chunks as mmarr_writer_add_cold()
 * with `opts` (NULL: the defaults). Nothing is reserved: appended rows become new chunks
 * after the file's end, and the capacity only bounds them. Its checksum is that of its chunk
 * checksums, so an append costs the appended bytes plus at most one chunk.
 * @return as mmarr_writer_add_cold(), and MMARR_E_INVAL (ndim 0, capacity < shape[0] or
 * 0), MMARR_E_RANGE (the capacity in bytes overflows).
 */
MMARR_API mmarr_err mmarr_writer_add_growable_cold(mmarr_writer *w, const char *name,
                                                   const char *dtype, unsigned ndim,
                                                   const uint64_t *shape, uint64_t capacity,
                                                   const void *data,
                                                   const mmarr_compress_options *opts);

/**
 * Append `rows` rows (row = the product of the inner dimensions x itemsize bytes; `nbytes`, the
 * size of `data`, must be rows x row: a guard against a buffer of another shape or dtype)
 * to the growable array `name`, in place after its rows: nothing already written moves, and
 * readers of earlier generations never see the new rows (their shape says otherwise). The
 * space is reserved first (posix_fallocate): a full disk is MMARR_E_NOSPACE with nothing
 * published. A cold growable array gains chunks after the file's end: the raw bytes of its
 * last chunk, if it was not full, are decoded (once per writer) and compressed again with
 * the new rows; the old last frame stays for earlier generations (dead space until the file
 * is compacted), so appending whole chunks at a time wastes nothing.
 * @return MMARR_OK, MMARR_E_NOTFOUND, MMARR_E_INVAL (not growable, NULL data),
 * MMARR_E_RANGE (past the capacity), MMARR_E_NOSPACE, MMARR_E_IO, MMARR_E_STATE;
 * MMARR_E_CHECKSUM or MMARR_E_CORRUPT when a cold array's last chunk is damaged.
 */
MMARR_API mmarr_err mmarr_writer_append_rows(mmarr_writer *w, const char *name, const void *data,
                                             uint64_t rows, uint64_t nbytes);

/**
 * What the writer holds as array `name` (one of an appended-to file, or added since): name,
 * dtype_str, itemsize, ndim, shape, order, nbytes, storage, capacity (growable arrays) and
 * index (its entry number in the writer) are filled; `dtype`, `data` and the cold fields are
 * not. The strings and shape live until the writer's next call. @return MMARR_OK,
 * MMARR_E_NOTFOUND, MMARR_E_INVAL.
 */
MMARR_API mmarr_err mmarr_writer_array_info(mmarr_writer *w, const char *name,
                                            mmarr_array_info *out);

/** Wait for the writer lock instead of failing with MMARR_E_BUSY (mmarr_writer_open_append). */
#define MMARR_WRITE_WAIT 0x8u

/**
 * mmarr_writer_open_append() — add to an existing file in place (spec.md §4.4): arrays (hot,
 * cold, reserved, streamed, ragged), metadata, deletions. New bytes go after the file's end
 * and become visible at commit as the next *generation*: the new index is written after them,
 * synced, and published through the inactive superblock slot. Nothing already in the file is
 * moved or rewritten, so readers keep the generation they opened until they ask for a newer
 * one (mmarr_file_refresh), and a crash at any point leaves the previous generation.
 *
 * One writer at a time: the writer holds an advisory lock (an OFD lock on byte 320 of the
 * file, which readers never take) until commit or free; another appender, or a handle opened
 * with MMARR_OPEN_RDWR, gets MMARR_E_BUSY, or waits with MMARR_WRITE_WAIT. opts: flags
 * MMARR_WRITE_NO_SYNC, MMARR_WRITE_WAIT, MMARR_WRITE_KEEP_RESERVED and pack_threshold apply;
 * the alignment is the file's. Adding a name that exists is MMARR_E_EXISTS: delete it first
 * (mmarr_writer_delete) to replace it. Metadata set for a key that exists replaces its value.
 * @return MMARR_OK, MMARR_E_BUSY, MMARR_E_INVAL, MMARR_E_NOMEM, MMARR_E_IO, and the errors of
 *         mmarr_open() for the file.
 */
MMARR_API mmarr_err mmarr_writer_open_append(const char *path, const mmarr_writer_options *opts,
                                             mmarr_writer **out, mmarr_error *err);

/**
 * Remove array `name` from what the commit will publish (an array of the file or one added
 * since). Its bytes stay in the file, as dead space, until the file is compacted (re-packed
 * into a new file). For a ragged item give the values' name: both arrays go. Its metadata
 * goes with it. @return MMARR_OK, MMARR_E_NOTFOUND, MMARR_E_INVAL (the offsets array of a
 * ragged item, or an array being streamed), MMARR_E_STATE.
 */
MMARR_API mmarr_err mmarr_writer_delete(mmarr_writer *w, const char *name);

/** The writer's latest error (never NULL; code MMARR_OK if none). */
MMARR_API const mmarr_error *mmarr_writer_error(const mmarr_writer *w);

/** Number of arrays added so far. */
MMARR_API size_t mmarr_writer_count(const mmarr_writer *w);

#ifdef __cplusplus
}
#endif
#endif /* MMARR_H */
