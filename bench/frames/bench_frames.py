#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""pandas frames and ragged arrays: mmarr against pickle and np.save/np.load (issue 17).

    PYTHONPATH=build/bench/python /usr/bin/python3 bench/frames/bench_frames.py
        [--rows 4500000] [--items 1000000] [--workers 4] [--repeats 3] [--warmups 1]
        [--dirs /dev/shm/mmarr-bench-frames,/var/tmp/mmarr-bench-frames]
        [--parts 1,2,3] [--dl-methods fork,spawn] [--out DIR] [--smoke] [--profile]

Part 1, save and load a DataFrame (--rows rows of a datetime64[ns] column, a float64 column
with 5 % NaN, an int64 column and two text columns: "sym", 2-5 upper-case letters drawn
from 2,000 symbols (1 % missing), and "note", 1-12 lower-case letters, each its own str
(10 % missing)) in each of --dirs:
  mmarr   mmarr.save(path, {"df": df}) / mmarr.open(path)["df"]; "open+sum" opens the file
          and sums the float and int columns of f.frame("df", columns=["price", "qty"]),
          which builds no text. On a disk also mmarr.save(..., sync=False), since
          the peers do not fsync.
  pickle  df.to_pickle / pd.read_pickle (protocol 5).
  npy     np.save of df.to_records(index=False) with the text columns as fixed-width "S<n>"
          bytes (missing -> b"", so the widths and the sentinel are chosen by the user, here
          outside the timing) / np.load, then a DataFrame again (bytes decoded to str, b"" ->
          None); "open+sum" is np.load(mmap_mode="r") and the sums of the two fields.
Every load is checked once against the original (pandas.testing.assert_frame_equal),
outside the timings.

Part 2, --workers spawned workers (multiprocessing "spawn") sum the float and int columns of
the same frame, each getting it the idiomatic way of its peer:
  none              no data: the floor (a spawned interpreter importing numpy, pandas, mmarr)
  mmarr-frame       the frame read from the file, sent as a Process argument (its numeric
                    columns pickle as references, its text columns as data)
  mmarr-path        the path; the worker reads the two columns (f.frame("df", columns=...))
  mmarr-path-frame  the path; the worker reads the whole frame (mmarr.open(path)["df"])
  pickle            the original DataFrame sent as a Process argument
  pickle-path       the path; the worker runs pd.read_pickle
  npy               the path; the worker runs np.load (a private copy)
  npy-mmap          the path; the worker runs np.load(mmap_mode="r")
Wall time: from the first Process.start() until every worker has its sums. Memory: the
workers' PSS, USS and RSS (psutil memory_full_info), read while every worker still holds
its data (they wait on an Event after computing).

Part 3, --items float32 arrays of random lengths 0..63, stored with
mmarr.save(path, {"x": list_of_arrays}), one epoch by --workers workers:
  (a) torch DataLoader(batch_size=256, shuffle=True, num_workers=N, multiprocessing_context=
      each of --dl-methods) over a Dataset holding a Python list of ndarrays ("list"), or the
      mmarr Ragged of the file opened copy-on-write ("mmarr"); a collate_fn packs each
      batch (indices, lengths, concatenated values), which the main process checks;
  (b) multiprocessing.Pool(N) (fork) mapping over index ranges of the dataset, a module
      global inherited by the workers; each task sums its items.
Each (dataset, loop) runs in a fresh interpreter (so fork children inherit only the
dataset). A thread samples the workers' /proc/PID/smaps_rollup every 0.1 s: "start" is the
first sample after the workers exist, "end" the one after the last batch/result, both while
every worker is alive; "peak" the largest.

Per measurement: --warmups rounds, then --repeats measured rounds, peers interleaved within
each round; medians with min-max. Writes results.md and results.json to --out (default
bench/frames/results-<date>/). Parquet is not measured: Debian 12 packages neither pyarrow
nor fastparquet, and this machine has no PyPI.
--smoke: tiny sizes, 2 workers, 1 round, /dev/shm only: every check (ctest bench_frames_smoke;
exit code 77 when pandas, psutil, torch or mmarr cannot be imported).
--profile: instead, where mmarr's time goes for this frame (plain timings of its numeric and
text columns apart, against pickle, and cProfile of the save and the load): <out>/profile.txt."""
import argparse
import datetime
import gc
import json
import math
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import procmem  # noqa: E402  (bench/procmem.py)
from procmem import Sampler, median_range, rollup  # noqa: E402

if __name__ == "__main__":  # ctest's bench_frames_smoke: skipped, not failed, without them
    procmem.require("bench_frames", "numpy", "pandas", "psutil", "mmarr")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import psutil  # noqa: E402

import mmarr  # noqa: E402

NUMERIC = ("price", "qty")  # the columns part 2 sums (and part 1's "open+sum")
TEXT = ("sym", "note")
MIB = float(1 << 20)


def log(*msg):
    print(f"[{time.strftime('%H:%M:%S')}]", *msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# The data

def make_frame(rows, seed=0):
    """ts, price (5 % NaN), qty, sym (2,000 symbols, 1 % None), note (own str, 10 % None)."""
    rng = np.random.default_rng(seed)
    ts = (np.datetime64("2024-01-02T09:00:00", "ns")
          + np.cumsum(rng.integers(1, 2_000_000_000, rows)).astype("m8[ns]"))
    price = rng.normal(100.0, 10.0, rows)
    price[rng.random(rows) < 0.05] = np.nan
    qty = rng.integers(1, 10_000, rows, dtype=np.int64)
    upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    symbols = ["".join(rng.choice(list(upper), rng.integers(2, 6))) for _ in range(2000)]
    sym = np.array(symbols, dtype=object)[rng.integers(0, len(symbols), rows)]
    sym[rng.random(rows) < 0.01] = None
    lens = rng.integers(1, 13, rows)
    text = (np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", "S1")[
        rng.integers(0, 26, int(lens.sum()))].tobytes().decode("ascii"))
    ends = np.cumsum(lens).tolist()
    note = np.empty(rows, dtype=object)
    note[:] = [text[e - n:e] for e, n in zip(ends, lens.tolist())]
    note[rng.random(rows) < 0.10] = None
    return pd.DataFrame({"ts": ts, "price": price, "qty": qty, "sym": sym, "note": note})


def expected_sums(df):
    return [float(df["price"].sum()), float(df["qty"].sum())]


def sums_of(cols):
    """The sums part 1's open+sum and part 2's workers compute: NaN-skipping float sum, int
    sum (columns: Series or ndarrays)."""
    price, qty = cols["price"], cols["qty"]
    if isinstance(price, pd.Series):
        return [float(price.sum()), float(qty.sum())]
    return [float(np.nansum(price)), float(qty.sum())]


def close(a, b):
    return all(math.isclose(x, y, rel_tol=1e-9) for x, y in zip(a, b))


# --------------------------------------------------------------------------------------------
# Part 1: save / load

def widths(df):
    return {c: max(1, int(df[c].str.len().max())) for c in TEXT}


def npy_records(df, w):
    return df.fillna({c: "" for c in TEXT}).to_records(
        index=False, column_dtypes={c: f"S{w[c]}" for c in TEXT})


def npy_frame(a):
    """A DataFrame from the loaded records: text decoded to str objects, b"" -> None."""
    cols = {}
    for name in a.dtype.names:
        col = a[name]
        if name in TEXT:
            col = col.astype(str).astype(object)
            col[col == ""] = None
        cols[name] = col
    return pd.DataFrame(cols)


def timed(fn, *a, **kw):
    t = time.perf_counter()
    out = fn(*a, **kw)
    return time.perf_counter() - t, out


def part1(args, df):
    w = widths(df)
    runs, checked = [], set()
    want = expected_sums(df)
    for rnd in range(args.warmups + args.repeats):
        for d in args.dirs:
            disk = not d.startswith("/dev/shm")
            base = os.path.join(d, "frame")
            peers = ["mmarr"] + (["mmarr-nosync"] if disk else []) + ["pickle", "npy"]
            for peer in peers:
                r = {"part": 1, "round": rnd, "warmup": rnd < args.warmups, "dir": d,
                     "peer": peer, "load1": os.getloadavg()[0]}
                if peer.startswith("mmarr"):
                    p = base + ".mmarr"
                    r["save"], _ = timed(mmarr.save, p, {"df": df}, sync=peer == "mmarr")
                    r["bytes"] = os.path.getsize(p)
                    if peer == "mmarr":
                        def load():
                            return mmarr.open(p)["df"]

                        def open_sum():
                            with mmarr.open(p) as f:
                                return sums_of(f.frame("df", columns=NUMERIC))
                        r["load"], got = timed(load)
                        if (peer, d) not in checked:
                            pd.testing.assert_frame_equal(got, df)
                            checked.add((peer, d))
                        del got
                        gc.collect()
                        r["open_sum"], s = timed(open_sum)
                        assert close(s, want), (s, want)
                elif peer == "pickle":
                    p = base + ".pkl"
                    r["save"], _ = timed(df.to_pickle, p)
                    r["bytes"] = os.path.getsize(p)
                    r["load"], got = timed(pd.read_pickle, p)
                    if (peer, d) not in checked:
                        pd.testing.assert_frame_equal(got, df)
                        checked.add((peer, d))
                    del got
                else:
                    p = base + ".npy"
                    t = time.perf_counter()
                    rec = npy_records(df, w)
                    r["to_records"] = time.perf_counter() - t
                    np.save(p, rec)
                    r["save"] = time.perf_counter() - t
                    del rec
                    r["bytes"] = os.path.getsize(p)
                    t = time.perf_counter()
                    a = np.load(p)
                    r["np_load"] = time.perf_counter() - t
                    got = npy_frame(a)
                    r["load"] = time.perf_counter() - t
                    if (peer, d) not in checked:
                        pd.testing.assert_frame_equal(got, df)
                        checked.add((peer, d))
                    del a, got

                    def open_sum():
                        a = np.load(p, mmap_mode="r")
                        return sums_of({n: a[n] for n in NUMERIC})
                    r["open_sum"], s = timed(open_sum)
                    assert close(s, want), (s, want)
                gc.collect()
                runs.append(r)
                log(f"part 1 {d} {peer}{' (warm-up)' if r['warmup'] else ''}: " + ", ".join(
                    f"{k} {r[k]:.3f} s" for k in ("save", "load", "open_sum", "np_load")
                    if k in r) + f", {r['bytes'] / MIB:.1f} MiB")
    return runs


# --------------------------------------------------------------------------------------------
# Part 2: spawned workers summing the numeric columns

def p2_sums(kind, payload):
    if kind == "none":
        return None
    if kind in ("mmarr-frame", "pickle"):
        return sums_of(payload)
    if kind == "mmarr-path":
        f = mmarr.open(payload)
        return sums_of(f.frame("df", columns=NUMERIC)), f  # keep the mapping alive
    if kind == "mmarr-path-frame":
        df = mmarr.open(payload)["df"]
        return sums_of(df), df
    if kind == "pickle-path":
        df = pd.read_pickle(payload)
        return sums_of(df), df
    if kind == "npy":
        a = np.load(payload)
        return sums_of({n: a[n] for n in NUMERIC}), a
    if kind == "npy-mmap":
        a = np.load(payload, mmap_mode="r")
        return sums_of({n: a[n] for n in NUMERIC}), a
    raise ValueError(kind)


def p2_worker(kind, payload, ready, go):
    begin = time.perf_counter()  # the Process arguments are unpickled by now
    out = p2_sums(kind, payload)
    held = None
    if isinstance(out, tuple):
        out, held = out  # hold the data (or its mapping) while the parent measures
    ready.put((os.getpid(), begin, time.perf_counter(), out))
    go.wait(900)  # (bounded: an orphan of a killed run ends by itself)
    del held, payload


def mem(pid):
    m = psutil.Process(pid).memory_full_info()
    return {"rss": m.rss, "pss": m.pss, "uss": m.uss}


def p2_round(ctx, kind, payload, n):
    ready, go = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=p2_worker, args=(kind, payload, ready, go), daemon=True)
             for _ in range(n)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    got = [ready.get(timeout=600) for _ in procs]
    wall = time.perf_counter() - t0
    try:
        mems = [mem(p.pid) for p in procs]
        parent = mem(os.getpid())
    finally:
        go.set()
        for p in procs:
            p.join()
    total = {k: sum(m[k] for m in mems) for k in ("rss", "pss", "uss")}
    return {"wall": wall, "workers": total, "parent": parent,
            "arrive": statistics.median(b - t0 for _, b, _, _ in got),
            "compute": statistics.median(e - b for _, b, e, _ in got),
            "sums": [s for _, _, _, s in got]}


P2_KINDS = ("none", "mmarr-frame", "mmarr-path", "mmarr-path-frame", "pickle", "pickle-path",
            "npy", "npy-mmap")


def part2(args, df):
    from multiprocessing.reduction import ForkingPickler
    d = args.dirs[0]
    paths = {"mmarr": os.path.join(d, "frame.mmarr"), "pickle": os.path.join(d, "frame.pkl"),
             "npy": os.path.join(d, "frame.npy")}
    mmarr.save(paths["mmarr"], {"df": df}, sync=False)
    df.to_pickle(paths["pickle"])
    np.save(paths["npy"], npy_records(df, widths(df)))
    t = time.perf_counter()
    df_m = mmarr.open(paths["mmarr"])["df"]
    log(f"part 2: the frame read from {paths['mmarr']} in {time.perf_counter() - t:.1f} s")
    payloads = {"none": None, "mmarr-frame": df_m, "mmarr-path": paths["mmarr"],
                "mmarr-path-frame": paths["mmarr"], "pickle": df,
                "pickle-path": paths["pickle"], "npy": paths["npy"],
                "npy-mmap": paths["npy"]}
    sizes = {}
    for kind, payload in payloads.items():
        t = time.perf_counter()
        sizes[kind] = (len(ForkingPickler.dumps(payload)), time.perf_counter() - t)
    want = expected_sums(df)
    ctx = mp.get_context("spawn")
    runs = []
    for rnd in range(args.warmups + args.repeats):
        for kind in P2_KINDS:
            r = p2_round(ctx, kind, payloads[kind], args.workers)
            for s in r.pop("sums"):
                if kind != "none" and not close(s, want):
                    raise AssertionError(f"part 2 {kind}: sums {s}, want {want}")
            r.update(part=2, round=rnd, warmup=rnd < args.warmups, peer=kind, dir=d,
                     pickle_bytes=sizes[kind][0], pickle_s=sizes[kind][1],
                     load1=os.getloadavg()[0])
            runs.append(r)
            log(f"part 2 {kind}{' (warm-up)' if r['warmup'] else ''}: {r['wall']:.2f} s "
                f"(data in hand at {r['arrive']:.2f} s, computing {r['compute']:.2f} s), "
                f"workers' PSS {r['workers']['pss'] / MIB:,.0f} MiB, USS "
                f"{r['workers']['uss'] / MIB:,.0f} MiB")
    del df_m, payloads
    gc.collect()
    return runs


# --------------------------------------------------------------------------------------------
# Part 3: ragged items, DataLoader and Pool. Datasets are plain sequences (DataLoader takes
# any object with __len__ and __getitem__), so that spawned part-2 workers need no torch.

class ListItems:
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        import torch
        return i, torch.from_numpy(self.items[i])


class RaggedItems(ListItems):
    """The Ragged of the file opened copy-on-write: writable views, so torch.from_numpy
    takes them without a copy or a warning; pickles as a reference (spawn)."""

    def __init__(self, path):
        super().__init__(mmarr.open(path, "c")["x"])


def pack(batch):
    """collate_fn: (indices, lengths, all values concatenated)."""
    import torch
    return (torch.tensor([i for i, _ in batch], dtype=torch.int64),
            torch.tensor([len(t) for _, t in batch], dtype=torch.int64),
            torch.cat([t for _, t in batch]))


def p3_check_batch(idx, lens, vals, want_len, want_sum):
    if not np.array_equal(lens, want_len[idx]):
        raise AssertionError("part 3: wrong lengths")
    got, exp = float(vals.sum(dtype=np.float64)), float(want_sum[idx].sum())
    if not math.isclose(got, exp, rel_tol=1e-6, abs_tol=1e-3):
        raise AssertionError(f"part 3: batch sum {got}, want {exp}")


def hold_at_start(ready, go, *_):  # (worker_init_fn gets the worker id)
    """worker_init_fn / Pool initializer: tell the main process this worker holds its
    dataset, and wait until the main process has taken the "start" sample."""
    ready.put(os.getpid())
    go.wait(900)  # (bounded: an orphan of a killed run ends by itself)


def start_sample(ctx, n):
    """(ready queue, go event, init function) for n workers that wait for the start sample."""
    import functools
    ready, go = ctx.Queue(), ctx.Event()
    return ready, go, functools.partial(hold_at_start, ready, go)


def take_start(sampler, ready, go, n):
    for _ in range(n):
        ready.get(timeout=600)
    start = sampler.sample()  # every worker alive, dataset in hand, nothing fetched yet
    go.set()
    sampler.start()
    return start


def dl_epoch(ds, method, args, seed, want_len, want_sum):
    import torch
    from torch.utils.data import DataLoader
    ctx = mp.get_context(method)
    ready, go, init = start_sample(ctx, args.workers)
    loader = DataLoader(ds, batch_size=256, shuffle=True, num_workers=args.workers,
                        collate_fn=pack, multiprocessing_context=ctx, worker_init_fn=init,
                        generator=torch.Generator().manual_seed(seed))
    seen = np.zeros(len(ds), np.int64)
    t0 = time.perf_counter()
    it = iter(loader)  # starts the workers
    sampler = Sampler([w.pid for w in it._workers])  # (no public list of the pids)
    start = take_start(sampler, ready, go, args.workers)
    t_start = time.perf_counter() - t0
    end = None
    for k, (idx, lens, vals) in enumerate(it):
        idx = idx.numpy()
        p3_check_batch(idx, lens.numpy(), vals.numpy(), want_len, want_sum)
        np.add.at(seen, idx, 1)
        if k == len(loader) - 1:  # the last batch: measure before the workers exit
            wall = time.perf_counter() - t0
            end = sampler.sample()
    _, peak = sampler.stop()
    del it
    if not (seen == 1).all():
        raise AssertionError(f"part 3: {int((seen != 1).sum())} items not seen exactly once")
    return {"wall": wall, "startup": t_start, "start": start, "end": end, "peak": peak}


DATA = None  # part 3 (b): the dataset the fork workers inherit


def pool_task(lo, hi):
    s, n = 0.0, 0
    for i in range(lo, hi):
        a = DATA[i]
        s += float(a.sum(dtype=np.float64))
        n += len(a)
    return s, n


def pool_epoch(args, want_len, want_sum):
    n = len(DATA)
    step = -(-n // (args.workers * 16))
    tasks = [(lo, min(lo + step, n)) for lo in range(0, n, step)]
    ctx = mp.get_context("fork")
    ready, go, init = start_sample(ctx, args.workers)
    t0 = time.perf_counter()
    with ctx.Pool(args.workers, initializer=init) as pool:
        sampler = Sampler([p.pid for p in pool._pool])  # (no public list of the pids)
        start = take_start(sampler, ready, go, args.workers)
        t_start = time.perf_counter() - t0
        out = pool.starmap(pool_task, tasks)
        wall = time.perf_counter() - t0
        end = sampler.sample()  # the workers are alive until the pool is left
        _, peak = sampler.stop()
    s, cnt = sum(o[0] for o in out), sum(o[1] for o in out)
    if cnt != int(want_len.sum()) or not math.isclose(s, float(want_sum.sum()),
                                                      rel_tol=1e-6, abs_tol=1e-3):
        raise AssertionError(f"part 3 pool: {cnt} values summing to {s}")
    return {"wall": wall, "startup": t_start, "start": start, "end": end, "peak": peak}


def p3_child(args):
    """One (dataset, loop) in this fresh interpreter: JSON of its epochs on stdout."""
    json.dump(p3_run(args, *args.child.split(",")), sys.stdout)


def p3_run(args, kind, loop):
    """The epochs of dataset `kind` ("list", "mmarr") in loop `loop` (a DataLoader start
    method, or "pool")."""
    global DATA
    from multiprocessing.reduction import ForkingPickler
    path = os.path.join(args.dirs[0], "ragged.mmarr")
    with mmarr.open(path) as f:
        off = f.read("x/offsets").astype(np.int64)
        cs = np.concatenate([[0.0], np.cumsum(f.read("x"), dtype=np.float64)])
    want_len, want_sum = np.diff(off), cs[off[1:]] - cs[off[:-1]]
    t = time.perf_counter()
    if kind == "list":
        r = mmarr.open(path)["x"]
        ds = ListItems([np.array(a) for a in r])  # each item its own ndarray, own buffer
        del r
        gc.collect()
    else:
        ds = RaggedItems(path)
    built = time.perf_counter() - t
    pickled = len(ForkingPickler.dumps(ds)) if loop == "spawn" else None
    main0 = rollup(os.getpid())
    log(f"part 3 {kind} {loop}: dataset built in {built:.2f} s, main process "
        f"PSS {main0['pss'] / MIB:,.0f} MiB" +
        (f", pickles to {pickled:,} bytes" if pickled else ""))
    runs = []
    for rnd in range(args.warmups + args.repeats):
        if loop == "pool":
            DATA = ds.items
            r = pool_epoch(args, want_len, want_sum)
            DATA = None
        else:
            r = dl_epoch(ds, loop, args, rnd, want_len, want_sum)
        r.update(part=3, round=rnd, warmup=rnd < args.warmups, peer=kind, loop=loop,
                 build_s=built, pickle_bytes=pickled, main_pss=main0["pss"],
                 load1=os.getloadavg()[0])
        runs.append(r)
        gc.collect()
        log(f"part 3 {kind} {loop}{' (warm-up)' if r['warmup'] else ''}: {r['wall']:.2f} s, "
            f"all PSS {r['start']['all_pss'] / MIB:,.0f} -> {r['end']['all_pss'] / MIB:,.0f} "
            f"MiB, anon {r['start']['all_pss_anon'] / MIB:,.0f} -> "
            f"{r['end']['all_pss_anon'] / MIB:,.0f} MiB; workers' USS "
            f"{r['start']['uss'] / MIB:,.0f} -> {r['end']['uss'] / MIB:,.0f} MiB")
    return runs


def make_ragged(n, seed=1):
    rng = np.random.default_rng(seed)
    lens = rng.integers(0, 64, n)
    values = rng.standard_normal(int(lens.sum()), dtype=np.float32)
    ends = np.cumsum(lens)
    return [values[e - k:e].copy() for e, k in zip(ends.tolist(), lens.tolist())]


def part3(args):
    path = os.path.join(args.dirs[0], "ragged.mmarr")
    t = time.perf_counter()
    items = make_ragged(args.items)
    made = time.perf_counter() - t
    t = time.perf_counter()
    mmarr.save(path, {"x": items}, sync=False)
    saved = time.perf_counter() - t
    t = time.perf_counter()
    r = mmarr.open(path)["x"]
    opened = time.perf_counter() - t
    assert len(r) == len(items) and all(np.array_equal(r[i], items[i])
                                        for i in range(0, len(items), 997))
    info = {"items": len(items), "values": int(sum(map(len, items))),
            "file_bytes": os.path.getsize(path), "make_list_s": made, "save_s": saved,
            "open_s": opened}
    del r, items
    gc.collect()
    log(f"part 3: {info['items']:,} arrays, {info['values']:,} float32 values, saved in "
        f"{saved:.2f} s, {info['file_bytes'] / MIB:.1f} MiB")
    runs = []
    for kind in ("list", "mmarr"):
        for loop in args.dl_methods + ["pool"]:
            if args.smoke:  # in this process: seconds saved, the same checks
                runs += p3_run(args, kind, loop)
                continue
            out = subprocess.run([sys.executable, os.path.abspath(__file__), *sys.argv[1:],
                                  "--child", f"{kind},{loop}"],
                                 stdout=subprocess.PIPE, check=True).stdout
            runs += json.loads(out)
    return runs, info


# --------------------------------------------------------------------------------------------
# The report

def machine():
    try:
        import torch
    except ImportError:
        torch = "absent"
    return procmem.machine(pandas=pd, torch=torch, psutil=psutil, mmarr=mmarr)


def med(values):
    return statistics.median(values) if values else float("nan")


def mr(values, scale=1.0, fmt="{:.2f}"):
    return median_range(values, scale, fmt)


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "—"


def report(args, info, runs, part3_info):
    today = datetime.date.today().isoformat()
    loads = [r["load1"] for r in runs]
    out = [f"# bench/frames, {today}", "",
           "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()) +
           (f"; 1-minute load average during the run {min(loads):.1f}-{max(loads):.1f}"
            if loads else "") + ".", "",
           f"{args.repeats} measured rounds after {args.warmups} warm-up; seconds or MiB, "
           f"median (min-max); peers interleaved in each round. Parquet: not measured "
           f"(Debian 12 has no pyarrow or fastparquet package; no PyPI here).", ""]
    meas = [r for r in runs if not r["warmup"]]
    p1 = [r for r in meas if r["part"] == 1]
    if p1:
        out += [f"## 1. Save and load a DataFrame of {info['rows']:,} rows",  "",
                f"Columns: {info['dtypes']}. pandas memory_usage: {info['mem_shallow'] / MIB:,.0f} "
                f"MiB shallow, {info['mem_deep'] / MIB:,.0f} MiB deep (with the str objects). "
                f"npy text widths: {info['widths']}. Files in the page cache (written just "
                f"before); every load checked once with assert_frame_equal.", "",
                "| dir | peer | save s | file MiB | load s (to a DataFrame) | open + sum 2 "
                "numeric columns s | np.load alone s |", "|---|---|---|---|---|---|---|"]
        for d in args.dirs:
            for peer in ("mmarr", "mmarr-nosync", "pickle", "npy"):
                rs = [r for r in p1 if r["dir"] == d and r["peer"] == peer]
                if not rs:
                    continue
                cell = lambda k: mr([r[k] for r in rs if k in r], fmt="{:.3f}")  # noqa: E731
                out.append(f"| {d} | {peer} | {cell('save')} | {rs[0]['bytes'] / MIB:,.1f} | "
                           f"{cell('load')} | {cell('open_sum')} | {cell('np_load')} |")
        out += ["", "Ratios of medians (mmarr / peer; < 1: mmarr faster or smaller):", ""]
        for d in args.dirs:
            m = {peer: {k: med([r[k] for r in p1 if r["dir"] == d and r["peer"] == peer
                                and k in r]) for k in ("save", "load", "open_sum", "bytes")}
                 for peer in ("mmarr", "pickle", "npy")}
            for peer in ("pickle", "npy"):
                line = (f"- {d}, mmarr / {peer}: save {ratio(m['mmarr']['save'], m[peer]['save'])}"
                        f", load {ratio(m['mmarr']['load'], m[peer]['load'])}, file "
                        f"{ratio(m['mmarr']['bytes'], m[peer]['bytes'])}; mmarr open+sum / "
                        f"{peer} load {ratio(m['mmarr']['open_sum'], m[peer]['load'])}")
                if peer == "npy":
                    line += (f", mmarr open+sum / npy mmap open+sum "
                             f"{ratio(m['mmarr']['open_sum'], m['npy']['open_sum'])}")
                out.append(line)
    p2 = [r for r in meas if r["part"] == 2]
    if p2:
        floor = {k: med([r["workers"][k] for r in p2 if r["peer"] == "none"])
                 for k in ("pss", "uss")}
        out += ["", f"## 2. {args.workers} spawned workers sum the float and int columns", "",
                "Files in " + p2[0]["dir"] + ". wall: first Process.start() to every worker "
                "holding its sums; data: median time at which a worker's target began "
                "(Process arguments unpickled) and then how long it took to compute its sums "
                "(loading included for the path peers). Memory: sums over the workers, read "
                "while all hold their data; above floor = workers' PSS minus the no-data "
                "floor's. pickle = bytes of the Process argument as spawn sends it (to "
                "each worker).", "",
                "| peer | wall s | target began s | compute s | workers' PSS MiB | above floor "
                "| USS MiB | RSS MiB | pickle, bytes |", "|---|---|---|---|---|---|---|---|---|"]
        for kind in P2_KINDS:
            rs = [r for r in p2 if r["peer"] == kind]
            if not rs:
                continue
            w = lambda k: [r["workers"][k] for r in rs]  # noqa: E731
            out.append(f"| {kind} | {mr([r['wall'] for r in rs])} | "
                       f"{mr([r['arrive'] for r in rs])} | {mr([r['compute'] for r in rs])} | "
                       f"{mr(w('pss'), MIB, '{:,.0f}')} | "
                       f"{(med(w('pss')) - floor['pss']) / MIB:,.0f} | "
                       f"{mr(w('uss'), MIB, '{:,.0f}')} | {mr(w('rss'), MIB, '{:,.0f}')} | "
                       f"{rs[0]['pickle_bytes']:,} |")
        m = {k: {"wall": med([r["wall"] for r in p2 if r["peer"] == k]),
                 "pss": med([r["workers"]["pss"] for r in p2 if r["peer"] == k]) - floor["pss"]}
             for k in P2_KINDS}
        out += ["", "Ratios of medians (wall time; memory above the floor):", ""]
        for mine in ("mmarr-path", "mmarr-frame"):
            for peer in ("pickle", "pickle-path", "npy", "npy-mmap"):
                out.append(f"- {mine} / {peer}: wall {ratio(m[mine]['wall'], m[peer]['wall'])}"
                           f", workers' PSS above floor "
                           f"{ratio(m[mine]['pss'], m[peer]['pss'])}")
    p3 = [r for r in meas if r["part"] == 3]
    if p3:
        pi = part3_info
        out += ["", f"## 3. {pi['items']:,} float32 arrays of lengths 0..63, one epoch by "
                f"{args.workers} workers", "",
                f"{pi['values']:,} values ({pi['values'] * 4 / MIB:,.0f} MiB); "
                f"mmarr.save of the list {pi['save_s']:.2f} s, file {pi['file_bytes'] / MIB:,.0f}"
                f" MiB, opening it and its Ragged {pi['open_s'] * 1e3:.1f} ms. Loops: dl-<start "
                f"method> = DataLoader(batch_size=256, shuffle=True, collate_fn=pack); pool = "
                f"Pool (fork).starmap over index ranges. start = when every worker holds its "
                f"dataset and has read no item (a worker_init_fn / Pool initializer signals, "
                f"then waits for the sample); end = after the last batch/result, all workers "
                f"alive. epoch s: from starting the workers to the last batch/result; startup "
                f"s: until every worker held its dataset. all = main process + workers at one "
                f"instant: their PSS adds up to the memory they use (the mmarr file's tmpfs "
                f"pages count once they are mapped); anon growth = growth of all processes' "
                f"anonymous PSS over the epoch = copies made (copy-on-write). USS growth: the "
                f"workers' (copies, but also file pages that only one worker maps). main "
                f"before = the main process's PSS with its dataset, before the workers.", "",
                "| loop | dataset | epoch s | startup s | all PSS start | all PSS end | anon "
                "growth | workers' PSS start | workers' PSS end | workers' USS growth | main "
                "before | pickle, bytes |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        f = "{:,.0f}"
        for loop in args.dl_methods + ["pool"]:
            for kind in ("list", "mmarr"):
                rs = [r for r in p3 if r["loop"] == loop and r["peer"] == kind]
                if not rs:
                    continue
                g = lambda w, k: [r[w][k] for r in rs]  # noqa: E731
                grow = lambda k: [r["end"][k] - r["start"][k] for r in rs]  # noqa: E731
                out.append(
                    f"| {'dl-' + loop if loop != 'pool' else loop} | {kind} | "
                    f"{mr([r['wall'] for r in rs])} | {mr([r['startup'] for r in rs])} | "
                    f"{mr(g('start', 'all_pss'), MIB, f)} | {mr(g('end', 'all_pss'), MIB, f)} | "
                    f"{mr(grow('all_pss_anon'), MIB, f)} | "
                    f"{mr(g('start', 'pss'), MIB, f)} | {mr(g('end', 'pss'), MIB, f)} | "
                    f"{mr(grow('uss'), MIB, f)} | {rs[0]['main_pss'] / MIB:,.0f} | "
                    f"{rs[0]['pickle_bytes'] if rs[0]['pickle_bytes'] is not None else '—'} |")
        out += ["", "Ratios of medians (list / mmarr):", ""]
        for loop in args.dl_methods + ["pool"]:
            ms = {k: [r for r in p3 if r["loop"] == loop and r["peer"] == k]
                  for k in ("list", "mmarr")}
            if not all(ms.values()):
                continue
            v = {k: {"wall": med([r["wall"] for r in rs]),
                     "anon": med([r["end"]["all_pss_anon"] - r["start"]["all_pss_anon"]
                                  for r in rs]),
                     "all": med([r["end"]["all_pss"] for r in rs])} for k, rs in ms.items()}
            out.append(f"- {'dl-' + loop if loop != 'pool' else loop}: epoch "
                       f"{ratio(v['list']['wall'], v['mmarr']['wall'])}, all processes' PSS "
                       f"at the end {ratio(v['list']['all'], v['mmarr']['all'])}; copies made "
                       f"during the epoch {v['list']['anon'] / MIB:,.0f} MiB against "
                       f"{v['mmarr']['anon'] / MIB:,.0f} MiB")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# --profile: where mmarr's time goes when a frame has text columns

def profile(args):
    """Plain timings (median of 3, after a warm-up) of mmarr.save / mmarr.open()[...] for the
    whole frame, its numeric columns alone and each text column alone, with pickle's for the
    same columns; then cProfile of the whole frame's save and load. Written to
    <out>/profile.txt."""
    import cProfile
    import io
    import pstats
    os.makedirs(args.dirs[0], exist_ok=True)
    path = os.path.join(args.dirs[0], "profile.mmarr")
    pkl = os.path.join(args.dirs[0], "profile.pkl")
    df = make_frame(args.rows)
    lines = [f"bench_frames.py --profile: {args.rows:,} rows, files in {args.dirs[0]}, "
             f"{datetime.datetime.now().isoformat(timespec='seconds')}; machine: "
             + ", ".join(f"{k} {v}" for k, v in machine().items()), "",
             "Plain timings, median (min-max) of 3 after a warm-up, seconds:", "",
             "| columns | mmarr save | mmarr load | pickle save | pickle load |",
             "|---|---|---|---|---|"]
    parts = {"all five": list(df.columns), "ts, price, qty": ["ts", "price", "qty"],
             "sym (2,000 distinct)": ["sym"], "note (all distinct)": ["note"]}
    try:
        for label, cols in parts.items():
            sub = df[cols]
            t = {k: [] for k in ("ms", "ml", "ps", "pl")}
            for rnd in range(4):
                ms, _ = timed(mmarr.save, path, {"df": sub}, sync=False)
                ml, got = timed(lambda: mmarr.open(path)["df"])
                del got
                ps, _ = timed(sub.to_pickle, pkl)
                pl, got = timed(pd.read_pickle, pkl)
                del got
                gc.collect()
                if rnd:
                    for k, v in zip(t, (ms, ml, ps, pl)):
                        t[k].append(v)
            lines.append(f"| {label} | " + " | ".join(mr(t[k], fmt="{:.3f}") for k in t) + " |")
            log(lines[-1])
        for what, call in (("save", lambda: mmarr.save(path, {"df": df}, sync=False)),
                           ("load", lambda: mmarr.open(path)["df"])):
            prof = cProfile.Profile()
            prof.enable()
            got = call()
            prof.disable()
            del got
            for order in ("tottime", "cumulative"):
                text = io.StringIO()
                pstats.Stats(prof, stream=text).strip_dirs().sort_stats(order).print_stats(18)
                lines += ["", f"cProfile of the whole frame's {what}, by {order}:", "", "```",
                          text.getvalue().strip(), "```"]
    finally:
        for p in (path, pkl):
            if os.path.exists(p):
                os.unlink(p)
        try:
            os.rmdir(args.dirs[0])
        except OSError:
            pass  # not empty: not ours alone
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "profile.txt"), "w") as fp:
        fp.write("\n".join(lines) + "\n")
    log(f"written to {os.path.join(args.out, 'profile.txt')}")


# --------------------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=4_500_000)
    p.add_argument("--items", type=int, default=1_000_000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmups", type=int, default=1)
    p.add_argument("--dirs", default="/dev/shm/mmarr-bench-frames,/var/tmp/mmarr-bench-frames",
                   help="comma-separated; the first also holds parts 2 and 3's files")
    p.add_argument("--parts", default="1,2,3")
    p.add_argument("--dl-methods", default="fork,spawn")
    p.add_argument("--warm-gib", type=float, default=3.0,
                   help="touch this much memory first (this VM charges first touches)")
    p.add_argument("--out", default=None)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--profile", action="store_true",
                   help="only profile mmarr's frame save/load (writes <out>/profile.txt)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)  # "dataset,loop"
    a = p.parse_args(argv)
    if a.smoke:
        a.rows, a.items, a.workers, a.repeats, a.warmups, a.warm_gib = 20_000, 5_000, 2, 1, 0, 0
        if "--dirs" not in (argv or sys.argv):
            a.dirs = f"/dev/shm/mmarr-bench-frames-smoke-{os.getpid() if not a.child else 'c'}"
    a.dirs = a.dirs.split(",")
    a.parts = {int(x) for x in a.parts.split(",")}
    a.dl_methods = [m for m in a.dl_methods.split(",") if m]
    a.out = a.out or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  f"results-{datetime.date.today().isoformat()}")
    return a


def main():
    args = parse_args()
    warnings.filterwarnings("ignore", message="This DataLoader will create")  # > CPU count
    if 3 in args.parts and not args.profile:
        procmem.require("bench_frames", "torch")  # (machine() and part 3)
    if args.child:
        p3_child(args)
        return
    if args.profile:
        profile(args)
        return
    if args.smoke:  # the children must find the parent's directory
        sys.argv += ["--dirs", ",".join(args.dirs)]
    for d in args.dirs:
        os.makedirs(d, exist_ok=True)
    if args.warm_gib:
        t = time.perf_counter()
        np.ones(int(args.warm_gib * (1 << 30)) // 8).sum()
        log(f"touched {args.warm_gib} GiB in {time.perf_counter() - t:.1f} s")
    runs, info, p3info = [], {}, None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up the files first

    def keep():  # what was measured so far, should a later part fail
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "partial.json"), "w") as fp:
            json.dump({"frame": info, "runs": runs}, fp)
    try:
        if args.parts & {1, 2}:
            t = time.perf_counter()
            df = make_frame(args.rows)
            info = {"rows": args.rows, "dtypes": ", ".join(f"{c} {t}" for c, t in
                                                            df.dtypes.astype(str).items()),
                    "mem_shallow": int(df.memory_usage(deep=False).sum()),
                    "mem_deep": int(df.memory_usage(deep=True).sum()), "widths": widths(df),
                    "make_s": time.perf_counter() - t}
            log(f"frame: {args.rows:,} rows, {info['mem_shallow'] / MIB:,.0f} MiB shallow, "
                f"{info['mem_deep'] / MIB:,.0f} MiB deep, made in {info['make_s']:.1f} s")
            if 1 in args.parts:
                runs += part1(args, df)
                keep()
            if 2 in args.parts:
                runs += part2(args, df)
                keep()
            del df
            gc.collect()
        if 3 in args.parts:
            p3runs, p3info = part3(args)
            runs += p3runs
    finally:
        for d in args.dirs:
            for name in ("frame.mmarr", "frame.pkl", "frame.npy", "ragged.mmarr"):
                try:
                    os.unlink(os.path.join(d, name))
                except FileNotFoundError:
                    pass
            try:
                os.rmdir(d)
            except OSError:
                pass  # not empty: not ours alone
    text = report(args, info, runs, p3info)
    print(text)
    procmem.write_results(args.out, text, {
        "args": {k: (sorted(v) if isinstance(v, set) else v) for k, v in vars(args).items()
                 if k != "child"},
        "machine": machine(), "frame": info, "part3": p3info, "runs": runs})
    if os.path.exists(os.path.join(args.out, "partial.json")):
        os.unlink(os.path.join(args.out, "partial.json"))
    log(f"written to {args.out}")


if __name__ == "__main__":
    main()
