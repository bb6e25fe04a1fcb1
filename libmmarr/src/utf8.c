/* SPDX-License-Identifier: MIT */
/* utf8.c — UTF-8 validation (spec.md §7.5) and the byte-wise name order (spec.md §7.6). */
#include "mm_internal.h"

bool mm_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* fast path: 8 ASCII bytes without NUL at a time */
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            uint64_t has_zero = (w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull;
            if (!(w & 0x8080808080808080ull) && !has_zero) {
                i += 8;
                continue;
            }
        }
        unsigned c = s[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false; /* continuation byte, overlong lead (C0/C1) or > F4 */
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            unsigned cc = s[i + k];
            if ((cc & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

