# SPDX-License-Identifier: MIT
"""Does the data survive a restart? Tested, per way of sharing, never assumed.

For each kind, a *program* (a fresh interpreter: `restart.py program KIND DIR`) makes a
2 MiB float64 array the kind's way, has 2 spawned pool workers fill it by row blocks where
the kind lets workers write (else fills it itself), notes its checksum, the name the kind
gives it (a path, a shared memory name) and the file backing its memory (/proc/self/maps),
then ends the way such a program ends: it releases what it made in the kind's usual manner
(its `with` block, close()), without deleting anything by hand. Then a *new* interpreter
(`restart.py check KIND JSON`) tries to get the data back by that name, or by the backing
file when the kind gives no name, and compares the checksum.

  pickle       the array lives in the program; workers return their rows pickled
  fork         the array lives in the program (fork workers would inherit it)
  npy          np.save to a file, read back with np.load
  rawarray     multiprocessing.sharedctypes.RawArray (a Pool initializer gives it to workers)
  shm          multiprocessing.shared_memory, closed but not unlinked by the program
  memmap       np.memmap "w+" / "r+" of a file (dtype and shape known to the checker)
  mmarr-share  mmarr.share(empty=..., writable=True) in DIR, its with block ended
  mmarr-save   mmarr.save(path, {"x": x}, sync=False) of an array the program filled
  mmarr-file   mmarr.Writer.reserve + commit, workers write through mmarr.open(path, "r+"),
               the program rehashes (f.flush(rehash=True)); the checker opens with verify=True
"""
import json
import multiprocessing as mp
import os
import subprocess
import sys

import numpy as np

import s4_rows

KINDS = ("pickle", "fork", "npy", "rawarray", "shm", "memmap", "mmarr-share", "mmarr-save",
         "mmarr-file")
SHAPE = (256, 1024)
SPANS = [(0, 128), (128, 256)]
X = None  # a worker's array, from the initializer


def backing(arr):
    """The file that backs arr's memory as /proc/self/maps names it ("" if anonymous)."""
    addr = arr.__array_interface__["data"][0]
    with open("/proc/self/maps") as fp:
        for line in fp:
            parts = line.split(maxsplit=5)
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if lo <= addr < hi:
                path = parts[5].strip() if len(parts) > 5 else ""
                return "" if path.startswith("[") else path
    return ""


# --------------------------------------------------------------------------------------------
# The program's workers

def _init(kind, ref):
    global X
    if kind == "rawarray":
        X = np.ctypeslib.as_array(ref).reshape(SHAPE)
    elif kind == "memmap":
        X = np.memmap(ref, np.float64, "r+", shape=SHAPE)


def _fill(args):
    kind, ref, lo, hi = args
    if kind == "pickle":
        x = np.zeros(SHAPE)
        s4_rows.fill(x, lo, hi)
        return x[lo:hi]
    if kind == "shm":
        from multiprocessing import shared_memory
        block = shared_memory.SharedMemory(name=ref)
        x = np.ndarray(SHAPE, np.float64, buffer=block.buf)
        s4_rows.fill(x, lo, hi)
        del x
        block.close()
        return None
    s4_rows.fill(X if ref is None else ref, lo, hi)
    return None


def _pool_fill(kind, task_ref=None, init_ref=None):
    with mp.get_context("spawn").Pool(2, initializer=_init, initargs=(kind, init_ref)) as pool:
        return pool.map(_fill, [(kind, task_ref, lo, hi) for lo, hi in SPANS], chunksize=1)


def program(kind, d):
    """Make, fill and release the array the kind's way; print what a restart may use."""
    import mmarr
    path = os.path.join(d, f"restart-{kind}-{os.getpid()}")
    out = {"kind": kind, "handle": None}
    if kind in ("pickle", "fork", "npy", "mmarr-save"):
        x = np.zeros(SHAPE)
        if kind == "pickle":
            for (lo, hi), rows in zip(SPANS, _pool_fill(kind)):
                x[lo:hi] = rows
        else:
            for lo, hi in SPANS:
                s4_rows.fill(x, lo, hi)
        if kind == "npy":
            np.save(path + ".npy", x)
            out["handle"] = path + ".npy"
        elif kind == "mmarr-save":
            mmarr.save(path + ".mmarr", {"x": x}, sync=False)
            out["handle"] = path + ".mmarr"
        out.update(checksum=float(x.sum()), backing=backing(x))
    elif kind == "rawarray":
        from multiprocessing import sharedctypes
        raw = sharedctypes.RawArray("d", SHAPE[0] * SHAPE[1])
        _pool_fill(kind, init_ref=raw)
        x = np.ctypeslib.as_array(raw)
        out.update(checksum=float(x.sum()), backing=backing(x))
    elif kind == "shm":
        from multiprocessing import shared_memory
        block = shared_memory.SharedMemory(create=True, size=SHAPE[0] * SHAPE[1] * 8)
        _pool_fill(kind, task_ref=block.name)
        x = np.ndarray(SHAPE, np.float64, buffer=block.buf)
        out.update(handle=block.name, checksum=float(x.sum()), backing=backing(x))
        del x
        block.close()  # not unlinked: the most a program can do to keep it
    elif kind == "memmap":
        x = np.memmap(path + ".f64", np.float64, "w+", shape=SHAPE)
        _pool_fill(kind, init_ref=path + ".f64")
        out.update(handle=path + ".f64", checksum=float(x.sum()), backing=backing(x))
        del x
    elif kind == "mmarr-share":
        with mmarr.share(empty={"x": (SHAPE, "<f8")}, dir=d, writable=True) as s:
            _pool_fill(kind, task_ref=s["x"])
            out.update(handle=s.path, checksum=float(s["x"].sum()), backing=backing(s["x"]))
    elif kind == "mmarr-file":
        with mmarr.Writer(path + ".mmarr", sync=False) as w:
            w.reserve("x", SHAPE, "<f8")
        f = mmarr.open(path + ".mmarr", "r+")
        _pool_fill(kind, task_ref=f["x"])
        x = f["x"]
        out.update(handle=path + ".mmarr", checksum=float(x.sum()), backing=backing(x))
        del x
        mmarr.release_handles()
        f.flush(rehash=True)  # checksums true again: the file verifies after the restart
        f.close()
    else:
        raise ValueError(kind)
    print(json.dumps(out))


# --------------------------------------------------------------------------------------------
# After the restart

def reopen(kind, info):
    """The array by the name the program had, or its backing file: (sum, closer)."""
    handle = info["handle"]
    if handle is None:
        if not info["backing"]:
            raise LookupError("the program's anonymous memory: nothing names it")
        name = info["backing"].removesuffix(" (deleted)")
        return float(np.fromfile(name, np.float64).sum())
    if kind == "shm":
        from multiprocessing import shared_memory
        block = shared_memory.SharedMemory(name=handle)
        x = np.ndarray(SHAPE, np.float64, buffer=block.buf)
        total = float(x.sum())
        del x
        block.close()
        block.unlink()  # ours: do not leave it behind
        return total
    if kind == "memmap":
        return float(np.memmap(handle, np.float64, "r", shape=SHAPE).sum())
    if kind == "npy":
        return float(np.load(handle).sum())
    import mmarr
    with mmarr.open(handle, verify=(kind != "mmarr-share")) as f:
        return float(f["x"].sum())


def check(kind, info):
    try:
        total = reopen(kind, info)
    except Exception as e:  # noqa: BLE001 (the answer is the failure)
        return {"survives": False, "how": f"{type(e).__name__}: {str(e).splitlines()[0][:90]}"}
    if total != info["checksum"]:
        return {"survives": False, "how": f"reopened, but the sum is {total}, "
                                          f"want {info['checksum']}"}
    return {"survives": True, "how": "reopened by a new process, checksum equal"}


def run_all(kinds, d):
    """{kind: {"survives", "how"}}: each program run then checked, in fresh interpreters."""
    me = os.path.abspath(__file__)
    out = {}
    for kind in kinds:
        made = subprocess.run([sys.executable, me, "program", kind, d], capture_output=True,
                              text=True, timeout=300)
        if made.returncode != 0:
            raise RuntimeError(f"restart test {kind}: the program failed:\n{made.stderr}")
        info = json.loads(made.stdout.strip().splitlines()[-1])
        checked = subprocess.run([sys.executable, me, "check", kind, json.dumps(info)],
                                 capture_output=True, text=True, timeout=300)
        if checked.returncode != 0:
            raise RuntimeError(f"restart test {kind}: the check failed:\n{checked.stderr}")
        out[kind] = json.loads(checked.stdout.strip().splitlines()[-1])
        for p in (info.get("handle") or "",):
            if p.startswith(d) and os.path.exists(p):
                os.unlink(p)
    return out


def main(argv):
    if argv[1] == "program":
        program(argv[2], argv[3])
    elif argv[1] == "check":
        print(json.dumps(check(argv[2], json.loads(argv[3]))))
    else:
        raise SystemExit(f"usage: {argv[0]} program KIND DIR | check KIND JSON")


if __name__ == "__main__":
    main(sys.argv)
