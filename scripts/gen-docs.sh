#!/usr/bin/env bash
# Regenerates man/ and completions/ from the CLI definitions (crates/cli/src/cli.rs).
# A test fails when the committed copies are stale; run this and commit.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
bin=target/debug/shieldpack
rm -rf man && mkdir -p man completions
"$bin" -q generate man man
"$bin" generate completions bash > completions/shieldpack.bash
"$bin" generate completions zsh > completions/_shieldpack
"$bin" generate completions fish > completions/shieldpack.fish
echo "regenerated man/ and completions/"
