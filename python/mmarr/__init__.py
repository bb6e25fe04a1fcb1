# SPDX-License-Identifier: MIT
"""mmarr — many typed arrays in one memory-mapped file, shared by any number of processes.

    import mmarr, numpy as np
    mmarr.save("/dev/shm/data.mmarr", {"x": np.arange(10.0), "t": table})
    with mmarr.open("/dev/shm/data.mmarr") as f:
        x = f["x"]              # numpy array over the mapped bytes: no copy, no parsing
    pool.map(work, [(x, i) for i in range(8)])   # pickles a reference, not the data

Arrays from a File are `MappedArray`s (an ndarray subclass) that keep the mapping alive
themselves, so closing or dropping the File while they live is safe. Pickling one (or a view
of one) records the file's identity and the array, not its bytes; unpickling in another
process maps the same file, and refuses (`FileChangedError`) if it was replaced or rewritten.
See python/README.md for the whole API.
"""
import collections
import collections.abc
import functools
import operator
import os
import tempfile
import weakref

import numpy as np

from . import _mmarr
from ._mmarr import Error, FileChangedError, NotZeroCopyError

__all__ = [
    "open", "File", "MappedArray", "Writer", "save", "share", "Shared", "Error",
    "FileChangedError", "NotZeroCopyError", "release_handles", "dtype_text", "dtype_from_text",
    "cache_dir", "cache_list", "cache_clear", "Stream",
]
__version__ = _mmarr.version
FORMAT_VERSION = (_mmarr.FORMAT_VERSION_MAJOR, _mmarr.FORMAT_VERSION_MINOR)
_ADVICE = {"normal": _mmarr.ADVICE_NORMAL, "sequential": _mmarr.ADVICE_SEQUENTIAL,
           "random": _mmarr.ADVICE_RANDOM, "willneed": _mmarr.ADVICE_WILLNEED,
           "dontneed": _mmarr.ADVICE_DONTNEED, "hugepage": _mmarr.ADVICE_HUGEPAGE}


# --------------------------------------------------------------------------------------------
# dtypes: numpy <-> the canonical text of spec.md §8

_ML_NAMES = ("bfloat16", "float8_e4m3fn", "float8_e5m2")


@functools.lru_cache(maxsize=1024)
def dtype_from_text(text):
    """The numpy dtype of canonical dtype text ("<f4", "[('a', '<i8'), ...]"), read by the
    library's dtype parser (the only dtype grammar). TypeError for bfloat16/float8_* without
    the ml_dtypes package or for text the parser refuses."""
    try:
        return _mmarr.dtype_from_text(text)
    except Error as e:  # as numpy's np.dtype() does for text it cannot read
        raise TypeError(str(e)) from None


def _object_fields(dt, prefix=""):
    """Names of the fields of dt that hold Python objects ("" for a plain object dtype)."""
    if dt.subdtype is not None:
        dt = dt.subdtype[0]
    if dt.fields is None:
        return [prefix or "elements"] if dt.hasobject else []
    out = []
    for name in dt.names:
        out += _object_fields(dt.fields[name][0], f"{prefix}.{name}" if prefix else name)
    return out


def _refuse_objects(what, dt):
    if dt.hasobject:
        fields = ", ".join(_object_fields(dt))
        raise TypeError(
            f"{what}: object dtype ({fields}) cannot be stored: mmarr holds fixed-size binary "
            f"data and never pickles. Convert first, e.g. strings to fixed width with "
            f".astype('U16') or .astype('S16'), or for a DataFrame "
            f"df.to_records(index=False, column_dtypes={{'col': 'S16'}})")


def dtype_text(dtype):
    """The canonical text (spec.md §8) under which a numpy dtype is stored.

    Raises TypeError for what the format cannot hold exactly: object fields, field titles,
    overlapping or out-of-order fields, platform long doubles."""
    dt = np.dtype(dtype)
    _refuse_objects("dtype", dt)
    if dt.name in _ML_NAMES and getattr(dt.type, "__module__", "").startswith("ml_dtypes"):
        return dt.name
    try:
        text = str(dt.descr) if dt.fields is not None else dt.str
        text = _mmarr.dtype_canonical(text)[0]
        back = dtype_from_text(text)
    except (Error, TypeError, ValueError) as e:
        raise TypeError(f"dtype {dt} cannot be stored: {e}") from None
    if back != dt:
        raise TypeError(f"dtype {dt} cannot be stored exactly (field titles, overlapping or "
                        f"out-of-order fields are not representable)")
    return text


# --------------------------------------------------------------------------------------------
# Arrays

def _stored_dtype(text):
    """dtype_from_text, or None when numpy cannot express the text."""
    try:
        return dtype_from_text(text)
    except TypeError:
        return None


def _mapping_of(a):
    """The _mmarr.Mapping an ndarray's memory comes from, or None."""
    b = a
    while isinstance(b, np.ndarray):
        b = b.base
    return b if isinstance(b, _mmarr.Mapping) else None


class MappedArray(np.ndarray):
    """A numpy array whose memory is (part of) an array in an mmarr file.

    It behaves as an ndarray. Pickling it — also a slice, transpose, field or dtype view of
    it — records (path, file identity, array name and checksum, offset, shape, strides), a
    few hundred bytes, and unpickling maps the same file; results that are new memory (ufunc
    outputs, copies, fancy indexing) are plain data and pickle as such."""

    def __array_wrap__(self, obj, context=None, return_scalar=False):
        if obj is self or _mapping_of(obj) is not None:
            return obj  # in-place result (out=) in the mapping
        obj = obj.view(np.ndarray)
        return obj[()] if return_scalar or obj.ndim == 0 else obj  # as for plain ndarrays

    def __reduce_ex__(self, protocol):
        m = _mapping_of(self)
        offset = m.locate(self) if m is not None else None
        if offset is None:
            return np.asarray(self).__reduce_ex__(protocol)
        h = m.handle
        name = m.name
        key = h.array_key(m.index)
        writable = bool(self.flags.writeable)
        dtype = None if self.dtype == _stored_dtype(key[4]) else self.dtype
        return (_rebuild, (h.path, writable, h.identity(), name, key, offset, self.shape,
                           self.strides, dtype))

    def __reduce__(self):
        return self.__reduce_ex__(2)


# --------------------------------------------------------------------------------------------
# Handles shared by Files and unpickled arrays

_live = weakref.WeakValueDictionary()   # (st_dev, st_ino, writable) -> Handle, any origin
_pinned = collections.OrderedDict()     # handles opened by unpickling, most recent last
_PINNED_MAX = 4


def _open_handle(path, writable, flags=0):
    # absolute: pickles name the file whatever the unpickling process's working directory
    h = _mmarr.open(os.path.abspath(path), flags | (_mmarr.OPEN_RDWR if writable else 0))
    _live[(h.st_dev, h.st_ino, bool(writable))] = h
    return h


def _stat_id(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def release_handles():
    """Drop the handles this process keeps for arrays it unpickled (arrays still alive keep
    theirs). Unpickling keeps up to 4 recently used files mapped, so that many tasks carrying
    the same array do not map it again each time; a file deleted meanwhile is released at
    the next unpickling, or here."""
    _pinned.clear()


def _handle_for(path, writable, ident, what):
    """A handle on `path` whose identity is `ident`, or FileChangedError."""
    for key, h in list(_pinned.items()):
        if _stat_id(key[0]) != (h.st_dev, h.st_ino):
            _pinned.pop(key, None)
    now = _stat_id(path)
    if now is None:
        raise FileChangedError(f"cannot unpickle {what}: {path} is gone (deleted or renamed) "
                               f"since it was pickled")
    if now != tuple(ident[:2]):
        raise FileChangedError(f"cannot unpickle {what}: {path} was replaced since it was "
                               f"pickled (inode {ident[1]}, now {now[1]}); refusing to map "
                               f"other data")
    h = _live.get((now[0], now[1], bool(writable)))
    if h is None or h.identity() != tuple(ident) or (writable and not h.writable):
        try:
            h = _open_handle(path, writable)
        except FileNotFoundError:
            raise FileChangedError(f"cannot unpickle {what}: {path} is gone") from None
    if h.identity() != tuple(ident):
        raise FileChangedError(f"cannot unpickle {what}: {path} was rewritten since it was "
                               f"pickled (identity {tuple(ident)}, now {h.identity()})")
    key = (path, bool(writable))
    _pinned.pop(key, None)
    _pinned[key] = h  # most recent last
    while len(_pinned) > _PINNED_MAX:
        _pinned.pop(next(iter(_pinned)), None)
    return h


def _rebuild(path, writable, ident, name, key, offset, shape, strides, dtype):
    what = f'array "{name}" of {path}'
    h = _handle_for(path, writable, ident, what)
    i = h.find(name)
    if i < 0 or h.array_key(i) != tuple(key):
        raise FileChangedError(f"cannot unpickle {what}: the array changed since it was "
                               f"pickled")
    if dtype is None:
        dtype = dtype_from_text(key[4])
    return h.view(i, dtype, MappedArray, writable=writable, offset=offset, shape=shape,
                  strides=strides)


def _reopen(path, mode, ident):
    h = _handle_for(path, mode == "r+", ident, f"mmarr file {path}")
    return File._from_handle(h, path, mode)


# --------------------------------------------------------------------------------------------
# Reading

def open(path, mode="r", **options):  # noqa: A001 (mirrors the builtin, as np.load does)
    """Open an mmarr file: mode "r" (read-only views) or "r+" (writable views of hot arrays,
    changes reach the file and every process at once). See File for the options."""
    return File(path, mode, **options)


class File(collections.abc.Mapping):
    """An open mmarr file: a read-only mapping from array names (in file order) to arrays.

    File(path, mode="r", *, verify=False, populate=False, chunk_verify=True,
         cache_dir=None, cache_max=0)

    f["x"]          MappedArray over the mapping (hot), or over the shared decompressed cache
                    (cold); writable in mode "r+" for hot arrays
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
        if mode not in ("r", "r+"):
            raise ValueError(f'mode must be "r" or "r+", not {mode!r}')
        path = os.fsdecode(os.fspath(path))
        flags = ((_mmarr.OPEN_VERIFY if verify else 0) |
                 (_mmarr.OPEN_POPULATE if populate else 0) |
                 (0 if chunk_verify else _mmarr.OPEN_NO_CHUNK_VERIFY))
        cache_max = operator.index(cache_max)
        if not 0 <= cache_max < 2**64:
            raise ValueError(f"cache_max must be 0 (the default) or a byte count, "
                             f"not {cache_max}")
        h = _open_handle(path, mode == "r+", flags)
        if cache_dir is not None or cache_max:
            h.set_cache(_path_or_none(cache_dir), cache_max)
        self._init(h, path, mode)

    def _init(self, h, path, mode):
        self._h = h
        self.path = path
        self.mode = mode

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
        return self._handle().get(name, MappedArray)  # lookup, dtype and view in one call

    def __iter__(self):
        return iter(self._handle().names())

    def __len__(self):
        return self._handle().count()

    def __contains__(self, name):
        return isinstance(name, str) and self._handle().find(name) >= 0

    def keys(self):
        return self._handle().names()

    # -- other views
    def view(self, name):
        """f[name], but never decompresses: raises NotZeroCopyError for a cold array."""
        return self._handle().get(name, MappedArray, 1)

    def raw(self, name):
        """The array's bytes with dtype void<itemsize> (same shape and strides), for dtypes
        numpy cannot express (bfloat16, float8_* without ml_dtypes): .view(np.uint16) etc."""
        return self._handle().get(name, MappedArray, 2)

    def read(self, name, rows=None, *, raw=False):
        """Copy rows of an array (along its first axis) into a new ndarray.

        rows: None (all), a slice, (start, stop), or an int (one row, first axis dropped).
        Hot or cold: for a cold C-order array only the chunks holding the rows are
        decompressed (Fortran-order arrays with 2+ dimensions are read whole, then sliced)."""
        h, i = self._index(name)
        info = h.info(i)
        dt = np.dtype((np.void, info["itemsize"])) if raw else h.descr(i)
        shape, fortran = info["shape"], info["order"] == "F"
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
        if fortran and len(shape) > 1:
            whole = np.empty(shape, dt, order="F")
            h.read(i, 0, whole)
            buf, lo = whole, 0
        else:
            lo = min(sel[0], sel[-1]) if sel else 0
            hi = max(sel[0], sel[-1]) + 1 if sel else 0
            buf = np.empty((hi - lo,) + tuple(shape[1:]), dt)
            row_bytes = dt.itemsize * int(np.prod(shape[1:], dtype=np.int64))
            h.read(i, lo * row_bytes, buf)
        if single:
            return buf[sel[0] - lo]
        if not sel:
            return buf[0:0]
        out = buf[sel[0] - lo::sel.step][:len(sel)]
        return out if sel.step == 1 else np.ascontiguousarray(out)

    # -- metadata and facts
    @property
    def metadata(self):
        """File-level metadata: a new dict of str -> str."""
        return self._handle().file_meta()

    def array_metadata(self, name):
        """An array's metadata: a new dict of str -> str."""
        h, i = self._index(name)
        return h.array_meta(i)

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
        read-only, so it is refused while views from this process's handle are alive."""
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
        return (_reopen, (h.path, self.mode, h.identity()))

    def __repr__(self):
        if self._h is None:
            return f"<mmarr.File {self.path!r} (closed)>"
        return f"<mmarr.File {self.path!r} mode={self.mode!r} {len(self)} arrays>"


# --------------------------------------------------------------------------------------------
# Writing

_COMPRESS_KEYS = {"level", "chunk_size", "shuffle", "threads"}
_WRITER_DEFAULT = object()


def _path_or_none(path):
    """A path argument (str, bytes or os.PathLike) as str, or None."""
    return None if path is None else os.fsdecode(os.fspath(path))


def _shape_arg(shape):
    """A shape argument (an int or a sequence of ints, numpy integers included) as a tuple."""
    try:
        return (operator.index(shape),)
    except TypeError:
        return tuple(operator.index(d) for d in shape)


def _compress_tuple(compress):
    """None/False: hot. True: cold with defaults. int: zstd level. dict: level, chunk_size,
    shuffle, threads."""
    if compress is None or compress is False:
        return None
    if compress is True:
        return (0, 0, False, 0)
    if isinstance(compress, dict):
        bad = set(compress) - _COMPRESS_KEYS
        if bad:
            raise TypeError(f"unknown compress option(s) {sorted(bad)}; "
                            f"known: {sorted(_COMPRESS_KEYS)}")
        return (int(compress.get("level", 0)), int(compress.get("chunk_size", 0)),
                bool(compress.get("shuffle", False)), int(compress.get("threads", 0)))
    level = operator.index(compress)
    if level == 0:
        raise ValueError("compress=0 is ambiguous: use None for a hot array or a level")
    return (level, 0, False, 0)


def _check_meta(what, meta):
    if meta is None:
        return {}
    meta = dict(meta)  # a copy: later changes by the caller do not matter
    for k, v in meta.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"{what}: metadata keys and values must be str "
                            f"(got {k!r}: {type(v).__name__}); encode other values, "
                            f"e.g. with json.dumps")
        if not k or "\0" in k or "\0" in v:
            raise ValueError(f"{what}: metadata keys must be non-empty and keys and values "
                             f"free of NUL characters (key {k!r})")
    return meta


class Writer:
    """Write an mmarr file; nothing appears at `path` until commit (atomic rename).

        with mmarr.Writer(path, metadata={"source": "x"}) as w:
            w.add("a", array, metadata={"unit": "m"}, compress=None)
            out = w.reserve("b", (1000, 3), "<f4")   # zero-filled view into the file
            out[:] = compute()
            with w.stream("c", (n, 3), "<f4", compress=3) as s:   # in pieces
                for block in blocks: s.write(block)
        # committed here; an exception in the block abandons the file instead

    Options: alignment (4096..2 MiB), pack_threshold (bytes; None: default 2048, 0: never
    pack), replace (False: fail if path exists), sync (False: skip fsync, e.g. on tmpfs),
    compress (default for add() and stream()).
    Views from reserve() are meant to be filled before commit. A view still alive after the
    commit keeps reading the committed bytes, but writes to it stay private to this process
    (they never reach the file, whose checksums are final); after an abandon it reads zeros.
    """

    def __init__(self, path, *, metadata=None, alignment=None, pack_threshold=None,
                 replace=True, sync=True, compress=None):
        path = os.fsdecode(os.fspath(path))
        meta = _check_meta(path, metadata)
        if pack_threshold == 0:
            pack = _mmarr.PACK_NONE
        else:
            pack = int(pack_threshold or 0)
        flags = ((0 if replace else _mmarr.WRITE_NO_REPLACE) |
                 (0 if sync else _mmarr.WRITE_NO_SYNC))
        self._w = _mmarr.Writer(path, int(alignment or 0), pack, flags)
        self.path = path
        self._compress = compress
        self._stream = None  # the open Stream, if any
        for k, v in meta.items():
            self._w.set_file_meta(k, v)

    def __len__(self):
        return self._w.count

    def _idle(self):
        """Refuse to go on while a Stream is open (the library takes one array at a time)."""
        if self._stream is not None and not self._w.finished:
            raise RuntimeError(f'array "{self._stream.name}" is still being streamed: close '
                               f'its Stream first (or abandon the Writer)')

    def add(self, name, array, *, metadata=None, compress=_WRITER_DEFAULT, dtype=None):
        """Store a copy of `array` (anything np.asarray accepts; C- or Fortran-contiguous
        arrays are stored in their order without an extra copy, others are copied to C
        order). dtype: store under another dtype of the same itemsize (e.g. "bfloat16" for
        uint16 bits). compress: None for hot, a level, or a dict; default: the Writer's."""
        self._idle()
        a = np.asarray(array)
        _refuse_objects(f'array "{name}"', a.dtype)
        text = dtype_text(a.dtype) if dtype is None else self._dtype_arg(dtype)[0]
        if not (a.flags.c_contiguous or a.flags.f_contiguous):
            a = np.ascontiguousarray(a)
        c = _compress_tuple(self._compress if compress is _WRITER_DEFAULT else compress)
        meta = _check_meta(f'array "{name}"', metadata)
        self._w.add(name, text, a, c)
        for k, v in meta.items():
            self._w.set_array_meta(name, k, v)

    @staticmethod
    def _dtype_arg(dtype):
        """(stored text, numpy dtype for the view) of a dtype argument."""
        if isinstance(dtype, str) and dtype in _ML_NAMES:
            try:
                dt = dtype_from_text(dtype)
            except TypeError:  # numpy cannot express it: hand out its raw bytes
                dt = np.dtype((np.void, _mmarr.dtype_canonical(dtype)[1]))
            return dtype, dt
        dt = np.dtype(dtype)
        return dtype_text(dt), dt

    def reserve(self, name, shape, dtype, *, order="C", metadata=None):
        """Reserve an array in the file and return a writable, zero-filled ndarray over its
        bytes, to fill in place (no copy). Valid until commit (see the class notes)."""
        self._idle()
        if order not in ("C", "F"):
            raise ValueError('order must be "C" or "F"')
        shape = _shape_arg(shape)
        text, dt = self._dtype_arg(dtype)
        meta = _check_meta(f'array "{name}"', metadata)
        out = self._w.reserve(name, text, dt, shape, order == "F")
        for k, v in meta.items():
            self._w.set_array_meta(name, k, v)
        return out

    def stream(self, name, shape, dtype, *, order="C", metadata=None,
               compress=_WRITER_DEFAULT):
        """Start an array whose data arrives in pieces, for arrays larger than memory
        (cold ones in particular: each piece is compressed as it comes). Returns a Stream;
        give it exactly the array's bytes, in storage order, then close it:

            with w.stream("x", (n, 3), "<f4", compress=3) as s:
                for block in blocks:            # e.g. (rows, 3) float32 arrays
                    s.write(block)

        No other array can be added while a stream is open. compress: None for hot, a
        level, or a dict; default: the Writer's."""
        self._idle()
        if order not in ("C", "F"):
            raise ValueError('order must be "C" or "F"')
        shape = _shape_arg(shape)
        text, dt = self._dtype_arg(dtype)
        _refuse_objects(f'array "{name}"', dt)
        meta = _check_meta(f'array "{name}"', metadata)
        c = _compress_tuple(self._compress if compress is _WRITER_DEFAULT else compress)
        self._w.begin(name, text, shape, order == "F", c)
        self._stream = Stream(self, name, dt, shape, order, meta)
        return self._stream

    def set_metadata(self, key, value, name=None):
        """Set file metadata, or an added array's when name is given."""
        self._idle()
        _check_meta("metadata", {key: value})
        if name is None:
            self._w.set_file_meta(key, value)
        else:
            self._w.set_array_meta(name, key, value)

    def commit(self):
        """Publish the file atomically (checksums, fsync unless sync=False, rename)."""
        self._idle()
        self._w.commit()

    def abandon(self):
        """Discard everything; the target path is left as it was."""
        self._w.abandon()

    @property
    def finished(self):
        return self._w.finished

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._w.finished:
            return
        if exc_type is None:
            if self._stream is not None:  # the block left a Stream open
                name = self._stream.name
                self.abandon()
                raise RuntimeError(f'array "{name}" was still being streamed at the end of '
                                   f'the Writer\'s with block: the file is abandoned (close '
                                   f'the Stream first)')
            self.commit()
        else:
            self.abandon()


class Stream:
    """An array being written in pieces (Writer.stream()). write() appends data; close()
    (or leaving its with block without an exception) finishes the array and sets its
    metadata. The Writer takes no other array, metadata or commit until the stream is
    closed. Errors that write() and close() raise here (wrong dtype, too many or missing
    bytes) leave the stream open to go on; a failure inside the library, or an exception
    that leaves the with block, leaves the array unfinished: the Writer can then only be
    abandoned (which the Writer's with block does when the exception reaches it).

    s.write(x)  x an ndarray of the stream's dtype (any shape: its elements are appended in
                the stream's order, C or F); other array-likes (lists, scalars), converted
                with numpy's "same_kind" casting (an int array accepts ints, not floats);
                or any contiguous buffer (bytes, bytearray, memoryview, array.array, mmap):
                its raw bytes, appended as they are (e.g. uint16 bits for a bfloat16 array)
    s.written, s.nbytes  bytes written so far, and the array's total
    """

    def __init__(self, writer, name, dtype, shape, order, meta):
        self._writer, self.name, self.dtype = writer, name, dtype
        self.shape, self.order, self._meta = shape, order, meta
        self.nbytes = dtype.itemsize * int(np.prod(shape, dtype=object))
        self.written = 0
        self.closed = False

    def _buffer(self, data):
        """(object to hand to the library, its byte count)"""
        if not isinstance(data, (np.ndarray, np.generic)):
            try:
                mv = memoryview(data)
            except TypeError:  # no buffer: a list, a Python scalar, ...
                mv = None
            if mv is not None:
                if not mv.contiguous:
                    raise ValueError(f'stream "{self.name}": the buffer is not contiguous')
                return mv, mv.nbytes
            if self.dtype.names is not None:  # rows of a record array: tuples
                data = np.asarray(data, dtype=self.dtype)
            else:
                data = np.asarray(data)
                if data.dtype != self.dtype and np.can_cast(data.dtype, self.dtype,
                                                            "same_kind"):
                    data = data.astype(self.dtype)
        a = np.asarray(data)
        if a.dtype != self.dtype:
            raise TypeError(f'stream "{self.name}": data of dtype {a.dtype}, the array is '
                            f'{self.dtype} (convert with .astype(), reinterpret the bits '
                            f'with .view(), or pass bytes)')
        a = np.asfortranarray(a) if self.order == "F" else np.ascontiguousarray(a)
        return a, a.nbytes

    def write(self, data):
        if self.closed:
            raise ValueError(f'stream "{self.name}" is closed')
        buf, n = self._buffer(data)
        if n > self.nbytes - self.written:
            raise ValueError(f'stream "{self.name}": {n} more bytes would exceed the '
                             f'array\'s {self.nbytes} ({self.written} written)')
        self._writer._w.write(buf)
        self.written += n

    def close(self):
        """Finish the array (ValueError if bytes are missing) and set its metadata."""
        if self.closed:
            return
        if self.written != self.nbytes:
            raise ValueError(f'stream "{self.name}": {self.written} of {self.nbytes} bytes '
                             f'written')
        self._writer._w.end()
        self.closed = True
        self._writer._stream = None
        for k, v in self._meta.items():
            self._writer._w.set_array_meta(self.name, k, v)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()

    def __repr__(self):
        return (f"<mmarr.Stream {self.name!r} {self.dtype} {self.shape} "
                f"{self.written}/{self.nbytes} bytes{' closed' if self.closed else ''}>")


def save(path, arrays, *, metadata=None, array_metadata=None, compress=None, **options):
    """Write {name: array} (or (name, array) pairs) to `path` in one go.

    metadata: file metadata {str: str}; array_metadata: {name: {str: str}}; compress: None,
    a zstd level, True, or dict(level, chunk_size, shuffle, threads), applied to every array;
    options: as for Writer (alignment, pack_threshold, replace, sync)."""
    pairs = list(arrays.items() if isinstance(arrays, collections.abc.Mapping) else arrays)
    array_metadata = array_metadata or {}
    unknown = set(array_metadata) - {name for name, _ in pairs}
    if unknown:
        raise KeyError(f"array_metadata names arrays that are not saved: {sorted(unknown)}")
    with Writer(path, metadata=metadata, compress=compress, **options) as w:
        for name, a in pairs:
            w.add(name, a, metadata=array_metadata.get(name))


# --------------------------------------------------------------------------------------------
# The decompression cache of cold arrays

def cache_dir():
    """The default cache directory: $MMARR_CACHE_DIR, else /dev/shm/mmarr-cache-<euid>."""
    return _mmarr.cache_default_dir()


def cache_list(dir=None):  # noqa: A002
    """The complete entries of a cache directory (None: the default), least recently used
    first: dicts with name, bytes, last_used (Unix seconds) and in_use (some process maps
    it now). A directory that does not exist has no entries."""
    return _mmarr.cache_list(_path_or_none(dir))


def cache_clear(keep_bytes=0, dir=None):  # noqa: A002
    """Shrink a cache directory (None: the default) to at most keep_bytes of entries (0:
    remove all), unmapped least recently used entries first; also removes temporaries of
    processes that died. Mappers of a removed entry keep their pages. Returns the bytes
    removed."""
    keep = operator.index(keep_bytes)
    if keep < 0:
        raise ValueError("keep_bytes must be >= 0")
    return _mmarr.cache_clear(min(keep, 2**64 - 1),  # more than 2^64 bytes: keep everything
                              _path_or_none(dir))


# --------------------------------------------------------------------------------------------
# Sharing in-memory arrays with worker processes

def _default_share_dir():
    return "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


def _unlink_if_same(path, ident, pid):
    if os.getpid() == pid and _stat_id(path) == ident:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


class Shared(collections.abc.Mapping):
    """Arrays written once to a file on tmpfs and mapped back: s["x"] (or s.array when one
    array was shared) pickles as a reference, so workers map the same pages.

    close() (or leaving the with block, or garbage collection, or interpreter exit) unlinks
    the file: views already mapped stay valid in every process, but arrays pickled later
    cannot be unpickled any more. Keep it open until the workers have their arrays."""

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __init__(self, path, mode):
        self.path = path
        self.file = File(path, mode)
        ident = (self.file._h.st_dev, self.file._h.st_ino)
        self._finalizer = weakref.finalize(self, _unlink_if_same, path, ident, os.getpid())
        self.arrays = {name: self.file[name] for name in self.file}

    @property
    def array(self):
        """The only array (when a single array was shared)."""
        if len(self.arrays) != 1:
            raise AttributeError("several arrays are shared: use s[name]")
        return next(iter(self.arrays.values()))

    def __getitem__(self, name):
        return self.arrays[name]

    def __iter__(self):
        return iter(self.arrays)

    def __len__(self):
        return len(self.arrays)

    def close(self):
        """Unlink the file (idempotent). Arrays already mapped stay valid."""
        self.file.close()
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<mmarr.Shared {self.path!r} {list(self.arrays)}>"


def share(arrays=None, *, empty=None, dir=None, writable=False, compress=None):
    """Write arrays once to a file in `dir` (default /dev/shm) and return them mapped.

    arrays: one ndarray (then s.array) or {name: array}; empty: {name: (shape, dtype)} or
    {name: (shape, dtype, order)} for zero-filled arrays made in the file without a copy
    (e.g. a shared output buffer, with writable=True); writable: map "r+" so workers'
    writes reach every process. Returns a Shared (a context manager that unlinks the file).
    """
    if arrays is None:
        arrays = {}
    elif not isinstance(arrays, collections.abc.Mapping):
        arrays = {"array": arrays}
    fd, path = tempfile.mkstemp(prefix=f"mmarr-share-{os.getpid()}-", suffix=".mmarr",
                                dir=dir or _default_share_dir())
    os.close(fd)
    try:
        with Writer(path, sync=False, compress=compress) as w:
            for name, a in arrays.items():
                w.add(name, a)
            for name, spec in (empty or {}).items():
                w.reserve(name, spec[0], spec[1], order=spec[2] if len(spec) > 2 else "C")
        return Shared(path, "r+" if writable else "r")
    except BaseException:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        raise
