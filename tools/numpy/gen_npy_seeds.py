# SPDX-License-Identifier: MIT
"""Seeds for fuzz_npy: .npy files and .npz archives exactly as numpy writes them.

Run with the system Python (Debian's python3-numpy) from the repository root:

    /usr/bin/python3 tools/numpy/gen_npy_seeds.py tests/fuzz/corpus/fuzz_npy

Arrays are tiny (the fuzzer mutates headers, not data). Covers format versions 1.0, 2.0
(header over 64 KiB) and 3.0 (non-latin-1 field names), C and Fortran order, 0-d and empty
shapes, every plain kind, structured dtypes with padding, subarrays and nesting, and stored
and deflated .npz members.
"""
import io
import os
import sys
import zipfile

import numpy as np


def save(path, arr, version=None):
    buf = io.BytesIO()
    if version is None:
        np.save(buf, arr, allow_pickle=False)
    else:
        np.lib.format.write_array(buf, arr, version=version, allow_pickle=False)
    with open(path, "wb") as fp:
        fp.write(buf.getvalue())


def main(out):
    os.makedirs(out, exist_ok=True)
    seeds = {
        "f4_1d": np.arange(3, dtype="<f4"),
        "f8_2d_fortran": np.asfortranarray(np.arange(6, dtype="<f8").reshape(2, 3)),
        "i8_be": np.arange(2, dtype=">i8"),
        "u1_0d": np.array(7, dtype="u1"),
        "bool_empty": np.zeros((0, 4), dtype="?"),
        "c16": np.array([1 + 2j], dtype="<c16"),
        "s5": np.array([b"ab", b"cdefg"], dtype="S5"),
        "u3": np.array(["x", "yz"], dtype="<U3"),
        "v3": np.zeros(2, dtype="V3"),
        "m8": np.array([0, 1], dtype="<M8[ns]"),
        "td10ms": np.array([5], dtype="<m8[10ms]"),
        "f2_3d": np.zeros((1, 2, 1), dtype="<f2"),
        "struct": np.zeros(2, dtype=[("date", "<M8[ns]"), ("val", "<f8"), ("c", "S6")]),
        "struct_pad": np.zeros(1, dtype=np.dtype({"names": ["a", "b"], "formats": ["u1", "<i4"],
                                                  "offsets": [0, 4], "itemsize": 12})),
        "struct_nested": np.zeros(1, dtype=[("p", [("a", "<i2"), ("b", ">f4")]),
                                            ("q", "<u8", (2, 3))]),
    }
    for name, arr in seeds.items():
        save(os.path.join(out, name + ".npy"), arr)
    # version 2.0: a header over 64 KiB (many fields)
    big = np.zeros(1, dtype=[("f%04d" % i, "<f4") for i in range(3000)])
    save(os.path.join(out, "v2_many_fields.npy"), big)
    # version 3.0: a field name beyond latin-1
    save(os.path.join(out, "v3_utf8.npy"), np.zeros(1, dtype=[("\u03c0", "<f8")]))
    # numpy's own header for a 1-d array written as version 1.0 explicitly
    save(os.path.join(out, "v1_explicit.npy"), np.arange(4, dtype="<i4"), version=(1, 0))
    # .npz archives: stored and deflated
    with open(os.path.join(out, "stored.npz"), "wb") as fp:
        np.savez(fp, a=np.arange(5, dtype="<f4"), b=np.zeros((2, 2), dtype="u1"))
    with open(os.path.join(out, "deflated.npz"), "wb") as fp:
        np.savez_compressed(fp, x=np.arange(100, dtype="<i8"), s=seeds["struct"])
    # a zip with a directory entry and a non-.npy member
    with zipfile.ZipFile(os.path.join(out, "mixed.npz"), "w") as z:
        z.writestr("dir/", b"")
        buf = io.BytesIO()
        np.save(buf, np.arange(2, dtype="<u2"))
        z.writestr("dir/v.npy", buf.getvalue())
        z.writestr("readme.txt", b"not an array")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fuzz/corpus/fuzz_npy")
