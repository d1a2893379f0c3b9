#!/usr/bin/env bash
# Rekey throughput: re-encrypt a whole package (rotation from period 0) with
# `shieldpack rekey`, against the shell way (openssl enc -d | openssl enc -e per
# segment) on the same segments, and print the ratio.
#
#   bench/rekey.sh [SECONDS] [BITRATE]      (defaults: 60 s of 1080p24 at 30M)
#
# Uses target/release/shieldpack (cargo build --release first). Work files go
# to ${BENCH_DIR:-/tmp/shieldpack-bench-rekey}. Tests never assert wall time;
# this script only prints figures.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
rate=${2:-30M}
bin=$PWD/target/release/shieldpack
dir=${BENCH_DIR:-/tmp/shieldpack-bench-rekey}
mkdir -p "$dir"
cd "$dir"
if [ ! -f "input-$secs-$rate.mp4" ]; then
  ffmpeg -v error -nostdin -y -f lavfi -i "testsrc2=size=1920x1080:rate=24:duration=$secs" \
    -f lavfi -i "sine=frequency=440:duration=$secs" -c:v libx264 -preset ultrafast \
    -g 48 -keyint_min 48 -sc_threshold 0 -b:v "$rate" -maxrate "$rate" -bufsize 60M \
    -pix_fmt yuv420p -c:a aac -b:a 128k -shortest "input-$secs-$rate.mp4"
fi
rm -rf pkg kr.json id.txt keys keys-new shell
age-keygen -o id.txt 2>/dev/null
"$bin" -q keys new -o kr.json -r "$(age-keygen -y id.txt)"
"$bin" -q package "input-$secs-$rate.mp4" -o pkg --keyring kr.json -i id.txt \
  --content-id bench --rotate-every 10s
bytes=$(cat pkg/*/seg_*.ts | wc -c)
"$bin" -q keys export kr.json -i id.txt --package pkg --format key-files -o keys
"$bin" -q keys rotate kr.json --content-id bench --from-period 0
sync
t0=$(date +%s.%N)
"$bin" -q rekey pkg --keyring kr.json -i id.txt
t1=$(date +%s.%N)
ours=$(echo "$bytes / ($t1 - $t0) / 1000000" | bc -l)

# The shell way on the same segments: decrypt each with its (new) key file and
# encrypt it again with openssl, one process pair per segment.
"$bin" -q keys export kr.json -i id.txt --package pkg --format key-files -o keys-new
python3 -c '
import json
m = json.load(open("pkg/manifest.json"))
for r in m["renditions"]:
    for s in r["segments"]:
        print(s["uri"], s["sequence"], s["kid"])
' > segs.txt
rm -rf shell && mkdir shell
newkey=$(openssl rand -hex 16)
t0=$(date +%s.%N)
while read -r uri seq kid; do
  iv=$(printf '%032x' "$seq")
  openssl enc -d -aes-128-cbc -K "$(xxd -p "keys-new/$kid.key")" -iv "$iv" -in "pkg/$uri" \
    | openssl enc -e -aes-128-cbc -K "$newkey" -iv "$iv" -out "shell/$(basename "$uri")"
done < segs.txt
t1=$(date +%s.%N)
theirs=$(echo "$bytes / ($t1 - $t0) / 1000000" | bc -l)
printf 'package: %.1f MB in %d segments\n' "$(echo "$bytes/1000000" | bc -l)" "$(ls pkg/*/seg_*.ts | wc -l)"
printf 'shieldpack rekey:        %7.0f MB/s\n' "$ours"
printf 'openssl dec|enc (shell): %7.0f MB/s\n' "$theirs"
printf 'ratio:                   %7.2fx\n' "$(echo "$ours / $theirs" | bc -l)"
