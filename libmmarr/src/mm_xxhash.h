/* SPDX-License-Identifier: MIT */
/*
 * mm_xxhash.h — the XXH3 functions the library calls. Where the installed libxxhash exports
 * its run-time dispatched variants (x86-64: AVX2 or AVX-512 when the CPU has them; Debian's
 * build does), XXH3_64bits and XXH3_64bits_update name those: about 1.4-1.6x the speed of
 * the baseline SSE2 code on this project's machine. The hash values are the same.
 */
#ifndef MM_XXHASH_H
#define MM_XXHASH_H

#include <xxhash.h>
#ifdef MMARR_HAVE_XXH_DISPATCH
#include <xxh_x86dispatch.h>
#endif

#endif
