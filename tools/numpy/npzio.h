/* SPDX-License-Identifier: MIT */
/*
 * npzio.h — .npz archives (zip files of .npy members, as np.savez writes them) through
 * libzip: streaming reads of stored and deflated members (zip64 included, CRC checked), and
 * writing stored or deflated members straight from caller memory, without a second copy, or
 * from a callback that produces the data piece by piece (a cold array, decompressed).
 *
 * Errors: functions returning int give 0 on success and -1 with one line in err.
 */
#ifndef MMARR_NPZIO_H
#define MMARR_NPZIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- reading ---- */

typedef struct npz_reader npz_reader;
typedef struct npz_stream npz_stream;

/* Open an archive (consistency-checked). */
int npz_open(const char *path, npz_reader **out, char *err, size_t errlen);
void npz_close(npz_reader *z);
/* Number of entries, directories included. */
size_t npz_count(const npz_reader *z);
/*
 * Entry i: its name (UTF-8, valid until npz_close) and uncompressed size. Returns 1 for a
 * file, 0 for a directory entry (to skip), -1 on error (encrypted, unreadable).
 */
int npz_entry(npz_reader *z, size_t i, const char **name, uint64_t *size, char *err,
              size_t errlen);
/* Open entry i for sequential reading (decompressing as needed). */
int npz_stream_open(npz_reader *z, size_t i, npz_stream **out, char *err, size_t errlen);
/* npy_read_fn-compatible: bytes read, 0 at the end, -1 on error. ctx is the npz_stream.
 * Stream errors carry only the reason (e.g. "CRC error"): callers name archive and member. */
ptrdiff_t npz_stream_read(void *ctx, void *buf, size_t n, char *err, size_t errlen);
/* Read the rest of the entry (so its CRC is checked); *rest receives how many bytes that was. */
int npz_stream_finish(npz_stream *s, uint64_t *rest, char *err, size_t errlen);
void npz_stream_close(npz_stream *s);

/* ---- writing ---- */

typedef struct npz_writer npz_writer;

/* Start writing the archive at `path` (an existing file there is replaced by close). */
int npz_writer_open(const char *path, bool deflate, npz_writer **out, char *err,
                    size_t errlen);
/*
 * Add member `name` whose bytes are header[0..hlen) then data[0..nbytes). The writer takes
 * ownership of `header` (malloc'd; freed even on failure); `data` is read only at close and
 * must stay valid and unchanged until then.
 */
int npz_writer_add(npz_writer *w, const char *name, unsigned char *header, size_t hlen,
                   const void *data, uint64_t nbytes, char *err, size_t errlen);
/*
 * Produce `n` bytes of a streamed member's data, starting at data offset `offset`, into buf.
 * Returns 0, or -1 with one line in err (which npz_writer_close then reports).
 */
typedef int (*npz_fill_fn)(void *ctx, uint64_t offset, void *buf, size_t n, char *err,
                           size_t errlen);
/*
 * Add member `name` whose bytes are header[0..hlen) then the nbytes bytes that fill(ctx, ...)
 * produces at close, in order, `piece` bytes per call (the last call may get fewer) into a
 * buffer of that size that exists only while the member is written. Takes ownership of
 * `header` (freed even on failure); ctx must stay valid until close.
 */
int npz_writer_add_stream(npz_writer *w, const char *name, unsigned char *header, size_t hlen,
                          uint64_t nbytes, size_t piece, npz_fill_fn fill, void *ctx,
                          char *err, size_t errlen);
/*
 * Write everything and fsync the file. progress (optional) receives the fraction done;
 * cancel (optional) returns nonzero to abandon. The writer is freed in every case.
 */
int npz_writer_close(npz_writer *w, void (*progress)(double done, void *ud),
                     int (*cancel)(void *ud), void *ud, char *err, size_t errlen);
/* Abandon without writing (leaves `path` as it was opened) and free. Accepts NULL. */
void npz_writer_discard(npz_writer *w);

#endif
