#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Four shared-array scenarios numpy users hit, each with its usual fixes and with mmarr, and
two scaling curves, in one run on one machine (issue #20).

    PYTHONPATH=build/python /usr/bin/python3 bench/scenarios/bench_scenarios.py
        [--smoke | --scale full|medium|smoke|FACTOR] [--dir DIR] [--out FILE]
        [--only records,render,many,rows,curves,restart] [--reps N] [--warmups N]
    bench_scenarios.py --render results.json [--out FILE]   # the report again, from a run

  1 records  a DataFrame's record table summed (np.nansum) by 4 spawned ProcessPoolExecutor
             workers: pickled task argument, shared_memory + np.recarray, mmarr (the table;
             the DataFrame as columns)                                       s1_records.py
  2 render   4 workers fill a 4-D float32 buffer slab by slab, the parent reads it:
             shared_memory, np.memmap, mmarr.share(empty=..., writable=True)  s2_render.py
  3 many     many arrays (16 GiB) read by 12 processes: copies per process, fork
             copy-on-write of a list of arrays, shared_memory, np.load(mmap_mode="r"), one
             mmarr file                                                       s3_many.py
  4 rows     a Pool fills a 2-D array by row blocks: RawArray + Pool initializer, np.memmap,
             mmarr.share(empty=..., writable=True), an "r+" mmarr file        s4_rows.py
  curves     1-12 workers at 1 GiB, 64 MiB-16 GiB at 4 workers: mmarr, shared_memory,
             np.memmap                                                        curves.py
  restart    does the data survive a restart, per way of sharing            restart.py

What is measured and how: common.py. Every worker's result is checked against values the
parent computes independently (a wrong or skipped result fails the run). Each figure is a
median with min-max over --reps rounds, after --warmups rounds; within a round the methods
run one after another in an order rotated each round. Writes FILE (markdown, default
bench/scenarios/results-<date>/results.md) and FILE's .json beside it.

Scales: full (the issue's sizes; needs the whole 24 GiB, 2-core machine for 25-35 minutes),
medium (<= 1 GiB, 4 workers; a few minutes), smoke (a few MiB, 2 workers, 1 round: every
result checked, nothing compared; ctest bench_scenarios_smoke), or a FACTOR applied to the
full sizes."""
import argparse
import dataclasses
import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import curves  # noqa: E402
import report  # noqa: E402
import restart  # noqa: E402
import s1_records  # noqa: E402
import s2_render  # noqa: E402
import s3_many  # noqa: E402
import s4_rows  # noqa: E402

MiB, GiB = 1 << 20, 1 << 30
SCENARIOS = (("records", s1_records, "1. A record table summed by a spawned pool"),
             ("render", s2_render, "2. Workers writing into a shared render buffer"),
             ("many", s3_many, "3. Many large arrays for many processes"),
             ("rows", s4_rows, "4. A pool populating a shared 2-D array by row blocks"))


@dataclasses.dataclass
class Config:
    scale: str = "full"
    workers: int = 4
    s1_rows: int = 10_000_000
    s2_shape: tuple = (32, 512, 1024, 4)          # 256 MiB of float32
    s3_total: int = 16 * GiB
    s3_array: int = 16 * MiB
    s3_workers: int = 12
    s4_shape: tuple = (131_072, 1024)             # 1 GiB of float64
    s4_blocks: int = 64
    curve_workers: tuple = (1, 2, 4, 8, 12)
    curve_workers_bytes: int = 1 * GiB
    curve_sizes: tuple = (64 * MiB, 256 * MiB, 1 * GiB, 4 * GiB, 16 * GiB)
    curve_size_workers: int = 4
    curve_methods: tuple = curves.METHODS
    reps: int = 3
    warmups: int = 1
    warm_limit: int = 2 * GiB                     # larger items: no warm-up round
    dir: str = ""
    skip: bool = False                            # workers skip their work (check_validation)
    only: tuple = ("records", "render", "many", "rows", "curves", "restart")
    methods: tuple = ()                           # empty: every method


PRESETS = {
    "full": {},
    "medium": dict(s3_total=1 * GiB, s3_workers=4, s4_shape=(32_768, 1024),
                   curve_workers=(1, 2, 4), curve_workers_bytes=256 * MiB,
                   curve_sizes=(64 * MiB, 256 * MiB, 1 * GiB)),
    "smoke": dict(workers=2, s1_rows=100_000, s2_shape=(8, 128, 256, 4), s3_total=8 * MiB,
                  s3_array=1 * MiB, s3_workers=2, s4_shape=(512, 1024), s4_blocks=8,
                  curve_workers=(1, 2), curve_workers_bytes=4 * MiB,
                  curve_sizes=(1 * MiB, 4 * MiB), curve_size_workers=2, reps=1, warmups=0),
}


def scaled(factor):
    """The full sizes times `factor` (workers unchanged), rounded to whole pages/rows."""
    full = Config()

    def size(b, unit=MiB):
        return max(unit, int(b * factor) // unit * unit)
    s, h, w, c = full.s2_shape
    return dict(s1_rows=max(1000, int(full.s1_rows * factor)),
                s2_shape=(s, max(1, int(h * factor)), w, c),
                s3_total=size(full.s3_total, full.s3_array),
                s4_shape=(max(full.s4_blocks, int(full.s4_shape[0] * factor)), full.s4_shape[1]),
                curve_workers_bytes=size(full.curve_workers_bytes),
                curve_sizes=tuple(sorted({size(b) for b in full.curve_sizes})))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="= --scale smoke")
    p.add_argument("--scale", default="full", help="full, medium, smoke or a factor")
    p.add_argument("--dir", default=None, help="where files go (default: where mmarr.share() "
                   "would put them: a disk's page cache, or a huge-page /dev/shm)")
    p.add_argument("--out", default=None, help="the markdown report (+ .json beside)")
    p.add_argument("--only", default=None, help="comma-separated: " + ",".join(Config.only))
    p.add_argument("--methods", default=None, help="comma-separated methods to run")
    p.add_argument("--reps", type=int, default=None)
    p.add_argument("--warmups", type=int, default=None)
    p.add_argument("--render", metavar="JSON", default=None,
                   help="only write the report again from a run's results.json (to --out, "
                        "default: beside it)")
    a = p.parse_args(argv)
    if a.render:
        return a.render, a.out or os.path.splitext(a.render)[0] + ".md"
    scale = "smoke" if a.smoke else a.scale
    if scale in PRESETS:
        over = PRESETS[scale]
    else:
        try:
            over = scaled(float(scale))
        except ValueError:
            p.error(f"--scale: full, medium, smoke or a number, not {scale!r}")
    cfg = Config(scale=scale, **over)
    if a.reps is not None:
        cfg.reps = a.reps
    if a.warmups is not None:
        cfg.warmups = a.warmups
    if a.only:
        cfg.only = tuple(a.only.split(","))
        bad = set(cfg.only) - set(Config.only)
        if bad:
            p.error(f"--only: unknown {', '.join(sorted(bad))}")
    if a.methods:
        cfg.methods = tuple(a.methods.split(","))
    import mmarr
    cfg.dir = a.dir or mmarr._default_share_dir(cfg.s3_total)
    os.makedirs(cfg.dir, exist_ok=True)
    out = a.out or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                f"results-{datetime.date.today().isoformat()}", "results.md")
    return cfg, out


# --------------------------------------------------------------------------------------------
# Running

def rounds_for(cfg, data_bytes):
    """(warm-up rounds, measured rounds) for an item of this size."""
    return (cfg.warmups if data_bytes <= cfg.warm_limit else 0), cfg.reps


def warm_before(data_bytes):
    """Bring back memory the VM's host may have reclaimed, up to twice the data (at most half
    of what is available), once before an item."""
    avail = common.meminfo()["MemAvailable"]
    t = common.warm_memory(min(2 * data_bytes, avail // 2))
    common.log(f"warmed {min(2 * data_bytes, avail // 2) / GiB:.2f} GiB of memory in {t:.1f} s")


def run_scenario(name, mod, title, cfg):
    methods = [m for m in mod.METHODS if not cfg.methods or m in cfg.methods]
    state = mod.prepare(cfg)
    what, data_bytes = state["what"], state["data_bytes"]
    runs = []
    try:
        warm_before(data_bytes)
        warm, reps = rounds_for(cfg, data_bytes)
        for rnd in range(warm + reps):
            for method in methods[rnd % len(methods):] + methods[:rnd % len(methods)]:
                r = mod.run(method, cfg, state)
                r.update(scenario=name, method=method, round=rnd, warmup=rnd < warm)
                runs.append(r)
                common.log(f"{name}/{method}{' (warm-up)' if rnd < warm else ''}: setup "
                           f"{r['setup']:.3f} s, workers {r['workers']:.3f} s, read "
                           f"{r['read']:.3f} s; workers' PSS {r['workers_pss'] / MiB:,.0f} MiB, "
                           f"machine {r['system'] / MiB:,.0f} MiB")
    finally:
        mod.cleanup(state)
    return {"name": name, "title": title, "what": what, "data_bytes": data_bytes,
            "methods": methods, "restart": mod.RESTART, "runs": runs,
            "per_worker": name == "render"}


def run_curves(cfg):
    methods = [m for m in curves.METHODS if not cfg.methods or m in cfg.methods]
    runs = []
    for curve, x, nbytes, workers in curves.points(cfg):
        warm, reps = rounds_for(cfg, nbytes)
        if nbytes > cfg.warm_limit:
            warm_before(nbytes)
        for rnd in range(warm + reps):
            for method in methods[rnd % len(methods):] + methods[:rnd % len(methods)]:
                r = curves.run(method, cfg, nbytes, workers)
                r.update(curve=curve, x=x, method=method, round=rnd, warmup=rnd < warm)
                runs.append(r)
                common.log(f"curve {curve}={x if curve == 'workers' else report.gib(x)} "
                           f"{method}{' (warm-up)' if rnd < warm else ''}: total "
                           f"{r['total']:.3f} s, machine {r['system'] / MiB:,.0f} MiB")
    return runs


def run_all(cfg):
    """Every selected part: (scenarios, curve runs, restart results, seconds)."""
    t = time.time()
    restarts = {}
    if "restart" in cfg.only:
        kinds = sorted({k for _, mod, _ in SCENARIOS for k in mod.RESTART.values()},
                       key=restart.KINDS.index)
        restarts = restart.run_all(kinds, cfg.dir)
        for k, r in restarts.items():
            common.log(f"restart {k}: {'survives' if r['survives'] else 'lost'} ({r['how']})")
    scenarios = [run_scenario(name, mod, title, cfg) for name, mod, title in SCENARIOS
                 if name in cfg.only]
    curve_runs = run_curves(cfg) if "curves" in cfg.only else []
    return scenarios, curve_runs, restarts, time.time() - t


def write(out, text, data):
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as fp:
        fp.write(text)
    with open(os.path.splitext(out)[0] + ".json", "w") as fp:
        json.dump(data, fp, indent=1, default=str)


def raise_fd_limit():
    """Scenario 3's shared_memory method keeps a descriptor per block open (1,024 at full
    scale) in the parent and every worker: allow as many as the hard limit lets."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def render_again(path, out):
    """The report of an earlier run, from its JSON."""
    with open(path) as fp:
        data = json.load(fp)
    cfg = Config(**data["config"])
    text = report.render(data["machine"], cfg, data["scenarios"], data["curves"],
                         data["restart"], data["seconds"])
    with open(out, "w") as fp:
        fp.write(text)
    print(text)


def main(argv=None):
    cfg, out = parse_args(argv)
    if isinstance(cfg, str):
        return render_again(cfg, out)
    raise_fd_limit()
    import procmem
    procmem.require("bench_scenarios", "pandas")
    machine = common.machine(cfg.dir)
    machine["date"] = datetime.date.today().isoformat()
    common.log(f"bench_scenarios, scale {cfg.scale}, files in {cfg.dir}")
    scenarios, curve_runs, restarts, seconds = run_all(cfg)
    machine["load_at_end"] = round(os.getloadavg()[0], 2)
    text = report.render(machine, cfg, scenarios, curve_runs, restarts, seconds)
    print(text)
    write(out, text, {"config": dataclasses.asdict(cfg), "machine": machine,
                      "scenarios": scenarios, "curves": curve_runs, "restart": restarts,
                      "seconds": seconds})
    common.log(f"written to {out} (+ .json)")


if __name__ == "__main__":
    main()
