# SPDX-License-Identifier: MIT
"""The benchmark's data: one deterministic float32 matrix (rows x 2048), written once as
the source mmarr file, then copied into each peer's format block by block (never whole in
memory), and the numpy reference results every peer's results are checked against.

Values: a smooth separable signal (a slow sine down the rows plus a cosine across the
columns) rounded to 1/64, plus low-bit noise of 0-15/64. Realistic, never all-zero, and
somewhat compressible (the low mantissa bits are zero). Block k of GEN_ROWS rows is seeded
by k, so the matrix does not depend on how it is written."""
import os
import shutil

import numpy as np

import mmarr

COLS = 2048
DTYPE = np.dtype("<f4")
GEN_ROWS = 4096


def _block(r0, r1):
    """Rows [r0, r1) of the matrix; r0 a multiple of GEN_ROWS."""
    out = np.empty((r1 - r0, COLS), DTYPE)
    for a in range(r0, r1, GEN_ROWS):
        b = min(a + GEN_ROWS, r1)
        rows = (100 * np.sin(np.arange(a, b) * (2 * np.pi / 65536))).astype(DTYPE)[:, None]
        cols = (20 * np.cos(np.arange(COLS) / 50)).astype(DTYPE)[None, :]
        v = out[a - r0:b - r0]
        np.add(rows, cols, out=v)
        np.multiply(v, 64, out=v)
        np.round(v, out=v)
        v += np.random.default_rng(a // GEN_ROWS).integers(0, 16, v.shape, np.uint8)
        v /= 64
    return out


def blocks(rows, step):
    """(r0, r1) bounds of `rows` rows in steps of `step` (a multiple of GEN_ROWS)."""
    return [(r0, min(r0 + step, rows)) for r0 in range(0, rows, step)]


def write_source(path, rows):
    """The source: a hot mmarr file holding the matrix as array "x"."""
    with mmarr.Writer(path, sync=False) as w:
        x = w.reserve("x", (rows, COLS), DTYPE)
        for r0, r1 in blocks(rows, 16 * GEN_ROWS):
            x[r0:r1] = _block(r0, r1)
        del x


def copy_mmarr(source, path):
    shutil.copyfile(source, path)


def write_zarr(source, path, chunk_rows, compressor):
    import zarr
    with mmarr.open(source) as f:
        x = f["x"]
        z = zarr.open(path, mode="w", shape=x.shape, chunks=(chunk_rows, COLS), dtype=DTYPE,
                      compressor=compressor)
        for r0, r1 in blocks(len(x), chunk_rows):
            z[r0:r1] = x[r0:r1]


def write_hdf5(source, path):
    """A contiguous (unchunked, uncompressed) dataset "x": h5py's default layout."""
    import h5py
    with mmarr.open(source) as f, h5py.File(path, "w") as h:
        x = f["x"]
        d = h.create_dataset("x", shape=x.shape, dtype=DTYPE)
        for r0, r1 in blocks(len(x), 16 * GEN_ROWS):
            d[r0:r1] = x[r0:r1]


def remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.unlink(path)


def reference(source, rows):
    """numpy's sum(axis=0) and mean(axis=1) of the first `rows` rows, accumulated in
    float64."""
    with mmarr.open(source) as f:
        x = f["x"][:rows]
        total = np.zeros(COLS)
        means = np.empty(rows)
        for r0, r1 in blocks(rows, 16 * GEN_ROWS):
            total += x[r0:r1].sum(axis=0, dtype=np.float64)
            means[r0:r1] = x[r0:r1].mean(axis=1, dtype=np.float64)
    return {"sum0": total, "mean1": means}


def check(op, got, ref, rows):
    """(ok, max abs error): float32 accumulation against numpy's float64, with a tolerance
    that grows with the number of values summed."""
    got = np.asarray(got, np.float64)
    if got.shape != ref.shape:
        return False, float("inf")
    err = float(np.max(np.abs(got - ref))) if got.size else 0.0
    atol = (1e-5 * rows * 128) if op == "sum0" else 1e-3
    return bool(np.allclose(got, ref, rtol=1e-4, atol=atol)), err
