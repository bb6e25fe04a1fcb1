/* SPDX-License-Identifier: MIT */
/*
 * thread.c — how many CPUs the library's work may use, and starting its short-lived helper
 * threads (index validation, cold reads and writes) where they can run at once.
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
