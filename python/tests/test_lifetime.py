# SPDX-License-Identifier: MIT
"""Arrays keep their mapping alive: closing or dropping the File, garbage collection, and a
Writer finishing under a live reserve() view never crash and never leak."""
import gc
import os
import pickle
import sys

import numpy as np
import pytest

import mmarr
from _util import maps_mentioning


@pytest.fixture
def path(shm):
    p = shm / "l.mmarr"
    mmarr.save(p, {"x": np.arange(100_000, dtype="<i8"), "y": np.arange(6.0).reshape(2, 3)})
    return p


def test_lifetime__close_with_live_views(path):
    f = mmarr.open(path)
    x, t = f["x"], f["y"].T
    f.close()
    assert f.closed
    assert x.sum() == 100_000 * 99_999 // 2 and t[2, 1] == 5.0
    with pytest.raises(ValueError, match="closed"):
        f["x"]
    with pytest.raises(ValueError, match="closed"):
        len(f)
    f.close()  # idempotent


def test_lifetime__file_dropped_then_array_used(path):
    x = mmarr.open(path)["x"]  # the File is garbage at once
    gc.collect()
    assert x[-1] == 99_999
    y = x[10:20]
    del x
    gc.collect()
    assert y[0] == 10 and y.base is not None


def test_lifetime__unmapped_when_last_view_dies(path):
    f = mmarr.open(path)
    a, b = f["x"], f["y"][1:]
    assert maps_mentioning(path) >= 1
    f.close()
    del a
    gc.collect()
    assert maps_mentioning(path) >= 1 and b[0, 0] == 3.0
    del b
    gc.collect()
    assert maps_mentioning(path) == 0


def test_lifetime__no_leaks_over_many_opens(path):
    fds = len(os.listdir("/proc/self/fd"))

    def churn():
        for _ in range(300):
            with mmarr.open(path) as f:
                x = f["x"][::7]
                y = f.read("y", (0, 1))
                assert x[1] == 7 and y.shape == (1, 3)
            del x
    churn()
    gc.collect()
    assert maps_mentioning(path) == 0
    assert len(os.listdir("/proc/self/fd")) == fds
    objects = len(gc.get_objects())
    churn()
    gc.collect()
    assert len(gc.get_objects()) - objects < 50


def test_lifetime__writer_context_abandons_on_exception(shm):
    p = shm / "w.mmarr"
    mmarr.save(p, {"old": np.arange(3)})
    with pytest.raises(RuntimeError, match="boom"):
        with mmarr.Writer(p) as w:
            w.add("new", np.arange(5))
            raise RuntimeError("boom")
    assert w.finished
    with mmarr.open(p) as f:
        assert list(f) == ["old"]  # the old file is untouched
    assert [n for n in os.listdir(shm) if ".tmp." in n] == []


def test_lifetime__reserved_view_after_commit_reads_committed_bytes(shm):
    p = shm / "r.mmarr"
    w = mmarr.Writer(p)
    big = w.reserve("big", (1 << 20,), "<i4")
    small = w.reserve("small", (5,), "<i4")  # packed in a shared page
    big[:] = np.arange(1 << 20)
    small[:] = [5, 4, 3, 2, 1]
    w.commit()
    # the library has unmapped the reserved memory: these views now read a private
    # copy-on-write mapping of the committed file instead of faulting
    assert big[123_456] == 123_456 and list(small) == [5, 4, 3, 2, 1]
    big[0] = -1  # private to this process: never reaches the file
    with mmarr.open(p, verify=True) as f:
        assert f["big"][0] == 0 and f["small"][4] == 1
    del big, small
    gc.collect()
    assert maps_mentioning(p) == 0


def test_lifetime__reserved_view_after_abandon_reads_zeros(shm):
    p = shm / "a.mmarr"
    w = mmarr.Writer(p)
    v = w.reserve("v", (1000,), "<f8")
    v[:] = 1.0
    w.abandon()
    assert not v.any()  # zero pages, not a fault
    v[:] = 2.0
    assert not p.exists()
    with pytest.raises(ValueError, match="already committed or abandoned"):
        w.add("x", np.arange(3))


def test_lifetime__writer_dropped_with_live_view_abandons(shm):
    p = shm / "d.mmarr"
    w = mmarr.Writer(p)
    v = w.reserve("v", (10,), "<f8")
    del w
    gc.collect()
    v[:] = 3.0  # the writer stays alive through the view
    del v
    gc.collect()
    assert not p.exists() and os.listdir(shm) == []


def test_lifetime__reference_counts_stay_put(path, shm):
    f = mmarr.open(path)
    h, dt = f._h, mmarr.dtype_from_text("<i8")

    def work():
        x = f["x"]
        y = pickle.loads(pickle.dumps(x[1:5]))
        z = f.view("y").T
        f.read("x", (0, 3))
        f.info("x"), f.info(), f.metadata, f.array_metadata("y"), f.raw("y")
        assert "x" in f and "q" not in f and list(f)
        with pytest.raises(KeyError):
            f["q"]
        del x, y, z

    work()  # warm up caches (dtype cache, unpickling's handle cache)
    gc.collect()
    before = (sys.getrefcount(h), sys.getrefcount(dt), h.nviews)
    for _ in range(500):
        work()
    gc.collect()
    assert (sys.getrefcount(h), sys.getrefcount(dt), h.nviews) == before
    assert before[2] == 0

    w = mmarr.Writer(shm / "rc.mmarr")
    wh, f4 = w._w, np.dtype("<f4")

    def write(i):
        v = w.reserve(f"r{i}", (3,), f4)
        w.add(f"a{i}", v)
        with pytest.raises(mmarr.Error):
            w.add(f"a{i}", v)

    write(0)  # warm up the dtype cache
    before = (sys.getrefcount(wh), sys.getrefcount(f4))
    for i in range(1, 200):
        write(i)
    assert (sys.getrefcount(wh), sys.getrefcount(f4)) == before
    w.abandon()
