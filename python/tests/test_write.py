# SPDX-License-Identifier: MIT
"""Writer, save() and share(): metadata, options, refusals, and the tmpfs sharing helper."""
import gc
import multiprocessing
import os
import pickle

import numpy as np
import pytest

import _workers
import mmarr


def test_write__metadata_round_trip(shm):
    p = shm / "m.mmarr"
    mmarr.save(p, {"a": np.arange(3), "b": np.ones(2)}, metadata={"source": "sensor-7", "ü": "ß"},
               array_metadata={"b": {"unit": "m/s", "note": "日本"}})
    with mmarr.open(p) as f:
        assert f.metadata == {"source": "sensor-7", "ü": "ß"}
        assert f.array_metadata("a") == {}
        assert f.array_metadata("b") == {"unit": "m/s", "note": "日本"}
        with pytest.raises(KeyError):
            f.array_metadata("nope")
    with mmarr.Writer(p) as w:
        w.add("x", np.arange(2), metadata={"k": "v"})
        w.set_metadata("k2", "v2", name="x")
        w.set_metadata("file", "yes")
        w.reserve("r", 4, "<i2", metadata={"r": "1"})
    with mmarr.open(p) as f:
        assert f.metadata == {"file": "yes"}
        assert f.array_metadata("x") == {"k": "v", "k2": "v2"}
        assert f.array_metadata("r") == {"r": "1"}


def test_write__metadata_must_be_text(shm):
    with pytest.raises(TypeError, match="json.dumps"):
        mmarr.save(shm / "m.mmarr", {"a": np.arange(3)}, metadata={"n": 3})
    with pytest.raises(KeyError, match="not saved"):
        mmarr.save(shm / "m.mmarr", {"a": np.arange(3)}, array_metadata={"b": {"k": "v"}})
    assert not (shm / "m.mmarr").exists()


def test_write__mapping_interface(shm):
    p = shm / "i.mmarr"
    names = ["zeta", "alpha", "mid"]
    mmarr.save(p, [(n, np.full(3, i)) for i, n in enumerate(names)])
    with mmarr.open(p) as f:
        assert list(f) == names and f.keys() == names and len(f) == 3
        assert [k for k, _ in f.items()] == names
        assert [int(v[0]) for v in f.values()] == [0, 1, 2]
        assert "mid" in f and "nope" not in f and 3 not in f
        assert f.get("nope") is None
        with pytest.raises(KeyError):
            f["nope"]
        info = f.info()
        assert info["count"] == 3 and info["format"] == (1, 0)  # no ragged item: 1.0
        assert info["mode"] == "r" and not info["writable"]
        f.verify()
        f.prefetch()
        assert repr(f).startswith("<mmarr.File")


def test_write__refusals(shm):
    p = shm / "e.mmarr"
    mmarr.save(p, {"a": np.arange(3)})
    with pytest.raises(mmarr.Error) as e:
        mmarr.save(p, {"b": np.arange(3)}, replace=False)
    assert e.value.code_name == "MMARR_E_EXISTS"
    w = mmarr.Writer(shm / "d.mmarr")
    w.add("x", np.arange(3))
    with pytest.raises(mmarr.Error, match="x") as e:
        w.add("x", np.arange(3))
    assert e.value.code_name == "MMARR_E_EXISTS"
    with pytest.raises(mmarr.Error):
        w.add("", np.arange(3))
    w.commit()
    with pytest.raises(ValueError, match="already committed"):
        w.commit()
    with pytest.raises(FileNotFoundError):
        mmarr.open(shm / "missing.mmarr")
    (shm / "junk").write_bytes(b"not an mmarr file at all" * 100)
    with pytest.raises(mmarr.Error) as e:
        mmarr.open(shm / "junk")
    assert e.value.code_name == "MMARR_E_BADMAGIC" and e.value.errno is None
    with pytest.raises(ValueError, match="mode"):
        mmarr.open(p, "w")


def test_write__writer_options(shm):
    p = shm / "o.mmarr"
    with mmarr.Writer(p, alignment=65536, pack_threshold=0, sync=False) as w:
        w.add("a", np.arange(3))
        w.add("b", np.arange(3))
        assert len(w) == 2
    with mmarr.open(p) as f:
        assert f.info()["alignment"] == 65536
        assert f.info("b")["offset"] % 65536 == 0 and not f.info("b")["packed"]


def test_write__share_single_and_dict(shm):
    a = np.arange(1000.0)
    with mmarr.share(a, dir=shm) as s:
        assert s.path.startswith(str(shm)) and os.path.exists(s.path)
        x = s.array
        assert isinstance(x, mmarr.MappedArray) and np.array_equal(x, a)
        assert not x.flags.writeable and len(pickle.dumps(x)) < 1000
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            assert pool.apply(_workers.describe, (x,))[2] == s.path
    assert os.path.exists(s.path) and x[999] == 999.0  # x still maps it: the file stays
    s.close()  # idempotent
    blob = pickle.dumps(x)
    y = x[:]
    del x
    gc.collect()
    assert os.path.exists(s.path) and y[999] == 999.0
    del y
    gc.collect()
    assert not os.path.exists(s.path)  # the last view here was the last user
    with pytest.raises(mmarr.FileChangedError, match="gone"):
        pickle.loads(blob)
    with mmarr.share({"p": np.ones(3), "q": np.zeros((2, 2))}, dir=shm) as s:
        assert sorted(s) == ["p", "q"] and s["q"].shape == (2, 2)
        with pytest.raises(AttributeError):
            s.array


def test_write__share_unlinked_when_garbage(shm):
    s = mmarr.share(np.arange(3), dir=shm)
    path = s.path
    del s
    gc.collect()
    assert not os.path.exists(path)


def test_write__share_refuses_objects_and_leaves_nothing(shm):
    with pytest.raises(TypeError, match="object"):
        mmarr.share({"o": np.array(["a", None], dtype=object)}, dir=shm)
    assert os.listdir(shm) == []


def test_write__share_and_save_say_what_to_pass(shm):
    a, b = np.arange(3.0), np.ones(4)
    with pytest.raises(TypeError, match=r"list of arrays.*\{'a': a, 'b': b\}"):
        mmarr.share([a, b], dir=shm)
    with pytest.raises(TypeError, match=r"'A' must be \(shape, dtype\).*got \(4000, 1500\)"):
        mmarr.share(empty={"A": (4000, 1500)}, dir=shm)
    with pytest.raises(TypeError, match="must be"):
        mmarr.share(empty={"A": 4000}, dir=shm)
    assert os.listdir(shm) == []  # refused before any file was made
    with mmarr.share(empty={"A": ((40, 15), "f4"), "v": (7, "i2", "C")}, dir=shm) as s:
        assert s["A"].shape == (40, 15) and s["A"].dtype == np.float32
        assert s["v"].shape == (7,) and not s["v"].any()
    mmarr.save(shm / "one.mmarr", a)  # one array, as share(a): named "array"
    with mmarr.open(shm / "one.mmarr") as f:
        assert list(f) == ["array"] and np.array_equal(f["array"], a)
    mmarr.save(shm / "pairs.mmarr", [("a", a), ("b", b)])
    with mmarr.open(shm / "pairs.mmarr") as f:
        assert list(f) == ["a", "b"]
    with pytest.raises(TypeError, match="list of arrays"):
        mmarr.save(shm / "no.mmarr", [a, b])
    with pytest.raises(TypeError, match="not int"):
        mmarr.save(shm / "no.mmarr", 3)
    assert not os.path.exists(shm / "no.mmarr")


def test_write__files_compare_by_identity(shm):
    p = shm / "h.mmarr"
    mmarr.save(p, {"a": np.arange(3)})
    f, g = mmarr.open(p), mmarr.open(p)
    assert f == f and f != g and len({f, g}) == 2
    assert "\ud800" not in f
    with pytest.raises(KeyError):
        f["\ud800"]
