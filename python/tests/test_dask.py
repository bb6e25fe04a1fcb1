# SPDX-License-Identifier: MIT
"""mmarr.dask.from_mmarr: values, storage-aligned chunks, small deterministic graphs.

Needs Debian's python3-dask (scripts/deps.sh test installs it); skipped without it."""
import os
import pickle

import numpy as np
import pytest

import mmarr

dask = pytest.importorskip("dask", reason="python3-dask is not installed")
pytest.importorskip("dask.array")
import mmarr.dask as mdask  # noqa: E402

SYNC = {"scheduler": "sync"}


@pytest.fixture
def files(shm):
    hot, cold = shm / "hot.mmarr", shm / "cold.mmarr"
    mmarr.save(hot, {"rows": np.arange(3_000_000, dtype="<f4").reshape(-1, 3),
                     "fortran": np.asfortranarray(np.arange(600.0).reshape(20, 30)),
                     "scalar": np.float64(3.5),
                     "table": np.array([(1, 2.5), (3, 4.5)], [("a", "<i4"), ("b", "<f8")])})
    mmarr.save(cold, {"c": np.arange(1_000_000, dtype="<f8").reshape(-1, 4)},
               compress={"level": 3, "chunk_size": 65536})
    return hot, cold


def test_values_match_numpy(files):
    hot, cold = files
    with mmarr.open(hot) as f, mmarr.open(cold) as g, \
            dask.config.set({"array.chunk-size": "1MiB"}):
        arrays = mdask.from_mmarr(f)
        assert sorted(arrays) == sorted(f)
        for name, d in arrays.items():
            assert d.dtype == f[name].dtype and d.shape == f[name].shape
            np.testing.assert_array_equal(d.compute(**SYNC), f[name])
        c = mdask.from_mmarr(g, "c")
        np.testing.assert_array_equal(c.compute(**SYNC), g.read("c"))
        assert float(c[:, 1].sum().compute(**SYNC)) == float(g.read("c")[:, 1].sum())
        user = mdask.from_mmarr(cold, "c", chunks=(1000, 2))
        np.testing.assert_array_equal(user.compute(**SYNC), g.read("c"))


def test_auto_chunks_follow_the_storage(files):
    hot, cold = files
    with dask.config.set({"array.chunk-size": "1MiB"}):
        d = mdask.from_mmarr(hot, "rows")
        c = mdask.from_mmarr(cold, "c")
    row = 3 * 4
    starts = np.cumsum((0,) + d.chunks[0][:-1])
    assert len(d.chunks[0]) > 4 and all(s * row % 4096 == 0 for s in starts)  # whole pages
    assert all(n * row <= (1 << 20) for n in d.chunks[0])
    cstarts = np.cumsum((0,) + c.chunks[0][:-1])
    assert len(c.chunks[0]) > 4 and all(s * 32 % 65536 == 0 for s in cstarts)  # whole chunks


def test_hot_tasks_are_views_of_the_mapping(files):
    hot, _ = files
    block = mdask.from_mmarr(hot, "rows", access="map").blocks[0].compute(**SYNC)
    assert type(block) is mmarr.MappedArray  # no copy: a view of the file's mapping


def test_access_read_copies_with_the_kernel(files):
    hot, _ = files
    with mmarr.open(hot) as f, dask.config.set({"array.chunk-size": "1MiB"}):
        d = mdask.from_mmarr(f, "rows", access="read")
        block = d.blocks[1].compute(**SYNC)
        assert type(block) is np.ndarray  # a copy of the worker's own
        assert not np.shares_memory(block, f["rows"])
        np.testing.assert_array_equal(d.compute(**SYNC), f["rows"])
        # auto: copies on a tmpfs of 4 KiB pages, maps elsewhere; the same values either way
        auto = mdask.from_mmarr(f, "rows").blocks[1].compute(**SYNC)
        small = mdask._small_page_tmpfs(str(hot))
        assert (type(auto) is np.ndarray) == small
        np.testing.assert_array_equal(auto, block)
        # blocks of part rows, and Fortran order, are always mapped under auto
        part = mdask.from_mmarr(f, "rows", chunks=(1000, 2)).blocks[0, 0].compute(**SYNC)
        assert type(part) is mmarr.MappedArray
        fort = mdask.from_mmarr(f, "fortran", chunks=(5, 30))
        assert type(fort.blocks[0].compute(**SYNC)) is mmarr.MappedArray
        np.testing.assert_array_equal(fort.compute(**SYNC), f["fortran"])
    with pytest.raises(ValueError, match="access must be"):
        mdask.from_mmarr(hot, "rows", access="copy")


def test_small_page_tmpfs_detection(tmp_path):
    if os.path.isdir("/dev/shm"):
        with open("/sys/kernel/mm/transparent_hugepage/shmem_enabled") as t:
            forced = "[force]" in t.read()
        with open("/proc/self/mounts") as m:
            opts = [ln.split()[3] for ln in m if ln.split()[1] == "/dev/shm"]
        huge = any(o.startswith("huge=") and o not in ("huge=never", "huge=deny")
                   for o in ",".join(opts).split(","))
        want = bool(opts) and not forced and not huge
        assert mdask._small_page_tmpfs("/dev/shm") == want
    with open("/proc/self/mounts") as m:
        root_fs = [ln.split()[2] for ln in m if ln.split()[1] == "/"]
    if root_fs and root_fs[-1] != "tmpfs":
        assert not mdask._small_page_tmpfs("/")


def test_graph_holds_references_only(files):
    hot, cold = files
    for path, name in ((hot, "rows"), (cold, "c")):
        d = mdask.from_mmarr(path, name, chunks=10_000)
        tasks = dict(d.__dask_graph__())
        assert len(tasks) > 10
        assert max(len(pickle.dumps(t)) for t in tasks.values()) < 1024
        assert not any(isinstance(a, np.ndarray) for t in tasks.values() for a in t)


def test_keys_are_deterministic_and_follow_the_file(files):
    hot, _ = files
    a, b = mdask.from_mmarr(hot, "rows"), mdask.from_mmarr(str(hot), "rows")
    assert a.name == b.name and a.__dask_keys__() == b.__dask_keys__()
    mmarr.save(hot, {"rows": np.zeros((3, 3), "<f4")})  # rewritten: a new file at the path
    c = mdask.from_mmarr(hot, "rows")
    assert c.name != a.name
    with pytest.raises(mmarr.FileChangedError):
        a.compute(**SYNC)  # a graph of the old file never reads the new one


def test_unknown_array(files):
    hot, _ = files
    with pytest.raises(KeyError, match="nope"):
        mdask.from_mmarr(hot, "nope")


def _no_staging_left(directory):
    return [n for n in os.listdir(directory) if "to_mmarr" in n] == []


@pytest.mark.parametrize("compress", [None, 3])
def test_to_mmarr_writes_and_publishes(shm, compress):
    import dask.array as da
    x = da.arange(600_000, chunks=70_000, dtype="<i8").reshape(-1, 6) * 3
    y = da.from_array(np.linspace(0, 1, 1000, dtype="<f4"), chunks=300)
    z = da.arange(600, dtype="<i2").reshape(100, 6).rechunk((40, 4))  # blocks of part rows
    out = shm / "out.mmarr"
    written = mdask.to_mmarr(out, {"x": x, "y": y, "z": z, "s": da.from_array(np.float64(2.5))},
                             compress=compress, metadata={"source": "test"})
    assert written == {"x": x.nbytes, "y": y.nbytes, "z": z.nbytes, "s": 8}
    with mmarr.open(out) as f:
        assert f.verify() is None and f.metadata == {"source": "test"}
        np.testing.assert_array_equal(f.read("x"), x.compute(**SYNC))
        np.testing.assert_array_equal(f.read("y"), y.compute(**SYNC))
        np.testing.assert_array_equal(f.read("z"), np.arange(600).reshape(100, 6))
        assert f.read("s") == 2.5
        assert f.info("x")["storage"] == ("cold" if compress else "hot")
        assert not f.info()["checksums_stale"]
    assert _no_staging_left(shm)


def test_to_mmarr_failure_publishes_nothing(shm):
    import dask.array as da

    def explode(block):
        if block[0] >= 5000:
            raise RuntimeError("a failing task")
        return block
    bad = da.arange(10_000, chunks=1000).map_blocks(explode)
    out = shm / "out.mmarr"
    mmarr.save(out, {"old": np.arange(3)})
    with pytest.raises(RuntimeError, match="a failing task"):
        mdask.to_mmarr(out, {"bad": bad})
    with mmarr.open(out) as f:
        assert list(f) == ["old"]  # the previous file, untouched
    assert _no_staging_left(shm)


def _rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS"))


@pytest.mark.parametrize("access", ["map", "read"])
@pytest.mark.parametrize("where", ["shm", "disk"])
def test_tasks_leave_no_pages_in_the_workers_rss(tmp_path, where, access):
    """distributed's memory manager counts a worker's mapped file pages (RSS) as its memory
    and pauses it at 80% of its limit: a task's view drops its pages when dask drops it."""
    if access == "read" and "asan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("ASan's allocator keeps freed memory (its quarantine) in the RSS")
    d = "/dev/shm" if where == "shm" and os.path.isdir("/dev/shm") else str(tmp_path)
    path = os.path.join(d, f"mmarr-test-rss-{os.getpid()}.mmarr")
    try:
        with mmarr.Writer(path, sync=False) as w:
            w.add("x", np.ones((16384, 2048), "f4"))  # 128 MiB
        x = mdask.from_mmarr(path, "x", chunks=(2048, 2048), access=access)
        before = _rss()
        with dask.config.set(scheduler="sync"):
            assert float(x.sum().compute()) == 16384 * 2048
            assert float(x.mean(axis=1).sum().compute()) == 16384
        assert _rss() - before < 32 << 20  # of 128 MiB read, at most a chunk or two stays
        with mmarr.open(path) as f:
            y = f["x"]
            y.sum()  # a view the user holds keeps its pages, as it should
            assert _rss() - before > 100 << 20
            del y
    finally:
        mmarr.release_handles()
        os.unlink(path)


def test_released_pages_keep_what_was_written(tmp_path):
    """Dropping the page mappings of a writable shared view loses nothing: the writes are
    in the page cache and the file."""
    path = str(tmp_path / "w.mmarr")
    with mmarr.Writer(path, sync=False) as w:
        w.add("x", np.zeros(1 << 20, "<i8"))
    with mmarr.open(path, "r+") as f:
        h = f._handle()
        i = h.find("x")
        v = h.view(i, np.dtype("<i8"), np.ndarray, offset=8 * 1000, shape=(500_000,),
                   strides=(8,), release=True)
        v[:] = np.arange(500_000)
        del v
        assert np.array_equal(f["x"][1000:501_000], np.arange(500_000))
        assert f["x"][:1000].sum() == 0 and f["x"][501_000:].sum() == 0
    with mmarr.open(path) as f:
        assert np.array_equal(f["x"][1000:501_000], np.arange(500_000))
