#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""golden_encode.py — the independent encoder behind gen_golden.py: mmarr files laid out and
serialised from spec.md alone (Python struct, xxhash, numpy for dtype facts), their expected
decodings (.json, .expect), and the output bookkeeping (MANIFEST). It never uses libmmarr, so
the vectors pin the format rather than one implementation of it.

Ragged items (format 1.1, spec §7.7): `ragged()` builds the values and offsets arrays of one
item, `plan(..., ragged=[...])` ties them together by name; a file with ragged records gets
the ragged section after the heap (8-aligned, inside the index), `ragged_offset` and
`ragged_count` at bytes 160..175 of the index header, optional feature bit 0 `RAGGED` in its
slot and format_minor 1 (§5, §7.1, §13). Files without ragged records are laid out exactly
as in 1.0 (bytes 160..175 hold `header_reserved`, as before)."""

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
RAGGED = struct.Struct("<IIB7s")  # §7.7 (1.1)
GROWABLE = struct.Struct("<IIQIIQ")  # §7.8 (1.2): entry, block_count, capacity, shift, first, 0
GROWABLE_FIELDS = struct.Struct("<QII")  # §7.1 bytes 176..191 (1.2)
RAGGED_FIELDS = struct.Struct("<QQ")  # §7.1 bytes 160..175 (1.1): ragged_offset, ragged_count
CHUNK = struct.Struct("<QIIQ")  # §10.2
U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")
assert (PROLOGUE.size, SLOT.size, HEADER.size, ENTRY.size, AMETA.size) == (64, 128, 192, 48, 12)
assert (DTYPE.size, META.size, COLD.size, CHUNK.size, NAME.size) == (8, 16, 32, 24, 8)
assert RAGGED.size == 16

OPT_RAGGED = 1 << 0  # §5: optional feature bit 0
REQ_GROWABLE = 1 << 1  # §5: required feature bit 1 (1.2)
KIND_ARRAYS, KIND_UTF8, KIND_BYTES = 0, 1, 2  # §7.7
KIND_NAMES = {KIND_ARRAYS: "ARRAYS", KIND_UTF8: "UTF8", KIND_BYTES: "BYTES"}

SECTIONS = ["entries", "order", "names", "dtypes", "dims", "meta", "ameta", "cold", "chunks",
            "heap"]  # §7.1; "ragged" (1.1) follows only in files with ragged records


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
                 checksum=None, itemsize=None, sort_meta=True, capacity=None, block_shift=12):
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
        self.offset = None  # forced data_offset (invalid vectors, kept arrays of appends)
        # growable (§7.8): rows its region holds, and the block size; None: not growable
        self.capacity = capacity
        self.block_shift = block_shift
        if capacity is not None:
            self.packed = False
            if checksum is None:
                self.checksum = xxh(b"".join(U64.pack(b) for b in self.blocks()))

    def blocks(self):
        """§7.8: the XXH3 of each block of 2^block_shift bytes."""
        bs = 1 << self.block_shift
        return [xxh(self.data[k:k + bs]) for k in range(0, len(self.data), bs)]

    def region(self):
        """Bytes of the reserved region: capacity rows of itemsize x the inner dimensions."""
        row = dtype_facts(self.dtype)[0]
        for d in self.shape[1:]:
            row *= d
        return row * self.capacity


def npa(name, arr, order="C", **kw):
    """An Arr from a numpy array, stored in the given element order."""
    arr = np.asarray(arr)
    return Arr(name, canonical(arr.dtype), arr.shape, arr.tobytes(order=order), order=order,
               **kw)


def ragged(name, items, kind=KIND_ARRAYS, dtype=None, inner=(), offsets_name=None,
           offsets=None, rows=None, values_kw=None, offsets_kw=None):
    """The two arrays of one ragged item (§7.7) and its (values, offsets, kind) by name.

    items: ARRAYS: array-likes of shape (n_i,) + inner, stored as `dtype`; UTF8: str or bytes
    (bytes may be invalid UTF-8, for damaged vectors); BYTES: bytes. The values are the items
    one after the other; the offsets are their row boundaries unless `offsets` is given (the
    content-damaged vectors), and the values' first dimension is their row count unless `rows`
    is given."""
    offsets_name = name + "/offsets" if offsets_name is None else offsets_name
    if kind == KIND_ARRAYS:
        dt = np.dtype(dtype)
        parts = [np.asarray(it, dtype=dt) for it in items]
        parts = [p if p.shape[1:] == tuple(inner) else p.reshape((-1,) + tuple(inner))
                 for p in parts]
        lens = [len(p) for p in parts]
        data = b"".join(p.tobytes() for p in parts)
        vdtype = canonical(dt)
    else:
        parts = [u8(it) for it in items]
        lens = [len(p) for p in parts]
        data = b"".join(parts)
        vdtype, inner = "|u1", ()
    bounds = [0]
    for n in lens:
        bounds.append(bounds[-1] + n)
    rows = bounds[-1] if rows is None else rows
    offs = bounds if offsets is None else list(offsets)
    values = Arr(name, vdtype, (rows,) + tuple(inner), data, **(values_kw or {}))
    off_arr = Arr(offsets_name, "<u8", (len(offs),), struct.pack("<%dQ" % len(offs), *offs),
                  **(offsets_kw or {}))
    return values, off_arr, (values.name, off_arr.name, kind)


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


def plan(arrays, file_meta=(), alignment=4096, sort_file_meta=True, share_meta=False,
         ragged=()):
    """An Image of `arrays` (entry order) with file metadata `file_meta`; `ragged` lists the
    ragged items as (values name, offsets name, kind), as ragged() returns them."""
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
        if a.capacity is not None:  # §7.8: the reserved region, not only the data
            cur = max(cur, align_up(off + a.region(), al))
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
    # Ragged records (§7.7), in increasing order of their values entry.
    entry_of = {a.name: i for i, a in enumerate(arrays)}
    im.raggeds = sorted((dict(values=entry_of[u8(v)], offsets=entry_of[u8(o)], kind=k,
                              reserved=bytes(7)) for v, o, k in ragged),
                        key=lambda r: r["values"])
    if im.raggeds:  # §5, §13: the RAGGED bit and format 1.1 exactly when there are records
        im.minor = 1
        im.slots["A"]["optional"] = OPT_RAGGED
        im.section_order.append("ragged")
    # Growable records (§7.8), in entry order, their block checksums one after the other.
    im.growables, first = [], 0
    for i, a in enumerate(arrays):
        if a.capacity is None:
            continue
        blocks = a.blocks()
        im.growables.append(dict(entry=i, block_count=len(blocks), capacity=a.capacity,
                                 block_shift=a.block_shift, blocks_first=first, reserved=0,
                                 blocks=blocks))
        first += len(blocks)
    if im.growables:  # §5, §13: GROWABLE and format 1.2 exactly when there are records
        im.minor = 2
        im.slots["A"]["required"] = REQ_GROWABLE
        im.section_order.append("growable")
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
        "ragged": b"".join(RAGGED.pack(r["values"], r["offsets"], r["kind"], r["reserved"])
                           for r in im.raggeds),
        "growable": b"".join(GROWABLE.pack(g["entry"], g["block_count"], g["capacity"],
                                           g["block_shift"], g["blocks_first"], g["reserved"])
                             for g in im.growables) +
                    b"".join(U64.pack(b) for g in im.growables for b in g["blocks"]),
    }
    pos = HEADER.size
    offs = {}
    for name in im.section_order:
        pos = align_up(pos, 8) + im.section_gap.get(name, 0)
        offs[name] = pos
        pos += len(content[name])
    buf = bytearray(pos)
    for name in offs:
        buf[offs[name]:offs[name] + len(content[name])] = content[name]
    h = dict(entry_count=len(im.entries), entries_offset=offs["entries"],
             order_offset=offs["order"], names_offset=offs["names"], dtypes_offset=offs["dtypes"],
             dtype_count=len(im.dtypes), dims_offset=offs["dims"], dim_count=len(im.dims),
             meta_offset=offs["meta"], meta_count=len(im.metas),
             ameta_offset=offs["ameta"], ameta_count=len(im.ameta), cold_offset=offs["cold"],
             cold_count=len(im.colds), chunks_offset=offs["chunks"],
             chunk_count=len(im.chunks),
             heap_offset=offs["heap"], heap_size=len(im.heap),
             file_meta_first=im.file_meta_first, file_meta_count=im.file_meta_count,
             ragged_offset=offs.get("ragged", 0),
             ragged_count=len(im.raggeds) if "ragged" in offs else 0,
             growable_offset=offs.get("growable", 0),
             growable_count=len(im.growables) if "growable" in offs else 0,
             block_total=sum(g["block_count"] for g in im.growables) if "growable" in offs
             else 0)
    for k, v in im.header_over.items():
        assert k in h, k
        h[k] = v
    # Bytes 160..175: the ragged fields (1.1) in files that have them, else reserved as in 1.0.
    tail = im.header_reserved
    if "ragged" in offs or "ragged_offset" in im.header_over or "ragged_count" in im.header_over:
        tail = RAGGED_FIELDS.pack(h["ragged_offset"], h["ragged_count"]) + tail[16:]
    # Bytes 176..191: the growable fields (1.2) in files that have them.
    if "growable" in offs or any(k in im.header_over for k in
                                 ("growable_offset", "growable_count", "block_total")):
        tail = tail[:16] + GROWABLE_FIELDS.pack(h["growable_offset"], h["growable_count"],
                                                h["block_total"])
    buf[0:HEADER.size] = HEADER.pack(
        im.index_magic, h["entry_count"], h["entries_offset"], h["order_offset"],
        h["names_offset"],
        h["dtypes_offset"], h["dtype_count"], h["dims_offset"], h["dim_count"],
        h["meta_offset"], h["meta_count"], h["ameta_offset"], h["ameta_count"],
        h["cold_offset"], h["cold_count"],
        h["chunks_offset"], h["chunk_count"], h["heap_offset"], h["heap_size"],
        h["file_meta_first"], h["file_meta_count"], tail)
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


CORRUPT = "MMARR_E_CORRUPT"


def ragged_facts(im, r):
    """What a reader finds in ragged record r (§7.7): the offsets, whether they satisfy the
    content rules, and per item what reading it gives: (codes, rows or None, bytes or None).
    codes is "ok", "MMARR_E_CORRUPT", or "ok,MMARR_E_CORRUPT" when the item itself is in range
    but other offsets are bad (a reader MUST check offsets[i] <= offsets[i+1] <= rows before
    returning item i, and MAY check all offsets first)."""
    v, o = im.arrays[r["values"]], im.arrays[r["offsets"]]
    assert o.dtype == "<u8" and len(o.shape) == 1 and o.shape[0] >= 1
    offs = list(struct.unpack("<%dQ" % o.shape[0], o.data))
    rows = v.shape[0]
    itemsize = dtype_facts(v.dtype)[0]
    rowbytes = itemsize * int(np.prod(v.shape[1:], dtype=object)) if len(v.shape) > 1 \
        else itemsize
    whole_ok = offs[0] == 0 and offs[-1] == rows and all(
        a <= b for a, b in zip(offs, offs[1:]))
    items = []
    for i in range(len(offs) - 1):
        s, e = offs[i], offs[i + 1]
        if not s <= e <= rows:
            items.append((CORRUPT, None, None))
            continue
        data = v.data[s * rowbytes:e * rowbytes]
        if r["kind"] == KIND_UTF8:
            try:
                data.decode("utf-8")  # strict: no overlong forms, surrogates, > U+10FFFF
            except UnicodeDecodeError:
                items.append((CORRUPT, (s, e), data))
                continue
        items.append(("ok" if whole_ok else "ok," + CORRUPT, (s, e), data))
    text_ok = all(c != CORRUPT or rws is None for c, rws, _ in items)
    return dict(offsets=offs, rows=rows, offsets_ok=whole_ok, items=items,
                verify_ok=whole_ok and text_ok, inner=list(v.shape[1:]))


def describe(im, *, generation=1, file_size=None, index=None, features=None, stale=0,
             inactive_damaged=0, verify="ok", averify=None, data_override=None):
    """JSON object and .expect lines for a valid file whose active index is `im`."""
    file_size = im.file_size if file_size is None else file_size
    index = (im.index_off, im.index_size) if index is None else index
    if features is None:
        features = (REQ_GROWABLE if im.growables else 0, OPT_RAGGED if im.raggeds else 0)
    averify = dict(averify or {})
    rfacts = [ragged_facts(im, r) for r in im.raggeds]
    for r, rf in zip(im.raggeds, rfacts):
        # §7.7, §11: verification of the values checks every offset and every UTF8 item
        if not rf["verify_ok"]:
            averify.setdefault(r["values"], CORRUPT)
            assert verify != "ok", "verification of a damaged ragged item cannot succeed"
    data_override = data_override or {}
    index_checksum = hex16(xxh(index_bytes(im)))  # the active index is im's (§11.3)
    j = {
        "format_major": im.major, "format_minor": im.minor, "alignment": im.alignment,
        "generation": generation, "file_size": file_size,
        "index_offset": index[0], "index_size": index[1], "index_checksum": index_checksum,
        "required_features": features[0], "optional_features": features[1],
        "checksums_stale": bool(stale), "inactive_slot_damaged": bool(inactive_damaged),
        "verify": verify,
        "metadata": {k.decode(): v.decode() for k, v in im.file_meta},
        "arrays": [],
    }
    x = ["mmarr-expect 1", "format %d %d" % (im.major, im.minor), "alignment %d" % im.alignment,
         "generation %d" % generation, "file_size %d" % file_size,
         "index %d %d %s" % (index + (index_checksum,)), "features %d %d" % features, "stale %d" % stale,
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
        if a.capacity is not None:  # §7.8 (1.2); absent: not growable
            ja["capacity"] = a.capacity
            x.append("capacity %d" % a.capacity)
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
    if im.raggeds:
        j["ragged"] = []
        x.append("raggeds %d" % len(im.raggeds))
    for r, rf in zip(im.raggeds, rfacts):
        v = im.arrays[r["values"]]
        kind = KIND_NAMES[r["kind"]]
        offs = rf["offsets"]
        jr = {"name": v.name.decode(), "values": r["values"], "offsets": r["offsets"],
              "kind": kind, "count": len(offs) - 1, "offsets_data": offs,
              "offsets_valid": rf["offsets_ok"], "items": []}
        x.append("ragged %s %d %d %s %d" % (hx(v.name), r["values"], r["offsets"], kind,
                                            len(offs) - 1))
        x.append("roffsets %s %d%s" % ("ok" if rf["offsets_ok"] else CORRUPT, len(offs),
                                       "".join(" %d" % o for o in offs)))
        for i, (codes, rws, data) in enumerate(rf["items"]):
            ji = {"result": codes}
            if rws is None:
                x.append("item %d %s" % (i, codes))
            else:
                ji["rows"] = list(rws)
                ji["data"] = data.hex()
                if r["kind"] == KIND_ARRAYS:
                    ji["shape"] = [rws[1] - rws[0]] + rf["inner"]
                elif r["kind"] == KIND_UTF8 and codes != CORRUPT:
                    ji["text"] = data.decode("utf-8")
                x.append("item %d %s %d %d %s" % (i, codes, rws[0], rws[1], hx(data)))
            jr["items"].append(ji)
        j["ragged"].append(jr)
        x.append("rend")
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
# The base file most vectors start from


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


def ragged_base_parts():
    """The arrays and ragged records of the file the ragged invalid vectors start from:
    entries 0 'seq' (<f4 (4,3), ARRAYS) and 1 its offsets, 2 'plain', 3 'txt' (UTF8) and 4
    its offsets, 5 'raw' (BYTES) and 6 its offsets."""
    seq = ragged("seq", [[[1, 2, 3]], [], [[4, 5, 6], [7, 8, 9], [-1, -2, -3]]], KIND_ARRAYS,
                 "<f4", inner=(3,))
    txt = ragged("txt", ["héllo", "", "x"], KIND_UTF8)
    raw = ragged("raw", [b"\x00\x01", b"\xff"], KIND_BYTES)
    arrs = [seq[0], seq[1], npa("plain", np.array([1, 2, 3], "<i4")), txt[0], txt[1], raw[0],
            raw[1]]
    return arrs, [seq[2], txt[2], raw[2]]


RAGGED_META = [("title", "ragged base")]


def ragged_base():
    arrs, recs = ragged_base_parts()
    return plan(arrs, RAGGED_META, ragged=recs)
