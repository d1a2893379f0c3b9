#!/usr/bin/env bash
#! Installs what shieldpack needs to build and test, and only what is missing.
#!
#! Idempotent and silent when everything is already there, so scripts/test.sh and
#! scripts/demo.sh run it every time. Works on a fresh Debian 12 as root (or with
#! sudo) and with no stdin (CI). It never downloads anything but Debian, npm and PyPI
#! packages: the Rust toolchain must already be on the machine.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DEBIAN_FRONTEND=noninteractive

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# Debian packages, checked with dpkg. The libav*-dev set is what ffmpeg-next's
# build script links against (found through pkg-config); clang/libclang-dev is for
# its bindgen step. ffmpeg/ffprobe, openssl and age are the independent
# implementations the tests cross-check against; chromium plays the packages;
# openssh-client's ssh-keygen makes the SSH identities the age tests wrap to;
# strace shows a test which files are flushed before a package is published;
# gcc (also the linker rustc calls as cc) builds the shim a test preloads to
# make fsync fail; python3-numpy lets bench/watermark measure the mark's
# difference in a clip's flat areas.
debs=(
  ca-certificates pkg-config clang libclang-dev
  libavcodec-dev libavformat-dev libavutil-dev libavfilter-dev libavdevice-dev
  libswscale-dev libswresample-dev
  ffmpeg openssl age chromium openssh-client strace gcc python3-numpy
)

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for p in "${debs[@]}"; do
  installed "$p" || missing+=("$p")
done
# Commands that may come from outside Debian (pyenv's python3, NodeSource's node,
# which bundles npm) count as present when they are on PATH.
command -v python3 >/dev/null || missing+=(python3)
# The test venv needs venv and ensurepip, which Debian's python3 ships apart.
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  missing+=(python3-venv)
fi
if ! command -v node >/dev/null; then
  missing+=(nodejs npm)
elif ! command -v npm >/dev/null; then
  missing+=(npm)
fi

if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    sudo=()
  elif command -v sudo >/dev/null; then
    sudo=(sudo -n)
  else
    die "missing Debian packages (${missing[*]}) and not root; run as root or install sudo"
  fi
  say "installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq </dev/null
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
fi

# Rust: rustup puts cargo in ~/.cargo/bin, which a non-login CI shell may not
# have on PATH.
if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (rustup, Rust 1.88 or later) and put ~/.cargo/bin on PATH, then re-run"

# Browser-test dependencies (playwright-core + hls.js). playwright-core never
# downloads a browser; the tests drive Debian's /usr/bin/chromium. The stamp
# holds the hash of the lock file that node_modules was installed from, so a
# changed lock (a git pull) reinstalls, and an unchanged one costs nothing.
browser="$repo/tests/browser"
if [[ -f "$browser/package.json" ]]; then
  lock="$browser/package-lock.json"
  stamp="$browser/node_modules/.shieldpack-stamp"
  if [[ -f "$lock" ]]; then
    want="$(sha256sum "$lock" | cut -d' ' -f1)"
  else
    want="no-lock:$(sha256sum "$browser/package.json" | cut -d' ' -f1)"
  fi
  if [[ ! -d "$browser/node_modules" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    say "installing browser-test npm packages in tests/browser"
    npm_flags=(--no-audit --no-fund --loglevel=error)
    if [[ -f "$lock" ]]; then
      (cd "$browser" && npm ci "${npm_flags[@]}" </dev/null >/dev/null)
    else
      (cd "$browser" && npm install "${npm_flags[@]}" </dev/null >/dev/null)
    fi
    printf '%s\n' "$want" >"$stamp"
  fi
fi

# Python parsers the tests cross-check against (pymp4, pywidevine, PyJWT,
# akamai-edgeauth, m3u8), pinned in tests/python/requirements.txt and installed
# into the repo's .venv from PyPI; a changed requirements file reinstalls.
venv="$repo/.venv"
reqs="$repo/tests/python/requirements.txt"
if [[ -f "$reqs" ]]; then
  want="$(sha256sum "$reqs" | cut -d' ' -f1)"
  stamp="$venv/.shieldpack-stamp"
  if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    say "installing test Python packages into .venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$reqs" </dev/null >/dev/null
    printf '%s\n' "$want" >"$stamp"
  fi
fi
