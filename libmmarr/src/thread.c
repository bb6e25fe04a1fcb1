/* SPDX-License-Identifier: MIT */
/*
 * thread.c — how many CPUs the library's work may use, starting its short-lived helper
 * threads (index validation, cold reads and writes) where they can run at once, and batches:
 * a list of work items shared by a few threads that take the next item from a counter
 * (the chunks of cold arrays, spec.md §10). Threads are started per batch (tens of
 * microseconds against milliseconds of work per chunk), so no thread outlives a call.
 *
 * Linux starts a new thread on its creator's CPU. When the creator goes on working (the
 * library's callers always take a share of the work themselves), the new thread waits until
 * the scheduler next balances the load, up to a scheduler tick: on this project's 2-CPU VM a
 * helper of a 1.7 ms open started 0.2-0.7 ms late, and a test thread 0.6-1.5 ms late, against
 * 0.1 ms when it may run only on the other CPUs. So helpers are started on the CPUs the process
 * may use, minus the caller's. The restriction is the helper's own, lives as long as it (at
 * most one call), and never widens what the process is allowed (taskset, cgroup cpusets).
 */
#include "mm_internal.h"

#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

unsigned mm_online_cpus(void)
{
    cpu_set_t set;
    long n;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set); /* what this process may use, not what the machine has */
    else
        n = sysconf(_SC_NPROCESSORS_ONLN); /* more CPUs than a cpu_set_t holds */
    return n < 1 ? 1u : n > MM_MAX_THREADS ? MM_MAX_THREADS : (unsigned)n;
}

int mm_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return pthread_create(t, NULL, fn, arg);
    cpu_set_t set;
    const int me = sched_getcpu();
    if (me >= 0 && me < CPU_SETSIZE && sched_getaffinity(0, sizeof set, &set) == 0) {
        CPU_CLR(me, &set);
        if (CPU_COUNT(&set) > 0)
            pthread_attr_setaffinity_np(&attr, sizeof set, &set); /* a hint: errors ignored */
    }
    const int rc = pthread_create(t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return rc;
}

/* Raw bytes a batch of chunks may hold in memory (writer and verification), unless a single
 * chunk per thread is larger. */
#define MM_BATCH_BYTES (64u << 20)

/* Raw bytes each thread of a batch must have to do before a helper thread is worth starting:
 * starting and joining one costs 60-130 us on this project's VM, about what zstd takes to
 * decompress 100-200 KiB (compression is slower, so this errs on the side of fewer threads).
 * Below it, small arrays and small reads run on the caller's thread alone. */
#define MM_THREAD_MIN_BYTES (256u << 10)

/* Threads for `count` chunks holding `bytes` raw bytes: at most `threads`, one per chunk, and
 * MM_THREAD_MIN_BYTES of work each; at least 1. */
unsigned mm_batch_threads(unsigned threads, uint64_t count, uint64_t bytes)
{
    const uint64_t by_size = bytes / MM_THREAD_MIN_BYTES;
    if (threads > count)
        threads = (unsigned)count;
    if (threads > by_size)
        threads = (unsigned)by_size;
    return threads ? threads : 1;
}

/* Chunks in a batch (writer and verification) for `threads` threads: per_thread each, more
 * when chunks are small, until each thread has twice MM_THREAD_MIN_BYTES (or mm_batch_run would
 * not start it); then cut to MM_BATCH_BYTES of raw bytes, but not below `least` chunks. */
uint64_t mm_batch_chunks(unsigned threads, unsigned per_thread, uint64_t chunk_size, uint64_t least)
{
    uint64_t n = (uint64_t)threads * per_thread;
    const uint64_t want = (uint64_t)threads * 2 * MM_THREAD_MIN_BYTES;
    if (n * chunk_size < want)
        n = (want + chunk_size - 1) / chunk_size;
    if (n * chunk_size > MM_BATCH_BYTES) /* chunk_size <= 1 GiB: no overflow */
        n = MM_BATCH_BYTES / chunk_size > least ? MM_BATCH_BYTES / chunk_size : least;
    return n;
}

/* ---- a batch of chunks over a few threads ---- */

typedef struct mm_worker {
    mm_batch *b;
    unsigned id;
} mm_worker;

static void *batch_worker(void *arg)
{
    mm_worker *w = arg;
    mm_batch *b = w->b;
    for (;;) {
        if (atomic_load(&b->failed))
            break;
        size_t k = atomic_fetch_add(&b->next, 1);
        if (k >= b->count)
            break;
        if (b->fn(b, w->id, k) != 0)
            atomic_store(&b->failed, 1);
    }
    return NULL;
}

/* Run fn for k = 0..count-1, `bytes` raw bytes in all, on up to `threads` threads (the caller
 * is one of them; see mm_batch_threads). Returns nonzero if any call failed (the first failure
 * stops the others taking new chunks). */
int mm_batch_run(mm_batch *b, unsigned threads, uint64_t bytes)
{
    atomic_init(&b->next, 0);
    atomic_init(&b->failed, 0);
    threads = mm_batch_threads(threads, b->count, bytes);
    pthread_t tid[MM_MAX_THREADS];
    mm_worker wk[MM_MAX_THREADS];
    unsigned started = 0;
    for (unsigned t = 1; t < threads; t++) {
        wk[t] = (mm_worker){b, t};
        if (mm_thread_start(&tid[t], batch_worker, &wk[t]) != 0)
            break; /* fewer threads; the work still gets done */
        started = t;
    }
    wk[0] = (mm_worker){b, 0};
    batch_worker(&wk[0]);
    for (unsigned t = 1; t <= started; t++)
        pthread_join(tid[t], NULL);
    return atomic_load(&b->failed);
}
