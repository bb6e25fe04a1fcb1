# SPDX-License-Identifier: MIT
"""Ragged items (spec.md §7.7): lists of variable-length arrays, of str or of bytes, stored as
values + offsets and read back as Ragged, a zero-copy sequence."""
import collections.abc

import numpy as np

from . import _mmarr

ARRAYS, UTF8, BYTES = _mmarr.RAGGED_ARRAYS, _mmarr.RAGGED_UTF8, _mmarr.RAGGED_BYTES
_rows = _mmarr.rows
_KINDS = {"arrays": ARRAYS, "str": UTF8, "bytes": BYTES}
_KIND_NAMES = {v: k for k, v in _KINDS.items()}
OFFSETS_SUFFIX = "/offsets"  # the reference writer's name for an item's offsets array


class Ragged(collections.abc.Sequence):
    """A sequence of variable-length items over two mapped arrays: r[i] is a zero-copy array
    view (rows offsets[i]:offsets[i+1] of r.values), or a str / bytes for text items; r[a:b]
    is a Ragged over the same memory; iteration, len(), tolist(). Pickles as a reference to
    its two arrays, as MappedArray does.

    values: the items one after the other along the first axis; offsets: len(r) + 1 row
    numbers into values (they need not start at 0 in a slice); kind: "arrays", "str" or
    "bytes"."""

    __slots__ = ("values", "offsets", "kind", "name", "_o", "_v", "_rows")

    def __init__(self, values, offsets, kind="arrays", name=None):
        if kind not in _KINDS:
            raise ValueError(f'kind must be "arrays", "str" or "bytes", not {kind!r}')
        offsets = np.asarray(offsets) if not isinstance(offsets, np.ndarray) else offsets
        if offsets.dtype != np.uint64 or offsets.ndim != 1 or len(offsets) == 0:
            raise ValueError("offsets must be a 1-d uint64 array of len(items) + 1 elements")
        self.values, self.offsets, self.kind, self.name = values, offsets, kind, name
        self._o = memoryview(np.ascontiguousarray(offsets)).cast("B").cast("Q")
        self._v = memoryview(values).cast("B") if kind != "arrays" else None
        self._rows = len(values)

    def __len__(self):
        return len(self._o) - 1

    def _bounds(self, i):
        n = len(self._o) - 1
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"{self._what()} index {i} out of range for {n} items")
        a, b = self._o[i], self._o[i + 1]
        if not a <= b <= self._rows:  # only a writable mapping changed since the check
            raise ValueError(f"{self._what()}[{i}]: offsets {a}..{b} outside the "
                             f"{self._rows} rows of its values")
        return i, a, b

    def __getitem__(self, i):
        if i.__class__ is int and self._v is None:  # the common case: one call into C
            try:
                return _rows(self.values, self.offsets, i if i >= 0 else i + len(self._o) - 1)
            except (IndexError, ValueError) as e:
                raise type(e)(f"{self._what()}: {e}") from None
        return self._item(i)

    def _item(self, i):
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            if step == 1:
                return Ragged(self.values, self.offsets[start:max(start, stop) + 1],
                              self.kind, self.name)
            return [self[k] for k in range(start, stop, step)]
        i, a, b = self._bounds(i.__index__())
        if self._v is None:
            return self.values[a:b]
        if self.kind == "bytes":
            return bytes(self._v[a:b])
        try:
            return str(self._v[a:b], "utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{self._what()}[{i}] is not valid UTF-8 text: {e}") from None

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def tolist(self):
        """A list of the items: arrays (views), str or bytes."""
        if self._v is not None:
            return self.decode().tolist()
        return [self[i] for i in range(len(self))]

    def decode(self, mask=None, na=None):
        """Text items only: an object ndarray of every item as str (or bytes) in one call,
        equal short items sharing one object; where bool array `mask` is True, `na`."""
        if self._v is None:
            raise TypeError(f"{self._what()}: decode() is for text items, not arrays")
        try:
            return _mmarr.text_decode(np.asarray(self.values).reshape(-1).view(np.uint8),
                                      np.ascontiguousarray(self.offsets), _KINDS[self.kind],
                                      mask, na)
        except ValueError as e:
            raise ValueError(f"{self._what()}: {e}") from None

    def __reduce__(self):
        return (Ragged, (self.values, self.offsets, self.kind, self.name))

    def _what(self):
        return f"ragged item {self.name!r}" if self.name else "Ragged"

    def __repr__(self):
        if self.kind == "arrays":
            inner = ", ".join(str(d) for d in self.values.shape[1:])
            what = f"arrays of {self.values.dtype} (n{', ' + inner if inner else ''})"
        else:
            what = self.kind
        name = f" {self.name!r}" if self.name else ""
        return f"<mmarr.Ragged{name}: {len(self)} {what}>"


def is_ragged_input(x):
    """Whether save()/Writer take `x` as a ragged item: a list or tuple of ndarrays, str or
    bytes (a list of lists of numbers stays one array, as np.asarray makes it)."""
    if not isinstance(x, (list, tuple)) or not x:
        return False
    first = x[0]
    return isinstance(first, (np.ndarray, str, bytes, bytearray, memoryview))


def encode(name, items, kind=None, dtype=None):
    """(values ndarray, offsets uint64 ndarray, kind code) for a list of items."""
    items = list(items)
    if kind is None:
        if not items:
            raise ValueError(f'ragged item "{name}": an empty list needs kind= ("arrays", '
                             f'"str" or "bytes") and, for arrays, dtype=')
        first = items[0]
        kind = ("str" if isinstance(first, str) else
                "bytes" if isinstance(first, (bytes, bytearray, memoryview)) else "arrays")
    if kind not in _KINDS:
        raise ValueError(f'ragged item "{name}": kind must be "arrays", "str" or "bytes", '
                         f'not {kind!r}')
    if kind != "arrays":
        code, values, offsets, _, bad = _mmarr.text_encode(items, _KINDS[kind], False, None)
        if bad >= 0:
            raise text_error(f'ragged item "{name}"', items[bad], bad, kind)
        return values, offsets, code
    arrays = [np.asarray(a, dtype=dtype) for a in items]
    if not arrays:
        arrays = [np.empty(0, dtype=dtype if dtype is not None else np.float64)]
        lengths = np.zeros(0, dtype=np.uint64)
    else:
        lengths = None
    dt, inner = arrays[0].dtype, arrays[0].shape[1:]
    for k, a in enumerate(arrays):
        if a.ndim == 0 or a.dtype != dt or a.shape[1:] != inner:
            raise ValueError(
                f'ragged item "{name}": item {k} is a {a.ndim}-d {a.dtype} array of shape '
                f'{a.shape}; every item must have at least one dimension, the dtype {dt} '
                f'and the inner shape {inner} of item 0 (pass dtype= to convert)')
    if lengths is None:
        lengths = np.fromiter((len(a) for a in arrays), dtype=np.uint64, count=len(arrays))
    values = np.concatenate(arrays) if len(arrays) > 1 else np.ascontiguousarray(arrays[0])
    offsets = np.zeros(len(lengths) + 1, dtype=np.uint64)
    np.cumsum(lengths, out=offsets[1:])
    return values, offsets, _KINDS[kind]


def text_error(what, item, index, kind):
    """The exception for item `index` of a text list that text_encode() refused."""
    if isinstance(item, str) and kind == "str":
        return ValueError(f"{what}: item {index} cannot be stored as UTF-8 text (it holds a "
                          f"lone surrogate: {item!r:.60})")
    want = "str" if kind == "str" else "bytes, bytearray or memoryview"
    return TypeError(f"{what}: item {index} is {type(item).__name__}, not {want} (a list of "
                     f"{kind} holds {kind} only)")


def kind_name(code):
    return _KIND_NAMES[code]
