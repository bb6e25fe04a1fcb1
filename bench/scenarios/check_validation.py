#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Checks that bench_scenarios.py's result validation catches what it must (no pytest).

1. common.check: equal values pass; a different value, NaN, None, a missing value or a
   value outside the tolerance raise ValidationError.
2. Every scenario and curve method, run at smoke size with workers that skip their work
   (Config.skip: no sum, no write), must fail its validation with ValidationError, and leave
   no file behind in the directory.
3. restart.check: a reopened array with another checksum, and a name that is gone, do not
   count as surviving.

    PYTHONPATH=build/python /usr/bin/python3 bench/scenarios/check_validation.py [--dir DIR]

Exit status 0 when every check holds, 1 otherwise, 77 without pandas (scenario 1)."""
import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_scenarios  # noqa: E402
import common  # noqa: E402
import curves  # noqa: E402
import restart  # noqa: E402

PASSED, FAILURES = [], []


def expect(what, ok):
    print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
    (PASSED if ok else FAILURES).append(what)


def raises_validation(fn, *args):
    try:
        fn(*args)
    except common.ValidationError as e:
        return str(e)
    return None


def check_check():
    expect("equal numbers pass", raises_validation(common.check, "x", 3.0, 3.0) is None)
    expect("equal lists pass", raises_validation(common.check, "x", [1, 2.5], [1, 2.5]) is None)
    expect("within tolerance passes",
           raises_validation(common.check, "x", 1.0 + 1e-14, 1.0, 1e-12) is None)
    for what, got, want, rel in (("a different number", 2.0, 3.0, 0.0),
                                 ("outside the tolerance", 1.001, 1.0, 1e-12),
                                 ("NaN", float("nan"), 1.0, 0.0),
                                 ("None", None, 1.0, 0.0),
                                 ("a skipped sum (0)", 0.0, 5.0, 1e-9),
                                 ("a list too short", [1.0], [1.0, 2.0], 0.0),
                                 ("one wrong element", [1.0, 2.0, 4.0], [1.0, 2.0, 3.0], 0.0),
                                 ("a scalar for a list", 1.0, [1.0], 0.0)):
        expect(f"{what} fails", raises_validation(common.check, "x", got, want, rel) is not None)


def leftovers(d):
    return sorted(n for n in os.listdir(d) if not n.startswith("."))


def check_skipping_workers(d):
    cfg, _ = bench_scenarios.parse_args(["--smoke", "--dir", d])
    cfg.skip = True
    for name, mod, _ in bench_scenarios.SCENARIOS:
        state = mod.prepare(cfg)
        try:
            for method in mod.METHODS:
                msg = raises_validation(mod.run, method, cfg, state)
                expect(f"{name}/{method}: workers that skip their work are caught"
                       + (f" ({msg[:70]}...)" if msg else ""), msg is not None)
        finally:
            mod.cleanup(state)
    for method in curves.METHODS:
        msg = raises_validation(curves.run, method, cfg, 1 << 20, 2)
        expect(f"curve/{method}: workers that skip their work are caught", msg is not None)
    expect(f"no file left in {d}", leftovers(d) == [])


def check_restart(d):
    path = os.path.join(d, "x.npy")
    np.save(path, np.ones(restart.SHAPE))
    info = {"kind": "npy", "handle": path, "backing": "", "checksum": float(256 * 1024)}
    expect("restart: the same data survives", restart.check("npy", info)["survives"])
    expect("restart: other data does not count",
           not restart.check("npy", dict(info, checksum=1.0))["survives"])
    os.unlink(path)
    expect("restart: a name that is gone does not count",
           not restart.check("npy", info)["survives"])
    expect("restart: anonymous memory does not count",
           not restart.check("fork", dict(info, handle=None))["survives"])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dir", default=None, help="a scratch directory (default: a new one in "
                   "the directory mmarr.share() would use)")
    a = p.parse_args()
    import procmem
    procmem.require("check_validation", "pandas")
    import mmarr
    with tempfile.TemporaryDirectory(prefix="bench-scenarios-check-",
                                     dir=a.dir or mmarr._default_share_dir()) as d:
        check_check()
        check_skipping_workers(d)
        check_restart(d)
    print(f"{len(PASSED)} passed, {len(FAILURES)} failed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
