# SPDX-License-Identifier: MIT
"""Cold (zstd) arrays: f[name] maps the shared decompressed cache, read() decompresses only a
range, view() insists on zero copy and refuses."""
import multiprocessing
import pickle

import numpy as np
import pytest

import _workers
import mmarr
from _util import mapped_file

ROWS = 5000


@pytest.fixture
def cold(shm):
    path = shm / "c.mmarr"
    data = {"m": np.arange(ROWS * 7, dtype="<i8").reshape(ROWS, 7),
            "f": np.asfortranarray(np.arange(600, dtype="<f4").reshape(20, 30)),
            "z": np.array(2.5), "e": np.zeros((0, 4), "<f8"),
            "rec": np.array([(i, b"x%d" % i) for i in range(100)], [("i", "<i4"), ("s", "S4")])}
    with mmarr.Writer(path) as w:
        for name, a in data.items():
            w.add(name, a, compress={"level": 1, "chunk_size": 4096, "shuffle": True})
        w.add("hot", np.arange(10))
    return path, data


def test_cold__getitem_maps_the_shared_cache(cold, private_cache):
    path, data = cold
    f, g = mmarr.open(path), mmarr.open(path, "r+")
    info = f.info("m")
    assert info["storage"] == "cold" and info["chunk_count"] > 1 and info["shuffle"]
    assert info["stored_bytes"] < info["nbytes"] and info["mapped"] is None
    for name, a in data.items():
        b = f[name]
        assert isinstance(b, mmarr.MappedArray) and b.dtype == a.dtype
        assert np.array_equal(a, b) and not b.flags.writeable
        assert g[name].flags.writeable is False  # cold data is never written in place
    assert f["f"].flags.f_contiguous
    m = f["m"]
    assert f.info("m")["mapped"] == "cache"
    assert mapped_file(m.__array_interface__["data"][0]).startswith(str(private_cache))
    assert np.shares_memory(m, f["m"])  # mapped once per handle
    with pytest.raises(ValueError, match="read-only"):
        m[0, 0] = 1


def test_cold__view_refuses(cold):
    path, _ = cold
    with mmarr.open(path) as f:
        with pytest.raises(mmarr.NotZeroCopyError, match=r'"m".*cold.*f\.read'):
            f.view("m")
        assert isinstance(mmarr.NotZeroCopyError("x"), mmarr.Error)
        assert f.view("hot")[9] == 9
        assert f.info("m")["mapped"] is None  # nothing was decompressed


def test_cold__read_ranges(cold):
    path, data = cold
    m = data["m"]
    with mmarr.open(path) as f:
        for rows in [None, (0, 1), (4000, 4100), (ROWS - 3, ROWS + 10), slice(10, 500, 37),
                     slice(None, None, -1), slice(-5, None), slice(900, 10, -97), (7, 7), 123,
                     -1]:
            want = m if rows is None else m[slice(*rows) if isinstance(rows, tuple) else rows]
            got = f.read("m", rows)
            assert type(got) is np.ndarray and got.dtype == m.dtype
            assert np.array_equal(got, want), rows
        assert f.info("m")["mapped"] is None  # ranges never fill the cache
        assert np.array_equal(f.read("f", slice(3, 9)), data["f"][3:9])
        assert np.array_equal(f.read("rec", (90, 95)), data["rec"][90:95])
        assert f.read("z") == 2.5 and f.read("e").shape == (0, 4)
        assert np.array_equal(f.read("hot", (2, 5)), [2, 3, 4])
        with pytest.raises(IndexError):
            f.read("m", ROWS)
        with pytest.raises(IndexError):
            f.read("z", 0)


def test_cold__corrupt_chunk_reported(cold):
    path, data = cold
    with mmarr.open(path) as f:
        info = f.info("m")
    raw = bytearray(path.read_bytes())
    raw[info["offset"] + info["stored_bytes"] // 2] ^= 0xFF
    bad = path.with_name("bad.mmarr")
    bad.write_bytes(bytes(raw))
    with mmarr.open(bad) as f:
        assert np.array_equal(f.read("m", (0, 10)), data["m"][:10])  # an intact chunk
        with pytest.raises(mmarr.Error) as e:
            f["m"]
        assert e.value.code_name in ("MMARR_E_CHECKSUM", "MMARR_E_CORRUPT")
        assert '"m"' in str(e.value)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_cold__pickled_cold_array_maps_cache_in_worker(cold, method, private_cache):
    path, data = cold
    with mmarr.open(path) as f:
        m = f["m"]
    blob = pickle.dumps(m[100:200])
    assert len(blob) < 1000
    with multiprocessing.get_context(method).Pool(1) as pool:
        kind, total, mapped, size = pool.apply(_workers.describe, (m[100:200],))
    assert kind == "MappedArray" and total == float(data["m"][100:200].sum())
    assert mapped.startswith(str(private_cache))


def test_cold__compress_options_checked(shm):
    w = mmarr.Writer(shm / "x.mmarr")
    with pytest.raises(TypeError, match="unknown compress option"):
        w.add("a", np.arange(3), compress={"lvl": 3})
    with pytest.raises(ValueError, match="ambiguous"):
        w.add("a", np.arange(3), compress=0)
    w.add("a", np.arange(3), compress=True)
    w.add("b", np.arange(3), compress=-1)
    w.commit()
    with mmarr.open(shm / "x.mmarr") as f:
        assert f.info("a")["level"] == 3 and f.info("b")["level"] == -1
    mmarr.save(shm / "y.mmarr", {"a": np.arange(3)}, compress=5)
    with mmarr.open(shm / "y.mmarr") as f:
        assert f.info("a")["storage"] == "cold" and f.info("a")["level"] == 5


def _mapped_rss(path):
    """Bytes of this process's mappings of `path` that are in its page tables (smaps Rss)."""
    rss, inside = 0, False
    with open("/proc/self/smaps") as s:
        for line in s:
            first = line.split(None, 1)[0]
            if "-" in first and not first.endswith(":"):  # a mapping's header line
                inside = line.rstrip("\n").endswith(" " + str(path))
            elif inside and first == "Rss:":
                rss += int(line.split()[1]) * 1024
    return rss


def test_cold__hot_reads_copy_through_the_descriptor(shm):
    """read() of a hot array copies with pread (issue #18): its bytes are not faulted into
    this process's mapping of the file. A cold array's chunks are decompressed from the
    mapping (cold_read.c says why), and reads in slices give the same bytes."""
    path = shm / "pread.mmarr"
    rng = np.random.default_rng(5)
    x = rng.integers(0, 1 << 62, 1 << 20, dtype="<i8")  # 8 MiB that do not compress
    with mmarr.Writer(path) as w:
        w.add("hot", x)
        w.add("cold", x, compress={"level": 1, "chunk_size": 1 << 20})
    f = mmarr.open(path)
    assert f.info("cold")["stored_bytes"] > 7 << 20
    before = _mapped_rss(path)
    assert np.array_equal(f.read("hot"), x)
    for s in range(5, len(x), 150001):
        assert np.array_equal(f.read("hot", rows=(s, s + 150000)), x[s:s + 150000])
    assert _mapped_rss(path) - before < (1 << 20)  # of 16 MiB read
    assert np.array_equal(f.read("cold"), x)
    for s in range(5, len(x), 150001):  # slices across chunk edges, kept chunks reused
        assert np.array_equal(f.read("cold", rows=(s, s + 150000)), x[s:s + 150000])
    assert np.array_equal(f["hot"], x)  # a view maps, as it should
    assert _mapped_rss(path) - before > (4 << 20)
