/* SPDX-License-Identifier: MIT */
/*
 * fuzz_driver.c — replay files through a fuzz target without libFuzzer (zstd's
 * regression_driver.c): every build, gcc included, runs the checked-in corpus under ctest,
 * so a fixed crash stays fixed and the harness itself keeps compiling and passing.
 *
 * Usage: fuzz_<target>_replay FILE|DIR...   (directories are walked recursively, in name
 * order; hidden files are skipped). Prints one line per argument and a total; exits 1 if an
 * argument cannot be read or holds no file at all, and aborts (like libFuzzer) on a finding.
 */
#include "fuzz_common.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_file(const char *path, unsigned long *count)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "fuzz_driver: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fprintf(stderr, "fuzz_driver: %s: out of memory\n", path);
            fclose(fp);
            return -1;
        }
        n += fread(buf + n, 1, cap - n, fp);
        if (n < cap)
            break;
        unsigned char *nb = realloc(buf, cap * 2);
        if (!nb)
            free(buf);
        buf = nb;
        cap *= 2;
    }
    const int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        fprintf(stderr, "fuzz_driver: %s: read error\n", path);
        free(buf);
        return -1;
    }
    /* an exact-size copy, as libFuzzer passes it, so ASan sees reads past the end */
    unsigned char *data = malloc(n ? n : 1);
    if (!data) {
        free(buf);
        return -1;
    }
    memcpy(data, buf, n);
    free(buf);
    if (getenv("FUZZ_DRIVER_VERBOSE"))
        fprintf(stderr, "running %s (%zu bytes)\n", path, n);
    LLVMFuzzerTestOneInput(data, n);
    free(data);
    (*count)++;
    return 0;
}

static int run_path(const char *path, unsigned long *count)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "fuzz_driver: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return run_file(path, count);
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "fuzz_driver: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = -1;
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0) {
            size_t len = strlen(path) + strlen(names[i]) + 2;
            char *sub = malloc(len);
            if (!sub) {
                rc = -1;
            } else {
                snprintf(sub, len, "%s/%s", path, names[i]);
                rc = run_path(sub, count);
                free(sub);
            }
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    unsigned long total = 0;
    for (int i = 1; i < argc; i++) {
        unsigned long count = 0;
        if (run_path(argv[i], &count) != 0)
            return 1;
        if (count == 0) {
            fprintf(stderr, "fuzz_driver: %s: no input files\n", argv[i]);
            return 1;
        }
        printf("%s: %lu inputs\n", argv[i], count);
        total += count;
    }
    printf("%lu inputs replayed, no finding\n", total);
    return 0;
}
