# SPDX-License-Identifier: MIT
"""Sharing in-memory arrays with worker processes: share() writes them once to tmpfs and
maps them back (tempfile is imported only when a directory must be chosen)."""
import collections.abc
import os
import weakref

from ._file import File
from ._pickle import _stat_id
from ._writer import Writer

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
    import tempfile
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
