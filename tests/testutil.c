/* SPDX-License-Identifier: MIT */
/* testutil.c — see testutil.h. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

void tu_assert_code_at(mmarr_err got, mmarr_err want, const char *msg, const char *what,
                       const char *file, int line)
{
    if (got != want)
        print_error("%s%sgot %s, want %s; message: %s\n", what ? what : "", what ? ": " : "",
                    mmarr_err_name(got), mmarr_err_name(want), msg ? msg : "");
    _assert_int_equal(cast_to_largest_integral_type(got), cast_to_largest_integral_type(want),
                      file, line);
}

void tu_assert_msg_has_at(const char *msg, const char *frag, const char *file, int line)
{
    if (!strcasestr(msg, frag))
        print_error("message \"%s\" lacks \"%s\"\n", msg, frag);
    _assert_true(cast_ptr_to_largest_integral_type(strcasestr(msg, frag)), "message", file,
                 line);
}

char *tu_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    char *p = malloc(strlen(base) + 32);
    if (!p)
        return NULL;
    sprintf(p, "%s/mmarr-test.XXXXXX", base);
    if (!mkdtemp(p)) {
        free(p);
        return NULL;
    }
    return p;
}

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d)) != NULL) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                    continue;
                char *sub = tu_path(path, de->d_name);
                if (sub) {
                    rm_rf(sub);
                    free(sub);
                }
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

void tu_rmtree(char *dir)
{
    if (!dir)
        return;
    rm_rf(dir);
    free(dir);
}

char *tu_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

void *tu_read_file(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    if (fseek(fp, 0, SEEK_END) != 0) {
        fclose(fp);
        return NULL;
    }
    long n = ftell(fp);
    rewind(fp);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    if (buf && size)
        *size = (size_t)n;
    return buf;
}

int tu_write_file(const char *path, const void *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    int rc = (size && fwrite(data, 1, size, fp) != size) ? -1 : 0;
    if (fclose(fp) != 0)
        rc = -1;
    return rc;
}

unsigned long tu_env_count(const char *name, unsigned long dflt)
{
    const char *s = getenv(name);
    return s && *s ? strtoul(s, NULL, 10) : dflt;
}

double tu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void tu_fill(void *buf, size_t n, uint64_t seed)
{
    unsigned char *p = buf;
    uint64_t x = seed;
    for (size_t i = 0; i < n; i++) {
        if (i % 8 == 0) {
            x += 0x9E3779B97F4A7C15ull;
            uint64_t z = x;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            seed = z ^ (z >> 31);
        }
        p[i] = (unsigned char)(seed >> (8 * (i % 8)));
    }
}

const char *tu_testdata_dir(void)
{
    const char *d = getenv("MMARR_TESTDATA");
    return (d && *d) ? d : "format/testdata";
}

int tu_setup_dir(void **state)
{
    char *dir = tu_mkdtemp();
    if (!dir)
        return -1;
    *state = dir;
    return 0;
}

int tu_teardown_dir(void **state)
{
    tu_rmtree(*state);
    return 0;
}

size_t tu_list_dir(const char *dir, char *buf, size_t n)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    buf[0] = '\0';
    size_t count = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (count)
            strncat(buf, ",", n - strlen(buf) - 1);
        strncat(buf, de->d_name, n - strlen(buf) - 1);
        count++;
    }
    closedir(d);
    return count;
}

void tu_child_exit(int code)
{
#ifdef MMARR_TEST_COVERAGE
    exit(code);
#else
    _exit(code);
#endif
}

void *volatile tu_child_roots[4];

int tu_spawn(int (*fn)(void *), void *arg, void *keep1, void *keep2)
{
    tu_child_roots[0] = arg;
    tu_child_roots[1] = keep1;
    tu_child_roots[2] = keep2;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fn(arg));
    return pid;
}

void tu_reap_ok(int pid)
{
    int st = 0;
    pid_t r;
    do
        r = waitpid((pid_t)pid, &st, 0);
    while (r < 0 && errno == EINTR);
    assert_int_equal(r, pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        print_error("child %d: %s %d\n", pid, WIFEXITED(st) ? "exit" : "signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

