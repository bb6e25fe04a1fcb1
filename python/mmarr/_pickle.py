# SPDX-License-Identifier: MIT
"""Pickling by reference: MappedArray (an ndarray whose pickle names the file and the array,
not the bytes), and the handles unpickling shares within a process."""
import collections
import os
import weakref

import numpy as np

from . import _mmarr
from ._dtypes import _stored_dtype, dtype_from_text
from ._mmarr import FileChangedError

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
