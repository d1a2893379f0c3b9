#!/usr/bin/env bash
#! End-to-end demo: package the bundled 12 s clip with rotating AES-128 keys.
#!
#! Installs what is missing, builds the release binary, makes a keyring, packages
#! fixtures/clip.mp4 (2 s segments, a new key every 2 segments), exports the key
#! files where the default key URI (keys/{kid}.key, relative to the media
#! playlist) points, verifies the package with them, and prints how to play it.
#! Re-runnable: it starts from an empty demo-out/ every time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi

cargo build --release --locked
sp="$PWD/target/release/shieldpack"
out=demo-out

rm -rf "$out"
mkdir -p "$out"

echo "==> keyring"
"$sp" keys new -o "$out/keyring"

echo "==> package fixtures/clip.mp4 (2 s segments, key rotated every 2 segments)"
"$sp" package fixtures/clip.mp4 -o "$out/package" --keyring "$out/keyring" \
  --segment-duration 2 --rotate-segments 2

# One rendition today; export the keys beside each media playlist found, so the
# default key URI resolves for every rendition.
shopt -s nullglob
playlists=("$out"/package/*/index.m3u8)
shopt -u nullglob
if ((${#playlists[@]} == 0)); then
  echo "demo: no $out/package/*/index.m3u8 was written" >&2
  exit 1
fi
for playlist in "${playlists[@]}"; do
  rendition="$(dirname "$playlist")"
  echo "==> export key files into $rendition/keys"
  "$sp" keys export "$out/keyring" --package "$out/package" --format key-files -o "$rendition/keys"
done
first_keys="$(dirname "${playlists[0]}")/keys"

echo "==> verify (decrypting every segment)"
"$sp" verify "$out/package" --keys "$first_keys"

keys_list=""
for p in "${playlists[@]}"; do
  keys_list+="  $PWD/$(dirname "$p")/keys"$'\n'
done

cat <<MSG

Package: $PWD/$out/package (master playlist: master.m3u8)
Key files (served from inside the package here; in production serve them with auth):
${keys_list}
Play it:
  python3 -m http.server -d $out/package 8000
  ffplay http://127.0.0.1:8000/master.m3u8
or open http://127.0.0.1:8000/master.m3u8 in any hls.js player page (it is served
with the keys, same origin); to check headless playback in chromium instead:
  node tests/browser/play.mjs http://127.0.0.1:8000/master.m3u8
MSG
