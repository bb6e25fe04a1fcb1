/* SPDX-License-Identifier: MIT */
/*
 * cli_common.h — what the mmarr tools really share: program name and diagnostics, the exit
 * code contract, --version text, JSON string output, a stderr progress line, signals, and
 * the tools' use of the internal common layer (mm_common.h: UTF-8, string buffer, sizes).
 * Public libmmarr API only; no private headers.
 */
#ifndef MMARR_CLI_COMMON_H
#define MMARR_CLI_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <mm_common.h>

/* Exit codes every tool keeps (README "Tools"): scripts rely on them. Every function of the
 * tools that can fail returns one of them (0 is also "go on"), or one of the two negative
 * statuses below, which never reach exit(): main() turns them into an exit code. */
enum {
    CLI_EXIT_OK = 0,    /* success */
    CLI_EXIT_DATA = 1,  /* a data problem: unreadable/corrupt input, failed verification */
    CLI_EXIT_USAGE = 2, /* bad command line */
    CLI_CONTINUE = -1,    /* parse_args(): the command line is fine, do the work */
    CLI_INTERRUPTED = -2, /* a signal stopped the work (see cli_catch_signals) */
};

/* The exit code for rc, a tool's result: rc itself, except after a signal (CLI_INTERRUPTED,
 * or a failure while one was caught): then "prog: interrupted; <what>" and the signal is
 * raised again (cli_reraise), so the shell sees the usual status. */
int cli_exit_status(int rc, const char *what);

/* Remember argv[0]'s basename for messages. Call first in main(). */
void cli_init(const char *argv0);
const char *cli_progname(void);

/* "prog: out of memory" on stderr; returns CLI_EXIT_DATA. */
int cli_oom(void);

/* Does s end with suffix? */
bool cli_ends_with(const char *s, const char *suffix);

/* "prog: message\n" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "prog: message\nTry 'prog --help' for more information.\n" on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The usage error for getopt_long's '?': arg is argv[optind - 1]; opt (optopt) is 0 for an unknown
 * long option, the letter for a short one, and the option's value for a long option given an
 * argument it does not take. */
int cli_bad_option(const char *arg, int opt);

/* Flush stdout; a write error (full disk, closed pipe) is reported and turns rc into
 * CLI_EXIT_DATA. Returns rc otherwise. Tools that print data end with it. */
int cli_finish_output(int rc);

/* "prog (mmarr) 0.1.0 — library 0.1.0, format 1.0" on stdout. */
void cli_print_version(void);

/* Sizes: mm_parse_size() for options ("64K", "2G"), mm_format_size() for people ("1.50 KiB"). */

/* The text of a tool's mm_sbuf. An allocation failure (sticky in the buffer) ends the
 * program here, with "out of memory" and exit status 1: tools check once, where the text is
 * used, instead of at every append. */
const char *cli_sb_str(const mm_sbuf *sb);

/* How many raw bytes of a cold array to read per mmarr_file_read() call when streaming it:
 * whole chunks (so no chunk is decompressed twice), about `target` bytes, at least one chunk,
 * at most nbytes (0 for an empty array). */
uint64_t cli_cold_piece(uint64_t chunk_size, uint64_t nbytes, uint64_t target);

/* Write s as a JSON string literal (quotes, escapes, control characters as \u00XX). */
void cli_json_string(FILE *out, const char *s);

/* Progress on stderr: shown only when stderr is a terminal and not quiet; one line rewritten
 * at most every 200 ms: "label  1.2 GiB / 4.0 GiB  30%  850 MiB/s  ETA 3s". */
typedef struct cli_progress {
    bool enabled;
    uint64_t total, done;
    double t0, last;
    const char *label;
} cli_progress;
void cli_progress_begin(cli_progress *p, const char *label, uint64_t total, bool quiet);
void cli_progress_add(cli_progress *p, uint64_t bytes);
void cli_progress_end(cli_progress *p);

/* Interruption by SIGINT, SIGTERM or SIGHUP. The handlers only record the signal (without
 * SA_RESTART, so a blocked read returns EINTR); long loops poll cli_interrupted(), clean up
 * (temporary files) through their normal error path, then call cli_reraise(), which ends the
 * process by the same signal so the shell sees the usual status (130 for Ctrl-C). */
void cli_catch_signals(void);
/* The signal caught, or 0. */
int cli_interrupted(void);
/* If a signal was caught: restore its default action and raise it (does not return). */
void cli_reraise(void);

/* A defence against SIGBUS: another program truncating or rewriting in place a file this tool
 * has mapped (docs/robustness.md). Instead of dying with "Bus error", the tool prints what
 * happened and which file it was reading, and exits with status 1; nothing is published (the
 * writer's temporary is unnamed, or has no superblock). cli_sigbus_file() names the file being
 * read from now on (copied; truncated past 1 KiB). */
void cli_catch_sigbus(const char *prog);
void cli_sigbus_file(const char *path);

#endif
