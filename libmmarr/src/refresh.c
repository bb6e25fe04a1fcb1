/* SPDX-License-Identifier: MIT */
/*
 * refresh.c — readers of a file that grows (spec.md §4.4, issue #19): mmarr_file_refresh()
 * moves a handle to the newest generation, mmarr_file_wait() sleeps until there is one.
 *
 * A refresh validates the newest generation on a second handle of the same open file (a dup
 * of the descriptor, mapped anew at its current length), and only then moves that handle's
 * generation into this one. The old mapping and dtypes are retired, not unmapped: pointers
 * handed out before stay valid until mmarr_close (the file never shrinks under a published
 * generation, so they never fault). Decoded cold chunks kept by the handle are keyed by file
 * offset and stay right; arrays mapped from the shared cache are kept, out of lookups.
 */
#include "mm_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

/* The newest generation among the valid slots of the superblock, read with pread (0 if
 * none is valid). A slot being written fails its checksum and is skipped. */
static mmarr_err newest_generation(mmarr_file *f, uint64_t *gen, mmarr_error *e)
{
    mmarr_disk_slot s[2];
    MM_TRY(mm_pread_all(e, f->fd, f->path, s, sizeof s, MMARR_SLOT_A_OFFSET));
    *gen = 0;
    for (int i = 0; i < 2; i++)
        if (s[i].generation > *gen && mm_slot_checksum(&s[i]) == s[i].checksum)
            *gen = s[i].generation;
    return MMARR_OK;
}

/* Move n's generation (validated) into f, retiring f's; n is left empty and closed. */
static mmarr_err adopt(mmarr_file *f, mmarr_file *n, mmarr_error *e)
{
    struct mm_retired *r = realloc(f->retired, (f->retired_count + 1) * sizeof *r);
    if (!r) {
        mmarr_close(n);
        MM_FAIL(e, MMARR_E_NOMEM, MMARR_NO_OFFSET, "%s: out of memory", f->path);
    }
    f->retired = r;
    r[f->retired_count++] = (struct mm_retired){(void *)f->base, (size_t)f->size, f->dtypes,
                                                f->dtype_count};
    f->dtypes = NULL;
    f->dtype_count = 0;
    mm_ragged_unload(f);
    mm_growable_unload(f);
    mm_cache_retire(f);
    f->base = n->base;
    f->size = n->size;
    f->slot = n->slot;
    f->active_slot = n->active_slot;
    f->other_slot_damaged = n->other_slot_damaged;
    f->damaged_generation = n->damaged_generation;
    f->damaged_why = n->damaged_why;
    f->alignment = n->alignment;
    f->format_minor = n->format_minor;
    f->index = n->index;
    f->ih = n->ih;
    f->entries = n->entries;
    f->order = n->order;
    f->names = n->names;
    f->dims = n->dims;
    f->meta = n->meta;
    f->ameta = n->ameta;
    f->ameta_count = n->ameta_count;
    f->heap = n->heap;
    f->entry_count = n->entry_count;
    f->meta_count = n->meta_count;
    f->dim_count = n->dim_count;
    f->ragged = n->ragged;
    f->ragged_count = n->ragged_count;
    f->ragged_of = n->ragged_of;
    f->ragged_ok = n->ragged_ok;
    f->dtypes = n->dtypes;
    f->dtype_count = n->dtype_count;
    f->growable = n->growable;
    f->growable_count = n->growable_count;
    f->blocks = n->blocks;
    f->block_total = n->block_total;
    f->growable_of = n->growable_of;
    n->growable_of = NULL;
    f->growable_stored = n->growable_stored;
    n->growable_stored = NULL;
    n->ragged_of = NULL;
    n->ragged_ok = NULL;
    n->dtypes = NULL;
    n->dtype_count = 0;
    n->mapped = false; /* the mapping is f's now */
    mmarr_close(n);
    return MMARR_OK;
}

static mmarr_err check_refreshable(const mmarr_file *f, const char *fn, mmarr_error *e)
{
    if (f->fd < 0 || !f->mapped)
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "%s: %s: a buffer has no newer generation",
                f->path, fn);
    if (f->writable || f->cow)
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                "%s: %s: not for a read-write or copy-on-write handle (open the file again)",
                f->path, fn);
    return MMARR_OK;
}

static mmarr_err refresh(mmarr_file *f, int *changed, mmarr_error *e)
{
    MM_TRY(check_refreshable(f, "mmarr_file_refresh", e));
    uint64_t gen;
    MM_TRY(newest_generation(f, &gen, e));
    if (gen <= f->slot.generation)
        return MMARR_OK;
    const int fd = dup(f->fd);
    if (fd < 0)
        MM_FAIL_SYS(e, MMARR_E_IO, errno, "%s: cannot duplicate the descriptor", f->path);
    mmarr_file *n;
    MM_TRY(mm_open_fd(f->path, fd, f->chunk_verify ? 0 : MMARR_OPEN_NO_CHUNK_VERIFY, &n, e));
    if (n->slot.generation <= f->slot.generation) { /* the newer one is damaged */
        mmarr_close(n);
        return MMARR_OK;
    }
    MM_TRY(adopt(f, n, e));
    *changed = 1;
    return MMARR_OK;
}

mmarr_err mmarr_file_refresh(mmarr_file *f, int *changed, mmarr_error *err)
{
    mmarr_error e;
    int moved = 0;
    mmarr_err rc = refresh(f, &moved, &e);
    if (changed)
        *changed = moved;
    return mm_file_done(f, rc, &e, err);
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static mmarr_err wait_newer(mmarr_file *f, int timeout_ms, int *newer, mmarr_error *e)
{
    if (f->fd < 0 || !f->mapped)
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET,
                "%s: mmarr_file_wait: a buffer has no newer generation", f->path);
    /* inotify on the file (an appender's writes raise IN_MODIFY); where it cannot be had,
     * checks at growing intervals. Either way the superblock is the judge. */
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", f->fd);
    const uint32_t events = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE;
    int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (in >= 0 && inotify_add_watch(in, proc, events) < 0 &&
        inotify_add_watch(in, f->path, events) < 0) {
        close(in);
        in = -1;
    }
    const double deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    int nap = 1;
    mmarr_err rc;
    for (;;) {
        uint64_t gen;
        if ((rc = newest_generation(f, &gen, e)) != MMARR_OK)
            break;
        if (gen > f->slot.generation) {
            *newer = 1;
            break;
        }
        double left = deadline < 0 ? 50 : deadline - now_ms();
        if (left <= 0)
            break;
        int ms = (int)(left < nap ? left + 1 : nap);
        if (in >= 0) {
            struct pollfd p = {.fd = in, .events = POLLIN};
            ms = (int)(left < 1000 ? left + 1 : 1000); /* a check a second regardless */
            if (poll(&p, 1, ms) > 0) {
                char buf[4096];
                while (read(in, buf, sizeof buf) > 0) {
                }
            }
        } else {
            poll(NULL, 0, ms);
            nap = nap < 50 ? nap * 2 : 50;
        }
    }
    if (in >= 0)
        close(in);
    return rc;
}

mmarr_err mmarr_file_wait(mmarr_file *f, int timeout_ms, int *newer, mmarr_error *err)
{
    mmarr_error e;
    int got = 0;
    mmarr_err rc = wait_newer(f, timeout_ms, &got, &e);
    if (newer)
        *newer = got;
    return mm_file_done(f, rc, &e, err);
}
