/* SPDX-License-Identifier: MIT */
/* testutil.h — helpers shared by the cmocka tests: assertions on error codes and messages,
 * temp dirs, whole-file I/O, forked children. Include it after <cmocka.h>. */
#ifndef MMARR_TESTUTIL_H
#define MMARR_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "mmarr.h"

/* Compare error codes, printing both names and the message (msg may be NULL) on a mismatch,
 * prefixed with `what` unless it is NULL; the failure is reported at file:line. */
void tu_assert_code_at(mmarr_err got, mmarr_err want, const char *msg, const char *what,
                       const char *file, int line);
#define assert_code(got, want, msg)                                                          \
    tu_assert_code_at((got), (want), (msg), NULL, __FILE__, __LINE__)
/* The same, naming the case under test (`what`) in the failure message. */
#define assert_code_where(what, got, want, msg)                                              \
    tu_assert_code_at((got), (want), (msg), (what), __FILE__, __LINE__)
/* a is a non-NULL string equal to b. */
#define ASSERT_STR(a, b)                                                                     \
    do {                                                                                     \
        const char *a_ = (a);                                                                \
        assert_non_null(a_);                                                                 \
        assert_string_equal(a_, (b));                                                        \
    } while (0)
/* The message contains `frag` (case-insensitive); prints the message otherwise. */
void tu_assert_msg_has_at(const char *msg, const char *frag, const char *file, int line);
#define assert_msg_has(msg, frag) tu_assert_msg_has_at((msg), (frag), __FILE__, __LINE__)

/* Make a fresh directory under $TMPDIR (or /tmp); returns a malloc'd path. */
char *tu_mkdtemp(void);
/* Remove a directory tree made by tu_mkdtemp() and free the path. Accepts NULL. */
void tu_rmtree(char *dir);
/* malloc'd "dir/name". */
char *tu_path(const char *dir, const char *name);
/* Read a whole file into a malloc'd buffer; NULL on error. */
void *tu_read_file(const char *path, size_t *size);
/* Write a whole file; 0 on success. */
int tu_write_file(const char *path, const void *data, size_t size);
/* The number in environment variable `name` (the long modes of the hardening tests), or dflt
 * when it is unset or empty. */
unsigned long tu_env_count(const char *name, unsigned long dflt);
/* CLOCK_MONOTONIC in seconds. */
double tu_now(void);
/* Deterministic pseudo-random bytes (splitmix64 of seed). */
void tu_fill(void *buf, size_t n, uint64_t seed);
/* cmocka fixtures: a fresh temp dir in *state, removed afterwards. */
int tu_setup_dir(void **state);
int tu_teardown_dir(void **state);
/* Names in dir other than "." and "..", in readdir order, comma-joined into buf (truncated to
 * n bytes); returns how many there are. Fails the test if dir cannot be opened. */
size_t tu_list_dir(const char *dir, char *buf, size_t n);
/* End a forked child: _exit() (the parent's atexit handlers and buffers are not the child's);
 * in the coverage build (scripts/coverage.sh defines MMARR_TEST_COVERAGE) exit(), so that
 * every object's coverage counters, the library's included, are written. */
void tu_child_exit(int code) __attribute__((noreturn));
/* Fork; the child runs fn(arg) and leaves with _exit(fn(arg)). keep1, keep2: other parent
 * objects the child inherits (or NULL). Valgrind checks leaks at every exit without scanning
 * the exiting stack, so arg, keep1 and keep2 stay reachable from a global while it runs.
 * Returns the child's pid. */
int tu_spawn(int (*fn)(void *), void *arg, void *keep1, void *keep2);
/* Those roots: tu_spawn sets [0..2]; [3] is free for a test with a third such object. */
extern void *volatile tu_child_roots[4];
/* Wait for child pid and fail the test unless it exited with status 0. */
void tu_reap_ok(int pid);
/* Directory of the golden files: $MMARR_TESTDATA, or the source tree's format/testdata. */
const char *tu_testdata_dir(void);

#endif
