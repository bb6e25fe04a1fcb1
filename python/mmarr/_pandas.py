# SPDX-License-Identifier: MIT
"""pandas DataFrames and Series stored as columns (imported only when a frame is saved or
read; `import mmarr` never imports pandas).

A frame named N is a set of ordinary arrays (and ragged items) named N/<column number>...,
described by the file metadata key "mmarr.frame/N": JSON written by describe(), the
convention docs/pandas.md states. Numbers, bools, datetimes and timedeltas are one array each
(zero-copy when read); tz-aware datetimes are their UTC datetime64[ns] plus the zone;
categoricals are codes plus categories (themselves a column); text is a ragged UTF-8 item;
nullable integer/boolean/float columns are values plus a bool mask; the index is a range, or
stored columns (one per level)."""
import numpy as np

from . import _mmarr, _ragged

FRAME_KEY = "mmarr.frame/"  # + name: the description of frame `name`
VERSION = 1
_MASKED = ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "boolean",
           "Float32", "Float64")


def is_pandas(obj):
    """A pandas DataFrame or Series (tested without importing pandas)."""
    t = type(obj)
    return t.__module__.startswith("pandas.") and t.__name__ in ("DataFrame", "Series")


def _json_name(what, name):
    import json
    try:
        json.dumps(name)
    except TypeError:
        raise TypeError(f"{what}: the name {name!r} ({type(name).__name__}) cannot be stored "
                        f"(str, int, float, bool or None only)") from None
    return name


class _FrameWriter:
    """Writes the columns of one frame through a Writer; collects the array names."""

    def __init__(self, writer, name):
        self.w, self.name, self.arrays = writer, name, []

    def _add(self, entry, values):
        self.w.add(entry, values)
        self.arrays.append(entry)

    def column(self, entry, values, what):
        """Store one column (a Series, Index or array-like); its description."""
        import pandas as pd
        dtype = values.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            cat = pd.Categorical(values)
            self._add(entry, np.asarray(cat.codes))
            return {"kind": "category", "array": entry, "ordered": bool(cat.ordered),
                    "categories": self.column(entry + "/categories", cat.categories,
                                              what + " categories")}
        if isinstance(dtype, pd.DatetimeTZDtype):
            utc = pd.DatetimeIndex(values).tz_convert("UTC").tz_localize(None)
            self._add(entry, utc.to_numpy(dtype="datetime64[ns]"))
            return {"kind": "datetimetz", "array": entry, "tz": str(dtype.tz)}
        if str(dtype) in _MASKED:
            arr = pd.array(values, dtype=dtype)
            mask = np.asarray(arr.isna(), dtype=bool)
            self._add(entry, arr.to_numpy(dtype=dtype.numpy_dtype, na_value=0))
            self._add(entry + "/mask", mask)
            return {"kind": "masked", "array": entry, "mask": entry + "/mask",
                    "dtype": str(dtype)}
        if isinstance(dtype, pd.StringDtype) or dtype == object:
            return self._objects(entry, values, what, str(dtype) == "string")
        if isinstance(dtype, np.dtype) and dtype.kind in "biufcmM":
            self._add(entry, np.asarray(values))
            return {"kind": "numpy", "array": entry}
        raise TypeError(f"{what}: pandas dtype {dtype} cannot be stored (numbers, bools, "
                        f"datetimes, timedeltas, categoricals, strings, bytes and nullable "
                        f"integer/boolean/float columns can)")

    def _objects(self, entry, values, what, string_dtype):
        import pandas as pd
        items = np.asarray(values, dtype=object)
        code, data, offsets, missing, bad = _mmarr.text_encode(
            items, _ragged.UTF8 if string_dtype else -1, True, pd.NA)
        if bad >= 0:
            item = items[bad]
            if isinstance(item, str) and code == _ragged.UTF8:
                raise _ragged.text_error(what, item, bad, "str")
            raise TypeError(f"{what}: an object column holds {type(item).__name__} values "
                            f"(e.g. {item!r:.60}, row {bad}); only str or bytes columns (with "
                            f"missing values) can be stored: convert it first")
        self.w._add_ragged(entry, data, offsets, code)
        self.arrays += [entry, entry + _ragged.OFFSETS_SUFFIX]
        d = {"kind": "string" if code == _ragged.UTF8 else "bytes", "array": entry}
        if string_dtype:
            d["dtype"] = "string"
        if missing is not None:
            self._add(entry + "/mask", missing)
            d["mask"] = entry + "/mask"
        return d

    def index(self, idx):
        import pandas as pd
        names = [_json_name(f'frame "{self.name}": index level', n) for n in idx.names]
        if isinstance(idx, pd.RangeIndex):
            return {"kind": "range", "start": int(idx.start), "stop": int(idx.stop),
                    "step": int(idx.step), "names": names}
        levels = [idx.get_level_values(k) for k in range(idx.nlevels)]
        d = {"kind": "multi" if isinstance(idx, pd.MultiIndex) else "index", "names": names,
             "levels": [self.column(f"{self.name}/index/{k}", lv,
                                    f'frame "{self.name}": index level {k}')
                        for k, lv in enumerate(levels)]}
        if getattr(idx, "freqstr", None):  # a DatetimeIndex / TimedeltaIndex with a frequency
            d["freq"] = idx.freqstr
        return d


def write(writer, name, obj):
    """Store DataFrame or Series `obj` as frame `name` through `writer`."""
    import pandas as pd
    series = isinstance(obj, pd.Series)
    frame = obj.to_frame() if series else obj
    if isinstance(frame.columns, pd.MultiIndex):
        raise TypeError(f'frame "{name}": MultiIndex columns cannot be stored: flatten them '
                        f'(e.g. df.columns = ["_".join(map(str, c)) for c in df.columns])')
    fw = _FrameWriter(writer, name)
    columns = []
    for j, col in enumerate(frame.columns):
        what = f'frame "{name}", column {col!r}'
        d = fw.column(f"{name}/{j}", frame.iloc[:, j], what)
        d["name"] = _json_name(what, obj.name if series else col)  # to_frame names None 0
        columns.append(d)
        # for readers without JSON (mmarr-info): which frame a column's array belongs to
        writer.set_metadata("mmarr.frame", name, name=d["array"])
        writer.set_metadata("mmarr.column", d["kind"], name=d["array"])
    desc = {"version": VERSION, "type": "Series" if series else "DataFrame",
            "rows": len(frame), "columns": columns, "index": fw.index(frame.index),
            "columns_name": _json_name(f'frame "{name}": columns name', frame.columns.name),
            "arrays": fw.arrays}
    import json
    writer.set_metadata(FRAME_KEY + name, json.dumps(desc, ensure_ascii=False))


def frames(metadata):
    """{frame name: description} from a file's metadata."""
    import json
    return {k[len(FRAME_KEY):]: json.loads(v) for k, v in metadata.items()
            if k.startswith(FRAME_KEY)}


def _column(f, d):
    """A pandas array or ndarray for description `d`, over the mapping where it can be."""
    import pandas as pd
    kind = d["kind"]
    values = f._array(d["array"])
    if kind == "numpy":
        return values
    if kind == "datetimetz":
        return pd.arrays.DatetimeArray(values, dtype=pd.DatetimeTZDtype(tz=d["tz"]))
    if kind == "category":
        cats = _column(f, d["categories"])
        return pd.Categorical.from_codes(values, categories=pd.Index(cats),
                                         ordered=d["ordered"])
    if kind == "masked":
        mask = f._array(d["mask"])
        dtype = pd.api.types.pandas_dtype(d["dtype"])
        return dtype.construct_array_type()(values, mask)
    if kind in ("string", "bytes"):
        string = d.get("dtype") == "string"
        out = values.decode(f._array(d["mask"]) if "mask" in d else None,
                            pd.NA if string else None)
        return pd.array(out, dtype="string") if d.get("dtype") == "string" else out
    raise ValueError(f"unknown column kind {kind!r} (written by a newer mmarr?)")


def _select(name, desc, columns):
    """The column descriptions of `desc` named in `columns` (in that order), or all."""
    if columns is None:
        return desc["columns"]
    if isinstance(columns, (str, bytes)) or not hasattr(columns, "__iter__"):
        raise TypeError(f'frame "{name}": columns must be a list of column names, not '
                        f'{type(columns).__name__}')
    by_name = {}
    for d in desc["columns"]:
        by_name.setdefault(d["name"], d)
    wanted = list(columns)
    missing = [c for c in wanted if c not in by_name]
    if missing:
        raise KeyError(f'frame "{name}" has no column {missing[0]!r} (its columns: '
                       f'{[d["name"] for d in desc["columns"]]!r:.200})')
    return [by_name[c] for c in wanted]


def read(f, name, desc, columns=None):
    """The DataFrame or Series stored as frame `name` of File `f`; only the columns named in
    `columns` (a list) if given."""
    import pandas as pd
    if desc.get("version", 0) > VERSION:
        raise ValueError(f'frame "{name}" was written in convention version '
                         f'{desc["version"]}; this mmarr reads up to {VERSION}')
    chosen = _select(name, desc, columns)
    ix = desc["index"]
    if ix["kind"] == "range":
        index = pd.RangeIndex(ix["start"], ix["stop"], ix["step"], name=ix["names"][0])
    elif ix["kind"] == "index":
        index = pd.Index(_column(f, ix["levels"][0]), name=ix["names"][0], copy=False)
        if ix.get("freq"):
            index = type(index)(index, freq=ix["freq"])
    else:
        index = pd.MultiIndex.from_arrays([_column(f, lv) for lv in ix["levels"]],
                                          names=ix["names"])
    cols = [_column(f, d) for d in chosen]
    names = [d["name"] for d in chosen]
    if desc["type"] == "Series" and columns is None:
        return pd.Series(cols[0], index=index, name=names[0], copy=False)
    df = pd.DataFrame(dict(enumerate(cols)), index=index, copy=False)
    df.columns = pd.Index(names, name=desc.get("columns_name"), tupleize_cols=False)
    return df
