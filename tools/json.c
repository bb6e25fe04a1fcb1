/* SPDX-License-Identifier: MIT */
/* json.c — the JSON writer of json.h. */
#include "json.h"

#include "cli_common.h"

#include <inttypes.h>
#include <stdio.h>

void json_sep(json_obj *w)
{
    if (w->n++)
        fputs(", ", stdout);
}

void json_key(json_obj *w, const char *key)
{
    json_sep(w);
    json_string(key);
    fputs(": ", stdout);
}

/* A JSON string must be valid UTF-8. Names and metadata are (the library checks them), but a
 * path from the command line need not be: its invalid bytes become U+FFFD. */
void json_string(const char *v)
{
    mm_sbuf sb = {0};
    for (const unsigned char *p = (const unsigned char *)v; *p;) {
        const size_t n = mm_utf8_decode(p, 4, NULL); /* stops at the NUL: never past it */
        if (n)
            mm_sb_putn(&sb, (const char *)p, n);
        else
            mm_sb_puts(&sb, "\xEF\xBF\xBD");
        p += n ? n : 1;
    }
    cli_json_string(stdout, cli_sb_str(&sb));
    mm_sb_free(&sb);
}

void json_str(json_obj *w, const char *key, const char *v)
{
    json_key(w, key);
    json_string(v);
}

/* Integers are written exactly, whatever their size (see "Numbers" in mmarr-info.1.md). */
void json_u64(json_obj *w, const char *key, uint64_t v)
{
    json_key(w, key);
    printf("%" PRIu64, v);
}

void json_bool(json_obj *w, const char *key, int v)
{
    json_key(w, key);
    fputs(v ? "true" : "false", stdout);
}

void json_u64_list(json_obj *w, const char *key, unsigned n, const uint64_t *v)
{
    json_key(w, key);
    putchar('[');
    for (unsigned i = 0; i < n; i++)
        printf(i ? ", %" PRIu64 : "%" PRIu64, v[i]);
    putchar(']');
}

void json_i64_list(json_obj *w, const char *key, unsigned n, const int64_t *v)
{
    json_key(w, key);
    putchar('[');
    for (unsigned i = 0; i < n; i++)
        printf(i ? ", %" PRId64 : "%" PRId64, v[i]);
    putchar(']');
}
