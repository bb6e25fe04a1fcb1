# SPDX-License-Identifier: MIT
"""Files that grow (issue #19): mmarr.open(path, "a") adds arrays, metadata and deletions as
the file's next generation; Files keep their generation until refresh(); wait() sleeps until
an appender publishes; one writer at a time; an abandoned append leaves the file as it was."""
import multiprocessing
import os
import threading
import time

import numpy as np
import pytest

import mmarr


@pytest.fixture
def base(shm):
    path = shm / "grow.mmarr"
    mmarr.save(path, {"a": np.arange(10), "b": np.ones((3, 4), "<f4")},
               metadata={"owner": "test"}, sync=False)
    return path


def test_append__arrays_metadata_delete_replace(base):
    f = mmarr.open(base)
    a = f["a"]
    assert f.generation == 1
    with mmarr.open(base, "a", sync=False) as w:
        assert len(w) == 2
        w.add("c", np.arange(5.0), metadata={"unit": "s"})
        w.add("cold", np.arange(100000), compress=3)
        w.add_ragged("words", ["x", "yy", "zzz"])
        w.set_metadata("owner", "changed")
        w.delete("b")
        w.replace("a", np.arange(3))
        with pytest.raises(KeyError):
            w.delete("nope")
    assert f.generation == 1 and list(f) == ["a", "b"]  # until refresh
    assert f.metadata["owner"] == "test"
    assert f.refresh() is True and f.generation == 2
    assert f.refresh() is False
    assert sorted(f) == ["a", "c", "cold", "words"]
    assert np.array_equal(f["a"], np.arange(3))
    assert np.array_equal(a, np.arange(10))  # obtained before: still generation 1's
    assert f.array_metadata("c") == {"unit": "s"}
    assert f.metadata["owner"] == "changed"
    assert np.array_equal(f.read("cold"), np.arange(100000))
    assert list(f["words"]) == ["x", "yy", "zzz"]
    f.verify()
    g = mmarr.open(base, verify=True)
    assert g.generation == 2 and sorted(g) == sorted(f)


def test_append__abandon_and_one_writer(base):
    before = base.read_bytes()
    with pytest.raises(ZeroDivisionError):
        with mmarr.open(base, "a") as w:
            w.add("big", np.zeros(1 << 20))
            1 / 0
    assert base.read_bytes() == before
    w = mmarr.open(base, "a")
    with pytest.raises(mmarr.Error) as e:
        mmarr.open(base, "a")
    assert e.value.code_name == "MMARR_E_BUSY"
    with pytest.raises(mmarr.Error):
        mmarr.open(base, "r+")
    assert list(mmarr.open(base)) == ["a", "b"]  # readers never wait
    done = []

    def second():
        with mmarr.open(base, "a", wait=True, sync=False) as w2:
            w2.add("second", np.arange(2))
        done.append(True)

    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.2)
    assert not done  # waiting for the first
    w.add("first", np.arange(1))
    w.commit()
    t.join(10)
    assert done
    f = mmarr.open(base)
    assert f.generation == 3 and list(f) == ["a", "b", "first", "second"]


def _producer(path, n):
    for i in range(n):
        time.sleep(0.02)
        with mmarr.open(path, "a", sync=False) as w:
            w.add(f"day{i}", np.full(1000, i))


def test_append__consumer_waits_for_producer(base):
    ctx = multiprocessing.get_context("spawn")
    p = ctx.Process(target=_producer, args=(str(base), 5))
    f = mmarr.open(base)
    assert f.wait(0) is False
    p.start()
    seen = set()
    deadline = time.monotonic() + 60
    while len(seen) < 5 and time.monotonic() < deadline:
        if f.wait(5):
            assert f.refresh()
        for name in f:
            if name.startswith("day"):
                i = int(name[3:])
                assert np.array_equal(f[name], np.full(1000, i))
                seen.add(i)
    p.join(30)
    assert p.exitcode == 0 and seen == set(range(5))
    assert f.generation == 6


def test_append__modes(base):
    with pytest.raises(ValueError):
        mmarr.File(base, "a")
    f = mmarr.open(base, "c")
    with pytest.raises(ValueError):
        f.refresh()
    assert isinstance(mmarr.open(base, "a"), mmarr.Appender)
    assert os.path.exists(base)


def test_append__growable_rows(shm):
    path = shm / "rows.mmarr"
    with mmarr.Writer(path, sync=False) as w:
        w.add("prices", np.zeros((0, 4), "<f8"), capacity=100_000)
        w.add("ids", np.arange(3), capacity=10)
        w.append("ids", 3)  # one row, without the leading dimension
        with pytest.raises(ValueError):
            w.append("ids", np.arange(2, dtype="<f4"))
        with pytest.raises(ValueError):
            w.add("bad", np.arange(5), capacity=4)
        with pytest.raises(ValueError):  # it could never grow
            w.add("never", np.zeros((0, 2)), capacity=0)
    f = mmarr.open(path)
    assert f.info("prices")["capacity"] == 100_000 and f["prices"].shape == (0, 4)
    assert list(f["ids"]) == [0, 1, 2, 3] and f.info("ids")["capacity"] == 10
    assert os.stat(path).st_blocks * 512 < 1 << 20  # 3.2 MB reserved as a hole
    old = f["prices"]
    total = 0
    for day in range(5):
        rows = np.full((1000 + day, 4), day, "<f8")
        with mmarr.open(path, "a", sync=False) as w:
            w.append("prices", rows)
        total += len(rows)
    assert old.shape == (0, 4) and f["prices"].shape == (0, 4)  # until refresh
    f.refresh()
    p = f["prices"]
    assert p.shape == (total, 4) and p[0, 0] == 0 and p[-1, 0] == 4
    f.verify()
    with mmarr.open(path, "a", sync=False) as w:
        with pytest.raises(mmarr.Error) as e:
            w.append("ids", np.arange(7))  # 4 + 7 > 10
        assert e.value.code_name == "MMARR_E_RANGE"
    with pytest.raises(KeyError):
        with mmarr.open(path, "a") as w:
            w.append("nope", 1)


def test_append__growable_cold(shm):
    """A cold growable array gains chunks (spec.md §7.8): small appends compress the last
    chunk again with the new rows; readers of an older generation keep theirs; f[name]
    decodes the newest rows; compaction keeps it cold and growable."""
    path = shm / "coldrows.mmarr"
    with mmarr.Writer(path, sync=False) as w:
        w.add("ticks", np.arange(1000.0).reshape(500, 2), capacity=1_000_000,
              compress={"level": 1, "chunk_size": 4096})
    f = mmarr.open(path)
    info = f.info("ticks")
    assert info["storage"] == "cold" and info["capacity"] == 1_000_000
    want = np.arange(1000.0).reshape(500, 2)
    for day in range(4):
        rows = np.arange(2 * (300 + day), dtype="<f8").reshape(-1, 2) + 1e6 * (day + 1)
        with mmarr.open(path, "a", sync=False) as w:
            w.append("ticks", rows)
            w.add(f"day{day}", np.full(10, day))  # other arrays between its chunks
        want = np.concatenate([want, rows])
    assert f.read("ticks").shape == (500, 2)  # its generation, until refresh
    f.refresh()
    f.verify()
    assert np.array_equal(f.read("ticks"), want)
    assert np.array_equal(f["ticks"][-3:], want[-3:])
    with mmarr.open(path, "a", sync=False) as w:
        with pytest.raises(ValueError):
            w.append("ticks", np.zeros((2, 3)))


def _unpickle_and_sum(blob):
    import pickle
    return float(np.asarray(pickle.loads(blob)).sum())


def test_append__pickles_keep_their_generation(shm):
    """References pickled before appends keep serving the generation they were made from
    (spec.md §4.4 rule 8), in this process and in a spawned one; an array deleted since
    included; until the file is replaced."""
    import pickle
    path = shm / "gens.mmarr"
    with mmarr.Writer(path, sync=False) as w:
        w.add("rows", np.arange(100.0), capacity=10_000)
        w.add("gone", np.full(50, 7, "<i4"), compress=1)  # the only cold array
    f1 = mmarr.open(path)
    rows1, file1 = pickle.dumps(f1["rows"]), pickle.dumps(f1)
    gone1 = pickle.dumps(f1["gone"])
    f1.close()
    with mmarr.open(path, "a", sync=False) as w:
        w.append("rows", np.arange(100.0, 1000.0))
        w.delete("gone")
    mmarr.release_handles()
    r = pickle.loads(rows1)
    assert r.shape == (100,) and r[-1] == 99.0
    assert np.array_equal(pickle.loads(gone1), np.full(50, 7, "<i4"))
    old = pickle.loads(file1)
    assert old.generation == 1 and sorted(old) == ["gone", "rows"]
    assert old.refresh() and old.generation == 2 and old["rows"].shape == (1000,)
    now = mmarr.open(path)
    assert now.generation == 2 and list(now) == ["rows"]
    rows2 = pickle.dumps(now["rows"])
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        assert pool.apply(_unpickle_and_sum, (rows1,)) == float(np.arange(100.0).sum())
        assert pool.apply(_unpickle_and_sum, (rows2,)) == float(np.arange(1000.0).sum())
    # in-place writes go through the newest generation only, and while checksums are stale
    # (an "r+" File published the mark) earlier generations are not vouched for
    rw = mmarr.open(path, "r+")
    ref_rw = pickle.dumps(rw["rows"])
    mmarr.release_handles()
    with pytest.raises(mmarr.FileChangedError, match="rewritten in place"):
        pickle.loads(rows1)
    rw.flush(rehash=True)  # nothing was written: the rows' checksums are what they were
    rw.close()
    with mmarr.open(path, "a", sync=False) as w:
        w.append("rows", np.zeros(1))
    mmarr.release_handles()
    assert pickle.loads(rows1)[-1] == 99.0  # read-only ones work again
    with pytest.raises(mmarr.FileChangedError):  # (its "r+" open publishes the mark again)
        pickle.loads(ref_rw)
    mmarr.save(path, {"rows": np.arange(3.0)}, sync=False)  # replaced: compaction's effect
    mmarr.release_handles()
    with pytest.raises(mmarr.FileChangedError):
        pickle.loads(rows1)
