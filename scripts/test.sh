#!/usr/bin/env bash
#! The whole test suite, exactly as CI runs it (.ci/run execs this).
#!
#! Installs what is missing (scripts/setup.sh), checks formatting (rustfmt) and
#! lints (clippy, warnings are errors, with the workspace's [workspace.lints]),
#! then builds every crate and runs every test (each crate's unit tests, the
#! tests/cli integration binary with its FFmpeg, openssl and headless-chromium
#! checks, doc tests) against the committed Cargo.lock. Any failure fails the
#! script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
# setup.sh checks cargo with ~/.cargo/bin added; do the same here, since its PATH
# change does not reach this shell.
if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi

cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -- -D warnings
# The whole workspace: tests/cli runs both binaries, and shieldpack-media
# belongs to another package than the tests.
cargo build --locked --workspace
cargo test --locked --workspace
