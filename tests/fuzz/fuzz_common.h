/* SPDX-License-Identifier: MIT */
/*
 * fuzz_common.h — what the fuzz targets share: an invariant check that aborts (libFuzzer
 * and the replay driver both report an abort as a crash, with the input that caused it), and
 * a little reader of fuzzer bytes for targets that build structured inputs.
 *
 * Each target defines LLVMFuzzerTestOneInput(); fuzz_driver.c replays files through it when
 * the target is built without libFuzzer (every build, gcc included, under ctest).
 */
#ifndef MMARR_FUZZ_COMMON_H
#define MMARR_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the library (not a property of the input) was broken: report and abort. */
#define FUZZ_CHECK(cond)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);     \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* Like FUZZ_CHECK, with a message (e.g. the library's error text). */
#define FUZZ_CHECK_MSG(cond, ...)                                                            \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fputc('\n', stderr);                                                             \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* For the targets' own byte loops (filling test data, comparing buffers): their branches say
 * nothing about the library, and tracing every iteration costs more than the library call.
 * noinline: inlined into an instrumented caller, the loop would be traced after all. */
#if defined(__clang__) && __clang_major__ >= 13
#define FUZZ_NO_COVERAGE __attribute__((no_sanitize("coverage"), noinline))
#else
#define FUZZ_NO_COVERAGE
#endif

/* Consume fuzzer bytes as small integers; past the end every read gives 0, so any input is a
 * complete description (libFuzzer's FuzzedDataProvider, reduced to what the targets need). */
typedef struct fuzz_src {
    const uint8_t *p;
    size_t n;
} fuzz_src;

static inline uint8_t fuzz_u8(fuzz_src *s)
{
    if (!s->n)
        return 0;
    s->n--;
    return *s->p++;
}

static inline uint32_t fuzz_u32(fuzz_src *s)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)fuzz_u8(s) << (8 * i);
    return v;
}

/* A value in [0, n) (n >= 1). */
static inline uint32_t fuzz_below(fuzz_src *s, uint32_t n)
{
    return n <= 256 ? fuzz_u8(s) % n : fuzz_u32(s) % n;
}

#endif
