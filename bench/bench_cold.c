/* SPDX-License-Identifier: MIT */
/*
 * bench_cold.c — cold (chunked zstd) arrays: write speed and ratio, whole-array read speed,
 * random-slice latency, and (with the shared cache) slices from a cached mapping.
 *
 * Input: a .npy file (simple dtypes such as <f4, any shape) or a raw file with --dtype. The
 * data are read once into a pre-faulted buffer; then, for every chunk size and shuffle setting:
 *   write   create + mmarr_writer_add_cold (level, threads) + commit (no fsync) on --dir;
 *           MB/s = raw bytes / wall time; ratio = raw bytes / sum of the chunks' stored sizes;
 *           also the same through mmarr_writer_begin/_write/_end in pieces of --piece-kib
 *   read    mmarr_file_read of the whole array into a pre-faulted buffer, 1 and 2 threads
 *   stream  mmarr_file_read_chunk of every chunk in turn into one chunk-sized buffer
 *   slice   mmarr_file_read of --slices random slices of --slice-kib KiB at random element
 *           offsets (splitmix64, --seed; peers_cold.py draws the same offsets), 1 and 2 threads,
 *           each in a new process (see slice_child), then with an allocator that keeps memory,
 *           then a scan: --slices consecutive slices from half a slice in (off chunk edges)
 *   map     the shared decompression cache (a private cache directory in --dir): the first
 *           mmarr_file_map (decompress into the cache), a later one from another handle (entry
 *           found), and memcpy of the same random slices from the mapping, first while this
 *           process faults the pages in, then with every page already mapped
 * Every figure is a median with the 10th and 90th percentiles over repetitions that follow
 * warm-up rounds; every result is compared with the input once, outside the timed region.
 * Lines starting with "RESULT" are for bench/run_cold.sh: tool config metric median p10 p90 n.
 *
 * Usage: bench_cold (--input FILE.npy | --raw FILE --dtype DT) [--dir DIR] [--level L]
 *        [--threads T] [--chunks KIB,KIB,..] [--shuffle off|on|both] [--reps R]
 *        [--read-reps R] [--slices N] [--slice-kib K] [--seed S] [--piece-kib K] [--no-verify]
 *        [--only write,read,slice,map]   (the file is always written; --only skips the
 *                                         other timings, e.g. to profile one phase with perf)
 */
#include <mmarr.h>

#include "bench_util.h"

#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MB 1e6

extern char **environ;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_cold: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* Sort t[0..n), print the median with p10/p90 (bench_open's format), and a RESULT line. */
static void report(const char *config, const char *metric, const char *what, double *t, int n,
                   double scale, const char *unit)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    const double med = t[n / 2] * scale, p10 = t[n / 10] * scale, p90 = t[(n * 9) / 10] * scale;
    printf("%-44s median %10.3f %s   p10 %10.3f   p90 %10.3f   (n=%d)\n", what, med, unit, p10,
           p90, n);
    printf("RESULT\tmmarr\t%s\t%s\t%.6g\t%.6g\t%.6g\t%d\n", config, metric, med, p10, p90, n);
}

/* Allocate and touch every page: first touch of fresh memory is slow on this VM (see
 * bench/README.md), and no timed region may pay for it. */
static void *alloc_touched(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory for %zu bytes", n);
    memset(p, 0x5a, n);
    return p;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ---- input ---- */

typedef struct input {
    char dtype[64];
    unsigned ndim;
    uint64_t shape[MMARR_MAX_DIMS];
    mmarr_order order;
    uint64_t itemsize, nbytes;
    unsigned char *data;
    const char *path;  /* the input file, and where its data start */
    uint64_t data_off;
} input;

static const char *skip_ws(const char *p)
{
    while (*p == ' ')
        p++;
    return p;
}

/* Parse the header dict of a .npy file (simple dtypes only, as numpy writes them). */
static void parse_npy_header(const char *h, input *in)
{
    const char *d = strstr(h, "'descr':"), *fo = strstr(h, "'fortran_order':"),
               *sh = strstr(h, "'shape':");
    if (!d || !fo || !sh)
        die("not a .npy header I understand: %s", h);
    d = skip_ws(d + 8);
    if (*d != '\'')
        die("only simple dtypes are supported (descr %s)", d);
    const char *e = strchr(d + 1, '\'');
    if (!e || (size_t)(e - d - 1) >= sizeof in->dtype)
        die("bad descr in .npy header");
    memcpy(in->dtype, d + 1, (size_t)(e - d - 1));
    in->dtype[e - d - 1] = '\0';
    in->order = !strncmp(skip_ws(fo + 16), "True", 4) ? MMARR_ORDER_F : MMARR_ORDER_C;
    const char *p = skip_ws(sh + 8);
    if (*p++ != '(')
        die("bad shape in .npy header");
    in->ndim = 0;
    for (;;) {
        p = skip_ws(p);
        if (*p == ')')
            break;
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || in->ndim == MMARR_MAX_DIMS)
            die("bad shape in .npy header");
        in->shape[in->ndim++] = v;
        p = skip_ws(end);
        if (*p == ',')
            p++;
    }
}

/* Read the whole file into a pre-faulted buffer; .npy files are parsed, raw ones need dtype. */
static void load_input(const char *path, const char *dtype, input *in)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        die("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st))
        die("%s: %s", path, strerror(errno));
    uint64_t data_off = 0;
    if (!dtype) {
        unsigned char pre[12];
        if (pread(fd, pre, sizeof pre, 0) != (ssize_t)sizeof pre || memcmp(pre, "\x93NUMPY", 6))
            die("%s: not a .npy file (use --raw FILE --dtype DT for raw bytes)", path);
        uint64_t hlen = pre[6] == 1 ? (uint64_t)pre[8] | (uint64_t)pre[9] << 8
                                    : (uint64_t)pre[8] | (uint64_t)pre[9] << 8 |
                                          (uint64_t)pre[10] << 16 | (uint64_t)pre[11] << 24;
        data_off = (pre[6] == 1 ? 10 : 12) + hlen;
        char *h = calloc(1, (size_t)hlen + 1);
        if (!h || pread(fd, h, (size_t)hlen, (off_t)(data_off - hlen)) != (ssize_t)hlen)
            die("%s: cannot read the .npy header", path);
        parse_npy_header(h, in);
        free(h);
    } else {
        snprintf(in->dtype, sizeof in->dtype, "%s", dtype);
        in->order = MMARR_ORDER_C;
        in->ndim = 1;
        in->shape[0] = 0; /* set below from the file size */
    }
    mmarr_dtype *dt;
    mmarr_error e;
    if (mmarr_dtype_parse(in->dtype, &dt, &e))
        die("%s", e.message);
    in->itemsize = mmarr_dtype_itemsize(dt);
    mmarr_dtype_free(dt);
    if (dtype)
        in->shape[0] = ((uint64_t)st.st_size) / in->itemsize;
    in->nbytes = in->itemsize;
    for (unsigned i = 0; i < in->ndim; i++)
        in->nbytes *= in->shape[i];
    if (data_off + in->nbytes > (uint64_t)st.st_size)
        die("%s: file shorter than its header says", path);
    in->path = path;
    in->data_off = data_off;
    in->data = alloc_touched((size_t)in->nbytes);
    for (uint64_t done = 0; done < in->nbytes;) {
        ssize_t r = pread(fd, in->data + done, (size_t)(in->nbytes - done), (off_t)(data_off + done));
        if (r <= 0)
            die("%s: read failed: %s", path, r ? strerror(errno) : "short file");
        done += (uint64_t)r;
    }
    close(fd);
}

/* ---- the measurements ---- */

typedef struct settings {
    const char *dir;
    int level;
    unsigned threads;
    int reps, read_reps, slices;
    uint64_t slice_bytes, piece_bytes;
    uint64_t seed;
    unsigned open_flags;
    int do_write, do_read, do_slice, do_map;
} settings;

static void write_cold(const char *path, const input *in, const mmarr_compress_options *co)
{
    mmarr_writer *w;
    mmarr_error e;
    const mmarr_writer_options wo = {.flags = MMARR_WRITE_NO_SYNC};
    if (mmarr_writer_create(path, &wo, &w, &e))
        die("%s", e.message);
    if (mmarr_writer_add_cold(w, "data", in->dtype, in->ndim, in->shape, in->order, in->data, co) ||
        mmarr_writer_commit(w))
        die("%s", mmarr_writer_error(w)->message);
    mmarr_writer_free(w);
}

/* The same file through the streaming calls, the data handed over in pieces of `piece`. */
static void write_cold_stream(const char *path, const input *in, const mmarr_compress_options *co,
                              uint64_t piece)
{
    mmarr_writer *w;
    mmarr_error e;
    const mmarr_writer_options wo = {.flags = MMARR_WRITE_NO_SYNC};
    if (mmarr_writer_create(path, &wo, &w, &e))
        die("%s", e.message);
    if (mmarr_writer_begin(w, "data", in->dtype, in->ndim, in->shape, in->order, co))
        die("%s", mmarr_writer_error(w)->message);
    for (uint64_t off = 0; off < in->nbytes; off += piece) {
        const uint64_t n = in->nbytes - off < piece ? in->nbytes - off : piece;
        if (mmarr_writer_write(w, in->data + off, (size_t)n))
            die("%s", mmarr_writer_error(w)->message);
    }
    if (mmarr_writer_end(w) || mmarr_writer_commit(w))
        die("%s", mmarr_writer_error(w)->message);
    mmarr_writer_free(w);
}

static void open_data(const char *path, unsigned flags, mmarr_file **f, mmarr_array_info *a)
{
    mmarr_error e;
    if (mmarr_open(path, flags, f, &e) || mmarr_file_find_array(*f, "data", a, &e))
        die("%s", e.message);
    if (a->storage != MMARR_STORAGE_COLD)
        die("%s: array \"data\" is not cold", path);
}

static void check_equal(const void *got, const void *want, uint64_t n, const char *what)
{
    if (memcmp(got, want, (size_t)n))
        die("%s: the bytes read differ from the input", what);
}

static void bench_write(const settings *s, const input *in, const char *path, const char *cfg,
                        const mmarr_compress_options *co)
{
    double *mbps = malloc(sizeof(double) * (size_t)s->reps);
    double *cores = malloc(sizeof(double) * (size_t)s->reps);
    for (int r = -1; r < s->reps; r++) { /* one warm-up round */
        unlink(path);                     /* free the old file's pages outside the timing */
        const double c0 = cpu_time(), t0 = now();
        write_cold(path, in, co);
        const double dt = now() - t0, dc = cpu_time() - c0;
        if (r >= 0) {
            mbps[r] = (double)in->nbytes / dt / MB;
            cores[r] = dc / dt;
        }
    }
    char what[128];
    snprintf(what, sizeof what, "write %s", cfg);
    report(cfg, "write_MBps", what, mbps, s->reps, 1, "MB/s");
    report(cfg, "write_cores", "  CPU time / wall time while writing", cores, s->reps, 1,
           "   ");
    for (int r = -1; r < s->reps; r++) {
        unlink(path);
        const double c0 = cpu_time(), t0 = now();
        write_cold_stream(path, in, co, s->piece_bytes);
        const double dt = now() - t0, dc = cpu_time() - c0;
        if (r >= 0) {
            mbps[r] = (double)in->nbytes / dt / MB;
            cores[r] = dc / dt;
        }
    }
    snprintf(what, sizeof what, "  same, begin/write/end in %llu KiB pieces",
             (unsigned long long)(s->piece_bytes >> 10));
    report(cfg, "swrite_MBps", what, mbps, s->reps, 1, "MB/s");
    report(cfg, "swrite_cores", "  CPU time / wall time while writing", cores, s->reps, 1,
           "   ");
    free(cores);
    free(mbps);

    mmarr_file *f;
    mmarr_array_info a;
    open_data(path, 0, &f, &a);
    uint64_t stored = 0;
    for (size_t k = 0; k < a.chunk_count; k++) {
        mmarr_chunk_info c;
        mmarr_error e;
        if (mmarr_file_chunk(f, a.index, k, &c, &e))
            die("%s", e.message);
        stored += c.stored_size;
    }
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    const double ratio = stored ? (double)in->nbytes / (double)stored : 0;
    printf("%-44s %10.4f (raw %llu / chunks %llu bytes in %zu chunks; file %llu bytes, "
           "ratio by file size %.4f)\n",
           "  ratio", ratio, (unsigned long long)in->nbytes, (unsigned long long)stored,
           a.chunk_count, (unsigned long long)fi.file_size, (double)in->nbytes / (double)fi.file_size);
    printf("RESULT\tmmarr\t%s\tratio\t%.6g\t%.6g\t%.6g\t1\n", cfg, ratio, ratio, ratio);
    printf("RESULT\tmmarr\t%s\tfile_ratio\t%.6g\t%.6g\t%.6g\t1\n", cfg,
           (double)in->nbytes / (double)fi.file_size, (double)in->nbytes / (double)fi.file_size,
           (double)in->nbytes / (double)fi.file_size);
    mmarr_close(f);
}

static void bench_read(const settings *s, const input *in, const char *path, const char *cfg,
                       unsigned char *dst)
{
    mmarr_file *f;
    mmarr_array_info a;
    open_data(path, s->open_flags, &f, &a);
    double *mbps = malloc(sizeof(double) * (size_t)s->read_reps);
    double *cores = malloc(sizeof(double) * (size_t)s->read_reps);
    char what[128], metric[64];
    for (unsigned th = 1; th <= 2; th++) {
        mmarr_file_set_threads(f, th);
        for (int r = -1; r < s->read_reps; r++) {
            mmarr_error e;
            const double c0 = cpu_time(), t0 = now();
            if (mmarr_file_read(f, a.index, 0, dst, a.nbytes, &e))
                die("%s", e.message);
            const double dt = now() - t0, dc = cpu_time() - c0;
            if (r < 0) {
                check_equal(dst, in->data, in->nbytes, path);
            } else {
                mbps[r] = (double)a.nbytes / dt / MB;
                cores[r] = dc / dt;
            }
        }
        snprintf(what, sizeof what, "  read whole, %u thread%s", th, th > 1 ? "s" : "");
        snprintf(metric, sizeof metric, "read%u_MBps", th);
        report(cfg, metric, what, mbps, s->read_reps, 1, "MB/s");
        if (th > 1) {
            snprintf(metric, sizeof metric, "read%u_cores", th);
            report(cfg, metric, "  CPU time / wall time while reading", cores, s->read_reps, 1,
                   "   ");
        }
    }
    free(cores);

    /* the chunk iterator, one thread, into one chunk-sized buffer */
    unsigned char *cbuf = alloc_touched((size_t)a.chunk_size);
    for (int r = -1; r < s->read_reps; r++) {
        mmarr_error e;
        const double t0 = now();
        for (size_t k = 0; k < a.chunk_count; k++)
            if (mmarr_file_read_chunk(f, a.index, k, cbuf, &e))
                die("%s", e.message);
        const double dt = now() - t0;
        if (r >= 0)
            mbps[r] = (double)a.nbytes / dt / MB;
    }
    report(cfg, "stream_MBps", "  stream chunks (read_chunk), 1 thread", mbps, s->read_reps, 1,
           "MB/s");
    free(cbuf);
    free(mbps);
    mmarr_close(f);
}

/* Random slices of s->slice_bytes at element offsets drawn from splitmix64(seed): the same
 * offsets peers_cold.py uses. */
static uint64_t slice_offset(uint64_t *state, const input *in, uint64_t slice_bytes)
{
    const uint64_t nitems = in->nbytes / in->itemsize, sitems = slice_bytes / in->itemsize;
    return (splitmix64(state) % (nitems - sitems + 1)) * in->itemsize;
}

/* Time s->slices random slices on a new handle with `threads` threads, after 20 warm-up
 * slices at other offsets; the compressed pages are faulted in first (a long-running reader's
 * steady state). With `scan`, the slices follow one another from half a slice in, as a reader
 * going through the array in batches that do not line up with chunks (wrapping at the end). */
static void time_slices(const settings *s, const input *in, const char *path, unsigned threads,
                        int scan, double *t)
{
    mmarr_file *f;
    mmarr_array_info a;
    mmarr_error e;
    open_data(path, s->open_flags, &f, &a);
    if (mmarr_file_prefetch(f, a.index, &e))
        die("%s", e.message);
    mmarr_file_set_threads(f, threads);
    unsigned char *sbuf = alloc_touched((size_t)s->slice_bytes);
    uint64_t warm = s->seed ^ 0xabcdefull, state = s->seed;
    const uint64_t whole = in->nbytes / s->slice_bytes, steps = whole > 1 ? whole - 1 : 1;
    for (int r = -20; r < s->slices; r++) {
        const uint64_t off = !scan
                                 ? slice_offset(r < 0 ? &warm : &state, in, s->slice_bytes)
                                 : s->slice_bytes / 2 + (uint64_t)(r + 20) % steps * s->slice_bytes;
        const double t0 = now();
        if (mmarr_file_read(f, a.index, off, sbuf, s->slice_bytes, &e))
            die("%s", e.message);
        const double dt = now() - t0;
        check_equal(sbuf, in->data + off, s->slice_bytes, path);
        if (r >= 0)
            t[r] = dt;
    }
    free(sbuf);
    mmarr_close(f);
}

/*
 * The slices run in a new process (this program, exec'd with --slice-child), so that the
 * allocator starts fresh, as in an application that opens a file and reads slices: glibc's
 * malloc adapts its mmap/trim thresholds to the sizes it has seen freed, and the large
 * buffers the rest of this benchmark allocates and frees would otherwise hide what a
 * library that allocates per call costs in such a process. The child then repeats the
 * slices after mallopt() has told the allocator to keep freed memory ("kept"): the figure
 * a library that reuses its per-call memory would approach.
 */
static int slice_child(int argc, char **argv)
{
    if (argc != 11)
        die("--slice-child: wrong arguments");
    settings s = {.open_flags = (unsigned)strtoul(argv[9], NULL, 10),
                  .slices = atoi(argv[6]), .slice_bytes = strtoull(argv[7], NULL, 10),
                  .seed = strtoull(argv[8], NULL, 10)};
    input in = {.nbytes = strtoull(argv[3], NULL, 10), .itemsize = strtoull(argv[4], NULL, 10)};
    const uint64_t data_off = strtoull(argv[2], NULL, 10);
    const unsigned threads = (unsigned)atoi(argv[5]);
    const char *path = argv[0], *cfg = argv[10];
    int fd = open(argv[1], O_RDONLY); /* the input, mapped to check the slices */
    if (fd < 0)
        die("%s: %s", argv[1], strerror(errno));
    void *m = mmap(NULL, (size_t)(data_off + in.nbytes), PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        die("%s: mmap: %s", argv[1], strerror(errno));
    close(fd);
    in.data = (unsigned char *)m + data_off;
    double *t = malloc(sizeof(double) * (size_t)s.slices);
    char what[128], metric[64];
    time_slices(&s, &in, path, threads, 0, t);
    snprintf(what, sizeof what, "  random %llu KiB slice, %u thread%s",
             (unsigned long long)(s.slice_bytes >> 10), threads, threads > 1 ? "s" : "");
    snprintf(metric, sizeof metric, "slice%u_ms", threads);
    report(cfg, metric, what, t, s.slices, 1e3, "ms");
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    time_slices(&s, &in, path, threads, 0, t);
    snprintf(what, sizeof what, "    same, allocator keeps freed memory");
    snprintf(metric, sizeof metric, "slice%uk_ms", threads);
    report(cfg, metric, what, t, s.slices, 1e3, "ms");
#endif
    time_slices(&s, &in, path, threads, 1, t);
    snprintf(what, sizeof what, "  scan in %llu KiB slices off chunk edges, %u thread%s",
             (unsigned long long)(s.slice_bytes >> 10), threads, threads > 1 ? "s" : "");
    snprintf(metric, sizeof metric, "scan%u_ms", threads);
    report(cfg, metric, what, t, s.slices, 1e3, "ms");
    free(t);
    munmap(m, (size_t)(data_off + in.nbytes));
    return 0;
}

static void bench_slices(const settings *s, const input *in, const char *path, const char *cfg)
{
    for (unsigned th = 1; th <= 2; th++) {
        char a[10][64];
        snprintf(a[0], sizeof a[0], "%llu", (unsigned long long)in->data_off);
        snprintf(a[1], sizeof a[1], "%llu", (unsigned long long)in->nbytes);
        snprintf(a[2], sizeof a[2], "%llu", (unsigned long long)in->itemsize);
        snprintf(a[3], sizeof a[3], "%u", th);
        snprintf(a[4], sizeof a[4], "%d", s->slices);
        snprintf(a[5], sizeof a[5], "%llu", (unsigned long long)s->slice_bytes);
        snprintf(a[6], sizeof a[6], "%llu", (unsigned long long)s->seed);
        snprintf(a[7], sizeof a[7], "%u", s->open_flags);
        char *argv[] = {"bench_cold", "--slice-child", (char *)path, (char *)in->path,
                        a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], (char *)cfg, NULL};
        fflush(stdout);
        pid_t pid;
        int st, rc = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ);
        if (rc)
            die("posix_spawn: %s", strerror(rc));
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
            die("the slice child failed");
    }
}

static void clear_cache(const char *cdir)
{
    mmarr_error e;
    if (mmarr_cache_clear(cdir, 0, NULL, &e))
        die("%s", e.message);
}

/* Map the array through a fresh handle with the cache directory cdir; returns the time
 * mmarr_file_map took, and checks that the bytes came from the cache. */
static double map_once(const settings *s, const char *path, const char *cdir, const input *in,
                       int check)
{
    mmarr_file *f;
    mmarr_array_info a;
    mmarr_error e;
    open_data(path, s->open_flags, &f, &a);
    if (mmarr_file_set_cache(f, cdir, 0, &e))
        die("%s", e.message);
    const void *p;
    const double t0 = now();
    if (mmarr_file_map(f, a.index, &p, &e))
        die("%s", e.message);
    const double dt = now() - t0;
    mmarr_map_info mi;
    if (mmarr_file_map_info(f, a.index, &mi, &e))
        die("%s", e.message);
    if (mi.source != MMARR_MAP_CACHE)
        die("%s: mmarr_file_map did not use the cache (source %d): %s", path, (int)mi.source,
            mi.reason.message);
    if (check)
        check_equal(p, in->data, in->nbytes, "mmarr_file_map");
    mmarr_close(f);
    return dt;
}

static void bench_map(const settings *s, const input *in, const char *path, const char *cfg,
                      unsigned char *sbuf)
{
    char cdir[4096];
    snprintf(cdir, sizeof cdir, "%s/bench_cold.cache.%d", s->dir, (int)getpid());
    double *t = malloc(sizeof(double) * (size_t)(s->reps > s->slices ? s->reps : s->slices));
    for (int r = -1; r < s->reps; r++) { /* the first mapping: decompress into the cache */
        clear_cache(cdir);
        const double dt = map_once(s, path, cdir, in, r < 0);
        if (r >= 0)
            t[r] = (double)in->nbytes / dt / MB;
    }
    report(cfg, "mapfirst_MBps", "  first mmarr_file_map (fills the cache)", t, s->reps, 1,
           "MB/s");
    for (int r = -1; r < s->reps; r++) { /* later mappings find the entry */
        const double dt = map_once(s, path, cdir, in, 0);
        if (r >= 0)
            t[r] = dt;
    }
    report(cfg, "mapwarm_ms", "  later mmarr_file_map (entry found)", t, s->reps, 1e3, "ms");

    /* slices from the mapping of one handle */
    mmarr_file *f;
    mmarr_array_info a;
    mmarr_error e;
    open_data(path, s->open_flags, &f, &a);
    const void *pv;
    if (mmarr_file_set_cache(f, cdir, 0, &e) || mmarr_file_map(f, a.index, &pv, &e))
        die("%s", e.message);
    const unsigned char *p = pv;
    char what[128];
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) { /* map every page into this process */
            volatile unsigned char sink = 0;
            for (uint64_t o = 0; o < a.nbytes; o += 4096)
                sink ^= p[o];
            (void)sink;
        }
        uint64_t warm = s->seed ^ 0xabcdefull, state = s->seed;
        for (int r = -20; r < s->slices; r++) {
            const uint64_t off = slice_offset(r < 0 ? &warm : &state, in, s->slice_bytes);
            const double t0 = now();
            memcpy(sbuf, p + off, (size_t)s->slice_bytes);
            const double dt = now() - t0;
            check_equal(sbuf, in->data + off, s->slice_bytes, "mmarr_file_map");
            if (r >= 0)
                t[r] = dt;
        }
        snprintf(what, sizeof what, "  %llu KiB slice from the cache, %s",
                 (unsigned long long)(s->slice_bytes >> 10),
                 pass ? "pages mapped" : "first touch");
        report(cfg, pass ? "mapslice_ms" : "mapslice_fresh_ms", what, t, s->slices, 1e3, "ms");
    }
    mmarr_close(f);
    clear_cache(cdir);
    rmdir(cdir);
    free(t);
}

static void usage(FILE *to)
{
    fprintf(to, "usage: bench_cold (--input FILE.npy | --raw FILE --dtype DT) [--dir DIR]\n"
                "       [--level L] [--threads T] [--chunks KIB,KIB,..] [--shuffle off|on|both]\n"
                "       [--reps R] [--read-reps R] [--slices N] [--slice-kib K] [--seed S]\n"
                "       [--piece-kib K]"
                " [--no-verify] [--only write,read,slice,map]\n");
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--slice-child"))
        return slice_child(argc - 2, argv + 2);
    settings s = {.dir = "/dev/shm", .level = 3, .threads = 2, .reps = 3, .read_reps = 5,
                  .slices = 200, .slice_bytes = 1 << 20, .piece_bytes = 4 << 20,
                  .seed = 20261121,
                  .do_write = 1, .do_read = 1, .do_slice = 1, .do_map = 1};
    const char *inpath = NULL, *dtype = NULL, *chunks = "256,1024,4096", *shuffle = "both";
    int raw = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(o, "--no-verify")) {
            s.open_flags |= MMARR_OPEN_NO_CHUNK_VERIFY;
            continue;
        } else if (!v) {
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(o, "--input"))
            inpath = v;
        else if (!strcmp(o, "--raw"))
            inpath = v, raw = 1;
        else if (!strcmp(o, "--dtype"))
            dtype = v;
        else if (!strcmp(o, "--dir"))
            s.dir = v;
        else if (!strcmp(o, "--level"))
            s.level = atoi(v);
        else if (!strcmp(o, "--threads"))
            s.threads = (unsigned)atoi(v);
        else if (!strcmp(o, "--chunks"))
            chunks = v;
        else if (!strcmp(o, "--shuffle"))
            shuffle = v;
        else if (!strcmp(o, "--reps"))
            s.reps = atoi(v);
        else if (!strcmp(o, "--read-reps"))
            s.read_reps = atoi(v);
        else if (!strcmp(o, "--slices"))
            s.slices = atoi(v);
        else if (!strcmp(o, "--slice-kib"))
            s.slice_bytes = strtoull(v, NULL, 10) << 10;
        else if (!strcmp(o, "--piece-kib"))
            s.piece_bytes = strtoull(v, NULL, 10) << 10;
        else if (!strcmp(o, "--seed"))
            s.seed = strtoull(v, NULL, 10);
        else if (!strcmp(o, "--only")) {
            s.do_write = strstr(v, "write") != NULL;
            s.do_read = strstr(v, "read") != NULL;
            s.do_slice = strstr(v, "slice") != NULL;
            s.do_map = strstr(v, "map") != NULL;
        }
        else {
            usage(stderr);
            return 2;
        }
    }
    if (!inpath || raw != (dtype != NULL)) {
        usage(stderr);
        return 2;
    }
    if (s.reps < 1 || s.read_reps < 1 || s.slices < 10 || !s.piece_bytes)
        die("need --reps >= 1, --read-reps >= 1, --slices >= 10, --piece-kib >= 1");
    int shuf_from = !strcmp(shuffle, "on"), shuf_to = strcmp(shuffle, "off") ? 1 : 0;
    if (strcmp(shuffle, "on") && strcmp(shuffle, "off") && strcmp(shuffle, "both"))
        die("--shuffle takes off, on or both");

    input in;
    memset(&in, 0, sizeof in);
    const double tl = now();
    load_input(inpath, dtype, &in);
    if (in.nbytes < s.slice_bytes || s.slice_bytes % in.itemsize)
        die("the input (%llu bytes) must hold a slice of %llu bytes, a multiple of the itemsize",
            (unsigned long long)in.nbytes, (unsigned long long)s.slice_bytes);
    printf("mmarr %s — cold arrays: %s, dtype %s, %.1f MiB (loaded in %.2f s), zstd level %d, "
           "%u compression threads, files in %s%s\n",
           mmarr_version_string(), inpath, in.dtype, (double)in.nbytes / 1048576.0, now() - tl,
           s.level, s.threads, s.dir,
           s.open_flags & MMARR_OPEN_NO_CHUNK_VERIFY ? ", chunk checksums NOT verified" : "");

    unsigned char *dst = alloc_touched((size_t)in.nbytes);
    unsigned char *sbuf = alloc_touched((size_t)s.slice_bytes);
    char path[4096];
    snprintf(path, sizeof path, "%s/bench_cold.%d.mmarr", s.dir, (int)getpid());

    for (const char *c = chunks; *c;) {
        char *end;
        const uint64_t kib = strtoull(c, &end, 10);
        if (end == c || !kib)
            die("bad --chunks list: %s", chunks);
        c = *end == ',' ? end + 1 : end;
        for (int shuf = shuf_from; shuf <= shuf_to; shuf++) {
            const mmarr_compress_options co = {.level = s.level, .chunk_size = kib << 10,
                                               .shuffle = shuf, .threads = s.threads};
            char cfg[64];
            snprintf(cfg, sizeof cfg, "chunk=%lluKiB,shuffle=%s", (unsigned long long)kib,
                     shuf ? "on" : "off");
            printf("-- %s\n", cfg);
            fflush(stdout);
            if (s.do_write)
                bench_write(&s, &in, path, cfg, &co);
            else
                write_cold(path, &in, &co);
            if (s.do_read)
                bench_read(&s, &in, path, cfg, dst);
            if (s.do_slice)
                bench_slices(&s, &in, path, cfg);
            if (s.do_map)
                bench_map(&s, &in, path, cfg, sbuf);
            unlink(path);
            fflush(stdout);
        }
    }
    free(sbuf);
    free(dst);
    free(in.data);
    return 0;
}
