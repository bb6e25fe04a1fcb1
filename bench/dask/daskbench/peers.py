# SPDX-License-Identifier: MIT
"""The peers: how each library's dask array reads the matrix, and how each writes a dask
array, as a user writes it.

Reading (part A), all with the same chunks (the mmarr default: whole rows, about dask's
array.chunk-size each):
  mmarr         mmarr.dask.from_mmarr(path, "x"), default chunks and access ("auto": on a
                tmpfs of 4 KiB pages each task copies its rows with pread, else maps them)
  mmarr-map     the same with access="map": every task a zero-copy view of the mapping
  memmap-naive  da.from_array(np.memmap(...)): the memmap goes into the graph and is
                pickled with its bytes (run on at most --naive-cap bytes)
  memmap-task   the fair idiom: each task maps np.memmap itself (map_blocks + block_info)
  zarr          da.from_zarr, uncompressed (compressor=None), zarr chunks = dask chunks
  zarr-zstd     the same with numcodecs.Zstd(level=1)
  hdf5          da.from_array(h5py dataset, chunks, lock=True), contiguous dataset
  ones          da.ones with the same chunks: no data at all, the reference for bytes
The memmap peers map the mmarr file's hot array at its data offset (the same bytes).

Writing (part B): y = from_mmarr(source)[:rows/2] * 2 + 1, computed by the workers into
  mmarr         mmarr.dask.to_mmarr(path, {"y": y})
  zarr          da.to_zarr(y, path, compressor=None)
  hdf5          da.to_hdf5 is tried once; under a process cluster it cannot work (see the
                README), so `hdf5-task` (each task opens the file "r+" under an flock and
                writes its block, as to_mmarr's tasks do) is what is timed."""
import fcntl

import dask
import dask.array as da
import numpy as np

import mmarr
import mmarr.dask

from . import data

# store: the file a peer reads ("mmarr" is the source itself on disk, a copy elsewhere)
READ_PEERS = [("mmarr", "mmarr"), ("mmarr-map", "mmarr"), ("memmap-naive", "mmarr"), ("memmap-task", "mmarr"),
              ("zarr", "zarr"), ("zarr-zstd", "zarr-zstd"), ("hdf5", "hdf5"), ("ones", None)]
WRITE_PEERS = ["mmarr", "zarr", "hdf5-task"]


def make_store(store, source, path, chunk_rows):
    import numcodecs
    if store == "mmarr":
        data.copy_mmarr(source, path)
    elif store == "zarr":
        data.write_zarr(source, path, chunk_rows, None)
    elif store == "zarr-zstd":
        data.write_zarr(source, path, chunk_rows, numcodecs.Zstd(level=1))
    elif store == "hdf5":
        data.write_hdf5(source, path)


def _memmap_block(path, offset, cols, block_info=None):
    """A task of memmap-task: map just this block's rows and slice its columns."""
    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    rows = np.memmap(path, data.DTYPE, "r", offset + r0 * cols * data.DTYPE.itemsize,
                     (r1 - r0, cols))
    return rows[:, c0:c1]


def read_array(peer, path, rows, chunks, keep):
    """The dask array of `peer` over the first `rows` rows of the file at `path`; objects
    that must outlive the computation go to `keep`."""
    shape = (rows, data.COLS)
    if peer in ("mmarr", "mmarr-map"):
        x = mmarr.dask.from_mmarr(path, "x", access="map" if peer == "mmarr-map" else "auto")
        return x if rows == x.shape[0] else x[:rows]
    if peer == "ones":
        return da.ones(shape, chunks=chunks, dtype=data.DTYPE)
    if peer.startswith("memmap"):
        with mmarr.open(path) as f:
            offset = f.info("x")["offset"]
        if peer == "memmap-naive":
            return da.from_array(np.memmap(path, data.DTYPE, "r", offset, shape), chunks=chunks)
        return da.map_blocks(_memmap_block, path, offset, data.COLS, chunks=chunks,
                             dtype=data.DTYPE, meta=np.empty((0, 0), data.DTYPE))
    if peer.startswith("zarr"):
        return da.from_zarr(path)[:rows]
    if peer == "hdf5":
        import h5py
        h = h5py.File(path, "r")
        keep.append(h)
        return da.from_array(h["x"], chunks=chunks, lock=True)[:rows]
    raise ValueError(peer)


def _regions(y):
    bounds = [np.cumsum((0,) + c) for c in y.chunks]
    for idx in np.ndindex(*y.numblocks):
        yield tuple(slice(int(b[k]), int(b[k + 1])) for b, k in zip(bounds, idx))


def _h5_store(block, path, region):
    """A task of hdf5-task: write one block, one writer at a time (HDF5 has no concurrent
    writers)."""
    import h5py
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with h5py.File(path, "r+") as h:
            h["y"][region] = block
    return block.nbytes


def write(peer, y, path):
    """Compute y into `path` with `peer`'s idiom (blocking)."""
    if peer == "mmarr":
        return mmarr.dask.to_mmarr(path, {"y": y})
    if peer == "zarr":
        return da.to_zarr(y, path, overwrite=True, compressor=None)
    if peer == "hdf5-task":
        import h5py
        with h5py.File(path, "w") as h:
            h.create_dataset("y", shape=y.shape, dtype=y.dtype)
        tasks = [dask.delayed(_h5_store, pure=False)(b, path, r)
                 for b, r in zip(y.to_delayed().ravel(), _regions(y))]
        return sum(dask.compute(*tasks))
    if peer == "hdf5":
        return da.to_hdf5(path, "/y", y)
    raise ValueError(peer)


def remove_output(path):
    data.remove(path)
    data.remove(path + ".lock")


def read_back(peer, path):
    """The written array, for checking (a numpy-like object sliceable by rows)."""
    if peer == "mmarr":
        f = mmarr.open(path)
        return f, f["y"]
    if peer == "zarr":
        import zarr
        return None, zarr.open(path, mode="r")
    import h5py
    h = h5py.File(path, "r")
    return h, h["y"]


def check_written(peer, path, source, rows):
    """Whether the output equals source[:rows] * 2 + 1 exactly (float32 arithmetic)."""
    handle, y = read_back(peer, path)
    try:
        with mmarr.open(source) as f:
            x = f["x"]
            if tuple(y.shape) != (rows, data.COLS):
                return False
            for r0, r1 in data.blocks(rows, 16 * data.GEN_ROWS):
                if not np.array_equal(np.asarray(y[r0:r1]), x[r0:r1] * np.float32(2) + 1):
                    return False
            return True
    finally:
        if handle is not None:
            handle.close()


def out_name(peer):
    return {"mmarr": "y.mmarr", "zarr": "y.zarr"}.get(peer, "y.h5")


def store_name(store):
    return {"mmarr": "x.mmarr", "zarr": "x.zarr", "zarr-zstd": "x-zstd.zarr",
            "hdf5": "x.h5"}[store]
