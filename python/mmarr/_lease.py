# SPDX-License-Identifier: MIT
"""Files made by share() go when the last process using them is gone, with no daemon.

Every process that maps such a file holds a shared flock(2) on it through a descriptor of its
own (a lease): taken before its handle is opened, kept while any handle of the process on
that file lives, and given up when the last one goes or the process ends. The kernel drops
the lock of a process that dies, however it dies. Whoever gives up a lease then tries an
exclusive lock on a new descriptor: it succeeds only when no process holds a lease any more,
and that process unlinks the file. When every process was killed, nobody is left to try:
the next share() in the same directory sweeps it (sweep()), by the same test.

A file is managed only when its name is one share() makes (mmarr-share-<pid>-<random>.mmarr)
and its file metadata "mmarr.share" names the path it has: a copy or a renamed file is an
ordinary file. Forked children inherit their parent's leases (the lock belongs to the open
file description, which both share); multiprocessing's workers end with os._exit, so their
leases are given up by multiprocessing's exit finalizers."""
import atexit
import fcntl
import os
import re
import sys
import weakref

from . import _mmarr

SHARE_KEY = "mmarr.share"
NAME = re.compile(r"mmarr-share-[0-9]+-[A-Za-z0-9_]+\.mmarr\Z")
PART = ".part"  # share() builds "<name>.part", then renames it to the locked name

_leases = {}  # (st_dev, st_ino) -> [path, lock descriptor, handles alive]


def _ident(st):
    return (st.st_dev, st.st_ino)


def _path_ident(path):
    try:
        return _ident(os.stat(path))
    except OSError:
        return None


def lock_shared(path):
    """A descriptor of `path` holding a shared lock, or None if the path is not a share()
    name or cannot be opened. Blocks only while a last user is removing the file."""
    if not NAME.match(os.path.basename(path)):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    except OSError:
        os.close(fd)
        return None
    return fd


def hold(path, h, fd):
    """Make `fd` (from lock_shared, taken before handle `h` was opened) the process's lease
    on h's file if it is a share() file, or close it. Counts h until it is collected."""
    if fd is None:
        return
    key = (h.st_dev, h.st_ino)
    lease = _leases.get(key)
    managed = False
    if lease is None and _ident(os.fstat(fd)) == key:
        managed = _owned(h, path)
    if lease is None and managed:
        lease = _leases[key] = [path, fd, 0]
        _at_multiprocessing_exit()
    else:
        os.close(fd)  # not a share() file, or already held through another handle
    if lease is not None:
        lease[2] += 1
        weakref.finalize(h, _drop, key)


def _drop(key):
    lease = _leases.get(key)
    if lease is not None:
        lease[2] -= 1
        if lease[2] <= 0:
            _release(key)


def _release(key):
    lease = _leases.pop(key, None)
    if lease is not None:
        os.close(lease[1])
        reap(lease[0], key)


def reap(path, key=None):
    """Unlink share() file `path` (and its build leftover) if no process holds a lease on it
    (and, given `key`, if it still is that file). Whether it was removed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        st = os.fstat(fd)
        mine = _ident(st)
        if (key is not None and mine != key) or _path_ident(path) != mine:
            return False
        if key is None and st.st_size and not _made_here(path):
            return False  # a sweep removes share() files and placeholders, nothing else
        for p in (path, path + PART):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        return True
    except OSError:  # BlockingIOError: in use; PermissionError: another user's
        return False
    finally:
        os.close(fd)


def _owned(h, path):
    """Whether handle `h`'s file was made by share() at `path` (not copied or renamed)."""
    owner = h.file_meta().get(SHARE_KEY)
    return owner is not None and os.path.realpath(owner) == os.path.realpath(path)


def _made_here(path):
    try:
        return _owned(_mmarr.open(path, 0), path)
    except (OSError, _mmarr.Error):
        return False


def sweep(directory):
    """Remove the share() files in `directory` that no live process uses (their users were
    all killed). Returns the paths removed."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return [p for p in (os.path.join(directory, n) for n in names if NAME.match(n))
            if reap(p)]


def _release_all():
    for key in list(_leases):
        _release(key)


atexit.register(_release_all)


# multiprocessing's workers end with os._exit, which skips atexit; multiprocessing runs its
# own exit finalizers first. One is registered in each process that holds a lease, and again
# in forked workers (multiprocessing clears the inherited ones, then runs its after-fork
# hooks; ours is registered by the at-fork hook below, in every forked child).
_mp_registered = None  # the pid whose multiprocessing finalizers release our leases


def _at_multiprocessing_exit():
    global _mp_registered
    util = sys.modules.get("multiprocessing.util")
    if util is not None and _mp_registered != os.getpid():
        util.Finalize(None, _release_all, exitpriority=0)
        _mp_registered = os.getpid()


def _mp_after_fork(_):
    global _mp_registered
    _mp_registered = None
    if _leases:
        _at_multiprocessing_exit()


def _after_fork_in_child():
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        util.register_after_fork(_mp_after_fork, _mp_after_fork)


os.register_at_fork(after_in_child=_after_fork_in_child)
