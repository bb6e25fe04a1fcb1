# SPDX-License-Identifier: MIT
"""What the Python benchmarks share: processes' memory as /proc/<pid>/smaps_rollup tells it,
a thread that samples a set of worker processes, the machine's description, medians.

PSS adds up to the memory a set of processes uses, each page counted once (divided among the
processes that map it); USS counts the pages only this process maps (copies, but also file
pages no other process happens to map). pss_anon is the anonymous part (heaps; copy-on-write
copies land there), pss_file the page cache of mapped files, pss_shmem tmpfs and shared
memory (an mmarr file on /dev/shm)."""
import importlib.util
import json
import os
import platform
import re
import statistics
import sys
import threading

FIELDS = ("Rss", "Pss", "Pss_Anon", "Pss_File", "Pss_Shmem", "Private_Clean", "Private_Dirty")
KEYS = ("rss", "pss", "pss_anon", "pss_file", "pss_shmem", "uss")


def rollup(pid):
    """A process's rss, pss (and its anon, file and shmem parts) and uss, in bytes; None once
    it is gone (or exiting: no mappings left)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fp:
            text = fp.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    kib = dict(re.findall(r"^(\w+):\s+(\d+) kB", text, re.M))
    if not all(k in kib for k in FIELDS):
        return None
    b = {k: int(kib[k]) << 10 for k in FIELDS}
    return {"rss": b["Rss"], "pss": b["Pss"], "pss_anon": b["Pss_Anon"],
            "pss_file": b["Pss_File"], "pss_shmem": b["Pss_Shmem"],
            "uss": b["Private_Clean"] + b["Private_Dirty"]}


class Sampler(threading.Thread):
    """Every `interval` s, the workers' totals (KEYS), the main process's ("main_<key>") and
    both together at the same instant ("all_<key>"); keeps the peaks. sample() can also be
    called from the main thread (a start or end sample)."""

    def __init__(self, workers, interval=0.1):
        super().__init__(daemon=True)
        self.workers, self.interval = list(workers), interval
        self.peak = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def sample(self):
        """The totals now (and the peaks updated), or None if a worker is gone: its shares
        of pages would then move to the others while they are read, counted twice."""
        total = dict.fromkeys(KEYS, 0)
        for pid in self.workers:
            r = rollup(pid)
            if r is None:
                return None
            for k in KEYS:
                total[k] += r[k]
        main = rollup(os.getpid())
        for k in KEYS:
            total["main_" + k] = main[k]
            total["all_" + k] = main[k] + total[k]
        with self.lock:
            for k, v in total.items():
                self.peak[k] = max(self.peak.get(k, 0), v)
        return total

    def run(self):
        while not self.stopped.wait(self.interval):
            self.sample()

    def stop(self):
        """Stop sampling: (a last sample, or None if a worker is gone; the peaks)."""
        self.stopped.set()
        if self.is_alive():
            self.join()
        last = self.sample()
        return last, dict(self.peak)


def machine(**versions):
    """The machine and the versions of Python and numpy, plus `versions` (name: module or
    text) as given."""
    import numpy as np
    with open("/proc/meminfo") as fp:
        total = int(re.search(r"MemTotal:\s+(\d+)", fp.read()).group(1))
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fp:
            cpu = re.search(r"model name\s*:\s*(.*)", fp.read()).group(1)
    except (OSError, AttributeError):
        pass
    out = {"host": platform.node(), "cpu": cpu, "kernel": platform.release(),
           "cores": os.cpu_count(), "mem_gib": round(total / 2**20, 1),
           "python": platform.python_version(), "numpy": np.__version__}
    for name, v in versions.items():
        out[name] = v if isinstance(v, str) else getattr(v, "__version__", "?")
    return out


def require(prog, *modules):
    """Exit with 77 (ctest's "skipped") naming the modules of `modules` that cannot be
    imported: a smoke run on a machine without them is skipped, not failed."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        print(f"{prog}: skipped, missing {', '.join(missing)}", file=sys.stderr)
        sys.exit(77)


def write_results(out, markdown, data):
    """out/results.md (the report) and out/results.json (every run, as `data` holds them)."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.md"), "w") as fp:
        fp.write(markdown)
    with open(os.path.join(out, "results.json"), "w") as fp:
        json.dump(data, fp, indent=1)


def median_range(values, scale=1.0, fmt="{:,.0f}"):
    """"median (min-max)" of values / scale; "—" for none."""
    v = [x / scale for x in values]
    if not v:
        return "—"
    return f"{fmt.format(statistics.median(v))} ({fmt.format(min(v))}-{fmt.format(max(v))})"
