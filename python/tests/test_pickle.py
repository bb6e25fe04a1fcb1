# SPDX-License-Identifier: MIT
"""Pickling passes a reference, not data: arrays and views pickle to a few hundred bytes,
workers (fork and spawn) map the same file, and a changed or vanished file is refused."""
import concurrent.futures
import gc
import multiprocessing
import os
import pickle

import numpy as np
import pytest

import _workers
import mmarr
from _util import maps_mentioning

METHODS = ["fork", "spawn"]
N = 8 << 20  # 64 MiB of float64


@pytest.fixture
def big(shm):
    path = shm / "big.mmarr"
    mmarr.save(path, {"x": np.arange(N, dtype="<f8"), "t": np.arange(24.0).reshape(4, 6),
                      "rec": np.zeros(3, [("a", "<i4"), ("b", "<f8")])}, sync=False)
    with mmarr.open(path) as f:
        yield path, f


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_pickle__big_array_pickles_small(big, protocol):
    path, f = big
    x = f["x"]
    blob = pickle.dumps(x, protocol=protocol)
    assert len(blob) < 1000
    y = pickle.loads(blob)
    assert isinstance(y, mmarr.MappedArray) and y.shape == x.shape and y[N - 1] == N - 1
    assert np.shares_memory(x, y)  # same process: the same mapping is reused


def test_pickle__views_pickle_as_references(big):
    path, f = big
    x, t, rec = f["x"], f["t"], f["rec"]
    views = [x[10:1000:7], x[::-1], t.T, t[1:3, ::2], t.reshape(6, 4), rec["b"],
             x.view(np.uint8)[3:11], t[2], t[2, 3:4]]
    for v in views:
        blob = pickle.dumps(v)
        assert len(blob) < 1000, v
        w = pickle.loads(blob)
        assert isinstance(w, mmarr.MappedArray)
        assert w.dtype == v.dtype and w.shape == v.shape and w.strides == v.strides
        assert np.array_equal(w, v) and np.shares_memory(w, v)


def test_pickle__record_array_views_pickle_as_references(shm):
    table = np.zeros(10_000, [("a", "<i4"), ("b", "<f8")])
    table["a"] = np.arange(10_000)
    mmarr.save(shm / "t.mmarr", {"t": table}, sync=False)
    rec = mmarr.open(shm / "t.mmarr")["t"]
    plain = np.rec.array(table)
    for v in (rec.view(np.recarray), np.rec.array(rec, copy=False),
              rec.view(np.recarray)[3:9], np.rec.array(rec, copy=False)[::2]):
        for protocol in (2, pickle.HIGHEST_PROTOCOL):
            blob = pickle.dumps(v, protocol=protocol)
            assert len(blob) < 1000, (v, protocol)
            w = pickle.loads(blob)
            assert type(w) is np.recarray and w.dtype == v.dtype and w.shape == v.shape
            assert np.shares_memory(w, v) and np.array_equal(w, v)
            assert np.array_equal(w[rec.dtype.names[0]], v[rec.dtype.names[0]])
    blob = pickle.dumps(plain)  # a record array of its own memory: numpy's pickling
    assert len(blob) > plain.nbytes and np.array_equal(pickle.loads(blob), plain)
    assert type(pickle.loads(blob)) is np.recarray


def test_pickle__reserved_views_refuse_to_pickle(shm):
    path = shm / "w.mmarr"
    with mmarr.Writer(path) as w:
        out = w.reserve("out", (1000, 3), "<f4")
        for v in (out, out[10:20], out.T, out[:, 1]):
            with pytest.raises(TypeError, match=r'array "out" reserved in mmarr\.Writer.*'
                                                r'mmarr\.open\(.*"r\+"\)\[\'out\'\].*'
                                                r'share\(empty='):
                pickle.dumps(v)
        out[:] = 2
        assert type(out + 1) is np.ndarray and type(out.sum()) is np.float32
        assert np.array_equal(pickle.loads(pickle.dumps(out[:2].copy())), np.full((2, 3), 2))
    with pytest.raises(TypeError, match="reserved"):
        pickle.dumps(out)  # after commit too: its writes would not reach the file
    with mmarr.open(path, "r+") as f:
        assert len(pickle.dumps(f["out"])) < 1000


def test_pickle__new_memory_pickles_as_data(big):
    _, f = big
    x = f["x"]
    small = x[:1000]
    for a in (small + 1, small.copy(), small[[1, 5, 9]], np.sort(small)):
        assert mmarr._mmarr.data_address(a) != mmarr._mmarr.data_address(small)
        blob = pickle.dumps(a)
        assert len(blob) > a.nbytes
        b = pickle.loads(blob)
        assert type(b) is np.ndarray and np.array_equal(a, b)
    assert type(small + 1) is np.ndarray and type(small.sum()) is np.float64


def test_pickle__file_pickles_as_reference(big, monkeypatch):
    path, f = big
    monkeypatch.chdir(path.parent)
    rel = mmarr.open(path.name)
    blob, t_blob = pickle.dumps(rel), pickle.dumps(rel["t"])
    monkeypatch.chdir("/")  # pickles name the file by its absolute path
    assert pickle.loads(t_blob)[3, 5] == 23.0
    g = pickle.loads(blob)
    assert isinstance(g, mmarr.File) and list(g) == ["x", "t", "rec"] and g.mode == "r"
    assert g["t"][3, 5] == 23.0
    f.close()
    with pytest.raises(ValueError, match="closed"):
        pickle.dumps(f)


def test_pickle__writable_and_read_only_views(shm):
    path = shm / "w.mmarr"
    mmarr.save(path, {"x": np.zeros(10)})
    with mmarr.open(path, "r+") as f:
        x = f["x"]
    y = pickle.loads(pickle.dumps(x))
    assert y.flags.writeable
    y[2] = 5
    assert x[2] == 5
    ro = x[:5]
    ro.setflags(write=False)
    z = pickle.loads(pickle.dumps(ro))
    assert not z.flags.writeable and z[2] == 5


@pytest.mark.parametrize("method", METHODS + ["forkserver"])
def test_pickle__pool_map_tasks_carry_references(big, method):
    path, f = big
    x = f["x"]
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(2) as pool:
        parts = pool.map(_workers.part_sum, [(x, i, 4) for i in range(4)])
        seen = pool.map(_workers.describe, [x, x[5:9]])
    assert sum(parts) == float(N) * (N - 1) / 2
    for kind, total, mapped, size in seen:
        assert kind == "MappedArray" and mapped == str(path) and size < 1000
    assert seen[1][1] == 5 + 6 + 7 + 8


@pytest.mark.parametrize("method", METHODS)
def test_pickle__pool_initargs_and_executor(big, method):
    path, f = big
    x = f["x"]
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(2, initializer=_workers.keep, initargs=(x,)) as pool:
        assert pool.map(_workers.kept_item, [0, 7, N - 1]) == [0.0, 7.0, float(N - 1)]
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as ex:
        kind, total, mapped, size = ex.submit(_workers.describe, x[:100]).result()
    assert (kind, total, mapped) == ("MappedArray", 4950.0, str(path))


@pytest.mark.parametrize("method", METHODS)
def test_pickle__workers_write_disjoint_slices(shm, method):
    with mmarr.share(empty={"out": ((1000, 3), "<f4")}, dir=shm, writable=True) as s:
        out = s["out"]
        ctx = multiprocessing.get_context(method)
        with ctx.Pool(2) as pool:
            files = pool.map(_workers.fill_rows, [(out, i * 250, (i + 1) * 250, i + 1)
                                                  for i in range(4)])
        assert set(files) == {s.path}
        assert np.array_equal(out[:, 0], np.repeat(np.arange(1, 5, dtype="<f4"), 250))


def test_pickle__replaced_file_refused(big, shm):
    path, f = big
    x = f["x"]
    blob = pickle.dumps(x[:10])
    mmarr.save(path, {"x": np.ones(10)})  # same path, new file (atomic rename)
    with pytest.raises(mmarr.FileChangedError, match="was replaced since it was pickled"):
        pickle.loads(blob)
    assert x[9] == 9.0  # the old mapping still shows the old file


def test_pickle__vanished_file_refused(big):
    path, f = big
    x = f["x"]
    blob = pickle.dumps(x)
    os.unlink(path)
    with pytest.raises(mmarr.FileChangedError, match="is gone"):
        pickle.loads(blob)
    assert isinstance(mmarr.FileChangedError("x"), mmarr.Error)


def test_pickle__rewritten_file_refused_in_worker(shm):
    path = shm / "re.mmarr"
    mmarr.save(path, {"x": np.arange(10.0)})
    f = mmarr.open(path)
    blob = pickle.dumps(f["x"])
    g = mmarr.open(path, "r+")
    g["x"][3] = 30.0  # written in place ...
    g.flush(rehash=True)  # ... and a new index: the recorded generation no longer holds
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        kind, msg = pool.apply(_workers.load, (blob,))
    assert kind == "FileChangedError" and "written in place and rehashed" in msg
    with ctx.Pool(1) as pool:  # an unchanged file is accepted
        assert pool.apply(_workers.load, (pickle.dumps(g["x"]),)) == ("ok", 72.0)


def test_pickle__handles_are_reused_and_released(shm):
    path = shm / "h.mmarr"
    mmarr.save(path, {"x": np.arange(100.0)})
    blob = pickle.dumps(mmarr.open(path)["x"][:4])
    mmarr.release_handles()
    gc.collect()
    assert maps_mentioning(path) == 0
    ys = [pickle.loads(blob) for _ in range(50)]  # one mapping, not 50
    assert maps_mentioning(path) == 1
    assert all(np.shares_memory(ys[0], y) for y in ys)
    del ys
    gc.collect()
    assert maps_mentioning(path) == 1  # kept for the next task ...
    mmarr.release_handles()
    assert maps_mentioning(path) == 0  # ... until released
