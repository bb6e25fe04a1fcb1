/* SPDX-License-Identifier: MIT */
/*
 * info_json.c — mmarr-info --json: exactly one JSON document on stdout, printed from the
 * same structs as the text output (the schema is in mmarr-info.1.md; keys are API).
 */
#include "info.h"
#include "json.h"
#include "values.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void j_verify_summary(json_obj *w, const vsummary *s)
{
    json_key(w, "verify");
    json_obj v = {0};
    putchar('{');
    json_bool(&v, "ok", !info_verify_failed(s));
    json_u64(&v, "arrays_checked", s->checked);
    for (int st = 0; st < V_NSTATUS; st++) {
        char key[32];
        snprintf(key, sizeof key, "arrays_%s", info_vstatus_name[st]);
        json_u64(&v, key, s->count[st]);
    }
    json_bool(&v, "inactive_slot_damaged", s->slot_damaged);
    json_u64(&v, "bytes_hashed", s->bytes_hashed);
    json_key(&v, "seconds");
    printf("%.6f", s->seconds);
    putchar('}');
}

static void j_meta_object(json_obj *w, const char *key, mmarr_file *f, size_t index, size_t n)
{
    json_key(w, key);
    json_obj m = {0};
    putchar('{');
    for (size_t i = 0; i < n; i++) {
        const char *k, *v;
        if (info_meta(f, index, i, &k, &v) != MMARR_OK)
            break;
        json_str(&m, k, v);
    }
    putchar('}');
}

static void j_file_head(json_obj *w, mmarr_file *f, const mmarr_file_info *fi)
{
    char ver[32], hex[17], id[INFO_IDENTITY_BUF];
    snprintf(ver, sizeof ver, "%u.%u", fi->format_major, fi->format_minor);
    json_u64(w, "schema_version", 1);
    json_str(w, "file", fi->path);
    json_str(w, "format_version", ver);
    json_u64(w, "format_major", fi->format_major);
    json_u64(w, "format_minor", fi->format_minor);
    json_u64(w, "file_size", fi->file_size);
    json_u64(w, "alignment", fi->alignment);
    json_u64(w, "generation", fi->generation);
    json_u64(w, "index_offset", fi->index_offset);
    json_u64(w, "index_size", fi->index_size);
    snprintf(hex, sizeof hex, "%016" PRIx64, fi->index_checksum);
    json_str(w, "index_checksum", hex);
    json_str(w, "identity", info_identity(fi, id));
    json_u64(w, "required_features", fi->required_features);
    json_u64(w, "optional_features", fi->optional_features);
    json_bool(w, "checksums_stale", fi->checksums_stale);
    json_bool(w, "inactive_slot_damaged", fi->inactive_slot_damaged);
    json_u64(w, "damaged_generation", fi->damaged_generation);
    const uint64_t live = info_live_bytes(f, fi);
    json_u64(w, "live_bytes", live);
    json_u64(w, "dead_bytes", fi->file_size - live);
    json_u64(w, "array_count", fi->count);
    static const char *const kinds[] = {"unknown", "tmpfs_small_pages", "tmpfs_huge_pages",
                                        "page_cache"};
    mmarr_pages_info pg;
    if (mmarr_pages_of(fi->path, &pg, NULL) != MMARR_OK)
        memset(&pg, 0, sizeof pg); /* MMARR_PAGES_UNKNOWN */
    json_str(w, "mapping", kinds[pg.kind]);
    json_str(w, "mapping_fs_type", pg.fs_type);
    json_str(w, "mapping_mount_point", pg.mount_point);
    j_meta_object(w, "metadata", f, MMARR_ALL, fi->meta_count);
}

static void j_fields(json_obj *w, const mmarr_dtype *dt)
{
    json_key(w, "fields");
    putchar('[');
    for (size_t i = 0; i < mmarr_dtype_nfields(dt); i++) {
        const mmarr_field *fl = mmarr_dtype_field(dt, i);
        json_obj o = {0};
        fputs(i ? ", {" : "{", stdout);
        json_str(&o, "name", fl->name);
        json_u64(&o, "offset", fl->offset);
        json_str(&o, "dtype", mmarr_dtype_str(fl->dtype));
        json_u64(&o, "itemsize", mmarr_dtype_itemsize(fl->dtype));
        json_u64_list(&o, "shape", fl->ndim, fl->shape);
        if (mmarr_dtype_kind(fl->dtype) == MMARR_KIND_STRUCT)
            j_fields(&o, fl->dtype);
        putchar('}');
    }
    putchar(']');
}

/* "values": [...] and, when a value could not be read, "values_error". Returns an exit
 * code. */
static int j_values(json_obj *w, mmarr_file *f, const mmarr_array_info *a, uint64_t want)
{
    mm_sbuf sb = {0};
    val_reader r = {f, a, NULL, {0}};
    const uint64_t n = val_count(a, want);
    const unsigned char *elem = NULL;
    json_key(w, "values");
    putchar('[');
    for (uint64_t k = 0; k < n && (elem = val_read(&r, k)) != NULL; k++) {
        mm_sb_clear(&sb);
        val_put_value(&sb, a, elem);
        if (k)
            fputs(", ", stdout);
        json_string(cli_sb_str(&sb));
    }
    putchar(']');
    int rc = CLI_EXIT_OK;
    if (n && !elem) {
        json_str(w, "values_error", r.err.message);
        rc = info_read_failure_rc(&r.err);
    }
    mm_sb_free(&sb);
    free(r.buf);
    return rc;
}

/* "chunks": one object per chunk, in array order. Returns an exit code. */
static int j_chunks(json_obj *w, mmarr_file *f, const mmarr_array_info *a)
{
    json_key(w, "chunks");
    putchar('[');
    int rc = CLI_EXIT_OK;
    for (size_t k = 0; k < a->chunk_count && rc == CLI_EXIT_OK; k++) {
        mmarr_chunk_info c;
        rc = info_chunk(f, a, k, &c);
        if (rc != CLI_EXIT_OK)
            break;
        char hex[17];
        json_obj o = {0};
        fputs(k ? ", {" : "{", stdout);
        json_u64(&o, "index", c.index);
        json_u64(&o, "raw_offset", c.raw_offset);
        json_u64(&o, "raw_size", c.raw_size);
        json_u64(&o, "stored_offset", c.stored_offset);
        json_u64(&o, "stored_size", c.stored_size);
        json_key(&o, "ratio");
        mm_sbuf r = {0};
        val_put_f64(&r, info_chunk_ratio(&c));
        fputs(cli_sb_str(&r), stdout);
        mm_sb_free(&r);
        snprintf(hex, sizeof hex, "%016" PRIx64, c.checksum);
        json_str(&o, "checksum", hex);
        putchar('}');
    }
    putchar(']');
    return rc;
}

/* Chunking of a cold array (spec.md §10): JSON keys present for cold arrays only; with
 * --chunks, the chunks too. */
static void j_cold(json_obj *w, mmarr_file *f, const mmarr_array_info *a, array_extras *x)
{
    if (a->storage != MMARR_STORAGE_COLD)
        return;
    json_u64(w, "chunk_size", a->chunk_size);
    json_u64(w, "chunk_count", a->chunk_count);
    json_key(w, "level");
    printf("%d", a->level);
    json_bool(w, "shuffle", a->shuffle);
    if (x->details && x->chunks)
        x->rc |= j_chunks(w, f, a);
}

/* "ragged": {...} for an array that is part of a ragged item (spec.md §7.7). */
static void j_ragged(json_obj *w, mmarr_file *f, size_t index)
{
    mmarr_ragged_info r;
    if (!mmarr_file_ragged(f, index, &r))
        return;
    json_key(w, "ragged");
    json_obj o = {0};
    putchar('{');
    json_str(&o, "role", r.values == index ? "values" : "offsets");
    json_str(&o, "item", info_array(f, r.values).name);
    json_str(&o, "kind", info_ragged_kind_name(r.kind));
    json_u64(&o, "count", r.count);
    json_str(&o, "offsets", info_array(f, r.offsets).name);
    putchar('}');
}

static void j_array(mmarr_file *f, const mmarr_array_info *a, array_extras *x)
{
    char hex[17];
    json_obj w = {0};
    putchar('{');
    json_u64(&w, "index", a->index);
    json_str(&w, "name", a->name);
    json_str(&w, "dtype", a->dtype_str);
    json_key(&w, "kind");
    const char kind[2] = {(char)mmarr_dtype_kind(a->dtype), 0};
    json_string(kind);
    json_u64(&w, "itemsize", a->itemsize);
    json_u64_list(&w, "shape", a->ndim, a->shape);
    json_i64_list(&w, "strides", a->ndim, a->strides);
    json_str(&w, "order", info_order_name(a));
    json_str(&w, "tier", info_tier_name(a));
    json_u64(&w, "offset", a->offset);
    json_u64(&w, "stored_bytes", a->stored_bytes);
    json_u64(&w, "raw_bytes", a->nbytes);
    json_key(&w, "ratio");
    mm_sbuf r = {0};
    val_put_f64(&r, info_ratio(a)); /* always a JSON number with a fraction: "1.0" */
    fputs(cli_sb_str(&r), stdout);
    mm_sb_free(&r);
    snprintf(hex, sizeof hex, "%016" PRIx64, a->checksum);
    json_str(&w, "checksum", hex);
    json_bool(&w, "packed", a->packed);
    if (a->capacity)
        json_u64(&w, "capacity", a->capacity);
    j_ragged(&w, f, a->index);
    j_cold(&w, f, a, x);
    j_meta_object(&w, "metadata", f, a->index, a->meta_count);
    if (x->res)
        json_u64(&w, "resident_bytes", x->res->bytes[a->index]);
    if (x->verify) {
        mmarr_error e;
        const vstatus st = info_verify_one(f, a, x->verify, &e);
        json_key(&w, "verify");
        json_obj v = {0};
        putchar('{');
        json_str(&v, "status", info_vstatus_name[st]);
        if (st != V_OK) {
            json_str(&v, "error", mmarr_err_name(e.code));
            json_str(&v, "message", e.message);
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

/* Returns an exit code: a value that could not be read. */
int info_json_document(mmarr_file *f, const mmarr_file_info *fi, const info_opts *o,
                         const mmarr_array_info *one, const residency *res, vsummary *vs)
{
    array_extras x = {one != NULL, o->chunks, o->values, res, vs, CLI_EXIT_OK};
    json_obj w = {0};
    putchar('{');
    j_file_head(&w, f, fi);
    if (res) {
        json_key(&w, "resident");
        json_obj r = {0};
        putchar('{');
        json_u64(&r, "resident_bytes", res->file_resident);
        json_u64(&r, "total_bytes", res->file_total);
        putchar('}');
    }
    if (one) {
        json_key(&w, "array");
        j_array(f, one, &x);
    } else {
        json_key(&w, "arrays");
        putchar('[');
        for (size_t i = 0; i < fi->count; i++) {
            const mmarr_array_info a = info_array(f, i);
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
