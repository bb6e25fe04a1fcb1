/* SPDX-License-Identifier: MIT */
/*
 * bench_open.c — how long writing, opening (with full validation) and finding cost.
 *
 * Writes a file of N small arrays (default 100,000) and one of a single array, then times
 *   write    create + add N arrays + commit (fsync off and on)
 *   open     mmarr_open (superblock + whole index validated) + find one name + close; also
 *            split into open + find (what a worker waits for before it can read) and close
 *            (unmapping: on tmpfs with 4 KiB pages a sizeable share)
 *   find     mmarr_file_find of random names on an open handle
 * and, to show where an open's time goes, two reference points timed in the same rounds:
 *   kernel   open(2) + mmap the file + read one byte of every page of its index + munmap:
 *            what any reader of the index pays the kernel, without checking anything
 *   memory   mmarr_open_buffer + find + close on a copy of the file in memory whose pages
 *            are already mapped: the library's own validation, without page faults
 * Each measurement is repeated; it prints the median with the 10th and 90th percentiles, and
 * for opens also the CPU time per open (both validation threads, user + system), which a
 * busy or noisy host disturbs less than the wall time.
 * With several --dir (e.g. /dev/shm and a directory on disk) the 100,000-array file is written
 * to each and the opens are timed in interleaved rounds, so that the figures compare.
 * Usage: bench_open [--dir DIR]... [--arrays N] [--reps R]
 */
#include <mmarr.h>

#include "bench_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void report(const char *what, double *t, int n, double scale, const char *unit)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    printf("%-52s median %10.3f %s   p10 %10.3f   p90 %10.3f   (n=%d)\n", what,
           t[n / 2] * scale, unit, t[n / 10] * scale, t[(n * 9) / 10] * scale, n);
}

static void die(const char *msg)
{
    fprintf(stderr, "bench_open: %s\n", msg);
    exit(1);
}

static void write_file(const char *path, int n, unsigned flags)
{
    mmarr_writer *w;
    mmarr_error e;
    mmarr_writer_options o = {.flags = flags};
    if (mmarr_writer_create(path, &o, &w, &e))
        die(e.message);
    float data[16];
    char name[64];
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 16; k++)
            data[k] = (float)(i + k);
        uint64_t shape[1] = {16};
        snprintf(name, sizeof name, "group%03d/array%06d", i % 1000, i);
        if (mmarr_writer_add(w, name, "<f4", 1, shape, MMARR_ORDER_C, data))
            die(mmarr_writer_error(w)->message);
    }
    mmarr_writer_set_file_meta(w, "source", "bench_open");
    if (mmarr_writer_commit(w))
        die(mmarr_writer_error(w)->message);
    mmarr_writer_free(w);
}

/* reps opens of path (+ find + close) into t[0..reps), of which open + find in to[] and close
 * in tc[]; returns the CPU seconds they took */
static double time_opens(const char *path, const char *name, double *t, double *to, double *tc,
                         int reps)
{
    const double c0 = cpu_time();
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        mmarr_file *f;
        mmarr_error e;
        size_t idx;
        if (mmarr_open(path, 0, &f, &e))
            die(e.message);
        if (mmarr_file_find(f, name, &idx, &e))
            die(e.message);
        const double t1 = now();
        mmarr_close(f);
        const double t2 = now();
        t[r] = t2 - t0;
        to[r] = t1 - t0;
        tc[r] = t2 - t1;
    }
    return cpu_time() - c0;
}

/* The kernel's share: reps times open(2) + mmap + one byte read per page of the index range
 * [ioff, ioff + isize) into tm[] (fd closed, as mmarr_open does), then munmap into tu[]. */
static void time_kernel(const char *path, uint64_t ioff, uint64_t isize, double *tm, double *tu,
                        int reps)
{
    const long pg = sysconf(_SC_PAGESIZE);
    for (int r = 0; r < reps; r++) {
        const double t0 = now();
        const int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0)
            die("cannot open or stat the file");
        const unsigned char *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        if (p == MAP_FAILED)
            die("mmap failed");
        volatile unsigned char sink = 0;
        for (uint64_t o = ioff & ~(uint64_t)(pg - 1); o < ioff + isize; o += (uint64_t)pg)
            sink ^= p[o];
        (void)sink;
        const double t1 = now();
        munmap((void *)p, (size_t)st.st_size);
        tm[r] = t1 - t0;
        tu[r] = now() - t1;
    }
}

/* The library's share: reps times mmarr_open_buffer + find + close of an in-memory copy. */
static void time_buffer(const void *buf, size_t size, const char *name, double *t, int reps)
{
    for (int r = 0; r < reps; r++) {
        const double t0 = now();
        mmarr_file *f;
        mmarr_error e;
        size_t idx;
        if (mmarr_open_buffer(buf, size, 0, &f, &e) || mmarr_file_find(f, name, &idx, &e))
            die(e.message);
        mmarr_close(f);
        t[r] = now() - t0;
    }
}

/* The file at path in memory, every page touched; *size its length. */
static void *load_file(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    struct stat st;
    if (!fp || fstat(fileno(fp), &st) != 0)
        die("cannot read the file");
    void *buf = malloc((size_t)st.st_size ? (size_t)st.st_size : 1);
    if (!buf || fread(buf, 1, (size_t)st.st_size, fp) != (size_t)st.st_size)
        die("cannot read the file");
    fclose(fp);
    *size = (size_t)st.st_size;
    return buf;
}

/* Opens of the same file in ndir directories, in 5 interleaved rounds after a warm-up, with
 * the kernel and memory reference points (see the top) timed in the same rounds. */
static void bench_open(const char *what, char paths[][4096], const char *const *dirs, int ndir,
                       const char *name, int reps)
{
    const int rounds = 5, per = (reps + rounds - 1) / rounds;
    const size_t all = (size_t)(per * rounds) * (size_t)ndir;
    double *t = malloc(sizeof(double) * all * 5), *to = t + all, *tc = to + all;
    double *tm = tc + all, *tu = tm + all, *tb = malloc(sizeof(double) * (size_t)(per * rounds));
    double cpu[8] = {0};
    if (!t || !tb)
        die("out of memory");
    mmarr_file *f;
    mmarr_error e;
    if (mmarr_open(paths[0], 0, &f, &e))
        die(e.message);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    const uint64_t ioff = fi.index_offset, isize = fi.index_size;
    mmarr_close(f);
    size_t bsize;
    void *buf = load_file(paths[0], &bsize);
    for (int d = 0; d < ndir; d++) {
        time_opens(paths[d], name, t, to, tc, 3);
        time_kernel(paths[d], ioff, isize, tm, tu, 3);
    }
    time_buffer(buf, bsize, name, tb, 3);
    for (int r = 0; r < rounds; r++) {
        for (int d = 0; d < ndir; d++) {
            const size_t at = ((size_t)d * rounds + r) * per;
            cpu[d] += time_opens(paths[d], name, t + at, to + at, tc + at, per);
            time_kernel(paths[d], ioff, isize, tm + at, tu + at, per);
        }
        time_buffer(buf, bsize, name, tb + (size_t)r * per, per);
    }
    for (int d = 0; d < ndir; d++) {
        char label[256];
        const char *in = ndir > 1 ? " in " : "", *dir = ndir > 1 ? dirs[d] : "";
        const size_t at = (size_t)d * rounds * per;
        snprintf(label, sizeof label, "%s%s%s", what, in, dir);
        report(label, t + at, per * rounds, 1e3, "ms");
        printf("%-52s   cpu %.3f ms per open\n", "", cpu[d] * 1e3 / (per * rounds));
        snprintf(label, sizeof label, "  of which open+validate+find%s%s", in, dir);
        report(label, to + at, per * rounds, 1e3, "ms");
        snprintf(label, sizeof label, "  of which close%s%s", in, dir);
        report(label, tc + at, per * rounds, 1e3, "ms");
        snprintf(label, sizeof label, "  kernel: map + read index pages%s%s", in, dir);
        report(label, tm + at, per * rounds, 1e3, "ms");
        snprintf(label, sizeof label, "  kernel: munmap%s%s", in, dir);
        report(label, tu + at, per * rounds, 1e3, "ms");
    }
    report("  memory: open_buffer+validate+find+close (no faults)", tb, per * rounds, 1e3,
           "ms");
    free(buf);
    free(tb);
    free(t);
}

int main(int argc, char **argv)
{
    const char *dirs[8] = {"/dev/shm"};
    int ndir = 0, n = 100000, reps = 50;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc && ndir < 8)
            dirs[ndir++] = argv[++i];
        else if (!strcmp(argv[i], "--arrays") && i + 1 < argc)
            n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            printf("usage: bench_open [--dir DIR]... [--arrays N] [--reps R]\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (ndir == 0)
        ndir = 1;
    if (n < 1 || reps < 10)
        die("need --arrays >= 1 and --reps >= 10");
    char big[8][4096], one[1][4096];
    for (int d = 0; d < ndir; d++)
        snprintf(big[d], sizeof big[d], "%s/bench_open_%d.%d.mmarr", dirs[d], n, (int)getpid());
    snprintf(one[0], sizeof one[0], "%s/bench_open_1.%d.mmarr", dirs[0], (int)getpid());
    printf("mmarr %s — %d arrays of 16 float32 in %s", mmarr_version_string(), n, dirs[0]);
    for (int d = 1; d < ndir; d++)
        printf(" and %s", dirs[d]);
    printf("\n");

    int wreps = 5;
    double tw[5], tws[5];
    for (int r = 0; r < wreps; r++) {
        double t0 = now();
        write_file(big[0], n, MMARR_WRITE_NO_SYNC);
        tw[r] = now() - t0;
    }
    for (int r = 0; r < wreps; r++) {
        double t0 = now();
        write_file(big[0], n, 0);
        tws[r] = now() - t0;
    }
    char label[128];
    snprintf(label, sizeof label, "write %d arrays (no fsync)", n);
    report(label, tw, wreps, 1e3, "ms");
    snprintf(label, sizeof label, "write %d arrays (fsync + rename)", n);
    report(label, tws, wreps, 1e3, "ms");
    for (int d = 1; d < ndir; d++)
        write_file(big[d], n, 0);
    write_file(one[0], 1, MMARR_WRITE_NO_SYNC);

    char target[64];
    snprintf(target, sizeof target, "group%03d/array%06d", (n / 2) % 1000, n / 2);
    snprintf(label, sizeof label, "open+validate+find+close, %d arrays", n);
    bench_open(label, big, dirs, ndir, target, reps);
    bench_open("open+validate+find+close, 1 array", one, dirs, 1, "group000/array000000",
               reps * 20);

    /* lookups on an open handle */
    mmarr_file *f;
    mmarr_error e;
    if (mmarr_open(big[0], 0, &f, &e))
        die(e.message);
    const int lookups = 200000;
    char (*names)[64] = malloc(sizeof *names * 1000);
    unsigned seed = 12345;
    for (int i = 0; i < 1000; i++) {
        seed = seed * 1103515245u + 12345u;
        int k = (int)(seed % (unsigned)n);
        snprintf(names[i], 64, "group%03d/array%06d", k % 1000, k);
    }
    double tf[10];
    for (int r = 0; r < 10; r++) {
        double t0 = now();
        size_t idx, acc = 0;
        for (int i = 0; i < lookups; i++) {
            if (mmarr_file_find(f, names[i % 1000], &idx, NULL))
                die("lookup failed");
            acc += idx;
        }
        tf[r] = (now() - t0) / lookups;
        if (acc == 0)
            printf(" ");
    }
    report("find by name on an open handle", tf, 10, 1e9, "ns");
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    printf("file size %.1f MiB, index %.1f MiB\n", (double)fi.file_size / 1048576.0,
           (double)fi.index_size / 1048576.0);
    mmarr_close(f);
    free(names);
    for (int d = 0; d < ndir; d++)
        unlink(big[d]);
    unlink(one[0]);
    return 0;
}
