/* SPDX-License-Identifier: MIT */
/*
 * mm_writer.h — the write handle, shared by writer.c (tables, layout, add, reserve, commit)
 * and writer_stream.c (arrays written in pieces, cold arrays).
 */
#ifndef MM_WRITER_H
#define MM_WRITER_H

#include "mm_internal.h"
#include "mm_xxhash.h"

#define MM_STAGE_CAP (1u << 20)          /* staging buffer for small arrays */
#define MM_STAGE_MAX_ARRAY (64u << 10)   /* arrays up to this size go through staging */
#define MM_RESERVE_STEP (16ull << 20)    /* grow the fallocated region by its size, up to */
#define MM_RESERVE_MIN_STEP (256u << 10) /* this much, and at least this */

typedef struct mm_wmap {
    void *addr;
    size_t len;
    size_t entry;
} mm_wmap;

/* Open-addressing hash set of heap strings -> u32 id (+1; 0 = empty). */
typedef struct mm_strmap {
    uint32_t *slots;
    size_t cap, count;
} mm_strmap;

struct mmarr_writer {
    char *path;
    mm_tmpfile tmp; /* publish.c */
    int fd;         /* tmp.fd */
    char *tmp_path; /* tmp.path: the temporary's name, or a name for messages */
    bool failed, committed;
    mmarr_writer_options opt;
    mmarr_error err;

    uint64_t cursor;       /* next free offset (aligned) */
    uint64_t reserved_end; /* fallocated up to here */

    unsigned char *stage; /* bytes for [stage_off, stage_off + stage_len) */
    uint64_t stage_off;
    size_t stage_len;

    mmarr_disk_entry *ents;
    size_t n, ecap;
    mm_strref *wnames; /* name of ents[i] in the working heap */
    size_t wncap;
    uint64_t *dims;
    size_t ndims, dcap;
    uint32_t recent_dims[8]; /* dims runs of recent distinct shapes, shared by equal ones */
    uint8_t recent_ndim[8];
    unsigned recent_next;
    mm_sbuf heap; /* names and dtype texts (mm_heap_put) */
    mmarr_disk_dtype *dtypes;
    size_t ndtypes, dtcap;
    mm_strmap names, dtype_map;
    char *last_dtype_text; /* cache: last input text -> last dtype id */
    uint32_t last_dtype_id;
    uint64_t last_itemsize;
    mm_index_meta *meta;
    size_t nmeta, mcap;
    mm_wmap *maps;
    size_t nmaps, mapcap;

    /* cold arrays (spec.md §10) */
    mmarr_disk_cold *colds;
    size_t ncolds, ccap;
    mmarr_disk_chunk *chunks;
    size_t nchunks, chcap;

    /* growable arrays (spec.md §7.8, writer_growable.c), in entry order; `growing` while
     * one is being placed (never packed, its capacity reserved) */
    mm_wgrow *grow;
    size_t ngrow, growcap;
    bool growing;

    /* ragged items (spec.md §7.7): values/offsets entry numbers, kind (writer_ragged.c) */
    mmarr_disk_ragged *rag;
    size_t nrag, ragcap;

    /* appending to an existing file (writer_append.c): fd is that file, locked */
    struct mm_wappend {
        bool on;
        uint64_t old_length;  /* the file's length before: given back on abandon */
        mmarr_disk_slot slot; /* the generation appended to */
        unsigned active_slot; /* its slot: 0 = A, 1 = B; the commit writes the other */
        size_t ranked;        /* entries [0, ranked) are imported ones, in name order by their
                                 name_rank (mm_index_parts.ranked) */
    } app;

    /* the array begun by mmarr_writer_begin(), if any */
    struct mm_wstream {
        bool active, cold;
        size_t entry;
        uint64_t nbytes, written; /* raw bytes expected, received */
        uint64_t out_end;         /* cold: file offset for the next frame */
        uint64_t chunk_size;
        mm_zwriter *z;
        unsigned char *buf; /* cold: raw bytes waiting for a full batch */
        size_t buf_len, batch;
        XXH3_state_t *xs; /* the whole array's checksum */
    } st;
};

/* writer.c, for writer_stream.c */
bool mm_w_grow(void **p, size_t *cap, size_t need, size_t elem);
/* Mark the writer failed with MMARR_E_NOMEM / the I/O error *e. */
mmarr_err mm_w_nomem(mmarr_writer *w);
mmarr_err mm_w_io_fail(mmarr_writer *w, mmarr_err rc, const mmarr_error *e);
/* Make sure [0, end) is allocated in the temporary. */
mmarr_err mm_w_ensure_space(mmarr_writer *w, uint64_t end);
/* Write out the staged small arrays. */
mmarr_err mm_w_stage_flush(mmarr_writer *w);
/* Write nbytes at off (off >= everything staged so far). */
mmarr_err mm_w_put_bytes(mmarr_writer *w, uint64_t off, const void *data, uint64_t nbytes);
/* Check and add an entry for a new array, placed at the cursor (see writer.c). */
mmarr_err mm_w_new_entry(mmarr_writer *w, const char *name, const char *dtype, unsigned ndim,
                         const uint64_t *shape, mmarr_order order, bool cold, size_t *idx,
                         uint64_t *nbytes_out, uint64_t *itemsize_out);
/* MMARR_E_STATE (in w->err) unless arrays may be added: no stream open, not finished. */
mmarr_err mm_w_check_usable(mmarr_writer *w);
/* The entry number of the added array `name`, or MMARR_E_NOTFOUND / MMARR_E_INVAL. */
mmarr_err mm_w_find(mmarr_writer *w, const char *name, size_t *index);
/* Add file or array metadata (owner: entry number, SIZE_MAX for the file). */
mmarr_err mm_w_add_meta(mmarr_writer *w, size_t owner, const char *key, const char *value);
/* Where a shape's dimensions go in the dims table (an earlier equal run, or the end). */
uint32_t mm_w_dims_run(const mmarr_writer *w, const uint64_t *shape, size_t ndim);
/* dtype text -> dtype id (deduplicated), itemsize. */
mmarr_err mm_w_intern_dtype(mmarr_writer *w, const char *text, uint32_t *id, uint64_t *itemsize);
/* Rebuild the name map from w->wnames (after a deletion); false when out of memory. */
bool mm_w_rebuild_names(mmarr_writer *w);
/* Insert name `id` (an entry number whose wnames is set) in the name map; false: no memory. */
bool mm_w_name_insert(mmarr_writer *w, uint32_t id);
/* A new, empty writer for `path` with options o (no file yet); NULL when out of memory. */
mmarr_writer *mm_w_alloc(const char *path, const mmarr_writer_options *o);
/* writer.c, for appends: publish the generation whose index was written at [ioff, +isize). */
mmarr_err mm_w_publish_generation(mmarr_writer *w, uint64_t ioff, uint64_t isize, uint64_t isum);
/* writer.c, for appends: give back what an abandoned append took, close the file. */
void mm_w_append_abandon(mmarr_writer *w);
/* writer_growable.c: the growable record of entry i, or NULL; drop the one of entry i and
 * renumber those after it (a deletion). */
mm_wgrow *mm_w_grow_of(mmarr_writer *w, size_t i);
/* The chunk records [first, first + count) left the table: the runs after them move down
 * (an empty array's run inside them moves to `first`). */
void mm_w_chunks_removed(mmarr_writer *w, size_t first, size_t count);
void mm_w_grow_remove(mmarr_writer *w, size_t i);
/* Free the state of a streamed array (writer_stream.c fills it). */
void mm_w_stream_reset(mmarr_writer *w);

#endif /* MM_WRITER_H */
