#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test.sh — the quick start's second command: every test.
#   0. the C lines of the last commit follow .clang-format (scripts/format.sh)
#   1. gcc Release (-O3), -Werror, all ctest suites (unit, golden); the library's layering
#      (scripts/check_layers.py: no dependency circle, front ends on the public header only)
#   1b. pip: `pip wheel` and `pip install` (offline, --no-build-isolation) of a copy of the
#      tree into a fresh venv, and the Python tests run against that install
#   2. clang, -Werror, AddressSanitizer + UndefinedBehaviorSanitizer, all ctest suites but the
#      Python examples (end-to-end demos at small sizes, run in step 1)
#   3. the golden-file generator reproduces the committed vectors byte for byte
#   4. the demo and the tools under valgrind (no leaks, no invalid accesses)
#   5. each libFuzzer target (clang-14, ASan + UBSan) for FUZZ_SECONDS (default 60) from the
#      checked-in seed corpus (ctest already replays that corpus in steps 1 and 2)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
jobs=$(nproc)

echo "== style of the changed lines"
scripts/format.sh --check

echo "== gcc build + tests"
# Release (-O3 -DNDEBUG) as the demo builds, so that warnings only the optimizer sees
# (maybe-uninitialized...) fail here too; no code of this project uses assert()
cmake -S . -B build/gcc -DCMAKE_C_COMPILER=gcc -DMMARR_WERROR=ON -DCMAKE_BUILD_TYPE=Release \
  >/dev/null
cmake --build build/gcc -j"$jobs" >/dev/null
ctest --test-dir build/gcc --output-on-failure -j"$jobs"
/usr/bin/python3 scripts/check_layers.py build/gcc

echo "== pip install into a fresh venv; the Python tests against that install"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/src"  # a copy: the build leaves build/ and *.egg-info behind
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -C "$tmp/src" -xf -
/usr/bin/python3 -m venv --system-site-packages "$tmp/venv"
pip=("$tmp/venv/bin/pip" -q --disable-pip-version-check)
(cd "$tmp/src" && "${pip[@]}" wheel --no-build-isolation --no-deps --no-index -w "$tmp/dist" .)
(cd "$tmp/src" && "${pip[@]}" install --no-build-isolation --no-deps --no-index .)
(cd "$tmp" && venv/bin/python -c "import mmarr; assert mmarr.__file__.startswith('$tmp/venv/'), \
  mmarr.__file__; print('installed:', mmarr.__file__, mmarr.__version__)")
ls "$tmp"/dist/mmarr-*.whl
(cd "$tmp" && venv/bin/python -m pytest -q -p no:cacheprovider "$tmp/src/python/tests")
rm -rf "$tmp/src" "$tmp/venv" "$tmp/dist"

echo "== clang + ASan/UBSan build + tests"
cmake -S . -B build/asan -DCMAKE_C_COMPILER=clang-14 -DMMARR_WERROR=ON -DMMARR_SANITIZE=ON \
  -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/asan -j"$jobs" >/dev/null
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build/asan --output-on-failure -j"$jobs" -LE example

echo "== golden vectors regenerate identically"
cp format/testdata/*.py "$tmp/"
/usr/bin/python3 "$tmp/gen_golden.py" >/dev/null
diff -r -q -x '*.py' -x __pycache__ "$tmp" format/testdata
echo "golden vectors: identical"

echo "== demo and tools under valgrind"
vg=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite)
"${vg[@]}" --trace-children=yes build/gcc/examples/mmarr_demo -w 2 -m 8 -o "$tmp/demo.mmarr" \
  --keep >/dev/null
"${vg[@]}" build/gcc/tools/mmarr-info --verify "$tmp/demo.mmarr" >/dev/null
"${vg[@]}" build/gcc/tools/mmarr-info --json "$tmp/demo.mmarr" events >/dev/null
"${vg[@]}" build/gcc/tools/mmarr-pack -q -o "$tmp/repacked.mmarr" "$tmp/demo.mmarr"
"${vg[@]}" build/gcc/tools/mmarr-unpack "$tmp/repacked.mmarr" -o "$tmp/unpacked/" >/dev/null
"${vg[@]}" build/gcc/tools/mmarr-cache --dir "$tmp/cache" list >/dev/null
echo "valgrind: clean"

echo "== libFuzzer targets, ${FUZZ_SECONDS:-60} s each"
FUZZ_CORPUS="$tmp/fuzz-corpus" scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
