/* SPDX-License-Identifier: MIT */
/*
 * writer_append.c — a writer over an existing file (spec.md §4.4, issue #19).
 *
 * The file's current generation is imported as the writer's tables (entries keep their data
 * where it is); new arrays go after the file's physical end, so no byte any generation may
 * refer to is written; the commit writes the new index after them, syncs, and publishes it
 * through the inactive superblock slot with the next generation (writer.c writes the index,
 * mm_w_publish_generation the slot). Until that slot is written nothing a reader can see has
 * changed; an abandoned or failed append gives the space back by cutting the file to its old
 * length, which only removes bytes no slot refers to (writer.c: mm_w_publish_generation and
 * mm_w_append_abandon, beside the commit and free they belong to).
 *
 * One writer at a time: the writer lock (mm_writer_lock, publish.c), exclusive here, shared
 * for read-write handles (file.c). Readers never take it.
 */
#include "mm_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copy entry i of f (its data stays where it is) with its name, dtype, shape, cold chunks
 * and metadata into the writer's tables. */
static mmarr_err import_entry(mmarr_writer *w, mmarr_file *f, size_t i)
{
    mmarr_array_info a;
    mmarr_error e;
    if (mmarr_file_array(f, i, &a, &e) != MMARR_OK) {
        w->err = e;
        return e.code;
    }
    const mmarr_disk_entry *src = &f->entries[i];
    uint32_t dtype_id;
    uint64_t itemsize;
    MM_TRY(mm_w_intern_dtype(w, a.dtype_str, &dtype_id, &itemsize));
    const bool cold = src->storage != MMARR_STORAGE_RAW;
    const mmarr_disk_cold *cd =
        cold ? (const mmarr_disk_cold *)(f->index + f->ih->cold_offset) + src->cold_id : NULL;
    const size_t nlen = a.name_size;
    if (!mm_w_grow((void **)&w->ents, &w->ecap, w->n + 1, sizeof *w->ents) ||
        !mm_w_grow((void **)&w->wnames, &w->wncap, w->n + 1, sizeof *w->wnames) ||
        !mm_w_grow((void **)&w->dims, &w->dcap, w->ndims + a.ndim, sizeof *w->dims) ||
        (cold && (!mm_w_grow((void **)&w->colds, &w->ccap, w->ncolds + 1, sizeof *w->colds) ||
                  !mm_w_grow((void **)&w->chunks, &w->chcap, w->nchunks + cd->chunk_count,
                             sizeof *w->chunks))))
        return mm_w_nomem(w);
    const uint32_t name_off = mm_heap_put(&w->heap, a.name, nlen);
    if (name_off == UINT32_MAX)
        return mm_w_nomem(w);
    mmarr_disk_entry *d = &w->ents[w->n];
    *d = *src;
    d->dtype_id = dtype_id;
    d->dims_first = mm_w_dims_run(w, a.shape, a.ndim);
    if (a.ndim && d->dims_first == w->ndims) {
        memcpy(w->dims + w->ndims, a.shape, a.ndim * sizeof *a.shape);
        w->ndims += a.ndim;
        w->recent_dims[w->recent_next % 8] = d->dims_first;
        w->recent_ndim[w->recent_next++ % 8] = (uint8_t)a.ndim;
    }
    if (cold) {
        const mmarr_disk_chunk *ch = (const mmarr_disk_chunk *)(f->index + f->ih->chunks_offset) +
                                     cd->chunk_first;
        memcpy(w->chunks + w->nchunks, ch, cd->chunk_count * sizeof *ch);
        w->colds[w->ncolds] = *cd;
        w->colds[w->ncolds].chunk_first = (uint32_t)w->nchunks;
        w->nchunks += cd->chunk_count;
        d->cold_id = (uint32_t)w->ncolds++;
    }
    w->wnames[w->n] = (mm_strref){name_off, (uint32_t)nlen};
    if (!mm_w_name_insert(w, (uint32_t)w->n))
        return mm_w_nomem(w);
    w->n++;
    for (size_t k = 0; k < a.meta_count; k++) {
        const char *key, *value;
        if (mmarr_array_meta(f, i, k, &key, &value, &e) != MMARR_OK) {
            w->err = e;
            return e.code;
        }
        MM_TRY(mm_w_add_meta(w, w->n - 1, key, value));
    }
    return MMARR_OK;
}

static mmarr_err import_file(mmarr_writer *w, mmarr_file *f)
{
    for (size_t i = 0; i < f->entry_count; i++)
        MM_TRY(import_entry(w, f, i));
    w->app.ranked = w->n; /* their name_rank, as the validated index has it */
    mmarr_file_info info;
    mmarr_file_get_info(f, &info);
    for (size_t k = 0; k < info.meta_count; k++) {
        const char *key, *value;
        mmarr_error e;
        if (mmarr_file_meta(f, k, &key, &value, &e) != MMARR_OK) {
            w->err = e;
            return e.code;
        }
        MM_TRY(mm_w_add_meta(w, SIZE_MAX, key, value));
    }
    for (uint64_t k = 0; k < f->growable_count; k++) {
        const mmarr_disk_growable *g = &f->growable[k];
        if (!mm_w_grow((void **)&w->grow, &w->growcap, w->ngrow + 1, sizeof *w->grow))
            return mm_w_nomem(w);
        mm_wgrow *d = &w->grow[w->ngrow];
        *d = (mm_wgrow){.entry = g->entry,
                        .capacity = g->capacity,
                        .shift = g->block_shift,
                        .base_size = f->entries[g->entry].data_size,
                        .region = mm_growable_capacity_bytes(f, &f->entries[g->entry], g)};
        if (g->block_count) {
            if (!(d->blocks = malloc(g->block_count * sizeof *d->blocks)))
                return mm_w_nomem(w);
            memcpy(d->blocks, f->blocks + g->blocks_first, g->block_count * sizeof *d->blocks);
        }
        d->nblocks = d->blocks_cap = g->block_count;
        w->ngrow++;
    }
    if (f->ragged_count) {
        if (!mm_w_grow((void **)&w->rag, &w->ragcap, (size_t)f->ragged_count, sizeof *w->rag))
            return mm_w_nomem(w);
        memcpy(w->rag, f->ragged, (size_t)f->ragged_count * sizeof *w->rag);
        w->nrag = (size_t)f->ragged_count;
    }
    return MMARR_OK;
}

/* Open `path` read-write and lock it; then open its current generation as a reader handle of
 * the same file (the path may be replaced by a rename between the two: then start over). */
static mmarr_err open_locked(const char *path, bool wait, int *fd_out, mmarr_file **f_out,
                             mmarr_error *e)
{
    for (int attempt = 0;; attempt++) {
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            MM_FAIL_SYS(e, MMARR_E_IO, errno, "%s: cannot open for appending", path);
        struct stat st;
        mmarr_file *f = NULL;
        mmarr_err rc = mm_writer_lock(fd, path, true, wait, e);
        if (rc == MMARR_OK && fstat(fd, &st) != 0)
            rc = mm_set_syserr(e, MMARR_E_IO, errno, "%s: cannot stat", path);
        if (rc == MMARR_OK && !S_ISREG(st.st_mode))
            rc = mm_set_error(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: not a regular file", path);
        if (rc == MMARR_OK)
            rc = mmarr_open(path, 0, &f, e);
        if (rc == MMARR_OK &&
            (f->device != (uint64_t)st.st_dev || f->inode != (uint64_t)st.st_ino)) {
            mmarr_close(f);
            f = NULL;
            rc = attempt < 8 ? MMARR_E_STATE /* replaced meanwhile: again */
                             : mm_set_error(e, MMARR_E_BUSY, MMARR_NO_OFFSET,
                                            "%s: the file keeps being replaced", path);
        }
        if (rc == MMARR_OK) {
            *fd_out = fd;
            *f_out = f;
            return MMARR_OK;
        }
        close(fd);
        if (rc != MMARR_E_STATE)
            return rc;
    }
}

mmarr_err mmarr_writer_open_append(const char *path, const mmarr_writer_options *opts,
                                   mmarr_writer **out, mmarr_error *err)
{
    MM_ERR_OUT(e, err);
    if (out)
        *out = NULL;
    if (!path || !out || !*path)
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                "mmarr_writer_open_append: NULL or empty argument");
    mmarr_writer_options o = {0};
    if (opts)
        o = *opts;
    if (!o.pack_threshold)
        o.pack_threshold = 2048;
    if (o.flags & ~(MMARR_WRITE_NO_SYNC | MMARR_WRITE_WAIT | MMARR_WRITE_KEEP_RESERVED))
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                "%s: writer flags 0x%x are not valid for appending (NO_SYNC, WAIT and "
                "KEEP_RESERVED are)",
                path, o.flags);
    int fd;
    mmarr_file *f = NULL;
    MM_TRY(open_locked(path, o.flags & MMARR_WRITE_WAIT, &fd, &f, e));
    o.alignment = f->alignment;
    mmarr_writer *w = mm_w_alloc(path, &o);
    struct stat st;
    mmarr_err rc = MMARR_OK;
    if (!w) {
        rc = mm_set_error(e, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", path);
    } else if (fstat(fd, &st) != 0) {
        rc = mm_set_syserr(e, MMARR_E_IO, errno, "%s: cannot stat", path);
    } else {
        w->fd = fd;
        w->tmp_path = w->path;
        w->app.on = true;
        w->app.old_length = (uint64_t)st.st_size;
        w->app.slot = f->slot;
        w->app.active_slot = f->active_slot;
        /* past everything: the physical end may hold a failed append's bytes, which stay */
        w->cursor = (uint64_t)st.st_size > f->slot.file_size ? (uint64_t)st.st_size
                                                             : f->slot.file_size;
        w->reserved_end = (uint64_t)st.st_size;
        fd = -1;
        if ((rc = import_file(w, f)) != MMARR_OK)
            *e = w->err;
    }
    mmarr_close(f);
    if (fd >= 0)
        close(fd);
    if (rc != MMARR_OK) {
        mmarr_writer_free(w);
        return rc;
    }
    *out = w;
    return MMARR_OK;
}

/* ---- deletion ---- */

static void remove_entry(mmarr_writer *w, size_t i)
{
    const mmarr_disk_entry *e = &w->ents[i];
    if (e->storage != MMARR_STORAGE_RAW) {
        const size_t c = e->cold_id;
        const mmarr_disk_cold cd = w->colds[c];
        memmove(w->chunks + cd.chunk_first, w->chunks + cd.chunk_first + cd.chunk_count,
                (w->nchunks - cd.chunk_first - cd.chunk_count) * sizeof *w->chunks);
        w->nchunks -= cd.chunk_count;
        memmove(w->colds + c, w->colds + c + 1, (w->ncolds - c - 1) * sizeof *w->colds);
        w->ncolds--;
        mm_w_chunks_removed(w, cd.chunk_first, cd.chunk_count);
        for (size_t k = 0; k < w->n; k++)
            if (w->ents[k].storage != MMARR_STORAGE_RAW && w->ents[k].cold_id > c)
                w->ents[k].cold_id--;
    }
    w->app.ranked -= i < w->app.ranked;
    memmove(w->ents + i, w->ents + i + 1, (w->n - i - 1) * sizeof *w->ents);
    memmove(w->wnames + i, w->wnames + i + 1, (w->n - i - 1) * sizeof *w->wnames);
    w->n--;
    size_t kept = 0;
    for (size_t k = 0; k < w->nmeta; k++) {
        mm_index_meta m = w->meta[k];
        if (m.owner == i) {
            free(m.key);
            free(m.value);
            continue;
        }
        if (m.owner != SIZE_MAX && m.owner > i)
            m.owner--;
        w->meta[kept++] = m;
    }
    w->nmeta = kept;
    for (size_t k = 0; k < w->nrag; k++) {
        w->rag[k].values -= w->rag[k].values > i;
        w->rag[k].offsets -= w->rag[k].offsets > i;
    }
    for (size_t k = 0; k < w->nmaps; k++)
        w->maps[k].entry -= w->maps[k].entry > i;
    mm_w_grow_remove(w, i);
}

mmarr_err mmarr_writer_delete(mmarr_writer *w, const char *name)
{
    MM_TRY(mm_w_check_usable(w));
    size_t i;
    MM_TRY(mm_w_find(w, name, &i));
    for (size_t k = 0; k < w->nmaps; k++)
        if (w->maps[k].entry == i)
            MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET,
                    "%s: array \"%s\" was reserved by this writer: its memory is still handed "
                    "out, so it cannot be deleted before the commit",
                    w->path, name);
    size_t other = SIZE_MAX;
    for (size_t k = 0; k < w->nrag; k++) {
        if (w->rag[k].offsets == i)
            MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET,
                    "%s: array \"%s\" holds the offsets of a ragged item: delete the item by "
                    "the name of its values, \"%s\"",
                    w->path, name, w->heap.p + w->wnames[w->rag[k].values].off);
        if (w->rag[k].values == i) {
            other = w->rag[k].offsets;
            memmove(w->rag + k, w->rag + k + 1, (w->nrag - k - 1) * sizeof *w->rag);
            w->nrag--;
            break;
        }
    }
    if (other != SIZE_MAX && other > i)
        remove_entry(w, other);
    remove_entry(w, i);
    if (other != SIZE_MAX && other < i)
        remove_entry(w, other);
    if (!mm_w_rebuild_names(w))
        return mm_w_nomem(w);
    return MMARR_OK;
}
