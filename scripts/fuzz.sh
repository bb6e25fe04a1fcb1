#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fuzz.sh [SECONDS] — build the libFuzzer targets (clang-14, ASan + UBSan) in build/fuzz and run
# each for SECONDS (default 60), one after the other, printing executions and the result.
#
#   scripts/fuzz.sh            60 s per target (the CI budget: 3 targets, about 3.5 minutes
#                              with the build)
#   scripts/fuzz.sh 3600       a long campaign
#
# Environment:
#   FUZZ_TARGETS   targets to run (default: "open npy roundtrip")
#   FUZZ_JOBS      parallel fuzzing processes per target (default 1)
#   FUZZ_CORPUS    working corpus root (default build/fuzz/corpus): grows across runs; it is
#                  seeded from tests/fuzz/corpus/<target> (and format/testdata for open),
#                  which stay read-only
#   FUZZ_FLAGS     extra libFuzzer flags (e.g. with FUZZ_JOBS=2: "-ignore_crashes=1" to go
#                  on after a finding)
#
# A crash, leak, timeout (10 s for one input) or sanitizer report stops that target; its
# input is saved in build/fuzz/artifacts/<target>/ and the script exits 1 after running the
# others. To reproduce: build/fuzz/tests/fuzz/fuzz_<target> <artifact>; to minimise: add
# -minimize_crash=1 -runs=100000. Put the (minimised) input in tests/fuzz/corpus/<target>/ so
# that ctest replays it on every build.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
targets=${FUZZ_TARGETS:-open npy roundtrip}
jobs=${FUZZ_JOBS:-1}
corpus_root=${FUZZ_CORPUS:-build/fuzz/corpus}
build=build/fuzz

if ! command -v clang-14 >/dev/null; then
  scripts/deps.sh test # clang-14 and libclang-rt-14-dev (the libFuzzer runtime)
fi

echo "== building libFuzzer targets in $build (clang-14, ASan + UBSan)"
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMMARR_SANITIZE=ON -DMMARR_BUILD_FUZZERS=ON -DMMARR_BUILD_TESTS=ON \
  -DMMARR_BUILD_BENCH=OFF -DMMARR_BUILD_EXAMPLES=OFF -DMMARR_BUILD_PYTHON=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target $(printf 'fuzz_%s ' $targets) >/dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
summary=()
for t in $targets; do
  seeds=(tests/fuzz/corpus/fuzz_$t)
  max_len=4096
  case $t in
    open) seeds+=(format/testdata/valid format/testdata/invalid); max_len=140000 ;;
    npy) max_len=16384 ;; # longer headers (NPY 2.0, thousands of fields) are slow to mutate
  esac
  dict=()
  for d in tests/fuzz/fuzz_$t.dict tools/numpy/fuzz_$t.dict; do # beside each target's source
    [ -f "$d" ] && dict=(-dict="$d")
  done
  work=$corpus_root/$t
  art=$build/artifacts/$t
  mkdir -p "$work" "$art"
  log=$build/fuzz_$t.log
  echo "== fuzz_$t: $secs s, $jobs job(s), corpus $work"
  t0=$(date +%s)
  set +e
  # shellcheck disable=SC2086
  "$build/tests/fuzz/fuzz_$t" "$work" "${seeds[@]}" "${dict[@]}" \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
    -print_final_stats=1 -artifact_prefix="$art/" \
    $( [ "$jobs" -gt 1 ] && echo "-fork=$jobs" ) ${FUZZ_FLAGS:-} >"$log" 2>&1
  rc=$?
  set -e
  took=$(( $(date +%s) - t0 ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
  if [ -z "$execs" ]; then # -fork mode prints progress lines instead of final stats
    execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#' || true)
  fi
  execs=${execs:-0}
  units=$(find "$work" -type f | wc -l)
  if [ $rc -eq 0 ]; then
    result="ok"
  else
    failed=1
    result="FAILED (exit $rc): $(grep -m1 -E 'ERROR: |invariant failed|runtime error' "$log" || true)"
    find "$art" -type f -newermt "@$t0" | sed "s|^|  artifact: |"
  fi
  line=$(printf 'fuzz_%-10s %12s executions in %s s, corpus %s inputs: %s' "$t" "$execs" \
         "$took" "$units" "$result")
  echo "$line"
  summary+=("$line")
done
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $failed
