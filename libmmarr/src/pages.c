/* SPDX-License-Identifier: MIT */
/*
 * pages.c — mmarr_pages_of(): how the kernel will back a mapping of a file in a directory,
 * which decides what a process's first pass over a freshly mapped array costs. A tmpfs of
 * 4 KiB pages (the default /dev/shm) maps each page by its own fault; a tmpfs mounted with
 * huge pages, or a disk filesystem's page cache (large folios), maps 2 MiB or whole folios at
 * once. On the project's 2-core VM (kernel 6.18, 1 GiB float32): first pass ~700 ms on
 * default /dev/shm, ~90 ms on ext4's page cache or a huge=always tmpfs, ~80 ms a second pass.
 *
 * Read from /proc/self/mountinfo (the mount holding the path, its filesystem type and, for
 * tmpfs, its huge= option) and /sys/kernel/mm/transparent_hugepage/shmem_enabled (whose
 * "force" and "deny" override every tmpfs). Without them (not Linux, no /proc): unknown.
 */
#include "mm_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* mountinfo escapes space, tab, newline and backslash as \ooo: decode in place. */
static void unescape(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* Whether mount point mp holds path p (both absolute, normalized). */
static size_t holds(const char *mp, const char *p)
{
    const size_t n = strlen(mp);
    if (n == 1 && mp[0] == '/')
        return 1;
    return strncmp(mp, p, n) == 0 && (p[n] == '/' || p[n] == '\0') ? n : 0;
}

/* Copy a field into a fixed buffer, cut to fit. */
static void put(char *dst, size_t size, const char *src) { snprintf(dst, size, "%s", src); }

/* The value of option `key` ("huge=") in a comma-separated list, into out; 1 if present. */
static int option(const char *opts, const char *key, char *out, size_t size)
{
    const size_t k = strlen(key);
    for (const char *o = opts; o && *o;) {
        const char *end = strchr(o, ',');
        const size_t len = end ? (size_t)(end - o) : strlen(o);
        if (len > k && strncmp(o, key, k) == 0) {
            snprintf(out, size, "%.*s", (int)(len - k), o + k);
            return 1;
        }
        o = end ? end + 1 : NULL;
    }
    return 0;
}

/* The bracketed choice of a sysfs selector ("always [never] ..."), or "" */
static void sysfs_choice(const char *file, char *out, size_t size)
{
    out[0] = '\0';
    FILE *fp = fopen(file, "re");
    if (!fp)
        return;
    char line[256];
    if (fgets(line, sizeof line, fp)) {
        char *a = strchr(line, '['), *b = a ? strchr(a, ']') : NULL;
        if (a && b)
            snprintf(out, size, "%.*s", (int)(b - a - 1), a + 1);
    }
    fclose(fp);
}

static int disk_fs(const char *t)
{
    static const char *const known[] = {"ext4", "xfs", "btrfs", "f2fs", "bcachefs", "ext3", "ext2"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(t, known[i]) == 0)
            return 1;
    return 0;
}

mmarr_err mmarr_pages_of(const char *path, mmarr_pages_info *out, mmarr_error *err)
{
    MM_ERR_OUT(e, err);
    if (!path || !out)
        MM_FAIL(e, MMARR_E_INVAL, MMARR_NO_OFFSET, "mmarr_pages_of: NULL argument");
    memset(out, 0, sizeof *out);
    char real[PATH_MAX];
    if (!realpath(path, real))
        MM_FAIL_SYS(e, MMARR_E_IO, errno, "%s: cannot resolve the path", path);
    FILE *fp = fopen("/proc/self/mountinfo", "re");
    if (!fp) {
        out->kind = MMARR_PAGES_UNKNOWN;
        return MMARR_OK;
    }
    char line[4096], best_opts[1024] = "";
    size_t best = 0;
    while (fgets(line, sizeof line, fp)) {
        if (!strchr(line, '\n') && !feof(fp)) { /* longer than line: skip the whole entry */
            int c;
            while ((c = fgetc(fp)) != EOF && c != '\n')
                ;
            continue;
        }
        /* id parent major:minor root mount-point options [optional...] - type source super */
        char *fields[6] = {0}, *save = NULL, *tok = strtok_r(line, " \n", &save);
        int nf = 0;
        while (tok && nf < 5) {
            fields[nf++] = tok;
            tok = strtok_r(NULL, " \n", &save);
        }
        if (nf < 5)
            continue;
        while (tok && strcmp(tok, "-") != 0)
            tok = strtok_r(NULL, " \n", &save);
        char *type = tok ? strtok_r(NULL, " \n", &save) : NULL;
        char *source = type ? strtok_r(NULL, " \n", &save) : NULL;
        char *super = source ? strtok_r(NULL, " \n", &save) : NULL;
        if (!type)
            continue;
        char *mp = fields[4];
        unescape(mp);
        const size_t n = holds(mp, real);
        if (n && n >= best) { /* the last of equal mount points is the one on top */
            best = n;
            put(out->mount_point, sizeof out->mount_point, mp);
            put(out->fs_type, sizeof out->fs_type, type);
            put(best_opts, sizeof best_opts, super ? super : "");
        }
    }
    fclose(fp);
    if (!best) {
        out->kind = MMARR_PAGES_UNKNOWN;
        return MMARR_OK;
    }
    if (strcmp(out->fs_type, "tmpfs") == 0) {
        char forced[32];
        if (!option(best_opts, "huge=", out->huge, sizeof out->huge))
            put(out->huge, sizeof out->huge, "never");
        sysfs_choice("/sys/kernel/mm/transparent_hugepage/shmem_enabled", forced, sizeof forced);
        if (strcmp(forced, "force") == 0 || strcmp(forced, "deny") == 0)
            put(out->huge, sizeof out->huge, forced);
        const int huge = strcmp(out->huge, "always") == 0 ||
                         strcmp(out->huge, "within_size") == 0 || strcmp(out->huge, "force") == 0;
        out->kind = huge ? MMARR_PAGES_HUGE_SHMEM : MMARR_PAGES_SMALL_SHMEM;
    } else {
        out->kind = disk_fs(out->fs_type) ? MMARR_PAGES_PAGE_CACHE : MMARR_PAGES_UNKNOWN;
    }
    return MMARR_OK;
}

const char *mmarr_pages_name(mmarr_page_kind kind)
{
    switch (kind) {
    case MMARR_PAGES_SMALL_SHMEM: return "tmpfs, 4 KiB pages";
    case MMARR_PAGES_HUGE_SHMEM: return "tmpfs, huge pages";
    case MMARR_PAGES_PAGE_CACHE: return "page cache";
    case MMARR_PAGES_UNKNOWN: break;
    }
    return "unknown";
}
