# SPDX-License-Identifier: MIT
"""Mode "c" (copy-on-write, as np.memmap's): writable arrays whose changes stay in the
process; the file, other handles and other processes keep the original bytes."""
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import mmarr


@pytest.fixture
def path(shm):
    p = shm / "c.mmarr"
    with mmarr.Writer(p) as w:
        w.add("x", np.arange(100_000, dtype="<f8"))
        w.add("cold", np.arange(50_000, dtype="<i4"), compress=3)
    return p


def test_writes_stay_in_the_process(path):
    with mmarr.open(path) as ro, mmarr.open(path, "c") as f:
        assert f.mode == "c" and f.info()["copy_on_write"] and not f.info()["writable"]
        x, c = f["x"], f["cold"]
        assert x.flags.writeable and c.flags.writeable  # hot and cold alike
        x[:10] = -1
        c[5] = 777
        x *= 2
        assert x[0] == -2 and x[11] == 22 and c[5] == 777
        assert ro["x"][0] == 0 and ro["cold"][5] == 5  # another handle: the file's bytes
        np.testing.assert_array_equal(f.read("x", (0, 3)), [-2, -2, -2])  # read: this memory
        f.flush()  # nothing to write, as np.memmap's
        with pytest.raises(mmarr.Error):
            f.flush(rehash=True)
        f.verify()  # the file is intact
    with mmarr.open(path, verify=True) as g:  # and stays so: no stale mark, same checksums
        assert g["x"][0] == 0 and not g.info()["checksums_stale"] and g.info()["generation"] == 1
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import mmarr
        print(float(mmarr.open({str(path)!r})["x"][0]))
    """)], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "0.0"


def test_pickles_a_reference_to_the_file(path):
    with mmarr.open(path, "c") as f:
        x = f["x"]
        x[1] = 123.0
        blob = pickle.dumps(x[:1000])
        assert len(blob) < 1024  # a reference, not the bytes
        # in this process the reference resolves to this process's memory, changes included
        assert pickle.loads(blob)[1] == 123.0
    # another process gets the file's data, copy-on-write in its turn
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import pickle, sys, mmarr
        y = pickle.loads({blob!r})
        assert type(y) is mmarr.MappedArray and y.flags.writeable
        y[2] = 5.0
        print(float(y[1]), float(mmarr.open({str(path)!r})["x"][2]))
    """)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1.0", "2.0"]
    mmarr.release_handles()


def test_torch_from_numpy_is_writable_without_a_copy(path):
    torch = pytest.importorskip("torch", reason="python3-torch is not installed")
    import warnings
    with mmarr.open(path, "c") as f:
        x = f["x"]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "The given NumPy array is not writable"
            t = torch.from_numpy(x)
        assert t.data_ptr() == x.__array_interface__["data"][0]  # the mapping itself
        t[3] = 42.0
        assert x[3] == 42.0
    with mmarr.open(path) as g:
        assert g["x"][3] == 3.0


def test_page_release_is_refused(path):
    with mmarr.open(path, "c") as f:
        x = f["x"]
        x[0] = 9.0
        with pytest.raises(mmarr.Error, match="discard"):
            f.advise("dontneed", "x")
        assert x[0] == 9.0
        # views asking to drop their pages when freed (dask tasks) keep the changes too
        h = f._handle()
        i = h.find("x")
        v = h.view(i, np.dtype("<f8"), mmarr.MappedArray, shape=(10,), strides=(8,),
                   release=True)
        del v
        assert x[0] == 9.0


def test_mode_errors(path):
    with pytest.raises(ValueError, match='"r", "r\\+" or "c"'):
        mmarr.open(path, "w")
