#!/usr/bin/env bash
# Session forensics: what the keyed Tardos A/B code needs to name leakers.
#
#   bench/sessions.sh [SESSIONS] [READ_RATE] [ERROR_RATE]
#
# 1. One leaker among SESSIONS (default 1e6): the fewest read segments that give
#    log10 p <= -6 (corrected for the sessions scored), for 24 to 64 segments.
# 2. Two colluders alternating segments over a 2-hour title (1200 segments of
#    6 s): both named, no innocent.
# 3. Scoring speed: SESSIONS scored against 64 segments (whole-process time of
#    the example, printed by it; tests never assert time).
# The per-segment decisions are simulated from READ_RATE (share of segments a
# leak's windows read) and ERROR_RATE (share read as the wrong variant), which
# `shieldpack watermark trace --json` measures on real leaks ("segments" lists
# each read); this is a simulation of the decisions, not 2 hours of encodes.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
read_rate=${2:-1.0}
err=${3:-0.0}
# SIM=0 skips 1-3 (the simulation).
if [[ ${SIM:-1} != 0 ]]; then
  cargo build -q --release -p shieldpack-session --example simulate
  sim=target/release/examples/simulate
  echo "== one leaker among $n sessions (read $read_rate, error $err)"
  for m in 24 32 40 48 56 64; do
    "$sim" leaker "$n" "$m" "$read_rate" "$err" 5 | sed "s/^/m=$m /"
  done
  echo "== two colluders, 2-hour title (1200 segments of 6 s), among $n sessions"
  "$sim" colluders "$n" 1200 "$read_rate" "$err" 3
fi

# 4. A/B packaging against one `watermark embed` of the same title (both
#    libx264 veryfast CRF 18), and
# 5. `watermark trace` speed on a session's leak of that package, against the
#    leak's own length (goal: >= 4x real time).
# A TITLE seconds of 1080p24 (default 60; 600 for the 10-minute goal), made
# with FFmpeg's lavfi sources. Whole-process wall and CPU seconds from
# /usr/bin/time. SHIELDPACK=path/to/shieldpack picks the build (default
# release; shieldpack-media must sit beside it). Skip with TITLE=0; SKIP_EMBED=1
# leaves out the embed run (trace speed only).
# 6. A pirate's leak instead of a stream copy: LEAK_VF=scale=iw/2:ih/2
#    LEAK_CRF=30 re-encodes the session's playback with libx264 veryfast, and
#    the bench prints the share of segments trace read and, of those, the
#    share whose variant agrees with the session's playlist (goal >= 99%),
#    plus the A/B package's luma PSNR of the marks of both variants (goal
#    >= 46 dB). SEG=N packages in N-second segments (default: package's).
title=${TITLE:-60}
if [[ $title != 0 ]]; then
  BIN=${SHIELDPACK:-target/release/shieldpack}
  if [[ ! -x $BIN ]]; then
    cargo build -q --release -p shieldpack -p shieldpack-media-cli
  fi
  BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
  work=$(mktemp -d "${TMPDIR:-/tmp}/sessions-bench.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  FF=(ffmpeg -hide_banner -v error -nostdin -y)
  timed() { # LABEL CMD...: prints "LABEL wall W cpu C exit E" (seconds);
    # exit 1 is an answer (trace: nobody accused), more is a failure
    local label=$1 rc=0; shift
    /usr/bin/time -f "%e %U %S" -o "$work/time" "$@" >"$work/$label.out" 2>"$work/err" || rc=$?
    if [[ $rc -gt 1 ]]; then cat "$work/err" >&2; return 1; fi
    read -r w u s < <(tail -1 "$work/time")
    echo "$label wall $w cpu $(echo "$u + $s" | bc -l) exit $rc"
  }
  echo "== A/B packaging and trace, ${title}s of 1080p24 (in $work)"
  "${FF[@]}" -f lavfi -i "mandelbrot=s=960x540:r=24,scale=1920:1080:flags=bicubic" \
    -f lavfi -i "testsrc2=s=1920x1080:r=24" -f lavfi -i "sine=f=440:r=48000" \
    -filter_complex "[0:v][1:v]blend=all_mode=average,noise=alls=5:allf=t,format=yuv420p[v]" \
    -map "[v]" -map 2:a -t "$title" -c:v libx264 -crf 18 -preset veryfast -c:a aac "$work/title.mp4"
  "$BIN" -q watermark keygen -o "$work/wm.key"
  "$BIN" -q keys new -o "$work/k.json"
  if [[ ${SKIP_EMBED:-0} == 1 ]]; then e="embed wall 1 cpu 1 exit 0 (skipped)"; else
  e=$(timed embed "$BIN" -q watermark embed "$work/title.mp4" -o "$work/marked.mp4" --wm-key "$work/wm.key" --payload 5a17c0de12345678 --preset veryfast --crf 18); fi
  seg=()
  if [[ -n ${SEG:-} ]]; then seg=(--segment-duration "$SEG"); fi
  ab=$(timed ab "$BIN" -q --json package "$work/title.mp4" -o "$work/pkg" --keyring "$work/k.json" --ab-watermark "$work/wm.key" --ab-preset veryfast --ab-crf 18 "${seg[@]}")
  echo "$e"
  echo "$ab"
  echo "A/B marks, both variants: luma PSNR $(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["psnr_luma_db"], 2))' "$work/ab.out") dB (goal >= 46)"
  echo "A/B packaging / embed: wall $(echo "$(echo "$ab" | cut -d' ' -f3) / $(echo "$e" | cut -d' ' -f3)" | bc -l | cut -c1-5)x, cpu $(echo "$(echo "$ab" | cut -d' ' -f5) / $(echo "$e" | cut -d' ' -f5)" | bc -l | cut -c1-5)x (goal <= 2.2x)"
  # a session's leak: its playlist's segments decrypted and joined, as a
  # recording of its playback would be (stream copy)
  "$BIN" -q keys export "$work/k.json" --package "$work/pkg" --format key-files -o "$work/keys"
  mkdir -p "$work/pkg/$(ls "$work/pkg" | grep p$ | head -1)/keys"
  cp "$work"/keys/*.key "$work/pkg/$(ls "$work/pkg" | grep p$ | head -1)/keys/"
  SHIELDPACK_IDENTITY="$work/k.json.identity" "$BIN" -q session "$work/pkg" --session leaker -o "$work/s"
  leak="$work/leak.ts"
  if [[ -n ${LEAK_VF:-}${LEAK_CRF:-} ]]; then
    leak="$work/leak.mp4"
    "${FF[@]}" -allowed_extensions ALL -i "$work/s/leaker.m3u8" -vf "${LEAK_VF:-null}" \
      -c:v libx264 -crf "${LEAK_CRF:-23}" -preset veryfast -c:a aac "$leak"
    echo "leak: -vf ${LEAK_VF:-null} CRF ${LEAK_CRF:-23}, $(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0:s=x "$leak")"
  else
    "${FF[@]}" -allowed_extensions ALL -i "$work/s/leaker.m3u8" -c copy "$leak"
  fi
  echo leaker >"$work/ids"
  t=$(timed trace "$BIN" -q --json watermark trace "$leak" --package "$work/pkg" --wm-key "$work/wm.key" --sessions "$work/ids")
  echo "$t"
  python3 - "$work/trace.out" "$work/s/leaker.m3u8" <<'PY'
import json, re, sys
v = json.load(open(sys.argv[1]))
want = {int(n): x for n, x in re.findall(r"seg_(\d+)\.([ab])\.", open(sys.argv[2]).read())}
reads = v["segments"]
right = sum(want.get(r["segment"]) == r["variant"] for r in reads)
print(f"trace read {len(reads)} of {len(want)} segments ({100 * len(reads) / len(want):.1f}%), "
      f"{right} agreeing with the playlist ({100 * right / max(len(reads), 1):.1f}% of reads; goal >= 99%); "
      f"accused {[(a['session'], round(a['log10_p'], 1)) for a in v['accused']]}")
PY
  echo "trace speed: $(echo "$title / $(echo "$t" | cut -d' ' -f3)" | bc -l | cut -c1-5)x real time (goal >= 4x)"
fi
