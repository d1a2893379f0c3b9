#!/usr/bin/env bash
# Times `shieldpack batch` over one catalogue with --jobs 1 and --jobs N (default:
# the number of cores), alternating runs so machine load hits both alike, and
# prints the wall times and their ratio. Titles are copies of fixtures/clip.mp4.
# Usage: bench/batch-jobs.sh [TITLES] [ROUNDS] [N]   (PROFILE=debug skips the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
titles=${1:-16} rounds=${2:-3} jobs=${3:-$(nproc)}
profile=${PROFILE:-release}
if [ "$profile" = release ]; then cargo build --quiet --release; else cargo build --quiet; fi
bin=target/$profile/shieldpack
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/catalog/a" "$work/catalog/b"
for i in $(seq 1 "$titles"); do
  cp fixtures/clip.mp4 "$work/catalog/$([ $((i % 2)) = 0 ] && echo a || echo b)/t$i.mp4"
done
"$bin" -q keys new -o "$work/keyring.json"
run() { # jobs -> seconds
  rm -rf "$work/out"
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" -q --no-progress batch "$work/catalog" -o "$work/out" --keyring "$work/keyring.json" --jobs "$1"
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}
s1=0 sn=0
for r in $(seq 1 "$rounds"); do
  a=$(run 1); b=$(run "$jobs")
  echo "round $r: --jobs 1 ${a}s, --jobs $jobs ${b}s"
  s1=$(echo "$s1 + $a" | bc); sn=$(echo "$sn + $b" | bc)
done
echo "total: --jobs 1 ${s1}s, --jobs $jobs ${sn}s, speed-up $(echo "scale=2; $s1 / $sn" | bc)x ($titles titles, load $(cut -d' ' -f1 /proc/loadavg))"
