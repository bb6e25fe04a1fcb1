# SPDX-License-Identifier: MIT
"""Memory controls of a File (advise, prefetch, lock, resident) and the decompression cache
functions (cache_dir, cache_list, cache_clear)."""
import gc
import os

import numpy as np
import pytest

import mmarr

ADVICE = ("normal", "sequential", "random", "willneed", "dontneed", "hugepage")


@pytest.fixture
def hot(shm):
    path = shm / "h.mmarr"
    a = np.arange(300_000, dtype="<f8")  # ~2.3 MiB: several pages
    mmarr.save(path, {"a": a, "small": np.arange(5, dtype="<i2")}, pack_threshold=0)
    return path, a


def test_memory__resident_counts_stored_bytes(hot):
    path, a = hot
    with mmarr.open(path) as f:
        res, total = f.resident("a")
        assert total == f.info("a")["stored_bytes"] == a.nbytes
        res_all, total_all = f.resident()
        assert total_all == os.path.getsize(path)
        assert 0 <= res <= total and 0 <= res_all <= total_all
        f.prefetch("a")
        assert f.resident("a") == (a.nbytes, a.nbytes)  # our own file: page cache counted
        with pytest.raises(KeyError):
            f.resident("nope")


@pytest.mark.parametrize("advice", ADVICE)
def test_memory__every_advice_is_accepted(hot, advice):
    path, a = hot
    with mmarr.open(path) as f:
        x = f["a"]
        assert x[12345] == 12345.0
        for target in ("a", None):
            try:
                f.advise(advice, target)
            except mmarr.Error as e:  # a kernel without transparent huge pages
                assert advice == "hugepage" and e.code_name == "MMARR_E_UNSUPPORTED"
        assert np.array_equal(x, a)
        if advice == "dontneed":  # this process's mappings are gone, the page cache is not
            assert f.resident("a") == (a.nbytes, a.nbytes)


def test_memory__advise_refuses_unknown_advice(hot):
    path, _ = hot
    with mmarr.open(path) as f:
        with pytest.raises(ValueError, match="'willneed'.*not 'soon'"):
            f.advise("soon")
        with pytest.raises(KeyError):
            f.advise("normal", "nope")
    with pytest.raises(ValueError, match="closed"):
        f.advise("normal")


def test_memory__lock_and_unlock(hot):
    path, a = hot
    with mmarr.open(path) as f:
        try:
            f.lock("small")
        except OSError as e:  # RLIMIT_MEMLOCK of 0 without CAP_IPC_LOCK
            assert e.code_name == "MMARR_E_IO" and e.errno in (1, 12)  # EPERM, ENOMEM
            pytest.skip(f"mlock not permitted here: {e}")
        assert f.resident("small")[0] == f.resident("small")[1]
        assert list(f["small"]) == [0, 1, 2, 3, 4]
        f.unlock("small")
        f.unlock("small")  # unlocking what is not locked is harmless (munlock)


def test_memory__cache_list_and_clear(shm):
    cache = shm / "cache"
    cache.mkdir(mode=0o700)
    path = shm / "c.mmarr"
    m = np.arange(50_000, dtype="<i8")
    n = m[::-1].copy()
    mmarr.save(path, {"m": m, "n": n}, compress={"level": 1, "chunk_size": 65536})
    assert mmarr.cache_list(cache) == []
    assert mmarr.cache_list(shm / "absent") == []  # a directory that does not exist
    keep = mmarr.open(path, cache_dir=cache)
    y = keep["n"]  # mapped first, and stays mapped
    (e,) = mmarr.cache_list(cache)
    assert e["bytes"] == n.nbytes and e["in_use"] is True
    assert len(e["name"]) == 32 and abs(e["last_used"] - os.path.getmtime(cache / e["name"])) < 2
    with mmarr.open(path, cache_dir=cache) as f:  # then "m", through a handle closed after
        x = f["m"]
        assert np.array_equal(x, m)
        assert [d["in_use"] for d in mmarr.cache_list(str(cache))] == [True, True]
        del x
    gc.collect()
    listed = mmarr.cache_list(cache)
    assert [d["in_use"] for d in listed] == [True, False]  # "n" (older), "m" (newer)
    # keeping one entry's worth removes one: the unmapped "m", although "n" is older
    assert mmarr.cache_clear(m.nbytes, cache) == m.nbytes
    (left,) = mmarr.cache_list(cache)
    assert left["name"] == listed[0]["name"] and np.array_equal(y, n)
    assert mmarr.cache_clear(2**70, cache) == 0  # keeping more than 2^64 bytes keeps all
    del y
    keep.close()
    gc.collect()
    assert mmarr.cache_clear(dir=cache) == n.nbytes
    assert mmarr.cache_list(cache) == [] and os.listdir(cache) == []
    with pytest.raises(ValueError):
        mmarr.cache_clear(-1, cache)
    for bad in (-1, 2**64):  # refused before the file is opened, never wrapped around
        with pytest.raises(ValueError, match="cache_max"):
            mmarr.open(path, cache_dir=cache, cache_max=bad)


def test_memory__cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MMARR_CACHE_DIR", str(tmp_path / "c"))
    assert mmarr.cache_dir() == str(tmp_path / "c")
    monkeypatch.delenv("MMARR_CACHE_DIR")
    assert mmarr.cache_dir() == f"/dev/shm/mmarr-cache-{os.geteuid()}"
