#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Datasets that grow (issue #19): appending rows and arrays in place, against the usual ways,
in one run.

    PYTHONPATH=build/python /usr/bin/python3 bench/append/bench_append.py [--dir DIR]
        [--sizes-mib 1,1024,8192] [--appends 20] [--arrays 1,1000,100000] [--out DIR]
        [--smoke]

rows: a growable float64 array of 128 columns (1 KiB rows) filled to each of --sizes-mib,
then --appends appends of 1 MiB of rows (1,024 rows) each, timed from opening the appender to
its commit returning, with fsync and without; "mmarr cold" is the same array stored cold
(zstd 1, 1 MiB chunks: each append compresses one chunk after the file's end). Peers on the
same directory, same rows:
  raw       a plain file opened O_APPEND, write(1 MiB), fsync (or not), close: the floor
  h5py      a chunked dataset with maxshape (None, 128): open, resize, write the rows, close
            (h5py cannot fsync; its fsync row adds os.fsync of the file after close)
  zarr      zarr.open(path, "a") of a (n, 128) array with 1,024-row chunks, .append(rows):
            no fsync in zarr (only the no-fsync column)
  np.save   load the .npy, concatenate, save to a temporary, rename: what .npy users do
            (only at the smallest size: it rewrites everything)
Before each peer's fill, memory is touched (warm_memory) and after it the file is synced and
the kernel's writeback awaited, and each peer makes 5 untimed appends first: on this VM,
writes into page-cache memory the host took back cost ~1.4 ms per MiB more.
The mmarr figure must stay flat across sizes (its cost is the appended bytes, one block of
checksums and the index) and within 1.5x of raw.

arrays: files of K arrays (--arrays) of 16 float32; one appender adding one array per
commit, --appends times: time per append, and the index bytes each append writes (the whole
index is written again: the cost grows with K only through it).

open: a file after 1,000 appended generations against the same arrays written at once:
open + fetch one array, median of 200 (the older generations are never read).

--smoke: 1 and 4 MiB, 3 appends, K up to 100, 50 generations: every result checked, nothing
compared. Medians with min-max. Writes results.md and results.json to --out (default
bench/append/results-<date>/)."""
import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import procmem  # noqa: E402  (bench/procmem.py)

import mmarr  # noqa: E402

COLS = 128
ROW = COLS * 8
MIB = 1 << 20


def rows(n, start=0):
    return (np.arange(start, start + n, dtype="<f8")[:, None] + np.zeros(COLS)).astype("<f8")


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def settle(path):
    """fsync a filled file (a file or a directory tree): the timed appends must not pay for
    the writeback of the fill (the first fsync of an append would flush it all)."""
    if os.path.isdir(path):
        for root, _, names in os.walk(path):
            for n in names:
                _fsync_path(os.path.join(root, n))
    else:
        _fsync_path(path)
    # then until the kernel has nothing left to write back (other files, the journal), and
    # a second more: right after writing GiBs, the first appends of any peer are slower
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with open("/proc/meminfo") as fp:
            kb = {k: int(v.split()[0]) for k, v in (ln.split(":", 1) for ln in fp)}
        if kb.get("Dirty", 0) + kb.get("Writeback", 0) < 16 << 10:
            break
        time.sleep(0.2)
    time.sleep(1)


def warm_memory(mib):
    """This VM hands idle memory back to its host, and taking it back costs ~2.7 ms per MiB
    on first touch (a pwrite into new page-cache pages pays it). Touch `mib` MiB more than
    a peer's file will take, just before filling it, so that no peer's timed writes land on
    memory the host took back (whichever peer ran after another's file was deleted would
    otherwise get the warm pages, and look faster)."""
    a = np.ones(int(mib) << 20, np.uint8)
    del a


def warm(fn, n=5):
    """Right before a timed loop: fresh memory for its page-cache writes (warm_memory: the
    pages freed by an earlier peer's file may have gone back to the host meanwhile), then `n`
    untimed calls."""
    warm_memory(256)
    for _ in range(n):
        fn()


COLD = {"level": 1, "chunk_size": MIB}  # a cold growable array: 1 MiB chunks, zstd 1


def fill_growable(path, mib, capacity_rows, compress=None):
    """A growable array holding `mib` MiB of rows, written in 64 MiB appends of one writer
    (cold with `compress`)."""
    warm_memory(mib + 1024)
    with mmarr.Writer(path, sync=False) as w:
        w.add("x", np.empty((0, COLS), "<f8"), capacity=capacity_rows, compress=compress)
        done, step = 0, (64 * MIB) // ROW
        while done < mib * MIB // ROW:
            n = min(step, mib * MIB // ROW - done)
            w.append("x", rows(n, done))
            done += n
    settle(path)
    return done


def bench_rows(d, sizes, appends, log):
    """Per size: each peer's file filled once, then `appends` appends without fsync and
    `appends` with, on the same file."""
    out = []
    add = rows(MIB // ROW)
    for mib in sizes:
        res = {False: {"part": "rows", "mib": mib, "fsync": False},
               True: {"part": "rows", "mib": mib, "fsync": True}}
        # mmarr, hot (the region reserved) and cold (chunks gained after the end)
        for key, compress in (("mmarr", None), ("mmarr cold", COLD)):
            p = os.path.join(d, f"rows-{mib}.mmarr")
            n0 = fill_growable(p, mib, (mib * MIB + (2 * appends + 11) * MIB) // ROW, compress)
            for sync in (False, True):
                def one():
                    with mmarr.open(p, "a", sync=sync) as w:
                        w.append("x", add)
                warm(one)
                res[sync][key] = [timed(one) for _ in range(appends)]
                if compress is None:
                    res[sync]["index_bytes"] = mmarr.open(p).info()["index_size"]
            f = mmarr.open(p)
            x = f["x"]
            assert x.shape == (n0 + (2 * appends + 10) * len(add), COLS)
            assert x[-1, 0] == add[-1, 0] and x[n0 - 1, 0] == n0 - 1
            f.verify("x")
            del f, x
            os.unlink(p)
        # raw file
        p = os.path.join(d, f"rows-{mib}.raw")
        warm_memory(mib + 1024)
        with open(p, "wb") as fp:
            fp.truncate(mib * MIB)
        for sync in (False, True):
            def one():
                fd = os.open(p, os.O_WRONLY | os.O_APPEND)
                os.write(fd, add)
                if sync:
                    os.fsync(fd)
                os.close(fd)
            warm(one)
            res[sync]["raw"] = [timed(one) for _ in range(appends)]
        os.unlink(p)
        bench_rows_peers(d, mib, appends, add, res)
        for sync in (False, True):
            out.append(res[sync])
            log(f"rows {mib} MiB fsync={sync}: " + ", ".join(
                f"{k} {statistics.median(v) * 1e3:.2f} ms" for k, v in res[sync].items()
                if isinstance(v, list)))
    return out


def _fsync_path(p):
    fd = os.open(p, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def bench_rows_peers(d, mib, appends, add, res):
    try:
        import h5py
    except ImportError:
        h5py = None
    if h5py is not None:
        p = os.path.join(d, f"rows-{mib}.h5")
        warm_memory(mib + 1024)
        with h5py.File(p, "w") as h:
            ds = h.create_dataset("x", shape=(0, COLS), maxshape=(None, COLS), dtype="<f8",
                                  chunks=(1024, COLS))
            done, step = 0, (64 * MIB) // ROW
            while done < mib * MIB // ROW:
                n = min(step, mib * MIB // ROW - done)
                ds.resize(done + n, axis=0)
                ds[done:done + n] = rows(n, done)
                done += n
        settle(p)
        for sync in (False, True):
            def one():
                with h5py.File(p, "a") as h:
                    ds = h["x"]
                    n = ds.shape[0]
                    ds.resize(n + len(add), axis=0)
                    ds[n:] = add
                if sync:  # h5py has no fsync: the file's, after close
                    _fsync_path(p)
            warm(one)
            res[sync]["h5py"] = [timed(one) for _ in range(appends)]
        os.unlink(p)
    try:
        import zarr
    except ImportError:
        zarr = None
    if zarr is not None:  # no fsync in zarr: the no-fsync column only
        import shutil
        p = os.path.join(d, f"rows-{mib}.zarr")
        warm_memory(mib + 1024)
        z = zarr.open(p, mode="w", shape=(0, COLS), chunks=(1024, COLS), dtype="<f8")
        done, step = 0, (64 * MIB) // ROW
        while done < mib * MIB // ROW:
            n = min(step, mib * MIB // ROW - done)
            z.append(rows(n, done))
            done += n
        settle(p)
        warm(lambda: zarr.open(p, mode="a").append(add))  # noqa: E731
        res[False]["zarr"] = [timed(lambda: zarr.open(p, mode="a").append(add))
                              for _ in range(appends)]
        shutil.rmtree(p)
    if mib <= 64:  # rewriting everything: only where it takes seconds, not minutes
        p = os.path.join(d, f"rows-{mib}.npy")
        np.save(p, rows(mib * MIB // ROW))
        settle(p)
        for sync in (False, True):
            def one():
                a = np.load(p)
                tmp = p + ".tmp.npy"
                np.save(tmp, np.concatenate([a, add]))
                if sync:
                    _fsync_path(tmp)
                os.replace(tmp, p)
            warm(one, 1)
            res[sync]["np.save"] = [timed(one) for _ in range(appends)]
        os.unlink(p)


def bench_arrays(d, counts, appends, log):
    out = []
    for k in counts:
        p = os.path.join(d, f"arrays-{k}.mmarr")
        mmarr.save(p, {f"a{i:06d}": np.full(16, i, "<f4") for i in range(k)}, sync=False)
        ts, index = [], []
        for j in range(appends):
            def one():
                with mmarr.open(p, "a", sync=False) as w:
                    w.add(f"new{j:04d}", np.arange(16, dtype="<f4"))
            ts.append(timed(one))
            index.append(mmarr.open(p).info()["index_size"])
        f = mmarr.open(p, verify=True)
        assert len(f) == k + appends
        out.append({"part": "arrays", "k": k, "mmarr": ts, "index_bytes": index[-1]})
        log(f"arrays K={k}: {statistics.median(ts) * 1e3:.2f} ms per append, index "
            f"{index[-1]:,} bytes")
        os.unlink(p)
    return out


def bench_open(d, generations, log):
    p1, pn = os.path.join(d, "open-1.mmarr"), os.path.join(d, "open-n.mmarr")
    arrays = {f"a{i:04d}": np.full(16, i, "<f4") for i in range(generations)}
    mmarr.save(p1, arrays, sync=False)
    mmarr.save(pn, {"a0000": arrays["a0000"]}, sync=False)
    for i in range(1, generations):
        with mmarr.open(pn, "a", sync=False) as w:
            w.add(f"a{i:04d}", arrays[f"a{i:04d}"])
    res = {"part": "open", "generations": generations}
    for name, p in (("one", p1), ("many", pn)):
        ts = []
        for _ in range(200):
            def one():
                with mmarr.open(p) as f:
                    f["a0001"]
            ts.append(timed(one))
        res[name] = ts
        res[name + "_bytes"] = os.path.getsize(p)
    assert mmarr.open(pn).generation == generations
    log(f"open: 1 generation {statistics.median(res['one']) * 1e3:.3f} ms, {generations} "
        f"generations {statistics.median(res['many']) * 1e3:.3f} ms")
    os.unlink(p1)
    os.unlink(pn)
    return [res]


def report(runs, meta):
    def mr(v, fmt="{:.2f}"):  # seconds, shown in ms
        return procmem.median_range(v, 1e-3, fmt)
    lines = [f"# bench/append, {meta['date']}", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in meta["machine"].items()) +
             f"; directory {meta['dir']} ({meta['fs']}).", "",
             "## Appending 1 MiB of rows (1,024 rows of 128 float64) to a growable array", "",
             "ms per append, median (min-max); mmarr/raw is the #19 target (<= 1.5x, flat "
             "across sizes).", "",
             "| holds | fsync | mmarr | raw file | mmarr/raw | mmarr cold | h5py | zarr | "
             "np.save rewrite | index bytes |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in runs if r["part"] == "rows"):
        ratio = statistics.median(r["mmarr"]) / statistics.median(r["raw"])
        lines.append(f"| {r['mib']:,} MiB | {'yes' if r['fsync'] else 'no'} | {mr(r['mmarr'])} "
                     f"| {mr(r['raw'])} | {ratio:.2f}x | {mr(r['mmarr cold'])} | "
                     f"{mr(r['h5py']) if 'h5py' in r else '—'} | "
                     f"{mr(r['zarr']) if 'zarr' in r else '—'} | "
                     f"{mr(r['np.save']) if 'np.save' in r else '—'} | {r['index_bytes']:,} |")
    lines += ["", "## Adding one array to a file of K arrays (no fsync)", "",
              "| K | ms per append | index bytes written per append |", "|---|---|---|"]
    for r in (r for r in runs if r["part"] == "arrays"):
        lines.append(f"| {r['k']:,} | {mr(r['mmarr'])} | {r['index_bytes']:,} |")
    for r in (r for r in runs if r["part"] == "open"):
        lines += ["", "## Opening a file of many generations", "",
                  f"Open + fetch one array, median of 200: written at once "
                  f"{mr(r['one'], '{:.3f}')} ms ({r['one_bytes']:,} bytes); grown by "
                  f"{r['generations']:,} appends {mr(r['many'], '{:.3f}')} ms ({r['many_bytes']:,} "
                  f"bytes, the earlier indexes dead space) = "
                  f"{statistics.median(r['many']) / statistics.median(r['one']):.2f}x."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default=None)
    ap.add_argument("--sizes-mib", default="1,1024,8192")
    ap.add_argument("--appends", type=int, default=30)
    ap.add_argument("--arrays", default="1,1000,100000")
    ap.add_argument("--generations", type=int, default=1000)
    ap.add_argument("--out", default=None)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.sizes_mib, args.appends, args.arrays, args.generations = "1,4", 3, "1,100", 50
    d = args.dir or mmarr._default_share_dir(0)
    tmp = tempfile.mkdtemp(prefix="bench-append-", dir=d)

    def log(msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    runs = []
    try:
        if not args.smoke:  # a discarded round: the process, the libraries, the allocator
            bench_rows(tmp, [1], 5, lambda msg: None)
        runs += bench_rows(tmp, [int(s) for s in args.sizes_mib.split(",")], args.appends, log)
        runs += bench_arrays(tmp, [int(s) for s in args.arrays.split(",")], args.appends, log)
        runs += bench_open(tmp, args.generations, log)
    finally:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    if args.smoke:
        log("smoke: every result checked")
        return
    fs = mmarr._mmarr.pages_of(d)  # (kind, how pages come, fs type, mount point, options)
    fs = f"{fs[2]} at {fs[3]}, {fs[1]}" + (f", {fs[4]}" if fs[4] else "")
    meta = {"date": datetime.date.today().isoformat(), "dir": d, "fs": fs,
            "machine": procmem.machine(mmarr=mmarr)}
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                   f"results-{meta['date']}")
    procmem.write_results(out, report(runs, meta), {"meta": meta, "runs": runs})
    log(f"written to {out}")


if __name__ == "__main__":
    main()
