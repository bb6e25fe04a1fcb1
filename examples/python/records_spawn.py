#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Example 2: a DataFrame-like table (datetime, float and short-string columns) packed once
and summed by spawned workers.

The table is a numpy structured array: with pandas installed it is built as a DataFrame
and converted with df.to_records(index=False, column_dtypes={"sym": "S8"}) (string columns
are Python objects in pandas and must become fixed-width bytes; mmarr refuses object columns
instead of pickling them). Naive: the record array is pickled into each of the 4 spawned
workers' tasks. mmarr: mmarr.save() packs it once into the directory share() would use and
the workers receive a reference to f["trades"].

Each worker sums price * qty per symbol over its quarter of the rows and the whole table's
date range (it reads the datetime column everywhere).

Usage: records_spawn.py [--rows 8000000] [--workers 4] [--skip-naive] [--no-pandas]
"""
import argparse
import multiprocessing
import os
import pickle

import numpy as np

import _common
import mmarr

SYMBOLS = np.array([b"AAPL", b"MSFT", b"GOOG", b"AMZN", b"NVDA", b"META", b"TSLA", b"IBM"],
                   dtype="S8")


def make_table(rows, use_pandas):
    rng = np.random.default_rng(7)
    when = np.datetime64("2024-01-02T09:30", "ns") + \
        np.cumsum(rng.integers(1, 2000, rows)).astype("m8[ms]").astype("m8[ns]")
    price = np.round(rng.uniform(10, 500, rows), 2)
    qty = rng.integers(1, 1000, rows).astype(np.float64)
    sym = SYMBOLS[rng.integers(0, len(SYMBOLS), rows)]
    if use_pandas:
        try:
            import pandas as pd
        except ImportError:
            use_pandas = False
    if use_pandas:
        df = pd.DataFrame({"when": when, "price": price, "qty": qty,
                           "sym": sym.astype(str)})  # strings: object column in pandas
        try:
            mmarr.dtype_text(df.to_records(index=False).dtype)
        except TypeError as e:  # what mmarr.save() would say without column_dtypes
            print(f"  (as expected, the object column is refused: {str(e)[:60]}...)")
        return df.to_records(index=False, column_dtypes={"sym": "S8"}), "pandas DataFrame"
    table = np.empty(rows, [("when", "<M8[ns]"), ("price", "<f8"), ("qty", "<f8"),
                            ("sym", "S8")])
    table["when"], table["price"], table["qty"], table["sym"] = when, price, qty, sym
    return table, "numpy structured array"


def work(task):
    t, i, n = task
    k = len(t)
    part = t[i * k // n:(i + 1) * k // n]
    notional = part["price"] * part["qty"]
    sums = {s.decode(): float(notional[part["sym"] == s].sum()) for s in SYMBOLS}
    span = (t["when"].max() - t["when"].min()) / np.timedelta64(1, "s")
    return sums, float(span), _common.report()


def run(label, pool, table, n):
    with _common.Timer() as t:
        out = pool.map(work, [(table, i, n) for i in range(n)], chunksize=1)
    totals = {s: sum(o[0][s] for o in out) for s in out[0][0]}
    _common.line(label, t.seconds, _common.total_added_mib([o[2] for o in out]),
                 f"total notional={sum(totals.values()):.6g}")
    return totals


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=8_000_000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--no-pandas", action="store_true")
    a = ap.parse_args()
    table, origin = make_table(a.rows, not a.no_pandas)
    print(f"{a.rows:,} rows x {table.dtype.itemsize} bytes ({table.nbytes / 2**20:.0f} MiB) "
          f"from a {origin}: {table.dtype.descr}")
    path = os.path.join(mmarr._default_share_dir(), f"mmarr-example-trades-{os.getpid()}.mmarr")
    ctx = multiprocessing.get_context("spawn")
    try:
        with _common.Timer() as t:
            mmarr.save(path, {"trades": table}, metadata={"origin": origin}, sync=False)
        with mmarr.open(path) as f:
            trades = f["trades"]
        print(f"  packed into {path} in {t.seconds:.2f} s; "
              f"pickle of f['trades']: {len(pickle.dumps(trades))} bytes")
        with ctx.Pool(a.workers, initializer=_common.worker_init,
                  initargs=(ctx.Barrier(a.workers),)) as pool:
            got = run("mmarr (reference)", pool, trades, a.workers)
        if not a.skip_naive:
            with ctx.Pool(a.workers, initializer=_common.worker_init,
                  initargs=(ctx.Barrier(a.workers),)) as pool:
                want = run("naive (pickled records)", pool, table, a.workers)
            assert got == want
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
