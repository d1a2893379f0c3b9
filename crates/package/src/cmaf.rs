//! The CMAF side of the pipeline (`--format cmaf`): the encryption scheme,
//! the protected init segment, common encryption of each media segment as
//! it closes, and the HLS key tag each scheme needs. The segments
//! themselves come from the same segmenter and cut plan as TS
//! (`media::format`); only the format stage and this encryption differ.

use std::path::Path;

use shieldpack_core::error::{Error, Result};
use shieldpack_core::hls::{Key, KeyMethod};
use shieldpack_media::format::Container;
use shieldpack_mp4::{self as mp4, cenc};

/// How segments are encrypted (`--scheme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Whole-segment AES-128-CBC (HLS `METHOD=AES-128`), ts or cmaf.
    Aes128,
    /// HLS SAMPLE-AES for MPEG-TS.
    SampleAes,
    /// Common encryption, AES-CBC 1:9 pattern (cmaf).
    Cbcs,
    /// Common encryption, AES-CTR (cmaf).
    Cenc,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Aes128 => "aes-128",
            Scheme::SampleAes => "sample-aes",
            Scheme::Cbcs => "cbcs",
            Scheme::Cenc => "cenc",
        }
    }

    /// The scheme when `--scheme` is not given (DESIGN: ts `aes-128`, cmaf `cbcs`).
    pub fn default_for(format: Container) -> Self {
        match format {
            Container::Ts => Scheme::Aes128,
            Container::Cmaf => Scheme::Cbcs,
        }
    }

    /// Common encryption of samples, rather than of whole segments.
    pub fn common(self) -> Option<cenc::Scheme> {
        match self {
            Scheme::Cenc => Some(cenc::Scheme::Cenc),
            Scheme::Cbcs => Some(cenc::Scheme::Cbcs),
            _ => None,
        }
    }
}

/// Refuses a scheme the format cannot carry, or that is not written yet.
/// (`_has_policy`: scene policies work with every scheme now; kept for callers.)
pub fn check(format: Container, scheme: Scheme, _has_policy: bool) -> Result<()> {
    let name = scheme.as_str();
    match (format, scheme) {
        (Container::Ts, Scheme::Cbcs | Scheme::Cenc) => Err(Error::arg(
            format!("--scheme {name} needs fragmented MP4 segments"),
            "add --format cmaf, or use --scheme aes-128 for MPEG-TS",
        )),
        (Container::Cmaf, Scheme::SampleAes) => Err(Error::arg(
            "--scheme sample-aes is for MPEG-TS segments",
            "with --format cmaf use --scheme cbcs (SAMPLE-AES in fMP4) or cenc",
        )),
        _ => Ok(()),
    }
}

/// The EXT-X-KEY of a segment encrypted under `scheme` with its key at `uri`.
pub fn key_tag(scheme: Scheme, uri: String, explicit_iv: Option<[u8; 16]>) -> Key {
    match scheme {
        // Sample IVs are in each segment's `senc`, so no IV attribute.
        Scheme::Cenc => Key {
            method: KeyMethod::SampleAesCtr,
            uri: Some(uri),
            iv: None,
            keyformat: Some("identity".into()),
            keyid: None,
            keyformatversions: None,
        },
        Scheme::Cbcs => Key {
            method: KeyMethod::SampleAes,
            uri: Some(uri),
            iv: None,
            keyformat: Some("identity".into()),
            keyid: None,
            keyformatversions: None,
        },
        // TS SAMPLE-AES: the segment's IV, always written out.
        Scheme::SampleAes => Key {
            method: KeyMethod::SampleAes,
            uri: Some(uri),
            iv: explicit_iv,
            keyformat: None,
            keyid: None,
            keyformatversions: None,
        },
        _ => Key::aes128(uri, explicit_iv),
    }
}

fn mp4_err(path: &Path, what: &str, e: mp4::Error) -> Error {
    Error::invalid_file(
        path,
        format!("{what}: {e}"),
        "this is a bug in shieldpack's fMP4 writer: please report it with the input's `ffprobe -show_streams` output",
    )
}

/// The init segment as written to `init.mp4`: the muxer's, with its tracks
/// marked as encrypted under `kid` when `scheme` encrypts samples (cbcs
/// with `constant_iv`), and the
/// DRM systems' `pssh` boxes (each whole; none yet, `--drm` adds them).
pub fn init_segment(
    path: &Path,
    clear: &[u8],
    scheme: Option<cenc::Scheme>,
    kid: [u8; 16],
    constant_iv: [u8; 16],
    pssh: &[Vec<u8>],
) -> Result<mp4::InitSegment> {
    let mut init =
        mp4::InitSegment::parse(clear).map_err(|e| mp4_err(path, "the init segment", e))?;
    if let Some(s) = scheme {
        cenc::protect_init(&mut init, s, kid, Some(constant_iv), pssh)
            .map_err(|e| mp4_err(path, "protecting the init segment", e))?;
    }
    Ok(init)
}

/// The IVs of one rendition under common encryption, so that none repeats
/// under one key across the renditions (tracks) of a title, which share each
/// key period's key:
/// - cenc: sample `n` of segment `index` gets `sequence << 24 | n`
///   (`mp4::cenc::sample_iv`, 40 bits of sequence); the sequence is
///   `rendition << 32 | index`, so each rendition owns its range of
///   sequences (128 renditions of 2^32 segments each; an A/B package's b
///   variants add 2^39, `ab::B_CENC_SEQUENCE`);
/// - cbcs: one constant IV per rendition for the title, derived like a
///   segment IV (`Keyring::rendition_iv`) under a sequence number no segment
///   has (`u64::MAX`), so it is none of the IVs `--iv derived` gives segments.
///
/// Rendition 0 keeps the IVs of a single-rendition package.
pub fn iv_sequence(rendition: usize, index: usize) -> Result<u64> {
    cenc::rendition_sequence(rendition as u64, index as u64).ok_or_else(|| {
        Error::arg(
            format!(
                "rendition {rendition}, segment {index}: too many renditions or segments for unique common encryption IVs (at most 128 renditions of 2^32 segments)"
            ),
            "package fewer renditions or longer segments (--segment-duration)",
        )
    })
}

/// cbcs's constant IV of `rendition` for the title under the key generation
/// `generation` (`iv_sequence` says why it differs per rendition).
pub fn constant_iv(
    kr: &shieldpack_core::keys::Keyring,
    content_id: &str,
    generation: u32,
    rendition: usize,
) -> [u8; 16] {
    kr.rendition_iv(content_id, generation, 0, u64::MAX, rendition)
}

/// The key of one segment under common encryption: key, KID, and cbcs's
/// constant IV for the key period.
pub struct SampleKey {
    pub key: zeroize::Zeroizing<[u8; 16]>,
    pub kid: [u8; 16],
    pub constant_iv: [u8; 16],
}

/// Encrypts the clear media segment `clear` (segment number `sequence`)
/// under `k`, as the protected `init` describes (a `seig` group names the
/// key where it is not the init segment's default).
pub fn encrypt_segment(
    path: &Path,
    clear: &[u8],
    init: &mp4::InitSegment,
    scheme: cenc::Scheme,
    k: &SampleKey,
    sequence: u64,
) -> Result<Vec<u8>> {
    let mut seg =
        mp4::MediaSegment::parse(clear).map_err(|e| mp4_err(path, "a media segment", e))?;
    cenc::encrypt_segment(
        &mut seg,
        init,
        scheme,
        &k.key,
        k.kid,
        k.constant_iv,
        sequence,
    )
    .map_err(|e| mp4_err(path, "encrypting a media segment", e))?;
    Ok(seg.to_bytes())
}

/// `encrypt_segment`, in place: the samples in `clear` are encrypted where
/// they lie, and the segment is the returned `styp` + `moof` followed by
/// `clear[mdat]`, the `mdat` as it was (its size does not change). So a
/// fragment of several MiB is neither copied out of the muxer's buffer nor
/// into a new one: only the moof is written anew.
pub fn encrypt_in_place(
    path: &Path,
    clear: &mut [u8],
    init: &mp4::InitSegment,
    scheme: cenc::Scheme,
    k: &SampleKey,
    sequence: u64,
) -> Result<(Vec<u8>, std::ops::Range<usize>)> {
    let mp4::Fragment {
        styp,
        mut moof,
        mdat,
        payload,
    } = mp4::MediaSegment::parse_fragment(clear)
        .map_err(|e| mp4_err(path, "a media segment", e))?;
    cenc::encrypt_fragment(
        &mut moof,
        &mut clear[payload],
        init,
        scheme,
        &k.key,
        k.kid,
        k.constant_iv,
        sequence,
    )
    .map_err(|e| mp4_err(path, "encrypting a media segment", e))?;
    let mut head = Vec::with_capacity(mdat.start + 4096);
    if let Some(s) = &styp {
        mp4::Mp4Box::write(s, &mut head);
    }
    mp4::Mp4Box::write(&moof, &mut head);
    Ok((head, mdat))
}

/// What `verify` measures in a CMAF media segment: its video samples and
/// their presentation span in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub video_frames: u64,
    pub video_duration: f64,
}

/// Parses a media segment (every box), decrypts its samples with `key`
/// when it is encrypted (checking `senc`, `saiz` and `saio` against each
/// other and the samples), checks every video sample's NAL units fill it
/// exactly, and measures its video. The error is a defect, in words.
pub fn check_segment(
    data: &[u8],
    init: &mp4::InitSegment,
    key: Option<&[u8; 16]>,
) -> std::result::Result<Measured, String> {
    let mut seg =
        mp4::MediaSegment::parse(data).map_err(|e| format!("not a valid fMP4 segment: {e}"))?;
    if let Some(k) = key {
        cenc::decrypt_segment(&mut seg, init, k).map_err(|e| format!("does not decrypt: {e}"))?;
    } else {
        mp4::recrypt::check_clear(&seg, init).map_err(|e| format!("presented as clear: {e}"))?;
    }
    let kinds = cenc::tracks(init).map_err(|e| format!("init segment: {e}"))?;
    let ranges = seg
        .sample_ranges()
        .map_err(|e| format!("not a valid fMP4 segment: {e}"))?;
    let mut measured = Measured {
        video_frames: 0,
        video_duration: 0.0,
    };
    for (traf, ranges) in seg.moof.trafs.iter().zip(ranges) {
        let id = traf.tfhd.track_id;
        let Some((_, kind)) = kinds.iter().find(|(t, _)| *t == id) else {
            return Err(format!("track {id} is not in the init segment"));
        };
        let cenc::TrackKind::Video {
            hevc,
            nal_length_size,
        } = *kind
        else {
            continue;
        };
        for r in &ranges {
            // The subsample map's own check: NAL lengths that fill the sample.
            cenc::video_subsamples(&seg.mdat.data[r.clone()], hevc, nal_length_size)
                .map_err(|e| format!("track {id}: {e}"))?;
        }
        let timescale = init
            .moov
            .traks
            .iter()
            .find(|t| t.tkhd.track_id == id)
            .map_or(1, |t| t.mdia.mdhd.timescale.max(1));
        let mut dts = traf.tfdt.base_media_decode_time as i64;
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        for s in &traf.trun.samples {
            let pts = dts + i64::from(s.composition_offset);
            first = first.min(pts);
            last = last.max(pts + i64::from(s.duration));
            dts += i64::from(s.duration);
        }
        measured.video_frames += traf.trun.samples.len() as u64;
        if last > first {
            measured.video_duration += (last - first) as f64 / f64::from(timescale);
        }
    }
    Ok(measured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_ivs_of_renditions_sharing_a_key_never_meet() {
        // Every (rendition, segment, sample) of a small grid: all IVs distinct.
        let mut seen = std::collections::HashSet::new();
        for rendition in [0, 1, 2, 127] {
            for index in [0, 1, 2, (1 << 32) - 1] {
                let seq = iv_sequence(rendition, index).unwrap();
                for n in [0, 1, (1 << 24) - 1] {
                    assert!(
                        seen.insert(cenc::sample_iv(seq, n).unwrap()),
                        "rendition {rendition} segment {index} sample {n}"
                    );
                }
            }
        }
        // Rendition 0 keeps a single-rendition package's IVs.
        assert_eq!(iv_sequence(0, 7).unwrap(), 7);
        assert!(iv_sequence(128, 0).is_err());
        assert!(iv_sequence(127, (1 << 32) - 1).unwrap() < crate::ab::B_CENC_SEQUENCE);
        assert!(iv_sequence(0, 1 << 32).is_err());
    }
}
