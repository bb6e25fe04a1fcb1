# SPDX-License-Identifier: MIT
"""End-to-end tests of the cold tier in the tools: mmarr-pack's tier options, re-packing
between tiers, mmarr-unpack of cold arrays, and mmarr-info's chunk view and --verify.

numpy writes every input; mmarr-info --json says what the packed file holds (tier, level,
chunk size, shuffle, the chunk table), and numpy (np.load, byte-for-byte file comparison)
checks what comes back out. Chunk sizes are kept small so that arrays of a few KiB span many
chunks, including a last partial one, and the whole suite stays fast.

ctest sets MMARR_TOOLS_DIR (mmarr-pack, mmarr-unpack, mmarr-info live there).
"""

import json
import os
import re
import signal

import numpy as np
import pytest
import xxhash

from test_pack_unpack import (DTYPES, big_sparse_npy, dirarg, dtype_id,
                              interrupt_when_temp_appears, leftovers, one_line_error,
                              rand_array, run_on_tty, same_array)


# ---------------------------------------------------------------------------------------------
# helpers


def pack(tools, out, *inputs, opts=(), rc=0):
    return tools.run("mmarr-pack", "-q", *opts, "-o", out, *inputs, rc=rc)


def unpack(tools, mm, *args, rc=0):
    return tools.run("mmarr-unpack", "-q", mm, *args, rc=rc)


def info(tools, path, *args, rc=0):
    """mmarr-info --json PATH ARGS...: options may follow PATH, an ARRAY after "--"."""
    r = tools.run("mmarr-info", "--json", path, *args, rc=rc)
    return json.loads(r.out)


def arrays(tools, path):
    return {a["name"]: a for a in info(tools, path)["arrays"]}


def chunks(tools, path, name):
    return info(tools, path, "--chunks", "-n", "0", "--", name)["array"]


def tiers(tools, path):
    return {n: a["tier"] for n, a in arrays(tools, path).items()}


def settings(a):
    return (a["level"], a["chunk_size"], a["shuffle"]) if a["tier"] == "cold" else None


def flip_byte(path, offset):
    with open(path, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([b[0] ^ 0x01]))


def save_all(directory, named):
    os.makedirs(directory, exist_ok=True)
    for name, a in named.items():
        path = directory / (name + ".npy")
        os.makedirs(path.parent, exist_ok=True)
        np.save(path, a)


def compressible(n, dtype="<f4"):
    return (np.arange(n) % 977).astype(dtype)


# ---------------------------------------------------------------------------------------------
# choosing tiers


# dtype -> shuffled by default? (numbers of 2 bytes or more)
SHUFFLE_DEFAULT = {
    "<f8": True, ">i4": True, "<u2": True, "<f2": True, "<c8": True, "<M8[ns]": True,
    ">m8[s]": True, "|i1": False, "|u1": False, "|b1": False, "|S6": False, "<U3": False,
    "|V4": False, "struct": False,
}


def test_compress_alone_makes_every_array_cold(tools, tmp_path):
    named = {}
    for i, d in enumerate(SHUFFLE_DEFAULT):
        dt = [("a", "<i4"), ("b", "<f8")] if d == "struct" else d
        named["k%02d" % i] = rand_array(dt, (50,), seed=i)
    save_all(tmp_path / "in", named)
    np.savez(tmp_path / "z.npz", m=compressible(100))
    compressible(64, "<u2").tofile(tmp_path / "bf.raw")
    pack(tools, tmp_path / "c.mmarr", tmp_path / "in", tmp_path / "z.npz", "-t", "bfloat16",
         tmp_path / "bf.raw", opts=("--compress",))
    got = arrays(tools, tmp_path / "c.mmarr")
    assert {a["tier"] for a in got.values()} == {"cold"}
    for i, d in enumerate(SHUFFLE_DEFAULT):
        a = got["k%02d" % i]
        assert settings(a) == (3, 1 << 20, SHUFFLE_DEFAULT[d]), d
    assert settings(got["m"]) == (3, 1 << 20, True)    # an .npz member
    assert settings(got["bf"]) == (3, 1 << 20, True)   # a raw input: bfloat16 is a float
    unpack(tools, tmp_path / "c.mmarr", "-o", dirarg(tmp_path / "out"), "--as-void")
    for name in named:
        assert (tmp_path / "out" / (name + ".npy")).read_bytes() == \
            (tmp_path / "in" / (name + ".npy")).read_bytes()
    assert np.load(tmp_path / "out" / "bf.npy").tobytes() == (tmp_path / "bf.raw").read_bytes()


def test_tier_selection_rules(tools, tmp_path):
    named = {"big": rand_array("<f8", (1000,)), "small": rand_array("<f8", (10,)),
             "train/x": rand_array("<i4", (100,)), "train/y": rand_array("<i4", (100,)),
             "index": rand_array("<i8", (8,))}
    save_all(tmp_path / "in", named)
    out = tmp_path / "t.mmarr"
    # --hot wins over --cold; '*' matches '/'; the size rule counts raw bytes (8000 >= 4K)
    pack(tools, out, tmp_path / "in",
         opts=("--cold", "*/x", "--cold", "train/*", "--cold-min-size", "4K", "--hot", "train/y"))
    assert tiers(tools, out) == {"big": "cold", "index": "hot", "small": "hot",
                                 "train/x": "cold", "train/y": "hot"}
    # --compress=LEVEL with a selection: only the selection, at that level
    pack(tools, out, tmp_path / "in", opts=("-f", "--compress=5", "--cold", "index"))
    got = arrays(tools, out)
    assert {n for n, a in got.items() if a["tier"] == "cold"} == {"index"}
    assert got["index"]["level"] == 5
    # the size rule alone; 0 selects everything, empty arrays included
    pack(tools, out, tmp_path / "in", opts=("-f", "--cold-min-size", "8000"))
    assert {n for n, t in tiers(tools, out).items() if t == "cold"} == {"big"}
    pack(tools, out, tmp_path / "in", opts=("-f", "--cold-min-size", "0", "--hot", "b*"))
    assert {n for n, t in tiers(tools, out).items() if t == "hot"} == {"big"}
    # --hot alone changes nothing for hot inputs
    pack(tools, out, tmp_path / "in", opts=("-f", "--hot", "*"))
    assert set(tiers(tools, out).values()) == {"hot"}


def test_glob_that_matches_nothing_is_a_warning(tools, tmp_path):
    np.save(tmp_path / "a.npy", np.arange(10))
    r = pack(tools, tmp_path / "a.mmarr", tmp_path / "a.npy",
             opts=("--cold", "nope*", "--hot", "zzz"))
    assert r.err.splitlines() == ["mmarr-pack: warning: --cold 'nope*' matches no array",
                                  "mmarr-pack: warning: --hot 'zzz' matches no array"]
    assert tiers(tools, tmp_path / "a.mmarr") == {"a": "hot"}
    # compression settings without a cold array are probably a forgotten --compress
    r = pack(tools, tmp_path / "b.mmarr", tmp_path / "a.npy", opts=("--chunk-size", "64K"))
    assert r.err == ("mmarr-pack: warning: no array is stored cold, so --chunk-size and "
                     "--shuffle change nothing (select arrays with --compress, --cold or "
                     "--cold-min-size)\n")
    assert tiers(tools, tmp_path / "b.mmarr") == {"a": "hot"}


def test_compression_settings(tools, tmp_path):
    named = {"f": compressible(3000, "<f8"), "u": compressible(3000, "|u1"),
             "rec": rand_array([("a", "<i4"), ("b", "<f4")], (300,))}
    save_all(tmp_path / "in", named)
    out = tmp_path / "s.mmarr"
    pack(tools, out, tmp_path / "in",
         opts=("--compress=7", "--chunk-size", "1000", "--no-shuffle"))
    got = arrays(tools, out)
    assert {n: settings(a) for n, a in got.items()} == {
        "f": (7, 1000, False), "u": (7, 1000, False), "rec": (7, 1000, False)}
    assert got["f"]["chunk_count"] == 24          # 24000 bytes in chunks of 1000
    assert got["rec"]["chunk_count"] == 3         # 2400 bytes: 1000, 1000, 400
    # --shuffle reaches records too, but never 1-byte items; a zstd fast level
    pack(tools, out, tmp_path / "in", opts=("-f", "--compress=-5", "--shuffle",
                                            "--chunk-size", "1K"))
    got = arrays(tools, out)
    assert {n: settings(a) for n, a in got.items()} == {
        "f": (-5, 1024, True), "u": (-5, 1024, False), "rec": (-5, 1024, True)}
    # shuffling smooth numbers pays off
    pack(tools, tmp_path / "n.mmarr", tmp_path / "in", opts=("--compress", "--no-shuffle"))
    pack(tools, tmp_path / "y.mmarr", tmp_path / "in", opts=("--compress",))
    assert arrays(tools, tmp_path / "y.mmarr")["f"]["stored_bytes"] < \
        arrays(tools, tmp_path / "n.mmarr")["f"]["stored_bytes"]
    # the thread count changes nothing in the file
    pack(tools, tmp_path / "t1.mmarr", tmp_path / "in", opts=("--compress", "--threads", "1",
                                                              "--chunk-size", "2K"))
    pack(tools, tmp_path / "t2.mmarr", tmp_path / "in", opts=("--compress", "--threads", "2",
                                                              "--chunk-size", "2K"))
    assert (tmp_path / "t1.mmarr").read_bytes() == (tmp_path / "t2.mmarr").read_bytes()
    # one-byte chunks
    np.save(tmp_path / "tiny.npy", np.arange(10, dtype="<i2"))
    pack(tools, tmp_path / "one.mmarr", tmp_path / "tiny.npy",
         opts=("--compress", "--chunk-size", "1"))
    assert arrays(tools, tmp_path / "one.mmarr")["tiny"]["chunk_count"] == 20
    unpack(tools, tmp_path / "one.mmarr", "-o", tmp_path / "tiny2.npy")
    assert (tmp_path / "tiny2.npy").read_bytes() == (tmp_path / "tiny.npy").read_bytes()


# ---------------------------------------------------------------------------------------------
# round trips: .npy -> cold mmarr -> .npy / .npz


def every_kind():
    named = {"k%02d_%s" % (i, re.sub(r"\W", "", dtype_id(d))): rand_array(d, (37, 3), seed=i)
             for i, d in enumerate(DTYPES)}
    named["fortran"] = rand_array(">f4", (30, 7), "F", seed=99)
    named["zero_d"] = rand_array("<c16", (), seed=98)
    named["zero_d_S"] = rand_array("|S5", (), seed=97)
    named["empty"] = np.zeros((0, 4), "<f8")
    named["empty_rec"] = np.zeros((3, 0), [("a", "<i2"), ("b", "S3")])
    return named


ROUND_TRIPS = [
    ("default-1000", ["--compress", "--chunk-size", "1000"]),
    ("noshuffle-64", ["--compress=1", "--no-shuffle", "--chunk-size", "64"]),
    ("shuffle-4K-fast", ["--compress=-3", "--shuffle", "--chunk-size", "4K"]),
    ("shuffle-777-level19", ["--compress=19", "--shuffle", "--chunk-size", "777"]),
]


@pytest.mark.parametrize("opts", [r[1] for r in ROUND_TRIPS], ids=[r[0] for r in ROUND_TRIPS])
def test_round_trip_every_dtype_cold(tools, tmp_path, opts):
    named = every_kind()
    save_all(tmp_path / "in", named)
    out = tmp_path / "c.mmarr"
    pack(tools, out, tmp_path / "in", opts=opts)
    got = arrays(tools, out)
    chunk = int(opts[-1].replace("K", "")) * (1024 if opts[-1].endswith("K") else 1)
    for name, a in named.items():
        g = got[name]
        assert g["tier"] == "cold" and g["chunk_size"] == chunk, name
        assert g["raw_bytes"] == a.nbytes
        assert g["chunk_count"] == -(-a.nbytes // chunk), name      # the last one partial
        raw = a.tobytes(order="F" if g["order"] == "F" else "C")
        assert g["checksum"] == xxhash.xxh3_64_hexdigest(raw), name
    assert any(a.nbytes % chunk for a in named.values())
    unpack(tools, out, "-o", dirarg(tmp_path / "out"))
    for name in named:
        assert (tmp_path / "out" / (name + ".npy")).read_bytes() == \
            (tmp_path / "in" / (name + ".npy")).read_bytes(), name
    tools.run("mmarr-info", "--verify", out)


@pytest.mark.parametrize("deflate", [False, True], ids=["stored", "deflated"])
def test_cold_arrays_to_npz(tools, tmp_path, deflate):
    named = {"a": rand_array("<f8", (500, 3)), "b": compressible(20000, ">i4"),
             "s": rand_array("|S7", (11,)), "e": np.zeros((0,), "<u2"),
             "z": rand_array("<m8[us]", ()), "hot": np.arange(5)}
    save_all(tmp_path / "in", named)
    pack(tools, tmp_path / "c.mmarr", tmp_path / "in",
         opts=("--compress", "--chunk-size", "3000", "--hot", "hot"))
    assert tiers(tools, tmp_path / "c.mmarr")["b"] == "cold"
    unpack(tools, tmp_path / "c.mmarr", "-o", tmp_path / "c.npz",
           *(["--deflate"] if deflate else []))
    with np.load(tmp_path / "c.npz") as z:
        assert sorted(z.files) == sorted(named)
        for name, a in named.items():
            same_array(z[name], a)
    # a selection, in the order named
    unpack(tools, tmp_path / "c.mmarr", "s", "a", "-o", tmp_path / "sel.npz")
    with np.load(tmp_path / "sel.npz") as z:
        assert z.files == ["s", "a"]


def test_big_cold_array_streams_in_pieces(tools, tmp_path):
    """An array over the 8 MiB piece size, in chunks that do not divide it or the piece:
    packed cold from .npy, re-packed cold -> cold and cold -> hot, exported."""
    a = compressible(2_500_000, "<f4").reshape(2500, 1000).T             # 10 MB, Fortran
    np.save(tmp_path / "big.npy", a)
    pack(tools, tmp_path / "c.mmarr", tmp_path / "big.npy",
         opts=("--compress=1", "--chunk-size", "3M"))
    g = arrays(tools, tmp_path / "c.mmarr")["big"]
    assert g["tier"] == "cold" and g["chunk_count"] == 4 and g["order"] == "F"
    pack(tools, tmp_path / "c2.mmarr", tmp_path / "c.mmarr", opts=("--chunk-size", "5M"))
    pack(tools, tmp_path / "h.mmarr", tmp_path / "c2.mmarr", opts=("--hot", "*"))
    g2 = arrays(tools, tmp_path / "c2.mmarr")["big"]
    h = arrays(tools, tmp_path / "h.mmarr")["big"]
    assert (g2["tier"], g2["chunk_count"], g2["level"]) == ("cold", 2, 1)
    assert h["tier"] == "hot" and h["checksum"] == g2["checksum"] == g["checksum"]
    for mm in ("c.mmarr", "c2.mmarr", "h.mmarr"):
        unpack(tools, tmp_path / mm, "-o", tmp_path / (mm + ".npy"))
        assert (tmp_path / (mm + ".npy")).read_bytes() == (tmp_path / "big.npy").read_bytes()
    unpack(tools, tmp_path / "c.mmarr", "-o", tmp_path / "big.npz")
    with np.load(tmp_path / "big.npz") as z:
        same_array(z["big"], a)


# ---------------------------------------------------------------------------------------------
# re-packing between tiers


@pytest.fixture
def mixed(tools, tmp_path):
    """A file with a cold array (level 5, 2 KiB chunks, not shuffled), a cold array with the
    defaults, and a hot one, with array metadata."""
    named = {"c5": compressible(3000, "<f8"), "cd": rand_array("<i2", (700,)),
             "h": rand_array("<f4", (300,))}
    save_all(tmp_path / "in", named)
    pack(tools, tmp_path / "a.mmarr", tmp_path / "in" / "c5.npy",
         opts=("--compress=5", "--chunk-size", "2K", "--no-shuffle"))
    pack(tools, tmp_path / "m.mmarr", tmp_path / "a.mmarr", tmp_path / "in" / "cd.npy",
         tmp_path / "in" / "h.npy",
         opts=("--cold", "cd", "--array-meta", "c5:unit=K", "--meta", "src=test"))
    got = arrays(tools, tmp_path / "m.mmarr")
    assert settings(got["c5"]) == (5, 2048, False)
    assert settings(got["cd"]) == (3, 1 << 20, True) and got["h"]["tier"] == "hot"
    return tmp_path / "m.mmarr", named


def same_data(tools, mm, named, tmp_path):
    out = tmp_path / ("out-" + os.path.basename(mm))
    unpack(tools, mm, "-o", dirarg(out))
    for name, a in named.items():
        same_array(np.load(out / (name + ".npy")), a)


def test_repack_keeps_tiers_and_settings_by_default(tools, tmp_path, mixed):
    mm, named = mixed
    before = arrays(tools, mm)
    pack(tools, tmp_path / "r.mmarr", mm)
    after = arrays(tools, tmp_path / "r.mmarr")
    for name in named:
        for k in ("tier", "checksum", "raw_bytes", "dtype", "shape", "order", "metadata"):
            assert after[name][k] == before[name][k], (name, k)
        assert settings(after[name]) == settings(before[name])
    assert info(tools, tmp_path / "r.mmarr")["metadata"] == {"src": "test"}
    same_data(tools, tmp_path / "r.mmarr", named, tmp_path)
    # a setting given replaces only itself; the others stay each array's own
    pack(tools, tmp_path / "k.mmarr", mm, opts=("--chunk-size", "1K"))
    got = arrays(tools, tmp_path / "k.mmarr")
    assert settings(got["c5"]) == (5, 1024, False)
    assert settings(got["cd"]) == (3, 1024, True) and got["h"]["tier"] == "hot"


def test_repack_moves_arrays_between_tiers(tools, tmp_path, mixed):
    mm, named = mixed
    sums = {n: a["checksum"] for n, a in arrays(tools, mm).items()}
    # cold -> hot
    pack(tools, tmp_path / "hot.mmarr", mm, opts=("--hot", "*"))
    got = arrays(tools, tmp_path / "hot.mmarr")
    assert {a["tier"] for a in got.values()} == {"hot"}
    assert {n: a["checksum"] for n, a in got.items()} == sums
    assert got["c5"]["metadata"] == {"unit": "K"}
    same_data(tools, tmp_path / "hot.mmarr", named, tmp_path)
    # hot -> cold, and the cold ones keep their settings (none given)
    pack(tools, tmp_path / "cold.mmarr", mm, opts=("--compress",))
    got = arrays(tools, tmp_path / "cold.mmarr")
    assert settings(got["h"]) == (3, 1 << 20, True)
    assert settings(got["c5"]) == (5, 2048, False)
    same_data(tools, tmp_path / "cold.mmarr", named, tmp_path)
    # cold -> cold with a new level and chunk size; one array back to hot
    pack(tools, tmp_path / "re.mmarr", mm,
         opts=("--compress=9", "--chunk-size", "3000", "--hot", "cd"))
    got = arrays(tools, tmp_path / "re.mmarr")
    assert settings(got["c5"]) == (9, 3000, False) and got["c5"]["chunk_count"] == 8
    assert settings(got["h"]) == (9, 3000, True)
    assert got["cd"]["tier"] == "hot"
    assert {n: a["checksum"] for n, a in got.items()} == sums
    same_data(tools, tmp_path / "re.mmarr", named, tmp_path)
    # from the all-hot file back to cold, prefixed
    pack(tools, tmp_path / "p.mmarr", "old=" + str(tmp_path / "hot.mmarr"),
         opts=("--cold", "old/c*"))
    assert tiers(tools, tmp_path / "p.mmarr") == {"old/c5": "cold", "old/cd": "cold",
                                                  "old/h": "hot"}


def test_verbose_reports_tier_sizes_and_ratio(tools, tmp_path):
    np.save(tmp_path / "a.npy", compressible(20000, "<f8"))
    np.save(tmp_path / "b.npy", np.arange(3, dtype="<i4"))
    out = tmp_path / "v.mmarr"
    r = tools.run("mmarr-pack", "-v", "--cold-min-size", "1K", "-o", out,
                  tmp_path / "a.npy", tmp_path / "b.npy")
    got = arrays(tools, out)
    a = got["a"]
    lines = r.err.splitlines()
    assert lines[0].startswith("mmarr-pack: a  <f8  (20000,)  156 KiB  from ")
    assert lines[0].endswith("  -> cold: zstd 3, 1.00 MiB chunks, shuffled")
    assert lines[1].endswith("  -> hot")
    m = re.fullmatch(r"mmarr-pack: a: cold  156 KiB -> (.+)  \((\d+\.\d\d)x\)", lines[2])
    assert m, lines[2]
    assert float(m.group(2)) == pytest.approx(a["raw_bytes"] / a["stored_bytes"], abs=0.006)
    assert lines[3] == "mmarr-pack: b: hot  12 B -> 12 B  (1.00x)"
    assert re.fullmatch(r"mmarr-pack: .*v\.mmarr: 2 arrays, 1 cold: .+ -> .+  \(\d+\.\d\dx\)",
                        lines[4])
    assert len(lines) == 5
    # without -v: nothing
    r = tools.run("mmarr-pack", "--compress", "-o", tmp_path / "q.mmarr", tmp_path / "a.npy")
    assert r.err == ""


def test_progress_covers_compression(tools, tmp_path):
    np.save(tmp_path / "a.npy", compressible(3_000_000, "<f8"))
    rc, tty = run_on_tty(tools, "mmarr-pack", "--compress", "-o", tmp_path / "p.mmarr",
                         tmp_path / "a.npy")
    assert rc == 0 and "packing" in tty and "100%" in tty
    rc, tty = run_on_tty(tools, "mmarr-unpack", tmp_path / "p.mmarr", "-o", tmp_path / "u.npy")
    assert rc == 0 and "unpacking" in tty and "100%" in tty


def test_interrupted_cold_pack_leaves_nothing(tools, tmp_path):
    big_sparse_npy(tmp_path / "big.npy", 3 << 30)
    os.mkdir(tmp_path / "out")
    rc, err = interrupt_when_temp_appears(
        tools, tmp_path / "out",
        ["mmarr-pack", "-q", "--compress", "-o", tmp_path / "out" / "o.mmarr",
         tmp_path / "big.npy"], signal.SIGINT)
    assert rc == -signal.SIGINT, err
    assert "interrupted" in err
    assert os.listdir(tmp_path / "out") == []


# ---------------------------------------------------------------------------------------------
# damaged chunks


@pytest.fixture
def damaged(tools, tmp_path):
    """A cold array of random (incompressible) bytes in 10 chunks of 8 KiB, so zstd stores
    each chunk as a raw block and a byte flipped inside a frame changes one data byte; chunk
    3 is damaged that way."""
    a = rand_array("<f8", (10240,), seed=5)
    np.save(tmp_path / "x.npy", a)
    np.save(tmp_path / "ok.npy", np.arange(4))
    good = tmp_path / "good.mmarr"
    pack(tools, good, tmp_path / "x.npy", tmp_path / "ok.npy",
         opts=("--cold", "x", "--chunk-size", "8K"))
    c = chunks(tools, good, "x")
    assert c["chunk_count"] == len(c["chunks"]) == 10
    ch = c["chunks"][3]
    bad = tmp_path / "bad.mmarr"
    bad.write_bytes(good.read_bytes())
    flip_byte(bad, ch["stored_offset"] + ch["stored_size"] // 2)
    return a, bad, ch


def test_verify_names_the_damaged_chunk(tools, tmp_path, damaged):
    a, bad, ch = damaged
    r = tools.run("mmarr-info", "--verify", bad, rc=1)
    where = 'array "x" chunk 3 at offset %d: checksum mismatch' % ch["stored_offset"]
    lines = [line for line in r.out.splitlines() if line.startswith("  MISMATCH")]
    assert len(lines) == 1 and where in lines[0], r.out
    assert lines[0].startswith("  MISMATCH     x  offset ")
    assert r.out.endswith("verify: FAILED\n")
    d = info(tools, bad, "--verify", rc=1)
    v = {x["name"]: x["verify"] for x in d["arrays"]}
    assert v["ok"] == {"status": "ok"} and v["x"]["status"] == "mismatch"
    assert where in v["x"]["message"]
    tools.run("mmarr-info", "--verify", bad, "ok", rc=0)


def test_damaged_chunk_is_never_repacked_or_exported(tools, tmp_path, damaged):
    a, bad, ch = damaged
    where = 'array "x" chunk 3 at offset %d' % ch["stored_offset"]
    for opts in ((), ("--hot", "*"), ("--compress=1",)):
        r = pack(tools, tmp_path / "r.mmarr", bad, opts=opts, rc=1)
        one_line_error(r, "mmarr-pack", where, "checksum mismatch")
        assert not (tmp_path / "r.mmarr").exists() and leftovers(tmp_path) == []
    for target in ("e.npy", "e.npz", "d/"):
        out = dirarg(tmp_path / "d") if target == "d/" else tmp_path / target
        r = unpack(tools, bad, "x", "-o", out, rc=1)
        one_line_error(r, "mmarr-unpack", where, "checksum mismatch")
    assert not any(os.path.exists(tmp_path / t) for t in ("e.npy", "e.npz", "d/x.npy"))
    assert leftovers(tmp_path) == []
    # explicitly unverified, the damaged bytes go through: exactly one differs
    pack(tools, tmp_path / "nv.mmarr", bad, opts=("--no-verify", "--hot", "*"))
    unpack(tools, tmp_path / "nv.mmarr", "x", "-o", tmp_path / "nv.npy", "--no-verify")
    unpack(tools, bad, "x", "-o", tmp_path / "nv2.npz", "--no-verify")
    got = np.load(tmp_path / "nv.npy")
    diff = np.flatnonzero(np.frombuffer(got.tobytes(), "u1") != np.frombuffer(a.tobytes(), "u1"))
    assert len(diff) == 1 and ch["raw_offset"] <= diff[0] < ch["raw_offset"] + ch["raw_size"]
    with np.load(tmp_path / "nv2.npz") as z:
        assert z["x"].tobytes() == got.tobytes()


def test_corrupt_frame_fails_even_unverified(tools, tmp_path, damaged):
    a, bad, ch = damaged
    good = tmp_path / "good.mmarr"
    c = chunks(tools, good, "x")["chunks"][6]
    worse = tmp_path / "worse.mmarr"
    worse.write_bytes(good.read_bytes())
    flip_byte(worse, c["stored_offset"])               # the zstd magic number
    where = 'array "x" chunk 6 at offset %d' % c["stored_offset"]
    r = tools.run("mmarr-info", "--verify", worse, rc=1)
    assert re.search(r"^  CORRUPT +x  offset \d+ .*%s" % re.escape(where), r.out, re.M), r.out
    r = pack(tools, tmp_path / "r.mmarr", worse, opts=("--no-verify",), rc=1)
    one_line_error(r, "mmarr-pack", where)
    r = unpack(tools, worse, "-o", tmp_path / "w.npz", "--no-verify", rc=1)
    one_line_error(r, "mmarr-unpack", where)
    assert not (tmp_path / "w.npz").exists() and leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# bad option values


@pytest.mark.parametrize("args,fragment", [
    (["--compress=0"], "--compress=0: expected a zstd level from 1 to 22"),
    (["--compress=23"], "expected a zstd level"),
    (["--compress=-131073"], "expected a zstd level"),
    (["--compress=fast"], "expected a zstd level"),
    (["--compress="], "expected a zstd level"),
    (["--chunk-size", "0"], "--chunk-size '0': expected a size from 1 byte to 1G"),
    (["--chunk-size", "2G"], "--chunk-size '2G'"),
    (["--chunk-size", "1073741825"], "expected a size from 1 byte to 1G"),
    (["--chunk-size", "64Q"], "--chunk-size '64Q'"),
    (["--chunk-size", "-1"], "--chunk-size '-1'"),
    (["--cold-min-size", "big"], "--cold-min-size 'big': expected a size"),
    (["--cold-min-size", "1.5M"], "--cold-min-size '1.5M'"),
    (["--threads", "-1"], "--threads '-1': expected a count"),
    (["--threads", "two"], "--threads 'two'"),
    (["--threads", "5000"], "--threads '5000'"),
    (["--cold", ""], "--cold: empty GLOB"),
    (["--hot", ""], "--hot: empty GLOB"),
    (["--cold"], "needs an argument"),
], ids=["level0", "level23", "level-low", "level-text", "level-empty", "chunk0", "chunk2G",
        "chunk1G+1", "chunk-unit", "chunk-neg", "minsize-text", "minsize-frac", "threads-neg",
        "threads-text", "threads-many", "cold-empty", "hot-empty", "cold-missing"])
def test_bad_option_values(tools, tmp_path, args, fragment):
    np.save(tmp_path / "a.npy", np.arange(3))
    r = tools.run("mmarr-pack", "-o", tmp_path / "o.mmarr", tmp_path / "a.npy", *args, rc=2)
    assert fragment in r.err and "Try 'mmarr-pack --help'" in r.err
    assert r.out == ""
    assert not (tmp_path / "o.mmarr").exists()


def test_info_chunks_option_errors(tools, tmp_path):
    np.save(tmp_path / "a.npy", np.arange(3))
    pack(tools, tmp_path / "a.mmarr", tmp_path / "a.npy")
    r = tools.run("mmarr-info", "--chunks", tmp_path / "a.mmarr", rc=2)
    assert "--chunks" in r.err and "ARRAY" in r.err and r.out == ""
    # a hot array has no chunk table
    r = tools.run("mmarr-info", "--chunks", tmp_path / "a.mmarr", "a")
    assert "chunk table: none (hot array: raw bytes)\n" in r.out
    assert "chunks" not in info(tools, tmp_path / "a.mmarr", "--chunks", "a")["array"]
