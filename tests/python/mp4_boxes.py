"""Reads fragmented MP4 files with pymp4 (an independent ISO BMFF parser) and
prints, as JSON per file, every box path it parsed and the encryption facts
the shieldpack tests check: tenc's KID and IV size, each trun's sample count,
each saiz's count, each saio's offsets, and each senc's entries (and their
IVs); for DASH timelines, mdhd's timescale, tfdt's base media decode time
and each trun's sample durations and composition offsets.

pymp4 1.4.0's SampleEncryptionBox reads its flags from the wrong context
(`this.flags` inside the per-sample struct, which has no flags), so it cannot
read a senc with subsamples at all. Here senc gets the same structure with the
flags looked up one level out (`this._.flags`); every other box is pymp4's.

usage: python mp4_boxes.py FILE...  (an init segment before its media segments)
"""

import json
import sys

from construct import (BitStruct, Bytes, Const, Default, Flag, If, Int8ub,
                       Int16ub, Int32ub, Padding, PrefixedArray, Struct, this)
import pymp4.parser as p

def senc_struct(iv_size):
    """senc with `iv_size`-byte IVs (8 for cenc; 0 for cbcs's constant IV)."""
    return Struct(
    "type" / Const(b"senc"),
    "version" / Const(Int8ub, 0),
    "flags" / BitStruct(Padding(22), "has_subsample_encryption_info" / Flag, Padding(1)),
    "sample_encryption_info" / PrefixedArray(Int32ub, Struct(
        "iv" / Bytes(iv_size),
        "subsample_encryption_info" / Default(If(
            this._.flags.has_subsample_encryption_info,
            PrefixedArray(Int16ub, Struct("clear_bytes" / Int16ub, "cipher_bytes" / Int32ub)),
        ), None),
    )),
    )


# The per-sample IV size of the last tenc read (an init segment given before
# its media segments), 8 until then.
IV_SIZE = [8]


def boxes_of(data):
    """Top-level boxes of `data` as (offset, bytes), by their size fields."""
    pos = 0
    while pos < len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        if size < 8:
            raise ValueError(f"box size {size} at {pos}")
        yield pos, data[pos:pos + size]
        pos += size


def walk(data, base, path, out, moof_at):
    for off, raw in boxes_of(data):
        t = raw[4:8].decode("latin-1")
        here = f"{path}/{t}"
        out["boxes"].append(here)
        at = base + off
        if t == "senc":
            s = senc_struct(IV_SIZE[0]).parse(raw[4:])
            out["senc"].append({
                "count": len(s.sample_encryption_info),
                "entries_at": at + 16 - moof_at,
                "ivs": [e.iv.hex() for e in s.sample_encryption_info],
                "covers": [sum(x.clear_bytes + x.cipher_bytes for x in (e.subsample_encryption_info or []))
                           for e in s.sample_encryption_info],
                "ivs": [e.iv.hex() for e in s.sample_encryption_info],
                "maps": [[[x.clear_bytes, x.cipher_bytes] for x in (e.subsample_encryption_info or [])]
                         for e in s.sample_encryption_info],
            })
            continue
        b = p.Box.parse(raw)
        if t == "tenc":
            kid = b.key_ID
            out["kid"] = kid.hex() if isinstance(kid, (bytes, bytearray)) else str(kid).replace("-", "")
            out["iv_size"] = b.iv_size
            IV_SIZE[0] = b.iv_size
        elif t == "trun":
            out["trun"].append(b.sample_count)
            out["sizes"].append([s.sample_size for s in b.sample_info])
            out["durations"].append([s.sample_duration for s in b.sample_info])
            out["offsets"].append([s.sample_composition_time_offsets or 0 for s in b.sample_info])
        elif t == "mdhd":
            out["timescale"] = b.timescale
        elif t == "tfdt":
            out["tfdt"].append(b.baseMediaDecodeTime)
        elif t == "saiz":
            out["saiz"].append(b.sample_count)
        elif t == "saio":
            out["saio"].append(list(b.offsets))
        elif t == "mdat":
            out["mdat"] = len(raw) - 8
        if t == "moof":
            moof_at = at
        # Containers: walk the children from their bytes, so that every box
        # below is parsed by pymp4 (or SENC) on its own.
        header = {"stsd": 16, "encv": 8 + 78, "enca": 8 + 28, "avc1": 8 + 78, "mp4a": 8 + 28,
                  "dref": 16}.get(t)
        if t in ("moov", "trak", "mdia", "minf", "stbl", "mvex", "moof", "traf", "sinf", "schi", "dinf"):
            header = 8
        if header is not None and len(raw) > header:
            walk(raw[header:], at + header, here, out, moof_at)


def parse_file(path):
    data = open(path, "rb").read()
    out = {"boxes": [], "trun": [], "sizes": [], "saiz": [], "saio": [], "senc": [],
           "durations": [], "offsets": [], "tfdt": []}
    walk(data, 0, "", out, 0)
    return out


print(json.dumps({f: parse_file(f) for f in sys.argv[1:]}))
