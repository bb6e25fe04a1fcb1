# SPDX-License-Identifier: MIT
"""Ragged items: lists of variable-length arrays, str and bytes, stored as values + offsets
(spec.md §7.7) and read back as Ragged sequences."""
import multiprocessing
import pickle

import _workers
import numpy as np
import pytest

import mmarr

RNG = np.random.default_rng(7)
ARRAYS = [RNG.random((int(n), 3)).astype("<f4") for n in RNG.integers(0, 9, 200)]
WORDS = ["héllo", "", "wörld", "x" * 1000, "日本語", "a\x00b"]
BLOBS = [b"\x00\x01\xff", b"", b"abc"]


@pytest.fixture
def rag(shm):
    path = shm / "r.mmarr"
    mmarr.save(path, {"a": ARRAYS, "w": WORDS, "b": BLOBS, "plain": np.arange(5)}, sync=False)
    with mmarr.open(path) as f:
        yield path, f


def test_ragged__round_trip(rag):
    path, f = rag
    assert f.keys() == ["a", "w", "b", "plain"] and len(f) == 4 and "a/offsets" in f
    a, w, b = f["a"], f["w"], f["b"]
    assert isinstance(a, mmarr.Ragged) and a.kind == "arrays" and len(a) == len(ARRAYS)
    for x, y in zip(a, ARRAYS):
        assert isinstance(x, mmarr.MappedArray) and x.dtype == y.dtype and np.array_equal(x, y)
        assert x.size == 0 or np.shares_memory(x, a.values)
    assert w.tolist() == WORDS and b.tolist() == BLOBS and w.kind == "str"
    assert w[-1] == WORDS[-1] and a[-3].shape == ARRAYS[-3].shape
    assert f.info()["format"] == (1, 1)
    assert f["plain"].tolist() == [0, 1, 2, 3, 4]
    assert list(f["a/offsets"][:3]) == [0, len(ARRAYS[0]), len(ARRAYS[0]) + len(ARRAYS[1])]
    f.verify()  # checksums, every offset, the text of "w"
    with pytest.raises(IndexError):
        a[len(ARRAYS)]
    assert "arrays of float32 (n, 3)" in repr(a) and "'w'" in repr(w)


def test_ragged__slices_are_zero_copy_raggeds(rag):
    _, f = rag
    a, w = f["a"], f["w"]
    s = a[10:20]
    assert isinstance(s, mmarr.Ragged) and len(s) == 10 and s.values is a.values
    assert all(np.array_equal(x, y) for x, y in zip(s, ARRAYS[10:20]))
    assert w[1:4].tolist() == WORDS[1:4] and w[::2] == WORDS[::2] and len(w[5:2]) == 0
    assert s[2:4].tolist()[1].shape == ARRAYS[13].shape


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_ragged__pickles_as_reference(rag, method):
    path, f = rag
    a, w = f["a"], f["w"]
    for r in (a, a[5:50], w):
        blob = pickle.dumps(r)
        assert len(blob) < 1000
        back = pickle.loads(blob)
        assert isinstance(back, mmarr.Ragged) and len(back) == len(r)
        assert back[0] == r[0] if r.kind == "str" else np.array_equal(back[0], r[0])
    with multiprocessing.get_context(method).Pool(1) as pool:
        kind, total, mapped, _ = pool.apply(_workers.describe, (a[7],))
    assert mapped == str(path) and total == pytest.approx(float(ARRAYS[7].sum()), rel=1e-5)


def test_ragged__writer_options_and_cold_values(shm):
    path = shm / "w.mmarr"
    with mmarr.Writer(path) as w:
        w.add_ragged("c", ARRAYS, compress=3)
        w.add_ragged("i", [[1, 2], [3]], kind="arrays", dtype="<i2")
        w.add_ragged("e", [], kind="str")
        w.add_ragged("z", [], kind="arrays", dtype="<u4")
        w.add_ragged("t", ("a", "bc"))
    with mmarr.open(path) as f:
        assert f.info("c")["storage"] == "cold" and f.info("c/offsets")["storage"] == "hot"
        assert all(np.array_equal(x, y) for x, y in zip(f["c"], ARRAYS))
        assert [x.tolist() for x in f["i"]] == [[1, 2], [3]] and f["i"].values.dtype == "<i2"
        assert len(f["e"]) == 0 and f["e"].tolist() == [] and len(f["z"]) == 0
        assert f["z"].values.dtype == "<u4" and f["t"].tolist() == ["a", "bc"]
        f.verify()


def test_ragged__refusals(shm):
    path = shm / "x.mmarr"
    with pytest.raises(ValueError, match=r'item 1 is a 1-d float64 .*inner shape \(3,\)'):
        mmarr.save(path, {"a": [np.zeros((2, 3)), np.zeros(4)]})
    with pytest.raises(ValueError, match="dtype int64 .*pass dtype="):
        mmarr.save(path, {"a": [np.zeros(2, "i8"), np.zeros(2, "f8")]})
    with pytest.raises(ValueError, match="at least one dimension"):
        mmarr.save(path, {"a": [np.zeros(2), np.float64(1.0)]})
    with pytest.raises(TypeError, match="item 1 is bytes, not str"):
        mmarr.save(path, {"a": ["x", b"y"]})
    with pytest.raises(ValueError, match="empty list needs kind="):
        with mmarr.Writer(path) as w:
            w.add_ragged("a", [])
    with pytest.raises(mmarr.Error, match="part of one ragged item only"):
        with mmarr.Writer(path) as w:
            w.add("v", np.zeros(3, "u1"))
            w.add("o", np.array([0, 3], "<u8"))
            w._w.ragged("v", "o", mmarr._mmarr.RAGGED_BYTES)
            w._w.ragged("v", "o", mmarr._mmarr.RAGGED_BYTES)
    with pytest.raises(mmarr.Error, match=r"element 1 is 5.*never decrease and end at the "
                                          r"values' 3 rows"):
        with mmarr.Writer(path) as w:
            w.add("v", np.zeros(3, "u1"))
            w.add("o", np.array([0, 5], "<u8"))
            w._w.ragged("v", "o", mmarr._mmarr.RAGGED_BYTES)
    assert not path.exists()
    # a list of lists of numbers is still one array, as np.asarray makes it
    mmarr.save(path, {"m": [[1, 2], [3, 4]]})
    assert mmarr.open(path)["m"].shape == (2, 2)


def _damage(path, name, element, value):
    """Overwrite element `element` of array `name`'s offsets in the file (data bytes)."""
    with mmarr.open(path) as f:
        off = f.info(name + "/offsets")["offset"]
    with open(path, "r+b") as fh:
        fh.seek(off + 8 * element)
        fh.write(int(value).to_bytes(8, "little"))


def test_ragged__damaged_offsets_fail_per_item(shm):
    path = shm / "d.mmarr"
    mmarr.save(path, {"a": [np.arange(3), np.arange(2), np.arange(4)], "w": ["ok", "\u00e9"],
                      "p": np.arange(3)})
    _damage(path, "a", 2, 10**6)   # item 1 ends and item 2 starts past the 9 rows
    with open(path, "r+b") as fh:   # an invalid UTF-8 byte inside "é" of w[1]
        f = mmarr.open(path)
        fh.seek(f.info("w")["offset"] + 3)
        fh.write(b"\xff")
        del f
    with mmarr.open(path) as f:
        a, w = f["a"], f["w"]
        assert a[0].tolist() == [0, 1, 2] and f["p"].tolist() == [0, 1, 2]
        with pytest.raises(ValueError, match=r"ragged item 'a': item 1: offsets 3\.\.1000000 "
                                             r"outside the 9 rows"):
            a[1]
        with pytest.raises(ValueError):
            a[2]
        assert w[0] == "ok"
        with pytest.raises(ValueError, match=r"'w'\[1\] is not valid UTF-8"):
            w[1]
        with pytest.raises(mmarr.Error) as e:
            f.verify("a")
        assert e.value.code_name in ("MMARR_E_CORRUPT", "MMARR_E_CHECKSUM")
        with pytest.raises(mmarr.Error, match="not valid UTF-8|checksum"):
            f.verify("w")


def test_ragged__copy_on_write_changes_are_checked(shm):
    path = shm / "c.mmarr"
    mmarr.save(path, {"a": [np.arange(3), np.arange(2)]})
    with mmarr.open(path, "c") as f:
        a = f["a"]
        off = f["a/offsets"]
        off[1] = 99  # in this process only
        with pytest.raises(ValueError, match="outside the 5 rows"):
            a[0]
    assert mmarr.open(path)["a"][0].tolist() == [0, 1, 2]  # the file is unchanged


def test_ragged__share_and_shared_items(shm):
    with mmarr.share({"a": ARRAYS[:5], "w": WORDS}, dir=shm) as s:
        assert isinstance(s["a"], mmarr.Ragged) and s["w"].tolist() == WORDS
        assert len(pickle.dumps(s["a"])) < 1000


def test_ragged__text_in_bulk(shm):
    """tolist()/decode() of text items in one call into C: equal items, short equal ones
    sharing an object, the mask, refusals naming the item."""
    words = ["ab", "", "é€😀", "ab", "x" * 100, "x" * 100, "ab"]
    raw = [b"\x00\xff", b"", bytearray(b"zz"), memoryview(b"qq")]
    path = shm / "t.mmarr"
    mmarr.save(path, {"w": words, "b": raw, "a": [np.arange(2)]}, sync=False)
    with mmarr.open(path) as f:
        w = f["w"]
        got = w.tolist()
        assert got == words and got[0] is got[3] is got[6] and got[4] is not got[5]
        assert f["b"].tolist() == [b"\x00\xff", b"", b"zz", b"qq"]
        assert w[1:4].tolist() == words[1:4] and w[2:2].tolist() == []
        masked = w.decode(np.array([0, 1, 0, 0, 0, 0, 1], bool), "NA")
        assert masked.dtype == object and masked.tolist() == ["ab", "NA", *words[2:6], "NA"]
        with pytest.raises(TypeError, match="1-d bool array of 7"):
            w.decode(np.zeros(3, bool))
        with pytest.raises(TypeError, match="for text items"):
            f["a"].decode()
    with pytest.raises(ValueError, match=r"item 1 cannot be stored as UTF-8 .*surrogate"):
        mmarr.save(path, {"w": ["a", "\ud800"]})
    with pytest.raises(TypeError, match="item 2 is NoneType, not str"):
        mmarr.save(path, {"w": ["a", "b", None]})
    with pytest.raises(TypeError, match="item 1 is str, not bytes"):
        mmarr.save(path, {"w": [b"a", "b"]})


def test_ragged__text_decode_checks_every_offset(shm):
    path = shm / "d.mmarr"
    mmarr.save(path, {"w": ["ab", "cd", "éf"]})
    _damage(path, "w", 2, 1)   # item 1 ends before it starts
    with mmarr.open(path) as f:
        with pytest.raises(ValueError, match=r"'w': item 1: offsets 2\.\.1 outside"):
            f["w"].tolist()
    _damage(path, "w", 2, 4)
    with open(path, "r+b") as fh:   # break the UTF-8 of "é"
        fh.seek(mmarr.open(path).info("w")["offset"] + 4)
        fh.write(b"\xc3\x28")
    with mmarr.open(path) as f:
        with pytest.raises(ValueError, match=r"'w': item 2 is not valid UTF-8"):
            f["w"].tolist()


def test_ragged__text_encode_reads_object_arrays_in_place():
    """An object ndarray (a pandas column) is read without a list copy; a strided one, a list
    and a tuple through the sequence protocol: the same bytes either way."""
    enc = mmarr._mmarr.text_encode
    col = np.array(["ab", None, "é", float("nan"), "", "xyz"], dtype=object)
    want = enc(list(col), mmarr._mmarr.RAGGED_UTF8, True, None)
    for items in (col, tuple(col)):
        got = enc(items, mmarr._mmarr.RAGGED_UTF8, True, None)
        assert got[0] == want[0] and got[4] == want[4] == -1
        for a, b in zip(got[1:4], want[1:4]):
            np.testing.assert_array_equal(a, b)
    assert bytes(want[1]) == "abéxyz".encode() and want[3].tolist() == [0, 1, 0, 1, 0, 0]
    strided = enc(col[::2], -1, True, None)
    assert strided[0] == mmarr._mmarr.RAGGED_UTF8 and bytes(strided[1]) == "abé".encode()
    assert strided[3] is None  # nothing missing among them
    assert enc(col, mmarr._mmarr.RAGGED_UTF8, False, None)[4] == 1  # None not allowed here
