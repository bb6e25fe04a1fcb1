/* SPDX-License-Identifier: MIT */
/*
 * values.c — numpy's value notation and text for terminals (values.h). Numbers are decoded
 * here from the array bytes (the library hands out bytes, not values), floats of every width
 * printed as the shortest decimal that names them, as Python's repr() does.
 */
#include "values.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Display columns of UTF-8 text, counted as code points (the library guarantees valid UTF-8;
 * East Asian wide characters count as one, a tolerable misalignment). */
size_t text_cols(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

/* Append s with control characters (C0, DEL, C1) escaped, so that a name or metadata value
 * holding a tab or newline cannot break the table. Other UTF-8 passes through. */
void text_put_display(mm_sbuf *sb, const char *s)
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
void text_elide(mm_sbuf *sb, size_t cols)
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
void text_left(const char *s, size_t cols)
{
    fputs(s, stdout);
    for (size_t n = text_cols(s); n < cols; n++)
        putchar(' ');
}

void text_right(const char *s, size_t cols)
{
    for (size_t n = text_cols(s); n < cols; n++)
        putchar(' ');
    fputs(s, stdout);
}

/* numpy's tuple notation: "()", "(5,)", "(3, 4)". */
void val_put_tuple_u64(mm_sbuf *sb, unsigned n, const uint64_t *v)
{
    mm_sb_putc(sb, '(');
    for (unsigned i = 0; i < n; i++)
        mm_sb_printf(sb, i ? ", %" PRIu64 : "%" PRIu64, v[i]);
    mm_sb_puts(sb, n == 1 ? ",)" : ")");
}

void val_put_tuple_i64(mm_sbuf *sb, unsigned n, const int64_t *v)
{
    mm_sb_putc(sb, '(');
    for (unsigned i = 0; i < n; i++)
        mm_sb_printf(sb, i ? ", %" PRId64 : "%" PRId64, v[i]);
    mm_sb_puts(sb, n == 1 ? ",)" : ")");
}

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
        else {
            char u[4];
            mm_sb_putn(sb, u, mm_utf8_encode(c, u));
        }
    }
    mm_sb_putc(sb, '\'');
    if (i < n)
        mm_sb_puts(sb, "…");
}

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

void val_put_index(mm_sbuf *sb, const mmarr_array_info *a, uint64_t k)
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
void val_put_value(mm_sbuf *sb, const mmarr_array_info *a, const unsigned char *elem)
{
    sb_put_elem(sb, elem, a->dtype);
    if (sb->len > VALUE_BYTES_MAX + 8)
        text_elide(sb, VALUE_BYTES_MAX);
}

const unsigned char *val_read(val_reader *r, uint64_t k)
{
    const uint64_t off = elem_offset(r->a, k);
    if (r->a->data)
        return (const unsigned char *)r->a->data + off;
    if (!r->buf && !(r->buf = malloc((size_t)r->a->itemsize))) {
        exit(cli_oom());
    }
    if (mmarr_file_read(r->f, r->a->index, off, r->buf, r->a->itemsize, &r->err) != MMARR_OK)
        return NULL;
    return r->buf;
}

uint64_t val_count(const mmarr_array_info *a, uint64_t want)
{
    return a->nitems < want ? a->nitems : want;
}

void val_put_f64(mm_sbuf *sb, double x) { sb_put_real(sb, x, &F64); }
