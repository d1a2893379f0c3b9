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

/// A segment being gathered: its clear bytes so far, its key and IV.
pub(crate) type Pending = (Vec<u8>, zeroize::Zeroizing<[u8; 16]>, [u8; 16]);

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

/// The elementary stream bytes of the first H.264 PES of a clear TS
/// segment (its first access unit: FFmpeg's muxer writes one per PES), or
/// `None` when it has no H.264 video (an audio rendition's segment).
fn first_h264_access_unit(ts: &[u8]) -> Option<Vec<u8>> {
    use crate::iframes::{packet, pat_pmt_pid, pmt_video, section, Codec};
    let mut pmt = None;
    let mut video = None;
    let mut pes: Option<Vec<u8>> = None;
    for p in ts.chunks(188) {
        let (pid, pusi, payload) = packet(p)?;
        if pid == 0 && pusi && pmt.is_none() {
            pmt = pat_pmt_pid(section(payload)?);
        } else if Some(pid) == pmt && pusi && video.is_none() {
            match pmt_video(section(payload)?) {
                Some((v, Codec::H264)) => video = Some(v),
                _ => return None,
            }
        } else if Some(pid) == video {
            match (&mut pes, pusi) {
                (None, true) => pes = Some(payload.to_vec()),
                (Some(_), true) => break,
                (Some(b), false) => b.extend_from_slice(payload),
                (None, false) => {}
            }
        }
    }
    let pes = pes?;
    let header = 9 + usize::from(*pes.get(8)?);
    (pes.get(..3) == Some(&[0, 0, 1][..])).then(|| pes.get(header..).map(<[u8]>::to_vec))?
}

/// `verify`'s check of a decrypted SAMPLE-AES segment that padding gives
/// AES-128 for free: its first picture (a keyframe, encrypted) decodes
/// without error. A wrong key or a changed byte in an encrypted block makes
/// its slice data noise, which FFmpeg's H.264 decoder rejects.
pub(crate) fn first_picture_decodes(clear_ts: &[u8]) -> std::result::Result<(), String> {
    match first_h264_access_unit(clear_ts) {
        None => Ok(()),
        Some(au) => shieldpack_media::picture::h264_decodes(&au)
            .map_err(|e| format!("its first picture does not decode after decryption, so the key or the encrypted data is wrong: {e}")),
    }
}

/// Refuses, before any work, inputs SAMPLE-AES for TS cannot carry: video
/// other than H.264, audio other than AAC (Apple's format also has AC-3 and
/// E-AC-3, which shieldpack does not encrypt yet).
pub(crate) fn check_inputs(inputs: &[&Path]) -> Result<()> {
    for input in inputs {
        let info = shieldpack_media::probe_headers(input)?;
        let video = info.select()?.video;
        let audio = info.streams.iter().filter(|s| s.kind == "audio");
        for s in std::iter::once(&video).chain(audio) {
            let ok = match s.kind {
                "video" => s.codec == "h264",
                _ => s.codec == "aac",
            };
            if !ok {
                return Err(Error::invalid_file(
                    input,
                    format!(
                        "its {} stream {} is {}, but --scheme sample-aes encrypts H.264 video and AAC audio only",
                        s.kind, s.index, s.codec
                    ),
                    "re-encode it (ffmpeg -i IN -c:v libx264 -c:a aac OUT.mp4), or use --scheme aes-128",
                ));
            }
        }
    }
    Ok(())
}
