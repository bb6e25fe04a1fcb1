# SPDX-License-Identifier: MIT
"""Pickling by reference: MappedArray (an ndarray whose pickle names the file and the array,
not the bytes), and the handles unpickling shares within a process."""
import collections
import copyreg
import os
import weakref

import numpy as np

from . import _lease, _mmarr, _stage
from ._dtypes import _stored_dtype, dtype_from_text
from ._mmarr import FileChangedError
from ._stage import content_identity, identity_difference

def memory_owner(a):
    """The object at the end of an ndarray's base chain (None for memory of its own)."""
    b = a
    while isinstance(b, np.ndarray):
        b = b.base
    return b


def _mapping_of(a):
    """The _mmarr.Mapping an ndarray's memory comes from, or None."""
    b = memory_owner(a)
    return b if isinstance(b, _mmarr.Mapping) else None


def wrap_result(obj, in_place, return_scalar):
    """__array_wrap__ of ndarray subclasses over file memory: a result in that memory
    (out=) keeps the subclass; new memory is a plain ndarray (or scalar), as numpy gives."""
    if in_place:
        return obj
    obj = obj.view(np.ndarray)
    return obj[()] if return_scalar or obj.ndim == 0 else obj


class MappedArray(np.ndarray):
    """A numpy array whose memory is (part of) an array in an mmarr file.

    It behaves as an ndarray. Pickling it — also a slice, transpose, field or dtype view of
    it — records (path, file identity, array name and checksum, offset, shape, strides), a
    few hundred bytes, and unpickling maps the same file; results that are new memory (ufunc
    outputs, copies, fancy indexing) are plain data and pickle as such."""

    def __array_wrap__(self, obj, context=None, return_scalar=False):
        return wrap_result(obj, obj is self or _mapping_of(obj) is not None, return_scalar)

    def __reduce_ex__(self, protocol):
        ref = _reference(self)
        return ref if ref is not None else np.asarray(self).__reduce_ex__(protocol)

    def __reduce__(self):
        return self.__reduce_ex__(2)


def _reference(a):
    """(_rebuild, args) naming the file memory ndarray `a` views, or None."""
    m = _mapping_of(a)
    offset = m.locate(a) if m is not None else None
    if offset is None:
        return None
    h = m.handle
    key = h.array_key(m.index)
    # the unpickled view maps the file as this one does: read-only, writes reaching the
    # file ("r+"), or writes staying in the process ("c": changes made here are not sent)
    mode = ("r" if not a.flags.writeable else "c" if h.copy_on_write else "r+")
    dtype = None if a.dtype == _stored_dtype(key[4]) else a.dtype
    return (_rebuild, (origin_path(h), mode, h.identity(), m.name, key, offset, a.shape,
                       a.strides, dtype))


def _reduce_recarray(a):
    """copyreg reducer of np.recarray (np.rec.array(t, copy=False), t.view(np.recarray)):
    a record-array view of a mapped array pickles as a reference too; others as numpy's."""
    ref = _reference(a)
    if ref is None:
        return np.ndarray.__reduce__(a)
    return (_rebuild_as, (np.recarray, ref[1]))


def _rebuild_as(cls, args):
    return _rebuild(*args).view(cls)


copyreg.pickle(np.recarray, _reduce_recarray)


# --------------------------------------------------------------------------------------------
# Handles shared by Files and unpickled arrays

_live = weakref.WeakValueDictionary()   # (st_dev, st_ino, mode) -> Handle, any origin
_pinned = collections.OrderedDict()     # handles opened by unpickling, most recent last
_PINNED_MAX = 4


_MODE_FLAGS = {"r": 0, "r+": _mmarr.OPEN_RDWR, "c": _mmarr.OPEN_COPY_ON_WRITE}


def _mode(m):
    """A handle mode: "r", "r+" or "c" (True/False from older pickles: "r+"/"r")."""
    return m if isinstance(m, str) else ("r+" if m else "r")


def _open_handle(path, mode, flags=0, generation=None):
    # absolute: pickles name the file whatever the unpickling process's working directory
    mode = _mode(mode)
    path = os.path.abspath(path)
    lease = _lease.lock_shared(path)  # a share() file: locked before it is mapped
    try:
        h = _mmarr.open(path, flags | _MODE_FLAGS[mode], generation)
    except BaseException:
        if lease is not None:
            os.close(lease)
        raise
    _lease.hold(path, h, lease)
    if generation is None:  # _live serves the newest generation; older ones stay pinned
        _live[(h.st_dev, h.st_ino, mode)] = h
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


def _same_data(ident, now):
    """Whether a handle whose identity() is `now` serves the data a reference recorded as
    `ident`: the same file (this machine's device and inode) with the same index, or, from
    another machine or a copy, the same content identity (spec.md §11.3), which vouches for
    the data unless checksums are stale; then the inode must match too (a shared
    filesystem reports one inode number on every client; a copy has another)."""
    if tuple(ident[:4]) == tuple(now[:4]):
        return True
    if len(ident) < 8:  # pickles of mmarr <= 0.1 name a file on their machine only
        return False
    if content_identity(ident) != content_identity(now):
        return False
    return not (ident[7] or now[7]) or ident[1] == now[1]


def _mismatch(path, ident, now, what):
    if len(ident) < 8:
        why = (f"{path} is another file than when it was pickled (device/inode "
               f"{ident[0]}/{ident[1]}, index at {ident[2]}; now {now[0]}/{now[1]}, "
               f"index at {now[2]})")
    elif content_identity(ident) == content_identity(now):
        why = (f"{path} has the recorded content identity but is another file (inode "
               f"{ident[1]}, now {now[1]}) and its checksums are stale (written in place "
               f"through 'r+'), so equal identities do not prove equal data; "
               f"flush(rehash=True) makes the file shareable across machines")
    else:
        why = f"{path} holds other data than the reference names: " + \
              identity_difference(ident, now)
        if tuple(ident[:2]) == tuple(now[:2]):
            why = f"{path} was rewritten since it was pickled, and " + why[len(path) + 1:]
        elif ident[0] == now[0]:
            why = (f"{path} was replaced since it was pickled (inode {ident[1]}, now "
                   f"{now[1]}), and " + why[len(path) + 1:])
    return FileChangedError(f"cannot unpickle {what}: {why}")


_origin = weakref.WeakKeyDictionary()  # handle of a staged copy -> the path it was staged from
_stage_memo = {}                       # (path, content identity) -> staged path, or None


def _staged_path(path, ident):
    """The node-local copy to map for a read-only reference when MMARR_STAGE_DIR is set
    (see _stage.py), or None: not configured, same filesystem as the staging directory, or
    staging failed (logged once per file and process; the shared path is mapped then)."""
    stage_dir = os.environ.get(_stage.ENV)
    if not stage_dir or len(ident) < 8 or ident[7]:
        return None
    key = (path, content_identity(ident), stage_dir)
    local = _stage_memo.get(key, False)
    if local is None or (local and os.path.exists(local)):
        return local
    try:
        if os.stat(path).st_dev == os.stat(stage_dir).st_dev:
            _stage_memo[key] = None  # already as local as the staging directory
            return None
    except OSError:
        pass  # no shared path (a copy may be staged already), or no directory yet
    try:
        local = _stage._stage(path, stage_dir, expect=ident)[0]
    except (OSError, _mmarr.Error) as e:
        _stage.log().warning("mmarr: mapping %s from its shared path: %s", path, e)
        local = None
    _stage_memo[key] = local
    return local


def _handle_for(path, mode, ident, what):
    """A handle of `mode` ("r", "r+", "c") on `path` (or on its node-local copy, for
    references that never write the file, when staging is configured) serving the data
    `ident` recorded, or FileChangedError."""
    mode = _mode(mode)
    for key, h in list(_pinned.items()):
        if _stat_id(h.path) != (h.st_dev, h.st_ino):
            _pinned.pop(key, None)
    local = None if mode == "r+" else _staged_path(path, ident)
    use = local or path
    key = (use, mode, ident[4] if len(ident) > 4 else None)  # generations of a file apart
    h = _pinned.get(key)
    if h is None or not _same_data(ident, h.identity()):
        now = _stat_id(use)
        if now is None:
            raise FileChangedError(f"cannot unpickle {what}: {path} is gone (deleted or "
                                   f"renamed, or not reachable from this machine)")
        h = _live.get((now[0], now[1], mode))
        if h is None or not _same_data(ident, h.identity()) or (mode == "r+" and not h.writable):
            try:
                h = _open_handle(use, mode)
            except FileNotFoundError:
                raise FileChangedError(f"cannot unpickle {what}: {path} is gone") from None
        if not _same_data(ident, h.identity()):
            h = _recorded_generation(use, mode, ident, h, path, what)
        if local:
            _origin[h] = path
    _pinned.pop(key, None)
    _pinned[key] = h  # most recent last
    while len(_pinned) > _PINNED_MAX:
        _pinned.pop(next(iter(_pinned)), None)
    return h


def _recorded_generation(path, mode, ident, newest, shown, what):
    """A handle on the earlier generation `ident` recorded, which the file holds until it is
    compacted or replaced, or written in place and rehashed (spec.md §4.4 rule 8: appends
    never move or rewrite a byte of it), or FileChangedError. Not for "r+": in-place writes
    go through the newest generation."""
    now = newest.identity()
    if len(ident) < 10 or mode == "r+" or ident[4] >= now[4]:
        raise _mismatch(shown, ident, now, what)
    try:
        h = _open_handle(path, mode, generation=(*content_identity(ident), ident[8], ident[9]))
    except _mmarr.Error as e:  # no longer in the file: say why, with the difference
        raise FileChangedError(f"cannot unpickle {what}: {e}") from None
    if not _same_data(ident, h.identity()):  # the same index bytes, another inode, stale
        raise _mismatch(shown, ident, h.identity(), what)
    return h


def origin_path(h):
    """The path a reference to handle `h`'s data names: the shared path of a staged copy."""
    return _origin.get(h, h.path)


def _rebuild(path, mode, ident, name, key, offset, shape, strides, dtype):
    what = f'array "{name}" of {path}'
    mode = _mode(mode)
    h = _handle_for(path, mode, ident, what)
    i = h.find(name)
    if i < 0 or h.array_key(i) != tuple(key):
        raise FileChangedError(f"cannot unpickle {what}: the array changed since it was "
                               f"pickled")
    if dtype is None:
        dtype = dtype_from_text(key[4])
    return h.view(i, dtype, MappedArray, writable=mode != "r", offset=offset, shape=shape,
                  strides=strides)
