#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# strace_inject.sh — failure and kill injection at every file-system call of mmarr-pack
# (issue 6), with strace's syscall tampering:
#
#   for every call of pwrite64, fallocate, ftruncate, fsync, fdatasync, linkat, rename and
#   unlink that a successful `mmarr-pack --force` makes (replacing an existing output), run it
#   again with
#     (a) that one call failing (ENOSPC for writes and space, EIO for syncs and truncation,
#         EACCES for linkat, rename and unlink): the tool exits 1 with a message and the output is
#         the old file byte for byte, or the new one when the failure comes after the rename
#         (the directory fsync); or, for a failure the writer recovers from (the greedy
#         fallocate step is retried with the exact size), it exits 0 with the new
#         file; no temporary may be left behind (the writer's temporary is unnamed,
#         O_TMPFILE, until commit links it in as out.mmarr.tmp.XXXXXX just before the
#         rename); the same with that call and every later one failing (a disk that stays
#         full);
#     (b) the process killed (SIGKILL) as it enters that call: the output must be the old
#         file or the new one byte for byte, and every temporary left must either fail to
#         open in mmarr-info or be the complete new file (killed between the link of the
#         temporary and the rename).
#
# Usage: strace_inject.sh MMARR_PACK MMARR_INFO     (ctest passes the built tools)
# Prints the number of injections per call and their outcomes; exits 1 on any violation.
set -euo pipefail
pack=$1
info=$2
command -v strace >/dev/null || { echo "strace not installed: skipped"; exit 77; }
# LeakSanitizer cannot run under ptrace; the ASan build's other checks stay on
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

# inputs: large hot arrays (each written directly), a small one (staged), one past the
# writer's largest (16 MiB) space-reservation step, a cold one in chunks
head -c 300000 /dev/urandom >a.bin
head -c 3000 /dev/urandom >b.bin
awk 'BEGIN { for (i = 0; i < 40000; i++) printf "%08d row %d\n", i * 7, i % 13 }' >c.bin
head -c 17000000 /dev/zero >d.bin
new_args=(-q -f -o out.mmarr -m version=new -t '<f4' a=a.bin a2=a.bin a3=a.bin -t '|u1' b=b.bin
          d=d.bin a4=a.bin --cold c --chunk-size 64K --threads 1 c=c.bin)

"$pack" -q -o out.mmarr -m version=old -t '|u1' old=b.bin
cp out.mmarr old.ref
"$pack" "${new_args[@]}"
mv out.mmarr new.ref
cmp -s old.ref new.ref && { echo "old and new outputs are identical"; exit 1; }
cp old.ref out.mmarr

calls=(pwrite64 fallocate ftruncate fsync fdatasync linkat rename unlink)
strace -f -qq -o trace.txt -e trace="$(IFS=,; echo "${calls[*]}")" "$pack" "${new_args[@]}"
cmp -s out.mmarr new.ref || { echo "the traced run wrote something else"; exit 1; }
cp old.ref out.mmarr

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# The output after an injection: "old" or "new" (byte for byte), else a failure.
dest_state() {
  if cmp -s out.mmarr old.ref; then echo old
  elif cmp -s out.mmarr new.ref; then echo new
  else echo torn
  fi
}

# Leftover temporaries: count them as refused or complete, fail on anything else; remove.
temps_refused=0
temps_complete=0
check_temps() {
  local t
  for t in out.mmarr.tmp.*; do
    [ -e "$t" ] || continue
    if "$info" "$t" >/dev/null 2>&1; then
      if cmp -s "$t" new.ref; then
        temps_complete=$((temps_complete + 1))
      else
        fail "$1: temporary $t opens but is not the complete new file"
      fi
    else
      temps_refused=$((temps_refused + 1))
    fi
    rm -f "$t"
  done
}

errno_for() {
  case $1 in
    pwrite64 | fallocate) echo ENOSPC ;;
    fsync | fdatasync | ftruncate) echo EIO ;;
    *) echo EACCES ;;
  esac
}

total=0
recovered=0
printf '%-10s %6s  %s\n' call count "outcomes (error injection | kill injection)"
for c in "${calls[@]}"; do
  n=$(grep -c -E "^[0-9]+ +$c\(" trace.txt || true)
  [ "$n" -gt 0 ] || continue
  err_old=0 err_new=0 kill_old=0 kill_new=0
  for ((j = 1; j <= 2 * n; j++)); do
    # (a) the k-th call fails; then (a') the k-th and every later one (a full disk)
    k=$(( (j + 1) / 2 ))
    when=$k
    [ $((j % 2)) -eq 0 ] && when="$k+"
    e=$(errno_for "$c")
    set +e
    strace -f -qq -o /dev/null -e trace="$c" -e inject="$c:error=$e:when=$when" \
      "$pack" "${new_args[@]}" 2>stderr.txt
    rc=$?
    set -e
    state=$(dest_state)
    what="$c #$when failing with $e"
    if [ $rc -eq 0 ]; then # a failure the writer recovers from (e.g. a greedy fallocate)
      [ "$state" = new ] || fail "$what: exit status 0 but the output is not the new file"
      recovered=$((recovered + 1))
    elif [ $rc -ne 1 ]; then
      fail "$what: exit status $rc, expected 0 or 1"
    elif [ ! -s stderr.txt ]; then
      fail "$what: exit status 1 without a message"
    fi
    case $state in
      old) err_old=$((err_old + 1)) ;;
      new) err_new=$((err_new + 1)) ;;
      *) fail "$what: the output is neither the old file nor the new one" ;;
    esac
    for t in out.mmarr.tmp.*; do
      [ -e "$t" ] && [ "$c" != unlink ] && fail "$what: temporary $t left behind"
    done
    check_temps "$what"
    cp old.ref out.mmarr
    total=$((total + 1))
    [ $((j % 2)) -eq 0 ] || continue
    # (b) killed on entering the k-th call
    set +e
    (strace -f -qq -o /dev/null -e trace="$c" -e inject="$c:signal=SIGKILL:when=$k" \
      "$pack" "${new_args[@]}"; exit 0) >/dev/null 2>&1
    set -e
    state=$(dest_state)
    what="$c #$k killed"
    case $state in
      old) kill_old=$((kill_old + 1)) ;;
      new) kill_new=$((kill_new + 1)) ;;
      *) fail "$what: the output is neither the old file nor the new one" ;;
    esac
    check_temps "$what"
    cp old.ref out.mmarr
    total=$((total + 1))
  done
  printf '%-10s %6d  error: %d old, %d new | kill: %d old, %d new\n' "$c" "$n" \
    "$err_old" "$err_new" "$kill_old" "$kill_new"
done
echo "$total injections ($recovered failures recovered by the writer); temporaries left by" \
  "kills: $temps_refused refused by mmarr-info, $temps_complete complete (killed after the" \
  "superblock write, before the rename)"
if [ $failures -ne 0 ]; then
  echo "$failures violation(s)"
  exit 1
fi
echo "0 torn outputs, no temporary taken for a dataset"
