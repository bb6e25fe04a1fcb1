#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""peers_cold.py — the peers of bench_cold on the same data: the zstd CLI, zarr and h5py.

Run with /usr/bin/python3 (Debian's, which has numpy). Needs the Debian packages zstd,
python3-numpy, python3-zarr, python3-numcodecs, python3-h5py, python3-hdf5plugin (pulls in
hdf5-filter-plugin-blosc-serial); see bench/README.md. A peer whose package is missing is
skipped with a message.

Peers (each on files in --dir, default /dev/shm):
  zstd-cli      `zstd -3 -T2` of the raw bytes (the .npy payload written to a raw file),
                `zstd -d` to a file in --dir and to /dev/null; timed around the subprocess
  zarr-zstd     zarr 2 DirectoryStore, chunks of --chunk-kib (default 1 MiB = 262144 f4),
                compressor numcodecs Zstd(level=3), no filter — single-threaded
  zarr-shuf-zstd  the same with filters=[numcodecs.Shuffle(elementsize=itemsize)]: the same
                byte shuffle as mmarr's, then plain zstd — single-threaded
  zarr-blosc    compressor Blosc(cname='zstd', clevel=3, shuffle=SHUFFLE), Blosc on 2 threads
  h5py-blosc    HDF5 chunked dataset, same chunks, Blosc filter (32001, Debian's
                hdf5-filter-plugin-blosc-serial) with zstd level 3, without and with shuffle,
                Blosc on 2 threads. Debian 12 has no HDF5 zstd filter (32015) plugin.
Per peer: write MB/s (raw bytes / wall time of create + write + close), ratio (raw bytes /
stored chunk bytes), whole read MB/s into a pre-faulted buffer, and --slices random slices of
--slice-kib at the element offsets bench_cold draws (splitmix64, same --seed), into a
pre-faulted buffer. Medians with p10/p90 after warm-up rounds; RESULT lines as bench_cold's.
"""
import argparse
import os
import resource
import shutil
import subprocess
import sys
import time

import numpy as np

MB = 1e6
M64 = (1 << 64) - 1


def splitmix64(state):
    """One step of splitmix64; returns (new_state, value). Same as bench_cold.c."""
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


def slice_offsets(seed, count, nitems, sitems):
    """Element offsets of `count` slices of `sitems` items, as bench_cold.c draws them."""
    out, state = [], seed
    for _ in range(count):
        state, v = splitmix64(state)
        out.append(v % (nitems - sitems + 1))
    return out


def pct(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2], v[n // 10], v[(n * 9) // 10], n


def report(tool, config, metric, what, values, unit):
    med, p10, p90, n = pct(values)
    print(f"{tool + ' ' + what:<52} median {med:10.3f} {unit}   p10 {p10:10.3f}   "
          f"p90 {p90:10.3f}   (n={n})")
    print(f"RESULT\t{tool}\t{config}\t{metric}\t{med:.6g}\t{p10:.6g}\t{p90:.6g}\t{n}", flush=True)


def report_value(tool, config, metric, what, value):
    print(f"{tool + ' ' + what:<52} {value:10.4f}")
    print(f"RESULT\t{tool}\t{config}\t{metric}\t{value:.6g}\t{value:.6g}\t{value:.6g}\t1",
          flush=True)


def touched(nbytes, dtype):
    buf = np.empty(nbytes // np.dtype(dtype).itemsize, dtype=dtype)
    buf.view(np.uint8).fill(0x5A)  # pre-fault every page before any timing
    return buf


def rm(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.unlink(path)


def dir_bytes(path, skip_dot=True):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            if not (skip_dot and f.startswith(".")):
                total += os.path.getsize(os.path.join(root, f))
    return total


class Bench:
    def __init__(self, args, x):
        self.a = args
        self.x = x
        self.nbytes = x.nbytes
        self.dst = touched(x.nbytes, x.dtype)
        self.sitems = (args.slice_kib << 10) // x.dtype.itemsize
        self.sbuf = touched(self.sitems * x.dtype.itemsize, x.dtype)
        self.offsets = slice_offsets(args.seed, args.slices, x.size, self.sitems)
        self.warm = slice_offsets(args.seed ^ 0xABCDEF, 20, x.size, self.sitems)
        self.tag = f"{os.getpid()}"

    def path(self, name):
        return os.path.join(self.a.dir, f"peers_cold.{self.tag}.{name}")

    # ---- a generic chunked store: write, whole read, slices ----
    def run_store(self, tool, config, path, write, stored_bytes, open_read, read_all,
                  read_slice):
        a = self.a
        mbps = []
        for r in range(-1, a.reps):  # one warm-up round
            rm(path)
            t0 = time.perf_counter()
            write(path)
            dt = time.perf_counter() - t0
            if r >= 0:
                mbps.append(self.nbytes / dt / MB)
        report(tool, config, "write_MBps", "write", mbps, "MB/s")
        report_value(tool, config, "ratio", "ratio", self.nbytes / stored_bytes(path))
        h = open_read(path)
        mbps = []
        for r in range(-1, a.read_reps):
            t0 = time.perf_counter()
            read_all(h, self.dst)
            dt = time.perf_counter() - t0
            if r < 0:
                if not np.array_equal(self.dst, self.x):
                    sys.exit(f"peers_cold: {tool}: whole read differs from the input")
            else:
                mbps.append(self.nbytes / dt / MB)
        report(tool, config, "read_MBps", "read whole", mbps, "MB/s")
        times = []
        for r, off in enumerate(self.warm + self.offsets):
            t0 = time.perf_counter()
            read_slice(h, off, self.sbuf)
            dt = time.perf_counter() - t0
            if not np.array_equal(self.sbuf, self.x[off:off + self.sitems]):
                sys.exit(f"peers_cold: {tool}: slice at {off} differs from the input")
            if r >= len(self.warm):
                times.append(dt * 1e3)
        report(tool, config, "slice_ms", f"random {a.slice_kib} KiB slice", times, "ms")
        if hasattr(h, "close"):
            h.close()
        rm(path)

    # ---- zstd CLI ----
    def zstd_cli(self):
        a = self.a
        zstd = shutil.which("zstd")
        if not zstd:
            print("zstd-cli: skipped (no zstd command; apt-get install zstd)")
            return
        ver = subprocess.run([zstd, "--version"], capture_output=True, text=True).stdout.strip()
        print(f"zstd-cli: {ver}")
        raw, comp, dec = self.path("raw"), self.path("zst"), self.path("dec")
        self.x.tofile(raw)
        tool, config = "zstd-cli", f"-{a.level} -T{a.threads}"
        try:
            cores = []

            def run(cmd):
                r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True)
                dt = time.perf_counter() - t0
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cores.append((r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) / dt)
                return dt

            mbps = []
            for r in range(-1, a.reps):
                rm(comp)
                dt = run([zstd, f"-{a.level}", f"-T{a.threads}", "-q", "-f", raw, "-o", comp])
                if r >= 0:
                    mbps.append(self.nbytes / dt / MB)
            report(tool, config, "write_MBps", "compress", mbps, "MB/s")
            report(tool, config, "write_cores", "CPU time / wall time compressing", cores[1:],
                   "   ")
            report_value(tool, config, "ratio", "ratio", self.nbytes / os.path.getsize(comp))
            for metric, target, what in (("read_MBps", dec, "zstd -d to a file in " + a.dir),
                                         ("readnull_MBps", "/dev/null", "zstd -d to /dev/null")):
                mbps = []
                for r in range(-1, a.read_reps):
                    rm(dec)
                    dt = run([zstd, "-d", "-q", "-f", comp, "-o", target])
                    if r >= 0:
                        mbps.append(self.nbytes / dt / MB)
                if target == dec and not np.array_equal(np.fromfile(dec, dtype=self.x.dtype),
                                                        self.x):
                    sys.exit("peers_cold: zstd -d output differs from the input")
                report(tool, config, metric, what, mbps, "MB/s")
        finally:
            for p in (raw, comp, dec):
                rm(p)

    # ---- zarr ----
    def zarr(self, variant):
        try:
            import numcodecs
            import zarr
        except ImportError as e:
            print(f"zarr: skipped ({e}; apt-get install python3-zarr python3-numcodecs)")
            return
        a, x = self.a, self.x
        chunks = ((a.chunk_kib << 10) // x.dtype.itemsize,)
        filters = None
        if variant == "zstd":
            comp = numcodecs.Zstd(level=a.level)
        elif variant == "shuf-zstd":
            comp = numcodecs.Zstd(level=a.level)
            filters = [numcodecs.Shuffle(elementsize=x.dtype.itemsize)]
        else:
            numcodecs.blosc.set_nthreads(a.threads)
            comp = numcodecs.Blosc(cname="zstd", clevel=a.level, shuffle=numcodecs.Blosc.SHUFFLE)
        tool = f"zarr-{variant}"
        config = f"chunk={a.chunk_kib}KiB" + (",threads=%d" % numcodecs.blosc.get_nthreads()
                                              if variant == "blosc" else ",threads=1")
        print(f"{tool}: zarr {zarr.__version__}, numcodecs {numcodecs.__version__}, chunks "
              f"{chunks[0]} items, compressor {comp!r}"
              + (f", filters {filters!r}" if filters else "")
              + (f", blosc threads {numcodecs.blosc.get_nthreads()}" if variant == "blosc"
                 else ""))

        def write(path):
            z = zarr.open_array(zarr.DirectoryStore(path), mode="w", shape=x.shape,
                                chunks=chunks, dtype=x.dtype, compressor=comp, filters=filters)
            z[...] = x

        self.run_store(
            tool, config, self.path(tool), write,
            lambda path: dir_bytes(path),  # chunk files only (".zarray" metadata skipped)
            lambda path: zarr.open_array(zarr.DirectoryStore(path), mode="r"),
            lambda z, out: z.get_basic_selection(Ellipsis, out=out),
            lambda z, off, out: z.get_basic_selection(slice(off, off + self.sitems), out=out))

    # ---- h5py ----
    def h5py(self, shuffle):
        try:
            import h5py
            import hdf5plugin
        except ImportError as e:
            print(f"h5py: skipped ({e}; apt-get install python3-h5py python3-hdf5plugin)")
            return
        a, x = self.a, self.x
        chunks = ((a.chunk_kib << 10) // x.dtype.itemsize,)
        try:  # blosc's global thread count also drives the HDF5 blosc filter
            import numcodecs
            numcodecs.blosc.set_nthreads(a.threads)
        except ImportError:
            pass
        os.environ["BLOSC_NTHREADS"] = str(a.threads)
        filt = hdf5plugin.Blosc(cname="zstd", clevel=a.level,
                                shuffle=hdf5plugin.Blosc.SHUFFLE if shuffle
                                else hdf5plugin.Blosc.NOSHUFFLE)
        tool = "h5py-blosc" + ("-shuf" if shuffle else "")
        config = f"chunk={a.chunk_kib}KiB,threads={a.threads}"
        print(f"{tool}: h5py {h5py.__version__}, HDF5 {h5py.version.hdf5_version}, chunks "
              f"{chunks[0]} items, Blosc filter 32001 cname zstd clevel {a.level} "
              f"{'SHUFFLE' if shuffle else 'NOSHUFFLE'}, BLOSC_NTHREADS={a.threads}")

        def write(path):
            with h5py.File(path, "w") as f:
                f.create_dataset("data", data=x, chunks=chunks, **filt)

        def stored(path):
            with h5py.File(path, "r") as f:
                return f["data"].id.get_storage_size()

        class Reader:
            def __init__(self, path):
                self.f = h5py.File(path, "r")
                self.d = self.f["data"]

            def close(self):
                self.f.close()

        self.run_store(
            tool, config, self.path(tool + ".h5"), write, stored, Reader,
            lambda h, out: h.d.read_direct(out),
            lambda h, off, out: h.d.read_direct(out, np.s_[off:off + self.sitems]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--input", required=True, help=".npy file (any simple dtype)")
    p.add_argument("--dir", default="/dev/shm")
    p.add_argument("--level", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--chunk-kib", type=int, default=1024)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--read-reps", type=int, default=5)
    p.add_argument("--slices", type=int, default=200)
    p.add_argument("--slice-kib", type=int, default=1024)
    p.add_argument("--seed", type=int, default=20261121)
    p.add_argument("--only", default="zstd,zarr-zstd,zarr-shuf-zstd,zarr-blosc,h5py,h5py-shuf",
                   help="comma-separated peers to run")
    a = p.parse_args()
    t0 = time.perf_counter()
    x = np.load(a.input, mmap_mode="r")
    x = np.ascontiguousarray(x).reshape(-1)  # a private, resident copy, like bench_cold's
    print(f"peers_cold: {a.input}, dtype {x.dtype.str}, {x.nbytes / 2**20:.1f} MiB "
          f"(loaded in {time.perf_counter() - t0:.2f} s), level {a.level}, {a.threads} threads, "
          f"files in {a.dir}; numpy {np.__version__}, python {sys.version.split()[0]}",
          flush=True)
    b = Bench(a, x)
    for peer in a.only.split(","):
        if peer == "zstd":
            b.zstd_cli()
        elif peer.startswith("zarr-"):
            b.zarr(peer[5:])
        elif peer in ("h5py", "h5py-shuf"):
            b.h5py(peer == "h5py-shuf")
        else:
            sys.exit(f"peers_cold: unknown peer {peer}")


if __name__ == "__main__":
    main()
