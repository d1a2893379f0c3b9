//! Session forensics without FFmpeg: the keyed Tardos code that gives every
//! session its sequence of A/B segment variants (`code`), the trace scoring that
//! names the sessions a leak came from (`score`), signed expiring URIs for a CDN
//! (`token`), and per-session playlists over an A/B package (`playlist`).
//!
//! `shieldpack session` (FFmpeg-free front end) uses all of it; `package
//! --ab-watermark` and `watermark trace` (shieldpack-media) use `code` for the
//! per-segment payload and `score` for the verdict. docs/sessions.md is the
//! algorithm, written so that a CDN edge function can reimplement it.

pub mod code;
pub mod playlist;
pub mod score;
pub mod sealed;
pub mod token;

pub use code::{CodeKey, Variant};
