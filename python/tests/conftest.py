# SPDX-License-Identifier: MIT
"""Shared fixtures for the mmarr Python tests (run by ctest with PYTHONPATH=<build>/python)."""
import os
import pathlib
import shutil
import tempfile

import pytest


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """A decompression cache of our own, so cold-array tests never touch the user's."""
    d = tmp_path_factory.mktemp("cache")
    os.chmod(d, 0o700)
    os.environ["MMARR_CACHE_DIR"] = str(d)
    yield d


@pytest.fixture
def shm(tmp_path):
    """A fresh directory on tmpfs (where shared arrays live in real use), else tmp_path."""
    if not os.path.isdir("/dev/shm"):
        yield tmp_path
        return
    d = tempfile.mkdtemp(prefix="mmarr-pytest-", dir="/dev/shm")
    try:
        yield pathlib.Path(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
