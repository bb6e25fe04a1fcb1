#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""golden_invalid.py — the invalid golden vectors: files every reader must refuse, each a
minimal change from a valid file (gen_golden.py runs gen_invalid())."""

import struct

import numpy as np

from golden_encode import (
    Arr, BASE_META, ENTRY_PACKED, KIND_ARRAYS, KIND_BYTES, KIND_UTF8, RAGGED_META, SECTIONS,
    SLOT_A, SLOT_B, U64, align_up, base, base_arrays, cold_extents_image, cold_growable_arrays,
    cold_rows, emit_invalid, fix_prologue, fix_slot, index_bytes, pack_slot, plan, ragged_base,
    ragged_base_parts, read_slot, serialize, write_slot, xxh, zstd_raw_frame,
)


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
            "unknown required feature bit 2 (bit 1 is GROWABLE since 1.2; slot checksum "
            "recomputed)",
            slot_edit(required=1 << 2))
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

    gen_ragged_invalid()
    gen_growable_invalid()
    gen_cold_growable_invalid()


# --------------------------------------------------------------------------------------------
# Ragged records and section (1.1, §7.7, §12 rule 8), from valid/ragged_base: entries 0 'seq'
# (ARRAYS, <f4 (4,3)) with offsets 1, 2 'plain', 3 'txt' (UTF8) with offsets 4, 5 'raw'
# (BYTES) with offsets 6. Records (0, 1), (3, 4), (5, 6). Every vector keeps the RAGGED bit.


def gen_ragged_invalid():
    C = "MMARR_E_CORRUPT"

    def rag(name, purpose, edit):
        """Edit the Image (records, header fields, section layout, entries)."""
        im = ragged_base()
        edit(im)
        emit_invalid(name, serialize(im), C, purpose + " (checksums recomputed)")

    def rag_arrays(name, purpose, edit):
        """Edit the arrays (dtype, shape, order) or the records before planning."""
        arrs, recs = ragged_base_parts()
        edit(arrs, recs)
        im = plan(arrs, RAGGED_META, ragged=recs)
        emit_invalid(name, serialize(im), C, purpose + " (checksums recomputed)")

    def rec(k, **kv):
        def edit(im):
            im.raggeds[k].update(kv)
        return edit

    def recs(*triples):
        def edit(im):
            im.raggeds = [dict(values=v, offsets=o, kind=kd, reserved=bytes(7))
                          for v, o, kd in triples]
        return edit

    def redo(i, **kv):
        """Array i again, with other dtype, shape, data or order."""
        def edit(arrs, recs):
            a = arrs[i]
            f = dict(name=a.name, dtype=a.dtype, shape=a.shape, data=a.data, order=a.order)
            f.update(kv)
            arrs[i] = Arr(f["name"], f["dtype"], f["shape"], f["data"], order=f["order"])
        return edit

    # ---- records
    rag("ragged_kind_3", "ragged record 0 ('seq') has kind 3 (known: 0, 1, 2)", rec(0, kind=3))
    rag("ragged_kind_255", "ragged record 2 ('raw') has kind 255", rec(2, kind=255))
    rag("ragged_values_out_of_range", "ragged record 2 has values entry 7 of 7 entries",
        rec(2, values=7))
    rag("ragged_values_0xffffffff", "ragged record 2 has values entry 0xFFFFFFFF",
        rec(2, values=0xFFFFFFFF))
    rag("ragged_offsets_out_of_range", "ragged record 1 ('txt') has offsets entry 7 of 7",
        rec(1, offsets=7))
    rag("ragged_records_out_of_order",
        "ragged records 0 and 1 swapped: values 3, 0, 5 not strictly increasing",
        recs((3, 4, KIND_UTF8), (0, 1, KIND_ARRAYS), (5, 6, KIND_BYTES)))
    rag("ragged_records_equal_values",
        "ragged records 1 and 2 both have values entry 3 ('txt'), with offsets 4 and 6: not "
        "strictly increasing, and 'txt' in two records",
        recs((0, 1, KIND_ARRAYS), (3, 4, KIND_UTF8), (3, 6, KIND_UTF8)))
    rag("ragged_offsets_in_two_records",
        "ragged record 2 ('raw') uses offsets entry 4, the offsets of record 1 ('txt'); entry "
        "6 left plain", rec(2, offsets=4))
    rag("ragged_values_are_other_offsets",
        "records (0, 1), (1, 6), (3, 4): entry 1 is the offsets of 'seq' and the values of "
        "another item (ARRAYS, <u8 1-d: fit as values otherwise)",
        recs((0, 1, KIND_ARRAYS), (1, 6, KIND_ARRAYS), (3, 4, KIND_UTF8)))
    rag("ragged_values_equal_offsets",
        "record (1, 1): entry 1 (<u8 [0, 1, 1, 4], 1-d) is both the values and the offsets of "
        "one item, whose content would fit (last offset = its 4 rows)",
        recs((1, 1, KIND_ARRAYS), (3, 4, KIND_UTF8), (5, 6, KIND_BYTES)))

    # ---- the offsets entry: <u8, one dimension of >= 1 elements, raw
    def offsets_as(dtype, data=None, shape=None):
        def edit(arrs, recs):
            a = arrs[1]
            redo(1, dtype=dtype, data=a.data if data is None else data,
                 shape=a.shape if shape is None else shape)(arrs, recs)
        return edit
    rag_arrays("ragged_offsets_i8", "offsets of 'seq' have dtype <i8 (same bytes), not <u8",
               offsets_as("<i8"))
    rag_arrays("ragged_offsets_big_endian",
               "offsets of 'seq' have dtype >u8 (same bytes), not <u8", offsets_as(">u8"))
    rag_arrays("ragged_offsets_u4", "offsets of 'seq' have dtype <u4 [0, 1, 1, 4], not <u8",
               offsets_as("<u4", struct.pack("<4I", 0, 1, 1, 4)))
    rag_arrays("ragged_offsets_2d", "offsets of 'seq' have shape (4, 1), not (4,)",
               offsets_as("<u8", shape=(4, 1)))
    rag_arrays("ragged_offsets_0d", "offsets of 'seq' are a 0-d <u8 (value 0)",
               offsets_as("<u8", struct.pack("<Q", 0), ()))
    rag_arrays("ragged_offsets_empty", "offsets of 'seq' have shape (0,): no element",
               offsets_as("<u8", b"", (0,)))

    def offsets_cold(im):
        e, raw = im.entries[1], im.arrays[1].data
        frame = zstd_raw_frame(raw)
        e.update(storage=1, data_size=len(frame), cold_id=0)
        im.colds = [(len(raw), 0, 1, 1, 0, 0, 0, 0)]
        im.chunks = [(0, len(frame), 0, xxh(raw))]
        im.blobs[1] = (e["data_offset"], frame)
        im.slots["A"]["required"] = 1  # COLD_ZSTD
    rag("ragged_offsets_cold",
        "offsets of 'seq' stored cold (one valid raw-block zstd chunk, COLD_ZSTD set): "
        "offsets must be raw", offsets_cold)

    # ---- the values entry
    rag_arrays("ragged_values_0d", "values of 'seq' are a 0-d <f4: no first dimension",
               redo(0, shape=(), data=struct.pack("<f", 1.0)))
    def fortran(arrs, recs):
        f_bytes = np.frombuffer(arrs[0].data, "<f4").reshape(4, 3).tobytes(order="F")
        redo(0, order="F", data=f_bytes)(arrs, recs)
    rag_arrays("ragged_values_fortran_2d",
               "values of 'seq' (4, 3) stored in Fortran order (FORTRAN flag, bytes in F "
               "order): an item's rows would not be contiguous", fortran)
    rag_arrays("ragged_utf8_values_i1", "values of UTF8 'txt' have dtype |i1 (same bytes)",
               redo(3, dtype="|i1"))
    rag_arrays("ragged_utf8_values_2d", "values of UTF8 'txt' have shape (7, 1)",
               redo(3, shape=(7, 1)))
    rag_arrays("ragged_bytes_values_S1", "values of BYTES 'raw' have dtype |S1 (same bytes)",
               redo(5, dtype="|S1"))
    rag_arrays("ragged_bytes_values_2d", "values of BYTES 'raw' have shape (3, 1)",
               redo(5, shape=(3, 1)))
    rag("ragged_utf8_kind_on_f4_values",
        "ragged record 0 has kind UTF8 on the <f4 (4,3) values of 'seq'",
        rec(0, kind=KIND_UTF8))

    im = plan([], RAGGED_META, ragged=())
    im.raggeds = [dict(values=0, offsets=1, kind=KIND_ARRAYS, reserved=bytes(7))]
    im.minor = 1
    im.slots["A"]["optional"] = 1  # RAGGED
    im.section_order.append("ragged")
    emit_invalid("ragged_record_without_entries", serialize(im), C,
                 "no entries, one ragged record (0, 1): entry numbers out of range "
                 "(checksums recomputed)")

    # ---- the ragged section (a section of §7, after the heap, inside the index)
    def gap(n):
        def edit(im):
            im.section_gap = {"ragged": n}
        return edit
    rag("ragged_section_misaligned",
        "ragged_offset a multiple of 8 plus 4 (the records really there)", gap(4))

    def before_heap(im):
        im.section_order = SECTIONS[:-1] + ["ragged", "heap"]
    rag("ragged_section_before_heap",
        "ragged section placed between the chunks and the heap, header offsets pointing at "
        "the right bytes: it must come after the heap", before_heap)

    def overlaps_heap(im):
        im.header_over["ragged_offset"] = heap_offset(im) + 8
    rag("ragged_section_overlaps_heap",
        "ragged_offset 8 bytes into the heap (records of the same size as the real section)",
        overlaps_heap)
    rag("ragged_section_past_index",
        "ragged_count 4 with 3 records at the end of the index: the section runs 16 bytes "
        "past index_size", lambda im: im.header_over.update(ragged_count=4))

    def offset_past(im):
        im.header_over["ragged_offset"] = align_up(len(index_bytes(im)), 8) + 64
    rag("ragged_offset_past_index", "ragged_offset 64 bytes past the end of the index",
        offset_past)
    rag("ragged_offset_overflow",
        "ragged_offset 2^64-16 (a multiple of 8) with 3 records: offset + size overflows u64",
        lambda im: im.header_over.update(ragged_offset=2 ** 64 - 16))
    rag("ragged_count_2_32", "ragged_count 2^32 (must be < 2^32)",
        lambda im: im.header_over.update(ragged_count=2 ** 32))
    rag("ragged_count_max", "ragged_count 2^64-1: the section size overflows u64",
        lambda im: im.header_over.update(ragged_count=2 ** 64 - 1))


def heap_offset(im):
    """heap_offset as index_bytes lays the index of `im` out (§7.1, bytes 136..143)."""
    return struct.unpack_from("<Q", index_bytes(im), 136)[0]


# --------------------------------------------------------------------------------------------
# Growable records and section (1.2, §7.8, §12 rule 9), from valid/growable_basic: entries
# 0 'head', 1 'g' (1000 x 3 <i4, capacity 5000, 3 blocks of 4 KiB), 2 'tail'.


def growable_arrays():
    return [Arr("head", "<i2", (5,), np.arange(5, dtype="<i2").tobytes()),
            Arr("g", "<i4", (1000, 3), np.arange(3000, dtype="<i4").tobytes(), capacity=5000),
            Arr("tail", "<f8", (2,), np.array([1.0, 2.0], "<f8").tobytes(), packed=False)]


def gen_growable_invalid():
    C = "MMARR_E_CORRUPT"

    def grow_vec(name, purpose, edit, arrays_edit=None, expect=C):
        arrs = growable_arrays()
        if arrays_edit:
            arrays_edit(arrs)
        im = plan(arrs)
        edit(im)
        emit_invalid(name, serialize(im), expect,
                     "growable_basic with " + purpose + " (checksums recomputed)")

    def rec(**kv):
        return lambda im: im.growables[0].update(kv)

    grow_vec("growable_capacity_below_rows", "capacity 999 < its 1000 rows", rec(capacity=999))
    grow_vec("growable_block_count_wrong", "block_count 2 (the data need 3)",
             rec(block_count=2))
    grow_vec("growable_shift_11", "block_shift 11 (below 12)", rec(block_shift=11))
    grow_vec("growable_shift_31", "block_shift 31 (above 30)", rec(block_shift=31))
    grow_vec("growable_reserved_nonzero", "a non-zero reserved field", rec(reserved=1))
    grow_vec("growable_entry_out_of_range", "entry 3 (there are 3 entries)", rec(entry=3))
    grow_vec("growable_blocks_first_gap", "blocks_first 1 (must be 0)", rec(blocks_first=1))

    def packed_entry(im):
        im.entries[1]["flags"] |= ENTRY_PACKED
    grow_vec("growable_entry_packed", "the entry of 'g' marked PACKED", packed_entry)

    def region_overlap(arrs):
        arrs[2].offset = align_up(512 + 256, 4096) + 4096 * 4  # inside g's region
    grow_vec("growable_region_overlaps_next",
             "'tail' placed inside the 60000-byte reserved region of 'g'", lambda im: None,
             region_overlap)

    def no_records(im):
        im.growables = []
    grow_vec("growable_bit_without_records", "GROWABLE set but no growable record", no_records)

    def capacity_overflow(im):
        im.growables[0]["capacity"] = 1 << 62
    grow_vec("growable_capacity_overflow", "capacity 2^62 rows (x 12 bytes overflows)",
             capacity_overflow)

    def section_outside(im):
        im.header_over["growable_offset"] = 1 << 40
    grow_vec("growable_section_outside", "growable_offset 2^40, past the index",
             section_outside)

    def total_short(im):
        im.header_over["block_total"] = 2
    grow_vec("growable_block_total_short", "block_total 2 (the records use 3)", total_short)



# --------------------------------------------------------------------------------------------
# Cold growable arrays (1.2, §7.8, §12 rule 9): from valid/growable_cold_basic ('c', entry 1,
# one extent) and from valid/growable_cold_extents ('c', entry 1: frames 0-1 in its first
# extent, 2-3 in extra extent E1, 4 in E2 after the index; 'n', entry 2, between E1 and the
# index). Both have one slot in use, so a reader has no older generation to fall back to.


def gen_cold_growable_invalid():
    C = "MMARR_E_CORRUPT"

    def basic(name, purpose, edit=None, c=None):
        """growable_cold_basic with 'c' replaced by the Arr given and the Image edited."""
        im = plan(cold_growable_arrays(c))
        if edit:
            edit(im)
        emit_invalid(name, serialize(im), C,
                     "growable_cold_basic with " + purpose + " (checksums recomputed)")

    def rec(**kv):
        return lambda im: im.growables[0].update(kv)

    basic("growable_cold_shift_12",
          "block_shift 12 (a valid hot block size) on the record of cold 'c': 0 for a cold "
          "entry", rec(block_shift=12))
    basic("growable_cold_capacity_below_rows", "capacity 299 < the 300 rows of cold 'c'",
          rec(capacity=299))
    basic("growable_cold_ndim_0",
          "'c' a 0-d <i4 (one chunk of 4 bytes), capacity 1: a growable entry has ndim >= 1",
          c=Arr("c", "<i4", (), cold_rows(0, 1)[:4], chunk_size=1000, shuffle=True,
                capacity=1, packed=False))
    basic("growable_cold_fortran",
          "'c' (300, 2) in Fortran order (FORTRAN flag, bytes in F order): a growable entry "
          "is in C order",
          c=Arr("c", "<i4", (300, 2),
                np.frombuffer(cold_rows(0, 300), "<i4").reshape(300, 2).tobytes(order="F"),
                order="F", chunk_size=1000, shuffle=True, capacity=1000, packed=False))

    def extents(name, purpose, edit):
        """growable_cold_extents with its Image edited: edit(im, facts)."""
        im, facts = cold_extents_image()
        edit(im, facts)
        emit_invalid(name, serialize(im), C,
                     "growable_cold_extents with " + purpose + " (checksums recomputed)")

    def values(make):
        """Replace the extent values of 'c' by make(facts, [(offset, size), ...])."""
        def edit(im, facts):
            g = im.growables[0]
            pairs = list(zip(g["blocks"][0::2], g["blocks"][1::2]))
            g["blocks"] = [v for p in make(facts, pairs) for v in p]
            g["block_count"] = len(g["blocks"])
        return edit

    def odd(im, facts):
        g = im.growables[0]
        g["blocks"].append(0)
        g["block_count"] = 5
    extents("growable_cold_block_count_odd",
            "block_count 5: the two extents and a fifth value 0 (block_total 5)", odd)
    extents("growable_cold_extent_size_zero",
            "a third extra extent of size 0 at the end of the first one, between the two",
            values(lambda f, p: [p[0], (f["e1_end"], 0), p[1]]))
    extents("growable_cold_extent_in_first_padding",
            "the first extra extent starting 1 byte before the end of c's padded range (after "
            "its data_offset + data_size, ending where it did): it intersects c's own padded "
            "range", values(lambda f, p: [(f["pad_end"] - 1, f["e1_end"] - f["pad_end"] + 1),
                                          p[1]]))
    extents("growable_cold_extents_out_of_order",
            "its two extra extents listed in reverse order (each holds its frames)",
            values(lambda f, p: [p[1], p[0]]))
    extents("growable_cold_extents_overlap",
            "a third extra extent [E1 end - 8, E1 end + 8) between the two: it starts after "
            "the first one starts but before it ends",
            values(lambda f, p: [p[0], (f["e1_end"] - 8, 16), p[1]]))
    extents("growable_cold_extent_overlaps_entry",
            "the first extra extent 1 byte longer than the gap after it: its last byte is the "
            "first of hot 'n' (another entry's padded range)",
            values(lambda f, p: [(f["e1"], f["n"] + 1 - f["e1"]), p[1]]))
    extents("growable_cold_extent_overlaps_index",
            "the second extra extent starting at the index's last byte (ending where it did)",
            values(lambda f, p: [p[0], (f["index_end"] - 1,
                                        f["file_size"] - f["index_end"] + 1)]))
    extents("growable_cold_extent_past_file_size",
            "the second extra extent, the last bytes of the file, 1 byte longer: it ends past "
            "file_size", values(lambda f, p: [p[0], (f["e2"], f["file_size"] - f["e2"] + 1)]))
    extents("growable_cold_extent_size_overflow",
            "the second extra extent of size 2^64-1: its offset + size overflows u64",
            values(lambda f, p: [p[0], (f["e2"], 2 ** 64 - 1)]))
    fr = cold_extents_image()[1]["frames"]
    extents("growable_cold_frame_outside_extents",
            "the first extra extent only as long as frame 2: frame 3 lies just after it, in "
            "no extent",
            values(lambda f, p: [(f["e1"], f["frames"][2]), p[1]]))
    extents("growable_cold_frame_straddles_extent",
            "the first extra extent 1 byte short of the end of frame 3, its last frame",
            values(lambda f, p: [(f["e1"], f["frames"][2] + f["frames"][3] - 1), p[1]]))

    def first_short(im, facts):
        im.entries[1]["data_size"] = facts["data_size"] - 1
    extents("growable_cold_frame_straddles_first_extent",
            "data_size of 'c' 1 byte short of the end of frame 1: its first extent holds "
            "frame 0 and all of frame 1 but its last byte (%d + %d bytes)" % (fr[0], fr[1]),
            first_short)

    def swapped(im, facts):
        first = im.colds[0][1]
        ch = im.chunks
        ch[first + 2], ch[first + 3] = ch[first + 3], ch[first + 2]
        sums = b"".join(U64.pack(ch[first + k][3]) for k in range(im.colds[0][2]))
        im.entries[1]["checksum"] = xxh(sums)
    extents("growable_cold_chunks_out_of_order",
            "chunk records 2 and 3 of 'c' swapped (both full chunks in the first extra "
            "extent; the entry checksum recomputed over the swapped chunk checksums): chunk "
            "offsets decrease", swapped)
