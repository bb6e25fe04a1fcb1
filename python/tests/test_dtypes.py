# SPDX-License-Identifier: MIT
"""Every dtype kind numpy and the format share round-trips exactly: dtype, shape, order,
bytes; what the format cannot hold is refused with a clear message."""
import importlib.util

import numpy as np
import pytest

import mmarr

PLAIN = ["?", "i1", "<i2", "<i4", "<i8", "u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8",
         "<c8", "<c16", ">i4", ">f8", ">c16", "S1", "S7", "<U1", "<U5", ">U3", "V4",
         "<M8[ns]", "<M8[D]", "<M8", "<M8[10ms]", "<m8[us]", ">m8[s]"]

STRUCTS = [
    np.dtype([("date", "<M8[ns]"), ("val", "<f8"), ("c", "S6")]),
    np.dtype([("a", "u1"), ("b", "<f8"), ("c", "<i2")], align=True),  # padding fields
    np.dtype([("pos", "<f4", (3,)), ("m", "<i8", (2, 2))]),            # subarray fields
    np.dtype([("outer", [("x", "<i4"), ("tag", "<U2")]), ("n", ">u2")]),  # nesting
    np.dtype([("é", "<f4"), ("名", "S3")]),                              # UTF-8 names
]


def sample(dt, shape):
    """Deterministic non-trivial contents of any dtype."""
    n = int(np.prod(shape, dtype=np.int64))
    raw = (np.arange(n * dt.itemsize, dtype=np.uint64) * 37 + 11).astype(np.uint8)
    a = raw.view(np.dtype((np.void, dt.itemsize))).view(dt) if dt.itemsize else raw
    if dt.kind == "f" or dt.kind == "c":
        a = np.arange(n).astype(dt) * 1.25 - 3
    elif dt.kind == "b":
        a = np.arange(n) % 3 == 0
    elif dt.kind == "U":
        a = np.array([chr(0x41 + i % 26) + "ü" * (i % 3) for i in range(n)], dtype=dt)
    elif dt.kind in "Mm":
        a = (np.arange(n) * 86400 + 7).astype(dt.newbyteorder("=")).astype(dt)
    return a.astype(dt).reshape(shape)


def same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes("A") == b.tobytes("A")


@pytest.mark.parametrize("text", PLAIN)
def test_dtypes__plain_kinds_round_trip(shm, text):
    dt = np.dtype(text)
    arrays = {"one": sample(dt, (7,)), "two": sample(dt, (3, 4)), "zero_d": sample(dt, ()),
              "empty": sample(dt, (0, 3))}
    mmarr.save(shm / "a.mmarr", arrays)
    with mmarr.open(shm / "a.mmarr") as f:
        for name, a in arrays.items():
            b = f[name]
            assert isinstance(b, mmarr.MappedArray)
            assert same(a, b), name
            assert f.info(name)["dtype"] == mmarr.dtype_text(dt)
    assert mmarr.dtype_text(dt) == dt.str


@pytest.mark.parametrize("dt", STRUCTS, ids=lambda d: str(d.names))
def test_dtypes__structured_round_trip(shm, dt):
    a = sample(dt, (5,))
    mmarr.save(shm / "s.mmarr", {"t": a})
    with mmarr.open(shm / "s.mmarr") as f:
        b = f["t"]
        assert b.dtype == dt and b.dtype.itemsize == dt.itemsize
        assert b.dtype.descr == dt.descr
        assert same(a, b)
        assert f.info("t")["dtype"] == str(dt.descr)


def test_dtypes__orders_and_non_contiguous_inputs(shm):
    base = np.arange(60, dtype="<i4").reshape(3, 4, 5)
    arrays = {"c": base, "f": np.asfortranarray(base), "strided": base[:, ::2, 1:],
              "transposed": base.transpose(1, 0, 2), "neg": base[::-1]}
    mmarr.save(shm / "o.mmarr", arrays)
    with mmarr.open(shm / "o.mmarr") as f:
        assert f.info("c")["order"] == "C" and f["c"].flags.c_contiguous
        assert f.info("f")["order"] == "F" and f["f"].flags.f_contiguous
        assert not f["f"].flags.c_contiguous
        for name, a in arrays.items():
            assert np.array_equal(f[name], a), name
            order = f.info(name)["order"]
            assert f[name].strides == np.empty(a.shape, a.dtype, order=order).strides


def test_dtypes__record_arrays_and_dataframes(shm):
    rec = np.rec.fromarrays([np.arange(4), np.linspace(0, 1, 4),
                             np.array([b"a", b"bc", b"d", b""])], names="i,x,s")
    mmarr.save(shm / "r.mmarr", {"rec": rec})
    with mmarr.open(shm / "r.mmarr") as f:
        assert np.array_equal(f["rec"], np.asarray(rec))
        assert f["rec"].dtype == rec.dtype
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"when": pd.date_range("2024-01-01", periods=5, freq="h"),
                       "price": np.arange(5) * 1.5, "sym": ["AB", "CDE", "F", "GH", "IJ"]})
    with pytest.raises(TypeError, match=r"object dtype \(sym\).*column_dtypes"):
        mmarr.save(shm / "df.mmarr", {"df": df.to_records(index=False)})
    recs = df.to_records(index=False, column_dtypes={"sym": "S3"})
    mmarr.save(shm / "df.mmarr", {"df": recs})
    with mmarr.open(shm / "df.mmarr") as f:
        back = pd.DataFrame.from_records(f["df"])
        assert (back["when"] == df["when"]).all()
        assert (back["price"] == df["price"]).all()
        assert [s.decode() for s in back["sym"]] == list(df["sym"])


def test_dtypes__objects_refused_never_pickled(shm):
    with pytest.raises(TypeError, match=r"object dtype \(elements\).*never pickles"):
        mmarr.save(shm / "x.mmarr", {"o": np.array([{"a": 1}, None], dtype=object)})
    dt = np.dtype([("n", "<i4"), ("inner", [("name", "O")])])
    with pytest.raises(TypeError, match=r"object dtype \(inner\.name\)"):
        mmarr.save(shm / "x.mmarr", {"o": np.zeros(2, dt)})
    with pytest.raises(TypeError):
        with mmarr.Writer(shm / "x.mmarr") as w:
            w.reserve("o", (3,), object)
    assert not (shm / "x.mmarr").exists()


def test_dtypes__unrepresentable_refused(shm):
    cases = [np.zeros(2, np.longdouble),
             np.zeros(2, np.dtype({"names": ["a", "b"], "formats": ["<i4", "<i4"],
                                   "offsets": [4, 0]})),                     # out of order
             np.zeros(2, np.dtype([(("title", "a"), "<i4")]))]              # field title
    for a in cases:
        with pytest.raises(TypeError, match="cannot be stored"):
            mmarr.save(shm / "x.mmarr", {"a": a})
    assert not (shm / "x.mmarr").exists()


def test_dtypes__bfloat16_raw_view(shm):
    bits = np.array([0x3F80, 0x4000, 0xC040], dtype="<u2")  # 1.0, 2.0, -3.0 as bfloat16
    with mmarr.Writer(shm / "b.mmarr") as w:
        w.add("bf", bits, dtype="bfloat16")
        out = w.reserve("f8", (4,), "float8_e4m3fn")
        out.view(np.uint8)[:] = [1, 2, 3, 4]
        del out
    with mmarr.open(shm / "b.mmarr") as f:
        assert f.info("bf")["dtype"] == "bfloat16"
        if importlib.util.find_spec("ml_dtypes") is None:
            with pytest.raises(TypeError, match=r'"bf".*bfloat16.*raw\(\)'):
                f["bf"]
        raw = f.raw("bf")
        assert raw.dtype == np.dtype("V2") and raw.shape == (3,)
        assert np.array_equal(raw.view("<u2"), bits)
        assert np.array_equal(f.read("f8", raw=True).view(np.uint8), [1, 2, 3, 4])
    w = mmarr.Writer(shm / "b2.mmarr")
    with pytest.raises(ValueError, match="itemsize"):
        w.add("bf", bits.astype("<u4"), dtype="bfloat16")
    w.abandon()


def test_dtypes__text_helpers():
    for text in PLAIN:
        dt = np.dtype(text)
        assert mmarr.dtype_from_text(mmarr.dtype_text(dt)) == dt
    for dt in STRUCTS:
        assert mmarr.dtype_from_text(mmarr.dtype_text(dt)) == dt
    assert mmarr.dtype_text("float32") == "<f4"
