#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The memory a PyTorch DataLoader's workers hold: an mmarr Dataset against in-memory ones
(issue 16, item 2).

    PYTHONPATH=build/gcc/python /usr/bin/python3 bench/torch/dataloader_pss.py [--size 1GiB]
        [--workers 4] [--batch-size 256] [--methods fork,spawn]
        [--datasets mmarr,list,array,none] [--repeats 3] [--warmups 1] [--dir /dev/shm/D]
        [--out DIR] [--resume] [--smoke]

One epoch of DataLoader(dataset, batch_size, shuffle=True, num_workers=N) over uint8 images
(3x32x32, as CIFAR's) with an int64 label each, per start method ("fork", "spawn") and
dataset:
  mmarr  the arrays of an mmarr file on /dev/shm, opened copy-on-write ("c"); the Dataset
         holds the two MappedArrays, which pickle as references (examples/python/
         torch_dataset.py is the same pattern)
  list   the classic: a Python list of (image ndarray, label int) pairs, one allocation each
  array  one in-memory ndarray of all images and one of the labels
  none   the floor: the same loop with images made from the index, no stored data
Each (dataset, start method) runs in a fresh interpreter, which builds its dataset from
the file; the workers are started afresh for every epoch (persistent_workers=False, the
default). A thread of the main process samples /proc/<pid>/smaps_rollup of every worker (and of the
main process) every --interval seconds; each figure is the largest total sampled over the
epoch ("peak") and the total once the last batch has arrived, before the workers exit
("end"). PSS splits a page between the processes mapping it, so a sum over processes
counts each page once; USS is Private_Clean + Private_Dirty. The main process checks every
sample (the sum of its bytes against the expected one, and that each index arrives
exactly once). Per configuration: --warmups epochs, then --repeats measured ones; medians
with min-max. Prints a markdown table and writes it with every run (JSON) to DIR
(default bench/torch/results-<date>/), updated after each configuration; --resume reruns
only the configurations missing there.
--smoke: 16 MiB, 2 workers, no warm-up, 1 repeat: every sample checked, in seconds."""
import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import time
import warnings
from multiprocessing.reduction import ForkingPickler

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import procmem  # noqa: E402  (bench/procmem.py)
from procmem import Sampler, median_range  # noqa: E402

if __name__ == "__main__":  # ctest's bench_torch_smoke: skipped, not failed, without them
    procmem.require("dataloader_pss", "torch", "mmarr")
import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

import mmarr  # noqa: E402

SHAPE = (3, 32, 32)  # one image: 3072 bytes
ITEM_BYTES = int(np.prod(SHAPE))


# --------------------------------------------------------------------------------------------
# The datasets. Each sample is (image tensor, label); the label is the item's number, so the
# main process can check which item it got.

class ArrayImages(Dataset):
    """One ndarray of images and one of labels; a sample is a tensor over the image's bytes
    (torch.from_numpy: no copy)."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return torch.from_numpy(self.images[i]), int(self.labels[i])


class MmarrImages(Dataset):
    """The arrays of an mmarr file, as in examples/python/torch_dataset.py. Mode "c" makes
    them writable (writes would stay in the process), so torch.from_numpy takes them without
    a copy or a warning; pickled to a spawned worker they are references, and the worker
    maps the same file."""

    def __init__(self, path):
        f = mmarr.open(path, "c")
        self.images, self.labels = f["images"], f["labels"]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        # a plain ndarray view: MappedArrays are tracked by the cycle collector, and one per
        # sample makes a forked worker run full collections, which write to (and so copy)
        # every page of objects it inherited (results-2026-12-06 measured that)
        return torch.from_numpy(self.images.view(np.ndarray)[i]), int(self.labels[i])


class ListImages(Dataset):
    """The classic in-memory dataset: a list of (image, label) pairs, each image its own
    ndarray (as when images are decoded one by one)."""

    def __init__(self, images, labels):
        self.items = [(img.copy(), int(label)) for img, label in zip(images, labels)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        img, label = self.items[i]
        return torch.from_numpy(img), label


class NoData(Dataset):
    """The floor: the same DataLoader loop without stored data."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.full(SHAPE, i % 251, dtype=torch.uint8), i


# --------------------------------------------------------------------------------------------
# Measuring

def epoch(dataset, method, args, seed, want):
    """One epoch with fresh workers: wall time, peak and end figures; every sample checked."""
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True,
                        num_workers=args.workers, multiprocessing_context=method,
                        generator=torch.Generator().manual_seed(seed))
    seen = np.zeros(len(dataset), np.int64)
    sampler = Sampler([], args.interval)  # the main process while it starts the workers
    sampler.start()
    t0 = time.perf_counter()
    it = iter(loader)  # starts the workers (under spawn, pickles the dataset to each)
    sampler.workers = [w.pid for w in it._workers]  # (DataLoader has no public pid list)
    for k, (images, labels) in enumerate(it):
        idx = labels.numpy()
        got = images.reshape(len(idx), -1).sum(dim=1).numpy()
        if not np.array_equal(got, want[idx]):
            raise AssertionError(f"batch {k}: wrong image bytes for items "
                                 f"{idx[got != want[idx]][:5]}")
        np.add.at(seen, idx, 1)
        if k == len(loader) - 1:  # the last batch: measure before the workers exit
            wall = time.perf_counter() - t0
            end, peak = sampler.stop()
    del it
    if not (seen == 1).all():
        raise AssertionError(f"{int((seen != 1).sum())} items not seen exactly once")
    return {"wall": wall, "end": end, "peak": peak}


# --------------------------------------------------------------------------------------------
# The run: this process writes the file, then runs each (dataset, start method) in a fresh
# interpreter (--child), so that no configuration inherits another's heap.

def parse_size(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?", text.strip(), re.I)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1GiB, 64MiB)")
    unit = (m.group(2) or "B").upper().replace("I", "")
    return int(float(m.group(1)) * {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}[unit])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=parse_size, default="1GiB", help="bytes of images (1GiB)")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--methods", default="fork,spawn")
    p.add_argument("--datasets", default="mmarr,list,array,none")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmups", type=int, default=1)
    p.add_argument("--interval", type=float, default=0.1, help="seconds between samples")
    p.add_argument("--dir", default="/dev/shm/mmarr-bench-torch", help="the mmarr file's")
    p.add_argument("--out", default=None)
    p.add_argument("--smoke", action="store_true", help="16 MiB, 2 workers, 1 epoch each")
    p.add_argument("--resume", action="store_true",
                   help="keep the configurations DIR/results.json holds; run the others")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)  # "dataset,method"
    a = p.parse_args(argv)
    if a.smoke:
        a.size, a.workers, a.repeats, a.warmups = parse_size("16MiB"), 2, 1, 0
    a.methods, a.datasets = a.methods.split(","), a.datasets.split(",")
    a.out = a.out or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  f"results-{datetime.date.today().isoformat()}")
    a.path = os.path.join(a.dir, "images.mmarr")
    a.items = a.size // ITEM_BYTES
    return a


def log(*msg):
    print(f"[{time.strftime('%H:%M:%S')}]", *msg, file=sys.stderr, flush=True)


def write_file(args):
    """images (random bytes), labels (the item numbers) and sums (each image's byte sum,
    which the main process checks), written block by block."""
    n, block = args.items, 1 << 16
    rng = np.random.default_rng(0)
    with mmarr.Writer(args.path, sync=False) as w:
        images = w.reserve("images", (n,) + SHAPE, "|u1")
        sums = w.reserve("sums", (n,), "<i8")
        for lo in range(0, n, block):
            part = rng.integers(0, 256, images[lo:lo + block].shape, dtype=np.uint8)
            images[lo:lo + block] = part
            sums[lo:lo + block] = part.reshape(len(part), -1).sum(axis=1, dtype=np.int64)
        w.add("labels", np.arange(n, dtype=np.int64))
        del images, sums


def make_dataset(kind, path, n):
    """The dataset of `kind` over the file's items (the in-memory ones copy them out of it
    and keep no mapping), and the image sums the main process expects."""
    with mmarr.open(path) as f:
        if kind == "mmarr":
            return MmarrImages(path), f.read("sums")
        if kind == "none":
            return NoData(n), (np.arange(n, dtype=np.int64) % 251) * ITEM_BYTES
        if kind == "array":
            return ArrayImages(f.read("images"), f.read("labels")), f.read("sums")
        return ListImages(f["images"], f.read("labels")), f.read("sums")


def child(args):
    """One configuration in this fresh interpreter: JSON of its epochs on stdout."""
    kind, method = args.child.split(",")
    t = time.perf_counter()
    ds, want = make_dataset(kind, args.path, args.items)
    built = time.perf_counter() - t
    pickled = len(ForkingPickler.dumps(ds))
    log(f"{method} {kind}: built in {built:.1f} s, pickles to {pickled:,} bytes")
    runs = []
    for rep in range(args.warmups + args.repeats):
        r = epoch(ds, method, args, rep, want)
        r.update(method=method, dataset=kind, warmup=rep < args.warmups, build_s=built,
                 pickle_bytes=pickled, load=os.getloadavg()[0])
        runs.append(r)
        log(f"{method} {kind}{' (warm-up)' if r['warmup'] else ''}: {r['wall']:.2f} s, "
            f"workers' PSS peak {r['peak']['pss'] >> 20} MiB, end {r['end']['pss'] >> 20} "
            f"MiB; all processes {r['peak']['all_pss'] >> 20} MiB (load {r['load']:.1f})")
    json.dump(runs, sys.stdout)


def machine():
    return procmem.machine(torch=torch, mmarr=mmarr, mmarr_from=os.path.dirname(mmarr.__file__))


def summarize(args, runs):
    """Markdown: one row per (start method, dataset), then the comparisons with mmarr."""
    mib = float(1 << 20)
    rows, med = [], {}
    for method in args.methods:
        for kind in args.datasets:
            rs = [r for r in runs if r["method"] == method and r["dataset"] == kind
                  and not r["warmup"]]
            if not rs:
                continue
            fig = {(w, k): [r[w][k] for r in rs] for w in ("peak", "end")
                   for k in ("pss", "pss_anon", "uss", "rss", "main_pss", "all_pss")}
            med[method, kind] = {key: statistics.median(v) for key, v in fig.items()}
            cells = [median_range([r["wall"] for r in rs], fmt="{:.2f}")]
            cells += [median_range(fig[key], mib) for key in (
                ("peak", "pss"), ("end", "pss"), ("peak", "uss"), ("peak", "rss"),
                ("end", "pss_anon"), ("peak", "main_pss"), ("peak", "all_pss"))]
            rows.append(f"| {method} | {kind} | " + " | ".join(cells) +
                        f" | {rs[0]['pickle_bytes']:,} |")
    loads = [r["load"] for r in runs]
    out = [f"## DataLoader workers' memory: {args.items:,} images of "
           f"{'x'.join(map(str, SHAPE))} uint8 ({args.size / 2**20:,.0f} MiB) + int64 labels, "
           f"{args.workers} workers, batch {args.batch_size}, shuffle, {args.repeats} repeats "
           f"after {args.warmups} warm-up, {datetime.date.today().isoformat()}", "",
           "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()) +
           f"; the mmarr file in {args.dir}; 1-minute load average at the epochs' ends "
           f"{min(loads):.1f}-{max(loads):.1f}.", "",
           "MiB, median (min-max). Workers' figures are sums over the workers; peak = the "
           "largest total sampled during the epoch (the main process's from before it starts "
           "the workers), end = after the last batch. anon = the anonymous part of the "
           "workers' PSS (heaps, copies; the rest is the mmarr file on tmpfs and libraries). "
           "all = main process + workers, at the same instant. pickle = bytes of the Dataset "
           "as a spawned worker receives it.", "",
           "| start | dataset | epoch s | workers' PSS peak | PSS end | USS peak | RSS peak "
           "| anon PSS end | main PSS peak | all PSS peak | pickle, bytes |",
           "|---|---|---|---|---|---|---|---|---|---|---|", *rows]
    lines = []
    for method in args.methods:
        base, floor = med.get((method, "mmarr")), med.get((method, "none"))
        for kind in args.datasets:
            m = med.get((method, kind))
            if kind in ("mmarr", "none") or not base or not m:
                continue
            line = (f"- {method}, {kind} / mmarr: workers' PSS peak "
                    f"{m['peak', 'pss'] / base['peak', 'pss']:.2f}x, all processes "
                    f"{m['peak', 'all_pss'] / base['peak', 'all_pss']:.2f}x")
            if floor:  # what the data costs: all processes' PSS above the no-data floor's
                key = ("peak", "all_pss")
                mine, theirs = m[key] - floor[key], base[key] - floor[key]
                line += (f"; above the no-data floor {mine / mib:,.0f} MiB against "
                         f"{theirs / mib:,.0f} MiB")
                if theirs > args.size / 4:  # else the floor's noise dominates the ratio
                    line += f" ({mine / theirs:.2f}x)"
            lines.append(line)
    if lines:
        out += ["", "Against mmarr (ratios of medians):", "", *lines]
    return "\n".join(out) + "\n"


KEEP_OUT = ("child", "resume")  # options that do not describe the measurement
SAME = ("size", "workers", "batch_size", "repeats", "warmups")  # what --resume must match


def write_results(args, runs):
    """results.md and results.json in DIR, for the configurations run so far."""
    table = summarize(args, runs)
    procmem.write_results(args.out, table, {
        "args": {k: v for k, v in vars(args).items() if k not in KEEP_OUT},
        "machine": machine(), "item_shape": SHAPE, "runs": runs})
    return table


def earlier_runs(args):
    """With --resume, the runs DIR/results.json already holds (same configuration only)."""
    name = os.path.join(args.out, "results.json")
    if not args.resume or not os.path.exists(name):
        return []
    with open(name) as fp:
        prev = json.load(fp)
    differ = [k for k in SAME if prev["args"][k] != getattr(args, k)]
    if differ:
        sys.exit(f"--resume: {name} was measured with other {', '.join(differ)}")
    return prev["runs"]


def main():
    args = parse_args()
    warnings.filterwarnings("ignore", message="This DataLoader will create")  # > CPU count
    if args.child:
        child(args)
        return
    runs = earlier_runs(args)
    done = {(r["dataset"], r["method"]) for r in runs}
    os.makedirs(args.dir, exist_ok=True)
    t = time.perf_counter()
    write_file(args)
    log(f"{args.items:,} items, {args.size / 2**20:,.0f} MiB in {args.path} "
        f"({time.perf_counter() - t:.1f} s)")
    try:
        for kind in args.datasets:
            for method in args.methods:
                if (kind, method) in done:
                    continue
                out = subprocess.run([sys.executable, os.path.abspath(__file__), *sys.argv[1:],
                                      "--child", f"{kind},{method}"],
                                     stdout=subprocess.PIPE, check=True).stdout
                runs += json.loads(out)
                write_results(args, runs)  # so far: a long run stopped midway keeps them
    finally:
        os.unlink(args.path)
        try:
            os.rmdir(args.dir)
        except OSError:
            pass  # not empty: not ours alone
    print(write_results(args, runs))
    log(f"written to {args.out}")


if __name__ == "__main__":
    main()
