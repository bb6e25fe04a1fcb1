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
process maps the same file, and refuses (`FileChangedError`) if it was replaced or rewritten;
on another machine it maps the same data from a shared filesystem or from a node-local copy
(`stage`, `$MMARR_STAGE_DIR`), checked by the file's content identity.
See python/README.md for the whole API.
"""
from . import _mmarr
from ._cache import cache_clear, cache_dir, cache_list
from ._dtypes import dtype_from_text, dtype_text
from ._file import File, _reopen, open  # noqa: A004
from ._mmarr import Error, FileChangedError, NotZeroCopyError
from ._pickle import MappedArray, _rebuild, release_handles
from ._ragged import Ragged
from ._share import Shared, _default_share_dir, share  # noqa: F401 (used by examples)
from ._stage import StagingError, stage
from ._writer import Appender, Stream, Writer, save

__all__ = [
    "open", "File", "MappedArray", "Writer", "Appender", "save", "share", "Shared", "Error",
    "FileChangedError", "NotZeroCopyError", "release_handles", "dtype_text", "dtype_from_text",
    "cache_dir", "cache_list", "cache_clear", "Stream", "stage", "StagingError", "Ragged",
]
__version__ = _mmarr.version
FORMAT_VERSION = (_mmarr.FORMAT_VERSION_MAJOR, _mmarr.FORMAT_VERSION_MINOR)

# The public names (and the functions pickles name) live in the package's namespace, as
# mmarr.<name>: pickles made by earlier versions name mmarr._rebuild and mmarr._reopen.
for _obj in (File, MappedArray, Writer, Appender, Stream, Shared, open, save, share,
             release_handles, dtype_text, dtype_from_text, cache_dir, cache_list, cache_clear, stage,
             StagingError, Ragged, _rebuild, _reopen):
    _obj.__module__ = __name__
del _obj

# Optional integrations, registered when their library is imported (never imported here).
from ._hooks import after_import as _after_import  # noqa: E402


def _register_distributed():
    from . import _distributed
    _distributed.register()


_after_import("distributed", _register_distributed)
