//! shieldpack-core: everything of shieldpack that needs no FFmpeg.
//!
//! Keyrings and key derivation (`keys`), segment encryption (`crypto`), HLS
//! playlists as typed values (`hls`), scene protection policies (`policy`), the
//! package manifest (`manifest`), re-encrypting a finished package (`rekey`),
//! and the shared plumbing: the error type, atomic file writes (`fsutil`),
//! interrupts and progress reports. The `shieldpack` front end links only this
//! crate, so `keys` and `rekey` run on a key-management host with no FFmpeg.
//! Nothing here prints: callers report through [`progress::Progress`] and
//! typed errors.

pub mod crypto;
pub mod drm;
pub mod error;
pub mod fsutil;
pub mod hls;
pub mod interrupt;
pub mod keys;
pub mod ladder;
pub mod manifest;
pub mod policy;
pub mod progress;
pub mod rekey;
pub mod timefmt;
pub mod wmkey;

pub use error::{Error, Result};
