# SPDX-License-Identifier: MIT
"""Helpers shared by the examples: finding the mmarr package, timing, and what the workers'
memory really cost (PSS from /proc/<pid>/smaps_rollup, which splits shared pages between the
processes that map them, so summing it over processes counts each page once)."""
import importlib
import os
import sys
import time

try:
    importlib.import_module("mmarr")  # installed, or PYTHONPATH=<build>/python
except ImportError:  # a source tree built as the README says: cmake -S . -B build
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "..", "build", "python"))
    try:
        importlib.import_module("mmarr")
    except ImportError as e:
        sys.exit(f"mmarr is not importable ({e}): build it (cmake -S . -B build && cmake "
                 f"--build build) or set PYTHONPATH=<build dir>/python")

_baseline = {}


def pss_kib(pid="self"):
    """Proportional set size of a process, in KiB."""
    with open(f"/proc/{pid}/smaps_rollup") as fp:
        for line in fp:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise RuntimeError("no Pss in smaps_rollup")


def worker_init(barrier=None):
    """Pool initializer: remember the worker's PSS before it received any data, and the
    barrier report() waits at (give one with parties = workers when there is one task per
    worker, so that all measure while all still map the shared pages)."""
    _baseline["pss"] = pss_kib()
    _baseline["barrier"] = barrier


def report():
    """(pid, PSS now, PSS added since worker_init), from inside a worker task."""
    if _baseline.get("barrier") is not None:
        _baseline["barrier"].wait(timeout=300)
    now = pss_kib()
    return os.getpid(), now, now - _baseline.get("pss", now)


def total_added_mib(reports):
    """Sum over distinct workers of the largest PSS each added, in MiB."""
    per_pid = {}
    for pid, _, added in reports:
        per_pid[pid] = max(per_pid.get(pid, 0), added)
    return sum(per_pid.values()) / 1024


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0


def line(label, seconds, pss_mib, extra=""):
    print(f"  {label:<30} {seconds:7.2f} s   workers' PSS added {pss_mib:8.1f} MiB  {extra}")
