/* SPDX-License-Identifier: MIT */
/* testimg.c — see testimg.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "testimg.h"
#include "testutil.h"

void writer_add_ok(mmarr_writer *w, const char *name, const char *dtype, unsigned ndim,
                   const uint64_t *shape, const void *data)
{
    mmarr_err rc = mmarr_writer_add(w, name, dtype, ndim, shape, MMARR_ORDER_C, data);
    assert_code(rc, MMARR_OK, mmarr_writer_error(w)->message);
}

void writer_commit_ok(mmarr_writer *w)
{
    mmarr_err rc = mmarr_writer_commit(w);
    assert_code(rc, MMARR_OK, mmarr_writer_error(w)->message);
    mmarr_writer_free(w);
}

void img_write_base(const char *path)
{
    mmarr_writer_options o;
    memset(&o, 0, sizeof o);
    o.flags = MMARR_WRITE_NO_SYNC;
    o.pack_threshold = MMARR_PACK_NONE;
    mmarr_writer *w = NULL;
    mmarr_error e;
    assert_int_equal(mmarr_writer_create(path, &o, &w, &e), MMARR_OK);
    unsigned char *d = malloc(8000);
    assert_non_null(d);
    tu_fill(d, 8000, 42);
    uint64_t s1000[1] = {1000}, s2000[1] = {2000}, s5000[1] = {5000};
    writer_add_ok(w, "alpha", "<f8", 1, s1000, d);
    writer_add_ok(w, "bravo", "<i4", 1, s2000, d);
    writer_add_ok(w, "gamma", "|u1", 1, s5000, d);
    assert_int_equal(mmarr_writer_set_array_meta(w, "bravo", "m1", "x"), MMARR_OK);
    assert_int_equal(mmarr_writer_set_array_meta(w, "bravo", "m2", "y"), MMARR_OK);
    assert_int_equal(mmarr_writer_set_file_meta(w, "k1", "v1"), MMARR_OK);
    assert_int_equal(mmarr_writer_set_file_meta(w, "k2", "v2"), MMARR_OK);
    writer_commit_ok(w);
    free(d);
}

void img_load(img *im, const char *path)
{
    memset(im, 0, sizeof *im);
    im->buf = tu_read_file(path, &im->size);
    assert_non_null(im->buf);
    assert_true(im->size >= MMARR_SUPERBLOCK_SIZE);
    im->pro = (mmarr_disk_prologue *)im->buf;
    im->slot = (mmarr_disk_slot *)(im->buf + MMARR_SLOT_A_OFFSET);
    im->slot_b = (mmarr_disk_slot *)(im->buf + MMARR_SLOT_B_OFFSET);
    assert_int_equal(im->slot->generation, 1);
    assert_true(im->slot->index_offset + im->slot->index_size <= im->size);
    im->index = im->buf + im->slot->index_offset;
    im->hdr = (mmarr_disk_index_header *)im->index;
    assert_memory_equal(im->hdr->magic, MMARR_INDEX_MAGIC, 8);
    im->ent = (mmarr_disk_entry *)(im->index + im->hdr->entries_offset);
    im->order = (uint32_t *)(im->index + im->hdr->order_offset);
    im->names = (mmarr_disk_name *)(im->index + im->hdr->names_offset);
    im->ameta = (mmarr_disk_ameta *)(im->index + im->hdr->ameta_offset);
    im->dtypes = (mmarr_disk_dtype *)(im->index + im->hdr->dtypes_offset);
    im->dims = (uint64_t *)(im->index + im->hdr->dims_offset);
    im->meta = (mmarr_disk_meta *)(im->index + im->hdr->meta_offset);
    im->heap = (char *)(im->index + im->hdr->heap_offset);
}

void img_base(void **state, img *im)
{
    char *path = tu_path(*state, "base.mmarr");
    img_write_base(path);
    img_load(im, path);
    free(path);
}

void img_free(img *im)
{
    free(im->buf);
    memset(im, 0, sizeof *im);
}

void img_reseal_slot(mmarr_disk_slot *s)
{
    s->checksum = XXH3_64bits(s, 120);
}

void img_reseal(img *im)
{
    im->slot->index_checksum = XXH3_64bits(im->index, im->slot->index_size);
    img_reseal_slot(im->slot);
}

void img_reseal_prologue(img *im)
{
    im->pro->checksum = XXH3_64bits(im->buf, 56);
}

char *img_heap_find(img *im, const char *s)
{
    size_t n = strlen(s) + 1;
    for (uint64_t off = 0; off + n <= im->hdr->heap_size; off++)
        if (!memcmp(im->heap + off, s, n) && (off == 0 || im->heap[off - 1] == '\0'))
            return im->heap + off;
    fail_msg("heap string \"%s\" not found", s);
    return NULL;
}

size_t img_entry(img *im, const char *s)
{
    for (size_t i = 0; i < im->hdr->entry_count; i++) {
        const mmarr_disk_name *r = &im->names[im->ent[i].name_rank];
        if (r->name_size == strlen(s) && !memcmp(im->heap + r->name_offset, s, r->name_size))
            return i;
    }
    fail_msg("entry \"%s\" not found", s);
    return 0;
}

mmarr_err img_open(img *im, const char *dir, mmarr_error *e, mmarr_file **keep)
{
    char *path = tu_path(dir, "bad.mmarr");
    assert_int_equal(tu_write_file(path, im->buf, im->size), 0);
    mmarr_file *f = (mmarr_file *)1;
    memset(e, 0, sizeof *e);
    mmarr_err rc = mmarr_open(path, 0, &f, e);
    if (rc != MMARR_OK) {
        assert_null(f);
        assert_int_equal(e->code, rc);
        assert_true(e->message[0] != '\0');
    }
    mmarr_file *g = (mmarr_file *)1;
    mmarr_error e2;
    memset(&e2, 0, sizeof e2);
    mmarr_err rc2 = mmarr_open_buffer(im->buf, im->size, 0, &g, &e2);
    if (rc2 != rc)
        print_error("mmarr_open: %s (%s); mmarr_open_buffer: %s (%s)\n", mmarr_err_name(rc),
                    e->message, mmarr_err_name(rc2), e2.message);
    assert_int_equal(rc2, rc);
    if (rc2 == MMARR_OK)
        mmarr_close(g);
    else
        assert_null(g);
    if (keep)
        *keep = rc == MMARR_OK ? f : NULL;
    else if (rc == MMARR_OK)
        mmarr_close(f);
    free(path);
    return rc;
}

void img_run_corrupt(void **state, img_mutator m, mmarr_err want, int reseal)
{
    const char *dir = *state;
    char *path = tu_path(dir, "base.mmarr");
    img_write_base(path);
    img im;
    img_load(&im, path);
    m(&im);
    if (reseal)
        img_reseal(&im);
    mmarr_error e;
    mmarr_err rc = img_open(&im, dir, &e, NULL);
    assert_code(rc, want, e.message);
    if (want == MMARR_E_CORRUPT) {
        if (e.offset == MMARR_NO_OFFSET)
            print_error("no offset in: %s\n", e.message);
        assert_true(e.offset != MMARR_NO_OFFSET);
    }
    img_free(&im);
    free(path);
}
