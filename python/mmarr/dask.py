# SPDX-License-Identifier: MIT
"""mmarr.dask — dask arrays over mmarr files whose graphs hold references, never data.

    import mmarr.dask
    x = mmarr.dask.from_mmarr("/dev/shm/data.mmarr", "x")      # a dask.array.Array
    everything = mmarr.dask.from_mmarr("/dev/shm/data.mmarr")  # {name: dask array}
    mmarr.dask.to_mmarr("/dev/shm/out.mmarr", {"y": x * 2})    # written by the workers

Every task of the graph holds the file's path and identity, the array's name and key
(checksum included) and the region it reads: a few hundred bytes, whatever the array's size.
A worker maps the file itself (hot arrays: the task's result is a zero-copy view of the
mapping) or decompresses only the stored chunks of its region (cold arrays). Keys are
deterministic: two calls on the same file give the same keys, a rewritten file new ones. A
worker that finds another file at the path raises FileChangedError. Needs dask (imported when
this module is), never imported by `import mmarr`.
"""
import logging
import math
import os
import secrets

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.blockwise import blockwise
from dask.highlevelgraph import HighLevelGraph
from dask.layers import ArraySliceDep

from . import _mmarr
from ._file import File
from ._mmarr import Error, FileChangedError
from ._pickle import MappedArray, _handle_for, _mapping_of, _same_data, origin_path
from ._stage import ENV as _STAGE_ENV
from ._stage import content_identity, default_dir, stage
from ._writer import Writer

__all__ = ["from_mmarr", "to_mmarr", "Stage"]

_PAGE = 4096
_log = logging.getLogger("mmarr")


class _Source:
    """What every task of a from_mmarr graph holds: the file's path and identity, the
    array's name and key (checksum included), whether it is cold, and how hot blocks are
    accessed ("map", "read" or "auto"). A plain object, so that dask never mistakes the
    path or the name for a key of the graph."""

    __slots__ = ("path", "ident", "name", "key", "cold", "access")

    def __init__(self, path, ident, name, key, cold, access="map"):
        self.path, self.ident, self.name, self.key = path, ident, name, key
        self.cold, self.access = cold, access

    def __reduce__(self):
        return (_Source, (self.path, self.ident, self.name, self.key, self.cold, self.access))


_SMALL_PAGES = {}  # st_dev -> bool, per worker process


def _small_page_tmpfs(path):
    """True when `path` lives on a tmpfs whose mapped pages are 4 KiB (mounted without
    huge=, and shmem_enabled not "force"): there, each page of a fresh mapping costs a
    fault that costs more than copying the page, so copying reads (pread into memory of
    the process's own, which gets transparent huge pages) beat mapping."""
    dev = os.stat(path).st_dev
    if dev not in _SMALL_PAGES:
        _SMALL_PAGES[dev] = _mmarr.pages_of(path)[0] == _mmarr.PAGES_SMALL_SHMEM
    return _SMALL_PAGES[dev]


def _load(region, src):
    """The task: `region` (slices) of the array `src` names, checked against the identity
    and array key the graph was built with."""
    what = f'array "{src.name}" of {src.path}'
    h = _handle_for(src.path, "r", src.ident, what)
    i = h.find(src.name)
    if i < 0 or h.array_key(i) != tuple(src.key):
        raise FileChangedError(f"{what} changed since the dask graph was built")
    read = src.cold or src.access == "read" or (
        src.access == "auto" and _small_page_tmpfs(origin_path(h)))
    if not read:
        # A view of its own whose pages leave this worker's RSS when dask drops it: the
        # worker's memory manager counts mapped file pages as the worker's memory (RSS) and
        # would pause a worker that has touched more of the file than its memory limit,
        # although the pages are the page cache's, shared by every process.
        v = h.get(src.name, MappedArray)
        v = v[region] if region else v  # (a 0-d array indexed by () would be a scalar)
        return h.view(i, v.dtype, MappedArray, offset=_mapping_of(v).locate(v), shape=v.shape,
                      strides=v.strides, release=True)
    f = File._from_handle(h, src.path, "r")
    if not region:  # 0-d
        return f.read(src.name)
    rows = region[0]
    return f.read(src.name, rows=(rows.start, rows.stop))[(slice(None),) + tuple(region[1:])]


def _unit_rows(info, row_bytes):
    """Rows per indivisible step of chunking along the first axis: whole pages of the
    mapping for hot arrays, whole stored chunks for cold ones (a task never decompresses a
    chunk another task also decompresses)."""
    if row_bytes == 0:
        return 1
    block = info["chunk_size"] if info["storage"] == "cold" else _PAGE
    return math.lcm(block, row_bytes) // row_bytes


def _auto_chunks(info, dtype):
    shape = tuple(info["shape"])
    if not shape:
        return ()
    limit = dask.utils.parse_bytes(dask.config.get("array.chunk-size"))
    fortran = info["order"] == "F" and len(shape) > 1
    if fortran:
        if info["storage"] == "cold":  # stored column-major in chunks: one task reads it all
            return tuple((n,) for n in shape)
        axis = len(shape) - 1  # contiguous along the last axis
    else:
        axis = 0
    per = dtype.itemsize * math.prod(s for k, s in enumerate(shape) if k != axis)
    unit = 1 if fortran else _unit_rows(info, per)
    steps = max(1, limit // max(1, per * unit))
    step = unit * steps
    n = shape[axis]
    along = tuple(min(step, n - k) for k in range(0, n, step)) or (0,)
    return tuple(along if k == axis else (s,) for k, s in enumerate(shape))


def _one(f, name, chunks, access):
    h = f._handle()
    info = f.info(name)
    i = h.find(name)
    key = h.array_key(i)
    dtype = h.descr(i)
    shape = tuple(info["shape"])
    cold = info["storage"] == "cold"
    if chunks == "auto":
        chunks = _auto_chunks(info, dtype)
    chunks = da.core.normalize_chunks(chunks, shape, dtype=dtype)
    if cold and info["order"] == "F" and len(shape) > 1 and any(len(c) > 1 for c in chunks):
        raise ValueError(f'array "{name}" is cold and stored in Fortran order: it can only '
                         f"be read whole (chunks=-1)")
    ident = h.identity()
    path = os.path.abspath(origin_path(h))  # workers may run elsewhere in the tree
    # the same keys on every machine for the same data; stale checksums do not vouch for
    # the data, so then the file itself (device, inode) is part of the token too
    same = content_identity(ident) + (tuple(ident[:2]) if ident[7] else ())
    token = tokenize(path, same, info["checksum"], key, chunks, access)
    out = f"mmarr-{name}-{token}"
    # a Blockwise layer: dask fuses each load with the operations that follow it on its
    # block (sum, mean, map_blocks...), so a block never leaves the worker that mapped it
    index = tuple(range(len(shape)))
    if access not in ("auto", "map", "read"):
        raise ValueError(f'access must be "auto", "map" or "read", not {access!r}')
    whole_rows = all(len(c) == 1 for c in chunks[1:])
    if access == "auto" and (not whole_rows or (info["order"] == "F" and len(shape) > 1)):
        access = "map"  # a copying read of part rows would read the whole rows
    layer = blockwise(_load, out, index, ArraySliceDep(chunks), index,
                      _Source(path, ident, name, key, cold, access), None, numblocks={})
    graph = HighLevelGraph.from_collections(out, layer, dependencies=())
    meta = np.empty((0,) * len(shape), dtype)
    return da.Array(graph, out, chunks, meta=meta)


def from_mmarr(path_or_file, name=None, chunks="auto", access="auto"):
    """A dask array over array `name` of an mmarr file, or {name: array} for all of them.

    path_or_file: a path or an open mmarr.File. chunks: "auto" (storage-aligned: whole pages
    of rows for hot arrays, whole stored chunks for cold ones, about dask's
    array.chunk-size each) or anything dask.array accepts.
    access (hot arrays): "map", each task's block is a zero-copy view of the worker's
    mapping (its pages leave the worker's RSS when dask drops it); "read", each task copies
    its block out of the file with pread (the kernel's copy, into memory of the worker's
    own for as long as dask keeps the block); "auto" (default), "read" when the worker finds
    the file on a tmpfs with 4 KiB pages (the default /dev/shm: faulting in a page of a
    mapping there costs more than copying it) and the chunks hold whole rows, else "map".
    Cold arrays always decompress the stored chunks of the task's block."""
    f = path_or_file if isinstance(path_or_file, File) else File(path_or_file)
    if name is None:
        return {n: _one(f, n, chunks, access) for n in f}
    if name not in f:
        raise KeyError(f"{f.path}: no array named {name!r}")
    return _one(f, name, chunks, access)


def _store(block, tmp, ident, name, region):
    """A task of to_mmarr: write one block into the staging file, where it was computed."""
    with File(tmp, "r+") as f:
        if not _same_data(ident, f._handle().identity()):
            raise FileChangedError(f"{tmp}: the staging file of to_mmarr was replaced")
        info = f.info(name)
        shape = tuple(info["shape"])
        if (len(shape) and (info["order"] == "C" or len(shape) == 1)
                and all((r.start, r.stop) == (0, n) for r, n in zip(region[1:], shape[1:]))):
            f.write(name, block, region[0].start)  # whole rows: one pwrite, no page faults
        else:
            f[name][region] = block
    return int(np.asarray(block).nbytes)


def _sync_dir(path):
    fd = os.open(os.path.dirname(os.path.abspath(path)) or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def to_mmarr(path, arrays, compress=None, metadata=None):
    """Compute dask arrays {name: array} into one new mmarr file at `path`, atomically.

    Each block is written by the worker that computed it, into a staging file beside `path`
    (reserved whole first, so a full disk fails before any computing); no array bytes cross
    the scheduler or the client. When every task has succeeded the checksums are computed
    and the file is renamed over `path`; a failed or cancelled computation leaves `path` as
    it was and removes the staging file. The workers must reach `path`'s directory (one
    machine, or a shared file system).

    compress: None (hot arrays), or a zstd level / dict as for mmarr.save: the arrays are
    staged hot by the workers, then compressed into `path` on this machine's cores.
    metadata: file metadata {key: value}. Returns {name: bytes written}."""
    path = os.fsdecode(os.fspath(path))
    arrays = {str(k): (v if isinstance(v, da.Array) else da.asarray(v)) for k, v in arrays.items()}
    for name, d in arrays.items():
        if any(math.isnan(c) for c in d.shape):
            raise ValueError(f"to_mmarr: array {name!r} has unknown chunk sizes "
                             f"(call compute_chunk_sizes() first)")
        if d.dtype.hasobject:
            raise TypeError(f"to_mmarr: array {name!r} holds Python objects")
    directory, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f".{base}.to_mmarr-{secrets.token_hex(4)}.tmp")
    staged = None
    try:
        with Writer(tmp, metadata=None if compress else metadata, sync=False) as w:
            for name, d in arrays.items():
                w.reserve(name, d.shape, d.dtype)
        staged = File(tmp, "r+")  # marks checksums stale before any worker writes
        ident = staged._handle().identity()
        tasks = []
        for name, d in arrays.items():
            bounds = [np.cumsum((0,) + c) for c in d.chunks]
            blocks = d.to_delayed().ravel()
            for idx, block in zip(np.ndindex(*d.numblocks), blocks):
                region = tuple(slice(int(b[k]), int(b[k + 1])) for b, k in zip(bounds, idx))
                tasks.append((name, dask.delayed(_store, pure=False)(block, tmp, ident, name,
                                                                     region)))
        written = dict.fromkeys(arrays, 0)
        for (name, _), n in zip(tasks, dask.compute(*[t for _, t in tasks])):
            written[name] += n
        if compress:
            staged.close()
            staged = File(tmp)
            with Writer(path, metadata=metadata, compress=compress) as w:
                for name in arrays:
                    if not staged[name].ndim:
                        w.add(name, staged.read(name))
                        continue
                    with w.stream(name, staged[name].shape, staged[name].dtype) as s:
                        rows = staged[name]
                        step = max(1, (64 << 20) // max(1, rows[:1].nbytes))
                        for lo in range(0, max(1, len(rows)), step):
                            s.write(rows[lo:lo + step])
            staged.close()
            os.unlink(tmp)
        else:
            staged.flush(rehash=True)
            staged.close()
            os.replace(tmp, path)
            _sync_dir(path)
        staged = None
        return written
    finally:
        if staged is not None:
            staged.close()
        if os.path.exists(tmp):
            os.unlink(tmp)


class Stage:
    """A distributed worker plugin: node-local staging of the mmarr files workers map.

        client.register_worker_plugin(mmarr.dask.Stage("/dev/shm/mmarr-stage"))

    On each worker it sets MMARR_STAGE_DIR, so every read-only reference the worker
    unpickles (MappedArrays, Files, from_mmarr tasks) maps a verified copy in that node-local
    directory, made once per node however many workers race for it (see mmarr.stage),
    instead of the file on a shared filesystem. `dir=None` keeps each worker's own
    MMARR_STAGE_DIR, or the default (/dev/shm/mmarr-stage-<uid>). `paths`: files to stage
    when the worker starts, so the first tasks do not wait for the copy. Writable references
    are never staged, and a worker whose staging fails (a full directory, a file with stale
    checksums) logs why and maps the shared path."""

    name = "mmarr-stage"

    def __init__(self, dir=None, paths=()):  # noqa: A002 (as mmarr.stage)
        self.dir = None if dir is None else os.fsdecode(os.fspath(dir))
        self.paths = [os.path.abspath(os.fsdecode(os.fspath(p))) for p in paths]

    def setup(self, worker=None):
        d = self.dir or default_dir()
        os.environ[_STAGE_ENV] = d
        for p in self.paths:
            try:
                stage(p, d)
            except (OSError, Error) as e:
                _log.warning("mmarr: cannot stage %s on worker %s: %s", p,
                             getattr(worker, "name", "?"), e)
