# SPDX-License-Identifier: MIT
"""Scenario 3: many large arrays for many processes.

The data: float32 arrays of equal size (1,024 of 16 MiB, 16 GiB, at full scale) stored as
.npy files in --dir, written once before the runs (not timed; their page cache is left
out of the machine's memory figures except for npy-mmap, which maps them). 12
multiprocessing.Process workers each sum every array (a first pass over all of it) and
hold them at the barrier.

  copies    each worker np.load()s every array: a private copy per process. Where the
            copies cannot fit (12 x 16 GiB), measured at two sizes that fit and extrapolated
            linearly to the full size (marked)
  fork      the parent np.load()s every array into a Python list (a module global) and forks
            the workers, which iterate over the list: copy-on-write, where the reference
            counts written by the iteration copy the pages they live on (the workers' USS
            added shows how much)
  shm       one multiprocessing.shared_memory block per array, filled from the .npy file;
            workers attach each by name
  npy-mmap  no setup: workers np.load(mmap_mode="r") every file (the page cache shared)
  mmarr     the arrays packed once into one mmarr file in --dir (mmarr.Writer, sync=False:
            setup), the File pickled to the workers (a reference), which map every array

Every worker's per-array sums are checked. Methods that need more memory than 80 % of
MemAvailable run at two fitting sizes and are extrapolated."""
import multiprocessing as mp
import os
import pickle

import numpy as np

import common

NAME = "many"
METHODS = ("copies", "fork", "shm", "npy-mmap", "mmarr")
RESTART = {"copies": "npy", "fork": "fork", "shm": "shm", "npy-mmap": "npy",
           "mmarr": "mmarr-save"}
ARRAYS = None  # the fork method's list, inherited by the forked workers


def prepare(cfg):
    count = max(1, int(cfg.s3_total // cfg.s3_array))
    n = int(cfg.s3_array // 4)
    d = os.path.join(cfg.dir, f"scenario3-{os.getpid()}")
    os.makedirs(d)
    need = count * n * 4 * 2 + (1 << 30)  # the sources and one packed copy
    free = os.statvfs(d).f_bavail * os.statvfs(d).f_frsize
    if free < need:
        raise SystemExit(f"scenario 3 needs {need / common.GIB:.1f} GiB free in {cfg.dir} "
                         f"(has {free / common.GIB:.1f}): use --dir or a smaller --scale")
    t = common.now()
    base = (np.arange(n) % 1000).astype(np.float32)
    base_sum = float(base.sum(dtype=np.float64))
    paths, want = [], []
    for k in range(count):
        p = os.path.join(d, f"a{k:05d}.npy")
        np.save(p, base + np.float32(k))
        paths.append(p)
        want.append(base_sum + k * n)
    common.log(f"{NAME}: wrote {count} arrays ({count * n * 4 / common.GIB:.2f} GiB) in "
               f"{common.now() - t:.1f} s")
    return {"dir": d, "paths": paths, "want": want, "array_bytes": n * 4,
            "data_bytes": count * n * 4, "workers": cfg.s3_workers,
            "what": f"{count:,} float32 arrays of {n * 4 / common.MIB:,.0f} MiB "
                    f"({count * n * 4 / common.GIB:,.2f} GiB) in .npy files, "
                    f"{cfg.s3_workers} processes"}


def cleanup(state):
    for p in state.get("paths", ()):
        os.unlink(p)
    if state.get("dir"):
        os.rmdir(state["dir"])
    state.clear()


# --------------------------------------------------------------------------------------------
# The workers (also those of curves.py)

def get_arrays(method, ref):
    """(list of arrays, what keeps them alive) in a worker, the method's way."""
    if method == "fork":
        return ARRAYS, None
    if method == "copies":
        return [np.load(p) for p in ref], None
    if method == "npy-mmap":
        return [np.load(p, mmap_mode="r") for p in ref], None
    if method == "memmap":
        return [np.memmap(p, np.dtype(dt), "r", shape=shape) for p, shape, dt in ref], None
    if method == "shm":
        from multiprocessing import shared_memory
        blocks = [shared_memory.SharedMemory(name=name) for name, _, _ in ref]
        return [np.ndarray(shape, np.dtype(dt), buffer=b.buf)
                for b, (_, shape, dt) in zip(blocks, ref)], blocks
    if method == "mmarr":
        import mmarr
        if isinstance(ref, mmarr.File):
            return list(ref.values()), None
        return [ref], None
    raise ValueError(method)


def reader(method, blob, gate, skip):
    """Sum every array (float64 accumulator), report, hold them at the barrier."""
    common.preimport()
    before = gate.ready()
    gate.go.wait(common.WAIT)
    arrays, keep = get_arrays(method, pickle.loads(blob))
    sums = [0.0 if skip else float(a.sum(dtype=np.float64)) for a in arrays]
    gate.hold(before, {"sums": sums})
    del arrays
    for b in keep or ():
        b.close()


def run_readers(method, ctx, n, blob, m, skip):
    """Start n reader workers, time them from `go` to the last report, read the memory at
    the barrier; the workers' reports."""
    gate = common.Gate(ctx, n)
    procs = [ctx.Process(target=reader, args=(method, blob, gate, skip), daemon=True)
             for _ in range(n)]
    try:
        for p in procs:
            p.start()
        gate.wait_ready()
        m.restart_clock()
        gate.go.set()
        msgs = gate.gather(common.processes_alive(procs))
        m.lap("workers")
        m.workers_at_barrier(msgs, forked=method == "fork")
    finally:
        gate.leave.set()
        for p in procs:
            p.join()
    return [r for _, _, r in msgs]


# --------------------------------------------------------------------------------------------
# The parent

class _Setup:
    def __init__(self, method, paths, d):
        global ARRAYS
        self.closers = []
        if method in ("copies", "npy-mmap"):
            self.ref = paths
        elif method == "fork":
            ARRAYS = [np.load(p) for p in paths]
            self.ref = None
            self.closers.append(self._drop_arrays)
        elif method == "shm":
            from multiprocessing import shared_memory
            self.ref, blocks = [], []
            for p in paths:
                a = np.load(p, mmap_mode="r")
                b = shared_memory.SharedMemory(create=True, size=a.nbytes)
                blocks.append(b)
                np.ndarray(a.shape, a.dtype, buffer=b.buf)[:] = a
                self.ref.append((b.name, a.shape, a.dtype.str))
            self.closers.append(lambda: [(b.close(), b.unlink()) for b in blocks])
        elif method == "mmarr":
            import mmarr
            path = os.path.join(d, f"scenario3-{os.getpid()}.mmarr")
            with mmarr.Writer(path, sync=False) as w:
                for k, p in enumerate(paths):
                    w.add(f"a{k:05d}", np.load(p, mmap_mode="r"))
            f = mmarr.open(path)
            self.ref = f
            self.closers.append(lambda: (f.close(), os.unlink(path)))
        else:
            raise ValueError(method)

    @staticmethod
    def _drop_arrays():
        global ARRAYS
        ARRAYS = None

    def close(self):
        self.ref = None
        for c in self.closers:
            c()


def need_bytes(method, state, count):
    """Memory a run with `count` arrays needs beyond what the page cache can give back."""
    data = count * state["array_bytes"]
    per_worker = 64 << 20
    workers = state["workers"]
    extra = {"copies": workers * data, "fork": data, "shm": data}.get(method, 0)
    return extra + workers * per_worker


def run_count(method, cfg, state, count):
    """One run over the first `count` arrays."""
    paths, want = state["paths"][:count], state["want"][:count]
    ctx = mp.get_context("fork" if method == "fork" else "spawn")
    if method == "npy-mmap":  # the source files' pages are the shared copy
        m = common.Meter(mapped=paths)
    else:
        m = common.Meter(exclude=state["paths"])
    s = _Setup(method, paths, state["dir"])
    m.lap("setup")
    blob = common.dumps(s.ref)
    try:
        got = run_readers(method, ctx, state["workers"], blob, m, cfg.skip)
    finally:
        rec = m.record(pickled=len(blob) if method != "fork" else 0)
        s.close()
    for w, r in enumerate(got):
        common.check(f"{NAME}/{method}: worker {w}'s array sums", r["sums"], want)
    return rec


def run(method, cfg, state):
    """A run at the full size, or two fitting runs extrapolated linearly to it."""
    full = len(state["paths"])
    budget = 0.8 * common.meminfo()["MemAvailable"]
    if need_bytes(method, state, full) <= budget:
        return run_count(method, cfg, state, full)
    hi = full
    while hi > 1 and need_bytes(method, state, hi) > budget:
        hi //= 2
    lo = max(1, hi // 2)
    if hi == lo:
        raise SystemExit(f"{NAME}/{method}: not even one array fits in memory")
    a, b = run_count(method, cfg, state, lo), run_count(method, cfg, state, hi)
    return extrapolate(a, b, lo, hi, full, state["array_bytes"])


def extrapolate(a, b, lo, hi, full, array_bytes):
    """Figures at `full` arrays, linear through the runs `a` (lo arrays) and `b` (hi)."""
    out = dict(b)
    for k, vb in b.items():
        va = a.get(k)
        if isinstance(vb, (int, float)) and isinstance(va, (int, float)) and k != "load1":
            out[k] = vb + (vb - va) * (full - hi) / (hi - lo)
    out["per_worker"] = None
    out["extrapolated"] = [lo * array_bytes, hi * array_bytes]
    return out
