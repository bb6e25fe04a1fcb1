/* SPDX-License-Identifier: MIT */
#include "cli_common.h"

#include <mmarr.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *progname = "mmarr";

void cli_init(const char *argv0)
{
    if (argv0 && *argv0) {
        const char *slash = strrchr(argv0, '/');
        progname = slash ? slash + 1 : argv0;
    }
}

const char *cli_progname(void) { return progname; }

__attribute__((format(printf, 2, 0))) /* callers are checked (clang -Wformat-nonliteral) */
static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: %s", progname, prefix);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("", fmt, ap);
    va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("warning: ", fmt, ap);
    va_end(ap);
}

int cli_oom(void)
{
    cli_error("out of memory");
    return CLI_EXIT_DATA;
}

bool cli_ends_with(const char *s, const char *suffix)
{
    const size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("", fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try '%s --help' for more information.\n", progname);
    return CLI_EXIT_USAGE;
}

int cli_bad_option(const char *arg, int opt)
{
    const char *eq = strchr(arg, '=');
    if (!opt)
        return cli_usage_error("unrecognized option '%s'", arg);
    if (!strncmp(arg, "--", 2) && eq)
        return cli_usage_error("option '%.*s' takes no argument", (int)(eq - arg), arg);
    return cli_usage_error("invalid option -- '%c'", opt);
}

int cli_finish_output(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("write error on standard output: %s", strerror(errno));
        return CLI_EXIT_DATA;
    }
    return rc;
}

void cli_print_version(void)
{
    printf("%s (mmarr) %s — library %s, format %d.%d\n", progname, MMARR_VERSION_STRING,
           mmarr_version_string(), MMARR_FORMAT_VERSION_MAJOR, MMARR_FORMAT_VERSION_MINOR);
}

const char *cli_sb_str(const mm_sbuf *sb)
{
    if (sb->failed) {
        exit(cli_oom());
    }
    return mm_sb_str(sb);
}

uint64_t cli_cold_piece(uint64_t chunk_size, uint64_t nbytes, uint64_t target)
{
    uint64_t piece = chunk_size == 0 ? target : chunk_size >= target ? chunk_size
                                                                     : target - target % chunk_size;
    return piece < nbytes ? piece : nbytes;
}

void cli_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_progress_begin(cli_progress *p, const char *label, uint64_t total, bool quiet)
{
    memset(p, 0, sizeof *p);
    p->enabled = !quiet && isatty(STDERR_FILENO);
    p->total = total;
    p->label = label;
    p->t0 = p->last = now();
}

static void progress_draw(cli_progress *p, double t)
{
    char a[MM_SIZE_BUF], b[MM_SIZE_BUF], r[MM_SIZE_BUF];
    double el = t - p->t0;
    double rate = el > 0 ? (double)p->done / el : 0;
    fprintf(stderr, "\r\033[K%s  %s / %s", p->label, mm_format_size(p->done, a),
            mm_format_size(p->total, b));
    if (p->total)
        fprintf(stderr, "  %3.0f%%", 100.0 * (double)p->done / (double)p->total);
    fprintf(stderr, "  %s/s", mm_format_size((uint64_t)rate, r));
    if (rate > 0 && p->total > p->done)
        fprintf(stderr, "  ETA %.0fs", (double)(p->total - p->done) / rate);
    fflush(stderr);
}

void cli_progress_add(cli_progress *p, uint64_t bytes)
{
    p->done += bytes;
    if (!p->enabled)
        return;
    double t = now();
    if (t - p->last >= 0.2) {
        p->last = t;
        progress_draw(p, t);
    }
}

void cli_progress_end(cli_progress *p)
{
    if (!p->enabled)
        return;
    progress_draw(p, now());
    fputc('\n', stderr);
}

static volatile sig_atomic_t caught_signal;

static void on_signal(int sig) { caught_signal = sig; }

void cli_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: blocking reads return EINTR and notice the signal */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

int cli_interrupted(void) { return (int)caught_signal; }

/* Written before any mapped access and only read by the handler (which then exits). */
static char sigbus_prog[64];
static char sigbus_path[1024];

static void put(const char *s) { (void)!write(2, s, strlen(s)); }

static void on_sigbus(int sig)
{
    (void)sig;
    put(sigbus_prog);
    put(": bus error (SIGBUS) while reading ");
    put(sigbus_path[0] ? sigbus_path : "a mapped file");
    put(": the file was truncated or rewritten in place by another program while mapped "
        "(replace files by rename instead, see docs/robustness.md); nothing was written\n");
    _exit(1);
}

void cli_catch_sigbus(const char *prog)
{
    snprintf(sigbus_prog, sizeof sigbus_prog, "%s", prog);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigbus;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

void cli_sigbus_file(const char *path)
{
    snprintf(sigbus_path, sizeof sigbus_path, "%s", path ? path : "");
}


int cli_exit_status(int rc, const char *what)
{
    if (rc == CLI_INTERRUPTED || (rc && cli_interrupted())) {
        cli_error("interrupted; %s", what);
        cli_reraise();
        return CLI_EXIT_DATA;
    }
    return rc;
}

void cli_reraise(void)
{
    const int sig = (int)caught_signal;
    if (!sig)
        return;
    signal(sig, SIG_DFL);
    raise(sig);
    _exit(128 + sig); /* not reached unless the signal is blocked */
}
