#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Example 5: a PyTorch Dataset over an mmarr file, for DataLoader(num_workers=N).

The Dataset opens the file copy-on-write (mode "c") and holds its arrays. Under the fork
start method the workers inherit the mapping; under spawn (or forkserver) the Dataset is
pickled to each worker, and its arrays pickle as references (a few hundred bytes), so the
worker maps the same file. Either way all workers read the same pages: one copy of the data
in memory, whatever the number of workers, and nothing to load at start. A sample is a
tensor over the mapping (torch.from_numpy: no copy, no warning, since mode "c" makes the
arrays writable, with writes staying in the process); the DataLoader then collates samples
into batches as for any dataset.

The images are synthetic and carry their own number in their first 4 bytes, so the main
process can check every sample it receives. bench/torch/ measures the workers' memory
against in-memory datasets.
Usage: torch_dataset.py [--items 20000] [--workers 2] [--methods fork,spawn]
"""
import argparse
import os
import pickle
import sys

import numpy as np

import _common
import mmarr

try:
    import torch
    from torch.utils.data import DataLoader, Dataset
except ImportError:
    sys.exit("this example needs PyTorch (Debian: apt-get install python3-torch)")

SHAPE = (3, 32, 32)


class MmarrDataset(Dataset):
    """Sample i: (images[i] as a uint8 tensor over the mapping, labels[i])."""

    def __init__(self, path):
        f = mmarr.open(path, "c")  # writable arrays; the file and other processes unchanged
        self.images, self.labels = f["images"], f["labels"]  # pickle as references

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        # Index a plain ndarray view of the MappedArray: MappedArrays are tracked by
        # Python's cycle collector, and making one per sample triggers full collections in
        # a forked worker, which write to every object it inherited, so that the kernel
        # copies those pages (~15 MiB per worker with torch loaded).
        return torch.from_numpy(self.images.view(np.ndarray)[i]), int(self.labels[i])


def make_images(idx):
    """Images of items `idx`: bytes (7 i + k) mod 251, the first 4 holding i."""
    idx = np.asarray(idx, dtype=np.int64)
    img = ((idx[:, None] * 7 + np.arange(np.prod(SHAPE))) % 251).astype(np.uint8)
    img[:, :4] = idx.astype("<u4")[:, None].view(np.uint8)
    return img.reshape((-1,) + SHAPE)


def prepare(path, n):
    """The dataset file: images and their labels (i mod 10), generated in place."""
    with mmarr.Writer(path, sync=False) as w:  # sync=False: a scratch file on tmpfs
        images = w.reserve("images", (n,) + SHAPE, "|u1")
        for lo in range(0, n, 4096):
            images[lo:lo + 4096] = make_images(np.arange(lo, min(lo + 4096, n)))
        w.add("labels", np.arange(n, dtype=np.int64) % 10)
        del images  # reserve() views are for filling before the commit


def epoch(dataset, workers, method):
    """One shuffled epoch; checks every sample and that each item came exactly once."""
    loader = DataLoader(dataset, batch_size=256, shuffle=True, num_workers=workers,
                        multiprocessing_context=method)
    seen = np.zeros(len(dataset), np.int64)
    for images, labels in loader:
        idx = images.reshape(len(images), -1)[:, :4].numpy().copy().view("<u4")[:, 0]
        assert np.array_equal(images.numpy(), make_images(idx)), "wrong image bytes"
        assert np.array_equal(labels.numpy(), idx % 10), "wrong labels"
        np.add.at(seen, idx, 1)
    assert (seen == 1).all(), "items missing or repeated"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=20000, help="images of 3x32x32 bytes")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--methods", default="fork,spawn", help="start methods to run")
    a = ap.parse_args()
    path = os.path.join(mmarr._default_share_dir(), f"mmarr-example-torch-{os.getpid()}.mmarr")
    prepare(path, a.items)
    try:
        dataset = MmarrDataset(path)
        print(f"{a.items:,} images ({a.items * np.prod(SHAPE) / 2**20:.1f} MiB) in {path}; "
              f"the Dataset pickles to {len(pickle.dumps(dataset))} bytes")
        for method in a.methods.split(","):
            with _common.Timer() as t:
                epoch(dataset, a.workers, method)
            print(f"  {method}: one epoch, {a.workers} workers, every sample checked, "
                  f"{t.seconds:.2f} s")
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
