#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# deps.sh — install the Debian 12 packages mmarr needs, only those that are missing.
# Usage: scripts/deps.sh [build|test]   (test adds clang + sanitizer runtime, clang-format,
# pytest, valgrind, strace for fault injection, dask/distributed for the cluster tests, and
# zarr/h5py/psutil for the Dask benchmark's smoke run, torch for the DataLoader tests, pandas
# and xarray for the frame tests, and
# venv/pip/setuptools/wheel to install the package the Python way in a fresh venv)
# build: libzip for .npz in the tools; python3-dev + numpy for the Python binding.
set -euo pipefail
pkgs=(cmake make gcc pkg-config libzstd-dev libxxhash-dev libcmocka-dev libzip-dev python3-dev
      python3-numpy)
if [ "${1:-build}" = test ]; then
  pkgs+=(clang-14 libclang-rt-14-dev clang-format-14 python3-xxhash python3-pytest valgrind strace
         python3-dask python3-distributed python3-zarr python3-h5py python3-psutil python3-torch
         python3-pandas python3-xarray python3-venv python3-pip python3-setuptools python3-wheel)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps.sh: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
