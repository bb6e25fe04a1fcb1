/* SPDX-License-Identifier: MIT */
/*
 * mm_common.h — the internal common layer: small, dependency-free pieces that the library and
 * the tools both need, each written once. UTF-8 (spec.md §7.5's rules), a growable string
 * buffer, and byte sizes parsed from and formatted for people.
 *
 * Rule (zstd's lib/common): this layer depends on the C library only — not on mmarr.h, not on
 * the library's internals. It is compiled into libmmarr (hidden symbols) and linked into the
 * tools; it is not installed and is no part of the public API.
 */
#ifndef MM_COMMON_H
#define MM_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MM_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* ---- UTF-8 (utf8.c) ---------------------------------------------------------------------- */

/* Length (1..4) of the valid UTF-8 sequence at s (at most n bytes), or 0 when none starts
 * there: a stray continuation byte, an overlong form, a surrogate, a code point above
 * U+10FFFF or a sequence cut short. *cp (may be NULL) receives the code point. */
size_t mm_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* true when [s, s+n) is valid UTF-8 without NUL bytes (names, keys, values: spec.md §7.5). */
bool mm_utf8_valid(const unsigned char *s, size_t n);
/* Encode cp (<= U+10FFFF, not a surrogate) into out; returns the length 1..4, or 0. */
size_t mm_utf8_encode(uint32_t cp, char out[4]);

/* ---- growable string buffer (strbuf.c) ---------------------------------------------------- */

/* Bytes, always NUL-terminated after len (embedded NULs allowed). Zero-initialise to start.
 * An allocation failure is sticky: `failed` is set, later appends do nothing, and the caller
 * checks once at the end (the library turns it into MMARR_E_NOMEM, a tool into an error). */
typedef struct mm_sbuf {
    char *p;
    size_t len, cap;
    bool failed;
} mm_sbuf;

/* Room for `extra` more bytes (and the NUL); false once allocation has failed. */
bool mm_sb_grow(mm_sbuf *sb, size_t extra);
static inline bool mm_sb_reserve(mm_sbuf *sb, size_t extra)
{
    /* cap > len whenever cap > 0, so this is len + extra + 1 <= cap without overflow */
    return (!sb->failed && extra < sb->cap - sb->len) || mm_sb_grow(sb, extra);
}
bool mm_sb_putn(mm_sbuf *sb, const void *s, size_t n);
bool mm_sb_puts(mm_sbuf *sb, const char *s);
bool mm_sb_putc(mm_sbuf *sb, char c);
bool mm_sb_printf(mm_sbuf *sb, const char *fmt, ...) MM_PRINTF(2, 3);
/* Cut to `len` bytes (no-op when already shorter). */
void mm_sb_truncate(mm_sbuf *sb, size_t len);
static inline void mm_sb_clear(mm_sbuf *sb) { mm_sb_truncate(sb, 0); }
/* The text, "" before anything was appended. Valid until the next append. */
static inline const char *mm_sb_str(const mm_sbuf *sb) { return sb->p ? sb->p : ""; }
void mm_sb_free(mm_sbuf *sb);

/* ---- sizes (size.c) ----------------------------------------------------------------------- */

/* Parse "4096", "64K", "2M", "1G", "1T" (binary multiples; "KiB", "kb", "MB" ... accepted);
 * false on an empty string, junk, a sign or overflow. */
bool mm_parse_size(const char *s, uint64_t *out);
/* "512 B", "1.50 KiB", "12.3 MiB", "640 GiB": binary units, three significant digits. */
#define MM_SIZE_BUF 32
const char *mm_format_size(uint64_t n, char buf[MM_SIZE_BUF]);

#endif /* MM_COMMON_H */
