# SPDX-License-Identifier: MIT
"""The two scaling curves: one float32 array shared with N spawned workers that each sum all
of it, for mmarr, multiprocessing.shared_memory and np.memmap.

  workers  1, 2, 4, 8, 12 workers, 1 GiB (full scale)
  size     64 MiB, 256 MiB, 1 GiB, 4 GiB, 16 GiB, 4 workers (full scale)

The array is generated in 64 MiB pieces straight into the shared form (no copy in the
parent, so 16 GiB needs no 16 GiB of private memory): mmarr.share(empty=..., writable=True)
in --dir, a shared_memory block, np.memmap(mode="w+") in --dir. Setup is that fill; the
workers' phase is s3_many.reader's (map, sum, report); each worker's sum is checked."""
import multiprocessing as mp
import os

import numpy as np

import common
import s3_many

METHODS = ("mmarr", "shm", "memmap")
PIECE = 16 << 20  # elements per piece (64 MiB of float32)


def want_sum(n):
    """The sum of (i % 1000) for i < n."""
    return float((n // 1000) * 499500 + (n % 1000) * (n % 1000 - 1) // 2)


def fill(dst):
    """dst[i] = i % 1000 (float32), a piece at a time."""
    base = (np.arange(PIECE + 1000) % 1000).astype(np.float32)
    n = len(dst)
    for lo in range(0, n, PIECE):
        hi = min(n, lo + PIECE)
        o = lo % 1000
        dst[lo:hi] = base[o:o + hi - lo]


class _Setup:
    def __init__(self, method, n, d):
        self.closers = []
        if method == "mmarr":
            import mmarr
            s = mmarr.share(empty={"x": ((n,), "<f4")}, dir=d, writable=True)
            fill(s["x"])
            self.ref = s["x"]
            self.closers.append(lambda: common.close_share(s))
        elif method == "shm":
            from multiprocessing import shared_memory
            block = shared_memory.SharedMemory(create=True, size=n * 4)
            view = np.ndarray((n,), np.float32, buffer=block.buf)
            fill(view)
            del view
            self.ref = [(block.name, (n,), "<f4")]
            self.closers.append(lambda: (block.close(), block.unlink()))
        elif method == "memmap":
            path = os.path.join(d, f"curve-{os.getpid()}.f32")
            mm = np.memmap(path, np.float32, "w+", shape=(n,))
            fill(mm)
            del mm
            self.ref = [(path, (n,), "<f4")]
            self.closers.append(lambda: os.unlink(path))
        else:
            raise ValueError(method)

    def close(self):
        self.ref = None
        for c in self.closers:
            c()


def run(method, cfg, nbytes, workers):
    """One point: `workers` workers summing `nbytes` of float32."""
    n = int(nbytes // 4)
    ctx = mp.get_context("spawn")
    m = common.Meter()
    s = _Setup(method, n, cfg.dir)
    m.lap("setup")
    blob = common.dumps(s.ref)
    try:
        got = s3_many.run_readers(method, ctx, workers, blob, m, cfg.skip)
    finally:
        rec = m.record(pickled=len(blob))
        s.close()
    for w, r in enumerate(got):
        common.check(f"curve/{method}: worker {w}'s sum ({nbytes / common.MIB:,.0f} MiB)",
                     r["sums"], [want_sum(n)])
    rec.update(data_bytes=n * 4, nworkers=workers)
    return rec


def points(cfg):
    """[(curve, x, nbytes, workers)] in run order."""
    out = [("workers", w, cfg.curve_workers_bytes, w) for w in cfg.curve_workers]
    out += [("size", b, b, cfg.curve_size_workers) for b in cfg.curve_sizes]
    return out
