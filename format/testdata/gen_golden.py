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
                         and the raw data as hex, or its XXH3-64 for larger arrays)
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
  index <index_offset> <index_size>
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
    offset <data_offset>
    stored <data_size>
    checksum <16 hex digits>              (as recorded in the entry)
    data <hex or ->                       (raw bytes, arrays up to 1024 bytes; else absent)
    xxh3 <16 hex digits>                  (XXH3-64 of the bytes actually in the file)
    averify <ok|MMARR_E_...>[,<...>]      (what mmarr_file_verify_array returns; a comma
                                          list when the spec allows either)
    meta <key> <value>                    (zero or more, sorted by key)
    end

Run:  /usr/bin/python3 format/testdata/gen_golden.py
"""

import ast
import json
import os
import struct

import numpy as np
import xxhash

OUT = os.path.dirname(os.path.abspath(__file__))

# --------------------------------------------------------------------------------------------
# Format constants (spec.md)

MAGIC = b"\x89MMARR\r\n\x1a\n"  # §4.1
NONE32 = 0xFFFFFFFF
ENTRY_FORTRAN = 1  # §7.2
ENTRY_PACKED = 2
STATE_STALE = 1  # §4.3
SLOT_A, SLOT_B = 64, 192  # §4.2
PACKED_ALIGN = 256  # §9.1
DATA_HEX_MAX = 1024  # arrays up to this size carry their bytes in the description

PROLOGUE = struct.Struct("<10sHHHII32sQ")  # §4.1
SLOT = struct.Struct("<8Q56sQ")  # §4.2
HEADER = struct.Struct("<8s18QII32s")  # §7.1
ENTRY = struct.Struct("<QQQ4I3B5s")  # §7.2
AMETA = struct.Struct("<3I")  # §7.4
NAME = struct.Struct("<2I")  # §7.6
DTYPE = struct.Struct("<II")  # §7.3
META = struct.Struct("<4I")  # §7.4
COLD = struct.Struct("<QIIBBHiQ")  # §10.1
CHUNK = struct.Struct("<QIIQ")  # §10.2
U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")
assert (PROLOGUE.size, SLOT.size, HEADER.size, ENTRY.size, AMETA.size) == (64, 128, 192, 48, 12)
assert (DTYPE.size, META.size, COLD.size, CHUNK.size, NAME.size) == (8, 16, 32, 24, 8)

SECTIONS = ["entries", "order", "names", "dtypes", "dims", "meta", "ameta", "cold", "chunks",
            "heap"]  # §7.1


def xxh(data):
    """XXH3-64, seed 0 (§11.1)."""
    return xxhash.xxh3_64_intdigest(bytes(data))


def hex16(v):
    return "%016x" % v


def align_up(x, a):
    return (x + a - 1) // a * a


def zstd_raw_frame(raw):
    """One zstd frame (RFC 8878) holding `raw` (< 256 bytes) in a single raw block, with the
    content size declared in a 1-byte single-segment field."""
    assert len(raw) < 256
    return (struct.pack("<IBB", 0xFD2FB528, 0x20, len(raw))
            + struct.pack("<I", 1 | (len(raw) << 3))[:3] + raw)


def u8(s):
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


# --------------------------------------------------------------------------------------------
# Dtypes: facts about canonical dtype text (§8), used for descriptions only.

ML_DTYPES = {"bfloat16": 2, "float8_e4m3fn": 1, "float8_e5m2": 1}


def np_dtype(text):
    if text.startswith("["):
        return np.lib.format.descr_to_dtype(ast.literal_eval(text))
    return np.dtype(text)


def canonical(dt):
    """numpy's canonical text for a dtype (§8)."""
    return str(dt.descr) if dt.names is not None else dt.str


def dtype_facts(text):
    """(itemsize, kind, byteorder, timeunit, fields) for a canonical dtype text."""
    if text in ML_DTYPES:
        return ML_DTYPES[text], "f", "?", None, None
    dt = np_dtype(text)
    assert canonical(dt) == text, (text, canonical(dt))
    if dt.names is not None:
        fields = []
        off = 0
        for item in ast.literal_eval(text):
            fname, sub = item[0], item[1]
            shape = tuple(item[2]) if len(item) > 2 else ()
            subtext = sub if isinstance(sub, str) else str(sub)
            fields.append((fname, off, subtext, shape))
            off += np_dtype(subtext).itemsize * int(np.prod(shape, dtype=np.int64))
        assert off == dt.itemsize
        return dt.itemsize, "T", "|", None, fields
    unit = None
    if dt.kind in "Mm":
        u, count = np.datetime_data(dt)
        unit = ("" if u == "generic" else u, count)
    return dt.itemsize, dt.kind, text[0], unit, None


# --------------------------------------------------------------------------------------------
# The logical content of a file


class Arr:
    """One array as a writer would be asked to store it."""

    def __init__(self, name, dtype, shape, data, order="C", packed=None, meta=(),
                 checksum=None, itemsize=None, sort_meta=True):
        self.name = u8(name)
        self.dtype = dtype
        self.shape = tuple(int(d) for d in shape)
        self.data = bytes(data)
        self.order = order
        # The reference writer packs arrays under 2048 bytes (§9.2); do the same by default.
        self.packed = len(self.data) < 2048 if packed is None else packed
        pairs = [(u8(k), u8(v)) for k, v in meta]
        self.meta = sorted(pairs) if sort_meta else pairs
        self.checksum = xxh(self.data) if checksum is None else checksum
        self.itemsize = itemsize
        self.offset = None  # forced data_offset (invalid vectors only)


def npa(name, arr, order="C", **kw):
    """An Arr from a numpy array, stored in the given element order."""
    arr = np.asarray(arr)
    return Arr(name, canonical(arr.dtype), arr.shape, arr.tobytes(order=order), order=order,
               **kw)


class Heap:
    """§7.5: NUL-terminated strings, each distinct string stored once."""

    def __init__(self):
        self.buf = bytearray()
        self.seen = {}

    def add(self, s):
        s = bytes(s)
        if s not in self.seen:
            self.seen[s] = (len(self.buf), len(s))
            self.buf += s + b"\0"
        return self.seen[s]


class Image:
    """Every field of a file before serialisation; invalid vectors edit it."""


def plan(arrays, file_meta=(), alignment=4096, sort_file_meta=True, share_meta=False):
    im = Image()
    im.arrays = arrays
    im.alignment = alignment
    im.major, im.minor = 1, 0
    im.prologue_reserved = (0, 0, bytes(32))
    im.magic = MAGIC
    heap = Heap()
    metas = []
    groups = {}
    # Names go first in the heap, in name order, as writers lay them out (§7.5, §7.6).
    order = sorted(range(len(arrays)), key=lambda i: arrays[i].name)
    rank = {i: k for k, i in enumerate(order)}
    name_ref = {i: heap.add(arrays[i].name) for i in order}

    def group(pairs):
        if not pairs:
            return 0, 0
        # Each group gets its own records: the counts of all groups add up to at most
        # meta_count (§7.4). share_meta (invalid vectors only) reuses identical groups.
        key = tuple(pairs) if share_meta else len(metas)
        if key not in groups:
            groups[key] = (len(metas), len(pairs))
            for k, v in pairs:
                metas.append(heap.add(k) + heap.add(v))
        return groups[key]

    fpairs = [(u8(k), u8(v)) for k, v in file_meta]
    im.file_meta = sorted(fpairs) if sort_file_meta else fpairs
    im.file_meta_first, im.file_meta_count = group(im.file_meta)

    dtypes, dtype_ids, dims, entries, blobs, ameta = [], {}, [], [], [], []
    cur = 512
    for a in arrays:
        al = PACKED_ALIGN if a.packed else alignment
        off = a.offset if a.offset is not None else align_up(cur, al)
        cur = max(cur, align_up(off + len(a.data), al))
        blobs.append((off, a.data))
        if a.dtype not in dtype_ids:
            dtype_ids[a.dtype] = len(dtypes)
            dtypes.append(heap.add(u8(a.dtype)))
        mfirst, mcount = group(a.meta)
        if mcount:
            ameta.append(dict(entry=len(entries), meta_first=mfirst, meta_count=mcount))
        entries.append(dict(
            data_offset=off, data_size=len(a.data), checksum=a.checksum,
            name_rank=rank[len(entries)], dtype_id=dtype_ids[a.dtype],
            dims_first=len(dims), cold_id=NONE32,
            ndim=len(a.shape), storage=0,
            flags=(ENTRY_FORTRAN if a.order == "F" else 0) | (ENTRY_PACKED if a.packed else 0),
            reserved=bytes(5)))
        dims.extend(a.shape)
    im.entries, im.blobs, im.dtypes, im.dims, im.metas = entries, blobs, dtypes, dims, metas
    im.ameta = ameta
    im.heap = heap.buf
    im.colds, im.chunks = [], []
    im.names = [dict(entry=i, name_offset=name_ref[i][0], name_size=name_ref[i][1])
                for i in order]  # §7.6
    im.data_end = cur
    im.index_shift = 0
    im.index_offset = None
    im.section_order = list(SECTIONS)
    im.section_gap = {}
    im.header_over = {}
    im.header_reserved = bytes(32)
    im.index_magic = b"MMARRIDX"
    im.slots = {"A": dict(generation=1), "B": None}
    return im


def index_bytes(im):
    """§7: the index region for an Image."""
    content = {
        "entries": b"".join(ENTRY.pack(
            e["data_offset"], e["data_size"], e["checksum"], e["name_rank"], e["dtype_id"],
            e["dims_first"], e["cold_id"], e["ndim"], e["storage"], e["flags"],
            e["reserved"])
            for e in im.entries),
        "order": b"".join(U32.pack(r["entry"]) for r in im.names),
        "names": b"".join(NAME.pack(r["name_offset"], r["name_size"]) for r in im.names),
        "dtypes": b"".join(DTYPE.pack(*d) for d in im.dtypes),
        "dims": b"".join(U64.pack(d) for d in im.dims),
        "meta": b"".join(META.pack(*m) for m in im.metas),
        "ameta": b"".join(AMETA.pack(g["entry"], g["meta_first"], g["meta_count"])
                          for g in im.ameta),
        "cold": b"".join(COLD.pack(*d) for d in im.colds),
        "chunks": b"".join(CHUNK.pack(*d) for d in im.chunks),
        "heap": bytes(im.heap),
    }
    pos = HEADER.size
    offs = {}
    for name in im.section_order:
        pos = align_up(pos, 8) + im.section_gap.get(name, 0)
        offs[name] = pos
        pos += len(content[name])
    buf = bytearray(pos)
    for name in SECTIONS:
        buf[offs[name]:offs[name] + len(content[name])] = content[name]
    h = dict(entry_count=len(im.entries), entries_offset=offs["entries"],
             order_offset=offs["order"], names_offset=offs["names"], dtypes_offset=offs["dtypes"],
             dtype_count=len(im.dtypes), dims_offset=offs["dims"], dim_count=len(im.dims),
             meta_offset=offs["meta"], meta_count=len(im.metas),
             ameta_offset=offs["ameta"], ameta_count=len(im.ameta), cold_offset=offs["cold"],
             cold_count=len(im.colds), chunks_offset=offs["chunks"],
             chunk_count=len(im.chunks),
             heap_offset=offs["heap"], heap_size=len(im.heap),
             file_meta_first=im.file_meta_first, file_meta_count=im.file_meta_count)
    for k, v in im.header_over.items():
        assert k in h, k
        h[k] = v
    buf[0:HEADER.size] = HEADER.pack(
        im.index_magic, h["entry_count"], h["entries_offset"], h["order_offset"],
        h["names_offset"],
        h["dtypes_offset"], h["dtype_count"], h["dims_offset"], h["dim_count"],
        h["meta_offset"], h["meta_count"], h["ameta_offset"], h["ameta_count"],
        h["cold_offset"], h["cold_count"],
        h["chunks_offset"], h["chunk_count"], h["heap_offset"], h["heap_size"],
        h["file_meta_first"], h["file_meta_count"], im.header_reserved)
    return bytes(buf)


def pack_slot(generation, file_size, index_offset, index_size, index_checksum,
              required=0, optional=0, state=0, reserved=bytes(56), checksum=None):
    body = SLOT.pack(generation, file_size, index_offset, index_size, index_checksum,
                     required, optional, state, reserved, 0)[:120]
    return body + U64.pack(xxh(body) if checksum is None else checksum)


def write_slot(buf, at, **fields):
    buf[at:at + 128] = pack_slot(**fields)


def read_slot(buf, at):
    v = SLOT.unpack(bytes(buf[at:at + 128]))
    names = ["generation", "file_size", "index_offset", "index_size", "index_checksum",
             "required", "optional", "state", "reserved"]
    return dict(zip(names, v))  # without the checksum: pack_slot recomputes it


def fix_slot(buf, at):
    """Recompute a slot's checksum after editing it in place."""
    buf[at + 120:at + 128] = U64.pack(xxh(buf[at:at + 120]))


def fix_prologue(buf):
    buf[56:64] = U64.pack(xxh(buf[0:56]))


def serialize(im):
    """Bytes of the file described by an Image (generation in slot A unless told)."""
    idx = index_bytes(im)
    ioff = im.index_offset
    if ioff is None:
        ioff = align_up(im.data_end, 64) + im.index_shift
    file_size = ioff + len(idx)
    buf = bytearray(file_size)
    for off, data in im.blobs:
        if off is not None and 512 <= off and off + len(data) <= ioff:
            buf[off:off + len(data)] = data
    buf[ioff:ioff + len(idx)] = idx
    r0, r1, r2 = im.prologue_reserved
    buf[0:64] = PROLOGUE.pack(im.magic, im.major, im.minor, r0, im.alignment, r1, r2, 0)
    fix_prologue(buf)
    for name, at in (("A", SLOT_A), ("B", SLOT_B)):
        s = im.slots[name]
        if s is None:
            continue
        fields = dict(file_size=file_size, index_offset=ioff, index_size=len(idx),
                      index_checksum=xxh(idx))
        fields.update(s)
        write_slot(buf, at, **fields)
    im.file_size, im.index_off, im.index_size = file_size, ioff, len(idx)
    return buf


# --------------------------------------------------------------------------------------------
# Descriptions of valid files (.json and .expect)


def hx(b):
    return b.hex() if b else "-"


def strides_for(shape, itemsize, order):
    st = [0] * len(shape)
    acc = itemsize
    dims = range(len(shape) - 1, -1, -1) if order == "C" else range(len(shape))
    for i in dims:
        st[i] = acc
        acc *= shape[i]
    return st


def describe(im, *, generation=1, file_size=None, index=None, features=(0, 0), stale=0,
             inactive_damaged=0, verify="ok", averify=None, data_override=None):
    """JSON object and .expect lines for a valid file whose active index is `im`."""
    file_size = im.file_size if file_size is None else file_size
    index = (im.index_off, im.index_size) if index is None else index
    averify = averify or {}
    data_override = data_override or {}
    j = {
        "format_major": im.major, "format_minor": im.minor, "alignment": im.alignment,
        "generation": generation, "file_size": file_size,
        "index_offset": index[0], "index_size": index[1],
        "required_features": features[0], "optional_features": features[1],
        "checksums_stale": bool(stale), "inactive_slot_damaged": bool(inactive_damaged),
        "verify": verify,
        "metadata": {k.decode(): v.decode() for k, v in im.file_meta},
        "arrays": [],
    }
    x = ["mmarr-expect 1", "format %d %d" % (im.major, im.minor), "alignment %d" % im.alignment,
         "generation %d" % generation, "file_size %d" % file_size,
         "index %d %d" % index, "features %d %d" % features, "stale %d" % stale,
         "inactive_damaged %d" % inactive_damaged, "verify %s" % verify]
    for k, v in im.file_meta:
        x.append("fmeta %s %s" % (hx(k), hx(v)))
    x.append("arrays %d" % len(im.arrays))
    for i, (a, e) in enumerate(zip(im.arrays, im.entries)):
        itemsize, kind, border, unit, fields = dtype_facts(a.dtype)
        nitems = int(np.prod(a.shape, dtype=object)) if a.shape else 1
        assert itemsize * nitems == len(a.data), (a.name, a.dtype)
        data = data_override.get(i, a.data)
        ja = {"name": a.name.decode(), "dtype": a.dtype, "shape": list(a.shape),
              "order": a.order, "packed": a.packed, "offset": e["data_offset"],
              "checksum": hex16(a.checksum),
              "metadata": {k.decode(): v.decode() for k, v in a.meta}}
        if len(data) <= DATA_HEX_MAX:
            ja["data"] = data.hex()
        else:
            ja["data_xxh3"] = hex16(xxh(data))
        j["arrays"].append(ja)
        x.append("array %s" % hx(a.name))
        x.append("dtype %s %s %d %s" % (hx(u8(a.dtype)), kind, itemsize, border))
        if unit is not None:
            x.append("timeunit %s %d" % (hx(u8(unit[0])), unit[1]))
        if fields is not None:
            x.append("nfields %d" % len(fields))
            for fname, foff, ftext, fshape in fields:
                x.append("field %s %d %s %d%s" % (hx(u8(fname)), foff, hx(u8(ftext)),
                                                 len(fshape),
                                                 "".join(" %d" % d for d in fshape)))
        x.append("shape %d%s" % (len(a.shape), "".join(" %d" % d for d in a.shape)))
        if nitems > 0:
            st = strides_for(a.shape, itemsize, a.order)
            x.append("strides %d%s" % (len(st), "".join(" %d" % s for s in st)))
        x.append("order %s" % a.order)
        x.append("packed %d" % int(a.packed))
        x.append("offset %d" % e["data_offset"])
        x.append("stored %d" % e["data_size"])
        x.append("checksum %s" % hex16(a.checksum))
        if len(data) <= DATA_HEX_MAX:
            x.append("data %s" % hx(data))
        x.append("xxh3 %s" % hex16(xxh(data)))
        x.append("averify %s" % averify.get(i, "ok"))
        for k, v in a.meta:
            x.append("meta %s %s" % (hx(k), hx(v)))
        x.append("end")
    return j, "\n".join(x) + "\n"


# --------------------------------------------------------------------------------------------
# Output


MANIFEST = []
WRITTEN = set()


def write(rel, data):
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fp:
        fp.write(bytes(data))
    WRITTEN.add(rel)


def emit_valid(name, buf, desc, purpose):
    j, x = desc
    rel = "valid/%s.mmarr" % name
    write(rel, buf)
    write("valid/%s.json" % name,
          (json.dumps(j, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
    write("valid/%s.expect" % name, x.encode("ascii"))
    MANIFEST.append((rel, "ok", purpose))


def emit_invalid(name, buf, expect, purpose):
    rel = "invalid/%s.mmarr" % name
    write(rel, buf)
    MANIFEST.append((rel, expect, purpose))


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


def base_arrays(paged=False):
    """The file most invalid vectors start from (entry order != name order)."""
    return [
        npa("gamma", np.array([b"hello", b"world!"], "|S6"), meta=[("b", "2"), ("a", "1")]),
        npa("beta", np.arange(6, dtype="<i8").reshape(2, 3) - 2,
            packed=False if paged else None),
        npa("alpha", np.array([1.5, -2.0, 3.25, 4.0], "<f4"), meta=[("unit", "m")]),
    ]


BASE_META = [("creator", "gen_golden.py"), ("title", "base")]


def base(paged=False):
    return plan(base_arrays(paged), BASE_META)


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


# --------------------------------------------------------------------------------------------
# Invalid vectors


def structural(name, expect, purpose, edit, paged=False):
    """An invalid vector made by editing the Image; all checksums are recomputed."""
    im = base(paged)
    edit(im)
    emit_invalid(name, serialize(im), expect, purpose + " (checksums recomputed)")


def with_arrays(name, expect, purpose, edit_arrays, file_meta=None, sort_file_meta=True):
    arrs = base_arrays()
    edit_arrays(arrs)
    im = plan(arrs, BASE_META if file_meta is None else file_meta,
              sort_file_meta=sort_file_meta)
    emit_invalid(name, serialize(im), expect, purpose + " (checksums recomputed)")


def patched(name, expect, purpose, edit, paged=False):
    """An invalid vector made by editing the bytes of a valid base file."""
    buf = serialize(base(paged))
    out = edit(buf)
    emit_invalid(name, buf if out is None else out, expect, purpose)


def set_u(buf, at, fmt, value):
    struct.pack_into(fmt, buf, at, value)


def gen_invalid():
    C, CK = "MMARR_E_CORRUPT", "MMARR_E_CHECKSUM"

    # ---- prologue (§4.1, §12.1)
    def bad_magic(buf):
        buf[5] = ord("S")
        fix_prologue(buf)
    patched("magic_bad", "MMARR_E_BADMAGIC",
            "base_small with magic \\x89MMARS...; prologue checksum recomputed", bad_magic)

    def magic_7bit(buf):
        buf[0] = 0x09
        fix_prologue(buf)
    patched("magic_7bit", "MMARR_E_BADMAGIC",
            "first magic byte 0x89 -> 0x09 (7-bit transfer); prologue checksum recomputed",
            magic_7bit)

    def lf_to_crlf(buf):
        out = bytearray()
        prev = 0
        for c in buf:
            if c == 0x0A and prev != 0x0D:
                out.append(0x0D)
            out.append(c)
            prev = c
        return out
    patched("magic_lf_to_crlf", "MMARR_E_BADMAGIC",
            "base_small after unix2dos (every lone LF became CRLF, magic included)", lf_to_crlf)

    patched("magic_crlf_to_lf", "MMARR_E_BADMAGIC",
            "base_small after dos2unix (every CRLF became LF, magic included)",
            lambda buf: bytearray(bytes(buf).replace(b"\r\n", b"\n")))

    emit_invalid("not_mmarr", (b"This is a text file, not an mmarr file.\n" * 16)[:640],
                 "MMARR_E_BADMAGIC", "640 bytes of ASCII text")

    def prologue_sum(buf):
        buf[56] ^= 0x01
    patched("prologue_checksum", CK, "prologue checksum off by one bit", prologue_sum)

    def reserved_flip(buf):
        buf[30] ^= 0x10
    patched("prologue_reserved_damaged", CK,
            "one bit flipped in the prologue's reserved bytes, checksum not updated "
            "(the prologue checksum covers reserved bytes too)", reserved_flip)

    for major in (2, 0):
        def set_major(buf, major=major):
            set_u(buf, 10, "<H", major)
            fix_prologue(buf)
        patched("format_major_%d" % major, "MMARR_E_VERSION",
                "format_major %d; prologue checksum recomputed" % major, set_major)

    for name, al, why in (("alignment_not_pow2", 6144, "not a power of two"),
                          ("alignment_too_small", 2048, "power of two below 4096"),
                          ("alignment_too_big", 4 << 20, "4 MiB, above 2 MiB"),
                          ("alignment_zero", 0, "zero")):
        def set_al(buf, al=al):
            set_u(buf, 16, "<I", al)
            fix_prologue(buf)
        patched(name, C, "alignment %d (%s); prologue checksum recomputed" % (al, why), set_al)

    # ---- slots (§4.2, §12.2)
    def a_damaged(buf):
        buf[SLOT_A + 8] ^= 0x01
    patched("slot_a_damaged_b_empty", C,
            "slot A's file_size has a flipped bit (slot checksum wrong), slot B empty: no "
            "valid slot (§4.2 'the file is corrupt')", a_damaged)

    def both_damaged(buf):
        s = read_slot(buf, SLOT_A)
        s["generation"] = 2
        buf[SLOT_B:SLOT_B + 128] = pack_slot(**s)
        buf[SLOT_A + 8] ^= 0x01
        buf[SLOT_B + 127] ^= 0x80
    patched("slots_both_damaged", C,
            "slot A and slot B (a gen-2 copy) both have wrong checksums: no valid slot",
            both_damaged)

    def both_empty(buf):
        buf[SLOT_A:SLOT_A + 128] = bytes(128)
    patched("slots_both_empty", C, "both slots all zero: no valid slot", both_empty)

    def gen_zero(buf):
        set_u(buf, SLOT_A, "<Q", 0)
        fix_slot(buf, SLOT_A)
    patched("slot_generation_zero", C,
            "the only used slot has generation 0 (must be >= 1) with a matching checksum",
            gen_zero)

    def same_gen(buf):
        s = read_slot(buf, SLOT_A)
        s["optional"] = 1 << 4
        buf[SLOT_B:SLOT_B + 128] = pack_slot(**s)
    patched("slots_same_generation_differ", C,
            "both slots valid with generation 1 but not byte-identical (B sets an optional "
            "bit)", same_gen)

    def idx_sum(buf):
        s = read_slot(buf, SLOT_A)
        s["index_checksum"] ^= 1 << 17
        write_slot(buf, SLOT_A, **s)
    patched("index_checksum_wrong", CK,
            "slot checksum valid, slot's index_checksum off by one bit", idx_sum)

    def idx_flip(buf):
        s = read_slot(buf, SLOT_A)
        buf[s["index_offset"] + s["index_size"] - 3] ^= 0x20
    patched("index_byte_flipped", CK,
            "one bit flipped inside the index heap, index checksum not updated", idx_flip)

    patched("truncated_by_one", "MMARR_E_TRUNCATED",
            "base_paged cut 1 byte short of file_size", lambda buf: buf[:-1], paged=True)
    patched("truncated_mid_data", "MMARR_E_TRUNCATED",
            "base_paged cut at 4100, inside the page-aligned array", lambda buf: buf[:4100],
            paged=True)
    patched("truncated_superblock", "MMARR_E_TRUNCATED",
            "base_small cut to 300 bytes (< 512; prologue and slot A intact)",
            lambda buf: buf[:300])

    def slot_edit(**changes):
        def edit(buf):
            s = read_slot(buf, SLOT_A)
            for k, v in changes.items():
                s[k] = v(s) if callable(v) else v
            write_slot(buf, SLOT_A, **s)
        return edit

    patched("file_size_beyond_length", "MMARR_E_TRUNCATED",
            "slot's file_size 4096 more than the file length (slot checksum recomputed)",
            slot_edit(file_size=lambda s: s["file_size"] + 4096))
    patched("required_feature_unknown", "MMARR_E_UNSUPPORTED",
            "unknown required feature bit 1 (slot checksum recomputed)",
            slot_edit(required=1 << 1))
    patched("required_feature_bit63", "MMARR_E_UNSUPPORTED",
            "unknown required feature bit 63 (slot checksum recomputed)",
            slot_edit(required=1 << 63))
    patched("index_offset_beyond_file", C,
            "index_offset one page past file_size (slot checksum recomputed)",
            slot_edit(index_offset=lambda s: align_up(s["file_size"], 64) + 4096))
    patched("index_offset_below_512", C,
            "index_offset 448, inside the superblock (slot checksum recomputed)",
            slot_edit(index_offset=448))
    patched("index_offset_overflow", C,
            "index_offset 2^64-64, so index_offset + index_size overflows (slot checksum "
            "recomputed)", slot_edit(index_offset=2 ** 64 - 64))

    def past_size(buf):
        s = read_slot(buf, SLOT_A)
        s["file_size"] -= 8
        write_slot(buf, SLOT_A, **s)
    patched("index_beyond_file_size", C,
            "file_size 8 bytes short of the index end while the file holds every byte "
            "(slot checksum recomputed)", past_size)

    def small_index(buf):
        s = read_slot(buf, SLOT_A)
        s["index_size"] = 128
        s["index_checksum"] = xxh(buf[s["index_offset"]:s["index_offset"] + 128])
        write_slot(buf, SLOT_A, **s)
    patched("index_size_below_192", C,
            "index_size 128 (< 192) with an index checksum matching those 128 bytes",
            small_index)

    im = base()
    im.index_shift = 8
    emit_invalid("index_offset_misaligned", serialize(im), C,
                 "index written at a multiple of 64 plus 8, slot points at it, all checksums "
                 "valid: index_offset not a multiple of 64")

    # ---- index header and sections (§7, §12.3)
    def e_set(i, **kv):
        def edit(im):
            im.entries[i].update(kv)
        return edit

    def h_set(**kv):
        def edit(im):
            im.header_over.update(kv)
        return edit

    def magic_idx(im):
        im.index_magic = b"MMARRIDY"
    structural("index_magic_bad", C, "index header magic MMARRIDY", magic_idx)

    def order_swap(im):
        im.section_order = ["entries", "order", "names", "dims", "dtypes", "meta", "ameta",
                            "cold", "chunks", "heap"]
    structural("sections_out_of_order", C,
               "dims section placed before dtypes, header offsets point at the right bytes: "
               "sections must appear in header-field order (§7)", order_swap)

    def unaligned(im):
        im.section_gap = {"heap": 4}
    structural("section_offset_unaligned", C,
               "heap_offset a multiple of 8 plus 4 (heap really there)", unaligned)

    def overlap_sec(im):
        im.section_order = list(SECTIONS)
        im.header_over["dtypes_offset"] = 192 + 48 * 3 + 16  # = names_offset
    structural("sections_overlap", C,
               "dtypes_offset equals names_offset: dtypes overlaps the names table", overlap_sec)
    structural("entries_inside_header", C, "entries_offset 128, inside the index header",
               h_set(entries_offset=128))

    def heap_past(im):
        im.header_over["heap_size"] = len(im.heap) + 64
    structural("heap_beyond_index", C, "heap_size 64 bytes larger than what the index holds",
               heap_past)
    structural("file_meta_out_of_range", C,
               "file_meta_first + file_meta_count beyond meta_count",
               h_set(file_meta_first=4, file_meta_count=2))

    # ---- entries (§7.2, §12.5)
    structural("entry_dtype_id_out_of_range", C, "alpha's dtype_id equals dtype_count",
               e_set(2, dtype_id=3))
    structural("entry_dims_out_of_range", C, "beta's dims [dims_first, +ndim) past dim_count",
               e_set(1, dims_first=3))
    def ameta_range(im):
        im.ameta[0]["meta_first"] = 4
    structural("entry_meta_out_of_range", C, "gamma's metadata range past meta_count",
               ameta_range)

    def ameta_order(im):
        im.ameta.reverse()
    structural("array_meta_records_out_of_order", C,
               "array metadata records not in increasing entry order", ameta_order)
    structural("entry_storage_unknown", C, "alpha's storage kind 2", e_set(2, storage=2))
    structural("entry_storage_255", C, "alpha's storage kind 255", e_set(2, storage=255))
    structural("entry_flag_unknown", C, "alpha's flags has unknown bit 2 set (PACKED|0x04)",
               e_set(2, flags=ENTRY_PACKED | 4))
    structural("entry_flag_bit7", C, "beta's flags has unknown bit 7 set",
               e_set(1, flags=ENTRY_PACKED | 0x80))
    def cold_no_feature(im):
        e, raw = im.entries[2], im.arrays[2].data
        frame = zstd_raw_frame(raw)
        e.update(storage=1, data_size=len(frame), cold_id=0)
        im.colds = [(len(raw), 0, 1, 1, 0, 0, 0, 0)]
        im.chunks = [(0, len(frame), 0, xxh(raw))]
        im.blobs[2] = (e["data_offset"], frame)
    structural("cold_entry_without_feature", C,
               "alpha stored cold (one valid raw-block zstd chunk, valid descriptor) but the "
               "slot lacks the required COLD_ZSTD bit (§5, §12.5)", cold_no_feature)
    structural("entry_raw_with_cold_id", C, "raw entry alpha with cold_id 0, not 0xFFFFFFFF",
               e_set(2, cold_id=0))
    structural("entry_data_size_mismatch", C, "alpha's data_size = nbytes + 1",
               e_set(2, data_size=17))
    structural("entry_data_size_short", C, "beta's data_size = nbytes - 8",
               e_set(1, data_size=40))

    def shape_over(im):
        im.dims[1:3] = [2 ** 32, 2 ** 32]
    structural("shape_product_overflow", C,
               "beta's shape (2^32, 2^32): the element count overflows u64", shape_over)

    def nbytes_over(im):
        im.dims[1:3] = [2 ** 61, 1]
    structural("nbytes_overflow", C,
               "beta's shape (2^61, 1) with itemsize 8: nbytes overflows u64", nbytes_over)

    def nbytes_2_63(im):
        im.dims[1:3] = [2 ** 60, 1]
    structural("nbytes_2_63", C,
               "beta's shape (2^60, 1) with itemsize 8: nbytes = 2^63, not below 2^63 (§6)",
               nbytes_2_63)

    def ndim65(arrs):
        b = arrs[1]
        arrs[1] = Arr(b.name, b.dtype, b.shape + (1,) * 63, b.data)
    with_arrays("ndim_65", C, "beta with ndim 65 (shape (2,3,1,...,1), sizes consistent)",
                ndim65)

    # ---- placement (§9.1), from base_paged: gamma@512 packed, beta@4096, alpha@8192 packed
    structural("data_offset_misaligned", C,
               "page-aligned beta at 4096+256 (a multiple of 256 but not of the alignment)",
               e_set(1, data_offset=4096 + 256), paged=True)
    structural("packed_offset_misaligned", C, "packed alpha at 8192+64",
               e_set(2, data_offset=8192 + 64), paged=True)
    structural("packed_flag_missing", C,
               "gamma at 512 without PACKED: 512 is not a multiple of the 4096 alignment",
               e_set(0, flags=0), paged=True)
    structural("arrays_overlap", C,
               "packed alpha at 4352, inside beta's padded range [4096, 8192)",
               e_set(2, data_offset=4352), paged=True)

    def swap_order(im):
        im.entries[0]["data_offset"], im.entries[2]["data_offset"] = 8192, 512
        im.blobs[0], im.blobs[2] = (8192, im.blobs[0][1]), (512, im.blobs[2][1])
    structural("entries_not_in_data_order", C,
               "gamma (entry 0) and alpha (entry 2) swap places: disjoint ranges, but entry "
               "order is no longer data order", swap_order, paged=True)

    def below512(im):
        im.entries[0]["data_offset"] = 256
        im.blobs[0] = (None, b"")
    structural("data_offset_below_512", C, "packed gamma at 256, inside the superblock",
               below512, paged=True)

    def past_end(im):
        im.entries[2]["data_offset"] = 8192 + 8 * 4096
        im.blobs[2] = (None, b"")
    structural("data_beyond_file_size", C, "packed alpha at 8192 + 32768, past file_size",
               past_end, paged=True)

    def into_index(im):
        # Index starts at 8448 (a multiple of 256): put alpha there.
        im.entries[2]["data_offset"] = align_up(im.data_end, 64)
        im.blobs[2] = (None, b"")
    structural("data_overlaps_index", C,
               "packed alpha at index_offset: its padded range intersects the index",
               into_index, paged=True)

    # ---- names (§7.2, §7.5)
    bad_names = [
        ("name_utf8_ff", b"alpha\xff", "byte 0xFF"),
        ("name_utf8_overlong", b"alpha\xc0\xaf", "overlong encoding C0 AF of '/'"),
        ("name_utf8_surrogate", b"alpha\xed\xa0\x80", "UTF-16 surrogate U+D800"),
        ("name_utf8_above_max", b"alpha\xf4\x90\x80\x80", "code point U+110000"),
        ("name_utf8_truncated", b"alpha\xe2\x82", "truncated 3-byte sequence"),
        ("name_utf8_lone_continuation", b"\x80alpha", "lone continuation byte 0x80"),
        ("name_with_nul", b"al\x00pha", "NUL inside the name (heap string still "
                                       "NUL-terminated after name_size bytes)"),
        ("name_empty", b"", "empty name (name_size 0)"),
        ("name_duplicate", b"beta", "two arrays named 'beta': names table not strictly "
                                    "increasing"),
    ]
    for vname, nb, why in bad_names:
        def rename(arrs, nb=nb):
            a = arrs[2]
            arrs[2] = Arr(nb, a.dtype, a.shape, a.data, meta=a.meta)
        with_arrays(vname, C, "array name: %s; names table consistent with the bytes" % why,
                    rename)

    def name_no_nul(im):
        e = im.names[im.entries[0]["name_rank"]]
        im.heap[e["name_offset"] + e["name_size"]] = ord("X")
    structural("heap_name_not_nul_terminated", C,
               "the byte after gamma's name in the heap is 'X', not NUL", name_no_nul)

    def name_oob(im):
        e = im.names[im.entries[2]["name_rank"]]
        e["name_size"] = len(im.heap) - e["name_offset"]
    structural("heap_name_beyond_heap", C,
               "alpha's name_size reaches the end of the heap (offset + size = heap_size)",
               name_oob)

    def dtype_no_nul(im):
        off, size = im.dtypes[0]
        im.heap[off + size] = ord("6")
    structural("heap_dtype_not_nul_terminated", C,
               "the byte after dtype '|S6' in the heap is '6', not NUL", dtype_no_nul)

    # ---- names table (§7.6)
    def names_dup(im):
        im.names[1] = dict(im.names[1], entry=im.names[0]["entry"])
    structural("order_not_permutation", C,
               "order table positions 0 and 1 hold the same entry: an entry's name_rank no "
               "longer points back", names_dup)

    def names_range(im):
        im.names[2]["entry"] = 3
    structural("order_entry_out_of_range", C, "order table position 2 holds entry 3 of 3",
               names_range)

    def names_wrong(im):
        im.names[0], im.names[1] = im.names[1], im.names[0]
        for k, r in enumerate(im.names):
            im.entries[r["entry"]]["name_rank"] = k
    structural("names_wrong_order", C,
               "names and order tables a consistent permutation (ranks point back) but not "
               "in name order", names_wrong)

    def rank_range(im):
        im.entries[1]["name_rank"] = 3
    structural("name_rank_out_of_range", C, "entry 1 name_rank 3 with 3 arrays", rank_range)

    def rank_swap(im):
        a, b = im.entries[0], im.entries[1]
        a["name_rank"], b["name_rank"] = b["name_rank"], a["name_rank"]
    structural("name_ranks_swapped", C,
               "entries 0 and 1 swap name ranks: the names table points elsewhere", rank_swap)

    # ---- dtypes (§8, §12.4): the bad text replaces alpha's dtype, and alpha's shape makes
    # data_size equal what a lenient parse would give, so only canonical form is at fault.
    bad_dtypes = [
        ("f4", 4, "no byte order"),
        ("=f4", 4, "native byte order '='"),
        ("<f16", 16, "platform long double"),
        ("|O", 8, "object"),
        ("float32", 4, "a name, not dtype.str"),
        ("<i4 ", 4, "trailing space"),
        ("|f4", 4, "'|' on a multi-byte type"),
        ("<b1", 1, "'<' on a one-byte type"),
        ("<S4", 4, "'<' on bytes"),
        ("|S0", 0, "zero-width bytes"),
        ("<M8[1ms]", 8, "datetime unit count 1"),
        ("<M8[fortnight]", 8, "unknown datetime unit"),
        ("[('a', '<i4'),('b', '<i4')]", 8, "structured without the space after ','"),
        ('[("a", "<i4")]', 4, "structured with double quotes"),
        ("[('a', '<i4'), ('a', '<i4')]", 8, "duplicate field names"),
        ("[]", 0, "structured with no fields"),
        ("[('a', '<i4', (2))]", 8, "subarray shape without the tuple comma"),
    ]
    for i, (text, isz, why) in enumerate(bad_dtypes):
        def redtype(arrs, text=text, isz=isz):
            n = 2
            arrs[2] = Arr("alpha", text, (n,), bytes(range(n * isz)), meta=arrs[2].meta)
        with_arrays("dtype_noncanonical_%02d" % i, C,
                    "alpha's dtype text %r (%s), data_size = 2 * %d" % (text, why, isz),
                    redtype)

    # ---- metadata (§7.4, §12.7)
    def meta_order(arrs):
        g = arrs[0]
        arrs[0] = Arr(g.name, g.dtype, g.shape, g.data, meta=[("b", "2"), ("a", "1")],
                      sort_meta=False)
    with_arrays("meta_keys_out_of_order", C, "gamma's metadata keys 'b' then 'a'", meta_order)

    def meta_dup(arrs):
        g = arrs[0]
        arrs[0] = Arr(g.name, g.dtype, g.shape, g.data, meta=[("a", "1"), ("a", "2")],
                      sort_meta=False)
    with_arrays("meta_keys_duplicate", C, "gamma's metadata has key 'a' twice", meta_dup)

    def meta_empty_key(arrs):
        g = arrs[0]
        arrs[0] = Arr(g.name, g.dtype, g.shape, g.data, meta=[("", "x"), ("a", "1")])
    with_arrays("meta_key_empty", C, "gamma's metadata has an empty key", meta_empty_key)

    def meta_bad_value(arrs):
        g = arrs[0]
        arrs[0] = Arr(g.name, g.dtype, g.shape, g.data, meta=[(b"a", b"caf\xc3\x28")])
    with_arrays("meta_value_not_utf8", C, "gamma's metadata value has invalid UTF-8 C3 28",
                meta_bad_value)

    def meta_nul_value(arrs):
        g = arrs[0]
        arrs[0] = Arr(g.name, g.dtype, g.shape, g.data, meta=[(b"a", b"x\x00y")])
    with_arrays("meta_value_with_nul", C, "gamma's metadata value contains NUL",
                meta_nul_value)

    arrs = base_arrays()
    a = arrs[2]
    arrs[2] = Arr(a.name, a.dtype, a.shape, a.data, meta=arrs[0].meta)
    im = plan(arrs, BASE_META, share_meta=True)
    assert im.ameta[0]["meta_first"] == im.ameta[-1]["meta_first"]
    emit_invalid("meta_groups_share_records", serialize(im), C,
                 "gamma and alpha point at the same 2 metadata records: the group counts add "
                 "up to 6 > meta_count 4 (§7.4) (checksums recomputed)")

    with_arrays("file_meta_out_of_order", C, "file metadata keys 'title' then 'creator'",
                lambda arrs: None, file_meta=list(reversed(sorted(BASE_META))),
                sort_file_meta=False)


# --------------------------------------------------------------------------------------------


def main():
    gen_valid()
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
