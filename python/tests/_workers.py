# SPDX-License-Identifier: MIT
"""Functions run in pool workers (importable by spawned interpreters)."""
import pickle

import mmarr
from _util import mapped_file

_state = {}


def describe(arr):
    """What a worker received: its type, sum, the file it maps, its own pickle size."""
    return (type(arr).__name__, float(arr.sum()),
            mapped_file(mmarr._mmarr.data_address(arr)) if arr.size else None,
            len(pickle.dumps(arr)))


def part_sum(task):
    arr, i, n = task
    k = len(arr)
    return float(arr[i * k // n:(i + 1) * k // n].sum())


def keep(arr):
    _state["arr"] = arr


def kept_item(i):
    return float(_state["arr"][i])


def fill_rows(task):
    out, lo, hi, value = task
    out[lo:hi] = value
    return mapped_file(mmarr._mmarr.data_address(out))


def load(blob):
    """Unpickle in the worker; report the error class and message instead of raising."""
    try:
        a = pickle.loads(blob)
        return "ok", float(a.sum())
    except Exception as e:  # noqa: BLE001 (the test inspects it)
        return type(e).__name__, str(e)


def hold_until(blob_path, expect, ready, go):
    """Unpickle an array from a file, check it, say ready, and keep it until told to go."""
    with open(blob_path, "rb") as f:
        arr = pickle.load(f)
    if arr.tolist() == expect:
        ready.set()
    go.wait(60)
