#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Example 3: workers writing disjoint slices of one shared output array (a render buffer)
that the parent then reads.

mmarr: mmarr.share(empty={"img": ((H, W), "<f4")}, writable=True) makes a zero-filled array
in a shared file (see share() for where) without building it in memory; each worker receives a reference to it and writes
its band of rows in place; the parent reads the finished image through its own view, with no
copy and nothing sent back. Naive: each worker returns its band (pickled back to the parent),
and the parent assembles the image with np.concatenate (a second copy).

The picture is a Mandelbrot set, rendered band by band (escape-time, float32).

Usage: render_buffer.py [--width 8192] [--height 4096] [--iters 20] [--workers 4]
                        [--bands 16] [--skip-naive] [--pgm out.pgm]
"""
import argparse
import multiprocessing

import numpy as np

import _common
import mmarr


def render(y0, y1, h, w, iters):
    ys = np.linspace(-1.2, 1.2, h, dtype=np.float32)[y0:y1, None]
    xs = np.linspace(-2.2, 1.0, w, dtype=np.float32)[None, :]
    c = xs + 1j * ys
    z = np.zeros_like(c)
    out = np.zeros(c.shape, np.float32)
    for k in range(iters):
        z = z * z + c
        escaped = np.abs(z) > 2
        out[escaped & (out == 0)] = k + 1
        z[escaped] = 0  # keeps escaped points bounded
    return out


def work_shared(task):
    img, y0, y1, iters = task
    img[y0:y1] = render(y0, y1, img.shape[0], img.shape[1], iters)
    return _common.report()


def work_naive(task):
    h, w, y0, y1, iters = task
    band = render(y0, y1, h, w, iters)
    return band, _common.report()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--width", type=int, default=8192)
    ap.add_argument("--height", type=int, default=4096)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--bands", type=int, default=16)
    ap.add_argument("--method", default="spawn", choices=["fork", "spawn", "forkserver"])
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--pgm", help="also write the image as a PGM file")
    a = ap.parse_args()
    h, w = a.height, a.width
    bands = [(h * i // a.bands, h * (i + 1) // a.bands) for i in range(a.bands)]
    ctx = multiprocessing.get_context(a.method)
    print(f"{w}x{h} float32 image ({w * h * 4 / 2**20:.0f} MiB), {a.bands} bands, "
          f"{a.workers} workers ({a.method})")

    parent0 = _common.pss_kib()
    with mmarr.share(empty={"img": ((h, w), "<f4")}, writable=True) as s:
        img = s["img"]
        with ctx.Pool(a.workers, initializer=_common.worker_init) as pool:
            with _common.Timer() as t:
                reps = pool.map(work_shared, [(img, y0, y1, a.iters) for y0, y1 in bands],
                                chunksize=1)
                checksum = float(img.sum(dtype=np.float64))  # the parent reads the result
            parent = (_common.pss_kib() - parent0) / 1024
        _common.line("mmarr (write in place)", t.seconds, _common.total_added_mib(reps),
                     f"parent +{parent:.0f} MiB  checksum={checksum:.8g}")
        if a.pgm:
            scaled = (255 * img / max(float(img.max()), 1)).astype(np.uint8)
            with open(a.pgm, "wb") as fp:
                fp.write(b"P5 %d %d 255\n" % (w, h) + scaled.tobytes())
            print(f"  wrote {a.pgm}")
        if not a.skip_naive:
            parent0 = _common.pss_kib()
            with ctx.Pool(a.workers, initializer=_common.worker_init) as pool:
                with _common.Timer() as t:
                    out = pool.map(work_naive, [(h, w, y0, y1, a.iters) for y0, y1 in bands],
                                   chunksize=1)
                    full = np.concatenate([o[0] for o in out])
                    naive_sum = float(full.sum(dtype=np.float64))
                parent = (_common.pss_kib() - parent0) / 1024
            _common.line("naive (return + concatenate)", t.seconds,
                         _common.total_added_mib([o[1] for o in out]),
                         f"parent +{parent:.0f} MiB  checksum={naive_sum:.8g}")
            assert np.array_equal(full, img)

if __name__ == "__main__":
    main()
