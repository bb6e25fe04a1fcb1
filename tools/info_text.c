/* SPDX-License-Identifier: MIT */
/*
 * info_text.c — mmarr-info's text output: the file header, the array table, the residency
 * table, one array in detail (fields, values, chunks), and the --verify lines and summary.
 * Names and metadata are escaped for the terminal; widths are counted in columns.
 */
#include "info.h"
#include "values.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Columns wider than these are elided (dtype, shape) or wrapped (name): see print_row(). */
#define NAME_COLS_MAX 40
#define DTYPE_COLS_MAX 40
#define SHAPE_COLS_MAX 32

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

static void sb_put_percent(mm_sbuf *sb, uint64_t part, uint64_t whole)
{
    if (whole)
        mm_sb_printf(sb, "%.1f%%", 100.0 * (double)part / (double)whole);
    else
        mm_sb_puts(sb, "-");
}

/* "MISMATCH  name  offset 4096 (0x1000): <library message>" on stdout. */
static void print_verify_line(const mmarr_array_info *a, vstatus st, const mmarr_error *e)
{
    mm_sbuf sb = {0};
    text_put_display(&sb, a->name);
    printf("  %-12s %s  offset %" PRIu64 " (0x%" PRIx64 "): %s%s\n", info_vstatus_label[st],
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
            printf(", %" PRIu64 " %s", s->count[st], info_vstatus_summary[st]);
    if (s->slot_damaged)
        printf(", inactive superblock slot damaged");
    printf("; %s hashed in %.3f s", mm_format_size(s->bytes_hashed, hb), s->seconds);
    if (s->seconds > 0)
        printf(" (%.2f GB/s)", (double)s->bytes_hashed / s->seconds / 1e9);
    printf("\nverify: %s\n", info_verify_failed(s) ? "FAILED" : "OK");
}

/* "metadata:" and one "key = value" line per entry, of the file (index MMARR_ALL) or of
 * array `index`, escaped for the terminal. */
static void print_meta(mmarr_file *f, size_t index, size_t n)
{
    mm_sbuf sb = {0};
    printf(n ? "metadata:\n" : "metadata:    (none)\n");
    for (size_t i = 0; i < n; i++) {
        const char *k, *v;
        if (info_meta(f, index, i, &k, &v) != MMARR_OK)
            break;
        mm_sb_clear(&sb);
        text_put_display(&sb, k);
        mm_sb_puts(&sb, " = ");
        text_put_display(&sb, v);
        printf("  %s\n", cli_sb_str(&sb));
    }
    mm_sb_free(&sb);
}

/* How the kernel will map the file, and what to change when that is the slow path. */
static void print_pages(const char *path)
{
    mmarr_pages_info p;
    if (mmarr_pages_of(path, &p, NULL) != MMARR_OK || p.kind == MMARR_PAGES_UNKNOWN) {
        printf("mapping:     unknown page backing (%s)\n",
               p.fs_type[0] ? p.fs_type : "no mountinfo");
        return;
    }
    printf("mapping:     %s (%s at %s%s%s)\n", mmarr_pages_name(p.kind), p.fs_type, p.mount_point,
           p.huge[0] ? ", huge=" : "", p.huge);
    if (p.kind == MMARR_PAGES_SMALL_SHMEM)
        printf("             each 4 KiB page is faulted in separately: a worker's first pass "
               "over a\n             mapped array runs ~7x slower than on a disk "
               "filesystem's page cache\n             (e.g. /var/tmp) or a tmpfs mounted with "
               "huge=within_size\n");
}

static void print_file_header(mmarr_file *f, const mmarr_file_info *fi)
{
    char hb[MM_SIZE_BUF], id[INFO_IDENTITY_BUF];
    mm_sbuf sb = {0};
    text_put_display(&sb, fi->path);
    printf("file:        %s\n", cli_sb_str(&sb));
    printf("format:      %u.%u\n", fi->format_major, fi->format_minor);
    printf("size:        %s (%" PRIu64 " bytes)\n", mm_format_size(fi->file_size, hb),
           fi->file_size);
    printf("alignment:   %" PRIu64 "\n", fi->alignment);
    printf("generation:  %" PRIu64 "\n", fi->generation);
    printf("identity:    %s\n", info_identity(fi, id));
    printf("arrays:      %zu\n", fi->count);
    print_pages(fi->path);
    if (mmarr_file_ragged_count(f))
        printf("ragged:      %zu items (each a values and an offsets array; listed below)\n",
               mmarr_file_ragged_count(f));
    if (fi->checksums_stale)
        printf("checksums:   stale (opened for writing since the last rehash)\n");
    if (fi->inactive_slot_damaged)
        printf("superblock:  the inactive slot is damaged (the active one is intact)\n");
    if (fi->damaged_generation)
        printf("damaged:     generation %" PRIu64 " could not be read; this is generation %" PRIu64
               " (--verify says why)\n",
               fi->damaged_generation, fi->generation);
    const uint64_t live = info_live_bytes(f, fi);
    if (fi->generation > 1 || live < fi->file_size) {
        char lb[MM_SIZE_BUF];
        printf("space:       %s live, %s dead (deleted arrays, earlier indexes; "
               "mmarr-pack -o NEW.mmarr THIS.mmarr compacts)\n",
               mm_format_size(live, lb), mm_format_size(fi->file_size - live, hb));
    }
    print_meta(f, MMARR_ALL, fi->meta_count);
    mm_sb_free(&sb);
}

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
    text_put_display(&cell[C_NAME], a->name);
    text_put_display(&cell[C_DTYPE], a->dtype_str);
    text_elide(&cell[C_DTYPE], DTYPE_COLS_MAX);
    val_put_tuple_u64(&cell[C_SHAPE], a->ndim, a->shape);
    text_elide(&cell[C_SHAPE], SHAPE_COLS_MAX);
    mm_sb_puts(&cell[C_ORDER], info_order_name(a));
    mm_sb_puts(&cell[C_TIER], info_tier_name(a));
    mm_sb_puts(&cell[C_STORED], mm_format_size(a->stored_bytes, hb));
    mm_sb_puts(&cell[C_RAW], mm_format_size(a->nbytes, hb));
    mm_sb_printf(&cell[C_RATIO], "%.2f", info_ratio(a));
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
            text_right(s, width[c]);
        else if (c == NCOL - 1)
            fputs(s, stdout);
        else
            text_left(s, width[c]);
        fputs(c == NCOL - 1 ? "\n" : "  ", stdout);
    }
}

/* The ragged items below the table: name, what the items are, the offsets array. */
static void print_ragged_items(mmarr_file *f)
{
    const size_t n = mmarr_file_ragged_count(f);
    mm_sbuf sb = {0};
    mmarr_ragged_info r;
    if (n)
        printf("\nRAGGED ITEM  ITEMS (values: the array of that name)\n");
    for (size_t k = 0; k < n && mmarr_file_ragged_at(f, k, &r); k++) {
        const mmarr_array_info v = info_array(f, r.values), o = info_array(f, r.offsets);
        mm_sb_clear(&sb);
        text_put_display(&sb, v.name);
        printf("  %s: ", cli_sb_str(&sb));
        mm_sb_clear(&sb);
        info_ragged_describe(f, &r, &sb);
        mm_sb_puts(&sb, ", offsets in ");
        text_put_display(&sb, o.name);
        printf("%s\n", cli_sb_str(&sb));
    }
    mm_sb_free(&sb);
}

/* pandas frames (docs/pandas.md): the arrays whose metadata "mmarr.frame" names a frame are
 * its columns; rows come from the first column, kinds from "mmarr.column". */
static void print_frames(mmarr_file *f, size_t count)
{
    bool header = false;
    mm_sbuf sb = {0};
    for (size_t i = 0; i < count; i++) {
        const char *frame = mmarr_array_meta_get(f, i, "mmarr.frame");
        bool seen = false;
        for (size_t k = 0; frame && k < i && !seen; k++) {
            const char *other = mmarr_array_meta_get(f, k, "mmarr.frame");
            seen = other && strcmp(other, frame) == 0;
        }
        if (!frame || seen)
            continue;
        if (!header)
            printf("\nFRAME  ROWS, COLUMNS (pandas, docs/pandas.md)\n");
        header = true;
        mmarr_ragged_info r;
        const mmarr_array_info first = info_array(f, i);
        const uint64_t rows = mmarr_file_ragged(f, i, &r) ? r.count
                              : first.ndim             ? first.shape[0]
                                                       : 1;
        size_t ncols = 0;
        mm_sb_clear(&sb);
        for (size_t k = i; k < count; k++) {
            const char *fk = mmarr_array_meta_get(f, k, "mmarr.frame");
            if (!fk || strcmp(fk, frame) != 0)
                continue;
            const char *kind = mmarr_array_meta_get(f, k, "mmarr.column");
            mm_sb_printf(&sb, "%s%s", ncols++ ? ", " : "", kind ? kind : "?");
        }
        mm_sbuf name = {0};
        text_put_display(&name, frame);
        printf("  %s: %" PRIu64 " rows, %zu columns (", cli_sb_str(&name), rows, ncols);
        mm_sb_clear(&name);
        text_put_display(&name, cli_sb_str(&sb));
        printf("%s)\n", cli_sb_str(&name));
        mm_sb_free(&name);
    }
    mm_sb_free(&sb);
}

static void print_table(mmarr_file *f, size_t count)
{
    mm_sbuf cell[NCOL] = {{0}};
    size_t width[NCOL];
    for (int c = 0; c < NCOL; c++)
        width[c] = text_cols(col_title[c]);
    for (size_t i = 0; i < count; i++) {
        const mmarr_array_info a = info_array(f, i);
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
        const mmarr_array_info a = info_array(f, i);
        row_cells(&a, cell);
        print_row(cell, width);
    }
    for (int c = 0; c < NCOL; c++)
        mm_sb_free(&cell[c]);
    print_ragged_items(f);
    print_frames(f, count);
}

static void print_residency(mmarr_file *f, size_t count, const residency *r)
{
    char hb[MM_SIZE_BUF];
    mm_sbuf name = {0}, pct = {0};
    size_t wname = strlen("NAME");
    for (size_t i = 0; i < count; i++) {
        const mmarr_array_info a = info_array(f, i);
        mm_sb_clear(&name);
        text_put_display(&name, a.name);
        wname = max_size(wname, text_cols(cli_sb_str(&name)));
    }
    wname = wname > NAME_COLS_MAX ? NAME_COLS_MAX : wname;
    printf("\n");
    text_left("NAME", wname);
    printf("  %10s  %10s  %6s\n", "RESIDENT", "STORED", "%");
    uint64_t sum = 0, total = 0;
    for (size_t i = 0; i < count; i++) {
        const mmarr_array_info a = info_array(f, i);
        mm_sb_clear(&name);
        text_put_display(&name, a.name);
        if (text_cols(cli_sb_str(&name)) > wname)
            printf("%s\n%*s", cli_sb_str(&name), (int)wname, "");
        else
            text_left(cli_sb_str(&name), wname);
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
            text_put_display(&sb, fl->name);
        else
            mm_sb_puts(&sb, "(padding)");
        printf("  %8" PRIu64 "  ", fl->offset);
        text_left(cli_sb_str(&sb), 20);
        mm_sb_clear(&sb);
        if (nested)
            mm_sb_printf(&sb, "struct, itemsize %" PRIu64, mmarr_dtype_itemsize(fl->dtype));
        else
            text_put_display(&sb, mmarr_dtype_str(fl->dtype));
        if (fl->ndim) {
            mm_sb_puts(&sb, ", subarray ");
            val_put_tuple_u64(&sb, fl->ndim, fl->shape);
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
        rc = info_chunk(f, a, k, &c);
        if (rc == CLI_EXIT_OK)
            printf("  %*zu  %*" PRIu64 "  %*" PRIu64 "  %*" PRIu64 "  %*" PRIu64
                   "  %*.2f  %016" PRIx64 "\n",
                   w[0], c.index, w[1], c.raw_offset, w[2], c.raw_size, w[3], c.stored_offset,
                   w[4], c.stored_size, w[5], info_chunk_ratio(&c), c.checksum);
    }
    return rc;
}

/* The first values, one per line with its index; returns an exit code. */
static int print_values(mmarr_file *f, const mmarr_array_info *a, uint64_t want)
{
    const uint64_t n = val_count(a, want);
    if (!want)
        return CLI_EXIT_OK;
    if (!n) {
        printf("values:      none (empty array)\n");
        return CLI_EXIT_OK;
    }
    val_reader r = {f, a, NULL, {0}};
    const unsigned char *elem = val_read(&r, 0);
    if (!elem) {
        printf("values:      not shown: %s\n", r.err.message);
        free(r.buf);
        return info_read_failure_rc(&r.err);
    }
    printf("values:      %s%" PRIu64 " of %" PRIu64 ", C order\n",
           n < a->nitems ? "first " : "", n, a->nitems);
    mm_sbuf idx = {0}, val = {0};
    for (uint64_t k = 0; elem;) {
        mm_sb_clear(&idx);
        mm_sb_clear(&val);
        val_put_index(&idx, a, k);
        val_put_value(&val, a, elem);
        printf("  %s  %s\n", cli_sb_str(&idx), cli_sb_str(&val));
        if (++k == n)
            break;
        elem = val_read(&r, k);
    }
    int rc = CLI_EXIT_OK;
    if (r.err.code != MMARR_OK) { /* a later element's chunk failed */
        printf("  (stopped: %s)\n", r.err.message);
        rc = info_read_failure_rc(&r.err);
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
    text_put_display(&sb, a->name);
    printf("\nname:        %s\n", cli_sb_str(&sb));
    mm_sb_clear(&sb);
    text_put_display(&sb, a->dtype_str);
    printf("dtype:       %s\n", cli_sb_str(&sb));
    printf("itemsize:    %" PRIu64 "\n", a->itemsize);
    mm_sb_clear(&sb);
    val_put_tuple_u64(&sb, a->ndim, a->shape);
    printf("shape:       %s\n", cli_sb_str(&sb));
    mm_sb_clear(&sb);
    val_put_tuple_i64(&sb, a->ndim, a->strides);
    printf("strides:     %s\n", cli_sb_str(&sb));
    printf("order:       %s\n", info_order_name(a));
    printf("tier:        %s\n", info_tier_name(a));
    printf("offset:      %" PRIu64 " (0x%" PRIx64 ")\n", a->offset, a->offset);
    printf("stored:      %s (%" PRIu64 " bytes)\n", mm_format_size(a->stored_bytes, hb),
           a->stored_bytes);
    printf("raw:         %s (%" PRIu64 " bytes)\n", mm_format_size(a->nbytes, hb), a->nbytes);
    printf("ratio:       %.2f\n", info_ratio(a));
    printf("checksum:    %016" PRIx64 " (XXH3-64)\n", a->checksum);
    printf("packed:      %s\n", a->packed ? "yes" : "no");
    if (a->capacity)
        printf("capacity:    %" PRIu64 " rows (growable; %" PRIu64 " used)\n", a->capacity,
               a->ndim ? a->shape[0] : 0);
    mmarr_ragged_info r;
    if (mmarr_file_ragged(f, a->index, &r)) {
        mm_sb_clear(&sb);
        if (r.values == a->index) {
            mm_sb_puts(&sb, "values of this ragged item: ");
            info_ragged_describe(f, &r, &sb);
            mm_sb_puts(&sb, ", offsets in ");
            text_put_display(&sb, info_array(f, r.offsets).name);
        } else {
            mm_sb_puts(&sb, "offsets of the ragged item ");
            text_put_display(&sb, info_array(f, r.values).name);
        }
        printf("ragged:      %s\n", cli_sb_str(&sb));
    }
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
    print_meta(f, a->index, a->meta_count);
    if (mmarr_dtype_kind(a->dtype) == MMARR_KIND_STRUCT) {
        printf("fields:\n  %8s  %-20s  %s\n", "OFFSET", "NAME", "DTYPE");
        print_fields(a->dtype, 0);
    }
    x->rc |= print_values(f, a, x->values);
    if (x->chunks)
        x->rc |= print_chunks(f, a);
    mm_sb_free(&sb);
}

/* Text --verify: one line per array that did not verify, then the summary. */
static void print_verify(mmarr_file *f, size_t first, size_t end, vsummary *s)
{
    if (s->slot_damaged)
        printf("  %-12s superblock: the inactive slot is damaged (the active slot is intact)\n",
               "DAMAGED");
    for (size_t i = first; i < end; i++) {
        const mmarr_array_info a = info_array(f, i);
        mmarr_error e;
        const vstatus st = info_verify_one(f, &a, s, &e);
        if (st != V_OK)
            print_verify_line(&a, st, &e);
    }
    print_verify_summary(s);
}

int info_text_output(mmarr_file *f, const mmarr_file_info *fi, const info_opts *o,
                       const mmarr_array_info *one, const residency *res, vsummary *vs)
{
    array_extras x = {1, o->chunks, o->values, res, NULL, CLI_EXIT_OK};
    if (one) {
        mm_sbuf sb = {0};
        text_put_display(&sb, fi->path);
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
