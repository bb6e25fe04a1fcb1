/* SPDX-License-Identifier: MIT */
/*
 * mmarr_demo.c — the main job, end to end: pack a dataset once, map it from N forked worker
 * processes that each reduce their share, inspect the file, and show what the workers'
 * memory really cost (PSS from /proc) against what private copies would have cost.
 *
 * Usage: mmarr_demo [-w WORKERS] [-m MIB] [-o FILE] [--keep]
 *   -w  number of worker processes (default 4)
 *   -m  size of the main float32 array in MiB (default 256)
 *   -o  output file (default /dev/shm/mmarr-demo.mmarr, or $TMPDIR when /dev/shm is absent)
 */
#include <mmarr.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct result {
    double sum;       /* sum of the worker's share */
    float min, max;   /* over the whole array: every worker reads every page */
    long pss_kib;     /* PSS added by mapping + reading the file */
    long rss_kib;     /* RSS added (counts shared pages in full) */
    int ok;
} result;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One field ("Pss:" or "Rss:") of /proc/self/smaps_rollup, in KiB; -1 if unavailable. */
static long smaps_kib(const char *field)
{
    FILE *fp = fopen("/proc/self/smaps_rollup", "r");
    if (!fp)
        return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, fp))
        if (!strncmp(line, field, n)) {
            v = strtol(line + n, NULL, 10);
            break;
        }
    fclose(fp);
    return v;
}

static float value_at(uint64_t i) { return (float)sin((double)i * 1e-3) * 100.0f; }

static int pack(const char *path, uint64_t n)
{
    mmarr_writer *w;
    mmarr_error e;
    if (mmarr_writer_create(path, NULL, &w, &e)) {
        fprintf(stderr, "mmarr_demo: %s\n", e.message);
        return -1;
    }
    /* the big array is generated in place, in the file, with no extra copy */
    void *p;
    uint64_t shape[1] = {n};
    if (mmarr_writer_reserve(w, "signal", "<f4", 1, shape, MMARR_ORDER_C, &p))
        goto fail;
    float *v = p;
    for (uint64_t i = 0; i < n; i++)
        v[i] = value_at(i);
    /* a structured table and a small Fortran-order matrix, copied from memory */
    struct __attribute__((packed)) event {
        int64_t when_ns;
        double value;
        char code[6];
    } ev[3] = {{1700000000000000000, 1.5, "alpha"}, {1700000001000000000, -2.0, "beta"},
               {1700000002000000000, 42.0, "gamma"}};
    uint64_t evshape[1] = {3};
    if (mmarr_writer_add(w, "events", "[('when', '<M8[ns]'), ('value', '<f8'), ('code', '|S6')]",
                         1, evshape, MMARR_ORDER_C, ev))
        goto fail;
    double m[6] = {1, 2, 3, 4, 5, 6};
    uint64_t mshape[2] = {2, 3};
    if (mmarr_writer_add(w, "calibration", "<f8", 2, mshape, MMARR_ORDER_F, m) ||
        mmarr_writer_set_array_meta(w, "signal", "units", "mV") ||
        mmarr_writer_set_file_meta(w, "created_by", "mmarr_demo") ||
        mmarr_writer_commit(w))
        goto fail;
    mmarr_writer_free(w);
    return 0;
fail:
    fprintf(stderr, "mmarr_demo: %s\n", mmarr_writer_error(w)->message);
    mmarr_writer_free(w);
    return -1;
}

/* A worker: map the file, reduce [lo, hi), and scan everything for min/max. */
static result work(const char *path, int k, int nworkers)
{
    result r = {0};
    long pss0 = smaps_kib("Pss:"), rss0 = smaps_kib("Rss:");
    mmarr_file *f;
    mmarr_error e;
    mmarr_array_info a;
    if (mmarr_open(path, 0, &f, &e) || mmarr_file_find_array(f, "signal", &a, &e)) {
        fprintf(stderr, "worker %d: %s\n", k, e.message);
        return r;
    }
    const float *v = a.data;
    const uint64_t n = a.shape[0];
    const uint64_t lo = n * (uint64_t)k / (uint64_t)nworkers;
    const uint64_t hi = n * (uint64_t)(k + 1) / (uint64_t)nworkers;
    double s = 0;
    for (uint64_t i = lo; i < hi; i++)
        s += v[i];
    float mn = v[0], mx = v[0];
    for (uint64_t i = 0; i < n; i++) {
        mn = v[i] < mn ? v[i] : mn;
        mx = v[i] > mx ? v[i] : mx;
    }
    r.sum = s;
    r.min = mn;
    r.max = mx;
    r.pss_kib = smaps_kib("Pss:") - pss0;
    r.rss_kib = smaps_kib("Rss:") - rss0;
    r.ok = 1;
    mmarr_close(f);
    return r;
}

static void inspect(const char *path)
{
    mmarr_file *f;
    mmarr_error e;
    if (mmarr_open(path, 0, &f, &e)) {
        fprintf(stderr, "mmarr_demo: %s\n", e.message);
        return;
    }
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    printf("%s: format %u.%u, alignment %llu, %zu arrays, %.1f MiB, created_by=%s\n", path,
           fi.format_major, fi.format_minor, (unsigned long long)fi.alignment, fi.count,
           (double)fi.file_size / 1048576.0, mmarr_file_meta_get(f, "created_by"));
    printf("  %-12s %-58s %-12s %-5s %12s %10s\n", "NAME", "DTYPE", "SHAPE", "ORDER", "BYTES",
           "OFFSET");
    for (size_t i = 0; i < fi.count; i++) {
        mmarr_array_info a;
        mmarr_file_array(f, i, &a, NULL);
        char shape[64] = "(";
        for (unsigned d = 0; d < a.ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%llu",
                     d ? ", " : "", (unsigned long long)a.shape[d]);
        strcat(shape, a.ndim == 1 ? ",)" : ")");
        printf("  %-12s %-58s %-12s %-5s %12llu %#10llx\n", a.name, a.dtype_str, shape,
               a.order == MMARR_ORDER_F ? "F" : "C", (unsigned long long)a.nbytes,
               (unsigned long long)a.offset);
    }
    mmarr_error ve;
    double t0 = now();
    mmarr_err rc = mmarr_file_verify(f, &ve);
    printf("  verify: %s (%.0f ms)\n", rc ? ve.message : "all checksums match",
           (now() - t0) * 1e3);
    mmarr_close(f);
}

int main(int argc, char **argv)
{
    int nworkers = 4;
    long mib = 256;
    int keep = 0;
    char defpath[512];
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-w") && i + 1 < argc)
            nworkers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-m") && i + 1 < argc)
            mib = atol(argv[++i]);
        else if (!strcmp(argv[i], "-o") && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "--keep"))
            keep = 1;
        else {
            printf("usage: mmarr_demo [-w WORKERS] [-m MIB] [-o FILE] [--keep]\n");
            return strcmp(argv[i], "-h") && strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (nworkers < 1 || nworkers > 256 || mib < 1) {
        fprintf(stderr, "mmarr_demo: need 1..256 workers and at least 1 MiB\n");
        return 2;
    }
    if (!path) {
        struct stat st;
        const char *dir = stat("/dev/shm", &st) == 0 && access("/dev/shm", W_OK) == 0
                              ? "/dev/shm"
                              : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        snprintf(defpath, sizeof defpath, "%s/mmarr-demo.mmarr", dir);
        path = defpath;
    }
    const uint64_t n = (uint64_t)mib * 1048576 / 4;

    double t0 = now();
    if (pack(path, n))
        return 1;
    printf("packed %llu float32 (%ld MiB) + 2 small arrays into %s in %.2f s\n",
           (unsigned long long)n, mib, path, now() - t0);
    inspect(path);

    int (*pipes)[2] = calloc((size_t)nworkers, sizeof *pipes);
    pid_t *pids = calloc((size_t)nworkers, sizeof *pids);
    t0 = now();
    for (int k = 0; k < nworkers; k++) {
        if (pipe(pipes[k]) != 0 || (pids[k] = fork()) < 0) {
            perror("mmarr_demo: fork");
            return 1;
        }
        if (pids[k] == 0) {
            const int fd = pipes[k][1];
            free(pipes); /* the child exits without returning: release the parent's copies */
            free(pids);
            result r = work(path, k, nworkers);
            ssize_t wr = write(fd, &r, sizeof r);
            _exit(wr == (ssize_t)sizeof r && r.ok ? 0 : 1);
        }
        close(pipes[k][1]);
    }
    double total = 0;
    long pss = 0, rss = 0;
    int failed = 0;
    float mn = 0, mx = 0;
    for (int k = 0; k < nworkers; k++) {
        result r = {0};
        if (read(pipes[k][0], &r, sizeof r) != (ssize_t)sizeof r || !r.ok)
            failed = 1;
        close(pipes[k][0]);
        int status;
        waitpid(pids[k], &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status))
            failed = 1;
        total += r.sum;
        pss += r.pss_kib;
        rss += r.rss_kib;
        mn = r.min;
        mx = r.max;
    }
    const double elapsed = now() - t0;
    if (failed) {
        fprintf(stderr, "mmarr_demo: a worker failed\n");
        return 1;
    }
    double expect = 0;
    for (uint64_t i = 0; i < n; i++)
        expect += value_at(i);
    const int sum_ok = fabs(total - expect) <= 1e-6 * (fabs(expect) + (double)n);
    printf("%d workers mapped the file, summed their shares and scanned it all in %.2f s\n",
           nworkers, elapsed);
    printf("  sum = %.6g (expected %.6g: %s), min = %.3f, max = %.3f\n", total, expect,
           sum_ok ? "ok" : "MISMATCH", mn, mx);
    printf("  memory the workers added: PSS %.1f MiB in total (RSS %.1f MiB, which counts\n"
           "  shared pages once per process); %d private copies would cost %.1f MiB\n",
           (double)pss / 1024.0, (double)rss / 1024.0, nworkers,
           (double)nworkers * (double)mib);
    free(pipes);
    free(pids);
    if (!keep)
        unlink(path);
    else
        printf("kept %s\n", path);
    return sum_ok ? 0 : 1;
}
