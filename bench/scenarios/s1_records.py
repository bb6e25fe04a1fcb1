# SPDX-License-Identifier: MIT
"""Scenario 1: a record table summed by a spawned pool.

A pandas DataFrame of a datetime, a float (5 % NaN) and a 6-byte string column (10 M rows:
240 MB of columns at full scale) is given to 4 spawned ProcessPoolExecutor workers; task i
computes np.nansum of the float column over its quarter of the rows. Every method starts from
the DataFrame, so record methods pay df.to_records(column_dtypes={"sym": "S6"}) in their setup.

  pickle       the record array is the task argument: pickled into every task
  shm          multiprocessing.shared_memory filled with the records; workers build an
               np.recarray over the block's buffer (name, shape and dtype in the task)
  mmarr-table  mmarr.save of the record array (sync=False), its MappedArray the task
               argument: a reference, the workers map the file
  mmarr-frame  mmarr.save of the DataFrame itself (one array per column); the task argument
               is f.frame("df", columns=["when", "val"]), a DataFrame over the mapping whose
               numeric columns pickle as references (the text column, decoded into Python
               str objects, would pickle as data: its size is reported beside)

Each worker's sum is checked against np.nansum of the same rows computed in the parent."""
import multiprocessing as mp
import os

import numpy as np

import common

NAME = "records"
METHODS = ("pickle", "shm", "mmarr-table", "mmarr-frame")
RESTART = {"pickle": "pickle", "shm": "shm", "mmarr-table": "mmarr-save",
           "mmarr-frame": "mmarr-save"}
MODULES = {"mmarr-frame": common.PREIMPORT + ("pandas",)}  # imported by the initializer


def make_frame(rows, seed=20):
    """The DataFrame: datetime64[ns], float64 (~5 % NaN, mean 100) and str of 6 characters."""
    import pandas as pd
    rng = np.random.default_rng(seed)
    when = np.datetime64("2024-01-02T09:30", "ns") + \
        np.cumsum(rng.integers(1, 2000, rows)).astype("m8[ms]").astype("m8[ns]")
    val = 100.0 + rng.standard_normal(rows)
    val[rng.random(rows) < 0.05] = np.nan
    symbols = np.array([f"S{k:05d}" for k in range(10_000)], dtype=object)
    return pd.DataFrame({"when": when, "val": val, "sym": symbols[rng.integers(0, 10_000, rows)]})


def bounds(rows, i, n):
    return rows * i // n, rows * (i + 1) // n


def prepare(cfg):
    df = make_frame(cfg.s1_rows)
    val = df["val"].to_numpy()
    want = [float(np.nansum(val[slice(*bounds(len(df), i, cfg.workers))]))
            for i in range(cfg.workers)]
    mib = df.memory_usage(index=False).sum() / common.MIB
    deep = df.memory_usage(index=False, deep=True).sum() / common.MIB
    return {"df": df, "want": want, "data_bytes": int(df.memory_usage(index=False).sum()),
            "what": f"{len(df):,} rows, {mib:,.0f} MiB of columns ({deep:,.0f} MiB with the "
                    f"str objects), {cfg.workers} spawned ProcessPoolExecutor workers"}


def cleanup(state):
    state.clear()


# --------------------------------------------------------------------------------------------
# The workers

def task(method, arg, i, n, skip):
    """np.nansum of rows [i/n, (i+1)/n) of the float column, the method's way."""
    block = None
    if method == "pickle":
        col = arg["val"]
    elif method == "shm":
        from multiprocessing import shared_memory
        name, shape, dtype = arg
        block = shared_memory.SharedMemory(name=name)
        col = np.recarray(shape, dtype=dtype, buf=block.buf)["val"]
    elif method == "mmarr-table":
        col = arg["val"]
    elif method == "mmarr-frame":
        col = arg["val"].to_numpy()
    else:
        raise ValueError(method)
    lo, hi = bounds(len(col), i, n)
    s = 0.0 if skip else float(np.nansum(col[lo:hi]))
    common.GATE.hold(common.BEFORE, {"i": i, "sum": s})
    del col, arg
    if block is not None:
        block.close()


# --------------------------------------------------------------------------------------------
# The parent

class _Setup:
    """The shared form of the table: `arg` for the tasks, close() to release it."""

    def __init__(self, method, df, d):
        self.closers = []
        if method == "mmarr-frame":
            import mmarr
            path = os.path.join(d, f"scenario1-{os.getpid()}-frame.mmarr")
            mmarr.save(path, {"df": df}, sync=False)
            f = mmarr.open(path)
            self.arg, self.file, self.path = f.frame("df", columns=["when", "val"]), f, path
            self.closers.append(self._close_file)
            return
        rec = df.to_records(index=False, column_dtypes={"sym": "S6"})
        if method == "pickle":
            self.arg = rec
        elif method == "shm":
            from multiprocessing import shared_memory
            block = shared_memory.SharedMemory(create=True, size=rec.nbytes)
            view = np.recarray(rec.shape, dtype=rec.dtype, buf=block.buf)
            view[:] = rec
            del view
            self.arg = (block.name, rec.shape, rec.dtype)
            self.closers.append(lambda: (block.close(), block.unlink()))
        elif method == "mmarr-table":
            import mmarr
            path = os.path.join(d, f"scenario1-{os.getpid()}-table.mmarr")
            mmarr.save(path, {"table": rec}, sync=False)
            f = mmarr.open(path)
            self.arg, self.file, self.path = f["table"], f, path
            self.closers.append(self._close_file)
        else:
            raise ValueError(method)

    def _close_file(self):
        self.file.close()
        os.unlink(self.path)

    def close(self):
        self.arg = None
        for c in self.closers:
            c()


def run(method, cfg, state):
    """One timed run of `method`: a dict of figures (common.Meter)."""
    gate = common.Gate(mp.get_context("spawn"), cfg.workers)
    m = common.Meter()
    s = _Setup(method, state["df"], cfg.dir)
    try:
        m.lap("setup")
        msgs = _workers(method, cfg, s.arg, gate, m)
        rec = m.record()  # before the pickles below, which would raise the parent's peak
        key = ("pickled", method)
        if key not in state:  # deterministic: measured once (a pickle of the table costs)
            state[key] = common.pickled_size((method, s.arg, 0, cfg.workers, False))
            if method == "mmarr-frame":
                state[("note", method)] = (
                    f"the whole frame read back (f[\"df\"], text decoded) would pickle "
                    f"{common.pickled_size(s.file['df']):,} bytes")
    finally:
        s.close()
    got = [r["sum"] for r in sorted((r for _, _, r in msgs), key=lambda r: r["i"])]
    common.check(f"{NAME}/{method}: nansum per task", got, state["want"], rel=1e-12)
    rec.update(pickled=state[key], note=state.get(("note", method), ""))
    return rec


def _workers(method, cfg, arg, gate, m):
    """The timed phase: n tasks on a warm pool; the workers' reports."""
    from concurrent.futures import ProcessPoolExecutor
    n = cfg.workers
    ex = ProcessPoolExecutor(n, mp_context=mp.get_context("spawn"),
                             initializer=common.pool_init,
                             initargs=(gate, MODULES.get(method, common.PREIMPORT)))
    try:
        common.warm_pool(ex.submit, gate)  # workers up and idle: not timed
        m.restart_clock()
        futs = [ex.submit(task, method, arg, i, n, cfg.skip) for i in range(n)]
        msgs = gate.gather(common.futures_alive(futs))
        m.lap("workers")
        m.workers_at_barrier(msgs)
        gate.leave.set()
        for f in futs:
            f.result()
    finally:
        gate.leave.set()
        ex.shutdown()
    return msgs
