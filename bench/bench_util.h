/* SPDX-License-Identifier: MIT */
/* bench_util.h — clocks and sorting shared by the C benchmarks. */
#ifndef MMARR_BENCH_UTIL_H
#define MMARR_BENCH_UTIL_H

#include <sys/resource.h>
#include <time.h>

/* Wall-clock seconds (monotonic). */
static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds (user + system) of all threads of this process so far. */
static inline double cpu_time(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* qsort comparator for doubles, ascending. */
static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
