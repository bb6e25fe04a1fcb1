# SPDX-License-Identifier: MIT
"""What every scenario of bench_scenarios.py measures, and how.

Time: `setup` (making the shared form of the data in the parent: packing, filling a block,
loading), `workers` (from the moment every worker is up and idle, interpreter started and
modules imported, until the parent has every worker's result: getting the data included) and,
where the parent consumes what the workers made, `read`. Process start-up is not timed.

Memory, read while every worker holds the data and waits at a barrier (Gate): each worker's
RSS, PSS and USS from /proc/<pid>/smaps_rollup (bench/procmem.py), and the private memory
belonging to no file it added since before it got the data (private_anon(): copies,
copy-on-write copies, its own allocations; unlike USS it does not count pages of a shared
file or block that only this worker happens to map); "memory added", the PSS of the parent
and the workers less what they had before (Meter.workers_at_barrier): every page counted
once, so one shared copy counts once; the parent's peak RSS since the method started (VmHWM,
reset through /proc/self/clear_refs); and the whole machine: MemTotal - MemFree (page cache
and tmpfs included, since shared data lives there) above its value when the method started,
less the page cache of the scenario's source files when the method does not map them itself
(when it does, their pages cached before the start count as its memory).

Results: every worker returns checksums of what it read or wrote, and check() compares them
with values computed independently in the parent; a mismatch raises ValidationError, so a
method that skipped work fails the run."""
import ctypes
import ctypes.util
import math
import mmap
import os
import pickle
import queue
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import procmem  # noqa: E402  (bench/procmem.py)

MIB = float(1 << 20)
GIB = float(1 << 30)
WAIT = 3600.0  # seconds a worker or the parent waits for the other side at most


def log(*msg):
    print(f"[{time.strftime('%H:%M:%S')}]", *msg, file=sys.stderr, flush=True)


def now():
    return time.perf_counter()


# --------------------------------------------------------------------------------------------
# Validation

class ValidationError(AssertionError):
    """A worker's or the parent's result differs from the value computed independently."""


def check(what, got, want, rel=0.0):
    """Raise ValidationError unless got == want (numbers, or equal-length sequences of
    numbers), within a relative tolerance `rel` for floats. NaN never matches."""
    if isinstance(want, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(want):
            raise ValidationError(f"{what}: got {_short(got)}, want {len(want)} values")
        for k, (g, w) in enumerate(zip(got, want)):
            check(f"{what}[{k}]", g, w, rel)
        return
    if got is None or isinstance(got, bool):
        raise ValidationError(f"{what}: got {got!r}, want {want!r}")
    g, w = float(got), float(want)
    if math.isnan(g) or math.isnan(w) or not math.isclose(g, w, rel_tol=rel, abs_tol=0.0):
        raise ValidationError(f"{what}: got {got!r}, want {want!r}")


def _short(x):
    text = repr(x)
    return text if len(text) < 80 else text[:77] + "..."


# --------------------------------------------------------------------------------------------
# Memory

def meminfo():
    """/proc/meminfo in bytes."""
    with open("/proc/meminfo") as fp:
        return {k: int(v) << 10 for k, v in re.findall(r"^(\w+):\s+(\d+) kB", fp.read(), re.M)}


_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long)
_libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
_libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)


def cached_bytes(paths):
    """Bytes of these files in the page cache now (mincore over a mapping that touches
    nothing); files that are gone count 0."""
    total, page = 0, mmap.PAGESIZE
    for p in paths:
        try:
            fd = os.open(p, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                continue
            addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
            if addr in (None, ctypes.c_void_p(-1).value):
                continue
            try:
                pages = (size + page - 1) // page
                vec = (ctypes.c_ubyte * pages)()
                if _libc.mincore(addr, size, vec) == 0:
                    total += sum(b & 1 for b in bytes(vec)) * page
            finally:
                _libc.munmap(addr, size)
        finally:
            os.close(fd)
    return total


def system_used(exclude=()):
    """MemTotal - MemFree (anonymous memory, tmpfs and page cache alike), less the page cache
    of the files `exclude`."""
    m = meminfo()
    return m["MemTotal"] - m["MemFree"] - (cached_bytes(exclude) if exclude else 0)


def reset_peak_rss():
    """Make this process's peak RSS (VmHWM) its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fp:
            fp.write("5")
        return True
    except OSError:
        return False


def rss_now_and_peak():
    with open("/proc/self/status") as fp:
        text = fp.read()
    kib = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", text, re.M))
    return int(kib["VmRSS"]) << 10, int(kib["VmHWM"]) << 10


def warm_memory(nbytes):
    """Touch nbytes of fresh anonymous memory and give it back: the VM's host may have taken
    idle pages back, and the first touch of such a page costs far more than a later one.
    Returns the seconds it took."""
    if nbytes <= 0:
        return 0.0
    import numpy as np
    t = now()
    m = mmap.mmap(-1, int(nbytes), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        a = np.frombuffer(m, np.uint8)
        a[::mmap.PAGESIZE] = 1
        del a
    finally:
        m.close()
    return now() - t


class Meter:
    """One method's run: timestamps and memory figures, as a dict (record())."""

    def __init__(self, exclude=(), mapped=()):
        """exclude: files whose page cache is not the method's (the scenario's sources);
        mapped: files the method maps as its shared copy although they were there (and may
        be cached) before it started: their cached pages at the start count as its memory."""
        self.exclude = list(exclude)
        self.rec = {"setup": 0.0, "workers": 0.0, "read": 0.0}
        reset_peak_rss()
        self.rss0 = rss_now_and_peak()[0]
        self.pss0 = procmem.rollup(os.getpid())["pss"]
        self.sys0 = system_used(self.exclude) - (cached_bytes(mapped) if mapped else 0)
        self.t = now()

    def lap(self, key):
        """Time since the previous lap (or the start) into rec[key]."""
        t = now()
        self.rec[key] = t - self.t
        self.t = t

    def restart_clock(self):
        self.t = now()

    def workers_at_barrier(self, msgs, forked=False):
        """Memory of the workers that sent msgs (see Gate.hold), of the parent and of the
        machine, now: call while every worker waits at the barrier.

        run_added: the PSS of the parent and the workers now, less the parent's before the
        run and (spawned workers) the workers' before they got the data: what the data cost
        in these processes, each page counted once. A forked worker's PSS before the data
        already holds a share of the parent's pages, so nothing is subtracted for it (its
        own memory is what it copied)."""
        per = []
        for pid, before, _ in msgs:
            r = rollup(pid)
            if r is None:
                raise RuntimeError(f"worker {pid} is gone before the memory was read")
            per.append({"pid": pid, "rss": r["rss"], "pss": r["pss"], "uss": r["uss"],
                        "anon_added": r["anon"] - before["anon"]})
        self.rec["per_worker"] = per
        for k in ("rss", "pss", "uss", "anon_added"):
            self.rec["workers_" + k] = sum(w[k] for w in per)
        main = procmem.rollup(os.getpid())
        self.rec["parent_pss"] = main["pss"]
        before = 0 if forked else sum(b["pss"] for _, b, _ in msgs)
        self.rec["run_added"] = main["pss"] + self.rec["workers_pss"] - self.pss0 - before
        self.rec["system"] = system_used(self.exclude) - self.sys0

    def record(self, **extra):
        peak = rss_now_and_peak()[1]
        self.rec.update(parent_rss0=self.rss0, parent_peak=peak,
                        parent_peak_added=peak - self.rss0, load1=os.getloadavg()[0])
        self.rec["total"] = self.rec["setup"] + self.rec["workers"] + self.rec["read"]
        self.rec.update(extra)
        return self.rec


# --------------------------------------------------------------------------------------------
# The barrier protocol between the parent and its workers

class Gate:
    """The synchronisation objects of one run (made fresh for each: an Event cannot be
    re-armed safely while workers may still look at it). Passed to workers at start (Process
    arguments or a pool's initializer): they pickle only while a process is spawned."""

    def __init__(self, ctx, n):
        self.n = n
        self.up = ctx.Barrier(n + 1)    # workers and parent: all up, then all measured
        self.go = ctx.Event()           # the timed phase starts
        self.peers = ctx.Barrier(n)     # the workers among themselves (scenario 2)
        self.done = ctx.Queue()         # (pid, rollup before the data, result) per worker
        self.leave = ctx.Event()        # the parent has read the memory: let go of the data

    # worker side
    def ready(self):
        """Wait until every worker is up, note this worker's memory then (each one's share
        of the pages all interpreters map is settled), wait until all have: the memory
        before the data."""
        self.up.wait(WAIT)
        before = self_rollup()
        self.up.wait(WAIT)
        return before

    def hold(self, before, result):
        """Report the result, then keep the data until the parent has read the memory."""
        self.done.put((os.getpid(), before, result))
        if not self.leave.wait(WAIT):
            raise TimeoutError("the parent never released the workers")

    # parent side
    def wait_ready(self):
        """Return once every worker has passed ready() (not timed: start-up and imports)."""
        self.up.wait(WAIT)
        self.up.wait(WAIT)

    def gather(self, alive=None):
        """Every worker's (pid, before, result), in arrival order. `alive()` is called while
        waiting and should raise if a worker failed (so a crash does not hang the run)."""
        got = []
        deadline = now() + WAIT
        while len(got) < self.n:
            try:
                got.append(self.done.get(timeout=0.5))
            except queue.Empty:
                if alive is not None:
                    alive()
                if now() > deadline:
                    raise TimeoutError(f"{len(got)} of {self.n} workers reported")
        return got


_VMA = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")


def private_anon(pid):
    """Bytes of memory only this process holds that belong to no file: the private pages of
    its anonymous mappings (heap, arrays it allocated or copied, pages copied on write after
    a fork) and the copied-on-write pages of its private file mappings. Pages of a shared
    file or shared memory block do not count, however few processes map them (USS counts
    those). None once the process is gone."""
    total, anon_vma = 0, False
    try:
        with open(f"/proc/{pid}/smaps") as fp:
            for line in fp:
                if _VMA.match(line):
                    parts = line.split(maxsplit=5)
                    path = parts[5].strip() if len(parts) > 5 else ""
                    anon_vma = path == "" or path.startswith("[")
                elif anon_vma and line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1]) << 10
                elif not anon_vma and line.startswith("Anonymous:"):
                    total += int(line.split()[1]) << 10
    except (FileNotFoundError, ProcessLookupError):
        return None
    return total


def rollup(pid):
    """procmem.rollup(pid) plus "anon" (private_anon), or None once the process is gone."""
    r = procmem.rollup(pid)
    anon = private_anon(pid)
    if r is None or anon is None:
        return None
    r["anon"] = anon
    return r


def self_rollup():
    return rollup(os.getpid())


# A pool worker's gate and its memory before any data (pool_init sets them)
GATE = None
BEFORE = None


PREIMPORT = ("numpy", "mmarr", "multiprocessing.shared_memory")


def preimport(modules=PREIMPORT):
    """Import in a worker, before the timed phase, what any method's tasks need: the timed
    phase then measures getting the data, not importing a module."""
    import importlib
    for m in modules:
        importlib.import_module(m)


def pool_init(gate, modules=PREIMPORT):
    """Initializer of pool workers: import what the tasks need, keep the gate."""
    global GATE
    preimport(modules)
    GATE = gate


def pool_ready(_):
    """A task that returns once every worker of the pool runs one (see warm_pool), noting
    the worker's memory before any data."""
    global BEFORE
    BEFORE = GATE.ready()


def pool_hold(_):
    """A task that reports the worker's memory before the data and waits at the barrier."""
    GATE.hold(BEFORE, None)


def warm_pool(submit, gate):
    """Start every worker of a pool and wait until each has run its initializer: `submit(fn,
    arg)` returns a future (or AsyncResult). Each worker then blocks in one pool_ready task,
    so the n tasks land on n different workers."""
    futs = [submit(pool_ready, i) for i in range(gate.n)]
    gate.wait_ready()
    for f in futs:
        f.result() if hasattr(f, "result") else f.get(WAIT)


def processes_alive(procs):
    """An alive() for Gate.gather over multiprocessing.Process objects."""
    def alive():
        for p in procs:
            if p.exitcode not in (None, 0):
                raise RuntimeError(f"worker {p.pid} exited with {p.exitcode}")
    return alive


def futures_alive(futures):
    """An alive() for Gate.gather over concurrent.futures / AsyncResult objects."""
    def alive():
        for f in futures:
            done = f.done() if hasattr(f, "done") else f.ready()
            if done:
                f.result() if hasattr(f, "result") else f.get()
    return alive


def close_share(shared):
    """Close an mmarr.Shared and make sure its file is gone. mmarr 0.1.0 leaves the file of a
    share(..., writable=True) behind when the last user closes it (the lease is given up
    while the "r+" handle still holds its own flock, so the exclusive lock that would remove
    the file fails): removed here once every worker has exited."""
    path = shared.path
    shared.close()
    if os.path.exists(path):
        os.unlink(path)


# --------------------------------------------------------------------------------------------
# Bytes pickled per task

class _Spawning:
    """What a spawning Popen offers the reducers of RawArray, Queue...: lets them pickle (to
    count their bytes) outside of a process start."""

    def duplicate_for_child(self, fd):
        return fd

    def DupFd(self, fd):
        from multiprocessing.popen_spawn_posix import _DupFd
        return _DupFd(fd)


def pickled_size(obj):
    """len() of obj pickled as multiprocessing pickles task arguments (ForkingPickler)."""
    from multiprocessing import context, reduction
    try:
        return len(reduction.ForkingPickler.dumps(obj))
    except RuntimeError:  # "... should only be shared between processes through inheritance"
        context.set_spawning_popen(_Spawning())
        try:
            return len(reduction.ForkingPickler.dumps(obj))
        finally:
            context.set_spawning_popen(None)


def dumps(obj):
    """obj pickled for a worker that unpickles it inside the timed phase."""
    from multiprocessing import reduction
    return bytes(reduction.ForkingPickler.dumps(obj, pickle.HIGHEST_PROTOCOL))


# --------------------------------------------------------------------------------------------
# Statistics and the machine

def stats(values):
    """(median, min, max) of a non-empty list."""
    return statistics.median(values), min(values), max(values)


def fs_of(path):
    """(mount point, filesystem type, options) of the filesystem holding path."""
    best = ("", "?", "")
    real = os.path.realpath(path)
    with open("/proc/mounts") as fp:
        for line in fp:
            mnt, typ, opts = line.split()[1:4]
            mnt = mnt.replace("\\040", " ")
            inside = real == mnt or real.startswith(mnt.rstrip("/") + "/")
            if inside and len(mnt) >= len(best[0]):  # the innermost mount wins
                best = (mnt, typ, opts)
    return best


def describe_dir(path):
    """A short text: filesystem, size, free space, and how mmarr says it maps pages."""
    mnt, typ, opts = fs_of(path)
    st = os.statvfs(path)
    size, free = st.f_blocks * st.f_frsize / GIB, st.f_bavail * st.f_frsize / GIB
    huge = re.search(r"huge=(\w+)", opts)
    text = f"{typ} at {mnt}, {size:,.1f} GiB, {free:,.1f} GiB free"
    if huge:
        text += f", huge={huge.group(1)}"
    try:
        import mmarr
        text += f" ({mmarr._mmarr.pages_of(path)[1]})"
    except Exception:  # noqa: BLE001 (a description; mmarr may lack the helper)
        pass
    return text


def machine(directory):
    """The machine as the report states it."""
    import mmarr
    versions = {"mmarr": mmarr}
    for name in ("pandas", "psutil"):
        try:
            versions[name] = __import__(name)
        except ImportError:
            versions[name] = "missing"
    m = procmem.machine(**versions)
    m["dir"] = f"{directory}: {describe_dir(directory)}"
    m["/dev/shm"] = describe_dir("/dev/shm")
    for key, path in (("shmem_enabled", "/sys/kernel/mm/transparent_hugepage/shmem_enabled"),
                      ("thp", "/sys/kernel/mm/transparent_hugepage/enabled")):
        try:
            with open(path) as fp:
                m[key] = re.search(r"\[(\w+)\]", fp.read()).group(1)
        except (OSError, AttributeError):
            pass
    mi = meminfo()
    m["mem_available_gib"] = round(mi["MemAvailable"] / GIB, 1)
    m["load_at_start"] = round(os.getloadavg()[0], 2)
    return m
