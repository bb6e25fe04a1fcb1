# SPDX-License-Identifier: MIT
"""share() files go when the last process using them is gone, even when processes are killed
with SIGKILL; a file that a live process maps is never removed."""
import gc
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import textwrap

import _workers
import numpy as np
import pytest

import mmarr

N = 100_000

CREATOR = textwrap.dedent("""
    import pickle, sys, time
    import numpy as np, mmarr
    s = mmarr.share(np.arange(%d, dtype=np.int64), dir=sys.argv[1])
    with open(sys.argv[2], "wb") as out:
        pickle.dump(s.array, out)
    print(s.path, flush=True)
    time.sleep(3600)
""" % N)

WORKER = textwrap.dedent("""
    import pickle, sys
    with open(sys.argv[1], "rb") as f:
        x = pickle.load(f)
    print("ready", flush=True)
    sys.stdin.readline()          # go
    print(int(x.sum()), flush=True)
""")


def _spawn(script, *args):
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _creator(shm, tmp_path):
    blob = tmp_path / "ref.pickle"
    c = _spawn(CREATOR, shm, blob)
    path = c.stdout.readline().strip()
    assert path and os.path.exists(path), "the creator did not share"
    return c, path, blob


def _workers_ready(blob, n):
    ws = [_spawn(WORKER, blob) for _ in range(n)]
    for w in ws:
        assert w.stdout.readline().strip() == "ready"
    return ws


def _finish(w):
    out, _ = w.communicate("go\n", timeout=60)
    assert w.returncode == 0 and int(out) == N * (N - 1) // 2


def _kill(p):
    p.send_signal(signal.SIGKILL)
    p.wait()


def test_share_cleanup__creator_killed_workers_go_on(shm, tmp_path):
    c, path, blob = _creator(shm, tmp_path)
    ws = _workers_ready(blob, 2)
    _kill(c)
    assert os.path.exists(path)           # the workers still map it
    assert mmarr._lease.sweep(shm) == []  # and a sweep leaves it alone
    _finish(ws[0])
    assert os.path.exists(path)           # one worker is still using it
    _finish(ws[1])
    assert not os.path.exists(path)       # the last one removed it
    assert os.listdir(shm) == []


def test_share_cleanup__everyone_killed_next_share_sweeps(shm, tmp_path):
    c, path, blob = _creator(shm, tmp_path)
    ws = _workers_ready(blob, 2)
    for p in [c, *ws]:
        _kill(p)
    assert os.path.exists(path)           # nobody was left to remove it
    with mmarr.share(np.ones(3), dir=shm) as s:
        assert not os.path.exists(path)   # swept by the next share()
        assert os.listdir(shm) == [os.path.basename(s.path)]


def test_share_cleanup__live_mapping_never_removed(shm, tmp_path):
    s = mmarr.share(np.arange(N, dtype=np.int64), dir=shm)
    path = s.path
    blob = tmp_path / "ref.pickle"
    blob.write_bytes(pickle.dumps(s.array))
    (w,) = _workers_ready(blob, 1)
    s.close()
    del s
    gc.collect()
    assert os.path.exists(path)           # the worker maps it
    with mmarr.share(np.ones(3), dir=shm):
        assert os.path.exists(path)       # not swept either
    _finish(w)
    assert not os.path.exists(path)


def test_share_cleanup__creator_views_keep_it(shm):
    s = mmarr.share(np.arange(10), dir=shm)
    x = s.array[2:5]
    s.close()
    gc.collect()
    assert os.path.exists(s.path) and list(x) == [2, 3, 4]
    assert pickle.loads(pickle.dumps(x)).tolist() == [2, 3, 4]  # still a working reference
    del x
    gc.collect()
    assert os.path.exists(s.path)  # unpickling keeps recent files mapped (release_handles)
    mmarr.release_handles()
    assert not os.path.exists(s.path)


def test_share_cleanup__writable_goes_too(shm):
    """A writable share() ("r+": its handle holds a shared flock of its own) goes with its
    last user like a read-only one."""
    s = mmarr.share({"x": np.ones(10)}, dir=shm, writable=True)
    s["x"][0] = 5
    path = s.path
    s.close()
    gc.collect()
    mmarr.release_handles()
    assert not os.path.exists(path)
    e = mmarr.share(empty={"y": ((4, 4), "<f8")}, dir=shm, writable=True)
    path = e.path
    e.close()
    gc.collect()
    mmarr.release_handles()
    assert not os.path.exists(path)


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_share_cleanup__multiprocessing_worker_is_the_last_user(shm, tmp_path, method):
    """multiprocessing's workers end with os._exit (no atexit): they give up their leases
    through multiprocessing's own exit finalizers, and the last one removes the file."""
    s = mmarr.share(np.arange(5), dir=shm)
    path = s.path
    blob = tmp_path / "ref.pickle"
    blob.write_bytes(pickle.dumps(s.array))
    ctx = multiprocessing.get_context(method)
    ready, go = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_workers.hold_until, args=(blob, [0, 1, 2, 3, 4], ready, go))
    p.start()
    assert ready.wait(60)
    s.close()
    del s
    gc.collect()
    assert os.path.exists(path)           # the worker holds it
    go.set()
    p.join(60)
    assert p.exitcode == 0
    assert not os.path.exists(path)       # removed by the worker on its way out


def test_share_cleanup__forked_child_shares_the_parents_lease(shm):
    s = mmarr.share(np.arange(4), dir=shm)
    path = s.path
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (child)
        os.close(w)
        os.read(r, 1)
        ok = s.array.tolist() == [0, 1, 2, 3]
        del s
        gc.collect()  # the child's handle goes: the parent still holds the file
        os._exit(0 if ok and os.path.exists(path) else 1)
    os.close(r)
    os.write(w, b"g")
    os.close(w)
    assert os.waitpid(pid, 0)[1] == 0
    assert os.path.exists(path)           # the child's exit did not remove the parent's file
    s.close()
    del s
    gc.collect()
    assert not os.path.exists(path)


def test_share_cleanup__copies_and_renames_are_ordinary_files(shm):
    with mmarr.share(np.arange(5), dir=shm) as s:
        copy = shm / os.path.basename(s.path).replace("mmarr-share-", "mmarr-share-9")
        with open(s.path, "rb") as src, open(copy, "wb") as dst:
            dst.write(src.read())  # same name pattern, but metadata names another path
    with mmarr.open(copy) as f:
        assert f["array"].tolist() == [0, 1, 2, 3, 4]
    gc.collect()
    assert os.path.exists(copy)           # closing a copy never removes it
    with mmarr.share(np.ones(3), dir=shm):
        assert os.path.exists(copy)       # nor does a sweep
