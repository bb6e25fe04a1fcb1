# SPDX-License-Identifier: MIT
"""Arrays are the file's pages: addresses inside the mapping, shared memory between views,
writes through "r+" seen by other processes, reserve() filling the file in place."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import mmarr
from _util import mapped_file


def run_python(code):
    """Run code in a fresh interpreter (same PYTHONPATH); return its stdout."""
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_zero_copy__data_pointer_inside_the_file_mapping(shm):
    path = shm / "z.mmarr"
    mmarr.save(path, {"x": np.arange(100_000, dtype="<f8"), "small": np.arange(3)})
    with mmarr.open(path) as f:
        for name in f:
            a = f[name]
            addr = a.__array_interface__["data"][0]
            assert addr == mmarr._mmarr.data_address(a)
            assert mapped_file(addr) == str(path)
            assert addr % 4096 == f.info(name)["offset"] % 4096


def test_zero_copy__views_share_memory(shm):
    mmarr.save(shm / "z.mmarr", {"x": np.arange(1000.0).reshape(100, 10)})
    with mmarr.open(shm / "z.mmarr") as f:
        a, b = f["x"], f["x"]
        assert a is not b and np.shares_memory(a, b)
        assert np.shares_memory(a[10:20, ::3], b.T)
        assert not np.shares_memory(a, a.copy())
        assert a.__array_interface__["data"] == b.__array_interface__["data"]


def test_zero_copy__read_only_mode_refuses_writes(shm):
    mmarr.save(shm / "z.mmarr", {"x": np.zeros(10)})
    with mmarr.open(shm / "z.mmarr") as f:
        x = f["x"]
        assert not x.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            x[0] = 1
        with pytest.raises(ValueError):
            x.setflags(write=True)


def test_zero_copy__rplus_writes_seen_by_another_process(shm):
    path = shm / "w.mmarr"
    mmarr.save(path, {"x": np.zeros(1 << 20, dtype="<i8")})
    with mmarr.open(path, "r+") as f:
        x = f["x"]
        assert x.flags.writeable
        x[12345] = 777
        # another process, its own mapping: sees the write at once, no flush
        out = run_python(f"""
            import mmarr
            f = mmarr.open({str(path)!r}, "r+")
            x = f["x"]
            print(int(x[12345]))
            x[54321] = 999
        """)
        assert out.strip() == "777"
        assert x[54321] == 999  # ... and this mapping sees the other process's write
        info = f.info()
        assert info["writable"] and info["checksums_stale"]


def test_zero_copy__write_rows_through_the_descriptor(shm):
    path = shm / "w.mmarr"
    with mmarr.Writer(path) as w:
        w.add("m", np.zeros((100, 3), "<f4"))
        w.add("f", np.zeros((4, 3), order="F"))
        w.add("s", np.zeros(()))
        w.add("c", np.zeros(64), compress=3)
    with mmarr.open(path) as ro:
        m_ro = ro["m"]
        with pytest.raises(mmarr.Error, match=r'mode "r\+"'):
            ro.write("m", np.ones((1, 3)))
        with mmarr.open(path, "r+") as f:
            f.write("m", np.arange(30, dtype="<f8").reshape(10, 3), start=5)  # cast as assigned
            f.write("m", [[7, 8, 9]], 99)
            f.write("m", np.zeros((0, 3)), 100)
            f.write("s", np.float64(2.5))
            want = np.zeros((100, 3), "<f4")
            want[5:15] = np.arange(30).reshape(10, 3)
            want[99] = [7, 8, 9]
            np.testing.assert_array_equal(m_ro, want)  # a mapping opened before sees the rows
            with pytest.raises(ValueError, match="not rows of shape"):
                f.write("m", np.ones((2, 4)))
            with pytest.raises(IndexError, match=r"rows \[99, 101\) lie outside its 100"):
                f.write("m", np.ones((2, 3)), 99)
            with pytest.raises(IndexError):
                f.write("m", np.ones((1, 3)), -1)
            with pytest.raises(ValueError, match="Fortran order"):
                f.write("f", np.ones((1, 3)))
            with pytest.raises(mmarr.Error, match="cold"):
                f.write("c", np.ones(1))
            f.flush(rehash=True)
    with mmarr.open(path, verify=True) as f:
        np.testing.assert_array_equal(f["m"], want)
        assert f["s"] == 2.5


def test_zero_copy__stale_checksums_and_rehash(shm):
    path = shm / "w.mmarr"
    mmarr.save(path, {"x": np.zeros(1000), "y": np.ones(10)})
    f = mmarr.open(path, "r+")
    x = f["x"]
    x[3] = 1.5
    with pytest.raises(mmarr.Error) as e:
        f.verify("x")
    assert e.value.code_name == "MMARR_E_STALE"
    assert "f.flush(rehash=True)" in str(e.value) and "mmarr_" not in str(e.value)
    f.verify("y")  # unchanged array still verifies
    with pytest.raises(mmarr.Error, match=r"1 array view\(s\).*alive.*Pool's initargs"):
        f.flush(rehash=True)
    del x
    f.flush(rehash=True)
    assert f.mode == "r" and not f.info()["checksums_stale"]
    f.verify()
    assert not f["x"].flags.writeable and f["x"][3] == 1.5
    f.close()
    with mmarr.open(path) as g:
        g.verify()
        assert g["x"][3] == 1.5


def test_zero_copy__reserve_fills_the_file_in_place(shm):
    path = shm / "r.mmarr"
    with mmarr.Writer(path) as w:
        c = w.reserve("c", (300, 200), "<f4")
        fo = w.reserve("f", (30, 20), np.int16, order="F")
        assert c.flags.writeable and c.flags.c_contiguous and not c.any()
        assert fo.flags.f_contiguous and not fo.flags.c_contiguous
        # the writer's temporary beside the target: unnamed (O_TMPFILE, shown by the kernel
        # as "<dir>/#<inode> (deleted)") or, where that is missing, "<path>.tmp.XXXXXX"
        backing = mapped_file(c.__array_interface__["data"][0])
        assert backing.startswith(str(path) + ".tmp.") or (
            backing.startswith(str(shm) + "/#") and backing.endswith(" (deleted)")), backing
        c[:] = np.arange(60_000, dtype="<f4").reshape(300, 200)
        fo[:] = np.arange(600).reshape(30, 20)
        del c, fo
    with mmarr.open(path, verify=True) as f:
        assert np.array_equal(f["c"], np.arange(60_000, dtype="<f4").reshape(300, 200))
        assert f.info("f")["order"] == "F"
        assert np.array_equal(f["f"], np.arange(600).reshape(30, 20))


def test_zero_copy__views_never_reinterpret_bytes_as_objects(shm):
    mmarr.save(shm / "o.mmarr", {"x": np.arange(4, dtype="<i8")})
    with mmarr.open(shm / "o.mmarr") as f:
        h = f._h
        with pytest.raises(TypeError, match="without objects"):
            h.view(0, np.dtype(object), mmarr.MappedArray)
        with pytest.raises(ValueError, match="outside"):  # geometry beyond the array
            h.view(0, np.dtype("<i8"), mmarr.MappedArray, offset=8, shape=(4,),
                   strides=(8,))
        with pytest.raises(ValueError, match="outside"):
            h.view(0, np.dtype("<i8"), mmarr.MappedArray, offset=0, shape=(2,),
                   strides=(-8,))
        v = h.view(0, np.dtype("<i8"), mmarr.MappedArray, offset=24, shape=(4,),
                   strides=(-8,))
        assert list(v) == [3, 2, 1, 0]


def test_read_into_a_buffer(tmp_path):
    x = np.arange(60, dtype="<i4").reshape(20, 3)
    path = tmp_path / "r.mmarr"
    mmarr.save(path, {"x": x})
    mmarr.save(tmp_path / "c.mmarr", {"c": x}, compress=3)
    with mmarr.open(path) as f, mmarr.open(tmp_path / "c.mmarr") as fc:
        buf = np.empty((5, 3), "<i4")
        assert f.read("x", rows=(4, 9), out=buf) is buf and np.array_equal(buf, x[4:9])
        assert np.array_equal(fc.read("c", rows=slice(10, 15), out=buf), x[10:15])
        row = np.empty(3, "<i4")
        assert np.array_equal(f.read("x", rows=-1, out=row), x[-1])
        empty = np.empty((0, 3), "<i4")
        assert f.read("x", rows=(7, 7), out=empty).shape == (0, 3)
        for bad in (np.empty((4, 3), "<i4"), np.empty((5, 3), "<i8"),
                    np.empty((3, 5), "<i4").T, np.empty((5, 3), "<i4")[::1].view()):
            if bad.flags.c_contiguous and bad.shape == (5, 3) and bad.dtype == "<i4":
                bad.flags.writeable = False
            with pytest.raises(ValueError, match=r'read\(out=\): array "x": out must be'):
                f.read("x", rows=(4, 9), out=bad)
        with pytest.raises(ValueError, match="step 1"):
            f.read("x", rows=slice(0, 10, 2), out=buf)
