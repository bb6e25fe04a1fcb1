# SPDX-License-Identifier: MIT
"""Dask distributed: mmarr objects cross a cluster's connections as references, never bytes.

distributed serializes an ndarray subclass with its numpy serializer, which sends every byte
of a MappedArray (48 MB for a 48 MB array) and hands the receiver a plain ndarray. Registered
in distributed's serialization registry (`dask_serialize`/`dask_deserialize`, the convention
distributed documents for third-party types), a MappedArray, any view of one, and a File
travel as their pickle: the file's path and identity and the array's place in it, ~200 bytes
whatever the array's size. The receiver maps the file itself; a writable reference stays
writable; a file replaced meanwhile raises FileChangedError there.

`import mmarr` does not import distributed: `register()` runs when both are loaded, whichever
comes first (see _hooks.py).
"""
import pickle


def _dumps(x):
    return {"mmarr": 1}, [pickle.dumps(x, protocol=pickle.HIGHEST_PROTOCOL)]


def _loads(header, frames):
    if header.get("mmarr") != 1 or len(frames) != 1:
        raise ValueError(f"mmarr: not an mmarr reference (header {header!r})")
    return pickle.loads(bytes(frames[0]))


def register():
    """Register MappedArray and File with distributed's serialization (idempotent)."""
    from distributed.protocol import dask_deserialize, dask_serialize

    from ._file import File
    from ._pickle import MappedArray

    for cls in (MappedArray, File):
        dask_serialize.register(cls)(_dumps)
        dask_deserialize.register(cls)(_loads)
