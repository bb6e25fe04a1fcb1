#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# coverage.sh — line and branch coverage of libmmarr by the whole ctest suite.
#
# Builds with gcc --coverage in build/cov, runs every ctest suite (the corpus replays of the
# fuzz targets included), and prints the line and branch coverage of each libmmarr/src file
# with lcov (installed through apt if missing); the HTML report goes to build/cov/html.
# Extra arguments are passed to ctest (e.g. `scripts/coverage.sh -L unit`).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/cov

if ! command -v lcov >/dev/null; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "coverage.sh: installing lcov" >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends lcov \
    >/dev/null
fi

echo "== gcc --coverage build in $build"
cmake -S . -B "$build" -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_FLAGS="--coverage -O0 -DMMARR_TEST_COVERAGE" -DCMAKE_EXE_LINKER_FLAGS=--coverage \
  -DCMAKE_SHARED_LINKER_FLAGS=--coverage -DMMARR_BUILD_BENCH=OFF \
  -DMMARR_BUILD_EXAMPLES=OFF -DMMARR_BUILD_PYTHON=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
find "$build" -name '*.gcda' -delete

echo "== ctest"
set +e
ctest --test-dir "$build" -j"$(nproc)" "$@" | tail -n 4
set -e

rc=(--rc lcov_branch_coverage=1)
lcov -q "${rc[@]}" --capture --directory "$build/libmmarr" --base-directory libmmarr \
  --output-file "$build/all.info" 2>/dev/null
lcov -q "${rc[@]}" --extract "$build/all.info" "$PWD/libmmarr/src/*" \
  --output-file "$build/libmmarr.info" 2>/dev/null
echo "== libmmarr coverage (lines and branches executed by the tests)"
lcov "${rc[@]}" --list "$build/libmmarr.info" | sed -e "s|$PWD/||"
genhtml -q "${rc[@]}" --output-directory "$build/html" "$build/libmmarr.info" >/dev/null 2>&1 &&
  echo "HTML report: $build/html/index.html"
