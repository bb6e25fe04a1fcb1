/* SPDX-License-Identifier: MIT */
/* utf8.c — strict UTF-8 (RFC 3629): the one decoder behind names, keys and values (spec.md
 * §7.5), the tools' checks of command-line text and the .npy header parser. */
#include "mm_common.h"

#include <string.h>

size_t mm_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (!n)
        return 0;
    const unsigned c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        len = 1, v = c, min = 0;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1Fu, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0Fu, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07u, min = 0x10000;
    } else {
        return 0; /* continuation byte, overlong lead (C0/C1) or > F4 */
    }
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        const unsigned cc = s[k];
        if ((cc & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (cc & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    if (cp)
        *cp = v;
    return len;
}

bool mm_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* fast path: 8 ASCII bytes without NUL at a time */
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            const uint64_t has_zero = (w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull;
            if (!(w & 0x8080808080808080ull) && !has_zero) {
                i += 8;
                continue;
            }
        }
        if (s[i] < 0x80) { /* ASCII within the last 8 bytes, or beside non-ASCII */
            if (s[i] == 0)
                return false;
            i++;
            continue;
        }
        const size_t len = mm_utf8_decode(s + i, n - i, NULL);
        if (!len)
            return false;
        i += len;
    }
    return true;
}

size_t mm_utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return 0;
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp > 0x10FFFF)
        return 0;
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}
