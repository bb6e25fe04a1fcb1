#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# demo.sh — the quick start's first command: install what is missing, build, then run the
# main job: pack a dataset into one file (in /var/tmp's page cache, else /dev/shm), map it
# from worker processes that each reduce their share, inspect and verify it, and report the
# workers' real memory (PSS).
# Usage: scripts/demo.sh [mmarr_demo options, e.g. -w 8 -m 1024]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMMARR_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
# The file goes where a worker's first pass over a fresh mapping is cheapest (as for
# mmarr.share()): $MMARR_DEMO_DIR; else /var/tmp when it is a disk filesystem's page cache
# (large folios); else /dev/shm (a tmpfs of 4 KiB pages unless mounted with huge=).
dir=${MMARR_DEMO_DIR:-}
if [ -z "$dir" ]; then
  dir=/dev/shm
  if [ -d /var/tmp ] && [ -w /var/tmp ] && [ "$(stat -f -c %T /var/tmp)" != tmpfs ]; then
    dir=/var/tmp
  fi
fi
out=$dir/mmarr-demo-$$.mmarr
trap 'rm -f "$out"' EXIT
build/examples/mmarr_demo -o "$out" --keep "$@"
echo
echo "== mmarr-info $out"
build/tools/mmarr-info "$out"
build/tools/mmarr-info --verify "$out" | tail -n 1
