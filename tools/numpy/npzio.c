/* SPDX-License-Identifier: MIT */
/*
 * npzio.c — .npz through libzip (see npzio.h).
 *
 * Reading streams every member through zip_fread, so a deflated member is inflated piece by
 * piece into the caller's buffer and a stored one is copied once. Reading a member to its end
 * is what makes libzip compare the CRC, so callers finish each stream.
 *
 * Writing builds each member from two buffer fragments, the .npy header and the array bytes
 * in place (zip_source_buffer_fragment), so nothing is copied before libzip streams it to the
 * archive in zip_close; or, for data that must be produced first (a cold array), from a
 * zip_source_function whose reads are served from a buffer the caller's callback refills.
 */
#include "npzio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

struct npz_reader {
    zip_t *za;
    char *path;
};

struct npz_stream {
    zip_file_t *zf;
};

static void zip_err_text(int code, char *err, size_t errlen, const char *path, const char *what)
{
    zip_error_t ze;
    zip_error_init_with_code(&ze, code);
    snprintf(err, errlen, "%s: %s: %s", path, what, zip_error_strerror(&ze));
    zip_error_fini(&ze);
}

int npz_open(const char *path, npz_reader **out, char *err, size_t errlen)
{
    *out = NULL;
    int code = 0;
    zip_t *za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &code);
    if (!za && code == ZIP_ER_EXISTS) { /* libzip's words would be "File already exists" */
        snprintf(err, errlen, "%s: not a valid .npz: two members have the same name", path);
        return -1;
    }
    if (!za) {
        zip_err_text(code, err, errlen, path, "not a readable .npz (zip) archive");
        return -1;
    }
    npz_reader *z = calloc(1, sizeof *z);
    char *p = strdup(path);
    if (!z || !p) {
        free(z);
        free(p);
        zip_discard(za);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    z->za = za;
    z->path = p;
    *out = z;
    return 0;
}

void npz_close(npz_reader *z)
{
    if (!z)
        return;
    zip_discard(z->za);
    free(z->path);
    free(z);
}

size_t npz_count(const npz_reader *z)
{
    zip_int64_t n = zip_get_num_entries(z->za, 0);
    return n > 0 ? (size_t)n : 0;
}

int npz_entry(npz_reader *z, size_t i, const char **name, uint64_t *size, char *err,
              size_t errlen)
{
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z->za, (zip_uint64_t)i, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME) ||
        !(st.valid & ZIP_STAT_SIZE)) {
        snprintf(err, errlen, "%s: entry %zu: %s", z->path, i, zip_strerror(z->za));
        return -1;
    }
    /* the name again, converted to UTF-8 whatever the archive's encoding flag says */
    const char *nm = zip_get_name(z->za, (zip_uint64_t)i, ZIP_FL_ENC_GUESS);
    if (!nm) {
        snprintf(err, errlen, "%s: entry %zu: %s", z->path, i, zip_strerror(z->za));
        return -1;
    }
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE) {
        snprintf(err, errlen, "%s: member \"%s\" is encrypted; encrypted archives are not "
                              "supported", z->path, nm);
        return -1;
    }
    *name = nm;
    *size = st.size;
    const size_t len = strlen(nm);
    return len > 0 && nm[len - 1] == '/' ? 0 : 1;
}

int npz_stream_open(npz_reader *z, size_t i, npz_stream **out, char *err, size_t errlen)
{
    *out = NULL;
    const char *nm = zip_get_name(z->za, (zip_uint64_t)i, ZIP_FL_ENC_GUESS);
    zip_file_t *zf = zip_fopen_index(z->za, (zip_uint64_t)i, 0);
    if (!zf) {
        snprintf(err, errlen, "%s: member \"%s\": %s", z->path, nm ? nm : "?",
                 zip_strerror(z->za));
        return -1;
    }
    npz_stream *s = calloc(1, sizeof *s);
    if (!s) {
        zip_fclose(zf);
        snprintf(err, errlen, "%s: out of memory", z->path);
        return -1;
    }
    s->zf = zf;
    *out = s;
    return 0;
}

ptrdiff_t npz_stream_read(void *ctx, void *buf, size_t n, char *err, size_t errlen)
{
    npz_stream *s = ctx;
    zip_int64_t r = zip_fread(s->zf, buf, n);
    if (r < 0) {
        snprintf(err, errlen, "%s", zip_file_strerror(s->zf));
        return -1;
    }
    return (ptrdiff_t)r;
}

int npz_stream_finish(npz_stream *s, uint64_t *rest, char *err, size_t errlen)
{
    unsigned char buf[8192];
    *rest = 0;
    for (;;) {
        ptrdiff_t r = npz_stream_read(s, buf, sizeof buf, err, errlen);
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        *rest += (uint64_t)r;
    }
}

void npz_stream_close(npz_stream *s)
{
    if (!s)
        return;
    zip_fclose(s->zf);
    free(s);
}

/* ---- writing ---- */

struct npz_writer {
    zip_t *za;
    char *path;
    bool deflate;
    size_t count;
    unsigned char **headers; /* owned until close: libzip reads the fragments then */
    size_t nheaders, cap;
    void (*progress)(double, void *);
    int (*cancel)(void *);
    void *ud;
    char stream_err[768]; /* why a streamed member's callback failed, for close */
};

int npz_writer_open(const char *path, bool deflate, npz_writer **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    int code = 0;
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &code);
    if (!za) {
        zip_err_text(code, err, errlen, path, "cannot create the archive");
        return -1;
    }
    npz_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        zip_discard(za);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    w->za = za;
    w->deflate = deflate;
    *out = w;
    return 0;
}

/* Keep `header` until close; frees it if it cannot. */
static int keep_header(npz_writer *w, unsigned char *header, char *err, size_t errlen)
{
    if (w->nheaders == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        unsigned char **h = realloc(w->headers, cap * sizeof *h);
        if (!h) {
            free(header);
            snprintf(err, errlen, "%s: out of memory", w->path);
            return -1;
        }
        w->headers = h;
        w->cap = cap;
    }
    w->headers[w->nheaders++] = header;
    return 0;
}

/* Add src as member `name` (stored or deflated); src is freed on failure. */
static int add_member(npz_writer *w, const char *name, zip_source_t *src, char *err,
                      size_t errlen)
{
    zip_int64_t idx = zip_file_add(w->za, name, src, ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
        snprintf(err, errlen, "%s: member \"%s\": %s", w->path, name, zip_strerror(w->za));
        zip_source_free(src);
        return -1;
    }
    if (zip_set_file_compression(w->za, (zip_uint64_t)idx,
                                 w->deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) != 0) {
        snprintf(err, errlen, "%s: member \"%s\": %s", w->path, name, zip_strerror(w->za));
        return -1;
    }
    w->count++;
    return 0;
}

int npz_writer_add(npz_writer *w, const char *name, unsigned char *header, size_t hlen,
                   const void *data, uint64_t nbytes, char *err, size_t errlen)
{
    if (keep_header(w, header, err, errlen) != 0)
        return -1;
    /* libzip only reads fragment data; the cast drops const for its struct field */
    zip_buffer_fragment_t frag[2] = {{header, hlen}, {(zip_uint8_t *)(uintptr_t)data, nbytes}};
    zip_source_t *src = zip_source_buffer_fragment(w->za, frag, nbytes ? 2 : 1, 0);
    if (!src) {
        snprintf(err, errlen, "%s: member \"%s\": %s", w->path, name, zip_strerror(w->za));
        return -1;
    }
    return add_member(w, name, src, err, errlen);
}

/* One streamed member: its header, then its data from the fill callback, through buf. */
typedef struct npz_member {
    npz_writer *w;
    const unsigned char *header; /* owned by w->headers */
    size_t hlen;
    uint64_t nbytes, data_at; /* data bytes, and how many have been produced */
    size_t piece;
    npz_fill_fn fill;
    void *ctx;
    unsigned char *buf;       /* while open: the latest piece, buf_at of buf_len handed on */
    size_t buf_len, buf_at, hdr_at;
    time_t mtime;
    zip_error_t error;
} npz_member;

static size_t min_size(uint64_t a, uint64_t b) { return (size_t)(a < b ? a : b); }

static zip_int64_t member_read(npz_member *m, unsigned char *out, zip_uint64_t len)
{
    zip_uint64_t done = 0;
    while (done < len) {
        if (m->hdr_at < m->hlen) {
            const size_t n = min_size(m->hlen - m->hdr_at, len - done);
            memcpy(out + done, m->header + m->hdr_at, n);
            m->hdr_at += n;
            done += n;
            continue;
        }
        if (m->buf_at == m->buf_len) {
            if (m->data_at == m->nbytes)
                break; /* the end */
            if (!m->buf && !(m->buf = malloc(m->piece))) {
                zip_error_set(&m->error, ZIP_ER_MEMORY, 0);
                return -1;
            }
            const size_t n = min_size(m->nbytes - m->data_at, m->piece);
            if (m->fill(m->ctx, m->data_at, m->buf, n, m->w->stream_err,
                        sizeof m->w->stream_err) != 0) {
                zip_error_set(&m->error, ZIP_ER_READ, EIO);
                return -1;
            }
            m->data_at += n;
            m->buf_len = n;
            m->buf_at = 0;
        }
        const size_t n = min_size(m->buf_len - m->buf_at, len - done);
        memcpy(out + done, m->buf + m->buf_at, n);
        m->buf_at += n;
        done += n;
    }
    return (zip_int64_t)done;
}

static zip_int64_t member_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd)
{
    npz_member *m = ud;
    switch (cmd) {
    case ZIP_SOURCE_OPEN:
        m->hdr_at = m->buf_len = m->buf_at = 0;
        m->data_at = 0;
        return 0;
    case ZIP_SOURCE_READ:
        return member_read(m, data, len);
    case ZIP_SOURCE_CLOSE:
        free(m->buf);
        m->buf = NULL;
        return 0;
    case ZIP_SOURCE_STAT: {
        zip_stat_t *st = data;
        if (len < sizeof *st) {
            zip_error_set(&m->error, ZIP_ER_INVAL, 0);
            return -1;
        }
        zip_stat_init(st); /* described as zip_source_buffer describes its data */
        st->valid = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD |
                    ZIP_STAT_ENCRYPTION_METHOD | ZIP_STAT_MTIME;
        st->size = st->comp_size = m->hlen + m->nbytes;
        st->comp_method = ZIP_CM_STORE;
        st->encryption_method = ZIP_EM_NONE;
        st->mtime = m->mtime;
        return (zip_int64_t)sizeof *st;
    }
    case ZIP_SOURCE_ERROR:
        return zip_error_to_data(&m->error, data, len);
    case ZIP_SOURCE_FREE:
        free(m->buf);
        zip_error_fini(&m->error);
        free(m);
        return 0;
    case ZIP_SOURCE_SUPPORTS:
        return ZIP_SOURCE_SUPPORTS_READABLE;
    default:
        zip_error_set(&m->error, ZIP_ER_OPNOTSUPP, 0);
        return -1;
    }
}

int npz_writer_add_stream(npz_writer *w, const char *name, unsigned char *header, size_t hlen,
                          uint64_t nbytes, size_t piece, npz_fill_fn fill, void *ctx,
                          char *err, size_t errlen)
{
    if (keep_header(w, header, err, errlen) != 0)
        return -1;
    npz_member *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "%s: out of memory", w->path);
        return -1;
    }
    m->w = w;
    m->header = header;
    m->hlen = hlen;
    m->nbytes = nbytes;
    m->piece = piece ? piece : 1;
    m->fill = fill;
    m->ctx = ctx;
    m->mtime = time(NULL);
    zip_error_init(&m->error);
    zip_source_t *src = zip_source_function(w->za, member_cb, m);
    if (!src) {
        snprintf(err, errlen, "%s: member \"%s\": %s", w->path, name, zip_strerror(w->za));
        zip_error_fini(&m->error);
        free(m);
        return -1;
    }
    return add_member(w, name, src, err, errlen);
}

static void free_writer(npz_writer *w)
{
    for (size_t i = 0; i < w->nheaders; i++)
        free(w->headers[i]);
    free(w->headers);
    free(w->path);
    free(w);
}

static void on_progress(zip_t *za, double done, void *ud)
{
    (void)za;
    npz_writer *w = ud;
    w->progress(done, w->ud);
}

static int on_cancel(zip_t *za, void *ud)
{
    (void)za;
    npz_writer *w = ud;
    return w->cancel(w->ud);
}

/* An archive without members is just the end-of-central-directory record (what np.savez
 * writes for no arrays); libzip would delete the file instead. */
static int write_empty_zip(const char *path, char *err, size_t errlen)
{
    static const unsigned char eocd[22] = {'P', 'K', 5, 6};
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0 || write(fd, eocd, sizeof eocd) != (ssize_t)sizeof eocd || fsync(fd) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return close(fd);
}

static int fsync_path(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "%s: fsync: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return close(fd);
}

int npz_writer_close(npz_writer *w, void (*progress)(double done, void *ud),
                     int (*cancel)(void *ud), void *ud, char *err, size_t errlen)
{
    int rc = 0;
    if (w->count == 0) {
        zip_discard(w->za);
        rc = write_empty_zip(w->path, err, errlen);
        free_writer(w);
        return rc;
    }
    w->progress = progress;
    w->cancel = cancel;
    w->ud = ud;
    if (progress)
        zip_register_progress_callback_with_state(w->za, 0.001, on_progress, NULL, w);
    if (cancel)
        zip_register_cancel_callback_with_state(w->za, on_cancel, NULL, w);
    if (zip_close(w->za) != 0) {
        if (w->stream_err[0]) /* a streamed member's own reason beats libzip's "Read error" */
            snprintf(err, errlen, "%s", w->stream_err);
        else
            snprintf(err, errlen, "%s: %s", w->path, zip_strerror(w->za));
        zip_discard(w->za);
        rc = -1;
    } else {
        rc = fsync_path(w->path, err, errlen);
    }
    free_writer(w);
    return rc;
}

void npz_writer_discard(npz_writer *w)
{
    if (!w)
        return;
    zip_discard(w->za);
    free_writer(w);
}
