# SPDX-License-Identifier: MIT
"""A PyTorch Dataset over an mmarr file (the pattern of examples/python/torch_dataset.py),
read by DataLoader workers started by fork and by spawn.

Needs Debian's python3-torch (scripts/deps.sh test installs it); skipped without it."""
import pickle
import warnings

import numpy as np
import pytest

import mmarr
from _util import mapped_file

torch = pytest.importorskip("torch", reason="python3-torch is not installed")
from torch.utils.data import DataLoader, Dataset  # noqa: E402

N, SHAPE = 3000, (3, 8, 8)


class MmarrDataset(Dataset):
    """Sample i: (images[i] as a tensor over the mapping, labels[i])."""

    def __init__(self, path):
        f = mmarr.open(path, "c")  # writable arrays: torch.from_numpy neither copies nor warns
        self.images, self.labels = f["images"], f["labels"]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        # a plain view: a MappedArray per sample would make forked workers collect garbage
        return torch.from_numpy(self.images.view(np.ndarray)[i]), int(self.labels[i])


class WhereFrom(MmarrDataset):
    """Also says, from inside the worker, which file the sample's memory is mapped from."""

    def __init__(self, path):
        super().__init__(path)
        self.path = str(path)

    def __getitem__(self, i):
        image, label = super().__getitem__(i)
        return image, label, mapped_file(image.data_ptr()) == self.path


def images_of(idx):
    idx = np.asarray(idx, dtype=np.int64)
    return ((idx[:, None] * 7 + np.arange(np.prod(SHAPE))) % 251).astype(np.uint8).reshape(
        (-1,) + SHAPE)


@pytest.fixture
def path(shm):
    p = shm / "images.mmarr"
    mmarr.save(p, {"images": images_of(np.arange(N)),
                   "labels": np.arange(N, dtype=np.int64) * 3 + 1})
    return p


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers_read_every_sample_from_the_file(path, method):
    dataset = WhereFrom(path)
    assert len(pickle.dumps(dataset)) < 1024  # what a spawned worker receives: references
    loader = DataLoader(dataset, batch_size=64, shuffle=True, num_workers=2,
                        multiprocessing_context=method, timeout=120)
    seen = np.zeros(N, np.int64)
    for images, labels, mapped in loader:
        idx = (labels.numpy() - 1) // 3
        np.testing.assert_array_equal(labels.numpy(), idx * 3 + 1)
        np.testing.assert_array_equal(images.numpy(), images_of(idx))
        assert mapped.all()  # each worker's samples lie in its mapping of this file
        np.add.at(seen, idx, 1)
    assert (seen == 1).all()


def test_no_copy_without_workers(path):
    dataset = MmarrDataset(path)
    base = dataset.images.__array_interface__["data"][0]
    item = int(np.prod(SHAPE))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "The given NumPy array is not writable"
        # batch_size=None: samples as the Dataset returns them (a batch is always a copy)
        for i, (image, label) in enumerate(DataLoader(dataset, batch_size=None)):
            assert image.data_ptr() == base + i * item  # the mapping itself
            assert label == i * 3 + 1
    assert mapped_file(base) == str(path)
    image[0, 0, 0] = 255  # writable; the write stays in this process
    assert dataset.images[N - 1, 0, 0, 0] == 255
    with mmarr.open(path) as f:
        assert f["images"][N - 1, 0, 0, 0] == images_of([N - 1])[0, 0, 0, 0]
