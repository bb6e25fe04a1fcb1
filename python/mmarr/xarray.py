# SPDX-License-Identifier: MIT
"""xarray for mmarr files: xr.open_dataset(path, engine="mmarr") and mmarr.xarray.save().

Importing this module imports xarray; `import mmarr` never does. The engine is registered
through the "xarray.backends" entry point (pyproject.toml; the CMake build writes the same
entry point beside the package), so users write no glue.

Convention (docs/xarray.md): every variable of the Dataset, data or coordinate, is one array
named as the variable; its array metadata "mmarr.xarray" is JSON {"dims": [...], "attrs":
{...}, "coord": bool}; the Dataset's attrs are file metadata "mmarr.xarray". Arrays without
that metadata (any mmarr file) open as data variables with dims "<name>_dim_<k>". 1-d text
variables are ragged UTF-8 items. Hot arrays open as zero-copy views of the mapping (with
chunks=..., dask arrays whose tasks pickle references to it); cold ones are read lazily,
only the rows an indexing touches."""
import json
import os

import numpy as np
import xarray as xr
from xarray.backends import BackendArray, BackendEntrypoint
from xarray.core import indexing

from ._dtypes import dtype_from_text
from ._file import File
from ._ragged import Ragged
from ._writer import Writer

KEY = "mmarr.xarray"


def _json(what, value):
    """A JSON-able copy of attribute values (numpy scalars and arrays as lists)."""
    if isinstance(value, np.generic):
        value = value.item()
    elif isinstance(value, np.ndarray):
        value = value.tolist()
    try:
        json.dumps(value)
    except TypeError:
        raise TypeError(f"{what}: {value!r:.80} ({type(value).__name__}) cannot be stored in "
                        f"metadata (JSON values: str, numbers, bools, None, lists, dicts)") from None
    return value


def _attrs(what, attrs):
    return {str(k): _json(f"{what} attribute {k!r}", v) for k, v in attrs.items()}


def save(path, dataset, **options):
    """Write an xarray Dataset (or DataArray, stored as a Dataset of one variable named as it,
    or "data") to `path`: one array per variable, dims, coordinates and attributes in
    metadata. options: as for mmarr.Writer (compress=, sync=, ...). Values are loaded
    (dask-backed variables are computed, one variable at a time)."""
    if isinstance(dataset, xr.DataArray):
        dataset = dataset.to_dataset(name=dataset.name if dataset.name is not None else "data")
    with Writer(path, **options) as w:
        w.set_metadata(KEY, json.dumps(_attrs("Dataset", dataset.attrs), ensure_ascii=False))
        for name, var in dataset.variables.items():
            what = f"variable {name!r}"
            if not isinstance(name, str):
                raise TypeError(f"{what}: variable names must be str")
            data = var.values
            if data.dtype == object:
                if data.ndim != 1 or not all(isinstance(v, str) for v in data):
                    raise TypeError(f"{what}: object values other than a 1-d list of str cannot "
                                    f"be stored")
                w.add_ragged(name, list(data), kind="str")
            else:
                w.add(name, data)
            meta = {"dims": list(var.dims), "attrs": _attrs(what, var.attrs),
                    "coord": name in dataset.coords}
            w.set_metadata(KEY, json.dumps(meta, ensure_ascii=False), name=name)


class _HotArray(BackendArray):
    """A hot array: indexing returns views of the mapping (no copy), and pickling sends the
    MappedArray's reference, so a Dataset opened lazily (cache=False, or chunks=) travels to
    workers as references."""

    def __init__(self, array):
        self.array, self.shape, self.dtype = array, array.shape, array.dtype

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC,
                                                  self.array.__getitem__)


class _ColdArray(BackendArray):
    """A cold array read lazily: only the rows an indexing touches are decompressed."""

    def __init__(self, f, name, shape, dtype):
        self.f, self.name, self.shape, self.dtype = f, name, shape, dtype

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC,
                                                  self._raw)

    def _raw(self, key):
        first = key[0] if key else slice(None)
        if isinstance(first, int):
            return self.f.read(self.name, first)[key[1:]]
        start, stop, step = first.indices(self.shape[0])
        rows = self.f.read(self.name, (start, max(start, stop)))
        return rows[(slice(None, None, step),) + tuple(key[1:])]


def _variable(f, name, meta):
    info = f.info(name)
    if isinstance(f[name], Ragged):
        data = np.array(f[name].tolist(), dtype=object)
    elif info["storage"] == "cold":
        data = indexing.LazilyIndexedArray(_ColdArray(f, name, tuple(info["shape"]),
                                                      dtype_from_text(info["dtype"])))
    else:
        data = indexing.LazilyIndexedArray(_HotArray(f[name]))  # views of the mapping
    dims = meta.get("dims") or [f"{name}_dim_{k}" for k in range(len(info["shape"]))]
    return xr.Variable(dims, data, attrs=meta.get("attrs", {}))


def open_dataset(path, drop_variables=None, mode="r"):
    """The Dataset stored in mmarr file `path` (what xr.open_dataset(path, engine="mmarr")
    returns)."""
    f = File(path, mode)
    drop = {drop_variables} if isinstance(drop_variables, str) else set(drop_variables or ())
    data_vars, coords = {}, {}
    for name in f.keys():
        if name in drop or name in f._frames:  # pandas frames are not variables
            continue
        meta = f.array_metadata(name).get(KEY)
        meta = json.loads(meta) if meta else {}
        (coords if meta.get("coord") else data_vars)[name] = _variable(f, name, meta)
    attrs = json.loads(f.metadata.get(KEY, "{}"))
    ds = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    ds.set_close(f.close)
    return ds


class MmarrBackendEntrypoint(BackendEntrypoint):
    """xarray backend: xr.open_dataset("data.mmarr", engine="mmarr"[, chunks={...}])."""

    description = "Open mmarr files (memory-mapped typed arrays) in xarray"
    url = "https://github.com/mmarr/mmarr"
    open_dataset_parameters = ("filename_or_obj", "drop_variables", "mode")

    def open_dataset(self, filename_or_obj, *, drop_variables=None, mode="r"):
        return open_dataset(os.fspath(filename_or_obj), drop_variables=drop_variables,
                            mode=mode)

    def guess_can_open(self, filename_or_obj):
        try:
            return os.fspath(filename_or_obj).endswith(".mmarr")
        except TypeError:
            return False
