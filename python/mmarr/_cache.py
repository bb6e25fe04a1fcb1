# SPDX-License-Identifier: MIT
"""The decompression cache of cold arrays: its default directory, listing, clearing."""
import operator
import os

from . import _mmarr


def _path_or_none(path):
    """A path argument (str, bytes or os.PathLike) as str, or None."""
    return None if path is None else os.fsdecode(os.fspath(path))


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
