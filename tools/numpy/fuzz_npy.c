/* SPDX-License-Identifier: MIT */
/*
 * fuzz_npy.c — the untrusted-input side of mmarr-pack: the .npy header parser (npyio.h) and
 * the .npz reader (npzio.h, libzip) of the numpy component, tools/numpy. Built by
 * tests/fuzz/CMakeLists.txt with the other targets (fuzz_common.h, fuzz_driver.c).
 *
 * .npy: npy_parse_header() on the bytes, and npy_read_header() on the same bytes served in
 * small pieces, must agree. An accepted header must describe a dtype libmmarr parses to the
 * same canonical text and itemsize, a shape whose byte size does not overflow, and a data
 * offset inside the input; rendering it back with npy_descr_from_dtype() and
 * npy_format_header() must give a 64-byte-aligned header that parses to the same array.
 * Refusals carry a known status and a message.
 *
 * .npz (inputs starting with "PK"): the archive is opened from a memfd through its
 * /proc/self/fd path, every member's .npy header is read from the inflating stream and up to
 * 1 MiB of its data (4 MiB per input, so zip bombs cannot stall the fuzzer).
 */
#include "fuzz_common.h"

#include <sys/mman.h>
#include <unistd.h>

#include "mmarr.h"
#include "npyio.h"
#include "npzio.h"

#define MAX_MEMBER_READ (1u << 20)
#define MAX_NPZ_READ (4u << 20)

static void check_status(npy_status st, const char *err)
{
    FUZZ_CHECK_MSG(strcmp(npy_status_name(st), "NPY_E_UNKNOWN") != 0 &&
                       strncmp(npy_status_name(st), "NPY_", 4) == 0,
                   "status %d", (int)st);
    if (st != NPY_OK)
        FUZZ_CHECK_MSG(err[0] != '\0', "%s without a message", npy_status_name(st));
}

static void same_header(const npy_header *a, const npy_header *b)
{
    FUZZ_CHECK(a->dtype && b->dtype && strcmp(a->dtype, b->dtype) == 0);
    FUZZ_CHECK(a->itemsize == b->itemsize && a->ndim == b->ndim && a->nbytes == b->nbytes);
    FUZZ_CHECK(a->fortran_order == b->fortran_order);
    FUZZ_CHECK(memcmp(a->shape, b->shape, a->ndim * sizeof a->shape[0]) == 0);
}

/* A byte source serving the input in pieces of 1..13 bytes. */
typedef struct piece_src {
    const uint8_t *p;
    size_t n, pos, calls;
} piece_src;

static ptrdiff_t piece_read(void *ctx, void *buf, size_t n, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    piece_src *s = ctx;
    size_t k = 1 + s->calls++ % 13;
    if (k > n)
        k = n;
    if (k > s->n - s->pos)
        k = s->n - s->pos;
    memcpy(buf, s->p + s->pos, k);
    s->pos += k;
    return (ptrdiff_t)k;
}

static void check_accepted(const npy_header *h, size_t size)
{
    FUZZ_CHECK(h->major >= 1 && h->major <= 3 && h->minor == 0);
    FUZZ_CHECK(h->data_offset <= size && h->data_offset > (h->major == 1 ? 10u : 12u));
    FUZZ_CHECK(h->ndim <= NPY_MAX_DIMS);
    uint64_t n = h->itemsize;
    for (unsigned d = 0; d < h->ndim; d++)
        FUZZ_CHECK(!__builtin_mul_overflow(n, h->shape[d], &n));
    FUZZ_CHECK(n == h->nbytes && n <= (uint64_t)INT64_MAX);

    mmarr_dtype *dt = NULL;
    mmarr_error e;
    mmarr_err rc = mmarr_dtype_parse(h->dtype, &dt, &e);
    FUZZ_CHECK_MSG(rc == MMARR_OK, "descr \"%s\" gave dtype text libmmarr refuses: %s",
                   h->dtype, e.message);
    FUZZ_CHECK_MSG(strcmp(mmarr_dtype_str(dt), h->dtype) == 0, "\"%s\" is not canonical (\"%s\")",
                   h->dtype, mmarr_dtype_str(dt));
    FUZZ_CHECK(mmarr_dtype_itemsize(dt) == h->itemsize);

    char err[512] = "";
    uint64_t trailing = 0;
    npy_status st = npy_check_data_size(h, size - h->data_offset, &trailing, err, sizeof err);
    check_status(st, err);
    FUZZ_CHECK(st == NPY_OK ? h->nbytes + trailing == size - h->data_offset
                            : st == NPY_E_DATA_SIZE && h->nbytes > size - h->data_offset);

    /* render it back as numpy would, and parse that */
    char *descr = NULL;
    err[0] = '\0';
    st = npy_descr_from_dtype(dt, false, &descr, err, sizeof err);
    check_status(st, err);
    if (st == NPY_OK) {
        unsigned char *out = NULL;
        size_t olen = 0;
        err[0] = '\0';
        st = npy_format_header(descr, h->ndim, h->shape, h->fortran_order, &out, &olen, err,
                               sizeof err);
        check_status(st, err);
        if (st == NPY_OK) {
            FUZZ_CHECK(olen % 64 == 0);
            npy_header h2;
            err[0] = '\0';
            st = npy_parse_header(out, olen, &h2, err, sizeof err);
            FUZZ_CHECK_MSG(st == NPY_OK, "rendered header refused: %s: %s",
                           npy_status_name(st), err);
            same_header(h, &h2);
            FUZZ_CHECK(h2.data_offset == olen);
            npy_header_free(&h2);
        } else {
            FUZZ_CHECK(st == NPY_E_HEADER_SIZE || st == NPY_E_NOMEM);
        }
        free(out);
        free(descr);
    } else {
        FUZZ_CHECK(st == NPY_E_DTYPE || st == NPY_E_NOMEM);
    }
    mmarr_dtype_free(dt);
}

static void fuzz_npy_bytes(const uint8_t *data, size_t size)
{
    npy_header h;
    char err[512] = "";
    npy_status st = npy_parse_header(data, size, &h, err, sizeof err);
    check_status(st, err);
    if (st != NPY_OK)
        FUZZ_CHECK(h.dtype == NULL);

    unsigned ma, mi;
    uint64_t off;
    char err2[512] = "";
    npy_status pst = npy_parse_preamble(data, size, &ma, &mi, &off, err2, sizeof err2);
    check_status(pst, err2);
    if (st == NPY_OK)
        FUZZ_CHECK(pst == NPY_OK && ma == h.major && mi == h.minor && off == h.data_offset);

    /* the streaming reader agrees with the buffer parser */
    piece_src src = {data, size, 0, 0};
    npy_header hs;
    char err3[512] = "";
    npy_status sst = npy_read_header(piece_read, &src, &hs, err3, sizeof err3);
    check_status(sst, err3);
    FUZZ_CHECK_MSG(sst == st, "npy_read_header %s (%s), npy_parse_header %s (%s)",
                   npy_status_name(sst), err3, npy_status_name(st), err);
    if (sst == NPY_OK) {
        FUZZ_CHECK(src.pos == hs.data_offset);
        same_header(&h, &hs);
        npy_header_free(&hs);
    }
    if (st == NPY_OK) {
        check_accepted(&h, size);
        npy_header_free(&h);
    }
}

static void fuzz_npz_bytes(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz_npz", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        FUZZ_CHECK(w > 0);
        done += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    npz_reader *z = NULL;
    char err[512] = "";
    if (npz_open(path, &z, err, sizeof err) != 0) {
        FUZZ_CHECK(z == NULL && err[0]);
        close(fd);
        return;
    }
    size_t budget = MAX_NPZ_READ;
    unsigned char *buf = malloc(MAX_MEMBER_READ);
    FUZZ_CHECK(buf);
    for (size_t i = 0; i < npz_count(z) && i < 256; i++) {
        const char *name = NULL;
        uint64_t usize = 0;
        err[0] = '\0';
        int kind = npz_entry(z, i, &name, &usize, err, sizeof err);
        FUZZ_CHECK(kind >= -1 && kind <= 1);
        if (kind != 1) {
            FUZZ_CHECK(kind == 0 || err[0]);
            continue;
        }
        FUZZ_CHECK(name != NULL);
        npz_stream *s = NULL;
        err[0] = '\0';
        if (npz_stream_open(z, i, &s, err, sizeof err) != 0) {
            FUZZ_CHECK(s == NULL && err[0]);
            continue;
        }
        npy_header h;
        err[0] = '\0';
        npy_status st = npy_read_header(npz_stream_read, s, &h, err, sizeof err);
        check_status(st, err);
        if (st == NPY_OK) {
            FUZZ_CHECK(h.dtype != NULL);
            uint64_t want = h.nbytes < MAX_MEMBER_READ ? h.nbytes : MAX_MEMBER_READ;
            if (want > budget)
                want = budget;
            size_t got = 0;
            while (got < want) {
                ptrdiff_t r = npz_stream_read(s, buf + got, (size_t)(want - got), err, sizeof err);
                FUZZ_CHECK(r >= -1 && (size_t)(r < 0 ? 0 : r) <= want - got);
                if (r <= 0)
                    break;
                got += (size_t)r;
            }
            budget -= got;
            /* members small enough are read to the end, which makes libzip check the CRC */
            if (usize <= budget && usize <= MAX_MEMBER_READ) {
                uint64_t rest = 0;
                err[0] = '\0';
                if (npz_stream_finish(s, &rest, err, sizeof err) != 0)
                    FUZZ_CHECK(err[0]);
                budget -= rest < budget ? rest : budget;
            }
            npy_header_free(&h);
        }
        npz_stream_close(s);
    }
    free(buf);
    npz_close(z);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_npy_bytes(data, size);
    if (size >= 4 && data[0] == 'P' && data[1] == 'K')
        fuzz_npz_bytes(data, size);
    return 0;
}
