# SPDX-License-Identifier: MIT
"""Scenario 4: a pool populating a shared 2-D array by row blocks.

A float64 array (131,072 x 1,024: 1 GiB at full scale) is filled by a spawned
multiprocessing.Pool of 4 workers, pool.map over 64 row blocks (row i = a fixed row pattern +
i % 7). The parent then reads it (timed as `read`) and checks every block's sum.

  rawarray     multiprocessing.sharedctypes.RawArray("d", rows * cols) handed to the Pool's
               initializer, np.ctypeslib.as_array(...).reshape in each worker (the usual
               recipe; RawArray zero-fills its memory in the parent)
  memmap       np.memmap(mode="w+") of a file in --dir; the initializer opens it "r+"
  mmarr-share  mmarr.share(empty=..., writable=True) in --dir; the MappedArray is part of
               every task (a reference; the worker maps the file once and keeps it mapped)
  mmarr-file   mmarr.Writer.reserve() + commit into a file in --dir, then mmarr.open(path,
               "r+")["x"] in every task: a file that outlives the program

Whether the result survives a restart is the restart test's (restart.py) for each method."""
import multiprocessing as mp
import os

import numpy as np

import common

NAME = "rows"
METHODS = ("rawarray", "memmap", "mmarr-share", "mmarr-file")
RESTART = {"rawarray": "rawarray", "memmap": "memmap", "mmarr-share": "mmarr-share",
           "mmarr-file": "mmarr-file"}
X = None  # a worker's array when the initializer gave it (rawarray, memmap)


def row_pattern(cols):
    return (np.arange(cols) % 1013).astype(np.float64)


def fill(x, lo, hi):
    """Rows [lo, hi) of x: the row pattern + row % 7, written in one pass."""
    np.add(row_pattern(x.shape[1])[None, :],
           (np.arange(lo, hi) % 7).astype(np.float64)[:, None], out=x[lo:hi])


def want_sum(lo, hi, cols):
    """The sum of rows [lo, hi) as fill() makes them (exact: integers)."""
    return float((hi - lo) * row_pattern(cols).sum() + cols * int((np.arange(lo, hi) % 7).sum()))


def blocks(rows, nblocks):
    return [(rows * b // nblocks, rows * (b + 1) // nblocks) for b in range(nblocks)]


def block_sums(x, spans):
    return [float(x[lo:hi].sum(dtype=np.float64)) for lo, hi in spans]


def prepare(cfg):
    rows, cols = cfg.s4_shape
    spans = blocks(rows, cfg.s4_blocks)
    nbytes = rows * cols * 8
    return {"shape": (rows, cols), "spans": spans,
            "want": [want_sum(lo, hi, cols) for lo, hi in spans], "data_bytes": nbytes,
            "what": f"float64 ({rows:,}, {cols:,}) ({nbytes / common.MIB:,.0f} MiB), "
                    f"{len(spans)} row blocks, a spawned Pool of {cfg.workers}"}


def cleanup(state):
    state.clear()


# --------------------------------------------------------------------------------------------
# The workers

def init(method, ref, shape, gate):
    global X
    common.pool_init(gate)
    if method == "rawarray":
        X = np.ctypeslib.as_array(ref).reshape(shape)
    elif method == "memmap":
        X = np.memmap(ref, np.float64, "r+", shape=shape)


def task(args):
    method, ref, lo, hi, skip = args
    x = X if ref is None else ref
    if not skip:
        fill(x, lo, hi)


# --------------------------------------------------------------------------------------------
# The parent

class _Setup:
    """`init_ref` for the initializer, `task_ref` for each task, `view` for the parent."""

    def __init__(self, method, shape, d):
        self.init_ref = self.task_ref = None
        self.closers = []
        if method == "rawarray":
            from multiprocessing import sharedctypes
            raw = sharedctypes.RawArray("d", shape[0] * shape[1])
            self.view = np.ctypeslib.as_array(raw).reshape(shape)
            self.init_ref = raw
        elif method == "memmap":
            path = os.path.join(d, f"scenario4-{os.getpid()}.f64")
            self.view = np.memmap(path, np.float64, "w+", shape=shape)
            self.init_ref = path
            self.closers.append(lambda: os.unlink(path))
        elif method == "mmarr-share":
            import mmarr
            s = mmarr.share(empty={"x": (shape, "<f8")}, dir=d, writable=True)
            self.view = self.task_ref = s["x"]
            self.closers.append(lambda: common.close_share(s))
        elif method == "mmarr-file":
            import mmarr
            path = os.path.join(d, f"scenario4-{os.getpid()}.mmarr")
            with mmarr.Writer(path, sync=False) as w:
                w.reserve("x", shape, "<f8")
            f = mmarr.open(path, "r+")
            self.view = self.task_ref = f["x"]
            self.closers.append(lambda: (f.close(), os.unlink(path)))
        else:
            raise ValueError(method)

    def close(self):
        self.view = self.task_ref = self.init_ref = None
        for c in self.closers:
            c()


def run(method, cfg, state):
    shape, spans = state["shape"], state["spans"]
    gate = common.Gate(mp.get_context("spawn"), cfg.workers)
    m = common.Meter()
    s = _Setup(method, shape, cfg.dir)
    try:
        m.lap("setup")
        tasks = [(method, s.task_ref, lo, hi, cfg.skip) for lo, hi in spans]
        got = _workers(method, cfg, s, shape, tasks, gate, m)
        rec = m.record(pickled=common.pickled_size(tasks[0]),
                       pickled_once=(common.pickled_size(s.init_ref)
                                     if s.init_ref is not None else 0))
        del tasks
    finally:
        s.close()
    common.check(f"{NAME}/{method}: block sums read by the parent", got, state["want"])
    return rec


def _workers(method, cfg, s, shape, tasks, gate, m):
    """The timed phases: pool.map over the blocks, then the parent reads; its block sums."""
    n = cfg.workers
    pool = mp.get_context("spawn").Pool(n, initializer=init,
                                        initargs=(method, s.init_ref, shape, gate))
    try:
        common.warm_pool(lambda fn, a: pool.apply_async(fn, (a,)), gate)
        m.restart_clock()
        pool.map(task, tasks, chunksize=1)
        m.lap("workers")
        holds = pool.map_async(common.pool_hold, range(n), chunksize=1)
        msgs = gate.gather(common.futures_alive([holds]))
        m.workers_at_barrier(msgs)
        gate.leave.set()
        holds.get(common.WAIT)
        m.restart_clock()
        got = block_sums(s.view, [(lo, hi) for _, _, lo, hi, _ in tasks])  # the parent reads
        m.lap("read")
    finally:
        gate.leave.set()
        pool.close()
        pool.join()
    return got
