# SPDX-License-Identifier: MIT
"""End-to-end tests of mmarr-info against numpy.

tests/tools/mksample.c writes a file with one array per dtype kind through the public writer
API; SAMPLE below rebuilds the same arrays with numpy, so every fact mmarr-info prints (dtype
text, shape, strides, sizes, checksum, values) is checked against what numpy computes, not
against the tool's own idea of it. Also: --verify on good, damaged, stale and cold files;
--resident against an independent mincore() oracle; refusal of bad files; usage errors.

Run by ctest with MMARR_INFO, MMARR_MKSAMPLE (built binaries) and MMARR_TESTDATA set.
Expectations that depend on the writer's choices (packing under 2 KiB, the cold array's
compressed size) are checked as rules, not as numbers.
"""

import ctypes
import json
import mmap
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
import xxhash

INFO = os.environ.get("MMARR_INFO", "")
MKSAMPLE = os.environ.get("MMARR_MKSAMPLE", "")
TESTDATA = os.environ.get("MMARR_TESTDATA", "")
MAN_PAGE = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "mmarr-info.1.md")
INT64_MIN = -(2**63)


def _require_env():
    missing = [n for n, v in (("MMARR_INFO", INFO), ("MMARR_MKSAMPLE", MKSAMPLE),
                              ("MMARR_TESTDATA", TESTDATA)) if not v]
    if missing:
        pytest.fail("set %s (ctest does)" % ", ".join(missing))


# ---------------------------------------------------------------------------------------------
# What mksample writes, rebuilt with numpy. Special float formats numpy lacks are given as
# (dtype text, shape, raw bytes, expected values).


def _record():
    descr = [("id", "<i4"), ("pos", "<f4", (3,)), ("when", "<M8[ns]"), ("tag", "|S6"),
             ("inner", [("a", "<u2"), ("b", ">f8")]), ("", "|V2")]
    a = np.zeros(2, np.lib.format.descr_to_dtype(descr))
    a["id"] = [1, -2]
    a["pos"] = [[0.5, 1.5, 2.5], [-1, 0, 1e10]]
    a["when"] = np.array([1000, INT64_MIN]).view("<M8[ns]")
    a["tag"] = [b"alpha", b"beta6!"]
    a["inner"]["a"] = [7, 65535]
    a["inner"]["b"] = [-1.25, 3.5]
    return a


def _sample():
    i8 = lambda v, t: np.array(v, "<i8").view(t)  # noqa: E731
    return {
        "f8_2d": np.arange(12).reshape(3, 4) * 0.5 - 1,
        "be_f8": np.array([1.5, -2.25, 1e300, np.inf, np.nan], ">f8"),
        "i4_fortran": np.asfortranarray(10 * np.arange(2)[:, None] + np.arange(3)).astype(
            "<i4", order="F"),
        "u8": np.array([0, 1, 2**63, 2**64 - 1], "<u8"),
        "i8": np.array([INT64_MIN, -1, 2**63 - 1], "<i8"),
        "i1": np.array([-128, 0, 127], "|i1"),
        "i4_be": np.array([-2, 305419896], ">i4"),
        "u2_be": np.array([1, 65535], ">u2"),
        "bool": np.array([True, False, True, True]),
        "f2": np.array([0x0000, 0x3C00, 0xC000, 0x3800, 0x7BFF, 0x7C00, 0x0001, 0x7E00],
                       "<u2").view("<f2"),
        "f4": np.array([0.1, -3.5, 1e10, 16777216], "<f4"),
        "c16": np.array([1 + 2j, -0.5 - 1.5j], "<c16"),
        "c8": np.array([0.25 + 0j, 3 - 4j], "<c8"),
        "bf16": ("bfloat16", (4,), np.array([0x3F80, 0xC020, 0x4049, 0x7F80], "<u2").tobytes(),
                 [1.0, -2.5, 3.140625, np.inf]),
        "e4m3": ("float8_e4m3fn", (4,), bytes([0x38, 0xC0, 0x7E, 0x7F]),
                 [1.0, -2.0, 448.0, np.nan]),
        "e5m2": ("float8_e5m2", (4,), bytes([0x3C, 0x38, 0x7B, 0xFC]),
                 [1.0, 0.5, 57344.0, -np.inf]),
        "scalar": np.array(3.25, "<f8"),
        "empty": np.zeros((0, 5), "<f4"),
        "big": np.arange(2048, dtype="<f4") * np.float32(0.25),
        "S6": np.array([b"abc", b"a\x00b\xff'", b"sixsix"], "|S6"),
        "U3": np.array(["abc", "é€", "😀"], "<U3"),
        "U2_be": np.array(["hi", "ü"], ">U2"),
        "void": np.frombuffer(bytes([1, 2, 3, 4, 0xFF, 0, ord("V"), ord("'")]), "|V4"),
        "dt_ns": i8([0, 1600000000123456789, INT64_MIN], "<M8[ns]"),
        "dt_D": i8([0, 18518], "<M8[D]"),
        "td_10ms": i8([5, INT64_MIN], "<m8[10ms]"),
        "rec": _record(),
        # cold: zstd chunks of 8 KiB, byte-shuffled (see mksample.c add_cold)
        "cold_f8": np.asfortranarray(np.arange(1000)[:, None] + 1000 * np.arange(3)).astype(
            "<f8", order="F"),
        "group/very_long_name_very_long_name_very_long_name_very_long_name_end":
            np.array([1, -1], "<i2"),
        'quote"back\\slash\ttab': np.array([42], "|u1"),
        "température/é": np.array([42], "|u1"),
    }


SAMPLE = _sample()
FILE_META = {"note": 'line1\nline2 "quoted"', "source": "mksample", "ünïcode": "välue"}
ARRAY_META = {"f8_2d": {"desc": 'two "quoted" words\nnext line', "units": "m/s"}}
COLD = {"cold_f8": {"chunk_size": 8192, "chunk_count": 3, "level": 3, "shuffle": True}}


def dtype_text(arr):
    """mmarr's canonical dtype text (spec.md §8): dtype.str, or str(descr) for records."""
    return str(arr.dtype.descr) if arr.dtype.names else arr.dtype.str


def facts(name):
    """(dtype text, shape, itemsize, raw bytes in storage order, order) of a SAMPLE entry."""
    v = SAMPLE[name]
    if isinstance(v, tuple):
        text, shape, raw, _ = v
        return text, shape, len(raw) // int(np.prod(shape)), raw, "C"
    order = "F" if v.ndim > 1 and v.flags.f_contiguous and not v.flags.c_contiguous else "C"
    return dtype_text(v), v.shape, v.dtype.itemsize, v.tobytes(order=order), order


def strides_for(shape, itemsize, order):
    dims = list(shape) if order == "C" else list(reversed(shape))
    out, step = [], itemsize
    for d in reversed(dims):
        out.append(step)
        step *= d
    out.reverse()
    return out if order == "C" else list(reversed(out))


# ---------------------------------------------------------------------------------------------
# Running the tool


def run(*args, rc=None):
    r = subprocess.run([INFO, *map(str, args)], capture_output=True)
    # in a sanitizer build a report must fail the test even when the exit code is expected
    assert b"Sanitizer" not in r.stderr and b"runtime error" not in r.stderr, r.stderr
    if rc is not None:
        assert r.returncode == rc, (args, r.returncode, r.stdout[-2000:], r.stderr)
    return r.returncode, r.stdout.decode("utf-8"), r.stderr.decode("utf-8")


def info_json(*args, rc=0):
    _, out, _ = run("--json", *args, rc=rc)
    return json.loads(out)  # exactly one document: trailing text would fail here


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    _require_env()
    path = tmp_path_factory.mktemp("info") / "sample.mmarr"
    subprocess.run([MKSAMPLE, str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def doc(sample):
    return info_json(sample)


def by_name(doc):
    return {a["name"]: a for a in doc["arrays"]}


def flip_byte(path, offset):
    with open(path, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([b[0] ^ 0x01]))


# ---------------------------------------------------------------------------------------------
# The table


def test_table_header_and_rows(sample, doc):
    _, out, err = run(sample, rc=0)
    assert err == ""
    head, table = out.split("\n\n", 1)
    assert re.search(r"^format: +1\.0$", head, re.M)
    assert re.search(r"^size: +[\d.]+ KiB \(%d bytes\)$" % os.path.getsize(sample), head, re.M)
    assert re.search(r"^alignment: +4096$", head, re.M)
    assert re.search(r"^generation: +1$", head, re.M)
    assert re.search(r"^arrays: +%d$" % len(SAMPLE), head, re.M)
    # metadata, sorted by key, control characters escaped
    assert "  note = line1\\nline2 \"quoted\"\n  source = mksample\n  ünïcode = välue" in head

    lines = table.rstrip("\n").split("\n")
    assert lines[0].split() == ["NAME", "DTYPE", "SHAPE", "ORDER", "TIER", "STORED", "RAW",
                                "RATIO", "OFFSET"]
    rows, name = {}, None
    for line in lines[1:]:
        if not line.startswith(" "):  # else: the rest of a row whose long name was wrapped
            name = line.split("  ")[0]
        rows[name] = line
    long = "group/very_long_name_very_long_name_very_long_name_very_long_name_end"
    assert long + "\n" in table  # whole, on a line of its own
    assert re.split(r" {2,}", rows[long].strip())[:2] == ["<i2", "(2,)"]
    assert 'quote"back\\slash\\ttab' in rows  # the tab is shown as \t
    assert len(rows) == len(SAMPLE)
    # right-aligned OFFSET: every row ends at the same column as the header
    width = len(lines[0])
    assert all(len(line) == width for line in lines if not line.startswith("group/"))

    def cells(name):
        return re.split(r" {2,}", rows[name].strip())

    assert cells("f8_2d") == ["f8_2d", "<f8", "(3, 4)", "C", "hot", "96 B", "96 B", "1.00",
                              hex(by_name(doc)["f8_2d"]["offset"])]
    assert cells("i4_fortran")[2:4] == ["(2, 3)", "F"]
    assert cells("scalar")[2] == "()"
    assert cells("empty")[2:7] == ["(0, 5)", "C", "hot", "0 B", "0 B"]
    assert cells("big")[1:7] == ["<f4", "(2048,)", "C", "hot", "8.00 KiB", "8.00 KiB"]
    assert cells("bf16")[1] == "bfloat16"
    cold = cells("cold_f8")
    assert cold[1:5] == ["<f8", "(1000, 3)", "F", "cold"] and cold[6] == "23.4 KiB"
    assert float(cold[7]) > 1
    rec = cells("rec")[1]
    assert rec.startswith("[('id', '<i4'), ") and rec.endswith("…") and len(rec) == 40


# ---------------------------------------------------------------------------------------------
# JSON


TOP_KEYS = {"schema_version", "file", "format_version", "format_major", "format_minor",
            "file_size", "alignment", "generation", "index_offset", "index_size",
            "index_checksum", "identity",
            "required_features", "optional_features", "checksums_stale",
            "inactive_slot_damaged", "damaged_generation", "live_bytes", "dead_bytes",
            "array_count", "mapping", "mapping_fs_type", "mapping_mount_point", "metadata",
            "arrays"}
ARRAY_KEYS = {"index", "name", "dtype", "kind", "itemsize", "shape", "strides", "order", "tier",
              "offset", "stored_bytes", "raw_bytes", "ratio", "checksum", "packed", "metadata"}
COLD_KEYS = {"chunk_size", "chunk_count", "level", "shuffle"}
CHUNK_KEYS = {"index", "raw_offset", "raw_size", "stored_offset", "stored_size", "ratio",
              "checksum"}


def test_json_file_facts(sample, doc):
    assert set(doc) == TOP_KEYS
    assert doc["schema_version"] == 1
    assert doc["file"] == str(sample)
    assert doc["format_version"] == "1.0"
    assert (doc["format_major"], doc["format_minor"]) == (1, 0)
    assert doc["file_size"] == os.path.getsize(sample)
    assert doc["alignment"] == 4096 and doc["generation"] == 1
    assert doc["required_features"] == 1  # COLD_ZSTD (spec.md §5): there is a cold array
    assert doc["checksums_stale"] is False
    assert doc["array_count"] == len(SAMPLE) == len(doc["arrays"])
    assert doc["mapping"] in ("unknown", "tmpfs_small_pages", "tmpfs_huge_pages", "page_cache")
    assert str(sample).startswith(doc["mapping_mount_point"])
    assert doc["metadata"] == FILE_META
    assert doc["index_offset"] + doc["index_size"] <= doc["file_size"]
    with open(sample, "rb") as f:  # the content identity, from the bytes (spec.md §11.3)
        f.seek(doc["index_offset"])
        ick = xxhash.xxh3_64_hexdigest(f.read(doc["index_size"]))
    assert doc["index_checksum"] == ick
    assert doc["identity"] == "%d-%d-%d-%d-%s" % (doc["generation"], doc["file_size"],
                                                  doc["index_offset"], doc["index_size"], ick)


def test_json_arrays_match_numpy(doc):
    prev_end = 512
    for i, a in enumerate(doc["arrays"]):
        name = a["name"]
        assert set(a) == ARRAY_KEYS | (COLD_KEYS if name in COLD else set()), name
        assert a["index"] == i
        text, shape, itemsize, raw, order = facts(name)
        assert a["dtype"] == text, name
        assert a["shape"] == list(shape), name
        assert a["itemsize"] == itemsize, name
        assert a["order"] == order, name
        assert a["strides"] == strides_for(shape, itemsize, order), name
        v = SAMPLE[name]
        if not isinstance(v, tuple) and v.size:
            assert a["strides"] == list(v.strides), name
        assert a["raw_bytes"] == len(raw), name
        assert isinstance(a["ratio"], float)
        if name in COLD:
            assert a["tier"] == "cold" and 0 < a["stored_bytes"] < len(raw)
            assert a["ratio"] == pytest.approx(len(raw) / a["stored_bytes"])
            assert {k: a[k] for k in COLD_KEYS} == COLD[name]
        else:
            assert a["tier"] == "hot" and a["stored_bytes"] == len(raw) and a["ratio"] == 1.0
            assert a["packed"] == (len(raw) < 2048), name
        assert a["checksum"] == xxhash.xxh3_64_hexdigest(raw), name
        assert a["offset"] % (256 if a["packed"] else 4096) == 0, name
        assert a["offset"] >= prev_end, name  # entry order is data order (spec.md §9.1)
        prev_end = a["offset"] + a["stored_bytes"]
        assert a["metadata"] == ARRAY_META.get(name, {}), name
        kind = "T" if text.startswith("[") else np.dtype(text).kind if name not in (
            "bf16", "e4m3", "e5m2") else "f"
        assert a["kind"] == kind, name
    assert prev_end <= doc["index_offset"]


def test_json_names_are_escaped_exactly(sample):
    _, out, _ = run("--json", sample, rc=0)
    assert '"quote\\"back\\\\slash\\ttab"' in out
    assert json.loads(out)["arrays"][-2]["name"] == 'quote"back\\slash\ttab'


# ---------------------------------------------------------------------------------------------
# One array: details and values


def expected_text(name, k):
    """How mmarr-info must print element k (C order) of SAMPLE[name]."""
    v = SAMPLE[name]
    if isinstance(v, tuple):
        return v[3][k]  # compared numerically
    x = v.reshape(-1)[k] if v.ndim else v[()]
    kind = v.dtype.kind
    if kind == "b":
        return "True" if x else "False"
    if kind in "iu":
        return str(int(x))
    if kind in "fc":
        return repr(x)  # numpy's shortest round-trip text
    if kind == "S":
        return repr(bytes(x))
    if kind == "U":
        return repr(str(x))
    if kind == "M":
        return str(x)
    if kind == "m":
        return "NaT" if np.isnat(x) else "%d [10ms]" % x.astype("<i8")
    if v.dtype.names:
        return "(%d, [%s], %s, %r, (%d, %r))" % (
            x["id"], ", ".join(repr(float(p)) for p in x["pos"]), str(x["when"]),
            bytes(x["tag"]), x["inner"]["a"], float(x["inner"]["b"]))
    return "b'%s'" % "".join("\\x%02x" % c for c in bytes(x))  # V


@pytest.mark.parametrize("name", list(SAMPLE))
def test_array_values_match_numpy(sample, name):
    d = info_json("--values", 100, sample, "--", name)
    a = d["array"]
    assert a["name"] == name
    n = int(np.prod(facts(name)[1]))
    assert len(a["values"]) == min(n, 100)
    for k, text in enumerate(a["values"]):
        want = expected_text(name, k)
        if isinstance(want, float):
            got = float(text)
            assert (np.isnan(got) and np.isnan(want)) or got == want, (name, k, text)
        else:
            assert text == want, (name, k)


def test_array_details_text(sample, doc):
    _, out, _ = run(sample, "f8_2d", rc=0)
    a = by_name(doc)["f8_2d"]
    for line in ("name:        f8_2d", "dtype:       <f8", "itemsize:    8",
                 "shape:       (3, 4)", "strides:     (32, 8)", "order:       C",
                 "tier:        hot", "offset:      %d (0x%x)" % (a["offset"], a["offset"]),
                 "stored:      96 B (96 bytes)", "raw:         96 B (96 bytes)",
                 "checksum:    %s (XXH3-64)" % a["checksum"], "packed:      yes",
                 "  desc = two \"quoted\" words\\nnext line", "  units = m/s",
                 "values:      first 10 of 12, C order", "  [0, 0]  -1.0", "  [2, 1]  3.5"):
        assert line + "\n" in out, line
    assert "[2, 2]" not in out  # only the first 10

    _, out, _ = run(sample, "i4_fortran", rc=0)
    assert "strides:     (4, 8)\norder:       F\n" in out
    assert "  [0, 1]  1\n  [0, 2]  2\n  [1, 0]  10\n" in out  # C order of the logical array

    _, out, _ = run(sample, "scalar", rc=0)
    assert "shape:       ()\n" in out and "  []  3.25\n" in out
    _, out, _ = run(sample, "empty", "-n", "0", rc=0)
    assert "values" not in out
    _, out, _ = run(sample, "empty", rc=0)
    assert "values:      none (empty array)\n" in out


def test_structured_fields(sample):
    _, out, _ = run(sample, "rec", rc=0)
    fields = out.split("fields:\n", 1)[1].split("values:")[0]
    rows = [re.split(r" {2,}", line.strip()) for line in fields.strip("\n").split("\n")]
    assert rows == [["OFFSET", "NAME", "DTYPE"], ["0", "id", "<i4"],
                    ["4", "pos", "<f4, subarray (3,)"], ["16", "when", "<M8[ns]"],
                    ["24", "tag", "|S6"], ["30", "inner", "struct, itemsize 10"],
                    ["0", "a", "<u2"], ["2", "b", ">f8"], ["40", "(padding)", "|V2"]]
    assert re.search(r"^ +0 {4}a {2,}<u2$", fields, re.M)  # nested field indented

    f = info_json(sample, "rec")["array"]["fields"]
    dt = SAMPLE["rec"].dtype
    assert [x["name"] for x in f] == ["id", "pos", "when", "tag", "inner", ""]
    for x in f[:5]:
        assert x["offset"] == dt.fields[x["name"]][1]
    assert f[1]["shape"] == [3] and f[1]["dtype"] == "<f4"
    assert [(x["name"], x["offset"], x["dtype"]) for x in f[4]["fields"]] == [
        ("a", 0, "<u2"), ("b", 2, ">f8")]


def test_unknown_array(sample):
    rc, out, err = run(sample, "nosuch")
    assert rc == 1 and out == ""
    assert err.count("\n") == 1 and 'no array named "nosuch"' in err


# ---------------------------------------------------------------------------------------------
# --verify


def test_verify_good_file(sample):
    _, out, _ = run("--verify", sample, rc=0)
    assert "verify: %d arrays checked, %d ok;" % (len(SAMPLE), len(SAMPLE)) in out
    assert re.search(r"hashed in [\d.]+ s", out)
    assert out.endswith("verify: OK\n")
    d = info_json("--verify", sample)
    assert d["verify"]["ok"] is True and d["verify"]["arrays_ok"] == len(SAMPLE)
    assert all(a["verify"] == {"status": "ok"} for a in d["arrays"])
    assert d["verify"]["bytes_hashed"] == sum(a["raw_bytes"] for a in d["arrays"])


def test_verify_reports_every_flipped_byte(sample, doc, tmp_path):
    bad = tmp_path / "bad.mmarr"
    shutil.copy(sample, bad)
    arrays = by_name(doc)
    for name, at in (("f8_2d", 3), ("big", 5000)):
        flip_byte(bad, arrays[name]["offset"] + at)
    rc, out, _ = run("--verify", bad)
    assert rc == 1
    failed = [line for line in out.split("\n") if line.startswith("  MISMATCH")]
    assert len(failed) == 2  # did not stop at the first failure
    for line, name in zip(failed, ("f8_2d", "big")):
        off = arrays[name]["offset"]
        assert line.startswith("  MISMATCH     %s  offset %d (0x%x): " % (name, off, off))
        assert "checksum mismatch" in line
    assert "%d ok, 2 checksum mismatch;" % (len(SAMPLE) - 2) in out
    assert out.endswith("verify: FAILED\n")

    d = info_json("--verify", bad, rc=1)
    status = {a["name"]: a["verify"]["status"] for a in d["arrays"]}
    assert {n for n, s in status.items() if s != "ok"} == {"f8_2d", "big"}
    assert by_name(d)["big"]["verify"]["error"] == "MMARR_E_CHECKSUM"
    assert d["verify"]["ok"] is False and d["verify"]["arrays_mismatch"] == 2
    # the one array asked about
    run("--verify", bad, "scalar", rc=0)
    run("--verify", bad, "big", rc=1)


def test_verify_stale_is_not_corruption():
    _require_env()
    rc, out, _ = run("--verify", os.path.join(TESTDATA, "valid", "checksums_stale.mmarr"))
    assert rc == 1
    assert re.search(r"^  STALE +alpha  offset \d+ .*rehash", out, re.M)
    assert "MISMATCH" not in out and ", 1 stale;" in out


def test_verify_damaged_inactive_slot():
    _require_env()
    rc, out, _ = run("--verify", os.path.join(TESTDATA, "valid", "inactive_b_damaged.mmarr"))
    assert rc == 1
    assert "  DAMAGED      superblock: the inactive slot is damaged" in out
    assert "inactive superblock slot damaged" in out and out.endswith("verify: FAILED\n")


def test_cold_array_verified_and_read(sample, doc):
    """The cold array verifies through the same call as the hot ones, and its values come
    back decompressed (compared with numpy by test_array_values_match_numpy)."""
    _, out, _ = run("--verify", sample, "cold_f8", rc=0)
    assert "chunks:      3 of 8.00 KiB raw, zstd level 3, byte-shuffled\n" in out
    assert "  [0, 1]  1000.0\n" in out and out.endswith("verify: OK\n")


def test_damaged_cold_chunk(sample, doc, tmp_path):
    bad = tmp_path / "badcold.mmarr"
    shutil.copy(sample, bad)
    a = by_name(doc)["cold_f8"]
    flip_byte(bad, a["offset"] + a["stored_bytes"] // 6)  # inside the first chunk's frame
    rc, out, _ = run("--verify", bad)
    assert rc == 1
    line = re.search(r"^  (MISMATCH|CORRUPT) +cold_f8  offset %d .*$" % a["offset"], out, re.M)
    assert line and "cold_f8" in line.group(0).split(": ", 1)[1]  # the library's message
    assert out.endswith("verify: FAILED\n")
    # values that cannot be decompressed are a data problem, reported, never printed wrong
    rc, out, _ = run(bad, "cold_f8")
    assert rc == 1 and "values:      not shown: " in out
    d = info_json(bad, "cold_f8", rc=1)
    assert d["array"]["values"] == [] and "cold_f8" in d["array"]["values_error"]
    run(bad, "f8_2d", rc=0)  # other arrays are unaffected


def test_chunk_table_matches_numpy(sample, doc):
    """--chunks: every chunk's raw range, frame and checksum, checked against the raw bytes
    numpy gives (XXH3 of each 8 KiB slice) and against the array's stored range."""
    a = by_name(doc)["cold_f8"]
    raw = facts("cold_f8")[3]
    d = info_json("--chunks", "-n", "0", sample, "cold_f8")["array"]
    ch = d["chunks"]
    assert len(ch) == a["chunk_count"] == 3
    at = a["offset"]
    for k, c in enumerate(ch):
        assert set(c) == CHUNK_KEYS
        assert c["index"] == k and c["raw_offset"] == 8192 * k
        assert c["raw_size"] == min(8192, len(raw) - 8192 * k)
        assert c["stored_offset"] == at and c["stored_size"] > 0  # frames back to back
        at += c["stored_size"]
        assert c["ratio"] == pytest.approx(c["raw_size"] / c["stored_size"])
        assert c["checksum"] == xxhash.xxh3_64_hexdigest(
            raw[c["raw_offset"]:c["raw_offset"] + c["raw_size"]])
    assert at == a["offset"] + a["stored_bytes"]
    assert ch[-1]["raw_size"] == 24000 - 2 * 8192  # the last chunk is partial

    _, out, _ = run("--chunks", "-n", "0", sample, "cold_f8", rc=0)
    table = out.split("chunk table:\n", 1)[1].rstrip("\n").split("\n")
    assert table[0].split() == ["CHUNK", "RAW", "OFFSET", "RAW", "SIZE", "STORED", "OFFSET",
                                "STORED", "SIZE", "RATIO", "CHECKSUM"]
    rows = [line.split() for line in table[1:]]
    assert rows == [[str(c["index"]), str(c["raw_offset"]), str(c["raw_size"]),
                     str(c["stored_offset"]), str(c["stored_size"]), "%.2f" % c["ratio"],
                     c["checksum"]] for c in ch]
    # numbers right-aligned under their titles; the checksum column starts at one place
    assert len({len(line.rsplit(" ", 1)[0]) for line in table}) == 1
    # without --chunks: no table, no key
    _, out, _ = run(sample, "cold_f8", rc=0)
    assert "chunk table" not in out
    assert "chunks" not in info_json(sample, "cold_f8")["array"]


def test_chunks_needs_an_array(sample):
    rc, out, err = run("--chunks", sample)
    assert rc == 2 and out == "" and "--chunks" in err and "Try 'mmarr-info --help'" in err
    _, out, _ = run("--chunks", sample, "f8_2d", rc=0)
    assert out.endswith("chunk table: none (hot array: raw bytes)\n")
    assert "chunks" not in info_json("--chunks", sample, "f8_2d")["array"]


# ---------------------------------------------------------------------------------------------
# --resident


def mincore_oracle(path, ranges):
    """Resident bytes of each [offset, offset+size) of the file, asked of the kernel through
    our own mapping: the same question as mmarr_file_resident, answered independently."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    size, page = os.path.getsize(path), mmap.PAGESIZE
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        assert addr not in (None, ctypes.c_void_p(-1).value)
        vec = (ctypes.c_ubyte * ((size + page - 1) // page))()
        assert libc.mincore(addr, size, vec) == 0, ctypes.get_errno()
        libc.munmap(addr, size)
    finally:
        os.close(fd)
    out = []
    for beg, n in ranges:
        total = 0
        for p in range(beg // page, (beg + n + page - 1) // page):
            if vec[p] & 1:
                total += min((p + 1) * page, beg + n) - max(p * page, beg)
        out.append(total)
    return out


def test_resident_after_reading(sample):
    with open(sample, "rb") as fh:
        fh.read()  # every page is now in the page cache
    d = info_json("--resident", sample)
    assert set(d) == TOP_KEYS | {"resident"}
    assert d["resident"] == {"resident_bytes": d["file_size"], "total_bytes": d["file_size"]}
    for a in d["arrays"]:
        assert a["resident_bytes"] == a["stored_bytes"], a["name"]
    _, out, _ = run("--resident", sample, rc=0)
    assert re.search(r"^NAME +RESIDENT +STORED +%$", out, re.M)
    assert re.search(r"^big +8\.00 KiB +8\.00 KiB +100\.0%$", out, re.M)
    assert re.search(r"^empty +0 B +0 B +-$", out, re.M)
    assert "resident: arrays" in out and "whole file" in out
    _, out, _ = run("--resident", sample, "big", rc=0)
    assert "resident:    8.00 KiB of 8.00 KiB (100.0%)\n" in out


def test_resident_matches_mincore_after_dropping_pages(tmp_path):
    """A 48 MiB array, dropped from the page cache (where the filesystem allows it) and then
    partly read back by opening the file (read-around of the superblock and index): the tool
    must report exactly what mincore reports."""
    _require_env()
    path = tmp_path / "bulk.mmarr"
    subprocess.run([MKSAMPLE, "--bulk", "48", str(path)], check=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    d = info_json("--resident", path)
    bulk = by_name(d)["bulk"]
    want, whole = mincore_oracle(path, [(bulk["offset"], bulk["stored_bytes"]),
                                        (0, d["file_size"])])
    assert bulk["resident_bytes"] == want
    assert d["resident"]["resident_bytes"] == whole
    assert bulk["resident_bytes"] <= bulk["stored_bytes"] == 48 << 20


# ---------------------------------------------------------------------------------------------
# Bad files and bad usage


def one_line_refusal(path, *extra):
    rc, out, err = run(path, *extra)
    assert rc == 1 and out == "", (path, rc, out)
    assert err.count("\n") == 1 and err.startswith("mmarr-info: "), err
    return err


def test_refuses_bad_files(sample, tmp_path):
    _require_env()
    text = tmp_path / "text.txt"
    text.write_text("hello, world\n" * 100)
    assert "not an mmarr file" in one_line_refusal(text)
    empty = tmp_path / "empty.mmarr"
    empty.write_bytes(b"")
    assert "empty" in one_line_refusal(empty)
    trunc = tmp_path / "trunc.mmarr"
    trunc.write_bytes(sample.read_bytes()[:5000])
    assert "truncated" in one_line_refusal(trunc)
    tiny = tmp_path / "tiny.mmarr"
    tiny.write_bytes(sample.read_bytes()[:100])
    one_line_refusal(tiny)
    assert "No such file" in one_line_refusal(tmp_path / "missing.mmarr")
    one_line_refusal(tmp_path)  # a directory
    for bad in ("index_byte_flipped", "format_major_2", "sorted_wrong_order",
                "truncated_mid_data"):
        p = os.path.join(TESTDATA, "invalid", bad + ".mmarr")
        if os.path.exists(p):
            one_line_refusal(p)
            one_line_refusal(p, "--json", "--verify", "--resident")


@pytest.mark.parametrize("args", [[], ["--bogus", "f"], ["-x", "f"], ["f", "a", "b"],
                                  ["--values=abc", "f", "a"], ["--json=1", "f"], ["-n"]])
def test_usage_errors(args):
    _require_env()
    rc, out, err = run(*args)
    assert rc == 2 and out == ""
    assert "Try 'mmarr-info --help'" in err


def test_help_and_version():
    _require_env()
    _, out, err = run("--help", rc=0)
    assert out.startswith("Usage: mmarr-info [OPTION]... FILE [ARRAY]\n") and err == ""
    for opt in ("--json", "--verify", "--resident", "--values=N", "--chunks", "--help",
                "--version", "Exit status"):
        assert opt in out
    _, out2, _ = run("-h", rc=0)
    assert out2 == out
    _, out, _ = run("--version", rc=0)
    assert re.fullmatch(r"mmarr-info \(mmarr\) \d+\.\d+\.\d+ — library \d+\.\d+\.\d+, "
                        r"format 1\.2\n", out)


def test_man_page_documents_every_json_key(sample):
    """The schema in mmarr-info.1.md is the contract: every key the tool emits is in it."""
    with open(MAN_PAGE, encoding="utf-8") as fh:
        man = fh.read()
    d = info_json("--verify", "--resident", sample, "rec")
    keys = set(d) | set(d["array"]) | set(d["verify"]) | set(d["resident"])
    keys |= set(d["array"]["verify"]) | set(d["array"]["fields"][0])
    keys |= set(info_json(sample)) | {"error", "message", "values_error"} | COLD_KEYS
    cold = info_json("--chunks", sample, "cold_f8")["array"]
    keys |= set(cold) | set(cold["chunks"][0])
    for k in sorted(keys):
        assert "`%s`" % k in man, k


# ---------------------------------------------------------------------------------------------
# Ragged items (format 1.1): the golden vector's items, in the table's epilogue, the detail
# view and JSON

RAGGED = os.path.join(os.path.dirname(__file__), "..", "..", "format", "testdata", "valid",
                      "ragged.mmarr")


def test_ragged_items_are_listed_as_items():
    _, out, _ = run(RAGGED, rc=0)
    assert "format:      1.1\n" in out and "ragged:      4 items" in out
    assert "  tokens: 5 arrays of <f4 (n, 3), offsets in tokens/offsets\n" in out
    assert "  text: 6 str, offsets in text/offsets\n" in out
    assert "  blobs: 5 bytes, offsets in blobs/offsets\n" in out
    assert "  none: 0 arrays of " in out
    _, out, _ = run(RAGGED, "text/offsets", rc=0)
    assert "ragged:      offsets of the ragged item text\n" in out
    _, out, _ = run(RAGGED, "tokens", rc=0)
    assert "ragged:      values of this ragged item: 5 arrays of <f4 (n, 3)" in out
    doc = info_json(RAGGED)
    roles = {a["name"]: a.get("ragged") for a in doc["arrays"]}
    assert roles["plain"] is None
    assert roles["tokens"] == {"role": "values", "item": "tokens", "kind": "arrays",
                               "count": 5, "offsets": "tokens/offsets"}
    assert roles["text/offsets"]["role"] == "offsets" and roles["text/offsets"]["item"] == "text"
    assert roles["blobs"]["kind"] == "bytes" and roles["text"]["kind"] == "str"
    run("--verify", RAGGED, rc=0)


def test_mapping_on_tmpfs(sample):
    """/dev/shm is a tmpfs: mmarr-info says which pages back it, and how to avoid 4 KiB ones."""
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm")
    path = f"/dev/shm/mmarr-test-mapping-{os.getpid()}.mmarr"
    shutil.copy(sample, path)
    try:
        d = info_json(path)
        _, text, _ = run(path, rc=0)
    finally:
        os.unlink(path)
    assert d["mapping_fs_type"] == "tmpfs" and d["mapping_mount_point"] == "/dev/shm"
    assert d["mapping"] in ("tmpfs_small_pages", "tmpfs_huge_pages")
    line = next(x for x in text.splitlines() if x.startswith("mapping:"))
    assert "tmpfs at /dev/shm" in line
    if d["mapping"] == "tmpfs_small_pages":
        assert "4 KiB pages" in line and "huge=within_size" in text


def test_dead_space_is_what_earlier_generations_left():
    """A file written at once has no dead space, whatever its layout (padding, packed and
    cold arrays, growable regions: every valid golden vector of generation 1); a grown file's
    dead space is its earlier indexes and deleted arrays, and the text says so. (Before,
    every file's padding after the superblock, 3.5 KiB, was reported as dead.)"""
    valid = os.path.join(TESTDATA, "valid")
    seen_once = seen_grown = 0
    for name in sorted(os.listdir(valid)):
        if not name.endswith(".mmarr"):
            continue
        path = os.path.join(valid, name)
        p = subprocess.run([INFO, "--json", path], capture_output=True, text=True)
        if p.returncode != 0:
            continue  # vectors this front end refuses are tested elsewhere
        doc = json.loads(p.stdout)
        assert doc["live_bytes"] + doc["dead_bytes"] == doc["file_size"], name
        if doc["generation"] == 1:
            assert doc["dead_bytes"] == 0, name
            assert "space:" not in run(path, rc=0)[1], name
            seen_once += 1
        elif doc["dead_bytes"]:  # (an earlier index may lie in padding, costing nothing)
            assert "dead (deleted arrays, earlier indexes" in run(path, rc=0)[1], name
            seen_grown += 1
    assert seen_once >= 20 and seen_grown >= 2  # growable_grown, grown_gen3 (a deletion)
