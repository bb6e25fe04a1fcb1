# SPDX-License-Identifier: MIT
"""Writer.stream(): arrays written in pieces, hot and cold, C and Fortran order."""
import array
import mmap

import numpy as np
import pytest

import mmarr


def test_stream__hot_blocks_in_c_order(shm):
    path = shm / "s.mmarr"
    a = np.arange(10_000 * 3, dtype="<f4").reshape(10_000, 3)
    with mmarr.Writer(path) as w:
        with w.stream("x", a.shape, a.dtype, metadata={"unit": "m"}) as s:
            for lo in range(0, len(a), 777):  # blocks that cross pages
                s.write(a[lo:lo + 777])
            assert s.written == s.nbytes == a.nbytes
        w.add("after", np.arange(3))  # the writer goes on after the stream
    with mmarr.open(path) as f:
        assert f.info("x")["storage"] == "hot" and f.array_metadata("x") == {"unit": "m"}
        assert np.array_equal(f["x"], a) and list(f["after"]) == [0, 1, 2]
        f.verify()


def test_stream__cold_pieces_across_chunks(shm):
    path = shm / "c.mmarr"
    rng = np.random.default_rng(7)
    a = np.cumsum(rng.standard_normal(300_000)).astype("<f8")
    with mmarr.Writer(path, compress={"level": 1, "chunk_size": 65536, "shuffle": True}) as w:
        s = w.stream("walk", a.shape, "<f8")
        for piece in np.array_split(a, 13):  # uneven pieces, none aligned to a chunk
            s.write(piece)
        s.close()
    with mmarr.open(path) as f:
        info = f.info("walk")
        assert info["storage"] == "cold" and info["chunk_count"] == -(-a.nbytes // 65536)
        assert info["stored_bytes"] < a.nbytes
        assert np.array_equal(f.read("walk"), a)
        f.verify()


def test_stream__fortran_order_takes_columns(shm):
    path = shm / "f.mmarr"
    a = np.asfortranarray(np.arange(40 * 30, dtype="<i4").reshape(40, 30))
    with mmarr.Writer(path) as w, w.stream("m", a.shape, "<i4", order="F") as s:
        s.write(a[:, :7])     # storage order of F: whole columns
        s.write(a[:, 7:].copy(order="C"))  # any layout: written as F-order elements
    with mmarr.open(path) as f:
        assert f["m"].flags.f_contiguous and np.array_equal(f["m"], a)


def test_stream__bytes_lists_and_records(shm):
    path = shm / "r.mmarr"
    rec = np.dtype([("id", "<u4"), ("tag", "S3")])
    rows = [(i, b"t%d" % (i % 10)) for i in range(50)]
    with mmarr.Writer(path) as w:
        with w.stream("r", (50,), rec) as s:
            s.write(rows[:20])                                   # a list: converted
            s.write(np.array(rows[20:], rec).tobytes())          # raw bytes
        with w.stream("b", 0, "<f8"):                            # empty: nothing to write
            pass
    with mmarr.open(path) as f:
        assert np.array_equal(f["r"], np.array(rows, rec)) and f["b"].shape == (0,)


def test_stream__refuses_wrong_data_and_publishes_nothing(shm):
    path = shm / "bad.mmarr"
    with pytest.raises(ValueError, match="96 of 120 bytes written"):
        with mmarr.Writer(path) as w:
            s = w.stream("x", (3, 5), "<f8")
            with pytest.raises(TypeError, match="dtype int64.*float64"):
                s.write(np.zeros(5, "<i8"))
            with pytest.raises(ValueError, match="exceed the array's 120"):
                s.write(np.zeros(16))
            with pytest.raises(RuntimeError, match='"x" is still being streamed'):
                w.add("y", np.zeros(2))  # one array at a time
            s.write(np.ones(12))
            assert s.written == 96
            s.close()
    assert not path.exists() and list(shm.iterdir()) == []  # abandoned: no temporaries


def test_stream__closed_stream_refuses_writes(shm):
    with mmarr.Writer(shm / "x.mmarr") as w:
        s = w.stream("x", 2, "<u1")
        s.write(b"ab")
        s.close()
        s.close()  # idempotent
        with pytest.raises(ValueError, match="closed"):
            s.write(b"c")
        assert "closed" in repr(s)


def test_stream__raw_buffers_and_casting(shm):
    path = shm / "b.mmarr"
    a = np.arange(12, dtype="<f8")
    with mmarr.Writer(path) as w:
        with w.stream("f", a.shape, "<f8") as s:
            s.write(array.array("d", a[:4]))                 # a buffer: its raw bytes
            s.write(memoryview(a[4:8].reshape(2, 2).T.copy(order="F")))  # F-contiguous
            s.write([8, 9])                                  # ints into floats: same kind
            s.write(np.float64(10.0))
            s.write(a[11:])
        with w.stream("i", 3, np.dtype("<i4")) as s:
            with pytest.raises(TypeError, match="float64.*int32"):
                s.write([3.9])                               # floats are not truncated
            with pytest.raises(ValueError, match="not contiguous"):
                s.write(memoryview(np.arange(6, dtype="<i4"))[::2])
            with mmap.mmap(-1, 12) as mm:
                mm.write(np.array([7, 8, 9], "<i4").tobytes())
                s.write(mm)
    with mmarr.open(path) as f:
        assert np.array_equal(f["f"], a)
        assert list(f["i"]) == [7, 8, 9]


def test_stream__cold_fortran_and_writer_default_compress(shm):
    path = shm / "cf.mmarr"
    a = np.asfortranarray(np.arange(300 * 200, dtype="<i8").reshape(300, 200))
    with mmarr.Writer(path, compress={"level": 1, "chunk_size": 16384}) as w:
        with w.stream("m", (np.int64(300), 200), "<i8", order="F") as s:
            for lo in range(0, 200, 33):
                s.write(a[:, lo:lo + 33])
        w.add("hot", np.zeros(3), compress=None)
    with mmarr.open(path) as f:
        assert f.info("m")["storage"] == "cold" and f.info("m")["chunk_count"] > 1
        assert f["m"].flags.f_contiguous and np.array_equal(f["m"], a)


def test_stream__an_open_stream_blocks_the_writer(shm):
    path = shm / "o.mmarr"
    with pytest.raises(RuntimeError, match='"x" was still being streamed.*abandoned'):
        with mmarr.Writer(path) as w:
            w.stream("x", 4, "<u1").write(b"ab")
            for op in (lambda: w.add("y", np.zeros(1)), lambda: w.reserve("y", 1, "<f8"),
                       lambda: w.stream("y", 1, "<f8"), lambda: w.set_metadata("k", "v"),
                       w.commit):
                with pytest.raises(RuntimeError, match='"x" is still being streamed'):
                    op()
        # leaving the block with the stream open abandons the file
    assert not path.exists() and list(shm.iterdir()) == []


def test_stream__metadata_checked_up_front_and_copied(shm):
    path = shm / "m.mmarr"
    with mmarr.Writer(path) as w:
        with pytest.raises(ValueError, match="non-empty"):
            w.stream("x", 1, "<u1", metadata={"": "v"})
        meta = {"unit": "m"}
        with w.stream("x", 1, "<u1", metadata=meta) as s:
            meta["later"] = 3  # not a str: would fail if the stream kept the dict
            s.write(b"\x01")
    with mmarr.open(path) as f:
        assert f.array_metadata("x") == {"unit": "m"}
