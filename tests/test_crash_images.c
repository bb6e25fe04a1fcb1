/* SPDX-License-Identifier: MIT */
/*
 * test_crash_images.c — issue #19: "A crash at any point of an append leaves the previous
 * generation intact and readable, and the next writer recovers without losing it. Test
 * thousands of crash images: zero torn generations."
 *
 * Image-based and deterministic (no kill timing): a base file (hot arrays, a packed one, a
 * 2-D one, a cold one, a growable array with spare capacity, file and array metadata) goes
 * through a chain of appends of several kinds (arrays added; rows appended to the growable
 * array across a 1 MiB block boundary; an array deleted; metadata changed; a mix; rows and
 * the last cold arrays deleted, which changes the required features). For each append the
 * file's bytes before (B) and after (A) are kept, and its generations' contents are a model
 * the test computes itself (every array's bytes are a function of a seed and the position).
 *
 * spec.md §4.4: an appender writes data and index past the old end, syncs, then writes the
 * inactive 128-byte slot (offset 64 or 192) and syncs. First the derivation is checked to be
 * sound: inside the old generation's file_size, A differs from B only in the inactive slot
 * and in the growable regions past the old rows (§7.8: bytes of a region past data_size have
 * no meaning), of the arrays the append added rows to; so a library that rewrote any other
 * old byte fails here. Then images of every state a crash can leave are made:
 *
 *  a-pages, a-sectors  the old slot; any subset of the changed 4 KiB pages (512-byte sectors)
 *                      of A over B; the length B's, A's, anything between or past A's (the
 *                      writer reserves before it cuts back); bytes no generation covers
 *                      zero, or (one image in four) junk, as a file system may leave them
 *  b-prefix            every data change; the slot torn: its first k bytes new, k in 0..128
 *                      (k = 128, the completed commit, one image in four)
 *  b-words, b-bytes    every data change; a random subset of the slot's 8-byte words (bytes)
 *                      new: stores reach the medium in any order (sector by sector the slot
 *                      is all old or all new: it lies in sector 0, k = 0 or 128 above)
 *  d-index-lost        beyond the crash model (a medium that lost synced writes, or
 *                      MMARR_WRITE_NO_SYNC): the new slot complete, the new index incomplete
 *                      or cut short: rule 5, the file opens at the old generation and verify
 *                      reports the new one as damaged
 *
 * Each image is written to a file and must: open; hold the old generation, or the new one
 * exactly when the new slot is complete (d: the old one, the new one reported damaged); have
 * every array (name, dtype, shape, storage, capacity, metadata, every byte through the mapping
 * and through mmarr_file_read) and the file metadata equal to the model of that generation;
 * verify (a damaged inactive slot or a damaged newest generation is what verify must report
 * then, and every array verifies on its own). Then the next writer appends to the image (rows,
 * an array, metadata) and commits: the file opens and verifies at the next generation with the
 * image's generation's arrays intact, and that generation still opens as recorded (rule 8).
 *
 * MMARR_CRASH_IMAGES sets the number of images (default 3000), MMARR_CRASH_SEED the seed
 * (printed, for reproduction). A failing image is kept in $TMPDIR (or /tmp) and named.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mmarr.h"
#include "mmarr_format.h"
#include "testutil.h"

#define NOSYNC ((mmarr_writer_options){.flags = MMARR_WRITE_NO_SYNC})
#define SLOT_SIZE 128u
#define MAX_EXTRA (64u << 10) /* bytes past A's length an image may have */

/* ---- a deterministic random source ---- */

static uint64_t rng_state;
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static uint64_t rng(void) { return mix64(rng_state += 0x9E3779B97F4A7C15ull); }
static uint64_t rng_below(uint64_t n) { return n ? rng() % n : 0; }

/* ---- the model: what every generation holds ---- */

/* Byte i of an array with this seed: a function of the position only, so rows appended later
 * continue the same sequence. */
static void fill_content(unsigned char *p, uint64_t seed, uint64_t from, uint64_t n)
{
    uint64_t word = 0, have = UINT64_MAX;
    for (uint64_t i = 0; i < n; i++) {
        const uint64_t pos = from + i;
        if (pos >> 3 != have) {
            have = pos >> 3;
            word = mix64(seed * 0x100000001B3ull + have);
        }
        p[i] = (unsigned char)(word >> (8 * (pos & 7)));
    }
}

/* The first n bytes of a seed's sequence, kept for the large arrays (checked thousands of
 * times); valid until the next call. */
static const unsigned char *expected(uint64_t seed, uint64_t n)
{
    static struct {
        uint64_t seed, n;
        unsigned char *p;
    } cache[32];
    static unsigned char *small;
    static uint64_t small_n;
    if (n < 16384) {
        if (n + 1 > small_n) {
            free(small);
            small = malloc(n + 1);
            small_n = n + 1;
            assert_non_null(small);
        }
        fill_content(small, seed, 0, n);
        return small;
    }
    size_t i = 0;
    while (i < 32 && cache[i].p && cache[i].seed != seed)
        i++;
    assert_true(i < 32);
    if (!cache[i].p || cache[i].n < n) {
        cache[i].p = realloc(cache[i].p, n + 1);
        assert_non_null(cache[i].p);
        fill_content(cache[i].p, seed, 0, n);
        cache[i].seed = seed;
        cache[i].n = n;
    }
    return cache[i].p;
}

#define MAXA 24
#define MAXM 8

typedef struct marr {
    char name[16];
    char dtype[8]; /* canonical text */
    uint64_t itemsize;
    unsigned ndim;
    uint64_t shape[2];
    int cold;
    uint64_t capacity; /* growable: rows of its region; 0 otherwise */
    uint64_t seed;
    char unit[8]; /* array metadata "unit", "" for none */
} marr;

typedef struct model {
    uint64_t gen;
    size_t n;
    marr a[MAXA];
    size_t nmeta;
    char key[MAXM][16], val[MAXM][32];
} model;

static uint64_t row_bytes(const marr *a) { return a->itemsize * (a->ndim == 2 ? a->shape[1] : 1); }
static uint64_t nbytes_of(const marr *a) { return row_bytes(a) * a->shape[0]; }

static marr *model_find(model *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->a[i].name, name))
            return &m->a[i];
    return NULL;
}

static void check_writer(mmarr_writer *w, mmarr_err rc, const char *what)
{
    if (rc != MMARR_OK)
        fail_msg("%s: %s", what, mmarr_writer_error(w)->message);
}

/* Add an array through the writer and to the model. capacity > 0: growable. */
static void op_add(mmarr_writer *w, model *m, const char *name, const char *dtype,
                   uint64_t itemsize, unsigned ndim, uint64_t s0, uint64_t s1, int cold,
                   uint64_t capacity, uint64_t seed, const char *unit)
{
    assert_true(m->n < MAXA);
    marr *a = &m->a[m->n++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    snprintf(a->dtype, sizeof a->dtype, "%s", dtype);
    a->itemsize = itemsize;
    a->ndim = ndim;
    a->shape[0] = s0;
    a->shape[1] = s1;
    a->cold = cold;
    a->capacity = capacity;
    a->seed = seed;
    snprintf(a->unit, sizeof a->unit, "%s", unit ? unit : "");
    const uint64_t n = nbytes_of(a);
    unsigned char *buf = malloc(n + 1);
    assert_non_null(buf);
    fill_content(buf, seed, 0, n);
    mmarr_compress_options co = {.level = 1, .chunk_size = 8192, .shuffle = 1, .threads = 1};
    mmarr_err rc;
    if (capacity)
        rc = mmarr_writer_add_growable(w, name, dtype, ndim, a->shape, capacity, buf);
    else if (cold)
        rc = mmarr_writer_add_cold(w, name, dtype, ndim, a->shape, MMARR_ORDER_C, buf, &co);
    else
        rc = mmarr_writer_add(w, name, dtype, ndim, a->shape, MMARR_ORDER_C, buf);
    check_writer(w, rc, name);
    if (unit)
        check_writer(w, mmarr_writer_set_array_meta(w, name, "unit", unit), name);
    free(buf);
}

static void op_rows(mmarr_writer *w, model *m, const char *name, uint64_t rows)
{
    marr *a = model_find(m, name);
    assert_non_null(a);
    const uint64_t row = row_bytes(a), from = nbytes_of(a);
    unsigned char *buf = malloc(rows * row + 1);
    assert_non_null(buf);
    fill_content(buf, a->seed, from, rows * row);
    check_writer(w, mmarr_writer_append_rows(w, name, buf, rows, rows * row), name);
    a->shape[0] += rows;
    assert_true(a->shape[0] <= a->capacity);
    free(buf);
}

static void op_delete(mmarr_writer *w, model *m, const char *name)
{
    marr *a = model_find(m, name);
    assert_non_null(a);
    check_writer(w, mmarr_writer_delete(w, name), name);
    *a = m->a[--m->n];
}

static void op_meta(mmarr_writer *w, model *m, const char *key, const char *value)
{
    check_writer(w, mmarr_writer_set_file_meta(w, key, value), key);
    for (size_t i = 0; i < m->nmeta; i++)
        if (!strcmp(m->key[i], key)) {
            snprintf(m->val[i], sizeof m->val[i], "%s", value);
            return;
        }
    assert_true(m->nmeta < MAXM);
    snprintf(m->key[m->nmeta], sizeof m->key[0], "%s", key);
    snprintf(m->val[m->nmeta++], sizeof m->val[0], "%s", value);
}

/* Whether f holds exactly generation m: 0, or -1 with the difference in why. */
static int check_gen(mmarr_file *f, const model *m, char *why, size_t n)
{
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    if (fi.generation != m->gen) {
        snprintf(why, n, "generation %llu, expected %llu", (unsigned long long)fi.generation,
                 (unsigned long long)m->gen);
        return -1;
    }
    if (fi.count != m->n || fi.meta_count != m->nmeta) {
        snprintf(why, n, "generation %llu: %zu arrays and %zu metadata, expected %zu and %zu",
                 (unsigned long long)m->gen, fi.count, fi.meta_count, m->n, m->nmeta);
        return -1;
    }
    for (size_t k = 0; k < m->nmeta; k++) {
        const char *v = mmarr_file_meta_get(f, m->key[k]);
        if (!v || strcmp(v, m->val[k])) {
            snprintf(why, n, "generation %llu: metadata %s = %s, expected %s",
                     (unsigned long long)m->gen, m->key[k], v ? v : "(none)", m->val[k]);
            return -1;
        }
    }
    int res = 0;
    for (size_t i = 0; i < m->n && res == 0; i++) {
        const marr *x = &m->a[i];
        mmarr_array_info a;
        mmarr_error e;
        if (mmarr_file_find_array(f, x->name, &a, &e) != MMARR_OK) {
            snprintf(why, n, "generation %llu: array %s: %s", (unsigned long long)m->gen, x->name,
                     e.message);
            return -1;
        }
        const uint64_t nb = nbytes_of(x);
        const char *v = mmarr_array_meta_get(f, a.index, "unit");
        if (strcmp(a.dtype_str, x->dtype) || a.ndim != x->ndim || a.shape[0] != x->shape[0] ||
            (x->ndim == 2 && a.shape[1] != x->shape[1]) || a.nbytes != nb ||
            (a.storage == MMARR_STORAGE_COLD) != x->cold || a.capacity != x->capacity ||
            a.meta_count != (x->unit[0] ? 1u : 0u) || (x->unit[0] && (!v || strcmp(v, x->unit)))) {
            snprintf(why, n,
                     "generation %llu: array %s is %s, %u-d, %llu rows, %llu bytes, capacity "
                     "%llu, storage %d; expected %s, %u-d, %llu rows, %llu bytes, capacity %llu, "
                     "cold %d",
                     (unsigned long long)m->gen, x->name, a.dtype_str, a.ndim,
                     (unsigned long long)a.shape[0], (unsigned long long)a.nbytes,
                     (unsigned long long)a.capacity, (int)a.storage, x->dtype, x->ndim,
                     (unsigned long long)x->shape[0], (unsigned long long)nb,
                     (unsigned long long)x->capacity, x->cold);
            return -1;
        }
        const unsigned char *want = expected(x->seed, nb);
        unsigned char *got = malloc(nb + 1);
        assert_non_null(got);
        if (mmarr_file_read(f, a.index, 0, got, nb, &e) != MMARR_OK) {
            snprintf(why, n, "generation %llu: array %s: read: %s", (unsigned long long)m->gen,
                     x->name, e.message);
            res = -1;
        } else if (memcmp(got, want, nb) || (!x->cold && memcmp(a.data, want, nb))) {
            uint64_t at = 0;
            const unsigned char *have = memcmp(got, want, nb) ? got : a.data;
            while (have[at] == want[at])
                at++;
            snprintf(why, n,
                     "generation %llu: array %s: byte %llu (file offset %llu) is %02x, "
                     "expected %02x",
                     (unsigned long long)m->gen, x->name, (unsigned long long)at,
                     (unsigned long long)(a.offset + at), have[at], want[at]);
            res = -1;
        }
        free(got);
    }
    return res;
}

/* The generation a path opens at, checked against m; every array verified. */
static void open_and_check(const char *path, const model *m)
{
    mmarr_file *f;
    mmarr_error e;
    if (mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e) != MMARR_OK)
        fail_msg("%s: %s", path, e.message);
    char why[600];
    if (check_gen(f, m, why, sizeof why))
        fail_msg("%s: %s", path, why);
    mmarr_close(f);
}

/* ---- the chain of appends ---- */

enum { KINDS = 6 };
static const char *const kind_name[KINDS] = {
    "add arrays", "rows across 1 MiB", "delete", "metadata", "mix", "rows, cold gone"};

static void make_base(const char *path, model *m)
{
    memset(m, 0, sizeof *m);
    m->gen = 1;
    mmarr_writer_options o = NOSYNC;
    mmarr_writer *w;
    mmarr_error e;
    if (mmarr_writer_create(path, &o, &w, &e) != MMARR_OK)
        fail_msg("%s", e.message);
    op_add(w, m, "h0", "<i8", 8, 1, 1000, 0, 0, 0, 11, "m");
    op_add(w, m, "h1", "<i4", 4, 1, 3000, 0, 0, 0, 12, NULL);
    op_add(w, m, "h2", "<u2", 2, 2, 40, 33, 0, 0, 13, NULL);
    op_add(w, m, "h3", "|u1", 1, 1, 100, 0, 0, 0, 14, NULL); /* packed */
    op_add(w, m, "c0", "<i8", 8, 1, 4000, 0, 1, 0, 15, NULL);
    /* 40000 rows of 24 bytes: 960000 bytes, under the first 1 MiB block */
    op_add(w, m, "g", "<i8", 8, 2, 40000, 3, 0, 50000, 16, NULL);
    op_meta(w, m, "owner", "test");
    op_meta(w, m, "stage", "base");
    check_writer(w, mmarr_writer_commit(w), "commit");
    mmarr_writer_free(w);
}

/* Append of kind k to path; m goes from its generation to the next. */
static void do_append(const char *path, int k, model *m)
{
    mmarr_writer_options o = NOSYNC;
    mmarr_writer *w;
    mmarr_error e;
    if (mmarr_writer_open_append(path, &o, &w, &e) != MMARR_OK)
        fail_msg("%s", e.message);
    switch (k) {
    case 0:
        op_add(w, m, "n1", "<i4", 4, 1, 5000, 0, 0, 0, 21, NULL);
        op_add(w, m, "n2", "<u8", 8, 1, 30, 0, 0, 0, 22, NULL); /* packed */
        op_add(w, m, "n3", "<i8", 8, 1, 3000, 0, 1, 0, 23, NULL);
        op_add(w, m, "n4", "<u2", 2, 2, 100, 37, 0, 0, 24, "s");
        break;
    case 1: /* 960000 -> 1080000 bytes: the 1 MiB block boundary is crossed */
        op_rows(w, m, "g", 5000);
        break;
    case 2: op_delete(w, m, "h1"); break;
    case 3:
        op_meta(w, m, "stage", "metadata");
        op_meta(w, m, "note", "hello");
        break;
    case 4:
        op_add(w, m, "m1", "<i8", 8, 1, 2500, 0, 0, 0, 41, NULL);
        op_rows(w, m, "g", 333);
        op_delete(w, m, "n2");
        op_delete(w, m, "h2"); /* replaced */
        op_add(w, m, "h2", "<i4", 4, 1, 700, 0, 0, 0, 42, "kg");
        op_meta(w, m, "stage", "mix");
        op_add(w, m, "g2", "<i4", 4, 2, 10, 4, 0, 3000, 43, NULL);
        break;
    default:
        op_rows(w, m, "g2", 7);
        op_rows(w, m, "g", 1);
        op_delete(w, m, "c0"); /* the last cold arrays: COLD_ZSTD leaves the slot */
        op_delete(w, m, "n3");
        break;
    }
    check_writer(w, mmarr_writer_commit(w), "commit");
    mmarr_writer_free(w);
    m->gen++;
}

/* ---- one append's before and after ---- */

typedef struct range {
    uint64_t lo, hi;
} range;

typedef struct step {
    int kind;
    model before, after;
    unsigned char *b, *a; /* whole files; b zero-extended to a_len */
    size_t b_len, a_len;
    uint64_t old_size;    /* the old generation's file_size */
    size_t slot_off;      /* the slot the append wrote */
    uint64_t ioff, isize; /* the new index */
    range tails[MAXA];    /* growable regions past the old rows (§7.8) */
    char tail_name[MAXA][16];
    size_t ntails;
    uint64_t *units[2]; /* changed units of 512 and 4096 bytes, slot bytes aside */
    size_t nunits[2];
    size_t tail_changed; /* bytes of the tails that changed */
} step;

static const uint64_t unit_size[2] = {512, 4096};

static int in_tails(const step *s, uint64_t off)
{
    for (size_t t = 0; t < s->ntails; t++)
        if (off >= s->tails[t].lo && off < s->tails[t].hi)
            return 1;
    return 0;
}

/* Bytes no generation of the image may read: past the old generation, or a growable tail. */
static int free_byte(const step *s, uint64_t off) { return off >= s->old_size || in_tails(s, off); }

static int in_slot(const step *s, uint64_t off)
{
    return off >= s->slot_off && off < s->slot_off + SLOT_SIZE;
}

static const mmarr_disk_slot *slot_at(const unsigned char *img, size_t off)
{
    return (const mmarr_disk_slot *)(img + off);
}

/* Derive B and A of kind k, and check the derivation is sound. */
static void make_step(const char *path, int k, model *m, step *s)
{
    memset(s, 0, sizeof *s);
    s->kind = k;
    s->before = *m;
    size_t bl;
    unsigned char *b = tu_read_file(path, &bl);
    assert_non_null(b);
    /* the old generation's growable regions past their rows (only those the append grows
     * may change: checked below) */
    mmarr_file *f;
    mmarr_error e;
    if (mmarr_open(path, 0, &f, &e) != MMARR_OK)
        fail_msg("%s", e.message);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    s->old_size = fi.file_size;
    mmarr_generation rec = {fi.generation,       fi.file_size,      fi.index_offset,
                            fi.index_size,       fi.index_checksum, fi.required_features,
                            fi.optional_features};
    for (size_t i = 0; i < fi.count; i++) {
        mmarr_array_info a;
        assert_int_equal(mmarr_file_array(f, i, &a, &e), MMARR_OK);
        if (!a.capacity)
            continue;
        uint64_t row = a.itemsize;
        for (unsigned d = 1; d < a.ndim; d++)
            row *= a.shape[d];
        snprintf(s->tail_name[s->ntails], sizeof s->tail_name[0], "%s", a.name);
        s->tails[s->ntails++] = (range){a.offset + a.nbytes, a.offset + a.capacity * row};
    }
    mmarr_close(f);
    do_append(path, k, m);
    s->after = *m;
    size_t al;
    unsigned char *a = tu_read_file(path, &al);
    assert_non_null(a);
    assert_true(al >= bl);
    assert_true(s->old_size <= bl);
    s->a = a;
    s->a_len = al;
    s->b_len = bl;
    s->b = calloc(1, al + MAX_EXTRA);
    assert_non_null(s->b);
    memcpy(s->b, b, bl);
    free(b);

    /* the slot written: the inactive one, with the next generation */
    const mmarr_disk_slot *sa = slot_at(s->b, MMARR_SLOT_A_OFFSET);
    const mmarr_disk_slot *sb = slot_at(s->b, MMARR_SLOT_B_OFFSET);
    const int old_active_b = sb->checksum && sb->generation > sa->generation;
    s->slot_off = old_active_b ? MMARR_SLOT_A_OFFSET : MMARR_SLOT_B_OFFSET;
    const mmarr_disk_slot *ns = slot_at(s->a, s->slot_off);
    assert_int_equal(ns->generation, s->before.gen + 1);
    assert_int_equal(
        slot_at(s->b, old_active_b ? MMARR_SLOT_B_OFFSET : MMARR_SLOT_A_OFFSET)->generation,
        s->before.gen);
    assert_int_equal(ns->file_size, al);
    s->ioff = ns->index_offset;
    s->isize = ns->index_size;
    assert_true(s->ioff >= bl); /* after everything the file held (§4.4 step 2) */
    assert_int_equal(s->ioff + s->isize, al);

    /* soundness: inside the old file_size only the inactive slot and the tails of the arrays
     * that grew may differ (rule 4, §7.8) */
    size_t kept = 0;
    for (size_t t = 0; t < s->ntails; t++) {
        int changed = 0;
        for (uint64_t o = s->tails[t].lo; o < s->tails[t].hi && o < s->old_size; o++)
            changed |= s->a[o] != s->b[o];
        if (changed) {
            const marr *x = model_find(&s->before, s->tail_name[t]);
            const marr *y = model_find(&s->after, s->tail_name[t]);
            if (!x || !y || y->seed != x->seed || y->shape[0] <= x->shape[0])
                fail_msg("append of kind \"%s\" wrote into the region of growable array %s, "
                         "which it did not grow",
                         kind_name[k], s->tail_name[t]);
            s->tails[kept] = s->tails[t];
            memcpy(s->tail_name[kept++], s->tail_name[t], sizeof s->tail_name[t]);
        }
    }
    s->ntails = kept;
    for (uint64_t o = 0; o < s->old_size; o++) {
        if (s->a[o] == s->b[o] || in_slot(s, o))
            continue;
        if (in_tails(s, o)) {
            s->tail_changed++;
            continue;
        }
        fail_msg("append of kind \"%s\" rewrote byte %llu of the old generation (%02x -> %02x), "
                 "outside the inactive slot and the growable regions' unused tails",
                 kind_name[k], (unsigned long long)o, s->b[o], s->a[o]);
    }

    /* the changed units, slot bytes aside */
    for (int g = 0; g < 2; g++) {
        const uint64_t u = unit_size[g];
        s->units[g] = malloc((al / u + 2) * sizeof *s->units[g]);
        assert_non_null(s->units[g]);
        for (uint64_t at = 0; at < al; at += u) {
            const uint64_t end = at + u < al ? at + u : al;
            int diff = 0;
            for (uint64_t o = at; o < end && !diff; o++)
                diff = s->a[o] != s->b[o] && !in_slot(s, o);
            if (diff)
                s->units[g][s->nunits[g]++] = at;
        }
        assert_true(s->nunits[g] > 0); /* at least the new index */
    }

    /* A and B are the model's generations; B's generation is still in A as recorded */
    open_and_check(path, &s->after);
    char *bpath = malloc(strlen(path) + 8);
    sprintf(bpath, "%s.b", path);
    assert_int_equal(tu_write_file(bpath, s->b, s->b_len), 0);
    open_and_check(bpath, &s->before);
    free(bpath);
    if (mmarr_open_generation(path, 0, &rec, &f, &e) != MMARR_OK)
        fail_msg("generation %llu as recorded: %s", (unsigned long long)rec.generation, e.message);
    char why[600];
    if (check_gen(f, &s->before, why, sizeof why))
        fail_msg("generation %llu as recorded: %s", (unsigned long long)rec.generation, why);
    mmarr_close(f);
}

/* ---- images ---- */

enum { C_A_PAGES, C_A_SECTORS, C_B_PREFIX, C_B_WORDS, C_B_BYTES, C_D_INDEX, CLASSES };
static const char *const class_name[CLASSES] = {"a-pages", "a-sectors", "b-prefix",
                                                "b-words", "b-bytes",   "d-index-lost"};

typedef struct tally {
    unsigned long images[KINDS][CLASSES], at_old[KINDS][CLASSES], at_new[KINDS][CLASSES];
    unsigned long slot_damaged, junk, longer, shorter, recovered;
} tally;

static int pick_class(void)
{
    const uint64_t r = rng_below(100);
    return r < 30   ? C_A_PAGES
           : r < 50 ? C_A_SECTORS
           : r < 75 ? C_B_PREFIX
           : r < 85 ? C_B_WORDS
           : r < 90 ? C_B_BYTES
                    : C_D_INDEX;
}

/* Fill the free bytes of [lo, hi) with junk. */
static void junk(const step *s, unsigned char *img, uint64_t lo, uint64_t hi)
{
    for (uint64_t o = lo; o < hi; o++)
        if (free_byte(s, o))
            img[o] = (unsigned char)rng();
}

/* Build an image of class c into img (capacity a_len + MAX_EXTRA); returns its length.
 * *expect_new: the new generation must open; *expect_slot_damaged; *expect_damaged_gen. */
static size_t make_image(const step *s, int c, unsigned char *img, int *expect_new,
                         int *expect_slot_damaged, int *expect_damaged, tally *t)
{
    const size_t cap = s->a_len + MAX_EXTRA;
    memcpy(img, s->b, cap); /* B, zero-extended */
    size_t len = s->a_len;
    unsigned char slot[SLOT_SIZE];
    memcpy(slot, s->b + s->slot_off, SLOT_SIZE);
    *expect_damaged = 0;
    if (c == C_A_PAGES || c == C_A_SECTORS) {
        const int g = c == C_A_PAGES;
        const uint64_t u = unit_size[g];
        static const unsigned percent[] = {0, 5, 30, 50, 70, 95, 100};
        const unsigned p = percent[rng_below(7)];
        const int junky = rng_below(4) == 0;
        t->junk += (unsigned long)junky;
        for (size_t i = 0; i < s->nunits[g]; i++) {
            const uint64_t at = s->units[g][i], end = at + u < s->a_len ? at + u : s->a_len;
            if (rng_below(100) < p)
                memcpy(img + at, s->a + at, end - at);
            else if (junky)
                junk(s, img, at, end);
        }
        switch (rng_below(4)) {
        case 0: len = s->b_len; break;
        case 1: len = s->a_len; break;
        case 2: len = s->b_len + rng_below(s->a_len - s->b_len + 1); break;
        default:
            len = s->a_len + 1 + rng_below(MAX_EXTRA);
            if (junky)
                junk(s, img, s->a_len, len);
            break;
        }
        t->shorter += len < s->a_len;
        t->longer += len > s->a_len;
    } else {
        for (size_t i = 0; i < s->nunits[0]; i++) {
            const uint64_t at = s->units[0][i], end = at + 512 < s->a_len ? at + 512 : s->a_len;
            memcpy(img + at, s->a + at, end - at);
        }
        const unsigned char *nw = s->a + s->slot_off;
        if (c == C_B_PREFIX) {
            const size_t k = rng_below(4) == 0 ? SLOT_SIZE : (size_t)rng_below(SLOT_SIZE);
            memcpy(slot, nw, k);
        } else if (c == C_B_WORDS) {
            for (size_t w = 0; w < SLOT_SIZE / 8; w++)
                if (rng() & 1)
                    memcpy(slot + 8 * w, nw + 8 * w, 8);
        } else if (c == C_B_BYTES) {
            for (size_t i = 0; i < SLOT_SIZE; i++)
                if (rng() & 1)
                    slot[i] = nw[i];
        } else { /* d: the new slot, the index incomplete or cut short */
            memcpy(slot, nw, SLOT_SIZE);
            *expect_damaged = 1;
            if (rng_below(3) == 0) {
                len = (size_t)(s->ioff + rng_below(s->isize));
            } else {
                const int g = (int)rng_below(2);
                const uint64_t u = unit_size[g];
                size_t dropped = 0;
                while (!dropped)
                    for (size_t i = 0; i < s->nunits[g]; i++) {
                        const uint64_t at = s->units[g][i];
                        if (at + u <= s->ioff || (rng() & 1))
                            continue;
                        const uint64_t end = at + u < s->a_len ? at + u : s->a_len;
                        memcpy(img + at, s->b + at, end - at);
                        dropped++;
                    }
            }
        }
    }
    memcpy(img + s->slot_off, slot, SLOT_SIZE);
    *expect_new = !memcmp(slot, s->a + s->slot_off, SLOT_SIZE) && !*expect_damaged;
    *expect_slot_damaged = memcmp(slot, s->a + s->slot_off, SLOT_SIZE) &&
                           memcmp(slot, s->b + s->slot_off, SLOT_SIZE);
    return len;
}

static char *keep_image(const unsigned char *img, size_t len, unsigned long n)
{
    const char *base = getenv("TMPDIR");
    char *p = malloc(512);
    snprintf(p, 512, "%s/mmarr-crash-image-%lu-%llu.mmarr", base && *base ? base : "/tmp", n,
             (unsigned long long)getpid());
    if (tu_write_file(p, img, len) != 0)
        snprintf(p, 512, "(could not be kept)");
    return p;
}

#define IMG_FAIL(...)                                                                              \
    do {                                                                                           \
        fflush(stdout);                                                                            \
        char *kept_ = keep_image(img, len, n);                                                     \
        print_error("image %lu (seed %llu), append \"%s\", class %s, kept as %s:\n", n,            \
                    (unsigned long long)seed, kind_name[s->kind], class_name[c], kept_);           \
        free(kept_);                                                                               \
        fail_msg(__VA_ARGS__);                                                                     \
    } while (0)

static void check_image(const char *path, const step *s, int c, unsigned long n, uint64_t seed,
                        unsigned char *img, tally *t)
{
    int expect_new, expect_slot_damaged, expect_damaged;
    const size_t len = make_image(s, c, img, &expect_new, &expect_slot_damaged, &expect_damaged, t);
    assert_int_equal(tu_write_file(path, img, len), 0);
    t->images[s->kind][c]++;

    mmarr_file *f;
    mmarr_error e;
    char why[600];
    if (mmarr_open(path, 0, &f, &e) != MMARR_OK)
        IMG_FAIL("open failed: %s", e.message);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    const model *m = expect_new ? &s->after : &s->before;
    if (fi.generation != m->gen)
        IMG_FAIL("TORN: opened generation %llu, expected %llu (new slot %s)",
                 (unsigned long long)fi.generation, (unsigned long long)m->gen,
                 expect_new ? "complete" : "incomplete");
    if (check_gen(f, m, why, sizeof why))
        IMG_FAIL("TORN: %s", why);
    if (fi.inactive_slot_damaged != expect_slot_damaged)
        IMG_FAIL("inactive slot damaged %d, expected %d", fi.inactive_slot_damaged,
                 expect_slot_damaged);
    if (fi.damaged_generation != (expect_damaged ? s->after.gen : 0))
        IMG_FAIL("damaged generation %llu, expected %llu",
                 (unsigned long long)fi.damaged_generation,
                 (unsigned long long)(expect_damaged ? s->after.gen : 0));
    t->slot_damaged += (unsigned long)expect_slot_damaged;
    const mmarr_err vrc = mmarr_file_verify(f, &e);
    if (expect_slot_damaged || expect_damaged) {
        if (vrc == MMARR_OK)
            IMG_FAIL("verify passed on a damaged %s", expect_damaged ? "generation" : "slot");
        if (!strstr(e.message, expect_damaged ? "is damaged, so generation" : "is damaged"))
            IMG_FAIL("verify: %s", e.message);
        for (size_t i = 0; i < fi.count; i++)
            if (mmarr_file_verify_array(f, i, &e) != MMARR_OK)
                IMG_FAIL("verify array %zu: %s", i, e.message);
    } else if (vrc != MMARR_OK) {
        IMG_FAIL("verify: %s", e.message);
    }
    const mmarr_generation rec = {fi.generation,       fi.file_size,      fi.index_offset,
                                  fi.index_size,       fi.index_checksum, fi.required_features,
                                  fi.optional_features};
    mmarr_close(f);
    if (expect_new)
        t->at_new[s->kind][c]++;
    else
        t->at_old[s->kind][c]++;

    /* the next writer: rows, an array, metadata */
    model next = *m;
    mmarr_writer_options o = NOSYNC;
    mmarr_writer *w;
    if (mmarr_writer_open_append(path, &o, &w, &e) != MMARR_OK)
        IMG_FAIL("the next writer: %s", e.message);
    op_rows(w, &next, "g", 50 + n % 7);
    op_add(w, &next, "rec", "<i8", 8, 1, 64 + n % 100, 0, 0, 0, 1000 + n, NULL);
    op_meta(w, &next, "recovered", "yes");
    check_writer(w, mmarr_writer_commit(w), "the next writer's commit");
    mmarr_writer_free(w);
    next.gen++;
    if (mmarr_open(path, MMARR_OPEN_VERIFY, &f, &e) != MMARR_OK)
        IMG_FAIL("after the next writer: %s", e.message);
    if (check_gen(f, &next, why, sizeof why))
        IMG_FAIL("after the next writer: %s", why);
    mmarr_file_get_info(f, &fi);
    if (fi.damaged_generation || fi.inactive_slot_damaged)
        IMG_FAIL("after the next writer: damaged generation %llu, slot damaged %d",
                 (unsigned long long)fi.damaged_generation, fi.inactive_slot_damaged);
    mmarr_close(f);
    /* the image's generation, recorded, is still there (rule 8) */
    if (mmarr_open_generation(path, 0, &rec, &f, &e) != MMARR_OK)
        IMG_FAIL("generation %llu as recorded, after the next writer: %s",
                 (unsigned long long)rec.generation, e.message);
    if (check_gen(f, m, why, sizeof why))
        IMG_FAIL("generation %llu as recorded, after the next writer: %s",
                 (unsigned long long)rec.generation, why);
    for (size_t i = 0; i < mmarr_file_count(f); i++)
        if (mmarr_file_verify_array(f, i, &e) != MMARR_OK)
            IMG_FAIL("generation %llu as recorded: %s", (unsigned long long)rec.generation,
                     e.message);
    mmarr_close(f);
    t->recovered++;
}

static void test_crash_images__every_state_of_an_append(void **state)
{
    const char *dir = *state;
    char *path = tu_path(dir, "chain.mmarr");
    char *ipath = tu_path(dir, "image.mmarr");
    const unsigned long images = tu_env_count("MMARR_CRASH_IMAGES", 3000);
    const uint64_t seed = tu_env_count("MMARR_CRASH_SEED", (unsigned long)time(NULL));
    rng_state = seed;
    printf("crash images: %lu images, seed %llu (MMARR_CRASH_SEED)\n", images,
           (unsigned long long)seed);
    const double t0 = tu_now();

    model m;
    make_base(path, &m);
    static step steps[KINDS];
    size_t cap = 0;
    for (int k = 0; k < KINDS; k++) {
        make_step(path, k, &m, &steps[k]);
        const step *s = &steps[k];
        if (s->a_len + MAX_EXTRA > cap)
            cap = s->a_len + MAX_EXTRA;
        printf("  append %d \"%s\": generation %llu -> %llu, slot %c, %zu -> %zu bytes, "
               "changed: %zu pages, %zu sectors (%zu bytes inside the old generation, all in "
               "growable tails)\n",
               k + 1, kind_name[k], (unsigned long long)s->before.gen,
               (unsigned long long)s->after.gen, s->slot_off == MMARR_SLOT_A_OFFSET ? 'A' : 'B',
               s->b_len, s->a_len, s->nunits[1], s->nunits[0], s->tail_changed);
    }
    unsigned char *img = malloc(cap);
    assert_non_null(img);
    tally t;
    memset(&t, 0, sizeof t);
    for (unsigned long n = 0; n < images; n++) {
        const int k = (int)(n % KINDS), c = pick_class();
        check_image(ipath, &steps[k], c, n, seed, img, &t);
    }
    const double secs = tu_now() - t0;

    printf("  %-18s", "images by class:");
    for (int c = 0; c < CLASSES; c++)
        printf(" %13s", class_name[c]);
    printf("\n");
    unsigned long total_old = 0, total_new = 0;
    for (int k = 0; k < KINDS; k++) {
        printf("  %-18s", kind_name[k]);
        for (int c = 0; c < CLASSES; c++) {
            char cell[32];
            snprintf(cell, sizeof cell, "%lu (%lu new)", t.images[k][c], t.at_new[k][c]);
            printf(" %13s", cell);
            total_old += t.at_old[k][c];
            total_new += t.at_new[k][c];
        }
        printf("\n");
    }
    printf("  %lu images in %.1f s: %lu opened at the old generation, %lu at the new one; "
           "0 torn\n",
           images, secs, total_old, total_new);
    printf("  %lu with a torn (damaged) inactive slot, %lu with junk where no generation "
           "reads, %lu shorter and %lu longer than the completed append; the next writer "
           "recovered all %lu\n",
           t.slot_damaged, t.junk, t.shorter, t.longer, t.recovered);
    assert_int_equal(t.recovered, images);
    if (images >= 200) /* every class seen, both outcomes */
        for (int c = 0; c < CLASSES; c++) {
            unsigned long sum = 0;
            for (int k = 0; k < KINDS; k++)
                sum += t.images[k][c];
            assert_true(sum > 0);
        }
    if (images >= 200) {
        assert_true(total_old > 0);
        assert_true(total_new > 0);
    }
    for (int k = 0; k < KINDS; k++) {
        free(steps[k].a);
        free(steps[k].b);
        free(steps[k].units[0]);
        free(steps[k].units[1]);
    }
    free(img);
    free(ipath);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_crash_images__every_state_of_an_append, tu_setup_dir,
                                        tu_teardown_dir),
    };
    return cmocka_run_group_tests_name("crash_images", tests, NULL, NULL);
}
