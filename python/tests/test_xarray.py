# SPDX-License-Identifier: MIT
"""xarray: xr.open_dataset(path, engine="mmarr") and mmarr.xarray.save (docs/xarray.md)."""
import pickle
import subprocess
import sys

import numpy as np
import pytest

import mmarr
from _util import mapped_file

xr = pytest.importorskip("xarray", reason="python3-xarray is not installed "
                                          "(scripts/deps.sh test installs it)")
import mmarr.xarray  # noqa: E402


def _dataset():
    t = np.arange("2020-01-01", "2020-01-31", dtype="M8[D]").astype("M8[ns]")
    return xr.Dataset(
        {"temp": (("time", "x"), np.random.default_rng(1).random((30, 400)).astype("f4"),
                  {"units": "K", "scale": 1.5}),
         "p": ("x", np.arange(400.0)),
         "label": ("time", [f"day {k} é" for k in range(30)])},
        coords={"time": t, "x": np.arange(400) * 10,
                "station": ("x", np.array([f"s{k}" for k in range(400)], dtype=object))},
        attrs={"title": "demo", "n": 3, "levels": [1, 2]})


@pytest.fixture
def saved(shm):
    ds = _dataset()
    path = shm / "x.mmarr"
    mmarr.xarray.save(path, ds, sync=False)
    return path, ds


def test_xarray__engine_round_trip(saved):
    path, ds = saved
    back = xr.open_dataset(path, engine="mmarr")
    xr.testing.assert_identical(back, ds)
    assert "mmarr" in xr.backends.list_engines()  # registered by the entry point
    auto = xr.open_dataset(path)  # guessed from the .mmarr suffix
    xr.testing.assert_identical(auto, ds)
    back.close()


def test_xarray__zero_copy_and_references(saved):
    path, ds = saved
    back = xr.open_dataset(path, engine="mmarr", cache=False)
    # index coordinates (pandas indexes) and text are in memory; the rest are references
    assert len(pickle.dumps(back)) < 20_000 < ds["temp"].nbytes
    assert len(pickle.dumps(back["temp"].variable)) < 2000
    values = back["temp"].values
    assert mapped_file(mmarr._mmarr.data_address(values)) == str(path)
    assert len(pickle.dumps(back["temp"].variable)) < 2000  # still a reference after reading
    chunked = xr.open_dataset(path, engine="mmarr", chunks={"time": 10})
    assert chunked["temp"].chunks == ((10, 10, 10), (400,))
    assert len(pickle.dumps(chunked["temp"].data.dask)) < 10_000
    assert float(chunked["temp"].sum()) == pytest.approx(float(ds["temp"].sum()), rel=1e-5)


def test_xarray__cold_variables_read_rows_lazily(shm):
    ds = _dataset()
    path = shm / "c.mmarr"
    mmarr.xarray.save(path, ds, compress=3)
    back = xr.open_dataset(path, engine="mmarr")
    assert mmarr.open(path).info("temp")["storage"] == "cold"
    xr.testing.assert_identical(back.isel(time=slice(3, 9, 2), x=7), ds.isel(time=slice(3, 9, 2),
                                                                            x=7))
    xr.testing.assert_identical(back, ds)


def test_xarray__any_mmarr_file_and_data_arrays(shm):
    plain = shm / "plain.mmarr"
    mmarr.save(plain, {"a": np.arange(6).reshape(2, 3), "b": np.ones(4)})
    ds = xr.open_dataset(plain, engine="mmarr", drop_variables="b")
    assert list(ds.data_vars) == ["a"] and ds["a"].dims == ("a_dim_0", "a_dim_1")
    da = xr.DataArray(np.arange(5.0), dims="z", name="zz", attrs={"u": "m"})
    mmarr.xarray.save(shm / "da.mmarr", da)
    xr.testing.assert_identical(xr.open_dataset(shm / "da.mmarr", engine="mmarr")["zz"], da)
    with pytest.raises(TypeError, match=r"attribute 'f'.*cannot be stored"):
        mmarr.xarray.save(shm / "bad.mmarr", da.assign_attrs(f=object()))


def test_xarray__import_mmarr_does_not_import_xarray(saved):
    path, _ = saved
    code = ("import sys, mmarr; mmarr.open(sys.argv[1])['temp']; "
            "assert 'xarray' not in sys.modules")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
