//! The one integration-test binary: every test runs the real `shieldpack`
//! binary and checks real outputs with independent tools (FFmpeg, openssl,
//! the age CLI, hls.js in Chromium).

mod docs;
mod keydist;
mod keys;
mod package;
mod util;
