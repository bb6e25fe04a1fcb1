# SPDX-License-Identifier: MIT
"""pandas DataFrames and Series stored as columns (docs/pandas.md): equal after the round trip,
numeric columns zero-copy, pickled as references."""
import multiprocessing
import pickle
import subprocess
import sys

import numpy as np
import pytest

import mmarr

pd = pytest.importorskip("pandas", reason="python3-pandas is not installed "
                                          "(scripts/deps.sh test installs it)")
from pandas.testing import assert_frame_equal, assert_series_equal  # noqa: E402

N = 500


def _frame():
    i = np.arange(N)
    df = pd.DataFrame({
        "f": np.where(i % 11 == 0, np.nan, i / 3), "i": i, "u8": (i % 256).astype("u1"),
        "b": i % 2 == 0, "c": (i + 1j * i).astype("c8"),
        "t": pd.date_range("2020-01-01", periods=N, freq="h"),
        "tz": pd.date_range("2020-03-28", periods=N, freq="h", tz="Europe/Paris"),
        "td": pd.to_timedelta(i, unit="ms"),
        "cat": pd.Categorical(np.where(i % 3 == 0, "x", "yé")),
        "ocat": pd.Categorical(i % 4, categories=[3, 2, 1, 0], ordered=True),
        "s": [f"w{k}é" if k % 7 else None for k in i],
        "ss": pd.array([f"s{k}" if k % 5 else None for k in i], dtype="string"),
        "by": [b"\x00%d" % k for k in i],
        "I": pd.array([k if k % 4 else None for k in i], dtype="Int64"),
        "U": pd.array([k if k % 4 else None for k in i], dtype="UInt16"),
        "B": pd.array([bool(k % 2) if k % 3 else None for k in i], dtype="boolean"),
        "F": pd.array([k / 2 if k % 6 else None for k in i], dtype="Float32"),
        7: np.ones(N, "f4"),
    })
    df.loc[3, "t"] = pd.NaT
    return df


@pytest.fixture
def saved(shm):
    df = _frame()
    frames = {
        "df": df,
        "named": df.set_index(pd.Index([f"r{k}" for k in range(N)], name="row")),
        "multi": df.set_index(["i", "cat"]),
        "tzindex": df.set_index("tz"),
        "ser": pd.Series(np.arange(5.0), index=pd.date_range("2021", periods=5), name="v"),
        "sstr": pd.Series(["a", None, "b"]),
        "empty": pd.DataFrame({"a": np.zeros(0), "s": pd.Series([], dtype=object)}),
    }
    path = shm / "p.mmarr"
    mmarr.save(path, {**frames, "plain": np.arange(3)}, sync=False)
    with mmarr.open(path) as f:
        yield path, f, frames


def test_pandas__round_trip_equal(saved):
    _, f, frames = saved
    assert f.keys() == [*frames, "plain"] and all(name in f for name in frames)
    for name, obj in frames.items():
        back = f[name]
        if isinstance(obj, pd.Series):
            assert_series_equal(back, obj)
        else:
            assert_frame_equal(back, obj)
    assert f["plain"].tolist() == [0, 1, 2]
    f.verify()


def test_pandas__numeric_columns_are_zero_copy_and_pickle_small(saved):
    path, f, _ = saved
    df = f["df"]
    for col in ["f", "i", "u8", "b", "c", "t", "td", 7]:
        j = list(df.columns).index(col)
        assert np.shares_memory(df[col].to_numpy(), f[f"df/{j}"]), col
    numeric = f["df"].iloc[:, [0, 1, 3, 5]]
    big = pd.DataFrame({k: np.arange(200_000, dtype="f8") for k in "abc"})
    mmarr.save(path.parent / "big.mmarr", {"big": big})
    back = mmarr.open(path.parent / "big.mmarr")["big"]
    blob = pickle.dumps(back)
    assert len(blob) < 3000 and len(pickle.dumps(big)) > 4_000_000
    assert_frame_equal(pickle.loads(blob), big)
    assert len(pickle.dumps(back["a"])) < 1000
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(float, (back["b"].sum(),)) == float(big["b"].sum())
    assert len(numeric) == N


def test_pandas__refusals_name_the_column(shm):
    path = shm / "x.mmarr"
    with pytest.raises(TypeError, match=r"column 'o': an object column holds int values"):
        mmarr.save(path, {"d": pd.DataFrame({"ok": [1.0, 2.0], "o": [1, "a"]})})
    with pytest.raises(TypeError, match="MultiIndex columns"):
        mmarr.save(path, {"d": pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples(
            [("a", 1), ("a", 2)]))})
    with pytest.raises(TypeError, match="pandas dtype period"):
        mmarr.save(path, {"d": pd.DataFrame({"p": pd.period_range("2020", periods=2)})})
    with pytest.raises(TypeError, match=r"name .* \(Timestamp\) cannot be stored"):
        mmarr.save(path, {"d": pd.DataFrame({pd.Timestamp("2020"): [1.0]})})
    assert not path.exists()


def test_pandas__import_mmarr_does_not_import_pandas(saved):
    path, _, _ = saved
    code = ("import sys, mmarr; f = mmarr.open(sys.argv[1]); f['plain']; f.keys(); "
            "assert 'pandas' not in sys.modules, 'pandas imported'")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)


def test_pandas__chosen_columns_and_text(saved, shm):
    path, f, frames = saved
    df = frames["df"]
    part = f.frame("df", columns=["i", "s", 7])
    assert_frame_equal(part, df[["i", "s", 7]])
    assert np.shares_memory(part["i"].to_numpy(), f["df/1"])
    assert_frame_equal(f.frame("ser", columns=["v"]), frames["ser"].to_frame())
    with pytest.raises(KeyError, match=r"has no column .*nope"):
        f.frame("df", columns=["i", "nope"])
    with pytest.raises(TypeError, match="list of column names"):
        f.frame("df", columns="i")
    # NaN and pd.NA are missing values too; equal short strings share one object when read
    odd = pd.DataFrame({"o": ["a", np.nan, pd.NA, None, "a"] * 3})
    mmarr.save(shm / "o.mmarr", {"o": odd}, sync=False)
    back = mmarr.open(shm / "o.mmarr")["o"]
    assert_frame_equal(back, odd.fillna(np.nan).replace({np.nan: None}))
    col = back["o"].to_numpy()
    assert col[0] is col[4] and col[1] is None
    with pytest.raises(TypeError, match=r"column 'o': an object column holds bytes .*row 1"):
        mmarr.save(shm / "x.mmarr", {"d": pd.DataFrame({"o": ["a", b"b"]})})
