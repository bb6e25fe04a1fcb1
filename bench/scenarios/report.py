# SPDX-License-Identifier: MIT
"""The markdown report of bench_scenarios.py: a table per scenario, the restart tests, the two
scaling curves and the issue's targets, each figure a median with its min-max over the
measured rounds (warm-up rounds left out)."""
import statistics

import common

MIB = common.MIB
USUAL = {"shm", "memmap", "npy-mmap", "rawarray", "pickle", "copies", "fork"}


def measured(runs):
    return [r for r in runs if not r.get("warmup")]


def cell(values, scale=1.0, fmt="{:.2f}"):
    """'median (min-max)', or the median alone when the spread rounds away."""
    v = [x / scale for x in values if x is not None]
    if not v:
        return "—"
    med, lo, hi = common.stats(v)
    text = fmt.format(med)
    if len(v) > 1 and fmt.format(lo) != fmt.format(hi):
        text += f" ({fmt.format(lo)}-{fmt.format(hi)})"
    return text


def med(runs, key):
    return statistics.median(r[key] for r in runs)


def by_method(runs):
    out = {}
    for r in measured(runs):
        out.setdefault(r["method"], []).append(r)
    return out


def gib(nbytes):
    return f"{nbytes / common.GIB:,.2f} GiB" if nbytes >= common.GIB else \
        f"{nbytes / MIB:,.0f} MiB"


# --------------------------------------------------------------------------------------------
# Scenarios

def scenario(sc, restart):
    """Lines of one scenario's section."""
    groups = by_method(sc["runs"])
    has_read = any(r["read"] > 0 for rs in groups.values() for r in rs)
    head = ["method", "setup s", "workers s"] + (["parent reads s"] if has_read else []) + [
        "total s", "workers' PSS MiB", "workers' copies MiB", "memory added MiB",
        "machine memory used MiB", "parent peak RSS MiB (above its start)",
        "bytes pickled per task", "survives a restart"]
    out = [f"## {sc['title']}", "", sc["what"] + ".", "",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes = []
    for method in sc["methods"]:
        rs = groups.get(method)
        if not rs:
            continue
        name = method
        if rs[0].get("extrapolated"):
            lo, hi = rs[0]["extrapolated"]
            name += " *(extrapolated)*"
            notes.append(f"{method}: does not fit in this machine's memory at this size; "
                         f"measured over the first {gib(lo)} and {gib(hi)} of the data and "
                         f"extrapolated linearly to {gib(sc['data_bytes'])} (every figure).")
        row = [name, cell([r["setup"] for r in rs]), cell([r["workers"] for r in rs])]
        if has_read:
            row.append(cell([r["read"] for r in rs]))
        peak = cell([r["parent_peak"] for r in rs], MIB, "{:,.0f}")
        added = f"{med(rs, 'parent_peak_added') / MIB:+,.0f}"
        pickled = f"{rs[0]['pickled']:,.0f}"
        if rs[0].get("pickled_once"):
            pickled += f" (+ {rs[0]['pickled_once']:,.0f} once per worker)"
        surv = restart.get(sc["restart"].get(method), {})
        row += [cell([r["total"] for r in rs]),
                cell([r["workers_pss"] for r in rs], MIB, "{:,.0f}"),
                cell([r["workers_anon_added"] for r in rs], MIB, "{:,.0f}"),
                cell([r["run_added"] for r in rs], MIB, "{:,.0f}"),
                cell([r["system"] for r in rs], MIB, "{:,.0f}"), f"{peak} ({added})",
                pickled, {True: "yes", False: "no"}.get(surv.get("survives"), "—")]
        out.append("| " + " | ".join(row) + " |")
        if rs[0].get("note"):
            notes.append(f"{method}: {rs[0]['note']}.")
    if sc.get("per_worker"):
        out += [""] + per_worker(sc, groups)
    return out + ([""] + [f"- {n}" for n in notes] if notes else [])


def per_worker(sc, groups):
    """Scenario 2: every worker's RSS and PSS, and their totals (medians over the rounds)."""
    out = ["Each worker at the barrier (every slab written, the whole buffer read), MiB:", "",
           "| method | RSS of each worker | total RSS | PSS of each worker | total PSS |",
           "|---|---|---|---|---|"]
    for method in sc["methods"]:
        rs = [r for r in groups.get(method, []) if r.get("per_worker")]
        if not rs:
            continue
        n = len(rs[0]["per_worker"])
        each = {k: [statistics.median(r["per_worker"][w][k] for r in rs) / MIB
                    for w in range(n)] for k in ("rss", "pss")}
        out.append(f"| {method} | {', '.join(f'{v:,.0f}' for v in each['rss'])} | "
                   f"{cell([r['workers_rss'] for r in rs], MIB, '{:,.0f}')} | "
                   f"{', '.join(f'{v:,.0f}' for v in each['pss'])} | "
                   f"{cell([r['workers_pss'] for r in rs], MIB, '{:,.0f}')} |")
    return out


def restart_table(restart):
    out = ["## Survives a restart (tested)", "",
           "A program makes the data, has workers fill it and ends; a new process then tries "
           "to get it back (restart.py).", "", "| way of sharing | survives | what the new "
           "process found |", "|---|---|---|"]
    for kind, r in restart.items():
        out.append(f"| {kind} | {'yes' if r['survives'] else 'no'} | {r['how']} |")
    return out


# --------------------------------------------------------------------------------------------
# Curves

def curves(runs, methods):
    out = []
    for curve, title, xname in (
            ("workers", "Workers, one array", "workers"),
            ("size", "Size, one array", "size")):
        rs = [r for r in measured(runs) if r["curve"] == curve]
        if not rs:
            continue
        xs = sorted({r["x"] for r in rs})
        fixed = (f"{gib(rs[0]['data_bytes'])} of float32" if curve == "workers"
                 else f"{rs[0]['nworkers']} workers")
        out += [f"## Scaling: {title.lower()} ({fixed}, each worker sums all of it)", "",
                "Setup + workers, s:", "",
                f"| {xname} | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        for x in xs:
            label = gib(x) if curve == "size" else str(x)
            out.append(f"| {label} | " + " | ".join(
                cell([r["total"] for r in rs if r["x"] == x and r["method"] == m])
                for m in methods) + " |")
        out += ["", "Memory added / data size (PSS of the parent and the workers, as in the "
                "scenarios' tables):", "",
                f"| {xname} | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        for x in xs:
            label = gib(x) if curve == "size" else str(x)
            cells = []
            for m in methods:
                pts = [r for r in rs if r["x"] == x and r["method"] == m]
                cells.append(cell([r["run_added"] / r["data_bytes"] for r in pts], 1,
                                  "{:.2f}x"))
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        out.append("")
    return out


# --------------------------------------------------------------------------------------------
# Targets

def targets(scenarios, curve_runs):
    """The issue's targets, read off the medians."""
    out = ["## Against the targets", "",
           "Ratios of median totals (setup + workers + parent's read); mmarr's setup includes "
           "its packing.", ""]
    for sc in scenarios:
        groups = by_method(sc["runs"])
        mine = [m for m in groups if m.startswith("mmarr")]
        for m in mine:
            t = med(groups[m], "total")
            parts = []
            for peer in ("shm", "memmap", "npy-mmap", "rawarray", "fork", "pickle", "copies"):
                if peer in groups:
                    ratio = t / med(groups[peer], "total")
                    goal = 2.0 if peer == "fork" else 1.0
                    verdict = "met" if ratio <= goal else "missed"
                    if peer in ("pickle", "copies"):
                        verdict = "for scale"
                    parts.append(f"{ratio:.2f}x {peer} ({verdict})")
            mem = med(groups[m], "run_added") / sc["data_bytes"]
            out.append(f"- {sc['name']}, {m}: {t:.2f} s = " + ", ".join(parts) +
                       f"; memory added {mem:.2f}x the data")
    for method in ("mmarr", "shm", "memmap"):
        rs = [r for r in measured(curve_runs) if r["method"] == method and
              r["curve"] == "workers"]
        if rs:
            ratios = [r["run_added"] / r["data_bytes"] for r in rs]
            out.append(f"- one copy whatever the number of workers (workers curve, "
                       f"{sorted({r['x'] for r in rs})} workers): {method}'s memory added is "
                       f"{min(ratios):.2f}-{max(ratios):.2f}x the data")
    return out + [""]


def render(machine, cfg, scenarios, curve_runs, restart, seconds):
    out = [f"# bench/scenarios ({cfg.scale}), {machine.get('date', '')}", "",
           "Machine: " + "; ".join(f"{k} {v}" for k, v in machine.items() if k != "date") +
           ".", "",
           f"{cfg.reps} measured round(s) after {cfg.warmups} warm-up round(s) (items over "
           f"{gib(cfg.warm_limit)} get no warm-up round); methods interleaved, their order "
           f"rotated each round; median (min-max). Whole run: {seconds / 60:.1f} min.", "",
           "Columns: *setup* makes the shared form in the parent (packing, filling, "
           "loading); *workers* runs from every worker up and idle to the last result "
           "(getting the data included); *parent reads* the result, where there is one. "
           "Memory is read while every worker holds the data at a barrier "
           "(/proc/PID/smaps_rollup and smaps): *workers' PSS*; *workers' copies*, the private "
           "memory belonging to no file each worker added since before it got the data "
           "(copies, copy-on-write copies, temporaries still held); *memory added*, the PSS "
           "of the parent and the workers less the parent's before the run and the spawned "
           "workers' before the data (every page counted once: the data's cost, interpreters "
           "left out); *machine memory used*, MemTotal - MemFree above the run's start (page "
           "cache and tmpfs included, scenario 3's source files' cache left out unless the "
           "method maps them; disturbed by anything else the machine does); the parent's peak "
           "RSS (VmHWM, reset at the run's start). Bytes pickled per task: multiprocessing's "
           "pickler on a task's arguments. *survives a restart*: the restart test's answer "
           "for that way of sharing (table below).", ""]
    for sc in scenarios:
        out += scenario(sc, restart) + [""]
    if curve_runs:
        out += curves(curve_runs, cfg.curve_methods)
    if restart:
        out += restart_table(restart) + [""]
    out += targets(scenarios, curve_runs)
    return "\n".join(out) + "\n"
