#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""gen_golden.py — writes the mmarr format v1 golden test vectors into format/testdata/.

Written from spec.md alone (Python `struct` and `xxhash.xxh3_64_intdigest`), not from
libmmarr, so that the vectors pin the format rather than one implementation of it.
Deterministic: running it again rewrites byte-identical files.

Outputs (paths relative to this directory):
  valid/<name>.mmarr     files every reader must open
  valid/<name>.json      what each valid file decodes to: file facts, then every array in
                         file order (name, dtype, shape, order, packed, checksum, metadata,
                         and the raw data as hex, or its XXH3-64 for larger arrays; cold
                         arrays add "storage": "cold", chunk_size, filter, level, "stored"
                         (as the .expect stored line), "chunks" (as the .expect chunk lines)
                         and, when growable, "extents" (as the .expect extent lines); a cold
                         array with a chunk that cannot be read has no data), then,
                         in files with ragged items only, "ragged": every ragged item in
                         record order (name, values and offsets entry numbers, kind, count,
                         the offsets as stored and whether they are valid, and per item its
                         "result" as on the .expect item line, its rows, bytes as hex, shape
                         for ARRAYS and text for valid UTF8 items)
  valid/<name>.expect    the same facts as one-fact-per-line text for tests/test_golden.c
  invalid/<name>.mmarr   files a reader must refuse; each is a minimal change from a valid
                         file, and structural ones carry recomputed index and slot checksums
                         so that the reader reaches the structural check
  MANIFEST               path<TAB>expect<TAB>purpose, one line per .mmarr file; expect is
                         `ok` or the mmarr_err name a reader must return

.expect format: one fact per line, space-separated; strings are lowercase hex of their UTF-8
bytes ("-" for the empty string). Lines, in this order:
  mmarr-expect 1
  format <major> <minor>
  alignment <n>
  generation <n>
  file_size <n>
  index <index_offset> <index_size> <index_checksum, 16 hex digits>
  features <required> <optional>          (decimal)
  stale <0|1>
  inactive_damaged <0|1>
  verify <ok|MMARR_E_...>                 (what mmarr_file_verify returns)
  fmeta <key> <value>                     (file metadata, sorted by key; zero or more)
  arrays <count>
  then per array, in file order:
    array <name>
    dtype <text> <kind char> <itemsize> <byteorder char, or ? when not pinned>
    timeunit <unit or -> <count>          (datetime/timedelta only; generic unit is "-")
    nfields <n>                           (structured only), followed by n lines
    field <name> <offset> <dtype text> <ndim> <dims...>
    shape <ndim> <dims...>
    strides <ndim> <strides...>           (only when the array has at least one element)
    order <C|F>
    packed <0|1>
    capacity <rows>                       (growable arrays only, format 1.2, spec §7.8)
    cold <chunk_size> <chunk_count> <filter> <level>
                                          (cold arrays only, spec §10; without it the array
                                          is raw)
    offset <data_offset>
    stored <bytes>                        (what its data occupy in the file: data_size; for
                                          a cold array the sum of its frames' sizes, which
                                          is data_size unless it is growable, §7.8)
    checksum <16 hex digits>              (as recorded in the entry)
    chunk <k> <raw_offset> <raw_size> <offset> <size> <checksum> <ok|MMARR_E_...>
                                          (cold arrays only, one per chunk in chunk order:
                                          the raw bytes it holds, the absolute file offset
                                          and size of its frame, its checksum (16 hex
                                          digits), and what reading it gives)
    extent <offset> <size>                (cold growable arrays only: its first extent,
                                          data_offset and data_size, then each extra extent
                                          in record order, §7.8)
    data <hex or ->                       (raw bytes, arrays up to 1024 bytes; else absent;
                                          cold: the raw bytes its chunks decode to, absent
                                          when a chunk cannot be read)
    xxh3 <16 hex digits>                  (XXH3-64 of the bytes actually in the file; cold:
                                          of the raw bytes, absent as data is)
    averify <ok|MMARR_E_...>[,<...>]      (what mmarr_file_verify_array returns; a comma
                                          list when the spec allows either)
    meta <key> <value>                    (zero or more, sorted by key)
    end
  then, only in files with ragged items (format 1.1, spec §7.7); without these lines the file
  has none, and a reader reports 0 ragged items (every 1.0 file, and 1.1 files whose RAGGED
  bit is clear or whose ragged_count is 0):
  raggeds <count>                         (ragged records in the file)
  then per ragged item, in record order (increasing values entry number):
    ragged <name> <values entry> <offsets entry> <ARRAYS|UTF8|BYTES> <item count>
                                          (name: the values' name; entries by number)
    roffsets <ok|MMARR_E_CORRUPT> <n> <offsets...>
                                          (the n = count + 1 offsets as stored, and whether
                                          they satisfy the content rules of §7.7: what a
                                          reader asked for all offsets, e.g.
                                          mmarr_file_ragged_offsets, returns)
    item <i> <codes>[ <start> <stop> <hex or ->]
                                          (one line per item i = 0..count-1: what reading
                                          item i gives, "ok" or MMARR_E_CORRUPT, or the comma
                                          list "ok,MMARR_E_CORRUPT" when the item itself is in
                                          range but other offsets are bad, so a reader may
                                          refuse it or not (§7.7 requires only
                                          offsets[i] <= offsets[i+1] <= rows). <start> <stop>
                                          are its rows of the values and <hex> the bytes of
                                          those rows, present whenever the item is in range,
                                          absent when it is not. A UTF8 item in range whose
                                          bytes are not valid UTF-8 has codes MMARR_E_CORRUPT
                                          with its rows: a reader returning its text must
                                          refuse it, its rows are still the ones given)
    rend
  A ragged item's values and offsets are also listed as arrays above; the averify of the
  values is MMARR_E_CORRUPT when an offset or (raw values) a UTF8 item breaks §7.7.

Files: golden_encode.py (the encoder and output), golden_invalid.py (the invalid vectors),
this file (the valid vectors and main).

Run:  /usr/bin/python3 format/testdata/gen_golden.py
"""

import os
import numpy as np

from golden_encode import (
    Arr, BASE_META, FILTER_SHUFFLE, KIND_ARRAYS, KIND_BYTES, KIND_UTF8, MANIFEST, OPT_RAGGED, OUT,
    PACKED_ALIGN, SLOT_A, SLOT_B, STATE_STALE, WRITTEN, align_up, base, base_arrays,
    cold_extents_image, cold_growable_arrays, cold_rows, describe, emit_valid, index_bytes, npa,
    pack_slot, plan, ragged, ragged_base, serialize, write, write_slot, xxh, zstd_first_raw_byte,
)
from golden_invalid import gen_invalid


# --------------------------------------------------------------------------------------------
# Valid vectors


def simple(im, purpose_name, purpose, **kw):
    buf = serialize(im)
    emit_valid(purpose_name, buf, describe(im, **kw), purpose)
    return buf


def bf16(values):
    f = np.asarray(values, dtype="<f4").view("<u4")
    return (f >> 16).astype("<u2").tobytes()


def all_dtype_arrays():
    dt = np.dtype
    out = [
        npa("dtype/bool", np.array([True, False, True], "|b1")),
        npa("dtype/i1", np.array([-128, 0, 127], "|i1")),
        npa("dtype/i2", np.array([-32768, 1, 32767], "<i2")),
        npa("dtype/i4", np.array([-2147483648, 2, 2147483647], "<i4")),
        npa("dtype/i8", np.array([-(2 ** 63), 3, 2 ** 63 - 1], "<i8")),
        npa("dtype/i4be", np.array([1, -2, 0x01020304], ">i4")),
        npa("dtype/u1", np.array([0, 1, 255], "|u1")),
        npa("dtype/u2", np.array([0, 2, 65535], "<u2")),
        npa("dtype/u4", np.array([0, 3, 2 ** 32 - 1], "<u4")),
        npa("dtype/u8", np.array([0, 4, 2 ** 64 - 1], "<u8")),
        npa("dtype/f2", np.array([1.0, -0.5, 65504.0], "<f2")),
        npa("dtype/f4", np.array([1.5, -np.inf, 3.25], "<f4")),
        npa("dtype/f8", np.array([np.pi, -0.0, 1e300], "<f8")),
        npa("dtype/f8be", np.array([np.e, 2.0, -1e-300], ">f8")),
        npa("dtype/c8", np.array([1 + 2j, -3.5j, 4], "<c8")),
        npa("dtype/c16", np.array([1 - 1j, 2.5 + 0j, -1e10j], "<c16")),
        Arr("dtype/bfloat16", "bfloat16", (3,), bf16([1.0, -2.5, 3.140625])),
        Arr("dtype/float8_e4m3fn", "float8_e4m3fn", (3,), bytes([0x38, 0xC0, 0x7E])),
        Arr("dtype/float8_e5m2", "float8_e5m2", (3,), bytes([0x3C, 0xC0, 0x7B])),
        npa("dtype/S6", np.array([b"abc", b"hello!", b""], "|S6")),
        npa("dtype/U3", np.array(["ab", "é", "日本語"], "<U3")),
        npa("dtype/V4", np.array([b"\x01\x02\x03\x04", b"\xff\x00\xff\x00", b"VOID"],
                                 "|V4")),
        npa("dtype/M8ns", np.array(["2026-11-21T10:32:00.123456789", "NaT", "1970-01-01"],
                                   "<M8[ns]")),
        npa("dtype/m8s", np.array([0, -1, 86400], "<m8[s]")),
        npa("dtype/M8_10ms", np.array([0, 1, 2 ** 40], dt("<i8")).view("<M8[10ms]")),
        npa("dtype/M8generic", np.array(["NaT", "NaT", "NaT"], "<M8")),
    ]
    # Interleave the entry order so the names table is not the identity permutation.
    return out[1::2] + out[0::2]


def struct_basic_array():
    dt = np.dtype([("date", "<M8[ns]"), ("val", "<f8"), ("c", "|S6")])
    a = np.zeros(4, dt)
    a["date"] = np.array(["2026-01-01", "2026-06-30T12:00", "NaT", "1999-12-31"], "<M8[ns]")
    a["val"] = [1.0, -2.5, np.nan, 1e-3]
    a["c"] = [b"abc", b"defghi", b"", b"x"]
    assert dt.itemsize == 22
    return npa("records", a)


def struct_complex_array():
    inner = np.dtype({"names": ["a", "b"], "formats": ["|u1", "<i8"], "offsets": [0, 4],
                      "itemsize": 12})
    dt = np.dtype({"names": ["id", "pos", "inner", "m", "température"],
                   "formats": ["<u2", ("<f4", (3,)), inner, ("<i2", (2, 2)), "<f4"],
                   "offsets": [0, 4, 16, 28, 40], "itemsize": 48})
    a = np.zeros(3, dt)
    a["id"] = [1, 2, 65535]
    a["pos"] = [[0, 1, 2], [3.5, -4, 5], [np.inf, 0, -0.0]]
    a["inner"]["a"] = [7, 8, 9]
    a["inner"]["b"] = [-1, 2 ** 40, 0]
    a["m"] = [[[1, 2], [3, 4]], [[5, 6], [7, 8]], [[-1, -2], [-3, -4]]]
    a["température"] = [20.5, -3.0, 100.0]
    return npa("nested/records", a)


def gen_valid():
    # -- one array
    im = plan([npa("x", np.arange(6, dtype="<f4").reshape(2, 3) / 4, packed=False)])
    simple(im, "single_f4", "one page-aligned <f4 (2,3) array, no metadata")

    # -- the bases of the invalid vectors
    simple(base(), "base_small", "base of most invalid vectors: 3 packed arrays, metadata")
    simple(base(paged=True), "base_paged",
           "base of placement vectors: packed, page-aligned, packed")

    # -- every plain dtype
    simple(plan(all_dtype_arrays(), [("about", "every plain dtype kind of spec §8")]),
           "all_dtypes", "every plain dtype of §8 in one file (26 packed arrays)")

    # -- structured
    simple(plan([struct_basic_array()]), "struct_basic",
           "structured [('date','<M8[ns]'),('val','<f8'),('c','|S6')], itemsize 22")
    simple(plan([struct_complex_array()]), "struct_complex",
           "structured with padding fields, (3,) and (2,2) subarrays, a nested struct with "
           "inner padding, a non-ASCII field name")

    # -- 0-d, zero-size, ndim 64
    sb = struct_basic_array()
    arrs = [
        npa("scalar", np.array(np.pi, "<f8")),
        npa("empty", np.zeros((0,), "<f4")),
        npa("empty2d", np.zeros((3, 0), "<i2")),
        npa("empty_paged", np.zeros((0, 5), "<u8"), packed=False),
        Arr("empty_records", sb.dtype, (0,), b""),
        npa("scalar_record", np.zeros((), np.dtype([("a", "<i4"), ("b", "|u1")]))),
        Arr("ndim64", "|u1", (1,) * 64, b"\x2a"),  # numpy itself stops at 32 dimensions
        Arr("ndim64_empty", "<c16", (1,) * 63 + (0,), b""),
        npa("after", np.array([7, 8, 9], "<i4")),
    ]
    simple(plan(arrs), "zero_d_and_empty",
           "0-d arrays (nbytes = itemsize), zero-size arrays (packed and page-aligned; several "
           "entries share a data_offset), ndim 64")

    # -- Fortran order
    m = np.arange(12, dtype="<i4").reshape(3, 4) * 10
    simple(plan([npa("f_order", m, order="F", packed=False),
                 npa("c_order", m, order="C"),
                 npa("f_order_f8", np.arange(6.0).reshape(2, 3), order="F")]),
           "fortran_2d", "Fortran-order 2-D arrays beside the C-order copy (strides, bytes)")

    # -- metadata
    fmeta = [("title", "Données météo"), ("ключ", "значение"), ("json", '{"a": [1, 2.5]}'),
             ("emoji", "🦀 crab"), ("日本語", "テキスト"), ("empty", ""), ("z", "last")]
    shared = [("unit", "°C"), ("source", "station Zürich")]
    arrs = [
        npa("données/température", np.array([20.5, 21.0, -3.25], "<f4"), meta=shared),
        npa("données/pression", np.array([1013, 990], "<i2"), meta=shared),
        npa("no_meta", np.array([1], "|u1")),
        npa("one", np.array([1.0], "<f8"), meta=[("note", "ñ")]),
    ]
    simple(plan(arrs, fmeta), "metadata",
           "file and array metadata with non-ASCII keys and values, an empty value, two "
           "arrays with equal metadata (separate records), non-ASCII array names")

    # -- names and the names table
    names = ["b", "a/b", "ab", "a", "é", "Z", "a b", "~", "tab\there", "a/b/c", "ä", "aa"]
    arrs = [npa(n, np.array([i], "|u1")) for i, n in enumerate(names)]
    simple(plan(arrs), "names",
           "names where byte order matters: prefixes (a < a/b < a/b/c), non-ASCII after "
           "ASCII (unsigned bytes), space, tab; names table far from identity")

    # -- packed beside page-aligned
    big = np.arange(1250, dtype="<f4")  # 5000 bytes: two pages, not packed
    arrs = [
        npa("p0", np.array([1, 2, 3], "<i4")),
        npa("p1", np.arange(300, dtype="<u2")),  # 600 bytes, 3 packed slots
        npa("big", big),
        npa("p2", np.array([b"x"], "|S1")),
        npa("page", np.array([9.0, 8.0], "<f8"), packed=False),
        npa("p3", np.array([-1], "<i8")),
    ]
    simple(plan(arrs), "packed_mixed",
           "packed small arrays before, between and after page-aligned ones; one 2-page array "
           "(described by its XXH3, not its bytes)")

    # -- alignment 65536
    arrs = [
        npa("small", np.array([1, 2], "<u4")),
        npa("page", np.arange(25, dtype="<f4"), packed=False),
        npa("tail", np.array([3], "<u2")),
    ]
    simple(plan(arrs, [("alignment", "65536")], alignment=65536), "align_64k",
           "alignment 65536: page-aligned array at 65536, packed arrays at 256")

    # -- empty file
    simple(plan([]), "empty_file", "no arrays, no metadata: the smallest file (704 bytes)")

    # -- slot B active (generation 2, after a rehash), slot A valid generation 1
    arrs = base_arrays()
    im1 = plan(arrs, [("generation", "1"), ("which", "slot A")])
    im1.slots["A"] = dict(generation=1, state=STATE_STALE)
    buf = serialize(im1)
    im2 = plan(base_arrays(), [("generation", "2"), ("which", "slot B")])
    idx2 = index_bytes(im2)
    off2 = align_up(len(buf), 64)
    buf += bytes(off2 - len(buf)) + idx2
    write_slot(buf, SLOT_B, generation=2, file_size=len(buf), index_offset=off2,
               index_size=len(idx2), index_checksum=xxh(idx2))
    im2.file_size, im2.index_off, im2.index_size = len(buf), off2, len(idx2)
    emit_valid("gen2_slot_b", buf, describe(im2, generation=2),
               "slot B generation 2 (index appended after the generation-1 index, as a rehash "
               "does), slot A valid generation 1 with the stale flag and other metadata: "
               "readers must use B")

    # -- inactive slot damaged
    im = base()
    buf = serialize(im)
    torn = bytearray(pack_slot(generation=2, file_size=len(buf) + 4096,
                               index_offset=len(buf), index_size=400, index_checksum=0))
    torn[100:128] = b"\xde\xad\xbe\xef" * 7  # the tail of the write never landed
    buf[SLOT_B:SLOT_B + 128] = torn
    emit_valid("inactive_b_damaged", buf,
               describe(im, inactive_damaged=1, verify="MMARR_E_CHECKSUM"),
               "slot A valid gen 1, slot B a torn generation-2 write (checksum wrong): must "
               "open with A; verify reports the damaged slot (MMARR_E_CHECKSUM)")

    im = base()
    im.slots = {"A": None, "B": dict(generation=2)}
    buf = serialize(im)
    write_slot(buf, SLOT_A, generation=1, file_size=len(buf), index_offset=64 * 1000,
               index_size=200, index_checksum=12345, checksum=0x0123456789ABCDEF)
    emit_valid("inactive_a_damaged", buf,
               describe(im, generation=2, inactive_damaged=1, verify="MMARR_E_CHECKSUM"),
               "slot B valid gen 2, slot A damaged (checksum wrong, fields nonsense): must "
               "open with B; verify reports the damaged slot (MMARR_E_CHECKSUM)")

    # -- only slot B used
    im = base()
    im.slots = {"A": None, "B": dict(generation=1)}
    simple(im, "slot_b_only", "slot A empty (all zero), slot B valid generation 1")

    # -- both slots valid, same generation, identical
    im = base()
    im.slots = {"A": dict(generation=3), "B": dict(generation=3)}
    simple(im, "slots_identical", "both slots valid, same generation 3, byte-identical",
           generation=3)

    # -- stale checksums
    arrs = base_arrays()
    fresh = arrs[2].data
    changed = bytearray(fresh)
    changed[0:4] = np.array([99.0], "<f4").tobytes()
    arrs[2] = Arr(arrs[2].name, arrs[2].dtype, arrs[2].shape, bytes(changed),
                  meta=arrs[2].meta, checksum=xxh(fresh))
    im = plan(arrs, BASE_META)
    im.slots["A"] = dict(generation=1, state=STATE_STALE)
    simple(im, "checksums_stale",
           "CHECKSUMS_STALE set and 'alpha' changed in place after its checksum was taken: "
           "opens; verify must say MMARR_E_STALE, not MMARR_E_CHECKSUM",
           stale=1, verify="MMARR_E_STALE",
           averify={0: "ok,MMARR_E_STALE", 1: "ok,MMARR_E_STALE", 2: "MMARR_E_STALE"})

    # -- damaged data (checksum mismatch without the stale flag)
    arrs = base_arrays()
    arrs[1] = Arr(arrs[1].name, arrs[1].dtype, arrs[1].shape,
                  arrs[1].data[:-1] + bytes([arrs[1].data[-1] ^ 0x40]),
                  checksum=arrs[1].checksum)
    im = plan(arrs, BASE_META)
    simple(im, "damaged_data",
           "'beta' has one flipped bit and no stale flag: opens (data checksums are checked "
           "on demand, §12); verify must report MMARR_E_CHECKSUM",
           verify="MMARR_E_CHECKSUM", averify={1: "MMARR_E_CHECKSUM"})

    # -- forward compatibility
    im = base()
    im.minor = 7
    im.slots["A"] = dict(generation=1, optional=(1 << 5) | (1 << 63))
    simple(im, "future_minor_optional",
           "format_minor 7 with unknown optional feature bits 5 and 63: must open (§5, §13)",
           features=(0, (1 << 5) | (1 << 63)))

    im = base()
    im.slots["A"] = dict(generation=1, state=1 << 9)
    simple(im, "unknown_state_bit", "unknown state flag bit 9 set: must be ignored (§4.3)")

    im = base()
    im.minor = 1
    im.prologue_reserved = (0xBEEF, 0xCAFEF00D, bytes(range(1, 33)))
    im.slots["A"] = dict(generation=1, reserved=bytes(range(100, 156)))
    im.header_reserved = bytes(range(200, 232))
    for e in im.entries:
        e["reserved"] = bytes(range(0x5A, 0x5A + 5))
    simple(im, "reserved_nonzero",
           "format_minor 1 giving meaning to reserved fields (prologue, slot, index header, "
           "entries all non-zero): readers MUST ignore reserved fields (§2)")

    im = base(paged=True)
    buf = serialize(im)
    gap = b"bytes between padded ranges have no meaning (spec 9.1) "
    buf[768:768 + len(gap)] = gap  # after gamma's padded range [512, 768), before beta at 4096
    buf[4096 - len(gap):4096] = gap
    emit_valid("gap_nonzero", buf, describe(im),
               "non-zero bytes between padded ranges (not padding, not an index): they have "
               "no meaning (§9.1); must open and verify")

    im = base()
    buf = serialize(im)
    buf += b"appended bytes beyond file_size are not part of this generation\n" * 3
    emit_valid("trailing_bytes", buf, describe(im),
               "file longer than the slot's file_size (non-zero trailing bytes): must open")

    gen_ragged_valid()


# --------------------------------------------------------------------------------------------
# Ragged items (format 1.1, spec §7.7)


def ragged_plan(items, extra=(), file_meta=()):
    """An Image of ragged items (each as ragged() returns it) and plain arrays, in the order
    given: a ragged item contributes its values, then its offsets."""
    arrs, recs = [], []
    for it in items:
        if isinstance(it, Arr):
            arrs.append(it)
        else:
            values, offsets, rec = it
            arrs += [values, offsets]
            recs.append(rec)
    return plan(arrs + list(extra), file_meta, ragged=recs)


def tokens_item(name="tokens", **kw):
    """ARRAYS of <f4 rows of 3: items of 2, 0, 3, 0 and 1 rows."""
    lens = [2, 0, 3, 0, 1]
    vals = np.arange(sum(lens) * 3, dtype="<f4") / 4 - 1
    items, at = [], 0
    for n in lens:
        items.append(vals[at * 3:(at + n) * 3])
        at += n
    return ragged(name, items, KIND_ARRAYS, "<f4", inner=(3,), **kw)


def gen_ragged_valid():
    # -- every kind, empty items, zero items, offsets before their values
    tok = tokens_item()
    text_v, text_o, text_r = ragged(
        "text", ["héllo wörld", "", "日本語", "🦀", "nul\x00inside", "ascii"], KIND_UTF8)
    blobs = ragged("blobs", [b"\x00", b"", b"\xff\xfe\x00\x01", b"abc\x00def", b"\xc3"],
                   KIND_BYTES)
    none = ragged("none", [], KIND_ARRAYS, "<i8", inner=(2,))
    arrs = [tok[0], tok[1], npa("plain", np.array([[1, -2], [3, -4]], "<i2")),
            text_o, text_v, blobs[0], blobs[1], none[0], none[1]]
    im = plan(arrs, [("about", "ragged items of spec §7.7")],
              ragged=[tok[2], text_r, blobs[2], none[2]])
    assert [r["values"] for r in im.raggeds] == [0, 4, 5, 7]
    simple(im, "ragged",
           "format 1.1 with 4 ragged items: ARRAYS of <f4 (n,3) rows with empty items, UTF8 "
           "(non-ASCII, empty string, NUL inside; its offsets entry before its values), BYTES "
           "(NUL, 0xFF, a lone 0xC3), ARRAYS with zero items (offsets [0], values (0,2)); "
           "plus a plain array; RAGGED bit set")

    simple(ragged_base(), "ragged_base",
           "base of the ragged invalid vectors: ARRAYS 'seq' <f4 (4,3) (entries 0, 1), plain "
           "'plain' (2), UTF8 'txt' (3, 4), BYTES 'raw' (5, 6)")

    # -- edge cases a reader must accept
    cube = ragged("cube", [np.arange(4).reshape(1, 2, 2), np.zeros((0, 2, 2)),
                           np.arange(16).reshape(4, 2, 2) * 3], KIND_ARRAYS, "<u2",
                  inner=(2, 2), offsets_name="cube index", offsets_kw=dict(packed=False))
    f1d = ragged("f1d", [[1.0], [2.0, 3.0], [], [4.0]], KIND_ARRAYS, "<f8",
                 values_kw=dict(order="F"))
    empties = ragged("empties", ["", "", ""], KIND_UTF8, offsets_name="a/b")
    zero_width = ragged("zero_width", [np.zeros((1, 0)), np.zeros((2, 0))], KIND_ARRAYS, "<f4",
                        inner=(0,))
    im = ragged_plan([npa("first", np.array([7], "|u1")), cube, f1d, empties, zero_width])
    im.raggeds[1]["reserved"] = b"\x01\x02\x03\x04\x05\x06\x07"
    im.header_reserved = bytes(16) + bytes(range(0xA0, 0xB0))
    im.section_gap = {"ragged": 16}
    simple(im, "ragged_edge",
           "ragged items a reader must accept: values (n,2,2) with a page-aligned offsets "
           "entry not named <name>/offsets, 1-d values with the FORTRAN flag (allowed: order "
           "matters only with ndim > 1), a UTF8 item of 3 empty strings over 0 rows, items of 1 "
           "and 2 rows of zero bytes (values (3,0), offsets [0, 1, 3]); a "
           "record with non-zero reserved bytes, non-zero header bytes 176..191, a 16-byte "
           "zero gap between the heap and the ragged section")

    # -- RAGGED set with ragged_count 0: no ragged items, ragged_offset not read (§5, §12.8)
    im = base()
    im.minor = 1
    im.slots["A"]["optional"] = OPT_RAGGED
    im.header_over.update(ragged_offset=0x123457, ragged_count=0)
    simple(im, "ragged_count_zero",
           "RAGGED bit set with ragged_count 0 and a nonsense ragged_offset (not a multiple "
           "of 8, past the index): a count of 0 means no ragged items and the section is not "
           "checked (§5, §12 rule 8)", features=(0, OPT_RAGGED))

    # -- content damage: opens (offsets are data, §7.7, §12); the bad item fails when read
    # or verified, the other items and arrays stay readable.
    ok_text = ragged("names", ["ok", "fine é"], KIND_UTF8)

    def damaged(name, offsets, purpose):
        bad = tokens_item("seq", offsets=offsets)
        im = ragged_plan([bad, ok_text, npa("after", np.array([1.5, 2.5], "<f8"))])
        simple(im, name, purpose + "; opens, ragged_offsets and verify give MMARR_E_CORRUPT "
               "(MMARR_E_CORRUPT for the values of 'seq'), the UTF8 item 'names' and the "
               "plain array stay readable", verify="MMARR_E_CORRUPT")

    damaged("ragged_bad_offsets_start", [1, 2, 2, 5, 5, 6],
            "ARRAYS 'seq' offsets start at 1, not 0 (rows 6): every item is in range itself "
            "(reading it may succeed or fail)")
    damaged("ragged_bad_offsets_decreasing", [0, 2, 5, 2, 5, 6],
            "ARRAYS 'seq' offsets decrease (5 then 2): item 2 [5, 2) must fail, the others "
            "are in range")
    damaged("ragged_bad_offsets_last", [0, 2, 2, 5, 5, 5],
            "ARRAYS 'seq' offsets end at 5, not at the values' 6 rows: every item is in "
            "range")
    damaged("ragged_bad_offsets_past_rows", [0, 2, 2, 2 ** 64 - 1, 5, 6],
            "ARRAYS 'seq' offset 3 is 2^64-1, past the 6 rows (a row count whose byte offset "
            "overflows u64): items 2 and 3 must fail")

    bad_text = ragged("text", ["ok", b"caf\xc3\x28", b"\xc3", b"\xa9", b"\xed\xa0\x80",
                               b"\xc0\xaf", b"\xf4\x90\x80\x80", "a\x00é", ""], KIND_UTF8)
    same_bytes = ragged("bytes", [b"caf\xc3\x28", b"\xc3", b"\xed\xa0\x80"], KIND_BYTES)
    im = ragged_plan([npa("before", np.array([3], "<i4")), same_bytes, bad_text])
    simple(im, "ragged_bad_utf8",
           "UTF8 'text' with items that are not valid UTF-8 (C3 28, a lone C3 and a lone A9 "
           "whose concatenation would be valid, a surrogate, an overlong form, U+110000) "
           "between valid ones (NUL allowed): opens; those items must fail when their text "
           "is read, verify gives MMARR_E_CORRUPT; the BYTES item 'bytes' with the same "
           "bytes is valid", verify="MMARR_E_CORRUPT")


# --------------------------------------------------------------------------------------------
# Files grown by appends (spec.md §4.4): each generation's data after the file's end, then
# its index, published through the other slot.


def fixed(arr, offset):
    """The Arr, kept where an earlier generation placed it."""
    arr.offset = offset
    return arr


def grow(buf, arrays, file_meta, slot, generation):
    """Append a generation listing `arrays` (kept ones carry their offsets; new ones are
    placed after the file's end, and after the frames cold_append placed there) to buf, and
    publish it in `slot`. Returns its Image."""
    cur = max([len(buf)] + [p + len(f) for a in arrays if a.cold and a.layout is not None
                            for p, f in zip(a.frame_offsets(a.offset), a.frames())])
    for a in arrays:  # new arrays: past the end, as §4.4 step 2 says
        if a.offset is None:
            a.offset = align_up(cur, 256 if a.packed else 4096)
            cur = a.offset + a.data_size()
    im = plan(arrays, file_meta)
    # the index starts after every padded range (§9.1; no array's padding holds it) and
    # every extra extent (§7.8)
    end = max(len(buf), im.data_end)
    buf += bytes(end - len(buf))
    for off, d in im.blobs + im.extra:  # kept bytes are written again unchanged
        buf[off:off + len(d)] = d
    idx = index_bytes(im)
    ioff = align_up(len(buf), 64)
    buf += bytes(ioff - len(buf)) + idx
    write_slot(buf, slot, generation=generation, file_size=len(buf), index_offset=ioff,
               index_size=len(idx), index_checksum=xxh(idx),
               required=im.slots["A"].get("required", 0),
               optional=im.slots["A"].get("optional", 0))
    im.file_size, im.index_off, im.index_size = len(buf), ioff, len(idx)
    return im


def gen_grown_valid():
    meta1 = [("day", "1")]
    x = npa("x", np.arange(600, dtype="<i8"), packed=False)  # 4800 bytes: a page of its own
    y = npa("y", np.array([1.5, 2.5], "<f8"))                 # packed
    im1 = plan([x, y], meta1)
    buf = serialize(im1)
    offs1 = {e_arr.name: e["data_offset"] for e_arr, e in zip(im1.arrays, im1.entries)}
    # generation 2: z appended, metadata changed
    z = npa("z", np.arange(12, dtype="<u2").reshape(3, 4), packed=False)
    im2 = grow(buf, [fixed(npa("x", np.arange(600, dtype="<i8"), packed=False), offs1[b"x"]),
                     fixed(npa("y", np.array([1.5, 2.5], "<f8")), offs1[b"y"]), z],
               [("day", "2")], SLOT_B, 2)
    gen2 = bytearray(buf)
    emit_valid("grown_gen2", buf, describe(im2, generation=2),
               "generation 1 (x, y; slot A) grown by an append: z after generation 1's index, "
               "then generation 2's index listing x, y, z, in slot B (spec.md §4.4)")
    # generation 3: x deleted, y replaced (new bytes at the end), w added; slot A again
    offs2 = {a.name: e["data_offset"] for a, e in zip(im2.arrays, im2.entries)}
    im3 = grow(buf, [fixed(npa("z", np.arange(12, dtype="<u2").reshape(3, 4), packed=False),
                           offs2[b"z"]),
                     npa("y", np.array([7.0, 8.0, 9.0], "<f8")),
                     npa("w", np.array([b"abc"], "|S3"), meta=[("unit", "none")])],
               [("day", "3")], SLOT_A, 3)
    emit_valid("grown_gen3", buf, describe(im3, generation=3),
               "three generations: the third deletes x (its bytes stay, dead), replaces y "
               "(new bytes after the second index) and adds w; slot A holds generation 3, "
               "slot B generation 2")
    # the newest generation damaged: readers open generation 2 and verify reports it
    d = bytearray(buf)
    d[im3.index_off + 8] ^= 0x01
    emit_valid("grown_gen3_index_damaged", d, describe(im2, generation=2,
                                                        verify="MMARR_E_CHECKSUM"),
               "generation 3's index has a flipped byte (its checksum fails): readers MUST "
               "open generation 2 (§4.4 rule 5); verify reports generation 3 as damaged "
               "(MMARR_E_CHECKSUM)")
    cut = bytearray(buf[:im3.index_off + 16])
    emit_valid("grown_gen3_tail_cut", cut, describe(im2, generation=2,
                                                     verify="MMARR_E_TRUNCATED"),
               "the file cut short inside generation 3's index (slot A's file_size beyond the "
               "length): readers MUST open generation 2; verify reports MMARR_E_TRUNCATED")
    torn = bytearray(buf)
    torn[SLOT_A + 100:SLOT_A + 128] = b"\xde\xad\xbe\xef" * 7
    emit_valid("grown_gen3_slot_torn", torn,
               describe(im2, generation=2, inactive_damaged=1, verify="MMARR_E_CHECKSUM"),
               "generation 3's slot write torn (slot A's checksum fails): readers open "
               "generation 2 from slot B; verify reports the damaged slot")
    unpublished = bytearray(gen2)
    unpublished += bytes(buf[len(gen2):])  # generation 3's data and index, slot never written
    emit_valid("grown_unpublished", unpublished, describe(im2, generation=2),
               "an append that stopped before its slot write: generation 3's bytes are there "
               "but no slot refers to them; readers open generation 2 and ignore the tail")


def growable_base():
    """A growable array 'g' (1000 x 3 int32 = 12000 bytes in 4 KiB blocks, capacity 5000
    rows) between two plain arrays."""
    return [npa("head", np.arange(5, dtype="<i2")),
            Arr("g", "<i4", (1000, 3), np.arange(3000, dtype="<i4").tobytes(), capacity=5000),
            npa("tail", np.array([1.0, 2.0], "<f8"), packed=False)]


def gen_growable_valid():
    simple(plan(growable_base()), "growable_basic",
           "format 1.2: a growable array (1000 x 3 <i4, capacity 5000 rows, 4 KiB blocks: 3 "
           "block checksums) whose reserved region of 60000 bytes comes before the next "
           "array; its entry checksum is the XXH3 of its block checksums (spec.md §7.8)")
    simple(plan([Arr("e", "<f8", (0, 2), b"", capacity=100)]), "growable_empty",
           "a growable array with no rows yet (block_count 0, capacity 100 rows of 16 bytes)")
    im = plan(growable_base())
    buf = serialize(im)
    at = im.entries[1]["data_offset"]
    buf[at + 5000] ^= 0x10  # in block 1
    emit_valid("growable_block_damaged", buf,
               describe(im, verify="MMARR_E_CHECKSUM", averify={1: "MMARR_E_CHECKSUM"},
                        data_override={1: bytes(buf[at:at + 12000])}),
               "growable_basic with a flipped byte in block 1 of 'g': opens; verify of 'g' "
               "fails (MMARR_E_CHECKSUM)")
    # rows appended in a second generation: the same region, more rows, more blocks
    im1 = plan(growable_base())
    buf = serialize(im1)
    offs = [e["data_offset"] for e in im1.entries]
    more = np.arange(3000 + 2100 * 3, dtype="<i4")  # 1000 + 2100 rows
    kept = [fixed(npa("head", np.arange(5, dtype="<i2")), offs[0]),
            fixed(Arr("g", "<i4", (3100, 3), more.tobytes(), capacity=5000), offs[1]),
            fixed(npa("tail", np.array([1.0, 2.0], "<f8"), packed=False), offs[2])]
    im2 = grow(buf, kept, [], SLOT_B, 2)
    emit_valid("growable_grown", buf, describe(im2, generation=2),
               "growable_basic, then 2100 rows appended in place in a second generation "
               "(slot B): 'g' has 3100 rows and 10 block checksums; its first 12000 bytes and "
               "the other arrays did not move")


# --------------------------------------------------------------------------------------------
# Cold growable arrays (format 1.2, spec §7.8): chunks appended after the file's end, in
# extents


def padded_range(a):
    """[data_offset, end of the padded range) of a placed Arr (§9.1)."""
    return a.offset, align_up(a.offset + a.data_size(), PACKED_ALIGN if a.packed else 4096)


def cold_append(prev, rows, at, others):
    """Cold growable Arr `prev` (placed: its offset, and its layout if any, as the generation
    before lists it) with `rows` rows of cold_rows appended (§7.8): its full chunks stay where
    they are; its last chunk, if not full, and the new rows become new chunks whose frames lie
    one after the other from `at` (the file's end) on. When no padded range of `others` (the
    other arrays of the new generation, placed) lies between the end of its last extent and
    `at`, that extent is extended over them (the SHOULD of §7.8; the first extent through
    data_size), else they form a new extra extent."""
    n0 = prev.shape[0]
    new = Arr(prev.name, prev.dtype, (n0 + rows,) + prev.shape[1:],
              prev.data + cold_rows(n0, n0 + rows), chunk_size=prev.chunk_size,
              shuffle=prev.filter == FILTER_SHUFFLE, level=prev.level, capacity=prev.capacity,
              packed=prev.packed)
    new.offset = prev.offset
    keep = len(prev.data) // prev.chunk_size  # its full chunks
    assert new.frames()[:keep] == prev.frames()[:keep]
    offsets = prev.frame_offsets(prev.offset)[:keep]
    p = at
    for f in new.frames()[keep:]:
        offsets.append(p)
        p += len(f)
    data_size, extents = prev.data_size(), prev.extents()
    last_end = extents[-1][0] + extents[-1][1] if extents else prev.offset + data_size
    between = [o for o in others if o is not prev
               and padded_range(o)[0] < at and padded_range(o)[1] > last_end]
    if between:
        extents.append((at, p - at))
    elif extents:
        extents[-1] = (extents[-1][0], p - extents[-1][0])
    else:
        data_size = p - prev.offset
    new.layout = dict(data_size=data_size, at=offsets, extents=extents)
    return new


def cold_plain_arrays():
    """Plain cold arrays (§10) beside a hot one: 'ints' (550 x 2 <i4, shuffled chunks of 1002
    raw bytes, so each ends in 2 bytes the shuffle leaves in place; page-aligned), 'hot',
    'floats' (40 <f8, unshuffled chunks of 256: 2 frames; packed), 'none' (empty: no chunk)."""
    return [Arr("ints", "<i4", (550, 2), cold_rows(0, 550), chunk_size=1002, shuffle=True,
                level=3, packed=False),
            npa("hot", np.array([7, 8, 9], "<u2")),
            Arr("floats", "<f8", (40,), (np.arange(40) / 8 - 2).astype("<f8").tobytes(),
                chunk_size=256),
            Arr("none", "<i8", (0, 4), b"", chunk_size=64, shuffle=True)]


def gen_cold_growable_valid():
    # -- plain cold arrays first: the chunk lines of the descriptions, on the arrays of §10
    im = plan(cold_plain_arrays())
    buf = serialize(im)
    emit_valid("cold_basic", buf, describe(im),
               "cold arrays (§10, COLD_ZSTD): <i4 (550, 2) in 5 byte-shuffled chunks of 1002 "
               "raw bytes (each ends in 2 bytes the shuffle leaves in place), <f8 (40,) in 2 "
               "unshuffled chunks, an empty one with no chunk; zstd frames of raw and RLE "
               "blocks; each checksum is the XXH3 of the raw bytes")
    chunk = im.coldinfo[0]["chunks"][3]
    buf[chunk["offset"] + zstd_first_raw_byte(im.arrays[0].frames()[3])] ^= 0x01
    emit_valid("cold_chunk_damaged", buf,
               describe(im, verify="MMARR_E_CHECKSUM", averify={0: "MMARR_E_CHECKSUM"},
                        chunk_read={0: {3: "MMARR_E_CHECKSUM"}}),
               "cold_basic with a flipped byte in a raw block of frame 3 of 'ints' (the "
               "frame still decodes, to bytes its chunk checksum does not match): opens; "
               "reading chunk 3 and verifying 'ints' give MMARR_E_CHECKSUM")

    im1 = plan(cold_growable_arrays())
    buf = serialize(im1)
    emit_valid("growable_cold_basic", buf, describe(im1),
               "format 1.2: a cold growable array 'c' (300 x 2 <i4, capacity 1000 rows, "
               "byte-shuffled chunks of 1000 raw bytes: 3 zstd frames of raw and RLE blocks, "
               "one after the other in its first extent, no extra extent: block_shift 0, "
               "block_count 0) between two hot arrays; its entry checksum is the XXH3 of its "
               "3 chunk checksums (spec.md §7.8)")

    d = bytearray(buf)
    chunk = im1.coldinfo[1]["chunks"][1]
    d[chunk["offset"] + zstd_first_raw_byte(im1.arrays[1].frames()[1])] ^= 0x01
    emit_valid("growable_cold_chunk_damaged", d,
               describe(im1, verify="MMARR_E_CHECKSUM", averify={1: "MMARR_E_CHECKSUM"},
                        chunk_read={1: {1: "MMARR_E_CHECKSUM"}}),
               "growable_cold_basic with a flipped byte in a raw block of frame 1 of 'c' (the "
               "frame still decodes, to bytes its chunk checksum does not match): opens; "
               "reading chunk 1 and verifying 'c' give MMARR_E_CHECKSUM, chunks 0 and 2 read")

    im = plan([Arr("e", "<f8", (0, 3), b"", chunk_size=4096, capacity=100),
               npa("after", np.array([1, 2, 3], "<i4"))])
    simple(im, "growable_cold_empty",
           "a cold growable array with no rows yet (shape (0, 3), capacity 100, chunk_count "
           "0, data_size 0, no extra extent): its checksum is the XXH3 of empty input")

    # -- appends: the file of growable_cold_basic grown by three generations
    offs = [e["data_offset"] for e in im1.entries]
    head, c, tail = cold_growable_arrays()
    head.offset, c.offset, tail.offset = offs
    n = Arr("n", "<f8", (40,), (np.arange(40) / 8 - 2).astype("<f8").tobytes(), chunk_size=256)
    c2 = cold_append(c, 250, len(buf), [head, tail])  # tail lies between: extra extent E1
    assert len(c2.extents()) == 1
    im2 = grow(buf, [head, c2, tail, n], [], SLOT_B, 2)
    emit_valid("growable_cold_grown_gen2", buf, describe(im2, generation=2),
               "growable_cold_basic grown by 250 rows of 'c' in generation 2 (slot B): chunks "
               "0-1 stay in its first extent, the old last chunk (400 bytes, its frame now "
               "dead there) re-encoded with the new rows as chunks 2-4 in an extra extent "
               "right after generation 1's index (not aligned); then a new plain cold array "
               "'n' (2 unshuffled chunks, checksum of its raw bytes) after that extent")
    c3 = cold_append(c2, 100, len(buf), [head, tail, n])  # n lies between: extra extent E2
    assert len(c3.extents()) == 2
    im3 = grow(buf, [head, c3, tail, n], [], SLOT_A, 3)
    c4 = cold_append(c3, 150, len(buf), [head, tail, n])  # only an old index: E2 extended
    assert len(c4.extents()) == 2 and c4.extents()[0] == c3.extents()[0]
    assert im3.index_off > c4.extents()[1][0]
    im4 = grow(buf, [head, c4, tail, n], [], SLOT_B, 4)
    emit_valid("growable_cold_grown", buf, describe(im4, generation=4),
               "growable_cold_grown_gen2 appended to twice more: generation 3 adds 100 rows "
               "of 'c' (its last chunk re-encoded) in a second extra extent, as 'n' lies "
               "between the first and the file's end; generation 4 (slot B; slot A holds 3) "
               "adds 150 rows and extends that second extent over generation 3's index and "
               "its new frames: 'c' has 800 rows in 7 chunks, in its first extent and two "
               "extra extents that hold dead frames and an old index (spec.md §7.8)")

    # -- the first extent extended: nothing but the old index after the array
    im1 = plan(cold_growable_arrays()[:2])
    buf = serialize(im1)
    head, c = cold_growable_arrays()[:2]
    head.offset, c.offset = [e["data_offset"] for e in im1.entries]
    c2 = cold_append(c, 250, len(buf), [head])
    assert c2.extents() == [] and c2.data_size() > c.data_size()
    im2 = grow(buf, [head, c2], [], SLOT_B, 2)
    emit_valid("growable_cold_grown_first_extent", buf, describe(im2, generation=2),
               "'head' and a cold growable 'c' (300 rows) last in generation 1, then 250 rows "
               "appended in generation 2 (slot B): nothing but generation 1's index between "
               "c's data and the new frames, so its first extent grows (data_size covers its "
               "padding, the old index and the dead old last frame); no extra extent")

    im, _ = cold_extents_image()
    simple(im, "growable_cold_extents",
           "base of the growable_cold_* extent vectors, laid out by hand: 'c' (550 x 2 <i4, "
           "packed, chunks of 1002 raw bytes: shuffled chunks end in 2 bytes left in place) "
           "with frames 0-1 in its first extent, 2-3 in an extra extent 100 bytes after its "
           "padded range, 4 in a second one after the index, which lies between the hot "
           "array 'n' and that extent; generation 2 alone in slot A", generation=2)


# --------------------------------------------------------------------------------------------


def main():
    gen_valid()
    gen_grown_valid()
    gen_growable_valid()
    gen_cold_growable_valid()
    gen_invalid()
    lines = ["%s\t%s\t%s\n" % m for m in MANIFEST]
    for rel, _, purpose in MANIFEST:
        assert "\t" not in purpose and "\n" not in purpose, rel
    write("MANIFEST", "".join(lines).encode("utf-8"))
    # Remove outputs of earlier runs that this run did not produce.
    for sub in ("valid", "invalid"):
        d = os.path.join(OUT, sub)
        for fn in sorted(os.listdir(d)):
            if os.path.join(sub, fn) not in WRITTEN:
                os.remove(os.path.join(d, fn))
    nvalid = sum(1 for m in MANIFEST if m[1] == "ok")
    print("gen_golden: %d valid, %d invalid vectors" % (nvalid, len(MANIFEST) - nvalid))


if __name__ == "__main__":
    main()
