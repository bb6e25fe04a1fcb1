#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run_cold.sh — the cold-tier benchmark: generate smooth float32 data on /dev/shm once, run
# bench_cold (mmarr) and peers_cold.py (zstd CLI, zarr, h5py) on it in the same run, and print
# one comparison table with the ratios issue #4 sets targets for. See bench/README.md.
#
# usage: bench/run_cold.sh [--size-mib N] [--build DIR] [--dir DIR] [--reps R] [--read-reps R]
#                          [--slices N] [--chunks KIB,..] [--table-chunk KIB] [--peers LIST]
#                          [--no-peers] [--rounds N] [--max-foreign PCT] [--log-dir DIR]
#                          [--wait-quiet SECONDS]
#   --size-mib N     data size (default 1024; 256 for a quick run)
#   --build DIR      build tree holding bench/bench_cold (default: build)
#   --dir DIR        scratch directory, on tmpfs (default /dev/shm); everything made there is
#                    removed on exit
#   --table-chunk K  the mmarr chunk size (KiB) compared with the peers (default 1024)
#   --rounds N       run mmarr and the peers N times, alternating, on the same data; the
#                    table gives each mmarr/peer ratio as the median of the per-round ratios
#   --max-foreign P  leave out of the table rounds in which other processes used more than
#                    P% of the CPUs (default 10; measured from /proc/stat, printed per round)
#   --log-dir DIR    also keep the raw outputs (mmarr.N.out, peers.N.out, table.txt) there
#   --wait-quiet S   before each round, wait (at most S seconds) until the CPUs are >= 95%
#                    idle over 5 s
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
size_mib=1024 build=$root/build scratch=/dev/shm reps=3 read_reps=5 slices=200
chunks=256,1024,4096 table_chunk=1024 peers=zstd,zarr-zstd,zarr-shuf-zstd,zarr-blosc,h5py,h5py-shuf
log_dir= wait_quiet=0 rounds=1 max_foreign=10
py=/usr/bin/python3 # Debian's python3, with numpy (the first python3 on PATH may lack it)

while [ $# -gt 0 ]; do
    case $1 in
    --size-mib) size_mib=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --dir) scratch=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --read-reps) read_reps=$2; shift 2 ;;
    --slices) slices=$2; shift 2 ;;
    --chunks) chunks=$2; shift 2 ;;
    --table-chunk) table_chunk=$2; shift 2 ;;
    --peers) peers=$2; shift 2 ;;
    --no-peers) peers=; shift ;;
    --log-dir) log_dir=$2; shift 2 ;;
    --wait-quiet) wait_quiet=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --max-foreign) max_foreign=$2; shift 2 ;;
    -h | --help) sed -n '3,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_cold.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
case $build in /*) ;; *) build=$root/$build ;; esac
bench=$build/bench/bench_cold
if [ ! -x "$bench" ]; then
    echo "run_cold.sh: $bench not found; build it first:" >&2
    echo "  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build" >&2
    exit 1
fi
if ! "$py" -c 'import numpy' 2>/dev/null; then
    echo "run_cold.sh: $py cannot import numpy (apt-get install python3-numpy)" >&2
    exit 1
fi

# Busy share of all CPUs over 5 s, in percent, from /proc/stat.
busy_pct() {
    local a b
    a=$(awk '/^cpu / {print $2+$3+$4+$7+$8, $5+$6}' /proc/stat)
    sleep 5
    b=$(awk '/^cpu / {print $2+$3+$4+$7+$8, $5+$6}' /proc/stat)
    echo "$a $b" | awk '{busy = $3 - $1; idle = $4 - $2; printf "%d", 100 * busy / (busy + idle + 1e-9)}'
}
# Wait (at most $wait_quiet seconds) until the CPUs are quiet.
wait_for_quiet() {
    local waited=0 b
    [ "$wait_quiet" -gt 0 ] || return 0
    while :; do
        b=$(busy_pct)
        waited=$((waited + 5))
        if [ "$b" -lt 5 ]; then
            echo "== quiet: CPUs ${b}% busy over 5 s (waited ${waited} s)"
            return 0
        fi
        if [ "$waited" -ge "$wait_quiet" ]; then
            echo "== not quiet after ${waited} s (CPUs ${b}% busy); running anyway"
            return 0
        fi
    done
}

tmp=$(mktemp -d "$scratch/mmarr-cold.XXXXXX")
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
data=$tmp/smooth.npy

echo "== cold-tier benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "   $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')," \
    "$(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo), kernel $(uname -r)"
echo "   load before: $(cut -d' ' -f1-3 /proc/loadavg); scratch $tmp"

# Smooth sensor-like float32: four sines (periods 257 .. 1,000,003 samples) plus a Gaussian
# random walk (sigma 0.002 per sample), read at a resolution of 0.01 (two decimals), in
# blocks so memory stays small. Deterministic (fixed seed).
t0=$(date +%s.%N)
"$py" - "$data" $((size_mib * 262144)) <<'EOF'
import sys
import numpy as np
path, n = sys.argv[1], int(sys.argv[2])
out = np.lib.format.open_memmap(path, mode="w+", dtype="<f4", shape=(n,))
rng = np.random.default_rng(20261121)
walk, block = 0.0, 1 << 22
for s in range(0, n, block):
    m = min(block, n - s)
    t = np.arange(s, s + m, dtype=np.float64)
    x = (100 * np.sin(2 * np.pi * t / 1_000_003) + 25 * np.sin(2 * np.pi * t / 65_537 + 0.3)
         + 5 * np.sin(2 * np.pi * t / 4_099 + 1.1) + np.sin(2 * np.pi * t / 257 + 2.0))
    w = walk + np.cumsum(rng.standard_normal(m) * 0.002)
    walk = float(w[-1])
    out[s:s + m] = np.round((x + w) * 100) / 100
out.flush()
EOF
echo "   data: $size_mib MiB of smooth float32 ($((size_mib * 262144)) values) in" \
    "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f s", b - a}')"

common=(--input "$data" --dir "$tmp" --reps "$reps" --read-reps "$read_reps" --slices "$slices")
# Run a command (its output also to file $1) and write to $tmp/foreign.txt the share of the
# CPUs that *other* processes used meanwhile, in percent: busy jiffies of /proc/stat minus the
# command's own CPU time.
hz=$(getconf CLK_TCK) ncpu=$(nproc)
stat_busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
run_measured() {
    local out=$1 b0 b1
    shift
    b0=$(stat_busy)
    /usr/bin/time -f "%e %U %S" -o "$tmp/time.txt" "$@" | tee "$out"
    b1=$(stat_busy)
    read -r wall usr sys <"$tmp/time.txt"
    awk -v b0="$b0" -v b1="$b1" -v hz="$hz" -v n="$ncpu" -v w="$wall" -v u="$usr" -v s="$sys" \
        'BEGIN {f = ((b1 - b0) / hz - u - s) / (w * n) * 100; printf "%.0f\n", f < 0 ? 0 : f}' \
        >"$tmp/foreign.txt"
}
for r in $(seq 1 "$rounds"); do
    echo
    wait_for_quiet
    [ "$rounds" -gt 1 ] && echo "== round $r of $rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    run_measured "$tmp/mmarr.$r.out" "$bench" "${common[@]}" --chunks "$chunks"
    fm=$(cat "$tmp/foreign.txt")
    fp=0
    : >"$tmp/peers.$r.out"
    if [ -n "$peers" ]; then
        echo
        run_measured "$tmp/peers.$r.out" "$py" "$root/bench/peers_cold.py" "${common[@]}" \
            --only "$peers"
        fp=$(cat "$tmp/foreign.txt")
    fi
    echo "$fm $fp" >"$tmp/foreign.$r"
    echo "== round $r: other processes used ${fm}% of the CPUs during bench_cold, ${fp}% during" \
        "peers_cold.py"
done
echo "   load after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
"$py" - "$tmp" "$rounds" "$table_chunk" "$max_foreign" <<'EOF' | tee "$tmp/table.txt"
import statistics
import sys
tmp, rounds, chunk, max_foreign = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
# Rounds during which other processes took more than max_foreign % of the CPUs are left out.
foreign = {r: [int(x) for x in open(f"{tmp}/foreign.{r}").read().split()]
           for r in range(1, rounds + 1)}
used = [r for r in foreign if max(foreign[r]) <= max_foreign]
if not used:
    used = list(foreign)
    print(f"WARNING: in every round other processes used more than {max_foreign}% of the CPUs;"
          " the table uses all rounds and is not reliable")
elif len(used) < rounds:
    print(f"rounds used: {len(used)} of {rounds} (left out, with the CPU share other processes "
          "took during bench_cold / peers_cold.py: " + ", ".join(
              f"round {r}: {foreign[r][0]}% / {foreign[r][1]}%" for r in foreign
              if r not in used) + ")")
print("CPU share other processes took in the rounds used: " + ", ".join(
    f"{foreign[r][0]}% / {foreign[r][1]}%" for r in used))
# res[(tool, cfg, metric)][round] = (median, p10, p90, n) as the programs reported them
res = {}
for r in used:
    for path in (f"{tmp}/mmarr.{r}.out", f"{tmp}/peers.{r}.out"):
        for line in open(path):
            if line.startswith("RESULT\t"):
                _, tool, cfg, metric, med, p10, p90, n = line.rstrip("\n").split("\t")
                res.setdefault((tool, cfg, metric), {})[r] = (float(med), float(p10),
                                                              float(p90), int(n))
off, on = f"chunk={chunk}KiB,shuffle=off", f"chunk={chunk}KiB,shuffle=on"
zarr_cfg = "chunk=1024KiB,threads=1"
Z, ZC = "zstd-cli", "-3 -T2"


def get(tool, cfg, metric):
    return res.get((tool, cfg, metric))


def med(v):
    """Median over rounds of each round's median."""
    return None if not v else statistics.median(x[0] for x in v.values())


def fmt(v, unit):
    if not v:
        return "n/a"
    d = 3 if unit in ("ms", "") else 0
    u = f" {unit}" if unit else ""
    if len(v) == 1:  # one round: its median with p10-p90
        m, p10, p90, n = next(iter(v.values()))
        return f"{m:.{d}f}" + ("" if n == 1 else f" ({p10:.{d}f}-{p90:.{d}f})") + u
    ms = [x[0] for x in v.values()]
    if max(ms) == min(ms):
        return f"{ms[0]:.{d}f}{u}"
    return f"{statistics.median(ms):.{d}f} [{min(ms):.{d}f}-{max(ms):.{d}f}]{u}"


rows = []


def row(what, m, peer, p, unit, target=None, test=None):
    """mmarr/peer: the median over rounds of each round's ratio (paired in time)."""
    common = sorted(set(m or {}) & set(p or {}))
    rs = [m[r][0] / p[r][0] for r in common]
    if not rs:
        rtxt, ok = "n/a", ""
    else:
        rm = statistics.median(rs)
        rtxt = f"{rm:.2f}x" + (f" [{min(rs):.2f}-{max(rs):.2f}]" if len(rs) > 1 and
                               round(min(rs), 2) != round(max(rs), 2) else "")
        ok = "" if target is None else ("yes" if test(rm) else "NO")
    rows.append((what, fmt(m, unit), peer, fmt(p, unit), rtxt, target or "", ok))


row("compress MB/s, shuffle off", get("mmarr", off, "write_MBps"), "zstd -3 -T2",
    get(Z, ZC, "write_MBps"), "MB/s", ">= 0.9x", lambda r: r >= 0.9)
row("compress MB/s, shuffle on", get("mmarr", on, "write_MBps"), "zstd -3 -T2",
    get(Z, ZC, "write_MBps"), "MB/s")
row("ratio, shuffle off", get("mmarr", off, "ratio"), "zstd -3 -T2", get(Z, ZC, "ratio"), "",
    "within 3%", lambda r: r >= 0.97)
row("ratio, shuffle on", get("mmarr", on, "ratio"), "zstd -3 -T2", get(Z, ZC, "ratio"), "")
row("ratio, shuffle off", get("mmarr", off, "ratio"), "zarr Zstd(3)",
    get("zarr-zstd", zarr_cfg, "ratio"), "")
row("whole read MB/s, 1 thread", get("mmarr", off, "read1_MBps"), "zstd -d >/dev/null",
    get(Z, ZC, "readnull_MBps"), "MB/s", ">= 0.9x", lambda r: r >= 0.9)
row("whole read MB/s, 1 thread", get("mmarr", off, "read1_MBps"), "zstd -d to tmpfs file",
    get(Z, ZC, "read_MBps"), "MB/s", ">= 0.9x", lambda r: r >= 0.9)
row("whole read MB/s, 2 threads", get("mmarr", off, "read2_MBps"), "zstd -d >/dev/null",
    get(Z, ZC, "readnull_MBps"), "MB/s", ">= 0.9x", lambda r: r >= 0.9)
row("whole read MB/s, 2 threads", get("mmarr", off, "read2_MBps"), "zarr Zstd(3)",
    get("zarr-zstd", zarr_cfg, "read_MBps"), "MB/s", ">= 1.8x", lambda r: r >= 1.8)
row("whole read MB/s, 2 thr, shuffle on", get("mmarr", on, "read2_MBps"),
    "zarr Shuffle+Zstd(3)", get("zarr-shuf-zstd", zarr_cfg, "read_MBps"), "MB/s",
    ">= 1.8x", lambda r: r >= 1.8)
row("random 1 MiB slice p50, 2 threads", get("mmarr", off, "slice2_ms"), "zarr Zstd(3)",
    get("zarr-zstd", zarr_cfg, "slice_ms"), "ms", "<= 0.5x", lambda r: r <= 0.5)
row("random 1 MiB slice p50, 1 thread", get("mmarr", off, "slice1_ms"), "zarr Zstd(3)",
    get("zarr-zstd", zarr_cfg, "slice_ms"), "ms", "<= 0.5x", lambda r: r <= 0.5)
row("random 1 MiB slice p50, 2 thr, shuffle on", get("mmarr", on, "slice2_ms"),
    "zarr Shuffle+Zstd(3)", get("zarr-shuf-zstd", zarr_cfg, "slice_ms"), "ms", "<= 0.5x",
    lambda r: r <= 0.5)
row("  same as 2 rows up, allocator keeps memory", get("mmarr", off, "slice2k_ms"),
    "zarr Zstd(3)", get("zarr-zstd", zarr_cfg, "slice_ms"), "ms")
row("  same as 2 rows up, allocator keeps memory", get("mmarr", on, "slice2k_ms"),
    "zarr Shuffle+Zstd(3)", get("zarr-shuf-zstd", zarr_cfg, "slice_ms"), "ms")
m = get("mmarr", off, "mapslice_ms")
rows.append(("1 MiB slice p50 from the shared cache", fmt(m, "ms"), "(pages mapped)", "", "",
             "~0.06 ms", "" if not m else ("yes" if med(m) <= 0.075 else "NO")))
rows.append(("  same, first touch by this process",
             fmt(get("mmarr", off, "mapslice_fresh_ms"), "ms"), "", "", "", "", ""))
row("1 MiB slice p50: shared cache vs zarr", m, "zarr Zstd(3)",
    get("zarr-zstd", zarr_cfg, "slice_ms"), "ms")

hdr = ("", "mmarr median " + ("(p10-p90)" if rounds == 1 else "[range of round medians]"),
       "peer", "peer median", "mmarr/peer", "target", "met")
w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]


def line(r):
    return "| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(r)) + " |"


print(f"mmarr (chunk {chunk} KiB, level 3, 2 compression threads) against its peers"
      + ("" if rounds == 1 else f", {rounds} rounds (mmarr/peer: median of the per-round "
         "ratios [range])") + ":")
print(line(hdr))
print("|" + "|".join("-" * (x + 2) for x in w) + "|")
for r in rows:
    print(line(r))


def s(v, d=0):
    return "n/a" if not v else f"{med(v):.{d}f}"


def sl(v):
    if not v:
        return "n/a"
    return f"{med(v):.2f} / {statistics.median(x[2] for x in v.values()):.2f}"


print("\nmmarr by chunk size (medians" + ("" if rounds == 1 else " over rounds")
      + "; slices p50 / p90):")
cfgs = sorted({c for (t, c, _) in res if t == "mmarr"},
              key=lambda c: (int(c.split("=")[1].split("KiB")[0]), c))
print("| config | write MB/s | ratio | read 1 thr MB/s | read 2 thr MB/s | stream MB/s |"
      " slice 1 thr ms | slice 2 thr ms | slice 2 thr, kept ms | 1st map MB/s |"
      " cached slice ms |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for c in cfgs:
    def g(k):
        return res.get(("mmarr", c, k))
    print(f"| {c} | {s(g('write_MBps'))} | {s(g('ratio'), 3)} | {s(g('read1_MBps'))} | "
          f"{s(g('read2_MBps'))} | {s(g('stream_MBps'))} | {sl(g('slice1_ms'))} | "
          f"{sl(g('slice2_ms'))} | {sl(g('slice2k_ms'))} | {s(g('mapfirst_MBps'))} | "
          f"{sl(g('mapslice_ms'))} |")

peers = sorted({(t, c) for (t, c, _) in res if t != "mmarr"})
if peers:
    print("\npeers (medians" + ("" if rounds == 1 else " over rounds")
          + "; slices p50 / p90):")
    print("| peer | config | write MB/s | ratio | read MB/s | slice ms |")
    print("|---|---|---|---|---|---|")
    for t, c in peers:
        def g(k):
            return res.get((t, c, k))
        rd = s(g("read_MBps")) + (f" (to /dev/null {s(g('readnull_MBps'))})"
                                  if g("readnull_MBps") else "")
        print(f"| {t} | {c} | {s(g('write_MBps'))} | {s(g('ratio'), 3)} | {rd} | "
              f"{sl(g('slice_ms'))} |")
EOF
if [ -n "$log_dir" ]; then
    mkdir -p "$log_dir"
    cp "$tmp"/mmarr.*.out "$tmp"/peers.*.out "$tmp"/foreign.[0-9]* "$tmp/table.txt" "$log_dir/"
    echo "raw outputs kept in $log_dir"
fi
