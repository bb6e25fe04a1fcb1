# SPDX-License-Identifier: MIT
"""Dask distributed: MappedArrays, their views and Files cross a cluster as references.

Needs Debian's python3-distributed (scripts/deps.sh test installs it); skipped without it.
The cluster test starts its own LocalCluster of worker processes on 127.0.0.1 and counts the
bytes every process (client, scheduler, workers) really writes to its connections."""
import os
import subprocess
import sys

import numpy as np
import pytest

import mmarr

distributed = pytest.importorskip("distributed", reason="python3-distributed is not installed")
from distributed.protocol import deserialize, serialize  # noqa: E402

# Workers cannot import this test module: send its functions by value.
cloudpickle = pytest.importorskip("cloudpickle")
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def frame_bytes(frames):
    return sum(memoryview(f).nbytes for f in frames)


@pytest.fixture
def data(shm):
    path = shm / "d.mmarr"
    mmarr.save(path, {"small": np.arange(1 << 17, dtype="f8"),            # 1 MiB
                      "big": np.arange(1 << 22, dtype="f8")})             # 32 MiB
    return path


def test_import_mmarr_does_not_import_distributed():
    code = "import sys, mmarr; print('distributed' in sys.modules, 'dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=os.environ)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("order", ["mmarr first", "distributed first"])
def test_registration_in_either_import_order(data, order):
    first, second = ("mmarr", "distributed") if order == "mmarr first" else ("distributed",
                                                                              "mmarr")
    code = (f"import {first}, {second}\n"
            "from distributed.protocol import serialize\n"
            f"f = mmarr.open({str(data)!r})\n"
            "h, fr = serialize(f['big'])\n"
            "print(sum(memoryview(x).nbytes for x in fr))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=os.environ)
    assert int(out.stdout) < 1024


def test_serialized_size_does_not_grow_with_the_array(data):
    with mmarr.open(data) as f:
        sizes = {}
        for name in ("small", "big"):
            x = f[name]
            header, frames = serialize(x)
            sizes[name] = frame_bytes(frames)
            y = deserialize(header, frames)
            assert type(y) is mmarr.MappedArray
            np.testing.assert_array_equal(y, x)
        assert sizes["big"] < 1024 and abs(sizes["big"] - sizes["small"]) < 16
        view = f["big"][1000:200000:7]
        header, frames = serialize(view)
        assert frame_bytes(frames) < 1024
        np.testing.assert_array_equal(deserialize(header, frames), view)
        header, frames = serialize(f)
        g = deserialize(header, frames)
        assert isinstance(g, mmarr.File) and sorted(g) == ["big", "small"]


def test_writable_reference_stays_writable(data):
    with mmarr.open(data, "r+") as f:
        x = f["small"]
        header, frames = serialize(x)
        y = deserialize(header, frames)
        assert y.flags.writeable
        y[0] = 42.0
        assert x[0] == 42.0  # the same file's pages


def test_replaced_file_is_refused(data):
    with mmarr.open(data) as f:
        header, frames = serialize(f["small"])
    mmarr.save(data, {"small": np.zeros(4)})  # replaced: a new inode at the path
    with pytest.raises(mmarr.FileChangedError):
        deserialize(header, frames)


def _count_written_bytes():
    """Wrap distributed's TCP framing in this process so it counts the bytes it sends."""
    import distributed.comm.tcp as tcp
    if getattr(tcp, "_mmarr_sent", None) is None:
        original = tcp.to_frames
        tcp._mmarr_sent = [0]

        async def to_frames(*args, **kwargs):
            frames = await original(*args, **kwargs)
            tcp._mmarr_sent[0] += sum(memoryview(f).nbytes for f in frames)
            return frames
        tcp.to_frames = to_frames
    return tcp._mmarr_sent[0]


def _received(a):
    """On a worker: what arrived, its sum, and the file its bytes are mapped from here."""
    import mmarr as m
    address = a.__array_interface__["data"][0]
    backing = None
    with open("/proc/self/maps") as fp:
        for line in fp:
            parts = line.split(maxsplit=5)
            lo, hi = (int(v, 16) for v in parts[0].split("-"))
            if lo <= address < hi:
                backing = parts[5].strip() if len(parts) > 5 else ""
    return type(a).__name__, isinstance(a, m.MappedArray), float(a.sum()), backing


def test_cluster_moves_references_not_bytes(data):
    dask_array = pytest.importorskip("dask.array")
    import mmarr.dask
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=40) as cluster, \
            Client(cluster) as client, mmarr.open(data) as f:
        def sent():
            counts = client.run(_count_written_bytes)
            return (sum(counts.values()) + client.run_on_scheduler(_count_written_bytes)
                    + _count_written_bytes())

        sent()  # install the counters
        moved = {}
        for name in ("small", "big"):
            x = f[name]
            before = sent()
            fut = client.scatter(x)
            kind, mapped, total, backing = client.submit(_received, fut).result()
            assert (kind, mapped, total) == ("MappedArray", True, float(x.sum()))
            assert backing == str(data)  # the worker maps the file itself
            # a view computed on a worker comes back as a reference too
            back = client.submit(lambda a: a[::2], fut).result()
            assert type(back) is mmarr.MappedArray
            np.testing.assert_array_equal(back, x[::2])
            for inline in (False, True):
                d = dask_array.from_array(x, chunks=x.size // 4, inline_array=inline)
                assert float(d.sum().compute()) == float(x.sum())
            d = mmarr.dask.from_mmarr(f, name, chunks=x.size // 4)
            assert float(d.sum().compute()) == float(x.sum())
            moved[name] = sent() - before
            del fut
        # workers compute a 32 MiB array and write it where they computed it
        before = sent()
        rand = dask_array.random.RandomState(5).random_sample(1 << 22, chunks=1 << 19)
        written = mmarr.dask.to_mmarr(data.parent / "out.mmarr", {"r": rand})
        moved["to_mmarr"] = sent() - before
        assert written == {"r": 32 << 20}
        with mmarr.open(data.parent / "out.mmarr") as g:
            assert g.verify() is None and g["r"].shape == (1 << 22,)
            assert 0.45 < float(g["r"].mean()) < 0.55
        assert moved["to_mmarr"] < (1 << 20), moved
        # 32 MiB and 1 MiB arrays cost the same few kilobytes of messages
        print("bytes sent by all processes:", moved)
        assert moved["big"] < (1 << 20), moved
        assert moved["big"] < 4 * moved["small"] + (64 << 10), moved


def _die_once(block, marker):
    """A block function that kills its worker process the first time it runs anywhere."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return block


def test_to_mmarr_survives_a_killed_worker(shm):
    dask_array = pytest.importorskip("dask.array")
    import mmarr.dask
    from distributed import Client, LocalCluster

    marker = str(shm / "died")
    x = dask_array.arange(400_000, chunks=50_000, dtype="<i8")
    y = x.map_blocks(_die_once, marker, meta=np.empty(0, "<i8"))  # meta: never call it here
    out = shm / "out.mmarr"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=50) as cluster, Client(cluster):
        written = mmarr.dask.to_mmarr(out, {"y": y})
    assert os.path.exists(marker)  # a worker really died mid-computation
    assert written == {"y": 400_000 * 8}
    with mmarr.open(out) as f:
        assert f.verify() is None
        np.testing.assert_array_equal(f["y"], np.arange(400_000))
    assert [n for n in os.listdir(shm) if "to_mmarr" in n] == []


def _mapped_mmarr_files():
    """The .mmarr files this process maps (from /proc/self/maps)."""
    with open("/proc/self/maps") as f:
        return sorted({line.split(None, 5)[5].strip() for line in f
                       if len(line.split(None, 5)) > 5 and ".mmarr" in line})


def test_staging_makes_one_copy_per_node(data, tmp_path):
    """Four workers standing in for two nodes (two workers each), each node with its own
    staging directory: every worker maps its node's copy, made once per node."""
    import mmarr.dask
    from distributed import Client, Nanny, Scheduler, SpecCluster

    nodes = [tmp_path / "node0", tmp_path / "node1"]
    nodes[0].mkdir()
    if os.stat(nodes[0]).st_dev == os.stat(data).st_dev:
        pytest.skip("needs the staging directories on another filesystem than the data")
    workers = {f"w{i}": {"cls": Nanny, "options": {
        "nthreads": 1, "host": "127.0.0.1", "silence_logs": 40,
        "env": {"MMARR_STAGE_DIR": str(nodes[i % 2])}}} for i in range(4)}
    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard_address": None}}
    with SpecCluster(workers=workers, scheduler=scheduler, silence_logs=40) as cluster, \
            Client(cluster) as client, mmarr.open(data) as f:
        client.register_worker_plugin(mmarr.dask.Stage())  # each worker keeps its directory
        x = mmarr.dask.from_mmarr(f, "big", chunks=1 << 18)  # 16 tasks over 4 workers
        assert float(x.sum().compute()) == float(f["big"].sum())
        fut = client.scatter(f["small"], broadcast=True)  # a MappedArray, unpickled anywhere
        assert client.submit(lambda a: float(a.sum()), fut).result() == float(f["small"].sum())
        mapped = client.run(_mapped_mmarr_files)
        env = client.run(lambda: os.environ["MMARR_STAGE_DIR"])
    for node in nodes:
        assert len(os.listdir(node)) == 1, os.listdir(node)  # one copy per node
    copies = {str(node / os.listdir(node)[0]) for node in nodes}
    for worker, paths in mapped.items():
        assert str(data) not in paths, (worker, paths)  # nobody maps the shared file...
        mine = [p for p in paths if p in copies]
        assert mine and all(os.path.dirname(p) == env[worker] for p in mine), (worker, paths)
    with mmarr.open(next(iter(copies))) as g:
        assert g.verify() is None


def test_stage_plugin_stages_at_start(data, tmp_path):
    import mmarr.dask
    from distributed import Client, LocalCluster

    node = tmp_path / "node"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=40) as cluster, \
            Client(cluster) as client:
        client.register_worker_plugin(mmarr.dask.Stage(node, paths=[data]))
        assert len(os.listdir(node)) == 1  # staged before any task
        assert set(client.run(lambda: os.environ["MMARR_STAGE_DIR"]).values()) == {str(node)}


def test_workers_refuse_a_missing_or_other_file(data, shm):
    """The computation fails cleanly with FileChangedError naming the path and what
    differed, as the scheduler reports the worker's exception; never other data."""
    import mmarr.dask
    from distributed import Client, LocalCluster

    # three graphs of the original file (the scheduler remembers the keys that erred)
    x, y, z = (mmarr.dask.from_mmarr(data, "small", chunks=1 << k) for k in (13, 14, 15))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=50) as cluster, Client(cluster):
        os.replace(data, shm / "elsewhere.mmarr")
        with pytest.raises(mmarr.FileChangedError, match=f"{data} is gone"):
            x.sum().compute()
        mmarr.save(data, {"small": np.zeros(1 << 17)})
        with pytest.raises(mmarr.FileChangedError, match=f"{data} was replaced.*"
                                                         f"index_checksum"):
            y.sum().compute()
        os.replace(shm / "elsewhere.mmarr", data)  # the original data again: it works
        assert float(z.sum().compute()) == float(np.arange(1 << 17).sum())
