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
as in 1.0 (bytes 160..175 hold `header_reserved`, as before).

Cold arrays (spec §10): an Arr with a `chunk_size` is stored in zstd frames that `zstd_frame`
writes from RFC 8878 alone (raw and RLE blocks, so no compressor is needed), after the byte
shuffle of §10.3 when `shuffle` is set; the file then has required feature bit 0 `COLD_ZSTD`.
By default its frames lie one after the other from its data_offset; a cold *growable* array
(§7.8, `capacity` given) may instead carry a `layout`: where each frame lies, the size of its
first extent and its extra extents, as appends leave them (gen_golden.cold_append)."""

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
REQ_COLD_ZSTD = 1 << 0  # §5: required feature bit 0
REQ_GROWABLE = 1 << 1  # §5: required feature bit 1 (1.2)
CODEC_ZSTD = 1  # §10.1
FILTER_NONE, FILTER_SHUFFLE = 0, 1  # §10.1, §10.3
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


ZSTD_MAGIC = 0xFD2FB528
ZSTD_BLOCK_MAX = 128 * 1024  # RFC 8878 3.1.1.2.3: a block regenerates at most 128 KiB
ZSTD_RLE_MIN = 8  # runs at least this long become RLE blocks
ZSTD_RAW, ZSTD_RLE = 0, 1  # Block_Type


def zstd_blocks(raw):
    """(Block_Type, bytes) pieces of `raw`: runs of ZSTD_RLE_MIN or more equal bytes as RLE,
    the rest raw, none longer than ZSTD_BLOCK_MAX."""
    pieces, start, i = [], 0, 0
    while i < len(raw):
        j = i
        while j < len(raw) and raw[j] == raw[i]:
            j += 1
        if j - i >= ZSTD_RLE_MIN:
            if start < i:
                pieces.append((ZSTD_RAW, raw[start:i]))
            pieces.append((ZSTD_RLE, raw[i:j]))
            start = j
        i = j
    if start < len(raw):
        pieces.append((ZSTD_RAW, raw[start:]))
    return [(t, p[k:k + ZSTD_BLOCK_MAX]) for t, p in pieces
            for k in range(0, len(p), ZSTD_BLOCK_MAX)]


def zstd_frame(raw):
    """One zstd frame (RFC 8878) holding `raw` (1 byte or more): single segment, so no window
    descriptor; the content size declared in the smallest Frame_Content_Size field that holds
    it (1, 2 or 4 bytes); no dictionary, no content checksum; its blocks from zstd_blocks (an
    RLE block stores one byte and regenerates Block_Size copies of it)."""
    n = len(raw)
    assert 1 <= n < 2 ** 32
    if n < 256:
        fcs_flag, fcs = 0, struct.pack("<B", n)
    elif n < 65536 + 256:
        fcs_flag, fcs = 1, struct.pack("<H", n - 256)
    else:
        fcs_flag, fcs = 2, struct.pack("<I", n)
    out = bytearray(struct.pack("<IB", ZSTD_MAGIC, fcs_flag << 6 | 0x20) + fcs)
    blocks = zstd_blocks(bytes(raw))
    for k, (kind, piece) in enumerate(blocks):
        last = 1 if k == len(blocks) - 1 else 0
        out += struct.pack("<I", last | kind << 1 | len(piece) << 3)[:3]
        out += piece if kind == ZSTD_RAW else piece[:1]
    return bytes(out)


def zstd_first_raw_byte(frame):
    """Offset in a zstd_frame of the first content byte of its first block, which must be a
    raw block (damaged vectors flip it: the frame stays valid, its content changes)."""
    fcs_len = {0: 1, 1: 2, 2: 4, 3: 8}[frame[4] >> 6]
    at = 5 + fcs_len
    assert (frame[at] >> 1) & 3 == ZSTD_RAW
    return at + 3


def shuffle(raw, k):
    """§10.3: the byte shuffle of one chunk with itemsize k; trailing bytes unchanged."""
    n = len(raw) // k
    planes = np.frombuffer(bytes(raw[:n * k]), dtype="|u1").reshape(n, k).T
    return planes.tobytes() + bytes(raw[n * k:])


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
                 checksum=None, itemsize=None, sort_meta=True, capacity=None, block_shift=12,
                 chunk_size=None, shuffle=False, level=1):
        self.name = u8(name)
        self.dtype = dtype
        self.shape = tuple(int(d) for d in shape)
        self.data = bytes(data)
        self.order = order
        # cold (§10): raw bytes per chunk, the filter and the level recorded; None: raw
        self.chunk_size = chunk_size
        self.filter = FILTER_SHUFFLE if shuffle else FILTER_NONE
        self.level = level
        self.layout = None  # cold growable: where its frames lie, when not from data_offset on
        self._frames = None
        # The reference writer packs arrays under 2048 bytes (§9.2); do the same by default.
        stored = len(self.stored()) if self.cold else len(self.data)
        self.packed = stored < 2048 if packed is None else packed
        pairs = [(u8(k), u8(v)) for k, v in meta]
        self.meta = sorted(pairs) if sort_meta else pairs
        self.checksum = xxh(self.data) if checksum is None else checksum
        self.itemsize = itemsize
        self.offset = None  # forced data_offset (invalid vectors, kept arrays of appends)
        # growable (§7.8): rows it may hold (hot: its region), and the block size of a hot
        # one; None: not growable
        self.capacity = capacity
        self.block_shift = block_shift
        if capacity is not None and not self.cold:
            self.packed = False
            if checksum is None:
                self.checksum = xxh(b"".join(U64.pack(b) for b in self.blocks()))
        elif capacity is not None and checksum is None:  # §7.8: of its chunk checksums
            self.checksum = xxh(b"".join(U64.pack(c) for c in self.chunk_sums()))

    @property
    def cold(self):
        return self.chunk_size is not None

    def raw_chunks(self):
        """§10: the raw bytes of each chunk (the last may be shorter)."""
        cs = self.chunk_size
        return [self.data[k:k + cs] for k in range(0, len(self.data), cs)]

    def chunk_sums(self):
        """§10.2: the XXH3 of each chunk's raw bytes."""
        return [xxh(r) for r in self.raw_chunks()]

    def frames(self):
        """§10: each chunk filtered (§10.3) and compressed into one zstd frame."""
        if self._frames is None:
            k = dtype_facts(self.dtype)[0]
            self._frames = [zstd_frame(shuffle(r, k) if self.filter == FILTER_SHUFFLE else r)
                            for r in self.raw_chunks()]
        return self._frames

    def stored(self):
        """The frames one after the other: the first extent of a cold array without a layout."""
        return b"".join(self.frames())

    def data_size(self):
        """The entry's data_size: raw bytes, or a cold array's first extent (§7.8)."""
        if not self.cold:
            return len(self.data)
        return len(self.stored()) if self.layout is None else self.layout["data_size"]

    def frame_offsets(self, offset):
        """Absolute file offset of each frame, the array placed at `offset`."""
        if self.layout is not None:
            return list(self.layout["at"])
        at = [offset]
        for f in self.frames()[:-1]:
            at.append(at[-1] + len(f))
        return at[:len(self.frames())]

    def extents(self):
        """§7.8: the (offset, size) extra extents of a cold growable array."""
        return [] if self.layout is None else list(self.layout["extents"])

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
    im.colds, im.chunks, im.coldinfo, im.extra = [], [], {}, []
    cur = 512
    for a in arrays:
        al = PACKED_ALIGN if a.packed else alignment
        off = a.offset if a.offset is not None else align_up(cur, al)
        cur = max(cur, align_up(off + a.data_size(), al))
        if a.capacity is not None and not a.cold:  # §7.8: the reserved region, not the data
            cur = max(cur, align_up(off + a.region(), al))
        if a.cold:
            cold_chunks(im, len(entries), a, off)
        if a.cold and a.layout is not None:  # its frames are written one by one (im.extra)
            blobs.append((off, b""))
        else:
            blobs.append((off, a.stored() if a.cold else a.data))
        if a.dtype not in dtype_ids:
            dtype_ids[a.dtype] = len(dtypes)
            dtypes.append(heap.add(u8(a.dtype)))
        mfirst, mcount = group(a.meta)
        if mcount:
            ameta.append(dict(entry=len(entries), meta_first=mfirst, meta_count=mcount))
        entries.append(dict(
            data_offset=off, data_size=a.data_size(), checksum=a.checksum,
            name_rank=rank[len(entries)], dtype_id=dtype_ids[a.dtype],
            dims_first=len(dims), cold_id=len(im.colds) - 1 if a.cold else NONE32,
            ndim=len(a.shape), storage=1 if a.cold else 0,
            flags=(ENTRY_FORTRAN if a.order == "F" else 0) | (ENTRY_PACKED if a.packed else 0),
            reserved=bytes(5)))
        dims.extend(a.shape)
    im.entries, im.blobs, im.dtypes, im.dims, im.metas = entries, blobs, dtypes, dims, metas
    im.ameta = ameta
    im.heap = heap.buf
    im.names = [dict(entry=i, name_offset=name_ref[i][0], name_size=name_ref[i][1])
                for i in order]  # §7.6
    # the index goes after the data and after every extra extent (§7.8)
    im.data_end = max([cur] + [o + n for info in im.coldinfo.values()
                               for o, n in info["extents"]])
    im.file_end = 0  # serialize: the file is at least this long (data after the index)
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
    # Growable records (§7.8), in entry order, their values one after the other: a hot
    # array's block checksums, a cold one's extra extents as (offset, size) pairs.
    im.growables, first = [], 0
    for i, a in enumerate(arrays):
        if a.capacity is None:
            continue
        if a.cold:
            blocks = [v for ext in a.extents() for v in ext]
        else:
            blocks = a.blocks()
        im.growables.append(dict(entry=i, block_count=len(blocks), capacity=a.capacity,
                                 block_shift=0 if a.cold else a.block_shift,
                                 blocks_first=first, reserved=0, blocks=blocks))
        first += len(blocks)
    if im.colds:  # §5: COLD_ZSTD exactly when some entry is cold
        im.slots["A"]["required"] = REQ_COLD_ZSTD
    if im.growables:  # §5, §13: GROWABLE and format 1.2 exactly when there are records
        im.minor = 2
        im.slots["A"]["required"] = im.slots["A"].get("required", 0) | REQ_GROWABLE
        im.section_order.append("growable")
    return im


def cold_chunks(im, entry, a, off):
    """The cold descriptor (§10.1) and chunk records (§10.2) of cold Arr `a`, entry number
    `entry` at data_offset `off`, appended to the Image; im.coldinfo[entry] keeps what the
    descriptions state (each chunk with its frame's absolute offset, the extra extents)."""
    raws, frames, at = a.raw_chunks(), a.frames(), a.frame_offsets(off)
    assert len(at) == len(frames)
    im.colds.append((a.chunk_size, len(im.chunks), len(frames), CODEC_ZSTD, a.filter, 0,
                     a.level, 0))
    info = dict(chunks=[], extents=a.extents())
    for k, (raw, frame, pos) in enumerate(zip(raws, frames, at)):
        im.chunks.append((pos - off, len(frame), 0, xxh(raw)))  # offset relative (§10.2)
        info["chunks"].append(dict(raw_offset=k * a.chunk_size, raw_size=len(raw),
                                   offset=pos, size=len(frame), checksum=xxh(raw)))
        if a.layout is not None:
            im.extra.append((pos, frame))
    im.coldinfo[entry] = info


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
    file_size = max(ioff + len(idx), im.file_end)
    buf = bytearray(file_size)
    for off, data in im.blobs:
        if off is not None and 512 <= off and off + len(data) <= ioff:
            buf[off:off + len(data)] = data
    for off, data in im.extra:  # frames placed one by one (cold growable layouts, §7.8)
        if 512 <= off and off + len(data) <= file_size and (
                off + len(data) <= ioff or off >= ioff + len(idx)):
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


def describe_cold(ja, info, a, e, reads):
    """The facts of cold array `a` (entry `e`, chunks and extents `info` from cold_chunks):
    added to its JSON object `ja`; returned as .expect lines (the "cold" line, then the
    "chunk" and "extent" lines), with whether its raw bytes can be read (no chunk in `reads`,
    {chunk: code}, fails). Its raw bytes are then left out of `ja`."""
    chunks = [dict(c, checksum=hex16(c["checksum"]), read=reads.get(k, "ok"))
              for k, c in enumerate(info["chunks"])]
    ja.update(storage="cold", chunk_size=a.chunk_size, filter=a.filter, level=a.level,
              stored=sum(c["size"] for c in chunks), chunks=chunks)
    lines = ["cold %d %d %d %d" % (a.chunk_size, len(chunks), a.filter, a.level)]
    for k, c in enumerate(chunks):
        lines.append("chunk %d %d %d %d %d %s %s" % (k, c["raw_offset"], c["raw_size"],
                                                   c["offset"], c["size"], c["checksum"],
                                                   c["read"]))
    if a.capacity is not None:  # the first extent, then the extra ones (§7.8)
        exts = [(e["data_offset"], e["data_size"])] + info["extents"]
        ja["extents"] = [list(ext) for ext in exts]
        lines += ["extent %d %d" % ext for ext in exts]
    readable = not reads
    if not readable:
        ja.pop("data", None)
        ja.pop("data_xxh3", None)
    return lines, readable


def describe(im, *, generation=1, file_size=None, index=None, features=None, stale=0,
             inactive_damaged=0, verify="ok", averify=None, data_override=None,
             chunk_read=None):
    """JSON object and .expect lines for a valid file whose active index is `im`.
    chunk_read: {entry: {chunk: code}} for cold arrays whose chunks a reader must refuse
    (their checksum fails); such an array's raw bytes are not described."""
    file_size = im.file_size if file_size is None else file_size
    index = (im.index_off, im.index_size) if index is None else index
    if features is None:
        features = ((REQ_COLD_ZSTD if im.colds else 0) | (REQ_GROWABLE if im.growables else 0),
                    OPT_RAGGED if im.raggeds else 0)
    chunk_read = chunk_read or {}
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
        cold_lines, readable = [], True
        if a.cold:  # §10; absent: raw
            cold_lines, readable = describe_cold(ja, im.coldinfo[i], a, e,
                                                 chunk_read.get(i, {}))
            x.append(cold_lines.pop(0))
        x.append("offset %d" % e["data_offset"])
        # the bytes its data occupy: data_size, or a cold array's frames (§10, §7.8)
        x.append("stored %d" % (ja["stored"] if a.cold else e["data_size"]))
        x.append("checksum %s" % hex16(a.checksum))
        x.extend(cold_lines)
        if readable and len(data) <= DATA_HEX_MAX:
            x.append("data %s" % hx(data))
        if readable:
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


# --------------------------------------------------------------------------------------------
# Cold growable arrays (format 1.2, spec §7.8): the files their vectors start from


def cold_rows(start, stop):
    """Rows [start, stop) of the cold growable arrays: pairs (r, r*r mod 1999 - 999) as <i4,
    so that an array appended to holds the bytes of one written at once."""
    r = np.arange(start, stop, dtype="<i8")
    return np.stack([r, r * r % 1999 - 999], axis=1).astype("<i4").tobytes()


def cold_growable(rows, capacity=1000, **kw):
    """'c': `rows` x 2 <i4 cold growable, chunks of 1000 raw bytes (125 rows), shuffled."""
    return Arr("c", "<i4", (rows, 2), cold_rows(0, rows), chunk_size=1000, shuffle=True,
               capacity=capacity, **kw)


def cold_growable_arrays(c=None):
    """The arrays of valid/growable_cold_basic: 'head' (hot, packed, at 512), 'c' (300 rows:
    chunks of 1000, 1000 and 400 raw bytes; page-aligned at 4096; or the Arr given) and
    'tail' (hot, packed, at c's padded end)."""
    return [npa("head", np.arange(5, dtype="<i2")),
            cold_growable(300, packed=False) if c is None else c,
            npa("tail", np.array([1.0, 2.0], "<f8"))]


def cold_extents_image():
    """valid/growable_cold_extents, laid out by hand (each call a fresh Image): 'head' (hot,
    packed, 512); 'c', 550 x 2 <i4 cold growable (capacity 2000), packed at 768, in chunks of
    1002 raw bytes (not a multiple of the itemsize: each shuffled chunk ends in 2 bytes
    copied as they are, §10.3): frames 0-1 in its first extent, 2-3 in extra extent E1 that
    starts 100 bytes after c's padded range, 4 in E2 that starts 40 bytes after the index;
    'n' (hot, packed) 300 bytes or more after E1; the index between n and E2, so E2 ends the
    file. Slot A alone holds it, as generation 2 (the gaps are what an earlier generation
    left). Returns the Image and a dict of the offsets the invalid vectors edit."""
    head = npa("head", np.arange(5, dtype="<i2"))
    c = Arr("c", "<i4", (550, 2), cold_rows(0, 550), chunk_size=1002, shuffle=True,
            capacity=2000, packed=True)
    n = npa("n", np.arange(7, dtype="<u8") * 3)
    f = [len(fr) for fr in c.frames()]
    assert len(f) == 5 and n.packed
    head.offset, c.offset = 512, 768
    first_end = c.offset + f[0] + f[1]
    pad_end = align_up(first_end, PACKED_ALIGN)
    assert first_end < pad_end  # c has padding: an extent can start inside it
    e1 = pad_end + 100
    e1_end = e1 + f[2] + f[3]
    n.offset = align_up(e1_end + 300, PACKED_ALIGN)
    ioff = align_up(n.offset + len(n.data), PACKED_ALIGN)

    def image(e2):
        c.layout = dict(data_size=f[0] + f[1],
                        at=[c.offset, c.offset + f[0], e1, e1 + f[2], e2],
                        extents=[(e1, f[2] + f[3]), (e2, f[4])])
        im = plan([head, c, n])
        im.index_offset = ioff
        return im

    isize = len(index_bytes(image(1 << 40)))  # its size does not depend on the offsets
    e2 = ioff + isize + 40
    im = image(e2)
    im.file_end = e2 + f[4]
    im.slots["A"]["generation"] = 2
    facts = dict(frames=f, data_size=f[0] + f[1], pad_end=pad_end, e1=e1, e1_end=e1_end,
                 n=n.offset, index_end=ioff + isize, e2=e2, file_size=e2 + f[4])
    return im, facts
