# SPDX-License-Identifier: MIT
"""Reading: open() and File, a read-only mapping from array names to arrays."""
import collections.abc
import math
import operator
import os

import numpy as np

from . import _mmarr
from ._cache import _path_or_none
from ._pickle import MappedArray, _handle_for, _open_handle, origin_path
from . import _pandas
from ._ragged import Ragged, kind_name

_ADVICE = {"normal": _mmarr.ADVICE_NORMAL, "sequential": _mmarr.ADVICE_SEQUENTIAL,
           "random": _mmarr.ADVICE_RANDOM, "willneed": _mmarr.ADVICE_WILLNEED,
           "dontneed": _mmarr.ADVICE_DONTNEED, "hugepage": _mmarr.ADVICE_HUGEPAGE}


def _reopen(path, mode, ident):
    h = _handle_for(path, mode, ident, f"mmarr file {path}")
    return File._from_handle(h, path, mode)


def open(path, mode="r", **options):  # noqa: A001 (mirrors the builtin, as np.load does)
    """Open an mmarr file: mode "r" (read-only views), "r+" (writable views of hot arrays,
    changes reach the file and every process at once), "c" (copy-on-write, as np.memmap's:
    writable views whose changes stay in this process; the file is never written), or "a"
    (an Appender: add arrays and metadata in place, published as the file's next
    generation at the end of its with block). See File and Appender for the options."""
    if mode == "a":
        from ._writer import Appender
        return Appender(path, **options)
    return File(path, mode, **options)


class File(collections.abc.Mapping):
    """An open mmarr file: a read-only mapping from array names (in file order) to arrays.

    File(path, mode="r", *, verify=False, populate=False, chunk_verify=True,
         cache_dir=None, cache_max=0)

    f["x"]          MappedArray over the mapping (hot), or over the shared decompressed cache
                    (cold); writable in mode "r+" for hot arrays, and in mode "c" for all
                    (copy-on-write: a written page becomes this process's own; the file and
                    other processes keep the original bytes; pickles name the file, so
                    another process unpickles the original data, in mode "c" too)
    f.view("x")     the same, but raises NotZeroCopyError for a cold array
    f.raw("x")      a view with dtype void<itemsize>, for dtypes numpy cannot express
    f.read("x", rows)  a copy of rows [start, stop) (slice, (start, stop), int or None);
                    for cold arrays only the chunks touched are decompressed
    f.metadata, f.array_metadata("x"), f.info(), f.info("x"), f.verify(), f.flush()
    f.prefetch(), f.advise("willneed"), f.lock(), f.unlock(), f.resident(): memory controls
    Closing (or dropping) the File leaves arrays obtained from it valid.
    """

    __eq__ = object.__eq__  # a handle, not a value: identity (Mapping would compare arrays)
    __hash__ = object.__hash__

    def __init__(self, path, mode="r", *, verify=False, populate=False, chunk_verify=True,
                 cache_dir=None, cache_max=0):
        if mode not in ("r", "r+", "c"):
            raise ValueError(f'mode must be "r", "r+" or "c" (or "a" with mmarr.open), not '
                             f'{mode!r}')
        path = os.fsdecode(os.fspath(path))
        flags = ((_mmarr.OPEN_VERIFY if verify else 0) |
                 (_mmarr.OPEN_POPULATE if populate else 0) |
                 (0 if chunk_verify else _mmarr.OPEN_NO_CHUNK_VERIFY))
        cache_max = operator.index(cache_max)
        if not 0 <= cache_max < 2**64:
            raise ValueError(f"cache_max must be 0 (the default) or a byte count, "
                             f"not {cache_max}")
        h = _open_handle(path, mode, flags)
        if cache_dir is not None or cache_max:
            h.set_cache(_path_or_none(cache_dir), cache_max)
        self._init(h, path, mode, flags)

    def _init(self, h, path, mode, flags=0):
        self._h = h
        self._flags = flags  # as opened: refresh() opens the newest generation the same way
        self.path = path
        self.mode = mode
        self._rag = None  # {values name: (offsets name, count, kind)}, on first use
        self._frames = {}  # {frame name: description} (_pandas.py)
        self._parts = ()  # arrays that are parts of an item: ragged offsets, frame columns
        self._firsts = {}  # {first array of a frame: the frame's name}, for keys()
        self._geo = {}  # {array number: (itemsize, shape, order)}, for read and write

    def _ragged_items(self):
        if self._rag is None:
            h = self._handle()
            items = h.ragged_items()
            meta = h.file_meta()
            frames = (_pandas.frames(meta) if any(k.startswith(_pandas.FRAME_KEY) for k in meta)
                      else {})
            parts = {o for _, o, _, _ in items}
            for name, d in frames.items():
                parts.update(d["arrays"])
                if d["arrays"]:
                    self._firsts[d["arrays"][0]] = name
            self._rag = {v: (o, n, k) for v, o, n, k in items}
            self._frames, self._parts = frames, frozenset(parts)
        return self._rag

    def _array(self, name):
        """The array or ragged item `name`, frames aside."""
        if name in self._ragged_items():
            return self.ragged(name)
        return self._handle().get(name, MappedArray)

    def frame(self, name, columns=None):
        """The pandas DataFrame or Series stored as `name` (what f[name] returns for it):
        numeric, bool, datetime and timedelta columns are zero-copy views of the mapping and
        pickle as references; text columns are built as Python objects (equal short strings
        sharing one object). columns: a list of column names to read only those, as a
        DataFrame (nothing is built for the others). KeyError if there is no such frame or
        column."""
        self._ragged_items()
        if name not in self._frames:
            raise KeyError(name)
        return _pandas.read(self, name, self._frames[name], columns)

    def ragged(self, name):
        """The ragged item `name` as a Ragged (what f[name] returns for it); KeyError if
        there is no such item. Nothing is read: each item's two offsets are checked as it is
        read (ValueError for a damaged one), f.verify(name) checks them all."""
        r = self._ragged_items().get(name)
        if r is None:
            raise KeyError(name)
        h = self._handle()
        offsets, _, kind = r
        return Ragged(h.get(name, MappedArray), h.get(offsets, MappedArray), kind_name(kind),
                      name)

    @classmethod
    def _from_handle(cls, h, path, mode):
        f = cls.__new__(cls)
        f._init(h, path, mode)
        return f

    # -- lifetime
    @property
    def closed(self):
        return self._h is None

    def close(self):
        """Forget the handle. Arrays obtained from this File stay valid; the file is
        unmapped when the last of them is gone."""
        self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- generations (files that grow: spec.md §4.4)
    @property
    def generation(self):
        """The generation this File holds: 1 for a file as written, one more for each
        append published since. It changes only by refresh()."""
        return self._handle().file_info()["generation"]

    def refresh(self):
        """Move to the file's newest generation, if an appender published one since this
        File was opened or refreshed; returns whether it moved. Arrays obtained before keep
        the generation they came from (their memory stays valid); names, info and arrays
        obtained after describe the new one."""
        h = self._handle()
        if self.mode != "r":
            raise ValueError(f'refresh() is for mode "r" Files, not {self.mode!r}: open the '
                             f'file again')
        if not h.wait(0):
            return False
        n = _open_handle(self.path, self.mode, self._flags)
        if n.file_info()["generation"] <= h.file_info()["generation"]:
            return False  # the newer generation is damaged: this one stays
        self._init(n, self.path, self.mode, self._flags)
        return True

    def wait(self, timeout=None):
        """Block until the file has a newer generation than this File holds (an appender
        published one), or `timeout` seconds pass (None: no limit); returns whether there
        is one. It does not refresh: call refresh() next. Sleeps on inotify, not a loop."""
        ms = -1 if timeout is None else max(0, int(timeout * 1000))
        return self._handle().wait(ms)

    def _handle(self):
        if self._h is None:
            raise ValueError(f"I/O operation on closed mmarr file {self.path!r}")
        return self._h

    def _index(self, name):
        h = self._handle()
        i = h.find(name) if isinstance(name, str) else -1
        if i < 0:
            raise KeyError(name)
        return h, i

    # -- mapping protocol
    def __getitem__(self, name):
        if self._rag is None:
            self._ragged_items()
        if self._parts:
            if name in self._rag:
                return self.ragged(name)
            if name in self._frames:
                return self.frame(name)
        return self._handle().get(name, MappedArray)  # lookup, dtype and view in one call

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.keys())

    def __contains__(self, name):
        if not isinstance(name, str):
            return False
        self._ragged_items()
        return self._handle().find(name) >= 0 or name in self._frames

    def keys(self):
        """The names of the arrays, ragged items and frames, in file order (the parts of an
        item are not listed: a ragged item's offsets, a frame's columns; f[name] still
        reaches them)."""
        self._ragged_items()
        names = self._handle().names()
        if not self._parts:
            return names
        return [self._firsts.get(n, n) for n in names
                if n not in self._parts or n in self._firsts]

    # -- other views
    def view(self, name):
        """f[name], but never decompresses: raises NotZeroCopyError for a cold array."""
        return self._handle().get(name, MappedArray, 1)

    def raw(self, name):
        """The array's bytes with dtype void<itemsize> (same shape and strides), for dtypes
        numpy cannot express (bfloat16, float8_* without ml_dtypes): .view(np.uint16) etc."""
        return self._handle().get(name, MappedArray, 2)

    def read(self, name, rows=None, *, raw=False, out=None):
        """Copy rows of an array (along its first axis) into a new ndarray, or into `out`.

        rows: None (all), a slice, (start, stop), or an int (one row, first axis dropped).
        Hot or cold: for a cold C-order array only the chunks holding the rows are
        decompressed (Fortran-order arrays with 2+ dimensions are read whole, then sliced).
        Hot bytes are copied by the kernel (pread), not through the mapping.
        out: a writable C-contiguous ndarray of the rows' shape and the array's dtype to read
        into (rows of step 1; C order or 1-d): no allocation, as a loop reading slice after
        slice into one buffer wants. Returns out."""
        h, i = self._index(name)
        itemsize, shape, order = self._geometry(h, i)
        dt = np.dtype((np.void, itemsize)) if raw else h.descr(i)
        fortran = order == "F"
        if not shape:
            if rows is not None:
                raise IndexError(f'array "{name}" is 0-d: it has no rows')
            out = np.empty((), dt)
            h.read(i, 0, out)
            return out
        n, single = shape[0], False
        if rows is None:
            sel = range(n)
        elif isinstance(rows, slice):
            sel = range(*rows.indices(n))
        elif isinstance(rows, tuple):
            if len(rows) != 2:
                raise TypeError("rows as a tuple must be (start, stop)")
            sel = range(*slice(*rows).indices(n))
        else:
            r = operator.index(rows)
            if not -n <= r < n:
                raise IndexError(f'row {r} out of range for array "{name}" of {n} rows')
            sel, single = range(r % n, r % n + 1), True
        if out is not None:
            return self._read_into(h, i, name, dt, shape, fortran, sel, single, out)
        if fortran and len(shape) > 1:
            whole = np.empty(shape, dt, order="F")
            h.read(i, 0, whole)
            buf, lo = whole, 0
        else:
            lo = min(sel[0], sel[-1]) if sel else 0
            hi = max(sel[0], sel[-1]) + 1 if sel else 0
            buf = np.empty((hi - lo,) + tuple(shape[1:]), dt)
            row_bytes = dt.itemsize * math.prod(shape[1:])
            h.read(i, lo * row_bytes, buf)
        if single:
            return buf[sel[0] - lo]
        if not sel:
            return buf[0:0]
        out = buf[sel[0] - lo::sel.step][:len(sel)]
        return out if sel.step == 1 else np.ascontiguousarray(out)

    @staticmethod
    def _read_into(h, i, name, dt, shape, fortran, sel, single, out):
        want = tuple(shape[1:]) if single else (len(sel),) + tuple(shape[1:])
        if fortran and len(shape) > 1 or (len(sel) > 1 and sel.step != 1):
            raise ValueError(f'read(out=): array "{name}": only rows of step 1 of a C-order '
                             f'(or 1-d) array can be read into a buffer')
        if (not isinstance(out, np.ndarray) or out.dtype != dt or out.shape != want or
                not out.flags.c_contiguous or not out.flags.writeable):
            got = (f"{type(out).__name__} {getattr(out, 'dtype', '')} "
                   f"{getattr(out, 'shape', '')}")
            raise ValueError(f'read(out=): array "{name}": out must be a writable C-contiguous '
                             f'ndarray of dtype {dt} and shape {want}, not {got}')
        if sel:
            row_bytes = dt.itemsize * math.prod(shape[1:])
            h.read(i, sel[0] * row_bytes, out)
        return out

    def write(self, name, data, start=0):
        """Copy `data` into rows [start, start + len(data)) of a hot array of an "r+" file,
        through the file descriptor: the same bytes as `f[name][start:stop] = data`, without
        faulting in the mapping's pages (several times faster on tmpfs for large blocks).

        data: converted to the array's dtype as assignment would; its shape must be
        (rows, *shape[1:]) (or the whole shape of a 0-d array, with start=0). C-order arrays
        only, when they have 2+ dimensions (a Fortran-order array's rows are not contiguous:
        assign through f[name] instead)."""
        h, i = self._index(name)
        _, shape, order = self._geometry(h, i)
        if order == "F" and len(shape) > 1:
            raise ValueError(f'array "{name}" is in Fortran order: its rows are not '
                             f'contiguous; assign through f["{name}"][...] instead')
        block = np.asarray(np.asarray(data).astype(h.descr(i), copy=False), order="C")
        if not shape:
            if block.shape != () or start != 0:
                raise ValueError(f'array "{name}" is 0-d: write a 0-d value with start=0')
            h.write(i, 0, block)
            return
        if block.ndim != len(shape) or block.shape[1:] != shape[1:]:
            raise ValueError(f'write into "{name}" of shape {shape}: data of shape '
                             f'{block.shape} is not rows of shape {shape[1:]}')
        start = operator.index(start)
        if not 0 <= start <= shape[0] - block.shape[0]:
            raise IndexError(f'write into "{name}": rows [{start}, {start + block.shape[0]}) '
                             f'lie outside its {shape[0]} rows')
        h.write(i, start * block.itemsize * math.prod(shape[1:]), block)

    # -- metadata and facts
    @property
    def metadata(self):
        """File-level metadata: a new dict of str -> str."""
        return self._handle().file_meta()

    def array_metadata(self, name):
        """An array's metadata: a new dict of str -> str."""
        h, i = self._index(name)
        return h.array_meta(i)

    def _geometry(self, h, i):
        """(itemsize, shape tuple, order) of array number i: fixed for the handle's life."""
        g = self._geo.get(i)
        if g is None:
            info = h.info(i)
            g = self._geo[i] = (info["itemsize"], tuple(info["shape"]), info["order"])
        return g

    def info(self, name=None):
        """File facts (dict), or one array's (dtype text, shape, order, storage, nbytes,
        stored_bytes, offset, checksum, chunking of cold arrays, how it is mapped)."""
        if name is None:
            d = self._handle().file_info()
            d["mode"] = self.mode
            return d
        h, i = self._index(name)
        return h.info(i)

    def verify(self, name=None):
        """Check checksums: one array, or the whole file. Raises mmarr.Error (code_name
        MMARR_E_CHECKSUM, or MMARR_E_STALE for arrays changed through "r+" handles)."""
        if name is None:
            self._handle().verify()
        else:
            h, i = self._index(name)
            h.verify(i)

    def flush(self, *, rehash=False, wait=True):
        """Write changes made through "r+" views to the file (msync). rehash=True also
        recomputes the checksums and clears the "stale" mark; the handle then turns
        read-only, so it is refused while views from this process's handle are alive.
        Mode "c": nothing to write (changes never reach the file), as np.memmap's flush;
        rehash=True is refused."""
        if self.mode == "c" and not rehash:
            self._handle()
            return
        flags = (_mmarr.FLUSH_REHASH if rehash else 0) | (0 if wait else _mmarr.FLUSH_ASYNC)
        self._handle().flush(flags)
        if rehash:
            self.mode = "r"

    def prefetch(self, name=None):
        """Read an array's pages (or the whole file's) into memory now."""
        h, i = self._target(name)
        h.prefetch(i)

    # The memory controls below act on an array's stored bytes in the file: for a cold array
    # its compressed chunks (not the decompressed cache f[name] maps), and for a packed small
    # array the whole pages it shares with its neighbours.
    def _target(self, name):
        """(handle, array number or -1 for the whole file)."""
        return (self._handle(), -1) if name is None else self._index(name)

    def advise(self, advice, name=None):
        """Tell the kernel how an array's pages (or the whole file's) will be used
        (madvise): "normal", "sequential", "random", "willneed" (start reading ahead now),
        "dontneed" (drop this process's page mappings; the data stays in the file) or
        "hugepage" (transparent huge pages where the kernel can). For a cold array this
        concerns its compressed bytes in the file; for a packed small array, whole pages
        shared with its neighbours."""
        code = _ADVICE.get(advice)
        if code is None:
            raise ValueError(f"advice must be one of {', '.join(map(repr, _ADVICE))}, "
                             f"not {advice!r}")
        h, i = self._target(name)
        h.advise(code, i)

    def lock(self, name=None):
        """mlock an array's pages (or the whole file's): read them in and keep them in
        memory. Beyond RLIMIT_MEMLOCK (ulimit -l) the kernel refuses: an OSError (EPERM
        or ENOMEM) with code_name MMARR_E_IO. Pages, not arrays, are locked: a packed small
        array shares its pages, so unlocking it also unlocks its neighbours. For a cold
        array this locks its compressed bytes."""
        h, i = self._target(name)
        h.lock(True, i)

    def unlock(self, name=None):
        """Undo lock()."""
        h, i = self._target(name)
        h.lock(False, i)

    def resident(self, name=None):
        """(resident_bytes, total_bytes): how much of an array's stored bytes (or of the
        whole file) is in memory now, as mincore reports it. Nothing is read. Linux counts
        the page cache only for files this process owns or may write; for others, only the
        pages mapped into this process."""
        h, i = self._target(name)
        return h.resident(i)

    def __reduce__(self):
        h = self._handle()
        return (_reopen, (origin_path(h), self.mode, h.identity()))

    def __repr__(self):
        if self._h is None:
            return f"<mmarr.File {self.path!r} (closed)>"
        return f"<mmarr.File {self.path!r} mode={self.mode!r} {len(self)} arrays>"
