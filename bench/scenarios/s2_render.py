# SPDX-License-Identifier: MIT
"""Scenario 2: workers writing into a shared render buffer that the parent reads.

A 4-D float32 buffer (slabs, height, width, channels; 256 MiB at full scale) is filled slab by
slab by 4 spawned multiprocessing.Process workers (worker w writes slabs w, w + n, ...: slab
k = a fixed pattern + k). When every worker has written, each one reads the whole buffer (the
sum of every slab, checking the others' writes): this is where each worker's RSS shows the
whole buffer although nothing was copied. The parent then reads the buffer (timed as `read`).

  shm     multiprocessing.shared_memory (shm_open + mmap, as posix_ipc + mmap do) and an
          np.ndarray over its buffer; workers attach by name
  memmap  np.memmap(mode="w+") of a file in --dir; workers np.memmap(mode="r+")
  mmarr   mmarr.share(empty={"buf": (shape, "<f4")}, writable=True) in --dir; workers get
          the writable MappedArray (a reference)

Reported per worker: RSS and PSS at the barrier, and the total; every slab sum of every
worker and of the parent is checked against the pattern's."""
import multiprocessing as mp
import os
import pickle

import numpy as np

import common

NAME = "render"
METHODS = ("shm", "memmap", "mmarr")
RESTART = {"shm": "shm", "memmap": "memmap", "mmarr": "mmarr-share"}


def pattern(inner):
    """What every slab holds before its index is added: integers below 1009 (exact sums)."""
    return (np.arange(int(np.prod(inner))) % 1009).astype(np.float32).reshape(inner)


def slab_sums(buf):
    return [float(buf[k].sum(dtype=np.float64)) for k in range(buf.shape[0])]


def prepare(cfg):
    shape = tuple(cfg.s2_shape)
    base = float(pattern(shape[1:]).sum(dtype=np.float64))
    per = int(np.prod(shape[1:]))
    nbytes = int(np.prod(shape)) * 4
    return {"shape": shape, "want": [base + k * per for k in range(shape[0])],
            "data_bytes": nbytes,
            "what": f"float32 buffer {shape} ({nbytes / common.MIB:,.0f} MiB), "
                    f"{cfg.workers} spawned processes"}


def cleanup(state):
    state.clear()


# --------------------------------------------------------------------------------------------
# The workers

def attach(method, ref, shape):
    """(the buffer, what keeps it alive) in a worker."""
    if method == "shm":
        from multiprocessing import shared_memory
        block = shared_memory.SharedMemory(name=ref)
        return np.ndarray(shape, np.float32, buffer=block.buf), block
    if method == "memmap":
        return np.memmap(ref, np.float32, "r+", shape=shape), None
    if method == "mmarr":
        return ref, None
    raise ValueError(method)


def worker(method, blob, w, n, shape, gate, skip):
    common.preimport()
    before = gate.ready()
    gate.go.wait(common.WAIT)
    buf, keep = attach(method, pickle.loads(blob), shape)
    pat = pattern(shape[1:])
    if not skip:
        for k in range(w, shape[0], n):
            np.add(pat, np.float32(k), out=buf[k])
    gate.peers.wait(common.WAIT)  # every slab written
    gate.hold(before, {"w": w, "slabs": slab_sums(buf)})
    del buf
    if keep is not None:
        keep.close()


# --------------------------------------------------------------------------------------------
# The parent

class _Setup:
    """The buffer: `ref` for the workers, `view` for the parent, close()."""

    def __init__(self, method, shape, d):
        self.closers = []
        if method == "shm":
            from multiprocessing import shared_memory
            block = shared_memory.SharedMemory(create=True, size=int(np.prod(shape)) * 4)
            self.view = np.ndarray(shape, np.float32, buffer=block.buf)
            self.ref = block.name
            self.closers.append(lambda: (block.close(), block.unlink()))
        elif method == "memmap":
            path = os.path.join(d, f"scenario2-{os.getpid()}.f32")
            self.view = np.memmap(path, np.float32, "w+", shape=shape)
            self.ref = path
            self.closers.append(lambda: os.unlink(path))
        elif method == "mmarr":
            import mmarr
            s = mmarr.share(empty={"buf": (shape, "<f4")}, dir=d, writable=True)
            self.view = self.ref = s["buf"]
            self.closers.append(lambda: common.close_share(s))
        else:
            raise ValueError(method)

    def close(self):
        self.view = self.ref = None
        for c in self.closers:
            c()


def run(method, cfg, state):
    shape = state["shape"]
    gate = common.Gate(mp.get_context("spawn"), cfg.workers)
    m = common.Meter()
    s = _Setup(method, shape, cfg.dir)
    try:
        m.lap("setup")
        blob = common.dumps(s.ref)
        msgs, parent = _workers(method, cfg, blob, shape, gate, m, s.view)
        rec = m.record(pickled=len(blob))
    finally:
        s.close()
    for _, _, r in msgs:
        common.check(f"{NAME}/{method}: worker {r['w']}'s slab sums", r["slabs"], state["want"])
    common.check(f"{NAME}/{method}: the parent's slab sums", parent, state["want"])
    return rec


def _workers(method, cfg, blob, shape, gate, m, view):
    """The timed phases: the workers fill and read, then the parent reads. (the workers'
    reports, the parent's slab sums)"""
    ctx = mp.get_context("spawn")
    n = cfg.workers
    procs = [ctx.Process(target=worker, args=(method, blob, w, n, shape, gate, cfg.skip),
                         daemon=True) for w in range(n)]
    try:
        for p in procs:
            p.start()
        gate.wait_ready()  # started, imported: not timed
        m.restart_clock()
        gate.go.set()
        msgs = gate.gather(common.processes_alive(procs))
        m.lap("workers")
        m.workers_at_barrier(msgs)
        m.restart_clock()
        parent = slab_sums(view)  # the parent reads the picture
        m.lap("read")
    finally:
        gate.leave.set()
        for p in procs:
            p.join()
    return msgs, parent
