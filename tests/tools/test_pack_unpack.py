# SPDX-License-Identifier: MIT
"""End-to-end tests of mmarr-pack and mmarr-unpack against numpy.

numpy writes every input at test time (.npy of every dtype kind the format shares with numpy,
NPY versions 1.0/2.0/3.0, np.savez / np.savez_compressed, directories, raw files); the tools
pack them and export them again, and numpy checks the result: dtype, shape, bytes and
Fortran-contiguity equal, and for files np.save wrote, the exported file byte for byte equal
to the original. tests/tools/mmdump.c shows what the .mmarr file itself holds. Bad inputs,
refusals and interruptions are checked for their exit status, their one-line message, and
for leaving no output and no temporary file behind.

ctest sets MMARR_TOOLS_DIR (mmarr-pack, mmarr-unpack) and MMARR_MMDUMP.
"""

import io
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

MMDUMP = os.environ.get("MMARR_MMDUMP", "")
RNG_SEED = 20240601


# ---------------------------------------------------------------------------------------------
# helpers


def rand_array(dtype, shape, order="C", seed=0):
    """An array of `dtype` whose bytes are random: NaN payloads, NaT, odd bools and all."""
    dt = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    raw = np.random.default_rng(RNG_SEED + seed).bytes(n * dt.itemsize)
    a = np.frombuffer(raw, dtype=dt).copy().reshape(shape)
    return np.asfortranarray(a) if order == "F" else a


def same_array(a, b):
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert a.dtype.descr == b.dtype.descr
    assert a.shape == b.shape
    assert a.flags.f_contiguous == b.flags.f_contiguous
    assert a.flags.c_contiguous == b.flags.c_contiguous
    assert a.tobytes(order="A") == b.tobytes(order="A")


def pack(tools, out, *inputs, rc=0, opts=("-q",), cwd=None):
    return tools.run("mmarr-pack", *opts, "-o", out, *inputs, rc=rc, cwd=cwd)


def unpack(tools, mm, *args, rc=0):
    return tools.run("mmarr-unpack", "-q", mm, *args, rc=rc)


def dump(path):
    if not MMDUMP:
        pytest.fail("set MMARR_MMDUMP (ctest does)")
    p = subprocess.run([MMDUMP, str(path)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def arrays_of(path):
    return {a["name"]: a for a in dump(path)["arrays"]}


def dirarg(path):
    """A directory output argument: the trailing '/' matters (pathlib would drop it)."""
    return str(path) + "/"


def leftovers(directory):
    """Temporary files anyone left (the writers name them <target>.tmp.XXXXXX)."""
    found = []
    for root, _, files in os.walk(directory):
        found += [os.path.join(root, f) for f in files if ".tmp." in f]
    return found


def one_line_error(result, prog, *fragments):
    lines = result.error_lines()
    assert len(lines) == 1, "expected one error line, got:\n" + result.err
    assert lines[0].startswith(prog + ": "), lines[0]
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def npy_version(path):
    with open(path, "rb") as f:
        return np.lib.format.read_magic(f)


# ---------------------------------------------------------------------------------------------
# every dtype kind, through .npy -> .mmarr -> .npy

ALIGNED = np.dtype([("a", "u1"), ("b", "<f8"), ("c", "<i2")], align=True)
DTYPES = [
    "|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8",
    "<f2", "<f4", "<f8", "<c8", "<c16",
    "|S1", "|S6", "<U1", "<U5", "|V7",
    "<M8[ns]", "<M8[D]", "<M8[10ms]", "<M8", "<m8[s]", "<m8[us]", "<m8[25ns]",
    ">f8", ">i4", ">u2", ">c8", ">U3", ">M8[ns]", ">m8[ms]", ">f2",
    [("when", "<M8[ns]"), ("val", "<f8"), ("code", "S6")],
    [("a", [("x", "<i2"), ("y", "S3"), ("t", ">m8[s]")]), ("b", "<f4", (2, 3))],
    [("grid", [("p", "<f8", (3,)), ("q", [("r", "u1", (2, 2))], (2,))], (2,)), ("z", "?")],
    [("big", ">f8"), ("little", "<f8"), ("", "|V3"), ("s", "S2")],
    ALIGNED,
]


def dtype_id(d):
    return np.dtype(d).str if np.dtype(d).names is None else "struct%d" % np.dtype(d).itemsize


@pytest.mark.parametrize("dtype", DTYPES, ids=[dtype_id(d) for d in DTYPES])
def test_npy_round_trip_every_dtype(tools, tmp_path, dtype):
    a = rand_array(dtype, (3, 4), seed=len(str(dtype)))
    src = tmp_path / "x.npy"
    np.save(src, a)
    pack(tools, tmp_path / "x.mmarr", src)
    stored = arrays_of(tmp_path / "x.mmarr")["x"]
    want = a.dtype.str if a.dtype.names is None else str(a.dtype.descr)
    assert stored["dtype"] == want          # numpy's canonical text, byte order as declared
    assert stored["shape"] == [3, 4] and stored["order"] == "C"
    unpack(tools, tmp_path / "x.mmarr", "x", "-o", tmp_path / "back.npy")
    back = np.load(tmp_path / "back.npy")
    same_array(back, np.load(src))          # what numpy itself reads from the original
    assert back.tobytes() == a.tobytes()
    assert (tmp_path / "back.npy").read_bytes() == src.read_bytes()


SHAPES = [((), "C"), ((0,), "C"), ((3, 0), "C"), ((0, 3), "F"), ((7,), "C"), ((4, 5), "F"),
          ((2, 3, 4), "F"), ((5, 1), "F"), ((1, 1, 1, 2), "C"), ((3, 1, 2), "F")]


@pytest.mark.parametrize("shape,order", SHAPES, ids=["%s%s" % s for s in SHAPES])
@pytest.mark.parametrize("dtype", ["<f8", ">i2", "|S3", [("t", "<M8[us]"), ("v", ">f4")]],
                         ids=["f8", "be-i2", "S3", "struct"])
def test_npy_round_trip_shapes_and_orders(tools, tmp_path, dtype, shape, order):
    a = rand_array(dtype, shape, order)
    np.save(tmp_path / "a.npy", a)
    pack(tools, tmp_path / "a.mmarr", tmp_path / "a.npy")
    fortran = a.flags.f_contiguous and not a.flags.c_contiguous
    assert arrays_of(tmp_path / "a.mmarr")["a"]["order"] == ("F" if fortran else "C")
    unpack(tools, tmp_path / "a.mmarr", "-o", tmp_path / "b.npy")
    b = np.load(tmp_path / "b.npy")
    same_array(b, a)
    assert (tmp_path / "b.npy").read_bytes() == (tmp_path / "a.npy").read_bytes()


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_npy_versions_in_and_numpy_choice_out(tools, tmp_path, version):
    a = rand_array([("caf\xe9", "<i4"), ("b", ">f8", (2,))], (6,), seed=3)
    with open(tmp_path / "v.npy", "wb") as f:
        np.lib.format.write_array(f, a, version=version)
    assert npy_version(tmp_path / "v.npy") == version
    pack(tools, tmp_path / "v.mmarr", tmp_path / "v.npy")
    unpack(tools, tmp_path / "v.mmarr", "-o", tmp_path / "back.npy")
    same_array(np.load(tmp_path / "back.npy"), a)
    # the export is what np.save writes: the oldest version that holds the header (latin-1 1.0)
    np.save(tmp_path / "ref.npy", a)
    assert npy_version(tmp_path / "back.npy") == (1, 0)
    assert (tmp_path / "back.npy").read_bytes() == (tmp_path / "ref.npy").read_bytes()


def test_npy_large_and_unicode_headers_match_numpy(tools, tmp_path):
    wide = np.dtype([("f%05d" % i, "<f4") for i in range(4000)])      # header > 64 KiB: 2.0
    utf8 = np.dtype([("\u65e5\u672c", "<i2"), ("\u00e9t\u00e9", "<f4")])   # 3.0
    for name, dt in (("wide", wide), ("utf8", utf8)):
        a = rand_array(dt, (2,), seed=7)
        with pytest.warns(UserWarning):                                  # numpy notes 2.0/3.0
            np.save(tmp_path / (name + ".npy"), a)
    assert npy_version(tmp_path / "wide.npy") == (2, 0)
    assert npy_version(tmp_path / "utf8.npy") == (3, 0)
    pack(tools, tmp_path / "h.mmarr", tmp_path / "wide.npy", tmp_path / "utf8.npy")
    assert arrays_of(tmp_path / "h.mmarr")["utf8"]["dtype"] == \
        "[('\u65e5\u672c', '<i2'), ('\u00e9t\u00e9', '<f4')]"
    unpack(tools, tmp_path / "h.mmarr", "-o", dirarg(tmp_path / "out"))
    for name in ("wide", "utf8"):
        assert (tmp_path / "out" / (name + ".npy")).read_bytes() == \
            (tmp_path / (name + ".npy")).read_bytes()


def test_big_npy_streams_through_reserve(tools, tmp_path):
    """Arrays above the 8 MiB piece size go through the reserved mapping in pieces."""
    a = np.arange(5_000_000, dtype=">f8").reshape(1000, 5000).T       # F-ordered, 40 MB
    assert a.flags.f_contiguous
    np.save(tmp_path / "big.npy", a)
    np.save(tmp_path / "small.npy", np.arange(10, dtype="<i4"))
    pack(tools, tmp_path / "big.mmarr", tmp_path / "small.npy", tmp_path / "big.npy",
         "small2=" + str(tmp_path / "small.npy"))
    info = arrays_of(tmp_path / "big.mmarr")
    assert info["big"]["order"] == "F" and info["big"]["dtype"] == ">f8"
    assert info["big"]["offset"] % 4096 == 0
    unpack(tools, tmp_path / "big.mmarr", "-o", dirarg(tmp_path / "out"))
    assert (tmp_path / "out" / "big.npy").read_bytes() == (tmp_path / "big.npy").read_bytes()


# ---------------------------------------------------------------------------------------------
# .npz in and out


@pytest.mark.parametrize("saver", [np.savez, np.savez_compressed], ids=["stored", "deflated"])
def test_npz_input(tools, tmp_path, saver):
    arrays = {"x": rand_array("<f4", (100, 3)), "y": rand_array(">i8", (7,), seed=1),
              "s": rand_array([("t", "<M8[ns]"), ("c", "S6")], (4,), seed=2),
              "f": rand_array("<c8", (3, 5), "F", seed=3), "e": np.zeros((0, 2), "u1")}
    saver(tmp_path / "in.npz", **arrays)
    pack(tools, tmp_path / "plain.mmarr", tmp_path / "in.npz")
    assert list(arrays_of(tmp_path / "plain.mmarr")) == list(arrays)   # member order
    pack(tools, tmp_path / "named.mmarr", "train=" + str(tmp_path / "in.npz"))
    assert sorted(arrays_of(tmp_path / "named.mmarr")) == sorted("train/" + k for k in arrays)
    unpack(tools, tmp_path / "named.mmarr", "-o", tmp_path / "out.npz")
    with np.load(tmp_path / "out.npz") as z:
        assert sorted(z.files) == sorted("train/" + k for k in arrays)
        for k, v in arrays.items():
            same_array(z["train/" + k], v)


def test_npz_members_beyond_savez(tools, tmp_path):
    """Members in subfolders, forced zip64, deflate, a non-.npy member (skipped with a
    warning) and a directory entry."""
    a, b = rand_array("<u2", (9,)), rand_array("<f8", (2, 2), "F", seed=4)
    with zipfile.ZipFile(tmp_path / "odd.npz", "w") as zf:
        zf.writestr("dir/", b"")
        with zf.open("dir/a.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array(f, a)
        buf = io.BytesIO()
        np.lib.format.write_array(buf, b, version=(2, 0))
        zf.writestr(zipfile.ZipInfo("b.npy"), buf.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("README.txt", b"not an array")
    r = pack(tools, tmp_path / "o.mmarr", tmp_path / "odd.npz")
    assert "README.txt" in r.err and "skipped" in r.err
    assert sorted(arrays_of(tmp_path / "o.mmarr")) == ["b", "dir/a"]
    unpack(tools, tmp_path / "o.mmarr", "-o", dirarg(tmp_path / "out"))
    same_array(np.load(tmp_path / "out" / "dir" / "a.npy"), a)
    same_array(np.load(tmp_path / "out" / "b.npy"), b)


@pytest.mark.parametrize("deflate", [False, True], ids=["stored", "deflate"])
def test_npz_output(tools, tmp_path, deflate):
    arrays = {"a": rand_array("<f8", (1000,)), "g/b": rand_array(">i2", (3, 4), "F", seed=5),
              "z": np.zeros((), "<c16")}
    for k, v in arrays.items():
        np.save(tmp_path / (k.replace("/", "_") + ".npy"), v)
    pack(tools, tmp_path / "m.mmarr", *["%s=%s" % (k, tmp_path / (k.replace("/", "_") + ".npy"))
                                         for k in arrays])
    unpack(tools, tmp_path / "m.mmarr", "-o", tmp_path / "out.npz",
           *(["--deflate"] if deflate else []))
    with zipfile.ZipFile(tmp_path / "out.npz") as zf:
        assert zf.testzip() is None
        kinds = {i.compress_type for i in zf.infolist()}
        assert kinds == {zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED}
        for k, v in arrays.items():          # each member is exactly np.save's bytes
            buf = io.BytesIO()
            np.save(buf, v)
            assert zf.read(k + ".npy") == buf.getvalue()
    with np.load(tmp_path / "out.npz") as z:
        for k, v in arrays.items():
            same_array(z[k], v)
    # a selection, in the order named
    unpack(tools, tmp_path / "m.mmarr", "z", "a", "-o", tmp_path / "sel.npz")
    assert np.load(tmp_path / "sel.npz").files == ["z", "a"]


def test_npz_round_trip_through_pack(tools, tmp_path):
    arrays = {"p%d" % i: rand_array(DTYPES[i * 3 % len(DTYPES)], (2, 3), seed=i)
              for i in range(12)}
    np.savez_compressed(tmp_path / "in.npz", **arrays)
    pack(tools, tmp_path / "m.mmarr", tmp_path / "in.npz")
    unpack(tools, tmp_path / "m.mmarr", "-o", tmp_path / "out.npz")
    pack(tools, tmp_path / "m2.mmarr", tmp_path / "out.npz")
    unpack(tools, tmp_path / "m2.mmarr", "-o", dirarg(tmp_path / "final"))
    for k, v in arrays.items():
        same_array(np.load(tmp_path / "final" / (k + ".npy")), v)


def test_empty_npz_and_empty_file(tools, tmp_path):
    np.savez(tmp_path / "none.npz")
    pack(tools, tmp_path / "e.mmarr", tmp_path / "none.npz")
    assert dump(tmp_path / "e.mmarr")["arrays"] == []
    unpack(tools, tmp_path / "e.mmarr", "-o", tmp_path / "e.npz")
    assert np.load(tmp_path / "e.npz").files == []
    unpack(tools, tmp_path / "e.mmarr", "-o", dirarg(tmp_path / "edir"))
    assert os.listdir(tmp_path / "edir") == []
    r = unpack(tools, tmp_path / "e.mmarr", "-o", tmp_path / "e.npy", rc=2)
    assert "0 arrays" in r.err


@pytest.mark.parametrize("compressed", [False, True], ids=["stored", "deflated"])
def test_damaged_npz_member_fails_cleanly(tools, tmp_path, compressed):
    """The CRC (or inflate) check comes at the end of each member, after the output file was
    started: the failure must still leave nothing behind."""
    a = rand_array("<f8", (20000,))
    (np.savez_compressed if compressed else np.savez)(tmp_path / "d.npz", a=a)
    data = bytearray((tmp_path / "d.npz").read_bytes())
    data[len(data) // 2] ^= 0x55            # inside the member's data
    (tmp_path / "d.npz").write_bytes(bytes(data))
    r = pack(tools, tmp_path / "d.mmarr", tmp_path / "d.npz", rc=1)
    one_line_error(r, "mmarr-pack", "d.npz", 'member "a.npy"')
    assert not (tmp_path / "d.mmarr").exists()
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# directories, names, raw files


def test_directory_input(tools, tmp_path):
    d = tmp_path / "data"
    (d / "sub" / "deeper").mkdir(parents=True)
    (d / ".git").mkdir()
    arrays = {"a": rand_array("<f4", (5,)), "sub/b": rand_array(">i8", (2, 2), "F", seed=1)}
    np.save(d / "a.npy", arrays["a"])
    np.save(d / "sub" / "b.npy", arrays["sub/b"])
    np.savez(d / "sub" / "deeper" / "c.npz", x=np.arange(3), y=np.ones(2, "<f2"))
    np.save(d / ".hidden.npy", np.zeros(1))
    np.save(d / ".git" / "obj.npy", np.zeros(1))
    rand_array("<i2", (6,), seed=9).tofile(d / "sub" / "raw.i16")
    want = ["a", "sub/b", "sub/deeper/c/x", "sub/deeper/c/y", "sub/raw"]   # sorted walk
    pack(tools, tmp_path / "d.mmarr", "-t", "<i2", "-s", "3,2", d)
    assert list(arrays_of(tmp_path / "d.mmarr")) == want
    assert arrays_of(tmp_path / "d.mmarr")["sub/raw"]["shape"] == [3, 2]
    pack(tools, tmp_path / "p.mmarr", "-t", "<i2", "top=" + str(d))
    assert list(arrays_of(tmp_path / "p.mmarr")) == ["top/" + n for n in want]
    unpack(tools, tmp_path / "d.mmarr", "-o", dirarg(tmp_path / "out"))
    for k, v in arrays.items():
        same_array(np.load(tmp_path / "out" / (k + ".npy")), v)
    same_array(np.load(tmp_path / "out" / "sub" / "deeper" / "c" / "y.npy"), np.ones(2, "<f2"))
    # without --dtype the raw file in the tree is an error naming it
    r = pack(tools, tmp_path / "n.mmarr", d, rc=1)
    one_line_error(r, "mmarr-pack", "raw.i16", "--dtype")
    assert "--skip-other" in r.err
    assert not (tmp_path / "n.mmarr").exists()
    # --skip-other: files that are not arrays are listed and skipped, in directories only
    (d / "README.md").write_text("about these arrays\n")
    r = pack(tools, tmp_path / "s.mmarr", "--skip-other", d, opts=())
    assert list(arrays_of(tmp_path / "s.mmarr")) == want[:-1]
    assert "README.md: not an .npy, .npz or .mmarr file; skipped" in r.err
    assert "raw.i16: not an .npy" in r.err and "skipped 2 files" in r.err
    r = pack(tools, tmp_path / "q.mmarr", "-q", "--skip-other", d, opts=())
    assert r.err == "" and list(arrays_of(tmp_path / "q.mmarr")) == want[:-1]
    r = pack(tools, tmp_path / "n.mmarr", "--skip-other", d / "README.md", rc=1)
    one_line_error(r, "mmarr-pack", "README.md", "--dtype")


def test_names_and_duplicates(tools, tmp_path):
    np.save(tmp_path / "a.npy", np.arange(3))
    os.mkdir(tmp_path / "other")
    np.save(tmp_path / "other" / "a.npy", np.arange(4))
    pack(tools, tmp_path / "n.mmarr", "w=" + str(tmp_path / "a.npy"),
         "deep/er/name=" + str(tmp_path / "other" / "a.npy"), tmp_path / "a.npy")
    assert list(arrays_of(tmp_path / "n.mmarr")) == ["w", "deep/er/name", "a"]
    # the same derived name from two inputs: a naming (usage) problem
    r = pack(tools, tmp_path / "dup.mmarr", tmp_path / "a.npy", tmp_path / "other" / "a.npy",
             rc=2)
    assert 'duplicate array name "a"' in r.err and "NAME=PATH" in r.err
    # within one input (a directory with a.npy and a.bin): a data problem
    np.arange(2, dtype="<i8").tofile(tmp_path / "other" / "a.bin")
    r = pack(tools, tmp_path / "dup.mmarr", "-t", "<i8", tmp_path / "other", rc=1)
    one_line_error(r, "mmarr-pack", 'duplicate array name "a"', "a.bin", "a.npy")
    # duplicate members inside one zip
    with zipfile.ZipFile(tmp_path / "twice.npz", "w") as zf, pytest.warns(UserWarning):
        for _ in range(2):                                   # zipfile warns: duplicate name
            zf.writestr("m.npy", (tmp_path / "a.npy").read_bytes())
    r = pack(tools, tmp_path / "dup.mmarr", tmp_path / "twice.npz", rc=1)
    one_line_error(r, "mmarr-pack", "twice.npz", "two members have the same name")
    # a path with '=' needs an explicit name
    np.save(tmp_path / "x=y.npy", np.arange(2))
    r = pack(tools, tmp_path / "eq.mmarr", tmp_path / "x=y.npy", rc=1)
    one_line_error(r, "mmarr-pack", "NAME=PATH")
    pack(tools, tmp_path / "eq.mmarr", "xy=" + str(tmp_path / "x=y.npy"))
    assert list(arrays_of(tmp_path / "eq.mmarr")) == ["xy"]
    assert leftovers(tmp_path) == []


def test_file_names_that_are_not_utf8(tools, tmp_path):
    """Array names must be UTF-8; a file name that is not gets refused before any output."""
    d = os.fsencode(tmp_path / "d")
    os.mkdir(d)
    bad = d + b"/caf\xe9.npy"                        # latin-1 bytes, invalid as UTF-8
    with open(bad, "wb") as f:
        np.save(f, np.arange(4))
    r = pack(tools, tmp_path / "x.mmarr", d, rc=1)
    one_line_error(r, "mmarr-pack", "not valid UTF-8", "NAME=PATH")
    assert not (tmp_path / "x.mmarr").exists() and leftovers(tmp_path) == []
    pack(tools, tmp_path / "x.mmarr", b"cafe=" + bad)
    assert list(arrays_of(tmp_path / "x.mmarr")) == ["cafe"]


def test_raw_inputs(tools, tmp_path):
    pts = rand_array("<f4", (10, 3))
    pts.tofile(tmp_path / "points.bin")
    col = rand_array(">u2", (4, 6), seed=2)
    np.asfortranarray(col).T.tofile(tmp_path / "col.raw")     # Fortran-order bytes
    rec = rand_array([("t", "<M8[s]"), ("v", ">f8")], (5,), seed=3)
    rec.tofile(tmp_path / "rec.dat")
    pack(tools, tmp_path / "r.mmarr",
         "-t", "float32", "-s", "-1,3", tmp_path / "points.bin",
         "-t", ">u2", "-s", "(4, 6)", "--order", "F", "c=" + str(tmp_path / "col.raw"),
         "--order", "C", "-t", "[('t', '<M8[s]'), ('v', '>f8')]", "-s", "5", tmp_path / "rec.dat")
    info = arrays_of(tmp_path / "r.mmarr")
    assert info["points"]["dtype"] == "<f4" and info["points"]["shape"] == [10, 3]
    assert info["c"]["dtype"] == ">u2" and info["c"]["order"] == "F"
    unpack(tools, tmp_path / "r.mmarr", "-o", dirarg(tmp_path / "out"))
    same_array(np.load(tmp_path / "out" / "points.npy"), pts)
    same_array(np.load(tmp_path / "out" / "c.npy"), np.asfortranarray(col))
    same_array(np.load(tmp_path / "out" / "rec.npy"), rec)
    # a 0-d raw array, and the default shape (1-d from the size)
    np.array(2.5, "<f8").tofile(tmp_path / "one.bin")
    pack(tools, tmp_path / "z.mmarr", "-t", "<f8", "-s", "", tmp_path / "one.bin",
         "-s", "-1", "again=" + str(tmp_path / "one.bin"))
    info = arrays_of(tmp_path / "z.mmarr")
    assert info["one"]["shape"] == [] and info["again"]["shape"] == [1]


@pytest.mark.parametrize("args,rc,fragments", [
    (["-t", "<f4", "-s", "7,3"], 1, ["points.bin", "120 bytes", "does not match", "84"]),
    (["-t", "<f8", "-s", "-1,7"], 1, ["points.bin", "whole number"]),
    (["-t", "<f4", "-s", "1e3"], 2, ["--shape"]),
    (["-t", "<f4", "-s", "-1,-1"], 2, ["--shape"]),
    (["-t", "<f5"], 2, ["--dtype"]),
    (["-t", "|O"], 2, ["--dtype", "object"]),
    (["-s", "10,3"], 1, ["points.bin", "--dtype"]),
], ids=["wrong-size", "not-whole", "bad-shape", "two-minus-one", "bad-dtype", "object",
        "no-dtype"])
def test_raw_input_errors(tools, tmp_path, args, rc, fragments):
    rand_array("<f4", (10, 3)).tofile(tmp_path / "points.bin")
    r = pack(tools, tmp_path / "r.mmarr", *args, tmp_path / "points.bin", rc=rc)
    line = r.err.strip().splitlines()[0]
    for f in fragments:
        assert f in line, (f, r.err)
    assert not (tmp_path / "r.mmarr").exists()
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# re-pack and metadata


def test_repack_keeps_everything(tools, tmp_path):
    a = rand_array([("when", "<M8[ns]"), ("v", ">f8")], (50,))
    b = rand_array("<f4", (300, 300), "F", seed=1)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    pack(tools, tmp_path / "one.mmarr", tmp_path / "a.npy", tmp_path / "b.npy",
         opts=("-q", "--meta", "source=sensor-7", "-m", "unit=K", "--array-meta", "b:scale=0.5",
               "--array-meta", "b:note=x=y:z", "-a", "64K"))
    first = dump(tmp_path / "one.mmarr")
    assert first["alignment"] == 65536
    assert first["meta"] == {"source": "sensor-7", "unit": "K"}
    assert first["arrays"][1]["meta"] == {"scale": "0.5", "note": "x=y:z"}
    # re-pack: arrays, orders, metadata and (by default) the alignment survive; --meta wins
    np.save(tmp_path / "c.npy", np.arange(5))
    pack(tools, tmp_path / "two.mmarr", tmp_path / "one.mmarr", tmp_path / "c.npy",
         opts=("-q", "--meta", "unit=C", "--array-meta", "c:new=1"))
    second = dump(tmp_path / "two.mmarr")
    assert second["alignment"] == 65536
    assert second["meta"] == {"source": "sensor-7", "unit": "C"}
    by = {x["name"]: x for x in second["arrays"]}
    assert list(by) == ["a", "b", "c"]
    for k in ("dtype", "shape", "order", "nbytes"):
        assert by["a"][k] == first["arrays"][0][k] and by["b"][k] == first["arrays"][1][k]
    assert by["b"]["meta"] == {"scale": "0.5", "note": "x=y:z"} and by["c"]["meta"] == {"new": "1"}
    # prefixed re-pack with another alignment
    pack(tools, tmp_path / "three.mmarr", "old=" + str(tmp_path / "two.mmarr"),
         opts=("-q", "--alignment", "4096"))
    third = dump(tmp_path / "three.mmarr")
    assert third["alignment"] == 4096
    assert [x["name"] for x in third["arrays"]] == ["old/a", "old/b", "old/c"]
    unpack(tools, tmp_path / "three.mmarr", "-o", dirarg(tmp_path / "out"))
    same_array(np.load(tmp_path / "out" / "old" / "a.npy"), a)
    same_array(np.load(tmp_path / "out" / "old" / "b.npy"), b)


def test_repack_refuses_damaged_data(tools, tmp_path):
    np.save(tmp_path / "a.npy", rand_array("<f8", (1000,)))
    pack(tools, tmp_path / "a.mmarr", tmp_path / "a.npy")
    off = arrays_of(tmp_path / "a.mmarr")["a"]["offset"]
    data = bytearray((tmp_path / "a.mmarr").read_bytes())
    data[off + 100] ^= 1
    (tmp_path / "a.mmarr").write_bytes(bytes(data))
    r = pack(tools, tmp_path / "b.mmarr", tmp_path / "a.mmarr", rc=1)
    one_line_error(r, "mmarr-pack", "checksum")
    assert not (tmp_path / "b.mmarr").exists() and leftovers(tmp_path) == []
    r = unpack(tools, tmp_path / "a.mmarr", "-o", tmp_path / "a2.npy", rc=1)
    one_line_error(r, "mmarr-unpack", "checksum")
    assert not (tmp_path / "a2.npy").exists()
    # explicitly unverified, the bytes (damage included) go through unchanged
    pack(tools, tmp_path / "b.mmarr", tmp_path / "a.mmarr", opts=("-q", "--no-verify"))
    unpack(tools, tmp_path / "a.mmarr", "-o", tmp_path / "a2.npy", "--no-verify")
    assert np.load(tmp_path / "a2.npy").tobytes() == bytes(data[off:off + 8000])


@pytest.mark.parametrize("args,fragment", [
    (["--meta", "novalue"], "KEY=VALUE"),
    (["--meta", "=v"], "empty KEY"),
    (["--array-meta", "a=1"], "NAME:KEY=VALUE"),
    (["--array-meta", "nosuch:k=v"], 'no input array is named "nosuch"'),
    (["--alignment", "3000"], "power of two"),
    (["--alignment", "4M"], "power of two"),
    (["--order", "X"], "C or F"),
], ids=["meta", "empty-key", "array-meta", "unknown-array", "align", "align-big", "order"])
def test_option_errors(tools, tmp_path, args, fragment):
    np.save(tmp_path / "a.npy", np.arange(3))
    r = pack(tools, tmp_path / "o.mmarr", *args, tmp_path / "a.npy", rc=2)
    assert fragment in r.err and "--help" in r.err
    assert not (tmp_path / "o.mmarr").exists()


# ---------------------------------------------------------------------------------------------
# refusals, bad inputs, overwrite protection


def make_bad_inputs(d):
    a = rand_array("<f8", (100,))
    np.save(d / "good.npy", a)
    good = (d / "good.npy").read_bytes()
    (d / "cut_header.npy").write_bytes(good[:60])
    (d / "cut_data.npy").write_bytes(good[:-8])
    np.save(d / "object.npy", np.array([1, "two", None], dtype=object), allow_pickle=True)
    (d / "text.npy").write_text("just text\n")
    (d / "bad.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (d / "version.npy").write_bytes(good[:6] + b"\x07\x00" + good[8:])
    (d / "hdr.npy").write_bytes(good.replace(b"'fortran_order': False", b"'fortran_order': 0    "))


BAD = [
    ("cut_header.npy", ["truncated"]),
    ("cut_data.npy", ["truncated", "800 data bytes", "792"]),
    ("object.npy", ["object", "never unpickled"]),
    ("text.npy", ["not a valid .npy"]),
    ("bad.npz", ["not a readable .npz"]),
    ("version.npy", ["version 7.0"]),
    ("hdr.npy", ["fortran_order", "True or False"]),
    ("missing.npy", ["No such file"]),
]


@pytest.mark.parametrize("name,fragments", BAD, ids=[b[0] for b in BAD])
def test_bad_inputs(tools, tmp_path, name, fragments):
    make_bad_inputs(tmp_path)
    out = tmp_path / "o.mmarr"
    r = pack(tools, out, tmp_path / "good.npy", tmp_path / name, rc=1)
    one_line_error(r, "mmarr-pack", name, *fragments)
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_overwrite_protection(tools, tmp_path):
    np.save(tmp_path / "a.npy", np.arange(3))
    np.save(tmp_path / "b.npy", np.arange(4))
    out = tmp_path / "o.mmarr"
    out.write_bytes(b"precious")
    r = pack(tools, out, tmp_path / "a.npy", rc=1)
    one_line_error(r, "mmarr-pack", "already exists", "--force")
    assert out.read_bytes() == b"precious"
    pack(tools, out, tmp_path / "a.npy", opts=("-q", "--force"))
    assert list(arrays_of(out)) == ["a"]
    r = pack(tools, tmp_path, tmp_path / "a.npy", opts=("-q", "-f"), rc=1)
    assert "is a directory" in r.err
    # unpack: .npy, .npz and files inside a directory
    for target in ("x.npy", "x.npz"):
        (tmp_path / target).write_bytes(b"keep")
        r = unpack(tools, out, "-o", tmp_path / target, rc=1)
        one_line_error(r, "mmarr-unpack", target, "already exists")
        assert (tmp_path / target).read_bytes() == b"keep"
        unpack(tools, out, "-o", tmp_path / target, "--force")
        assert (tmp_path / target).read_bytes() != b"keep"
    os.mkdir(tmp_path / "d")
    (tmp_path / "d" / "a.npy").write_bytes(b"keep")
    r = unpack(tools, out, "-o", tmp_path / "d", rc=1)
    assert "already exists" in r.err and (tmp_path / "d" / "a.npy").read_bytes() == b"keep"
    unpack(tools, out, "-o", tmp_path / "d", "-f")
    same_array(np.load(tmp_path / "d" / "a.npy"), np.arange(3))
    assert leftovers(tmp_path) == []


def test_unpack_selection_and_errors(tools, tmp_path):
    for n in ("a", "b"):
        np.save(tmp_path / (n + ".npy"), rand_array("<i4", (3,), seed=ord(n)))
    mm = tmp_path / "m.mmarr"
    pack(tools, mm, tmp_path / "a.npy", tmp_path / "b.npy", "g/c=" + str(tmp_path / "a.npy"))
    unpack(tools, mm, "g/c", "-o", tmp_path / "c.npy")
    same_array(np.load(tmp_path / "c.npy"), np.load(tmp_path / "a.npy"))
    unpack(tools, mm, "b", "g/c", "-o", dirarg(tmp_path / "sel"))
    assert sorted(os.listdir(tmp_path / "sel")) == ["b.npy", "g"]
    r = unpack(tools, mm, "-o", tmp_path / "all.npy", rc=2)
    assert "3 arrays" in r.err
    r = unpack(tools, mm, "a", "b", "-o", tmp_path / "two.npy", rc=2)
    assert "takes one array" in r.err
    r = unpack(tools, mm, "nope", "-o", tmp_path / "n.npy", rc=1)
    one_line_error(r, "mmarr-unpack", 'no array named "nope"')
    r = unpack(tools, mm, "a", "-o", tmp_path / "a.out", rc=2)
    assert ".npy, .npz or /" in r.err
    r = unpack(tools, mm, "a", "a", "-o", tmp_path / "x.npz", rc=2)
    assert "named twice" in r.err
    r = unpack(tools, tmp_path / "a.npy", "-o", tmp_path / "x.npz", rc=1)
    one_line_error(r, "mmarr-unpack", "a.npy", "not an mmarr file")
    unpack(tools, mm, rc=2)
    assert not (tmp_path / "x.npz").exists() and leftovers(tmp_path) == []


def test_unpack_refuses_escaping_names(tools, tmp_path):
    np.save(tmp_path / "a.npy", np.arange(3))
    mm = tmp_path / "m.mmarr"
    pack(tools, mm, "../evil=" + str(tmp_path / "a.npy"), "ok=" + str(tmp_path / "a.npy"))
    os.mkdir(tmp_path / "box")
    for out in (dirarg(tmp_path / "box" / "out"), tmp_path / "box" / "out.npz"):
        r = unpack(tools, mm, "-o", out, rc=1)
        one_line_error(r, "mmarr-unpack", '"../evil"', "cannot be used as a path")
    assert os.listdir(tmp_path / "box") == [] and not (tmp_path / "evil.npy").exists()
    unpack(tools, mm, "../evil", "-o", tmp_path / "box" / "evil.npy")   # alone, by name: fine
    same_array(np.load(tmp_path / "box" / "evil.npy"), np.arange(3))


def test_dtypes_numpy_lacks(tools, tmp_path):
    raw = rand_array("<u2", (8,)).tobytes()
    (tmp_path / "w.bin").write_bytes(raw)
    (tmp_path / "r.bin").write_bytes(raw)
    mm = tmp_path / "m.mmarr"
    pack(tools, mm, "-t", "bfloat16", tmp_path / "w.bin",
         "-t", "[('e', 'float8_e4m3fn', (2,)), ('g', '|u1', (2,))]", tmp_path / "r.bin")
    assert arrays_of(mm)["w"]["dtype"] == "bfloat16"
    r = unpack(tools, mm, "w", "-o", tmp_path / "w.npy", rc=1)
    one_line_error(r, "mmarr-unpack", '"w"', "bfloat16", "--as-void")
    assert not (tmp_path / "w.npy").exists()
    unpack(tools, mm, "-o", tmp_path / "v.npz", "--as-void")
    with np.load(tmp_path / "v.npz") as z:
        assert z["w"].dtype == np.dtype("V2") and z["w"].tobytes() == raw
        assert z["r"].dtype == np.dtype([("e", "V1", (2,)), ("g", "u1", (2,))])
        assert z["r"].tobytes() == raw


# ---------------------------------------------------------------------------------------------
# interruption, progress, help


def big_sparse_npy(path, nbytes):
    """An .npy whose data is a hole: cheap to create, slow enough to copy."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (nbytes // 8,)})
    with open(path, "wb") as f:
        f.write(header.getvalue())
        f.truncate(len(header.getvalue()) + nbytes)


def interrupt_when_temp_appears(tools, directory, args, sig):
    p = tools.popen(args[0], *args[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None and not leftovers(directory):
        time.sleep(0.002)
    if p.poll() is not None:
        p.communicate()
        pytest.skip("the tool finished before it could be interrupted")
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    return p.returncode, err.decode()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_interrupted_pack_leaves_nothing(tools, tmp_path, sig):
    big_sparse_npy(tmp_path / "big.npy", 3 << 30)
    out = tmp_path / "out" / "o.mmarr"
    os.mkdir(tmp_path / "out")
    rc, err = interrupt_when_temp_appears(tools, tmp_path / "out",
                                          ["mmarr-pack", "-q", "-o", out, tmp_path / "big.npy"],
                                          sig)
    assert rc == -sig, err               # ends by the signal itself
    assert "interrupted" in err
    assert os.listdir(tmp_path / "out") == []


@pytest.fixture(scope="module")
def big_mmarr(tools, tmp_path_factory):
    """A 1 GiB array, written once for the interruption tests and removed afterwards."""
    d = tmp_path_factory.mktemp("big")
    big_sparse_npy(d / "big.npy", 1 << 30)
    pack(tools, d / "b.mmarr", d / "big.npy")
    yield d / "b.mmarr"
    shutil.rmtree(d)


@pytest.mark.parametrize("target", ["dir/", "x.npy", "x.npz"])
def test_interrupted_unpack_leaves_nothing(tools, tmp_path, big_mmarr, target):
    os.mkdir(tmp_path / "out")
    out = str(tmp_path / "out" / target) + ("/" if target.endswith("/") else "")
    os.makedirs(tmp_path / "out" / "dir")
    rc, err = interrupt_when_temp_appears(
        tools, tmp_path / "out",
        ["mmarr-unpack", "-q", "--no-verify", big_mmarr, "-o", out], signal.SIGINT)
    assert rc == -signal.SIGINT, err
    assert "interrupted" in err
    assert os.listdir(tmp_path / "out") == ["dir"] and os.listdir(tmp_path / "out" / "dir") == []


def run_on_tty(tools, *args):
    """stderr on a pseudo-terminal, as an interactive user sees it."""
    master, slave = pty.openpty()
    p = tools.popen(args[0], *args[1:], stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    p.wait(timeout=60)
    return p.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_progress_only_on_a_terminal(tools, tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(3_000_000))
    rc, tty = run_on_tty(tools, "mmarr-pack", "-o", tmp_path / "p.mmarr", tmp_path / "a.npy")
    assert rc == 0 and "packing" in tty and "100%" in tty
    rc, tty = run_on_tty(tools, "mmarr-pack", "-q", "-o", tmp_path / "q.mmarr",
                         tmp_path / "a.npy")
    assert rc == 0 and tty == ""
    r = tools.run("mmarr-pack", "-o", tmp_path / "n.mmarr", tmp_path / "a.npy")
    assert r.err == ""                   # not a terminal: quiet
    rc, tty = run_on_tty(tools, "mmarr-unpack", tmp_path / "p.mmarr", "-o", tmp_path / "u.npy")
    assert rc == 0 and "unpacking" in tty


@pytest.mark.parametrize("tool", ["mmarr-pack", "mmarr-unpack"])
def test_help_version_usage(tools, tool):
    r = tools.run(tool, "--help")
    assert r.out.startswith("Usage: " + tool) and "Examples:" in r.out and "Exit status" in r.out
    assert r.err == ""
    r = tools.run(tool, "-h")
    assert "Usage:" in r.out
    r = tools.run(tool, "--version")
    assert r.out.startswith(tool + " ") and "format 1.2" in r.out
    for args in (["--bogus"], ["-Z"], [], ["-o"]):
        r = tools.run(tool, *args, rc=2)
        assert r.out == "" and "Try '%s --help'" % tool in r.err


def test_man_pages_list_every_option(tools):
    """Each long option in --help is documented in the tool's man page, and vice versa."""
    import re
    here = os.path.dirname(os.path.abspath(__file__))
    for tool in ("mmarr-pack", "mmarr-unpack"):
        page = open(os.path.join(here, "..", "..", "tools", tool + ".1.md")).read()
        helped = set(re.findall(r"--[a-z][a-z-]+", tools.run(tool, "--help").out))
        documented = set(re.findall(r"--[a-z][a-z-]+", page))
        assert helped <= documented, helped - documented
        assert documented <= helped, documented - helped


def test_file_truncated_in_place_while_read_is_reported(tools, tmp_path):
    """A file truncated in place by another program while a tool reads it through its mapping
    (docs/robustness.md): the tool says what happened and which file, and exits 1; never
    "Bus error" (-SIGBUS / 135). Truncating at several moments, at least one must land while
    mmarr-info --verify reads the data (the SIGBUS defence); earlier ones are refused at open
    (a truncated file), later ones find the verification done."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else str(tmp_path)
    work = tmp_path / "w"
    work.mkdir()
    shm = os.path.join(base, "mmarr-sigbus-%d" % os.getpid())
    os.mkdir(shm)
    try:
        raw = os.path.join(shm, "x.bin")
        with open(raw, "wb") as fh:
            fh.truncate(512 << 20)
        ref = os.path.join(shm, "ref.mmarr")
        pack(tools, ref, "-t", "|u1", "x=" + raw)
        os.unlink(raw)
        victim = os.path.join(shm, "v.mmarr")
        outcomes = []
        for delay in (0, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32):
            shutil.copyfile(ref, victim)
            p = tools.popen("mmarr-info", "--verify", victim, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
            time.sleep(delay)
            os.truncate(victim, 3 * 4096)
            out, err = p.communicate(timeout=300)
            err = err.decode("utf-8", "replace")
            assert p.returncode in (0, 1), (delay, p.returncode, err)  # never killed by SIGBUS
            if p.returncode == 1:
                assert victim in err, err
            if "SIGBUS" in err:
                assert "truncated or rewritten in place" in err, err
                outcomes.append("sigbus")
                break
            outcomes.append("refused" if p.returncode else "done")
        assert outcomes[-1] == "sigbus", outcomes
    finally:
        shutil.rmtree(shm, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Ragged items (format 1.1) are exported as ITEM/values.npy + ITEM/offsets.npy

RAGGED = os.path.join(os.path.dirname(__file__), "..", "..", "format", "testdata", "valid",
                      "ragged.mmarr")


def test_unpack_ragged_items_as_values_and_offsets(tools, tmp_path):
    out = tmp_path / "out"
    tools.run("mmarr-unpack", RAGGED, "-o", str(out) + "/")
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*.npy"))
    assert "tokens/values.npy" in names and "tokens/offsets.npy" in names
    assert "text/values.npy" in names and "plain.npy" in names and "tokens.npy" not in names
    values, offsets = np.load(out / "text/values.npy"), np.load(out / "text/offsets.npy")
    text = [bytes(values[a:b]).decode() for a, b in zip(offsets[:-1], offsets[1:])]
    assert text[0] == "h\u00e9llo w\u00f6rld" and text[2] == "\u65e5\u672c\u8a9e"
    tok = np.load(out / "tokens/values.npy")
    assert tok.shape == (6, 3) and tok.dtype == np.float32
    # naming the item brings its offsets; a single .npy is refused with advice
    tools.run("mmarr-unpack", RAGGED, "blobs", "-o", tmp_path / "b.npz")
    with zipfile.ZipFile(tmp_path / "b.npz") as z:
        assert sorted(z.namelist()) == ["blobs/offsets.npy", "blobs/values.npy"]
    r = tools.run("mmarr-unpack", RAGGED, "tokens", "-o", tmp_path / "t.npy", rc=1)
    assert "is a ragged item" in r.err and "-o DIR/" in r.err
    assert not (tmp_path / "t.npy").exists()


def test_pack_append_adds_and_replaces(tools, tmp_path):
    """--append: the inputs join the existing file as its next generation; an input named
    like an array of the file replaces it; --force and --alignment do not mix with it."""
    a, b, b2 = rand_array("<f4", (50, 3)), rand_array("<i8", (7,), seed=1), np.arange(4)
    for name, x in (("a", a), ("b", b)):
        np.save(tmp_path / f"{name}.npy", x)
    out = tmp_path / "out.mmarr"
    pack(tools, out, tmp_path / "a.npy")
    pack(tools, out, tmp_path / "b.npy", opts=("-q", "--append"))
    got = arrays_of(out)
    assert sorted(got) == ["a", "b"]
    np.save(tmp_path / "b.npy", b2)
    pack(tools, out, tmp_path / "b.npy", opts=("-q", "--append"))
    info = json.loads(tools.run("mmarr-info", "--json", out).out)
    assert info["generation"] == 3
    got = arrays_of(out)
    assert sorted(got) == ["a", "b"] and got["b"]["shape"] == [4]
    r = pack(tools, out, tmp_path / "b.npy", opts=("-q", "--append", "--force"), rc=2)
    assert "--append" in r.err
    r = pack(tools, tmp_path / "missing.mmarr", tmp_path / "b.npy", opts=("-q", "--append"),
             rc=1)
    assert "cannot append" in r.err


GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "format",
                      "testdata", "valid")


def test_repack_keeps_growable_arrays_and_leaves_no_dead_space(tools, tmp_path):
    """Compaction of a grown file (golden growable_cold_grown: a cold growable array whose
    frames lie in two extents beside superseded ones, spec.md §7.8): the arrays come out
    equal, the growable one still cold with its capacity, and the new file has no dead
    space, even with chunks far larger than a piece of rows (rows appended in whole chunks)."""
    src = os.path.join(GOLDEN, "growable_cold_grown.mmarr")
    before = json.loads(tools.run("mmarr-info", "--json", src).out)
    assert before["dead_bytes"] > 0
    for opts in (("-q",), ("-q", "--compress=1", "--chunk-size", "64M")):
        out = tmp_path / "compact.mmarr"
        pack(tools, out, src, opts=opts + ("--force",))
        after = json.loads(tools.run("mmarr-info", "--json", out).out)
        assert after["dead_bytes"] == 0 and after["generation"] == 1
        grow = {a["name"]: a for a in before["arrays"] if a.get("capacity")}
        for a in after["arrays"]:
            if a["name"] in grow:
                assert a["capacity"] == grow[a["name"]]["capacity"] and a["tier"] == "cold"
        unpack(tools, src, "-o", str(tmp_path / "a") + "/", "-f")
        unpack(tools, out, "-o", str(tmp_path / "b") + "/", "-f")
        for name in os.listdir(tmp_path / "a"):
            np.testing.assert_array_equal(np.load(tmp_path / "a" / name),
                                          np.load(tmp_path / "b" / name))
