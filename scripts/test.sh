#!/usr/bin/env bash
#! The whole test suite, exactly as CI runs it (.ci/run execs this).
#!
#! Installs what is missing (scripts/setup.sh), then builds and runs every test
#! (unit tests, the tests/cli integration binary with its FFmpeg, openssl and
#! headless-chromium checks, doc tests) against the committed Cargo.lock. Any
#! failure fails the script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
# setup.sh checks cargo with ~/.cargo/bin added; do the same here, since its PATH
# change does not reach this shell.
if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi

cargo build --locked
cargo test --locked
