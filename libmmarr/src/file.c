/* SPDX-License-Identifier: MIT */
/*
 * file.c — the read handle's life cycle: mmarr_open (open, fstat, mmap), mmarr_open_buffer,
 * validation through index_read.c, the read-write mark (update.c), and mmarr_close, which
 * releases what the other parts attached to the handle (cold decompression states, cache
 * mappings, retired mappings of a rehash).
 */
#include "mm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static mmarr_file *file_new(const char *path)
{
    mmarr_file *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->path = strdup(path);
    if (!f->path) {
        free(f);
        return NULL;
    }
    f->fd = -1;
    f->last_err.offset = MMARR_NO_OFFSET;
    pthread_mutex_init(&f->err_lock, NULL);
    pthread_mutex_init(&f->dpool_lock, NULL);
    pthread_mutex_init(&f->memo_lock, NULL);
    return f;
}

void mmarr_close(mmarr_file *f)
{
    if (!f)
        return;
    mm_index_unload(f);
    for (size_t i = 0; i < f->retired_count; i++) {
        for (uint64_t k = 0; k < f->retired[i].dtype_count; k++)
            mmarr_dtype_free(f->retired[i].dtypes[k]);
        free(f->retired[i].dtypes);
        if (f->retired[i].map)
            munmap(f->retired[i].map, f->retired[i].map_size);
    }
    free(f->retired);
    mm_cache_release(f);
    mm_cold_release(f);
    if (f->mapped && f->base)
        munmap((void *)f->base, (size_t)f->size);
    if (f->fd >= 0)
        close(f->fd);
    pthread_mutex_destroy(&f->err_lock);
    pthread_mutex_destroy(&f->dpool_lock);
    pthread_mutex_destroy(&f->memo_lock);
    free(f->path);
    free(f);
}

/* Map [0, size) of f->fd (replacing f's mapping, if any) as `flags` ask. */
static mmarr_err map_file(mmarr_file *f, uint64_t size, unsigned flags, mmarr_error *e)
{
    if (f->mapped)
        munmap((void *)f->base, (size_t)f->size);
    f->mapped = false;
    f->base = (const unsigned char *)"";
    f->size = 0;
    if (size == 0)
        return MMARR_OK;
    if (size > SIZE_MAX)
        MM_FAIL(e, MMARR_E_RANGE, MMARR_NO_OFFSET, "%s: too large to map on this host", f->path);
    const int prot = PROT_READ | (f->writable || f->cow ? PROT_WRITE : 0);
    const int mflags = (f->cow ? MAP_PRIVATE : MAP_SHARED) |
                       ((flags & MMARR_OPEN_POPULATE) ? MAP_POPULATE : 0);
    void *p = mmap(NULL, (size_t)size, prot, mflags, f->fd, 0);
    if (p == MAP_FAILED)
        MM_FAIL_SYS(e, MMARR_E_IO, errno, "%s: cannot map %llu bytes", f->path,
                    (unsigned long long)size);
    f->base = p;
    f->size = size;
    f->mapped = true;
    return MMARR_OK;
}

/* Whether f's file is now longer than its mapping: appenders published generations between
 * the fstat and the read of the slots, so the newest slot (or both) point past the mapping
 * (spec.md §4.4: files only grow). Then f is mapped again at the new length: 1; not longer:
 * 0; the new mapping failed: -1, with e set. */
static int remap_longer(mmarr_file *f, unsigned flags, mmarr_error *e)
{
    struct stat st;
    if (f->fd < 0 || fstat(f->fd, &st) != 0 || (uint64_t)st.st_size <= f->size)
        return 0;
    mm_index_unload(f);
    return map_file(f, (uint64_t)st.st_size, flags, e) == MMARR_OK ? 1 : -1;
}

static mmarr_err finish_open(mmarr_file *f, unsigned flags, mmarr_file **out, mmarr_error *e)
{
    f->chunk_verify = !(flags & MMARR_OPEN_NO_CHUNK_VERIFY);
    mmarr_err rc;
    for (int tries = 0;; tries++) {
        rc = mm_index_load(f, e);
        const bool raced = rc == MMARR_E_TRUNCATED || (rc == MMARR_OK && f->damaged_generation &&
                                                       f->damaged_why.code == MMARR_E_TRUNCATED);
        if (!raced || tries == 8)
            break;
        const int r = remap_longer(f, flags, e);
        if (r <= 0) {
            rc = r < 0 ? e->code : rc;
            break;
        }
    }
    f->want = NULL; /* the caller's, valid during the open only */
    if (rc == MMARR_OK && f->writable)
        rc = mm_publish_stale(f, e);
    if (rc == MMARR_OK && (flags & MMARR_OPEN_VERIFY))
        rc = mmarr_file_verify(f, e);
    if (rc != MMARR_OK) {
        mmarr_close(f);
        return rc;
    }
    *out = f;
    return MMARR_OK;
}

static mmarr_err open_fd(const char *path, int fd, unsigned flags, const mmarr_generation *want,
                         mmarr_file **out, mmarr_error *e)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int se = errno;
        close(fd);
        MM_FAIL_SYS(e, MMARR_E_IO, se, "%s: cannot stat", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: not a regular file", path);
    }
    mmarr_file *f = file_new(path);
    if (!f) {
        close(fd);
        MM_FAIL(e, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", path);
    }
    f->fd = fd; /* kept: rehash, and checksums read with pread (checksum.c); closed with f */
    f->device = (uint64_t)st.st_dev;
    f->inode = (uint64_t)st.st_ino;
    f->writable = flags & MMARR_OPEN_RDWR;
    f->cow = flags & MMARR_OPEN_COPY_ON_WRITE;
    mmarr_err rc = map_file(f, (uint64_t)st.st_size, flags, e);
    if (rc != MMARR_OK) {
        mmarr_close(f);
        return rc;
    }
    f->want = want;
    return finish_open(f, flags, out, e);
}

/* mmarr_open and mmarr_open_generation: the newest generation, or `want`. */
static mmarr_err open_path(const char *path, unsigned flags, const mmarr_generation *want,
                           mmarr_file **out, mmarr_error *e)
{
    if (out)
        *out = NULL;
    if (!out || !path)
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "mmarr_open: NULL argument");
    if (flags & ~(MMARR_OPEN_RDWR | MMARR_OPEN_VERIFY | MMARR_OPEN_POPULATE |
                  MMARR_OPEN_NO_CHUNK_VERIFY | MMARR_OPEN_COPY_ON_WRITE))
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: unknown open flags 0x%x", path, flags);
    const bool rw = flags & MMARR_OPEN_RDWR, cow = flags & MMARR_OPEN_COPY_ON_WRITE;
    if (rw && cow)
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                "%s: MMARR_OPEN_RDWR (writes reach the file) and MMARR_OPEN_COPY_ON_WRITE "
                "(writes stay in this process) exclude each other",
                path);
    int fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        MM_FAIL_SYS(e, MMARR_E_IO, errno, "%s: cannot open%s", path,
                    rw ? " for reading and writing" : "");
    if (rw) { /* one writer at a time (spec.md §4.4): not while an appender works */
        mmarr_err rc = mm_writer_lock(fd, path, false, false, e);
        if (rc != MMARR_OK) {
            close(fd);
            return rc;
        }
    }
    return open_fd(path, fd, flags, want, out, e);
}

mmarr_err mmarr_open(const char *path, unsigned flags, mmarr_file **out, mmarr_error *err)
{
    MM_ERR_OUT(e, err);
    return open_path(path, flags, NULL, out, e);
}

mmarr_err mmarr_open_generation(const char *path, unsigned flags, const mmarr_generation *g,
                                mmarr_file **out, mmarr_error *err)
{
    MM_ERR_OUT(e, err);
    if (!g) {
        if (out)
            *out = NULL;
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "mmarr_open_generation: NULL generation");
    }
    return open_path(path, flags, g, out, e);
}

mmarr_err mm_open_fd(const char *path, int fd, unsigned flags, mmarr_file **out, mmarr_error *e)
{
    return open_fd(path, fd, flags, NULL, out, e);
}

mmarr_err mmarr_open_buffer(const void *data, size_t size, unsigned flags, mmarr_file **out,
                            mmarr_error *err)
{
    MM_ERR_OUT(e, err);
    if (out)
        *out = NULL;
    if (!out || (!data && size))
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "mmarr_open_buffer: NULL argument");
    if (flags & ~(MMARR_OPEN_VERIFY | MMARR_OPEN_NO_CHUNK_VERIFY))
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                "<buffer>: only MMARR_OPEN_VERIFY and MMARR_OPEN_NO_CHUNK_VERIFY are "
                "valid for buffers (flags 0x%x)",
                flags);
    if ((uint64_t)size > (uint64_t)INT64_MAX)
        MM_FAIL(e, MMARR_E_RANGE, MMARR_NO_OFFSET, "<buffer>: too large");
    if (size && ((uintptr_t)data % 8))
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "<buffer>: the buffer must be 8-byte aligned");
    mmarr_file *f = file_new("<buffer>");
    if (!f)
        MM_FAIL(e, MMARR_E_NOMEM, MMARR_NO_OFFSET, "<buffer>: out of memory");
    f->base = size ? data : (const unsigned char *)"";
    f->size = size;
    return finish_open(f, flags, out, e);
}

void mmarr_file_get_info(const mmarr_file *f, mmarr_file_info *out)
{
    memset(out, 0, sizeof *out);
    out->path = f->path;
    out->format_major = MMARR_FORMAT_MAJOR;
    out->format_minor = f->format_minor;
    out->file_size = f->slot.file_size;
    out->alignment = f->alignment;
    out->generation = f->slot.generation;
    out->count = (size_t)f->entry_count;
    out->meta_count = f->ih->file_meta_count;
    out->index_offset = f->slot.index_offset;
    out->index_size = f->slot.index_size;
    out->required_features = f->slot.required_features;
    out->optional_features = f->slot.optional_features;
    out->writable = f->writable;
    out->copy_on_write = f->cow;
    out->checksums_stale = (f->slot.state_flags & MMARR_STATE_CHECKSUMS_STALE) != 0;
    out->inactive_slot_damaged = f->other_slot_damaged;
    out->damaged_generation = f->damaged_generation;
    out->device = f->device;
    out->inode = f->inode;
    out->index_checksum = f->slot.index_checksum;
}

void mmarr_file_set_threads(mmarr_file *f, unsigned n) { f->threads = n; }
