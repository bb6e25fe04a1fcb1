# SPDX-License-Identifier: MIT
"""Sharing in-memory arrays with worker processes: share() writes them once to a file and
maps them back; the file goes when the last process using it is gone (_lease.py)."""
import collections.abc
import fcntl
import math
import os

from . import _lease, _mmarr
from ._file import File
from ._writer import Writer, named_arrays


ENV = "MMARR_SHARE_DIR"


def _default_share_dir(nbytes=0):
    """Where share() writes: $MMARR_SHARE_DIR; else /dev/shm if its pages are huge; else a
    disk filesystem's temporary directory (the page cache maps large folios: a worker's first
    pass over a 1 GiB array ~90 ms against ~700 ms on a tmpfs of 4 KiB pages, on this
    project's VM) when it has room for nbytes; else /dev/shm; else the temporary directory."""
    env = os.environ.get(ENV)
    if env:
        return env
    import tempfile
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    if shm and _pages(shm) == _mmarr.PAGES_HUGE_SHMEM:
        return shm
    for d in dict.fromkeys((tempfile.gettempdir(), "/var/tmp")):
        try:
            if (_pages(d) == _mmarr.PAGES_PAGE_CACHE and os.access(d, os.W_OK | os.X_OK)):
                st = os.statvfs(d)
                if st.f_bavail * st.f_frsize >= nbytes + nbytes // 8 + (256 << 20):
                    return d
        except OSError:
            continue
    return shm or tempfile.gettempdir()


def _pages(d):
    try:
        return _mmarr.pages_of(d)[0]
    except (OSError, _mmarr.Error):
        return _mmarr.PAGES_UNKNOWN


class Shared(collections.abc.Mapping):
    """Arrays written once to a file on tmpfs and mapped back: s["x"] (or s.array when one
    array was shared) pickles as a reference, so workers map the same pages.

    The file is removed when no process uses it any more: when the last array, File or
    Shared mapping it is gone in every process (close(), the end of the with block or
    garbage collection here; the end of the workers), or the processes were killed (then
    at the next share() into the same directory). A file a live process maps stays."""

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __init__(self, path, mode):
        self.path = path
        self.file = File(path, mode)
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
        """Let go of the file (idempotent): it is removed once no array from it is alive in
        this process or any other. Arrays already obtained stay valid."""
        self.file.close()
        self.arrays = {}

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
    """Write arrays once to a file in `dir` and return them mapped. Default: where mappings
    are cheapest (see _default_share_dir: $MMARR_SHARE_DIR, a huge-page /dev/shm, else a disk
    filesystem's temporary directory with room, else /dev/shm).

    arrays: one ndarray (then s.array) or {name: array} (a list is refused: its arrays have
    no names); empty: {name: (shape, dtype)} or {name: (shape, dtype, order)} for zero-filled
    arrays made in the file without a copy (e.g. a shared output buffer, with
    writable=True); writable: map "r+" so workers' writes reach every process. Returns a
    Shared. The file is removed when no process maps it any more, even if they were killed
    (then by the next share() into `dir`, which sweeps such files first).
    """
    pairs = [] if arrays is None else named_arrays(arrays, "share")
    empties = [(name, _empty_spec(name, spec)) for name, spec in (empty or {}).items()]
    directory = dir or _default_share_dir(
        sum(getattr(a, "nbytes", 0) for _, a in pairs) +
        sum(math.prod(shape) * dtype.itemsize for _, (shape, dtype, _) in empties))
    _lease.sweep(directory)  # files whose users were all killed
    import tempfile
    # The name is claimed and locked first (a sweep leaves it alone), the file is built
    # beside it and renamed over it once locked: at no moment can a sweep take it.
    placeholder, path = tempfile.mkstemp(prefix=f"mmarr-share-{os.getpid()}-",
                                         suffix=".mmarr", dir=directory)
    built = None
    try:
        fcntl.flock(placeholder, fcntl.LOCK_SH)
        part = path + _lease.PART
        with Writer(part, sync=False, compress=compress,
                    metadata={_lease.SHARE_KEY: os.path.realpath(path)}) as w:
            for name, a in pairs:
                w.put(name, a)
            for name, (shape, dtype, order) in empties:
                w.reserve(name, shape, dtype, order=order)
        built = os.open(part, os.O_RDONLY | os.O_CLOEXEC)
        fcntl.flock(built, fcntl.LOCK_SH)
        os.rename(part, path)
        return Shared(path, "r+" if writable else "r")
    except BaseException:
        for p in (path, path + _lease.PART):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        raise
    finally:
        os.close(placeholder)
        if built is not None:
            os.close(built)
