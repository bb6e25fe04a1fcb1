/* SPDX-License-Identifier: MIT */
/*
 * mmarr-info — describe an mmarr file: a table of its arrays (or one JSON document), checksum
 * verification of every array, page-cache residency, and the details and leading values of
 * one array. Thin over the public API (mmarr.h): no private headers, no parsing of file bytes.
 *
 * Output never depends on which mode computed it: the table, the JSON document and the array
 * view all print from the same mmarr_file_info / mmarr_array_info structs. Arrays are
 * processed one at a time, so a file of 100,000 arrays costs little more memory than one of
 * ten (--resident keeps 8 bytes per array). See mmarr-info.1.md for the JSON schema.
 */
#include "cli_common.h"

#include <mmarr.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Columns wider than these are elided (dtype, shape) or wrapped (name): see print_row(). */
#define NAME_COLS_MAX 40
#define DTYPE_COLS_MAX 40
#define SHAPE_COLS_MAX 32
/* One value's text stops growing (with "…") past this many bytes: a record with a large
 * subarray, or a |S1000000 string, must not flood the terminal. */
#define VALUE_BYTES_MAX 240
#define DEFAULT_VALUES 10

/* ------------------------------------------------------------------------------------------ */
/* Text for terminals: escaping and widths                                                     */

/* Display columns of UTF-8 text, counted as code points (the library guarantees valid UTF-8;
 * East Asian wide characters count as one, a tolerable misalignment). */
static size_t text_cols(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

/* Append s with control characters (C0, DEL, C1) escaped, so that a name or metadata value
 * holding a tab or newline cannot break the table. Other UTF-8 passes through. */
static void sb_put_display(mm_sbuf *sb, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n')
            mm_sb_puts(sb, "\\n");
        else if (*p == '\t')
            mm_sb_puts(sb, "\\t");
        else if (*p == '\r')
            mm_sb_puts(sb, "\\r");
        else if (*p < 0x20 || *p == 0x7f)
            mm_sb_printf(sb, "\\x%02x", *p);
        else if (*p == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) {
            mm_sb_printf(sb, "\\u%04x", p[1]);
            p++;
        } else
            mm_sb_putc(sb, (char)*p);
    }
}

/* Cut sb to at most `cols` columns, ending in "…" when something was cut. */
static void sb_elide(mm_sbuf *sb, size_t cols)
{
    if (text_cols(cli_sb_str(sb)) <= cols || cols == 0)
        return;
    size_t kept = 0, i = 0;
    while (i < sb->len) {
        if (((unsigned char)sb->p[i] & 0xC0) != 0x80 && kept++ == cols - 1)
            break;
        i++;
    }
    mm_sb_truncate(sb, i);
    mm_sb_puts(sb, "…");
}

/* Print s left-aligned in `cols` columns (printf's %-*s counts bytes, not columns). */
static void put_left(const char *s, size_t cols)
{
    fputs(s, stdout);
    for (size_t n = text_cols(s); n < cols; n++)
        putchar(' ');
}

static void put_right(const char *s, size_t cols)
{
    for (size_t n = text_cols(s); n < cols; n++)
        putchar(' ');
    fputs(s, stdout);
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* ------------------------------------------------------------------------------------------ */
/* Shapes, strides, sizes                                                                      */

/* numpy's tuple notation: "()", "(5,)", "(3, 4)". */
static void sb_put_tuple_u64(mm_sbuf *sb, unsigned n, const uint64_t *v)
{
    mm_sb_putc(sb, '(');
    for (unsigned i = 0; i < n; i++)
        mm_sb_printf(sb, i ? ", %" PRIu64 : "%" PRIu64, v[i]);
    mm_sb_puts(sb, n == 1 ? ",)" : ")");
}

static void sb_put_tuple_i64(mm_sbuf *sb, unsigned n, const int64_t *v)
{
    mm_sb_putc(sb, '(');
    for (unsigned i = 0; i < n; i++)
        mm_sb_printf(sb, i ? ", %" PRId64 : "%" PRId64, v[i]);
    mm_sb_puts(sb, n == 1 ? ",)" : ")");
}

/* raw / stored; 1 when nothing is stored (an empty array is not compressed). */
static double ratio_of(const mmarr_array_info *a)
{
    return a->stored_bytes ? (double)a->nbytes / (double)a->stored_bytes : 1.0;
}

static const char *tier_name(const mmarr_array_info *a)
{
    return a->storage == MMARR_STORAGE_COLD ? "cold" : "hot";
}

static const char *order_name(const mmarr_array_info *a)
{
    return a->order == MMARR_ORDER_F ? "F" : "C";
}

/* ------------------------------------------------------------------------------------------ */
/* Numbers inside array data                                                                   */

/* An unsigned integer of `size` (1..8) bytes in the declared byte order ('>' big-endian;
 * '<' and '|' little-endian). Data is never swapped in the file (spec.md §8), so the reader
 * must honour the dtype's order rather than the host's. */
static uint64_t load_uint(const unsigned char *p, uint64_t size, char order)
{
    uint64_t v = 0;
    for (uint64_t i = 0; i < size; i++)
        v = (v << 8) | p[order == '>' ? i : size - 1 - i];
    return v;
}

static int64_t load_int(const unsigned char *p, uint64_t size, char order)
{
    uint64_t v = load_uint(p, size, order);
    if (size < 8 && (v >> (8 * size - 1)) & 1)
        v |= ~UINT64_C(0) << (8 * size);
    int64_t s;
    memcpy(&s, &v, sizeof s);
    return s;
}

/* A binary float format: IEEE binary64/32/16, bfloat16 and the OCP float8 formats. */
typedef struct fformat {
    unsigned ebits, mbits; /* exponent and mantissa bits */
    int bias;
    int ieee_special;      /* 1: all-ones exponent is inf/NaN; 0: e4m3fn (only S.1111.111 NaN) */
} fformat;

static const fformat F64 = {11, 52, 1023, 1}, F32 = {8, 23, 127, 1}, F16 = {5, 10, 15, 1},
                     BF16 = {8, 7, 127, 1}, E4M3FN = {4, 3, 7, 0}, E5M2 = {5, 2, 15, 1};

/* Decode the low 1+ebits+mbits bits of `bits` (formats narrower than binary64). */
static double decode_float(uint64_t bits, const fformat *f)
{
    const uint64_t mmask = (UINT64_C(1) << f->mbits) - 1, emax = (UINT64_C(1) << f->ebits) - 1;
    const uint64_t m = bits & mmask, e = (bits >> f->mbits) & emax;
    const int neg = (int)((bits >> (f->mbits + f->ebits)) & 1);
    double v;
    if (f->ieee_special && e == emax)
        v = m ? NAN : INFINITY;
    else if (!f->ieee_special && e == emax && m == mmask)
        v = NAN;
    else if (e == 0)
        v = ldexp((double)m, 1 - f->bias - (int)f->mbits);
    else
        v = ldexp((double)(m | (mmask + 1)), (int)e - f->bias - (int)f->mbits);
    return neg ? -v : v;
}

/* Does decimal text that parsed to y name the same value x of format f? Binary64 and 32
 * compare after rounding; narrower formats accept y within half a unit in the last place of
 * x, which is what rounding y to the format back to x requires. */
static int same_in_format(double y, double x, const fformat *f)
{
    if (f == &F64)
        return y == x;
    if (f == &F32)
        return (float)y == (float)x;
    int e2;
    (void)frexp(x, &e2);
    int exp = e2 - 1;
    if (exp < 1 - f->bias)
        exp = 1 - f->bias; /* subnormal: the spacing of the smallest normals */
    return fabs(y - x) < ldexp(0.5, exp - (int)f->mbits);
}

/* The shortest decimal that names x in its format, the way Python's repr() writes floats:
 * "1.0", "0.1", "1e+300", "1.5e-05", "nan", "-inf". */
static void sb_put_real(mm_sbuf *sb, double x, const fformat *f)
{
    if (isnan(x)) {
        mm_sb_puts(sb, "nan");
        return;
    }
    if (isinf(x)) {
        mm_sb_puts(sb, x < 0 ? "-inf" : "inf");
        return;
    }
    if (x == 0) {
        mm_sb_puts(sb, signbit(x) ? "-0.0" : "0.0");
        return;
    }
    char sci[48];
    int digits = 1;
    for (; digits < 17; digits++) {
        snprintf(sci, sizeof sci, "%.*e", digits - 1, x);
        if (same_in_format(strtod(sci, NULL), x, f))
            break;
    }
    snprintf(sci, sizeof sci, "%.*e", digits - 1, x);
    /* Print the short decimal's own value: x itself may need more digits (65504 in f2 is
     * "65500.0"), and "%.*f" of the nearest double gives the decimal's digits back. */
    const double y = strtod(sci, NULL);
    const int exp10 = atoi(strchr(sci, 'e') + 1);
    if (exp10 < -4 || exp10 >= 16) {
        mm_sb_puts(sb, sci);
        return;
    }
    const int decimals = digits - 1 - exp10 > 0 ? digits - 1 - exp10 : 0;
    char fixed[48];
    snprintf(fixed, sizeof fixed, "%.*f", decimals, y);
    mm_sb_puts(sb, fixed);
    if (!strchr(fixed, '.'))
        mm_sb_puts(sb, ".0");
}

/* Float element of any supported float dtype, decoded in the tool (the library exposes the
 * bytes, not the values). Special formats are recognised by their canonical names. */
static void sb_put_float(mm_sbuf *sb, const unsigned char *p, const mmarr_dtype *dt)
{
    const char *name = mmarr_dtype_str(dt);
    const char order = mmarr_dtype_byteorder(dt);
    const uint64_t size = mmarr_dtype_itemsize(dt);
    /* The ML formats print as the float32 they convert to exactly ("448.0", "3.140625"):
     * their shortest round-trip text ("450.0" for e4m3fn's 448) reads as a wrong value. */
    if (!strcmp(name, "bfloat16"))
        sb_put_real(sb, decode_float(load_uint(p, 2, order), &BF16), &F32);
    else if (!strcmp(name, "float8_e4m3fn"))
        sb_put_real(sb, decode_float(p[0], &E4M3FN), &F32);
    else if (!strcmp(name, "float8_e5m2"))
        sb_put_real(sb, decode_float(p[0], &E5M2), &F32);
    else if (size == 2)
        sb_put_real(sb, decode_float(load_uint(p, 2, order), &F16), &F16);
    else if (size == 4) {
        const uint32_t bits = (uint32_t)load_uint(p, 4, order);
        float v;
        memcpy(&v, &bits, sizeof v);
        sb_put_real(sb, v, &F32);
    } else {
        const uint64_t bits = load_uint(p, 8, order);
        double v;
        memcpy(&v, &bits, sizeof v);
        sb_put_real(sb, v, &F64);
    }
}

/* Python's complex repr without the ".0" of integral parts: "(1+2j)", "(-0.5-1.5j)". */
static void sb_put_complex(mm_sbuf *sb, const unsigned char *p, const mmarr_dtype *dt)
{
    const char order = mmarr_dtype_byteorder(dt);
    const uint64_t half = mmarr_dtype_itemsize(dt) / 2;
    double part[2];
    for (int i = 0; i < 2; i++) {
        const uint64_t bits = load_uint(p + (uint64_t)i * half, half, order);
        if (half == 4) {
            float v;
            uint32_t b32 = (uint32_t)bits;
            memcpy(&v, &b32, sizeof v);
            part[i] = v;
        } else {
            memcpy(&part[i], &bits, sizeof part[i]);
        }
    }
    const fformat *f = half == 4 ? &F32 : &F64;
    mm_sbuf t = {0};
    mm_sb_putc(sb, '(');
    for (int i = 0; i < 2; i++) {
        mm_sb_clear(&t);
        sb_put_real(&t, part[i], f);
        if (t.len > 2 && !strcmp(cli_sb_str(&t) + t.len - 2, ".0"))
            mm_sb_truncate(&t, t.len - 2);
        if (i && cli_sb_str(&t)[0] != '-')
            mm_sb_putc(sb, '+');
        mm_sb_puts(sb, cli_sb_str(&t));
    }
    mm_sb_puts(sb, "j)");
    mm_sb_free(&t);
}

/* Python's bytes repr: b'ab\x00\xff', double quotes when the text holds ' but not ". */
static void sb_put_bytes(mm_sbuf *sb, const unsigned char *p, uint64_t n, int all_hex)
{
    int squote = 0, dquote = 0;
    for (uint64_t i = 0; i < n; i++)
        squote |= p[i] == '\'', dquote |= p[i] == '"';
    const char q = squote && !dquote && !all_hex ? '"' : '\'';
    mm_sb_putc(sb, 'b');
    mm_sb_putc(sb, q);
    uint64_t i = 0;
    for (; i < n && sb->len < VALUE_BYTES_MAX; i++) {
        const unsigned char c = p[i];
        if (all_hex)
            mm_sb_printf(sb, "\\x%02x", c);
        else if (c == q || c == '\\')
            mm_sb_printf(sb, "\\%c", c);
        else if (c == '\n' || c == '\t' || c == '\r')
            mm_sb_puts(sb, c == '\n' ? "\\n" : c == '\t' ? "\\t" : "\\r");
        else if (c < 0x20 || c >= 0x7f)
            mm_sb_printf(sb, "\\x%02x", c);
        else
            mm_sb_putc(sb, (char)c);
    }
    mm_sb_putc(sb, q);
    if (i < n)
        mm_sb_puts(sb, "…"); /* outside the quotes, so it cannot be taken for content */
}

static void sb_put_utf8(mm_sbuf *sb, uint32_t cp)
{
    char u[4];
    if (cp < 0x80) {
        mm_sb_putc(sb, (char)cp);
        return;
    }
    if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        mm_sb_putn(sb, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        mm_sb_putn(sb, u, 3);
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        mm_sb_putn(sb, u, 4);
    }
}

/* numpy 'U': UTF-32 code units in the declared byte order, trailing NULs dropped, shown as a
 * Python str repr. Code points that are not Unicode scalar values (surrogates, > U+10FFFF)
 * are escaped, so the output stays valid UTF-8 (and valid inside JSON). */
static void sb_put_unicode(mm_sbuf *sb, const unsigned char *p, uint64_t itemsize, char order)
{
    uint64_t n = itemsize / 4;
    while (n && load_uint(p + 4 * (n - 1), 4, order) == 0)
        n--;
    mm_sb_putc(sb, '\'');
    uint64_t i = 0;
    for (; i < n && sb->len < VALUE_BYTES_MAX; i++) {
        const uint32_t c = (uint32_t)load_uint(p + 4 * i, 4, order);
        if (c == '\'' || c == '\\')
            mm_sb_printf(sb, "\\%c", (char)c);
        else if (c == '\n' || c == '\t' || c == '\r')
            mm_sb_puts(sb, c == '\n' ? "\\n" : c == '\t' ? "\\t" : "\\r");
        else if (c < 0x20 || (c >= 0x7f && c < 0xa0))
            mm_sb_printf(sb, "\\x%02x", (unsigned)c);
        else if ((c >= 0xD800 && c < 0xE000) || c > 0x10FFFF)
            mm_sb_printf(sb, "\\U%08x", (unsigned)c);
        else
            sb_put_utf8(sb, c);
    }
    mm_sb_putc(sb, '\'');
    if (i < n)
        mm_sb_puts(sb, "…");
}

/* ------------------------------------------------------------------------------------------ */
/* datetime64 / timedelta64                                                                    */

static int64_t floor_div(int64_t a, int64_t b)
{
    const int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil_from_days);
 * |z| is bounded by the caller, so nothing overflows. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = floor_div(z, 146097);
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Sub-day units numpy prints as ISO text: units per day, fields after the date. */
static const struct time_unit {
    const char *name;
    int64_t per_day;
    int level;    /* 1: hours, 2: minutes, 3: seconds */
    int frac;     /* digits after the seconds */
} time_units[] = {{"h", 24, 1, 0},
                  {"m", 1440, 2, 0},
                  {"s", 86400, 3, 0},
                  {"ms", INT64_C(86400000), 3, 3},
                  {"us", INT64_C(86400000000), 3, 6},
                  {"ns", INT64_C(86400000000000), 3, 9}};

#define DAYS_MAX (INT64_C(1) << 40) /* ~3 billion years: civil_from_days stays exact */

static void sb_put_date(mm_sbuf *sb, int64_t days)
{
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    mm_sb_printf(sb, "%04" PRId64 "-%02u-%02u", y, m, d);
}

/* numpy's ISO form for unit count 1 ("2020-09-13T12:26:40.000000000"); false, having written
 * nothing, when the unit has no such form here (ps, fs, as) or the date is out of range. */
static int sb_put_iso(mm_sbuf *sb, int64_t v, const char *unit)
{
    if (!strcmp(unit, "Y")) {
        if (v > INT64_MAX - 1970)
            return 0;
        mm_sb_printf(sb, "%04" PRId64, 1970 + v);
        return 1;
    }
    if (!strcmp(unit, "M")) {
        mm_sb_printf(sb, "%04" PRId64 "-%02" PRId64, 1970 + floor_div(v, 12),
                  v - 12 * floor_div(v, 12) + 1);
        return 1;
    }
    if (!strcmp(unit, "W") || !strcmp(unit, "D")) {
        const int64_t mul = unit[0] == 'W' ? 7 : 1;
        if (v > DAYS_MAX / mul || v < -DAYS_MAX / mul)
            return 0;
        sb_put_date(sb, v * mul);
        return 1;
    }
    for (size_t i = 0; i < sizeof time_units / sizeof time_units[0]; i++) {
        const struct time_unit *u = &time_units[i];
        if (strcmp(unit, u->name))
            continue;
        const int64_t days = floor_div(v, u->per_day), rem = v - days * u->per_day;
        if (days > DAYS_MAX || days < -DAYS_MAX)
            return 0;
        sb_put_date(sb, days);
        const int64_t per_sec = u->per_day / 86400; /* 0 for h and m */
        const int64_t secs = per_sec ? rem / per_sec : rem * (u->level == 1 ? 3600 : 60);
        mm_sb_printf(sb, "T%02" PRId64, secs / 3600);
        if (u->level >= 2)
            mm_sb_printf(sb, ":%02" PRId64, secs / 60 % 60);
        if (u->level >= 3)
            mm_sb_printf(sb, ":%02" PRId64, secs % 60);
        if (u->frac)
            mm_sb_printf(sb, ".%0*" PRId64, u->frac, rem % per_sec);
        return 1;
    }
    return 0;
}

/* datetime64: ISO text where numpy has one, else "<int> [unit]"; timedelta64: "<int> [unit]".
 * INT64_MIN is NaT in both. */
static void sb_put_time(mm_sbuf *sb, const unsigned char *p, const mmarr_dtype *dt)
{
    const int64_t v = load_int(p, 8, mmarr_dtype_byteorder(dt));
    if (v == INT64_MIN) {
        mm_sb_puts(sb, "NaT");
        return;
    }
    uint64_t count = 1;
    const char *unit = mmarr_dtype_time_unit(dt, &count);
    const size_t mark = sb->len;
    if (mmarr_dtype_kind(dt) == MMARR_KIND_DATETIME && unit && *unit && count == 1 &&
        sb_put_iso(sb, v, unit))
        return;
    sb->len = mark; /* sb_put_iso wrote nothing */
    mm_sb_printf(sb, "%" PRId64, v);
    if (unit && *unit) {
        if (count > 1)
            mm_sb_printf(sb, " [%" PRIu64 "%s]", count, unit);
        else
            mm_sb_printf(sb, " [%s]", unit);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* One element of any dtype                                                                    */

static void sb_put_elem(mm_sbuf *sb, const unsigned char *p, const mmarr_dtype *dt);

/* A subarray field: nested lists in C order, e.g. [[1, 2], [3, 4]]. */
static void sb_put_subarray(mm_sbuf *sb, const unsigned char *p, const mmarr_dtype *dt,
                            unsigned ndim, const uint64_t *shape)
{
    uint64_t inner = mmarr_dtype_itemsize(dt);
    for (unsigned i = 1; i < ndim; i++)
        inner *= shape[i];
    mm_sb_putc(sb, '[');
    for (uint64_t k = 0; k < shape[0]; k++) {
        if (sb->len >= VALUE_BYTES_MAX) {
            mm_sb_puts(sb, "…");
            break;
        }
        if (k)
            mm_sb_puts(sb, ", ");
        if (ndim > 1)
            sb_put_subarray(sb, p + k * inner, dt, ndim - 1, shape + 1);
        else
            sb_put_elem(sb, p + k * inner, dt);
    }
    mm_sb_putc(sb, ']');
}

/* A record as a Python tuple of its named fields; padding fields ("" names) are skipped,
 * as numpy skips them. */
static void sb_put_record(mm_sbuf *sb, const unsigned char *p, const mmarr_dtype *dt)
{
    size_t shown = 0;
    mm_sb_putc(sb, '(');
    for (size_t i = 0; i < mmarr_dtype_nfields(dt); i++) {
        const mmarr_field *fl = mmarr_dtype_field(dt, i);
        if (!fl->name[0])
            continue;
        if (sb->len >= VALUE_BYTES_MAX) {
            mm_sb_puts(sb, ", …");
            break;
        }
        if (shown++)
            mm_sb_puts(sb, ", ");
        if (fl->ndim)
            sb_put_subarray(sb, p + fl->offset, fl->dtype, fl->ndim, fl->shape);
        else
            sb_put_elem(sb, p + fl->offset, fl->dtype);
    }
    mm_sb_puts(sb, shown == 1 ? ",)" : ")");
}

static void sb_put_elem(mm_sbuf *sb, const unsigned char *p, const mmarr_dtype *dt)
{
    const uint64_t size = mmarr_dtype_itemsize(dt);
    const char order = mmarr_dtype_byteorder(dt);
    switch (mmarr_dtype_kind(dt)) {
    case MMARR_KIND_BOOL: mm_sb_puts(sb, p[0] ? "True" : "False"); break;
    case MMARR_KIND_INT: mm_sb_printf(sb, "%" PRId64, load_int(p, size, order)); break;
    case MMARR_KIND_UINT: mm_sb_printf(sb, "%" PRIu64, load_uint(p, size, order)); break;
    case MMARR_KIND_FLOAT: sb_put_float(sb, p, dt); break;
    case MMARR_KIND_COMPLEX: sb_put_complex(sb, p, dt); break;
    case MMARR_KIND_BYTES: {
        uint64_t n = size;
        while (n && !p[n - 1])
            n--; /* numpy drops trailing NULs of 'S' values */
        sb_put_bytes(sb, p, n, 0);
        break;
    }
    case MMARR_KIND_VOID: sb_put_bytes(sb, p, size, 1); break;
    case MMARR_KIND_UNICODE: sb_put_unicode(sb, p, size, order); break;
    case MMARR_KIND_DATETIME:
    case MMARR_KIND_TIMEDELTA: sb_put_time(sb, p, dt); break;
    case MMARR_KIND_STRUCT: sb_put_record(sb, p, dt); break;
    default: sb_put_bytes(sb, p, size, 1); break;
    }
}

/* Byte offset of the element with C-order number k of the logical array (F-order arrays are
 * walked through their strides, so values always come out in numpy's a.flat order). */
static uint64_t elem_offset(const mmarr_array_info *a, uint64_t k)
{
    uint64_t off = 0;
    for (unsigned d = a->ndim; d-- > 0;) {
        off += (k % a->shape[d]) * (uint64_t)a->strides[d];
        k /= a->shape[d];
    }
    return off;
}

static void sb_put_index(mm_sbuf *sb, const mmarr_array_info *a, uint64_t k)
{
    uint64_t idx[MMARR_MAX_DIMS];
    for (unsigned d = a->ndim; d-- > 0;) {
        idx[d] = k % a->shape[d];
        k /= a->shape[d];
    }
    mm_sb_putc(sb, '[');
    for (unsigned d = 0; d < a->ndim; d++)
        mm_sb_printf(sb, d ? ", %" PRIu64 : "%" PRIu64, idx[d]);
    mm_sb_putc(sb, ']');
}

/* Text of one element, elided at VALUE_BYTES_MAX. */
static void sb_put_value(mm_sbuf *sb, const mmarr_array_info *a, const unsigned char *elem)
{
    sb_put_elem(sb, elem, a->dtype);
    if (sb->len > VALUE_BYTES_MAX + 8)
        sb_elide(sb, VALUE_BYTES_MAX);
}

/* Reads the elements of one array in C order: in place from the mapping for a hot array;
 * through mmarr_file_read() for a cold one, which decompresses (and checks) the one chunk
 * that holds the element: a few values of a huge cold array cost a few chunks, not the
 * whole array. */
typedef struct elem_reader {
    mmarr_file *f;
    const mmarr_array_info *a;
    unsigned char *buf; /* one element, cold arrays only */
    mmarr_error err;    /* why the last read failed */
} elem_reader;

static const unsigned char *elem_read(elem_reader *r, uint64_t k)
{
    const uint64_t off = elem_offset(r->a, k);
    if (r->a->data)
        return (const unsigned char *)r->a->data + off;
    if (!r->buf && !(r->buf = malloc((size_t)r->a->itemsize))) {
        cli_error("out of memory");
        exit(CLI_EXIT_DATA);
    }
    if (mmarr_file_read(r->f, r->a->index, off, r->buf, r->a->itemsize, &r->err) != MMARR_OK)
        return NULL;
    return r->buf;
}

static uint64_t values_shown(const mmarr_array_info *a, uint64_t want)
{
    return a->nitems < want ? a->nitems : want;
}

/* A value that cannot be read is a data problem (exit 1), unless this library version just
 * cannot read that kind of array. */
static int read_failure_rc(const mmarr_error *e)
{
    return e->code == MMARR_E_UNSUPPORTED ? CLI_EXIT_OK : CLI_EXIT_DATA;
}

/* ------------------------------------------------------------------------------------------ */
/* JSON output                                                                                 */

/* One JSON object or array being written: remembers whether a separator is due. */
typedef struct jw {
    int n;
} jw;

static void j_sep(jw *w)
{
    if (w->n++)
        fputs(", ", stdout);
}

static void j_string(const char *v);

static void j_key(jw *w, const char *key)
{
    j_sep(w);
    j_string(key);
    fputs(": ", stdout);
}

/* A JSON string must be valid UTF-8. Names and metadata are (the library checks them), but a
 * path from the command line need not be: its invalid bytes become U+FFFD. */
static void j_string(const char *v)
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

static void j_str(jw *w, const char *key, const char *v)
{
    j_key(w, key);
    j_string(v);
}

/* Integers are written exactly, whatever their size (see "Numbers" in mmarr-info.1.md). */
static void j_u64(jw *w, const char *key, uint64_t v)
{
    j_key(w, key);
    printf("%" PRIu64, v);
}

static void j_bool(jw *w, const char *key, int v)
{
    j_key(w, key);
    fputs(v ? "true" : "false", stdout);
}

static void j_u64_list(jw *w, const char *key, unsigned n, const uint64_t *v)
{
    j_key(w, key);
    putchar('[');
    for (unsigned i = 0; i < n; i++)
        printf(i ? ", %" PRIu64 : "%" PRIu64, v[i]);
    putchar(']');
}

static void j_i64_list(jw *w, const char *key, unsigned n, const int64_t *v)
{
    j_key(w, key);
    putchar('[');
    for (unsigned i = 0; i < n; i++)
        printf(i ? ", %" PRId64 : "%" PRId64, v[i]);
    putchar(']');
}

/* ------------------------------------------------------------------------------------------ */
/* Options                                                                                     */

typedef struct opts {
    int json, verify, resident, chunks;
    uint64_t values;
    const char *path, *array;
} opts;

static void usage(void)
{
    printf("Usage: %s [OPTION]... FILE [ARRAY]\n"
           "Describe an mmarr file: its arrays as a table, or one ARRAY in detail.\n"
           "\n"
           "  -j, --json        print one JSON document instead of text\n"
           "      --verify      check every array's checksum; report each failure\n"
           "      --resident    show how much of each array is in the page cache now\n"
           "  -n, --values=N    with ARRAY, show its first N values (default %d; 0: none)\n"
           "      --chunks      with ARRAY, list a cold array's chunks: raw and stored\n"
           "                    offsets and sizes, ratio, checksum\n"
           "  -h, --help        show this help and exit\n"
           "  -V, --version     show the program, library and format versions and exit\n"
           "\n"
           "Exit status: 0 success (with --verify: every array verified and matched);\n"
           "1 data problem (unreadable, not mmarr, corrupt or truncated file, no such\n"
           "array, checksum mismatch, stale or unverifiable array); 2 usage error.\n"
           "See mmarr-info(1) for the JSON schema.\n",
           cli_progname(), DEFAULT_VALUES);
}

/* Parse argv into *o; returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, opts *o)
{
    enum { OPT_VERIFY = 256, OPT_RESIDENT, OPT_CHUNKS };
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},          {"verify", no_argument, NULL, OPT_VERIFY},
        {"resident", no_argument, NULL, OPT_RESIDENT}, {"values", required_argument, NULL, 'n'},
        {"chunks", no_argument, NULL, OPT_CHUNKS}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->values = DEFAULT_VALUES;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":jn:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': o->json = 1; break;
        case OPT_VERIFY: o->verify = 1; break;
        case OPT_RESIDENT: o->resident = 1; break;
        case OPT_CHUNKS: o->chunks = 1; break;
        case 'n': {
            char *end;
            errno = 0;
            const unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-')
                return cli_usage_error("--values: not a count: '%s'", optarg);
            o->values = v;
            break;
        }
        case 'h': usage(); return CLI_EXIT_OK;
        case 'V': cli_print_version(); return CLI_EXIT_OK;
        case ':': return cli_usage_error("option '%s' needs an argument", argv[optind - 1]);
        default: return cli_bad_option(argv[optind - 1], optopt);
        }
    }
    if (optind >= argc)
        return cli_usage_error("no FILE given");
    if (argc - optind > 2)
        return cli_usage_error("too many arguments: '%s'", argv[optind + 2]);
    o->path = argv[optind];
    o->array = optind + 1 < argc ? argv[optind + 1] : NULL;
    if (o->chunks && !o->array)
        return cli_usage_error("--chunks lists the chunks of one ARRAY: name it");
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Per-array facts gathered once for all outputs                                               */

static mmarr_array_info get_array(mmarr_file *f, size_t i)
{
    mmarr_array_info a;
    mmarr_error e;
    if (mmarr_file_array(f, i, &a, &e) != MMARR_OK) {
        cli_error("%s", e.message); /* only an out-of-range index, which cannot happen */
        exit(CLI_EXIT_DATA);
    }
    return a;
}

/* Residency of every array, measured before anything else reads the data (verification
 * would make it all resident). */
typedef struct residency {
    uint64_t *bytes; /* per array */
    uint64_t file_resident, file_total;
} residency;

static int measure_residency(mmarr_file *f, size_t count, residency *r)
{
    mmarr_error e;
    r->bytes = calloc(count ? count : 1, sizeof *r->bytes);
    if (!r->bytes) {
        cli_error("out of memory");
        return CLI_EXIT_DATA;
    }
    for (size_t i = 0; i < count; i++)
        if (mmarr_file_resident(f, i, &r->bytes[i], NULL, &e) != MMARR_OK) {
            cli_error("%s", e.message);
            return CLI_EXIT_DATA;
        }
    if (mmarr_file_resident(f, MMARR_ALL, &r->file_resident, &r->file_total, &e) != MMARR_OK) {
        cli_error("%s", e.message);
        return CLI_EXIT_DATA;
    }
    return CLI_EXIT_OK;
}

static void sb_put_percent(mm_sbuf *sb, uint64_t part, uint64_t whole)
{
    if (whole)
        mm_sb_printf(sb, "%.1f%%", 100.0 * (double)part / (double)whole);
    else
        mm_sb_puts(sb, "-");
}

/* ------------------------------------------------------------------------------------------ */
/* Verification                                                                                */

/* Outcomes of verifying one array. MISMATCH and CORRUPT are damage (a checksum that differs;
 * a cold chunk that is not a valid zstd frame of its size); STALE may be a legitimate update
 * (spec.md §11.2); NOT_VERIFIED: this library cannot check the array. */
typedef enum vstatus {
    V_OK,
    V_MISMATCH,
    V_CORRUPT,
    V_STALE,
    V_NOT_VERIFIED,
    V_ERROR,
    V_NSTATUS
} vstatus;

static const char *const vstatus_name[V_NSTATUS] = {"ok",    "mismatch",     "corrupt",
                                                     "stale", "not_verified", "error"};
static const char *const vstatus_label[V_NSTATUS] = {"OK",    "MISMATCH",     "CORRUPT",
                                                      "STALE", "NOT VERIFIED", "ERROR"};
static const char *const vstatus_summary[V_NSTATUS] = {
    "ok", "checksum mismatch", "corrupt", "stale", "not verified", "error"};

typedef struct vsummary {
    uint64_t count[V_NSTATUS];
    uint64_t checked, bytes_hashed;
    double seconds;
    int slot_damaged;
} vsummary;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Verify one array and account for it. Every outcome but OK leaves its message in *e. */
static vstatus verify_one(mmarr_file *f, const mmarr_array_info *a, vsummary *s, mmarr_error *e)
{
    const double t0 = now_seconds();
    const mmarr_err rc = mmarr_file_verify_array(f, a->index, e);
    s->seconds += now_seconds() - t0;
    vstatus st;
    switch (rc) {
    case MMARR_OK: st = V_OK; break;
    case MMARR_E_CHECKSUM: st = V_MISMATCH; break;
    case MMARR_E_CORRUPT: st = V_CORRUPT; break;
    case MMARR_E_STALE: st = V_STALE; break;
    case MMARR_E_UNSUPPORTED: st = V_NOT_VERIFIED; break;
    default: st = V_ERROR; break;
    }
    if (st == V_OK || st == V_MISMATCH || st == V_STALE)
        s->bytes_hashed += a->nbytes; /* these outcomes hashed the data */
    s->count[st]++;
    s->checked++;
    return st;
}

static int verify_failed(const vsummary *s)
{
    return s->slot_damaged || s->count[V_OK] != s->checked;
}

/* "MISMATCH  name  offset 4096 (0x1000): <library message>" on stdout. */
static void print_verify_line(const mmarr_array_info *a, vstatus st, const mmarr_error *e)
{
    mm_sbuf sb = {0};
    sb_put_display(&sb, a->name);
    printf("  %-12s %s  offset %" PRIu64 " (0x%" PRIx64 "): %s%s\n", vstatus_label[st],
           cli_sb_str(&sb), a->offset, a->offset, st == V_NOT_VERIFIED ? "not verified: " : "",
           e->message);
    mm_sb_free(&sb);
}

static void print_verify_summary(const vsummary *s)
{
    char hb[MM_SIZE_BUF];
    printf("verify: %" PRIu64 " array%s checked, %" PRIu64 " ok", s->checked,
           s->checked == 1 ? "" : "s", s->count[V_OK]);
    for (int st = V_MISMATCH; st < V_NSTATUS; st++)
        if (s->count[st])
            printf(", %" PRIu64 " %s", s->count[st], vstatus_summary[st]);
    if (s->slot_damaged)
        printf(", inactive superblock slot damaged");
    printf("; %s hashed in %.3f s", mm_format_size(s->bytes_hashed, hb), s->seconds);
    if (s->seconds > 0)
        printf(" (%.2f GB/s)", (double)s->bytes_hashed / s->seconds / 1e9);
    printf("\nverify: %s\n", verify_failed(s) ? "FAILED" : "OK");
}

static void j_verify_summary(jw *w, const vsummary *s)
{
    j_key(w, "verify");
    jw v = {0};
    putchar('{');
    j_bool(&v, "ok", !verify_failed(s));
    j_u64(&v, "arrays_checked", s->checked);
    for (int st = 0; st < V_NSTATUS; st++) {
        char key[32];
        snprintf(key, sizeof key, "arrays_%s", vstatus_name[st]);
        j_u64(&v, key, s->count[st]);
    }
    j_bool(&v, "inactive_slot_damaged", s->slot_damaged);
    j_u64(&v, "bytes_hashed", s->bytes_hashed);
    j_key(&v, "seconds");
    printf("%.6f", s->seconds);
    putchar('}');
}

/* ------------------------------------------------------------------------------------------ */
/* File header                                                                                 */

static void print_file_header(mmarr_file *f, const mmarr_file_info *fi)
{
    char hb[MM_SIZE_BUF];
    mm_sbuf sb = {0};
    sb_put_display(&sb, fi->path);
    printf("file:        %s\n", cli_sb_str(&sb));
    printf("format:      %u.%u\n", fi->format_major, fi->format_minor);
    printf("size:        %s (%" PRIu64 " bytes)\n", mm_format_size(fi->file_size, hb),
           fi->file_size);
    printf("alignment:   %" PRIu64 "\n", fi->alignment);
    printf("generation:  %" PRIu64 "\n", fi->generation);
    printf("arrays:      %zu\n", fi->count);
    if (fi->checksums_stale)
        printf("checksums:   stale (opened for writing since the last rehash)\n");
    if (fi->inactive_slot_damaged)
        printf("superblock:  the inactive slot is damaged (the active one is intact)\n");
    printf(fi->meta_count ? "metadata:\n" : "metadata:    (none)\n");
    for (size_t i = 0; i < fi->meta_count; i++) {
        const char *k, *v;
        if (mmarr_file_meta(f, i, &k, &v, NULL) != MMARR_OK)
            break;
        mm_sb_clear(&sb);
        sb_put_display(&sb, k);
        mm_sb_puts(&sb, " = ");
        sb_put_display(&sb, v);
        printf("  %s\n", cli_sb_str(&sb));
    }
    mm_sb_free(&sb);
}

static void j_meta_object(jw *w, const char *key, mmarr_file *f, size_t index, size_t n)
{
    j_key(w, key);
    jw m = {0};
    putchar('{');
    for (size_t i = 0; i < n; i++) {
        const char *k, *v;
        const mmarr_err rc = index == MMARR_ALL ? mmarr_file_meta(f, i, &k, &v, NULL)
                                                : mmarr_array_meta(f, index, i, &k, &v, NULL);
        if (rc != MMARR_OK)
            break;
        j_str(&m, k, v);
    }
    putchar('}');
}

static void j_file_head(jw *w, mmarr_file *f, const mmarr_file_info *fi)
{
    char ver[32];
    snprintf(ver, sizeof ver, "%u.%u", fi->format_major, fi->format_minor);
    j_u64(w, "schema_version", 1);
    j_str(w, "file", fi->path);
    j_str(w, "format_version", ver);
    j_u64(w, "format_major", fi->format_major);
    j_u64(w, "format_minor", fi->format_minor);
    j_u64(w, "file_size", fi->file_size);
    j_u64(w, "alignment", fi->alignment);
    j_u64(w, "generation", fi->generation);
    j_u64(w, "index_offset", fi->index_offset);
    j_u64(w, "index_size", fi->index_size);
    j_u64(w, "required_features", fi->required_features);
    j_u64(w, "optional_features", fi->optional_features);
    j_bool(w, "checksums_stale", fi->checksums_stale);
    j_bool(w, "inactive_slot_damaged", fi->inactive_slot_damaged);
    j_u64(w, "array_count", fi->count);
    j_meta_object(w, "metadata", f, MMARR_ALL, fi->meta_count);
}

/* ------------------------------------------------------------------------------------------ */
/* The array table                                                                             */

enum { C_NAME, C_DTYPE, C_SHAPE, C_ORDER, C_TIER, C_STORED, C_RAW, C_RATIO, C_OFFSET, NCOL };
static const char *const col_title[NCOL] = {"NAME", "DTYPE", "SHAPE",  "ORDER", "TIER",
                                            "STORED", "RAW", "RATIO", "OFFSET"};
static const int col_right[NCOL] = {0, 0, 0, 0, 0, 1, 1, 1, 1};

/* The cells of one row, as displayed. */
static void row_cells(const mmarr_array_info *a, mm_sbuf cell[NCOL])
{
    char hb[MM_SIZE_BUF];
    for (int c = 0; c < NCOL; c++)
        mm_sb_clear(&cell[c]);
    sb_put_display(&cell[C_NAME], a->name);
    sb_put_display(&cell[C_DTYPE], a->dtype_str);
    sb_elide(&cell[C_DTYPE], DTYPE_COLS_MAX);
    sb_put_tuple_u64(&cell[C_SHAPE], a->ndim, a->shape);
    sb_elide(&cell[C_SHAPE], SHAPE_COLS_MAX);
    mm_sb_puts(&cell[C_ORDER], order_name(a));
    mm_sb_puts(&cell[C_TIER], tier_name(a));
    mm_sb_puts(&cell[C_STORED], mm_format_size(a->stored_bytes, hb));
    mm_sb_puts(&cell[C_RAW], mm_format_size(a->nbytes, hb));
    mm_sb_printf(&cell[C_RATIO], "%.2f", ratio_of(a));
    mm_sb_printf(&cell[C_OFFSET], "0x%" PRIx64, a->offset);
}

/* A name wider than its column is printed whole on a line of its own and the row continues
 * below, aligned (as df(1) does with long device names): names are never cut, since they are
 * what the ARRAY argument takes. */
static void print_row(mm_sbuf cell[NCOL], const size_t width[NCOL])
{
    for (int c = 0; c < NCOL; c++) {
        const char *s = cli_sb_str(&cell[c]);
        if (c == C_NAME && text_cols(s) > width[c]) {
            printf("%s\n", s);
            s = "";
        }
        if (col_right[c])
            put_right(s, width[c]);
        else if (c == NCOL - 1)
            fputs(s, stdout);
        else
            put_left(s, width[c]);
        fputs(c == NCOL - 1 ? "\n" : "  ", stdout);
    }
}

static void print_table(mmarr_file *f, size_t count)
{
    mm_sbuf cell[NCOL] = {{0}};
    size_t width[NCOL];
    for (int c = 0; c < NCOL; c++)
        width[c] = text_cols(col_title[c]);
    for (size_t i = 0; i < count; i++) {
        const mmarr_array_info a = get_array(f, i);
        row_cells(&a, cell);
        for (int c = 0; c < NCOL; c++)
            width[c] = max_size(width[c], text_cols(cli_sb_str(&cell[c])));
    }
    width[C_NAME] = width[C_NAME] > NAME_COLS_MAX ? NAME_COLS_MAX : width[C_NAME];
    putchar('\n');
    for (int c = 0; c < NCOL; c++) {
        mm_sb_clear(&cell[c]);
        mm_sb_puts(&cell[c], col_title[c]);
    }
    print_row(cell, width);
    for (size_t i = 0; i < count; i++) {
        const mmarr_array_info a = get_array(f, i);
        row_cells(&a, cell);
        print_row(cell, width);
    }
    for (int c = 0; c < NCOL; c++)
        mm_sb_free(&cell[c]);
}

/* ------------------------------------------------------------------------------------------ */
/* Residency table                                                                             */

static void print_residency(mmarr_file *f, size_t count, const residency *r)
{
    char hb[MM_SIZE_BUF];
    mm_sbuf name = {0}, pct = {0};
    size_t wname = strlen("NAME");
    for (size_t i = 0; i < count; i++) {
        const mmarr_array_info a = get_array(f, i);
        mm_sb_clear(&name);
        sb_put_display(&name, a.name);
        wname = max_size(wname, text_cols(cli_sb_str(&name)));
    }
    wname = wname > NAME_COLS_MAX ? NAME_COLS_MAX : wname;
    printf("\n");
    put_left("NAME", wname);
    printf("  %10s  %10s  %6s\n", "RESIDENT", "STORED", "%");
    uint64_t sum = 0, total = 0;
    for (size_t i = 0; i < count; i++) {
        const mmarr_array_info a = get_array(f, i);
        mm_sb_clear(&name);
        sb_put_display(&name, a.name);
        if (text_cols(cli_sb_str(&name)) > wname)
            printf("%s\n%*s", cli_sb_str(&name), (int)wname, "");
        else
            put_left(cli_sb_str(&name), wname);
        mm_sb_clear(&pct);
        sb_put_percent(&pct, r->bytes[i], a.stored_bytes);
        printf("  %10s", mm_format_size(r->bytes[i], hb));
        printf("  %10s  %6s\n", mm_format_size(a.stored_bytes, hb), cli_sb_str(&pct));
        sum += r->bytes[i];
        total += a.stored_bytes;
    }
    mm_sb_clear(&pct);
    sb_put_percent(&pct, sum, total);
    printf("resident: arrays %s", mm_format_size(sum, hb));
    printf(" of %s (%s);", mm_format_size(total, hb), cli_sb_str(&pct));
    mm_sb_clear(&pct);
    sb_put_percent(&pct, r->file_resident, r->file_total);
    printf(" whole file %s", mm_format_size(r->file_resident, hb));
    printf(" of %s (%s)\n", mm_format_size(r->file_total, hb), cli_sb_str(&pct));
    mm_sb_free(&name);
    mm_sb_free(&pct);
}

/* ------------------------------------------------------------------------------------------ */
/* Array objects in JSON                                                                       */

static void j_fields(jw *w, const mmarr_dtype *dt)
{
    j_key(w, "fields");
    putchar('[');
    for (size_t i = 0; i < mmarr_dtype_nfields(dt); i++) {
        const mmarr_field *fl = mmarr_dtype_field(dt, i);
        jw o = {0};
        fputs(i ? ", {" : "{", stdout);
        j_str(&o, "name", fl->name);
        j_u64(&o, "offset", fl->offset);
        j_str(&o, "dtype", mmarr_dtype_str(fl->dtype));
        j_u64(&o, "itemsize", mmarr_dtype_itemsize(fl->dtype));
        j_u64_list(&o, "shape", fl->ndim, fl->shape);
        if (mmarr_dtype_kind(fl->dtype) == MMARR_KIND_STRUCT)
            j_fields(&o, fl->dtype);
        putchar('}');
    }
    putchar(']');
}

/* "values": [...] and, when a value could not be read, "values_error". Returns an exit
 * code. */
static int j_values(jw *w, mmarr_file *f, const mmarr_array_info *a, uint64_t want)
{
    mm_sbuf sb = {0};
    elem_reader r = {f, a, NULL, {0}};
    const uint64_t n = values_shown(a, want);
    const unsigned char *elem = NULL;
    j_key(w, "values");
    putchar('[');
    for (uint64_t k = 0; k < n && (elem = elem_read(&r, k)) != NULL; k++) {
        mm_sb_clear(&sb);
        sb_put_value(&sb, a, elem);
        if (k)
            fputs(", ", stdout);
        j_string(cli_sb_str(&sb));
    }
    putchar(']');
    int rc = CLI_EXIT_OK;
    if (n && !elem) {
        j_str(w, "values_error", r.err.message);
        rc = read_failure_rc(&r.err);
    }
    mm_sb_free(&sb);
    free(r.buf);
    return rc;
}

/* What an array's object holds beyond the table's facts when ARRAY was given; rc collects
 * a failure to read its values. */
typedef struct array_extras {
    int details;
    int chunks; /* with details: the chunk table of a cold array */
    uint64_t values;
    const residency *res;
    vsummary *verify;
    int rc;
} array_extras;

/* Chunk k of a cold array; an error (which only an index out of range could cause) is
 * reported and returned as an exit code. */
static int get_chunk(mmarr_file *f, const mmarr_array_info *a, size_t k, mmarr_chunk_info *c)
{
    mmarr_error e;
    if (mmarr_file_chunk(f, a->index, k, c, &e) != MMARR_OK) {
        cli_error("%s", e.message);
        return CLI_EXIT_DATA;
    }
    return CLI_EXIT_OK;
}

static double chunk_ratio(const mmarr_chunk_info *c)
{
    return c->stored_size ? (double)c->raw_size / (double)c->stored_size : 1.0;
}

/* "chunks": one object per chunk, in array order. Returns an exit code. */
static int j_chunks(jw *w, mmarr_file *f, const mmarr_array_info *a)
{
    j_key(w, "chunks");
    putchar('[');
    int rc = CLI_EXIT_OK;
    for (size_t k = 0; k < a->chunk_count && rc == CLI_EXIT_OK; k++) {
        mmarr_chunk_info c;
        rc = get_chunk(f, a, k, &c);
        if (rc != CLI_EXIT_OK)
            break;
        char hex[17];
        jw o = {0};
        fputs(k ? ", {" : "{", stdout);
        j_u64(&o, "index", c.index);
        j_u64(&o, "raw_offset", c.raw_offset);
        j_u64(&o, "raw_size", c.raw_size);
        j_u64(&o, "stored_offset", c.stored_offset);
        j_u64(&o, "stored_size", c.stored_size);
        j_key(&o, "ratio");
        mm_sbuf r = {0};
        sb_put_real(&r, chunk_ratio(&c), &F64);
        fputs(cli_sb_str(&r), stdout);
        mm_sb_free(&r);
        snprintf(hex, sizeof hex, "%016" PRIx64, c.checksum);
        j_str(&o, "checksum", hex);
        putchar('}');
    }
    putchar(']');
    return rc;
}

/* Chunking of a cold array (spec.md §10): JSON keys present for cold arrays only; with
 * --chunks, the chunks too. */
static void j_cold(jw *w, mmarr_file *f, const mmarr_array_info *a, array_extras *x)
{
    if (a->storage != MMARR_STORAGE_COLD)
        return;
    j_u64(w, "chunk_size", a->chunk_size);
    j_u64(w, "chunk_count", a->chunk_count);
    j_key(w, "level");
    printf("%d", a->level);
    j_bool(w, "shuffle", a->shuffle);
    if (x->details && x->chunks)
        x->rc |= j_chunks(w, f, a);
}

static void j_array(mmarr_file *f, const mmarr_array_info *a, array_extras *x)
{
    char hex[17];
    jw w = {0};
    putchar('{');
    j_u64(&w, "index", a->index);
    j_str(&w, "name", a->name);
    j_str(&w, "dtype", a->dtype_str);
    j_key(&w, "kind");
    const char kind[2] = {(char)mmarr_dtype_kind(a->dtype), 0};
    j_string(kind);
    j_u64(&w, "itemsize", a->itemsize);
    j_u64_list(&w, "shape", a->ndim, a->shape);
    j_i64_list(&w, "strides", a->ndim, a->strides);
    j_str(&w, "order", order_name(a));
    j_str(&w, "tier", tier_name(a));
    j_u64(&w, "offset", a->offset);
    j_u64(&w, "stored_bytes", a->stored_bytes);
    j_u64(&w, "raw_bytes", a->nbytes);
    j_key(&w, "ratio");
    mm_sbuf r = {0};
    sb_put_real(&r, ratio_of(a), &F64); /* always a JSON number with a fraction: "1.0" */
    fputs(cli_sb_str(&r), stdout);
    mm_sb_free(&r);
    snprintf(hex, sizeof hex, "%016" PRIx64, a->checksum);
    j_str(&w, "checksum", hex);
    j_bool(&w, "packed", a->packed);
    j_cold(&w, f, a, x);
    j_meta_object(&w, "metadata", f, a->index, a->meta_count);
    if (x->res)
        j_u64(&w, "resident_bytes", x->res->bytes[a->index]);
    if (x->verify) {
        mmarr_error e;
        const vstatus st = verify_one(f, a, x->verify, &e);
        j_key(&w, "verify");
        jw v = {0};
        putchar('{');
        j_str(&v, "status", vstatus_name[st]);
        if (st != V_OK) {
            j_str(&v, "error", mmarr_err_name(e.code));
            j_str(&v, "message", e.message);
        }
        putchar('}');
    }
    if (x->details) {
        if (mmarr_dtype_kind(a->dtype) == MMARR_KIND_STRUCT)
            j_fields(&w, a->dtype);
        x->rc |= j_values(&w, f, a, x->values);
    }
    putchar('}');
}

/* ------------------------------------------------------------------------------------------ */
/* One array in detail (text)                                                                  */

/* Fields of a structured dtype, nested ones indented under their parent. Offsets are
 * relative to the enclosing record, as numpy's dtype.fields gives them. */
static void print_fields(const mmarr_dtype *dt, int depth)
{
    mm_sbuf sb = {0};
    for (size_t i = 0; i < mmarr_dtype_nfields(dt); i++) {
        const mmarr_field *fl = mmarr_dtype_field(dt, i);
        const int nested = mmarr_dtype_kind(fl->dtype) == MMARR_KIND_STRUCT;
        mm_sb_clear(&sb);
        for (int d = 0; d < depth; d++)
            mm_sb_puts(&sb, "  ");
        if (fl->name[0])
            sb_put_display(&sb, fl->name);
        else
            mm_sb_puts(&sb, "(padding)");
        printf("  %8" PRIu64 "  ", fl->offset);
        put_left(cli_sb_str(&sb), 20);
        mm_sb_clear(&sb);
        if (nested)
            mm_sb_printf(&sb, "struct, itemsize %" PRIu64, mmarr_dtype_itemsize(fl->dtype));
        else
            sb_put_display(&sb, mmarr_dtype_str(fl->dtype));
        if (fl->ndim) {
            mm_sb_puts(&sb, ", subarray ");
            sb_put_tuple_u64(&sb, fl->ndim, fl->shape);
        }
        printf("  %s\n", cli_sb_str(&sb));
        if (nested)
            print_fields(fl->dtype, depth + 1);
    }
    mm_sb_free(&sb);
}

/* Digits of v in decimal. */
static size_t digits(uint64_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* --chunks: one line per chunk of a cold array, exact byte counts (offsets to seek to).
 * Returns an exit code. */
static int print_chunks(mmarr_file *f, const mmarr_array_info *a)
{
    if (a->storage != MMARR_STORAGE_COLD) {
        printf("chunk table: none (hot array: raw bytes)\n");
        return CLI_EXIT_OK;
    }
    if (!a->chunk_count) {
        printf("chunk table: none (empty array)\n");
        return CLI_EXIT_OK;
    }
    static const char *const title[] = {"CHUNK", "RAW OFFSET", "RAW SIZE", "STORED OFFSET",
                                         "STORED SIZE", "RATIO"};
    const uint64_t widest[] = {a->chunk_count - 1, a->nbytes, a->chunk_size,
                               a->offset + a->stored_bytes, a->stored_bytes, 0};
    int w[6];
    for (int i = 0; i < 6; i++)
        w[i] = (int)max_size(strlen(title[i]), i == 5 ? 7 : digits(widest[i]));
    printf("chunk table:\n");
    for (int i = 0; i < 6; i++)
        printf("  %*s", w[i], title[i]);
    printf("  CHECKSUM\n");
    int rc = CLI_EXIT_OK;
    for (size_t k = 0; k < a->chunk_count && rc == CLI_EXIT_OK; k++) {
        mmarr_chunk_info c;
        rc = get_chunk(f, a, k, &c);
        if (rc == CLI_EXIT_OK)
            printf("  %*zu  %*" PRIu64 "  %*" PRIu64 "  %*" PRIu64 "  %*" PRIu64
                   "  %*.2f  %016" PRIx64 "\n",
                   w[0], c.index, w[1], c.raw_offset, w[2], c.raw_size, w[3], c.stored_offset,
                   w[4], c.stored_size, w[5], chunk_ratio(&c), c.checksum);
    }
    return rc;
}

/* The first values, one per line with its index; returns an exit code. */
static int print_values(mmarr_file *f, const mmarr_array_info *a, uint64_t want)
{
    const uint64_t n = values_shown(a, want);
    if (!want)
        return CLI_EXIT_OK;
    if (!n) {
        printf("values:      none (empty array)\n");
        return CLI_EXIT_OK;
    }
    elem_reader r = {f, a, NULL, {0}};
    const unsigned char *elem = elem_read(&r, 0);
    if (!elem) {
        printf("values:      not shown: %s\n", r.err.message);
        free(r.buf);
        return read_failure_rc(&r.err);
    }
    printf("values:      %s%" PRIu64 " of %" PRIu64 ", C order\n",
           n < a->nitems ? "first " : "", n, a->nitems);
    mm_sbuf idx = {0}, val = {0};
    for (uint64_t k = 0; elem;) {
        mm_sb_clear(&idx);
        mm_sb_clear(&val);
        sb_put_index(&idx, a, k);
        sb_put_value(&val, a, elem);
        printf("  %s  %s\n", cli_sb_str(&idx), cli_sb_str(&val));
        if (++k == n)
            break;
        elem = elem_read(&r, k);
    }
    int rc = CLI_EXIT_OK;
    if (r.err.code != MMARR_OK) { /* a later element's chunk failed */
        printf("  (stopped: %s)\n", r.err.message);
        rc = read_failure_rc(&r.err);
    }
    mm_sb_free(&idx);
    mm_sb_free(&val);
    free(r.buf);
    return rc;
}

static void print_array(mmarr_file *f, const mmarr_array_info *a, array_extras *x)
{
    char hb[MM_SIZE_BUF];
    mm_sbuf sb = {0};
    sb_put_display(&sb, a->name);
    printf("\nname:        %s\n", cli_sb_str(&sb));
    mm_sb_clear(&sb);
    sb_put_display(&sb, a->dtype_str);
    printf("dtype:       %s\n", cli_sb_str(&sb));
    printf("itemsize:    %" PRIu64 "\n", a->itemsize);
    mm_sb_clear(&sb);
    sb_put_tuple_u64(&sb, a->ndim, a->shape);
    printf("shape:       %s\n", cli_sb_str(&sb));
    mm_sb_clear(&sb);
    sb_put_tuple_i64(&sb, a->ndim, a->strides);
    printf("strides:     %s\n", cli_sb_str(&sb));
    printf("order:       %s\n", order_name(a));
    printf("tier:        %s\n", tier_name(a));
    printf("offset:      %" PRIu64 " (0x%" PRIx64 ")\n", a->offset, a->offset);
    printf("stored:      %s (%" PRIu64 " bytes)\n", mm_format_size(a->stored_bytes, hb),
           a->stored_bytes);
    printf("raw:         %s (%" PRIu64 " bytes)\n", mm_format_size(a->nbytes, hb), a->nbytes);
    printf("ratio:       %.2f\n", ratio_of(a));
    printf("checksum:    %016" PRIx64 " (XXH3-64)\n", a->checksum);
    printf("packed:      %s\n", a->packed ? "yes" : "no");
    if (a->storage == MMARR_STORAGE_COLD)
        printf("chunks:      %zu of %s raw, zstd level %d, %s\n", a->chunk_count,
               mm_format_size(a->chunk_size, hb), a->level,
               a->shuffle ? "byte-shuffled" : "not shuffled");
    if (x->res) {
        mm_sb_clear(&sb);
        sb_put_percent(&sb, x->res->bytes[a->index], a->stored_bytes);
        printf("resident:    %s", mm_format_size(x->res->bytes[a->index], hb));
        printf(" of %s (%s)\n", mm_format_size(a->stored_bytes, hb), cli_sb_str(&sb));
    }
    printf(a->meta_count ? "metadata:\n" : "metadata:    (none)\n");
    for (size_t i = 0; i < a->meta_count; i++) {
        const char *k, *v;
        if (mmarr_array_meta(f, a->index, i, &k, &v, NULL) != MMARR_OK)
            break;
        mm_sb_clear(&sb);
        sb_put_display(&sb, k);
        mm_sb_puts(&sb, " = ");
        sb_put_display(&sb, v);
        printf("  %s\n", cli_sb_str(&sb));
    }
    if (mmarr_dtype_kind(a->dtype) == MMARR_KIND_STRUCT) {
        printf("fields:\n  %8s  %-20s  %s\n", "OFFSET", "NAME", "DTYPE");
        print_fields(a->dtype, 0);
    }
    x->rc |= print_values(f, a, x->values);
    if (x->chunks)
        x->rc |= print_chunks(f, a);
    mm_sb_free(&sb);
}

/* ------------------------------------------------------------------------------------------ */
/* Modes                                                                                       */

/* Text --verify: one line per array that did not verify, then the summary. */
static void print_verify(mmarr_file *f, size_t first, size_t end, vsummary *s)
{
    if (s->slot_damaged)
        printf("  %-12s superblock: the inactive slot is damaged (the active slot is intact)\n",
               "DAMAGED");
    for (size_t i = first; i < end; i++) {
        const mmarr_array_info a = get_array(f, i);
        mmarr_error e;
        const vstatus st = verify_one(f, &a, s, &e);
        if (st != V_OK)
            print_verify_line(&a, st, &e);
    }
    print_verify_summary(s);
}

/* Returns an exit code: a value that could not be read. */
static int json_document(mmarr_file *f, const mmarr_file_info *fi, const opts *o,
                         const mmarr_array_info *one, const residency *res, vsummary *vs)
{
    array_extras x = {one != NULL, o->chunks, o->values, res, vs, CLI_EXIT_OK};
    jw w = {0};
    putchar('{');
    j_file_head(&w, f, fi);
    if (res) {
        j_key(&w, "resident");
        jw r = {0};
        putchar('{');
        j_u64(&r, "resident_bytes", res->file_resident);
        j_u64(&r, "total_bytes", res->file_total);
        putchar('}');
    }
    if (one) {
        j_key(&w, "array");
        j_array(f, one, &x);
    } else {
        j_key(&w, "arrays");
        putchar('[');
        for (size_t i = 0; i < fi->count; i++) {
            const mmarr_array_info a = get_array(f, i);
            fputs(i ? ",\n  " : "\n  ", stdout);
            j_array(f, &a, &x);
        }
        fputs(fi->count ? "\n]" : "]", stdout);
    }
    if (vs)
        j_verify_summary(&w, vs);
    puts("}");
    return x.rc;
}

static int text_output(mmarr_file *f, const mmarr_file_info *fi, const opts *o,
                       const mmarr_array_info *one, const residency *res, vsummary *vs)
{
    array_extras x = {1, o->chunks, o->values, res, NULL, CLI_EXIT_OK};
    if (one) {
        mm_sbuf sb = {0};
        sb_put_display(&sb, fi->path);
        printf("file:        %s\n", cli_sb_str(&sb));
        mm_sb_free(&sb);
        print_array(f, one, &x);
    } else {
        print_file_header(f, fi);
        if (res)
            print_residency(f, fi->count, res);
        else if (!vs)
            print_table(f, fi->count);
    }
    if (vs) {
        putchar('\n');
        print_verify(f, one ? one->index : 0, one ? one->index + 1 : fi->count, vs);
    }
    return x.rc;
}

/* Flush stdout and report a write error (full disk, closed pipe) as a failure. */
static int finish_output(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("write error on standard output: %s", strerror(errno));
        return CLI_EXIT_DATA;
    }
    return rc;
}

static int run(mmarr_file *f, const opts *o)
{
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    mmarr_array_info one;
    if (o->array) {
        mmarr_error e;
        if (mmarr_file_find_array(f, o->array, &one, &e) != MMARR_OK) {
            cli_error("%s", e.message);
            return CLI_EXIT_DATA;
        }
    }
    residency res = {0};
    int rc = CLI_EXIT_OK;
    if (o->resident)
        rc = measure_residency(f, fi.count, &res);
    vsummary vs = {{0}, 0, 0, 0, fi.inactive_slot_damaged};
    if (rc == CLI_EXIT_OK) {
        const mmarr_array_info *pa = o->array ? &one : NULL;
        const residency *pr = o->resident ? &res : NULL;
        vsummary *pv = o->verify ? &vs : NULL;
        rc = o->json ? json_document(f, &fi, o, pa, pr, pv)
                     : text_output(f, &fi, o, pa, pr, pv);
        if (o->verify && verify_failed(&vs))
            rc = CLI_EXIT_DATA;
    }
    free(res.bytes);
    return finish_output(rc);
}

int main(int argc, char **argv)
{
    cli_init(argv[0]);
    opts o;
    const int prc = parse_args(argc, argv, &o);
    if (prc >= 0)
        return finish_output(prc);
    mmarr_file *f = NULL;
    mmarr_error e;
    cli_catch_sigbus("mmarr-info");
    cli_sigbus_file(o.path);
    if (mmarr_open(o.path, 0, &f, &e) != MMARR_OK) {
        cli_error("%s", e.message); /* the library's one line names the file and the fault */
        return CLI_EXIT_DATA;
    }
    const int rc = run(f, &o);
    mmarr_close(f);
    return rc;
}
