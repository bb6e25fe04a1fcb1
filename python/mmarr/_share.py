# SPDX-License-Identifier: MIT
"""Sharing in-memory arrays with worker processes: share() writes them once to tmpfs and
maps them back (tempfile is imported only when a directory must be chosen)."""
import collections.abc
import os
import weakref

from ._file import File
from ._pickle import _stat_id
from ._writer import Writer, named_arrays

def _default_share_dir():
    if os.path.isdir("/dev/shm"):
        return "/dev/shm"
    import tempfile
    return tempfile.gettempdir()


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


def _empty_spec(name, spec):
    """(shape, dtype, order) from share()'s empty={name: (shape, dtype[, order])}."""
    import numpy as np
    ok = isinstance(spec, (tuple, list)) and len(spec) in (2, 3)
    if ok and isinstance(spec[1], (int, np.integer)) and not isinstance(spec[1], bool):
        ok = False  # (4000, 1500): a shape without its dtype
    if not ok:
        raise TypeError(f"share(empty=...): {name!r} must be (shape, dtype) or (shape, dtype, "
                        f"order), e.g. {{{name!r}: ((4000, 1500), 'float64')}}; got {spec!r}")
    shape = (spec[0],) if isinstance(spec[0], (int, np.integer)) else tuple(spec[0])
    return shape, np.dtype(spec[1]), spec[2] if len(spec) == 3 else "C"


def share(arrays=None, *, empty=None, dir=None, writable=False, compress=None):
    """Write arrays once to a file in `dir` (default /dev/shm) and return them mapped.

    arrays: one ndarray (then s.array) or {name: array} (a list is refused: its arrays have no
    names); empty: {name: (shape, dtype)} or {name: (shape, dtype, order)} for zero-filled arrays made in the file without a copy
    (e.g. a shared output buffer, with writable=True); writable: map "r+" so workers'
    writes reach every process. Returns a Shared (a context manager that unlinks the file).
    """
    pairs = [] if arrays is None else named_arrays(arrays, "share")
    empties = [(name, _empty_spec(name, spec)) for name, spec in (empty or {}).items()]
    import tempfile
    fd, path = tempfile.mkstemp(prefix=f"mmarr-share-{os.getpid()}-", suffix=".mmarr",
                                dir=dir or _default_share_dir())
    os.close(fd)
    try:
        with Writer(path, sync=False, compress=compress) as w:
            for name, a in pairs:
                w.add(name, a)
            for name, (shape, dtype, order) in empties:
                w.reserve(name, shape, dtype, order=order)
        return Shared(path, "r+" if writable else "r")
    except BaseException:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        raise
