//! The package side of `package --ab-watermark`: variant b of a segment,
//! encrypted under the key of its a twin with IVs a never uses, for TS and
//! CMAF, and the master playlist's BANDWIDTH over the larger of the two.
//!
//! No (key, IV) pair covers two plaintexts (ISO/IEC 23001-7 and RFC 8216
//! leave IV uniqueness to the packager):
//! - whole-segment AES-128 (ts, and cmaf `--scheme aes-128`): b's IV is
//!   `b_iv`, a hash of the KID, "b" and the sequence; a keeps the sequence
//!   number or the keyring-derived IV.
//! - cenc (AES-CTR): a's sample IVs are `sequence << 24 | sample` with the
//!   rendition's sequence (`cmaf::iv_sequence`) below 2^39
//!   (`shieldpack_mp4::cenc::sample_iv` takes it below 2^40); b's use that
//!   sequence + 2^39 (`B_CENC_SEQUENCE`), so bit 63 of every b IV is set
//!   and of every a IV clear, and renditions keep disjoint ranges.
//! - cbcs: one constant IV per rendition for a (in `tenc`); b's fragments
//!   carry their own constant IV per rendition in a `seig` sample group
//!   (23001-7 6), derived from the keyring under a sequence number no
//!   segment has.

use std::path::Path;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use shieldpack_core::error::{Error, Result};
use shieldpack_core::hls::{bandwidth, MasterPlaylist};
use shieldpack_core::keys::Keyring;
use shieldpack_core::manifest::{Rendition, SegmentRecord};
use shieldpack_mp4 as mp4;

use crate::cmaf::{self, Scheme};

/// Added to a cenc segment's sequence number for its b variant's sample IVs.
pub const B_CENC_SEQUENCE: u64 = 1 << 39;

/// The IV of variant b of a segment under whole-segment AES-128:
/// `SHA-256("shieldpack/v1/ab-iv" || KID hex || "b" || be64(sequence))`,
/// first 16 bytes. A 128-bit hash output meets a sequence IV (eight zero
/// bytes first) or an HKDF IV with chance 2^-128.
pub fn b_iv(kid: &str, sequence: u64) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(b"shieldpack/v1/ab-iv");
    h.update(kid.as_bytes());
    h.update(b"b");
    h.update(sequence.to_be_bytes());
    h.finalize()[..16].try_into().expect("16 bytes")
}

/// cbcs's constant IV for variant b of `rendition`: derived like a's
/// (`cmaf::constant_iv`, sequence `u64::MAX`) under sequence `u64::MAX - 1`,
/// which no segment has either.
pub fn b_constant_iv(kr: &Keyring, content_id: &str, rendition: usize) -> [u8; 16] {
    kr.rendition_iv(
        content_id,
        kr.generation_for(content_id, 0),
        0,
        u64::MAX - 1,
        rendition,
    )
}

/// Encrypts variant b's segments of one CMAF rendition under common
/// encryption, with the protected init segment variant a's playlist maps.
pub struct CommonB {
    init: mp4::InitSegment,
    scheme: mp4::cenc::Scheme,
    constant_iv: [u8; 16],
    rendition: usize,
}

impl CommonB {
    /// For `scheme` (`None` when it does not encrypt samples): a's protected
    /// `a_init` and b's clear `b_init`, which must describe the same streams
    /// (same codec configurations), since one EXT-X-MAP serves both.
    pub fn new(
        scheme: Scheme,
        a_init: &Path,
        b_init: &Path,
        kr: &Keyring,
        content_id: &str,
        rendition: usize,
    ) -> Result<Option<Self>> {
        let Some(common) = scheme.common() else {
            return Ok(None);
        };
        let read = |p: &Path| -> Result<mp4::InitSegment> {
            let bytes = std::fs::read(p).map_err(|e| Error::io(p, e))?;
            mp4::InitSegment::parse(&bytes).map_err(|e| {
                Error::invalid_file(p, format!("the init segment: {e}"), "package again")
            })
        };
        let (ia, ib) = (read(a_init)?, read(b_init)?);
        let configs = |i: &mp4::InitSegment| -> Vec<Option<Vec<u8>>> {
            i.moov
                .traks
                .iter()
                .flat_map(|t| {
                    let e = t.entry();
                    [b"avcC", b"hvcC", b"esds"]
                        .map(|c| e.and_then(|e| e.config(c)).map(|b| b.body.clone()))
                })
                .collect()
        };
        if configs(&ia) != configs(&ib) {
            return Err(Error::invalid_file(
                b_init,
                "the a and b encodes have different codec configurations, so one init segment cannot serve both",
                "report this with the input's ffprobe output",
            ));
        }
        Ok(Some(CommonB {
            init: ia,
            scheme: common,
            constant_iv: b_constant_iv(kr, content_id, rendition),
            rendition,
        }))
    }

    /// Variant b of segment `index` of the rendition, clear in `clear`,
    /// encrypted under `key` / `kid`.
    pub fn encrypt(
        &self,
        path: &Path,
        clear: &[u8],
        key: &Zeroizing<[u8; 16]>,
        kid: [u8; 16],
        index: usize,
    ) -> Result<Vec<u8>> {
        let sequence = cmaf::iv_sequence(self.rendition, index)?;
        if sequence >= B_CENC_SEQUENCE {
            return Err(Error::invalid_file(
                path,
                format!("segment number {sequence} is too large for distinct a and b IVs"),
                "package shorter titles",
            ));
        }
        let k = cmaf::SampleKey {
            key: key.clone(),
            kid,
            constant_iv: self.constant_iv,
        };
        let seq = match self.scheme {
            mp4::cenc::Scheme::Cenc => sequence + B_CENC_SEQUENCE,
            mp4::cenc::Scheme::Cbcs => sequence,
        };
        cmaf::encrypt_segment(path, clear, &self.init, self.scheme, &k, seq)
    }
}

/// The rendition's peak and average bit rate with every segment counted at
/// the larger of its variants (a session may get either), as its
/// EXT-X-STREAM-INF must say (RFC 8216 4.3.4.2).
pub fn rates(r: &Rendition) -> (u64, u64) {
    rates_of(r, |s| {
        s.variants.iter().map(|v| v.size).fold(s.size, u64::max)
    })
}

fn rates_of(r: &Rendition, size: impl Fn(&SegmentRecord) -> u64) -> (u64, u64) {
    let sizes: Vec<(f64, u64)> = r.segments.iter().map(|s| (s.duration, size(s))).collect();
    let target = bandwidth::target_duration(r.segments.iter().map(|s| s.duration));
    (
        bandwidth::peak_bandwidth(&sizes, target),
        bandwidth::average_bandwidth(&sizes),
    )
}

/// Sets the A/B renditions' bandwidths in `renditions` and in the master
/// playlist of the package in `dir`.
pub fn restate_bandwidth(dir: &Path, renditions: &mut [Rendition]) -> Result<()> {
    let path = dir.join("master.m3u8");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let mut master = MasterPlaylist::parse(&text).map_err(|e| {
        Error::invalid_file(
            &path,
            format!("invalid master playlist: {e}"),
            "package again",
        )
    })?;
    for r in renditions
        .iter_mut()
        .filter(|r| r.segments.iter().any(|s| !s.variants.is_empty()))
    {
        let (peak, average) = rates(r);
        // What the packager wrote less a's own rates: an audio group's.
        let (a_peak, a_average) = rates_of(r, |s| s.size);
        r.bandwidth = peak;
        r.average_bandwidth = average;
        for v in master.variants.iter_mut().filter(|v| v.uri == r.playlist) {
            v.bandwidth = v.bandwidth.saturating_sub(a_peak) + peak;
            v.average_bandwidth = v
                .average_bandwidth
                .map(|x| x.saturating_sub(a_average) + average);
        }
    }
    // Only the two attributes change: the rest of the file (I-frame stream
    // lines among it) stays as the packager wrote it.
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(text.len());
    for (i, line) in lines.iter().enumerate() {
        let uri = lines[i + 1..]
            .iter()
            .find(|l| !l.is_empty() && !l.starts_with('#'));
        let v = line
            .strip_prefix("#EXT-X-STREAM-INF:")
            .and(uri)
            .and_then(|u| master.variants.iter().find(|v| v.uri == *u));
        match v {
            Some(v) => {
                let mut l = set_attr(line, "BANDWIDTH", v.bandwidth);
                if let Some(a) = v.average_bandwidth {
                    l = set_attr(&l, "AVERAGE-BANDWIDTH", a);
                }
                out.push_str(&l);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    shieldpack_core::fsutil::write_atomic(&path, out.as_bytes(), 0o644, true)
}

/// `line` with attribute `name`'s decimal value set to `value` (the
/// attribute follows ':' or ',').
fn set_attr(line: &str, name: &str, value: u64) -> String {
    for sep in [':', ','] {
        let key = format!("{sep}{name}=");
        if let Some(at) = line.find(&key) {
            let start = at + key.len();
            let end = line[start..].find(',').map_or(line.len(), |e| start + e);
            return format!("{}{value}{}", &line[..start], &line[end..]);
        }
    }
    line.to_string()
}

/// A rendition's I-frame playlist (`iframes.m3u8`: clear or SAMPLE-AES TS,
/// cmaf) points into variant a's segments, renamed from `.ts` to `.a.ts` (or
/// `.m4s` to `.a.m4s`): its URIs follow. Trick play shows a's pictures.
pub fn rename_iframe_uris(rendition_dir: &Path) -> Result<()> {
    let path = rendition_dir.join("iframes.m3u8");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let mut out = String::with_capacity(text.len() + 256);
    for line in text.lines() {
        let l = if line.starts_with('#') {
            // A TS map's URI is the first segment; a CMAF map's is init.mp4.
            line.replace(".ts\"", ".a.ts\"")
        } else if let Some(stem) = line.strip_suffix(".ts") {
            format!("{stem}.a.ts")
        } else if let Some(stem) = line.strip_suffix(".m4s") {
            format!("{stem}.a.m4s")
        } else {
            line.to_string()
        };
        out.push_str(&l);
        out.push('\n');
    }
    shieldpack_core::fsutil::write_atomic(&path, out.as_bytes(), 0o644, true)
}
