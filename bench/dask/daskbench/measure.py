# SPDX-License-Identifier: MIT
"""Measuring one computation on the cluster: wall time, the bytes every process (client,
scheduler, workers) writes to its connections, and the workers' total PSS at the end and
at its peak.

Bytes: distributed.comm.tcp.to_frames is wrapped in every process (as
python/tests/test_distributed.py does) so it counts the frames it sends; a reading is the
sum over all processes, and the cost of one reading itself (the client.run messages) is
calibrated and subtracted, and so is what the idle cluster sends in as much time
(heartbeats, measured for 2 s after each start), leaving what the computation itself sent.
PSS: psutil's memory_full_info().pss (smaps_rollup) of each worker process, summed,
sampled by a thread of the client every ~100 ms while the computation runs."""
import logging
import os
import statistics
import threading
import time

import psutil


def count_sent():
    """In any process: install the counter (once) and return the bytes sent so far."""
    import distributed.comm.tcp as tcp
    if getattr(tcp, "_bench_sent", None) is None:
        original = tcp.to_frames
        tcp._bench_sent = [0]

        async def to_frames(*args, **kwargs):
            frames = await original(*args, **kwargs)
            tcp._bench_sent[0] += sum(memoryview(f).nbytes for f in frames)
            return frames
        tcp.to_frames = to_frames
    return tcp._bench_sent[0]


def pss(pids):
    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_full_info().pss
        except psutil.Error:
            pass
    return total


class Sampler(threading.Thread):
    """The peak of the workers' total PSS, sampled every `interval` seconds."""

    def __init__(self, pids, interval=0.1):
        super().__init__(daemon=True)
        self.pids, self.interval, self.peak = pids, interval, 0
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            self.peak = max(self.peak, pss(self.pids))
            self._stop_event.wait(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join()
        return self.peak


class Cluster:
    """LocalCluster(n_workers=4, threads_per_worker=1, processes=True, host=127.0.0.1) with
    a client, byte counters in every process and the workers' pids."""

    def __init__(self, workers=4):
        self.workers = workers
        self._start()

    def _start(self):
        from distributed import Client, LocalCluster
        self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                    processes=True, host="127.0.0.1", dashboard_address=None,
                                    silence_logs=logging.ERROR)
        self.client = Client(self.cluster)
        self.client.wait_for_workers(self.workers)
        self.pids = sorted(self.client.run(os.getpid).values())
        self.sent()
        self.overhead = min(self._reading_cost() for _ in range(3))
        self.idle = self.idle_rate()

    def _reading_cost(self):
        a = self.sent()
        return self.sent() - a

    def restart(self):
        """A new cluster: fresh worker processes, with no mappings, caches or memory of an
        earlier peer (Debian's distributed 2022.12 cannot client.restart(): its workers
        fail to close, an assertion in the shuffle extension)."""
        self.close()
        self._start()

    def sent(self):
        c = self.client
        return (sum(c.run(count_sent).values()) + c.run_on_scheduler(count_sent)
                + count_sent())

    def idle_rate(self, seconds=2.0):
        """Bytes per second the cluster sends doing nothing (heartbeats)."""
        a = self.sent()
        time.sleep(seconds)
        return (self.sent() - a - self.overhead) / seconds

    def close(self):
        self.client.close()
        self.cluster.close()


def measure(cluster, fn, timeout=None):
    """Run fn() (a blocking computation); return (its value, a dict of figures). An
    exception or a timeout is recorded, not raised."""
    before = cluster.sent()
    sampler = Sampler(cluster.pids)
    sampler.start()
    t = time.perf_counter()
    value, error = None, None
    try:
        value = fn(timeout)
    except Exception as e:  # noqa: BLE001 (a failed peer is a result)
        error = f"{type(e).__name__}: {e}"[:300]
    wall = time.perf_counter() - t
    peak = sampler.stop()
    end = pss(cluster.pids)
    moved = cluster.sent() - before - cluster.overhead
    heartbeats = cluster.idle * wall  # what the cluster sends anyway, doing nothing
    return value, {"wall": wall, "bytes": max(0, moved - heartbeats), "bytes_raw": moved, "pss_end": end, "pss_peak": max(peak, end),
                   "error": error}


def summary(values):
    values = sorted(values)
    return {"median": statistics.median(values), "min": values[0], "max": values[-1]}
