/* SPDX-License-Identifier: MIT */
/*
 * json.h — a small JSON writer for the tools' --json documents, on stdout. The caller writes
 * the braces and brackets; a json_obj remembers whether a ", " is due before the next member.
 * Keys are snake_case and stable (mmarr-info.1.md); integers are written exactly, whatever
 * their size; strings are valid UTF-8 (invalid bytes of a path become U+FFFD).
 */
#ifndef MMARR_TOOLS_JSON_H
#define MMARR_TOOLS_JSON_H

#include <stdint.h>

/* One JSON object or array being written: remembers whether a separator is due. */
typedef struct json_obj {
    int n;
} json_obj;

/* ", " unless this is the first member. */
void json_sep(json_obj *w);
/* The separator, then "key": */
void json_key(json_obj *w, const char *key);
/* A string literal (cli_json_string's escapes; invalid UTF-8 replaced by U+FFFD). */
void json_string(const char *v);
/* Members: "key": value. */
void json_str(json_obj *w, const char *key, const char *v);
void json_u64(json_obj *w, const char *key, uint64_t v);
void json_bool(json_obj *w, const char *key, int v);
void json_u64_list(json_obj *w, const char *key, unsigned n, const uint64_t *v);
void json_i64_list(json_obj *w, const char *key, unsigned n, const int64_t *v);

#endif
