#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""mmarr under dask.distributed against its peers (issue 15, item 4).

    PYTHONPATH=build/python /usr/bin/python3 bench/dask/run.py [--size 8GiB] [--smoke]
        [--dir-disk D] [--dir-tmpfs /dev/shm/D] [--repeats 3] [--out DIR]

On a LocalCluster(n_workers=4, threads_per_worker=1, processes=True, host="127.0.0.1"):
A) x.sum(axis=0) and x.mean(axis=1) of a float32 matrix (rows x 2048) read by each peer
   (daskbench/peers.py), on disk and on tmpfs; B) a dask array of half the rows written by
   each peer. Method: the source mmarr file is written once on disk; per medium each peer's
   file is made from it, the workers are restarted (fresh processes), each operation is
   run once to warm up and then --repeats times, measuring wall time, bytes sent by all
   processes and the workers' PSS (daskbench/measure.py); then the file is deleted, so tmpfs
   never holds two peers' copies. Every result is checked against numpy. Prints a markdown
   table and writes it with the raw runs to DIR (default bench/dask/results-<date>/).
--smoke: 64 MiB, 4 MiB chunks, 1 repeat, everything checked, nothing timed against targets."""
import argparse
import datetime
import os
import pickle
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# the workers import daskbench (and mmarr) through PYTHONPATH
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (HERE, os.environ.get("PYTHONPATH")) if p)

import dask  # noqa: E402
import numpy as np  # noqa: E402
from dask.array.core import normalize_chunks  # noqa: E402
from dask.base import collections_to_dsk  # noqa: E402
from dask.utils import parse_bytes  # noqa: E402

import mmarr.dask  # noqa: E402
from daskbench import data, peers, report  # noqa: E402
from daskbench.measure import Cluster, measure, pss  # noqa: E402

OPS = {"sum0": lambda x: x.sum(axis=0), "mean1": lambda x: x.mean(axis=1)}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", default="8GiB", help="bytes of the matrix (default 8GiB)")
    p.add_argument("--smoke", action="store_true", help="64 MiB, 4 MiB chunks, 1 repeat")
    p.add_argument("--dir-disk", default="/var/tmp/mmarr-bench-dask")
    p.add_argument("--dir-tmpfs", default="/dev/shm/mmarr-bench-dask")
    p.add_argument("--media", default="disk,tmpfs")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--chunk-size", default=None,
                   help="dask's array.chunk-size (default: dask's own, 128MiB)")
    p.add_argument("--naive-cap", default="1GiB",
                   help="memmap-naive reads at most this many bytes of the matrix")
    p.add_argument("--timeout", type=float, default=900, help="seconds per computation")
    p.add_argument("--skip-write", action="store_true", help="no part B")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    if a.smoke:
        a.size, a.repeats, a.chunk_size = "64MiB", 1, a.chunk_size or "4MiB"
    return a


def tasks_of(y):
    """(number of tasks, bytes of the largest task) of y's optimized graph: what the
    client sends the scheduler and the scheduler a worker for one task, data references
    included (or the data itself, for a peer that puts it in the graph)."""
    dsk = collections_to_dsk([y], optimize_graph=True)
    return len(dsk), max(_task_bytes(t) for t in dsk.values())


def _task_bytes(task):
    try:
        return len(pickle.dumps(task, protocol=5))
    except Exception:  # noqa: BLE001 (then as distributed sends what pickle cannot)
        from distributed.protocol import serialize
        _, frames = serialize(task, serializers=("dask", "pickle"), on_error="raise")
        return sum(memoryview(f).nbytes for f in frames)


class Bench:
    def __init__(self, args):
        self.args = args
        row_bytes = data.COLS * data.DTYPE.itemsize
        self.rows = parse_bytes(args.size) // row_bytes // data.GEN_ROWS * data.GEN_ROWS
        self.naive_rows = min(self.rows, parse_bytes(args.naive_cap) // row_bytes)
        self.runs, self.prep, self.refs, self.notes = [], {}, {}, []
        os.makedirs(args.dir_disk, exist_ok=True)
        self.source = os.path.join(args.dir_disk, "source.mmarr")

    def log(self, *msg):
        print(f"[{time.strftime('%H:%M:%S')}]", *msg, file=sys.stderr, flush=True)

    def timed_prep(self, what, fn):
        t = time.perf_counter()
        fn()
        self.prep[what] = time.perf_counter() - t
        self.log(f"{what}: {self.prep[what]:.1f} s")

    def reference(self, rows):
        if rows not in self.refs:
            self.refs[rows] = data.reference(self.source, rows)
        return self.refs[rows]

    def record(self, part, medium, peer, op, warmup, figures, **more):
        r = {"part": part, "medium": medium, "peer": peer, "op": op, "warmup": warmup,
             **figures, **more}
        self.runs.append(r)
        self.log(f"{part} {medium} {peer} {op}{' (warm-up)' if warmup else ''}: "
                 f"{r['wall']:.2f} s, {r['bytes']:,} B, PSS peak {r['pss_peak'] >> 20} MiB, "
                 f"ok={r['ok']}" + (f" {r['error']}" if r["error"] else ""))

    def read_peer(self, medium, peer, path):
        c = self.cluster
        c.restart()
        idle = pss(c.pids)
        rows = self.naive_rows if peer == "memmap-naive" else self.rows
        keep = []
        chunks = normalize_chunks((self.chunks[0][0], data.COLS), (rows, data.COLS))
        x = peers.read_array(peer, path, rows, chunks, keep)
        ref = self.reference(rows) if peer != "ones" else {
            "sum0": np.full(data.COLS, float(rows)), "mean1": np.ones(rows)}
        for op, fn in OPS.items():
            y = fn(x)
            ntasks, task_bytes = tasks_of(y)
            for i in range(1 + self.args.repeats):
                value, fig = measure(c, lambda t: c.client.compute(y).result(timeout=t),
                                     self.args.timeout)
                ok, err = (False, None) if fig["error"] else data.check(op, value, ref[op], rows)
                self.record("read", medium, peer, op, i == 0, fig, ok=ok, max_abs_err=err,
                            tasks=ntasks, task_bytes=task_bytes, pss_idle=idle,
                            data_bytes=rows * data.COLS * data.DTYPE.itemsize)
        for h in keep:
            h.close()

    def read_part(self, medium, d):
        stores = []
        for peer, store in peers.READ_PEERS:
            if store not in stores:
                stores.append(store)
        for store in stores:
            path = None
            if store == "mmarr" and medium == "disk":
                path = self.source
            elif store is not None:
                path = os.path.join(d, peers.store_name(store))
                self.timed_prep(f"{medium} {store}", lambda: peers.make_store(
                    store, self.source, path, self.chunks[0][0]))
            try:
                for peer, s in peers.READ_PEERS:
                    if s == store:
                        self.read_peer(medium, peer, path)
            finally:
                if path and path != self.source:
                    data.remove(path)

    def write_part(self, medium, d):
        c = self.cluster
        half = self.rows // 2
        y = mmarr.dask.from_mmarr(self.source, "x")[:half] * np.float32(2) + 1
        ntasks, task_bytes = tasks_of(y)
        if "hdf5" not in self.prep:  # da.to_hdf5 once, to record what happens
            path = os.path.join(d, "to_hdf5.h5")
            _, fig = measure(c, lambda t: peers.write("hdf5", y, path), None)
            self.prep["hdf5"] = fig["error"] or "worked"
            self.notes.append(f"da.to_hdf5 on the process cluster: {self.prep['hdf5']}")
            peers.remove_output(path)
        for peer in peers.WRITE_PEERS:
            c.restart()
            idle = pss(c.pids)
            path = os.path.join(d, peers.out_name(peer))
            for i in range(1 + self.args.repeats):
                peers.remove_output(path)
                _, fig = measure(c, lambda t: peers.write(peer, y, path), None)
                last = i == self.args.repeats  # checked once, after the last run
                ok = not fig["error"] and (not last or
                                           peers.check_written(peer, path, self.source, half))
                self.record("write", medium, peer, "write", i == 0, fig, ok=bool(ok),
                            tasks=ntasks, task_bytes=task_bytes, pss_idle=idle,
                            data_bytes=half * data.COLS * data.DTYPE.itemsize)
            peers.remove_output(path)

    def run(self):
        a = self.args
        self.timed_prep("source", lambda: data.write_source(self.source, self.rows))
        self.chunks = mmarr.dask.from_mmarr(self.source, "x").chunks
        self.log(f"{self.rows} x {data.COLS} float32, chunks of {self.chunks[0][0]} rows")
        self.cluster = Cluster()
        try:
            self.idle_rate = self.cluster.idle
            for medium in a.media.split(","):
                d = a.dir_disk if medium == "disk" else a.dir_tmpfs
                os.makedirs(d, exist_ok=True)
                self.read_part(medium, d)
                if not a.skip_write:
                    self.write_part(medium, d)
        finally:
            self.cluster.close()
            data.remove(self.source)
            if os.path.isdir(a.dir_tmpfs):
                os.rmdir(a.dir_tmpfs)

    def output(self):
        a = self.args
        rows = report.summarize(self.runs)
        full = self.rows * data.COLS * data.DTYPE.itemsize
        head = (f"## {self.rows} x {data.COLS} float32 ({full / 2**30:.3g} GiB), "
                f"chunks of {self.chunks[0][0]} rows ({len(self.chunks[0])} chunks), "
                f"{a.repeats} timed repeats after 1 warm-up, {date()}\n\n"
                f"Machine: {platform.node()}, {os.cpu_count()} cores, "
                f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB; "
                f"disk = {a.dir_disk}, tmpfs = {a.dir_tmpfs}; idle cluster traffic "
                f"{self.idle_rate:,.0f} B/s.\n")
        text = "\n".join([head, "### A) reductions\n", report.read_table(rows, full),
                          "\n### targets (mmarr)\n", report.targets(rows)])
        if not a.skip_write:
            text += ("\n\n### B) writing y = x[:rows/2] * 2 + 1 "
                     f"({full / 2**31:.3g} GiB)\n\n" + report.write_table(rows, self.notes))
        print(text)
        raw = {"args": vars(a), "rows": self.rows, "chunks_rows": self.chunks[0][0],
               "prep_seconds": self.prep, "idle_rate": self.idle_rate, "notes": self.notes,
               "summary": rows, "runs": self.runs, "uname": platform.uname()._asdict()}
        out = a.out or os.path.join(HERE, f"results-{date()}" + ("-smoke" if a.smoke else ""))
        report.save(out, text, raw)
        bad = [r for r in rows if not r["ok"] and r["peer"] != "memmap-naive"]
        return 1 if bad else 0


def date():
    return datetime.date.today().isoformat()


def main():
    args = parse_args()
    with dask.config.set({"array.chunk-size": args.chunk_size or
                          dask.config.get("array.chunk-size")}):
        b = Bench(args)
        b.run()
        return b.output()


if __name__ == "__main__":
    sys.exit(main())
