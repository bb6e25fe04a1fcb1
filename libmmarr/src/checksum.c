/* SPDX-License-Identifier: MIT */
/* checksum.c — XXH3-64 with seed 0, the only checksum of the format (spec.md §11.1). */
#include "mm_internal.h"

#include "mm_xxhash.h"

uint64_t mm_xxh3(const void *p, size_t n) { return (uint64_t)XXH3_64bits(p, n); }
