#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Example 1: a big array handed to a pool of workers.

Naive: pool.map(work, [(arr, i), ...]) pickles the whole array into every task: each worker
receives and holds its own copy. mmarr: mmarr.share() writes the array once into a shared file
(a disk's temporary directory, whose page cache maps large folios, or /dev/shm: see share())
and hands out a mapped view; pickling it sends a reference (~300 bytes) and every worker maps
the same pages. Each worker sums its quarter and scans the whole array (a max), so every
worker touches every page.

Usage: pool_big_array.py [--mib 1024] [--workers 4] [--method fork|spawn] [--skip-naive]
"""
import argparse
import multiprocessing
import pickle

import numpy as np

import _common
import mmarr


def work(task):
    arr, i, n = task
    k = len(arr)
    part = float(arr[i * k // n:(i + 1) * k // n].sum(dtype=np.float64))
    return part, float(arr.max()), _common.report()


def run(label, pool, arr, n):
    with _common.Timer() as t:
        out = pool.map(work, [(arr, i, n) for i in range(n)], chunksize=1)
    total = sum(o[0] for o in out)
    _common.line(label, t.seconds, _common.total_added_mib([o[2] for o in out]),
                 f"sum={total:.6g} max={max(o[1] for o in out):.6g}")
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mib", type=int, default=1024, help="array size in MiB (default 1024)")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--method", default="fork", choices=["fork", "spawn", "forkserver"])
    ap.add_argument("--skip-naive", action="store_true")
    a = ap.parse_args()
    n = a.mib * (1 << 20) // 4
    arr = np.arange(n, dtype=np.float32) % 1000  # exact in float32; sum known in closed form
    ctx = multiprocessing.get_context(a.method)
    print(f"{a.mib} MiB float32 array, {a.workers} workers ({a.method}), "
          f"{a.workers} tasks that each carry the array")

    with _common.Timer() as t:
        shared = mmarr.share(arr)
    x = shared.array
    print(f"  mmarr.share(): written once to {shared.path} in {t.seconds:.2f} s; "
          f"pickle of the view: {len(pickle.dumps(x))} bytes "
          f"(naive: {arr.nbytes + 150:,} bytes)")
    with shared, ctx.Pool(a.workers, initializer=_common.worker_init,
                  initargs=(ctx.Barrier(a.workers),)) as pool:
        got = run("mmarr (reference)", pool, x, a.workers)
    if not a.skip_naive:
        with ctx.Pool(a.workers, initializer=_common.worker_init,
                  initargs=(ctx.Barrier(a.workers),)) as pool:
            want = run("naive (pickled array)", pool, arr, a.workers)
        assert got == want, (got, want)
    print(f"  4 private copies would be {a.workers * arr.nbytes / 2**20:.0f} MiB; "
          f"one shared copy is {arr.nbytes / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
