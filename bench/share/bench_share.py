#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Sharing one big array with spawned workers, copying reads, and the Python front door
(issue #18), mmarr against its peers in one run.

    PYTHONPATH=build/python /usr/bin/python3 bench/share/bench_share.py [--mib 1024]
        [--workers 4] [--repeats 3] [--warmups 1] [--arrays 100000] [--parts share,read,py]
        [--out DIR] [--smoke]

share: a float32 array of --mib MiB, --workers workers that each sum all of it (a first pass
over every page). Every peer is timed in two phases: setup, in the main process (making the
shared form: writing the file, the shared memory block, the dataset), and the workers' phase,
from the moment every worker is up and waiting (interpreter started, modules imported) until
every worker has its sum, getting the data included (open, map, attach, load). Peers:
  none        fork workers that get no data: the floor of the workers' memory
  none-spawn  the same, spawned (the floor of every peer but fork)
  fork        a module global ndarray, fork workers (copy-on-write; no setup)
  mmarr       mmarr.share(x) into its default directory; workers get the array pickled (a
              reference) and sum it
  mmarr-shm   the same with dir="/dev/shm" (a tmpfs of 4 KiB pages unless mounted huge)
  shm         multiprocessing.shared_memory: created and filled; workers attach by name
  memmap      x.tofile() into mmarr's default directory; workers np.memmap it
  npy-mmap    np.save into that directory; workers np.load(mmap_mode="r")
  h5py        one dataset (contiguous) in that directory; workers read it all (a copy each)
  zarr        zarr.save_array (default chunks, Blosc) in that directory; workers read it all
Memory: the workers' total PSS, read while every worker still holds its data (after its
sum, before it exits). The ratios against fork are the #18 targets: workers' phase <= 1.5x,
setup + workers <= 1.2x, PSS <= 1.02x of one copy.

read: copying reads of the array from the mmarr file (hot) against np.fromfile and os.pread
of the same bytes; random 1 MiB slices by f.read(rows) against os.pread and h5py; a cold
(zstd level 3) copy of the array read by random 1 MiB slices.

py: in fresh interpreters, `import mmarr` after `import numpy` (the extra ms, bytecode
cached as for an installed package); a file of
--arrays arrays of 16 float32: mmarr.save of a dict of them, and open + fetch of one array
(repeated in one process, each with a new File).

Medians with min-max of --repeats rounds after --warmups; peers interleaved in each round.
Writes results.md and results.json to --out (default bench/share/results-<date>/).
--smoke: 16 MiB, 2 workers, 1 round, 2,000 arrays: every result checked, nothing compared."""
import argparse
import datetime
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import procmem  # noqa: E402  (bench/procmem.py)

import mmarr  # noqa: E402

MIB = float(1 << 20)
X = None  # the array; a module global so that fork workers inherit it


def log(*msg):
    print(f"[{time.strftime('%H:%M:%S')}]", *msg, file=sys.stderr, flush=True)


def timed(fn, *a, **kw):
    t = time.perf_counter()
    out = fn(*a, **kw)
    return time.perf_counter() - t, out


# --------------------------------------------------------------------------------------------
# share: the workers

def get_data(kind, ref):
    """The array (and what keeps it alive) in a worker, the peer's way."""
    if kind == "fork":
        return X, None
    if kind in ("none", "none-spawn"):
        return np.zeros(16, np.float32), None
    if kind in ("mmarr", "mmarr-shm"):
        return ref, None  # unpickled: the file mapped by this worker
    if kind == "shm":
        from multiprocessing import shared_memory
        name, n = ref
        block = shared_memory.SharedMemory(name=name)
        return np.ndarray((n,), np.float32, buffer=block.buf), block
    if kind == "memmap":
        path, n = ref
        return np.memmap(path, np.float32, "r", shape=(n,)), None
    if kind == "npy-mmap":
        return np.load(ref, mmap_mode="r"), None
    if kind == "h5py":
        import h5py
        with h5py.File(ref, "r") as f:
            return f["x"][...], None
    if kind == "zarr":
        import zarr
        return zarr.open_array(ref, mode="r")[...], None
    raise ValueError(kind)


def worker(kind, ref, up, go, done, leave):
    up.wait()  # every worker is up: the phase starts
    go.wait()
    a, keep = get_data(kind, ref)
    s = float(a.sum(dtype=np.float64))
    done.put((os.getpid(), time.perf_counter(), s))
    leave.wait(600)  # hold the data while the main process reads the memory
    del a
    if keep is not None and hasattr(keep, "close"):
        keep.close()


def setup(kind, x, d):
    """(the reference the workers get, a cleanup function) for peer `kind`; timed by the
    caller."""
    if kind in ("fork", "none", "none-spawn"):
        return None, lambda: None
    if kind in ("mmarr", "mmarr-shm"):
        s = mmarr.share(x, dir="/dev/shm" if kind == "mmarr-shm" else None)
        return s.array, s.close
    if kind == "shm":
        from multiprocessing import shared_memory
        block = shared_memory.SharedMemory(create=True, size=x.nbytes)
        np.ndarray(x.shape, x.dtype, buffer=block.buf)[:] = x

        def gone():
            block.close()
            block.unlink()
        return (block.name, len(x)), gone
    path = os.path.join(d, f"bench-share-{os.getpid()}.{kind}")
    if kind == "memmap":
        x.tofile(path)
        ref = (path, len(x))
    elif kind == "npy-mmap":
        path += ".npy"
        np.save(path, x)
        ref = path
    elif kind == "h5py":
        import h5py
        with h5py.File(path, "w") as f:
            f.create_dataset("x", data=x)
        ref = path
    elif kind == "zarr":
        import zarr
        zarr.save_array(path, x)
        ref = path
    else:
        raise ValueError(kind)

    def gone():
        import shutil
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.unlink(path)
    return ref, gone


def share_round(kind, args, want):
    global X
    d = mmarr._default_share_dir(X.nbytes)
    t_setup, (ref, gone) = timed(setup, kind, X, d)
    ctx = mp.get_context("fork" if kind in ("fork", "none") else "spawn")
    n = args.workers
    up, go, leave, done = ctx.Barrier(n + 1), ctx.Event(), ctx.Event(), ctx.Queue()
    try:
        procs = [ctx.Process(target=worker, args=(kind, ref, up, go, done, leave), daemon=True)
                 for _ in range(n)]
        for p in procs:
            p.start()
        up.wait()
        t0 = time.perf_counter()
        go.set()
        got = [done.get(timeout=900) for _ in procs]
        phase = max(t for _, t, _ in got) - t0
        mems = [procmem.rollup(p.pid) for p in procs]
        leave.set()
        for p in procs:
            p.join()
    finally:
        gone()
    for _, _, s in got:
        if not kind.startswith("none") and s != want:
            raise AssertionError(f"{kind}: sum {s}, want {want}")
    where = {"fork": "-", "none": "-", "none-spawn": "-", "shm": "/dev/shm", "mmarr-shm": "/dev/shm"}
    return {"part": "share", "peer": kind, "dir": where.get(kind, d), "setup": t_setup, "phase": phase,
            "pss": sum(m["pss"] for m in mems), "uss": sum(m["uss"] for m in mems),
            "load1": os.getloadavg()[0]}


SHARE_PEERS = ("none", "none-spawn", "fork", "mmarr", "mmarr-shm", "shm", "memmap", "npy-mmap", "h5py", "zarr")


def part_share(args):
    global X
    n = int(args.mib * MIB) // 4
    X = np.arange(n, dtype=np.float32) % 1000
    want = float(X.sum(dtype=np.float64))
    peers = [p for p in SHARE_PEERS if p in args.peers]
    runs = []
    for rnd in range(args.warmups + args.repeats):
        for kind in peers:
            r = share_round(kind, args, want)
            r.update(round=rnd, warmup=rnd < args.warmups)
            runs.append(r)
            log(f"share {kind}{' (warm-up)' if r['warmup'] else ''}: setup {r['setup']:.3f} s, "
                f"workers {r['phase']:.3f} s, PSS {r['pss'] / MIB:,.0f} MiB ({r['dir']})")
    X = None
    return runs


# --------------------------------------------------------------------------------------------
# read: copying reads

def pread_into(fd, buf, offset):
    mv = memoryview(buf).cast("B")
    done = 0
    while done < len(mv):
        k = os.preadv(fd, [mv[done:]], offset + done)
        if k <= 0:
            raise OSError("short read")
        done += k


def part_read(args):
    import h5py
    n = int(args.mib * MIB) // 4
    x = np.arange(n, dtype=np.float32) % 1000
    d = mmarr._default_share_dir(3 * x.nbytes)
    base = os.path.join(d, f"bench-read-{os.getpid()}")
    paths = {"mmarr": base + ".mmarr", "raw": base + ".raw", "h5": base + ".h5",
             "cold": base + ".cold.mmarr"}
    mmarr.save(paths["mmarr"], {"x": x}, sync=False)
    mmarr.save(paths["cold"], {"x": x}, compress=3, sync=False)
    x.tofile(paths["raw"])
    with h5py.File(paths["h5"], "w") as f:
        f.create_dataset("x", data=x)
    rows = (1 << 20) // 4
    rng = np.random.default_rng(0)
    starts = rng.integers(0, n - rows, 200 if not args.smoke else 10)
    runs = []
    try:
        f, fc = mmarr.open(paths["mmarr"]), mmarr.open(paths["cold"])
        off = f.info("x")["offset"]
        fd = os.open(paths["raw"], os.O_RDONLY)
        h = h5py.File(paths["h5"], "r")
        buf, buf2 = np.empty(rows, np.float32), np.empty(rows, np.float32)
        for rnd in range(args.warmups + args.repeats):
            r = {"part": "read", "round": rnd, "warmup": rnd < args.warmups, "dir": d,
                 "load1": os.getloadavg()[0]}
            r["mmarr_full"], a = timed(f.read, "x")
            assert np.array_equal(a[:1000], x[:1000]) and a[-1] == x[-1]
            del a
            r["fromfile_full"], a = timed(np.fromfile, paths["raw"], np.float32)
            del a
            for peer, fn in (
                    ("mmarr", lambda s: f.read("x", rows=(s, s + rows))),
                    ("mmarr_out", lambda s: f.read("x", rows=(s, s + rows), out=buf2)),
                    ("pread", lambda s: pread_into(fd, buf, 4 * int(s))),
                    ("h5py", lambda s: h["x"][s:s + rows]),
                    ("cold", lambda s: fc.read("x", rows=(s, s + rows)))):
                ts = []
                for s in starts:
                    t, out = timed(fn, int(s))
                    ts.append(t)
                    if peer == "pread":
                        out = buf
                    if out is not None:
                        assert out[0] == x[s] and out[-1] == x[s + rows - 1], peer
                r[f"slice_{peer}"] = statistics.median(ts)
            runs.append(r)
            log(f"read{' (warm-up)' if r['warmup'] else ''}: full mmarr {r['mmarr_full']:.3f} "
                f"vs fromfile {r['fromfile_full']:.3f} s; 1 MiB slice p50 mmarr "
                f"{r['slice_mmarr'] * 1e3:.3f} (into a buffer {r['slice_mmarr_out'] * 1e3:.3f}), pread {r['slice_pread'] * 1e3:.3f}, h5py "
                f"{r['slice_h5py'] * 1e3:.3f}, cold {r['slice_cold'] * 1e3:.3f} ms (off {off})")
        h.close()
        os.close(fd)
    finally:
        for p in paths.values():
            if os.path.exists(p):
                os.unlink(p)
    return runs


# --------------------------------------------------------------------------------------------
# py: the front door

IMPORT_CODE = ("import time, numpy; t = time.perf_counter(); import mmarr; "
               "print(time.perf_counter() - t)")
OPEN_CODE = """
import sys, time, statistics, mmarr
path, name, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
ts = []
for _ in range(reps):
    t = time.perf_counter()
    with mmarr.open(path) as f:
        a = f[name]
    ts.append(time.perf_counter() - t)
    assert a.shape == (16,)
print(statistics.median(ts))
"""


def part_py(args):
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: modules' bytecode cached
    subprocess.run([sys.executable, "-c", "import mmarr"], env=env, check=True)
    runs = []
    d = mmarr._default_share_dir()
    path = os.path.join(d, f"bench-py-{os.getpid()}.mmarr")
    rng = np.random.default_rng(0)
    arrays = {f"g{k % 1000:03d}/a{k:06d}": rng.random(16, dtype=np.float32)
              for k in range(args.arrays)}
    name = next(reversed(arrays))
    try:
        for rnd in range(args.warmups + args.repeats):
            r = {"part": "py", "round": rnd, "warmup": rnd < args.warmups, "dir": d,
                 "load1": os.getloadavg()[0]}
            imports = [float(subprocess.run([sys.executable, "-c", IMPORT_CODE], env=env,
                                            check=True, capture_output=True, text=True).stdout)
                       for _ in range(5)]
            r["import_mmarr"] = statistics.median(imports)
            r["create"], _ = timed(mmarr.save, path, arrays, sync=False)
            r["open_fetch"] = float(subprocess.run(
                [sys.executable, "-c", OPEN_CODE, path, name, "200"], env=env, check=True,
                capture_output=True, text=True).stdout)
            runs.append(r)
            log(f"py{' (warm-up)' if r['warmup'] else ''}: import mmarr "
                f"{r['import_mmarr'] * 1e3:.1f} ms over numpy; create {len(arrays):,} arrays "
                f"{r['create']:.3f} s; open + fetch {r['open_fetch'] * 1e3:.2f} ms")
    finally:
        if os.path.exists(path):
            os.unlink(path)
    return runs


# --------------------------------------------------------------------------------------------
# The report

def mr(values, scale=1.0, fmt="{:.3f}"):
    return procmem.median_range(values, scale, fmt)


def report(args, runs, mach):
    meas = [r for r in runs if not r["warmup"]]
    med = lambda rs, k: statistics.median([r[k] for r in rs])  # noqa: E731
    out = [f"# bench/share, {datetime.date.today().isoformat()}", "",
           "Machine: " + ", ".join(f"{k} {v}" for k, v in mach.items()) + ".", "",
           f"{args.repeats} measured rounds after {args.warmups} warm-up; median (min-max).", ""]
    sh = [r for r in meas if r["part"] == "share"]
    if sh:
        out += [f"## Sharing {args.mib:,.0f} MiB of float32 with {args.workers} workers, each "
                f"summing all of it", "",
                "| peer | directory | setup s | workers' phase s | setup + workers s | "
                "workers' PSS MiB | USS MiB |", "|---|---|---|---|---|---|---|"]
        for kind in SHARE_PEERS:
            rs = [r for r in sh if r["peer"] == kind]
            if rs:
                out.append(f"| {kind} | {rs[0]['dir']} | {mr([r['setup'] for r in rs])} | "
                           f"{mr([r['phase'] for r in rs])} | "
                           f"{mr([r['setup'] + r['phase'] for r in rs])} | "
                           f"{mr([r['pss'] for r in rs], MIB, '{:,.0f}')} | "
                           f"{mr([r['uss'] for r in rs], MIB, '{:,.0f}')} |")
        fork = [r for r in sh if r["peer"] == "fork"]
        floors = {k: med(rs, "pss") if rs else 0.0 for k, rs in (
            (k, [r for r in sh if r["peer"] == k]) for k in ("none", "none-spawn"))}
        if fork:
            f_phase = med(fork, "phase")
            out += ["", "Against fork copy-on-write (ratios of medians; targets of #18: "
                    "workers' phase <= 1.5x, setup + workers <= 1.2x; PSS against one copy "
                    f"of the array, {args.mib:,.0f} MiB, above the PSS of workers without data (peers none, none-spawn), target "
                    "<= 1.02x):", ""]
            for kind in SHARE_PEERS[3:]:
                rs = [r for r in sh if r["peer"] == kind]
                if rs:
                    tot = statistics.median([r["setup"] + r["phase"] for r in rs])
                    out.append(f"- {kind}: workers' phase {med(rs, 'phase') / f_phase:.2f}x, "
                               f"setup + workers {tot / f_phase:.2f}x, PSS "
                               f"{(med(rs, 'pss') - floors['none-spawn']) / (args.mib * MIB):.2f}x "
                               f"one copy")
    rd = [r for r in meas if r["part"] == "read"]
    if rd:
        out += ["", f"## Copying reads (files in {rd[0]['dir']}, in the page cache)", "",
                "| read | mmarr | peer | mmarr / peer |", "|---|---|---|---|"]
        out.append(f"| whole array, s | {mr([r['mmarr_full'] for r in rd])} | np.fromfile "
                   f"{mr([r['fromfile_full'] for r in rd])} | "
                   f"{med(rd, 'mmarr_full') / med(rd, 'fromfile_full'):.2f}x |")
        for mine, peer, what in (
                ("mmarr", "pread", "random 1 MiB slice p50, ms (mmarr: a new array each)"),
                ("mmarr_out", "pread", "the same into one buffer (read(out=); pread: preadv)"),
                ("mmarr", "h5py", "random 1 MiB slice p50, ms (both a new array each)")):
            out.append(f"| {what} | {mr([r['slice_' + mine] for r in rd], 1e-3)} | {peer} "
                       f"{mr([r['slice_' + peer] for r in rd], 1e-3)} | "
                       f"{med(rd, 'slice_' + mine) / med(rd, 'slice_' + peer):.2f}x |")
        out.append(f"| cold (zstd 3) random 1 MiB slice p50, ms | "
                   f"{mr([r['slice_cold'] for r in rd], 1e-3)} | — | — |")
    py = [r for r in meas if r["part"] == "py"]
    if py:
        out += ["", "## The Python front door", "",
                "| figure | mmarr | #18 target |", "|---|---|---|",
                f"| import mmarr after numpy, ms (fresh interpreter, median of 5) | "
                f"{mr([r['import_mmarr'] for r in py], 1e-3, '{:.1f}')} | <= 5 |",
                f"| create a file of {args.arrays:,} arrays, s | "
                f"{mr([r['create'] for r in py])} | <= 0.2 |",
                f"| open + fetch one array of it, ms | "
                f"{mr([r['open_fetch'] for r in py], 1e-3, '{:.2f}')} | <= 1.5 |"]
    return "\n".join(out) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mib", type=float, default=1024)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmups", type=int, default=1)
    p.add_argument("--arrays", type=int, default=100_000)
    p.add_argument("--parts", default="share,read,py")
    p.add_argument("--peers", default=",".join(SHARE_PEERS))
    p.add_argument("--out", default=None)
    p.add_argument("--smoke", action="store_true")
    a = p.parse_args(argv)
    if a.smoke:
        a.mib, a.workers, a.repeats, a.warmups, a.arrays = 16, 2, 1, 0, 2000
    a.parts = a.parts.split(",")
    a.peers = a.peers.split(",")
    a.out = a.out or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  f"results-{datetime.date.today().isoformat()}")
    return a


def main():
    args = parse_args()
    procmem.require("bench_share", "h5py", "zarr", "psutil")
    import h5py
    import zarr
    mach = procmem.machine(mmarr=mmarr, h5py=h5py, zarr=zarr)
    for d in ("/dev/shm", mmarr._default_share_dir()):
        kind = mmarr._mmarr.pages_of(d)
        mach[f"pages {d}"] = f"{kind[1]} ({kind[2]}{', huge=' + kind[4] if kind[4] else ''})"
    with open("/sys/kernel/mm/transparent_hugepage/shmem_enabled") as fp:
        mach["shmem_enabled"] = fp.read().strip()
    runs = []
    for part, fn in (("share", part_share), ("read", part_read), ("py", part_py)):
        if part in args.parts:
            runs += fn(args)
    text = report(args, runs, mach)
    print(text)
    procmem.write_results(args.out, text, {"args": vars(args), "machine": mach, "runs": runs})
    log(f"written to {args.out}")


if __name__ == "__main__":
    main()
