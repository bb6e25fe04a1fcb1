/* SPDX-License-Identifier: MIT */
/*
 * test_corruption.c — the corruption matrix (issue 6): small valid files (golden vectors, and
 * one with cold arrays written here) damaged in every possible single way, each case opened
 * from an exact-size heap copy through mmarr_open_buffer (so ASan sees any read past the end).
 *
 *  1. truncations: every length 0..size-1 is refused, MMARR_E_BADMAGIC for 0 bytes and
 *     MMARR_E_TRUNCATED (error offset = the length) for the others;
 *  2. raw bit flips in the superblock and the index (checksums left as they are), with the
 *     outcome predicted per byte from the spec:
 *       magic -> BADMAGIC; format_major -> VERSION; any other prologue byte -> CHECKSUM;
 *       active slot -> falls back to the other slot if it is valid (spec.md §4.2), else
 *       CORRUPT; inactive slot -> opens unchanged, reports the damaged slot, verify says
 *       CHECKSUM; bytes 320..511 (reserved) -> opens unchanged, verifies; active index ->
 *       CHECKSUM, or with an older valid generation in the other slot that one (spec.md
 *       §4.4: a damaged newest generation gives way; verify reports it); a tail cut short
 *       likewise; an index no slot refers to (superseded by a rehash) and gaps between padded
 *       ranges -> opens unchanged, verifies (spec.md §9.1: no meaning);
 *  3. "resealed" bit flips: the same bytes flipped and the checksums that cover them
 *     recomputed, so the structural validation alone must decide. Predicted per field:
 *     prologue magic/major/alignment refused (BADMAGIC/VERSION/CORRUPT), minor and reserved
 *     ignored; slot reserved, optional features and state flags accepted (stale bit toggles
 *     checksums_stale), unknown required features UNSUPPORTED, file_size grown TRUNCATED and
 *     shrunk CORRUPT, index range CORRUPT or CHECKSUM, index_checksum CHECKSUM (each of
 *     these opens the older generation instead when the other slot holds a valid one),
 *     generation 0 refused or fallen back; an empty inactive slot made "valid" by a flip is
 *     ignored unless the flip is in its generation (then CORRUPT for the active's generation,
 *     and the active generation for a newer one); index reserved fields, gaps and unused
 *     heap bytes ignored (the file describes exactly the same arrays), entry and chunk
 *     checksum fields accepted but caught by verification, the cold level informational;
 *     every other index byte either refused with CORRUPT/RANGE/UNSUPPORTED and a message, or
 *     accepted as a file whose views all lie inside the buffer;
 *  4. data bit flips: every bit of every array's bytes: the file opens (data is checked on
 *     demand, spec.md §12) and verification reports MMARR_E_CHECKSUM for that array; in cold
 *     arrays every flip in a zstd frame makes the read fail or leaves the decompressed bytes
 *     unchanged (never wrong data), and verification agrees. Flips in padding are caught by
 *     mmarr_file_verify, flips in gaps between padded ranges are ignored (no meaning,
 *     spec.md §9.1); both are sampled in long runs of zeros (64 bytes at each end of a run,
 *     then every 61st byte).
 * Every refusal must carry a non-empty message. The cases of each category are counted and
 * printed; the total must reach 100,000.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "corruption_image.h"
#include "mmarr.h"
#include "mmarr_format.h"
#include "testutil.h"

/* ---- case categories (counted, printed) ---- */

#define CATEGORIES(X)                                                                              \
    X(TRUNCATION, "truncation refused (BADMAGIC / TRUNCATED)")                                     \
    X(RAW_MAGIC, "raw flip, magic: BADMAGIC")                                                      \
    X(RAW_MAJOR, "raw flip, format_major: VERSION")                                                \
    X(RAW_PROLOGUE, "raw flip, rest of prologue: CHECKSUM")                                        \
    X(RAW_SLOT_CORRUPT, "raw flip, active slot, no other: CORRUPT")                                \
    X(RAW_SLOT_FALLBACK, "raw flip, active slot: fell back to the other slot")                     \
    X(RAW_SLOT_INACTIVE, "raw flip, inactive slot: opens, damage reported")                        \
    X(RAW_SB_RESERVED, "raw flip, superblock bytes 320..511: ignored")                             \
    X(RAW_INDEX, "raw flip, active index: CHECKSUM, or the older generation")                      \
    X(RAW_OLD_INDEX, "raw flip, superseded index: ignored")                                        \
    X(RAW_GAP, "raw flip, gap between arrays (sampled): ignored")                                  \
    X(DATA_HOT, "data flip, hot array: verify CHECKSUM")                                           \
    X(DATA_PAD, "data flip, padding (sampled): verify CHECKSUM")                                   \
    X(DATA_COLD_CAUGHT, "data flip, cold frame: read/verify error")                                \
    X(DATA_COLD_SAME, "data flip, cold frame: same bytes decoded")                                 \
    X(RS_PRO_REFUSED, "resealed flip, prologue magic/major/alignment: refused")                    \
    X(RS_PRO_IGNORED, "resealed flip, prologue minor/reserved: accepted, unchanged")               \
    X(RS_SLOT_REFUSED, "resealed flip, slot: refused with the predicted code")                     \
    X(RS_SLOT_ACCEPTED, "resealed flip, slot: accepted as predicted")                              \
    X(RS_SLOT_OTHER, "resealed flip, valid inactive slot: any clean outcome")                      \
    X(RS_IDX_IGNORED, "resealed flip, index reserved/gap/unused heap: unchanged")                  \
    X(RS_IDX_SUM, "resealed flip, entry/chunk checksum field: verify CHECKSUM")                    \
    X(RS_IDX_LEVEL, "resealed flip, cold level: informational")                                    \
    X(RS_IDX_REFUSED, "resealed flip, other index byte: refused")                                  \
    X(RS_IDX_ACCEPTED, "resealed flip, other index byte: accepted, views in bounds")

#define X_ENUM(id, text) C_##id,
enum category { CATEGORIES(X_ENUM) C_COUNT };
#undef X_ENUM
#define X_TEXT(id, text) text,
static const char *const category_text[] = {CATEGORIES(X_TEXT)};
#undef X_TEXT
static unsigned long counts[C_COUNT];

/* ---- the matrix ---- */

static void check_truncations(const image *im)
{
    char where[128];
    for (size_t len = 0; len < im->size; len++) {
        snprintf(where, sizeof where, "%s truncated to %zu", im->name, len);
        unsigned char *b = malloc(len ? len : 1);
        assert_non_null(b);
        memcpy(b, im->orig, len);
        mmarr_file *f;
        mmarr_error e;
        mmarr_err rc = open_buf(b, len, 0, &f, &e, where);
        if (rc == MMARR_OK) { /* the newest generation's tail cut: the older one (§4.4) */
            mmarr_file_info fi;
            mmarr_file_get_info(f, &fi);
            if (!im->other_valid || !fi.damaged_generation || describe(f, "") != im->fallback_desc)
                fail_msg("%s: opens, but not at the older generation", where);
            mmarr_close(f);
            free(b);
            counts[C_TRUNCATION]++;
            continue;
        }
        assert_code_where(where, rc, len ? MMARR_E_TRUNCATED : MMARR_E_BADMAGIC, e.message);
        if (len)
            assert_int_equal(e.offset, len);
        free(b);
        counts[C_TRUNCATION]++;
    }
}

/* The description of the intact file, with the fields in `skip` left out. */
static uint64_t reference(const image *im, const char *skip)
{
    if (!*skip)
        return im->desc;
    mmarr_file *g;
    assert_int_equal(mmarr_open_buffer(im->orig, im->size, 0, &g, NULL), MMARR_OK);
    const uint64_t ref = describe(g, skip);
    mmarr_close(g);
    return ref;
}

/* After a flip the file must open unchanged (but for `skip`) and verify as `want_verify`. */
static void expect_unchanged(const image *im, const unsigned char *b, const char *skip,
                             int inactive_damaged, mmarr_err want_verify, const char *where)
{
    mmarr_file *f;
    mmarr_error e;
    assert_code_where(where, open_buf(b, im->size, 0, &f, &e, where), MMARR_OK, e.message);
    if (describe(f, skip) != reference(im, skip))
        fail_msg("%s: the file opens but describes something else", where);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    assert_int_equal(fi.inactive_slot_damaged, inactive_damaged);
    assert_code_where(where, mmarr_file_verify(f, &e), want_verify, e.message);
    mmarr_close(f);
}

/* A resealed slot that makes the newest generation unreadable (spec.md §4.4): refused with
 * `want` when no older generation is valid; else the file opens at the older one, describes
 * it (`older_desc`), says which generation was lost, and verify reports it. */
static void refused_or_older(const image *im, const unsigned char *b, mmarr_err want, int older,
                             uint64_t older_desc, const char *where)
{
    mmarr_file *f;
    mmarr_error e;
    mmarr_err rc = open_buf(b, im->size, 0, &f, &e, where);
    if (!older ||
        (want != MMARR_E_CORRUPT && want != MMARR_E_CHECKSUM && want != MMARR_E_TRUNCATED)) {
        assert_code_where(where, rc, want, e.message);
        counts[C_RS_SLOT_REFUSED]++;
        return;
    }
    assert_code_where(where, rc, MMARR_OK, e.message);
    mmarr_file_info fi;
    mmarr_file_get_info(f, &fi);
    if (!fi.damaged_generation || describe(f, "") != older_desc)
        fail_msg("%s: does not open at the older generation", where);
    assert_true(mmarr_file_verify(f, &e) != MMARR_OK);
    assert_non_null(strstr(e.message, "is damaged, so generation"));
    mmarr_close(f);
    counts[C_RS_SLOT_ACCEPTED]++;
}

static void check_raw_flips(const image *im, unsigned char *b)
{
    char where[128];
    for (size_t i = 0; i < im->size; i++) {
        const enum role r = (enum role)im->role[i];
        if (r >= R_HOT || r == R_GAP)
            continue; /* data and gaps: check_data_flips */
        for (int bit = 0; bit < 8; bit++) {
            snprintf(where, sizeof where, "%s: raw flip of bit %d at byte %zu (role %d)",
                     im->name, bit, i, (int)r);
            memcpy(b, im->orig, im->size);
            b[i] ^= (unsigned char)(1u << bit);
            mmarr_file *f = NULL;
            mmarr_error e;
            switch (r) {
            case R_MAGIC:
                assert_code_where(where, open_buf(b, im->size, 0, &f, &e, where), MMARR_E_BADMAGIC,
                                  e.message);
                counts[C_RAW_MAGIC]++;
                break;
            case R_MAJOR:
                assert_code_where(where, open_buf(b, im->size, 0, &f, &e, where), MMARR_E_VERSION,
                                  e.message);
                counts[C_RAW_MAJOR]++;
                break;
            case R_MINOR: case R_ALIGN: case R_PRO_RESERVED: case R_PRO_CHECKSUM:
                assert_code_where(where, open_buf(b, im->size, 0, &f, &e, where), MMARR_E_CHECKSUM,
                                  e.message);
                assert_true(e.offset == 56);
                counts[C_RAW_PROLOGUE]++;
                break;
            case R_SLOT_ACTIVE:
                if (im->other_valid) {
                    assert_code_where(where, open_buf(b, im->size, 0, &f, &e, where), MMARR_OK,
                                      e.message);
                    assert_true(describe(f, "") == im->fallback_desc);
                    mmarr_file_info fi;
                    mmarr_file_get_info(f, &fi);
                    assert_int_equal(fi.inactive_slot_damaged, 1);
                    assert_code_where(where, mmarr_file_verify(f, &e), MMARR_E_CHECKSUM, e.message);
                    mmarr_close(f);
                    counts[C_RAW_SLOT_FALLBACK]++;
                } else {
                    assert_code_where(where, open_buf(b, im->size, 0, &f, &e, where),
                                      MMARR_E_CORRUPT, e.message);
                    counts[C_RAW_SLOT_CORRUPT]++;
                }
                break;
            case R_SLOT_INACTIVE:
                expect_unchanged(im, b, "", 1, MMARR_E_CHECKSUM, where);
                counts[C_RAW_SLOT_INACTIVE]++;
                break;
            case R_SB_RESERVED:
                expect_unchanged(im, b, "", 0, MMARR_OK, where);
                counts[C_RAW_SB_RESERVED]++;
                break;
            case R_OLD_INDEX:
                expect_unchanged(im, b, "", 0, MMARR_OK, where);
                counts[C_RAW_OLD_INDEX]++;
                break;
            default: { /* the active index: refused, or the older generation (§4.4) */
                mmarr_err rc = open_buf(b, im->size, 0, &f, &e, where);
                if (rc == MMARR_OK && im->other_valid) {
                    mmarr_file_info fi;
                    mmarr_file_get_info(f, &fi);
                    if (!fi.damaged_generation || describe(f, "") != im->fallback_desc)
                        fail_msg("%s: opens, but not at the older generation", where);
                    mmarr_close(f);
                } else {
                    assert_code_where(where, rc, MMARR_E_CHECKSUM, e.message);
                }
                counts[C_RAW_INDEX]++;
                break;
            }
            }
        }
    }
}

/* Resealed flips in the prologue and the slots: only the flipped structure's checksum is
 * recomputed, so each field meets the validator alone. */
static void check_resealed_superblock(const image *im, unsigned char *b)
{
    char where[128];
    const size_t act = im->active ? MMARR_SLOT_B_OFFSET : MMARR_SLOT_A_OFFSET;
    const size_t oth = im->active ? MMARR_SLOT_A_OFFSET : MMARR_SLOT_B_OFFSET;
    const uint64_t other_gen = get64(im->orig + oth);
    for (size_t i = 0; i < 320; i++) {
        const enum role r = (enum role)im->role[i];
        const size_t fo = r == R_SLOT_ACTIVE ? i - act : r == R_SLOT_INACTIVE ? i - oth : 0;
        if (r == R_PRO_CHECKSUM || ((r == R_SLOT_ACTIVE || r == R_SLOT_INACTIVE) && fo >= 120))
            continue; /* resealing rewrites these bytes */
        for (int bit = 0; bit < 8; bit++) {
            snprintf(where, sizeof where, "%s: resealed flip of bit %d at byte %zu (role %d)",
                     im->name, bit, i, (int)r);
            memcpy(b, im->orig, im->size);
            b[i] ^= (unsigned char)(1u << bit);
            mmarr_file *f = NULL;
            mmarr_error e;
            mmarr_err rc;
            if (r == R_SLOT_ACTIVE || r == R_SLOT_INACTIVE)
                seal_slot(b + (r == R_SLOT_ACTIVE ? act : oth));
            else
                seal_prologue(b);
            switch (r) {
            case R_MAGIC:
                assert_code_where(where, open_buf(b, im->size, 0, &f, &e, where), MMARR_E_BADMAGIC,
                                  e.message);
                counts[C_RS_PRO_REFUSED]++;
                break;
            case R_MAJOR:
                assert_code_where(where, open_buf(b, im->size, 0, &f, &e, where), MMARR_E_VERSION,
                                  e.message);
                counts[C_RS_PRO_REFUSED]++;
                break;
            case R_ALIGN: /* one flipped bit never turns a power of two into another */
                assert_code_where(where, open_buf(b, im->size, 0, &f, &e, where), MMARR_E_CORRUPT,
                                  e.message);
                assert_true(e.offset == 16);
                counts[C_RS_PRO_REFUSED]++;
                break;
            case R_MINOR: /* any minor version of major 1 is read (spec.md §13) */
                expect_unchanged(im, b, "m", 0, MMARR_OK, where);
                counts[C_RS_PRO_IGNORED]++;
                break;
            case R_PRO_RESERVED:
                expect_unchanged(im, b, "", 0, MMARR_OK, where);
                counts[C_RS_PRO_IGNORED]++;
                break;
            case R_SLOT_ACTIVE: {
                const uint64_t gen = get64(b + act);
                if (fo < 8 && gen == 0) { /* generation 0: not a valid slot */
                    rc = open_buf(b, im->size, 0, &f, &e, where);
                    if (im->other_valid) {
                        assert_code_where(where, rc, MMARR_OK, e.message);
                        assert_true(describe(f, "") == im->fallback_desc);
                        mmarr_close(f);
                        counts[C_RS_SLOT_ACCEPTED]++;
                    } else {
                        assert_code_where(where, rc, MMARR_E_CORRUPT, e.message);
                        counts[C_RS_SLOT_REFUSED]++;
                    }
                } else if (fo < 8) {
                    if (im->other_valid && gen == other_gen) {
                        assert_code_where(where, open_buf(b, im->size, 0, &f, &e, where),
                                          MMARR_E_CORRUPT, e.message);
                        counts[C_RS_SLOT_REFUSED]++;
                    } else if (im->other_valid && gen < other_gen) {
                        assert_code_where(where, open_buf(b, im->size, 0, &f, &e, where), MMARR_OK,
                                          e.message);
                        assert_true(describe(f, "") == im->fallback_desc);
                        mmarr_close(f);
                        counts[C_RS_SLOT_ACCEPTED]++;
                    } else {
                        expect_unchanged(im, b, "g", 0, MMARR_OK, where);
                        counts[C_RS_SLOT_ACCEPTED]++;
                    }
                } else if (fo < 16) { /* file_size */
                    const int grown = get64(b + act + 8) > get64(im->orig + act + 8);
                    refused_or_older(im, b, grown ? MMARR_E_TRUNCATED : MMARR_E_CORRUPT,
                                     im->other_valid, im->fallback_desc, where);
                } else if (fo < 32) { /* index range: out of bounds, or other bytes */
                    rc = open_buf(b, im->size, 0, &f, &e, where);
                    mmarr_close(f);
                    refused_or_older(im, b, rc == MMARR_OK ? MMARR_E_CORRUPT : rc, im->other_valid,
                                     im->fallback_desc, where);
                } else if (fo < 40) { /* index_checksum */
                    refused_or_older(im, b, MMARR_E_CHECKSUM, im->other_valid, im->fallback_desc,
                                     where);
                } else if (fo < 48) { /* required features */
                    rc = open_buf(b, im->size, 0, &f, &e, where);
                    if (fo == 40 && bit == 0 && im->has_cold) { /* COLD_ZSTD: needed */
                        mmarr_close(f);
                        refused_or_older(im, b, MMARR_E_CORRUPT, im->other_valid, im->fallback_desc,
                                         where);
                    } else if (fo == 40 && bit == 0) { /* not needed without cold entries */
                        assert_code_where(where, rc, MMARR_OK, e.message);
                        mmarr_close(f);
                        counts[C_RS_SLOT_ACCEPTED]++;
                    } else if (fo == 40 && bit == 1 && !im->has_growable) { /* GROWABLE (1.2)
                                                     set without a growable section */
                        mmarr_close(f);
                        refused_or_older(im, b, MMARR_E_CORRUPT, im->other_valid, im->fallback_desc,
                                         where);
                    } else if (fo == 40 && bit == 1) { /* cleared: the growable section is
                                                        * reserved bytes, and the entries'
                                                        * checksums no longer match; cold
                                                        * frames past the first extent are
                                                        * outside their array */
                        if (rc != MMARR_OK) {
                            refused_or_older(im, b, MMARR_E_CORRUPT, im->other_valid,
                                             im->fallback_desc, where);
                        } else {
                            mmarr_file_info fi;
                            mmarr_file_get_info(f, &fi);
                            const mmarr_err vrc = mmarr_file_verify(f, &e);
                            /* the newest generation, or an older one with its damage told */
                            assert_true(vrc == MMARR_E_CHECKSUM ||
                                        (fi.damaged_generation && vrc != MMARR_OK));
                            mmarr_close(f);
                            counts[C_RS_SLOT_ACCEPTED]++;
                        }
                    } else {
                        assert_code_where(where, rc, MMARR_E_UNSUPPORTED, e.message);
                        counts[C_RS_SLOT_REFUSED]++;
                    }
                } else if (fo < 56) { /* optional features: unknown bits ignored */
                    expect_unchanged(im, b, "o", 0, MMARR_OK, where);
                    counts[C_RS_SLOT_ACCEPTED]++;
                } else if (fo < 64) { /* state flags: bit 0 is CHECKSUMS_STALE */
                    expect_unchanged(im, b, fo == 56 && bit == 0 ? "s" : "", 0, MMARR_OK, where);
                    counts[C_RS_SLOT_ACCEPTED]++;
                } else { /* reserved */
                    expect_unchanged(im, b, "", 0, MMARR_OK, where);
                    counts[C_RS_SLOT_ACCEPTED]++;
                }
                break;
            }
            case R_SLOT_INACTIVE:
                if (im->other_empty) {
                    /* a "valid" slot with generation 0 is ignored; a generation >= 1 makes it
                     * compete with the active slot, and its zero fields are refused */
                    if (fo < 8) { /* the same generation: two different slots; a newer one
                                   * that cannot load gives way to the active (§4.4); an older
                                   * one is never looked at */
                        const uint64_t gen = get64(b + oth), cur = get64(im->orig + act);
                        if (gen < cur) {
                            expect_unchanged(im, b, "", 0, MMARR_OK, where);
                            counts[C_RS_SLOT_ACCEPTED]++;
                        } else {
                            refused_or_older(im, b, MMARR_E_CORRUPT, gen > cur, im->desc, where);
                        }
                    } else {
                        expect_unchanged(im, b, "", 1, MMARR_E_CHECKSUM, where);
                        counts[C_RS_SLOT_ACCEPTED]++;
                    }
                } else {
                    rc = open_buf(b, im->size, 0, &f, &e, where);
                    if (rc == MMARR_OK) {
                        exercise(f, b, im->size);
                        mmarr_close(f);
                    }
                    counts[C_RS_SLOT_OTHER]++;
                }
                break;
            default: /* R_SB_RESERVED is beyond 320 */
                fail_msg("%s: unexpected role", where);
            }
        }
    }
}

/* Resealed flips in the index: the index checksum and the active slot are recomputed. */
static void check_resealed_index(const image *im, unsigned char *b)
{
    char where[128];
    const size_t act = im->active ? MMARR_SLOT_B_OFFSET : MMARR_SLOT_A_OFFSET;
    const uint64_t io = get64(im->orig + act + 16), is = get64(im->orig + act + 24);
    for (uint64_t i = io; i < io + is; i++) {
        const enum role r = (enum role)im->role[i];
        for (int bit = 0; bit < 8; bit++) {
            snprintf(where, sizeof where, "%s: resealed flip of bit %d at index byte %llu (role %d)",
                     im->name, bit, (unsigned long long)(i - io), (int)r);
            memcpy(b, im->orig, im->size);
            b[i] ^= (unsigned char)(1u << bit);
            put64(b + act + 32, XXH3_64bits(b + io, (size_t)is));
            seal_slot(b + act);
            mmarr_file *f = NULL;
            mmarr_error e;
            mmarr_err rc;
            switch (r) {
            case R_IDX_IGNORED:
                expect_unchanged(im, b, "", 0, MMARR_OK, where);
                counts[C_RS_IDX_IGNORED]++;
                break;
            case R_IDX_LEVEL:
                expect_unchanged(im, b, "l", 0, MMARR_OK, where);
                counts[C_RS_IDX_LEVEL]++;
                break;
            case R_IDX_ENTRY_SUM:
            case R_IDX_CHUNK_SUM: {
                assert_code_where(where, open_buf(b, im->size, 0, &f, &e, where), MMARR_OK,
                                  e.message);
                const size_t owner = im->owner[i];
                assert_true(owner < im->count);
                rc = mmarr_file_verify_array(f, owner, &e);
                assert_code_where(where, rc, im->stale ? MMARR_E_STALE : MMARR_E_CHECKSUM,
                                  e.message);
                assert_code_where(where, mmarr_file_verify(f, &e), rc, e.message);
                if (r == R_IDX_CHUNK_SUM) { /* reads check chunks too */
                    mmarr_array_info a;
                    assert_int_equal(mmarr_file_array(f, owner, &a, NULL), MMARR_OK);
                    unsigned char *dst = malloc(a.nbytes);
                    assert_non_null(dst);
                    assert_code_where(where, mmarr_file_read(f, owner, 0, dst, a.nbytes, &e),
                                      MMARR_E_CHECKSUM, e.message);
                    free(dst);
                }
                mmarr_close(f);
                counts[C_RS_IDX_SUM]++;
                break;
            }
            default:
                rc = open_buf(b, im->size, 0, &f, &e, where);
                if (rc == MMARR_OK) {
                    exercise(f, b, im->size);
                    mmarr_close(f);
                    counts[C_RS_IDX_ACCEPTED]++;
                } else {
                    if (rc != MMARR_E_CORRUPT && rc != MMARR_E_RANGE && rc != MMARR_E_UNSUPPORTED)
                        assert_code_where(where, rc, MMARR_E_CORRUPT, e.message);
                    counts[C_RS_IDX_REFUSED]++;
                }
                break;
            }
        }
    }
}

/* Padding and gaps run to thousands of bytes of zeros in page-aligned files: their bytes
 * are sampled (the 64 at each end of a run, then every 61st), data bytes never are. */
static int sampled(const image *im, size_t i)
{
    size_t beg = i, end = i;
    while (beg > 0 && im->role[beg - 1] == im->role[i] && i - beg < 64)
        beg--;
    while (end + 1 < im->size && im->role[end + 1] == im->role[i] && end - i < 64)
        end++;
    return i - beg < 64 || end - i < 64 || i % 61 == 0;
}

/* Data, padding and gap bytes: the file opens (data is checked on demand); verification
 * finds every flip in an array or its padding; cold reads never return wrong bytes. */
static void check_data_flips(const image *im, unsigned char *b)
{
    char where[128];
    memcpy(b, im->orig, im->size);
    mmarr_file *ref;
    mmarr_error e;
    assert_int_equal(open_buf(im->orig, im->size, 0, &ref, &e, im->name), MMARR_OK);
    unsigned char **want = calloc(im->count + 1, sizeof *want);
    assert_non_null(want);
    for (size_t i = 0; i < im->count; i++) {
        mmarr_array_info a;
        assert_int_equal(mmarr_file_array(ref, i, &a, NULL), MMARR_OK);
        want[i] = malloc(a.nbytes + 1);
        assert_non_null(want[i]);
        assert_int_equal(mmarr_file_read(ref, i, 0, want[i], a.nbytes, NULL), MMARR_OK);
    }
    for (size_t i = 0; i < im->size; i++) {
        const enum role r = (enum role)im->role[i];
        if (r != R_HOT && r != R_PAD && r != R_COLD && r != R_GAP)
            continue;
        if ((r == R_PAD || r == R_GAP) && !sampled(im, i))
            continue;
        const size_t owner = im->owner[i];
        for (int bit = 0; bit < 8; bit++) {
            snprintf(where, sizeof where, "%s: data flip of bit %d at byte %zu (role %d)",
                     im->name, bit, i, (int)r);
            b[i] ^= (unsigned char)(1u << bit);
            mmarr_file *f;
            assert_code_where(where, open_buf(b, im->size, 0, &f, &e, where), MMARR_OK, e.message);
            if (r == R_GAP) {
                assert_code_where(where, mmarr_file_verify(f, &e), MMARR_OK, e.message);
                counts[C_RAW_GAP]++;
            } else if (r == R_HOT) {
                const mmarr_err want_rc = im->stale ? MMARR_E_STALE : MMARR_E_CHECKSUM;
                assert_code_where(where, mmarr_file_verify_array(f, owner, &e), want_rc, e.message);
                assert_code_where(where, mmarr_file_verify(f, &e), want_rc, e.message);
                counts[C_DATA_HOT]++;
            } else if (r == R_PAD) {
                assert_code_where(where, mmarr_file_verify_array(f, owner, &e), MMARR_OK,
                                  e.message);
                assert_code_where(where, mmarr_file_verify(f, &e), MMARR_E_CHECKSUM, e.message);
                assert_true(e.offset == i);
                counts[C_DATA_PAD]++;
            } else {
                mmarr_array_info a;
                assert_int_equal(mmarr_file_array(f, owner, &a, NULL), MMARR_OK);
                unsigned char *got = malloc(a.nbytes + 1);
                assert_non_null(got);
                const mmarr_err rrc = mmarr_file_read(f, owner, 0, got, a.nbytes, &e);
                const int same = rrc == MMARR_OK && memcmp(got, want[owner], a.nbytes) == 0;
                if (rrc == MMARR_OK && !same)
                    fail_msg("%s: a cold read returned wrong bytes", where);
                if (rrc != MMARR_OK)
                    assert_true(rrc == MMARR_E_CHECKSUM || rrc == MMARR_E_CORRUPT);
                const mmarr_err vrc = mmarr_file_verify_array(f, owner, &e);
                assert_code_where(where, vrc, same ? MMARR_OK : rrc, e.message);
                /* without chunk checks a read may return damaged bytes, but verify finds
                 * them; and it never crashes */
                mmarr_file *g;
                assert_code_where(where,
                                  open_buf(b, im->size, MMARR_OPEN_NO_CHUNK_VERIFY, &g, &e, where),
                                  MMARR_OK, e.message);
                const mmarr_err nrc = mmarr_file_read(g, owner, 0, got, a.nbytes, &e);
                if (nrc == MMARR_OK && memcmp(got, want[owner], a.nbytes) != 0)
                    assert_true(mmarr_file_verify_array(g, owner, NULL) != MMARR_OK);
                mmarr_close(g);
                free(got);
                counts[same ? C_DATA_COLD_SAME : C_DATA_COLD_CAUGHT]++;
            }
            mmarr_close(f);
            b[i] ^= (unsigned char)(1u << bit);
        }
    }
    for (size_t i = 0; i < im->count; i++)
        free(want[i]);
    free(want);
    mmarr_close(ref);
}


static void run_image(image *im)
{
    unsigned char *b = malloc(im->size);
    assert_non_null(b);
    check_truncations(im);
    check_raw_flips(im, b);
    check_resealed_superblock(im, b);
    check_resealed_index(im, b);
    check_data_flips(im, b);
    free(b);
    image_free(im);
}

#define IMAGE_TEST(id, golden)                                                               \
    static void test_corruption__##id(void **state)                                          \
    {                                                                                        \
        (void)state;                                                                         \
        image im;                                                                            \
        load_golden(&im, golden);                                                            \
        run_image(&im);                                                                      \
    }
IMAGE_TEST(single_f4, "single_f4")          /* one page-aligned array */
IMAGE_TEST(base_small, "base_small")        /* packed arrays, metadata */
IMAGE_TEST(metadata, "metadata")            /* file and array metadata, non-ASCII */
IMAGE_TEST(gen2_slot_b, "gen2_slot_b")      /* both slots valid, a superseded index */
IMAGE_TEST(packed_mixed, "packed_mixed")    /* packed and paged arrays, padding, a 2-page array */
IMAGE_TEST(zero_d_and_empty, "zero_d_and_empty") /* 0-d, empty and 64-d arrays */
IMAGE_TEST(struct_complex, "struct_complex")     /* structured dtypes */
IMAGE_TEST(growable_basic, "growable_basic")     /* 1.2: a growable array, its blocks */
IMAGE_TEST(growable_grown, "growable_grown")     /* 1.2: rows appended in a 2nd generation */
IMAGE_TEST(growable_cold_grown, "growable_cold_grown")     /* 1.2: cold, frames in 2 extents */
IMAGE_TEST(growable_cold_extents, "growable_cold_extents") /* packed, gaps, index between */

static void test_corruption__cold(void **state)
{
    (void)state;
    image im;
    make_cold(&im);
    run_image(&im);
}

/* Runs last: print the counts and check that every category was exercised. */
static void test_corruption__totals(void **state)
{
    (void)state;
    unsigned long total = 0;
    printf("corruption matrix:\n");
    for (int c = 0; c < C_COUNT; c++) {
        printf("  %9lu  %s\n", counts[c], category_text[c]);
        total += counts[c];
    }
    printf("  %9lu  cases in total, no crash\n", total);
    for (int c = 0; c < C_COUNT; c++)
        if (c != C_RAW_GAP && c != C_DATA_COLD_SAME && c != C_RS_SLOT_OTHER)
            assert_true(counts[c] > 0);
    assert_true(total >= 100000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corruption__single_f4),
        cmocka_unit_test(test_corruption__base_small),
        cmocka_unit_test(test_corruption__metadata),
        cmocka_unit_test(test_corruption__gen2_slot_b),
        cmocka_unit_test(test_corruption__packed_mixed),
        cmocka_unit_test(test_corruption__zero_d_and_empty),
        cmocka_unit_test(test_corruption__struct_complex),
        cmocka_unit_test(test_corruption__growable_basic),
        cmocka_unit_test(test_corruption__growable_grown),
        cmocka_unit_test(test_corruption__growable_cold_grown),
        cmocka_unit_test(test_corruption__growable_cold_extents),
        cmocka_unit_test(test_corruption__cold),
        cmocka_unit_test(test_corruption__totals),
    };
    return cmocka_run_group_tests_name("corruption", tests, NULL, NULL);
}
