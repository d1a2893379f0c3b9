//! Common encryption (ISO/IEC 23001-7) of fragmented MP4 samples.
//!
//! `cenc`: AES-128-CTR with an 8-byte IV per sample. Video samples are
//! encrypted by subsample: every NAL unit's length field and header stay
//! clear, non-VCL NAL units (SPS, PPS, SEI...) stay wholly clear, and each
//! VCL NAL unit's protected part is a whole number of 16-byte blocks (the
//! remainder joins the clear part, as Shaka Packager does, so decoders that
//! decrypt block-wise work too). Audio samples are encrypted whole.
//!
//! IVs: `iv = segment_sequence << 24 | n`, where `n` counts the segment's
//! samples over all its tracks (video first, then audio). The counter
//! block is `iv || 0u64`, incremented per 16 bytes within a sample, so two
//! samples share keystream only if their IVs are equal. A key belongs to one
//! key period of one title (and, after `rekey`, one generation), and a
//! segment sequence number appears once in a title, so no IV is reused
//! under a key. Deriving the IV from the position (not a running counter)
//! lets a single segment be re-encrypted alone (`rekey`, a segment given a
//! stronger scene's key) with the same IVs. A second encryption of the same
//! segment under the same key (A/B variants, renditions sharing a key) must
//! put its variant or rendition into the top bits of the sequence.

use aes::cipher::{KeyIvInit, StreamCipher};

use crate::{err, InitSegment, MediaSegment, Mp4Box, Result, Saio, Saiz, SampleAux, Senc, Tenc};

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// The common encryption schemes shieldpack writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Cenc,
    Cbcs,
}

impl Scheme {
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            Scheme::Cenc => *b"cenc",
            Scheme::Cbcs => *b"cbcs",
        }
    }
    pub fn of(fourcc: [u8; 4]) -> Option<Self> {
        match &fourcc {
            b"cenc" => Some(Scheme::Cenc),
            b"cbcs" => Some(Scheme::Cbcs),
            _ => None,
        }
    }
}

/// What the encryption needs to know about a track, from its sample entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    /// H.264 (`avc1`) or HEVC (`hvc1`), with its NAL length field size.
    Video {
        hevc: bool,
        nal_length_size: usize,
    },
    Audio,
}

/// Each track of an init segment (clear or protected): id and kind.
pub fn tracks(init: &InitSegment) -> Result<Vec<(u32, TrackKind)>> {
    init.moov
        .traks
        .iter()
        .map(|t| {
            let id = t.tkhd.track_id;
            let Some(e) = t.entry() else {
                return err(*b"stsd", format!("track {id} has no sample entry"));
            };
            let format = e.sinf().map_or(e.format(), |s| s.frma.0);
            let kind = match &format {
                b"avc1" | b"avc3" => TrackKind::Video {
                    hevc: false,
                    nal_length_size: nal_length_size(e.config(b"avcC"), 4, id)?,
                },
                b"hvc1" | b"hev1" => TrackKind::Video {
                    hevc: true,
                    nal_length_size: nal_length_size(e.config(b"hvcC"), 21, id)?,
                },
                _ if t.mdia.hdlr.handler == *b"soun" => TrackKind::Audio,
                f => {
                    return err(
                        *f,
                        format!("track {id}: a sample format shieldpack cannot encrypt"),
                    )
                }
            };
            Ok((id, kind))
        })
        .collect()
}

fn nal_length_size(config: Option<&crate::RawBox>, at: usize, id: u32) -> Result<usize> {
    match config.and_then(|c| c.body.get(at)) {
        Some(b) if b & 3 != 2 => Ok(usize::from(b & 3) + 1),
        _ => err(
            *b"stsd",
            format!("track {id}: no usable decoder configuration (avcC/hvcC)"),
        ),
    }
}

/// Marks every track of `init` as encrypted under `kid` with `scheme`
/// (`encv`/`enca`, `sinf` with `tenc`), and adds the DRM systems' `pssh`
/// boxes, each given whole.
pub fn protect_init(
    init: &mut InitSegment,
    scheme: Scheme,
    kid: [u8; 16],
    constant_iv: Option<[u8; 16]>,
    pssh: &[Vec<u8>],
) -> Result<()> {
    let kinds = tracks(init)?;
    for (t, (_, kind)) in init.moov.traks.iter_mut().zip(kinds) {
        let video = matches!(kind, TrackKind::Video { .. });
        let tenc = match scheme {
            Scheme::Cenc => Tenc {
                crypt_byte_block: 0,
                skip_byte_block: 0,
                is_protected: true,
                per_sample_iv_size: 8,
                kid,
                constant_iv: None,
            },
            // 1:9 for video; audio is encrypted whole (pattern 0:0, every
            // block), 23001-7 10.4.
            Scheme::Cbcs => Tenc {
                crypt_byte_block: if video { 1 } else { 0 },
                skip_byte_block: if video { 9 } else { 0 },
                is_protected: true,
                per_sample_iv_size: 0,
                kid,
                constant_iv: Some(constant_iv.unwrap_or_default()),
            },
        };
        if let Some(e) = t.entry_mut() {
            e.protect(scheme.fourcc(), tenc);
        }
    }
    for p in pssh {
        let raw = crate::RawBox::parse_all(p)?;
        for b in raw {
            b.typed::<crate::Pssh>()?;
            init.moov.pssh.push(b);
        }
    }
    Ok(())
}

/// The clear and protected ranges of one video sample (`cenc`): each NAL
/// unit's length field and header clear, VCL payload protected in whole
/// 16-byte blocks, non-VCL NAL units clear.
pub fn video_subsamples(sample: &[u8], hevc: bool, len_size: usize) -> Result<Vec<(u16, u32)>> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    let mut clear = 0u32;
    let mut pos = 0usize;
    while pos < sample.len() {
        if sample.len() - pos < len_size {
            return err(*b"mdat", "a video sample ends inside a NAL length field");
        }
        let n = sample[pos..pos + len_size]
            .iter()
            .fold(0usize, |a, b| a << 8 | usize::from(*b));
        let body = pos + len_size;
        if n == 0 || sample.len() - body < n {
            return err(*b"mdat", "a NAL unit's length runs past its sample");
        }
        let t = if hevc {
            (sample[body] >> 1) & 0x3f
        } else {
            sample[body] & 0x1f
        };
        let vcl = if hevc { t < 32 } else { (1..=5).contains(&t) };
        let header = if hevc { 2 } else { 1 };
        let total = (len_size + n) as u32;
        if vcl && n > header {
            let protected = ((n - header) / 16 * 16) as u32;
            clear += total - protected;
            if protected > 0 {
                out.push((clear, protected));
                clear = 0;
            }
        } else {
            clear += total;
        }
        pos = body + n;
    }
    if clear > 0 {
        out.push((clear, 0));
    }
    // BytesOfClearData is 16 bits: a long clear run takes several entries.
    let mut fitted = Vec::with_capacity(out.len());
    for (mut c, p) in out {
        while c > u32::from(u16::MAX) {
            fitted.push((u16::MAX, 0));
            c -= u32::from(u16::MAX);
        }
        fitted.push((c as u16, p));
    }
    Ok(fitted)
}

/// The 8-byte IV of the `n`th sample of segment `sequence` (module docs).
pub fn sample_iv(sequence: u64, n: u64) -> Result<[u8; 8]> {
    if sequence >= 1 << 40 || n >= 1 << 24 {
        return err(
            *b"senc",
            "segment number or sample count too large for unique IVs",
        );
    }
    Ok((sequence << 24 | n).to_be_bytes())
}

/// Applies AES-CTR to the protected parts of `sample`.
fn ctr_apply(key: &[u8; 16], iv: &[u8], sample: &mut [u8], subsamples: &[(u16, u32)]) {
    let mut block = [0u8; 16];
    block[..iv.len()].copy_from_slice(iv);
    let mut c = Aes128Ctr::new(key.into(), (&block).into());
    if subsamples.is_empty() {
        c.apply_keystream(sample);
        return;
    }
    let mut pos = 0usize;
    for (clear, prot) in subsamples {
        pos += usize::from(*clear);
        let end = (pos + *prot as usize).min(sample.len());
        c.apply_keystream(&mut sample[pos.min(end)..end]);
        pos = end;
    }
}

/// Encrypts every sample of `seg` (clear, as the muxer wrote it) in place
/// with `key` under `scheme`, adding `senc`, `saiz` and `saio` to each
/// track fragment. `init` is the clear or protected init segment.
pub fn encrypt_segment(
    seg: &mut MediaSegment,
    init: &InitSegment,
    scheme: Scheme,
    key: &[u8; 16],
    sequence: u64,
) -> Result<()> {
    if scheme != Scheme::Cenc {
        return err(*b"cbcs", "not written yet; use cenc");
    }
    let kinds = tracks(init)?;
    let ranges = seg.sample_ranges();
    let mut n = 0u64;
    for (traf, ranges) in seg.moof.trafs.iter_mut().zip(ranges) {
        let id = traf.tfhd.track_id;
        let Some((_, kind)) = kinds.iter().find(|(t, _)| *t == id) else {
            return err(*b"tfhd", format!("track {id} is not in the init segment"));
        };
        let mut aux = Vec::with_capacity(ranges.len());
        for r in ranges {
            let sample = &mut seg.mdat.data[r];
            let subsamples = match kind {
                TrackKind::Video {
                    hevc,
                    nal_length_size,
                } => video_subsamples(sample, *hevc, *nal_length_size)?,
                TrackKind::Audio => Vec::new(),
            };
            let iv = sample_iv(sequence, n)?;
            n += 1;
            ctr_apply(key, &iv, sample, &subsamples);
            aux.push(SampleAux {
                iv: iv.to_vec(),
                subsamples,
            });
        }
        let senc = Senc { samples: aux };
        traf.saiz = Some(Saiz::of(&senc));
        traf.saio = Some(Saio { offsets: vec![0] });
        traf.senc = Some(senc);
    }
    seg.moof.fix_offsets();
    Ok(())
}

/// Decrypts every sample of `seg` in place with `key`, as described by its
/// `senc` boxes and the protected `init`, checking that the auxiliary
/// information agrees (`saiz`/`saio` against `senc`, subsample maps
/// against sample sizes). Leaves the boxes as they are.
pub fn decrypt_segment(seg: &mut MediaSegment, init: &InitSegment, key: &[u8; 16]) -> Result<()> {
    let ranges = seg.sample_ranges();
    let moof_bytes = seg.moof.to_bytes();
    let senc_at = crate::boxes::senc_offsets_for(&moof_bytes);
    for (i, (traf, ranges)) in seg.moof.trafs.iter().zip(ranges).enumerate() {
        let id = traf.tfhd.track_id;
        let trak = init
            .moov
            .traks
            .iter()
            .find(|t| t.tkhd.track_id == id)
            .ok_or_else(|| crate::Error {
                box_type: "tfhd".into(),
                reason: format!("track {id} is not in the init segment"),
            })?;
        let Some(sinf) = trak.entry().and_then(|e| e.sinf()) else {
            continue; // a clear track
        };
        if Scheme::of(sinf.schm.scheme) != Some(Scheme::Cenc) {
            return err(sinf.schm.scheme, "only cenc is decrypted here");
        }
        let Some(senc) = &traf.senc else {
            return err(*b"senc", format!("track {id}'s fragment has none"));
        };
        let senc = match sinf.tenc.per_sample_iv_size {
            8 if senc.samples.iter().all(|s| s.iv.len() == 8) => senc.clone(),
            8 => {
                // Parsed with a guessed IV size: read again with the right one.
                let bytes = senc.to_bytes();
                Senc::parse_with(&mut crate::Reader::new(&bytes[8..], *b"senc"), 8)?
            }
            s => {
                return err(
                    *b"tenc",
                    format!("per-sample IV size {s}; cenc here uses 8"),
                )
            }
        };
        if senc.samples.len() != ranges.len() {
            return err(
                *b"senc",
                format!(
                    "track {id}: {} entries for {} samples",
                    senc.samples.len(),
                    ranges.len()
                ),
            );
        }
        match &traf.saiz {
            Some(saiz) if saiz == &Saiz::of(&senc) => {}
            _ => {
                return err(
                    *b"saiz",
                    format!("track {id}: missing or disagrees with senc"),
                )
            }
        }
        match (&traf.saio, senc_at.get(i).copied().flatten()) {
            (Some(saio), Some(at)) if saio.offsets == [at as u64] => {}
            _ => {
                return err(
                    *b"saio",
                    format!("track {id}: missing or does not point at senc's entries"),
                )
            }
        }
        for (aux, r) in senc.samples.iter().zip(ranges) {
            let covered: u64 = aux
                .subsamples
                .iter()
                .map(|(c, p)| u64::from(*c) + u64::from(*p))
                .sum();
            if !aux.subsamples.is_empty() && covered != r.len() as u64 {
                return err(
                    *b"senc",
                    format!(
                        "track {id}: a subsample map covers {covered} bytes of a {}-byte sample",
                        r.len()
                    ),
                );
            }
            ctr_apply(key, &aux.iv, &mut seg.mdat.data[r], &aux.subsamples);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsamples_leave_headers_and_parameter_sets_clear() {
        // SPS (type 7, 10 bytes), then an IDR slice (type 5) of 1 + 40 bytes.
        let mut s = vec![0, 0, 0, 10, 0x67];
        s.extend([1u8; 9]);
        s.extend([0, 0, 0, 41, 0x65]);
        s.extend([2u8; 40]);
        let m = video_subsamples(&s, false, 4).unwrap();
        // Clear: 14 (SPS) + 4 + 1 + 8 (40 % 16); protected 32.
        assert_eq!(m, vec![(27, 32)]);
        let total: u32 = m.iter().map(|(c, p)| u32::from(*c) + p).sum();
        assert_eq!(total as usize, s.len());
        assert!(video_subsamples(&[0, 0, 0, 9, 0x65], false, 4).is_err());
    }

    #[test]
    fn ivs_differ_by_segment_and_sample() {
        let a = sample_iv(1, 0).unwrap();
        let b = sample_iv(0, 1).unwrap();
        let c = sample_iv(1, 1).unwrap();
        assert!(a != b && b != c && a != c);
        assert!(sample_iv(1 << 40, 0).is_err());
        assert!(sample_iv(0, 1 << 24).is_err());
    }
}
