//! Common encryption (ISO/IEC 23001-7) of fragmented MP4 samples.
//!
//! `cenc`: AES-128-CTR with an 8-byte IV per sample. Video samples are
//! encrypted by subsample: every NAL unit's length field and header stay
//! clear, non-VCL NAL units (SPS, PPS, SEI...) stay wholly clear, and each
//! VCL NAL unit's protected part is a whole number of 16-byte blocks (the
//! remainder joins the clear part, as Shaka Packager does, so decoders that
//! decrypt block-wise work too). Audio samples are encrypted whole.
//!
//! `cbcs`: AES-128-CBC with the 1:9 pattern (one 16-byte block encrypted,
//! nine left clear) over each VCL NAL unit's protected part, which starts
//! after its slice header (read from the SPS and PPS, `avc`), and one
//! constant 16-byte IV (in `tenc`) that restarts the chain at every
//! subsample. Audio samples are encrypted whole (every full block, the chain
//! over the sample, a trailing partial block clear) and need no `senc`.
//! HEVC (`hvc1`/`hev1`) under either scheme: each slice segment header
//! stays clear too, found by the `hevc` reader.
//!
//! IVs (`cenc`): `iv = segment_sequence << 24 | n`, where `n` counts the segment's
//! samples over all its tracks (video first, then audio). The counter
//! block is `iv || 0u64`, incremented per 16 bytes within a sample, so two
//! samples share keystream only if their IVs are equal. A key belongs to one
//! key period of one title (and, after `rekey`, one generation), and a
//! segment sequence number appears once in a title, so no IV is reused
//! under a key. Deriving the IV from the position (not a running counter)
//! lets a single segment be re-encrypted alone (`rekey`, a segment given a
//! stronger scene's key) with the same IVs. A second encryption of the same
//! segment under the same key (A/B variants, renditions sharing a key) must
//! put its variant or rendition into the top bits of the sequence (the
//! package does: `rendition << 32 | segment`, `cmaf::iv_sequence`; and one
//! cbcs constant IV per rendition).

use aes::cipher::{KeyIvInit, StreamCipher};

use crate::{
    err, InitSegment, MediaSegment, Moof, Mp4Box, Result, Saio, Saiz, SampleAux, Sbgp, Seig, Senc,
    Sgpd, Tenc,
};

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

/// The segment number the IVs of segment `index` of the `rendition`-th
/// rendition (track) of a title derive from: `rendition << 32 | index`, so
/// renditions sharing a key period's key own disjoint ranges (128
/// renditions of 2^32 segments, so every sequence is below 2^39, and an A/B
/// package's b variants own the sequences from 2^39 up; `sample_iv` takes
/// 40 bits). Rendition 0 keeps a single-rendition package's numbers. None
/// beyond those bounds.
pub fn rendition_sequence(rendition: u64, index: u64) -> Option<u64> {
    (rendition < 1 << 7 && index < 1 << 32).then_some(rendition << 32 | index)
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
/// with `key` (whose KID is `kid`; cbcs's constant IV for it is
/// `constant_iv`) under `scheme`, adding `senc`, `saiz` and `saio` to each
/// track fragment that needs them. `init` is the protected init segment.
/// When the KID or constant IV differ from `tenc`'s (key rotation), every
/// track fragment gets a `seig` sample group saying which.
#[allow(clippy::too_many_arguments)]
pub fn encrypt_segment(
    seg: &mut MediaSegment,
    init: &InitSegment,
    scheme: Scheme,
    key: &[u8; 16],
    kid: [u8; 16],
    constant_iv: [u8; 16],
    sequence: u64,
) -> Result<()> {
    encrypt_fragment(
        &mut seg.moof,
        &mut seg.mdat.data,
        init,
        scheme,
        key,
        kid,
        constant_iv,
        sequence,
    )
}

/// `encrypt_segment` of the fragment `moof` whose `mdat` payload is
/// `mdat`: the samples are encrypted where they lie, the moof gains its
/// boxes (the mdat's size does not change).
#[allow(clippy::too_many_arguments)]
pub fn encrypt_fragment(
    moof: &mut Moof,
    mdat: &mut [u8],
    init: &InitSegment,
    scheme: Scheme,
    key: &[u8; 16],
    kid: [u8; 16],
    constant_iv: [u8; 16],
    sequence: u64,
) -> Result<()> {
    let kinds = tracks(init)?;
    let ranges = moof.sample_ranges(mdat.len())?;
    let mut n = 0u64;
    for (traf, ranges) in moof.trafs.iter_mut().zip(ranges) {
        let id = traf.tfhd.track_id;
        let Some((_, kind)) = kinds.iter().find(|(t, _)| *t == id) else {
            return err(*b"tfhd", format!("track {id} is not in the init segment"));
        };
        let trak = init.moov.traks.iter().find(|t| t.tkhd.track_id == id);
        let entry = trak.and_then(|t| t.entry());
        let mut params = match (scheme, kind, entry) {
            (Scheme::Cbcs, TrackKind::Video { hevc: false, .. }, Some(e)) => Some(
                crate::avc::ParameterSets::from_avcc(
                    &e.config(b"avcC")
                        .map(|c| c.body.clone())
                        .unwrap_or_default(),
                )
                .map(Some)
                .or_else(|m| err(*b"avcC", m))?,
            )
            .flatten(),
            _ => None,
        };
        // HEVC, both schemes: slice segment headers clear (`hevc`).
        let mut hevc_params = match (kind, entry) {
            (TrackKind::Video { hevc: true, .. }, Some(e)) => Some(
                crate::hevc::ParameterSets::from_hvcc(
                    &e.config(b"hvcC")
                        .map(|c| c.body.clone())
                        .unwrap_or_default(),
                )
                .or_else(|m| err(*b"hvcC", m))?,
            ),
            _ => None,
        };
        let Some(tenc) = entry.and_then(|e| e.sinf()).map(|s| &s.tenc) else {
            return err(*b"tenc", format!("track {id} is not marked as encrypted"));
        };
        let rotated =
            tenc.kid != kid || (scheme == Scheme::Cbcs && tenc.constant_iv != Some(constant_iv));
        if rotated {
            traf.sgpd = Some(Sgpd {
                entries: vec![Seig {
                    crypt_byte_block: tenc.crypt_byte_block,
                    skip_byte_block: tenc.skip_byte_block,
                    is_protected: true,
                    per_sample_iv_size: tenc.per_sample_iv_size,
                    kid,
                    constant_iv: (scheme == Scheme::Cbcs).then_some(constant_iv),
                }],
            });
            traf.sbgp = Some(Sbgp {
                entries: vec![(traf.trun.samples.len() as u32, 0x10001)],
            });
        }
        let mut aux = Vec::with_capacity(ranges.len());
        for r in ranges {
            let sample = &mut mdat[r];
            match (scheme, kind) {
                (Scheme::Cenc, _) => {
                    let subsamples = match (kind, hevc_params.as_mut()) {
                        (
                            TrackKind::Video {
                                nal_length_size, ..
                            },
                            Some(ps),
                        ) => crate::hevc::subsamples(sample, *nal_length_size, ps)?,
                        (
                            TrackKind::Video {
                                hevc,
                                nal_length_size,
                            },
                            None,
                        ) => video_subsamples(sample, *hevc, *nal_length_size)?,
                        (TrackKind::Audio, _) => Vec::new(),
                    };
                    let iv = sample_iv(sequence, n)?;
                    n += 1;
                    ctr_apply(key, &iv, sample, &subsamples);
                    aux.push(SampleAux {
                        iv: iv.to_vec(),
                        subsamples,
                    });
                }
                (
                    Scheme::Cbcs,
                    TrackKind::Video {
                        nal_length_size, ..
                    },
                ) => {
                    let subsamples = match (params.as_mut(), hevc_params.as_mut()) {
                        (_, Some(ps)) => crate::hevc::subsamples(sample, *nal_length_size, ps)?,
                        (Some(ps), None) => cbcs_subsamples(sample, *nal_length_size, ps)?,
                        (None, None) => unreachable!("made above for AVC and HEVC"),
                    };
                    cbcs_apply(key, &constant_iv, sample, &subsamples, true);
                    aux.push(SampleAux {
                        iv: Vec::new(),
                        subsamples,
                    });
                }
                (Scheme::Cbcs, TrackKind::Audio) => {
                    cbcs_apply(key, &constant_iv, sample, &[], true);
                }
            }
        }
        if aux.is_empty() {
            continue; // cbcs audio: the constant IV and whole samples need no senc
        }
        let senc = Senc { samples: aux };
        traf.saiz = Some(Saiz::of(&senc));
        traf.saio = Some(Saio { offsets: vec![0] });
        traf.senc = Some(senc);
    }
    moof.fix_offsets();
    Ok(())
}

/// The clear and protected ranges of one H.264 video sample under `cbcs`:
/// each NAL unit's length field, header and slice header clear, the rest of
/// a VCL NAL unit protected in whole 16-byte blocks, other NAL units clear.
/// SPS and PPS met in the sample update `ps`.
pub fn cbcs_subsamples(
    sample: &[u8],
    len_size: usize,
    ps: &mut crate::avc::ParameterSets,
) -> Result<Vec<(u16, u32)>> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    let mut clear = 0u32;
    for (at, n) in nal_units(sample, len_size)? {
        let nal = &sample[at..at + n];
        let t = nal[0] & 0x1f;
        let total = (len_size + n) as u32;
        if (1..=5).contains(&t) {
            let header = ps
                .slice_header_len(nal)
                .or_else(|m| err(*b"cbcs", format!("reading a slice header: {m}")))?;
            let protected = (n.saturating_sub(header) / 16 * 16) as u32;
            clear += total - protected;
            if protected > 0 {
                out.push((clear, protected));
                clear = 0;
            }
        } else {
            ps.add(nal)
                .or_else(|m| err(*b"cbcs", format!("reading a parameter set: {m}")))?;
            clear += total;
        }
    }
    if clear > 0 {
        out.push((clear, 0));
    }
    Ok(fit_clear(out))
}

/// Splits clear runs longer than 16 bits (BytesOfClearData) into several entries.
pub(crate) fn fit_clear(out: Vec<(u32, u32)>) -> Vec<(u16, u32)> {
    let mut fitted = Vec::with_capacity(out.len());
    for (mut c, p) in out {
        while c > u32::from(u16::MAX) {
            fitted.push((u16::MAX, 0));
            c -= u32::from(u16::MAX);
        }
        fitted.push((c as u16, p));
    }
    fitted
}

/// Each NAL unit of a length-prefixed sample: (start of its header, length).
pub(crate) fn nal_units(sample: &[u8], len_size: usize) -> Result<Vec<(usize, usize)>> {
    let mut out = Vec::new();
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
        out.push((body, n));
        pos = body + n;
    }
    Ok(out)
}

/// AES-CBC with the cbcs pattern over the protected parts of `sample` (or,
/// with no subsamples, over the whole sample with every block encrypted):
/// within each protected part, one block in ten is encrypted (the chain
/// runs over the encrypted blocks only), the chain restarts from `iv` at
/// every subsample, and a trailing partial block stays clear.
fn cbcs_apply(
    key: &[u8; 16],
    iv: &[u8; 16],
    sample: &mut [u8],
    subsamples: &[(u16, u32)],
    encrypt: bool,
) {
    use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
    let run = |part: &mut [u8], skip: usize| {
        let mut enc = cbc::Encryptor::<aes::Aes128>::new(key.into(), iv.into());
        let mut dec = cbc::Decryptor::<aes::Aes128>::new(key.into(), iv.into());
        for (i, block) in part.chunks_exact_mut(16).enumerate() {
            if skip > 0 && i % (1 + skip) != 0 {
                continue;
            }
            let b = aes::Block::from_mut_slice(block);
            if encrypt {
                enc.encrypt_block_mut(b);
            } else {
                dec.decrypt_block_mut(b);
            }
        }
    };
    if subsamples.is_empty() {
        run(sample, 0);
        return;
    }
    let mut pos = 0usize;
    for (clear, prot) in subsamples {
        pos += usize::from(*clear);
        let end = (pos + *prot as usize).min(sample.len());
        run(&mut sample[pos.min(end)..end], 9);
        pos = end;
    }
}

/// Decrypts every sample of `seg` in place with `key`, as described by its
/// `senc` boxes and the protected `init`, checking that the auxiliary
/// information agrees (`saiz`/`saio` against `senc`, subsample maps
/// against sample sizes). Leaves the boxes as they are.
pub fn decrypt_segment(seg: &mut MediaSegment, init: &InitSegment, key: &[u8; 16]) -> Result<()> {
    let ranges = seg.sample_ranges()?;
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
        if crate::recrypt::is_clear_fragment(traf) {
            return err(
                *b"seig",
                format!("track {id}: the fragment says its samples are clear (isProtected 0), so there is nothing to decrypt"),
            );
        }
        let scheme = Scheme::of(sinf.schm.scheme);
        let iv_size = usize::from(sinf.tenc.per_sample_iv_size);
        let constant_iv = traf
            .seig()
            .and_then(|g| g.constant_iv)
            .or(sinf.tenc.constant_iv)
            .unwrap_or_default();
        match (scheme, iv_size) {
            (Some(Scheme::Cenc), 8) | (Some(Scheme::Cbcs), 0) => {}
            _ => {
                return err(
                    sinf.schm.scheme,
                    format!("scheme with per-sample IV size {iv_size}: shieldpack reads cenc with 8, cbcs with 0"),
                )
            }
        }
        let Some(senc) = &traf.senc else {
            if scheme == Some(Scheme::Cbcs) && traf.saiz.is_none() && traf.saio.is_none() {
                // Whole samples under the constant IV (cbcs audio).
                for r in ranges {
                    cbcs_apply(key, &constant_iv, &mut seg.mdat.data[r], &[], false);
                }
                continue;
            }
            return err(*b"senc", format!("track {id}'s fragment has none"));
        };
        let senc = if senc.samples.iter().all(|s| s.iv.len() == iv_size) {
            senc.clone()
        } else {
            // Parsed with a guessed IV size: read again with the right one.
            let bytes = senc.to_bytes();
            Senc::parse_with(&mut crate::Reader::new(&bytes[8..], *b"senc"), iv_size)?
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
            let sample = &mut seg.mdat.data[r];
            if scheme == Some(Scheme::Cbcs) {
                cbcs_apply(key, &constant_iv, sample, &aux.subsamples, false);
            } else {
                ctr_apply(key, &aux.iv, sample, &aux.subsamples);
            }
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

#[cfg(test)]
mod cbcs_tests {
    use super::*;

    #[test]
    fn cbcs_pattern_encrypts_one_block_in_ten_and_restarts_per_subsample() {
        let key = [7u8; 16];
        let iv = [9u8; 16];
        let clear: Vec<u8> = (0..400u32).map(|i| (i * 31 % 251) as u8).collect();
        // Two subsamples: 8 clear + 200 protected, 12 clear + 180 protected.
        let map = [(8u16, 200u32), (12, 180)];
        let mut s = clear.clone();
        cbcs_apply(&key, &iv, &mut s, &map, true);
        let block = |v: &[u8], at: usize| v[at..at + 16].to_vec();
        // Clear leaders untouched; block 0 of each run encrypted, 1..=9 not,
        // block 10 encrypted; the trailing partial block (200 % 16) clear.
        assert_eq!(&s[..8], &clear[..8]);
        assert_ne!(block(&s, 8), block(&clear, 8));
        for k in 1..10 {
            assert_eq!(block(&s, 8 + 16 * k), block(&clear, 8 + 16 * k));
        }
        assert_ne!(block(&s, 8 + 160), block(&clear, 8 + 160));
        assert_eq!(&s[8 + 192..208], &clear[8 + 192..208]);
        // The chain restarts: the second run's first block is what the first
        // run's first block would be for the same plaintext under the same IV.
        let mut alone = clear[220..236].to_vec();
        cbcs_apply(&key, &iv, &mut alone, &[(0, 16)], true);
        assert_eq!(block(&s, 220), alone);
        cbcs_apply(&key, &iv, &mut s, &map, false);
        assert_eq!(s, clear);
        // Whole-sample (audio): every full block, the partial tail clear.
        let mut a = clear[..40].to_vec();
        cbcs_apply(&key, &iv, &mut a, &[], true);
        assert_ne!(&a[..32], &clear[..32]);
        assert_eq!(&a[32..], &clear[32..40]);
        cbcs_apply(&key, &iv, &mut a, &[], false);
        assert_eq!(a, clear[..40]);
    }
}
