# SPDX-License-Identifier: MIT
"""Writing: Writer (added, reserved and streamed arrays), Stream, save()."""
import collections.abc
import operator
import os

import numpy as np

from . import _mmarr, _pandas
from ._dtypes import _ML_NAMES, _refuse_objects, dtype_from_text, dtype_text
from ._pickle import memory_owner, wrap_result
from ._ragged import OFFSETS_SUFFIX, encode, is_ragged_input

_COMPRESS_KEYS = {"level", "chunk_size", "shuffle", "threads"}
_WRITER_DEFAULT = object()


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

    def add(self, name, array, *, metadata=None, compress=_WRITER_DEFAULT, dtype=None,
            capacity=None):
        """Store a copy of `array` (anything np.asarray accepts; C- or Fortran-contiguous
        arrays are stored in their order without an extra copy, others are copied to C
        order). dtype: store under another dtype of the same itemsize (e.g. "bfloat16" for
        uint16 bits). compress: None for hot, a level, or a dict; default: the Writer's.
        capacity: make it *growable* (format 1.2): its first dimension may grow in place up
        to `capacity` rows, by append() of an Appender (mmarr.open(path, "a")) or of this
        Writer, like HDF5's and zarr's maxshape along the first axis; stored in C order.
        Hot, its room is reserved as a hole (no disk or memory until written) and it stays
        one mappable range; cold (compress), appended rows become new chunks after the
        file's end (the last chunk, when not full, is compressed again with them)."""
        self._idle()
        a = np.asarray(array)
        _refuse_objects(f'array "{name}"', a.dtype)
        text = dtype_text(a.dtype) if dtype is None else self._dtype_arg(dtype)[0]
        c = _compress_tuple(self._compress if compress is _WRITER_DEFAULT else compress)
        meta = _check_meta(f'array "{name}"', metadata)
        if capacity is None:
            self._add_checked(name, text, a, c)
        else:
            capacity = operator.index(capacity)
            if a.ndim == 0 or capacity < max(a.shape[0], 1):
                raise ValueError(f'array "{name}": capacity {capacity} needs at least one '
                                 f'dimension and at least its {a.shape[0] if a.ndim else 0} '
                                 f'rows, and 1')
            self._w.add_growable(name, text, np.ascontiguousarray(a), capacity, c)
        for k, v in meta.items():
            self._w.set_array_meta(name, k, v)

    def append(self, name, rows):
        """Append `rows` (an array whose shape[1:] and dtype match the growable array
        `name`'s; one row may be given without the leading dimension) after its rows, in
        place. Past the capacity: mmarr.Error with code_name "MMARR_E_RANGE"; rows of
        another dtype or row shape: ValueError."""
        self._idle()
        text, inner = self._growable_kind(name)
        r = np.asarray(rows)
        if r.shape == inner:
            r = r[np.newaxis]
        if dtype_text(r.dtype) != text or r.shape[1:] != inner:
            raise ValueError(f'array "{name}" has rows of {inner} {text}: cannot append rows '
                             f'of {r.shape[1:]} {dtype_text(r.dtype)}')
        self._w.append_rows(name, np.ascontiguousarray(r))

    def _growable_kind(self, name):
        """(dtype text, row shape) of the growable array `name` the writer holds."""
        try:
            text, shape, capacity = self._w.array_kind(name)
        except KeyError:
            raise KeyError(f'no array "{name}" in {self.path}') from None
        if capacity is None:
            raise KeyError(f'"{name}" is not a growable array of {self.path} (add it with '
                           f'capacity=...)')
        return text, shape[1:]

    def _add_checked(self, name, text, a, c):
        """The end of add(), arguments checked: C- or Fortran-contiguous arrays as they are,
        others copied to C order (save() calls it directly for plain ndarrays)."""
        if not (a.flags.c_contiguous or a.flags.f_contiguous):
            a = np.ascontiguousarray(a)
        self._w.add(name, text, a, c)

    def add_ragged(self, name, items, *, kind=None, dtype=None, metadata=None,
                   compress=_WRITER_DEFAULT):
        """Store a list of variable-length arrays (one dtype and inner shape; any length
        along the first axis), of str or of bytes as one ragged item (spec.md §7.7): the
        values under `name`, the offsets under `name + "/offsets"`. Read back as a Ragged.
        kind: "arrays", "str" or "bytes" (default: from the first item; needed for an empty
        list); dtype: convert array items to it; compress: applies to the values."""
        self._add_ragged(name, *encode(name, items, kind, dtype), metadata=metadata,
                         compress=compress)

    def _add_ragged(self, name, values, offsets, code, metadata=None, compress=_WRITER_DEFAULT):
        """add_ragged() of items already encoded: values, uint64 offsets, kind code."""
        self.add(name, values, metadata=metadata, compress=compress)
        self.add(name + OFFSETS_SUFFIX, offsets, compress=None)
        self._w.ragged(name, name + OFFSETS_SUFFIX, code)

    def put(self, name, obj, **options):
        """add_frame() for a pandas DataFrame or Series, add_ragged() for a list or tuple of
        ndarrays, str or bytes, add() otherwise."""
        if _pandas.is_pandas(obj):
            self.add_frame(name, obj)
        elif is_ragged_input(obj):
            self.add_ragged(name, obj, **options)
        else:
            self.add(name, obj, **options)

    def add_frame(self, name, frame):
        """Store a pandas DataFrame or Series as frame `name`: one array per column (ragged
        text, codes + categories, values + mask for nullable columns) named "name/<j>", and
        the index (a range costs nothing), described by file metadata "mmarr.frame/name"
        (docs/pandas.md). Read back, f[name] equals it (pandas.testing.assert_frame_equal),
        its numeric columns zero-copy. Object columns other than str or bytes are refused."""
        self._idle()
        _pandas.write(self, name, frame)

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
        out = self._w.reserve(name, text, dt, shape, order == "F").view(ReservedArray)
        out._reserved = (self.path, name)
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


class Appender(Writer):
    """Add to an existing mmarr file in place: mmarr.open(path, "a").

        with mmarr.open(path, "a") as w:
            w.add("day-2", prices)              # as with Writer: add, reserve, stream, ...
            w.set_metadata("updated", "2026-12-06")
            w.delete("old")                     # its bytes stay until compaction
            w.replace("latest", table)          # delete + add
        # published here as the file's next generation; an exception abandons the append

    New bytes go after the file's end; nothing already in it moves or changes, so readers
    keep the generation they opened until they call File.refresh() (or open again). One
    writer at a time: another appender (or an "r+" File) raises mmarr.Error with code_name
    "MMARR_E_BUSY", unless wait=True, which waits for it. Options: sync (False: skip fsync),
    wait, pack_threshold, compress (default for add() and stream()); the alignment is the
    file's. An abandoned append leaves the file byte for byte as it was.
    """

    def __init__(self, path, *, sync=True, wait=False, pack_threshold=None, compress=None):
        path = os.fsdecode(os.fspath(path))
        pack = _mmarr.PACK_NONE if pack_threshold == 0 else int(pack_threshold or 0)
        flags = ((0 if sync else _mmarr.WRITE_NO_SYNC) | (_mmarr.WRITE_WAIT if wait else 0))
        self._w = _mmarr.Writer(path, 0, pack, flags, append=True)
        self.path = path
        self._compress = compress
        self._stream = None

    def delete(self, name):
        """Remove array (or ragged item) `name` from the next generation; KeyError if the
        file has no such array. Its bytes stay in the file as dead space."""
        self._idle()
        try:
            self._w.delete(name)
        except _mmarr.Error as e:
            if getattr(e, "code_name", "") == "MMARR_E_NOTFOUND":
                raise KeyError(name) from None
            raise

    def replace(self, name, array, **options):
        """delete(name) if it exists, then add(name, array, **options)."""
        try:
            self.delete(name)
        except KeyError:
            pass
        self.add(name, array, **options)

    def commit(self):
        """Publish the additions as the file's next generation (fsync unless sync=False)."""
        self._idle()
        self._w.commit()

    def abandon(self):
        """Discard the additions; the file is left byte for byte as it was."""
        self._w.abandon()


class ReservedArray(np.ndarray):
    """The ndarray Writer.reserve() returns (and its views): memory of a file that is not
    published yet, so pickling it is refused rather than sending a copy that workers would
    fill in vain. Results in new memory are plain ndarrays."""

    _reserved = None  # (path, array name)

    def __array_finalize__(self, obj):
        self._reserved = getattr(obj, "_reserved", None)

    def __array_wrap__(self, obj, context=None, return_scalar=False):
        return wrap_result(obj, obj is self or _reserved_memory(obj), return_scalar)

    def __reduce_ex__(self, protocol):
        if not _reserved_memory(self):
            return np.asarray(self).__reduce_ex__(protocol)
        path, name = self._reserved or ("?", "?")
        raise TypeError(
            f'cannot pickle a view of array "{name}" reserved in mmarr.Writer({path!r}): '
            f"other processes cannot map a file before it is committed, and a copy would "
            f"take their writes away. Commit first and send mmarr.open({path!r}, "
            f"\"r+\")[{name!r}] (workers write into the file), or make the buffer with "
            f"mmarr.share(empty={{{name!r}: (shape, dtype)}}, writable=True)")

    def __reduce__(self):
        return self.__reduce_ex__(2)


def _reserved_memory(a):
    return isinstance(memory_owner(a), _mmarr.Reservation)


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


def named_arrays(arrays, what):
    """[(name, array)] from {name: array}, (name, array) pairs, or one ndarray (named
    "array"); TypeError for anything else, saying what to pass."""
    if isinstance(arrays, collections.abc.Mapping):
        return list(arrays.items())
    if isinstance(arrays, np.ndarray) or hasattr(arrays, "__array_interface__"):
        return [("array", arrays)]
    if isinstance(arrays, (list, tuple)):
        if all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in arrays):
            return list(arrays)
        raise TypeError(
            f"{what}() takes one ndarray, {{name: array}} or (name, array) pairs, not a "
            f"{type(arrays).__name__} of arrays (it would not know their names): pass e.g. "
            f"{{'a': a, 'b': b}}, or np.asarray(...) if you mean one array")
    raise TypeError(f"{what}() takes one ndarray, {{name: array}} or (name, array) pairs, "
                    f"not {type(arrays).__name__}")


def save(path, arrays, *, metadata=None, array_metadata=None, compress=None, **options):
    """Write {name: array} (or (name, array) pairs, or one ndarray, saved as "array") to
    `path` in one go. A value that is a list of ndarrays, of str or of bytes is stored as a
    ragged item (Writer.add_ragged), read back as a Ragged sequence.

    metadata: file metadata {str: str}; array_metadata: {name: {str: str}}; compress: None,
    a zstd level, True, or dict(level, chunk_size, shuffle, threads), applied to every array;
    options: as for Writer (alignment, pack_threshold, replace, sync)."""
    pairs = named_arrays(arrays, "save")
    array_metadata = array_metadata or {}
    if array_metadata:
        unknown = set(array_metadata) - {name for name, _ in pairs}
        if unknown:
            raise KeyError(f"array_metadata names arrays that are not saved: "
                           f"{sorted(unknown)}")
    with Writer(path, metadata=metadata, compress=compress, **options) as w:
        c = _compress_tuple(w._compress)
        for name, a in pairs:
            if type(a) is np.ndarray and not a.dtype.hasobject and name not in array_metadata:
                # the common case, without put()'s and add()'s argument handling: a file of
                # 100,000 small arrays is written ~2x faster
                w._add_checked(name, dtype_text(a.dtype), a, c)
            else:
                w.put(name, a, metadata=array_metadata.get(name))
