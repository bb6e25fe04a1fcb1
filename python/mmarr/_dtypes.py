# SPDX-License-Identifier: MIT
"""dtypes: numpy <-> the canonical text of spec.md §8. Text is read by the library's dtype
parser only (mmarr_dtype_parse, through _mmarr); numpy dtypes are built from its parsed
form in C."""
import functools

import numpy as np

from . import _mmarr
from ._mmarr import Error

_ML_NAMES = ("bfloat16", "float8_e4m3fn", "float8_e5m2")


@functools.lru_cache(maxsize=1024)
def dtype_from_text(text):
    """The numpy dtype of canonical dtype text ("<f4", "[('a', '<i8'), ...]"), read by the
    library's dtype parser (the only dtype grammar). TypeError for bfloat16/float8_* without
    the ml_dtypes package or for text the parser refuses."""
    try:
        return _mmarr.dtype_from_text(text)
    except Error as e:  # as numpy's np.dtype() does for text it cannot read
        raise TypeError(str(e)) from None


def _object_fields(dt, prefix=""):
    """Names of the fields of dt that hold Python objects ("" for a plain object dtype)."""
    if dt.subdtype is not None:
        dt = dt.subdtype[0]
    if dt.fields is None:
        return [prefix or "elements"] if dt.hasobject else []
    out = []
    for name in dt.names:
        out += _object_fields(dt.fields[name][0], f"{prefix}.{name}" if prefix else name)
    return out


def _refuse_objects(what, dt):
    if dt.hasobject:
        fields = ", ".join(_object_fields(dt))
        raise TypeError(
            f"{what}: object dtype ({fields}) cannot be stored: mmarr holds fixed-size binary "
            f"data and never pickles. Convert first, e.g. strings to fixed width with "
            f".astype('U16') or .astype('S16'), or for a DataFrame "
            f"df.to_records(index=False, column_dtypes={{'col': 'S16'}})")


_TEXTS = {}  # dtype -> its text, for the dtypes met so far (a file of many arrays has few)


def dtype_text(dtype):
    """The canonical text (spec.md §8) under which a numpy dtype is stored.

    Raises TypeError for what the format cannot hold exactly: object fields, field titles,
    overlapping or out-of-order fields, platform long doubles."""
    dt = dtype if type(dtype) is np.dtype or isinstance(dtype, np.dtype) else np.dtype(dtype)
    text = _TEXTS.get(dt)
    if text is None:
        text = _dtype_text(dt)
        if len(_TEXTS) < 1024:
            _TEXTS[dt] = text
    return text


def _dtype_text(dt):
    _refuse_objects("dtype", dt)
    if dt.name in _ML_NAMES and getattr(dt.type, "__module__", "").startswith("ml_dtypes"):
        return dt.name
    try:
        text = str(dt.descr) if dt.fields is not None else dt.str
        text = _mmarr.dtype_canonical(text)[0]
        back = dtype_from_text(text)
    except (Error, TypeError, ValueError) as e:
        raise TypeError(f"dtype {dt} cannot be stored: {e}") from None
    if back != dt:
        raise TypeError(f"dtype {dt} cannot be stored exactly (field titles, overlapping or "
                        f"out-of-order fields are not representable)")
    return text


def _stored_dtype(text):
    """dtype_from_text, or None when numpy cannot express the text."""
    try:
        return dtype_from_text(text)
    except TypeError:
        return None
