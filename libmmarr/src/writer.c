/* SPDX-License-Identifier: MIT */
/*
 * writer.c — write a new file: the writer's tables (entries, names, dtypes, dims, metadata),
 * layout and zero padding (spec.md §9), adding and reserving arrays, and commit, which
 * encodes the index and superblock (index_write.c) and publishes the file (publish.c).
 * Arrays streamed in pieces and cold arrays are in writer_stream.c.
 *
 * Data goes to the temporary (publish.c) as arrays arrive. Space is reserved
 * with posix_fallocate before any byte is written or mapped, so a full disk or tmpfs is an
 * error at add/reserve time, never a SIGBUS. Small arrays are gathered in a staging buffer and
 * written in large pieces. The superblock is written last: until commit the temporary has no
 * valid magic, so no reader can take it for a dataset.
 */
#include "mm_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- small containers ---- */

bool mm_w_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t nc = *cap ? *cap : 16;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (!q)
        return false;
    *p = q;
    *cap = nc;
    return true;
}

static mmarr_err sys_fail(mmarr_writer *w, int se, const char *what)
{
    w->failed = true;
    return mm_sys_fail(&w->err, w->path, se, what);
}

mmarr_err mm_w_nomem(mmarr_writer *w)
{
    w->failed = true;
    MM_FAIL(&w->err, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", w->path);
}

static bool strmap_grow(mm_strmap *m, const mmarr_writer *w,
                        uint32_t (*off_of)(const mmarr_writer *, uint32_t, uint32_t *))
{
    size_t nc = m->cap ? m->cap * 2 : 1024;
    uint32_t *ns = calloc(nc, sizeof *ns);
    if (!ns)
        return false;
    for (size_t i = 0; i < m->cap; i++) {
        uint32_t v = m->slots[i];
        if (!v)
            continue;
        uint32_t len, off = off_of(w, v - 1, &len);
        size_t h = (size_t)mm_xxh3(w->heap.p + off, len) & (nc - 1);
        while (ns[h])
            h = (h + 1) & (nc - 1);
        ns[h] = v;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = nc;
    return true;
}

/* Find `s` in the map; returns the slot index; *found says whether slots[idx] holds it. */
static size_t strmap_find(const mm_strmap *m, const mmarr_writer *w, const char *s, size_t n,
                          uint32_t (*off_of)(const mmarr_writer *, uint32_t, uint32_t *),
                          bool *found)
{
    size_t h = (size_t)mm_xxh3(s, n) & (m->cap - 1);
    for (;;) {
        uint32_t v = m->slots[h];
        if (!v) {
            *found = false;
            return h;
        }
        uint32_t len, off = off_of(w, v - 1, &len);
        if (len == n && !memcmp(w->heap.p + off, s, n)) {
            *found = true;
            return h;
        }
        h = (h + 1) & (m->cap - 1);
    }
}

static uint32_t name_of(const mmarr_writer *w, uint32_t id, uint32_t *len)
{
    *len = w->wnames[id].len;
    return w->wnames[id].off;
}

static uint32_t dtype_of(const mmarr_writer *w, uint32_t id, uint32_t *len)
{
    *len = w->dtypes[id].str_size;
    return w->dtypes[id].str_offset;
}

/* ---- file space ---- */

mmarr_err mm_w_io_fail(mmarr_writer *w, mmarr_err rc, const mmarr_error *e)
{
    w->failed = true;
    w->err = *e;
    return rc;
}

/* Make sure [0, end) is allocated in the temporary. */
mmarr_err mm_w_ensure_space(mmarr_writer *w, uint64_t end)
{
    if (end <= w->reserved_end)
        return MMARR_OK;
    mmarr_error e;
    /* grow geometrically, so that small files stay small and big ones need few calls */
    uint64_t step = w->reserved_end < MM_RESERVE_MIN_STEP ? MM_RESERVE_MIN_STEP
                    : w->reserved_end > MM_RESERVE_STEP   ? MM_RESERVE_STEP
                                                          : w->reserved_end;
    uint64_t want = end;
    if (want - w->reserved_end < step)
        want = w->reserved_end + step;
    mmarr_err rc = mm_reserve_space(&e, w->fd, w->tmp_path, w->reserved_end,
                                    want - w->reserved_end);
    if (rc == MMARR_E_NOSPACE && want != end) /* the step was too greedy: ask for what we need */
        rc = mm_reserve_space(&e, w->fd, w->tmp_path, w->reserved_end, end - w->reserved_end);
    else
        end = want;
    if (rc != MMARR_OK) {
        snprintf(e.message + strlen(e.message), sizeof e.message - strlen(e.message),
                 " (writing %s)", w->path);
        return mm_w_io_fail(w, rc, &e);
    }
    w->reserved_end = end;
    return MMARR_OK;
}

mmarr_err mm_w_stage_flush(mmarr_writer *w)
{
    if (!w->stage_len)
        return MMARR_OK;
    mmarr_error e;
    mmarr_err rc = mm_pwrite_all(&e, w->fd, w->tmp_path, w->stage, w->stage_len, w->stage_off);
    if (rc != MMARR_OK)
        return mm_w_io_fail(w, rc, &e);
    w->stage_off += w->stage_len;
    w->stage_len = 0;
    return MMARR_OK;
}

/* Write nbytes at off (off >= everything staged so far). */
mmarr_err mm_w_put_bytes(mmarr_writer *w, uint64_t off, const void *data, uint64_t nbytes)
{
    if (nbytes == 0)
        return MMARR_OK;
    if (nbytes <= MM_STAGE_MAX_ARRAY) {
        if (w->stage_len && off + nbytes - w->stage_off > MM_STAGE_CAP)
            MM_TRY(mm_w_stage_flush(w));
        if (!w->stage_len)
            w->stage_off = off;
        size_t at = (size_t)(off - w->stage_off);
        memset(w->stage + w->stage_len, 0, at - w->stage_len); /* padding */
        memcpy(w->stage + at, data, (size_t)nbytes);
        w->stage_len = at + (size_t)nbytes;
        return MMARR_OK;
    }
    MM_TRY(mm_w_stage_flush(w));
    mmarr_error e;
    mmarr_err rc = mm_pwrite_all(&e, w->fd, w->tmp_path, data, (size_t)nbytes, off);
    return rc == MMARR_OK ? rc : mm_w_io_fail(w, rc, &e);
}

/* ---- create ---- */

mmarr_writer *mm_w_alloc(const char *path, const mmarr_writer_options *o)
{
    mmarr_writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->fd = -1;
    w->tmp.fd = -1;
    w->opt = *o;
    w->err.offset = MMARR_NO_OFFSET;
    w->path = strdup(path);
    w->stage = malloc(MM_STAGE_CAP);
    if (!w->path || !w->stage || !strmap_grow(&w->names, w, name_of) ||
        !strmap_grow(&w->dtype_map, w, dtype_of)) {
        mmarr_writer_free(w);
        return NULL;
    }
    return w;
}

bool mm_w_name_insert(mmarr_writer *w, uint32_t id)
{
    bool found;
    size_t slot = strmap_find(&w->names, w, w->heap.p + w->wnames[id].off, w->wnames[id].len,
                              name_of, &found);
    w->names.slots[slot] = id + 1;
    return ++w->names.count * 2 <= w->names.cap || strmap_grow(&w->names, w, name_of);
}

bool mm_w_rebuild_names(mmarr_writer *w)
{
    memset(w->names.slots, 0, w->names.cap * sizeof *w->names.slots);
    w->names.count = 0;
    for (size_t i = 0; i < w->n; i++)
        if (!mm_w_name_insert(w, (uint32_t)i))
            return false;
    return true;
}

mmarr_err mmarr_writer_create(const char *path, const mmarr_writer_options *opts,
                              mmarr_writer **out, mmarr_error *err)
{
    MM_ERR_OUT(e, err);
    if (out)
        *out = NULL;
    if (!path || !out || !*path)
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "mmarr_writer_create: NULL or empty argument");
    mmarr_writer_options o = {0};
    if (opts)
        o = *opts;
    if (!o.alignment)
        o.alignment = MMARR_DEFAULT_ALIGNMENT;
    if (!o.pack_threshold)
        o.pack_threshold = 2048;
    if (!mm_is_pow2(o.alignment) || o.alignment < MMARR_MIN_ALIGNMENT ||
        o.alignment > MMARR_MAX_ALIGNMENT)
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                "%s: alignment %u is not a power of two in 4096..2097152", path, o.alignment);
    if (o.flags & ~(MMARR_WRITE_NO_REPLACE | MMARR_WRITE_NO_SYNC | MMARR_WRITE_KEEP_RESERVED))
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: unknown writer flags 0x%x", path, o.flags);
    mmarr_writer *w = mm_w_alloc(path, &o);
    if (!w)
        MM_FAIL(e, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", path);
    mmarr_err rc = mm_tmp_create(path, &w->tmp, e);
    if (rc != MMARR_OK) {
        mmarr_writer_free(w);
        return rc;
    }
    w->fd = w->tmp.fd;
    w->tmp_path = w->tmp.path;
    w->cursor = MMARR_SUPERBLOCK_SIZE;
    *out = w;
    return MMARR_OK;
}

/* ---- adding arrays ---- */

mmarr_err mm_w_check_usable(mmarr_writer *w)
{
    if (w->st.active)
        MM_FAIL(&w->err, MMARR_E_STATE, MMARR_NO_OFFSET,
                "%s: array \"%s\" was begun and not ended (mmarr_writer_end)", w->path,
                w->heap.p + w->wnames[w->st.entry].off);
    if (w->committed)
        MM_FAIL(&w->err, MMARR_E_STATE, MMARR_NO_OFFSET, "%s: the writer has already committed",
                w->path);
    if (w->failed)
        MM_FAIL(&w->err, MMARR_E_STATE, MMARR_NO_OFFSET,
                "%s: the writer failed earlier and cannot continue: %s", w->path, "start again");
    return MMARR_OK;
}

static mmarr_err check_name(mmarr_writer *w, const char *what, const char *s, size_t *len)
{
    if (!s)
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: %s is NULL", w->path, what);
    size_t n = strlen(s);
    if (n == 0)
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: %s is empty", w->path, what);
    if (n > MMARR_MAX_NAME_BYTES)
        MM_FAIL(&w->err, MMARR_E_RANGE, MMARR_NO_OFFSET,
                "%s: %s is %zu bytes long; the limit is 65535", w->path, what, n);
    if (!mm_utf8_valid((const unsigned char *)s, n))
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: %s \"%.64s\" is not valid UTF-8",
                w->path, what, s);
    *len = n;
    return MMARR_OK;
}

/* dtype text -> dtype id (deduplicated), itemsize */
mmarr_err mm_w_intern_dtype(mmarr_writer *w, const char *text, uint32_t *id, uint64_t *itemsize)
{
    if (!text)
        MM_FAIL(&w->err, MMARR_E_DTYPE, MMARR_NO_OFFSET, "%s: dtype is NULL", w->path);
    if (w->last_dtype_text && !strcmp(text, w->last_dtype_text)) {
        *id = w->last_dtype_id;
        *itemsize = w->last_itemsize;
        return MMARR_OK;
    }
    mmarr_dtype *dt;
    mmarr_error e;
    mmarr_err rc = mmarr_dtype_parse(text, &dt, &e);
    if (rc != MMARR_OK) {
        w->err = e;
        return rc;
    }
    const size_t n = strlen(dt->str);
    bool found;
    size_t slot = strmap_find(&w->dtype_map, w, dt->str, n, dtype_of, &found);
    if (found) {
        *id = w->dtype_map.slots[slot] - 1;
    } else {
        if (w->ndtypes >= UINT32_MAX - 1 ||
            !mm_w_grow((void **)&w->dtypes, &w->dtcap, w->ndtypes + 1, sizeof *w->dtypes)) {
            mmarr_dtype_free(dt);
            return mm_w_nomem(w);
        }
        uint32_t off = mm_heap_put(&w->heap, dt->str, n);
        if (off == UINT32_MAX) {
            mmarr_dtype_free(dt);
            return mm_w_nomem(w);
        }
        *id = (uint32_t)w->ndtypes;
        w->dtypes[w->ndtypes++] = (mmarr_disk_dtype){off, (uint32_t)n};
        w->dtype_map.slots[slot] = *id + 1;
        if (++w->dtype_map.count * 2 > w->dtype_map.cap &&
            !strmap_grow(&w->dtype_map, w, dtype_of)) {
            mmarr_dtype_free(dt);
            return mm_w_nomem(w);
        }
    }
    *itemsize = dt->itemsize;
    mmarr_dtype_free(dt);
    char *copy = strdup(text);
    if (copy) {
        free(w->last_dtype_text);
        w->last_dtype_text = copy;
        w->last_dtype_id = *id;
        w->last_itemsize = *itemsize;
    }
    return MMARR_OK;
}

/* Where a shape's dimensions go in the dims table: the run of a recent array of the same
 * shape (entries may share runs, spec.md §7.2), which keeps the index small for the common
 * many-arrays-of-one-shape file, else a new run at the end. */
uint32_t mm_w_dims_run(const mmarr_writer *w, const uint64_t *shape, size_t ndim)
{
    for (unsigned k = 0; ndim && k < 8 && k < w->recent_next; k++)
        if (w->recent_ndim[k] == ndim &&
            !memcmp(w->dims + w->recent_dims[k], shape, ndim * sizeof *shape))
            return w->recent_dims[k];
    return (uint32_t)w->ndims;
}

/* Validate, place and record a new array; returns its entry number in *idx. */
mmarr_err mm_w_new_entry(mmarr_writer *w, const char *name, const char *dtype, unsigned ndim,
                         const uint64_t *shape, mmarr_order order, bool cold, size_t *idx,
                         uint64_t *nbytes_out, uint64_t *itemsize_out)
{
    MM_TRY(mm_w_check_usable(w));
    size_t nlen = 0;
    MM_TRY(check_name(w, "array name", name, &nlen));
    if (ndim > MMARR_MAX_NDIM)
        MM_FAIL(&w->err, MMARR_E_RANGE, MMARR_NO_OFFSET,
                "%s: array \"%s\": %u dimensions; the limit is 64", w->path, name, ndim);
    if (ndim && !shape)
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: array \"%s\": shape is NULL", w->path,
                name);
    if (order != MMARR_ORDER_C && order != MMARR_ORDER_F)
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: array \"%s\": bad order %d", w->path,
                name, (int)order);
    if (w->n >= UINT32_MAX - 1)
        MM_FAIL(&w->err, MMARR_E_RANGE, MMARR_NO_OFFSET, "%s: too many arrays", w->path);
    bool found;
    size_t slot = strmap_find(&w->names, w, name, nlen, name_of, &found);
    if (found)
        MM_FAIL(&w->err, MMARR_E_EXISTS, MMARR_NO_OFFSET,
                "%s: an array named \"%s\" was already added", w->path, name);
    uint32_t dtype_id = 0;
    uint64_t nbytes = 0;
    mmarr_err rc = mm_w_intern_dtype(w, dtype, &dtype_id, &nbytes);
    const uint64_t itemsize = nbytes;
    if (rc != MMARR_OK) {
        char msg[sizeof w->err.message];
        memcpy(msg, w->err.message, sizeof msg);
        snprintf(w->err.message, sizeof w->err.message, "%.200s: array \"%.64s\": %.200s", w->path,
                 name, msg);
        return rc;
    }
    /* itemsize x the non-zero dimensions < 2^63 (spec.md §6), in any order */
    bool empty = false;
    for (unsigned d = 0; d < ndim; d++) {
        empty |= shape[d] == 0;
        if (shape[d] &&
            (mm_mul_overflow(nbytes, shape[d], &nbytes) || nbytes > (uint64_t)INT64_MAX))
            MM_FAIL(&w->err, MMARR_E_RANGE, MMARR_NO_OFFSET,
                    "%s: array \"%s\": shape overflows (dimension %u = %llu)", w->path, name, d,
                    (unsigned long long)shape[d]);
    }
    if (empty)
        nbytes = 0;
    /* cold arrays are never mapped as they are stored: 256-byte placement saves padding */
    const bool packed = !w->growing && (cold || (w->opt.pack_threshold != MMARR_PACK_NONE &&
                                                 nbytes < w->opt.pack_threshold));
    const uint64_t a = packed ? MMARR_PACKED_ALIGNMENT : w->opt.alignment;
    uint64_t off = mm_align_up(w->cursor, a), end;
    if (mm_add_overflow(off, nbytes, &end) || end > (uint64_t)INT64_MAX - 2 * MMARR_MAX_ALIGNMENT)
        MM_FAIL(&w->err, MMARR_E_RANGE, MMARR_NO_OFFSET,
                "%s: array \"%s\": the file would be too large", w->path, name);
    /* grow every container before touching state, so a failure leaves nothing half-added */
    if (!mm_w_grow((void **)&w->ents, &w->ecap, w->n + 1, sizeof *w->ents) ||
        !mm_w_grow((void **)&w->wnames, &w->wncap, w->n + 1, sizeof *w->wnames) ||
        !mm_w_grow((void **)&w->dims, &w->dcap, w->ndims + ndim, sizeof *w->dims) ||
        (cold && !mm_w_grow((void **)&w->colds, &w->ccap, w->ncolds + 1, sizeof *w->colds)))
        return mm_w_nomem(w);
    if (cold && w->ncolds >= UINT32_MAX - 1)
        MM_FAIL(&w->err, MMARR_E_RANGE, MMARR_NO_OFFSET, "%s: too many cold arrays", w->path);
    uint32_t name_off = mm_heap_put(&w->heap, name, nlen);
    if (name_off == UINT32_MAX)
        return mm_w_nomem(w);
    if (cold)
        end = off; /* the compressed size is known only at mmarr_writer_end() */
    MM_TRY(mm_w_ensure_space(w, mm_align_up(end, a)));
    mmarr_disk_entry *e = &w->ents[w->n];
    memset(e, 0, sizeof *e);
    e->data_offset = off;
    e->data_size = nbytes;
    w->wnames[w->n] = (mm_strref){name_off, (uint32_t)nlen};
    e->dtype_id = dtype_id;
    e->dims_first = mm_w_dims_run(w, shape, ndim);
    e->cold_id = cold ? (uint32_t)w->ncolds : MMARR_NONE32;
    e->ndim = (uint8_t)ndim;
    e->storage = cold ? MMARR_STORAGE_ZSTD_CHUNKED : MMARR_STORAGE_RAW;
    if (cold) {
        e->data_size = 0;
        w->colds[w->ncolds++] = (mmarr_disk_cold){0};
    }
    e->flags = (uint8_t)((order == MMARR_ORDER_F ? MMARR_ENTRY_FORTRAN : 0) |
                         (packed ? MMARR_ENTRY_PACKED : 0));
    if (ndim && e->dims_first == w->ndims) {
        memcpy(w->dims + w->ndims, shape, ndim * sizeof *shape);
        w->ndims += ndim;
        w->recent_dims[w->recent_next % 8] = e->dims_first;
        w->recent_ndim[w->recent_next++ % 8] = (uint8_t)ndim;
    }
    w->names.slots[slot] = (uint32_t)w->n + 1;
    *idx = w->n++;
    if (nbytes_out)
        *nbytes_out = nbytes;
    if (itemsize_out)
        *itemsize_out = itemsize;
    w->cursor = mm_align_up(end, a);
    if (++w->names.count * 2 > w->names.cap && !strmap_grow(&w->names, w, name_of))
        return mm_w_nomem(w);
    return MMARR_OK;
}

mmarr_err mmarr_writer_add(mmarr_writer *w, const char *name, const char *dtype, unsigned ndim,
                           const uint64_t *shape, mmarr_order order, const void *data)
{
    if (!data && w && !w->failed && !w->committed) {
        bool empty = false;
        for (unsigned d = 0; shape && d < ndim && d <= MMARR_MAX_NDIM; d++)
            empty |= shape[d] == 0;
        if (!empty)
            MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: array \"%s\": data is NULL",
                    w->path, name ? name : "(null)");
    }
    size_t i;
    MM_TRY(mm_w_new_entry(w, name, dtype, ndim, shape, order, false, &i, NULL, NULL));
    mmarr_disk_entry *e = &w->ents[i];
    e->checksum = mm_xxh3(e->data_size ? data : "", (size_t)e->data_size);
    return mm_w_put_bytes(w, e->data_offset, data, e->data_size);
}

mmarr_err mmarr_writer_reserve(mmarr_writer *w, const char *name, const char *dtype, unsigned ndim,
                               const uint64_t *shape, mmarr_order order, void **ptr)
{
    if (!ptr)
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: mmarr_writer_reserve: ptr is NULL",
                w->path);
    *ptr = NULL;
    size_t i;
    MM_TRY(mm_w_new_entry(w, name, dtype, ndim, shape, order, false, &i, NULL, NULL));
    mmarr_disk_entry *e = &w->ents[i];
    if (!e->data_size) {
        e->checksum = mm_xxh3("", 0);
        return MMARR_OK;
    }
    /* staged bytes may share this array's first page: write them out before mapping */
    MM_TRY(mm_w_stage_flush(w));
    if (!mm_w_grow((void **)&w->maps, &w->mapcap, w->nmaps + 1, sizeof *w->maps))
        return mm_w_nomem(w);
    const uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
    const uint64_t beg = e->data_offset & ~(pg - 1);
    const size_t len = (size_t)(e->data_offset + e->data_size - beg);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, w->fd, (off_t)beg);
    if (p == MAP_FAILED) {
        w->failed = true;
        MM_FAIL_SYS(&w->err, MMARR_E_IO, errno, "%s: array \"%s\": cannot map %zu bytes", w->path,
                    name, len);
    }
    w->maps[w->nmaps++] = (mm_wmap){p, len, i};
    *ptr = (unsigned char *)p + (e->data_offset - beg);
    w->stage_len = 0;
    w->stage_off = w->cursor;
    return MMARR_OK;
}

/* ---- metadata ---- */

mmarr_err mm_w_add_meta(mmarr_writer *w, size_t owner, const char *key, const char *value)
{
    MM_TRY(mm_w_check_usable(w));
    size_t klen = 0;
    MM_TRY(check_name(w, "metadata key", key, &klen));
    if (!value)
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: metadata \"%s\": value is NULL",
                w->path, key);
    size_t vlen = strlen(value);
    if (!mm_utf8_valid((const unsigned char *)value, vlen))
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET,
                "%s: metadata \"%s\": value is not valid UTF-8", w->path, key);
    if (!mm_w_grow((void **)&w->meta, &w->mcap, w->nmeta + 1, sizeof *w->meta))
        return mm_w_nomem(w);
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return mm_w_nomem(w);
    }
    w->meta[w->nmeta] = (mm_index_meta){owner, w->nmeta, k, v};
    w->nmeta++;
    return MMARR_OK;
}

mmarr_err mmarr_writer_set_file_meta(mmarr_writer *w, const char *key, const char *value)
{
    return mm_w_add_meta(w, SIZE_MAX, key, value);
}

mmarr_err mm_w_find(mmarr_writer *w, const char *name, size_t *index)
{
    if (!name)
        MM_FAIL(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: array name is NULL", w->path);
    bool found;
    size_t slot = strmap_find(&w->names, w, name, strlen(name), name_of, &found);
    if (!found)
        MM_FAIL(&w->err, MMARR_E_NOTFOUND, MMARR_NO_OFFSET, "%s: no array named \"%s\" %s", w->path,
                name, w->app.on ? "in the file or added since" : "has been added");
    *index = w->names.slots[slot] - 1;
    return MMARR_OK;
}

mmarr_err mmarr_writer_set_array_meta(mmarr_writer *w, const char *name, const char *key,
                                      const char *value)
{
    MM_TRY(mm_w_check_usable(w));
    size_t i;
    MM_TRY(mm_w_find(w, name, &i));
    return mm_w_add_meta(w, i, key, value);
}

/* ---- commit ---- */

/*
 * End the writer's use of reserved memory. Without MMARR_WRITE_KEEP_RESERVED it is unmapped.
 * With it, each reservation is replaced at the same address (MAP_FIXED) by private memory the
 * caller owns (mmarr_reserved_release): after a commit a copy-on-write mapping of the final
 * bytes (the checksums are computed; later writes stay in this process), else zero pages.
 */
static mmarr_err release_reservations(mmarr_writer *w, bool committing)
{
    const bool keep = w->opt.flags & MMARR_WRITE_KEEP_RESERVED;
    mmarr_err rc = MMARR_OK;
    for (size_t i = 0; i < w->nmaps; i++) {
        mm_wmap *m = &w->maps[i];
        if (!keep) {
            munmap(m->addr, m->len);
            continue;
        }
        const uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
        const uint64_t beg = w->ents[m->entry].data_offset & ~(pg - 1);
        void *p = committing ? mmap(m->addr, m->len, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_FIXED, w->fd, (off_t)beg)
                             : MAP_FAILED;
        if (p == MAP_FAILED) {
            if (committing && rc == MMARR_OK)
                rc = sys_fail(w, errno, "cannot keep the memory reserved for an array");
            p = mmap(m->addr, m->len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
            if (p == MAP_FAILED) /* cannot happen short of ENOMEM; never leave it shared */
                mprotect(m->addr, m->len, PROT_NONE);
        }
    }
    w->nmaps = 0;
    return rc;
}

/* spec.md §7.7: every ragged item's offsets, read back from the temporary (pread: they may
 * have come through reserve() or a stream), checked as readers will check them. */
static mmarr_err ragged_check(mmarr_writer *w)
{
    enum { BATCH = 8192 };
    uint64_t *buf = NULL;
    if (w->nrag && !(buf = malloc(BATCH * sizeof *buf)))
        return mm_w_nomem(w);
    mmarr_err rc = MMARR_OK;
    for (size_t k = 0; k < w->nrag && rc == MMARR_OK; k++) {
        const mmarr_disk_entry *oe = &w->ents[w->rag[k].offsets];
        const uint64_t n = w->dims[oe->dims_first];
        const uint64_t rows = w->dims[w->ents[w->rag[k].values].dims_first];
        uint64_t prev = 0;
        for (uint64_t at = 0; at < n && rc == MMARR_OK; at += BATCH) {
            const size_t m = (size_t)(n - at < BATCH ? n - at : BATCH);
            mmarr_error e;
            rc = mm_pread_all(&e, w->fd, w->tmp_path, buf, m * 8, oe->data_offset + at * 8);
            if (rc != MMARR_OK) {
                mm_w_io_fail(w, rc, &e);
                break;
            }
            const size_t bad = mm_ragged_scan(buf, m, &prev, rows, at == 0);
            const bool last = at + m == n;
            if (bad < m || (last && prev != rows)) {
                const size_t el = bad < m ? bad : m - 1;
                w->failed = true;
                rc = mm_set_error(&w->err, MMARR_E_INVAL, MMARR_NO_OFFSET,
                                  "%s: ragged item \"%s\": offsets \"%s\" element %llu is %llu; "
                                  "offsets must start at 0, never decrease and end at the "
                                  "values' %llu rows",
                                  w->path, w->heap.p + w->wnames[w->rag[k].values].off,
                                  w->heap.p + w->wnames[w->rag[k].offsets].off,
                                  (unsigned long long)(at + el), (unsigned long long)buf[el],
                                  (unsigned long long)rows);
            }
        }
    }
    free(buf);
    return rc;
}

/* The feature bits the index the writer holds calls for (spec.md §5). */
static uint64_t required_features(const mmarr_writer *w)
{
    return (w->ncolds ? MMARR_FEAT_REQ_COLD_ZSTD : 0) | (w->ngrow ? MMARR_FEAT_REQ_GROWABLE : 0);
}

mmarr_err mmarr_writer_commit(mmarr_writer *w)
{
    MM_TRY(mm_w_check_usable(w));
    MM_TRY(mm_w_stage_flush(w));
    for (size_t i = 0; i < w->nmaps; i++) {
        mm_wmap *m = &w->maps[i];
        mmarr_disk_entry *e = &w->ents[m->entry];
        if (mm_xxh3_fd(&w->err, w->fd, w->tmp_path, e->data_offset, e->data_size, &e->checksum) !=
            MMARR_OK) {
            w->failed = true;
            return w->err.code;
        }
    }
    MM_TRY(release_reservations(w, true));
    MM_TRY(ragged_check(w));

    unsigned char *index = NULL;
    size_t isize = 0;
    mm_index_parts parts = {
        .heap = w->heap.p,
        .entries = w->ents,
        .names = w->wnames,
        .entry_count = w->n,
        .ranked = w->app.on ? w->app.ranked : 0,
        .dtypes = w->dtypes,
        .dtype_count = w->ndtypes,
        .dims = w->dims,
        .dim_count = w->ndims,
        .meta = w->meta,
        .meta_count = w->nmeta,
        .colds = w->colds,
        .cold_count = w->ncolds,
        .chunks = w->chunks,
        .chunk_count = w->nchunks,
        .ragged = w->rag,
        .ragged_count = w->nrag,
        .growable = w->grow,
        .growable_count = w->ngrow,
    };
    if (!mm_index_encode(&parts, &index, &isize))
        return mm_w_nomem(w);
    const uint64_t ioff = mm_align_up(w->cursor, MMARR_INDEX_ALIGNMENT);
    const uint64_t fsize = ioff + isize;
    /* an append writes its index past the end: pwrite reports a full disk (ENOSPC) */
    mmarr_err rc = w->app.on ? MMARR_OK : mm_w_ensure_space(w, fsize);
    if (rc == MMARR_OK) {
        mmarr_error e;
        rc = mm_pwrite_all(&e, w->fd, w->tmp_path, index, isize, ioff);
        if (rc != MMARR_OK)
            mm_w_io_fail(w, rc, &e);
    }
    uint64_t isum = mm_xxh3(index, isize);
    free(index);
    MM_TRY(rc);
    /* cut what the reservations took past the index (none for an append of rows only) */
    if ((!w->app.on || w->reserved_end > fsize) && ftruncate(w->fd, (off_t)fsize) != 0)
        return sys_fail(w, errno, "cannot set the file size");
    if (w->app.on)
        return mm_w_publish_generation(w, ioff, isize, isum);

    unsigned char sb[MMARR_SUPERBLOCK_SIZE];
    const mmarr_disk_slot slot = {
        .generation = 1,
        .file_size = fsize,
        .index_offset = ioff,
        .index_size = isize,
        .index_checksum = isum,
        .required_features = required_features(w),
        .optional_features = w->nrag ? MMARR_FEAT_OPT_RAGGED : 0,
    };
    mm_superblock_encode(sb, w->opt.alignment,
                         w->ngrow  ? 2
                         : w->nrag ? 1
                                   : 0, /* §13 */
                         &slot);
    mmarr_error e;
    rc = mm_pwrite_all(&e, w->fd, w->tmp_path, sb, sizeof sb, 0);
    if (rc != MMARR_OK)
        return mm_w_io_fail(w, rc, &e);
    const bool sync = !(w->opt.flags & MMARR_WRITE_NO_SYNC);
    rc = mm_tmp_publish(&w->tmp, w->path, w->opt.flags & MMARR_WRITE_NO_REPLACE, sync, &w->err);
    if (rc != MMARR_OK) {
        w->failed = true;
        return rc;
    }
    w->committed = true;
    mm_tmp_close(&w->tmp);
    w->fd = -1;
    w->tmp_path = NULL;
    return sync ? mm_sync_parent_dir(w->path, &w->err) : MMARR_OK;
}

/* ---- appending (writer_append.c opens; spec.md §4.4) ---- */

mmarr_err mm_w_publish_generation(mmarr_writer *w, uint64_t ioff, uint64_t isize, uint64_t isum)
{
    const bool sync = !(w->opt.flags & MMARR_WRITE_NO_SYNC);
    if (sync && fdatasync(w->fd) != 0) {
        w->failed = true;
        MM_FAIL_SYS(&w->err, MMARR_E_IO, errno, "%s: fdatasync failed before publishing", w->path);
    }
    mmarr_disk_slot ns = {
        .generation = w->app.slot.generation + 1,
        .file_size = ioff + isize,
        .index_offset = ioff,
        .index_size = isize,
        .index_checksum = isum,
        .required_features = required_features(w),
        .optional_features = w->nrag ? MMARR_FEAT_OPT_RAGGED : 0,
        /* in-place writes before this generation stay unaccounted for (spec.md §11.2) */
        .state_flags = w->app.slot.state_flags & MMARR_STATE_CHECKSUMS_STALE,
        .rehash_generation = w->app.slot.rehash_generation,
    };
    ns.checksum = mm_slot_checksum(&ns);
    const uint64_t at = w->app.active_slot ? MMARR_SLOT_A_OFFSET : MMARR_SLOT_B_OFFSET;
    mmarr_error e;
    mmarr_err rc = mm_pwrite_all(&e, w->fd, w->path, &ns, sizeof ns, at);
    if (rc != MMARR_OK) { /* a torn slot fails its checksum: readers keep the old one */
        w->failed = true;
        w->err = e;
        return rc;
    }
    w->committed = true; /* visible now: never cut back */
    if (sync && fdatasync(w->fd) != 0)
        rc = mm_set_syserr(&w->err, MMARR_E_IO, errno,
                           "%s: generation %llu is published but fdatasync failed: it may not "
                           "survive a power loss",
                           w->path, (unsigned long long)ns.generation);
    mm_w_append_abandon(w);
    return rc;
}

static void write_zeros(int fd, uint64_t from, uint64_t to)
{
    static const unsigned char zeros[4096];
    while (from < to) {
        const size_t n = to - from < sizeof zeros ? (size_t)(to - from) : sizeof zeros;
        if (pwrite(fd, zeros, n, (off_t)from) <= 0)
            return;
        from += n;
    }
}

/* An abandoned append: the rows it appended to growable arrays lie in holes of their reserved
 * regions (writer_growable.c): give [published end, touched end) back, whole pages punched
 * out, the parts of pages at either end (shared with the published rows, or with the next
 * array when the region does not end on a page) written with zeros again. */
static void give_back_rows(mmarr_writer *w)
{
    /* failures leave dead bytes past the published end, never read */
    for (size_t k = 0; k < w->ngrow; k++) {
        const mm_wgrow *g = &w->grow[k];
        const mmarr_disk_entry *e = &w->ents[g->entry];
        if (g->touched <= g->base_size)
            continue;
        const uint64_t lo = e->data_offset + g->base_size, hi = e->data_offset + g->touched;
        /* punched: whole pages from the one after the published end, to the one holding hi
         * if the region (its rows only) covers that page */
        const uint64_t beg = mm_align_up(lo, 4096), up = mm_align_up(hi, 4096);
        const uint64_t end = up <= e->data_offset + g->region ? up : hi & ~(uint64_t)4095;
        if (beg >= end) {
            write_zeros(w->fd, lo, hi);
            continue;
        }
        write_zeros(w->fd, lo, beg);
        write_zeros(w->fd, end, hi); /* nothing when end >= hi */
        fallocate(w->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)beg,
                  (off_t)(end - beg));
    }
}

void mm_w_append_abandon(mmarr_writer *w)
{
    if (!w->app.on)
        return;
    if (!w->committed)
        give_back_rows(w);
    if (!w->committed && ftruncate(w->fd, (off_t)w->app.old_length) != 0) {
        /* the bytes stay past every generation's end: dead space, never read */
    }
    close(w->fd); /* drops the writer lock */
    w->fd = -1;
    w->app.on = false;
}

void mmarr_reserved_release(void *ptr, uint64_t nbytes)
{
    if (!ptr || !nbytes)
        return;
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t beg = (uintptr_t)ptr & ~(pg - 1);
    munmap((void *)beg, (size_t)((uintptr_t)ptr - beg + nbytes));
}

void mm_w_stream_reset(mmarr_writer *w)
{
    mm_zwriter_free(w->st.z);
    free(w->st.buf);
    XXH3_freeState(w->st.xs);
    memset(&w->st, 0, sizeof w->st);
}

void mmarr_writer_free(mmarr_writer *w)
{
    if (!w)
        return;
    release_reservations(w, false);
    mm_w_append_abandon(w);
    mm_tmp_close(&w->tmp);
    for (size_t i = 0; i < w->nmeta; i++) {
        free(w->meta[i].key);
        free(w->meta[i].value);
    }
    free(w->meta);
    free(w->maps);
    free(w->names.slots);
    free(w->dtype_map.slots);
    free(w->last_dtype_text);
    mm_w_stream_reset(w);
    free(w->colds);
    free(w->chunks);
    free(w->rag);
    for (size_t k = 0; k < w->ngrow; k++) {
        free(w->grow[k].blocks);
        free(w->grow[k].tail);
    }
    free(w->grow);
    free(w->ents);
    free(w->wnames);
    free(w->dims);
    mm_sb_free(&w->heap);
    free(w->dtypes);
    free(w->stage);
    free(w->path);
    free(w);
}

const mmarr_error *mmarr_writer_error(const mmarr_writer *w) { return &w->err; }
size_t mmarr_writer_count(const mmarr_writer *w) { return w->n; }
