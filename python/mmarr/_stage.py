# SPDX-License-Identifier: MIT
"""Node-local staging: one verified copy of an mmarr file per node, mapped by every process
of that node instead of a file on a shared (network) filesystem.

    local = mmarr.stage("/nfs/data.mmarr", "/dev/shm/mmarr-stage")

The copy is named by the file's content identity (spec.md §11.3), so it is the same name on
every node and for every process, and a file rewritten at the same path gets a new one. One
process copies; others racing for the same directory wait on a lock (flock on the directory)
and then map the copy it published. The copy is written to a temporary name, synced,
verified (index, content identity and every data checksum) and renamed into place: a reader
never sees a partial copy, and a crashed copier leaves only a temporary file, which the next
stager removes. Files whose checksums are stale (written in place through "r+" and not
rehashed) are not staged: their content identity does not vouch for their data.

Unpickling a read-only reference (a MappedArray, a File, a task of mmarr.dask) stages
through this module when the environment variable MMARR_STAGE_DIR names a directory in that
process (mmarr.dask.Stage sets it on dask workers), and maps the shared path if staging
fails, with a warning that says why. A reference to an earlier generation of a file that
grew since (spec.md §4.4) is served from the copy of its newest generation, which holds the
earlier one byte for byte (checked to open at it; verified when this process made the copy).
"""
import errno
import fcntl
import os
import time

from . import _mmarr
from ._mmarr import FileChangedError

def log():
    """The "mmarr" logger (logging is imported when first needed, not by import mmarr)."""
    import logging
    return logging.getLogger("mmarr")

ENV = "MMARR_STAGE_DIR"
_IDENTITY_FIELDS = ("generation", "file_size", "index_offset", "index_size", "index_checksum")


class StagingError(OSError):
    """A file could not be staged (no space, stale checksums, unwritable directory...)."""


def content_identity(ident):
    """The content identity (spec.md §11.3: generation, file_size, index_offset,
    index_size, index_checksum) of a Handle.identity() tuple."""
    return (ident[4], ident[5], ident[2], ident[3], ident[6])


def identity_text(ident):
    """The content identity as tools print it: generation-file_size-index_offset-
    index_size-index_checksum (the checksum as 16 hex digits)."""
    gen, size, ioff, isize, ick = content_identity(ident)
    return f"{gen}-{size}-{ioff}-{isize}-{ick:016x}"


def identity_difference(ident, now):
    """What differs between two content identities, in words."""
    diffs = [f"{n} {b:#x} (expected {a:#x})" if n == "index_checksum" else
             f"{n} {b} (expected {a})"
             for n, a, b in zip(_IDENTITY_FIELDS, content_identity(ident),
                                content_identity(now)) if a != b]
    return ", ".join(diffs) or "nothing"


def format_size(n):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


def default_dir():
    """$MMARR_STAGE_DIR, else mmarr-stage-<uid> in /dev/shm (or the temporary directory)."""
    d = os.environ.get(ENV)
    if d:
        return d
    base = "/dev/shm" if os.path.isdir("/dev/shm") else os.environ.get("TMPDIR", "/tmp")
    return os.path.join(base, f"mmarr-stage-{os.getuid()}")


def staged_name(path, ident):
    base = os.path.basename(path)
    stem = base[:-6] if base.endswith(".mmarr") else base
    return f"{stem}.{identity_text(ident)}.mmarr"


def stage(path, dir=None, *, verify=True):  # noqa: A002 (as tempfile's dir=)
    """Copy the mmarr file at `path` into `dir` (default: default_dir()) once, verified, and
    return the copy's path; a copy already there (by this or any other process) is reused.
    Raises StagingError (an OSError; errno ENOSPC when the directory is too small) naming
    the directory and the space needed, FileChangedError if `path` is not an mmarr file
    any more, mmarr.Error if it is damaged."""
    return _stage(path, dir, verify=verify)[0]


def _stage(path, dir=None, *, verify=True, expect=None):  # noqa: A002
    """stage(), returning (copy's path, whether this call made the copy). With `expect` (a
    Handle.identity() tuple), an existing copy of that content is used without opening
    `path`, and a source of other content is refused, unless `expect` names an earlier
    generation the source still holds (spec.md §4.4 rule 8): then the copy is the source's
    newest generation, which holds the earlier one too, checked to open at it."""
    src = os.path.abspath(os.fsdecode(os.fspath(path)))
    dest_dir = os.path.abspath(os.fsdecode(os.fspath(dir if dir is not None else default_dir())))
    if expect is not None:
        final = os.path.join(dest_dir, staged_name(src, expect))
        if _usable(final, expect):
            return final, False
    h = _mmarr.open(src, 0)
    ident = h.identity()
    earlier = None  # the earlier generation `expect` names, if it does
    if expect is not None and content_identity(ident) != content_identity(expect):
        if len(expect) < 10 or expect[4] >= ident[4]:
            raise FileChangedError(f"cannot stage {src}: it holds other data than the "
                                   f"reference names: {identity_difference(expect, ident)}")
        earlier = (*content_identity(expect), expect[8], expect[9])
    if ident[7]:
        raise StagingError(f"cannot stage {src}: its checksums are stale (it was written in "
                           f"place through mode 'r+' and not rehashed), so a copy could not "
                           f"be verified; flush(rehash=True) makes it stageable")
    final = os.path.join(dest_dir, staged_name(src, ident))
    if _usable(final, ident):
        return _holding(final, earlier, src, verify=False), False
    try:
        os.makedirs(dest_dir, mode=0o700, exist_ok=True)
        dfd = os.open(dest_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        raise StagingError(e.errno, f"cannot stage {src} into {dest_dir}: {e.strerror}") \
            from None
    try:
        fcntl.flock(dfd, fcntl.LOCK_EX)  # one copier per directory; the others wait here
        if _usable(final, ident):
            return _holding(final, earlier, src, verify=False), False
        _remove_leftovers(dest_dir, os.path.basename(final))
        _copy_verified(src, ident, dest_dir, final, dfd, verify)
        return _holding(final, earlier, src, verify=verify), True
    finally:
        os.close(dfd)  # releases the lock


def _holding(final, earlier, src, verify):
    """`final`, checked to hold the earlier generation `earlier` (None: nothing to check):
    its index, and its data too when `verify` (the copy was just made, and its verification
    covered the newest generation's arrays, not those deleted since)."""
    if earlier is not None:
        try:
            _mmarr.open(final, _mmarr.OPEN_VERIFY if verify else 0, earlier)
        except _mmarr.Error as e:
            raise FileChangedError(f"cannot stage generation {earlier[0]} of {src}: {e}") \
                from None
    return final


def _usable(final, ident):
    """Whether `final` is a staged copy with the content identity of `ident`."""
    try:
        h = _mmarr.open(final, 0)
    except (OSError, _mmarr.Error):
        return False
    return content_identity(h.identity()) == content_identity(ident)


def _remove_leftovers(dest_dir, name):
    """Temporary files of copiers that died (we hold the directory's lock: none is live),
    and a damaged copy at the final name."""
    for entry in os.listdir(dest_dir):
        if entry.startswith(f".{name}.") and entry.endswith(".tmp"):
            os.unlink(os.path.join(dest_dir, entry))
    if os.path.exists(os.path.join(dest_dir, name)):
        os.unlink(os.path.join(dest_dir, name))


def _copy_verified(src, ident, dest_dir, final, dfd, verify):
    size = ident[5]
    st = os.statvfs(dest_dir)
    free = st.f_bavail * st.f_frsize
    if free < size:
        raise StagingError(errno.ENOSPC, f"cannot stage {src} into {dest_dir}: it needs "
                           f"{format_size(size)} ({size} bytes), {format_size(free)} free")
    tmp = os.path.join(dest_dir, f".{os.path.basename(final)}.{os.urandom(4).hex()}.tmp")
    log().info("staging %s (%s) into %s", src, format_size(size), dest_dir)
    t0 = time.monotonic()
    try:
        _copy(src, tmp, size)
        flags = _mmarr.OPEN_VERIFY if verify else 0
        got = _mmarr.open(tmp, flags).identity()  # MMARR_E_CHECKSUM if a byte differs
        if content_identity(got) != content_identity(ident):
            raise FileChangedError(f"cannot stage {src}: it was replaced while being copied "
                                   f"({identity_difference(ident, got)})")
        os.rename(tmp, final)
        os.fsync(dfd)
    except OSError as e:
        _unlink_quietly(tmp)
        if e.errno == errno.ENOSPC and not isinstance(e, StagingError):
            raise StagingError(errno.ENOSPC, f"cannot stage {src} into {dest_dir}: the "
                               f"directory filled up while copying {format_size(size)}") \
                from None
        raise
    except BaseException:
        _unlink_quietly(tmp)
        raise
    dt = time.monotonic() - t0
    log().info("staged %s as %s in %.1f s (%.0f MB/s)", src, final, dt, size / 1e6 / max(dt, 1e-9))


def _copy(src, tmp, size):
    """The first `size` bytes of src into a new file tmp, in the kernel, synced."""
    with open(src, "rb") as fin, open(tmp, "xb") as fout:
        fi, fo, done = fin.fileno(), fout.fileno(), 0
        while done < size:
            try:
                n = os.copy_file_range(fi, fo, size - done, done, done)
            except OSError as e:
                if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                n = os.sendfile(fo, fi, done, size - done)
            if n == 0:
                raise StagingError(errno.EIO, f"cannot stage {src}: it is shorter than the "
                                   f"{size} bytes its superblock covers")
            done += n
        os.fsync(fo)


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
