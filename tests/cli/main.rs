//! The one integration-test binary: every end-to-end test of the shieldpack CLI
//! lives in a module here (one binary links and starts once, and the modules
//! share `util`). Real outputs are checked with independent tools: FFmpeg,
//! openssl, the age CLI, and hls.js in Chromium.

mod util;

mod batch;
mod cencops;
mod cmaf;
mod cmafmulti;
mod docs;
mod drm;
mod drmwire;
mod fidelity;
mod frontend;
mod harness;
mod hostile;
mod iframes;
mod keydist;
mod keys;
mod keyscope;
mod ladder;
mod package;
mod policy;
mod renditions;
mod sample_aes;
mod serve;
mod session;
mod watermark;
