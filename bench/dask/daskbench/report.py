# SPDX-License-Identifier: MIT
"""Turning the runs into the tables: per (medium, peer, operation) the median and range of
the wall times, bytes moved per task (against the data-free `ones`), the bytes of the
largest task of the graph, the workers' PSS, and the issue's targets, met or missed, for
mmarr."""
import json
import os
import statistics

from .measure import summary

MiB = 1 << 20
RIVALS = ("memmap-task", "zarr", "zarr-zstd", "hdf5")  # the peers mmarr's time is held to


def _group(runs, keys):
    out = {}
    for r in runs:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


def summarize(runs):
    """One row per (part, medium, peer, op) over its timed runs (warm-ups excluded)."""
    rows = []
    for (part, medium, peer, op), rs in _group([r for r in runs if not r["warmup"]],
                                               ("part", "medium", "peer", "op")).items():
        good = [r for r in rs if not r["error"]]
        row = {"part": part, "medium": medium, "peer": peer, "op": op, "n": len(good),
               "tasks": rs[0]["tasks"], "task_bytes": rs[0]["task_bytes"],
               "data_bytes": rs[0]["data_bytes"],
               "errors": sorted({r["error"] for r in rs if r["error"]}),
               "ok": all(r["ok"] for r in rs) and bool(good)}
        if good:
            row["wall"] = summary([r["wall"] for r in good])
            row["bytes"] = statistics.median(r["bytes"] for r in good)
            row["bytes_per_task"] = row["bytes"] / max(1, row["tasks"])
            row["pss_idle"] = statistics.median(r["pss_idle"] for r in good)
            row["pss_end"] = good[-1]["pss_end"]
            row["pss_peak"] = max(r["pss_peak"] for r in good)
            row["pss_ratio"] = (row["pss_peak"] - row["pss_idle"]) / row["data_bytes"]
        rows.append(row)
    return rows


def _wall(r):
    if "wall" not in r:
        return "failed: " + "; ".join(r["errors"])[:120]
    w = r["wall"]
    return f"{w['median']:.2f} ({w['min']:.2f}-{w['max']:.2f})"


def _bytes(n):
    return f"{n:,.0f}" if n < 10 * MiB else f"{n / MiB:,.0f} MiB"


def _label(r, full_bytes):
    if r["data_bytes"] < full_bytes and r["peer"] != "ones":
        return f"{r['peer']} (first {r['data_bytes'] / MiB:,.0f} MiB only)"
    return r["peer"]


def read_table(rows, full_bytes):
    out = ["| medium | peer | op | tasks | wall s, median (min-max) | bytes/task | "
           "largest task, bytes | PSS idle MiB | PSS end MiB | PSS peak MiB | "
           "(peak-idle)/data | correct |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["part"] != "read":
            continue
        if "bytes" not in r:
            out.append(f"| {r['medium']} | {_label(r, full_bytes)} | {r['op']} | {r['tasks']} "
                       f"| {_wall(r)} | | | | | | | no |")
            continue
        out.append(
            f"| {r['medium']} | {_label(r, full_bytes)} | {r['op']} | {r['tasks']} | "
            f"{_wall(r)} | {_bytes(r['bytes_per_task'])} | "
            f"{_bytes(r['task_bytes'])} | {r['pss_idle'] / MiB:,.0f} | "
            f"{r['pss_end'] / MiB:,.0f} | {r['pss_peak'] / MiB:,.0f} | "
            f"{r['pss_ratio']:.2f} | {'yes' if r['ok'] else 'NO'} |")
    return "\n".join(out)


def write_table(rows, notes):
    out = ["| medium | peer | tasks | wall s, median (min-max) | bytes moved | bytes/task | "
           "PSS peak MiB | read back equal |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["part"] != "write":
            continue
        if "bytes" not in r:
            out.append(f"| {r['medium']} | {r['peer']} | {r['tasks']} | {_wall(r)} | | | | no |")
            continue
        out.append(f"| {r['medium']} | {r['peer']} | {r['tasks']} | {_wall(r)} | "
                   f"{_bytes(r['bytes'])} | {_bytes(r['bytes_per_task'])} | "
                   f"{r['pss_peak'] / MiB:,.0f} | {'yes' if r['ok'] else 'NO'} |")
    return "\n".join(out + [f"\n{n}" for n in notes])


def targets(rows):
    """The issue's targets for mmarr, per medium and operation."""
    lines = []
    by = _group([r for r in rows if r["part"] == "read" and "wall" in r], ("medium", "op"))
    ones = {(r["medium"], r["op"]): r["bytes_per_task"] for r in rows
            if r["part"] == "read" and r["peer"] == "ones" and "bytes" in r}
    for (medium, op), rs in sorted(by.items()):
        mine = next((r for r in rs if r["peer"] == "mmarr"), None)
        rivals = [r for r in rs if r["peer"] in RIVALS]
        if mine is None or not rivals:
            continue
        best = min(rivals, key=lambda r: r["wall"]["median"])
        t = mine["wall"]["median"]
        lines.append(f"- {medium} {op}: wall {t:.2f} s vs best peer {best['peer']} "
                     f"{best['wall']['median']:.2f} s ({t / best['wall']['median']:.2f}x): "
                     f"{'met' if t <= best['wall']['median'] else 'MISSED'}; "
                     f"largest task {mine['task_bytes']:,} B: "
                     f"{'met' if mine['task_bytes'] < 1024 else 'MISSED'} (< 1 KiB), "
                     f"all traffic {mine['bytes_per_task']:,.0f} B/task (`ones`: "
                     f"{ones.get((medium, op), float('nan')):,.0f}); "
                     f"PSS (peak-idle)/data {mine['pss_ratio']:.3f}: "
                     f"{'met' if mine['pss_ratio'] <= 1.05 else 'MISSED'} (<= 1.05)")
    return "\n".join(lines)


def save(outdir, text, raw):
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(raw, f, indent=1, default=float)
