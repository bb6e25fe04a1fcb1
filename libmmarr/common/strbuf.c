/* SPDX-License-Identifier: MIT */
/* strbuf.c — the growable string buffer of mm_common.h (sticky allocation failure). */
#include "mm_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool mm_sb_grow(mm_sbuf *sb, size_t extra)
{
    if (sb->failed)
        return false;
    if (extra <= SIZE_MAX - 1 - sb->len && sb->len + extra + 1 <= sb->cap)
        return true;
    if (extra > SIZE_MAX / 2 - 1 - sb->len) {
        sb->failed = true;
        return false;
    }
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < sb->len + extra + 1)
        cap *= 2;
    char *p = realloc(sb->p, cap);
    if (!p) {
        sb->failed = true;
        return false;
    }
    sb->p = p;
    sb->cap = cap;
    return true;
}

bool mm_sb_putn(mm_sbuf *sb, const void *s, size_t n)
{
    if (!mm_sb_reserve(sb, n))
        return false;
    if (n)
        memcpy(sb->p + sb->len, s, n);
    sb->len += n;
    sb->p[sb->len] = '\0';
    return true;
}

bool mm_sb_puts(mm_sbuf *sb, const char *s) { return mm_sb_putn(sb, s, strlen(s)); }

bool mm_sb_putc(mm_sbuf *sb, char c) { return mm_sb_putn(sb, &c, 1); }

bool mm_sb_printf(mm_sbuf *sb, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return false;
    if ((size_t)n < sizeof tmp)
        return mm_sb_putn(sb, tmp, (size_t)n);
    if (!mm_sb_reserve(sb, (size_t)n))
        return false;
    va_start(ap, fmt);
    vsnprintf(sb->p + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
    return true;
}

void mm_sb_truncate(mm_sbuf *sb, size_t len)
{
    if (len < sb->len) {
        sb->len = len;
        sb->p[len] = '\0';
    }
}

void mm_sb_free(mm_sbuf *sb)
{
    free(sb->p);
    *sb = (mm_sbuf){0};
}
