#!/usr/bin/env python3
"""Visibility of a mark, measured as the watermark issue states it.

Usage: watermark-quality.py SOURCE MARKED [FRAMES]

Decodes both clips' luma with the ffmpeg CLI (gray, full resolution) and
prints one JSON object:
- flat_sd: standard deviation of MARKED - SOURCE over the source's flat
  areas (8x8 blocks whose luma varies by less than 1 grey level, standard
  deviation), in grey levels;
- flat_share: the share of the picture those blocks cover;
- diff_corr: mean correlation of the difference between consecutive frames
  (near 1: a pattern fixed on screen while the picture moves);
- frames: frames compared (the first FRAMES, default 120).
"""
import json
import subprocess
import sys

import numpy as np


def size(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height", "-of", "csv=p=0", path],
        check=True, capture_output=True, text=True).stdout.strip().split(",")
    return int(out[0]), int(out[1])


def frames(path, w, h, n):
    p = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-frames:v", str(n),
         "-f", "rawvideo", "-pix_fmt", "gray", "-"], stdout=subprocess.PIPE)
    try:
        while True:
            buf = p.stdout.read(w * h)
            if len(buf) < w * h:
                return
            yield np.frombuffer(buf, np.uint8).reshape(h, w).astype(np.float32)
    finally:
        p.stdout.close()
        p.wait()


def main():
    src, marked = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 120
    w, h = size(src)
    if size(marked) != (w, h):
        sys.exit(f"{marked} is not {w}x{h} like {src}")
    bw, bh = w // 8 * 8, h // 8 * 8
    s2 = s = count = 0.0
    corrs, prev, share, k = [], None, 0.0, 0
    for a, b in zip(frames(src, w, h, n), frames(marked, w, h, n)):
        d = b - a
        blocks = a[:bh, :bw].reshape(bh // 8, 8, bw // 8, 8)
        flat = blocks.std(axis=(1, 3)) < 1.0
        mask = np.repeat(np.repeat(flat, 8, axis=0), 8, axis=1)
        df = d[:bh, :bw][mask]
        s += float(df.sum())
        s2 += float((df * df).sum())
        count += df.size
        share += mask.mean()
        if prev is not None:
            x, y = prev - prev.mean(), d - d.mean()
            den = float(np.sqrt((x * x).sum() * (y * y).sum()))
            if den > 0:
                corrs.append(float((x * y).sum()) / den)
        prev = d
        k += 1
    mean = s / count if count else 0.0
    sd = float(np.sqrt(max(s2 / count - mean * mean, 0.0))) if count else None
    print(json.dumps({
        "flat_sd": None if sd is None else round(sd, 3),
        "flat_share": round(share / max(k, 1), 3),
        "diff_corr": round(float(np.mean(corrs)), 3) if corrs else None,
        "frames": k,
    }))


if __name__ == "__main__":
    main()
