#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# format.sh — the C style (.clang-format, clang-format 14) on the lines a change touches.
#   scripts/format.sh [--check] [BASE]
# Formats (or with --check, only reports) the C lines changed since BASE (default: the
# commit before HEAD, or $MMARR_FORMAT_BASE), in the working tree. Whole files need not be
# formatted: old code is left as it is until a change touches it.
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
if [ "${1:-}" = --check ]; then
  check=1
  shift
fi
base=${1:-${MMARR_FORMAT_BASE:-HEAD~1}}
if ! git rev-parse -q --verify "$base^{commit}" >/dev/null; then
  echo "format.sh: no commit $base to compare with; nothing to check"
  exit 0
fi
gcf=$(command -v git-clang-format-14 || command -v git-clang-format || true)
if [ -z "$gcf" ]; then
  echo "format.sh: git-clang-format-14 not found (apt-get install clang-format-14)" >&2
  exit 2
fi
if [ $check = 1 ]; then
  out=$("$gcf" --binary clang-format-14 --diff "$base" -- '*.c' '*.h' 2>&1 || true)
  case "$out" in
    "" | *"no modified files to format"* | *"did not modify any files"*)
      echo "format: the C lines changed since $base follow .clang-format"
      exit 0 ;;
  esac
  printf '%s\n' "$out"
  echo "format.sh: the lines above do not follow .clang-format: run scripts/format.sh $base" >&2
  exit 1
fi
"$gcf" --binary clang-format-14 "$base" -- '*.c' '*.h'
