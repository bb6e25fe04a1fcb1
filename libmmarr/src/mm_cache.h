/* SPDX-License-Identifier: MIT */
/*
 * mm_cache.h — what the two halves of the shared decompression cache share: cache_dir.c
 * (the directory: trust, names, scanning, LRU eviction, mmarr_cache_* housekeeping) and
 * cache_map.c (mmarr_file_map: keys, fill locks, entries, the handle's mapped arrays).
 * docs/cache-protocol.md states the cross-process protocol both keep.
 */
#ifndef MM_CACHE_H
#define MM_CACHE_H

#include "mm_internal.h"

/* An entry's name is the 32 hex digits of its key; "<key>.lock" and "<key>.tmp.XXXXXX"
 * are its fill lock and temporaries. */
#define MM_KEY_HEX 32

/* "<key>.lock" into out. */
void mm_cache_lock_name(char out[MM_KEY_HEX + 6], const char *key);

/* Resolve `dir` (NULL: the default), create it if asked, check it can be trusted, and find
 * its bound (max_bytes, or the default when 0). Outputs may be NULL except fd_out. */
mmarr_err mm_cache_dir_setup(const char *dir, bool create, uint64_t max_bytes, int *fd_out,
                             char **dir_out, uint64_t *max_out, mmarr_error *e);

mmarr_err mm_cache_evict(int dirfd, const char *dir, const char *key, uint64_t need,
                         uint64_t max_bytes, uint64_t *taken, mmarr_error *e);

#endif /* MM_CACHE_H */
