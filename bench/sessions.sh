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
cargo build -q --release -p shieldpack-session --example simulate
sim=target/release/examples/simulate
echo "== one leaker among $n sessions (read $read_rate, error $err)"
for m in 24 32 40 48 56 64; do
  "$sim" leaker "$n" "$m" "$read_rate" "$err" 5 | sed "s/^/m=$m /"
done
echo "== two colluders, 2-hour title (1200 segments of 6 s), among $n sessions"
"$sim" colluders "$n" 1200 "$read_rate" "$err" 3
