/* SPDX-License-Identifier: MIT */
/*
 * fuzz_roundtrip.c — the writer from fuzzer-chosen inputs: writer options, up to 8 arrays
 * with dtypes from a table (plain, aliases, structured with padding, subarrays and nesting),
 * shapes (0-d, empty, up to 64 dimensions), C/Fortran order, stored hot (add, reserve,
 * streamed) or cold (add_cold, streamed; zstd levels, chunk sizes, shuffle, threads), or
 * growable, hot or cold (spec.md §7.8: created with some rows and a capacity, the rest
 * appended in fuzzer-chosen pieces, a cold one's last chunk compressed again), names
 * and metadata from the table or from raw fuzzer bytes (valid UTF-8 or not), duplicates,
 * overflowing shapes. The file is committed into a temporary directory (tmpfs by default:
 * $MMARR_FUZZ_TMPDIR, else /dev/shm, else /tmp), reopened from the file (verified at open or
 * after reading) and from memory (index and hot bytes), and compared exactly with what was
 * written: names, canonical dtype text, shape, order, storage, placement, bytes, checksums,
 * metadata (the last value set for a key wins). A call the writer refuses must be refused
 * with the code the API documents and leave the writer usable.
 */
#include "fuzz_common.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "mmarr.h"

#define MAX_ARRAYS 8
#define MAX_META 6
#define MAX_NBYTES (64u << 10)
#define MAX_CHUNKS 512u

typedef struct dtype_case {
    const char *text, *canonical;
    uint64_t itemsize;
} dtype_case;

static const dtype_case DTYPES[] = {
    {"<f4", "<f4", 4},
    {"float32", "<f4", 4},
    {"f8", "<f8", 8},
    {"=i2", "<i2", 2},
    {"|u1", "|u1", 1},
    {">i8", ">i8", 8},
    {">u4", ">u4", 4},
    {"<c16", "<c16", 16},
    {"complex64", "<c8", 8},
    {"|b1", "|b1", 1},
    {"bool", "|b1", 1},
    {"|S5", "|S5", 5},
    {"<U3", "<U3", 12},
    {"|V3", "|V3", 3},
    {"<M8[ns]", "<M8[ns]", 8},
    {"<m8[10ms]", "<m8[10ms]", 8},
    {"<f2", "<f2", 2},
    {"bfloat16", "bfloat16", 2},
    {"float8_e4m3fn", "float8_e4m3fn", 1},
    {"float8_e5m2", "float8_e5m2", 1},
    {"int64", "<i8", 8},
    {"[('date', '<M8[ns]'), ('val', '<f8'), ('c', '|S6')]",
     "[('date', '<M8[ns]'), ('val', '<f8'), ('c', '|S6')]", 22},
    {"[('x', '|u1'), ('', '|V3'), ('y', '<i4', (2,))]",
     "[('x', '|u1'), ('', '|V3'), ('y', '<i4', (2,))]", 12},
    {"[('p', [('a', '<i2'), ('b', '>f4')]), ('q', '<u8', (2, 3))]",
     "[('p', [('a', '<i2'), ('b', '>f4')]), ('q', '<u8', (2, 3))]", 54},
    {"[(\"n\\u00e9\", 'bfloat16'), ('z', '|V1')]", NULL, 0}, /* refused: escapes */
    {"<f16", NULL, 0},                                       /* refused: long double */
    {"O", NULL, 0},                                          /* refused: objects */
};
#define NDTYPES (sizeof DTYPES / sizeof DTYPES[0])

static const char *const NAMES[] = {"a", "b", "a/b", "a/b/c", "\xc3\xa9t\xc3\xa9", "x y",
                                    "\t", "\xf0\x9f\x98\x80", "A", "zz"};
static const char *const KEYS[] = {"unit", "k", "a", "\xc3\xa9", "version", "zz"};
static const char *const VALUES[] = {"", "m/s", "{\"a\": 1}", "\xe2\x82\xac", "v2", "x"};

/* Strict UTF-8 (no overlong forms, surrogates or values above U+10FFFF). */
static int utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const unsigned c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

/* A string from the table, or up to 12 raw fuzzer bytes (stopping at a NUL). */
static void pick_string(fuzz_src *s, const char *const *table, size_t n, char *out)
{
    const uint8_t sel = fuzz_u8(s);
    if (sel < 200) {
        strcpy(out, table[sel % n]);
        return;
    }
    size_t len = fuzz_below(s, 13), k = 0;
    for (; k < len; k++) {
        const uint8_t c = fuzz_u8(s);
        if (!c)
            break;
        out[k] = (char)c;
    }
    out[k] = '\0';
}

typedef struct kv {
    char key[16], value[16];
} kv;

typedef struct expect_array {
    char name[16];
    const dtype_case *dt;
    unsigned ndim;
    uint64_t shape[MMARR_MAX_DIMS];
    mmarr_order order;
    int cold;
    uint64_t capacity; /* growable: rows it may hold; 0 otherwise */
    uint64_t nbytes;
    unsigned char *data;
    kv meta[MAX_META];
    size_t nmeta;
} expect_array;

typedef struct expect {
    expect_array a[MAX_ARRAYS];
    size_t n;
    kv meta[MAX_META];
    size_t nmeta;
    uint32_t alignment;
    uint64_t pack_threshold;
} expect;

/* Record key=value in a group, the last value winning. Returns 0 when the group is full. */
static int kv_set(kv *g, size_t *n, const char *key, const char *value)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(g[i].key, key)) {
            strcpy(g[i].value, value);
            return 1;
        }
    if (*n == MAX_META)
        return 0;
    strcpy(g[*n].key, key);
    strcpy(g[*n].value, value);
    (*n)++;
    return 1;
}

static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const kv *)a)->key, ((const kv *)b)->key); /* bytewise, as the spec */
}

static void check_group(mmarr_file *f, size_t index, int file_level, kv *g, size_t n)
{
    qsort(g, n, sizeof *g, kv_cmp);
    for (size_t m = 0; m < n; m++) {
        const char *k = NULL, *v = NULL;
        mmarr_err rc = file_level ? mmarr_file_meta(f, m, &k, &v, NULL)
                                  : mmarr_array_meta(f, index, m, &k, &v, NULL);
        FUZZ_CHECK(rc == MMARR_OK);
        FUZZ_CHECK_MSG(!strcmp(k, g[m].key) && !strcmp(v, g[m].value), "meta %zu: %s=%s, want %s=%s",
                       m, k, v, g[m].key, g[m].value);
    }
}

/* Fill n bytes: zeros, a pseudo-random stream, a short period, or fuzzer bytes. */
FUZZ_NO_COVERAGE static void fill(fuzz_src *s, unsigned char *p, size_t n)
{
    const uint8_t mode = fuzz_u8(s) % 4;
    uint64_t x = fuzz_u32(s) | 1;
    const size_t period = 1 + fuzz_below(s, 16);
    for (size_t i = 0; i < n; i++) {
        switch (mode) {
        case 0:
            p[i] = 0;
            break;
        case 1:
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            p[i] = (unsigned char)x;
            break;
        case 2:
            p[i] = (unsigned char)(i % period * 37);
            break;
        default:
            p[i] = s->n ? s->p[i % s->n] : (unsigned char)i;
            break;
        }
    }
}

FUZZ_NO_COVERAGE static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static char g_dir[256];

static void remove_dir(void)
{
    if (g_dir[0])
        rmdir(g_dir);
}

static const char *work_dir(void)
{
    if (g_dir[0])
        return g_dir;
    const char *base = getenv("MMARR_FUZZ_TMPDIR");
    struct stat st;
    if (!base || !*base)
        base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/mmarr-fuzz-rt.XXXXXX", base);
    FUZZ_CHECK_MSG(mkdtemp(g_dir) != NULL, "%s: %s", g_dir, strerror(errno));
    atexit(remove_dir);
    return g_dir;
}

/* Choose a shape of at most MAX_NBYTES bytes (or, rarely, one that must be refused). */
static int pick_shape(fuzz_src *s, expect_array *a, int *must_refuse)
{
    const uint8_t kind = fuzz_u8(s);
    *must_refuse = 0;
    if (kind < 8) { /* many dimensions, mostly 1 (sometimes too many 2s: refused) */
        a->ndim = 1 + fuzz_below(s, MMARR_MAX_DIMS);
        for (unsigned d = 0; d < a->ndim; d++)
            a->shape[d] = 1 + (fuzz_u8(s) < 16);
    } else if (kind < 10) { /* overflow: the writer must refuse it */
        a->ndim = 2;
        a->shape[0] = 1ull << 40;
        a->shape[1] = (1ull << 30) + fuzz_below(s, 100);
        *must_refuse = 1;
        return 0;
    } else {
        a->ndim = fuzz_below(s, 5);
        for (unsigned d = 0; d < a->ndim; d++) {
            const uint8_t b = fuzz_u8(s);
            a->shape[d] = b < 200 ? b % 9 : b;
        }
    }
    /* the writer refuses a byte size that overflows or reaches 2^63 (spec.md §6) */
    uint64_t bytes = a->dt->itemsize;
    for (unsigned d = 0; d < a->ndim; d++)
        if (__builtin_mul_overflow(bytes, a->shape[d], &bytes) || bytes > (uint64_t)INT64_MAX) {
            *must_refuse = 1;
            return 0;
        }
    uint64_t items = bytes / a->dt->itemsize;
    while (items * a->dt->itemsize > MAX_NBYTES) { /* halve the largest dimension */
        unsigned big = 0;
        for (unsigned d = 1; d < a->ndim; d++)
            if (a->shape[d] > a->shape[big])
                big = d;
        items = items / a->shape[big] * (a->shape[big] / 2);
        a->shape[big] /= 2;
    }
    a->nbytes = items * a->dt->itemsize;
    return 0;
}

/* Compare a reopened file with what was written. deep: also read every cold array (done once,
 * on the file opened from its path; the in-memory open of the same bytes runs the same read
 * code, so it checks the index and the hot bytes only). verify: also mmarr_file_verify. */
static void check_file(mmarr_file *f, const expect *x, const unsigned char *img, int deep,
                       int verify)
{
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    FUZZ_CHECK(fi.count == x->n && fi.alignment == x->alignment);
    FUZZ_CHECK(fi.generation == 1 && !fi.checksums_stale && !fi.inactive_slot_damaged);
    int any_cold = 0, any_growable = 0;
    for (size_t i = 0; i < x->n; i++) {
        const expect_array *ea = &x->a[i];
        any_cold |= ea->cold;
        any_growable |= ea->capacity != 0;
        mmarr_array_info a;
        mmarr_error e;
        FUZZ_CHECK(mmarr_file_array(f, i, &a, &e) == MMARR_OK);
        FUZZ_CHECK(!strcmp(a.name, ea->name));
        FUZZ_CHECK_MSG(!strcmp(a.dtype_str, ea->dt->canonical), "stored \"%s\" for \"%s\"",
                       a.dtype_str, ea->dt->text);
        FUZZ_CHECK(a.itemsize == ea->dt->itemsize && a.ndim == ea->ndim);
        FUZZ_CHECK(a.ndim == 0 || !memcmp(a.shape, ea->shape, a.ndim * sizeof a.shape[0]));
        FUZZ_CHECK(a.order == ea->order && a.nbytes == ea->nbytes);
        FUZZ_CHECK(a.storage == (ea->cold ? MMARR_STORAGE_COLD : MMARR_STORAGE_HOT));
        FUZZ_CHECK(a.capacity == ea->capacity);
        if (!ea->capacity) /* a growable array's covers its block or chunk checksums */
            FUZZ_CHECK(a.checksum == XXH3_64bits(ea->data, (size_t)ea->nbytes));
        const int packed = ea->cold || (x->pack_threshold != MMARR_PACK_NONE &&
                                        ea->nbytes < x->pack_threshold && !ea->capacity);
        FUZZ_CHECK_MSG(a.packed == packed,
                       "\"%s\": packed %d, want %d (cold %d, capacity %llu, %llu bytes)", ea->name,
                       a.packed, packed, ea->cold, (unsigned long long)ea->capacity,
                       (unsigned long long)ea->nbytes);
        FUZZ_CHECK(a.offset % (packed ? 256 : x->alignment) == 0);
        size_t idx;
        FUZZ_CHECK(mmarr_file_find(f, ea->name, &idx, NULL) == MMARR_OK && idx == i);
        if (!ea->cold) {
            FUZZ_CHECK(a.stored_bytes == a.nbytes);
            if (img)
                FUZZ_CHECK(a.data == img + a.offset);
            FUZZ_CHECK(!a.nbytes || !memcmp(a.data, ea->data, (size_t)a.nbytes));
        } else if (deep) {
            unsigned char *got = malloc(a.nbytes ? (size_t)a.nbytes : 1);
            FUZZ_CHECK(got);
            mmarr_err rc = mmarr_file_read(f, i, 0, got, a.nbytes, &e);
            FUZZ_CHECK_MSG(rc == MMARR_OK, "%s", e.message);
            FUZZ_CHECK(!a.nbytes || !memcmp(got, ea->data, (size_t)a.nbytes));
            free(got);
        }
        FUZZ_CHECK(a.meta_count == ea->nmeta);
        kv g[MAX_META];
        memcpy(g, ea->meta, sizeof g);
        check_group(f, i, 0, g, ea->nmeta);
    }
    FUZZ_CHECK(fi.required_features == (any_cold ? 1u : 0u) + (any_growable ? 2u : 0u));
    FUZZ_CHECK(fi.meta_count == x->nmeta);
    kv g[MAX_META];
    memcpy(g, x->meta, sizeof g);
    check_group(f, 0, 1, g, x->nmeta);
    mmarr_error e;
    if (verify)
        FUZZ_CHECK_MSG(mmarr_file_verify(f, &e) == MMARR_OK, "%s", e.message);
}

/* Feed nbytes to a begun array in fuzzer-chosen pieces. */
static void stream(mmarr_writer *w, fuzz_src *s, const unsigned char *p, uint64_t nbytes)
{
    uint64_t done = 0;
    while (done < nbytes) {
        uint64_t piece = 1 + fuzz_below(s, 1 << 14);
        if (piece > nbytes - done)
            piece = nbytes - done;
        FUZZ_CHECK_MSG(mmarr_writer_write(w, p + done, (size_t)piece) == MMARR_OK, "%s",
                       mmarr_writer_error(w)->message);
        done += piece;
    }
    FUZZ_CHECK_MSG(mmarr_writer_end(w) == MMARR_OK, "%s", mmarr_writer_error(w)->message);
}

static void add_meta(mmarr_writer *w, fuzz_src *s, expect_array *ea, kv *g, size_t *n)
{
    char key[16], value[16];
    pick_string(s, KEYS, sizeof KEYS / sizeof KEYS[0], key);
    pick_string(s, VALUES, sizeof VALUES / sizeof VALUES[0], value);
    const int valid = key[0] && utf8_ok((const unsigned char *)key, strlen(key)) &&
                      utf8_ok((const unsigned char *)value, strlen(value));
    int present = 0;
    for (size_t i = 0; i < *n; i++)
        present |= !strcmp(g[i].key, key);
    if (valid && *n == MAX_META && !present)
        return; /* keep the expectation table bounded */
    mmarr_err rc = ea ? mmarr_writer_set_array_meta(w, ea->name, key, value)
                      : mmarr_writer_set_file_meta(w, key, value);
    FUZZ_CHECK_MSG(rc == (valid ? MMARR_OK : MMARR_E_INVAL), "meta \"%s\"=\"%s\": %s", key, value,
                   mmarr_err_name(rc));
    if (valid)
        FUZZ_CHECK(kv_set(g, n, key, value));
}

/* A growable array (spec.md §7.8): its first rows given when it is added, the others appended
 * in fuzzer-chosen pieces (all given at once when it is to be refused: `whole`); hot (its
 * region reserved) or cold (co). What adding it returns; *invalid: whether it must be
 * MMARR_E_INVAL before anything else is checked (no dimension, a capacity of 0 rows). */
static mmarr_err add_growable(mmarr_writer *w, fuzz_src *s, expect_array *ea,
                              const mmarr_compress_options *co, int whole, int *invalid)
{
    ea->order = MMARR_ORDER_C; /* growable arrays are in C order */
    *invalid = ea->ndim == 0;
    if (ea->ndim == 0)
        return ea->cold
                   ? mmarr_writer_add_growable_cold(w, ea->name, ea->dt->text, 0, NULL, 1, ea->data,
                                                    co)
                   : mmarr_writer_add_growable(w, ea->name, ea->dt->text, 0, NULL, 1, ea->data);
    const uint64_t rows = ea->shape[0], row = rows ? ea->nbytes / rows : 0;
    uint64_t first[MMARR_MAX_DIMS];
    memcpy(first, ea->shape, ea->ndim * sizeof *first);
    first[0] = whole ? rows : fuzz_below(s, (uint32_t)(rows < 1000 ? rows + 1 : 1000));
    ea->capacity = rows + fuzz_below(s, 100);
    *invalid = ea->capacity == 0; /* a capacity of at least 1 row */
    const mmarr_err rc = ea->cold
                             ? mmarr_writer_add_growable_cold(w, ea->name, ea->dt->text, ea->ndim,
                                                              first, ea->capacity, ea->data, co)
                             : mmarr_writer_add_growable(w, ea->name, ea->dt->text, ea->ndim, first,
                                                         ea->capacity, ea->data);
    if (rc != MMARR_OK) {
        ea->capacity = 0;
        return rc;
    }
    for (uint64_t done = first[0]; done < rows;) {
        uint64_t n = 1 + fuzz_below(s, 64);
        if (n > rows - done)
            n = rows - done;
        FUZZ_CHECK_MSG(mmarr_writer_append_rows(w, ea->name, ea->data + done * row, n, n * row) ==
                           MMARR_OK,
                       "append %llu rows to \"%s\": %s", (unsigned long long)n, ea->name,
                       mmarr_writer_error(w)->message);
        done += n;
    }
    if (rows < ea->capacity) /* past the capacity: refused, the writer still usable */
        FUZZ_CHECK(mmarr_writer_append_rows(w, ea->name, ea->data, ea->capacity - rows + 1, 0) ==
                   MMARR_E_RANGE);
    return MMARR_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_src s = {data, size};
    expect *x = calloc(1, sizeof *x);
    FUZZ_CHECK(x);
    static const uint32_t aligns[] = {0, 4096, 8192, 65536};
    static const uint64_t packs[] = {0, MMARR_PACK_NONE, 1, 300, 5000};
    mmarr_writer_options o = {0};
    o.alignment = aligns[fuzz_below(&s, 4)];
    o.pack_threshold = packs[fuzz_below(&s, 5)];
    o.flags = MMARR_WRITE_NO_SYNC;
    x->alignment = o.alignment ? o.alignment : 4096;
    x->pack_threshold = o.pack_threshold ? o.pack_threshold : 2048;

    char path[300];
    snprintf(path, sizeof path, "%s/rt.mmarr", work_dir());
    mmarr_writer *w = NULL;
    mmarr_error e;
    FUZZ_CHECK_MSG(mmarr_writer_create(path, &o, &w, &e) == MMARR_OK, "%s", e.message);

    const size_t steps = fuzz_below(&s, 12);
    for (size_t step = 0; step < steps && s.n; step++) {
        const uint8_t op = fuzz_u8(&s) % 8;
        if (op == 6) {
            add_meta(w, &s, NULL, x->meta, &x->nmeta);
            continue;
        }
        if (op == 7) {
            if (x->n) {
                expect_array *ea = &x->a[fuzz_below(&s, (uint32_t)x->n)];
                add_meta(w, &s, ea, ea->meta, &ea->nmeta);
            } else {
                FUZZ_CHECK(mmarr_writer_set_array_meta(w, "none", "k", "v") == MMARR_E_NOTFOUND);
            }
            continue;
        }
        if (x->n == MAX_ARRAYS)
            continue;
        expect_array *ea = &x->a[x->n];
        memset(ea, 0, sizeof *ea);
        pick_string(&s, NAMES, sizeof NAMES / sizeof NAMES[0], ea->name);
        ea->dt = &DTYPES[fuzz_below(&s, NDTYPES)];
        ea->order = fuzz_u8(&s) & 1 ? MMARR_ORDER_F : MMARR_ORDER_C;
        int overflow = 0;
        if (ea->dt->canonical)
            pick_shape(&s, ea, &overflow);
        else
            ea->ndim = 0, ea->nbytes = 0;
        const int valid_name = ea->name[0] && utf8_ok((const unsigned char *)ea->name,
                                                      strlen(ea->name));
        int dup = 0;
        for (size_t i = 0; i < x->n; i++)
            dup |= !strcmp(x->a[i].name, ea->name);
        /* the writer checks the name, then duplicates, then the dtype, then the shape */
        const mmarr_err want = !valid_name        ? MMARR_E_INVAL
                               : dup              ? MMARR_E_EXISTS
                               : !ea->dt->canonical ? MMARR_E_DTYPE
                               : overflow         ? MMARR_E_RANGE
                                                  : MMARR_OK;
        ea->data = malloc(ea->nbytes ? (size_t)ea->nbytes : 1);
        FUZZ_CHECK(ea->data);
        fill(&s, ea->data, (size_t)ea->nbytes);
        const unsigned how = fuzz_u8(&s) % 7; /* 5, 6: growable, hot and cold */
        ea->cold = how == 3 || how == 4 || how == 6;
        mmarr_compress_options co = {0};
        if (ea->cold) {
            static const int levels[] = {0, 1, -3, 5, 9};
            static const uint64_t chunks[] = {0, 1, 3, 64, 1000, 4096, 65536};
            co.level = levels[fuzz_below(&s, 5)];
            co.chunk_size = chunks[fuzz_below(&s, 7)];
            co.shuffle = fuzz_u8(&s) & 1;
            co.threads = fuzz_below(&s, 3);
            const uint64_t cs = co.chunk_size ? co.chunk_size : MMARR_DEFAULT_CHUNK_SIZE;
            if (ea->nbytes / cs > MAX_CHUNKS)
                co.chunk_size = ea->nbytes / MAX_CHUNKS + 1;
        }
        mmarr_err rc;
        int invalid = 0; /* growable: refused before anything else */
        const uint64_t *shape = ea->ndim ? ea->shape : NULL;
        if (how >= 5) {
            rc = add_growable(w, &s, ea, &co, want != MMARR_OK, &invalid);
        } else if (how == 0) {
            rc = mmarr_writer_add(w, ea->name, ea->dt->text, ea->ndim, shape, ea->order, ea->data);
        } else if (how == 1) {
            void *p = NULL;
            rc = mmarr_writer_reserve(w, ea->name, ea->dt->text, ea->ndim, shape, ea->order, &p);
            if (rc == MMARR_OK) {
                FUZZ_CHECK((p != NULL) == (ea->nbytes != 0));
                FUZZ_CHECK(all_zero(p, (size_t)ea->nbytes)); /* zero-filled */
                if (ea->nbytes)
                    memcpy(p, ea->data, (size_t)ea->nbytes);
            }
        } else if (how == 3) {
            rc = mmarr_writer_add_cold(w, ea->name, ea->dt->text, ea->ndim, shape, ea->order,
                                       ea->data, &co);
        } else {
            rc = mmarr_writer_begin(w, ea->name, ea->dt->text, ea->ndim, shape, ea->order,
                                    how == 4 ? &co : NULL);
            if (rc == MMARR_OK)
                stream(w, &s, ea->data, ea->nbytes);
        }
        /* growable: no dimension is refused before anything else */
        const mmarr_err want_here = invalid ? MMARR_E_INVAL : want;
        FUZZ_CHECK_MSG(rc == want_here, "add \"%s\" %s: got %s, want %s: %s", ea->name,
                       ea->dt->text, mmarr_err_name(rc), mmarr_err_name(want_here),
                       mmarr_writer_error(w)->message);
        if (rc == MMARR_OK) {
            x->n++;
        } else {
            FUZZ_CHECK(mmarr_writer_error(w)->code == rc && mmarr_writer_error(w)->message[0]);
            free(ea->data);
            ea->data = NULL;
        }
    }
    FUZZ_CHECK(mmarr_writer_count(w) == x->n);
    FUZZ_CHECK_MSG(mmarr_writer_commit(w) == MMARR_OK, "%s", mmarr_writer_error(w)->message);
    FUZZ_CHECK(mmarr_writer_add(w, "late", "<f4", 0, NULL, MMARR_ORDER_C, "abcd") ==
               MMARR_E_STATE);
    mmarr_writer_free(w);

    mmarr_file *f = NULL;
    /* every checksum verified once: by the open (inputs of odd length) or after the reads */
    const int verify_at_open = size & 1;
    mmarr_err rc = mmarr_open(path, verify_at_open ? MMARR_OPEN_VERIFY : 0, &f, &e);
    FUZZ_CHECK_MSG(rc == MMARR_OK, "%s", e.message);
    mmarr_file_set_threads(f, 1);
    check_file(f, x, NULL, 1, !verify_at_open);
    mmarr_close(f);

    /* the same bytes from memory */
    FILE *fp = fopen(path, "rb");
    FUZZ_CHECK(fp);
    fseek(fp, 0, SEEK_END);
    const long len = ftell(fp);
    rewind(fp);
    FUZZ_CHECK(len > 0);
    unsigned char *img = malloc((size_t)len);
    FUZZ_CHECK(img && fread(img, 1, (size_t)len, fp) == (size_t)len);
    fclose(fp);
    rc = mmarr_open_buffer(img, (size_t)len, 0, &f, &e);
    FUZZ_CHECK_MSG(rc == MMARR_OK, "%s", e.message);
    mmarr_file_set_threads(f, 1);
    check_file(f, x, img, 0, 0);
    mmarr_close(f);
    free(img);

    FUZZ_CHECK(unlink(path) == 0);
    for (size_t i = 0; i < x->n; i++)
        free(x->a[i].data);
    free(x);
    return 0;
}
