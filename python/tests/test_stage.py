# SPDX-License-Identifier: MIT
"""Content identity and node-local staging (mmarr.stage, $MMARR_STAGE_DIR).

"Another machine" is played by a copy of the file (another inode, same bytes) and by a
staging directory on another filesystem than the file."""
import errno
import logging
import multiprocessing
import os
import pickle
import shutil

import numpy as np
import pytest

import mmarr
from mmarr import _pickle, _stage


@pytest.fixture
def src(tmp_path):
    """A file on disk (tmp_path) with a hot and a cold array."""
    path = tmp_path / "data.mmarr"
    with mmarr.Writer(path) as w:
        w.add("x", np.arange(300_000, dtype="<f4").reshape(1000, 300))
        w.add("c", np.arange(50_000, dtype="<i8") % 7, compress=1)
    return path


@pytest.fixture
def stage_dir(shm):
    return shm / "stage"


@pytest.fixture(autouse=True)
def fresh_process_state(monkeypatch):
    monkeypatch.delenv(_stage.ENV, raising=False)
    _pickle._stage_memo.clear()
    mmarr.release_handles()
    yield
    _pickle._stage_memo.clear()
    mmarr.release_handles()


def on_other_filesystem(src, stage_dir):
    os.makedirs(stage_dir, exist_ok=True)
    if os.stat(src).st_dev == os.stat(stage_dir).st_dev:
        pytest.skip("needs the staging directory on another filesystem than the test file")


def identity(path):
    with mmarr.open(path) as f:
        return f._handle().identity()


# -- content identity -----------------------------------------------------------------------

def test_content_identity_is_the_same_for_a_copy(src, tmp_path):
    copy = tmp_path / "copy.mmarr"
    shutil.copyfile(src, copy)
    a, b = identity(src), identity(copy)
    assert a[:2] != b[:2]  # another file...
    assert _stage.content_identity(a) == _stage.content_identity(b)  # ...the same content
    with mmarr.open(src) as f:
        info = f.info()
    gen, size, ioff, isize, ick = _stage.content_identity(a)
    assert (gen, size, ioff, isize, ick) == (info["generation"], info["file_size"],
                                             info["index_offset"], info["index_size"],
                                             info["index_checksum"])
    assert _stage.identity_text(a) == f"{gen}-{size}-{ioff}-{isize}-{ick:016x}"


def test_a_reference_maps_a_copy_with_the_same_content(src, tmp_path):
    """What a worker on another machine sees: the path holds another inode, same bytes."""
    with mmarr.open(src) as f:
        blob = pickle.dumps(f["x"][10:20])
        fblob = pickle.dumps(f)
    os.replace(src, tmp_path / "moved.mmarr")
    shutil.copyfile(tmp_path / "moved.mmarr", src)
    mmarr.release_handles()
    y = pickle.loads(blob)
    np.testing.assert_array_equal(y, np.arange(300_000, dtype="<f4").reshape(1000, 300)[10:20])
    assert sorted(pickle.loads(fblob)) == ["c", "x"]


def test_a_copy_with_other_content_is_refused_saying_what_differs(src, tmp_path):
    with mmarr.open(src) as f:
        blob = pickle.dumps(f["x"])
    mmarr.save(tmp_path / "other.mmarr", {"x": np.zeros((1000, 300), "<f4")})
    os.replace(tmp_path / "other.mmarr", src)
    mmarr.release_handles()
    with pytest.raises(mmarr.FileChangedError, match=r"index_checksum 0x[0-9a-f]+ "
                                                     r"\(expected 0x[0-9a-f]+\)") as e:
        pickle.loads(blob)
    assert str(src) in str(e.value)


def test_stale_checksums_do_not_travel_to_a_copy(src, tmp_path):
    """In-place writes change data without changing the index: a copy of a file written
    through "r+" cannot be told from the original by its content identity."""
    with mmarr.open(src, "r+") as f:
        f["x"][0, 0] = 42
        blob = pickle.dumps(f["x"])
        ro = pickle.dumps(np.asarray(f["x"]).view(mmarr.MappedArray))
    os.replace(src, tmp_path / "moved.mmarr")
    shutil.copyfile(tmp_path / "moved.mmarr", src)
    mmarr.release_handles()
    for b in (blob, ro):
        with pytest.raises(mmarr.FileChangedError, match="checksums are stale"):
            pickle.loads(b)


def test_old_pickles_still_load(src):
    """Pickles of mmarr 0.1 carry (st_dev, st_ino, index_offset, index_size)."""
    with mmarr.open(src) as f:
        x = f["x"]
        ident = f._handle().identity()
        key = f._handle().array_key(f._handle().find("x"))
        old = pickle.dumps(mmarr._rebuild)  # the same function name as in 0.1
    assert pickle.loads(old) is mmarr._rebuild
    y = mmarr._rebuild(str(src), False, ident[:4], "x", key, 0, x.shape, x.strides, None)
    np.testing.assert_array_equal(y, x)


# -- mmarr.stage ----------------------------------------------------------------------------

def test_stage_copies_once_and_verifies(src, stage_dir):
    local, copied = _stage._stage(src, stage_dir)
    assert copied and os.path.dirname(local) == str(stage_dir)
    assert os.path.basename(local) == f"data.{_stage.identity_text(identity(src))}.mmarr"
    assert _stage._stage(src, stage_dir) == (local, False)
    assert mmarr.stage(src, stage_dir) == local
    with mmarr.open(local) as f, mmarr.open(src) as g:
        assert f.verify() is None
        np.testing.assert_array_equal(f["x"], g["x"])
        np.testing.assert_array_equal(f["c"], g["c"])
    assert os.listdir(stage_dir) == [os.path.basename(local)]  # no temporary, no lock file


def test_a_rewritten_file_gets_a_new_copy(src, stage_dir):
    first = mmarr.stage(src, stage_dir)
    mmarr.save(src, {"x": np.ones(5)})
    second = mmarr.stage(src, stage_dir)
    assert first != second
    with mmarr.open(second) as f:
        np.testing.assert_array_equal(f["x"], np.ones(5))


def _race(args):
    src, stage_dir = args
    local, copied = _stage._stage(src, stage_dir)
    return local, copied, os.stat(local).st_ino


def test_racing_processes_make_one_copy(src, stage_dir):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = pool.map(_race, [(str(src), str(stage_dir))] * 8)
    assert len({r[0] for r in results}) == 1
    assert sum(r[1] for r in results) == 1  # one copier; everyone else waited and reused it
    assert len({r[2] for r in results}) == 1  # nobody replaced the copy after it was used
    assert len(os.listdir(stage_dir)) == 1


def test_stale_files_are_not_staged(src, stage_dir):
    with mmarr.open(src, "r+"):
        with pytest.raises(mmarr.StagingError, match="stale.*rehash"):
            mmarr.stage(src, stage_dir)
    assert not os.path.exists(stage_dir) or os.listdir(stage_dir) == []


def test_full_directory_names_directory_and_size(src, stage_dir, monkeypatch):
    real = os.statvfs

    class Small:
        def __init__(self, st):
            self.f_bavail, self.f_frsize = 10, st.f_frsize

    monkeypatch.setattr(os, "statvfs", lambda p: Small(real(p)))
    size = os.path.getsize(src)
    with pytest.raises(mmarr.StagingError) as e:
        mmarr.stage(src, stage_dir)
    assert e.value.errno == errno.ENOSPC
    assert str(stage_dir) in str(e.value) and f"({size} bytes)" in str(e.value)
    assert os.listdir(stage_dir) == []


def test_filling_up_while_copying_leaves_nothing(src, stage_dir, monkeypatch):
    def full(src_path, tmp, size):
        with open(tmp, "xb") as out:
            out.write(b"\0" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_stage, "_copy", full)
    with pytest.raises(mmarr.StagingError, match="filled up") as e:
        mmarr.stage(src, stage_dir)
    assert e.value.errno == errno.ENOSPC
    assert os.listdir(stage_dir) == []


def test_real_full_tmpfs(src, tmp_path):
    """A 64 KiB tmpfs, when this process may mount one (root in CI)."""
    d = tmp_path / "tiny"
    d.mkdir()
    if os.geteuid() != 0 or os.system(f"mount -t tmpfs -o size=64k tmpfs {d} 2>/dev/null"):
        pytest.skip("cannot mount a small tmpfs here")
    try:
        with pytest.raises(mmarr.StagingError, match=str(d)) as e:
            mmarr.stage(src, d)
        assert e.value.errno == errno.ENOSPC
        assert os.listdir(d) == []
    finally:
        os.system(f"umount {d}")


def test_a_corrupt_copy_is_never_published(src, stage_dir, monkeypatch):
    real = _stage._copy

    def flip(src_path, tmp, size):
        real(src_path, tmp, size)
        with open(tmp, "r+b") as f:  # damage a data byte of "x" (the index stays valid)
            with mmarr.open(src_path) as g:
                f.seek(g.info("x")["offset"] + 1000)
            f.write(b"\xff")

    monkeypatch.setattr(_stage, "_copy", flip)
    with pytest.raises(mmarr.Error, match="checksum"):
        mmarr.stage(src, stage_dir)
    assert os.listdir(stage_dir) == []


def test_leftovers_of_a_crashed_copier_are_removed(src, stage_dir):
    name = f"data.{_stage.identity_text(identity(src))}.mmarr"
    stage_dir.mkdir()
    (stage_dir / f".{name}.dead.tmp").write_bytes(b"partial")
    (stage_dir / name).write_bytes(b"not an mmarr file")  # damaged: staged again
    local = mmarr.stage(src, stage_dir)
    assert os.listdir(stage_dir) == [name]
    with mmarr.open(local) as f:
        assert f.verify() is None


def test_missing_source_is_a_clear_error(tmp_path, stage_dir):
    with pytest.raises(FileNotFoundError, match="nope.mmarr"):
        mmarr.stage(tmp_path / "nope.mmarr", stage_dir)


# -- unpickling through MMARR_STAGE_DIR -----------------------------------------------------

def test_unpickling_maps_the_staged_copy(src, stage_dir, monkeypatch):
    on_other_filesystem(src, stage_dir)
    with mmarr.open(src) as f:
        want = np.array(f["x"])
        blob = pickle.dumps(f["x"][5:])
        fblob = pickle.dumps(f)
    monkeypatch.setenv(_stage.ENV, str(stage_dir))
    y = pickle.loads(blob)
    np.testing.assert_array_equal(y, want[5:])
    h = _pickle._mapping_of(y).handle
    assert os.path.dirname(h.path) == str(stage_dir)  # the node-local copy
    # and its reference still names the shared path, for the next machine
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(y)), y)  # round trip
    assert str(src) in pickle.dumps(y).decode("latin-1")
    assert str(stage_dir) not in pickle.dumps(y).decode("latin-1")
    g = pickle.loads(fblob)
    assert g._handle() is h and str(src) in pickle.dumps(g).decode("latin-1")
    assert len(os.listdir(stage_dir)) == 1


def test_staged_copy_serves_when_the_shared_path_is_gone(src, stage_dir, monkeypatch):
    on_other_filesystem(src, stage_dir)
    with mmarr.open(src) as f:
        blob = pickle.dumps(f["x"])
    mmarr.stage(src, stage_dir)  # staged earlier (say, by the Stage plugin at start)
    os.unlink(src)  # the shared filesystem is not reachable any more
    monkeypatch.setenv(_stage.ENV, str(stage_dir))
    np.testing.assert_array_equal(pickle.loads(blob)[1], np.arange(300, 600, dtype="<f4"))


def test_failed_staging_falls_back_to_the_shared_path(src, stage_dir, monkeypatch, caplog):
    on_other_filesystem(src, stage_dir)
    with mmarr.open(src) as f:
        blob = pickle.dumps(f["x"])
    monkeypatch.setenv(_stage.ENV, str(stage_dir))

    def full(*a):
        raise _stage.StagingError(errno.ENOSPC, f"cannot stage {src} into {stage_dir}: full")

    monkeypatch.setattr(_stage, "_copy_verified", full)
    with caplog.at_level(logging.WARNING, logger="mmarr"):
        y = pickle.loads(blob)
    assert _pickle._mapping_of(y).handle.path == str(src)
    assert "mapping" in caplog.text and "full" in caplog.text
    pickle.loads(blob)  # once per file and process: no second attempt, no second warning
    assert caplog.text.count("full") == 1


def test_earlier_generation_served_from_the_staged_newest(src, stage_dir, monkeypatch, caplog):
    """A reference taken before appends stages the newest generation, which holds the earlier
    one (appends never rewrite a byte): mapped from the node-local copy, with its rows and an
    array deleted since; no warning, one copy."""
    on_other_filesystem(src, stage_dir)
    with mmarr.open(src) as f:
        x_blob, c_blob = pickle.dumps(f["x"][:2]), pickle.dumps(f["c"])
        want_x, want_c = np.array(f["x"][:2]), f.read("c")
    with mmarr.open(src, "a") as w:
        w.delete("c")
        w.add("y", np.ones(10))
    monkeypatch.setenv(_stage.ENV, str(stage_dir))
    with caplog.at_level(logging.WARNING, logger="mmarr"):
        x = pickle.loads(x_blob)
        np.testing.assert_array_equal(x, want_x)
        np.testing.assert_array_equal(np.asarray(pickle.loads(c_blob)), want_c)
    assert "mapping" not in caplog.text
    h = _pickle._mapping_of(x).handle
    assert os.path.dirname(h.path) == str(stage_dir) and h.identity()[4] == 1
    assert os.listdir(stage_dir) == [_stage.staged_name(str(src), identity(src))]


def test_writable_references_are_never_staged(src, stage_dir, monkeypatch):
    on_other_filesystem(src, stage_dir)
    with mmarr.open(src, "r+") as f:
        blob = pickle.dumps(f["x"])
    monkeypatch.setenv(_stage.ENV, str(stage_dir))
    y = pickle.loads(blob)
    y[0, 0] = 7
    assert _pickle._mapping_of(y).handle.path == str(src)
    assert not os.path.exists(stage_dir) or os.listdir(stage_dir) == []
