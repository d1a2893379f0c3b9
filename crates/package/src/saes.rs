//! `--format ts --scheme sample-aes` (HLS `METHOD=SAMPLE-AES` for MPEG-TS):
//! the same pipeline and cuts as whole-segment AES-128, with a different
//! encryption stage. Each segment is gathered whole as the muxer streams it
//! (segments are a few MB) and its H.264 slices and AAC frames are encrypted
//! sample by sample (`shieldpack_core::crypto::sample_aes`), the TS structure
//! left readable.
//!
//! IVs: SAMPLE-AES reuses the segment's IV for every NAL unit and frame of
//! the segment, so no two segments may share one under a key. The IV is
//! always explicit (`IV=0x...` on an EXT-X-KEY before every segment: hls.js
//! decrypts SAMPLE-AES only with one) and derived per rendition as
//! `--iv derived` does, so a rendition's segment never shares a (key, IV)
//! with another rendition's under `--key-scope period`.

use std::path::Path;

use shieldpack_core::crypto::sample_aes;
use shieldpack_core::error::{Error, Result};

use crate::cmaf::Scheme;
use crate::{IvMode, Options};

/// A segment being gathered: its clear bytes so far, its key and IV.
pub(crate) type Pending = (Vec<u8>, zeroize::Zeroizing<[u8; 16]>, [u8; 16]);

/// `o` as SAMPLE-AES needs it (explicit per-rendition IVs), or `None`.
pub(crate) fn options(o: &Options) -> Option<Options> {
    (o.scheme == Scheme::SampleAes && o.iv == IvMode::Sequence).then(|| Options {
        iv: IvMode::Derived,
        ..o.clone()
    })
}

fn problem(path: &Path, what: &str, e: String) -> Error {
    Error::invalid_file(
        path,
        format!("{what}: {e}"),
        "SAMPLE-AES takes H.264 video and AAC audio in MPEG-TS; re-encode other codecs (ffmpeg -c:v libx264 -c:a aac), or use --scheme aes-128",
    )
}

/// The clear TS segment `clear` (to be written at `path`) encrypted for
/// SAMPLE-AES.
pub(crate) fn encrypt(path: &Path, clear: &[u8], key: &[u8; 16], iv: &[u8; 16]) -> Result<Vec<u8>> {
    sample_aes::encrypt_segment(clear, key, iv)
        .map_err(|e| problem(path, "cannot encrypt this segment for SAMPLE-AES", e))
}

/// The SAMPLE-AES segment at `path` decrypted to clear TS.
pub(crate) fn decrypt(path: &Path, data: &[u8], key: &[u8; 16], iv: &[u8; 16]) -> Result<Vec<u8>> {
    sample_aes::decrypt_segment(data, key, iv).map_err(|e| {
        problem(
            path,
            "a SAMPLE-AES segment just written does not decrypt",
            e,
        )
    })
}
