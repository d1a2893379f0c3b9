//! Whether a segment decodes on its own, as `EXT-X-INDEPENDENT-SEGMENTS`
//! promises (RFC 8216 section 4.3.5.1).
//!
//! Segments are cut at keyframes, and not every keyframe starts a closed
//! group of pictures. In an open GOP the keyframe is an H.264 I picture with a
//! recovery point but no IDR, or an HEVC CRA or BLA_W_LP picture, and the
//! pictures after it in decoding order may include leading pictures: shown
//! before the keyframe and predicted from the GOP before it, which is in the
//! previous segment. A player that starts or seeks there cannot decode them.
//! A segment needs the one before it when it starts at such a keyframe and
//! carries such a picture: in H.264 any picture shown before the keyframe (a
//! picture after an IDR is never shown before it); in HEVC a RASL picture (a
//! RADL picture refers only to the keyframe and other RADL pictures).
//!
//! Some encoders mark as keyframes pictures that are not intra pictures at all:
//! with gradual intra refresh (x264's `intra-refresh`) the keyframe is a P
//! picture whose recovery point lies frames later, and the picture is whole
//! only once a column of intra blocks has swept across it. A segment that
//! starts there needs the one before it from its first picture.

use ffmpeg_next::ffi::{AVCodecID, AVCodecParameters};

use super::annexb::{annexb_units, find_start_code, unit_end, AUD, IDR, SEI, SLICE, SPS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    H264,
    Hevc,
}

/// What a keyframe that starts a segment promises about the pictures after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Nothing after it in decoding order refers to a picture before it: an
    /// H.264 IDR, an HEVC IDR or a BLA without RASL pictures.
    Closed,
    /// An intra picture that opens a GOP: pictures after it in decoding order
    /// but shown before it may refer to the GOP before.
    Open,
    /// Not an intra random access point: a recovery point of a gradual intra
    /// refresh, or a predicted picture marked as a keyframe. The segment needs
    /// the one before it.
    Refresh,
}

/// Reads the picture types of one video stream's packets.
#[derive(Debug, Clone)]
pub struct Pictures {
    codec: Codec,
    /// Bytes in each NAL unit's length prefix; `None` for Annex B packets.
    length_size: Option<usize>,
}

impl Pictures {
    /// For an H.264 or HEVC stream; `None` for other codecs, whose segments
    /// are taken to decode on their own, as before.
    pub fn new(par: &AVCodecParameters) -> Option<Self> {
        let codec = match par.codec_id {
            AVCodecID::AV_CODEC_ID_H264 => Codec::H264,
            AVCodecID::AV_CODEC_ID_HEVC => Codec::Hevc,
            _ => return None,
        };
        Some(Self::with(codec, super::codecs::extradata(par)))
    }

    fn with(codec: Codec, extradata: &[u8]) -> Self {
        // avcC and hvcC both start with configuration version 1 and keep
        // lengthSizeMinusOne in the low two bits of a fixed byte; Annex B
        // extradata (from MPEG-TS input) starts with a start code.
        let at = match codec {
            Codec::H264 => 4,
            Codec::Hevc => 21,
        };
        let length_size = match extradata {
            [1, ..] if extradata.len() > at => Some(usize::from(extradata[at] & 3) + 1),
            _ => None,
        };
        Pictures { codec, length_size }
    }

    /// The NAL unit types of the video coding layer units in `packet`.
    fn slice_types<'a>(&self, packet: &'a [u8]) -> impl Iterator<Item = u8> + 'a {
        let codec = self.codec;
        units(packet, self.length_size).filter_map(move |u| {
            let first = *u.first()?;
            let (t, vcl) = match codec {
                Codec::H264 => (first & 0x1f, (SLICE..=IDR).contains(&(first & 0x1f))),
                Codec::Hevc => ((first >> 1) & 0x3f, (first >> 1) & 0x3f < 32),
            };
            vcl.then_some(t)
        })
    }

    /// What this keyframe promises about the pictures after it.
    pub fn start(&self, packet: &[u8]) -> Start {
        match self.codec {
            Codec::H264 => self.h264_start(packet),
            Codec::Hevc => match self.slice_types(packet).next() {
                Some(17..=20) => Start::Closed,
                Some(16 | 21) => Start::Open,
                // A trailing, leading or sub-layer picture: not an IRAP picture.
                Some(_) => Start::Refresh,
                // No slice to judge by: taken as open, as before.
                None => Start::Open,
            },
        }
    }

    fn h264_start(&self, packet: &[u8]) -> Start {
        let mut recovery_frames = 0;
        for unit in units(packet, self.length_size) {
            match h264_type(unit) {
                Some(IDR) => return Start::Closed,
                Some(SEI) => {
                    // Another SEI unit (user data, say) leaves the count be.
                    if let Some(n) = recovery_frame_cnt(unit) {
                        recovery_frames = n;
                    }
                }
                Some(SLICE) => {
                    // slice_type 2 and 7 are I, 4 and 9 are SI; an SEI comes
                    // before the picture's first slice.
                    let intra = first_slice_type(unit).is_some_and(|t| t % 5 == 2 || t % 5 == 4);
                    return if intra && recovery_frames == 0 {
                        Start::Open
                    } else {
                        Start::Refresh
                    };
                }
                _ => {}
            }
        }
        Start::Open
    }

    /// Whether this picture, which comes after an open-GOP keyframe in
    /// decoding order but is shown before it, is predicted from the GOP
    /// before the keyframe.
    pub fn needs_previous_gop(&self, packet: &[u8]) -> bool {
        match self.codec {
            Codec::H264 => true,
            Codec::Hevc => self.slice_types(packet).any(|t| t == 8 || t == 9),
        }
    }
}

/// Whether Annex B `data` holds an H.264 SPS (as a stream's extradata from
/// MPEG-TS input does).
pub fn annexb_has_sps(data: &[u8]) -> bool {
    let starts_annexb = data.starts_with(&[0, 0, 1]) || data.starts_with(&[0, 0, 0, 1]);
    starts_annexb && annexb_units(data).any(|u| h264_type(u) == Some(SPS))
}

/// The H.264 NAL unit type of a unit, `None` for an empty one.
fn h264_type(unit: &[u8]) -> Option<u8> {
    unit.first().map(|b| b & 0x1f)
}

/// The slice_type of an H.264 slice unit's header, after its first_mb_in_slice.
fn first_slice_type(unit: &[u8]) -> Option<u32> {
    let head = rbsp(unit.get(1..)?, 16);
    let mut bits = Bits::new(&head);
    bits.ue()?;
    bits.ue()
}

/// The recovery_frame_cnt of the recovery point message in an H.264 SEI unit:
/// how many frames after this one the pictures are whole again.
fn recovery_frame_cnt(unit: &[u8]) -> Option<u32> {
    const RECOVERY_POINT: usize = 6;
    let body = rbsp(unit.get(1..)?, unit.len());
    let mut at = 0;
    // sei_message()s until the rbsp_trailing_bits (0x80).
    while body.get(at).is_some_and(|b| *b != 0x80) {
        let mut field = || {
            let mut v = 0usize;
            loop {
                let b = *body.get(at)?;
                at += 1;
                v += usize::from(b);
                if b != 0xff {
                    return Some(v);
                }
            }
        };
        let (kind, size) = (field()?, field()?);
        let payload = body.get(at..at + size)?;
        if kind == RECOVERY_POINT {
            return Bits::new(payload).ue();
        }
        at += size;
    }
    None
}

/// The raw bytes of up to `max` bytes of a NAL unit's payload, with the
/// emulation prevention bytes (the 03 in 00 00 03) taken out.
fn rbsp(payload: &[u8], max: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len().min(max));
    let mut zeros = 0;
    for &b in payload.iter().take(max) {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Whether an H.264 stream's SPS (the first in `extradata`, an avcC record
/// or Annex B) says every picture is coded as a frame (`frame_mbs_only_flag`,
/// H.264 7.4.2.1.1): false for interlaced coding (fields, PAFF or MBAFF),
/// which FFmpeg's field order shows only after decoding (not for an MP4
/// opened from its header alone). None when there is no SPS or it does not
/// parse.
pub(crate) fn h264_frame_mbs_only(extradata: &[u8]) -> Option<bool> {
    let sps = if extradata.first() == Some(&1) {
        // avcC: version, profile, compat, level, length size, SPS count, then
        // each SPS behind a 16-bit length.
        let len = usize::from(u16::from_be_bytes([*extradata.get(6)?, *extradata.get(7)?]));
        (extradata.get(5)? & 0x1f > 0).then_some(())?;
        extradata.get(8..8 + len)?
    } else {
        annexb_units(extradata).find(|u| h264_type(u) == Some(SPS))?
    };
    let raw = rbsp(sps.get(1..)?, 256);
    let mut b = Bits::new(&raw);
    let profile = raw.first().copied()?;
    b.at = 24; // profile_idc, constraint flags, level_idc
    b.ue()?; // seq_parameter_set_id
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        let chroma = b.ue()?;
        if chroma == 3 {
            b.bit()?; // separate_colour_plane_flag
        }
        b.ue()?; // bit_depth_luma_minus8
        b.ue()?; // bit_depth_chroma_minus8
        b.bit()?; // qpprime_y_zero_transform_bypass_flag
        if b.bit()? == 1 {
            // seq_scaling_matrix_present_flag: skip the lists (7.3.2.1.1.1).
            for i in 0..if chroma == 3 { 12 } else { 8 } {
                if b.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i64, 8i64);
                    for _ in 0..size {
                        if next != 0 {
                            next = (last + b.se()? + 256) % 256;
                        }
                        last = if next == 0 { last } else { next };
                    }
                }
            }
        }
    }
    b.ue()?; // log2_max_frame_num_minus4
    match b.ue()? {
        0 => {
            b.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            b.bit()?; // delta_pic_order_always_zero_flag
            b.se()?; // offset_for_non_ref_pic
            b.se()?; // offset_for_top_to_bottom_field
            for _ in 0..b.ue()? {
                b.se()?; // offset_for_ref_frame
            }
        }
        _ => {}
    }
    b.ue()?; // max_num_ref_frames
    b.bit()?; // gaps_in_frame_num_value_allowed_flag
    b.ue()?; // pic_width_in_mbs_minus1
    b.ue()?; // pic_height_in_map_units_minus1
    Some(b.bit()? == 1)
}

/// A reader of Exp-Golomb codes (H.264 section 9.1).
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits { data, at: 0 }
    }

    fn bit(&mut self) -> Option<u32> {
        let byte = self.data.get(self.at / 8)?;
        let b = (byte >> (7 - self.at % 8)) & 1;
        self.at += 1;
        Some(u32::from(b))
    }

    /// An unsigned Exp-Golomb value, ue(v); `None` past the end or beyond 32 bits.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let mut v = 1u32;
        for _ in 0..zeros {
            v = v << 1 | self.bit()?;
        }
        Some(v - 1)
    }

    /// A signed Exp-Golomb value, se(v).
    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

/// An H.264 Annex B packet with `params` (SPS and PPS, Annex B) put in front
/// of its first unit, or after its access unit delimiter when it starts with
/// one, into `out`. False, and `out` untouched, when the packet carries an
/// SPS of its own.
pub fn with_parameter_sets(packet: &[u8], params: &[u8], out: &mut Vec<u8>) -> bool {
    let mut units = annexb_units(packet).peekable();
    let first_is_aud = units.peek().is_some_and(|u| h264_type(u) == Some(AUD));
    if units.any(|u| h264_type(u) == Some(SPS)) {
        return false;
    }
    // After the delimiter: where the second start code begins.
    let at = match find_start_code(packet, 0) {
        Some(aud) if first_is_aud => unit_end(packet, aud),
        _ => 0,
    };
    out.clear();
    out.extend_from_slice(&packet[..at]);
    out.extend_from_slice(params);
    out.extend_from_slice(&packet[at..]);
    true
}

/// The NAL units of a packet: length-prefixed, or split at Annex B start codes.
/// A length that overruns the packet ends the walk (the muxer reports it).
fn units(data: &[u8], length_size: Option<usize>) -> Box<dyn Iterator<Item = &[u8]> + '_> {
    match length_size {
        Some(n) => {
            let mut rest = data;
            Box::new(std::iter::from_fn(move || {
                if rest.len() < n {
                    return None;
                }
                let len = rest[..n]
                    .iter()
                    .fold(0usize, |a, b| a << 8 | usize::from(*b));
                let unit = rest.get(n..n + len)?;
                rest = &rest[n + len..];
                Some(unit)
            }))
        }
        None => Box::new(annexb_units(data)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Length-prefixed units (4-byte lengths).
    fn avcc(units: &[&[u8]]) -> Vec<u8> {
        units
            .iter()
            .flat_map(|u| {
                (u.len() as u32)
                    .to_be_bytes()
                    .into_iter()
                    .chain(u.iter().copied())
            })
            .collect()
    }

    fn annexb(units: &[&[u8]]) -> Vec<u8> {
        units
            .iter()
            .flat_map(|u| [0, 0, 0, 1].into_iter().chain(u.iter().copied()))
            .collect()
    }

    const AVCC_HEADER: [u8; 7] = [1, 0x64, 0, 0x1f, 0xff, 0xe1, 0];

    /// First slice units: first_mb_in_slice 0, then slice_type 7 (I) or 5 (P).
    const I_SLICE: &[u8] = &[0x41, 0x88];
    const P_SLICE: &[u8] = &[0x41, 0x9a];
    /// Recovery point SEIs: recovery_frame_cnt 0, and 18 (x264's intra
    /// refresh over 48 frames), each with exact_match_flag set.
    const RECOVERY_0: &[u8] = &[0x06, 6, 1, 0xc0, 0x80];
    const RECOVERY_18: &[u8] = &[0x06, 6, 2, 0x09, 0xc0, 0x80];

    #[test]
    fn h264_idr_is_closed_an_i_picture_open_and_a_refresh_point_neither() {
        let p = Pictures::with(Codec::H264, &AVCC_HEADER);
        assert_eq!(p.length_size, Some(4));
        let start = |units: &[&[u8]]| p.start(&avcc(units));
        assert_eq!(start(&[&[0x06, 5, 1, 0], &[0x65, 0x88]]), Start::Closed);
        assert_eq!(start(&[RECOVERY_0, I_SLICE]), Start::Open);
        // An I picture marked as a keyframe without any SEI.
        assert_eq!(start(&[I_SLICE]), Start::Open);
        // x264's intra refresh: a P picture whose recovery point is 18 frames on.
        assert_eq!(start(&[RECOVERY_18, P_SLICE]), Start::Refresh);
        assert_eq!(start(&[RECOVERY_18, I_SLICE]), Start::Refresh);
        assert_eq!(start(&[P_SLICE]), Start::Refresh);
        // A user data SEI (type 5) in front of the recovery point is skipped.
        let two = [0x06, 5, 2, 0xaa, 0xbb, 6, 2, 0x09, 0xc0, 0x80];
        assert_eq!(start(&[&two, I_SLICE]), Start::Refresh);
        // So is a user data SEI unit after it.
        let user_data: &[u8] = &[0x06, 5, 2, 0xaa, 0xbb, 0x80];
        assert_eq!(start(&[RECOVERY_18, user_data, I_SLICE]), Start::Refresh);
        assert!(p.needs_previous_gop(&avcc(&[&[0x01, 0x9e]])));
        // A length that overruns the packet: no units, so open, as before.
        assert_eq!(p.start(&[0, 0, 0, 9, 0x65]), Start::Open);
    }

    #[test]
    fn frame_mbs_only_is_read_from_the_sps_in_avcc_or_annexb() {
        // The fixture's x264 High-profile SPS (progressive), from its avcC.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/clip.mp4");
        let ictx = crate::open_input_with(&path, crate::Probe::Headers).expect("fixture opens");
        let v = ictx
            .streams()
            .best(ffmpeg_next::media::Type::Video)
            .unwrap();
        // SAFETY: the parameters live as long as `ictx`; only read.
        let extradata = unsafe { crate::codecs::extradata(&*v.parameters().as_ptr()) }.to_vec();
        assert_eq!(h264_frame_mbs_only(&extradata), Some(true));
        // The same SPS in Annex B, with frame_mbs_only_flag cleared (the
        // bit after pic_height_in_map_units_minus1): found and read.
        let len = usize::from(u16::from_be_bytes([extradata[6], extradata[7]]));
        let sps = extradata[8..8 + len].to_vec();
        let mut annexb = vec![0, 0, 0, 1];
        annexb.extend_from_slice(&sps);
        assert_eq!(h264_frame_mbs_only(&annexb), Some(true));
        // Baseline (no chroma fields): 66, level 30, sps id 0, frame_num 4
        // bits (ue 0), POC type 2 (ue 2), 1 ref (ue 1), no gaps, 40x23 MBs
        // (ue 39, ue 22), then frame_mbs_only_flag.
        let bits = |flag: &str| {
            let s = format!("1 1 011 010 0 00000101000 000010111 {flag} 1");
            let s: String = s.split_whitespace().collect();
            let mut bytes = vec![0x67, 66, 0, 30];
            for chunk in s.as_bytes().chunks(8) {
                let mut b = 0u8;
                for (i, c) in chunk.iter().enumerate() {
                    b |= (c - b'0') << (7 - i);
                }
                bytes.push(b);
            }
            bytes
        };
        let mut interlaced = vec![0, 0, 1];
        interlaced.extend_from_slice(&bits("0"));
        assert_eq!(h264_frame_mbs_only(&interlaced), Some(false));
        let mut progressive = vec![0, 0, 1];
        progressive.extend_from_slice(&bits("1"));
        assert_eq!(h264_frame_mbs_only(&progressive), Some(true));
        assert_eq!(h264_frame_mbs_only(&[]), None);
        assert_eq!(h264_frame_mbs_only(&[1, 100, 0, 30, 0xff]), None);
    }

    #[test]
    fn exp_golomb_codes_are_read_past_emulation_prevention_bytes() {
        assert_eq!(
            rbsp(&[0, 0, 3, 1, 0, 0, 3, 0, 3], 99),
            [0, 0, 1, 0, 0, 0, 3]
        );
        assert_eq!(rbsp(&[0, 0, 3, 1], 2), [0, 0]);
        // 1 | 010 | 011 | 00100 | 0001000 ... = 0, 1, 2, 3, 7
        let mut bits = Bits::new(&[0b1010_0110, 0b0100_0001, 0b0000_0000]);
        let got: Vec<_> = std::iter::from_fn(|| bits.ue()).take(5).collect();
        assert_eq!(got, [0, 1, 2, 3, 7]);
        // Runs out of bits, and a run of zeros too long for 32 bits.
        assert_eq!(Bits::new(&[0b0000_0010]).ue(), None);
        assert_eq!(Bits::new(&[0; 5]).ue(), None);
        // A slice's type, and a recovery point's frame count.
        assert_eq!(first_slice_type(&[0x41, 0x88]), Some(7));
        assert_eq!(recovery_frame_cnt(RECOVERY_18), Some(18));
        assert_eq!(recovery_frame_cnt(&[0x06, 5, 1, 0, 0x80]), None);
    }

    /// Packets are input: whatever their bytes, reading them gives an answer,
    /// never a panic (an out-of-range slice, an overflow).
    #[test]
    fn arbitrary_packets_are_read_without_panicking() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut hvcc = vec![1u8; 23];
        hvcc[21] = 0xf3;
        let readers = [
            Pictures::with(Codec::H264, &AVCC_HEADER),
            Pictures::with(Codec::H264, &[0, 0, 0, 1]),
            Pictures::with(Codec::Hevc, &hvcc),
            Pictures::with(Codec::Hevc, &[0, 0, 1]),
        ];
        for _ in 0..20_000 {
            let len = rng.gen_range(0..64);
            // Mostly small values, so that lengths, start codes, SEI types
            // and 0xff runs all turn up.
            let packet: Vec<u8> = (0..len)
                .map(|_| match rng.gen_range(0..4) {
                    0 => 0,
                    1 => 0xff,
                    2 => rng.gen_range(0..8),
                    _ => rng.gen(),
                })
                .collect();
            for p in &readers {
                let _ = p.start(&packet);
                let _ = p.needs_previous_gop(&packet);
            }
            let _ = recovery_frame_cnt(&packet);
            let _ = first_slice_type(&packet);
        }
    }

    #[test]
    fn annexb_units_are_split_at_three_and_four_byte_start_codes() {
        let p = Pictures::with(Codec::H264, &[0, 0, 0, 1, 0x67]);
        assert_eq!(p.length_size, None);
        let mut packet = annexb(&[&[0x09, 0xf0], &[0x06, 5]]);
        packet.extend_from_slice(&[0, 0, 1, 0x65, 0x88, 0x00]);
        let got: Vec<&[u8]> = units(&packet, None).collect();
        assert_eq!(got, [&[0x09, 0xf0][..], &[0x06, 5], &[0x65, 0x88, 0x00]]);
        assert_eq!(p.start(&packet), Start::Closed);
        assert_eq!(p.start(&annexb(&[&[0x09, 0xf0], I_SLICE])), Start::Open);
        assert_eq!(p.start(&annexb(&[&[0x09, 0xf0], P_SLICE])), Start::Refresh);
    }

    #[test]
    fn annexb_packets_get_the_parameter_sets_after_their_delimiter() {
        let params = annexb(&[&[0x67, 0x64], &[0x68, 0xee]]);
        assert!(annexb_has_sps(&params));
        assert!(!annexb_has_sps(&annexb(&[&[0x68, 0xee]])));
        let mut out = Vec::new();
        let with_aud = annexb(&[&[0x09, 0xf0], &[0x41, 0x9a]]);
        assert!(with_parameter_sets(&with_aud, &params, &mut out));
        assert_eq!(
            out,
            annexb(&[&[0x09, 0xf0], &[0x67, 0x64], &[0x68, 0xee], &[0x41, 0x9a]])
        );
        let bare = annexb(&[&[0x06, 5], &[0x41, 0x9a]]);
        assert!(with_parameter_sets(&bare, &params, &mut out));
        assert_eq!(
            out,
            annexb(&[&[0x67, 0x64], &[0x68, 0xee], &[0x06, 5], &[0x41, 0x9a]])
        );
        let own = annexb(&[&[0x09, 0xf0], &[0x67, 0x64], &[0x68, 0xee], &[0x41, 0x9a]]);
        out.clear();
        assert!(!with_parameter_sets(&own, &params, &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn hevc_cra_is_open_and_only_rasl_pictures_need_the_previous_gop() {
        let mut hvcc = vec![1u8; 23];
        hvcc[21] = 0xf3; // lengthSizeMinusOne = 3
        let p = Pictures::with(Codec::Hevc, &hvcc);
        assert_eq!(p.length_size, Some(4));
        let nal = |t: u8| [t << 1, 1];
        // VPS, SPS, PPS in front of an IDR_W_RADL; a CRA; a BLA_W_LP.
        let start = |units: &[&[u8]]| p.start(&avcc(units));
        assert_eq!(
            start(&[&nal(32), &nal(33), &nal(34), &nal(19)]),
            Start::Closed
        );
        assert_eq!(start(&[&nal(21)]), Start::Open);
        assert_eq!(start(&[&nal(16)]), Start::Open);
        // A trailing picture marked as a keyframe: a recovery point at most.
        assert_eq!(start(&[&nal(39), &nal(1)]), Start::Refresh);
        assert!(p.needs_previous_gop(&avcc(&[&nal(8)])));
        assert!(p.needs_previous_gop(&avcc(&[&nal(9)])));
        assert!(!p.needs_previous_gop(&avcc(&[&nal(7)]))); // RADL_R
        assert!(!p.needs_previous_gop(&avcc(&[&nal(1)]))); // a trailing picture
    }
}
