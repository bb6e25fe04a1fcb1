/* SPDX-License-Identifier: MIT */
/* testutil.h — helpers shared by the cmocka tests: temp dirs and whole-file I/O. */
#ifndef MMARR_TESTUTIL_H
#define MMARR_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

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
/* Wait for child pid and fail the test unless it exited with status 0. */
void tu_reap_ok(int pid);
/* Directory of the golden files: $MMARR_TESTDATA, or the source tree's format/testdata. */
const char *tu_testdata_dir(void);

#endif
