#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""ab.py — before/after: bench_open and bench_cold of two builds, interleaved in one run.

For a change that must not cost speed (a refactoring, a new check): build the old tree and
the new one, then

    bench/ab.py --base /tmp/old/build --new build [--rounds 5] [--disk-dir DIR]

Each round runs both builds' benchmarks, the order alternating between rounds, on the same
data: bench_open (100,000 arrays, on /dev/shm and on DIR) and bench_cold (a 64 MiB smooth
float32 .npy made once, 1 MiB chunks, shuffle on). Every "median" line of their output is
collected; the table gives, per figure, the median over rounds of each build's medians, their
spread (min-max) and new/base. Timings belong here, never in tests.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

LINE = re.compile(r"^\s*(?P<label>.+?)\s+median\s+(?P<value>[\d.]+)\s*(?P<unit>[a-zA-Z/]+)?")


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"ab.py: {' '.join(cmd)} failed ({out.returncode}):\n{out.stderr}")
    figures = {}
    prefix = ""
    for line in out.stdout.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        label = m.group("label").strip()
        if not line.startswith(" "):
            prefix = label  # a headline; its indented lines are parts of it
        elif not label.startswith(("of which", "kernel", "memory", "same")):
            prefix = ""
        key = label if not line.startswith(" ") or not prefix else f"{prefix} / {label}"
        figures[(key, m.group("unit") or "")] = float(m.group("value"))
    return figures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True, help="build tree of the old code")
    ap.add_argument("--new", required=True, help="build tree of the new code")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--disk-dir", default="/var/tmp", help="a directory on disk (not tmpfs)")
    ap.add_argument("--shm-dir", default="/dev/shm")
    args = ap.parse_args()
    import numpy as np  # only to make the cold benchmark's input

    with tempfile.TemporaryDirectory(dir=args.shm_dir, prefix="mmarr-ab-") as tmp:
        data = os.path.join(tmp, "smooth.npy")
        rng = np.random.default_rng(1)
        np.save(data, np.cumsum(rng.standard_normal(16 << 20).astype("f4")).astype("f4"))

        def cmds(build):
            b = os.path.join(build, "bench")
            return [
                [os.path.join(b, "bench_open"), "--dir", args.shm_dir, "--dir", args.disk_dir,
                 "--arrays", "100000", "--reps", "20"],
                [os.path.join(b, "bench_cold"), "--input", data, "--dir", tmp, "--chunks", "1024",
                 "--shuffle", "on", "--reps", "3", "--read-reps", "3", "--slices", "100"],
            ]

        for build in (args.base, args.new):
            for c in cmds(build):
                if not os.access(c[0], os.X_OK):
                    sys.exit(f"ab.py: {c[0]} not found: build the benchmarks in {build}")
        got = {"base": [], "new": []}
        for r in range(args.rounds):
            order = ("base", "new") if r % 2 == 0 else ("new", "base")
            for which in order:
                figures = {}
                for c in cmds(getattr(args, which)):
                    figures.update(run(c))
                got[which].append(figures)
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    keys = [k for k in got["base"][0] if all(k in f for f in got["base"] + got["new"])]
    print(f"{'figure':62} {'unit':>6} {'base':>10} {'new':>10} {'new/base':>9}  spread base | new")
    for key in keys:
        b = [f[key] for f in got["base"]]
        n = [f[key] for f in got["new"]]
        mb, mn = statistics.median(b), statistics.median(n)
        ratio = mn / mb if mb else float("nan")
        print(f"{key[0][:62]:62} {key[1]:>6} {mb:10.4g} {mn:10.4g} {ratio:9.3f}  "
              f"{min(b):.4g}-{max(b):.4g} | {min(n):.4g}-{max(n):.4g}")


if __name__ == "__main__":
    main()
