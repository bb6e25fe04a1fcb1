/* SPDX-License-Identifier: MIT */
/*
 * mmarr_demo.c — the main job, end to end: pack a dataset once, map it from N forked worker
 * processes that each reduce their share, inspect the file, and show what the workers'
 * memory really cost against what private copies would have cost: PSS and RSS from
 * /proc/PID/smaps_rollup and smaps, read while every worker is alive, parked, holding the
 * mapping with the whole array read.
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
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What a worker reports through its pipe once its work is done (and before it parks). */
typedef struct result {
    double sum;        /* sum of the worker's share */
    float min, max;    /* over the whole array: every worker reads every page */
    uint64_t dev, ino; /* the file it mapped (st_dev, st_ino) ... */
    uintptr_t addr;    /* ... and an address inside that mapping */
    int ok;
} result;

/* One worker's memory, in KiB, read by the parent while the worker is parked; -1 unknown. */
typedef struct usage {
    long pss, rss;           /* the whole process (smaps_rollup, or the sum over smaps) */
    long file_pss, file_rss; /* its mapping(s) of the file (smaps) */
    long file_anon;          /* anonymous (copied-on-write) pages inside that mapping */
    long pte;                /* page tables (VmPTE in /proc/PID/status) */
} usage;

typedef struct worker {
    pid_t pid;
    int res_fd; /* read end of the worker's result pipe */
    result r;
    usage u;
} worker;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* read()/write() exactly n bytes, retrying on EINTR and short transfers. 0 on success; -1 on
 * error or end of file (a worker that died before reporting closes its pipe: EOF). */
static int read_full(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        ssize_t k = read(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* If `line` is "<name> <value> kB" (name with its colon, e.g. "Pss:"), add the value to *acc
 * (treating -1, unknown, as 0) and return 1; else 0. */
static int add_field(const char *line, const char *name, long *acc)
{
    size_t n = strlen(name);
    if (strncmp(line, name, n))
        return 0;
    long v = strtol(line + n, NULL, 10);
    *acc = (*acc < 0 ? 0 : *acc) + v;
    return 1;
}

/* Fill u for process `pid`, whose mapping of the file r->dev/r->ino contains r->addr. The
 * totals come from /proc/PID/smaps_rollup, or from the sum over /proc/PID/smaps when the
 * kernel has no smaps_rollup (before 4.14); the file's share always from smaps. 0 on success,
 * -1 if smaps could not be read (the worker died, or /proc is restricted). */
static int measure(pid_t pid, const result *r, usage *u)
{
    char path[64], line[512];
    *u = (usage){-1, -1, 0, 0, 0, -1};
    long pss = -1, rss = -1; /* summed over smaps, for the fallback */
    snprintf(path, sizeof path, "/proc/%ld/smaps", (long)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    int in_file = 0, ok = 0;
    while (fgets(line, sizeof line, fp)) {
        unsigned long lo, hi, off, ino;
        unsigned maj, mnr;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &lo, &hi, perms, &off, &maj, &mnr, &ino) ==
            7) { /* a mapping's header: is it (part of) the file's mapping? */
            in_file = (maj == major((dev_t)r->dev) && mnr == minor((dev_t)r->dev) &&
                       ino == r->ino && ino != 0) ||
                      (r->addr >= lo && r->addr < hi);
            ok = 1;
            continue;
        }
        if (add_field(line, "Pss:", &pss)) {
            if (in_file)
                add_field(line, "Pss:", &u->file_pss);
        } else if (add_field(line, "Rss:", &rss)) {
            if (in_file)
                add_field(line, "Rss:", &u->file_rss);
        } else if (in_file) {
            add_field(line, "Anonymous:", &u->file_anon);
        }
    }
    fclose(fp);
    if (!ok)
        return -1;
    u->pss = pss;
    u->rss = rss;
    snprintf(path, sizeof path, "/proc/%ld/smaps_rollup", (long)pid);
    if ((fp = fopen(path, "r"))) {
        long rp = -1, rr = -1;
        while (fgets(line, sizeof line, fp))
            if (!add_field(line, "Pss:", &rp))
                add_field(line, "Rss:", &rr);
        fclose(fp);
        if (rp >= 0 && rr >= 0) {
            u->pss = rp;
            u->rss = rr;
        }
    }
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    if ((fp = fopen(path, "r"))) {
        while (fgets(line, sizeof line, fp))
            if (add_field(line, "VmPTE:", &u->pte))
                break;
        fclose(fp);
    }
    return u->pss < 0 || u->rss < 0 ? -1 : 0;
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

/* A worker: map the file, reduce [lo, hi), and scan everything for min/max; report through
 * res_fd, then park, still holding the mapping, until the parent has measured every worker and
 * closes the "go" pipe (EOF on go_fd; also what happens if the parent dies). 0 on success. */
static int work(const char *path, int k, int nworkers, int res_fd, int go_fd)
{
    result r = {0};
    mmarr_file *f;
    mmarr_error e;
    mmarr_array_info a;
    if (mmarr_open(path, 0, &f, &e)) {
        fprintf(stderr, "worker %d: %s\n", k, e.message);
        return 1;
    }
    if (mmarr_file_find_array(f, "signal", &a, &e)) {
        fprintf(stderr, "worker %d: %s\n", k, e.message);
        mmarr_close(f);
        return 1;
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
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    r.sum = s;
    r.min = mn;
    r.max = mx;
    r.dev = fi.device;
    r.ino = fi.inode;
    r.addr = (uintptr_t)a.data;
    r.ok = 1;
    int rc = write_full(res_fd, &r, sizeof r) ? 1 : 0;
    char c;
    ssize_t got;
    while (!rc && ((got = read(go_fd, &c, 1)) > 0 || (got < 0 && errno == EINTR)))
        ; /* parked: the parent measures us now */
    mmarr_close(f);
    return rc;
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

    /* Start the workers. Each gets a result pipe; all share one "go" pipe whose write end only
     * the parent holds: closing it releases every parked worker at once. */
    worker *ws = calloc((size_t)nworkers, sizeof *ws);
    int go[2] = {-1, -1};
    int started = 0, failed = 0;
    if (!ws || pipe(go) != 0) {
        perror("mmarr_demo: start workers");
        free(ws);
        if (go[0] >= 0) {
            close(go[0]);
            close(go[1]);
        }
        return 1;
    }
    fflush(stdout); /* nothing buffered is duplicated into the workers */
    t0 = now();
    for (; started < nworkers; started++) {
        int fds[2];
        if (pipe(fds) != 0) {
            perror("mmarr_demo: pipe");
            failed = 1;
            break;
        }
        pid_t pid = fork();
        if (pid < 0) {
            perror("mmarr_demo: fork");
            close(fds[0]);
            close(fds[1]);
            failed = 1;
            break;
        }
        if (pid == 0) {
            /* the child exits without returning: drop the parent's descriptors and memory */
            close(go[1]);
            close(fds[0]);
            for (int j = 0; j < started; j++)
                close(ws[j].res_fd);
            free(ws);
            int rc = work(path, started, nworkers, fds[1], go[0]);
            close(fds[1]);
            close(go[0]);
            _exit(rc);
        }
        close(fds[1]);
        ws[started].pid = pid;
        ws[started].res_fd = fds[0];
    }
    close(go[0]);

    /* Wait until every worker has reported: then all of them are alive, parked, holding the
     * mapping with every page read. A worker that died first closed its pipe: EOF, not a hang. */
    double total = 0;
    float mn = 0, mx = 0;
    for (int k = 0; k < started; k++) {
        if (read_full(ws[k].res_fd, &ws[k].r, sizeof ws[k].r) || !ws[k].r.ok) {
            fprintf(stderr, "mmarr_demo: worker %d (pid %ld) ended without reporting\n", k,
                    (long)ws[k].pid);
            failed = 1;
            continue;
        }
        total += ws[k].r.sum;
        mn = k ? (ws[k].r.min < mn ? ws[k].r.min : mn) : ws[k].r.min;
        mx = k ? (ws[k].r.max > mx ? ws[k].r.max : mx) : ws[k].r.max;
    }
    const double elapsed = now() - t0;
    int measured = !failed;
    for (int k = 0; measured && k < started; k++)
        if (measure(ws[k].pid, &ws[k].r, &ws[k].u))
            measured = 0;

    /* Release them all and reap every one, whatever happened above. */
    close(go[1]);
    for (int k = 0; k < started; k++) {
        int status;
        close(ws[k].res_fd);
        while (waitpid(ws[k].pid, &status, 0) < 0)
            if (errno != EINTR) {
                status = -1;
                break;
            }
        if (status == -1)
            perror("mmarr_demo: waitpid");
        else if (WIFSIGNALED(status))
            fprintf(stderr, "mmarr_demo: worker %d (pid %ld) was killed by signal %d\n", k,
                    (long)ws[k].pid, WTERMSIG(status));
        else if (WEXITSTATUS(status))
            fprintf(stderr, "mmarr_demo: worker %d (pid %ld) exited with status %d\n", k,
                    (long)ws[k].pid, WEXITSTATUS(status));
        if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status))
            failed = 1;
    }
    if (failed) {
        fprintf(stderr, "mmarr_demo: not every worker completed its work\n");
        free(ws);
        if (!keep)
            unlink(path);
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
    if (measured) {
        usage t = {0, 0, 0, 0, 0, 0};
        int have_pte = 1;
        for (int k = 0; k < nworkers; k++) {
            t.pss += ws[k].u.pss;
            t.rss += ws[k].u.rss;
            t.file_pss += ws[k].u.file_pss;
            t.file_rss += ws[k].u.file_rss;
            t.file_anon += ws[k].u.file_anon;
            if (ws[k].u.pte < 0)
                have_pte = 0;
            else
                t.pte += ws[k].u.pte;
        }
        const double M = 1024.0;
        printf(
            "  memory, summed over the %d worker%s while %s the mapping, the whole array read:\n",
            nworkers, nworkers == 1 ? "" : "s", nworkers == 1 ? "it held" : "all held");
        printf("    the file's mapping  PSS %7.1f MiB  the file's pages: one copy, shared by the"
               " workers\n",
               (double)t.file_pss / M);
        printf("                        RSS %7.1f MiB  counts every shared page once per worker\n",
               (double)t.file_rss / M);
        printf("    whole processes     PSS %7.1f MiB  RSS %.1f MiB\n", (double)t.pss / M,
               (double)t.rss / M);
        printf("  beyond the file's one copy, the workers added %.1f MiB (PSS outside the mapping)",
               (double)(t.pss - t.file_pss) / M);
        if (have_pte)
            printf(" + %.1f MiB\n  of page tables,", (double)t.pte / M);
        else
            printf(",\n ");
        if (t.file_anon)
            printf(" and copied %.1f MiB of the file's pages;", (double)t.file_anon / M);
        else
            printf(" and copied nothing;");
        if (nworkers == 1)
            printf(" a private copy would cost %ld MiB\n", mib);
        else
            printf(" %d private copies would cost %.1f MiB\n", nworkers,
                   (double)nworkers * (double)mib);
    } else {
        printf("  memory: /proc/PID/smaps of the workers is not readable here (no figures)\n");
    }
    free(ws);
    if (!keep)
        unlink(path);
    else
        printf("kept %s\n", path);
    return sum_ok ? 0 : 1;
}
