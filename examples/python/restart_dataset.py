#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Example 4: a read-only dataset reused across program restarts.

The first run prepares a dataset (random unit vectors + ids, standing in for an expensive
parse/preprocess step) and keeps it in an mmarr file (default: the directory share() would
use, a disk's temporary directory or /dev/shm; on /dev/shm it outlives the program, not a
reboot; --path chooses). Every later start of the program — here 4
fresh interpreters started at once, like restarted services or cron jobs — opens it in
microseconds and answers a query (nearest vector to a probe: reads every page) straight from
the shared pages. Naive: the same dataset saved with np.save and loaded with np.load at each
start: every process reads its own private copy.

Run it twice: the second run finds the dataset and skips the preparation.
Usage: restart_dataset.py [--mib 256] [--instances 4] [--path FILE] [--skip-naive] [--clean]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

import _common
import mmarr

DIM = 64


def prepare(path, npy, mib):
    rows = mib * (1 << 20) // (DIM * 4)
    t0 = time.perf_counter()
    rng = np.random.default_rng(11)
    with mmarr.Writer(path, metadata={"built": time.strftime("%Y-%m-%d %H:%M:%S"),
                                      "rows": str(rows)}) as w:
        vec = w.reserve("vectors", (rows, DIM), "<f4")  # generated in the file, no copy
        for lo in range(0, rows, 1 << 16):
            block = rng.standard_normal((min(1 << 16, rows - lo), DIM), dtype=np.float32)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            vec[lo:lo + len(block)] = block
        w.add("ids", np.arange(rows, dtype=np.int64) * 7 + 1000)
        np.save(npy, vec)  # the naive way's copy of the same data
        del vec
    return time.perf_counter() - t0


def child(kind, path, npy):
    """One program start: get the dataset ready, answer one query, report."""
    pss0 = _common.pss_kib()  # after the imports: what the dataset adds comes next
    t0 = time.perf_counter()
    if kind == "mmarr":
        f = mmarr.open(path)
        vectors, ids = f["vectors"], f["ids"]
    else:
        vectors = np.load(npy)
        ids = np.arange(len(vectors), dtype=np.int64) * 7 + 1000
    ready = time.perf_counter() - t0
    probe = vectors[12345 % len(vectors)]
    best = int(ids[int(np.argmax(vectors @ probe))])
    total = time.perf_counter() - t0
    print("done", flush=True)
    sys.stdin.readline()  # every instance is done: all measure while all still map the data
    print(json.dumps({"ready": ready, "total": total, "best": best,
                      "pss_kib": _common.pss_kib() - pss0}), flush=True)
    sys.stdin.readline()  # ... and exit only when all have measured


def start_instances(kind, n, path, npy):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, "--path", path]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for _ in range(n)]
    for p in procs:
        assert p.stdout.readline().strip() == "done"
    wall = time.perf_counter() - t0
    for p in procs:
        p.stdin.write("measure\n")
        p.stdin.flush()
    outs = [json.loads(p.stdout.readline()) for p in procs]
    for p in procs:
        p.communicate("exit\n")
    assert all(p.returncode == 0 for p in procs)
    return wall, outs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--instances", type=int, default=4)
    ap.add_argument("--path", default=os.path.join(mmarr._default_share_dir(),
                                                   "mmarr-example-dataset.mmarr"))
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--clean", action="store_true", help="remove the dataset and exit")
    ap.add_argument("--child", choices=["mmarr", "naive"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    npy = a.path + ".npy"
    if a.child:
        return child(a.child, a.path, npy)
    if a.clean:
        for p in (a.path, npy):
            if os.path.exists(p):
                os.unlink(p)
        return None
    try:
        with mmarr.open(a.path) as f:
            meta, size = f.metadata, f.info("vectors")["nbytes"]
        if size != a.mib << 20 or not os.path.exists(npy):
            raise FileNotFoundError
        print(f"reusing {a.path} (built {meta['built']}, {meta['rows']} rows): no preparation")
    except (FileNotFoundError, mmarr.Error, KeyError):
        print(f"preparing {a.mib} MiB of vectors in {a.path} (first run) ...")
        print(f"  prepared in {prepare(a.path, npy, a.mib):.2f} s")
    print(f"{a.instances} program starts at once, each answers one query over {a.mib} MiB:")
    kinds = ["mmarr"] + ([] if a.skip_naive else ["naive"])
    results = {}
    for kind in kinds:
        wall, outs = start_instances(kind, a.instances, a.path, npy)
        results[kind] = outs
        ready = max(o["ready"] for o in outs)
        label = "mmarr.open" if kind == "mmarr" else "naive (np.load)"
        print(f"  {label:<16} wall {wall:6.2f} s  ready in <= {ready * 1000:8.1f} ms  "
              f"query+ready <= {max(o['total'] for o in outs):5.2f} s  "
              f"instances' PSS added {sum(o['pss_kib'] for o in outs) / 1024:7.1f} MiB")
    if "naive" in results:
        assert {o["best"] for o in results["mmarr"]} == {o["best"] for o in results["naive"]}
    print(f"(kept for the next run: {a.path}; --clean removes it)")
    return None


if __name__ == "__main__":
    main()
